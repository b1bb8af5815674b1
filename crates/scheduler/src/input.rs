//! What a trigger may hand the scheduler: refused here, at the door, rather
//! than stored and failing later where nobody asked (a run id too long for a
//! file name or a URL, a NUL byte that no process argument can carry).

use drover_dag::ParamError;

/// Airflow's limit on a run id (the `run_id` column is `String(250)`).
pub const MAX_RUN_ID_LEN: usize = 250;

/// Checks a caller-chosen run id against Airflow's default
/// `[scheduler] allowed_run_id_pattern`, `^[A-Za-z0-9_.~:+-]+$`, and its
/// length limit; `.` and `..` are refused too, since a run id names a log
/// folder.
pub fn check_run_id(run_id: &str) -> Result<(), String> {
    if run_id.is_empty() {
        return Err("dag_run_id must not be empty".into());
    }
    if run_id.len() > MAX_RUN_ID_LEN {
        return Err(format!(
            "dag_run_id is {} bytes long; at most {MAX_RUN_ID_LEN} are allowed",
            run_id.len()
        ));
    }
    if let Some(bad) = run_id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_.~:+-".contains(*c)))
    {
        return Err(format!(
            "dag_run_id may only hold letters, digits and _ . ~ : + - (Airflow's ^[A-Za-z0-9_.~:+-]+$); found {}",
            bad.escape_default()
        ));
    }
    if run_id == "." || run_id == ".." {
        return Err(format!("dag_run_id `{run_id}` is not a usable name"));
    }
    Ok(())
}

/// Every string in a trigger's conf (keys too, at any depth) that holds a
/// NUL byte: such a value can never reach a driver's arguments or
/// environment. Fields are named as paths, `a.b[2]`.
pub fn check_conf(conf: &serde_json::Map<String, serde_json::Value>) -> Vec<ParamError> {
    let mut problems = Vec::new();
    for (k, v) in conf {
        walk(k, k, v, &mut problems);
    }
    problems
}

fn walk(path: &str, key: &str, v: &serde_json::Value, out: &mut Vec<ParamError>) {
    let nul = |field: &str, what: &str| ParamError {
        field: field.escape_default().to_string(),
        message: format!("{what} holds a NUL byte, which no process argument or environment variable can carry"),
    };
    if key.contains('\0') {
        out.push(nul(path, "the key"));
    }
    match v {
        serde_json::Value::String(s) if s.contains('\0') => out.push(nul(path, "the value")),
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(&format!("{path}[{i}]"), "", item, out);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, item) in map {
                walk(&format!("{path}.{k}"), k, item, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_airflow_style_run_ids() {
        for id in ["manual__2026-01-01T00:00:00+00:00", "my-run_1.2~x", "a", "x".repeat(250).as_str()] {
            assert_eq!(check_run_id(id), Ok(()), "{id}");
        }
    }

    #[test]
    fn refuses_long_empty_nul_and_path_like_run_ids() {
        for id in ["", "x".repeat(251).as_str(), "a\0b", "a/b", "a b", "..", ".", "é"] {
            assert!(check_run_id(id).is_err(), "{id:?} was accepted");
        }
        assert!(check_run_id(&"x".repeat(100_000)).unwrap_err().contains("at most 250"));
    }

    #[test]
    fn finds_nul_bytes_in_conf_keys_and_values_at_any_depth() {
        let conf = json!({"ok": "fine", "top": "a\u{0}b", "deep": {"list": [1, "x\u{0}"], "k\u{0}": 1}});
        let fields: Vec<String> = check_conf(conf.as_object().unwrap()).into_iter().map(|p| p.field).collect();
        assert_eq!(fields, ["deep.k\\u{0}", "deep.list[1]", "top"]);
        assert!(check_conf(json!({"a": [{"b": "c"}], "n": null}).as_object().unwrap()).is_empty());
    }
}

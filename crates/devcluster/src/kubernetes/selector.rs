//! Label and field selectors as the apiserver reads them (`a=b,c!=d,
//! e in (f,g),!h`; fields with `=`, `==`, `!=` on the fields pods support),
//! and the pod fields they select on.

use std::collections::HashMap;

use serde_json::Value;

use super::wire::ApiError;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Requirement {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

impl Requirement {
    pub(super) fn matches(&self, get: &dyn Fn(&str) -> Option<String>) -> bool {
        match self {
            Self::Eq(k, v) => get(k).as_deref() == Some(v.as_str()),
            Self::Ne(k, v) => get(k).as_deref() != Some(v.as_str()),
            Self::In(k, vs) => get(k).is_some_and(|x| vs.contains(&x)),
            Self::NotIn(k, vs) => get(k).is_none_or(|x| !vs.contains(&x)),
            Self::Exists(k) => get(k).is_some(),
            Self::NotExists(k) => get(k).is_none(),
        }
    }
}

/// A label selector (`a=b,c!=d,e in (f,g),!h`) or a field selector (`=`, `==`, `!=`).
pub(super) fn parse_selector(s: &str) -> Result<Vec<Requirement>, String> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    let set = |v: &str| -> Result<Vec<String>, String> {
        let v = v.trim();
        let inner = v
            .strip_prefix('(')
            .and_then(|v| v.strip_suffix(')'))
            .ok_or_else(|| format!("expected (values) in {s:?}"))?;
        Ok(inner.split(',').map(|x| x.trim().to_string()).collect())
    };
    let mut out = Vec::new();
    for p in parts.into_iter().map(str::trim).filter(|p| !p.is_empty()) {
        let r = if let Some((k, v)) = p.split_once("!=") {
            Requirement::Ne(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = p.split_once("==").or_else(|| p.split_once('=')) {
            Requirement::Eq(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = p.split_once(" notin ") {
            Requirement::NotIn(k.trim().into(), set(v)?)
        } else if let Some((k, v)) = p.split_once(" in ") {
            Requirement::In(k.trim().into(), set(v)?)
        } else if let Some(k) = p.strip_prefix('!') {
            Requirement::NotExists(k.trim().into())
        } else if p.contains(char::is_whitespace) {
            return Err(format!("unable to parse requirement: {p:?}"));
        } else {
            Requirement::Exists(p.into())
        };
        out.push(r);
    }
    Ok(out)
}

#[derive(Debug, Default)]
pub(super) struct Selectors {
    pub(super) labels: Vec<Requirement>,
    pub(super) fields: Vec<Requirement>,
}

impl Selectors {
    pub(super) fn from_query(q: &HashMap<String, String>) -> Result<Self, ApiError> {
        let parse = |k: &str| {
            parse_selector(q.get(k).map_or("", String::as_str)).map_err(ApiError::bad_request)
        };
        let s = Selectors {
            labels: parse("labelSelector")?,
            fields: parse("fieldSelector")?,
        };
        for r in &s.fields {
            let (Requirement::Eq(k, _) | Requirement::Ne(k, _)) = r else {
                return Err(ApiError::bad_request(
                    "field selectors support only =, == and !=",
                ));
            };
            if !matches!(
                k.as_str(),
                "metadata.name"
                    | "metadata.namespace"
                    | "spec.nodeName"
                    | "spec.restartPolicy"
                    | "spec.serviceAccountName"
                    | "status.phase"
                    | "status.podIP"
            ) {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {k}"
                )));
            }
        }
        Ok(s)
    }

    pub(super) fn matches(&self, pod: &Value) -> bool {
        let label = |k: &str| pod["metadata"]["labels"][k].as_str().map(str::to_string);
        let fieldv = |k: &str| field(pod, k);
        self.labels.iter().all(|r| r.matches(&label))
            && self.fields.iter().all(|r| r.matches(&fieldv))
    }
}


/// A field of the pod by its selector path (`metadata.name`, `status.phase`,
/// `metadata.labels['k']`).
pub(super) fn field(pod: &Value, path: &str) -> Option<String> {
    if let Some(rest) = path
        .strip_prefix("metadata.labels['")
        .or_else(|| path.strip_prefix("metadata.annotations['"))
    {
        let map = if path.starts_with("metadata.labels") {
            "labels"
        } else {
            "annotations"
        };
        let key = rest.strip_suffix("']")?;
        return pod["metadata"][map][key].as_str().map(str::to_string);
    }
    let mut v = pod;
    for part in path.split('.') {
        v = v.get(part)?;
    }
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}


#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn label_selectors_parse_like_the_apiserver() {
        let r = parse_selector("a=b,c!=d, e in (f, g),!h,i,j notin (k)").unwrap();
        assert_eq!(
            r,
            vec![
                Requirement::Eq("a".into(), "b".into()),
                Requirement::Ne("c".into(), "d".into()),
                Requirement::In("e".into(), vec!["f".into(), "g".into()]),
                Requirement::NotExists("h".into()),
                Requirement::Exists("i".into()),
                Requirement::NotIn("j".into(), vec!["k".into()]),
            ]
        );
        let pod = json!({"metadata": {"labels": {"a": "b", "e": "g", "i": "x"}}});
        let sel = Selectors {
            labels: r,
            fields: vec![],
        };
        assert!(sel.matches(&pod));
        assert!(parse_selector("a b").is_err());
    }
}

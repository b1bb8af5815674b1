//! Jinja templates in application strings: the variables a task sees, strict rendering, and
//! the load-time check that catches typos before a run ever starts.
//!
//! Rendering is strict: an undefined variable is an error, never an empty string, because a
//! silently empty argument to a Spark job is far harder to debug than a failed render.
//! `conf` keys are only known when a run is triggered, so load-time checks accept any
//! `conf.<key>`; at render time a missing key is an error naming it, and
//! `conf.get("key", default)` reads an optional one.
//!
//! Date variables (`ds`, `ts`, ...) are in UTC, like Airflow's: the logical date is an
//! instant, and a DAG's timezone only decides when its schedule fires.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, SecondsFormat, Utc};
use minijinja::value::{Enumerator, Object, ObjectRepr, ValueKind, from_args};
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior, Value};
use serde::{Deserialize, Serialize};

use crate::params::ParamSpec;

/// Everything a template may refer to, for one try of one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderContext {
    pub dag_id: String,
    pub task_id: String,
    pub run_id: String,
    pub logical_date: DateTime<Utc>,
    pub try_number: u32,
    /// Resolved params: defaults overlaid with the trigger's conf (see `Dag::resolve_params`).
    pub params: serde_json::Map<String, serde_json::Value>,
    /// The trigger's conf as given.
    pub conf: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error(
        "{field}: conf key \"{key}\" is not set (use conf.get(\"{key}\", default) if it is optional)"
    )]
    MissingConf { field: String, key: String },
    #[error("{field}: param \"{name}\" has no value")]
    MissingParam { field: String, name: String },
    #[error("{field}: {message}")]
    Template { field: String, message: String },
}

/// Top-level names every template sees, besides the environment's globals.
pub(crate) const VARIABLES: [&str; 11] = [
    "ds",
    "ds_nodash",
    "ts",
    "ts_nodash",
    "logical_date",
    "run_id",
    "dag_id",
    "task_id",
    "try_number",
    "params",
    "conf",
];

/// Map methods, so `params.get(..)` is not mistaken for a param named `get`.
const MAP_METHODS: [&str; 4] = ["get", "items", "keys", "values"];

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_unknown_method_callback(|_state, value, method, args| {
            if value.kind() != ValueKind::Map || method != "get" {
                return Err(Error::from(ErrorKind::UnknownMethod));
            }
            let (key, default): (Value, Option<Value>) = from_args(args)?;
            let found = value.get_item(&key)?;
            Ok(if found.is_undefined() {
                default.unwrap_or(Value::from(()))
            } else {
                found
            })
        });
        env
    })
}

fn message_of(err: &Error) -> String {
    match err.detail() {
        Some(detail) => format!("{}: {detail}", err.kind()),
        None => err.kind().to_string(),
    }
}

fn context(
    dag_id: &str,
    task_id: &str,
    run_id: &str,
    logical_date: DateTime<Utc>,
    try_number: u32,
    params: Value,
    conf: Value,
) -> Value {
    let mut vars = BTreeMap::new();
    vars.insert(
        "ds",
        Value::from(logical_date.format("%Y-%m-%d").to_string()),
    );
    vars.insert(
        "ds_nodash",
        Value::from(logical_date.format("%Y%m%d").to_string()),
    );
    let ts = logical_date.to_rfc3339_opts(SecondsFormat::Secs, false);
    vars.insert("ts", Value::from(ts.clone()));
    vars.insert(
        "ts_nodash",
        Value::from(logical_date.format("%Y%m%dT%H%M%S").to_string()),
    );
    vars.insert("logical_date", Value::from(ts));
    vars.insert("run_id", Value::from(run_id));
    vars.insert("dag_id", Value::from(dag_id));
    vars.insert("task_id", Value::from(task_id));
    vars.insert("try_number", Value::from(try_number));
    vars.insert("params", params);
    vars.insert("conf", conf);
    Value::from(vars)
}

/// Renders the strings of one application against one context.
pub(crate) struct Renderer<'c> {
    ctx: &'c RenderContext,
    vars: Value,
}

impl<'c> Renderer<'c> {
    pub(crate) fn new(ctx: &'c RenderContext) -> Self {
        let vars = context(
            &ctx.dag_id,
            &ctx.task_id,
            &ctx.run_id,
            ctx.logical_date,
            ctx.try_number,
            Value::from_serialize(&ctx.params),
            Value::from_serialize(&ctx.conf),
        );
        Renderer { ctx, vars }
    }

    pub(crate) fn render(&self, field: &str, source: &str) -> Result<String, RenderError> {
        let template_error = |err: &Error| RenderError::Template {
            field: field.to_string(),
            message: message_of(err),
        };
        // Plain strings are the common case; skip the template machinery for them.
        if !source.contains("{{") && !source.contains("{%") && !source.contains("{#") {
            return Ok(source.to_string());
        }
        let tmpl = env()
            .template_from_str(source)
            .map_err(|e| template_error(&e))?;
        tmpl.render(&self.vars).map_err(|err| {
            if err.kind() == ErrorKind::UndefinedError {
                for var in sorted(tmpl.undeclared_variables(true)) {
                    let mut parts = var.splitn(3, '.');
                    match (parts.next(), parts.next()) {
                        (Some("conf"), Some(key))
                            if !self.ctx.conf.contains_key(key) && !MAP_METHODS.contains(&key) =>
                        {
                            return RenderError::MissingConf {
                                field: field.to_string(),
                                key: key.to_string(),
                            };
                        }
                        (Some("params"), Some(name))
                            if !self.ctx.params.contains_key(name)
                                && !MAP_METHODS.contains(&name) =>
                        {
                            return RenderError::MissingParam {
                                field: field.to_string(),
                                name: name.to_string(),
                            };
                        }
                        _ => {}
                    }
                }
            }
            template_error(&err)
        })
    }
}

fn sorted(set: std::collections::HashSet<String>) -> BTreeSet<String> {
    set.into_iter().collect()
}

/// A problem found in one template string at load time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TemplateProblem {
    pub message: String,
    pub hint: Option<String>,
    /// Byte offset inside the template source, when minijinja knows it.
    pub offset: Option<usize>,
}

/// Stands in for `conf` at load time: any key exists.
#[derive(Debug)]
struct AnyConf;

impl Object for AnyConf {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, _key: &Value) -> Option<Value> {
        Some(Value::from("conf-value"))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Empty
    }
}

/// Checks templates at load time against the DAG's declared params.
pub(crate) struct Checker {
    dag_id: String,
    params: BTreeMap<String, ParamSpec>,
    sample_params: Value,
}

impl Checker {
    pub(crate) fn new(dag_id: &str, params: &BTreeMap<String, ParamSpec>) -> Self {
        let sample: BTreeMap<&str, serde_json::Value> = params
            .iter()
            .map(|(name, spec)| (name.as_str(), spec.sample()))
            .collect();
        Checker {
            dag_id: dag_id.to_string(),
            params: params.clone(),
            sample_params: Value::from_serialize(&sample),
        }
    }

    /// Compiles `source`, checks every variable it names, then renders it with sample values
    /// to catch what only shows at run time (unknown filters, bad method calls).
    pub(crate) fn check(&self, task_id: &str, source: &str) -> Option<TemplateProblem> {
        if !source.contains('{') {
            return None;
        }
        let tmpl = match env().template_from_str(source) {
            Ok(tmpl) => tmpl,
            Err(err) => {
                return Some(TemplateProblem {
                    message: format!("template {}", message_of(&err)),
                    hint: None,
                    offset: err.range().map(|r| r.start),
                });
            }
        };
        let globals: Vec<&str> = env().globals().map(|(name, _)| name).collect();
        let undeclared = sorted(tmpl.undeclared_variables(true));
        for var in &undeclared {
            let mut parts = var.splitn(3, '.');
            let top = parts.next().unwrap_or_default();
            let second = parts.next();
            let offset = source.find(var.as_str());
            if top == "params" {
                if let Some(name) = second
                    && !self.params.contains_key(name)
                    && !MAP_METHODS.contains(&name)
                {
                    let names: Vec<&str> = self.params.keys().map(String::as_str).collect();
                    return Some(TemplateProblem {
                        message: format!("template refers to unknown param \"{name}\""),
                        hint: Some(crate::diagnostic::suggest(name, &names, "declared params")),
                        offset,
                    });
                }
            } else if !VARIABLES.contains(&top) && !globals.contains(&top) {
                return Some(TemplateProblem {
                    message: format!("template refers to unknown variable \"{top}\""),
                    hint: Some(crate::diagnostic::suggest(
                        top,
                        &VARIABLES,
                        "available variables",
                    )),
                    offset,
                });
            }
        }
        let vars = context(
            &self.dag_id,
            task_id,
            "manual__2026-01-01T00:00:00+00:00",
            DateTime::UNIX_EPOCH,
            1,
            self.sample_params.clone(),
            Value::from_object(AnyConf),
        );
        match tmpl.render(vars) {
            // Sample conf values are placeholders; what a template does with them cannot be judged.
            Err(_)
                if undeclared
                    .iter()
                    .any(|v| v == "conf" || v.starts_with("conf.")) =>
            {
                None
            }
            Err(err) => Some(TemplateProblem {
                message: format!("template fails with sample values: {}", message_of(&err)),
                hint: None,
                offset: err.range().map(|r| r.start),
            }),
            Ok(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::ParamKind;

    fn checker() -> Checker {
        let top = ParamSpec {
            default: Some(serde_json::json!(10)),
            kind: Some(ParamKind::Integer),
            description: None,
            required: false,
            enum_values: None,
            minimum: None,
            maximum: None,
        };
        Checker::new("dag", &BTreeMap::from([("top".to_string(), top)]))
    }

    #[test]
    fn accepts_any_conf_key_and_map_methods_at_load_time() {
        let c = checker();
        for ok in [
            "{{ conf.anything }}",
            "{{ conf.a.b | upper }}",
            "{{ conf.get('x', 1) }}",
            "{{ params.get('top') }}",
            "{% for i in range(params.top) %}{{ i }}{% endfor %}",
        ] {
            assert_eq!(c.check("t", ok), None, "{ok}");
        }
    }

    #[test]
    fn reports_unknown_filters_found_by_rendering_sample_values() {
        let problem = checker()
            .check("t", "{{ params.top | frobnicate }}")
            .unwrap();
        assert!(problem.message.contains("unknown filter"), "{problem:?}");
    }

    #[test]
    fn reports_unknown_top_level_variables_with_a_suggestion() {
        let problem = checker().check("t", "{{ run_idd }}").unwrap();
        assert_eq!(
            problem.message,
            "template refers to unknown variable \"run_idd\""
        );
        assert_eq!(problem.hint.as_deref(), Some("did you mean \"run_id\"?"));
        assert_eq!(problem.offset, Some(3));
    }

    #[test]
    fn plain_strings_render_unchanged() {
        let ctx = RenderContext {
            dag_id: "d".into(),
            task_id: "t".into(),
            run_id: "r".into(),
            logical_date: DateTime::UNIX_EPOCH,
            try_number: 1,
            params: serde_json::Map::new(),
            conf: serde_json::Map::new(),
        };
        assert_eq!(
            Renderer::new(&ctx).render("args[0]", "--verbose").unwrap(),
            "--verbose"
        );
        assert_eq!(
            Renderer::new(&ctx).render("args[1]", "{{ ts }}").unwrap(),
            "1970-01-01T00:00:00+00:00"
        );
        let err = Renderer::new(&ctx)
            .render("args[2]", "{{ params.day }}")
            .unwrap_err();
        assert_eq!(
            err,
            RenderError::MissingParam {
                field: "args[2]".into(),
                name: "day".into()
            }
        );
    }
}

//! `DagFile`: the DAG file as written, every value with its span.
//!
//! This is hand-read from toml's spanned document tree instead of derived with serde:
//! serde stops at the first unknown key or wrong type, and a DAG author should see every
//! problem in a file at once. Unknown keys are still refused everywhere (the effect of
//! `deny_unknown_fields`), with the closest allowed key as a hint. Meaning (durations,
//! cron, backends, the graph) is checked later, in `validate`.

use serde_spanned::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diagnostic::{Diags, Span, suggest};

type Val<'i> = Spanned<DeValue<'i>>;

#[derive(Debug, Default)]
pub(crate) struct DagFile {
    pub id: Option<Spanned<String>>,
    pub description: Option<Spanned<String>>,
    pub schedule: Option<Spanned<String>>,
    pub timezone: Option<Spanned<String>>,
    pub start_date: Option<Spanned<String>>,
    pub end_date: Option<Spanned<String>>,
    pub catchup: Option<Spanned<bool>>,
    pub max_active_runs: Option<Spanned<u32>>,
    pub dagrun_timeout: Option<Spanned<String>>,
    pub max_active_tasks: Option<Spanned<u32>>,
    pub tags: Vec<Spanned<String>>,
    pub params: Vec<ParamFile>,
    pub defaults: DefaultsFile,
    pub tasks: Vec<TaskFile>,
    /// Notifier names: the task ones for every task, the run ones for the run.
    pub notify: NotifyFile,
    pub on_run_failure: Vec<Spanned<String>>,
    pub on_run_success: Vec<Spanned<String>>,
}

/// Notifier names for a task's events; `None` where the key is not written.
#[derive(Debug, Default)]
pub(crate) struct NotifyFile {
    pub on_failure: Option<Vec<Spanned<String>>>,
    pub on_retry: Option<Vec<Spanned<String>>>,
    pub on_success: Option<Vec<Spanned<String>>>,
}

#[derive(Debug)]
pub(crate) struct ParamFile {
    pub name: Spanned<String>,
    pub default: Option<Spanned<serde_json::Value>>,
    pub kind: Option<Spanned<String>>,
    pub description: Option<Spanned<String>>,
    pub required: Option<Spanned<bool>>,
    pub enum_values: Option<Spanned<Vec<Spanned<serde_json::Value>>>>,
    pub minimum: Option<Spanned<f64>>,
    pub maximum: Option<Spanned<f64>>,
}

/// Settings a task may set and `[defaults]` may default.
#[derive(Debug, Default)]
pub(crate) struct TaskSettings {
    pub backend: Option<Spanned<String>>,
    pub retries: Option<Spanned<u32>>,
    pub retry_delay: Option<Spanned<String>>,
    pub retry_exponential_backoff: Option<Spanned<bool>>,
    pub retry_jitter: Option<Spanned<bool>>,
    pub max_retry_delay: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub start_timeout: Option<Spanned<String>>,
    pub trigger_rule: Option<Spanned<String>>,
    pub depends_on_past: Option<Spanned<bool>>,
    pub pool: Option<Spanned<String>>,
    pub pool_slots: Option<Spanned<u32>>,
    pub priority_weight: Option<Spanned<i32>>,
    pub weight_rule: Option<Spanned<String>>,
    pub notify: NotifyFile,
}

#[derive(Debug, Default)]
pub(crate) struct DefaultsFile {
    pub settings: TaskSettings,
    pub deploy_mode: Option<Spanned<String>>,
    pub conf: Vec<(Spanned<String>, Spanned<String>)>,
}

#[derive(Debug)]
pub(crate) struct TaskFile {
    /// The `[[tasks]]` header (or inline table).
    pub span: Span,
    pub id: Option<Spanned<String>>,
    pub settings: TaskSettings,
    pub depends_on: Vec<Spanned<String>>,
    pub application: Option<AppFile>,
}

#[derive(Debug)]
pub(crate) struct AppFile {
    pub span: Span,
    pub name: Option<Spanned<String>>,
    pub resource: Option<Spanned<String>>,
    pub main_class: Option<Spanned<String>>,
    pub args: Vec<Spanned<String>>,
    pub conf: Vec<(Spanned<String>, Spanned<String>)>,
    pub deploy_mode: Option<Spanned<String>>,
    pub driver: Option<ResourcesFile>,
    pub executor: Option<ResourcesFile>,
    pub jars: Vec<Spanned<String>>,
    pub files: Vec<Spanned<String>>,
    pub py_files: Vec<Spanned<String>>,
    pub env: Vec<(Spanned<String>, Spanned<String>)>,
    /// spark-submit's `--proxy-user`; not a Spark property, so not a flag.
    pub proxy_user: Option<Spanned<String>>,
    /// spark-submit's flags that stand for Spark properties (`--packages`,
    /// `--queue`, ...), folded into `conf` by `validate`.
    pub flags: SubmitFlagsFile,
}

/// spark-submit's other flags, as written; each becomes the Spark property
/// spark-submit sets for it (`crate::flags`).
#[derive(Debug, Default)]
pub(crate) struct SubmitFlagsFile {
    pub archives: Vec<Spanned<String>>,
    pub packages: Vec<Spanned<String>>,
    pub repositories: Vec<Spanned<String>>,
    pub exclude_packages: Vec<Spanned<String>>,
    pub total_executor_cores: Option<Spanned<u32>>,
    pub principal: Option<Spanned<String>>,
    pub keytab: Option<Spanned<String>>,
    pub driver_java_options: Option<Spanned<String>>,
    pub driver_class_path: Option<Spanned<String>>,
    pub queue: Option<Spanned<String>>,
    pub dynamic_allocation: Option<DynamicAllocationFile>,
}

#[derive(Debug)]
pub(crate) struct DynamicAllocationFile {
    pub span: Span,
    pub min_executors: Option<Spanned<u32>>,
    pub max_executors: Option<Spanned<u32>>,
    pub initial_executors: Option<Spanned<u32>>,
}

#[derive(Debug)]
pub(crate) struct ResourcesFile {
    pub span: Span,
    pub memory: Option<Spanned<String>>,
    pub cores: Option<Spanned<u32>>,
    pub instances: Option<Spanned<u32>>,
}

const TOP_KEYS: &[&str] = &[
    "id",
    "description",
    "schedule",
    "timezone",
    "start_date",
    "end_date",
    "catchup",
    "max_active_runs",
    "dagrun_timeout",
    "max_active_tasks",
    "tags",
    "params",
    "defaults",
    "tasks",
    "on_failure",
    "on_retry",
    "on_success",
    "on_run_failure",
    "on_run_success",
];
const PARAM_KEYS: &[&str] = &[
    "default",
    "type",
    "description",
    "required",
    "enum",
    "minimum",
    "maximum",
];
const DEFAULTS_KEYS: &[&str] = &[
    "backend",
    "retries",
    "retry_delay",
    "retry_exponential_backoff",
    "retry_jitter",
    "max_retry_delay",
    "timeout",
    "start_timeout",
    "trigger_rule",
    "depends_on_past",
    "pool",
    "pool_slots",
    "priority_weight",
    "weight_rule",
    "deploy_mode",
    "conf",
    "on_failure",
    "on_retry",
    "on_success",
];
const TASK_KEYS: &[&str] = &[
    "id",
    "backend",
    "depends_on",
    "retries",
    "retry_delay",
    "retry_exponential_backoff",
    "retry_jitter",
    "max_retry_delay",
    "timeout",
    "start_timeout",
    "trigger_rule",
    "depends_on_past",
    "pool",
    "pool_slots",
    "priority_weight",
    "weight_rule",
    "application",
    "on_failure",
    "on_retry",
    "on_success",
];
const APP_KEYS: &[&str] = &[
    "name",
    "resource",
    "main_class",
    "args",
    "conf",
    "deploy_mode",
    "driver",
    "executor",
    "jars",
    "files",
    "py_files",
    "env",
    "proxy_user",
    "archives",
    "packages",
    "repositories",
    "exclude_packages",
    "total_executor_cores",
    "principal",
    "keytab",
    "driver_java_options",
    "driver_class_path",
    "queue",
    "dynamic_allocation",
];
const DYNAMIC_ALLOCATION_KEYS: &[&str] = &["min_executors", "max_executors", "initial_executors"];
const DRIVER_KEYS: &[&str] = &["memory", "cores"];
const EXECUTOR_KEYS: &[&str] = &["memory", "cores", "instances"];

/// Reads one table, remembering which keys were looked at so the rest can be refused.
struct Table<'a, 'i> {
    entries: &'a DeTable<'i>,
    /// What to call this table in messages: "the DAG", "[defaults]", "task \"x\"".
    what: String,
    allowed: &'static [&'static str],
}

impl<'a, 'i> Table<'a, 'i> {
    fn new(
        entries: &'a DeTable<'i>,
        what: impl Into<String>,
        allowed: &'static [&'static str],
        d: &mut Diags,
    ) -> Self {
        let what = what.into();
        for (key, _) in entries.iter() {
            if !allowed.contains(&key.get_ref().as_ref()) {
                d.error(
                    key.span(),
                    format!("unknown key \"{}\" in {}", key.get_ref(), what),
                    Some(suggest(key.get_ref(), allowed, "allowed keys")),
                );
            }
        }
        Table {
            entries,
            what,
            allowed,
        }
    }

    fn get(&self, key: &str) -> Option<&'a Val<'i>> {
        debug_assert!(self.allowed.contains(&key), "{key} is not an allowed key");
        self.entries
            .iter()
            .find(|(k, _)| k.get_ref() == key)
            .map(|(_, v)| v)
    }

    fn string(&self, key: &str, d: &mut Diags) -> Option<Spanned<String>> {
        self.get(key).and_then(|v| string(v, key, d))
    }

    fn boolean(&self, key: &str, d: &mut Diags) -> Option<Spanned<bool>> {
        let v = self.get(key)?;
        match v.get_ref() {
            DeValue::Boolean(b) => Some(Spanned::new(v.span(), *b)),
            other => {
                d.error(
                    v.span(),
                    format!(
                        "\"{key}\" must be true or false, found {}",
                        other.type_str()
                    ),
                    None,
                );
                None
            }
        }
    }

    fn count(&self, key: &str, d: &mut Diags) -> Option<Spanned<u32>> {
        let v = self.get(key)?;
        match integer(v).and_then(|n| u32::try_from(n).ok()) {
            Some(n) => Some(Spanned::new(v.span(), n)),
            None => {
                d.error(
                    v.span(),
                    format!("\"{key}\" must be a non-negative integer"),
                    None,
                );
                None
            }
        }
    }

    /// An integer that may be negative, within i32.
    fn integer(&self, key: &str, d: &mut Diags) -> Option<Spanned<i32>> {
        let v = self.get(key)?;
        if !matches!(v.get_ref(), DeValue::Integer(_)) {
            d.error(
                v.span(),
                format!("\"{key}\" must be an integer, found {}", v.get_ref().type_str()),
                None,
            );
            return None;
        }
        match integer(v).and_then(|n| i32::try_from(n).ok()) {
            Some(n) => Some(Spanned::new(v.span(), n)),
            None => {
                d.error(
                    v.span(),
                    format!("\"{key}\" must be from {} to {}", i32::MIN, i32::MAX),
                    None,
                );
                None
            }
        }
    }

    /// A string, or a number/bool written for one (`memory = 2048`, `"spark.x" = 4`).
    fn scalar(&self, key: &str, d: &mut Diags) -> Option<Spanned<String>> {
        self.get(key).and_then(|v| scalar(v, key, d))
    }

    fn strings(&self, key: &str, d: &mut Diags) -> Vec<Spanned<String>> {
        let Some(v) = self.get(key) else {
            return Vec::new();
        };
        match v.get_ref() {
            DeValue::Array(items) => items
                .iter()
                .filter_map(|item| string(item, key, d))
                .collect(),
            other => {
                d.error(
                    v.span(),
                    format!(
                        "\"{key}\" must be an array of strings, found {}",
                        other.type_str()
                    ),
                    None,
                );
                Vec::new()
            }
        }
    }

    fn string_map(&self, key: &str, d: &mut Diags) -> Vec<(Spanned<String>, Spanned<String>)> {
        let Some(v) = self.get(key) else {
            return Vec::new();
        };
        match v.get_ref() {
            DeValue::Table(t) => t
                .iter()
                .filter_map(|(k, item)| {
                    let name = k.get_ref().to_string();
                    let value = scalar(item, &format!("{key}.{name}"), d)?;
                    Some((Spanned::new(k.span(), name), value))
                })
                .collect(),
            other => {
                d.error(
                    v.span(),
                    format!(
                        "\"{key}\" must be a table of strings, found {}",
                        other.type_str()
                    ),
                    None,
                );
                Vec::new()
            }
        }
    }

    fn table(&self, key: &str, d: &mut Diags) -> Option<&'a Val<'i>> {
        let v = self.get(key)?;
        if v.get_ref().is_table() {
            Some(v)
        } else {
            d.error(
                v.span(),
                format!(
                    "\"{key}\" in {} must be a table, found {}",
                    self.what,
                    v.get_ref().type_str()
                ),
                None,
            );
            None
        }
    }
}

/// An integer's value however written (`1_000`, `0x10`); `None` for another type or one
/// beyond i64.
fn integer(v: &Val<'_>) -> Option<i64> {
    match v.get_ref() {
        DeValue::Integer(i) => i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok(),
        _ => None,
    }
}

fn string(v: &Val<'_>, key: &str, d: &mut Diags) -> Option<Spanned<String>> {
    match v.get_ref() {
        DeValue::String(s) => Some(Spanned::new(v.span(), s.to_string())),
        // Dates may be written bare (`start_date = 2026-01-01`); keep their text.
        DeValue::Datetime(dt) => Some(Spanned::new(v.span(), dt.to_string())),
        other => {
            d.error(
                v.span(),
                format!("\"{key}\" must be a string, found {}", other.type_str()),
                None,
            );
            None
        }
    }
}

fn scalar(v: &Val<'_>, key: &str, d: &mut Diags) -> Option<Spanned<String>> {
    let text = match v.get_ref() {
        DeValue::String(s) => s.to_string(),
        DeValue::Integer(i) => i.to_string(),
        DeValue::Float(f) => f.to_string(),
        DeValue::Boolean(b) => b.to_string(),
        DeValue::Datetime(dt) => dt.to_string(),
        other => {
            d.error(
                v.span(),
                format!("\"{key}\" must be a string, found {}", other.type_str()),
                None,
            );
            return None;
        }
    };
    Some(Spanned::new(v.span(), text))
}

/// Converts a TOML value to JSON for params; dates become strings.
fn json(v: &Val<'_>, d: &mut Diags) -> Option<serde_json::Value> {
    use serde_json::Value as J;
    Some(match v.get_ref() {
        DeValue::String(s) => J::String(s.to_string()),
        DeValue::Integer(i) => match i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()) {
            Ok(n) => J::from(n),
            Err(_) => {
                d.error(v.span(), "integer is too large", None);
                return None;
            }
        },
        DeValue::Float(f) => match f
            .as_str()
            .replace('_', "")
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
        {
            Some(n) => J::Number(n),
            None => {
                d.error(v.span(), "param values must be finite numbers", None);
                return None;
            }
        },
        DeValue::Boolean(b) => J::Bool(*b),
        DeValue::Datetime(dt) => J::String(dt.to_string()),
        DeValue::Array(items) => J::Array(items.iter().filter_map(|item| json(item, d)).collect()),
        DeValue::Table(t) => J::Object(
            t.iter()
                .filter_map(|(k, item)| Some((k.get_ref().to_string(), json(item, d)?)))
                .collect(),
        ),
    })
}

fn number(v: &Val<'_>, key: &str, d: &mut Diags) -> Option<Spanned<f64>> {
    match json(v, d) {
        Some(serde_json::Value::Number(n)) => n.as_f64().map(|n| Spanned::new(v.span(), n)),
        Some(_) => {
            d.error(
                v.span(),
                format!(
                    "\"{key}\" must be a number, found {}",
                    v.get_ref().type_str()
                ),
                None,
            );
            None
        }
        None => None,
    }
}

/// Reads the whole document. Problems go to `d`; whatever could be read is returned.
pub(crate) fn read(doc: &DeTable<'_>, d: &mut Diags) -> DagFile {
    let top = Table::new(doc, "the DAG", TOP_KEYS, d);
    let mut file = DagFile {
        id: top.string("id", d),
        description: top.string("description", d),
        schedule: top.string("schedule", d),
        timezone: top.string("timezone", d),
        start_date: top.string("start_date", d),
        end_date: top.string("end_date", d),
        catchup: top.boolean("catchup", d),
        max_active_runs: top.count("max_active_runs", d),
        dagrun_timeout: top.string("dagrun_timeout", d),
        max_active_tasks: top.count("max_active_tasks", d),
        tags: top.strings("tags", d),
        notify: read_notify(&top, d),
        on_run_failure: top.strings("on_run_failure", d),
        on_run_success: top.strings("on_run_success", d),
        ..DagFile::default()
    };
    if let Some(params) = top.table("params", d)
        && let DeValue::Table(entries) = params.get_ref()
    {
        for (name, value) in entries.iter() {
            file.params.push(read_param(
                Spanned::new(name.span(), name.get_ref().to_string()),
                value,
                d,
            ));
        }
    }
    if let Some(defaults) = top.table("defaults", d)
        && let DeValue::Table(entries) = defaults.get_ref()
    {
        let t = Table::new(entries, "[defaults]", DEFAULTS_KEYS, d);
        file.defaults = DefaultsFile {
            settings: read_settings(&t, d),
            deploy_mode: t.string("deploy_mode", d),
            conf: t.string_map("conf", d),
        };
    }
    if let Some(tasks) = top.get("tasks") {
        match tasks.get_ref() {
            DeValue::Array(items) => {
                for item in items.iter() {
                    if let Some(task) = read_task(item, d) {
                        file.tasks.push(task);
                    }
                }
            }
            other => d.error(
                tasks.span(),
                format!(
                    "\"tasks\" must be an array of tables, found {}",
                    other.type_str()
                ),
                Some("write each task as a [[tasks]] table".to_string()),
            ),
        }
    }
    file
}

fn read_param(name: Spanned<String>, value: &Val<'_>, d: &mut Diags) -> ParamFile {
    let mut param = ParamFile {
        name,
        default: None,
        kind: None,
        description: None,
        required: None,
        enum_values: None,
        minimum: None,
        maximum: None,
    };
    // A table is always a spec; an object default is written `{ default = { ... } }`.
    let DeValue::Table(entries) = value.get_ref() else {
        param.default = json(value, d).map(|j| Spanned::new(value.span(), j));
        return param;
    };
    let what = format!("param \"{}\"", param.name.get_ref());
    let t = Table::new(entries, what, PARAM_KEYS, d);
    param.default = t
        .get("default")
        .and_then(|v| Some(Spanned::new(v.span(), json(v, d)?)));
    param.kind = t.string("type", d);
    param.description = t.string("description", d);
    param.required = t.boolean("required", d);
    param.minimum = t.get("minimum").and_then(|v| number(v, "minimum", d));
    param.maximum = t.get("maximum").and_then(|v| number(v, "maximum", d));
    if let Some(v) = t.get("enum") {
        match v.get_ref() {
            DeValue::Array(items) => {
                let values = items
                    .iter()
                    .filter_map(|item| Some(Spanned::new(item.span(), json(item, d)?)))
                    .collect();
                param.enum_values = Some(Spanned::new(v.span(), values));
            }
            other => d.error(
                v.span(),
                format!("\"enum\" must be an array, found {}", other.type_str()),
                None,
            ),
        }
    }
    param
}

fn read_settings(t: &Table<'_, '_>, d: &mut Diags) -> TaskSettings {
    TaskSettings {
        backend: t.string("backend", d),
        retries: t.count("retries", d),
        retry_delay: t.string("retry_delay", d),
        retry_exponential_backoff: t.boolean("retry_exponential_backoff", d),
        retry_jitter: t.boolean("retry_jitter", d),
        max_retry_delay: t.string("max_retry_delay", d),
        timeout: t.string("timeout", d),
        start_timeout: t.string("start_timeout", d),
        trigger_rule: t.string("trigger_rule", d),
        depends_on_past: t.boolean("depends_on_past", d),
        pool: t.string("pool", d),
        pool_slots: t.count("pool_slots", d),
        priority_weight: t.integer("priority_weight", d),
        weight_rule: t.string("weight_rule", d),
        notify: read_notify(t, d),
    }
}

fn read_notify(t: &Table<'_, '_>, d: &mut Diags) -> NotifyFile {
    let mut names = |key: &str| t.get(key).map(|_| t.strings(key, d));
    NotifyFile {
        on_failure: names("on_failure"),
        on_retry: names("on_retry"),
        on_success: names("on_success"),
    }
}

fn read_task(value: &Val<'_>, d: &mut Diags) -> Option<TaskFile> {
    let DeValue::Table(entries) = value.get_ref() else {
        d.error(
            value.span(),
            format!(
                "each task must be a table, found {}",
                value.get_ref().type_str()
            ),
            None,
        );
        return None;
    };
    let id = entries
        .iter()
        .find(|(k, _)| k.get_ref() == "id")
        .and_then(|(_, v)| v.get_ref().as_str());
    let what = id.map_or_else(|| "a task".to_string(), |id| format!("task \"{id}\""));
    let t = Table::new(entries, what.clone(), TASK_KEYS, d);
    let application = t
        .table("application", d)
        .and_then(|app| read_app(app, &what, d));
    Some(TaskFile {
        span: value.span(),
        id: t.string("id", d),
        settings: read_settings(&t, d),
        depends_on: t.strings("depends_on", d),
        application,
    })
}

fn read_app(value: &Val<'_>, task: &str, d: &mut Diags) -> Option<AppFile> {
    let DeValue::Table(entries) = value.get_ref() else {
        return None;
    };
    let t = Table::new(entries, format!("the application of {task}"), APP_KEYS, d);
    let resources = |key: &'static str, allowed: &'static [&'static str], d: &mut Diags| {
        let v = t.table(key, d)?;
        let DeValue::Table(entries) = v.get_ref() else {
            return None;
        };
        let r = Table::new(entries, format!("{key} of {task}"), allowed, d);
        Some(ResourcesFile {
            span: v.span(),
            memory: r.scalar("memory", d),
            cores: r.count("cores", d),
            instances: if allowed.contains(&"instances") {
                r.count("instances", d)
            } else {
                None
            },
        })
    };
    Some(AppFile {
        span: value.span(),
        name: t.string("name", d),
        resource: t.string("resource", d),
        main_class: t.string("main_class", d),
        args: t.strings("args", d),
        conf: t.string_map("conf", d),
        deploy_mode: t.string("deploy_mode", d),
        driver: resources("driver", DRIVER_KEYS, d),
        executor: resources("executor", EXECUTOR_KEYS, d),
        jars: t.strings("jars", d),
        files: t.strings("files", d),
        py_files: t.strings("py_files", d),
        env: t.string_map("env", d),
        proxy_user: t.string("proxy_user", d),
        flags: SubmitFlagsFile {
            archives: t.strings("archives", d),
            packages: t.strings("packages", d),
            repositories: t.strings("repositories", d),
            exclude_packages: t.strings("exclude_packages", d),
            total_executor_cores: t.count("total_executor_cores", d),
            principal: t.string("principal", d),
            keytab: t.string("keytab", d),
            driver_java_options: t.string("driver_java_options", d),
            driver_class_path: t.string("driver_class_path", d),
            queue: t.string("queue", d),
            dynamic_allocation: t.table("dynamic_allocation", d).and_then(|v| {
                let DeValue::Table(entries) = v.get_ref() else {
                    return None;
                };
                let r = Table::new(
                    entries,
                    format!("dynamic_allocation of {task}"),
                    DYNAMIC_ALLOCATION_KEYS,
                    d,
                );
                Some(DynamicAllocationFile {
                    span: v.span(),
                    min_executors: r.count("min_executors", d),
                    max_executors: r.count("max_executors", d),
                    initial_executors: r.count("initial_executors", d),
                })
            }),
        },
    })
}

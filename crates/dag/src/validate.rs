//! `DagFile` -> `Dag`: every check that needs meaning, each problem pointed at its value.
//!
//! Checks keep going after a failure so one pass reports everything; a value that failed is
//! simply left out of what follows (a task with an unknown backend is not also reported for
//! its deploy mode).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde_spanned::Spanned;
use sha2::{Digest, Sha256};

use crate::application::{Application, ApplicationTemplate, Backends, DeployMode, Resources};
use crate::dag::{DEFAULT_POOL, Dag, Task};
use crate::flags;
use crate::diagnostic::{Diags, Span, closest, suggest};
use crate::params::{ParamKind, ParamSpec, describe};
use crate::priority::{WeightRule, set_effective_priorities};
use crate::schedule::{SCHEDULE_HINT, Schedule};
use crate::schema::{
    AppFile, DagFile, DefaultsFile, NotifyFile, ParamFile, ResourcesFile, TaskFile, TaskSettings,
};
use crate::template::Checker;
use crate::trigger::TriggerRule;

const DEFAULT_MAX_ACTIVE_RUNS: u32 = 16;
const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(30);
const DEFAULT_MAX_RETRY_DELAY: Duration = Duration::from_secs(3600);
const DURATION_HINT: &str = "write a duration like \"30s\", \"5m\" or \"1h 30m\"";
const MEMORY_HINT: &str = "write memory like \"512m\", \"2g\" or a number of MiB";

pub(crate) fn check(
    file: DagFile,
    path: &Path,
    source: &str,
    backends: &dyn Backends,
    d: &mut Diags,
) -> Option<Dag> {
    let id = match &file.id {
        None => {
            d.error(
                0..0,
                "missing required key \"id\"",
                Some("add `id = \"my_dag\"` at the top of the file".into()),
            );
            None
        }
        Some(id) => check_id(id, "DAG", d).then(|| id.get_ref().clone()),
    };
    let timezone = file
        .timezone
        .as_ref()
        .map_or(Some(Tz::UTC), |tz| check_timezone(tz, d));
    let schedule = match &file.schedule {
        None => Some(Schedule::Manual),
        Some(s) => match Schedule::parse(s.get_ref()) {
            Ok(schedule) => Some(schedule),
            Err(e) => {
                d.error(s.span(), e.to_string(), Some(SCHEDULE_HINT.to_string()));
                None
            }
        },
    };
    let tz = timezone.unwrap_or(Tz::UTC);
    let start_date = file
        .start_date
        .as_ref()
        .and_then(|s| parse_date(s, "start_date", tz, d));
    let end_date = file
        .end_date
        .as_ref()
        .and_then(|s| parse_date(s, "end_date", tz, d));
    if let (Some(start), Some(end), Some(end_text)) = (start_date, end_date, &file.end_date)
        && end < start
    {
        d.error(end_text.span(), "end_date is before start_date", None);
    }
    if let (Some(s), None, Some(Schedule::Cron { .. })) =
        (&file.schedule, &file.start_date, &schedule)
    {
        d.error(
            s.span(),
            "a schedule needs a start_date",
            Some(
                "add `start_date = \"2026-01-01\"`, or use `schedule = \"none\"` for manual runs"
                    .into(),
            ),
        );
    }
    let max_active_runs = match &file.max_active_runs {
        Some(n) if *n.get_ref() == 0 => {
            d.error(n.span(), "max_active_runs must be at least 1", None);
            DEFAULT_MAX_ACTIVE_RUNS
        }
        Some(n) => *n.get_ref(),
        None => DEFAULT_MAX_ACTIVE_RUNS,
    };
    let max_active_tasks = match &file.max_active_tasks {
        Some(n) if *n.get_ref() == 0 => {
            d.error(n.span(), "max_active_tasks must be at least 1", Some("leave it out for no cap".into()));
            None
        }
        Some(n) => Some(*n.get_ref()),
        None => None,
    };
    let dagrun_timeout = file.dagrun_timeout.as_ref().and_then(|t| duration(t, "dagrun_timeout", d));
    let params: BTreeMap<String, ParamSpec> = file
        .params
        .iter()
        .filter_map(|p| check_param(p, d).map(|spec| (p.name.get_ref().clone(), spec)))
        .collect();

    let dag_id = id.clone().unwrap_or_default();
    let checker = Checker::new(&dag_id, &params);
    let dir = absolute_dir(path);
    let defaults = Defaults::check(&file.defaults, &checker, d);
    if file.tasks.is_empty() {
        d.error(
            0..0,
            "the DAG has no tasks",
            Some("add a [[tasks]] table".into()),
        );
    }
    let notifiers = backends.notifiers();
    let dag_notify = check_notify(&file.notify, &notifiers, d);
    let defaults_notify = check_notify(&defaults.file.settings.notify, &notifiers, d);
    let on_run_failure = check_notifiers(&file.on_run_failure, &notifiers, d);
    let on_run_success = check_notifiers(&file.on_run_success, &notifiers, d);
    let scope = Scope {
        dag_id: &dag_id,
        defaults: &defaults,
        dir: &dir,
        checker: &checker,
        backends,
        notifiers: &notifiers,
        notify: (&dag_notify, &defaults_notify),
    };
    let tasks: Vec<Option<Task>> = file
        .tasks
        .iter()
        .map(|t| check_task(t, &scope, d))
        .collect();
    let order = check_graph(&file.tasks, d);

    let (Some(id), Some(timezone), Some(schedule), Some(order)) = (id, timezone, schedule, order)
    else {
        return None;
    };
    if !d.is_empty() {
        return None;
    }
    let mut tasks = tasks;
    let mut tasks = order
        .into_iter()
        .map(|i| tasks[i].take())
        .collect::<Option<Vec<Task>>>()?;
    set_effective_priorities(&mut tasks);
    let id_position = file
        .id
        .as_ref()
        .map_or((1, 1), |s| d.position(s.span().start));
    Some(Dag {
        id,
        file: path.to_path_buf(),
        description: file.description.map(Spanned::into_inner),
        schedule,
        timezone,
        start_date,
        end_date,
        catchup: file.catchup.is_some_and(|c| *c.get_ref()),
        max_active_runs,
        dagrun_timeout,
        max_active_tasks,
        tags: file.tags.into_iter().map(Spanned::into_inner).collect(),
        params,
        tasks,
        on_run_failure,
        on_run_success,
        source_hash: Sha256::digest(source.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        source: source.to_string(),
        id_position,
    })
}

fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn check_id(id: &Spanned<String>, what: &str, d: &mut Diags) -> bool {
    let s = id.get_ref();
    let ok = is_id(s);
    if !ok {
        d.error(
            id.span(),
            format!("invalid {what} id \"{s}\""),
            Some("ids use only letters, digits, '_', '.' and '-'".into()),
        );
    }
    ok
}

fn check_timezone(tz: &Spanned<String>, d: &mut Diags) -> Option<Tz> {
    match tz.get_ref().parse::<Tz>() {
        Ok(tz) => Some(tz),
        Err(_) => {
            let names = chrono_tz::TZ_VARIANTS.iter().map(|t| t.name());
            let hint = match closest(tz.get_ref(), names) {
                Some(name) => format!("did you mean \"{name}\"?"),
                None => "use an IANA timezone name like \"UTC\" or \"Europe/Paris\"".to_string(),
            };
            d.error(
                tz.span(),
                format!("unknown timezone \"{}\"", tz.get_ref()),
                Some(hint),
            );
            None
        }
    }
}

/// A date (midnight), an RFC 3339 datetime, or a datetime without offset read in `tz`.
fn parse_date(s: &Spanned<String>, key: &str, tz: Tz, d: &mut Diags) -> Option<DateTime<Utc>> {
    let text = s.get_ref().trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Some(dt.with_timezone(&Utc));
    }
    let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S"))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|day| day.and_hms_opt(0, 0, 0))
        });
    let Some(local) = local else {
        d.error(
            s.span(),
            format!("invalid {key} \"{text}\""),
            Some("write a date like \"2026-01-01\", \"2026-01-01T06:00:00\" (in the DAG's timezone) or RFC 3339".into()),
        );
        return None;
    };
    match tz.from_local_datetime(&local).earliest() {
        Some(dt) => Some(dt.with_timezone(&Utc)),
        None => {
            d.error(
                s.span(),
                format!(
                    "{key} \"{text}\" does not exist in {} (a clock change skips it)",
                    tz.name()
                ),
                None,
            );
            None
        }
    }
}

fn check_param(p: &ParamFile, d: &mut Diags) -> Option<ParamSpec> {
    let name = p.name.get_ref();
    let mut ok = true;
    let declared = match &p.kind {
        None => None,
        Some(kind) => match kind.get_ref().parse::<ParamKind>() {
            Ok(kind) => Some(kind),
            Err(message) => {
                d.error(
                    kind.span(),
                    message,
                    Some(suggest(kind.get_ref(), &ParamKind::NAMES, "types")),
                );
                return None;
            }
        },
    };
    let kind = declared.or_else(|| p.default.as_ref().and_then(|v| ParamKind::of(v.get_ref())));
    let numeric = matches!(kind, Some(ParamKind::Integer | ParamKind::Number));
    for bound in [&p.minimum, &p.maximum].into_iter().flatten() {
        if !numeric {
            d.error(
                bound.span(),
                format!("param \"{name}\" has bounds but is not an integer or number"),
                None,
            );
            ok = false;
        }
    }
    if let Some(values) = &p.enum_values {
        if values.get_ref().is_empty() {
            d.error(
                values.span(),
                format!("param \"{name}\" has an empty enum"),
                None,
            );
            ok = false;
        }
        if let Some(kind) = declared {
            for v in values
                .get_ref()
                .iter()
                .filter(|v| !kind.accepts(v.get_ref()))
            {
                d.error(
                    v.span(),
                    format!(
                        "enum value of param \"{name}\" is {}, not {kind}",
                        describe(v.get_ref())
                    ),
                    None,
                );
                ok = false;
            }
        }
    }
    let required = match (&p.required, &p.default) {
        (Some(r), Some(_)) if *r.get_ref() => {
            d.error(
                r.span(),
                format!("param \"{name}\" is required but has a default"),
                Some("a param with a default is optional; drop one of them".into()),
            );
            ok = false;
            true
        }
        (Some(r), _) => *r.get_ref(),
        (None, default) => default.is_none(),
    };
    let spec = ParamSpec {
        default: p.default.as_ref().map(|v| v.get_ref().clone()),
        kind,
        description: p.description.as_ref().map(|s| s.get_ref().clone()),
        required,
        enum_values: p
            .enum_values
            .as_ref()
            .map(|v| v.get_ref().iter().map(|v| v.get_ref().clone()).collect()),
        minimum: p.minimum.as_ref().map(|v| *v.get_ref()),
        maximum: p.maximum.as_ref().map(|v| *v.get_ref()),
    };
    if let Some(default) = &p.default {
        for problem in spec.problems(default.get_ref()) {
            d.error(
                default.span(),
                format!("default of param \"{name}\": {problem}"),
                None,
            );
            ok = false;
        }
    }
    ok.then_some(spec)
}

fn duration(s: &Spanned<String>, key: &str, d: &mut Diags) -> Option<Duration> {
    humantime::parse_duration(s.get_ref())
        .map_err(|e| {
            d.error(
                s.span(),
                format!("invalid duration \"{}\" for {key}: {e}", s.get_ref()),
                Some(DURATION_HINT.into()),
            )
        })
        .ok()
}

fn deploy_mode(s: &Spanned<String>, d: &mut Diags) -> Option<DeployMode> {
    s.get_ref()
        .parse::<DeployMode>()
        .map_err(|e| {
            let names = DeployMode::ALL.map(DeployMode::as_str);
            d.error(
                s.span(),
                e.to_string(),
                Some(suggest(s.get_ref(), &names, "deploy modes")),
            );
        })
        .ok()
}

/// Memory as Spark writes it: "512m", "2g", "1t", or a bare number of MiB.
/// Stricter than Spark: a whole number of MiB from 1 to u32::MAX, and no `b`
/// or `p` unit.
fn parse_memory(text: &str) -> Result<u32, String> {
    use drover_spark_units::{Memory, Unit};
    let memory = Memory::parse(text)
        .filter(|m| !matches!(m.unit, Unit::Byte | Unit::Pib))
        .ok_or_else(|| format!("invalid memory \"{text}\""))?;
    if !memory.is_whole_mib() {
        return Err(format!("memory \"{text}\" is not a whole number of MiB"));
    }
    match memory.mib().and_then(|m| u32::try_from(m).ok()) {
        Some(0) => Err("memory must be more than 0".to_string()),
        Some(m) => Ok(m),
        None => Err(format!("memory \"{text}\" is too large")),
    }
}

fn resources(r: Option<&ResourcesFile>, d: &mut Diags) -> Resources {
    let Some(r) = r else {
        return Resources::default();
    };
    let memory_mb = r.memory.as_ref().and_then(|m| {
        parse_memory(m.get_ref())
            .map_err(|e| d.error(m.span(), e, Some(MEMORY_HINT.into())))
            .ok()
    });
    Resources {
        memory_mb,
        cores: r.cores.as_ref().map(|c| *c.get_ref()),
        instances: r.instances.as_ref().map(|c| *c.get_ref()),
    }
}

/// `[defaults]`, checked once so a bad default is reported once, not per task.
struct Defaults<'f> {
    file: &'f DefaultsFile,
    retry_delay: Option<Duration>,
    max_retry_delay: Option<Duration>,
    timeout: Option<Duration>,
    start_timeout: Option<Duration>,
    deploy_mode: Option<DeployMode>,
}

impl<'f> Defaults<'f> {
    fn check(file: &'f DefaultsFile, checker: &Checker, d: &mut Diags) -> Self {
        let s = &file.settings;
        for (_, value) in &file.conf {
            check_template(value, "task", checker, d);
        }
        Defaults {
            file,
            retry_delay: s
                .retry_delay
                .as_ref()
                .and_then(|v| duration(v, "retry_delay", d)),
            max_retry_delay: s
                .max_retry_delay
                .as_ref()
                .and_then(|v| duration(v, "max_retry_delay", d)),
            timeout: s.timeout.as_ref().and_then(|v| duration(v, "timeout", d)),
            start_timeout: s
                .start_timeout
                .as_ref()
                .and_then(|v| duration(v, "start_timeout", d)),
            deploy_mode: file.deploy_mode.as_ref().and_then(|v| deploy_mode(v, d)),
        }
    }
}

fn check_template(s: &Spanned<String>, task_id: &str, checker: &Checker, d: &mut Diags) {
    let Some(problem) = checker.check(task_id, s.get_ref()) else {
        return;
    };
    let span = s.span();
    // Point inside the string when the file spells it verbatim (no escapes, one line).
    let literal = d.src().get(span.clone()).unwrap_or_default();
    let verbatim =
        literal.len() == s.get_ref().len() + 2 && &literal[1..literal.len() - 1] == s.get_ref();
    let start = match problem.offset {
        Some(offset) if verbatim => span.start + 1 + offset,
        _ => span.start,
    };
    d.error(start..start, problem.message, problem.hint);
}

/// What every task is checked against.
struct Scope<'a> {
    dag_id: &'a str,
    defaults: &'a Defaults<'a>,
    dir: &'a Path,
    checker: &'a Checker,
    backends: &'a dyn Backends,
    notifiers: &'a [String],
    /// The DAG's own task notifiers (for every task) and [defaults]' (for
    /// tasks that name none).
    notify: (&'a Notify, &'a Notify),
}

/// Checked notifier names for a task's events; `None` where not written.
#[derive(Debug, Default)]
struct Notify {
    on_failure: Option<Vec<String>>,
    on_retry: Option<Vec<String>>,
    on_success: Option<Vec<String>>,
}

fn check_notify(n: &NotifyFile, known: &[String], d: &mut Diags) -> Notify {
    let mut check = |names: &Option<Vec<Spanned<String>>>| names.as_ref().map(|v| check_notifiers(v, known, d));
    Notify {
        on_failure: check(&n.on_failure),
        on_retry: check(&n.on_retry),
        on_success: check(&n.on_success),
    }
}

/// The names that are notifiers of the config file; each other is an error
/// at its place.
fn check_notifiers(names: &[Spanned<String>], known: &[String], d: &mut Diags) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in names {
        if known.contains(name.get_ref()) {
            if !out.contains(name.get_ref()) {
                out.push(name.get_ref().clone());
            }
            continue;
        }
        let names: Vec<&str> = known.iter().map(String::as_str).collect();
        let hint = if names.is_empty() {
            "there are no notifiers: define one as a [notifiers.NAME] table in drover's config file".to_string()
        } else {
            format!(
                "{} (notifiers are the [notifiers.NAME] tables of drover's config file)",
                suggest(name.get_ref(), &names, "known notifiers")
            )
        };
        d.error(name.span(), format!("unknown notifier \"{}\"", name.get_ref()), Some(hint));
    }
    out
}

/// A task's notifiers for one event: its own, else [defaults]', plus the
/// DAG's (which apply to every task).
fn merge_notify(own: Option<Vec<String>>, defaults: &Option<Vec<String>>, dag: &Option<Vec<String>>) -> Vec<String> {
    let mut out = own.or_else(|| defaults.clone()).unwrap_or_default();
    for n in dag.iter().flatten() {
        if !out.contains(n) {
            out.push(n.clone());
        }
    }
    out
}

fn check_task(t: &TaskFile, scope: &Scope, d: &mut Diags) -> Option<Task> {
    let (defaults, backends) = (scope.defaults, scope.backends);
    let id = match &t.id {
        None => {
            d.error(t.span.clone(), "task is missing required key \"id\"", None);
            None
        }
        Some(id) => check_id(id, "task", d).then(|| id.get_ref().clone()),
    };
    let task_id = id.clone().unwrap_or_default();
    let label = t.id.as_ref().map_or_else(
        || "a task".to_string(),
        |id| format!("task \"{}\"", id.get_ref()),
    );
    let s: &TaskSettings = &t.settings;
    let retry_delay = match &s.retry_delay {
        Some(v) => duration(v, "retry_delay", d),
        None => Some(defaults.retry_delay.unwrap_or(DEFAULT_RETRY_DELAY)),
    };
    let max_retry_delay = match &s.max_retry_delay {
        Some(v) => duration(v, "max_retry_delay", d),
        None => Some(defaults.max_retry_delay.unwrap_or(DEFAULT_MAX_RETRY_DELAY)),
    };
    // Outer `None`: the task's own timeout did not parse.
    let timeout = match &s.timeout {
        Some(v) => duration(v, "timeout", d).map(Some),
        None => Some(defaults.timeout),
    };
    let start_timeout = match &s.start_timeout {
        Some(v) => duration(v, "start_timeout", d).map(Some),
        None => Some(defaults.start_timeout),
    };

    let backend = s
        .backend
        .as_ref()
        .or(defaults.file.settings.backend.as_ref());
    let names = backends.names();
    let modes = match backend {
        None => {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            d.error(
                t.span.clone(),
                format!("{label} has no backend"),
                Some(format!(
                    "set `backend` on the task or in [defaults]; {}",
                    list_or_none(&names, "known backends")
                )),
            );
            None
        }
        Some(b) => match backends.deploy_modes(b.get_ref()) {
            Some(modes) => Some(modes),
            None => {
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                d.error(
                    b.span(),
                    format!("unknown backend \"{}\"", b.get_ref()),
                    Some(suggest(b.get_ref(), &names, "known backends")),
                );
                None
            }
        },
    };

    let app = match &t.application {
        None => {
            d.error(
                t.span.clone(),
                format!("{label} has no application"),
                Some("add a [tasks.application] table with at least `resource`".into()),
            );
            None
        }
        Some(app) => check_app(app, &task_id, &label, modes.as_deref(), scope, d),
    };
    if let (Some(app_file), Some(app), Some(backend), Some(modes)) =
        (&t.application, &app, backend, &modes)
    {
        let problems = backends.check_application(backend.get_ref(), app);
        if modes.contains(&app.deploy_mode) {
            for problem in problems {
                let span = app_field_span(app_file, defaults.file, &problem.field);
                let hint = (!problem.hint.is_empty()).then_some(problem.hint);
                d.error(span, problem.message, hint);
            }
        } else {
            // Unsupported: the plugin's own reason when it gives one (e.g. a
            // serverless service decides where the driver runs), else the list.
            let span = app_field_span(app_file, defaults.file, "deploy_mode");
            let supported: Vec<&str> = modes.iter().map(|m| m.as_str()).collect();
            let generic = format!(
                "the backend of {label} does not support deploy mode \"{}\"",
                app.deploy_mode
            );
            match problems.into_iter().find(|p| p.field == "deploy_mode") {
                Some(p) => d.error(
                    span,
                    format!("{generic}: {}", p.message),
                    Some(if p.hint.is_empty() { format!("supported: {}", supported.join(", ")) } else { p.hint }),
                ),
                None => d.error(span, generic, Some(format!("supported: {}", supported.join(", ")))),
            }
        }
    }
    let trigger_rule = check_trigger_rule(
        s.trigger_rule.as_ref().or(defaults.file.settings.trigger_rule.as_ref()),
        &label,
        d,
    );
    let weight_rule = check_weight_rule(
        s.weight_rule.as_ref().or(defaults.file.settings.weight_rule.as_ref()),
        &label,
        d,
    );
    let pool = check_pool(s.pool.as_ref().or(defaults.file.settings.pool.as_ref()), d);
    let pool_slots = match s.pool_slots.as_ref().or(defaults.file.settings.pool_slots.as_ref()) {
        Some(n) if *n.get_ref() == 0 => {
            d.error(n.span(), "pool_slots must be at least 1", None);
            None
        }
        n => Some(n.map_or(1, |n| *n.get_ref())),
    };
    let own = check_notify(&s.notify, scope.notifiers, d);
    let (dag_notify, defaults_notify) = scope.notify;
    let on_failure = merge_notify(own.on_failure, &defaults_notify.on_failure, &dag_notify.on_failure);
    let on_retry = merge_notify(own.on_retry, &defaults_notify.on_retry, &dag_notify.on_retry);
    let on_success = merge_notify(own.on_success, &defaults_notify.on_success, &dag_notify.on_success);
    let mut depends_on: Vec<String> = Vec::new();
    for dep in &t.depends_on {
        if !depends_on.contains(dep.get_ref()) {
            depends_on.push(dep.get_ref().clone());
        }
    }
    let backoff = s
        .retry_exponential_backoff
        .as_ref()
        .or(defaults.file.settings.retry_exponential_backoff.as_ref())
        .is_some_and(|b| *b.get_ref());
    Some(Task {
        id: id?,
        backend: backend?.get_ref().clone(),
        application: app?,
        depends_on,
        trigger_rule: trigger_rule?,
        depends_on_past: s
            .depends_on_past
            .as_ref()
            .or(defaults.file.settings.depends_on_past.as_ref())
            .is_some_and(|b| *b.get_ref()),
        pool: pool?,
        pool_slots: pool_slots?,
        priority_weight: s
            .priority_weight
            .as_ref()
            .or(defaults.file.settings.priority_weight.as_ref())
            .map_or(1, |w| *w.get_ref()),
        weight_rule: weight_rule?,
        effective_priority: 0, // needs the whole graph: set once it is ordered
        retries: s
            .retries
            .as_ref()
            .or(defaults.file.settings.retries.as_ref())
            .map_or(0, |r| *r.get_ref()),
        retry_delay: retry_delay?,
        retry_exponential_backoff: backoff,
        retry_jitter: s
            .retry_jitter
            .as_ref()
            .or(defaults.file.settings.retry_jitter.as_ref())
            .map_or(backoff, |b| *b.get_ref() && backoff),
        max_retry_delay: max_retry_delay?,
        timeout: timeout?,
        start_timeout: start_timeout?,
        on_failure,
        on_retry,
        on_success,
    })
}

/// A task's trigger rule by Airflow's name; all_success when none is given.
fn check_trigger_rule(rule: Option<&Spanned<String>>, label: &str, d: &mut Diags) -> Option<TriggerRule> {
    let Some(rule) = rule else { return Some(TriggerRule::default()) };
    let name = rule.get_ref().trim();
    if let Some(r) = TriggerRule::from_name(name) {
        return Some(r);
    }
    let names: Vec<&str> = TriggerRule::ALL.iter().map(|r| r.as_str()).collect();
    d.error(
        rule.span(),
        format!("unknown trigger rule \"{name}\" in {label}"),
        Some(suggest(name, &names, "trigger rules")),
    );
    None
}

/// A task's weight rule by Airflow's name; downstream when none is given.
fn check_weight_rule(rule: Option<&Spanned<String>>, label: &str, d: &mut Diags) -> Option<WeightRule> {
    let Some(rule) = rule else { return Some(WeightRule::default()) };
    let name = rule.get_ref().trim();
    if let Some(r) = WeightRule::from_name(name) {
        return Some(r);
    }
    let names: Vec<&str> = WeightRule::ALL.iter().map(|r| r.as_str()).collect();
    d.error(
        rule.span(),
        format!("unknown weight rule \"{name}\" in {label}"),
        Some(suggest(name, &names, "weight rules")),
    );
    None
}

/// A task's pool; default_pool when none is given. Whether the pool exists is
/// the scheduler's to say: pools are in drover's config file.
fn check_pool(pool: Option<&Spanned<String>>, d: &mut Diags) -> Option<String> {
    let Some(pool) = pool else { return Some(DEFAULT_POOL.to_string()) };
    let name = pool.get_ref();
    if is_id(name) {
        return Some(name.clone());
    }
    d.error(
        pool.span(),
        format!("invalid pool name \"{name}\""),
        Some("pool names use only letters, digits, '_', '.' and '-'".into()),
    );
    None
}

fn list_or_none(names: &[&str], what: &str) -> String {
    if names.is_empty() {
        format!("there are no {what}")
    } else {
        format!("{what}: {}", names.join(", "))
    }
}

fn check_app(
    app: &AppFile,
    task_id: &str,
    label: &str,
    modes: Option<&[DeployMode]>,
    scope: &Scope,
    d: &mut Diags,
) -> Option<ApplicationTemplate> {
    let (dag_id, defaults, dir) = (scope.dag_id, scope.defaults, scope.dir);
    let mut templates: Vec<&Spanned<String>> = Vec::new();
    templates.extend(&app.name);
    templates.extend(&app.resource);
    templates.extend(&app.main_class);
    templates.extend(&app.args);
    templates.extend(app.conf.iter().map(|(_, v)| v));
    templates.extend(&app.jars);
    templates.extend(&app.files);
    templates.extend(&app.py_files);
    templates.extend(app.env.iter().map(|(_, v)| v));
    templates.extend(&app.proxy_user);
    let f = &app.flags;
    templates.extend(&f.archives);
    templates.extend(&f.packages);
    templates.extend(&f.repositories);
    templates.extend(&f.exclude_packages);
    templates.extend(&f.principal);
    templates.extend(&f.keytab);
    templates.extend(&f.driver_java_options);
    templates.extend(&f.driver_class_path);
    templates.extend(&f.queue);
    for s in templates {
        check_template(s, task_id, scope.checker, d);
    }

    if app.resource.is_none() {
        d.error(
            app.span.clone(),
            format!("the application of {label} is missing required key \"resource\""),
            Some("set `resource` to the main jar, .py script or executable".into()),
        );
    }
    let explicit_mode = match &app.deploy_mode {
        Some(m) => deploy_mode(m, d).map(|mode| (mode, Some(m))),
        None => defaults
            .deploy_mode
            .map(|mode| (mode, defaults.file.deploy_mode.as_ref())),
    };
    // A mode the backend does not support is reported by `check_task`, which
    // can ask the backend's plugin why.
    let mode = match (explicit_mode, modes) {
        (Some((mode, _)), _) => mode,
        // Unset: client when the backend can, else whatever it can.
        (None, Some(modes)) if !modes.contains(&DeployMode::Client) => {
            modes.first().copied().unwrap_or(DeployMode::Client)
        }
        (None, _) => DeployMode::Client,
    };
    if app
        .deploy_mode
        .as_ref()
        .is_some_and(|m| m.get_ref().parse::<DeployMode>().is_err())
    {
        return None;
    }

    let mut conf: BTreeMap<String, String> = defaults
        .file
        .conf
        .iter()
        .map(|(k, v)| (k.get_ref().clone(), v.get_ref().clone()))
        .collect();
    conf.extend(
        app.conf
            .iter()
            .map(|(k, v)| (k.get_ref().clone(), v.get_ref().clone())),
    );
    // spark-submit's flags become the properties spark-submit sets for them;
    // the same property written in `conf` too is refused rather than one of
    // the two silently winning.
    for flag in flags::properties(&app.flags, label, |p| resolve_path(p, dir), d) {
        let written = app
            .conf
            .iter()
            .map(|(k, _)| (k, "conf"))
            .chain(defaults.file.conf.iter().map(|(k, _)| (k, "[defaults] conf")))
            .find(|(k, _)| k.get_ref() == flag.key);
        if let Some((k, table)) = written {
            d.error(
                flag.span.clone(),
                format!(
                    "{label} sets both \"{}\" and {table} key \"{}\", which is the same Spark property",
                    flag.field, flag.key
                ),
                Some(format!(
                    "keep one: remove \"{}\" from {table} (line {}) or remove \"{}\"",
                    flag.key,
                    d.line_of(k.span().start),
                    flag.field
                )),
            );
        }
        conf.insert(flag.key.to_string(), flag.value);
    }
    let paths = |items: &[Spanned<String>]| {
        items
            .iter()
            .map(|s| resolve_path(s.get_ref(), dir))
            .collect::<Vec<_>>()
    };
    let driver = resources(app.driver.as_ref(), d);
    let executor = resources(app.executor.as_ref(), d);
    Some(ApplicationTemplate(Application {
        name: app
            .name
            .as_ref()
            .map_or_else(|| format!("{dag_id}.{task_id}"), |n| n.get_ref().clone()),
        resource: resolve_path(app.resource.as_ref()?.get_ref(), dir),
        main_class: app.main_class.as_ref().map(|m| m.get_ref().clone()),
        args: app.args.iter().map(|a| a.get_ref().clone()).collect(),
        conf,
        deploy_mode: mode,
        driver,
        executor,
        jars: paths(&app.jars),
        files: paths(&app.files),
        py_files: paths(&app.py_files),
        env: app
            .env
            .iter()
            .map(|(k, v)| (k.get_ref().clone(), v.get_ref().clone()))
            .collect(),
        proxy_user: app.proxy_user.as_ref().map(|u| u.get_ref().clone()),
    }))
}

/// Where a plugin's `field` is written: the value of that key in the task's application
/// (or in `[defaults]` when inherited from there), else the application table itself.
fn app_field_span(app: &AppFile, defaults: &DefaultsFile, field: &str) -> Span {
    let mut spans: HashMap<String, Span> = HashMap::new();
    for (key, span) in flags::property_spans(&app.flags) {
        spans.insert(format!("conf.{key}"), span);
    }
    let mut put = |key: String, s: Option<&Spanned<String>>| {
        if let Some(s) = s {
            spans.entry(key).or_insert(s.span());
        }
    };
    put("name".into(), app.name.as_ref());
    put("resource".into(), app.resource.as_ref());
    put("main_class".into(), app.main_class.as_ref());
    put("proxy_user".into(), app.proxy_user.as_ref());
    put(
        "deploy_mode".into(),
        app.deploy_mode.as_ref().or(defaults.deploy_mode.as_ref()),
    );
    for (key, items) in [
        ("args", &app.args),
        ("jars", &app.jars),
        ("files", &app.files),
        ("py_files", &app.py_files),
    ] {
        put(key.into(), items.first());
        for (i, item) in items.iter().enumerate() {
            put(format!("{key}[{i}]"), Some(item));
        }
    }
    for (key, entries) in [
        ("conf", &app.conf),
        ("conf", &defaults.conf),
        ("env", &app.env),
    ] {
        for (k, v) in entries {
            put(format!("{key}.{}", k.get_ref()), Some(v));
        }
    }
    for (key, r) in [("driver", &app.driver), ("executor", &app.executor)] {
        if let Some(r) = r {
            spans.insert(key.into(), r.span.clone());
            if let Some(m) = &r.memory {
                spans.insert(format!("{key}.memory"), m.span());
            }
            for (sub, v) in [("cores", &r.cores), ("instances", &r.instances)] {
                if let Some(v) = v {
                    spans.insert(format!("{key}.{sub}"), v.span());
                }
            }
        }
    }
    let mut field = field;
    loop {
        if let Some(span) = spans.get(field) {
            return span.clone();
        }
        match field.rfind(['.', '[']) {
            Some(i) => field = &field[..i],
            None => return app.span.clone(),
        }
    }
}

fn absolute_dir(path: &Path) -> PathBuf {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    // `absolute` keeps "./"; drop it so paths read cleanly.
    dir.components().collect()
}

/// Relative local paths resolve against the DAG file's directory; URIs stay as written,
/// except relative `file:` ones. Strings starting with a template are left to the template.
fn resolve_path(p: &str, dir: &Path) -> String {
    if p.starts_with('{') || p.starts_with('/') {
        return p.to_string();
    }
    if let Some(rest) = p.strip_prefix("file:") {
        return if rest.starts_with('/') {
            p.to_string()
        } else {
            format!("file:{}", dir.join(rest).display())
        };
    }
    let has_scheme = p.split_once(':').is_some_and(|(scheme, _)| {
        scheme.len() > 1
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'))
    });
    if has_scheme {
        p.to_string()
    } else {
        dir.join(p).display().to_string()
    }
}

/// Dependency checks and the topological order (indices into `tasks`), `None` if the graph
/// is broken.
fn check_graph(tasks: &[TaskFile], d: &mut Diags) -> Option<Vec<usize>> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut broken = false;
    for (i, t) in tasks.iter().enumerate() {
        let Some(id) = &t.id else {
            broken = true;
            continue;
        };
        if let Some(&first) = index.get(id.get_ref().as_str()) {
            let line = tasks[first]
                .id
                .as_ref()
                .map_or(0, |f| d.line_of(f.span().start));
            d.error(
                id.span(),
                format!("duplicate task id \"{}\"", id.get_ref()),
                Some(format!("first defined on line {line}")),
            );
            broken = true;
        } else {
            index.insert(id.get_ref(), i);
        }
    }
    let names: Vec<&str> = tasks
        .iter()
        .filter_map(|t| t.id.as_ref().map(|id| id.get_ref().as_str()))
        .collect();
    // upstream[i]: (task index, span of the depends_on entry naming it)
    let mut upstream: Vec<Vec<(usize, Span)>> = vec![Vec::new(); tasks.len()];
    for (i, t) in tasks.iter().enumerate() {
        let me = t.id.as_ref().map(|id| id.get_ref().as_str());
        for dep in &t.depends_on {
            if Some(dep.get_ref().as_str()) == me {
                d.error(
                    dep.span(),
                    format!("task \"{}\" depends on itself", dep.get_ref()),
                    None,
                );
                broken = true;
            } else if let Some(&j) = index.get(dep.get_ref().as_str()) {
                if !upstream[i].iter().any(|(k, _)| *k == j) {
                    upstream[i].push((j, dep.span()));
                }
            } else {
                d.error(
                    dep.span(),
                    format!(
                        "task \"{}\" depends on unknown task \"{}\"",
                        me.unwrap_or("?"),
                        dep.get_ref()
                    ),
                    Some(suggest(dep.get_ref(), &names, "tasks")),
                );
                broken = true;
            }
        }
    }
    // Only first definitions take part in the graph.
    let live: Vec<bool> = tasks
        .iter()
        .enumerate()
        .map(|(i, t)| {
            t.id.as_ref()
                .is_some_and(|id| index.get(id.get_ref().as_str()) == Some(&i))
        })
        .collect();
    let mut downstream: Vec<Vec<usize>> = vec![Vec::new(); tasks.len()];
    for (i, ups) in upstream.iter().enumerate().filter(|(i, _)| live[*i]) {
        for (j, _) in ups {
            downstream[*j].push(i);
        }
    }
    for cycle in find_cycles(&downstream, &live) {
        let name = |i: usize| tasks[i].id.as_ref().map_or("?", |id| id.get_ref().as_str());
        let path: Vec<&str> = cycle
            .iter()
            .map(|&i| name(i))
            .chain([name(cycle[0])])
            .collect();
        // Point at the second task's depends_on entry naming the first.
        let (from, to) = (cycle[0], cycle[1 % cycle.len()]);
        let span = upstream[to]
            .iter()
            .find(|(j, _)| *j == from)
            .map_or(tasks[to].span.clone(), |(_, s)| s.clone());
        d.error(
            span,
            format!("cycle: {}", path.join(" -> ")),
            Some("\"a -> b\" means b depends on a; remove one of these dependencies".into()),
        );
        broken = true;
    }
    if broken {
        return None;
    }
    // Kahn's algorithm, always taking the earliest ready task in file order.
    let mut waiting: Vec<usize> = upstream.iter().map(Vec::len).collect();
    let mut ready: BTreeSet<usize> = (0..tasks.len()).filter(|&i| waiting[i] == 0).collect();
    let mut order = Vec::with_capacity(tasks.len());
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &j in &downstream[i] {
            waiting[j] -= 1;
            if waiting[j] == 0 {
                ready.insert(j);
            }
        }
    }
    (order.len() == tasks.len()).then_some(order)
}

/// One cycle per back edge found by a depth-first walk, each rotated to start at its earliest
/// task in file order, each reported once.
fn find_cycles(downstream: &[Vec<usize>], live: &[bool]) -> Vec<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    fn visit(
        i: usize,
        g: &[Vec<usize>],
        marks: &mut [Mark],
        stack: &mut Vec<usize>,
        out: &mut Vec<Vec<usize>>,
    ) {
        marks[i] = Mark::Active;
        stack.push(i);
        for &j in &g[i] {
            match marks[j] {
                Mark::New => visit(j, g, marks, stack, out),
                Mark::Active => {
                    let start = stack.iter().position(|&k| k == j).unwrap_or(0);
                    let mut cycle = stack[start..].to_vec();
                    let min = cycle
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, k)| **k)
                        .map_or(0, |(p, _)| p);
                    cycle.rotate_left(min);
                    if !out.contains(&cycle) {
                        out.push(cycle);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks[i] = Mark::Done;
    }
    let mut marks = vec![Mark::New; downstream.len()];
    let mut out = Vec::new();
    for i in 0..downstream.len() {
        if live[i] && marks[i] == Mark::New {
            visit(i, downstream, &mut marks, &mut Vec::new(), &mut out);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_accepts_spark_units_and_bare_mib() {
        assert_eq!(parse_memory("512m"), Ok(512));
        assert_eq!(parse_memory("2g"), Ok(2048));
        assert_eq!(parse_memory("2GB"), Ok(2048));
        assert_eq!(parse_memory("2048"), Ok(2048));
        assert_eq!(parse_memory("1t"), Ok(1024 * 1024));
        assert!(parse_memory("lots").is_err());
        assert!(parse_memory("1.5g").is_err());
        assert!(parse_memory("0").is_err());
    }

    #[test]
    fn resolves_relative_paths_and_keeps_uris() {
        let dir = Path::new("/dags");
        assert_eq!(resolve_path("apps/x.py", dir), "/dags/apps/x.py");
        assert_eq!(resolve_path("/abs/x.jar", dir), "/abs/x.jar");
        assert_eq!(resolve_path("s3://bucket/x.jar", dir), "s3://bucket/x.jar");
        assert_eq!(resolve_path("local:/opt/x.jar", dir), "local:/opt/x.jar");
        assert_eq!(
            resolve_path("file:apps/x.jar", dir),
            "file:/dags/apps/x.jar"
        );
        assert_eq!(resolve_path("file:///abs/x.jar", dir), "file:///abs/x.jar");
        assert_eq!(resolve_path("{{ params.jar }}", dir), "{{ params.jar }}");
    }
}

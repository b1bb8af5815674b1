//! The checked DAG: what the scheduler, API and CLI work with.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::application::ApplicationTemplate;
use crate::params::{ParamError, ParamSpec};
use crate::priority::WeightRule;
use crate::schedule::Schedule;
use crate::trigger::TriggerRule;

/// The pool of a task that names none (Airflow's name). Its size is drover's
/// config file's to set.
pub const DEFAULT_POOL: &str = "default_pool";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    pub backend: String,
    pub application: ApplicationTemplate,
    pub depends_on: Vec<String>,
    /// When the task runs given how its upstream ended (Airflow's rules).
    #[serde(default, skip_serializing_if = "TriggerRule::is_default")]
    pub trigger_rule: TriggerRule,
    /// The task starts only when its own instance in the DAG's previous run
    /// (by logical date) succeeded or was skipped, or there is no such
    /// instance (Airflow's `depends_on_past`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub depends_on_past: bool,
    /// The pool whose slots the task takes while it runs; one waiting for
    /// a slot stays queued.
    #[serde(default = "default_pool", skip_serializing_if = "is_default_pool")]
    pub pool: String,
    /// How many of the pool's slots the task takes (at least 1).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub pool_slots: u32,
    /// The task's own weight (may be negative); `weight_rule` adds its
    /// relatives' into `effective_priority`.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub priority_weight: i32,
    /// Whose weights `effective_priority` adds to the task's own: its
    /// descendants', its ancestors' or none (Airflow's rules).
    #[serde(default, skip_serializing_if = "WeightRule::is_default")]
    pub weight_rule: WeightRule,
    /// The order among tasks that could start at once: higher first (Airflow's
    /// `priority_weight_total`). Worked out from the graph when the DAG is
    /// validated; derived, so not serialized (0 in a task read back from JSON).
    #[serde(skip)]
    pub effective_priority: i64,
    pub retries: u32,
    #[serde(with = "duration_text")]
    pub retry_delay: Duration,
    pub retry_exponential_backoff: bool,
    /// With backoff: each retry waits somewhere between its backed-off delay
    /// and twice that (capped), so tasks that failed together do not retry in
    /// lockstep. On by default with backoff, as in Airflow.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retry_jitter: bool,
    #[serde(with = "duration_text")]
    pub max_retry_delay: Duration,
    #[serde(with = "optional_duration_text")]
    pub timeout: Option<Duration>,
    /// How long a driver may stay submitted or queued before it counts as
    /// stuck (e.g. no worker can fit it) and is killed.
    #[serde(with = "optional_duration_text", default)]
    pub start_timeout: Option<Duration>,
    /// Notifiers (names from the config file) told when the task ends
    /// failed, when a try fails and another follows, and when it succeeds.
    #[serde(default)]
    pub on_failure: Vec<String>,
    #[serde(default)]
    pub on_retry: Vec<String>,
    #[serde(default)]
    pub on_success: Vec<String>,
}

fn default_pool() -> String {
    DEFAULT_POOL.to_string()
}

fn is_default_pool(pool: &str) -> bool {
    pool == DEFAULT_POOL
}

fn one<T: From<u8>>() -> T {
    T::from(1)
}

fn is_one<T: From<u8> + PartialEq>(n: &T) -> bool {
    *n == T::from(1)
}

impl Task {
    /// Delay before try `next_try` (2 = first retry; 0 and 1 wait nothing) of
    /// the task in run `run_id`. With backoff: `retry_delay * 2^(next_try - 2)`,
    /// capped by `max_retry_delay`; with jitter as well, that plus up to as
    /// much again, picked by a hash of the run, task and try (as Airflow does),
    /// so the same retry always gets the same delay and different ones spread.
    pub fn retry_delay_before(&self, next_try: u32, run_id: &str) -> Duration {
        if next_try < 2 {
            return Duration::ZERO;
        }
        if !self.retry_exponential_backoff {
            return self.retry_delay;
        }
        let Some(delay) = 1u32.checked_shl(next_try - 2).and_then(|factor| self.retry_delay.checked_mul(factor)) else {
            return self.max_retry_delay;
        };
        let millis = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        let delay = if self.retry_jitter && millis > 0 {
            delay.saturating_add(Duration::from_millis(jitter_seed(run_id, &self.id, next_try) % millis))
        } else {
            delay
        };
        delay.min(self.max_retry_delay)
    }
}

#[cfg(test)]
impl Task {
    /// A task of this id with every setting at its default, for tests.
    pub(crate) fn stub(id: &str) -> Task {
        use crate::application::{Application, DeployMode, Resources};
        Task {
            id: id.into(),
            backend: "local".into(),
            application: ApplicationTemplate(Application {
                name: id.into(),
                resource: "/app.jar".into(),
                main_class: None,
                args: vec![],
                conf: BTreeMap::new(),
                deploy_mode: DeployMode::Client,
                driver: Resources::default(),
                executor: Resources::default(),
                jars: vec![],
                files: vec![],
                py_files: vec![],
                env: BTreeMap::new(),
                proxy_user: None,
            }),
            trigger_rule: TriggerRule::AllSuccess,
            depends_on_past: false,
            pool: DEFAULT_POOL.into(),
            pool_slots: 1,
            priority_weight: 1,
            weight_rule: WeightRule::Downstream,
            effective_priority: 0,
            depends_on: vec![],
            retries: 0,
            retry_delay: Duration::from_secs(30),
            retry_exponential_backoff: false,
            retry_jitter: false,
            max_retry_delay: Duration::from_secs(3600),
            timeout: None,
            start_timeout: None,
            on_failure: vec![],
            on_retry: vec![],
            on_success: vec![],
        }
    }
}

/// FNV-1a over the run, task and try: stable across processes and versions,
/// unlike std's hasher, so a restarted drover picks the same delay.
fn jitter_seed(run_id: &str, task_id: &str, try_number: u32) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in run_id.bytes().chain([b'#']).chain(task_id.bytes()).chain([b'#']).chain(try_number.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A validated DAG. Only `parse_str`, `load_file` and `load_dir` make one, so holding a `Dag`
/// means every check in this crate passed.
#[derive(Debug, Clone, Serialize)]
pub struct Dag {
    pub id: String,
    pub file: PathBuf,
    pub description: Option<String>,
    pub schedule: Schedule,
    #[serde(serialize_with = "tz_name")]
    pub timezone: Tz,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    pub catchup: bool,
    pub max_active_runs: u32,
    /// A run still going this long after it started is failed: its running
    /// drivers killed, what had not started skipped (Airflow's `dagrun_timeout`).
    #[serde(with = "optional_duration_text", default, skip_serializing_if = "Option::is_none")]
    pub dagrun_timeout: Option<Duration>,
    /// How many of the DAG's tasks may run at once, across all its runs
    /// (Airflow's `max_active_tasks`); none: no cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_active_tasks: Option<u32>,
    pub tags: Vec<String>,
    pub params: BTreeMap<String, ParamSpec>,
    /// Topologically ordered; ties keep file order.
    pub tasks: Vec<Task>,
    /// Notifiers told when a run ends failed, or successful.
    pub on_run_failure: Vec<String>,
    pub on_run_success: Vec<String>,
    /// Hex SHA-256 of the file's bytes, to tell whether a DAG changed.
    pub source_hash: String,
    /// The file's text, kept with each run so a run finishes with the
    /// definition it started with, even across a restart.
    #[serde(skip)]
    pub source: String,
    /// Where the id is written, for errors about this DAG as a whole (duplicate ids).
    /// Private, which also keeps `Dag` from being built outside this crate.
    #[serde(skip)]
    pub(crate) id_position: (usize, usize),
}

impl Dag {
    pub fn task(&self, id: &str) -> Option<&Task> {
        self.tasks.iter().find(|t| t.id == id)
    }

    /// Tasks that depend directly on `id`, in topological order.
    pub fn downstream(&self, id: &str) -> Vec<&str> {
        self.tasks
            .iter()
            .filter(|t| t.depends_on.iter().any(|d| d == id))
            .map(|t| t.id.as_str())
            .collect()
    }

    /// Checks a trigger's conf against the declared params (type, enum, bounds, required) and
    /// returns the resolved params: defaults overlaid by conf values for declared params.
    /// Undeclared conf keys do not become params; templates reach them through `conf`.
    /// On failure, every problem is returned, each naming its param.
    pub fn resolve_params(
        &self,
        conf: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<serde_json::Map<String, serde_json::Value>, Vec<ParamError>> {
        let mut resolved = serde_json::Map::new();
        let mut errors = Vec::new();
        for (name, spec) in &self.params {
            match conf.get(name) {
                Some(value) => {
                    let problems = spec.problems(value);
                    if problems.is_empty() {
                        resolved.insert(name.clone(), value.clone());
                    }
                    errors.extend(problems.into_iter().map(|message| ParamError {
                        field: name.clone(),
                        message,
                    }));
                }
                None if spec.required => errors.push(ParamError {
                    field: name.clone(),
                    message: "is required but missing from the trigger's conf".to_string(),
                }),
                None => {
                    if let Some(default) = &spec.default {
                        resolved.insert(name.clone(), default.clone());
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(resolved)
        } else {
            Err(errors)
        }
    }
}

fn tz_name<S: serde::Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(tz.name())
}

/// Durations as humantime text ("1m 30s"), readable in the API and in stored JSON.
mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_duration(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

mod optional_duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.collect_str(&humantime::format_duration(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| humantime::parse_duration(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(delay_secs: u64, backoff: bool, max_secs: u64) -> Task {
        Task {
            retries: 5,
            retry_delay: Duration::from_secs(delay_secs),
            retry_exponential_backoff: backoff,
            max_retry_delay: Duration::from_secs(max_secs),
            ..Task::stub("t")
        }
    }

    #[test]
    fn retry_delay_is_constant_without_backoff() {
        let t = task(5, false, 60);
        assert_eq!(t.retry_delay_before(2, "r"), Duration::from_secs(5));
        assert_eq!(t.retry_delay_before(6, "r"), Duration::from_secs(5));
    }

    #[test]
    fn retry_delay_doubles_with_backoff_from_the_first_retry() {
        let t = task(5, true, 3600);
        assert_eq!(t.retry_delay_before(2, "r"), Duration::from_secs(5));
        assert_eq!(t.retry_delay_before(3, "r"), Duration::from_secs(10));
        assert_eq!(t.retry_delay_before(4, "r"), Duration::from_secs(20));
    }

    #[test]
    fn retry_delay_with_backoff_is_capped_by_max_retry_delay() {
        let t = task(5, true, 30);
        assert_eq!(t.retry_delay_before(5, "r"), Duration::from_secs(30));
        // 2^200 overflows every integer type; the cap still applies.
        assert_eq!(t.retry_delay_before(200, "r"), Duration::from_secs(30));
    }

    #[test]
    fn first_try_waits_nothing() {
        assert_eq!(task(5, true, 30).retry_delay_before(1, "r"), Duration::ZERO);
    }

    #[test]
    fn task_round_trips_through_json_with_readable_durations() {
        let t = Task {
            timeout: Some(Duration::from_secs(90)),
            ..task(5, true, 30)
        };
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["retry_delay"], "5s");
        assert_eq!(json["timeout"], "1m 30s");
        assert_eq!(serde_json::from_value::<Task>(json).unwrap(), t);
    }

    #[test]
    fn jitter_spreads_a_backed_off_retry_between_its_delay_and_twice_that() {
        let mut t = task(10, true, 3600);
        t.retry_jitter = true;
        let delays: Vec<Duration> = (0..50).map(|r| t.retry_delay_before(3, &format!("run-{r}"))).collect();
        assert!(delays.iter().all(|d| (Duration::from_secs(20)..Duration::from_secs(40)).contains(d)), "{delays:?}");
        let distinct: std::collections::BTreeSet<_> = delays.iter().collect();
        assert!(distinct.len() > 10, "runs retry apart: {delays:?}");
        assert_eq!(t.retry_delay_before(3, "run-7"), t.retry_delay_before(3, "run-7"), "the same retry, the same delay");
        assert_eq!(task(10, true, 15).retry_delay_before(3, "run-7"), Duration::from_secs(15), "capped");
        let mut capped = task(10, true, 25);
        capped.retry_jitter = true;
        assert!(capped.retry_delay_before(3, "run-7") <= Duration::from_secs(25));
    }
}

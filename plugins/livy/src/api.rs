//! Livy's batch API on the wire: the `POST /batches` body an application
//! stands for, the batch object and list pages Livy answers, what a batch's
//! state means to drover, and driver log bytes cut from Livy's log lines.
//! Pure functions, tested on the host target.

use std::collections::BTreeMap;

use drover_plugin_sdk::{Application, DriverPhase, DriverStatus, LogChunk, PluginError, excerpt};
use serde::{Deserialize, Serialize};

/// The Spark property that carries drover's submission key (besides the
/// batch's `name`, which is what [`find`](crate) searches by).
pub const SUBMISSION_KEY_CONF: &str = "spark.drover.submissionKey";

/// Batches per `GET /batches` page.
pub const PAGE_SIZE: u64 = 100;

/// Log lines per `GET /batches/{id}/log` page.
pub const LOG_PAGE_LINES: u64 = 1000;

/// The backend settings that shape a submission.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOptions {
    pub proxy_user: Option<String>,
    pub queue: Option<String>,
}

/// `POST /batches`: what Livy hands to spark-submit (in cluster mode).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateBatch {
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class_name: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub jars: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub py_files: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub archives: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_memory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_cores: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executor_memory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executor_cores: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_executors: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// drover's submission key: Livy lists batches with their name, so
    /// `find` can match it, and refuses a second live batch of the same name.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_user: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub conf: BTreeMap<String, String>,
}

/// The body for submitting `app` under `key`.
///
/// The batch's `name` is the key, so the application's name travels as
/// `spark.app.name`. Resources become Livy's own fields (spark-submit's
/// `--driver-memory` and friends, which win over the same keys in conf).
/// The driver's environment becomes the properties YARN and Kubernetes read
/// it from in cluster mode, unless the application's conf sets them.
/// `archives` comes from `spark.archives` in the conf, which Livy would
/// otherwise pass on as is.
pub fn create_batch(key: &str, app: &Application, opts: &BatchOptions) -> CreateBatch {
    let mut conf: BTreeMap<String, String> = app.conf.iter().cloned().collect();
    let archives = conf
        .remove("spark.archives")
        .map(|list| split_list(&list))
        .unwrap_or_default();
    conf.entry("spark.app.name".into())
        .or_insert_with(|| app.name.clone());
    for (k, v) in &app.env {
        for prefix in ["spark.yarn.appMasterEnv.", "spark.kubernetes.driverEnv."] {
            conf.entry(format!("{prefix}{k}")).or_insert_with(|| v.clone());
        }
    }
    conf.insert(SUBMISSION_KEY_CONF.into(), key.into());
    let queue = opts
        .queue
        .clone()
        .or_else(|| conf.remove("spark.yarn.queue"));
    CreateBatch {
        file: app.resource.clone(),
        class_name: app
            .main_class
            .clone()
            .filter(|c| !c.trim().is_empty()),
        args: app.args.clone(),
        jars: app.jars.clone(),
        py_files: app.py_files.clone(),
        files: app.files.clone(),
        archives,
        driver_memory: app.driver.memory_mb.map(|mb| format!("{mb}m")),
        driver_cores: app.driver.cores,
        executor_memory: app.executor.memory_mb.map(|mb| format!("{mb}m")),
        executor_cores: app.executor.cores,
        num_executors: app.executor.instances,
        queue,
        name: key.into(),
        // The application's own proxy user wins over the backend's default.
        proxy_user: app.proxy_user.clone().or_else(|| opts.proxy_user.clone()),
        conf,
    }
}

fn split_list(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// A batch object (`POST /batches`, `GET /batches/{id}`, list entries).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Batch {
    pub id: u64,
    #[serde(default)]
    pub name: Option<String>,
    pub state: String,
    #[serde(default)]
    pub app_id: Option<String>,
    #[serde(default)]
    pub app_info: BTreeMap<String, Option<String>>,
    /// The most recent log lines.
    #[serde(default)]
    pub log: Vec<String>,
}

/// `GET /batches?from=&size=`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BatchList {
    #[serde(default)]
    pub from: u64,
    #[serde(default)]
    pub total: u64,
    #[serde(default)]
    pub sessions: Vec<Batch>,
}

impl BatchList {
    /// Where the next page starts, or `None` after the last one.
    pub fn next_from(&self) -> Option<u64> {
        let next = self.from + self.sessions.len() as u64;
        (!self.sessions.is_empty() && next < self.total).then_some(next)
    }
}

/// `GET /batches/{id}/log?from=&size=`: lines, not bytes; `total` is the
/// log's line count (some Livy versions leave it out).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LogPage {
    #[serde(default)]
    pub from: u64,
    #[serde(default)]
    pub total: Option<u64>,
    #[serde(default)]
    pub log: Vec<String>,
}

/// The cluster id drover keeps for a batch: its id, in decimal.
pub fn parse_id(id: &str) -> Result<u64, PluginError> {
    id.trim().parse().map_err(|_| {
        PluginError::Invalid(format!(
            "{id:?} is not a Livy batch id (a non-negative integer)"
        ))
    })
}

/// drover's phase for a Livy batch state.
pub fn phase(state: &str) -> DriverPhase {
    match state {
        "not_started" => DriverPhase::Submitted,
        "starting" => DriverPhase::Queued,
        "idle" | "running" | "busy" | "shutting_down" => DriverPhase::Running,
        "success" => DriverPhase::Succeeded,
        "error" | "dead" => DriverPhase::Failed,
        "killed" => DriverPhase::Killed,
        // "recovering" (the server restarted and is finding its batches
        // again) and states this plugin does not know: ask again later.
        _ => DriverPhase::Unknown,
    }
}

/// Log lines a failed batch's message quotes.
const MESSAGE_LINES: usize = 5;

/// The driver status a batch object stands for. A failed batch's message
/// quotes the end of its log, where spark-submit says why.
pub fn driver_status(batch: &Batch) -> DriverStatus {
    let phase = phase(&batch.state);
    let app = batch.app_id.as_deref().filter(|a| !a.is_empty());
    let message = match phase {
        DriverPhase::Failed => {
            let tail: Vec<&str> = batch
                .log
                .iter()
                .map(|l| l.trim())
                .filter(|l| !l.is_empty() && !is_section_marker(l))
                .collect();
            let tail = &tail[tail.len().saturating_sub(MESSAGE_LINES)..];
            Some(if tail.is_empty() {
                format!("Livy batch {} ended {}", batch.id, batch.state)
            } else {
                format!(
                    "Livy batch {} ended {}: {}",
                    batch.id,
                    batch.state,
                    excerpt(&tail.join("\n"), 1000)
                )
            })
        }
        DriverPhase::Unknown if batch.state != "recovering" => Some(format!(
            "Livy batch {} is in state {:?}, which this plugin does not know",
            batch.id, batch.state
        )),
        _ => app.map(|a| format!("cluster application {a}")),
    };
    let info = |k: &str| {
        batch
            .app_info
            .get(k)
            .cloned()
            .flatten()
            .filter(|u| !u.is_empty())
    };
    DriverStatus {
        phase,
        raw_state: batch.state.clone(),
        attempt: None,
        location: None,
        message,
        tracking_url: info("sparkUiUrl").or_else(|| info("driverLogUrl")),
    }
}

/// Livy's section headers in a batch log ("stdout: ", "stderr: ", "YARN Diagnostics: ").
fn is_section_marker(line: &str) -> bool {
    matches!(
        line.trim_end_matches(':'),
        "stdout" | "stderr" | "YARN Diagnostics"
    )
}

/// The newest batch named `key`, if any.
pub fn find_in(batches: &[Batch], key: &str) -> Option<u64> {
    batches
        .iter()
        .filter(|b| b.name.as_deref() == Some(key))
        .map(|b| b.id)
        .max()
}

/// Whether a refused `POST /batches` says a batch of this name exists
/// (Livy: "Duplicate session name"), i.e. an earlier try with the key went through.
pub fn is_duplicate_name(e: &PluginError) -> bool {
    matches!(e, PluginError::Rejected(m) if m.to_ascii_lowercase().contains("duplicate session name"))
}

/// The log's bytes as drover reads them: each line and a newline.
pub fn log_bytes(lines: &[&String]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(l.as_bytes());
        out.push(b'\n');
    }
    out
}

/// The chunk from byte `offset` of `bytes`, at most `max_bytes` long.
/// `complete` says `bytes` is the whole log (so its size is the total).
pub fn log_chunk(bytes: &[u8], offset: u64, max_bytes: u32, complete: bool) -> LogChunk {
    let len = bytes.len() as u64;
    let from = offset.min(len);
    let to = from.saturating_add(u64::from(max_bytes)).min(len);
    let (f, t) = (from as usize, to as usize);
    LogChunk {
        data: bytes[f..t].to_vec(),
        next_offset: to,
        total: complete.then_some(len),
    }
}

/// The lines of `stream` in a Livy batch log. Livy writes spark-submit's
/// output in sections, `"stdout: "` then `"\nstderr: "` (then `"\nYARN
/// Diagnostics: "` on YARN, counted with stderr); a log without the headers
/// is all stdout.
pub fn stream_lines<'a>(lines: &'a [String], stream: &str) -> Vec<&'a String> {
    let mut current = "stdout";
    let mut out = Vec::new();
    for line in lines {
        match line.trim().trim_end_matches(':') {
            "stdout" => current = "stdout",
            "stderr" | "YARN Diagnostics" => current = "stderr",
            _ if current == stream => out.push(line),
            _ => {}
        }
    }
    out
}

pub fn check_stream(stream: &str) -> Result<(), PluginError> {
    match stream {
        "stdout" | "stderr" => Ok(()),
        other => Err(PluginError::Invalid(format!(
            "log stream must be stdout or stderr, not {other:?}"
        ))),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use drover_plugin_sdk::{DeployMode, Resources};

    /// The SDK's full application, on HDFS and in cluster mode, with an
    /// archive and a file for Livy's fields.
    pub fn app() -> Application {
        Application {
            resource: "hdfs:///jobs/etl.jar".into(),
            conf: vec![
                ("spark.sql.shuffle.partitions".into(), "8".into()),
                ("spark.archives".into(), "env.tar.gz#env, data.zip".into()),
            ],
            deploy_mode: DeployMode::Cluster,
            jars: vec!["hdfs:///libs/a.jar".into()],
            files: vec!["conf.yaml".into()],
            ..drover_plugin_sdk::testing::app()
        }
    }

    fn batch(id: u64, name: Option<&str>, state: &str, log: &[&str]) -> Batch {
        Batch {
            id,
            name: name.map(str::to_string),
            state: state.into(),
            app_id: None,
            app_info: BTreeMap::new(),
            log: log.iter().map(|l| l.to_string()).collect(),
        }
    }

    #[test]
    fn the_post_body_carries_the_application_and_the_key() {
        let opts = BatchOptions {
            proxy_user: Some("etl".into()),
            queue: Some("root.etl".into()),
        };
        let body = serde_json::to_value(create_batch("k-1", &app(), &opts)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "file": "hdfs:///jobs/etl.jar",
                "className": "com.example.Etl",
                "args": ["--day", "2026-01-01"],
                "jars": ["hdfs:///libs/a.jar"],
                "files": ["conf.yaml"],
                "archives": ["env.tar.gz#env", "data.zip"],
                "driverMemory": "1024m",
                "driverCores": 1,
                "executorMemory": "2048m",
                "executorCores": 2,
                "numExecutors": 3,
                "queue": "root.etl",
                "name": "k-1",
                "proxyUser": "etl",
                "conf": {
                    "spark.sql.shuffle.partitions": "8",
                    "spark.app.name": "nightly etl",
                    "spark.yarn.appMasterEnv.TZ": "UTC",
                    "spark.kubernetes.driverEnv.TZ": "UTC",
                    "spark.drover.submissionKey": "k-1",
                },
            })
        );
    }

    #[test]
    fn the_applications_proxy_user_wins_over_the_backends() {
        let opts = BatchOptions { proxy_user: Some("etl".into()), queue: None };
        let mut a = app();
        a.proxy_user = Some("analyst".into());
        let body = serde_json::to_value(create_batch("k-1", &a, &opts)).unwrap();
        assert_eq!(body["proxyUser"], "analyst");
        a.proxy_user = None;
        let body = serde_json::to_value(create_batch("k-1", &a, &opts)).unwrap();
        assert_eq!(body["proxyUser"], "etl", "the backend's setting is the default");
    }

    #[test]
    fn a_minimal_python_batch_leaves_unset_fields_out() {
        let mut a = app();
        a.resource = "local:///app/main.py".into();
        a.main_class = Some("  ".into());
        a.args.clear();
        a.conf = vec![
            ("spark.app.name".into(), "mine".into()),
            ("spark.yarn.queue".into(), "adhoc".into()),
        ];
        a.driver = Resources { memory_mb: None, cores: None, instances: None };
        a.executor = a.driver;
        a.jars.clear();
        a.files.clear();
        a.env.clear();
        a.py_files = vec!["deps.zip".into()];
        let body = serde_json::to_value(create_batch("k-2", &a, &BatchOptions::default())).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "file": "local:///app/main.py",
                "pyFiles": ["deps.zip"],
                "queue": "adhoc",
                "name": "k-2",
                "conf": {"spark.app.name": "mine", "spark.drover.submissionKey": "k-2"},
            })
        );
    }

    #[test]
    fn livy_states_map_onto_drover_phases() {
        let cases = [
            ("not_started", DriverPhase::Submitted),
            ("starting", DriverPhase::Queued),
            ("recovering", DriverPhase::Unknown),
            ("idle", DriverPhase::Running),
            ("running", DriverPhase::Running),
            ("busy", DriverPhase::Running),
            ("shutting_down", DriverPhase::Running),
            ("success", DriverPhase::Succeeded),
            ("error", DriverPhase::Failed),
            ("dead", DriverPhase::Failed),
            ("killed", DriverPhase::Killed),
            ("exploded", DriverPhase::Unknown),
        ];
        for (state, want) in cases {
            assert_eq!(phase(state), want, "{state}");
        }
        for state in ["success", "error", "dead", "killed"] {
            assert!(phase(state).is_terminal(), "{state}");
        }
        for state in ["not_started", "starting", "recovering", "running", "shutting_down"] {
            assert!(!phase(state).is_terminal(), "{state}");
        }
    }

    #[test]
    fn a_batch_object_parses_and_its_status_has_the_links_and_the_reason() {
        let json = r#"{"id": 7, "name": "k-7", "owner": null, "proxyUser": null, "state": "dead",
            "appId": "application_1_0007",
            "appInfo": {"driverLogUrl": "http://nm/logs", "sparkUiUrl": null},
            "log": ["stdout: ", "starting", "\nstderr: ", "Exception in thread \"main\" java.lang.RuntimeException: boom"]}"#;
        let b: Batch = serde_json::from_str(json).unwrap();
        assert_eq!((b.id, b.name.as_deref()), (7, Some("k-7")));
        let st = driver_status(&b);
        assert_eq!(st.phase, DriverPhase::Failed);
        assert_eq!(st.raw_state, "dead");
        assert_eq!(st.tracking_url.as_deref(), Some("http://nm/logs"));
        let msg = st.message.unwrap();
        assert!(msg.starts_with("Livy batch 7 ended dead: starting\n"), "{msg}");
        assert!(msg.ends_with("RuntimeException: boom"), "{msg}");
        assert!(!msg.contains("stderr"), "{msg}");

        let running = driver_status(&Batch {
            app_id: Some("application_1_0008".into()),
            ..batch(8, None, "running", &[])
        });
        assert_eq!(running.message.as_deref(), Some("cluster application application_1_0008"));
        assert_eq!(
            driver_status(&batch(9, None, "error", &[])).message.as_deref(),
            Some("Livy batch 9 ended error")
        );
    }

    #[test]
    fn find_picks_the_newest_batch_with_the_key_as_name() {
        let list: BatchList = serde_json::from_value(serde_json::json!({
            "from": 0, "total": 250,
            "sessions": [
                {"id": 1, "name": "k-1", "state": "dead"},
                {"id": 2, "name": null, "state": "running"},
                {"id": 5, "name": "k-1", "state": "running"},
                {"id": 3, "name": "k-10", "state": "running"}
            ]
        }))
        .unwrap();
        assert_eq!(find_in(&list.sessions, "k-1"), Some(5));
        assert_eq!(find_in(&list.sessions, "k-2"), None);
        assert_eq!(list.next_from(), Some(4));
        let last = BatchList { from: 246, ..list.clone() };
        assert_eq!(last.next_from(), None);
        let empty = BatchList { sessions: vec![], ..list };
        assert_eq!(empty.next_from(), None);
    }

    #[test]
    fn ids_are_decimal_batch_ids() {
        assert_eq!(parse_id("42"), Ok(42));
        assert!(matches!(parse_id("batch-1"), Err(PluginError::Invalid(_))));
        assert!(matches!(parse_id("-1"), Err(PluginError::Invalid(_))));
    }

    #[test]
    fn a_duplicate_name_refusal_is_recognised() {
        assert!(is_duplicate_name(&PluginError::Rejected(
            "http://livy/batches answered HTTP 400: \"Duplicate session name: Some(k-1)\"".into()
        )));
        assert!(!is_duplicate_name(&PluginError::Rejected("no".into())));
        assert!(!is_duplicate_name(&PluginError::Unavailable("duplicate session name".into())));
    }

    #[test]
    fn log_chunks_are_byte_ranges_of_the_lines() {
        let lines: Vec<String> = ["one", "two", "three"].iter().map(|s| s.to_string()).collect();
        let bytes = log_bytes(&lines.iter().collect::<Vec<_>>());
        assert_eq!(bytes, b"one\ntwo\nthree\n");
        let c = log_chunk(&bytes, 0, 6, true);
        assert_eq!((c.data.as_slice(), c.next_offset, c.total), (&b"one\ntw"[..], 6, Some(14)));
        let c = log_chunk(&bytes, 6, 100, false);
        assert_eq!((c.data.as_slice(), c.next_offset, c.total), (&b"o\nthree\n"[..], 14, None));
        // Past the end: nothing, and the offset stays where the log ends.
        let c = log_chunk(&bytes, 50, 10, true);
        assert_eq!((c.data.len(), c.next_offset), (0, 14));
    }

    #[test]
    fn log_pages_parse_with_or_without_a_total() {
        let p: LogPage =
            serde_json::from_str(r#"{"id": 1, "from": 0, "total": 2, "log": ["a", "b"]}"#).unwrap();
        assert_eq!((p.total, p.log.len()), (Some(2), 2));
        let p: LogPage = serde_json::from_str(r#"{"id": 1, "from": 3, "size": 1, "log": ["a"]}"#).unwrap();
        assert_eq!((p.from, p.total), (3, None));
    }

    #[test]
    fn streams_are_the_sections_of_the_log() {
        let lines: Vec<String> = ["stdout: ", "hello", "\nstderr: ", "WARN x", "\nYARN Diagnostics: ", "AM died"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let text = |stream| String::from_utf8(log_bytes(&stream_lines(&lines, stream))).unwrap();
        assert_eq!(text("stdout"), "hello\n");
        assert_eq!(text("stderr"), "WARN x\nAM died\n");
        let plain: Vec<String> = vec!["a".into(), "b".into()];
        assert_eq!(stream_lines(&plain, "stdout").len(), 2);
        assert!(stream_lines(&plain, "stderr").is_empty());
        assert!(check_stream("stderr").is_ok());
        assert!(matches!(check_stream("x"), Err(PluginError::Invalid(_))));
    }
}

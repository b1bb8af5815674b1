//! DAGs and task instances for the rules' tests: real DAG files checked by
//! drover-dag, against a stand-in for the plugin host.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use drover_dag::{AppProblem, ApplicationTemplate, Backends, Dag, DeployMode};
use drover_store::{TaskInstanceRow, TiState};

struct FakeBackends;

impl Backends for FakeBackends {
    fn names(&self) -> Vec<String> {
        vec!["local".into()]
    }
    fn deploy_modes(&self, backend: &str) -> Option<Vec<DeployMode>> {
        (backend == "local").then(|| vec![DeployMode::Client, DeployMode::Cluster])
    }
    fn check_application(&self, _: &str, _: &ApplicationTemplate) -> Vec<AppProblem> {
        Vec::new()
    }
    fn notifiers(&self) -> Vec<String> {
        vec!["ops".into(), "team".into()]
    }
}

/// A DAG from its file's text.
pub(crate) fn dag(text: &str) -> Dag {
    drover_dag::parse_str(Path::new("dags/test.toml"), text, &FakeBackends).unwrap_or_else(|e| panic!("{e}"))
}

/// `id = "t"` plus one task per `(id, depends_on)`, each with `extra` lines.
pub(crate) fn graph(tasks: &[(&str, &[&str])], extra: &str) -> Dag {
    let mut text = String::from("id = \"t\"\n");
    for (id, deps) in tasks {
        let deps: Vec<String> = deps.iter().map(|d| format!("\"{d}\"")).collect();
        text.push_str(&format!(
            "[[tasks]]\nid = \"{id}\"\nbackend = \"local\"\ndepends_on = [{}]\n{extra}\n[tasks.application]\nresource = \"app.jar\"\n",
            deps.join(", ")
        ));
    }
    dag(&text)
}

pub(crate) fn ti(task_id: &str, state: TiState, try_number: i64) -> TaskInstanceRow {
    TaskInstanceRow {
        id: 0,
        run: 1,
        task_id: task_id.into(),
        state,
        try_number,
        max_tries: 1,
        next_try_at: None,
        start_date: None,
        end_date: None,
        queued_reason: None,
        queued_at: None,
    }
}

/// Task instances by task id, all at their first try or before it.
pub(crate) fn tis(states: &[(&str, TiState)]) -> BTreeMap<String, TaskInstanceRow> {
    states
        .iter()
        .map(|(id, s)| {
            let tries = i64::from(*s != TiState::None);
            (id.to_string(), ti(id, *s, tries))
        })
        .collect()
}

pub(crate) fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

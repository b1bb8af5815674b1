//! DAG files: loading them through the backends' plugins, recording them,
//! and noticing when they change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tracing::{info, warn};

use drover_dag::{Dag, LoadError};
use drover_plugin_host::BackendSet;
use drover_store::{DagUpsert, Store};

use crate::msg::Msg;

pub(crate) struct Loaded {
    pub dags: BTreeMap<String, Arc<Dag>>,
    pub errors: Vec<LoadError>,
}

/// Loads every file in `dir`. Plugin validation is synchronous from the DAG
/// crate's side, so it runs on a blocking thread.
pub(crate) async fn load_dir(dir: &Path, backends: &BackendSet, notifiers: &[String]) -> Loaded {
    let dir = dir.to_path_buf();
    let backends = backends.clone();
    let notifiers = notifiers.to_vec();
    let handle = tokio::runtime::Handle::current();
    let loaded = tokio::task::spawn_blocking(move || {
        let catalog = backends.catalog(handle);
        let catalog = drover_dag::WithNotifiers { backends: &catalog, notifiers: &notifiers };
        drover_dag::load_dir(&dir, &catalog)
    })
    .await
    .expect("DAG loading panicked");
    Loaded {
        dags: loaded
            .dags
            .into_iter()
            .map(|d| (d.id.clone(), Arc::new(d)))
            .collect(),
        errors: loaded.errors,
    }
}

/// Parses a stored copy of a DAG file (a run's snapshot).
pub(crate) async fn parse_snapshot(
    file: PathBuf,
    text: String,
    backends: &BackendSet,
    notifiers: &[String],
) -> Result<Dag, LoadError> {
    let backends = backends.clone();
    let notifiers = notifiers.to_vec();
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let catalog = backends.catalog(handle);
        let catalog = drover_dag::WithNotifiers { backends: &catalog, notifiers: &notifiers };
        drover_dag::parse_str(&file, &text, &catalog)
    })
    .await
    .expect("DAG parsing panicked")
}

/// Records the loaded DAGs and the files that failed.
pub(crate) async fn record(store: &Store, loaded: &Loaded) -> drover_store::Result<()> {
    for dag in loaded.dags.values() {
        let schedule = match &dag.schedule {
            drover_dag::Schedule::Manual => None,
            drover_dag::Schedule::Cron { expr, .. } => Some(expr.as_str()),
        };
        store
            .upsert_dag(&DagUpsert {
                dag_id: &dag.id,
                file: &dag.file.display().to_string(),
                source_hash: &dag.source_hash,
                description: dag.description.as_deref(),
                schedule,
            })
            .await?;
    }
    let present: Vec<String> = loaded.dags.keys().cloned().collect();
    store.deactivate_others(&present).await?;
    let errors: Vec<(String, String)> = loaded
        .errors
        .iter()
        .map(|e| (e.file.display().to_string(), e.to_string()))
        .collect();
    for (file, message) in &errors {
        warn!(file = %file, "DAG file has errors:\n{message}");
    }
    store.set_import_errors(&errors).await?;
    info!(dags = loaded.dags.len(), broken = errors.len(), "DAG files loaded");
    Ok(())
}

/// Watches `dir` and sends one `Msg::Reload` per burst of changes.
pub(crate) fn watch(
    dir: &Path,
    tx: mpsc::UnboundedSender<Msg>,
) -> notify::Result<notify::RecommendedWatcher> {
    let (raw_tx, mut raw_rx) = mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res
            && !matches!(ev.kind, notify::EventKind::Access(_))
        {
            let _ = raw_tx.send(());
        }
    })?;
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    tokio::spawn(async move {
        // Editors write files in several steps: wait for a quiet moment.
        const QUIET: Duration = Duration::from_millis(150);
        while raw_rx.recv().await.is_some() {
            loop {
                match tokio::time::timeout(QUIET, raw_rx.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            if tx.send(Msg::Reload).is_err() {
                return;
            }
        }
    });
    Ok(watcher)
}

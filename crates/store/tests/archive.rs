//! The driver-log archive's bookkeeping: a cluster-mode try's log is marked
//! pending in the transaction that ends the try, the store wakes the
//! archiver after that commit, and a done copy is read back with its streams.

#[macro_use]
mod support;
use support::Fixture;

use chrono::{TimeZone, Utc};
use drover_store::*;
use serde_json::json;

/// A run of DAG `d` with task instances `tasks`; their ids.
async fn run_with(store: &Store, run_id: &str, tasks: &[&str]) -> Vec<i64> {
    store
        .upsert_dag(&DagUpsert { dag_id: "d", file: "d.toml", source_hash: "h", description: None, schedule: None })
        .await
        .unwrap();
    let conf = json!({});
    let run = store
        .create_run(&NewRun {
            dag_id: "d",
            run_id,
            run_type: "manual",
            logical_date: Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap(),
            conf: &conf,
            params: &conf,
            dag_hash: "h",
            dag_snapshot: "id = \"d\"",
            tasks: tasks.iter().map(|t| (t.to_string(), 1)).collect(),
            schedule_position: None,
        })
        .await
        .unwrap();
    store.task_instances(run.id).await.unwrap().iter().map(|t| t.id).collect()
}

/// A store with a run of four task instances; their ids.
async fn setup(fx: &Fixture) -> (Store, Vec<i64>) {
    let store = fx.open().await;
    let tis = run_with(&store, "r:1", &["a", "b", "c", "e"]).await;
    (store, tis)
}

/// A try of `ti` in `mode` that ended with its driver in `state`.
async fn ended(store: &Store, ti: i64, key: &str, mode: &str, cluster_id: Option<&str>, state: DriverState) -> i64 {
    let t = store
        .begin_try(&NewTry {
            ti,
            try_number: 1,
            backend: "k8s",
            deploy_mode: mode,
            submission_key: key,
            application: None,
            deadline_at: None,
            message: None,
        })
        .await
        .unwrap();
    let mut u = DriverUpdate::state(state);
    u.cluster_id = cluster_id.map(str::to_string);
    store.update_driver(t.id, &u).await.unwrap();
    let (try_state, ti_state) = match state {
        DriverState::Succeeded => (TryState::Success, TiState::Success),
        _ => (TryState::Failed, TiState::Failed),
    };
    store
        .finish_try(&FinishTry { try_id: t.id, ti, try_state, ti_state, next_try_at: None, message: None })
        .await
        .unwrap();
    t.id
}

both!(only_a_cluster_driver_whose_fate_is_known_leaves_its_log_to_archive);
async fn only_a_cluster_driver_whose_fate_is_known_leaves_its_log_to_archive(fx: Fixture) {
    let (store, tis) = setup(&fx).await;
    let wake = store.archive_added();
    let cluster = ended(&store, tis[0], "k1", "cluster", Some("default/p1"), DriverState::Failed).await;
    // The commit woke the archiver (a permit is kept for a later wait).
    tokio::time::timeout(std::time::Duration::from_secs(1), wake.notified()).await.expect("woken");
    let client = ended(&store, tis[1], "k2", "client", None, DriverState::Succeeded).await;
    // A lost driver's id may name another driver by now.
    let lost = ended(&store, tis[2], "k3", "cluster", Some("driver-7"), DriverState::Lost).await;
    let never = ended(&store, tis[3], "k4", "cluster", None, DriverState::SubmitFailed).await;
    assert_eq!(store.get_try(cluster).await.unwrap().log_archive, Some(LogArchive::Pending));
    for t in [client, lost, never] {
        assert_eq!(store.get_try(t).await.unwrap().log_archive, None, "try {t}");
    }

    let jobs = store.pending_archives(&[], 10).await.unwrap();
    assert_eq!(jobs.len(), 1);
    let j = &jobs[0];
    assert_eq!((j.try_id, j.cluster_id.as_str(), j.backend.as_str()), (cluster, "default/p1", "k8s"));
    assert_eq!((j.dag_id.as_str(), j.run_id.as_str(), j.task_id.as_str(), j.try_number), ("d", "r:1", "a", 1));
    assert!(store.pending_archives(&[cluster], 10).await.unwrap().is_empty(), "a copy under way is skipped");

    let mut streams = ArchivedStreams::new();
    streams.insert(
        "stdout".into(),
        StreamCopy { file: Some("/logs/try-1.stdout.log".into()), kept: 10, total: 30, note_bytes: 50, error: None },
    );
    streams.insert("stderr".into(), StreamCopy { error: Some("unsupported: one log".into()), ..StreamCopy::default() });
    let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
    store.finish_archive(cluster, &streams, at).await.unwrap();
    let t = store.get_try(cluster).await.unwrap();
    assert_eq!(t.log_archive, Some(LogArchive::Done));
    assert_eq!(t.log_archived_at, Some(at));
    assert_eq!(t.log_archive_streams.unwrap().0, streams);
    assert!(store.pending_archives(&[], 10).await.unwrap().is_empty());
}

both!(a_pending_archive_is_found_again_after_reopening_the_file);
async fn a_pending_archive_is_found_again_after_reopening_the_file(fx: Fixture) {
    let id = {
        let store = fx.open().await;
        let ti = run_with(&store, "r", &["a"]).await[0];
        let id = ended(&store, ti, "k", "cluster", Some("driver-1"), DriverState::Succeeded).await;
        store.close().await;
        id
    };
    let store = fx.open().await;
    let jobs = store.pending_archives(&[], 10).await.unwrap();
    assert_eq!(jobs.iter().map(|j| j.try_id).collect::<Vec<_>>(), [id]);
}

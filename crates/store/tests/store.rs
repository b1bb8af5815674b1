//! The store's transitions: each one a single committed transaction that a
//! reopened database reads back as it was.

#[macro_use]
mod support;
use support::Fixture;

use chrono::{TimeZone, Utc};
use drover_store::*;
use serde_json::json;

fn new_run<'a>(dag: &'a str, run_id: &'a str, conf: &'a serde_json::Value, position: Option<chrono::DateTime<Utc>>) -> NewRun<'a> {
    NewRun {
        dag_id: dag,
        run_id,
        run_type: "scheduled",
        logical_date: Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap(),
        conf,
        params: conf,
        dag_hash: "h1",
        dag_snapshot: "id = \"d\"",
        tasks: vec![("a".into(), 2), ("b".into(), 1)],
        schedule_position: position,
    }
}

async fn with_dag(store: &Store) {
    store
        .upsert_dag(&DagUpsert {
            dag_id: "d",
            file: "dags/d.toml",
            source_hash: "h1",
            description: None,
            schedule: Some("@daily"),
        })
        .await
        .unwrap();
}

both!(a_run_is_created_with_all_its_task_instances_and_moves_the_schedule);
async fn a_run_is_created_with_all_its_task_instances_and_moves_the_schedule(fx: Fixture) {
    let store = fx.open().await;
    with_dag(&store).await;
    let at = Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap();
    let conf = json!({});
    let run = store.create_run(&new_run("d", "scheduled__1", &conf, Some(at))).await.unwrap();
    assert_eq!(run.state, RunState::Queued);
    let tis = store.task_instances(run.id).await.unwrap();
    assert_eq!(tis.iter().map(|t| (t.task_id.as_str(), t.max_tries, t.state)).collect::<Vec<_>>(),
        vec![("a", 2, TiState::None), ("b", 1, TiState::None)]);
    assert_eq!(store.get_dag("d").await.unwrap().unwrap().last_scheduled_at, Some(at));
}

both!(creating_the_same_run_twice_is_refused_and_changes_nothing);
async fn creating_the_same_run_twice_is_refused_and_changes_nothing(fx: Fixture) {
    let store = fx.open().await;
    with_dag(&store).await;
    let conf = json!({});
    store.create_run(&new_run("d", "r", &conf, None)).await.unwrap();
    let err = store.create_run(&new_run("d", "r", &conf, None)).await.unwrap_err();
    assert!(matches!(err, StoreError::RunExists { .. }), "{err}");
    assert_eq!(store.count_runs("d").await.unwrap(), 1);
}

both!(a_try_records_its_intent_then_every_driver_change_in_order);
async fn a_try_records_its_intent_then_every_driver_change_in_order(fx: Fixture) {
    let store = fx.open().await;
    with_dag(&store).await;
    let conf = json!({});
    let run = store.create_run(&new_run("d", "r", &conf, None)).await.unwrap();
    let ti = &store.task_instances(run.id).await.unwrap()[0];
    let app = json!({"resource": "x"});
    let t = store
        .begin_try(&NewTry {
            ti: ti.id,
            try_number: 1,
            backend: "local",
            deploy_mode: "cluster",
            submission_key: "key-1",
            application: Some(&app),
            deadline_at: None,
            message: None,
        })
        .await
        .unwrap();
    assert_eq!(t.driver_state, DriverState::Pending);
    assert_eq!(store.task_instances(run.id).await.unwrap()[0].state, TiState::Running);

    let mut submitted = DriverUpdate::state(DriverState::Submitted);
    submitted.cluster_id = Some("driver-1".into());
    assert!(store.update_driver(t.id, &submitted).await.unwrap());
    let mut running = DriverUpdate::state(DriverState::Running);
    running.raw_state = Some("RUNNING".into());
    assert!(store.update_driver(t.id, &running).await.unwrap());
    // The same poll answer again is not a new event.
    assert!(!store.update_driver(t.id, &running).await.unwrap());
    let mut done = DriverUpdate::state(DriverState::Succeeded);
    done.raw_state = Some("FINISHED".into());
    store.update_driver(t.id, &done).await.unwrap();

    let events = store.driver_events(t.id).await.unwrap();
    let states: Vec<_> = events.iter().map(|e| e.state).collect();
    assert_eq!(states, vec![DriverState::Pending, DriverState::Submitted, DriverState::Running, DriverState::Succeeded]);
    assert!(events.windows(2).all(|w| w[0].at <= w[1].at));
    let t = store.get_try(t.id).await.unwrap();
    assert_eq!(t.cluster_id.as_deref(), Some("driver-1"), "a later update without an id keeps it");
    assert_eq!(t.raw_state.as_deref(), Some("FINISHED"));

    store
        .finish_try(&FinishTry { try_id: t.id, ti: ti.id, try_state: TryState::Success, ti_state: TiState::Success, next_try_at: None, message: None })
        .await
        .unwrap();
    assert!(store.open_tries().await.unwrap().is_empty());
    assert_eq!(store.task_instances(run.id).await.unwrap()[0].state, TiState::Success);
}

both!(submission_keys_are_unique_across_tries);
async fn submission_keys_are_unique_across_tries(fx: Fixture) {
    let store = fx.open().await;
    with_dag(&store).await;
    let conf = json!({});
    let run = store.create_run(&new_run("d", "r", &conf, None)).await.unwrap();
    let tis = store.task_instances(run.id).await.unwrap();
    let mk = |ti: i64, n: i64| NewTry {
        ti,
        try_number: n,
        backend: "local",
        deploy_mode: "client",
        submission_key: "same-key",
        application: None,
        deadline_at: None,
        message: None,
    };
    store.begin_try(&mk(tis[0].id, 1)).await.unwrap();
    assert!(store.begin_try(&mk(tis[1].id, 1)).await.is_err(), "a key names one submission only");
}

both!(everything_committed_is_there_after_reopening_the_file);
async fn everything_committed_is_there_after_reopening_the_file(fx: Fixture) {
    let conf = json!({"x": 1});
    let (run_pk, try_id) = {
        let store = fx.open().await;
        with_dag(&store).await;
        let run = store.create_run(&new_run("d", "r", &conf, None)).await.unwrap();
        store.set_run_state(run.id, RunState::Running).await.unwrap();
        let ti = &store.task_instances(run.id).await.unwrap()[0];
        let t = store
            .begin_try(&NewTry { ti: ti.id, try_number: 1, backend: "local", deploy_mode: "cluster", submission_key: "k", application: None, deadline_at: None, message: None })
            .await
            .unwrap();
        let mut u = DriverUpdate::state(DriverState::Running);
        u.cluster_id = Some("driver-7".into());
        store.update_driver(t.id, &u).await.unwrap();
        store.close().await;
        (run.id, t.id)
    };
    let store = fx.open().await;
    let run = store.get_run_by_pk(run_pk).await.unwrap();
    assert_eq!(run.state, RunState::Running);
    assert!(run.start_date.is_some());
    assert_eq!(run.conf.0, conf);
    let open = store.open_tries().await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].id, try_id);
    assert_eq!(open[0].cluster_id.as_deref(), Some("driver-7"), "a restart can re-attach by this id");
}

both!(paused_flag_survives_a_reload_of_the_dag_file);
async fn paused_flag_survives_a_reload_of_the_dag_file(fx: Fixture) {
    let store = fx.open().await;
    with_dag(&store).await;
    store.set_paused("d", true).await.unwrap();
    with_dag(&store).await;
    assert!(store.get_dag("d").await.unwrap().unwrap().is_paused);
    assert!(matches!(store.set_paused("nope", true).await, Err(StoreError::NotFound(_))));
    store.deactivate_others(&[]).await.unwrap();
    assert!(!store.get_dag("d").await.unwrap().unwrap().is_active);
}

both!(concurrent_driver_updates_are_never_lost, "multi_thread");
/// Regression: a deferred transaction that read before writing failed with
/// SQLITE_BUSY when another connection committed first, and a driver's state
/// change was lost. Write transactions now take the lock up front.
async fn concurrent_driver_updates_are_never_lost(fx: Fixture) {
    let store = fx.open().await;
    with_dag(&store).await;
    let conf = json!({});
    let mut tries = Vec::new();
    for r in 0..20 {
        let run_id = format!("r{r}");
        let run = store.create_run(&new_run("d", &run_id, &conf, None)).await.unwrap();
        let ti = store.task_instances(run.id).await.unwrap()[0].id;
        let key = format!("k{r}");
        let t = store
            .begin_try(&NewTry { ti, try_number: 1, backend: "local", deploy_mode: "cluster", submission_key: &key, application: None, deadline_at: None, message: None })
            .await
            .unwrap();
        tries.push(t.id);
    }
    let mut tasks = Vec::new();
    for &id in &tries {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for state in [DriverState::Submitted, DriverState::Running, DriverState::Succeeded] {
                store.update_driver(id, &DriverUpdate::state(state)).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for id in tries {
        let states: Vec<_> = store.driver_events(id).await.unwrap().into_iter().map(|e| e.state).collect();
        assert_eq!(states.len(), 4, "try {id}: {states:?}");
        assert_eq!(store.get_try(id).await.unwrap().driver_state, DriverState::Succeeded);
    }
}

both!(cluster_messages_raw_states_and_errors_are_truncated_when_recorded);
/// Regression: a cluster answering 10 MB messages grew the database by as
/// much per poll and made every try listing megabytes long.
async fn cluster_messages_raw_states_and_errors_are_truncated_when_recorded(fx: Fixture) {
    let store = fx.open().await;
    with_dag(&store).await;
    let conf = json!({});
    let run = store.create_run(&new_run("d", "r", &conf, None)).await.unwrap();
    let ti = &store.task_instances(run.id).await.unwrap()[0];
    // Three-byte characters, so the cut must find a character boundary.
    let huge = "€".repeat((10 << 20) / 3);
    let t = store
        .begin_try(&NewTry {
            ti: ti.id,
            try_number: 1,
            backend: "local",
            deploy_mode: "cluster",
            submission_key: "key-huge",
            application: None,
            deadline_at: None,
            message: Some(&huge),
        })
        .await
        .unwrap();
    let mut update = DriverUpdate::state(DriverState::Running);
    update.raw_state = Some(huge.clone());
    update.message = Some(huge.clone());
    assert!(store.update_driver(t.id, &update).await.unwrap());
    assert!(!store.update_driver(t.id, &update).await.unwrap(), "the same huge answer again is not a new event");

    let clipped = |text: Option<&str>| {
        let text = text.expect("recorded");
        assert!(text.len() <= MAX_TEXT + 64, "{} bytes kept", text.len());
        assert!(text.starts_with("€€€"), "{}", &text[..12]);
        assert!(text.ends_with(&format!("… (truncated, {} bytes)", huge.len())), "{}", &text[text.len() - 40..]);
    };
    let row = store.get_try(t.id).await.unwrap();
    clipped(row.raw_state.as_deref());
    clipped(row.message.as_deref());
    let events = store.driver_events(t.id).await.unwrap();
    assert_eq!(events.len(), 2, "pending, then running");
    clipped(events[0].message.as_deref());
    clipped(events[1].raw_state.as_deref());
    clipped(events[1].message.as_deref());

    let error = format!("plugin error: {huge}");
    store
        .finish_try(&FinishTry { try_id: t.id, ti: ti.id, try_state: TryState::Failed, ti_state: TiState::Failed, next_try_at: None, message: Some(&error) })
        .await
        .unwrap();
    let message = store.get_try(t.id).await.unwrap().message.expect("the error is kept");
    assert!(message.starts_with("plugin error: €") && message.len() <= MAX_TEXT + 64, "{} bytes kept", message.len());
    assert_eq!(clip("short"), "short", "what fits is kept whole");
}

/// A run with one try of task `a` whose driver ran, ended `state` at `ended`
/// (none: still running).
async fn run_with_try(store: &Store, run_id: &str, ended: Option<(RunState, chrono::DateTime<Utc>)>) -> RunRow {
    let conf = json!({});
    let run = store.create_run(&new_run("d", run_id, &conf, None)).await.unwrap();
    let ti = &store.task_instances(run.id).await.unwrap()[0];
    let t = store
        .begin_try(&NewTry {
            ti: ti.id,
            try_number: 1,
            backend: "local",
            deploy_mode: "cluster",
            submission_key: &format!("key-{run_id}"),
            application: None,
            deadline_at: None,
            message: None,
        })
        .await
        .unwrap();
    store.update_driver(t.id, &DriverUpdate::state(DriverState::Running)).await.unwrap();
    if let Some((state, _)) = ended {
        store
            .finish_try(&FinishTry { try_id: t.id, ti: ti.id, try_state: TryState::Success, ti_state: TiState::Success, next_try_at: None, message: None })
            .await
            .unwrap();
        store.set_run_state(run.id, state).await.unwrap();
    }
    store.get_run_by_pk(run.id).await.unwrap()
}

both!(cleaning_forgets_only_runs_that_ended_before_the_cutoff);
async fn cleaning_forgets_only_runs_that_ended_before_the_cutoff(fx: Fixture) {
    let store = fx.open().await;
    with_dag(&store).await;
    let old = run_with_try(&store, "old", Some((RunState::Success, Utc::now()))).await;
    let open = run_with_try(&store, "open", None).await;
    let cutoff = Utc::now() + chrono::Duration::seconds(1);
    let dry = store.clean_before(cutoff, true).await.unwrap();
    assert_eq!(dry.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(), ["old"]);
    assert!(store.get_run("d", "old").await.unwrap().is_some(), "a dry run deletes nothing");

    let gone = store.clean_before(cutoff, false).await.unwrap();
    assert_eq!(gone.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(), ["old"]);
    assert!(store.get_run("d", "old").await.unwrap().is_none());
    assert!(store.task_instances(old.id).await.unwrap().is_empty());
    assert!(store.get_run("d", "open").await.unwrap().is_some(), "an open run stays");
    assert_eq!(store.open_tries().await.unwrap().len(), 1);
    assert!(store.clean_before(Utc::now() - chrono::Duration::days(1), false).await.unwrap().is_empty());
    assert_eq!(store.task_instances(open.id).await.unwrap().len(), 2);
}

both!(a_backfill_is_committed_with_its_new_runs_and_reruns_at_once);
async fn a_backfill_is_committed_with_its_new_runs_and_reruns_at_once(fx: Fixture) {
    let store = fx.open().await;
    with_dag(&store).await;
    let failed = run_with_try(&store, "failed", Some((RunState::Failed, Utc::now()))).await;
    let ti = store.task_instances(failed.id).await.unwrap()[0].clone();
    let conf = json!({});
    let mut fresh = new_run("d", "backfill__1", &conf, None);
    fresh.run_type = "backfill";
    let new = NewBackfill {
        dag_id: "d",
        from_date: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        to_date: Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap(),
        dag_run_conf: &conf,
        reprocess_behavior: "failed",
        max_active_runs: 2,
        run_backwards: false,
    };
    let (b, runs) = store.create_backfill(&new, &[fresh], &[Rerun { run_pk: failed.id, tis: vec![(ti.id, 3)] }]).await.unwrap();
    assert_eq!(runs.iter().map(|r| (r.run_id.as_str(), r.state, r.backfill_id)).collect::<Vec<_>>(),
        [("failed", RunState::Queued, Some(b.id)), ("backfill__1", RunState::Queued, Some(b.id))]);
    let ti = &store.task_instances(failed.id).await.unwrap()[0];
    assert_eq!((ti.state, ti.max_tries), (TiState::None, 3));
    assert_eq!(store.backfill_progress(b.id).await.unwrap(), (2, 0));
    assert_eq!(store.open_backfills().await.unwrap().len(), 1);

    // A clash rolls the whole backfill back.
    let mut clash = new_run("d", "backfill__1", &conf, None);
    clash.run_type = "backfill";
    assert!(matches!(store.create_backfill(&new, &[clash], &[]).await, Err(StoreError::RunExists { .. })));
    assert_eq!(store.backfills("d", 10, 0).await.unwrap().1, 1);

    let cancelled = store.complete_backfill(b.id, true).await.unwrap();
    assert!(cancelled.completed_at.is_some());
    assert_eq!(store.backfill_progress(b.id).await.unwrap(), (2, 2), "the never-started runs ended failed");
    assert!(store.open_backfills().await.unwrap().is_empty());
}

//! The API's reads and the scheduler's bookkeeping beyond runs and tries:
//! pages with filters, pools, the notification outbox, state counts. Run
//! on both databases, since their SQL dialects differ most here (pattern
//! matching, JSON, booleans).

#[macro_use]
mod support;
use support::Fixture;

use chrono::{TimeZone, Utc};
use drover_store::*;
use serde_json::json;

async fn run(store: &Store, dag: &str, run_id: &str, tasks: &[&str]) -> RunRow {
    store
        .upsert_dag(&DagUpsert { dag_id: dag, file: "f.toml", source_hash: "h", description: None, schedule: None })
        .await
        .unwrap();
    let conf = json!({"k": [1, 2]});
    store
        .create_run(&NewRun {
            dag_id: dag,
            run_id,
            run_type: "manual",
            logical_date: Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(),
            conf: &conf,
            params: &conf,
            dag_hash: "h",
            dag_snapshot: "",
            tasks: tasks.iter().map(|t| (t.to_string(), 1)).collect(),
            schedule_position: None,
        })
        .await
        .unwrap()
}

both!(pages_filter_by_state_and_by_pattern_ignoring_case);
async fn pages_filter_by_state_and_by_pattern_ignoring_case(fx: Fixture) {
    let store = fx.open().await;
    let r = run(&store, "Sales_Daily", "r1", &["Load_A", "load_b", "report"]).await;
    run(&store, "other", "r1", &["x"]).await;
    let (dags, total) = store.dag_page(Some("sales"), 10, 0).await.unwrap();
    assert_eq!((dags.iter().map(|d| d.dag_id.as_str()).collect::<Vec<_>>(), total), (vec!["Sales_Daily"], 1));
    let (all, total) = store.dag_page(None, 1, 1).await.unwrap();
    assert_eq!((all.len(), total), (1, 2), "a page of one, of two");

    let tis = store.task_instances(r.id).await.unwrap();
    store.queue_tis(&[(tis[1].id, "pool `p` is full".into())]).await.unwrap();
    let f = TiFilter { states: vec![], task_id_pattern: Some("LOAD".into()) };
    let (rows, total) = store.task_instance_page(r.id, &f, 10, 0).await.unwrap();
    assert_eq!((rows.iter().map(|t| t.task_id.as_str()).collect::<Vec<_>>(), total), (vec!["Load_A", "load_b"], 2));
    let f = TiFilter { states: vec!["queued".into(), "success".into()], task_id_pattern: None };
    let (rows, total) = store.task_instance_page(r.id, &f, 10, 0).await.unwrap();
    assert_eq!(total, 1);
    assert_eq!(rows[0].task_id, "load_b");
    assert_eq!(rows[0].queued_reason.as_deref(), Some("pool `p` is full"));
    assert!(rows[0].queued_at.is_some());

    store.set_import_errors(&[("b.toml".into(), "bad".into()), ("a.toml".into(), "worse".into())]).await.unwrap();
    let (errors, total) = store.import_error_page(1, 0).await.unwrap();
    assert_eq!((errors[0].file.as_str(), total), ("a.toml", 2));
}

both!(drivers_are_listed_newest_first_with_filters);
async fn drivers_are_listed_newest_first_with_filters(fx: Fixture) {
    let store = fx.open().await;
    let r = run(&store, "d", "r1", &["a", "b"]).await;
    let tis = store.task_instances(r.id).await.unwrap();
    let mut ids = Vec::new();
    for (ti, backend) in [(tis[0].id, "yarn"), (tis[1].id, "k8s")] {
        let key = format!("key-{ti}");
        let app = json!({"resource": "job.jar"});
        let t = store
            .begin_try(&NewTry { ti, try_number: 1, backend, deploy_mode: "cluster", submission_key: &key, application: Some(&app), deadline_at: None, message: None })
            .await
            .unwrap();
        assert_eq!(t.application.as_ref().unwrap().0, app);
        ids.push(t.id);
    }
    store.update_driver(ids[1], &DriverUpdate::state(DriverState::Running)).await.unwrap();
    let all = DriverFilter::default();
    let (rows, total) = store.driver_page(&all, 10, 0).await.unwrap();
    assert_eq!((rows.iter().map(|d| d.attempt.id).collect::<Vec<_>>(), total), (vec![ids[1], ids[0]], 2));
    let k8s = DriverFilter { backend: Some("k8s".into()), active: true, dag_id: Some("d".into()), ..Default::default() };
    let (rows, _) = store.driver_page(&k8s, 10, 0).await.unwrap();
    assert_eq!((rows.len(), rows[0].task_id.as_str()), (1, "b"));
    let (rows, total) = store.drivers(Some(DriverState::Running), None, 10, 0).await.unwrap();
    assert_eq!((rows.len(), total), (1, 1));
    let (rows, _) = store.drivers(None, Some(ids[0]), 10, 0).await.unwrap();
    assert_eq!(rows[0].attempt.driver_state, DriverState::Pending);

    store.request_stop(ids[0], StopReason::TimedOut).await.unwrap();
    store.request_stop(ids[0], StopReason::Killed).await.unwrap();
    store.request_stop(ids[0], StopReason::TimedOut).await.unwrap();
    assert_eq!(store.get_try(ids[0]).await.unwrap().stop_reason, Some(StopReason::Killed), "a person's reason wins");
    store.mark_run_failing(r.id).await.unwrap();
    assert!(store.get_run_by_pk(r.id).await.unwrap().failing);

    let counts = store.state_counts().await.unwrap();
    assert_eq!(counts.runs, vec![("queued".to_string(), 1)]);
    assert!(counts.drivers.contains(&("k8s".to_string(), "running".to_string(), 1)), "{:?}", counts.drivers);
}

both!(pools_are_created_edited_and_deleted);
async fn pools_are_created_edited_and_deleted(fx: Fixture) {
    let store = fx.open().await;
    assert_eq!(store.pools().await.unwrap().iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["default_pool"]);
    store.create_pool("etl", 3, Some("nightly")).await.unwrap();
    assert!(matches!(store.create_pool("etl", 1, None).await, Err(StoreError::PoolExists(_))));
    let p = store.update_pool("etl", Some(5), Some(None)).await.unwrap();
    assert_eq!((p.slots, p.description), (5, None));
    let p = store.put_pool("etl", 7, Some("again")).await.unwrap();
    assert_eq!((p.slots, p.description.as_deref()), (7, Some("again")));
    store.delete_pool("etl").await.unwrap();
    assert!(matches!(store.delete_pool("etl").await, Err(StoreError::NotFound(_))));
}

both!(the_outbox_keeps_each_notification_until_it_is_sent);
async fn the_outbox_keeps_each_notification_until_it_is_sent(fx: Fixture) {
    let store = fx.open().await;
    let r = run(&store, "d", "r1", &["a"]).await;
    let note = |event| NewNotification {
        notifier: "ops",
        event,
        dag_id: "d",
        run_id: "r1",
        task_id: None,
        try_number: None,
        try_id: None,
        state: "failed",
        message: Some("boom"),
    };
    store.finish_run(r.id, RunState::Failed, &[note(NotifyEvent::OnRunFailure), note(NotifyEvent::OnFailure)]).await.unwrap();
    let due = store.due_notifications(Utc::now(), 10).await.unwrap();
    assert_eq!(due.len(), 2);
    assert_ne!(due[0].key, due[1].key, "each delivery has its own idempotency key");
    store.mark_notification_sent(due[0].id, 1).await.unwrap();
    let later = Utc::now() + chrono::Duration::hours(1);
    store.mark_notification_attempt_failed(due[1].id, 1, "refused", Some(later)).await.unwrap();
    assert!(store.due_notifications(Utc::now(), 10).await.unwrap().is_empty());
    assert_eq!(store.next_notification_at().await.unwrap().map(|t| t.timestamp()), Some(later.timestamp()));
    let (sent, total) = store.notifications(Some(NotificationStatus::Sent), Some("d"), 10, 0).await.unwrap();
    assert_eq!((sent.len(), total, sent[0].event), (1, 1, NotifyEvent::OnRunFailure));
    assert_eq!(store.get_run_by_pk(r.id).await.unwrap().state, RunState::Failed);
}

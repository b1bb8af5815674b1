//! The scheduler lease and its fence: one holder at a time, a new epoch at
//! each takeover, and a handle fenced on an old epoch writes nothing.

#[macro_use]
mod support;
use support::Fixture;

use std::time::Duration;

use chrono::{TimeZone, Utc};
use drover_store::*;
use serde_json::json;

const LONG: Duration = Duration::from_secs(600);

both!(one_holder_at_a_time_and_each_takeover_moves_the_epoch_on);
async fn one_holder_at_a_time_and_each_takeover_moves_the_epoch_on(fx: Fixture) {
    let a = fx.open().await;
    let b = fx.open().await;
    assert_eq!(a.lease().await.unwrap(), None);
    let first = a.acquire_lease("a", LONG).await.unwrap().expect("a free lease is taken");
    assert_eq!((first.holder.as_str(), first.epoch), ("a", 1));
    assert_eq!(b.acquire_lease("b", LONG).await.unwrap(), None, "held and not expired");
    let renewed = a.renew_lease(1, LONG).await.unwrap().expect("the holder renews");
    assert!(renewed.expires_at >= first.expires_at);
    // A lease let go (or expired) is taken over under a new epoch.
    a.release_lease(1).await.unwrap();
    let second = b.acquire_lease("b", LONG).await.unwrap().expect("a released lease is taken over");
    assert_eq!((second.holder.as_str(), second.epoch), ("b", 2));
    assert_eq!(a.renew_lease(1, LONG).await.unwrap(), None, "the old epoch cannot renew");
    assert_eq!(a.lease().await.unwrap().unwrap().holder, "b");
    // An expired lease is taken over without its holder's consent.
    let short = b.renew_lease(2, Duration::from_millis(1)).await.unwrap().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let third = loop {
        if let Some(l) = a.acquire_lease("a", LONG).await.unwrap() {
            break l;
        }
        assert!(std::time::Instant::now() < deadline, "the lease never expired after {short:?}");
        tokio::task::yield_now().await;
    };
    assert_eq!(third.epoch, 3);
}

both!(a_stale_epoch_writes_nothing);
/// The issue's fencing test: two handles with epochs 1 and 2; the stale
/// one's begin-try and driver updates fail and write nothing.
async fn a_stale_epoch_writes_nothing(fx: Fixture) {
    let db = fx.open().await;
    db.upsert_dag(&DagUpsert { dag_id: "d", file: "d.toml", source_hash: "h", description: None, schedule: None })
        .await
        .unwrap();
    let conf = json!({});
    let run = db
        .create_run(&NewRun {
            dag_id: "d",
            run_id: "r",
            run_type: "manual",
            logical_date: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            conf: &conf,
            params: &conf,
            dag_hash: "h",
            dag_snapshot: "",
            tasks: vec![("a".into(), 1), ("b".into(), 1)],
            schedule_position: None,
        })
        .await
        .unwrap();
    let tis = db.task_instances(run.id).await.unwrap();
    let try_on = |ti: i64, key: &'static str| NewTry {
        ti,
        try_number: 1,
        backend: "yarn",
        deploy_mode: "cluster",
        submission_key: key,
        application: None,
        deadline_at: None,
        message: None,
    };

    let one = db.acquire_lease("old", LONG).await.unwrap().unwrap();
    let old = db.fenced(one.epoch);
    let running = old.begin_try(&try_on(tis[0].id, "k-a")).await.expect("the holder writes");
    db.release_lease(one.epoch).await.unwrap();
    let two = db.acquire_lease("new", LONG).await.unwrap().unwrap();
    assert_eq!((one.epoch, two.epoch), (1, 2));
    let new = db.fenced(two.epoch);

    let err = old.begin_try(&try_on(tis[1].id, "k-b")).await.unwrap_err();
    assert!(matches!(err, StoreError::Fenced { epoch: 1 }), "{err}");
    let err = old.update_driver(running.id, &DriverUpdate::state(DriverState::Running)).await.unwrap_err();
    assert!(matches!(err, StoreError::Fenced { epoch: 1 }), "{err}");
    assert!(matches!(old.set_run_state(run.id, RunState::Failed).await, Err(StoreError::Fenced { .. })));

    // Nothing of the stale writes landed.
    assert!(db.tries(tis[1].id).await.unwrap().is_empty(), "no try was begun");
    assert_eq!(db.task_instances(run.id).await.unwrap()[1].state, TiState::None);
    let t = db.get_try(running.id).await.unwrap();
    assert_eq!(t.driver_state, DriverState::Pending, "the driver update was rolled back");
    assert_eq!(db.driver_events(running.id).await.unwrap().len(), 1);
    assert_eq!(db.get_run_by_pk(run.id).await.unwrap().state, RunState::Queued);

    // The successor writes.
    new.update_driver(running.id, &DriverUpdate::state(DriverState::Running)).await.unwrap();
    assert_eq!(db.get_try(running.id).await.unwrap().driver_state, DriverState::Running);
}

both!(a_command_is_taken_once_and_answered);
/// A command written by any drover is taken by one epoch only, and a stale
/// epoch can neither take nor answer it.
async fn a_command_is_taken_once_and_answered(fx: Fixture) {
    let any = fx.open().await;
    let lease = any.acquire_lease("a", LONG).await.unwrap().unwrap();
    let active = any.fenced(lease.epoch);
    let id = any.send_command(&json!({"kind": "set_paused", "dag_id": "d"}), "b").await.unwrap();
    let open = any.open_commands().await.unwrap();
    assert_eq!(open.iter().map(|c| (c.id, c.sent_by.as_str(), c.taken_epoch)).collect::<Vec<_>>(), [(id, "b", None)]);
    assert_eq!(open[0].body.0["kind"], "set_paused");
    assert_eq!(any.command_answer(id).await.unwrap(), None);

    // A stale epoch takes nothing.
    any.release_lease(lease.epoch).await.unwrap();
    let next = any.acquire_lease("c", LONG).await.unwrap().unwrap();
    assert!(matches!(active.take_command(id).await, Err(StoreError::Fenced { .. })));
    let successor = any.fenced(next.epoch);
    assert!(successor.take_command(id).await.unwrap(), "an open command is taken");
    assert!(!successor.take_command(id).await.unwrap(), "a taken command is not taken again");
    assert_eq!(successor.open_commands().await.unwrap()[0].taken_epoch, Some(next.epoch));
    assert!(matches!(active.answer_command(id, &json!({"ok": null})).await, Err(StoreError::Fenced { .. })));
    successor.answer_command(id, &json!({"ok": null})).await.unwrap();
    assert_eq!(any.command_answer(id).await.unwrap(), Some(json!({"ok": null})));
    assert!(any.open_commands().await.unwrap().is_empty());
}

#[tokio::test]
async fn postgres_announces_commands_and_answers_on_commit() {
    let fx = Fixture::postgres().await;
    let db = fx.open().await;
    let mut listener = db.listen(&[COMMANDS_CHANNEL, ANSWERS_CHANNEL]).await.unwrap().expect("PostgreSQL listens");
    let id = db.send_command(&json!({"kind": "x"}), "a").await.unwrap();
    let n = tokio::time::timeout(LONG, listener.recv()).await.unwrap().unwrap().expect("no reconnect");
    assert_eq!((n.channel.as_str(), n.payload.as_str()), (COMMANDS_CHANNEL, id.to_string().as_str()));
    db.answer_command(id, &json!(1)).await.unwrap();
    let n = tokio::time::timeout(LONG, listener.recv()).await.unwrap().unwrap().expect("no reconnect");
    assert_eq!((n.channel.as_str(), n.payload.as_str()), (ANSWERS_CHANNEL, id.to_string().as_str()));
    db.notify("drover_changes", "{}").await.unwrap();
    assert!(Store::memory().await.unwrap().listen(&["x"]).await.unwrap().is_none(), "SQLite has no notifications");
}

//! Several drovers on one PostgreSQL database, one scheduler among them.
//!
//! Every drover serves the API; only the holder of the scheduler lease runs
//! the loop. A drover that stands by ([`stand_by`]) answers reads from the
//! database and turns each request for the loop (trigger, kill, fail, pause,
//! clear, pools, backfills) into a row of the store's command table; the
//! active scheduler's [`pump`] takes it, hands it to its loop as if it came
//! from its own handle, and writes the answer back, which the standby turns
//! into the same reply a local loop gives. Both directions, and the state
//! changes live pages follow ([`publish`]), travel through PostgreSQL's
//! LISTEN/NOTIFY: nothing polls, except a slow re-read of an awaited answer
//! in case a notification was lost to a dropped connection.
//!
//! A command is acted on at most once: the pump commits taking it (under
//! its fencing epoch) before it acts, and a successor that finds a command
//! taken and never answered answers that it may have happened instead of
//! doing it again (the same promise as a submission).
//!
//! When a standby takes the lease over ([`Standby::take_over`]), the loop
//! starts on the very channel, DAG map, change stream and metrics its
//! handle already uses, so the API it serves carries on unchanged.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use drover_dag::{Dag, ParamError};
use drover_plugin_host::BackendSet;
use drover_store::{ANSWERS_CHANNEL, CHANGES_CHANNEL, COMMANDS_CHANNEL, Store, StoreError};

use crate::config::Config;
use crate::control::{BackfillChange, BackfillMade, BackfillRequest, Change, ClearRequest, ControlError, TriggerError, TriggerRequest};
use crate::metrics::Metrics;
use crate::msg::Msg;
use crate::pools::{PoolEdit, PoolUsage, PoolView};

/// How long a standby waits for the active scheduler's answer.
const ANSWER_DEADLINE: Duration = Duration::from_secs(60);
/// How often a waiting standby reads the answer back in case its
/// notification was lost (the listener's connection dropped).
const RECHECK: Duration = Duration::from_secs(2);

/// A request for the loop, as it travels between drovers.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Command {
    Trigger { dag_id: String, req: TriggerRequest },
    KillTask { dag_id: String, run_id: String, task_id: String },
    FailRun { dag_id: String, run_id: String },
    SetPaused { dag_id: String, paused: bool },
    Clear { dag_id: String, req: ClearRequest },
    Pool { edit: PoolEdit },
    Backfill { req: BackfillRequest },
    ChangeBackfill { id: i64, change: BackfillChange },
}

/// The loop's answer, as data: rows are named, and read back by the asker.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
enum Answer {
    Run { dag_id: String, run_id: String },
    Done,
    Cleared { task_ids: Vec<String> },
    Pool { name: Option<String> },
    Backfill { id: Option<i64>, logical_dates: Vec<DateTime<Utc>> },
    Failed { error: WireError },
}

/// [`TriggerError`] and [`ControlError`] as data.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "error", rename_all = "snake_case")]
enum WireError {
    UnknownDag { dag_id: String },
    BadRunId { message: String },
    BadConf { problems: Vec<ParamError> },
    Exists { dag_id: String, run_id: String },
    NotFound { what: String },
    Conflict { message: String },
    Invalid { message: String },
    Internal { message: String },
    Unavailable { message: String },
}

impl From<TriggerError> for WireError {
    fn from(e: TriggerError) -> Self {
        match e {
            TriggerError::UnknownDag(dag_id) => WireError::UnknownDag { dag_id },
            TriggerError::BadRunId(message) => WireError::BadRunId { message },
            TriggerError::BadConf(problems) => WireError::BadConf { problems },
            TriggerError::Exists { dag_id, run_id } => WireError::Exists { dag_id, run_id },
            TriggerError::Internal(message) => WireError::Internal { message },
            TriggerError::Unavailable(message) => WireError::Unavailable { message },
        }
    }
}

impl From<ControlError> for WireError {
    fn from(e: ControlError) -> Self {
        match e {
            ControlError::NotFound(what) => WireError::NotFound { what },
            ControlError::Conflict(message) => WireError::Conflict { message },
            ControlError::Invalid(message) => WireError::Invalid { message },
            ControlError::Internal(message) => WireError::Internal { message },
            ControlError::Unavailable(message) => WireError::Unavailable { message },
        }
    }
}

impl From<WireError> for TriggerError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::UnknownDag { dag_id } => TriggerError::UnknownDag(dag_id),
            WireError::BadRunId { message } | WireError::Invalid { message } => TriggerError::BadRunId(message),
            WireError::BadConf { problems } => TriggerError::BadConf(problems),
            WireError::Exists { dag_id, run_id } => TriggerError::Exists { dag_id, run_id },
            WireError::Unavailable { message } => TriggerError::Unavailable(message),
            WireError::NotFound { what } => TriggerError::Internal(format!("{what} not found")),
            WireError::Conflict { message } | WireError::Internal { message } => TriggerError::Internal(message),
        }
    }
}

impl From<WireError> for ControlError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::NotFound { what } => ControlError::NotFound(what),
            WireError::UnknownDag { dag_id } => ControlError::NotFound(format!("DAG `{dag_id}`")),
            WireError::Conflict { message } => ControlError::Conflict(message),
            WireError::Exists { dag_id, run_id } => ControlError::Conflict(format!("a run `{run_id}` already exists for DAG `{dag_id}`")),
            WireError::Invalid { message } | WireError::BadRunId { message } => ControlError::Invalid(message),
            WireError::BadConf { problems } => {
                ControlError::Invalid(problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
            }
            WireError::Internal { message } => ControlError::Internal(message),
            WireError::Unavailable { message } => ControlError::Unavailable(message),
        }
    }
}

/// Where the answer to a relayed message goes.
enum Reply {
    Trigger(oneshot::Sender<Result<drover_store::RunRow, TriggerError>>),
    Unit(oneshot::Sender<Result<(), ControlError>>),
    Cleared(oneshot::Sender<Result<Vec<String>, ControlError>>),
    Pool(oneshot::Sender<Result<Option<PoolView>, ControlError>>),
    Backfill(oneshot::Sender<Result<BackfillMade, ControlError>>),
    ChangeBackfill(oneshot::Sender<Result<drover_store::BackfillRow, ControlError>>),
}

/// A handle's message as a command and where its answer goes; `Err` gives
/// back what only the local side handles.
fn split(msg: Msg) -> Result<(Command, Reply), Msg> {
    Ok(match msg {
        Msg::Trigger { dag_id, req, reply } => (Command::Trigger { dag_id, req }, Reply::Trigger(reply)),
        Msg::KillTask { dag_id, run_id, task_id, reply } => {
            (Command::KillTask { dag_id, run_id, task_id }, Reply::Unit(reply))
        }
        Msg::FailRun { dag_id, run_id, reply } => (Command::FailRun { dag_id, run_id }, Reply::Unit(reply)),
        Msg::SetPaused { dag_id, paused, reply } => (Command::SetPaused { dag_id, paused }, Reply::Unit(reply)),
        Msg::Clear { dag_id, req, reply } => (Command::Clear { dag_id, req }, Reply::Cleared(reply)),
        Msg::Pool { edit, reply } => (Command::Pool { edit }, Reply::Pool(reply)),
        Msg::Backfill { req, reply } => (Command::Backfill { req }, Reply::Backfill(reply)),
        Msg::ChangeBackfill { id, change, reply } => (Command::ChangeBackfill { id, change }, Reply::ChangeBackfill(reply)),
        other => return Err(other),
    })
}

impl Reply {
    /// Answers the asker from the loop's answer, reading named rows back.
    async fn deliver(self, answer: Result<Answer, WireError>, store: &Store) {
        let unexpected = |a: &Answer| WireError::Internal { message: format!("the scheduler answered {a:?}") };
        match self {
            Reply::Trigger(reply) => {
                let r = match answer {
                    Ok(Answer::Run { dag_id, run_id }) => match store.get_run(&dag_id, &run_id).await {
                        Ok(Some(row)) => Ok(row),
                        Ok(None) => Err(TriggerError::Internal(format!("run {dag_id}/{run_id} is gone"))),
                        Err(e) => Err(TriggerError::Internal(e.to_string())),
                    },
                    Ok(a) => Err(unexpected(&a).into()),
                    Err(e) => Err(e.into()),
                };
                let _ = reply.send(r);
            }
            Reply::Unit(reply) => {
                let _ = reply.send(match answer {
                    Ok(Answer::Done) => Ok(()),
                    Ok(a) => Err(unexpected(&a).into()),
                    Err(e) => Err(e.into()),
                });
            }
            Reply::Cleared(reply) => {
                let _ = reply.send(match answer {
                    Ok(Answer::Cleared { task_ids }) => Ok(task_ids),
                    Ok(a) => Err(unexpected(&a).into()),
                    Err(e) => Err(e.into()),
                });
            }
            Reply::Pool(reply) => {
                let r = match answer {
                    Ok(Answer::Pool { name: None }) => Ok(None),
                    Ok(Answer::Pool { name: Some(name) }) => store
                        .get_pool(&name)
                        .await
                        .map(|row| row.map(|row| PoolView::new(row, PoolUsage::default())))
                        .map_err(|e| ControlError::Internal(e.to_string())),
                    Ok(a) => Err(unexpected(&a).into()),
                    Err(e) => Err(e.into()),
                };
                let _ = reply.send(r);
            }
            Reply::Backfill(reply) => {
                let r = match answer {
                    Ok(Answer::Backfill { id, logical_dates }) => match id {
                        None => Ok(BackfillMade { backfill: None, logical_dates }),
                        Some(id) => backfill_row(store, id).await.map(|b| BackfillMade { backfill: Some(b), logical_dates }),
                    },
                    Ok(a) => Err(unexpected(&a).into()),
                    Err(e) => Err(e.into()),
                };
                let _ = reply.send(r);
            }
            Reply::ChangeBackfill(reply) => {
                let r = match answer {
                    Ok(Answer::Backfill { id: Some(id), .. }) => backfill_row(store, id).await,
                    Ok(a) => Err(unexpected(&a).into()),
                    Err(e) => Err(e.into()),
                };
                let _ = reply.send(r);
            }
        }
    }
}

async fn backfill_row(store: &Store, id: i64) -> Result<drover_store::BackfillRow, ControlError> {
    match store.get_backfill(id).await {
        Ok(Some(b)) => Ok(b),
        Ok(None) => Err(ControlError::NotFound(format!("backfill {id}"))),
        Err(e) => Err(ControlError::Internal(e.to_string())),
    }
}

/// Hands a command to the loop behind `tx`, as its own handle would, and
/// waits for the loop's answer.
async fn execute(command: Command, tx: &mpsc::UnboundedSender<Msg>) -> Result<Answer, WireError> {
    let stopped = || WireError::Unavailable { message: "the scheduler is stopping".into() };
    macro_rules! ask {
        ($variant:ident { $($field:ident),* }) => {{
            let (reply, rx) = oneshot::channel();
            tx.send(Msg::$variant { $($field,)* reply }).map_err(|_| stopped())?;
            rx.await.map_err(|_| stopped())?
        }};
    }
    Ok(match command {
        Command::Trigger { dag_id, req } => {
            let run = ask!(Trigger { dag_id, req })?;
            Answer::Run { dag_id: run.dag_id, run_id: run.run_id }
        }
        Command::KillTask { dag_id, run_id, task_id } => {
            ask!(KillTask { dag_id, run_id, task_id })?;
            Answer::Done
        }
        Command::FailRun { dag_id, run_id } => {
            ask!(FailRun { dag_id, run_id })?;
            Answer::Done
        }
        Command::SetPaused { dag_id, paused } => {
            ask!(SetPaused { dag_id, paused })?;
            Answer::Done
        }
        Command::Clear { dag_id, req } => Answer::Cleared { task_ids: ask!(Clear { dag_id, req })? },
        Command::Pool { edit } => Answer::Pool { name: ask!(Pool { edit })?.map(|p| p.name) },
        Command::Backfill { req } => {
            let made = ask!(Backfill { req })?;
            Answer::Backfill { id: made.backfill.map(|b| b.id), logical_dates: made.logical_dates }
        }
        Command::ChangeBackfill { id, change } => {
            let row = ask!(ChangeBackfill { id, change })?;
            Answer::Backfill { id: Some(row.id), logical_dates: Vec::new() }
        }
    })
}

fn encode(answer: Result<Answer, WireError>) -> serde_json::Value {
    let answer = answer.unwrap_or_else(|error| Answer::Failed { error });
    serde_json::to_value(answer).unwrap_or_else(|e| serde_json::json!({"answer": "failed", "error": {"error": "internal", "message": e.to_string()}}))
}

fn decode(value: serde_json::Value) -> Result<Answer, WireError> {
    match serde_json::from_value::<Answer>(value) {
        Ok(Answer::Failed { error }) => Err(error),
        Ok(a) => Ok(a),
        Err(e) => Err(WireError::Internal { message: format!("unreadable answer from the scheduler: {e}") }),
    }
}

/// The active scheduler's side: takes every open command (those left from
/// before it took over first), acts on it through the loop's channel and
/// answers, woken by each new command's notification. Ends with `cancel`
/// or once its (fenced) store refuses it the lease.
pub(crate) async fn pump(store: Store, tx: mpsc::UnboundedSender<Msg>, cancel: CancellationToken) {
    let mut listener = match store.listen(&[COMMANDS_CHANNEL]).await {
        Ok(Some(l)) => l,
        Ok(None) => return,
        Err(e) => {
            warn!(error = %e, "cannot listen for commands from other drovers; only this drover's API reaches the scheduler");
            return;
        }
    };
    loop {
        match serve_open(&store, &tx).await {
            Ok(()) => {}
            Err(StoreError::Fenced { epoch }) => {
                info!(epoch, "lost the scheduler lease; no longer taking commands");
                return;
            }
            Err(e) => warn!(error = %e, "cannot read or answer commands; trying again at the next one"),
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            got = listener.recv() => if let Err(e) = got {
                warn!(error = %e, "lost the command listener's connection; reconnecting");
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
}

async fn serve_open(store: &Store, tx: &mpsc::UnboundedSender<Msg>) -> Result<(), StoreError> {
    for cmd in store.open_commands().await? {
        if cmd.taken_epoch.is_some() {
            let message = "the scheduler that took this request stopped before it answered; the request may \
                           have taken effect: look, then send it again if it did not"
                .to_string();
            store.answer_command(cmd.id, &encode(Err(WireError::Unavailable { message }))).await?;
            continue;
        }
        if !store.take_command(cmd.id).await? {
            continue;
        }
        let answer = match serde_json::from_value::<Command>(cmd.body.0) {
            Ok(command) => execute(command, tx).await,
            Err(e) => Err(WireError::Invalid {
                message: format!("this drover cannot read a request sent by {} (another drover version?): {e}", cmd.sent_by),
            }),
        };
        store.answer_command(cmd.id, &encode(answer)).await?;
    }
    Ok(())
}

/// The active scheduler's side: every state change, to the drovers that
/// stand by (for their live pages).
pub(crate) async fn publish(store: Store, changes: broadcast::Sender<Change>, cancel: CancellationToken) {
    let mut rx = changes.subscribe();
    loop {
        let change = tokio::select! {
            _ = cancel.cancelled() => return,
            c = rx.recv() => match c {
                Ok(c) => c,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        let Ok(payload) = serde_json::to_string(&change) else { continue };
        if let Err(e) = store.notify(CHANGES_CHANNEL, &payload).await {
            warn!(error = %e, "cannot tell the other drovers of a change");
        }
    }
}

/// What the loop and its handle share, made before the loop starts so a
/// standby's handle can be the active scheduler's later.
pub(crate) struct Parts {
    pub tx: mpsc::UnboundedSender<Msg>,
    pub rx: mpsc::UnboundedReceiver<Msg>,
    pub dags: Arc<RwLock<BTreeMap<String, Arc<Dag>>>>,
    pub changes: broadcast::Sender<Change>,
    pub metrics: Arc<Metrics>,
    pub pool_usage: Arc<RwLock<BTreeMap<String, PoolUsage>>>,
}

impl Parts {
    pub(crate) fn new(cfg: &Config) -> Parts {
        let (tx, rx) = mpsc::unbounded_channel();
        let (changes, _) = broadcast::channel(1024);
        Parts {
            tx,
            rx,
            dags: Arc::default(),
            changes,
            metrics: Arc::new(Metrics::new(cfg.health_threshold)),
            pool_usage: Arc::default(),
        }
    }
}

/// Answers awaited by this drover's relayed requests, by command id.
pub(crate) type Waiters = Arc<Mutex<HashMap<i64, oneshot::Sender<()>>>>;

/// The standby's side of the channel: requests for the loop become
/// commands; DAG reloads happen here. Gives the channel back when stopped.
pub(crate) async fn relay(
    mut parts: Parts,
    cfg: Config,
    store: Store,
    backends: BackendSet,
    name: String,
    waiters: Waiters,
    stop: CancellationToken,
) -> mpsc::UnboundedReceiver<Msg> {
    let _watcher = if cfg.watch { crate::loader::watch(&cfg.dags_dir, parts.tx.clone()).ok() } else { None };
    loop {
        let msg = tokio::select! {
            biased;
            _ = stop.cancelled() => return parts.rx,
            m = parts.rx.recv() => match m {
                Some(m) => m,
                None => return parts.rx,
            },
        };
        match split(msg) {
            Ok((command, reply)) => {
                tokio::spawn(ask_active(command, reply, store.clone(), name.clone(), waiters.clone()));
            }
            Err(Msg::Reload) => reload(&cfg, &backends, &parts.dags, &parts.changes).await,
            Err(Msg::ReloadNow { reply }) => {
                reload(&cfg, &backends, &parts.dags, &parts.changes).await;
                let _ = reply.send(());
            }
            // A stall is for a loop; a standby has no tries to end.
            Err(_) => {}
        }
    }
}

async fn reload(cfg: &Config, backends: &BackendSet, dags: &RwLock<BTreeMap<String, Arc<Dag>>>, changes: &broadcast::Sender<Change>) {
    let loaded = crate::loader::load_dir(&cfg.dags_dir, backends, &cfg.notifiers).await;
    *dags.write().expect("dag map") = loaded.dags;
    let _ = changes.send(Change::Dags);
}

/// Sends one command and answers its asker once the active scheduler did.
async fn ask_active(command: Command, reply: Reply, store: Store, name: String, waiters: Waiters) {
    let body = match serde_json::to_value(&command) {
        Ok(b) => b,
        Err(e) => return reply.deliver(Err(WireError::Internal { message: e.to_string() }), &store).await,
    };
    let id = match store.send_command(&body, &name).await {
        Ok(id) => id,
        Err(e) => return reply.deliver(Err(WireError::Internal { message: format!("cannot pass the request on: {e}") }), &store).await,
    };
    let deadline = tokio::time::Instant::now() + ANSWER_DEADLINE;
    let answer = loop {
        let (tell, told) = oneshot::channel();
        waiters.lock().expect("waiters").insert(id, tell);
        match store.command_answer(id).await {
            Ok(Some(a)) => break decode(a),
            Ok(None) => {}
            Err(e) => warn!(error = %e, id, "cannot read a command's answer; trying again"),
        }
        if tokio::time::Instant::now() >= deadline {
            break Err(WireError::Unavailable {
                message: format!(
                    "the active scheduler did not answer within {}s; the request stays queued and is acted on when a scheduler takes it",
                    ANSWER_DEADLINE.as_secs()
                ),
            });
        }
        let _ = tokio::time::timeout(RECHECK, told).await;
    };
    waiters.lock().expect("waiters").remove(&id);
    reply.deliver(answer, &store).await;
}

/// Follows the active scheduler's notifications: changes go to this
/// drover's live pages and pool counts (until it schedules itself),
/// answers to their askers.
pub(crate) async fn follow(
    mut listener: drover_store::Listener,
    changes: broadcast::Sender<Change>,
    pool_usage: Arc<RwLock<BTreeMap<String, PoolUsage>>>,
    waiters: Waiters,
    promoted: Arc<AtomicBool>,
    cancel: CancellationToken,
) {
    loop {
        let got = tokio::select! {
            _ = cancel.cancelled() => return,
            got = listener.recv() => got,
        };
        match got {
            Ok(Some(n)) if n.channel == ANSWERS_CHANNEL => {
                if let Ok(id) = n.payload.parse::<i64>()
                    && let Some(tell) = waiters.lock().expect("waiters").remove(&id)
                {
                    let _ = tell.send(());
                }
            }
            Ok(Some(n)) => {
                if !promoted.load(Ordering::SeqCst)
                    && let Ok(change) = serde_json::from_str::<Change>(&n.payload)
                {
                    if let Change::Pools { usage } = &change {
                        *pool_usage.write().expect("pool usage") = usage.clone();
                    }
                    let _ = changes.send(change);
                }
            }
            // Reconnected: notifications may have been lost, so every
            // waiter reads its answer again.
            Ok(None) => {
                for (_, tell) in waiters.lock().expect("waiters").drain() {
                    let _ = tell.send(());
                }
            }
            Err(e) => {
                warn!(error = %e, "lost the connection that follows the active scheduler; reconnecting");
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_refusal_crosses_between_drovers_unchanged() {
        let bad = TriggerError::BadConf(vec![ParamError { field: "n".into(), message: "must be a number".into() }]);
        let back: TriggerError = decode(encode(Err(bad.into()))).unwrap_err().into();
        assert!(matches!(&back, TriggerError::BadConf(p) if p[0].field == "n" && p[0].message == "must be a number"), "{back:?}");
        let gone: ControlError = decode(encode(Err(ControlError::NotFound("task `t`".into()).into()))).unwrap_err().into();
        assert!(matches!(&gone, ControlError::NotFound(w) if w == "task `t`"), "{gone:?}");
        let cmd = Command::Clear { dag_id: "d".into(), req: ClearRequest { run_id: "r".into(), only_failed: true, ..Default::default() } };
        let again: Command = serde_json::from_value(serde_json::to_value(&cmd).unwrap()).unwrap();
        assert!(matches!(again, Command::Clear { req: ClearRequest { only_failed: true, .. }, .. }), "{again:?}");
    }

    /// A command the active scheduler took and never answered (it died)
    /// is answered by its successor as possibly done, never acted on
    /// again; an untaken one is handed to the loop and its answer written.
    #[tokio::test]
    async fn a_successor_never_acts_on_a_command_twice() {
        let db = Store::memory().await.unwrap();
        let ttl = Duration::from_secs(600);
        let first = db.acquire_lease("a", ttl).await.unwrap().unwrap();
        let body = serde_json::to_value(Command::SetPaused { dag_id: "d".into(), paused: true }).unwrap();
        let taken = db.send_command(&body, "b").await.unwrap();
        assert!(db.fenced(first.epoch).take_command(taken).await.unwrap());
        let fresh = db.send_command(&body, "b").await.unwrap();
        db.release_lease(first.epoch).await.unwrap();
        let second = db.acquire_lease("c", ttl).await.unwrap().unwrap();
        let successor = db.fenced(second.epoch);

        let (tx, mut rx) = mpsc::unbounded_channel();
        let loop_side = tokio::spawn(async move {
            let mut acted = Vec::new();
            while let Some(msg) = rx.recv().await {
                if let Msg::SetPaused { dag_id, paused, reply } = msg {
                    acted.push((dag_id, paused));
                    let _ = reply.send(Ok(()));
                }
            }
            acted
        });
        serve_open(&successor, &tx).await.unwrap();
        drop(tx);
        assert_eq!(loop_side.await.unwrap(), [("d".to_string(), true)], "only the untaken command reached the loop");
        let maybe: ControlError = decode(db.command_answer(taken).await.unwrap().unwrap()).unwrap_err().into();
        assert!(matches!(&maybe, ControlError::Unavailable(m) if m.contains("may have taken effect")), "{maybe:?}");
        assert!(matches!(decode(db.command_answer(fresh).await.unwrap().unwrap()), Ok(Answer::Done)));
        assert!(db.open_commands().await.unwrap().is_empty());
    }
}

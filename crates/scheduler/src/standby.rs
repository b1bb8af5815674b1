//! A drover standing by while another schedules (on PostgreSQL): it
//! serves the whole API through a handle whose requests [`crate::relay`]
//! passes to the active scheduler, and becomes the scheduler itself, on the
//! same handle, when it takes the lease over.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use drover_plugin_host::BackendSet;
use drover_store::{ANSWERS_CHANNEL, CHANGES_CHANNEL, Store, StoreError};

use crate::config::Config;
use crate::handle::SchedulerHandle;
use crate::msg::Msg;
use crate::relay::{Parts, Waiters, follow, relay};

/// A drover standing by: it serves the API through [`Standby::handle`]
/// while another drover schedules.
pub struct Standby {
    handle: SchedulerHandle,
    cfg: Config,
    relaying: CancellationToken,
    relay: JoinHandle<mpsc::UnboundedReceiver<Msg>>,
    promoted: Arc<AtomicBool>,
}

/// Stands by: loads the DAGs (to answer about them), relays requests for
/// the loop to the active scheduler through the database and follows its
/// changes. `name` says who sent a command.
pub async fn stand_by(cfg: Config, store: Store, backends: BackendSet, name: String, cancel: CancellationToken) -> Result<Standby, StoreError> {
    let parts = Parts::new(&cfg);
    let loaded = crate::loader::load_dir(&cfg.dags_dir, &backends, &cfg.notifiers).await;
    *parts.dags.write().expect("dag map") = loaded.dags;
    let handle = SchedulerHandle {
        tx: parts.tx.clone(),
        store: store.clone(),
        dags: parts.dags.clone(),
        backends: backends.clone(),
        changes: parts.changes.clone(),
        logs_dir: cfg.logs_dir.clone(),
        metrics: parts.metrics.clone(),
        pool_usage: parts.pool_usage.clone(),
    };
    let waiters: Waiters = Arc::default();
    let promoted = Arc::new(AtomicBool::new(false));
    let listener = store.listen(&[CHANGES_CHANNEL, ANSWERS_CHANNEL]).await?;
    if let Some(listener) = listener {
        tokio::spawn(follow(listener, parts.changes.clone(), parts.pool_usage.clone(), waiters.clone(), promoted.clone(), cancel.clone()));
    }
    let relaying = cancel.child_token();
    let relay = tokio::spawn(relay(parts, cfg.clone(), store.clone(), backends, name, waiters, relaying.clone()));
    Ok(Standby { handle, cfg, relaying, relay, promoted })
}

impl Standby {
    /// The handle the API serves with, before and after the takeover.
    pub fn handle(&self) -> SchedulerHandle {
        self.handle.clone()
    }

    /// The active scheduler was seen alive (it holds the lease): health
    /// reports its heartbeat.
    pub fn saw_active(&self) {
        self.handle.metrics.beat();
    }

    /// Takes over as the scheduler on `store` (fenced on the lease just
    /// acquired): the loop starts on this standby's channel and state, so
    /// requests already relayed and the API's handle carry on.
    pub async fn take_over(self, store: Store, backends: BackendSet, cancel: CancellationToken) -> Result<(SchedulerHandle, JoinHandle<()>), StoreError> {
        self.promoted.store(true, Ordering::SeqCst);
        self.relaying.cancel();
        let rx = self.relay.await.expect("the relay task panicked");
        let h = &self.handle;
        let parts = Parts {
            tx: h.tx.clone(),
            rx,
            dags: h.dags.clone(),
            changes: h.changes.clone(),
            metrics: h.metrics.clone(),
            pool_usage: h.pool_usage.clone(),
        };
        let (_, task) = crate::core::start_in(parts, self.cfg, store, backends, cancel).await?;
        Ok((self.handle, task))
    }
}


//! Following cluster-mode drivers cheaply: one tracker task per backend polls
//! every driver of that backend with one `status-many` call where the
//! cluster has a list endpoint (per-driver calls, a bounded number at a time,
//! where it has not), and publishes each driver's latest status on a watch
//! channel its try awaits.
//!
//! Each driver keeps its own cadence: quick right after submission so short
//! drivers finish fast, slower as it runs on. A poll is due when the earliest
//! driver is due; with a batch call, that one request refreshes them all.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::debug;

use drover_plugin_host::{Backend, CallError, DriverStatus, ErrorKind};

/// Polling cadence for cluster-mode drivers, and how long drover waits on a
/// cluster that does not answer.
#[derive(Debug, Clone, Copy)]
pub struct PollPolicy {
    /// Quick right after submission so short drivers finish fast…
    pub first: Duration,
    /// …slower for long ones.
    pub max: Duration,
    /// How long a cluster may fail to answer about a driver before drover
    /// stops trusting that it knows the driver's fate. Until then the try
    /// shows "cluster unreachable since …" and nothing else happens; after
    /// it drover kills the driver and waits for the cluster to confirm.
    pub unreachable_grace: Duration,
    /// How long drover keeps sending a kill and waiting for the cluster to
    /// confirm that the driver ended; unconfirmed, the try ends `unknown`.
    pub kill_confirm: Duration,
}

impl Default for PollPolicy {
    fn default() -> Self {
        PollPolicy {
            first: Duration::from_millis(25),
            max: Duration::from_secs(2),
            unreachable_grace: Duration::from_secs(300),
            kill_confirm: Duration::from_secs(120),
        }
    }
}

/// The latest answer about one driver; `None` until the first poll.
pub(crate) type Latest = Option<Result<DriverStatus, CallError>>;

/// Per-driver calls in flight at once when a cluster has no list endpoint.
const PARALLEL_POLLS: usize = 32;

enum Cmd {
    Watch { id: String, tx: watch::Sender<Latest> },
    Unwatch { id: String },
}

/// Every backend's tracker, started on first use.
pub(crate) struct Trackers {
    poll: PollPolicy,
    by_backend: Mutex<HashMap<String, mpsc::UnboundedSender<Cmd>>>,
}

/// A driver being followed; dropping it stops following.
pub(crate) struct Watched {
    pub rx: watch::Receiver<Latest>,
    id: String,
    tx: mpsc::UnboundedSender<Cmd>,
}

impl Drop for Watched {
    fn drop(&mut self) {
        let _ = self.tx.send(Cmd::Unwatch { id: self.id.clone() });
    }
}

impl Trackers {
    pub(crate) fn new(poll: PollPolicy) -> Arc<Trackers> {
        Arc::new(Trackers {
            poll,
            by_backend: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn watch(&self, backend: &Backend, id: &str) -> Watched {
        let tx = {
            let mut map = self.by_backend.lock().expect("trackers");
            map.entry(backend.name().to_string())
                .or_insert_with(|| {
                    let (tx, rx) = mpsc::unbounded_channel();
                    tokio::spawn(track(backend.clone(), self.poll, rx));
                    tx
                })
                .clone()
        };
        let (wtx, rx) = watch::channel(None);
        let _ = tx.send(Cmd::Watch { id: id.to_string(), tx: wtx });
        Watched { rx, id: id.to_string(), tx }
    }
}

struct Entry {
    tx: watch::Sender<Latest>,
    interval: std::time::Duration,
    due: Instant,
}

async fn track(backend: Backend, poll: PollPolicy, mut rx: mpsc::UnboundedReceiver<Cmd>) {
    let mut entries: HashMap<String, Entry> = HashMap::new();
    // Learned on the first poll: whether the plugin has a batch call.
    let mut batch = true;
    loop {
        let next = entries.values().map(|e| e.due).min();
        let sleep = async {
            match next {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            cmd = rx.recv() => match cmd {
                Some(Cmd::Watch { id, tx }) => {
                    let interval = poll.first;
                    entries.insert(id, Entry { tx, interval, due: Instant::now() + interval });
                }
                Some(Cmd::Unwatch { id }) => {
                    entries.remove(&id);
                }
                None => return,
            },
            _ = sleep => {
                let now = Instant::now();
                let due: Vec<String> = entries.iter().filter(|(_, e)| e.due <= now).map(|(id, _)| id.clone()).collect();
                if due.is_empty() {
                    continue;
                }
                let polled = if batch {
                    let ids: Vec<String> = entries.keys().cloned().collect();
                    match backend.status_many(&ids).await {
                        Ok(list) => {
                            for (id, st) in ids.iter().zip(list) {
                                let answer = st.ok_or_else(|| {
                                    CallError::Plugin {
                                        kind: ErrorKind::NotFound,
                                        message: format!("the cluster does not know {id}"),
                                    }
                                });
                                if let Some(e) = entries.get(id) {
                                    e.tx.send_replace(Some(answer));
                                }
                            }
                            debug!(backend = %backend.name(), drivers = ids.len(), "batch status");
                            Some(ids)
                        }
                        Err(CallError::Plugin { kind: ErrorKind::Unsupported, .. }) => {
                            batch = false;
                            None
                        }
                        Err(e) => {
                            for id in &due {
                                if let Some(entry) = entries.get(id) {
                                    entry.tx.send_replace(Some(Err(e.clone())));
                                }
                            }
                            Some(due.clone())
                        }
                    }
                } else {
                    None
                };
                let polled = match polled {
                    Some(p) => p,
                    None => {
                        let answers: Vec<(String, Result<DriverStatus, CallError>)> = futures::stream::iter(due.clone())
                            .map(|id| {
                                let backend = backend.clone();
                                async move {
                                    let st = backend.status(&id).await;
                                    (id, st)
                                }
                            })
                            .buffer_unordered(PARALLEL_POLLS)
                            .collect()
                            .await;
                        for (id, st) in answers {
                            if let Some(e) = entries.get(&id) {
                                e.tx.send_replace(Some(st));
                            }
                        }
                        due
                    }
                };
                let now = Instant::now();
                for id in polled {
                    if let Some(e) = entries.get_mut(&id) {
                        e.interval = (e.interval * 3 / 2).min(poll.max);
                        e.due = now + e.interval;
                    }
                }
            }
        }
    }
}

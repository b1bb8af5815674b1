//! The delivery task: sends the outbox's due rows, marks them, and sleeps
//! until rows are added or the next retry is due.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use drover_store::{NotificationRow, Store};

use crate::config::{ConfigError, NotifierConfig};
use crate::message::Message;
use crate::send::Sender;

/// The longest wait between two attempts of one notification.
const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// Rows sent side by side per round.
const BATCH: i64 = 16;

struct Notifier {
    sender: Sender,
    max_attempts: u32,
    timeout: Duration,
}

/// The config file's notifiers, ready to send.
pub struct Notifiers {
    by_name: BTreeMap<String, Notifier>,
    client: reqwest::Client,
    /// Where people reach drover's UI; links in notifications start here.
    base_url: String,
}

impl Notifiers {
    /// Checks every notifier (secrets from `env`); all problems at once.
    pub fn build(
        configs: &BTreeMap<String, NotifierConfig>,
        base_url: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Notifiers, Vec<ConfigError>> {
        let mut by_name = BTreeMap::new();
        let mut errors = Vec::new();
        for (name, c) in configs {
            let checked = c.check(name, env).and_then(|checked| {
                let sender = Sender::new(checked.kind, checked.target)
                    .map_err(|message| ConfigError { name: name.clone(), message })?;
                Ok(Notifier { sender, max_attempts: checked.max_attempts, timeout: checked.timeout })
            });
            match checked {
                Ok(n) => {
                    by_name.insert(name.clone(), n);
                }
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Notifiers {
            by_name,
            client: reqwest::Client::new(),
            base_url: base_url.trim_end_matches('/').to_string(),
        })
    }

    pub fn names(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }

    /// One attempt at one row, recorded in the store.
    async fn attempt(&self, store: &Store, row: &NotificationRow) {
        let attempts = row.attempts + 1;
        let Some(n) = self.by_name.get(&row.notifier) else {
            let error = format!("notifier `{}` is not in the config file any more", row.notifier);
            warn!(notification = row.id, notifier = %row.notifier, "{error}; giving up");
            record(store.mark_notification_attempt_failed(row.id, attempts, &error, None).await);
            return;
        };
        let message = Message { row, base_url: &self.base_url };
        let sent = match tokio::time::timeout(n.timeout, n.sender.send(&self.client, &message)).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {}", humantime::format_duration(n.timeout))),
        };
        match sent {
            Ok(()) => {
                info!(notification = row.id, notifier = %row.notifier, event = %row.event, dag_id = %row.dag_id,
                      run_id = %row.run_id, attempts, "notification sent");
                record(store.mark_notification_sent(row.id, attempts).await);
            }
            Err(error) => {
                let next = retry_at(u32::try_from(attempts).unwrap_or(u32::MAX), n.max_attempts, Utc::now());
                warn!(notification = row.id, notifier = %row.notifier, event = %row.event, dag_id = %row.dag_id,
                      run_id = %row.run_id, attempts, error = %error,
                      retry_at = ?next, "notification delivery failed");
                record(store.mark_notification_attempt_failed(row.id, attempts, &error, next).await);
            }
        }
    }
}

fn record(r: drover_store::Result<()>) {
    if let Err(e) = r {
        error!(error = %e, "cannot record a notification's delivery");
    }
}

/// When to try again after `attempts` failed attempts: 1s, 2s, 4s, …
/// (at most 10 min); `None` once `max_attempts` have been made.
pub fn retry_at(attempts: u32, max_attempts: u32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if attempts >= max_attempts {
        return None;
    }
    let delay = 1u32
        .checked_shl(attempts.saturating_sub(1))
        .map_or(MAX_BACKOFF, |f| Duration::from_secs(u64::from(f)).min(MAX_BACKOFF));
    Some(now + chrono::Duration::from_std(delay).unwrap_or_default())
}

/// Delivers the outbox until `cancel` fires. Woken by the store when rows
/// are added, and by the clock when the next retry is due.
pub async fn deliver(store: Store, notifiers: Arc<Notifiers>, cancel: CancellationToken) {
    let added = store.outbox_added();
    loop {
        let mut failed_read = false;
        loop {
            match store.due_notifications(Utc::now(), BATCH).await {
                Ok(due) if due.is_empty() => break,
                Ok(due) => {
                    futures::future::join_all(due.iter().map(|row| notifiers.attempt(&store, row))).await;
                }
                Err(e) => {
                    error!(error = %e, "cannot read the notification outbox");
                    failed_read = true;
                    break;
                }
            }
        }
        let next = match store.next_notification_at().await {
            Ok(next) => next,
            Err(e) => {
                error!(error = %e, "cannot read the notification outbox");
                failed_read = true;
                None
            }
        };
        // After a database error, look again in a second rather than spin.
        let next = if failed_read { Some(Utc::now() + chrono::Duration::seconds(1)) } else { next };
        let sleep = async {
            match next {
                Some(t) => tokio::time::sleep((t - Utc::now()).to_std().unwrap_or_default()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = added.notified() => {}
            _ = sleep => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_doubling_from_a_second_and_gives_up_at_max_attempts() {
        let now = Utc::now();
        let wait = |n| retry_at(n, 10, now).map(|t| (t - now).num_seconds());
        assert_eq!(wait(1), Some(1));
        assert_eq!(wait(2), Some(2));
        assert_eq!(wait(4), Some(8));
        assert_eq!(wait(9), Some(256));
        assert_eq!(wait(10), None);
        assert_eq!(retry_at(40, 100, now).map(|t| (t - now).num_seconds()), Some(600));
    }
}

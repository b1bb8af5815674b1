//! The notification outbox: rows written in the same transaction as the
//! state change that causes them, read and marked by the delivery task.
//!
//! The store wakes the delivery task (a [`tokio::sync::Notify`]) after each
//! commit that added rows, so delivery needs no polling; a restarted drover
//! finds whatever was committed and not yet sent.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{FinishTry, Result, RunState, Store, clip};

text_enum!(
    /// Why a notification is sent, named like the DAG file's keys.
    NotifyEvent {
        OnFailure = "on_failure",
        OnRetry = "on_retry",
        OnSuccess = "on_success",
        OnRunFailure = "on_run_failure",
        OnRunSuccess = "on_run_success",
    }
);

text_enum!(
    /// Where a notification is in its delivery.
    NotificationStatus { Pending = "pending", Sent = "sent", Failed = "failed" }
);

/// A notification to write with the event that causes it.
#[derive(Debug, Clone)]
pub struct NewNotification<'a> {
    pub notifier: &'a str,
    pub event: NotifyEvent,
    pub dag_id: &'a str,
    pub run_id: &'a str,
    pub task_id: Option<&'a str>,
    pub try_number: Option<i64>,
    pub try_id: Option<i64>,
    pub state: &'a str,
    pub message: Option<&'a str>,
}

/// One outbox row, with what delivery needs from its try (the driver's
/// cluster id and tracking link, known once the try ended).
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct NotificationRow {
    pub id: i64,
    pub key: String,
    pub notifier: String,
    pub event: NotifyEvent,
    pub dag_id: String,
    pub run_id: String,
    pub task_id: Option<String>,
    pub try_number: Option<i64>,
    #[serde(skip)]
    pub r#try: Option<i64>,
    pub state: String,
    pub message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub status: NotificationStatus,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub cluster_id: Option<String>,
    pub tracking_url: Option<String>,
}

macro_rules! select {
    () => {
        "SELECT n.*, t.cluster_id, t.tracking_url FROM notifications n LEFT JOIN task_tries t ON t.id = n.try"
    };
}
macro_rules! filter {
    () => {
        " WHERE ($1 IS NULL OR n.status = $1) AND ($2 IS NULL OR n.dag_id = $2)"
    };
}

async fn insert(tx: &mut crate::db::Tx, now: DateTime<Utc>, notes: &[NewNotification<'_>]) -> Result<()> {
    for n in notes {
        on!(&mut *tx, |c| sqlx::query(
            "INSERT INTO notifications (key, notifier, event, dag_id, run_id, task_id, try_number, try, state, message,
               created_at, next_attempt_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(uuid::Uuid::new_v4().simple().to_string())
        .bind(n.notifier)
        .bind(n.event)
        .bind(n.dag_id)
        .bind(n.run_id)
        .bind(n.task_id)
        .bind(n.try_number)
        .bind(n.try_id)
        .bind(n.state)
        .bind(n.message.map(clip).as_deref())
        .bind(now)
        .bind(now)
        .execute(c)
        .await.map(|r| r.rows_affected()))?;
    }
    Ok(())
}

impl Store {
    /// Ends a try as [`Store::finish_try`] does and, in the same
    /// transaction, writes the notifications it causes.
    pub async fn finish_try_notifying(&self, f: &FinishTry<'_>, notes: &[NewNotification<'_>]) -> Result<()> {
        let now = Utc::now();
        let mut tx = self.write().await?;
        let archive = self.finish_try_in(&mut tx, f, now).await?;
        insert(&mut tx, now, notes).await?;
        crate::metrics::commit(tx).await?;
        if !notes.is_empty() {
            self.outbox.notify_one();
        }
        if archive {
            self.archive.notify_one();
        }
        Ok(())
    }

    /// Ends a run (success or failed) and writes the notifications it
    /// causes, in one transaction.
    pub async fn finish_run(&self, run_pk: i64, state: RunState, notes: &[NewNotification<'_>]) -> Result<()> {
        let now = Utc::now();
        let mut tx = self.write().await?;
        on!(&mut tx, |c| sqlx::query("UPDATE dag_runs SET state = $1, end_date = $2 WHERE id = $3")
            .bind(state)
            .bind(now)
            .bind(run_pk)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
        insert(&mut tx, now, notes).await?;
        crate::metrics::commit(tx).await?;
        if !notes.is_empty() {
            self.outbox.notify_one();
        }
        Ok(())
    }

    /// Fires when rows were added to the outbox (a permit is kept if no one
    /// was waiting, so a wake between a read and the wait is not lost).
    pub fn outbox_added(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.outbox.clone()
    }

    /// Pending notifications due at `now`, oldest first.
    pub async fn due_notifications(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<NotificationRow>> {
        Ok(read!(self, |c| sqlx::query_as(concat!(
            select!(),
            " WHERE n.status = 'pending' AND n.next_attempt_at <= $1 ORDER BY n.next_attempt_at, n.id LIMIT $2"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(c)
        .await)?)
    }

    /// When the next pending notification is due, if any is.
    pub async fn next_notification_at(&self) -> Result<Option<DateTime<Utc>>> {
        let row: Option<(DateTime<Utc>,)> = read!(self, |c| sqlx::query_as(
            "SELECT next_attempt_at FROM notifications WHERE status = 'pending' ORDER BY next_attempt_at LIMIT 1",
        )
        .fetch_optional(c)
        .await)?;
        Ok(row.map(|(at,)| at))
    }

    pub async fn mark_notification_sent(&self, id: i64, attempts: i64) -> Result<()> {
        write1!(self, |c| sqlx::query("UPDATE notifications SET status = 'sent', attempts = $1, sent_at = $2 WHERE id = $3")
            .bind(attempts)
            .bind(Utc::now())
            .bind(id)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Records a failed attempt: the next one at `retry_at`, or given up
    /// (`failed`) when there is none.
    pub async fn mark_notification_attempt_failed(
        &self,
        id: i64,
        attempts: i64,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<()> {
        let status = if retry_at.is_some() { NotificationStatus::Pending } else { NotificationStatus::Failed };
        write1!(self, |c| sqlx::query(
            "UPDATE notifications SET status = $1, attempts = $2, last_error = $3,
               next_attempt_at = COALESCE($4, next_attempt_at) WHERE id = $5",
        )
        .bind(status)
        .bind(attempts)
        .bind(clip(error).as_ref())
        .bind(retry_at)
        .bind(id)
        .execute(c)
        .await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Notifications newest first, optionally in one status or of one DAG;
    /// with the total that matched.
    pub async fn notifications(
        &self,
        status: Option<NotificationStatus>,
        dag_id: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<NotificationRow>, i64)> {
        let rows = read!(self, |c| sqlx::query_as(concat!(select!(), filter!(), " ORDER BY n.id DESC LIMIT $3 OFFSET $4"))
            .bind(status)
            .bind(dag_id)
            .bind(limit)
            .bind(offset)
            .fetch_all(c)
            .await)?;
        let (total,): (i64,) = read!(self, |c| sqlx::query_as(concat!("SELECT COUNT(*) FROM notifications n", filter!()))
            .bind(status)
            .bind(dag_id)
            .fetch_one(c)
            .await)?;
        Ok((rows, total))
    }
}

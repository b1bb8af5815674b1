//! Commands for the active scheduler, and the database's notifications.
//!
//! On PostgreSQL several drovers serve the API and one of them schedules
//! (the holder of the lease). A drover that takes an API call it cannot act
//! on itself writes it here ([`Store::send_command`]); the active scheduler
//! takes each open command under its fencing epoch ([`Store::take_command`]),
//! acts on it and writes the answer ([`Store::answer_command`]). Taking is
//! a write of its own, committed before the command is acted on: a
//! successor that finds a command taken by an earlier epoch and never
//! answered does not act on it again, it answers that it may have happened.
//!
//! Inserts and answers are announced with PostgreSQL's NOTIFY, delivered
//! when their transaction commits, so neither side polls: [`Listener`]
//! receives them. On SQLite (one drover) there is no one to tell, and
//! [`Store::notify`] does nothing.

use chrono::Utc;
use serde_json::Value;
use sqlx::postgres::PgListener;

use crate::db::Db;
use crate::{Json, Result, Store};

/// The channel a new command is announced on (payload: its id).
pub const COMMANDS_CHANNEL: &str = "drover_commands";
/// The channel the active scheduler's state changes go out on (payload:
/// the change as JSON), for the live pages of the drovers that stand by.
pub const CHANGES_CHANNEL: &str = "drover_changes";
/// The channel an answered command is announced on (payload: its id).
pub const ANSWERS_CHANNEL: &str = "drover_command_done";

/// A command not yet answered.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CommandRow {
    pub id: i64,
    pub body: Json<Value>,
    pub sent_by: String,
    /// The epoch of the scheduler that took it, if one did.
    pub taken_epoch: Option<i64>,
}

/// One notification: its channel and payload.
#[derive(Debug, Clone)]
pub struct Notification {
    pub channel: String,
    pub payload: String,
}

/// A connection listening on some of the database's channels.
pub struct Listener(PgListener);

impl Listener {
    /// The next notification. After the connection was lost and made
    /// again (notifications sent meanwhile are lost), `None` first, so the
    /// caller re-reads what it waits on.
    pub async fn recv(&mut self) -> Result<Option<Notification>> {
        Ok(self.0.try_recv().await?.map(|n| Notification {
            channel: n.channel().to_string(),
            payload: n.payload().to_string(),
        }))
    }
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

impl Store {
    /// Listens on `channels`; `None` on SQLite, which has no notifications.
    pub async fn listen(&self, channels: &[&str]) -> Result<Option<Listener>> {
        let Db::Postgres(pool) = &self.db else { return Ok(None) };
        let mut l = PgListener::connect_with(pool).await?;
        l.listen_all(channels.iter().copied()).await?;
        Ok(Some(Listener(l)))
    }

    /// Sends `payload` on `channel` (PostgreSQL only; at most 8000 bytes).
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<()> {
        if let Db::Postgres(pool) = &self.db {
            sqlx::query("SELECT pg_notify($1, $2)").bind(channel).bind(payload).execute(pool).await?;
        }
        Ok(())
    }

    /// Writes a command for the active scheduler and announces it; its id.
    pub async fn send_command(&self, body: &Value, sent_by: &str) -> Result<i64> {
        let mut tx = self.write().await?;
        let q = "INSERT INTO scheduler_commands (body, sent_by, created_at_ms) VALUES ($1, $2, $3) RETURNING id";
        let id: i64 = on!(&mut tx, |c| sqlx::query_scalar(q)
            .bind(Json(body))
            .bind(sent_by)
            .bind(now_ms())
            .fetch_one(c)
            .await)?;
        announce(&mut tx, COMMANDS_CHANNEL, id).await?;
        crate::metrics::commit(tx).await?;
        Ok(id)
    }

    /// Commands not yet answered, oldest first.
    pub async fn open_commands(&self) -> Result<Vec<CommandRow>> {
        let q = "SELECT id, body, sent_by, taken_epoch FROM scheduler_commands WHERE done_at_ms IS NULL ORDER BY id";
        read!(self, |c| sqlx::query_as(q).fetch_all(c).await).map_err(Into::into)
    }

    /// Takes an open command for this (fenced) handle's epoch; false when
    /// another scheduler took it first.
    pub async fn take_command(&self, id: i64) -> Result<bool> {
        let epoch = self.fence.unwrap_or(0);
        let q = "UPDATE scheduler_commands SET taken_epoch = $2 WHERE id = $1 AND taken_epoch IS NULL AND done_at_ms IS NULL";
        let n = write1!(self, |c| sqlx::query(q).bind(id).bind(epoch).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Writes a command's answer and announces it.
    pub async fn answer_command(&self, id: i64, answer: &Value) -> Result<()> {
        let mut tx = self.write().await?;
        let q = "UPDATE scheduler_commands SET answer = $2, done_at_ms = $3 WHERE id = $1 AND done_at_ms IS NULL";
        on!(&mut tx, |c| sqlx::query(q).bind(id).bind(Json(answer)).bind(now_ms()).execute(c).await.map(|r| r.rows_affected()))?;
        announce(&mut tx, ANSWERS_CHANNEL, id).await?;
        crate::metrics::commit(tx).await?;
        Ok(())
    }

    /// A command's answer, once it has one.
    pub async fn command_answer(&self, id: i64) -> Result<Option<Value>> {
        let q = "SELECT answer FROM scheduler_commands WHERE id = $1 AND done_at_ms IS NOT NULL";
        let a: Option<Option<Json<Value>>> = read!(self, |c| sqlx::query_scalar(q).bind(id).fetch_optional(c).await)?;
        Ok(a.flatten().map(|j| j.0))
    }
}

impl Store {
    /// Records who holds `epoch` and where its API answers.
    pub async fn record_epoch(&self, epoch: i64, holder: &str, api_url: &str) -> Result<()> {
        let q = "INSERT INTO scheduler_epochs (epoch, holder, api_url, acquired_at_ms) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (epoch) DO NOTHING";
        write1!(self, |c| sqlx::query(q)
            .bind(epoch)
            .bind(holder)
            .bind(api_url)
            .bind(now_ms())
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Who held `epoch` and where its API answered: (holder, api_url).
    pub async fn epoch_holder(&self, epoch: i64) -> Result<Option<(String, String)>> {
        let q = "SELECT holder, api_url FROM scheduler_epochs WHERE epoch = $1";
        read!(self, |c| sqlx::query_as(q).bind(epoch).fetch_optional(c).await).map_err(Into::into)
    }
}

/// NOTIFY inside the transaction: PostgreSQL delivers it on commit.
async fn announce(tx: &mut crate::db::Tx, channel: &str, id: i64) -> Result<()> {
    if let crate::db::Tx::Postgres(t) = tx {
        sqlx::query("SELECT pg_notify($1, $2)").bind(channel).bind(id.to_string()).execute(&mut **t).await?;
    }
    Ok(())
}

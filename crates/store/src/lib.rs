//! drover's durable state in SQLite.
//!
//! The scheduler commits every transition here before it acts on it (submits,
//! kills, starts a downstream task), so a process killed at any instant comes
//! back to exactly the state it had promised. The store knows nothing about
//! scheduling rules: it offers the transitions as single transactions and the
//! rows to read back.
//!
//! What it must not do: wait on the network or call a plugin inside a
//! transaction (the one writer would stall every other commit), or decide
//! what a transition means; callers name the transition, the store makes it
//! atomic.
//!
//! Queries are checked at run time by the tests in this crate rather than at
//! compile time, so building needs no database.

#[macro_use]
mod rows;
mod archive;
mod clean;
mod backfills;
mod notifications;
mod sessions;
mod pages;
mod pools;
pub mod metrics;

use std::path::Path;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
pub use sqlx::types::Json;
use sqlx::{SqlitePool, Sqlite, Transaction};

pub use backfills::{BackfillRow, NewBackfill, Rerun};
pub use archive::{ArchiveJob, ArchivedStreams, LogArchive, StreamCopy};
pub use notifications::{NewNotification, NotificationRow, NotificationStatus, NotifyEvent};
pub use pages::{DriverFilter, TiFilter};
pub use rows::*;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("a run `{run_id}` already exists for DAG `{dag_id}`")]
    RunExists { dag_id: String, run_id: String },
    #[error("{0} not found")]
    NotFound(String),
    #[error("a pool `{0}` already exists")]
    PoolExists(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A handle on the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    /// Reads: several connections, so the API never waits on a write.
    pool: SqlitePool,
    /// Writes: one connection. Writers queue here in order instead of
    /// contending for SQLite's write lock (whose busy handler sleeps).
    writer: SqlitePool,
    /// Woken after a commit that added notifications to the outbox.
    outbox: std::sync::Arc<tokio::sync::Notify>,
    /// Woken after a commit that left a driver log to archive.
    archive: std::sync::Arc<tokio::sync::Notify>,
}

impl Store {
    /// Opens (creating if needed) the database file, in WAL mode, and applies
    /// the embedded migrations.
    pub async fn open(path: &Path) -> Result<Store> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL in WAL mode: a commit survives a process crash (kill -9);
            // only an OS crash may lose the last transactions.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(std::time::Duration::from_secs(10));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations").run(&writer).await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        Ok(Store { pool, writer, outbox: Default::default(), archive: Default::default() })
    }

    /// A private in-memory database, for tests.
    pub async fn memory() -> Result<Store> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        // One in-memory database lives on one connection: reads and writes share it.
        Ok(Store { writer: pool.clone(), pool, outbox: Default::default(), archive: Default::default() })
    }

    /// A write transaction. IMMEDIATE takes SQLite's write lock up front, so
    /// a transaction that reads before it writes waits for other writers
    /// (busy_timeout) instead of failing with SQLITE_BUSY when it upgrades.
    async fn write(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }

    // ---- DAGs -------------------------------------------------------------

    /// Records a loaded DAG file; keeps its paused flag and schedule position.
    pub async fn upsert_dag(&self, d: &DagUpsert<'_>) -> Result<()> {
        sqlx::query(
            "INSERT INTO dags (dag_id, file, source_hash, description, schedule, is_active, updated_at)
             VALUES (?, ?, ?, ?, ?, 1, ?)
             ON CONFLICT (dag_id) DO UPDATE SET file = excluded.file, source_hash = excluded.source_hash,
               description = excluded.description, schedule = excluded.schedule, is_active = 1,
               updated_at = excluded.updated_at",
        )
        .bind(d.dag_id)
        .bind(d.file)
        .bind(d.source_hash)
        .bind(d.description)
        .bind(d.schedule)
        .bind(Utc::now())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Marks every DAG not in `present` as inactive (its file is gone).
    pub async fn deactivate_others(&self, present: &[String]) -> Result<()> {
        let mut tx = self.write().await?;
        let all: Vec<(String,)> = sqlx::query_as("SELECT dag_id FROM dags WHERE is_active = 1")
            .fetch_all(&mut *tx)
            .await?;
        for (id,) in all.into_iter().filter(|(id,)| !present.contains(id)) {
            sqlx::query("UPDATE dags SET is_active = 0, updated_at = ? WHERE dag_id = ?")
                .bind(Utc::now())
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        metrics::commit(tx).await?;
        Ok(())
    }

    /// Replaces the list of files that failed to load.
    pub async fn set_import_errors(&self, errors: &[(String, String)]) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM import_errors").execute(&mut *tx).await?;
        for (file, message) in errors {
            sqlx::query("INSERT INTO import_errors (file, message, updated_at) VALUES (?, ?, ?)")
                .bind(file)
                .bind(message)
                .bind(Utc::now())
                .execute(&mut *tx)
                .await?;
        }
        metrics::commit(tx).await?;
        Ok(())
    }

    pub async fn import_errors(&self) -> Result<Vec<ImportErrorRow>> {
        Ok(sqlx::query_as("SELECT * FROM import_errors ORDER BY file")
            .fetch_all(&self.pool)
            .await?)
    }

    pub async fn list_dags(&self) -> Result<Vec<DagRow>> {
        Ok(sqlx::query_as("SELECT * FROM dags ORDER BY dag_id")
            .fetch_all(&self.pool)
            .await?)
    }

    pub async fn get_dag(&self, dag_id: &str) -> Result<Option<DagRow>> {
        Ok(sqlx::query_as("SELECT * FROM dags WHERE dag_id = ?")
            .bind(dag_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn set_paused(&self, dag_id: &str, paused: bool) -> Result<()> {
        let r = sqlx::query("UPDATE dags SET is_paused = ?, updated_at = ? WHERE dag_id = ?")
            .bind(paused)
            .bind(Utc::now())
            .bind(dag_id)
            .execute(&self.writer)
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("DAG `{dag_id}`")));
        }
        Ok(())
    }

    // ---- runs -------------------------------------------------------------

    /// Creates a run and all its task instances (state none) in one
    /// transaction; for a scheduled run it also moves the DAG's schedule
    /// position, so a crash can neither lose nor repeat a cron tick.
    pub async fn create_run(&self, new: &NewRun<'_>) -> Result<RunRow> {
        let mut tx = self.write().await?;
        let run_pk = insert_run(&mut tx, new, None).await?;
        let row = run_by_pk(&mut tx, run_pk).await?;
        metrics::commit(tx).await?;
        Ok(row)
    }

    pub async fn set_run_state(&self, run_pk: i64, state: RunState) -> Result<()> {
        let now = Utc::now();
        sqlx::query(
            "UPDATE dag_runs SET state = ?,
               start_date = CASE WHEN ? = 'running' AND start_date IS NULL THEN ? ELSE start_date END,
               end_date = CASE WHEN ? IN ('success', 'failed') THEN ? ELSE end_date END
             WHERE id = ?",
        )
        .bind(state)
        .bind(state)
        .bind(now)
        .bind(state)
        .bind(now)
        .bind(run_pk)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    pub async fn runs_in_state(&self, states: &[RunState]) -> Result<Vec<RunRow>> {
        let mut out = Vec::new();
        for s in states {
            let mut rows: Vec<RunRow> =
                sqlx::query_as("SELECT * FROM dag_runs WHERE state = ? ORDER BY logical_date, id")
                    .bind(*s)
                    .fetch_all(&self.pool)
                    .await?;
            out.append(&mut rows);
        }
        out.sort_by_key(|r| (r.logical_date, r.id));
        Ok(out)
    }

    /// Newest first.
    pub async fn list_runs(&self, dag_id: &str, limit: i64, offset: i64) -> Result<Vec<RunRow>> {
        Ok(sqlx::query_as(
            "SELECT * FROM dag_runs WHERE dag_id = ? ORDER BY logical_date DESC, id DESC LIMIT ? OFFSET ?",
        )
        .bind(dag_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn count_runs(&self, dag_id: &str) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM dag_runs WHERE dag_id = ?")
            .bind(dag_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(n)
    }

    pub async fn get_run(&self, dag_id: &str, run_id: &str) -> Result<Option<RunRow>> {
        Ok(sqlx::query_as("SELECT * FROM dag_runs WHERE dag_id = ? AND run_id = ?")
            .bind(dag_id)
            .bind(run_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// The DAG's run just before `logical_date` (the previous run that
    /// `depends_on_past` looks at).
    pub async fn previous_run(&self, dag_id: &str, logical_date: DateTime<Utc>) -> Result<Option<RunRow>> {
        Ok(sqlx::query_as(
            "SELECT * FROM dag_runs WHERE dag_id = ? AND logical_date < ? ORDER BY logical_date DESC, id DESC LIMIT 1",
        )
        .bind(dag_id)
        .bind(logical_date)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn get_run_by_pk(&self, run_pk: i64) -> Result<RunRow> {
        let mut conn = self.pool.acquire().await?;
        Ok(sqlx::query_as("SELECT * FROM dag_runs WHERE id = ?")
            .bind(run_pk)
            .fetch_one(&mut *conn)
            .await?)
    }

    // ---- task instances ----------------------------------------------------

    pub async fn task_instances(&self, run_pk: i64) -> Result<Vec<TaskInstanceRow>> {
        Ok(sqlx::query_as("SELECT * FROM task_instances WHERE run = ? ORDER BY id")
            .bind(run_pk)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Sets a task instance's state (end_date for terminal ones).
    pub async fn set_ti_state(&self, ti: i64, state: TiState) -> Result<()> {
        let end = state.is_terminal().then(Utc::now);
        sqlx::query("UPDATE task_instances SET state = ?, end_date = COALESCE(?, end_date), next_try_at = NULL WHERE id = ?")
            .bind(state)
            .bind(end)
            .bind(ti)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Clears task instances so they run again (Airflow's "clear"): each
    /// goes back to `none` with its new `max_tries`, and the run back to
    /// `queued`, in one transaction. `(ti id, max_tries)` pairs.
    pub async fn clear_tis(&self, run_pk: i64, tis: &[(i64, i64)]) -> Result<()> {
        let mut tx = self.write().await?;
        reopen_run(&mut tx, run_pk, tis, None).await?;
        metrics::commit(tx).await?;
        Ok(())
    }

    // ---- tries and drivers -------------------------------------------------

    /// Records the intent to submit: a try with its submission key and the
    /// driver in `pending`. Committed before the plugin is called.
    pub async fn begin_try(&self, t: &NewTry<'_>) -> Result<TryRow> {
        let now = Utc::now();
        let mut tx = self.write().await?;
        let id = sqlx::query(
            "INSERT INTO task_tries (ti, try_number, state, backend, deploy_mode, submission_key, application,
               driver_state, started_at, deadline_at)
             VALUES (?, ?, 'running', ?, ?, ?, ?, 'pending', ?, ?)",
        )
        .bind(t.ti)
        .bind(t.try_number)
        .bind(t.backend)
        .bind(t.deploy_mode)
        .bind(t.submission_key)
        .bind(t.application.map(Json))
        .bind(now)
        .bind(t.deadline_at)
        .execute(&mut *tx)
        .await?
        .last_insert_rowid();
        add_event(&mut tx, id, now, DriverState::Pending, None, None, t.message.map(clip).as_deref()).await?;
        sqlx::query(
            "UPDATE task_instances SET state = 'running', try_number = ?, next_try_at = NULL,
               start_date = COALESCE(start_date, ?), end_date = NULL, queued_reason = NULL, queued_at = NULL
             WHERE id = ?",
        )
        .bind(t.try_number)
        .bind(now)
        .bind(t.ti)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query_as("SELECT * FROM task_tries WHERE id = ?")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        metrics::commit(tx).await?;
        Ok(row)
    }

    /// Records what is known about a try's driver; appends to its history
    /// when the state, the cluster's raw state or its attempt changed.
    /// Returns whether anything in the history changed.
    pub async fn update_driver(&self, try_id: i64, u: &DriverUpdate) -> Result<bool> {
        let now = Utc::now();
        let raw_state = u.raw_state.as_deref().map(clip);
        let message = u.message.as_deref().map(clip);
        let mut tx = self.write().await?;
        let cur: TryRow = sqlx::query_as("SELECT * FROM task_tries WHERE id = ?")
            .bind(try_id)
            .fetch_one(&mut *tx)
            .await?;
        let changed = cur.driver_state != u.state
            || (raw_state.is_some() && cur.raw_state.as_deref() != raw_state.as_deref())
            || (u.attempt.is_some() && cur.cluster_attempt != u.attempt);
        sqlx::query(
            "UPDATE task_tries SET driver_state = ?, raw_state = COALESCE(?, raw_state),
               cluster_id = COALESCE(?, cluster_id), cluster_attempt = COALESCE(?, cluster_attempt),
               location = COALESCE(?, location), tracking_url = COALESCE(?, tracking_url),
               pid = COALESCE(?, pid), log_path = COALESCE(?, log_path), message = COALESCE(?, message)
             WHERE id = ?",
        )
        .bind(u.state)
        .bind(raw_state.as_deref())
        .bind(u.cluster_id.as_deref())
        .bind(u.attempt)
        .bind(u.location.as_deref().map(clip).as_deref())
        .bind(u.tracking_url.as_deref().map(clip).as_deref())
        .bind(u.pid)
        .bind(u.log_path.as_deref())
        .bind(message.as_deref())
        .bind(try_id)
        .execute(&mut *tx)
        .await?;
        if changed {
            add_event(&mut tx, try_id, now, u.state, raw_state.as_deref(), u.attempt, message.as_deref()).await?;
        }
        metrics::commit(tx).await?;
        Ok(changed)
    }

    /// Ends a try and moves its task instance on, in one transaction.
    pub async fn finish_try(&self, f: &FinishTry<'_>) -> Result<()> {
        self.finish_try_notifying(f, &[]).await
    }

    /// Returns whether the try's driver log is now to be archived.
    async fn finish_try_in(&self, tx: &mut Transaction<'_, Sqlite>, f: &FinishTry<'_>, now: DateTime<Utc>) -> Result<bool> {
        sqlx::query("UPDATE task_tries SET state = ?, ended_at = ?, message = COALESCE(?, message) WHERE id = ?")
            .bind(f.try_state)
            .bind(now)
            .bind(f.message.map(clip).as_deref())
            .bind(f.try_id)
            .execute(&mut **tx)
            .await?;
        let end = f.ti_state.is_terminal().then_some(now);
        sqlx::query("UPDATE task_instances SET state = ?, next_try_at = ?, end_date = ? WHERE id = ?")
            .bind(f.ti_state)
            .bind(f.next_try_at)
            .bind(end)
            .bind(f.ti)
            .execute(&mut **tx)
            .await?;
        archive::mark_pending(tx, f.try_id).await
    }

    /// Commits the intent to stop a try before the kill is sent, so a
    /// restart honours it. A reason a person gave (kill, run marked failed)
    /// replaces one drover gave itself (a timeout); never the other way.
    pub async fn request_stop(&self, try_id: i64, reason: StopReason) -> Result<()> {
        sqlx::query(
            "UPDATE task_tries SET
               stop_reason = CASE WHEN stop_reason IS NULL OR ? THEN ? ELSE stop_reason END,
               stop_requested_at = COALESCE(stop_requested_at, ?)
             WHERE id = ? AND state = 'running'",
        )
        .bind(reason.is_final())
        .bind(reason)
        .bind(Utc::now())
        .bind(try_id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Marks a run failed by a user, in one transaction: the run is
    /// `failing`, each of its open tries is to be stopped for that reason,
    /// and its task instances that have not started are skipped.
    pub async fn mark_run_failing(&self, run_pk: i64) -> Result<()> {
        let now = Utc::now();
        let mut tx = self.write().await?;
        sqlx::query("UPDATE dag_runs SET failing = 1 WHERE id = ?")
            .bind(run_pk)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE task_tries SET stop_reason = 'run_failed', stop_requested_at = COALESCE(stop_requested_at, ?)
             WHERE state = 'running' AND ti IN (SELECT id FROM task_instances WHERE run = ?)",
        )
        .bind(now)
        .bind(run_pk)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE task_instances SET state = 'skipped', next_try_at = NULL, end_date = ?
             WHERE run = ? AND state IN ('none', 'queued', 'up_for_retry')",
        )
        .bind(now)
        .bind(run_pk)
        .execute(&mut *tx)
        .await?;
        metrics::commit(tx).await?;
        Ok(())
    }

    /// Sets what a person reads about a driver without changing its state
    /// (e.g. "cluster unreachable since …"); no history event.
    pub async fn note_driver(&self, try_id: i64, message: &str) -> Result<()> {
        sqlx::query("UPDATE task_tries SET message = ? WHERE id = ?")
            .bind(clip(message).as_ref())
            .bind(try_id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Tries still open: what a restarted scheduler must re-attach to.
    pub async fn open_tries(&self) -> Result<Vec<TryRow>> {
        Ok(sqlx::query_as("SELECT * FROM task_tries WHERE state = 'running' ORDER BY id")
            .fetch_all(&self.pool)
            .await?)
    }

    pub async fn tries(&self, ti: i64) -> Result<Vec<TryRow>> {
        Ok(sqlx::query_as("SELECT * FROM task_tries WHERE ti = ? ORDER BY try_number")
            .bind(ti)
            .fetch_all(&self.pool)
            .await?)
    }

    pub async fn get_try(&self, try_id: i64) -> Result<TryRow> {
        Ok(sqlx::query_as("SELECT * FROM task_tries WHERE id = ?")
            .bind(try_id)
            .fetch_one(&self.pool)
            .await?)
    }

    /// Drivers, newest first, optionally only those in `state`; `try_id`
    /// picks one.
    pub async fn drivers(
        &self,
        state: Option<DriverState>,
        try_id: Option<i64>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<DriverRow>, i64)> {
        macro_rules! from {
            () => {
                " FROM task_tries t JOIN task_instances ti ON ti.id = t.ti JOIN dag_runs r ON r.id = ti.run
                  WHERE (?1 IS NULL OR t.driver_state = ?1) AND (?2 IS NULL OR t.id = ?2)"
            };
        }
        let rows = sqlx::query_as(concat!(
            "SELECT t.*, r.dag_id, r.run_id, ti.task_id",
            from!(),
            " ORDER BY t.id DESC LIMIT ?3 OFFSET ?4"
        ))
        .bind(state)
        .bind(try_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let (total,): (i64,) = sqlx::query_as(concat!("SELECT COUNT(*)", from!()))
            .bind(state)
            .bind(try_id)
            .fetch_one(&self.pool)
            .await?;
        Ok((rows, total))
    }

    pub async fn driver_events(&self, try_id: i64) -> Result<Vec<DriverEventRow>> {
        Ok(sqlx::query_as("SELECT * FROM driver_events WHERE try = ? ORDER BY id")
            .bind(try_id)
            .fetch_all(&self.pool)
            .await?)
    }
}

/// The most of a cluster's message, raw state or a plugin's error that is
/// kept: a cluster answering megabytes must not grow the database, nor every
/// answer that lists tries.
pub const MAX_TEXT: usize = 4096;

/// `text` cut to [`MAX_TEXT`] bytes on a character boundary, saying how long
/// it was; borrowed when it already fits.
pub fn clip(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= MAX_TEXT {
        return text.into();
    }
    let mut end = MAX_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… (truncated, {} bytes)", &text[..end], text.len()).into()
}

/// Sets task instances of a run back to `none` with new max tries
/// (`(ti id, max_tries)` pairs), and the run to `queued`, optionally under a
/// backfill.
async fn reopen_run(tx: &mut Transaction<'_, Sqlite>, run_pk: i64, tis: &[(i64, i64)], backfill: Option<i64>) -> Result<()> {
    for (ti, max_tries) in tis {
        sqlx::query(
            "UPDATE task_instances SET state = 'none', max_tries = ?, next_try_at = NULL, end_date = NULL,
               queued_reason = NULL, queued_at = NULL
             WHERE id = ? AND run = ?",
        )
        .bind(max_tries)
        .bind(ti)
        .bind(run_pk)
        .execute(&mut **tx)
        .await?;
    }
    sqlx::query("UPDATE dag_runs SET state = 'queued', end_date = NULL, failing = 0, backfill_id = COALESCE(?, backfill_id) WHERE id = ?")
        .bind(backfill)
        .bind(run_pk)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Inserts a run with its task instances (state none), and moves a
/// scheduled run's DAG schedule position; `RunExists` if the id is taken.
async fn insert_run(tx: &mut Transaction<'_, Sqlite>, new: &NewRun<'_>, backfill: Option<i64>) -> Result<i64> {
    let inserted = sqlx::query(
        "INSERT INTO dag_runs (dag_id, run_id, run_type, logical_date, state, conf, params, dag_hash, dag_snapshot, created_at, backfill_id)
         VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?) ON CONFLICT (dag_id, run_id) DO NOTHING",
    )
    .bind(new.dag_id)
    .bind(new.run_id)
    .bind(new.run_type)
    .bind(new.logical_date)
    .bind(Json(new.conf))
    .bind(Json(new.params))
    .bind(new.dag_hash)
    .bind(new.dag_snapshot)
    .bind(Utc::now())
    .bind(backfill)
    .execute(&mut **tx)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(StoreError::RunExists {
            dag_id: new.dag_id.to_string(),
            run_id: new.run_id.to_string(),
        });
    }
    let run_pk = inserted.last_insert_rowid();
    for (task_id, max_tries) in &new.tasks {
        sqlx::query("INSERT INTO task_instances (run, task_id, state, max_tries) VALUES (?, ?, 'none', ?)")
            .bind(run_pk)
            .bind(task_id)
            .bind(*max_tries)
            .execute(&mut **tx)
            .await?;
    }
    if let Some(at) = new.schedule_position {
        sqlx::query("UPDATE dags SET last_scheduled_at = ? WHERE dag_id = ?")
            .bind(at)
            .bind(new.dag_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(run_pk)
}

async fn run_by_pk(tx: &mut Transaction<'_, Sqlite>, run_pk: i64) -> Result<RunRow> {
    Ok(sqlx::query_as("SELECT * FROM dag_runs WHERE id = ?")
        .bind(run_pk)
        .fetch_one(&mut **tx)
        .await?)
}

async fn add_event(
    tx: &mut Transaction<'_, Sqlite>,
    try_id: i64,
    at: DateTime<Utc>,
    state: DriverState,
    raw: Option<&str>,
    attempt: Option<i64>,
    message: Option<&str>,
) -> Result<()> {
    sqlx::query("INSERT INTO driver_events (try, at, state, raw_state, attempt, message) VALUES (?, ?, ?, ?, ?, ?)")
        .bind(try_id)
        .bind(at)
        .bind(state)
        .bind(raw)
        .bind(attempt)
        .bind(message)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

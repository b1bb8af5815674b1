//! drover's durable state, in SQLite (embedded, the default) or PostgreSQL
//! (shared by several drovers; see [`Store::connect`] and the lease module).
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
#[macro_use]
mod db;
mod lease;
mod commands;
mod archive;
mod clean;
mod backfills;
mod notifications;
mod sessions;
mod pages;
mod pools;
pub mod metrics;
pub mod pg_server;

use std::path::Path;

use chrono::{DateTime, Utc};
pub use sqlx::types::Json;

use db::{Db, Tx};

pub use backfills::{BackfillRow, NewBackfill, Rerun};
pub use archive::{ArchiveJob, ArchivedStreams, LogArchive, StreamCopy};
pub use commands::{ANSWERS_CHANNEL, CHANGES_CHANNEL, COMMANDS_CHANNEL, CommandRow, Listener, Notification};
pub use lease::{Lease, LeaseClock};
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
    /// This handle acts for a scheduler whose lease has moved on: another
    /// scheduler took over (or the lease expired), and nothing it writes
    /// may land. Its transaction was rolled back.
    #[error("the scheduler lease of epoch {epoch} is no longer held (another scheduler took over or it expired); this scheduler stops acting")]
    Fenced { epoch: i64 },
    #[error("unsupported database URL `{0}`: use a path to a SQLite file, sqlite://PATH or postgres://USER@HOST:PORT/DB")]
    BadUrl(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A handle on the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
    /// The scheduler lease epoch this handle writes under: every write
    /// transaction checks, inside itself, that the lease still has this
    /// epoch and has not expired, and aborts with [`StoreError::Fenced`]
    /// otherwise. `None` for handles that do not act for a scheduler.
    fence: Option<i64>,
    /// This process's own deadline for acting on that lease.
    clock: Option<LeaseClock>,
    /// Woken after a commit that added notifications to the outbox.
    outbox: std::sync::Arc<tokio::sync::Notify>,
    /// Woken after a commit that left a driver log to archive.
    archive: std::sync::Arc<tokio::sync::Notify>,
}

impl Store {
    fn with(db: Db) -> Store {
        Store { db, fence: None, clock: None, outbox: Default::default(), archive: Default::default() }
    }

    /// Opens (creating if needed) the SQLite database file, in WAL mode, and
    /// applies the embedded migrations.
    pub async fn open(path: &Path) -> Result<Store> {
        Ok(Store::with(Db::open_sqlite(path).await?))
    }

    /// Opens the database a URL names: `postgres://…` (or `postgresql://…`)
    /// for PostgreSQL, `sqlite://PATH` or a plain path for a SQLite file.
    /// Applies the migrations either way.
    pub async fn connect(url: &str) -> Result<Store> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Store::with(Db::open_postgres(url).await?));
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            return Store::open(Path::new(path)).await;
        }
        if url.contains("://") {
            return Err(StoreError::BadUrl(url.to_string()));
        }
        Store::open(Path::new(url)).await
    }

    /// A private in-memory database, for tests.
    pub async fn memory() -> Result<Store> {
        Ok(Store::with(Db::memory().await?))
    }

    /// Whether the rows live in PostgreSQL (shared by several drovers)
    /// rather than a SQLite file.
    pub fn is_postgres(&self) -> bool {
        self.db.is_postgres()
    }

    /// This handle, writing only while the scheduler lease has `epoch`.
    pub fn fenced(&self, epoch: i64) -> Store {
        Store { fence: Some(epoch), ..self.clone() }
    }

    /// This handle, fenced on `epoch` and also refusing to write once
    /// `clock` (renewed by the lease's keeper) has run out.
    pub fn fenced_until(&self, epoch: i64, clock: LeaseClock) -> Store {
        Store { fence: Some(epoch), clock: Some(clock), ..self.clone() }
    }

    /// Whether this process may still act on its lease (always, without
    /// one). Checked before anything that reaches a cluster.
    pub fn may_act(&self) -> bool {
        self.clock.as_ref().is_none_or(LeaseClock::valid)
    }

    /// A write transaction, fenced when this handle has an epoch.
    async fn write(&self) -> Result<Tx> {
        if let Some(epoch) = self.fence
            && !self.may_act()
        {
            return Err(StoreError::Fenced { epoch });
        }
        let mut tx = self.db.begin().await?;
        if let Some(epoch) = self.fence {
            lease::check(&mut tx, epoch).await?;
        }
        Ok(tx)
    }

    pub async fn close(&self) {
        self.db.close().await;
    }

    // ---- DAGs -------------------------------------------------------------

    /// Records a loaded DAG file; keeps its paused flag and schedule position.
    pub async fn upsert_dag(&self, d: &DagUpsert<'_>) -> Result<()> {
        write1!(self, |c| sqlx::query(
            "INSERT INTO dags (dag_id, file, source_hash, description, schedule, is_active, updated_at)
             VALUES ($1, $2, $3, $4, $5, TRUE, $6)
             ON CONFLICT (dag_id) DO UPDATE SET file = excluded.file, source_hash = excluded.source_hash,
               description = excluded.description, schedule = excluded.schedule, is_active = TRUE,
               updated_at = excluded.updated_at",
        )
        .bind(d.dag_id)
        .bind(d.file)
        .bind(d.source_hash)
        .bind(d.description)
        .bind(d.schedule)
        .bind(Utc::now())
        .execute(c)
        .await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Marks every DAG not in `present` as inactive (its file is gone).
    pub async fn deactivate_others(&self, present: &[String]) -> Result<()> {
        let mut tx = self.write().await?;
        let all: Vec<(String,)> = on!(&mut tx, |c| sqlx::query_as("SELECT dag_id FROM dags WHERE is_active = TRUE")
            .fetch_all(c)
            .await)?;
        for (id,) in all.into_iter().filter(|(id,)| !present.contains(id)) {
            on!(&mut tx, |c| sqlx::query("UPDATE dags SET is_active = FALSE, updated_at = $1 WHERE dag_id = $2")
                .bind(Utc::now())
                .bind(id)
                .execute(c)
                .await.map(|r| r.rows_affected()))?;
        }
        metrics::commit(tx).await?;
        Ok(())
    }

    /// Replaces the list of files that failed to load.
    pub async fn set_import_errors(&self, errors: &[(String, String)]) -> Result<()> {
        let mut tx = self.write().await?;
        on!(&mut tx, |c| sqlx::query("DELETE FROM import_errors").execute(c).await.map(|r| r.rows_affected()))?;
        for (file, message) in errors {
            on!(&mut tx, |c| sqlx::query("INSERT INTO import_errors (file, message, updated_at) VALUES ($1, $2, $3)")
                .bind(file)
                .bind(message)
                .bind(Utc::now())
                .execute(c)
                .await.map(|r| r.rows_affected()))?;
        }
        metrics::commit(tx).await?;
        Ok(())
    }

    pub async fn import_errors(&self) -> Result<Vec<ImportErrorRow>> {
        Ok(read!(self, |c| sqlx::query_as("SELECT * FROM import_errors ORDER BY file")
            .fetch_all(c)
            .await)?)
    }

    pub async fn list_dags(&self) -> Result<Vec<DagRow>> {
        Ok(read!(self, |c| sqlx::query_as("SELECT * FROM dags ORDER BY dag_id")
            .fetch_all(c)
            .await)?)
    }

    pub async fn get_dag(&self, dag_id: &str) -> Result<Option<DagRow>> {
        Ok(read!(self, |c| sqlx::query_as("SELECT * FROM dags WHERE dag_id = $1")
            .bind(dag_id)
            .fetch_optional(c)
            .await)?)
    }

    pub async fn set_paused(&self, dag_id: &str, paused: bool) -> Result<()> {
        let r = write1!(self, |c| sqlx::query("UPDATE dags SET is_paused = $1, updated_at = $2 WHERE dag_id = $3")
            .bind(paused)
            .bind(Utc::now())
            .bind(dag_id)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
        if r == 0 {
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
        write1!(self, |c| sqlx::query(
            "UPDATE dag_runs SET state = $1,
               start_date = CASE WHEN $2 = 'running' AND start_date IS NULL THEN $3 ELSE start_date END,
               end_date = CASE WHEN $4 IN ('success', 'failed') THEN $5 ELSE end_date END
             WHERE id = $6",
        )
        .bind(state)
        .bind(state)
        .bind(now)
        .bind(state)
        .bind(now)
        .bind(run_pk)
        .execute(c)
        .await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn runs_in_state(&self, states: &[RunState]) -> Result<Vec<RunRow>> {
        let mut out = Vec::new();
        for s in states {
            let mut rows: Vec<RunRow> =
                read!(self, |c| sqlx::query_as("SELECT * FROM dag_runs WHERE state = $1 ORDER BY logical_date, id")
                    .bind(*s)
                    .fetch_all(c)
                    .await)?;
            out.append(&mut rows);
        }
        out.sort_by_key(|r| (r.logical_date, r.id));
        Ok(out)
    }

    /// Newest first.
    pub async fn list_runs(&self, dag_id: &str, limit: i64, offset: i64) -> Result<Vec<RunRow>> {
        Ok(read!(self, |c| sqlx::query_as(
            "SELECT * FROM dag_runs WHERE dag_id = $1 ORDER BY logical_date DESC, id DESC LIMIT $2 OFFSET $3",
        )
        .bind(dag_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(c)
        .await)?)
    }

    pub async fn count_runs(&self, dag_id: &str) -> Result<i64> {
        let (n,): (i64,) = read!(self, |c| sqlx::query_as("SELECT COUNT(*) FROM dag_runs WHERE dag_id = $1")
            .bind(dag_id)
            .fetch_one(c)
            .await)?;
        Ok(n)
    }

    pub async fn get_run(&self, dag_id: &str, run_id: &str) -> Result<Option<RunRow>> {
        Ok(read!(self, |c| sqlx::query_as("SELECT * FROM dag_runs WHERE dag_id = $1 AND run_id = $2")
            .bind(dag_id)
            .bind(run_id)
            .fetch_optional(c)
            .await)?)
    }

    /// The DAG's run just before `logical_date` (the previous run that
    /// `depends_on_past` looks at).
    pub async fn previous_run(&self, dag_id: &str, logical_date: DateTime<Utc>) -> Result<Option<RunRow>> {
        Ok(read!(self, |c| sqlx::query_as(
            "SELECT * FROM dag_runs WHERE dag_id = $1 AND logical_date < $2 ORDER BY logical_date DESC, id DESC LIMIT 1",
        )
        .bind(dag_id)
        .bind(logical_date)
        .fetch_optional(c)
        .await)?)
    }

    pub async fn get_run_by_pk(&self, run_pk: i64) -> Result<RunRow> {
        Ok(read!(self, |c| sqlx::query_as("SELECT * FROM dag_runs WHERE id = $1")
            .bind(run_pk)
            .fetch_one(c)
            .await)?)
    }

    // ---- task instances ----------------------------------------------------

    pub async fn task_instances(&self, run_pk: i64) -> Result<Vec<TaskInstanceRow>> {
        Ok(read!(self, |c| sqlx::query_as("SELECT * FROM task_instances WHERE run = $1 ORDER BY id")
            .bind(run_pk)
            .fetch_all(c)
            .await)?)
    }

    /// Sets a task instance's state (end_date for terminal ones).
    pub async fn set_ti_state(&self, ti: i64, state: TiState) -> Result<()> {
        let end = state.is_terminal().then(Utc::now);
        write1!(self, |c| sqlx::query("UPDATE task_instances SET state = $1, end_date = COALESCE($2, end_date), next_try_at = NULL WHERE id = $3")
            .bind(state)
            .bind(end)
            .bind(ti)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
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
        let id: i64 = on!(&mut tx, |c| sqlx::query_scalar(
            "INSERT INTO task_tries (ti, try_number, state, backend, deploy_mode, submission_key, application,
               driver_state, started_at, deadline_at, epoch)
             VALUES ($1, $2, 'running', $3, $4, $5, $6, 'pending', $7, $8, $9) RETURNING id",
        )
        .bind(t.ti)
        .bind(t.try_number)
        .bind(t.backend)
        .bind(t.deploy_mode)
        .bind(t.submission_key)
        .bind(t.application.map(Json))
        .bind(now)
        .bind(t.deadline_at)
        .bind(self.fence)
        .fetch_one(c)
        .await)?;
        add_event(&mut tx, id, now, DriverState::Pending, None, None, t.message.map(clip).as_deref()).await?;
        on!(&mut tx, |c| sqlx::query(
            "UPDATE task_instances SET state = 'running', try_number = $1, next_try_at = NULL,
               start_date = COALESCE(start_date, $2), end_date = NULL, queued_reason = NULL, queued_at = NULL
             WHERE id = $3",
        )
        .bind(t.try_number)
        .bind(now)
        .bind(t.ti)
        .execute(c)
        .await.map(|r| r.rows_affected()))?;
        let row = on!(&mut tx, |c| sqlx::query_as("SELECT * FROM task_tries WHERE id = $1")
            .bind(id)
            .fetch_one(c)
            .await)?;
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
        let cur: TryRow = on!(&mut tx, |c| sqlx::query_as("SELECT * FROM task_tries WHERE id = $1")
            .bind(try_id)
            .fetch_one(c)
            .await)?;
        let changed = cur.driver_state != u.state
            || (raw_state.is_some() && cur.raw_state.as_deref() != raw_state.as_deref())
            || (u.attempt.is_some() && cur.cluster_attempt != u.attempt);
        on!(&mut tx, |c| sqlx::query(
            "UPDATE task_tries SET driver_state = $1, raw_state = COALESCE($2, raw_state),
               cluster_id = COALESCE($3, cluster_id), cluster_attempt = COALESCE($4, cluster_attempt),
               location = COALESCE($5, location), tracking_url = COALESCE($6, tracking_url),
               pid = COALESCE($7, pid), log_path = COALESCE($8, log_path), message = COALESCE($9, message)
             WHERE id = $10",
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
        .execute(c)
        .await.map(|r| r.rows_affected()))?;
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
    async fn finish_try_in(&self, tx: &mut Tx, f: &FinishTry<'_>, now: DateTime<Utc>) -> Result<bool> {
        on!(&mut *tx, |c| sqlx::query("UPDATE task_tries SET state = $1, ended_at = $2, message = COALESCE($3, message) WHERE id = $4")
            .bind(f.try_state)
            .bind(now)
            .bind(f.message.map(clip).as_deref())
            .bind(f.try_id)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
        let end = f.ti_state.is_terminal().then_some(now);
        on!(&mut *tx, |c| sqlx::query("UPDATE task_instances SET state = $1, next_try_at = $2, end_date = $3 WHERE id = $4")
            .bind(f.ti_state)
            .bind(f.next_try_at)
            .bind(end)
            .bind(f.ti)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
        archive::mark_pending(tx, f.try_id).await
    }

    /// Commits the intent to stop a try before the kill is sent, so a
    /// restart honours it. A reason a person gave (kill, run marked failed)
    /// replaces one drover gave itself (a timeout); never the other way.
    pub async fn request_stop(&self, try_id: i64, reason: StopReason) -> Result<()> {
        write1!(self, |c| sqlx::query(
            "UPDATE task_tries SET
               stop_reason = CASE WHEN stop_reason IS NULL OR $1 THEN $2 ELSE stop_reason END,
               stop_requested_at = COALESCE(stop_requested_at, $3)
             WHERE id = $4 AND state = 'running'",
        )
        .bind(reason.is_final())
        .bind(reason)
        .bind(Utc::now())
        .bind(try_id)
        .execute(c)
        .await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Marks a run failed by a user, in one transaction: the run is
    /// `failing`, each of its open tries is to be stopped for that reason,
    /// and its task instances that have not started are skipped.
    pub async fn mark_run_failing(&self, run_pk: i64) -> Result<()> {
        let now = Utc::now();
        let mut tx = self.write().await?;
        on!(&mut tx, |c| sqlx::query("UPDATE dag_runs SET failing = TRUE WHERE id = $1")
            .bind(run_pk)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
        on!(&mut tx, |c| sqlx::query(
            "UPDATE task_tries SET stop_reason = 'run_failed', stop_requested_at = COALESCE(stop_requested_at, $1)
             WHERE state = 'running' AND ti IN (SELECT id FROM task_instances WHERE run = $2)",
        )
        .bind(now)
        .bind(run_pk)
        .execute(c)
        .await.map(|r| r.rows_affected()))?;
        on!(&mut tx, |c| sqlx::query(
            "UPDATE task_instances SET state = 'skipped', next_try_at = NULL, end_date = $1
             WHERE run = $2 AND state IN ('none', 'queued', 'up_for_retry')",
        )
        .bind(now)
        .bind(run_pk)
        .execute(c)
        .await.map(|r| r.rows_affected()))?;
        metrics::commit(tx).await?;
        Ok(())
    }

    /// Sets what a person reads about a driver without changing its state
    /// (e.g. "cluster unreachable since …"); no history event.
    pub async fn note_driver(&self, try_id: i64, message: &str) -> Result<()> {
        write1!(self, |c| sqlx::query("UPDATE task_tries SET message = $1 WHERE id = $2")
            .bind(clip(message).as_ref())
            .bind(try_id)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Tries still open: what a restarted scheduler must re-attach to.
    pub async fn open_tries(&self) -> Result<Vec<TryRow>> {
        Ok(read!(self, |c| sqlx::query_as("SELECT * FROM task_tries WHERE state = 'running' ORDER BY id")
            .fetch_all(c)
            .await)?)
    }

    pub async fn tries(&self, ti: i64) -> Result<Vec<TryRow>> {
        Ok(read!(self, |c| sqlx::query_as("SELECT * FROM task_tries WHERE ti = $1 ORDER BY try_number")
            .bind(ti)
            .fetch_all(c)
            .await)?)
    }

    pub async fn get_try(&self, try_id: i64) -> Result<TryRow> {
        Ok(read!(self, |c| sqlx::query_as("SELECT * FROM task_tries WHERE id = $1")
            .bind(try_id)
            .fetch_one(c)
            .await)?)
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
                  WHERE ($1 IS NULL OR t.driver_state = $1) AND ($2 IS NULL OR t.id = $2)"
            };
        }
        let rows = read!(self, |c| sqlx::query_as(concat!(
            "SELECT t.*, r.dag_id, r.run_id, ti.task_id",
            from!(),
            " ORDER BY t.id DESC LIMIT $3 OFFSET $4"
        ))
        .bind(state)
        .bind(try_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(c)
        .await)?;
        let (total,): (i64,) = read!(self, |c| sqlx::query_as(concat!("SELECT COUNT(*)", from!()))
            .bind(state)
            .bind(try_id)
            .fetch_one(c)
            .await)?;
        Ok((rows, total))
    }

    pub async fn driver_events(&self, try_id: i64) -> Result<Vec<DriverEventRow>> {
        Ok(read!(self, |c| sqlx::query_as("SELECT * FROM driver_events WHERE try = $1 ORDER BY id")
            .bind(try_id)
            .fetch_all(c)
            .await)?)
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
async fn reopen_run(tx: &mut Tx, run_pk: i64, tis: &[(i64, i64)], backfill: Option<i64>) -> Result<()> {
    for (ti, max_tries) in tis {
        on!(&mut *tx, |c| sqlx::query(
            "UPDATE task_instances SET state = 'none', max_tries = $1, next_try_at = NULL, end_date = NULL,
               queued_reason = NULL, queued_at = NULL
             WHERE id = $2 AND run = $3",
        )
        .bind(max_tries)
        .bind(ti)
        .bind(run_pk)
        .execute(c)
        .await.map(|r| r.rows_affected()))?;
    }
    on!(&mut *tx, |c| sqlx::query("UPDATE dag_runs SET state = 'queued', end_date = NULL, failing = FALSE, backfill_id = COALESCE($1, backfill_id) WHERE id = $2")
        .bind(backfill)
        .bind(run_pk)
        .execute(c)
        .await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Inserts a run with its task instances (state none), and moves a
/// scheduled run's DAG schedule position; `RunExists` if the id is taken.
async fn insert_run(tx: &mut Tx, new: &NewRun<'_>, backfill: Option<i64>) -> Result<i64> {
    let inserted: Option<i64> = on!(&mut *tx, |c| sqlx::query_scalar(
        "INSERT INTO dag_runs (dag_id, run_id, run_type, logical_date, state, conf, params, dag_hash, dag_snapshot, created_at, backfill_id)
         VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7, $8, $9, $10) ON CONFLICT (dag_id, run_id) DO NOTHING RETURNING id",
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
    .fetch_optional(c)
    .await)?;
    let Some(run_pk) = inserted else {
        return Err(StoreError::RunExists {
            dag_id: new.dag_id.to_string(),
            run_id: new.run_id.to_string(),
        });
    };
    for (task_id, max_tries) in &new.tasks {
        on!(&mut *tx, |c| sqlx::query("INSERT INTO task_instances (run, task_id, state, max_tries) VALUES ($1, $2, 'none', $3)")
            .bind(run_pk)
            .bind(task_id)
            .bind(*max_tries)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
    }
    if let Some(at) = new.schedule_position {
        on!(&mut *tx, |c| sqlx::query("UPDATE dags SET last_scheduled_at = $1 WHERE dag_id = $2")
            .bind(at)
            .bind(new.dag_id)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
    }
    Ok(run_pk)
}

async fn run_by_pk(tx: &mut Tx, run_pk: i64) -> Result<RunRow> {
    Ok(on!(&mut *tx, |c| sqlx::query_as("SELECT * FROM dag_runs WHERE id = $1")
        .bind(run_pk)
        .fetch_one(c)
        .await)?)
}

async fn add_event(
    tx: &mut Tx,
    try_id: i64,
    at: DateTime<Utc>,
    state: DriverState,
    raw: Option<&str>,
    attempt: Option<i64>,
    message: Option<&str>,
) -> Result<()> {
    on!(&mut *tx, |c| sqlx::query("INSERT INTO driver_events (try, at, state, raw_state, attempt, message) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(try_id)
        .bind(at)
        .bind(state)
        .bind(raw)
        .bind(attempt)
        .bind(message)
        .execute(c)
        .await.map(|r| r.rows_affected()))?;
    Ok(())
}

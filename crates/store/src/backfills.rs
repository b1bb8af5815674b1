//! Backfills: a run for every schedule tick in a date range, created (and
//! earlier runs reopened) in one transaction, so a crash leaves either the
//! whole backfill or none of it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;

use crate::{NewRun, Result, RunRow, Store, StoreError};

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct BackfillRow {
    pub id: i64,
    pub dag_id: String,
    pub from_date: DateTime<Utc>,
    pub to_date: DateTime<Utc>,
    pub dag_run_conf: Json<serde_json::Value>,
    pub is_paused: bool,
    /// none | failed | completed: which ticks that already have a run get
    /// it run again.
    pub reprocess_behavior: String,
    pub max_active_runs: i64,
    pub run_backwards: bool,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

pub struct NewBackfill<'a> {
    pub dag_id: &'a str,
    pub from_date: DateTime<Utc>,
    pub to_date: DateTime<Utc>,
    pub dag_run_conf: &'a serde_json::Value,
    pub reprocess_behavior: &'a str,
    pub max_active_runs: i64,
    pub run_backwards: bool,
}

/// An ended run a backfill runs again: its chosen task instances go back
/// to `none` with their new max tries, the run to `queued`.
pub struct Rerun {
    pub run_pk: i64,
    pub tis: Vec<(i64, i64)>,
}

impl Store {
    /// Records a backfill with its new runs and reruns, all in one
    /// transaction; the runs belong to the backfill. `runs` and `reruns` in
    /// the order they are to start.
    pub async fn create_backfill(&self, b: &NewBackfill<'_>, runs: &[NewRun<'_>], reruns: &[Rerun]) -> Result<(BackfillRow, Vec<RunRow>)> {
        let now = Utc::now();
        let mut tx = self.write().await?;
        let id: i64 = on!(&mut tx, |c| sqlx::query_scalar(
            "INSERT INTO backfills (dag_id, from_date, to_date, dag_run_conf, reprocess_behavior, max_active_runs,
               run_backwards, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(b.dag_id)
        .bind(b.from_date)
        .bind(b.to_date)
        .bind(Json(b.dag_run_conf))
        .bind(b.reprocess_behavior)
        .bind(b.max_active_runs)
        .bind(b.run_backwards)
        .bind(now)
        .bind(now)
        .fetch_one(c)
        .await)?;
        let mut pks = Vec::new();
        for r in reruns {
            crate::reopen_run(&mut tx, r.run_pk, &r.tis, Some(id)).await?;
            pks.push(r.run_pk);
        }
        for new in runs {
            pks.push(crate::insert_run(&mut tx, new, Some(id)).await?);
        }
        let row = backfill_by_id(&mut tx, id).await?;
        let mut rows = Vec::new();
        for pk in pks {
            rows.push(crate::run_by_pk(&mut tx, pk).await?);
        }
        crate::metrics::commit(tx).await?;
        Ok((row, rows))
    }

    /// A DAG's backfills, newest first.
    pub async fn backfills(&self, dag_id: &str, limit: i64, offset: i64) -> Result<(Vec<BackfillRow>, i64)> {
        let rows = read!(self, |c| sqlx::query_as("SELECT * FROM backfills WHERE dag_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3")
            .bind(dag_id)
            .bind(limit)
            .bind(offset)
            .fetch_all(c)
            .await)?;
        let (total,): (i64,) = read!(self, |c| sqlx::query_as("SELECT COUNT(*) FROM backfills WHERE dag_id = $1")
            .bind(dag_id)
            .fetch_one(c)
            .await)?;
        Ok((rows, total))
    }

    pub async fn get_backfill(&self, id: i64) -> Result<Option<BackfillRow>> {
        Ok(read!(self, |c| sqlx::query_as("SELECT * FROM backfills WHERE id = $1").bind(id).fetch_optional(c).await)?)
    }

    /// Backfills not completed yet: the scheduler's to follow after a restart.
    pub async fn open_backfills(&self) -> Result<Vec<BackfillRow>> {
        Ok(read!(self, |c| sqlx::query_as("SELECT * FROM backfills WHERE completed_at IS NULL ORDER BY id").fetch_all(c).await)?)
    }

    /// How many of a backfill's runs there are, and how many have ended.
    pub async fn backfill_progress(&self, id: i64) -> Result<(i64, i64)> {
        let (total, done): (i64, i64) = read!(self, |c| sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN state IN ('success', 'failed') THEN 1 ELSE 0 END), 0) FROM dag_runs WHERE backfill_id = $1",
        )
        .bind(id)
        .fetch_one(c)
        .await)?;
        Ok((total, done))
    }

    pub async fn set_backfill_paused(&self, id: i64, paused: bool) -> Result<BackfillRow> {
        let mut tx = self.write().await?;
        let changed = on!(&mut tx, |c| sqlx::query("UPDATE backfills SET is_paused = $1, updated_at = $2 WHERE id = $3")
            .bind(paused)
            .bind(Utc::now())
            .bind(id)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("backfill {id}")));
        }
        let row = backfill_by_id(&mut tx, id).await?;
        crate::metrics::commit(tx).await?;
        Ok(row)
    }

    /// Marks a backfill completed; with `fail_queued`, its runs that never
    /// started end failed (a cancel), their tasks skipped.
    pub async fn complete_backfill(&self, id: i64, fail_queued: bool) -> Result<BackfillRow> {
        let now = Utc::now();
        let mut tx = self.write().await?;
        if fail_queued {
            on!(&mut tx, |c| sqlx::query(
                "UPDATE task_instances SET state = 'skipped', end_date = $1
                 WHERE state IN ('none', 'queued') AND run IN (SELECT id FROM dag_runs WHERE backfill_id = $2 AND state = 'queued')",
            )
            .bind(now)
            .bind(id)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
            on!(&mut tx, |c| sqlx::query("UPDATE dag_runs SET state = 'failed', end_date = $1 WHERE backfill_id = $2 AND state = 'queued'")
                .bind(now)
                .bind(id)
                .execute(c)
                .await.map(|r| r.rows_affected()))?;
        }
        on!(&mut tx, |c| sqlx::query("UPDATE backfills SET completed_at = COALESCE(completed_at, $1), updated_at = $2 WHERE id = $3")
            .bind(now)
            .bind(now)
            .bind(id)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
        let row = backfill_by_id(&mut tx, id).await?;
        crate::metrics::commit(tx).await?;
        Ok(row)
    }

    /// A DAG's runs with logical dates in `[from, to]`, oldest first.
    pub async fn runs_between(&self, dag_id: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<RunRow>> {
        Ok(read!(self, |c| sqlx::query_as(
            "SELECT * FROM dag_runs WHERE dag_id = $1 AND logical_date >= $2 AND logical_date <= $3 ORDER BY logical_date, id",
        )
        .bind(dag_id)
        .bind(from)
        .bind(to)
        .fetch_all(c)
        .await)?)
    }
}

async fn backfill_by_id(tx: &mut crate::db::Tx, id: i64) -> Result<BackfillRow> {
    Ok(on!(&mut *tx, |c| sqlx::query_as("SELECT * FROM backfills WHERE id = $1").bind(id).fetch_one(c).await)?)
}

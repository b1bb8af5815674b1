//! Forgetting history: runs that ended long ago, with everything recorded
//! under them, in one transaction. A run still open is never touched.

use chrono::{DateTime, Utc};

use crate::{Result, RunRow, Store};

macro_rules! ended {
    () => {
        "state IN ('success', 'failed') AND end_date IS NOT NULL AND end_date < $1"
    };
}
macro_rules! tries {
    () => {
        "SELECT id FROM task_tries WHERE ti IN (SELECT id FROM task_instances WHERE run IN (SELECT id FROM doomed))"
    };
}

impl Store {
    /// The runs that ended before `cutoff`, oldest first; unless `dry_run`,
    /// deleted with their task instances, tries, driver histories and
    /// notifications (and the scheduler commands answered before it).
    pub async fn clean_before(&self, cutoff: DateTime<Utc>, dry_run: bool) -> Result<Vec<RunRow>> {
        const SELECT: &str = concat!("SELECT * FROM dag_runs WHERE ", ended!(), " ORDER BY end_date, id");
        if dry_run {
            return Ok(read!(self, |c| sqlx::query_as(SELECT).bind(cutoff).fetch_all(c).await)?);
        }
        let mut tx = self.write().await?;
        let runs: Vec<RunRow> = on!(&mut tx, |c| sqlx::query_as(SELECT).bind(cutoff).fetch_all(c).await)?;
        on!(&mut tx, |c| sqlx::query("CREATE TEMP TABLE IF NOT EXISTS doomed (id BIGINT PRIMARY KEY)").execute(c).await.map(|r| r.rows_affected()))?;
        on!(&mut tx, |c| sqlx::query("DELETE FROM doomed").execute(c).await.map(|r| r.rows_affected()))?;
        on!(&mut tx, |c| sqlx::query(concat!("INSERT INTO doomed SELECT id FROM dag_runs WHERE ", ended!()))
            .bind(cutoff)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
        for statement in [
            concat!("DELETE FROM driver_events WHERE try IN (", tries!(), ")"),
            concat!(
                "DELETE FROM notifications WHERE try IN (",
                tries!(),
                ") OR (try IS NULL AND EXISTS (SELECT 1 FROM dag_runs r WHERE r.id IN (SELECT id FROM doomed)
                   AND r.dag_id = notifications.dag_id AND r.run_id = notifications.run_id))"
            ),
            "DELETE FROM task_tries WHERE ti IN (SELECT id FROM task_instances WHERE run IN (SELECT id FROM doomed))",
            "DELETE FROM task_instances WHERE run IN (SELECT id FROM doomed)",
            "DELETE FROM dag_runs WHERE id IN (SELECT id FROM doomed)",
            "DELETE FROM doomed",
        ] {
            on!(&mut tx, |c| sqlx::query(statement).execute(c).await.map(|r| r.rows_affected()))?;
        }
        // Answered scheduler commands of the same age go too.
        let q = "DELETE FROM scheduler_commands WHERE done_at_ms IS NOT NULL AND done_at_ms < $1";
        on!(&mut tx, |c| sqlx::query(q).bind(cutoff.timestamp_millis()).execute(c).await.map(|r| r.rows_affected()))?;
        crate::metrics::commit(tx).await?;
        Ok(runs)
    }
}

//! The driver-log archive's bookkeeping: which tries' logs are still to be
//! copied from their cluster, and what each copy holds.
//!
//! The transaction that ends a cluster-mode try marks its log `pending`
//! (committed before anything is copied), and the store wakes the archiver
//! after that commit; the archiver records the copy as `done`. A restarted
//! drover finds the tries still `pending` and copies them again.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

use crate::{Result, Store};

text_enum!(
    /// Where a try's driver-log copy is.
    LogArchive { Pending = "pending", Done = "done" }
);

/// One stream's copy, as the archiver made it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamCopy {
    /// The copy in drover's log folder; `None` when nothing was copied.
    pub file: Option<String>,
    /// Bytes of the driver's log in the copy (after the note).
    pub kept: u64,
    /// The log's length on the cluster, as far as it was read.
    pub total: u64,
    /// Bytes of drover's note at the top of the copy (what was cut and
    /// why); 0 when the copy is the whole log.
    pub note_bytes: u64,
    /// Why the copy is missing or incomplete: the cluster does not keep
    /// that stream apart (`unsupported`), no longer has the log, or failed.
    pub error: Option<String>,
}

/// Each stream's copy, by stream name (`stdout`, `stderr`).
pub type ArchivedStreams = BTreeMap<String, StreamCopy>;

/// A try whose driver log is to be copied.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ArchiveJob {
    pub try_id: i64,
    pub backend: String,
    pub cluster_id: String,
    pub dag_id: String,
    pub run_id: String,
    pub task_id: String,
    pub try_number: i64,
}

/// Marks a try's log `pending` when its driver ran on a cluster and its
/// fate is known (succeeded, failed or killed): a lost driver's id may name
/// another driver by now, and one whose fate is unknown may still write.
/// Runs in the transaction that ends the try; returns whether it marked it.
pub(crate) async fn mark_pending(tx: &mut crate::db::Tx, try_id: i64) -> Result<bool> {
    let r = on!(&mut *tx, |c| sqlx::query(
        "UPDATE task_tries SET log_archive = 'pending'
         WHERE id = $1 AND deploy_mode <> 'client' AND cluster_id IS NOT NULL
           AND driver_state IN ('succeeded', 'failed', 'killed') AND log_archive IS NULL",
    )
    .bind(try_id)
    .execute(c)
    .await.map(|r| r.rows_affected()))?;
    Ok(r > 0)
}

impl Store {
    /// Fires after a commit that left a log to archive (a permit is kept if
    /// no one was waiting, so a wake between a read and the wait is not lost).
    pub fn archive_added(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.archive.clone()
    }

    /// Tries whose driver log is still to be copied, oldest first, except
    /// those in `skip` (copies under way).
    pub async fn pending_archives(&self, skip: &[i64], limit: i64) -> Result<Vec<ArchiveJob>> {
        let rows: Vec<ArchiveJob> = read!(self, |c| sqlx::query_as(
            "SELECT t.id AS try_id, t.backend, t.cluster_id, r.dag_id, r.run_id, ti.task_id, t.try_number
             FROM task_tries t JOIN task_instances ti ON ti.id = t.ti JOIN dag_runs r ON r.id = ti.run
             WHERE t.log_archive = 'pending' ORDER BY t.id LIMIT $1",
        )
        .bind(limit.saturating_add(i64::try_from(skip.len()).unwrap_or(i64::MAX)))
        .fetch_all(c)
        .await)?;
        Ok(rows
            .into_iter()
            .filter(|j| !skip.contains(&j.try_id))
            .take(usize::try_from(limit).unwrap_or(0))
            .collect())
    }

    /// Records a try's copy as done.
    pub async fn finish_archive(&self, try_id: i64, streams: &ArchivedStreams, at: DateTime<Utc>) -> Result<()> {
        write1!(self, |c| sqlx::query(
            "UPDATE task_tries SET log_archive = 'done', log_archive_streams = $1, log_archived_at = $2
             WHERE id = $3 AND log_archive = 'pending'",
        )
        .bind(Json(streams))
        .bind(at)
        .bind(try_id)
        .execute(c)
        .await.map(|r| r.rows_affected()))?;
        Ok(())
    }
}

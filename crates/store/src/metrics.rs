//! What the store tells `/metrics`: how long the database takes to commit a write
//! transaction (the WAL's fsync, and the wait for the one writer), and how
//! many runs, task instances, drivers and notifications are in each state, counted when
//! Prometheus scrapes rather than kept up to date on every change.

use std::sync::LazyLock;
use std::time::Instant;

use prometheus_client::metrics::histogram::Histogram;

use crate::{Result, Store};

/// Commit latency of this process's write transactions, in seconds. One
/// per process, like the database file it measures.
static COMMIT_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    Histogram::new([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0])
});

/// The histogram of write-transaction commit times, for a registry.
pub fn commit_seconds() -> Histogram {
    COMMIT_SECONDS.clone()
}

/// Commits `tx`, timing the COMMIT.
pub(crate) async fn commit(tx: crate::db::Tx) -> Result<()> {
    let started = Instant::now();
    let r = tx.commit().await;
    COMMIT_SECONDS.observe(started.elapsed().as_secs_f64());
    Ok(r?)
}

/// How many rows are in each state right now.
#[derive(Debug, Clone, Default)]
pub struct StateCounts {
    /// DAG runs by state.
    pub runs: Vec<(String, i64)>,
    /// Task instances by state (`none` for one that has not started).
    pub task_instances: Vec<(String, i64)>,
    /// Tries' drivers by backend and driver state.
    pub drivers: Vec<(String, String, i64)>,
    /// Notifications by notifier and delivery status (pending, sent,
    /// failed): the outbox is the record of every delivery.
    pub notifications: Vec<(String, String, i64)>,
}

impl Store {
    /// Counts runs, task instances and drivers by state, for a scrape.
    pub async fn state_counts(&self) -> Result<StateCounts> {
        let runs = read!(self, |c| sqlx::query_as("SELECT state, COUNT(*) FROM dag_runs GROUP BY state ORDER BY state")
            .fetch_all(c)
            .await)?;
        let task_instances = read!(self, |c| sqlx::query_as("SELECT state, COUNT(*) FROM task_instances GROUP BY state ORDER BY state")
            .fetch_all(c)
            .await)?;
        let drivers = read!(self, |c| sqlx::query_as(
            "SELECT backend, driver_state, COUNT(*) FROM task_tries GROUP BY backend, driver_state ORDER BY 1, 2",
        )
        .fetch_all(c)
        .await)?;
        let notifications =
            read!(self, |c| sqlx::query_as("SELECT notifier, status, COUNT(*) FROM notifications GROUP BY notifier, status ORDER BY 1, 2")
                .fetch_all(c)
                .await)?;
        Ok(StateCounts { runs, task_instances, drivers, notifications })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_an_empty_store_as_nothing_and_times_commits() {
        let store = Store::memory().await.unwrap();
        let counts = store.state_counts().await.unwrap();
        assert!(counts.runs.is_empty() && counts.task_instances.is_empty() && counts.drivers.is_empty());
        let commits = || {
            let mut r = prometheus_client::registry::Registry::default();
            r.register("commit_seconds", "", commit_seconds());
            let mut text = String::new();
            prometheus_client::encoding::prometheus_text::encode(&mut text, &r).unwrap();
            let count = text.lines().find_map(|l| l.strip_prefix("commit_seconds_count ")).map(str::to_string);
            count.expect("a count").parse::<u64>().unwrap()
        };
        let before = commits();
        store.set_import_errors(&[("a.toml".into(), "bad".into())]).await.unwrap();
        assert!(commits() > before, "a write transaction's commit is timed");
    }
}

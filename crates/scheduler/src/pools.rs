//! Pools as callers see them: a pool's size with what it holds and what
//! waits for it (Airflow's pool resource), and the edits they may ask for.

use serde::Serialize;

/// A pool from the config file, written to the store at each start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSpec {
    pub name: String,
    /// -1: no limit.
    pub slots: i64,
    pub description: Option<String>,
}

/// What the scheduler last counted in a pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PoolUsage {
    /// Slots held by running drivers.
    pub running_slots: i64,
    /// Slots wanted by tasks queued for the pool.
    pub queued_slots: i64,
}

/// A pool with its counts, in Airflow's terms: `occupied` is what running
/// drivers hold; `open` what is left (-1 for a pool without a limit);
/// `queued` what ready tasks waiting for it would take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PoolView {
    pub name: String,
    pub slots: i64,
    pub description: Option<String>,
    pub occupied_slots: i64,
    pub running_slots: i64,
    pub queued_slots: i64,
    pub open_slots: i64,
}

impl PoolView {
    pub(crate) fn new(row: drover_store::PoolRow, usage: PoolUsage) -> PoolView {
        let open = if row.slots < 0 { -1 } else { (row.slots - usage.running_slots).max(0) };
        PoolView {
            name: row.name,
            slots: row.slots,
            description: row.description,
            occupied_slots: usage.running_slots,
            running_slots: usage.running_slots,
            queued_slots: usage.queued_slots,
            open_slots: open,
        }
    }
}

/// A change to a pool through the API.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum PoolEdit {
    Create { name: String, slots: i64, description: Option<String> },
    /// Only what is `Some` changes; `description: Some(None)` clears it.
    Update { name: String, slots: Option<i64>, description: Option<Option<String>> },
    Delete { name: String },
}

/// Checks a pool's name and size as Airflow would take them.
pub fn check_pool(name: &str, slots: Option<i64>) -> Result<(), String> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
        return Err(format!("invalid pool name `{name}`: use only letters, digits, '_', '.' and '-'"));
    }
    if let Some(n) = slots
        && n < -1
    {
        return Err(format!("pool `{name}`: slots must be -1 (no limit) or more, not {n}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(slots: i64) -> drover_store::PoolRow {
        drover_store::PoolRow { name: "p".into(), slots, description: None, updated_at: chrono::Utc::now() }
    }

    #[test]
    fn open_slots_are_the_size_less_what_runs() {
        let v = PoolView::new(row(5), PoolUsage { running_slots: 3, queued_slots: 7 });
        assert_eq!((v.occupied_slots, v.open_slots, v.queued_slots), (3, 2, 7));
        assert_eq!(PoolView::new(row(2), PoolUsage { running_slots: 3, queued_slots: 0 }).open_slots, 0, "shrunk below use");
        assert_eq!(PoolView::new(row(-1), PoolUsage { running_slots: 3, queued_slots: 0 }).open_slots, -1, "no limit");
    }

    #[test]
    fn names_and_sizes_are_checked() {
        assert!(check_pool("spark_big-1.x", Some(-1)).is_ok());
        assert!(check_pool("", Some(1)).unwrap_err().contains("invalid pool name"));
        assert!(check_pool("a b", None).is_err());
        assert!(check_pool("p", Some(-2)).unwrap_err().contains("-1 (no limit) or more"));
    }
}

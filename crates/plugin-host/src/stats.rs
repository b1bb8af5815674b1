//! What a backend's calls cost: per call name, how many, how many failed,
//! and how long they took (mean and max). Atomic counters, updated on every
//! call, read without stopping anyone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The calls a backend makes, in the contract's order.
pub const CALLS: [&str; 7] = ["validate", "submit", "find", "status", "status-many", "kill", "logs"];

#[derive(Default)]
struct Slot {
    count: AtomicU64,
    errors: AtomicU64,
    total_us: AtomicU64,
    max_us: AtomicU64,
}

/// One backend's counters, one slot per entry of [`CALLS`].
#[derive(Default)]
pub(crate) struct Counters {
    slots: [Slot; CALLS.len()],
}

impl Counters {
    pub(crate) fn record(&self, call: &str, took: Duration, ok: bool) {
        let Some(i) = CALLS.iter().position(|c| *c == call) else {
            return;
        };
        let slot = &self.slots[i];
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        slot.count.fetch_add(1, Ordering::Relaxed);
        if !ok {
            slot.errors.fetch_add(1, Ordering::Relaxed);
        }
        slot.total_us.fetch_add(us, Ordering::Relaxed);
        slot.max_us.fetch_max(us, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Vec<CallStats> {
        CALLS
            .iter()
            .zip(&self.slots)
            .map(|(call, s)| CallStats {
                call,
                count: s.count.load(Ordering::Relaxed),
                errors: s.errors.load(Ordering::Relaxed),
                total: Duration::from_micros(s.total_us.load(Ordering::Relaxed)),
                max: Duration::from_micros(s.max_us.load(Ordering::Relaxed)),
            })
            .collect()
    }
}

/// The calls of one name so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallStats {
    /// One of [`CALLS`].
    pub call: &'static str,
    pub count: u64,
    /// Calls that returned an error (of any kind).
    pub errors: u64,
    /// Time spent in the plugin over all calls (rate-limit waits excluded).
    pub total: Duration,
    /// The longest call.
    pub max: Duration,
}

impl CallStats {
    pub fn mean(&self) -> Duration {
        if self.count == 0 {
            Duration::ZERO
        } else {
            self.total / u32::try_from(self.count).unwrap_or(u32::MAX)
        }
    }

    /// Adds `other` (the same call on another backend) into `self`.
    pub fn merge(&mut self, other: &CallStats) {
        self.count += other.count;
        self.errors += other.errors;
        self.total += other.total;
        self.max = self.max.max(other.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_errors_mean_and_max_per_call() {
        let c = Counters::default();
        c.record("status", Duration::from_millis(10), true);
        c.record("status", Duration::from_millis(30), false);
        c.record("nonsense", Duration::from_millis(1), true);
        let all = c.snapshot();
        let status = all.iter().find(|s| s.call == "status").unwrap();
        assert_eq!((status.count, status.errors), (2, 1));
        assert_eq!(status.mean(), Duration::from_millis(20));
        assert_eq!(status.max, Duration::from_millis(30));
        assert!(all.iter().filter(|s| s.call != "status").all(|s| s.count == 0));
        let mut sum = *status;
        sum.merge(status);
        assert_eq!((sum.count, sum.max), (4, Duration::from_millis(30)));
    }
}

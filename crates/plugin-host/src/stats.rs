//! What a backend's calls cost: per call name, how many, how many failed,
//! and how long they took (mean, max, and a latency histogram for
//! Prometheus). Atomic counters, updated on every call, read without
//! stopping anyone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The calls a backend makes, in the contract's order.
pub const CALLS: [&str; 7] = ["validate", "submit", "find", "status", "status-many", "kill", "logs"];

/// Upper bounds, in seconds, of the latency histogram's buckets (a last,
/// unbounded bucket takes the rest): from a cached answer to a call that
/// waits on a slow cluster.
pub const LATENCY_BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0];

#[derive(Default)]
struct Slot {
    count: AtomicU64,
    errors: AtomicU64,
    total_us: AtomicU64,
    max_us: AtomicU64,
    /// Calls per bucket of [`LATENCY_BUCKETS`] (not cumulative).
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
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
        let secs = took.as_secs_f64();
        if let Some(b) = LATENCY_BUCKETS.iter().position(|le| secs <= *le) {
            slot.buckets[b].fetch_add(1, Ordering::Relaxed);
        }
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
                buckets: std::array::from_fn(|i| s.buckets[i].load(Ordering::Relaxed)),
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
    /// Calls per bucket of [`LATENCY_BUCKETS`], not cumulative; calls
    /// longer than the last bound are `count` less their sum.
    pub buckets: [u64; LATENCY_BUCKETS.len()],
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
        for (b, o) in self.buckets.iter_mut().zip(other.buckets) {
            *b += o;
        }
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
        // 10 ms falls in the 0.01 bucket, 30 ms in the 0.05 one.
        let at = |le: f64| status.buckets[LATENCY_BUCKETS.iter().position(|b| *b == le).unwrap()];
        assert_eq!((at(0.01), at(0.025), at(0.05)), (1, 0, 1));
        assert_eq!(status.buckets.iter().sum::<u64>(), 2);
        let mut sum = *status;
        sum.merge(status);
        assert_eq!((sum.count, sum.max), (4, Duration::from_millis(30)));
        assert_eq!(sum.buckets.iter().sum::<u64>(), 4);
    }
}

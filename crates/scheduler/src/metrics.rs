//! What drover tells Prometheus, and the scheduler loop's heartbeat.
//!
//! Two kinds of series. Events are counted where they happen and kept here
//! (loop lag, ready-to-submitted latency, submissions, kills, lost
//! drivers). States are counted when Prometheus scrapes, from the store
//! and the backends' own call counters ([`Snapshot`]), so no gauge can
//! drift from the database and nothing is updated on the hot path for
//! them. Every scrape builds a fresh registry over both.
//!
//! The heartbeat is a timestamp the loop writes at the start of every turn.
//! The loop turns at least every `health_threshold / 6` even when idle
//! (Airflow's ratio: a heartbeat every 5 s, unhealthy after 30 s), so a
//! heartbeat older than the threshold means the loop is stuck.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use drover_plugin_host::{CallStats, LATENCY_BUCKETS};
use drover_store::metrics::StateCounts;

/// The `Content-Type` of what [`Metrics::render`] returns (Prometheus's text
/// format 0.0.4, which `promtool check metrics` reads).
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

type BackendLabel = [(&'static str, String); 1];

fn backend(name: &str) -> BackendLabel {
    [("backend", name.to_string())]
}

/// Seconds, from a quick hand-off to a cluster that makes drivers wait.
fn latency_buckets() -> Histogram {
    Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0])
}

/// The scheduler's own series and its heartbeat; one per scheduler.
pub(crate) struct Metrics {
    /// How much later than planned the loop got to its heartbeat: the time
    /// it spent busy with events and steps.
    loop_lag: Histogram,
    /// From a task instance being ready (its upstream done, or its retry
    /// due) to the cluster accepting its driver.
    ready_to_submitted: Family<BackendLabel, Histogram, fn() -> Histogram>,
    submissions: Family<BackendLabel, Counter>,
    kills: Family<BackendLabel, Counter>,
    lost: Family<BackendLabel, Counter>,
    /// Unix milliseconds of the loop's last turn.
    heartbeat_ms: AtomicI64,
    /// A heartbeat older than this is a stalled loop.
    pub(crate) health_threshold: Duration,
}

impl Metrics {
    pub(crate) fn new(health_threshold: Duration) -> Metrics {
        Metrics {
            loop_lag: Histogram::new([0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0]),
            ready_to_submitted: Family::new_with_constructor(latency_buckets),
            submissions: Family::default(),
            kills: Family::default(),
            lost: Family::default(),
            heartbeat_ms: AtomicI64::new(Utc::now().timestamp_millis()),
            health_threshold,
        }
    }

    /// How often the loop must turn, at the least, to show it is alive.
    pub(crate) fn heartbeat_every(&self) -> Duration {
        (self.health_threshold / 6).max(Duration::from_millis(10))
    }

    /// The loop is turning now.
    pub(crate) fn beat(&self) {
        self.heartbeat_ms.store(Utc::now().timestamp_millis(), Ordering::Relaxed);
    }

    pub(crate) fn latest_heartbeat(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.heartbeat_ms.load(Ordering::Relaxed)).unwrap_or_default()
    }

    pub(crate) fn woke_late(&self, by: Duration) {
        self.loop_lag.observe(by.as_secs_f64());
    }

    /// A cluster accepted a driver; `ready_at` is when its task could start
    /// (unknown for a try picked up again after a restart).
    pub(crate) fn submitted(&self, backend_name: &str, ready_at: Option<DateTime<Utc>>) {
        let label = backend(backend_name);
        self.submissions.get_or_create(&label).inc();
        if let Some(at) = ready_at {
            let waited = (Utc::now() - at).to_std().unwrap_or_default();
            self.ready_to_submitted.get_or_create(&label).observe(waited.as_secs_f64());
        }
    }

    pub(crate) fn killed(&self, backend_name: &str) {
        self.kills.get_or_create(&backend(backend_name)).inc();
    }

    pub(crate) fn lost(&self, backend_name: &str) {
        self.lost.get_or_create(&backend(backend_name)).inc();
    }

    /// Every series in Prometheus's text format, with the states counted
    /// in `snapshot`.
    pub(crate) fn render(&self, snapshot: Snapshot) -> String {
        let mut r = Registry::with_prefix("drover");
        r.register(
            "scheduler_loop_lag_seconds",
            "How much later than planned the scheduler loop got to its heartbeat (busy meanwhile)",
            self.loop_lag.clone(),
        );
        r.register(
            "ready_to_submitted_seconds",
            "From a task instance being ready to run to the cluster accepting its driver",
            self.ready_to_submitted.clone(),
        );
        r.register("driver_submissions", "Drivers a cluster accepted", self.submissions.clone());
        r.register("driver_kills", "Drivers that ended killed (by a person, a timeout or a failed run)", self.kills.clone());
        r.register("drivers_lost", "Drivers their cluster lost", self.lost.clone());
        r.register(
            "store_commit_seconds",
            "How long SQLite took to commit a write transaction",
            drover_store::metrics::commit_seconds(),
        );
        r.register_collector(Box::new(snapshot));
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &r).expect("writing to a String");
        out
    }
}

/// States counted at scrape time (names get the registry's `drover_` prefix).
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub counts: StateCounts,
    /// Each backend's call counters.
    pub calls: Vec<(String, Vec<CallStats>)>,
    pub heartbeat: DateTime<Utc>,
    /// Each pool with what it holds and what waits for it.
    pub pools: Vec<crate::PoolView>,
}

/// One gauge family: a value per label set.
fn gauge(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: impl Iterator<Item = (Vec<(&'static str, String)>, i64)>,
) -> Result<(), std::fmt::Error> {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, n) in rows {
        ConstGauge::new(n).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

impl Collector for Snapshot {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        gauge(
            &mut enc,
            "dag_runs",
            "DAG runs by state",
            self.counts.runs.iter().map(|(s, n)| (vec![("state", s.clone())], *n)),
        )?;
        gauge(
            &mut enc,
            "task_instances",
            "Task instances by state (none: not started)",
            self.counts.task_instances.iter().map(|(s, n)| (vec![("state", s.clone())], *n)),
        )?;
        gauge(
            &mut enc,
            "drivers",
            "Tries' drivers by backend and driver state",
            self.counts
                .drivers
                .iter()
                .map(|(b, s, n)| (vec![("backend", b.clone()), ("state", s.clone())], *n)),
        )?;
        gauge(
            &mut enc,
            "notifications",
            "Notifications in the outbox by notifier and delivery status (pending, sent, failed: given up)",
            self.counts
                .notifications
                .iter()
                .map(|(b, s, n)| (vec![("notifier", b.clone()), ("status", s.clone())], *n)),
        )?;
        // Airflow's pool.{slots,open_slots,running_slots,queued_slots}; a
        // pool without a limit has -1 slots and -1 open, as in the API.
        type Count = fn(&crate::PoolView) -> i64;
        let pool_gauges: [(&str, &str, Count); 4] = [
            ("pool_slots", "Slots of each pool (-1: no limit)", |p| p.slots),
            ("pool_open_slots", "Slots of each pool no running driver holds (-1: no limit)", |p| p.open_slots),
            ("pool_running_slots", "Slots of each pool that running drivers hold", |p| p.running_slots),
            ("pool_queued_slots", "Slots of each pool that queued tasks wait for", |p| p.queued_slots),
        ];
        for (name, help, value) in pool_gauges {
            gauge(&mut enc, name, help, self.pools.iter().map(|p| (vec![("pool", p.name.clone())], value(p))))?;
        }
        let with_calls = || {
            self.calls
                .iter()
                .flat_map(|(b, calls)| calls.iter().map(move |c| (vec![("backend", b.clone()), ("call", c.call.to_string())], c)))
        };
        let mut m = enc.encode_descriptor("plugin_calls", "Calls into backends' plugins", None, MetricType::Counter)?;
        for (labels, c) in with_calls() {
            ConstCounter::new(c.count).encode(m.encode_family(&labels)?)?;
        }
        let mut m = enc.encode_descriptor(
            "plugin_call_errors",
            "Calls into backends' plugins that returned an error",
            None,
            MetricType::Counter,
        )?;
        for (labels, c) in with_calls() {
            ConstCounter::new(c.errors).encode(m.encode_family(&labels)?)?;
        }
        let mut m = enc.encode_descriptor(
            "plugin_call_duration_seconds",
            "Time spent in calls into backends' plugins (rate-limit waits excluded)",
            None,
            MetricType::Histogram,
        )?;
        for (labels, c) in with_calls() {
            let buckets: Vec<(f64, u64)> = LATENCY_BUCKETS.iter().copied().zip(c.buckets).collect();
            m.encode_family(&labels)?
                .encode_histogram::<NoLabelSet>(c.total.as_secs_f64(), c.count, &buckets, None)?;
        }
        let m = enc.encode_descriptor(
            "scheduler_heartbeat_timestamp_seconds",
            "When the scheduler loop last turned (unix seconds)",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(self.heartbeat.timestamp_millis() as f64 / 1000.0).encode(m)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_events_and_scrape_time_states() {
        let m = Metrics::new(Duration::from_secs(30));
        m.submitted("yarn", Some(Utc::now() - chrono::Duration::milliseconds(20)));
        m.killed("yarn");
        m.woke_late(Duration::from_millis(2));
        let mut status = CallStats { call: "status", count: 3, errors: 1, total: Duration::from_millis(30), max: Duration::from_millis(20), buckets: [0; LATENCY_BUCKETS.len()] };
        status.buckets[3] = 2;
        status.buckets[4] = 1;
        let text = m.render(Snapshot {
            counts: StateCounts {
                runs: vec![("success".into(), 2)],
                task_instances: vec![("none".into(), 1), ("running".into(), 4)],
                drivers: vec![("yarn".into(), "running".into(), 4)],
                notifications: vec![("ops".into(), "failed".into(), 1), ("ops".into(), "sent".into(), 5)],
            },
            calls: vec![("yarn".into(), vec![status])],
            heartbeat: Utc::now(),
            pools: vec![
                crate::PoolView {
                    name: "spark".into(),
                    slots: 3,
                    description: None,
                    occupied_slots: 2,
                    running_slots: 2,
                    queued_slots: 4,
                    open_slots: 1,
                },
                crate::PoolView {
                    name: "default_pool".into(),
                    slots: -1,
                    description: None,
                    occupied_slots: 0,
                    running_slots: 0,
                    queued_slots: 0,
                    open_slots: -1,
                },
            ],
        });
        for line in [
            "drover_driver_submissions_total{backend=\"yarn\"} 1",
            "drover_driver_kills_total{backend=\"yarn\"} 1",
            "drover_ready_to_submitted_seconds_count{backend=\"yarn\"} 1",
            "drover_scheduler_loop_lag_seconds_count 1",
            "drover_dag_runs{state=\"success\"} 2",
            "drover_task_instances{state=\"running\"} 4",
            "drover_drivers{backend=\"yarn\",state=\"running\"} 4",
            "drover_notifications{notifier=\"ops\",status=\"sent\"} 5",
            "drover_notifications{notifier=\"ops\",status=\"failed\"} 1",
            "drover_plugin_calls_total{backend=\"yarn\",call=\"status\"} 3",
            "drover_plugin_call_errors_total{backend=\"yarn\",call=\"status\"} 1",
            "drover_plugin_call_duration_seconds_bucket{backend=\"yarn\",call=\"status\",le=\"0.01\"} 2",
            "drover_plugin_call_duration_seconds_bucket{backend=\"yarn\",call=\"status\",le=\"+Inf\"} 3",
            "drover_plugin_call_duration_seconds_count{backend=\"yarn\",call=\"status\"} 3",
            "drover_pool_slots{pool=\"spark\"} 3",
            "drover_pool_open_slots{pool=\"spark\"} 1",
            "drover_pool_running_slots{pool=\"spark\"} 2",
            "drover_pool_queued_slots{pool=\"spark\"} 4",
            "drover_pool_slots{pool=\"default_pool\"} -1",
            "drover_pool_open_slots{pool=\"default_pool\"} -1",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
        }
        assert!(text.contains("# TYPE drover_store_commit_seconds histogram"), "{text}");
        assert!(text.contains("# HELP drover_pool_open_slots "), "{text}");
        assert!(text.contains("# TYPE drover_pool_open_slots gauge"), "{text}");
        assert!(text.contains("drover_scheduler_heartbeat_timestamp_seconds "), "{text}");
    }
}

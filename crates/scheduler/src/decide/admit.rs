//! Who gets room. Ready tasks wait in one queue, the heaviest first
//! (`priority_weight` as its weight rule sums it), then the oldest run
//! (logical date), then the DAG's order. A task starts when its pool has the
//! slots it takes, its DAG is under `max_active_tasks` and its backend under
//! `max_running_drivers`; one that does not fit does not hold up lighter
//! ones behind it that do, as in Airflow.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};

/// A task instance ready to start, waiting for room. Ordered as it is served.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Waiting {
    pub priority: Reverse<i64>,
    pub logical_date: DateTime<Utc>,
    pub run_pk: i64,
    /// The task's place in its DAG's order.
    pub order: usize,
    pub ti: i64,
    pub task_id: String,
    pub try_number: i64,
    pub dag_id: String,
    pub pool: String,
    pub slots: u32,
    pub backend: String,
}

/// The ready tasks, each task instance once.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    order: BTreeSet<Waiting>,
    by_ti: HashMap<i64, Waiting>,
    /// How many wait for each pool, and the slots they want.
    per_pool: HashMap<String, (usize, i64)>,
}

impl Queue {
    /// Adds a ready task, replacing what was queued for its instance.
    /// Returns whether the instance was not queued before.
    pub(crate) fn push(&mut self, w: Waiting) -> bool {
        let new = self.remove(w.ti).is_none();
        let n = self.per_pool.entry(w.pool.clone()).or_default();
        n.0 += 1;
        n.1 += i64::from(w.slots);
        self.order.insert(w.clone());
        self.by_ti.insert(w.ti, w);
        new
    }

    pub(crate) fn remove(&mut self, ti: i64) -> Option<Waiting> {
        let w = self.by_ti.remove(&ti)?;
        self.order.remove(&w);
        if let Some(n) = self.per_pool.get_mut(&w.pool) {
            n.0 -= 1;
            n.1 -= i64::from(w.slots);
            if n.0 == 0 {
                self.per_pool.remove(&w.pool);
            }
        }
        Some(w)
    }

    /// Forgets every task of a run.
    pub(crate) fn remove_run(&mut self, run_pk: i64) {
        let tis: Vec<i64> = self.order.iter().filter(|w| w.run_pk == run_pk).map(|w| w.ti).collect();
        for ti in tis {
            self.remove(ti);
        }
    }

    pub(crate) fn get(&self, ti: i64) -> Option<&Waiting> {
        self.by_ti.get(&ti)
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Waiting> {
        self.order.iter()
    }

    /// The slots the queued tasks want, per pool.
    pub(crate) fn slots_per_pool(&self) -> impl Iterator<Item = (&str, i64)> {
        self.per_pool.iter().map(|(p, n)| (p.as_str(), n.1))
    }
}

/// What may still start: open slots per pool (a pool missing here does not
/// exist; `i64::MAX` for one without a limit), and how many more tasks each
/// capped DAG and drivers each capped backend may take.
#[derive(Debug, Default, Clone)]
pub(crate) struct Room {
    pub pools: HashMap<String, i64>,
    pub dags: HashMap<String, usize>,
    pub backends: HashMap<String, usize>,
}

/// Why a ready task does not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Blocked {
    NoPool,
    Pool { open: i64 },
    Dag,
    Backend,
}

impl Blocked {
    /// Airflow's name for the dependency (ti_deps) this is.
    pub(crate) fn airflow_name(&self) -> &'static str {
        match self {
            Blocked::NoPool | Blocked::Pool { .. } => "Pool Slots Available",
            // Airflow's DagTISlotsAvailableDep: the DAG's max_active_tasks.
            Blocked::Dag => "Task Instance Slots Available",
            Blocked::Backend => "Backend Capacity",
        }
    }
}

/// Airflow's name for the dependency a queued task waits for, from the
/// reason [`reason`] wrote for it (the store keeps the text).
pub fn dependency_name(reason: &str) -> &'static str {
    if reason.starts_with("DAG `") {
        Blocked::Dag.airflow_name()
    } else if reason.starts_with("backend `") {
        Blocked::Backend.airflow_name()
    } else {
        Blocked::NoPool.airflow_name()
    }
}

impl Room {
    /// What keeps `w` from starting now, if anything.
    pub(crate) fn blocks(&self, w: &Waiting) -> Option<Blocked> {
        let Some(&open) = self.pools.get(&w.pool) else { return Some(Blocked::NoPool) };
        if open < i64::from(w.slots) {
            return Some(Blocked::Pool { open });
        }
        if self.dags.get(&w.dag_id).is_some_and(|&n| n == 0) {
            return Some(Blocked::Dag);
        }
        if self.backends.get(&w.backend).is_some_and(|&n| n == 0) {
            return Some(Blocked::Backend);
        }
        None
    }

    fn take(&mut self, w: &Waiting) {
        if let Some(open) = self.pools.get_mut(&w.pool)
            && *open != i64::MAX
        {
            *open -= i64::from(w.slots);
        }
        if let Some(n) = self.dags.get_mut(&w.dag_id) {
            *n -= 1;
        }
        if let Some(n) = self.backends.get_mut(&w.backend) {
            *n -= 1;
        }
    }
}

/// The queued tasks that start now, in the queue's order, taking their room
/// from `room`. The walk stops as soon as no pool anyone waits for has a
/// slot left, so a full pool costs nothing however long its queue.
pub(crate) fn admit<'q>(queue: &'q Queue, room: &mut Room) -> Vec<&'q Waiting> {
    let mut open_pools = queue
        .per_pool
        .keys()
        .filter(|p| room.pools.get(*p).is_some_and(|&open| open > 0))
        .count();
    let mut started = Vec::new();
    for w in queue.iter() {
        if open_pools == 0 {
            break;
        }
        if room.blocks(w).is_some() {
            continue;
        }
        room.take(w);
        if room.pools[&w.pool] <= 0 {
            open_pools -= 1;
        }
        started.push(w);
    }
    started
}

/// Why `w` waits, for people: shown with the queued task.
pub(crate) fn reason(w: &Waiting, blocked: &Blocked, caps: &Caps<'_>) -> String {
    match blocked {
        Blocked::NoPool => format!("pool `{}` does not exist: create it (config file or API) or name another", w.pool),
        Blocked::Pool { open } => {
            let size = caps.pool_slots.get(w.pool.as_str()).copied().unwrap_or_default();
            if i64::from(w.slots) > size {
                let plural = if w.slots == 1 { "" } else { "s" };
                format!("needs {} slot{plural} of pool `{}`, which has only {size}", w.slots, w.pool)
            } else {
                format!("waiting for a slot in pool `{}`: {} of {size} open, needs {}", w.pool, open.max(&0), w.slots)
            }
        }
        Blocked::Dag => format!(
            "DAG `{}` is running max_active_tasks ({}) tasks",
            w.dag_id,
            caps.dag_caps.get(w.dag_id.as_str()).copied().unwrap_or_default()
        ),
        Blocked::Backend => format!(
            "backend `{}` is running max_running_drivers ({}) drivers",
            w.backend,
            caps.backend_caps.get(w.backend.as_str()).copied().unwrap_or_default()
        ),
    }
}

/// The limits themselves, for [`reason`]'s messages.
#[derive(Debug, Default)]
pub(crate) struct Caps<'a> {
    pub pool_slots: HashMap<&'a str, i64>,
    pub dag_caps: HashMap<&'a str, u32>,
    pub backend_caps: HashMap<&'a str, u32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::fixture::at;

    fn waiting(ti: i64, priority: i64, pool: &str, slots: u32) -> Waiting {
        Waiting {
            priority: Reverse(priority),
            logical_date: at("2026-03-01T00:00:00Z"),
            run_pk: 1,
            order: usize::try_from(ti).unwrap(),
            ti,
            task_id: format!("t{ti}"),
            try_number: 1,
            dag_id: "d".into(),
            pool: pool.into(),
            slots,
            backend: "local".into(),
        }
    }

    fn queue(items: impl IntoIterator<Item = Waiting>) -> Queue {
        let mut q = Queue::default();
        for w in items {
            q.push(w);
        }
        q
    }

    fn room(pools: &[(&str, i64)]) -> Room {
        Room { pools: pools.iter().map(|(p, n)| (p.to_string(), *n)).collect(), ..Room::default() }
    }

    fn tis(started: Vec<&Waiting>) -> Vec<i64> {
        started.into_iter().map(|w| w.ti).collect()
    }

    #[test]
    fn a_pool_lets_as_many_start_as_it_has_open_slots() {
        let q = queue((1..=5).map(|i| waiting(i, 1, "p", 1)));
        let mut r = room(&[("p", 3)]);
        assert_eq!(tis(admit(&q, &mut r)), [1, 2, 3]);
        assert_eq!(r.pools["p"], 0);
    }

    #[test]
    fn the_heaviest_goes_first_then_the_oldest_run() {
        let mut old = waiting(4, 5, "p", 1);
        old.logical_date = at("2026-02-01T00:00:00Z");
        old.run_pk = 9;
        let q = queue([waiting(1, 1, "p", 1), waiting(2, 10, "p", 1), waiting(3, 5, "p", 1), old]);
        assert_eq!(tis(admit(&q, &mut room(&[("p", 3)]))), [2, 4, 3]);
    }

    #[test]
    fn a_task_taking_several_slots_does_not_hold_up_smaller_ones_behind_it() {
        let q = queue([waiting(1, 9, "p", 3), waiting(2, 1, "p", 1), waiting(3, 1, "p", 1)]);
        let mut r = room(&[("p", 2)]);
        assert_eq!(tis(admit(&q, &mut r)), [2, 3]);
        assert_eq!(r.blocks(q.get(1).unwrap()), Some(Blocked::Pool { open: 0 }));
    }

    #[test]
    fn pools_are_independent_and_a_missing_pool_starts_nothing() {
        let q = queue([waiting(1, 1, "full", 1), waiting(2, 1, "gone", 1), waiting(3, 1, "free", 1)]);
        let mut r = room(&[("full", 0), ("free", 1)]);
        assert_eq!(tis(admit(&q, &mut r)), [3]);
        assert_eq!(r.blocks(q.get(2).unwrap()), Some(Blocked::NoPool));
    }

    #[test]
    fn a_pool_without_a_limit_never_fills() {
        let q = queue((1..=300).map(|i| waiting(i, 1, "p", 2)));
        let mut r = room(&[("p", i64::MAX)]);
        assert_eq!(admit(&q, &mut r).len(), 300);
        assert_eq!(r.pools["p"], i64::MAX);
    }

    #[test]
    fn a_dag_cap_and_a_backend_cap_count_across_pools() {
        let mut other_dag = waiting(3, 1, "b", 1);
        other_dag.dag_id = "e".into();
        let mut spark = waiting(4, 1, "b", 1);
        spark.dag_id = "e".into();
        spark.backend = "spark".into();
        let q = queue([waiting(1, 1, "a", 1), waiting(2, 1, "b", 1), other_dag, spark]);
        let mut r = room(&[("a", 10), ("b", 10)]);
        r.dags.insert("d".into(), 1);
        r.backends.insert("local".into(), 2);
        assert_eq!(tis(admit(&q, &mut r)), [1, 3, 4], "d's second task waits for its DAG, then local is full");
        assert_eq!(r.blocks(q.get(2).unwrap()), Some(Blocked::Dag));
    }

    #[test]
    fn requeueing_an_instance_replaces_it() {
        let mut q = queue([waiting(1, 1, "p", 1)]);
        let mut retry = waiting(1, 1, "p", 1);
        retry.try_number = 2;
        assert!(!q.push(retry));
        assert_eq!(q.iter().map(|w| w.try_number).collect::<Vec<_>>(), [2]);
        q.remove_run(1);
        assert!(q.is_empty());
        assert!(q.per_pool.is_empty());
    }

    #[test]
    fn reasons_name_the_limit() {
        let caps = Caps {
            pool_slots: HashMap::from([("p", 3)]),
            dag_caps: HashMap::from([("d", 4)]),
            backend_caps: HashMap::from([("local", 2)]),
        };
        let w = waiting(1, 1, "p", 1);
        assert_eq!(reason(&w, &Blocked::Pool { open: 0 }, &caps), "waiting for a slot in pool `p`: 0 of 3 open, needs 1");
        assert_eq!(reason(&waiting(1, 1, "p", 5), &Blocked::Pool { open: 3 }, &caps), "needs 5 slots of pool `p`, which has only 3");
        assert_eq!(reason(&w, &Blocked::Dag, &caps), "DAG `d` is running max_active_tasks (4) tasks");
        assert_eq!(reason(&w, &Blocked::Backend, &caps), "backend `local` is running max_running_drivers (2) drivers");
        assert!(reason(&waiting(1, 1, "x", 1), &Blocked::NoPool, &caps).starts_with("pool `x` does not exist"));
    }

    #[test]
    fn a_reason_names_its_dependency_as_airflow_does() {
        let caps = Caps::default();
        let w = waiting(1, 1, "p", 1);
        for blocked in [Blocked::NoPool, Blocked::Pool { open: 0 }, Blocked::Dag, Blocked::Backend] {
            assert_eq!(dependency_name(&reason(&w, &blocked, &caps)), blocked.airflow_name(), "{blocked:?}");
        }
    }
}

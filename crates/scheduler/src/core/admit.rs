//! Handing out room: ready tasks wait in [`decide::Queue`]; after every
//! turn the loop starts those [`decide::admit`] lets in, and marks the
//! rest queued with their reason. Room is counted from the live tries, so
//! after a restart the re-attached drivers hold their slots again, and a
//! slot freed by a try's end goes to the next task on the same turn.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};

use drover_store::{PoolRow, RunState, StoreError, TiState};
use tracing::warn;

use super::state::Core;
use crate::PoolUsage;
use crate::control::{Change, ControlError};
use crate::decide::{self, Caps, Room, Waiting};
use crate::pools::{PoolEdit, PoolView, check_pool};

impl Core {
    /// Queues a ready task of a running run for room.
    pub(super) fn enqueue(&mut self, run_pk: i64, task_id: &str, try_number: i64) {
        let ctx = &self.runs[&run_pk];
        let Some(ti) = ctx.tis.get(task_id) else { return };
        // Already waiting: every turn of a run finds its queued tasks ready again.
        if self.queue.get(ti.id).is_some_and(|w| w.try_number == try_number) {
            return;
        }
        let Some((order, task)) = ctx.dag.tasks.iter().enumerate().find(|(_, t)| t.id == task_id) else { return };
        let w = Waiting {
            priority: Reverse(task.effective_priority),
            logical_date: ctx.row.logical_date,
            run_pk,
            order,
            ti: ti.id,
            task_id: task_id.to_string(),
            try_number,
            dag_id: ctx.row.dag_id.clone(),
            pool: task.pool.clone(),
            slots: task.pool_slots,
            backend: task.backend.clone(),
        };
        if self.queue.push(w) && ti.state != TiState::Queued {
            self.fresh.push(ti.id);
        }
    }

    /// Starts what fits, then writes why the others wait, and publishes
    /// what the pools hold (also once nothing waits, so a freed pool shows
    /// as free).
    pub(super) async fn admit(&mut self) -> Result<(), StoreError> {
        let mut room = self.room();
        let chosen: Vec<Waiting> = decide::admit(&self.queue, &mut room).into_iter().cloned().collect();
        for w in chosen {
            self.queue.remove(w.ti);
            let ready = self.runs.get(&w.run_pk).is_some_and(|r| {
                r.row.state == RunState::Running
                    && !r.row.failing
                    && r.tis.get(&w.task_id).is_some_and(|t| {
                        matches!(t.state, TiState::None | TiState::Queued | TiState::UpForRetry) && t.try_number + 1 == w.try_number
                    })
            });
            if !ready {
                warn!(run_pk = w.run_pk, task = %w.task_id, "a queued task was no longer ready; dropped");
                continue;
            }
            let dag = self.runs[&w.run_pk].dag.clone();
            let task = dag.task(&w.task_id).expect("a queued task is of its run's DAG");
            self.start_try(w.run_pk, task, w.try_number).await?;
        }
        self.mark_queued(&room).await?;
        self.publish_usage();
        Ok(())
    }

    /// What may start now.
    fn room(&self) -> Room {
        let mut pool_use: HashMap<&str, i64> = HashMap::new();
        let mut dag_use: HashMap<&str, usize> = HashMap::new();
        let mut backend_use: HashMap<&str, usize> = HashMap::new();
        for live in self.tries.values() {
            *pool_use.entry(&live.hold.pool).or_default() += i64::from(live.hold.slots);
            *dag_use.entry(&live.hold.dag_id).or_default() += 1;
            *backend_use.entry(&live.hold.backend).or_default() += 1;
        }
        let pools = self
            .pools
            .iter()
            .map(|(name, &slots)| {
                let open = if slots < 0 { i64::MAX } else { slots - pool_use.get(name.as_str()).copied().unwrap_or(0) };
                (name.clone(), open)
            })
            .collect();
        let dags = self
            .dags
            .read()
            .expect("dag map")
            .values()
            .filter_map(|d| {
                let cap = d.max_active_tasks? as usize;
                Some((d.id.clone(), cap.saturating_sub(dag_use.get(d.id.as_str()).copied().unwrap_or(0))))
            })
            .collect();
        let backends = self
            .cfg
            .max_running_drivers
            .iter()
            .map(|(b, &cap)| (b.clone(), (cap as usize).saturating_sub(backend_use.get(b.as_str()).copied().unwrap_or(0))))
            .collect();
        Room { pools, dags, backends }
    }

    /// Commits the newly queued tasks as `queued`, each with why it waits.
    async fn mark_queued(&mut self, room: &Room) -> Result<(), StoreError> {
        let fresh = std::mem::take(&mut self.fresh);
        if fresh.is_empty() {
            return Ok(());
        }
        let caps_dags: Vec<(String, u32)> = self
            .dags
            .read()
            .expect("dag map")
            .values()
            .filter_map(|d| Some((d.id.clone(), d.max_active_tasks?)))
            .collect();
        let caps = Caps {
            pool_slots: self.pools.iter().map(|(n, &s)| (n.as_str(), s)).collect(),
            dag_caps: caps_dags.iter().map(|(d, c)| (d.as_str(), *c)).collect(),
            backend_caps: self.cfg.max_running_drivers.iter().map(|(b, &c)| (b.as_str(), c)).collect(),
        };
        let mut rows = Vec::new();
        for ti in fresh {
            let Some(w) = self.queue.get(ti) else { continue };
            // Room a task ahead took on this turn: the pool is full for it.
            let blocked = room.blocks(w).unwrap_or(decide::Blocked::Pool { open: 0 });
            rows.push((w.clone(), decide::reason(w, &blocked, &caps)));
        }
        self.store
            .queue_tis(&rows.iter().map(|(w, why)| (w.ti, why.clone())).collect::<Vec<_>>())
            .await?;
        for (w, why) in rows {
            let Some(ctx) = self.runs.get_mut(&w.run_pk) else { continue };
            let Some(ti) = ctx.tis.get_mut(&w.task_id) else { continue };
            ti.state = TiState::Queued;
            ti.queued_reason = Some(why);
            let change = Change::Task {
                dag_id: ctx.row.dag_id.clone(),
                run_id: ctx.row.run_id.clone(),
                task_id: w.task_id.clone(),
                state: TiState::Queued.to_string(),
                try_number: ti.try_number,
            };
            self.emit(change);
        }
        Ok(())
    }

    /// What the pools hold (the live tries, the ones just started
    /// included) and what waits for them, for the API (and, when it
    /// changed, as a change, for the drovers that stand by).
    fn publish_usage(&self) {
        let mut usage: BTreeMap<String, PoolUsage> = BTreeMap::new();
        for live in self.tries.values() {
            usage.entry(live.hold.pool.clone()).or_default().running_slots += i64::from(live.hold.slots);
        }
        for (pool, slots) in self.queue.slots_per_pool() {
            usage.entry(pool.to_string()).or_default().queued_slots = slots;
        }
        let mut current = self.pool_usage.write().expect("pool usage");
        if *current != usage {
            *current = usage.clone();
            drop(current);
            self.emit(Change::Pools { usage });
        }
    }

    /// Loads the pools, writing the config file's first.
    pub(super) async fn load_pools(&mut self) -> Result<(), StoreError> {
        for p in &self.cfg.pools {
            self.store.put_pool(&p.name, p.slots, p.description.as_deref()).await?;
        }
        self.pools = self.store.pools().await?.into_iter().map(|p| (p.name, p.slots)).collect();
        Ok(())
    }

    /// A pool created, changed or deleted through the API; a pool that
    /// grew hands its new slots out on this turn.
    pub(super) async fn edit_pool(&mut self, edit: PoolEdit) -> Result<Option<PoolView>, ControlError> {
        let internal = |e: StoreError| match e {
            StoreError::NotFound(what) => ControlError::NotFound(what),
            StoreError::PoolExists(name) => ControlError::Conflict(format!("a pool `{name}` already exists")),
            e => ControlError::Internal(e.to_string()),
        };
        let row: Option<PoolRow> = match edit {
            PoolEdit::Create { name, slots, description } => {
                check_pool(&name, Some(slots)).map_err(ControlError::Invalid)?;
                Some(self.store.create_pool(&name, slots, description.as_deref()).await.map_err(internal)?)
            }
            PoolEdit::Update { name, slots, description } => {
                check_pool(&name, slots).map_err(ControlError::Invalid)?;
                let description = description.as_ref().map(|d| d.as_deref());
                Some(self.store.update_pool(&name, slots, description).await.map_err(internal)?)
            }
            PoolEdit::Delete { name } => {
                if name == drover_dag::DEFAULT_POOL {
                    return Err(ControlError::Invalid(format!("`{name}` cannot be deleted")));
                }
                self.store.delete_pool(&name).await.map_err(internal)?;
                self.pools.remove(&name);
                None
            }
        };
        let Some(row) = row else { return Ok(None) };
        self.pools.insert(row.name.clone(), row.slots);
        let usage = self.pool_usage.read().expect("pool usage").get(&row.name).copied().unwrap_or_default();
        Ok(Some(PoolView::new(row, usage)))
    }
}

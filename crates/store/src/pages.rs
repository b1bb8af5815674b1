//! Paged reads for the API's list endpoints. Each returns one page and the
//! count of everything that matches, both from SQL, so a 5,000-task run
//! costs the API a page of rows rather than the whole run.

use crate::{DagRow, DriverRow, ImportErrorRow, Result, Store, TaskInstanceRow};

/// Which task instances of a run a page holds.
#[derive(Debug, Default, Clone)]
pub struct TiFilter {
    /// Only these states (`none` for not started); empty: all.
    pub states: Vec<String>,
    /// A substring of the task id, with SQL `LIKE`'s `%` and `_` (case-insensitive).
    pub task_id_pattern: Option<String>,
}

/// Which drivers a page holds.
#[derive(Debug, Default, Clone)]
pub struct DriverFilter {
    pub state: Option<crate::DriverState>,
    /// Only tries that have not ended: what runs on the clusters now.
    pub active: bool,
    pub dag_id: Option<String>,
    pub run_id: Option<String>,
    pub backend: Option<String>,
}

impl Store {
    /// Active DAGs by id, optionally those whose id contains `pattern`.
    pub async fn dag_page(&self, pattern: Option<&str>, limit: i64, offset: i64) -> Result<(Vec<DagRow>, i64)> {
        macro_rules! filter {
            () => {
                " FROM dags WHERE is_active AND ($1 IS NULL OR LOWER(dag_id) LIKE '%' || LOWER($1) || '%')"
            };
        }
        let rows = read!(self, |c| sqlx::query_as(concat!("SELECT *", filter!(), " ORDER BY dag_id LIMIT $2 OFFSET $3"))
            .bind(pattern)
            .bind(limit)
            .bind(offset)
            .fetch_all(c)
            .await)?;
        let (total,): (i64,) = read!(self, |c| sqlx::query_as(concat!("SELECT COUNT(*)", filter!(), ""))
            .bind(pattern)
            .fetch_one(c)
            .await)?;
        Ok((rows, total))
    }

    /// A run's task instances in task order (as the DAG file lists them).
    pub async fn task_instance_page(
        &self,
        run_pk: i64,
        f: &TiFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<TaskInstanceRow>, i64)> {
        macro_rules! filter {
            ($states:literal) => {
                concat!(
                    " FROM task_instances WHERE run = $1
              AND ($2 IS NULL OR state IN (",
                    $states,
                    "))
              AND ($3 IS NULL OR LOWER(task_id) LIKE '%' || LOWER($3) || '%')"
                )
            };
        }
        // The states come as one JSON array; each database opens it its own way.
        macro_rules! queries {
            ($states:literal) => {
                (
                    concat!("SELECT *", filter!($states), " ORDER BY id LIMIT $4 OFFSET $5"),
                    concat!("SELECT COUNT(*)", filter!($states)),
                )
            };
        }
        let (select, count) = if self.is_postgres() {
            queries!("SELECT jsonb_array_elements_text(CAST($2 AS JSONB))")
        } else {
            queries!("SELECT value FROM json_each($2)")
        };
        let states = (!f.states.is_empty()).then(|| serde_json::to_string(&f.states).unwrap_or_default());
        let rows = read!(self, |c| sqlx::query_as(select)
            .bind(run_pk)
            .bind(&states)
            .bind(&f.task_id_pattern)
            .bind(limit)
            .bind(offset)
            .fetch_all(c)
            .await)?;
        let (total,): (i64,) = read!(self, |c| sqlx::query_as(count)
            .bind(run_pk)
            .bind(&states)
            .bind(&f.task_id_pattern)
            .fetch_one(c)
            .await)?;
        Ok((rows, total))
    }

    pub async fn import_error_page(&self, limit: i64, offset: i64) -> Result<(Vec<ImportErrorRow>, i64)> {
        let rows = read!(self, |c| sqlx::query_as("SELECT * FROM import_errors ORDER BY file LIMIT $1 OFFSET $2")
            .bind(limit)
            .bind(offset)
            .fetch_all(c)
            .await)?;
        let (total,): (i64,) = read!(self, |c| sqlx::query_as("SELECT COUNT(*) FROM import_errors")
            .fetch_one(c)
            .await)?;
        Ok((rows, total))
    }

    /// Drivers, newest first.
    pub async fn driver_page(&self, f: &DriverFilter, limit: i64, offset: i64) -> Result<(Vec<DriverRow>, i64)> {
        macro_rules! filter {
            () => {
                " FROM task_tries t JOIN task_instances ti ON ti.id = t.ti JOIN dag_runs r ON r.id = ti.run
              WHERE ($1 IS NULL OR t.driver_state = $1) AND (NOT $2 OR t.ended_at IS NULL)
                AND ($3 IS NULL OR r.dag_id = $3) AND ($4 IS NULL OR r.run_id = $4)
                AND ($5 IS NULL OR t.backend = $5)"
            };
        }
        let rows = read!(self, |c| sqlx::query_as(concat!("SELECT t.*, r.dag_id, r.run_id, ti.task_id", filter!(), " ORDER BY t.id DESC LIMIT $6 OFFSET $7"))
        .bind(f.state)
        .bind(f.active)
        .bind(&f.dag_id)
        .bind(&f.run_id)
        .bind(&f.backend)
        .bind(limit)
        .bind(offset)
        .fetch_all(c)
        .await)?;
        let (total,): (i64,) = read!(self, |c| sqlx::query_as(concat!("SELECT COUNT(*)", filter!(), ""))
            .bind(f.state)
            .bind(f.active)
            .bind(&f.dag_id)
            .bind(&f.run_id)
            .bind(&f.backend)
            .fetch_one(c)
            .await)?;
        Ok((rows, total))
    }
}

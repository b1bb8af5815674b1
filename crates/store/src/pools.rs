//! Pools (named slot counts every DAG shares) and the task instances that
//! wait for room in them.

use chrono::Utc;

use crate::{PoolRow, Result, Store, StoreError};

/// Reads a pool back in its writing transaction, then commits.
async fn commit_with_pool(mut tx: sqlx::Transaction<'static, sqlx::Sqlite>, name: &str) -> Result<PoolRow> {
    let row = sqlx::query_as("SELECT * FROM pools WHERE name = ?").bind(name).fetch_one(&mut *tx).await?;
    crate::metrics::commit(tx).await?;
    Ok(row)
}

impl Store {
    /// Every pool, by name.
    pub async fn pools(&self) -> Result<Vec<PoolRow>> {
        Ok(sqlx::query_as("SELECT * FROM pools ORDER BY name").fetch_all(&self.pool).await?)
    }

    pub async fn get_pool(&self, name: &str) -> Result<Option<PoolRow>> {
        Ok(sqlx::query_as("SELECT * FROM pools WHERE name = ?").bind(name).fetch_optional(&self.pool).await?)
    }

    /// Creates a pool, or sets the slots and description of one that exists
    /// (the config file's pools at start).
    pub async fn put_pool(&self, name: &str, slots: i64, description: Option<&str>) -> Result<PoolRow> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO pools (name, slots, description, updated_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET slots = excluded.slots, description = excluded.description,
               updated_at = excluded.updated_at",
        )
        .bind(name)
        .bind(slots)
        .bind(description)
        .bind(Utc::now())
        .execute(&mut *tx)
        .await?;
        commit_with_pool(tx, name).await
    }

    /// Creates a pool; `PoolExists` if the name is taken.
    pub async fn create_pool(&self, name: &str, slots: i64, description: Option<&str>) -> Result<PoolRow> {
        let mut tx = self.write().await?;
        let inserted = sqlx::query(
            "INSERT INTO pools (name, slots, description, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(slots)
        .bind(description)
        .bind(Utc::now())
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::PoolExists(name.to_string()));
        }
        commit_with_pool(tx, name).await
    }

    /// Changes what is given of a pool; `NotFound` if there is none.
    pub async fn update_pool(&self, name: &str, slots: Option<i64>, description: Option<Option<&str>>) -> Result<PoolRow> {
        let mut tx = self.write().await?;
        let updated = sqlx::query(
            "UPDATE pools SET slots = COALESCE(?, slots),
               description = CASE WHEN ? THEN ? ELSE description END, updated_at = ?
             WHERE name = ?",
        )
        .bind(slots)
        .bind(description.is_some())
        .bind(description.flatten())
        .bind(Utc::now())
        .bind(name)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("pool `{name}`")));
        }
        commit_with_pool(tx, name).await
    }

    /// Deletes a pool; `NotFound` if there is none.
    pub async fn delete_pool(&self, name: &str) -> Result<()> {
        let mut tx = self.write().await?;
        let deleted = sqlx::query("DELETE FROM pools WHERE name = ?").bind(name).execute(&mut *tx).await?;
        if deleted.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("pool `{name}`")));
        }
        crate::metrics::commit(tx).await?;
        Ok(())
    }

    /// Marks task instances queued: ready to run but waiting for room, each
    /// with why. One transaction for the lot; `queued_at` keeps the first time.
    pub async fn queue_tis(&self, tis: &[(i64, String)]) -> Result<()> {
        if tis.is_empty() {
            return Ok(());
        }
        let now = Utc::now();
        let mut tx = self.write().await?;
        for (ti, reason) in tis {
            sqlx::query(
                "UPDATE task_instances SET state = 'queued', queued_reason = ?, queued_at = COALESCE(queued_at, ?)
                 WHERE id = ?",
            )
            .bind(reason)
            .bind(now)
            .bind(ti)
            .execute(&mut *tx)
            .await?;
        }
        crate::metrics::commit(tx).await?;
        Ok(())
    }
}

//! Pools (named slot counts every DAG shares) and the task instances that
//! wait for room in them.

use chrono::Utc;

use crate::{PoolRow, Result, Store, StoreError};

/// Reads a pool back in its writing transaction, then commits.
async fn commit_with_pool(mut tx: crate::db::Tx, name: &str) -> Result<PoolRow> {
    let row = on!(&mut tx, |c| sqlx::query_as("SELECT * FROM pools WHERE name = $1").bind(name).fetch_one(c).await)?;
    crate::metrics::commit(tx).await?;
    Ok(row)
}

impl Store {
    /// Every pool, by name.
    pub async fn pools(&self) -> Result<Vec<PoolRow>> {
        Ok(read!(self, |c| sqlx::query_as("SELECT * FROM pools ORDER BY name").fetch_all(c).await)?)
    }

    pub async fn get_pool(&self, name: &str) -> Result<Option<PoolRow>> {
        Ok(read!(self, |c| sqlx::query_as("SELECT * FROM pools WHERE name = $1").bind(name).fetch_optional(c).await)?)
    }

    /// Creates a pool, or sets the slots and description of one that exists
    /// (the config file's pools at start).
    pub async fn put_pool(&self, name: &str, slots: i64, description: Option<&str>) -> Result<PoolRow> {
        let mut tx = self.write().await?;
        on!(&mut tx, |c| sqlx::query(
            "INSERT INTO pools (name, slots, description, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO UPDATE SET slots = excluded.slots, description = excluded.description,
               updated_at = excluded.updated_at",
        )
        .bind(name)
        .bind(slots)
        .bind(description)
        .bind(Utc::now())
        .execute(c)
        .await.map(|r| r.rows_affected()))?;
        commit_with_pool(tx, name).await
    }

    /// Creates a pool; `PoolExists` if the name is taken.
    pub async fn create_pool(&self, name: &str, slots: i64, description: Option<&str>) -> Result<PoolRow> {
        let mut tx = self.write().await?;
        let inserted = on!(&mut tx, |c| sqlx::query(
            "INSERT INTO pools (name, slots, description, updated_at) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(slots)
        .bind(description)
        .bind(Utc::now())
        .execute(c)
        .await.map(|r| r.rows_affected()))?;
        if inserted == 0 {
            return Err(StoreError::PoolExists(name.to_string()));
        }
        commit_with_pool(tx, name).await
    }

    /// Changes what is given of a pool; `NotFound` if there is none.
    pub async fn update_pool(&self, name: &str, slots: Option<i64>, description: Option<Option<&str>>) -> Result<PoolRow> {
        let mut tx = self.write().await?;
        let updated = on!(&mut tx, |c| sqlx::query(
            "UPDATE pools SET slots = COALESCE($1, slots),
               description = CASE WHEN $2 THEN $3 ELSE description END, updated_at = $4
             WHERE name = $5",
        )
        .bind(slots)
        .bind(description.is_some())
        .bind(description.flatten())
        .bind(Utc::now())
        .bind(name)
        .execute(c)
        .await.map(|r| r.rows_affected()))?;
        if updated == 0 {
            return Err(StoreError::NotFound(format!("pool `{name}`")));
        }
        commit_with_pool(tx, name).await
    }

    /// Deletes a pool; `NotFound` if there is none.
    pub async fn delete_pool(&self, name: &str) -> Result<()> {
        let mut tx = self.write().await?;
        let deleted = on!(&mut tx, |c| sqlx::query("DELETE FROM pools WHERE name = $1").bind(name).execute(c).await.map(|r| r.rows_affected()))?;
        if deleted == 0 {
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
            on!(&mut tx, |c| sqlx::query(
                "UPDATE task_instances SET state = 'queued', queued_reason = $1, queued_at = COALESCE(queued_at, $2)
                 WHERE id = $3",
            )
            .bind(reason)
            .bind(now)
            .bind(ti)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
        }
        crate::metrics::commit(tx).await?;
        Ok(())
    }
}

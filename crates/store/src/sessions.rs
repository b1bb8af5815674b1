//! Browser sessions: rows the API checks on every request with a cookie and
//! deletes on logout, so a logged-out cookie stays dead after a restart.

use crate::{Result, Store};

impl Store {
    /// Records a session (by the sha256 of its id) valid until `expires_at`
    /// (unix seconds), and forgets every session that has expired.
    pub async fn create_session(&self, id_sha256: &str, token_key: &str, now: i64, expires_at: i64) -> Result<()> {
        let mut tx = self.write().await?;
        on!(&mut tx, |c| sqlx::query("DELETE FROM sessions WHERE expires_at <= $1").bind(now).execute(c).await.map(|r| r.rows_affected()))?;
        on!(&mut tx, |c| sqlx::query("INSERT INTO sessions (id_sha256, token_key, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(id_sha256)
            .bind(token_key)
            .bind(now)
            .bind(expires_at)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
        crate::metrics::commit(tx).await?;
        Ok(())
    }

    /// Whether a session exists, was granted under `token_key` and has not
    /// expired at `now`.
    pub async fn session_valid(&self, id_sha256: &str, token_key: &str, now: i64) -> Result<bool> {
        let (found,): (i64,) = read!(self, |c| sqlx::query_as(
            "SELECT COUNT(*) FROM sessions WHERE id_sha256 = $1 AND token_key = $2 AND expires_at > $3",
        )
        .bind(id_sha256)
        .bind(token_key)
        .bind(now)
        .fetch_one(c)
        .await)?;
        Ok(found > 0)
    }

    /// Ends a session; ending one that does not exist is not an error.
    pub async fn delete_session(&self, id_sha256: &str) -> Result<()> {
        let mut tx = self.write().await?;
        on!(&mut tx, |c| sqlx::query("DELETE FROM sessions WHERE id_sha256 = $1").bind(id_sha256).execute(c).await.map(|r| r.rows_affected()))?;
        crate::metrics::commit(tx).await?;
        Ok(())
    }
}

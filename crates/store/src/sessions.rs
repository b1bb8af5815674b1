//! Browser sessions: rows the API checks on every request with a cookie and
//! deletes on logout, so a logged-out cookie stays dead after a restart.

use crate::{Result, Store};

impl Store {
    /// Records a session (by the sha256 of its id) valid until `expires_at`
    /// (unix seconds), and forgets every session that has expired.
    pub async fn create_session(&self, id_sha256: &str, token_key: &str, now: i64, expires_at: i64) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM sessions WHERE expires_at <= ?").bind(now).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO sessions (id_sha256, token_key, created_at, expires_at) VALUES (?, ?, ?, ?)")
            .bind(id_sha256)
            .bind(token_key)
            .bind(now)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
        crate::metrics::commit(tx).await?;
        Ok(())
    }

    /// Whether a session exists, was granted under `token_key` and has not
    /// expired at `now`.
    pub async fn session_valid(&self, id_sha256: &str, token_key: &str, now: i64) -> Result<bool> {
        let found: Option<(i64,)> = sqlx::query_as(
            "SELECT 1 FROM sessions WHERE id_sha256 = ? AND token_key = ? AND expires_at > ?",
        )
        .bind(id_sha256)
        .bind(token_key)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    /// Ends a session; ending one that does not exist is not an error.
    pub async fn delete_session(&self, id_sha256: &str) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM sessions WHERE id_sha256 = ?").bind(id_sha256).execute(&mut *tx).await?;
        crate::metrics::commit(tx).await?;
        Ok(())
    }
}

//! The scheduler lease and its fencing epoch.
//!
//! Several drovers may share one PostgreSQL database; one of them is the
//! scheduler. It holds the lease row, renewing it well inside its time to
//! live; the others wait for it to expire and then take it over, and each
//! takeover moves the epoch on. A store handle made with
//! [`Store::fenced`] checks in every write transaction that its epoch is
//! still the lease's and has not expired (on PostgreSQL under a share lock
//! on the row, so a takeover waits for that transaction to end), and rolls
//! back with [`StoreError::Fenced`] otherwise: a scheduler that was paused
//! or cut off writes nothing after its successor took over, as Temporal's
//! shard ownership check works.
//!
//! Expiry is judged by the database's clock (milliseconds since 1970), so
//! the drovers' own clocks need not agree.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::db::{Db, Tx};
use crate::{Result, Store, StoreError};

/// Who holds the scheduler lease, under which epoch, until when.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Lease {
    pub holder: String,
    pub epoch: i64,
    pub acquired_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// How long this process may act on its lease by its own clock: until the
/// moment its last successful renewal was *sent* plus the lease's time to
/// live, which comes before the database's expiry. Checked right before
/// every call that reaches a cluster (a submission, a kill), so a scheduler
/// resumed after a pause sends nothing once its lease may be another's.
#[derive(Debug, Clone)]
pub struct LeaseClock(std::sync::Arc<std::sync::Mutex<std::time::Instant>>);

impl LeaseClock {
    pub fn new(until: std::time::Instant) -> LeaseClock {
        LeaseClock(std::sync::Arc::new(std::sync::Mutex::new(until)))
    }

    /// Moves the deadline on after a renewal (never back).
    pub fn extend(&self, until: std::time::Instant) {
        let mut at = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *at = (*at).max(until);
    }

    /// Whether the deadline is still ahead.
    pub fn valid(&self) -> bool {
        std::time::Instant::now() < *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

type LeaseRow = (String, i64, i64, i64);

fn lease(row: LeaseRow) -> Lease {
    let at = |ms: i64| DateTime::from_timestamp_millis(ms).unwrap_or_default();
    Lease { holder: row.0, epoch: row.1, acquired_at: at(row.2), expires_at: at(row.3) }
}

/// The database's clock, in milliseconds since 1970, in each dialect.
macro_rules! now_ms {
    (sqlite) => {
        "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
    };
    (postgres) => {
        "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"
    };
}

/// Takes the lease when no one has it or it has expired; a new epoch.
macro_rules! acquire {
    ($d:ident) => {
        concat!(
            "INSERT INTO scheduler_lease (id, holder, epoch, acquired_at_ms, expires_at_ms)
             VALUES (1, $1, 1, ",
            now_ms!($d),
            ", ",
            now_ms!($d),
            " + $2)
             ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, epoch = scheduler_lease.epoch + 1,
               acquired_at_ms = excluded.acquired_at_ms, expires_at_ms = excluded.expires_at_ms
             WHERE scheduler_lease.expires_at_ms <= excluded.acquired_at_ms
             RETURNING holder, epoch, acquired_at_ms, expires_at_ms"
        )
    };
}

/// Extends the lease of an epoch that has not expired.
macro_rules! renew {
    ($d:ident) => {
        concat!(
            "UPDATE scheduler_lease SET expires_at_ms = ",
            now_ms!($d),
            " + $2 WHERE id = 1 AND epoch = $1 AND expires_at_ms > ",
            now_ms!($d),
            " RETURNING holder, epoch, acquired_at_ms, expires_at_ms"
        )
    };
}

/// Whether an epoch still holds the lease. PostgreSQL takes a share lock on
/// the row for the rest of the transaction: a takeover (an UPDATE of the
/// row) waits until the fenced write has committed or rolled back.
const CHECK_SQLITE: &str =
    concat!("SELECT epoch FROM scheduler_lease WHERE id = 1 AND epoch = $1 AND expires_at_ms > ", now_ms!(sqlite));
const CHECK_POSTGRES: &str = concat!(
    "SELECT epoch FROM scheduler_lease WHERE id = 1 AND epoch = $1 AND expires_at_ms > ",
    now_ms!(postgres),
    " FOR SHARE"
);

fn millis(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2)
}

/// Fails with [`StoreError::Fenced`] unless `epoch` holds the lease; run at
/// the start of every write transaction of a fenced handle.
pub(crate) async fn check(tx: &mut Tx, epoch: i64) -> Result<()> {
    let found: Option<i64> = match tx {
        Tx::Sqlite(t) => sqlx::query_scalar(CHECK_SQLITE).bind(epoch).fetch_optional(&mut **t).await?,
        Tx::Postgres(t) => sqlx::query_scalar(CHECK_POSTGRES).bind(epoch).fetch_optional(&mut **t).await?,
    };
    match found {
        Some(_) => Ok(()),
        None => Err(StoreError::Fenced { epoch }),
    }
}

impl Store {
    /// Takes the scheduler lease for `holder` for `ttl`, if no one holds it
    /// or its holder let it expire; `None` while another holds it. Each
    /// acquisition has a new epoch, even by the same holder.
    pub async fn acquire_lease(&self, holder: &str, ttl: Duration) -> Result<Option<Lease>> {
        let row: Option<LeaseRow> = match &self.db {
            Db::Sqlite { write, .. } => {
                sqlx::query_as(acquire!(sqlite)).bind(holder).bind(millis(ttl)).fetch_optional(write).await?
            }
            Db::Postgres(pool) => {
                sqlx::query_as(acquire!(postgres)).bind(holder).bind(millis(ttl)).fetch_optional(pool).await?
            }
        };
        Ok(row.map(lease))
    }

    /// Extends the lease of `epoch` to `ttl` from now; `None` when it has
    /// expired or another scheduler has taken over: the caller must stop
    /// acting.
    pub async fn renew_lease(&self, epoch: i64, ttl: Duration) -> Result<Option<Lease>> {
        let row: Option<LeaseRow> = match &self.db {
            Db::Sqlite { write, .. } => {
                sqlx::query_as(renew!(sqlite)).bind(epoch).bind(millis(ttl)).fetch_optional(write).await?
            }
            Db::Postgres(pool) => {
                sqlx::query_as(renew!(postgres)).bind(epoch).bind(millis(ttl)).fetch_optional(pool).await?
            }
        };
        Ok(row.map(lease))
    }

    /// Gives the lease of `epoch` up at once (a clean shutdown), so a
    /// standby takes over without waiting for it to expire.
    pub async fn release_lease(&self, epoch: i64) -> Result<()> {
        let q = "UPDATE scheduler_lease SET expires_at_ms = 0 WHERE id = 1 AND epoch = $1";
        match &self.db {
            Db::Sqlite { write, .. } => sqlx::query(q).bind(epoch).execute(write).await.map(|_| ())?,
            Db::Postgres(pool) => sqlx::query(q).bind(epoch).execute(pool).await.map(|_| ())?,
        }
        Ok(())
    }

    /// The lease as it stands (held or expired), if anyone ever took it.
    pub async fn lease(&self) -> Result<Option<Lease>> {
        let q = "SELECT holder, epoch, acquired_at_ms, expires_at_ms FROM scheduler_lease WHERE id = 1";
        let row: Option<LeaseRow> = read!(self, |c| sqlx::query_as(q).fetch_optional(c).await)?;
        Ok(row.map(lease))
    }
}

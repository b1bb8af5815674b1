//! The two databases the store runs on, behind one set of queries.
//!
//! Every query is written once, in SQL both SQLite and PostgreSQL accept
//! (`$N` parameters, `TRUE`/`FALSE`, `RETURNING`, `ON CONFLICT`), and the
//! macros below compile it once per database: each arm of their `match`
//! holds the same tokens with a connection of that database's type. The few
//! statements that must differ (the lease's clock) say so where they are.
//!
//! What differs between the two is kept here: how a write transaction
//! begins (SQLite takes its one write lock up front) and how the fence is
//! checked in it.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};
use std::path::Path;
use std::str::FromStr;

use crate::Result;

/// Where the store's rows live.
#[derive(Debug, Clone)]
pub(crate) enum Db {
    Sqlite {
        /// Reads: several connections, so the API never waits on a write.
        read: SqlitePool,
        /// Writes: one connection. Writers queue here in order instead of
        /// contending for SQLite's write lock (whose busy handler sleeps).
        write: SqlitePool,
    },
    /// One pool for both: PostgreSQL has row locks and many writers.
    Postgres(PgPool),
}

/// An open write transaction on either database.
pub(crate) enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// Runs `$body` with `$c` bound to the pool reads go to.
macro_rules! read {
    ($store:expr, |$c:ident| $body:expr) => {
        match &$store.db {
            $crate::db::Db::Sqlite { read, .. } => {
                let $c = read;
                $body
            }
            $crate::db::Db::Postgres(pool) => {
                let $c = pool;
                $body
            }
        }
    };
}

/// Runs `$body` with `$c` bound to the connection of the open transaction
/// `$tx` (a `&mut Tx`).
macro_rules! on {
    ($tx:expr, |$c:ident| $body:expr) => {
        match $tx {
            $crate::db::Tx::Sqlite(t) => {
                let $c = &mut **t;
                $body
            }
            $crate::db::Tx::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}

/// Runs `$body` in a write transaction of its own (fenced like every
/// write), with `$c` bound to its connection, and commits.
macro_rules! write1 {
    ($store:expr, |$c:ident| $body:expr) => {{
        let mut tx = $store.write().await?;
        let out = on!(&mut tx, |$c| $body)?;
        $crate::metrics::commit(tx).await?;
        Ok::<_, $crate::StoreError>(out)
    }};
}

impl Db {
    pub(crate) async fn open_sqlite(path: &Path) -> Result<Db> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL in WAL mode: a commit survives a process crash (kill -9);
            // only an OS crash may lose the last transactions.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(std::time::Duration::from_secs(10));
        let write = SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await?;
        sqlx::migrate!("./migrations/sqlite").run(&write).await?;
        let read = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        Ok(Db::Sqlite { read, write })
    }

    pub(crate) async fn memory() -> Result<Db> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        // One in-memory database lives on one connection: reads and writes share it.
        Ok(Db::Sqlite { read: pool.clone(), write: pool })
    }

    pub(crate) async fn open_postgres(url: &str) -> Result<Db> {
        // drover never leaves a transaction open across a wait (no network
        // call, no plugin call inside one). A session that does anyway has
        // been stopped (SIGSTOP) or cut off: PostgreSQL ends it, so the row
        // locks it holds (the lease's share lock above all) do not keep a
        // standby from taking over.
        let options = PgConnectOptions::from_str(url)?
            .options([("idle_in_transaction_session_timeout", "5s")])
            .application_name("drover");
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(std::time::Duration::from_secs(30))
            .connect_with(options)
            .await?;
        // Several drovers may start at once on one database: sqlx takes an
        // advisory lock around the migrations.
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Db::Postgres(pool))
    }

    /// Begins a write transaction. On SQLite, IMMEDIATE takes the write lock
    /// up front, so a transaction that reads before it writes waits for
    /// other writers (busy_timeout) instead of failing with SQLITE_BUSY when
    /// it upgrades.
    pub(crate) async fn begin(&self) -> Result<Tx> {
        Ok(match self {
            Db::Sqlite { write, .. } => Tx::Sqlite(write.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    pub(crate) async fn close(&self) {
        match self {
            Db::Sqlite { read, write } => {
                write.close().await;
                read.close().await;
            }
            Db::Postgres(pool) => pool.close().await,
        }
    }

    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self, Db::Postgres(_))
    }
}

impl Tx {
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
        }
    }
}

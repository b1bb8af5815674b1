//! Each store test runs twice: on a SQLite file and on a private PostgreSQL
//! server (started by the test, stopped when it ends).

#![allow(dead_code)]

use drover_store::Store;
use drover_store::pg_server::PgServer;

/// A database a test opens handles on, as often as it likes (a reopen is
/// what a restarted drover does).
pub struct Fixture {
    url: String,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<PgServer>,
}

impl Fixture {
    pub async fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("drover.db").display().to_string();
        Fixture { url, _dir: Some(dir), _pg: None }
    }

    pub async fn postgres() -> Fixture {
        let pg = PgServer::start(false).expect("a private PostgreSQL server (install the `postgresql` package)");
        let url = pg.create_database().await.unwrap();
        Fixture { url, _dir: None, _pg: Some(pg) }
    }

    /// A new handle on the database (migrations applied).
    pub async fn open(&self) -> Store {
        Store::connect(&self.url).await.unwrap()
    }
}

/// `both!(name)` runs `async fn name(fx: Fixture)` on SQLite and on PostgreSQL.
macro_rules! both {
    ($name:ident $(, $flavor:tt)?) => {
        mod $name {
            use super::*;
            #[tokio::test $((flavor = $flavor, worker_threads = 4))?]
            async fn sqlite() {
                super::$name(support::Fixture::sqlite().await).await
            }
            #[tokio::test $((flavor = $flavor, worker_threads = 4))?]
            async fn postgres() {
                super::$name(support::Fixture::postgres().await).await
            }
        }
    };
}

//! A private PostgreSQL server for tests and benchmarks: `initdb` into a
//! fresh temporary directory, `postgres` on 127.0.0.1 at a free port, both
//! as an unprivileged user when run as root (initdb refuses root), stopped
//! and removed on drop.
//!
//! The binaries come from `DROVER_PG_BIN` if set, else the `PATH`, else
//! Debian's `/usr/lib/postgresql/<version>/bin`.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use sqlx::Connection;

/// A running PostgreSQL server owned by this process.
#[derive(Debug)]
pub struct PgServer {
    child: Child,
    dir: PathBuf,
    port: u16,
}

/// The user the server runs as when drover runs as root: `nobody`.
fn unprivileged() -> std::io::Result<Option<(u32, u32)>> {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the process's effective user.
    if std::fs::metadata("/proc/self")?.uid() != 0 {
        return Ok(None);
    }
    let id = |flag: &str| -> std::io::Result<u32> {
        let out = Command::new("id").args([flag, "nobody"]).output()?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|_| std::io::Error::other("running as root and there is no `nobody` user to run PostgreSQL as"))
    };
    Ok(Some((id("-u")?, id("-g")?)))
}

/// Where `initdb` and `postgres` are.
fn bindir() -> std::io::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("DROVER_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    if let Some(dir) = on_path.into_iter().find(|d| d.join("initdb").is_file() && d.join("postgres").is_file()) {
        return Ok(dir);
    }
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).filter(|b| b.join("initdb").is_file()).collect())
        .unwrap_or_default();
    debian.sort();
    debian.pop().ok_or_else(|| {
        std::io::Error::other(
            "PostgreSQL is not installed: no initdb on PATH or in /usr/lib/postgresql/*/bin \
             (install the Debian package `postgresql`, or set DROVER_PG_BIN)",
        )
    })
}

fn command(bin: &Path, dir: &Path, user: Option<(u32, u32)>) -> Command {
    let mut c = Command::new(bin);
    // A working directory the server's user may enter.
    c.current_dir(dir);
    if let Some((uid, gid)) = user {
        c.uid(uid).gid(gid).env("HOME", "/tmp");
    }
    c
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl PgServer {
    /// Initializes and starts a server; returns once it accepts connections.
    /// `fsync` off unless `durable`: tests need speed, benchmarks the truth.
    pub fn start(durable: bool) -> std::io::Result<PgServer> {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let bin = bindir()?;
        let user = unprivileged()?;
        let dir = std::env::temp_dir().join(format!(
            "drover-pg-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))?;
        }
        let data = dir.join("data");
        let out = command(&bin.join("initdb"), &dir, user)
            .arg("-D")
            .arg(&data)
            .args(["-U", "drover", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"])
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(std::io::Error::other(format!(
                "initdb failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        let port = free_port()?;
        let log = std::fs::File::create(dir.join("postgres.log"))?;
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(dir.join("postgres.log"), Some(uid), Some(gid))?;
        }
        let child = command(&bin.join("postgres"), &dir, user)
            .arg("-D")
            .arg(&data)
            .arg("-p")
            .arg(port.to_string())
            .arg("-k")
            .arg(&dir)
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200"])
            .args(["-c", if durable { "fsync=on" } else { "fsync=off" }])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()?;
        let mut server = PgServer { child, dir, port };
        server.wait_ready()?;
        Ok(server)
    }

    /// Waits for the postmaster to say `ready` in its pid file.
    fn wait_ready(&mut self) -> std::io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let pid_file = self.dir.join("data").join("postmaster.pid");
        loop {
            if let Ok(text) = std::fs::read_to_string(&pid_file)
                && text.lines().nth(7).is_some_and(|l| l.trim() == "ready")
            {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                let log = std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default();
                return Err(std::io::Error::other(format!("postgres exited ({status}) before it was ready:\n{log}")));
            }
            if Instant::now() > deadline {
                return Err(std::io::Error::other("postgres was not ready within 60 s"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `db` on this server.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://drover@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates a fresh, empty database and returns its URL.
    pub async fn create_database(&self) -> Result<String, sqlx::Error> {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let name = format!("drover_{}", COUNT.fetch_add(1, Ordering::Relaxed));
        let mut conn = sqlx::PgConnection::connect(&self.url("postgres")).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await?;
        conn.close().await?;
        Ok(self.url(&name))
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        // SIGINT: PostgreSQL's fast shutdown (ends sessions, then exits).
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while matches!(self.child.try_wait(), Ok(None)) {
            if Instant::now() > deadline {
                // The whole process group: the postmaster and its backends.
                let _ = Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).status();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

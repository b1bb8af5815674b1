//! What every stand-in is to the [`crate::DevCluster`] that hosts it: what it
//! gets at start ([`Context`]), what the cluster asks of it ([`StandIn`]), and
//! the one way a stand-in keeps its driver tasks ([`Drivers`]) so that a
//! shutdown stops and reaps them all alike.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::SubmissionRecord;
use crate::process::{self, Spawner};

/// What every stand-in gets from the [`crate::DevCluster`] that hosts it.
pub(crate) struct Context {
    /// The one server's address (all stand-ins share it; their paths differ).
    pub addr: SocketAddr,
    /// This stand-in's own work directory.
    pub work_dir: PathBuf,
    /// The root of the stand-in HDFS ([`crate::webhdfs`]), shared by all.
    pub hdfs: PathBuf,
    /// Where drivers' `s3:`/`s3a:` resources are read from, if anywhere.
    pub s3: Option<crate::s3::S3Source>,
    /// The one thread that spawns every driver process (see [`process::Spawner`]).
    pub spawner: Arc<Spawner>,
    pub cancel: CancellationToken,
}

/// What the [`crate::DevCluster`] needs from each stand-in cluster manager.
pub(crate) trait StandIn: Send + Sync + 'static {
    fn submissions(&self) -> Vec<SubmissionRecord>;
    /// Its driver tasks and the token that stops them.
    fn drivers(&self) -> &Drivers;
    /// The process groups of the drivers running now.
    fn running_pids(&self) -> Vec<u32>;
}

/// The tasks that run one stand-in's drivers, and the token that cancels
/// them all (each driver's own token is a child of it).
pub(crate) struct Drivers {
    pub cancel: CancellationToken,
    tasks: TaskTracker,
}

impl Drivers {
    pub fn new(cancel: CancellationToken) -> Self {
        Self {
            cancel,
            tasks: TaskTracker::new(),
        }
    }

    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(task);
    }

    /// Cancel every driver and wait until all are reaped.
    pub async fn shutdown(&self) {
        self.cancel.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// Best-effort synchronous kill for `Drop`: SIGKILL the process group of
    /// every driver `running` names, read after the cancel so that none
    /// starts in between unseen.
    pub fn kill_now(&self, running: impl FnOnce() -> Vec<u32>) {
        self.cancel.cancel();
        for pid in running() {
            process::kill_group_now(pid);
        }
    }
}

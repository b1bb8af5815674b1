//! A YARN ResourceManager (and its one NodeManager) as seen over HTTP.
//!
//! Emulated from Hadoop 3's `RMWebServices`, `NMWebServices` and the DAO
//! classes they serialize, so that drover's yarn plugin and the PyPI
//! `yarn-api-client` cannot tell the difference where it matters:
//!
//! - `GET /cluster` (the web UI's page, which clients probe to find the active
//!   RM), `GET /ws/v1/cluster` and `/ws/v1/cluster/info` (`clusterInfo`).
//! - `POST /ws/v1/cluster/apps/new-application`, `POST /ws/v1/cluster/apps`
//!   (202 Accepted with a `Location` header; a repeated application id is
//!   accepted again without a second application, as `ClientRMService` does),
//!   `GET /ws/v1/cluster/apps` (filters `applicationTags`, `states`, `queue`,
//!   `applicationTypes`; `{"apps":null}` when none match), `GET …/apps/{id}`,
//!   `GET|PUT …/apps/{id}/state` (kill: 202 while under way, 200 when done or
//!   already ended), `GET …/apps/{id}/appattempts`.
//! - The NodeManager's `GET /ws/v1/node/containerlogs/{container}/{file}?size=N`,
//!   framed like `LogToolUtils.outputContainerLog`; `amContainerLogs` points at
//!   the web page `/node/containerlogs/{container}/{user}`, served as plain text.
//! - Errors are `{"RemoteException":{exception,message,javaClassName}}`.
//!
//! Each application's AM container runs as a local process. The stand-in
//! reads the Spark ApplicationMaster's launch command (`-Dspark.*` system
//! properties, `--class`, `--jar`, `--primary-py-file`, `--arg`,
//! `--properties-file`) and runs the user application through
//! [`crate::process::LaunchPlan`], so cluster mode runs exactly what client mode runs.
//! States move NEW → NEW_SAVING → SUBMITTED → ACCEPTED → RUNNING → FINISHED;
//! a failed AM is retried as a new attempt (new container, app back to
//! ACCEPTED) while `max-app-attempts` allows.
//!
//! Local resources on `hdfs:` (the stand-in's WebHDFS, [`crate::webhdfs`])
//! are localized into the AM container's directory after their size and
//! modification time are checked against the submission, as the NodeManager
//! does ("Resource ... changed on src filesystem"), and the AM runs the
//! copies; a resource of type `ARCHIVE` is unpacked into a directory of its
//! name (`.zip`, `.tar.gz`, `.tgz`, `.tar`).
//!
//! Deliberate differences: only Spark AM commands run (anything else fails its
//! attempts with a diagnostic); local resources on other schemes are not
//! localized (the AM reads them where they are); a main script localized as
//! `__app__.jar` keeps its own name (so it is not run as a jar); the RM-wide attempt cap
//! (`yarn.resourcemanager.am.max-attempts`) is 4 rather than 2, so DAGs can
//! try more attempts locally; an AM that exits 0 goes straight to
//! FINISHED/SUCCEEDED (the real (RUNNING, SUCCEEDED) window is not emulated).

mod am_command;
mod routes;
mod state;
mod wire;

pub(crate) use state::start;
pub use state::AppState;

/// The Hadoop version this ResourceManager claims to be.
pub const HADOOP_VERSION: &str = "3.4.1";
/// The application tag prefix drover's plugin puts its submission key under.
pub const KEY_TAG_PREFIX: &str = "drover-key:";
/// `yarn.resourcemanager.am.max-attempts` of this stand-in.
pub const RM_MAX_ATTEMPTS: u32 = 4;
/// `yarn.scheduler.maximum-allocation-mb` / `-vcores`.
pub const MAX_MEMORY_MB: u64 = 16384;
pub const MAX_VCORES: u64 = 8;

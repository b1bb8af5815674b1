//! An Apache Livy server's batch API, served under `/livy`.
//!
//! Emulated from Livy 0.8's `SessionServlet`, `BatchSessionServlet`,
//! `SessionManager` and `BatchSession`, so that drover's livy plugin and the
//! PyPI `livy` client cannot tell the difference where it matters:
//!
//! - `POST /batches` (`CreateBatchRequest`: unknown fields refused) answers 201
//!   with the batch and a `Location`; a name held by a batch that is still
//!   registered answers 400 `Rejected, Reason: Duplicate session name: …`, as
//!   newer Livy does. Every create takes the next id, even a refused one.
//! - `GET /batches?from&size` -> `{from, total, sessions}` (size defaults to
//!   100), `GET /batches/{id}` (the id or the batch's name), `GET
//!   /batches/{id}/state` -> `{id, state}`, `GET /batches/{id}/log?from&size`
//!   -> `{id, from, total, log}` (lines; by default the last 100), `DELETE
//!   /batches/{id}` kills the batch, waits until it is stopped, removes it and
//!   answers `{"msg":"deleted"}`; a later GET is 404 `{"msg":"Session '7' not
//!   found."}`. `GET /version` answers like Livy's.
//! - A batch's log is `SparkProcApp.log()`: `"stdout: "`, the driver's stdout
//!   lines, `"\nstderr: "`, its stderr lines; the batch object carries the last 10.
//! - States move `starting` -> `running` -> `success` | `dead` (a driver that
//!   cannot start is `dead` with the reason in its stderr). A finished batch
//!   stays listed for `livy.server.session.state-retain.sec` (600 s), then goes.
//!
//! The batch's `file` runs as a local process through [`crate::process::LaunchPlan`]
//! (python3 for `.py`, `java -cp` with `className` for `.jar`, anything else
//! exec'd), with the request's fields turned into the Spark properties Livy's
//! `SparkProcessBuilder` would pass (`spark.jars`, `spark.submit.pyFiles`,
//! `spark.driver.memory`, …). `appId` is a YARN-style id, known once the
//! driver runs.
//!
//! Deliberate differences: every local path may be used (real Livy refuses
//! local files outside `livy.file.local-dir-whitelist`); `files` and
//! `archives` are passed on as properties, not localized; no CSRF check, no
//! authentication, no interactive sessions. It is mounted under `/livy` (like a
//! Livy behind a gateway such as Knox) because Livy's own paths (`/batches`,
//! `/sessions`, `/version`, `/ui`) are too generic to share the root with the
//! other stand-ins.

mod routes;
mod state;
mod wire;

use std::time::Duration;

pub(crate) use state::start;
pub use state::BatchState;

/// The path every Livy route is nested under on the stand-in's port.
pub const PREFIX: &str = "/livy";
/// The Livy version this server claims to be.
pub const LIVY_VERSION: &str = "0.8.0-incubating";
/// `livy.server.session.state-retain.sec`: how long a finished batch stays listed.
pub const STATE_RETAIN: Duration = Duration::from_secs(600);

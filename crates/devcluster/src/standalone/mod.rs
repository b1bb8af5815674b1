//! A Spark standalone master with one worker, as seen over HTTP.
//!
//! Emulated from Spark's own source (4.x), so that drover's standalone plugin and
//! Spark's own `RestSubmissionClient` cannot tell the difference where it matters:
//!
//! - REST submission server (`deploy/rest/StandaloneRestServer.scala`,
//!   `RestSubmissionServer.scala`, and the replies built in `master/Master.scala`):
//!   `POST /v1/submissions/create`, `GET /v1/submissions/status/{id}`,
//!   `POST /v1/submissions/kill/{id}`, `POST /v1/submissions/killall`,
//!   `POST /v1/submissions/clear`, `GET /v1/submissions/readyz`, and the
//!   ErrorServlet answers for every other path. Bodies are rendered like Spark's
//!   Jackson mapper: alphabetical fields, absent fields omitted, Jackson's default
//!   pretty printer (`"key" : value`, arrays as `[ a, b ]`), content type
//!   `application/json;charset=utf-8`. Unknown or finished ids answer HTTP 200
//!   with `"success" : false`, as the real master does.
//! - Master JSON view `GET /json/` (`deploy/JsonProtocol.scala` `writeMasterState`,
//!   `writeWorkerInfo`, `writeDriverInfo`), content type `text/json;charset=utf-8`.
//! - Worker log page `GET /log/` (`deploy/worker/ui/LogPage.scala` `renderLog`):
//!   `==== Bytes {start}-{end} of {length} of {workDir}/{driverId}/{logType} ====\n`
//!   then the bytes, the last 100 KiB by default.
//!
//! Deliberate differences, each because drover needs it or nothing could notice:
//! Python resources and a missing `mainClass` for non-jar resources are accepted
//! (a real master wants a jar and a main class; drover runs `.py` drivers locally);
//! a supervised driver shows `RELAUNCHING` between attempts and its relaunch count
//! in the status `message` (`Supervised driver: relaunches=N`), where a real
//! worker relaunches silently in `RUNNING`; empty `offset=`/`byteLength=` log
//! parameters mean "absent" instead of a 500.

mod jackson;
mod routes;
mod state;
mod wire;

pub(crate) use routes::router;
pub(crate) use state::MasterConfig;
pub use state::{DriverState, Master};

/// The Spark version this master claims to be.
pub const SERVER_SPARK_VERSION: &str = "4.0.0";
/// The only REST protocol version Spark has ever had.
pub const PROTOCOL_VERSION: &str = "v1";
/// The Spark property drover puts on a submission to find it again after a restart.
pub const SUBMISSION_KEY_PROPERTY: &str = "spark.drover.submissionKey";

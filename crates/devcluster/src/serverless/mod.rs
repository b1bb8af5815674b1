//! An EMR Serverless endpoint, as seen over HTTP (restJson1, SigV4-signed).
//!
//! Emulated from the service's API reference, so that drover's plugin and
//! boto3 cannot tell the difference where it matters:
//!
//! - `POST /applications/{a}/jobruns` (StartJobRun, idempotent by `clientToken`),
//!   `GET /applications/{a}/jobruns` (ListJobRuns, newest first, paged),
//!   `GET /applications/{a}/jobruns/{j}[?attempt=N]` (GetJobRun),
//!   `DELETE /applications/{a}/jobruns/{j}` (CancelJobRun),
//!   `GET /applications/{a}/jobruns/{j}/attempts` (ListJobRunAttempts), and
//!   `POST /applications`, `GET /applications`, `GET /applications/{a}`.
//! - Every request must carry a valid AWS Signature V4 for service
//!   `emr-serverless` with [`ACCESS_KEY_ID`] / [`SECRET_ACCESS_KEY`], checked by
//!   recomputing it with the AWS SDK's signer; anything else is a 403.
//! - Errors are AWS's: the status, `x-amzn-ErrorType: <Type>` and `{"message"}`.
//! - Timestamps are epoch seconds (restJson1's default).
//!
//! Each job run is a local process started through [`crate::process`] (an entry point
//! `.py` runs with python3, a `.jar` with java and `--class`, anything else is
//! executed). It moves SUBMITTED → PENDING → SCHEDULED → RUNNING → SUCCESS or
//! FAILED; CancelJobRun gives CANCELLING → CANCELLED; a failed attempt starts
//! the next one while `retryPolicy.maxAttempts` allows; a run beyond its
//! application's `schedulerConfiguration.maxConcurrentRuns` waits QUEUED. All
//! of it is driven by process exits and requests: no polling loop.
//!
//! Deliberate differences: an application is ready at once (no CREATING or
//! STARTING, and no start/stop/update/delete calls); queueTimeoutMinutes is
//! not enforced; no resource accounting (totalResourceUtilization is zero);
//! entry points are local paths, and the driver gets `EMR_SERVERLESS_APPLICATION_ID`,
//! `EMR_SERVERLESS_JOB_RUN_ID` and `EMR_SERVERLESS_ATTEMPT` in its environment.
//! Driver output goes to `<work_dir>/<jobRunId>/attempt-<n>/stdout|stderr`.

mod routes;
mod state;
mod wire;

use std::sync::Arc;

use axum::Router;

pub use crate::aws::{ACCESS_KEY_ID, ACCOUNT_ID, REGION, SECRET_ACCESS_KEY};
pub use state::{APPLICATION_ID, DEFAULT_MAX_CONCURRENT_RUNS, Emr, RunState};

use crate::stand_in::{Context, StandIn};

/// The service name in a request's credential scope.
pub const SERVICE: &str = "emr-serverless";
/// Where the stand-in serves the pages its dashboard links open.
const DASHBOARD_PREFIX: &str = "/emr-serverless/dashboard";

pub(crate) fn start(ctx: &Context) -> anyhow::Result<(Arc<dyn StandIn>, Router)> {
    let emr = Arc::new(Emr::new(ctx));
    let router = routes::router(emr.clone());
    Ok((emr, router))
}

//! An EMR on EKS endpoint (`emr-containers`), as seen over HTTP (restJson1,
//! SigV4-signed), with one virtual cluster, [`VIRTUAL_CLUSTER_ID`].
//!
//! Emulated from botocore's service model (`emr-containers/2020-10-01`), so
//! that drover's plugin and boto3 cannot tell the difference where it matters:
//!
//! - `POST /virtualclusters/{vc}/jobruns` (StartJobRun, idempotent by
//!   `clientToken`), `GET /virtualclusters/{vc}/jobruns` (ListJobRuns, newest
//!   first, filtered by `states`, exact `name`, `createdAfter`/`createdBefore`,
//!   paged with `maxResults`/`nextToken`), `GET …/jobruns/{id}`
//!   (DescribeJobRun), `DELETE …/jobruns/{id}` (CancelJobRun), and
//!   `GET /virtualclusters/{vc}` (DescribeVirtualCluster).
//! - Every request must carry a valid SigV4 signature for service
//!   `emr-containers` with the stand-ins' credentials ([`crate::aws`]).
//! - Errors are the service's: `ValidationException` and
//!   `ResourceNotFoundException` both with HTTP 400, as its model says.
//!
//! Each job run's driver is a local process started through [`crate::process`]
//! (`jobDriver.sparkSubmitJobDriver`: a `.py` entry point runs with python3,
//! a `.jar` with java and `--class`, anything else is executed). A run moves
//! SUBMITTED → PENDING → RUNNING → COMPLETED or FAILED (with
//! `failureReason` USER_ERROR); CancelJobRun gives CANCEL_PENDING →
//! CANCELLED. With `retryPolicyConfiguration.maxAttempts`, a failed driver is
//! started again (the run goes back to PENDING) until attempts run out;
//! `retryPolicyExecution.currentAttemptCount` counts them.
//!
//! Deliberate differences: no Kubernetes (pod templates are taken and echoed,
//! not applied); job templates, sparkSqlJobDriver and managed endpoints are
//! refused or absent; entry points are local paths. The driver gets its
//! `spark.kubernetes.driverEnv.*` variables and `EMR_CONTAINERS_JOB_RUN_ID`,
//! `EMR_CONTAINERS_VIRTUAL_CLUSTER_ID`, `EMR_CONTAINERS_ATTEMPT`; its output
//! goes to `<work_dir>/<jobRunId>/attempt-<n>/stdout|stderr`.

mod routes;
mod state;
mod wire;

use std::sync::Arc;

use axum::Router;

pub use crate::aws::{ACCESS_KEY_ID, ACCOUNT_ID, REGION, SECRET_ACCESS_KEY};
pub use state::{Eks, RunState};

use crate::stand_in::{Context, StandIn};

/// The SigV4 signing name of EMR on EKS.
pub const SERVICE: &str = "emr-containers";
/// The one virtual cluster the stand-in has (25 lowercase alphanumerics, like the service's).
pub const VIRTUAL_CLUSTER_ID: &str = "droverstandinvirtualclust";
/// A release label the stand-in takes for granted in examples.
pub const RELEASE_LABEL: &str = "emr-7.1.0-latest";

pub(crate) fn start(ctx: &Context) -> anyhow::Result<(Arc<dyn StandIn>, Router)> {
    let eks = Arc::new(Eks::new(ctx));
    let router = routes::router(eks.clone());
    Ok((eks, router))
}

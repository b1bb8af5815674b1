//! A Kubernetes API server with one node, as far as pods go.
//!
//! It serves what Spark's submission client, drover's kubernetes plugin,
//! `kubectl get|logs|delete pod` and the PyPI `kubernetes` client use:
//!
//! - discovery: `/version`, `/api` (APIVersions), `/api/v1` (APIResourceList),
//!   `/apis` (APIGroupList, empty);
//! - core/v1 pods: create, get, list and watch (`labelSelector`,
//!   `fieldSelector`, `resourceVersion`, `timeoutSeconds`), delete
//!   (`gracePeriodSeconds`, graceful: `deletionTimestamp` first, gone once the
//!   containers stopped), and the `log` subresource (`container`,
//!   `limitBytes`, `tailLines`);
//! - `Status` objects for every error, with the real reasons and codes, and
//!   server-side `Table`s when a client asks for them (kubectl does).
//!
//! Each container runs as a local process through [`crate::process`]: Spark's
//! `driver …` arguments (the image entrypoint's verb) are read as spark-submit's
//! and run like the local shim runs them; any other `command`/`args` is exec'd
//! as is, after the kubelet's `$(VAR)` expansion. stdout and stderr go to one
//! log per container, as the kubelet keeps them.
//!
//! Deliberate differences: one node that fits everything (node selectors,
//! affinities, tolerations and resource requests are kept but never stop a pod
//! from being scheduled); images are not pulled; `restartPolicy` Always and
//! OnFailure restart after 1 s instead of the kubelet's back-off; `follow`,
//! `sinceTime`/`sinceSeconds`, `timestamps` and `previous` on the log endpoint
//! are ignored; no admission, no ServiceAccount tokens, no ConfigMap/Secret
//! volumes; a bearer token, when configured, is the only credential.

mod kubelet;
mod routes;
mod selector;
mod state;
mod watch;
mod wire;

use std::sync::Arc;

use axum::Router;

pub use routes::ApiServer;

use crate::stand_in::{Context, StandIn};
use state::Api;

/// The label drover's plugin puts its submission key in.
pub const SUBMISSION_KEY_LABEL: &str = "drover.dev/submission-key";
/// The one node every pod runs on.
pub const NODE_NAME: &str = "devcluster";
/// The address pods and the node have.
const POD_IP: &str = "127.0.0.1";
/// The Kubernetes version the server claims.
const MINOR: &str = "32";

pub(crate) fn start(ctx: &Context) -> anyhow::Result<(Arc<dyn StandIn>, Router)> {
    let api = Arc::new(Api::new(ctx, None));
    Ok((api.clone(), routes::router(api)))
}

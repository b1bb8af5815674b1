//! drover's HTTP API: paths and JSON field names follow Airflow's stable REST
//! API v2 where both have the concept, so Airflow clients and habits carry
//! over; drover-only data (drivers and their state history) rides along in
//! the same style.
//!
//! `app(state)` returns the whole router, so tests drive it with
//! `tower::ServiceExt::oneshot` and the binary serves it with axum.
//!
//! What it must not do: decide or change anything itself. Runs, clears,
//! kills and pauses go to the scheduler through `SchedulerHandle`, which
//! commits them before acting; the API reads the store (pages in SQL) and
//! writes only its own login sessions. A request it cannot serve answers a
//! 4xx naming the fix; a 5xx is opaque to the client and logged in full.

mod assets;
mod auth;
mod backfills;
mod error;
mod events;
mod metrics;
mod models;
mod notifications;
mod routes;
mod security;

pub use auth::{Auth, ReadAccess};
pub use error::ApiError;
pub use routes::app;
pub use security::AllowedHosts;

use drover_scheduler::SchedulerHandle;

/// What every handler needs.
#[derive(Clone)]
pub struct AppState {
    pub scheduler: SchedulerHandle,
    pub auth: std::sync::Arc<Auth>,
    /// Host names answered besides IP addresses and localhost.
    pub allowed_hosts: AllowedHosts,
    /// Fires when the server stops: live streams end so shutdown does not
    /// wait on open browser tabs.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// With several drovers on one database, who this one is (as the
    /// scheduler lease names its holders): a client-mode log another
    /// drover's try wrote is fetched from that drover.
    pub holder: Option<String>,
}

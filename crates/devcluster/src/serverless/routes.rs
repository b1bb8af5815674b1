//! EMR Serverless' HTTP surface: the restJson1 routes, every one behind a
//! SigV4 check, and the unsigned dashboard page a browser opens.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse as _, Response};
use axum::routing::get;

use super::state::Emr;
use super::{DASHBOARD_PREFIX, SERVICE};
use crate::aws::{self, reply};

pub(super) fn router(emr: Arc<Emr>) -> Router {
    let routes = Router::new()
        .route(
            "/applications",
            get(list_applications).post(create_application),
        )
        .route("/applications/{app}", get(get_application))
        .route(
            "/applications/{app}/jobruns",
            get(list_job_runs).post(start_job_run),
        )
        .route(
            "/applications/{app}/jobruns/{run}",
            get(get_job_run).delete(cancel_job_run),
        )
        .route(
            "/applications/{app}/jobruns/{run}/attempts",
            get(list_job_run_attempts),
        )
        .route(
            "/applications/{app}/jobruns/{run}/dashboard",
            get(get_dashboard_for_job_run),
        );
    // The dashboard page is what a browser opens: not signed.
    let page = Router::new().route(&format!("{DASHBOARD_PREFIX}/{{app}}/{{run}}"), get(dashboard_page));
    aws::signed(routes, SERVICE).merge(page).with_state(emr)
}

async fn get_dashboard_for_job_run(
    State(emr): State<Arc<Emr>>,
    UrlPath((app, run)): UrlPath<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_owned();
    reply(emr.dashboard_for_job_run(&app, &run, &host))
}

async fn dashboard_page(
    State(emr): State<Arc<Emr>>,
    UrlPath((app, run)): UrlPath<(String, String)>,
) -> Response {
    match emr.dashboard_page(&app, &run) {
        Some(html) => Html(html).into_response(),
        None => (StatusCode::NOT_FOUND, "no such job run").into_response(),
    }
}

async fn list_applications(State(emr): State<Arc<Emr>>) -> Response {
    reply(Ok(emr.list_applications()))
}

async fn create_application(State(emr): State<Arc<Emr>>, body: Bytes) -> Response {
    reply(emr.create_application(&body))
}

async fn get_application(State(emr): State<Arc<Emr>>, UrlPath(app): UrlPath<String>) -> Response {
    reply(emr.get_application(&app))
}

async fn start_job_run(
    State(emr): State<Arc<Emr>>,
    UrlPath(app): UrlPath<String>,
    body: Bytes,
) -> Response {
    reply(emr.start_job_run(&app, &body))
}

async fn list_job_runs(
    State(emr): State<Arc<Emr>>,
    UrlPath(app): UrlPath<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    reply(emr.list_job_runs(&app, &query))
}

async fn get_job_run(
    State(emr): State<Arc<Emr>>,
    UrlPath((app, run)): UrlPath<(String, String)>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let attempt = query
        .iter()
        .find(|(k, _)| k == "attempt")
        .map(|(_, v)| v.as_str());
    reply(emr.get_job_run(&app, &run, attempt))
}

async fn cancel_job_run(
    State(emr): State<Arc<Emr>>,
    UrlPath((app, run)): UrlPath<(String, String)>,
) -> Response {
    reply(emr.cancel_job_run(&app, &run))
}

async fn list_job_run_attempts(
    State(emr): State<Arc<Emr>>,
    UrlPath((app, run)): UrlPath<(String, String)>,
) -> Response {
    reply(emr.list_job_run_attempts(&app, &run))
}

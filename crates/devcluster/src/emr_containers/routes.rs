//! EMR on EKS' HTTP surface: its restJson1 routes, every one behind a SigV4
//! check for `emr-containers`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::response::Response;
use axum::routing::get;

use super::SERVICE;
use super::state::{Eks, check_cluster};
use super::wire;
use crate::aws::{self, reply};

pub(super) fn router(eks: Arc<Eks>) -> Router {
    let routes = Router::new()
        .route("/virtualclusters/{vc}", get(describe_virtual_cluster))
        .route("/virtualclusters/{vc}/jobruns", get(list_job_runs).post(start_job_run))
        .route("/virtualclusters/{vc}/jobruns/{id}", get(describe_job_run).delete(cancel_job_run));
    aws::signed(routes, SERVICE).with_state(eks)
}

async fn describe_virtual_cluster(UrlPath(vc): UrlPath<String>) -> Response {
    reply(check_cluster(&vc).map(|()| wire::virtual_cluster()))
}

async fn start_job_run(State(eks): State<Arc<Eks>>, UrlPath(vc): UrlPath<String>, body: Bytes) -> Response {
    reply(eks.start_job_run(&vc, &body))
}

async fn list_job_runs(
    State(eks): State<Arc<Eks>>,
    UrlPath(vc): UrlPath<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    reply(eks.list_job_runs(&vc, &query))
}

async fn describe_job_run(State(eks): State<Arc<Eks>>, UrlPath((vc, id)): UrlPath<(String, String)>) -> Response {
    reply(eks.describe_job_run(&vc, &id))
}

async fn cancel_job_run(State(eks): State<Arc<Eks>>, UrlPath((vc, id)): UrlPath<(String, String)>) -> Response {
    reply(eks.cancel_job_run(&vc, &id))
}

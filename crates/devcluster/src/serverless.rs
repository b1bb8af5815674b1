//! EMR Serverless stand-in: not built yet.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;

use crate::{Context, StandIn, SubmissionRecord};

struct Stub;

impl StandIn for Stub {
    fn submissions(&self) -> Vec<SubmissionRecord> {
        Vec::new()
    }
    fn shutdown(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async {})
    }
    fn kill_now(&self) {}
}

pub(crate) fn start(_ctx: &Context) -> anyhow::Result<(Arc<dyn StandIn>, Router)> {
    Ok((Arc::new(Stub), Router::new()))
}

//! EMR Serverless stand-in: not built yet.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;

use crate::{Context, StandIn, SubmissionRecord};

/// The access key id the stand-in accepts (a local stand-in, not a real credential).
pub const ACCESS_KEY_ID: &str = "DROVERSTANDINKEY";
/// The secret the stand-in checks SigV4 signatures against.
pub const SECRET_ACCESS_KEY: &str = "drover-stand-in-secret-access-key";
/// The one application the stand-in starts with.
pub const APPLICATION_ID: &str = "00fdroverstandin";
/// The region the stand-in signs for.
pub const REGION: &str = "us-east-1";

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

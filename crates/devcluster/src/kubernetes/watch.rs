//! Watches: a chunked response of one JSON event per line, replaying the
//! history after a resourceVersion (or the current pods without one) and then
//! following live events until the client hangs up, `timeoutSeconds` passes,
//! or the server stops. A watcher too slow for the broadcast is cut off, as
//! the apiserver does; clients re-watch.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use serde_json::{Value, json};

use super::selector::Selectors;
use super::state::{Api, Event};

/// A watch: one JSON event per line, as pods change. Without a resourceVersion
/// (or "0") it starts with an ADDED event per matching pod; with one, it
/// replays what happened after it.
pub(super) fn watch(
    api: Arc<Api>,
    ns: Option<String>,
    sel: Selectors,
    q: &HashMap<String, String>,
) -> Response {
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs);
    let since: Option<u64> = q
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .filter(|v| *v > 0);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let mut live = api.events.subscribe();
    let (start_rv, first): (u64, Vec<Value>) = {
        let st = api.lock();
        match since {
            None => (
                st.rv,
                st.pods
                    .iter()
                    .filter(|((pod_ns, _), e)| {
                        ns.as_deref().is_none_or(|n| n == pod_ns) && sel.matches(&e.pod)
                    })
                    .map(|(_, e)| json!({"type": "ADDED", "object": e.pod}))
                    .collect(),
            ),
            Some(rv) if st.history.front().is_some_and(|e| e.rv > rv + 1) => (
                st.rv,
                vec![json!({
                    "type": "ERROR",
                    "object": {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                               "message": format!("too old resource version: {rv} ({})", st.history.front().map_or(0, |e| e.rv)),
                               "reason": "Expired", "code": 410},
                })],
            ),
            Some(rv) => (
                st.rv,
                st.history
                    .iter()
                    .filter(|e| e.rv > rv && event_matches(e, ns.as_deref(), &sel))
                    .map(|e| json!({"type": e.kind, "object": e.pod}))
                    .collect(),
            ),
        }
    };
    let cancel = api.drivers.cancel.clone();
    tokio::spawn(async move {
        let line = |v: &Value| Ok(Bytes::from(format!("{v}\n")));
        for e in &first {
            if tx.send(line(e)).await.is_err() {
                return;
            }
        }
        let deadline = async {
            match timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(deadline);
        loop {
            let event = tokio::select! {
                e = live.recv() => e,
                () = &mut deadline => return,
                () = cancel.cancelled() => return,
                () = tx.closed() => return,
            };
            match event {
                Ok(e) if e.rv > start_rv && event_matches(&e, ns.as_deref(), &sel) => {
                    if tx
                        .send(line(&json!({"type": e.kind, "object": e.pod})))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Ok(_) => {}
                // A watcher too slow to keep up is cut off; clients re-watch.
                Err(_) => return,
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::TRANSFER_ENCODING, "chunked")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn event_matches(e: &Event, ns: Option<&str>, sel: &Selectors) -> bool {
    ns.is_none_or(|n| e.pod["metadata"]["namespace"] == n) && sel.matches(&e.pod)
}


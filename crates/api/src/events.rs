//! Live updates: the scheduler's state changes as server-sent events, so
//! pages (and scripts) follow runs without polling.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use crate::AppState;

/// `GET /api/v2/events`: one event per change, named by its kind (`run`,
/// `task`, `driver`, `dags`, `pools`), its data the change as JSON. A client that
/// falls behind gets a `resync` event and should re-read what it shows.
#[utoipa::path(get, path = "/api/v2/events", tag = "drover",
    responses((status = 200, description = "text/event-stream of state changes", content_type = "text/event-stream")))]
pub async fn events(State(s): State<AppState>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = futures::StreamExt::take_until(BroadcastStream::new(s.scheduler.subscribe()), s.shutdown.cancelled_owned());
    let stream = stream.map(|item| {
        Ok(match item {
            Ok(change) => {
                Event::default()
                    .event(change.kind())
                    .json_data(&change)
                    .unwrap_or_else(|_| Event::default().event("resync"))
            }
            Err(BroadcastStreamRecvError::Lagged(n)) => Event::default().event("resync").data(n.to_string()),
        })
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

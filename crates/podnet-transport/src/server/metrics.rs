//! The monitoring endpoints on a port of their own (`MetricsConfig::listen`): a small
//! HTTP/1.1 responder, one request per connection, bounded in scrapers, request size and
//! time, so that it cannot be used to hold the server's resources.

use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tracing::debug;

use super::Inner;
use crate::config::WebSocketConfig;
use crate::http::{self, Route};

/// Serves the endpoints until the server stops.
pub(super) async fn serve(inner: Arc<Inner>, listener: TcpListener) {
    let scrapers = Arc::new(Semaphore::new(
        inner.metrics_config().map_or(1, |m| m.max_scrapers.max(1)),
    ));
    let stopped = inner.shutting_down.clone();
    loop {
        let permit = tokio::select! {
            () = stopped.cancelled() => return,
            permit = scrapers.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let stream = tokio::select! {
            () = stopped.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    debug!(%err, "metrics: accept failed");
                    continue;
                }
            },
        };
        let inner = inner.clone();
        let stopped = stopped.clone();
        inner.tracker.clone().spawn(async move {
            tokio::select! {
                () = stopped.cancelled() => {}
                () = answer(&inner, stream) => {}
            }
            drop(permit);
        });
    }
}

/// Reads one request (bounded as a WebSocket upgrade's is) and answers it.
async fn answer(inner: &Inner, mut stream: TcpStream) {
    let limits = WebSocketConfig::default();
    let mut buf = BytesMut::with_capacity(1024);
    let read = async {
        loop {
            if let Some(answer) = http::route(&buf, &limits) {
                return Some(answer);
            }
            if stream.read_buf(&mut buf).await.ok()? == 0 {
                return None;
            }
        }
    };
    let response = match tokio::time::timeout(limits.handshake_timeout, read).await {
        Ok(Some(Route::Observe {
            endpoint,
            head,
            key,
        })) => inner.observe(endpoint, head, false, key.as_deref()),
        Ok(Some(Route::Respond { response, .. })) => response,
        Ok(Some(Route::Upgrade { .. })) => http::not_found("/").render(false),
        Ok(None) | Err(_) => return,
    };
    let _ = stream.write_all(&response).await;
    let _ = stream.shutdown().await;
}

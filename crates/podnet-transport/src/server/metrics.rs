//! The monitoring endpoints on a port of their own (`MetricsConfig::listen`): a small
//! HTTP/1.1 responder, one request per connection, bounded in scrapers, request size and
//! time, so that it cannot be used to hold the server's resources.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::Inner;
use crate::config::WebSocketConfig;
use crate::http::{self, Route};

/// A scrape being served: cancelled to make room while it is still sending its request.
struct Scrape {
    cancel: CancellationToken,
    /// Still reading its request (not yet answered).
    reading: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
}

/// Serves the endpoints until the server stops. At most `max_scrapers` connections are
/// served at once; when a scraper arrives and none is free, the oldest one still sending
/// its request is closed to make room (as the game port does with quiet connections), so
/// slow or idle connections cannot keep a monitoring system out.
pub(super) async fn serve(inner: Arc<Inner>, listener: TcpListener) {
    let max = inner.metrics_config().map_or(1, |m| m.max_scrapers.max(1));
    let slots = Arc::new(Semaphore::new(max));
    let mut serving: VecDeque<Scrape> = VecDeque::new();
    let stopped = inner.shutting_down.clone();
    loop {
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
        serving.retain(|scrape| !scrape.done.load(Ordering::Acquire));
        if slots.available_permits() == 0 {
            let oldest = serving
                .iter()
                .position(|scrape| scrape.reading.load(Ordering::Acquire));
            if let Some(at) = oldest.and_then(|at| serving.remove(at)) {
                debug!("metrics: a scraper still sending its request closed to make room");
                at.cancel.cancel();
            }
        }
        let permit = tokio::select! {
            () = stopped.cancelled() => return,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let scrape = Scrape {
            cancel: stopped.child_token(),
            reading: Arc::new(AtomicBool::new(true)),
            done: Arc::new(AtomicBool::new(false)),
        };
        let (cancel, reading, done) = (
            scrape.cancel.clone(),
            scrape.reading.clone(),
            scrape.done.clone(),
        );
        serving.push_back(scrape);
        let inner = inner.clone();
        inner.tracker.clone().spawn(async move {
            tokio::select! {
                () = cancel.cancelled() => {}
                () = answer(&inner, stream, &reading) => {}
            }
            done.store(true, Ordering::Release);
            drop(permit);
        });
    }
}

/// Reads one request (bounded as a WebSocket upgrade's is) and answers it, within the
/// same time; `reading` is cleared once the request is in.
async fn answer(inner: &Inner, mut stream: TcpStream, reading: &AtomicBool) {
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
    reading.store(false, Ordering::Release);
    let write = async {
        let _ = stream.write_all(&response).await;
        let _ = stream.shutdown().await;
    };
    let _ = tokio::time::timeout(limits.handshake_timeout, write).await;
}

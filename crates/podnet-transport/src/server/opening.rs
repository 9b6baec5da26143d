//! How a connection opens on a server that also takes WebSocket clients: its first byte
//! says whether it is repod framing or an HTTP request; an HTTP request is answered (the
//! WebSocket upgrade, a page, or a refusal), and an upgraded connection is served like any
//! other: its reader decodes the WebSocket (`Wire::WebSocket`), and it is written to as
//! a TCP peer is (each frame with its WebSocket header).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::{Instrument, debug};

use super::Inner;
use super::listener::Halves;
use crate::ConnectionId;
use crate::config::WebSocketConfig;
use crate::driver::Wire;
use crate::http::{self, Endpoint, Route};
use crate::websocket::{self, WsDecoder};

/// How long a refused HTTP client is given to read the answer.
const REFUSE_LINGER: std::time::Duration = std::time::Duration::from_secs(1);

impl Inner {
    /// Serves a plain TCP connection once its first byte (or `first_byte_wait` of silence)
    /// says what it is, in a task of its own. Meanwhile it is quiet: a newcomer to a full
    /// server may evict it, as any connection that has not spoken.
    pub(super) fn start_sniffing(
        self: &Arc<Self>,
        id: ConnectionId,
        stream: TcpStream,
        peer: SocketAddr,
        accepted: std::time::Instant,
    ) {
        let opening = Arc::new(Opening::default());
        self.openings().insert(id, opening.clone());
        let eviction = self.endpoint().opening(id);
        if let Some(eviction) = eviction {
            self.evict(eviction);
        }
        let inner = Arc::clone(self);
        let task = async move {
            let mut stream = stream;
            let sniffed = tokio::select! {
                () = opening.cancel.cancelled() => None,
                sniffed = inner.sniff(&mut stream) => Some(sniffed),
            };
            if inner.openings().remove(&id).is_none() && sniffed.is_some() {
                // Evicted just as it finished opening: the eviction wins.
                opening.cancel.cancel();
            }
            let sniffed = match sniffed {
                Some(sniffed) if !opening.cancel.is_cancelled() => sniffed,
                _ => {
                    if opening.tell.load(Ordering::Relaxed) {
                        inner.tell_evicted(stream).await;
                    }
                    inner.endpoint().ended(id);
                    return;
                }
            };
            match sniffed {
                Sniffed::Repod => inner.start_connection(id, Halves::tcp(stream), peer, accepted),
                Sniffed::WebSocket { leftover, config } => {
                    let mut halves = Halves::tcp(stream);
                    halves.reading.wire = inner.websocket_wire(leftover, &config);
                    let now = tokio::time::Instant::now().into_std();
                    inner.start_connection(id, halves, peer, now);
                }
                Sniffed::Over => inner.endpoint().ended(id),
            }
        };
        self.tracker
            .spawn(task.instrument(tracing::debug_span!("opening", %peer)));
    }

    /// Waits for the first byte (at most `first_byte_wait`) and, for an HTTP request, answers
    /// it.
    async fn sniff(&self, stream: &mut TcpStream) -> Sniffed {
        let mut first = [0u8; 1];
        let peeked = tokio::select! {
            () = self.stop_accepting.cancelled() => return Sniffed::Over,
            peeked = tokio::time::timeout(self.first_byte_wait(), stream.peek(&mut first)) => peeked,
        };
        if !(matches!(peeked, Ok(Ok(1))) && websocket::is_http(first[0])) {
            return Sniffed::Repod;
        }
        let mut leftover = BytesMut::new();
        match self.answer_http(stream, &mut leftover).await {
            Some(config) => Sniffed::WebSocket { leftover, config },
            None => Sniffed::Over,
        }
    }

    /// Tells an evicted opening connection why, as a full server tells a quiet one, and
    /// closes it.
    async fn tell_evicted(&self, mut stream: TcpStream) {
        let frame = podnet_proto::close_frame(
            podnet_proto::EVICTION_REASON,
            &self.connection_config.framing,
        );
        crate::socket::last_words(&mut stream, &frame, REFUSE_LINGER).await;
    }

    /// As [`start_sniffing`](Self::start_sniffing), for a stream that cannot be peeked
    /// (TLS): the first bytes read are handed on.
    #[cfg(feature = "tls")]
    pub(super) async fn sniff_stream<S>(
        self: &Arc<Self>,
        id: ConnectionId,
        mut io: S,
        peer: SocketAddr,
        accepted: std::time::Instant,
    ) where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let mut buf = BytesMut::with_capacity(1024);
        let read = tokio::time::timeout(self.first_byte_wait(), io.read_buf(&mut buf)).await;
        if !(matches!(read, Ok(Ok(n)) if n > 0) && websocket::is_http(buf[0])) {
            let (reader, writer) = tokio::io::split(io);
            let mut reading = crate::driver::Reading::repod(reader);
            reading.read = buf;
            let halves = Halves {
                reading,
                writer,
                direct: None,
            };
            self.start_connection(id, halves, peer, accepted);
            return;
        }
        let Some(config) = self.answer_http(&mut io, &mut buf).await else {
            self.endpoint().ended(id);
            return;
        };
        let (reader, writer) = tokio::io::split(io);
        let mut reading = crate::driver::Reading::repod(reader);
        reading.wire = self.websocket_wire(buf, &config);
        let halves = Halves {
            reading,
            writer,
            direct: None,
        };
        let now = tokio::time::Instant::now().into_std();
        self.start_connection(id, halves, peer, now);
    }

    /// How long a new connection on a port that also takes WebSocket may stay silent
    /// before it is taken for repod framing: a browser may open a connection before it
    /// has a request to send (preconnection), so this is `WebSocketConfig::hello_wait`,
    /// not the podnet hello's wait.
    fn first_byte_wait(&self) -> std::time::Duration {
        self.websocket
            .as_ref()
            .map_or(self.hello_wait, |websocket| {
                websocket.hello_wait.max(self.hello_wait)
            })
    }

    /// The wire of a WebSocket connection past its upgrade; `leftover` is what followed
    /// the request.
    fn websocket_wire(&self, leftover: BytesMut, config: &WebSocketConfig) -> Wire {
        Wire::WebSocket(Box::new(WsDecoder::new(
            leftover,
            self.connection_config.framing.max_frame_length,
            config.max_fragments,
        )))
    }

    /// Reads the HTTP request `io` opened with (`buf` holds its start) and answers it.
    /// Returns the WebSocket settings once the upgrade is answered (`buf` then holds what
    /// followed the request); otherwise the client got its page or refusal, and the
    /// connection is over (the caller frees its slot).
    async fn answer_http<S>(&self, io: &mut S, buf: &mut BytesMut) -> Option<Arc<WebSocketConfig>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let config = self.websocket.clone()?;
        let answer = self.read_request(io, buf, &config).await;
        match answer {
            Some(Route::Upgrade { response, consumed }) => {
                if let Err(err) = io.write_all(&response).await {
                    debug!(%err, "WebSocket upgrade: write failed");
                } else if !self.stop_accepting.is_cancelled() {
                    buf.advance(consumed);
                    debug!("WebSocket upgrade");
                    return Some(config);
                }
            }
            Some(Route::Respond { response, refused }) => {
                if let Some(why) = refused {
                    debug!(%why, "HTTP request refused");
                }
                crate::socket::last_words(io, &response, REFUSE_LINGER).await;
            }
            Some(Route::Observe {
                endpoint,
                head,
                key,
            }) => {
                let response = self.observe(endpoint, head, true, key.as_deref());
                crate::socket::last_words(io, &response, REFUSE_LINGER).await;
            }
            None => {}
        }
        None
    }

    /// The answer at a monitoring endpoint, if this server serves it here (on its own
    /// port when `own_port`, else on the metrics port) and under this `key` (the
    /// figures, on the game's port, only under the secret), else a 404.
    pub(super) fn observe(
        &self,
        endpoint: Endpoint,
        head: bool,
        own_port: bool,
        key: Option<&str>,
    ) -> Bytes {
        let served = self.metrics_config().is_some_and(|m| {
            let here = m.listen.is_none() == own_port;
            let allowed = match key {
                None => !(own_port && endpoint.is_private()),
                Some(key) => own_port && m.is_secret(key),
            };
            here && allowed
        });
        if !served {
            return http::not_found(endpoint.path()).render(head);
        }
        let state = crate::observe::State {
            ready: self.is_ready(),
            draining: self.draining.load(std::sync::atomic::Ordering::Acquire),
            degraded: self.degraded(),
            ready_while_degraded: self
                .metrics_config()
                .is_some_and(|m| m.ready_while_degraded),
        };
        crate::observe::answer(endpoint, head, &state, || self.metrics_body())
    }

    /// Reads until the request is whole, or too big, or too slow (then answered with 408).
    async fn read_request<S>(
        &self,
        io: &mut S,
        buf: &mut BytesMut,
        config: &WebSocketConfig,
    ) -> Option<Route>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let read = async {
            loop {
                if let Some(answer) = http::route(buf, config) {
                    return Ok(Some(answer));
                }
                buf.reserve(1024);
                if io.read_buf(buf).await? == 0 {
                    return Ok::<_, io::Error>(None);
                }
            }
        };
        tokio::select! {
            () = self.stop_accepting.cancelled() => None,
            answer = tokio::time::timeout(config.handshake_timeout, read) => match answer {
                Ok(Ok(answer)) => answer,
                Ok(Err(err)) => {
                    debug!(%err, "HTTP request: read failed");
                    None
                }
                Err(_) => {
                    debug!(timeout = ?config.handshake_timeout, "HTTP request: too slow");
                    let _ = tokio::time::timeout(
                        REFUSE_LINGER,
                        io.write_all(
                            &http::Response::text(
                                408,
                                "Request Timeout",
                                "the request did not arrive in time",
                            )
                            .render(false),
                        ),
                    )
                    .await;
                    None
                }
            },
        }
    }
}

/// What a connection turned out to be.
enum Sniffed {
    /// repod framing (or silence).
    Repod,
    /// An upgraded WebSocket; `leftover` is what followed the request.
    WebSocket {
        leftover: BytesMut,
        config: Arc<WebSocketConfig>,
    },
    /// Answered over HTTP (a page or a refusal), or the server is stopping: nothing to
    /// serve.
    Over,
}

/// A connection still opening, as the eviction of quiet connections sees it.
#[derive(Debug, Default)]
pub(super) struct Opening {
    cancel: tokio_util::sync::CancellationToken,
    tell: AtomicBool,
}

impl Opening {
    /// Closes it to make room; `tell`: say why first.
    pub(super) fn evict(&self, tell: bool) {
        self.tell.store(tell, Ordering::Relaxed);
        self.cancel.cancel();
    }
}

//! The server handle: what the application calls. The accept loop and the start of each
//! connection are in [`listener`]; the connection table in [`registry`]; what the server
//! tells about itself in [`figures`]; resumable sessions in [`resume`]; the connections'
//! tasks in `crate::driver`. (A little over 500 lines: most of it is the sending and
//! closing API's documentation, with its examples.)

mod figures;
mod listener;
mod metrics;
mod opening;
mod registry;
mod resume;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use podnet_framing::{Outgoing, Value};
use podnet_proto::Endpoint;
use tokio::net::ToSocketAddrs;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, info, warn};

use crate::conn::{ConnectionInfo, Shared};
use crate::event::{EventSink, EventStream};
use crate::lock::Lock;
use crate::{ConnectionConfig, config::ServerConfig};
use crate::{ConnectionId, DisconnectReason, SendError, ServerEvent, TransportError};
use podnet_framing::Frame;

/// A podnet server: accepts clients, one connection each, and reports what they do as
/// [`ServerEvent`]s.
///
/// A connection becomes visible (its `Connected` event) once its handshake completes: at
/// once for a podnet client (it says hello) or a repod client that speaks first, after
/// [`ServerConfig::hello_wait`] for one that stays silent. Connections of the `info` type
/// are answered and closed without ever becoming visible.
///
/// Sending never blocks and never waits for a slow client: each connection has its own
/// bounded queue (see [`ConnectionConfig::max_queued_bytes`]). Dropping the server stops
/// accepting and closes every connection gracefully in the background; call
/// [`shutdown`](Self::shutdown) to wait for that.
///
/// # Example
///
/// ```
/// use podnet_transport::{Server, ServerConfig, ServerEvent};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (server, mut events) = Server::bind("127.0.0.1:0", ServerConfig::default()).await?;
/// println!("listening on {}", server.local_addr());
/// # let _client = podnet_transport::Client::connect(server.local_addr(), Default::default()).await?;
/// while let Some(event) = events.recv().await {
///     match event {
///         ServerEvent::Connected { id, peer, handshake } => {
///             println!("{id} connected from {peer}, {:?}", handshake.peer)
///         }
///         ServerEvent::Message { id, message } => {
///             // Echo it back, unchanged.
///             server.send(id, &podnet_transport::Frame::from_message(&message)?)?;
///         }
///         ServerEvent::Disconnected { id, reason } => println!("{id} left: {reason}"),
///         _ => {}
///     }
/// #   break;
/// }
/// # Ok(())
/// # }
/// ```
///
/// Everything but binding and shutting down is [`ServerHandle`]'s, which `Server` derefs
/// to: give clones of [`handle`](Self::handle) to other tasks and threads.
#[derive(Debug)]
pub struct Server {
    handle: ServerHandle,
}

/// What sends to a server's connections, closes them and asks about them: a cheap
/// `Clone + Send + Sync` handle for any task or thread. It does not keep the server
/// running: once its [`Server`] is shut down or dropped, sends fail with
/// [`SendError::NotConnected`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use podnet_transport::{Server, ServerConfig};
///
/// let (server, _events) = Server::bind("127.0.0.1:0", ServerConfig::default()).await?;
/// let handle = server.handle().clone();
/// std::thread::spawn(move || {
///     // Broadcast from another thread: encoded once, never blocks.
///     let _ = handle.send_to_all(&podnet_transport::WithAction("tick", &()));
/// })
/// .join()
/// .unwrap();
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ServerHandle {
    inner: Arc<Inner>,
}

impl std::ops::Deref for Server {
    type Target = ServerHandle;

    fn deref(&self) -> &ServerHandle {
        &self.handle
    }
}

struct Inner {
    local_addr: SocketAddr,
    name: String,
    max_connections: usize,
    connection_config: Arc<ConnectionConfig>,
    /// See [`driver::batch_bytes`](crate::driver::batch_bytes).
    batch_bytes: usize,
    /// Every connection being served, sessions or not yet.
    registry: registry::Registry,
    /// The protocol's server-wide state: admission, the connections' settings, sessions
    /// waiting for a resume, resume attempts and info answers.
    endpoint: Mutex<Endpoint>,
    /// What the game adds to the answer of `info` connections.
    info_fields: Mutex<BTreeMap<String, Value>>,
    /// The game's own figures for `/metrics` (see [`Server::set_gauge`]).
    gauges: Mutex<BTreeMap<String, f64>>,
    /// The health of the parts the game depends on (see [`Server::set_health`]).
    health: Mutex<BTreeMap<String, crate::Health>>,
    sink: Arc<dyn EventSink<ServerEvent>>,
    /// Stops the accept loop.
    stop_accepting: CancellationToken,
    /// Parent of every connection's abort token: cancelling it cuts them all.
    abort_all: CancellationToken,
    tracker: TaskTracker,
    rejected: AtomicU64,
    evicted: AtomicU64,
    aborted: AtomicU64,
    /// How to serve connections that open with an HTTP request, if the server does.
    websocket: Option<Arc<crate::config::WebSocketConfig>>,
    /// How long a new connection may stay silent before it is a repod peer.
    hello_wait: Duration,
    /// Connections still opening (their first byte not read yet, or their HTTP request
    /// being answered): quiet, so a newcomer may evict them.
    openings: Mutex<HashMap<ConnectionId, Arc<opening::Opening>>>,
    /// Resumable sessions, if the server grants them.
    resume: Option<crate::ResumeConfig>,
    /// What it counts (see [`Server::stats`]).
    counters: Arc<crate::stats::Counters>,
    /// Set by [`Server::drain`]: not ready any more.
    draining: std::sync::atomic::AtomicBool,
    /// The metrics endpoints, if served.
    metrics: Option<crate::config::MetricsConfig>,
    /// Their own port's address, if they have one.
    metrics_addr: Option<SocketAddr>,
    /// Cancelled when the server shuts down (or is dropped): what stops serving metrics,
    /// which go on through a drain.
    shutting_down: CancellationToken,
    /// Why a stop was asked for, once it was (see [`ServerHandle::request_stop`]).
    stop_request: std::sync::Mutex<Option<String>>,
    /// Set with `stop_request`: what a run loop checks between events, without a lock.
    stop_requested: std::sync::atomic::AtomicBool,
}

/// Counts what the application is handed, on its way.
struct Counting {
    inner: Arc<dyn EventSink<ServerEvent>>,
    counters: Arc<crate::stats::Counters>,
}

impl EventSink<ServerEvent> for Counting {
    fn deliver(&self, event: ServerEvent) {
        self.counters.event(&event);
        self.inner.deliver(event);
    }

    fn deliver_received(&self, received: crate::event::Received<ServerEvent>) {
        // Counted by its connection.
        self.inner.deliver_received(received);
    }

    fn wake(&self) {
        self.inner.wake();
    }
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

/// What [`Server::shutdown`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Connections open when the shutdown began.
    pub connections: usize,
    /// Whether every connection got everything sent to it, then the reason, within the
    /// timeout: none had to be cut. (A peer that then keeps its side open is waited for
    /// until the timeout, but is not counted as cut.)
    pub clean: bool,
}

impl Server {
    /// Listens on `addr` (port 0 picks a free port; see [`local_addr`](ServerHandle::local_addr))
    /// and returns the server with the stream of its events.
    ///
    /// Must be called within a tokio runtime; the server's tasks run on it.
    ///
    /// # Errors
    ///
    /// [`TransportError::Bind`] if the address cannot be resolved or listened on.
    pub async fn bind(
        addr: impl ToSocketAddrs + crate::Addr,
        config: ServerConfig,
    ) -> Result<(Server, EventStream<ServerEvent>), TransportError> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let server = Self::bind_with_sink(addr, config, tx).await?;
        Ok((server, EventStream::new(rx)))
    }

    /// As [`bind`](Self::bind), delivering events to `sink` instead of an [`EventStream`].
    ///
    /// # Errors
    ///
    /// As [`bind`](Self::bind).
    pub async fn bind_with_sink(
        addr: impl ToSocketAddrs + crate::Addr,
        config: ServerConfig,
        sink: impl EventSink<ServerEvent>,
    ) -> Result<Server, TransportError> {
        if config.websocket.is_some()
            && config.connection.framing.max_frame_length >= crate::config::MAX_FRAME_WITH_WEBSOCKET
        {
            return Err(TransportError::Config {
                problem: format!(
                    "framing.max_frame_length is {} bytes, but a server that takes WebSocket \
                     clients on the same port allows at most {} (so that a repod frame \
                     cannot look like an HTTP request); lower it, or set websocket to None",
                    config.connection.framing.max_frame_length,
                    crate::config::MAX_FRAME_WITH_WEBSOCKET - 1
                ),
            });
        }
        let listener = listener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let greeting = config
            .send_connected
            .then(|| Frame::encode_own("connected", &(), &config.connection.framing).ok())
            .flatten()
            .map(Frame::into_bytes);
        let settings = config.server_settings(greeting);
        let now = tokio::time::Instant::now().into_std();
        let attempt_rate = config
            .resume
            .as_ref()
            .map_or(podnet_proto::RateLimit::new(1, 1), |r| r.attempt_rate);
        if let Some(problem) = config
            .metrics
            .as_ref()
            .and_then(crate::config::MetricsConfig::problem)
        {
            return Err(TransportError::Config { problem });
        }
        if config.metrics.as_ref().is_some_and(|m| m.listen.is_none()) && config.websocket.is_none()
        {
            return Err(TransportError::Config {
                problem: "metrics on the server's own port need HTTP there: turn websocket on \
                          (WebSocketConfig::default() will do), or give metrics a port of \
                          their own (MetricsConfig::listen)"
                    .to_owned(),
            });
        }
        let counters = Arc::new(crate::stats::Counters::default());
        let metrics_listener = match config.metrics.as_ref().and_then(|m| m.listen) {
            Some(addr) => Some(listener::bind(addr).await?),
            None => None,
        };
        let inner = Arc::new(Inner {
            local_addr,
            name: config.name.clone(),
            max_connections: config.max_connections,
            connection_config: Arc::new(config.connection.clone()),
            batch_bytes: crate::driver::batch_bytes(config.network_mode),
            registry: registry::Registry::default(),
            endpoint: Mutex::new(Endpoint::new(
                Arc::new(settings),
                config.admission_settings(),
                attempt_rate,
                now,
            )),
            info_fields: Mutex::new(BTreeMap::new()),
            gauges: Mutex::new(BTreeMap::new()),
            health: Mutex::new(BTreeMap::new()),
            sink: Arc::new(Counting {
                inner: Arc::new(sink),
                counters: counters.clone(),
            }),
            counters,
            draining: std::sync::atomic::AtomicBool::new(false),
            metrics: config.metrics.clone(),
            shutting_down: CancellationToken::new(),
            metrics_addr: match &metrics_listener {
                Some(listener) => Some(listener.local_addr()?),
                None => None,
            },
            stop_accepting: CancellationToken::new(),
            abort_all: CancellationToken::new(),
            tracker: TaskTracker::new(),
            rejected: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
            aborted: AtomicU64::new(0),
            websocket: config.websocket.clone().map(Arc::new),
            hello_wait: config.hello_wait,
            openings: Mutex::new(HashMap::new()),
            resume: config.resume.clone(),
            stop_request: Mutex::new(None),
            stop_requested: std::sync::atomic::AtomicBool::new(false),
        });
        info!(%local_addr, "listening");
        if let Some(metrics) = metrics_listener {
            let addr = metrics.local_addr()?;
            info!(%addr, "serving metrics");
            inner.tracker.spawn(
                metrics::serve(inner.clone(), metrics)
                    .instrument(tracing::info_span!("metrics", addr = %addr)),
            );
        }
        inner.tracker.spawn(
            listener::accept_loop(inner.clone(), listener, config)
                .instrument(tracing::info_span!("server", addr = %local_addr)),
        );
        Ok(Server {
            handle: ServerHandle { inner },
        })
    }

    /// A handle for sending and asking from other tasks and threads (clone it).
    pub fn handle(&self) -> &ServerHandle {
        &self.handle
    }

    /// Stops accepting, closes every connection gracefully with `reason` (each client gets
    /// what was sent to it, then the reason), and waits up to `timeout` for all of them;
    /// connections still closing then are cut. Every connection the application saw
    /// connect gets its `Disconnected` event, with [`DisconnectReason::Shutdown`] (or
    /// [`DisconnectReason::Aborted`] if it was cut).
    pub async fn shutdown(&self, reason: &str, timeout: Duration) -> ShutdownReport {
        let inner = &self.handle.inner;
        inner.stop_accepting.cancel();
        inner.shutting_down.cancel();
        let aborted_before = inner.aborted.load(Ordering::Relaxed);
        let open = inner.registry.all();
        info!(connections = open.len(), %reason, "shutting down");
        for conn in &open {
            conn.close(
                DisconnectReason::Shutdown {
                    reason: reason.to_owned(),
                },
                reason,
            );
        }
        inner.tracker.close();
        let finished = tokio::time::timeout(timeout, inner.tracker.wait())
            .await
            .is_ok();
        if !finished {
            warn!("shutdown timed out: cutting the connections still open");
            inner.abort_all.cancel();
            inner.tracker.wait().await;
        }
        ShutdownReport {
            connections: open.iter().filter(|conn| conn.is_session()).count(),
            clean: inner.aborted.load(Ordering::Relaxed) == aborted_before,
        }
    }
}

impl ServerHandle {
    /// The address the server listens on, with the actual port when bound to port 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// The framing limits this server's connections use, for encoding [`Frame`]s.
    pub fn framing(&self) -> &podnet_framing::FramingConfig {
        &self.inner.connection_config.framing
    }

    /// The session `id`, if it is open.
    fn session(&self, id: ConnectionId) -> Result<Arc<Shared>, SendError> {
        self.inner
            .registry
            .session(id)
            .ok_or(SendError::NotConnected { id: Some(id) })
    }

    /// Sends a message to one connection: a typed message, an action named at run time
    /// with its fields ([`WithAction`](podnet_framing::WithAction)), or a [`Frame`]
    /// encoded already. Never blocks.
    ///
    /// # Errors
    ///
    /// [`SendError::NotConnected`] if the connection is gone or closing;
    /// [`SendError::QueueFull`] if the client is not reading fast enough (by default
    /// it is then disconnected, see [`SlowConsumerPolicy`](crate::SlowConsumerPolicy));
    /// encoding errors as [`Frame::encode`].
    pub fn send<M: Outgoing + ?Sized>(&self, id: ConnectionId, msg: &M) -> Result<(), SendError> {
        let frame = msg.frame(self.framing())?;
        let conn = self.session(id)?;
        conn.send(frame.as_bytes().clone())?;
        conn.traffic.sent(1, frame.as_bytes().len());
        Ok(())
    }

    /// Sends a message to one connection, waiting for room in its queue rather than
    /// treating a full queue as a slow consumer: for bulk transfers from async code.
    ///
    /// # Errors
    ///
    /// [`SendError::NotConnected`] if the connection is gone or closes meanwhile;
    /// encoding errors as [`Frame::encode`].
    pub async fn send_wait<M: Outgoing + ?Sized>(
        &self,
        id: ConnectionId,
        msg: &M,
    ) -> Result<(), SendError> {
        let bytes = msg.frame(self.framing())?.as_bytes().clone();
        let len = bytes.len();
        let conn = self.session(id)?;
        conn.send_wait(bytes).await?;
        conn.traffic.sent(1, len);
        Ok(())
    }

    /// Sends a message to each of `ids`, encoded once. Returns how many connections it was
    /// queued for: one that is gone is skipped, a slow consumer is handled as in
    /// [`send`](Self::send); neither is counted.
    ///
    /// # Errors
    ///
    /// Encoding errors as [`Frame::encode`].
    pub fn send_to<M: Outgoing + ?Sized>(
        &self,
        ids: impl IntoIterator<Item = ConnectionId>,
        msg: &M,
    ) -> Result<usize, SendError> {
        let frame = msg.frame(self.framing())?;
        let bytes = frame.as_bytes();
        let mut sent = 0;
        for id in ids {
            let Ok(conn) = self.session(id) else {
                continue;
            };
            if conn.send(bytes.clone()).is_ok() {
                conn.traffic.sent(1, bytes.len());
                sent += 1;
            }
        }
        Ok(sent)
    }

    /// Sends a message to every open connection, encoded once; the same bytes go to each.
    /// Returns how many connections it was queued for; a slow consumer is handled as in
    /// [`send`](Self::send) and not counted.
    ///
    /// # Errors
    ///
    /// Encoding errors as [`Frame::encode`]; never for a [`Frame`].
    pub fn send_to_all<M: Outgoing + ?Sized>(&self, msg: &M) -> Result<usize, SendError> {
        let frame = msg.frame(self.framing())?;
        Ok(self.broadcast(&frame))
    }

    /// Sends an encoded frame to every open connection; returns how many it was queued for.
    fn broadcast(&self, frame: &Frame) -> usize {
        let bytes = frame.as_bytes();
        // Over a snapshot: no lock of the server's is held while each is written to.
        let sent = self
            .inner
            .registry
            .sessions()
            .iter()
            .filter(|conn| conn.send(bytes.clone()).is_ok())
            .count();
        // Counted once for all of them, not by each connection.
        self.inner.counters.traffic.sent(sent, bytes.len() * sent);
        sent
    }

    /// Closes one connection gracefully: what was sent to it before still goes out, then
    /// `{"action": "podnet:close", "reason": reason}`, then the socket closes. Its
    /// `Disconnected` event follows with [`DisconnectReason::Closed`].
    ///
    /// # Errors
    ///
    /// [`SendError::NotConnected`] if it is gone or already closing.
    pub fn close(&self, id: ConnectionId, reason: &str) -> Result<(), SendError> {
        let conn = self.session(id)?;
        if conn.close(
            DisconnectReason::Closed {
                reason: reason.to_owned(),
            },
            reason,
        ) {
            Ok(())
        } else {
            Err(SendError::NotConnected { id: Some(id) })
        }
    }

    /// The ids of the connections open now (those the application has seen connect), in
    /// order.
    pub fn connection_ids(&self) -> Vec<ConnectionId> {
        self.inner
            .registry
            .sessions()
            .iter()
            .filter_map(|conn| conn.id)
            .collect()
    }

    /// How many connections are open now (including those closing); connections whose
    /// handshake has not completed, and `info` queries, are not counted.
    pub fn connection_count(&self) -> usize {
        self.inner.session_count()
    }

    /// Figures for one connection, if it is open.
    pub fn connection_info(&self, id: ConnectionId) -> Option<ConnectionInfo> {
        self.session(id).ok().map(|conn| conn.info())
    }

    /// How many clients were turned away because the server was full of connections that
    /// had all spoken.
    pub fn rejected_count(&self) -> u64 {
        self.inner.rejected.load(Ordering::Relaxed)
    }

    /// How many quiet connections (that had not sent anything) were closed to make room;
    /// see [`ServerConfig::max_quiet_connections`].
    pub fn evicted_count(&self) -> u64 {
        self.inner.evicted.load(Ordering::Relaxed)
    }

    /// Starts draining, for a rolling deploy: stops accepting (new clients are refused by
    /// the OS), and reports not ready (`/readyz` answers 503, [`ServerStats::draining`](crate::ServerStats::draining)),
    /// while the connections open go on until they end by themselves. Then call
    /// [`Server::shutdown`]: when [`connection_count`](Self::connection_count) is
    /// 0, or when your deadline passes. `reason` is logged.
    pub fn drain(&self, reason: &str) {
        if !self.inner.draining.swap(true, Ordering::AcqRel) {
            info!(reason, connections = self.connection_count(), "draining");
        }
        self.inner.stop_accepting.cancel();
    }

    /// Whether [`drain`](Self::drain) was called.
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::Acquire)
    }

    /// Stops accepting new connections; those open are not touched. New clients are then
    /// refused by the OS. [`Server::shutdown`] does this first; call it alone to
    /// wind down gently, for example to let running games finish.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), podnet_transport::TransportError> {
    /// use podnet_transport::{Server, ServerConfig};
    ///
    /// let (server, _events) = Server::bind("127.0.0.1:0", ServerConfig::default()).await?;
    /// server.stop_accepting();
    /// # Ok(())
    /// # }
    /// ```
    pub fn stop_accepting(&self) {
        self.inner.stop_accepting.cancel();
    }

    /// Asks the server's run loop (podnet-sync's `launch`, the facade's `Server::run`) to
    /// shut down gracefully with `reason`, from any thread or a signal handler: a loop
    /// waiting for events is woken, and stops at once. The first reason given stands. A
    /// game loop of your own checks [`stop_requested`](Self::stop_requested).
    pub fn request_stop(&self, reason: &str) {
        let first = {
            let mut request = self.inner.stop_request.locked();
            let first = request.is_none();
            request.get_or_insert_with(|| reason.to_owned());
            first
        };
        self.inner.stop_requested.store(true, Ordering::Release);
        if first {
            // A loop asleep waiting for events sees the request now.
            self.inner.sink.wake();
        }
    }

    /// The reason given to [`request_stop`](Self::request_stop), once it was called.
    pub fn stop_requested(&self) -> Option<String> {
        if !self.inner.stop_requested.load(Ordering::Acquire) {
            return None;
        }
        self.inner.stop_request.locked().clone()
    }
}

impl podnet_proto::Outbox for ServerHandle {
    fn send_frame(&self, id: ConnectionId, frame: &Frame) -> bool {
        ServerHandle::send(self, id, frame).is_ok()
    }

    fn send_frame_to_all(&self, frame: &Frame) -> usize {
        self.broadcast(frame)
    }

    fn close(&self, id: ConnectionId, reason: &str) -> bool {
        ServerHandle::close(self, id, reason).is_ok()
    }

    fn stop_accepting(&self) {
        ServerHandle::stop_accepting(self);
    }

    fn framing(&self) -> &podnet_framing::FramingConfig {
        ServerHandle::framing(self)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let inner = &self.handle.inner;
        inner.shutting_down.cancel();
        if inner.stop_accepting.is_cancelled() {
            return;
        }
        inner.stop_accepting.cancel();
        for conn in inner.registry.all() {
            conn.close(
                DisconnectReason::Shutdown {
                    reason: "server dropped".into(),
                },
                "server closed",
            );
        }
    }
}

impl Inner {
    fn openings(&self) -> MutexGuard<'_, HashMap<ConnectionId, Arc<opening::Opening>>> {
        // Single inserts and removes.
        self.openings.locked()
    }

    fn endpoint(&self) -> MutexGuard<'_, Endpoint> {
        // Every update leaves the counts consistent before it can panic.
        self.endpoint.locked()
    }

    fn session_count(&self) -> usize {
        self.registry.sessions().len()
    }
}

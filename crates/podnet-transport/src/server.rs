//! The server: an accept loop and the table of open connections.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use podnet_framing::{Message, MessageBatch};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, info, warn};

use crate::config::{ConnectionConfig, ServerConfig};
use crate::connection::{self, Connection, ConnectionInfo, Owner};
use crate::event::{EventSink, EventStream, Received};
use crate::frame::Frame;
use crate::{
    ConnectionId, DisconnectReason, Incoming, ServerEvent, TransportError, control, socket,
};

/// Rejected clients (over the connection cap) are handled by at most this many small tasks
/// at once; beyond that they are dropped without a reason, so a flood of connections
/// cannot make the server spawn without bound.
const MAX_REJECTING: usize = 64;
/// How long a rejected client is given to read its reason.
const REJECT_LINGER: Duration = Duration::from_secs(1);
/// The first pause after the OS refuses to accept.
const MIN_ACCEPT_BACKOFF: Duration = Duration::from_millis(5);

/// A podnet server: accepts clients, one connection each, and reports what they do as
/// [`ServerEvent`]s.
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
/// # async fn main() -> Result<(), podnet_transport::TransportError> {
/// let (server, mut events) = Server::bind("127.0.0.1:0", ServerConfig::default()).await?;
/// println!("listening on {}", server.local_addr());
/// # let _client = tokio::net::TcpStream::connect(server.local_addr()).await?;
/// while let Some(event) = events.recv().await {
///     match event {
///         ServerEvent::Connected { id, peer } => println!("{id} connected from {peer}"),
///         ServerEvent::Message { id, message } => {
///             // Echo it back, unchanged.
///             server.send_frame(id, &podnet_transport::Frame::from_message(&message)?)?;
///         }
///         ServerEvent::Disconnected { id, reason } => println!("{id} left: {reason}"),
///         _ => {}
///     }
/// #   break;
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Server {
    inner: Arc<Inner>,
}

struct Inner {
    local_addr: SocketAddr,
    connection_config: Arc<ConnectionConfig>,
    connections: Mutex<HashMap<ConnectionId, Arc<Connection>>>,
    next_id: AtomicU64,
    sink: Arc<dyn EventSink<ServerEvent>>,
    /// Stops the accept loop.
    stop_accepting: CancellationToken,
    /// Parent of every connection's abort token: cancelling it cuts them all.
    abort_all: CancellationToken,
    tracker: TaskTracker,
    /// `{"action": "connected"}`, encoded once.
    connected_frame: Option<Bytes>,
    rejected: AtomicU64,
    aborted: AtomicU64,
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
    /// Listens on `addr` (port 0 picks a free port; see [`local_addr`](Self::local_addr))
    /// and returns the server with the stream of its events.
    ///
    /// Must be called within a tokio runtime; the server's tasks run on it.
    ///
    /// # Errors
    ///
    /// [`TransportError::Bind`] if the address cannot be resolved or listened on.
    pub async fn bind(
        addr: impl ToSocketAddrs,
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
        addr: impl ToSocketAddrs,
        config: ServerConfig,
        sink: impl EventSink<ServerEvent>,
    ) -> Result<Server, TransportError> {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host(addr)
            .await
            .map_err(|e| TransportError::bind("the given address", e))?
            .collect();
        let listener = bind_any(&addrs).await?;
        let local_addr = listener.local_addr()?;
        let connected_frame = config
            .send_connected
            .then(|| Frame::control("connected", &(), &config.connection.framing));
        let inner = Arc::new(Inner {
            local_addr,
            connection_config: Arc::new(config.connection.clone()),
            connections: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            sink: Arc::new(sink),
            stop_accepting: CancellationToken::new(),
            abort_all: CancellationToken::new(),
            tracker: TaskTracker::new(),
            connected_frame,
            rejected: AtomicU64::new(0),
            aborted: AtomicU64::new(0),
        });
        info!(%local_addr, "listening");
        let slots = Arc::new(Semaphore::new(
            config.max_connections.min(Semaphore::MAX_PERMITS),
        ));
        inner.tracker.spawn(
            accept_loop(inner.clone(), listener, slots, config)
                .instrument(tracing::info_span!("server", addr = %local_addr)),
        );
        Ok(Server { inner })
    }

    /// The address the server listens on, with the actual port when bound to port 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// The framing limits this server's connections use, for encoding [`Frame`]s.
    pub fn framing(&self) -> &podnet_framing::FramingConfig {
        &self.inner.connection_config.framing
    }

    fn connection(&self, id: ConnectionId) -> Result<Arc<Connection>, TransportError> {
        self.inner
            .table()
            .get(&id)
            .cloned()
            .ok_or(TransportError::NotConnected { id: Some(id) })
    }

    /// Sends a typed message to one connection. Never blocks.
    ///
    /// # Errors
    ///
    /// [`TransportError::NotConnected`] if the connection is gone or closing;
    /// [`TransportError::QueueFull`] if the client is not reading fast enough (by default
    /// it is then disconnected, see [`SlowConsumerPolicy`](crate::SlowConsumerPolicy));
    /// encoding errors as [`Frame::encode`].
    pub fn send<M>(&self, id: ConnectionId, msg: &M) -> Result<(), TransportError>
    where
        M: Message + Serialize + ?Sized,
    {
        self.send_frame(id, &Frame::encode(msg, self.framing())?)
    }

    /// Sends a message under an action name chosen at run time. Never blocks.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn send_with_action<T>(
        &self,
        id: ConnectionId,
        action: &str,
        msg: &T,
    ) -> Result<(), TransportError>
    where
        T: Serialize + ?Sized,
    {
        self.send_frame(id, &Frame::encode_with_action(action, msg, self.framing())?)
    }

    /// Sends an encoded frame to one connection. Never blocks.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn send_frame(&self, id: ConnectionId, frame: &Frame) -> Result<(), TransportError> {
        self.connection(id)?.send(frame.as_bytes().clone())
    }

    /// Sends an encoded frame to one connection, waiting for room in its queue rather than
    /// treating a full queue as a slow consumer: for bulk transfers from async code.
    ///
    /// # Errors
    ///
    /// [`TransportError::NotConnected`] if the connection is gone or closes meanwhile.
    pub async fn send_frame_wait(
        &self,
        id: ConnectionId,
        frame: &Frame,
    ) -> Result<(), TransportError> {
        self.connection(id)?
            .send_wait(frame.as_bytes().clone())
            .await
    }

    /// Sends a typed message to every open connection, encoded once. Returns how many
    /// connections it was queued for; a slow consumer is handled as in
    /// [`send`](Self::send) and not counted.
    ///
    /// # Errors
    ///
    /// Encoding errors as [`Frame::encode`].
    pub fn send_to_all<M>(&self, msg: &M) -> Result<usize, TransportError>
    where
        M: Message + Serialize + ?Sized,
    {
        Ok(self.send_frame_to_all(&Frame::encode(msg, self.framing())?))
    }

    /// Sends an encoded frame to every open connection; the same bytes go to each. Returns
    /// how many connections it was queued for.
    pub fn send_frame_to_all(&self, frame: &Frame) -> usize {
        let bytes = frame.as_bytes();
        self.inner
            .table()
            .values()
            .filter(|conn| conn.send(bytes.clone()).is_ok())
            .count()
    }

    /// Closes one connection gracefully: what was sent to it before still goes out, then
    /// `{"action": "podnet:close", "reason": reason}`, then the socket closes. Its
    /// `Disconnected` event follows with [`DisconnectReason::Closed`].
    ///
    /// # Errors
    ///
    /// [`TransportError::NotConnected`] if it is gone or already closing.
    pub fn close(&self, id: ConnectionId, reason: &str) -> Result<(), TransportError> {
        let conn = self.connection(id)?;
        if conn.close(
            DisconnectReason::Closed {
                reason: reason.to_owned(),
            },
            reason,
        ) {
            Ok(())
        } else {
            Err(TransportError::NotConnected { id: Some(id) })
        }
    }

    /// The ids of the connections open now.
    pub fn connection_ids(&self) -> Vec<ConnectionId> {
        let mut ids: Vec<_> = self.inner.table().keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// How many connections are open now (including those closing).
    pub fn connection_count(&self) -> usize {
        self.inner.table().len()
    }

    /// Figures for one connection, if it is open.
    pub fn connection_info(&self, id: ConnectionId) -> Option<ConnectionInfo> {
        self.inner.table().get(&id).map(|conn| conn.info())
    }

    /// How many clients were turned away because the server was full.
    pub fn rejected_count(&self) -> u64 {
        self.inner.rejected.load(Ordering::Relaxed)
    }

    /// Stops accepting new connections; those open are not touched. New clients are then
    /// refused by the OS. [`shutdown`](Self::shutdown) does this first; call it alone to
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

    /// Stops accepting, closes every connection gracefully with `reason` (each client gets
    /// what was sent to it, then the reason), and waits up to `timeout` for all of them;
    /// connections still closing then are cut. Every connection gets its `Disconnected`
    /// event, with [`DisconnectReason::Shutdown`] (or [`DisconnectReason::Aborted`] if it
    /// was cut).
    pub async fn shutdown(&self, reason: &str, timeout: Duration) -> ShutdownReport {
        let inner = &self.inner;
        inner.stop_accepting.cancel();
        let aborted_before = inner.aborted.load(Ordering::Relaxed);
        let open: Vec<Arc<Connection>> = inner.table().values().cloned().collect();
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
            connections: open.len(),
            clean: inner.aborted.load(Ordering::Relaxed) == aborted_before,
        }
    }
}

/// Makes one connection's events (adding its id) and hands them to the server's sink.
struct ConnOwner {
    id: ConnectionId,
    sink: Arc<dyn EventSink<ServerEvent>>,
    inner: Arc<Inner>,
}

impl Owner for ConnOwner {
    fn messages(&self, messages: MessageBatch) {
        self.sink.deliver_received(Received::new(self.id, messages));
    }

    fn error(&self, error: Incoming<TransportError>) {
        self.sink.deliver(ServerEvent::Error { id: self.id, error });
    }

    fn closed(&self, reason: DisconnectReason) {
        if reason == DisconnectReason::Aborted {
            self.inner.aborted.fetch_add(1, Ordering::Relaxed);
        }
        self.sink.deliver(ServerEvent::Disconnected {
            id: self.id,
            reason,
        });
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let inner = &self.inner;
        if inner.stop_accepting.is_cancelled() {
            return;
        }
        inner.stop_accepting.cancel();
        for conn in inner.table().values() {
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
    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<ConnectionId, Arc<Connection>>> {
        // Updates are single inserts and removes; a poisoned table is still consistent.
        self.connections.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts serving an accepted connection (past its TLS handshake, if any) through its
    /// two halves.
    fn start_connection<R, W>(
        self: &Arc<Self>,
        reader: R,
        writer: W,
        peer: SocketAddr,
        slot: OwnedSemaphorePermit,
    ) where
        R: tokio::io::AsyncRead + Unpin + Send + 'static,
        W: tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let id = ConnectionId::from_raw(self.next_id.fetch_add(1, Ordering::Relaxed));
        let conn = Arc::new(Connection::new(
            Some(id),
            peer,
            self.connection_config.clone(),
            self.abort_all.child_token(),
            true,
        ));
        if let Some(frame) = &self.connected_frame {
            let _ = conn.send(frame.clone());
        }
        self.table().insert(id, conn.clone());
        self.sink.deliver(ServerEvent::Connected { id, peer });

        let owner = ConnOwner {
            id,
            sink: self.sink.clone(),
            inner: Arc::clone(self),
        };
        let inner = Arc::clone(self);
        connection::spawn(conn, reader, writer, owner, &self.tracker, move || {
            inner.table().remove(&id);
            drop(slot);
        });
    }

    /// Runs the TLS handshake of an accepted connection in a task of its own, so a slow
    /// one holds up no one, then starts serving it. A failed or late handshake is only
    /// logged: the peer never was a connection.
    #[cfg(feature = "tls")]
    fn start_tls(
        self: &Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
        slot: OwnedSemaphorePermit,
        tls: &crate::ServerTls,
    ) {
        let acceptor = tls.acceptor.clone();
        let timeout = tls.handshake_timeout;
        let inner = Arc::clone(self);
        let handshake = async move {
            let result = tokio::select! {
                () = inner.stop_accepting.cancelled() => return,
                result = tokio::time::timeout(timeout, acceptor.accept(stream)) => result,
            };
            match result {
                // A shutdown that began during the handshake has already closed the
                // table it would join.
                Ok(Ok(_)) if inner.stop_accepting.is_cancelled() => {}
                Ok(Ok(stream)) => {
                    let (reader, writer) = tokio::io::split(stream);
                    inner.start_connection(reader, writer, peer, slot);
                }
                Ok(Err(err)) => debug!(%err, "TLS handshake failed"),
                Err(_) => debug!(?timeout, "TLS handshake timed out"),
            }
        };
        self.tracker
            .spawn(handshake.instrument(tracing::debug_span!("tls_handshake", %peer)));
    }

    /// Tells a client over the cap why (unless `say_why` is false: a TLS client could not
    /// read it), then closes it.
    fn reject(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        rejecting: &Arc<Semaphore>,
        say_why: bool,
    ) {
        let count = self.rejected.fetch_add(1, Ordering::Relaxed) + 1;
        if count == 1 || count.is_power_of_two() {
            warn!(%peer, rejected = count, "server full: turning clients away");
        }
        if !say_why {
            return;
        }
        let Ok(permit) = rejecting.clone().try_acquire_owned() else {
            return; // too many being turned away already: just drop this one
        };
        let frame = control::close_frame("server full", &self.connection_config.framing);
        self.tracker.spawn(async move {
            let _permit = permit;
            let mut stream = stream;
            let _ = tokio::time::timeout(REJECT_LINGER, async {
                stream.set_nodelay(true)?;
                stream.write_all(&frame).await?;
                stream.shutdown().await?;
                // Read until the client closes, so unread input does not turn our close
                // into a reset that could destroy the reason before it is read.
                let mut sink = [0u8; 1024];
                while stream.read(&mut sink).await? > 0 {}
                Ok::<_, io::Error>(())
            })
            .await;
        });
    }
}

/// Binds the first address that works.
async fn bind_any(addrs: &[SocketAddr]) -> Result<TcpListener, TransportError> {
    let mut last = None;
    for addr in addrs {
        match TcpListener::bind(addr).await {
            Ok(listener) => return Ok(listener),
            Err(err) => last = Some((addr, err)),
        }
    }
    Err(match last {
        Some((addr, err)) => TransportError::bind(addr.to_string(), err),
        None => TransportError::bind(
            "the given address",
            io::Error::new(io::ErrorKind::InvalidInput, "it resolved to no address"),
        ),
    })
}

/// Errors that concern one incoming connection, not the listener: skip it and go on.
fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

async fn accept_loop(
    inner: Arc<Inner>,
    listener: TcpListener,
    slots: Arc<Semaphore>,
    config: ServerConfig,
) {
    let rejecting = Arc::new(Semaphore::new(MAX_REJECTING));
    let mut backoff = MIN_ACCEPT_BACKOFF;
    loop {
        let accepted = tokio::select! {
            biased;
            () = inner.stop_accepting.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = MIN_ACCEPT_BACKOFF;
                #[cfg(feature = "tls")]
                let tls = config.tls.as_ref();
                #[cfg(not(feature = "tls"))]
                let tls: Option<&()> = None;
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    inner.reject(stream, peer, &rejecting, tls.is_none());
                    continue;
                };
                if let Err(err) = socket::tune(&stream, &inner.connection_config.liveness) {
                    debug!(%peer, %err, "could not set socket options");
                }
                #[cfg(feature = "tls")]
                if let Some(tls) = tls {
                    inner.start_tls(stream, peer, slot, tls);
                    continue;
                }
                let (reader, writer) = stream.into_split();
                inner.start_connection(reader, writer, peer, slot);
            }
            Err(err) if is_connection_error(&err) => debug!(%err, "accept: skipped"),
            Err(err) => {
                // Out of file descriptors, buffers or memory: the condition may pass as
                // connections close. Back off instead of spinning on the error.
                warn!(%err, ?backoff, "accept failed; pausing");
                tokio::select! {
                    () = inner.stop_accepting.cancelled() => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(config.max_accept_backoff);
            }
        }
    }
    debug!("stopped accepting");
}

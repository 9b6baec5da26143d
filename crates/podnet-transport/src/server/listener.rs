//! The listener: binds, accepts, asks admission who gets a slot, and starts each accepted
//! connection's driver; plus the connection's owner, which turns what the driver reports
//! into the server's events.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use podnet_framing::MessageBatch;
use podnet_proto::{Admit, ConnectionKind, EVICTION_REASON, Eviction, Handshake};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::Semaphore;
#[cfg(feature = "tls")]
use tracing::Instrument;
use tracing::{debug, warn};

use super::Inner;
use crate::config::ServerConfig;
use crate::conn::Shared;
use crate::driver::{self, Owner, SharedTcpWriter, Welcome};
use crate::event::Received;
use crate::outbound::DirectWrite;
use crate::{ConnectionId, DisconnectReason, Incoming, ServerEvent, TransportError, socket};
use podnet_framing::FramingError;

/// Rejected clients (over the connection cap) are handled by at most this many small tasks
/// at once; beyond that they are dropped without a reason, so a flood of connections
/// cannot make the server spawn without bound.
const MAX_REJECTING: usize = 64;
/// How long a rejected client is given to read its reason.
const REJECT_LINGER: Duration = Duration::from_secs(1);
/// How long an evicted quiet connection is given to read why (its slot is free at once).
const EVICT_LINGER: Duration = Duration::from_secs(1);
/// The first pause after the OS refuses to accept.
const MIN_ACCEPT_BACKOFF: Duration = Duration::from_millis(5);

/// Resolves `addr` and binds the first address that works.
pub(super) async fn bind(
    addr: impl ToSocketAddrs + crate::Addr,
) -> Result<TcpListener, TransportError> {
    socket::open_first(addr, TcpListener::bind, TransportError::bind).await
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

pub(super) async fn accept_loop(inner: Arc<Inner>, listener: TcpListener, config: ServerConfig) {
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
                let admitted = inner.endpoint().admit();
                let id = match admitted {
                    Admit::Accept(id) => id,
                    Admit::Evict { id, eviction } => {
                        inner.evict(eviction);
                        id
                    }
                    Admit::Refuse => {
                        inner.reject(stream, peer, &rejecting, tls.is_none());
                        continue;
                    }
                };
                if let Err(err) = socket::tune(&stream, &inner.connection_config.liveness) {
                    debug!(%peer, %err, "could not set socket options");
                }
                let accepted = tokio::time::Instant::now().into_std();
                #[cfg(feature = "tls")]
                if let Some(tls) = tls {
                    inner.start_tls(id, stream, peer, tls);
                    continue;
                }
                if inner.websocket.is_some() {
                    inner.start_sniffing(id, stream, peer, accepted);
                    continue;
                }
                inner.start_connection(id, Halves::tcp(stream), peer, accepted);
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

impl Inner {
    /// Starts serving an accepted connection (past its TLS handshake, if any) through its
    /// two halves. It is quiet, and not yet visible to the application, until its
    /// handshake completes; `hello_wait` counts from `started`.
    pub(super) fn start_connection<R, W>(
        self: &Arc<Self>,
        id: ConnectionId,
        halves: Halves<R, W>,
        peer: SocketAddr,
        started: std::time::Instant,
    ) where
        R: tokio::io::AsyncRead + Unpin + Send + 'static,
        W: tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let websocket = matches!(halves.reading.wire, driver::Wire::WebSocket(_));
        let conn = Arc::new(Shared::new(
            Some(id),
            peer,
            self.connection_config.clone(),
            self.abort_all.child_token(),
            halves.direct,
            websocket,
        ));
        // Its id goes into the resume token it may be granted.
        let (core, eviction) = if websocket {
            self.endpoint().open_websocket(id, started)
        } else {
            self.endpoint().open(id, started)
        };
        self.registry.insert(id, conn.clone());
        if let Some(eviction) = eviction {
            self.evict(eviction);
        }
        let owner = ConnOwner {
            id,
            conn: conn.clone(),
            inner: Arc::clone(self),
        };
        driver::spawn(
            conn,
            core,
            halves.reading,
            halves.writer,
            owner,
            &self.tracker,
        );
    }

    /// Ends a connection to make room: a session waiting for a resume is ended; a quiet
    /// connection is told why and given a moment to read it, or cut at once when many are
    /// being told already.
    pub(super) fn evict(&self, eviction: Eviction) {
        let victim = self.registry.get(eviction.victim);
        if eviction.parked {
            // Unless a resume took the session between the endpoint's decision and now:
            // then it is no longer waiting, and its connection keeps the slot it had.
            if let Some(victim) = &victim {
                self.end_evicted_parked(victim);
            }
            return;
        }
        let count = self.evicted.fetch_add(1, Ordering::Relaxed) + 1;
        if count == 1 || count.is_power_of_two() {
            warn!(evicted = count, "closing quiet connections to make room");
        }
        debug!(id = %eviction.victim, tell = eviction.tell, "evicting a quiet connection");
        let Some(victim) = victim else {
            // Still opening: its task closes it (telling it why if it may). Otherwise it
            // ended meanwhile; its slot is free all the same.
            if let Some(opening) = self.openings().remove(&eviction.victim) {
                opening.evict(eviction.tell);
            }
            return;
        };
        if !(eviction.tell
            && victim.close_within(DisconnectReason::Evicted, EVICTION_REASON, EVICT_LINGER))
        {
            victim.abort_with(DisconnectReason::Evicted);
        }
    }

    /// Runs the TLS handshake of an accepted connection in a task of its own, so a slow
    /// one holds up no one, then starts serving it. A failed or late handshake is only
    /// logged: the peer never was a connection.
    #[cfg(feature = "tls")]
    fn start_tls(
        self: &Arc<Self>,
        id: ConnectionId,
        stream: TcpStream,
        peer: SocketAddr,
        tls: &crate::ServerTls,
    ) {
        let acceptor = tls.acceptor.clone();
        let timeout = tls.handshake_timeout;
        let inner = Arc::clone(self);
        let handshake = async move {
            let result = tokio::select! {
                () = inner.stop_accepting.cancelled() => None,
                result = tokio::time::timeout(timeout, acceptor.accept(stream)) => Some(result),
            };
            match result {
                // A shutdown that began during the handshake has already closed the
                // table it would join.
                Some(Ok(Ok(_))) if inner.stop_accepting.is_cancelled() => {}
                Some(Ok(Ok(stream))) => {
                    // `hello_wait` counts from the end of the TLS handshake.
                    let handshaken = tokio::time::Instant::now().into_std();
                    if inner.websocket.is_some() {
                        inner.sniff_stream(id, stream, peer, handshaken).await;
                        return;
                    }
                    let (reader, writer) = tokio::io::split(stream);
                    let halves = Halves {
                        reading: driver::Reading::repod(reader),
                        writer,
                        direct: None,
                    };
                    inner.start_connection(id, halves, peer, handshaken);
                    return;
                }
                Some(Ok(Err(err))) => debug!(%err, "TLS handshake failed"),
                Some(Err(_)) => debug!(?timeout, "TLS handshake timed out"),
                None => {}
            }
            inner.endpoint().ended(id);
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
        let frame = podnet_proto::close_frame("server full", &self.connection_config.framing);
        self.tracker.spawn(async move {
            let _permit = permit;
            let mut stream = stream;
            if stream.set_nodelay(true).is_ok() {
                socket::last_words(&mut stream, &frame, REJECT_LINGER).await;
            }
        });
    }
}

/// Makes one connection's events (adding its id) and hands them to the server's sink.
pub(super) struct ConnOwner {
    pub(super) id: ConnectionId,
    pub(super) conn: Arc<Shared>,
    pub(super) inner: Arc<Inner>,
}

impl Owner for ConnOwner {
    type Side = podnet_proto::ServerSide;

    fn rtt(&self, rtt: std::time::Duration) {
        self.inner.record_rtt(rtt);
    }

    fn established(&self, handshake: Handshake) -> Welcome {
        let kind = handshake.connection_type.kind();
        if self.conn.set_handshake(handshake.clone()) {
            self.inner.registry.became_session();
            self.inner.sink.deliver(ServerEvent::Connected {
                id: self.id,
                peer: self.conn.peer,
                handshake,
            });
            return Welcome::Nothing;
        }
        if kind != ConnectionKind::Info {
            return Welcome::Nothing;
        }
        let now = tokio::time::Instant::now().into_std();
        // The endpoint's lock is let go before the answer is made: it takes it again.
        let answer = self.inner.endpoint().info(now);
        match answer {
            podnet_proto::InfoAnswer::Answer => Welcome::Info(self.inner.server_info()),
            podnet_proto::InfoAnswer::Refuse => Welcome::RefuseInfo,
        }
    }

    fn spoke(&self) {
        self.inner.endpoint().spoke(self.id);
    }

    fn messages(&self, messages: MessageBatch) {
        self.conn
            .traffic
            .received(messages.len(), messages.byte_len());
        self.inner
            .sink
            .deliver_received(Received::new(self.id, messages));
    }

    fn batch_bytes(&self) -> usize {
        self.inner.batch_bytes
    }

    fn error(&self, error: Incoming<FramingError>) {
        self.inner
            .sink
            .deliver(ServerEvent::Error { id: self.id, error });
    }

    fn dropped(&self, core: podnet_proto::ServerConnection, reason: DisconnectReason) {
        self.inner.park(self.id, self.conn.clone(), core, reason);
    }

    fn resumed(&self) {
        self.inner
            .sink
            .deliver(ServerEvent::Resumed { id: self.id });
    }

    fn check_resume(&self, token: &podnet_proto::ResumeToken) -> Result<(), String> {
        self.inner.check_resume(&self.conn, token)
    }

    fn handoff(&self, handoff: driver::Handoff) {
        self.inner.take_over(handoff);
    }

    fn closed(&self, reason: DisconnectReason) {
        // Forget it first, so that once the application sees it leave, sending to it fails.
        self.inner
            .registry
            .remove(self.id, &self.inner.counters.traffic);
        self.inner.endpoint().ended(self.id);
        if reason == DisconnectReason::Aborted {
            self.inner.aborted.fetch_add(1, Ordering::Relaxed);
        }
        if self.conn.is_session() {
            self.inner.sink.deliver(ServerEvent::Disconnected {
                id: self.id,
                reason,
            });
        }
    }
}

/// A connection's two halves, ready to be served.
pub(super) struct Halves<R, W> {
    pub(super) reading: driver::Reading<R>,
    pub(super) writer: W,
    /// The socket, for writes straight from the sending thread (plain TCP).
    pub(super) direct: Option<Arc<dyn DirectWrite>>,
}

impl Halves<OwnedReadHalf, SharedTcpWriter> {
    /// A plain TCP connection: its writing half shared for direct writes.
    pub(super) fn tcp(stream: TcpStream) -> Self {
        let (reader, writer) = stream.into_split();
        let writer = Arc::new(writer);
        let direct: Arc<dyn DirectWrite> = writer.clone();
        Self {
            reading: driver::Reading::repod(reader),
            writer: SharedTcpWriter(writer),
            direct: Some(direct),
        }
    }
}

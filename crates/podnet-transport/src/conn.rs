//! What one connection's tasks and the application's handles share: the outbound queue,
//! the tokens that close or cut it, the reason it ends with, and its figures. The protocol
//! decisions are the state machine's (`podnet_proto::Connection`), owned by the reader.
//!
//! Lifecycle. A connection is open until one of these happens, and the first one decides
//! the [`DisconnectReason`] (see [`podnet_proto::Ending`]):
//!
//! - a local `close(reason)`: the queue closes behind what is already in it, the writer
//!   writes all of it, then `podnet:close` with the reason, then shuts its half down; the
//!   reader keeps reading (and discarding) until the peer closes its half, so the peer's
//!   kernel never sees a reset that could destroy data it has not read yet;
//! - the peer closes (EOF): what was queued is still flushed, then the socket closes;
//! - the protocol closes it (a fatal framing error, a failed handshake): as a local close;
//! - a socket error, a slow consumer, a heartbeat timeout, or an abort: cut at once.
//!
//! A graceful close is bounded by `close_timeout`; past it the connection is cut and the
//! reason becomes [`DisconnectReason::Aborted`] if the writer had not finished.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use podnet_proto::{ConnectionKind, Ending, Handshake, ResumeToken};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::lock::Lock;
use crate::outbound::{DirectWrite, OutboundQueue, PushError};
use crate::websocket;
use crate::{ConnectionConfig, SlowConsumerPolicy};
use crate::{ConnectionId, DisconnectReason, SendError};

/// The state of one connection that its tasks and the application's handles share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) id: Option<ConnectionId>,
    pub(crate) peer: SocketAddr,
    pub(crate) config: Arc<ConnectionConfig>,
    pub(crate) queue: OutboundQueue,
    /// Set by the reader when the peer sends something; a direct write consumes it.
    pub(crate) direct_ok: AtomicBool,
    /// Cancelled when a graceful close starts.
    pub(crate) closing: CancellationToken,
    /// Cancelled to cut the connection now.
    pub(crate) abort: CancellationToken,
    ending: Mutex<Ending>,
    /// How long the graceful close may take, in milliseconds: `close_timeout`, or less
    /// for an evicted connection.
    close_within_ms: AtomicU64,
    /// What the handshake settled, once it has.
    handshake: OnceLock<Handshake>,
    /// Set once the handshake made this a session the application sees.
    session: AtomicBool,
    /// The peer said `podnet:hello` (it is podnet, not repod).
    pub(crate) podnet_peer: AtomicBool,
    pub(crate) bad_frames: AtomicU64,
    /// Last measured round trip, in microseconds; 0 until measured.
    pub(crate) rtt_micros: AtomicU64,
    /// What it carried, for the server's figures.
    pub(crate) traffic: crate::stats::Traffic,
    /// Whether the peer speaks WebSocket: each frame goes out as a WebSocket message.
    is_websocket: bool,
    /// Whether it is in TLS.
    tls: bool,
    /// A WebSocket peer's current connection: the code and reason this side's close
    /// frame answers with, when it is not a plain close (1000 with the `podnet:close`
    /// reason): the echo of the peer's close, or the peer's violation. The reader sets it;
    /// whoever closes reads it.
    close_answer: Mutex<Option<(u16, String)>>,
    /// Set while the session is resumable: a failed connection drops it, not the session.
    resumable: AtomicBool,
    /// What a resumable session keeps between its connections.
    resume_slot: Mutex<SessionSlot>,
    /// Wakes whoever waits for the session to be parked (a resume taking it over).
    pub(crate) parked_notify: tokio::sync::Notify,
}

/// A resumable session's state between its connections.
#[derive(Debug, Default)]
pub(crate) struct SessionSlot {
    /// The token in force, and (on a server) the one before while the client has not
    /// confirmed the new one.
    pub(crate) token: Option<ResumeToken>,
    pub(crate) previous: Option<ResumeToken>,
    /// The protocol state while no connection carries the session, with why it dropped.
    pub(crate) parked: Option<(podnet_proto::ServerConnection, DisconnectReason)>,
    /// Counts parkings, so a grace timer knows whether its parking is still the one.
    pub(crate) generation: u64,
    /// Stops the grace timer of the current parking (when the session resumes), so no
    /// task outlives its purpose and holds up a shutdown.
    pub(crate) grace_timer: Option<CancellationToken>,
    /// Cuts the current connection (not the session).
    pub(crate) link: Option<CancellationToken>,
    /// Why the current connection failed, as its writer saw it.
    pub(crate) link_error: Option<String>,
}

/// A snapshot of one connection's figures.
///
/// ```
/// # async fn demo(server: &podnet_transport::Server, id: podnet_transport::ConnectionId) {
/// if let Some(info) = server.connection_info(id) {
///     println!("{} has {} bytes queued, rtt {:?}", info.peer, info.queued_bytes, info.rtt);
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// The peer's address.
    pub peer: SocketAddr,
    /// Frames waiting to be written.
    pub queued_frames: usize,
    /// Bytes waiting to be written (with a small per-frame overhead), as counted against
    /// [`ConnectionConfig::max_queued_bytes`].
    pub queued_bytes: usize,
    /// The most `queued_bytes` has been.
    pub max_queued_bytes: usize,
    /// Frames received that were not messages.
    pub bad_frames: u64,
    /// The last round trip measured by the heartbeat, between podnet peers.
    pub rtt: Option<Duration>,
    /// Whether the peer said `podnet:hello` (it is podnet, not repod).
    pub podnet_peer: bool,
    /// How it is connected: TCP, TLS, WebSocket or WebSocket in TLS.
    pub transport: crate::Transport,
    /// What the handshake settled, once it has.
    pub handshake: Option<Handshake>,
    /// Whether the session resumes after a dropped connection (see
    /// [`ResumeConfig`](crate::ResumeConfig)).
    pub resumable: bool,
    /// Messages kept for a resume that the peer has not acknowledged yet.
    pub unacked_frames: usize,
    /// Their bytes, as counted against [`ConnectionConfig::max_unacked_bytes`].
    pub unacked_bytes: usize,
}

impl Shared {
    pub(crate) fn new(
        id: Option<ConnectionId>,
        peer: SocketAddr,
        config: Arc<ConnectionConfig>,
        abort: CancellationToken,
        // The socket, for writing from the sending thread when nothing is queued (plain
        // TCP; `None` for TLS, whose writes go through its session).
        direct: Option<Arc<dyn DirectWrite>>,
        is_websocket: bool,
    ) -> Self {
        let close_ms = u64::try_from(config.close_timeout.as_millis()).unwrap_or(u64::MAX);
        // Plain TCP writes straight to the socket; TLS goes through its session.
        let tls = direct.is_none();
        Self {
            id,
            peer,
            queue: OutboundQueue::with_replay_limit(
                config.max_queued_bytes,
                config.max_unacked_bytes,
                direct,
            ),
            direct_ok: AtomicBool::new(false),
            config,
            closing: CancellationToken::new(),
            abort,
            ending: Mutex::new(Ending::default()),
            close_within_ms: AtomicU64::new(close_ms),
            handshake: OnceLock::new(),
            session: AtomicBool::new(false),
            podnet_peer: AtomicBool::new(false),
            bad_frames: AtomicU64::new(0),
            rtt_micros: AtomicU64::new(0),
            traffic: crate::stats::Traffic::default(),
            is_websocket,
            tls,
            close_answer: Mutex::new(None),
            resumable: AtomicBool::new(false),
            resume_slot: Mutex::new(SessionSlot::default()),
            parked_notify: tokio::sync::Notify::new(),
        }
    }

    /// Whether the peer is a WebSocket client.
    pub(crate) fn is_websocket(&self) -> bool {
        self.is_websocket
    }

    /// A WebSocket peer sent a close frame (with `code`, if it gave one): this side's
    /// close answers with the same code. The first answer stands.
    pub(crate) fn peer_closed_websocket(&self, code: Option<u16>) {
        self.close_answer
            .locked()
            .get_or_insert_with(|| (code.unwrap_or(websocket::NORMAL_CLOSE), String::new()));
    }

    /// A WebSocket peer broke the protocol: this side closes with the violation's code
    /// and reason. The first answer stands.
    pub(crate) fn violated_websocket(&self, violation: &websocket::Violation) {
        self.close_answer
            .locked()
            .get_or_insert_with(|| (violation.code.code(), violation.reason.clone()));
    }

    /// A resumed session's new connection: nothing to answer yet.
    pub(crate) fn new_link(&self) {
        *self.close_answer.locked() = None;
    }

    /// The resumable session's state.
    pub(crate) fn slot(&self) -> MutexGuard<'_, SessionSlot> {
        // Plain assignments only.
        self.resume_slot.locked()
    }

    /// Whether the session is resumable (a failed connection drops it, not the session).
    pub(crate) fn is_resumable(&self) -> bool {
        self.resumable.load(Ordering::Acquire)
    }

    /// The session is resumable with `token` from now on (the one before stays good
    /// until confirmed).
    pub(crate) fn set_resumable(&self, token: ResumeToken) {
        self.queue.keep_for_resume();
        let mut slot = self.slot();
        slot.previous = slot.token.replace(token);
        drop(slot);
        self.resumable.store(true, Ordering::Release);
    }

    /// (Server.) The session is resumable from the frame after `hello`, which grants it:
    /// nothing the application sends meanwhile goes between the two.
    pub(crate) fn grant_resumable(&self, token: ResumeToken, hello: Bytes) {
        let (header, hello) = self.on_the_wire(hello);
        // A full queue here is the slow-consumer case for the next message.
        let _ = self.queue.push_control_then_keep(header, hello);
        let mut slot = self.slot();
        slot.previous = slot.token.replace(token);
        drop(slot);
        self.resumable.store(true, Ordering::Release);
    }

    /// The session is not resumable (the server granted none).
    pub(crate) fn set_not_resumable(&self) {
        self.resumable.store(false, Ordering::Release);
        self.queue.stop_keeping();
        let mut slot = self.slot();
        slot.token = None;
        slot.previous = None;
    }

    /// Whether `token` is the session's current one, or the one before it while the
    /// client has not confirmed the new one: compared in constant time.
    pub(crate) fn token_matches(&self, token: &ResumeToken) -> bool {
        let slot = self.slot();
        let good =
            |ours: &ResumeToken| ours.instance() == token.instance() && ours.same_secret(token);
        // Both are compared, always, so timing does not say which one matched.
        let current = slot.token.as_ref().is_some_and(good);
        let previous = slot.previous.as_ref().is_some_and(good);
        current | previous
    }

    /// The connection failed as the writer saw it: on a resumable session it is cut
    /// (the session stays, for a resume); otherwise the session ends.
    pub(crate) fn link_failed(&self, error: String) {
        if self.is_resumable() {
            let link = {
                let mut slot = self.slot();
                slot.link_error.get_or_insert(error);
                slot.link.clone()
            };
            // Cancelled with the slot let go: a cancel wakes tasks.
            if let Some(link) = link {
                link.cancel();
            }
        } else {
            self.abort_with(DisconnectReason::Io { error });
        }
    }

    /// Sends a control message: never kept for a resume, dropped while no connection
    /// carries the session.
    pub(crate) fn send_control(&self, frame: Bytes) {
        let (header, frame) = self.on_the_wire(frame);
        // A full queue here is the slow-consumer case for the next message.
        let _ = self.queue.push_control(header, frame);
    }

    fn ending(&self) -> MutexGuard<'_, Ending> {
        // Every update is one assignment; a poisoned lock still holds a valid reason.
        self.ending.locked()
    }

    /// Records why the connection ends; the first reason recorded wins.
    pub(crate) fn record(&self, reason: DisconnectReason) {
        self.ending().record(reason);
    }

    /// Records why the connection ends in place of the reason recorded before.
    pub(crate) fn overrule(&self, reason: DisconnectReason) {
        self.ending().overrule(reason);
    }

    /// A graceful close did not finish in time.
    pub(crate) fn unfinished(&self) {
        self.ending().unfinished();
    }

    pub(crate) fn take_reason(&self) -> DisconnectReason {
        self.ending().take()
    }

    /// The handshake completed; returns whether it made a session.
    pub(crate) fn set_handshake(&self, handshake: Handshake) -> bool {
        let session = handshake.connection_type.kind() == ConnectionKind::Session;
        let _ = self.handshake.set(handshake);
        if session {
            self.session.store(true, Ordering::Release);
        }
        session
    }

    /// Whether the application sees this connection: its handshake made it a session.
    #[inline]
    pub(crate) fn is_session(&self) -> bool {
        self.session.load(Ordering::Acquire)
    }

    /// A repod frame as it goes to this peer: as it is, or as a WebSocket message (a
    /// header, then the message sliced out of the same bytes).
    fn on_the_wire(&self, frame: Bytes) -> (Option<Bytes>, Bytes) {
        if self.is_websocket {
            let (header, message) = websocket::frames::message(&frame);
            (Some(header), message)
        } else {
            (None, frame)
        }
    }

    /// What goes out last when the reader ended before any close from this side: the
    /// answer to a WebSocket peer's close frame; nothing otherwise.
    pub(crate) fn last_words(&self) -> Bytes {
        let answer = self.close_answer.locked().clone();
        goodbye(self.is_websocket, None, answer, &self.config.framing)
    }

    fn not_connected(&self) -> SendError {
        SendError::NotConnected { id: self.id }
    }

    /// Sends a frame without waiting: written at once if nothing is queued and the peer
    /// has sent something since the last such write, queued otherwise; the slow-consumer
    /// policy applies if the queue is full.
    pub(crate) fn send(&self, frame: Bytes) -> Result<(), SendError> {
        let (header, frame) = self.on_the_wire(frame);
        match self.queue.push_direct(header, frame, &self.direct_ok) {
            Ok(()) => Ok(()),
            Err(PushError::Closed) => Err(self.not_connected()),
            Err(PushError::Full { queued, limit }) => {
                if self.config.slow_consumer == SlowConsumerPolicy::Disconnect {
                    warn!(peer = %self.peer, queued, limit, "slow consumer: disconnecting");
                    self.abort_with(DisconnectReason::SlowConsumer { queued, limit });
                }
                Err(SendError::QueueFull {
                    id: self.id,
                    queued,
                    limit,
                })
            }
        }
    }

    /// Queues a frame, waiting for room instead of applying the slow-consumer policy.
    pub(crate) async fn send_wait(&self, frame: Bytes) -> Result<(), SendError> {
        let (header, frame) = self.on_the_wire(frame);
        self.queue
            .push_wait(header, frame)
            .await
            .map_err(|_| self.not_connected())
    }

    /// Starts a graceful close: what is queued goes out, then `podnet:close` with
    /// `wire_reason`. Returns false if the connection was already closing.
    pub(crate) fn close(&self, reason: DisconnectReason, wire_reason: &str) -> bool {
        let answer = self.close_answer.locked().clone();
        let frame = goodbye(
            self.is_websocket,
            Some(wire_reason),
            answer,
            &self.config.framing,
        );
        // Hold the reason while closing the queue: once the queue is closed the writer can
        // send the close and the peer can answer with end-of-stream, and the reader must
        // not record "closed by the peer" before this side's reason is in.
        let mut ending = self.ending();
        if !self.queue.close_quietly(frame) {
            return false;
        }
        ending.record(reason);
        drop(ending);
        // Woken with no lock held.
        self.queue.wake();
        self.closing.cancel();
        true
    }

    /// As [`close`](Self::close), allowed `within` instead of `close_timeout`.
    pub(crate) fn close_within(
        &self,
        reason: DisconnectReason,
        wire_reason: &str,
        within: Duration,
    ) -> bool {
        let ms = u64::try_from(within.as_millis()).unwrap_or(u64::MAX);
        self.close_within_ms.fetch_min(ms, Ordering::Relaxed);
        self.close(reason, wire_reason)
    }

    /// How long the graceful close under way may take.
    pub(crate) fn close_within_limit(&self) -> Duration {
        Duration::from_millis(self.close_within_ms.load(Ordering::Relaxed))
    }

    /// Cuts the connection now, dropping what was queued.
    pub(crate) fn abort_with(&self, reason: DisconnectReason) {
        self.record(reason);
        self.queue.abort();
        self.abort.cancel();
    }

    pub(crate) fn is_open(&self) -> bool {
        !self.queue.is_closing()
    }

    /// Whether this side asked for a close (the application, or a shutdown).
    pub(crate) fn close_asked(&self) -> bool {
        !self.is_open() || self.closing.is_cancelled()
    }

    pub(crate) fn info(&self) -> ConnectionInfo {
        let stats = self.queue.stats();
        let rtt = self.rtt_micros.load(Ordering::Relaxed);
        let (unacked_frames, unacked_bytes) = self.queue.kept();
        ConnectionInfo {
            peer: self.peer,
            queued_frames: stats.frames,
            queued_bytes: stats.charged,
            max_queued_bytes: stats.high_water,
            bad_frames: self.bad_frames.load(Ordering::Relaxed),
            rtt: (rtt > 0).then(|| Duration::from_micros(rtt)),
            podnet_peer: self.podnet_peer.load(Ordering::Relaxed),
            transport: match (self.is_websocket, self.tls) {
                (false, false) => crate::Transport::Tcp,
                (false, true) => crate::Transport::Tls,
                (true, false) => crate::Transport::WebSocket,
                (true, true) => crate::Transport::SecureWebSocket,
            },
            handshake: self.handshake.get().cloned(),
            resumable: self.is_resumable(),
            unacked_frames,
            unacked_bytes,
        }
    }
}

/// The last bytes a connection sends: `podnet:close` with `reason` (if this side closes),
/// and on a WebSocket the close frame around it, answering the peer's close or violation
/// (`answer`: its code and reason) if there was one. Nothing if there is nothing to say.
pub(crate) fn goodbye(
    websocket: bool,
    reason: Option<&str>,
    answer: Option<(u16, String)>,
    framing: &podnet_proto::podnet_framing::FramingConfig,
) -> Bytes {
    let close = reason.map_or_else(Bytes::new, |why| podnet_proto::close_frame(why, framing));
    if !websocket {
        return close;
    }
    match (answer, reason) {
        (Some((code, why)), _) => websocket::frames::closing(&close, code, &why),
        (None, Some(why)) => websocket::frames::closing(&close, websocket::NORMAL_CLOSE, why),
        (None, None) => close,
    }
}

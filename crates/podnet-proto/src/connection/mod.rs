//! The state machine of one connection, on either side.
//!
//! It decides everything about the connection's protocol and nothing about its I/O: the
//! handshake, the heartbeat and its round trips, the rate limit, what control messages
//! mean, and when the connection must close and why. A driver (the tokio transport, or
//! any other) feeds it what happened, with the time, and carries out what it answers.
//!
//! It never reads a clock: every call that depends on time takes `now`, so every rule is
//! tested with invented instants.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use podnet_framing::{FramingError, RawMessage};
use tracing::{debug, trace};

use crate::control::{self, Control, HelloOut, HelloResume, MAX_TYPE_NAME, PROTOCOL_VERSION};
use crate::resume::{Receipts, ResumeRole};
use crate::{
    ConnectionConfig, ConnectionId, ConnectionKind, ConnectionType, ConnectionTypes,
    DisconnectReason, Handshake, Peer, RESUME_REFUSED, ResumeSettings, ResumeToken, ServerInfo,
    TokenBucket,
};

mod action;
mod handshake;
mod info;
mod input;
mod resume;
mod settings;
mod side;
mod timers;

pub use action::Action;
pub use input::Input;
pub use settings::{ClientSettings, ServerSettings};
use side::RoleRef;
pub use side::{ClientConnection, ClientSide, ServerConnection, ServerSide, Side};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The handshake has not settled what the connection is.
    Handshaking,
    Established,
    /// (Client.) A resume hello went out on a new link; the answer is awaited until the
    /// deadline.
    Resuming,
    /// A graceful close is under way: only its deadline matters.
    Closing,
    /// Cut, or past the close's deadline: nothing more happens.
    Done,
}

/// Heartbeat bookkeeping.
#[derive(Debug)]
struct Heartbeat {
    /// When anything last arrived from the peer.
    last_heard: Instant,
    /// When the last ping went out (or the heartbeat started).
    last_ping: Instant,
    next_seq: u64,
    /// The ping awaiting its pong; it was sent at `last_ping`.
    outstanding: Option<u64>,
}

/// The protocol state of one connection, on the side `S`: [`ServerConnection`] or
/// [`ClientConnection`].
///
/// # How a driver calls it
///
/// Quinn-proto's order, in small:
///
/// 1. Make it with [`server`](Self::server) or [`client`](Self::client) when the byte stream
///    opens (after TLS, if any), then [`poll`](Self::poll) its first actions: a
///    client's hello.
/// 2. Everything that arrives or happens goes to [`handle`](Self::handle) as an
///    [`Input`]: for every read, [`Input::Read`] (the peer is alive); then, frame by
///    frame in order, a `podnet:` message as [`Input::Control`], and any other frame,
///    message or not, as [`Input::Frame`] *before* it is handed to the application,
///    while [`needs_frames`](Self::needs_frames) says so (it stops saying so once the
///    handshake is settled and the peer has spoken, so the hot path costs one branch);
///    after a hand-over, [`Input::Delivered`] while
///    [`counts_messages`](Self::counts_messages) says so. With a rate limit,
///    [`take_frame_token`](Self::take_frame_token) before each frame says when to
///    resume if the peer is over it. A frame that breaks the stream is
///    [`Input::Broken`]; the end of the stream [`Input::End`]; a failed link
///    [`Input::Lost`]; a close this side asks for [`Input::CloseAsked`].
/// 3. Sleep until [`poll_timeout`](Self::poll_timeout), and when it passes call
///    [`handle_timeout`](Self::handle_timeout).
/// 4. After each call, [`poll`](Self::poll) until `None` and carry out each
///    [`Action`], in order. Whether a session outlives its link is the connection's
///    decision: a link that ends comes back as [`Action::Dropped`] (keep the session for
///    a resume), [`Action::Ended`] or [`Action::Cut`].
///
/// # Example
///
/// ```
/// use std::time::{Duration, Instant};
/// use std::sync::Arc;
/// use podnet_proto::{Action, Connection, Peer, ServerSettings};
///
/// // A server-side connection whose peer says nothing: after `hello_wait` it is a
/// // classic repod peer, and a session.
/// let start = Instant::now();
/// let mut conn = Connection::server(Arc::new(ServerSettings::default()), start);
/// assert_eq!(conn.poll(), None);
/// let wake = conn.poll_timeout().unwrap();
/// assert_eq!(wake, start + Duration::from_millis(10));
/// conn.handle_timeout(wake);
/// // It is told so (a podnet client whose hello is late learns it; repod ignores it).
/// assert!(matches!(conn.poll(), Some(Action::Send(_))));
/// match conn.poll() {
///     Some(Action::Established(handshake)) => assert_eq!(handshake.peer, Peer::Repod),
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Debug)]
pub struct Connection<S: Side> {
    side: S,
    state: State,
    handshake: Option<Handshake>,
    /// The peer's protocol version, once it said hello.
    podnet: Option<u32>,
    /// Whether the peer has sent a complete frame.
    spoke: bool,
    heartbeat: Heartbeat,
    rtt: Option<Duration>,
    /// Boxed: most connections have no rate limit, and every byte here is in every
    /// connection's reader task.
    rate: Option<Box<TokenBucket>>,
    /// The reason the peer gave in `podnet:close`.
    peer_reason: Option<String>,
    /// While handshaking (on a server): when the peer counts as a silent repod peer.
    /// While resuming: when the answer is late. While closing: when the close must end.
    deadline: Option<Instant>,
    actions: VecDeque<Action>,
    /// Resume bookkeeping, when asked for or agreed.
    receipts: Option<Box<Receipts>>,
    /// A graceful close (either side's) started: the session ends with the connection.
    closed: bool,
    /// (Server.) A resume answer went out with a new token, and nothing came back since.
    unconfirmed: bool,
    /// (Client.) A close asked for while resuming, to start once the session is back:
    /// how long it may take.
    close_wanted: Option<Duration>,
}

impl<S: Side> Connection<S> {
    fn new(side: S, now: Instant) -> Self {
        let rate = side
            .role()
            .config()
            .rate_limit
            .map(|limit| Box::new(TokenBucket::new(limit, now)));
        Self {
            side,
            state: State::Handshaking,
            handshake: None,
            podnet: None,
            spoke: false,
            heartbeat: Heartbeat {
                last_heard: now,
                last_ping: now,
                next_seq: 1,
                outstanding: None,
            },
            rtt: None,
            rate,
            peer_reason: None,
            deadline: None,
            actions: VecDeque::new(),
            receipts: None,
            closed: false,
            unconfirmed: false,
            close_wanted: None,
        }
    }

    fn settings(&self) -> &ConnectionConfig {
        self.side.role().config()
    }

    /// The next thing the driver must do, in order.
    pub fn poll(&mut self) -> Option<Action> {
        let action = self.actions.pop_front();
        if action.is_none() && self.actions.capacity() > 0 {
            // Actions come in small bursts (a handshake, a ping); ten thousand idle
            // connections should not each keep the room for one.
            self.actions = VecDeque::new();
        }
        action
    }

    /// What the handshake settled, once it has.
    pub fn handshake(&self) -> Option<&Handshake> {
        self.handshake.as_ref()
    }

    /// When the graceful close under way must end, once it has a deadline
    /// ([`Input::CloseAsked`]).
    pub fn closing_deadline(&self) -> Option<Instant> {
        matches!(self.state, State::Closing | State::Done)
            .then_some(self.deadline)
            .flatten()
    }

    /// The last round trip the heartbeat measured.
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt
    }

    /// Whether the peer has sent a complete frame yet.
    pub fn has_spoken(&self) -> bool {
        self.spoke
    }

    /// Whether [`Input::Frame`] still matters: until the handshake has settled and the
    /// peer has spoken.
    #[inline]
    pub fn needs_frames(&self) -> bool {
        self.state == State::Handshaking || !self.spoke
    }

    fn on_frame(&mut self, now: Instant) {
        if self.state == State::Handshaking {
            self.settle_without_hello(now, false);
        }
        self.spoken();
    }

    fn spoken(&mut self) {
        if !self.spoke {
            self.spoke = true;
            self.actions.push_back(Action::Spoke);
        }
    }

    /// The peer broke the protocol, as `error` says: close gracefully, telling the peer.
    pub(super) fn on_violation(&mut self, error: String) {
        self.close(
            DisconnectReason::Protocol {
                error: error.clone(),
            },
            error,
        );
    }

    /// The refusal of the resume this side asked for, if the peer refused it.
    pub fn resume_refusal(&self) -> Option<DisconnectReason> {
        match (self.state, &self.peer_reason) {
            (State::Resuming | State::Closing | State::Done, Some(reason))
                if self.closed && reason.starts_with(RESUME_REFUSED) =>
            {
                Some(DisconnectReason::ResumeRefused {
                    reason: reason.clone(),
                })
            }
            _ => None,
        }
    }

    /// The reason the connection ends with when the peer closes its side;
    /// `mid_frame` is how many bytes of an unfinished frame had arrived, if any.
    fn end_reason(&mut self, mid_frame: Option<usize>) -> DisconnectReason {
        if let Some(refused) = self.resume_refusal() {
            return refused;
        }
        match mid_frame {
            None => DisconnectReason::PeerClosed {
                reason: self.peer_reason.take(),
            },
            Some(received) => DisconnectReason::Protocol {
                error: format!(
                    "the peer closed the connection in the middle of a frame ({received} \
                     bytes of it received)"
                ),
            },
        }
    }

    /// With a rate limit: takes a token for the next frame. `None` to go on; otherwise
    /// the peer is over its rate, and the driver hands over what it has, stops reading,
    /// and resumes at the instant returned (the token is taken then).
    #[inline]
    pub fn take_frame_token(&mut self, now: Instant) -> Option<Instant> {
        self.rate.as_mut()?.take(now)
    }

    /// Whether a rate limit applies (so that [`take_frame_token`](Self::take_frame_token)
    /// is worth calling).
    pub fn is_rate_limited(&self) -> bool {
        self.rate.is_some()
    }

    fn on_control(&mut self, msg: &RawMessage, now: Instant) {
        let Some(control) = Control::parse(msg) else {
            return;
        };
        if matches!(self.state, State::Closing | State::Done) {
            // Input after a close started is read and dropped; only the peer's own
            // close reason still counts.
            if let Control::Close { reason } = control {
                self.closed = true;
                self.peer_reason = Some(reason);
            }
            return;
        }
        self.spoken();
        match control {
            Control::Hello {
                protocol,
                conn_type,
                resume,
            } => self.on_hello(protocol, conn_type, resume, now),
            Control::Ack { n: Some(n) } => {
                if self.is_agreed() {
                    self.actions.push_back(Action::Acked(n));
                }
            }
            Control::Ack { n: None } => trace!("podnet:ack without a count: ignored"),
            Control::Ping { seq } => {
                let pong = control::pong_frame(seq.unwrap_or(0), &self.settings().framing);
                self.actions.push_back(Action::Send(pong));
            }
            Control::Pong { seq } => {
                if let Some(sent_seq) = self.heartbeat.outstanding {
                    if seq == Some(sent_seq) {
                        let sent_at = self.heartbeat.last_ping;
                        let rtt = now
                            .saturating_duration_since(sent_at)
                            .max(Duration::from_micros(1));
                        self.rtt = Some(rtt);
                        self.heartbeat.outstanding = None;
                        self.actions.push_back(Action::Rtt(rtt));
                    }
                }
            }
            Control::Close { reason } => {
                debug!(%reason, "peer is closing");
                // A busy server asks a resuming client to try again: the session lives on.
                if !(self.state == State::Resuming && reason == crate::RESUME_BUSY) {
                    self.closed = true;
                }
                self.peer_reason = Some(reason);
            }
            Control::Info => self.on_info(msg, now),
            Control::Unknown => trace!(action = msg.action(), "unknown control message"),
        }
    }

    /// Asks the driver to close gracefully, once.
    fn close(&mut self, reason: DisconnectReason, wire: String) {
        if matches!(self.state, State::Closing | State::Done) {
            return;
        }
        self.closed = true;
        self.state = State::Closing;
        // The close's own deadline comes with `Input::CloseAsked`.
        self.deadline = None;
        // The peer is always told why: a blank reason says what kind of end it is.
        let wire = if wire.trim().is_empty() {
            reason.to_string()
        } else {
            wire
        };
        self.actions.push_back(Action::Close { reason, wire });
    }

    /// Whether a graceful close is under way (or over): what the peer sends from now on is
    /// read and dropped.
    pub fn is_closing(&self) -> bool {
        matches!(self.state, State::Closing | State::Done)
    }
}

impl Connection<ServerSide> {
    /// A connection a server accepted at `now`.
    pub fn server(settings: Arc<ServerSettings>, now: Instant) -> Self {
        let wait = settings.hello_wait;
        Self::server_waiting(settings, now, wait)
    }

    /// A connection a server accepted through a WebSocket upgrade answered at `now`: it
    /// waits [`ServerSettings::websocket_hello_wait`] for a hello.
    pub fn server_over_websocket(settings: Arc<ServerSettings>, now: Instant) -> Self {
        let wait = settings.websocket_hello_wait;
        Self::server_waiting(settings, now, wait)
    }

    fn server_waiting(settings: Arc<ServerSettings>, now: Instant, wait: Duration) -> Self {
        let mut conn = Self::new(ServerSide { settings, id: None }, now);
        conn.deadline = Some(now + wait);
        conn
    }

    /// Names the connection: the resume tokens it gives carry its id. A server
    /// connection without one grants no resume.
    pub fn with_id(mut self, id: ConnectionId) -> Self {
        self.side.id = Some(id);
        self
    }
}

impl Connection<ClientSide> {
    /// A client's connection, opened at `now`. Its first action is its hello (unless
    /// [`ClientSettings::hello`] is off).
    pub fn client(settings: Arc<ClientSettings>, now: Instant) -> Self {
        let connection_type = ConnectionTypes::default()
            .get(&settings.connection_type)
            .cloned()
            .unwrap_or_else(|| ConnectionType::session(&settings.connection_type));
        let asks = settings.hello && settings.resume.is_some();
        let hello = settings.hello.then(|| {
            control::hello_frame_with(
                &settings.connection_type,
                &HelloOut {
                    resume: asks,
                    ..HelloOut::default()
                },
                &settings.connection.framing,
            )
        });
        let receipts = settings
            .resume
            .clone()
            .filter(|_| asks)
            .map(|s| Box::new(Receipts::new(s, ResumeRole::Asked)));
        let mut conn = Self::new(
            ClientSide {
                settings,
                connection_type,
            },
            now,
        );
        conn.receipts = receipts;
        if let Some(hello) = hello {
            conn.actions.push_back(Action::Send(hello));
        }
        conn
    }
}

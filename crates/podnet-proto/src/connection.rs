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
    ConnectionId, ConnectionKind, ConnectionSettings, ConnectionType, ConnectionTypes,
    DisconnectReason, Handshake, Peer, RESUME_REFUSED, ResumeSettings, ResumeToken, ServerInfo,
    TokenBucket,
};

/// What a server-side connection needs beyond [`ConnectionSettings`]. One per server,
/// shared by its connections.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerSettings {
    /// The per-connection settings.
    pub connection: ConnectionSettings,
    /// The connection types this server accepts.
    pub types: ConnectionTypes,
    /// How long a new connection may stay silent before it counts as a `classic` peer
    /// that does not say hello (repod). Default: **500 ms**.
    pub hello_wait: Duration,
    /// repod's `{"action": "connected"}` greeting, encoded, sent to each session when its
    /// handshake completes; `None` sends none.
    pub greeting: Option<Bytes>,
    /// Grant resumable sessions to podnet clients that ask, acknowledging as this says;
    /// `None` grants none (a resume is then refused). Default: `None`.
    pub resume: Option<ResumeSettings>,
    /// This server instance's number, carried in every resume token it gives, so that a
    /// restarted server refuses the tokens of the one before. Default: a random number.
    pub instance: u64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            connection: ConnectionSettings::default(),
            types: ConnectionTypes::default(),
            hello_wait: Duration::from_millis(500),
            greeting: None,
            resume: None,
            instance: ResumeToken::new_instance(),
        }
    }
}

/// What a client-side connection needs beyond [`ConnectionSettings`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientSettings {
    /// The per-connection settings.
    pub connection: ConnectionSettings,
    /// The connection type to ask for. Default: `classic`.
    pub connection_type: String,
    /// Say `podnet:hello` first thing. Default: **true**. Without it a podnet server
    /// takes this client for a repod one.
    pub hello: bool,
    /// Ask the server for a resumable session, acknowledging as this says; `None` asks
    /// for none. Default: `None`.
    pub resume: Option<ResumeSettings>,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            connection: ConnectionSettings::default(),
            connection_type: ConnectionType::CLASSIC.to_owned(),
            hello: true,
            resume: None,
        }
    }
}

/// What the driver must do, in the order the connection asks for it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Action {
    /// Queue this control message behind what is queued already. It is not an
    /// application frame: it is not counted, kept or sent again after a resume.
    Send(Bytes),
    /// Queue this application message (the `connected` greeting) behind what is queued
    /// already: on a resumable session it is counted and kept like the application's own.
    SendMessage(Bytes),
    /// The session is resumable from now on, with this token: keep every application
    /// frame sent until the peer acknowledges it. A server stores the token to check a
    /// resume against; a client presents it after a drop. Comes again, with a new token,
    /// at every resume.
    Resumable(ResumeToken),
    /// (Server.) The client has the token of the last [`Action::Resumable`]: it sent
    /// something on the resumed link, which it does only after reading the answer that
    /// carried the token. Until then the token before it is still good, so a client that
    /// lost the answer in another drop can still resume.
    TokenConfirmed,
    /// A client asked for a resumable session, and the server did not grant one: stop
    /// keeping what is sent.
    NotResumable,
    /// The peer has received this many application frames of the session: what is kept
    /// up to there may go.
    Acked(u64),
    /// (Server, on a new connection.) The client asks to resume the session its token
    /// names; `received` is how many application frames of it the client had. The driver
    /// checks the token and either hands this connection to that session (see
    /// [`Connection::resume_link`]) or calls [`Connection::refuse_resume`].
    Resume {
        /// The token presented.
        token: ResumeToken,
        /// How many application frames of the session the client had received.
        received: u64,
    },
    /// The session resumed on a new link: send again, in order, every application frame
    /// after the first `received` (what the peer had), then carry on.
    Resumed {
        /// How many application frames the peer had received.
        received: u64,
    },
    /// The handshake completed: the connection is what this says. On a server, a
    /// [session](ConnectionKind::Session) becomes visible to the application now, before
    /// any message of its; an [info](ConnectionKind::Info) connection is to be answered
    /// with [`Connection::answer_info`] (or refused with
    /// [`Connection::refuse_info`]).
    Established(Handshake),
    /// The peer sent its first complete frame: it is no longer a quiet connection (see
    /// [`Admission`](crate::Admission)).
    Spoke,
    /// The peer turned out to be podnet (it said hello).
    PodnetPeer {
        /// Its protocol version.
        protocol: u32,
    },
    /// A round trip was measured by the heartbeat.
    Rtt(Duration),
    /// The server's description arrived, on a client's `info` connection.
    Info(ServerInfo),
    /// Close gracefully: what is queued goes out, then `podnet:close` with `wire`, and
    /// the connection ends with `reason` (unless it already had one).
    Close {
        /// Why, for this side's records.
        reason: DisconnectReason,
        /// Why, as the peer is told.
        wire: String,
    },
    /// Cut the connection now, dropping what is queued.
    Cut(DisconnectReason),
    /// The graceful close's deadline passed: stop reading; the writer's end decides
    /// whether the close itself finished.
    StopReading,
}

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

#[derive(Debug)]
enum Role {
    Server(Arc<ServerSettings>),
    Client {
        settings: Arc<ClientSettings>,
        connection_type: ConnectionType,
    },
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

/// The protocol state of one connection.
///
/// # How a driver calls it
///
/// Quinn-proto's order, in small:
///
/// 1. Make it with [`server`](Self::server) or [`client`](Self::client) when the byte stream
///    opens (after TLS, if any), then [`poll`](Self::poll) its first actions: a
///    client's hello.
/// 2. For every read: [`on_read`](Self::on_read) (the peer is alive). Then, frame by
///    frame in order: a `podnet:` message goes to [`on_control`](Self::on_control);
///    any other frame, message or not, goes to [`on_frame`](Self::on_frame) *before*
///    it is handed to the application, while [`needs_frames`](Self::needs_frames)
///    says so (it stops saying so once the handshake is settled and the peer has spoken,
///    so the hot path costs one branch). With a rate limit,
///    [`take_frame_token`](Self::take_frame_token) before each frame says when to
///    resume if the peer is over it. A frame that breaks the stream goes to
///    [`on_protocol_error`](Self::on_protocol_error).
/// 3. Sleep until [`poll_timeout`](Self::poll_timeout), and when it passes call
///    [`handle_timeout`](Self::handle_timeout).
/// 4. After each call, [`poll`](Self::poll) until `None` and carry out each
///    [`Action`], in order.
/// 5. When a graceful close starts (any side's), call
///    [`start_closing`](Self::start_closing); from then on the only timer is the
///    close's deadline. At end of stream, [`peer_closed`](Self::peer_closed) says
///    which reason the peer's close gives.
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
/// assert_eq!(wake, start + Duration::from_millis(500));
/// conn.handle_timeout(wake);
/// match conn.poll() {
///     Some(Action::Established(handshake)) => assert_eq!(handshake.peer, Peer::Repod),
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Debug)]
pub struct Connection {
    role: Role,
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
    /// The connection's id (on a server), for the resume tokens it gives.
    id: Option<ConnectionId>,
    /// Resume bookkeeping, when asked for or agreed.
    receipts: Option<Box<Receipts>>,
    /// A graceful close (either side's) started: the session ends with the connection.
    closed: bool,
    /// (Server.) A resume answer went out with a new token, and nothing came back since.
    unconfirmed: bool,
}

impl Connection {
    fn new(role: Role, now: Instant) -> Self {
        let settings = match &role {
            Role::Server(s) => &s.connection,
            Role::Client { settings, .. } => &settings.connection,
        };
        let rate = settings
            .rate_limit
            .map(|limit| Box::new(TokenBucket::new(limit, now)));
        Self {
            role,
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
            id: None,
            receipts: None,
            closed: false,
            unconfirmed: false,
        }
    }

    /// A connection a server accepted at `now`.
    pub fn server(settings: Arc<ServerSettings>, now: Instant) -> Self {
        let hello_deadline = now + settings.hello_wait;
        let mut conn = Self::new(Role::Server(settings), now);
        conn.deadline = Some(hello_deadline);
        conn
    }

    /// Names the connection (on a server): the resume tokens it gives carry its id. A
    /// server connection without one grants no resume.
    pub fn with_id(mut self, id: ConnectionId) -> Self {
        self.id = Some(id);
        self
    }

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
            Role::Client {
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

    fn settings(&self) -> &ConnectionSettings {
        match &self.role {
            Role::Server(s) => &s.connection,
            Role::Client { settings, .. } => &settings.connection,
        }
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

    /// When the graceful close under way must end, once [`start_closing`](Self::start_closing)
    /// was called.
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

    /// Bytes arrived from the peer: it is alive.
    #[inline]
    pub fn on_read(&mut self, now: Instant) {
        self.heartbeat.last_heard = now;
        if self.unconfirmed {
            self.unconfirmed = false;
            self.actions.push_back(Action::TokenConfirmed);
        }
    }

    /// Whether [`on_frame`](Self::on_frame) still matters: until the handshake has settled
    /// and the peer has spoken.
    #[inline]
    pub fn needs_frames(&self) -> bool {
        self.state == State::Handshaking || !self.spoke
    }

    /// An application frame arrived (a message, or a frame that is not one), and is about
    /// to be handed over. If the handshake was waiting for a hello, this settles it: the
    /// peer does not say hello, so it is a `classic` repod peer (on a server), or the
    /// server is repod (on a client), and the application learns so before the frame.
    pub fn on_frame(&mut self, now: Instant) {
        if self.state == State::Handshaking {
            self.settle_without_hello(now);
        }
        self.spoken();
    }

    fn spoken(&mut self) {
        if !self.spoke {
            self.spoke = true;
            self.actions.push_back(Action::Spoke);
        }
    }

    /// A frame that breaks the stream (over the length limit): close, telling the peer.
    pub fn on_protocol_error(&mut self, error: &FramingError) {
        self.on_protocol_violation(error.to_string());
    }

    /// The layer under the framing (a WebSocket) broke its own protocol, as `error` says:
    /// the connection closes gracefully with that reason, as for a framing error.
    pub fn on_protocol_violation(&mut self, error: String) {
        self.close(
            DisconnectReason::Protocol {
                error: error.clone(),
            },
            error,
        );
    }

    /// The reason the connection ends with when the peer closes its side;
    /// `mid_frame` is how many bytes of an unfinished frame had arrived, if any.
    pub fn peer_closed(&mut self, mid_frame: Option<usize>) -> DisconnectReason {
        if let (State::Resuming | State::Closing, Some(reason)) = (self.state, &self.peer_reason) {
            if reason.starts_with(RESUME_REFUSED) {
                return DisconnectReason::ResumeRefused {
                    reason: reason.clone(),
                };
            }
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

    /// A control message (an action with the reserved prefix) arrived.
    pub fn on_control(&mut self, msg: &RawMessage, now: Instant) {
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

    /// Why a hello with version `theirs` cannot be accepted, if it cannot.
    fn version_mismatch(&self, theirs: Option<u32>) -> Option<String> {
        let (us, them) = match self.role {
            Role::Server(_) => ("this server", "the client"),
            Role::Client { .. } => ("this client", "the server"),
        };
        match theirs {
            Some(v) if v == PROTOCOL_VERSION => None,
            Some(v) => Some(format!(
                "podnet protocol mismatch: {us} speaks version {PROTOCOL_VERSION}, {them} \
                 version {v}; use podnet releases that speak the same protocol version"
            )),
            None => Some(format!(
                "{them}'s podnet:hello has no readable protocol version ({us} speaks version \
                 {PROTOCOL_VERSION})"
            )),
        }
    }

    fn on_hello(
        &mut self,
        protocol: Option<u32>,
        conn_type: Option<String>,
        resume: HelloResume,
        now: Instant,
    ) {
        if self.state == State::Resuming {
            return self.on_resume_answer(resume, now);
        }
        if self.podnet.is_some() {
            trace!("a second hello: ignored");
            return;
        }
        if let Some(error) = self.version_mismatch(protocol) {
            return self.fail_handshake(error);
        }
        let protocol = protocol.unwrap_or(PROTOCOL_VERSION);
        match &self.role {
            Role::Server(_) if resume.token.is_some() => {
                self.on_resume_request(protocol, resume, now);
            }
            Role::Server(settings) => {
                let name = conn_type.as_deref().unwrap_or(ConnectionType::CLASSIC);
                if name.len() > MAX_TYPE_NAME {
                    return self.fail_handshake(format!(
                        "the connection type asked for is {} bytes long; names are at most \
                         {MAX_TYPE_NAME}",
                        name.len()
                    ));
                }
                let Some(ty) = settings.types.get(name).cloned() else {
                    let known: Vec<&str> = settings.types.names().collect();
                    return self.fail_handshake(format!(
                        "this server has no connection type {name:?}; it accepts: {}",
                        known.join(", ")
                    ));
                };
                let hello = control::hello_frame(ty.name(), &settings.connection.framing);
                if self.state == State::Established {
                    // Late: nothing was heard within `hello_wait`, so the connection was
                    // settled as classic before this hello arrived.
                    let settled = self.handshake.as_ref().map(|h| h.connection_type.clone());
                    if settled.as_ref() != Some(&ty) {
                        return self.fail_handshake(format!(
                            "the client asked for connection type {name:?} after the handshake \
                             had settled on \"classic\" (its hello came after {:?} of silence); \
                             a client says hello first thing after connecting",
                            settings.hello_wait
                        ));
                    }
                    self.actions.push_back(Action::Send(hello));
                    self.become_podnet(protocol, now);
                    return;
                }
                let session = ty.kind() == ConnectionKind::Session;
                let greeting = session.then(|| settings.greeting.clone()).flatten();
                // A resumable session, if the client asks and this server grants them.
                let grant = settings
                    .resume
                    .clone()
                    .filter(|_| resume.resume && session)
                    .zip(self.id)
                    .map(|(resume, id)| (resume, ResumeToken::mint(settings.instance, id)));
                let hello = match &grant {
                    None => hello,
                    Some((_, token)) => control::hello_frame_with(
                        ty.name(),
                        &HelloOut {
                            token: Some(&token.to_wire()),
                            ..HelloOut::default()
                        },
                        &settings.connection.framing,
                    ),
                };
                if let Some((resume, token)) = grant {
                    let mut receipts = Receipts::new(resume, ResumeRole::Agreed);
                    receipts.token = Some(token.clone());
                    self.receipts = Some(Box::new(receipts));
                    // Before anything counted goes out (the greeting is the first).
                    self.actions.push_back(Action::Resumable(token));
                }
                self.actions.push_back(Action::Send(hello));
                if let Some(greeting) = greeting {
                    self.actions.push_back(Action::SendMessage(greeting));
                }
                self.become_podnet(protocol, now);
                self.establish(Peer::Podnet { protocol }, ty);
            }
            Role::Client {
                connection_type, ..
            } => {
                let ty = connection_type.clone();
                self.become_podnet(protocol, now);
                if let Some(receipts) = self.receipts.as_mut() {
                    match resume.token.as_deref().and_then(ResumeToken::parse) {
                        Some(token) => {
                            receipts.role = ResumeRole::Agreed;
                            receipts.token = Some(token.clone());
                            self.actions.push_back(Action::Resumable(token));
                        }
                        None => self.not_resumable(),
                    }
                }
                if self.state == State::Handshaking {
                    self.establish(Peer::Podnet { protocol }, ty);
                }
            }
        }
    }

    /// (Client.) The server did not grant the resumable session asked for.
    fn not_resumable(&mut self) {
        if self.receipts.take().is_some() {
            debug!("the server does not resume sessions");
            self.actions.push_back(Action::NotResumable);
        }
    }

    fn is_agreed(&self) -> bool {
        self.receipts
            .as_ref()
            .is_some_and(|r| r.role == ResumeRole::Agreed)
    }

    /// (Server, new connection.) A hello with a token: the client wants a session back.
    fn on_resume_request(&mut self, protocol: u32, resume: HelloResume, now: Instant) {
        let Role::Server(settings) = &self.role else {
            return;
        };
        if settings.resume.is_none() {
            return self.refuse_resume("this server does not resume sessions");
        }
        let Some(token) = resume.token.as_deref().and_then(ResumeToken::parse) else {
            return self.refuse_resume("the token is not one a podnet server gives");
        };
        self.become_podnet(protocol, now);
        // The driver decides now; until then nothing else happens on this connection.
        self.deadline = None;
        self.actions.push_back(Action::Resume {
            token,
            received: resume.received.unwrap_or(0),
        });
    }

    /// (Server, new connection.) The resume asked for cannot be granted, as `why` says:
    /// the client is told and the connection closes, with
    /// [`refusal_reason`](crate::refusal_reason)`(why)`.
    pub fn refuse_resume(&mut self, why: &str) {
        let wire = crate::refusal_reason(why);
        debug!(%wire, "refusing a resume");
        self.close(
            DisconnectReason::ResumeRefused {
                reason: wire.clone(),
            },
            wire,
        );
    }

    /// (Server, the session's own state.) The session resumes on a new link at `now`; the
    /// client had received `peer_received` of its application frames. Asks to record a
    /// new token ([`Action::Resumable`]; the one before stays good until
    /// [`Action::TokenConfirmed`], and while it is not confirmed a resume gives the same
    /// token again), answers the client, and asks to send again what the client had not
    /// received ([`Action::Resumed`]). Returns false (and does nothing) if the session is
    /// not resumable.
    pub fn resume_link(&mut self, now: Instant, peer_received: u64) -> bool {
        let Role::Server(settings) = &self.role else {
            return false;
        };
        let (Some(id), Some(ty)) = (self.id, self.handshake.as_ref()) else {
            return false;
        };
        if !self.survives_drop() {
            return false;
        }
        let Some(receipts) = self.receipts.as_mut() else {
            return false;
        };
        // A client that never confirmed the last token may not have it: it is given
        // again, not replaced, so the tokens that work stay two (the last confirmed one
        // and this one).
        let rotate = !self.unconfirmed || receipts.token.is_none();
        let token = match &receipts.token {
            Some(token) if !rotate => token.clone(),
            _ => ResumeToken::mint(settings.instance, id),
        };
        let answer = control::hello_frame_with(
            ty.connection_type.name(),
            &HelloOut {
                token: Some(&token.to_wire()),
                received: Some(receipts.received),
                resumed: true,
                ..HelloOut::default()
            },
            &settings.connection.framing,
        );
        receipts.token = Some(token.clone());
        receipts.acked = receipts.received;
        receipts.ack_due = None;
        self.fresh_link(now);
        self.state = State::Established;
        self.unconfirmed = true;
        if rotate {
            self.actions.push_back(Action::Resumable(token));
        }
        self.actions.push_back(Action::Send(answer));
        self.actions.push_back(Action::Resumed {
            received: peer_received,
        });
        true
    }

    /// (Client.) The session's connection dropped and a new one opened at `now`: say
    /// hello with the token and what was received, and await the answer. Returns false
    /// (and does nothing) if the session is not resumable.
    pub fn start_resume(&mut self, now: Instant) -> bool {
        let Role::Client { settings, .. } = &self.role else {
            return false;
        };
        if !self.survives_drop() {
            return false;
        }
        let Some(receipts) = self.receipts.as_mut() else {
            return false;
        };
        let Some(token) = receipts.token.as_ref() else {
            return false;
        };
        let hello = control::hello_frame_with(
            &settings.connection_type,
            &HelloOut {
                token: Some(&token.to_wire()),
                received: Some(receipts.received),
                ..HelloOut::default()
            },
            &settings.connection.framing,
        );
        receipts.acked = receipts.received;
        receipts.ack_due = None;
        let answer_by = now + receipts.settings.answer_timeout;
        self.fresh_link(now);
        self.state = State::Resuming;
        self.deadline = Some(answer_by);
        self.actions.push_back(Action::Send(hello));
        true
    }

    /// (Client.) The server's hello after a resume hello.
    fn on_resume_answer(&mut self, resume: HelloResume, _now: Instant) {
        let token = resume.token.as_deref().and_then(ResumeToken::parse);
        let (true, Some(token), Some(receipts)) = (resume.resumed, token, self.receipts.as_mut())
        else {
            let error = "the server answered a resume without resuming the session".to_owned();
            self.closed = true;
            return self.close(
                DisconnectReason::Protocol {
                    error: error.clone(),
                },
                error,
            );
        };
        receipts.token = Some(token.clone());
        debug!("session resumed");
        self.state = State::Established;
        self.deadline = None;
        self.actions.push_back(Action::Resumable(token));
        self.actions.push_back(Action::Resumed {
            received: resume.received.unwrap_or(0),
        });
    }

    /// A new link starts: the heartbeat starts over, and the peer's close reason of the
    /// old one is forgotten.
    fn fresh_link(&mut self, now: Instant) {
        self.heartbeat.last_heard = now;
        self.heartbeat.last_ping = now;
        self.heartbeat.outstanding = None;
        self.peer_reason = None;
        self.closed = false;
        self.deadline = None;
    }

    /// Whether the session outlives its connection: it is resumable and no close (this
    /// side's or the peer's) has started. When the connection drops (an error, an end of
    /// stream without a close, a heartbeat timeout), a driver keeps the session for a
    /// resume instead of ending it.
    pub fn survives_drop(&self) -> bool {
        self.is_agreed() && !self.closed
    }

    /// (Client.) Whether a resume hello went out and its answer is awaited.
    pub fn is_resuming(&self) -> bool {
        self.state == State::Resuming
    }

    /// The token of a resumable session, once agreed.
    pub fn resume_token(&self) -> Option<&ResumeToken> {
        self.receipts.as_ref().and_then(|r| r.token.as_ref())
    }

    /// `count` application frames (messages, or frames that were not), in `bytes` bytes
    /// read, arrived and are being handed over. On a resumable session they are counted,
    /// and acknowledged every [`ResumeSettings::ack_every`] frames or
    /// [`ResumeSettings::ack_bytes`] bytes, or after [`ResumeSettings::ack_delay`].
    #[inline]
    pub fn on_messages(&mut self, count: u64, bytes: usize, now: Instant) {
        let Some(receipts) = self.receipts.as_mut() else {
            return;
        };
        if receipts.role != ResumeRole::Agreed || self.state != State::Established {
            return;
        }
        receipts.received += count;
        receipts.unacked_bytes = receipts.unacked_bytes.saturating_add(bytes);
        if receipts.received - receipts.acked >= u64::from(receipts.settings.ack_every.max(1))
            || receipts.unacked_bytes >= receipts.settings.ack_bytes
        {
            self.send_ack();
        } else if receipts.ack_due.is_none() {
            receipts.ack_due = Some(now + receipts.settings.ack_delay);
        }
    }

    /// Whether [`on_messages`](Self::on_messages) matters: the session is resumable.
    #[inline]
    pub fn counts_messages(&self) -> bool {
        self.is_agreed()
    }

    fn send_ack(&mut self) {
        let Some(receipts) = self.receipts.as_mut() else {
            return;
        };
        receipts.acked = receipts.received;
        receipts.unacked_bytes = 0;
        receipts.ack_due = None;
        let ack = control::ack_frame(receipts.received, &self.settings().framing);
        self.actions.push_back(Action::Send(ack));
    }

    fn on_info(&mut self, msg: &RawMessage, _now: Instant) {
        if !matches!(self.role, Role::Client { .. }) {
            trace!("podnet:info from a client: ignored");
            return;
        }
        match ServerInfo::decode(msg) {
            Ok(info) => self.actions.push_back(Action::Info(info)),
            Err(err) => {
                let error = format!("the server's podnet:info could not be read: {err}");
                self.close(
                    DisconnectReason::Protocol {
                        error: error.clone(),
                    },
                    error,
                );
            }
        }
    }

    fn become_podnet(&mut self, protocol: u32, now: Instant) {
        self.podnet = Some(protocol);
        // The first ping goes out an interval from now.
        self.heartbeat.last_ping = now;
        self.actions.push_back(Action::PodnetPeer { protocol });
    }

    fn establish(&mut self, peer: Peer, connection_type: ConnectionType) {
        let handshake = Handshake {
            peer,
            connection_type,
        };
        self.state = State::Established;
        self.deadline = None;
        self.handshake = Some(handshake.clone());
        self.actions.push_back(Action::Established(handshake));
    }

    /// The peer did not say hello before its first frame (or within `hello_wait`).
    fn settle_without_hello(&mut self, _now: Instant) {
        match &self.role {
            Role::Server(settings) => {
                if let Some(greeting) = settings.greeting.clone() {
                    self.actions.push_back(Action::SendMessage(greeting));
                }
                // The registry's own `classic` (a reference count, not an allocation).
                let classic = settings
                    .types
                    .get(ConnectionType::CLASSIC)
                    .cloned()
                    .unwrap_or_else(ConnectionType::classic);
                self.establish(Peer::Repod, classic);
            }
            Role::Client {
                connection_type, ..
            } => {
                let ty = connection_type.clone();
                self.not_resumable();
                self.establish(Peer::Repod, ty);
            }
        }
    }

    fn fail_handshake(&mut self, error: String) {
        debug!(%error, "handshake failed");
        self.close(
            DisconnectReason::Handshake {
                error: error.clone(),
            },
            error,
        );
    }

    /// Asks the driver to close gracefully, once.
    fn close(&mut self, reason: DisconnectReason, wire: String) {
        if matches!(self.state, State::Closing | State::Done) {
            return;
        }
        self.closed = true;
        self.state = State::Closing;
        // The close's own deadline comes with `start_closing`.
        self.deadline = None;
        self.actions.push_back(Action::Close { reason, wire });
    }

    /// Answers an `info` connection with `info`, then closes it.
    pub fn answer_info(&mut self, info: &ServerInfo) {
        let framing = &self.settings().framing;
        let frame = info.encode(framing).or_else(|err| {
            debug!(%err, "the info does not fit in a frame: sent without the game's fields");
            ServerInfo {
                game: Default::default(),
                ..info.clone()
            }
            .encode(framing)
        });
        if let Ok(frame) = frame {
            self.actions.push_back(Action::Send(frame));
        }
        self.close(
            DisconnectReason::Closed {
                reason: "info sent".into(),
            },
            "info sent".into(),
        );
    }

    /// Refuses an `info` connection: the server answers too many already.
    pub fn refuse_info(&mut self) {
        let text = "too many info requests: try again in a second";
        self.close(
            DisconnectReason::Closed {
                reason: text.into(),
            },
            text.into(),
        );
    }

    /// A graceful close started at `now` (this side's, the peer's, or a shutdown); it may
    /// take until `now + within`. From now on the only timer is that deadline, and the
    /// connection asks for nothing else.
    pub fn start_closing(&mut self, now: Instant, within: Duration) {
        if self.state == State::Done {
            return;
        }
        self.closed = true;
        self.state = State::Closing;
        self.deadline = Some(now + within);
    }

    /// The earliest instant at which [`handle_timeout`](Self::handle_timeout) has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Done => None,
            State::Closing | State::Handshaking | State::Resuming => self.deadline,
            State::Established => {
                let ack = self.receipts.as_ref().and_then(|r| r.ack_due);
                let heartbeat = self.heartbeat_due();
                match (ack, heartbeat) {
                    (Some(a), Some(h)) => Some(a.min(h)),
                    (a, h) => a.or(h),
                }
            }
        }
    }

    fn heartbeat_due(&self) -> Option<Instant> {
        let interval = self.settings().liveness.heartbeat_interval?;
        self.podnet?;
        let timeout = self.settings().liveness.heartbeat_timeout;
        Some((self.heartbeat.last_ping + interval).min(self.heartbeat.last_heard + timeout))
    }

    /// Does what is due at `now`: settles a silent peer's handshake, sends a ping, times
    /// out a silent podnet peer, or ends a close that took too long.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Done => {}
            State::Closing => {
                if self.deadline.is_some_and(|at| now >= at) {
                    self.state = State::Done;
                    self.actions.push_back(Action::StopReading);
                }
            }
            State::Handshaking => {
                if self.deadline.is_some_and(|at| now >= at) {
                    debug!("no hello: a classic peer");
                    self.settle_without_hello(now);
                }
            }
            State::Resuming => {
                if self.deadline.is_some_and(|at| now >= at) {
                    let after = self
                        .receipts
                        .as_ref()
                        .map(|r| r.settings.answer_timeout)
                        .unwrap_or_default();
                    debug!(?after, "no answer to the resume");
                    self.state = State::Done;
                    self.actions
                        .push_back(Action::Cut(DisconnectReason::TimedOut { after }));
                }
            }
            State::Established => {
                if self
                    .receipts
                    .as_ref()
                    .and_then(|r| r.ack_due)
                    .is_some_and(|at| now >= at)
                {
                    self.send_ack();
                }
                let liveness = &self.settings().liveness;
                let (Some(interval), Some(_)) = (liveness.heartbeat_interval, self.podnet) else {
                    return;
                };
                let timeout = liveness.heartbeat_timeout;
                if now >= self.heartbeat.last_heard + timeout {
                    debug!(?timeout, "heartbeat timeout");
                    self.state = State::Done;
                    self.actions
                        .push_back(Action::Cut(DisconnectReason::TimedOut { after: timeout }));
                    return;
                }
                if now >= self.heartbeat.last_ping + interval {
                    let seq = self.heartbeat.next_seq;
                    self.heartbeat.next_seq += 1;
                    self.heartbeat.last_ping = now;
                    self.heartbeat.outstanding = Some(seq);
                    trace!(seq, "ping");
                    let ping = control::ping_frame(seq, &self.settings().framing);
                    self.actions.push_back(Action::Send(ping));
                }
            }
        }
    }
}

//! Session resume: the token that lets a client take its session back after a dropped
//! connection, and the settings of the acknowledgements that make replay exact.
//!
//! Between two podnet peers that agreed on resume, each side counts the application
//! frames it sends and receives on the session (control messages are not counted). The
//! receiver tells the sender how many it has with `podnet:ack`; the sender keeps what was
//! not acknowledged yet. After a drop, the client reconnects and says hello with its
//! token and its count; the server answers with its own count; each side then sends again
//! exactly what the other did not receive, in order.

use std::fmt;
use std::time::Duration;

use subtle::ConstantTimeEq;

use crate::ConnectionId;

/// The reason a server gives when it refuses a resume for now (too many attempts), as
/// opposed to refusing the session for good: a client that reads it tries again after its
/// backoff.
pub const RESUME_BUSY: &str = "resume busy: too many resume attempts, try again shortly";

/// The prefix of the reason a server gives when it refuses to resume a session for good
/// (an unknown, stale or foreign token); the client gives up and reports it.
pub const RESUME_REFUSED: &str = "resume refused";

/// The reason a refused resume closes with, for `why` it was refused: [`RESUME_BUSY`] as
/// it is (the client tries again), anything else after [`RESUME_REFUSED`] (it gives up).
///
/// ```
/// use podnet_proto::{RESUME_BUSY, refusal_reason};
///
/// assert_eq!(refusal_reason("the session has ended"), "resume refused: the session has ended");
/// assert_eq!(refusal_reason(RESUME_BUSY), RESUME_BUSY);
/// ```
pub fn refusal_reason(why: &str) -> String {
    if why == RESUME_BUSY {
        why.to_owned()
    } else {
        format!("{RESUME_REFUSED}: {why}")
    }
}

/// How a resumable session acknowledges what it received, on either side.
///
/// ```
/// use std::time::Duration;
/// use podnet_proto::ResumeSettings;
///
/// let settings = ResumeSettings::default();
/// assert_eq!(settings.ack_every, 128);
/// assert_eq!(settings.ack_delay, Duration::from_millis(50));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResumeSettings {
    /// Acknowledge after this many application frames received (at least 1).
    ///
    /// Default: **128**: one small `podnet:ack` per 128 messages, so acknowledgements do
    /// not show in throughput, while the sender keeps at most a few hundred messages.
    pub ack_every: u32,
    /// Acknowledge once this many bytes arrived since the last acknowledgement, however
    /// few frames they were: the sender keeps what is not acknowledged, and big messages
    /// add up fast.
    ///
    /// Default: **64 KiB**.
    pub ack_bytes: usize,
    /// Acknowledge at most this long after a frame arrived, when fewer than `ack_every`
    /// came: what a quiet session's sender keeps is released within this.
    ///
    /// Default: **50 ms**.
    pub ack_delay: Duration,
    /// How long a client waits for the server's answer to its resume before counting the
    /// attempt as failed (and trying again after its backoff).
    ///
    /// Default: **5 s**.
    pub answer_timeout: Duration,
}

impl Default for ResumeSettings {
    fn default() -> Self {
        Self {
            ack_every: 128,
            ack_bytes: 64 * 1024,
            ack_delay: Duration::from_millis(50),
            answer_timeout: Duration::from_secs(5),
        }
    }
}

/// What a client presents to resume its session: which server instance gave it, which
/// session, and a 128-bit secret from the operating system's CSPRNG. The server rotates
/// the secret at every resume, so a token works once.
///
/// On the wire it is 64 hexadecimal digits: the instance (16), the connection id (16) and
/// the secret (32). Its `Debug` and `Display` never show the secret.
///
/// ```
/// use podnet_proto::{ConnectionId, ResumeToken};
///
/// let token = ResumeToken::mint(0xfeed, ConnectionId::from_raw(7));
/// let parsed = ResumeToken::parse(&token.to_wire()).unwrap();
/// assert_eq!(parsed.id(), ConnectionId::from_raw(7));
/// assert!(parsed.same_secret(&token));
/// assert!(!ResumeToken::mint(0xfeed, ConnectionId::from_raw(7)).same_secret(&token));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ResumeToken {
    instance: u64,
    id: ConnectionId,
    secret: [u8; 16],
}

impl ResumeToken {
    /// A new token for session `id` of server instance `instance`, with a fresh secret.
    ///
    /// # Panics
    ///
    /// If the operating system has no random source (no supported OS lacks one).
    pub fn mint(instance: u64, id: ConnectionId) -> Self {
        let mut secret = [0u8; 16];
        #[allow(clippy::expect_used)] // no supported OS lacks a random source
        getrandom::fill(&mut secret).expect("the operating system's random source failed");
        Self {
            instance,
            id,
            secret,
        }
    }

    /// A random number for a server instance: tokens carry it, so that a restarted
    /// server (or another one) refuses tokens it did not give.
    pub fn new_instance() -> u64 {
        let mut bytes = [0u8; 8];
        #[allow(clippy::expect_used)] // no supported OS lacks a random source
        getrandom::fill(&mut bytes).expect("the operating system's random source failed");
        u64::from_le_bytes(bytes)
    }

    /// The server instance that gave it.
    pub fn instance(&self) -> u64 {
        self.instance
    }

    /// The session it resumes.
    pub fn id(&self) -> ConnectionId {
        self.id
    }

    /// Whether both tokens hold the same secret, compared in constant time.
    pub fn same_secret(&self, other: &ResumeToken) -> bool {
        self.secret.ct_eq(&other.secret).into()
    }

    /// The token as it goes on the wire: 64 hexadecimal digits.
    pub fn to_wire(&self) -> String {
        let mut out = format!("{:016x}{:016x}", self.instance, self.id.get());
        for byte in self.secret {
            out.push_str(&format!("{byte:02x}"));
        }
        out
    }

    /// Reads a token from the wire; `None` unless it is exactly 64 hexadecimal digits.
    pub fn parse(wire: &str) -> Option<Self> {
        if wire.len() != 64 || !wire.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let instance = u64::from_str_radix(&wire[..16], 16).ok()?;
        let id = u64::from_str_radix(&wire[16..32], 16).ok()?;
        let mut secret = [0u8; 16];
        for (i, byte) in secret.iter_mut().enumerate() {
            let at = 32 + 2 * i;
            *byte = u8::from_str_radix(&wire[at..at + 2], 16).ok()?;
        }
        Some(Self {
            instance,
            id: ConnectionId::from_raw(id),
            secret,
        })
    }
}

impl fmt::Debug for ResumeToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResumeToken")
            .field("instance", &format_args!("{:016x}", self.instance))
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Whether a session resumes after a drop, as a client or server reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResumeRole {
    /// A client that asked for resume, before the server answered.
    Asked,
    /// Agreed: both sides count, acknowledge and keep.
    Agreed,
}

/// Per-connection resume bookkeeping in the state machine.
#[derive(Debug)]
pub(crate) struct Receipts {
    pub(crate) settings: ResumeSettings,
    pub(crate) role: ResumeRole,
    /// The token in force (a server's own; a client's from the server).
    pub(crate) token: Option<ResumeToken>,
    /// Application frames received on the session.
    pub(crate) received: u64,
    /// The count last acknowledged to the peer.
    pub(crate) acked: u64,
    /// Bytes read since the last acknowledgement.
    pub(crate) unacked_bytes: usize,
    /// When an acknowledgement is due by time.
    pub(crate) ack_due: Option<std::time::Instant>,
}

impl Receipts {
    pub(crate) fn new(settings: ResumeSettings, role: ResumeRole) -> Self {
        Self {
            settings,
            role,
            token: None,
            received: 0,
            acked: 0,
            unacked_bytes: 0,
            ack_due: None,
        }
    }
}

/// Why a server refuses a resume. Its text is what the client is told, after
/// [`RESUME_REFUSED`] (or as [`RESUME_BUSY`], for [`Busy`](Self::Busy)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResumeRefusal {
    /// The server grants no resumable sessions.
    Disabled,
    /// Too many resume attempts right now: the client tries again.
    Busy,
    /// The token is another server's, or from before this one restarted.
    OtherInstance,
    /// The session the token names has ended (or never was).
    Ended,
    /// The token is not the session's (stale, or someone else's).
    WrongToken,
    /// The session began over the other transport (WebSocket or TCP): what it keeps is
    /// framed for that one.
    OtherTransport,
    /// The session was ended while it waited, to make room: the server was full, or
    /// held as many sessions waiting for a resume as it allows.
    Evicted,
}

impl fmt::Display for ResumeRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Disabled => "this server does not resume sessions",
            Self::Busy => RESUME_BUSY,
            Self::OtherInstance => {
                "the token is from another server, or from before this server restarted: \
                 the session is gone"
            }
            Self::Ended => "the session has ended",
            Self::WrongToken => "the token is not this session's (a stale token, or another's)",
            Self::OtherTransport => {
                "a session resumes over the transport it began on (WebSocket, or TCP)"
            }
            Self::Evicted => {
                "the session was ended while it waited, to make room: the server was full \
                 of sessions waiting for a resume; connect again"
            }
        })
    }
}

/// What a server knows of the session a resume token names, when a connection presents
/// the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionView {
    /// It is still open, as a session (not closed, not ended).
    pub open: bool,
    /// It is resumable, and the token presented is its current one (or its previous
    /// one, until the client confirmed the new one).
    pub token_matches: bool,
    /// It began over WebSocket.
    pub websocket: bool,
}

/// A server's rules for resume attempts, in the order they apply: resume on at all, then
/// the attempt rate (a refused attempt never takes a token of it ahead of time), then the
/// token's server instance, then the session's state, its token, and its transport.
///
/// ```
/// use podnet_proto::{ConnectionId, ResumeGate, ResumeRefusal, ResumeToken, SessionView};
///
/// let gate = ResumeGate { enabled: true, instance: 7 };
/// let token = ResumeToken::mint(7, ConnectionId::from_raw(1));
/// let live = SessionView { open: true, token_matches: true, websocket: false };
/// assert_eq!(gate.judge(&token, false, || true, |_| Some(live)), Ok(()));
/// assert_eq!(gate.judge(&token, true, || true, |_| Some(live)), Err(ResumeRefusal::OtherTransport));
/// assert_eq!(gate.judge(&token, false, || false, |_| Some(live)), Err(ResumeRefusal::Busy));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResumeGate {
    /// The server grants resumable sessions.
    pub enabled: bool,
    /// The server instance its tokens carry.
    pub instance: u64,
}

impl ResumeGate {
    /// Judges an attempt to resume with `token` over a connection that is WebSocket or
    /// not (`over_websocket`). `within_rate` takes one attempt from the rate limit
    /// (called only if resume is on); `session` looks the token's session up (called
    /// only for a token of this instance).
    ///
    /// # Errors
    ///
    /// The first rule the attempt breaks.
    pub fn judge(
        &self,
        token: &ResumeToken,
        over_websocket: bool,
        within_rate: impl FnOnce() -> bool,
        session: impl FnOnce(ConnectionId) -> Option<SessionView>,
    ) -> Result<(), ResumeRefusal> {
        self.attempt(token, within_rate)?;
        Self::session(session(token.id()), over_websocket)
    }

    /// The rules before the session is looked up: resume on, the attempt rate (taken
    /// from by `within_rate`, called only if resume is on), and the token's instance.
    ///
    /// # Errors
    ///
    /// The first of those rules the attempt breaks.
    pub fn attempt(
        &self,
        token: &ResumeToken,
        within_rate: impl FnOnce() -> bool,
    ) -> Result<(), ResumeRefusal> {
        if !self.enabled {
            return Err(ResumeRefusal::Disabled);
        }
        if !within_rate() {
            return Err(ResumeRefusal::Busy);
        }
        if token.instance() != self.instance {
            return Err(ResumeRefusal::OtherInstance);
        }
        Ok(())
    }

    /// The rules on the session the token names (`None` if there is none): open, the
    /// token its own, and the same transport.
    ///
    /// # Errors
    ///
    /// The first of those rules the attempt breaks.
    pub fn session(
        session: Option<SessionView>,
        over_websocket: bool,
    ) -> Result<(), ResumeRefusal> {
        let Some(session) = session.filter(|s| s.open) else {
            return Err(ResumeRefusal::Ended);
        };
        if !session.token_matches {
            return Err(ResumeRefusal::WrongToken);
        }
        if session.websocket != over_websocket {
            return Err(ResumeRefusal::OtherTransport);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tokens round-trip through the wire form; malformed ones do not parse.
    #[test]
    fn tokens_parse_strictly() {
        let token = ResumeToken::mint(u64::MAX, ConnectionId::from_raw(1));
        let wire = token.to_wire();
        assert_eq!(wire.len(), 64);
        let back = ResumeToken::parse(&wire).unwrap();
        assert_eq!(back, token);
        assert_eq!(back.instance(), u64::MAX);
        for bad in [
            "",
            &wire[..63],
            &format!("{wire}0"),
            &wire.replacen(|c: char| c.is_ascii_hexdigit(), "g", 1),
            &"é".repeat(32),
        ] {
            assert!(ResumeToken::parse(bad).is_none(), "{bad:?} parsed");
        }
    }

    /// Two mints never share a secret, and Debug does not show it.
    #[test]
    fn secrets_are_fresh_and_hidden() {
        let a = ResumeToken::mint(1, ConnectionId::from_raw(2));
        let b = ResumeToken::mint(1, ConnectionId::from_raw(2));
        assert!(!a.same_secret(&b));
        let shown = format!("{a:?}");
        assert!(!shown.contains(&a.to_wire()[32..]), "{shown}");
    }
}

//! The settings the protocol's decisions depend on, with their defaults and the reasons
//! for them.

use std::time::Duration;

/// When and how to detect a peer that is gone without closing its connection.
///
/// Two mechanisms, so that a plain repod peer is never dropped for being quiet:
///
/// - **TCP keepalive** on every socket: the operating system probes an idle connection and
///   reports it dead if the peer's machine stops answering. Costs nothing, works with every
///   peer, but only notices machines that vanished, after about `tcp_keepalive` plus three
///   probe intervals.
/// - **Heartbeat**: between two podnet peers (they say `podnet:hello` when they connect),
///   each side sends `podnet:ping` every `heartbeat_interval`; the peer answers
///   `podnet:pong`, which measures the round trip. A podnet peer from which nothing at all
///   arrives for `heartbeat_timeout` is disconnected with
///   [`DisconnectReason::TimedOut`](crate::DisconnectReason::TimedOut). repod peers never
///   say hello, so they are never pinged and never timed out this way.
///
/// ```
/// use std::time::Duration;
/// use podnet_proto::Liveness;
///
/// let liveness = Liveness::default();
/// assert_eq!(liveness.heartbeat_timeout, Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Liveness {
    /// Idle time before the OS sends TCP keepalive probes (probes then repeat every
    /// `tcp_keepalive / 3`). `None` leaves the OS default (usually off).
    ///
    /// Default: **30 s**.
    pub tcp_keepalive: Option<Duration>,
    /// How often a `podnet:ping` goes to a podnet peer. `None` turns the heartbeat (and
    /// its timeout) off.
    ///
    /// Default: **5 s**: frequent enough to keep round-trip figures fresh, a few bytes each
    /// time.
    pub heartbeat_interval: Option<Duration>,
    /// Silence from a podnet peer after which it is disconnected.
    ///
    /// Default: **30 s**: long enough to ride out a hiccup in a player's connection.
    pub heartbeat_timeout: Duration,
}

impl Default for Liveness {
    fn default() -> Self {
        Self {
            tcp_keepalive: Some(Duration::from_secs(30)),
            heartbeat_interval: Some(Duration::from_secs(5)),
            heartbeat_timeout: Duration::from_secs(30),
        }
    }
}

/// A limit on how often something may happen, as a token bucket: up to `burst` at once,
/// refilled at `per_second`.
///
/// On a connection ([`ConnectionSettings::rate_limit`](crate::ConnectionSettings)) it counts
/// received frames, control messages and bad frames included. A peer over the limit is not
/// disconnected and loses nothing: podnet stops reading its socket until the bucket
/// refills, so TCP flow control slows the peer down to the rate. Other peers are not
/// affected.
///
/// ```
/// let limit = podnet_proto::RateLimit::new(120, 30); // 120 a second, bursts of 30
/// assert_eq!(limit.per_second, 120);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimit {
    /// Sustained rate, per second (at least 1).
    pub per_second: u32,
    /// How many may happen at once after a quiet spell (at least 1).
    pub burst: u32,
}

impl RateLimit {
    /// A limit of `per_second`, allowing bursts of `burst`; zeros count as 1.
    pub fn new(per_second: u32, burst: u32) -> Self {
        Self {
            per_second: per_second.max(1),
            burst: burst.max(1),
        }
    }
}

/// What the state machine of one connection needs to know, the same on both sides.
///
/// The transport builds it from its own configuration; it is here so that the core can be
/// driven, and tested, without one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionSettings {
    /// Heartbeat and timeout; see [`Liveness`].
    pub liveness: Liveness,
    /// How long a graceful close may take: flushing what was queued, sending the reason,
    /// and waiting for the peer to close its side. Default: **5 s**.
    pub close_timeout: Duration,
    /// The most frames per second read from the peer, if set. Default: **`None`**.
    pub rate_limit: Option<RateLimit>,
    /// The frame limits control messages are encoded with.
    pub framing: podnet_framing::FramingConfig,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        Self {
            liveness: Liveness::default(),
            close_timeout: Duration::from_secs(5),
            rate_limit: None,
            framing: podnet_framing::FramingConfig::default(),
        }
    }
}

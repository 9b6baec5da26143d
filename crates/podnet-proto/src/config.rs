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
/// On a connection ([`ConnectionConfig::rate_limit`]) it counts
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

/// What happens when a connection's outbound queue is over
/// [`ConnectionConfig::max_queued_bytes`]: the peer reads slower than it is sent to.
///
/// ```
/// use podnet_proto::{ConnectionConfig, SlowConsumerPolicy};
///
/// let config = ConnectionConfig::default();
/// assert_eq!(config.slow_consumer, SlowConsumerPolicy::Disconnect);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SlowConsumerPolicy {
    /// Disconnect the peer at once, with reason
    /// [`DisconnectReason::SlowConsumer`](crate::DisconnectReason::SlowConsumer); what was
    /// queued for it is dropped. The default: a peer that cannot keep up would otherwise
    /// fall further behind, and its queue is memory the server holds for it.
    #[default]
    Disconnect,
    /// Keep the connection and refuse the message that did not fit, with
    /// the transport's `SendError::QueueFull`. For games whose
    /// messages are state that the next update replaces anyway.
    DropMessage,
}

/// Limits and timeouts for one connection, the same on a server and a client.
///
/// ```
/// use podnet_proto::ConnectionConfig;
///
/// let mut config = ConnectionConfig::default();
/// config.max_queued_bytes = 4 * 1024 * 1024; // a game that sends big snapshots
/// assert_eq!(config.framing.max_frame_length, 1024 * 1024);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionConfig {
    /// Frame and decoding limits; see [`FramingConfig`](podnet_framing::FramingConfig).
    pub framing: podnet_framing::FramingConfig,

    /// The most bytes of encoded frames that may wait to be written to one peer. A frame
    /// is always accepted into an empty queue, so one frame of up to
    /// `framing.max_frame_length` always fits.
    ///
    /// Default: **1 MiB**: at 60 updates per second of 1 KiB, about 16 s of backlog
    /// before a peer counts as a slow consumer.
    pub max_queued_bytes: usize,

    /// What happens when the outbound queue is full. Default:
    /// [`SlowConsumerPolicy::Disconnect`].
    pub slow_consumer: SlowConsumerPolicy,

    /// The most bytes of received messages (and error events) from one peer that may wait
    /// for the application to handle them. When reached, podnet stops reading that
    /// peer's socket until the application catches up, and TCP flow control slows the peer
    /// down: memory stays bounded and other peers are not affected.
    ///
    /// Default: **1 MiB**. A message larger than this still gets through, alone.
    pub max_inbound_bytes: usize,

    /// How long a graceful close may take: flushing what was queued, sending the reason,
    /// and waiting for the peer to close its side. After this, the connection is cut.
    ///
    /// Default: **5 s**.
    pub close_timeout: Duration,

    /// Dead-peer detection; see [`Liveness`].
    pub liveness: Liveness,

    /// The most bytes of messages a resumable session keeps that the peer has not
    /// acknowledged yet (see the transport's `ResumeConfig`): in flight, and everything sent while its
    /// connection is down. Past it the slow-consumer policy applies, as for
    /// `max_queued_bytes`.
    ///
    /// Default: **4 MiB**: what is in flight counts too (a fast link's socket buffers hold
    /// megabytes), so it is larger than `max_queued_bytes`; it is reached only by a peer
    /// that stops reading or a session whose connection is down.
    pub max_unacked_bytes: usize,

    /// The most frames per second podnet reads from one peer, if set; see [`RateLimit`].
    /// A peer over it is paced, not dropped: podnet stops reading its socket until a token
    /// is due, and TCP slows the peer down. Every frame counts, control messages and bad
    /// frames included.
    ///
    /// Default: **`None`** (no limit beyond `max_inbound_bytes`).
    ///
    /// ```
    /// use podnet_proto::{ConnectionConfig, RateLimit};
    ///
    /// let mut config = ConnectionConfig::default();
    /// config.rate_limit = Some(RateLimit::new(120, 30)); // 120 messages/s, bursts of 30
    /// ```
    pub rate_limit: Option<RateLimit>,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            framing: podnet_framing::FramingConfig::default(),
            max_queued_bytes: 1024 * 1024,
            slow_consumer: SlowConsumerPolicy::Disconnect,
            max_inbound_bytes: 1024 * 1024,
            close_timeout: Duration::from_secs(5),
            liveness: Liveness::default(),
            max_unacked_bytes: 4 * 1024 * 1024,
            rate_limit: None,
        }
    }
}

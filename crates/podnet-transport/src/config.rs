//! Configuration: every limit and timeout, with its default and the reason for it.

use std::time::Duration;

use podnet_framing::FramingConfig;

/// What happens when a connection's outbound queue is over
/// [`ConnectionConfig::max_queued_bytes`]: the peer reads slower than it is sent to.
///
/// ```
/// use podnet_transport::{ConnectionConfig, SlowConsumerPolicy};
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
    /// [`TransportError::QueueFull`](crate::TransportError::QueueFull). For games whose
    /// messages are state that the next update replaces anyway.
    DropMessage,
}

/// When and how to detect a peer that is gone without closing its connection.
///
/// Two mechanisms, so that a plain repod peer is never dropped for being quiet:
///
/// - **TCP keepalive** on every socket: the operating system probes an idle connection and
///   reports it dead if the peer's machine stops answering. Costs nothing, works with every
///   peer, but only notices machines that vanished, after about `tcp_keepalive` plus three
///   probe intervals.
/// - **Heartbeat**: between two podnet peers (they say `podnet:hello` when they connect),
///   a side that has heard nothing for `heartbeat_interval` sends `podnet:ping`; the peer
///   answers `podnet:pong`. A podnet peer silent for `heartbeat_timeout` is disconnected
///   with [`DisconnectReason::TimedOut`](crate::DisconnectReason::TimedOut). repod peers
///   never say hello, so they are never pinged and never timed out this way.
///
/// ```
/// use std::time::Duration;
/// use podnet_transport::Liveness;
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
    /// Silence from a podnet peer after which a `podnet:ping` is sent. `None` turns the
    /// heartbeat (and its timeout) off.
    ///
    /// Default: **5 s**: frequent enough to keep round-trip figures fresh, a few bytes each
    /// time.
    pub heartbeat_interval: Option<Duration>,
    /// Silence from a podnet peer after which it is disconnected.
    ///
    /// Default: **30 s**: long enough to ride out a hiccup in a player's connection.
    pub heartbeat_timeout: Duration,
    /// On a server: how long a new connection may go without sending one complete frame.
    /// A peer that opens a connection and says nothing (or trickles a frame byte by byte)
    /// holds a slot under `max_connections`; past this it is closed with
    /// [`DisconnectReason::TimedOut`](crate::DisconnectReason::TimedOut), and told so.
    /// Once a peer has sent a frame, this no longer applies. `None` turns it off.
    ///
    /// Default: **60 s**: podnet clients say `podnet:hello` at once, and repod clients
    /// normally send their first message (a name, a join) within seconds.
    pub first_frame_timeout: Option<Duration>,
}

impl Default for Liveness {
    fn default() -> Self {
        Self {
            tcp_keepalive: Some(Duration::from_secs(30)),
            heartbeat_interval: Some(Duration::from_secs(5)),
            heartbeat_timeout: Duration::from_secs(30),
            first_frame_timeout: Some(Duration::from_secs(60)),
        }
    }
}

/// Limits and timeouts for one connection, the same on a server and a client.
///
/// ```
/// use podnet_transport::ConnectionConfig;
///
/// let mut config = ConnectionConfig::default();
/// config.max_queued_bytes = 4 * 1024 * 1024; // a game that sends big snapshots
/// assert_eq!(config.framing.max_frame_length, 1024 * 1024);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionConfig {
    /// Frame and decoding limits; see [`FramingConfig`].
    pub framing: FramingConfig,

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

    /// The most messages per second podnet reads from one peer, if set; see
    /// [`RateLimit`]. Default: **`None`** (no limit beyond `max_inbound_bytes`).
    pub rate_limit: Option<RateLimit>,
}

/// A per-connection limit on received messages (every frame counts, control messages and
/// bad frames included), as a token bucket: up to `burst` messages at once, refilled at
/// `messages_per_second`.
///
/// A peer over the limit is not disconnected and loses nothing: podnet stops reading its
/// socket until the bucket refills, so TCP flow control slows the peer down to the rate.
/// Other peers are not affected.
///
/// ```
/// use podnet_transport::{ConnectionConfig, RateLimit};
///
/// let mut config = ConnectionConfig::default();
/// config.rate_limit = Some(RateLimit::new(120, 30)); // 120 messages/s, bursts of 30
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimit {
    /// Sustained rate, in messages per second (at least 1).
    pub messages_per_second: u32,
    /// How many messages may arrive at once after a quiet spell (at least 1).
    pub burst: u32,
}

impl RateLimit {
    /// A limit of `messages_per_second`, allowing bursts of `burst`; zeros count as 1.
    ///
    /// ```
    /// let limit = podnet_transport::RateLimit::new(60, 10);
    /// assert_eq!(limit.messages_per_second, 60);
    /// ```
    pub fn new(messages_per_second: u32, burst: u32) -> Self {
        Self {
            messages_per_second: messages_per_second.max(1),
            burst: burst.max(1),
        }
    }
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            framing: FramingConfig::default(),
            max_queued_bytes: 1024 * 1024,
            slow_consumer: SlowConsumerPolicy::Disconnect,
            max_inbound_bytes: 1024 * 1024,
            close_timeout: Duration::from_secs(5),
            liveness: Liveness::default(),
            rate_limit: None,
        }
    }
}

/// Configuration of a [`Server`](crate::Server).
///
/// ```
/// use podnet_transport::ServerConfig;
///
/// let mut config = ServerConfig::default();
/// config.max_connections = 10_000;
/// assert!(config.send_connected);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Limits of each connection.
    pub connection: ConnectionConfig,

    /// The most connections open at once. A client over the cap is accepted, sent
    /// `{"action": "podnet:close", "reason": "server full"}` and closed, so it learns why
    /// instead of waiting in the listen backlog.
    ///
    /// Default: **4096**. Each connection costs two tasks and its buffers (a few KiB when
    /// idle); raise it, and the process's open-file limit, for larger servers.
    pub max_connections: usize,

    /// Send `{"action": "connected"}` to each client as soon as it is accepted, as repod
    /// does (repod's clients dispatch it to `Network_connected`).
    ///
    /// Default: **true**.
    pub send_connected: bool,

    /// The longest pause between accept attempts after the OS refuses to accept (for
    /// example when the process is out of file descriptors). Pauses start at 5 ms and
    /// double up to this.
    ///
    /// Default: **1 s**.
    pub max_accept_backoff: Duration,

    /// How many threads run the network for the thread-backed servers of `podnet-sync`
    /// and `podnet` (`start_background`, `launch`). With 1, one thread runs every
    /// connection; with more, connections are spread over that many runtime workers,
    /// which helps many busy connections on a machine with cores to spare (the game's
    /// own thread needs one too). An async server built with [`Server::bind`] runs on
    /// its caller's runtime and ignores this.
    ///
    /// Default: **1**. 0 counts as 1.
    ///
    /// [`Server::bind`]: crate::Server::bind
    pub network_threads: usize,

    /// Serve TLS instead of plain TCP (feature `tls`): each accepted connection completes
    /// a handshake within [`ServerTls::handshake_timeout`](crate::ServerTls::handshake_timeout)
    /// before it counts as connected. Clients over
    /// [`max_connections`](Self::max_connections) are closed without the "server full"
    /// message, which could not be read before a handshake.
    ///
    /// Default: **None** (plain TCP, as repod).
    #[cfg(feature = "tls")]
    pub tls: Option<crate::ServerTls>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            connection: ConnectionConfig::default(),
            max_connections: 4096,
            send_connected: true,
            max_accept_backoff: Duration::from_secs(1),
            network_threads: 1,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

/// Configuration of a [`Client`](crate::Client).
///
/// ```
/// use std::time::Duration;
/// use podnet_transport::ClientConfig;
///
/// let config = ClientConfig::default();
/// assert_eq!(config.connect_timeout, Duration::from_secs(10));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Limits of the connection.
    pub connection: ConnectionConfig,

    /// How long connecting may take before it fails with
    /// [`TransportError::ConnectTimeout`](crate::TransportError::ConnectTimeout).
    ///
    /// Default: **10 s**.
    pub connect_timeout: Duration,

    /// Say `{"action": "podnet:hello", "protocol": 1}` on connecting, so that a podnet
    /// server knows it may use heartbeats. A repod server sees an unknown action and
    /// ignores it.
    ///
    /// Default: **true**.
    pub hello: bool,

    /// Connect with TLS (feature `tls`): the handshake runs after the TCP connect, within
    /// the same [`connect_timeout`](Self::connect_timeout), and a failure is
    /// [`TransportError::TlsHandshake`](crate::TransportError::TlsHandshake).
    ///
    /// Default: **None** (plain TCP, as repod).
    #[cfg(feature = "tls")]
    pub tls: Option<crate::ClientTls>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            connection: ConnectionConfig::default(),
            connect_timeout: Duration::from_secs(10),
            hello: true,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

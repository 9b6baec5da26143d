//! Configuration: every limit and timeout, with its default and the reason for it.
//!
//! Longer than most files here because each field's documentation is its reference: what
//! it bounds, its default and why, and an example.

use std::time::Duration;

use podnet_proto::{
    AdmissionSettings, ClientSettings, ConnectionConfig, ConnectionTypes, RateLimit,
    ResumeSettings, ServerSettings,
};

/// Where the network of a `podnet-sync` or `podnet` server or client runs: on a thread
/// of its own, or inside `pump()` on the game's thread. An async server or client built
/// with [`Server::bind`](crate::Server::bind) or [`Client::connect`](crate::Client::connect)
/// runs on its caller's runtime and ignores this.
///
/// | | [`Thread`](Self::Thread) (default) | [`Pump`](Self::Pump) |
/// |---|---|---|
/// | threads | the game's, and one network thread | the game's only |
/// | messages are read | as they arrive | while `pump()` runs |
/// | replies leave | at once | at once, or by the end of `pump()` |
/// | between pumps | heartbeats answered, sockets drained | nothing moves; TCP pushes back |
/// | suits | a game loop with long frames or pauses; sending from many threads | a dedicated server's tick loop, a client's frame loop: less CPU per message |
///
/// In pump mode a game must pump well within the heartbeat timeout
/// ([`Liveness::heartbeat_timeout`](podnet_proto::Liveness::heartbeat_timeout), 30 s by
/// default), or its peers time it out. What it sends outside `pump()` leaves at once when
/// the socket is free, or at the next pump or `flush()`. Servers and clients in pump mode
/// on one thread share its runtime, so each pump moves them all; a client in thread mode
/// connecting with TLS to a pump-mode server on its own thread would wait for a handshake
/// only that thread's pump answers: give both the same mode. Pump mode drives a runtime
/// of its own, so `pump()` cannot be called from inside an async runtime: an async game
/// uses this crate directly.
///
/// The default is [`Thread`](Self::Thread), unless the environment variable
/// `PODNET_NETWORK_MODE` says `pump` (or `thread`): a game can be tried in the other
/// mode without a rebuild.
///
/// ```
/// use podnet_transport::{NetworkMode, ServerConfig};
///
/// let mut config = ServerConfig::default();
/// config.network_mode = NetworkMode::Pump;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NetworkMode {
    /// A network thread of its own reads, writes and runs the protocol; `pump()` hands
    /// over what it received.
    Thread,
    /// `pump()` reads the sockets, runs the protocol and writes, on the calling thread,
    /// then hands over what it received: no second thread and no hand-over between
    /// cores.
    Pump,
}

/// The environment variable that sets [`NetworkMode`]'s default: `thread` or `pump`.
pub const NETWORK_MODE_VAR: &str = "PODNET_NETWORK_MODE";

impl Default for NetworkMode {
    /// [`NetworkMode::Thread`], or what [`NETWORK_MODE_VAR`] names.
    fn default() -> Self {
        match std::env::var(NETWORK_MODE_VAR) {
            Ok(mode) if mode.eq_ignore_ascii_case("pump") => NetworkMode::Pump,
            _ => NetworkMode::Thread,
        }
    }
}

/// Sessions that survive a dropped connection, between podnet peers (see
/// `docs/resume.md`). The same struct configures both sides; each field says which side
/// reads it.
///
/// When a resumable session's connection drops without a close (a reset, a timeout, a
/// network change), the client reconnects by itself and takes the session back: the same
/// connection id, and every message sent either way arrives exactly once, in order. The
/// server keeps the session for [`grace`](Self::grace) meanwhile, and what is sent to it
/// is kept (up to [`ConnectionConfig::max_unacked_bytes`]). repod peers never ask for it:
/// a drop ends their connection as before.
///
/// ```
/// use std::time::Duration;
/// use podnet_transport::{ClientConfig, ResumeConfig};
///
/// let resume = ResumeConfig::default();
/// assert_eq!(resume.grace, Duration::from_secs(30));
/// assert_eq!(resume.max_attempts, 12);
/// let mut config = ClientConfig::default();
/// config.resume = None; // a drop ends the session at once
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResumeConfig {
    /// (Server.) How long a dropped session waits for its client to come back before it
    /// ends with [`DisconnectReason::NotResumed`](crate::DisconnectReason::NotResumed).
    ///
    /// Default: **30 s**: a phone switching networks, a router rebooting.
    pub grace: Duration,

    /// (Client.) The pause before the first reconnection attempt; each further pause
    /// doubles, up to [`max_backoff`](Self::max_backoff). Each pause is shortened by a
    /// random part of up to half (jitter), so that a server's clients do not all come back
    /// at the same instant.
    ///
    /// Default: **100 ms**.
    pub initial_backoff: Duration,

    /// (Client.) The longest pause between attempts. Default: **5 s**.
    pub max_backoff: Duration,

    /// (Client.) How many attempts before giving up with
    /// [`DisconnectReason::NotResumed`](crate::DisconnectReason::NotResumed). Default:
    /// **12**: with the default backoffs, about 30 s, the server's default grace.
    pub max_attempts: u32,

    /// (Server.) How many resume attempts the server takes, server-wide; over it, a
    /// client is told to try again after its backoff.
    ///
    /// Default: **100 a second, bursts of 200**.
    pub attempt_rate: RateLimit,

    /// (Server.) The most sessions waiting for a resume at once. Past it, the session
    /// that has waited longest ends (`DisconnectReason::NotResumed`) and its resume is
    /// refused, saying it was ended to make room. A dropped session also holds its
    /// connection slot (`ServerConfig::max_connections`) while it waits; when the server
    /// is full, a newcomer takes the slot of the one that has waited longest before it is
    /// turned away, so clients that drop on purpose cannot lock players out.
    ///
    /// Default: **1,024**.
    pub max_parked: usize,

    /// (Both.) How often acknowledgements go back; see [`ResumeSettings`].
    pub acks: ResumeSettings,
}

impl Default for ResumeConfig {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(30),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            max_attempts: 12,
            attempt_rate: RateLimit::new(100, 200),
            max_parked: 1024,
            acks: ResumeSettings::default(),
        }
    }
}

impl ResumeConfig {
    /// The pause before reconnection attempt `attempt` (from 1), given a random `unit`
    /// in `[0, 1)`: the backoff, shortened by up to half.
    pub(crate) fn backoff(&self, attempt: u32, unit: f64) -> Duration {
        let doubled = self
            .initial_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        let full = doubled.min(self.max_backoff);
        full.mul_f64(1.0 - 0.5 * unit.clamp(0.0, 1.0))
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

    /// The server's name, as `info` connections are told it (a server browser shows it).
    ///
    /// Default: **"podnet"**.
    pub name: String,

    /// The most connections open at once. When the server is full, a new connection takes
    /// the slot of the oldest *quiet* connection (one that has not sent a single message;
    /// see [`max_quiet_connections`](Self::max_quiet_connections)), which is told why and
    /// closed. If every connection has spoken, the newcomer is accepted, sent
    /// `{"action": "podnet:close", "reason": "server full"}` and closed, so it learns why
    /// instead of waiting in the listen backlog.
    ///
    /// Default: **4096**. Each connection costs two tasks and its buffers (a few KiB when
    /// idle); raise it, and the process's open-file limit, for larger servers.
    pub max_connections: usize,

    /// The most *quiet* connections at once: connections that have not sent one complete
    /// frame. A quiet connection is never dropped for its silence alone (a repod spectator
    /// or scoreboard may only listen, for hours), but quiet connections are the first to
    /// go: past this many, or when the server is full, the oldest is closed with
    /// [`DisconnectReason::Evicted`](crate::DisconnectReason::Evicted) and told why. So
    /// connections that only hold slots cannot keep players out.
    ///
    /// Default: **1024** (a quarter of the default `max_connections`). 0 counts as 1.
    pub max_quiet_connections: usize,

    /// How long a new connection may stay silent before the server settles its handshake
    /// without a hello: it is then a `classic` peer that does not speak podnet (a repod
    /// client), it gets `{"action": "connected"}` and the application sees it connect. A
    /// podnet client says hello with its first bytes and a repod client that speaks first
    /// is settled by its first message, so only a repod client that listens before it
    /// speaks (a spectator, repod's whiteboard) waits this long. On a port that also takes
    /// WebSocket (the default), a new connection's first byte is awaited
    /// [`WebSocketConfig::hello_wait`] first (500 ms: a browser may open a connection before
    /// it has a request to send), so there a silent repod client is greeted after that;
    /// turn [`websocket`](Self::websocket) off (or serve browsers on another port) to greet
    /// repod players within this wait.
    ///
    /// A podnet client whose hello comes later (a lost packet, a machine too busy to run
    /// it) is told it was settled as `classic`: a plain session goes on, and a resumable
    /// one is granted late; a resume is tried again on a new connection; another
    /// connection type fails its handshake with a message that says so (connect again).
    /// Raise this if your players' networks lose packets often.
    ///
    /// Default: **10 ms** (on a port without WebSocket a silent repod client is greeted
    /// within it; repod's own server greets at once). WebSocket connections wait
    /// [`WebSocketConfig::hello_wait`] after their upgrade.
    pub hello_wait: Duration,

    /// The connection types this server accepts; `classic` and `info` are built in. Add
    /// a game's own with [`ConnectionTypes::register`]; a client asks for one with
    /// [`ClientConfig::connection_type`].
    pub connection_types: ConnectionTypes,

    /// How many `info` connections the server answers, server-wide: a server browser or a
    /// LAN list polls this. Over it, an info connection is closed with "too many info
    /// requests: try again in a second".
    ///
    /// Default: **20 a second, bursts of 40**.
    pub info_rate: RateLimit,

    /// Send `{"action": "connected"}` to each client once its handshake completes (at once
    /// for a client that speaks first), as repod does when it accepts one (repod's clients
    /// dispatch it to `Network_connected`).
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

    /// Where the network of the thread-backed servers of `podnet-sync` and `podnet`
    /// runs: on threads of its own, or inside `pump()` (see [`NetworkMode`]). In pump
    /// mode [`network_threads`](Self::network_threads) must be 1.
    ///
    /// Default: **[`NetworkMode::Thread`]** (or what `PODNET_NETWORK_MODE` says).
    pub network_mode: NetworkMode,

    /// Serve TLS instead of plain TCP (feature `tls`): each accepted connection completes
    /// a handshake within [`ServerTls::handshake_timeout`](crate::ServerTls::handshake_timeout)
    /// before it counts as connected. Clients over
    /// [`max_connections`](Self::max_connections) are closed without the "server full"
    /// message, which could not be read before a handshake.
    ///
    /// Default: **None** (plain TCP, as repod).
    #[cfg(feature = "tls")]
    pub tls: Option<crate::ServerTls>,

    /// Browser players: WebSocket connections on the same port (see
    /// [`WebSocketConfig`]). A connection whose first byte is an ASCII capital letter is
    /// an HTTP request (`GET ...`); any other is repod framing. With `tls`, both come
    /// inside TLS (`wss://`).
    ///
    /// Default: **on** (`Some(WebSocketConfig::default())`). `None` serves repod framing
    /// only.
    pub websocket: Option<WebSocketConfig>,

    /// Grant resumable sessions to podnet clients that ask (see [`ResumeConfig`]), over
    /// TCP and WebSocket alike (a session resumes over the transport it began on).
    ///
    /// Default: **on** (`Some(ResumeConfig::default())`). `None` grants none: a drop ends
    /// every session at once.
    pub resume: Option<ResumeConfig>,

    /// Serve the server's figures over HTTP for a monitoring system: `/metrics`
    /// (Prometheus text), `/healthz` (alive) and `/readyz` (accepting and not draining).
    /// See [`MetricsConfig`]; [`Server::stats`](crate::ServerHandle::stats) gives the same
    /// figures to code either way.
    ///
    /// Default: **None** (off): anyone who reaches the port could read them.
    pub metrics: Option<MetricsConfig>,
}

/// Where and how a server serves its figures (see [`ServerConfig::metrics`]).
///
/// The figures (`/metrics`) and the live page (`/monitor`) tell whoever reads them how
/// many play, their round trips and the game's own gauges: by default they are served on a
/// port of their own on `127.0.0.1` ([`DEFAULT_METRICS_ADDR`]), out of players' reach. On
/// the game's own port they are served only under a secret path
/// ([`on_game_port`](Self::on_game_port)); `/healthz` and `/readyz` (up, ready) answer
/// there at the root too, for load balancers.
///
/// ```
/// use podnet_transport::{MetricsConfig, ServerConfig, DEFAULT_METRICS_ADDR};
///
/// let mut config = ServerConfig::default();
/// config.metrics = Some(MetricsConfig::default()); // /metrics on 127.0.0.1:9464
/// assert_eq!(config.metrics.as_ref().unwrap().listen, Some(DEFAULT_METRICS_ADDR));
///
/// // On the game's port: /<secret>/metrics and /<secret>/monitor.
/// let secret = "kq3XZ7mWv9pD2sLr8tYc"; // make your own: long and random
/// config.metrics = Some(MetricsConfig::on_game_port(secret));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricsConfig {
    /// A port of their own (keep it private), or `None` for the server's own port,
    /// beside the WebSocket clients (which needs [`ServerConfig::websocket`] on, the port
    /// then answering HTTP, and a [`secret`](Self::secret)).
    ///
    /// Default: **`127.0.0.1:9464`** ([`DEFAULT_METRICS_ADDR`]): this machine only.
    pub listen: Option<std::net::SocketAddr>,
    /// On the game's own port (`listen` is `None`), the path segment `/metrics` and
    /// `/monitor` are served under: `/SECRET/metrics`, `/SECRET/monitor`; without it they
    /// answer 404, as any unknown path. At least [`MIN_METRICS_SECRET`] characters of
    /// `A-Z a-z 0-9 - _ . ~`: make it long and random, and keep it as a password.
    /// Required there ([`Server::bind`](crate::Server::bind) refuses the config without
    /// it); not used on a port of their own.
    ///
    /// Default: **None**.
    pub secret: Option<String>,
    /// The start of every metric's name: `podnet_messages_received_total`, ...
    ///
    /// Default: **`podnet`**.
    pub prefix: String,
    /// On a port of their own: the most scrapes served at once, each given
    /// `WebSocketConfig`'s defaults for the request's size (8 KiB) and time (5 s, and as
    /// long again to take the answer). When a scraper arrives and all are busy, the oldest
    /// one still sending its request is closed to make room, so slow or idle connections
    /// cannot keep the monitoring system out.
    ///
    /// Default: **16**.
    pub max_scrapers: usize,
    /// Whether `/readyz` still answers 200 while a part the game depends on reports
    /// itself degraded ([`Server::set_health`](crate::ServerHandle::set_health): a cluster node
    /// that lost Redis). Off, a degraded node says 503 so that the balancer sends new
    /// players to its healthy peers; but when every node shares one Redis, an outage makes
    /// them all unready at once, and a balancer that does not fail open (Kubernetes) then
    /// sends players nowhere: turn it on there. Either way the body names what is degraded.
    ///
    /// Default: **false**.
    pub ready_while_degraded: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            listen: Some(DEFAULT_METRICS_ADDR),
            secret: None,
            prefix: "podnet".to_owned(),
            max_scrapers: 16,
            ready_while_degraded: false,
        }
    }
}

impl MetricsConfig {
    /// The defaults, served on a port of their own at `addr`.
    ///
    /// ```
    /// let config = podnet_transport::MetricsConfig::on("127.0.0.1:0".parse().unwrap());
    /// assert!(config.listen.is_some());
    /// ```
    pub fn on(addr: std::net::SocketAddr) -> Self {
        Self {
            listen: Some(addr),
            ..Self::default()
        }
    }

    /// The defaults, served on the game's own port under `secret` (see
    /// [`secret`](Self::secret)).
    pub fn on_game_port(secret: impl Into<String>) -> Self {
        Self {
            listen: None,
            secret: Some(secret.into()),
            ..Self::default()
        }
    }

    /// Why this config cannot be served, if it cannot.
    pub(crate) fn problem(&self) -> Option<String> {
        if self.listen.is_some() {
            return None;
        }
        let Some(secret) = &self.secret else {
            return Some(
                "metrics on the game's own port need a secret, or anyone who can play could \
                 read them: set MetricsConfig::secret (MetricsConfig::on_game_port), or give \
                 them a port of their own (MetricsConfig::listen, 127.0.0.1:9464 by default)"
                    .to_owned(),
            );
        };
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.~".contains(c);
        if secret.len() < MIN_METRICS_SECRET || !secret.chars().all(allowed) {
            return Some(format!(
                "MetricsConfig::secret must be at least {MIN_METRICS_SECRET} characters of \
                 A-Z a-z 0-9 - _ . ~ (it is a path segment, and a password): it has {}",
                secret.len()
            ));
        }
        None
    }

    /// Whether `key` is the secret, compared in constant time.
    pub(crate) fn is_secret(&self, key: &str) -> bool {
        let Some(secret) = &self.secret else {
            return false;
        };
        let (a, b) = (secret.as_bytes(), key.as_bytes());
        let differ = a
            .iter()
            .zip(b)
            .fold(u8::from(a.len() != b.len()), |acc, (x, y)| acc | (x ^ y));
        differ == 0
    }
}

/// Where a server serves its figures by default: a port of their own, on this machine
/// only (9464, the Prometheus exporters' usual port).
pub const DEFAULT_METRICS_ADDR: std::net::SocketAddr =
    std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9464);

/// The shortest [`MetricsConfig::secret`] taken.
pub const MIN_METRICS_SECRET: usize = 16;

/// A server that also takes WebSocket clients needs `framing.max_frame_length` below this:
/// `0x4100_0000` bytes (1,090,519,040: `"A\0\0\0"` read as a length; `"GET "` reads as
/// 1,195,725,856). A repod frame's length prefix then never starts with an ASCII capital
/// letter, as every HTTP request does, so one byte tells the two apart.
/// [`Server::bind`](crate::Server::bind) refuses a config that breaks this.
pub const MAX_FRAME_WITH_WEBSOCKET: usize = 0x4100_0000;

/// A page the server answers plain HTTP requests for (see [`WebSocketConfig::pages`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Page {
    /// The `Content-Type` it is sent with.
    pub content_type: String,
    /// What it holds.
    pub body: bytes::Bytes,
}

/// WebSocket clients on a server's own port: browsers, and anything else that speaks
/// RFC 6455.
///
/// A WebSocket client is a podnet peer like any other: the same handshake (the TypeScript
/// client says `podnet:hello`), heartbeat, limits and close reasons. Each **binary**
/// WebSocket message carries one podnet message: the msgpack map with its `action`,
/// *without* repod's 4-byte length (the WebSocket frame has its own). The most a message
/// may hold is `framing.max_frame_length`, as over TCP.
///
/// ```
/// use std::time::Duration;
/// use podnet_transport::{ServerConfig, WebSocketConfig};
///
/// let mut config = ServerConfig::default();
/// let mut websocket = WebSocketConfig::default()
///     .with_page("/", "text/html; charset=utf-8", "<script src=game.js></script>");
/// websocket.allowed_origins = Some(vec!["https://mygame.example".to_owned()]);
/// assert_eq!(websocket.handshake_timeout, Duration::from_secs(5));
/// config.websocket = Some(websocket);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebSocketConfig {
    /// The pages whose `Origin` may open a WebSocket, as browsers send it
    /// (`"https://mygame.example"`, `"http://localhost:8000"`), compared exactly but for
    /// ASCII case. With a list, a request without an `Origin` (a program, not a browser)
    /// is refused too; without one, any page and any program may connect.
    ///
    /// Default: **`None`**: games are played from pages anywhere (itch.io, a LAN), and
    /// podnet uses no cookies, so a foreign page gains nothing a program could not do.
    /// Set it when your players log in with cookies or another ambient credential.
    pub allowed_origins: Option<Vec<String>>,

    /// The longest HTTP request header the server reads before it answers 431.
    ///
    /// Default: **8 KiB**: a browser's upgrade request is about 500 bytes.
    pub max_request_bytes: usize,

    /// How long a connection that opened with an HTTP request may take to complete it.
    /// A slow request (slowloris) is closed when this runs out; it holds a connection slot
    /// until then.
    ///
    /// Default: **5 s**.
    pub handshake_timeout: std::time::Duration,

    /// The most fragments one WebSocket message may come in. Browsers send each message
    /// whole; this bounds a peer that sends endless (even empty) fragments.
    ///
    /// Default: **64**.
    pub max_fragments: usize,

    /// How long a connection opened by a WebSocket upgrade may stay silent, counted from
    /// the upgrade's answer, before it is settled as `classic` without a hello (see
    /// [`ServerConfig::hello_wait`]): a browser says hello once the answer reaches it, a
    /// round trip later. Also how long a new connection on the shared port may stay
    /// silent before it is taken for repod framing rather than an HTTP request: browsers
    /// open connections before they have a request to send.
    ///
    /// Default: **500 ms**.
    pub hello_wait: std::time::Duration,

    /// Pages served to plain HTTP `GET` requests on the same port, by path (without the
    /// query): a browser game's page and script. Any other path is answered 404 with a
    /// line that says what the server is.
    ///
    /// Default: **none**.
    pub pages: std::collections::BTreeMap<String, Page>,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        Self {
            allowed_origins: None,
            max_request_bytes: 8 * 1024,
            handshake_timeout: Duration::from_secs(5),
            max_fragments: 64,
            hello_wait: Duration::from_millis(500),
            pages: std::collections::BTreeMap::new(),
        }
    }
}

impl WebSocketConfig {
    /// Returns this config serving `body` at `path` (as `/index.html`), with
    /// `content_type`.
    pub fn with_page(
        mut self,
        path: impl Into<String>,
        content_type: impl Into<String>,
        body: impl Into<bytes::Bytes>,
    ) -> Self {
        self.pages.insert(
            path.into(),
            Page {
                content_type: content_type.into(),
                body: body.into(),
            },
        );
        self
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            connection: ConnectionConfig::default(),
            name: "podnet".to_owned(),
            max_connections: 4096,
            max_quiet_connections: 1024,
            hello_wait: Duration::from_millis(10),
            connection_types: ConnectionTypes::default(),
            info_rate: RateLimit::new(20, 40),
            send_connected: true,
            max_accept_backoff: Duration::from_secs(1),
            network_threads: 1,
            network_mode: NetworkMode::default(),
            #[cfg(feature = "tls")]
            tls: None,
            websocket: Some(WebSocketConfig::default()),
            resume: Some(ResumeConfig::default()),
            metrics: None,
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

    /// Say `{"action": "podnet:hello", "protocol": 2, "type": ...}` on connecting, so
    /// that a podnet server knows it is podnet (heartbeats, connection types) without
    /// waiting for [`ServerConfig::hello_wait`]. A repod server sees an unknown action and
    /// ignores it.
    ///
    /// Default: **true**.
    pub hello: bool,

    /// The connection type to ask for in the hello: `classic` (a player), `info` (the
    /// server's description; see [`query_info`](crate::query_info)), or one the server
    /// registered.
    ///
    /// Default: **"classic"**.
    pub connection_type: String,

    /// Connect with TLS (feature `tls`): the handshake runs after the TCP connect, within
    /// the same [`connect_timeout`](Self::connect_timeout), and a failure is
    /// [`TransportError::TlsHandshake`](crate::TransportError::TlsHandshake).
    ///
    /// Default: **None** (plain TCP, as repod).
    #[cfg(feature = "tls")]
    pub tls: Option<crate::ClientTls>,

    /// Ask a podnet server for a resumable session, and resume it after a drop (see
    /// [`ResumeConfig`]). Needs [`hello`](Self::hello). A server that does not grant one
    /// (a repod server, or a podnet server without resume) is played with as before.
    ///
    /// Default: **on** (`Some(ResumeConfig::default())`). `None`: a drop ends the
    /// session at once.
    pub resume: Option<ResumeConfig>,

    /// Where the network of `podnet-sync`'s and `podnet`'s clients runs: on a thread of
    /// its own, or inside `pump()` (see [`NetworkMode`]).
    ///
    /// Default: **[`NetworkMode::Thread`]** (or what `PODNET_NETWORK_MODE` says).
    pub network_mode: NetworkMode,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            connection: ConnectionConfig::default(),
            connect_timeout: Duration::from_secs(10),
            hello: true,
            connection_type: podnet_proto::ConnectionType::CLASSIC.to_owned(),
            #[cfg(feature = "tls")]
            tls: None,
            resume: Some(ResumeConfig::default()),
            network_mode: NetworkMode::default(),
        }
    }
}

impl ServerConfig {
    /// The server side of the protocol's settings, with `greeting` (the `connected`
    /// message, encoded) if it sends one.
    pub(crate) fn server_settings(&self, greeting: Option<bytes::Bytes>) -> ServerSettings {
        let mut settings = ServerSettings::default();
        settings.connection = self.connection.clone();
        settings.types = self.connection_types.clone();
        settings.hello_wait = self.hello_wait;
        if let Some(websocket) = &self.websocket {
            settings.websocket_hello_wait = websocket.hello_wait;
        }
        settings.greeting = greeting;
        settings.resume = self.resume.as_ref().map(|r| r.acks.clone());
        settings
    }

    pub(crate) fn admission_settings(&self) -> AdmissionSettings {
        let mut settings = AdmissionSettings::default();
        settings.max_connections = self.max_connections;
        settings.max_quiet_connections = self.max_quiet_connections;
        settings.info_rate = self.info_rate;
        if let Some(resume) = &self.resume {
            settings.max_parked_sessions = resume.max_parked;
        }
        settings
    }
}

impl ClientConfig {
    pub(crate) fn client_settings(&self) -> ClientSettings {
        let mut settings = ClientSettings::default();
        settings.connection = self.connection.clone();
        settings.connection_type = self.connection_type.clone();
        settings.hello = self.hello;
        settings.resume = self.resume.as_ref().map(|r| r.acks.clone());
        settings
    }
}

//! The lobby under `pump()`: a network thread, and the lobby run on the game's thread.

use std::time::{Duration, Instant};

use podnet_sync::ServerHandle;
use podnet_transport::{ServerConfig, ShutdownReport};

use crate::Error;
use crate::config::LobbyConfig;
use crate::lobby::Lobby;
use crate::session::Game;

/// How long the final server shutdown may take to deliver the last messages.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long [`LobbyServer::run`] waits for events at a time (a stop request wakes it;
/// deadlines shorten it).
const RUN_WAIT: Duration = Duration::from_secs(1);

/// A lobby server for a synchronous game loop: the network runs on a background thread,
/// and [`pump`](Self::pump), called once per frame, runs the lobby and the game sessions
/// on the caller's thread.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use podnet_lobby::{Game, LobbyConfig, LobbyServer, Seat, SessionCtx, SessionHandlers};
///
/// struct Nothing;
/// impl Game for Nothing {
///     type Setup = ();
///     fn start(_: &(), ctx: &mut SessionCtx<'_>) -> Self { ctx.end("done"); Nothing }
///     fn handlers(_: &mut SessionHandlers<Self>) {}
/// }
///
/// let mut server = LobbyServer::<Nothing>::start_background("127.0.0.1:0", LobbyConfig::new(2), ())?;
/// server.pump_timeout(Duration::from_millis(10));
/// server.shutdown("bye");
/// # Ok::<(), podnet_lobby::Error>(())
/// ```
pub struct LobbyServer<G: Game> {
    net: podnet_sync::Server,
    handle: ServerHandle,
    lobby: Lobby<G>,
    /// In a cluster: the link, and the runtime its Redis work runs on.
    #[cfg(feature = "cluster")]
    cluster: Option<Clustered>,
}

/// A `pump()` lobby's cluster: the link, polled by `pump`, and the runtime (one thread of
/// its own) that talks to Redis.
#[cfg(feature = "cluster")]
struct Clustered {
    link: crate::cluster::Link,
    runtime: tokio::runtime::Runtime,
}

impl<G: Game> LobbyServer<G> {
    /// Starts listening on `addr` (port 0 picks a free port) with the default
    /// [`ServerConfig`].
    ///
    /// # Errors
    ///
    /// If the address does not resolve or cannot be listened on.
    pub fn start_background(
        addr: impl podnet_transport::Addr,
        config: LobbyConfig,
        setup: G::Setup,
    ) -> Result<Self, Error> {
        Self::start_background_with(addr, ServerConfig::default(), config, setup)
    }

    /// As [`start_background`](Self::start_background), with the server's configuration.
    ///
    /// # Errors
    ///
    /// As [`start_background`](Self::start_background).
    pub fn start_background_with(
        addr: impl podnet_transport::Addr,
        server_config: ServerConfig,
        config: LobbyConfig,
        setup: G::Setup,
    ) -> Result<Self, Error> {
        let net = podnet_sync::Server::start(addr, server_config)?;
        Ok(Self {
            handle: net.handle().clone(),
            net,
            lobby: Lobby::new(config, setup),
            #[cfg(feature = "cluster")]
            cluster: None,
        })
    }

    /// As [`start_background_with`](Self::start_background_with), as one node of a
    /// cluster (feature `cluster`; see [`Lobby::clustered`] and docs/cluster.md): joins
    /// the cluster at `cluster.url`, whose Redis work runs on a thread of its own; `pump`
    /// handles what the cluster brings, as it does the network's events.
    ///
    /// # Errors
    ///
    /// If the address cannot be listened on, or the cluster cannot be joined.
    #[cfg(feature = "cluster")]
    pub fn start_clustered(
        addr: impl podnet_transport::Addr,
        server_config: ServerConfig,
        config: LobbyConfig,
        setup: G::Setup,
        cluster: podnet_cluster::ClusterConfig,
        lobby_cluster: &crate::cluster::ClusterLobbyConfig,
    ) -> Result<Self, Error> {
        let net = podnet_sync::Server::start(addr, server_config)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("podnet-lobby-cluster")
            .enable_all()
            .build()
            .map_err(Error::ClusterThread)?;
        let handle = net.handle().clone();
        let joined = runtime.block_on(podnet_cluster::Cluster::start(cluster, handle.clone()))?;
        let lobby = Lobby::clustered(config, setup, joined.node().id());
        let link = {
            let _in_runtime = runtime.enter();
            crate::cluster::Link::new(&lobby, joined, lobby_cluster)?
        };
        Ok(Self {
            handle,
            net,
            lobby,
            cluster: Some(Clustered { link, runtime }),
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.handle.local_addr()
    }

    /// The lobby, to look at.
    pub fn lobby(&self) -> &Lobby<G> {
        &self.lobby
    }

    /// The server's handle: its figures ([`ServerHandle::stats`], `/metrics`, where the
    /// lobby's own figures are `podnet_game_lobby_*`), draining, `info`.
    pub fn handle(&self) -> &ServerHandle {
        &self.handle
    }

    /// Ends `session` now with `result`, whatever its game is doing: its players get
    /// [`GameOver`](crate::protocol::GameOver) and go back to the lobby. Returns false if
    /// there is no such session. See [`Lobby::end_session`].
    pub fn end_session(&mut self, session: u64, result: &str) -> bool {
        self.lobby.end_session(session, result, &self.handle)
    }

    /// Ends every running session now with `result` (see
    /// [`end_session`](Self::end_session)); returns how many it ended.
    pub fn end_all_sessions(&mut self, result: &str) -> usize {
        let sessions = self.lobby.sessions();
        sessions
            .into_iter()
            .filter(|&session| self.lobby.end_session(session, result, &self.handle))
            .count()
    }

    /// Handles every event queued now, and the deadlines due; returns how many events.
    /// Never blocks.
    pub fn pump(&mut self) -> usize {
        let (lobby, handle) = (&mut self.lobby, &self.handle);
        #[cfg(feature = "cluster")]
        if let Some(cluster) = &mut self.cluster {
            let link = &mut cluster.link;
            let handled = self.net.pump(|event| link.event(lobby, event, handle));
            Self::pump_cluster(lobby, link, handle);
            return handled;
        }
        let handled = self.net.pump(|event| lobby.handle(event, handle));
        lobby.tick(Instant::now(), handle);
        lobby.publish(|name, value| handle.set_gauge(name, value));
        handled
    }

    /// What the cluster brought since the last pump, then the deadlines.
    #[cfg(feature = "cluster")]
    fn pump_cluster(lobby: &mut Lobby<G>, link: &mut crate::cluster::Link, handle: &ServerHandle) {
        while let Some(wake) = link.try_next() {
            let load =
                crate::cluster::load(lobby, handle.connection_count(), lobby.is_shutting_down());
            link.wake(lobby, wake, handle, load);
        }
        lobby.tick(Instant::now(), handle);
        link.hand_over(lobby);
        lobby.publish(|name, value| handle.set_gauge(name, value));
    }

    /// As [`pump`](Self::pump), first waiting up to `timeout` for an event (less if a
    /// deadline comes sooner).
    pub fn pump_timeout(&mut self, timeout: Duration) -> usize {
        let wait = match self.lobby.next_deadline() {
            Some(at) => timeout.min(at.saturating_duration_since(Instant::now())),
            None => timeout,
        };
        let (lobby, handle) = (&mut self.lobby, &self.handle);
        #[cfg(feature = "cluster")]
        if let Some(cluster) = &mut self.cluster {
            // The cluster does not wake the wait: what it brings is handled after it.
            let link = &mut cluster.link;
            let handled = self
                .net
                .pump_timeout(wait, |event| link.event(lobby, event, handle));
            Self::pump_cluster(lobby, link, handle);
            return handled;
        }
        let handled = self
            .net
            .pump_timeout(wait, |event| lobby.handle(event, handle));
        lobby.tick(Instant::now(), handle);
        lobby.publish(|name, value| handle.set_gauge(name, value));
        handled
    }

    /// Runs the lobby on this thread until a stop is asked for: from another thread
    /// ([`ServerHandle::request_stop`] on [`handle`](Self::handle)), or by Ctrl-C /
    /// SIGTERM once [`stop_on_signals`](Self::stop_on_signals) was called. The request
    /// wakes it at once. Then shuts down with the reason given (see
    /// [`shutdown`](Self::shutdown)) and returns its report. For a dedicated lobby with no
    /// game loop of its own.
    ///
    /// ```
    /// # use podnet_lobby::{Game, LobbyConfig, LobbyServer, SessionCtx, SessionHandlers};
    /// # struct Nothing;
    /// # impl Game for Nothing {
    /// #     type Setup = ();
    /// #     fn start(_: &(), ctx: &mut SessionCtx<'_>) -> Self { ctx.end("done"); Nothing }
    /// #     fn handlers(_: &mut SessionHandlers<Self>) {}
    /// # }
    /// let server = LobbyServer::<Nothing>::start_background("127.0.0.1:0", LobbyConfig::new(2), ())?;
    /// let handle = server.handle().clone();
    /// let admin = std::thread::spawn(move || handle.request_stop("maintenance"));
    /// let report = server.run(); // returns once the admin thread asked
    /// admin.join().unwrap();
    /// assert!(report.is_some());
    /// # Ok::<(), podnet_lobby::Error>(())
    /// ```
    pub fn run(mut self) -> Option<ShutdownReport> {
        while self.handle.stop_requested().is_none() {
            self.pump_timeout(RUN_WAIT);
        }
        let reason = self
            .handle
            .stop_requested()
            .unwrap_or_else(|| "server closed".to_owned());
        self.shutdown(&reason)
    }

    /// Stops the lobby gracefully on Ctrl-C (SIGINT) or SIGTERM: the signal handler asks
    /// for a stop, so [`run`](Self::run) shuts down with the reason "the server was
    /// stopped by a signal", and a game loop of its own sees
    /// [`ServerHandle::stop_requested`].
    ///
    /// # Errors
    ///
    /// [`Error::Signals`] if the process already has such a handler (one per process).
    pub fn stop_on_signals(&self) -> Result<(), Error> {
        let handle = self.handle.clone();
        ctrlc::set_handler(move || handle.request_stop("the server was stopped by a signal"))
            .map_err(|err| Error::Signals {
                problem: err.to_string(),
            })
    }

    /// Shuts down, blocking until it is done: stops accepting, closes everyone not in a
    /// game with `reason`, runs the sessions (pumping) until they end or
    /// [`LobbyConfig::session_grace`] runs out, then closes the server, delivering what
    /// was sent. It takes at most the grace plus 5 s; with a grace of `Duration::MAX` it
    /// waits for the sessions to finish by themselves.
    ///
    /// Returns the server's [`ShutdownReport`], or `None` if it was already shut down.
    pub fn shutdown(&mut self, reason: &str) -> Option<ShutdownReport> {
        self.lobby
            .begin_shutdown(reason, Instant::now(), &self.handle);
        while !self.lobby.is_done() {
            self.pump_timeout(Duration::from_millis(10));
        }
        let report = self.net.shutdown(reason, CLOSE_TIMEOUT);
        self.pump();
        #[cfg(feature = "cluster")]
        if let Some(Clustered { link, runtime }) = self.cluster.take() {
            // The last names freed, and the node gone from the registry.
            runtime.block_on(link.finish([]));
        }
        report
    }
}

impl<G: Game> std::fmt::Debug for LobbyServer<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LobbyServer")
            .field("local_addr", &self.local_addr())
            .field("lobby", &self.lobby)
            .finish()
    }
}

//! The server with its network on a background thread.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Receiver;
use podnet_transport::podnet_framing::Message;
use podnet_transport::{
    ConnectionId, ConnectionInfo, Frame, SendError, ServerConfig, ServerEvent, ShutdownReport,
};
use serde::Serialize;
use tokio::sync::oneshot;
use tracing::debug;

use crate::SyncError;
use crate::thread::{ChannelSink, Delivery, drain, resolve, spawn, wait_first};

/// How long a dropped server waits for its connections to close gracefully.
const DROP_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// How often a run loop waiting for events checks for a stop requested from another
/// thread or a signal: the most such a stop waits.
pub(crate) const STOP_POLL: Duration = Duration::from_millis(50);

/// What the handle asks the network thread to do when it shuts down.
#[derive(Debug)]
struct ShutdownRequest {
    reason: String,
    timeout: Duration,
    reply: oneshot::Sender<ShutdownReport>,
}

/// A podnet server whose network runs on a background thread, while its events are handled
/// on the thread that calls [`pump`](Self::pump): the one that owns the game state.
///
/// # The `pump()` contract
///
/// - **Which thread**: any, but one at a time: `pump` takes `&mut self`. Handlers run on
///   that thread, in order, so they can use `&mut` game state without locks. (repod runs
///   handlers on its network thread, racing the game loop; podnet does not.)
/// - **What it does**: takes every event queued since the last call and passes each to the
///   handler, in order per connection. Events that arrive while it runs wait for the next
///   call, so one `pump` ends even if clients never stop sending.
/// - **What it never does**: block, wait for the network, or allocate per event (events
///   are moved out of a queue; decoding a message, in the handler, is the one
///   allocation). [`pump_timeout`](Self::pump_timeout) is the variant that waits for the
///   first event.
///
/// Sending (`send`, `send_to_all`, `close`) never blocks either, from any thread: use a
/// [`ServerHandle`] on threads other than the pumping one.
///
/// Dropping the server shuts it down gracefully (every client gets what was sent to it,
/// then `podnet:close`), waiting up to 5 s; [`shutdown`](Self::shutdown) chooses the reason
/// and the timeout.
///
/// # Example
///
/// ```
/// use podnet_sync::Server;
/// use podnet_transport::{ServerConfig, ServerEvent};
///
/// let (mut server, _network_thread) = Server::start_background("127.0.0.1:0", ServerConfig::default())?;
/// let addr = server.local_addr();
/// # let _client = std::net::TcpStream::connect(addr)?;
/// let mut players = 0;
/// while players == 0 {
///     server.pump_timeout(std::time::Duration::from_secs(5), |event| {
///         if let ServerEvent::Connected { id, .. } = event {
///             println!("{id} joined");
///             players += 1;
///         }
///     });
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Server {
    handle: ServerHandle,
    events: Receiver<Delivery<ServerEvent>>,
    shutdown: Option<oneshot::Sender<ShutdownRequest>>,
    /// Joined on drop if the caller did not take it.
    thread: Option<JoinHandle<()>>,
    stopped: Arc<AtomicBool>,
}

/// A handle for sending from any thread: `Clone + Send + Sync`. It does not keep the server
/// running; once the [`Server`] is shut down, sends fail with `NotConnected`.
///
/// ```
/// # let (server, _t) = podnet_sync::Server::start_background("127.0.0.1:0", Default::default())?;
/// let handle = server.handle().clone();
/// std::thread::spawn(move || {
///     // Broadcast from another thread: encoded once, never blocks.
///     let _ = handle.send_with_action_to_all("tick", &());
/// }).join().unwrap();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ServerHandle {
    net: Arc<podnet_transport::Server>,
    stop: Arc<StopRequest>,
}

/// A request to stop the server's run loop, from any thread (see
/// [`ServerHandle::request_stop`]).
#[derive(Debug, Default)]
struct StopRequest {
    requested: AtomicBool,
    reason: std::sync::Mutex<Option<String>>,
}

impl Server {
    /// Starts the server on a background thread, listening on `addr` (port 0 picks a free
    /// port), and returns it with the thread's `JoinHandle` (repod's `start_background`).
    /// The thread ends when the server is shut down or dropped.
    ///
    /// # Errors
    ///
    /// [`SyncError::Resolve`] or a bind error if the address does not work;
    /// [`SyncError::Thread`] if the thread cannot start.
    pub fn start_background(
        addr: impl std::net::ToSocketAddrs + std::fmt::Debug,
        config: ServerConfig,
    ) -> Result<(Server, JoinHandle<()>), SyncError> {
        let mut server = Self::start(addr, config)?;
        let thread = server.thread.take().ok_or(SyncError::Stopped)?;
        Ok((server, thread))
    }

    /// Starts the server, keeping its thread: [`start_background`](Self::start_background)
    /// without handing out the `JoinHandle`.
    ///
    /// # Errors
    ///
    /// As [`start_background`](Self::start_background).
    pub fn start(
        addr: impl std::net::ToSocketAddrs + std::fmt::Debug,
        config: ServerConfig,
    ) -> Result<Server, SyncError> {
        let addrs = resolve(addr)?;
        let (events_tx, events) = crossbeam_channel::unbounded();
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<ShutdownRequest>();
        let stopped = Arc::new(AtomicBool::new(false));
        let stopped_in_thread = stopped.clone();
        let workers = config.network_threads;
        let thread = spawn("podnet-server", workers, move || async move {
            let sink = ChannelSink(events_tx);
            let net = match podnet_transport::Server::bind_with_sink(&addrs[..], config, sink).await
            {
                Ok(net) => Arc::new(net),
                Err(err) => {
                    let _ = ready_tx.send(Err(err));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(net.clone()));
            // Run until asked to shut down, or until the handle is dropped without asking.
            let (reason, timeout, reply) = match shutdown_rx.await {
                Ok(req) => (req.reason, req.timeout, Some(req.reply)),
                Err(_) => ("server closed".to_owned(), DROP_SHUTDOWN_TIMEOUT, None),
            };
            let report = net.shutdown(&reason, timeout).await;
            debug!(?report, "network thread done");
            stopped_in_thread.store(true, Ordering::Release);
            if let Some(reply) = reply {
                let _ = reply.send(report);
            }
        })?;
        let net = ready_rx.recv().map_err(|_| SyncError::Stopped)??;
        Ok(Server {
            handle: ServerHandle {
                net,
                stop: Arc::default(),
            },
            events,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
            stopped,
        })
    }

    /// Starts the server and handles its events on the calling thread until a handler calls
    /// [`stop`](Self::stop): repod's `launch`, for dedicated servers without a game loop of
    /// their own. Then shuts down and returns.
    ///
    /// # Errors
    ///
    /// As [`start_background`](Self::start_background).
    ///
    /// ```no_run
    /// use podnet_sync::Server;
    /// use podnet_transport::ServerEvent;
    ///
    /// // A dedicated echo server that stops after its first client leaves.
    /// Server::launch("0.0.0.0:5071", Default::default(), |server, event| match event {
    ///     ServerEvent::Message { id, message } => {
    ///         let _ = server.handle().send_frame(id, &podnet_transport::Frame::from_message(&message).unwrap());
    ///     }
    ///     ServerEvent::Disconnected { .. } => server.stop(),
    ///     _ => {}
    /// })?;
    /// # Ok::<(), podnet_sync::SyncError>(())
    /// ```
    pub fn launch(
        addr: impl std::net::ToSocketAddrs + std::fmt::Debug,
        config: ServerConfig,
        mut handler: impl FnMut(&mut Server, ServerEvent),
    ) -> Result<ShutdownReport, SyncError> {
        let mut server = Self::start(addr, config)?;
        while !server.is_stopping() && server.stop_requested().is_none() {
            let Ok(delivery) = server.events.recv_timeout(STOP_POLL) else {
                continue;
            };
            delivery.handle(&mut |event| handler(&mut server, event));
        }
        let reason = server
            .stop_requested()
            .unwrap_or_else(|| "server closed".to_owned());
        server
            .shutdown(&reason, DROP_SHUTDOWN_TIMEOUT)
            .ok_or(SyncError::Stopped)
    }

    /// Asks [`launch`](Self::launch)'s loop to end after the current event.
    pub fn stop(&mut self) {
        self.stopped.store(true, Ordering::Release);
    }

    /// The reason given to [`ServerHandle::request_stop`], once a stop was requested.
    pub fn stop_requested(&self) -> Option<String> {
        self.handle.stop_requested()
    }

    fn is_stopping(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// Handles every event queued now, in order, on this thread; returns how many. Never
    /// blocks. See the type's documentation for the full contract.
    pub fn pump(&mut self, handler: impl FnMut(ServerEvent)) -> usize {
        drain(&self.events, None, handler)
    }

    /// Waits up to `timeout` for the first event, then handles it and everything else
    /// queued, as [`pump`](Self::pump) (peng3dnet's `process(wait=True, timeout)`). Returns
    /// how many events it handled: 0 if none came in time.
    ///
    /// It polls for the first 50 µs (yielding the CPU between polls) before it sleeps,
    /// so that a busy server is not put to sleep and woken for every batch.
    pub fn pump_timeout(&mut self, timeout: Duration, handler: impl FnMut(ServerEvent)) -> usize {
        match wait_first(&self.events, timeout) {
            Some(first) => drain(&self.events, Some(first), handler),
            None => 0,
        }
    }

    /// The handle for sending, closing and asking about connections, from this thread
    /// or (cloned) from any other.
    pub fn handle(&self) -> &ServerHandle {
        &self.handle
    }

    /// The address the server listens on, with the actual port when bound to port 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }

    /// Stops accepting, closes every connection with `reason` after what was sent to it,
    /// waits up to `timeout` (then cuts what is left), and ends the network thread. The
    /// remaining events, `Disconnected` for every connection among them, can still be
    /// pumped.
    ///
    /// Returns what the shutdown did, or `None` if the server was already shut down (or its
    /// network thread had died).
    pub fn shutdown(&mut self, reason: &str, timeout: Duration) -> Option<ShutdownReport> {
        self.stop();
        let (reply_tx, reply_rx) = oneshot::channel();
        let mut report = None;
        if let Some(shutdown) = self.shutdown.take() {
            let request = ShutdownRequest {
                reason: reason.to_owned(),
                timeout,
                reply: reply_tx,
            };
            if shutdown.send(request).is_ok() {
                report = reply_rx.blocking_recv().ok();
            }
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        report
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.shutdown.is_some() {
            self.shutdown("server closed", DROP_SHUTDOWN_TIMEOUT);
        }
    }
}

impl ServerHandle {
    /// Asks the server's run loop (`launch`, or the facade's `Server::run`) to shut down
    /// gracefully with `reason`, from any thread: it stops within 50 ms. The first reason
    /// given stands. Servers pumped by a game loop of their own check
    /// [`stop_requested`](Self::stop_requested) themselves.
    pub fn request_stop(&self, reason: &str) {
        let mut slot = self.stop.reason.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(reason.to_owned());
        }
        self.stop.requested.store(true, Ordering::Release);
    }

    /// The reason given to [`request_stop`](Self::request_stop), once it was called.
    pub fn stop_requested(&self) -> Option<String> {
        if !self.stop.requested.load(Ordering::Acquire) {
            return None;
        }
        self.stop
            .reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The address the server listens on, with the actual port when bound to port 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.net.local_addr()
    }

    /// Stops accepting new connections, leaving those open untouched (see
    /// [`podnet_transport::Server::stop_accepting`]).
    pub fn stop_accepting(&self) {
        self.net.stop_accepting();
    }

    /// Sends a typed message to one connection. Never blocks.
    ///
    /// # Errors
    ///
    /// As [`podnet_transport::Server::send`]: the connection is gone, or it is a slow
    /// consumer, or the message does not encode.
    pub fn send<M>(&self, id: ConnectionId, msg: &M) -> Result<(), SendError>
    where
        M: Message + Serialize + ?Sized,
    {
        self.net.send(id, msg)
    }

    /// Sends a message under an action name chosen at run time. Never blocks.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn send_with_action<T>(
        &self,
        id: ConnectionId,
        action: &str,
        msg: &T,
    ) -> Result<(), SendError>
    where
        T: Serialize + ?Sized,
    {
        self.net.send_with_action(id, action, msg)
    }

    /// Sends an encoded frame to one connection. Never blocks.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn send_frame(&self, id: ConnectionId, frame: &Frame) -> Result<(), SendError> {
        self.net.send_frame(id, frame)
    }

    /// Sends a typed message to every connection, encoded once; returns how many it was
    /// queued for.
    ///
    /// # Errors
    ///
    /// If the message does not encode.
    pub fn send_to_all<M>(&self, msg: &M) -> Result<usize, SendError>
    where
        M: Message + Serialize + ?Sized,
    {
        self.net.send_to_all(msg)
    }

    /// Sends a message under a run-time action name to every connection, encoded once.
    ///
    /// # Errors
    ///
    /// If the message does not encode.
    pub fn send_with_action_to_all<T>(&self, action: &str, msg: &T) -> Result<usize, SendError>
    where
        T: Serialize + ?Sized,
    {
        let frame = Frame::encode_with_action(action, msg, self.net.framing())?;
        Ok(self.net.send_frame_to_all(&frame))
    }

    /// Sends an encoded frame to every connection; returns how many it was queued for.
    pub fn send_frame_to_all(&self, frame: &Frame) -> usize {
        self.net.send_frame_to_all(frame)
    }

    /// Closes one connection gracefully with `reason`.
    ///
    /// # Errors
    ///
    /// If the connection is gone or already closing.
    pub fn close(&self, id: ConnectionId, reason: &str) -> Result<(), SendError> {
        self.net.close(id, reason)
    }

    /// The ids of the open connections (repod's `server.channels`).
    pub fn connection_ids(&self) -> Vec<ConnectionId> {
        self.net.connection_ids()
    }

    /// How many connections are open.
    pub fn connection_count(&self) -> usize {
        self.net.connection_count()
    }

    /// Figures for one connection.
    pub fn connection_info(&self, id: ConnectionId) -> Option<ConnectionInfo> {
        self.net.connection_info(id)
    }

    /// How many clients were turned away because the server was full of connections that
    /// had all spoken.
    pub fn rejected_count(&self) -> u64 {
        self.net.rejected_count()
    }

    /// The server's figures now (see [`podnet_transport::Server::stats`]).
    pub fn stats(&self) -> podnet_transport::ServerStats {
        self.net.stats()
    }

    /// The figures in the Prometheus text format (see
    /// [`podnet_transport::Server::metrics_text`]).
    pub fn metrics_text(&self, prefix: &str) -> String {
        self.net.metrics_text(prefix)
    }

    /// Sets one of the game's own figures for `/metrics` (see
    /// [`podnet_transport::Server::set_gauge`]); false for a name that is not one.
    pub fn set_gauge(&self, name: &str, value: f64) -> bool {
        self.net.set_gauge(name, value)
    }

    /// Removes a figure set with [`set_gauge`](Self::set_gauge).
    pub fn remove_gauge(&self, name: &str) {
        self.net.remove_gauge(name);
    }

    /// Reports the health of a part the game depends on, for `/readyz` and `/metrics`
    /// (see [`podnet_transport::Server::set_health`]).
    pub fn set_health(&self, component: &str, health: podnet_transport::Health) {
        self.net.set_health(component, health);
    }

    /// Forgets a part reported with [`set_health`](Self::set_health).
    pub fn remove_health(&self, component: &str) {
        self.net.remove_health(component);
    }

    /// Where the monitoring endpoints listen, when they have a port of their own.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.net.metrics_addr()
    }

    /// Starts draining for a rolling deploy: stops accepting and reports not ready, while
    /// the players connected play on (see [`podnet_transport::Server::drain`]). Shut down
    /// once [`connection_count`](Self::connection_count) is 0, or at your deadline.
    pub fn drain(&self, reason: &str) {
        self.net.drain(reason);
    }

    /// Whether [`drain`](Self::drain) was called.
    pub fn is_draining(&self) -> bool {
        self.net.is_draining()
    }

    /// How many quiet connections were closed to make room (see
    /// `ServerConfig::max_quiet_connections`).
    pub fn evicted_count(&self) -> u64 {
        self.net.evicted_count()
    }

    /// Sets a field of the description `info` connections receive (see
    /// [`podnet_transport::Server::set_info`]).
    pub fn set_info(&self, name: &str, value: impl Into<podnet_transport::podnet_framing::Value>) {
        self.net.set_info(name, value);
    }

    /// Removes a field set with [`set_info`](Self::set_info).
    pub fn remove_info(&self, name: &str) {
        self.net.remove_info(name);
    }

    /// The description an `info` connection receives now.
    pub fn info(&self) -> podnet_transport::ServerInfo {
        self.net.info()
    }

    /// The framing limits, for encoding [`Frame`]s.
    pub fn framing(&self) -> &podnet_transport::podnet_framing::FramingConfig {
        self.net.framing()
    }
}

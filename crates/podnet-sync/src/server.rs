//! The server with its network on a background thread.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Receiver;
pub use podnet_transport::ServerHandle;
use podnet_transport::{NetworkMode, ServerConfig, ServerEvent, ShutdownReport};
use tokio::sync::oneshot;
use tracing::debug;

use crate::pumped::InPump;
use crate::thread::{ChannelSink, Delivery, drain, spawn, wait_first};
use crate::{Each, EventHandler, SyncError};

/// How long a dropped server waits for its connections to close gracefully.
const DROP_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a run loop waits for events at a time. A stop requested from another thread
/// or a signal wakes it at once; this bounds the wait should a wake be missed.
pub(crate) const STOP_POLL: Duration = Duration::from_secs(1);

/// What the handle asks the network thread to do when it shuts down.
#[derive(Debug)]
struct ShutdownRequest {
    reason: String,
    timeout: Duration,
    reply: oneshot::Sender<ShutdownReport>,
}

/// A podnet server whose events are handled on the thread that calls
/// [`pump`](Self::pump): the one that owns the game state. Its network runs on a thread of
/// its own, or, in [`NetworkMode::Pump`], inside `pump` on that same thread.
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
/// - **In pump mode**, it first lets the network run on this thread (reading what the
///   sockets hold, answering heartbeats, writing what is queued) for a bounded number of
///   rounds, and after the handler one more, so that replies leave before it returns. It
///   still never waits: the sockets are polled, not waited on. Between pumps nothing moves,
///   so pump well within the heartbeat timeout.
///
/// Sending (`send`, `send_to_all`, `close`) never blocks either, from any thread: use a
/// [`ServerHandle`] on threads other than the pumping one. A send is written at once
/// when the socket is free and the peer spoke since the last such write, and queued
/// otherwise: for the network thread, or in pump mode for the next pump.
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
/// let mut server = Server::start("127.0.0.1:0", ServerConfig::default())?;
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
    network: Network,
    stopped: Arc<AtomicBool>,
}

/// Where the server's network runs (see [`NetworkMode`]).
#[derive(Debug)]
enum Network {
    /// On a thread of its own, shut down through a request.
    Thread {
        shutdown: Option<oneshot::Sender<ShutdownRequest>>,
        /// Joined on shutdown if the caller did not take it.
        thread: Option<JoinHandle<()>>,
    },
    /// Inside `pump()`: the server itself is here, on a runtime this thread drives.
    Pump {
        net: Option<podnet_transport::Server>,
        pump: InPump,
    },
}

impl Server {
    /// Starts the server on a background thread, listening on `addr` (port 0 picks a free
    /// port), and returns it with the thread's `JoinHandle` (repod's `start_background`).
    /// The thread ends when the server is shut down or dropped.
    ///
    /// # Errors
    ///
    /// [`TransportError::Resolve`](podnet_transport::TransportError::Resolve) or a bind error if the address does not work;
    /// [`SyncError::Thread`] if the thread cannot start; [`SyncError::NoNetworkThread`]
    /// in [`NetworkMode::Pump`], which has no thread ([`start`](Self::start) serves both).
    pub fn start_background(
        addr: impl podnet_transport::Addr,
        config: ServerConfig,
    ) -> Result<(Server, JoinHandle<()>), SyncError> {
        if config.network_mode == NetworkMode::Pump {
            return Err(SyncError::NoNetworkThread);
        }
        let mut server = Self::start(addr, config)?;
        let thread = match &mut server.network {
            Network::Thread { thread, .. } => thread.take(),
            Network::Pump { .. } => None,
        };
        Ok((server, thread.ok_or(SyncError::Stopped)?))
    }

    /// Starts the server: on a thread of its own ([`start_background`](Self::start_background)
    /// without handing out the `JoinHandle`), or, with
    /// [`NetworkMode::Pump`](podnet_transport::NetworkMode::Pump), on this thread, to run
    /// whenever it pumps.
    ///
    /// # Errors
    ///
    /// As [`start_background`](Self::start_background); [`SyncError::PumpThreads`] for
    /// pump mode with more than one network thread.
    pub fn start(
        addr: impl podnet_transport::Addr,
        config: ServerConfig,
    ) -> Result<Server, SyncError> {
        let addrs = podnet_transport::resolve(addr)?;
        if config.network_mode == NetworkMode::Pump {
            return Self::start_in_pump(&addrs, config);
        }
        let (events_tx, events) = crossbeam_channel::unbounded();
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<ShutdownRequest>();
        let stopped = Arc::new(AtomicBool::new(false));
        let stopped_in_thread = stopped.clone();
        let workers = config.network_threads;
        let thread = spawn("podnet-server", workers, move || async move {
            let sink = ChannelSink {
                events: events_tx,
                arrived: None,
            };
            let net = match podnet_transport::Server::bind_with_sink(&addrs[..], config, sink).await
            {
                Ok(net) => net,
                Err(err) => {
                    let _ = ready_tx.send(Err(err));
                    return;
                }
            };
            // The server itself stays on this thread, to be shut down here; the handle
            // goes to the caller.
            let _ = ready_tx.send(Ok(net.handle().clone()));
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
        let handle = ready_rx.recv().map_err(|_| SyncError::Stopped)??;
        Ok(Server {
            handle,
            events,
            network: Network::Thread {
                shutdown: Some(shutdown_tx),
                thread: Some(thread),
            },
            stopped,
        })
    }

    /// Binds on a runtime that this thread drives when it pumps.
    fn start_in_pump(addrs: &[SocketAddr], config: ServerConfig) -> Result<Server, SyncError> {
        if config.network_threads > 1 {
            return Err(SyncError::PumpThreads {
                threads: config.network_threads,
            });
        }
        let pump = InPump::new()?;
        let (events_tx, events) = crossbeam_channel::unbounded();
        let sink = ChannelSink {
            events: events_tx,
            arrived: Some(pump.arrived()),
        };
        let net = pump.block_on(podnet_transport::Server::bind_with_sink(
            addrs, config, sink,
        ))?;
        Ok(Server {
            handle: net.handle().clone(),
            events,
            network: Network::Pump {
                net: Some(net),
                pump,
            },
            stopped: Arc::new(AtomicBool::new(false)),
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
    ///         let _ = server.handle().send(id, &podnet_transport::Frame::from_message(&message).unwrap());
    ///     }
    ///     ServerEvent::Disconnected { .. } => server.stop(),
    ///     _ => {}
    /// })?;
    /// # Ok::<(), podnet_sync::SyncError>(())
    /// ```
    pub fn launch(
        addr: impl podnet_transport::Addr,
        config: ServerConfig,
        mut handler: impl FnMut(&mut Server, ServerEvent),
    ) -> Result<ShutdownReport, SyncError> {
        let mut server = Self::start(addr, config)?;
        while !server.is_stopping() && server.stop_requested().is_none() {
            let Some(delivery) = server.next_delivery(STOP_POLL) else {
                continue;
            };
            delivery.handle(&mut Each(|event| handler(&mut server, event)));
        }
        let reason = server
            .stop_requested()
            .unwrap_or_else(|| "server closed".to_owned());
        server
            .shutdown(&reason, DROP_SHUTDOWN_TIMEOUT)
            .ok_or(SyncError::Stopped)
    }

    /// The next delivery, waiting up to `timeout` for it (in pump mode with the network
    /// running, which also sends what the last handlers sent).
    fn next_delivery(&mut self, timeout: Duration) -> Option<Delivery<ServerEvent>> {
        match &self.network {
            Network::Thread { .. } => self.events.recv_timeout(timeout).ok(),
            Network::Pump { pump, .. } => {
                if self.events.is_empty() {
                    pump.run(&self.events);
                    if self.events.is_empty() && !pump.wait(&self.events, timeout) {
                        return None;
                    }
                }
                self.events.try_recv().ok()
            }
        }
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
    /// blocks. In pump mode it first lets the network run: reads what the sockets hold,
    /// runs the protocol and writes what is queued; and what the handler sends leaves
    /// before it returns. See the type's documentation for the full contract.
    pub fn pump(&mut self, handler: impl FnMut(ServerEvent)) -> usize {
        self.pump_with(&mut Each(handler))
    }

    /// As [`pump`](Self::pump), handing what arrived to an [`EventHandler`]: the messages
    /// of one read at once, which it may take by reference.
    pub fn pump_with(&mut self, handler: &mut impl EventHandler<ServerEvent>) -> usize {
        match &self.network {
            Network::Thread { .. } => drain(&self.events, None, handler),
            Network::Pump { pump, .. } => pump.pump(&self.events, handler),
        }
    }

    /// Waits up to `timeout` for the first event, then handles it and everything else
    /// queued, as [`pump`](Self::pump) (peng3dnet's `process(wait=True, timeout)`). Returns
    /// how many events it handled: 0 if none came in time. The thread sleeps meanwhile: on
    /// the events in thread mode, in the poll of the sockets in pump mode.
    pub fn pump_timeout(&mut self, timeout: Duration, handler: impl FnMut(ServerEvent)) -> usize {
        self.pump_timeout_with(timeout, &mut Each(handler))
    }

    /// As [`pump_timeout`](Self::pump_timeout), handing what arrived to an
    /// [`EventHandler`].
    pub fn pump_timeout_with(
        &mut self,
        timeout: Duration,
        handler: &mut impl EventHandler<ServerEvent>,
    ) -> usize {
        match &self.network {
            Network::Thread { .. } => match wait_first(&self.events, timeout) {
                Some(first) => drain(&self.events, Some(first), handler),
                None => 0,
            },
            Network::Pump { pump, .. } => pump.pump_timeout(&self.events, timeout, handler),
        }
    }

    /// In pump mode, writes what was sent since the last pump and could not be written at
    /// once (a peer that has not spoken since its last reply, a socket that was full),
    /// without handling any event: for a tick loop that sends after its step and pumps
    /// only at the next tick. In thread mode the network thread writes by itself, and this
    /// does nothing.
    pub fn flush(&mut self) {
        if let Network::Pump { pump, .. } = &self.network {
            pump.flush();
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
        match &mut self.network {
            Network::Thread { shutdown, thread } => {
                let (reply_tx, reply_rx) = oneshot::channel();
                let mut report = None;
                if let Some(shutdown) = shutdown.take() {
                    let request = ShutdownRequest {
                        reason: reason.to_owned(),
                        timeout,
                        reply: reply_tx,
                    };
                    if shutdown.send(request).is_ok() {
                        report = reply_rx.blocking_recv().ok();
                    }
                }
                if let Some(thread) = thread.take() {
                    let _ = thread.join();
                }
                report
            }
            Network::Pump { net, pump } => {
                let net = net.take()?;
                Some(pump.block_on(net.shutdown(reason, timeout)))
            }
        }
    }

    /// Whether the server is still to be shut down.
    fn is_running(&self) -> bool {
        match &self.network {
            Network::Thread { shutdown, .. } => shutdown.is_some(),
            Network::Pump { net, .. } => net.is_some(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.is_running() {
            self.shutdown("server closed", DROP_SHUTDOWN_TIMEOUT);
        }
    }
}

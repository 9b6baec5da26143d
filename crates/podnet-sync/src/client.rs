//! The client with its network on a background thread.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Receiver;
use podnet_transport::{
    ClientConfig, ClientEvent, ConnectionInfo, NetworkMode, Outgoing, SendError, ServerInfo,
};

use crate::pumped::InPump;
use crate::thread::{ChannelSink, Delivery, drain, spawn, wait_first};
use crate::{Each, EventHandler, SyncError};

/// A connection to a podnet or repod server whose network runs on a background thread,
/// while its events are handled on the thread that calls [`pump`](Self::pump).
///
/// The `Client` owns the events: it pumps, and it is not `Clone`. To send or close from
/// other threads, take a [`ClientHandle`] ([`handle`](Self::handle)), which is
/// `Clone + Send + Sync` and cannot pump. See [`podnet_sync::Server`](crate::Server) for
/// the `pump()` contract, which is the same here.
///
/// Dropping the `Client` closes the connection gracefully (what was sent is delivered,
/// then `podnet:close`) and waits for the network thread to finish, at most the
/// connection's `close_timeout`; handles left behind then fail with `NotConnected`.
///
/// # Example
///
/// ```no_run
/// use podnet_sync::Client;
/// use podnet_transport::ClientEvent;
///
/// let client = Client::connect("127.0.0.1:5071", Default::default())?;
/// loop {
///     client.pump(|event| match event {
///         ClientEvent::Message(msg) => println!("{}", msg.action()),
///         ClientEvent::Disconnected(reason) => println!("gone: {reason}"),
///         _ => {}
///     });
///     client.send(&podnet_sync::WithAction("input", &std::collections::HashMap::from([("left", true)])))?;
///     std::thread::sleep(std::time::Duration::from_millis(16)); // the rest of the frame
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Client {
    handle: ClientHandle,
    events: Receiver<Delivery<ClientEvent>>,
    network: Network,
}

/// Where the client's network runs (see [`NetworkMode`]).
#[derive(Debug)]
enum Network {
    /// On a thread of its own, joined when the client is dropped.
    Thread(Option<JoinHandle<()>>),
    /// Inside `pump()`, on a runtime this thread drives.
    Pump(InPump),
}

/// Sends to a [`Client`]'s server and closes its connection from any thread:
/// `Clone + Send + Sync`. It cannot pump, and does not keep the connection open: once the
/// `Client` is dropped, sends fail with `NotConnected`.
///
/// ```no_run
/// # let client = podnet_sync::Client::connect("127.0.0.1:5071", Default::default())?;
/// let handle = client.handle().clone();
/// std::thread::spawn(move || {
///     let _ = handle.send(&podnet_sync::WithAction("chat", &std::collections::HashMap::from([("text", "hi")])));
/// });
/// # Ok::<(), podnet_sync::SyncError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ClientHandle {
    net: Arc<podnet_transport::Client>,
}

impl Client {
    /// Connects to `addr` and starts the network on a background thread. Returns once
    /// connected (within [`ClientConfig::connect_timeout`]); the first event is
    /// `SocketConnect`, and a server greets with a `connected` message.
    ///
    /// # Errors
    ///
    /// [`TransportError::Resolve`](podnet_transport::TransportError::Resolve) for an address that does not resolve; the transport's
    /// `Connect` or `ConnectTimeout` if the server cannot be reached;
    /// [`SyncError::Thread`] if the thread cannot start.
    pub fn connect(
        addr: impl podnet_transport::Addr,
        config: ClientConfig,
    ) -> Result<Client, SyncError> {
        let addrs = podnet_transport::resolve(addr)?;
        let (events_tx, events) = crossbeam_channel::unbounded();
        if config.network_mode == NetworkMode::Pump {
            let pump = InPump::new()?;
            let sink = ChannelSink {
                events: events_tx,
                arrived: Some(pump.arrived()),
            };
            let net = pump.block_on(podnet_transport::Client::connect_with_sink(
                &addrs[..],
                config,
                sink,
            ))?;
            return Ok(Client {
                handle: ClientHandle { net: Arc::new(net) },
                events,
                network: Network::Pump(pump),
            });
        }
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let thread = spawn("podnet-client", 1, move || async move {
            let sink = ChannelSink {
                events: events_tx,
                arrived: None,
            };
            match podnet_transport::Client::connect_with_sink(&addrs[..], config, sink).await {
                Ok(net) => {
                    let net = Arc::new(net);
                    let _ = ready_tx.send(Ok(net.clone()));
                    // Serve the connection until it ends, whoever ends it.
                    net.closed().await;
                }
                Err(err) => {
                    let _ = ready_tx.send(Err(err));
                }
            }
        })?;
        let net = ready_rx.recv().map_err(|_| SyncError::Stopped)??;
        Ok(Client {
            handle: ClientHandle { net },
            events,
            network: Network::Thread(Some(thread)),
        })
    }

    /// Handles every event queued now, in order; returns how many. Never blocks. In pump
    /// mode it first lets the network run (see [`Server::pump`](crate::Server::pump)).
    pub fn pump(&self, handler: impl FnMut(ClientEvent)) -> usize {
        self.pump_with(&mut Each(handler))
    }

    /// As [`pump`](Self::pump), handing what arrived to an [`EventHandler`]: the messages
    /// of one read at once, which it may take by reference.
    pub fn pump_with(&self, handler: &mut impl EventHandler<ClientEvent>) -> usize {
        match &self.network {
            Network::Thread(_) => drain(&self.events, None, handler),
            Network::Pump(pump) => pump.pump(&self.events, handler),
        }
    }

    /// Waits up to `timeout` for the first event, then handles it and everything else
    /// queued. Returns how many events it handled: 0 if none came in time. Like
    /// [`Server::pump_timeout`](crate::Server::pump_timeout), it sleeps meanwhile.
    pub fn pump_timeout(&self, timeout: Duration, handler: impl FnMut(ClientEvent)) -> usize {
        self.pump_timeout_with(timeout, &mut Each(handler))
    }

    /// As [`pump_timeout`](Self::pump_timeout), handing what arrived to an
    /// [`EventHandler`].
    pub fn pump_timeout_with(
        &self,
        timeout: Duration,
        handler: &mut impl EventHandler<ClientEvent>,
    ) -> usize {
        match &self.network {
            Network::Thread(_) => match wait_first(&self.events, timeout) {
                Some(first) => drain(&self.events, Some(first), handler),
                None => 0,
            },
            Network::Pump(pump) => pump.pump_timeout(&self.events, timeout, handler),
        }
    }

    /// In pump mode, writes what was sent since the last pump and is still queued,
    /// without handling any event (see [`Server::flush`](crate::Server::flush)). In thread
    /// mode this does nothing.
    pub fn flush(&self) {
        if let Network::Pump(pump) = &self.network {
            pump.flush();
        }
    }

    /// The handle for sending and closing from other threads; clone it to keep one.
    pub fn handle(&self) -> &ClientHandle {
        &self.handle
    }

    /// Sends a message: a typed one, an action named at run time with its fields
    /// ([`WithAction`](podnet_transport::WithAction)), or an encoded
    /// [`Frame`](podnet_transport::Frame) (see [`ClientHandle::send`]). Never blocks.
    ///
    /// # Errors
    ///
    /// As [`ClientHandle::send`].
    pub fn send<M: Outgoing + ?Sized>(&self, msg: &M) -> Result<(), SendError> {
        self.handle.send(msg)
    }

    /// Closes the connection gracefully (see [`ClientHandle::close`]).
    pub fn close(&self, reason: &str) {
        self.handle.close(reason);
    }

    /// Whether the connection is open (not closing or closed).
    pub fn is_connected(&self) -> bool {
        self.handle.is_connected()
    }

    /// The server's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.handle.peer_addr()
    }

    /// This side's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }

    /// Figures for the connection, the round trip among them.
    pub fn info(&self) -> ConnectionInfo {
        self.handle.info()
    }
}

impl ClientHandle {
    /// Sends a message: a typed one, an action named at run time with its fields
    /// ([`WithAction`](podnet_transport::WithAction)), or an encoded
    /// [`Frame`](podnet_transport::Frame). Never blocks; callable from any thread.
    ///
    /// # Errors
    ///
    /// `NotConnected` once the connection is closing or closed; `QueueFull` if the server
    /// does not read fast enough; encoding errors.
    pub fn send<M: Outgoing + ?Sized>(&self, msg: &M) -> Result<(), SendError> {
        self.net.send(msg)
    }

    /// Closes the connection gracefully: what was sent goes out, then `podnet:close` with
    /// `reason`. Does not wait; the `Disconnected` event follows. Safe to call from any
    /// thread, and more than once.
    pub fn close(&self, reason: &str) {
        self.net.close(reason);
    }

    /// Whether the connection is open (not closing or closed).
    pub fn is_connected(&self) -> bool {
        self.net.is_connected()
    }

    /// The server's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.net.peer_addr()
    }

    /// This side's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.net.local_addr()
    }

    /// Figures for the connection, the round trip among them.
    pub fn info(&self) -> ConnectionInfo {
        self.net.info()
    }

    /// The framing limits, for encoding [`Frame`](crate::Frame)s.
    pub fn framing(&self) -> &podnet_transport::podnet_framing::FramingConfig {
        self.net.framing()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.handle.net.close("client closed");
        // The network ends once the close has finished (bounded by close_timeout).
        match &mut self.network {
            Network::Thread(thread) => {
                if let Some(thread) = thread.take() {
                    let _ = thread.join();
                }
            }
            Network::Pump(pump) => pump.block_on(self.handle.net.closed()),
        }
    }
}

/// Asks the server at `addr` for its description (an `info` connection), blocking the
/// calling thread until it answers: its name, protocol version, player count, capacity and
/// the fields the game set. See [`podnet_transport::query_info`], which this runs on a
/// runtime of its own, for what can fail; everything must happen within
/// `config.connect_timeout`.
///
/// # Errors
///
/// As [`podnet_transport::query_info`], and [`SyncError::Thread`] if its runtime cannot
/// start.
///
/// ```no_run
/// let info = podnet_sync::query_info("127.0.0.1:5071", Default::default())?;
/// println!("{}: {} of {} players", info.name, info.players, info.capacity);
/// # Ok::<(), podnet_sync::SyncError>(())
/// ```
pub fn query_info(
    addr: impl podnet_transport::Addr,
    config: ClientConfig,
) -> Result<ServerInfo, SyncError> {
    let addrs = podnet_transport::resolve(addr)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(SyncError::Thread)?;
    Ok(runtime.block_on(podnet_transport::query_info(&addrs[..], config))?)
}

//! The client: one connection to a server.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use podnet_framing::MessageBatch;
use podnet_proto::{ConnectionType, Handshake, ServerInfo};
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::debug;

use crate::config::ClientConfig;
use crate::conn::{ConnectionInfo, Shared};
use crate::driver::{self, Owner, SharedTcpWriter, Welcome};
use crate::event::{EventSink, EventStream, Received};
use crate::lock::Lock;
use crate::outbound::DirectWrite;
use crate::{ClientEvent, DisconnectReason, Incoming, SendError, TransportError, socket};
use podnet_framing::FramingError;
use podnet_framing::Outgoing;

mod link;
mod redial;

use link::{Opened, finish_connect, open_link, resolve_and_connect};
use redial::Redial;

/// A connection to a podnet or repod server, reporting what happens as [`ClientEvent`]s.
///
/// Sending never blocks (see [`ConnectionConfig::max_queued_bytes`]). Dropping the client
/// closes it gracefully in the background; [`close`](Self::close) then
/// [`closed`](Self::closed) does the same and waits.
///
/// [`ConnectionConfig::max_queued_bytes`]: crate::ConnectionConfig::max_queued_bytes
///
/// # Example
///
/// ```no_run
/// use podnet_transport::{Client, ClientConfig, ClientEvent};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (client, mut events) = Client::connect("127.0.0.1:5071", ClientConfig::default()).await?;
/// client.send(&podnet_transport::WithAction("chat", &std::collections::HashMap::from([("text", "hi")])))?;
/// while let Some(event) = events.recv().await {
///     match event {
///         ClientEvent::Message(msg) => println!("got {}", msg.action()),
///         ClientEvent::Disconnected(reason) => println!("disconnected: {reason}"),
///         _ => {}
///     }
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Client {
    conn: Arc<Shared>,
    local_addr: SocketAddr,
    tracker: TaskTracker,
}

impl Client {
    /// Connects to `addr` within [`ClientConfig::connect_timeout`] and returns the client
    /// with the stream of its events, which starts with [`ClientEvent::SocketConnect`].
    ///
    /// Must be called within a tokio runtime; the connection's tasks run on it.
    ///
    /// # Errors
    ///
    /// [`TransportError::Connect`] if no address accepts the connection,
    /// [`TransportError::ConnectTimeout`] if it takes too long (the TLS handshake
    /// included), [`TransportError::TlsHandshake`] if TLS is configured and the handshake
    /// fails.
    pub async fn connect(
        addr: impl ToSocketAddrs + crate::Addr,
        config: ClientConfig,
    ) -> Result<(Client, EventStream<ClientEvent>), TransportError> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let client = Self::connect_with_sink(addr, config, tx).await?;
        Ok((client, EventStream::new(rx)))
    }

    /// As [`connect`](Self::connect), delivering events to `sink`.
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    pub async fn connect_with_sink(
        addr: impl ToSocketAddrs + crate::Addr,
        config: ClientConfig,
        sink: impl EventSink<ClientEvent>,
    ) -> Result<Client, TransportError> {
        let timeout = config.connect_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let timed_out = || TransportError::ConnectTimeout {
            addr: "the server".into(),
            timeout,
        };
        let stream = tokio::time::timeout_at(deadline, resolve_and_connect(addr))
            .await
            .map_err(|_| timed_out())??;
        let peer = stream.peer_addr()?;
        let local_addr = stream.local_addr()?;
        #[allow(clippy::infallible_destructuring_match)] // one variant without `tls`
        let stream = match finish_connect(stream, &config, deadline, timed_out).await? {
            Opened::Tcp(stream) => stream,
            #[cfg(feature = "tls")]
            Opened::Tls(stream) => {
                let (reader, writer) = tokio::io::split(*stream);
                return Ok(Self::start(
                    reader, writer, None, peer, local_addr, config, sink,
                ));
            }
        };
        let (reader, writer) = stream.into_split();
        let writer = Arc::new(writer);
        let direct: Arc<dyn DirectWrite> = writer.clone();
        Ok(Self::start(
            reader,
            SharedTcpWriter(writer),
            Some(direct),
            peer,
            local_addr,
            config,
            sink,
        ))
    }

    /// Starts serving a connected socket (past its TLS handshake, if any).
    fn start<R, W>(
        reader: R,
        writer: W,
        direct: Option<Arc<dyn DirectWrite>>,
        peer: SocketAddr,
        local_addr: SocketAddr,
        config: ClientConfig,
        sink: impl EventSink<ClientEvent>,
    ) -> Client
    where
        R: tokio::io::AsyncRead + Unpin + Send + 'static,
        W: tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let sink: Arc<dyn EventSink<ClientEvent>> = Arc::new(sink);
        sink.deliver(ClientEvent::SocketConnect {
            local: local_addr,
            peer,
        });
        let tracker = TaskTracker::new();
        let redial = config
            .resume
            .clone()
            .filter(|_| config.hello)
            .map(|resume| {
                Arc::new(Redial {
                    peer,
                    config: config.clone(),
                    resume,
                    tracker: tracker.clone(),
                    attempts: AtomicU32::new(0),
                    first_drop: Mutex::new(None),
                })
            });

        let core = podnet_proto::Connection::client(
            Arc::new(config.client_settings()),
            tokio::time::Instant::now().into_std(),
        );
        let batch_bytes = driver::batch_bytes(config.network_mode);
        let conn = Arc::new(Shared::new(
            None,
            peer,
            Arc::new(config.connection),
            CancellationToken::new(),
            direct,
            false,
        ));
        if redial.is_some() {
            // Counted from the first message: the server counts every one after the
            // hello, and the application may send before the server's answer arrives.
            conn.queue.keep_for_resume();
        }
        driver::spawn(
            conn.clone(),
            core,
            driver::Reading::repod(reader),
            writer,
            ConnOwner {
                sink,
                conn: conn.clone(),
                redial,
                batch_bytes,
            },
            &tracker,
        );
        tracker.close();
        Client {
            conn,
            local_addr,
            tracker,
        }
    }

    /// This side's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The server's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.conn.peer
    }

    /// The framing limits of this connection, for encoding [`Frame`](crate::Frame)s.
    pub fn framing(&self) -> &podnet_framing::FramingConfig {
        &self.conn.config.framing
    }

    /// Whether the connection is open (not closing or closed).
    pub fn is_connected(&self) -> bool {
        self.conn.is_open()
    }

    /// Sends a message to the server: a typed message, an action named at run time with
    /// its fields ([`WithAction`](podnet_framing::WithAction)), or a [`Frame`](crate::Frame) encoded
    /// already. Never blocks.
    ///
    /// # Errors
    ///
    /// [`SendError::NotConnected`] once the connection is closing or closed;
    /// [`SendError::QueueFull`] if the server is not reading fast enough; encoding
    /// errors as [`Frame::encode`](crate::Frame::encode).
    pub fn send<M: Outgoing + ?Sized>(&self, msg: &M) -> Result<(), SendError> {
        self.conn
            .send(msg.frame(self.framing())?.as_bytes().clone())
    }

    /// Sends a message, waiting for room in the queue if it is full.
    ///
    /// # Errors
    ///
    /// [`SendError::NotConnected`] if the connection is closing or closes meanwhile;
    /// encoding errors as [`Frame::encode`](crate::Frame::encode).
    pub async fn send_wait<M: Outgoing + ?Sized>(&self, msg: &M) -> Result<(), SendError> {
        let bytes = msg.frame(self.framing())?.as_bytes().clone();
        self.conn.send_wait(bytes).await
    }

    /// Closes the connection gracefully: what was sent before goes out, then
    /// `{"action": "podnet:close", "reason": reason}`, then the socket closes. Does nothing
    /// if it is already closing.
    pub fn close(&self, reason: &str) {
        self.conn.close(
            DisconnectReason::Closed {
                reason: reason.to_owned(),
            },
            reason,
        );
    }

    /// Waits until the connection has ended and its `Disconnected` event was delivered.
    pub async fn closed(&self) {
        self.tracker.wait().await;
    }

    /// Figures for the connection.
    pub fn info(&self) -> ConnectionInfo {
        self.conn.info()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.conn.close(
            DisconnectReason::Closed {
                reason: "client dropped".into(),
            },
            "client closed",
        );
    }
}

/// Makes a client's events and hands them to its sink.
#[derive(Clone)]
struct ConnOwner {
    sink: Arc<dyn EventSink<ClientEvent>>,
    conn: Arc<Shared>,
    /// How to reconnect, for a client that resumes its session.
    redial: Option<Arc<Redial>>,
    /// See [`driver::batch_bytes`].
    batch_bytes: usize,
}

impl Owner for ConnOwner {
    type Side = podnet_proto::ClientSide;

    fn established(&self, handshake: Handshake) -> Welcome {
        self.conn.set_handshake(handshake.clone());
        self.sink.deliver(ClientEvent::Handshake(handshake));
        Welcome::Nothing
    }

    fn info(&self, info: ServerInfo) {
        self.sink.deliver(ClientEvent::Info(info));
    }

    fn messages(&self, messages: MessageBatch) {
        self.sink.deliver_received(Received::new((), messages));
    }

    fn batch_bytes(&self) -> usize {
        self.batch_bytes
    }

    fn error(&self, error: Incoming<FramingError>) {
        self.sink.deliver(ClientEvent::Error(error));
    }

    fn closed(&self, reason: DisconnectReason) {
        self.sink.deliver(ClientEvent::Disconnected(reason));
    }

    fn dropped(&self, core: podnet_proto::ClientConnection, reason: DisconnectReason) {
        let Some(redial) = self.redial.clone() else {
            drop(core);
            return self.closed(reason);
        };
        redial
            .first_drop
            .locked()
            .get_or_insert_with(|| reason.to_string());
        let tracker = redial.tracker.clone();
        tracker.spawn(self.clone().reconnect(redial, core, reason));
    }

    fn resumed(&self) {
        if let Some(redial) = &self.redial {
            redial.attempts.store(0, Ordering::Relaxed);
            *redial.first_drop.locked() = None;
        }
        self.sink.deliver(ClientEvent::Resumed);
    }
}

/// Asks the server at `addr` for its description (an `info` connection): its name,
/// protocol version, player count, capacity and the fields the game set, as a server
/// browser or a LAN list shows them. The server answers and closes; the query never
/// reaches the game.
///
/// Everything, connecting included, must happen within `config.connect_timeout`;
/// `config.connection_type` is set to `info`.
///
/// # Errors
///
/// [`TransportError::NotPodnet`] for a server that does not speak podnet's handshake (a
/// repod server answers with its `connected` greeting instead);
/// [`TransportError::NoInfo`] if the server closed without answering (a version
/// mismatch, or too many info requests: the reason says);
/// [`TransportError::InfoTimeout`] if nothing came in time; connection errors as
/// [`Client::connect`].
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), podnet_transport::TransportError> {
/// let info = podnet_transport::query_info("127.0.0.1:5071", Default::default()).await?;
/// println!("{}: {} of {} players", info.name, info.players, info.capacity);
/// # Ok(())
/// # }
/// ```
pub async fn query_info(
    addr: impl ToSocketAddrs + crate::Addr,
    mut config: ClientConfig,
) -> Result<ServerInfo, TransportError> {
    config.connection_type = ConnectionType::INFO.to_owned();
    config.hello = true;
    let timeout = config.connect_timeout;
    let deadline = tokio::time::Instant::now() + timeout;
    let (client, mut events) = Client::connect(addr, config).await?;
    let server = client.peer_addr().to_string();
    let answer = tokio::time::timeout_at(deadline, async {
        while let Some(event) = events.recv().await {
            match event {
                ClientEvent::Info(info) => return Ok(info),
                ClientEvent::Handshake(handshake) if !handshake.is_podnet() => {
                    return Err(TransportError::NotPodnet {
                        addr: server.clone(),
                    });
                }
                ClientEvent::Disconnected(reason) => {
                    return Err(TransportError::NoInfo {
                        addr: server.clone(),
                        reason,
                    });
                }
                _ => {}
            }
        }
        Err(TransportError::Io(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the connection ended without the server's info",
        )))
    })
    .await
    .unwrap_or_else(|_| {
        Err(TransportError::InfoTimeout {
            addr: server.clone(),
            timeout,
        })
    });
    client.close("done");
    answer
}

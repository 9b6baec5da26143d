//! What connections report to the application.

use std::fmt;
use std::net::SocketAddr;
use std::ops::Deref;

use podnet_framing::{IntoMessages, MessageBatch, RawMessage};
use podnet_proto::{DisconnectReason, Handshake, ServerInfo};

use crate::ConnectionId;
use crate::budget::Share;
use podnet_framing::FramingError;

/// Something received from a peer: a message ([`Incoming`], the default), or an error
/// about a frame that was not one (`Incoming<FramingError>`).
///
/// It dereferences to what it holds; for a message that is the [`RawMessage`], with
/// [`action`](RawMessage::action), [`decode`](RawMessage::decode) and
/// [`to_value`](RawMessage::to_value).
///
/// What a peer sent counts against its connection's [`max_inbound_bytes`] until the
/// application is done with it; past that, the connection's reader pauses (the peer's
/// sends back up into its own socket) until the application catches up. The bytes are
/// counted a read at a time: the messages one read brought share one buffer, and its
/// bytes go back to the budget once every one of those messages (and every clone of their
/// payloads) is dropped. **To keep a message's content past its handler, decode it, or
/// copy the payload** (`Bytes::copy_from_slice(msg.payload())`): holding the message
/// itself holds its whole read against the budget, as it holds that read's memory. An
/// error event holds its own small share, returned when it is dropped or emptied with
/// [`into_inner`](Self::into_inner).
///
/// [`max_inbound_bytes`]: crate::ConnectionConfig::max_inbound_bytes
#[derive(Debug)]
pub struct Incoming<T = RawMessage> {
    inner: T,
    /// An error event's share of the inbound budget; a message's share rides in its
    /// payload's buffer.
    _budget: Option<Share>,
}

impl<T> Incoming<T> {
    pub(crate) fn new(inner: T, budget: Option<Share>) -> Self {
        Self {
            inner,
            _budget: budget,
        }
    }

    /// Takes out what was received. For an error event this returns its share of the
    /// inbound budget; a message's share goes back when its payload is dropped.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

/// Wraps something received outside a server (it counts against no inbound budget): to
/// drive a sans-IO consumer of [`ServerEvent`]s by hand, a lobby in a test harness for
/// one.
///
/// ```
/// use podnet_transport::{ConnectionId, Incoming, ServerEvent};
/// use podnet_framing::{FramingConfig, RawMessage};
///
/// let msg = RawMessage::parse(b"\x81\xa6action\xa4ping".to_vec().into(), &FramingConfig::default())?;
/// let event = ServerEvent::Message { id: ConnectionId::from_raw(1), message: Incoming::from(msg) };
/// # Ok::<(), podnet_framing::FramingError>(())
/// ```
impl<T> From<T> for Incoming<T> {
    fn from(inner: T) -> Self {
        Self::new(inner, None)
    }
}

impl<T> Deref for Incoming<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: fmt::Display> fmt::Display for Incoming<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

/// What a [`Server`](crate::Server) reports, in the order it happened on each connection:
/// `Connected`, then messages and errors, then `Disconnected`, exactly once each. A
/// connection whose handshake never completed (it left at once, or failed the handshake),
/// and an `info` query, produce no event at all.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A client connected and its handshake completed (peng3dnet's
    /// `on_handshake_complete`): at once for a podnet client or a repod client that speaks
    /// first, after [`ServerConfig::hello_wait`](crate::ServerConfig::hello_wait) for a
    /// silent one. Under repod's name: `connected`.
    Connected {
        /// The new connection.
        id: ConnectionId,
        /// The client's address.
        peer: SocketAddr,
        /// Who the client is (podnet or repod) and the connection type it asked for.
        handshake: Handshake,
    },
    /// A client sent a message.
    Message {
        /// Who sent it.
        id: ConnectionId,
        /// The message.
        message: Incoming,
    },
    /// A client sent a frame that is not a message (see `docs/protocol.md`). The connection
    /// stays open. Under repod's name: `error`.
    Error {
        /// Who sent it.
        id: ConnectionId,
        /// What was wrong.
        error: Incoming<FramingError>,
    },
    /// A resumable session's connection dropped (see
    /// [`ResumeConfig`](crate::ResumeConfig)): the player is away, and may come back
    /// within the grace period with the same id. Messages sent to it meanwhile are kept
    /// and delivered on its return. A game may pause, or show the player as
    /// reconnecting. Either [`Resumed`](Self::Resumed) or
    /// [`Disconnected`](Self::Disconnected) follows.
    Dropped {
        /// The session.
        id: ConnectionId,
        /// Why its connection dropped.
        reason: DisconnectReason,
    },
    /// A dropped session is back, on a new connection: nothing sent either way was lost.
    Resumed {
        /// The session.
        id: ConnectionId,
    },
    /// A connection ended; its id is no longer valid. Under repod's name: `disconnected`.
    /// For a dropped session that did not come back within the grace period, the reason
    /// is [`DisconnectReason::NotResumed`].
    Disconnected {
        /// The connection that ended.
        id: ConnectionId,
        /// Why.
        reason: DisconnectReason,
    },
}

/// What a [`Client`](crate::Client) reports: `SocketConnect` first, `Handshake` before the
/// first message, then messages and errors, then `Disconnected` once.
///
/// The server's `{"action": "connected"}` greeting arrives as an ordinary message with
/// action `connected`.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The TCP connection opened. Under repod's name: `socketConnect`.
    SocketConnect {
        /// This side's address.
        local: SocketAddr,
        /// The server's address.
        peer: SocketAddr,
    },
    /// The handshake completed (peng3dnet's `on_handshake_complete`): with a podnet
    /// server's `podnet:hello`, or at once with the first message of a repod server, which
    /// never says hello. Comes before any message.
    Handshake(Handshake),
    /// The server's description, on an `info` connection (see
    /// [`query_info`](crate::query_info)).
    Info(ServerInfo),
    /// The server sent a message.
    Message(Incoming),
    /// The server sent a frame that is not a message. Under repod's name: `error`.
    Error(Incoming<FramingError>),
    /// The connection dropped and the client is reconnecting to resume its session (see
    /// [`ResumeConfig`](crate::ResumeConfig)): attempt `attempt` (from 1) is next.
    /// Messages sent meanwhile are kept and delivered once it resumes.
    Reconnecting {
        /// Which attempt comes next, from 1.
        attempt: u32,
        /// Why the connection dropped (the first time), or why the last attempt failed.
        reason: DisconnectReason,
    },
    /// The session resumed on a new connection: nothing sent either way was lost.
    Resumed,
    /// The connection ended. Under repod's name: `disconnected`. A client that gave up
    /// reconnecting ends with [`DisconnectReason::NotResumed`], one the server refused
    /// with [`DisconnectReason::ResumeRefused`].
    Disconnected(DisconnectReason),
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::ServerEvent {}
    impl Sealed for super::ClientEvent {}
}

/// The event types received messages become: [`ServerEvent`], whose messages carry their
/// connection's id, and [`ClientEvent`].
pub trait ReceivedEvent: sealed::Sealed + Send + 'static {
    /// What each message is tagged with: a [`ConnectionId`] for a server, nothing for a
    /// client.
    type Source: Copy + fmt::Debug + Send + Sync + 'static;

    /// A received message as this event.
    fn message(source: Self::Source, message: Incoming) -> Self;
}

impl ReceivedEvent for ServerEvent {
    type Source = ConnectionId;

    fn message(id: ConnectionId, message: Incoming) -> Self {
        ServerEvent::Message { id, message }
    }
}

impl ReceivedEvent for ClientEvent {
    type Source = ();

    fn message((): (), message: Incoming) -> Self {
        ClientEvent::Message(message)
    }
}

/// The messages one read of one connection brought, handed over at once. Iterate it for
/// its events, in order: each a [`ServerEvent::Message`] or [`ClientEvent::Message`].
///
/// The messages were split and checked on the network thread, but they stay in the buffer
/// they were read into until the events are made, on the thread that iterates: handing a
/// read over costs one reference count, not one per message, and the network thread never
/// contends with the application's thread for a message's reference count.
///
/// ```
/// use podnet_transport::{EventSink, Received, ServerEvent};
///
/// /// A sink that counts messages and hands every event to a channel.
/// struct Counting(std::sync::mpsc::Sender<ServerEvent>);
///
/// impl EventSink<ServerEvent> for Counting {
///     fn deliver(&self, event: ServerEvent) {
///         let _ = self.0.send(event);
///     }
///
///     fn deliver_received(&self, received: Received<ServerEvent>) {
///         println!("{} messages from {}", received.len(), received.source());
///         for event in received {
///             self.deliver(event);
///         }
///     }
/// }
/// ```
pub struct Received<E: ReceivedEvent> {
    source: E::Source,
    messages: MessageBatch,
}

impl<E: ReceivedEvent> Received<E> {
    pub(crate) fn new(source: E::Source, messages: MessageBatch) -> Self {
        Self { source, messages }
    }

    /// Who sent the messages: the connection's id on a server.
    pub fn source(&self) -> E::Source {
        self.source
    }

    /// How many messages there are.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// The bytes they took on the wire, frame headers included.
    pub fn bytes(&self) -> usize {
        self.messages.byte_len()
    }

    /// Hands each message to `f` by reference, in order, instead of making an event of
    /// each: see [`MessageBatch::for_each`]. A message `f` keeps must be cloned (which
    /// holds the whole read against the inbound budget, as an [`Incoming`] does) or
    /// decoded.
    #[inline]
    pub fn for_each_message(&self, f: impl FnMut(&RawMessage)) {
        self.messages.for_each(f);
    }
}

impl<E: ReceivedEvent> fmt::Debug for Received<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Received")
            .field("source", &self.source)
            .field("messages", &self.messages)
            .finish()
    }
}

impl<E: ReceivedEvent> IntoIterator for Received<E> {
    type Item = E;
    type IntoIter = ReceivedEvents<E>;

    fn into_iter(self) -> ReceivedEvents<E> {
        ReceivedEvents {
            source: self.source,
            messages: self.messages.into_iter(),
        }
    }
}

/// The events of a [`Received`], in the order the messages arrived.
#[derive(Debug)]
pub struct ReceivedEvents<E: ReceivedEvent> {
    source: E::Source,
    messages: IntoMessages,
}

impl<E: ReceivedEvent> Iterator for ReceivedEvents<E> {
    type Item = E;

    #[inline]
    fn next(&mut self) -> Option<E> {
        let message = self.messages.next()?;
        Some(E::message(self.source, Incoming::new(message, None)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.messages.size_hint()
    }
}

impl<E: ReceivedEvent> ExactSizeIterator for ReceivedEvents<E> {}

/// Where a server or client delivers its events.
///
/// [`Server::bind`](crate::Server::bind) and [`Client::connect`](crate::Client::connect)
/// use a tokio channel ([`EventStream`]); implement this to deliver straight into your own
/// queue instead (podnet-sync delivers into the channel its `pump()` drains).
///
/// Both methods are called from the network tasks and must not block: the transport bounds
/// what it hands over through the inbound budget (see [`Incoming`]), not through the sink.
pub trait EventSink<E: ReceivedEvent>: Send + Sync + 'static {
    /// Hands over one event: a connect, a disconnect, or an error. Called in order per
    /// connection.
    fn deliver(&self, event: E);

    /// Hands over the messages one read of one connection brought, in order with
    /// [`deliver`](Self::deliver)'s events. The default makes the events at once and
    /// delivers them one by one; a sink that crosses threads should pass the
    /// [`Received`] itself, so that the events are made on the receiving thread.
    fn deliver_received(&self, received: Received<E>) {
        for event in received {
            self.deliver(event);
        }
    }

    /// A stop was requested ([`ServerHandle::request_stop`](crate::ServerHandle::request_stop)):
    /// a sink whose consumer may be asleep waiting for events wakes it, so that it sees
    /// the request at once. The default does nothing.
    fn wake(&self) {}
}

impl<E: ReceivedEvent> EventSink<E> for tokio::sync::mpsc::UnboundedSender<E> {
    fn deliver(&self, event: E) {
        // The receiver may be gone (the application stopped listening); that is its choice.
        let _ = self.send(event);
    }
}

/// The events of a server or client, for async code.
///
/// The queue itself is unbounded, but what it can hold is not: each connection has at most
/// [`max_inbound_bytes`](crate::ConnectionConfig::max_inbound_bytes) of messages and errors
/// in it, plus its `Connected` and `Disconnected`.
#[derive(Debug)]
pub struct EventStream<E> {
    rx: tokio::sync::mpsc::UnboundedReceiver<E>,
}

impl<E> EventStream<E> {
    pub(crate) fn new(rx: tokio::sync::mpsc::UnboundedReceiver<E>) -> Self {
        Self { rx }
    }

    /// Waits for the next event; `None` once the server or client is gone and every event
    /// was taken.
    pub async fn recv(&mut self) -> Option<E> {
        self.rx.recv().await
    }

    /// The next event if one is waiting; never blocks, callable from any thread.
    pub fn try_recv(&mut self) -> Option<E> {
        self.rx.try_recv().ok()
    }
}

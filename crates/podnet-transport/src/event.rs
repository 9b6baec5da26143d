//! What connections report to the application.

use std::fmt;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use podnet_framing::RawMessage;

use crate::budget::Share;
use crate::{ConnectionId, TransportError};

/// Something received from a peer: a message ([`Incoming`], the default), or an error
/// about a frame that was not one (`Incoming<TransportError>`).
///
/// It dereferences to what it holds; for a message that is the [`RawMessage`], with
/// [`action`](RawMessage::action), [`decode`](RawMessage::decode) and
/// [`to_value`](RawMessage::to_value). While it exists it counts against its connection's
/// [`max_inbound_bytes`], together with what arrived in the same read (one hand-off to the
/// application per read, not per message): once every event of that batch is dropped (or
/// emptied with [`into_inner`](Self::into_inner)), the budget goes back, and a reader paused
/// for a slow application resumes.
///
/// [`max_inbound_bytes`]: crate::ConnectionConfig::max_inbound_bytes
#[derive(Debug)]
pub struct Incoming<T = RawMessage> {
    inner: T,
    /// The budget share of the batch this arrived in; returned when the batch's last item
    /// is dropped.
    _budget: Option<Arc<Share>>,
}

impl<T> Incoming<T> {
    pub(crate) fn new(inner: T, budget: Option<Arc<Share>>) -> Self {
        Self {
            inner,
            _budget: budget,
        }
    }

    /// Takes out what was received, releasing its share of the inbound budget.
    pub fn into_inner(self) -> T {
        self.inner
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

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// This side closed it, with this reason (sent to the peer as `podnet:close`).
    Closed {
        /// The reason given to `close`.
        reason: String,
    },
    /// The peer closed it. A podnet peer says why with `podnet:close`; a repod peer just
    /// closes.
    PeerClosed {
        /// The reason the peer gave, if any.
        reason: Option<String>,
    },
    /// The server shut down, with this reason (sent to the peer as `podnet:close`).
    Shutdown {
        /// The reason given to `shutdown`.
        reason: String,
    },
    /// The peer did not read fast enough: its outbound queue went over
    /// [`max_queued_bytes`](crate::ConnectionConfig::max_queued_bytes).
    SlowConsumer {
        /// Bytes that would have been queued.
        queued: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The peer broke the framing (for example a frame over the maximum length), so the
    /// stream could not go on.
    Protocol {
        /// What was wrong.
        error: String,
    },
    /// The socket failed (reset by the peer, a broken pipe, ...).
    Io {
        /// What the OS reported.
        error: String,
    },
    /// A podnet peer was silent for
    /// [`heartbeat_timeout`](crate::Liveness::heartbeat_timeout).
    TimedOut {
        /// How long it was silent.
        after: Duration,
    },
    /// A graceful close or a shutdown ran out of time and the connection was cut.
    Aborted,
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed { reason } => write!(f, "closed: {reason}"),
            Self::PeerClosed {
                reason: Some(reason),
            } => write!(f, "closed by the peer: {reason}"),
            Self::PeerClosed { reason: None } => f.write_str("closed by the peer"),
            Self::Shutdown { reason } => write!(f, "server shut down: {reason}"),
            Self::SlowConsumer { queued, limit } => write!(
                f,
                "slow consumer: {queued} bytes queued, over the limit of {limit}"
            ),
            Self::Protocol { error } => write!(f, "protocol error: {error}"),
            Self::Io { error } => write!(f, "connection error: {error}"),
            Self::TimedOut { after } => write!(f, "timed out: nothing heard for {after:?}"),
            Self::Aborted => f.write_str("aborted: the close did not finish in time"),
        }
    }
}

/// What a [`Server`](crate::Server) reports, in the order it happened on each connection:
/// `Connected`, then messages and errors, then `Disconnected`, exactly once each.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A client connected. Under repod's name: `connected`.
    Connected {
        /// The new connection.
        id: ConnectionId,
        /// The client's address.
        peer: SocketAddr,
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
        error: Incoming<TransportError>,
    },
    /// A connection ended; its id is no longer valid. Under repod's name: `disconnected`.
    Disconnected {
        /// The connection that ended.
        id: ConnectionId,
        /// Why.
        reason: DisconnectReason,
    },
}

/// What a [`Client`](crate::Client) reports: `SocketConnect` first, then messages and
/// errors, then `Disconnected` once.
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
    /// The server sent a message.
    Message(Incoming),
    /// The server sent a frame that is not a message. Under repod's name: `error`.
    Error(Incoming<TransportError>),
    /// The connection ended. Under repod's name: `disconnected`.
    Disconnected(DisconnectReason),
}

/// Where a server or client delivers its events.
///
/// [`Server::bind`](crate::Server::bind) and [`Client::connect`](crate::Client::connect)
/// use a tokio channel ([`EventStream`]); implement this to deliver straight into your own
/// queue instead (podnet-sync delivers into the channel its `pump()` drains).
///
/// `deliver` is called from the network tasks and must not block: the transport bounds
/// what it hands over through [`Incoming`]'s inbound budget, not through the sink.
pub trait EventSink<E>: Send + Sync + 'static {
    /// Hands over one event. Called in order per connection.
    fn deliver(&self, event: E);

    /// Hands over the events one read of one connection produced, in order. The default
    /// delivers them one by one; a sink that crosses threads can hand the whole batch over
    /// at once, which is much cheaper per event.
    fn deliver_batch(&self, events: Vec<E>) {
        for event in events {
            self.deliver(event);
        }
    }
}

impl<E: Send + 'static> EventSink<E> for tokio::sync::mpsc::UnboundedSender<E> {
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

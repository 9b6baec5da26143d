//! The one error type of this crate.

use std::io;

use std::time::Duration;

use podnet_framing::FramingError;

use crate::ConnectionId;

/// What can go wrong starting a server or a client, or querying a server, in the transport.
/// Sending has its own error, [`SendError`].
///
/// ```
/// use podnet_transport::TransportError;
///
/// let err = TransportError::InfoTimeout { addr: "127.0.0.1:5071".into(), timeout: std::time::Duration::from_secs(1) };
/// assert!(err.to_string().starts_with("127.0.0.1:5071 sent no info within 1s"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The server could not listen on the address.
    #[error("could not listen on {addr}: {source}; is another program using that port?")]
    Bind {
        /// The address asked for.
        addr: String,
        /// Why binding failed.
        #[source]
        source: io::Error,
    },

    /// The client could not connect.
    #[error("could not connect to {addr}: {source}; is the server running and reachable?")]
    Connect {
        /// The address asked for.
        addr: String,
        /// Why connecting failed.
        #[source]
        source: io::Error,
    },

    /// The client did not connect within `ClientConfig::connect_timeout`.
    #[error(
        "connecting to {addr} timed out after {timeout:?}; check the address, or raise \
         `ClientConfig::connect_timeout`"
    )]
    ConnectTimeout {
        /// The address asked for.
        addr: String,
        /// The timeout that elapsed.
        timeout: Duration,
    },

    /// A frame or message could not be encoded or decoded.
    #[error(transparent)]
    Framing(#[from] FramingError),

    /// A socket operation failed.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),

    /// TLS settings could not be built (feature `tls`): unreadable PEM, a key that does not
    /// match its certificate, a server name that is not a name.
    #[error("TLS configuration: {problem}")]
    TlsConfig {
        /// What was wrong.
        problem: String,
    },

    /// The client's TLS handshake with the server failed (feature `tls`).
    #[error(
        "the TLS handshake with {server_name} failed: {source}; check that the server speaks \
         TLS, that its certificate is signed by a root the client trusts, and that it is \
         valid for {server_name}"
    )]
    TlsHandshake {
        /// The name the server's certificate was checked against.
        server_name: String,
        /// What rustls reported.
        #[source]
        source: io::Error,
    },

    /// An `info` query reached a server that does not speak podnet's handshake.
    #[error(
        "{addr} is not a podnet server: it answered without podnet's handshake, as a repod \
         server does, so it has no info to give"
    )]
    NotPodnet {
        /// The server's address.
        addr: String,
    },

    /// An `info` query's server closed the connection without answering.
    #[error("{addr} closed the connection without its info: {reason}")]
    NoInfo {
        /// The server's address.
        addr: String,
        /// Why it closed.
        reason: podnet_proto::DisconnectReason,
    },

    /// An `info` query got no answer in time.
    #[error(
        "{addr} sent no info within {timeout:?}; is it a podnet server? (a podnet server \
         answers at once)"
    )]
    InfoTimeout {
        /// The server's address.
        addr: String,
        /// The time allowed (`ClientConfig::connect_timeout`).
        timeout: Duration,
    },

    /// The address could not be resolved (no such host, or no port given).
    #[error(
        "could not resolve {addr}: {source}; write it as HOST:PORT, for example 127.0.0.1:5071"
    )]
    Resolve {
        /// The address asked for.
        addr: String,
        /// Why it failed.
        #[source]
        source: io::Error,
    },

    /// The server's configuration cannot work: the message says which field to change.
    #[error("server configuration: {problem}")]
    Config {
        /// What is wrong, and what to change.
        problem: String,
    },
}

impl TransportError {
    pub(crate) fn bind(addr: impl Into<String>, source: io::Error) -> Self {
        Self::Bind {
            addr: addr.into(),
            source,
        }
    }
}

/// Why a message could not be sent (or a connection closed): the connection is gone, its
/// peer does not read, or the message cannot be encoded.
///
/// ```
/// use podnet_transport::{ConnectionId, SendError};
///
/// let err = SendError::NotConnected { id: Some(ConnectionId::from_raw(3)) };
/// assert_eq!(err.to_string(), "connection #3 is closed (or was never open)");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The connection is closed, closing, or was never open: nothing more can be sent on it.
    #[error("{}", match id {
        Some(id) => format!("connection {id} is closed (or was never open)"),
        None => "the connection is closed".to_string(),
    })]
    NotConnected {
        /// The connection, on a server.
        id: Option<ConnectionId>,
    },

    /// The connection's outbound queue is over `ConnectionConfig::max_queued_bytes`: the peer
    /// reads slower than it is sent to.
    #[error(
        "the outbound queue{} holds {queued} bytes, over the limit of {limit}: the peer is not \
         reading fast enough",
        match id { Some(id) => format!(" of connection {id}"), None => String::new() }
    )]
    QueueFull {
        /// The connection, on a server.
        id: Option<ConnectionId>,
        /// Bytes queued.
        queued: usize,
        /// The configured limit.
        limit: usize,
    },

    /// A message used an action in podnet's reserved `podnet:` namespace.
    #[error(
        "the action {action:?} is in the `podnet:` namespace, which podnet reserves for its own \
         control messages; rename the action"
    )]
    ReservedAction {
        /// The action name.
        action: String,
    },

    /// The message could not be encoded (see `FramingError`), or is over the maximum
    /// frame length.
    #[error(transparent)]
    Encode(FramingError),
}

impl From<FramingError> for SendError {
    fn from(err: FramingError) -> Self {
        match err {
            FramingError::ReservedAction { action } => SendError::ReservedAction { action },
            other => SendError::Encode(other),
        }
    }
}

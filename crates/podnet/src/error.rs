//! The facade's error type: what can go wrong starting a server or a client.

use std::fmt;
use std::io;
use std::time::Duration;

use podnet_sync::SyncError;
use podnet_transport::{SendError, TransportError};

/// What can go wrong starting a server, connecting a client, or asking a server for its
/// info: one variant per failure a game can act on. Sending has its own error,
/// [`SendError`] (which converts into this one, so `?` works in `main`), and what a peer
/// sends wrong goes to `on_error` as a [`MessageError`](crate::MessageError).
///
/// Its `Debug` output is its message, so a `main` that returns `Result<(), podnet::Error>`
/// ends with a sentence rather than a nested dump:
///
/// ```
/// let err = podnet::Error::Resolve { addr: "localhost".into(), problem: "no port".into() };
/// assert_eq!(
///     format!("{err:?}"),
///     "could not resolve localhost: no port; write the address as HOST:PORT, for example 127.0.0.1:5071"
/// );
/// ```
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The address does not resolve: no such host, or no port.
    #[error(
        "could not resolve {addr}: {problem}; write the address as HOST:PORT, for example \
         127.0.0.1:5071"
    )]
    Resolve {
        /// The address as given.
        addr: String,
        /// What the resolver said.
        problem: String,
    },

    /// The server could not listen on the address.
    #[error("could not listen on {addr}: {source}; is another program using that port?")]
    Bind {
        /// The address, resolved.
        addr: String,
        /// Why binding failed.
        #[source]
        source: io::Error,
    },

    /// The client could not connect: refused, unreachable, ...
    #[error("could not connect to {addr}: {source}; is the server running and reachable?")]
    Connect {
        /// The address, resolved.
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
        /// The address, resolved.
        addr: String,
        /// The timeout that elapsed.
        timeout: Duration,
    },

    /// The TLS settings could not be built (feature `tls`).
    #[error("TLS configuration: {problem}")]
    Tls {
        /// What was wrong.
        problem: String,
    },

    /// The process's Ctrl-C / SIGTERM handler could not be installed (see
    /// [`Server::stop_on_signals`](crate::Server::stop_on_signals)).
    #[error("could not handle Ctrl-C and SIGTERM: {problem}")]
    Signals {
        /// What failed, e.g. another handler is already installed.
        problem: String,
    },

    /// The network thread could not be started.
    #[error("could not start the network thread: {0}")]
    Thread(#[source] io::Error),

    /// The network thread has stopped (the server was shut down, or it died).
    #[error("the network thread has stopped; the server or client is no longer running")]
    Stopped,

    /// A message could not be sent (carried by `?` from [`SendError`]).
    #[error(transparent)]
    Send(#[from] SendError),

    /// Anything else the network layer reported: a TLS handshake that failed, an `info`
    /// query that got no answer, an i/o error. Its message says what to do.
    #[error(transparent)]
    Network(TransportError),
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl From<TransportError> for Error {
    fn from(err: TransportError) -> Self {
        match err {
            TransportError::Resolve { addr, source } => Error::Resolve {
                addr,
                problem: source.to_string(),
            },
            TransportError::Bind { addr, source } => Error::Bind { addr, source },
            TransportError::Connect { addr, source } => Error::Connect { addr, source },
            TransportError::ConnectTimeout { addr, timeout } => {
                Error::ConnectTimeout { addr, timeout }
            }
            TransportError::TlsConfig { problem } => Error::Tls { problem },
            other => Error::Network(other),
        }
    }
}

impl From<SyncError> for Error {
    fn from(err: SyncError) -> Self {
        match err {
            SyncError::Transport(err) => err.into(),
            SyncError::Send(err) => Error::Send(err),
            SyncError::Thread(err) => Error::Thread(err),
            SyncError::Stopped => Error::Stopped,
            problem @ (SyncError::PumpThreads { .. } | SyncError::NoNetworkThread) => {
                Error::Network(TransportError::Config {
                    problem: problem.to_string(),
                })
            }
            other => Error::Thread(io::Error::other(other.to_string())),
        }
    }
}

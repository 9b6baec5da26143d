//! The one error type of this crate.

use std::io;

use podnet_transport::{SendError, TransportError};

/// What can go wrong starting or using a background network thread.
///
/// ```
/// use podnet_sync::SyncError;
///
/// let err = SyncError::Stopped;
/// assert!(err.to_string().contains("network thread has stopped"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The network layer reported an error (bind, connect, send, ...).
    #[error(transparent)]
    Transport(#[from] TransportError),

    /// A message could not be sent: the connection is gone or not reading, or the
    /// message does not encode. Sending returns [`SendError`] itself; this variant lets
    /// `?` carry it through code that also starts servers.
    #[error(transparent)]
    Send(#[from] SendError),

    /// The network thread or its runtime could not be started.
    #[error("could not start the network thread: {0}")]
    Thread(#[source] io::Error),

    /// `start_background` was asked for a server whose network runs inside `pump()`
    /// ([`NetworkMode::Pump`](podnet_transport::NetworkMode::Pump)): there is no thread
    /// to hand out.
    #[error(
        "this server's network runs inside pump() (NetworkMode::Pump), so there is no \
         network thread to return: start it with Server::start, or use NetworkMode::Thread"
    )]
    NoNetworkThread,

    /// Pump mode runs the network on the pumping thread alone, and more network threads
    /// were asked for.
    #[error(
        "network_threads is {threads}, but in pump mode the network runs on the pumping \
         thread alone: set network_threads to 1, or use NetworkMode::Thread"
    )]
    PumpThreads {
        /// The `network_threads` asked for.
        threads: usize,
    },

    /// The network thread has stopped (it panicked, or the server was shut down).
    #[error("the network thread has stopped; the server or client is no longer running")]
    Stopped,
}

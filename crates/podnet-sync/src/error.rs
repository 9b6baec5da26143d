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

    /// The network thread has stopped (it panicked, or the server was shut down).
    #[error("the network thread has stopped; the server or client is no longer running")]
    Stopped,
}

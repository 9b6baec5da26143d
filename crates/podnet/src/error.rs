//! The facade's error type.

use podnet_framing::FramingError;
use podnet_sync::SyncError;
use podnet_transport::TransportError;

/// Everything that can go wrong in podnet, from starting a server to a message that does
/// not match its handler's type.
///
/// ```
/// use podnet::Error;
///
/// let err = Error::Handler {
///     action: "move".into(),
///     message_type: "game::Move",
///     source: podnet::FramingError::MissingAction,
/// };
/// assert!(err.to_string().starts_with("the \"move\" message does not fit game::Move"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Starting, connecting or sending failed in the network layers.
    #[error(transparent)]
    Sync(#[from] SyncError),

    /// A peer sent a frame that is not a message, or sending failed.
    #[error(transparent)]
    Transport(#[from] TransportError),

    /// A message could not be decoded into the type its handler takes.
    #[error("the {action:?} message does not fit {message_type}: {source}")]
    Handler {
        /// The message's action.
        action: String,
        /// The type the handler takes.
        message_type: &'static str,
        /// Why decoding failed.
        #[source]
        source: FramingError,
    },

    /// A message for the fallback handler could not be read as a value.
    #[error("the {action:?} message could not be read: {source}")]
    Fallback {
        /// The message's action.
        action: String,
        /// Why reading failed.
        #[source]
        source: FramingError,
    },
}

impl From<FramingError> for Error {
    fn from(err: FramingError) -> Self {
        Error::Transport(TransportError::Framing(err))
    }
}

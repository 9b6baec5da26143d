//! The one error type of this crate: what went wrong with one received message.

use podnet_framing::FramingError;

/// Why a received message was not handled. A side's `on_error` hook gets it; the
/// connection stays open (except after a panic, see [`PanicPolicy`](crate::PanicPolicy)).
///
/// ```
/// use podnet_dispatch::MessageError;
///
/// let err = MessageError::Handler { action: "move".into(), source: "off the board".into() };
/// assert_eq!(err.to_string(), "the handler for \"move\" failed: off the board");
/// assert_eq!(err.action(), Some("move"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// The peer sent a frame that is not a message: not a msgpack map, or one without a
    /// string `"action"` (see docs/protocol.md).
    #[error("the peer sent a frame that is not a message: {source}")]
    NotAMessage {
        /// What was wrong with it.
        #[source]
        source: FramingError,
    },

    /// The message does not fit the type its handler takes: a field is missing or has
    /// the wrong type (the error names it).
    #[error("the {action:?} message does not fit {message_type}: {source}")]
    Decode {
        /// The message's action.
        action: String,
        /// The type the handler takes.
        message_type: &'static str,
        /// Why decoding failed, naming the field.
        #[source]
        source: FramingError,
    },

    /// The message could not be read as a dynamic value (for `on_value` and fallback
    /// handlers).
    #[error("the {action:?} message could not be read: {source}")]
    Unreadable {
        /// The message's action.
        action: String,
        /// Why reading failed.
        #[source]
        source: FramingError,
    },

    /// The handler returned an error.
    #[error("the handler for {action:?} failed: {source}")]
    Handler {
        /// The message's action.
        action: String,
        /// What the handler returned.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// No handler takes the message's action, and there is no fallback. Reported once
    /// per action (a typo such as `"mvoe"` shows up; a flood of them does not), and only
    /// where the table has handlers at all (a channel or listener with none takes no
    /// messages on purpose). See [`UnhandledActions`](crate::UnhandledActions).
    #[error(
        "no handler for {action:?} (and no fallback): register one with `h.on`, or \
         `h.fallback` for any action; each such action is reported once"
    )]
    Unhandled {
        /// The message's action.
        action: String,
    },

    /// A hook (`on_connect`, `on_resumed`, ...) returned an error.
    #[error("{hook} failed: {source}")]
    Hook {
        /// The hook's name.
        hook: &'static str,
        /// What the hook returned.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The handler panicked, and the [`PanicPolicy`](crate::PanicPolicy) caught it.
    #[error("the handler for {action:?} panicked: {message}")]
    Panicked {
        /// The message's action, or the hook's name (`on_connect`, ...).
        action: String,
        /// The panic's message.
        message: String,
    },
}

impl MessageError {
    /// The action of the message (or the hook) this is about; `None` for a frame that
    /// was not a message.
    pub fn action(&self) -> Option<&str> {
        match self {
            MessageError::NotAMessage { .. } => None,
            MessageError::Hook { hook, .. } => Some(hook),
            MessageError::Decode { action, .. }
            | MessageError::Unreadable { action, .. }
            | MessageError::Handler { action, .. }
            | MessageError::Unhandled { action }
            | MessageError::Panicked { action, .. } => Some(action),
        }
    }
}

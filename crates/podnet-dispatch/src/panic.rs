//! What happens when a handler panics.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::MessageError;

/// What a panicking handler does to the program.
///
/// repod runs handlers on its network thread, where an exception is reported and the
/// game goes on; podnet does the same by default.
///
/// | policy | the panic | the connection (session) | the game |
/// |---|---|---|---|
/// | [`Catch`](Self::Catch) (default) | caught, logged with the action | closed with a reason | goes on |
/// | [`Propagate`](Self::Propagate) | unwinds out of `pump()` | — | stops, unless you catch it |
///
/// A caught panic may leave the state the handler was changing half-changed: the
/// connection it came from is closed for that reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum PanicPolicy {
    /// Catch the panic at dispatch, close the connection (or end the lobby session) it
    /// came from with a reason, log it, and go on.
    #[default]
    Catch,
    /// Let the panic unwind out of `pump()`: for tests, and games that prefer to crash.
    Propagate,
}

/// Runs `f` under `policy`: with [`PanicPolicy::Catch`], a panic becomes a
/// [`MessageError::Panicked`] about `action`.
///
/// ```
/// use podnet_dispatch::{MessageError, PanicPolicy, catch};
///
/// let caught = catch(PanicPolicy::Catch, "move", || -> u32 { panic!("off the board") });
/// assert!(matches!(caught, Err(MessageError::Panicked { message, .. }) if message == "off the board"));
/// assert_eq!(catch(PanicPolicy::Catch, "move", || 5).ok(), Some(5));
/// ```
#[inline]
pub fn catch<T>(
    policy: PanicPolicy,
    action: &str,
    f: impl FnOnce() -> T,
) -> Result<T, MessageError> {
    if policy == PanicPolicy::Propagate {
        return Ok(f());
    }
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| panicked(action, payload))
}

/// The error for a caught panic: its message, with the action it happened in.
#[cold]
pub(crate) fn panicked(action: &str, payload: Box<dyn std::any::Any + Send>) -> MessageError {
    let message = if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "(a panic without a message)".to_owned()
    };
    MessageError::Panicked {
        action: action.to_owned(),
        message,
    }
}

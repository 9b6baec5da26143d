//! Making what podnet reports by default visible: through `tracing` when the program
//! installed a subscriber, on stderr when it did not (a new program usually has none, and
//! a message that vanishes silently is the worst outcome).

use std::fmt;

/// Reports a warning: as a `tracing` event if a subscriber is installed, else on stderr.
pub(crate) fn warn(what: fmt::Arguments<'_>) {
    if tracing::dispatcher::has_been_set() {
        tracing::warn!("{what}");
    } else {
        eprintln!("podnet: warning: {what}");
    }
}

/// Reports an error, as [`warn`] does.
pub(crate) fn error(what: fmt::Arguments<'_>) {
    if tracing::dispatcher::has_been_set() {
        tracing::error!("{what}");
    } else {
        eprintln!("podnet: error: {what}");
    }
}

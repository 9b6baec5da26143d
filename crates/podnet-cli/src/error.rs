//! The command's error type: what went wrong, and what to do about it.

use std::time::Duration;

/// Why a `podnet` command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// Connecting, sending or serving failed; the transport's message says why.
    #[error(transparent)]
    Transport(#[from] podnet_transport::TransportError),

    /// A message could not be sent: the server closed, or the message does not encode.
    #[error(transparent)]
    Send(#[from] podnet_transport::SendError),

    /// A message does not encode.
    #[error(transparent)]
    Encode(#[from] podnet_transport::podnet_framing::FramingError),

    /// The replicated state of `serve --state` could not be sent.
    #[error(transparent)]
    State(#[from] podnet_state::StateError),
    /// Reading stdin or writing stdout failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),

    /// What the command was given cannot work, or a connection could not be made; the
    /// message says why and what to do.
    #[error("{0}")]
    Usage(String),

    /// The server went away before a run finished.
    #[error("the server closed the connection: {reason}")]
    Closed {
        /// The disconnect reason.
        reason: String,
    },

    /// The server answered `report` without a `moves` count: it does not speak the bench
    /// protocol (an echo server, say).
    #[error(
        "the server answered `report` with {answer}, without a `moves` count: it does not \
         speak the bench protocol (ping, move, report); try `podnet serve --bench` or \
         `cargo run --release --example bench_server`"
    )]
    NotBench {
        /// The answer, as JSON.
        answer: String,
    },

    /// The server did not answer in time.
    #[error(
        "no answer from the server within {after:?} while {what}; is it a server speaking \
         the bench protocol (ping, move, report)?"
    )]
    NoAnswer {
        /// What the command was waiting for.
        what: &'static str,
        /// How long it waited.
        after: Duration,
    },
}

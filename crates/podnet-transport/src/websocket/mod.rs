//! WebSocket clients on the server's own port.
//!
//! A connection whose first byte is a capital letter opened with an HTTP request
//! (`crate::http`): a WebSocket upgrade, a page, or a refusal that says why. Past the
//! upgrade, [`WsReader`] reads the WebSocket as a stream of repod frames, so the
//! connection's driver and state machine serve it as they serve a TCP peer; on the way
//! out, each queued frame gets its WebSocket header ([`frames`]) and goes to the socket
//! as it would to a TCP peer (direct writes included). The protocol work is sans IO
//! ([`inbound`], [`frames`]); tungstenite provides the frame header codec and the accept
//! key.

mod close;
pub(crate) mod frames;
mod inbound;
mod link;
mod reader;

pub(crate) use link::WsLink;
pub(crate) use reader::{WsReader, violation_text};

/// Whether a connection that starts with `first` opened with an HTTP request rather than a
/// repod frame: an ASCII capital letter (`GET`, `POST`, ...) can only start a repod length
/// prefix of at least [`MAX_FRAME_WITH_WEBSOCKET`](crate::config::MAX_FRAME_WITH_WEBSOCKET)
/// bytes, which such a server refuses.
pub(crate) fn is_http(first: u8) -> bool {
    first.is_ascii_uppercase()
}

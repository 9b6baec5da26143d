//! WebSocket clients on the server's own port.
//!
//! A connection whose first byte is a capital letter opened with an HTTP request
//! (`crate::http`): a WebSocket upgrade, a page, or a refusal that says why. Past the
//! upgrade, the connection's reader decodes the WebSocket into repod frames
//! ([`WsDecoder`]), so the driver and the state machine serve it as they serve a TCP
//! peer; a ping, the peer's close and a violation come out of the decoder as results
//! ([`Signal`]) that the reader acts on. On the way out, each queued frame gets its
//! WebSocket header ([`frames`]) and goes to the socket as it would to a TCP peer (direct
//! writes included). The protocol work is sans IO ([`inbound`], [`reader`],
//! [`frames`]); tungstenite provides the frame header codec and the accept key.

mod close;
pub(crate) mod frames;
mod inbound;
mod reader;

pub(crate) use close::Violation;
pub(crate) use reader::{Signal, WsDecoder};

/// The code of a plain close (RFC 6455, 7.4.1): a close with a reason, from either side.
pub(crate) const NORMAL_CLOSE: u16 = close::CloseCode::Normal.code();

/// Whether a connection that starts with `first` opened with an HTTP request rather than a
/// repod frame: an ASCII capital letter (`GET`, `POST`, ...) can only start a repod length
/// prefix of at least [`MAX_FRAME_WITH_WEBSOCKET`](crate::config::MAX_FRAME_WITH_WEBSOCKET)
/// bytes, which such a server refuses.
pub(crate) fn is_http(first: u8) -> bool {
    first.is_ascii_uppercase()
}

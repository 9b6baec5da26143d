//! WebSocket clients on the server's own port.
//!
//! A connection whose first byte is a capital letter opened with an HTTP request
//! (`crate::http`): a WebSocket upgrade, a page, or a refusal that says why. Past the
//! upgrade, the connection's reader decodes the WebSocket into repod frames with
//! framing's [`WsDecoder`], so the driver and the state machine serve it as they serve a
//! TCP peer; a ping, the peer's close and a violation come out of the decoder as results
//! ([`Signal`]) that the reader acts on. On the way out, each queued frame gets its
//! WebSocket header ([`frames`]) and goes to the socket as it would to a TCP peer (direct
//! writes included).

pub(crate) use podnet_framing::websocket::{NORMAL_CLOSE, Signal, Violation, WsDecoder, frames};

/// Whether a connection that starts with `first` opened with an HTTP request rather than a
/// repod frame: an ASCII capital letter (`GET`, `POST`, ...) can only start a repod length
/// prefix of at least [`MAX_FRAME_WITH_WEBSOCKET`](crate::config::MAX_FRAME_WITH_WEBSOCKET)
/// bytes, which such a server refuses.
pub(crate) fn is_http(first: u8) -> bool {
    first.is_ascii_uppercase()
}

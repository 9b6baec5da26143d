//! The WebSocket wire: what a browser (or any WebSocket client) sends and receives, as a
//! codec over the same repod frames the TCP wire carries. Sans IO, as the rest of this
//! crate: the transport reads and writes, this decodes and encodes.
//!
//! - **In**: [`WsDecoder`] turns a client's frames into repod frames (a 4-byte length,
//!   then the message): each binary message is one. A ping, the client's close and a
//!   protocol violation come out as [`Signal`]s. Everything a peer controls is bounded:
//!   message size, fragment count, control frame size.
//! - **Out**: [`frames`] gives a repod frame's WebSocket header and message (a slice of
//!   the same bytes, so a broadcast is encoded once for both wires), the closing
//!   sequence, and pongs.
//!
//! tungstenite provides the frame header codec.
//!
//! ```
//! use bytes::BytesMut;
//! use podnet_framing::websocket::{Signal, WsDecoder};
//!
//! // A client's masked binary message "hi", then its close (1000).
//! let mut input = vec![0x82, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2];
//! input.extend([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]);
//! let mut decoder = WsDecoder::new(BytesMut::from(&input[..]), 1024, 4);
//! let mut frames = BytesMut::new();
//! assert_eq!(decoder.decode(&mut frames), Some(Signal::Closed(Some(1000))));
//! assert_eq!(&frames[..], b"\0\0\0\x02hi");
//! ```

mod close;
mod decoder;
pub mod frames;
mod inbound;

pub use close::{CloseCode, Violation};
pub use decoder::{Signal, WsDecoder};

/// The code of a plain close (RFC 6455, 7.4.1): a close with a reason, from either side.
pub const NORMAL_CLOSE: u16 = CloseCode::Normal.code();

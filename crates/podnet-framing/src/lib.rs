//! The repod wire format: length-prefixed msgpack frames, with no runtime and no sockets.
//!
//! A frame is a 4-byte big-endian length, then that many bytes of msgpack: a map with a
//! string `"action"` key naming the handler, plus the message's fields.
//! `{"action": "move", "x": 10, "y": 20}` is a message. This is repod's (and PodSixNet's)
//! wire format, so what this crate writes a Python `repodnet` peer reads, and the other way
//! round.
//!
//! This crate is the protocol as pure functions and types on [`bytes::BytesMut`], in the
//! way quinn-proto is QUIC without I/O: it contains no networking code and starts no
//! runtime. **Most users want the `podnet` crate**, which puts this under a server and
//! client with `pump()`; use this one to speak the format over a transport of your own.
//!
//! # What it holds
//!
//! - [`FrameCodec`]: splits a byte stream into payloads (a tokio-util
//!   [`Decoder`](tokio_util::codec::Decoder)/[`Encoder`](tokio_util::codec::Encoder)), and
//!   refuses a length over [`FramingConfig::max_frame_length`] before allocating for it.
//! - [`encode_message`], [`encode_with_action`], [`encode_value`]: a message into one frame,
//!   written straight into the output buffer.
//! - [`RawMessage`]: a payload checked to be a message (bounded depth, no truncated or
//!   trailing bytes, one string action), routed by [`RawMessage::action`] and decoded later
//!   into a typed message or a dynamic [`Value`]. [`peek_action`] reads only the action.
//! - [`BatchDecoder`]: both at once, for a network thread: splits and checks a read's
//!   frames but leaves them in the read buffer, then hands them out as one
//!   [`MessageBatch`], so that passing them to another thread costs one reference count
//!   per read, not one per message.
//!
//! Nothing here panics on any input, and what a peer can make it allocate is bounded by
//! [`FramingConfig`].
//!
//! # Example
//!
//! ```
//! use bytes::BytesMut;
//! use podnet_framing::{encode_message, FrameCodec, FramingConfig, Message, RawMessage};
//! use serde::{Deserialize, Serialize};
//! use tokio_util::codec::Decoder;
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! struct Move { x: i32, y: i32 }
//! impl Message for Move { const ACTION: &'static str = "move"; }
//!
//! let config = FramingConfig::default();
//! let mut wire = BytesMut::new();
//! encode_message(&Move { x: 10, y: 20 }, &mut wire, &config)?;
//!
//! let mut codec = FrameCodec::new(&config);
//! let payload = codec.decode(&mut wire)?.expect("a whole frame");
//! let msg = RawMessage::parse(payload, &config)?;
//! assert_eq!(msg.action(), "move");
//! assert_eq!(msg.decode::<Move>()?, Move { x: 10, y: 20 });
//! # Ok::<(), podnet_framing::FramingError>(())
//! ```

mod batch;
mod config;
mod encode;
mod encoded;
mod error;
mod frame;
mod message;
mod outgoing;
mod scan;
pub mod websocket;

pub use batch::{BatchDecoder, Decoded, IntoMessages, MessageBatch};
pub use config::FramingConfig;
pub use encode::{encode_message, encode_value, encode_with_action};
pub use encoded::{Frame, RESERVED_PREFIX, is_reserved};
pub use error::FramingError;
pub use frame::{FRAME_HEADER_LEN, FrameCodec};
pub use message::{Message, RawMessage, check_message, decode, decode_value, peek_action};
pub use outgoing::{Outgoing, WithAction};
/// `#[derive(Message)]`, with `#[message(action = "...")]`: see the [`Message`](trait@Message) trait.
pub use podnet_derive::Message;
/// A dynamic msgpack value, what a fallback handler receives (re-exported from `rmpv`).
///
/// Index a message map by key: `value["x"]` is the `"x"` entry, or `Value::Nil` if there is
/// none.
pub use rmpv::Value;

/// This crate's README (its page on crates.io), its example compiled and run as a
/// doctest so it cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct CrateReadmeDoctests;

/// podnet-derive's README, compiled and run here, where the derive is re-exported.
#[cfg(doctest)]
#[doc = include_str!("../../podnet-derive/README.md")]
pub struct DeriveReadmeDoctests;

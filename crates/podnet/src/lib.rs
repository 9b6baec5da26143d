//! Multiplayer networking for games, in the model of repod and PodSixNet: a server holds
//! one channel per player, messages are maps with an `action` key, handlers are keyed by
//! action name, and the game loop calls `pump()` once per frame while the network runs on
//! a background thread.
//!
//! **Status: being built.** Today this crate re-exports the wire format,
//! [`podnet_framing`]: frames, typed messages and their encoding. The server, client and
//! handler traits follow in the next releases.
//!
//! This is the crate most users want: it re-exports every layer below it.

#[doc(inline)]
pub use podnet_framing::{
    FrameCodec, FramingConfig, FramingError, Message, RawMessage, Value, decode, decode_value,
    encode_message, encode_value, encode_with_action, peek_action,
};

/// The README's code, compiled and run as a doctest so it cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

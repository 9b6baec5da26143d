//! The one error type of this crate.

use std::io;

/// Everything that can go wrong while framing, encoding or decoding a message.
///
/// Errors fall in two groups, told apart by [`is_fatal`](Self::is_fatal):
///
/// - **Stream errors** ([`FrameTooLarge`](Self::FrameTooLarge),
///   [`TruncatedStream`](Self::TruncatedStream), [`Io`](Self::Io)): the byte stream itself
///   can no longer be trusted to be split into frames, so the connection must close.
/// - **Message errors** (everything else): one frame was read correctly but its payload is
///   not a message this side can use. The frame boundaries are intact, so a server can
///   count the bad frame, log it and keep the connection.
///
/// # Example
///
/// ```
/// use podnet_framing::{FramingConfig, FramingError, RawMessage};
///
/// // msgpack for the array [1, 2]: a valid value, but not a message.
/// let err = RawMessage::parse(vec![0x92, 0x01, 0x02].into(), &FramingConfig::default())
///     .unwrap_err();
/// assert!(matches!(err, FramingError::NotAMap { found: "array" }));
/// assert!(!err.is_fatal());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FramingError {
    /// A length prefix announced a frame over [`FramingConfig::max_frame_length`].
    ///
    /// [`FramingConfig::max_frame_length`]: crate::FramingConfig::max_frame_length
    #[error("{}", too_large(*len, *max))]
    FrameTooLarge {
        /// The length the prefix announced.
        len: u64,
        /// The configured maximum.
        max: usize,
    },

    /// The stream ended in the middle of a frame.
    #[error("the stream ended in the middle of a frame ({buffered} bytes of it were received)")]
    TruncatedStream {
        /// How many bytes of the unfinished frame (header included) had arrived.
        buffered: usize,
    },

    /// Reading from or writing to the underlying stream failed.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),

    /// A frame had a zero-length payload; a message is at least a one-entry map.
    #[error("the frame is empty; a message is a msgpack map with an \"action\" key")]
    EmptyPayload,

    /// The payload is a msgpack value, but not a map.
    #[error(
        "the payload is a msgpack {found}, not a map; a message is a map with an \"action\" key"
    )]
    NotAMap {
        /// The msgpack type found instead ("array", "str", "int", ...).
        found: &'static str,
    },

    /// The payload is a map without an `"action"` key.
    #[error("the message has no \"action\" key; every message needs one naming its handler")]
    MissingAction,

    /// The `"action"` value is not a msgpack string.
    #[error("the message's \"action\" is a msgpack {found}, but it must be a string")]
    ActionNotString {
        /// The msgpack type found instead.
        found: &'static str,
    },

    /// The `"action"` value is a string that is not valid UTF-8.
    #[error("the message's \"action\" is not valid UTF-8")]
    ActionNotUtf8,

    /// The map has the `"action"` key more than once, so which handler it is for is
    /// ambiguous.
    #[error("the message has the \"action\" key more than once")]
    DuplicateAction,

    /// The payload nests arrays and maps deeper than [`FramingConfig::max_depth`].
    ///
    /// [`FramingConfig::max_depth`]: crate::FramingConfig::max_depth
    #[error(
        "the payload nests deeper than the maximum of {max_depth} levels; if that is \
         legitimate, raise `FramingConfig::max_depth`"
    )]
    TooDeep {
        /// The configured maximum.
        max_depth: usize,
    },

    /// The payload ends in the middle of a msgpack value.
    #[error("the payload is truncated: it ends in the middle of a msgpack value")]
    Truncated,

    /// Bytes follow the message inside its frame.
    #[error("{count} unexpected bytes follow the message inside its frame")]
    TrailingBytes {
        /// How many bytes follow the message.
        count: usize,
    },

    /// The payload contains the byte 0xc1, which msgpack never uses.
    #[error(
        "the payload is not msgpack: byte {byte:#04x} at offset {offset} is not a valid marker"
    )]
    InvalidMarker {
        /// The offending byte.
        byte: u8,
        /// Its offset in the payload.
        offset: usize,
    },

    /// A well-formed message did not match the type it was decoded into (a missing field,
    /// a string where a number was expected, ...).
    #[error(
        "the message does not match the expected type: {0}; check that both sides agree on \
         its fields (fields a sender may omit need `#[serde(default)]`)"
    )]
    Decode(#[source] rmp_serde::decode::Error),

    /// A well-formed message did not match the type it was decoded into, and this says
    /// where: the field (a path such as `players[2].name`) and what it expected.
    #[error(
        "{}: {problem}; check that both sides agree on the message's fields (fields a sender \
         may omit need `#[serde(default)]`)",
        match field { Some(field) => format!("the field `{field}` does not fit"), None => "the message does not fit".to_owned() }
    )]
    Field {
        /// The field that did not fit, as a path; `None` when the problem is the whole
        /// message (a missing field is named in `problem`).
        field: Option<String>,
        /// What was wrong, with the type expected: `invalid type: string "up", expected i32`.
        problem: String,
    },

    /// A message type did not serialize to a map or a struct.
    #[error(
        "a message must serialize as a struct or a map, not {found}; wrap the value in a \
         struct with named fields"
    )]
    EncodeNotAMap {
        /// What the value serialized as.
        found: &'static str,
    },

    /// A message type has its own `"action"` field, which would clash with the action name
    /// that podnet writes.
    #[error(
        "the message has its own \"action\" field; remove it (podnet writes the action name \
         itself) or rename it with `#[serde(rename = ...)]`"
    )]
    EncodeActionField,

    /// A message map's length was not known before serializing it.
    #[error(
        "the message serializes as a map of unknown length; collect it into a `HashMap` or \
         `BTreeMap` first"
    )]
    EncodeUnknownLength,

    /// The value failed to serialize (a custom `Serialize` impl reported an error, or an
    /// integer did not fit).
    #[error("the message failed to serialize: {0}")]
    Encode(String),

    /// An encoded message is larger than [`FramingConfig::max_frame_length`], so the peer
    /// would reject it.
    ///
    /// [`FramingConfig::max_frame_length`]: crate::FramingConfig::max_frame_length
    #[error(
        "the message encodes to {len} bytes, over the maximum frame length of {max} bytes; \
         split it, or raise `FramingConfig::max_frame_length` on both peers"
    )]
    MessageTooLarge {
        /// The encoded payload length.
        len: usize,
        /// The configured maximum.
        max: usize,
    },

    /// A message used an action in podnet's reserved `podnet:` namespace.
    #[error(
        "the action {action:?} is in the `podnet:` namespace, which podnet reserves for its own \
         control messages; rename the action"
    )]
    ReservedAction {
        /// The action name.
        action: String,
    },
}

impl FramingError {
    /// Whether the stream can no longer be split into frames after this error, so the
    /// connection it came from must close.
    ///
    /// Message errors (a frame whose payload is not a usable message) are not fatal: the
    /// next frame starts where this one ended.
    ///
    /// ```
    /// use podnet_framing::FramingError;
    ///
    /// assert!(FramingError::FrameTooLarge { len: 1 << 30, max: 1 << 20 }.is_fatal());
    /// assert!(!FramingError::MissingAction.is_fatal());
    /// ```
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Self::FrameTooLarge { .. } | Self::TruncatedStream { .. } | Self::Io(_)
        )
    }
}

/// The message for [`FramingError::FrameTooLarge`]. A length whose four bytes are text
/// ("HTTP", "SSH-") is not a frame at all: the peer speaks another protocol, and raising
/// the limit would not help, so the message says that instead.
fn too_large(len: u64, max: usize) -> String {
    let header = u32::try_from(len).map(u32::to_be_bytes).ok();
    let text = header.filter(|h| h.iter().all(|b| b.is_ascii_graphic() || *b == b' '));
    match text {
        Some(bytes) => format!(
            "the peer does not speak the repod protocol: the 4 bytes where a frame's length \
             belongs are the text {:?} (as a length, {len} bytes: over the maximum of {max}); \
             is it an HTTP or other text-protocol server, or the wrong port?",
            String::from_utf8_lossy(&bytes)
        ),
        None => format!(
            "frame of {len} bytes is over the maximum of {max} bytes; if messages this large \
             are expected, raise `FramingConfig::max_frame_length` on both peers"
        ),
    }
}

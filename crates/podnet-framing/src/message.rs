//! Messages: typed ones (serde structs with an action name) and validated raw payloads.

use std::fmt;
use std::ops::Range;

use bytes::{Buf, Bytes};
use serde::Deserialize;

use crate::scan::{Extent, scan_message};
use crate::{FramingConfig, FramingError, Value};

/// A typed message: a serde type with the action name it travels under.
///
/// On the wire a message is a msgpack map of the type's named fields plus `"action"`.
/// Derive `Serialize` to send it and `Deserialize` to receive it; keys the type does not
/// know are ignored when decoding, so peers may add fields without breaking each other.
/// Byte strings (Python `bytes`, msgpack `bin`) need `serde_bytes::ByteBuf` or
/// `#[serde(with = "serde_bytes")]`: a plain `Vec<u8>` is a list of integers.
///
/// # Example
///
/// Derive it, naming the action (without `#[message(...)]` the action is the type's name
/// in snake_case: `PlayerLeft` travels as `"player_left"`):
///
/// ```
/// use podnet_framing::Message;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize, Message)]
/// #[message(action = "chat")]
/// struct Chat {
///     text: String,
/// }
/// assert_eq!(Chat::ACTION, "chat");
///
/// #[derive(Serialize, Deserialize, Message)]
/// struct PlayerLeft {
///     name: String,
/// }
/// assert_eq!(PlayerLeft::ACTION, "player_left");
/// ```
///
/// or write the one-line impl by hand:
///
/// ```
/// # use podnet_framing::Message;
/// # use serde::{Deserialize, Serialize};
/// #[derive(Serialize, Deserialize)]
/// struct Chat {
///     text: String,
/// }
///
/// impl Message for Chat {
///     const ACTION: &'static str = "chat";
/// }
/// assert_eq!(Chat::ACTION, "chat");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a podnet message",
    label = "this type has no action name",
    note = "derive it with the action name it travels under: `#[derive(Message)]` and \
            `#[message(action = \"...\")]` on the type, or write \
            `impl Message for {Self} {{ const ACTION: &'static str = \"...\"; }}`"
)]
pub trait Message {
    /// The value of the message's `"action"` key: the name its handler is registered
    /// under (repod's `Network_<action>`).
    const ACTION: &'static str;
}

/// A frame payload checked to be a message: a well-formed msgpack map within the depth
/// limit, with exactly one string `"action"` and no trailing bytes.
///
/// Parsing scans the payload once without decoding it, so a network thread can reject
/// what is not a message and route the rest by [`action`](Self::action); the typed
/// [`decode`](Self::decode) happens later, where the handler runs. Cloning is cheap (the
/// payload is reference-counted), and [`payload`](Self::payload) can be sent on unchanged,
/// for example to echo or relay it.
///
/// A handler gets its message by reference, lent from the buffer the message was read
/// into: keeping it past the handler takes a [`clone`](Clone::clone) (which shares that
/// buffer) or a decode.
///
/// # Example
///
/// ```
/// use podnet_framing::{FramingConfig, RawMessage};
/// use serde::Deserialize;
///
/// #[derive(Deserialize, Debug, PartialEq)]
/// struct Move { x: i32, y: i32 }
///
/// // {"action": "move", "x": 10, "y": -3}, as Python's msgpack.packb writes it.
/// let payload = b"\x83\xa6action\xa4move\xa1x\x0a\xa1y\xfd";
/// let msg = RawMessage::parse(payload.to_vec().into(), &FramingConfig::default())?;
/// assert_eq!(msg.action(), "move");
/// assert_eq!(msg.decode::<Move>()?, Move { x: 10, y: -3 });
/// # Ok::<(), podnet_framing::FramingError>(())
/// ```
#[derive(Clone)]
pub struct RawMessage {
    /// The buffer the payload is in: its own, or the whole read it arrived in.
    data: Bytes,
    /// Where the payload is in `data`.
    range: Range<usize>,
    /// Where the action name's bytes are in the payload; checked to be UTF-8.
    action: Range<usize>,
    /// The depth limit the payload was checked against.
    max_depth: usize,
}

impl PartialEq for RawMessage {
    fn eq(&self, other: &Self) -> bool {
        self.payload() == other.payload()
            && self.action == other.action
            && self.max_depth == other.max_depth
    }
}

impl Eq for RawMessage {}

impl fmt::Debug for RawMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawMessage")
            .field("action", &self.action())
            .field("payload", &Bytes::copy_from_slice(self.payload()))
            .finish()
    }
}

impl RawMessage {
    /// Checks that `payload` is a message and wraps it.
    ///
    /// # Errors
    ///
    /// [`FramingError::EmptyPayload`], [`NotAMap`](FramingError::NotAMap),
    /// [`MissingAction`](FramingError::MissingAction),
    /// [`ActionNotString`](FramingError::ActionNotString),
    /// [`ActionNotUtf8`](FramingError::ActionNotUtf8),
    /// [`DuplicateAction`](FramingError::DuplicateAction),
    /// [`TooDeep`](FramingError::TooDeep), [`Truncated`](FramingError::Truncated),
    /// [`TrailingBytes`](FramingError::TrailingBytes) or
    /// [`InvalidMarker`](FramingError::InvalidMarker); none of them is
    /// [fatal](FramingError::is_fatal).
    ///
    /// ```
    /// use podnet_framing::{FramingConfig, FramingError, RawMessage};
    ///
    /// // {"x": 1}: a map, but no action.
    /// let err = RawMessage::parse(b"\x81\xa1x\x01".to_vec().into(), &FramingConfig::default());
    /// assert!(matches!(err, Err(FramingError::MissingAction)));
    /// ```
    pub fn parse(payload: Bytes, config: &FramingConfig) -> Result<Self, FramingError> {
        let action = scan_message(&payload, config.max_depth, Extent::Whole)?;
        Ok(Self::checked(payload, action, config.max_depth))
    }

    /// Wraps a payload that [`scan_message`] accepted with `max_depth`, its action at
    /// `action`.
    pub(crate) fn checked(payload: Bytes, action: Range<usize>, max_depth: usize) -> Self {
        Self {
            range: 0..payload.len(),
            data: payload,
            action,
            max_depth,
        }
    }

    /// A message of the batch in `data`, to be pointed at each of its messages in turn
    /// with [`lend`](Self::lend).
    pub(crate) fn in_batch(data: Bytes, max_depth: usize) -> Self {
        Self {
            data,
            range: 0..0,
            action: 0..0,
            max_depth,
        }
    }

    /// Points this message at the payload at `range` of its buffer, which
    /// [`scan_message`] accepted (with this message's depth limit), its action at
    /// `action`, relative to `range`: the next message of a batch, without a reference
    /// count of its own.
    #[inline]
    pub(crate) fn lend(&mut self, range: Range<usize>, action: Range<usize>) {
        self.range = range;
        self.action = action;
    }

    /// The message's action name.
    ///
    /// ```
    /// # use podnet_framing::{FramingConfig, RawMessage};
    /// let msg = RawMessage::parse(b"\x81\xa6action\xa4ping".to_vec().into(), &FramingConfig::default())?;
    /// assert_eq!(msg.action(), "ping");
    /// # Ok::<(), podnet_framing::FramingError>(())
    /// ```
    #[inline]
    pub fn action(&self) -> &str {
        // `parse` checked these bytes are UTF-8, so this never falls back.
        std::str::from_utf8(self.action_bytes()).unwrap_or_default()
    }

    /// The message's action name as bytes (valid UTF-8): for routing by action, where
    /// [`action`](Self::action)'s conversion to `&str` would be wasted.
    ///
    /// ```
    /// # use podnet_framing::{FramingConfig, RawMessage};
    /// let msg = RawMessage::parse(b"\x81\xa6action\xa4ping".to_vec().into(), &FramingConfig::default())?;
    /// assert_eq!(msg.action_bytes(), b"ping");
    /// # Ok::<(), podnet_framing::FramingError>(())
    /// ```
    #[inline]
    pub fn action_bytes(&self) -> &[u8] {
        self.payload().get(self.action.clone()).unwrap_or_default()
    }

    /// The msgpack payload, without the frame header.
    ///
    /// ```
    /// # use podnet_framing::{FramingConfig, RawMessage};
    /// let msg = RawMessage::parse(b"\x81\xa6action\xa4ping".to_vec().into(), &FramingConfig::default())?;
    /// assert_eq!(msg.payload().len(), 13);
    /// # Ok::<(), podnet_framing::FramingError>(())
    /// ```
    #[inline]
    pub fn payload(&self) -> &[u8] {
        self.data.get(self.range.clone()).unwrap_or_default()
    }

    /// Gives back the payload, as a `Bytes` of its own (for a message that shares its
    /// read's buffer, a share of that buffer: no copy).
    ///
    /// ```
    /// # use podnet_framing::{FramingConfig, RawMessage};
    /// let msg = RawMessage::parse(b"\x81\xa6action\xa4ping".to_vec().into(), &FramingConfig::default())?;
    /// let bytes = msg.into_payload();
    /// assert_eq!(bytes[0], 0x81);
    /// # Ok::<(), podnet_framing::FramingError>(())
    /// ```
    pub fn into_payload(self) -> Bytes {
        let Self {
            mut data, range, ..
        } = self;
        if range.end <= data.len() {
            data.truncate(range.end);
            data.advance(range.start);
        }
        data
    }

    /// Decodes the message into a typed value. Keys the type does not know, `"action"`
    /// among them, are ignored; `&str` and `&[u8]` fields may borrow from the payload.
    ///
    /// # Errors
    ///
    /// [`FramingError::Decode`] if the message does not match `T` (a missing field, a
    /// wrong type, an integer out of range).
    ///
    /// ```
    /// # use podnet_framing::{FramingConfig, RawMessage};
    /// #[derive(serde::Deserialize)]
    /// struct Chat<'a> { text: &'a str }
    ///
    /// let msg = RawMessage::parse(
    ///     b"\x82\xa6action\xa4chat\xa4text\xa2hi".to_vec().into(),
    ///     &FramingConfig::default(),
    /// )?;
    /// assert_eq!(msg.decode::<Chat<'_>>()?.text, "hi");
    /// assert!(msg.decode::<(i32, i32)>().is_err());
    /// # Ok::<(), podnet_framing::FramingError>(())
    /// ```
    pub fn decode<'de, T: Deserialize<'de>>(&'de self) -> Result<T, FramingError> {
        decode_checked(self.payload(), self.max_depth)
    }

    /// Decodes the whole message, `"action"` included, into a dynamic [`Value`]: what
    /// repod's fallback `network_received` gets.
    ///
    /// # Errors
    ///
    /// None in practice: the payload was checked by [`parse`](Self::parse). The `Result`
    /// keeps the no-panic promise should that ever change.
    ///
    /// ```
    /// # use podnet_framing::{FramingConfig, RawMessage};
    /// let msg = RawMessage::parse(
    ///     b"\x82\xa6action\xa4chat\xa4text\xa2hi".to_vec().into(),
    ///     &FramingConfig::default(),
    /// )?;
    /// let value = msg.to_value()?;
    /// assert_eq!(value["text"].as_str(), Some("hi"));
    /// # Ok::<(), podnet_framing::FramingError>(())
    /// ```
    pub fn to_value(&self) -> Result<Value, FramingError> {
        value_checked(self.payload(), self.max_depth)
    }
}

/// Reads the action name of a payload without decoding or allocating the rest of it:
/// the scan stops at the `"action"` value, so what follows it is not even checked.
///
/// # Errors
///
/// As [`RawMessage::parse`], for the part of the payload up to the action.
///
/// # Example
///
/// ```
/// use podnet_framing::{peek_action, FramingConfig};
///
/// let payload = b"\x83\xa6action\xa4move\xa1x\x0a\xa1y\xfd";
/// assert_eq!(peek_action(payload, &FramingConfig::default())?, "move");
/// # Ok::<(), podnet_framing::FramingError>(())
/// ```
pub fn peek_action<'a>(payload: &'a [u8], config: &FramingConfig) -> Result<&'a str, FramingError> {
    let range = scan_message(payload, config.max_depth, Extent::UntilAction)?;
    std::str::from_utf8(&payload[range]).map_err(|_| FramingError::ActionNotUtf8)
}

/// Checks the whole of `payload` as [`RawMessage::parse`] does (a map, complete, within
/// the depth limit, nothing trailing, one UTF-8 `"action"`), without taking it, and
/// returns its action's bytes: for a server that reads messages in place.
///
/// # Errors
///
/// As [`RawMessage::parse`].
///
/// ```
/// use podnet_framing::{FramingConfig, FramingError, check_message};
///
/// let config = FramingConfig::default();
/// assert_eq!(check_message(b"\x81\xa6action\xa4ping", &config)?, b"ping");
/// // The same with a byte left over: refused.
/// assert!(check_message(b"\x81\xa6action\xa4ping\x00", &config).is_err());
/// # Ok::<(), FramingError>(())
/// ```
pub fn check_message<'a>(
    payload: &'a [u8],
    config: &FramingConfig,
) -> Result<&'a [u8], FramingError> {
    let range = scan_message(payload, config.max_depth, Extent::Whole)?;
    Ok(&payload[range])
}

/// Checks that `payload` is a message, then decodes it into a typed value: the one-call
/// form of [`RawMessage::parse`] then [`RawMessage::decode`].
///
/// # Errors
///
/// As [`RawMessage::parse`] and [`RawMessage::decode`].
///
/// # Example
///
/// ```
/// use podnet_framing::{decode, FramingConfig};
///
/// #[derive(serde::Deserialize)]
/// struct Move { x: i32, y: i32 }
///
/// let m: Move = decode(b"\x83\xa6action\xa4move\xa1x\x0a\xa1y\xfd", &FramingConfig::default())?;
/// assert_eq!((m.x, m.y), (10, -3));
/// # Ok::<(), podnet_framing::FramingError>(())
/// ```
pub fn decode<'de, T: Deserialize<'de>>(
    payload: &'de [u8],
    config: &FramingConfig,
) -> Result<T, FramingError> {
    scan_message(payload, config.max_depth, Extent::Whole)?;
    decode_checked(payload, config.max_depth)
}

/// Checks that `payload` is a message, then decodes it into a dynamic [`Value`].
///
/// # Errors
///
/// As [`RawMessage::parse`].
///
/// # Example
///
/// ```
/// use podnet_framing::{decode_value, FramingConfig};
///
/// let value = decode_value(b"\x82\xa6action\xa4move\xa1x\x0a", &FramingConfig::default())?;
/// assert_eq!(value["action"].as_str(), Some("move"));
/// assert_eq!(value["x"].as_i64(), Some(10));
/// # Ok::<(), podnet_framing::FramingError>(())
/// ```
pub fn decode_value(payload: &[u8], config: &FramingConfig) -> Result<Value, FramingError> {
    scan_message(payload, config.max_depth, Extent::Whole)?;
    value_checked(payload, config.max_depth)
}

/// Decodes a payload that [`scan_message`] accepted with `max_depth`.
fn decode_checked<'de, T: Deserialize<'de>>(
    payload: &'de [u8],
    max_depth: usize,
) -> Result<T, FramingError> {
    let mut de = rmp_serde::Deserializer::from_read_ref(payload);
    // The scan bounded the depth already; this only stops rmp-serde's own default (1024)
    // from refusing what the configured limit allows. rmp-serde charges one unit per
    // array, map or ext and fails when its budget reaches zero, so `max_depth` containers
    // with an ext inside the deepest need `max_depth + 2`.
    de.set_max_depth(max_depth.saturating_add(2));
    T::deserialize(&mut de).map_err(|err| explain::<T>(payload, max_depth, err))
}

/// Says which field of a message did not fit `T`, and what it expected: rmp-serde's own
/// error names neither ("wrong msgpack marker FixStr(3)"). Runs only after decoding failed,
/// so it costs nothing on the way messages usually go: decodes the payload again, as a
/// [`Value`], through `serde_path_to_error`.
#[cold]
fn explain<'de, T: Deserialize<'de>>(
    payload: &[u8],
    max_depth: usize,
    original: rmp_serde::decode::Error,
) -> FramingError {
    let Ok(value) = value_checked(payload, max_depth) else {
        return FramingError::Decode(original);
    };
    match serde_path_to_error::deserialize::<_, T>(value) {
        // A borrowed field cannot borrow from a `Value`: that failure is this function's,
        // not the message's.
        Err(err) if !err.inner().to_string().contains("borrowed") => {
            let path = err.path().to_string();
            FramingError::Field {
                field: (path != ".").then_some(path),
                problem: err.into_inner().to_string(),
            }
        }
        _ => FramingError::Decode(original),
    }
}

/// Reads a payload that [`scan_message`] accepted with `max_depth` into a [`Value`].
fn value_checked(payload: &[u8], max_depth: usize) -> Result<Value, FramingError> {
    let mut reader = payload;
    // rmpv charges two units per array or map, and up to three per other value (a str
    // is charged as value, as str and as bytes), so `max_depth` nested containers with a
    // string inside the deepest need `2 * max_depth + 3`. Its recursion is per container,
    // which the scan bounded to `max_depth`.
    let budget = max_depth.saturating_mul(2).saturating_add(3);
    rmpv::decode::read_value_with_max_depth(&mut reader, budget).map_err(|err| match err {
        rmpv::decode::Error::DepthLimitExceeded => FramingError::TooDeep { max_depth },
        rmpv::decode::Error::InvalidMarkerRead(_) | rmpv::decode::Error::InvalidDataRead(_) => {
            FramingError::Truncated
        }
    })
}

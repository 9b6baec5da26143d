//! Encoded frames: what outbound queues hold, encoded once and shared by reference, and
//! podnet's reserved `podnet:` namespace, which no application message may use.

use std::cell::RefCell;

use bytes::{Bytes, BytesMut};
use serde::Serialize;

use crate::{
    FramingConfig, FramingError, Message, RawMessage, Value, encode_value, encode_with_action,
};

/// The prefix of every action podnet reserves for itself. Applications can neither send
/// nor handle actions that start with it.
pub const RESERVED_PREFIX: &str = "podnet:";

/// Whether `action` is in podnet's reserved namespace.
///
/// ```
/// assert!(podnet_framing::is_reserved("podnet:ping"));
/// assert!(!podnet_framing::is_reserved("ping"));
/// ```
pub fn is_reserved(action: &str) -> bool {
    action.as_bytes().starts_with(RESERVED_PREFIX.as_bytes())
}

/// Encoding reuses a per-thread buffer: each frame is split off its front, so a run of
/// small messages shares one allocation instead of making one each.
const SCRATCH_BLOCK: usize = 16 * 1024;
/// When less than this is left in the scratch buffer, a new block is reserved.
const SCRATCH_LOW: usize = 512;

thread_local! {
    static SCRATCH: RefCell<BytesMut> = RefCell::new(BytesMut::new());
}

fn encode_into_scratch(
    write: impl FnOnce(&mut BytesMut) -> Result<(), FramingError>,
) -> Result<Bytes, FramingError> {
    SCRATCH.with_borrow_mut(|buf| {
        if buf.capacity() - buf.len() < SCRATCH_LOW {
            buf.reserve(SCRATCH_BLOCK);
        }
        write(buf)?;
        Ok(buf.split().freeze())
    })
}

fn check_action(action: &str) -> Result<(), FramingError> {
    if is_reserved(action) {
        return Err(FramingError::ReservedAction {
            action: action.to_owned(),
        });
    }
    Ok(())
}

/// One message, encoded as a complete frame (length prefix included), ready to be queued.
///
/// Encoding once and sending the same `Frame` to many connections is how broadcast works:
/// cloning a frame copies a pointer, not the bytes.
///
/// # Example
///
/// ```
/// use podnet_framing::{Frame, FramingConfig, Message};
///
/// #[derive(serde::Serialize)]
/// struct Chat { text: String }
/// impl Message for Chat { const ACTION: &'static str = "chat"; }
///
/// let frame = Frame::encode(&Chat { text: "hi".into() }, &FramingConfig::default())?;
/// let copy = frame.clone(); // shares the bytes
/// assert_eq!(copy.as_bytes().len(), 4 + 21);
/// # Ok::<(), podnet_framing::FramingError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame(Bytes);

impl Frame {
    /// Encodes a typed message.
    ///
    /// # Errors
    ///
    /// [`FramingError::ReservedAction`] if `M::ACTION` starts with `podnet:`;
    /// the encoding errors of [`encode_message`](crate::encode_message) if the message
    /// does not encode.
    pub fn encode<M>(msg: &M, config: &FramingConfig) -> Result<Self, FramingError>
    where
        M: Message + Serialize + ?Sized,
    {
        Self::encode_with_action(M::ACTION, msg, config)
    }

    /// Encodes a message under an action name chosen at run time.
    ///
    /// # Errors
    ///
    /// As [`Frame::encode`].
    ///
    /// ```
    /// use podnet_framing::{Frame, FramingConfig};
    ///
    /// let ping = Frame::encode_with_action("ping", &(), &FramingConfig::default())?;
    /// assert!(Frame::encode_with_action("podnet:ping", &(), &FramingConfig::default()).is_err());
    /// # Ok::<(), podnet_framing::FramingError>(())
    /// ```
    pub fn encode_with_action<T>(
        action: &str,
        msg: &T,
        config: &FramingConfig,
    ) -> Result<Self, FramingError>
    where
        T: Serialize + ?Sized,
    {
        check_action(action)?;
        encode_into_scratch(|buf| encode_with_action(action, msg, buf, config)).map(Frame)
    }

    /// Encodes a dynamic message: a map with a string `"action"`.
    ///
    /// # Errors
    ///
    /// As [`Frame::encode`], and [`encode_value`]'s errors if `value` is
    /// not a message.
    ///
    /// ```
    /// use podnet_framing::{Frame, FramingConfig, Value};
    ///
    /// let msg = Value::Map(vec![("action".into(), "hello".into())]);
    /// let frame = Frame::from_value(&msg, &FramingConfig::default())?;
    /// assert_eq!(frame.as_bytes().len(), 4 + 14);
    /// # Ok::<(), podnet_framing::FramingError>(())
    /// ```
    pub fn from_value(value: &Value, config: &FramingConfig) -> Result<Self, FramingError> {
        if let Some(action) = value["action"].as_str() {
            check_action(action)?;
        }
        encode_into_scratch(|buf| encode_value(value, buf, config)).map(Frame)
    }

    /// Frames a received message again, unchanged and without re-encoding it: for echoing
    /// or relaying.
    ///
    /// # Errors
    ///
    /// [`FramingError::ReservedAction`] for a `podnet:` message.
    ///
    /// ```
    /// use podnet_framing::{Frame, FramingConfig, RawMessage};
    ///
    /// let msg = RawMessage::parse(b"\x81\xa6action\xa4ping".to_vec().into(), &FramingConfig::default())?;
    /// let frame = Frame::from_message(&msg)?;
    /// assert_eq!(&frame.as_bytes()[..4], &[0, 0, 0, 13]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_message(msg: &RawMessage) -> Result<Self, FramingError> {
        check_action(msg.action())?;
        let payload = msg.payload();
        encode_into_scratch(|buf| {
            // RawMessage::parse accepted it, so it fits the u32 of a frame header.
            let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
            buf.extend_from_slice(&len.to_be_bytes());
            buf.extend_from_slice(payload);
            Ok(())
        })
        .map(Frame)
    }

    /// The frame's bytes: length prefix, then the msgpack payload.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// Encodes a message podnet sends itself, in any namespace (the `connected` greeting,
    /// `podnet:` control messages): not for application messages, which
    /// [`encode`](Self::encode) checks.
    ///
    /// # Errors
    ///
    /// As [`encode_with_action`].
    pub fn encode_own<T: Serialize + ?Sized>(
        action: &str,
        msg: &T,
        config: &FramingConfig,
    ) -> Result<Self, FramingError> {
        encode_into_scratch(|buf| encode_with_action(action, msg, buf, config)).map(Frame)
    }

    /// The frame's bytes, taken out of it.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

//! What a game sends: a typed message, an action named at run time with its fields, or a
//! frame encoded already, all through one `send`.

use std::borrow::Cow;

use serde::Serialize;

use crate::{Frame, FramingConfig, FramingError, Message};

/// Anything podnet's `send`, `send_to` and `send_to_all` take: a typed [`Message`], an
/// action named at run time with its fields ([`WithAction`]), or a [`Frame`] encoded
/// already (sent as it is, for example to many players).
///
/// ```
/// use podnet_framing::{Frame, FramingConfig, Message, Outgoing, WithAction};
/// use serde::Serialize;
///
/// #[derive(Message, Serialize)]
/// struct Chat { text: String }
///
/// let config = FramingConfig::default();
/// let typed = Chat { text: "hi".into() };
/// let named = WithAction("chat", &[("text", "hi")].into_iter().collect::<std::collections::BTreeMap<_, _>>());
/// let encoded = Frame::encode(&typed, &config)?;
/// assert_eq!(typed.frame(&config)?.as_bytes(), encoded.as_bytes());
/// assert_eq!(named.frame(&config)?.as_bytes(), encoded.as_bytes());
/// assert_eq!(encoded.frame(&config)?.as_bytes(), encoded.as_bytes());
/// # Ok::<(), podnet_framing::FramingError>(())
/// ```
pub trait Outgoing {
    /// The frame that goes on the wire: encoded now, or borrowed if it is one already.
    ///
    /// # Errors
    ///
    /// As [`Frame::encode`]: a reserved action, a frame over the size limit, or fields
    /// that do not encode.
    fn frame(&self, config: &FramingConfig) -> Result<Cow<'_, Frame>, FramingError>;
}

impl<M: Message + Serialize + ?Sized> Outgoing for M {
    #[inline]
    fn frame(&self, config: &FramingConfig) -> Result<Cow<'_, Frame>, FramingError> {
        Frame::encode(self, config).map(Cow::Owned)
    }
}

impl Outgoing for Frame {
    #[inline]
    fn frame(&self, _config: &FramingConfig) -> Result<Cow<'_, Frame>, FramingError> {
        Ok(Cow::Borrowed(self))
    }
}

/// A message whose action is named at run time: the action, then its fields (any
/// serde map or struct; `&()` for none). `send(&WithAction("chat", &fields))` sends
/// `{"action": "chat", ...fields}`.
#[derive(Debug, Clone, Copy)]
pub struct WithAction<'a, T: ?Sized>(pub &'a str, pub &'a T);

impl<T: Serialize + ?Sized> Outgoing for WithAction<'_, T> {
    #[inline]
    fn frame(&self, config: &FramingConfig) -> Result<Cow<'_, Frame>, FramingError> {
        Frame::encode_with_action(self.0, self.1, config).map(Cow::Owned)
    }
}

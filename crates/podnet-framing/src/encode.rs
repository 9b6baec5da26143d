//! Encoding messages into frames, straight into the output buffer.
//!
//! (Past 500 lines: serde's `Serializer` trait asks for all of its thirty-odd methods,
//! even of the two small serializers here, the action wrapper and the check of the
//! `action` key, most of them one line.)

use std::cell::Cell;
use std::fmt;

use bytes::{BufMut, BytesMut};
use serde::ser::{self, Impossible, Serialize, SerializeMap, SerializeStruct, Serializer};

use crate::frame::FRAME_HEADER_LEN;
use crate::{FramingConfig, FramingError, Message, Value};

/// The key every message carries.
pub(crate) const ACTION: &str = "action";

/// Encodes `msg` as one frame at the end of `dst`: the length prefix, then a msgpack map of
/// `"action": M::ACTION` followed by the message's named fields.
///
/// Nothing is allocated per message beyond growing `dst`; on error `dst` is left as it
/// was.
///
/// # Errors
///
/// [`FramingError::EncodeNotAMap`] if `M` does not serialize as a struct or map,
/// [`FramingError::EncodeActionField`] if it has its own `action` field,
/// [`FramingError::MessageTooLarge`] if the payload is over `config.max_frame_length`.
///
/// # Example
///
/// ```
/// use bytes::BytesMut;
/// use podnet_framing::{encode_message, FramingConfig, Message};
/// use serde::Serialize;
///
/// #[derive(Serialize)]
/// struct Move { x: i32, y: i32 }
/// impl Message for Move { const ACTION: &'static str = "move"; }
///
/// let mut wire = BytesMut::new();
/// encode_message(&Move { x: 10, y: 20 }, &mut wire, &FramingConfig::default())?;
/// // 4-byte length, then {"action": "move", "x": 10, "y": 20} in msgpack.
/// assert_eq!(&wire[..4], &[0, 0, 0, 19]);
/// assert_eq!(wire[4], 0x83); // a map of three entries
/// # Ok::<(), podnet_framing::FramingError>(())
/// ```
pub fn encode_message<M>(
    msg: &M,
    dst: &mut BytesMut,
    config: &FramingConfig,
) -> Result<(), FramingError>
where
    M: Message + Serialize + ?Sized,
{
    encode_with_action(M::ACTION, msg, dst, config)
}

/// Encodes `msg` as one frame with the given action name; the untyped form of
/// [`encode_message`], for messages whose action is only known at run time.
///
/// `msg` may be a struct with named fields, a map with string keys, or `()` / a unit struct
/// for a message that is only an action.
///
/// # Errors
///
/// As [`encode_message`].
///
/// # Example
///
/// ```
/// use std::collections::BTreeMap;
/// use bytes::BytesMut;
/// use podnet_framing::{encode_with_action, FrameCodec, FramingConfig, RawMessage};
/// use tokio_util::codec::Decoder;
///
/// let config = FramingConfig::default();
/// let mut wire = BytesMut::new();
/// encode_with_action("ping", &(), &mut wire, &config)?;
/// encode_with_action("chat", &BTreeMap::from([("text", "hi")]), &mut wire, &config)?;
///
/// let mut codec = FrameCodec::new(&config);
/// let ping = RawMessage::parse(codec.decode(&mut wire)?.unwrap(), &config)?;
/// let chat = RawMessage::parse(codec.decode(&mut wire)?.unwrap(), &config)?;
/// assert_eq!((ping.action(), chat.action()), ("ping", "chat"));
/// # Ok::<(), podnet_framing::FramingError>(())
/// ```
pub fn encode_with_action<T>(
    action: &str,
    msg: &T,
    dst: &mut BytesMut,
    config: &FramingConfig,
) -> Result<(), FramingError>
where
    T: Serialize + ?Sized,
{
    let start = dst.len();
    dst.put_u32(0);
    let fault = Cell::new(None);
    let result = {
        let mut inner = rmp_serde::Serializer::new((&mut *dst).writer()).with_struct_map();
        msg.serialize(ActionSerializer {
            inner: &mut inner,
            action,
            fault: &fault,
        })
    };
    if let Err(err) = result {
        dst.truncate(start);
        return Err(match fault.take() {
            Some(fault) => fault.into(),
            None => FramingError::Encode(err.to_string()),
        });
    }
    finish_frame(dst, start, config)
}

/// Encodes a dynamic value as one frame. The value must be a map with exactly one
/// `"action"` key whose value is a string, as every message is.
///
/// A string that is not valid UTF-8 (which a peer can send, and
/// [`RawMessage::to_value`](crate::RawMessage::to_value) keeps as such) is written as
/// msgpack bin, as rmpv writes it: relaying a decoded message changes only that.
/// Python's msgpack would refuse such a string anyway.
///
/// # Errors
///
/// [`FramingError::NotAMap`], [`FramingError::MissingAction`],
/// [`FramingError::ActionNotString`] or [`FramingError::DuplicateAction`] if `value` is not
/// a message; [`FramingError::MessageTooLarge`] as for [`encode_message`].
///
/// # Example
///
/// ```
/// use bytes::BytesMut;
/// use podnet_framing::{encode_value, FramingConfig, Value};
///
/// let msg = Value::Map(vec![
///     (Value::from("action"), Value::from("chat")),
///     (Value::from("text"), Value::from("hello")),
/// ]);
/// let mut wire = BytesMut::new();
/// encode_value(&msg, &mut wire, &FramingConfig::default())?;
/// assert_eq!(wire.len(), 4 + 24);
///
/// assert!(encode_value(&Value::from(5), &mut wire, &FramingConfig::default()).is_err());
/// # Ok::<(), podnet_framing::FramingError>(())
/// ```
pub fn encode_value(
    value: &Value,
    dst: &mut BytesMut,
    config: &FramingConfig,
) -> Result<(), FramingError> {
    check_value_is_message(value)?;
    let start = dst.len();
    dst.put_u32(0);
    if let Err(err) = rmpv::encode::write_value(&mut (&mut *dst).writer(), value) {
        dst.truncate(start);
        return Err(FramingError::Encode(err.to_string()));
    }
    finish_frame(dst, start, config)
}

fn check_value_is_message(value: &Value) -> Result<(), FramingError> {
    let Value::Map(entries) = value else {
        return Err(FramingError::NotAMap {
            found: value_kind(value),
        });
    };
    let mut actions = entries.iter().filter(|(k, _)| k.as_str() == Some(ACTION));
    match (actions.next(), actions.next()) {
        (None, _) => Err(FramingError::MissingAction),
        (Some(_), Some(_)) => Err(FramingError::DuplicateAction),
        (Some((_, Value::String(s))), None) if s.is_str() => Ok(()),
        (Some((_, Value::String(_))), None) => Err(FramingError::ActionNotUtf8),
        (Some((_, other)), None) => Err(FramingError::ActionNotString {
            found: value_kind(other),
        }),
    }
}

fn value_kind(value: &Value) -> &'static str {
    match value {
        Value::Nil => "nil",
        Value::Boolean(_) => "bool",
        Value::Integer(_) => "int",
        Value::F32(_) | Value::F64(_) => "float",
        Value::String(_) => "str",
        Value::Binary(_) => "bin",
        Value::Array(_) => "array",
        Value::Map(_) => "map",
        Value::Ext(..) => "ext",
    }
}

/// Writes the payload length into the header reserved at `start`, or undoes the frame if
/// the payload is over the maximum.
fn finish_frame(
    dst: &mut BytesMut,
    start: usize,
    config: &FramingConfig,
) -> Result<(), FramingError> {
    let len = dst.len() - start - FRAME_HEADER_LEN;
    let Some(prefix) = u32::try_from(len)
        .ok()
        .filter(|_| len <= config.max_frame_length)
    else {
        dst.truncate(start);
        return Err(FramingError::MessageTooLarge {
            len,
            max: config.max_frame_length,
        });
    };
    dst[start..start + FRAME_HEADER_LEN].copy_from_slice(&prefix.to_be_bytes());
    Ok(())
}

/// Why the [`ActionSerializer`] refused a value. serde's error type can only carry a
/// string, so the reason travels beside it and becomes a typed [`FramingError`].
#[derive(Debug, Clone, Copy)]
enum Fault {
    NotAMap(&'static str),
    ActionField,
    UnknownLength,
}

impl From<Fault> for FramingError {
    fn from(fault: Fault) -> Self {
        match fault {
            Fault::NotAMap(found) => FramingError::EncodeNotAMap { found },
            Fault::ActionField => FramingError::EncodeActionField,
            Fault::UnknownLength => FramingError::EncodeUnknownLength,
        }
    }
}

/// Serializes a message's top level: a struct or map becomes a map with one more entry,
/// `"action"`, written first; anything else is refused. Values below the top level go
/// straight to the inner serializer.
struct ActionSerializer<'a, S> {
    inner: S,
    action: &'a str,
    fault: &'a Cell<Option<Fault>>,
}

impl<'a, S: Serializer> ActionSerializer<'a, S> {
    fn refuse<T>(&self, fault: Fault) -> Result<T, S::Error> {
        self.fault.set(Some(fault));
        Err(ser::Error::custom(FramingError::from(fault)))
    }

    fn open(self, fields: usize) -> Result<ActionMap<'a, S::SerializeMap>, S::Error> {
        let fault = self.fault;
        let mut map = self.inner.serialize_map(Some(fields + 1))?;
        map.serialize_entry(ACTION, self.action)?;
        Ok(ActionMap { inner: map, fault })
    }

    fn only_action(self) -> Result<S::Ok, S::Error> {
        self.open(0)?.inner.end()
    }
}

/// Refuses a non-map top-level value of the given kind.
macro_rules! refuse {
    ($($method:ident($($arg:ty),*) => $found:literal;)*) => {
        $(fn $method(self, $(_: $arg),*) -> Result<Self::Ok, Self::Error> {
            self.refuse(Fault::NotAMap($found))
        })*
    };
}

impl<'a, S: Serializer> Serializer for ActionSerializer<'a, S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Impossible<S::Ok, S::Error>;
    type SerializeTuple = Impossible<S::Ok, S::Error>;
    type SerializeTupleStruct = Impossible<S::Ok, S::Error>;
    type SerializeTupleVariant = Impossible<S::Ok, S::Error>;
    type SerializeMap = ActionMap<'a, S::SerializeMap>;
    type SerializeStruct = ActionMap<'a, S::SerializeMap>;
    type SerializeStructVariant = Impossible<S::Ok, S::Error>;

    refuse! {
        serialize_bool(bool) => "a bool";
        serialize_i8(i8) => "an integer";
        serialize_i16(i16) => "an integer";
        serialize_i32(i32) => "an integer";
        serialize_i64(i64) => "an integer";
        serialize_i128(i128) => "an integer";
        serialize_u8(u8) => "an integer";
        serialize_u16(u16) => "an integer";
        serialize_u32(u32) => "an integer";
        serialize_u64(u64) => "an integer";
        serialize_u128(u128) => "an integer";
        serialize_f32(f32) => "a float";
        serialize_f64(f64) => "a float";
        serialize_char(char) => "a char";
        serialize_str(&str) => "a string";
        serialize_bytes(&[u8]) => "bytes";
        serialize_none() => "None";
        serialize_unit_variant(&'static str, u32, &'static str) => "an enum";
    }

    fn serialize_unit(self) -> Result<S::Ok, S::Error> {
        self.only_action()
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<S::Ok, S::Error> {
        self.only_action()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        value.serialize(self)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<S::Ok, S::Error> {
        self.refuse(Fault::NotAMap("an enum"))
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        self.refuse(Fault::NotAMap("a sequence"))
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, S::Error> {
        self.refuse(Fault::NotAMap("a tuple"))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        self.refuse(Fault::NotAMap("a tuple struct"))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        self.refuse(Fault::NotAMap("an enum"))
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        match len {
            Some(len) => self.open(len),
            None => self.refuse(Fault::UnknownLength),
        }
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        self.open(len)
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        self.refuse(Fault::NotAMap("an enum"))
    }

    fn is_human_readable(&self) -> bool {
        false
    }
}

/// The message map once `"action"` is written: forwards the entries and refuses a second
/// `"action"`.
struct ActionMap<'a, M> {
    inner: M,
    fault: &'a Cell<Option<Fault>>,
}

impl<M: SerializeMap> ActionMap<'_, M> {
    fn refuse_action_key(&self) -> Result<(), M::Error> {
        self.fault.set(Some(Fault::ActionField));
        Err(ser::Error::custom(FramingError::EncodeActionField))
    }
}

impl<M: SerializeMap> SerializeStruct for ActionMap<'_, M> {
    type Ok = M::Ok;
    type Error = M::Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), M::Error> {
        if key == ACTION {
            return self.refuse_action_key();
        }
        self.inner.serialize_entry(key, value)
    }

    fn end(self) -> Result<M::Ok, M::Error> {
        self.inner.end()
    }
}

impl<M: SerializeMap> SerializeMap for ActionMap<'_, M> {
    type Ok = M::Ok;
    type Error = M::Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), M::Error> {
        if key.serialize(IsActionKey).unwrap_or(false) {
            return self.refuse_action_key();
        }
        self.inner.serialize_key(key)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), M::Error> {
        self.inner.serialize_value(value)
    }

    fn end(self) -> Result<M::Ok, M::Error> {
        self.inner.end()
    }
}

/// Answers whether a map key is the string `"action"`; any other key shape is "no".
struct IsActionKey;

/// The error of [`IsActionKey`]: the key was not a plain string.
#[derive(Debug)]
struct NotAString;

impl fmt::Display for NotAString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a string key")
    }
}

impl std::error::Error for NotAString {}

impl ser::Error for NotAString {
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        NotAString
    }
}

/// Answers "not the action key" for every key shape but a string.
macro_rules! not_action {
    ($($method:ident($($arg:ty),*);)*) => {
        $(fn $method(self, $(_: $arg),*) -> Result<bool, NotAString> {
            Ok(false)
        })*
    };
}

impl Serializer for IsActionKey {
    type Ok = bool;
    type Error = NotAString;
    type SerializeSeq = Impossible<bool, NotAString>;
    type SerializeTuple = Impossible<bool, NotAString>;
    type SerializeTupleStruct = Impossible<bool, NotAString>;
    type SerializeTupleVariant = Impossible<bool, NotAString>;
    type SerializeMap = Impossible<bool, NotAString>;
    type SerializeStruct = Impossible<bool, NotAString>;
    type SerializeStructVariant = Impossible<bool, NotAString>;

    fn serialize_str(self, key: &str) -> Result<bool, NotAString> {
        Ok(key == ACTION)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<bool, NotAString> {
        value.serialize(self)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<bool, NotAString> {
        value.serialize(self)
    }

    not_action! {
        serialize_bool(bool);
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_u8(u8);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_f32(f32);
        serialize_f64(f64);
        serialize_char(char);
        serialize_bytes(&[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(&'static str);
        serialize_unit_variant(&'static str, u32, &'static str);
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<bool, NotAString> {
        Ok(false)
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, NotAString> {
        Err(NotAString)
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, NotAString> {
        Err(NotAString)
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, NotAString> {
        Err(NotAString)
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, NotAString> {
        Err(NotAString)
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, NotAString> {
        Err(NotAString)
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, NotAString> {
        Err(NotAString)
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, NotAString> {
        Err(NotAString)
    }
}

//! Property tests: any message round-trips, any chunking of a stream yields the same
//! messages, and no input makes any reader panic.

// Tests fail by panicking; helpers outside `#[test]` functions may too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use podnet_framing::{
    BatchDecoder, Decoded, FrameCodec, FramingConfig, Message, RawMessage, Value, decode,
    decode_value, encode_message, encode_value, peek_action,
};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use tokio_util::codec::Decoder;

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Nil),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        // NaN is never equal to itself, which would fail round trips that did succeed.
        any::<f64>()
            .prop_filter("not NaN", |f| !f.is_nan())
            .prop_map(Value::F64),
        any::<f32>()
            .prop_filter("not NaN", |f| !f.is_nan())
            .prop_map(Value::F32),
        "\\PC{0,24}".prop_map(Value::from),
        vec(any::<u8>(), 0..40).prop_map(Value::Binary),
        (any::<i8>(), vec(any::<u8>(), 0..20)).prop_map(|(t, d)| Value::Ext(t, d)),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..8).prop_map(Value::Array),
            vec((inner.clone(), inner), 0..6).prop_map(Value::Map),
        ]
    })
}

/// A message: a string action, then fields under other string keys.
fn message() -> impl Strategy<Value = Value> {
    (
        "\\PC{0,16}",
        btree_map(
            "[a-z_]{1,10}".prop_filter("not the action key", |k| k != "action"),
            value(),
            0..8,
        ),
    )
        .prop_map(|(action, fields)| {
            let mut entries = vec![(Value::from("action"), Value::from(action))];
            entries.extend(fields.into_iter().map(|(k, v)| (Value::from(k), v)));
            Value::Map(entries)
        })
}

/// `msg` with its action moved under the reserved prefix `r:`.
fn reserved(mut msg: Value) -> Value {
    if let Value::Map(entries) = &mut msg {
        if let Some((_, action)) = entries.first_mut() {
            *action = format!("r:{}", action.as_str().unwrap_or_default()).into();
        }
    }
    msg
}

/// `stream` cut into reads of the sizes `cuts` gives, over and over.
fn reads(mut stream: BytesMut, cuts: Vec<usize>) -> impl Iterator<Item = BytesMut> {
    let mut cuts = cuts.into_iter().cycle();
    std::iter::from_fn(move || {
        let n = cuts.next().unwrap_or(usize::MAX).min(stream.len());
        (n > 0).then(|| stream.split_to(n))
    })
}

/// A message as the batch test compares it: reserved (action `r:...`) or not, and its
/// action and bytes.
fn describe(msg: &RawMessage) -> String {
    let kind = if msg.action().starts_with("r:") {
        "reserved"
    } else {
        "message"
    };
    format!("{kind} {:?} {:?}", msg.action(), msg.payload())
}

fn encoded(msg: &Value) -> BytesMut {
    let mut wire = BytesMut::new();
    encode_value(msg, &mut wire, &FramingConfig::default()).expect("a message encodes");
    wire
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Inner {
    a: u8,
    b: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Typed {
    id: u64,
    delta: i64,
    ratio: f64,
    name: String,
    tags: Vec<String>,
    flag: Option<bool>,
    #[serde(with = "serde_bytes")]
    blob: Vec<u8>,
    pos: (i32, i32),
    scores: BTreeMap<String, i32>,
    inner: Inner,
}
impl Message for Typed {
    const ACTION: &'static str = "typed";
}

fn typed() -> impl Strategy<Value = Typed> {
    (
        (
            any::<u64>(),
            any::<i64>(),
            any::<f64>().prop_filter("not NaN", |f| !f.is_nan()),
        ),
        ("\\PC{0,20}", vec("\\PC{0,8}", 0..5), any::<Option<bool>>()),
        (vec(any::<u8>(), 0..64), any::<(i32, i32)>()),
        (
            btree_map("\\PC{0,6}", any::<i32>(), 0..5),
            any::<u8>(),
            any::<Option<String>>(),
        ),
    )
        .prop_map(
            |((id, delta, ratio), (name, tags, flag), (blob, pos), (scores, a, b))| Typed {
                id,
                delta,
                ratio,
                name,
                tags,
                flag,
                blob,
                pos,
                scores,
                inner: Inner { a, b },
            },
        )
}

/// Runs every reader on `payload`; none may panic. Returns whether it parsed as a message.
fn read_everything(payload: &[u8], config: &FramingConfig) -> bool {
    let _ = peek_action(payload, config);
    let _ = decode::<Value>(payload, config);
    let _ = decode::<Typed>(payload, config);
    let _ = decode_value(payload, config);
    match RawMessage::parse(Bytes::copy_from_slice(payload), config) {
        Ok(msg) => {
            let _ = msg.decode::<Typed>();
            // What parses is a map with one string action, and reads back as such.
            let value = msg
                .to_value()
                .unwrap_or_else(|e| panic!("a parsed message reads as a value: {e}: {payload:x?}"));
            assert_eq!(value["action"].as_str(), Some(msg.action()));
            assert_eq!(peek_action(payload, config).ok(), Some(msg.action()));
            true
        }
        Err(err) => {
            assert!(!err.is_fatal(), "payload errors are never fatal: {err}");
            false
        }
    }
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| depth(k).max(depth(v)))
                .max()
                .unwrap_or(0)
        }
        _ => 0,
    }
}

/// rmpv's view of a payload: is it exactly one map, within `max_depth`, with exactly one
/// "action" key whose value is a UTF-8 string?
fn rmpv_says_message(payload: &[u8], max_depth: usize) -> bool {
    let mut rest = payload;
    // rmpv's own budget counts differently (two per container); give it room and let
    // `depth` apply the limit as podnet defines it.
    let Ok(value) = rmpv::decode::read_value_with_max_depth(&mut rest, 4 * max_depth + 8) else {
        return false;
    };
    let Value::Map(entries) = &value else {
        return false;
    };
    let actions: Vec<_> = entries
        .iter()
        .filter(|(k, _)| k.as_str() == Some("action"))
        .collect();
    rest.is_empty()
        && depth(&value) <= max_depth
        && actions.len() == 1
        && actions[0].1.as_str().is_some()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any message encodes to a frame that decodes back to the same value and action.
    #[test]
    fn any_message_round_trips(msg in message()) {
        let config = FramingConfig::default();
        let mut wire = encoded(&msg);
        let payload = FrameCodec::new(&config).decode(&mut wire).unwrap().unwrap();
        prop_assert!(wire.is_empty());
        let raw = RawMessage::parse(payload, &config).unwrap();
        prop_assert_eq!(Some(raw.action()), msg["action"].as_str());
        prop_assert_eq!(raw.to_value().unwrap(), msg);
    }

    /// Any typed message encodes through serde and decodes back equal.
    #[test]
    fn any_typed_message_round_trips(msg in typed()) {
        let config = FramingConfig::default();
        let mut wire = BytesMut::new();
        encode_message(&msg, &mut wire, &config).unwrap();
        let payload = FrameCodec::new(&config).decode(&mut wire).unwrap().unwrap();
        let raw = RawMessage::parse(payload, &config).unwrap();
        prop_assert_eq!(raw.action(), "typed");
        prop_assert_eq!(raw.decode::<Typed>().unwrap(), msg);
    }

    /// However a stream of frames is split into reads, the decoder yields the same
    /// payloads in the same order.
    #[test]
    fn any_split_yields_the_same_messages(
        msgs in vec(message(), 1..12),
        cuts in vec(1usize..97, 0..64),
    ) {
        let config = FramingConfig::default();
        let mut stream = BytesMut::new();
        let mut want = Vec::new();
        for msg in &msgs {
            let frame = encoded(msg);
            want.push(Bytes::copy_from_slice(&frame[4..]));
            stream.extend_from_slice(&frame);
        }
        let mut codec = FrameCodec::new(&config);
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for read in reads(stream, cuts) {
            buf.extend_from_slice(&read);
            while let Some(payload) = codec.decode(&mut buf).unwrap() {
                got.push(payload);
            }
        }
        prop_assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
        prop_assert_eq!(got, want);
    }

    /// However a stream of messages, reserved messages and bad frames is split into reads,
    /// a batch decoder taking a batch after every read yields the messages in order and
    /// equal to what `RawMessage::parse` makes of them, hands out the reserved ones, and
    /// reports each bad frame, each in its place.
    #[test]
    fn any_split_batches_the_same_messages(
        frames in vec(
            prop_oneof![
                message().prop_map(Ok),
                message().prop_map(|msg| Ok(reserved(msg))),
                (any::<u8>(), vec(any::<u8>(), 0..4)).prop_map(Err),
            ],
            1..16,
        ),
        cuts in vec(1usize..97, 0..64),
    ) {
        let config = FramingConfig::default();
        let mut stream = BytesMut::new();
        let mut want = Vec::new();
        for frame in &frames {
            let payload = match frame {
                Ok(msg) => Bytes::copy_from_slice(&encoded(msg)[4..]),
                // A few bytes: a fixint, an array, a truncated value, nothing.
                Err((head, rest)) => [&[*head][..], rest].concat().into(),
            };
            want.push(match RawMessage::parse(payload.clone(), &config) {
                Ok(msg) => describe(&msg),
                Err(_) => "bad".to_owned(),
            });
            stream.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            stream.extend_from_slice(&payload);
        }
        let mut decoder = BatchDecoder::new(&config).with_reserved_prefix("r:");
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for read in reads(stream, cuts) {
            buf.extend_from_slice(&read);
            // Messages wait in the batch; the others are known at once.
            let mut places: Vec<Option<String>> = Vec::new();
            while let Some(decoded) = decoder.decode(&mut buf).unwrap() {
                places.push(match decoded {
                    Decoded::Message => None,
                    Decoded::Reserved(msg) => Some(describe(&msg)),
                    Decoded::NotAMessage(err) => {
                        prop_assert!(!err.is_fatal());
                        Some("bad".to_owned())
                    }
                    other => panic!("unknown outcome {other:?}"),
                });
            }
            let mut messages = decoder.take(&mut buf).into_iter();
            for place in places {
                got.push(place.unwrap_or_else(|| {
                    describe(&messages.next().expect("a message for each place"))
                }));
            }
            prop_assert!(messages.next().is_none());
        }
        prop_assert!(!decoder.is_mid_frame(&buf));
        prop_assert_eq!(got, want);
    }

    /// Arbitrary bytes, as a stream or as a payload, never make a reader panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..600)) {
        let config = FramingConfig::default().with_max_frame_length(256);
        read_everything(&bytes, &config);
        let mut codec = FrameCodec::new(&config);
        let mut buf = BytesMut::from(&bytes[..]);
        loop {
            match codec.decode_eof(&mut buf) {
                Ok(Some(payload)) => { read_everything(&payload, &config); }
                Ok(None) => break,
                Err(err) => { prop_assert!(err.is_fatal()); break; }
            }
        }
    }

    /// Arbitrary bytes behind a map marker (so the scanner goes deep) never panic.
    #[test]
    fn arbitrary_maps_never_panic(marker in 0x80u8..0x90, bytes in vec(any::<u8>(), 0..400)) {
        let mut payload = vec![marker];
        payload.extend(bytes);
        read_everything(&payload, &FramingConfig::default().with_max_depth(6));
    }

    /// A damaged message (a byte changed, removed or added) never panics, and the scanner
    /// accepts it exactly when rmpv reads it as one map with one string action.
    #[test]
    fn damaged_messages_agree_with_rmpv(
        msg in message(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4),
    ) {
        let config = FramingConfig::default().with_max_depth(4);
        let mut payload = encoded(&msg)[4..].to_vec();
        for (at, byte, kind) in edits {
            match kind {
                0 if !payload.is_empty() => { let i = at.index(payload.len()); payload[i] = byte; }
                1 if !payload.is_empty() => { payload.remove(at.index(payload.len())); }
                _ => payload.insert(at.index(payload.len() + 1), byte),
            }
        }
        let ours = read_everything(&payload, &config);
        let hex: String = payload.iter().map(|b| format!("{b:02x}")).collect();
        let theirs = rmpv_says_message(&payload, config.max_depth);
        if payload.contains(&0xc1) {
            // rmpv reads the never-used marker 0xc1 as nil; podnet refuses it, as Python's
            // msgpack does (and rmp-serde would hit a debug assertion on it). Where the byte
            // appears, possibly as a marker, podnet may only be the stricter of the two.
            prop_assert!(!ours || theirs, "payload {}", hex);
        } else {
            prop_assert_eq!(ours, theirs, "payload {}", hex);
        }
    }
}

//! The codec catalogue: every framing and payload case, as pure functions on `BytesMut`.

// Tests fail by panicking; helpers outside `#[test]` functions may too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use bytes::{BufMut, Bytes, BytesMut};
use podnet_framing::{
    FrameCodec, FramingConfig, FramingError, Message, RawMessage, Value, decode, decode_value,
    encode_message, encode_value, encode_with_action, peek_action,
};
use serde::{Deserialize, Serialize};
use tokio_util::codec::{Decoder, Encoder};

fn config() -> FramingConfig {
    FramingConfig::default()
}

fn codec() -> FrameCodec {
    FrameCodec::new(&config())
}

/// `payload` with its 4-byte length prefix.
fn framed(payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

/// msgpack for {"action": "ping"}.
const PING: &[u8] = b"\x81\xa6action\xa4ping";

fn parse(payload: &[u8]) -> Result<RawMessage, FramingError> {
    RawMessage::parse(Bytes::copy_from_slice(payload), &config())
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Move {
    x: i32,
    y: i32,
    z: i32,
}
impl Message for Move {
    const ACTION: &'static str = "move";
}

/// A header that arrives a byte at a time yields nothing until the frame is whole.
#[test]
fn partial_header() {
    let mut codec = codec();
    let wire = framed(PING);
    let mut buf = BytesMut::new();
    for &b in &wire[..4] {
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        buf.put_u8(b);
    }
    buf.extend_from_slice(&wire[4..]);
    assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), PING);
    assert!(buf.is_empty());
}

/// A body that arrives in pieces yields the frame once, when its last byte is in.
#[test]
fn partial_body() {
    let mut codec = codec();
    let wire = framed(PING);
    let mut buf = BytesMut::from(&wire[..7]);
    assert_eq!(codec.decode(&mut buf).unwrap(), None);
    buf.extend_from_slice(&wire[7..wire.len() - 1]);
    assert_eq!(codec.decode(&mut buf).unwrap(), None);
    buf.extend_from_slice(&wire[wire.len() - 1..]);
    assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), PING);
}

/// A length prefix is a claim, not data: a peer that announces the maximum and sends
/// one byte does not make the decoder reserve the maximum.
#[test]
fn partial_body_reserves_only_a_step() {
    let config = config();
    let mut codec = FrameCodec::new(&config);
    let mut buf = BytesMut::new();
    buf.put_u32(config.max_frame_length as u32);
    buf.put_u8(0x81);
    assert_eq!(codec.decode(&mut buf).unwrap(), None);
    assert!(
        buf.capacity() <= 128 * 1024,
        "reserved {} bytes for a frame that sent 1",
        buf.capacity()
    );
}

/// Several frames in one buffer come out one by one, in order, leaving the partial rest.
#[test]
fn several_frames_in_one_buffer() {
    let mut codec = codec();
    let config = config();
    let mut buf = BytesMut::new();
    for i in 0..3 {
        encode_message(&Move { x: i, y: -i, z: 0 }, &mut buf, &config).unwrap();
    }
    buf.extend_from_slice(&framed(PING)[..5]);
    for i in 0..3 {
        let msg = RawMessage::parse(codec.decode(&mut buf).unwrap().unwrap(), &config).unwrap();
        assert_eq!(msg.decode::<Move>().unwrap(), Move { x: i, y: -i, z: 0 });
    }
    assert_eq!(codec.decode(&mut buf).unwrap(), None);
    assert_eq!(
        buf.len(),
        1,
        "the partial fourth frame's body byte stays buffered"
    );
}

/// A zero-length frame is a frame; its empty payload is not a message, and the stream
/// goes on.
#[test]
fn zero_length_frame() {
    let mut codec = codec();
    let mut buf = BytesMut::from(&[0, 0, 0, 0][..]);
    buf.extend_from_slice(&framed(PING));
    let empty = codec.decode(&mut buf).unwrap().unwrap();
    assert!(empty.is_empty());
    let err = parse(&empty).unwrap_err();
    assert!(matches!(err, FramingError::EmptyPayload));
    assert!(!err.is_fatal());
    assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), PING);
}

/// A frame of exactly the maximum is accepted, both ways.
#[test]
fn exactly_max() {
    let config = FramingConfig::default().with_max_frame_length(64);
    let mut codec = FrameCodec::new(&config);
    let payload = vec![7u8; 64];
    let mut buf = BytesMut::new();
    codec.encode(&payload[..], &mut buf).unwrap();
    assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), payload);

    // A message whose payload is exactly the maximum encodes.
    let text = "x".repeat(64 - 1 - 7 - 5 - 5 - 2); // map, "action", "move", "text", str8 header
    let mut buf = BytesMut::new();
    encode_with_action("move", &HashMap::from([("text", text)]), &mut buf, &config).unwrap();
    assert_eq!(buf.len(), 4 + 64);
}

/// One byte over the maximum is refused on its header alone, and fatally.
#[test]
fn max_plus_one() {
    let config = FramingConfig::default().with_max_frame_length(64);
    let mut codec = FrameCodec::new(&config);
    let mut buf = BytesMut::new();
    buf.put_u32(65);
    let err = codec.decode(&mut buf).unwrap_err();
    assert!(matches!(
        err,
        FramingError::FrameTooLarge { len: 65, max: 64 }
    ));
    assert!(err.is_fatal());
    assert!(err.to_string().contains("max_frame_length"), "{err}");

    // Writing one byte over is refused too, and leaves the buffer as it was.
    let mut out = BytesMut::from(&b"kept"[..]);
    let err = codec.encode(&[0u8; 65][..], &mut out).unwrap_err();
    assert!(matches!(
        err,
        FramingError::MessageTooLarge { len: 65, max: 64 }
    ));
    let text = "x".repeat(64 - 1 - 7 - 5 - 5 - 2 + 1);
    let err = encode_with_action("move", &HashMap::from([("text", text)]), &mut out, &config)
        .unwrap_err();
    assert!(matches!(
        err,
        FramingError::MessageTooLarge { len: 65, max: 64 }
    ));
    assert_eq!(&out[..], b"kept");
}

/// The largest length a prefix can claim is refused at once, whatever follows.
#[test]
fn length_prefix_of_u32_max() {
    let mut codec = codec();
    let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff, 0x81][..]);
    assert!(matches!(
        codec.decode(&mut buf),
        Err(FramingError::FrameTooLarge {
            len: 0xffff_ffff,
            ..
        })
    ));
}

/// A payload that is valid msgpack but not a map is not a message, and not fatal.
#[test]
fn non_map_payload() {
    let cases: &[(&[u8], &str)] = &[
        (b"\x92\x01\x02", "array"),
        (b"\xa4ping", "str"),
        (b"\x05", "int"),
        (b"\xc0", "nil"),
        (b"\xc3", "bool"),
        (b"\xcb\x3f\xf8\0\0\0\0\0\0", "float"),
        (b"\xc4\x01\x00", "bin"),
    ];
    for &(payload, kind) in cases {
        let err = parse(payload).unwrap_err();
        assert!(
            matches!(err, FramingError::NotAMap { found } if found == kind),
            "{payload:x?}: {err}"
        );
        assert!(!err.is_fatal());
        assert!(peek_action(payload, &config()).is_err());
        assert!(decode_value(payload, &config()).is_err());
    }
}

/// A map without "action" is not a message.
#[test]
fn no_action() {
    for payload in [&b"\x80"[..], b"\x81\xa1x\x01", b"\x81\xa7actions\xa4ping"] {
        assert!(matches!(parse(payload), Err(FramingError::MissingAction)));
        assert!(matches!(
            peek_action(payload, &config()),
            Err(FramingError::MissingAction)
        ));
    }
}

/// An "action" that is not a string is not a message.
#[test]
fn non_string_action() {
    let cases: &[(&[u8], &str)] = &[
        (b"\x81\xa6action\x05", "int"),
        (b"\x81\xa6action\xc0", "nil"),
        (b"\x81\xa6action\x91\xa4ping", "array"),
        (b"\x81\xa6action\xc4\x04ping", "bin"),
    ];
    for &(payload, kind) in cases {
        let err = parse(payload).unwrap_err();
        assert!(
            matches!(err, FramingError::ActionNotString { found } if found == kind),
            "{payload:x?}: {err}"
        );
    }
    // A str that is not UTF-8 is refused too.
    assert!(matches!(
        parse(b"\x81\xa6action\xa2\xff\xfe"),
        Err(FramingError::ActionNotUtf8)
    ));
}

/// "action" twice is ambiguous, so it is not a message.
#[test]
fn duplicate_action() {
    let payload = b"\x82\xa6action\xa4ping\xa6action\xa4pong";
    assert!(matches!(parse(payload), Err(FramingError::DuplicateAction)));
    // The same when one of the keys is a str8, as some encoders write short strings.
    let payload = b"\x82\xa6action\xa4ping\xd9\x06action\xa4pong";
    assert!(matches!(parse(payload), Err(FramingError::DuplicateAction)));
    let payload = b"\x82\xd9\x06action\xa4ping\xa6action\xa4pong";
    assert!(matches!(parse(payload), Err(FramingError::DuplicateAction)));
}

/// The key and the action may be any string form, not only the short one.
#[test]
fn action_in_long_string_forms() {
    for payload in [
        &b"\x81\xd9\x06action\xa4ping"[..],
        b"\x81\xa6action\xd9\x04ping",
        b"\x81\xda\x00\x06action\xdb\x00\x00\x00\x04ping",
        b"\x82\xa1x\x01\xd9\x06action\xd9\x04ping",
    ] {
        let msg = parse(payload).unwrap_or_else(|e| panic!("{payload:x?}: {e}"));
        assert_eq!(msg.action(), "ping", "{payload:x?}");
    }
}

/// A message cut anywhere is truncated: never a panic, never a message.
#[test]
fn truncated() {
    let config = config();
    let mut buf = BytesMut::new();
    encode_with_action(
        "state",
        &HashMap::from([("xs", vec![1u32, 300, 70_000]), ("ys", vec![])]),
        &mut buf,
        &config,
    )
    .unwrap();
    let payload = &buf[4..];
    for cut in 1..payload.len() {
        let err = parse(&payload[..cut]).unwrap_err();
        assert!(
            matches!(err, FramingError::Truncated),
            "cut at {cut}: {err}"
        );
        assert!(decode::<Value>(&payload[..cut], &config).is_err());
    }
    assert!(matches!(parse(&[]), Err(FramingError::EmptyPayload)));

    // A stream that ends inside a frame is reported at end of stream.
    let mut codec = FrameCodec::new(&config);
    let mut partial = BytesMut::from(&buf[..buf.len() - 1]);
    assert!(matches!(
        codec.decode_eof(&mut partial),
        Err(FramingError::TruncatedStream { .. })
    ));
    let mut header_only = BytesMut::from(&buf[..2]);
    let err = FrameCodec::new(&config)
        .decode_eof(&mut header_only)
        .unwrap_err();
    assert!(matches!(err, FramingError::TruncatedStream { buffered: 2 }));
    assert!(err.is_fatal());
    // The first codec still holds the unfinished frame's header: the end is truncated even
    // with nothing more buffered. A codec between frames ends cleanly.
    assert!(matches!(
        codec.decode_eof(&mut BytesMut::new()),
        Err(FramingError::TruncatedStream { buffered: 4 })
    ));
    assert_eq!(
        FrameCodec::new(&config)
            .decode_eof(&mut BytesMut::new())
            .unwrap(),
        None
    );
}

/// Bytes after the message inside its frame are an error.
#[test]
fn trailing_bytes() {
    let mut payload = PING.to_vec();
    payload.extend_from_slice(b"\x01\x02");
    assert!(matches!(
        parse(&payload),
        Err(FramingError::TrailingBytes { count: 2 })
    ));
    assert!(decode::<Value>(&payload, &config()).is_err());
    assert!(decode_value(&payload, &config()).is_err());
}

/// 100,000 nested arrays are an error for every reader, never a stack overflow, even on a
/// thread with a small stack.
#[test]
fn deep_nesting() {
    // {"a": [[[...]]], "action": "x"}: the nesting comes before the action, so even
    // `peek_action` has to walk it.
    let mut payload = b"\x82\xa1a".to_vec();
    payload.extend(std::iter::repeat_n(0x91u8, 100_000));
    payload.push(0x90);
    payload.extend_from_slice(b"\xa6action\xa1x");
    let payload = Bytes::from(payload);
    let config = config();

    let checks = std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(move || {
            let too_deep = |r: Result<(), FramingError>| {
                matches!(r, Err(FramingError::TooDeep { max_depth: 128 }))
            };
            [
                too_deep(RawMessage::parse(payload.clone(), &config).map(drop)),
                too_deep(peek_action(&payload, &config).map(drop)),
                too_deep(decode::<Value>(&payload, &config).map(drop)),
                too_deep(decode_value(&payload, &config).map(drop)),
            ]
        })
        .unwrap()
        .join()
        .expect("no stack overflow");
    assert_eq!(checks, [true; 4]);
}

/// Typed decoding ignores unknown keys, and a missing field is an error that names it.
#[test]
fn typed_decoding() {
    // {"action": "move", "x": 1, "extra": [1, 2], "y": 2, "z": 3}
    let payload = b"\x85\xa6action\xa4move\xa1x\x01\xa5extra\x92\x01\x02\xa1y\x02\xa1z\x03";
    assert_eq!(
        decode::<Move>(payload, &config()).unwrap(),
        Move { x: 1, y: 2, z: 3 }
    );
    let err = decode::<Move>(b"\x82\xa6action\xa4move\xa1x\x01", &config()).unwrap_err();
    assert!(
        matches!(err, FramingError::Field { field: None, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("missing field `y`"), "{err}");
    assert!(!err.is_fatal());
}

/// A field of the wrong type is named, with the type it expected: not rmp-serde's
/// "wrong msgpack marker".
#[test]
fn decoding_names_the_field_that_does_not_fit() {
    // {"action": "move", "x": 1, "y": "up", "z": 3}
    let payload = b"\x84\xa6action\xa4move\xa1x\x01\xa1y\xa2up\xa1z\x03";
    let err = decode::<Move>(payload, &config()).unwrap_err();
    let FramingError::Field { field, problem } = &err else {
        panic!("expected a field error, got {err:?}");
    };
    assert_eq!(field.as_deref(), Some("y"));
    assert!(problem.contains("expected i32"), "{problem}");
    assert!(
        err.to_string().starts_with("the field `y` does not fit"),
        "{err}"
    );
    assert!(!err.to_string().contains("marker"), "{err}");
}

/// Only structs and maps encode as messages; an own "action" field is refused.
#[test]
fn encoding_refuses_what_is_not_a_message() {
    let config = config();
    let mut buf = BytesMut::new();
    let err = encode_with_action("x", &5, &mut buf, &config).unwrap_err();
    assert!(matches!(
        err,
        FramingError::EncodeNotAMap {
            found: "an integer"
        }
    ));
    let err = encode_with_action("x", &vec![1, 2], &mut buf, &config).unwrap_err();
    assert!(matches!(
        err,
        FramingError::EncodeNotAMap {
            found: "a sequence"
        }
    ));
    let err = encode_with_action("x", &(1, 2), &mut buf, &config).unwrap_err();
    assert!(matches!(
        err,
        FramingError::EncodeNotAMap { found: "a tuple" }
    ));

    #[derive(Serialize)]
    struct HasAction {
        action: String,
    }
    let err =
        encode_with_action("x", &HasAction { action: "y".into() }, &mut buf, &config).unwrap_err();
    assert!(matches!(err, FramingError::EncodeActionField));
    let err =
        encode_with_action("x", &HashMap::from([("action", 1)]), &mut buf, &config).unwrap_err();
    assert!(matches!(err, FramingError::EncodeActionField));

    #[derive(Serialize)]
    struct Flattened {
        #[serde(flatten)]
        rest: HashMap<String, i32>,
    }
    let err = encode_with_action(
        "x",
        &Flattened {
            rest: HashMap::new(),
        },
        &mut buf,
        &config,
    )
    .unwrap_err();
    assert!(matches!(err, FramingError::EncodeUnknownLength));
    assert!(buf.is_empty(), "failed encodes leave nothing behind");

    for value in [
        Value::from(1),
        Value::Map(vec![]),
        Value::Map(vec![(Value::from("action"), Value::from(1))]),
    ] {
        assert!(encode_value(&value, &mut buf, &config).is_err(), "{value}");
    }
    assert!(buf.is_empty());
}

/// Unit structs, `()` and newtypes are messages with only an action, or their inner
/// struct's fields; skipped fields are not counted.
#[test]
fn encoding_shapes() {
    let config = config();
    #[derive(Serialize)]
    struct Ping;
    #[derive(Serialize)]
    struct Wrapped(Move);
    #[derive(Serialize)]
    struct Sparse {
        a: i32,
        #[serde(skip_serializing_if = "Option::is_none")]
        b: Option<i32>,
    }
    let mut buf = BytesMut::new();
    encode_with_action("ping", &Ping, &mut buf, &config).unwrap();
    encode_with_action("ping", &(), &mut buf, &config).unwrap();
    encode_with_action(
        "move",
        &Wrapped(Move { x: 1, y: 2, z: 3 }),
        &mut buf,
        &config,
    )
    .unwrap();
    encode_with_action("sparse", &Sparse { a: 1, b: None }, &mut buf, &config).unwrap();

    let mut codec = FrameCodec::new(&config);
    let mut next = || RawMessage::parse(codec.decode(&mut buf).unwrap().unwrap(), &config).unwrap();
    assert_eq!(next().payload(), PING);
    assert_eq!(next().payload(), PING);
    assert_eq!(next().decode::<Move>().unwrap(), Move { x: 1, y: 2, z: 3 });
    let sparse = next().to_value().unwrap();
    assert_eq!(sparse.as_map().unwrap().len(), 2);
    assert_eq!(sparse["a"], Value::from(1));
}

/// A payload exactly at the depth limit, with a string and an ext in its deepest level,
/// decodes through every reader; one level more is refused by all of them.
#[test]
fn depth_limit_is_reached_not_exceeded() {
    let config = FramingConfig::default().with_max_depth(3);
    // {"action": "x", "a": [[ "deep", ext ]]}: map, array, array = 3 levels.
    let at_limit = b"\x82\xa6action\xa1x\xa1a\x91\x92\xa4deep\xd4\x01\x07";
    let msg = RawMessage::parse(Bytes::from_static(at_limit), &config).unwrap();
    assert_eq!(msg.to_value().unwrap()["a"][0][0].as_str(), Some("deep"));
    assert!(msg.decode::<Value>().is_ok());
    assert!(decode_value(at_limit, &config).is_ok());

    let over = b"\x82\xa6action\xa1x\xa1a\x91\x91\x91\xa4deep";
    for result in [
        RawMessage::parse(Bytes::from_static(over), &config).map(drop),
        decode_value(over, &config).map(drop),
        decode::<Value>(over, &config).map(drop),
    ] {
        assert!(matches!(
            result,
            Err(FramingError::TooDeep { max_depth: 3 })
        ));
    }
}

/// A "length" that is text is another protocol, and the error says so instead of advising
/// a bigger limit.
#[test]
fn a_text_header_is_named_as_another_protocol() {
    let http = FramingError::FrameTooLarge {
        len: u64::from(u32::from_be_bytes(*b"HTTP")),
        max: 1 << 20,
    };
    let text = http.to_string();
    assert!(text.contains("does not speak the repod protocol"), "{text}");
    assert!(text.contains("\"HTTP\""), "{text}");
    assert!(!text.contains("raise"), "{text}");
    let big = FramingError::FrameTooLarge {
        len: 2 << 20,
        max: 1 << 20,
    };
    assert!(
        big.to_string()
            .contains("raise `FramingConfig::max_frame_length`")
    );
}

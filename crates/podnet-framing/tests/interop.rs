//! Interop with Python's msgpack, as repod uses it: frames Python wrote decode in Rust to the
//! expected values, and frames Rust writes decode in Python to the same dicts.
//!
//! `interop/frames.bin` was written by `interop/vectors.py generate`; the values below are
//! the same vectors written out in Rust, so the two languages are checked against each
//! other rather than against themselves.

// Tests fail by panicking; helpers outside `#[test]` functions may too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use bytes::BytesMut;
use podnet_framing::{
    FrameCodec, FramingConfig, Message, RawMessage, Value, encode_message, encode_value,
};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use tokio_util::codec::Decoder;

const PYTHON_FRAMES: &[u8] = include_bytes!("interop/frames.bin");

fn message(action: &str, fields: Vec<(&str, Value)>) -> Value {
    let mut entries = vec![(Value::from("action"), Value::from(action))];
    entries.extend(fields.into_iter().map(|(k, v)| (Value::from(k), v)));
    Value::Map(entries)
}

fn map(fields: Vec<(&str, Value)>) -> Value {
    Value::Map(
        fields
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect(),
    )
}

fn list(items: Vec<Value>) -> Value {
    Value::Array(items)
}

/// The vectors of `vectors.py`, in the same order and with the same key order.
fn expected() -> Vec<Value> {
    vec![
        message("connected", vec![]),
        message(
            "move",
            vec![
                ("x", Value::from(10)),
                ("y", Value::from(-20)),
                ("speed", Value::F64(1.5)),
            ],
        ),
        message(
            "chat",
            vec![
                (
                    "text",
                    Value::from("h\u{e9}llo w\u{f6}rld \u{2713} \u{1f3ae}"),
                ),
                ("who", Value::from("alice")),
                ("empty", Value::from("")),
            ],
        ),
        message(
            "blob",
            vec![
                ("data", Value::Binary((0..=255).collect())),
                ("empty", Value::Binary(vec![])),
                ("small", Value::Binary(vec![0x00, 0xff])),
            ],
        ),
        message(
            "ints",
            vec![
                ("zero", Value::from(0)),
                ("fixpos", Value::from(127)),
                ("u8", Value::from(255)),
                ("u16", Value::from(65535)),
                ("u32", Value::from(4_294_967_295u64)),
                ("u64", Value::from(u64::MAX)),
                ("i64_max", Value::from(i64::MAX)),
                ("fixneg", Value::from(-32)),
                ("i8", Value::from(-128)),
                ("i16", Value::from(-32768)),
                ("i32", Value::from(i64::from(i32::MIN))),
                ("i64", Value::from(i64::MIN)),
            ],
        ),
        message(
            "floats",
            vec![
                ("pi", Value::F64(std::f64::consts::PI)),
                ("neg", Value::F64(-0.5)),
                ("zero", Value::F64(0.0)),
                ("neg_zero", Value::F64(-0.0)),
                ("huge", Value::F64(1e300)),
                ("tiny", Value::F64(5e-324)),
                ("inf", Value::F64(f64::INFINITY)),
                ("ninf", Value::F64(f64::NEG_INFINITY)),
            ],
        ),
        message(
            "flags",
            vec![
                ("yes", Value::from(true)),
                ("no", Value::from(false)),
                ("nothing", Value::Nil),
            ],
        ),
        message(
            "state",
            vec![
                ("tick", Value::from(42)),
                (
                    "players",
                    list(vec![
                        map(vec![
                            ("name", Value::from("ann")),
                            ("pos", list(vec![Value::from(1), Value::from(2)])),
                            ("hp", Value::from(100)),
                        ]),
                        map(vec![
                            ("name", Value::from("bob")),
                            ("pos", list(vec![Value::from(-3), Value::F64(4.5)])),
                            ("hp", Value::Nil),
                        ]),
                    ]),
                ),
                (
                    "meta",
                    map(vec![
                        ("round", Value::from(1)),
                        ("tags", list(vec![Value::from("x"), Value::from("y")])),
                        (
                            "deep",
                            map(vec![(
                                "a",
                                map(vec![(
                                    "b",
                                    map(vec![(
                                        "c",
                                        list(vec![list(vec![list(vec![])]), map(vec![])]),
                                    )]),
                                )]),
                            )]),
                        ),
                    ]),
                ),
            ],
        ),
        message(
            "sizes",
            vec![
                ("str8", Value::from("s".repeat(40))),
                ("str16", Value::from("m".repeat(300))),
                ("str32", Value::from("L".repeat(70000))),
                ("bin16", Value::Binary(vec![1; 300])),
                ("array16", list((0..20).map(Value::from).collect())),
                (
                    "map16",
                    Value::Map(
                        (0..20)
                            .map(|i| (Value::from(format!("k{i}")), Value::from(i)))
                            .collect(),
                    ),
                ),
                (
                    "mixed",
                    list(vec![
                        Value::from(1),
                        Value::from("two"),
                        Value::F64(3.0),
                        Value::Nil,
                        Value::from(true),
                        Value::Binary(b"six".to_vec()),
                        list(vec![Value::from(7)]),
                        map(vec![("eight", Value::from(8))]),
                    ]),
                ),
            ],
        ),
        message(
            "s\u{e9}lection \u{2713}",
            vec![("note", Value::from("non-ASCII action name"))],
        ),
    ]
}

/// Compares values exactly: floats by their bits (so -0.0 differs from 0.0), the rest by
/// `==`, which for rmpv distinguishes ints from floats and str from bin.
fn assert_same(got: &Value, want: &Value, path: &str) {
    match (got, want) {
        (Value::F64(a), Value::F64(b)) => {
            assert_eq!(a.to_bits(), b.to_bits(), "{path}: {a} != {b}")
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{path}: lengths differ");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_same(x, y, &format!("{path}[{i}]"));
            }
        }
        (Value::Map(a), Value::Map(b)) => {
            assert_eq!(a.len(), b.len(), "{path}: sizes differ");
            for ((ka, va), (kb, vb)) in a.iter().zip(b) {
                assert_eq!(ka, kb, "{path}: keys differ");
                assert_same(va, vb, &format!("{path}.{ka}"));
            }
        }
        _ => assert_eq!(got, want, "{path}"),
    }
}

fn python_messages() -> Vec<RawMessage> {
    let config = FramingConfig::default();
    let mut codec = FrameCodec::new(&config);
    let mut wire = BytesMut::from(PYTHON_FRAMES);
    let mut messages = Vec::new();
    while let Some(payload) = codec
        .decode_eof(&mut wire)
        .expect("frames.bin is well framed")
    {
        messages.push(RawMessage::parse(payload, &config).expect("every vector is a message"));
    }
    messages
}

// Typed forms of some vectors, as a game would declare them.

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Move {
    x: i32,
    y: i32,
    speed: f64,
}
impl Message for Move {
    const ACTION: &'static str = "move";
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Chat {
    text: String,
    who: String,
    empty: String,
}
impl Message for Chat {
    const ACTION: &'static str = "chat";
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Blob {
    data: ByteBuf,
    empty: ByteBuf,
    #[serde(with = "serde_bytes")]
    small: Vec<u8>,
}
impl Message for Blob {
    const ACTION: &'static str = "blob";
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Ints {
    zero: u8,
    fixpos: i8,
    u8: u8,
    u16: u16,
    u32: u32,
    u64: u64,
    i64_max: i64,
    fixneg: i8,
    i8: i8,
    i16: i16,
    i32: i32,
    i64: i64,
}
impl Message for Ints {
    const ACTION: &'static str = "ints";
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Flags {
    yes: bool,
    no: bool,
    nothing: Option<String>,
}
impl Message for Flags {
    const ACTION: &'static str = "flags";
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Player {
    name: String,
    pos: Vec<Value>,
    hp: Option<u32>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct State {
    tick: u64,
    players: Vec<Player>,
    meta: BTreeMap<String, Value>,
}
impl Message for State {
    const ACTION: &'static str = "state";
}

/// Every frame Python wrote decodes, as a dynamic value, to exactly the expected vector.
#[test]
fn python_frames_decode_to_the_expected_values() {
    let messages = python_messages();
    let expected = expected();
    assert_eq!(messages.len(), expected.len());
    for (msg, want) in messages.iter().zip(&expected) {
        assert_eq!(Some(msg.action()), want["action"].as_str());
        assert_same(&msg.to_value().unwrap(), want, msg.action());
    }
}

/// Python's frames decode into typed structs with the right field values.
#[test]
fn python_frames_decode_into_typed_messages() {
    let messages = python_messages();
    let find = |action: &str| messages.iter().find(|m| m.action() == action).unwrap();

    assert_eq!(
        find("move").decode::<Move>().unwrap(),
        Move {
            x: 10,
            y: -20,
            speed: 1.5
        }
    );
    let chat: Chat = find("chat").decode().unwrap();
    assert_eq!(chat.text, "h\u{e9}llo w\u{f6}rld \u{2713} \u{1f3ae}");
    let blob: Blob = find("blob").decode().unwrap();
    assert_eq!(
        blob.data.as_slice(),
        (0..=255).collect::<Vec<u8>>().as_slice()
    );
    assert!(blob.empty.is_empty());
    assert_eq!(blob.small, [0x00, 0xff]);
    let ints: Ints = find("ints").decode().unwrap();
    assert_eq!(
        (ints.u64, ints.i64, ints.i64_max),
        (u64::MAX, i64::MIN, i64::MAX)
    );
    assert_eq!((ints.u32, ints.i32, ints.fixneg), (u32::MAX, i32::MIN, -32));
    assert_eq!(
        find("flags").decode::<Flags>().unwrap(),
        Flags {
            yes: true,
            no: false,
            nothing: None
        }
    );
    let state: State = find("state").decode().unwrap();
    assert_eq!(state.tick, 42);
    assert_eq!(state.players[1].hp, None);
    assert_eq!(state.players[1].pos[1], Value::F64(4.5));
    assert_eq!(
        state.meta["tags"],
        Value::Array(vec!["x".into(), "y".into()])
    );

    // A struct that reads only some fields ignores the rest, "action" included.
    #[derive(Deserialize)]
    struct JustTick {
        tick: u64,
    }
    assert_eq!(find("state").decode::<JustTick>().unwrap().tick, 42);
}

/// Rust re-encodes every vector to the very bytes Python wrote: same formats, same order.
#[test]
fn rust_encodes_the_vectors_byte_for_byte_as_python() {
    let config = FramingConfig::default();
    let mut wire = BytesMut::new();
    for value in expected() {
        encode_value(&value, &mut wire, &config).unwrap();
    }
    assert!(
        wire[..] == *PYTHON_FRAMES,
        "Rust's frames differ from Python's"
    );
}

/// What Rust writes (dynamic values and typed structs) for each vector.
fn rust_frames() -> (BytesMut, usize) {
    let config = FramingConfig::default();
    let mut wire = BytesMut::new();
    let mut count = 0;
    for value in expected() {
        encode_value(&value, &mut wire, &config).unwrap();
        count += 1;
    }
    // Typed messages go through the serde path, which must agree with the dynamic one.
    let typed = python_messages();
    let find = |action: &str| typed.iter().find(|m| m.action() == action).unwrap();
    encode_message(&find("move").decode::<Move>().unwrap(), &mut wire, &config).unwrap();
    encode_message(&find("chat").decode::<Chat>().unwrap(), &mut wire, &config).unwrap();
    encode_message(&find("blob").decode::<Blob>().unwrap(), &mut wire, &config).unwrap();
    encode_message(&find("ints").decode::<Ints>().unwrap(), &mut wire, &config).unwrap();
    encode_message(
        &find("flags").decode::<Flags>().unwrap(),
        &mut wire,
        &config,
    )
    .unwrap();
    encode_message(
        &find("state").decode::<State>().unwrap(),
        &mut wire,
        &config,
    )
    .unwrap();
    (wire, count + 6)
}

/// The Python interpreter with msgpack that `cargo xtask ci` provides.
fn python() -> String {
    std::env::var("PODNET_PYTHON").expect(
        "PODNET_PYTHON is not set: run this test with `cargo xtask ci` (or `cargo xtask \
         interop`), which makes a Python venv with msgpack and points PODNET_PYTHON at it",
    )
}

fn vectors_script() -> String {
    format!("{}/tests/interop/vectors.py", env!("CARGO_MANIFEST_DIR"))
}

/// Frames Rust writes decode in Python (repod's `unpackb(raw=False)`) to the same dicts,
/// with the same types.
#[test]
#[ignore = "needs Python with msgpack; `cargo xtask ci` runs it"]
fn rust_frames_decode_in_python() {
    let (wire, count) = rust_frames();
    let python = python();
    let mut child = Command::new(&python)
        .args([vectors_script(), "verify".into(), count.to_string()])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start PODNET_PYTHON={python} ({e})"));
    child.stdin.take().unwrap().write_all(&wire).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "Python rejected Rust's frames: {status}");
}

/// The committed `frames.bin` is exactly what the generator script writes today.
#[test]
#[ignore = "needs Python with msgpack; `cargo xtask ci` runs it"]
fn committed_frames_match_the_python_generator() {
    let python = python();
    let status = Command::new(&python)
        .args([
            vectors_script(),
            "check".into(),
            format!("{}/tests/interop/frames.bin", env!("CARGO_MANIFEST_DIR")),
        ])
        .status()
        .unwrap_or_else(|e| panic!("could not start PODNET_PYTHON={python} ({e})"));
    assert!(status.success(), "frames.bin is stale: {status}");
}

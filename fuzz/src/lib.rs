//! The checks behind podnet's fuzz targets.
//!
//! Each takes the fuzzer's bytes, runs them through the code a peer's bytes reach (the
//! frame codec, then [`RawMessage::parse`] and the decoders behind it) and asserts what
//! must hold whatever the input. A failed assertion, a panic, a stack overflow, a leak or
//! an allocation over libFuzzer's limit is a crash, and the fuzzer saves the input.
//!
//! The first byte of the input is a setting, not data, so the fuzzer also explores the
//! limits: smaller frame and depth limits than the defaults, and how the stream is cut.

use bytes::{Bytes, BytesMut};
use podnet_framing::Frame;
use podnet_framing::{
    BatchDecoder, Decoded, FrameCodec, FramingConfig, FramingError, RawMessage, Value,
    encode_value, peek_action,
};
use podnet_lobby::{Game, Lobby, LobbyConfig, PlayerEvent, SessionCtx, SessionHandlers};
use podnet_proto::{
    Action, ClientSettings, Connection, ConnectionId, ConnectionKind, DisconnectReason, Input,
    ResumeSettings, ResumeToken, ServerSettings, Side,
};
use podnet_transport::fuzzing::{HttpRoute, http_route};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::codec::Decoder;

/// Feeds `data[1..]` to a [`FrameCodec`] twice: all at once, and cut into pieces whose
/// sizes follow from `data[0]`. Both must yield the same frames and the same error (the
/// codec holds no state that depends on how reads were cut), and every frame is checked
/// as a [`payload`]. A [`BatchDecoder`] fed the same pieces must find the same frames and
/// sort them as [`RawMessage::parse`] does.
pub fn frames(data: &[u8]) {
    let Some((&setting, stream)) = data.split_first() else {
        return;
    };
    // Frame limits from 16 bytes to 4 KiB, so "too large" is reachable.
    let config = FramingConfig::default()
        .with_max_frame_length(16 + usize::from(setting) * 16)
        .with_max_depth(1 + usize::from(setting % 32));

    let whole = run_codec(&config, std::iter::once(stream));
    let cut = run_codec(&config, Pieces::new(stream, setting));
    assert_eq!(whole, cut, "cutting the stream changed what the codec read");

    let expected: Vec<Sorted> = whole
        .frames
        .iter()
        .map(|frame| Sorted::of(RawMessage::parse(frame.clone(), &config)))
        .collect();
    // The batch decoder has no end of stream: it says whether a frame was left unfinished.
    let truncated = whole
        .end
        .as_deref()
        .is_some_and(|e| e.starts_with("TruncatedStream"));
    let fatal = whole.end.clone().filter(|_| !truncated);
    for batched in [
        run_batches(&config, std::iter::once(stream)),
        run_batches(&config, Pieces::new(stream, setting)),
    ] {
        assert_eq!(
            batched.frames, expected,
            "the batch decoder sorted frames differently"
        );
        assert_eq!(batched.fatal, fatal, "the batch decoder ended differently");
        if fatal.is_none() {
            assert_eq!(
                batched.mid_frame, truncated,
                "the batch decoder lost the stream's end"
            );
        }
    }

    for frame in whole.frames {
        check_payload(frame, &config);
    }
}

/// A WebSocket client's bytes, decoded all at once and in pieces whose sizes follow from
/// `data[0]` (which also sets the message and fragment limits): both must give the same
/// repod frames and the same signals (the decoder holds no state that depends on how reads
/// were cut). Every whole frame is within the message limit and passes the payload
/// checks, and nothing is decoded after a close or a violation.
pub fn websocket(data: &[u8]) {
    let Some((&setting, stream)) = data.split_first() else {
        return;
    };
    let max_message = 8 + usize::from(setting) * 8;
    let max_fragments = 1 + usize::from(setting % 8);
    let whole = run_websocket(max_message, max_fragments, std::iter::once(stream));
    let cut = run_websocket(max_message, max_fragments, Pieces::new(stream, setting));
    assert_eq!(
        whole, cut,
        "cutting the stream changed what the decoder read"
    );

    let config = FramingConfig::default().with_max_frame_length(max_message.max(16));
    let mut frames = BytesMut::from(&whole.frames[..]);
    let mut codec = podnet_framing::FrameCodec::new(&config);
    while let Some(frame) = codec
        .decode(&mut frames)
        .expect("the decoder writes whole frames")
    {
        assert!(
            frame.len() <= max_message,
            "a message over the limit got through"
        );
        check_payload(frame, &config);
    }
    // A message the input ended in the middle of is partly out (its payload streams out
    // as it arrives); after a close or a violation, every frame is whole.
    assert!(
        frames.is_empty() || !whole.over,
        "the decoder ended with half a frame"
    );
}

/// What a WebSocket decoder made of a stream: the repod frames, in order, and the signals
/// it gave, as text.
#[derive(Debug, PartialEq)]
struct WsRun {
    frames: Vec<u8>,
    signals: Vec<String>,
    over: bool,
}

fn run_websocket<'a>(
    max_message: usize,
    max_fragments: usize,
    pieces: impl Iterator<Item = &'a [u8]>,
) -> WsRun {
    use podnet_framing::websocket::{Signal, WsDecoder};

    let mut decoder = WsDecoder::new(BytesMut::new(), max_message, max_fragments);
    let mut frames = BytesMut::new();
    let mut signals = Vec::new();
    let mut over = false;
    for piece in pieces {
        let Some(input) = decoder.input() else {
            assert!(over, "the decoder stopped reading on its own");
            break;
        };
        input.extend_from_slice(piece);
        while let Some(signal) = decoder.decode(&mut frames) {
            assert!(!over, "a signal after the close or a violation");
            match &signal {
                Signal::Ping(payload) => assert!(payload.len() <= 125, "a ping over 125 bytes"),
                Signal::Closed(_) | Signal::Violation(_) => over = true,
            }
            signals.push(format!("{signal:?}"));
        }
    }
    WsRun {
        frames: frames.to_vec(),
        signals,
        over,
    }
}

/// Checks one payload: `data[0]` picks the depth limit (1 to 8, or the default 128),
/// `data[1..]` is the payload.
pub fn payload(data: &[u8]) {
    let Some((&setting, payload)) = data.split_first() else {
        return;
    };
    let config = if setting < 0x80 {
        FramingConfig::default()
    } else {
        FramingConfig::default().with_max_depth(1 + usize::from(setting % 8))
    };
    check_payload(Bytes::copy_from_slice(payload), &config);
}

/// What a codec run produced: the frames, then the error that ended it, if any.
#[derive(Debug, PartialEq)]
struct CodecRun {
    frames: Vec<Bytes>,
    end: Option<String>,
}

fn run_codec<'a>(config: &FramingConfig, pieces: impl Iterator<Item = &'a [u8]>) -> CodecRun {
    let mut codec = FrameCodec::new(config);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => {
                    assert!(frame.len() <= config.max_frame_length);
                    frames.push(frame);
                }
                Ok(None) => break,
                Err(err) => {
                    assert!(err.is_fatal(), "a codec error must end the stream: {err}");
                    return CodecRun {
                        frames,
                        end: Some(format!("{err:?}")),
                    };
                }
            }
        }
    }
    let end = match codec.decode_eof(&mut buf) {
        Ok(None) => None,
        Ok(Some(frame)) => panic!("decode_eof found a frame decode missed: {frame:?}"),
        Err(err) => Some(format!("{err:?}")),
    };
    CodecRun { frames, end }
}

/// How a frame was sorted: a message (its action), a reserved one, or not a message.
#[derive(Debug, PartialEq)]
enum Sorted {
    Message { payload: Bytes, action: String },
    Reserved { payload: Bytes },
    NotAMessage(String),
}

impl Sorted {
    fn of(parsed: Result<RawMessage, FramingError>) -> Sorted {
        match parsed {
            Ok(msg) if msg.action().starts_with(RESERVED) => Sorted::Reserved {
                payload: msg.into_payload(),
            },
            Ok(msg) => Sorted::Message {
                action: msg.action().to_owned(),
                payload: msg.into_payload(),
            },
            Err(err) => Sorted::NotAMessage(format!("{err:?}")),
        }
    }
}

/// The prefix the batch decoder is given, as podnet's transport gives `podnet:`.
const RESERVED: &str = "r:";

/// What a batch decoder run produced.
struct BatchRun {
    frames: Vec<Sorted>,
    fatal: Option<String>,
    mid_frame: bool,
}

/// Feeds the pieces to a [`BatchDecoder`], taking a batch after each piece as a network
/// thread does after each read.
fn run_batches<'a>(config: &FramingConfig, pieces: impl Iterator<Item = &'a [u8]>) -> BatchRun {
    let mut decoder = BatchDecoder::new(config).with_reserved_prefix(RESERVED);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    // Messages wait in the batch until it is taken; the others are known at once. Each
    // is recorded with its place so the two can be merged in order.
    let mut pending: Vec<Option<Sorted>> = Vec::new();
    let mut flush =
        |decoder: &mut BatchDecoder, buf: &mut BytesMut, pending: &mut Vec<Option<Sorted>>| {
            let mut messages = decoder.take(buf).into_iter();
            for slot in pending.drain(..) {
                frames.push(slot.unwrap_or_else(|| {
                    let msg = messages.next().expect("a batched message for each slot");
                    Sorted::of(Ok(msg))
                }));
            }
            assert!(messages.next().is_none(), "more messages than were batched");
        };
    let mut fatal = None;
    'pieces: for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(Decoded::Message)) => pending.push(None),
                Ok(Some(Decoded::Reserved(msg))) => pending.push(Some(Sorted::of(Ok(msg)))),
                Ok(Some(Decoded::NotAMessage(err))) => {
                    assert!(
                        !err.is_fatal(),
                        "a skipped frame's error is never fatal: {err}"
                    );
                    pending.push(Some(Sorted::NotAMessage(format!("{err:?}"))));
                }
                Ok(Some(other)) => panic!("unknown outcome {other:?}"),
                Ok(None) => break,
                Err(err) => {
                    assert!(err.is_fatal(), "a decode error must end the stream: {err}");
                    fatal = Some(format!("{err:?}"));
                    break 'pieces;
                }
            }
        }
        flush(&mut decoder, &mut buf, &mut pending);
    }
    flush(&mut decoder, &mut buf, &mut pending);
    BatchRun {
        frames,
        fatal,
        mid_frame: decoder.is_mid_frame(&buf),
    }
}

/// Cuts a slice into pieces of 1 to 16 bytes, sizes from a small generator seeded by
/// the setting byte.
struct Pieces<'a> {
    rest: &'a [u8],
    state: u32,
}

impl<'a> Pieces<'a> {
    fn new(rest: &'a [u8], seed: u8) -> Self {
        Self {
            rest,
            state: 0x9e37_79b9 ^ u32::from(seed),
        }
    }
}

impl<'a> Iterator for Pieces<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        // xorshift32
        self.state ^= self.state << 13;
        self.state ^= self.state >> 17;
        self.state ^= self.state << 5;
        let len = (1 + (self.state % 16) as usize).min(self.rest.len());
        let (piece, rest) = self.rest.split_at(len);
        self.rest = rest;
        Some(piece)
    }
}

/// A message type with a bit of everything, to drive serde's typed decoding over hostile
/// payloads. Whether it decodes does not matter; that it never panics does.
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Typed<'a> {
    action: &'a str,
    #[serde(default)]
    x: Option<i32>,
    #[serde(default)]
    y: Option<f64>,
    #[serde(default, borrow)]
    name: Option<&'a str>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    data: Option<Value>,
}

/// What must hold for any payload.
///
/// - [`RawMessage::parse`] and [`peek_action`] agree: a payload whose start fails the
///   peek fails the parse, and a parsed message peeks to the same action.
/// - rmpv, as a reference decoder, agrees with the scanner both ways: a parsed payload is
///   one whole msgpack map holding exactly one `"action"` string key, within the depth
///   limit; and a payload rmpv reads as such a map is parsed.
/// - A parsed message converts to a [`Value`] equal to rmpv's, which encodes back to a
///   frame that parses to the same message.
/// - Typed decoding returns, whatever it returns.
pub fn check_payload(payload: Bytes, config: &FramingConfig) {
    let parsed = RawMessage::parse(payload.clone(), config);
    let peeked = peek_action(&payload, config);
    let reference = reference_action(&payload, config.max_depth);

    match &parsed {
        Ok(msg) => {
            assert_eq!(peeked.as_ref().ok(), Some(&msg.action()), "peek disagrees");
            let (value, action) = reference
                .unwrap_or_else(|why| panic!("parsed as {:?}, but rmpv says: {why}", msg.action()));
            assert_eq!(action, msg.action());
            assert_eq!(msg.action().as_bytes(), msg.action_bytes());

            let converted = msg
                .to_value()
                .expect("a parsed message converts to a Value");
            assert_eq!(format!("{converted:?}"), format!("{value:?}"));

            let mut wire = BytesMut::new();
            match encode_value(&converted, &mut wire, config) {
                Ok(()) => {
                    let again = RawMessage::parse(wire.split_off(4).freeze(), config)
                        .expect("what podnet encodes, podnet parses");
                    assert_eq!(again.action(), msg.action());
                    let again_value = again.to_value().expect("converts");
                    // rmpv writes a str that is not UTF-8 as bin: the one change allowed.
                    assert_eq!(
                        format!("{again_value:?}"),
                        format!("{:?}", invalid_strings_as_binary(converted))
                    );
                }
                // Re-encoding may pick longer forms than the peer did (rmpv writes
                // integers and floats its own way), so it can go over the limit.
                Err(FramingError::MessageTooLarge { .. }) => {}
                Err(err) => panic!("a parsed message failed to encode: {err}"),
            }
            let _ = msg.decode::<Typed<'_>>();
            let _ = msg.decode::<std::collections::HashMap<String, Value>>();
        }
        Err(err) => {
            assert!(!err.is_fatal(), "a bad payload must not end the connection");
            if let Ok((_, action)) = reference {
                panic!("rmpv reads a message with action {action:?}, but parse says: {err}");
            }
        }
    }
    if peeked.is_err() {
        assert!(parsed.is_err(), "the peek failed but the parse passed");
    }
}

/// rmpv's reading of `payload`: the whole value and its action, or why it is not a message.
fn reference_action(payload: &[u8], max_depth: usize) -> Result<(Value, String), String> {
    // rmpv reads the reserved marker 0xc1 as nil; msgpack (and Python's msgpack, and
    // podnet) refuse it. rmp-serde refuses it too, so it vets the bytes first.
    let mut vet = rmp_serde::Deserializer::from_read_ref(payload);
    vet.set_max_depth(2 * max_depth + 8);
    serde::de::IgnoredAny::deserialize(&mut vet).map_err(|e| format!("rmp-serde: {e}"))?;

    let mut rest = payload;
    // rmpv charges about two units per level; its guard is set above ours, so ours is
    // the one measured below.
    let value = rmpv::decode::read_value_with_max_depth(&mut rest, 2 * max_depth + 8)
        .map_err(|e| format!("not msgpack: {e}"))?;
    if !rest.is_empty() {
        return Err(format!("{} trailing bytes", rest.len()));
    }
    if depth(&value) > max_depth {
        return Err("too deep".into());
    }
    let Value::Map(entries) = &value else {
        return Err("not a map".into());
    };
    let mut actions = entries
        .iter()
        .filter(|(key, _)| matches!(key, Value::String(s) if s.as_bytes() == b"action"));
    let action = match (actions.next(), actions.next()) {
        (None, _) => return Err("no action".into()),
        (Some(_), Some(_)) => return Err("two actions".into()),
        (Some((_, Value::String(s))), None) => s
            .as_str()
            .ok_or_else(|| "action not UTF-8".to_string())?
            .to_owned(),
        (Some(_), None) => return Err("action not a string".into()),
    };
    Ok((value, action))
}

/// `value` with every string that is not UTF-8 turned into binary, as rmpv encodes it.
fn invalid_strings_as_binary(value: Value) -> Value {
    match value {
        Value::String(s) if s.as_str().is_none() => Value::Binary(s.into_bytes()),
        Value::Array(items) => {
            Value::Array(items.into_iter().map(invalid_strings_as_binary).collect())
        }
        Value::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (invalid_strings_as_binary(k), invalid_strings_as_binary(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Nesting depth: a scalar is 0, an array or map one more than its deepest element.
/// Recursive, over a value rmpv already bounded in depth.
fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Map(entries) => {
            1 + entries
                .iter()
                .flat_map(|(k, v)| [depth(k), depth(v)])
                .max()
                .unwrap_or(0)
        }
        _ => 0,
    }
}

/// The bytes a check reads its operations from, one choice at a time; when they run out,
/// every choice is 0 and the run ends.
struct Ops<'a>(&'a [u8]);

impl Ops<'_> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    fn u64(&mut self) -> u64 {
        match self.byte() % 4 {
            0 => u64::from(self.byte()),
            1 => u64::from(self.u16()),
            2 => u64::MAX - u64::from(self.byte()),
            _ => u64::from_le_bytes(std::array::from_fn(|_| self.byte())),
        }
    }

    /// Up to 32 bytes of text (lossy UTF-8).
    fn text(&mut self) -> String {
        let len = usize::from(self.byte() % 33).min(self.0.len());
        let (text, rest) = self.0.split_at(len);
        self.0 = rest;
        String::from_utf8_lossy(text).into_owned()
    }
}

/// A request on the game port's HTTP front (the WebSocket upgrade, pages, monitoring),
/// arriving whole and in pieces whose sizes follow from `data[0]` (which also sets the
/// request limit and whether browsers' origins are checked), as the server reads it: it
/// routes the request as soon as its head is whole, or refuses it once it is over the
/// limit. Both ways must decide the same, within the limit, and answer with a well-formed
/// response: a 101 that says where the request ended, or a status line, headers and a
/// close.
pub fn http(data: &[u8]) {
    let Some((&setting, stream)) = data.split_first() else {
        return;
    };
    let max = 64 + usize::from(setting) * 32;
    let check_origin = setting & 1 != 0;
    let route = |pieces: &mut dyn Iterator<Item = &[u8]>| {
        let mut buf = Vec::new();
        for piece in pieces {
            buf.extend_from_slice(piece);
            if let Some(route) = http_route(&buf, max, check_origin) {
                return Some((route, buf.len()));
            }
        }
        None
    };
    let whole = route(&mut std::iter::once(stream));
    let cut = route(&mut Pieces::new(stream, setting));
    assert_eq!(
        whole.as_ref().map(|r| &r.0),
        cut.as_ref().map(|r| &r.0),
        "cutting the request changed how it was routed"
    );
    if whole.is_none() {
        assert!(
            stream.len() < max,
            "a request over the limit was left waiting"
        );
    }
    let Some((route, read)) = cut else {
        return;
    };
    match route {
        HttpRoute::Upgrade { response, consumed } => {
            assert!(
                response.starts_with(b"HTTP/1.1 101 "),
                "an upgrade without 101"
            );
            assert!(
                response.ends_with(b"\r\n\r\n"),
                "an upgrade's head not ended"
            );
            assert!(
                consumed <= read && consumed <= max,
                "the request ended past what was read or the limit"
            );
        }
        HttpRoute::Respond { response } => {
            assert!(
                response.starts_with(b"HTTP/1.1 "),
                "a response without a status"
            );
            assert!(
                response.windows(4).any(|w| w == b"\r\n\r\n"),
                "a response's head not ended"
            );
        }
        HttpRoute::Observe => {}
    }
}

/// What arrives from Redis, from other nodes or from anyone who can publish there: the
/// bytes as each kind of envelope, with a message limit set by `data[0]`. See
/// `podnet_cluster::fuzzing::envelopes` for what must hold.
pub fn envelope(data: &[u8]) {
    let Some((&setting, envelope)) = data.split_first() else {
        return;
    };
    podnet_cluster::fuzzing::envelopes(envelope, 16 + usize::from(setting) * 16);
}

/// A map's entry.
fn field(name: &str, value: Value) -> (Value, Value) {
    (Value::from(name), value)
}

/// A map with these entries, as a received message (if it is one).
fn map_message(entries: Vec<(Value, Value)>) -> Option<RawMessage> {
    let mut frame = BytesMut::new();
    encode_value(&Value::Map(entries), &mut frame, &FramingConfig::default()).ok()?;
    RawMessage::parse(frame.split_off(4).freeze(), &FramingConfig::default()).ok()
}

/// A control message the fuzzer chose: one of podnet's own, with fields it chose (some
/// of the right type, some not), as the connection would receive it.
fn control(ops: &mut Ops<'_>, instance: u64) -> Option<RawMessage> {
    let action = |name: &str| field("action", Value::from(name));
    let mut entries = match ops.byte() % 8 {
        0 | 1 => {
            let mut hello = vec![
                action("podnet:hello"),
                field("protocol", Value::from(u64::from(ops.byte() % 4))),
                field("type", Value::from(ops.text())),
            ];
            let flags = ops.byte();
            if flags & 1 != 0 {
                hello.push(field("resume", Value::from(flags & 2 != 0)));
            }
            if flags & 4 != 0 {
                // A token of the right form, for this server or another, or any text.
                let token = match ops.byte() % 3 {
                    0 => ResumeToken::mint(instance, ConnectionId::from_raw(ops.u64())).to_wire(),
                    1 => ResumeToken::mint(ops.u64(), ConnectionId::from_raw(7)).to_wire(),
                    _ => ops.text(),
                };
                hello.push(field("token", Value::from(token)));
            }
            if flags & 8 != 0 {
                hello.push(field("received", Value::from(ops.u64())));
            }
            if flags & 16 != 0 {
                hello.push(field("resumed", Value::from(flags & 32 != 0)));
            }
            if flags & 64 != 0 {
                // A server telling a silent client it was settled as classic.
                hello.push(field("silent", Value::from(flags & 128 != 0)));
            }
            hello
        }
        2 => vec![action("podnet:ack"), field("n", Value::from(ops.u64()))],
        3 => vec![action("podnet:ping"), field("seq", Value::from(ops.u64()))],
        4 => vec![action("podnet:pong"), field("seq", Value::from(ops.u64()))],
        5 => vec![
            action("podnet:close"),
            field("reason", Value::from(ops.text())),
        ],
        6 => vec![action("podnet:info")],
        _ => vec![field(
            "action",
            Value::from(format!("podnet:{}", ops.text())),
        )],
    };
    // A field of the wrong type now and then.
    if ops.byte().is_multiple_of(8)
        && let Some((_, value)) = entries.get_mut(1)
    {
        *value = Value::from(ops.text());
    }
    map_message(entries)
}

/// podnet's sans-IO connection (`podnet_proto::Connection`), as a server's or a client's,
/// with or without resume (`data[0]`), driven by the fuzzer through any sequence of
/// inputs: reads, frames, control messages of every kind with any fields (hellos and
/// resume hellos with any token and count, acknowledgements going backwards or past what
/// was sent), counts of delivered frames, broken streams, ends, losses, closes asked, and
/// time passing. Whatever comes, it must not panic, must ask for a bounded number of
/// actions per input, and every end it reports carries a reason.
pub fn connection(data: &[u8]) {
    let mut ops = Ops(data);
    let setting = ops.byte();
    let resume = (setting & 1 != 0).then(ResumeSettings::default);
    let mut now = Instant::now();
    if setting & 2 != 0 {
        let mut settings = ServerSettings::default();
        settings.resume = resume;
        settings.hello_wait = Duration::from_millis(u64::from(ops.byte()) * 4);
        settings.greeting =
            (setting & 4 != 0).then(|| Bytes::from_static(b"\x81\xa6action\xa9connected"));
        let instance = settings.instance;
        let mut conn =
            Connection::server(Arc::new(settings), now).with_id(ConnectionId::from_raw(7));
        while !ops.is_empty() {
            step(&mut conn, &mut ops, &mut now, instance);
            // What a server's driver answers with.
            let mut resumes = Vec::new();
            let mut infos = 0;
            drain(&mut conn, |action| match action {
                Action::Resume { received, .. } => resumes.push(*received),
                Action::Established(handshake)
                    if handshake.connection_type.kind() == ConnectionKind::Info =>
                {
                    infos += 1;
                }
                _ => {}
            });
            for received in resumes {
                if ops.byte().is_multiple_of(2) {
                    conn.refuse_resume(&ops.text());
                } else {
                    conn.resume_link(now, received);
                }
            }
            for _ in 0..infos {
                conn.refuse_info();
            }
            drain(&mut conn, |_| {});
        }
    } else {
        let mut settings = ClientSettings::default();
        settings.resume = resume;
        settings.hello = setting & 4 == 0;
        let mut conn = Connection::client(Arc::new(settings), now);
        while !ops.is_empty() {
            step(&mut conn, &mut ops, &mut now, 0);
            let mut dropped = false;
            drain(&mut conn, |action| {
                dropped |= matches!(action, Action::Dropped(_))
            });
            if dropped && ops.byte().is_multiple_of(2) {
                // The client dials again and asks for its session back.
                conn.start_resume(now);
                drain(&mut conn, |_| {});
            }
        }
    }
}

/// One input the fuzzer chose, to a connection of either role.
fn step<S: Side>(conn: &mut Connection<S>, ops: &mut Ops<'_>, now: &mut Instant, instance: u64) {
    match ops.byte() % 12 {
        0 => conn.handle(*now, Input::Read),
        1 => conn.handle(*now, Input::Frame),
        2..=4 => {
            if let Some(msg) = control(ops, instance) {
                conn.handle(*now, Input::Control(&msg));
            }
        }
        5 => {
            let count = ops.u64();
            let bytes = usize::from(ops.u16());
            conn.handle(*now, Input::Delivered { count, bytes });
        }
        6 => {
            let error = FramingError::FrameTooLarge {
                len: ops.u64(),
                max: 1 << 20,
            };
            conn.handle(*now, Input::Broken(&error));
        }
        7 => conn.handle(*now, Input::Violation(&ops.text())),
        8 => {
            let mid_frame = (ops.byte().is_multiple_of(2)).then(|| usize::from(ops.u16()));
            conn.handle(*now, Input::End { mid_frame });
        }
        9 => conn.handle(
            *now,
            Input::Lost(DisconnectReason::Io { error: ops.text() }),
        ),
        10 => conn.handle(
            *now,
            Input::CloseAsked {
                within: Duration::from_millis(u64::from(ops.u16())),
            },
        ),
        _ => {
            // Time passes: a little, a lot, or up to the connection's next deadline.
            let step = match ops.byte() % 3 {
                0 => Duration::from_millis(u64::from(ops.byte())),
                1 => Duration::from_secs(u64::from(ops.byte())),
                _ => conn
                    .poll_timeout()
                    .map_or(Duration::ZERO, |at| at.saturating_duration_since(*now)),
            };
            *now += step;
            if conn.poll_timeout().is_some_and(|at| at <= *now) {
                conn.handle_timeout(*now);
            }
        }
    }
}

/// Takes the connection's actions, checking each, and shows each to `also`. An input may
/// ask for a few actions (a handshake, a resume's replay request), never without bound.
fn drain<S: Side>(conn: &mut Connection<S>, mut also: impl FnMut(&Action)) {
    let mut count = 0;
    while let Some(action) = conn.poll() {
        count += 1;
        assert!(count <= 64, "one input asked for more than 64 actions");
        match &action {
            Action::Close { reason, wire } => {
                assert!(!reason.to_string().is_empty(), "a close without a reason");
                assert!(!wire.is_empty(), "a close that tells the peer nothing");
            }
            Action::Cut(reason) | Action::Dropped(reason) | Action::Ended(reason) => {
                assert!(!reason.to_string().is_empty(), "an end without a reason");
            }
            Action::Send(frame) | Action::SendMessage(frame) => {
                assert!(frame.len() <= 1 << 20, "a control frame over a MiB");
            }
            _ => {}
        }
        also(&action);
    }
}

/// A lobby game for the fuzzer: `say` answers every seat, `end` ends the session.
struct Echo;

#[derive(Serialize)]
struct Said {
    n: u64,
}

impl podnet_framing::Message for Said {
    const ACTION: &'static str = "said";
}

impl Game for Echo {
    type Setup = ();

    fn start(_: &(), _: &mut SessionCtx<'_>) -> Self {
        Echo
    }

    fn handlers(h: &mut SessionHandlers<Self>) {
        h.on_raw("say", |_, ctx: &mut SessionCtx<'_>, _: &RawMessage| {
            ctx.send_to_all(&Said { n: 1 });
        })
        .on_raw("end", |_, ctx: &mut SessionCtx<'_>, _: &RawMessage| {
            ctx.end("over")
        });
    }
}

/// Where the lobby's sends and closes go in [`lobby`]: counted, and checked against the
/// connections that exist.
struct Recorder {
    framing: FramingConfig,
    open: std::cell::RefCell<std::collections::BTreeSet<u64>>,
    sent: std::cell::Cell<usize>,
}

impl podnet_lobby::Outbox for Recorder {
    fn send_frame(&self, id: ConnectionId, frame: &Frame) -> bool {
        assert!(
            frame.as_bytes().len() <= self.framing.max_frame_length + 4,
            "the lobby sent a frame over the limit"
        );
        self.sent.set(self.sent.get() + 1);
        self.open.borrow().contains(&id.get())
    }

    fn send_frame_to_all(&self, _: &Frame) -> usize {
        self.open.borrow().len()
    }

    fn close(&self, id: ConnectionId, reason: &str) -> bool {
        assert!(!reason.is_empty(), "a close without a reason");
        self.open.borrow().contains(&id.get())
    }

    fn stop_accepting(&self) {}

    fn framing(&self) -> &FramingConfig {
        &self.framing
    }
}

/// A message a lobby player might send: a login, a vote, the game's own, one of the
/// lobby's node-to-node messages (which players must not be able to forge), or any
/// action, with fields the fuzzer chose.
fn lobby_message(ops: &mut Ops<'_>) -> Option<RawMessage> {
    let action = match ops.byte() % 8 {
        0 | 1 => "login".to_owned(),
        2 => "choose".to_owned(),
        3 => "say".to_owned(),
        4 => "end".to_owned(),
        5 => {
            let names = [
                "start", "placed", "deliver", "returned", "input", "left", "away",
            ];
            format!("lobby:{}", names[usize::from(ops.byte()) % names.len()])
        }
        6 => format!("podnet:{}", ops.text()),
        _ => ops.text(),
    };
    let mut entries = vec![field("action", Value::from(action))];
    for _ in 0..ops.byte() % 4 {
        let name = match ops.byte() % 6 {
            0 => "name",
            1 => "kind",
            2 => "session",
            3 => "seat",
            4 => "message",
            _ => "node",
        };
        let value = match ops.byte() % 4 {
            0 => Value::from(ops.text()),
            1 => Value::from(ops.u64()),
            2 => Value::Binary(ops.text().into_bytes()),
            _ => Value::Array(vec![Value::from(ops.text())]),
        };
        entries.push(field(name, value));
    }
    map_message(entries)
}

/// The sans-IO lobby (`podnet_lobby::Lobby`) with up to 8 players, groups of 2 or 3 and
/// two kinds of game (`data[0]`), fed whatever the fuzzer chooses: connects, messages from
/// any member at any stage (logins with any name, votes, game messages, forged `lobby:`
/// node messages, `podnet:` and unknown actions, fields of any type), bad frames, drops,
/// resumes, leaves, time passing and a shutdown. It must not panic, must not send more
/// than a bounded number of messages per event, and must never close without a reason.
pub fn lobby(data: &[u8]) {
    let mut ops = Ops(data);
    let setting = ops.byte();
    let mut config = LobbyConfig::new(2 + usize::from(setting % 2));
    config.game_kinds = if setting & 2 != 0 {
        vec!["dice".to_owned(), "cards".to_owned()]
    } else {
        Vec::new()
    };
    let mut lobby = Lobby::<Echo>::new(config, ());
    let out = Recorder {
        framing: FramingConfig::default(),
        open: Default::default(),
        sent: Default::default(),
    };
    let mut now = Instant::now();
    while !ops.is_empty() {
        let raw = u64::from(ops.byte() % 8);
        let id = ConnectionId::from_raw(raw);
        let before = out.sent.get();
        match ops.byte() % 10 {
            0 => {
                if out.open.borrow_mut().insert(raw) {
                    lobby.handle(PlayerEvent::Connected(id), &out);
                }
            }
            1..=4 => {
                if let Some(msg) = lobby_message(&mut ops) {
                    lobby.handle(PlayerEvent::Message(id, msg), &out);
                }
            }
            5 => lobby.handle(PlayerEvent::BadMessage(id, ops.text()), &out),
            6 => lobby.handle(PlayerEvent::Dropped(id), &out),
            7 => lobby.handle(PlayerEvent::Resumed(id), &out),
            8 => {
                out.open.borrow_mut().remove(&raw);
                lobby.handle(PlayerEvent::Disconnected(id), &out);
            }
            _ => {
                now += Duration::from_millis(u64::from(ops.u16()) * 16);
                if ops.byte().is_multiple_of(16) {
                    lobby.begin_shutdown(&ops.text(), now, &out);
                }
                lobby.tick(now, &out);
            }
        }
        assert!(
            out.sent.get() - before <= 64,
            "one event made the lobby send more than 64 messages"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checks pass over every seed, and the seeds reach both outcomes.
    #[test]
    fn seeds_pass() {
        for target in [
            "payload",
            "frames",
            "websocket",
            "connection",
            "lobby",
            "http",
        ] {
            let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/seeds/").to_owned() + target;
            let mut count = 0;
            for entry in std::fs::read_dir(&dir).expect("seeds dir") {
                let data = std::fs::read(entry.expect("entry").path()).expect("seed");
                match target {
                    "payload" => payload(&data),
                    "websocket" => websocket(&data),
                    "connection" => connection(&data),
                    "lobby" => lobby(&data),
                    "http" => http(&data),
                    "envelope" => envelope(&data),
                    _ => frames(&data),
                }
                count += 1;
            }
            assert!(count > 0, "no seeds in {dir}");
        }
    }
}

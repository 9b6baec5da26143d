//! Codec micro-benchmarks: encode and decode of a small `move` and a ~1 KiB state message.
//!
//! "decode" is the whole receive path of one frame: split it off the stream
//! (`FrameCodec`), check it is a message (`RawMessage::parse`), decode it into its struct.
//! Target for the small message: encode + decode <= 250 ns.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use podnet_framing::{
    BatchDecoder, FRAME_HEADER_LEN, FrameCodec, FramingConfig, Message, RawMessage, encode_message,
};
use serde::{Deserialize, Serialize};
use tokio_util::codec::Decoder;

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Move {
    id: u32,
    x: f32,
    y: f32,
}
impl Message for Move {
    const ACTION: &'static str = "move";
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Player {
    id: u32,
    name: String,
    x: f32,
    y: f32,
    hp: u16,
    alive: bool,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct State {
    tick: u64,
    players: Vec<Player>,
}
impl Message for State {
    const ACTION: &'static str = "state";
}

fn state() -> State {
    State {
        tick: 123_456,
        players: (0..20)
            .map(|i| Player {
                id: i,
                name: format!("player-{i:03}"),
                x: i as f32 * 1.5,
                y: -(i as f32) * 2.25,
                hp: 100 - i as u16,
                alive: i % 3 != 0,
            })
            .collect(),
    }
}

fn bench_message<M>(c: &mut Criterion, name: &str, msg: M)
where
    M: Message + Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug,
{
    let config = FramingConfig::default();
    let mut frame = BytesMut::new();
    encode_message(&msg, &mut frame, &config).unwrap();
    let frame = frame.freeze();

    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(frame.len() as u64));
    println!("{name}: {} bytes on the wire", frame.len());

    let mut out = BytesMut::with_capacity(64 * 1024);
    group.bench_function("encode", |b| {
        b.iter(|| {
            if out.len() > 60 * 1024 {
                out.clear();
            }
            encode_message(black_box(&msg), &mut out, &config).unwrap();
        })
    });

    let payload = frame.slice(FRAME_HEADER_LEN..);
    group.bench_function("check", |b| {
        b.iter(|| RawMessage::parse(black_box(payload.clone()), &config).unwrap())
    });

    let mut codec = FrameCodec::new(&config);
    let mut wire = BytesMut::with_capacity(frame.len());
    group.bench_function("decode", |b| {
        b.iter(|| {
            wire.extend_from_slice(black_box(&frame));
            let payload = codec.decode(&mut wire).unwrap().unwrap();
            let raw = RawMessage::parse(payload, &config).unwrap();
            raw.decode::<M>().unwrap()
        })
    });

    group.bench_function("encode+decode", |b| {
        b.iter(|| {
            out.clear();
            encode_message(black_box(&msg), &mut out, &config).unwrap();
            let payload = codec.decode(&mut out).unwrap().unwrap();
            let raw = RawMessage::parse(payload, &config).unwrap();
            raw.decode::<M>().unwrap()
        })
    });
    group.finish();
}

/// A network thread's work on one read of a pipelining client: 4,096 small `move` frames
/// cut, checked whole and batched (`BatchDecoder::decode_messages`, then `take`), and the
/// receiving thread's: each message's action read from the batch. Per message.
fn batch(c: &mut Criterion) {
    const FRAMES: usize = 4096;
    let config = FramingConfig::default();
    let mut one = BytesMut::new();
    let msg = Move {
        id: 7,
        x: 10.5,
        y: -20.25,
    };
    encode_message(&msg, &mut one, &config).unwrap();
    let read: Vec<u8> = one
        .iter()
        .copied()
        .cycle()
        .take(one.len() * FRAMES)
        .collect();
    let mut group = c.benchmark_group("batch_of_moves");
    group.throughput(Throughput::Elements(FRAMES as u64));
    let mut decoder = BatchDecoder::new(&config);
    let mut buf = BytesMut::with_capacity(read.len());
    // What the network thread does with one read: cut, check, batch.
    let mut cut = move || {
        buf.clear();
        buf.extend_from_slice(black_box(&read));
        assert!(
            decoder
                .decode_messages(&mut buf, usize::MAX)
                .unwrap()
                .is_none()
        );
        decoder.take(&mut buf)
    };
    group.bench_function("cut+check", |b| b.iter(&mut cut));
    group.bench_function("cut+check+actions", |b| {
        b.iter(|| {
            cut()
                .into_iter()
                .map(|m| m.action_bytes().len())
                .sum::<usize>()
        })
    });
    group.finish();
}

fn codec(c: &mut Criterion) {
    bench_message(
        c,
        "move",
        Move {
            id: 7,
            x: 10.5,
            y: -20.25,
        },
    );
    bench_message(c, "state_1k", state());
}

criterion_group!(benches, codec, batch);
criterion_main!(benches);

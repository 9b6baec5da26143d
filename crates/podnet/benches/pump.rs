//! `pump()` per event: the cost of taking an event off the network thread's queue,
//! finding its handler and running it, measured through the public API.
//!
//! A raw socket sends batches of `move` messages to a facade server; only the time spent
//! inside `pump()` calls that handled events is counted, divided by the events handled.
//! Two handlers: `on_raw` (dispatch alone) and `on::<Step>` (dispatch plus the typed
//! decode a game would use).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use podnet::{Channel, ChannelCtx, ChannelHandlers, Message, Server};
use serde::{Deserialize, Serialize};

/// The message both handlers get; the `on_raw` one receives it under the action `move`.
#[derive(Serialize, Deserialize, Message)]
#[message(action = "step")]
struct Step {
    id: u32,
    x: f32,
    y: f32,
}

#[derive(Default)]
struct Counter;

impl Channel for Counter {
    type Game = u64;
    fn handlers(h: &mut ChannelHandlers<Self>) {
        h.on_raw("move", |_, ctx, _| *ctx.game += 1).on(
            |_: &mut Self, ctx: &mut ChannelCtx<'_, Self>, step: Step| {
                *ctx.game += u64::from(step.id > 0);
            },
        );
    }
}

const BATCH: u64 = 1_000;

fn pump_per_event(c: &mut Criterion) {
    let mut server = Server::<Counter>::start_background("127.0.0.1:0", 0).unwrap();
    let mut socket = std::net::TcpStream::connect(server.local_addr()).unwrap();
    socket.set_nodelay(true).unwrap();
    let config = podnet::FramingConfig::default();

    let mut group = c.benchmark_group("pump per event");
    for (name, action) in [
        ("on_raw (dispatch only)", "move"),
        ("on::<Step> (dispatch + typed decode)", Step::ACTION),
    ] {
        let mut wire = bytes::BytesMut::new();
        for _ in 0..BATCH {
            let step = Step {
                id: 7,
                x: 1.5,
                y: -2.0,
            };
            podnet::wire::encode_with_action(action, &step, &mut wire, &config).unwrap();
        }
        let frame_len = wire.len() / BATCH as usize;
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut inside_pump = Duration::ZERO;
                let mut remaining = iters;
                while remaining > 0 {
                    let n = remaining.min(BATCH);
                    socket.write_all(&wire[..n as usize * frame_len]).unwrap();
                    let target = *server.game() + n;
                    while *server.game() < target {
                        let started = Instant::now();
                        if server.pump() > 0 {
                            inside_pump += started.elapsed();
                        } else {
                            std::thread::yield_now();
                        }
                    }
                    remaining -= n;
                }
                inside_pump
            });
        });
    }
    group.finish();
}

criterion_group!(benches, pump_per_event);
criterion_main!(benches);

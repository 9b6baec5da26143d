//! The bench protocol server (docs/protocol.md, "The bench protocol"): what outside load
//! generators measure any repod-protocol server with. Its handlers go through the same
//! public API a game uses, dispatched by `pump()` on the main thread.
//!
//! - `ping`: sent back to the sender unchanged;
//! - `move`: adds one to a server-wide counter;
//! - `report`: replies `{"action": "report", "moves": <count>}`;
//! - `broadcast`: sent to every client, the sender included, unchanged.
//!
//! Run it with `cargo run --release --example bench_server -- --port 5071`; add `--stats`
//! to print the connection count and moves every second, and `--network-threads N` to spread
//! the connections over N network threads (`ServerConfig::network_threads`). Stop it with
//! Ctrl-C.

use std::time::{Duration, Instant};

use podnet::{Channel, ChannelHandlers, Frame, Message, Server, ServerConfig};
use serde::{Deserialize, Serialize};

#[derive(Default)]
struct Counters {
    moves: u64,
}

#[derive(Serialize, Deserialize)]
struct Report {
    moves: u64,
}
impl Message for Report {
    const ACTION: &'static str = "report";
}

#[derive(Default)]
struct BenchChannel;

impl Channel for BenchChannel {
    type Game = Counters;

    fn handlers(h: &mut ChannelHandlers<Self>) {
        h.on_raw("ping", |_, ctx, msg| {
            if let Ok(frame) = Frame::from_message(msg) {
                let _ = ctx.server().send_frame(ctx.id(), &frame);
            }
        })
        .on_raw("move", |_, ctx, _| ctx.game.moves += 1)
        .on_raw("report", |_, ctx, _| {
            let _ = ctx.send(&Report {
                moves: ctx.game.moves,
            });
        })
        .on_raw("broadcast", |_, ctx, msg| {
            if let Ok(frame) = Frame::from_message(msg) {
                ctx.server().send_frame_to_all(&frame);
            }
        });
    }
}

fn main() -> Result<(), podnet::Error> {
    let args: Vec<String> = std::env::args().collect();
    let port = args
        .iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| "5071".into());
    let stats = args.iter().any(|a| a == "--stats");

    let network_threads = args
        .iter()
        .position(|a| a == "--network-threads")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(1);

    let mut config = ServerConfig::default();
    config.max_connections = 20_000; // the bench opens up to 10,000 clients
    config.network_threads = network_threads;
    let mut server = Server::<BenchChannel>::start_background_with(
        format!("127.0.0.1:{port}").as_str(),
        config,
        Counters::default(),
    )?;
    println!("bench server on {}", server.local_addr());
    let mut next_stats = Instant::now() + Duration::from_secs(1);
    loop {
        server.pump_timeout(Duration::from_millis(100));
        if stats && Instant::now() >= next_stats {
            println!(
                "connections: {}  moves: {}",
                server.connection_count(),
                server.game().moves
            );
            next_stats += Duration::from_secs(1);
        }
    }
}

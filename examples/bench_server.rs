//! The bench protocol server (docs/protocol.md, "The bench protocol"): what outside load
//! generators measure any repod-protocol server with. Its handlers go through the same
//! public API a game uses, dispatched by `pump()` on the main thread.
//!
//! - `ping`: sent back to the sender unchanged;
//! - `move`: adds one to a server-wide counter;
//! - `report`: replies `{"action": "report", "moves": <count>}`;
//! - `broadcast`: sent to every client, the sender included, unchanged.
//!
//! Run it with `cargo run --release --example bench_server -- [HOST [PORT]]` (repod's
//! 127.0.0.1 and 5071 by default; port 0 picks a free one); add `--stats`
//! to print the connection count and moves every second, and `--network-threads N` to spread
//! the connections over N network threads (`ServerConfig::network_threads`). Ctrl-C or
//! SIGTERM stops it gracefully.
//!
//! For the game-tick benchmark (docs/performance.md) it also runs rooms: `join`
//! (`{"room": R}`, answered `{"action": "joined", "room": R, "seat": S}`) puts the player
//! in room R; `input` (`{"seq": N}`) is the player's latest input; and 20 times a second
//! the game loop steps every room (in turns: a tenth of them every 5 ms), sending its state (`{"action": "state", "tick": T,
//! "acks": [the last input seq of each seat], "at_us": when, "pad": ...}`, 256 bytes) to
//! its players.
//!
//! WebSocket load generators drive it on the same port, at `ws://ADDR/`: each binary
//! WebSocket message is one bench message (the msgpack map, without the 4-byte length).
//!
//! With `--metrics ADDR` (`127.0.0.1:9100`; port 0 picks one) it serves `/metrics`,
//! `/healthz` and `/readyz` there (docs/operations.md), and prints `metrics on ADDR` after
//! its first line; `--heartbeat-ms N` measures round trips to podnet clients that often.
//!
//! With `--redis redis://HOST:PORT/` (built with `--features cluster`) it joins a cluster
//! of bench servers (docs/cluster.md; `--node NAME` names it): `broadcast` then reaches
//! every client of every node.

#[path = "common/address.rs"]
mod address;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use podnet::wire::Frame;
use podnet::{
    Channel, ChannelCtx, ChannelHandlers, ConnectionId, DisconnectReason, HookResult, Message,
    SendError, Server, ServerConfig,
};
use serde::{Deserialize, Serialize};

/// How often the game loop steps each room: 20 times a second.
const TICK: Duration = Duration::from_millis(50);

/// The rooms step in turns: a tenth of them every 5 ms, each every tick, so that the
/// states go out spread over the tick instead of all at once.
const SLOTS: u64 = 10;

/// The size of a room's state message.
const STATE_BYTES: usize = 256;

#[derive(Default)]
struct Counters {
    moves: u64,
    /// The tick scenario's rooms, by number.
    rooms: BTreeMap<u64, Room>,
    tick: u64,
    /// With `--redis`: the cluster, for `broadcast`.
    #[cfg(feature = "cluster")]
    cluster: Option<podnet::cluster::ClusterHandle>,
}

#[derive(Serialize, Deserialize, Message)]
#[message(action = "report")]
struct Report {
    moves: u64,
}

/// A room of the tick scenario: its players by seat, and each one's latest input.
#[derive(Default)]
struct Room {
    seats: Vec<Option<ConnectionId>>,
    acks: Vec<u64>,
}

#[derive(Serialize, Deserialize, Message)]
#[message(action = "join")]
struct Join {
    room: u64,
}

#[derive(Serialize, Deserialize, Message)]
#[message(action = "joined")]
struct Joined {
    room: u64,
    seat: usize,
}

#[derive(Serialize, Deserialize, Message)]
#[message(action = "input")]
struct Input {
    seq: u64,
}

#[derive(Serialize, Message)]
#[message(action = "state")]
struct State<'a> {
    tick: u64,
    acks: &'a [u64],
    /// When the room stepped (unix microseconds): the load generator's clock is the same.
    at_us: u64,
    #[serde(with = "serde_bytes")]
    pad: &'a [u8],
}

/// A player: where it sits, in the tick scenario.
#[derive(Default)]
struct BenchChannel {
    seat: Option<(u64, usize)>,
}

impl Channel for BenchChannel {
    type Game = Counters;

    fn on_disconnect(
        &mut self,
        ctx: &mut ChannelCtx<'_, Self>,
        _: &DisconnectReason,
    ) -> HookResult {
        let Some((number, seat)) = self.seat else {
            return Ok(());
        };
        if let Some(room) = ctx.game.rooms.get_mut(&number) {
            if let Some(slot) = room.seats.get_mut(seat) {
                *slot = None;
            }
            if room.seats.iter().all(Option::is_none) {
                ctx.game.rooms.remove(&number);
            }
        }
        Ok(())
    }

    fn handlers(h: &mut ChannelHandlers<Self>) {
        h.on_raw("ping", |_, ctx, msg| -> Result<(), SendError> {
            ctx.server().send(ctx.id(), &Frame::from_message(msg)?)
        })
        .on_raw("move", |_, ctx, _| ctx.game.moves += 1)
        .on(Self::join)
        .on(Self::input)
        .on_raw("report", |_, ctx, _| {
            ctx.send(&Report {
                moves: ctx.game.moves,
            })
        })
        .on_raw("broadcast", |_, ctx, msg| -> Result<(), SendError> {
            let frame = Frame::from_message(msg)?;
            #[cfg(feature = "cluster")]
            if let Some(cluster) = &ctx.game.cluster {
                // Every client of every node; refused past the backlog (then only this
                // node's clients had it), which a bench reports as missing deliveries.
                let _ = cluster.send_to_all(&frame);
                return Ok(());
            }
            ctx.server().send_to_all(&frame)?;
            Ok(())
        });
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = address::command_line(
        "bench_server",
        &[
            "--network-threads",
            "--heartbeat-ms",
            "--metrics",
            "--redis",
            "--node",
        ],
        &["--stats", "--pump"],
    );
    let stats = args.has("--stats");
    let network_threads = match args.value("--network-threads") {
        Some(n) => n.parse()?,
        None => 1,
    };
    let value = |flag: &str| args.value(flag).map(str::to_owned);
    let redis = value("--redis");

    let mut config = ServerConfig::default();
    config.max_connections = 20_000; // the bench opens up to 10,000 clients
    config.network_threads = network_threads;
    // `--pump`: the network runs inside pump(), on this thread.
    config.network_mode = if args.has("--pump") {
        podnet::NetworkMode::Pump
    } else {
        podnet::NetworkMode::Thread
    };
    if let Some(ms) = value("--heartbeat-ms").and_then(|ms| ms.parse().ok()) {
        config.connection.liveness.heartbeat_interval = Some(Duration::from_millis(ms));
    }
    if let Some(addr) = value("--metrics") {
        config.metrics = Some(podnet::MetricsConfig::on(addr.parse()?));
    }
    let mut server = Server::<BenchChannel>::builder()
        .addr(args.addr.clone())
        .config(config)
        .start_background(Counters::default())?;
    server.stop_on_signals()?;
    // Kept alive while the server runs: the cluster's tasks run on it.
    let _cluster = match redis {
        Some(url) => Some(join_cluster(&url, value("--node"), &mut server)?),
        None => None,
    };
    println!("bench server on {}", server.local_addr());
    if let Some(addr) = server.handle().metrics_addr() {
        println!("metrics on {addr}");
    }
    let mut next_stats = Instant::now() + Duration::from_secs(1);
    // Rooms of 10 in the tick scenario: their state is 256 bytes.
    let pad = state_pad(10);
    let slots = SLOTS;
    let slot_period = TICK / u32::try_from(slots).unwrap_or(1);
    let mut slot = 0;
    let mut next_tick = Instant::now() + slot_period;
    while server.stop_requested().is_none() {
        let wait = next_tick.saturating_duration_since(Instant::now());
        if server.game().rooms.is_empty() {
            // Answer at once: the ping, move and broadcast scenarios measure that.
            server.pump_timeout(wait.min(Duration::from_millis(100)));
        } else {
            // A tick-based game's loop: at each turn, take every input that came, step
            // that turn's rooms, send their states; sleep in between.
            std::thread::sleep(wait);
            server.pump();
        }
        let now = Instant::now();
        if now >= next_tick {
            if !server.game().rooms.is_empty() {
                step(&mut server, &pad, slot, slots);
                // In pump mode, what the step could not write at once leaves now.
                server.flush();
            }
            slot = (slot + 1) % slots;
            next_tick += slot_period;
            if next_tick < now {
                // Behind (the machine stalled): the next step is one slot from now.
                next_tick = now + slot_period;
            }
        }
        if stats && Instant::now() >= next_stats {
            println!(
                "connections: {}  moves: {}",
                server.len(),
                server.game().moves
            );
            next_stats += Duration::from_secs(1);
        }
    }
    server.shutdown("bench server stopped", Duration::from_secs(2));
    Ok(())
}

impl BenchChannel {
    fn join(&mut self, ctx: &mut ChannelCtx<'_, Self>, join: Join) -> Result<(), SendError> {
        let id = ctx.id();
        let room = ctx.game.rooms.entry(join.room).or_default();
        let seat = room.seats.len();
        room.seats.push(Some(id));
        room.acks.push(0);
        self.seat = Some((join.room, seat));
        ctx.send(&Joined {
            room: join.room,
            seat,
        })
    }

    fn input(&mut self, ctx: &mut ChannelCtx<'_, Self>, input: Input) {
        if let Some((room, seat)) = self.seat {
            if let Some(ack) = ctx
                .game
                .rooms
                .get_mut(&room)
                .and_then(|r| r.acks.get_mut(seat))
            {
                *ack = (*ack).max(input.seq);
            }
        }
    }
}

/// Steps the rooms of `slot` (those whose number is `slot` modulo `slots`) once: its
/// state to each of its players, encoded once per room.
fn step(server: &mut Server<BenchChannel>, pad: &[u8], slot: u64, slots: u64) {
    let at_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    let handle = server.handle().clone();
    let game = server.game_mut();
    if slot == 0 {
        game.tick += 1;
    }
    let rooms = game
        .rooms
        .iter()
        .filter(|(number, _)| *number % slots == slot);
    for (_, room) in rooms {
        let state = State {
            tick: game.tick,
            acks: &room.acks,
            at_us,
            pad,
        };
        let Ok(frame) = Frame::encode(&state, handle.framing()) else {
            continue;
        };
        let _ = handle.send_to(room.seats.iter().flatten().copied(), &frame);
    }
}

/// The padding that makes a full room's state `STATE_BYTES` long.
fn state_pad(room_size: usize) -> Vec<u8> {
    let acks = vec![u64::from(u32::MAX); room_size];
    let probe = State {
        tick: u64::from(u32::MAX),
        acks: &acks,
        at_us: u64::MAX,
        pad: &[],
    };
    let len = Frame::encode(&probe, &Default::default())
        .map(|f| f.as_bytes().len() - 4)
        .unwrap_or(STATE_BYTES);
    vec![0x55; STATE_BYTES.saturating_sub(len)]
}

/// Joins the cluster at `url` (on a runtime of its own) and gives `broadcast` its handle.
#[cfg(feature = "cluster")]
fn join_cluster(
    url: &str,
    node: Option<String>,
    server: &mut Server<BenchChannel>,
) -> Result<(tokio::runtime::Runtime, podnet::cluster::Cluster), Box<dyn std::error::Error>> {
    use podnet::cluster::{Cluster, ClusterConfig};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let mut config = ClusterConfig::new(url);
    config.node = node;
    let players = server.handle().clone();
    let cluster = runtime.block_on(Cluster::start(config, players))?;
    server.game_mut().cluster = Some(cluster.handle());
    eprintln!(
        "bench server: node {} of the cluster at {url}",
        cluster.node().id()
    );
    Ok((runtime, cluster))
}

#[cfg(not(feature = "cluster"))]
fn join_cluster(
    _: &str,
    _: Option<String>,
    _: &mut Server<BenchChannel>,
) -> Result<(), Box<dyn std::error::Error>> {
    eprintln!(
        "bench server: --redis needs the cluster feature: \
         cargo run --release --example bench_server --features cluster -- --redis URL"
    );
    std::process::exit(2);
}

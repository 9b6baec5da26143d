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
//! the connections over N network threads (`ServerConfig::network_threads`). Ctrl-C or
//! SIGTERM stops it gracefully.
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

use std::time::{Duration, Instant};

use podnet::wire::Frame;
use podnet::{Channel, ChannelHandlers, Message, SendError, Server, ServerConfig};
use serde::{Deserialize, Serialize};

#[derive(Default)]
struct Counters {
    moves: u64,
    /// With `--redis`: the cluster, for `broadcast`.
    #[cfg(feature = "cluster")]
    cluster: Option<podnet::cluster::ClusterHandle>,
}

#[derive(Serialize, Deserialize, Message)]
#[message(action = "report")]
struct Report {
    moves: u64,
}

#[derive(Default)]
struct BenchChannel;

impl Channel for BenchChannel {
    type Game = Counters;

    fn handlers(h: &mut ChannelHandlers<Self>) {
        h.on_raw("ping", |_, ctx, msg| -> Result<(), SendError> {
            ctx.server()
                .send_frame(ctx.id(), &Frame::from_message(msg)?)
        })
        .on_raw("move", |_, ctx, _| ctx.game.moves += 1)
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
            ctx.server().send_frame_to_all(&frame);
            Ok(())
        });
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
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

    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let redis = value("--redis");

    let mut config = ServerConfig::default();
    config.max_connections = 20_000; // the bench opens up to 10,000 clients
    config.network_threads = network_threads;
    if let Some(ms) = value("--heartbeat-ms").and_then(|ms| ms.parse().ok()) {
        config.connection.liveness.heartbeat_interval = Some(Duration::from_millis(ms));
    }
    if let Some(addr) = value("--metrics") {
        config.metrics = Some(podnet::MetricsConfig::on(addr.parse()?));
    }
    let mut server = Server::<BenchChannel>::builder()
        .addr(format!("127.0.0.1:{port}"))
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
    while server.stop_requested().is_none() {
        server.pump_timeout(Duration::from_millis(100));
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

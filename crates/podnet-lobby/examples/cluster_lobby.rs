//! One lobby over three podnet servers that share their players through Redis: players
//! log in on any node, are paired with players of other nodes, and play a session that
//! runs on one node while the others take part through their own. When the node running
//! a game is killed, its players on the other nodes are told and go back to the lobby.
//!
//! `cargo run --example cluster_lobby --features cluster` runs the whole demo and ends by
//! itself: it starts a `redis-server` (from PATH) on a free port, three nodes (this
//! program, `node` mode, as separate processes, each an ordinary `pump()` game loop),
//! and bots. Two bots on different nodes play a game of high card; then they play again,
//! the node running that game is killed with SIGKILL, and whoever is left is told, goes
//! back to the lobby, and plays with a newcomer.
//!
//! `cargo run --example cluster_lobby --features cluster -- node --redis
//! redis://127.0.0.1:6379/ --node a` runs one node (`--port P`, `--ttl-ms N`).

use std::process::Command;
use std::time::Duration;

use podnet_cluster::ClusterConfig;
use podnet_framing::{FramingConfig, Value};
use podnet_lobby::cluster::ClusterLobbyConfig;
use podnet_lobby::{Game, LobbyConfig, LobbyServer, Message, SessionCtx, SessionHandlers};
use podnet_testkit::Process;
use podnet_transport::{Client, ClientConfig, ClientEvent, EventStream, Frame, ServerConfig};
use serde::{Deserialize, Serialize};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

// ---- The game: high card, for two ----

/// Server → both players, as the session starts: which node runs it.
#[derive(Serialize, Deserialize, Message)]
#[message(action = "table")]
struct Table {
    node: String,
}

/// Client → server: this player's card.
#[derive(Serialize, Deserialize, Message)]
#[message(action = "card")]
struct Card {
    value: u32,
}

/// One game: each player shows a card; the higher one wins.
struct HighCard {
    cards: [Option<u32>; 2],
}

impl Game for HighCard {
    /// The node's id, to tell the players where their game runs.
    type Setup = String;

    fn start(node: &String, ctx: &mut SessionCtx<'_>) -> Self {
        eprintln!(
            "  [node {node}] session {} starts here: {} vs {}",
            ctx.session(),
            ctx.name(0),
            ctx.name(1)
        );
        ctx.send_to_all(&Table { node: node.clone() });
        HighCard { cards: [None; 2] }
    }

    fn handlers(h: &mut SessionHandlers<Self>) {
        h.on(Self::card);
    }
}

impl HighCard {
    fn card(&mut self, ctx: &mut SessionCtx<'_>, card: Card) {
        self.cards[ctx.sender()] = Some(card.value);
        if let [Some(a), Some(b)] = self.cards {
            let winner = if a >= b { 0 } else { 1 };
            ctx.end(format!("{} wins, {a} to {b}", ctx.name(winner)));
        }
    }
}

// ---- One node: an ordinary game loop ----

fn node(args: &[String]) -> Result<()> {
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let url = value("--redis").ok_or("node mode needs --redis URL")?;
    let port = value("--port").unwrap_or_else(|| "0".into());
    let mut cluster = ClusterConfig::new(url);
    cluster.node = value("--node");
    if let Some(ttl) = value("--ttl-ms").and_then(|t| t.parse::<u64>().ok()) {
        cluster.ttl = Duration::from_millis(ttl);
        cluster.heartbeat = cluster.ttl / 4;
    }
    let name = cluster.node.clone().unwrap_or_else(|| "?".into());
    let mut lobby_cluster = ClusterLobbyConfig::default();
    lobby_cluster.check_nodes_every = Duration::from_millis(200);
    let mut server = LobbyServer::<HighCard>::start_clustered(
        format!("127.0.0.1:{port}"),
        ServerConfig::default(),
        LobbyConfig::new(2),
        name.clone(),
        cluster,
        &lobby_cluster,
    )?;
    println!("node {name} on {}", server.local_addr());
    loop {
        // One frame of the game loop: the network's events, the cluster's, the games.
        server.pump_timeout(Duration::from_millis(10));
    }
}

// ---- The demo ----

/// Starts a node process; returns it and its address.
fn start_node(url: &str, name: &str) -> Result<(Process, String)> {
    let mut node = Command::new(std::env::current_exe()?);
    node.args(["node", "--redis", url, "--node", name, "--ttl-ms", "1000"]);
    Ok(Process::start_listening(&mut node)?)
}

/// A bot: a plain client speaking the lobby's messages (a repod client could do the same).
struct Bot {
    name: &'static str,
    client: Client,
    events: EventStream<ClientEvent>,
}

impl Bot {
    /// Connects to `addr` and logs in.
    async fn join(name: &'static str, addr: &str) -> Result<Bot> {
        let (client, events) = Client::connect(addr, ClientConfig::default()).await?;
        let mut bot = Bot {
            name,
            client,
            events,
        };
        bot.send("login", vec![("name", Value::from(name))])?;
        bot.expect("welcome").await?;
        Ok(bot)
    }

    fn send(&self, action: &str, fields: Vec<(&str, Value)>) -> Result<()> {
        let mut map = vec![(Value::from("action"), Value::from(action))];
        map.extend(fields.into_iter().map(|(k, v)| (Value::from(k), v)));
        let frame = Frame::from_value(&Value::Map(map), &FramingConfig::default())?;
        Ok(self.client.send(&frame)?)
    }

    /// Reads until a message with `action`; prints what matters on the way.
    async fn expect(&mut self, action: &str) -> Result<Value> {
        loop {
            let event = tokio::time::timeout(Duration::from_secs(10), self.events.recv())
                .await
                .map_err(|_| format!("{} did not get {action:?} in time", self.name))?
                .ok_or("the connection ended")?;
            let msg = match event {
                ClientEvent::Message(msg) => msg,
                ClientEvent::Disconnected(reason) => {
                    return Err(format!("{} was disconnected: {reason}", self.name).into());
                }
                _ => continue,
            };
            let value = msg.to_value()?;
            let line = match msg.action() {
                "welcome" => Some("in the lobby".to_owned()),
                "game_start" => Some(format!(
                    "game {} starts: {}",
                    value["session"], value["players"]
                )),
                "table" => Some(format!(
                    "the game runs on node {}",
                    value["node"].as_str().unwrap_or("?")
                )),
                "game_over" => Some(format!(
                    "game over: {}",
                    value["result"].as_str().unwrap_or("?")
                )),
                _ => None,
            };
            if let Some(line) = line {
                println!("  [{}] {line}", self.name);
            }
            if msg.action() == action {
                return Ok(value);
            }
        }
    }

    /// Waits for a game, and says where it runs.
    async fn seated(&mut self) -> Result<String> {
        self.expect("game_start").await?;
        let table = self.expect("table").await?;
        Ok(table["node"].as_str().unwrap_or_default().to_owned())
    }
}

async fn demo() -> Result<()> {
    // A redis-server from PATH (or REDIS_SERVER) on a free port, persistence off,
    // stopped when dropped: the test kit's.
    let redis = podnet_testkit::RedisServer::start()
        .map_err(|e| format!("{e} (Debian: apt-get install redis-server)"))?;
    let url = redis.url();
    println!("redis-server on {url}; three lobby nodes:");
    let mut nodes = Vec::new();
    for name in ["a", "b", "c"] {
        let (process, addr) = start_node(&url, name)?;
        println!("  node {name} on {addr}");
        nodes.push((name, Some(process), addr));
    }

    println!("ann logs in on node a, bob on node b: one lobby, so they are paired.");
    let mut ann = Bot::join("ann", &nodes[0].2).await?;
    let mut bob = Bot::join("bob", &nodes[1].2).await?;
    ann.seated().await?;
    bob.seated().await?;
    ann.send("card", vec![("value", Value::from(9))])?;
    bob.send("card", vec![("value", Value::from(4))])?;
    ann.expect("game_over").await?;
    bob.expect("game_over").await?;

    println!("back in the lobby, they are paired again...");
    let host = ann.seated().await?;
    bob.seated().await?;
    println!("...and node {host}, which runs their game, is killed (SIGKILL).");
    let at = nodes
        .iter()
        .position(|(name, _, _)| *name == host)
        .ok_or("no such node")?;
    drop(nodes[at].1.take());
    // Whoever was not connected to the dead node is told, and is back in the lobby.
    let mut left = Vec::new();
    for (bot, home) in [(ann, "a"), (bob, "b")] {
        if home != host {
            left.push(bot);
        }
    }
    for bot in &mut left {
        bot.expect("game_over").await?;
        bot.expect("welcome").await?;
    }
    if left.len() < 2 {
        let live = nodes
            .iter()
            .find(|(_, process, _)| process.is_some())
            .ok_or("no live node")?;
        println!("cy logs in on node {} and plays with who is left.", live.0);
        left.push(Bot::join("cy", &live.2).await?);
    }
    for bot in &mut left {
        bot.seated().await?;
    }
    left[0].send("card", vec![("value", Value::from(7))])?;
    left[1].send("card", vec![("value", Value::from(8))])?;
    for bot in &mut left {
        bot.expect("game_over").await?;
    }
    println!("done.");
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("node") => node(&args[1..]),
        None => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?
            .block_on(demo()),
        Some(other) => Err(format!("unknown mode {other:?}: say `node ...`, or nothing").into()),
    }
}

//! A chat spread over three podnet servers that share their players through Redis: each
//! player connects to any node, nicknames are unique across the cluster, and every line
//! reaches everyone, whatever node they are on.
//!
//! `cargo run --example cluster_chat` runs the whole demo and ends by itself: it starts a
//! `redis-server` (from PATH) on a free port, three nodes (this program, `node` mode, as
//! separate processes), and bots on different nodes that pick nicknames (one is refused:
//! taken on another node) and chat; then it kills one node with SIGKILL, and the name of
//! its player is free again within the cluster's TTL.
//!
//! `cargo run --example cluster_chat -- node --redis redis://127.0.0.1:6379/ --node a`
//! runs one node (add `--port P`; `--ttl-ms N` for the cluster's TTL). Clients speak:
//! `{"action": "nickname", "nickname": "ann"}`, then `{"action": "message", "text": "hi"}`;
//! they get `system` lines and `message` lines with `who`.

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use podnet_cluster::{Cluster, ClusterConfig};
use podnet_framing::{FramingConfig, Value};
use podnet_testkit::Process;
use podnet_transport::{
    Client, ClientConfig, ClientEvent, ConnectionId, EventStream, Frame, Server, ServerConfig,
    ServerEvent,
};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// A message with `action` and string fields.
fn msg(action: &str, fields: &[(&str, &str)]) -> Frame {
    let mut map = vec![(Value::from("action"), Value::from(action))];
    map.extend(
        fields
            .iter()
            .map(|(k, v)| (Value::from(*k), Value::from(*v))),
    );
    Frame::from_value(&Value::Map(map), &FramingConfig::default())
        .unwrap_or_else(|e| panic!("a chat message does not encode: {e}"))
}

fn system(text: &str) -> Frame {
    msg("system", &[("text", text)])
}

// ---- One node ----

async fn node(args: &[String]) -> Result<()> {
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let url = value("--redis").ok_or("node mode needs --redis URL")?;
    let port = value("--port").unwrap_or_else(|| "0".into());
    let mut config = ClusterConfig::new(url);
    config.node = value("--node");
    if let Some(ttl) = value("--ttl-ms").and_then(|t| t.parse::<u64>().ok()) {
        config.ttl = Duration::from_millis(ttl);
        config.heartbeat = config.ttl / 4;
    }
    let (server, mut events) =
        Server::bind(format!("127.0.0.1:{port}"), ServerConfig::default()).await?;
    let server = Arc::new(server);
    let cluster = Cluster::start(config, server.handle().clone()).await?;
    let me = cluster.node().id().to_owned();
    println!("node {me} on {}", server.local_addr());
    let mut nicknames: HashMap<ConnectionId, String> = HashMap::new();
    while let Some(event) = events.recv().await {
        match event {
            ServerEvent::Connected { id, .. } => {
                let _ = server.send(id, &system(&format!("node {me}: pick a nickname")));
            }
            ServerEvent::Message { id, message } => {
                let Ok(value) = message.to_value() else {
                    continue;
                };
                match (message.action(), nicknames.get(&id).cloned()) {
                    ("nickname", None) => {
                        let wanted = value["nickname"].as_str().unwrap_or_default().to_owned();
                        if wanted.is_empty() || !cluster.claim_name(&wanted, id).await? {
                            let taken = format!("the name {wanted:?} is taken");
                            let _ = server.send(id, &system(&taken));
                            continue;
                        }
                        let joined = format!("{wanted} joined on node {me}");
                        nicknames.insert(id, wanted);
                        cluster.send_to_all(&system(&joined)).await?;
                    }
                    ("message", Some(who)) => {
                        let text = value["text"].as_str().unwrap_or_default();
                        let line = msg("message", &[("who", &who), ("text", text)]);
                        cluster.send_to_all(&line).await?;
                    }
                    _ => {}
                }
            }
            ServerEvent::Disconnected { id, .. } => {
                cluster.player_left(id).await?;
                if let Some(who) = nicknames.remove(&id) {
                    cluster.send_to_all(&system(&format!("{who} left"))).await?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

// ---- The demo ----

/// Starts a node process; returns it and its address.
fn start_node(url: &str, name: &str) -> Result<(Process, String)> {
    let mut node = Command::new(std::env::current_exe()?);
    node.args(["node", "--redis", url, "--node", name, "--ttl-ms", "1000"]);
    Ok(Process::start_listening(&mut node)?)
}

/// A bot: a client, and what it has read.
struct Bot {
    name: &'static str,
    client: Client,
    events: EventStream<ClientEvent>,
}

impl Bot {
    async fn connect(name: &'static str, addr: &str) -> Result<Bot> {
        let (client, events) = Client::connect(addr, ClientConfig::default()).await?;
        let mut bot = Bot {
            name,
            client,
            events,
        };
        bot.expect("pick a nickname").await?;
        Ok(bot)
    }

    fn send(&self, frame: &Frame) -> Result<()> {
        Ok(self.client.send(frame)?)
    }

    /// Reads (and prints) until a line containing `text` arrives.
    async fn expect(&mut self, text: &str) -> Result<String> {
        loop {
            let event = tokio::time::timeout(Duration::from_secs(10), self.events.recv())
                .await
                .map_err(|_| format!("{} did not hear {text:?} in time", self.name))?
                .ok_or("the connection ended")?;
            if let ClientEvent::Message(m) = event {
                let value = m.to_value()?;
                let line = match m.action() {
                    "message" => format!(
                        "{}: {}",
                        value["who"].as_str().unwrap_or("?"),
                        value["text"].as_str().unwrap_or("")
                    ),
                    "system" => format!("* {}", value["text"].as_str().unwrap_or("")),
                    _ => continue,
                };
                println!("  [{}] {line}", self.name);
                if line.contains(text) {
                    return Ok(line);
                }
            }
        }
    }

    /// Asks for `nickname`; true if this bot got it.
    async fn nickname(&mut self, nickname: &str) -> Result<bool> {
        self.send(&msg("nickname", &[("nickname", nickname)]))?;
        let line = self.expect(nickname).await?;
        Ok(!line.contains("taken"))
    }
}

async fn demo() -> Result<()> {
    // A redis-server from PATH (or REDIS_SERVER) on a free port, persistence off,
    // stopped when dropped: the test kit's.
    let redis = podnet_testkit::RedisServer::start()
        .map_err(|e| format!("{e} (Debian: apt-get install redis-server)"))?;
    let url = redis.url();
    println!("redis-server on {url}; three nodes:");
    let (node_a, a) = start_node(&url, "a")?;
    let (_node_b, b) = start_node(&url, "b")?;
    let (_node_c, c) = start_node(&url, "c")?;

    let mut ann = Bot::connect("ann", &a).await?;
    let mut bob = Bot::connect("bob", &b).await?;
    let mut cy = Bot::connect("cy", &c).await?;
    assert!(ann.nickname("ann").await?);
    assert!(bob.nickname("bob").await?);
    assert!(cy.nickname("cy").await?);
    let mut late = Bot::connect("late", &c).await?;
    let got = late.nickname("ANN").await?;
    assert!(
        !got,
        "ann is taken on node a: names are unique cluster-wide"
    );

    ann.send(&msg("message", &[("text", "hello from node a")]))?;
    for bot in [&mut bob, &mut cy, &mut late] {
        bot.expect("hello from node a").await?;
    }
    cy.send(&msg("message", &[("text", "and from node c")]))?;
    for bot in [&mut ann, &mut bob] {
        bot.expect("and from node c").await?;
    }

    println!("node a is killed (SIGKILL): ann's name frees itself within the TTL");
    drop(node_a);
    let freed = tokio::time::Instant::now();
    loop {
        if late.nickname("ann").await? {
            break;
        }
        if freed.elapsed() > Duration::from_secs(10) {
            return Err("ann was not freed within 10 s".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "the name ann was free again after {:?}; done.",
        freed.elapsed()
    );
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    match args.first().map(String::as_str) {
        Some("node") => runtime.block_on(node(&args[1..])),
        None => runtime.block_on(demo()),
        Some(other) => Err(format!("unknown mode {other:?}: say `node ...`, or nothing").into()),
    }
}

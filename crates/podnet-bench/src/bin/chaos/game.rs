//! The relay game the nodes run, and a node's program.

use std::time::Duration;

use podnet_cluster::ClusterConfig;
use podnet_lobby::cluster::ClusterLobbyConfig;
use podnet_lobby::{Game, LobbyConfig, LobbyServer, Message, Seat, SessionCtx, SessionHandlers};
use podnet_transport::{ResumeConfig, ServerConfig};
use serde::{Deserialize, Serialize};

use crate::{LINES, Result, quick_heartbeat};

/// Server → both players, as the game starts: its name, unique in the cluster (the
/// node's id and the session's number there).
#[derive(Serialize, Deserialize, Message)]
#[message(action = "table")]
pub(crate) struct Table {
    game: String,
}

/// Player → server: its line `n` of game `game`. (A line sent as a game ends can reach
/// the player's next game: a player's connection may resume after the lobby has seated
/// it again. The game's name tells them apart.)
#[derive(Serialize, Deserialize, Message)]
#[message(action = "say")]
pub(crate) struct Say {
    game: String,
    n: u64,
}

/// Server → both players: the player at `seat` said line `n`.
#[derive(Serialize, Deserialize, Message)]
#[message(action = "said")]
pub(crate) struct Said {
    session: u64,
    seat: usize,
    n: u64,
}

/// Relays every line to both players; ends when both have said [`LINES`].
pub(crate) struct Relay {
    game: String,
    said: Vec<u64>,
}

impl Game for Relay {
    /// The node's id.
    type Setup = String;

    fn start(node: &String, ctx: &mut SessionCtx<'_>) -> Self {
        let game = format!("{node}/{}", ctx.session());
        ctx.send_to_all(&Table { game: game.clone() });
        Relay {
            game,
            said: vec![0; ctx.seats()],
        }
    }

    fn handlers(h: &mut SessionHandlers<Self>) {
        h.on(Self::say);
    }

    fn on_leave(&mut self, ctx: &mut SessionCtx<'_>, seat: Seat) {
        let name = ctx.name(seat).to_owned();
        ctx.end(format!("left: {name}"));
    }
}

impl Relay {
    fn say(&mut self, ctx: &mut SessionCtx<'_>, say: Say) {
        if say.game != self.game {
            // A line of the player's previous game.
            return;
        }
        let seat = ctx.sender();
        self.said[seat] = say.n;
        ctx.send_to_all(&Said {
            session: ctx.session(),
            seat,
            n: say.n,
        });
        if self.said.iter().all(|&n| n >= LINES) {
            ctx.end("done");
        }
    }
}

// ---- One node ----

pub(crate) fn node(args: &[String]) -> Result<()> {
    // What a node logs (RUST_LOG, on stderr), to find what broke a guarantee.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let mut cluster = ClusterConfig::new(value("--redis").ok_or("node needs --redis URL")?);
    cluster.node = value("--node");
    cluster.ttl = Duration::from_secs(1);
    cluster.heartbeat = Duration::from_millis(250);
    let mut lobby_cluster = ClusterLobbyConfig::default();
    lobby_cluster.check_nodes_every = Duration::from_millis(200);
    let mut server_config = ServerConfig::default();
    server_config.resume = Some(ResumeConfig::default());
    quick_heartbeat(&mut server_config.connection.liveness);
    let name = cluster.node.clone().unwrap_or_default();
    let mut server = LobbyServer::<Relay>::start_clustered(
        "127.0.0.1:0",
        server_config,
        LobbyConfig::new(2),
        name.clone(),
        cluster,
        &lobby_cluster,
    )?;
    println!("node {name} on {}", server.local_addr());
    loop {
        server.pump_timeout(Duration::from_millis(10));
    }
}

//! A new user's first game server, written from the README and the guides alone: players
//! send where they move, and the game loop broadcasts every player's position 20 times a
//! second. Two bots walk around for a second, then leave; the program ends by itself.
//!
//! Run it with `cargo run --example positions`.
//!
//! What to look at:
//! - the server never answers a move: it only records it in the player's channel;
//! - the game loop's tick reads every channel (`server.channels()`, in the order players
//!   connected) and sends one `Positions` message to everyone (`send_to_all`);
//! - the bots move every frame and count the ticks they receive.

use std::time::{Duration, Instant};

use podnet::{
    Channel, ChannelCtx, ChannelHandlers, Client, ClientCtx, ConnectionId, ConnectionListener,
    ListenerHandlers, Message, Server,
};
use serde::{Deserialize, Serialize};

/// Client → server: where this player is now.
#[derive(Serialize, Deserialize, Message)]
#[message(action = "move")]
struct Move {
    x: f32,
    y: f32,
}

/// Server → everyone, 20 times a second: every player's position.
#[derive(Serialize, Deserialize, Message)]
#[message(action = "positions")]
struct Positions {
    players: Vec<(ConnectionId, f32, f32)>,
}

/// The server's side of one player: where they are.
#[derive(Default)]
struct Player {
    x: f32,
    y: f32,
}

impl Channel for Player {
    type Game = ();

    fn handlers(h: &mut ChannelHandlers<Self>) {
        h.on(
            |player: &mut Player, _: &mut ChannelCtx<'_, Player>, msg: Move| {
                (player.x, player.y) = (msg.x, msg.y);
            },
        );
    }
}

/// A bot: walks in a straight line and counts the position updates it hears.
#[derive(Default)]
struct Bot {
    speed: f32,
    x: f32,
    updates: usize,
    players_seen: usize,
}

impl ConnectionListener for Bot {
    fn handlers(h: &mut ListenerHandlers<Self>) {
        h.on(|bot: &mut Bot, _: &mut ClientCtx<'_>, msg: Positions| {
            bot.updates += 1;
            bot.players_seen = bot.players_seen.max(msg.players.len());
        });
    }
}

fn main() -> Result<(), podnet::Error> {
    let mut server = Server::<Player>::start_background("127.0.0.1:0", ())?;
    println!("[server] listening on {}", server.local_addr());
    let mut bots = vec![
        Client::connect(
            server.local_addr(),
            Bot {
                speed: 1.0,
                ..Bot::default()
            },
        )?,
        Client::connect(
            server.local_addr(),
            Bot {
                speed: -2.0,
                ..Bot::default()
            },
        )?,
    ];

    let tick = Duration::from_millis(50); // 20 times a second
    let mut next_tick = Instant::now() + tick;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(10);
    while started.elapsed() < Duration::from_secs(1)
        || bots.iter().any(|b| b.listener().updates < 10)
    {
        assert!(
            Instant::now() < deadline,
            "the demo should end within seconds"
        );
        // The bots' frames: move, send where they are.
        for bot in &mut bots {
            bot.pump();
            let me = bot.listener_mut();
            me.x += me.speed;
            let x = me.x;
            bot.send(&Move { x, y: 0.0 })?;
        }
        // The server's frame: handle the moves, then broadcast on the tick.
        server.pump();
        if Instant::now() >= next_tick {
            next_tick += tick;
            let players = server.channels().map(|(id, p)| (id, p.x, p.y)).collect();
            server.send_to_all(&Positions { players })?;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    for (i, bot) in bots.iter().enumerate() {
        let bot = bot.listener();
        println!(
            "[bot {i}] heard {} position updates, of up to {} players; walked to x = {}",
            bot.updates, bot.players_seen, bot.x
        );
        assert_eq!(bot.players_seen, 2, "each bot saw both players");
    }
    println!("[server] done.");
    Ok(())
}

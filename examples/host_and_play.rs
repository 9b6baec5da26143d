//! The seeds' host-and-play pattern: one player hosts (runs the server in the background of
//! their own game) and plays on it too, with the same client API as everyone else. A
//! second player joins; both move; the host's game loop handles the server's events and
//! its own client's. Ends by itself.
//!
//! Run it with `cargo run --example host_and_play`.

use std::time::{Duration, Instant};

use podnet::{
    Channel, ChannelCtx, ChannelHandlers, Client, ClientCtx, ConnectionListener, ListenerHandlers,
    Message, Server,
};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Debug, Message)]
#[message(action = "move")]
struct Move {
    who: String,
    x: i32,
    y: i32,
}

/// The host's server: relays every move to every player (repod's `GameChannel`).
#[derive(Default)]
struct GameChannel;

impl Channel for GameChannel {
    type Game = ();

    fn handlers(h: &mut ChannelHandlers<Self>) {
        h.on(|_: &mut Self, ctx: &mut ChannelCtx<'_, Self>, msg: Move| {
            ctx.send_to_all(&msg).map(drop)
        });
    }
}

/// A player's view: where everyone is.
#[derive(Default)]
struct GameClient {
    name: &'static str,
    moves_seen: usize,
}

impl ConnectionListener for GameClient {
    fn handlers(h: &mut ListenerHandlers<Self>) {
        h.on(|me: &mut Self, _: &mut ClientCtx<'_>, msg: Move| {
            me.moves_seen += 1;
            println!("[{}] {} moved to ({}, {})", me.name, msg.who, msg.x, msg.y);
        });
    }
}

fn main() -> Result<(), podnet::Error> {
    // The host starts a server in the background...
    let mut server = Server::<GameChannel>::start_background("127.0.0.1:0", ())?;
    let addr = server.local_addr();
    println!("hosting on {addr}");
    // ...and joins it like anyone else.
    let mut host = Client::connect(
        addr,
        GameClient {
            name: "host",
            ..Default::default()
        },
    )?;
    // Another player joins (in a real game: another machine).
    let mut guest = Client::connect(
        addr,
        GameClient {
            name: "guest",
            ..Default::default()
        },
    )?;

    let deadline = Instant::now() + Duration::from_secs(10);
    let mut frame = 0;
    // Each player makes 3 moves; each sees all 6.
    while host.listener().moves_seen < 6 || guest.listener().moves_seen < 6 {
        // Moves start once the server has both players: a move relayed before a player's
        // handshake is done would not reach them.
        let everyone_in = server.len() == 2;
        if everyone_in && frame < 3 {
            host.send(&Move {
                who: "host".into(),
                x: frame,
                y: 0,
            })?;
            guest.send(&Move {
                who: "guest".into(),
                x: 0,
                y: frame,
            })?;
        }
        if everyone_in {
            frame += 1;
        }
        // The host's game loop pumps both its server and its own client.
        server.pump();
        host.pump();
        guest.pump();
        assert!(
            Instant::now() < deadline,
            "the demo should end within seconds"
        );
        std::thread::sleep(Duration::from_millis(16)); // ~60 frames per second
    }
    println!("both players saw all 6 moves; the host shuts the game down.");
    Ok(())
}

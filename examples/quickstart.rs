//! podnet in one file: a chat server and three bot players in one process, all driven by
//! one ordinary game loop. Prints what happens and ends by itself.
//!
//! Run it with `cargo run --example quickstart`.
//!
//! What to look at:
//! - messages are plain structs with an action name (`#[derive(Message)]`);
//! - the server side is a `Player` per connection, with a handler per action, and a shared
//!   `Lobby` game state that handlers change through `ctx.game`: no locks, because
//!   handlers run in `server.pump()`, on this thread;
//! - the client side is a `Bot` with handlers of its own, run in `bot.pump()`;
//! - the network itself runs on background threads;
//! - a message that does not fit its handler's type, or a handler that returns an error,
//!   reaches `on_error`; until you override it, that prints a warning on stderr (or
//!   through `tracing`, once your program installs a subscriber), so nothing is lost
//!   silently.

use std::time::{Duration, Instant};

use podnet::{
    Channel, ChannelCtx, ChannelHandlers, Client, ClientCtx, Connected, ConnectionListener,
    DisconnectReason, HookResult, ListenerHandlers, Message, SendError, Server,
};
use serde::{Deserialize, Serialize};

// ---- The messages both sides agree on ----

/// A player introduces themself.
#[derive(Serialize, Deserialize, Message)]
#[message(action = "hello")]
struct Hello {
    name: String,
}

/// A line of chat; the server relays it to everyone.
#[derive(Serialize, Deserialize, Clone, Message)]
#[message(action = "chat")]
struct Chat {
    who: String,
    text: String,
}

// ---- The server ----

/// What the whole server shares: here, just a count of lines relayed.
#[derive(Default)]
struct Lobby {
    lines: usize,
}

/// One connected player, as the server sees them.
#[derive(Default)]
struct Player {
    name: Option<String>,
}

impl Channel for Player {
    type Game = Lobby;

    fn handlers(h: &mut ChannelHandlers<Self>) {
        h.on(Self::hello).on(Self::chat);
    }

    fn on_connect(&mut self, ctx: &mut ChannelCtx<'_, Self>) -> HookResult {
        println!("[server] {} connected from {}", ctx.id(), ctx.peer());
        Ok(())
    }

    fn on_disconnect(
        &mut self,
        ctx: &mut ChannelCtx<'_, Self>,
        reason: &DisconnectReason,
    ) -> HookResult {
        let name = self.name.as_deref().unwrap_or("someone");
        println!("[server] {name} left ({reason})");
        ctx.send_to_all(&Chat {
            who: "server".into(),
            text: format!("{name} left"),
        })?;
        Ok(())
    }
}

impl Player {
    fn hello(&mut self, ctx: &mut ChannelCtx<'_, Self>, msg: Hello) {
        println!("[server] {} is {}", ctx.id(), msg.name);
        self.name = Some(msg.name);
    }

    /// A handler may return a `Result`: an error goes to `Channel::on_error`, with the
    /// action named.
    fn chat(&mut self, ctx: &mut ChannelCtx<'_, Self>, msg: Chat) -> Result<(), SendError> {
        ctx.game.lines += 1;
        // Encoded once, queued for every player.
        ctx.send_to_all(&msg)?;
        Ok(())
    }
}

// ---- A bot player ----

const BOTS: [&str; 3] = ["alice", "bob", "carol"];

struct Bot {
    name: &'static str,
    /// Which bots' greetings this bot has heard.
    heard: Vec<String>,
}

impl ConnectionListener for Bot {
    fn handlers(h: &mut ListenerHandlers<Self>) {
        h.on(Self::connected).on(Self::chat);
    }
}

impl Bot {
    /// The server's greeting: introduce ourselves and say hi.
    fn connected(&mut self, ctx: &mut ClientCtx<'_>, _: Connected) -> Result<(), SendError> {
        ctx.send(&Hello {
            name: self.name.into(),
        })?;
        ctx.send(&Chat {
            who: self.name.into(),
            text: format!("hi, I'm {}!", self.name),
        })
    }

    fn chat(&mut self, ctx: &mut ClientCtx<'_>, msg: Chat) {
        println!("  [{}] {}: {}", self.name, msg.who, msg.text);
        if BOTS.contains(&msg.who.as_str()) {
            self.heard.push(msg.who);
            if self.heard.len() == BOTS.len() {
                // Heard everyone: leave. What we sent before is still delivered.
                ctx.close("heard everyone");
            }
        }
    }
}

fn main() -> Result<(), podnet::Error> {
    // Port 0: the system picks a free port, so the demo never clashes with anything.
    let mut server = Server::<Player>::start_background("127.0.0.1:0", Lobby::default())?;
    println!("[server] listening on {}", server.local_addr());

    let mut bots = Vec::new();
    for name in BOTS {
        let bot = Bot {
            name,
            heard: Vec::new(),
        };
        bots.push(Client::connect(server.local_addr(), bot)?);
    }

    // The game loop: a frame every 10 ms, pumping the network once per frame.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        server.pump();
        for bot in &mut bots {
            bot.pump();
        }
        let everyone_left = bots.iter().all(|bot| !bot.is_connected());
        if everyone_left && server.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the demo should end within seconds"
        );
        std::thread::sleep(Duration::from_millis(10)); // the rest of the frame
    }
    println!("[server] relayed {} chat lines; done.", server.game().lines);
    Ok(())
}

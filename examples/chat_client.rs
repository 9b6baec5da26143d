//! PodSixNet's console chat, client side: type lines, see everyone's.
//!
//! Run `cargo run --example chat_server` first, then
//! `cargo run --example chat_client -- --name alice` (`--host` and `--port` default to
//! repod's 127.0.0.1:5071). Type a line and press Enter to send it; Ctrl-D (end of input)
//! to leave.
//!
//! Reading the keyboard blocks, so it runs on its own thread and sends from there with a
//! cloned client handle; the main thread pumps the network.

use std::io::BufRead;
use std::time::Duration;

use podnet::{
    Client, ClientCtx, Connected, ConnectionListener, DEFAULT_HOST, DEFAULT_PORT, ListenerHandlers,
    Message, SendError,
};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Message)]
#[message(action = "nickname")]
struct Nickname {
    nickname: String,
}

#[derive(Serialize, Deserialize, Message)]
#[message(action = "message")]
struct Line {
    #[serde(default)]
    who: String,
    message: String,
}

#[derive(Serialize, Deserialize, Message)]
#[message(action = "players")]
struct Players {
    players: Vec<String>,
}

struct ChatScreen {
    name: String,
}

impl ConnectionListener for ChatScreen {
    fn handlers(h: &mut ListenerHandlers<Self>) {
        h.on(Self::connected).on(Self::line).on(Self::players);
    }

    fn on_disconnect(&mut self, _ctx: &mut ClientCtx<'_>, reason: &podnet::DisconnectReason) {
        println!("*** disconnected: {reason}");
    }
}

impl ChatScreen {
    fn connected(&mut self, ctx: &mut ClientCtx<'_>, _: Connected) -> Result<(), SendError> {
        println!("*** connected as {}", self.name);
        ctx.send(&Nickname {
            nickname: self.name.clone(),
        })
    }

    fn line(&mut self, _ctx: &mut ClientCtx<'_>, msg: Line) {
        println!("{}: {}", msg.who, msg.message);
    }

    fn players(&mut self, _ctx: &mut ClientCtx<'_>, msg: Players) {
        println!("*** players: {}", msg.players.join(", "));
    }
}

fn main() -> Result<(), podnet::Error> {
    let port = arg("--port").unwrap_or_else(|| DEFAULT_PORT.to_string());
    let host = arg("--host").unwrap_or_else(|| DEFAULT_HOST.into());
    let name = arg("--name").unwrap_or_else(|| format!("guest{}", std::process::id() % 1000));
    let mut client = Client::connect(format!("{host}:{port}").as_str(), ChatScreen { name })?;

    let sender = client.handle().clone();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(message) = line else { break };
            let line = Line {
                who: String::new(),
                message,
            };
            if sender.send(&line).is_err() {
                break; // the connection is gone
            }
        }
        sender.close("bye");
    });

    while client.is_connected() {
        client.pump_timeout(Duration::from_millis(50));
    }
    client.pump(); // the last events, the disconnect among them
    Ok(())
}

/// The value after `name` on the command line.
fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

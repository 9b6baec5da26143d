//! PodSixNet's console chat, server side: players pick a nickname, everyone sees who joins
//! and leaves, and every line goes to everyone.
//!
//! Run it with `cargo run --example chat_server -- --port 5071`, then start a few
//! `cargo run --example chat_client -- --port 5071 --name alice`. Stop it with Ctrl-C.
//! Python repod clients can join too: the wire format is the same.

use podnet::{Channel, ChannelCtx, ChannelHandlers, DisconnectReason, Message, Server};
use serde::{Deserialize, Serialize};

/// A client picks its nickname.
#[derive(Serialize, Deserialize)]
struct Nickname {
    nickname: String,
}
impl Message for Nickname {
    const ACTION: &'static str = "nickname";
}

/// A chat line, from a client; relayed to everyone with `who` filled in.
#[derive(Serialize, Deserialize)]
struct ChatLine {
    #[serde(default)]
    who: String,
    message: String,
}
impl Message for ChatLine {
    const ACTION: &'static str = "message";
}

/// Who is here, sent to everyone whenever it changes.
#[derive(Serialize, Deserialize)]
struct Players {
    players: Vec<String>,
}
impl Message for Players {
    const ACTION: &'static str = "players";
}

/// The nicknames of everyone connected, in the order they joined.
#[derive(Default)]
struct Room {
    nicknames: Vec<(podnet::ConnectionId, String)>,
}

/// Tells everyone who is here now.
fn announce(ctx: &ChannelCtx<'_, Chatter>) {
    let players = ctx.game.nicknames.iter().map(|(_, n)| n.clone()).collect();
    let _ = ctx.send_to_all(&Players { players });
}

#[derive(Default)]
struct Chatter;

impl Channel for Chatter {
    type Game = Room;

    fn handlers(h: &mut ChannelHandlers<Self>) {
        h.on(Self::nickname).on(Self::message);
    }

    fn on_connect(&mut self, ctx: &mut ChannelCtx<'_, Self>) {
        println!("{} connected from {}", ctx.id(), ctx.peer());
    }

    fn on_disconnect(&mut self, ctx: &mut ChannelCtx<'_, Self>, reason: &DisconnectReason) {
        let id = ctx.id();
        if let Some(pos) = ctx.game.nicknames.iter().position(|(who, _)| *who == id) {
            let (_, name) = ctx.game.nicknames.remove(pos);
            println!("{name} left ({reason})");
        }
        announce(ctx);
    }
}

impl Chatter {
    fn nickname(&mut self, ctx: &mut ChannelCtx<'_, Self>, msg: Nickname) {
        let id = ctx.id();
        println!("{id} is now {}", msg.nickname);
        match ctx.game.nicknames.iter_mut().find(|(who, _)| *who == id) {
            Some((_, name)) => *name = msg.nickname,
            None => ctx.game.nicknames.push((id, msg.nickname)),
        }
        announce(ctx);
    }

    fn message(&mut self, ctx: &mut ChannelCtx<'_, Self>, msg: ChatLine) {
        let id = ctx.id();
        let who = ctx
            .game
            .nicknames
            .iter()
            .find(|(w, _)| *w == id)
            .map_or_else(|| id.to_string(), |(_, n)| n.clone());
        println!("{who}: {}", msg.message);
        let _ = ctx.send_to_all(&ChatLine {
            who,
            message: msg.message,
        });
    }
}

fn main() -> Result<(), podnet::Error> {
    let port = arg("--port").unwrap_or_else(|| "5071".into());
    let addr = format!("0.0.0.0:{port}");
    println!("chat server on {addr}; Ctrl-C to stop");
    // launch() runs the server on this thread until a handler stops it (this one never does).
    Server::<Chatter>::launch(addr.as_str(), Room::default())?;
    Ok(())
}

/// The value after `name` on the command line.
fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

//! PodSixNet's console chat, server side: players pick a nickname, everyone sees who joins
//! and leaves, and every line goes to everyone.
//!
//! Run it with `cargo run --example chat_server`, then start a few
//! `cargo run --example chat_client -- --name alice`. It listens on repod's address,
//! 127.0.0.1:5071; `--host 0.0.0.0` lets other machines in, `--port` picks another port.
//! Ctrl-C (or SIGTERM) stops it gracefully: every player is told why.

use podnet::{
    Channel, ChannelCtx, ChannelHandlers, DEFAULT_HOST, DEFAULT_PORT, DisconnectReason, Message,
    SendError, Server,
};
use serde::{Deserialize, Serialize};

/// A client picks its nickname.
#[derive(Serialize, Deserialize, Message)]
#[message(action = "nickname")]
struct Nickname {
    nickname: String,
}

/// A chat line, from a client; relayed to everyone with `who` filled in.
#[derive(Serialize, Deserialize, Message)]
#[message(action = "message")]
struct ChatLine {
    #[serde(default)]
    who: String,
    message: String,
}

/// Who is here, sent to everyone whenever it changes.
#[derive(Serialize, Deserialize, Message)]
#[message(action = "players")]
struct Players {
    players: Vec<String>,
}

/// The nicknames of everyone connected, in the order they joined.
#[derive(Default)]
struct Room {
    nicknames: Vec<(podnet::ConnectionId, String)>,
}

/// Tells everyone who is here now.
fn announce(ctx: &ChannelCtx<'_, Chatter>) -> Result<(), SendError> {
    let players = ctx.game.nicknames.iter().map(|(_, n)| n.clone()).collect();
    ctx.send_to_all(&Players { players })?;
    Ok(())
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
        // A hook has nobody to report to; a broadcast only fails if it cannot encode.
        let _ = announce(ctx);
    }
}

impl Chatter {
    fn nickname(&mut self, ctx: &mut ChannelCtx<'_, Self>, msg: Nickname) -> Result<(), SendError> {
        let id = ctx.id();
        println!("{id} is now {}", msg.nickname);
        match ctx.game.nicknames.iter_mut().find(|(who, _)| *who == id) {
            Some((_, name)) => *name = msg.nickname,
            None => ctx.game.nicknames.push((id, msg.nickname)),
        }
        announce(ctx)
    }

    fn message(&mut self, ctx: &mut ChannelCtx<'_, Self>, msg: ChatLine) -> Result<(), SendError> {
        let id = ctx.id();
        let who = ctx
            .game
            .nicknames
            .iter()
            .find(|(w, _)| *w == id)
            .map_or_else(|| id.to_string(), |(_, n)| n.clone());
        println!("{who}: {}", msg.message);
        ctx.send_to_all(&ChatLine {
            who,
            message: msg.message,
        })?;
        Ok(())
    }
}

fn main() -> Result<(), podnet::Error> {
    let host = arg("--host").unwrap_or_else(|| DEFAULT_HOST.into());
    let port = arg("--port").unwrap_or_else(|| DEFAULT_PORT.to_string());
    let server = Server::<Chatter>::start_background(format!("{host}:{port}"), Room::default())?;
    server.stop_on_signals()?;
    println!("chat server on {}; Ctrl-C to stop", server.local_addr());
    // run() pumps on this thread until the server is asked to stop (here: Ctrl-C).
    let room = server.run();
    println!("stopped with {} players connected", room.nicknames.len());
    Ok(())
}

/// The value after `name` on the command line.
fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

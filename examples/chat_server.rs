//! repod's chat example, server side, on podnet: the same protocol as repod's
//! `examples/chat/server.py`, so repod's own `client.py` chats with it unchanged (and
//! podnet's `chat_client` with repod's server). Everyone who connects is "Anonymous" until
//! they send a nickname; everyone sees who joins and leaves, the list of who is here, and
//! every line.
//!
//! Run it with `cargo run --example chat_server` (repod's address, 127.0.0.1:5071), or
//! `cargo run --example chat_server -- HOST PORT` as repod's takes them (port 0 picks a
//! free one; the first line says which). Then start a few
//! `cargo run --example chat_client`, or repod's `python client.py`. Ctrl-C (or SIGTERM)
//! stops it gracefully: every player is told why.
//!
//! The protocol (docs/examples.md):
//!
//! | from | action | fields |
//! |---|---|---|
//! | client | `nickname` | `nickname`: the name to use |
//! | client | `message` | `text`: a line to say |
//! | server, to all | `message` | `text`, `nickname`: who said it |
//! | server, to all | `system` | `text`: "NAME joined the chat" / "NAME left the chat" |
//! | server, to all | `players` | `list`: every nickname, in the order they joined |

#[path = "common/address.rs"]
mod address;

use podnet::{
    Channel, ChannelCtx, ChannelHandlers, ConnectionId, DisconnectReason, HookResult, Message,
    SendError, Server,
};
use serde::{Deserialize, Serialize};

/// A client picks its nickname.
#[derive(Serialize, Deserialize, Message)]
#[message(action = "nickname")]
struct Nickname {
    nickname: String,
}

/// A line from a client.
#[derive(Serialize, Deserialize, Message)]
#[message(action = "message")]
struct Say {
    text: String,
}

/// A line relayed to everyone, with who said it.
#[derive(Serialize, Deserialize, Message)]
#[message(action = "message")]
struct Said {
    text: String,
    nickname: String,
}

/// A notice to everyone: someone joined or left.
#[derive(Serialize, Deserialize, Message)]
#[message(action = "system")]
struct System {
    text: String,
}

/// Who is here, sent to everyone whenever it changes.
#[derive(Serialize, Deserialize, Message)]
#[message(action = "players")]
struct Players {
    list: Vec<String>,
}

/// The longest nickname and line kept, in characters: the rest is cut, so that no one
/// player's message makes every broadcast big (the frame limit, 1 MiB, bounds the rest).
const MAX_NICKNAME: usize = 32;
const MAX_TEXT: usize = 500;

/// `text` cut to `max` characters.
fn cut(mut text: String, max: usize) -> String {
    if let Some((at, _)) = text.char_indices().nth(max) {
        text.truncate(at);
    }
    text
}

/// Everyone connected and their nicknames, in the order they joined.
#[derive(Default)]
struct Room {
    players: Vec<(ConnectionId, String)>,
}

impl Room {
    fn nickname(&self, id: ConnectionId) -> String {
        self.players
            .iter()
            .find(|(who, _)| *who == id)
            .map_or_else(|| "Anonymous".to_owned(), |(_, name)| name.clone())
    }
}

/// Tells everyone `text`.
fn system(ctx: &ChannelCtx<'_, Chatter>, text: String) -> Result<(), SendError> {
    ctx.send_to_all(&System { text })?;
    Ok(())
}

/// Tells everyone who is here now.
fn send_players(ctx: &ChannelCtx<'_, Chatter>) -> Result<(), SendError> {
    let list = ctx.game.players.iter().map(|(_, n)| n.clone()).collect();
    ctx.send_to_all(&Players { list })?;
    Ok(())
}

#[derive(Default)]
struct Chatter;

impl Channel for Chatter {
    type Game = Room;

    fn handlers(h: &mut ChannelHandlers<Self>) {
        h.on(Self::nickname).on(Self::message);
    }

    fn on_connect(&mut self, ctx: &mut ChannelCtx<'_, Self>) -> HookResult {
        println!("Player connected: {}", ctx.peer());
        ctx.game.players.push((ctx.id(), "Anonymous".to_owned()));
        system(ctx, "Anonymous joined the chat".to_owned())?;
        send_players(ctx)?;
        Ok(())
    }

    fn on_disconnect(
        &mut self,
        ctx: &mut ChannelCtx<'_, Self>,
        reason: &DisconnectReason,
    ) -> HookResult {
        let id = ctx.id();
        let Some(at) = ctx.game.players.iter().position(|(who, _)| *who == id) else {
            return Ok(());
        };
        let (_, name) = ctx.game.players.remove(at);
        println!("Player disconnected: {} ({reason})", ctx.peer());
        // repod's server says the name the player joined with ("Anonymous"); this one
        // says the name they had.
        system(ctx, format!("{name} left the chat"))?;
        send_players(ctx)?;
        Ok(())
    }
}

impl Chatter {
    fn nickname(&mut self, ctx: &mut ChannelCtx<'_, Self>, msg: Nickname) -> Result<(), SendError> {
        let id = ctx.id();
        if let Some((_, name)) = ctx.game.players.iter_mut().find(|(who, _)| *who == id) {
            *name = cut(msg.nickname, MAX_NICKNAME);
        }
        send_players(ctx)
    }

    fn message(&mut self, ctx: &mut ChannelCtx<'_, Self>, msg: Say) -> Result<(), SendError> {
        let nickname = ctx.game.nickname(ctx.id());
        let text = cut(msg.text, MAX_TEXT);
        println!("{nickname}: {text}");
        ctx.send_to_all(&Said { text, nickname })?;
        Ok(())
    }
}

fn main() -> Result<(), podnet::Error> {
    // `chat_server [HOST [PORT]]`, as repod's server.py.
    // `[HOST [PORT]]`, as repod's examples take it.
    let addr = address::from_command_line("chat_server");
    let server = Server::<Chatter>::start_background(addr, Room::default())?;
    server.stop_on_signals()?;
    println!("Chat server running on {}", server.local_addr());
    println!("Press Ctrl+C to stop");
    // run() pumps on this thread until the server is asked to stop (here: Ctrl-C).
    let room = server.run();
    println!("stopped with {} players connected", room.players.len());
    Ok(())
}

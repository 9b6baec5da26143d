//! repod's chat example, client side, on podnet: the same protocol and the same screen as
//! repod's `examples/chat/client.py`, so it chats on repod's server unchanged as on
//! podnet's `chat_server`.
//!
//! Run `cargo run --example chat_server` first, then `cargo run --example chat_client`
//! (or `-- HOST PORT`, as repod's takes them; repod's address, 127.0.0.1:5071, by
//! default). The first line you type is your nickname; every line after it is said to
//! everyone. Ctrl-D (end of input) leaves.
//!
//! Reading the keyboard blocks, so it runs on its own thread and sends from there with a
//! cloned client handle; the main thread pumps the network, as a game loop would.

#[path = "common/address.rs"]
mod address;

use std::io::{BufRead, Write};
use std::time::Duration;

use podnet::{
    Client, ClientCtx, Connected, ConnectionListener, DisconnectReason, HookResult,
    ListenerHandlers, Message,
};
use serde::{Deserialize, Serialize};

/// Our nickname, sent once.
#[derive(Serialize, Deserialize, Message)]
#[message(action = "nickname")]
struct Nickname {
    nickname: String,
}

/// A line we say.
#[derive(Serialize, Deserialize, Message)]
#[message(action = "message")]
struct Say {
    text: String,
}

/// A line someone said (ourselves included).
#[derive(Serialize, Deserialize, Message)]
#[message(action = "message")]
struct Said {
    text: String,
    nickname: String,
}

/// Someone joined or left.
#[derive(Serialize, Deserialize, Message)]
#[message(action = "system")]
struct System {
    text: String,
}

/// Who is here.
#[derive(Serialize, Deserialize, Message)]
#[message(action = "players")]
struct Players {
    list: Vec<String>,
}

/// The screen: what the server says, printed as repod's client prints it.
#[derive(Default)]
struct ChatScreen {
    /// Disconnected: the program ends.
    gone: bool,
}

impl ConnectionListener for ChatScreen {
    fn handlers(h: &mut ListenerHandlers<Self>) {
        h.on(|_: &mut Self, _: &mut ClientCtx<'_>, _: Connected| {
            println!("Connected to server!");
        })
        .on(|_: &mut Self, _: &mut ClientCtx<'_>, msg: System| {
            println!("SYSTEM: {}", msg.text);
        })
        .on(|_: &mut Self, _: &mut ClientCtx<'_>, msg: Said| {
            println!("{}: {}", msg.nickname, msg.text);
        })
        .on(|_: &mut Self, _: &mut ClientCtx<'_>, msg: Players| {
            println!("Players: {}", msg.list.join(", "));
        });
    }

    fn on_disconnect(&mut self, _ctx: &mut ClientCtx<'_>, reason: &DisconnectReason) -> HookResult {
        println!("Disconnected from server ({reason})");
        self.gone = true;
        Ok(())
    }
}

fn main() -> Result<(), podnet::Error> {
    // `chat_client [HOST [PORT]]`, as repod's client.py.
    // `[HOST [PORT]]`, as repod's examples take it.
    let addr = address::from_command_line("chat_client");
    let mut client = Client::connect(addr.as_str(), ChatScreen::default())?;
    println!("Chat client started");

    let sender = client.handle().clone();
    std::thread::spawn(move || {
        print!("Enter your nickname: ");
        let _ = std::io::stdout().flush();
        let mut lines = std::io::stdin().lock().lines().map_while(Result::ok);
        if let Some(nickname) = lines.next() {
            let _ = sender.send(&Nickname { nickname });
            println!("Type your messages (Ctrl+D to quit):");
            for text in lines.filter(|line| !line.is_empty()) {
                if sender.send(&Say { text }).is_err() {
                    return; // the connection is gone
                }
            }
        }
        // End of input: leave. What was sent before is delivered first.
        sender.close("bye");
    });

    // Until the disconnect is handled: after a close, it comes once the server has had
    // everything sent before it.
    while !client.listener().gone {
        client.pump_timeout(Duration::from_millis(50));
    }
    Ok(())
}

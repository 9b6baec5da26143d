//! The quickstart's chat, encrypted: a server and two bots speaking over TLS. Everything
//! but the two config lines is the same code as over plain TCP. Ends by itself.
//!
//! Run it with `cargo run --example tls_chat --features tls`.
//!
//! What to look at:
//! - the server gets a `ServerTls` from its certificate chain and key (PEM text);
//! - each client gets a `ClientTls` from the roots it trusts and the name the server's
//!   certificate must carry;
//! - a real game reads the PEM from files (a certificate from Let's Encrypt, say, or one
//!   it made and ships to its clients as the root). This demo makes a self-signed one
//!   with rcgen so it runs anywhere.

use std::time::{Duration, Instant};

use podnet::{
    Channel, ChannelCtx, ChannelHandlers, Client, ClientConfig, ClientCtx, ClientTls, Connected,
    ConnectionListener, ListenerHandlers, Message, SendError, Server, ServerConfig, ServerTls,
};
use serde::{Deserialize, Serialize};

/// A line of chat; the server relays it to everyone.
#[derive(Serialize, Deserialize, Message)]
#[message(action = "chat")]
struct Chat {
    who: String,
    text: String,
}

/// The server's side of one player: it relays what they say.
#[derive(Default)]
struct Player;

impl Channel for Player {
    type Game = ();

    fn handlers(h: &mut ChannelHandlers<Self>) {
        h.on(Self::chat);
    }
}

impl Player {
    fn chat(&mut self, ctx: &mut ChannelCtx<'_, Self>, msg: Chat) -> Result<(), SendError> {
        println!("[server] relaying {}'s line", msg.who);
        ctx.send_to_all(&msg)?;
        Ok(())
    }
}

const BOTS: [&str; 2] = ["alice", "bob"];

/// A bot that says one line and leaves once it has heard both.
struct Bot {
    name: &'static str,
    heard: usize,
}

impl ConnectionListener for Bot {
    fn handlers(h: &mut ListenerHandlers<Self>) {
        h.on(Self::connected).on(Self::chat);
    }
}

impl Bot {
    fn connected(&mut self, ctx: &mut ClientCtx<'_>, _: Connected) -> Result<(), SendError> {
        ctx.send(&Chat {
            who: self.name.into(),
            text: "this line is encrypted on the wire".into(),
        })
    }

    fn chat(&mut self, ctx: &mut ClientCtx<'_>, msg: Chat) {
        println!("  [{}] {}: {}", self.name, msg.who, msg.text);
        self.heard += 1;
        if self.heard == BOTS.len() {
            ctx.close("heard everyone");
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // In a real game: std::fs::read("cert.pem") and std::fs::read("key.pem").
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
    let (cert_pem, key_pem) = (made.cert.pem(), made.signing_key.serialize_pem());

    // The server: its certificate chain and private key.
    let mut server_config = ServerConfig::default();
    server_config.tls = Some(ServerTls::from_pem(
        cert_pem.as_bytes(),
        key_pem.as_bytes(),
    )?);
    let mut server = Server::<Player>::builder()
        .addr("127.0.0.1:0")
        .config(server_config)
        .start_background(())?;
    println!("[server] serving TLS on {}", server.local_addr());

    // Each client: the root it trusts (here the self-signed certificate itself) and the
    // name the server's certificate must carry.
    let mut client_config = ClientConfig::default();
    client_config.tls = Some(ClientTls::from_pem_roots(cert_pem.as_bytes(), "localhost")?);
    let mut bots = Vec::new();
    for name in BOTS {
        let bot = Bot { name, heard: 0 };
        let client = Client::builder()
            .addr(server.local_addr())
            .config(client_config.clone())
            .connect(bot)?;
        bots.push(client);
    }

    // The game loop, exactly as over plain TCP.
    let deadline = Instant::now() + Duration::from_secs(10);
    while bots.iter().any(Client::is_connected) || !server.is_empty() {
        server.pump();
        for bot in &mut bots {
            bot.pump();
        }
        assert!(
            Instant::now() < deadline,
            "the demo should end within seconds"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    println!("[server] everyone heard everyone, over TLS; done.");
    Ok(())
}

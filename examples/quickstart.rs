//! A live demo of the repod wire format: a server and three bot clients chatting over
//! loopback TCP, printing what happens, and ending by itself.
//!
//! Run it with `cargo run --example quickstart`.
//!
//! This version drives `podnet-framing` over plain `std::net` sockets, one thread per
//! connection. It shows the protocol itself: the server greets each client with
//! `{"action": "connected"}`, clients send `chat` messages, and the server relays each one,
//! encoded once, to everyone. The `podnet` server and client (with `pump()` and handlers)
//! replace the socket code here as they land.

use std::error::Error;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;

use bytes::BytesMut;
use podnet::{FrameCodec, FramingConfig, Message, RawMessage, encode_message};
use serde::{Deserialize, Serialize};
use tokio_util::codec::Decoder;

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

/// The message the server sends on accept, as repod does.
#[derive(Serialize, Deserialize)]
struct Connected;
impl Message for Connected {
    const ACTION: &'static str = "connected";
}

/// A line of chat: clients send it, the server relays it to everyone.
#[derive(Serialize, Deserialize, Debug)]
struct Chat {
    who: String,
    text: String,
}
impl Message for Chat {
    const ACTION: &'static str = "chat";
}

const BOTS: [&str; 3] = ["alice", "bob", "carol"];

/// Reads one message from a blocking socket; `None` when the peer closed.
fn read_message(
    stream: &mut TcpStream,
    codec: &mut FrameCodec,
    buf: &mut BytesMut,
    config: &FramingConfig,
) -> Result<Option<RawMessage>> {
    loop {
        if let Some(payload) = codec.decode(buf)? {
            return Ok(Some(RawMessage::parse(payload, config)?));
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The server: greets each bot, then relays every chat to all of them until every bot
/// has hung up.
fn server(listener: TcpListener) -> Result<()> {
    let config = FramingConfig::default();
    let (events, inbox) = mpsc::channel::<RawMessage>();
    let mut writers = Vec::new();
    for _ in BOTS {
        let (mut stream, peer) = listener.accept()?;
        stream.set_nodelay(true)?;
        println!("[server] a client connected from {peer}");
        let mut hello = BytesMut::new();
        encode_message(&Connected, &mut hello, &config)?;
        stream.write_all(&hello)?;
        writers.push(stream.try_clone()?);
        // One reader thread per connection hands messages to the server's own thread.
        let events = events.clone();
        let config = config.clone();
        thread::spawn(move || {
            let (mut codec, mut buf) = (FrameCodec::new(&config), BytesMut::new());
            while let Ok(Some(msg)) = read_message(&mut stream, &mut codec, &mut buf, &config) {
                if events.send(msg).is_err() {
                    break;
                }
            }
        });
    }
    drop(events);

    let mut relayed = 0;
    // Ends when every reader thread has seen its client hang up.
    for msg in inbox {
        if msg.action() == Chat::ACTION {
            let chat: Chat = msg.decode()?;
            println!(
                "[server] relaying {}'s message to {} clients",
                chat.who,
                writers.len()
            );
            // Encoded once; the same bytes go to every client.
            let mut frame = BytesMut::new();
            encode_message(&chat, &mut frame, &config)?;
            for writer in &mut writers {
                writer.write_all(&frame)?;
            }
            relayed += 1;
        }
    }
    println!("[server] every client left after {relayed} messages; shutting down");
    Ok(())
}

/// A bot: waits for the greeting, says hello, and leaves once it has heard everyone.
fn bot(name: &'static str, addr: std::net::SocketAddr) -> Result<()> {
    let config = FramingConfig::default();
    let mut stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let (mut codec, mut buf) = (FrameCodec::new(&config), BytesMut::new());

    let mut heard = Vec::new();
    while let Some(msg) = read_message(&mut stream, &mut codec, &mut buf, &config)? {
        match msg.action() {
            "connected" => {
                println!("[{name}] connected; saying hello");
                let mut frame = BytesMut::new();
                let text = format!("hello from {name}!");
                encode_message(
                    &Chat {
                        who: name.into(),
                        text,
                    },
                    &mut frame,
                    &config,
                )?;
                stream.write_all(&frame)?;
            }
            "chat" => {
                let chat: Chat = msg.decode()?;
                println!("[{name}] {} says: {}", chat.who, chat.text);
                heard.push(chat.who);
                if heard.len() == BOTS.len() {
                    println!("[{name}] heard everyone; leaving");
                    return Ok(());
                }
            }
            other => println!("[{name}] ignoring unknown action {other:?}"),
        }
    }
    Err(format!("{name}: the server hung up early").into())
}

fn main() -> Result<()> {
    // Port 0: the system picks a free port, so the demo never clashes with anything.
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    println!("[server] listening on {addr}");
    let server = thread::spawn(move || server(listener));

    let bots: Vec<_> = BOTS
        .into_iter()
        .map(|name| thread::spawn(move || bot(name, addr)))
        .collect();
    for handle in bots {
        handle.join().map_err(|_| "a bot panicked")??;
    }
    server.join().map_err(|_| "the server panicked")??;
    println!("done.");
    Ok(())
}

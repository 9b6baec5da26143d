//! The WebSocket baseline: a plain tokio-tungstenite server for the bench protocol,
//! without podnet, built like the TCP baseline (`baseline_server`): tokio's
//! multi-threaded runtime, one reader task and one writer task per connection, the writer
//! feeding whatever is queued before one flush, and the least work a correct server can
//! do (the action read from the first map entry, nothing else decoded). Each message is
//! one binary WebSocket message holding the msgpack map, as podnet sends them.
//!
//! Usage: `ws_baseline_server --port P` (0 picks a free port); prints
//! `ws baseline server on 127.0.0.1:PORT`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use podnet_bench::first_action;
use podnet_framing::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

#[derive(Default)]
struct Shared {
    moves: AtomicU64,
    next_id: AtomicU64,
    clients: Mutex<HashMap<u64, mpsc::UnboundedSender<Bytes>>>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let port = args
        .iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1))
        .map_or("0", String::as_str);
    let listener = TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("ws baseline server on {}", listener.local_addr()?);
    let shared = Arc::new(Shared::default());
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(serve(stream, shared.clone()));
    }
}

/// The payload (no length prefix) of `{"action": action, ..fields}`.
fn payload(action: &str, fields: Vec<(&str, Value)>) -> Bytes {
    let frame = podnet_bench::frame(action, fields);
    frame.slice(4..)
}

async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
    let _ = tx.send(payload("connected", vec![]));
    shared
        .clients
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id, tx.clone());
    let (mut sink, mut stream) = ws.split();

    let writing = tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            if sink.feed(Message::Binary(first)).await.is_err() {
                return;
            }
            while let Ok(more) = rx.try_recv() {
                if sink.feed(Message::Binary(more)).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });

    while let Some(Ok(message)) = stream.next().await {
        let Message::Binary(data) = message else {
            continue;
        };
        match first_action(&data) {
            Some(b"ping") => {
                let _ = tx.send(data);
            }
            Some(b"move") => {
                shared.moves.fetch_add(1, Ordering::Relaxed);
            }
            Some(b"report") => {
                let moves = shared.moves.load(Ordering::Relaxed);
                let _ = tx.send(payload("report", vec![("moves", Value::from(moves))]));
            }
            Some(b"broadcast") => {
                let clients = shared.clients.lock().unwrap_or_else(|e| e.into_inner());
                for client in clients.values() {
                    let _ = client.send(data.clone());
                }
            }
            _ => {}
        }
    }
    shared
        .clients
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&id);
    drop(tx);
    let _ = writing.await;
}

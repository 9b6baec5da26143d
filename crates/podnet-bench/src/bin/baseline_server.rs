//! The baseline: a plain tokio server for the bench protocol, without podnet. tokio's
//! multi-threaded runtime, tokio-util's `LengthDelimitedCodec` for the frames (the same
//! wire format), one reader task and one writer task per connection, the writer coalescing
//! whatever is queued into one write. It does the least work a correct server can: it reads
//! the action from the first map entry and decodes nothing else.
//!
//! Usage: `baseline_server --port P` (0 picks a free port); prints
//! `baseline server on 127.0.0.1:PORT`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use podnet_bench::first_action;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::codec::{Decoder, LengthDelimitedCodec};

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
    println!("baseline server on {}", listener.local_addr()?);
    let shared = Arc::new(Shared::default());
    let connected = {
        let mut f = BytesMut::new();
        f.extend_from_slice(&[0, 0, 0, 0]);
        rmp::encode::write_map_len(&mut VecWriter(&mut f), 1).ok();
        rmp::encode::write_str(&mut VecWriter(&mut f), "action").ok();
        rmp::encode::write_str(&mut VecWriter(&mut f), "connected").ok();
        let len = (f.len() - 4) as u32;
        f[..4].copy_from_slice(&len.to_be_bytes());
        f.freeze()
    };
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(serve(stream, shared.clone(), connected.clone()));
    }
}

async fn serve(stream: TcpStream, shared: Arc<Shared>, connected: Bytes) {
    let _ = stream.set_nodelay(true);
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
    let _ = tx.send(connected);
    shared
        .clients
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id, tx.clone());
    let (mut reader, mut writer) = stream.into_split();

    let writing = tokio::spawn(async move {
        let mut out = BytesMut::new();
        while let Some(first) = rx.recv().await {
            out.extend_from_slice(&first);
            while let Ok(more) = rx.try_recv() {
                out.extend_from_slice(&more);
            }
            if writer.write_all(&out).await.is_err() {
                break;
            }
            out.clear();
        }
    });

    // The frame with its header kept, so an echo or a relay is the frame as received.
    let mut codec = LengthDelimitedCodec::builder()
        .length_field_length(4)
        .length_adjustment(4)
        .num_skip(0)
        .max_frame_length(1024 * 1024)
        .new_codec();
    let mut buf = BytesMut::with_capacity(8 * 1024);
    'read: loop {
        match reader.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        loop {
            let frame = match codec.decode(&mut buf) {
                Ok(Some(frame)) => frame.freeze(),
                Ok(None) => break,
                Err(_) => break 'read,
            };
            match first_action(&frame[4..]) {
                Some(b"ping") => {
                    let _ = tx.send(frame);
                }
                Some(b"move") => {
                    shared.moves.fetch_add(1, Ordering::Relaxed);
                }
                Some(b"report") => {
                    let moves = shared.moves.load(Ordering::Relaxed);
                    let mut f = BytesMut::new();
                    f.extend_from_slice(&[0, 0, 0, 0]);
                    let mut w = VecWriter(&mut f);
                    rmp::encode::write_map_len(&mut w, 2).ok();
                    rmp::encode::write_str(&mut w, "action").ok();
                    rmp::encode::write_str(&mut w, "report").ok();
                    rmp::encode::write_str(&mut w, "moves").ok();
                    rmp::encode::write_uint(&mut w, moves).ok();
                    let len = (f.len() - 4) as u32;
                    f[..4].copy_from_slice(&len.to_be_bytes());
                    let _ = tx.send(f.freeze());
                }
                Some(b"broadcast") => {
                    let clients = shared.clients.lock().unwrap_or_else(|e| e.into_inner());
                    for client in clients.values() {
                        let _ = client.send(frame.clone());
                    }
                }
                _ => {}
            }
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

/// rmp writes through `std::io::Write`; BytesMut's own writer needs a `BufMut` by value.
struct VecWriter<'a>(&'a mut BytesMut);

impl std::io::Write for VecWriter<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

//! The baseline: a plain tokio server for the bench protocol, without podnet. tokio's
//! multi-threaded runtime, tokio-util's `LengthDelimitedCodec` for the frames (the same
//! wire format), one reader task and one writer task per connection, the writer coalescing
//! whatever is queued into one write. It does the least work a correct server can: it reads
//! the action from the first map entry and decodes nothing else.
//!
//! The game-tick scenario's rooms too (see examples/bench_server.rs): `join`, `input`, and
//! a task that steps every room 20 times a second (in turns, as the podnet server does: a
//! tenth of them every 5 ms), sending its state to its players; it
//! decodes what those messages carry with rmp-serde.
//!
//! Usage: `baseline_server --port P` (0 picks a free port); prints
//! `baseline server on 127.0.0.1:PORT`.

use std::collections::{BTreeMap, HashMap};
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
    rooms: Mutex<BTreeMap<u64, Room>>,
}

/// A room of the tick scenario: its players' queues by seat, and their latest inputs.
#[derive(Default)]
struct Room {
    seats: Vec<Option<mpsc::UnboundedSender<Bytes>>>,
    acks: Vec<u64>,
}

#[derive(serde::Deserialize)]
struct Join {
    room: u64,
}

#[derive(serde::Deserialize)]
struct Input {
    seq: u64,
}

#[derive(serde::Serialize)]
struct State<'a> {
    action: &'static str,
    tick: u64,
    acks: &'a [u64],
    at_us: u64,
    #[serde(with = "serde_bytes")]
    pad: &'a [u8],
}

/// A whole frame: the length, then `msg` as a msgpack map.
fn encode_frame<T: serde::Serialize>(msg: &T) -> Option<Bytes> {
    let mut out = vec![0u8; 4];
    rmp_serde::encode::write_named(&mut out, msg).ok()?;
    let len = u32::try_from(out.len() - 4).ok()?;
    out[..4].copy_from_slice(&len.to_be_bytes());
    Some(Bytes::from(out))
}

/// Steps every room 20 times a second, in turns as the podnet server does: a tenth of
/// the rooms (by number, modulo 10) every 5 ms.
async fn tick(shared: Arc<Shared>) {
    const SLOTS: u64 = 10;
    // The padding that makes a full room's state 256 bytes, as the podnet server's.
    let acks = vec![u64::from(u32::MAX); 10];
    let probe = State {
        action: "state",
        tick: u64::from(u32::MAX),
        acks: &acks,
        at_us: u64::MAX,
        pad: &[],
    };
    let len = encode_frame(&probe).map_or(256, |f| f.len() - 4);
    let pad = vec![0x55u8; 256usize.saturating_sub(len)];
    let mut interval = tokio::time::interval(std::time::Duration::from_millis(50) / SLOTS as u32);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut number = 0;
    let mut slot = 0;
    loop {
        interval.tick().await;
        if slot == 0 {
            number += 1;
        }
        let this_slot = slot;
        slot = (slot + 1) % SLOTS;
        let at_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        let rooms = shared.rooms.lock().unwrap_or_else(|e| e.into_inner());
        for (_, room) in rooms.iter().filter(|(n, _)| *n % SLOTS == this_slot) {
            let state = State {
                action: "state",
                tick: number,
                acks: &room.acks,
                at_us,
                pad: &pad,
            };
            let Some(frame) = encode_frame(&state) else {
                continue;
            };
            for seat in room.seats.iter().flatten() {
                let _ = seat.send(frame.clone());
            }
        }
    }
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
    tokio::spawn(tick(shared.clone()));
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
    // Where this player sits, in the tick scenario.
    let mut seat: Option<(u64, usize)> = None;
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
                Some(b"join") => {
                    let Ok(join) = rmp_serde::from_slice::<Join>(&frame[4..]) else {
                        continue;
                    };
                    let mut rooms = shared.rooms.lock().unwrap_or_else(|e| e.into_inner());
                    let room = rooms.entry(join.room).or_default();
                    let at = room.seats.len();
                    room.seats.push(Some(tx.clone()));
                    room.acks.push(0);
                    drop(rooms);
                    seat = Some((join.room, at));
                    #[derive(serde::Serialize)]
                    struct Joined {
                        action: &'static str,
                        room: u64,
                        seat: usize,
                    }
                    if let Some(f) = encode_frame(&Joined {
                        action: "joined",
                        room: join.room,
                        seat: at,
                    }) {
                        let _ = tx.send(f);
                    }
                }
                Some(b"input") => {
                    let (Some((room, at)), Ok(input)) =
                        (seat, rmp_serde::from_slice::<Input>(&frame[4..]))
                    else {
                        continue;
                    };
                    let mut rooms = shared.rooms.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(ack) = rooms.get_mut(&room).and_then(|r| r.acks.get_mut(at)) {
                        *ack = (*ack).max(input.seq);
                    }
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
    if let Some((number, at)) = seat {
        let mut rooms = shared.rooms.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(room) = rooms.get_mut(&number) {
            if let Some(slot) = room.seats.get_mut(at) {
                *slot = None;
            }
            if room.seats.iter().all(Option::is_none) {
                rooms.remove(&number);
            }
        }
    }
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

//! The attack suite: one test per kind of hostile input. Each runs against a server whose
//! application echoes `ping` and relays `broadcast`, and each ends by checking that a
//! well-behaved client on the same server still gets its ping echoed promptly.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{RawPeer, WAIT, close_reason};
use podnet_transport::{
    Client, ClientConfig, ClientEvent, ConnectionId, DisconnectReason, Frame, Server, ServerConfig,
    ServerEvent,
};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

/// How long the well-behaved client may wait for its echo during or after an attack.
/// Generous for a debug build on two cores; a server that stalls fails it.
const PROMPT: Duration = Duration::from_secs(3);

#[derive(Serialize, Deserialize, Debug, PartialEq, Eq)]
struct Ping {
    n: u64,
}
impl podnet_framing::Message for Ping {
    const ACTION: &'static str = "ping";
}

/// What the server's application has seen.
#[derive(Default, Debug)]
struct Seen {
    connected: Vec<ConnectionId>,
    disconnected: HashMap<ConnectionId, DisconnectReason>,
    errors: HashMap<ConnectionId, u64>,
}

/// A server under attack, its application task, and one well-behaved client.
struct Arena {
    server: Arc<Server>,
    addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    changed: watch::Receiver<()>,
    good: Client,
    /// The `n` of every ping echoed back to the good client (which reads all the time, as
    /// a game's client does), or `None` if it was disconnected.
    echoes: mpsc::UnboundedReceiver<Option<u64>>,
    /// How many `broadcast`s the good client has received.
    broadcasts: watch::Receiver<usize>,
    next_ping: u64,
}

impl Arena {
    async fn new(mut config: ServerConfig) -> Self {
        common::trace();
        // The attackers are raw peers that say nothing until they attack, and the arena
        // waits for each to be connected, which a silent peer is after `hello_wait`.
        config.hello_wait = Duration::from_millis(50);
        let (server, mut events) = Server::bind("127.0.0.1:0", config).await.unwrap();
        let server = Arc::new(server);
        let addr = server.local_addr();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (notify, changed) = watch::channel(());
        let app_server = server.clone();
        let app_seen = seen.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                {
                    let mut seen = app_seen.lock().unwrap();
                    match event {
                        ServerEvent::Connected { id, .. } => seen.connected.push(id),
                        ServerEvent::Message { id, message } => match message.action() {
                            "ping" => {
                                let _ =
                                    app_server.send(id, &Frame::from_message(&message).unwrap());
                            }
                            "broadcast" => {
                                let frame = Frame::from_message(&message).unwrap();
                                app_server.send_to_all(&frame).unwrap();
                            }
                            _ => {}
                        },
                        ServerEvent::Error { id, .. } => *seen.errors.entry(id).or_default() += 1,
                        ServerEvent::Disconnected { id, reason } => {
                            seen.disconnected.insert(id, reason);
                        }
                        _ => {}
                    }
                }
                notify.send_replace(());
            }
        });
        let (good, mut good_events) = Client::connect(addr, ClientConfig::default())
            .await
            .unwrap();
        let (echo_tx, echoes) = mpsc::unbounded_channel();
        let (broadcast_tx, broadcasts) = watch::channel(0);
        tokio::spawn(async move {
            while let Some(event) = good_events.recv().await {
                match event {
                    ClientEvent::Message(msg) if msg.action() == "broadcast" => {
                        broadcast_tx.send_modify(|n| *n += 1);
                    }
                    ClientEvent::Message(msg) if msg.action() == "ping" => {
                        let _ = echo_tx.send(Some(msg.decode::<Ping>().unwrap().n));
                    }
                    ClientEvent::Disconnected(reason) => {
                        eprintln!("the good client was cut: {reason}");
                        let _ = echo_tx.send(None);
                    }
                    _ => {}
                }
            }
        });
        let mut arena = Self {
            server,
            addr,
            seen,
            changed,
            good,
            echoes,
            broadcasts,
            next_ping: 0,
        };
        arena.assert_serving().await;
        arena
    }

    /// Waits until `check` holds for what the application has seen.
    async fn wait_until(&mut self, what: &str, check: impl Fn(&Seen, &Server) -> bool) {
        let waited = tokio::time::timeout(WAIT, async {
            loop {
                if check(&self.seen.lock().unwrap(), &self.server) {
                    return;
                }
                self.changed.changed().await.unwrap();
            }
        })
        .await;
        assert!(
            waited.is_ok(),
            "timed out waiting until {what}: {:?}",
            self.seen.lock().unwrap()
        );
    }

    /// The id of the `n`th connection (0: the well-behaved client).
    async fn connection(&mut self, n: usize) -> ConnectionId {
        self.wait_until("the connection is accepted", |seen, _| {
            seen.connected.len() > n
        })
        .await;
        self.seen.lock().unwrap().connected[n]
    }

    async fn disconnect_reason(&mut self, id: ConnectionId) -> DisconnectReason {
        self.wait_until("the connection is closed", |seen, _| {
            seen.disconnected.contains_key(&id)
        })
        .await;
        self.seen.lock().unwrap().disconnected[&id].clone()
    }

    fn errors(&self, id: ConnectionId) -> u64 {
        self.seen
            .lock()
            .unwrap()
            .errors
            .get(&id)
            .copied()
            .unwrap_or(0)
    }

    /// The well-behaved client sends a ping and gets it back within [`PROMPT`].
    async fn assert_serving(&mut self) {
        self.next_ping += 1;
        let n = self.next_ping;
        self.good.send(&Ping { n }).unwrap();
        let echoed = tokio::time::timeout(PROMPT, async {
            loop {
                match self
                    .echoes
                    .recv()
                    .await
                    .expect("the good client's reader is running")
                {
                    Some(echoed) if echoed == n => return,
                    Some(_) => {}
                    None => panic!("the good client was disconnected"),
                }
            }
        })
        .await;
        assert!(
            echoed.is_ok(),
            "the well-behaved client's ping {n} was not echoed within {PROMPT:?}"
        );
    }

    async fn raw_peer(&mut self) -> (RawPeer, ConnectionId) {
        let n = self.seen.lock().unwrap().connected.len();
        let peer = RawPeer::connect(self.addr).await;
        let id = self.connection(n).await;
        (peer, id)
    }
}

/// Sends bad payloads one frame each: every one is an error event for that connection, the
/// connection stays open and is served afterwards, and so is everyone else.
async fn bad_payloads_are_errors(payloads: &[Vec<u8>]) {
    let mut arena = Arena::new(ServerConfig::default()).await;
    let (mut peer, id) = arena.raw_peer().await;
    for payload in payloads {
        peer.send_payload(payload).await;
    }
    let count = payloads.len() as u64;
    arena
        .wait_until("every bad frame is reported", |seen, _| {
            seen.errors.get(&id).copied().unwrap_or(0) >= count
        })
        .await;
    assert_eq!(arena.errors(id), count);
    // The attacker's own connection still works.
    peer.send("ping", &Ping { n: 99 }).await;
    let back = peer.recv_skipping_connected().await.expect("the echo");
    assert_eq!(back.decode::<Ping>().unwrap(), Ping { n: 99 });
    arena.assert_serving().await;
}

/// A length prefix of 0xFFFFFFFF, then a slow stream of data: refused on the header
/// (nothing is allocated for it), the peer is told why and closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_length_prefix_then_slow_stream() {
    let mut arena = Arena::new(ServerConfig::default()).await;
    let (peer, id) = arena.raw_peer().await;
    let (mut read, mut write) = peer.stream.into_split();
    write.write_all(&[0xff; 4]).await.unwrap();
    let trickle = tokio::spawn(async move {
        // A byte at a time, until the server stops listening.
        for _ in 0..10_000 {
            if write.write_all(&[0x42]).await.is_err() {
                return;
            }
            tokio::task::yield_now().await;
        }
    });
    let mut received = Vec::new();
    tokio::time::timeout(WAIT, read.read_to_end(&mut received))
        .await
        .expect("the server closes the connection")
        .ok();
    let reason = arena.disconnect_reason(id).await;
    assert!(
        matches!(&reason, DisconnectReason::Protocol { error } if error.contains("4294967295")),
        "{reason:?}"
    );
    trickle.abort();
    arena.assert_serving().await;
}

/// Megabytes of random bytes: whatever the first four bytes say, the connection is closed
/// (too long a frame, or not a message), and nothing panics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn megabytes_of_random_bytes() {
    let mut arena = Arena::new(ServerConfig::default()).await;
    for seed in 1..=3u64 {
        let (peer, id) = arena.raw_peer().await;
        let (_read, mut write) = peer.stream.into_split();
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let noise: Vec<u8> = (0..4 * 1024 * 1024)
            .map(|_| {
                // xorshift64: reproducible noise.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        // The server may close while this is being written; that is the point. Then the
        // attacker hangs up, so the server's graceful close completes at once.
        let _ = tokio::time::timeout(WAIT, write.write_all(&noise)).await;
        drop(write);
        let reason = arena.disconnect_reason(id).await;
        assert!(
            matches!(
                reason,
                DisconnectReason::Protocol { .. } | DisconnectReason::Io { .. }
            ),
            "{reason:?}"
        );
        arena.assert_serving().await;
    }
}

/// Payloads that are msgpack but not maps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_map_payloads() {
    bad_payloads_are_errors(&[
        vec![0x01],                   // an int
        b"\xa4ping".to_vec(),         // a string
        vec![0x92, 0x01, 0x02],       // an array
        vec![0xc0],                   // nil
        vec![0xc4, 0x02, 0x00, 0x01], // bytes
    ])
    .await;
}

/// Maps without an action.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_without_action() {
    bad_payloads_are_errors(&[
        vec![0x80],                          // {}
        b"\x81\xa1x\x01".to_vec(),           // {"x": 1}
        b"\x81\xa7actions\xa4ping".to_vec(), // a near miss
    ])
    .await;
}

/// Actions that are not strings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_string_action() {
    bad_payloads_are_errors(&[
        b"\x81\xa6action\x07".to_vec(),         // an int
        b"\x81\xa6action\xc0".to_vec(),         // nil
        b"\x81\xa6action\x91\xa4ping".to_vec(), // ["ping"]
        b"\x81\xa6action\xc4\x04ping".to_vec(), // bytes
        b"\x81\xa6action\xa2\xff\xfe".to_vec(), // a string that is not UTF-8
    ])
    .await;
}

/// Frames whose msgpack ends early (the frame itself is complete).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_msgpack() {
    bad_payloads_are_errors(&[
        b"\x82\xa6action\xa4ping".to_vec(), // a second entry missing
        b"\x81\xa6action\xa4pi".to_vec(),   // a string cut short
        b"\x81\xa6action\xdb\xff\xff\xff\xff".to_vec(), // a 4 GiB string announced
        vec![0xdf, 0xff, 0xff, 0xff, 0xff], // a map of 4 billion entries
    ])
    .await;
}

/// 100,000 nested arrays inside a message: refused at the depth limit without recursion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_thousand_nested_arrays() {
    let mut payload = b"\x82\xa6action\xa4ping\xa1x".to_vec();
    payload.extend(std::iter::repeat_n(0x91, 100_000));
    payload.push(0x01);
    let mut arrays = vec![0x91; 100_000];
    arrays.push(0x01);
    bad_payloads_are_errors(&[payload, arrays]).await;
}

/// Zero-length frames, ten thousand of them: each an error event, charged to the inbound
/// budget like a message, so the flood is paced by the application.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_length_frames() {
    let mut arena = Arena::new(ServerConfig::default()).await;
    let (mut peer, id) = arena.raw_peer().await;
    peer.send_bytes(&vec![0u8; 4 * 10_000]).await;
    arena
        .wait_until("every empty frame is reported", |seen, _| {
            seen.errors.get(&id).copied().unwrap_or(0) >= 10_000
        })
        .await;
    assert_eq!(arena.errors(id), 10_000);
    arena.assert_serving().await;
}

/// A client that never reads while others broadcast megabytes: it is cut as a slow
/// consumer, and everyone else gets every broadcast.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_that_never_reads_during_broadcasts() {
    // Room for readers that keep up but are scheduled late on a loaded test machine; the
    // deaf client falls 16 MiB behind, far past it.
    let mut config = ServerConfig::default();
    config.connection.max_queued_bytes = 4 * 1024 * 1024;
    let mut arena = Arena::new(config).await;
    // The deaf client asks for a small receive buffer, so the kernel cannot absorb the
    // broadcasts for it and they pile up in the server's queue.
    let n = arena.seen.lock().unwrap().connected.len();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let _deaf = socket.connect(arena.addr).await.unwrap();
    let deaf_id = arena.connection(n).await;
    // A listener that reads everything, reporting how many broadcasts it has.
    let (mut listener, _) = arena.raw_peer().await;
    let count = 64; // 64 x 256 KiB = 16 MiB to every client
    let (progress, mut heard) = watch::channel(0);
    let listening = tokio::spawn(async move {
        let mut got = 0;
        while got < count {
            let Some(msg) = listener.recv_skipping_connected().await else {
                return; // cut: the pacing below reports it
            };
            if msg.action() == "broadcast" {
                got += 1;
                progress.send_replace(got);
            }
        }
    });
    #[derive(Serialize)]
    struct Blob {
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    }
    let blob = Blob {
        data: vec![7; 256 * 1024],
    };
    let frame = Frame::encode_with_action("broadcast", &blob, arena.good.framing()).unwrap();
    for sent in 0..count {
        // Paced by the listener and the sender's own copy (two in flight at most), so
        // that only the deaf client falls behind; a broadcaster faster than its readers
        // would have them all cut.
        let mut own = arena.broadcasts.clone();
        let keeping_up = tokio::time::timeout(WAIT, async {
            heard.wait_for(|got| *got + 2 > sent).await.is_ok()
                && own.wait_for(|got| *got + 2 > sent).await.is_ok()
        })
        .await;
        assert!(
            keeping_up == Ok(true),
            "the listeners keep up: {:?}",
            arena.seen.lock().unwrap().disconnected
        );
        arena.good.send_wait(&frame).await.unwrap();
    }
    let listened = tokio::time::timeout(WAIT, listening).await;
    assert!(
        matches!(listened, Ok(Ok(()))),
        "the listener gets every broadcast: {:?}",
        arena.seen.lock().unwrap().disconnected
    );
    let reason = arena.disconnect_reason(deaf_id).await;
    match reason {
        DisconnectReason::SlowConsumer { limit, .. } => assert_eq!(limit, 4 * 1024 * 1024),
        other => panic!("expected a slow consumer, got {other:?}"),
    }
    arena.assert_serving().await;
}

/// Quiet connections (a silent one, and one that sent half a header) are kept while there
/// is room; a full server closes the oldest quiet one to admit each newcomer, and tells it
/// why; a server full of connections that have all spoken turns newcomers away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_connections_make_room_for_players() {
    let mut config = ServerConfig::default();
    config.max_connections = 3;
    let mut arena = Arena::new(config).await; // the good client holds one slot
    let (mut silent, silent_id) = arena.raw_peer().await;
    let (mut trickler, trickler_id) = arena.raw_peer().await;
    trickler.send_bytes(&[0, 0]).await;
    arena.assert_serving().await;

    let mut players = Vec::new();
    for (n, (quiet, quiet_id)) in [(&mut silent, silent_id), (&mut trickler, trickler_id)]
        .into_iter()
        .enumerate()
    {
        // A player at a full server: it gets in, and is served.
        let mut player = RawPeer::connect(arena.addr).await;
        player.send("ping", &Ping { n: n as u64 }).await;
        let back = player.recv_skipping_connected().await.expect("served");
        assert_eq!(back.decode::<Ping>().unwrap(), Ping { n: n as u64 });
        players.push(player);
        // The oldest quiet connection made room, and was told why.
        let seen = quiet.recv_until_eof().await;
        let reasons: Vec<_> = seen.iter().filter_map(close_reason).collect();
        assert_eq!(reasons, [podnet_transport::podnet_proto::EVICTION_REASON]);
        assert_eq!(
            arena.disconnect_reason(quiet_id).await,
            DisconnectReason::Evicted
        );
    }
    assert_eq!(arena.server.evicted_count(), 2);

    // Full of players: the next one is turned away.
    let mut late = RawPeer::connect(arena.addr).await;
    let seen = late.recv_until_eof().await;
    assert_eq!(close_reason(&seen[0]).as_deref(), Some("server full"));
    assert_eq!(arena.server.rejected_count(), 1);
    arena.assert_serving().await;
}

/// Past `max_quiet_connections`, the oldest quiet connection is closed even when the
/// server has room; one that spoke is not counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_connections_are_capped() {
    let mut config = ServerConfig::default();
    config.max_quiet_connections = 2;
    let mut arena = Arena::new(config).await;
    let (mut first, first_id) = arena.raw_peer().await;
    let (mut talker, _) = arena.raw_peer().await;
    talker.send("ping", &Ping { n: 1 }).await;
    assert!(talker.recv_skipping_connected().await.is_some());
    let (_second, _) = arena.raw_peer().await;
    let (_third, _) = arena.raw_peer().await; // one quiet too many
    let seen = first.recv_until_eof().await;
    assert_eq!(
        seen.iter().filter_map(close_reason).collect::<Vec<_>>(),
        [podnet_transport::podnet_proto::EVICTION_REASON]
    );
    assert_eq!(
        arena.disconnect_reason(first_id).await,
        DisconnectReason::Evicted
    );
    talker.send("ping", &Ping { n: 2 }).await;
    assert!(
        talker.recv_skipping_connected().await.is_some(),
        "the talker stays"
    );
    assert_eq!(arena.server.evicted_count(), 1);
    arena.assert_serving().await;
}

/// A flood of connections at a server full of players: no player is ever displaced. Each
/// flood connection is turned away (up to 64 at a time are first told "server full"; the
/// rest is dropped at once, so turning clients away stays cheap), or takes the slot of an
/// earlier flood connection that had not spoken yet (which is told why, or cut when many
/// are being told); once the flood is gone, new connections are accepted again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_flood_over_the_cap() {
    let mut config = ServerConfig::default();
    config.max_connections = 20;
    let mut arena = Arena::new(config).await;
    let addr = arena.addr;
    // 19 players fill the server with the good client; each has spoken.
    let mut players = Vec::new();
    for n in 0..19 {
        let mut player = RawPeer::connect(addr).await;
        player.send("ping", &Ping { n }).await;
        assert!(player.recv_skipping_connected().await.is_some());
        players.push(player);
    }
    // 300 connections opened back to back and held, each saying one thing, then reading
    // its first frame.
    let mut flood = Vec::new();
    for n in 0..300 {
        let mut peer = RawPeer::connect(addr).await;
        peer.send("hi", &Ping { n }).await;
        flood.push(tokio::spawn(async move {
            // A `connected` greeting (accepted), a close, or nothing at all.
            let first = peer.recv().await;
            (first, peer)
        }));
    }
    let mut greeted = Vec::new();
    let (mut full, mut evicted, mut silent) = (0, 0, 0);
    for task in flood {
        match task.await.unwrap() {
            (Some(msg), peer) if msg.action() == "connected" => greeted.push(peer),
            (Some(msg), mut peer) => {
                match close_reason(&msg).as_deref() {
                    Some("server full") => full += 1,
                    Some(podnet_transport::podnet_proto::EVICTION_REASON) => evicted += 1,
                    other => panic!("unexpected close {other:?}"),
                }
                assert!(peer.recv().await.is_none(), "closed after the reason");
            }
            (None, _) => silent += 1,
        }
    }
    assert_eq!(greeted.len() + full + evicted + silent, 300);
    assert!(full + evicted >= 1, "flood connections are told why");
    let server = &arena.server;
    assert!(
        server.connection_count() <= 20,
        "{}",
        server.connection_count()
    );
    // Every flood connection but the one holding the last slot was turned away or evicted.
    assert!(server.rejected_count() + server.evicted_count() >= 299);
    for (n, player) in players.iter_mut().enumerate() {
        player.send("ping", &Ping { n: 100 + n as u64 }).await;
        let back = player.recv().await.expect("every player is still served");
        assert_eq!(back.decode::<Ping>().unwrap().n, 100 + n as u64);
    }
    arena.assert_serving().await;

    drop(greeted);
    drop(players);
    arena
        .wait_until("the flood's connections are gone", |_, server| {
            server.connection_count() == 1
        })
        .await;
    let (mut late, _) = arena.raw_peer().await;
    late.send("ping", &Ping { n: 7 }).await;
    assert_eq!(
        late.recv_skipping_connected()
            .await
            .unwrap()
            .decode::<Ping>()
            .unwrap(),
        Ping { n: 7 }
    );
    arena.assert_serving().await;
}

// Thousands of connections reset mid-frame: tests/resets.rs, alone in its test binary so
// that it can count the process's open files.

/// A peer flooding a server that has a rate limit is slowed to the rate and loses
/// nothing; the well-behaved client is served meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_paces_a_flood_without_loss() {
    let mut config = ServerConfig::default();
    config.connection.rate_limit = Some(podnet_transport::RateLimit::new(200, 20));
    let mut arena = Arena::new(config).await;
    let (mut peer, _) = arena.raw_peer().await;
    let started = tokio::time::Instant::now();
    let mut frames = Vec::new();
    for n in 0..100 {
        let mut frame = bytes::BytesMut::new();
        podnet_framing::encode_message(&Ping { n }, &mut frame, &Default::default()).unwrap();
        frames.extend_from_slice(&frame);
    }
    peer.send_bytes(&frames).await; // all at once
    arena.assert_serving().await;
    for n in 0..100 {
        let back = peer
            .recv_skipping_connected()
            .await
            .expect("every ping echoed");
        assert_eq!(back.decode::<Ping>().unwrap(), Ping { n });
    }
    // 20 at once, then 80 at 200 per second: at least 0.4 s, however fast the machine
    // (lifecycle.rs pins it to the tick with paused time).
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(400), "{elapsed:?}");
}

//! The network inside `pump()`: no thread of its own, messages read and replies written
//! by the pumping thread, timers kept under many short pumps, bounded waits, and TCP
//! pushing back while nothing pumps.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use podnet_sync::{Client, NetworkMode, Server, ServerEvent, SyncError, WithAction};
use podnet_transport::{ClientConfig, ClientEvent, ServerConfig, podnet_framing};
use serde::Deserialize;

const WAIT: Duration = Duration::from_secs(10);

fn server_config() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.network_mode = NetworkMode::Pump;
    config
}

fn client_config() -> ClientConfig {
    let mut config = ClientConfig::default();
    config.network_mode = NetworkMode::Pump;
    config
}

#[derive(Deserialize)]
struct Numbered {
    n: u64,
}

/// Pumps `server` until a client has joined; its id.
fn joined(server: &mut Server) -> podnet_transport::ConnectionId {
    let mut id = None;
    until(|| {
        server.pump(|event| {
            if let ServerEvent::Connected { id: joined, .. } = event {
                id = Some(joined);
            }
        });
        id.is_some()
    });
    id.unwrap()
}

/// Pumps until `done` holds; fails after `WAIT`.
fn until(mut step: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !step() {
        assert!(Instant::now() < deadline, "condition not reached in time");
    }
}

/// `pump_timeout` with nothing to do returns after about the time asked, not sooner by
/// much and not later by much; `pump` returns at once.
#[test]
fn a_pump_waits_no_longer_than_asked() {
    let mut server = Server::start("127.0.0.1:0", server_config()).unwrap();
    for _ in 0..3 {
        let started = Instant::now();
        assert_eq!(server.pump_timeout(Duration::from_millis(30), |_| {}), 0);
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(25), "returned after {took:?}");
        assert!(took < Duration::from_secs(1), "returned after {took:?}");
    }
    let started = Instant::now();
    for _ in 0..1_000 {
        server.pump(|_| {});
    }
    assert!(started.elapsed() < Duration::from_secs(1));
}

/// A stop asked for just before `pump_timeout` ends its wait: the wake it sends is not
/// taken by the pump's first look at the queue and then slept past (a `run()` loop that
/// checks for a stop between two pumps would otherwise wait out its whole timeout).
#[test]
fn a_stop_asked_just_before_a_pump_ends_its_wait() {
    let mut server = Server::start("127.0.0.1:0", server_config()).unwrap();
    server.handle().request_stop("now");
    let started = Instant::now();
    server.pump_timeout(WAIT, |_| {});
    assert!(
        started.elapsed() < WAIT / 2,
        "the pump slept {:?} past the stop",
        started.elapsed()
    );
}

/// A message arriving while `pump_timeout` waits ends the wait, on the server and on a
/// client in pump mode on another thread; the client's close is answered while the
/// server waits.
#[test]
fn a_waiting_pump_wakes_for_a_message() {
    let mut server = Server::start("127.0.0.1:0", server_config()).unwrap();
    let addr = server.local_addr();
    let player = std::thread::spawn(move || {
        let client = Client::connect(addr, client_config()).unwrap();
        client
            .send(&WithAction("hello", &HashMap::from([("n", 1)])))
            .unwrap();
        let mut answered = false;
        until(|| {
            client.pump_timeout(WAIT, |event| {
                if let ClientEvent::Message(message) = event {
                    answered |= message.action() == "welcome";
                }
            });
            answered
        });
        // Dropped here: closed, and the close answered by the server's pump.
    });
    let handle = server.handle().clone();
    let mut left = false;
    until(|| {
        server.pump_timeout(WAIT, |event| match event {
            ServerEvent::Message { id, .. } => {
                handle.send(id, &WithAction("welcome", &())).unwrap();
            }
            ServerEvent::Disconnected { .. } => left = true,
            _ => {}
        });
        left
    });
    player.join().unwrap();
}

/// Timers keep running under thousands of short pumps: a server that only ever calls
/// `pump()` (never waits) still sends its heartbeats, and measures the round trip from
/// the answers.
#[test]
fn timers_run_under_many_short_pumps() {
    let mut config = server_config();
    config.connection.liveness.heartbeat_interval = Some(Duration::from_millis(20));
    let mut server = Server::start("127.0.0.1:0", config).unwrap();
    let _client = Client::connect(server.local_addr(), ClientConfig::default()).unwrap();
    let mut id = None;
    let mut pumps = 0u64;
    until(|| {
        server.pump(|event| {
            if let ServerEvent::Connected { id: joined, .. } = event {
                id = Some(joined);
            }
        });
        pumps += 1;
        id.and_then(|id| server.handle().connection_info(id))
            .is_some_and(|info| info.rtt.is_some())
    });
    assert!(pumps > 100, "only {pumps} pumps");
    // The server shuts down first, so the client's close needs no pump to be answered.
    drop(server);
}

/// While nothing pumps, nothing reads: a flooding peer is pushed back by TCP (its writes
/// stop being taken), and when the server pumps again everything sent arrives, in order.
#[test]
fn tcp_pushes_back_while_nothing_pumps() {
    let mut server = Server::start("127.0.0.1:0", server_config()).unwrap();
    let mut peer = TcpStream::connect(server.local_addr()).unwrap();
    peer.set_nonblocking(true).unwrap();
    let pad = "x".repeat(200);
    let frame = |n: u64| {
        let mut out = bytes::BytesMut::new();
        let fields = HashMap::from([("n", n.to_string()), ("pad", pad.clone())]);
        let config = podnet_framing::FramingConfig::default();
        podnet_framing::encode_with_action("flood", &fields, &mut out, &config).unwrap();
        out.to_vec()
    };
    // Fill the kernel's buffers: writes stop being taken.
    let mut sent = 0u64;
    let mut pending = frame(sent);
    let mut offset = 0;
    loop {
        match peer.write(&pending[offset..]) {
            Ok(n) => {
                offset += n;
                if offset == pending.len() {
                    sent += 1;
                    pending = frame(sent);
                    offset = 0;
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(err) => panic!("{err}"),
        }
        assert!(sent < 1_000_000, "the kernel took everything");
    }
    assert!(sent > 100, "pushed back after {sent} messages");
    // Pump: the rest goes once there is room, and all of it arrives in order.
    let mut next = 0u64;
    until(|| {
        if offset < pending.len() {
            if let Ok(n) = peer.write(&pending[offset..]) {
                offset += n;
            }
        }
        server.pump(|event| {
            if let ServerEvent::Message { message, .. } = event {
                let n: HashMap<String, String> = message.decode().unwrap();
                assert_eq!(n["n"], next.to_string());
                next += 1;
            }
        });
        next == sent + 1
    });
}

/// What the server sent before `shutdown` is delivered, then the close.
#[test]
fn shutdown_delivers_what_was_sent() {
    let mut server = Server::start("127.0.0.1:0", server_config()).unwrap();
    let client = Client::connect(server.local_addr(), ClientConfig::default()).unwrap();
    let id = joined(&mut server);
    for n in 0..2_000u64 {
        server
            .handle()
            .send(id, &WithAction("n", &HashMap::from([("n", n)])))
            .unwrap();
    }
    server.shutdown("bye", WAIT).unwrap();
    let mut received = 0u64;
    let mut closed = None;
    until(|| {
        client.pump_timeout(Duration::from_millis(100), |event| match event {
            ClientEvent::Message(message) if message.action() == "n" => {
                assert_eq!(message.decode::<Numbered>().unwrap().n, received);
                received += 1;
            }
            ClientEvent::Disconnected(reason) => closed = Some(reason.to_string()),
            _ => {}
        });
        closed.is_some()
    });
    assert_eq!(received, 2_000);
    assert!(closed.unwrap().contains("bye"));
}

/// Pump mode has no thread to hand out, and runs on one thread only: both are refused
/// with what to do instead.
#[test]
fn pump_mode_refuses_what_it_cannot_be() {
    let err = Server::start_background("127.0.0.1:0", server_config()).unwrap_err();
    assert!(matches!(err, SyncError::NoNetworkThread), "{err}");
    assert!(err.to_string().contains("Server::start"), "{err}");
    let mut config = server_config();
    config.network_threads = 2;
    let err = Server::start("127.0.0.1:0", config).unwrap_err();
    assert!(
        matches!(err, SyncError::PumpThreads { threads: 2 }),
        "{err}"
    );
    assert!(err.to_string().contains("network_threads to 1"), "{err}");
}

/// A game that pauses between pumps, each pause shorter than its peer's heartbeat
/// timeout, keeps its players: what the pauses held back is answered when it pumps again.
#[test]
fn pauses_within_the_heartbeat_timeout_keep_the_players() {
    let mut server = Server::start("127.0.0.1:0", server_config()).unwrap();
    // The client (on a thread of its own) pings every 20 ms and gives up after 1 s of
    // silence; the server pauses 150 ms at a time.
    let mut config = ClientConfig::default();
    config.network_mode = NetworkMode::Thread;
    config.connection.liveness.heartbeat_interval = Some(Duration::from_millis(20));
    config.connection.liveness.heartbeat_timeout = Duration::from_secs(1);
    let client = Client::connect(server.local_addr(), config).unwrap();
    let mut gone = false;
    for _ in 0..6 {
        std::thread::sleep(Duration::from_millis(150)); // the game's long frame
        server.pump(|event| {
            gone |= matches!(event, ServerEvent::Disconnected { .. });
        });
    }
    let mut client_gone = false;
    client.pump(|event| client_gone |= matches!(event, ClientEvent::Disconnected(_)));
    assert!(!gone && !client_gone && client.is_connected());
    assert!(client.info().rtt.is_some(), "no round trip measured");
    drop(server);
}

/// What a tick loop sends after its pump leaves with `flush()`, with no pump after it:
/// the first send to a peer is written at once, the rest were queued for the flush.
#[test]
fn flush_writes_what_was_sent_after_the_pump() {
    let mut server = Server::start("127.0.0.1:0", server_config()).unwrap();
    let mut config = ClientConfig::default();
    config.network_mode = NetworkMode::Thread;
    let client = Client::connect(server.local_addr(), config).unwrap();
    let id = joined(&mut server);
    for n in 0..3u64 {
        let state = WithAction("state", &HashMap::from([("n", n)]));
        server.handle().send(id, &state).unwrap();
    }
    server.flush();
    let mut states = Vec::new();
    until(|| {
        client.pump_timeout(Duration::from_millis(100), |event| {
            if let ClientEvent::Message(message) = event {
                if message.action() == "state" {
                    states.push(message.decode::<Numbered>().unwrap().n);
                }
            }
        });
        states.len() == 3
    });
    assert_eq!(states, [0, 1, 2]);
    drop(server);
}

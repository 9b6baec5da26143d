//! Interop with the real repod (`repodnet` 0.1.2, in the venv `cargo xtask interop` makes):
//! repod clients on a podnet server, podnet clients on a repod server, podnet's control
//! messages seen by repod, and a mixed room under a burst. The Python side of each scenario
//! is `interop/scenarios.py`; these tests drive it and check the podnet side.
//!
//! They are `#[ignore]`d in plain `cargo test` because they need that Python; `cargo xtask
//! ci` and `cargo xtask interop` run them with `--ignored`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use podnet::WithAction;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use podnet::wire::Frame;
use podnet::{
    Channel, ChannelCtx, ChannelHandlers, Client, ClientCtx, Connected, ConnectionListener,
    DisconnectReason, HookResult, ListenerHandlers, Message, Server, ServerConfig, Value,
};
use serde::{Deserialize, Serialize};

const DEADLINE: Duration = Duration::from_secs(30);

/// A running scenario script, with its stdout lines arriving on a channel.
struct Scenario {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Scenario {
    fn start(args: &[&str]) -> Scenario {
        let python = std::env::var("PODNET_PYTHON").expect(
            "PODNET_PYTHON is not set: run these tests with `cargo xtask interop` (or `cargo \
             xtask ci`), which makes a Python venv with repodnet and points PODNET_PYTHON at it",
        );
        let script = format!("{}/tests/interop/scenarios.py", env!("CARGO_MANIFEST_DIR"));
        let mut child = Command::new(&python)
            .arg(script)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("could not start PODNET_PYTHON={python} ({e}); it must be an absolute path")
            });
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("python: {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Scenario {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for the line that starts with `prefix`, and returns the rest of it.
    fn wait_line(&mut self, prefix: &str) -> String {
        let line = self
            .lines
            .recv_timeout(DEADLINE)
            .unwrap_or_else(|_| panic!("no {prefix:?} line from Python"));
        assert!(
            line.starts_with(prefix),
            "expected {prefix:?}, Python said {line:?}"
        );
        line[prefix.len()..].trim().to_owned()
    }

    /// Whether the script has exited; panics if it failed.
    fn finished(&mut self) -> bool {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        match self.child.try_wait().unwrap() {
            None => false,
            Some(status) => {
                // Collect its last words: every line, up to the end of its output (the
                // reader thread's channel closes there).
                loop {
                    match self.lines.recv_timeout(DEADLINE) {
                        Ok(line) => self.seen.push(line),
                        Err(mpsc::RecvTimeoutError::Disconnected) => break,
                        Err(mpsc::RecvTimeoutError::Timeout) => {
                            panic!("Python exited but its output never ended: {:?}", self.seen)
                        }
                    }
                }
                assert!(status.success(), "the Python side failed: {:?}", self.seen);
                assert!(
                    self.seen.iter().any(|l| l.starts_with("OK")),
                    "no OK from Python: {:?}",
                    self.seen
                );
                true
            }
        }
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `step` (one round of work, then whether it is done) until it is done, failing after
/// the deadline.
fn until(what: &str, mut step: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !step() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_micros(200));
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Message)]
#[message(action = "chat")]
struct Chat {
    who: String,
    text: String,
}

/// Every msgpack type the Python client sends, with the Rust type that holds it.
#[derive(Deserialize, Debug, Message)]
#[message(action = "types")]
struct Types {
    s: String,
    #[serde(with = "serde_bytes")]
    b: Vec<u8>,
    neg: i64,
    big: u64,
    i64min: i64,
    f: f64,
    t: bool,
    n: Option<i32>,
    lst: Vec<Value>,
    m: HashMap<String, Value>,
}

#[derive(Default)]
struct Room {
    types: Vec<Types>,
    /// (name, reason) of every channel that left.
    left: Vec<(String, DisconnectReason)>,
    ready: usize,
}

/// The podnet server's channel for the scenarios: relays chat and bursts, records types,
/// and closes a client that says it is done.
#[derive(Default)]
struct Member {
    name: String,
}

impl Channel for Member {
    type Game = Room;

    fn handlers(h: &mut ChannelHandlers<Self>) {
        h.on(
            |me: &mut Self, ctx: &mut ChannelCtx<'_, Self>, chat: Chat| {
                me.name = chat.who.clone();
                ctx.send_to_all(&chat).unwrap();
            },
        )
        .on(
            |_: &mut Self, ctx: &mut ChannelCtx<'_, Self>, types: Types| {
                ctx.game.types.push(types);
            },
        )
        .on_raw("done", |me, ctx, _| ctx.close(&format!("bye {}", me.name)))
        .on_value("ready", |me, ctx, msg| {
            me.name = msg["who"].as_str().unwrap_or_default().to_owned();
            ctx.game.ready += 1;
            if ctx.game.ready == 2 {
                ctx.server().send_to_all(&WithAction("go", &())).unwrap();
            }
        })
        .on_raw("burst", |_, ctx, msg| {
            // Relayed unchanged, encoded once for everyone.
            ctx.server()
                .send_to_all(&Frame::from_message(msg).unwrap())
                .unwrap();
        });
    }

    fn on_disconnect(
        &mut self,
        ctx: &mut ChannelCtx<'_, Self>,
        reason: &DisconnectReason,
    ) -> HookResult {
        ctx.game.left.push((self.name.clone(), reason.clone()));
        Ok(())
    }
}

#[derive(Serialize, Deserialize, Debug, Message)]
#[message(action = "burst")]
struct Burst {
    from: String,
    seq: u32,
}

/// A podnet client for the scenarios.
#[derive(Default)]
struct Player {
    name: String,
    connected: usize,
    chats: Vec<Chat>,
    bursts: Vec<(String, u32)>,
    burst_count: u32,
    unknown: Vec<Value>,
    closed: Option<DisconnectReason>,
    responses: Vec<i64>,
    shouts: Vec<String>,
}

impl ConnectionListener for Player {
    fn handlers(h: &mut ListenerHandlers<Self>) {
        h.on(|p: &mut Self, _: &mut ClientCtx<'_>, _: Connected| p.connected += 1)
            .on(|p: &mut Self, _: &mut ClientCtx<'_>, chat: Chat| p.chats.push(chat))
            .on(|p: &mut Self, _: &mut ClientCtx<'_>, b: Burst| p.bursts.push((b.from, b.seq)))
            .on_value("go", |p, ctx, _| {
                for seq in 0..p.burst_count {
                    ctx.send(&Burst {
                        from: p.name.clone(),
                        seq,
                    })
                    .unwrap();
                }
            })
            .on_value("response", |p, _, msg| {
                p.responses.push(msg["n"].as_i64().unwrap());
            })
            .on_value("shout", |p, _, msg| {
                p.shouts.push(msg["text"].as_str().unwrap().to_owned());
            })
            .fallback(|p, _, msg| p.unknown.push(msg));
    }

    fn on_disconnect(&mut self, _ctx: &mut ClientCtx<'_>, reason: &DisconnectReason) -> HookResult {
        self.closed = Some(reason.clone());
        Ok(())
    }
}

fn player(name: &str) -> Player {
    Player {
        name: name.into(),
        ..Player::default()
    }
}

/// Scenario 1: repod clients on a podnet server. They get `connected`, chat with two
/// podnet clients through `send_to_all`, a typed handler receives every msgpack type Python
/// sends, and each side sees the other disconnect.
#[test]
#[ignore = "needs Python with repodnet; `cargo xtask interop` runs it"]
fn repod_clients_on_a_podnet_server() {
    let mut server = Server::<Member>::start_background("127.0.0.1:0", Room::default()).unwrap();
    let port = server.local_addr().port().to_string();
    let mut rs_a = Client::connect(server.local_addr(), player("rsA")).unwrap();
    let mut rs_b = Client::connect(server.local_addr(), player("rsB")).unwrap();
    let mut python = Scenario::start(&["clients", &port]);

    let mut chatted = false;
    until("the Python clients", || {
        server.pump();
        rs_a.pump();
        rs_b.pump();
        if !chatted && server.channels().count() == 4 {
            chatted = true;
            for (client, name) in [(&rs_a, "rsA"), (&rs_b, "rsB")] {
                let text = format!("hello from {name}");
                client
                    .send(&Chat {
                        who: name.into(),
                        text,
                    })
                    .unwrap();
            }
        }
        python.finished()
    });
    until("both Python clients to leave", || {
        server.pump();
        server.game().left.len() == 2
    });

    let left: HashMap<_, _> = server.game().left.iter().cloned().collect();
    assert_eq!(
        left["pyA"],
        DisconnectReason::Closed {
            reason: "bye pyA".into()
        }
    );
    assert_eq!(left["pyB"], DisconnectReason::PeerClosed { reason: None });

    let types = &server.game().types[0];
    assert_eq!(types.s, "h\u{e9}llo \u{2713}");
    assert_eq!(types.b, [0x00, 0x01, 0xff]);
    assert_eq!(
        (types.neg, types.big, types.i64min),
        (-5, (1u64 << 63) + 5, i64::MIN)
    );
    assert_eq!((types.f, types.t, types.n), (3.25, true, None));
    assert_eq!(
        types.lst,
        [
            Value::from(1),
            Value::from("two"),
            Value::Array(vec![Value::F64(3.5), Value::Nil])
        ]
    );
    assert_eq!(types.m["k"]["deep"], Value::Array(vec![Value::from(true)]));

    for client in [&rs_a, &rs_b] {
        let mut from: Vec<_> = client
            .listener()
            .chats
            .iter()
            .map(|c| c.who.clone())
            .collect();
        from.sort();
        assert_eq!(from, ["pyA", "pyB", "rsA", "rsB"]);
        assert_eq!(
            client.listener().connected,
            1,
            "podnet raises connected once"
        );
    }
}

/// Scenario 2: podnet clients on a repod server: connected, request and response,
/// broadcast from the Python server, the server closing a connection; the repod server sees
/// podnet's hello as an unknown action and goes on.
#[test]
#[ignore = "needs Python with repodnet; `cargo xtask interop` runs it"]
fn podnet_clients_on_a_repod_server() {
    let mut python = Scenario::start(&["server"]);
    let port: u16 = python.wait_line("PORT").parse().unwrap();
    let addr = format!("127.0.0.1:{port}");
    let mut c1 = Client::connect(addr.as_str(), player("c1")).unwrap();
    let mut c2 = Client::connect(addr.as_str(), player("c2")).unwrap();
    let pump = |c1: &mut Client<Player>, c2: &mut Client<Player>| {
        c1.pump();
        c2.pump();
    };

    until("the repod server's greeting", || {
        pump(&mut c1, &mut c2);
        c1.listener().connected == 1 && c2.listener().connected == 1
    });
    c1.send(&WithAction("request", &HashMap::from([("n", 21)])))
        .unwrap();
    until("the response", || {
        pump(&mut c1, &mut c2);
        !c1.listener().responses.is_empty()
    });
    assert_eq!(c1.listener().responses, [42]);

    c1.send(&WithAction("shout", &HashMap::from([("text", "hey")])))
        .unwrap();
    until("the broadcast", || {
        pump(&mut c1, &mut c2);
        c1.listener().shouts.len() == 1 && c2.listener().shouts.len() == 1
    });

    c2.send(&WithAction("kick", &())).unwrap();
    until("the kick", || {
        pump(&mut c1, &mut c2);
        c2.listener().closed.is_some()
    });
    assert_eq!(
        c2.listener().closed,
        Some(DisconnectReason::PeerClosed { reason: None })
    );
    assert!(c1.is_connected());

    c1.close("bye");
    until("the repod server to finish", || {
        pump(&mut c1, &mut c2);
        python.finished()
    });
    assert!(
        c1.listener().unknown.is_empty(),
        "{:?}",
        c1.listener().unknown
    );
}

/// Scenario 3: podnet's control messages (hello, ping, close) reach a repod client as
/// unknown actions and change nothing for it.
#[test]
#[ignore = "needs Python with repodnet; `cargo xtask interop` runs it"]
fn podnet_control_messages_are_unknown_actions_to_repod() {
    let mut config = ServerConfig::default();
    config.connection.liveness.heartbeat_interval = Some(Duration::from_millis(50));
    let mut server = Server::<Member>::builder()
        .addr("127.0.0.1:0")
        .config(config)
        .start_background(Room::default())
        .unwrap();
    let port = server.local_addr().port().to_string();
    let mut python = Scenario::start(&["control", &port]);
    until("the Python client", || {
        server.pump();
        python.finished()
    });
}

const PER_SENDER: u32 = 2_500;

/// Scenario 4: a podnet server with a mixed room (two repod clients, two podnet clients)
/// under a burst of 10,000 messages: every message arrives once, in order per sender, at
/// every client.
#[test]
#[ignore = "needs Python with repodnet; `cargo xtask interop` runs it"]
fn mixed_room_burst() {
    let mut config = ServerConfig::default();
    // Room for the whole burst in every queue: this scenario is about delivery, not about
    // slow consumers.
    config.connection.max_queued_bytes = 8 * 1024 * 1024;
    let mut server = Server::<Member>::builder()
        .addr("127.0.0.1:0")
        .config(config)
        .start_background(Room::default())
        .unwrap();
    let port = server.local_addr().port().to_string();
    let mut clients: Vec<_> = ["rsA", "rsB"]
        .into_iter()
        .map(|name| {
            let mut p = player(name);
            p.burst_count = PER_SENDER;
            Client::connect(server.local_addr(), p).unwrap()
        })
        .collect();
    let mut python = Scenario::start(&["burst", &port, &PER_SENDER.to_string()]);

    let total = 4 * PER_SENDER as usize;
    until("the burst", || {
        server.pump();
        for client in &mut clients {
            client.pump();
        }
        python.finished() && clients.iter().all(|c| c.listener().bursts.len() >= total)
    });
    for client in &clients {
        let bursts = &client.listener().bursts;
        assert_eq!(bursts.len(), total);
        let mut next: HashMap<&str, u32> = HashMap::new();
        for (from, seq) in bursts {
            let expected = next.entry(from.as_str()).or_default();
            assert_eq!(seq, expected, "from {from}: out of order or repeated");
            *expected += 1;
        }
        assert_eq!(next.len(), 4);
        assert!(next.values().all(|&n| n == PER_SENDER));
    }
}

/// Scenario 5: a repod client that connects and never sends anything (a spectator, a
/// scoreboard) is kept, and gets what is broadcast after its silence; a client that said
/// podnet's hello and then never answers a ping is timed out beside it.
///
/// The clock is shortened: `hello_wait` 50 ms, heartbeat every 30 ms, timed out after
/// 300 ms, and the watcher stays quiet 1.5 s, five times the longest of them. This is
/// equivalent to a quiet minute at the defaults because every podnet timer is a configured
/// duration from a connection's last event, and a settled repod peer has no timer at all
/// (the state machine's `poll_timeout` is `None` for it: podnet-proto's
/// `heartbeat_pings_podnet_peers_only`, and three hours at the defaults on paused time in
/// podnet-transport's `quiet_repod_peers_stay_silent_podnet_peers_time_out`). The timed-out
/// impostor shows that the shortened timers do run meanwhile. TCP keepalive, the one
/// timer not shortened, is answered by the watcher's kernel.
#[test]
#[ignore = "needs Python with repodnet; `cargo xtask interop` runs it"]
fn quiet_repod_watcher_is_kept() {
    let mut config = ServerConfig::default();
    config.hello_wait = Duration::from_millis(50);
    config.connection.liveness.heartbeat_interval = Some(Duration::from_millis(30));
    config.connection.liveness.heartbeat_timeout = Duration::from_millis(300);
    let mut server = Server::<Member>::builder()
        .addr("127.0.0.1:0")
        .config(config)
        .start_background(Room::default())
        .unwrap();
    let port = server.local_addr().port().to_string();
    let mut python = Scenario::start(&["quiet", &port, "1.5"]);
    python.wait_line("READY");
    python.wait_line("QUIET");
    server
        .handle()
        .send_to_all(&WithAction("news", &()))
        .unwrap();
    until("the watcher to finish", || {
        server.pump();
        python.finished()
    });
    until("both to be gone", || {
        server.pump();
        server.game().left.len() == 2
    });
    let reasons: Vec<_> = server.game().left.iter().map(|(_, r)| r.clone()).collect();
    assert!(
        reasons.contains(&DisconnectReason::TimedOut {
            after: Duration::from_millis(300)
        }),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&DisconnectReason::Closed {
            reason: "bye ".into()
        }),
        "{reasons:?}"
    );
}

/// Scenario 7: repod clients that listen before they speak are greeted at once, on a
/// server with the default settings but WebSocket (whose shared port waits for a
/// browser's first byte): each gets `connected` within 100 ms of connecting, an upper
/// bound a server that waited 500 ms for a hello would fail. (To the tick, on paused
/// time: podnet-transport's `silent_peers_are_settled_after_hello_wait`.)
#[test]
#[ignore = "needs Python with repodnet; `cargo xtask interop` runs it"]
fn listening_repod_clients_are_greeted_at_once() {
    let mut config = ServerConfig::default();
    config.websocket = None;
    let mut server = Server::<Member>::builder()
        .addr("127.0.0.1:0")
        .config(config)
        .start_background(Room::default())
        .unwrap();
    let port = server.local_addr().port().to_string();
    let mut python = Scenario::start(&["join", &port, "5", "100"]);
    until("the listeners to finish", || {
        server.pump();
        python.finished()
    });
}

/// Scenario 6: sockets that connect and never send fill the server; a real repod player
/// still gets in and is served, and the oldest silent socket is told why it was closed.
#[test]
#[ignore = "needs Python with repodnet; `cargo xtask interop` runs it"]
fn a_server_full_of_silent_sockets_admits_a_player() {
    let mut config = ServerConfig::default();
    config.max_connections = 8;
    let mut server = Server::<Member>::builder()
        .addr("127.0.0.1:0")
        .config(config)
        .start_background(Room::default())
        .unwrap();
    let port = server.local_addr().port().to_string();
    let mut python = Scenario::start(&["full", &port, "8"]);
    until("the player to get in and leave", || {
        server.pump();
        python.finished()
    });
    assert!(server.handle().evicted_count() >= 1);
    assert_eq!(
        server.handle().rejected_count(),
        0,
        "room was made, no one was turned away"
    );
    until("the player's channel to close", || {
        server.pump();
        server.game().left.iter().any(|(name, _)| name == "player")
    });
}

/// The state of scenario 8: a map by name, a map by number, a list, a round counter.
#[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
struct Arena {
    players: std::collections::BTreeMap<String, (i32, i32)>,
    units: std::collections::BTreeMap<u32, Vec<u8>>,
    log: Vec<String>,
    round: u64,
}

/// Changes `arena` for round `n`: entries added, changed and removed, the list grown and
/// cut.
fn next_round(arena: &mut Arena, n: u64) {
    let who = format!("p{}", n % 7);
    match n % 5 {
        0 => {
            arena.players.remove(&who);
        }
        1 | 2 => {
            let at = arena.players.entry(who).or_default();
            at.0 += 1;
            at.1 -= (n % 3) as i32;
        }
        3 => {
            arena
                .units
                .insert((n % 11) as u32, vec![n as u8; (n % 4) as usize]);
            arena.units.remove(&(((n + 5) % 11) as u32));
        }
        _ => {
            arena.log.push(format!("round {n}"));
            if arena.log.len() > 5 {
                arena.log.truncate(2);
            }
        }
    }
    arena.round = n;
}

/// Scenario 8: a repod client with podnet's state mixin (`clients/python/podnet_state.py`)
/// follows a replicated state: the whole state, then 200 patches (entries added, changed
/// and removed in maps keyed by name and by number, a list grown and cut); its copy, sent
/// back as msgpack, equals the server's state.
#[test]
#[ignore = "needs Python with repodnet; `cargo xtask interop` runs it"]
fn repod_clients_follow_replicated_state() {
    use podnet_state::{Replicated, StateConfig};
    const ROUNDS: u64 = 200;
    let mut server = Server::<Member>::builder()
        .addr("127.0.0.1:0")
        .start_background(Room::default())
        .unwrap();
    let port = server.local_addr().port().to_string();
    let mut python = Scenario::start(&["state", &port, &ROUNDS.to_string()]);
    let mut id = None;
    until("the repod client's connection", || {
        server.pump();
        id = server.channels().next().map(|(id, _)| id);
        id.is_some()
    });
    let mut arena = Replicated::new(Arena::default(), StateConfig::default());
    arena.follow(id.unwrap());
    for n in 1..=ROUNDS {
        next_round(arena.state_mut(), n);
        arena.send(server.handle()).unwrap();
        server.pump();
    }
    let hex = python.wait_line("STATE");
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let got: Arena = rmp_serde::from_slice(&bytes).unwrap();
    assert_eq!(got, *arena.state());
    until("the Python client", || {
        server.pump();
        python.finished()
    });
}

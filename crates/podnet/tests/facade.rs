//! The facade through its public API only: handlers, fallbacks, lifecycle, threads,
//! host-and-play, and shutdown on drop.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use podnet::WithAction;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use podnet::{
    Channel, ChannelCtx, ChannelHandlers, Client, ClientCtx, Connected, ConnectionId,
    ConnectionListener, DisconnectReason, HookResult, ListenerHandlers, Message, MessageError,
    PanicPolicy, SendError, Server, Value,
};
use serde::{Deserialize, Serialize};

const WAIT: Duration = Duration::from_secs(10);

/// Pumps `server` and `clients` until `done` holds; fails after `WAIT`.
fn pump_until<C: Channel, L: ConnectionListener>(
    server: &mut Server<C>,
    clients: &mut [&mut Client<L>],
    mut done: impl FnMut(&Server<C>, &[&mut Client<L>]) -> bool,
) {
    let deadline = Instant::now() + WAIT;
    while !done(server, clients) {
        assert!(Instant::now() < deadline, "condition not reached in time");
        server.pump_timeout(Duration::from_millis(1));
        for client in clients.iter_mut() {
            client.pump();
        }
    }
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone, Message)]
#[message(action = "move")]
struct Move {
    x: i32,
    y: i32,
    #[serde(default)]
    tag: Option<String>,
}

/// Server-side record of what happened, in order.
#[derive(Default)]
struct Log {
    events: Vec<String>,
    moves: Vec<(ConnectionId, Move)>,
    unknown: Vec<Value>,
    errors: Vec<String>,
    error_actions: Vec<Option<String>>,
}

/// A shout: its handler fails (returns an error) when the text is empty, and panics when
/// it is "boom": a bug in the game's code.
#[derive(Serialize, Deserialize, Debug, PartialEq, Clone, Message)]
#[message(action = "shout")]
struct Shout {
    text: String,
}

#[derive(Default)]
struct Player {
    moves: usize,
}

impl Channel for Player {
    type Game = Log;

    fn handlers(h: &mut ChannelHandlers<Self>) {
        h.on(Self::on_move)
            .on(Self::on_shout)
            .fallback(|_, ctx, msg| ctx.game.unknown.push(msg));
    }

    fn on_connect(&mut self, ctx: &mut ChannelCtx<'_, Self>) -> HookResult {
        let event = format!("connect {}", ctx.id());
        ctx.game.events.push(event);
        Ok(())
    }

    fn on_disconnect(
        &mut self,
        ctx: &mut ChannelCtx<'_, Self>,
        reason: &DisconnectReason,
    ) -> HookResult {
        let event = format!(
            "disconnect {} after {} moves: {reason}",
            ctx.id(),
            self.moves
        );
        ctx.game.events.push(event);
        Ok(())
    }

    fn on_error(&mut self, ctx: &mut ChannelCtx<'_, Self>, error: MessageError) {
        ctx.game.errors.push(error.to_string());
        ctx.game
            .error_actions
            .push(error.action().map(str::to_owned));
    }
}

impl Player {
    fn on_move(&mut self, ctx: &mut ChannelCtx<'_, Self>, msg: Move) {
        self.moves += 1;
        let id = ctx.id();
        ctx.game.events.push(format!("move {id}"));
        ctx.game.moves.push((id, msg.clone()));
        ctx.send_to_all(&msg).unwrap();
    }

    fn on_shout(&mut self, _: &mut ChannelCtx<'_, Self>, msg: Shout) -> Result<(), String> {
        match msg.text.as_str() {
            "" => Err("an empty shout".to_owned()),
            "boom" => panic!("the shout handler has a bug"),
            _ => Ok(()),
        }
    }
}

/// Client-side record.
#[derive(Default)]
struct Watcher {
    events: Vec<String>,
    moves: Vec<Move>,
    unknown: Vec<Value>,
}

impl ConnectionListener for Watcher {
    fn handlers(h: &mut ListenerHandlers<Self>) {
        h.on(|w: &mut Self, _: &mut ClientCtx<'_>, _: Connected| {
            w.events.push("connected".into());
        })
        .on(|w: &mut Self, _: &mut ClientCtx<'_>, m: Move| w.moves.push(m))
        .fallback(|w, _, msg| w.unknown.push(msg));
    }

    fn on_socket_connect(&mut self, _ctx: &mut ClientCtx<'_>) -> HookResult {
        self.events.push("socketConnect".into());
        Ok(())
    }

    fn on_connect(&mut self, ctx: &mut ClientCtx<'_>) -> HookResult {
        assert!(
            ctx.handshake().is_some(),
            "on_connect comes after the handshake"
        );
        self.events.push("handshake".into());
        Ok(())
    }

    fn on_disconnect(&mut self, _ctx: &mut ClientCtx<'_>, reason: &DisconnectReason) -> HookResult {
        self.events.push(format!("disconnected: {reason}"));
        Ok(())
    }
}

fn start() -> Server<Player> {
    Server::<Player>::start_background("127.0.0.1:0", Log::default()).unwrap()
}

/// A typed handler receives the message's fields; game state changed by handlers is the
/// server's, read back on the main thread.
#[test]
fn typed_handler_receives_fields_and_mutates_game_state() {
    let mut server = start();
    let mut client = Client::connect(server.local_addr(), Watcher::default()).unwrap();
    let sent = Move {
        x: -7,
        y: 12,
        tag: Some("dash".into()),
    };
    client.send(&sent).unwrap();
    pump_until(&mut server, &mut [&mut client], |s, _| {
        !s.game().moves.is_empty()
    });
    let (id, got) = &server.game().moves[0];
    assert_eq!(got, &sent);
    assert_eq!(server.channel(*id).unwrap().moves, 1);
    // The relayed move comes back to the client's typed handler.
    pump_until(&mut server, &mut [&mut client], |_, c| {
        !c[0].listener().moves.is_empty()
    });
    assert_eq!(client.listener().moves, [sent]);
}

/// Unknown actions reach the fallback as values, on both sides; a message that does not fit
/// its handler's type reaches on_error, and the connection stays.
#[test]
fn fallback_gets_unknown_actions_and_misfits_go_to_on_error() {
    let mut server = start();
    let mut client = Client::connect(server.local_addr(), Watcher::default()).unwrap();
    client
        .send(&WithAction("emote", &HashMap::from([("face", ":)")])))
        .unwrap();
    client
        .send(&WithAction("move", &HashMap::from([("x", "not a number")])))
        .unwrap();
    pump_until(&mut server, &mut [&mut client], |s, _| {
        !s.game().unknown.is_empty() && !s.game().errors.is_empty()
    });
    let emote = &server.game().unknown[0];
    assert_eq!(emote["action"].as_str(), Some("emote"));
    assert_eq!(emote["face"].as_str(), Some(":)"));
    let error = &server.game().errors[0];
    assert!(
        error.contains("\"move\"") && error.contains("Move"),
        "{error}"
    );
    // The error names the field that did not fit and the type it expected.
    assert!(
        error.contains("the field `x` does not fit") && error.contains("expected i32"),
        "{error}"
    );
    assert_eq!(server.game().error_actions[0].as_deref(), Some("move"));

    // The server's fallback path on the client: an action the Watcher has no handler for.
    server
        .handle()
        .send_to_all(&WithAction("scoreboard", &HashMap::from([("top", 3)])))
        .unwrap();
    pump_until(&mut server, &mut [&mut client], |_, c| {
        !c[0].listener().unknown.is_empty()
    });
    assert_eq!(client.listener().unknown[0]["top"].as_u64(), Some(3));
    assert!(client.is_connected());
}

/// Lifecycle events arrive once each, in order, on both sides.
#[test]
fn lifecycle_events_arrive_once_in_order() {
    let mut server = start();
    let mut client = Client::connect(server.local_addr(), Watcher::default()).unwrap();
    client
        .send(&Move {
            x: 1,
            y: 1,
            tag: None,
        })
        .unwrap();
    pump_until(&mut server, &mut [&mut client], |_, c| {
        !c[0].listener().moves.is_empty()
    });
    client.close("done");
    pump_until(&mut server, &mut [&mut client], |s, c| {
        s.is_empty() && c[0].listener().events.len() == 4
    });
    // A few more pumps: nothing else may arrive.
    for _ in 0..10 {
        server.pump_timeout(Duration::from_millis(5));
        client.pump();
    }
    let id = server.game().moves[0].0;
    assert_eq!(
        server.game().events,
        [
            format!("connect {id}"),
            format!("move {id}"),
            format!("disconnect {id} after 1 moves: closed by the peer: done"),
        ]
    );
    assert_eq!(
        client.listener().events,
        [
            "socketConnect",
            "handshake",
            "connected",
            "disconnected: closed: done"
        ]
    );
}

/// A client handle sends from another thread; so does a server handle.
#[test]
fn sending_from_other_threads() {
    let mut server = start();
    let mut client = Client::connect(server.local_addr(), Watcher::default()).unwrap();
    let client_handle = client.handle().clone();
    std::thread::spawn(move || {
        for x in 0..10 {
            client_handle.send(&Move { x, y: 0, tag: None }).unwrap();
        }
    })
    .join()
    .unwrap();
    pump_until(&mut server, &mut [&mut client], |s, _| {
        s.game().moves.len() == 10
    });
    let xs: Vec<i32> = server.game().moves.iter().map(|(_, m)| m.x).collect();
    assert_eq!(xs, (0..10).collect::<Vec<_>>());

    let server_handle = server.handle().clone();
    std::thread::spawn(move || {
        server_handle
            .send_to_all(&Move {
                x: 99,
                y: 99,
                tag: None,
            })
            .unwrap();
    })
    .join()
    .unwrap();
    pump_until(&mut server, &mut [&mut client], |_, c| {
        c[0].listener().moves.iter().any(|m| m.x == 99)
    });
}

/// Host and play: the server in the background and two clients in the same process, the
/// same API for the host's own client as for the guest's.
#[test]
fn host_and_play() {
    let mut server = start();
    let mut host = Client::connect(server.local_addr(), Watcher::default()).unwrap();
    let mut guest = Client::connect(server.local_addr(), Watcher::default()).unwrap();
    // Both are in before anyone moves: a broadcast reaches players whose handshake the
    // server has read.
    pump_until(&mut server, &mut [&mut host, &mut guest], |s, _| {
        s.len() == 2
    });
    host.send(&Move {
        x: 1,
        y: 0,
        tag: None,
    })
    .unwrap();
    guest
        .send(&Move {
            x: 0,
            y: 1,
            tag: None,
        })
        .unwrap();
    pump_until(&mut server, &mut [&mut host, &mut guest], |_, c| {
        c.iter().all(|c| c.listener().moves.len() == 2)
    });
    assert_eq!(server.len(), 2);
}

/// Dropping the server closes every client with its reason; dropping a client closes it
/// on the server, after what it sent.
#[test]
fn drop_shuts_down_cleanly() {
    let mut server = start();
    let mut client = Client::connect(server.local_addr(), Watcher::default()).unwrap();
    let leaving = Client::connect(server.local_addr(), Watcher::default()).unwrap();
    leaving
        .send(&Move {
            x: 5,
            y: 5,
            tag: None,
        })
        .unwrap();
    drop(leaving); // returns once its move and its close went out
    pump_until(&mut server, &mut [&mut client], |s, _| {
        s.game()
            .events
            .iter()
            .any(|e| e.contains("after 1 moves: closed by the peer: client closed"))
    });

    drop(server);
    let deadline = Instant::now() + WAIT;
    while client.is_connected() || client.listener().events.len() < 4 {
        assert!(Instant::now() < deadline);
        client.pump_timeout(Duration::from_millis(10));
    }
    assert_eq!(
        client.listener().events.last().unwrap(),
        "disconnected: closed by the peer: server closed"
    );
}

/// Handler code mutates state that lives on the main thread and is not Send: handlers run
/// where `pump()` is called.
#[test]
fn handlers_run_on_the_pumping_thread() {
    thread_local! {
        static SEEN: RefCell<Vec<i32>> = const { RefCell::new(Vec::new()) };
    }
    #[derive(Default)]
    struct Local;
    impl Channel for Local {
        type Game = Rc<RefCell<Vec<i32>>>; // not Send: must stay on this thread
        fn handlers(h: &mut ChannelHandlers<Self>) {
            h.on(|_: &mut Self, ctx: &mut ChannelCtx<'_, Self>, m: Move| {
                ctx.game.borrow_mut().push(m.x);
                SEEN.with_borrow_mut(|seen| seen.push(m.x));
            });
        }
    }
    let shared = Rc::new(RefCell::new(Vec::new()));
    let mut server = Server::<Local>::start_background("127.0.0.1:0", shared.clone()).unwrap();
    let mut client = Client::connect(server.local_addr(), Watcher::default()).unwrap();
    client
        .send(&Move {
            x: 42,
            y: 0,
            tag: None,
        })
        .unwrap();
    pump_until(&mut server, &mut [&mut client], |_, _| {
        !shared.borrow().is_empty()
    });
    assert_eq!(*shared.borrow(), [42]);
    assert_eq!(SEEN.with_borrow(Clone::clone), [42], "ran on this thread");
}

/// Two handlers for one action is a panic at registration that names the action.
#[test]
#[should_panic(expected = "two handlers for the action \"move\"")]
fn two_handlers_for_one_action_panic() {
    #[derive(Default)]
    struct Twice;
    impl Channel for Twice {
        type Game = ();
        fn handlers(h: &mut ChannelHandlers<Self>) {
            h.on(|_: &mut Self, _: &mut ChannelCtx<'_, Self>, _: Move| {});
            h.on_value("move", |_, _, _| {});
        }
    }
    let _ = Server::<Twice>::start_background("127.0.0.1:0", ());
}

/// A handler for podnet's reserved actions is refused.
#[test]
#[should_panic(expected = "podnet's own control messages")]
fn reserved_actions_cannot_be_handled() {
    #[derive(Default)]
    struct Sneaky;
    impl ConnectionListener for Sneaky {
        fn handlers(h: &mut ListenerHandlers<Self>) {
            h.on_value("podnet:ping", |_, _, _| {});
        }
    }
    let server = Server::<Player>::start_background("127.0.0.1:0", Log::default()).unwrap();
    let _ = Client::connect(server.local_addr(), Sneaky);
}

/// Connecting to a port nobody listens on fails at once with an error that says so.
#[test]
fn connect_errors_say_what_to_do() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = Client::connect(addr, Watcher::default())
        .err()
        .expect("refused");
    let text = err.to_string();
    assert!(
        text.contains("could not connect") && text.contains("is the server running"),
        "{text}"
    );
}

/// A server whose connections run on two network threads (`network_threads`) behaves as
/// one on a single thread: every message of every client arrives, in order per client,
/// handlers still run on the pumping thread, and the shutdown is clean.
#[test]
fn two_network_threads_serve_like_one() {
    let mut config = podnet::ServerConfig::default();
    config.network_threads = 2;
    config.network_mode = podnet::NetworkMode::Thread; // even where the default is pump
    let mut server = Server::<Player>::builder()
        .addr("127.0.0.1:0")
        .config(config)
        .start_background(Log::default())
        .unwrap();
    // Clients on threads of their own too, to answer the shutdown while it waits.
    let mut clients: Vec<Client<Watcher>> = (0..6)
        .map(|_| {
            Client::builder()
                .addr(server.local_addr())
                .network_mode(podnet::NetworkMode::Thread)
                .connect(Watcher::default())
                .unwrap()
        })
        .collect();
    for (i, client) in clients.iter().enumerate() {
        for n in 0..50 {
            let tag = Some(format!("{i}"));
            client.send(&Move { x: n, y: 0, tag }).unwrap();
        }
    }
    let mut refs: Vec<&mut Client<Watcher>> = clients.iter_mut().collect();
    pump_until(&mut server, &mut refs, |s, _| s.game().moves.len() == 300);
    for i in 0..6 {
        let tag = Some(format!("{i}"));
        let xs: Vec<i32> = server
            .game()
            .moves
            .iter()
            .filter(|(_, m)| m.tag == tag)
            .map(|(_, m)| m.x)
            .collect();
        assert_eq!(
            xs,
            (0..50).collect::<Vec<_>>(),
            "client {i}'s moves, in order"
        );
    }
    let report = server.shutdown("done", WAIT).unwrap();
    assert!(report.clean);
    assert_eq!(report.connections, 6);
}

/// A handler that returns an error reports it to `on_error` with its action named; the
/// connection stays open.
#[test]
fn handler_errors_go_to_on_error_with_the_action() {
    let mut server = start();
    let mut client = Client::connect(server.local_addr(), Watcher::default()).unwrap();
    client
        .send(&Shout {
            text: String::new(),
        })
        .unwrap();
    pump_until(&mut server, &mut [&mut client], |s, _| {
        !s.game().errors.is_empty()
    });
    assert_eq!(
        server.game().errors[0],
        "the handler for \"shout\" failed: an empty shout"
    );
    assert_eq!(server.game().error_actions[0].as_deref(), Some("shout"));
    client
        .send(&Move {
            x: 1,
            y: 2,
            tag: None,
        })
        .unwrap();
    pump_until(&mut server, &mut [&mut client], |s, _| {
        !s.game().moves.is_empty()
    });
    assert!(client.is_connected());
}

/// By default a handler that panics is caught: that client is closed with a reason that
/// names the action, and everyone else plays on.
#[test]
fn a_panicking_handler_closes_its_connection_and_the_game_goes_on() {
    let mut server = start();
    let mut buggy = Client::connect(server.local_addr(), Watcher::default()).unwrap();
    let mut other = Client::connect(server.local_addr(), Watcher::default()).unwrap();
    pump_until(&mut server, &mut [&mut buggy, &mut other], |s, _| {
        s.len() == 2
    });
    buggy
        .send(&Shout {
            text: "boom".into(),
        })
        .unwrap();
    pump_until(&mut server, &mut [&mut buggy, &mut other], |s, c| {
        s.len() == 1 && !c[0].is_connected()
    });
    pump_until(&mut server, &mut [&mut buggy], |_, c| {
        c[0].listener()
            .events
            .iter()
            .any(|e| e.starts_with("disconnected"))
    });
    assert_eq!(
        buggy.listener().events.last().unwrap(),
        "disconnected: closed by the peer: the server failed handling \"shout\""
    );
    // The server and the other player go on.
    other
        .send(&Move {
            x: 3,
            y: 4,
            tag: None,
        })
        .unwrap();
    pump_until(&mut server, &mut [&mut other], |_, c| {
        !c[0].listener().moves.is_empty()
    });
    assert!(
        server
            .game()
            .events
            .iter()
            .any(|e| e.contains("disconnect"))
    );
}

/// With `PanicPolicy::Propagate` the panic comes out of `pump()`.
#[test]
fn propagate_lets_a_handler_panic_out_of_pump() {
    #[derive(Default)]
    struct Strict;
    impl Channel for Strict {
        type Game = ();
        fn handlers(h: &mut ChannelHandlers<Self>) {
            h.set_panic_policy(PanicPolicy::Propagate)
                .on(|_, _, _: Shout| -> () { panic!("strict bug") });
        }
    }
    let mut server = Server::<Strict>::start_background("127.0.0.1:0", ()).unwrap();
    let client = Client::connect(server.local_addr(), ()).unwrap();
    client.send(&Shout { text: "x".into() }).unwrap();
    let deadline = Instant::now() + WAIT;
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        while Instant::now() < deadline {
            server.pump_timeout(Duration::from_millis(10));
        }
    }));
    let payload = panicked.expect_err("the handler's panic comes out of pump()");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"strict bug"));
}

/// A client-side handler that panics is caught too: the client closes its connection
/// with a reason naming the action.
#[test]
fn a_panicking_client_handler_closes_the_client() {
    struct Fragile;
    impl ConnectionListener for Fragile {
        fn handlers(h: &mut ListenerHandlers<Self>) {
            h.on(|_, _, _: Connected| -> () { panic!("client bug") });
        }
    }
    let mut server = start();
    let mut client = Client::connect(server.local_addr(), Fragile).unwrap();
    let deadline = Instant::now() + WAIT;
    while client.is_connected() {
        assert!(Instant::now() < deadline);
        server.pump_timeout(Duration::from_millis(5));
        client.pump();
    }
    pump_until(
        &mut server,
        &mut [],
        |s: &Server<Player>, _: &[&mut Client<()>]| {
            s.game()
                .events
                .iter()
                .any(|e| e.contains("the client failed handling \"connected\""))
        },
    );
}

/// Channels come in connection order, the game loop can change them, and a channel can
/// be built with arguments instead of `Default`.
#[test]
fn channels_are_ordered_mutable_and_built_by_the_game() {
    struct Numbered {
        number: usize,
        score: u32,
    }
    impl Channel for Numbered {
        type Game = usize;
    }
    let mut server = Server::<Numbered>::builder()
        .addr("127.0.0.1:0")
        .new_channel(|ctx: &mut ChannelCtx<'_, Numbered>| {
            *ctx.game += 1;
            Numbered {
                number: *ctx.game,
                score: 0,
            }
        })
        .start_background(0)
        .unwrap();
    let mut clients: Vec<Client<()>> = (0..5)
        .map(|_| Client::connect(server.local_addr(), ()).unwrap())
        .collect();
    let mut refs: Vec<&mut Client<()>> = clients.iter_mut().collect();
    pump_until(&mut server, &mut refs, |s, _| s.len() == 5);
    let ids: Vec<ConnectionId> = server.channels().map(|(id, _)| id).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "channels() is in id order");
    let mut numbers: Vec<usize> = server.channels().map(|(_, c)| c.number).collect();
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        [1, 2, 3, 4, 5],
        "each built once, by the game's function"
    );
    for (_, channel) in server.channels_mut() {
        channel.score += 10;
    }
    let first = ids[0];
    server.channel_mut(first).unwrap().score += 5;
    let scores: Vec<u32> = server.channels().map(|(_, c)| c.score).collect();
    assert_eq!(scores, [15, 10, 10, 10, 10]);
}

/// `run()` is stopped from another thread through the handle: it shuts down with the
/// reason given, which the players receive. The request wakes it: it does not wait out
/// `run()`'s wait for events (1 s).
#[test]
fn run_stops_when_asked_from_another_thread() {
    let server = start();
    let addr = server.local_addr();
    let handle = server.handle().clone();
    let mut client = Client::connect(addr, Watcher::default()).unwrap();
    let runner = std::thread::spawn(move || server.run());
    // Wait until the player is in (the server counts it), then ask for the stop.
    let deadline = Instant::now() + WAIT;
    while handle.connection_count() == 0 {
        assert!(Instant::now() < deadline);
        client.pump_timeout(Duration::from_millis(5));
    }
    let asked = Instant::now();
    handle.request_stop("maintenance");
    let log = runner.join().unwrap();
    assert!(
        asked.elapsed() < Duration::from_millis(500),
        "stopped {:?} after the request",
        asked.elapsed()
    );
    assert!(
        log.events.iter().any(|e| e.ends_with(": maintenance")),
        "{:?}",
        log.events
    );
    while client.is_connected()
        || !client
            .listener()
            .events
            .iter()
            .any(|e| e.starts_with("disconnected"))
    {
        assert!(Instant::now() < deadline);
        client.pump_timeout(Duration::from_millis(5));
    }
    assert_eq!(
        client.listener().events.last().unwrap(),
        "disconnected: closed by the peer: maintenance"
    );
}

/// What a failing `main` prints (`Debug`) reads as a sentence that names the address.
#[test]
fn errors_read_as_sentences_and_name_the_address() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = Client::connect(addr, ()).err().expect("refused");
    let debug = format!("{err:?}");
    assert!(
        debug.starts_with(&format!("could not connect to {addr}")),
        "{debug}"
    );
    assert!(!debug.contains("Os {"), "{debug}");
    let err = Client::connect("no-such-host.invalid:5071", ())
        .err()
        .expect("unresolvable");
    assert!(matches!(err, podnet::Error::Resolve { .. }), "{err}");
    assert!(
        err.to_string().contains("no-such-host.invalid:5071"),
        "{err}"
    );
    let err = Client::connect("localhost", ()).err().expect("no port");
    assert!(err.to_string().contains("HOST:PORT"), "{err}");
    // A send error is its own type, and converts for `?` in main.
    let send: SendError = SendError::NotConnected { id: None };
    let main_error: podnet::Error = send.into();
    assert!(matches!(main_error, podnet::Error::Send(_)));
}

/// A drain for a rolling deploy: the player mid-game plays on (its move reaches the
/// game during the drain), the server shuts down once it leaves, cleanly, well before
/// the deadline.
#[test]
fn a_drain_lets_the_players_finish_then_shuts_down() {
    let mut server = start();
    let mut client = Client::connect(server.local_addr(), Watcher::default()).unwrap();
    client
        .send(&Move {
            x: 1,
            y: 0,
            tag: None,
        })
        .unwrap();
    pump_until(&mut server, &mut [&mut client], |s, _| {
        s.game().moves.len() == 1
    });
    server.drain("deploying");
    assert!(server.handle().is_draining());
    // The player, on its own thread, makes one more move and leaves.
    let player = client.handle().clone();
    let leaving = std::thread::spawn(move || {
        player
            .send(&Move {
                x: 2,
                y: 0,
                tag: None,
            })
            .unwrap();
        player.close("game over");
    });
    let started = Instant::now();
    let report = server
        .drain_and_shutdown("deploying", WAIT, Duration::from_secs(5))
        .unwrap();
    leaving.join().unwrap();
    assert!(report.clean);
    assert!(
        started.elapsed() < WAIT,
        "the drain waited for its deadline"
    );
    let xs: Vec<i32> = server.game().moves.iter().map(|(_, m)| m.x).collect();
    assert_eq!(xs, [1, 2]);
    assert!(server.is_empty());
}

/// A channel that handles `move` only, with no fallback: what else arrives is reported.
#[derive(Default)]
struct Strict;
impl Channel for Strict {
    type Game = Vec<MessageError>;
    fn handlers(h: &mut ChannelHandlers<Self>) {
        h.on(|_, ctx: &mut ChannelCtx<'_, Self>, msg: Move| {
            ctx.send(&WithAction("mvoe", &msg)).unwrap();
            ctx.send(&msg).unwrap();
        });
    }
    fn on_error(&mut self, ctx: &mut ChannelCtx<'_, Self>, error: MessageError) {
        ctx.game.push(error);
    }
}

/// A listener that handles `move` only, with no fallback.
#[derive(Default)]
struct StrictListener {
    moves: usize,
    errors: Vec<MessageError>,
}
impl ConnectionListener for StrictListener {
    fn handlers(h: &mut ListenerHandlers<Self>) {
        h.on(|l: &mut Self, _: &mut ClientCtx<'_>, _: Move| l.moves += 1);
    }
    fn on_error(&mut self, _: &mut ClientCtx<'_>, error: MessageError) {
        self.errors.push(error);
    }
}

/// An action nobody handles (a typo, with no fallback) reaches on_error once per action on
/// both sides, naming it; repeats are not a flood, and the server's greeting is no such action.
#[test]
fn an_unhandled_action_is_reported_once() {
    let mut server = Server::<Strict>::start_background("127.0.0.1:0", Vec::new()).unwrap();
    let mut client = Client::connect(server.local_addr(), StrictListener::default()).unwrap();
    let step = Move {
        x: 1,
        y: 0,
        tag: None,
    };
    for _ in 0..3 {
        client.send(&WithAction("mvoe", &step)).unwrap();
    }
    client.send(&WithAction("jump", &step)).unwrap();
    for _ in 0..3 {
        client.send(&step).unwrap();
    }
    // Each move is answered with a "mvoe" and then a "move": when three moves are back,
    // three "mvoe" came first.
    pump_until(&mut server, &mut [&mut client], |_, c| {
        c[0].listener().moves == 3
    });
    let actions = |errors: &[MessageError]| -> Vec<String> {
        errors
            .iter()
            .map(|e| {
                assert!(matches!(e, MessageError::Unhandled { .. }), "{e}");
                e.action().unwrap().to_owned()
            })
            .collect()
    };
    assert_eq!(actions(server.game()), ["mvoe", "jump"]);
    assert_eq!(actions(&client.listener().errors), ["mvoe"]);
    let said = server.game()[0].to_string();
    assert!(said.contains("\"mvoe\"") && said.contains("h.on"), "{said}");
}

/// Hooks return a [`HookResult`], so a send in one takes `?`; an error a hook returns
/// reaches `on_error` as `MessageError::Hook`, naming the hook, and the connection stays
/// open. On both sides.
#[test]
fn a_hook_that_fails_reaches_on_error_and_the_connection_stays() {
    #[derive(Default)]
    struct Picky;
    impl Channel for Picky {
        type Game = Vec<String>;
        fn on_connect(&mut self, ctx: &mut ChannelCtx<'_, Self>) -> HookResult {
            ctx.send(&Move {
                x: 0,
                y: 0,
                tag: None,
            })?;
            Err("no seat for this player".into())
        }
        fn on_error(&mut self, ctx: &mut ChannelCtx<'_, Self>, error: MessageError) {
            assert!(matches!(
                error,
                MessageError::Hook {
                    hook: "on_connect",
                    ..
                }
            ));
            ctx.game.push(error.to_string());
        }
    }
    #[derive(Default)]
    struct Grumpy {
        errors: Vec<String>,
        moves: usize,
    }
    impl ConnectionListener for Grumpy {
        fn handlers(h: &mut ListenerHandlers<Self>) {
            h.on(|g: &mut Self, _: &mut ClientCtx<'_>, _: Move| g.moves += 1);
        }
        fn on_connect(&mut self, _ctx: &mut ClientCtx<'_>) -> HookResult {
            Err(std::io::Error::other("the menu is not ready").into())
        }
        fn on_error(&mut self, _ctx: &mut ClientCtx<'_>, error: MessageError) {
            self.errors.push(error.to_string());
        }
    }
    let mut server = Server::<Picky>::start_background("127.0.0.1:0", Vec::new()).unwrap();
    let mut client = Client::connect(server.local_addr(), Grumpy::default()).unwrap();
    pump_until(&mut server, &mut [&mut client], |s, c| {
        !s.game().is_empty() && c[0].listener().moves == 1 && !c[0].listener().errors.is_empty()
    });
    assert_eq!(
        server.game()[0],
        "on_connect failed: no seat for this player"
    );
    assert_eq!(
        client.listener().errors,
        ["on_connect failed: the menu is not ready"]
    );
    assert!(client.is_connected());
    assert_eq!(server.handle().connection_ids().len(), 1);
}

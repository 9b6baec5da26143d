//! One test per rule of the connection protocol, on the state machines alone: no sockets,
//! no runtime, and time is whatever instant the test passes in.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use podnet_framing::{FramingConfig, RawMessage, Value, encode_with_action};
use podnet_proto::{
    Action, Admission, AdmissionSettings, Admit, ClientSettings, Connection, ConnectionConfig,
    ConnectionKind, ConnectionType, DisconnectReason, Input, Liveness, Peer, RateLimit,
    ServerConnection, ServerInfo, ServerSettings, Side, is_reserved,
};

mod common;
use common::end;

const MS: Duration = Duration::from_millis(1);

fn msg(frame: &Bytes) -> RawMessage {
    RawMessage::parse(frame.slice(4..), &FramingConfig::default()).unwrap()
}

fn frame<T: serde::Serialize>(action: &str, body: &T) -> Bytes {
    let mut buf = BytesMut::new();
    encode_with_action(action, body, &mut buf, &FramingConfig::default()).unwrap();
    buf.freeze()
}

fn hello(protocol: u32, conn_type: &str) -> Bytes {
    #[derive(serde::Serialize)]
    struct Hello<'a> {
        protocol: u32,
        #[serde(rename = "type")]
        conn_type: &'a str,
    }
    frame(
        "podnet:hello",
        &Hello {
            protocol,
            conn_type,
        },
    )
}

fn actions<S: Side>(conn: &mut Connection<S>) -> Vec<Action> {
    std::iter::from_fn(|| conn.poll()).collect()
}

/// The actions of each frame sent, as (action name, message).
fn sent(actions: &[Action]) -> Vec<RawMessage> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(frame) | Action::SendMessage(frame) => Some(msg(frame)),
            _ => None,
        })
        .collect()
}

fn sent_actions(actions: &[Action]) -> Vec<String> {
    sent(actions)
        .iter()
        .map(|m| m.action().to_owned())
        .collect()
}

/// Whether every frame of the handshake (the server's hello, the greeting) is queued
/// before the handshake is reported: the application, which may send as soon as it is,
/// can never get ahead of repod's `connected` greeting.
fn greeting_first(actions: &[Action]) -> bool {
    let established = actions
        .iter()
        .position(|a| matches!(a, Action::Established(_)));
    let last_send = actions
        .iter()
        .rposition(|a| matches!(a, Action::Send(_) | Action::SendMessage(_)));
    matches!((established, last_send), (Some(e), Some(s)) if s < e)
}

fn established(actions: &[Action]) -> Option<&podnet_proto::Handshake> {
    actions.iter().find_map(|a| match a {
        Action::Established(h) => Some(h),
        _ => None,
    })
}

fn close_of(actions: &[Action]) -> Option<(&DisconnectReason, &str)> {
    actions.iter().find_map(|a| match a {
        Action::Close { reason, wire } => Some((reason, wire.as_str())),
        _ => None,
    })
}

fn server_settings() -> ServerSettings {
    let mut settings = ServerSettings::default();
    settings.greeting = Some(frame("connected", &()));
    settings
}

/// A server connection fed one control frame.
fn server_after(
    settings: ServerSettings,
    first: &Bytes,
    t0: Instant,
) -> (ServerConnection, Vec<Action>) {
    let mut conn = Connection::server(Arc::new(settings), t0);
    conn.handle(t0, Input::Read);
    conn.handle(t0, Input::Control(&msg(first)));
    let acts = actions(&mut conn);
    (conn, acts)
}

/// A server connection whose peer said hello (so heartbeats apply).
fn podnet_server(liveness: Liveness, t0: Instant) -> ServerConnection {
    let mut settings = server_settings();
    settings.connection.liveness = liveness;
    let (conn, acts) = server_after(settings, &hello(2, "classic"), t0);
    assert!(established(&acts).unwrap().is_podnet());
    conn
}

fn fast_liveness() -> Liveness {
    let mut liveness = Liveness::default();
    liveness.heartbeat_interval = Some(100 * MS);
    liveness.heartbeat_timeout = 1000 * MS;
    liveness
}

// ---- handshake ----

/// A podnet client's hello settles the handshake at once: the server answers with its own
/// hello, then repod's `connected` greeting, then reports a podnet session.
#[test]
fn handshake_hello_makes_a_podnet_session() {
    let t0 = Instant::now();
    let (conn, acts) = server_after(server_settings(), &hello(2, "classic"), t0);
    assert_eq!(sent_actions(&acts), ["podnet:hello", "connected"]);
    let reply = &sent(&acts)[0];
    assert_eq!(reply.to_value().unwrap()["type"], Value::from("classic"));
    assert_eq!(reply.to_value().unwrap()["protocol"], Value::from(2));
    let handshake = established(&acts).unwrap();
    assert_eq!(handshake.peer, Peer::Podnet { protocol: 2 });
    assert_eq!(handshake.connection_type, ConnectionType::classic());
    assert!(acts.contains(&Action::Spoke));
    assert_eq!(
        conn.poll_timeout(),
        Some(t0 + Duration::from_secs(5)),
        "first ping due"
    );
    assert!(greeting_first(&acts));
}

/// A peer whose first frame is an ordinary message never said hello: it is a classic repod
/// peer, settled before that message is handed over, and greeted.
#[test]
fn handshake_first_message_makes_a_repod_session() {
    let t0 = Instant::now();
    let mut conn = Connection::server(Arc::new(server_settings()), t0);
    assert!(
        actions(&mut conn).is_empty(),
        "the server says nothing first"
    );
    assert!(conn.needs_frames());
    conn.handle(t0 + MS, Input::Read);
    conn.handle(t0 + MS, Input::Frame);
    let acts = actions(&mut conn);
    assert_eq!(sent_actions(&acts), ["connected"]);
    assert_eq!(established(&acts).unwrap().peer, Peer::Repod);
    assert!(acts.contains(&Action::Spoke));
    assert!(greeting_first(&acts));
    assert!(!conn.needs_frames(), "the hot path stops asking");
    assert_eq!(conn.poll_timeout(), None, "a repod peer has no timer");
}

/// A peer that says nothing is settled as a classic repod peer after `hello_wait`, and is
/// greeted then, after a hello that says it was silent (repod ignores it; a podnet client
/// whose hello is late learns what happened); before that, nothing is sent and nothing is
/// reported.
#[test]
fn handshake_silence_settles_after_hello_wait() {
    let t0 = Instant::now();
    let mut conn = Connection::server(Arc::new(server_settings()), t0);
    let due = conn.poll_timeout().unwrap();
    assert_eq!(due, t0 + 10 * MS);
    conn.handle_timeout(due - MS);
    assert!(actions(&mut conn).is_empty(), "not yet");
    conn.handle_timeout(due);
    let acts = actions(&mut conn);
    assert_eq!(sent_actions(&acts), ["podnet:hello", "connected"]);
    let told = sent(&acts)[0].to_value().unwrap();
    assert_eq!(told["silent"], Value::from(true));
    assert_eq!(told["type"], Value::from("classic"));
    assert_eq!(established(&acts).unwrap().peer, Peer::Repod);
    assert!(!acts.contains(&Action::Spoke), "it is still quiet");
    assert!(
        !acts.iter().any(|a| matches!(a, Action::PodnetPeer { .. })),
        "a repod peer gets no heartbeat"
    );

    // Over WebSocket the wait is the browser's round trip.
    let conn = Connection::server_over_websocket(Arc::new(server_settings()), t0);
    assert_eq!(conn.poll_timeout(), Some(t0 + 500 * MS));
}

/// A client settles its handshake with the server's first frame: a hello (podnet server),
/// or anything else (repod server, which greets first).
#[test]
fn handshake_on_the_client() {
    let t0 = Instant::now();
    let mut client = Connection::client(Arc::new(ClientSettings::default()), t0);
    assert_eq!(sent_actions(&actions(&mut client)), ["podnet:hello"]);
    client.handle(t0, Input::Control(&msg(&hello(2, "classic"))));
    let acts = actions(&mut client);
    assert_eq!(
        established(&acts).unwrap().peer,
        Peer::Podnet { protocol: 2 }
    );
    assert!(acts.contains(&Action::PodnetPeer { protocol: 2 }));

    let mut client = Connection::client(Arc::new(ClientSettings::default()), t0);
    actions(&mut client);
    client.handle(t0, Input::Frame); // {"action": "connected"} from repod
    let acts = actions(&mut client);
    assert_eq!(established(&acts).unwrap().peer, Peer::Repod);
    assert_eq!(
        client.poll_timeout(),
        None,
        "no heartbeat with a repod server"
    );
}

/// A hello that arrives after silence settled the connection as classic still makes the
/// peer podnet (heartbeats start), but cannot change its type.
#[test]
fn handshake_late_hello() {
    let t0 = Instant::now();
    let mut conn = Connection::server(Arc::new(server_settings()), t0);
    conn.handle_timeout(t0 + 10 * MS);
    actions(&mut conn);
    let late = t0 + 700 * MS;
    conn.handle(late, Input::Control(&msg(&hello(2, "classic"))));
    let acts = actions(&mut conn);
    assert_eq!(sent_actions(&acts), ["podnet:hello"]);
    assert_eq!(sent(&acts)[0].to_value().unwrap()["silent"], Value::Nil);
    assert!(acts.contains(&Action::PodnetPeer { protocol: 2 }));
    assert!(established(&acts).is_none(), "settled once");
    assert_eq!(conn.poll_timeout(), Some(late + Duration::from_secs(5)));

    let mut conn = Connection::server(Arc::new(server_settings()), t0);
    conn.handle_timeout(t0 + 10 * MS);
    actions(&mut conn);
    conn.handle(late, Input::Control(&msg(&hello(2, "info"))));
    let (reason, wire) = close_of(&actions(&mut conn))
        .map(|(r, w)| (r.clone(), w.to_owned()))
        .unwrap();
    assert!(matches!(reason, DisconnectReason::Handshake { .. }));
    assert!(
        wire.contains("\"info\"") && wire.contains("first thing"),
        "{wire}"
    );
}

/// A hello with resume fields, as a client writes it.
fn resume_hello(resume: bool, token: Option<&str>) -> Bytes {
    #[derive(serde::Serialize)]
    struct Hello<'a> {
        protocol: u32,
        #[serde(rename = "type")]
        conn_type: &'a str,
        resume: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        token: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        received: Option<u64>,
    }
    frame(
        "podnet:hello",
        &Hello {
            protocol: 2,
            conn_type: "classic",
            resume,
            token,
            received: token.map(|_| 0),
        },
    )
}

/// A late hello that asks for a resumable session still gets one: the grant is queued
/// with the counting in one step, so both sides count from it. A late resume (a hello
/// with a token) is turned away as busy, so the client tries again on a new connection.
#[test]
fn handshake_late_hello_resume() {
    let t0 = Instant::now();
    let mut settings = server_settings();
    settings.resume = Some(podnet_proto::ResumeSettings::default());
    let settings = Arc::new(settings);
    let settled = |settings: &Arc<ServerSettings>| {
        let mut conn = Connection::server(settings.clone(), t0)
            .with_id(podnet_proto::ConnectionId::from_raw(7));
        conn.handle_timeout(t0 + 10 * MS);
        actions(&mut conn);
        conn
    };

    let mut conn = settled(&settings);
    conn.handle(
        t0 + 20 * MS,
        Input::Control(&msg(&resume_hello(true, None))),
    );
    let acts = actions(&mut conn);
    let Some(Action::Grant { token, hello }) =
        acts.iter().find(|a| matches!(a, Action::Grant { .. }))
    else {
        panic!("a late grant: {acts:?}");
    };
    assert_eq!(token.id(), podnet_proto::ConnectionId::from_raw(7));
    assert!(msg(hello).to_value().unwrap()["token"].is_str());
    assert!(conn.counts_messages());
    assert!(established(&acts).is_none(), "settled once");

    let mut conn = settled(&settings);
    let stale = podnet_proto::ResumeToken::mint(1, podnet_proto::ConnectionId::from_raw(3));
    conn.handle(
        t0 + 20 * MS,
        Input::Control(&msg(&resume_hello(false, Some(&stale.to_wire())))),
    );
    let acts = actions(&mut conn);
    let (reason, wire) = close_of(&acts).unwrap();
    assert!(matches!(reason, DisconnectReason::Handshake { .. }));
    assert_eq!(wire, podnet_proto::RESUME_BUSY);
    assert!(
        !acts.iter().any(|a| matches!(a, Action::Resume { .. })),
        "never handed to a session: the application saw a new player"
    );
}

/// A client told it was settled for its silence: a classic session goes on as a podnet
/// one, and the answer to its own hello (which follows) may still grant the resumable
/// session it asked for; another type fails its handshake with a message that says why;
/// a resuming client drops the connection and keeps the session for its next attempt.
#[test]
fn handshake_client_told_it_was_silent() {
    #[derive(serde::Serialize)]
    struct Silent {
        protocol: u32,
        #[serde(rename = "type")]
        conn_type: &'static str,
        silent: bool,
    }
    let silent = frame(
        "podnet:hello",
        &Silent {
            protocol: 2,
            conn_type: "classic",
            silent: true,
        },
    );
    let t0 = Instant::now();

    let mut settings = ClientSettings::default();
    settings.resume = Some(podnet_proto::ResumeSettings::default());
    let mut client = Connection::client(Arc::new(settings), t0);
    actions(&mut client);
    client.handle(t0, Input::Control(&msg(&silent)));
    let acts = actions(&mut client);
    assert_eq!(
        established(&acts).unwrap().peer,
        Peer::Podnet { protocol: 2 }
    );
    assert!(
        !acts.contains(&Action::NotResumable),
        "the answer to its hello is still to come"
    );
    assert!(
        !client.counts_messages(),
        "the greeting before the grant is not counted"
    );
    client.handle(t0, Input::Frame);
    let token = podnet_proto::ResumeToken::mint(1, podnet_proto::ConnectionId::from_raw(3));
    let grant = {
        #[derive(serde::Serialize)]
        struct Grant<'a> {
            protocol: u32,
            #[serde(rename = "type")]
            conn_type: &'a str,
            token: &'a str,
        }
        frame(
            "podnet:hello",
            &Grant {
                protocol: 2,
                conn_type: "classic",
                token: &token.to_wire(),
            },
        )
    };
    client.handle(t0, Input::Control(&msg(&grant)));
    let acts = actions(&mut client);
    assert!(
        acts.iter()
            .any(|a| matches!(a, Action::Resumable(t) if t.same_secret(&token))),
        "granted late: {acts:?}"
    );
    assert!(client.counts_messages());

    let mut settings = ClientSettings::default();
    settings.connection_type = "spectator".to_owned();
    let mut client = Connection::client(Arc::new(settings), t0);
    actions(&mut client);
    client.handle(t0, Input::Control(&msg(&silent)));
    let acts = actions(&mut client);
    assert!(established(&acts).is_none());
    let (reason, _) = close_of(&acts).unwrap();
    let DisconnectReason::Handshake { error } = reason else {
        panic!("{reason:?}");
    };
    assert!(
        error.contains("\"spectator\"") && error.contains("connect again"),
        "{error}"
    );

    // A client that says no hello takes no notice: it settles on the next frame, as a
    // repod client.
    let mut settings = ClientSettings::default();
    settings.hello = false;
    let mut client = Connection::client(Arc::new(settings), t0);
    client.handle(t0, Input::Control(&msg(&silent)));
    assert!(established(&actions(&mut client)).is_none());
    client.handle(t0, Input::Frame);
    assert_eq!(
        established(&actions(&mut client)).unwrap().peer,
        Peer::Repod
    );
}

/// An unknown connection type is refused, naming the types the server has; a registered
/// one becomes a session of that type.
#[test]
fn handshake_connection_types() {
    let t0 = Instant::now();
    let (_, acts) = server_after(server_settings(), &hello(2, "spectator"), t0);
    let (reason, wire) = close_of(&acts).unwrap();
    assert!(matches!(reason, DisconnectReason::Handshake { .. }));
    assert_eq!(
        wire,
        "this server has no connection type \"spectator\"; it accepts: classic, info"
    );
    assert!(established(&acts).is_none());

    let mut settings = server_settings();
    settings
        .types
        .register("spectator", ConnectionKind::Session)
        .unwrap();
    let (_, acts) = server_after(settings, &hello(2, "spectator"), t0);
    let handshake = established(&acts).unwrap();
    assert_eq!(handshake.connection_type.name(), "spectator");
    assert_eq!(handshake.connection_type.kind(), ConnectionKind::Session);
    assert_eq!(sent_actions(&acts), ["podnet:hello", "connected"]);
}

// ---- version mismatch ----

/// A hello with another protocol version closes the connection on either side, with a
/// reason that names both versions.
#[test]
fn version_mismatch_names_both_versions() {
    let t0 = Instant::now();
    let old = frame("podnet:hello", &HashMap::from([("protocol", 1)]));
    let (_, acts) = server_after(server_settings(), &old, t0);
    let (reason, wire) = close_of(&acts).unwrap();
    assert_eq!(
        wire,
        "podnet protocol mismatch: this server speaks version 2, the client version 1; use \
         podnet releases that speak the same protocol version"
    );
    assert_eq!(
        reason,
        &DisconnectReason::Handshake {
            error: wire.to_owned()
        }
    );
    assert!(established(&acts).is_none());
    assert!(sent_actions(&acts).is_empty(), "no greeting, no hello");

    let mut client = Connection::client(Arc::new(ClientSettings::default()), t0);
    actions(&mut client);
    client.handle(t0, Input::Control(&msg(&hello(3, "classic"))));
    let acts = actions(&mut client);
    let (_, wire) = close_of(&acts).unwrap();
    assert!(
        wire.contains("this client speaks version 2, the server version 3"),
        "{wire}"
    );

    let (_, acts) = server_after(server_settings(), &frame("podnet:hello", &()), t0);
    let (_, wire) = close_of(&acts).unwrap();
    assert!(wire.contains("no readable protocol version"), "{wire}");
}

// ---- info ----

/// An `info` connection is reported as such (never as a session, never greeted); answering
/// sends the description and closes.
#[test]
fn info_is_answered_then_closed() {
    let t0 = Instant::now();
    let (mut conn, acts) = server_after(server_settings(), &hello(2, "info"), t0);
    let handshake = established(&acts).unwrap();
    assert_eq!(handshake.connection_type.kind(), ConnectionKind::Info);
    assert_eq!(
        sent_actions(&acts),
        ["podnet:hello"],
        "no connected greeting"
    );

    let mut info = ServerInfo::new("castle", 3, 16);
    info.game.insert("map".into(), Value::from("dungeon"));
    conn.answer_info(&info);
    let acts = actions(&mut conn);
    let answer = &sent(&acts)[0];
    assert_eq!(answer.action(), "podnet:info");
    assert_eq!(close_of(&acts).unwrap().1, "info sent");

    // The client side decodes it.
    let mut settings = ClientSettings::default();
    settings.connection_type = "info".into();
    let mut client = Connection::client(Arc::new(settings), t0);
    let hello_sent = sent(&actions(&mut client));
    assert_eq!(
        hello_sent[0].to_value().unwrap()["type"],
        Value::from("info")
    );
    client.handle(t0, Input::Control(&msg(&hello(2, "info"))));
    client.handle(t0, Input::Control(answer));
    let got = actions(&mut client);
    assert!(got.contains(&Action::Info(info)));
}

/// Refusing an info request (over the server-wide rate) closes with a reason to retry.
#[test]
fn info_refused_over_the_rate() {
    let t0 = Instant::now();
    let mut settings = AdmissionSettings::default();
    settings.info_rate = RateLimit::new(2, 2);
    let mut admission = Admission::new(settings, t0);
    assert!(admission.info_allowed(t0));
    assert!(admission.info_allowed(t0));
    assert!(!admission.info_allowed(t0), "the burst is spent");
    assert!(
        admission.info_allowed(t0 + 500 * MS),
        "one back after 1/2 s"
    );

    let (mut conn, _) = server_after(server_settings(), &hello(2, "info"), t0);
    conn.refuse_info();
    let acts = actions(&mut conn);
    assert!(sent(&acts).is_empty());
    assert!(close_of(&acts).unwrap().1.contains("try again"));
}

// ---- heartbeat ----

/// Between podnet peers a ping goes out every interval, and its pong measures the round
/// trip; a repod peer is never pinged, however long it stays.
#[test]
fn heartbeat_pings_podnet_peers_only() {
    let t0 = Instant::now();
    let mut conn = podnet_server(fast_liveness(), t0);
    for n in 1..=3u64 {
        let due = conn.poll_timeout().unwrap();
        assert_eq!(due, t0 + 100 * MS * n as u32);
        conn.handle_timeout(due);
        let ping = sent(&actions(&mut conn)).remove(0);
        assert_eq!(ping.action(), "podnet:ping");
        assert_eq!(ping.to_value().unwrap()["seq"], Value::from(n));
        // Answered 7 ms later.
        conn.handle(due + 7 * MS, Input::Read);
        conn.handle(
            due + 7 * MS,
            Input::Control(&msg(&frame("podnet:pong", &HashMap::from([("seq", n)])))),
        );
        assert!(actions(&mut conn).contains(&Action::Rtt(7 * MS)));
    }
    assert_eq!(conn.rtt(), Some(7 * MS));

    // A ping from the peer is answered with its seq.
    conn.handle(
        t0,
        Input::Control(&msg(&frame("podnet:ping", &HashMap::from([("seq", 9)])))),
    );
    let pong = sent(&actions(&mut conn)).remove(0);
    assert_eq!(pong.action(), "podnet:pong");
    assert_eq!(pong.to_value().unwrap()["seq"], Value::from(9));

    // A repod peer: no timer at all, so nothing can ever time it out.
    let mut settings = server_settings();
    settings.connection.liveness = fast_liveness();
    let mut repod = Connection::server(Arc::new(settings), t0);
    repod.handle(t0, Input::Frame);
    actions(&mut repod);
    assert_eq!(repod.poll_timeout(), None);
    repod.handle_timeout(t0 + Duration::from_secs(24 * 3600));
    assert!(actions(&mut repod).is_empty());
}

/// A pong with the wrong seq measures nothing.
#[test]
fn heartbeat_ignores_stray_pongs() {
    let t0 = Instant::now();
    let mut conn = podnet_server(fast_liveness(), t0);
    conn.handle_timeout(t0 + 100 * MS);
    actions(&mut conn);
    conn.handle(
        t0 + 110 * MS,
        Input::Control(&msg(&frame("podnet:pong", &HashMap::from([("seq", 42)])))),
    );
    assert!(actions(&mut conn).is_empty());
    assert_eq!(conn.rtt(), None);
}

// ---- timeout ----

/// A podnet peer from which nothing arrives for the timeout is cut with `TimedOut`; any
/// read before then keeps it.
#[test]
fn timeout_cuts_a_silent_podnet_peer() {
    let t0 = Instant::now();
    let mut conn = podnet_server(fast_liveness(), t0);
    // Pings go out, nothing comes back, but a read at 900 ms pushes the timeout.
    let mut now = t0;
    while now < t0 + 900 * MS {
        now = conn.poll_timeout().unwrap();
        conn.handle_timeout(now);
        let acts = actions(&mut conn);
        assert!(!acts.iter().any(|a| matches!(a, Action::Cut(_))), "{now:?}");
    }
    conn.handle(t0 + 900 * MS, Input::Read);
    let mut cut = None;
    while cut.is_none() {
        now = conn.poll_timeout().unwrap();
        conn.handle_timeout(now);
        cut = actions(&mut conn).into_iter().find_map(|a| match a {
            Action::Cut(reason) => Some(reason),
            _ => None,
        });
    }
    assert_eq!(now, t0 + 1900 * MS);
    assert_eq!(cut, Some(DisconnectReason::TimedOut { after: 1000 * MS }));
    assert_eq!(conn.poll_timeout(), None, "nothing more after the cut");
}

// ---- silence cap (admission) ----

fn admission(max_connections: usize, max_quiet: usize) -> Admission {
    let mut settings = AdmissionSettings::default();
    settings.max_connections = max_connections;
    settings.max_quiet_connections = max_quiet;
    Admission::new(settings, Instant::now())
}

fn accept(admission: &mut Admission) -> podnet_proto::ConnectionId {
    match admission.admit() {
        Admit::Accept(id) => {
            assert_eq!(admission.started(id), None);
            id
        }
        other => panic!("expected Accept, got {other:?}"),
    }
}

/// A full server evicts its oldest quiet connection to admit a newcomer, and tells it why;
/// connections that spoke are never evicted; full of speakers, it refuses.
#[test]
fn silence_cap_full_server_evicts_the_oldest_quiet() {
    let mut adm = admission(3, 100);
    let a = accept(&mut adm);
    let b = accept(&mut adm);
    let c = accept(&mut adm);
    adm.spoke(a); // a player
    match adm.admit() {
        Admit::Evict { id, eviction } => {
            assert_eq!(eviction.victim, b, "the oldest quiet one");
            assert!(eviction.tell);
            assert_eq!(adm.started(id), None);
            adm.spoke(id);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(adm.open(), 3, "the victim's slot went to the newcomer");
    adm.ended(b); // the victim's close finishes: nothing double-counted
    assert_eq!(adm.open(), 3);
    adm.spoke(c);
    assert_eq!(adm.admit(), Admit::Refuse, "full of players");
    adm.ended(a);
    assert!(matches!(adm.admit(), Admit::Accept(_)), "a slot freed");
}

/// More quiet connections than the cap: the oldest goes, even with room to spare.
#[test]
fn silence_cap_limits_quiet_connections() {
    let mut adm = admission(100, 2);
    let a = accept(&mut adm);
    let _b = accept(&mut adm);
    let Admit::Accept(c) = adm.admit() else {
        panic!()
    };
    let eviction = adm.started(c).unwrap();
    assert_eq!(eviction.victim, a);
    assert_eq!(adm.open(), 2, "the victim no longer counts");
    assert_eq!(adm.quiet(), 2);
    adm.ended(a);
    assert_eq!(adm.open(), 2);
}

/// Past 64 evictions being told at once, further victims are cut without a word, so a
/// flood of evictions holds a bounded number of lingering sockets.
#[test]
fn silence_cap_bounds_told_evictions() {
    let mut adm = admission(1, 10_000);
    let mut victims = vec![accept(&mut adm)];
    let mut told = 0;
    for _ in 0..100 {
        let Admit::Evict { id, eviction } = adm.admit() else {
            panic!()
        };
        assert_eq!(adm.started(id), None);
        told += usize::from(eviction.tell);
        victims.push(id);
    }
    assert_eq!(told, podnet_proto::MAX_TOLD_EVICTIONS);
    for id in victims.drain(..64) {
        adm.ended(id);
    }
    let Admit::Evict { eviction, .. } = adm.admit() else {
        panic!()
    };
    assert!(eviction.tell, "room to tell again once they ended");
}

/// A connection that stays quiet forever while the server has room is never evicted: the
/// admission has no timer at all.
#[test]
fn silence_cap_keeps_quiet_connections_while_there_is_room() {
    let mut adm = admission(10, 5);
    let ids: Vec<_> = (0..5).map(|_| accept(&mut adm)).collect();
    assert_eq!(adm.quiet(), 5);
    assert_eq!(adm.open(), 5);
    for id in ids {
        adm.ended(id);
    }
    assert_eq!((adm.open(), adm.quiet()), (0, 0));
}

// ---- rate limit ----

/// Frames within the burst go on; past it, each frame waits for its token.
#[test]
fn rate_limit_paces_frames() {
    let t0 = Instant::now();
    let mut settings = server_settings();
    settings.connection.rate_limit = Some(RateLimit::new(100, 3));
    let mut conn = Connection::server(Arc::new(settings), t0);
    assert!(conn.is_rate_limited());
    for _ in 0..3 {
        assert_eq!(conn.take_frame_token(t0), None);
    }
    assert_eq!(conn.take_frame_token(t0), Some(t0 + 10 * MS));
    // Resumed when due: the next frame waits another 10 ms.
    assert_eq!(conn.take_frame_token(t0 + 10 * MS), Some(t0 + 20 * MS));
    assert!(!Connection::server(Arc::new(server_settings()), t0).is_rate_limited());
}

// ---- close precedence ----

/// Once a close has started, the connection asks for nothing else (no pings, no
/// handshake), its only timer is the close's deadline, and the peer's own close reason
/// still counts.
#[test]
fn close_stops_the_protocol_and_bounds_the_wait() {
    let t0 = Instant::now();
    let mut conn = podnet_server(fast_liveness(), t0);
    let closed_at = t0 + 50 * MS;
    conn.handle(
        closed_at,
        Input::CloseAsked {
            within: Duration::from_secs(5),
        },
    );
    assert_eq!(
        conn.poll_timeout(),
        Some(closed_at + Duration::from_secs(5))
    );
    conn.handle_timeout(t0 + Duration::from_secs(2));
    assert!(
        actions(&mut conn).is_empty(),
        "no ping, no timeout while closing"
    );
    conn.handle(
        t0,
        Input::Control(&msg(&frame("podnet:ping", &HashMap::from([("seq", 1)])))),
    );
    assert!(
        actions(&mut conn).is_empty(),
        "input after a close is dropped"
    );
    conn.handle(
        t0,
        Input::Control(&msg(&frame(
            "podnet:close",
            &HashMap::from([("reason", "me too")]),
        ))),
    );
    conn.handle_timeout(closed_at + Duration::from_secs(5));
    assert_eq!(actions(&mut conn), [Action::StopReading]);
    assert_eq!(conn.poll_timeout(), None);
    assert_eq!(
        end(&mut conn, None),
        DisconnectReason::PeerClosed {
            reason: Some("me too".into())
        }
    );
}

/// A handshake failure asks for one close only, however much follows.
#[test]
fn close_is_asked_for_once() {
    let t0 = Instant::now();
    let old = frame("podnet:hello", &HashMap::from([("protocol", 1)]));
    let (mut conn, acts) = server_after(server_settings(), &old, t0);
    assert!(close_of(&acts).is_some());
    conn.refuse_info();
    conn.handle(
        t0,
        Input::Broken(&podnet_framing::FramingError::EmptyPayload),
    );
    assert!(close_of(&actions(&mut conn)).is_none());
    // The hello wait no longer applies: the only deadline is the close's, once started.
    assert_eq!(conn.poll_timeout(), None);
    assert_eq!(conn.closing_deadline(), None);
    conn.handle(
        t0 + MS,
        Input::CloseAsked {
            within: Duration::from_secs(1),
        },
    );
    assert_eq!(conn.poll_timeout(), Some(t0 + MS + Duration::from_secs(1)));
    assert_eq!(conn.closing_deadline(), conn.poll_timeout());
}

/// The end of the stream: the peer's reason if it gave one, and a protocol error if it
/// stopped in the middle of a frame.
#[test]
fn close_reason_at_end_of_stream() {
    let t0 = Instant::now();
    let mut conn = Connection::server(Arc::new(server_settings()), t0);
    assert_eq!(
        end(&mut conn, None),
        DisconnectReason::PeerClosed { reason: None }
    );
    let DisconnectReason::Protocol { error } = end(&mut conn, Some(3)) else {
        panic!()
    };
    assert!(error.contains("middle of a frame (3 bytes"), "{error}");
}

/// Control actions are recognised by their prefix, and only by it.
#[test]
fn reserved_prefix() {
    assert!(is_reserved("podnet:anything"));
    assert!(!is_reserved("podnet"));
    assert!(!is_reserved("Podnet:ping"));
    let _ = ConnectionConfig::default();
}

/// A resume attempt is judged by the rules in order, and each refusal says its own reason;
/// a refused attempt takes nothing from the rate it was not asked about.
#[test]
fn resume_attempts_are_judged_in_order() {
    use podnet_proto::{ConnectionId, ResumeGate, ResumeRefusal, ResumeToken, SessionView};

    let gate = ResumeGate {
        enabled: true,
        instance: 42,
    };
    let token = ResumeToken::mint(42, ConnectionId::from_raw(3));
    let live = SessionView {
        open: true,
        token_matches: true,
        websocket: false,
    };
    let judge = |gate: &ResumeGate,
                 token: &ResumeToken,
                 ws: bool,
                 rate: bool,
                 view: Option<SessionView>| {
        let mut asked_rate = false;
        let verdict = gate.judge(
            token,
            ws,
            || {
                asked_rate = true;
                rate
            },
            |id| {
                assert_eq!(id, token.id(), "the session the token names is looked up");
                view
            },
        );
        (verdict, asked_rate)
    };

    assert_eq!(
        judge(&gate, &token, false, true, Some(live)),
        (Ok(()), true)
    );
    let off = ResumeGate {
        enabled: false,
        ..gate
    };
    assert_eq!(
        judge(&off, &token, false, true, Some(live)),
        (Err(ResumeRefusal::Disabled), false),
        "no rate is spent on a server without resume"
    );
    assert_eq!(
        judge(&gate, &token, false, false, Some(live)).0,
        Err(ResumeRefusal::Busy)
    );
    let foreign = ResumeToken::mint(43, ConnectionId::from_raw(3));
    assert_eq!(
        judge(&gate, &foreign, false, true, Some(live)).0,
        Err(ResumeRefusal::OtherInstance)
    );
    assert_eq!(
        judge(&gate, &token, false, true, None).0,
        Err(ResumeRefusal::Ended)
    );
    let closed = SessionView {
        open: false,
        ..live
    };
    assert_eq!(
        judge(&gate, &token, false, true, Some(closed)).0,
        Err(ResumeRefusal::Ended)
    );
    let stale = SessionView {
        token_matches: false,
        ..live
    };
    assert_eq!(
        judge(&gate, &token, false, true, Some(stale)).0,
        Err(ResumeRefusal::WrongToken)
    );
    assert_eq!(
        judge(&gate, &token, true, true, Some(live)).0,
        Err(ResumeRefusal::OtherTransport)
    );
    // What the client is told: busy as it is (it tries again), the rest refused for good.
    assert_eq!(
        podnet_proto::refusal_reason(&ResumeRefusal::Busy.to_string()),
        podnet_proto::RESUME_BUSY
    );
    assert!(
        podnet_proto::refusal_reason(&ResumeRefusal::WrongToken.to_string())
            .starts_with(podnet_proto::RESUME_REFUSED)
    );
}

/// A close always tells the peer why, even when what broke gave no words for it.
#[test]
fn a_close_with_a_blank_reason_still_says_why() {
    let t0 = Instant::now();
    let mut conn = Connection::server(Arc::new(server_settings()), t0);
    conn.handle(t0 + MS, Input::Violation("  "));
    let acts = actions(&mut conn);
    let wire = acts
        .iter()
        .find_map(|action| match action {
            Action::Close { wire, .. } => Some(wire.clone()),
            _ => None,
        })
        .expect("a close");
    assert!(
        !wire.trim().is_empty(),
        "the peer is told nothing: {wire:?}"
    );
}

//! The clustered lobby, sans-IO: what it asks of its cluster, and what it does with what
//! other nodes' lobbies send it, hostile or stale messages included (they come through
//! Redis, which anyone who can reach it may publish to). No Redis here: the test plays
//! the cluster.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Mutex;
use std::time::Instant;

use common::Talk;
use podnet_framing::{FramingConfig, RawMessage, Value};
use podnet_lobby::{ClusterRequest, Lobby, LobbyConfig, Outbox};
use podnet_transport::{ConnectionId, Frame, ServerEvent};

/// Records what the lobby sends and closes.
#[derive(Default)]
struct Recorder {
    sent: Mutex<Vec<(ConnectionId, String)>>,
    closed: Mutex<Vec<(ConnectionId, String)>>,
    framing: FramingConfig,
}

impl Outbox for Recorder {
    fn send_frame(&self, id: ConnectionId, frame: &Frame) -> bool {
        let payload = frame.as_bytes().slice(4..);
        let msg = RawMessage::parse(payload, &self.framing).unwrap();
        self.sent
            .lock()
            .unwrap()
            .push((id, msg.action().to_owned()));
        true
    }
    fn send_frame_to_all(&self, _: &Frame) -> usize {
        panic!("the lobby sends to players one by one")
    }
    fn close(&self, id: ConnectionId, reason: &str) -> bool {
        self.closed.lock().unwrap().push((id, reason.to_owned()));
        true
    }
    fn stop_accepting(&self) {}
    fn framing(&self) -> &FramingConfig {
        &self.framing
    }
}

impl Recorder {
    fn take(&self) -> Vec<(ConnectionId, String)> {
        std::mem::take(&mut self.sent.lock().unwrap())
    }
}

/// A message as another node's lobby would send it (or a hostile publisher).
fn message(action: &str, fields: Vec<(&str, Value)>) -> RawMessage {
    let mut map = vec![(Value::from("action"), Value::from(action))];
    map.extend(fields.into_iter().map(|(k, v)| (Value::from(k), v)));
    let mut buf = bytes::BytesMut::new();
    podnet_framing::encode_value(&Value::Map(map), &mut buf, &FramingConfig::default()).unwrap();
    RawMessage::parse(buf.freeze().slice(4..), &FramingConfig::default()).unwrap()
}

/// A map's msgpack bytes, to nest in a `message` field.
fn nested(action: &str) -> Value {
    let mut buf = bytes::BytesMut::new();
    let map = Value::Map(vec![
        (Value::from("action"), Value::from(action)),
        (Value::from("text"), Value::from("x")),
    ]);
    podnet_framing::encode_value(&map, &mut buf, &FramingConfig::default()).unwrap();
    Value::Binary(buf[4..].to_vec())
}

fn connect(lobby: &mut Lobby<Talk>, id: u64, out: &Recorder) -> ConnectionId {
    let id = ConnectionId::from_raw(id);
    lobby.handle(
        ServerEvent::Connected {
            id,
            peer: "127.0.0.1:1".parse().unwrap(),
            handshake: podnet_transport::Handshake {
                peer: podnet_transport::Peer::Repod,
                connection_type: podnet_transport::ConnectionType::classic(),
            },
        },
        out,
    );
    id
}

fn login(lobby: &mut Lobby<Talk>, id: ConnectionId, name: &str, out: &Recorder) {
    lobby.handle(
        ServerEvent::Message {
            id,
            message: message("login", vec![("name", Value::from(name))]).into(),
        },
        out,
    );
}

/// A player of this node waiting in the cluster's queue: connected, logged in, the
/// cluster's yes taken; the requests and what was sent so far are cleared.
fn waiting(lobby: &mut Lobby<Talk>, id: u64, name: &str, out: &Recorder) -> ConnectionId {
    let id = connect(lobby, id, out);
    login(lobby, id, name, out);
    lobby.take_cluster_requests();
    assert!(lobby.claimed(id, Ok(true), out));
    lobby.take_cluster_requests();
    out.take();
    id
}

/// A seat of a `lobby:start` group.
fn member(node: &str, conn: u64, name: &str) -> Value {
    Value::Array(vec![
        Value::from(node),
        Value::from(conn),
        Value::from(name),
    ])
}

/// A login asks the cluster for the name; the answer decides; a waiting player is queued;
/// one who leaves is taken out of the queue.
#[test]
fn logins_ask_the_cluster_and_waiting_players_are_queued() {
    let out = Recorder::default();
    let mut lobby = Lobby::<Talk>::clustered(LobbyConfig::new(2), (), "a");
    let ada = connect(&mut lobby, 1, &out);
    login(&mut lobby, ada, "ada", &out);
    let requests = lobby.take_cluster_requests();
    assert!(
        matches!(&requests[..], [ClusterRequest::Claim { id, name }] if *id == ada && name == "ada"),
        "{requests:?}"
    );
    // Another node's player holds it.
    assert!(!lobby.claimed(ada, Ok(false), &out));
    assert_eq!(
        out.take().last().map(|(_, a)| a.as_str()),
        Some("login_refused")
    );
    login(&mut lobby, ada, "ada", &out);
    lobby.take_cluster_requests();
    // Logging in again while the cluster is asked is refused, and asks nothing.
    login(&mut lobby, ada, "ada", &out);
    assert!(lobby.take_cluster_requests().is_empty());
    assert!(lobby.claimed(ada, Ok(true), &out));
    let requests = lobby.take_cluster_requests();
    assert!(
        matches!(&requests[..], [ClusterRequest::Enqueue(w)] if w.id == ada && w.node == "a" && w.name == "ada"),
        "{requests:?}"
    );
    // Waiting alone: no session here (groups form in the cluster).
    assert_eq!(lobby.session_count(), 0);
    lobby.handle(
        ServerEvent::Disconnected {
            id: ada,
            reason: podnet_transport::DisconnectReason::Aborted,
        },
        &out,
    );
    let requests = lobby.take_cluster_requests();
    assert!(
        matches!(&requests[..], [ClusterRequest::Dequeue(w)] if w.id == ada),
        "{requests:?}"
    );
    assert_eq!(lobby.names_in_use(), 0);
}

/// Whatever other nodes (or anyone who can publish to Redis) send: nothing panics, and
/// nothing reaches a player or a session unless it comes from the node that seats them,
/// for the session they are in, and is a valid message that is not podnet's own.
#[test]
fn hostile_or_stale_node_messages_change_nothing() {
    let out = Recorder::default();
    let mut lobby = Lobby::<Talk>::clustered(LobbyConfig::new(2), (), "a");
    let ada = waiting(&mut lobby, 1, "ada", &out);

    let junk = [
        message("lobby:start", vec![("group", Value::from("x"))]),
        message("lobby:start", vec![]),
        // The wrong size.
        message(
            "lobby:start",
            vec![("group", Value::Array(vec![member("a", 1, "ada")]))],
        ),
        // Players this node does not have: no session with nobody in it.
        message(
            "lobby:start",
            vec![(
                "group",
                Value::Array(vec![member("a", 7, "x"), member("a", 8, "y")]),
            )],
        ),
        // ada, under another name.
        message(
            "lobby:start",
            vec![(
                "group",
                Value::Array(vec![member("a", 1, "eve"), member("a", 9, "y")]),
            )],
        ),
        message(
            "lobby:input",
            vec![
                ("session", Value::from(1)),
                ("seat", Value::from(0)),
                ("message", nested("say")),
            ],
        ),
        message(
            "lobby:left",
            vec![("session", Value::from(1)), ("seat", Value::from(0))],
        ),
        message(
            "lobby:away",
            vec![
                ("session", Value::from(1)),
                ("seat", Value::from(0)),
                ("away", Value::from(true)),
            ],
        ),
        message(
            "lobby:deliver",
            vec![
                ("session", Value::from(1)),
                ("conn", Value::from(1)),
                ("message", nested("said")),
            ],
        ),
        message(
            "lobby:returned",
            vec![("session", Value::from(1)), ("conn", Value::from(1))],
        ),
        message("lobby:what", vec![]),
        message("say", vec![("text", Value::from("hi"))]),
    ];
    for msg in &junk {
        lobby.node_message("b", msg, &out);
    }
    assert_eq!(lobby.session_count(), 0);
    assert_eq!(lobby.waiting().collect::<Vec<_>>(), ["ada"]);
    assert!(out.take().is_empty());
    assert!(lobby.take_cluster_requests().is_empty());

    // Node b seats ada in its session 4.
    let placed = message(
        "lobby:placed",
        vec![
            ("session", Value::from(4)),
            ("seat", Value::from(1)),
            ("conn", Value::from(1)),
        ],
    );
    lobby.node_message("b", &placed, &out);
    assert_eq!(lobby.playing_elsewhere(), 1);
    assert_eq!(lobby.waiting().count(), 0);
    // Its wait is over: its entry leaves the queue (if its node queued it again).
    let requests = lobby.take_cluster_requests();
    assert!(
        matches!(&requests[..], [ClusterRequest::Dequeue(w)] if w.id == ada),
        "{requests:?}"
    );
    // Placing a player who is not waiting (ada again, or a stranger) is answered: that
    // seat is empty.
    lobby.node_message("c", &placed, &out);
    let requests = lobby.take_cluster_requests();
    assert!(
        matches!(&requests[..], [ClusterRequest::ToNode { node, .. }] if node == "c"),
        "{requests:?}"
    );

    // From the wrong node, for the wrong session, podnet's own control messages, bytes
    // that are no message: dropped.
    lobby.node_message("c", &deliver(4, nested("said")), &out);
    lobby.node_message("b", &deliver(5, nested("said")), &out);
    lobby.node_message("b", &deliver(4, nested("podnet:close")), &out);
    lobby.node_message("b", &deliver(4, Value::Binary(vec![0xc1, 0x00])), &out);
    lobby.node_message("b", &deliver(4, Value::Binary(Vec::new())), &out);
    lobby.node_message("b", &deliver(4, Value::from("not bytes")), &out);
    assert!(out.take().is_empty());
    // The right one reaches ada.
    lobby.node_message("b", &deliver(4, nested("said")), &out);
    assert_eq!(out.take(), [(ada, "said".to_owned())]);
    // What ada says goes to node b, for her seat there.
    lobby.handle(
        ServerEvent::Message {
            id: ada,
            message: message("say", vec![("text", Value::from("hi"))]).into(),
        },
        &out,
    );
    let requests = lobby.take_cluster_requests();
    assert!(
        matches!(&requests[..], [ClusterRequest::ToNode { node, .. }] if node == "b"),
        "{requests:?}"
    );
    // A return from the wrong node is ignored; from b, ada is back and queued again.
    let returned = message(
        "lobby:returned",
        vec![("session", Value::from(4)), ("conn", Value::from(1))],
    );
    lobby.node_message("c", &returned, &out);
    assert_eq!(lobby.playing_elsewhere(), 1);
    lobby.node_message("b", &returned, &out);
    assert_eq!(lobby.playing_elsewhere(), 0);
    assert_eq!(lobby.waiting().collect::<Vec<_>>(), ["ada"]);
    let requests = lobby.take_cluster_requests();
    assert!(
        matches!(&requests[..], [ClusterRequest::Enqueue(w)] if w.id == ada),
        "{requests:?}"
    );
}

fn deliver(session: u64, message_bytes: Value) -> RawMessage {
    message(
        "lobby:deliver",
        vec![
            ("session", Value::from(session)),
            ("conn", Value::from(1)),
            ("message", message_bytes),
        ],
    )
}

/// A group formed elsewhere plays here: this node's player sits in the session at once,
/// the other node's player is placed through their node before anything of the session
/// reaches them, and their messages reach the game only from that node.
#[test]
fn a_session_here_seats_visitors_through_their_node() {
    let out = Recorder::default();
    let mut lobby = Lobby::<Talk>::clustered(LobbyConfig::new(2), (), "a");
    let ada = waiting(&mut lobby, 1, "ada", &out);
    let start = message(
        "lobby:start",
        vec![(
            "group",
            Value::Array(vec![member("b", 40, "bob"), member("a", 1, "ada")]),
        )],
    );
    lobby.node_message("c", &start, &out);
    assert_eq!((lobby.session_count(), lobby.visitors()), (1, 1));
    assert_eq!(out.take(), [(ada, "game_start".to_owned())]);
    let requests = lobby.take_cluster_requests();
    let to_b: Vec<String> = requests
        .iter()
        .map(|r| match r {
            ClusterRequest::ToNode { node, frame } => {
                let msg = RawMessage::parse(frame.as_bytes().slice(4..), &FramingConfig::default())
                    .unwrap();
                format!("{node} {}", msg.action())
            }
            ClusterRequest::Dequeue(w) => format!("dequeue {}", w.name),
            other => panic!("{other:?}"),
        })
        .collect();
    // Placed first, then the game's start, through b; ada's wait is over.
    assert_eq!(to_b, ["b lobby:placed", "dequeue ada", "b lobby:deliver"]);

    let input = |seat: u64| {
        message(
            "lobby:input",
            vec![
                ("session", Value::from(1)),
                ("seat", Value::from(seat)),
                ("message", nested("say")),
            ],
        )
    };
    // From the wrong node, or for ada's seat (she is this node's): nothing.
    lobby.node_message("c", &input(0), &out);
    lobby.node_message("b", &input(1), &out);
    assert!(out.take().is_empty());
    // bob's line, from b: the game says it to both.
    lobby.node_message("b", &input(0), &out);
    assert_eq!(out.take(), [(ada, "said".to_owned())]);
    let requests = lobby.take_cluster_requests();
    assert_eq!(requests.len(), 1, "the line to bob, through b");
    // b says bob left: the game hears it.
    let left = message(
        "lobby:left",
        vec![("session", Value::from(1)), ("seat", Value::from(0))],
    );
    lobby.node_message("b", &left, &out);
    assert_eq!(out.take(), [(ada, "left".to_owned())]);
    assert_eq!(lobby.visitors(), 0);
    // A node reported dead takes nothing else with it; ada's session goes on.
    lobby.live_nodes(&["a".to_owned()].into(), std::time::Instant::now(), &out);
    assert_eq!(lobby.session_count(), 1);
}

/// A player of this node who left after their group formed: the session starts without
/// them, and the game hears it as a leave.
#[test]
fn a_player_gone_before_the_session_starts_is_a_leave() {
    let out = Recorder::default();
    let mut lobby = Lobby::<Talk>::clustered(LobbyConfig::new(2), (), "a");
    let ada = waiting(&mut lobby, 1, "ada", &out);
    let start = message(
        "lobby:start",
        vec![(
            "group",
            Value::Array(vec![member("a", 1, "ada"), member("a", 2, "gone")]),
        )],
    );
    lobby.node_message("b", &start, &out);
    assert_eq!(
        out.take(),
        [(ada, "game_start".to_owned()), (ada, "left".to_owned())]
    );
    assert_eq!(lobby.session_count(), 1);
}

/// A shutdown closes a player whose login the cluster has not answered yet; the late
/// answer is not taken (the driver then frees the name).
#[test]
fn a_shutdown_closes_logins_under_way() {
    let out = Recorder::default();
    let mut lobby = Lobby::<Talk>::clustered(LobbyConfig::new(2), (), "a");
    let ada = connect(&mut lobby, 1, &out);
    login(&mut lobby, ada, "ada", &out);
    lobby.take_cluster_requests();
    lobby.begin_shutdown("maintenance", std::time::Instant::now(), &out);
    let closed: Vec<ConnectionId> = out.closed.lock().unwrap().iter().map(|c| c.0).collect();
    assert_eq!(closed, [ada]);
    assert!(!lobby.claimed(ada, Ok(true), &out));
    assert_eq!(lobby.names_in_use(), 0);
}

/// A shutdown given a blank reason still tells each player why they are closed.
#[test]
fn a_shutdown_with_a_blank_reason_still_says_why() {
    let out = Recorder::default();
    let mut lobby = Lobby::<Talk>::new(LobbyConfig::new(2), ());
    let ada = connect(&mut lobby, 1, &out);
    lobby.begin_shutdown(" ", Instant::now(), &out);
    let closed = out.closed.lock().unwrap().clone();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].0, ada);
    assert!(
        !closed[0].1.trim().is_empty(),
        "told nothing: {:?}",
        closed[0].1
    );
}

/// The ticket of the one `Enqueue` (or `Dequeue`) in `requests`.
fn ticket_of(requests: &[ClusterRequest], enqueue: bool) -> u64 {
    let tickets: Vec<u64> = requests
        .iter()
        .filter_map(|r| match r {
            ClusterRequest::Enqueue(w) if enqueue => Some(w.ticket),
            ClusterRequest::Dequeue(w) if !enqueue => Some(w.ticket),
            _ => None,
        })
        .collect();
    assert_eq!(tickets.len(), 1, "{requests:?}");
    tickets[0]
}

/// A player queued again when the cluster comes back is queued with the same ticket (so
/// Redis, which marks an entry taken into a group, does not take it twice); once placed,
/// that entry is taken out of the queue, a second placement is answered with a leave, and
/// the next wait has a new ticket.
#[test]
fn a_player_queued_again_after_an_outage_is_placed_once() {
    let out = Recorder::default();
    let mut lobby = Lobby::<Talk>::clustered(LobbyConfig::new(2), (), "a");
    let ada = connect(&mut lobby, 1, &out);
    login(&mut lobby, ada, "ada", &out);
    lobby.take_cluster_requests();
    assert!(lobby.claimed(ada, Ok(true), &out));
    let first = ticket_of(&lobby.take_cluster_requests(), true);
    lobby.cluster_back(&out);
    assert_eq!(ticket_of(&lobby.take_cluster_requests(), true), first);

    let placed = |session: u64| {
        message(
            "lobby:placed",
            vec![
                ("session", Value::from(session)),
                ("seat", Value::from(0)),
                ("conn", Value::from(ada.get())),
            ],
        )
    };
    lobby.node_message("b", &placed(1), &out);
    assert_eq!(ticket_of(&lobby.take_cluster_requests(), false), first);
    // A second group took the entry queued again before it went: that seat is empty.
    lobby.node_message("c", &placed(5), &out);
    let requests = lobby.take_cluster_requests();
    assert!(
        matches!(&requests[..], [ClusterRequest::ToNode { node, frame }]
            if node == "c" && frame_action(frame) == "lobby:left"),
        "{requests:?}"
    );
    // Back from the session on b: a new wait, a new ticket.
    lobby.node_message(
        "b",
        &message(
            "lobby:returned",
            vec![
                ("session", Value::from(1)),
                ("conn", Value::from(ada.get())),
            ],
        ),
        &out,
    );
    assert_ne!(ticket_of(&lobby.take_cluster_requests(), true), first);
}

fn frame_action(frame: &Frame) -> String {
    RawMessage::parse(frame.as_bytes().slice(4..), &FramingConfig::default())
        .unwrap()
        .action()
        .to_owned()
}

/// The `lobby:` actions of the `ToNode` requests in `requests`, as `node action`.
fn to_nodes(requests: &[ClusterRequest]) -> Vec<String> {
    requests
        .iter()
        .filter_map(|r| match r {
            ClusterRequest::ToNode { node, frame } => {
                Some(format!("{node} {}", frame_action(frame)))
            }
            _ => None,
        })
        .collect()
}

/// A node taken for gone may only have lost touch with Redis: each side tells it what it
/// did, so that if it lives nobody waits for a game or a player that moved on. This
/// node's player seated there gets `game_over` and its seat there is left; a visitor
/// from there gets `game_over` through its node and is handed back to it.
#[test]
fn a_node_taken_for_gone_is_told_what_was_done() {
    let out = Recorder::default();
    let mut lobby = Lobby::<Talk>::clustered(LobbyConfig::new(2), (), "a");
    // ada plays on b; bob (of c) plays here with cy.
    let ada = waiting(&mut lobby, 1, "ada", &out);
    let placed = message(
        "lobby:placed",
        vec![
            ("session", Value::from(4)),
            ("seat", Value::from(1)),
            ("conn", Value::from(ada.get())),
        ],
    );
    lobby.node_message("b", &placed, &out);
    let cy = waiting(&mut lobby, 2, "cy", &out);
    let start = message(
        "lobby:start",
        vec![(
            "group",
            Value::Array(vec![member("c", 40, "bob"), member("a", 2, "cy")]),
        )],
    );
    lobby.node_message("c", &start, &out);
    lobby.take_cluster_requests();
    out.take();
    assert_eq!((lobby.playing_elsewhere(), lobby.visitors()), (1, 1));

    let later = std::time::Instant::now() + std::time::Duration::from_secs(1);
    lobby.live_nodes(&["a".to_owned()].into(), later, &out);
    let requests = lobby.take_cluster_requests();
    assert_eq!(
        to_nodes(&requests),
        ["b lobby:left", "c lobby:deliver", "c lobby:returned"],
        "{requests:?}"
    );
    let sent = out.take();
    assert!(sent.contains(&(ada, "game_over".to_owned())), "{sent:?}");
    assert!(sent.contains(&(ada, "welcome".to_owned())), "{sent:?}");
    // cy's game heard bob leave.
    assert!(sent.contains(&(cy, "left".to_owned())), "{sent:?}");
    assert_eq!((lobby.playing_elsewhere(), lobby.visitors()), (0, 0));
}

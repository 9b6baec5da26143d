//! The cluster against a real `redis-server` (started per test on a free loopback port,
//! persistence off): the node registry with its TTL, and names unique cluster-wide.
//! Run by `cargo xtask cluster`, which installs redis-server when missing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use podnet_cluster::{ClusterConfig, ClusterError, Health, Load, Node};
use podnet_testkit::{Process, RedisServer, http_get as get};

/// Bounds a failing wait; it does not measure speed.
const WAIT: Duration = Duration::from_secs(10);

fn config(redis: &RedisServer, node: &str) -> ClusterConfig {
    let mut config = ClusterConfig::new(redis.url());
    config.node = Some(node.to_owned());
    config.ttl = Duration::from_millis(600);
    config.heartbeat = Duration::from_millis(100);
    config
}

/// Waits until `check` holds, asking Redis again after each answer; fails after WAIT.
async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {WAIT:?}"
        );
        tokio::task::yield_now().await;
    }
}

async fn ids(node: &Node) -> HashSet<String> {
    node.nodes()
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.id)
        .collect()
}

/// Bookings spread sessions over the nodes, and count until the node that was booked
/// reports the sessions started: its heartbeats in between do not erase them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bookings_spread_and_last_until_the_sessions_start() {
    let redis = RedisServer::start().unwrap();
    let a = Node::join(config(&redis, "a")).await.unwrap();
    let b = Node::join(config(&redis, "b")).await.unwrap();
    let c = Node::join(config(&redis, "c")).await.unwrap();
    let mut booked = Vec::new();
    for _ in 0..3 {
        booked.push(a.book_session().await.unwrap());
    }
    booked.sort();
    assert_eq!(booked, ["a", "b", "c"], "one session on each node");

    // A heartbeat of every node after the bookings (its new load is seen), none started.
    let sessions_of = |nodes: &[podnet_cluster::NodeInfo], id: &str, players: u64| {
        nodes
            .iter()
            .find(|n| n.id == id && n.players == players)
            .map(|n| n.sessions)
    };
    for node in [&a, &b, &c] {
        node.set_load(Load {
            players: 1,
            ..Load::default()
        });
    }
    until("every node's heartbeat after the bookings", || async {
        let nodes = a.nodes().await.unwrap();
        ["a", "b", "c"]
            .iter()
            .all(|id| sessions_of(&nodes, id, 1).is_some())
    })
    .await;
    let nodes = a.nodes().await.unwrap();
    for id in ["a", "b", "c"] {
        assert_eq!(sessions_of(&nodes, id, 1), Some(1), "{id}'s booking counts");
    }

    // b starts its session: the booking is settled, the running session counts once.
    b.set_load(Load {
        players: 2,
        sessions: 1,
        sessions_started: 1,
    });
    until("b's start reported", || async {
        sessions_of(&a.nodes().await.unwrap(), "b", 2).is_some()
    })
    .await;
    assert_eq!(sessions_of(&a.nodes().await.unwrap(), "b", 2), Some(1));
    // Its session ends: nothing left on b, which is where the next one goes.
    b.set_load(Load {
        players: 3,
        sessions: 0,
        sessions_started: 1,
    });
    until("b's end reported", || async {
        sessions_of(&a.nodes().await.unwrap(), "b", 3).is_some()
    })
    .await;
    assert_eq!(sessions_of(&a.nodes().await.unwrap(), "b", 3), Some(0));
    assert_eq!(c.book_session().await.unwrap(), "b");
    for node in [a, b, c] {
        node.leave().await.unwrap();
    }
}

/// Three nodes see each other with their load; one that leaves is gone at once; one
/// that dies (its heartbeat stops, as under SIGKILL) is gone within the TTL, and the
/// names it held are free again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_register_report_load_and_expire() {
    let redis = RedisServer::start().unwrap();
    let a = Node::join(config(&redis, "a")).await.unwrap();
    let b = Node::join(config(&redis, "b")).await.unwrap();
    let c = Node::join(config(&redis, "c")).await.unwrap();
    let all: HashSet<String> = ["a", "b", "c"].map(str::to_owned).into();
    assert_eq!(ids(&a).await, all);

    b.set_load(Load {
        players: 7,
        sessions: 2,
        sessions_started: 0,
    });
    until("b's load reported", || async {
        a.nodes()
            .await
            .unwrap()
            .iter()
            .any(|n| n.id == "b" && n.players == 7 && n.sessions == 2)
    })
    .await;

    c.leave().await.unwrap();
    assert_eq!(ids(&a).await, ["a", "b"].map(str::to_owned).into());

    assert!(b.claim_name("Bea").await.unwrap());
    // b dies: no leave, its heartbeat stops.
    let died = Instant::now();
    drop(b);
    // Its entry and its name outlive it by the TTL, no more.
    until("b expired", || async {
        ids(&a).await == HashSet::from(["a".to_owned()])
    })
    .await;
    until("Bea free again", || async {
        a.holder("bea").await.unwrap().is_none()
    })
    .await;
    let gone_after = died.elapsed();
    assert!(
        gone_after >= Duration::from_millis(300),
        "expired after {gone_after:?}: before its TTL"
    );
    assert!(a.claim_name("bea").await.unwrap());
    // The live node's names are kept alive by its heartbeat, well past the TTL.
    assert!(a.claim_name("ada").await.unwrap());
    let held_since = Instant::now();
    until("three TTLs", || async {
        held_since.elapsed() > Duration::from_millis(1800)
    })
    .await;
    assert_eq!(a.holder("ADA").await.unwrap().as_deref(), Some("a"));
    assert!(a.take_lost_names().is_empty());
}

/// 200 simultaneous logins of 50 names spread over three nodes: exactly 50 are
/// accepted, one per name, cluster-wide; names compare ignoring case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_logins_of_fifty_names_accept_exactly_fifty() {
    let redis = RedisServer::start().unwrap();
    let mut nodes = Vec::new();
    for id in ["n1", "n2", "n3"] {
        let mut config = config(&redis, id);
        config.ttl = Duration::from_secs(5);
        config.heartbeat = Duration::from_secs(1);
        nodes.push(std::sync::Arc::new(Node::join(config).await.unwrap()));
    }
    let mut attempts = Vec::new();
    for i in 0..200usize {
        let node = nodes[i % 3].clone();
        // Four claims of each name, in different cases, on different nodes.
        let name = format!("player{}", i % 50);
        let name = if i % 2 == 0 {
            name.to_uppercase()
        } else {
            name
        };
        attempts.push(tokio::spawn(async move {
            let won = node.claim_name(&name).await.unwrap();
            (name.to_lowercase(), node.id().to_owned(), won)
        }));
    }
    let mut winners = std::collections::HashMap::new();
    for attempt in attempts {
        let (name, node, won) = attempt.await.unwrap();
        if won {
            assert!(
                winners.insert(name.clone(), node).is_none(),
                "{name} accepted twice"
            );
        }
    }
    assert_eq!(winners.len(), 50);
    for (name, node) in &winners {
        assert_eq!(nodes[0].holder(name).await.unwrap().as_ref(), Some(node));
    }
    // Only the holder releases a name.
    let (name, holder) = winners.iter().next().unwrap();
    let other = nodes.iter().find(|n| n.id() != holder).unwrap();
    assert!(!other.release_name(name).await.unwrap());
    let owner = nodes.iter().find(|n| n.id() == holder).unwrap();
    assert!(owner.release_name(name).await.unwrap());
    assert!(other.claim_name(name).await.unwrap());
}

/// Settings that would expire a live node, and a Redis that is not there, are refused
/// with errors that say what to do.
#[tokio::test]
async fn bad_settings_and_no_redis_are_clear_errors() {
    let redis = RedisServer::start().unwrap();
    let mut slow = config(&redis, "slow");
    slow.heartbeat = slow.ttl;
    let err = Node::join(slow).await.unwrap_err();
    assert!(matches!(err, ClusterError::Config(_)), "{err}");
    assert!(err.to_string().contains("must be under the TTL"), "{err}");

    let addr = redis.addr();
    drop(redis);
    let err = Node::join(ClusterConfig::new(format!("redis://{addr}/")))
        .await
        .unwrap_err();
    assert!(matches!(err, ClusterError::Connect { .. }), "{err}");
    assert!(err.to_string().contains("is redis-server"), "{err}");

    let err = Node::join(ClusterConfig::new("http://nowhere/"))
        .await
        .unwrap_err();
    assert!(matches!(err, ClusterError::BadUrl { .. }), "{err}");
}

// ---- Messaging across nodes ----

use podnet_cluster::Cluster;
use podnet_framing::Value;
use podnet_transport::{
    Client, ClientConfig, ClientEvent, ConnectionId, EventStream, Frame, Server, ServerConfig,
    ServerEvent,
};
use std::sync::Arc;

/// A podnet server joined to the cluster as node `id`.
struct Served {
    server: Arc<Server>,
    events: EventStream<ServerEvent>,
    cluster: Cluster,
}

async fn serve(redis: &RedisServer, id: &str) -> Served {
    let (server, events) = Server::bind("127.0.0.1:0", ServerConfig::default())
        .await
        .unwrap();
    let server = Arc::new(server);
    let mut config = config(redis, id);
    config.ttl = Duration::from_secs(5);
    config.heartbeat = Duration::from_secs(1);
    let cluster = Cluster::start(config, server.handle().clone())
        .await
        .unwrap();
    Served {
        server,
        events,
        cluster,
    }
}

/// A player connected to `served`, and its id there.
async fn player(served: &mut Served) -> (Client, EventStream<ClientEvent>, ConnectionId) {
    let (client, events) = Client::connect(served.server.local_addr(), ClientConfig::default())
        .await
        .unwrap();
    let id = loop {
        let event = tokio::time::timeout(WAIT, served.events.recv())
            .await
            .unwrap()
            .unwrap();
        if let ServerEvent::Connected { id, .. } = event {
            break id;
        }
    };
    (client, events, id)
}

/// Starts `program` with `args`; returns it and the address its first line ends with.
fn start_process(program: &std::ffi::OsStr, args: &[&str]) -> (Process, String) {
    let mut command = std::process::Command::new(program);
    command.args(args).stderr(std::process::Stdio::null());
    Process::start_listening(&mut command).unwrap()
}

fn frame(action: &str, n: u64) -> Frame {
    Frame::from_value(
        &Value::Map(vec![
            (Value::from("action"), Value::from(action)),
            (Value::from("n"), Value::from(n)),
        ]),
        &podnet_framing::FramingConfig::default(),
    )
    .unwrap()
}

/// The next message (skipping the greeting): its action and `n`.
async fn next(events: &mut EventStream<ClientEvent>) -> (String, u64) {
    loop {
        let event = tokio::time::timeout(WAIT, events.recv())
            .await
            .expect("a message within the timeout")
            .unwrap();
        if let ClientEvent::Message(msg) = event {
            if msg.action() == "connected" {
                continue;
            }
            let n = msg.to_value().unwrap()["n"].as_u64().unwrap();
            return (msg.action().to_owned(), n);
        }
    }
}

/// Three nodes, a player on each: a player on another node by connection (1,000
/// messages, once each, in order) and by name; the whole cluster (each player once); a
/// room with members on two other nodes (they get it, the others do not).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_reach_players_on_other_nodes_once_and_in_order() {
    let redis = RedisServer::start().unwrap();
    let mut nodes = Vec::new();
    for id in ["n0", "n1", "n2"] {
        nodes.push(serve(&redis, id).await);
    }
    let mut players = Vec::new();
    for served in &mut nodes {
        players.push(player(served).await);
    }
    let ids: Vec<ConnectionId> = players.iter().map(|p| p.2).collect();

    // By connection, from n0 to the player on n1: in order, once.
    for n in 0..1_000 {
        nodes[0]
            .cluster
            .send_to("n1", ids[1], &frame("seq", n))
            .await
            .unwrap();
    }
    for n in 0..1_000 {
        assert_eq!(next(&mut players[1].1).await, ("seq".to_owned(), n));
    }

    // By name, from n2.
    assert!(nodes[1].cluster.claim_name("Bob", ids[1]).await.unwrap());
    assert!(
        nodes[2]
            .cluster
            .send_to_name("bob", &frame("dm", 1))
            .await
            .unwrap()
    );
    assert_eq!(next(&mut players[1].1).await, ("dm".to_owned(), 1));
    assert!(
        !nodes[2]
            .cluster
            .send_to_name("nobody", &frame("dm", 2))
            .await
            .unwrap()
    );

    // The whole cluster, from n0: everyone once (the marker after shows nothing more came).
    nodes[0]
        .cluster
        .send_to_all(&frame("all", 7))
        .await
        .unwrap();
    for (i, p) in players.iter_mut().enumerate() {
        assert_eq!(
            next(&mut p.1).await,
            ("all".to_owned(), 7),
            "player on n{i}"
        );
    }

    // A room with members on n0 and n2, sent to from n1.
    nodes[0].cluster.join_room("red", ids[0]).await;
    nodes[2].cluster.join_room("red", ids[2]).await;
    nodes[1]
        .cluster
        .send_to_room("red", &frame("room", 3))
        .await
        .unwrap();
    assert_eq!(next(&mut players[0].1).await, ("room".to_owned(), 3));
    assert_eq!(next(&mut players[2].1).await, ("room".to_owned(), 3));
    // A member who left gets nothing more; the non-member never did.
    nodes[2].cluster.leave_room("red", ids[2]);
    nodes[1]
        .cluster
        .send_to_room("red", &frame("room", 4))
        .await
        .unwrap();
    assert_eq!(next(&mut players[0].1).await, ("room".to_owned(), 4));
    for (i, p) in players.iter_mut().enumerate() {
        nodes[0]
            .cluster
            .send_to(&format!("n{i}"), ids[i], &frame("marker", 9))
            .await
            .unwrap();
        assert_eq!(
            next(&mut p.1).await,
            ("marker".to_owned(), 9),
            "player on n{i}"
        );
    }
    for served in &nodes {
        assert_eq!(served.cluster.dropped(), 0);
    }
}

/// What arrives on a node's channels from Redis that is not a valid envelope or message
/// is dropped and counted; the players get nothing of it, and valid messages still flow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_messages_from_redis_are_dropped() {
    let redis = RedisServer::start().unwrap();
    let mut served = serve(&redis, "victim").await;
    let (_client, mut events, id) = player(&mut served).await;
    let mut raw = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let mut id_bytes = vec![b'C'];
    id_bytes.extend_from_slice(&id.get().to_be_bytes());
    let mut not_msgpack = id_bytes.clone();
    not_msgpack.push(0xc1);
    let mut huge_len = id_bytes.clone();
    huge_len.extend_from_slice(&[0xdf, 0xff, 0xff, 0xff, 0xff]);
    for (channel, data) in [
        ("podnet:to:victim", b"".to_vec()),
        ("podnet:to:victim", b"Z junk".to_vec()),
        ("podnet:to:victim", not_msgpack),
        ("podnet:to:victim", huge_len),
        ("podnet:all", b"\xffno".to_vec()),
        ("podnet:all", b"\x01x\x91\x01".to_vec()),
    ] {
        let _: i64 = redis::cmd("PUBLISH")
            .arg(channel)
            .arg(data)
            .query_async(&mut raw)
            .await
            .unwrap();
    }
    served
        .cluster
        .send_to("victim", id, &frame("ok", 1))
        .await
        .unwrap();
    // Delivered locally at once; the hostile ones went through Redis before it.
    let other = serve(&redis, "other").await;
    other
        .cluster
        .send_to("victim", id, &frame("ok", 2))
        .await
        .unwrap();
    assert_eq!(next(&mut events).await, ("ok".to_owned(), 1));
    assert_eq!(next(&mut events).await, ("ok".to_owned(), 2));
    assert_eq!(served.cluster.dropped(), 6);
}

/// Waits until `rx` shows a value for which `check` holds; fails after WAIT.
async fn wait_for<T: Clone>(
    rx: &mut tokio::sync::watch::Receiver<T>,
    what: &str,
    check: impl Fn(&T) -> bool,
) {
    tokio::time::timeout(WAIT, rx.wait_for(|v| check(v)))
        .await
        .unwrap_or_else(|_| panic!("{what} did not happen within {WAIT:?}"))
        .unwrap();
}

/// Redis stopped mid-game: every node says it is degraded and goes on serving its own
/// players; when Redis is back (empty), the nodes register again, claim their players'
/// names again, subscribe again, and messages cross nodes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_degrades_then_heals() {
    let mut redis = RedisServer::start().unwrap();
    let mut n0 = serve(&redis, "n0").await;
    let mut n1 = serve(&redis, "n1").await;
    let (_c0, mut p0, id0) = player(&mut n0).await;
    let (_c1, mut p1, id1) = player(&mut n1).await;
    assert!(n1.cluster.claim_name("bob", id1).await.unwrap());
    let mut health0 = n0.cluster.node().watch_health();
    let mut health1 = n1.cluster.node().watch_health();
    let mut subscribed1 = n1.cluster.watch_subscribed();

    redis.stop();
    let degraded = |h: &Health| matches!(h, Health::Degraded { .. });
    wait_for(&mut health0, "n0 degraded", degraded).await;
    wait_for(&mut health1, "n1 degraded", degraded).await;
    wait_for(&mut subscribed1, "n1's subscription lost", |s| !*s).await;
    // Local play goes on: a node's own players get what it sends them.
    n0.cluster
        .send_to("n0", id0, &frame("local", 1))
        .await
        .unwrap();
    assert_eq!(next(&mut p0).await, ("local".to_owned(), 1));
    let err = n0
        .cluster
        .send_to_all(&frame("local", 2))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("keeps serving its own players"),
        "{err}"
    );
    assert_eq!(next(&mut p0).await, ("local".to_owned(), 2));

    redis.start_again().unwrap();
    wait_for(&mut health0, "n0 healthy", |h| *h == Health::Healthy).await;
    wait_for(&mut health1, "n1 healthy", |h| *h == Health::Healthy).await;
    wait_for(&mut subscribed1, "n1 subscribed again", |s| *s).await;
    // Registered and named again, in an empty Redis.
    let live: HashSet<String> = ids(n0.cluster.node()).await;
    assert_eq!(live, ["n0", "n1"].map(str::to_owned).into());
    assert_eq!(
        n0.cluster.node().holder("bob").await.unwrap().as_deref(),
        Some("n1")
    );
    assert!(!n0.cluster.claim_name("BOB", id0).await.unwrap());
    // Messages cross nodes again.
    assert!(
        n0.cluster
            .send_to_name("bob", &frame("back", 3))
            .await
            .unwrap()
    );
    assert_eq!(next(&mut p1).await, ("back".to_owned(), 3));
    assert!(n1.cluster.node().take_lost_names().is_empty());
}

/// The next node message in `inbox`: its action and `n`.
async fn next_node_message(
    inbox: &mut tokio::sync::mpsc::Receiver<podnet_cluster::NodeMessage>,
) -> (String, u64) {
    let msg = tokio::time::timeout(WAIT, inbox.recv())
        .await
        .expect("a node message within the timeout")
        .unwrap();
    let n = msg.message.to_value().unwrap()["n"].as_u64().unwrap();
    (msg.message.action().to_owned(), n)
}

/// An entry taken into a group is not queued again with the same ticket (its node may
/// queue it again after an outage, while its group's placement is on its way); with a
/// new ticket (its next wait) it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_player_is_taken_into_one_group_per_wait() {
    let redis = RedisServer::start().unwrap();
    let node = Node::join(config(&redis, "n0")).await.unwrap();
    let entry = |conn: u64, name: &str, ticket: u64| podnet_cluster::QueueEntry {
        node: "n0".to_owned(),
        id: ConnectionId::from_raw(conn),
        name: name.to_owned(),
        ticket,
    };
    let (ada, bob, cy) = (entry(1, "ada", 1), entry(2, "bob", 1), entry(3, "cy", 1));
    assert_eq!(node.wait_in_queue("q", &ada, 2).await.unwrap(), None);
    let group = node.wait_in_queue("q", &bob, 2).await.unwrap();
    assert_eq!(group, Some(vec![ada.clone(), bob.clone()]));
    // ada queued again for the same wait: refused, so cy waits alone.
    assert_eq!(node.wait_in_queue("q", &ada, 2).await.unwrap(), None);
    assert_eq!(node.wait_in_queue("q", &cy, 2).await.unwrap(), None);
    // ada's next wait.
    let again = entry(1, "ada", 2);
    let group = node.wait_in_queue("q", &again, 2).await.unwrap();
    assert_eq!(group, Some(vec![cy, again]));
}

/// Messages between game loops survive Redis going away: sent from a game loop's thread
/// before, during and right after two Redis restarts (each one empty), every message
/// arrives once, in order, and nothing is counted lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_messages_cross_redis_restarts_once_and_in_order() {
    let mut redis = RedisServer::start().unwrap();
    let n0 = serve(&redis, "n0").await;
    let mut n1 = serve(&redis, "n1").await;
    let mut inbox = n1.cluster.take_node_messages().unwrap();
    let handle = n0.cluster.handle();
    let mut subscribed1 = n1.cluster.watch_subscribed();
    let send = |from: u64, to: u64| {
        let handle = handle.clone();
        std::thread::spawn(move || {
            for n in from..to {
                handle.send_to_node("n1", &frame("turn", n)).unwrap();
            }
        })
        .join()
        .unwrap();
    };
    let mut expected = 0;
    for _ in 0..2 {
        send(expected, expected + 300);
        redis.stop();
        wait_for(&mut subscribed1, "n1's subscription lost", |s| !*s).await;
        // Sent while Redis is away: kept, and sent again when it is back.
        send(expected + 300, expected + 600);
        redis.start_again().unwrap();
        // Sent while n1 may not be subscribed yet.
        send(expected + 600, expected + 900);
        for n in expected..expected + 900 {
            assert_eq!(next_node_message(&mut inbox).await, ("turn".to_owned(), n));
        }
        expected += 900;
    }
    // Had a message come twice, it would come before this one.
    send(expected, expected + 1);
    assert_eq!(
        next_node_message(&mut inbox).await,
        ("turn".to_owned(), expected)
    );
    assert_eq!((n0.cluster.lost(), n1.cluster.lost()), (0, 0));
    let _ = n1.events;
}

/// The cluster's health is the server's: `/readyz` answers 503 naming the cluster while
/// Redis is away and 200 once it is back (or 200 throughout with `ready_while_degraded`),
/// `/metrics` has `podnet_component_healthy{component="cluster"}`, gone once it leaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clusters_health_shows_in_readyz_and_metrics() {
    let mut redis = RedisServer::start().unwrap();
    let mut strict = ServerConfig::default();
    strict.metrics = Some(podnet_transport::MetricsConfig::on(
        "127.0.0.1:0".parse().unwrap(),
    ));
    let mut lenient = strict.clone();
    if let Some(m) = lenient.metrics.as_mut() {
        m.ready_while_degraded = true;
    }
    let mut nodes = Vec::new();
    for (id, server_config) in [("strict", strict), ("lenient", lenient)] {
        let (server, _events) = Server::bind("127.0.0.1:0", server_config).await.unwrap();
        let server = Arc::new(server);
        let mut config = config(&redis, id);
        config.ttl = Duration::from_secs(5);
        config.heartbeat = Duration::from_millis(200);
        let cluster = Cluster::start(config, server.handle().clone())
            .await
            .unwrap();
        nodes.push((server, cluster));
    }
    let healthy = r#"podnet_component_healthy{component="cluster"} 1"#;
    let unhealthy = r#"podnet_component_healthy{component="cluster"} 0"#;
    // The reporter sets the health as it changes: waited on in the server's own text,
    // then asked over HTTP.
    let until_reported = |server: &Arc<Server>, sample: &'static str| {
        let server = server.clone();
        async move {
            until(&format!("{sample} reported"), || {
                let text = server.metrics_text("podnet");
                async move { text.contains(sample) }
            })
            .await;
            server.metrics_addr().unwrap()
        }
    };
    let strict = until_reported(&nodes[0].0, healthy).await;
    let lenient = until_reported(&nodes[1].0, healthy).await;
    assert_eq!(get(strict, "/readyz").await, (200, "ready\n".to_owned()));
    assert!(get(strict, "/metrics").await.1.contains(healthy));

    redis.stop();
    until_reported(&nodes[0].0, unhealthy).await;
    until_reported(&nodes[1].0, unhealthy).await;
    let (status, body) = get(strict, "/readyz").await;
    assert_eq!(status, 503);
    assert!(body.starts_with("cluster degraded: "), "{body}");
    assert!(get(strict, "/metrics").await.1.contains(unhealthy));
    let (status, body) = get(lenient, "/readyz").await;
    assert_eq!(status, 200, "ready_while_degraded");
    assert!(body.starts_with("ready\ncluster degraded: "), "{body}");
    assert_eq!(get(strict, "/healthz").await.0, 200, "alive all along");

    redis.start_again().unwrap();
    until_reported(&nodes[0].0, healthy).await;
    until_reported(&nodes[1].0, healthy).await;
    assert_eq!(get(strict, "/readyz").await, (200, "ready\n".to_owned()));
    assert_eq!(get(lenient, "/readyz").await, (200, "ready\n".to_owned()));

    let (server, cluster) = nodes.remove(0);
    cluster.leave().await.unwrap();
    let text = server.metrics_text("podnet");
    assert!(!text.contains("component_healthy"), "{text}");
}

/// A game loop's handle never waits: its sends reach local players at once and other
/// nodes in order (mixed with the async sends); with Redis away, publishes stop at
/// `max_pending` and further sends say so, while local players still get every one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handle_never_waits_and_bounds_what_waits() {
    let mut redis = RedisServer::start().unwrap();
    let (server, _events) = Server::bind("127.0.0.1:0", ServerConfig::default())
        .await
        .unwrap();
    let server = Arc::new(server);
    let mut small = config(&redis, "small");
    small.ttl = Duration::from_secs(5);
    small.heartbeat = Duration::from_secs(1);
    small.max_pending = 4;
    let mut n0 = Served {
        cluster: Cluster::start(small, server.handle().clone())
            .await
            .unwrap(),
        server,
        events: _events,
    };
    let mut n1 = serve(&redis, "n1").await;
    let (_c0, mut p0, id0) = player(&mut n0).await;
    let (_c1, mut p1, id1) = player(&mut n1).await;
    let handle = n0.cluster.handle();
    // From another thread, as a game loop would: in order with the async sends.
    let sender = handle.clone();
    std::thread::spawn(move || {
        for n in 0..3 {
            sender.send_to("n1", id1, &frame("seq", n)).unwrap();
        }
    })
    .join()
    .unwrap();
    n0.cluster
        .send_to("n1", id1, &frame("seq", 3))
        .await
        .unwrap();
    for n in 0..4 {
        assert_eq!(next(&mut p1).await, ("seq".to_owned(), n));
    }

    redis.stop();
    let mut refused = 0;
    for n in 0..50 {
        match handle.send_to_all(&frame("all", n)) {
            Ok(local) => assert_eq!(local, 1),
            Err(ClusterError::Backlog { pending }) => {
                assert_eq!(pending, 4);
                refused += 1;
            }
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert!(refused > 0, "nothing was refused: the backlog is unbounded");
    for n in 0..50 {
        assert_eq!(next(&mut p0).await, ("all".to_owned(), n));
    }
    let _ = id0;
}

/// `examples/bench_server --redis URL`, two processes: a `broadcast` sent to one reaches
/// the clients of both, once. PODNET_BENCH_SERVER names the example built with the
/// `cluster` feature (`cargo xtask cluster` builds it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_servers_in_a_cluster_broadcast_to_every_node() {
    let program = std::env::var_os("PODNET_BENCH_SERVER").expect(
        "PODNET_BENCH_SERVER names examples/bench_server built with --features cluster: \
         run `cargo xtask cluster`",
    );
    let redis = RedisServer::start().unwrap();
    let url = redis.url();
    let mut servers = Vec::new();
    let mut addrs = Vec::new();
    for node in ["b0", "b1"] {
        let (server, addr) = start_process(
            &program,
            &["127.0.0.1", "0", "--redis", &url, "--node", node],
        );
        addrs.push(addr);
        servers.push(server);
    }
    let mut clients = Vec::new();
    for addr in &addrs {
        let (client, events) = Client::connect(addr.as_str(), ClientConfig::default())
            .await
            .unwrap();
        clients.push((client, events));
    }
    // Both clients are players (greeted) before the broadcast.
    for (_, events) in &mut clients {
        loop {
            let event = tokio::time::timeout(WAIT, events.recv())
                .await
                .unwrap()
                .unwrap();
            if matches!(&event, ClientEvent::Message(m) if m.action() == "connected") {
                break;
            }
        }
    }
    clients[0].0.send(&frame("broadcast", 42)).unwrap();
    for (i, (_, events)) in clients.iter_mut().enumerate() {
        assert_eq!(
            next(events).await,
            ("broadcast".to_owned(), 42),
            "client of b{i}"
        );
    }
    // Once: a ping answered next shows nothing else came.
    for (i, (client, events)) in clients.iter_mut().enumerate() {
        client.send(&frame("ping", 7)).unwrap();
        assert_eq!(next(events).await, ("ping".to_owned(), 7), "client of b{i}");
    }
    drop(servers);
}

/// A node process killed with SIGKILL (the demo's node, `examples/cluster_chat.rs`, TTL
/// 600 ms): it leaves the registry and its player's name is free again within the TTL (a
/// player on another node gets it), while the other node serves on. PODNET_CLUSTER_CHAT
/// names the example's binary (`cargo xtask cluster` builds it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_frees_its_names_within_the_ttl() {
    let program = std::env::var_os("PODNET_CLUSTER_CHAT").expect(
        "PODNET_CLUSTER_CHAT names the cluster_chat example's binary: run `cargo xtask cluster`",
    );
    let redis = RedisServer::start().unwrap();
    let url = redis.url();
    let mut nodes = Vec::new();
    let mut addrs = Vec::new();
    for node in ["a", "b"] {
        let args = ["node", "--redis", &url, "--node", node, "--ttl-ms", "600"];
        let (process, addr) = start_process(&program, &args);
        addrs.push(addr);
        nodes.push(process);
    }
    let observer = Node::join(config(&redis, "observer")).await.unwrap();

    /// Sends a nickname from a client of `node` and returns the system line that answers
    /// it: the name is taken, or it joined on `node`. Other lines are skipped, among
    /// them another node's join broadcast, which may reach this node's players after
    /// they connected.
    async fn nickname(
        client: &Client,
        events: &mut EventStream<ClientEvent>,
        node: &str,
        name: &str,
    ) -> String {
        let ask = Frame::from_value(
            &Value::Map(vec![
                (Value::from("action"), Value::from("nickname")),
                (Value::from("nickname"), Value::from(name)),
            ]),
            &podnet_framing::FramingConfig::default(),
        )
        .unwrap();
        client.send(&ask).unwrap();
        loop {
            let event = tokio::time::timeout(WAIT, events.recv())
                .await
                .unwrap()
                .unwrap();
            if let ClientEvent::Message(m) = event {
                let text = m.to_value().unwrap()["text"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned();
                let answer = text.contains(name)
                    && (text.contains("taken") || text == format!("{name} joined on node {node}"));
                if answer {
                    return text;
                }
            }
        }
    }

    let (ann, mut ann_events) = Client::connect(addrs[0].as_str(), ClientConfig::default())
        .await
        .unwrap();
    assert_eq!(
        nickname(&ann, &mut ann_events, "a", "ann").await,
        "ann joined on node a"
    );
    let (other, mut other_events) = Client::connect(addrs[1].as_str(), ClientConfig::default())
        .await
        .unwrap();
    assert!(
        nickname(&other, &mut other_events, "b", "ann")
            .await
            .contains("taken")
    );

    let killed = Instant::now();
    drop(nodes.remove(0));
    until("node a gone from the registry", || async {
        ids(&observer).await == HashSet::from(["b".to_owned(), "observer".to_owned()])
    })
    .await;
    loop {
        let answer = nickname(&other, &mut other_events, "b", "ann").await;
        if answer == "ann joined on node b" {
            break;
        }
        assert!(answer.contains("taken"), "{answer}");
        assert!(
            killed.elapsed() < Duration::from_secs(3),
            "ann still taken {:?} after node a died (TTL 600 ms)",
            killed.elapsed()
        );
    }
    drop(nodes);
}

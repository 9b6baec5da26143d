//! The lobby across nodes, against a real `redis-server` (started per test on a free
//! loopback port, persistence off) and several lobby servers, each a node: groups formed
//! from players of different nodes, sessions on one node with the others taking part
//! through their own, back to the lobby after, and a node that dies.
//! Run by `cargo xtask cluster`, which installs redis-server when missing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Finish, Left, Peer, Said, Say, Talk, WAIT};
use podnet_cluster::{Cluster, ClusterConfig, Node};
use podnet_lobby::cluster::{ClusterLobbyConfig, run};
use podnet_lobby::protocol::{GameOver, GameStart, LoginRefused, Welcome};
use podnet_lobby::{Lobby, LobbyConfig, Message};
use podnet_testkit::{Cut, Proxy, RedisServer};
use podnet_transport::{ClientConfig, ResumeConfig, Server, ServerConfig, ShutdownReport};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

fn cluster_config(redis: &RedisServer, node: &str) -> ClusterConfig {
    let mut config = ClusterConfig::new(redis.url());
    config.node = Some(node.to_owned());
    config.ttl = Duration::from_millis(600);
    config.heartbeat = Duration::from_millis(100);
    config
}

/// One node: a lobby server joined to the cluster.
struct LobbyNode {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<String>>,
    task: JoinHandle<Result<ShutdownReport, podnet_lobby::Error>>,
}

impl LobbyNode {
    async fn start(redis: &RedisServer, id: &str, group_size: usize) -> Self {
        let (server, mut events) = Server::bind("127.0.0.1:0", ServerConfig::default())
            .await
            .unwrap();
        let server = Arc::new(server);
        let addr = server.local_addr();
        let cluster = Cluster::start(cluster_config(redis, id), server.handle().clone())
            .await
            .unwrap();
        let (tx, rx) = oneshot::channel::<String>();
        let id = id.to_owned();
        let task = tokio::spawn(async move {
            let mut lobby = Lobby::<Talk>::clustered(LobbyConfig::new(group_size), (), id);
            let mut config = ClusterLobbyConfig::default();
            config.check_nodes_every = Duration::from_millis(100);
            let reason = async move { rx.await.unwrap_or_else(|_| "test over".into()) };
            run(&server, &mut events, &mut lobby, cluster, &config, reason).await
        });
        Self {
            addr,
            shutdown: Some(tx),
            task,
        }
    }

    /// Shuts down cleanly and waits for it.
    async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send("test over".into());
        }
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the node stops within the timeout")
            .unwrap()
            .unwrap();
    }

    /// Dies: no shutdown, no leaving the cluster (its heartbeat stops, as under SIGKILL).
    fn kill(self) {
        self.task.abort();
    }
}

/// Logs in as `name`, reading lobby messages until the welcome.
async fn login(peer: &mut Peer, name: &str) -> Welcome {
    peer.login_as(name);
    peer.expect_skipping_updates(Welcome::ACTION)
        .await
        .decode()
        .unwrap()
}

/// The live nodes, as an observer joined for the question sees them (itself left out).
async fn live_nodes(redis: &RedisServer) -> HashSet<String> {
    let observer = Node::join(cluster_config(redis, "observer")).await.unwrap();
    let live = observer
        .nodes()
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.id)
        .filter(|id| id != "observer")
        .collect();
    observer.leave().await.unwrap();
    live
}

/// Waits for `game_start`, skipping the welcome and lobby updates.
async fn game_start(peer: &mut Peer) -> GameStart {
    loop {
        let msg = peer.next().await;
        match msg.action() {
            "welcome" | "lobby" => {}
            _ => {
                assert_eq!(msg.action(), GameStart::ACTION, "{:?}", msg.to_value());
                return msg.decode().unwrap();
            }
        }
    }
}

/// The node (by id) whose registry entry has sessions booked or running.
async fn hosts(redis: &RedisServer, ids: &[&str]) -> Vec<String> {
    let client = redis::Client::open(redis.url().as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut hosts = Vec::new();
    for id in ids {
        let (sessions, booked): (Option<u64>, Option<u64>) = redis::cmd("HMGET")
            .arg(format!("podnet:node:{id}"))
            .arg("sessions")
            .arg("booked")
            .query_async(&mut conn)
            .await
            .unwrap();
        if sessions.unwrap_or(0) + booked.unwrap_or(0) > 0 {
            hosts.push((*id).to_owned());
        }
    }
    hosts
}

/// Three nodes, a player on each: they are grouped together, play one session (each
/// line reaches everyone, in order), go back to the lobby after it, and play again.
/// Names are unique across the nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn players_of_three_nodes_play_one_session_and_return_to_the_lobby() {
    let redis = RedisServer::start().unwrap();
    let ids = ["a", "b", "c"];
    let mut nodes = Vec::new();
    for id in ids {
        nodes.push(LobbyNode::start(&redis, id, 3).await);
    }
    let mut ada = Peer::connect(nodes[0].addr).await;
    let mut bob = Peer::connect(nodes[1].addr).await;
    // cyd speaks as a repod client does (no podnet hello): it plays the same.
    let mut repod = ClientConfig::default();
    repod.hello = false;
    let mut cyd = Peer::connect_with(nodes[2].addr, repod).await;
    login(&mut ada, "ada").await;

    // Another node's player cannot take ada's name, whatever its case.
    let mut copy = Peer::connect(nodes[1].addr).await;
    copy.login_as("ADA");
    let refused: LoginRefused = copy.expect("login_refused").await.decode().unwrap();
    assert_eq!(refused.reason, "the name is taken");
    drop(copy);

    login(&mut bob, "bob").await;
    login(&mut cyd, "cyd").await;
    let players = [&mut ada, &mut bob, &mut cyd];
    let mut starts = Vec::new();
    for peer in players {
        starts.push(peer.game_start().await);
    }
    // One session, the same group for all (in the order the queue got them: each node
    // queues its player after welcoming it), each player in their own seat.
    let group = starts[0].players.clone();
    assert!(
        starts
            .iter()
            .all(|s| s.session == starts[0].session && s.players == group)
    );
    let mut sorted = group.clone();
    sorted.sort();
    assert_eq!(sorted, ["ada", "bob", "cyd"]);
    for (start, name) in starts.iter().zip(["ada", "bob", "cyd"]) {
        assert_eq!(group[start.seat], name);
    }
    let hosted = hosts(&redis, &ids).await;
    assert_eq!(hosted.len(), 1, "one node runs the session: {hosted:?}");

    // Every line reaches everyone, in each sender's order, counted by the one session.
    for round in 0..5 {
        for (peer, who) in [(&ada, "ada"), (&bob, "bob"), (&cyd, "cyd")] {
            peer.send(&Say {
                text: format!("{who} {round}"),
            });
        }
    }
    for peer in [&mut ada, &mut bob, &mut cyd] {
        let mut next = [0u32; 3];
        for _ in 0..15 {
            let said: Said = peer.expect("said").await.decode().unwrap();
            let who = group[said.seat].as_str();
            assert_eq!(said.text, format!("{who} {}", next[said.seat]));
            next[said.seat] += 1;
        }
        assert_eq!(next, [5, 5, 5]);
    }

    // The session ends: everyone is told, and is back in the lobby, on their own node.
    bob.send(&Finish {});
    for peer in [&mut ada, &mut bob, &mut cyd] {
        let over: GameOver = peer.expect(GameOver::ACTION).await.decode().unwrap();
        assert_eq!(over.result, "bob finished after 15 lines");
        assert_eq!(over.session, starts[0].session);
        peer.expect_skipping_updates(Welcome::ACTION).await;
    }
    // ... and grouped again.
    let mut again = Vec::new();
    for peer in [&mut ada, &mut bob, &mut cyd] {
        again.push(peer.game_start().await);
    }
    assert!(again.iter().all(|s| s.session == again[0].session));
    let mut names: Vec<String> = again[0].players.clone();
    names.sort();
    assert_eq!(names, ["ada", "bob", "cyd"]);
    cyd.send(&Say { text: "hi".into() });
    for peer in [&mut ada, &mut bob, &mut cyd] {
        let said: Said = peer.expect("said").await.decode().unwrap();
        assert_eq!(said.text, "hi");
    }

    // A player who leaves is a leave in the session, wherever it runs.
    let cyd_seat = again[2].seat;
    drop(cyd);
    for peer in [&mut ada, &mut bob] {
        let left: Left = peer.expect("left").await.decode().unwrap();
        assert_eq!(left.seat, cyd_seat);
    }
    drop((ada, bob));
    for node in nodes {
        node.stop().await;
    }
}

/// 60 players spread over three nodes, in groups of 3: every player is in exactly one
/// session, every session has 3 players, and the sessions spread over the nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_players_over_three_nodes_form_whole_groups_once() {
    let redis = RedisServer::start().unwrap();
    let ids = ["a", "b", "c"];
    let mut nodes = Vec::new();
    for id in ids {
        nodes.push(LobbyNode::start(&redis, id, 3).await);
    }
    let mut peers = Vec::new();
    for i in 0..60 {
        let peer = Peer::connect(nodes[i % 3].addr).await;
        peer.login_as(&format!("p{i}"));
        peers.push(peer);
    }
    let mut groups: std::collections::HashMap<Vec<String>, usize> = Default::default();
    for (i, peer) in peers.iter_mut().enumerate() {
        let start = game_start(peer).await;
        assert_eq!(start.players[start.seat], format!("p{i}"));
        *groups.entry(start.players).or_default() += 1;
    }
    assert_eq!(groups.len(), 20, "20 groups of 3");
    let mut everyone = HashSet::new();
    for (group, seen) in &groups {
        assert_eq!(*seen, 3, "each of {group:?} saw it start");
        for name in group {
            assert!(everyone.insert(name.clone()), "{name} is in one group");
        }
    }
    let hosted = hosts(&redis, &ids).await;
    assert!(
        hosted.len() >= 2,
        "sessions spread over the nodes: {hosted:?}"
    );
    drop(peers);
    for node in nodes {
        node.stop().await;
    }
}

/// The node running a session dies: its players on the other nodes are told, and go back
/// to their own node's lobby, where they are grouped again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn players_of_a_session_on_a_node_that_dies_go_back_to_the_lobby() {
    let redis = RedisServer::start().unwrap();
    let ids = ["a", "b", "c"];
    let mut nodes: Vec<Option<LobbyNode>> = Vec::new();
    for id in ids {
        nodes.push(Some(LobbyNode::start(&redis, id, 2).await));
    }
    // Players on a and b; the session runs on whichever node is least loaded.
    let addr = |i: usize, nodes: &[Option<LobbyNode>]| nodes[i].as_ref().unwrap().addr;
    let mut ada = Peer::connect(addr(0, &nodes)).await;
    let mut bob = Peer::connect(addr(1, &nodes)).await;
    login(&mut ada, "ada").await;
    login(&mut bob, "bob").await;
    let session = ada.game_start().await.session;
    assert_eq!(bob.game_start().await.session, session);
    let hosted = hosts(&redis, &ids).await;
    assert_eq!(hosted.len(), 1, "{hosted:?}");
    let host = ids.iter().position(|id| *id == hosted[0]).unwrap();

    let died = Instant::now();
    nodes[host].take().unwrap().kill();
    // Everyone of that session on another node is told, and is back in the lobby.
    let mut told = Vec::new();
    for (peer, home) in [(&mut ada, 0), (&mut bob, 1)] {
        if home == host {
            continue;
        }
        let over: GameOver = peer
            .expect_skipping_said(GameOver::ACTION)
            .await
            .decode()
            .unwrap();
        assert_eq!(over.session, session);
        assert_eq!(over.result, "the server running this game stopped");
        peer.expect_skipping_updates(Welcome::ACTION).await;
        told.push(home);
    }
    assert!(!told.is_empty());
    // Within the TTL (600 ms) and a check (100 ms), with room for a loaded machine.
    assert!(died.elapsed() < WAIT);

    // A new player on a live node plays with a player told: the lobby works on.
    let live = (0..3).find(|i| *i != host).unwrap();
    let mut cyd = Peer::connect(addr(live, &nodes)).await;
    login(&mut cyd, "cyd").await;
    let start = cyd.game_start().await;
    assert!(start.players.contains(&"cyd".to_owned()));
    drop((ada, bob, cyd));
    for node in nodes.into_iter().flatten() {
        node.stop().await;
    }
}

/// A player's home node dies mid-session: the session, on another node, loses that
/// player as if they left (its game's on_leave), and the others play on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_loses_the_players_of_a_node_that_dies() {
    let redis = RedisServer::start().unwrap();
    let ids = ["a", "b"];
    let a = LobbyNode::start(&redis, "a", 2).await;
    let b = LobbyNode::start(&redis, "b", 2).await;
    let mut ada = Peer::connect(a.addr).await;
    let mut bob = Peer::connect(b.addr).await;
    login(&mut ada, "ada").await;
    login(&mut bob, "bob").await;
    let start = ada.game_start().await;
    bob.game_start().await;
    // One of the two nodes runs the session; the other one dies.
    let hosted = hosts(&redis, &ids).await;
    let (host, other, host_peer, other_name, other_id) = if hosted == ["a"] {
        (a, b, &mut ada, "bob", "b")
    } else {
        assert_eq!(hosted, ["b"]);
        (b, a, &mut bob, "ada", "a")
    };
    let other_seat = start.players.iter().position(|n| n == other_name).unwrap();
    other.kill();
    let left: Left = host_peer
        .expect_skipping_said("left")
        .await
        .decode()
        .unwrap();
    assert_eq!(left.seat, other_seat);
    // The one left plays on, and ends the session.
    host_peer.send(&Say {
        text: "alone".into(),
    });
    let said: Said = host_peer.expect("said").await.decode().unwrap();
    assert_eq!(said.text, "alone");
    host_peer.send(&Finish {});
    host_peer.expect(GameOver::ACTION).await;
    drop((ada, bob));
    host.stop().await;
    // The session noticed because the dead node is gone from the registry.
    let live = live_nodes(&redis).await;
    assert!(!live.contains(other_id), "{live:?}");
}

/// Redis restarts (empty) while a player waits: once it is back, the waiting player is
/// queued again by their node, and grouped with a player who logs in on another node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_waiting_through_a_redis_restart_is_grouped_after() {
    let mut redis = RedisServer::start().unwrap();
    let a = LobbyNode::start(&redis, "a", 2).await;
    let b = LobbyNode::start(&redis, "b", 2).await;
    let mut ada = Peer::connect(a.addr).await;
    login(&mut ada, "ada").await;
    redis.stop();
    redis.start_again().unwrap();

    // Logging in needs the cluster: refused ("try again") until it is back.
    let mut bob = Peer::connect(b.addr).await;
    let deadline = Instant::now() + WAIT;
    loop {
        bob.login_as("bob");
        let msg = bob.next().await;
        if msg.action() == Welcome::ACTION {
            break;
        }
        let refused: LoginRefused = msg.decode().unwrap();
        assert!(refused.reason.contains("try again"), "{}", refused.reason);
        assert!(
            Instant::now() < deadline,
            "the cluster is back within {WAIT:?}"
        );
        tokio::task::yield_now().await;
    }
    let start = game_start(&mut ada).await;
    assert_eq!(game_start(&mut bob).await.session, start.session);
    let mut names = start.players.clone();
    names.sort();
    assert_eq!(names, ["ada", "bob"]);
    drop((ada, bob));
    a.stop().await;
    b.stop().await;
}

/// A `pump()` lobby (LobbyServer, the game loop on its own thread) is a node like any:
/// its player and an async node's are grouped, play, and return to their lobbies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pump_lobby_server_is_a_node_too() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let redis = RedisServer::start().unwrap();
    let mut lobby_cluster = ClusterLobbyConfig::default();
    lobby_cluster.check_nodes_every = Duration::from_millis(100);
    let (addr_tx, addr_rx) = oneshot::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let game_loop = {
        let stop = stop.clone();
        let cluster = cluster_config(&redis, "pumped");
        std::thread::spawn(move || {
            let mut server = podnet_lobby::LobbyServer::<Talk>::start_clustered(
                "127.0.0.1:0",
                ServerConfig::default(),
                LobbyConfig::new(2),
                (),
                cluster,
                &lobby_cluster,
            )
            .unwrap();
            addr_tx.send(server.local_addr()).unwrap();
            // The game loop: one pump per frame.
            while !stop.load(Ordering::Relaxed) {
                server.pump_timeout(Duration::from_millis(5));
            }
            server.shutdown("test over");
        })
    };
    let pumped = addr_rx.await.unwrap();
    let b = LobbyNode::start(&redis, "b", 2).await;
    let mut ada = Peer::connect(pumped).await;
    let mut bob = Peer::connect(b.addr).await;
    login(&mut ada, "ada").await;
    login(&mut bob, "bob").await;
    let start = game_start(&mut ada).await;
    assert_eq!(game_start(&mut bob).await.session, start.session);
    ada.send(&Say {
        text: "from the game loop".into(),
    });
    bob.send(&Say {
        text: "from async".into(),
    });
    for peer in [&mut ada, &mut bob] {
        let mut texts = Vec::new();
        for _ in 0..2 {
            let said: Said = peer.expect("said").await.decode().unwrap();
            texts.push(said.text);
        }
        texts.sort();
        assert_eq!(texts, ["from async", "from the game loop"]);
    }
    ada.send(&Finish {});
    for peer in [&mut ada, &mut bob] {
        peer.expect(GameOver::ACTION).await;
        peer.expect_skipping_updates(Welcome::ACTION).await;
    }
    drop((ada, bob));
    stop.store(true, Ordering::Relaxed);
    tokio::task::spawn_blocking(move || game_loop.join().unwrap())
        .await
        .unwrap();
    b.stop().await;
    // The pumped node left the cluster as it shut down.
    let live = live_nodes(&redis).await;
    assert!(!live.contains("pumped"), "{live:?}");
}

/// A player whose connection drops in a session running on another node keeps their
/// seat: the game there hears `on_dropped` then `on_resumed` (through the player's own
/// node), and what was said meanwhile reaches the player once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_dropping_in_a_session_on_another_node_keeps_their_seat() {
    let redis = RedisServer::start().unwrap();
    let a = LobbyNode::start(&redis, "a", 2).await;
    let b = LobbyNode::start(&redis, "b", 2).await;
    let proxy = Proxy::start(a.addr, 31).unwrap();
    let mut client = ClientConfig::default();
    let mut resume = ResumeConfig::default();
    resume.initial_backoff = Duration::from_millis(5);
    resume.max_backoff = Duration::from_millis(50);
    client.resume = Some(resume);
    let mut ada = Peer::connect_with(proxy.addr(), client).await;
    let mut bob = Peer::connect(b.addr).await;
    login(&mut ada, "ada").await;
    login(&mut bob, "bob").await;
    let ada_seat = game_start(&mut ada).await.seat;
    game_start(&mut bob).await;
    // Wherever the session runs, one of the two takes part through their own node.
    assert_eq!(hosts(&redis, &["a", "b"]).await.len(), 1);

    // ada is kept away (its redials find nothing behind the proxy) until bob's line
    // has reached the session.
    let nowhere = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    proxy.retarget(nowhere);
    proxy.cut(Cut::Both);
    let away: common::Away = bob.expect("away").await.decode().unwrap();
    assert_eq!((away.seat, away.away), (ada_seat, true));
    bob.send(&Say {
        text: "are you there?".into(),
    });
    bob.expect_skipping_said_until("are you there?").await;
    proxy.retarget(a.addr);
    let back: common::Away = bob.expect_skipping_said("away").await.decode().unwrap();
    assert_eq!((back.seat, back.away), (ada_seat, false));
    // ada gets, once and in order: its own away notice, the line, and its return.
    let got: common::Away = ada.expect("away").await.decode().unwrap();
    assert!(got.away);
    let said: Said = ada.expect("said").await.decode().unwrap();
    assert_eq!(said.text, "are you there?");
    let got: common::Away = ada.expect("away").await.decode().unwrap();
    assert!(!got.away);
    ada.send(&Say {
        text: "back".into(),
    });
    let said = bob.expect_skipping_said_until("back").await;
    assert_eq!(said.seat, ada_seat);
    // The session ends (a resumable player who just vanished would hold it, and the
    // nodes' shutdown, for their grace).
    bob.send(&Finish {});
    for peer in [&mut ada, &mut bob] {
        peer.expect_skipping_said(GameOver::ACTION).await;
    }
    drop((ada, bob, proxy));
    a.stop().await;
    b.stop().await;
}

//! The cluster against a real `redis-server` (started per test on a free loopback port,
//! persistence off): the node registry with its TTL, and names unique cluster-wide.
//! Run by `cargo xtask cluster`, which installs redis-server when missing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use podnet_cluster::{ClusterConfig, ClusterError, Load, Node};
use podnet_testkit::RedisServer;

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

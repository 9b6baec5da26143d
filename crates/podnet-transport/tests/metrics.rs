//! The server's figures: `Server::stats`, and `/metrics`, `/healthz`, `/readyz` over
//! HTTP, checked against traffic the test made; and a drain with a client mid-game.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{Echo, RawPeer, WAIT, next_client_message, next_server_event};
use podnet_testkit::http_get as get;
use podnet_transport::{
    Client, ClientConfig, ConnectionId, EventStream, Frame, MetricsConfig, Server, ServerConfig,
    ServerEvent,
};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// The samples of a metrics text: `name{labels}` → value.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// Echoes every message back until told to stop; returns the ids that connected.
async fn echo_until(
    server: &Server,
    events: &mut EventStream<ServerEvent>,
    messages: usize,
) -> Vec<ConnectionId> {
    let mut seen = 0;
    let mut ids = Vec::new();
    while seen < messages {
        match next_server_event(events).await {
            ServerEvent::Connected { id, .. } => ids.push(id),
            ServerEvent::Message { id, message } => {
                server
                    .send(id, &Frame::from_message(&message).unwrap())
                    .unwrap();
                seen += 1;
            }
            _ => {}
        }
    }
    ids
}

/// The client's next message that is not the server's `connected` greeting.
async fn next_message(
    events: &mut EventStream<podnet_transport::ClientEvent>,
) -> podnet_framing::RawMessage {
    loop {
        let msg = next_client_message(events).await;
        if msg.action() != "connected" {
            return msg;
        }
    }
}

fn config_with_metrics() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.metrics = Some(MetricsConfig::on("127.0.0.1:0".parse().unwrap()));
    // Heartbeats often enough to measure round trips in a test.
    config.connection.liveness.heartbeat_interval = Some(Duration::from_millis(20));
    config
}

/// The counts match the traffic: a podnet client and a repod peer each send 10 messages
/// that the server echoes; connections by peer and transport, messages and bytes each
/// way, round trips, and disconnects by reason, in `stats()` and in `/metrics`.
#[tokio::test]
async fn stats_and_metrics_count_the_traffic() {
    let (server, mut events) = Server::bind("127.0.0.1:0", config_with_metrics())
        .await
        .unwrap();
    let metrics = server
        .metrics_addr()
        .expect("metrics on a port of their own");
    let mut client_config = ClientConfig::default();
    client_config.connection.liveness.heartbeat_interval = Some(Duration::from_millis(20));
    let (client, mut client_events) = Client::connect(server.local_addr(), client_config)
        .await
        .unwrap();
    let mut repod = RawPeer::connect(server.local_addr()).await;
    let mut bytes_in = 0;
    for n in 0..10 {
        let frame = Frame::encode(&Echo { n }, &Default::default()).unwrap();
        bytes_in += 2 * frame.as_bytes().len();
        client.send(&frame).unwrap();
        repod.send("echo", &Echo { n }).await;
    }
    echo_until(&server, &mut events, 20).await;
    for _ in 0..10 {
        assert_eq!(next_message(&mut client_events).await.action(), "echo");
        assert_eq!(
            repod.recv_skipping_connected().await.unwrap().action(),
            "echo"
        );
    }
    // Round trips, measured by the heartbeat of the podnet client's connection.
    let deadline = Instant::now() + WAIT;
    while server.stats().rtt.samples < 3 {
        assert!(Instant::now() < deadline, "no round trips measured");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let stats = server.stats();
    let c = stats.connections;
    assert_eq!(
        (c.total, c.podnet, c.repod, c.tcp, c.websocket),
        (2, 1, 1, 2, 0)
    );
    assert_eq!(stats.connected, 2);
    assert_eq!(stats.messages_in, 20);
    assert_eq!(stats.bytes_in, bytes_in as u64);
    assert_eq!((stats.messages_out, stats.bytes_out), (20, bytes_in as u64));
    assert!(stats.rtt.p50 > Duration::ZERO && stats.rtt.p50 <= stats.rtt.max);
    assert!(stats.accepting && !stats.draining);

    let (status, text) = get(metrics, "/metrics").await;
    assert_eq!(status, 200);
    let s = samples(&text);
    assert_eq!(s["podnet_messages_received_total"], 20.0);
    assert_eq!(s["podnet_received_bytes_total"], bytes_in as f64);
    assert_eq!(s["podnet_messages_sent_total"], 20.0);
    assert_eq!(s["podnet_connections{transport=\"tcp\"}"], 2.0);
    assert_eq!(s["podnet_peers{peer=\"repod\"}"], 1.0);
    assert!(s["podnet_rtt_seconds_count"] >= 3.0, "{text}");
    assert_eq!(s["podnet_ready"], 1.0);

    // A broadcast counts one message for each connection it reached.
    let news = Frame::encode(&Echo { n: 99 }, &Default::default()).unwrap();
    assert_eq!(server.send_to_all(&news).unwrap(), 2);

    // Both leave: two disconnects, by the peer.
    drop(client);
    drop(repod);
    let mut left = 0;
    while left < 2 {
        if let ServerEvent::Disconnected { .. } = next_server_event(&mut events).await {
            left += 1;
        }
    }
    let stats = server.stats();
    assert_eq!(stats.connections.total, 0);
    // What connections carried is still counted once they are gone.
    let broadcast = 2 * news.as_bytes().len() as u64;
    assert_eq!(
        (
            stats.messages_in,
            stats.bytes_in,
            stats.messages_out,
            stats.bytes_out
        ),
        (20, bytes_in as u64, 22, bytes_in as u64 + broadcast)
    );
    let disconnects: u64 = stats.disconnects.iter().map(|(_, n)| n).sum();
    assert_eq!(disconnects, 2);
    let s = samples(&get(metrics, "/metrics").await.1);
    let by_reason: f64 = s
        .iter()
        .filter(|(name, _)| name.starts_with("podnet_disconnects_total{"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(by_reason, 2.0);
}

/// A drain: `/readyz` turns 503 ("draining") while `/healthz` stays 200, new clients are
/// refused, and a client mid-game plays on until it leaves; then the shutdown is clean.
#[tokio::test]
async fn a_drain_stops_new_players_and_lets_the_game_finish() {
    let (server, mut events) = Server::bind("127.0.0.1:0", config_with_metrics())
        .await
        .unwrap();
    let metrics = server.metrics_addr().unwrap();
    let (client, mut client_events) = Client::connect(server.local_addr(), ClientConfig::default())
        .await
        .unwrap();
    client.send(&Echo { n: 1 }).unwrap();
    echo_until(&server, &mut events, 1).await;
    next_message(&mut client_events).await;
    assert_eq!(get(metrics, "/readyz").await, (200, "ready\n".to_owned()));

    server.drain("deploying 1.2");
    assert_eq!(
        get(metrics, "/readyz").await,
        (503, "draining\n".to_owned())
    );
    assert_eq!(get(metrics, "/healthz").await.0, 200);
    assert!(server.stats().draining);
    assert_eq!(
        samples(&get(metrics, "/metrics").await.1)["podnet_ready"],
        0.0
    );
    // Nobody new gets in.
    let refused = tokio::time::timeout(WAIT, async {
        loop {
            match TcpStream::connect(server.local_addr()).await {
                Err(_) => return,
                // The listener may still be closing: a connection it never serves ends.
                Ok(mut stream) => {
                    let mut byte = [0u8; 1];
                    if matches!(
                        tokio::time::timeout(Duration::from_millis(200), stream.read(&mut byte))
                            .await,
                        Ok(Ok(0) | Err(_))
                    ) {
                        return;
                    }
                }
            }
        }
    })
    .await;
    assert!(refused.is_ok(), "a new client was let in while draining");

    // The player mid-game plays on.
    client.send(&Echo { n: 2 }).unwrap();
    echo_until(&server, &mut events, 1).await;
    let echo: Echo = next_message(&mut client_events).await.decode().unwrap();
    assert_eq!(echo.n, 2);
    assert_eq!(server.connection_count(), 1);
    drop(client);
    while server.connection_count() > 0 {
        next_server_event(&mut events).await;
    }
    let report = server.shutdown("drained", Duration::from_secs(5)).await;
    assert!(report.clean);
}

/// On the game's own port (WebSocket on, as by default) the figures answer beside the
/// players only under the secret; health and readiness answer at the root, for load
/// balancers. A server without metrics answers 404 there.
#[tokio::test]
async fn endpoints_on_the_game_port() {
    const SECRET: &str = "kq3XZ7mWv9pD2sLr8tYc";
    let mut config = ServerConfig::default();
    config.metrics = Some(MetricsConfig::on_game_port(SECRET));
    let (server, _events) = Server::bind("127.0.0.1:0", config).await.unwrap();
    let addr = server.local_addr();
    assert_eq!(server.metrics_addr(), None);
    // Without the secret, or with another, the figures are not there.
    for path in [
        "/metrics",
        "/monitor",
        "/kq3XZ7mWv9pD2sLr8tYd/metrics",
        "/kq3XZ7mWv9pD2sLr8tY/metrics",
        "//metrics",
    ] {
        let (status, text) = get(addr, path).await;
        assert_eq!(status, 404, "{path}: {text}");
        assert!(!text.contains("podnet_"), "{path}: {text}");
    }
    let metrics = format!("/{SECRET}/metrics");
    let (status, text) = get(addr, &metrics).await;
    assert_eq!(status, 200);
    assert!(text.contains("podnet_messages_received_total 0"), "{text}");
    let (status, page) = get(addr, &format!("/{SECRET}/monitor")).await;
    assert_eq!(status, 200);
    // The page asks for its figures relative to where it is: under the secret too.
    assert!(page.contains(r#"fetch("metrics""#), "{page}");
    assert_eq!(get(addr, "/healthz").await.0, 200);
    assert_eq!(get(addr, "/readyz").await.0, 200);
    // The game's own figures, beside the server's.
    assert!(server.set_gauge("rooms_open", 3.0));
    assert!(!server.set_gauge("rooms open", 1.0));
    assert!(!server.set_gauge("9lives", 1.0));
    let (_, text) = get(addr, &metrics).await;
    assert_eq!(samples(&text)["podnet_game_rooms_open"], 3.0, "{text}");
    server.remove_gauge("rooms_open");
    let (_, text) = get(addr, &metrics).await;
    assert!(!text.contains("rooms_open"), "{text}");

    let (plain, _events) = Server::bind("127.0.0.1:0", ServerConfig::default())
        .await
        .unwrap();
    assert_eq!(get(plain.local_addr(), "/metrics").await.0, 404);

    // Metrics on the game port need HTTP there, and a secret worth the name.
    let mut config = ServerConfig::default();
    config.websocket = None;
    config.metrics = Some(MetricsConfig::on_game_port(SECRET));
    let err = Server::bind("127.0.0.1:0", config).await.unwrap_err();
    assert!(err.to_string().contains("websocket"), "{err}");
    for (secret, says) in [(None, "need a secret"), (Some("short"), "at least 16")] {
        let mut metrics = MetricsConfig::on_game_port("");
        metrics.secret = secret.map(str::to_owned);
        let mut config = ServerConfig::default();
        config.metrics = Some(metrics);
        let err = Server::bind("127.0.0.1:0", config).await.unwrap_err();
        assert!(err.to_string().contains(says), "{err}");
    }
    let mut config = ServerConfig::default();
    config.metrics = Some(MetricsConfig::on_game_port("a/b/c/d/e/f/g/h/i/j"));
    assert!(Server::bind("127.0.0.1:0", config).await.is_err());
}

/// By default the figures are on a port of their own on this machine, and the game's
/// port does not answer them at all, under any path.
#[tokio::test]
async fn by_default_the_figures_stay_on_this_machine() {
    let default = MetricsConfig::default();
    assert_eq!(default.listen, Some(podnet_transport::DEFAULT_METRICS_ADDR));
    assert!(podnet_transport::DEFAULT_METRICS_ADDR.ip().is_loopback());
    // The default's own port, moved to port 0 so that tests can run side by side.
    let mut metrics = default;
    metrics.listen = Some("127.0.0.1:0".parse().unwrap());
    let mut config = ServerConfig::default();
    config.metrics = Some(metrics);
    let (server, _events) = Server::bind("127.0.0.1:0", config).await.unwrap();
    let metrics_addr = server.metrics_addr().expect("a port of their own");
    assert!(metrics_addr.ip().is_loopback());
    assert_eq!(get(metrics_addr, "/metrics").await.0, 200);
    for path in ["/metrics", "/monitor", "/anything-at-all-here/metrics"] {
        assert_eq!(get(server.local_addr(), path).await.0, 404, "{path}");
    }
}

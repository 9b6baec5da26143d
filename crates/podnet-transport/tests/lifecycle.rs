//! Shutdown, liveness and the connection cap.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{Echo, RawPeer, close_reason, next_client_event, next_server_event};
use podnet_transport::{
    Client, ClientConfig, ClientEvent, DisconnectReason, Frame, Server, ServerConfig, ServerEvent,
};

/// Shutdown delivers what was sent and then the reason to every client (podnet and raw),
/// reports each disconnect, and finishes well within its timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_delivers_reasons_to_every_client() {
    common::trace();
    let (server, mut events) = Server::bind("127.0.0.1:0", ServerConfig::default())
        .await
        .unwrap();
    let mut clients = Vec::new();
    for _ in 0..20 {
        clients.push(
            Client::connect(server.local_addr(), ClientConfig::default())
                .await
                .unwrap(),
        );
    }
    let raws = vec![
        RawPeer::connect(server.local_addr()).await,
        RawPeer::connect(server.local_addr()).await,
    ];
    let mut ids = HashSet::new();
    while ids.len() < 22 {
        if let ServerEvent::Connected { id, .. } = next_server_event(&mut events).await {
            ids.insert(id);
        }
    }
    for n in 0..100 {
        assert_eq!(server.send_to_all(&Echo { n }).unwrap(), 22);
    }

    // The raw peers read as real clients do, until the server closes.
    let raw_readers: Vec<_> = raws
        .into_iter()
        .map(|mut raw| tokio::spawn(async move { raw.recv_until_eof().await }))
        .collect();

    let started = Instant::now();
    let report = server.shutdown("maintenance", Duration::from_secs(5)).await;
    assert_eq!(report.connections, 22);
    assert!(report.clean);
    assert!(started.elapsed() < Duration::from_secs(5));
    // Shutdown returns once every connection has finished, so all 22 disconnects are in.
    let mut gone = HashSet::new();
    while let Some(event) = events.try_recv() {
        if let ServerEvent::Disconnected { id, reason } = event {
            assert_eq!(
                reason,
                DisconnectReason::Shutdown {
                    reason: "maintenance".into()
                }
            );
            gone.insert(id);
        }
    }
    assert_eq!(gone, ids);
    assert_eq!(server.connection_count(), 0);

    for (_client, mut client_events) in clients {
        let mut echoes = 0;
        loop {
            match next_client_event(&mut client_events).await {
                ClientEvent::Message(msg) if msg.action() == "echo" => {
                    assert_eq!(msg.decode::<Echo>().unwrap().n, echoes);
                    echoes += 1;
                }
                ClientEvent::Disconnected(reason) => {
                    assert_eq!(
                        reason,
                        DisconnectReason::PeerClosed {
                            reason: Some("maintenance".into())
                        }
                    );
                    break;
                }
                _ => {}
            }
        }
        assert_eq!(echoes, 100);
    }
    for reader in raw_readers {
        let seen = reader.await.unwrap();
        assert_eq!(seen.len(), 1 + 100 + 1, "greeting, 100 echoes, the close");
        assert_eq!(
            close_reason(seen.last().unwrap()).as_deref(),
            Some("maintenance")
        );
    }
}

/// A client that never reads cannot hold a shutdown past its timeout: it is cut and
/// reported as aborted, and the shutdown says it was not clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cuts_what_does_not_finish_in_time() {
    common::trace();
    let (server, mut events) = Server::bind("127.0.0.1:0", ServerConfig::default())
        .await
        .unwrap();
    let _stuck = RawPeer::connect(server.local_addr()).await; // never reads
    let ServerEvent::Connected { id, .. } = next_server_event(&mut events).await else {
        panic!("expected Connected");
    };
    // Far more than the socket buffers hold, queued within the queue limit a frame at a time.
    let big = Frame::encode_with_action(
        "big",
        &std::collections::HashMap::from([("data", "x".repeat(1000 * 1000))]),
        server.framing(),
    )
    .unwrap();
    for _ in 0..8 {
        // Each send waits for the writer to make room, until the socket buffers are full.
        if tokio::time::timeout(Duration::from_millis(500), server.send_frame_wait(id, &big))
            .await
            .is_err()
        {
            break;
        }
    }
    let timeout = Duration::from_millis(300);
    let started = Instant::now();
    let report = server.shutdown("bye", timeout).await;
    let took = started.elapsed();
    assert!(!report.clean);
    assert!(
        took >= timeout && took < timeout + Duration::from_secs(3),
        "{took:?}"
    );
    let reasons: Vec<_> = std::iter::from_fn(|| events.try_recv())
        .filter_map(|e| match e {
            ServerEvent::Disconnected { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(reasons, [DisconnectReason::Aborted]);
}

/// Between podnet peers the heartbeat measures round trips and times out a silent peer,
/// while a plain repod peer that is just as silent stays connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_times_out_silent_podnet_peers_only() {
    common::trace();
    let mut config = ServerConfig::default();
    config.connection.liveness.heartbeat_interval = Some(Duration::from_millis(50));
    config.connection.liveness.heartbeat_timeout = Duration::from_millis(400);
    let (server, mut events) = Server::bind("127.0.0.1:0", config.clone()).await.unwrap();

    let mut client_config = ClientConfig::default();
    client_config.connection = config.connection.clone();
    let (client, _client_events) = Client::connect(server.local_addr(), client_config)
        .await
        .unwrap();
    let mut repod = RawPeer::connect(server.local_addr()).await; // quiet, never says hello
    let mut silent_podnet = RawPeer::connect(server.local_addr()).await;
    silent_podnet
        .send(
            "podnet:hello",
            &std::collections::HashMap::from([("protocol", 1)]),
        )
        .await; // says hello, then never answers a ping

    let mut ids = Vec::new();
    while ids.len() < 3 {
        if let ServerEvent::Connected { id, .. } = next_server_event(&mut events).await {
            ids.push(id);
        }
    }
    let (client_id, repod_id, silent_id) = (ids[0], ids[1], ids[2]);

    match next_server_event(&mut events).await {
        ServerEvent::Disconnected { id, reason } => {
            assert_eq!(id, silent_id);
            assert_eq!(
                reason,
                DisconnectReason::TimedOut {
                    after: Duration::from_millis(400)
                }
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    // The silent podnet peer was pinged before it was dropped.
    let seen = silent_podnet.recv_until_eof().await;
    assert!(seen.iter().any(|m| m.action() == "podnet:hello"));
    assert!(seen.iter().any(|m| m.action() == "podnet:ping"));

    // By now well over the timeout has passed: the quiet repod peer is still here, and was
    // never sent a podnet message.
    assert_eq!(server.connection_ids(), [client_id, repod_id]);
    repod.send("echo", &Echo { n: 1 }).await;
    match next_server_event(&mut events).await {
        ServerEvent::Message { id, message } => {
            assert_eq!(id, repod_id);
            server
                .send_frame(id, &Frame::from_message(&message).unwrap())
                .unwrap();
        }
        other => panic!("unexpected {other:?}"),
    }
    let greeting = repod.recv().await.unwrap();
    assert_eq!(greeting.action(), "connected");
    assert_eq!(repod.recv().await.unwrap().action(), "echo");

    // The podnet client answered pings, so both sides know the round trip.
    let info = server.connection_info(client_id).unwrap();
    assert!(info.podnet_peer);
    assert!(info.rtt.is_some());
    assert!(client.info().podnet_peer);
    assert!(!server.connection_info(repod_id).unwrap().podnet_peer);
}

/// A client over the connection cap is told why and closed; the clients within it are
/// unaffected, and a freed slot is reused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_told_and_closed() {
    common::trace();
    let mut config = ServerConfig::default();
    config.max_connections = 2;
    let (server, mut events) = Server::bind("127.0.0.1:0", config).await.unwrap();
    let mut first = RawPeer::connect(server.local_addr()).await;
    let _second = RawPeer::connect(server.local_addr()).await;
    for _ in 0..2 {
        assert!(matches!(
            next_server_event(&mut events).await,
            ServerEvent::Connected { .. }
        ));
    }

    let mut third = RawPeer::connect(server.local_addr()).await;
    let seen = third.recv_until_eof().await;
    assert_eq!(seen.len(), 1);
    assert_eq!(close_reason(&seen[0]).as_deref(), Some("server full"));
    assert_eq!(server.rejected_count(), 1);
    assert_eq!(server.connection_count(), 2);

    // Free a slot: the next client gets in.
    tokio::io::AsyncWriteExt::shutdown(&mut first.stream)
        .await
        .ok();
    drop(first);
    assert!(matches!(
        next_server_event(&mut events).await,
        ServerEvent::Disconnected { .. }
    ));
    let mut fourth = RawPeer::connect(server.local_addr()).await;
    assert!(matches!(
        next_server_event(&mut events).await,
        ServerEvent::Connected { .. }
    ));
    assert_eq!(fourth.recv().await.unwrap().action(), "connected");
}

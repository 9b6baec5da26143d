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
        assert_eq!(
            seen.len(),
            2 + 100 + 1,
            "greeting (silent peers: the hello that says so, `connected`), 100 echoes, the close"
        );
        assert_eq!(
            close_reason(seen.last().unwrap()).as_deref(),
            Some("maintenance")
        );
    }
}

/// A client that never reads cannot hold a shutdown past its timeout: it is cut and
/// reported as aborted, and the shutdown says it was not clean. (Paused time: the timeouts
/// are exact, however loaded the machine.)
#[tokio::test(start_paused = true)]
async fn shutdown_cuts_what_does_not_finish_in_time() {
    common::trace();
    let (server, mut events) = Server::bind("127.0.0.1:0", ServerConfig::default())
        .await
        .unwrap();
    let mut stuck = RawPeer::connect(server.local_addr()).await; // never reads
    stuck.send("hi", &Echo { n: 0 }).await;
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
        if tokio::time::timeout(Duration::from_millis(500), server.send_wait(id, &big))
            .await
            .is_err()
        {
            break;
        }
    }
    let timeout = Duration::from_millis(300);
    let started = tokio::time::Instant::now();
    let report = server.shutdown("bye", timeout).await;
    let took = started.elapsed();
    assert!(!report.clean);
    assert_eq!(took, timeout);
    let reasons: Vec<_> = std::iter::from_fn(|| events.try_recv())
        .filter_map(|e| match e {
            ServerEvent::Disconnected { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(reasons, [DisconnectReason::Aborted]);
    drop(stuck);
}

/// With the default settings, between podnet peers the heartbeat measures round trips and
/// times out a peer that says hello and then nothing; a plain repod peer that never says
/// anything at all is kept for hours, past every default timeout, and still gets what is
/// broadcast. (Paused time: three hours pass in an instant, every timer of the server and
/// the client firing on the way.)
#[tokio::test(start_paused = true)]
async fn quiet_repod_peers_stay_silent_podnet_peers_time_out() {
    common::trace();
    let config = ServerConfig::default();
    let (server, mut events) = Server::bind("127.0.0.1:0", config.clone()).await.unwrap();
    let started = tokio::time::Instant::now();
    let (client, _client_events) = Client::connect(server.local_addr(), ClientConfig::default())
        .await
        .unwrap();
    let mut repod = RawPeer::connect(server.local_addr()).await; // quiet, never says hello
    let mut silent_podnet = RawPeer::connect(server.local_addr()).await;
    silent_podnet
        .send(
            "podnet:hello",
            &std::collections::HashMap::from([("protocol", podnet_transport::PROTOCOL_VERSION)]),
        )
        .await; // says hello, then never answers a ping

    let mut ids = std::collections::HashMap::new();
    while ids.len() < 3 {
        if let ServerEvent::Connected {
            id,
            peer,
            handshake,
        } = next_server_event(&mut events).await
        {
            ids.insert(peer, (id, handshake));
        }
    }
    let (client_id, client_hs) = ids[&client.local_addr()].clone();
    let (repod_id, repod_hs) = ids[&repod.stream.local_addr().unwrap()].clone();
    let (silent_id, silent_hs) = ids[&silent_podnet.stream.local_addr().unwrap()].clone();
    assert!(client_hs.is_podnet() && silent_hs.is_podnet());
    assert_eq!(repod_hs.peer, podnet_transport::Peer::Repod);

    // Longer than the common wait: paused time jumps there at once.
    match tokio::time::timeout(Duration::from_secs(60), events.recv()).await {
        Ok(Some(ServerEvent::Disconnected { id, reason })) => {
            assert_eq!(id, silent_id);
            assert_eq!(
                reason,
                DisconnectReason::TimedOut {
                    after: config.connection.liveness.heartbeat_timeout
                }
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    // Timed out 30 s after it was last heard from, to the tick.
    assert_eq!(started.elapsed(), Duration::from_secs(30));
    // The silent podnet peer was pinged every 5 s before it was dropped.
    let seen = silent_podnet.recv_until_eof().await;
    assert!(seen.iter().any(|m| m.action() == "podnet:hello"));
    assert_eq!(
        seen.iter().filter(|m| m.action() == "podnet:ping").count(),
        5
    );

    // Three hours on, the quiet repod peer is still here, and was sent nothing of podnet's
    // but the hello that told it it was settled (no ping).
    tokio::time::sleep(Duration::from_secs(3 * 3600)).await;
    assert_eq!(server.connection_ids(), [client_id, repod_id]);
    assert_eq!(server.send_to_all(&Echo { n: 7 }).unwrap(), 2);
    let greeting = repod.recv_greeting().await.unwrap();
    assert_eq!(greeting.action(), "connected");
    let broadcast = repod.recv().await.unwrap();
    assert_eq!(broadcast.decode::<Echo>().unwrap(), Echo { n: 7 });

    // The podnet client answered pings all along, so both sides know the round trip.
    let info = server.connection_info(client_id).unwrap();
    assert!(info.podnet_peer);
    assert!(info.rtt.is_some());
    assert!(client.info().podnet_peer);
    assert!(client.is_connected());
    assert!(!server.connection_info(repod_id).unwrap().podnet_peer);
}

/// A silent repod peer is settled as a classic connection after `hello_wait`, to the tick,
/// and only then greeted and reported; one that speaks first is settled at once.
#[tokio::test(start_paused = true)]
async fn silent_peers_are_settled_after_hello_wait() {
    // On a port that also takes WebSocket, a browser's first byte is awaited longer.
    let shared = ServerConfig::default();
    let (server, mut events) = Server::bind("127.0.0.1:0", shared.clone()).await.unwrap();
    let started = tokio::time::Instant::now();
    let mut silent = RawPeer::connect(server.local_addr()).await;
    assert!(matches!(
        next_server_event(&mut events).await,
        ServerEvent::Connected { .. }
    ));
    assert_eq!(started.elapsed(), shared.websocket.unwrap().hello_wait);
    assert_eq!(silent.recv_greeting().await.unwrap().action(), "connected");

    let mut config = ServerConfig::default();
    config.websocket = None;
    let (server, mut events) = Server::bind("127.0.0.1:0", config.clone()).await.unwrap();
    let started = tokio::time::Instant::now();
    let mut silent = RawPeer::connect(server.local_addr()).await;
    assert!(matches!(
        next_server_event(&mut events).await,
        ServerEvent::Connected { .. }
    ));
    assert_eq!(started.elapsed(), config.hello_wait);
    assert_eq!(silent.recv_greeting().await.unwrap().action(), "connected");

    let started = tokio::time::Instant::now();
    let mut talker = RawPeer::connect(server.local_addr()).await;
    talker.send("echo", &Echo { n: 1 }).await;
    assert!(matches!(
        next_server_event(&mut events).await,
        ServerEvent::Connected { .. }
    ));
    assert!(matches!(
        next_server_event(&mut events).await,
        ServerEvent::Message { .. }
    ));
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(talker.recv().await.unwrap().action(), "connected");
}

/// A rate-limited peer that sends 100 messages at once loses none and is paced: 20 at
/// once, then 80 at 200 a second, so the last arrives 0.4 s after the first, to the tick.
#[tokio::test(start_paused = true)]
async fn rate_limit_paces_exactly() {
    let mut config = ServerConfig::default();
    config.connection.rate_limit = Some(podnet_transport::RateLimit::new(200, 20));
    let (_server, mut events) = Server::bind("127.0.0.1:0", config).await.unwrap();
    let mut peer = RawPeer::connect(_server.local_addr()).await;
    let mut burst = Vec::new();
    for n in 0..100 {
        let mut frame = bytes::BytesMut::new();
        podnet_framing::encode_message(&Echo { n }, &mut frame, &Default::default()).unwrap();
        burst.extend_from_slice(&frame);
    }
    let started = tokio::time::Instant::now();
    peer.send_bytes(&burst).await;
    let mut next = 0;
    while next < 100 {
        if let ServerEvent::Message { message, .. } = next_server_event(&mut events).await {
            assert_eq!(message.decode::<Echo>().unwrap().n, next);
            next += 1;
        }
    }
    assert_eq!(started.elapsed(), Duration::from_millis(400));
}

/// A client over the connection cap is told why and closed; the clients within it are
/// unaffected, and a freed slot is reused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_told_and_closed() {
    common::trace();
    let mut config = ServerConfig::default();
    config.max_connections = 2;
    let (server, mut events) = Server::bind("127.0.0.1:0", config).await.unwrap();
    // Two clients that have spoken (a quiet one would make room instead; see attacks.rs).
    let mut first = RawPeer::connect(server.local_addr()).await;
    first.send("hi", &Echo { n: 1 }).await;
    let mut second = RawPeer::connect(server.local_addr()).await;
    second.send("hi", &Echo { n: 2 }).await;
    let mut spoke = 0;
    while spoke < 2 {
        if let ServerEvent::Message { .. } = next_server_event(&mut events).await {
            spoke += 1;
        }
    }

    let mut third = RawPeer::connect(server.local_addr()).await;
    let seen = third.recv_until_eof().await;
    assert_eq!(seen.len(), 1);
    assert_eq!(close_reason(&seen[0]).as_deref(), Some("server full"));
    assert_eq!(server.rejected_count(), 1);
    assert_eq!(server.evicted_count(), 0);
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
    fourth.send("hi", &Echo { n: 4 }).await;
    assert!(matches!(
        next_server_event(&mut events).await,
        ServerEvent::Connected { .. }
    ));
    assert_eq!(fourth.recv().await.unwrap().action(), "connected");
    drop(second);
}

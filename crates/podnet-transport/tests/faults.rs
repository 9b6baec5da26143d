//! Faults a peer can cause: each one affects that peer's connection only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use podnet_framing::RawMessage;

use std::time::Duration;

use common::{Echo, RawPeer, close_reason, next_server_event};
use podnet_transport::{
    Client, ClientConfig, ClientEvent, ConnectionConfig, ConnectionId, DisconnectReason, Frame,
    Server, ServerConfig, ServerEvent,
};
use tokio::io::AsyncWriteExt;

async fn connected(events: &mut podnet_transport::EventStream<ServerEvent>) -> ConnectionId {
    match next_server_event(events).await {
        ServerEvent::Connected { id, .. } => id,
        other => panic!("expected Connected, got {other:?}"),
    }
}

/// A server with one raw peer connected to it.
async fn server_with_peer(
    config: ServerConfig,
) -> (
    Server,
    podnet_transport::EventStream<ServerEvent>,
    RawPeer,
    ConnectionId,
) {
    let (server, mut events) = Server::bind("127.0.0.1:0", config).await.unwrap();
    let peer = RawPeer::connect(server.local_addr()).await;
    let id = connected(&mut events).await;
    (server, events, peer, id)
}

/// Echoes one message through the server for `peer`, handling server events until it is
/// back: proof that the server still serves that peer.
async fn round_trip(
    server: &Server,
    events: &mut podnet_transport::EventStream<ServerEvent>,
    peer: &mut RawPeer,
    n: u64,
) {
    peer.send("echo", &Echo { n }).await;
    loop {
        match next_server_event(events).await {
            ServerEvent::Message { id, message } if message.action() == "echo" => {
                server
                    .send(id, &Frame::from_message(&message).unwrap())
                    .unwrap();
                break;
            }
            ServerEvent::Disconnected { .. } | ServerEvent::Connected { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    let back = peer.recv_skipping_connected().await.expect("the echo");
    assert_eq!(back.decode::<Echo>().unwrap().n, n);
}

/// A frame over the maximum closes that connection, telling it why; another client on the
/// same server keeps exchanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frame_closes_only_that_connection() {
    common::trace();
    let (server, mut events) = Server::bind("127.0.0.1:0", ServerConfig::default())
        .await
        .unwrap();
    let mut good = RawPeer::connect(server.local_addr()).await;
    let good_id = connected(&mut events).await;
    let mut bad = RawPeer::connect(server.local_addr()).await;
    let bad_id = connected(&mut events).await;

    // A header announcing 2 MiB, over the default 1 MiB maximum, then some of the body.
    bad.send_bytes(&(2u32 << 20).to_be_bytes()).await;
    bad.send_bytes(&[0u8; 1000]).await;

    let seen = bad.recv_until_eof().await;
    let reason = seen.iter().find_map(close_reason).expect("a podnet:close");
    assert!(reason.contains("max_frame_length"), "{reason}");

    // The server waits for the peer to close its side too (so its reason is not lost to a
    // reset), then reports the disconnect.
    drop(bad);
    match next_server_event(&mut events).await {
        ServerEvent::Disconnected { id, reason } => {
            assert_eq!(id, bad_id);
            let DisconnectReason::Protocol { error } = reason else {
                panic!("expected a protocol error, got {reason}");
            };
            assert!(error.contains("over the maximum"), "{error}");
        }
        other => panic!("unexpected {other:?}"),
    }
    round_trip(&server, &mut events, &mut good, 1).await;
    assert_eq!(server.connection_ids(), [good_id]);
}

/// A peer that vanishes in the middle of a frame leaves the server's table and gets a
/// disconnect saying so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_vanishing_mid_frame_is_cleaned_up() {
    common::trace();
    let (server, mut events, mut peer, id) = server_with_peer(ServerConfig::default()).await;
    assert_eq!(server.connection_ids(), [id]);

    peer.send_bytes(&[0, 0, 0, 100, 0x81, 0xa6]).await; // 6 bytes of a 104-byte frame
    drop(peer);

    match next_server_event(&mut events).await {
        ServerEvent::Disconnected { id: gone, reason } => {
            assert_eq!(gone, id);
            assert!(
                matches!(&reason, DisconnectReason::Protocol { error } if error.contains("middle of a frame"))
                    || matches!(reason, DisconnectReason::Io { .. }),
                "{reason}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(server.connection_ids().is_empty());
    assert!(server.connection_info(id).is_none());
}

/// A peer that half-closes in the middle of a frame gets its socket closed by the server:
/// it reads end-of-stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_half_closing_mid_frame_gets_its_socket_closed() {
    common::trace();
    let (server, mut events, mut peer, id) = server_with_peer(ServerConfig::default()).await;

    peer.send_bytes(&[0, 0, 0, 100, 0x81]).await;
    peer.stream.shutdown().await.unwrap();

    assert!(matches!(
        next_server_event(&mut events).await,
        ServerEvent::Disconnected { id: gone, .. } if gone == id
    ));
    // Everything the server sent, then end of stream: its side is closed.
    let seen = peer.recv_until_eof().await;
    let actions: Vec<&str> = seen.iter().map(RawMessage::action).collect();
    assert_eq!(actions, ["podnet:hello", "connected"], "just the greeting");
    assert!(server.connection_ids().is_empty());
}

/// A client that never reads is disconnected as a slow consumer while another client's
/// round trips keep completing; the stuck queue never exceeds its limit by more than one
/// frame, and the good client's stays within it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_is_disconnected_and_others_are_not_slowed() {
    common::trace();
    const LIMIT: usize = 64 * 1024;
    let mut config = ServerConfig::default();
    config.connection.max_queued_bytes = LIMIT;
    let (server, mut events) = Server::bind("127.0.0.1:0", config).await.unwrap();

    let _stuck = RawPeer::connect(server.local_addr()).await; // never reads
    let stuck_id = connected(&mut events).await;
    let (client, mut client_events) = Client::connect(server.local_addr(), ClientConfig::default())
        .await
        .unwrap();
    let good_id = connected(&mut events).await;

    // The good client echoes in a loop and discards the flood.
    let pinger = tokio::spawn(async move {
        let mut completed = 0u64;
        client.send(&Echo { n: 0 }).unwrap();
        while completed < 20 {
            match common::next_client_event(&mut client_events).await {
                ClientEvent::Message(msg) if msg.action() == "echo" => {
                    assert_eq!(msg.decode::<Echo>().unwrap().n, completed);
                    completed += 1;
                    client.send(&Echo { n: completed }).unwrap();
                }
                ClientEvent::Message(_)
                | ClientEvent::SocketConnect { .. }
                | ClientEvent::Handshake(_) => {}
                other => panic!("the good client got {other:?}"),
            }
        }
        // Hand the client back: dropping it here would close it.
        (completed, client)
    });

    let flood = Frame::encode_with_action(
        "flood",
        &std::collections::HashMap::from([("data", "x".repeat(1024))]),
        server.framing(),
    )
    .unwrap();
    let mut stuck_gone = None;
    let mut max_good_queue = 0;
    let mut rounds = 0u64;
    while stuck_gone.is_none() || !pinger.is_finished() {
        rounds += 1;
        assert!(
            rounds < 1_000_000,
            "the stuck client was never disconnected"
        );
        if stuck_gone.is_none() {
            // Flood the client that never reads, as fast as the server can queue. (A
            // broadcast at this rate would overrun any reader; the point here is that the
            // stuck one is cut and the other is unaffected.)
            let _ = server.send(stuck_id, &flood);
        }
        if let Some(info) = server.connection_info(stuck_id) {
            assert!(info.max_queued_bytes <= LIMIT + flood.as_bytes().len() + 64);
        }
        if let Some(info) = server.connection_info(good_id) {
            max_good_queue = max_good_queue.max(info.max_queued_bytes);
        }
        // Serve events without blocking the flood.
        while let Some(event) = events.try_recv() {
            match event {
                ServerEvent::Message { id, message } => {
                    server
                        .send(id, &Frame::from_message(&message).unwrap())
                        .unwrap();
                }
                ServerEvent::Disconnected { id, reason } => {
                    assert_eq!(id, stuck_id, "only the stuck client may go ({reason})");
                    stuck_gone = Some(reason);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        tokio::task::yield_now().await;
    }
    let (completed, _client) = tokio::time::timeout(common::WAIT, pinger)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(completed, 20);
    assert!(matches!(
        stuck_gone,
        Some(DisconnectReason::SlowConsumer { limit: LIMIT, .. })
    ));
    assert!(max_good_queue <= LIMIT, "{max_good_queue}");
    assert_eq!(server.connection_ids(), [good_id]);
}

/// Frames that are not messages are reported as errors and counted; the connection stays
/// open and its next message gets through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_are_reported_and_the_connection_kept() {
    common::trace();
    let (server, mut events, mut peer, id) = server_with_peer(ServerConfig::default()).await;

    peer.send_payload(b"\x92\x01\x02").await; // an array
    peer.send_payload(b"\x81\xa1x\x01").await; // no action
    peer.send_payload(b"").await; // empty
    peer.send("echo", &Echo { n: 9 }).await;

    for _ in 0..3 {
        match next_server_event(&mut events).await {
            ServerEvent::Error { id: from, error } => {
                assert_eq!(from, id);
                assert!(
                    matches!(
                        *error,
                        podnet_framing::FramingError::NotAMap { .. }
                            | podnet_framing::FramingError::MissingAction
                            | podnet_framing::FramingError::EmptyPayload
                    ),
                    "{error}"
                );
            }
            other => panic!("expected an error event, got {other:?}"),
        }
    }
    match next_server_event(&mut events).await {
        ServerEvent::Message { message, .. } => {
            assert_eq!(message.decode::<Echo>().unwrap(), Echo { n: 9 });
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(server.connection_info(id).unwrap().bad_frames, 3);
}

/// Messages, control messages and bad frames that arrive in one read come out in the
/// order they were sent: the messages around a bad frame are not reordered by being
/// handed over a read at a time, and the control message is not delivered at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_read_of_mixed_frames_keeps_its_order() {
    common::trace();
    let (_server, mut events, mut peer, _id) = server_with_peer(ServerConfig::default()).await;
    let config = podnet_framing::FramingConfig::default();
    let mut wire = bytes::BytesMut::new();
    let bad = b"\x92\x01\x02"; // an array, not a message
    for n in 0..3 {
        podnet_framing::encode_with_action("echo", &Echo { n }, &mut wire, &config).unwrap();
        wire.extend_from_slice(&(bad.len() as u32).to_be_bytes());
        wire.extend_from_slice(bad);
        podnet_framing::encode_with_action("podnet:nothing-known", &(), &mut wire, &config)
            .unwrap();
    }
    podnet_framing::encode_with_action("echo", &Echo { n: 3 }, &mut wire, &config).unwrap();
    peer.send_bytes(&wire).await;

    let mut seen = Vec::new();
    while seen.len() < 7 {
        match next_server_event(&mut events).await {
            ServerEvent::Message { message, .. } => {
                seen.push(format!("echo {}", message.decode::<Echo>().unwrap().n));
            }
            ServerEvent::Error { .. } => seen.push("error".to_owned()),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        seen,
        [
            "echo 0", "error", "echo 1", "error", "echo 2", "error", "echo 3"
        ]
    );
}

/// When the application holds the whole inbound budget of a connection, its reader pauses:
/// no further message arrives until the application lets go of what it holds. Budget goes
/// back a batch at a time (what one read brought), when the batch's last message is
/// dropped; a message taken out of its event (`into_inner`) still holds it, since it still
/// holds the bytes. (Paused time: the wait for "nothing more" ends only once every task,
/// the reader included, is blocked, so it proves the pause without guessing a duration.)
#[tokio::test(start_paused = true)]
async fn inbound_budget_pauses_the_reader() {
    common::trace();
    let mut frame = bytes::BytesMut::new();
    podnet_framing::encode_with_action(
        "echo",
        &Echo { n: 0 },
        &mut frame,
        &podnet_framing::FramingConfig::default(),
    )
    .unwrap();
    let message_size = frame.len() - 4;
    let mut config = ServerConfig::default();
    config.connection = ConnectionConfig::default();
    config.connection.max_inbound_bytes = 10 * message_size;
    let (_server, mut events, mut peer, _id) = server_with_peer(config).await;

    for n in 0..1000 {
        peer.send("echo", &Echo { n }).await;
    }
    // Take events until the budget is spent: nothing more comes while they are held.
    let mut held = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_millis(300), events.recv()).await {
            Ok(Some(ServerEvent::Message { message, .. })) => {
                assert_eq!(message.decode::<Echo>().unwrap().n, held.len() as u64);
                held.push(message.into_inner());
                assert!(
                    held.len() <= 10,
                    "more than the budget's worth arrived: {}",
                    held.len()
                );
            }
            Ok(other) => panic!("unexpected {other:?}"),
            Err(_) => break, // paused
        }
    }
    assert!(!held.is_empty());

    // Let go: the rest arrives, in order.
    let next = held.len() as u64;
    drop(held);
    for n in next..1000 {
        match next_server_event(&mut events).await {
            ServerEvent::Message { message, .. } => {
                assert_eq!(message.decode::<Echo>().unwrap().n, n);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

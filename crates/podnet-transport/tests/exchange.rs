//! Many clients exchanging messages, and nothing lost on a clean close.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use podnet_transport::WithAction;
use std::collections::HashMap;

use common::{Say, next_client_event, next_client_message, next_server_event};
use podnet_transport::{
    Client, ClientConfig, ClientEvent, DisconnectReason, Frame, Server, ServerConfig, ServerEvent,
};

const CLIENTS: u32 = 100;
const SAYS_EACH: u32 = 10;

/// 100 clients each say 10 things; the server broadcasts each one; every client receives
/// every message exactly once, in order per sender.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_reaches_every_client_once_in_order() {
    common::trace();
    let (server, mut events) = Server::bind("127.0.0.1:0", ServerConfig::default())
        .await
        .unwrap();
    let addr = server.local_addr();

    let mut receivers = Vec::new();
    let mut clients = Vec::new();
    for from in 0..CLIENTS {
        let (client, mut client_events) = Client::connect(addr, ClientConfig::default())
            .await
            .unwrap();
        let client = std::sync::Arc::new(client);
        clients.push(client.clone());
        receivers.push(tokio::spawn(async move {
            // Wait for the start signal, so every client is connected before anyone talks.
            loop {
                let msg = next_client_message(&mut client_events).await;
                if msg.action() == "start" {
                    break;
                }
            }
            for seq in 0..SAYS_EACH {
                client.send(&Say { from, seq }).unwrap();
            }
            let mut next_seq = vec![0u32; CLIENTS as usize];
            for _ in 0..CLIENTS * SAYS_EACH {
                let say: Say = next_client_message(&mut client_events)
                    .await
                    .decode()
                    .unwrap();
                assert_eq!(
                    say.seq, next_seq[say.from as usize],
                    "client {from}: message from {} out of order or repeated",
                    say.from
                );
                next_seq[say.from as usize] += 1;
            }
            assert!(next_seq.iter().all(|&n| n == SAYS_EACH));
            from
        }));
    }

    let mut connected = 0;
    let mut relayed = 0;
    while relayed < CLIENTS * SAYS_EACH {
        match next_server_event(&mut events).await {
            ServerEvent::Connected { .. } => {
                connected += 1;
                if connected == CLIENTS {
                    let n = server.send_to_all(&WithAction("start", &())).unwrap();
                    assert_eq!(n, CLIENTS as usize);
                }
            }
            ServerEvent::Message { message, .. } => {
                assert_eq!(message.action(), "say");
                // Relayed unchanged, encoded once for everyone.
                let sent = server
                    .send_to_all(&Frame::from_message(&message).unwrap())
                    .unwrap();
                assert_eq!(sent, CLIENTS as usize);
                relayed += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let mut done = Vec::new();
    for receiver in receivers {
        done.push(receiver.await.unwrap());
    }
    assert_eq!(done, (0..CLIENTS).collect::<Vec<_>>());
    assert_eq!(server.connection_count(), CLIENTS as usize);
    drop(clients);
}

const BURST: u64 = 100_000;

/// The server queues 100,000 messages and closes with "bye": the client receives all
/// 100,000 in order, then the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_close_delivers_everything_then_the_reason() {
    common::trace();
    let (server, mut events) = Server::bind("127.0.0.1:0", ServerConfig::default())
        .await
        .unwrap();
    let (_client, mut client_events) =
        Client::connect(server.local_addr(), ClientConfig::default())
            .await
            .unwrap();
    let ServerEvent::Connected { id, .. } = next_server_event(&mut events).await else {
        panic!("expected Connected");
    };

    let reader = tokio::spawn(async move {
        let mut next = 0;
        loop {
            match next_client_event(&mut client_events).await {
                ClientEvent::SocketConnect { .. } | ClientEvent::Handshake(_) => {}
                ClientEvent::Message(msg) if msg.action() == "connected" => {}
                ClientEvent::Message(msg) => {
                    let echo: common::Echo = msg.decode().unwrap();
                    assert_eq!(echo.n, next, "lost or reordered");
                    next += 1;
                }
                ClientEvent::Disconnected(reason) => return (next, reason),
                other => panic!("unexpected {other:?}"),
            }
        }
    });

    for n in 0..BURST {
        let frame = Frame::encode(&common::Echo { n }, server.framing()).unwrap();
        server.send_wait(id, &frame).await.unwrap();
    }
    server.close(id, "bye").unwrap();

    let (received, reason) = reader.await.unwrap();
    assert_eq!(received, BURST);
    assert_eq!(
        reason,
        DisconnectReason::PeerClosed {
            reason: Some("bye".into())
        }
    );
    match next_server_event(&mut events).await {
        ServerEvent::Disconnected { id: gone, reason } => {
            assert_eq!(gone, id);
            assert_eq!(
                reason,
                DisconnectReason::Closed {
                    reason: "bye".into()
                }
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(server.connection_count(), 0);
}

/// The client queues 100,000 messages and closes with "bye": the server receives all
/// 100,000 in order, then a disconnect carrying the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_close_delivers_everything_then_the_reason() {
    common::trace();
    let (server, mut events) = Server::bind("127.0.0.1:0", ServerConfig::default())
        .await
        .unwrap();
    let (client, _client_events) = Client::connect(server.local_addr(), ClientConfig::default())
        .await
        .unwrap();

    let sender = tokio::spawn(async move {
        for n in 0..BURST {
            let frame = Frame::encode(&common::Echo { n }, client.framing()).unwrap();
            client.send_wait(&frame).await.unwrap();
        }
        client.close("bye");
        client.closed().await;
    });

    let mut next = 0;
    let mut disconnects = HashMap::new();
    while disconnects.is_empty() {
        match next_server_event(&mut events).await {
            ServerEvent::Connected { .. } => {}
            ServerEvent::Message { message, .. } => {
                assert_eq!(message.decode::<common::Echo>().unwrap().n, next);
                next += 1;
            }
            ServerEvent::Disconnected { id, reason } => {
                disconnects.insert(id, reason);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    sender.await.unwrap();
    assert_eq!(next, BURST);
    assert_eq!(
        disconnects.into_values().collect::<Vec<_>>(),
        [DisconnectReason::PeerClosed {
            reason: Some("bye".into())
        }]
    );
}

/// One `send` for every kind of message and every set of recipients: a typed message, an
/// action named at run time, and an encoded frame, to one, to a list (a connection gone
/// is skipped) and to all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_send_for_any_message_to_one_a_list_or_all() {
    common::trace();
    let (server, mut events) = Server::bind("127.0.0.1:0", ServerConfig::default())
        .await
        .unwrap();
    let mut clients = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (client, client_events) = Client::connect(server.local_addr(), ClientConfig::default())
            .await
            .unwrap();
        clients.push((client, client_events));
        loop {
            if let ServerEvent::Connected { id, .. } = next_server_event(&mut events).await {
                ids.push(id);
                break;
            }
        }
    }
    let (a, c) = (ids[0], ids[2]);
    let frame = Frame::encode(&Say { from: 7, seq: 7 }, server.framing()).unwrap();
    server.send(a, &Say { from: 0, seq: 0 }).unwrap();
    server.send(a, &WithAction("named", &())).unwrap();
    server.send(a, &frame).unwrap();
    let gone = podnet_transport::ConnectionId::from_raw(999_999);
    let reached = server
        .send_to([a, c, gone], &WithAction("some", &()))
        .unwrap();
    assert_eq!(reached, 2, "the two connected of the three");
    let everyone = server.send_to_all(&WithAction("all", &())).unwrap();
    assert_eq!(everyone, 3);

    let mut seen = Vec::new();
    for (_client, client_events) in &mut clients {
        let mut actions = Vec::new();
        loop {
            let msg = next_client_message(client_events).await;
            let action = msg.action().to_owned();
            if action == "connected" {
                // The server's greeting.
                continue;
            }
            actions.push(action.clone());
            if action == "all" {
                break;
            }
        }
        seen.push(actions);
    }
    assert_eq!(seen[0], ["say", "named", "say", "some", "all"]);
    assert_eq!(seen[1], ["all"], "b was not on the list");
    assert_eq!(seen[2], ["some", "all"]);
}

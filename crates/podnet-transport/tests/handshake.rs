//! The handshake over real sockets: connection types, server info, version mismatch, and
//! what each side reports when it completes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{Echo, RawPeer, close_reason, next_client_event, next_server_event};
use podnet_transport::{
    Client, ClientConfig, ClientEvent, ConnectionKind, DisconnectReason, EventStream, Handshake,
    Peer, RateLimit, Server, ServerConfig, ServerEvent, TransportError, query_info,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

/// repod's greeting, `{"action": "connected"}`, as a repod server sends it on accepting.
const REPOD_GREETING: &[u8] = b"\0\0\0\x12\x81\xa6action\xa9connected";

/// A client's first two events: the socket opening, then the handshake, which it returns.
async fn opening_handshake(events: &mut EventStream<ClientEvent>) -> Handshake {
    assert!(matches!(
        next_client_event(events).await,
        ClientEvent::SocketConnect { .. }
    ));
    match next_client_event(events).await {
        ClientEvent::Handshake(handshake) => handshake,
        other => panic!("expected the handshake first, got {other:?}"),
    }
}

/// `query_info` gets the server's name, protocol, player count, capacity and the game's
/// fields; the query itself never reaches the application.
#[tokio::test(start_paused = true)]
async fn info_describes_the_server_and_never_reaches_the_game() {
    let mut config = ServerConfig::default();
    config.name = "castle".into();
    config.max_connections = 64;
    let (server, mut events) = Server::bind("127.0.0.1:0", config).await.unwrap();
    server.set_info("map", "dungeon");
    server.set_info("round", 3);
    let (_player, _player_events) = Client::connect(server.local_addr(), ClientConfig::default())
        .await
        .unwrap();
    assert!(matches!(
        next_server_event(&mut events).await,
        ServerEvent::Connected { .. }
    ));

    let info = query_info(server.local_addr(), ClientConfig::default())
        .await
        .unwrap();
    assert_eq!(info.name, "castle");
    assert_eq!(info.protocol, podnet_transport::PROTOCOL_VERSION);
    assert_eq!((info.players, info.capacity), (1, 64));
    assert_eq!(info.game["map"].as_str(), Some("dungeon"));
    assert_eq!(info.game["round"].as_u64(), Some(3));
    assert_eq!(info, server.info());

    server.remove_info("round");
    let info = query_info(server.local_addr(), ClientConfig::default())
        .await
        .unwrap();
    assert!(!info.game.contains_key("round"));

    // Neither query made an event; the next one is the player's message.
    _player.send(&Echo { n: 1 }).unwrap();
    assert!(matches!(
        next_server_event(&mut events).await,
        ServerEvent::Message { .. }
    ));
    assert_eq!(server.connection_count(), 1);
}

/// Info requests over the server-wide rate are refused with a reason to retry, and are
/// answered again once the rate allows.
#[tokio::test(start_paused = true)]
async fn info_requests_are_rate_limited() {
    let mut config = ServerConfig::default();
    config.info_rate = RateLimit::new(1, 1);
    let (server, _events) = Server::bind("127.0.0.1:0", config).await.unwrap();
    let addr = server.local_addr();
    assert!(query_info(addr, ClientConfig::default()).await.is_ok());
    match query_info(addr, ClientConfig::default()).await {
        Err(TransportError::NoInfo {
            reason: DisconnectReason::PeerClosed { reason: Some(why) },
            ..
        }) => assert!(why.contains("try again"), "{why}"),
        other => panic!("{other:?}"),
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(query_info(addr, ClientConfig::default()).await.is_ok());
}

/// A server that greets instead of saying hello (repod) is reported at once; one that says
/// nothing is reported after the timeout, and neither leaves the caller hanging.
#[tokio::test(start_paused = true)]
async fn info_from_servers_that_are_not_podnet() {
    let repod = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let repod_addr = repod.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut stream, _)) = repod.accept().await {
            // repod's greeting, and nothing else, ever.
            stream.write_all(REPOD_GREETING).await.unwrap();
            held.push(stream);
        }
    });
    let err = query_info(repod_addr, ClientConfig::default())
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::NotPodnet { .. }), "{err:?}");
    assert!(err.to_string().contains("not a podnet server"), "{err}");

    let mute = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mute_addr = mute.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = mute.accept().await {
            held.push(stream);
        }
    });
    let mut config = ClientConfig::default();
    config.connect_timeout = Duration::from_secs(3);
    let started = tokio::time::Instant::now();
    let err = query_info(mute_addr, config).await.unwrap_err();
    assert!(matches!(err, TransportError::InfoTimeout { .. }), "{err:?}");
    assert_eq!(started.elapsed(), Duration::from_secs(3));
}

/// A hello with another protocol version is refused with a reason that names both
/// versions, and the application never sees the connection.
#[tokio::test(start_paused = true)]
async fn version_mismatch_is_refused_with_both_versions() {
    let (server, mut events) = Server::bind("127.0.0.1:0", ServerConfig::default())
        .await
        .unwrap();
    let mut old = RawPeer::connect(server.local_addr()).await;
    old.send("podnet:hello", &HashMap::from([("protocol", 1)]))
        .await;
    let seen = old.recv_until_eof().await;
    assert_eq!(seen.len(), 1, "no greeting, no hello: only the reason");
    assert_eq!(
        close_reason(&seen[0]).unwrap(),
        "podnet protocol mismatch: this server speaks version 2, the client version 1; use \
         podnet releases that speak the same protocol version"
    );
    // A repod peer after it is served as usual, and is the first event.
    let mut repod = RawPeer::connect(server.local_addr()).await;
    repod.send("echo", &Echo { n: 1 }).await;
    let ServerEvent::Connected { handshake, .. } = next_server_event(&mut events).await else {
        panic!("expected Connected");
    };
    assert_eq!(handshake.peer, Peer::Repod);
}

/// A client asks for a connection type: a registered one becomes a session of that type,
/// an unknown one is refused with the list of types the server has.
#[tokio::test(start_paused = true)]
async fn connection_types() {
    let mut config = ServerConfig::default();
    config
        .connection_types
        .register("spectator", ConnectionKind::Session)
        .unwrap();
    let (server, mut events) = Server::bind("127.0.0.1:0", config).await.unwrap();

    let mut spectator = ClientConfig::default();
    spectator.connection_type = "spectator".into();
    let (client, mut client_events) = Client::connect(server.local_addr(), spectator)
        .await
        .unwrap();
    // Sent at once: the hello still goes first, so the type is settled by it.
    client.send(&Echo { n: 1 }).unwrap();
    let ServerEvent::Connected { handshake, .. } = next_server_event(&mut events).await else {
        panic!("expected Connected");
    };
    assert_eq!(handshake.connection_type.name(), "spectator");
    assert_eq!(handshake.peer, Peer::Podnet { protocol: 2 });
    assert!(matches!(
        next_server_event(&mut events).await,
        ServerEvent::Message { .. }
    ));
    loop {
        if let ClientEvent::Handshake(handshake) = next_client_event(&mut client_events).await {
            assert_eq!(handshake.connection_type.name(), "spectator");
            assert!(handshake.is_podnet());
            break;
        }
    }

    let mut judge = ClientConfig::default();
    judge.connection_type = "judge".into();
    let (_judge, mut judge_events) = Client::connect(server.local_addr(), judge).await.unwrap();
    let reason = loop {
        if let ClientEvent::Disconnected(reason) = next_client_event(&mut judge_events).await {
            break reason;
        }
    };
    assert_eq!(
        reason,
        DisconnectReason::PeerClosed {
            reason: Some(
                "this server has no connection type \"judge\"; it accepts: classic, info, \
                 spectator"
                    .into()
            )
        }
    );
    assert_eq!(server.connection_count(), 1, "only the spectator");
}

/// On a client, the handshake completes before the first message: with a podnet server's
/// hello, or at once with a repod server's greeting.
#[tokio::test(start_paused = true)]
async fn client_handshake_comes_before_the_first_message() {
    let (server, _events) = Server::bind("127.0.0.1:0", ServerConfig::default())
        .await
        .unwrap();
    let (_client, mut events) = Client::connect(server.local_addr(), ClientConfig::default())
        .await
        .unwrap();
    let handshake = opening_handshake(&mut events).await;
    assert_eq!(handshake.peer, Peer::Podnet { protocol: 2 });
    let ClientEvent::Message(greeting) = next_client_event(&mut events).await else {
        panic!("expected the greeting");
    };
    assert_eq!(greeting.action(), "connected");

    let repod = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = repod.local_addr().unwrap();
    let (_client, mut events) = Client::connect(addr, ClientConfig::default())
        .await
        .unwrap();
    let (mut stream, _) = repod.accept().await.unwrap();
    stream.write_all(REPOD_GREETING).await.unwrap();
    let handshake = opening_handshake(&mut events).await;
    assert_eq!(handshake.peer, Peer::Repod);
    assert!(matches!(
        next_client_event(&mut events).await,
        ClientEvent::Message(_)
    ));
}

/// A client told that its connection was settled before its hello arrived goes on as a
/// podnet session; the answer to its hello, which follows, grants the resumable session it
/// asked for, and it counts the session's frames from that answer, even when the whole
/// story arrives in one read: here the greeting and a message before the grant, and two
/// messages after it, so it acknowledges two.
#[tokio::test]
async fn a_client_settled_before_its_hello_arrived_counts_from_the_late_grant() {
    use podnet_framing::{FramingConfig, encode_with_action};
    #[derive(serde::Serialize)]
    struct Hello<'a> {
        protocol: u32,
        #[serde(rename = "type")]
        conn_type: &'a str,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        silent: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        token: Option<&'a str>,
    }
    let framing = FramingConfig::default();
    let token = podnet_transport::podnet_proto::ResumeToken::mint(
        7,
        podnet_transport::ConnectionId::from_raw(1),
    )
    .to_wire();
    let mut story = bytes::BytesMut::new();
    let hello = |silent, token| Hello {
        protocol: 2,
        conn_type: "classic",
        silent,
        token,
    };
    encode_with_action("podnet:hello", &hello(true, None), &mut story, &framing).unwrap();
    story.extend_from_slice(REPOD_GREETING);
    encode_with_action("echo", &Echo { n: 1 }, &mut story, &framing).unwrap();
    encode_with_action(
        "podnet:hello",
        &hello(false, Some(&token)),
        &mut story,
        &framing,
    )
    .unwrap();
    for n in [2, 3] {
        encode_with_action("echo", &Echo { n }, &mut story, &framing).unwrap();
    }

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = ClientConfig::default();
    config.resume = Some(podnet_transport::ResumeConfig::default());
    let (client, mut events) = Client::connect(listener.local_addr().unwrap(), config)
        .await
        .unwrap();
    let (stream, _) = listener.accept().await.unwrap();
    let mut server = RawPeer::from_stream(stream);
    let asked = server.recv().await.unwrap();
    assert_eq!(asked.action(), "podnet:hello");
    assert_eq!(
        asked.to_value().unwrap()["resume"],
        podnet_framing::Value::from(true)
    );
    server.send_bytes(&story).await;

    let handshake = opening_handshake(&mut events).await;
    assert_eq!(handshake.peer, Peer::Podnet { protocol: 2 });
    let mut echoes = Vec::new();
    while echoes.len() < 3 {
        match next_client_event(&mut events).await {
            ClientEvent::Message(msg) if msg.action() == "echo" => {
                echoes.push(msg.decode::<Echo>().unwrap().n);
            }
            ClientEvent::Message(msg) => assert_eq!(msg.action(), "connected"),
            other => panic!("expected messages, got {other:?}"),
        }
    }
    assert_eq!(echoes, [1, 2, 3], "nothing before the grant is dropped");
    assert!(client.info().resumable, "granted late");
    // Its acknowledgement (within `ack_delay`) counts what came after the grant.
    let ack = loop {
        let msg = server.recv().await.unwrap();
        if msg.action() == "podnet:ack" {
            break msg;
        }
    };
    assert_eq!(ack.to_value().unwrap()["n"], podnet_framing::Value::from(2));
}

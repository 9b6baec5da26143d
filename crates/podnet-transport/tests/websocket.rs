//! WebSocket clients on the server's own port: they play beside TCP clients with the same
//! messages and the same close reasons, and every kind of bad input ends that one
//! connection with a clear WebSocket close (or HTTP status) while everyone else plays on.
//! The client side is tokio-tungstenite, or raw bytes where a test must break the rules.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use common::{RawPeer, Say, WAIT, close_reason, next_server_event, raw_upgrade};
use futures_util::{SinkExt, StreamExt};
use podnet_framing::{FramingConfig, RawMessage, encode_with_action};
use podnet_transport::{
    ConnectionId, DisconnectReason, EventStream, MAX_FRAME_WITH_WEBSOCKET, Server, ServerConfig,
    ServerEvent, TransportError, WebSocketConfig,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn server(config: ServerConfig) -> (Server, EventStream<ServerEvent>) {
    Server::bind("127.0.0.1:0", config).await.unwrap()
}

async fn ws_connect(addr: SocketAddr) -> Ws {
    let (ws, response) = tokio::time::timeout(
        WAIT,
        tokio_tungstenite::connect_async(format!("ws://{addr}/")),
    )
    .await
    .expect("the upgrade within the timeout")
    .expect("the upgrade is accepted");
    assert_eq!(response.status(), 101);
    ws
}

/// One podnet message as a WebSocket message: the msgpack map without repod's length.
fn ws_message<T: serde::Serialize>(action: &str, msg: &T) -> Message {
    let mut frame = BytesMut::new();
    encode_with_action(action, msg, &mut frame, &FramingConfig::default()).unwrap();
    Message::Binary(frame.split_off(4).freeze())
}

/// The next binary message, parsed; `None` once the server closed (its close frame is
/// returned by [`ws_close`]).
async fn ws_recv(ws: &mut Ws) -> Option<RawMessage> {
    loop {
        let next = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a WebSocket message within the timeout");
        match next {
            Some(Ok(Message::Binary(payload))) => {
                return Some(RawMessage::parse(payload, &FramingConfig::default()).unwrap());
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(other)) => panic!("the server sent a non-binary message: {other:?}"),
        }
    }
}

/// Reads until the server's close frame and returns its code and reason, skipping any
/// messages before it. Then answers it, as a browser does, and reads on until the server
/// closes the connection.
async fn ws_close(ws: &mut Ws) -> (CloseCode, String) {
    loop {
        let next = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("the close within the timeout");
        match next {
            Some(Ok(Message::Close(Some(CloseFrame { code, reason })))) => {
                // Polling on sends tungstenite's answer and sees the end of the stream.
                let end = tokio::time::timeout(WAIT, ws.next())
                    .await
                    .expect("the server ends the connection after the close handshake");
                assert!(!matches!(end, Some(Ok(_))), "{end:?}");
                return (code, reason.to_string());
            }
            Some(Ok(Message::Close(None))) => panic!("a close frame without a code"),
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

async fn next_connected(events: &mut EventStream<ServerEvent>) -> (ConnectionId, bool) {
    loop {
        match next_server_event(events).await {
            ServerEvent::Connected { id, handshake, .. } => return (id, handshake.is_podnet()),
            ServerEvent::Message { .. } => {}
            other => panic!("expected Connected, got {other:?}"),
        }
    }
}

async fn next_message(events: &mut EventStream<ServerEvent>, action: &str) -> (ConnectionId, Say) {
    loop {
        match next_server_event(events).await {
            ServerEvent::Message { id, message } if message.action() == action => {
                return (id, message.decode().unwrap());
            }
            ServerEvent::Message { .. } | ServerEvent::Connected { .. } => {}
            other => panic!("expected a {action} message, got {other:?}"),
        }
    }
}

async fn next_disconnect(
    events: &mut EventStream<ServerEvent>,
) -> (ConnectionId, DisconnectReason) {
    loop {
        match next_server_event(events).await {
            ServerEvent::Disconnected { id, reason } => return (id, reason),
            ServerEvent::Message { .. }
            | ServerEvent::Connected { .. }
            | ServerEvent::Error { .. } => {}
            other => panic!("expected Disconnected, got {other:?}"),
        }
    }
}

/// Sends raw bytes to the server and returns everything it answers until it closes.
async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut answer))
        .await
        .expect("the server answers and closes within the timeout")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// Reads frames off a raw upgraded stream until a close frame; returns its code.
async fn raw_close_code(stream: &mut TcpStream) -> u16 {
    let mut all = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut all))
        .await
        .expect("the server closes within the timeout")
        .unwrap();
    let mut rest = &all[..];
    while rest.len() >= 2 {
        let (opcode, len) = (rest[0] & 0x0f, usize::from(rest[1] & 0x7f));
        assert!(len < 126, "the test expects short frames only");
        if opcode == 0x8 {
            return u16::from_be_bytes([rest[2], rest[3]]);
        }
        rest = &rest[2 + len..];
    }
    panic!("no close frame in {all:?}");
}

/// A WebSocket client and a TCP client on the same port: each one's message reaches the
/// server, and `send_to_all` (encoded once) reaches both.
#[tokio::test]
async fn websocket_and_tcp_players_share_one_port() {
    common::trace();
    let (server, mut events) = server(ServerConfig::default()).await;
    let addr = server.local_addr();

    let mut ws = ws_connect(addr).await;
    ws.send(ws_message("say", &Say { from: 1, seq: 10 }))
        .await
        .unwrap();
    let (ws_id, podnet) = next_connected(&mut events).await;
    assert!(
        !podnet,
        "a WebSocket client without hello is a repod-style peer"
    );
    assert_eq!(
        next_message(&mut events, "say").await,
        (ws_id, Say { from: 1, seq: 10 })
    );

    let mut tcp = RawPeer::connect(addr).await;
    tcp.send("say", &Say { from: 2, seq: 20 }).await;
    let (tcp_id, _) = next_connected(&mut events).await;
    assert_eq!(
        next_message(&mut events, "say").await,
        (tcp_id, Say { from: 2, seq: 20 })
    );

    assert_eq!(server.send_to_all(&Say { from: 0, seq: 99 }).unwrap(), 2);
    server.send(ws_id, &Say { from: 0, seq: 100 }).unwrap();

    let first = ws_recv(&mut ws).await.unwrap();
    assert_eq!(first.action(), "connected");
    let all = ws_recv(&mut ws).await.unwrap();
    assert_eq!(all.decode::<Say>().unwrap(), Say { from: 0, seq: 99 });
    let own = ws_recv(&mut ws).await.unwrap();
    assert_eq!(own.decode::<Say>().unwrap(), Say { from: 0, seq: 100 });
    let tcp_got = tcp.recv_skipping_connected().await.unwrap();
    assert_eq!(tcp_got.decode::<Say>().unwrap(), Say { from: 0, seq: 99 });
}

/// A message of several fragments is one message; a burst of messages arrives in order.
#[tokio::test]
async fn fragments_and_bursts_arrive_whole_and_in_order() {
    let (server, mut events) = server(ServerConfig::default()).await;
    let mut stream = raw_upgrade(server.local_addr()).await;
    let mut frame = BytesMut::new();
    encode_with_action(
        "say",
        &Say { from: 3, seq: 0 },
        &mut frame,
        &FramingConfig::default(),
    )
    .unwrap();
    let payload = &frame[4..];
    // Three fragments, masked with a zero key (valid: the key is sent).
    let mut bytes = Vec::new();
    let cuts = [0, 2, 5, payload.len()];
    for (i, window) in cuts.windows(2).enumerate() {
        let opcode = if i == 0 { 0x2 } else { 0x0 };
        let fin = if i == cuts.len() - 2 { 0x80 } else { 0 };
        bytes.push(fin | opcode);
        bytes.push(0x80 | u8::try_from(window[1] - window[0]).unwrap());
        bytes.extend_from_slice(&[0, 0, 0, 0]);
        bytes.extend_from_slice(&payload[window[0]..window[1]]);
    }
    // Then a burst of 500 whole messages, masked with a real key.
    let key = [0x37, 0xfa, 0x21, 0x3d];
    for seq in 1..=500 {
        let mut frame = BytesMut::new();
        encode_with_action(
            "say",
            &Say { from: 3, seq },
            &mut frame,
            &FramingConfig::default(),
        )
        .unwrap();
        let payload = &frame[4..];
        bytes.push(0x82);
        bytes.push(0x80 | u8::try_from(payload.len()).unwrap());
        bytes.extend_from_slice(&key);
        bytes.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    }
    stream.write_all(&bytes).await.unwrap();
    for seq in 0..=500 {
        assert_eq!(
            next_message(&mut events, "say").await.1,
            Say { from: 3, seq }
        );
    }
}

/// The server closes a WebSocket player with a reason: everything sent before it arrives,
/// then `podnet:close` with the reason, then a WebSocket close 1000 with the same text.
#[tokio::test]
async fn a_close_delivers_what_was_sent_then_the_reason() {
    let (server, mut events) = server(ServerConfig::default()).await;
    let mut ws = ws_connect(server.local_addr()).await;
    ws.send(ws_message("say", &Say { from: 1, seq: 0 }))
        .await
        .unwrap();
    let (id, _) = next_connected(&mut events).await;
    for seq in 0..1000 {
        server.send(id, &Say { from: 0, seq }).unwrap();
    }
    server.close(id, "game over").unwrap();

    assert_eq!(ws_recv(&mut ws).await.unwrap().action(), "connected");
    for seq in 0..1000 {
        let msg = ws_recv(&mut ws).await.unwrap();
        assert_eq!(msg.decode::<Say>().unwrap(), Say { from: 0, seq });
    }
    let last = ws_recv(&mut ws).await.unwrap();
    assert_eq!(close_reason(&last).as_deref(), Some("game over"));
    assert_eq!(
        ws_close(&mut ws).await,
        (CloseCode::Normal, "game over".to_owned())
    );
    let (gone, reason) = next_disconnect(&mut events).await;
    assert_eq!(gone, id);
    assert!(
        matches!(reason, DisconnectReason::Closed { .. }),
        "{reason:?}"
    );
}

/// A client that closes with a WebSocket close frame gets it echoed, and the server sees
/// the peer close.
#[tokio::test]
async fn a_client_close_is_echoed_and_reported() {
    let (server, mut events) = server(ServerConfig::default()).await;
    let mut ws = ws_connect(server.local_addr()).await;
    ws.send(ws_message("say", &Say { from: 1, seq: 0 }))
        .await
        .unwrap();
    let (id, _) = next_connected(&mut events).await;
    ws.close(Some(CloseFrame {
        code: CloseCode::Away,
        reason: "tab closed".into(),
    }))
    .await
    .unwrap();
    let (code, _) = ws_close(&mut ws).await;
    assert_eq!(code, CloseCode::Away);
    let (gone, reason) = next_disconnect(&mut events).await;
    assert_eq!(gone, id);
    assert!(
        matches!(reason, DisconnectReason::PeerClosed { .. }),
        "{reason:?}"
    );
}

/// A podnet client over WebSocket (it says `podnet:hello` first) is a podnet peer: the
/// server greets it at once and pings it on the heartbeat.
#[tokio::test]
async fn a_podnet_hello_over_websocket_makes_a_podnet_peer() {
    let mut config = ServerConfig::default();
    config.connection.liveness.heartbeat_interval = Some(Duration::from_millis(50));
    let (server, mut events) = server(config).await;
    let mut ws = ws_connect(server.local_addr()).await;
    ws.send(ws_message(
        "podnet:hello",
        &std::collections::HashMap::from([("protocol", podnet_transport::PROTOCOL_VERSION)]),
    ))
    .await
    .unwrap();
    let (_, podnet) = next_connected(&mut events).await;
    assert!(podnet, "the hello makes a podnet peer");
    assert_eq!(ws_recv(&mut ws).await.unwrap().action(), "podnet:hello");
    assert_eq!(ws_recv(&mut ws).await.unwrap().action(), "connected");
    loop {
        let msg = ws_recv(&mut ws).await.unwrap();
        if msg.action() == "podnet:ping" {
            break;
        }
    }
    drop(server);
}

/// A WebSocket ping is answered with a pong carrying the same bytes.
#[tokio::test]
async fn websocket_pings_are_answered() {
    let (server, _events) = server(ServerConfig::default()).await;
    let mut ws = ws_connect(server.local_addr()).await;
    ws.send(Message::Ping(Bytes::from_static(b"are you there")))
        .await
        .unwrap();
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await.unwrap() {
            Some(Ok(Message::Pong(payload))) => {
                assert_eq!(&payload[..], b"are you there");
                break;
            }
            Some(Ok(Message::Binary(_))) => {} // connected
            other => panic!("expected a pong, got {other:?}"),
        }
    }
}

/// A text frame closes that player with 1003 and a reason that says what to send; a
/// TCP player and another WebSocket player keep playing.
#[tokio::test]
async fn a_text_frame_closes_that_player_only() {
    let (server, mut events) = server(ServerConfig::default()).await;
    let addr = server.local_addr();
    let mut good = ws_connect(addr).await;
    good.send(ws_message("say", &Say { from: 1, seq: 0 }))
        .await
        .unwrap();
    let (good_id, _) = next_connected(&mut events).await;
    let mut tcp = RawPeer::connect(addr).await;
    tcp.send("say", &Say { from: 2, seq: 0 }).await;
    next_connected(&mut events).await;

    let mut bad = ws_connect(addr).await;
    bad.send(ws_message("say", &Say { from: 3, seq: 0 }))
        .await
        .unwrap();
    next_connected(&mut events).await;
    bad.send(Message::Text(r#"{"action": "say"}"#.into()))
        .await
        .unwrap();
    let (code, reason) = ws_close(&mut bad).await;
    assert_eq!(code, CloseCode::Unsupported);
    assert!(reason.contains("binary"), "{reason}");
    let (_, why) = next_disconnect(&mut events).await;
    assert!(matches!(why, DisconnectReason::Protocol { .. }), "{why:?}");

    good.send(ws_message("say", &Say { from: 1, seq: 1 }))
        .await
        .unwrap();
    assert_eq!(
        next_message(&mut events, "say").await,
        (good_id, Say { from: 1, seq: 1 })
    );
    assert_eq!(server.send_to_all(&Say { from: 0, seq: 5 }).unwrap(), 2);
    assert_eq!(ws_recv(&mut good).await.unwrap().action(), "connected");
    assert_eq!(
        ws_recv(&mut good).await.unwrap().decode::<Say>().unwrap(),
        Say { from: 0, seq: 5 }
    );
    assert_eq!(
        tcp.recv_skipping_connected()
            .await
            .unwrap()
            .decode::<Say>()
            .unwrap(),
        Say { from: 0, seq: 5 }
    );
}

/// A message over the maximum frame length closes with 1009 before the server reads it.
#[tokio::test]
async fn an_oversize_message_closes_with_too_big() {
    let mut config = ServerConfig::default();
    config.connection.framing = config.connection.framing.with_max_frame_length(1024);
    let (server, mut events) = server(config).await;
    let mut ws = ws_connect(server.local_addr()).await;
    ws.send(ws_message("say", &Say { from: 3, seq: 0 }))
        .await
        .unwrap();
    next_connected(&mut events).await;
    ws.send(Message::Binary(Bytes::from(vec![0x80; 4096])))
        .await
        .unwrap();
    let (code, reason) = ws_close(&mut ws).await;
    assert_eq!(code, CloseCode::Size);
    assert!(reason.contains("1024"), "{reason}");
    let (_, why) = next_disconnect(&mut events).await;
    assert!(matches!(why, DisconnectReason::Protocol { .. }), "{why:?}");
}

/// A message in endless small fragments is cut off at `max_fragments` with 1009.
#[tokio::test]
async fn endless_fragments_are_cut_off() {
    let mut config = ServerConfig::default();
    config.websocket.as_mut().unwrap().max_fragments = 8;
    let (server, _events) = server(config).await;
    let mut stream = raw_upgrade(server.local_addr()).await;
    let mut bytes = vec![0x02, 0x81, 0, 0, 0, 0, 0x80];
    for _ in 0..100 {
        bytes.extend_from_slice(&[0x00, 0x81, 0, 0, 0, 0, 0xc0]);
    }
    // The server may close before reading everything: a failed write is fine.
    let _ = stream.write_all(&bytes).await;
    assert_eq!(raw_close_code(&mut stream).await, 1009);
}

/// A client's frame without a mask (a server's kind of frame) closes with 1002.
#[tokio::test]
async fn an_unmasked_frame_closes_with_protocol_error() {
    let (server, mut events) = server(ServerConfig::default()).await;
    let mut stream = raw_upgrade(server.local_addr()).await;
    // An empty map, masked with a zero key: a message, but not one with an action, so
    // the server reports an error and keeps the connection, now a session.
    stream
        .write_all(&[0x82, 0x81, 0, 0, 0, 0, 0x80])
        .await
        .unwrap();
    next_connected(&mut events).await;
    stream.write_all(&[0x82, 0x01, 0x80]).await.unwrap();
    assert_eq!(raw_close_code(&mut stream).await, 1002);
    let (_, why) = next_disconnect(&mut events).await;
    match why {
        DisconnectReason::Protocol { error } => assert!(error.contains("masked"), "{error}"),
        other => panic!("expected a protocol close, got {other:?}"),
    }
}

/// A request that is not an upgrade gets a 404 saying what the server is; configured
/// pages are served, to GET and HEAD; other methods get 405.
#[tokio::test]
async fn plain_http_requests_get_pages_or_a_clear_status() {
    let mut config = ServerConfig::default();
    config.websocket = Some(WebSocketConfig::default().with_page(
        "/",
        "text/html; charset=utf-8",
        "<h1>whiteboard</h1>",
    ));
    let (server, _events) = server(config).await;
    let addr = server.local_addr();

    let page = raw_exchange(addr, b"GET /?room=1 HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(page.starts_with("HTTP/1.1 200 "), "{page}");
    assert!(page.contains("text/html"), "{page}");
    assert!(page.ends_with("<h1>whiteboard</h1>"), "{page}");

    let head = raw_exchange(addr, b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert!(
        head.ends_with("\r\n\r\n"),
        "a HEAD answer has no body: {head}"
    );

    let missing = raw_exchange(addr, b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(missing.starts_with("HTTP/1.1 404 "), "{missing}");
    assert!(missing.contains("podnet"), "{missing}");

    let post = raw_exchange(addr, b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").await;
    assert!(post.starts_with("HTTP/1.1 405 "), "{post}");
}

/// A header over `max_request_bytes` gets 431; a header that never ends in time gets
/// 408; both free their slot (the server takes the next player).
#[tokio::test]
async fn huge_or_slow_headers_are_refused() {
    let mut config = ServerConfig::default();
    let websocket = config.websocket.as_mut().unwrap();
    websocket.max_request_bytes = 2048;
    websocket.handshake_timeout = Duration::from_millis(200);
    config.max_connections = 1;
    let (server, mut events) = server(config).await;
    let addr = server.local_addr();

    let mut huge = b"GET / HTTP/1.1\r\nX-Junk: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 10_000));
    let answer = raw_exchange(addr, &huge).await;
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");

    let answer = raw_exchange(addr, b"GET / HTTP/1.1\r\nHost: slow").await;
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");

    // With one slot, a player gets in without evicting anyone only if both refusals
    // freed theirs.
    let mut ws = ws_connect(addr).await;
    ws.send(ws_message("say", &Say { from: 1, seq: 0 }))
        .await
        .unwrap();
    next_connected(&mut events).await;
    assert_eq!(server.evicted_count(), 0);
    assert_eq!(server.rejected_count(), 0);
}

/// With an allow-list, an upgrade from another page, or with no `Origin`, gets 403; one
/// from a listed page is accepted.
#[tokio::test]
async fn origins_outside_the_allow_list_are_refused() {
    let mut config = ServerConfig::default();
    config.websocket.as_mut().unwrap().allowed_origins =
        Some(vec!["https://game.example".to_owned()]);
    let (server, _events) = server(config).await;
    let addr = server.local_addr();
    let upgrade = |origin: &str| {
        format!(
            "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{origin}\r\n"
        )
    };
    let evil = raw_exchange(addr, upgrade("Origin: https://evil.example\r\n").as_bytes()).await;
    assert!(evil.starts_with("HTTP/1.1 403 "), "{evil}");
    let none = raw_exchange(addr, upgrade("").as_bytes()).await;
    assert!(none.starts_with("HTTP/1.1 403 "), "{none}");

    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(upgrade("Origin: https://game.example\r\n").as_bytes())
        .await
        .unwrap();
    let mut head = [0u8; 12];
    tokio::time::timeout(WAIT, stream.read_exact(&mut head))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&head, b"HTTP/1.1 101");
}

/// A maximum frame length that "GET " could be read as is refused at bind, saying what
/// to do.
#[tokio::test]
async fn a_frame_limit_that_clashes_with_http_is_refused() {
    let mut config = ServerConfig::default();
    config.connection.framing = config
        .connection
        .framing
        .with_max_frame_length(MAX_FRAME_WITH_WEBSOCKET);
    match Server::bind("127.0.0.1:0", config.clone()).await {
        Err(TransportError::Config { problem }) => {
            assert!(problem.contains("websocket"), "{problem}");
        }
        Err(other) => panic!("expected a config error, got {other}"),
        Ok(_) => panic!("expected a config error"),
    }
    config.websocket = None;
    assert!(Server::bind("127.0.0.1:0", config).await.is_ok());
}

/// With WebSocket off, an HTTP request is read as repod framing, as in 0.1: "GET " is a
/// length over the limit, and the connection is dropped.
#[tokio::test]
async fn with_websocket_off_http_is_not_answered() {
    let mut config = ServerConfig::default();
    config.websocket = None;
    let (server, _events) = server(config).await;
    let answer = raw_exchange(server.local_addr(), b"GET / HTTP/1.1\r\n\r\n").await;
    assert!(!answer.contains("HTTP/1.1"), "{answer}");
}

/// Connections still opening (silent, their first byte not yet read, or half through an
/// HTTP request) are quiet: a newcomer to a full server takes the oldest one's slot, and
/// a silent one is told why.
#[tokio::test]
async fn opening_connections_make_room_for_players() {
    let mut config = ServerConfig::default();
    config.max_connections = 2;
    config.hello_wait = Duration::from_secs(30);
    let (server, mut events) = server(config).await;
    let addr = server.local_addr();

    let mut silent = RawPeer::connect(addr).await;
    let mut half_http = TcpStream::connect(addr).await.unwrap();
    half_http.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();

    let mut player = RawPeer::connect(addr).await;
    player.send("say", &Say { from: 1, seq: 0 }).await;
    let (id, _) = next_connected(&mut events).await;
    assert_eq!(
        next_message(&mut events, "say").await,
        (id, Say { from: 1, seq: 0 })
    );

    let told = silent.recv_until_eof().await;
    assert_eq!(told.len(), 1, "{told:?}");
    let reason = close_reason(&told[0]).unwrap();
    assert!(reason.starts_with("server full"), "{reason}");
    assert_eq!(server.evicted_count(), 1);

    // The next newcomer takes the half-sent request's slot.
    let mut second = RawPeer::connect(addr).await;
    second.send("say", &Say { from: 2, seq: 0 }).await;
    let (id, _) = next_connected(&mut events).await;
    assert_eq!(
        next_message(&mut events, "say").await,
        (id, Say { from: 2, seq: 0 })
    );
    let mut rest = Vec::new();
    tokio::time::timeout(WAIT, half_http.read_to_end(&mut rest))
        .await
        .expect("the half-sent request is closed")
        .ok();
    assert_eq!(server.evicted_count(), 2);
    assert_eq!(server.rejected_count(), 0);
}

/// A `podnet:hello` over WebSocket asking for resume (or resuming with `token`).
fn ws_hello(token: Option<&str>, received: u64) -> Message {
    let mut hello = std::collections::BTreeMap::new();
    hello.insert(
        "protocol",
        podnet_framing::Value::from(podnet_transport::PROTOCOL_VERSION),
    );
    hello.insert("type", podnet_framing::Value::from("classic"));
    match token {
        None => hello.insert("resume", podnet_framing::Value::from(true)),
        Some(token) => {
            hello.insert("received", podnet_framing::Value::from(received));
            hello.insert("token", podnet_framing::Value::from(token))
        }
    };
    ws_message("podnet:hello", &hello)
}

/// A WebSocket player's session resumes over WebSocket, with what was sent to it while it
/// was away; its token presented over plain TCP is refused (its kept messages are framed
/// for WebSocket), and the session is not touched by that.
#[tokio::test]
async fn a_websocket_session_resumes_over_websocket_only() {
    let (server, mut events) = server(ServerConfig::default()).await;
    let addr = server.local_addr();
    let mut ws = ws_connect(addr).await;
    ws.send(ws_hello(None, 0)).await.unwrap();
    let answer = ws_recv(&mut ws).await.unwrap();
    let token = answer.to_value().unwrap()["token"]
        .as_str()
        .expect("a WebSocket session is granted resume")
        .to_owned();
    let (id, _) = next_connected(&mut events).await;
    assert_eq!(ws_recv(&mut ws).await.unwrap().action(), "connected");

    // The connection drops (reset): the session waits; what is sent to it is kept.
    if let MaybeTlsStream::Plain(tcp) = ws.get_ref() {
        socket2::SockRef::from(tcp)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
    }
    drop(ws);
    match next_server_event(&mut events).await {
        ServerEvent::Dropped { id: dropped, .. } => assert_eq!(dropped, id),
        other => panic!("expected Dropped, got {other:?}"),
    }
    server.send(id, &Say { from: 0, seq: 7 }).unwrap();

    // The token over TCP: refused, saying why.
    let mut tcp = RawPeer::connect(addr).await;
    tcp.send(
        "podnet:hello",
        &std::collections::BTreeMap::from([
            (
                "protocol",
                podnet_framing::Value::from(podnet_transport::PROTOCOL_VERSION),
            ),
            ("token", podnet_framing::Value::from(token.as_str())),
            ("received", podnet_framing::Value::from(1)),
        ]),
    )
    .await;
    let refused = tokio::time::timeout(WAIT, tcp.recv())
        .await
        .unwrap()
        .unwrap();
    let reason = close_reason(&refused).expect("a close");
    assert!(reason.contains("transport it began on"), "{reason}");

    // Over WebSocket: resumed, and the message kept meanwhile arrives, once.
    let mut ws = ws_connect(addr).await;
    ws.send(ws_hello(Some(&token), 1)).await.unwrap();
    let answer = ws_recv(&mut ws).await.unwrap().to_value().unwrap();
    assert_eq!(answer["resumed"].as_bool(), Some(true), "{answer:?}");
    let kept = ws_recv(&mut ws).await.unwrap();
    assert_eq!(kept.decode::<Say>().unwrap(), Say { from: 0, seq: 7 });
    match next_server_event(&mut events).await {
        ServerEvent::Resumed { id: resumed } => assert_eq!(resumed, id),
        other => panic!("expected Resumed, got {other:?}"),
    }
    // The resumed link carries the session both ways.
    ws.send(ws_message("say", &Say { from: 1, seq: 8 }))
        .await
        .unwrap();
    let (from, said) = next_message(&mut events, "say").await;
    assert_eq!((from, said.seq), (id, 8));
    assert_eq!(server.connection_ids(), vec![id]);
    // WebSocket pings on the new connection are answered on it.
    ws.send(Message::Ping(Bytes::from_static(b"still there")))
        .await
        .unwrap();
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await.unwrap() {
            Some(Ok(Message::Pong(payload))) => {
                assert_eq!(&payload[..], b"still there");
                break;
            }
            Some(Ok(Message::Binary(_))) => {} // acknowledgements
            other => panic!("expected a pong, got {other:?}"),
        }
    }
}

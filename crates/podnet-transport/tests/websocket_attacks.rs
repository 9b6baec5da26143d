//! The hostile-input battery over WebSocket, from outside: raw sockets that break the
//! WebSocket protocol in every way a peer controls, one after the other against one
//! server, while a well-behaved browser player's echoes keep coming. After each case the
//! server still serves that player; after all of them its open files are what they were
//! and its memory has not grown past a bound. Alone in its test binary, so that it can
//! count the process's open files.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{WAIT, raw_upgrade};
use futures_util::{SinkExt, StreamExt};
use podnet_framing::{FramingConfig, RawMessage, encode_with_action};
use podnet_transport::{Frame, Server, ServerConfig, ServerEvent, WebSocketConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// Open file descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

/// This process's resident memory, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

/// A client frame: `first` (FIN and opcode), masked with a zero key, `payload` whole.
fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(payload);
    out
}

/// Everything the server sends until it closes the connection, then the code of its
/// close frame (`None` if it sent none).
async fn close_code(stream: &mut TcpStream) -> Option<u16> {
    let mut all = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut all))
        .await
        .expect("the server closes within the timeout")
        .ok()?;
    let mut rest = &all[..];
    while rest.len() >= 2 {
        let opcode = rest[0] & 0x0f;
        let (len, header) = match rest[1] & 0x7f {
            126 => (usize::from(u16::from_be_bytes([rest[2], rest[3]])), 4),
            127 => (
                usize::try_from(u64::from_be_bytes(rest[2..10].try_into().unwrap())).unwrap(),
                10,
            ),
            n => (usize::from(n), 2),
        };
        if opcode == 0x8 {
            return Some(u16::from_be_bytes([rest[header], rest[header + 1]]));
        }
        rest = rest.get(header + len..)?;
    }
    None
}

/// The well-behaved player: a round trip through the server's echo.
async fn still_served(
    player: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>,
    n: u64,
    case: &str,
) {
    let mut bytes = bytes::BytesMut::new();
    encode_with_action(
        "echo",
        &common::Echo { n },
        &mut bytes,
        &FramingConfig::default(),
    )
    .unwrap();
    player
        .send(Message::Binary(bytes.split_off(4).freeze()))
        .await
        .unwrap();
    loop {
        let next = tokio::time::timeout(WAIT, player.next())
            .await
            .unwrap_or_else(|_| panic!("after {case}: no echo within the timeout"));
        if let Some(Ok(Message::Binary(payload))) = next {
            let msg = RawMessage::parse(payload, &FramingConfig::default()).unwrap();
            if msg.action() == "echo" {
                assert_eq!(msg.decode::<common::Echo>().unwrap().n, n, "after {case}");
                return;
            }
        } else if !matches!(next, Some(Ok(Message::Ping(_) | Message::Pong(_)))) {
            panic!("after {case}: the player's connection ended: {next:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_websocket_battery() {
    common::trace();
    let mut config = ServerConfig::default();
    let mut websocket = WebSocketConfig::default();
    websocket.handshake_timeout = Duration::from_millis(300);
    config.websocket = Some(websocket);
    let (server, mut events) = Server::bind("127.0.0.1:0", config).await.unwrap();
    let addr = server.local_addr();
    // The game: echo every message.
    let echo = server.clone();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let ServerEvent::Message { id, message } = event {
                let _ = echo.send(id, &Frame::from_message(&message).unwrap());
            }
        }
    });
    let (mut player, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
        .await
        .unwrap();
    still_served(&mut player, 0, "the start").await;
    let (fds_before, rss_before) = (open_fds(), rss_kib());

    // (case, bytes after the upgrade, the close code expected)
    let mut declared_2_63 = vec![0x82, 0x80 | 127];
    declared_2_63.extend_from_slice(&(1u64 << 63).to_be_bytes());
    declared_2_63.extend_from_slice(&[0, 0, 0, 0]);
    let mut endless_continuations = frame(0x02, b"\x81");
    for _ in 0..10_000 {
        endless_continuations.extend(frame(0x00, b""));
    }
    let mut bad_utf8_reason = 1000u16.to_be_bytes().to_vec();
    bad_utf8_reason.extend_from_slice(&[0xff, 0xfe]);
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("a declared length of 2^63", declared_2_63, 1009),
        ("endless continuation frames", endless_continuations, 1009),
        ("a ping over 125 bytes", frame(0x89, &[0; 126]), 1002),
        ("a fragmented ping", frame(0x09, b"hi"), 1002),
        (
            "a continuation with nothing to continue",
            frame(0x80, b"x"),
            1002,
        ),
        ("reserved bits set", frame(0xc2, b"x"), 1002),
        ("an unknown opcode", frame(0x83, b"x"), 1002),
        (
            "a close code never sent (1005)",
            frame(0x88, &1005u16.to_be_bytes()),
            1002,
        ),
        (
            "a close code out of range (5000)",
            frame(0x88, &5000u16.to_be_bytes()),
            1002,
        ),
        (
            "a close reason that is not UTF-8",
            frame(0x88, &bad_utf8_reason),
            1007,
        ),
        ("a one-byte close payload", frame(0x88, b"x"), 1002),
    ];
    for (i, (case, bytes, expected)) in cases.iter().enumerate() {
        let mut attacker = raw_upgrade(addr).await;
        // The server may close before it has read everything: a reset is fine then.
        let _ = attacker.write_all(bytes).await;
        assert_eq!(close_code(&mut attacker).await, Some(*expected), "{case}");
        still_served(&mut player, i as u64 + 1, case).await;
    }

    // Pings flooding, never reading the pongs: the server answers while there is room in
    // the flooder's queue and drops the pongs past it (its memory stays bounded); a
    // message after the flood is still echoed, or the flooder is cut off as a client that
    // does not read. Either way the player is served throughout.
    let mut flooder = raw_upgrade(addr).await;
    let ping = frame(0x89, &[7; 125]);
    let mut flood: Vec<u8> = std::iter::repeat_n(ping, 20_000).flatten().collect();
    let mut marker = bytes::BytesMut::new();
    encode_with_action(
        "echo",
        &common::Echo { n: 777 },
        &mut marker,
        &FramingConfig::default(),
    )
    .unwrap();
    flood.extend(frame(0x82, &marker[4..]));
    let writing = tokio::spawn(async move {
        let _ = flooder.write_all(&flood).await;
        flooder
    });
    still_served(&mut player, 100, "a flood of pings").await;
    let mut flooder = tokio::time::timeout(WAIT, writing).await.unwrap().unwrap();
    let mut seen = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    let echo_marker = b"\xa4echo";
    loop {
        match tokio::time::timeout(WAIT, flooder.read(&mut chunk))
            .await
            .expect("the flooder is echoed or cut off within the timeout")
        {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&chunk[..n]),
        }
        if seen.windows(echo_marker.len()).any(|w| w == echo_marker) {
            break;
        }
    }
    drop(flooder);
    still_served(&mut player, 101, "a flood of pings").await;

    // Upgrades that never finish, a thousand at once: each is closed when its handshake
    // time runs out, and the player is served meanwhile.
    let mut half_open = Vec::new();
    for _ in 0..1000 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: web")
            .await
            .unwrap();
        half_open.push(stream);
    }
    still_served(&mut player, 102, "a thousand half-open upgrades").await;
    for mut stream in half_open {
        let mut rest = Vec::new();
        tokio::time::timeout(WAIT, stream.read_to_end(&mut rest))
            .await
            .expect("a half-open upgrade is closed when its handshake time runs out")
            .ok();
    }
    still_served(&mut player, 103, "a thousand half-open upgrades").await;

    // Every attacker's socket is closed: each saw the end of its stream, so the server
    // had closed its side.
    assert_eq!(open_fds(), fds_before, "open files after the battery");
    let grown = rss_kib().saturating_sub(rss_before);
    assert!(
        grown < 64 * 1024,
        "the server's process grew by {grown} KiB during the battery"
    );
    assert_eq!(server.connection_count(), 1, "only the player is left");
}

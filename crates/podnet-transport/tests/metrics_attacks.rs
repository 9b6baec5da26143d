//! The hostile-input battery against the metrics port, from outside: oversized and endless
//! requests, bad methods and paths, and more slow scrapers than it serves at once. Each
//! gets an HTTP status or is closed; a good scrape is still answered, the game's players
//! are served throughout, and the open files return to what they were. Alone in its test
//! binary, so that it can count the process's open files.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;

use common::{Echo, RawPeer, WAIT};
use podnet_transport::{Frame, MetricsConfig, Server, ServerConfig, ServerEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

/// Sends `request` and returns all the server answers until it closes.
async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The server may answer and close before it has read everything: a reset is fine.
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut answer))
        .await
        .expect("the metrics port answers and closes within the timeout");
    String::from_utf8_lossy(&answer).into_owned()
}

fn status(answer: &str) -> &str {
    answer.lines().next().unwrap_or("")
}

/// A player's round trip through the game's echo.
async fn played(player: &mut RawPeer, n: u64) {
    player.send("echo", &Echo { n }).await;
    let back = player.recv_skipping_connected().await.expect("the echo");
    assert_eq!(back.decode::<Echo>().unwrap(), Echo { n });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_port_battery() {
    common::trace();
    let mut config = ServerConfig::default();
    config.metrics = Some(MetricsConfig::on("127.0.0.1:0".parse().unwrap()));
    let (server, mut events) = Server::bind("127.0.0.1:0", config).await.unwrap();
    let metrics = server.metrics_addr().expect("the metrics port");
    let echo = server.clone();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let ServerEvent::Message { id, message } = event {
                let _ = echo.send(id, &Frame::from_message(&message).unwrap());
            }
        }
    });
    let mut player = RawPeer::connect(server.local_addr()).await;
    played(&mut player, 0).await;
    let fds_before = open_fds();

    let huge_head = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let endless: Vec<u8> = b"GET /metrics HTTP/1.1\r\n"
        .iter()
        .copied()
        .chain(std::iter::repeat_n(b'x', 1 << 20))
        .collect();
    let cases: [(&str, Vec<u8>, &str); 6] = [
        ("an oversized head", huge_head.into_bytes(), "HTTP/1.1 431"),
        ("an endless request line", endless, "HTTP/1.1 431"),
        (
            "a POST",
            b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc".to_vec(),
            "HTTP/1.1 405",
        ),
        (
            "an unknown path",
            b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            "HTTP/1.1 404",
        ),
        (
            "not HTTP at all",
            b"\x00\x00\x00\x05\x81\xa0\r\n\r\n".to_vec(),
            "HTTP/1.1 400",
        ),
        (
            "a request with a NUL in its path",
            b"GET /met\x00rics HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            "HTTP/1.1 4",
        ),
    ];
    for (i, (case, request, expected)) in cases.iter().enumerate() {
        let answer = exchange(metrics, request).await;
        assert!(status(&answer).starts_with(expected), "{case}: {answer:?}");
        played(&mut player, i as u64 + 1).await;
    }

    // More slow scrapers than are served at once: each is closed when its time runs
    // out, a good scrape waits its turn and is answered, and the players never wait.
    let mut slow = Vec::new();
    for _ in 0..40 {
        let mut stream = TcpStream::connect(metrics).await.unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHo")
            .await
            .unwrap();
        slow.push(stream);
    }
    let scrape = tokio::spawn(async move {
        exchange(metrics, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await
    });
    played(&mut player, 100).await;
    // Served while the port was held: the newest slow scraper is still waiting.
    let mut probe = [0u8; 16];
    assert!(
        matches!(
            slow.last().unwrap().try_read(&mut probe),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
        ),
        "the player waited for the slow scrapers to time out"
    );
    let answer = tokio::time::timeout(WAIT, scrape).await.unwrap().unwrap();
    assert!(status(&answer).starts_with("HTTP/1.1 200"), "{answer:?}");
    assert!(answer.contains("podnet_connections"), "{answer}");
    for mut stream in slow {
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut rest))
            .await
            .expect("a slow scraper is closed when its time runs out");
    }
    played(&mut player, 101).await;
    assert_eq!(open_fds(), fds_before, "open files after the battery");
}

//! Thousands of connections reset mid-frame: afterwards no connection is left in the
//! server's table and the process's open files are back to what they were. Alone in its
//! test binary, so that no other test opens files meanwhile.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Echo, RawPeer, WAIT};
use podnet_transport::{Frame, Server, ServerConfig, ServerEvent};
use tokio::net::TcpStream;

/// What each open file descriptor is (`socket:[...]`, a path), for a failure's message.
fn fd_targets() -> Vec<String> {
    std::fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter_map(|fd| std::fs::read_link(fd.path()).ok())
                .map(|target| target.display().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Open file descriptors of this process, where the OS shows them.
fn open_fds() -> Option<usize> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_connections_reset_mid_frame() {
    common::trace();
    const RESETS: usize = 2_000;
    let (server, mut events) = Server::bind("127.0.0.1:0", ServerConfig::default())
        .await
        .unwrap();
    let addr = server.local_addr();
    let mut good = RawPeer::connect(addr).await;
    good.send("hi", &Echo { n: 0 }).await;
    // The server has accepted the good client (its socket is open) once it has its message:
    // only then are the files counted.
    let mut seen_hi = false;
    tokio::time::timeout(WAIT, async {
        while !seen_hi {
            seen_hi = matches!(events.recv().await.unwrap(), ServerEvent::Message { .. });
        }
    })
    .await
    .expect("the good client's message");
    let fds_before = open_fds();

    // One whole message (so that each attacker becomes a connection the application sees),
    // then a header announcing 256 bytes and two of them, then a reset (linger 0).
    let mut bytes = bytes::BytesMut::new();
    podnet_framing::encode_message(&Echo { n: 0 }, &mut bytes, &Default::default()).unwrap();
    bytes.extend_from_slice(&[0, 0, 1, 0, 0x81, 0xa6]);
    let attack = tokio::spawn(async move {
        for _ in 0..RESETS {
            let stream = TcpStream::connect(addr).await.unwrap().into_std().unwrap();
            std::io::Write::write_all(&mut &stream, &bytes).unwrap();
            socket2::SockRef::from(&stream)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
            drop(stream);
        }
    });

    // The application: count every connection in and out.
    let (mut opened, mut closed) = (0, 0);
    tokio::time::timeout(WAIT * 3, async {
        while closed < RESETS || opened < RESETS {
            match events.recv().await.unwrap() {
                ServerEvent::Connected { .. } => opened += 1,
                ServerEvent::Disconnected { .. } => closed += 1,
                _ => {}
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{opened} opened, {closed} closed of {RESETS}"));
    attack.await.unwrap();
    assert_eq!(server.connection_count(), 1, "only the good client is left");
    // Every file the resets opened is closed again, by the time the last Disconnected is
    // reported: a connection's socket is closed before its end is.
    if let Some(before) = fds_before {
        let after = open_fds().unwrap_or(before);
        assert_eq!(
            after,
            before,
            "open files after {RESETS} resets: {after}, before: {before}; now open: {:?}",
            fd_targets()
        );
    }

    // The good client is still served.
    good.send("echo", &Echo { n: 1 }).await;
    let id = loop {
        match events.recv().await.unwrap() {
            ServerEvent::Message { id, message } => {
                server
                    .send(id, &Frame::from_message(&message).unwrap())
                    .unwrap();
                break id;
            }
            _ => continue,
        }
    };
    assert_eq!(server.connection_ids(), [id]);
    let back = good.recv_skipping_connected().await.unwrap();
    assert_eq!(back.decode::<Echo>().unwrap(), Echo { n: 1 });
}

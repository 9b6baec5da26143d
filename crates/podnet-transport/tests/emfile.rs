//! The process runs out of file descriptors: the server keeps serving the players it has,
//! backs off instead of failing or spinning, and accepts the waiting client once files
//! are free again. Alone in its test binary, because it uses up every file the process
//! may open.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Echo, RawPeer, WAIT, next_server_event};
use podnet_transport::{Server, ServerConfig, ServerEvent};
use socket2::{Domain, Socket, Type};

/// Opens /dev/null until the process may open no more (EMFILE, or ENFILE for the whole
/// system). `None` if the limit is too high to reach quickly.
fn use_up_file_descriptors() -> Option<Vec<std::fs::File>> {
    const EMFILE: i32 = 24;
    const ENFILE: i32 = 23;
    let mut hoard = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(file) if hoard.len() < 1_000_000 => hoard.push(file),
            Ok(_) => return None,
            Err(e) if matches!(e.raw_os_error(), Some(EMFILE | ENFILE)) => return Some(hoard),
            Err(e) => panic!("opening /dev/null: {e}"),
        }
    }
}

#[tokio::test]
async fn accepting_resumes_after_running_out_of_file_descriptors() {
    common::trace();
    let mut config = ServerConfig::default();
    config.max_accept_backoff = Duration::from_millis(50);
    let (server, mut events) = Server::bind("127.0.0.1:0", config).await.unwrap();
    let addr = server.local_addr();

    // A player connected before the shortage.
    let mut player = RawPeer::connect(addr).await;
    let ServerEvent::Connected { id, .. } = next_server_event(&mut events).await else {
        panic!("expected the player's connection");
    };
    assert_eq!(player.recv_greeting().await.unwrap().action(), "connected");

    // A socket made now, connected once no file is left: the kernel completes the
    // handshake from the listen backlog, and the server's accept fails with EMFILE.
    let late = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let Some(hoard) = use_up_file_descriptors() else {
        eprintln!("skipped: the open-file limit is too high to use up");
        return;
    };
    late.connect(&addr.into()).unwrap();

    // The player is still served both ways: that needs no new file. The round trips
    // also let the accept loop run (and fail) meanwhile.
    for n in 0..3 {
        player.send("echo", &Echo { n }).await;
        match next_server_event(&mut events).await {
            ServerEvent::Message { message, .. } => {
                assert_eq!(message.decode::<Echo>().unwrap(), Echo { n });
            }
            other => panic!("expected the player's message, got {other:?}"),
        }
        server.send(id, &Echo { n: n + 100 }).unwrap();
        let back = player.recv().await.unwrap();
        assert_eq!(back.decode::<Echo>().unwrap(), Echo { n: n + 100 });
    }
    assert_eq!(server.connection_count(), 1, "nothing could be accepted");

    // Files are free again: within the backoff the waiting client is accepted and served.
    drop(hoard);
    late.set_nonblocking(true).unwrap();
    let late = tokio::net::TcpStream::from_std(late.into()).unwrap();
    match next_server_event(&mut events).await {
        ServerEvent::Connected { .. } => {}
        other => panic!("expected the waiting client's connection, got {other:?}"),
    }
    let mut late = RawPeer::from_stream(late);
    let greeting = tokio::time::timeout(WAIT, late.recv_greeting())
        .await
        .unwrap();
    assert_eq!(greeting.unwrap().action(), "connected");
    assert_eq!(server.connection_count(), 2);
}

//! A server and a client in pump mode on one thread, in a test binary of their own so
//! that no other test's threads are counted: the process has no network thread.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use podnet_sync::{Client, NetworkMode, Server, ServerEvent, WithAction};
use podnet_transport::{ClientConfig, ClientEvent, ServerConfig};
use serde::Deserialize;

const WAIT: Duration = Duration::from_secs(10);

/// The names of this process's threads.
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .collect()
}

#[derive(Deserialize)]
struct Numbered {
    n: u64,
}

/// A server and a client in pump mode on one thread: a message goes there and back, with
/// no network thread in the process.
#[test]
fn host_and_play_on_one_thread_without_a_network_thread() {
    let mut config = ServerConfig::default();
    config.network_mode = NetworkMode::Pump;
    let mut server = Server::start("127.0.0.1:0", config).unwrap();
    let mut config = ClientConfig::default();
    config.network_mode = NetworkMode::Pump;
    let client = Client::connect(server.local_addr(), config).unwrap();
    let handle = server.handle().clone();
    client
        .send(&WithAction("ping", &HashMap::from([("n", 7)])))
        .unwrap();
    let mut echoed = None;
    let deadline = Instant::now() + WAIT;
    while echoed.is_none() {
        assert!(Instant::now() < deadline, "no answer in time");
        server.pump(|event| {
            if let ServerEvent::Message { id, message } = event {
                let n = message.decode::<Numbered>().unwrap().n;
                handle
                    .send(id, &WithAction("pong", &HashMap::from([("n", n + 1)])))
                    .unwrap();
            }
        });
        client.pump(|event| {
            if let ClientEvent::Message(message) = event {
                if message.action() == "pong" {
                    echoed = Some(message.decode::<Numbered>().unwrap().n);
                }
            }
        });
    }
    assert_eq!(echoed, Some(8));
    let names = thread_names();
    assert!(
        !names.iter().any(|n| n.starts_with("podnet-")),
        "a network thread runs: {names:?}"
    );
    // Dropping the client (first) waits for its close to be answered: the server's
    // sockets move meanwhile, since they share this thread's runtime.
    let started = Instant::now();
    drop(client);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the close waited {:?}",
        started.elapsed()
    );
}

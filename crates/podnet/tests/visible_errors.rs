//! A new program installs no `tracing` subscriber, and a malformed message must not vanish
//! silently there: the default `on_error` writes a warning on stderr that names the
//! connection, the action and the field, and says how to handle it.
//!
//! The server runs in a child process (this test binary, run again with an environment
//! variable), so that its stderr can be read and no subscriber is installed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use podnet::WithAction;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use podnet::{Channel, ChannelHandlers, Client, Message, Server};
use serde::{Deserialize, Serialize};

const CHILD: &str = "PODNET_VISIBLE_ERRORS_TEST_SERVER";

#[derive(Serialize, Deserialize, Message)]
#[message(action = "move")]
struct Move {
    x: i32,
}

/// Handles `move` and `stop`, and keeps the default `on_error`.
#[derive(Default)]
struct Player;
impl Channel for Player {
    type Game = ();
    fn handlers(h: &mut ChannelHandlers<Self>) {
        h.on(|_, _, _: Move| {})
            .on_value("stop", |_, ctx, _| ctx.stop_server());
    }
}

fn serve() {
    let server = Server::<Player>::start_background("127.0.0.1:0", ()).unwrap();
    let mut out = std::io::stdout().lock();
    writeln!(out, "\nlistening on {}", server.local_addr()).unwrap();
    out.flush().unwrap();
    server.run();
}

#[test]
fn the_default_on_error_writes_to_stderr() {
    if std::env::var_os(CHILD).is_some() {
        return serve();
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "the_default_on_error_writes_to_stderr",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A watchdog: a child that never stops fails the test instead of hanging it.
    let pid = child.id();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(20));
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("the child prints its address").unwrap();
        if let Some((_, addr)) = line.split_once("listening on ") {
            break addr.trim().to_owned();
        }
    };
    let mut client = Client::connect(addr.as_str(), ()).unwrap();
    client
        .send(&WithAction("move", &HashMap::from([("x", "left")])))
        .unwrap();
    client.send(&WithAction("stop", &())).unwrap();
    // Pumped until the server, stopping, closes the connection (in pump mode the sends
    // leave in a pump).
    while client.is_connected() {
        client.pump_timeout(Duration::from_millis(100));
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let warning = stderr
        .lines()
        .find(|l| l.starts_with("podnet: warning:"))
        .unwrap_or_else(|| panic!("no warning on stderr: {stderr}"));
    for part in [
        "connection #1:",
        "\"move\"",
        "the field `x` does not fit",
        "override Channel::on_error",
    ] {
        assert!(warning.contains(part), "{part:?} not in {warning}");
    }
}

//! A dedicated server stopped by SIGTERM (or Ctrl-C) shuts down gracefully: its players
//! are told why, after what was sent to them, and the process exits cleanly.
//!
//! The server runs in a child process (this test binary, run again with an environment
//! variable), because a signal handler belongs to a whole process.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use podnet::{
    Channel, Client, ClientCtx, ConnectionListener, DisconnectReason, HookResult, Server,
};

const CHILD: &str = "PODNET_SIGNALS_TEST_SERVER";

#[derive(Default)]
struct Player;
impl Channel for Player {
    type Game = ();
}

#[derive(Default)]
struct Watcher {
    connected: bool,
    reason: Option<DisconnectReason>,
}
impl ConnectionListener for Watcher {
    fn on_connect(&mut self, _: &mut ClientCtx<'_>) -> HookResult {
        self.connected = true;
        Ok(())
    }
    fn on_disconnect(&mut self, _: &mut ClientCtx<'_>, reason: &DisconnectReason) -> HookResult {
        self.reason = Some(reason.clone());
        Ok(())
    }
}

/// In the child: a dedicated server that stops on signals, as the examples run.
fn serve() {
    let server = Server::<Player>::start_background("127.0.0.1:0", ()).unwrap();
    server.stop_on_signals().unwrap();
    // A second handler in one process is refused with a clear error.
    let again = server.stop_on_signals().unwrap_err();
    assert!(matches!(again, podnet::Error::Signals { .. }), "{again}");
    // Straight to stdout: the test harness captures `println!`.
    say(&format!("\nlistening on {}", server.local_addr()));
    server.run();
    say("stopped");
}

fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").unwrap();
    out.flush().unwrap();
}

#[test]
fn sigterm_stops_a_dedicated_server_gracefully() {
    if std::env::var_os(CHILD).is_some() {
        return serve();
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "sigterm_stops_a_dedicated_server_gracefully",
            "--test-threads",
            "1",
        ])
        .env(CHILD, "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // A watchdog, so that a server that never stops fails this test instead of hanging
    // it: after 20 s the child is killed, which ends every read below.
    let pid = child.id().to_string();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(20));
        let _ = Command::new("kill").args(["-KILL", &pid]).status();
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("the child prints its address").unwrap();
        // The harness may print "test ... " before it on the same line.
        if let Some((_, addr)) = line.split_once("listening on ") {
            break addr.trim().to_owned();
        }
    };
    let mut client = Client::connect(addr.as_str(), Watcher::default()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !client.listener().connected {
        assert!(Instant::now() < deadline, "the handshake did not complete");
        client.pump_timeout(Duration::from_millis(10));
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    while client.listener().reason.is_none() {
        assert!(
            Instant::now() < deadline,
            "the server did not close the connection"
        );
        client.pump_timeout(Duration::from_millis(10));
    }
    assert_eq!(
        client.listener().reason.as_ref().unwrap().to_string(),
        "closed by the peer: the server was stopped by a signal"
    );
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l == "stopped"), "{rest:?}");
    assert!(
        child.wait().unwrap().success(),
        "the server process exits cleanly"
    );
}

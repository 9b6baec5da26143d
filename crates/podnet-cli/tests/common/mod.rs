//! Running the `podnet` binary in tests.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a command may take: bounds a failing test.
pub(crate) const WAIT: Duration = Duration::from_secs(20);

pub(crate) fn podnet() -> Command {
    Command::new(env!("CARGO_BIN_EXE_podnet"))
}

/// A long-running child (a server), killed when dropped, with the address it printed.
pub(crate) struct Running {
    child: Child,
    /// Held open, so a `connect` child does not see the end of its input; see
    /// [`type_line`](Self::type_line).
    stdin: Option<std::process::ChildStdin>,
    pub(crate) addr: String,
    pub(crate) lines: mpsc::Receiver<String>,
}

impl Running {
    /// Starts `cmd`, waiting for a stdout line with `marker` followed by an address.
    pub(crate) fn start(cmd: &mut Command, marker: &str) -> Self {
        // Its stderr (a `connect` child's "connected to ..." line) is not the test's to
        // print; what a test checks comes on stdout.
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = lines
            .recv_timeout(WAIT)
            .expect("the server prints its address");
        let addr = first
            .split_once(marker)
            .map(|(_, rest)| {
                rest.split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
            .unwrap_or_else(|| panic!("no address in {first:?}"));
        Running {
            child,
            stdin,
            addr,
            lines,
        }
    }

    /// Waits for a stdout line containing `text`; returns it.
    pub(crate) fn line_with(&self, text: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no line with {text:?} in time"));
            if line.contains(text) {
                return line;
            }
        }
    }
}

impl Running {
    /// Writes `line` and a newline to the child's stdin.
    pub(crate) fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for the child to exit by itself within WAIT; returns how.
    pub(crate) fn exit_status(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the command did not end in time");
            // Polling a child's exit has no event to wait on here; this bounds the poll.
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `cmd` with `input` on stdin to its end, within WAIT.
pub(crate) fn run_with_input(cmd: &mut Command, input: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    wait_output(child)
}

/// Waits for `child` to end within WAIT.
pub(crate) fn wait_output(child: Child) -> Output {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    rx.recv_timeout(WAIT)
        .unwrap_or_else(|_| panic!("the command did not end within {WAIT:?}"))
        .unwrap()
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `podnet bench` against `addr` and checks that it printed both figures; returns
/// its stdout.
pub(crate) fn bench(addr: &str, clients: usize, messages: usize, pings: usize) -> String {
    let out = podnet()
        .args(["bench", addr])
        .args(["--clients", &clients.to_string()])
        .args(["--messages", &messages.to_string()])
        .args(["--pings", &pings.to_string()])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        stdout.contains(&format!(
            "throughput: {clients} clients, {messages} moves in "
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("round trip: {pings} pings: p50 ")),
        "{stdout}"
    );
    stdout
}

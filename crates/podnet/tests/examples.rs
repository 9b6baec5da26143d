//! repod's own example programs against podnet's examples of the same names, both ways:
//! repod's `examples/chat`, `examples/lag_time` and `examples/tag` clients, from its
//! source distribution, unchanged (`cargo xtask interop` downloads it from the package
//! registry and points `PODNET_REPOD_EXAMPLES` at its `examples/`), on podnet's
//! `chat_server`, `lag_time_server` and `tag_server`; podnet's `chat_client`,
//! `lag_time_client`, `tag_client --bot` and the whiteboard's bot on repod's servers. (The
//! whiteboard's other direction, repod's pygame client and browser tabs on podnet's
//! server, is `cargo xtask browser`'s.) (repod's tag client is
//! its class, driven by `interop/repod_tag_player.py` with raylib stubbed out: its
//! rendering is never called.)
//! Each program runs as a process, talks through its stdin and stdout as a player would,
//! and is checked by what it prints.
//!
//! `#[ignore]`d in plain `cargo test` (they need Python with repodnet); `cargo xtask ci`
//! and `cargo xtask interop` run them with `--ignored`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Bounds a failing wait; it does not measure speed.
const DEADLINE: Duration = Duration::from_secs(20);

/// A program under test: its stdin, and its stdout lines as they come.
struct Program {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Program {
    fn start(name: &str, mut command: Command) -> Program {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {name}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        let label = name.to_owned();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("{label}: {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Program {
            name: name.to_owned(),
            stdin: child.stdin.take(),
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// One of repod's example scripts, `examples/{script}`, run by the venv's Python
    /// unbuffered (so that its prints arrive as it makes them).
    fn repod(name: &str, script: &str, args: &[&str]) -> Program {
        let python = std::env::var("PODNET_PYTHON").expect(
            "PODNET_PYTHON is not set: run these tests with `cargo xtask interop` (or `cargo \
             xtask ci`), which makes a Python venv with repodnet",
        );
        let examples = PathBuf::from(std::env::var("PODNET_REPOD_EXAMPLES").expect(
            "PODNET_REPOD_EXAMPLES is not set: `cargo xtask interop` downloads repod's sources \
             and points it at their examples/",
        ));
        let mut command = Command::new(python);
        command.arg("-u").arg(examples.join(script)).args(args);
        Program::start(name, command)
    }

    /// One of podnet's examples, built beside this test by `cargo test`.
    fn podnet(name: &str, example: &str, args: &[&str]) -> Program {
        let exe = std::env::current_exe().unwrap();
        // target/debug/deps/examples-HASH -> target/debug/examples/NAME
        let dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
        let path = dir
            .join("examples")
            .join(format!("{example}{}", std::env::consts::EXE_SUFFIX));
        assert!(
            path.is_file(),
            "{} is not built: `cargo xtask interop` builds the examples (`cargo build -p podnet --examples`)",
            path.display()
        );
        let mut command = Command::new(path);
        command.args(args);
        Program::start(name, command)
    }

    /// Waits until a line holds `text` (prompts without a newline share a line with what
    /// follows them), and returns it.
    fn wait_for(&mut self, text: &str) -> String {
        if let Some(line) = self.seen.iter().find(|l| l.contains(text)) {
            let line = line.clone();
            self.seen.retain(|l| *l != line);
            return line;
        }
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(line) => self.seen.push(line),
                Err(_) => panic!(
                    "{} never printed {text:?}; it printed {:?}",
                    self.name, self.seen
                ),
            }
        }
    }

    /// Types a line.
    fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// Ends its input (Ctrl-D) and waits for it to exit by itself.
    fn end_input_and_wait(&mut self) {
        drop(self.stdin.take());
        self.wait_exit();
    }

    /// Waits for it to exit by itself, successfully: its stdout ends (the event waited
    /// on, with the deadline), then its status.
    fn wait_exit(&mut self) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("{} did not exit within {DEADLINE:?}", self.name)
                }
            }
        }
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{} exited with {status}", self.name);
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One of podnet's example servers on a free loopback port (`127.0.0.1 0`, then `extra`),
/// and the port its first lines say (`... running on 127.0.0.1:PORT`).
fn podnet_server(example: &str, extra: &[&str]) -> (Program, String) {
    let args: Vec<&str> = ["127.0.0.1", "0"].iter().chain(extra).copied().collect();
    let mut server = Program::podnet("server", example, &args);
    let banner = server.wait_for("running on");
    let port = banner.rsplit(':').next().unwrap().trim().to_owned();
    (server, port)
}

/// One of repod's example servers, `examples/{script}`, on a free loopback port once it
/// listens, and the port.
fn repod_server(script: &str) -> (Program, String) {
    let port = free_port();
    let text = port.to_string();
    let server = Program::repod("server (repod)", script, &["127.0.0.1", &text]);
    wait_listening(port);
    (server, text)
}

/// A free loopback port for a repod server, which takes its port on the command line.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until a repod server accepts connections: it prints its banner before it
/// listens, and nothing after, so this probes the port (a refused connect returns at
/// once; there is no event to wait on). The probe connects and leaves at once.
fn wait_listening(port: u16) {
    let deadline = Instant::now() + DEADLINE;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Two of repod's own chat clients and podnet's on podnet's chat server: nicknames, join
/// and leave notices, the player list, every line to everyone.
#[test]
#[ignore = "needs Python with repodnet and repod's examples; `cargo xtask interop` runs it"]
fn repod_chat_clients_on_the_podnet_chat_server() {
    let (mut server, port) = podnet_server("chat_server", &[]);
    let args = ["127.0.0.1", port.as_str()];

    let mut alice = Program::repod("alice (repod)", "chat/client.py", &args);
    alice.wait_for("Connected to server!");
    alice.wait_for("SYSTEM: Anonymous joined the chat");
    alice.wait_for("Players: Anonymous");
    alice.type_line("alice");
    alice.wait_for("Players: alice");

    let mut bob = Program::repod("bob (repod)", "chat/client.py", &args);
    bob.wait_for("SYSTEM: Anonymous joined the chat");
    bob.type_line("bob");
    let mut carol = Program::podnet("carol (podnet)", "chat_client", &args);
    carol.wait_for("Connected to server!");
    carol.type_line("carol");
    for player in [&mut alice, &mut bob, &mut carol] {
        player.wait_for("Players: alice, bob, carol");
    }
    alice.wait_for("SYSTEM: Anonymous joined the chat"); // bob's, then carol's

    alice.type_line("hello from alice");
    carol.type_line("hi from carol");
    for player in [&mut alice, &mut bob, &mut carol] {
        player.wait_for("alice: hello from alice");
        player.wait_for("carol: hi from carol");
    }
    server.wait_for("alice: hello from alice");
    // A line past 500 characters is cut there, for everyone.
    alice.type_line(&"x".repeat(600));
    let cut = format!("alice: {}", "x".repeat(500));
    for player in [&mut alice, &mut bob, &mut carol] {
        assert_eq!(player.wait_for("alice: xxx"), cut);
    }

    // bob leaves (end of input): everyone else hears it.
    bob.end_input_and_wait();
    for player in [&mut alice, &mut carol] {
        player.wait_for("SYSTEM: bob left the chat");
        player.wait_for("Players: alice, carol");
    }
    carol.end_input_and_wait();
    alice.wait_for("SYSTEM: carol left the chat");
    alice.wait_for("Players: alice");
    alice.end_input_and_wait();
    server.wait_for("Player disconnected");
}

/// podnet's chat client and one of repod's on repod's own chat server.
#[test]
#[ignore = "needs Python with repodnet and repod's examples; `cargo xtask interop` runs it"]
fn the_podnet_chat_client_on_the_repod_chat_server() {
    let (_server, port) = repod_server("chat/server.py");
    let args = ["127.0.0.1", port.as_str()];

    let mut carol = Program::podnet("carol (podnet)", "chat_client", &args);
    carol.wait_for("Connected to server!");
    carol.wait_for("Players: Anonymous");
    carol.type_line("carol");
    carol.wait_for("Players: carol");
    let mut alice = Program::repod("alice (repod)", "chat/client.py", &args);
    alice.wait_for("Connected to server!");
    alice.type_line("alice");
    carol.wait_for("SYSTEM: Anonymous joined the chat");
    for player in [&mut alice, &mut carol] {
        player.wait_for("Players: carol, alice");
    }

    carol.type_line("hello from carol");
    alice.type_line("hi from alice");
    for player in [&mut alice, &mut carol] {
        player.wait_for("carol: hello from carol");
        player.wait_for("alice: hi from alice");
    }
    // repod's server names a leaver by the name they joined with.
    carol.end_input_and_wait();
    alice.wait_for("SYSTEM: Anonymous left the chat");
    alice.wait_for("Players: alice");
    alice.end_input_and_wait();
}

/// What both lag-time pairs print: the client ten pings, then its close; the server the
/// nine round trips answered.
fn ten_pings(client: &mut Program, server: &mut Program) {
    for count in 0..10 {
        client.wait_for(&format!("Got ping #{count}"));
    }
    client.wait_for("Received 10 pings, closing connection...");
    client.wait_for("Disconnected from server");
    client.wait_exit();
    for count in 0..9 {
        server.wait_for(&format!("ping {count} RTT was"));
    }
}

/// repod's own lag-time client on podnet's server: ten pings, nine answered (the client
/// closes on the tenth), each round trip printed, then the close.
#[test]
#[ignore = "needs Python with repodnet and repod's examples; `cargo xtask interop` runs it"]
fn the_repod_lag_time_client_on_the_podnet_server() {
    let (mut server, port) = podnet_server("lag_time_server", &[]);
    let mut client = Program::repod(
        "client (repod)",
        "lag_time/client.py",
        &["127.0.0.1", &port],
    );
    ten_pings(&mut client, &mut server);
    server.wait_for("disconnected");
}

/// podnet's lag-time client on repod's own server.
#[test]
#[ignore = "needs Python with repodnet and repod's examples; `cargo xtask interop` runs it"]
fn the_podnet_lag_time_client_on_the_repod_server() {
    let (mut server, port) = repod_server("lag_time/server.py");
    let args = ["127.0.0.1", port.as_str()];
    let mut client = Program::podnet("client (podnet)", "lag_time_client", &args);
    ten_pings(&mut client, &mut server);
}

/// The number at the end of a line (`moved 63`, `moved 583 px in 3.0 s`: the first number
/// after `moved`).
fn moved(line: &str) -> f64 {
    line.split_whitespace()
        .skip_while(|w| *w != "moved")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no distance in {line:?}"))
}

/// repod's own tag client class on podnet's tag server: it gets its setup and the
/// state, and the inputs it sends move its player.
#[test]
#[ignore = "needs Python with repodnet and repod's examples; `cargo xtask interop` runs it"]
fn the_repod_tag_client_on_the_podnet_server() {
    let (mut server, port) = podnet_server("tag_server", &["--seed", "1"]);
    let examples = std::env::var("PODNET_REPOD_EXAMPLES").unwrap();
    let player = format!(
        "{}/tests/interop/repod_tag_player.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let client_py = format!("{examples}/tag/client.py");
    let python = std::env::var("PODNET_PYTHON").unwrap();
    let mut command = Command::new(python);
    command.args(["-u", &player, &client_py, "127.0.0.1", &port]);
    let mut client = Program::start("client (repod)", command);
    let setup = client.wait_for("setup ");
    assert!(setup.ends_with(" 7"), "seven obstacles: {setup}");
    client.wait_for("state ");
    let distance = moved(&client.wait_for("moved "));
    assert!(distance > 20.0, "its inputs moved it {distance} px");
    client.wait_exit();
    server.wait_for("Player 1 connected");
}

/// podnet's tag bot on repod's own tag server: the same, the other way.
#[test]
#[ignore = "needs Python with repodnet and repod's examples; `cargo xtask interop` runs it"]
fn the_podnet_tag_bot_on_the_repod_server() {
    let (_server, port) = repod_server("tag/server.py");
    let mut bot = Program::podnet(
        "bot (podnet)",
        "tag_client",
        &["127.0.0.1", &port, "--bot", "--seconds", "1.5"],
    );
    let setup = bot.wait_for("setup: player");
    assert!(setup.contains("7 obstacles, arena 800x600"), "{setup}");
    bot.wait_for("state: at");
    let distance = moved(&bot.wait_for("moved "));
    assert!(distance > 20.0, "its inputs moved it {distance} px");
    bot.wait_exit();
}

/// podnet's whiteboard bots on repod's own whiteboard server: one draws two strokes, a
/// late one gets them in `initial`; both end with the same view of the board, the strokes
/// under the drawer's id as repod's server relays them.
#[test]
#[ignore = "needs Python with repodnet and repod's examples; `cargo xtask interop` runs it"]
fn podnet_whiteboard_bots_on_the_repod_server() {
    let (_server, port) = repod_server("whiteboard/server.py");
    let at = format!("127.0.0.1:{port}");
    let bot = |name: &str, strokes: &str| {
        Program::podnet(
            name,
            "whiteboard",
            &["--connect", &at, "--bot-strokes", strokes, "--report"],
        )
    };
    let mut drawer = bot("drawer (podnet)", "2");
    drawer.wait_for("bot drew 2 strokes");
    let mut late = bot("late (podnet)", "0");
    late.wait_for("bot got the board: 2 strokes");
    drawer.stdin.take();
    late.stdin.take();
    let view = |line: String| line.trim_start_matches("bot view: ").to_owned();
    let drawn = view(drawer.wait_for("bot view: "));
    let seen = view(late.wait_for("bot view: "));
    assert!(
        drawn.starts_with("{\"") && drawn.contains("]],[["),
        "{drawn}"
    );
    // The drawer's strokes under its id; the late bot's view also lists itself, with none.
    let strokes = drawn.trim_start_matches('{').trim_end_matches('}');
    assert!(
        seen.contains(strokes),
        "the late bot sees the drawer's strokes as the drawer does: {seen}"
    );
    drawer.wait_exit();
    late.wait_exit();
}

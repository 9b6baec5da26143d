//! The `podnet` command end to end: the real binary, real sockets.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Running, podnet, run_with_input, text};
use podnet_testkit::{Cut, Proxy};

fn serve(mode: &str) -> Running {
    Running::start(
        podnet().args(["serve", "--port", "0", mode]),
        "listening on ",
    )
}

/// `connect` prints what arrives as JSON lines and sends each JSON line of stdin; lines
/// that are not messages are reported by number and skipped; at the end of stdin it
/// closes cleanly after the replies.
#[test]
fn connect_sends_json_lines_and_prints_replies() {
    let server = serve("--echo");
    let input = concat!(
        "{\"action\": \"hi\", \"n\": 1, \"pos\": [1.5, -2]}\n",
        "not json\n",
        "{\"n\": 2}\n",
        "\n",
        "{\"action\": \"bye\", \"raw\": {\"$bin\": \"00ff\"}}\n",
    );
    let out = run_with_input(
        podnet().args(["connect", &server.addr, "--linger", "0.5"]),
        input,
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            r#"{"action":"connected"}"#,
            r#"{"action":"hi","n":1,"pos":[1.5,-2]}"#,
            r#"{"action":"bye","raw":{"$bin":"00ff"}}"#,
        ],
        "stderr: {stderr}"
    );
    assert!(stderr.contains("line 2 not sent: not JSON"), "{stderr}");
    assert!(
        stderr.contains("line 3 not sent: the object has no \"action\" key"),
        "{stderr}"
    );
    // The server saw both messages, then a clean close.
    server.line_with(r#"{"action":"hi""#);
    server.line_with("disconnected: closed by the peer: end of input");
}

/// `serve --relay` sends each message to every other client, not back to its sender.
#[test]
fn serve_relay_sends_to_the_others() {
    let server = serve("--relay");
    let listener = Running::start(
        podnet().args(["connect", &server.addr]),
        // Its first line is the server's greeting; the "address" is not used.
        "{\"action\":",
    );
    server.line_with("connected from");
    let out = run_with_input(
        podnet().args(["connect", &server.addr, "--linger", "0.3"]),
        "{\"action\": \"chat\", \"text\": \"hello\"}\n",
    );
    assert!(out.status.success());
    assert!(
        !text(&out.stdout).contains("chat"),
        "the sender got its own message back"
    );
    assert_eq!(
        listener.line_with("chat"),
        r#"{"action":"chat","text":"hello"}"#
    );
}

/// `bench` against `serve --bench`: figures for both runs.
#[test]
fn bench_measures_a_bench_protocol_server() {
    let server = serve("--bench");
    common::bench(&server.addr, 3, 3000, 50);
}

/// `info` prints a podnet server's description, as lines or as one JSON object; the query
/// is not a player, so the server never reports it connecting.
#[test]
fn info_describes_a_podnet_server() {
    let server = Running::start(
        podnet().args([
            "serve",
            "--port",
            "0",
            "--name",
            "castle",
            "--max-connections",
            "16",
        ]),
        "listening on ",
    );
    let out = podnet().args(["info", &server.addr]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!(
            "name:     castle\nprotocol: {}\nplayers:  0 of 16\naway:     0 (dropped, waiting to resume)\n",
            podnet_transport::PROTOCOL_VERSION
        )
    );
    let out = podnet()
        .args(["info", &server.addr, "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!(
            "{{\"name\":\"castle\",\"protocol\":{},\"players\":0,\"away\":0,\"capacity\":16,\"game\":{{}}}}\n",
            podnet_transport::PROTOCOL_VERSION
        )
    );
    // A player then connects: it is the first connection the server reports.
    let _player = Running::start(podnet().args(["connect", &server.addr]), "{\"action\":");
    assert!(
        server
            .line_with("connected from")
            .contains("(podnet, classic)")
    );
}

/// Errors name what went wrong and what to do, and the exit status says so.
#[test]
fn errors_say_what_went_wrong() {
    // Nothing listens on a port we bound and closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = podnet()
        .args(["connect", &format!("127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("could not connect to 127.0.0.1:"),
        "{stderr}"
    );
    assert!(stderr.contains("is the server running"), "{stderr}");

    // One mode at most.
    let out = run_with_input(
        podnet().args(["serve", "--port", "0", "--echo", "--relay"]),
        "",
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("cannot be used with"),
        "{}",
        text(&out.stderr)
    );
}

/// What a user gets wrong gets one message that says what to do: an address without a
/// port asks for HOST:PORT, an unknown host is named (and not blamed on a server that is
/// not running, nor on another program holding the port).
#[test]
fn address_mistakes_are_named_once() {
    let out = run_with_input(podnet().args(["connect", "localhost"]), "");
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("could not resolve localhost"), "{stderr}");
    assert!(stderr.contains("HOST:PORT"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    let out = run_with_input(podnet().args(["connect", "no-such-host.invalid:5071"]), "");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("no-such-host.invalid:5071"), "{stderr}");
    assert!(!stderr.contains("is the server running"), "{stderr}");

    let out = run_with_input(
        podnet().args(["serve", "--host", "no-such-host.invalid", "--echo"]),
        "",
    );
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("could not resolve no-such-host.invalid:5071"),
        "{stderr}"
    );
    assert!(!stderr.contains("another program"), "{stderr}");
}

/// A server that answers in text (HTTP) is reported once, as not speaking the repod
/// protocol, with no advice to raise a limit.
#[test]
fn a_text_protocol_server_is_named_as_such() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        let mut buf = [0u8; 64];
        let _ = socket.read(&mut buf);
        let _ = socket.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    });
    let out = run_with_input(podnet().args(["connect", &addr]), "");
    server.join().unwrap();
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("does not speak the repod protocol"),
        "{stderr}"
    );
    assert!(stderr.contains("\"HTTP\""), "{stderr}");
    assert!(!stderr.contains("raise"), "{stderr}");
    assert_eq!(
        stderr.matches("does not speak").count(),
        1,
        "said once: {stderr}"
    );
}

/// `bench` against a server that does not speak the bench protocol stops at once and
/// says so, instead of printing "0 of N" for ten seconds.
#[test]
fn bench_against_a_non_bench_server_says_so_at_once() {
    let server = serve("--echo");
    let started = std::time::Instant::now();
    let out = run_with_input(
        podnet().args(["bench", &server.addr, "--messages", "1000", "--pings", "5"]),
        "",
    );
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("does not speak the bench protocol"),
        "{stderr}"
    );
    assert!(!stderr.contains(" of 1000"), "{stderr}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

/// `connect` resumes through a dropped connection by default: the server sees the same
/// connection drop and resume (no second "connected"), and lines typed around the cut are
/// all echoed, once.
#[test]
fn connect_resumes_through_a_drop() {
    let server = serve("--echo");
    let proxy = Proxy::start(server.addr.parse().unwrap(), 31).unwrap();
    let mut client = Running::start(
        podnet().args(["connect", &proxy.addr().to_string()]),
        "{\"action\":",
    );
    server.line_with("[#1] connected from");
    client.type_line(r#"{"action": "n", "n": 1}"#);
    assert_eq!(client.line_with(r#""n""#), r#"{"action":"n","n":1}"#);
    proxy.cut(Cut::Both);
    client.type_line(r#"{"action": "n", "n": 2}"#);
    server.line_with("[#1] dropped");
    client.type_line(r#"{"action": "n", "n": 3}"#);
    assert_eq!(client.line_with(r#""n""#), r#"{"action":"n","n":2}"#);
    assert_eq!(client.line_with(r#""n""#), r#"{"action":"n","n":3}"#);
    // The server's view, in order: the drop, the resume, both lines on connection 1.
    let rest = [
        server.line_with("[#1] resumed"),
        server.line_with(r#"[#1] {"action":"n","n":2}"#),
        server.line_with(r#"[#1] {"action":"n","n":3}"#),
    ];
    assert!(rest.iter().all(|l| l.starts_with("[#1]")), "{rest:?}");
}

/// `connect --no-resume` ends when its connection drops, with an error that says why.
#[test]
fn connect_no_resume_ends_on_a_drop() {
    let server = serve("--echo");
    let proxy = Proxy::start(server.addr.parse().unwrap(), 32).unwrap();
    let mut client = Running::start(
        podnet().args(["connect", &proxy.addr().to_string(), "--no-resume"]),
        "{\"action\":",
    );
    server.line_with("[#1] connected from");
    proxy.cut(Cut::Both);
    assert!(!client.exit_status().success());
    server.line_with("[#1] disconnected: connection error");
}

/// `serve` with no mode echoes; `connect` with no address goes to repod's, which the
/// usage says; `--count` ends `connect` after that many messages, though its input ended
/// long before the server went quiet.
#[test]
fn serve_echoes_by_default_and_connect_ends_after_a_count() {
    let server = Running::start(podnet().args(["serve", "--port", "0"]), "listening on ");
    let out = run_with_input(
        podnet().args(["connect", &server.addr, "--count", "2", "--linger", "600"]),
        "{\"action\": \"hi\"}\n{\"action\": \"again\"}\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).lines().collect::<Vec<_>>(),
        [r#"{"action":"connected"}"#, r#"{"action":"hi"}"#]
    );
    let help = podnet().args(["connect", "--help"]).output().unwrap();
    assert!(text(&help.stdout).contains("127.0.0.1:5071"));
}

/// `--seconds` ends `connect` after that long, whatever else goes on.
#[test]
fn connect_ends_after_its_seconds() {
    let server = Running::start(podnet().args(["serve", "--port", "0"]), "listening on ");
    let started = std::time::Instant::now();
    let out = run_with_input(
        podnet().args([
            "connect",
            &server.addr,
            "--seconds",
            "0.5",
            "--linger",
            "600",
        ]),
        "",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(
        text(&out.stderr).contains("time is up"),
        "{}",
        text(&out.stderr)
    );
}

/// `--no-hello` connects as a repod client would: the server sees a repod peer.
#[test]
fn connect_no_hello_is_a_repod_client() {
    let server = Running::start(podnet().args(["serve", "--port", "0"]), "listening on ");
    let _client = Running::start(
        podnet().args(["connect", &server.addr, "--no-hello"]),
        "{\"action\":",
    );
    assert!(server.line_with("connected from").contains("(repod, "));
}

/// Piped into a reader that goes away (`| head -1`), `connect` ends quietly.
#[test]
fn connect_ends_quietly_when_its_output_is_closed() {
    use std::io::{BufRead, BufReader, Write};
    let server = Running::start(podnet().args(["serve", "--port", "0"]), "listening on ");
    let mut child = podnet()
        .args(["connect", &server.addr])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first.trim(), r#"{"action":"connected"}"#);
    // The reader is gone; the echo of the next line has nowhere to go.
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{{\"action\": \"hi\"}}").unwrap();
    stdin.flush().unwrap();
    let out = common::wait_output(child);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
}

/// `completions` prints a script for each shell that names the subcommands and flags.
#[test]
fn completions_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run_with_input(podnet().args(["completions", shell]), "");
        assert!(out.status.success(), "{shell}: {}", text(&out.stderr));
        let script = text(&out.stdout);
        for word in ["podnet", "connect", "serve", "info", "--linger"] {
            assert!(script.contains(word), "{shell}: no {word:?} in the script");
        }
    }
    let out = run_with_input(podnet().args(["completions", "tcsh"]), "");
    assert!(!out.status.success());
}

/// `connect ws://...` speaks to the same server over WebSocket, as a browser does: it says
/// hello (a podnet peer), messages go both ways, and it closes with its reason.
#[test]
fn connect_over_websocket() {
    let server = Running::start(podnet().args(["serve", "--port", "0"]), "listening on ");
    let url = format!("ws://{}/", server.addr);
    let out = run_with_input(
        podnet().args(["connect", &url, "--linger", "0.5"]),
        "{\"action\": \"hi\", \"n\": 1}\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).lines().collect::<Vec<_>>(),
        [r#"{"action":"connected"}"#, r#"{"action":"hi","n":1}"#]
    );
    assert!(
        server
            .line_with("connected from")
            .contains("(podnet, classic)")
    );
    server.line_with("disconnected: closed by the peer: end of input");

    let out = run_with_input(podnet().args(["connect", "wss://127.0.0.1:1/"]), "");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("wss:// needs --ca"),
        "{}",
        text(&out.stderr)
    );
}

/// `serve --tls CERT KEY` serves over TLS; `connect --ca ROOTS` connects over TLS, by TCP
/// and by wss://, checking the certificate against the address's host (or
/// `--server-name`); a certificate it does not trust is refused, saying so.
#[test]
fn tls_both_ways_over_tcp_and_websocket() {
    let dir = std::env::temp_dir().join(format!("podnet-cli-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());

    let server = Running::start(
        podnet().args(["serve", "--port", "0", "--tls", cert, key]),
        "listening on ",
    );
    let port = server.addr.rsplit(':').next().unwrap().to_owned();
    for addr in [
        format!("localhost:{port}"),
        format!("wss://localhost:{port}/"),
    ] {
        let out = run_with_input(
            podnet().args(["connect", &addr, "--ca", cert, "--linger", "0.3"]),
            "{\"action\": \"secret\"}\n",
        );
        assert!(out.status.success(), "{addr}: {}", text(&out.stderr));
        assert_eq!(
            text(&out.stdout).lines().collect::<Vec<_>>(),
            [r#"{"action":"connected"}"#, r#"{"action":"secret"}"#],
            "{addr}"
        );
    }
    // By IP address, the name to check is given.
    let out = run_with_input(
        podnet().args([
            "connect",
            &server.addr,
            "--ca",
            cert,
            "--server-name",
            "localhost",
            "--count",
            "1",
        ]),
        "",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    // A certificate nobody vouched for.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let stranger = dir.join("stranger.pem");
    std::fs::write(&stranger, other.cert.pem()).unwrap();
    let out = run_with_input(
        podnet().args([
            "connect",
            &format!("wss://localhost:{port}/"),
            "--ca",
            stranger.to_str().unwrap(),
        ]),
        "",
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("TLS handshake"),
        "{}",
        text(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `bench --json` prints one object with every figure; `--ws` runs the same bench over
/// WebSocket, `--size` pads the messages; `--tick` runs the game tick against the rooms
/// of `serve --bench`, every input acknowledged in a state and nothing lost.
#[test]
fn bench_json_websocket_size_and_the_game_tick() {
    let server = serve("--bench");
    let json = |args: &[&str]| -> serde_json::Value {
        let out = podnet()
            .args(["bench", &server.addr, "--json"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_str(text(&out.stdout).trim()).unwrap()
    };
    let ws = json(&[
        "--ws",
        "--size",
        "200",
        "--messages",
        "2000",
        "--pings",
        "20",
    ]);
    assert_eq!(ws["transport"], "websocket");
    assert_eq!(ws["size"], 200);
    assert_eq!(ws["throughput"]["messages"], 2000);
    assert!(ws["throughput"]["per_second"].as_f64().unwrap() > 0.0);
    assert_eq!(ws["round_trip"]["pings"], 20);
    assert!(ws["round_trip"]["p50_us"].as_f64().unwrap() > 0.0);

    let tick = json(&["--tick", "--players", "20", "--seconds", "0.5"]);
    let tick = &tick["tick"];
    assert_eq!(tick["players"], 20);
    assert_eq!(tick["lost"], 0, "{tick}");
    // 20 states a second to each player, and inputs shown within a couple of steps.
    assert!(
        tick["states_per_second"].as_f64().unwrap() > 200.0,
        "{tick}"
    );
    assert!(tick["p50_ms"].as_f64().unwrap() < 1000.0, "{tick}");
}

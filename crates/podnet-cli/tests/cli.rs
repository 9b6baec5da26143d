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
    let server = serve("--echo");
    let out = podnet().args(["info", &server.addr]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!(
            "name:     podnet\nprotocol: {}\nplayers:  0 of 4096\n",
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
            "{{\"name\":\"podnet\",\"protocol\":{},\"players\":0,\"capacity\":4096,\"game\":{{}}}}\n",
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

    let out = podnet().args(["serve", "--port", "0"]).output().unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--echo|--relay|--bench"));
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

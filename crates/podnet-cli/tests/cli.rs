//! The `podnet` command end to end: the real binary, real sockets.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Running, podnet, run_with_input, text};

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

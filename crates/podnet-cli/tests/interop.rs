//! `podnet` against a real repod server (`repodnet`, in the venv `cargo xtask interop`
//! makes): `bench` runs the bench protocol against repod's bench server, and `connect`
//! talks to it. `#[ignore]`d in plain `cargo test`; `cargo xtask ci` runs them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::{Running, podnet, run_with_input, text};

fn repod_bench_server() -> Running {
    let python = std::env::var("PODNET_PYTHON").expect(
        "PODNET_PYTHON is not set: run these tests with `cargo xtask interop` (or `cargo xtask \
         ci`), which makes a Python venv with repodnet and points PODNET_PYTHON at it",
    );
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../podnet-bench/python/repod_bench_server.py"
    );
    Running::start(Command::new(python).arg(script), "repod server on ")
}

#[test]
#[ignore = "needs the interop venv: cargo xtask interop"]
fn bench_runs_against_a_repod_server() {
    let server = repod_bench_server();
    common::bench(&server.addr, 2, 2000, 50);
}

#[test]
#[ignore = "needs the interop venv: cargo xtask interop"]
fn connect_talks_to_a_repod_server() {
    let server = repod_bench_server();
    let out = run_with_input(
        podnet().args(["connect", &server.addr, "--linger", "0.5"]),
        "{\"action\": \"ping\", \"seq\": 7, \"tags\": [\"a\", 2.5, null]}\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            r#"{"action":"connected"}"#,
            r#"{"action":"ping","seq":7,"tags":["a",2.5,null]}"#,
        ]
    );
}

/// `info` against a repod server fails at once with a message that says why, instead of
/// waiting for an answer that never comes.
#[test]
#[ignore = "needs the interop venv: cargo xtask interop"]
fn info_says_a_repod_server_is_not_podnet() {
    let server = repod_bench_server();
    let started = std::time::Instant::now();
    let out = podnet().args(["info", &server.addr]).output().unwrap();
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("is not a podnet server") && stderr.contains("repod"),
        "{stderr}"
    );
    // It did not wait for its 5 s timeout: repod's greeting told it at once.
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
}

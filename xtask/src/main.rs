//! podnet's development tasks. Run `cargo xtask help` for the list.
//!
//! CI calls exactly what a developer calls: `cargo xtask ci`.

mod bench;
mod browser;
mod ci;
mod cluster;
mod fuzz;
mod interop;
mod node;
mod python;
mod release;
mod soak;
mod system;
mod tag;
mod util;

use std::process::ExitCode;

const HELP: &str = "\
usage: cargo xtask <task>

tasks:
  ci       everything CI checks: fmt, clippy -D warnings, all workspace tests, docs,
           the self-ending examples, the TypeScript client, the cluster tests (real
           redis-server), the interop tests and the tag window under Xvfb
  typescript  the TypeScript client (clients/typescript): npm ci from its lockfile,
           build, and its tests against a real podnet server (node and npm from apt
           when missing)
  browser  the whiteboard example in headless Chromium (apt's chromium) with two tabs,
           a late tab, the Rust bot and repod's own pygame client (from repod's sdist)
  cluster  the cluster's tests against a real redis-server (apt's redis-server when
           missing; each test starts its own on a free loopback port)
  interop  the tests against real Python peers (msgpack, repod), in a venv it makes
           under target/ with xtask/python/requirements.txt, and repod's own example
           programs (from its sdist) against podnet's
  tag      repod's tag game on podnet: the server, three bots and the macroquad window
           under Xvfb (apt's xvfb when missing), which saves target/tag.png;
           --update-docs copies it to docs/images/tag.png
  bench    the benchmarks: podnet beside a plain tokio baseline (and repod), as ratios;
           --quick for a smoke run, --no-micro to skip criterion, --against PATH to
           add another bench_server build (an earlier commit's) as an A/B column
  fuzz     coverage-guided fuzzing of the frame codec and payload decoding with
           libFuzzer on stable: --seconds N (default 60) per target, --target NAME
  soak     a server under load (players, broadcast, churn, resets) for --seconds N;
           --chaos: three lobby nodes and Redis under cuts, restarts and kills
           (default 60): fails if a message is lost or memory grows after warm-up
  release  --dry-run: versions, metadata, CHANGELOG entry, README/docs links, and
           `cargo package` of every crate in dependency order; never publishes
  help     show this message

environment:
  PODNET_BASE_PYTHON   the Python (>= 3.12) to build the interop venv from; found on
                       PATH or through pyenv when unset
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("soak") => soak::run(&args[1..]),
        Some("release") => release::run(&args[1..]),
        Some("interop") => interop::run(&args[1..]),
        Some("typescript") => node::run(&args[1..]),
        Some("browser") => browser::run(&args[1..]),
        Some("cluster") => cluster::run(&args[1..]),
        Some("tag") => tag::run(&args[1..]),
        Some("help" | "--help" | "-h") | None => {
            print!("{HELP}");
            Ok(())
        }
        Some(other) => Err(format!("unknown task `{other}`\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err}");
            ExitCode::FAILURE
        }
    }
}

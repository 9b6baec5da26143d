//! `cargo xtask ci`: everything CI checks, in the order that fails fastest.

use crate::interop;
use crate::util::{TestCounts, cargo, run as run_command, run_tests};

/// The examples that run headless and end by themselves within seconds, with the
/// features each needs. (repod's example games, a server and a client each, run in
/// `cargo xtask interop` against repod's own.)
const SELF_ENDING_EXAMPLES: &[(&str, &str)] = &[
    ("quickstart", ""),
    ("positions", ""),
    ("host_and_play", ""),
    ("tls_chat", "tls"),
    ("lobby_game", ""),
];

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if let Some(arg) = args.first() {
        return Err(format!("`cargo xtask ci` takes no arguments (got `{arg}`)"));
    }
    step("fmt");
    run_command(cargo().args(["fmt", "--all", "--", "--check"]))
        .map_err(|e| format!("{e}\nxtask: run `cargo fmt --all` to fix the formatting"))?;
    // The fuzz crate is a workspace of its own (see fuzz/Cargo.toml).
    run_command(cargo().args(["fmt", "--manifest-path", "fuzz/Cargo.toml", "--", "--check"]))
        .map_err(|e| {
            format!("{e}\nxtask: run `cargo fmt --manifest-path fuzz/Cargo.toml` to fix it")
        })?;

    // Everything is checked with every feature on (`tls`); the libraries are also linted
    // as most users build them, with none.
    step("clippy");
    run_command(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]))?;
    // Test targets with `test = false` (they need redis-server or Python's repod) are
    // not in --all-targets: linted by name.
    for (packages, test) in [
        (&["podnet-cluster", "podnet-lobby"][..], "cluster"),
        (&["podnet", "podnet-cli", "podnet-framing"][..], "interop"),
        (&["podnet"][..], "examples"),
    ] {
        let mut clippy = cargo();
        clippy.args(["clippy", "--locked", "--all-features", "--test", test]);
        for package in packages {
            clippy.args(["--package", package]);
        }
        run_command(clippy.args(["--", "-D", "warnings"]))?;
    }
    run_command(cargo().args([
        "clippy",
        "--workspace",
        "--lib",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]))?;

    step("tests");
    let mut counts = TestCounts::default();
    counts.add(run_tests(
        cargo()
            .args(["test", "--workspace", "--all-features", "--locked"])
            .env_remove("PODNET_NETWORK_MODE"),
    )?);

    // Again with the network of every synchronous server and client inside `pump()`
    // (the default of `NetworkMode` follows the variable): both modes keep every promise.
    step("tests with the network inside pump() (PODNET_NETWORK_MODE=pump)");
    counts.add(run_tests(
        cargo()
            .args(["test", "--workspace", "--all-features", "--locked"])
            .env("PODNET_NETWORK_MODE", "pump"),
    )?);

    step("docs");
    // Rustdoc's warnings fail the build; cargo's own (two crates writing one page, as a
    // binary named like a library would) are read from its output.
    let output = cargo()
        .args([
            "doc",
            "--workspace",
            "--all-features",
            "--no-deps",
            "--locked",
        ])
        .env("RUSTDOCFLAGS", "-D warnings")
        .output()
        .map_err(|e| format!("could not start cargo doc: {e}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprint!("{stderr}");
    if !output.status.success() {
        return Err("`cargo doc` failed".into());
    }
    if let Some(line) = stderr.lines().find(|l| l.contains("collision")) {
        return Err(format!(
            "`cargo doc` writes two pages in one place: {line}\nxtask: give one of the targets \
             `doc = false` or another name"
        ));
    }

    step("examples");
    // The examples that end by themselves must run, as the README promises: with the
    // network on a thread (the default), and inside pump().
    for mode in ["thread", "pump"] {
        for (example, features) in SELF_ENDING_EXAMPLES {
            let mut cmd = cargo();
            cmd.args(["run", "--quiet", "--locked", "--example", example])
                .env("PODNET_NETWORK_MODE", mode);
            if !features.is_empty() {
                cmd.args(["--features", features]);
            }
            run_command(&mut cmd).map_err(|e| {
                format!("{e}\nxtask: the example `{example}` failed (network mode: {mode})")
            })?;
        }
    }

    step("TypeScript client (node --test against a real podnet server)");
    counts.add(crate::node::run_client_tests(false)?);

    step("cluster (a real redis-server)");
    counts.add(crate::cluster::run_cluster_tests()?);

    step("interop with Python (msgpack, repod, repod's example programs)");
    counts.add(interop::run_interop()?);

    step("repod's tag game: the graphical client under Xvfb");
    crate::tag::screenshot()?;

    // The cluster and interop test targets are left out of the workspace run
    // (`test = false`), so they are counted here only, as they run.
    println!();
    println!("ci: {} passed, {} failed", counts.passed, counts.failed);
    Ok(())
}

fn step(name: &str) {
    println!("\n==> xtask ci: {name}");
}

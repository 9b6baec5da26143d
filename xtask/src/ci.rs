//! `cargo xtask ci`: everything CI checks, in the order that fails fastest.

use crate::interop;
use crate::util::{TestCounts, cargo, run as run_command, run_tests};

/// Examples that run headless and end on their own within seconds.
const SELF_ENDING_EXAMPLES: &[&str] = &["quickstart", "host_and_play", "lag_time"];

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if let Some(arg) = args.first() {
        return Err(format!("`cargo xtask ci` takes no arguments (got `{arg}`)"));
    }
    step("fmt");
    run_command(cargo().args(["fmt", "--all", "--", "--check"]))
        .map_err(|e| format!("{e}\nxtask: run `cargo fmt --all` to fix the formatting"))?;

    step("clippy");
    run_command(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]))?;

    step("tests");
    let mut counts = TestCounts::default();
    counts.add(run_tests(cargo().args([
        "test",
        "--workspace",
        "--locked",
    ]))?);

    step("docs");
    run_command(
        cargo()
            .args(["doc", "--workspace", "--no-deps", "--locked"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;

    step("examples");
    // The examples that end by themselves must run, as the README promises.
    for example in SELF_ENDING_EXAMPLES {
        run_command(cargo().args(["run", "--quiet", "--locked", "--example", example]))
            .map_err(|e| format!("{e}\nxtask: the example `{example}` failed"))?;
    }

    step("interop with Python (msgpack, repod)");
    counts.add(interop::run_interop()?);

    // The interop tests are counted once as ignored (workspace run) and once as passed.
    println!();
    println!("ci: {} passed, {} failed", counts.passed, counts.failed);
    Ok(())
}

fn step(name: &str) {
    println!("\n==> xtask ci: {name}");
}

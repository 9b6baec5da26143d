//! `cargo xtask interop`: the tests against real Python peers, msgpack and repod
//! (`repodnet`), in a venv under target/ with the pinned packages of
//! xtask/python/requirements.txt; and repod's own example programs (from its source
//! distribution, downloaded from the package registry) against podnet's.

use crate::browser::repod_sources;
use crate::python;
use crate::util::{TestCounts, cargo, run as run_command, run_tests};

/// The test targets that need Python, as (package, test target).
const PYTHON_TESTS: &[(&str, &str)] = &[
    ("podnet-framing", "interop"),
    ("podnet", "interop"),
    ("podnet-cli", "interop"),
    ("podnet", "examples"),
];

/// Makes the venv and runs every Python-dependent test; returns their counts.
pub(crate) fn run_interop() -> Result<TestCounts, String> {
    let python = python::ensure_venv()?;
    let repod = repod_sources(&python)?;
    // The examples the `examples` tests run as programs (a test target alone does not
    // build them).
    run_command(cargo().args(["build", "--locked", "--package", "podnet", "--examples"]))?;
    let mut counts = TestCounts::default();
    for (package, target) in PYTHON_TESTS {
        counts.add(run_tests(
            cargo()
                .args(["test", "--locked", "--package", package, "--test", target])
                .args(["--", "--ignored"])
                .env("PODNET_PYTHON", &python)
                .env("PODNET_REPOD_EXAMPLES", repod.join("examples")),
        )?);
    }
    if counts.passed == 0 {
        return Err("the interop tests ran no test".into());
    }
    Ok(counts)
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if let Some(arg) = args.first() {
        return Err(format!(
            "`cargo xtask interop` takes no arguments (got `{arg}`)"
        ));
    }
    let counts = run_interop()?;
    println!(
        "\ninterop: {} passed, {} failed",
        counts.passed, counts.failed
    );
    Ok(())
}

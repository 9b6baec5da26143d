//! `cargo xtask browser`: the whiteboard example in a real headless Chromium (Debian's
//! `chromium`, installed with apt when missing; nothing downloads a browser), with repod's
//! own pygame whiteboard client (from repod's source distribution, unchanged) and the
//! example's Rust bot on the same board. The test itself is tests/browser/, driven by
//! playwright-core from its committed lockfile.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::node::{ensure_npm, npm_ci};
use crate::python::ensure_venv;
use crate::system::{apt_install, find_program};
use crate::util::{
    TestCounts, build_examples, built, cargo, project_root, run as run_command, target_dir,
};

/// Chromium from the machine, installed with apt when missing.
fn ensure_chromium() -> Result<PathBuf, String> {
    let find = || find_program("chromium").or_else(|| find_program("chromium-browser"));
    if let Some(chromium) = find() {
        return Ok(chromium);
    }
    apt_install(&["chromium"])?;
    find().ok_or_else(|| "chromium is still missing after installing it".into())
}

/// The repod version the interop venv pins (xtask/python/requirements.txt).
fn repod_version() -> Result<String, String> {
    let path = project_root().join("xtask/python/requirements.txt");
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    text.lines()
        .find_map(|l| l.trim().strip_prefix("repodnet==").map(str::to_owned))
        .ok_or_else(|| format!("{} pins no repodnet version", path.display()))
}

/// repod's source distribution, downloaded with pip from the package registry (never
/// copied into this repository) and unpacked under target/; returns its directory.
pub(crate) fn repod_sources(python: &Path) -> Result<PathBuf, String> {
    let version = repod_version()?;
    let root = target_dir().join("repod-sdist");
    let unpacked = root.join(format!("repodnet-{version}"));
    if unpacked.join("examples").is_dir() {
        return Ok(unpacked);
    }
    run_command(
        Command::new(python)
            .args([
                "-m",
                "pip",
                "download",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(["--no-binary", ":all:", "--no-deps", "-d"])
            .arg(&root)
            .arg(format!("repodnet=={version}")),
    )?;
    let archive = root.join(format!("repodnet-{version}.tar.gz"));
    run_command(
        Command::new(python)
            .args(["-c", "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2], filter='data')"])
            .arg(&archive)
            .arg(&root),
    )?;
    if !unpacked.join("examples").is_dir() {
        return Err(format!("{} holds no examples/", unpacked.display()));
    }
    Ok(unpacked)
}

/// Runs the browser tests; returns their counts.
pub(crate) fn run_browser_tests() -> Result<TestCounts, String> {
    let chromium = ensure_chromium()?;
    let python = ensure_venv()?;
    let repod = repod_sources(&python)?;
    let npm = ensure_npm()?;
    let dir = project_root().join("tests/browser");
    npm_ci(&npm, &dir)?;
    // The whiteboard; and for the monitor page's test, the bench server and the load
    // generator.
    build_examples("podnet", &[], &["whiteboard", "bench_server"])?;
    run_command(cargo().args([
        "build",
        "--locked",
        "--package",
        "podnet-bench",
        "--bin",
        "loadgen",
    ]))?;
    let whiteboard = built("debug/examples", "whiteboard");
    let out = target_dir().join("browser");
    std::fs::create_dir_all(&out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    let screenshot = out.join("whiteboard.png");
    let monitor = out.join("monitor.png");
    let mut cmd = Command::new(find_program("node").ok_or("node is missing")?);
    cmd.args([
        "--test",
        "--test-reporter=tap",
        "whiteboard.test.mjs",
        "monitor.test.mjs",
    ])
    .current_dir(&dir)
    .env("WHITEBOARD_BIN", &whiteboard)
    .env("BENCH_SERVER_BIN", built("debug/examples", "bench_server"))
    .env("LOADGEN_BIN", built("debug", "loadgen"))
    .env("CHROMIUM", &chromium)
    .env("PYTHON", &python)
    .env("REPOD_CLIENT", repod.join("examples/whiteboard/client.py"))
    .env("SCREENSHOT", &screenshot)
    .env("SCREENSHOT_MONITOR", &monitor);
    let counts = crate::node::run_node_tests(&mut cmd, "the browser tests")?;
    println!(
        "browser: screenshots at {} and {}",
        screenshot.display(),
        monitor.display()
    );
    Ok(counts)
}

/// `cargo xtask browser`.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if let Some(arg) = args.first() {
        return Err(format!(
            "`cargo xtask browser` takes no arguments (got `{arg}`)"
        ));
    }
    let counts = run_browser_tests()?;
    println!(
        "browser: {} passed, {} failed",
        counts.passed, counts.failed
    );
    Ok(())
}

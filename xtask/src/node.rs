//! Node and the TypeScript client (clients/typescript): node and npm from the machine
//! (apt's `nodejs` and `npm` when missing), the packages with `npm ci` from the committed
//! lockfile, and the client's tests (`node --test`) against a real podnet server.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::system::{apt_install, find_program};
use crate::util::{TestCounts, cargo, describe, project_root, run as run_command, target_dir};

/// The oldest Node the client supports.
const MIN_NODE: u32 = 20;

/// The TypeScript client's directory.
pub(crate) fn client_dir() -> PathBuf {
    project_root().join("clients/typescript")
}

fn node_major(node: &Path) -> Option<u32> {
    let out = Command::new(node).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .trim_start_matches('v')
        .split('.')
        .next()?
        .parse()
        .ok()
}

/// `npm`, with a Node >= 20 beside it, installed with apt when missing.
pub(crate) fn ensure_npm() -> Result<PathBuf, String> {
    if find_program("node").is_none() || find_program("npm").is_none() {
        apt_install(&["nodejs", "npm"])?;
    }
    let node = find_program("node").ok_or("node is still missing after installing nodejs")?;
    let npm = find_program("npm").ok_or("npm is still missing after installing npm")?;
    match node_major(&node) {
        Some(major) if major >= MIN_NODE => Ok(npm),
        Some(major) => Err(format!(
            "{} is Node {major}; the TypeScript client needs Node >= {MIN_NODE}",
            node.display()
        )),
        None => Err(format!("could not ask {} for its version", node.display())),
    }
}

/// Installs the packages of the npm project in `dir` from its lockfile (`npm ci`), unless
/// node_modules already matches it.
pub(crate) fn npm_ci(npm: &Path, dir: &Path) -> Result<(), String> {
    let stamp = dir.join("node_modules/.package-lock.json");
    let lock = dir.join("package-lock.json");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let (Some(installed), Some(locked)) = (modified(&stamp), modified(&lock)) {
        if installed >= locked {
            return Ok(());
        }
    }
    run_command(
        Command::new(npm)
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(dir),
    )
}

/// Runs `node --test` (TAP output), echoing it; returns its counts.
pub(crate) fn run_node_tests(cmd: &mut Command, what: &str) -> Result<TestCounts, String> {
    cmd.stdout(Stdio::piped());
    let output = cmd
        .output()
        .map_err(|e| format!("could not start `{}`: {e}", describe(cmd)))?;
    let text = String::from_utf8_lossy(&output.stdout);
    print!("{text}");
    let count = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    let counts = TestCounts {
        passed: count("# pass "),
        failed: count("# fail "),
        ignored: count("# skipped "),
    };
    if !output.status.success() || counts.failed > 0 {
        return Err(format!("{what} failed ({} failed)", counts.failed));
    }
    Ok(counts)
}

/// The browser bundle of the client that the whiteboard example serves (committed, so
/// that `cargo run --example whiteboard` needs no npm).
const BUNDLE_COPY: &str = "examples/whiteboard/podnet-client.js";

/// Checks that the committed bundle is the one just built; with `bless`, updates it.
fn check_bundle(dir: &Path, bless: bool) -> Result<(), String> {
    let built = std::fs::read(dir.join("dist/podnet-client.browser.js"))
        .map_err(|e| format!("the client's bundle was not built: {e}"))?;
    let copy = project_root().join(BUNDLE_COPY);
    if bless {
        return std::fs::write(&copy, &built).map_err(|e| format!("writing {BUNDLE_COPY}: {e}"));
    }
    match std::fs::read(&copy) {
        Ok(committed) if committed == built => Ok(()),
        _ => Err(format!(
            "{BUNDLE_COPY} is not the client as built from clients/typescript/src: run \
             `cargo xtask typescript --bless` and commit it"
        )),
    }
}

/// Builds the TypeScript client and runs its tests against this build's `podnet serve`.
pub(crate) fn run_client_tests(bless: bool) -> Result<TestCounts, String> {
    let npm = ensure_npm()?;
    let dir = client_dir();
    npm_ci(&npm, &dir)?;
    run_command(cargo().args([
        "build",
        "--locked",
        "--package",
        "podnet-cli",
        "--package",
        "podnet-testkit",
    ]))?;
    run_command(Command::new(&npm).args(["run", "build"]).current_dir(&dir))?;
    // The typings as a game uses them (typed handlers), compiled, not run.
    run_command(
        Command::new(&npm)
            .args(["run", "typecheck"])
            .current_dir(&dir),
    )?;
    check_bundle(&dir, bless)?;
    let podnet = target_dir()
        .join("debug")
        .join(format!("podnet{}", std::env::consts::EXE_SUFFIX));
    let mut cmd = Command::new(find_program("node").ok_or("node is missing")?);
    cmd.args(["--test", "--test-reporter=tap", "test/"])
        .current_dir(&dir)
        .env("PODNET_BIN", &podnet)
        .env(
            "CUT_PROXY_BIN",
            target_dir()
                .join("debug")
                .join(format!("cut-proxy{}", std::env::consts::EXE_SUFFIX)),
        );
    let counts = run_node_tests(&mut cmd, "the TypeScript client's tests")?;
    Ok(counts)
}

/// `cargo xtask typescript [--bless]`: the client's tests alone; `--bless` updates the
/// whiteboard's copy of the bundle.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let bless = match args {
        [] => false,
        [flag] if flag == "--bless" => true,
        _ => {
            return Err(format!(
                "`cargo xtask typescript` takes only --bless (got `{}`)",
                args.join(" ")
            ));
        }
    };
    let counts = run_client_tests(bless)?;
    println!(
        "typescript: {} passed, {} failed",
        counts.passed, counts.failed
    );
    Ok(())
}

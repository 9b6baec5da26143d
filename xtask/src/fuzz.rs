//! `cargo xtask fuzz --seconds N [--target NAME]`: coverage-guided fuzzing with libFuzzer
//! on the stable toolchain.
//!
//! The targets live in `fuzz/`, a crate outside the workspace. cargo-fuzz would need a
//! nightly toolchain for its sanitizer flags; libFuzzer itself only needs LLVM's coverage
//! instrumentation, which stable rustc turns on with the `-Cpasses=sancov-module` flags
//! below. Without AddressSanitizer, what the fuzzer catches is what safe Rust can do
//! wrong: panics (failed checks among them), stack overflows, timeouts, and allocations
//! over libFuzzer's limit.
//!
//! Steps: the checks run over the seeds as plain tests; the targets are built with
//! instrumentation; then all targets run at once (one per core) for N seconds each, with
//! a corpus kept under target/fuzz/corpus/ between runs. A crash fails the task and names
//! the saved input and how to replay it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::util::{cargo, describe, project_root, run as run_command, seconds_arg, target_dir};

/// The fuzz targets, as named in fuzz/Cargo.toml.
const TARGETS: [&str; 7] = [
    "frames",
    "payload",
    "websocket",
    "connection",
    "lobby",
    "http",
    "envelope",
];

/// libFuzzer's coverage instrumentation, as cargo-fuzz sets it, minus the sanitizer.
const INSTRUMENT: &str = "-Cpasses=sancov-module \
    -Cllvm-args=-sanitizer-coverage-level=4 \
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
    -Cllvm-args=-sanitizer-coverage-pc-table \
    -Cllvm-args=-sanitizer-coverage-trace-compares \
    --cfg fuzzing";

/// The longest input tried: frames and payloads of a few KiB reach every branch of the
/// codec and the scanner, and shorter inputs run faster.
const MAX_LEN: &str = "4096";

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut seconds: u64 = 60;
    let mut only: Option<String> = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--seconds" => {
                seconds = seconds_arg(rest.next(), 1)?;
            }
            "--target" => {
                let name = rest.next().ok_or("--target needs a name")?;
                if !TARGETS.contains(&name.as_str()) {
                    return Err(format!("no fuzz target `{name}`; they are {TARGETS:?}"));
                }
                only = Some(name.clone());
            }
            other => {
                return Err(format!(
                    "unknown argument `{other}`; usage: cargo xtask fuzz [--seconds N] [--target NAME]"
                ));
            }
        }
    }
    let targets: Vec<&str> = TARGETS
        .iter()
        .copied()
        .filter(|t| only.as_deref().is_none_or(|o| o == *t))
        .collect();

    let manifest = project_root().join("fuzz").join("Cargo.toml");
    let fuzz_target_dir = target_dir().join("fuzz");

    println!("==> fuzz: the checks over the seeds, as tests");
    run_command(
        cargo()
            .args(["test", "--locked", "--manifest-path"])
            .arg(&manifest)
            .env("CARGO_TARGET_DIR", &fuzz_target_dir),
    )?;

    println!("==> fuzz: building the targets with coverage instrumentation");
    let host = host_triple()?;
    run_command(
        cargo()
            .args([
                "build",
                "--release",
                "--locked",
                "--bins",
                "--manifest-path",
            ])
            .arg(&manifest)
            .args(["--target", &host])
            .env("CARGO_TARGET_DIR", &fuzz_target_dir)
            // Only the targets are instrumented: with --target given, RUSTFLAGS skips
            // build scripts and proc macros.
            .env("RUSTFLAGS", INSTRUMENT),
    )?;
    let bin_dir = fuzz_target_dir.join(&host).join("release");

    println!(
        "==> fuzz: {} for {seconds} s each, at once",
        targets.join(", ")
    );
    let start = Instant::now();
    let mut running = Vec::new();
    for target in &targets {
        let corpus = fuzz_target_dir.join("corpus").join(target);
        let artifacts = fuzz_target_dir.join("artifacts").join(target);
        for dir in [&corpus, &artifacts] {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("could not create {}: {e}", dir.display()))?;
        }
        let log_path = fuzz_target_dir.join(format!("{target}.log"));
        let log = std::fs::File::create(&log_path)
            .map_err(|e| format!("could not create {}: {e}", log_path.display()))?;
        let mut cmd = Command::new(bin_dir.join(target));
        cmd.arg(&corpus)
            .arg(project_root().join("fuzz").join("seeds").join(target))
            .arg(format!("-max_total_time={seconds}"))
            .arg(format!("-max_len={MAX_LEN}"))
            .arg("-timeout=10")
            .arg("-rss_limit_mb=2048")
            .arg("-print_final_stats=1")
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            .stdout(Stdio::null())
            .stderr(log);
        let child = cmd
            .spawn()
            .map_err(|e| format!("could not start `{}`: {e}", describe(&cmd)))?;
        running.push((*target, child, log_path, artifacts, bin_dir.join(target)));
    }

    let mut failures = Vec::new();
    for (target, mut child, log_path, artifacts, bin) in running {
        let status = child
            .wait()
            .map_err(|e| format!("waiting for fuzz target {target}: {e}"))?;
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        println!("{target:>8}: {}", summary(&log));
        if !status.success() {
            let saved = newest_file(&artifacts)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "(no input saved)".into());
            failures.push(format!(
                "fuzz target `{target}` crashed ({status}); the input is {saved}\n\
                 log: {}\n\
                 replay: {} {saved}\n\
                 once fixed, copy the input into fuzz/seeds/{target}/ so it stays tested",
                log_path.display(),
                bin.display(),
            ));
        }
    }
    println!(
        "==> fuzz: {:.0} s, {} crash(es)",
        start.elapsed().as_secs_f64(),
        failures.len()
    );
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n\n"))
    }
}

/// rustc's host triple, so the instrumented build is a cross build to the host.
fn host_triple() -> Result<String, String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc)
        .arg("-vV")
        .output()
        .map_err(|e| format!("could not run rustc -vV: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .ok_or_else(|| "rustc -vV printed no host triple".into())
}

/// One line from a libFuzzer log: runs, speed, coverage and corpus size.
fn summary(log: &str) -> String {
    let stat = |name: &str| {
        log.lines()
            .find_map(|l| l.strip_prefix(&format!("stat::{name}:")))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| "?".into())
    };
    // The last status line, e.g. "#123456 DONE cov: 812 ft: 2961 corp: 410/38Kb ...".
    let cov = log
        .lines()
        .rev()
        .find(|l| l.contains(" cov: "))
        .and_then(|l| l.split_once(" cov: ").map(|(_, rest)| rest))
        .map(|rest| {
            rest.split_whitespace()
                .take(5)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| "?".into());
    format!(
        "{} runs ({}/s), cov: {cov}, peak RSS {} MB",
        stat("number_of_executed_units"),
        stat("average_exec_per_sec"),
        stat("peak_rss_mb"),
    )
}

fn newest_file(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .max()
        .map(|(_, p)| p)
}

//! Running commands and finding the project's directories.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The workspace root: xtask lives one level below it.
pub(crate) fn project_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(PathBuf::from)
        .unwrap_or(manifest_dir)
}

/// Cargo's target directory, honouring `CARGO_TARGET_DIR`.
pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| project_root().join("target"))
}

/// A `cargo` command run from the project root, with the cargo that runs xtask.
pub(crate) fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(project_root());
    cmd
}

/// Builds `examples` of `package` in the debug profile, with `features` on.
pub(crate) fn build_examples(
    package: &str,
    features: &[&str],
    examples: &[&str],
) -> Result<(), String> {
    let mut cmd = cargo();
    cmd.args(["build", "--locked", "--package", package]);
    for feature in features {
        cmd.args(["--features", feature]);
    }
    for example in examples {
        cmd.args(["--example", example]);
    }
    run(&mut cmd)
}

/// Where a build put the program `name`, under `dir` of the target directory
/// (`debug/examples`, `debug`, ...).
pub(crate) fn built(dir: &str, name: &str) -> PathBuf {
    target_dir()
        .join(dir)
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// Describes a command for messages: program and arguments.
pub(crate) fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|s| s.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `cmd` with inherited output; fails with the command line if it fails.
pub(crate) fn run(cmd: &mut Command) -> Result<(), String> {
    let status = cmd
        .status()
        .map_err(|e| format!("could not start `{}`: {e}", describe(cmd)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({status})", describe(cmd)))
    }
}

/// Test counts summed over cargo test's `test result:` lines.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TestCounts {
    pub(crate) passed: u64,
    pub(crate) failed: u64,
    pub(crate) ignored: u64,
}

impl TestCounts {
    /// Adds the counts of one `test result: ok. 3 passed; 0 failed; 1 ignored; ...` line.
    pub(crate) fn add_line(&mut self, line: &str) {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            return;
        };
        for part in rest.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(what), Some(n)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = n.parse::<u64>() else { continue };
            match what {
                "passed" => self.passed += n,
                "failed" => self.failed += n,
                "ignored" => self.ignored += n,
                _ => {}
            }
        }
    }

    pub(crate) fn add(&mut self, other: TestCounts) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.ignored += other.ignored;
    }
}

/// Runs a `cargo test` command, echoing its output, and returns the summed counts.
pub(crate) fn run_tests(cmd: &mut Command) -> Result<TestCounts, String> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start `{}`: {e}", describe(cmd)))?;
    let mut counts = TestCounts::default();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let line = line.map_err(|e| format!("reading test output: {e}"))?;
            println!("{line}");
            counts.add_line(&line);
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for `{}`: {e}", describe(cmd)))?;
    if status.success() {
        Ok(counts)
    } else {
        Err(format!("`{}` failed ({status})", describe(cmd)))
    }
}

/// Reads the value of a `--seconds` option: a whole number, at least `min`.
pub(crate) fn seconds_arg(value: Option<&String>, min: u64) -> Result<u64, String> {
    value
        .and_then(|s| s.parse().ok())
        .filter(|s| *s >= min)
        .ok_or_else(|| format!("--seconds needs a whole number of seconds, at least {min}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts are read from cargo's summary lines and summed; other lines are ignored.
    #[test]
    fn sums_cargo_test_result_lines() {
        let mut counts = TestCounts::default();
        counts.add_line(
            "test result: ok. 18 passed; 0 failed; 2 ignored; 0 measured; 0 filtered out; \
             finished in 0.00s",
        );
        counts.add_line("test result: FAILED. 5 passed; 1 failed; 0 ignored; 0 measured");
        counts.add_line("test deep_nesting ... ok");
        assert_eq!(
            counts,
            TestCounts {
                passed: 23,
                failed: 1,
                ignored: 2
            }
        );
    }
}

//! Finding a Python >= 3.12 and keeping a venv with the interop test packages under
//! `target/`.
//!
//! The interpreter is looked for, never assumed: `PODNET_BASE_PYTHON` if set, then
//! `python3.12`, `python3.13`, ... and `python3` on PATH, then the versions pyenv knows
//! (through `pyenv` itself, or `$PYENV_ROOT`, by default `~/.pyenv`). Of those that run
//! and are new enough, the oldest is used: repod requires 3.12, so that is the version its
//! users most surely share.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{describe, project_root, run, target_dir};

/// The oldest Python podnet's interop tests accept (repodnet requires it).
const MIN_VERSION: (u32, u32) = (3, 12);

/// A Python interpreter that ran and reported its version.
#[derive(Debug, Clone)]
struct Interpreter {
    executable: PathBuf,
    version: (u32, u32),
}

/// Asks `cmd` (a Python) for its version and real executable; `None` if it does not run.
fn probe(mut cmd: Command) -> Option<Interpreter> {
    let out = cmd
        .args([
            "-c",
            "import sys; print('%d.%d' % sys.version_info[:2]); print(sys.executable)",
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let mut lines = text.lines();
    let version = parse_version(lines.next()?)?;
    let executable = PathBuf::from(lines.next()?.trim());
    Some(Interpreter {
        executable,
        version,
    })
}

/// Parses the major and minor of "3.12" or "3.12.1"; `None` for "system", "pypy3.10" and
/// the like.
fn parse_version(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.trim().split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    if let Some(patch) = parts.next() {
        patch.parse::<u32>().ok()?;
    }
    Some((major, minor))
}

/// The installed pyenv versions' `python3` executables, with their versions.
fn pyenv_pythons() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    if let Ok(out) = Command::new("pyenv").arg("root").output() {
        if out.status.success() {
            roots.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
        }
    }
    if let Some(root) = std::env::var_os("PYENV_ROOT") {
        roots.push(PathBuf::from(root));
    }
    if let Some(home) = std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE")) {
        roots.push(Path::new(&home).join(".pyenv"));
    }
    let mut found = Vec::new();
    for root in roots {
        let Ok(entries) = fs::read_dir(root.join("versions")) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if parse_version(&name).is_none() {
                continue;
            }
            for exe in ["bin/python3", "python.exe"] {
                let path = entry.path().join(exe);
                if path.is_file() && !found.contains(&path) {
                    found.push(path);
                }
            }
        }
    }
    found
}

/// Finds the Python to build the venv from, or says what to do.
fn find_base_python() -> Result<Interpreter, String> {
    if let Some(path) = std::env::var_os("PODNET_BASE_PYTHON") {
        let cmd = Command::new(&path);
        return match probe(cmd) {
            Some(py) if py.version >= MIN_VERSION => Ok(py),
            Some(py) => Err(format!(
                "PODNET_BASE_PYTHON={} is Python {}.{}, but the interop tests need >= {}.{}",
                path.to_string_lossy(),
                py.version.0,
                py.version.1,
                MIN_VERSION.0,
                MIN_VERSION.1
            )),
            None => Err(format!(
                "PODNET_BASE_PYTHON={} does not run",
                path.to_string_lossy()
            )),
        };
    }
    let mut candidates: Vec<Command> = [
        "python3.12",
        "python3.13",
        "python3.14",
        "python3",
        "python",
    ]
    .into_iter()
    .map(Command::new)
    .collect();
    candidates.extend(pyenv_pythons().into_iter().map(Command::new));
    let mut seen = Vec::new();
    for cmd in candidates {
        if let Some(py) = probe(cmd) {
            seen.push(py);
        }
    }
    seen.iter()
        .filter(|py| py.version >= MIN_VERSION)
        .min_by_key(|py| py.version)
        .cloned()
        .ok_or_else(|| {
            let found: Vec<String> = seen
                .iter()
                .map(|py| {
                    format!(
                        "{}.{} at {}",
                        py.version.0,
                        py.version.1,
                        py.executable.display()
                    )
                })
                .collect();
            format!(
                "no Python >= {}.{} found (looked on PATH and in pyenv; found: {}). Install one \
                 (for example `pyenv install 3.12`), or point PODNET_BASE_PYTHON at it",
                MIN_VERSION.0,
                MIN_VERSION.1,
                if found.is_empty() {
                    "none".to_string()
                } else {
                    found.join(", ")
                }
            )
        })
}

/// The venv's interpreter.
fn venv_python(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

/// Makes (or reuses) the venv with the pinned interop packages and returns its Python.
///
/// The venv is rebuilt when the base interpreter or the requirements change; a stamp file
/// records what it was built from.
pub(crate) fn ensure_venv() -> Result<PathBuf, String> {
    let requirements_path = project_root().join("xtask/python/requirements.txt");
    let requirements = fs::read_to_string(&requirements_path)
        .map_err(|e| format!("reading {}: {e}", requirements_path.display()))?;
    let base = find_base_python()?;
    let venv = target_dir().join("podnet-python").join("venv");
    let python = venv_python(&venv);
    let stamp_path = venv.join("podnet-stamp.txt");
    let stamp = format!("{}\n{requirements}", base.executable.display());
    if python.is_file() && fs::read_to_string(&stamp_path).ok().as_deref() == Some(&stamp) {
        return Ok(python);
    }

    println!(
        "xtask: making a Python {}.{} venv at {} (from {})",
        base.version.0,
        base.version.1,
        venv.display(),
        base.executable.display()
    );
    if venv.exists() {
        fs::remove_dir_all(&venv).map_err(|e| format!("removing old {}: {e}", venv.display()))?;
    }
    run(Command::new(&base.executable)
        .args(["-m", "venv"])
        .arg(&venv))
    .map_err(|e| {
        format!("{e}\nxtask: could not make a venv; on Debian/Ubuntu install `python3-venv`")
    })?;
    let mut pip = Command::new(&python);
    pip.args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--quiet",
        "-r",
    ])
    .arg(&requirements_path);
    run(&mut pip).map_err(|e| {
        format!(
            "{e}\nxtask: could not install the interop packages ({}); is the package registry \
             reachable?",
            describe(&pip)
        )
    })?;
    fs::write(&stamp_path, stamp).map_err(|e| format!("writing {}: {e}", stamp_path.display()))?;
    Ok(python)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Version names from `sys.version_info` and pyenv's folders parse; others do not.
    #[test]
    fn parses_python_versions() {
        assert_eq!(parse_version("3.12"), Some((3, 12)));
        assert_eq!(parse_version("3.12.1\n"), Some((3, 12)));
        assert_eq!(parse_version("3.9.18"), Some((3, 9)));
        assert_eq!(parse_version("system"), None);
        assert_eq!(parse_version("pypy3.10-7.3.12"), None);
        assert_eq!(parse_version("3.13.0t"), None);
        assert!(parse_version("3.12").unwrap() >= MIN_VERSION);
        assert!(parse_version("3.11.7").unwrap() < MIN_VERSION);
    }
}

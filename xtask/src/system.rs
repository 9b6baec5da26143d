//! Tools from the machine: found on PATH, or installed with the system's package manager
//! (Debian's apt) when missing, never downloaded by hand.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::util::run as run_command;

/// `name` on PATH, if it is there.
pub(crate) fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Installs Debian `packages` with apt-get (as root, or through sudo): `apt-get update`
/// once per run, then `apt-get install -y`.
pub(crate) fn apt_install(packages: &[&str]) -> Result<(), String> {
    let apt = find_program("apt-get").ok_or_else(|| {
        format!(
            "{} missing and no apt-get to install them with: install them with your system's \
             package manager",
            packages.join(", ")
        )
    })?;
    let as_root = |args: &[&str]| -> Command {
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        let mut cmd = if root {
            Command::new(&apt)
        } else {
            let mut sudo = Command::new("sudo");
            sudo.arg("-n").arg(&apt);
            sudo
        };
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    static UPDATED: OnceLock<Result<(), String>> = OnceLock::new();
    UPDATED
        .get_or_init(|| run_command(&mut as_root(&["update", "-q"])))
        .clone()?;
    let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
    args.extend_from_slice(packages);
    println!("xtask: installing {} with apt-get", packages.join(", "));
    run_command(&mut as_root(&args))
}

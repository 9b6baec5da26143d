//! `cargo xtask soak [--seconds N]`: a podnet server under steady load (stable players,
//! broadcast, churn of connects, disconnects and resets) for N seconds (default 60),
//! passing when every acknowledged message reached every stable player and the server's
//! memory stayed flat after warm-up. The load and the verdict are in
//! crates/podnet-bench/src/bin/soak.rs. Linux only: it reads the server's RSS from /proc.
//!
//! `cargo xtask soak --chaos [--seconds N] [--seed S]`: faults under load instead: three
//! lobby nodes and Redis, players in games across them, and cuts, Redis restarts and
//! killed nodes; passing when no line of a game is lost or repeated and every early end
//! is reported (crates/podnet-bench/src/bin/chaos.rs). Installs redis-server when
//! missing.

use crate::util::{run as run_command, seconds_arg, target_dir};

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut seconds: u64 = 60;
    let mut chaos = false;
    let mut seed: Option<String> = None;
    let usage = "usage: cargo xtask soak [--chaos [--seed S]] [--seconds N]";
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--seconds" => {
                // 10 s are warm-up; the memory verdict needs samples after it.
                seconds = seconds_arg(rest.next(), 15)?;
            }
            "--chaos" => chaos = true,
            "--seed" => {
                let value = rest.next().ok_or(usage)?;
                value
                    .parse::<u64>()
                    .map_err(|_| format!("--seed takes a number, not {value:?}"))?;
                seed = Some(value.clone());
            }
            other => return Err(format!("unknown argument `{other}`; {usage}")),
        }
    }
    if !cfg!(target_os = "linux") {
        return Err("the soak test reads the server's memory from /proc: Linux only".into());
    }
    // The chaos run's repod players need Python with repodnet, its WebSocket players Node
    // and the TypeScript client, built.
    let mut players: Vec<(&str, std::path::PathBuf)> = Vec::new();
    if chaos {
        crate::cluster::ensure_redis()?;
        players.push(("PODNET_PYTHON", crate::python::ensure_venv()?));
        let npm = crate::node::ensure_npm()?;
        let dir = crate::node::client_dir();
        crate::node::npm_ci(&npm, &dir)?;
        run_command(
            std::process::Command::new(&npm)
                .args(["run", "build"])
                .current_dir(&dir),
        )?;
        let node = crate::system::find_program("node").ok_or("node is missing")?;
        players.push(("PODNET_NODE", node));
    }
    println!("==> soak: building (release)");
    crate::bench::build_tools()?;
    let program = if chaos { "chaos" } else { "soak" };
    let exe = target_dir()
        .join("release")
        .join(format!("{program}{}", std::env::consts::EXE_SUFFIX));
    println!(
        "==> soak{}: {seconds} s",
        if chaos { " --chaos" } else { "" }
    );
    let mut command = std::process::Command::new(exe);
    command.args(["--seconds", &seconds.to_string()]);
    if let Some(seed) = seed {
        command.args(["--seed", &seed]);
    }
    command.envs(players);
    run_command(&mut command)
}

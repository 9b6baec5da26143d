//! `cargo xtask soak [--seconds N]`: a podnet server under steady load (stable players,
//! broadcast, churn of connects, disconnects and resets) for N seconds (default 60),
//! passing when every acknowledged message reached every stable player and the server's
//! memory stayed flat after warm-up. The load and the verdict are in
//! crates/podnet-bench/src/bin/soak.rs. Linux only: it reads the server's RSS from /proc.

use crate::util::{run as run_command, seconds_arg, target_dir};

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut seconds: u64 = 60;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--seconds" => {
                // 10 s are warm-up; the memory verdict needs samples after it.
                seconds = seconds_arg(rest.next(), 15)?;
            }
            other => {
                return Err(format!(
                    "unknown argument `{other}`; usage: cargo xtask soak [--seconds N]"
                ));
            }
        }
    }
    if !cfg!(target_os = "linux") {
        return Err("the soak test reads the server's memory from /proc: Linux only".into());
    }
    println!("==> soak: building (release)");
    crate::bench::build_tools()?;
    let exe = target_dir()
        .join("release")
        .join(format!("soak{}", std::env::consts::EXE_SUFFIX));
    println!("==> soak: {seconds} s");
    run_command(std::process::Command::new(exe).args(["--seconds", &seconds.to_string()]))
}

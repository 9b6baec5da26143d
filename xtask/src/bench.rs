//! `cargo xtask bench`: the benchmarks, each printing podnet's figures beside a baseline
//! measured in the same run. Extra arguments go to criterion (for example a filter:
//! `cargo xtask bench move`).

use crate::util::{cargo, run as run_command};

pub(crate) fn run(extra: &[String]) -> Result<(), String> {
    println!("==> codec micro-benchmarks (criterion)");
    run_command(
        cargo()
            .args([
                "bench",
                "--package",
                "podnet-framing",
                "--bench",
                "codec",
                "--",
            ])
            .args(extra),
    )?;
    println!("\n==> round trip through pump(), beside a plain tokio echo");
    run_command(cargo().args(["bench", "--package", "podnet", "--bench", "roundtrip"]))
}

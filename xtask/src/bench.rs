//! `cargo xtask bench`: the benchmarks. Extra arguments go to criterion (for example a
//! filter: `cargo xtask bench move`).

use crate::util::{cargo, run as run_command};

pub(crate) fn run(extra: &[String]) -> Result<(), String> {
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
    )
}

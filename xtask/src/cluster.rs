//! `cargo xtask cluster`: the cluster's tests against a real `redis-server` (Debian's
//! `redis-server` package, installed with apt when missing; each test starts its own on a
//! free loopback port, persistence off).

use crate::system::{apt_install, find_program};
use crate::util::{TestCounts, build_examples, built, cargo, run as run_command, run_tests};

/// Makes sure `redis-server` is there; installs Debian's package if not.
pub(crate) fn ensure_redis() -> Result<(), String> {
    if std::env::var_os("REDIS_SERVER").is_some() || find_program("redis-server").is_some() {
        return Ok(());
    }
    apt_install(&["redis-server"])?;
    find_program("redis-server")
        .map(|_| ())
        .ok_or_else(|| "redis-server is still missing after installing it".to_owned())
}

/// Runs the cluster's tests, with `examples/bench_server` built with the cluster feature
/// for the test that runs several of them.
pub(crate) fn run_cluster_tests() -> Result<TestCounts, String> {
    ensure_redis()?;
    build_examples("podnet", &["cluster"], &["bench_server"])?;
    build_examples("podnet-cluster", &[], &["cluster_chat"])?;
    let example = |name: &str| built("debug/examples", name);
    let counts = run_tests(
        cargo()
            .args([
                "test",
                "--locked",
                "--package",
                "podnet-cluster",
                "--test",
                "cluster",
            ])
            .env("PODNET_BENCH_SERVER", example("bench_server"))
            .env("PODNET_CLUSTER_CHAT", example("cluster_chat")),
    )?;
    if counts.passed == 0 {
        return Err("the cluster tests ran no test".into());
    }
    // The lobby across nodes.
    let lobby = run_tests(cargo().args([
        "test",
        "--locked",
        "--package",
        "podnet-lobby",
        "--features",
        "cluster",
        "--test",
        "cluster",
    ]))?;
    if lobby.passed == 0 {
        return Err("the lobby's cluster tests ran no test".into());
    }
    let mut counts = counts;
    counts.add(lobby);
    // The demos the docs give end by themselves, as they promise.
    run_command(cargo().args([
        "run",
        "--locked",
        "--package",
        "podnet-cluster",
        "--example",
        "cluster_chat",
    ]))?;
    run_command(cargo().args([
        "run",
        "--locked",
        "--package",
        "podnet-lobby",
        "--features",
        "cluster",
        "--example",
        "cluster_lobby",
    ]))?;
    Ok(counts)
}

/// `cargo xtask cluster`.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if let Some(arg) = args.first() {
        return Err(format!(
            "`cargo xtask cluster` takes no arguments (got `{arg}`)"
        ));
    }
    let counts = run_cluster_tests()?;
    println!(
        "\ncluster: {} passed, {} failed",
        counts.passed, counts.failed
    );
    Ok(())
}

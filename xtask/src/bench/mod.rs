//! `cargo xtask bench`: podnet beside a plain tokio baseline and a lean one (and repod, when
//! the interop venv exists), measured in the same run, printed as tables of medians and
//! ratios; the game-tick scenario among them (`--scenario tick` runs it alone).
//! Then the criterion micro-benchmarks. `cargo xtask bench --quick` runs each scenario once
//! with less load, as a smoke test; `--no-micro` skips criterion.
//!
//! Every server is its own process, started on port 0, and driven by the same load
//! generator (crates/podnet-bench), so only the server differs between columns.
//!
//! (Past 500 lines: what is measured, on which servers and with which load, is data
//! read best in one place; the tables are printed by `tables`.)

mod tables;

use tables::{print_cluster_table, print_table};

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::util::{cargo, project_root, run as run_command, target_dir};

/// A server under test.
struct ServerKind {
    name: &'static str,
    command: Vec<String>,
    /// repod (Python) is given a lighter load; rates are per second either way.
    scale: f64,
    /// The scenarios it runs; all when `None` (WebSocket ones only if `websocket`).
    only: Option<&'static [&'static str]>,
    /// Whether it serves WebSocket clients (`ws://ADDR/`).
    websocket: bool,
}

/// The WebSocket rows: podnet over WebSocket beside podnet over TCP (same server, same
/// run) and beside a plain tokio-tungstenite server. (label, WebSocket scenario, TCP
/// scenario, key, target against TCP, target against the WebSocket baseline)
const WS_ROWS: &[(&str, &str, &str, &str, &str, &str)] = &[
    (
        "throughput, 1 client (msg/s)",
        "ws-throughput1",
        "throughput1",
        "per_second",
        ">= 0.6x",
        ">= 0.8x",
    ),
    (
        "throughput, 8 clients (msg/s)",
        "ws-throughput8",
        "throughput8",
        "per_second",
        ">= 0.6x",
        ">= 0.8x",
    ),
    (
        "round trip p50 (us)",
        "ws-rtt",
        "rtt",
        "p50_us",
        "<= 1.3x",
        "",
    ),
    ("round trip p99 (us)", "ws-rtt", "rtt", "p99_us", "", ""),
];

/// The resume rows (podnet only): throughput from podnet peers that ask for a resumable
/// session (the server counts, keeps and acknowledges) beside the same peers without
/// (label, resume scenario, plain scenario, target); and the time from a cut to the
/// resumed session.
const RESUME_ROWS: &[(&str, &str, &str, &str)] = &[
    (
        "throughput, 1 client (msg/s)",
        "throughput1-resume",
        "throughput1-podnet",
        ">= 0.95x",
    ),
    (
        "throughput, 8 clients (msg/s)",
        "throughput8-resume",
        "throughput8-podnet",
        ">= 0.95x",
    ),
];

/// One measured figure: which scenario, which key of its RESULT line.
struct Row {
    label: &'static str,
    scenario: &'static str,
    key: &'static str,
    /// podnet against the plain tokio baseline.
    target: &'static str,
    /// podnet against the lean baseline (the limit of this stack).
    lean_target: &'static str,
}

const ROWS: &[Row] = &[
    Row {
        label: "throughput, 1 client (msg/s)",
        scenario: "throughput1",
        key: "per_second",
        target: ">= 0.7x",
        lean_target: ">= 0.7x",
    },
    Row {
        label: "throughput, 8 clients (msg/s)",
        scenario: "throughput8",
        key: "per_second",
        target: ">= 0.7x",
        lean_target: ">= 0.7x",
    },
    Row {
        label: "round trip, socket client p50 (us)",
        scenario: "rtt",
        key: "p50_us",
        target: "<= 1.2x",
        lean_target: "",
    },
    Row {
        label: "round trip, socket client p99 (us)",
        scenario: "rtt",
        key: "p99_us",
        target: "<= 1.2x",
        lean_target: "",
    },
    Row {
        label: "round trip, socket client max (us)",
        scenario: "rtt",
        key: "max_us",
        target: "<= 2x",
        lean_target: "",
    },
    Row {
        label: "round trip, pump() client p50 (us)",
        scenario: "rtt-pump",
        key: "p50_us",
        target: "",
        lean_target: "",
    },
    Row {
        label: "round trip, pump() client p99 (us)",
        scenario: "rtt-pump",
        key: "p99_us",
        target: "",
        lean_target: "",
    },
    Row {
        label: "fan-out, 100 clients (deliveries/s)",
        scenario: "fanout",
        key: "per_second",
        target: ">= 0.7x",
        lean_target: "",
    },
    Row {
        label: "connections, all answered, time (s)",
        scenario: "connections",
        key: "seconds",
        target: "",
        lean_target: "",
    },
    Row {
        label: "connections, server RSS per conn (KiB)",
        scenario: "connections",
        key: "rss_kib_per_conn",
        target: "<= 1.2x",
        lean_target: "",
    },
];

struct Load {
    runs: usize,
    messages: usize,
    /// Broadcasts in the fan-out: as many as one connection's outbound queue holds
    /// (`max_queued_bytes`, 1 MiB: 10,000 of these 78-byte frames), so that a server that
    /// reads the whole burst before writing any of it disconnects no one as too slow.
    fanout_messages: usize,
    /// Broadcasts in the cluster's fan-out, which crosses Redis: as many as the cluster's
    /// publishing queue holds at once (`ClusterConfig::max_pending`), so none is refused.
    cluster_messages: usize,
    pings: usize,
    connections: usize,
    /// Cuts in the resume-time scenario.
    cuts: usize,
    /// Players in the game-tick scenario, and how long it is measured.
    tick_players: usize,
    tick_seconds: usize,
}

/// Builds podnet-bench's programs (the baseline server, the load generator, the soak)
/// in release mode.
pub(crate) fn build_tools() -> Result<(), String> {
    run_command(cargo().args([
        "build",
        "--release",
        "--locked",
        "--package",
        "podnet-bench",
        "--bins",
    ]))
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    // `--against PATH`: another build of bench_server (an earlier commit's, say), measured
    // in the same run as a column of its own, for A/B comparisons.
    let against = match args.iter().position(|a| a == "--against") {
        Some(i) => Some(
            args.get(i + 1)
                .ok_or("`--against` takes the path of a bench_server binary")?
                .clone(),
        ),
        None => None,
    };
    // `--scenario NAME`: that scenario only (say `tick`), on every server that runs it.
    let only_scenario = match args.iter().position(|a| a == "--scenario") {
        Some(i) => Some(
            args.get(i + 1)
                .ok_or("`--scenario` takes a scenario's name (tick, throughput1, rtt, ...)")?
                .clone(),
        ),
        None => None,
    };
    let micro = !args.iter().any(|a| a == "--no-micro") && !quick && only_scenario.is_none();
    let load = if quick {
        Load {
            runs: 1,
            messages: 20_000,
            fanout_messages: 200,
            cluster_messages: 200,
            pings: 500,
            connections: 1_000,
            cuts: 5,
            tick_players: 200,
            tick_seconds: 2,
        }
    } else {
        Load {
            runs: 3,
            messages: 2_000_000,
            fanout_messages: 10_000,
            cluster_messages: 2_000,
            pings: 2_000,
            connections: 10_000,
            cuts: 50,
            tick_players: 2_000,
            tick_seconds: 5,
        }
    };

    println!("==> building the servers and the load generator (release)");
    build_tools()?;
    // With the cluster feature: the same server, and `--redis` for the cluster rows.
    run_command(cargo().args([
        "build",
        "--release",
        "--locked",
        "--package",
        "podnet",
        "--example",
        "bench_server",
        "--features",
        "cluster",
    ]))?;
    let release = target_dir().join("release");
    let mut kinds = vec![
        ServerKind {
            name: "podnet",
            command: vec![
                path(release.join("examples").join(exe("bench_server"))),
                "127.0.0.1".into(),
                "0".into(),
            ],
            scale: 1.0,
            only: None,
            websocket: true,
        },
        // The same server with its connections spread over two network threads
        // (`ServerConfig::network_threads`), for the many-clients throughput only.
        ServerKind {
            name: "podnet-2t",
            command: vec![
                path(release.join("examples").join(exe("bench_server"))),
                "127.0.0.1".into(),
                "0".into(),
                "--network-threads".into(),
                "2".into(),
            ],
            scale: 1.0,
            only: Some(&["throughput8"]),
            websocket: false,
        },
        // The same server with its network inside pump(), on the game's thread.
        ServerKind {
            name: "podnet-pump",
            command: vec![
                path(release.join("examples").join(exe("bench_server"))),
                "127.0.0.1".into(),
                "0".into(),
                "--pump".into(),
            ],
            scale: 1.0,
            only: None,
            websocket: true,
        },
        ServerKind {
            name: "baseline",
            command: vec![
                path(release.join(exe("baseline_server"))),
                "--port".into(),
                "0".into(),
            ],
            scale: 1.0,
            only: None,
            websocket: false,
        },
        // The lean baseline: one thread, no locks, no channels, no allocation per message.
        ServerKind {
            name: "lean",
            command: vec![
                path(release.join(exe("lean_server"))),
                "--port".into(),
                "0".into(),
            ],
            scale: 1.0,
            // Not the game tick: it has no rooms.
            only: Some(&[
                "throughput1",
                "throughput8",
                "rtt",
                "rtt-pump",
                "fanout",
                "connections",
            ]),
            websocket: false,
        },
        // The lean baseline doing podnet's check of every payload: the same guarantee as
        // podnet, on one thread. The fair limit.
        ServerKind {
            name: "lean+check",
            command: vec![
                path(release.join(exe("lean_server"))),
                "--port".into(),
                "0".into(),
                "--check".into(),
            ],
            scale: 1.0,
            only: Some(&["throughput1", "throughput8", "rtt", "fanout"]),
            websocket: false,
        },
        ServerKind {
            name: "ws-baseline",
            command: vec![
                path(release.join(exe("ws_baseline_server"))),
                "--port".into(),
                "0".into(),
            ],
            scale: 1.0,
            only: Some(&["ws-throughput1", "ws-throughput8", "ws-rtt"]),
            websocket: true,
        },
    ];
    if let Some(before) = &against {
        kinds.push(ServerKind {
            name: "before",
            command: vec![before.clone(), "--port".into(), "0".into()],
            scale: 1.0,
            // Not rtt-pump: its client is this build's podnet client, which an earlier
            // build may not share a protocol version with.
            only: Some(&[
                "throughput1",
                "throughput8",
                "rtt",
                "fanout",
                "connections",
                "tick",
            ]),
            websocket: false,
        });
    }
    let venv_python = target_dir().join("podnet-python/venv/bin/python");
    if venv_python.is_file() {
        kinds.push(ServerKind {
            name: "repod",
            command: vec![
                path(venv_python),
                path(project_root().join("crates/podnet-bench/python/repod_bench_server.py")),
            ],
            scale: 0.05,
            only: None,
            websocket: false,
        });
    } else {
        println!("(no interop venv: run `cargo xtask interop` once to add repod as a column)");
    }
    let loadgen = release.join(exe("loadgen"));

    // results[kind][scenario][key] = values over runs
    let mut results: BTreeMap<&str, BTreeMap<&str, BTreeMap<String, Vec<f64>>>> = BTreeMap::new();
    for run in 1..=load.runs {
        println!("==> run {run} of {}", load.runs);
        for kind in &kinds {
            let scaled = |n: usize| ((n as f64 * kind.scale) as usize).max(1);
            let scenarios: Vec<(&str, Vec<String>)> = vec![
                (
                    "throughput1",
                    vec![
                        "throughput".into(),
                        "{addr}".into(),
                        "1".into(),
                        scaled(load.messages).to_string(),
                    ],
                ),
                (
                    "throughput8",
                    vec![
                        "throughput".into(),
                        "{addr}".into(),
                        "8".into(),
                        scaled(load.messages).to_string(),
                    ],
                ),
                (
                    "rtt",
                    vec!["rtt".into(), "{addr}".into(), load.pings.to_string()],
                ),
                (
                    "rtt-pump",
                    vec!["rtt-pump".into(), "{addr}".into(), load.pings.to_string()],
                ),
                (
                    "fanout",
                    vec![
                        "fanout".into(),
                        "{addr}".into(),
                        "100".into(),
                        scaled(load.fanout_messages * 20)
                            .min(load.fanout_messages)
                            .to_string(),
                    ],
                ),
                (
                    "connections",
                    vec![
                        "connections".into(),
                        "{addr}".into(),
                        if kind.name == "repod" {
                            (load.connections / 5).to_string()
                        } else {
                            load.connections.to_string()
                        },
                    ],
                ),
                // The game tick: players in rooms of 10, 30 inputs a second each, every
                // room stepped 20 times a second (repod at a twentieth of the players).
                (
                    "tick",
                    vec![
                        "tick".into(),
                        "{addr}".into(),
                        scaled(load.tick_players).max(10).to_string(),
                        "10".into(),
                        load.tick_seconds.to_string(),
                        "{pid}".into(),
                    ],
                ),
            ];
            let ws_scenarios: Vec<(&str, Vec<String>)> =
                [("ws-throughput1", "1"), ("ws-throughput8", "8")]
                    .into_iter()
                    .map(|(name, clients)| {
                        (
                            name,
                            vec![
                                "ws-throughput".into(),
                                "{addr}".into(),
                                clients.into(),
                                scaled(load.messages).to_string(),
                            ],
                        )
                    })
                    .chain([(
                        "ws-rtt",
                        vec!["ws-rtt".into(), "{addr}".into(), load.pings.to_string()],
                    )])
                    .collect();
            // podnet peers with and without resume, and the time to resume (podnet only).
            let resume_scenarios: Vec<(&str, Vec<String>)> = if kind.name == "podnet" {
                let throughput = |name: &'static str, mode: &str, clients: &str| {
                    (
                        name,
                        vec![
                            format!("throughput-{mode}"),
                            "{addr}".into(),
                            clients.into(),
                            scaled(load.messages).to_string(),
                        ],
                    )
                };
                // Off and on alternately, three times a run: the ratio is small, the
                // machine's noise is not.
                let pairs = (0..3).flat_map(|_| {
                    [
                        throughput("throughput1-podnet", "podnet", "1"),
                        throughput("throughput1-resume", "resume", "1"),
                        throughput("throughput8-podnet", "podnet", "8"),
                        throughput("throughput8-resume", "resume", "8"),
                    ]
                });
                pairs
                    .chain([
                        (
                            "resume-time",
                            vec!["resume-time".into(), "{addr}".into(), load.cuts.to_string()],
                        ),
                        // No backoff: what resuming itself takes.
                        (
                            "resume-time-0",
                            vec![
                                "resume-time".into(),
                                "{addr}".into(),
                                load.cuts.to_string(),
                                "0".into(),
                            ],
                        ),
                    ])
                    .collect()
            } else {
                Vec::new()
            };
            let scenarios = scenarios
                .into_iter()
                .chain(ws_scenarios)
                .chain(resume_scenarios)
                .filter(|(name, _)| kind.websocket || !name.starts_with("ws-"))
                .filter(|(name, _)| kind.only.is_none_or(|only| only.contains(name)))
                .filter(|(name, _)| only_scenario.as_deref().is_none_or(|only| only == *name));
            for (scenario, args) in scenarios {
                let figures = measure(kind, &loadgen, scenario, &args)
                    .map_err(|e| format!("{} / {scenario}: {e}", kind.name))?;
                print!("    {:<9} {:<12}", kind.name, scenario);
                for (key, value) in &figures {
                    print!(" {key}={value:.1}");
                }
                println!();
                let slot = results
                    .entry(kind.name)
                    .or_default()
                    .entry(scenario)
                    .or_default();
                for (key, value) in figures {
                    slot.entry(key).or_default().push(value);
                }
            }
        }
    }
    // The cluster: three bench servers sharing players through a real redis-server.
    let mut cluster: BTreeMap<&str, BTreeMap<String, Vec<f64>>> = BTreeMap::new();
    match crate::system::find_program("redis-server").filter(|_| only_scenario.is_none()) {
        Some(redis) => {
            let bench_server = release.join("examples").join(exe("bench_server"));
            for run in 1..=load.runs {
                println!("==> cluster run {run} of {}", load.runs);
                for (scenario, figures) in measure_cluster(&redis, &bench_server, &loadgen, &load)?
                {
                    print!("    cluster   {scenario:<18}");
                    for (key, value) in &figures {
                        print!(" {key}={value:.1}");
                    }
                    println!();
                    let slot = cluster.entry(scenario).or_default();
                    for (key, value) in figures {
                        slot.entry(key).or_default().push(value);
                    }
                }
            }
        }
        None if only_scenario.is_none() => println!(
            "(no redis-server: `cargo xtask cluster` installs it; the cluster rows are left out)"
        ),
        None => {}
    }
    print_table(&results, &kinds, load.runs);
    print_cluster_table(&cluster);
    if only_scenario.as_deref().is_none_or(|only| only == "state") {
        state_scenario(&release, &load)?;
    }

    if micro {
        println!("\n==> micro-benchmarks (criterion)");
        // The codec, pump() per event, and the in-process round trip.
        for (package, bench) in [
            ("podnet-framing", "codec"),
            ("podnet", "pump"),
            ("podnet", "roundtrip"),
        ] {
            run_command(cargo().args([
                "bench",
                "--locked",
                "--package",
                package,
                "--bench",
                bench,
            ]))?;
        }
    }
    Ok(())
}

fn exe(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}

fn path(p: PathBuf) -> String {
    p.to_string_lossy().into_owned()
}

/// Kills the server when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a fresh server, runs one scenario against it, returns the RESULT figures.
fn measure(
    kind: &ServerKind,
    loadgen: &PathBuf,
    scenario: &str,
    args: &[String],
) -> Result<Vec<(String, f64)>, String> {
    let mut child = Command::new(&kind.command[0])
        .args(&kind.command[1..])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("could not start {}: {e}", kind.command[0]))?;
    let stdout = child.stdout.take().ok_or("no server stdout")?;
    let server = Running(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(20))
        .map_err(|_| "the server did not say where it listens")?;
    let addr = first
        .split_whitespace()
        .last()
        .ok_or("no address in the server's first line")?
        .to_owned();
    let pid = server.0.id();
    let args: Vec<String> = args
        .iter()
        .map(|a| {
            a.replace("{addr}", &addr)
                .replace("{pid}", &pid.to_string())
        })
        .collect();

    let mut figures = Vec::new();
    let output = if scenario == "connections" {
        let before = rss_kib(pid);
        let mut generator = Command::new(loadgen)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("could not start the load generator: {e}"))?;
        let stdout = generator.stdout.take().ok_or("no loadgen stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let mut collected = String::new();
        for line in lines.by_ref() {
            let line = line.map_err(|e| e.to_string())?;
            collected.push_str(&line);
            collected.push('\n');
            if line.starts_with("HOLDING") {
                break;
            }
        }
        // Every connection is open and answered: measure the server now.
        if let (Some(before), Some(after)) = (before, rss_kib(pid)) {
            let n: f64 = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(1.0);
            figures.push(("rss_kib_per_conn".to_owned(), (after - before) / n));
        }
        drop(generator.stdin.take());
        for line in lines {
            let line = line.map_err(|e| e.to_string())?;
            collected.push_str(&line);
            collected.push('\n');
        }
        let status = generator.wait().map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("the load generator failed: {collected}"));
        }
        collected
    } else {
        let cpu_before = cpu_ns(pid);
        let out = Command::new(loadgen)
            .args(&args)
            .output()
            .map_err(|e| format!("could not start the load generator: {e}"))?;
        if let (Some(before), Some(after)) = (cpu_before, cpu_ns(pid)) {
            figures.push(("cpu_ns".to_owned(), after.saturating_sub(before) as f64));
        }
        if !out.status.success() {
            return Err(format!(
                "the load generator failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let result = output
        .lines()
        .find(|l| l.starts_with("RESULT"))
        .ok_or_else(|| format!("no RESULT line in: {output}"))?;
    for pair in result.split_whitespace().skip(2) {
        if let Some((key, value)) = pair.split_once('=') {
            if let Ok(value) = value.parse::<f64>() {
                figures.push((key.to_owned(), value));
            }
        }
    }
    // The server's CPU (all threads, user and system) per message it handled, or per
    // delivery in the fan-out.
    let figure = |key: &str| figures.iter().find(|(k, _)| k == key).map(|(_, v)| *v);
    let handled = figure("deliveries").or_else(|| figure("messages"));
    if let (Some(cpu), Some(n)) = (figure("cpu_ns"), handled) {
        if n > 0.0 {
            figures.push(("ns_per_msg".to_owned(), cpu / n));
        }
    }
    let _ = std::io::stdout().flush();
    Ok(figures)
}

/// One scenario's figures: (key, value) from its RESULT line.
type Figures = Vec<(String, f64)>;

/// A server process whose first stdout line ends with its address.
fn start_server(program: &PathBuf, args: &[String]) -> Result<(Running, String), String> {
    let mut child = Command::new(program)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("could not start {}: {e}", program.display()))?;
    let stdout = child.stdout.take().ok_or("no server stdout")?;
    let running = Running(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let addr = line
        .split_whitespace()
        .last()
        .ok_or("no address in the server's first line")?
        .to_owned();
    Ok((running, addr))
}

/// One run of the cluster scenarios: a redis-server, three bench servers joined to it,
/// and one alone; fan-out to 100 clients over the three against 100 on the one, and the
/// time a broadcast takes to a client on another node against one on the same node.
fn measure_cluster(
    redis: &PathBuf,
    bench_server: &PathBuf,
    loadgen: &PathBuf,
    load: &Load,
) -> Result<Vec<(&'static str, Figures)>, String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let _redis = Running(
        Command::new(redis)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("could not start redis-server: {e}"))?,
    );
    let url = format!("redis://127.0.0.1:{port}/");
    // Until redis answers: a node that cannot join exits, so retry the first one.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if std::time::Instant::now() > deadline {
            return Err("redis-server did not start".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut nodes = Vec::new();
    let mut addrs = Vec::new();
    for node in ["a", "b", "c"] {
        let args: Vec<String> = ["127.0.0.1", "0", "--redis", &url, "--node", node]
            .map(str::to_owned)
            .to_vec();
        let (running, addr) = start_server(bench_server, &args)?;
        nodes.push(running);
        addrs.push(addr);
    }
    let (_alone, alone) = start_server(bench_server, &["127.0.0.1".into(), "0".into()])?;
    let run = |args: &[String]| -> Result<Figures, String> {
        let out = Command::new(loadgen)
            .args(args)
            .output()
            .map_err(|e| format!("could not start the load generator: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            return Err(format!(
                "the load generator failed: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let result = text
            .lines()
            .find(|l| l.starts_with("RESULT"))
            .ok_or_else(|| format!("no RESULT line in: {text}"))?;
        Ok(result
            .split_whitespace()
            .skip(2)
            .filter_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                Some((key.to_owned(), value.parse().ok()?))
            })
            .collect())
    };
    let messages = load.cluster_messages.to_string();
    let pings = load.pings.to_string();
    let spread = addrs.join(",");
    let arg = |parts: &[&str]| parts.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>();
    Ok(vec![
        (
            "fanout-1node",
            run(&arg(&["fanout", &alone, "100", &messages]))?,
        ),
        (
            "fanout-3nodes",
            run(&arg(&["fanout", &spread, "100", &messages]))?,
        ),
        (
            "latency-same-node",
            run(&arg(&[
                "broadcast-latency",
                &format!("{},{}", addrs[0], addrs[0]),
                &pings,
            ]))?,
        ),
        (
            "latency-other-node",
            run(&arg(&[
                "broadcast-latency",
                &format!("{},{}", addrs[0], addrs[1]),
                &pings,
            ]))?,
        ),
    ])
}

/// The CPU time a process has run so far, all its threads, in nanoseconds: the sum of
/// each thread's `/proc/PID/task/TID/schedstat` (Linux only; finer than `stat`'s ticks).
fn cpu_ns(pid: u32) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0;
    for task in tasks.flatten() {
        let stat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// The resident memory of a process, in KiB (Linux only).
fn rss_kib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The state scenario: replicated state (podnet-state) against sending the whole state
/// each step, in the tick's rooms (crates/podnet-bench/src/bin/state_bench.rs).
fn state_scenario(release: &std::path::Path, load: &Load) -> Result<(), String> {
    let players = load.tick_players.to_string();
    let steps = (load.tick_seconds * 20).to_string();
    let output = std::process::Command::new(release.join(exe("state_bench")))
        .args(["--players", &players, "--room", "10", "--steps", &steps])
        .output()
        .map_err(|e| format!("could not run state_bench: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "state_bench failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let figure = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .unwrap_or("?")
            .to_owned()
    };
    println!(
        "\nreplicated state, {} players in rooms of 10 at 20 steps a second (one thread, no sockets)",
        figure("players")
    );
    println!(
        "  {:<28}{:>14}{:>14}{:>10}",
        "", "whole state", "patches", "ratio"
    );
    println!(
        "  {:<28}{:>14}{:>14}{:>10}",
        "bytes per player per second",
        figure("whole_bytes_per_player_s"),
        figure("patch_bytes_per_player_s"),
        figure("bytes_ratio")
    );
    println!(
        "  {:<28}{:>14}{:>14}{:>10}",
        "time per step (us)",
        figure("whole_cpu_us_per_step"),
        figure("patch_cpu_us_per_step"),
        figure("cpu_ratio")
    );
    Ok(())
}

//! Faults under load: three lobby nodes sharing players through Redis, players in games
//! across them, and faults thrown at all of it; every line said in a game is checked to
//! arrive once, in order, or its loss to be reported. `cargo xtask soak --chaos` runs it.
//!
//! ```text
//! chaos [--seconds N] [--seed S]    the run (prints a table; fails on a broken guarantee)
//! chaos node --redis URL --node ID  one node: prints "node ID on ADDR", serves until killed
//! ```
//!
//! The nodes run podnet's lobby across a cluster (`LobbyServer::start_clustered`, a
//! `pump()` game loop each) with a relay game for two: each player says
//! [`LINES`] numbered lines, every line goes to both, and the game ends when both have
//! said them all (or a player leaves). A game often runs on one node with a player of
//! another taking part through their own node, so its lines cross Redis.
//!
//! The players (tokio tasks of this process) reach the nodes through fault proxies:
//! most resume after a cut (podnet's resumable sessions), some do not (like repod's
//! clients) and log in again. The faults, from a seeded schedule:
//! - cuts between players and a node (every connection through its proxy);
//! - cuts between the nodes and Redis (every connection through Redis's proxy);
//! - Redis restarts (killed, empty when it comes back);
//! - SIGKILL of a node (never node `a`, the survivor whose memory and open files are
//!   checked), started again under a new id.
//!
//! The guarantees checked, by the players, on every line of every game:
//! - no line lost in the middle of a game, and none repeated (a gap or a repeat fails);
//! - a game ended early says why: its node died, or a player left (their node died, or
//!   they could not resume); a game that stops without word fails (no line for
//!   [`STALL`]);
//! - the survivor's open files are back where they were once the players are gone, and
//!   its memory is flat (the last third of its samples no more than 10 %, or 4 MiB, above
//!   the first third after the warm-up).

mod game;
mod player;
mod tally;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use podnet_testkit::{Cut, Process, Proxy, RedisServer, Rng};
use tokio::sync::watch;

use tally::{F, FIELDS, Tally, Verdict, parse_tally};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Lines each player says in a game.
const LINES: u64 = 20;
/// How often a player in a game says its next line.
const SAY_EVERY: Duration = Duration::from_millis(30);
/// Rust players (podnet's client, resuming), repod players (Python's `repodnet`, which
/// does not resume) and WebSocket players (podnet's TypeScript client, resuming).
const RUST_PLAYERS: u64 = 12;
const REPOD_PLAYERS: u64 = 6;
const WEBSOCKET_PLAYERS: u64 = 6;
/// A game with no line for this long has stopped without word.
const STALL: Duration = Duration::from_secs(15);
/// The repod players' program (run with `PODNET_PYTHON`, a Python with `repodnet`).
const REPOD_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/chaos/repod_players.py");
/// The WebSocket players' program (run with `PODNET_NODE`; the TypeScript client built).
const WEBSOCKET_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../clients/typescript/chaos/ws-players.mjs"
);
/// What a player told of its game's node dying reads (podnet-lobby's wording), and one
/// whose node lost touch with the game's.
const NODE_GONE: &str = "the server running this game stopped";
const CUT_OFF: &str = "the server running this game lost touch with yours";

/// A cut that leaves one side silent is noticed within 2 s (the default, 30 s, rides
/// out a player's network hiccups; here every cut would stall a game that long).
fn quick_heartbeat(liveness: &mut podnet_proto::Liveness) {
    liveness.heartbeat_interval = Some(Duration::from_millis(500));
    liveness.heartbeat_timeout = Duration::from_secs(2);
}

// ---- The nodes, behind their proxies ----

/// A node process and the proxy its players reach it through.
struct NodeSlot {
    id: String,
    process: Process,
    /// The resuming players' proxy, and the repod players' (`None` once the run is over).
    proxy: Option<Proxy>,
    repod_proxy: Option<Proxy>,
}

fn start_node(redis_url: &str, id: &str) -> Result<(Process, std::net::SocketAddr)> {
    let mut command = Command::new(std::env::current_exe()?);
    command.args(["node", "--redis", redis_url, "--node", id]);
    let (process, addr) = Process::start_listening(&mut command)
        .map_err(|e| format!("could not start node {id} ({}): {e}", describe(&command)))?;
    Ok((process, addr.parse()?))
}

fn describe(command: &Command) -> String {
    format!("{command:?}")
}

/// Open files and resident memory (KiB) of process `pid`, from /proc.
fn usage(pid: u32) -> Option<(usize, u64)> {
    let files = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some((files, rss))
}

// ---- The run ----

fn flag(args: &[String], name: &str, default: u64) -> Result<u64> {
    match args.iter().position(|a| a == name) {
        Some(i) => Ok(args
            .get(i + 1)
            .ok_or(format!("{name} takes a number"))?
            .parse()?),
        None => Ok(default),
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("node") {
        return game::node(&args[1..]);
    }
    let seconds = flag(&args, "--seconds", 60)?;
    let seed = flag(&args, "--seed", 1)?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run(seconds, seed))
}

async fn run(seconds: u64, seed: u64) -> Result<()> {
    let mut redis = RedisServer::start()?;
    let redis_proxy = Proxy::start(redis.addr(), seed)?;
    let url = format!("redis://{}/", redis_proxy.addr());
    let mut nodes = Vec::new();
    for id in ["a", "b", "c"] {
        let (process, addr) = start_node(&url, id)?;
        let proxy = Some(Proxy::start(addr, seed + nodes.len() as u64 + 1)?);
        let repod_proxy = Some(Proxy::start(addr, seed + nodes.len() as u64 + 11)?);
        nodes.push(NodeSlot {
            id: id.to_owned(),
            process,
            proxy,
            repod_proxy,
        });
    }
    let survivor = nodes[0].process.id();
    let (files_at_start, _) = usage(survivor).ok_or("cannot read /proc")?;
    let proxies = Arc::new(
        nodes
            .iter()
            .filter_map(|n| n.proxy.as_ref().map(Proxy::addr))
            .collect::<Vec<_>>(),
    );
    let repod_proxies: Vec<std::net::SocketAddr> = nodes
        .iter()
        .filter_map(|n| n.repod_proxy.as_ref().map(Proxy::addr))
        .collect();
    let (stop, stopped) = watch::channel(false);
    let mut kinds: Vec<(&str, Arc<Tally>)> = vec![("rust", Arc::default())];
    let mut tasks = Vec::new();
    for i in 0..RUST_PLAYERS {
        let tally = kinds[0].1.clone();
        tasks.push(tokio::spawn(player::player(
            i,
            true,
            proxies.clone(),
            tally,
            stopped.clone(),
        )));
    }
    // repod's and the browser's players, in processes of their own.
    let outside =
        |program: &str, script: &str, first: u64, count: u64, proxies: &[std::net::SocketAddr]| {
            let mut command = Command::new(program);
            command
                .arg(script)
                .args(
                    [
                        LINES,
                        STALL.as_millis() as u64,
                        SAY_EVERY.as_millis() as u64,
                        first,
                        count,
                    ]
                    .map(|n| n.to_string()),
                )
                .args(proxies.iter().map(ToString::to_string))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped());
            command.spawn()
        };
    let mut others = Vec::new();
    match std::env::var("PODNET_PYTHON") {
        Ok(python) => others.push((
            "repod",
            outside(&python, REPOD_SCRIPT, 100, REPOD_PLAYERS, &repod_proxies)?,
        )),
        Err(_) => {
            println!("(no PODNET_PYTHON: no repod players; `cargo xtask soak --chaos` sets it)")
        }
    }
    match std::env::var("PODNET_NODE") {
        Ok(node) => others.push((
            "websocket",
            outside(&node, WEBSOCKET_SCRIPT, 200, WEBSOCKET_PLAYERS, &proxies)?,
        )),
        Err(_) => {
            println!("(no PODNET_NODE: no WebSocket players; `cargo xtask soak --chaos` sets it)")
        }
    }
    println!(
        "chaos: {seconds} s, seed {seed}: 3 nodes and Redis; players: {RUST_PLAYERS} rust (resuming), \
         {} repod, {} websocket (resuming); games of 2, {LINES} lines each",
        if others.iter().any(|(k, _)| *k == "repod") {
            REPOD_PLAYERS
        } else {
            0
        },
        if others.iter().any(|(k, _)| *k == "websocket") {
            WEBSOCKET_PLAYERS
        } else {
            0
        },
    );

    // The faults, one every 500 ms in turn, on this task (Redis and processes are
    // started and stopped with blocking calls, briefly).
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut faults: HashMap<&str, u64> = HashMap::new();
    let mut memory: Vec<u64> = Vec::new();
    let started = Instant::now();
    let end = started + Duration::from_secs(seconds);
    let mut step = 0u64;
    let mut generation = 1;
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(500)).await;
        step += 1;
        if let Some((_, rss)) = usage(survivor) {
            memory.push(rss);
        }
        // Quiet for the last few seconds, so that the games under way can finish.
        if Instant::now() + Duration::from_secs(3) > end {
            continue;
        }
        match step % 10 {
            1 | 3 | 5 | 7 => {
                let slot = &nodes[rng.below(nodes.len() as u64) as usize];
                let how = [Cut::Both, Cut::ClientSide, Cut::ServerSide][rng.below(3) as usize];
                if let Some(proxy) = &slot.proxy {
                    proxy.cut(how);
                }
                // repod has no heartbeat: a side left silent would never be noticed (a
                // real path that goes silent is found by TCP's keepalive, which a live
                // proxy answers). Its players' connections are cut on both sides.
                if let Some(proxy) = &slot.repod_proxy {
                    proxy.cut(Cut::Both);
                }
                *faults.entry("cuts between players and a node").or_default() += 1;
            }
            2 | 8 => {
                redis_proxy.cut(Cut::Both);
                *faults
                    .entry("cuts between the nodes and Redis")
                    .or_default() += 1;
            }
            4 => {
                redis.stop();
                tokio::time::sleep(Duration::from_millis(300 + rng.below(700))).await;
                redis.start_again()?;
                *faults.entry("Redis restarts (empty)").or_default() += 1;
            }
            6 if step % 20 == 6 => {
                // Never node a: the survivor.
                let victim = 1 + rng.below(2) as usize;
                generation += 1;
                let id = format!("{}{generation}", &nodes[victim].id[..1]);
                let (process, addr) = start_node(&url, &id)?;
                let old = std::mem::replace(&mut nodes[victim].process, process);
                // Dropping it is the SIGKILL.
                drop(old);
                for proxy in [&nodes[victim].proxy, &nodes[victim].repod_proxy]
                    .into_iter()
                    .flatten()
                {
                    proxy.retarget(addr);
                }
                nodes[victim].id = id;
                *faults
                    .entry("nodes killed (SIGKILL), started again")
                    .or_default() += 1;
            }
            _ => {}
        }
    }
    let _ = stop.send(true);
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    }
    let mut results: Vec<(&str, [u64; FIELDS.len()])> = kinds
        .drain(..)
        .map(|(kind, t)| (kind, t.values()))
        .collect();
    for (kind, mut child) in others {
        // Closing their stdin ends them; their last line is their tally.
        drop(child.stdin.take());
        let output = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
        let text = String::from_utf8_lossy(&output.stdout);
        let tally = text
            .lines()
            .find_map(parse_tally)
            .ok_or(format!("the {kind} players ended without a tally: {text}"))?;
        results.push((kind, tally));
    }
    // The network between players and nodes goes too (what is still open through it is
    // reset), as it would when the players' machines go.
    for slot in &mut nodes {
        slot.proxy = None;
        slot.repod_proxy = None;
    }
    // The survivor's open files: back to where they were once the players are gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    let files_at_end = loop {
        let files = usage(survivor).map_or(usize::MAX, |u| u.0);
        if files <= files_at_start || Instant::now() > deadline {
            break files;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let survivor_alive = !nodes[0].process.has_ended() && files_at_end != usize::MAX;

    println!("faults:");
    let mut kinds_of_fault: Vec<_> = faults.into_iter().collect();
    kinds_of_fault.sort();
    for (kind, n) in kinds_of_fault {
        println!("  {n:>6}  {kind}");
    }
    let mut failed = Vec::new();
    print!("by guarantee:{:<52}", "");
    for (kind, _) in &results {
        print!("{kind:>10}");
    }
    println!("{:>10}", "total");
    let rows: [(&str, F, Verdict); FIELDS.len()] = [
        ("games played to the end", F::GamesDone, Some(|n| n > 0)),
        (
            "lines checked (each arrives once, in order)",
            F::LinesChecked,
            None,
        ),
        ("lines lost within a game", F::Lost, Some(|n| n == 0)),
        ("lines repeated", F::Repeated, Some(|n| n == 0)),
        (
            "games stopped without word (no line for 15 s)",
            F::Stalled,
            Some(|n| n == 0),
        ),
        (
            "games ended early, told: a server died or lost touch",
            F::EndedNodeGone,
            None,
        ),
        ("games ended early, told: a player left", F::EndedLeft, None),
        (
            "games ended early, told something else",
            F::EndedOther,
            Some(|n| n == 0),
        ),
        ("sessions resumed after a cut", F::Resumed, None),
        (
            "connections ended, told: node gone or resume refused",
            F::HomeLost,
            None,
        ),
        (
            "connections of players who do not resume, ended by a cut",
            F::ClassicCut,
            None,
        ),
        ("logins", F::Logins, None),
        (
            "logins refused (Redis away), tried again",
            F::RefusedLogins,
            None,
        ),
    ];
    for (what, field, check) in rows {
        print!("  {what:<63}");
        let mut total = 0;
        for (_, values) in &results {
            let n = values[field as usize];
            total += n;
            print!("{n:>10}");
        }
        let verdict = match check.map(|holds| holds(total)) {
            Some(true) => "  held",
            Some(false) => {
                failed.push(what.to_owned());
                "  BROKEN"
            }
            None => "",
        };
        println!("{total:>10}{verdict}");
    }
    let mut check = |what: String, value: u64, held: bool| {
        if !held {
            failed.push(what.clone());
        }
        println!(
            "  {what:<63}{value:>10}  {}",
            if held { "held" } else { "BROKEN" }
        );
    };
    check(
        format!("node a's open files at the end (at the start: {files_at_start})"),
        files_at_end as u64,
        survivor_alive && files_at_end <= files_at_start,
    );
    let warm = memory.len() / 4;
    let samples = &memory[warm..];
    let third = samples.len() / 3;
    if third > 0 {
        let mean = |s: &[u64]| s.iter().sum::<u64>() / s.len() as u64;
        let (first, last) = (
            mean(&samples[..third]),
            mean(&samples[samples.len() - third..]),
        );
        check(
            format!("node a's memory, KiB (first third after warm-up: {first})"),
            last,
            last <= first + (first / 10).max(4096),
        );
    }
    drop(nodes);
    drop(redis);
    if failed.is_empty() {
        println!("chaos: PASS");
        Ok(())
    } else {
        Err(format!("chaos: FAIL: {}", failed.join("; ")).into())
    }
}

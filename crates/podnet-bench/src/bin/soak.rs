//! A soak test: a podnet server under steady load for a while, watched for lost
//! messages and for memory that keeps growing. `cargo xtask soak --seconds 60` runs it.
//!
//! ```text
//! soak [--seconds N]    drive a server (started as a child process) for N seconds
//! soak serve            the server: prints its address, serves until stdin closes
//! ```
//!
//! The server (the `podnet` facade, handlers run by `pump()`) relays every `say` to
//! everyone connected, then acknowledges it to its sender with `ack`. The load:
//! - **stable players**, connected from start to end, each saying something (with up to
//!   1 KiB of padding) every 50 ms, and checking that each sender's lines arrive in order,
//!   with no gap and no repeat;
//! - **churn**: a new client about every 25 ms that says 1 to 10 lines, waits for their
//!   acks and leaves, in turn: closing gracefully, being dropped, or resetting the
//!   connection mid-frame from a raw socket.
//!
//! It passes when, at the end, every stable player has received every acknowledged line
//! from every sender (stable or churn), and the server's RSS, sampled each second, is flat
//! after the warm-up (the first quarter of the run, at least 10 s): the last third of the
//! samples averages no more than 5% (or 1 MiB, whichever is larger) above the first third.
//!
//! (One file past 500 lines: the soak's server, its clients and its checks are one
//! program, read top to bottom.)

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use podnet::{Channel, ChannelCtx, ChannelHandlers, Message, Server};
use podnet_framing::{FrameCodec, FramingConfig, RawMessage};
use podnet_transport::ClientEvent;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio_util::codec::Decoder;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Players connected for the whole run.
const STABLE: u64 = 40;
/// How often each stable player says something.
const SAY_EVERY: Duration = Duration::from_millis(50);
/// How often a churn client arrives.
const CHURN_EVERY: Duration = Duration::from_millis(25);
/// Churn clients' `from` ids start here, above the stable players'.
const CHURN_IDS: u64 = 1_000_000;
/// How long the end may take: the last lines to arrive, the server to exit.
const DRAIN: Duration = Duration::from_secs(20);

// ---- The messages ----

/// A line: who says it, its number in the sender's sequence, and padding.
#[derive(Serialize, Deserialize, Debug, Clone, Message)]
#[message(action = "say")]
struct Say {
    from: u64,
    seq: u64,
    #[serde(with = "serde_bytes")]
    pad: Vec<u8>,
}

/// The same line, as the server relays it to everyone.
#[derive(Serialize, Deserialize, Debug, Message)]
#[message(action = "said")]
struct Said {
    from: u64,
    seq: u64,
}

/// The server relayed the sender's line `seq`.
#[derive(Serialize, Deserialize, Debug, Message)]
#[message(action = "ack")]
struct Ack {
    seq: u64,
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => serve(),
        _ => {
            let seconds = match args.iter().position(|a| a == "--seconds") {
                Some(i) => args
                    .get(i + 1)
                    .and_then(|s| s.parse().ok())
                    .ok_or("--seconds needs a whole number")?,
                None => 60,
            };
            drive(seconds)
        }
    }
}

// ---- The server ----

/// Lines relayed, for the server's closing report.
#[derive(Default)]
struct Relay {
    lines: u64,
}

#[derive(Default)]
struct Player;

impl Channel for Player {
    type Game = Relay;

    fn handlers(h: &mut ChannelHandlers<Self>) {
        h.on(Self::say);
    }
}

impl Player {
    fn say(&mut self, ctx: &mut ChannelCtx<'_, Self>, msg: Say) {
        ctx.game.lines += 1;
        // Relay first, then acknowledge: an ack means the line is queued for everyone.
        let _ = ctx.send_to_all(&Said {
            from: msg.from,
            seq: msg.seq,
        });
        let _ = ctx.send(&Ack { seq: msg.seq });
    }
}

fn serve() -> Result<()> {
    let mut server = Server::<Player>::start_background("127.0.0.1:0", Relay::default())?;
    println!("LISTENING {}", server.local_addr());
    // The driver closes our stdin when it is done.
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        let _ = stop_tx.send(());
    });
    while stop_rx.try_recv().is_err() {
        server.pump_timeout(Duration::from_millis(10));
    }
    let report = server.shutdown("soak over", Duration::from_secs(5));
    println!(
        "SERVER relayed={} channels_left={} report={report:?}",
        server.game().lines,
        server.channels().count()
    );
    Ok(())
}

// ---- The driver ----

/// What the run found, filled in by the clients' tasks.
#[derive(Default)]
struct Ledger {
    /// Acks received per sender: lines the server promised to relay.
    acked: HashMap<u64, u64>,
    /// Problems: any one fails the run.
    problems: Vec<String>,
    churn_clients: u64,
    resets: u64,
}

type Shared = Arc<Mutex<Ledger>>;

fn note(ledger: &Shared, problem: String) {
    let mut ledger = ledger.lock().unwrap_or_else(|e| e.into_inner());
    if ledger.problems.len() < 20 {
        ledger.problems.push(problem);
    }
}

fn drive(seconds: u64) -> Result<()> {
    let mut server = Command::new(std::env::current_exe()?)
        .arg("serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let pid = server.id();
    let mut lines = BufReader::new(server.stdout.take().ok_or("no server stdout")?).lines();
    let addr: SocketAddr = lines
        .next()
        .ok_or("the server printed nothing")??
        .strip_prefix("LISTENING ")
        .ok_or("the server did not say where it listens")?
        .parse()?;
    println!(
        "soak: {seconds} s against a podnet server (pid {pid}) on {addr}: {STABLE} stable players \
         saying a line every {SAY_EVERY:?}, a churn client every {CHURN_EVERY:?}"
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let ledger: Shared = Arc::default();
    let run = Duration::from_secs(seconds);
    let samples = runtime.block_on(load(addr, pid, run, ledger.clone()))?;

    // Stop the server: close its stdin, then read its closing line.
    drop(server.stdin.take());
    let closing = finish(&mut server, lines)?;
    println!("soak: {closing}");

    let ledger = ledger.lock().unwrap_or_else(|e| e.into_inner());
    let acked: u64 = ledger.acked.values().sum();
    println!(
        "soak: {} churn clients ({} reset mid-frame), {acked} lines acknowledged, every one \
         checked at each of the {STABLE} stable players",
        ledger.churn_clients, ledger.resets
    );
    let memory = judge_memory(&samples, run);
    if let Ok(verdict) = &memory {
        println!("soak: {verdict}");
    }
    let mut problems = ledger.problems.clone();
    if let Err(e) = memory {
        problems.push(e);
    }
    if problems.is_empty() {
        println!("soak: PASS");
        Ok(())
    } else {
        for p in &problems {
            eprintln!("soak: problem: {p}");
        }
        Err(format!("soak: FAIL ({} problems)", problems.len()).into())
    }
}

/// Waits for the server to print its closing report and exit.
fn finish(
    server: &mut Child,
    mut lines: impl Iterator<Item = std::io::Result<String>>,
) -> Result<String> {
    let deadline = Instant::now() + DRAIN;
    let closing = lines
        .find_map(|l| l.ok().filter(|l| l.starts_with("SERVER")))
        .ok_or("the server ended without its report")?;
    loop {
        if let Some(status) = server.try_wait()? {
            if !status.success() {
                return Err(format!("the server exited with {status}").into());
            }
            return Ok(closing);
        }
        if Instant::now() > deadline {
            let _ = server.kill();
            return Err("the server did not exit after its shutdown".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs the load for `run`, then the drain; returns the RSS samples (seconds, KiB).
async fn load(
    addr: SocketAddr,
    pid: u32,
    run: Duration,
    ledger: Shared,
) -> Result<Vec<(f64, u64)>> {
    let start = Instant::now();
    let (stop_tx, stop_rx) = watch::channel(false);
    // The targets for the drain: each sender's acked count, once sending is over.
    let (targets_tx, targets_rx) = watch::channel(None::<Arc<HashMap<u64, u64>>>);

    // Every stable player is in the server's table (it has the server's `connected`)
    // before anyone speaks, so each of them must hear every line from the first.
    let mut players = Vec::new();
    for _ in 0..STABLE {
        let (client, mut events) =
            podnet_transport::Client::connect(addr, podnet_transport::ClientConfig::default())
                .await?;
        tokio::time::timeout(DRAIN, async {
            while let Some(event) = events.recv().await {
                if matches!(&event, ClientEvent::Message(m) if m.action() == "connected") {
                    return Ok(());
                }
            }
            Err("closed before `connected`")
        })
        .await??;
        players.push((client, events));
    }
    let stable: Vec<_> = (0..STABLE)
        .zip(players)
        .map(|(from, (client, events))| {
            tokio::spawn(stable_player(
                from,
                client,
                events,
                stop_rx.clone(),
                targets_rx.clone(),
                ledger.clone(),
            ))
        })
        .collect();
    let churn = tokio::spawn(churn(addr, stop_rx.clone(), ledger.clone()));

    // Sample the server's memory each second while the load runs.
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    while start.elapsed() < run {
        tick.tick().await;
        if let Some(kib) = rss_kib(pid) {
            samples.push((start.elapsed().as_secs_f64(), kib));
        }
    }
    let _ = stop_tx.send(true);

    // Sending is over: wait for the churn (and its last acks), then for the stable
    // players' own acks, then give every stable player the final counts to reach.
    let _ = tokio::time::timeout(DRAIN, churn).await;
    let acked_by_stable = |ledger: &Shared| {
        let l = ledger.lock().unwrap_or_else(|e| e.into_inner());
        (0..STABLE).all(|f| l.acked.contains_key(&f))
    };
    let drain_start = Instant::now();
    while !acked_by_stable(&ledger) && drain_start.elapsed() < DRAIN {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let targets = ledger
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .acked
        .clone();
    let _ = targets_tx.send(Some(Arc::new(targets)));
    for player in stable {
        let _ = tokio::time::timeout(DRAIN, player).await;
    }
    Ok(samples)
}

/// A player connected from start to end: says a line every SAY_EVERY until told to stop,
/// checks every line relayed to it, and at the end waits until it has every line the
/// server acknowledged, from everyone.
async fn stable_player(
    from: u64,
    client: podnet_transport::Client,
    mut events: podnet_transport::EventStream<ClientEvent>,
    mut stop: watch::Receiver<bool>,
    mut targets: watch::Receiver<Option<Arc<HashMap<u64, u64>>>>,
    ledger: Shared,
) {
    let mut next_from: HashMap<u64, u64> = HashMap::new();
    let mut seq = 0;
    let mut acks = 0;
    let mut sending = true;
    let mut tick = tokio::time::interval(SAY_EVERY);
    let mut target: Option<Arc<HashMap<u64, u64>>> = None;
    let mut drain_deadline = None;
    let reached = |next_from: &HashMap<u64, u64>, target: &HashMap<u64, u64>| {
        target
            .iter()
            .all(|(f, n)| next_from.get(f).copied().unwrap_or(0) >= *n)
    };
    loop {
        if let Some(t) = &target {
            if reached(&next_from, t) {
                break;
            }
        }
        tokio::select! {
            _ = tick.tick(), if sending => {
                let pad = vec![b'.'; ((seq * 37 + from * 11) % 1024) as usize];
                if let Err(e) = client.send(&Say { from, seq, pad }) {
                    note(&ledger, format!("stable player {from} could not send: {e}"));
                    return;
                }
                seq += 1;
            }
            _ = stop.changed(), if sending => {
                sending = false;
            }
            changed = targets.changed(), if target.is_none() => {
                if changed.is_err() {
                    return; // the driver is gone
                }
                target = targets.borrow().clone();
                drain_deadline = Some(tokio::time::Instant::now() + DRAIN);
            }
            event = events.recv() => match event {
                Some(ClientEvent::Message(msg)) => match msg.action() {
                    "said" => match msg.decode::<Said>() {
                        Ok(said) => {
                            let next = next_from.entry(said.from).or_insert(0);
                            if said.seq != *next {
                                note(&ledger, format!(
                                    "stable player {from} got line {} from {} where {} was due",
                                    said.seq, said.from, next
                                ));
                            }
                            *next = said.seq + 1;
                        }
                        Err(e) => note(&ledger, format!("bad said: {e}")),
                    },
                    "ack" => acks += 1,
                    _ => {}
                },
                Some(ClientEvent::Disconnected(reason)) => {
                    note(&ledger, format!("stable player {from} was disconnected: {reason}"));
                    return;
                }
                Some(_) => {}
                None => return,
            },
            () = sleep_until(drain_deadline) => {
                let t = target.as_deref().cloned().unwrap_or_default();
                let missing: Vec<_> = t
                    .iter()
                    .filter(|(f, n)| next_from.get(f).copied().unwrap_or(0) < **n)
                    .take(5)
                    .map(|(f, n)| format!("{f}: {} of {n}", next_from.get(f).copied().unwrap_or(0)))
                    .collect();
                note(&ledger, format!("stable player {from} is missing acknowledged lines: {missing:?}"));
                return;
            }
        }
        // The last ack may have come before sending stopped.
        if !sending && acks == seq {
            ledger
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .acked
                .entry(from)
                .or_insert(acks);
        }
    }
    client.close("soak over");
    client.closed().await;
}

/// Sleeps until `deadline`, or forever if there is none.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Brings a new client every CHURN_EVERY until told to stop; each runs on its own.
async fn churn(addr: SocketAddr, stop: watch::Receiver<bool>, ledger: Shared) {
    let mut tick = tokio::time::interval(CHURN_EVERY);
    let mut clients = tokio::task::JoinSet::new();
    let mut n: u64 = 0;
    while !*stop.borrow() {
        tick.tick().await;
        let from = CHURN_IDS + n;
        let lines = 1 + n % 10;
        let ledger = ledger.clone();
        if n % 3 == 2 {
            clients.spawn(async move {
                if let Err(e) = resetting_client(addr, from, ledger.clone()).await {
                    note(&ledger, format!("resetting client {from}: {e}"));
                }
            });
        } else {
            let graceful = n % 3 == 0;
            clients.spawn(async move {
                if let Err(e) = churn_client(addr, from, lines, graceful, ledger.clone()).await {
                    note(&ledger, format!("churn client {from}: {e}"));
                }
            });
        }
        n += 1;
        while clients.try_join_next().is_some() {}
    }
    while clients.join_next().await.is_some() {}
    ledger
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .churn_clients = n;
}

/// Says `lines` lines, waits for their acks, then closes (gracefully, or by dropping
/// the client).
async fn churn_client(
    addr: SocketAddr,
    from: u64,
    lines: u64,
    graceful: bool,
    ledger: Shared,
) -> Result<()> {
    let (client, mut events) =
        podnet_transport::Client::connect(addr, podnet_transport::ClientConfig::default()).await?;
    for seq in 0..lines {
        client.send(&Say {
            from,
            seq,
            pad: vec![b'c'; (seq * 100) as usize],
        })?;
    }
    let mut acks = 0;
    while acks < lines {
        match tokio::time::timeout(DRAIN, events.recv()).await? {
            Some(ClientEvent::Message(msg)) if msg.action() == "ack" => acks += 1,
            Some(ClientEvent::Disconnected(reason)) => {
                return Err(format!("disconnected: {reason}").into());
            }
            Some(_) => {}
            None => return Err("events ended".into()),
        }
    }
    ledger
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .acked
        .insert(from, acks);
    if graceful {
        client.close("bye");
        client.closed().await;
    }
    Ok(())
}

/// A raw socket that says one line, reads until its ack, then sends half a frame and
/// resets the connection: a player whose machine vanished mid-message.
async fn resetting_client(addr: SocketAddr, from: u64, ledger: Shared) -> Result<()> {
    let config = FramingConfig::default();
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let frame = podnet_transport::Frame::encode(
        &Say {
            from,
            seq: 0,
            pad: vec![1; 64],
        },
        &config,
    )?;
    stream.write_all(frame.as_bytes()).await?;
    let mut codec = FrameCodec::new(&config);
    let mut buf = BytesMut::new();
    let acked = tokio::time::timeout(DRAIN, async {
        loop {
            while let Some(payload) = codec.decode(&mut buf)? {
                if RawMessage::parse(payload, &config)?.action() == "ack" {
                    return Ok::<_, Box<dyn std::error::Error + Send + Sync>>(());
                }
            }
            if stream.read_buf(&mut buf).await? == 0 {
                return Err("closed before the ack".into());
            }
        }
    })
    .await;
    acked??;
    {
        let mut l = ledger.lock().unwrap_or_else(|e| e.into_inner());
        l.acked.insert(from, 1);
        l.resets += 1;
    }
    stream
        .write_all(&frame.as_bytes()[..frame.as_bytes().len() / 2])
        .await?;
    // Linger 0: closing sends a reset, at once (it cannot block).
    socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO))?;
    drop(stream);
    Ok(())
}

/// The resident set size of process `pid`, in KiB (Linux: /proc/PID/status).
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Flat after warm-up: the last third of the post-warm-up samples averages at most 5%
/// (or 1 MiB) above the first third.
fn judge_memory(samples: &[(f64, u64)], run: Duration) -> std::result::Result<String, String> {
    let warm_up = (run.as_secs_f64() / 4.0).max(10.0);
    let after: Vec<u64> = samples
        .iter()
        .filter(|(t, _)| *t >= warm_up)
        .map(|(_, kib)| *kib)
        .collect();
    let trace: Vec<String> = samples
        .iter()
        .step_by((samples.len() / 12).max(1))
        .map(|(t, kib)| format!("{t:.0}s:{:.1}", *kib as f64 / 1024.0))
        .collect();
    if after.len() < 6 {
        return Err(format!(
            "too few memory samples after the {warm_up:.0} s warm-up to judge ({}); run longer",
            after.len()
        ));
    }
    let third = after.len() / 3;
    let mean = |xs: &[u64]| xs.iter().sum::<u64>() as f64 / xs.len() as f64;
    let early = mean(&after[..third]);
    let late = mean(&after[after.len() - third..]);
    let allowed = (early * 0.05).max(1024.0);
    let verdict = format!(
        "server RSS after the {warm_up:.0} s warm-up: {:.1} MiB early, {:.1} MiB late \
         ({:+.1}%, allowed +{:.1} MiB); peak {:.1} MiB; MiB over time: {}",
        early / 1024.0,
        late / 1024.0,
        (late - early) / early * 100.0,
        allowed / 1024.0,
        samples.iter().map(|(_, k)| *k).max().unwrap_or(0) as f64 / 1024.0,
        trace.join(" ")
    );
    if late - early <= allowed {
        Ok(verdict)
    } else {
        Err(format!("memory grows: {verdict}"))
    }
}

//! Drives a bench-protocol server (podnet, the baseline, or repod) the same way, so that
//! only the server differs between runs. Each scenario prints one line
//! `RESULT name key=value ...` that `cargo xtask bench` collects.
//!
//! ```text
//! loadgen throughput ADDR CLIENTS MESSAGES   pipelined `move`s until `report` counts them all
//! loadgen rtt ADDR N                         `ping` echo from a plain socket client
//! loadgen rtt-pump ADDR N                    `ping` echo from a podnet client through pump()
//! loadgen fanout ADDR CLIENTS MESSAGES       one client broadcasts 64-byte messages to all
//! loadgen connections ADDR N                 N clients connect and each gets one echo; then
//!                                            prints HOLDING and keeps them open until stdin closes
//! loadgen broadcast-latency A,B N            a client on A broadcasts N times, one at a time;
//!                                            the time until a client on B has each
//! loadgen tick ADDR PLAYERS ROOM SECONDS [PID]
//!                                            the game tick: PLAYERS in rooms of ROOM, 30 inputs
//!                                            a second each; the server steps each room 20 times
//!                                            a second; input-to-state latency, deliveries, lost,
//!                                            and with PID the server's CPU and memory
//! loadgen resume-time ADDR CUTS [BACKOFF_MS] a podnet client through a fault-injecting proxy:
//!                                            the time from each cut to the resumed session
//!                                            (the first backoff: the default, or BACKOFF_MS)
//! ```
//!
//! `throughput-podnet` and `throughput-resume` are `throughput` from podnet peers: each
//! client says `podnet:hello` first, the second asking for a resumable session (so the
//! server counts, keeps and acknowledges): the cost of resume is the ratio of the two.
//!
//! `ws-throughput`, `ws-rtt` and `ws-fanout` do the same over WebSocket (`ws://ADDR/`),
//! each message one binary WebSocket message.
//!
//! (One file past 500 lines: every scenario is one short function over the same few
//! helpers, and the bench's numbers are easiest to check with them side by side.)

use podnet_transport::WithAction;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use podnet_bench::{frame, ws};
use podnet_framing::{FrameCodec, FramingConfig, RawMessage, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::mpsc;
use tokio_util::codec::Decoder;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

const DEADLINE: Duration = Duration::from_secs(120);

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| -> Result<&str> {
        args.get(i)
            .map(String::as_str)
            .ok_or_else(|| format!("missing argument {i}; see the usage in the source").into())
    };
    let num = |i: usize| -> Result<usize> { Ok(arg(i)?.parse()?) };
    let scenario = arg(0)?.to_owned();
    let (wire, scenario) = match scenario.strip_prefix("ws-") {
        Some(rest) => (Wire::Ws, rest.to_owned()),
        None => (Wire::Tcp, scenario),
    };
    let (hello, scenario) = if let Some(rest) = scenario.strip_suffix("-podnet") {
        (Hello::Podnet, rest.to_owned())
    } else if let Some(rest) = scenario.strip_suffix("-resume") {
        (Hello::Resume, rest.to_owned())
    } else {
        (Hello::None, scenario)
    };
    let addr = arg(1)?.to_owned();
    if scenario == "rtt-pump" {
        return rtt_pump(&addr, num(2)?);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match scenario.as_str() {
            "throughput" => throughput(&addr, wire, hello, num(2)?, num(3)?).await,
            "resume-time" => resume_time(&addr, num(2)?, num(3).ok()).await,
            "broadcast-latency" => broadcast_latency(&addr, num(2)?).await,
            "rtt" => rtt(&addr, wire, num(2)?).await,
            "fanout" => fanout(&addr, wire, num(2)?, num(3)?).await,
            "connections" => connections(&addr, num(2)?).await,
            "tick" => {
                let pid = arg(5).ok().and_then(|p| p.parse().ok());
                tick(&addr, num(2)?, num(3)?, num(4)? as u64, pid).await
            }
            other => Err(format!("unknown scenario {other}").into()),
        }
    })
}

/// How messages travel: repod frames on TCP, or one binary WebSocket message each.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wire {
    Tcp,
    Ws,
}

impl Wire {
    /// What goes on the wire for this repod frame.
    fn encode(self, frame: &[u8]) -> Vec<u8> {
        match self {
            Wire::Tcp => frame.to_vec(),
            Wire::Ws => ws::masked(frame),
        }
    }

    fn cutter(self) -> Cutter {
        match self {
            Wire::Tcp => Cutter::Repod(FrameCodec::new(&FramingConfig::default())),
            Wire::Ws => Cutter::Ws,
        }
    }
}

/// What a client says first.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hello {
    /// Nothing: a repod client.
    None,
    /// `podnet:hello`: a podnet peer.
    Podnet,
    /// `podnet:hello` asking for a resumable session.
    Resume,
}

impl Hello {
    fn frame(self) -> Option<bytes::Bytes> {
        let mut fields = vec![
            ("protocol", Value::from(podnet_transport::PROTOCOL_VERSION)),
            ("type", Value::from("classic")),
        ];
        match self {
            Hello::None => return None,
            Hello::Podnet => {}
            Hello::Resume => fields.push(("resume", Value::from(true))),
        }
        Some(frame("podnet:hello", fields))
    }
}

/// Cuts messages (payloads) off the received bytes.
enum Cutter {
    Repod(FrameCodec),
    Ws,
}

impl Cutter {
    fn next(&mut self, buf: &mut BytesMut) -> Result<Option<bytes::Bytes>> {
        match self {
            Cutter::Repod(codec) => Ok(codec.decode(buf)?),
            Cutter::Ws => ws::next_message(buf),
        }
    }
}

/// What a connection's reader task saw.
#[derive(Default)]
struct Seen {
    broadcasts: AtomicU64,
    pings: AtomicU64,
}

async fn connect(addr: &str) -> Result<TcpStream> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Connects over `wire`; returns the stream and what was read past the upgrade.
async fn connect_over(addr: &str, wire: Wire) -> Result<(TcpStream, BytesMut)> {
    let mut stream = connect(addr).await?;
    let leftover = match wire {
        Wire::Tcp => BytesMut::new(),
        Wire::Ws => ws::upgrade(&mut stream, addr).await?,
    };
    Ok((stream, leftover))
}

/// Reads frames forever: counts broadcasts and pings, forwards reports.
async fn read_all(
    mut reader: OwnedReadHalf,
    mut buf: BytesMut,
    wire: Wire,
    seen: Arc<Seen>,
    reports: mpsc::UnboundedSender<u64>,
) {
    let config = FramingConfig::default();
    let mut cutter = wire.cutter();
    buf.reserve(64 * 1024);
    loop {
        while let Ok(Some(payload)) = cutter.next(&mut buf) {
            let Ok(msg) = RawMessage::parse(payload, &config) else {
                continue;
            };
            match msg.action() {
                "broadcast" => {
                    seen.broadcasts.fetch_add(1, Ordering::Relaxed);
                }
                "ping" => {
                    seen.pings.fetch_add(1, Ordering::Relaxed);
                }
                "report" => {
                    let moves = msg.to_value().ok().and_then(|v| v["moves"].as_u64());
                    let _ = reports.send(moves.unwrap_or(0));
                }
                _ => {}
            }
        }
        match reader.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Asks for the move count until it reaches `target`.
async fn wait_moves(
    writer: &mut tokio::net::tcp::OwnedWriteHalf,
    wire: Wire,
    reports: &mut mpsc::UnboundedReceiver<u64>,
    target: u64,
) -> Result<u64> {
    let report = wire.encode(&frame("report", vec![]));
    let deadline = Instant::now() + DEADLINE;
    loop {
        writer.write_all(&report).await?;
        let moves = tokio::time::timeout(DEADLINE, reports.recv())
            .await?
            .ok_or("the server closed")?;
        if moves >= target {
            return Ok(moves);
        }
        if Instant::now() > deadline {
            return Err(format!("only {moves} of {target} moves counted").into());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn throughput(
    addr: &str,
    wire: Wire,
    hello: Hello,
    clients: usize,
    messages: usize,
) -> Result<()> {
    let (report_tx, mut reports) = mpsc::unbounded_channel();
    let seen = Arc::new(Seen::default());
    let mut writers = Vec::new();
    for _ in 0..clients.max(1) {
        let (mut stream, leftover) = connect_over(addr, wire).await?;
        if let Some(hello) = hello.frame() {
            stream.write_all(&wire.encode(&hello)).await?;
        }
        let (reader, writer) = stream.into_split();
        tokio::spawn(read_all(
            reader,
            leftover,
            wire,
            seen.clone(),
            report_tx.clone(),
        ));
        writers.push(writer);
    }
    // The first client also asks for the count.
    let start_moves = wait_moves(&mut writers[0], wire, &mut reports, 0).await?;

    // Each client writes its share as fast as it can, in batches of frames.
    let fields = vec![
        ("x", Value::from(10)),
        ("y", Value::from(-20)),
        ("id", Value::from(7)),
    ];
    let move_frame = wire.encode(&frame("move", fields));
    let frame_len = move_frame.len();
    let per_client = messages / writers.len();
    let batch_frames = 256.min(per_client.max(1));
    let batch: Arc<Vec<u8>> = Arc::new(
        move_frame
            .iter()
            .copied()
            .cycle()
            .take(frame_len * batch_frames)
            .collect(),
    );
    let started = Instant::now();
    let mut tasks = Vec::new();
    for mut writer in writers {
        let batch = batch.clone();
        tasks.push(tokio::spawn(async move {
            let mut sent = 0;
            while sent < per_client {
                let n = batch_frames.min(per_client - sent);
                writer.write_all(&batch[..n * frame_len]).await?;
                sent += n;
            }
            Ok::<_, std::io::Error>(writer)
        }));
    }
    let mut writers = Vec::new();
    for task in tasks {
        writers.push(task.await??);
    }
    let total = (per_client * writers.len()) as u64;
    wait_moves(&mut writers[0], wire, &mut reports, start_moves + total).await?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "RESULT throughput clients={clients} messages={total} seconds={secs:.4} per_second={:.0}",
        total as f64 / secs
    );
    Ok(())
}

/// A podnet client (default resume settings: the first attempt after 50..100 ms) through
/// the test kit's proxy, which cuts the connection `cuts` times (both sides reset, as
/// when a network goes away): the time from each cut to the resumed session, beside the
/// round trip measured on the same path.
async fn resume_time(addr: &str, cuts: usize, backoff_ms: Option<usize>) -> Result<()> {
    use podnet_transport::{Client, ClientConfig, ClientEvent, Frame};
    let proxy = podnet_testkit::Proxy::start(addr.parse()?, 1)?;
    let mut config = ClientConfig::default();
    if let (Some(ms), Some(resume)) = (backoff_ms, config.resume.as_mut()) {
        resume.initial_backoff = Duration::from_millis(ms as u64);
    }
    let backoff = config
        .resume
        .as_ref()
        .map_or(Duration::ZERO, |r| r.initial_backoff);
    let (client, mut events) = Client::connect(proxy.addr(), config).await?;
    let ping = Frame::from_value(
        &Value::Map(vec![
            (Value::from("action"), Value::from("ping")),
            (Value::from("seq"), Value::from(1)),
        ]),
        client.framing(),
    )?;
    // Until a ping echo comes back: the session is up (and resumable).
    let echo = async |events: &mut podnet_transport::EventStream<ClientEvent>| -> Result<()> {
        loop {
            match tokio::time::timeout(DEADLINE, events.recv()).await? {
                Some(ClientEvent::Message(msg)) if msg.action() == "ping" => return Ok(()),
                Some(ClientEvent::Disconnected(reason)) => return Err(reason.to_string().into()),
                None => return Err("the client ended".into()),
                Some(_) => {}
            }
        }
    };
    let mut rtts = Vec::new();
    for _ in 0..200 {
        let start = Instant::now();
        client.send(&ping)?;
        echo(&mut events).await?;
        rtts.push(start.elapsed());
    }
    // From the cut, and from the moment the client noticed it (its first Reconnecting).
    let mut samples = Vec::with_capacity(cuts);
    let mut after_notice = Vec::with_capacity(cuts);
    for _ in 0..cuts {
        let start = Instant::now();
        let mut noticed = None;
        proxy.cut(podnet_testkit::Cut::Both);
        loop {
            match tokio::time::timeout(DEADLINE, events.recv()).await? {
                Some(ClientEvent::Resumed) => break,
                Some(ClientEvent::Reconnecting { .. }) => {
                    noticed.get_or_insert_with(Instant::now);
                }
                Some(ClientEvent::Disconnected(reason)) => return Err(reason.to_string().into()),
                None => return Err("the client ended".into()),
                Some(_) => {}
            }
        }
        samples.push(start.elapsed());
        after_notice.push(noticed.map_or(Duration::ZERO, |at| at.elapsed()));
        client.send(&ping)?;
        echo(&mut events).await?;
    }
    rtts.sort();
    let rtt = rtts[rtts.len() / 2];
    samples.sort();
    after_notice.sort();
    let at = |v: &[Duration], q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    // The backoff's timer fires on a millisecond tick: up to 1 ms late.
    let tick = if backoff.is_zero() {
        Duration::ZERO
    } else {
        Duration::from_millis(1)
    };
    let bound = backoff + tick + 2 * rtt;
    println!(
        "RESULT resume-time cuts={cuts} p50_ms={:.2} p99_ms={:.2} max_ms={:.2} \
         noticed_p50_us={:.1} noticed_p99_us={:.1} rtt_us={:.1} backoff_ms={:.1} \
         bound_ms={:.2} within={}",
        ms(at(&samples, 0.5)),
        ms(at(&samples, 0.99)),
        ms(at(&samples, 1.0)),
        at(&after_notice, 0.5).as_secs_f64() * 1e6,
        at(&after_notice, 0.99).as_secs_f64() * 1e6,
        rtt.as_secs_f64() * 1e6,
        ms(backoff),
        ms(bound),
        samples.iter().filter(|s| **s <= bound).count(),
    );
    client.close("done");
    Ok(())
}

/// A client on the first server broadcasts, one message at a time; a client on the last
/// server times each arrival. With two nodes of a cluster, the time a message takes from
/// a player on one node to a player on another; with the same server twice, within one.
async fn broadcast_latency(addr: &str, n: usize) -> Result<()> {
    let addrs: Vec<&str> = addr.split(',').collect();
    let config = FramingConfig::default();
    let (sender, _) = connect_over(addrs[0], Wire::Tcp).await?;
    // The sender is a player too: what it is sent is read and dropped.
    let (mut drain, mut sender) = sender.into_split();
    tokio::spawn(async move {
        let mut sink = vec![0u8; 64 * 1024];
        while matches!(drain.read(&mut sink).await, Ok(n) if n > 0) {}
    });
    let (mut receiver, mut buf) = connect_over(addrs[addrs.len() - 1], Wire::Tcp).await?;
    let mut cutter = Wire::Tcp.cutter();
    buf.reserve(64 * 1024);
    // The receiver is a player once its ping comes back.
    receiver.write_all(&frame("ping", vec![])).await?;
    'ready: loop {
        while let Some(payload) = cutter.next(&mut buf)? {
            if RawMessage::parse(payload, &config)?.action() == "ping" {
                break 'ready;
            }
        }
        if receiver.read_buf(&mut buf).await? == 0 {
            return Err("the server closed".into());
        }
    }
    let warmup = n / 10;
    let mut samples = Vec::with_capacity(n);
    for seq in 0..(warmup + n) as u64 {
        let message = frame("broadcast", vec![("seq", Value::from(seq))]);
        let start = Instant::now();
        sender.write_all(&message).await?;
        'arrived: loop {
            while let Some(payload) = cutter.next(&mut buf)? {
                let msg = RawMessage::parse(payload, &config)?;
                if msg.action() == "broadcast" && msg.to_value()?["seq"].as_u64() == Some(seq) {
                    break 'arrived;
                }
            }
            let read = tokio::time::timeout(DEADLINE, receiver.read_buf(&mut buf)).await??;
            if read == 0 {
                return Err("the server closed".into());
            }
        }
        if seq >= warmup as u64 {
            samples.push(start.elapsed());
        }
    }
    println!("RESULT broadcast-latency {}", percentiles(samples));
    Ok(())
}

fn percentiles(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at =
        |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e6;
    format!(
        "p50_us={:.1} p99_us={:.1} max_us={:.1} samples={}",
        at(0.5),
        at(0.99),
        at(1.0),
        samples.len()
    )
}

async fn rtt(addr: &str, wire: Wire, n: usize) -> Result<()> {
    let (mut stream, mut buf) = connect_over(addr, wire).await?;
    let config = FramingConfig::default();
    let mut cutter = wire.cutter();
    buf.reserve(64 * 1024);
    let ping = wire.encode(&frame(
        "ping",
        vec![("seq", Value::from(1)), ("t", Value::from(123_456_789))],
    ));
    let warmup = n / 10;
    let mut samples = Vec::with_capacity(n);
    for i in 0..warmup + n {
        let start = Instant::now();
        stream.write_all(&ping).await?;
        'echo: loop {
            while let Some(payload) = cutter.next(&mut buf)? {
                if RawMessage::parse(payload, &config)?.action() == "ping" {
                    break 'echo;
                }
            }
            if stream.read_buf(&mut buf).await? == 0 {
                return Err("the server closed".into());
            }
        }
        if i >= warmup {
            samples.push(start.elapsed());
        }
    }
    println!("RESULT rtt {}", percentiles(samples));
    Ok(())
}

/// A podnet client through pump(), busy pumping: the game-loop view of the round trip.
fn rtt_pump(addr: &str, n: usize) -> Result<()> {
    use podnet::{Client, ClientCtx, ConnectionListener, ListenerHandlers};
    #[derive(Default)]
    struct Pinger {
        echoes: u64,
    }
    impl ConnectionListener for Pinger {
        fn handlers(h: &mut ListenerHandlers<Self>) {
            h.on_value("ping", |p: &mut Pinger, _: &mut ClientCtx<'_>, _| {
                p.echoes += 1
            });
        }
    }
    let mut client = Client::connect(addr, Pinger::default())?;
    let warmup = n / 10;
    let mut samples = Vec::with_capacity(n);
    let mut seq = std::collections::HashMap::new();
    for i in 0..warmup + n {
        seq.insert("seq", i as u64);
        let want = client.listener().echoes + 1;
        let start = Instant::now();
        client.send(&WithAction("ping", &seq))?;
        let deadline = start + DEADLINE;
        while client.listener().echoes < want {
            if client.pump() == 0 {
                std::thread::yield_now();
            }
            if Instant::now() > deadline {
                return Err("no echo".into());
            }
        }
        if i >= warmup {
            samples.push(start.elapsed());
        }
    }
    println!("RESULT rtt-pump {}", percentiles(samples));
    Ok(())
}

async fn fanout(addr: &str, wire: Wire, clients: usize, messages: usize) -> Result<()> {
    // ADDR may list several servers (a cluster), comma-separated: the clients are spread
    // over them in turn; the first one broadcasts.
    let addrs: Vec<&str> = addr.split(',').collect();
    let (report_tx, _reports) = mpsc::unbounded_channel();
    let seen = Arc::new(Seen::default());
    let mut writers = Vec::new();
    for i in 0..clients {
        let (stream, leftover) = connect_over(addrs[i % addrs.len()], wire).await?;
        let (reader, writer) = stream.into_split();
        tokio::spawn(read_all(
            reader,
            leftover,
            wire,
            seen.clone(),
            report_tx.clone(),
        ));
        writers.push(writer);
    }
    // Every client is registered once its echo comes back (the server has its connection).
    let ping = wire.encode(&frame("ping", vec![]));
    for writer in &mut writers {
        writer.write_all(&ping).await?;
    }
    let deadline = Instant::now() + DEADLINE;
    while seen.pings.load(Ordering::Relaxed) < clients as u64 {
        if Instant::now() > deadline {
            return Err("not every client was answered".into());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let payload = Value::Binary(vec![7u8; 64]);
    let message = wire.encode(&frame("broadcast", vec![("data", payload)]));
    let batch: Vec<u8> = message
        .iter()
        .copied()
        .cycle()
        .take(message.len() * 64)
        .collect();
    let started = Instant::now();
    let sender = &mut writers[0];
    let mut sent = 0;
    while sent < messages {
        let n = 64.min(messages - sent);
        sender.write_all(&batch[..n * message.len()]).await?;
        sent += n;
    }
    let total = (clients * messages) as u64;
    while seen.broadcasts.load(Ordering::Relaxed) < total {
        if Instant::now() > deadline {
            return Err(format!(
                "only {} of {total} deliveries",
                seen.broadcasts.load(Ordering::Relaxed)
            )
            .into());
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "RESULT fanout clients={clients} messages={messages} deliveries={total} seconds={secs:.4} per_second={:.0}",
        total as f64 / secs
    );
    Ok(())
}

/// Connects, sends a `ping` and waits for its echo.
async fn connect_and_ping(addr: &str, ping: &[u8]) -> Result<TcpStream> {
    let mut stream = connect(addr).await?;
    stream.write_all(ping).await?;
    let config = FramingConfig::default();
    let mut codec = FrameCodec::new(&config);
    let mut buf = BytesMut::with_capacity(256);
    loop {
        while let Some(payload) = codec.decode(&mut buf)? {
            if RawMessage::parse(payload, &config)?.action() == "ping" {
                return Ok(stream);
            }
        }
        if stream.read_buf(&mut buf).await? == 0 {
            return Err("the server closed".into());
        }
    }
}

/// Whether `err` is a connection reset.
fn is_reset(err: &(dyn std::error::Error + 'static)) -> bool {
    err.downcast_ref::<std::io::Error>()
        .is_some_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset)
}

async fn connections(addr: &str, n: usize) -> Result<()> {
    let started = Instant::now();
    let (done_tx, mut done) = mpsc::unbounded_channel::<Result<(TcpStream, u32)>>();
    let mut resets = 0;
    // Connect in waves, so the listen backlog is not the thing measured.
    let wave = 256;
    let ping = frame("ping", vec![]);
    let mut streams = Vec::with_capacity(n);
    let mut launched = 0;
    let mut answered = 0;
    while answered < n {
        while launched < n && launched - answered < wave {
            launched += 1;
            let done_tx = done_tx.clone();
            let addr = addr.to_owned();
            let ping = ping.clone();
            tokio::spawn(async move {
                // A reset while connecting is retried (twice at most) and counted: after
                // back-to-back runs, loopback holds tens of thousands of TIME_WAIT
                // sockets, and a new connection can land on one's port pair.
                let mut resets = 0;
                let result = loop {
                    match connect_and_ping(&addr, &ping).await {
                        Err(err) if resets < 2 && is_reset(&*err) => resets += 1,
                        other => break other.map(|stream| (stream, resets)),
                    }
                };
                let _ = done_tx.send(result);
            });
        }
        let (stream, retried) = tokio::time::timeout(DEADLINE, done.recv())
            .await?
            .ok_or("connection tasks vanished")??;
        streams.push(stream);
        resets += retried;
        answered += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    println!("HOLDING {n}");
    println!("RESULT connections clients={n} seconds={secs:.3} resets_retried={resets}");
    // Keep them open while the caller measures the server; stdin closing releases them.
    tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
    })
    .await?;
    drop(streams);
    Ok(())
}

// ---- The game-tick scenario ----

/// A room's state, as the tick scenario's servers send it (the `pad` is ignored).
#[derive(serde::Deserialize)]
struct TickState {
    tick: u64,
    /// The last input seen from each seat.
    acks: Vec<u64>,
    /// When the server stepped the room (unix microseconds).
    at_us: u64,
}

/// What one player measured.
#[derive(Default)]
struct TickSeen {
    /// Input sent → first state that includes it (microseconds).
    input_to_state: Vec<u64>,
    /// Room stepped → state here (microseconds, wall clocks of one machine).
    delivery: Vec<u64>,
    states: u64,
    inputs: u64,
    /// Ticks of the room this player never got a state of.
    lost: u64,
}

fn unix_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// A process's CPU time so far (user + system), from /proc (Linux; clock ticks of 1/100 s).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// `players` players in rooms of `room_size`, each sending 30 inputs a second for
/// `seconds` (after a second of warm-up), the server stepping each room 20 times a second
/// and sending its state to the room. With `pid`, the server's CPU and memory too.
async fn tick(
    addr: &str,
    players: usize,
    room_size: usize,
    seconds: u64,
    pid: Option<u32>,
) -> Result<()> {
    const INPUTS_PER_SECOND: u64 = 30;
    let room_size = room_size.max(1);
    let warmup = Duration::from_secs(1);
    let measure = Duration::from_secs(seconds.max(1));
    // Everyone connects and joins first; the clock starts once all have.
    let mut joined = Vec::with_capacity(players);
    let wave = 256;
    let mut pending = Vec::new();
    for player in 0..players {
        let addr = addr.to_owned();
        pending.push(tokio::spawn(async move {
            let mut stream = connect(&addr).await?;
            let room = (player / room_size) as u64;
            stream
                .write_all(&frame("join", vec![("room", Value::from(room))]))
                .await?;
            let mut buf = BytesMut::with_capacity(4096);
            let mut codec = FrameCodec::new(&FramingConfig::default());
            loop {
                while let Some(payload) = codec.decode(&mut buf)? {
                    let msg = RawMessage::parse(payload, &FramingConfig::default())?;
                    if msg.action() == "joined" {
                        let seat = msg.to_value()?["seat"].as_u64().ok_or("no seat")? as usize;
                        return Ok::<_, Box<dyn std::error::Error + Send + Sync>>((
                            stream, buf, seat,
                        ));
                    }
                }
                if stream.read_buf(&mut buf).await? == 0 {
                    return Err("the server closed before the join was answered".into());
                }
            }
        }));
        if pending.len() == wave {
            for task in pending.drain(..) {
                joined.push(tokio::time::timeout(DEADLINE, task).await???);
            }
        }
    }
    for task in pending {
        joined.push(tokio::time::timeout(DEADLINE, task).await???);
    }
    let start = Instant::now();
    let window = (start + warmup, start + warmup + measure);
    let cpu_before = Arc::new(std::sync::Mutex::new(None));
    if let Some(pid) = pid {
        let cpu_before = cpu_before.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(window.0)).await;
            *cpu_before.lock().unwrap_or_else(|e| e.into_inner()) = cpu_seconds(pid);
        });
    }
    let mut tasks = Vec::with_capacity(players);
    for (i, (stream, buf, seat)) in joined.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let (mut reader, mut writer) = stream.into_split();
            let mut buf = buf;
            let mut codec = FrameCodec::new(&FramingConfig::default());
            let mut seen = TickSeen::default();
            // Spread the players' input times over the period.
            let period = Duration::from_micros(1_000_000 / INPUTS_PER_SECOND);
            let phase = period * (i as u32 % 97) / 97;
            let mut inputs = tokio::time::interval_at(tokio::time::Instant::now() + phase, period);
            let mut sent: std::collections::VecDeque<(u64, Instant)> = Default::default();
            let mut seq: u64 = 0;
            let mut last_tick: Option<u64> = None;
            let stop_at = window.1;
            let drain_until = window.1 + Duration::from_millis(300);
            loop {
                tokio::select! {
                    _ = inputs.tick(), if Instant::now() < stop_at => {
                        seq += 1;
                        let input = frame("input", vec![("seq", Value::from(seq))]);
                        writer.write_all(&input).await?;
                        let now = Instant::now();
                        sent.push_back((seq, now));
                        if now >= window.0 {
                            seen.inputs += 1;
                        }
                    }
                    read = reader.read_buf(&mut buf) => {
                        if read? == 0 {
                            return Err("the server closed".into());
                        }
                        while let Some(payload) = codec.decode(&mut buf)? {
                            let now = Instant::now();
                            let wall = unix_micros();
                            let msg = RawMessage::parse(payload, &FramingConfig::default())?;
                            if msg.action() != "state" {
                                continue;
                            }
                            let state: TickState = msg.decode()?;
                            // States are counted in the window; inputs sent in it are
                            // followed to their state until the drain ends.
                            let counting = now >= window.0 && now < drain_until;
                            let in_window = now >= window.0 && now < window.1;
                            if let Some(last) = last_tick {
                                if state.tick > last + 1 && counting {
                                    seen.lost += state.tick - last - 1;
                                }
                            }
                            last_tick = Some(state.tick);
                            if in_window {
                                seen.states += 1;
                                seen.delivery.push(wall.saturating_sub(state.at_us));
                            }
                            let ack = state.acks.get(seat).copied().unwrap_or(0);
                            while let Some(&(s, at)) = sent.front() {
                                if s > ack {
                                    break;
                                }
                                sent.pop_front();
                                if at >= window.0 && counting {
                                    let micros = u64::try_from(now.duration_since(at).as_micros()).unwrap_or(u64::MAX);
                                    seen.input_to_state.push(micros);
                                }
                            }
                        }
                    }
                    () = tokio::time::sleep_until(tokio::time::Instant::from_std(drain_until)) => {
                        // Inputs sent in the window and never in a state: lost.
                        seen.lost += sent.iter().filter(|(_, at)| *at >= window.0).count() as u64;
                        return Ok::<_, Box<dyn std::error::Error + Send + Sync>>(seen);
                    }
                }
            }
        }));
    }
    let mut all = TickSeen::default();
    for task in tasks {
        let seen = tokio::time::timeout(DEADLINE, task).await???;
        all.input_to_state.extend(seen.input_to_state);
        all.delivery.extend(seen.delivery);
        all.states += seen.states;
        all.inputs += seen.inputs;
        all.lost += seen.lost;
    }
    let secs = measure.as_secs_f64();
    let mut cpu = String::new();
    if let Some(pid) = pid {
        let before = *cpu_before.lock().unwrap_or_else(|e| e.into_inner());
        if let (Some(before), Some(after)) = (before, cpu_seconds(pid)) {
            // Measured to the end of the drain; the window's length is close enough.
            cpu = format!(" cpu_pct={:.1}", 100.0 * (after - before) / (secs + 0.3));
        }
        if let Some(rss) = rss_mib(pid) {
            cpu.push_str(&format!(" rss_mib={rss:.1}"));
        }
    }
    let q = |v: &mut Vec<u64>, q: f64| -> f64 {
        if v.is_empty() {
            return f64::NAN;
        }
        v.sort_unstable();
        let at = ((v.len() as f64 * q) as usize).min(v.len() - 1);
        v[at] as f64 / 1000.0
    };
    let (mut input, mut delivery) = (all.input_to_state, all.delivery);
    println!(
        "RESULT tick players={players} rooms={} seconds={secs:.1} p50_ms={:.2} p99_ms={:.2} max_ms={:.2} \
         delivery_p50_ms={:.2} delivery_p99_ms={:.2} delivery_max_ms={:.2} deliveries_per_second={:.0} \
         inputs_per_second={:.0} lost={}{cpu}",
        players.div_ceil(room_size),
        q(&mut input, 0.5),
        q(&mut input, 0.99),
        q(&mut input, 1.0),
        q(&mut delivery, 0.5),
        q(&mut delivery, 0.99),
        q(&mut delivery, 1.0),
        all.states as f64 / secs,
        all.inputs as f64 / secs,
        all.lost,
    );
    Ok(())
}

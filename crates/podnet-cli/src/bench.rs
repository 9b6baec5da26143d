//! `podnet bench`: throughput and round trips against any server speaking the bench
//! protocol (`ping` echoed, `move` counted, `report` answered with the count): podnet's
//! `bench_server` example, `podnet serve --bench`, or repod's; over TCP or WebSocket. And
//! the game tick: players in rooms sending inputs, the server stepping each room 20 times
//! a second and sending its state (`join`, `input`, `state`).

use std::io::Write;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use podnet_framing::{FrameCodec, FramingConfig, RawMessage, Value};
use podnet_transport::{Client, ClientConfig, ClientEvent, EventStream, Frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_util::codec::Decoder;

use crate::error::CliError;

/// How long the server may stay silent before the run is abandoned.
const PATIENCE: Duration = Duration::from_secs(10);
/// How often progress is printed on long runs (only when the count moved).
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// How long the server may answer `report` without counting a single `move` before the
/// run stops: a bench server counts the first of a pipelined burst within milliseconds.
const FIRST_MOVE: Duration = Duration::from_secs(3);
/// Inputs each player of the game tick sends a second.
const INPUTS_PER_SECOND: u64 = 30;

/// What `podnet bench` is asked to do.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// HOST:PORT.
    pub(crate) addr: String,
    /// Clients pipelining moves.
    pub(crate) clients: usize,
    /// Moves in all.
    pub(crate) messages: u64,
    /// Round trips to time.
    pub(crate) pings: usize,
    /// Bytes of padding in each `move` and `ping`.
    pub(crate) size: usize,
    /// Over WebSocket (`ws://ADDR/`) rather than TCP.
    pub(crate) websocket: bool,
    /// The game tick instead: this many players.
    pub(crate) tick: Option<Tick>,
    /// One JSON object on stdout instead of lines.
    pub(crate) json: bool,
}

/// The game tick's shape.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tick {
    pub(crate) players: usize,
    pub(crate) room_size: usize,
    pub(crate) seconds: f64,
}

pub(crate) async fn run(plan: Plan) -> Result<(), CliError> {
    let mut results = serde_json::Map::new();
    if let Some(tick) = plan.tick {
        if plan.websocket {
            return Err(CliError::Usage(
                "the game tick runs over TCP: leave out --ws".into(),
            ));
        }
        let figures = game_tick(&plan.addr, tick).await?;
        if !plan.json {
            println!(
                "tick: {} players in rooms of {}, {:.1} s: input to state p50 {:.2} ms, p99 \
                 {:.2} ms, max {:.2} ms; {:.0} states/s; lost {}",
                tick.players,
                tick.room_size,
                tick.seconds,
                figures["p50_ms"].as_f64().unwrap_or(f64::NAN),
                figures["p99_ms"].as_f64().unwrap_or(f64::NAN),
                figures["max_ms"].as_f64().unwrap_or(f64::NAN),
                figures["states_per_second"].as_f64().unwrap_or(f64::NAN),
                figures["lost"],
            );
        }
        results.insert("tick".into(), figures);
    } else {
        let figures = throughput(&plan).await?;
        if !plan.json {
            println!(
                "throughput: {} clients, {} moves in {:.3} s: {:.0} moves/s",
                plan.clients,
                plan.messages,
                figures["seconds"].as_f64().unwrap_or(f64::NAN),
                figures["per_second"].as_f64().unwrap_or(f64::NAN),
            );
        }
        results.insert("throughput".into(), figures);
        if plan.pings > 0 {
            let figures = round_trips(&plan).await?;
            if !plan.json {
                println!(
                    "round trip: {} pings: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
                    plan.pings,
                    figures["p50_us"].as_f64().unwrap_or(f64::NAN),
                    figures["p99_us"].as_f64().unwrap_or(f64::NAN),
                    figures["max_us"].as_f64().unwrap_or(f64::NAN),
                );
            }
            results.insert("round_trip".into(), figures);
        }
    }
    if plan.json {
        results.insert("addr".into(), plan.addr.clone().into());
        results.insert(
            "transport".into(),
            (if plan.websocket { "websocket" } else { "tcp" }).into(),
        );
        results.insert("size".into(), plan.size.into());
        println!("{}", serde_json::Value::Object(results));
    }
    Ok(())
}

/// One connection of the bench: podnet's client over TCP, or a WebSocket.
enum Conn {
    Tcp(Client, EventStream<ClientEvent>),
    Ws(Box<tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>>),
}

impl Conn {
    async fn open(plan: &Plan) -> Result<Conn, CliError> {
        if plan.websocket {
            let url = format!("ws://{}/", plan.addr);
            let (ws, _) = tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(&url))
                .await
                .map_err(|_| CliError::Usage(format!("could not connect to {url} in time")))?
                .map_err(|e| CliError::Usage(format!("could not connect to {url}: {e}")))?;
            return Ok(Conn::Ws(Box::new(ws)));
        }
        let mut config = ClientConfig::default();
        // repod servers would see `podnet:hello` as an unknown action; a bench needs no
        // heartbeat.
        config.hello = false;
        let (client, events) = Client::connect(plan.addr.as_str(), config).await?;
        Ok(Conn::Tcp(client, events))
    }

    /// Sends `frame`, waiting for room if the connection's queue is full.
    async fn send(&mut self, frame: &Frame) -> Result<(), CliError> {
        match self {
            Conn::Tcp(client, _) => Ok(client.send_wait(frame).await?),
            Conn::Ws(ws) => {
                let payload = frame.as_bytes().slice(4..);
                ws.send(WsMessage::Binary(payload))
                    .await
                    .map_err(|e| CliError::Closed {
                        reason: e.to_string(),
                    })
            }
        }
    }

    /// The next message with `action`, skipping others (a server's `connected`).
    async fn next_with(
        &mut self,
        action: &str,
        what: &'static str,
    ) -> Result<RawMessage, CliError> {
        let no_answer = || CliError::NoAnswer {
            what,
            after: PATIENCE,
        };
        let gone = |reason: String| CliError::Closed { reason };
        loop {
            match self {
                Conn::Tcp(_, events) => {
                    let event = tokio::time::timeout(PATIENCE, events.recv())
                        .await
                        .map_err(|_| no_answer())?;
                    match event {
                        Some(ClientEvent::Message(msg)) if msg.action() == action => {
                            return Ok(msg.into_inner());
                        }
                        Some(ClientEvent::Disconnected(reason)) => {
                            return Err(gone(reason.to_string()));
                        }
                        Some(_) => {}
                        None => return Err(gone("the connection ended".into())),
                    }
                }
                Conn::Ws(ws) => {
                    let message = tokio::time::timeout(PATIENCE, ws.next())
                        .await
                        .map_err(|_| no_answer())?;
                    match message {
                        Some(Ok(WsMessage::Binary(payload))) => {
                            if let Ok(msg) = RawMessage::parse(payload, &FramingConfig::default()) {
                                if msg.action() == action {
                                    return Ok(msg);
                                }
                            }
                        }
                        Some(Ok(WsMessage::Close(frame))) => {
                            return Err(gone(frame.map_or_else(
                                || "the server closed".to_owned(),
                                |f| f.reason.to_string(),
                            )));
                        }
                        Some(Ok(_)) => {}
                        Some(Err(err)) => return Err(gone(err.to_string())),
                        None => return Err(gone("the connection ended".into())),
                    }
                }
            }
        }
    }
}

fn message(action: &str, fields: Vec<(&str, Value)>) -> Result<Frame, CliError> {
    let mut entries = vec![(Value::from("action"), Value::from(action))];
    entries.extend(fields.into_iter().map(|(k, v)| (Value::from(k), v)));
    Ok(Frame::from_value(
        &Value::Map(entries),
        &FramingConfig::default(),
    )?)
}

/// The padding of `size` bytes a `move` or `ping` carries (`--size`).
fn pad(size: usize) -> Vec<(&'static str, Value)> {
    if size == 0 {
        Vec::new()
    } else {
        vec![("pad", Value::Binary(vec![0x5a; size]))]
    }
}

/// Asks for the server's move count.
async fn report(conn: &mut Conn) -> Result<u64, CliError> {
    conn.send(&message("report", vec![])?).await?;
    let msg = conn.next_with("report", "waiting for a `report`").await?;
    let value = msg
        .to_value()
        .map_err(podnet_transport::TransportError::from)?;
    value["moves"].as_u64().ok_or(CliError::NotBench {
        answer: crate::json::to_line(&value),
    })
}

/// `clients` connections pipeline `messages` moves in all; the run ends when the server
/// has counted them.
async fn throughput(plan: &Plan) -> Result<serde_json::Value, CliError> {
    let (clients, messages) = (plan.clients, plan.messages);
    let mut connections = Vec::with_capacity(clients);
    for _ in 0..clients {
        connections.push(Conn::open(plan).await?);
    }
    let mut reporter = Conn::open(plan).await?;
    let start_moves = report(&mut reporter).await?;
    let target = start_moves + messages;

    let mut fields = vec![("x", Value::from(1)), ("y", Value::from(2))];
    fields.extend(pad(plan.size));
    let move_frame = message("move", fields)?;
    let started = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    for (i, mut conn) in connections.into_iter().enumerate() {
        let share = messages / clients as u64 + u64::from((i as u64) < messages % clients as u64);
        let frame = move_frame.clone();
        senders.spawn(async move {
            for _ in 0..share {
                conn.send(&frame).await?;
            }
            // Keep the connection open until the count is in.
            Ok::<_, CliError>(conn)
        });
    }

    let mut finished = Vec::with_capacity(clients);
    let mut last_print = Instant::now();
    let mut printed = start_moves;
    let mut last_count = start_moves;
    let mut last_change = Instant::now();
    loop {
        let counted = report(&mut reporter).await?;
        if counted >= target {
            break;
        }
        if counted != last_count {
            (last_count, last_change) = (counted, Instant::now());
        } else if counted == start_moves && last_change.elapsed() > FIRST_MOVE {
            return Err(CliError::NoAnswer {
                what: "waiting for the first `move` to be counted (its `report` stays the same)",
                after: FIRST_MOVE,
            });
        } else if last_change.elapsed() > PATIENCE {
            return Err(CliError::NoAnswer {
                what: "counting moves",
                after: PATIENCE,
            });
        }
        if last_print.elapsed() >= PROGRESS_EVERY && counted != printed {
            (last_print, printed) = (Instant::now(), counted);
            progress(format_args!(
                "throughput: {} of {messages} moves counted",
                counted - start_moves
            ));
        }
        // Senders that failed end the run with their error; those done stay connected
        // until the count is in (a socket closed with unread input is reset, and the
        // server's kernel may drop what it had not read yet).
        while let Some(done) = senders.try_join_next() {
            match done {
                Ok(Ok(conn)) => finished.push(conn),
                Ok(Err(err)) => return Err(err),
                Err(err) => return Err(CliError::Usage(format!("a sender failed: {err}"))),
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    senders.shutdown().await;
    drop(finished);
    Ok(serde_json::json!({
        "clients": clients,
        "messages": messages,
        "seconds": secs,
        "per_second": messages as f64 / secs,
    }))
}

/// `pings` round trips, one at a time.
async fn round_trips(plan: &Plan) -> Result<serde_json::Value, CliError> {
    let pings = plan.pings;
    let mut conn = Conn::open(plan).await?;
    let mut times = Vec::with_capacity(pings);
    let mut last_print = Instant::now();
    for seq in 0..pings {
        let mut fields = vec![("seq", Value::from(seq as u64))];
        fields.extend(pad(plan.size));
        let frame = message("ping", fields)?;
        let sent = Instant::now();
        conn.send(&frame).await?;
        conn.next_with("ping", "waiting for a `ping` echo").await?;
        times.push(sent.elapsed());
        if last_print.elapsed() >= PROGRESS_EVERY {
            last_print = Instant::now();
            progress(format_args!("round trips: {} of {pings}", seq + 1));
        }
    }
    times.sort();
    let at = |q: f64| micros(times[((times.len() - 1) as f64 * q).round() as usize]);
    Ok(serde_json::json!({
        "pings": pings,
        "p50_us": at(0.5),
        "p99_us": at(0.99),
        "max_us": micros(times[times.len() - 1]),
    }))
}

/// What one player of the game tick saw.
#[derive(Default)]
struct Seen {
    /// Input to the first state that acknowledged it, in microseconds.
    input_to_state: Vec<u64>,
    states: u64,
    inputs: u64,
    /// Ticks skipped, and inputs never acknowledged.
    lost: u64,
}

/// `players` players in rooms of `room_size`, each sending 30 inputs a second for
/// `seconds` (after a second of warm-up), the server stepping each room 20 times a second
/// and sending its state to the room: how long an input takes to show in a state.
async fn game_tick(addr: &str, tick: Tick) -> Result<serde_json::Value, CliError> {
    let room_size = tick.room_size.max(1);
    let warmup = Duration::from_secs(1);
    let measure = Duration::try_from_secs_f64(tick.seconds.max(0.1))
        .map_err(|e| CliError::Usage(format!("--seconds: {e}")))?;
    // Everyone connects and joins first; the clock starts once all have.
    let mut joined = Vec::with_capacity(tick.players);
    for player in 0..tick.players {
        let mut stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let room = (player / room_size) as u64;
        let join = message("join", vec![("room", Value::from(room))])?;
        stream.write_all(join.as_bytes()).await?;
        let mut buf = BytesMut::with_capacity(4096);
        let mut codec = FrameCodec::new(&FramingConfig::default());
        let seat = loop {
            if let Some(payload) = codec.decode(&mut buf)? {
                let msg = RawMessage::parse(payload, &FramingConfig::default())?;
                if msg.action() == "joined" {
                    let value = msg
                        .to_value()
                        .map_err(podnet_transport::TransportError::from)?;
                    break value["seat"].as_u64().unwrap_or(0) as usize;
                }
                continue;
            }
            let read = tokio::time::timeout(PATIENCE, stream.read_buf(&mut buf))
                .await
                .map_err(|_| CliError::NoAnswer {
                    what: "waiting for `joined` (does the server run the game tick's rooms?)",
                    after: PATIENCE,
                })??;
            if read == 0 {
                return Err(CliError::Closed {
                    reason: "the server closed before the join was answered".into(),
                });
            }
        };
        joined.push((stream, buf, seat));
    }
    let start = Instant::now();
    let window = (start + warmup, start + warmup + measure);
    let mut players = tokio::task::JoinSet::new();
    for (i, (stream, buf, seat)) in joined.into_iter().enumerate() {
        players.spawn(play(stream, buf, seat, i, window));
    }
    let mut all = Seen::default();
    while let Some(done) = players.join_next().await {
        let seen = done.map_err(|e| CliError::Usage(format!("a player failed: {e}")))??;
        all.input_to_state.extend(seen.input_to_state);
        all.states += seen.states;
        all.inputs += seen.inputs;
        all.lost += seen.lost;
    }
    let secs = measure.as_secs_f64();
    let mut v = all.input_to_state;
    v.sort_unstable();
    let q = |q: f64| -> f64 {
        if v.is_empty() {
            return f64::NAN;
        }
        let at = ((v.len() as f64 * q) as usize).min(v.len() - 1);
        v[at] as f64 / 1000.0
    };
    Ok(serde_json::json!({
        "players": tick.players,
        "room_size": room_size,
        "seconds": secs,
        "p50_ms": q(0.5),
        "p99_ms": q(0.99),
        "max_ms": q(1.0),
        "states_per_second": all.states as f64 / secs,
        "inputs_per_second": all.inputs as f64 / secs,
        "lost": all.lost,
    }))
}

/// One player of the game tick, through `window` (and a short drain after it).
async fn play(
    stream: TcpStream,
    mut buf: BytesMut,
    seat: usize,
    i: usize,
    window: (Instant, Instant),
) -> Result<Seen, CliError> {
    let (mut reader, mut writer) = stream.into_split();
    let mut codec = FrameCodec::new(&FramingConfig::default());
    let mut seen = Seen::default();
    // Spread the players' input times over the period.
    let period = Duration::from_micros(1_000_000 / INPUTS_PER_SECOND);
    let phase = period * (i as u32 % 97) / 97;
    let mut inputs = tokio::time::interval_at(tokio::time::Instant::now() + phase, period);
    let mut sent: std::collections::VecDeque<(u64, Instant)> = Default::default();
    let mut seq: u64 = 0;
    let mut last_tick: Option<u64> = None;
    let drain_until = window.1 + Duration::from_millis(300);
    loop {
        tokio::select! {
            _ = inputs.tick(), if Instant::now() < window.1 => {
                seq += 1;
                let input: Bytes = message("input", vec![("seq", Value::from(seq))])?.as_bytes().clone();
                writer.write_all(&input).await?;
                let now = Instant::now();
                sent.push_back((seq, now));
                if now >= window.0 {
                    seen.inputs += 1;
                }
            }
            read = reader.read_buf(&mut buf) => {
                if read? == 0 {
                    return Err(CliError::Closed { reason: "the server closed".into() });
                }
                while let Some(payload) = codec.decode(&mut buf)? {
                    let now = Instant::now();
                    let msg = RawMessage::parse(payload, &FramingConfig::default())?;
                    if msg.action() != "state" {
                        continue;
                    }
                    let value = msg.to_value().map_err(podnet_transport::TransportError::from)?;
                    let tick = value["tick"].as_u64().unwrap_or(0);
                    let counting = now >= window.0 && now < drain_until;
                    if let Some(last) = last_tick {
                        if tick > last + 1 && counting {
                            seen.lost += tick - last - 1;
                        }
                    }
                    last_tick = Some(tick);
                    if now >= window.0 && now < window.1 {
                        seen.states += 1;
                    }
                    let ack = value["acks"][seat].as_u64().unwrap_or(0);
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
                return Ok(seen);
            }
        }
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// A progress line on stderr (stdout keeps only the results).
fn progress(line: std::fmt::Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "podnet: {line}");
    let _ = err.flush();
}

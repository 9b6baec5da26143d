//! `podnet bench`: throughput and round trips against any server speaking the bench
//! protocol (`ping` echoed, `move` counted, `report` answered with the count): podnet's
//! `bench_server` example, `podnet serve --bench`, or repod's.

use std::io::Write;
use std::time::{Duration, Instant};

use podnet_framing::Value;
use podnet_transport::{Client, ClientConfig, ClientEvent, EventStream, Frame};

use crate::error::CliError;

/// How long the server may stay silent before the run is abandoned.
const PATIENCE: Duration = Duration::from_secs(10);
/// How often progress is printed on long runs (only when the count moved).
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// How long the server may answer `report` without counting a single `move` before the
/// run stops: a bench server counts the first of a pipelined burst within milliseconds.
const FIRST_MOVE: Duration = Duration::from_secs(3);

pub(crate) async fn run(
    addr: &str,
    clients: usize,
    messages: u64,
    pings: usize,
) -> Result<(), CliError> {
    throughput(addr, clients, messages).await?;
    round_trips(addr, pings).await
}

async fn connect(addr: &str) -> Result<(Client, EventStream<ClientEvent>), CliError> {
    let mut config = ClientConfig::default();
    // repod servers would see `podnet:hello` as an unknown action; a bench needs no
    // heartbeat.
    config.hello = false;
    Ok(Client::connect(addr, config).await?)
}

fn message(action: &str, fields: Vec<(&str, Value)>) -> Result<Frame, CliError> {
    let mut entries = vec![(Value::from("action"), Value::from(action))];
    entries.extend(fields.into_iter().map(|(k, v)| (Value::from(k), v)));
    Ok(Frame::from_value(
        &Value::Map(entries),
        &podnet_framing::FramingConfig::default(),
    )?)
}

/// The next message with `action`, skipping others (a repod server's `connected`).
async fn next_with(
    events: &mut EventStream<ClientEvent>,
    action: &str,
    what: &'static str,
) -> Result<podnet_framing::RawMessage, CliError> {
    loop {
        let event = tokio::time::timeout(PATIENCE, events.recv())
            .await
            .map_err(|_| CliError::NoAnswer {
                what,
                after: PATIENCE,
            })?;
        match event {
            Some(ClientEvent::Message(msg)) if msg.action() == action => {
                return Ok(msg.into_inner());
            }
            Some(ClientEvent::Disconnected(reason)) => {
                return Err(CliError::Closed {
                    reason: reason.to_string(),
                });
            }
            Some(_) => {}
            None => {
                return Err(CliError::Closed {
                    reason: "the connection ended".into(),
                });
            }
        }
    }
}

/// Asks for the server's move count.
async fn report(client: &Client, events: &mut EventStream<ClientEvent>) -> Result<u64, CliError> {
    client.send(&message("report", vec![])?)?;
    let msg = next_with(events, "report", "waiting for a `report`").await?;
    let value = msg
        .to_value()
        .map_err(podnet_transport::TransportError::from)?;
    value["moves"].as_u64().ok_or(CliError::NotBench {
        answer: crate::json::to_line(&value),
    })
}

/// `clients` connections pipeline `messages` moves in all; the run ends when the server
/// has counted them.
async fn throughput(addr: &str, clients: usize, messages: u64) -> Result<(), CliError> {
    let mut connections = Vec::with_capacity(clients);
    for _ in 0..clients {
        connections.push(connect(addr).await?);
    }
    let (reporter, mut reports) = connect(addr).await?;
    let start_moves = report(&reporter, &mut reports).await?;
    let target = start_moves + messages;

    let move_frame = message("move", vec![("x", Value::from(1)), ("y", Value::from(2))])?;
    let started = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    for (i, (client, _events)) in connections.into_iter().enumerate() {
        let share = messages / clients as u64 + u64::from((i as u64) < messages % clients as u64);
        let frame = move_frame.clone();
        senders.spawn(async move {
            for _ in 0..share {
                client.send_wait(&frame).await?;
            }
            // Keep the connection open until the count is in.
            Ok::<_, podnet_transport::SendError>((client, _events))
        });
    }

    let mut last_print = Instant::now();
    let mut printed = start_moves;
    let mut last_count = start_moves;
    let mut last_change = Instant::now();
    loop {
        let counted = report(&reporter, &mut reports).await?;
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
        // Senders that failed end the run with their error.
        while let Some(done) = senders.try_join_next() {
            if let Ok(Err(err)) = done {
                return Err(err.into());
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    senders.shutdown().await;
    println!(
        "throughput: {clients} clients, {messages} moves in {secs:.3} s: {:.0} moves/s",
        messages as f64 / secs
    );
    Ok(())
}

/// `pings` round trips, one at a time.
async fn round_trips(addr: &str, pings: usize) -> Result<(), CliError> {
    if pings == 0 {
        return Ok(());
    }
    let (client, mut events) = connect(addr).await?;
    let mut times = Vec::with_capacity(pings);
    let mut last_print = Instant::now();
    for seq in 0..pings {
        let frame = message("ping", vec![("seq", Value::from(seq as u64))])?;
        let sent = Instant::now();
        client.send(&frame)?;
        next_with(&mut events, "ping", "waiting for a `ping` echo").await?;
        times.push(sent.elapsed());
        if last_print.elapsed() >= PROGRESS_EVERY {
            last_print = Instant::now();
            progress(format_args!("round trips: {} of {pings}", seq + 1));
        }
    }
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    println!(
        "round trip: {pings} pings: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        micros(at(0.5)),
        micros(at(0.99)),
        micros(times[times.len() - 1]),
    );
    Ok(())
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

//! A Rust player: podnet's client, resuming, checking every line of every game.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use podnet_framing::{FramingConfig, Value};
use podnet_transport::{Client, ClientConfig, ClientEvent, DisconnectReason, Frame, ResumeConfig};
use tokio::sync::watch;

use crate::tally::{F, Tally};
use crate::{CUT_OFF, LINES, NODE_GONE, SAY_EVERY, STALL, quick_heartbeat};

/// The game a player is in: the next line expected from each seat, and its own.
pub(crate) struct InGame {
    session: u64,
    /// Its name, once the game has said it (lines are said from then on).
    name: String,
    expected: Vec<u64>,
    next_say: u64,
    last_line: Instant,
    stalled: bool,
}

/// The last [`Trace::KEEP`] things a player did and got.
#[derive(Default)]
struct Trace(std::collections::VecDeque<String>);

impl Trace {
    const KEEP: usize = 80;

    fn push(&mut self, line: String) {
        if self.0.len() == Self::KEEP {
            self.0.pop_front();
        }
        self.0.push_back(line);
    }

    fn print(&self) {
        for line in &self.0 {
            eprintln!("    {line}");
        }
    }
}

pub(crate) fn frame(action: &str, fields: Vec<(&str, Value)>) -> Frame {
    let mut map = vec![(Value::from("action"), Value::from(action))];
    map.extend(fields.into_iter().map(|(k, v)| (Value::from(k), v)));
    Frame::from_value(&Value::Map(map), &FramingConfig::default()).unwrap_or_else(|_| {
        unreachable!("a small map always encodes");
    })
}

/// One player: connects to a node (through its proxy), logs in, plays game after game,
/// and logs in again (elsewhere) when its connection ends; until `stop`.
pub(crate) async fn player(
    index: u64,
    resuming: bool,
    proxies: Arc<Vec<SocketAddr>>,
    tally: Arc<Tally>,
    mut stop: watch::Receiver<bool>,
) {
    let mut config = ClientConfig::default();
    quick_heartbeat(&mut config.connection.liveness);
    config.resume = resuming.then(|| {
        let mut resume = ResumeConfig::default();
        resume.initial_backoff = Duration::from_millis(20);
        resume.max_backoff = Duration::from_millis(300);
        resume.max_attempts = 20;
        resume
    });
    let mut attempt = 0u64;
    let started = Instant::now();
    while !*stop.borrow() {
        attempt += 1;
        let addr = proxies[((index + attempt) % proxies.len() as u64) as usize];
        let Ok((client, mut events)) = Client::connect(addr, config.clone()).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let name = format!("p{index}x{attempt}");
        let login = frame("login", vec![("name", Value::from(name.as_str()))]);
        let _ = client.send(&login);
        tally.add(F::Logins, 1);
        let mut game: Option<InGame> = None;
        // What happened lately, printed with a broken guarantee.
        let mut trace = Trace::default();
        let mut says = tokio::time::interval(SAY_EVERY);
        let mut retry_login: Option<tokio::time::Instant> = None;
        let ended = loop {
            let event = tokio::select! {
                _ = stop.changed() => break false,
                _ = says.tick() => {
                    if let Some(g) = &mut game {
                        if g.next_say <= LINES && !g.name.is_empty() {
                            let sent = client.send(&frame(
                                "say",
                                vec![("game", Value::from(g.name.as_str())), ("n", Value::from(g.next_say))],
                            ));
                            trace.push(format!("{:?} SAY {} {sent:?}", started.elapsed(), g.next_say));
                            if sent.is_ok() {
                                g.next_say += 1;
                            }
                        }
                        if !g.stalled && g.last_line.elapsed() > STALL {
                            g.stalled = true;
                            tally.add(F::Stalled, 1);
                            eprintln!("chaos: {name}'s game {} ({}) stalled", g.session, g.name);
                            trace.print();
                        }
                    }
                    if retry_login.is_some_and(|at| at <= tokio::time::Instant::now()) {
                        retry_login = None;
                        let _ = client.send(&login);
                    }
                    continue;
                }
                event = events.recv() => event,
            };
            let Some(event) = event else { break true };
            let msg = match event {
                ClientEvent::Message(msg) => msg,
                ClientEvent::Resumed => {
                    tally.add(F::Resumed, 1);
                    trace.push(format!("{:?} RESUMED", started.elapsed()));
                    continue;
                }
                ClientEvent::Reconnecting { attempt, reason } => {
                    trace.push(format!(
                        "{:?} RECONNECTING {attempt} {reason:?}",
                        started.elapsed()
                    ));
                    continue;
                }
                ClientEvent::Disconnected(reason) => {
                    match reason {
                        DisconnectReason::NotResumed { .. }
                        | DisconnectReason::ResumeRefused { .. } => {
                            tally.add(F::HomeLost, 1);
                        }
                        _ if !resuming => tally.add(F::ClassicCut, 1),
                        _ => tally.add(F::HomeLost, 1),
                    }
                    break true;
                }
                _ => continue,
            };
            let Ok(value) = msg.to_value() else { continue };
            trace.push(format!(
                "{:?} {} {}",
                started.elapsed(),
                msg.action(),
                value
            ));
            match msg.action() {
                "login_refused" => {
                    // Redis away: try again soon.
                    tally.add(F::RefusedLogins, 1);
                    retry_login = Some(tokio::time::Instant::now() + Duration::from_millis(300));
                }
                "game_start" => {
                    let seats = value["players"].as_array().map_or(2, Vec::len);
                    game = Some(InGame {
                        session: value["session"].as_u64().unwrap_or(0),
                        name: String::new(),
                        expected: vec![1; seats],
                        next_say: 1,
                        last_line: Instant::now(),
                        stalled: false,
                    });
                }
                "table" => {
                    if let Some(g) = &mut game {
                        g.name = value["game"].as_str().unwrap_or_default().to_owned();
                    }
                }
                "said" => {
                    let (Some(g), Some(seat), Some(n)) = (
                        &mut game,
                        value["seat"].as_u64().map(|s| s as usize),
                        value["n"].as_u64(),
                    ) else {
                        continue;
                    };
                    let Some(expected) = g.expected.get_mut(seat) else {
                        continue;
                    };
                    if n < *expected {
                        tally.add(F::Repeated, 1);
                        eprintln!(
                            "chaos: {name} got line {n} of seat {seat} again (game {})",
                            g.session
                        );
                        trace.print();
                    } else {
                        if n > *expected {
                            tally.add(F::Lost, n - *expected);
                            eprintln!(
                                "chaos: {name} missed lines {}..{n} of seat {seat} (game {})",
                                *expected, g.session
                            );
                            trace.print();
                        }
                        *expected = n + 1;
                    }
                    tally.add(F::LinesChecked, 1);
                    g.last_line = Instant::now();
                }
                "game_over" => {
                    let result = value["result"].as_str().unwrap_or_default().to_owned();
                    if let Some(g) = game.take() {
                        if result == "done" {
                            // Both said every line: each must have arrived.
                            let missing: u64 = g
                                .expected
                                .iter()
                                .map(|&e| (LINES + 1).saturating_sub(e))
                                .sum();
                            if missing > 0 {
                                tally.add(F::Lost, missing);
                                eprintln!(
                                    "chaos: {name}'s game {} ended with {missing} lines missing",
                                    g.session
                                );
                            }
                            tally.add(F::GamesDone, 1);
                        } else if result == NODE_GONE || result == CUT_OFF {
                            tally.add(F::EndedNodeGone, 1);
                        } else if result.starts_with("left: ") {
                            tally.add(F::EndedLeft, 1);
                        } else {
                            tally.add(F::EndedOther, 1);
                        }
                    }
                }
                _ => {}
            }
        };
        client.close("done");
        if !ended {
            // Stopping: let the close go out.
            let _ = tokio::time::timeout(Duration::from_secs(2), client.closed()).await;
            return;
        }
    }
}

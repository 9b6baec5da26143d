//! `podnet serve`: servers for testing clients.

use std::io::Write;
use std::time::Duration;

use podnet_framing::Value;
use podnet_transport::{Frame, Server, ServerConfig, ServerEvent};

use crate::error::CliError;
use crate::json;

/// What the server does with each message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Back to the sender.
    Echo,
    /// To every other client.
    Relay,
    /// The bench protocol (docs/performance.md): `ping` echoed, `move` counted, `report`
    /// answered with the count, `broadcast` sent to everyone; and the game tick's rooms:
    /// `join {room}` answered `joined {room, seat}`, `input {seq}` remembered, and every
    /// room's `state {tick, acks, at_us}` sent to its players 20 times a second.
    Bench,
    /// A replicated key-value state (podnet-state): `put {key, value}`, `del {key}`;
    /// `secret:N` entries seen by client N only.
    State,
}

/// The replicated state of `--state`: entries by key, each client's view its id.
type KeyValues = podnet_state::Replicated<std::collections::BTreeMap<String, Value>, u64>;

fn key_values() -> KeyValues {
    podnet_state::Replicated::with_views(
        std::collections::BTreeMap::new(),
        podnet_state::StateConfig::default(),
        |entries: &std::collections::BTreeMap<String, Value>, me: &u64| {
            let mine = format!("secret:{me}");
            let seen: std::collections::BTreeMap<&String, &Value> = entries
                .iter()
                .filter(|(k, _)| !k.starts_with("secret:") || **k == mine)
                .collect();
            podnet_state::encode(&seen)
        },
    )
}

/// How often the bench mode steps its rooms (20 Hz).
const STEP: Duration = Duration::from_millis(50);

/// A room of the game tick: its players by seat and the last input of each.
#[derive(Default)]
struct Room {
    seats: Vec<podnet_transport::ConnectionId>,
    acks: Vec<u64>,
}

/// The rooms, and where each player sits.
#[derive(Default)]
struct Rooms {
    rooms: std::collections::BTreeMap<u64, Room>,
    seated: std::collections::HashMap<podnet_transport::ConnectionId, (u64, usize)>,
    tick: u64,
}

impl Rooms {
    /// Seats `id` in room `room`; returns its seat.
    fn join(&mut self, id: podnet_transport::ConnectionId, room: u64) -> usize {
        self.leave(id);
        let entry = self.rooms.entry(room).or_default();
        entry.seats.push(id);
        entry.acks.push(0);
        let seat = entry.seats.len() - 1;
        self.seated.insert(id, (room, seat));
        seat
    }

    fn input(&mut self, id: podnet_transport::ConnectionId, seq: u64) {
        if let Some(&(room, seat)) = self.seated.get(&id) {
            if let Some(ack) = self.rooms.get_mut(&room).and_then(|r| r.acks.get_mut(seat)) {
                *ack = seq;
            }
        }
    }

    /// A player leaves: its seat stays (the others keep theirs), empty.
    fn leave(&mut self, id: podnet_transport::ConnectionId) {
        if let Some((room, _)) = self.seated.remove(&id) {
            if let Some(r) = self.rooms.get_mut(&room) {
                if r.seats.iter().all(|s| !self.seated.contains_key(s)) {
                    self.rooms.remove(&room);
                }
            }
        }
    }

    /// One step: every room's state to its players.
    fn step(&mut self, server: &Server) -> Result<(), CliError> {
        self.tick += 1;
        let at_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        for room in self.rooms.values() {
            let state = Value::Map(vec![
                (Value::from("action"), Value::from("state")),
                (Value::from("tick"), Value::from(self.tick)),
                (
                    Value::from("acks"),
                    Value::Array(room.acks.iter().map(|&a| Value::from(a)).collect()),
                ),
                (Value::from("at_us"), Value::from(at_us)),
            ]);
            let frame = Frame::from_value(&state, server.framing())?;
            let seated = room
                .seats
                .iter()
                .copied()
                .filter(|s| self.seated.contains_key(s));
            for id in seated {
                let _ = server.send(id, &frame);
            }
        }
        Ok(())
    }
}

/// Serves on `host:port` until Ctrl-C, printing `listening on ADDR` first, then one line
/// per connection, message (not in bench mode) and disconnect.
pub(crate) async fn run(
    host: &str,
    port: u16,
    mode: Mode,
    config: ServerConfig,
) -> Result<(), CliError> {
    let (server, mut events) = Server::bind((host, port), config).await?;
    say(format_args!(
        "listening on {} ({mode:?})",
        server.local_addr()
    ))?;
    let mut moves: u64 = 0;
    let mut rooms = Rooms::default();
    let mut state = key_values();
    let mut steps = tokio::time::interval(STEP);
    steps.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        let event = tokio::select! {
            _ = &mut ctrl_c => break,
            _ = steps.tick(), if (mode == Mode::Bench && !rooms.rooms.is_empty())
                || (mode == Mode::State && state.followers() > 0) => {
                if mode == Mode::State {
                    state.send(server.handle())?;
                } else {
                    rooms.step(&server)?;
                }
                continue;
            }
            event = events.recv() => match event {
                Some(event) => event,
                None => break,
            },
        };
        match event {
            ServerEvent::Connected {
                id,
                peer,
                handshake,
            } => {
                let who = if handshake.is_podnet() {
                    "podnet"
                } else {
                    "repod"
                };
                say(format_args!(
                    "[{id}] connected from {peer} ({who}, {})",
                    handshake.connection_type
                ))?;
                if mode == Mode::State {
                    state.follow_as(id, id.get());
                }
            }
            ServerEvent::Message { id, message } => {
                if mode != Mode::Bench {
                    let line = message
                        .to_value()
                        .map(|v| json::to_line(&v))
                        .unwrap_or_default();
                    say(format_args!("[{id}] {line}"))?;
                }
                if mode != Mode::Bench && message.action() == "close-me" {
                    let value = message.to_value().unwrap_or(Value::Nil);
                    let reason = value["reason"].as_str().unwrap_or("you asked");
                    let _ = server.close(id, reason);
                    continue;
                }
                if mode == Mode::State {
                    let value = message.to_value().unwrap_or(Value::Nil);
                    let key = value["key"].as_str().map(str::to_owned);
                    match (message.action(), key) {
                        ("put", Some(key)) => {
                            state.state_mut().insert(key, value["value"].clone());
                        }
                        ("del", Some(key)) => {
                            state.state_mut().remove(&key);
                        }
                        _ => {}
                    }
                    continue;
                }
                let frame = Frame::from_message(&message)?;
                match (mode, message.action()) {
                    (Mode::Echo, _) | (Mode::Bench, "ping") => {
                        let _ = server.send(id, &frame);
                    }
                    (Mode::Relay, _) => {
                        for other in server.connection_ids().into_iter().filter(|o| *o != id) {
                            let _ = server.send(other, &frame);
                        }
                    }
                    (Mode::Bench, "move") => moves += 1,
                    (Mode::Bench, "report") => {
                        let report = Value::Map(vec![
                            (Value::from("action"), Value::from("report")),
                            (Value::from("moves"), Value::from(moves)),
                        ]);
                        let _ = server.send(id, &Frame::from_value(&report, server.framing())?);
                    }
                    (Mode::Bench, "join") => {
                        let value = message.to_value().unwrap_or(Value::Nil);
                        let room = value["room"].as_u64().unwrap_or(0);
                        let seat = rooms.join(id, room);
                        let joined = Value::Map(vec![
                            (Value::from("action"), Value::from("joined")),
                            (Value::from("room"), Value::from(room)),
                            (Value::from("seat"), Value::from(seat as u64)),
                        ]);
                        let _ = server.send(id, &Frame::from_value(&joined, server.framing())?);
                    }
                    (Mode::Bench, "input") => {
                        let value = message.to_value().unwrap_or(Value::Nil);
                        rooms.input(id, value["seq"].as_u64().unwrap_or(0));
                    }
                    (Mode::Bench, "broadcast") => {
                        // An encoded frame: nothing to fail.
                        let _ = server.send_to_all(&frame);
                    }
                    (Mode::Bench | Mode::State, _) => {}
                }
            }
            ServerEvent::Error { id, error } => say(format_args!("[{id}] bad input: {error}"))?,
            ServerEvent::Dropped { id, reason } => {
                say(format_args!(
                    "[{id}] dropped ({reason}); waiting for it to resume"
                ))?;
            }
            ServerEvent::Resumed { id } => say(format_args!("[{id}] resumed"))?,
            ServerEvent::Disconnected { id, reason } => {
                rooms.leave(id);
                state.unfollow(id);
                say(format_args!("[{id}] disconnected: {reason}"))?;
            }
            _ => {}
        }
    }
    eprintln!("podnet: stopping");
    server
        .shutdown("server stopped", Duration::from_secs(5))
        .await;
    Ok(())
}

/// One line on stdout, flushed (stdout may be a pipe read line by line).
fn say(line: std::fmt::Arguments<'_>) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

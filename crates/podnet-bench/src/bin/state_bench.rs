//! Replicated state against sending the whole state each step: `cargo xtask bench
//! --scenario state` runs it.
//!
//! ```text
//! state_bench [--players N] [--room N] [--steps N]
//! ```
//!
//! N players (default 2,000) in rooms of 10, as in the game tick: 20 steps a second, and
//! between two steps each player moves with a chance of two in three (30 inputs a second,
//! some of them standing still), loses health now and then, and scores rarely; a room also
//! holds what does not change (its obstacles, the players' names). Each step is sent two
//! ways, over the same rooms:
//! - **whole**: the room's state encoded once per room (one `rmp_serde` pass) and sent to
//!   its 10 players, as a game does without podnet-state;
//! - **patches**: `podnet_state::Replicated`, one per room with its 10 players following.
//!
//! Measured in this process, on one thread that never waits (no sockets: what the server's
//! game loop spends making the messages, and how many bytes it hands to the network):
//! bytes per player per second and time per step, each way, and their ratio. Prints
//! `key=value` lines for xtask.

use std::collections::BTreeMap;
use std::time::Duration;

use podnet_framing::{Frame, FramingConfig};
use podnet_proto::ConnectionId;
use podnet_state::{Replicated, StateConfig};
use podnet_testkit::Rng;
use serde::Serialize;

/// Steps a second, as in the tick bench.
const HZ: u64 = 20;

#[derive(Serialize, Clone)]
struct Player {
    name: String,
    x: f32,
    y: f32,
    hp: u8,
    score: u32,
}

#[derive(Serialize, Clone)]
struct Room {
    players: BTreeMap<u32, Player>,
    obstacles: Vec<(i16, i16, u8)>,
    tick: u64,
}

/// The whole state as a game sends it: `{action: "state", state}`.
#[derive(Serialize)]
struct Whole<'a> {
    state: &'a Room,
}

/// The time on this thread's clock: the work is single-threaded and never waits, so its
/// elapsed time is its CPU time (run it on an otherwise quiet machine).
fn cpu() -> std::time::Instant {
    std::time::Instant::now()
}

fn room(first: u32, size: u32, rng: &mut Rng) -> Room {
    Room {
        players: (first..first + size)
            .map(|id| {
                let player = Player {
                    name: format!("player-{id}"),
                    x: rng.below(800) as f32,
                    y: rng.below(600) as f32,
                    hp: 100,
                    score: 0,
                };
                (id, player)
            })
            .collect(),
        obstacles: (0..16)
            .map(|_| {
                (
                    rng.below(800) as i16,
                    rng.below(600) as i16,
                    rng.below(40) as u8,
                )
            })
            .collect(),
        tick: 0,
    }
}

/// One step of a room's game between two sends.
fn step(room: &mut Room, rng: &mut Rng) {
    room.tick += 1;
    for player in room.players.values_mut() {
        if rng.below(3) != 0 {
            player.x += rng.below(5) as f32 - 2.0;
            player.y += rng.below(5) as f32 - 2.0;
        }
        if rng.below(20) == 0 {
            player.hp = player.hp.saturating_sub(1);
        }
        if rng.below(100) == 0 {
            player.score += 1;
        }
    }
}

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let players = arg(&args, "--players", 2_000);
    let size = arg(&args, "--room", 10).max(1);
    let steps = arg(&args, "--steps", 200);
    let rooms = players.div_ceil(size);
    let framing = FramingConfig::default();

    // The same game, twice: one copy sent whole, one replicated.
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut whole: Vec<Room> = (0..rooms)
        .map(|r| room((r * size) as u32, size as u32, &mut rng))
        .collect();
    let mut patched: Vec<Replicated<Room>> = whole
        .iter()
        .enumerate()
        .map(|(r, state)| {
            let mut replicated = Replicated::new(state.clone(), StateConfig::default());
            for seat in 0..size {
                replicated.follow(ConnectionId::from_raw(r as u64 * size + seat + 1));
            }
            replicated
        })
        .collect();
    // The first send (whole states to newcomers) is not part of the steady state.
    for r in &mut patched {
        r.send_each(|_, _| {})?;
    }

    let (mut whole_bytes, mut patch_bytes) = (0u64, 0u64);
    let (mut whole_cpu, mut patch_cpu) = (Duration::ZERO, Duration::ZERO);
    let mut moves = Rng(7);
    for _ in 0..steps {
        // The same moves for both copies.
        let seed = moves.below(u64::MAX);
        let mut a = Rng(seed | 1);
        for room in &mut whole {
            step(room, &mut a);
        }
        let mut b = Rng(seed | 1);
        for r in &mut patched {
            step(r.state_mut(), &mut b);
        }

        let start = cpu();
        for room in &whole {
            let frame = Frame::encode_with_action("state", &Whole { state: room }, &framing)?;
            // Handed to each of the room's players, as a server's send does (a clone of
            // the shared bytes each).
            for _ in 0..size {
                let copy = frame.clone();
                whole_bytes += copy.as_bytes().len() as u64;
            }
        }
        whole_cpu += start.elapsed();

        let start = cpu();
        for r in &mut patched {
            r.send_each(|_, frame| patch_bytes += frame.as_bytes().len() as u64)?;
        }
        patch_cpu += start.elapsed();
    }
    let seconds = steps as f64 / HZ as f64;
    let per_player = |bytes: u64| bytes as f64 / players as f64 / seconds;
    let per_step = |cpu: Duration| cpu.as_secs_f64() * 1e6 / steps as f64;
    println!("players={players}");
    println!("rooms={rooms}");
    println!("whole_bytes_per_player_s={:.0}", per_player(whole_bytes));
    println!("patch_bytes_per_player_s={:.0}", per_player(patch_bytes));
    println!(
        "bytes_ratio={:.3}",
        patch_bytes as f64 / whole_bytes.max(1) as f64
    );
    println!("whole_cpu_us_per_step={:.0}", per_step(whole_cpu));
    println!("patch_cpu_us_per_step={:.0}", per_step(patch_cpu));
    println!(
        "cpu_ratio={:.3}",
        patch_cpu.as_secs_f64() / whole_cpu.as_secs_f64().max(1e-9)
    );
    Ok(())
}

//! repod's tag game, server side, on podnet: a real-time, server-authoritative game with
//! the same protocol as repod's `examples/tag/server.py`, so repod's own raylib client
//! plays on it unchanged (and podnet's `tag_client` on repod's server).
//!
//! The game loop runs at a fixed 60 ticks a second on this thread: each tick it takes the
//! inputs that came (`pump()`), moves every player from their latest input, keeps them
//! inside the arena and out of the obstacles, passes "it" on contact (after a 1.5 s
//! cooldown), and sends everyone the state (`flush()` writes it at once).
//!
//! The network runs inside `pump()` (`NetworkMode::Pump`): a dedicated server's tick loop
//! is its natural shape, with no second thread and no hand-over between cores.
//!
//! Run it with `cargo run --example tag_server` (repod's address, 127.0.0.1:5071), or
//! `-- HOST PORT` (port 0 picks a free one; the first line says which); `--seed N` makes
//! the same obstacles every time. Then `cargo run --example tag_client` (a window; WASD
//! or the arrow keys), `cargo run --example tag_client -- --bot` (a headless player), or
//! repod's `python client.py`. Ctrl-C stops it.
//!
//! The protocol (docs/examples.md):
//!
//! | from | action | fields |
//! |---|---|---|
//! | client, every frame | `input` | `dx`, `dy`: the direction held, each -1, 0 or 1 |
//! | server, to a player who joins | `setup` | `your_id`, `obstacles` [{`x`, `y`, `w`, `h`}], `arena` {`w`, `h`}, `radius` |
//! | server, to all, every tick | `state` | `it`: who is it, `players` {id: {`x`, `y`, `color` [r, g, b]}} |
//! | server, to all | `tagged` | `tagger`, `tagged` |

#[path = "common/address.rs"]
mod address;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use podnet::{
    Channel, ChannelCtx, ChannelHandlers, DisconnectReason, HookResult, Message, NetworkMode,
    Server,
};
use serde::{Deserialize, Serialize};

const ARENA_W: f64 = 800.0;
const ARENA_H: f64 = 600.0;
const PLAYER_RADIUS: f64 = 14.0;
/// Pixels a second.
const PLAYER_SPEED: f64 = 200.0;
const TAG_DISTANCE: f64 = PLAYER_RADIUS * 2.0 + 4.0;
const TAG_COOLDOWN: Duration = Duration::from_millis(1500);
const TICK: Duration = Duration::from_nanos(1_000_000_000 / 60);

const PLAYER_COLORS: [[u8; 3]; 8] = [
    [60, 180, 80],
    [60, 120, 220],
    [240, 200, 40],
    [200, 80, 200],
    [40, 200, 200],
    [255, 140, 60],
    [180, 180, 180],
    [140, 80, 40],
];

// ---- The messages ----

/// A player's input: the direction held (each axis -1, 0 or 1; anything else is
/// scaled to the player's speed, and a missing or non-finite one counts as 0).
#[derive(Deserialize, Message)]
#[message(action = "input")]
struct Input {
    #[serde(default)]
    dx: f64,
    #[serde(default)]
    dy: f64,
}

#[derive(Serialize, Clone, Copy)]
struct Obstacle {
    x: u32,
    y: u32,
    w: u32,
    h: u32,
}

#[derive(Serialize)]
struct Arena {
    w: u32,
    h: u32,
}

/// To a player who joins: who they are, and the arena.
#[derive(Serialize, Message)]
#[message(action = "setup")]
struct Setup<'a> {
    your_id: u32,
    obstacles: &'a [Obstacle],
    arena: Arena,
    radius: u32,
}

#[derive(Serialize)]
struct Seen {
    x: f64,
    y: f64,
    color: [u8; 3],
}

/// To everyone, every tick.
#[derive(Serialize, Message)]
#[message(action = "state")]
struct State {
    it: Option<u32>,
    players: BTreeMap<u32, Seen>,
}

/// To everyone: "it" passed on.
#[derive(Serialize, Message)]
#[message(action = "tagged")]
struct Tagged {
    tagger: u32,
    tagged: u32,
}

// ---- The game ----

/// One player: where they are and what they hold.
struct Player {
    x: f64,
    y: f64,
    dx: f64,
    dy: f64,
    color: [u8; 3],
}

struct Game {
    players: BTreeMap<u32, Player>,
    obstacles: Vec<Obstacle>,
    next_id: u32,
    it: Option<u32>,
    last_tag: Instant,
    rng: Rng,
}

/// A player's connection: which player it is.
#[derive(Default)]
struct Tagger {
    id: u32,
}

impl Channel for Tagger {
    type Game = Game;

    fn handlers(h: &mut ChannelHandlers<Self>) {
        h.on(
            |me: &mut Self, ctx: &mut ChannelCtx<'_, Self>, input: Input| {
                if let Some(player) = ctx.game.players.get_mut(&me.id) {
                    let finite = |v: f64| if v.is_finite() { v } else { 0.0 };
                    player.dx = finite(input.dx);
                    player.dy = finite(input.dy);
                }
            },
        );
    }

    fn on_connect(&mut self, ctx: &mut ChannelCtx<'_, Self>) -> HookResult {
        let game = &mut *ctx.game;
        game.next_id += 1;
        self.id = game.next_id;
        let (x, y) = spawn_position(&game.obstacles, &mut game.rng);
        let color = PLAYER_COLORS[self.id as usize % PLAYER_COLORS.len()];
        game.players.insert(
            self.id,
            Player {
                x,
                y,
                dx: 0.0,
                dy: 0.0,
                color,
            },
        );
        if game.it.is_none() {
            game.it = Some(self.id);
            game.last_tag = Instant::now();
        }
        println!("Player {} connected from {}", self.id, ctx.peer());
        let setup = Setup {
            your_id: self.id,
            obstacles: &ctx.game.obstacles,
            arena: Arena {
                w: ARENA_W as u32,
                h: ARENA_H as u32,
            },
            radius: PLAYER_RADIUS as u32,
        };
        ctx.send(&setup)?;
        Ok(())
    }

    fn on_disconnect(
        &mut self,
        ctx: &mut ChannelCtx<'_, Self>,
        reason: &DisconnectReason,
    ) -> HookResult {
        println!("Player {} disconnected ({reason})", self.id);
        let game = &mut *ctx.game;
        game.players.remove(&self.id);
        if game.it == Some(self.id) {
            game.it = game.players.keys().next().copied();
            game.last_tag = Instant::now();
        }
        Ok(())
    }
}

impl Game {
    fn new(seed: u64) -> Game {
        let mut rng = Rng(seed);
        let obstacles = (0..7)
            .map(|_| {
                let w = rng.range(40, 120);
                let h = rng.range(40, 120);
                Obstacle {
                    x: rng.range(60, ARENA_W as u32 - w - 60),
                    y: rng.range(60, ARENA_H as u32 - h - 60),
                    w,
                    h,
                }
            })
            .collect();
        Game {
            players: BTreeMap::new(),
            obstacles,
            next_id: 0,
            it: None,
            last_tag: Instant::now(),
            rng,
        }
    }

    /// One tick: move everyone, pass "it" on contact; returns a tag if one happened.
    fn step(&mut self, dt: f64) -> Option<Tagged> {
        for player in self.players.values_mut() {
            let magnitude = player.dx.hypot(player.dy);
            let (nx, ny) = if magnitude > 0.0 {
                (
                    player.dx / magnitude * PLAYER_SPEED * dt,
                    player.dy / magnitude * PLAYER_SPEED * dt,
                )
            } else {
                (0.0, 0.0)
            };
            (player.x, player.y) = clamp_position(player.x + nx, player.y + ny, &self.obstacles);
        }
        self.check_tags()
    }

    fn check_tags(&mut self) -> Option<Tagged> {
        let it = self.it?;
        if self.players.len() < 2 || self.last_tag.elapsed() < TAG_COOLDOWN {
            return None;
        }
        let chaser = self.players.get(&it)?;
        let (cx, cy) = (chaser.x, chaser.y);
        let caught = self
            .players
            .iter()
            .find(|(id, p)| **id != it && (cx - p.x).hypot(cy - p.y) < TAG_DISTANCE)
            .map(|(id, _)| *id)?;
        println!("Player {it} tagged player {caught}!");
        self.it = Some(caught);
        self.last_tag = Instant::now();
        Some(Tagged {
            tagger: it,
            tagged: caught,
        })
    }

    fn state(&self) -> State {
        // Rounded to a tenth, as repod's server sends them.
        let round = |v: f64| (v * 10.0).round() / 10.0;
        State {
            it: self.it,
            players: self
                .players
                .iter()
                .map(|(id, p)| {
                    let seen = Seen {
                        x: round(p.x),
                        y: round(p.y),
                        color: p.color,
                    };
                    (*id, seen)
                })
                .collect(),
        }
    }
}

/// A random place inside the arena, clear of the obstacles.
fn spawn_position(obstacles: &[Obstacle], rng: &mut Rng) -> (f64, f64) {
    let margin = PLAYER_RADIUS + 10.0;
    for _ in 0..200 {
        let x = margin + rng.unit() * (ARENA_W - 2.0 * margin);
        let y = margin + rng.unit() * (ARENA_H - 2.0 * margin);
        let inside = |o: &Obstacle| {
            let (ox, oy, ow, oh) = (o.x as f64, o.y as f64, o.w as f64, o.h as f64);
            ox - PLAYER_RADIUS < x
                && x < ox + ow + PLAYER_RADIUS
                && oy - PLAYER_RADIUS < y
                && y < oy + oh + PLAYER_RADIUS
        };
        if !obstacles.iter().any(inside) {
            return (x, y);
        }
    }
    (ARENA_W / 2.0, ARENA_H / 2.0)
}

/// Keeps a player inside the arena, and pushes them out of an obstacle by its nearest
/// edge, as repod's server does.
fn clamp_position(x: f64, y: f64, obstacles: &[Obstacle]) -> (f64, f64) {
    let mut x = x.clamp(PLAYER_RADIUS, ARENA_W - PLAYER_RADIUS);
    let mut y = y.clamp(PLAYER_RADIUS, ARENA_H - PLAYER_RADIUS);
    for o in obstacles {
        let left = o.x as f64 - PLAYER_RADIUS;
        let right = (o.x + o.w) as f64 + PLAYER_RADIUS;
        let top = o.y as f64 - PLAYER_RADIUS;
        let bottom = (o.y + o.h) as f64 + PLAYER_RADIUS;
        if left < x && x < right && top < y && y < bottom {
            let edges = [x - left, right - x, y - top, bottom - y];
            let nearest = (0..4).fold(0, |best, i| if edges[i] < edges[best] { i } else { best });
            match nearest {
                0 => x = left,
                1 => x = right,
                2 => y = top,
                _ => y = bottom,
            }
        }
    }
    (x, y)
}

/// A small random number generator (SplitMix64): the obstacles and spawn points need no
/// more, and `--seed` makes them the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// In `low..=high`.
    fn range(&mut self, low: u32, high: u32) -> u32 {
        low + (self.next() % u64::from(high - low + 1)) as u32
    }

    /// In `0.0..1.0`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn main() -> Result<(), podnet::Error> {
    // `tag_server [HOST [PORT]] [--seed N]`, as repod's server.py (with a seed).
    let mut args = std::env::args().skip(1);
    let (mut positional, mut seed) = (Vec::new(), None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seed" => seed = args.next().and_then(|s| s.parse().ok()),
            _ => positional.push(arg),
        }
    }
    // `[HOST [PORT]]` as repod's examples take it; an unknown flag lands here too.
    let addr = address::address("tag_server", &positional).unwrap_or_else(|usage| {
        eprintln!("{usage} [--seed N]");
        std::process::exit(2);
    });
    let seed = seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(7, |d| d.as_nanos() as u64)
    });

    let mut server = Server::<Tagger>::builder()
        .addr(addr)
        .network_mode(NetworkMode::Pump)
        .start_background(Game::new(seed))?;
    server.stop_on_signals()?;
    println!("Server running on {}", server.local_addr());

    // The game loop: a fixed tick, on this thread.
    let mut next_tick = Instant::now();
    while server.stop_requested().is_none() {
        next_tick += TICK;
        std::thread::sleep(next_tick.saturating_duration_since(Instant::now()));
        server.pump();
        let game = server.game_mut();
        let tagged = game.step(TICK.as_secs_f64());
        let state = game.state();
        // Sends fail only for a message that cannot encode, which these can.
        if let Some(tagged) = tagged {
            let _ = server.send_to_all(&tagged);
        }
        let _ = server.send_to_all(&state);
        // Out now, not at the next tick's pump.
        server.flush();
    }
    println!("Shutting down...");
    Ok(())
}

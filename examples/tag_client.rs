//! repod's tag game, client side, on podnet: a window drawn with macroquad, playing on
//! podnet's `tag_server` or on repod's own `examples/tag/server.py` unchanged (the same
//! protocol). Move with WASD or the arrow keys; the red player is "it" and tags whoever it
//! touches.
//!
//! Run `cargo run --example tag_server` first, then `cargo run --example tag_client`
//! (or `-- HOST PORT`; repod's address, 127.0.0.1:5071, by default). Options:
//! - `--bot`: no window, a headless player that chases (when it is "it") or flees, and
//!   prints what it sees; `--seconds S` ends it after S seconds with how far it moved;
//! - `--autopilot`: the window, steered as the bot steers instead of by the keys;
//! - `--screenshot PATH`: save the window as a PNG after `--frames N` frames (120) with
//!   the game in view, then exit (what `cargo xtask tag` does under Xvfb for the docs).
//!
//! macroquad because its loop is the one a pump-per-frame library wants: the game's own
//! `loop { input; client.pump(); draw; next_frame().await }`, with no callbacks or app
//! framework around it; it is small (no audio here: `default-features = false`), builds
//! without system libraries beyond GL and X11, and draws with software GL under Xvfb.
//!
//! Each frame: send the direction held (`input`), `pump()` the network (the handlers
//! below update the view), draw the view.

#[path = "common/address.rs"]
mod address;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use podnet::{
    Client, ClientCtx, Connected, ConnectionListener, DisconnectReason, HookResult,
    ListenerHandlers, Message,
};
use serde::{Deserialize, Serialize};

// ---- The messages (repod's tag protocol; docs/examples.md) ----

/// The direction held, every frame.
#[derive(Serialize, Message)]
#[message(action = "input")]
struct Input {
    dx: f64,
    dy: f64,
}

#[derive(Deserialize, Clone, Copy)]
struct Obstacle {
    x: f32,
    y: f32,
    w: f32,
    h: f32,
}

#[derive(Deserialize)]
struct Size {
    w: f32,
    h: f32,
}

/// Who we are, and the arena: once, on joining.
#[derive(Deserialize, Message)]
#[message(action = "setup")]
struct Setup {
    your_id: u32,
    obstacles: Vec<Obstacle>,
    arena: Size,
    radius: f32,
}

#[derive(Deserialize, Clone, Copy)]
struct Seen {
    x: f32,
    y: f32,
    color: [u8; 3],
}

/// Everyone, every tick.
#[derive(Deserialize, Message)]
#[message(action = "state")]
struct State {
    it: Option<u32>,
    players: BTreeMap<u32, Seen>,
}

/// "It" passed on.
#[derive(Deserialize, Message)]
#[message(action = "tagged")]
struct Tagged {
    tagger: u32,
    tagged: u32,
}

// ---- What the client knows: the view, kept up to date by the handlers ----

struct View {
    my_id: Option<u32>,
    arena: (f32, f32),
    radius: f32,
    obstacles: Vec<Obstacle>,
    players: BTreeMap<u32, Seen>,
    it: Option<u32>,
    status: String,
    last_tag: Option<(String, Instant)>,
    /// Whether to print what happens (the bot does).
    verbose: bool,
    gone: bool,
}

impl View {
    fn new(verbose: bool) -> View {
        View {
            my_id: None,
            arena: (800.0, 600.0),
            radius: 14.0,
            obstacles: Vec::new(),
            players: BTreeMap::new(),
            it: None,
            status: "connecting...".to_owned(),
            last_tag: None,
            verbose,
            gone: false,
        }
    }

    fn me(&self) -> Option<Seen> {
        self.players.get(&self.my_id?).copied()
    }

    /// Where to go: toward the nearest player when we are "it", away from "it" when not
    /// (and away from the walls, so as not to be cornered), and round in a circle when
    /// there is neither (alone, say). A unit vector; `t` is the time in seconds.
    fn steer(&self, t: f64) -> (f64, f64) {
        let (Some(my_id), Some(me)) = (self.my_id, self.me()) else {
            return (0.0, 0.0);
        };
        let nearest = self
            .players
            .iter()
            .filter(|(id, _)| **id != my_id)
            .map(|(_, p)| (p.x - me.x, p.y - me.y))
            .min_by(|a, b| a.0.hypot(a.1).total_cmp(&b.0.hypot(b.1)));
        let chaser = self
            .it
            .filter(|it| *it != my_id)
            .and_then(|it| self.players.get(&it));
        let (mut dx, mut dy) = match (self.it == Some(my_id), nearest, chaser) {
            (true, Some(target), _) => target,
            (false, _, Some(chaser)) => {
                let (ax, ay) = (me.x - chaser.x, me.y - chaser.y);
                let away = ax.hypot(ay).max(1.0);
                // Toward the middle, more strongly near a wall.
                let (cx, cy) = (self.arena.0 / 2.0 - me.x, self.arena.1 / 2.0 - me.y);
                (ax / away + cx / self.arena.0, ay / away + cy / self.arena.1)
            }
            _ => {
                let angle = (t * 1.5) as f32;
                (angle.cos(), angle.sin())
            }
        };
        let length = dx.hypot(dy);
        if length > 0.0 {
            dx /= length;
            dy /= length;
        }
        (f64::from(dx), f64::from(dy))
    }
}

impl ConnectionListener for View {
    fn handlers(h: &mut ListenerHandlers<Self>) {
        h.on(|view: &mut Self, _: &mut ClientCtx<'_>, _: Connected| {
            view.status = "connected".to_owned();
        })
        .on(|view: &mut Self, _: &mut ClientCtx<'_>, setup: Setup| {
            if view.verbose {
                println!(
                    "setup: player {}, {} obstacles, arena {}x{}",
                    setup.your_id,
                    setup.obstacles.len(),
                    setup.arena.w,
                    setup.arena.h
                );
            }
            view.my_id = Some(setup.your_id);
            view.obstacles = setup.obstacles;
            view.arena = (setup.arena.w, setup.arena.h);
            view.radius = setup.radius;
            view.status = format!("joined as player {}", setup.your_id);
        })
        .on(|view: &mut Self, _: &mut ClientCtx<'_>, state: State| {
            let first = view.me().is_none();
            view.it = state.it;
            view.players = state.players;
            if let (true, Some(me), true) = (first, view.me(), view.verbose) {
                println!(
                    "state: at ({:.1}, {:.1}), {} players, it: {:?}",
                    me.x,
                    me.y,
                    view.players.len(),
                    view.it
                );
            }
        })
        .on(|view: &mut Self, _: &mut ClientCtx<'_>, tagged: Tagged| {
            let text = format!("Player {} tagged player {}!", tagged.tagger, tagged.tagged);
            if view.verbose {
                println!("tagged: {text}");
            }
            view.last_tag = Some((text, Instant::now()));
        });
    }

    fn on_disconnect(&mut self, _ctx: &mut ClientCtx<'_>, reason: &DisconnectReason) -> HookResult {
        if self.verbose {
            println!("disconnected: {reason}");
        }
        self.status = "disconnected".to_owned();
        self.gone = true;
        Ok(())
    }
}

// ---- The headless bot ----

/// Plays without a window, 60 frames a second, for `seconds` (or until the server goes).
fn run_bot(client: &mut Client<View>, seconds: Option<f64>) {
    const FRAME: Duration = Duration::from_nanos(1_000_000_000 / 60);
    let start = Instant::now();
    let mut last: Option<(f32, f32)> = None;
    let mut moved = 0.0;
    let mut next_frame = Instant::now();
    while !client.listener().gone {
        if seconds.is_some_and(|s| start.elapsed().as_secs_f64() >= s) {
            break;
        }
        let (dx, dy) = client.listener().steer(start.elapsed().as_secs_f64());
        // A send fails only once the connection is gone, which the loop sees next.
        let _ = client.send(&Input { dx, dy });
        client.pump();
        if let Some(me) = client.listener().me() {
            if let Some((x, y)) = last {
                moved += (me.x - x).hypot(me.y - y);
            }
            last = Some((me.x, me.y));
        }
        next_frame += FRAME;
        std::thread::sleep(next_frame.saturating_duration_since(Instant::now()));
    }
    println!(
        "moved {moved:.0} px in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    client.close("the bot is done");
    let deadline = Instant::now() + Duration::from_secs(2);
    while !client.listener().gone && Instant::now() < deadline {
        client.pump_timeout(Duration::from_millis(50));
    }
}

// ---- The window ----

mod window {
    use macroquad::prelude::*;

    use super::{Client, Input, View};

    const WIDTH: f32 = 860.0;
    const HEIGHT: f32 = 660.0;
    const IT_COLOR: Color = Color::new(220.0 / 255.0, 50.0 / 255.0, 50.0 / 255.0, 1.0);

    fn rgb(r: u8, g: u8, b: u8) -> Color {
        Color::from_rgba(r, g, b, 255)
    }

    pub(crate) fn conf() -> Conf {
        Conf {
            window_title: "Tag - podnet".to_owned(),
            window_width: WIDTH as i32,
            window_height: HEIGHT as i32,
            window_resizable: false,
            ..Default::default()
        }
    }

    /// The direction the keys hold (WASD or arrows).
    fn keys() -> (f64, f64) {
        let held = |a: KeyCode, b: KeyCode| is_key_down(a) || is_key_down(b);
        let mut d = (0.0, 0.0);
        if held(KeyCode::W, KeyCode::Up) {
            d.1 -= 1.0;
        }
        if held(KeyCode::S, KeyCode::Down) {
            d.1 += 1.0;
        }
        if held(KeyCode::A, KeyCode::Left) {
            d.0 -= 1.0;
        }
        if held(KeyCode::D, KeyCode::Right) {
            d.0 += 1.0;
        }
        d
    }

    /// The game loop: input, pump, draw, once a frame. With `screenshot`, saves the
    /// window after `frames` frames with the game in view, then ends.
    pub(crate) async fn run(
        mut client: Client<View>,
        autopilot: bool,
        screenshot: Option<(String, u32)>,
    ) {
        let mut in_view = 0;
        let start = get_time();
        while !client.listener().gone {
            let (dx, dy) = if autopilot {
                client.listener().steer(get_time() - start)
            } else {
                keys()
            };
            // A send fails only once the connection is gone, which the loop sees next.
            let _ = client.send(&Input { dx, dy });
            client.pump();
            draw(client.listener());
            if client.listener().me().is_some() {
                in_view += 1;
            }
            if let Some((path, frames)) = &screenshot {
                if in_view >= *frames {
                    get_screen_data().export_png(path);
                    println!("screenshot saved to {path}");
                    break;
                }
            }
            next_frame().await;
        }
        client.close("the window closed");
    }

    /// Draws the view as repod's raylib client does.
    fn draw(view: &View) {
        clear_background(rgb(30, 30, 35));
        let (arena_w, arena_h) = view.arena;
        let (ox, oy) = (((WIDTH - arena_w) / 2.0).floor(), 50.0);
        draw_rectangle(ox, oy, arena_w, arena_h, rgb(45, 45, 52));
        draw_rectangle_lines(ox, oy, arena_w, arena_h, 1.0, WHITE);
        for o in &view.obstacles {
            draw_rectangle(ox + o.x, oy + o.y, o.w, o.h, rgb(60, 60, 70));
            draw_rectangle_lines(ox + o.x, oy + o.y, o.w, o.h, 1.0, rgb(90, 90, 100));
        }
        let r = view.radius;
        for (id, p) in &view.players {
            let (px, py) = (ox + p.x, oy + p.y);
            if Some(*id) == view.it {
                draw_circle(px, py, r + 4.0, Color::from_rgba(220, 50, 50, 80));
                draw_circle(px, py, r, IT_COLOR);
                draw_circle_lines(px, py, r + 3.0, 1.0, Color::from_rgba(255, 80, 80, 200));
                draw_text("IT!", px - 8.0, py - r - 6.0, 18.0, IT_COLOR);
            } else {
                draw_circle(px, py, r, rgb(p.color[0], p.color[1], p.color[2]));
            }
            if Some(*id) == view.my_id {
                draw_circle_lines(px, py, r + 2.0, 1.5, WHITE);
            }
        }
        let hud = rgb(220, 220, 220);
        draw_text(
            format!("Players: {}", view.players.len()),
            10.0,
            24.0,
            26.0,
            hud,
        );
        draw_text(format!("Status: {}", view.status), 10.0, 44.0, 20.0, hud);
        if let Some(my_id) = view.my_id {
            let (role, color) = if view.it == Some(my_id) {
                ("YOU ARE IT!", IT_COLOR)
            } else {
                ("Run!", GREEN)
            };
            draw_text(role, WIDTH - 160.0, 28.0, 30.0, color);
        }
        if let Some((text, at)) = &view.last_tag {
            if at.elapsed().as_secs_f32() < 3.0 {
                let color = Color::from_rgba(255, 255, 100, 200);
                draw_text(text, WIDTH / 2.0 - 100.0, oy + arena_h + 26.0, 24.0, color);
            }
        }
        let hint = rgb(120, 120, 120);
        draw_text("WASD / Arrow keys to move", 10.0, HEIGHT - 8.0, 18.0, hint);
    }
}

fn main() -> Result<(), podnet::Error> {
    // `tag_client [HOST [PORT]] [--bot [--seconds S]] [--autopilot] [--screenshot PATH [--frames N]]`
    let mut args = std::env::args().skip(1);
    let (mut positional, mut bot, mut autopilot) = (Vec::new(), false, false);
    let (mut seconds, mut screenshot, mut frames) = (None, None, 120);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bot" => bot = true,
            "--autopilot" => autopilot = true,
            "--seconds" => seconds = args.next().and_then(|s| s.parse().ok()),
            "--screenshot" => screenshot = args.next(),
            "--frames" => frames = args.next().and_then(|s| s.parse().ok()).unwrap_or(frames),
            _ => positional.push(arg),
        }
    }
    // `[HOST [PORT]]` as repod's examples take it; an unknown flag lands here too.
    let addr = address::address("tag_client", &positional).unwrap_or_else(|usage| {
        eprintln!("{usage} [--bot [--seconds S]] [--autopilot] [--screenshot PATH [--frames N]]");
        std::process::exit(2);
    });
    let mut client = Client::connect(addr.as_str(), View::new(bot))?;
    if bot {
        run_bot(&mut client, seconds);
    } else {
        let screenshot = screenshot.map(|path| (path, frames));
        macroquad::Window::from_config(window::conf(), window::run(client, autopilot, screenshot));
    }
    Ok(())
}

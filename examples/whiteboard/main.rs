//! repod's whiteboard, served by podnet: one board that browsers, repod's own pygame
//! client and Rust programs draw on together.
//!
//! Run it with `cargo run --example whiteboard` and open the URL it prints in a few
//! browser tabs: the page and its script come from this same process and port, and the
//! tabs connect back over WebSocket. repod's pygame client (`examples/whiteboard/client.py`
//! in repod's source distribution) joins on the same port, unchanged. A Rust bot draws a
//! flower, petal by petal. Ctrl-C stops it.
//!
//! The protocol is exactly that of repod's `examples/whiteboard/server.py`:
//!
//! | from | action | fields | what the server does |
//! |---|---|---|---|
//! | client | `startline` | `point` [x, y], `color` [r, g, b], `thickness` | starts a stroke; relays the message to everyone with the drawer's `id` |
//! | client | `drawpoint` | `point` [x, y] | extends the drawer's last stroke; relays it with `id` |
//! | server | `initial` | `lines`: {id: {`lines`: [{`points`, `color`, `thickness`}]}} | to a player who joins: the board so far |
//! | server | `players` | `count` | to everyone, when someone joins or leaves |
//!
//! Run as `whiteboard [HOST [PORT]]` (repod's 127.0.0.1 and 5071 by default; port 0 picks
//! a free one), with options `--no-bot`, `--bot-strokes N` (the bot draws N strokes, says
//! `bot drew N strokes`, then only watches), `--connect HOST:PORT` (no server here: the bot
//! draws on that one, repod's own `server.py` say), and `--report`: run until stdin
//! closes, then print the bot's view of the board as one JSON line (what `cargo xtask
//! browser` and `cargo xtask interop` check).

#[path = "../common/address.rs"]
mod address;

use podnet::WithAction;
use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use podnet::wire::Frame;
use podnet::{
    Channel, ChannelCtx, ChannelHandlers, Client, ClientCtx, ConnectionId, ConnectionListener,
    DisconnectReason, HookResult, ListenerHandlers, SendError, Server, Value,
};

// ---- The server: repod's WhiteboardServer ----

/// The most points the board keeps, all players together: its `initial` (about 19 bytes
/// a point at most) then fits in one message (1 MiB by default). A full board takes no
/// more strokes or points; a peer cannot make the server grow past it.
const MAX_BOARD_POINTS: usize = 40_000;

/// A point as repod's clients send it, `[x, y]` in numbers; anything else is refused
/// (not stored, not relayed).
fn point_of(data: &Value) -> Option<Value> {
    let point = &data["point"];
    let numbers = point.as_array()?;
    (numbers.len() == 2 && numbers.iter().all(|v| v.is_number())).then(|| point.clone())
}

/// One stroke: its points, color and thickness, as the drawer sent them.
#[derive(Clone)]
struct Line {
    points: Vec<Value>,
    color: Value,
    thickness: Value,
}

impl Line {
    /// A new stroke from a `startline` (or a first `drawpoint`), with repod's defaults.
    fn start(data: &Value, point: Value) -> Self {
        Self {
            points: vec![point],
            color: field_or(
                data,
                "color",
                Value::Array(vec![0.into(), 0.into(), 0.into()]),
            ),
            thickness: field_or(data, "thickness", Value::from(3)),
        }
    }

    fn to_value(&self) -> Value {
        map(vec![
            ("points", Value::Array(self.points.clone())),
            ("color", self.color.clone()),
            ("thickness", self.thickness.clone()),
        ])
    }
}

/// A player on the board: the id it is known by (a string, as repod's) and its strokes.
struct Drawer {
    conn: ConnectionId,
    id: String,
    lines: Vec<Line>,
}

/// The board: every player, in the order they joined.
#[derive(Default)]
struct Board {
    next_id: u64,
    drawers: Vec<Drawer>,
    /// Every stroke's points, all players together (at most [`MAX_BOARD_POINTS`]).
    points: usize,
}

impl Board {
    /// The drawer of `conn` and the point `data` carries, if it is one and the board has
    /// room for it (which it then takes).
    fn drawing(&mut self, conn: ConnectionId, data: &Value) -> Option<(&mut Drawer, Value)> {
        let point = point_of(data)?;
        if self.points >= MAX_BOARD_POINTS {
            return None;
        }
        let drawer = self.drawers.iter_mut().find(|d| d.conn == conn)?;
        self.points += 1;
        Some((drawer, point))
    }
}

#[derive(Default)]
struct Player;

impl Channel for Player {
    type Game = Board;

    fn handlers(h: &mut ChannelHandlers<Self>) {
        h.on_value("startline", |_, ctx, data| {
            let conn = ctx.id();
            let Some((drawer, point)) = ctx.game.drawing(conn, &data) else {
                return Ok(());
            };
            drawer.lines.push(Line::start(&data, point));
            let id = drawer.id.clone();
            relay(ctx, data, &id)
        })
        .on_value("drawpoint", |_, ctx, data| {
            let conn = ctx.id();
            let Some((drawer, point)) = ctx.game.drawing(conn, &data) else {
                return Ok(());
            };
            match drawer.lines.last_mut() {
                Some(line) => line.points.push(point),
                None => drawer.lines.push(Line::start(&data, point)),
            }
            let id = drawer.id.clone();
            relay(ctx, data, &id)
        });
    }

    fn on_connect(&mut self, ctx: &mut ChannelCtx<'_, Self>) -> HookResult {
        ctx.game.next_id += 1;
        let id = ctx.game.next_id.to_string();
        println!("new player {id} from {}", ctx.peer());
        ctx.game.drawers.push(Drawer {
            conn: ctx.id(),
            id,
            lines: Vec::new(),
        });
        // The board so far, to the newcomer; then the count, to everyone.
        let lines = ctx
            .game
            .drawers
            .iter()
            .map(|d| {
                let strokes = Value::Array(d.lines.iter().map(Line::to_value).collect());
                (Value::from(d.id.as_str()), map(vec![("lines", strokes)]))
            })
            .collect();
        let initial = map(vec![
            ("action", "initial".into()),
            ("lines", Value::Map(lines)),
        ]);
        send_value(ctx, Some(ctx.id()), &initial)?;
        send_players(ctx)?;
        Ok(())
    }

    fn on_disconnect(
        &mut self,
        ctx: &mut ChannelCtx<'_, Self>,
        reason: &DisconnectReason,
    ) -> HookResult {
        let conn = ctx.id();
        if let Some(at) = ctx.game.drawers.iter().position(|d| d.conn == conn) {
            let gone = ctx.game.drawers.remove(at);
            ctx.game.points -= gone.lines.iter().map(|l| l.points.len()).sum::<usize>();
            println!("player {} left ({reason})", gone.id);
        }
        send_players(ctx)?;
        Ok(())
    }
}

/// Sends `data` to everyone, tagged with the drawer's `id`, as repod's `_relay` does.
fn relay(ctx: &ChannelCtx<'_, Player>, mut data: Value, id: &str) -> Result<(), SendError> {
    if let Value::Map(entries) = &mut data {
        match entries.iter_mut().find(|(k, _)| k.as_str() == Some("id")) {
            Some((_, value)) => *value = id.into(),
            None => entries.push(("id".into(), id.into())),
        }
    }
    send_value(ctx, None, &data)
}

fn send_players(ctx: &ChannelCtx<'_, Player>) -> Result<(), SendError> {
    let count = ctx.game.drawers.len() as u64;
    let players = map(vec![("action", "players".into()), ("count", count.into())]);
    send_value(ctx, None, &players)
}

/// Encodes `value` once and sends it to `to`, or to everyone.
fn send_value(
    ctx: &ChannelCtx<'_, Player>,
    to: Option<ConnectionId>,
    value: &Value,
) -> Result<(), SendError> {
    let frame = Frame::from_value(value, ctx.server().framing())?;
    match to {
        Some(id) => ctx.server().send(id, &frame),
        None => {
            ctx.server().send_to_all(&frame)?;
            Ok(())
        }
    }
}

// ---- The bot: a podnet client that draws, and keeps its own view of the board ----

/// What the bot has seen: each drawer's strokes, as lists of points.
#[derive(Default)]
struct Bot {
    view: BTreeMap<String, Vec<Vec<Value>>>,
    players: u64,
}

impl ConnectionListener for Bot {
    fn handlers(h: &mut ListenerHandlers<Self>) {
        h.on_value("initial", |bot: &mut Bot, _: &mut ClientCtx<'_>, data| {
            bot.view.clear();
            if let Value::Map(drawers) = &data["lines"] {
                for (id, drawer) in drawers {
                    let strokes = drawer["lines"]
                        .as_array()
                        .map(|lines| {
                            lines
                                .iter()
                                .map(|l| l["points"].as_array().cloned().unwrap_or_default())
                                .collect()
                        })
                        .unwrap_or_default();
                    bot.view
                        .insert(id.as_str().unwrap_or_default().to_owned(), strokes);
                }
            }
            let strokes: usize = bot.view.values().map(Vec::len).sum();
            println!("bot got the board: {strokes} strokes");
        })
        .on_value("startline", |bot: &mut Bot, _: &mut ClientCtx<'_>, data| {
            let id = data["id"].as_str().unwrap_or_default().to_owned();
            bot.view
                .entry(id)
                .or_default()
                .push(vec![data["point"].clone()]);
        })
        .on_value("drawpoint", |bot: &mut Bot, _: &mut ClientCtx<'_>, data| {
            let id = data["id"].as_str().unwrap_or_default().to_owned();
            let strokes = bot.view.entry(id).or_default();
            match strokes.last_mut() {
                Some(stroke) => stroke.push(data["point"].clone()),
                None => strokes.push(vec![data["point"].clone()]),
            }
        })
        .on_value("players", |bot: &mut Bot, _: &mut ClientCtx<'_>, data| {
            bot.players = data["count"].as_u64().unwrap_or(0);
        });
    }
}

/// Where the bot's pen is at step `n` of stroke `stroke`: petals of a flower around the
/// middle of the 780 x 560 board.
fn petal_point(stroke: u64, n: u64) -> Value {
    const STEPS: f64 = 24.0;
    let angle = stroke as f64 * 0.9;
    let t = n as f64 / STEPS * std::f64::consts::PI;
    let r = 150.0 * t.sin();
    let (cx, cy) = (390.0, 280.0);
    let x = cx + r * (angle + 0.35 * (t - std::f64::consts::FRAC_PI_2)).cos();
    let y = cy + r * (angle + 0.35 * (t - std::f64::consts::FRAC_PI_2)).sin();
    Value::Array(vec![(x.round() as i64).into(), (y.round() as i64).into()])
}

const PETAL_POINTS: u64 = 24;

// ---- main ----

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = address::command_line(
        "whiteboard",
        &["--bot-strokes", "--connect"],
        &["--no-bot", "--report"],
    );
    let bot_strokes = match args.value("--bot-strokes") {
        Some(n) => Some(n.parse::<u64>()?),
        None => None,
    };
    let with_bot = !args.has("--no-bot");
    let report = args.has("--report");

    let connect = args.value("--connect").map(str::to_owned);

    // The server, unless the bot draws on another one.
    let mut server = match connect {
        Some(_) => None,
        None => Some(
            Server::<Player>::builder()
                .addr(args.addr.clone())
                .page("/", "text/html; charset=utf-8", include_str!("index.html"))
                .page(
                    "/whiteboard.js",
                    "text/javascript; charset=utf-8",
                    include_str!("whiteboard.js"),
                )
                .page(
                    "/podnet-client.js",
                    "text/javascript; charset=utf-8",
                    include_str!("podnet-client.js"),
                )
                .start_background(Board::default())?,
        ),
    };
    let addr = match (&server, connect) {
        (Some(server), _) => {
            server.stop_on_signals()?;
            let addr = server.local_addr();
            println!("whiteboard on http://{addr}/ (repod clients: {addr}); Ctrl-C to stop");
            addr.to_string()
        }
        (None, Some(addr)) => addr,
        (None, None) => unreachable!("a server is started unless --connect names one"),
    };

    // With --report, stdin closing is the signal to stop.
    let stdin_closed = Arc::new(AtomicBool::new(false));
    if report {
        let closed = stdin_closed.clone();
        std::thread::spawn(move || {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
            closed.store(true, Ordering::Relaxed);
        });
    }

    let mut bot = if with_bot {
        Some(Client::connect(addr.as_str(), Bot::default())?)
    } else {
        None
    };
    let (mut stroke, mut step) = (0u64, 0u64);
    let mut next_step = Instant::now();
    let mut said_done = false;
    let stopping = |server: &Option<Server<Player>>| {
        stdin_closed.load(Ordering::Relaxed)
            || server
                .as_ref()
                .is_some_and(|s| s.stop_requested().is_some())
    };
    while !stopping(&server) {
        match (&mut server, &mut bot) {
            (Some(server), _) => {
                server.pump_timeout(Duration::from_millis(5));
            }
            (None, Some(bot)) => {
                bot.pump_timeout(Duration::from_millis(5));
            }
            (None, None) => break,
        }
        let Some(bot) = &mut bot else { continue };
        bot.pump();
        if !bot.is_connected() {
            break;
        }
        let drawing = bot_strokes.is_none_or(|n| stroke < n);
        if !drawing && !said_done {
            println!("bot drew {stroke} strokes");
            said_done = true;
        }
        if drawing && Instant::now() >= next_step {
            let point = petal_point(stroke, step);
            if step == 0 {
                let color = [(200, 40, 40), (40, 80, 200), (160, 40, 200), (255, 120, 0)]
                    [(stroke % 4) as usize];
                bot.send(&WithAction(
                    "startline",
                    &map(vec![
                        ("point", point),
                        (
                            "color",
                            Value::Array(vec![color.0.into(), color.1.into(), color.2.into()]),
                        ),
                        ("thickness", 5.into()),
                    ]),
                ))?;
            } else {
                bot.send(&WithAction("drawpoint", &map(vec![("point", point)])))?;
            }
            step += 1;
            next_step += Duration::from_millis(30);
            if step > PETAL_POINTS {
                (stroke, step) = (stroke + 1, 0);
                next_step += Duration::from_millis(400);
            }
        }
    }
    if let Some(bot) = &bot {
        if report {
            let view = Value::Map(
                bot.listener()
                    .view
                    .iter()
                    .map(|(id, strokes)| {
                        let strokes = strokes.iter().map(|s| Value::Array(s.clone())).collect();
                        (Value::from(id.as_str()), Value::Array(strokes))
                    })
                    .collect(),
            );
            println!("bot view: {}", json(&view));
        }
    }
    drop(bot);
    if let Some(mut server) = server {
        server.shutdown("the whiteboard is closing", Duration::from_secs(2));
    }
    Ok(())
}

/// A msgpack map with string keys.
fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
}

fn field_or(data: &Value, key: &str, default: Value) -> Value {
    match &data[key] {
        Value::Nil => default,
        value => value.clone(),
    }
}

/// Points, numbers and strings as JSON (all the bot's view holds).
fn json(value: &Value) -> String {
    match value {
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(json).collect();
            format!("[{}]", items.join(","))
        }
        Value::Map(entries) => {
            let entries: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{}:{}", json(k), json(v)))
                .collect();
            format!("{{{}}}", entries.join(","))
        }
        Value::String(s) => format!("{:?}", s.as_str().unwrap_or_default()),
        other => other.to_string(),
    }
}

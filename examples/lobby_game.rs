//! A lobby and a game, played by bots: four bots log in (one under a taken name, so it
//! tries another), are paired, play a number-guessing game, go back to the lobby, play
//! again, and leave. Everything runs in one ordinary game loop and ends by itself.
//!
//! Run it with `cargo run --example lobby_game`.
//!
//! What to look at:
//! - `Guesses` is one session of the game, for one pair: its own state, a phase
//!   (select → play), and handlers keyed by action (`ctx.sender()` is the seat of the
//!   player who sent the message);
//! - the lobby does the rest (logins, unique names, pairing in join order, sessions side
//!   by side, players back to the lobby), driven by `server.pump()`;
//! - the bots are plain podnet clients: `podnet_lobby::client` handles the lobby's side
//!   (logging in, retrying a taken name, the start and end of each game), and the bots'
//!   own handlers play the game.

use std::time::{Duration, Instant};

use podnet::{Client, ClientCtx, ConnectionListener, ListenerHandlers, Message, SendError};
use podnet_lobby::client::{LobbyPlayer, LobbyState, lobby_handlers};
use podnet_lobby::protocol::{GameOver, GameStart, LoginRefused, Welcome};
use podnet_lobby::{Game, LobbyConfig, LobbyServer, Seat, SessionCtx, SessionHandlers};
use serde::{Deserialize, Serialize};

// ---- The game's messages ----

/// Select phase, client → server: the largest number this player wants in play.
#[derive(Serialize, Deserialize, Message)]
#[message(action = "pick")]
struct Pick {
    max: u32,
}

/// Server → everyone: the secret is between 1 and `max`.
#[derive(Serialize, Deserialize, Message)]
#[message(action = "play")]
struct Play {
    max: u32,
}

/// Server → one player: guess now.
#[derive(Serialize, Deserialize, Message)]
#[message(action = "your_turn")]
struct YourTurn {}

/// Client → server: a guess.
#[derive(Serialize, Deserialize, Message)]
#[message(action = "guess")]
struct Guess {
    n: u32,
}

/// Server → everyone: how a guess compares with the secret.
#[derive(Serialize, Deserialize, Message)]
#[message(action = "hint")]
struct Hint {
    who: String,
    n: u32,
    /// "higher", "lower" or "correct".
    hint: String,
}

// ---- One session of the game ----

enum Phase {
    /// Waiting for every player's pick.
    Select { picks: Vec<Option<u32>> },
    /// Taking turns.
    Play {
        secret: u32,
        turn: Seat,
        guesses: u32,
    },
}

struct Guesses {
    phase: Phase,
    seed: u64,
}

impl Game for Guesses {
    /// A seed for the secrets, shared by every session.
    type Setup = u64;

    fn start(seed: &u64, ctx: &mut SessionCtx<'_>) -> Self {
        println!(
            "[session {}] {} and {} choose a range",
            ctx.session(),
            ctx.name(0),
            ctx.name(1)
        );
        Guesses {
            phase: Phase::Select {
                picks: vec![None; ctx.seats()],
            },
            seed: *seed ^ ctx.session(),
        }
    }

    fn handlers(h: &mut SessionHandlers<Self>) {
        h.on(Self::pick).on(Self::guess);
    }

    fn on_leave(&mut self, ctx: &mut SessionCtx<'_>, seat: Seat) {
        ctx.end(format!("{} left", ctx.name(seat)));
    }
}

impl Guesses {
    fn pick(&mut self, ctx: &mut SessionCtx<'_>, pick: Pick) {
        let Phase::Select { picks } = &mut self.phase else {
            return; // picks after the select phase are ignored
        };
        picks[ctx.sender()] = Some(pick.max.clamp(2, 1000));
        if picks.iter().all(Option::is_some) {
            // Everyone picked: play up to the smallest pick.
            let max = picks.iter().flatten().copied().min().unwrap_or(2);
            let secret = 1 + (xorshift(self.seed) % u64::from(max)) as u32;
            println!("[session {}] playing 1..={max}", ctx.session());
            ctx.send_to_all(&Play { max });
            ctx.send(0, &YourTurn {});
            self.phase = Phase::Play {
                secret,
                turn: 0,
                guesses: 0,
            };
        }
    }

    fn guess(&mut self, ctx: &mut SessionCtx<'_>, guess: Guess) {
        let seat = ctx.sender();
        let Phase::Play {
            secret,
            turn,
            guesses,
        } = &mut self.phase
        else {
            return;
        };
        if seat != *turn {
            return; // not your turn: ignored
        }
        *guesses += 1;
        let hint = match guess.n.cmp(secret) {
            std::cmp::Ordering::Less => "higher",
            std::cmp::Ordering::Greater => "lower",
            std::cmp::Ordering::Equal => "correct",
        };
        let who = ctx.name(seat).to_owned();
        println!(
            "[session {}] {who} guesses {}: {hint}",
            ctx.session(),
            guess.n
        );
        ctx.send_to_all(&Hint {
            who: who.clone(),
            n: guess.n,
            hint: hint.into(),
        });
        if hint == "correct" {
            ctx.end(format!("{who} found {secret} on guess {guesses}"));
        } else {
            *turn = (*turn + 1) % ctx.seats();
            ctx.send(*turn, &YourTurn {});
        }
    }
}

fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

// ---- A bot ----

/// Games each bot plays before it leaves.
const GAMES: u32 = 2;

struct Bot {
    /// Which bot this is, so that two bots trying one name tell apart in the output.
    number: usize,
    /// Its name and where it is in the lobby, kept by the lobby's client helper.
    lobby: LobbyState,
    /// What the bot knows of the secret: it is in `low..=high`.
    low: u32,
    high: u32,
    /// How many games it had played when it left. (Games that end after it chose to
    /// leave, as the one it was paired into meanwhile, still reach it, and count in the
    /// lobby's `games_played`.)
    left_after: Option<u32>,
}

impl ConnectionListener for Bot {
    fn handlers(h: &mut ListenerHandlers<Self>) {
        // The lobby's side (logging in, a taken name, waiting, game start and end) is
        // podnet-lobby's client helper; the game's messages are the bot's own.
        lobby_handlers(h);
        h.on(Self::play).on(Self::your_turn).on(Self::hint);
    }
}

impl LobbyPlayer for Bot {
    fn lobby(&mut self) -> &mut LobbyState {
        &mut self.lobby
    }

    fn next_name(&mut self, refused: &LoginRefused) -> Option<String> {
        let next = format!("{}2", refused.name);
        println!(
            "  [{}] refused: {}; trying {next}",
            self.tag(),
            refused.reason
        );
        Some(next)
    }

    fn on_welcome(&mut self, _: &mut ClientCtx<'_>, welcome: &Welcome) -> Result<(), SendError> {
        println!(
            "  [{}] in the lobby; waiting: {:?}",
            self.tag(),
            welcome.waiting
        );
        Ok(())
    }

    fn on_game_start(
        &mut self,
        ctx: &mut ClientCtx<'_>,
        start: &GameStart,
    ) -> Result<(), SendError> {
        println!(
            "  [{}] game {} with {:?}",
            self.tag(),
            start.session,
            start.players
        );
        if self.lobby.games_played() == GAMES {
            return Ok(()); // leaving: this game ends as it begins
        }
        let max = if start.seat == 0 { 50 } else { 30 };
        ctx.send(&Pick { max })
    }

    fn on_game_over(&mut self, ctx: &mut ClientCtx<'_>, over: &GameOver) -> Result<(), SendError> {
        println!(
            "  [{}] game {} over: {}",
            self.tag(),
            over.session,
            over.result
        );
        if self.lobby.games_played() == GAMES {
            // The lobby has already paired us again (the pair came back together); leaving
            // now ends that new game before it begins.
            println!("  [{}] played {GAMES} games; leaving", self.tag());
            self.left_after = Some(GAMES);
            ctx.close("played enough");
        }
        Ok(())
    }
}

impl Bot {
    fn new(number: usize, name: &str) -> Self {
        Bot {
            number,
            lobby: LobbyState::new(name),
            low: 1,
            high: 1,
            left_after: None,
        }
    }

    /// How the bot shows in the output: its number and the name it goes by.
    fn tag(&self) -> String {
        format!("bot {} \"{}\"", self.number, self.lobby.name())
    }

    fn play(&mut self, _: &mut ClientCtx<'_>, play: Play) {
        (self.low, self.high) = (1, play.max);
    }

    fn your_turn(&mut self, ctx: &mut ClientCtx<'_>, _: YourTurn) -> Result<(), SendError> {
        let n = (self.low + self.high) / 2;
        ctx.send(&Guess { n })
    }

    fn hint(&mut self, _: &mut ClientCtx<'_>, hint: Hint) {
        match hint.hint.as_str() {
            "higher" => self.low = hint.n + 1,
            "lower" => self.high = hint.n.saturating_sub(1),
            _ => {}
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Pairs, and a seed for the secrets.
    let mut server =
        LobbyServer::<Guesses>::start_background("127.0.0.1:0", LobbyConfig::new(2), 43)?;
    println!("[lobby] listening on {}", server.local_addr());

    // "ann" twice: whichever logs in second is refused and tries "ann2".
    let mut bots = Vec::new();
    for (number, name) in ["ann", "ben", "cat", "ann"].into_iter().enumerate() {
        bots.push(Client::connect(
            server.local_addr(),
            Bot::new(number + 1, name),
        )?);
    }

    // The game loop: pump the lobby and the bots once per frame.
    let deadline = Instant::now() + Duration::from_secs(20);
    while bots.iter().any(Client::is_connected) {
        server.pump();
        for bot in &mut bots {
            bot.pump();
        }
        assert!(
            Instant::now() < deadline,
            "the demo should end within seconds"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    for bot in &bots {
        assert_eq!(
            bot.listener().left_after,
            Some(GAMES),
            "every bot played {GAMES} games, then left"
        );
    }
    server.shutdown("demo over");
    println!("[lobby] every bot played {GAMES} games; done.");
    Ok(())
}

//! The session manager (nine43's "sub manager"): starts a session per group, routes each
//! player's messages to their session, and hands back the players of a session that ended.

use std::collections::HashMap;

use podnet_dispatch::{Handled, MessageError, catch};
use podnet_framing::RawMessage;
use podnet_proto::ConnectionId;

use crate::names::Player;
use crate::outbox::{Outbox, send};
use crate::protocol::{GameOver, GameStart, LobbyError};
use crate::session::{Game, Seat, SessionCtx, SessionHandlers};

/// One running session: the game's state and the players it owns, by seat (`None` once
/// a player left).
struct Running<G> {
    game: G,
    kind: String,
    seats: Vec<Option<Player>>,
    /// Every seat's name, also after its player left.
    names: Vec<String>,
    ended: Option<String>,
}

impl<G> Running<G> {
    /// The game, and the context its code gets for a message from (or the leave of) the
    /// player at `sender`.
    fn split<'a>(
        &'a mut self,
        session: u64,
        sender: Seat,
        out: &'a dyn Outbox,
    ) -> (&'a mut G, SessionCtx<'a>) {
        let ctx = SessionCtx {
            session,
            kind: &self.kind,
            sender: Some(sender),
            seats: &self.seats,
            names: &self.names,
            out,
            ended: &mut self.ended,
        };
        (&mut self.game, ctx)
    }
}

/// The result a session ends with when the game's code panicked.
const FAILED: &str = "the game failed";

/// The sessions running side by side.
pub(crate) struct Sessions<G: Game> {
    running: HashMap<u64, Running<G>>,
    handlers: SessionHandlers<G>,
    setup: G::Setup,
    next: u64,
}

/// Players handed back by a session that ended, in seat order.
pub(crate) type Returning = Vec<Player>;

impl<G: Game> Sessions<G> {
    pub(crate) fn new(setup: G::Setup) -> Self {
        Self {
            running: HashMap::new(),
            handlers: {
                let mut handlers = SessionHandlers::new();
                G::handlers(&mut handlers);
                handlers
            },
            setup,
            next: 1,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.running.len()
    }

    /// The number the next session will have.
    pub(crate) fn next_number(&self) -> u64 {
        self.next
    }

    /// The connection of the player at `seat` of `session`, if they are still in it.
    pub(crate) fn seat_id(&self, session: u64, seat: Seat) -> Option<ConnectionId> {
        self.running
            .get(&session)?
            .seats
            .get(seat)?
            .as_ref()
            .map(Player::id)
    }

    /// Starts a session for `group` (in seat order). Returns its number, and the players
    /// back if the game ended it at once.
    pub(crate) fn start(
        &mut self,
        group: Vec<Player>,
        kind: String,
        out: &dyn Outbox,
    ) -> (u64, Option<Returning>) {
        let names = group.iter().map(|p| p.name().to_owned()).collect();
        self.start_seats(group.into_iter().map(Some).collect(), names, kind, out)
    }

    /// Starts a session whose seats may be empty already (a cluster group whose player
    /// left before it started): `names` are every seat's, for [`GameStart`].
    pub(crate) fn start_seats(
        &mut self,
        seats: Vec<Option<Player>>,
        players: Vec<String>,
        kind: String,
        out: &dyn Outbox,
    ) -> (u64, Option<Returning>) {
        let session = self.next;
        self.next += 1;
        for (seat, player) in seats.iter().enumerate() {
            let Some(player) = player else { continue };
            send(
                out,
                player.id(),
                &GameStart {
                    session,
                    players: players.clone(),
                    seat,
                    kind: kind.clone(),
                },
            );
        }
        let mut ended = None;
        let mut ctx = SessionCtx {
            session,
            kind: &kind,
            sender: None,
            seats: &seats,
            names: &players,
            out,
            ended: &mut ended,
        };
        let setup = &self.setup;
        let game = match catch(self.handlers.panic_policy(), "start", || {
            G::start(setup, &mut ctx)
        }) {
            Ok(game) => game,
            Err(panic) => {
                tracing::error!(session, %panic, "the game failed to start its session");
                return (session, Some(game_over(session, seats, FAILED, out)));
            }
        };
        self.running.insert(
            session,
            Running {
                game,
                kind,
                seats,
                names: players,
                ended,
            },
        );
        (session, self.finish_if_ended(session, out))
    }

    /// A message from the player at `seat`: runs the game's handler, or tells the player
    /// why not.
    pub(crate) fn message(
        &mut self,
        session: u64,
        seat: Seat,
        msg: &RawMessage,
        out: &dyn Outbox,
    ) -> Option<Returning> {
        let running = self.running.get_mut(&session)?;
        let (game, mut ctx) = running.split(session, seat, out);
        let reason = match self.handlers.dispatch(game, &mut ctx, msg) {
            Ok(Handled::ByHandler | Handled::ByFallback) => None,
            Ok(Handled::Unhandled) => Some(format!(
                "this game has no {:?} action; it handles {:?}",
                msg.action(),
                self.handlers.actions()
            )),
            Err(panic @ MessageError::Panicked { .. }) => {
                tracing::error!(session, %panic, "ending the session (PanicPolicy::Catch)");
                ctx.end(FAILED);
                None
            }
            Err(error) => Some(error.to_string()),
        };
        if let (Some(reason), Some(Some(player))) = (reason, ctx.seats.get(seat)) {
            send(out, player.id(), &LobbyError { reason });
        }
        self.finish_if_ended(session, out)
    }

    /// The player at `seat` disconnected: their `Player` is dropped here (freeing the
    /// name), then the game hears of it. A session nobody is left in ends.
    pub(crate) fn leave(
        &mut self,
        session: u64,
        seat: Seat,
        out: &dyn Outbox,
    ) -> Option<Returning> {
        let running = self.running.get_mut(&session)?;
        drop(running.seats.get_mut(seat).and_then(Option::take));
        if running.seats.iter().all(Option::is_none) {
            self.running.remove(&session);
            return Some(Vec::new());
        }
        let (game, mut ctx) = running.split(session, seat, out);
        if let Err(panic) = catch(self.handlers.panic_policy(), "on_leave", || {
            game.on_leave(&mut ctx, seat)
        }) {
            tracing::error!(session, %panic, "ending the session (PanicPolicy::Catch)");
            ctx.end(FAILED);
        }
        self.finish_if_ended(session, out)
    }

    /// Tells `session`'s game that the player at `seat` dropped (`away`) or came back;
    /// hands the players back if the game ended the session.
    pub(crate) fn away(
        &mut self,
        session: u64,
        seat: Seat,
        away: bool,
        out: &dyn Outbox,
    ) -> Option<Returning> {
        let running = self.running.get_mut(&session)?;
        let (game, mut ctx) = running.split(session, seat, out);
        let (hook, outcome) = if away {
            let outcome = catch(self.handlers.panic_policy(), "on_dropped", || {
                game.on_dropped(&mut ctx, seat)
            });
            ("on_dropped", outcome)
        } else {
            let outcome = catch(self.handlers.panic_policy(), "on_resumed", || {
                game.on_resumed(&mut ctx, seat)
            });
            ("on_resumed", outcome)
        };
        if let Err(panic) = outcome {
            tracing::error!(session, hook, %panic, "ending the session (PanicPolicy::Catch)");
            ctx.end(FAILED);
        }
        self.finish_if_ended(session, out)
    }

    /// Ends `session` with `result`, from outside the game; hands its players back.
    pub(crate) fn end(
        &mut self,
        session: u64,
        result: &str,
        out: &dyn Outbox,
    ) -> Option<Returning> {
        let running = self.running.get_mut(&session)?;
        if running.ended.is_none() {
            running.ended = Some(result.to_owned());
        }
        self.finish_if_ended(session, out)
    }

    /// The running sessions' numbers, in the order they started.
    pub(crate) fn ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.running.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Ends every session now (a shutdown's grace ran out): their players are handed back
    /// for the caller to close.
    pub(crate) fn cut_all(&mut self) -> Returning {
        self.running
            .drain()
            .flat_map(|(_, running)| running.seats.into_iter().flatten())
            .collect()
    }

    /// If the game ended `session`, removes it, tells its players the result and hands
    /// them back.
    fn finish_if_ended(&mut self, session: u64, out: &dyn Outbox) -> Option<Returning> {
        let result = self.running.get(&session)?.ended.clone()?;
        let running = self.running.remove(&session)?;
        Some(game_over(session, running.seats, &result, out))
    }
}

/// Tells the players still in `seats` that `session` ended with `result`, and hands them
/// back, in seat order.
fn game_over(
    session: u64,
    seats: Vec<Option<Player>>,
    result: &str,
    out: &dyn Outbox,
) -> Returning {
    let players: Returning = seats.into_iter().flatten().collect();
    let over = GameOver {
        session,
        result: result.to_owned(),
    };
    for player in &players {
        send(out, player.id(), &over);
    }
    players
}

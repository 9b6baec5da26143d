//! What a game defines: a [`Game`] is one session for one group, with handlers keyed by
//! action name, as the facade's channels have.

use std::fmt;

use podnet_dispatch::Context;
use podnet_framing::{Frame, Message};
use serde::Serialize;

use crate::names::Player;
use crate::outbox::{Outbox, send};

/// A player's place in a session: their index in the group, from 0, in the order they
/// joined the lobby.
pub type Seat = usize;

/// One game session, for one group of players. Each group gets its own value, created by
/// [`start`](Game::start); sessions run side by side, each with its own state.
///
/// A game with phases (choose sides → play → show the result) keeps the phase in its own
/// state and checks it in its handlers. It ends the session with
/// [`SessionCtx::end`]; the players still connected then go back to the lobby.
///
/// # Example
///
/// ```
/// use podnet_lobby::{Game, Message, SessionCtx, SessionHandlers};
/// use serde::{Deserialize, Serialize};
///
/// /// First to say "win" wins.
/// struct Race;
///
/// #[derive(Serialize, Deserialize, Message)]
/// #[message(action = "win")]
/// struct Win {}
///
/// impl Game for Race {
///     type Setup = ();
///
///     fn start(_: &(), _: &mut SessionCtx<'_>) -> Self { Race }
///
///     fn handlers(h: &mut SessionHandlers<Self>) {
///         h.on(Self::win);
///     }
/// }
///
/// impl Race {
///     fn win(&mut self, ctx: &mut SessionCtx<'_>, _: Win) {
///         let winner = ctx.name(ctx.sender()).to_owned();
///         ctx.end(format!("{winner} won"));
///     }
/// }
/// ```
pub trait Game: Send + Sized + 'static {
    /// What every session of the game shares, given once to the lobby: rules, word lists,
    /// a seed. `()` if nothing.
    type Setup: Send + 'static;

    /// Starts a session for the group in `ctx` (each player has already been sent
    /// [`GameStart`](crate::protocol::GameStart)).
    fn start(setup: &Self::Setup, ctx: &mut SessionCtx<'_>) -> Self;

    /// Registers a handler per action the game's players send.
    fn handlers(h: &mut SessionHandlers<Self>);

    /// The player at `seat` disconnected; their seat stays empty. By default nothing
    /// happens: the session goes on with the others, and ends by itself when nobody is
    /// left. A game that cannot go on calls [`SessionCtx::end`].
    fn on_leave(&mut self, ctx: &mut SessionCtx<'_>, seat: Seat) {
        let _ = (ctx, seat);
    }

    /// The connection of the player at `seat` dropped, and they may come back: a podnet
    /// client resumes by itself within the server's
    /// [`ResumeConfig::grace`](podnet_transport::ResumeConfig::grace) (30 s by default),
    /// keeping their seat and their name. What the game sends them meanwhile is kept and
    /// delivered on their return. A game may pause, or tell the others. Then either
    /// [`on_resumed`](Self::on_resumed), or [`on_leave`](Self::on_leave) once when the
    /// grace runs out. Default: nothing.
    fn on_dropped(&mut self, ctx: &mut SessionCtx<'_>, seat: Seat) {
        let _ = (ctx, seat);
    }

    /// The player at `seat` is back after [`on_dropped`](Self::on_dropped), nothing
    /// lost either way. Default: nothing.
    fn on_resumed(&mut self, ctx: &mut SessionCtx<'_>, seat: Seat) {
        let _ = (ctx, seat);
    }
}

/// The [`Context`] of a [`Game`]'s handlers: a [`SessionCtx`].
#[derive(Debug)]
pub struct SessionSide;

impl Context for SessionSide {
    type Ctx<'a> = SessionCtx<'a>;
}

/// A game's handlers, keyed by action name, filled in by [`Game::handlers`]: the same
/// table as a server channel's and a client's (see [`Handlers`](podnet_dispatch::Handlers)
/// for `on`, `on_value`, `on_raw`, `fallback` and the panic policy). The player who sent
/// the message is [`SessionCtx::sender`].
///
/// A message that does not fit its handler's type, or whose handler returns an error,
/// gets its sender a [`LobbyError`](crate::protocol::LobbyError) reply, and so does an
/// action the game has no handler for (unless there is a fallback); the session goes on.
/// A handler that panics ends its session with "the game failed" (under the default
/// [`PanicPolicy::Catch`](podnet_dispatch::PanicPolicy)); the other sessions go on.
pub type SessionHandlers<G> = podnet_dispatch::Handlers<G, SessionSide>;

/// What a game's code can do in a session: see who plays, send to them, end the session.
pub struct SessionCtx<'a> {
    pub(crate) session: u64,
    pub(crate) kind: &'a str,
    pub(crate) sender: Option<Seat>,
    pub(crate) seats: &'a [Option<Player>],
    pub(crate) names: &'a [String],
    pub(crate) out: &'a dyn Outbox,
    pub(crate) ended: &'a mut Option<String>,
}

impl SessionCtx<'_> {
    /// This session's number, unique in the lobby.
    pub fn session(&self) -> u64 {
        self.session
    }

    /// The kind of game this session plays, as the group chose it (see
    /// [`LobbyConfig::game_kinds`](crate::LobbyConfig::game_kinds)); empty when the lobby
    /// has only one kind.
    pub fn kind(&self) -> &str {
        self.kind
    }

    /// The seat of the player whose message is being handled; in [`Game::on_leave`],
    /// the seat that left. In [`Game::start`], where nobody sent anything, it is 0.
    pub fn sender(&self) -> Seat {
        self.sender.unwrap_or(0)
    }

    /// How many seats the session has: the group size.
    pub fn seats(&self) -> usize {
        self.seats.len()
    }

    /// The name of the player at `seat` (whether or not they are still there: in
    /// [`Game::on_leave`] it is the name of the player who left), or "" for a seat that
    /// does not exist.
    pub fn name(&self, seat: Seat) -> &str {
        self.names.get(seat).map_or("", String::as_str)
    }

    /// Whether the player at `seat` is still in the session.
    pub fn is_present(&self, seat: Seat) -> bool {
        matches!(self.seats.get(seat), Some(Some(_)))
    }

    /// The seats whose players are still in the session.
    pub fn present(&self) -> impl Iterator<Item = Seat> + '_ {
        (0..self.seats.len()).filter(|&s| self.is_present(s))
    }

    /// Sends `msg` to the player at `seat`, if they are still there.
    pub fn send<M: Message + Serialize + ?Sized>(&self, seat: Seat, msg: &M) {
        if let Some(Some(player)) = self.seats.get(seat) {
            send(self.out, player.id(), msg);
        }
    }

    /// Sends `msg` to every player still in the session, encoding it once.
    pub fn send_to_all<M: Message + Serialize + ?Sized>(&self, msg: &M) {
        match Frame::encode(msg, self.out.framing()) {
            Ok(frame) => {
                for player in self.seats.iter().flatten() {
                    self.out.send_frame(player.id(), &frame);
                }
            }
            Err(err) => tracing::warn!(action = M::ACTION, %err, "message not sent"),
        }
    }

    /// Ends the session with `result` (e.g. "alice won"), once the current handler
    /// returns: every player still there gets
    /// [`GameOver`](crate::protocol::GameOver) and goes back to the lobby. Later calls
    /// change nothing.
    pub fn end(&mut self, result: impl Into<String>) {
        if self.ended.is_none() {
            *self.ended = Some(result.into());
        }
    }

    /// Whether [`end`](Self::end) was called.
    pub fn is_ended(&self) -> bool {
        self.ended.is_some()
    }
}

impl fmt::Debug for SessionCtx<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionCtx")
            .field("session", &self.session)
            .field("kind", &self.kind)
            .field("sender", &self.sender)
            .field("seats", &self.seats)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

//! The lobby's client side (nine43 left its client "TODO"): handlers that log in, retry a
//! taken name, follow the lobby, vote for a kind of game, and leave the game's own
//! messages to the game's handlers, all in one podnet [`ConnectionListener`].
//!
//! A player's listener holds a [`LobbyState`], implements [`LobbyPlayer`] (one required
//! method), and adds [`lobby_handlers`] to its table next to its game's handlers.

use podnet::{ClientCtx, ConnectionListener, ListenerHandlers, SendError};

use crate::protocol::{
    Choose, ChooseGame, GameOver, GameStart, LobbyError, LobbyUpdate, Login, LoginRefused,
    LoginRequired, Welcome,
};

/// Where a lobby player is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Status {
    /// Connected; logging in.
    #[default]
    LoggingIn,
    /// In the lobby, waiting for a group; who is waiting, in join order.
    Waiting {
        /// Who is waiting, this player included.
        waiting: Vec<String>,
    },
    /// In a group voting for its kind of game.
    Choosing {
        /// The kinds on offer.
        kinds: Vec<String>,
    },
    /// In a session.
    Playing {
        /// The session, its players, this player's seat and the kind of game.
        start: GameStart,
    },
}

/// What the lobby handlers keep for a player: the name, where the player is, and how many
/// games they finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LobbyState {
    name: String,
    status: Status,
    games_played: u32,
}

impl LobbyState {
    /// A player who logs in as `name` (or, if it is taken, a name
    /// [`LobbyPlayer::next_name`] makes).
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            status: Status::LoggingIn,
            games_played: 0,
        }
    }

    /// The name this player asked for last; once welcomed, the name they play under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the player is.
    pub fn status(&self) -> &Status {
        &self.status
    }

    /// The session being played, if any.
    pub fn game(&self) -> Option<&GameStart> {
        match &self.status {
            Status::Playing { start } => Some(start),
            _ => None,
        }
    }

    /// How many sessions this player saw end.
    pub fn games_played(&self) -> u32 {
        self.games_played
    }
}

/// A [`ConnectionListener`] that plays through a podnet lobby. Only
/// [`lobby`](Self::lobby) is required; the hooks say what the game does at each step.
///
/// # Example
///
/// ```
/// use podnet::{ClientCtx, ConnectionListener, ListenerHandlers, SendError};
/// use podnet_lobby::client::{LobbyPlayer, LobbyState, lobby_handlers};
/// use podnet_lobby::protocol::GameStart;
///
/// struct Bot { lobby: LobbyState }
///
/// impl ConnectionListener for Bot {
///     fn handlers(h: &mut ListenerHandlers<Self>) {
///         lobby_handlers(h);
///         // ... and the game's own handlers: h.on(Self::your_turn) ...
///     }
/// }
///
/// impl LobbyPlayer for Bot {
///     fn lobby(&mut self) -> &mut LobbyState { &mut self.lobby }
///
///     fn on_game_start(&mut self, _: &mut ClientCtx<'_>, start: &GameStart) -> Result<(), SendError> {
///         println!("playing with {:?}", start.players);
///         Ok(())
///     }
/// }
///
/// let bot = Bot { lobby: LobbyState::new("ann") };
/// # let _ = bot;
/// ```
pub trait LobbyPlayer: ConnectionListener {
    /// The player's lobby state, kept in the listener.
    fn lobby(&mut self) -> &mut LobbyState;

    /// The name to try after `refused`; `None` gives up and closes the connection.
    /// Default: the name with a number added, `ann` → `ann2` → `ann3`, up to 9 tries.
    fn next_name(&mut self, refused: &LoginRefused) -> Option<String> {
        let base = refused.name.trim_end_matches(|c: char| c.is_ascii_digit());
        let tried: u32 = refused.name[base.len()..].parse().unwrap_or(1);
        (tried < 9 && !base.is_empty()).then(|| format!("{base}{}", tried + 1))
    }

    /// In the lobby, waiting for a group (after logging in, and after each game).
    fn on_welcome(&mut self, ctx: &mut ClientCtx<'_>, welcome: &Welcome) -> Result<(), SendError> {
        let _ = (ctx, welcome);
        Ok(())
    }

    /// The vote for a kind of game, when the lobby offers several; `None` does not vote
    /// (the group's other votes, or the first kind, decide). Default: `None`.
    fn choose_game(&mut self, ask: &ChooseGame) -> Option<String> {
        let _ = ask;
        None
    }

    /// A session starts: the game's own messages follow.
    fn on_game_start(
        &mut self,
        ctx: &mut ClientCtx<'_>,
        start: &GameStart,
    ) -> Result<(), SendError> {
        let _ = (ctx, start);
        Ok(())
    }

    /// The session ended; a welcome back to the lobby follows.
    fn on_game_over(&mut self, ctx: &mut ClientCtx<'_>, over: &GameOver) -> Result<(), SendError> {
        let _ = (ctx, over);
        Ok(())
    }

    /// The lobby (or the game) could not take a message. Default: a warning through
    /// `tracing`.
    fn on_lobby_error(&mut self, ctx: &mut ClientCtx<'_>, error: &LobbyError) {
        let _ = ctx;
        tracing::warn!(reason = %error.reason, "the lobby refused a message");
    }
}

/// Registers the lobby's messages in a player's handler table: logging in (and trying
/// another name when one is taken), the waiting room, the vote, the start and the end of
/// each game. The game's own actions stay free for the game's handlers.
pub fn lobby_handlers<P: LobbyPlayer>(h: &mut ListenerHandlers<P>) {
    h.on(|p: &mut P, ctx: &mut ClientCtx<'_>, _: LoginRequired| {
        let name = p.lobby().name.clone();
        ctx.send(&Login { name })
    })
    .on(
        |p: &mut P, ctx: &mut ClientCtx<'_>, refused: LoginRefused| match p.next_name(&refused) {
            Some(name) => {
                p.lobby().name.clone_from(&name);
                ctx.send(&Login { name })
            }
            None => {
                ctx.close(&format!("could not log in: {}", refused.reason));
                Ok(())
            }
        },
    )
    .on(|p: &mut P, ctx: &mut ClientCtx<'_>, welcome: Welcome| {
        let state = p.lobby();
        state.name.clone_from(&welcome.name);
        state.status = Status::Waiting {
            waiting: welcome.waiting.clone(),
        };
        p.on_welcome(ctx, &welcome)
    })
    .on(|p: &mut P, _: &mut ClientCtx<'_>, update: LobbyUpdate| {
        if let Status::Waiting { waiting } = &mut p.lobby().status {
            *waiting = update.waiting;
        }
    })
    .on(|p: &mut P, ctx: &mut ClientCtx<'_>, ask: ChooseGame| {
        p.lobby().status = Status::Choosing {
            kinds: ask.kinds.clone(),
        };
        match p.choose_game(&ask) {
            Some(kind) => ctx.send(&Choose { kind }),
            None => Ok(()),
        }
    })
    .on(|p: &mut P, ctx: &mut ClientCtx<'_>, start: GameStart| {
        p.lobby().status = Status::Playing {
            start: start.clone(),
        };
        p.on_game_start(ctx, &start)
    })
    .on(|p: &mut P, ctx: &mut ClientCtx<'_>, over: GameOver| {
        p.lobby().games_played += 1;
        p.on_game_over(ctx, &over)
    })
    .on(|p: &mut P, ctx: &mut ClientCtx<'_>, error: LobbyError| {
        p.on_lobby_error(ctx, &error);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Named(LobbyState);
    impl ConnectionListener for Named {}
    impl LobbyPlayer for Named {
        fn lobby(&mut self) -> &mut LobbyState {
            &mut self.0
        }
    }

    #[test]
    fn taken_names_get_a_number() {
        let mut p = Named(LobbyState::new("ann"));
        let refused = |name: &str| LoginRefused {
            name: name.into(),
            reason: "the name is taken".into(),
        };
        assert_eq!(p.next_name(&refused("ann")).as_deref(), Some("ann2"));
        assert_eq!(p.next_name(&refused("ann2")).as_deref(), Some("ann3"));
        assert_eq!(p.next_name(&refused("ann9")), None);
        assert_eq!(p.next_name(&refused("")), None);
    }
}

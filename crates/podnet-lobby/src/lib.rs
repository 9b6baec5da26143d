//! podnet's lobby: players log in under unique names, wait in a lobby, are grouped N at a
//! time, play in game sessions that run side by side, and come back to the lobby when a
//! session ends. It is the design of nine43's server, finished:
//!
//! ```text
//! network ─▶ initiator ─▶ waiting room ─▶ session manager ─▶ sessions (your Game)
//!            (login,        (groups of N,    (one session        │
//!             unique names)  in join order)   per group)         │ session over
//!                 ▲               ▲                              │
//!                 │               └──────── players still here ◀─┘
//!                 └─ a name is freed whenever its player disconnects, at any stage
//! ```
//!
//! Each stage owns the [`Player`]s in it, and hands them on by moving them: a `Player`
//! cannot be cloned, and dropping one frees its name. So no two stages can hold the same
//! player, and no stage can forget a name: nine43's rule "what you send you no longer
//! own" is checked by the compiler.
//!
//! A game defines one session with [`Game`]: its state, and handlers keyed by action name
//! (the same table as the facade's channels; [`SessionCtx::sender`] is the sender's [`Seat`]). The lobby itself is
//! sans-IO ([`Lobby`]); [`LobbyServer`] runs it under `pump()` on a game's own thread,
//! and [`run`] runs it on an async server. The messages on the wire are in [`protocol`].
//!
//! # Example
//!
//! ```
//! use podnet_lobby::{Game, LobbyConfig, LobbyServer, Message, SessionCtx, SessionHandlers};
//! use serde::{Deserialize, Serialize};
//!
//! /// Both players say a number; the higher one wins.
//! #[derive(Default)]
//! struct HighCard {
//!     said: [Option<u32>; 2],
//! }
//!
//! #[derive(Serialize, Deserialize, Message)]
//! #[message(action = "card")]
//! struct Card {
//!     value: u32,
//! }
//!
//! impl Game for HighCard {
//!     type Setup = ();
//!
//!     fn start(_: &(), _: &mut SessionCtx<'_>) -> Self {
//!         HighCard::default()
//!     }
//!
//!     fn handlers(h: &mut SessionHandlers<Self>) {
//!         h.on(Self::card);
//!     }
//! }
//!
//! impl HighCard {
//!     fn card(&mut self, ctx: &mut SessionCtx<'_>, card: Card) {
//!         self.said[ctx.sender()] = Some(card.value);
//!         if let [Some(a), Some(b)] = self.said {
//!             let winner = if a >= b { 0 } else { 1 };
//!             let result = format!("{} wins", ctx.name(winner));
//!             ctx.end(result); // both go back to the lobby
//!         }
//!     }
//! }
//!
//! let mut server =
//!     LobbyServer::<HighCard>::start_background("127.0.0.1:0", LobbyConfig::new(2), ())?;
//! // The game loop: server.pump() once per frame. Here, one frame, then shut down.
//! server.pump();
//! server.shutdown("maintenance");
//! # Ok::<(), podnet_lobby::Error>(())
//! ```
//!
//! See docs/lobby.md for the whole protocol, and `examples/lobby_game.rs` for a game
//! played by bots from login to their second game.

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "cluster")]
pub mod cluster;
mod config;
mod error;
mod input;
mod lobby;
mod names;
pub mod nodes;
mod outbox;
pub mod protocol;
mod run;
mod session;
mod sessions;
mod sync;

pub use config::LobbyConfig;
pub use error::Error;
pub use input::PlayerEvent;
pub use lobby::Lobby;
pub use names::{Name, Player};
pub use nodes::{ClusterRequest, Waiter};
pub use outbox::Outbox;
pub use podnet_dispatch::{MessageError, PanicPolicy};
pub use podnet_framing::Message;
pub use run::run;
pub use session::{Game, Seat, SessionCtx, SessionHandlers, SessionSide};
pub use sync::LobbyServer;

/// docs/lobby.md's code, compiled and run as doctests so the guide cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/lobby.md")]
struct LobbyGuide;

/// This crate's README (its page on crates.io), its example compiled and run as a
/// doctest so it cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct CrateReadmeDoctests;

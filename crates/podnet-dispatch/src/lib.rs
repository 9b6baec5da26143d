//! Handler tables keyed by action name: the Rust form of repod's `Network_<action>`
//! methods, one design for every place podnet dispatches messages.
//!
//! A [`Handlers`] table belongs to a state type `S` (a server's `Channel`, a client's
//! `ConnectionListener`, a lobby's `Game`) and a [`Context`] naming what handlers get
//! besides the message. The same registrations work everywhere:
//!
//! | registration | the handler gets |
//! |---|---|
//! | [`on`](Handlers::on) | the message decoded into its type `M` (action `M::ACTION`) |
//! | [`on_value`](Handlers::on_value) | a named action, as a dynamic [`Value`] |
//! | [`on_raw`](Handlers::on_raw) | a named action, undecoded ([`RawMessage`]) |
//! | [`fallback`](Handlers::fallback) | every action without a handler, as a [`Value`] (repod's `network_received`) |
//!
//! A handler returns `()`, or a `Result<(), E>` whose error goes to the side's `on_error`
//! hook as a [`MessageError::Handler`] naming the action, so handler code can use `?`.
//! A handler that panics is caught, by default ([`PanicPolicy`]).
//!
//! # Example
//!
//! ```
//! use podnet_dispatch::{Context, Handled, Handlers};
//! use podnet_framing::{FramingConfig, Message, RawMessage};
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct Move { x: i32 }
//! impl Message for Move { const ACTION: &'static str = "move"; }
//!
//! /// What the handlers get besides the message: here, a log.
//! struct Log;
//! impl Context for Log { type Ctx<'a> = Vec<String>; }
//!
//! #[derive(Default)]
//! struct Player { x: i32 }
//!
//! let mut h = Handlers::<Player, Log>::new();
//! h.on(|player: &mut Player, log: &mut Vec<String>, msg: Move| {
//!     player.x += msg.x;
//!     log.push(format!("moved to {}", player.x));
//! });
//!
//! let msg = RawMessage::parse(b"\x82\xa6action\xa4move\xa1x\x05".to_vec().into(), &FramingConfig::default())?;
//! let (mut player, mut log) = (Player::default(), Vec::new());
//! assert_eq!(h.dispatch(&mut player, &mut log, &msg)?, Handled::ByHandler);
//! assert_eq!(log, ["moved to 5"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod handler;
mod key;
mod panic;
mod table;
mod unhandled;

pub use error::MessageError;
pub use handler::{Context, Handler, Outcome, RawHandler};
pub use panic::{PanicPolicy, catch};
#[doc(no_inline)]
pub use podnet_framing::{Message, RawMessage, Value};
pub use table::{Handled, Handlers, Recent};
pub use unhandled::{MAX_UNHANDLED_REPORTED, UnhandledActions};

/// This crate's README (its page on crates.io), its example compiled and run as a
/// doctest so it cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct CrateReadmeDoctests;

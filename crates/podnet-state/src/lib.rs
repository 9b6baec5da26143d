//! Replicated state for podnet: declare the room's state as an ordinary serde type,
//! change it as ordinary Rust, and every player gets what changed, at the patch rate,
//! as one message; each player sees the state through a view, and what a view does not
//! show never reaches their socket.
//!
//! - [`Replicated`] is the server's side: the state, who follows it through which view,
//!   and [`Replicated::poll`] to call each frame.
//! - [`Replica`] is a player's side: it applies the messages and gives the state back,
//!   typed, with what changed.
//! - The messages are ordinary repod messages (a map with an `action`), so any client can
//!   follow them: `state:full {name, state}` when a player starts following (or changes
//!   view), then `state:patch {name, ops}` (see the [`patch`] module for the ops). Their
//!   table is in docs/state.md.
//!
//! What changed is found by comparing each view's encoding with what it was last sent
//! (not by tracking writes), on the msgpack bytes themselves: any serde type works as it
//! is, and a change that is undone before the next send costs nothing on the wire.

mod error;
pub mod patch;
mod raw;
mod replica;
mod replicated;

pub use error::StateError;
pub use patch::{Change, ChangeKind};

/// Encodes a state (or what a view shows of it) as a [`Replicated`] state's projection
/// returns it: msgpack, struct fields named.
///
/// # Errors
///
/// [`StateError::Serialize`] if it does not serialize to msgpack.
pub fn encode<S: serde::Serialize + ?Sized>(state: &S) -> Result<Vec<u8>, StateError> {
    rmp_serde::to_vec_named(state).map_err(|e| StateError::Serialize(e.to_string()))
}
pub use replica::Replica;
pub use replicated::{Replicated, Sent, StateConfig};

/// The action of a whole state.
pub const FULL: &str = "state:full";
/// The action of a patch.
pub const PATCH: &str = "state:patch";

/// docs/state.md, compiled as doctests so the guide cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/state.md")]
pub struct StateGuide;

/// This crate's README (its page on crates.io), its example compiled and run as a
/// doctest so it cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct CrateReadmeDoctests;

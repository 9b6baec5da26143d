//! Messages with a meaning of their own in repod's protocol.

use serde::{Deserialize, Serialize};

/// `{"action": "connected"}`: what a server sends each client when it accepts it. A
/// client handles it like any message (repod's `Network_connected`):
///
/// ```
/// use podnet::{ClientCtx, Connected, ConnectionListener, ListenerHandlers};
///
/// #[derive(Default)]
/// struct Game { joined: bool }
///
/// impl ConnectionListener for Game {
///     fn handlers(h: &mut ListenerHandlers<Self>) {
///         h.on(|game: &mut Game, _ctx: &mut ClientCtx<'_>, _: Connected| game.joined = true);
///     }
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Connected {}

impl podnet_framing::Message for Connected {
    const ACTION: &'static str = "connected";
}

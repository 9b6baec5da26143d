//! Multiplayer networking for games, in the model of repod and PodSixNet: a server holds
//! one channel per player, messages are maps with an `action` key, handlers are keyed by
//! action name, and the game loop calls `pump()` once per frame while the network runs on a
//! background thread.
//!
//! - Define messages as serde structs with an action name ([`Message`]).
//! - Server: a [`Channel`] type per player, with handlers registered in
//!   [`Channel::handlers`]; [`Server::start_background`] then [`Server::pump`] every frame,
//!   or [`Server::launch`] for a dedicated server.
//! - Client: a [`ConnectionListener`] type with its handlers; [`Client::connect`] then
//!   [`Client::pump`] every frame.
//!
//! Handlers run on the thread that pumps, with `&mut` access to the game state: no locks.
//! podnet speaks repod's wire format, so Python repod clients and servers can take part.
//!
//! This crate re-exports the layers below it: [`podnet_framing`] (the wire format),
//! [`podnet_transport`] (the async tokio server and client) and [`podnet_sync`] (the
//! network thread and raw `pump()`).
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use podnet::{Channel, ChannelCtx, ChannelHandlers, Client, ClientCtx, ConnectionListener,
//!              ListenerHandlers, Message, Server};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Clone)]
//! struct Chat { text: String }
//! impl Message for Chat { const ACTION: &'static str = "chat"; }
//!
//! // The server: relays every chat line to everyone.
//! #[derive(Default)]
//! struct Player;
//! impl Channel for Player {
//!     type Game = ();
//!     fn handlers(h: &mut ChannelHandlers<Self>) {
//!         h.on(|_: &mut Player, ctx: &mut ChannelCtx<'_, Player>, msg: Chat| {
//!             let _ = ctx.send_to_all(&msg);
//!         });
//!     }
//! }
//!
//! // The client: keeps what it hears.
//! #[derive(Default)]
//! struct Screen { heard: Vec<String> }
//! impl ConnectionListener for Screen {
//!     fn handlers(h: &mut ListenerHandlers<Self>) {
//!         h.on(|screen: &mut Screen, _: &mut ClientCtx<'_>, msg: Chat| screen.heard.push(msg.text));
//!     }
//! }
//!
//! let mut server = Server::<Player>::start_background("127.0.0.1:0", ())?;
//! let mut client = Client::connect(server.local_addr(), Screen::default())?;
//! client.send(&Chat { text: "hello".into() })?;
//! while client.listener().heard.is_empty() {
//!     server.pump_timeout(Duration::from_millis(10));
//!     client.pump_timeout(Duration::from_millis(10));
//! }
//! assert_eq!(client.listener().heard, ["hello"]);
//! # Ok::<(), podnet::Error>(())
//! ```

mod builtin;
mod client;
mod error;
mod handlers;
mod server;

pub use builtin::Connected;
pub use client::{Client, ClientCtx, ConnectionListener, ListenerHandlers};
pub use error::Error;
#[doc(inline)]
pub use podnet_framing::{
    FrameCodec, FramingConfig, FramingError, Message, RawMessage, Value, decode, decode_value,
    encode_message, encode_value, encode_with_action, peek_action,
};
#[doc(inline)]
pub use podnet_sync::{ServerHandle, SyncError, query_info};
#[doc(inline)]
pub use podnet_transport::{
    ClientConfig, ConnectionConfig, ConnectionId, ConnectionInfo, ConnectionKind, ConnectionType,
    ConnectionTypes, DisconnectReason, Frame, Handshake, Liveness, PROTOCOL_VERSION, Peer,
    RateLimit, ServerConfig, ServerInfo, ShutdownReport, SlowConsumerPolicy, TransportError,
};
#[cfg(feature = "tls")]
#[doc(inline)]
pub use podnet_transport::{ClientTls, ServerTls};
pub use server::{Channel, ChannelCtx, ChannelHandlers, Server};
/// The layers below, for what the facade does not re-export.
pub use {podnet_framing, podnet_sync, podnet_transport};

/// The README's code, compiled and run as a doctest so it cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

/// The guides' code (docs/game-loop.md, threading.md, host-and-play.md,
/// architecture.md), compiled and run as doctests so the guides cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/game-loop.md")]
pub struct GameLoopGuide;

/// docs/threading.md, as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/threading.md")]
pub struct ThreadingGuide;

/// docs/host-and-play.md, as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/host-and-play.md")]
pub struct HostAndPlayGuide;

/// The Rust code of docs/coming-from-repod.md, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/coming-from-repod.md")]
pub struct ComingFromRepodDoctests;

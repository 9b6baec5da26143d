//! Multiplayer networking for games, in the model of repod and PodSixNet: a server holds
//! one channel per player, messages are maps with an `action` key, handlers are keyed by
//! action name, and the game loop calls `pump()` once per frame while the network runs on a
//! background thread.
//!
//! - Define messages as serde structs with an action name (`#[derive(Message)]`).
//! - Server: a [`Channel`] type per player, with handlers registered in
//!   [`Channel::handlers`]; [`Server::start_background`] then [`Server::pump`] every frame,
//!   or [`Server::launch`] for a dedicated server.
//! - Client: a [`ConnectionListener`] type with its handlers; [`Client::connect`] then
//!   [`Client::pump`] every frame.
//!
//! Handlers run on the thread that pumps, with `&mut` access to the game state: no locks.
//! podnet speaks repod's wire format, so Python repod clients and servers can take part.
//!
//! The root holds what a game uses; [`wire`] holds the wire level. The layers below
//! (`podnet-framing`, `podnet-dispatch`, `podnet-transport`, `podnet-sync`) are crates of
//! their own, for games that want only a part.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use podnet::{Channel, ChannelCtx, ChannelHandlers, Client, ClientCtx, ConnectionListener,
//!              ListenerHandlers, Message, SendError, Server};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Clone, Message)]
//! #[message(action = "chat")]
//! struct Chat { text: String }
//!
//! // The server: relays every chat line to everyone.
//! #[derive(Default)]
//! struct Player;
//! impl Channel for Player {
//!     type Game = ();
//!     fn handlers(h: &mut ChannelHandlers<Self>) {
//!         h.on(|_, ctx, msg: Chat| -> Result<(), SendError> {
//!             ctx.send_to_all(&msg)?;
//!             Ok(())
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
//! while server.is_empty() {
//!     server.pump_timeout(Duration::from_millis(10));
//! }
//! client.send(&Chat { text: "hello".into() })?;
//! while client.listener().heard.is_empty() {
//!     server.pump_timeout(Duration::from_millis(10));
//!     client.pump_timeout(Duration::from_millis(10));
//! }
//! assert_eq!(client.listener().heard, ["hello"]);
//! # Ok::<(), podnet::Error>(())
//! ```

mod addr;
mod builtin;
mod client;
mod error;
mod report;
mod server;

pub use addr::{DEFAULT_ADDR, DEFAULT_HOST, DEFAULT_PORT};
pub use builtin::Connected;
pub use client::{
    Client, ClientBuilder, ClientCtx, ConnectionListener, ListenerHandlers, ListenerSide,
};
pub use error::Error;
#[doc(no_inline)]
pub use podnet_dispatch::{Handlers, MessageError, PanicPolicy};
#[doc(no_inline)]
pub use podnet_framing::{FramingConfig, Message, Outgoing, Value, WithAction};
#[doc(no_inline)]
pub use podnet_sync::{ClientHandle, ServerHandle};
#[doc(no_inline)]
pub use podnet_transport::{
    Addr, ClientConfig, ConnectionConfig, ConnectionCounts, ConnectionId, ConnectionInfo,
    ConnectionKind, ConnectionType, ConnectionTypes, DEFAULT_METRICS_ADDR, DisconnectReason,
    Handshake, Health, Liveness, MAX_FRAME_WITH_WEBSOCKET, MIN_METRICS_SECRET, MetricsConfig,
    NETWORK_MODE_VAR, NetworkMode, PROTOCOL_VERSION, Page, Peer, RateLimit, ResumeConfig, RttStats,
    SendError, ServerConfig, ServerInfo, ServerStats, ShutdownReport, SlowConsumerPolicy,
    Transport, WebSocketConfig,
};
#[cfg(feature = "tls")]
#[doc(no_inline)]
pub use podnet_transport::{ClientTls, ServerTls};

/// Servers sharing players through Redis (the `cluster` feature): see
/// [`podnet_cluster`] and `docs/cluster.md`.
#[cfg(feature = "cluster")]
pub use podnet_cluster as cluster;
pub use server::{
    Channel, ChannelCtx, ChannelHandlers, ChannelSide, DefaultChannel, NewChannel, Server,
    ServerBuilder,
};

/// What a [`Channel`]'s or a [`ConnectionListener`]'s hooks (`on_connect`,
/// `on_disconnect`, ...) return, so that a send in a hook takes `?`. An error goes to
/// `on_error` as [`MessageError::Hook`] (the connection stays open); from `on_disconnect`,
/// when there is no connection left, it is logged.
pub type HookResult = Result<(), HookError>;

/// The error of a [`HookResult`]: any error, as handlers may return.
pub type HookError = Box<dyn std::error::Error + Send + Sync>;

/// What almost every game names, in one line: `use podnet::prelude::*;`.
///
/// ```
/// use podnet::prelude::*;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize, Message)]
/// struct Hello { name: String } // its action: "hello", the type's name in snake_case
///
/// #[derive(Default)]
/// struct Player;
/// impl Channel for Player {
///     type Game = ();
///     fn handlers(h: &mut ChannelHandlers<Self>) {
///         h.on(|_, ctx: &mut ChannelCtx<'_, Self>, msg: Hello| -> Result<(), SendError> {
///             ctx.send_to_all(&msg)?;
///             Ok(())
///         });
///     }
/// }
/// assert_eq!(Hello::ACTION, "hello");
/// ```
pub mod prelude {
    #[doc(no_inline)]
    pub use crate::{
        Channel, ChannelCtx, ChannelHandlers, Client, ClientCtx, ConnectionId, ConnectionListener,
        DisconnectReason, Error, HookResult, ListenerHandlers, Message, MessageError, SendError,
        Server, ServerConfig, WithAction,
    };
}

/// The wire level, for what a game rarely needs: messages as received
/// ([`RawMessage`](wire::RawMessage), for `on_raw` handlers), encoded frames
/// ([`Frame`](wire::Frame), for relaying and broadcasting pre-encoded messages), and the
/// codec functions repod's format is made of. See docs/protocol.md.
pub mod wire {
    #[doc(no_inline)]
    pub use podnet_framing::{
        FRAME_HEADER_LEN, FrameCodec, FramingError, RawMessage, decode, decode_value,
        encode_message, encode_value, encode_with_action, peek_action,
    };
    #[doc(no_inline)]
    pub use podnet_transport::Frame;
}

/// Asks the server at `addr` for its description (an `info` connection, answered at
/// once and never seen by the game): its name, protocol version, player count, capacity
/// and the fields the game set with [`ServerHandle::set_info`]. Blocks until it answers,
/// at most `config.connect_timeout`.
///
/// # Errors
///
/// If the server cannot be reached, is not a podnet server (a repod server has no info),
/// or does not answer in time; the error says which.
///
/// ```no_run
/// let info = podnet::query_info("127.0.0.1:5071", Default::default())?;
/// println!("{}: {} of {} players", info.name, info.players, info.capacity);
/// # Ok::<(), podnet::Error>(())
/// ```
pub fn query_info(addr: impl Addr, config: ClientConfig) -> Result<ServerInfo, Error> {
    let addrs = addr::resolve(addr)?;
    Ok(podnet_sync::query_info(&addrs[..], config)?)
}

/// The README's code, compiled and run as a doctest so it cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

/// The guides' code (docs/game-loop.md, threading.md, host-and-play.md,
/// coming-from-repod.md, resume.md), compiled and run as doctests so the guides cannot go
/// stale.
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

/// docs/resume.md, as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/resume.md")]
pub struct ResumeGuide;

/// This crate's README (its page on crates.io), its example compiled and run as a
/// doctest so it cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct CrateReadmeDoctests;

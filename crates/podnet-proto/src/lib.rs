//! podnet's connection protocol as sans-IO state machines: no sockets, no clock, no
//! runtime.
//!
//! In the way quinn-proto is QUIC without I/O, this crate holds every decision podnet
//! makes about a connection, as plain data driven by calls that carry the time:
//!
//! - [`Connection`]: one connection, on either side: a [`ServerConnection`] or a
//!   [`ClientConnection`], each with the operations of its own side. The handshake (`podnet:hello` with a
//!   protocol version and a [connection type](ConnectionTypes)), the heartbeat and its
//!   round trips, the rate limit, what the peer's control messages mean, and when and why
//!   the connection closes. Everything that happens goes to
//!   [`handle`](Connection::handle) as an [`Input`], with timeouts, and it answers with
//!   [`Action`]s.
//! - [`Endpoint`]: one server's protocol state, server-wide: [`Admission`] (the connection
//!   cap, and quiet connections, which never sent anything, kept as long as there is room
//!   and evicted oldest first when there is not), the connections' settings, the sessions
//!   waiting for a resume and their grace deadlines, resume attempts judged
//!   ([`ResumeGate`]), and `info` answers.
//! - [`Ending`]: which [`DisconnectReason`] wins when several things end a connection.
//! - The reserved `podnet:` namespace ([`RESERVED_PREFIX`]) and its control messages, and
//!   the server description an `info` connection receives ([`ServerInfo`]).
//!
//! It contains no networking code. **Most users want the `podnet` crate**; the tokio
//! transport (`podnet-transport`) drives this crate over TCP, and any other byte or
//! message transport can drive it the same way. The wire format itself is
//! [`podnet_framing`].
//!
//! # Example
//!
//! A client and a server connection talking to each other through plain vectors, with
//! invented time:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::{Duration, Instant};
//! use podnet_framing::{FramingConfig, RawMessage};
//! use podnet_proto::{Action, ClientSettings, Connection, Input, Peer, ServerSettings, Side};
//!
//! /// Hands every frame `from` asks to send to `to`, and returns the other actions.
//! fn deliver<A: Side, B: Side>(
//!     from: &mut Connection<A>,
//!     to: &mut Connection<B>,
//!     now: Instant,
//! ) -> Vec<Action> {
//!     let mut others = Vec::new();
//!     while let Some(action) = from.poll() {
//!         match action {
//!             Action::Send(frame) => {
//!                 let msg = RawMessage::parse(frame.slice(4..), &FramingConfig::default()).unwrap();
//!                 to.handle(now, Input::Read);
//!                 if podnet_proto::is_reserved(msg.action()) {
//!                     to.handle(now, Input::Control(&msg));
//!                 } else {
//!                     to.handle(now, Input::Frame);
//!                 }
//!             }
//!             other => others.push(other),
//!         }
//!     }
//!     others
//! }
//!
//! let t0 = Instant::now();
//! let mut server = Connection::server(Arc::new(ServerSettings::default()), t0);
//! let mut client = Connection::client(Arc::new(ClientSettings::default()), t0);
//! deliver(&mut client, &mut server, t0); // the client's hello
//! let on_server = deliver(&mut server, &mut client, t0); // the server's hello
//! assert!(on_server.iter().any(|a| matches!(a, Action::Established(h) if h.is_podnet())));
//! let on_client = deliver(&mut client, &mut server, t0);
//! assert!(on_client.iter().any(|a| matches!(a, Action::Established(h) if h.peer == (Peer::Podnet { protocol: 2 }))));
//!
//! // Five seconds on, the server pings; the pong measures the round trip.
//! let t1 = t0 + Duration::from_secs(5);
//! server.handle_timeout(t1);
//! deliver(&mut server, &mut client, t1);
//! deliver(&mut client, &mut server, t1 + Duration::from_millis(20));
//! assert_eq!(server.rtt(), Some(Duration::from_millis(20)));
//! ```

mod admission;
mod config;
mod connection;
mod control;
mod endpoint;
mod error;
mod handshake;
mod id;
mod info;
mod outbox;
mod rate;
mod reason;
mod resume;
mod types;

pub use admission::{
    Admission, AdmissionSettings, Admit, EVICTION_REASON, Eviction, MAX_TOLD_EVICTIONS,
};
pub use config::{ConnectionConfig, Liveness, RateLimit, SlowConsumerPolicy};
pub use connection::{
    Action, ClientConnection, ClientSettings, ClientSide, Connection, Input, ServerConnection,
    ServerSettings, ServerSide, Side,
};
pub use control::{PROTOCOL_VERSION, RESERVED_PREFIX, close_frame, is_reserved};
pub use endpoint::{EVICTED_REMEMBERED, Endpoint, InfoAnswer};
pub use error::ProtoError;
pub use handshake::{Handshake, Peer};
pub use id::ConnectionId;
pub use info::ServerInfo;
pub use outbox::Outbox;
#[doc(inline)]
pub use podnet_framing;
pub use rate::TokenBucket;
pub use reason::{DisconnectReason, Ending};
pub use resume::{
    RESUME_BUSY, RESUME_REFUSED, ResumeGate, ResumeRefusal, ResumeSettings, ResumeToken,
    SessionView, refusal_reason,
};
pub use types::{ConnectionKind, ConnectionType, ConnectionTypes};

/// This crate's README (its page on crates.io), its example compiled and run as a
/// doctest so it cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct CrateReadmeDoctests;

//! podnet's async layer: a tokio server and client that speak the repod wire format.
//!
//! A [`Server`] accepts clients, one connection each; a [`Client`] connects to a server
//! (podnet or repod). Both report what happens as events ([`ServerEvent`],
//! [`ClientEvent`]) under repod's names: connected, message, disconnected (with a
//! [`DisconnectReason`]), error. Each connection is a reader task and a writer task:
//!
//! - **outbound**: a bounded queue of encoded [`Frame`]s; the writer takes everything queued
//!   at once and writes it with as few syscalls as it can. A peer that does not read is a
//!   slow consumer and never slows anyone else ([`SlowConsumerPolicy`]). Broadcast encodes
//!   once and queues the same bytes for every connection.
//! - **inbound**: the messages of one read are checked on the network task and handed
//!   over together ([`Received`]), holding a share of the connection's budget
//!   ([`ConnectionConfig::max_inbound_bytes`]) until the last of them is dropped; when the
//!   budget runs out the reader stops reading that socket and TCP slows the peer down.
//! - **closing**: `close(reason)` delivers everything sent before it, then
//!   `{"action": "podnet:close", "reason": ...}`; [`Server::shutdown`] does that for every
//!   connection within a timeout.
//! - **liveness**: TCP keepalive everywhere, and a `podnet:ping` heartbeat between podnet
//!   peers only, so a quiet repod peer is never dropped ([`Liveness`]).
//!
//! # Features
//!
//! - `tls`: encrypted connections with rustls (through tokio-rustls, with the ring
//!   provider). Set `ServerConfig::tls` to a `ServerTls` and `ClientConfig::tls` to a
//!   `ClientTls`; nothing else changes. Off by default: repod speaks plain TCP.
//!
//! It is for applications that already run tokio. **Most games want the `podnet`
//! crate**, whose `pump()` needs no async code. The wire format itself is
//! [`podnet_framing`].
//!
//! # Example
//!
//! ```
//! use podnet_transport::{Client, ClientConfig, ClientEvent, Server, ServerConfig, ServerEvent};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (server, mut server_events) = Server::bind("127.0.0.1:0", ServerConfig::default()).await?;
//! let (client, mut client_events) =
//!     Client::connect(server.local_addr(), ClientConfig::default()).await?;
//!
//! client.send(&podnet_transport::WithAction("chat", &std::collections::HashMap::from([("text", "hello")])))?;
//! loop {
//!     if let Some(ServerEvent::Message { id, message }) = server_events.recv().await {
//!         assert_eq!(message.action(), "chat");
//!         server.close(id, "bye")?;
//!         break;
//!     }
//! }
//! // The client gets the server's greeting, then the close reason.
//! while let Some(event) = client_events.recv().await {
//!     if let ClientEvent::Disconnected(reason) = event {
//!         println!("client: {reason}"); // closed by the peer: bye
//!         break;
//!     }
//! }
//! # Ok(())
//! # }
//! ```

mod addr;
mod budget;
mod cancelled;
mod client;
mod config;
mod conn;
mod driver;
mod error;
mod event;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod http;
mod lock;
mod observe;
mod outbound;
mod server;
mod socket;
mod stats;
#[cfg(feature = "tls")]
mod tls;
mod websocket;

pub use addr::{Addr, resolve};
pub use client::{Client, query_info};
pub use config::{
    ClientConfig, DEFAULT_METRICS_ADDR, MAX_FRAME_WITH_WEBSOCKET, MIN_METRICS_SECRET,
    MetricsConfig, NETWORK_MODE_VAR, NetworkMode, Page, ResumeConfig, ServerConfig,
    WebSocketConfig,
};
pub use conn::ConnectionInfo;
pub use error::{SendError, TransportError};
pub use event::{
    ClientEvent, EventSink, EventStream, Incoming, Received, ReceivedEvent, ReceivedEvents,
    ServerEvent,
};
pub use observe::Health;
#[doc(inline)]
pub use podnet_framing;
#[doc(inline)]
pub use podnet_framing::{Frame, Outgoing, WithAction};
#[doc(inline)]
pub use podnet_proto;
#[doc(inline)]
pub use podnet_proto::{
    ConnectionConfig, ConnectionId, ConnectionKind, ConnectionType, ConnectionTypes,
    DisconnectReason, Handshake, Liveness, PROTOCOL_VERSION, Peer, RESERVED_PREFIX, RateLimit,
    ResumeSettings, ResumeToken, ServerInfo, SlowConsumerPolicy,
};
pub use server::{Server, ServerHandle, ShutdownReport};
pub use stats::{ConnectionCounts, RttStats, ServerStats, Transport};
#[cfg(feature = "tls")]
pub use tls::{ClientTls, ServerTls, rustls};

/// docs/operations.md's code, compiled and run as doctests so the guide cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/operations.md")]
struct OperationsGuide;

/// This crate's README (its page on crates.io), its example compiled and run as a
/// doctest so it cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct CrateReadmeDoctests;

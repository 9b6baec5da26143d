//! podnet's bridge to synchronous game loops: the game calls `pump()` once per frame to
//! handle what arrived, on its own thread, while the network runs on a thread of its own
//! or, in [`NetworkMode::Pump`], inside `pump()` itself.
//!
//! - [`Server`]: [`Server::start`] (in either mode), [`Server::start_background`]
//!   (repod's `start_background`: a network thread, and its `JoinHandle`) or
//!   [`Server::launch`] (repod's `launch`, blocking); [`Server::pump`] hands every queued
//!   [`ServerEvent`] to a closure on the calling thread, so game state needs no locks.
//!   Send from other threads with a [`ServerHandle`].
//! - [`Client`]: [`Client::connect`] starts the network; [`Client::pump`] as above;
//!   the handle is `Clone + Send` for sending from anywhere.
//!
//! Events arrive through a crossbeam channel that the network fills; the amount waiting
//! is bounded by the transport's inbound budget, not by the channel. Sending goes
//! straight into the connection's queue: it never blocks and never waits for the network.
//! In pump mode what is queued (rather than written at once) leaves in the next pump.
//!
//! **Most games want the `podnet` crate**, which adds handlers keyed by action name on top
//! of this; use this crate to handle the raw events yourself.
//!
//! # Example: host and play
//!
//! ```
//! use std::time::Duration;
//! use podnet_sync::{Client, Server};
//! use podnet_transport::{ClientEvent, ServerEvent};
//!
//! // Host: the server runs in this process...
//! let mut server = Server::start("127.0.0.1:0", Default::default())?;
//! // ...and we play on it too.
//! let client = Client::connect(server.local_addr(), Default::default())?;
//! client.send(&podnet_transport::WithAction("move", &std::collections::HashMap::from([("x", 1)])))?;
//!
//! let mut moved = false;
//! while !moved {
//!     server.pump_timeout(Duration::from_secs(5), |event| {
//!         if let ServerEvent::Message { message, .. } = event {
//!             moved = message.action() == "move";
//!         }
//!     });
//! }
//! # Ok::<(), podnet_sync::SyncError>(())
//! ```

mod client;
mod error;
mod handler;
mod pumped;
mod server;
mod thread;

pub use client::{Client, ClientHandle, query_info};
pub use error::SyncError;
pub use handler::{Each, EventHandler};
#[doc(inline)]
pub use podnet_transport;
pub use podnet_transport::{
    ClientEvent, Frame, NetworkMode, Outgoing, Received, ServerEvent, WithAction,
};
pub use server::{Server, ServerHandle};

/// This crate's README (its page on crates.io), its example compiled and run as a
/// doctest so it cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct CrateReadmeDoctests;

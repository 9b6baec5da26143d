//! podnet servers sharing players through Redis (Valkey-compatible).
//!
//! One process with no Redis stays podnet's default; a cluster is opt-in. This crate holds
//! the parts every node needs:
//!
//! - [`Node`]: the node's entry in the **registry**, with its load, kept alive by a
//!   heartbeat that refreshes its TTL. A node that dies (SIGKILL, a lost machine) stops
//!   refreshing, and disappears within [`ClusterConfig::ttl`]. [`Node::nodes`] lists the
//!   live ones.
//! - **Presence**: [`Node::claim_name`] claims a player name cluster-wide, atomically (a
//!   Lua script), compared ignoring case; two nodes never both get a name, however close
//!   the logins. A node's names live as long as the node: its heartbeat refreshes them, and
//!   they expire with it.
//! - [`Cluster`]: a node that also delivers what other nodes send to its players: to a
//!   player by connection or name, to every player of the cluster, to rooms that span
//!   nodes; encoded once, published once, checked on arrival.
//!
//! What is kept in Redis, and every failure mode, is in `docs/cluster.md`.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), podnet_cluster::ClusterError> {
//! use podnet_cluster::{ClusterConfig, Node};
//!
//! let node = Node::join(ClusterConfig::new("redis://127.0.0.1:6379/")).await?;
//! if node.claim_name("ada").await? {
//!     println!("ada plays on {}", node.id());
//! }
//! for other in node.nodes().await? {
//!     println!("{} has {} players", other.id, other.players);
//! }
//! node.leave().await?;
//! # Ok(())
//! # }
//! ```

mod cluster;
mod config;
mod delivery;
mod envelope;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod keys;
mod node;
mod publisher;

pub use cluster::{Cluster, ClusterHandle, LocalPlayers, NodeMessage};
pub use config::ClusterConfig;
pub use error::ClusterError;
pub use node::{Health, Load, Node, NodeInfo, QueueEntry};

/// docs/cluster.md, compiled as doctests so the guide cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/cluster.md")]
pub struct ClusterGuide;

/// This crate's README (its page on crates.io), its example compiled and run as a
/// doctest so it cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct CrateReadmeDoctests;

//! The cluster's settings.

use std::time::Duration;

/// How a node joins its cluster.
///
/// ```
/// use std::time::Duration;
/// use podnet_cluster::ClusterConfig;
///
/// let config = ClusterConfig::new("redis://127.0.0.1:6379/");
/// assert_eq!(config.ttl, Duration::from_secs(5));
/// assert_eq!(config.heartbeat, Duration::from_secs(1));
/// assert_eq!(config.command_timeout, Duration::from_secs(1));
/// assert_eq!(config.prefix, "podnet");
/// assert_eq!(config.resend_for, Duration::from_secs(30));
/// assert_eq!(config.max_unacked, 65_536);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterConfig {
    /// The Redis (or Valkey) server: `redis://host:port/db`, `redis://:password@host/`.
    pub url: String,
    /// This node's name in the cluster. Default: `None`, a random one (16 hex digits).
    pub node: Option<String>,
    /// How long a node, and the names it holds, outlive its last heartbeat: a node that
    /// dies is gone from the registry, and its players' names are free again, within it.
    ///
    /// Default: **5 s**.
    pub ttl: Duration,
    /// How often a node refreshes its entry and its names. Keep it well under `ttl`
    /// (a third or less), so that one slow round trip does not expire a live node.
    ///
    /// Default: **1 s**.
    pub heartbeat: Duration,
    /// The longest a Redis command (or connecting) may take before it fails: a Redis that
    /// hangs makes cluster calls fail, never wait for ever.
    ///
    /// Default: **1 s**.
    pub command_timeout: Duration,
    /// The most publishes that may wait for Redis. A [`ClusterHandle`](crate::ClusterHandle)
    /// send past it is refused (`ClusterError::Backlog`) rather than kept without bound;
    /// the async sends wait for room instead.
    ///
    /// Default: **10,000**.
    pub max_pending: usize,
    /// The prefix of every key and channel, so that several games (or test runs) share
    /// one Redis.
    ///
    /// Default: **`podnet`**.
    pub prefix: String,
    /// How long a message to another node's game loop
    /// ([`ClusterHandle::send_to_node`](crate::ClusterHandle::send_to_node)) is sent again
    /// until that node acknowledges it: through a Redis restart or a lost subscription it
    /// arrives once, in order. Past it the message is given up, logged and counted
    /// ([`Cluster::lost`](crate::Cluster::lost)): the node is dead, or Redis stayed away
    /// that long.
    ///
    /// Default: **30 s**.
    pub resend_for: Duration,
    /// The most messages to other nodes' game loops kept until acknowledged, over all
    /// nodes. A send past it is refused ([`ClusterError::Backlog`](crate::ClusterError))
    /// rather than kept without bound.
    ///
    /// Default: **65,536**.
    pub max_unacked: usize,
}

impl ClusterConfig {
    /// The defaults, with the Redis server at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            node: None,
            ttl: Duration::from_secs(5),
            heartbeat: Duration::from_secs(1),
            command_timeout: Duration::from_secs(1),
            max_pending: 10_000,
            prefix: "podnet".to_owned(),
            resend_for: Duration::from_secs(30),
            max_unacked: 65_536,
        }
    }
}

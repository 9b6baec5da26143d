//! What can go wrong in a cluster.

/// An error of the cluster.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// The URL is not one Redis takes.
    #[error(
        "{url:?} is not a Redis URL ({source}): write redis://host:port/ (or rediss:// for TLS)"
    )]
    BadUrl {
        /// The URL given.
        url: String,
        /// Why.
        source: redis::RedisError,
    },
    /// The Redis server could not be reached.
    #[error(
        "could not reach Redis at {url} ({source}): is redis-server (or valkey) running there? \
         The node serves its own players meanwhile"
    )]
    Connect {
        /// The URL given.
        url: String,
        /// Why.
        source: redis::RedisError,
    },
    /// A command failed (Redis stopped, or restarted, or refused it).
    #[error("Redis failed a cluster command ({source}); the node keeps serving its own players")]
    Redis {
        /// Why.
        #[from]
        source: redis::RedisError,
    },
    /// A publish failed (Redis stopped, or restarted, or refused it).
    #[error("Redis failed a publish ({why}); the node keeps serving its own players")]
    Publish {
        /// Why.
        why: String,
    },
    /// Too many publishes wait for Redis (`ClusterConfig::max_pending`): it is slower than
    /// the game sends, or away. The message reached this node's players only.
    #[error(
        "{pending} messages already wait for Redis (ClusterConfig::max_pending): it is slower \
         than the game sends, or away; this one reached this node's players only"
    )]
    Backlog {
        /// How many wait.
        pending: usize,
    },
    /// Too many messages to other nodes' game loops wait for their acknowledgement
    /// (`ClusterConfig::max_unacked`): a node is slow or gone, or Redis is away.
    #[error(
        "{kept} messages to other nodes' game loops wait to be acknowledged \
         (ClusterConfig::max_unacked): a node is slow or gone, or Redis is away; this one \
         was not sent"
    )]
    Unacknowledged {
        /// How many wait.
        kept: usize,
    },
    /// The settings do not work together.
    #[error("bad cluster settings: {0}")]
    Config(String),
}

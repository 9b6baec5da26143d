//! The lobby's error type.

/// What can go wrong starting or running a lobby server.
///
/// ```
/// let err = podnet_lobby::Error::from(podnet_sync::SyncError::Stopped);
/// assert!(err.to_string().contains("stopped"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Starting or running the background network thread failed (under `pump()`).
    #[error(transparent)]
    Sync(#[from] podnet_sync::SyncError),

    /// The async server failed (bind, connect, send).
    #[error(transparent)]
    Transport(#[from] podnet_transport::TransportError),

    /// Joining the cluster failed (feature `cluster`).
    #[cfg(feature = "cluster")]
    #[error(transparent)]
    Cluster(#[from] podnet_cluster::ClusterError),

    /// The cluster's thread could not be started (feature `cluster`).
    #[cfg(feature = "cluster")]
    #[error("could not start the lobby's cluster thread: {0}")]
    ClusterThread(std::io::Error),

    /// The process's Ctrl-C / SIGTERM handler could not be installed (see
    /// [`LobbyServer::stop_on_signals`](crate::LobbyServer::stop_on_signals)).
    #[error("could not handle Ctrl-C and SIGTERM: {problem} (a process has one such handler)")]
    Signals {
        /// What went wrong.
        problem: String,
    },

    /// A lobby run with a cluster was not made for it.
    #[error(
        "this lobby is not clustered for node {node:?}: make it with \
         Lobby::clustered(config, setup, cluster.node().id()), and give the cluster to run once"
    )]
    NotClustered {
        /// The cluster's node id.
        node: String,
    },
}

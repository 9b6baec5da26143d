//! The lobby across nodes, on Redis (feature `cluster`): [`run`] drives a
//! [`Lobby::clustered`] on an async server with a [`Cluster`].
//!
//! What it does for the lobby (see the [`nodes`](crate::nodes) module for the messages):
//! names are claimed cluster-wide; waiting players go into one queue in Redis, where a
//! script forms each group once, from players of any node; the node that completes a
//! group books the least loaded node to run its session; players of other nodes take
//! part through their own node, so no client moves and plain repod clients play too.
//! Every [`ClusterLobbyConfig::check_nodes_every`] the registry is read: players whose
//! session ran on a node that died are told and go back to the lobby, and a session here
//! loses the visitors of a node that died (as if they left).

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use podnet_cluster::{Cluster, ClusterHandle, Health, Load, NodeMessage, QueueEntry};
use podnet_transport::{ConnectionId, EventStream, Server, ServerEvent, ShutdownReport};
use tokio::sync::{mpsc, watch};

use crate::Error;
use crate::lobby::Lobby;
use crate::nodes::{ClusterRequest, Waiter, start_frame};
use crate::outbox::Outbox;
use crate::session::Game;

/// How long the final server shutdown may take to deliver the last messages.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// How a clustered lobby uses its cluster.
///
/// ```
/// let config = podnet_lobby::cluster::ClusterLobbyConfig::default();
/// assert_eq!(config.queue, "lobby");
/// assert_eq!(config.check_nodes_every, std::time::Duration::from_secs(1));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterLobbyConfig {
    /// The name of the cluster-wide waiting queue. Lobbies with the same queue (and the
    /// same Redis prefix) group their players together; give different games different
    /// queues.
    ///
    /// Default: **`lobby`**.
    pub queue: String,
    /// How often the registry is read to find nodes that died: a player whose session
    /// ran on one is back in the lobby within this plus the cluster's TTL.
    ///
    /// Default: **1 s**.
    pub check_nodes_every: Duration,
}

impl Default for ClusterLobbyConfig {
    fn default() -> Self {
        Self {
            queue: "lobby".to_owned(),
            check_nodes_every: Duration::from_secs(1),
        }
    }
}

/// What the cluster task is asked, in order.
pub(crate) enum Job {
    Claim { id: ConnectionId, name: String },
    Enqueue(Waiter),
    Dequeue(Waiter),
    Left(ConnectionId),
    Nodes,
}

/// What it answers.
pub(crate) enum Done {
    Claimed {
        id: ConnectionId,
        name_claimed: Result<bool, String>,
    },
    Live {
        nodes: HashSet<String>,
        asked_at: Instant,
    },
}

fn entry(waiter: Waiter) -> QueueEntry {
    QueueEntry {
        node: waiter.node,
        id: waiter.id,
        name: waiter.name,
        ticket: waiter.ticket,
    }
}

/// Runs Redis commands one after the other (so that a player's claim, queueing and
/// leaving reach Redis in the order the lobby made them), off the lobby's loop.
async fn cluster_task(
    cluster: Arc<Cluster>,
    handle: ClusterHandle,
    queue: String,
    group_size: usize,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    done: mpsc::UnboundedSender<Done>,
) {
    while let Some(job) = jobs.recv().await {
        match job {
            Job::Claim { id, name } => {
                let name_claimed = cluster
                    .claim_name(&name, id)
                    .await
                    .map_err(|e| e.to_string());
                let _ = done.send(Done::Claimed { id, name_claimed });
            }
            Job::Enqueue(waiter) => {
                let group = cluster
                    .node()
                    .wait_in_queue(&queue, &entry(waiter), group_size)
                    .await;
                match group {
                    Ok(Some(group)) => {
                        // The node that completes a group books where it plays (itself if
                        // the registry cannot be read).
                        let node = match cluster.node().book_session().await {
                            Ok(node) => node,
                            Err(_) => cluster.node().id().to_owned(),
                        };
                        let group: Vec<Waiter> = group
                            .into_iter()
                            .map(|e| Waiter {
                                node: e.node,
                                id: e.id,
                                name: e.name,
                                ticket: e.ticket,
                            })
                            .collect();
                        tracing::debug!(node = %node, players = group.len(), "a cluster group formed");
                        match start_frame(&group) {
                            Ok(frame) => {
                                if let Err(err) = handle.send_to_node(&node, &frame) {
                                    tracing::warn!(%err, "a cluster group could not be started");
                                }
                            }
                            Err(err) => tracing::warn!(%err, "a cluster group does not encode"),
                        }
                    }
                    Ok(None) => {}
                    Err(err) => {
                        tracing::warn!(%err, "could not queue a player: queued again when the cluster is back");
                    }
                }
            }
            Job::Dequeue(waiter) => {
                if let Err(err) = cluster.node().leave_queue(&queue, &entry(waiter)).await {
                    tracing::debug!(%err, "could not take a player out of the queue");
                }
            }
            Job::Left(id) => {
                if let Err(err) = cluster.player_left(id).await {
                    tracing::debug!(%err, "a name will be freed by its TTL");
                }
            }
            Job::Nodes => {
                let asked_at = Instant::now();
                // Right after an outage the registry may lack live nodes; and one without
                // this node is from a Redis that lost everything. Neither says who died.
                let node = cluster.node();
                let since = node.healthy_since();
                if since.is_none_or(|since| asked_at < since + node.config().ttl) {
                    continue;
                }
                if let Ok(nodes) = node.nodes().await {
                    let nodes: HashSet<String> = nodes.into_iter().map(|n| n.id).collect();
                    // And no outage began while it was read.
                    if nodes.contains(node.id()) && node.healthy_since() == since {
                        let _ = done.send(Done::Live { nodes, asked_at });
                    }
                }
            }
        }
    }
}

/// What woke the lobby's cluster side.
pub(crate) enum Wake {
    Done(Done),
    Node(NodeMessage),
    /// The node's health changed; true if it is healthy now.
    Health(bool),
    /// Time to read the registry for dead nodes.
    Check,
}

/// A clustered lobby's link to its cluster, for either driver: [`run`] (async) and
/// [`LobbyServer`](crate::LobbyServer) under `pump()` (which polls it).
pub(crate) struct Link {
    cluster: Arc<Cluster>,
    handle: ClusterHandle,
    jobs: mpsc::UnboundedSender<Job>,
    done: mpsc::UnboundedReceiver<Done>,
    node_messages: mpsc::Receiver<NodeMessage>,
    health: watch::Receiver<Health>,
    task: tokio::task::JoinHandle<()>,
    every: Duration,
    next_check: Instant,
}

impl Link {
    /// Links `lobby` to `cluster`, starting the cluster task on the current runtime.
    pub(crate) fn new<G: Game>(
        lobby: &Lobby<G>,
        mut cluster: Cluster,
        config: &ClusterLobbyConfig,
    ) -> Result<Link, Error> {
        let not_clustered = |cluster: &Cluster| Error::NotClustered {
            node: cluster.node().id().to_owned(),
        };
        if lobby.cluster_node() != Some(cluster.node().id()) {
            return Err(not_clustered(&cluster));
        }
        let Some(node_messages) = cluster.take_node_messages() else {
            return Err(not_clustered(&cluster));
        };
        let handle = cluster.handle();
        let health = cluster.node().watch_health();
        let cluster = Arc::new(cluster);
        // Unbounded, and bounded by construction: the lobby asks at most one claim, one
        // queueing and one leave per connection at a time, and the server bounds
        // connections.
        let (jobs, job_queue) = mpsc::unbounded_channel();
        let (done_tx, done) = mpsc::unbounded_channel();
        let task = tokio::spawn(cluster_task(
            cluster.clone(),
            handle.clone(),
            config.queue.clone(),
            lobby.config().group_size,
            job_queue,
            done_tx,
        ));
        Ok(Link {
            cluster,
            handle,
            jobs,
            done,
            node_messages,
            health,
            task,
            every: config.check_nodes_every,
            next_check: Instant::now(),
        })
    }

    /// Hands a server event to the lobby, and frees the cluster name of a player who left.
    pub(crate) fn event<G: Game>(
        &mut self,
        lobby: &mut Lobby<G>,
        event: ServerEvent,
        out: &dyn Outbox,
    ) {
        let left = match &event {
            ServerEvent::Disconnected { id, .. } => Some(*id),
            _ => None,
        };
        lobby.handle(event, out);
        if let Some(id) = left {
            // After the lobby's own requests for it (taking it out of the queue).
            self.hand_over(lobby);
            let _ = self.jobs.send(Job::Left(id));
        }
    }

    /// Acts on what woke the lobby.
    pub(crate) fn wake<G: Game>(
        &mut self,
        lobby: &mut Lobby<G>,
        wake: Wake,
        out: &dyn Outbox,
        load: Load,
    ) {
        match wake {
            Wake::Done(Done::Claimed { id, name_claimed }) => {
                let won = name_claimed == Ok(true);
                if !lobby.claimed(id, name_claimed, out) && won {
                    // It left meanwhile: free the name it won.
                    let _ = self.jobs.send(Job::Left(id));
                }
            }
            Wake::Done(Done::Live { nodes, asked_at }) => lobby.live_nodes(&nodes, asked_at, out),
            Wake::Node(msg) => lobby.node_message(&msg.from, &msg.message, out),
            Wake::Health(true) => lobby.cluster_back(out),
            Wake::Health(false) => {}
            Wake::Check => {
                self.next_check = Instant::now() + self.every;
                let _ = self.jobs.send(Job::Nodes);
                self.cluster.node().set_load(load);
            }
        }
        self.hand_over(lobby);
    }

    /// The next thing to act on, waiting for it.
    pub(crate) async fn next(&mut self) -> Wake {
        let check = tokio::time::Instant::from_std(self.next_check);
        tokio::select! {
            Some(done) = self.done.recv() => Wake::Done(done),
            Some(msg) = self.node_messages.recv() => Wake::Node(msg),
            Ok(()) = self.health.changed() => {
                Wake::Health(*self.health.borrow_and_update() == Health::Healthy)
            }
            () = tokio::time::sleep_until(check) => Wake::Check,
        }
    }

    /// The next thing to act on, if there is one now (never waits).
    pub(crate) fn try_next(&mut self) -> Option<Wake> {
        if let Ok(done) = self.done.try_recv() {
            return Some(Wake::Done(done));
        }
        if let Ok(msg) = self.node_messages.try_recv() {
            return Some(Wake::Node(msg));
        }
        if self.health.has_changed().unwrap_or(false) {
            return Some(Wake::Health(
                *self.health.borrow_and_update() == Health::Healthy,
            ));
        }
        (Instant::now() >= self.next_check).then_some(Wake::Check)
    }

    /// Passes the lobby's requests on: messages to nodes at once (in order, never
    /// waiting), Redis commands to the cluster task.
    pub(crate) fn hand_over<G: Game>(&mut self, lobby: &mut Lobby<G>) {
        for request in lobby.take_cluster_requests() {
            let job = match request {
                ClusterRequest::ToNode { node, frame } => {
                    if let Err(err) = self.handle.send_to_node(&node, &frame) {
                        tracing::warn!(%node, %err, "a lobby message to another node not sent");
                    }
                    continue;
                }
                ClusterRequest::Claim { id, name } => Job::Claim { id, name },
                ClusterRequest::Enqueue(waiter) => Job::Enqueue(waiter),
                ClusterRequest::Dequeue(waiter) => Job::Dequeue(waiter),
            };
            let _ = self.jobs.send(job);
        }
    }

    /// Frees the names of players who left (`left`), lets the cluster task finish, and
    /// leaves the cluster.
    pub(crate) async fn finish(self, left: impl IntoIterator<Item = ConnectionId>) {
        for id in left {
            let _ = self.jobs.send(Job::Left(id));
        }
        drop(self.jobs);
        let _ = self.task.await;
        if let Ok(cluster) = Arc::try_unwrap(self.cluster) {
            if let Err(err) = cluster.leave().await {
                tracing::warn!(%err, "leaving the cluster: this node expires with its TTL");
            }
        }
    }
}

/// The load a node reports: its connections, its sessions (while draining, so many that
/// no node books a session on it), and how many it has started (settling the bookings).
pub(crate) fn load<G: Game>(lobby: &Lobby<G>, connections: usize, draining: bool) -> Load {
    Load {
        players: connections as u64,
        sessions: if draining {
            // More than any node runs, and room left for the bookings others add.
            1 << 40
        } else {
            lobby.session_count() as u64
        },
        sessions_started: lobby.sessions_started(),
    }
}

/// Runs a clustered `lobby` (made with [`Lobby::clustered`] and this cluster's node id)
/// on an async `server`, with `cluster` (started with this server as its local players),
/// until `shutdown` resolves or the server's events end; then shuts down as
/// [`run`](crate::run) does, lets the sessions with players of other nodes finish (those
/// go back to their own node's lobby), and leaves the cluster.
///
/// # Errors
///
/// [`Error::NotClustered`] if `lobby` was not made with `Lobby::clustered` for this
/// cluster's node.
///
/// # Example
///
/// ```no_run
/// use podnet_cluster::{Cluster, ClusterConfig};
/// use podnet_lobby::cluster::ClusterLobbyConfig;
/// use podnet_lobby::{Game, Lobby, LobbyConfig, SessionCtx, SessionHandlers};
/// use podnet_transport::{Server, ServerConfig};
/// use std::sync::Arc;
///
/// struct Nothing;
/// impl Game for Nothing {
///     type Setup = ();
///     fn start(_: &(), ctx: &mut SessionCtx<'_>) -> Self { ctx.end("done"); Nothing }
///     fn handlers(_: &mut SessionHandlers<Self>) {}
/// }
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let (server, mut events) = Server::bind("127.0.0.1:0", ServerConfig::default()).await?;
/// let server = Arc::new(server);
/// let cluster = Cluster::start(ClusterConfig::new("redis://127.0.0.1:6379/"), server.handle().clone()).await?;
/// let mut lobby = Lobby::<Nothing>::clustered(LobbyConfig::new(2), (), cluster.node().id());
/// // A real server waits for ctrl-c or an admin command.
/// let shutdown = std::future::pending::<String>();
/// podnet_lobby::cluster::run(&server, &mut events, &mut lobby, cluster, &ClusterLobbyConfig::default(), shutdown).await?;
/// # Ok(())
/// # }
/// ```
pub async fn run<G: Game>(
    server: &Server,
    events: &mut EventStream<ServerEvent>,
    lobby: &mut Lobby<G>,
    cluster: Cluster,
    config: &ClusterLobbyConfig,
    shutdown: impl Future<Output = String>,
) -> Result<ShutdownReport, Error> {
    let mut link = Link::new(lobby, cluster, config)?;
    let mut shutdown = std::pin::pin!(shutdown);
    let mut reason: Option<String> = None;
    let mut published = Instant::now();
    // The lobby's decisions go out through the server's handle.
    let out = server.handle();
    loop {
        if lobby.is_done() {
            break;
        }
        if published.elapsed() >= crate::run::PUBLISH_EVERY {
            lobby.publish(|name, value| server.set_gauge(name, value));
            published = Instant::now();
        }
        let deadline = lobby.next_deadline().map(tokio::time::Instant::from_std);
        tokio::select! {
            why = &mut shutdown, if reason.is_none() => {
                lobby.begin_shutdown(&why, Instant::now(), out);
                reason = Some(why);
            }
            event = events.recv() => match event {
                Some(event) => link.event(lobby, event, out),
                None => {
                    let why = reason.clone().unwrap_or_else(|| "server closed".into());
                    lobby.begin_shutdown(&why, Instant::now(), out);
                    reason = Some(why);
                    lobby.cut_sessions(out);
                }
            },
            wake = link.next() => {
                let load = load(lobby, server.connection_count(), reason.is_some());
                link.wake(lobby, wake, out, load);
            }
            () = sleep_until(deadline) => {}
        }
        lobby.tick(Instant::now(), out);
        link.hand_over(lobby);
    }
    let reason = reason.unwrap_or_else(|| "server closed".into());
    let report = server.shutdown(&reason, CLOSE_TIMEOUT).await;
    let mut left = Vec::new();
    while let Some(event) = events.try_recv() {
        if let ServerEvent::Disconnected { id, .. } = event {
            left.push(id);
        }
    }
    link.finish(left).await;
    Ok(report)
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

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

use podnet_cluster::{Cluster, ClusterHandle, Health, Load, QueueEntry};
use podnet_transport::{ConnectionId, EventStream, Server, ServerEvent, ShutdownReport};
use tokio::sync::mpsc;

use crate::Error;
use crate::lobby::Lobby;
use crate::nodes::{ClusterRequest, Waiter, start_frame};
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
enum Job {
    Claim { id: ConnectionId, name: String },
    Enqueue(Waiter),
    Dequeue(Waiter),
    Left(ConnectionId),
    Nodes,
}

/// What it answers.
enum Done {
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
                if let Ok(nodes) = cluster.node().nodes().await {
                    let nodes = nodes.into_iter().map(|n| n.id).collect();
                    let _ = done.send(Done::Live { nodes, asked_at });
                }
            }
        }
    }
}

/// Runs a clustered `lobby` (made with [`Lobby::clustered`] and this cluster's node id)
/// on an async `server`, with `cluster` (started with this server as its local players),
/// until `shutdown` resolves or the server's events end; then shuts down as [`run`]
/// (crate::run) does, lets the sessions with players of other nodes finish (those go
/// back to their own node's lobby), and leaves the cluster.
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
/// let cluster = Cluster::start(ClusterConfig::new("redis://127.0.0.1:6379/"), server.clone()).await?;
/// let mut lobby = Lobby::<Nothing>::clustered(LobbyConfig::new(2), (), cluster.node().id());
/// let shutdown = async { tokio::signal::ctrl_c().await.ok(); "bye".to_string() };
/// podnet_lobby::cluster::run(&server, &mut events, &mut lobby, cluster, &ClusterLobbyConfig::default(), shutdown).await?;
/// # Ok(())
/// # }
/// ```
pub async fn run<G: Game>(
    server: &Server,
    events: &mut EventStream<ServerEvent>,
    lobby: &mut Lobby<G>,
    mut cluster: Cluster,
    config: &ClusterLobbyConfig,
    shutdown: impl Future<Output = String>,
) -> Result<ShutdownReport, Error> {
    if lobby.cluster_node() != Some(cluster.node().id()) {
        return Err(Error::NotClustered {
            node: cluster.node().id().to_owned(),
        });
    }
    let Some(mut node_messages) = cluster.take_node_messages() else {
        return Err(Error::NotClustered {
            node: cluster.node().id().to_owned(),
        });
    };
    let handle = cluster.handle();
    let mut health = cluster.node().watch_health();
    let cluster = Arc::new(cluster);
    // Unbounded, and bounded by construction: the lobby asks at most one claim, one
    // queueing and one leave per connection at a time, and the server bounds connections.
    let (jobs, job_queue) = mpsc::unbounded_channel();
    let (done_tx, mut done) = mpsc::unbounded_channel();
    let task = tokio::spawn(cluster_task(
        cluster.clone(),
        handle.clone(),
        config.queue.clone(),
        lobby.config().group_size,
        job_queue,
        done_tx,
    ));
    let mut check = tokio::time::interval(config.check_nodes_every);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut reason: Option<String> = None;
    loop {
        if lobby.is_done() {
            break;
        }
        let deadline = lobby.next_deadline().map(tokio::time::Instant::from_std);
        tokio::select! {
            why = &mut shutdown, if reason.is_none() => {
                lobby.begin_shutdown(&why, Instant::now(), server);
                reason = Some(why);
            }
            event = events.recv() => match event {
                Some(event) => {
                    let left = match &event {
                        ServerEvent::Disconnected { id, .. } => Some(*id),
                        _ => None,
                    };
                    lobby.handle(event, server);
                    if let Some(id) = left {
                        // After the lobby's own requests for it (taking it out of the queue).
                        hand_over(lobby, &jobs, &handle);
                        let _ = jobs.send(Job::Left(id));
                    }
                }
                None => {
                    let why = reason.clone().unwrap_or_else(|| "server closed".into());
                    lobby.begin_shutdown(&why, Instant::now(), server);
                    reason = Some(why);
                    lobby.cut_sessions(server);
                }
            },
            Some(msg) = node_messages.recv() => {
                lobby.node_message(&msg.from, &msg.message, server);
            }
            Some(answer) = done.recv() => match answer {
                Done::Claimed { id, name_claimed } => {
                    let won = name_claimed == Ok(true);
                    if !lobby.claimed(id, name_claimed, server) && won {
                        // It left meanwhile: free the name it won.
                        let _ = jobs.send(Job::Left(id));
                    }
                }
                Done::Live { nodes, asked_at } => lobby.live_nodes(&nodes, asked_at, server),
            },
            _ = check.tick() => {
                let _ = jobs.send(Job::Nodes);
                let sessions = if reason.is_some() {
                    // Draining: book no more sessions here.
                    u64::MAX / 2
                } else {
                    lobby.session_count() as u64
                };
                cluster.node().set_load(Load {
                    players: server.connection_count() as u64,
                    sessions,
                });
            }
            Ok(()) = health.changed() => {
                if *health.borrow_and_update() == Health::Healthy {
                    lobby.cluster_back(server);
                }
            }
            () = sleep_until(deadline) => {}
        }
        lobby.tick(Instant::now(), server);
        hand_over(lobby, &jobs, &handle);
    }
    let reason = reason.unwrap_or_else(|| "server closed".into());
    let report = server.shutdown(&reason, CLOSE_TIMEOUT).await;
    // What the lobby still asked (the last leaves), then the cluster task ends.
    while let Some(event) = events.try_recv() {
        if let ServerEvent::Disconnected { id, .. } = event {
            let _ = jobs.send(Job::Left(id));
        }
    }
    drop(jobs);
    let _ = task.await;
    if let Ok(cluster) = Arc::try_unwrap(cluster) {
        if let Err(err) = cluster.leave().await {
            tracing::warn!(%err, "leaving the cluster: this node expires with its TTL");
        }
    }
    Ok(report)
}

/// Passes the lobby's requests on: messages to nodes at once (in order, never waiting),
/// Redis commands to the cluster task.
fn hand_over<G: Game>(
    lobby: &mut Lobby<G>,
    jobs: &mpsc::UnboundedSender<Job>,
    handle: &ClusterHandle,
) {
    for request in lobby.take_cluster_requests() {
        let job = match request {
            ClusterRequest::ToNode { node, frame } => {
                if let Err(err) = handle.send_to_node(&node, &frame) {
                    tracing::warn!(%node, %err, "a lobby message to another node not sent");
                }
                continue;
            }
            ClusterRequest::Claim { id, name } => Job::Claim { id, name },
            ClusterRequest::Enqueue(waiter) => Job::Enqueue(waiter),
            ClusterRequest::Dequeue(waiter) => Job::Dequeue(waiter),
        };
        let _ = jobs.send(job);
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

//! Messaging across nodes: to a player on any node (by connection or by name), to every
//! player of the cluster, and to rooms whose members sit on different nodes.
//!
//! The [`Cluster`] is here; what it receives is read by the task in `subscriber`, and a
//! game loop sends through the [`ClusterHandle`] in `handle`.

mod handle;
mod subscriber;

pub use handle::ClusterHandle;
use subscriber::{Channels, Subscriber, subscribe};

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use podnet_framing::{FramingConfig, RawMessage};
use podnet_proto::Outbox;
use podnet_transport::{ConnectionId, Frame};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::config::ClusterConfig;
use crate::envelope::{self, To};
use crate::error::ClusterError;
use crate::node::{Health, Node};
use crate::publisher::{self, Op, Reliable};

/// Where a cluster delivers what other nodes send to this node's players: the
/// protocol's [`Outbox`] (the same a lobby sends through), with a hook for the cluster's
/// health. A server's [`ServerHandle`](podnet_transport::ServerHandle)
/// (`server.handle().clone()`, for an async server, a `pump()` one or the facade's)
/// implements it, or a stand-in of the game's.
pub trait LocalPlayers: Outbox + Send + Sync + 'static {
    /// The cluster's health changed (`None`: the node left): podnet's servers show it in
    /// `/readyz` and `/metrics` as the component `"cluster"`.
    fn cluster_health(&self, health: Option<Health>) {
        let _ = health;
    }
}

impl LocalPlayers for podnet_transport::ServerHandle {
    fn cluster_health(&self, health: Option<Health>) {
        match health {
            Some(health) => podnet_transport::ServerHandle::set_health(self, "cluster", health),
            None => podnet_transport::ServerHandle::remove_health(self, "cluster"),
        }
    }
}

/// This node's players as the cluster knows them: their names, and the rooms they are in.
#[derive(Default)]
struct Local {
    names: HashMap<String, ConnectionId>,
    rooms: HashMap<String, HashSet<ConnectionId>>,
}

/// What the subscriber is asked to change; a join is answered once subscribed.
enum Subscription {
    Join(String, oneshot::Sender<()>),
    Leave(String),
}

/// A message from another node's game loop to this one's (see
/// [`Cluster::take_node_messages`]): checked as a peer's message is.
#[derive(Debug, Clone)]
pub struct NodeMessage {
    /// The node that sent it.
    pub from: String,
    /// The message.
    pub message: RawMessage,
}

/// This node's epoch: when it started, in microseconds since 1970 (a node that starts
/// again under the same id has a later one).
fn epoch() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Hands `frame` to this node's own inbox, as if a node had sent it; false if full.
fn to_own_inbox(inbox: &mpsc::Sender<NodeMessage>, from: &str, frame: &Frame) -> bool {
    let Ok(message) = RawMessage::parse(
        bytes::Bytes::copy_from_slice(payload(frame)),
        &FramingConfig::default(),
    ) else {
        return false;
    };
    inbox
        .try_send(NodeMessage {
            from: from.to_owned(),
            message,
        })
        .is_ok()
}

/// A node in a cluster, with messaging: [`Node`]'s registry and names, plus delivery of
/// what other nodes send to this node's players.
///
/// Messages go through Redis pub/sub, encoded once: one publish for a player on another
/// node, one for the whole cluster, one for a room (every node with members in it is
/// subscribed to it). Per sender, messages to a player arrive in the order they were
/// sent. What arrives from Redis is checked as a peer's frames are (size, msgpack, an
/// action) before any player gets it.
pub struct Cluster {
    node: Node,
    publisher: mpsc::Sender<Op>,
    publisher_task: JoinHandle<()>,
    local: Arc<Mutex<Local>>,
    players: Arc<dyn LocalPlayers>,
    subscriptions: mpsc::UnboundedSender<Subscription>,
    subscriber: JoinHandle<()>,
    /// Tells `players` the node's health as it changes.
    health_reporter: JoinHandle<()>,
    dropped: Arc<AtomicU64>,
    command_timeout: Duration,
    reliable: Reliable,
    /// Messages the other nodes gave up sending here (learnt from their streams).
    lost_here: Arc<AtomicU64>,
    max_unacked: usize,
    subscribed: watch::Receiver<bool>,
    inbox: mpsc::Sender<NodeMessage>,
    node_messages: Option<mpsc::Receiver<NodeMessage>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.subscriber.abort();
        self.publisher_task.abort();
        self.health_reporter.abort();
        self.players.cluster_health(None);
    }
}

fn lock(local: &Mutex<Local>) -> std::sync::MutexGuard<'_, Local> {
    local.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sends `frame` to this node's members of `room` (the lock is not held while sending).
fn to_room_members(local: &Mutex<Local>, players: &dyn LocalPlayers, room: &str, frame: &Frame) {
    let members: Vec<ConnectionId> = lock(local)
        .rooms
        .get(room)
        .map(|m| m.iter().copied().collect())
        .unwrap_or_default();
    for id in members {
        players.send_frame(id, frame);
    }
}

/// The message of a frame: its bytes without repod's 4-byte length.
fn payload(frame: &Frame) -> &[u8] {
    let bytes = frame.as_bytes();
    &bytes[4.min(bytes.len())..]
}

impl Cluster {
    /// Joins the cluster (see [`Node::join`]) and starts delivering what other nodes send
    /// to `players`.
    ///
    /// # Errors
    ///
    /// As [`Node::join`]; and if the subscription connection cannot be opened.
    pub async fn start(
        config: ClusterConfig,
        players: impl LocalPlayers,
    ) -> Result<Cluster, ClusterError> {
        let node = Node::join(config.clone()).await?;
        let client =
            redis::Client::open(config.url.as_str()).map_err(|source| ClusterError::BadUrl {
                url: config.url.clone(),
                source,
            })?;
        let players: Arc<dyn LocalPlayers> = Arc::new(players);
        let local = Arc::new(Mutex::new(Local::default()));
        let dropped = Arc::new(AtomicU64::new(0));
        let (subscriptions, requests) = mpsc::unbounded_channel();
        let (subscribed_tx, subscribed) = watch::channel(true);
        let channels = Channels::new(&config.prefix, node.id());
        let (inbox, node_messages) = mpsc::channel(config.max_pending.max(1));
        let reliable = Reliable {
            id: node.id().to_owned(),
            prefix: config.prefix.clone(),
            epoch: epoch(),
            resend_for: config.resend_for,
            kept: Arc::new(AtomicUsize::new(0)),
            lost: Arc::new(AtomicU64::new(0)),
            settled: watch::Sender::new(0),
        };
        let (publisher, publisher_task) =
            publisher::spawn(node.connection(), config.max_pending, reliable.clone());
        let lost_here = Arc::new(AtomicU64::new(0));
        // The first subscription is made before start returns: nothing sent to this node
        // after that is missed.
        let pubsub =
            subscribe(&client, &channels, &[])
                .await
                .map_err(|source| ClusterError::Connect {
                    url: config.url.clone(),
                    source,
                })?;
        let subscriber = tokio::spawn(
            Subscriber {
                client,
                channels,
                local: local.clone(),
                players: players.clone(),
                framing: FramingConfig::default(),
                dropped: dropped.clone(),
                id: node.id().to_owned(),
                subscribed: subscribed_tx,
                inbox: inbox.clone(),
                publisher: publisher.clone(),
                incoming: crate::delivery::Incoming::default(),
                lost: lost_here.clone(),
            }
            .run(pubsub, requests),
        );
        let health_reporter = tokio::spawn({
            let mut health = node.watch_health();
            let players = players.clone();
            async move {
                loop {
                    players.cluster_health(Some(health.borrow_and_update().clone()));
                    if health.changed().await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Cluster {
            publisher,
            publisher_task,
            node,
            local,
            players,
            subscriptions,
            subscriber,
            health_reporter,
            dropped,
            command_timeout: config.command_timeout,
            reliable,
            lost_here,
            max_unacked: config.max_unacked,
            subscribed,
            inbox,
            node_messages: Some(node_messages),
        })
    }

    /// What other nodes' game loops send this one's ([`ClusterHandle::send_to_node`]):
    /// taken once (later calls return `None`), by whoever runs this node's game, the
    /// cluster lobby for one. At most [`ClusterConfig::max_pending`] wait; past that, an
    /// arrival is not taken, and its sender sends it again later.
    pub fn take_node_messages(&mut self) -> Option<mpsc::Receiver<NodeMessage>> {
        self.node_messages.take()
    }

    /// The node: its id, the registry, its load.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// Whether this node receives what other nodes send (its pub/sub subscription is up),
    /// and its changes: after Redis comes back, messages from other nodes arrive again
    /// once it is true. Pub/sub is at most once: what was published to this node's
    /// players while it was false did not reach them (messages between game loops are
    /// asked for again, and arrive).
    pub fn watch_subscribed(&self) -> watch::Receiver<bool> {
        self.subscribed.clone()
    }

    /// Messages from Redis dropped because they were not valid (or their player was
    /// gone), since the start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Messages between game loops that were given up: sent from here and not
    /// acknowledged within [`ClusterConfig::resend_for`], or sent here and given up by
    /// their sender (learnt when its stream goes on). Zero while every node lives and
    /// Redis is never away for that long.
    pub fn lost(&self) -> u64 {
        self.reliable.lost.load(Ordering::Relaxed) + self.lost_here.load(Ordering::Relaxed)
    }

    /// Claims `name` cluster-wide for local player `id` (see [`Node::claim_name`]); once
    /// claimed, [`send_to_name`](Self::send_to_name) on any node reaches that player.
    ///
    /// # Errors
    ///
    /// If Redis fails the command; the name is then not claimed.
    pub async fn claim_name(&self, name: &str, id: ConnectionId) -> Result<bool, ClusterError> {
        let claimed = self.node.claim_name(name).await?;
        if claimed {
            lock(&self.local).names.insert(name.to_lowercase(), id);
        }
        Ok(claimed)
    }

    /// Local player `id` left: its name is released and it leaves its rooms.
    ///
    /// # Errors
    ///
    /// If Redis fails a command; its name then expires with the TTL.
    pub async fn player_left(&self, id: ConnectionId) -> Result<(), ClusterError> {
        let (names, emptied) = {
            let mut local = lock(&self.local);
            let names: Vec<String> = local
                .names
                .iter()
                .filter(|(_, holder)| **holder == id)
                .map(|(name, _)| name.clone())
                .collect();
            for name in &names {
                local.names.remove(name);
            }
            let mut emptied = Vec::new();
            local.rooms.retain(|room, members| {
                members.remove(&id);
                let keep = !members.is_empty();
                if !keep {
                    emptied.push(room.clone());
                }
                keep
            });
            (names, emptied)
        };
        for room in emptied {
            let _ = self.subscriptions.send(Subscription::Leave(room));
        }
        for name in names {
            self.node.release_name(&name).await?;
        }
        Ok(())
    }

    /// Sends `frame` to connection `id` of node `node` (this one included).
    ///
    /// # Errors
    ///
    /// If Redis fails the publish.
    pub async fn send_to(
        &self,
        node: &str,
        id: ConnectionId,
        frame: &Frame,
    ) -> Result<(), ClusterError> {
        if node == self.node.id() {
            self.players.send_frame(id, frame);
            return Ok(());
        }
        self.publish(
            &Channels::direct_of(self.node.prefix(), node),
            envelope::direct(&To::Connection(id), payload(frame)),
        )
        .await
    }

    /// Sends `frame` to the player holding `name`, on whichever node; false if nobody
    /// holds it.
    ///
    /// # Errors
    ///
    /// If Redis fails a command.
    pub async fn send_to_name(&self, name: &str, frame: &Frame) -> Result<bool, ClusterError> {
        let local = lock(&self.local).names.get(&name.to_lowercase()).copied();
        if let Some(id) = local {
            return Ok(self.players.send_frame(id, frame));
        }
        let Some(node) = self.node.holder(name).await? else {
            return Ok(false);
        };
        if node == self.node.id() {
            // Claimed through Node::claim_name rather than here: no local player known.
            return Ok(false);
        }
        self.publish(
            &Channels::direct_of(self.node.prefix(), &node),
            envelope::direct(&To::Name(name.to_lowercase()), payload(frame)),
        )
        .await?;
        Ok(true)
    }

    /// Sends `frame` to every player of every node: this node's at once, the others'
    /// through one publish. Returns how many local players it reached.
    ///
    /// # Errors
    ///
    /// If Redis fails the publish (the local players have it anyway).
    pub async fn send_to_all(&self, frame: &Frame) -> Result<usize, ClusterError> {
        let reached = self.players.send_frame_to_all(frame);
        self.publish(
            &Channels::all_of(self.node.prefix()),
            envelope::from_node(self.node.id(), payload(frame)),
        )
        .await?;
        Ok(reached)
    }

    /// Puts local player `id` in `room` (created by its first member anywhere). Returns
    /// once this node receives what is sent to the room, from any node.
    pub async fn join_room(&self, room: &str, id: ConnectionId) {
        let first = {
            let mut local = lock(&self.local);
            let members = local.rooms.entry(room.to_owned()).or_default();
            members.insert(id);
            members.len() == 1
        };
        if first {
            let (done, subscribed) = oneshot::channel();
            if self
                .subscriptions
                .send(Subscription::Join(room.to_owned(), done))
                .is_ok()
            {
                // Answered once subscribed. If Redis is away, the room is subscribed with
                // the others when it is back; this waits no longer than a command may.
                let _ = tokio::time::timeout(self.command_timeout, subscribed).await;
            }
        }
    }

    /// Takes local player `id` out of `room`.
    pub fn leave_room(&self, room: &str, id: ConnectionId) {
        let emptied = {
            let mut local = lock(&self.local);
            let Some(members) = local.rooms.get_mut(room) else {
                return;
            };
            members.remove(&id);
            let emptied = members.is_empty();
            if emptied {
                local.rooms.remove(room);
            }
            emptied
        };
        if emptied {
            let _ = self
                .subscriptions
                .send(Subscription::Leave(room.to_owned()));
        }
    }

    /// Sends `frame` to every member of `room`, on every node: this node's at once, the
    /// others' through one publish.
    ///
    /// # Errors
    ///
    /// If Redis fails the publish (the local members have it anyway).
    pub async fn send_to_room(&self, room: &str, frame: &Frame) -> Result<(), ClusterError> {
        to_room_members(&self.local, &*self.players, room, frame);
        self.publish(
            &Channels::room_of(self.node.prefix(), room),
            envelope::from_node(self.node.id(), payload(frame)),
        )
        .await
    }

    /// Publishes through the node's publisher (in order with everything else this node
    /// sends), waiting for room, and for Redis's answer.
    async fn publish(&self, channel: &str, data: Vec<u8>) -> Result<(), ClusterError> {
        let (done, answer) = oneshot::channel();
        let op = Op::Publish {
            channel: channel.to_owned(),
            data,
            done: Some(done),
        };
        let gone = || ClusterError::Config("the cluster's publisher has stopped".to_owned());
        self.publisher.send(op).await.map_err(|_| gone())?;
        match answer.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(why)) => Err(ClusterError::Publish { why }),
            Err(_) => Err(gone()),
        }
    }

    /// A handle for sending from a game loop: it never waits (see [`ClusterHandle`]).
    pub fn handle(&self) -> ClusterHandle {
        ClusterHandle {
            inbox: self.inbox.clone(),
            id: self.node.id().to_owned(),
            prefix: self.node.prefix().to_owned(),
            players: self.players.clone(),
            local: self.local.clone(),
            publisher: self.publisher.clone(),
            kept: self.reliable.kept.clone(),
            max_unacked: self.max_unacked,
        }
    }

    /// Leaves the cluster (see [`Node::leave`]); what was sent before goes out first,
    /// and messages to other nodes' game loops are given
    /// [`command_timeout`](ClusterConfig::command_timeout) to be acknowledged.
    ///
    /// # Errors
    ///
    /// As [`Node::leave`].
    pub async fn leave(self) -> Result<(), ClusterError> {
        // An empty publish after everything sent: answered once they are out.
        let _ = self
            .publish(&format!("{}:flush", self.node.prefix()), Vec::new())
            .await;
        // The acknowledgements come through the subscription: it stays up meanwhile.
        let mut settled = self.reliable.settled.subscribe();
        let _ =
            tokio::time::timeout(self.command_timeout, settled.wait_for(|kept| *kept == 0)).await;
        self.subscriber.abort();
        self.node.leave_now().await
    }
}

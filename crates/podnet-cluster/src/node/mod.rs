//! A node: its entry in the registry, its heartbeat, and the names it holds.
//!
//! The [`Node`] is here; its heartbeat task is in `beat`, and the Lua scripts that keep
//! its entries atomic in `scripts`.

mod beat;
mod scripts;

use beat::Beat;
use scripts::{BOOK, CLAIM, HEARTBEAT, LEAVE, RELEASE, WAIT_IN_QUEUE};

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};

use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::config::ClusterConfig;
use crate::error::ClusterError;
use crate::keys::Keys;

/// A player waiting in a cluster-wide queue ([`Node::wait_in_queue`]): where they are
/// connected, their name, and which of their waits this is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QueueEntry {
    /// The node the player is connected to.
    pub node: String,
    /// Their connection on that node.
    pub id: podnet_transport::ConnectionId,
    /// Their name.
    pub name: String,
    /// Which wait of this player it is (its node numbers them): an entry taken into a
    /// group is not queued again with the same ticket, so a player is placed once per
    /// wait however often its node queues it (after an outage, say).
    pub ticket: u64,
}

impl QueueEntry {
    /// How it is kept in Redis: `{node}\n{connection}\n{ticket}\n{name}` (node ids and
    /// names have no control characters).
    fn encode(&self) -> String {
        format!(
            "{}\n{}\n{}\n{}",
            self.node,
            self.id.get(),
            self.ticket,
            self.name
        )
    }

    /// Reads an entry back; `None` for anything malformed.
    fn decode(entry: &str) -> Option<QueueEntry> {
        let mut parts = entry.splitn(4, '\n');
        let node = parts.next()?.to_owned();
        let id = parts.next()?.parse().ok()?;
        let ticket = parts.next()?.parse().ok()?;
        let name = parts.next()?.to_owned();
        Some(QueueEntry {
            node,
            id: podnet_transport::ConnectionId::from_raw(id),
            name,
            ticket,
        })
    }
}

/// How many TTLs an entry taken into a group is remembered (and refused if queued
/// again): longer than an outage a node lives through.
const TAKEN_TTLS: u32 = 12;

/// The longest node id.
const MAX_NODE_ID: usize = 64;

/// Whether a node has its cluster: `Healthy` while Redis answers its heartbeat (the
/// registry, names and messaging work); `Degraded { why }` while it does not (stopped,
/// restarting, unreachable): the node keeps serving its own players, cluster calls fail
/// until it is back, and then the node registers again and claims its players' names
/// again by itself. The server's own type: a [`Cluster`](crate::Cluster) reports it to
/// its server, for `/readyz` and `/metrics`.
pub use podnet_transport::Health;

/// What the node and its heartbeat share.
struct Shared {
    load: Mutex<Load>,
    /// The names this node holds (lowercase), to claim again after Redis comes back.
    held: Mutex<BTreeSet<String>>,
    /// Names it held and lost, until taken.
    lost: Mutex<Vec<String>>,
    health: watch::Sender<Health>,
    /// Since when it has been healthy (`None` while degraded).
    healthy_since: Mutex<Option<std::time::Instant>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a node reports of itself in the registry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Load {
    /// Players connected to it.
    pub players: u64,
    /// Game sessions it runs.
    pub sessions: u64,
    /// Game sessions it has started since it joined, counting up. Each one settles a
    /// booking made on this node ([`Node::book_session`]): a booked session counts in
    /// [`NodeInfo::sessions`] until the heartbeat that reports it started.
    pub sessions_started: u64,
}

/// A live node, as the registry lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// Its name in the cluster.
    pub id: String,
    /// Players connected to it, at its last heartbeat.
    pub players: u64,
    /// Game sessions it runs, at its last heartbeat, and those booked on it that it has
    /// not reported started yet.
    pub sessions: u64,
}

/// This process's place in the cluster: its registry entry, kept alive by a heartbeat
/// task (on the tokio runtime that called [`join`](Self::join)), and the player names it
/// holds.
///
/// [`leave`](Self::leave) removes the node and frees its names at once. Dropping a node
/// without leaving stops its heartbeat, which is what a crash looks like from Redis: its
/// entry and its names expire within [`ClusterConfig::ttl`].
pub struct Node {
    id: String,
    conn: ConnectionManager,
    keys: Keys,
    config: ClusterConfig,
    shared: Arc<Shared>,
    heartbeat: JoinHandle<()>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.id)
            .field("prefix", &self.config.prefix)
            .finish_non_exhaustive()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn random_id() -> String {
    let mut bytes = [0u8; 8];
    // No supported OS lacks a random source; a fixed id would only risk a clash.
    let _ = getrandom::fill(&mut bytes);
    format!("{:016x}", u64::from_le_bytes(bytes))
}

impl Node {
    /// Connects to Redis, registers this node, and starts its heartbeat.
    ///
    /// # Errors
    ///
    /// A bad URL, a Redis that cannot be reached, or a heartbeat not under the TTL.
    pub async fn join(config: ClusterConfig) -> Result<Node, ClusterError> {
        if let Some(id) = &config.node {
            if id.is_empty()
                || id.len() > MAX_NODE_ID
                || id.chars().any(|c| c.is_control() || c.is_whitespace())
            {
                return Err(ClusterError::Config(format!(
                    "the node id {id:?} must be 1 to {MAX_NODE_ID} bytes, without spaces or \
                     control characters"
                )));
            }
        }
        if config.heartbeat.is_zero() || config.heartbeat >= config.ttl {
            return Err(ClusterError::Config(format!(
                "the heartbeat ({:?}) must be under the TTL ({:?}), a third of it or less, so \
                 that a live node never expires",
                config.heartbeat, config.ttl
            )));
        }
        let client =
            redis::Client::open(config.url.as_str()).map_err(|source| ClusterError::BadUrl {
                url: config.url.clone(),
                source,
            })?;
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.command_timeout))
            .set_response_timeout(Some(config.command_timeout))
            .set_number_of_retries(1);
        let conn = ConnectionManager::new_with_config(client, manager)
            .await
            .map_err(|source| ClusterError::Connect {
                url: config.url.clone(),
                source,
            })?;
        let id = config.node.clone().unwrap_or_else(random_id);
        let keys = Keys::new(&config.prefix);
        let shared = Arc::new(Shared {
            load: Mutex::new(Load::default()),
            held: Mutex::new(BTreeSet::new()),
            lost: Mutex::new(Vec::new()),
            health: watch::Sender::new(Health::Healthy),
            healthy_since: Mutex::new(Some(std::time::Instant::now())),
        });
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, millis);
        let beat = Beat {
            conn: conn.clone(),
            keys: keys.clone(),
            id: id.clone(),
            config: config.clone(),
            shared: shared.clone(),
            started,
        };
        // Registered before join returns: others see this node at once.
        let _ = beat.once().await?;
        let heartbeat = tokio::spawn(beat.run());
        debug!(node = %id, "joined the cluster");
        Ok(Node {
            id,
            conn,
            keys,
            config,
            shared,
            heartbeat,
        })
    }

    /// This node's name in the cluster.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The settings it joined with.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// The prefix of its keys and channels.
    pub(crate) fn prefix(&self) -> &str {
        &self.config.prefix
    }

    /// Its Redis connection (multiplexed: clones share it, so commands go out in order).
    pub(crate) fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// What the next heartbeat reports of this node.
    pub fn set_load(&self, load: Load) {
        *lock(&self.shared.load) = load;
    }

    /// Whether Redis answers this node's heartbeat.
    pub fn health(&self) -> Health {
        self.shared.health.borrow().clone()
    }

    /// Since when the node has been [`Healthy`](Health::Healthy) (`None` while it is
    /// degraded). Right after an outage the registry may lack live nodes (Redis came back
    /// empty, and not every node's heartbeat has registered it again): a list of nodes
    /// asked for less than a [`ttl`](ClusterConfig::ttl) after this says nothing of
    /// which nodes died.
    pub fn healthy_since(&self) -> Option<std::time::Instant> {
        *lock(&self.shared.healthy_since)
    }

    /// Changes of [`health`](Self::health), to wait on (a status line, an alert).
    pub fn watch_health(&self) -> watch::Receiver<Health> {
        self.shared.health.subscribe()
    }

    /// The live nodes, this one included, in no particular order.
    ///
    /// # Errors
    ///
    /// If Redis fails the command.
    pub async fn nodes(&self) -> Result<Vec<NodeInfo>, ClusterError> {
        let mut conn = self.conn.clone();
        let pattern = self.keys.node_pattern();
        let mut cursor = 0u64;
        let mut keys = Vec::new();
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(100)
                .query_async(&mut conn)
                .await?;
            keys.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        let mut nodes = Vec::with_capacity(keys.len());
        for key in keys {
            let Some(id) = self.keys.node_id(&key) else {
                continue;
            };
            let (players, sessions, booked): (Option<u64>, Option<u64>, Option<u64>) =
                redis::cmd("HMGET")
                    .arg(&key)
                    .arg("players")
                    .arg("sessions")
                    .arg("booked")
                    .query_async(&mut conn)
                    .await?;
            // Expired between the scan and now: not live.
            if let (Some(players), Some(sessions)) = (players, sessions) {
                nodes.push(NodeInfo {
                    id: id.to_owned(),
                    players,
                    sessions: sessions.saturating_add(booked.unwrap_or(0)),
                });
            }
        }
        Ok(nodes)
    }

    /// Claims `name` for a player of this node, cluster-wide: true if it was free (it is
    /// this node's now), false if any node holds it. Names compare ignoring case. Atomic:
    /// of any number of simultaneous claims on any nodes, exactly one wins.
    ///
    /// # Errors
    ///
    /// If Redis fails the command; the name is then not claimed.
    pub async fn claim_name(&self, name: &str) -> Result<bool, ClusterError> {
        let mut conn = self.conn.clone();
        let claimed: i64 = Script::new(CLAIM)
            .key(self.keys.name(name))
            .key(self.keys.names_of(&self.id))
            .arg(&self.id)
            .arg(millis(self.config.ttl))
            .arg(name.to_lowercase())
            .invoke_async(&mut conn)
            .await?;
        if claimed == 1 {
            lock(&self.shared.held).insert(name.to_lowercase());
        }
        Ok(claimed == 1)
    }

    /// Frees `name` if this node holds it; returns whether it did.
    ///
    /// # Errors
    ///
    /// If Redis fails the command; the name then expires with the TTL unless this node's
    /// heartbeat still holds it (release it again).
    pub async fn release_name(&self, name: &str) -> Result<bool, ClusterError> {
        lock(&self.shared.held).remove(&name.to_lowercase());
        let mut conn = self.conn.clone();
        let released: i64 = Script::new(RELEASE)
            .key(self.keys.name(name))
            .key(self.keys.names_of(&self.id))
            .arg(&self.id)
            .arg(name.to_lowercase())
            .invoke_async(&mut conn)
            .await?;
        Ok(released == 1)
    }

    /// The node holding `name`, if any.
    ///
    /// # Errors
    ///
    /// If Redis fails the command.
    pub async fn holder(&self, name: &str) -> Result<Option<String>, ClusterError> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("GET")
            .arg(self.keys.name(name))
            .query_async(&mut conn)
            .await?)
    }

    /// Puts `entry` at the back of the cluster-wide queue `queue` (once: an entry already
    /// there keeps its place); if that makes `group`
    /// players waiting (on live nodes), takes the first `group` of them out and returns
    /// them, in arrival order: the caller forms that group. Atomic across nodes: every
    /// group is formed once. A dead node's entries are dropped when they reach the head.
    ///
    /// # Errors
    ///
    /// If Redis fails the command; the entry may or may not be queued then (remove it
    /// with [`leave_queue`](Self::leave_queue) to be sure).
    pub async fn wait_in_queue(
        &self,
        queue: &str,
        entry: &QueueEntry,
        group: usize,
    ) -> Result<Option<Vec<QueueEntry>>, ClusterError> {
        let mut conn = self.conn.clone();
        let taken: Vec<String> = Script::new(WAIT_IN_QUEUE)
            .key(self.keys.queue(queue))
            .arg(entry.encode())
            .arg(group.max(1))
            .arg(self.keys.node(""))
            .arg(&self.id)
            .arg(self.keys.taken(queue, ""))
            .arg(millis(self.config.ttl * TAKEN_TTLS))
            .invoke_async(&mut conn)
            .await?;
        if taken.is_empty() {
            return Ok(None);
        }
        Ok(Some(
            taken.iter().filter_map(|e| QueueEntry::decode(e)).collect(),
        ))
    }

    /// Takes `entry` out of queue `queue` (a player who left while waiting); true if it
    /// was there.
    ///
    /// # Errors
    ///
    /// If Redis fails the command.
    pub async fn leave_queue(&self, queue: &str, entry: &QueueEntry) -> Result<bool, ClusterError> {
        let mut conn = self.conn.clone();
        let removed: i64 = redis::cmd("LREM")
            .arg(self.keys.queue(queue))
            .arg(0)
            .arg(entry.encode())
            .query_async(&mut conn)
            .await?;
        Ok(removed > 0)
    }

    /// The live node with the fewest sessions (then the fewest players, then the lowest
    /// id), with one more session booked on it at once: the booking counts in its
    /// sessions until its heartbeat reports the session started, so that groups formed
    /// meanwhile spread too. This node if the registry is empty.
    ///
    /// # Errors
    ///
    /// If Redis fails a command.
    pub async fn book_session(&self) -> Result<String, ClusterError> {
        let nodes = self.nodes().await?;
        let Some(best) = nodes
            .iter()
            .min_by(|a, b| (a.sessions, a.players, &a.id).cmp(&(b.sessions, b.players, &b.id)))
        else {
            return Ok(self.id.clone());
        };
        let mut conn = self.conn.clone();
        let _: i64 = Script::new(BOOK)
            .key(self.keys.node(&best.id))
            .invoke_async(&mut conn)
            .await?;
        Ok(best.id.clone())
    }

    /// Names this node held that its heartbeat found expired (the node was not heard
    /// from for longer than the TTL: Redis was unreachable, or the process stalled);
    /// another node may hold them now. Taken: each is reported once.
    pub fn take_lost_names(&self) -> Vec<String> {
        std::mem::take(&mut *lock(&self.shared.lost))
    }

    /// Leaves the cluster: the node's entry and every name it holds are gone at once.
    ///
    /// # Errors
    ///
    /// If Redis fails the command; everything then expires within the TTL.
    pub async fn leave(self) -> Result<(), ClusterError> {
        self.leave_now().await
    }

    /// What [`leave`](Self::leave) does, for a node owned by something else.
    pub(crate) async fn leave_now(&self) -> Result<(), ClusterError> {
        self.heartbeat.abort();
        let mut conn = self.conn.clone();
        let _: i64 = Script::new(LEAVE)
            .key(self.keys.node(&self.id))
            .key(self.keys.names_of(&self.id))
            .arg(&self.id)
            .arg(self.keys.name(""))
            .invoke_async(&mut conn)
            .await?;
        debug!(node = %self.id, "left the cluster");
        Ok(())
    }
}

//! The lobby across nodes, sans-IO: what a lobby in cluster mode asks of its cluster
//! ([`ClusterRequest`]), what nodes' lobbies tell each other (the `lobby:` messages), and
//! the outbox that sends to a visitor through its own node.
//!
//! A player plays where they are connected (their *home* node); a session runs on one
//! node (the *session* node), and a player of another node sits in it as a *visitor*: the
//! session node sends to the visitor through the home node, the home node passes on what
//! the player sends. Per pair of nodes, Redis keeps the order; so does each lobby.
//!
//! ```text
//! home node H                        session node A
//!   player logs in, waits  ── queue (Redis) ──▶ a node forms the group, books A
//!                          ◀── lobby:placed ──  (before anything else of the session)
//!   GameStart, game frames ◀── lobby:deliver ── the game sends to the visitor
//!   the player's messages  ─── lobby:input  ──▶ the game's handlers
//!   drop / resume / leave  ─── lobby:away, lobby:left ──▶ on_dropped / on_resumed / on_leave
//!   back to the lobby      ◀── lobby:returned ─ session over (GameOver went first)
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use podnet_framing::Frame;
use podnet_framing::{FramingConfig, Message};
use podnet_proto::ConnectionId;
use serde::{Deserialize, Serialize};

use crate::outbox::Outbox;
use crate::session::Seat;

/// A player waiting in the cluster-wide queue: where they are connected, their name, and
/// which of their waits this is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Waiter {
    /// Their home node.
    pub node: String,
    /// Their connection there.
    pub id: ConnectionId,
    /// Their name.
    pub name: String,
    /// Which wait it is (numbered by the home node): queued again with the same ticket
    /// (after an outage), a player already taken into a group is not queued twice.
    pub ticket: u64,
}

/// What a lobby in cluster mode needs its cluster to do; a driver takes these with
/// [`Lobby::take_cluster_requests`](crate::Lobby::take_cluster_requests) and answers with
/// the lobby's cluster calls. In the order they are taken.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClusterRequest {
    /// Claim `name` cluster-wide for local connection `id`; answer with
    /// [`Lobby::claimed`](crate::Lobby::claimed).
    Claim {
        /// The connection logging in.
        id: ConnectionId,
        /// The name it asked for (already valid, and free on this node).
        name: String,
    },
    /// Put this player in the cluster's waiting queue; if that forms a group, book the
    /// least loaded node and send it [`start`](start_frame).
    Enqueue(Waiter),
    /// Take this player out of the waiting queue.
    Dequeue(Waiter),
    /// Send this frame to node `node`'s lobby (this node included).
    ToNode {
        /// The node.
        node: String,
        /// A `lobby:` message.
        frame: Frame,
    },
}

/// A seat in a cluster group: who, and on which node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Member {
    pub node: String,
    pub conn: u64,
    pub name: String,
}

/// Node → session node: start a session for this group, in seat order.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Start {
    pub group: Vec<Member>,
}
impl Message for Start {
    const ACTION: &'static str = "lobby:start";
}

/// Session node → home node: your player `conn` sits at `seat` of `session` here.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Placed {
    pub session: u64,
    pub seat: usize,
    pub conn: u64,
}
impl Message for Placed {
    const ACTION: &'static str = "lobby:placed";
}

/// Session node → home node: pass `message` (a msgpack map) on to your player `conn`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Deliver {
    pub session: u64,
    pub conn: u64,
    #[serde(with = "serde_bytes")]
    pub message: Vec<u8>,
}
impl Message for Deliver {
    const ACTION: &'static str = "lobby:deliver";
}

/// Session node → home node: `session` is over for your player `conn` (its `GameOver`
/// went first): back to your lobby.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Returned {
    pub session: u64,
    pub conn: u64,
}
impl Message for Returned {
    const ACTION: &'static str = "lobby:returned";
}

/// Home node → session node: the player at `seat` of `session` sent `message`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Input {
    pub session: u64,
    pub seat: usize,
    #[serde(with = "serde_bytes")]
    pub message: Vec<u8>,
}
impl Message for Input {
    const ACTION: &'static str = "lobby:input";
}

/// Home node → session node: the player at `seat` of `session` is gone (disconnected,
/// or was not there any more when placed).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Left {
    pub session: u64,
    pub seat: usize,
}
impl Message for Left {
    const ACTION: &'static str = "lobby:left";
}

/// Home node → session node: the player at `seat` of `session` dropped (`away`), or
/// resumed.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Away {
    pub session: u64,
    pub seat: usize,
    pub away: bool,
}
impl Message for Away {
    const ACTION: &'static str = "lobby:away";
}

/// The frame of a [`ClusterRequest::Enqueue`]'s group, for the node booked to run it.
///
/// # Errors
///
/// If it does not encode (a group too large for one message).
pub fn start_frame(group: &[Waiter]) -> Result<Frame, podnet_framing::FramingError> {
    let group = group
        .iter()
        .map(|w| Member {
            node: w.node.clone(),
            conn: w.id.get(),
            name: w.name.clone(),
        })
        .collect();
    Frame::encode(&Start { group }, &FramingConfig::default())
}

/// A visitor: a player of another node seated in a session here.
#[derive(Debug, Clone)]
pub(crate) struct Visitor {
    pub node: String,
    pub conn: ConnectionId,
    pub session: u64,
    pub seat: Seat,
    /// When it sat down: a list of live nodes asked for before then says nothing of it.
    pub since: Instant,
}

/// What the routed outbox shares with the lobby: the visitors by their ids here, and the
/// requests made so far.
#[derive(Debug, Default)]
pub(crate) struct Routes {
    pub visitors: HashMap<ConnectionId, Visitor>,
    pub requests: Vec<ClusterRequest>,
}

/// Visitor ids have the top bit set: a server's connection ids never do.
pub(crate) const VISITOR_BIT: u64 = 1 << 63;

/// The lobby's cluster side.
#[derive(Debug)]
pub(crate) struct ClusterSide {
    /// This node's id.
    pub node: String,
    pub routes: Arc<Mutex<Routes>>,
    pub next_visitor: u64,
    /// This node's players seated on other nodes, by connection.
    pub elsewhere: HashMap<ConnectionId, Elsewhere>,
    /// Players of a session that ended as it started: queued again with the next
    /// arrival on this node (so such a game cannot loop through the cluster).
    pub held_back: Vec<ConnectionId>,
    /// Names claimed on this node, waiting for the cluster's answer, by connection.
    pub pending: HashMap<ConnectionId, crate::names::Name>,
    /// The ticket of each local player's current wait.
    pub tickets: HashMap<ConnectionId, u64>,
    pub next_ticket: u64,
}

/// A local player seated in a session on another node.
#[derive(Debug)]
pub(crate) struct Elsewhere {
    pub player: crate::names::Player,
    pub node: String,
    pub session: u64,
    pub seat: Seat,
    pub since: Instant,
}

pub(crate) fn lock(routes: &Mutex<Routes>) -> MutexGuard<'_, Routes> {
    routes.lock().unwrap_or_else(|e| e.into_inner())
}

impl ClusterSide {
    pub(crate) fn new(node: String) -> Self {
        Self {
            node,
            routes: Arc::default(),
            next_visitor: 1,
            elsewhere: HashMap::new(),
            held_back: Vec::new(),
            pending: HashMap::new(),
            tickets: HashMap::new(),
            next_ticket: 1,
        }
    }

    pub(crate) fn request(&self, request: ClusterRequest) {
        lock(&self.routes).requests.push(request);
    }

    /// Sends a `lobby:` message to `node`'s lobby.
    pub(crate) fn to_node<M: Message + Serialize>(&self, node: &str, msg: &M) {
        match Frame::encode(msg, &FramingConfig::default()) {
            Ok(frame) => self.request(ClusterRequest::ToNode {
                node: node.to_owned(),
                frame,
            }),
            Err(err) => tracing::warn!(node, action = M::ACTION, %err, "lobby message not sent"),
        }
    }

    /// `player` in the queue, for its current wait.
    pub(crate) fn waiter(&self, player: &crate::names::Player) -> Waiter {
        Waiter {
            node: self.node.clone(),
            id: player.id(),
            name: player.name().to_owned(),
            ticket: self.tickets.get(&player.id()).copied().unwrap_or(0),
        }
    }

    /// `player` in the queue, for a new wait.
    pub(crate) fn new_wait(&mut self, player: &crate::names::Player) -> Waiter {
        self.tickets.insert(player.id(), self.next_ticket);
        self.next_ticket += 1;
        self.waiter(player)
    }
}

/// The outbox a clustered lobby's sessions send through: to a visitor, through its home
/// node; to anyone else, as the server's.
pub(crate) struct Routed<'a> {
    pub out: &'a dyn Outbox,
    pub routes: Option<Arc<Mutex<Routes>>>,
}

impl Outbox for Routed<'_> {
    fn send_frame(&self, id: ConnectionId, frame: &Frame) -> bool {
        if id.get() & VISITOR_BIT == 0 {
            return self.out.send_frame(id, frame);
        }
        let Some(routes) = &self.routes else {
            return false;
        };
        let mut routes = lock(routes);
        let Some(visitor) = routes.visitors.get(&id) else {
            return false;
        };
        let bytes = frame.as_bytes();
        let deliver = Deliver {
            session: visitor.session,
            conn: visitor.conn.get(),
            message: bytes[4.min(bytes.len())..].to_vec(),
        };
        let node = visitor.node.clone();
        match Frame::encode(&deliver, &FramingConfig::default()) {
            Ok(frame) => {
                routes.requests.push(ClusterRequest::ToNode { node, frame });
                true
            }
            Err(err) => {
                tracing::warn!(%err, "a message to a visitor not sent");
                false
            }
        }
    }

    /// Every player connected here (visitors are other nodes' players).
    fn send_frame_to_all(&self, frame: &Frame) -> usize {
        self.out.send_frame_to_all(frame)
    }

    fn close(&self, id: ConnectionId, reason: &str) -> bool {
        id.get() & VISITOR_BIT == 0 && self.out.close(id, reason)
    }

    fn stop_accepting(&self) {
        self.out.stop_accepting();
    }

    fn framing(&self) -> &FramingConfig {
        self.out.framing()
    }
}

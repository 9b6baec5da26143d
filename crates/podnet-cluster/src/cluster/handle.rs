//! Sending to the cluster from a game loop, without waiting.

use super::*;

/// Sends to the cluster from a game loop (a `pump()` thread, a handler): every call
/// delivers to this node's players at once and hands the publish to the node's publisher
/// without waiting. In order with everything else the node sends. Past
/// [`ClusterConfig::max_pending`] waiting publishes a send is refused
/// ([`ClusterError::Backlog`]) rather than kept without bound. Cheap to clone; `Send`.
#[derive(Clone)]
pub struct ClusterHandle {
    pub(super) inbox: mpsc::Sender<NodeMessage>,
    pub(super) id: String,
    pub(super) prefix: String,
    pub(super) players: Arc<dyn LocalPlayers>,
    pub(super) local: Arc<Mutex<Local>>,
    pub(super) publisher: mpsc::Sender<Op>,
    pub(super) kept: Arc<AtomicUsize>,
    pub(super) max_unacked: usize,
}

impl std::fmt::Debug for ClusterHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterHandle")
            .field("node", &self.id)
            .finish_non_exhaustive()
    }
}

impl ClusterHandle {
    fn hand_over(&self, op: Op) -> Result<(), ClusterError> {
        self.publisher.try_send(op).map_err(|err| match err {
            mpsc::error::TrySendError::Full(_) => ClusterError::Backlog {
                pending: self.publisher.max_capacity(),
            },
            mpsc::error::TrySendError::Closed(_) => {
                ClusterError::Config("the cluster's publisher has stopped".to_owned())
            }
        })
    }

    /// This node's id.
    pub fn node(&self) -> &str {
        &self.id
    }

    /// As [`Cluster::send_to`], without waiting.
    ///
    /// # Errors
    ///
    /// [`ClusterError::Backlog`] past `max_pending`.
    pub fn send_to(&self, node: &str, id: ConnectionId, frame: &Frame) -> Result<(), ClusterError> {
        if node == self.id {
            self.players.send_frame(id, frame);
            return Ok(());
        }
        self.hand_over(Op::Publish {
            channel: Channels::direct_of(&self.prefix, node),
            data: envelope::direct(&To::Connection(id), payload(frame)),
            done: None,
        })
    }

    /// Sends `frame` to node `node`'s game loop (what it reads from
    /// [`Cluster::take_node_messages`]), this node included, without waiting. In order
    /// with everything else this node sends to `node`, and exactly once: kept and sent
    /// again until `node` acknowledges it, through Redis restarts and lost
    /// subscriptions, for [`ClusterConfig::resend_for`](crate::ClusterConfig) at most
    /// (then counted in [`Cluster::lost`]).
    ///
    /// # Errors
    ///
    /// [`ClusterError::Backlog`] past `max_pending` (or when this node's own inbox is
    /// full); [`ClusterError::Unacknowledged`] past `max_unacked` messages not yet
    /// acknowledged.
    pub fn send_to_node(&self, node: &str, frame: &Frame) -> Result<(), ClusterError> {
        if node == self.id {
            if to_own_inbox(&self.inbox, &self.id, frame) {
                return Ok(());
            }
            return Err(ClusterError::Backlog {
                pending: self.inbox.max_capacity(),
            });
        }
        if self.kept.fetch_add(1, Ordering::Relaxed) >= self.max_unacked {
            self.kept.fetch_sub(1, Ordering::Relaxed);
            return Err(ClusterError::Unacknowledged {
                kept: self.max_unacked,
            });
        }
        let sent = self.hand_over(Op::ToNode {
            to: node.to_owned(),
            payload: bytes::Bytes::copy_from_slice(payload(frame)),
        });
        if sent.is_err() {
            self.kept.fetch_sub(1, Ordering::Relaxed);
        }
        sent
    }

    /// As [`Cluster::send_to_name`], without waiting: a name no node holds is dropped.
    ///
    /// # Errors
    ///
    /// [`ClusterError::Backlog`] past `max_pending`.
    pub fn send_to_name(&self, name: &str, frame: &Frame) -> Result<(), ClusterError> {
        let name = name.to_lowercase();
        let local = lock(&self.local).names.get(&name).copied();
        if let Some(id) = local {
            self.players.send_frame(id, frame);
            return Ok(());
        }
        self.hand_over(Op::ToName {
            name_key: format!("{}:name:{name}", self.prefix),
            prefix: self.prefix.clone(),
            data: envelope::direct(&To::Name(name), payload(frame)),
            done: None,
        })
    }

    /// As [`Cluster::send_to_all`], without waiting; returns how many local players it
    /// reached.
    ///
    /// # Errors
    ///
    /// [`ClusterError::Backlog`] past `max_pending` (the local players have it anyway).
    pub fn send_to_all(&self, frame: &Frame) -> Result<usize, ClusterError> {
        let reached = self.players.send_frame_to_all(frame);
        self.hand_over(Op::Publish {
            channel: Channels::all_of(&self.prefix),
            data: envelope::from_node(&self.id, payload(frame)),
            done: None,
        })?;
        Ok(reached)
    }

    /// As [`Cluster::send_to_room`], without waiting.
    ///
    /// # Errors
    ///
    /// [`ClusterError::Backlog`] past `max_pending` (the local members have it anyway).
    pub fn send_to_room(&self, room: &str, frame: &Frame) -> Result<(), ClusterError> {
        to_room_members(&self.local, &*self.players, room, frame);
        self.hand_over(Op::Publish {
            channel: Channels::room_of(&self.prefix, room),
            data: envelope::from_node(&self.id, payload(frame)),
            done: None,
        })
    }
}

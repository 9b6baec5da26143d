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
    /// with everything else this node sends to `node`.
    ///
    /// # Errors
    ///
    /// [`ClusterError::Backlog`] past `max_pending` (or when this node's own inbox is
    /// full).
    pub fn send_to_node(&self, node: &str, frame: &Frame) -> Result<(), ClusterError> {
        if node == self.id {
            if to_own_inbox(&self.inbox, &self.id, frame) {
                return Ok(());
            }
            return Err(ClusterError::Backlog {
                pending: self.inbox.max_capacity(),
            });
        }
        self.hand_over(Op::Publish {
            channel: Channels::direct_of(&self.prefix, node),
            data: envelope::direct(
                &To::Node {
                    from: self.id.clone(),
                },
                payload(frame),
            ),
            done: None,
        })
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

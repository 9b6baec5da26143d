//! The server's side: a state, the players following it, and what each view of it last
//! looked like, so that each tick sends each view only what changed.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use podnet_framing::{Frame, FramingConfig, RawMessage};
use podnet_proto::{ConnectionId, Outbox};
use serde::Serialize;

use crate::raw::{RawOp, diff, write_ops};
use crate::{FULL, PATCH, StateError, encode};

/// How a [`Replicated`] state goes out.
///
/// ```
/// let config = podnet_state::StateConfig::default();
/// assert_eq!(config.patch_every, std::time::Duration::from_millis(50));
/// assert_eq!(config.name, "state");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StateConfig {
    /// How often [`Replicated::poll`] sends what changed: the patch rate.
    ///
    /// Default: **50 ms** (20 patches a second).
    pub patch_every: Duration,
    /// The state's name in its messages, so that a client can follow several.
    ///
    /// Default: **`state`**.
    pub name: String,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            patch_every: Duration::from_millis(50),
            name: "state".to_owned(),
        }
    }
}

/// Turns the state into what one view may see (see [`Replicated::with_views`]).
type Projection<S, K> = Box<dyn Fn(&S, &K) -> Result<Vec<u8>, StateError> + Send>;

/// What a view was last sent: the state its players have, as msgpack.
struct ViewState {
    sent: Vec<u8>,
}

/// One player following the state.
struct Follower<K> {
    view: K,
    /// It has the whole state of its view (else it gets it at the next send).
    whole: bool,
}

/// What one send did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sent {
    /// Messages encoded (one per view that changed, one per view with newcomers).
    pub encoded: usize,
    /// Messages sent (one per player who got something).
    pub sent: usize,
    /// Bytes sent, all players together.
    pub bytes: usize,
}

/// A state replicated to players: they get it whole when they start following, then, at
/// each send, one `state:patch` message with what changed since the last one. Each
/// player sees it through a *view* (by default everyone sees everything): what a view
/// does not show never reaches the player's socket, and what leaves it arrives as a
/// removal.
///
/// The state is any serde type, changed as ordinary Rust through
/// [`state_mut`](Self::state_mut); what changed is found by comparing each view with
/// what it was last sent. Each message is encoded once per view, whatever the number of
/// players seeing it.
///
/// ```
/// use podnet_state::{Replica, Replicated, StateConfig};
/// use serde::{Deserialize, Serialize};
/// use std::collections::BTreeMap;
///
/// #[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
/// struct Arena { players: BTreeMap<String, (i32, i32)> }
///
/// let mut room = Replicated::new(Arena::default(), StateConfig::default());
/// let ada = podnet_proto::ConnectionId::from_raw(1);
/// room.follow(ada);
/// room.state_mut().players.insert("ada".into(), (0, 0));
///
/// // The game loop sends what changed (here, to a stand-in for the server).
/// let mut wire = Vec::new();
/// room.send_each(|_id, frame| wire.push(frame.clone())).unwrap();
/// room.state_mut().players.insert("ada".into(), (1, 0));
/// room.send_each(|_id, frame| wire.push(frame.clone())).unwrap();
///
/// // The player's replica follows.
/// let mut replica = Replica::new("state");
/// for frame in &wire {
///     let msg = podnet_framing::RawMessage::parse(frame.as_bytes().slice(4..), &Default::default()).unwrap();
///     replica.apply(&msg).unwrap();
/// }
/// assert_eq!(replica.get::<Arena>().unwrap(), *room.state());
/// ```
pub struct Replicated<S, K = ()> {
    state: S,
    config: StateConfig,
    project: Projection<S, K>,
    views: HashMap<K, ViewState>,
    followers: HashMap<ConnectionId, Follower<K>>,
    next_send: Option<Instant>,
    framing: FramingConfig,
}

impl<S: Serialize + Send + 'static> Replicated<S> {
    /// `state`, seen whole by every player.
    pub fn new(state: S, config: StateConfig) -> Self {
        Replicated::with_views(state, config, |state: &S, (): &()| encode(state))
    }

    /// Starts sending the state to player `id` (whole at the next send).
    pub fn follow(&mut self, id: ConnectionId) {
        self.follow_as(id, ());
    }
}

impl<S, K: Eq + Hash + Clone> Replicated<S, K> {
    /// `state`, seen by each player through a view: `project` makes what a view shows,
    /// encoded with [`encode`](crate::encode) from any serde value (the state filtered, a
    /// map of what is near, a hand of cards).
    ///
    /// Players with the same view `K` get the same bytes, encoded once.
    pub fn with_views(
        state: S,
        config: StateConfig,
        project: impl Fn(&S, &K) -> Result<Vec<u8>, StateError> + Send + 'static,
    ) -> Self {
        Self {
            state,
            config,
            project: Box::new(project),
            views: HashMap::new(),
            followers: HashMap::new(),
            next_send: None,
            framing: FramingConfig::default(),
        }
    }

    /// The state.
    pub fn state(&self) -> &S {
        &self.state
    }

    /// The state, to change: what changed goes out at the next send.
    pub fn state_mut(&mut self) -> &mut S {
        &mut self.state
    }

    /// Starts sending player `id` the state through `view` (whole at the next send); a
    /// player who follows already changes view: they get their new view whole.
    pub fn follow_as(&mut self, id: ConnectionId, view: K) {
        self.followers.insert(id, Follower { view, whole: false });
    }

    /// Player `id` stops following (they left). A view nobody has any more is forgotten.
    pub fn unfollow(&mut self, id: ConnectionId) {
        if let Some(gone) = self.followers.remove(&id) {
            if !self.followers.values().any(|f| f.view == gone.view) {
                self.views.remove(&gone.view);
            }
        }
    }

    /// How many players follow.
    pub fn followers(&self) -> usize {
        self.followers.len()
    }

    /// Sends what changed if the patch rate says it is time (call it every frame).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn poll(&mut self, now: Instant, out: &dyn Outbox) -> Result<Sent, StateError> {
        if self.next_send.is_some_and(|at| now < at) {
            return Ok(Sent::default());
        }
        self.next_send = Some(now + self.config.patch_every);
        self.send(out)
    }

    /// Sends every player what changed in their view since their last message (and the
    /// whole view to new followers), now.
    ///
    /// # Errors
    ///
    /// If the state does not serialize, or a message is over the frame size limit.
    pub fn send(&mut self, out: &dyn Outbox) -> Result<Sent, StateError> {
        self.send_each(|id, frame| {
            out.send_frame(id, frame);
        })
    }

    /// As [`send`](Self::send), handing each player's message to `deliver`.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn send_each(
        &mut self,
        mut deliver: impl FnMut(ConnectionId, &Frame),
    ) -> Result<Sent, StateError> {
        let mut sent = Sent::default();
        // The views someone has, each projected once.
        let mut by_view: HashMap<K, (Vec<ConnectionId>, Vec<ConnectionId>)> = HashMap::new();
        for (id, follower) in &self.followers {
            let (whole, patched) = by_view.entry(follower.view.clone()).or_default();
            if follower.whole {
                patched.push(*id);
            } else {
                whole.push(*id);
            }
        }
        for (view, (whole, patched)) in by_view {
            let now = (self.project)(&self.state, &view)?;
            if !whole.is_empty() {
                let frame = self.message(FULL, "state", &now)?;
                sent.encoded += 1;
                for id in &whole {
                    deliver(*id, &frame);
                    sent.sent += 1;
                    sent.bytes += frame.as_bytes().len();
                    if let Some(f) = self.followers.get_mut(id) {
                        f.whole = true;
                    }
                }
            }
            if let Some(last) = self.views.get(&view) {
                if !patched.is_empty() && last.sent != now {
                    let mut ops: Vec<RawOp<'_>> = Vec::new();
                    diff(&last.sent, &now, &mut Vec::new(), &mut ops)?;
                    if !ops.is_empty() {
                        let mut encoded = Vec::with_capacity(now.len() / 2 + 16);
                        write_ops(&mut encoded, &ops);
                        let frame = self.message(PATCH, "ops", &encoded)?;
                        sent.encoded += 1;
                        for id in &patched {
                            deliver(*id, &frame);
                            sent.sent += 1;
                            sent.bytes += frame.as_bytes().len();
                        }
                    }
                }
            }
            self.views.insert(view, ViewState { sent: now });
        }
        Ok(sent)
    }

    /// `{action, name, field: value}` framed, `value` already msgpack.
    fn message(&self, action: &str, field: &str, value: &[u8]) -> Result<Frame, StateError> {
        let name = self.config.name.as_str();
        let mut payload = Vec::with_capacity(value.len() + name.len() + 32);
        payload.push(0x83);
        for text in ["action", action, "name", name, field] {
            crate::raw::value(&mut payload, &rmpv::Value::from(text));
        }
        payload.extend_from_slice(value);
        let msg = RawMessage::parse(payload.into(), &self.framing)?;
        Ok(Frame::from_message(&msg)?)
    }
}

//! The lobby's cluster calls: what other nodes' lobbies and the cluster tell it (see
//! `nodes.rs` for the messages and who sends which).

use std::collections::HashSet;
use std::time::Instant;

use podnet_framing::Frame;
use podnet_framing::{Message, RawMessage};
use podnet_proto::ConnectionId;

use super::{Lobby, Stage};
use crate::names::Player;
use crate::nodes::{
    Away, ClusterRequest, Deliver, Elsewhere, Input, Left, Placed, Returned, Start, VISITOR_BIT,
    Visitor,
};
use crate::outbox::{Outbox, send};
use crate::protocol::{GameOver, LoginRefused};
use crate::session::Game;

/// What a player seated on a node that stopped is told, in their `GameOver`.
pub(crate) const NODE_GONE: &str = "the server running this game stopped";

/// What a player is told whose own server seemed gone to the server running their game
/// (it lost touch with Redis for longer than the TTL), in their `GameOver`.
pub(crate) const CUT_OFF: &str = "the server running this game lost touch with yours";

impl<G: Game> Lobby<G> {
    /// The cluster's answer to a [`ClusterRequest::Claim`]: `Ok(true)` if the name is
    /// this player's cluster-wide, `Ok(false)` if another node's player holds it, `Err`
    /// with why if the cluster could not be asked. Returns whether the player took the
    /// name (false if they left meanwhile: the driver releases it).
    pub fn claimed(
        &mut self,
        id: ConnectionId,
        claimed: Result<bool, String>,
        out: &dyn Outbox,
    ) -> bool {
        let routed = self.routed(out);
        let out = &routed;
        let Some(Stage::Claiming { deadline }) = self.stages.get(&id).copied() else {
            return false;
        };
        let Some(name) = self.cluster.as_mut().and_then(|c| c.pending.remove(&id)) else {
            return false;
        };
        let reason = match claimed {
            Ok(true) => {
                tracing::debug!(%id, name = %name, "logged in (cluster-wide)");
                self.stages.insert(id, Stage::Waiting);
                self.join(vec![Player::new(id, name)], out);
                return true;
            }
            Ok(false) => "the name is taken".to_owned(),
            Err(why) => {
                format!("the name could not be checked with the other servers ({why}); try again")
            }
        };
        send(
            out,
            id,
            &LoginRefused {
                name: name.as_str().to_owned(),
                reason,
            },
        );
        if deadline <= Instant::now() {
            self.stages.insert(id, Stage::Closing);
            let timeout = self.config.login_timeout;
            out.close(id, &format!("no login within {timeout:?}"));
        } else {
            self.stages.insert(id, Stage::LoggingIn { deadline });
        }
        false
    }

    /// A `lobby:` message from node `from`'s lobby (what the cluster's node messages
    /// carry). Anything that does not fit what this lobby knows is dropped: a message for
    /// a session or player that is gone, or from a node that does not seat them.
    pub fn node_message(&mut self, from: &str, msg: &RawMessage, out: &dyn Outbox) {
        if self.cluster.is_none() {
            return;
        }
        let routed = self.routed(out);
        let out = &routed;
        let action = msg.action_bytes();
        let decoded = if action == Start::ACTION.as_bytes() {
            msg.decode().map(|start| self.start_here(start, out))
        } else if action == Placed::ACTION.as_bytes() {
            msg.decode().map(|placed| self.placed(from, placed, out))
        } else if action == Deliver::ACTION.as_bytes() {
            msg.decode()
                .map(|deliver| self.deliver(from, &deliver, out))
        } else if action == Returned::ACTION.as_bytes() {
            msg.decode()
                .map(|returned| self.returned(from, &returned, out))
        } else if action == Input::ACTION.as_bytes() {
            msg.decode().map(|input| self.input(from, &input, out))
        } else if action == Left::ACTION.as_bytes() {
            msg.decode().map(|left: Left| {
                self.visitor_event(from, left.session, left.seat, None, out);
            })
        } else if action == Away::ACTION.as_bytes() {
            msg.decode().map(|away: Away| {
                self.visitor_event(from, away.session, away.seat, Some(away.away), out);
            })
        } else {
            tracing::debug!(
                from,
                action = msg.action(),
                "an unknown lobby message dropped"
            );
            Ok(())
        };
        if let Err(err) = decoded {
            tracing::debug!(from, action = msg.action(), %err, "a bad lobby message dropped");
        }
    }

    /// The live nodes of the cluster, as listed from the registry when `asked_at`: this
    /// node's players seated on a node that is gone are told ([`GameOver`] with "the
    /// server running this game stopped") and go back to the lobby; visitors from a node
    /// that is gone leave their sessions here. Players seated after `asked_at` are left
    /// alone (the list may predate their node).
    ///
    /// A node taken for gone may only have lost touch with Redis for longer than the
    /// TTL: each side tells the other what it did (the session node hears its visitor
    /// left; the visitor's node gets their `GameOver` and has them back), so that if it
    /// is alive after all nobody waits for a game or a player that moved on.
    pub fn live_nodes(&mut self, live: &HashSet<String>, asked_at: Instant, out: &dyn Outbox) {
        let routed = self.routed(out);
        let out = &routed;
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        let gone: Vec<ConnectionId> = cluster
            .elsewhere
            .iter()
            .filter(|(_, e)| e.since < asked_at && !live.contains(&e.node))
            .map(|(id, _)| *id)
            .collect();
        let mut back = Vec::new();
        for id in gone {
            if let Some(away) = cluster.elsewhere.remove(&id) {
                tracing::info!(node = %away.node, session = away.session, player = away.player.name(),
                    "the node running this player's game is gone: back to the lobby");
                let over = GameOver {
                    session: away.session,
                    result: NODE_GONE.to_owned(),
                };
                send(out, id, &over);
                let left = Left {
                    session: away.session,
                    seat: away.seat,
                };
                cluster.to_node(&away.node, &left);
                back.push(away.player);
            }
        }
        let lost: Vec<(ConnectionId, Visitor)> = crate::nodes::lock(&cluster.routes)
            .visitors
            .iter()
            .filter(|(_, v)| v.since < asked_at && !live.contains(&v.node))
            .map(|(id, v)| (*id, v.clone()))
            .collect();
        for (id, visitor) in &lost {
            // Their game is over for them; their node has them back.
            let over = GameOver {
                session: visitor.session,
                result: CUT_OFF.to_owned(),
            };
            send(out, *id, &over);
            let returned = Returned {
                session: visitor.session,
                conn: visitor.conn.get(),
            };
            cluster.to_node(&visitor.node, &returned);
        }
        if !back.is_empty() {
            self.back_from_session(back, out);
        }
        for (_, visitor) in lost {
            self.visitor_event(&visitor.node, visitor.session, visitor.seat, None, out);
        }
    }

    /// The cluster is back after an outage (Redis restarted, and empty): every player
    /// waiting here is queued again (a queue that kept them is not doubled).
    pub fn cluster_back(&mut self, out: &dyn Outbox) {
        let _ = out;
        if let Some(cluster) = &self.cluster {
            for player in &self.waiting {
                cluster.request(ClusterRequest::Enqueue(cluster.waiter(player)));
            }
        }
    }

    /// Of `players` (handed back by a session), the visitors go back to their own node
    /// (whose lobby sends them on: the `GameOver` went first); the rest are returned.
    pub(super) fn send_visitors_home(&mut self, players: Vec<Player>) -> Vec<Player> {
        let Some(cluster) = &self.cluster else {
            return players;
        };
        let mut local = Vec::with_capacity(players.len());
        for player in players {
            if player.id().get() & VISITOR_BIT == 0 {
                local.push(player);
                continue;
            }
            let visitor = crate::nodes::lock(&cluster.routes)
                .visitors
                .remove(&player.id());
            if let Some(visitor) = visitor {
                let returned = Returned {
                    session: visitor.session,
                    conn: visitor.conn.get(),
                };
                cluster.to_node(&visitor.node, &returned);
            }
        }
        local
    }

    /// A group formed somewhere in the cluster, to play here.
    fn start_here(&mut self, start: Start, out: &dyn Outbox) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        if start.group.len() != self.config.group_size {
            tracing::warn!(
                size = start.group.len(),
                group_size = self.config.group_size,
                "a cluster group of the wrong size dropped: do all nodes have the same group size?"
            );
            return;
        }
        let session = self.sessions.next_number();
        let now = Instant::now();
        let mut seats = Vec::with_capacity(start.group.len());
        let mut names = Vec::with_capacity(start.group.len());
        for (seat, member) in start.group.into_iter().enumerate() {
            names.push(member.name.clone());
            if member.node == cluster.node {
                let id = ConnectionId::from_raw(member.conn);
                let at = self
                    .waiting
                    .iter()
                    .position(|p| p.id() == id && p.name() == member.name);
                let player = at.and_then(|at| self.waiting.remove(at));
                if let Some(player) = &player {
                    // As for a player placed on another node: its wait is over.
                    let waiter = cluster.waiter(player);
                    cluster.request(ClusterRequest::Dequeue(waiter));
                    cluster.tickets.remove(&id);
                }
                seats.push(player);
                continue;
            }
            let id = ConnectionId::from_raw(VISITOR_BIT | cluster.next_visitor);
            cluster.next_visitor += 1;
            crate::nodes::lock(&cluster.routes).visitors.insert(
                id,
                Visitor {
                    node: member.node.clone(),
                    conn: ConnectionId::from_raw(member.conn),
                    session,
                    seat,
                    since: now,
                },
            );
            // Before anything of the session: the home node seats the player first.
            let placed = Placed {
                session,
                seat,
                conn: member.conn,
            };
            cluster.to_node(&member.node, &placed);
            seats.push(Some(Player::visitor(id, member.name)));
        }
        if let Some(shutdown) = &self.shutdown {
            // Not starting sessions any more: visitors go home, this node's are closed.
            let reason = shutdown.reason.clone();
            let players: Vec<Player> = seats.into_iter().flatten().collect();
            self.close_all(players, &reason, out);
            return;
        }
        if seats.iter().all(Option::is_none) {
            return;
        }
        let empty: Vec<usize> = (0..seats.len()).filter(|&s| seats[s].is_none()).collect();
        let local: Vec<(usize, ConnectionId)> = seats
            .iter()
            .enumerate()
            .filter_map(|(seat, p)| p.as_ref().map(|p| (seat, p.id())))
            .filter(|(_, id)| id.get() & VISITOR_BIT == 0)
            .collect();
        let kind = self.config.game_kinds.first().cloned().unwrap_or_default();
        let (number, ended) = self.sessions.start_seats(seats, names, kind, out);
        debug_assert_eq!(number, session);
        for (seat, id) in local {
            self.stages.insert(id, Stage::Playing { session, seat });
        }
        tracing::debug!(session, "a cluster group's session started here");
        let mut ended = ended;
        // A player of this node who left after the group formed: the game hears it as a
        // leave, as it does a visitor's whose node answers that they are gone.
        for seat in empty {
            if ended.is_some() {
                break;
            }
            ended = self.sessions.leave(session, seat, out);
        }
        self.after_start(ended.unwrap_or_default(), out);
    }

    /// Home side: our player `conn` is seated on `from`.
    fn placed(&mut self, from: &str, placed: Placed, out: &dyn Outbox) {
        let id = ConnectionId::from_raw(placed.conn);
        let at = (self.stages.get(&id) == Some(&Stage::Waiting) && self.shutdown.is_none())
            .then(|| self.waiting.iter().position(|p| p.id() == id))
            .flatten();
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        let Some(player) = at.and_then(|at| self.waiting.remove(at)) else {
            // Gone (or leaving) since it queued: its seat there is empty.
            let left = Left {
                session: placed.session,
                seat: placed.seat,
            };
            cluster.to_node(from, &left);
            return;
        };
        // Its wait is over: if its node queued it again meanwhile (after an outage), that
        // entry goes, so no second group takes it.
        cluster.request(ClusterRequest::Dequeue(cluster.waiter(&player)));
        cluster.tickets.remove(&id);
        self.stages.insert(id, Stage::Elsewhere);
        cluster.elsewhere.insert(
            id,
            Elsewhere {
                player,
                node: from.to_owned(),
                session: placed.session,
                seat: placed.seat,
                since: Instant::now(),
            },
        );
        self.lobby_update(out);
    }

    /// Home side: a message of the session on `from` for our player.
    fn deliver(&mut self, from: &str, deliver: &Deliver, out: &dyn Outbox) {
        let id = ConnectionId::from_raw(deliver.conn);
        let Some(cluster) = &self.cluster else {
            return;
        };
        if !cluster
            .elsewhere
            .get(&id)
            .is_some_and(|e| e.node == from && e.session == deliver.session)
        {
            tracing::debug!(from, session = deliver.session, %id, "a message for a player not seated there dropped");
            return;
        }
        let message = RawMessage::parse(deliver.message.clone().into(), out.framing());
        match message.map(|m| Frame::from_message(&m)) {
            Ok(Ok(frame)) => drop(out.send_frame(id, &frame)),
            _ => tracing::debug!(from, "a bad message for a player dropped"),
        }
    }

    /// Home side: the session on `from` is over for our player.
    fn returned(&mut self, from: &str, returned: &Returned, out: &dyn Outbox) {
        let id = ConnectionId::from_raw(returned.conn);
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        if !cluster
            .elsewhere
            .get(&id)
            .is_some_and(|e| e.node == from && e.session == returned.session)
        {
            tracing::debug!(from, session = returned.session, %id, "a return of a player not seated there dropped");
            return;
        }
        if let Some(away) = cluster.elsewhere.remove(&id) {
            self.back_from_session(vec![away.player], out);
        }
    }

    /// Session side: a visitor's message, passed on by its node `from`.
    fn input(&mut self, from: &str, input: &Input, out: &dyn Outbox) {
        if !self.seats_visitor_of(from, input.session, input.seat) {
            tracing::debug!(
                from,
                session = input.session,
                seat = input.seat,
                "a message of a visitor not seated here dropped"
            );
            return;
        }
        let Ok(msg) = RawMessage::parse(input.message.clone().into(), out.framing()) else {
            tracing::debug!(from, "a bad message from a visitor dropped");
            return;
        };
        if let Some(players) = self.sessions.message(input.session, input.seat, &msg, out) {
            self.back_from_session(players, out);
        }
    }

    /// Session side: a visitor left (`away` None), dropped or resumed.
    fn visitor_event(
        &mut self,
        from: &str,
        session: u64,
        seat: usize,
        away: Option<bool>,
        out: &dyn Outbox,
    ) {
        if !self.seats_visitor_of(from, session, seat) {
            tracing::debug!(
                from,
                session,
                seat,
                ?away,
                "news of a visitor not seated here dropped"
            );
            return;
        }
        let ended = match away {
            Some(away) => self.sessions.away(session, seat, away, out),
            None => {
                let id = self.sessions.seat_id(session, seat);
                if let (Some(id), Some(cluster)) = (id, &self.cluster) {
                    crate::nodes::lock(&cluster.routes).visitors.remove(&id);
                }
                self.sessions.leave(session, seat, out)
            }
        };
        if let Some(players) = ended {
            self.back_from_session(players, out);
        }
    }

    /// Whether `seat` of `session` here holds a visitor whose home is `from`.
    fn seats_visitor_of(&self, from: &str, session: u64, seat: usize) -> bool {
        let (Some(cluster), Some(id)) = (&self.cluster, self.sessions.seat_id(session, seat))
        else {
            return false;
        };
        crate::nodes::lock(&cluster.routes)
            .visitors
            .get(&id)
            .is_some_and(|v| v.node == from && v.session == session)
    }
}

//! The pipeline: initiator (logins, unique names) → waiting room (groups of N) → session
//! manager → back to the waiting room. Sans-IO: it takes server events and the time, and
//! acts through an [`Outbox`]; the drivers in `sync.rs` and `run.rs` feed it.
//!
//! (Past 500 lines: the pipeline is one state machine whose stages hand players to each
//! other through the same fields; what crosses nodes is in `across`.)

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use podnet_framing::{Frame, Message, RawMessage};
use podnet_proto::ConnectionId;

use crate::config::LobbyConfig;
use crate::input::PlayerEvent;
use crate::names::{Names, Player};
use crate::nodes::{self, Away, ClusterRequest, ClusterSide, Elsewhere, Input, Left, Routed};

mod across;
use crate::outbox::{Outbox, send};
use crate::protocol::{
    Choose, ChooseGame, LobbyError, LobbyUpdate, Login, LoginRefused, LoginRequired, Welcome,
};
use crate::session::{Game, Seat};
use crate::sessions::{Returning, Sessions};

/// Where a connection is in the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Connected, not logged in yet: the initiator's.
    LoggingIn { deadline: Instant },
    /// Its name is free here; the cluster is asked (cluster mode).
    Claiming { deadline: Instant },
    /// Seated in a session on another node (cluster mode).
    Elsewhere,
    /// Logged in, in the waiting room.
    Waiting,
    /// In a group choosing its kind of game.
    Choosing { group: u64, seat: Seat },
    /// In a session.
    Playing { session: u64, seat: Seat },
    /// Being closed by the lobby; only its disconnect matters now.
    Closing,
}

/// A group voting for its kind of game (nine43's select section).
#[derive(Debug)]
struct Choosing {
    players: Vec<Player>,
    /// Each seat's vote, an index into `LobbyConfig::game_kinds`.
    votes: Vec<Option<usize>>,
    deadline: Instant,
}

/// A shutdown under way.
#[derive(Debug)]
struct ShuttingDown {
    reason: String,
    /// When the sessions still running are cut; `None`: never (they finish by
    /// themselves).
    cut_at: Option<Instant>,
}

/// The lobby: every connection's way from login to games and back. Sans-IO: feed it
/// server events with [`handle`](Self::handle) and the time with [`tick`](Self::tick);
/// it acts through an [`Outbox`]. [`LobbyServer`](crate::LobbyServer) (under `pump()`)
/// and [`run`](crate::run) (async) do the feeding; use it directly to drive a lobby from
/// your own loop.
///
/// # Example
///
/// ```
/// use podnet_lobby::{Game, Lobby, LobbyConfig, Seat, SessionCtx, SessionHandlers};
///
/// struct Nothing;
/// impl Game for Nothing {
///     type Setup = ();
///     fn start(_: &(), ctx: &mut SessionCtx<'_>) -> Self { ctx.end("done"); Nothing }
///     fn handlers(_: &mut SessionHandlers<Self>) {}
/// }
///
/// let lobby = Lobby::<Nothing>::new(LobbyConfig::new(2), ());
/// assert_eq!(lobby.waiting().count(), 0);
/// ```
pub struct Lobby<G: Game> {
    config: LobbyConfig,
    names: Names,
    stages: HashMap<ConnectionId, Stage>,
    /// Login deadlines in the order they were set, which is their order in time (the
    /// timeout is the same for all); stale entries are skipped.
    deadlines: VecDeque<(Instant, ConnectionId)>,
    waiting: VecDeque<Player>,
    /// Groups choosing their kind of game, by group number.
    choosing: HashMap<u64, Choosing>,
    /// Their deadlines, in time order (the timeout is the same for all); stale entries
    /// are skipped.
    choose_deadlines: VecDeque<(Instant, u64)>,
    next_group: u64,
    sessions: Sessions<G>,
    shutdown: Option<ShuttingDown>,
    /// In a cluster: the lobby's side of it.
    cluster: Option<ClusterSide>,
}

impl<G: Game> Lobby<G> {
    /// A lobby with `config`, whose sessions share `setup`.
    pub fn new(config: LobbyConfig, setup: G::Setup) -> Self {
        Self {
            config,
            names: Names::default(),
            stages: HashMap::new(),
            deadlines: VecDeque::new(),
            waiting: VecDeque::new(),
            choosing: HashMap::new(),
            choose_deadlines: VecDeque::new(),
            next_group: 1,
            sessions: Sessions::new(setup),
            shutdown: None,
            cluster: None,
        }
    }

    /// A lobby that is one node of a cluster (see docs/cluster.md, "The lobby across
    /// nodes"): names are claimed cluster-wide, the waiting room is the cluster's, and a
    /// group's session runs on the least loaded node, with the players of other nodes
    /// taking part through their own. `node` is this node's id in the cluster.
    ///
    /// The lobby is still sans-IO: it asks its cluster for what it needs through
    /// [`take_cluster_requests`](Self::take_cluster_requests), and hears back through
    /// [`claimed`](Self::claimed), [`node_message`](Self::node_message),
    /// [`live_nodes`](Self::live_nodes) and [`cluster_back`](Self::cluster_back);
    /// `podnet_lobby::cluster::run` (feature `cluster`) does that with Redis. In a
    /// cluster, groups play the first of [`LobbyConfig::game_kinds`] (the vote is not
    /// cluster-wide).
    pub fn clustered(config: LobbyConfig, setup: G::Setup, node: impl Into<String>) -> Self {
        let mut lobby = Self::new(config, setup);
        lobby.cluster = Some(ClusterSide::new(node.into()));
        lobby
    }

    /// What this lobby asks of its cluster since the last call, in order (nothing when it
    /// is not clustered).
    pub fn take_cluster_requests(&mut self) -> Vec<ClusterRequest> {
        match &self.cluster {
            Some(cluster) => std::mem::take(&mut nodes::lock(&cluster.routes).requests),
            None => Vec::new(),
        }
    }

    /// Hands the lobby's figures to `set` (name, value): `lobby_waiting`, `lobby_names`,
    /// `lobby_sessions`, and in a cluster
    /// `lobby_playing_elsewhere` and `lobby_visitors`. The drivers pass them to the
    /// server's `set_gauge` (`LobbyServer` at every pump, `run` ten times a second), so
    /// `/metrics` serves them (as `podnet_game_lobby_*`). Cheap: no scan of the players.
    pub fn publish(&self, mut set: impl FnMut(&str, f64) -> bool) {
        let figures = [
            ("lobby_waiting", self.waiting.len()),
            ("lobby_names", self.names_in_use()),
            ("lobby_sessions", self.sessions.len()),
        ];
        for (name, value) in figures {
            set(name, value as f64);
        }
        if self.cluster.is_some() {
            set("lobby_playing_elsewhere", self.playing_elsewhere() as f64);
            set("lobby_visitors", self.visitors() as f64);
        }
    }

    /// This node's id, if the lobby is clustered ([`clustered`](Self::clustered)).
    pub fn cluster_node(&self) -> Option<&str> {
        self.cluster.as_ref().map(|c| c.node.as_str())
    }

    /// How many of this node's players are in sessions on other nodes.
    pub fn playing_elsewhere(&self) -> usize {
        self.cluster.as_ref().map_or(0, |c| c.elsewhere.len())
    }

    /// How many players of other nodes are in this node's sessions.
    pub fn visitors(&self) -> usize {
        self.cluster
            .as_ref()
            .map_or(0, |c| nodes::lock(&c.routes).visitors.len())
    }

    /// The outbox to act through: in a cluster, visitors are sent to through their node.
    fn routed<'a>(&self, out: &'a dyn Outbox) -> Routed<'a> {
        Routed {
            out,
            routes: self.cluster.as_ref().map(|c| c.routes.clone()),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &LobbyConfig {
        &self.config
    }

    /// The names of the players waiting, in join order.
    pub fn waiting(&self) -> impl Iterator<Item = &str> {
        self.waiting.iter().map(Player::name)
    }

    /// How many sessions are running.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// How many sessions this lobby has started, counting up.
    pub fn sessions_started(&self) -> u64 {
        self.sessions.next_number() - 1
    }

    /// How many names are held (by players logged in, waiting or playing).
    pub fn names_in_use(&self) -> usize {
        self.names.len()
    }

    /// How many connections have not logged in yet.
    pub fn logging_in(&self) -> usize {
        self.stages
            .values()
            .filter(|s| matches!(s, Stage::LoggingIn { .. }))
            .count()
    }

    /// Whether a shutdown began ([`begin_shutdown`](Self::begin_shutdown)).
    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.is_some()
    }

    /// Whether a shutdown began and every session has ended: the server can be shut down.
    pub fn is_done(&self) -> bool {
        self.shutdown.is_some() && self.sessions.len() == 0
    }

    /// When [`tick`](Self::tick) next has something to do: a login deadline, or the end of
    /// a shutdown's grace.
    pub fn next_deadline(&self) -> Option<Instant> {
        let login = self.deadlines.front().map(|(at, _)| *at);
        let choose = self.choose_deadlines.front().map(|(at, _)| *at);
        let cut = self.shutdown.as_ref().and_then(|s| s.cut_at);
        login.into_iter().chain(choose).chain(cut).min()
    }

    /// Takes one thing that happened to a player's connection: a [`PlayerEvent`], or a
    /// podnet server's event as it comes.
    pub fn handle(&mut self, event: impl Into<PlayerEvent>, out: &dyn Outbox) {
        let routed = self.routed(out);
        let out = &routed;
        match event.into() {
            PlayerEvent::Connected(id) => self.connected(id, out),
            PlayerEvent::Message(id, message) => self.message(id, &message, out),
            PlayerEvent::BadMessage(id, reason) => {
                if matches!(
                    self.stages.get(&id),
                    Some(
                        Stage::LoggingIn { .. }
                            | Stage::Claiming { .. }
                            | Stage::Waiting
                            | Stage::Choosing { .. }
                            | Stage::Playing { .. }
                            | Stage::Elsewhere
                    )
                ) {
                    send(out, id, &LobbyError { reason });
                }
            }
            PlayerEvent::Dropped(id) => self.away(id, true, out),
            PlayerEvent::Resumed(id) => self.away(id, false, out),
            PlayerEvent::Disconnected(id) => self.disconnected(id, out),
            PlayerEvent::Other => {}
        }
    }

    /// Acts on the time: closes connections that did not log in by their deadline, and
    /// cuts the sessions still running when a shutdown's grace is over.
    pub fn tick(&mut self, now: Instant, out: &dyn Outbox) {
        let routed = self.routed(out);
        let out = &routed;
        while let Some(&(at, id)) = self.deadlines.front() {
            if at > now {
                break;
            }
            self.deadlines.pop_front();
            if self.stages.get(&id) == Some(&Stage::LoggingIn { deadline: at }) {
                self.stages.insert(id, Stage::Closing);
                let timeout = self.config.login_timeout;
                out.close(id, &format!("no login within {timeout:?}"));
            }
        }
        while let Some(&(at, group)) = self.choose_deadlines.front() {
            if at > now {
                break;
            }
            self.choose_deadlines.pop_front();
            if self.choosing.get(&group).is_some_and(|c| c.deadline == at) {
                self.decide(group, out);
            }
        }
        if self
            .shutdown
            .as_ref()
            .is_some_and(|s| s.cut_at.is_some_and(|at| now >= at))
        {
            self.cut_sessions(out);
        }
    }

    /// During a shutdown: ends every session now, closing its players with the
    /// shutdown's reason, without waiting for the rest of the grace. Outside a shutdown
    /// it does nothing (end sessions one by one with [`end_session`](Self::end_session)).
    pub fn cut_sessions(&mut self, out: &dyn Outbox) {
        let routed = self.routed(out);
        let out = &routed;
        let Some(shutdown) = &self.shutdown else {
            return;
        };
        if self.sessions.len() == 0 {
            return;
        }
        let reason = shutdown.reason.clone();
        tracing::info!(
            sessions = self.sessions.len(),
            "shutdown: cutting the sessions"
        );
        let players = self.sessions.cut_all();
        self.close_all(players, &reason, out);
    }

    /// Begins a shutdown: stops accepting, closes everyone not in a session with
    /// `reason`, and lets the sessions finish within
    /// [`LobbyConfig::session_grace`]; their players are then closed with `reason` too,
    /// instead of going back to the lobby. [`is_done`](Self::is_done) says when it is over.
    pub fn begin_shutdown(&mut self, reason: &str, now: Instant, out: &dyn Outbox) {
        if self.shutdown.is_some() {
            return;
        }
        // Players are always told why.
        let reason = match reason.trim() {
            "" => "the server is shutting down",
            _ => reason,
        };
        let routed = self.routed(out);
        let out = &routed;
        out.stop_accepting();
        self.shutdown = Some(ShuttingDown {
            reason: reason.to_owned(),
            // A grace too long to add (`Duration::MAX`) means: until they finish.
            cut_at: now.checked_add(self.config.session_grace),
        });
        self.deadlines.clear();
        for (id, stage) in &mut self.stages {
            if matches!(stage, Stage::LoggingIn { .. } | Stage::Claiming { .. }) {
                *stage = Stage::Closing;
                out.close(*id, reason);
            }
        }
        let waiting: Vec<Player> = self.waiting.drain(..).collect();
        if let Some(cluster) = &mut self.cluster {
            for player in &waiting {
                cluster.request(ClusterRequest::Dequeue(cluster.waiter(player)));
            }
            // Their answer would come too late: they are closed.
            cluster.pending.clear();
            // This node's players seated elsewhere leave their sessions there.
            let elsewhere: Vec<Elsewhere> = cluster.elsewhere.drain().map(|(_, e)| e).collect();
            for away in elsewhere {
                let left = Left {
                    session: away.session,
                    seat: away.seat,
                };
                cluster.to_node(&away.node, &left);
                self.stages.insert(away.player.id(), Stage::Closing);
                out.close(away.player.id(), reason);
            }
        }
        self.close_all(waiting, reason, out);
        self.choose_deadlines.clear();
        let choosing: Vec<Player> = self
            .choosing
            .drain()
            .flat_map(|(_, group)| group.players)
            .collect();
        self.close_all(choosing, reason, out);
        self.tick(now, out);
    }

    /// Ends `session` now with `result`, from outside the game (the host's console, an
    /// admin command, a match timer in the game loop): every player still in it gets
    /// [`GameOver`](crate::protocol::GameOver) and goes back to the lobby (or, during a
    /// shutdown, is closed). Returns false if there is no such session.
    pub fn end_session(&mut self, session: u64, result: &str, out: &dyn Outbox) -> bool {
        let routed = self.routed(out);
        let out = &routed;
        match self.sessions.end(session, result, out) {
            Some(players) => {
                self.back_from_session(players, out);
                true
            }
            None => false,
        }
    }

    /// The running sessions' numbers, in the order they started.
    pub fn sessions(&self) -> Vec<u64> {
        self.sessions.ids()
    }

    fn connected(&mut self, id: ConnectionId, out: &dyn Outbox) {
        if let Some(shutdown) = &self.shutdown {
            self.stages.insert(id, Stage::Closing);
            out.close(id, &shutdown.reason);
            return;
        }
        let deadline = Instant::now() + self.config.login_timeout;
        self.stages.insert(id, Stage::LoggingIn { deadline });
        self.deadlines.push_back((deadline, id));
        send(
            out,
            id,
            &LoginRequired {
                max_name_len: self.config.max_name_len,
                timeout_secs: self.config.login_timeout.as_secs(),
            },
        );
    }

    fn message(&mut self, id: ConnectionId, msg: &RawMessage, out: &dyn Outbox) {
        let Some(&stage) = self.stages.get(&id) else {
            return;
        };
        let is_login = msg.action_bytes() == Login::ACTION.as_bytes();
        let refuse = |reason: String| send(out, id, &LobbyError { reason });
        match stage {
            Stage::LoggingIn { .. } if is_login => self.login(id, msg, out),
            Stage::Claiming { .. } if is_login => {
                refuse("a login is under way: wait for its answer".to_owned());
            }
            Stage::Claiming { .. } => refuse(format!(
                "your login is under way; {:?} waits for it (send it again after welcome)",
                msg.action()
            )),
            Stage::Elsewhere => {
                if let Some(cluster) = &self.cluster {
                    if let Some(away) = cluster.elsewhere.get(&id) {
                        let input = Input {
                            session: away.session,
                            seat: away.seat,
                            message: msg.payload().to_vec(),
                        };
                        cluster.to_node(&away.node, &input);
                    }
                }
            }
            Stage::LoggingIn { .. } => refuse(format!(
                "log in first, with {{\"action\": \"login\", \"name\": ...}} (got {:?})",
                msg.action()
            )),
            Stage::Waiting if is_login => {
                let name = self
                    .waiting_player(id)
                    .map(Player::name)
                    .unwrap_or_default();
                refuse(format!("already logged in as {name:?}"));
            }
            Stage::Waiting => refuse(format!(
                "waiting for a group of {}: {} waiting; {:?} means nothing in the lobby",
                self.config.group_size,
                self.waiting.len(),
                msg.action()
            )),
            Stage::Choosing { group, seat } => self.vote(group, seat, msg, out),
            Stage::Playing { session, seat } => {
                if let Some(players) = self.sessions.message(session, seat, msg, out) {
                    self.back_from_session(players, out);
                }
            }
            Stage::Closing => {}
        }
    }

    /// A vote from the player at `seat` of a choosing group.
    fn vote(&mut self, group: u64, seat: Seat, msg: &RawMessage, out: &dyn Outbox) {
        let kinds = &self.config.game_kinds;
        let Some(choosing) = self.choosing.get_mut(&group) else {
            return;
        };
        let id = choosing.players.get(seat).map(Player::id);
        let refuse = |reason: String| {
            if let Some(id) = id {
                send(out, id, &LobbyError { reason });
            }
        };
        if msg.action_bytes() != Choose::ACTION.as_bytes() {
            return refuse(format!(
                "your group is choosing its game: send {{\"action\": \"choose\", \"kind\": ...}} \
                 with one of {kinds:?} (got {:?})",
                msg.action()
            ));
        }
        let choice = msg
            .decode::<Choose>()
            .ok()
            .and_then(|choose| kinds.iter().position(|kind| *kind == choose.kind));
        let Some(choice) = choice else {
            return refuse(format!("choose one of {kinds:?}"));
        };
        choosing.votes[seat] = Some(choice);
        if choosing.votes.iter().all(Option::is_some) {
            self.decide(group, out);
        }
    }

    /// The group's votes decide its kind of game (most votes; a tie goes to the kind
    /// listed first), and its session starts.
    fn decide(&mut self, group: u64, out: &dyn Outbox) {
        let Some(choosing) = self.choosing.remove(&group) else {
            return;
        };
        let kinds = &self.config.game_kinds;
        let mut tally = vec![0usize; kinds.len()];
        for vote in choosing.votes.iter().flatten() {
            tally[*vote] += 1;
        }
        let best = tally.iter().copied().max().unwrap_or(0);
        let chosen = tally.iter().position(|&n| n == best).unwrap_or(0);
        let kind = kinds.get(chosen).cloned().unwrap_or_default();
        tracing::debug!(group, kind = %kind, ?tally, "a group chose its game");
        let ended = self.start_session(choosing.players, kind, out);
        self.after_start(ended, out);
    }

    /// Starts a session of `kind` for `group`; returns its players if the game ended it
    /// at once.
    fn start_session(&mut self, group: Vec<Player>, kind: String, out: &dyn Outbox) -> Vec<Player> {
        let ids: Vec<ConnectionId> = group.iter().map(Player::id).collect();
        let (session, ended) = self.sessions.start(group, kind, out);
        for (seat, id) in ids.into_iter().enumerate() {
            self.stages.insert(id, Stage::Playing { session, seat });
        }
        ended.unwrap_or_default()
    }

    /// A new group: asked to choose its game when there are several kinds, else its
    /// session starts at once. Returns the players of a session that ended at once.
    fn new_group(&mut self, group: Vec<Player>, out: &dyn Outbox) -> Vec<Player> {
        if self.config.game_kinds.len() < 2 {
            let kind = self.config.game_kinds.first().cloned().unwrap_or_default();
            return self.start_session(group, kind, out);
        }
        let number = self.next_group;
        self.next_group += 1;
        let deadline = Instant::now() + self.config.choose_timeout;
        let ask = ChooseGame {
            kinds: self.config.game_kinds.clone(),
            players: group.iter().map(|p| p.name().to_owned()).collect(),
            timeout_secs: self.config.choose_timeout.as_secs(),
        };
        for (seat, player) in group.iter().enumerate() {
            self.stages.insert(
                player.id(),
                Stage::Choosing {
                    group: number,
                    seat,
                },
            );
            send(out, player.id(), &ask);
        }
        self.choose_deadlines.push_back((deadline, number));
        let votes = vec![None; group.len()];
        self.choosing.insert(
            number,
            Choosing {
                players: group,
                votes,
                deadline,
            },
        );
        Vec::new()
    }

    /// The initiator: a free, valid name makes a [`Player`], who joins the waiting room.
    fn login(&mut self, id: ConnectionId, msg: &RawMessage, out: &dyn Outbox) {
        let login = match msg.decode::<Login>() {
            Ok(login) => login,
            Err(_) => {
                let reason =
                    "a login needs a name: {\"action\": \"login\", \"name\": \"...\"}".into();
                send(
                    out,
                    id,
                    &LoginRefused {
                        name: String::new(),
                        reason,
                    },
                );
                return;
            }
        };
        match self.names.claim(&login.name, self.config.max_name_len) {
            Ok(name) if self.cluster.is_some() => {
                let Some(Stage::LoggingIn { deadline }) = self.stages.get(&id).copied() else {
                    return;
                };
                if let Some(cluster) = &mut self.cluster {
                    cluster.request(ClusterRequest::Claim {
                        id,
                        name: name.as_str().to_owned(),
                    });
                    cluster.pending.insert(id, name);
                }
                self.stages.insert(id, Stage::Claiming { deadline });
            }
            Ok(name) => {
                tracing::debug!(%id, name = %name, "logged in");
                self.stages.insert(id, Stage::Waiting);
                self.join(vec![Player::new(id, name)], out);
            }
            Err(reason) => send(
                out,
                id,
                &LoginRefused {
                    name: login.name,
                    reason,
                },
            ),
        }
    }

    /// The waiting room: `players` join in order and are welcomed; every full group
    /// starts a session; everyone still waiting hears who is there.
    fn join(&mut self, players: Vec<Player>, out: &dyn Outbox) {
        let ids: Vec<ConnectionId> = players.iter().map(Player::id).collect();
        self.enter(players, out);
        match &mut self.cluster {
            // The cluster's waiting room: a group forms there, from every node's players.
            Some(cluster) => {
                let mut queue = std::mem::take(&mut cluster.held_back);
                queue.extend(ids);
                for player in self.waiting.iter().filter(|p| queue.contains(&p.id())) {
                    let waiter = cluster.new_wait(player);
                    cluster.request(ClusterRequest::Enqueue(waiter));
                }
                self.lobby_update(out);
            }
            None => self.group_waiting(out),
        }
    }

    /// Forms every full group from the waiting room, in join order.
    fn group_waiting(&mut self, out: &dyn Outbox) {
        let size = self.config.group_size;
        let mut ended_at_once = Vec::new();
        while self.waiting.len() >= size {
            let group: Vec<Player> = self.waiting.drain(..size).collect();
            ended_at_once.extend(self.new_group(group, out));
        }
        self.after_start(ended_at_once, out);
    }

    /// After sessions started: the players of one that ended as it started wait for the
    /// next arrival to be grouped again (so such a game cannot loop forever), and
    /// everyone waiting hears who is there.
    fn after_start(&mut self, ended_at_once: Vec<Player>, out: &dyn Outbox) {
        let ended_at_once = self.send_visitors_home(ended_at_once);
        if let (Some(cluster), None) = (&mut self.cluster, &self.shutdown) {
            cluster
                .held_back
                .extend(ended_at_once.iter().map(Player::id));
        }
        match &self.shutdown {
            Some(shutdown) => {
                let reason = shutdown.reason.clone();
                self.close_all(ended_at_once, &reason, out);
            }
            None => self.enter(ended_at_once, out),
        }
        self.lobby_update(out);
    }

    /// Puts `players` at the back of the waiting room and welcomes each.
    fn enter(&mut self, players: Vec<Player>, out: &dyn Outbox) {
        if players.is_empty() {
            return;
        }
        let joined: Vec<ConnectionId> = players.iter().map(Player::id).collect();
        for player in players {
            self.stages.insert(player.id(), Stage::Waiting);
            self.waiting.push_back(player);
        }
        self.welcome(&joined, out);
    }

    /// Welcomes the waiting players in `ids`, each with who is waiting now.
    fn welcome(&self, ids: &[ConnectionId], out: &dyn Outbox) {
        let names: Vec<String> = self.waiting().map(str::to_owned).collect();
        for player in self.waiting.iter().filter(|p| ids.contains(&p.id())) {
            let welcome = Welcome {
                name: player.name().to_owned(),
                group_size: self.config.group_size,
                waiting: names.clone(),
            };
            send(out, player.id(), &welcome);
        }
    }

    /// Tells everyone waiting who is waiting.
    fn lobby_update(&self, out: &dyn Outbox) {
        if self.waiting.is_empty() {
            return;
        }
        let update = LobbyUpdate {
            waiting: self.waiting().map(str::to_owned).collect(),
            group_size: self.config.group_size,
        };
        if let Ok(frame) = Frame::encode(&update, out.framing()) {
            for player in &self.waiting {
                out.send_frame(player.id(), &frame);
            }
        }
    }

    /// The players of a session that ended: back to the lobby, or, during a shutdown,
    /// closed.
    fn back_from_session(&mut self, players: Returning, out: &dyn Outbox) {
        let players = self.send_visitors_home(players);
        match &self.shutdown {
            Some(shutdown) => {
                let reason = shutdown.reason.clone();
                self.close_all(players, &reason, out);
            }
            None => self.join(players, out),
        }
    }

    fn close_all(&mut self, players: Vec<Player>, reason: &str, out: &dyn Outbox) {
        let players = self.send_visitors_home(players);
        for player in players {
            self.stages.insert(player.id(), Stage::Closing);
            out.close(player.id(), reason);
            // `player` is dropped here: its name is free.
        }
    }

    fn waiting_player(&self, id: ConnectionId) -> Option<&Player> {
        self.waiting.iter().find(|p| p.id() == id)
    }

    /// A player's connection dropped (`away`) or came back. Wherever they are, they keep
    /// their place and their name through the grace (only `Disconnected` frees them);
    /// a game in session is told.
    fn away(&mut self, id: ConnectionId, away: bool, out: &dyn Outbox) {
        if let Some(elsewhere) = self.cluster.as_ref().and_then(|c| c.elsewhere.get(&id)) {
            let msg = Away {
                session: elsewhere.session,
                seat: elsewhere.seat,
                away,
            };
            if let Some(cluster) = &self.cluster {
                cluster.to_node(&elsewhere.node, &msg);
            }
            return;
        }
        if let Some(&Stage::Playing { session, seat }) = self.stages.get(&id) {
            if let Some(players) = self.sessions.away(session, seat, away, out) {
                self.back_from_session(players, out);
            }
        }
    }

    fn disconnected(&mut self, id: ConnectionId, out: &dyn Outbox) {
        match self.stages.remove(&id) {
            Some(Stage::Waiting) => {
                // Dropping the player frees the name; a player who left is never grouped.
                if let Some(cluster) = &mut self.cluster {
                    if let Some(player) = self.waiting.iter().find(|p| p.id() == id) {
                        cluster.request(ClusterRequest::Dequeue(cluster.waiter(player)));
                    }
                    cluster.tickets.remove(&id);
                }
                self.waiting.retain(|p| p.id() != id);
                self.lobby_update(out);
            }
            Some(Stage::Claiming { .. }) => {
                if let Some(cluster) = &mut self.cluster {
                    // Its name is freed here; the cluster's is released by the driver.
                    cluster.pending.remove(&id);
                }
            }
            Some(Stage::Elsewhere) => {
                if let Some(cluster) = &mut self.cluster {
                    if let Some(away) = cluster.elsewhere.remove(&id) {
                        let left = Left {
                            session: away.session,
                            seat: away.seat,
                        };
                        cluster.to_node(&away.node, &left);
                    }
                }
            }
            Some(Stage::Choosing { group, seat }) => {
                // The group dissolves: the others go back to the front of the waiting
                // room, in their order, and are grouped again with whoever is next.
                let Some(mut choosing) = self.choosing.remove(&group) else {
                    return;
                };
                if seat < choosing.players.len() {
                    // Dropping the player frees the name.
                    drop(choosing.players.remove(seat));
                }
                let back: Vec<ConnectionId> = choosing.players.iter().map(Player::id).collect();
                for player in choosing.players.into_iter().rev() {
                    self.stages.insert(player.id(), Stage::Waiting);
                    self.waiting.push_front(player);
                }
                self.welcome(&back, out);
                self.group_waiting(out);
            }
            Some(Stage::Playing { session, seat }) => {
                if let Some(players) = self.sessions.leave(session, seat, out) {
                    self.back_from_session(players, out);
                }
            }
            Some(Stage::LoggingIn { .. } | Stage::Closing) | None => {}
        }
    }
}

impl<G: Game> std::fmt::Debug for Lobby<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lobby")
            .field("config", &self.config)
            .field("connections", &self.stages.len())
            .field("waiting", &self.waiting.len())
            .field("choosing", &self.choosing.len())
            .field("sessions", &self.sessions.len())
            .field("shutting_down", &self.shutdown.is_some())
            .finish()
    }
}

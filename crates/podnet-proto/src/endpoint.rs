//! The server side of the protocol, server-wide: who gets a slot, the connections'
//! protocol state made with the server's settings, the sessions that wait for a resume
//! and until when, the judging of resume attempts, and whether an `info` connection is
//! answered.
//!
//! As quinn-proto's `Endpoint`: a driver keeps one per server (under one lock), tells it
//! what happened with the time, and carries out what it answers. Nothing here reads a
//! clock or touches a socket.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use crate::{
    Admission, AdmissionSettings, Admit, ConnectionId, Eviction, RateLimit, ResumeGate,
    ResumeRefusal, ResumeToken, ServerConnection, ServerSettings, SessionView, TokenBucket,
};

/// How many sessions ended to make room are remembered, so that their resume is refused
/// with that reason rather than as an ended session.
pub const EVICTED_REMEMBERED: usize = 4096;

/// What an `info` connection whose handshake completed gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum InfoAnswer {
    /// The server's description ([`ServerConnection::answer_info`]).
    Answer,
    /// A refusal: too many are being answered ([`ServerConnection::refuse_info`]).
    Refuse,
}

/// The server-wide protocol state of one server.
///
/// ```
/// use std::sync::Arc;
/// use std::time::{Duration, Instant};
/// use podnet_proto::{AdmissionSettings, Admit, Endpoint, ServerSettings};
///
/// let t0 = Instant::now();
/// let mut endpoint = Endpoint::new(
///     Arc::new(ServerSettings::default()),
///     AdmissionSettings::default(),
///     podnet_proto::RateLimit::new(1, 1),
///     t0,
/// );
/// let Admit::Accept(id) = endpoint.admit() else { panic!() };
/// let (conn, eviction) = endpoint.open(id, t0);
/// assert!(eviction.is_none());
/// assert!(conn.handshake().is_none());
///
/// // Its link drops; the session waits for a resume until its grace is over.
/// let until = endpoint.park(id, t0 + Duration::from_secs(1), Duration::from_secs(30));
/// assert_eq!(endpoint.poll_timeout(), Some(until));
/// assert_eq!(endpoint.expired(until), vec![id]);
/// assert_eq!(endpoint.poll_timeout(), None);
/// ```
#[derive(Debug)]
pub struct Endpoint {
    settings: Arc<ServerSettings>,
    admission: Admission,
    /// Resume attempts, server-wide.
    resume_rate: TokenBucket,
    /// Sessions waiting for a resume, with the end of their grace.
    parked: BTreeMap<ConnectionId, Instant>,
    /// The same, by deadline, for the earliest.
    deadlines: BTreeSet<(Instant, ConnectionId)>,
    /// The most sessions that may wait at once.
    max_parked: usize,
    /// Sessions ended to make room, the latest [`EVICTED_REMEMBERED`] of them.
    evicted: HashSet<ConnectionId>,
    evicted_order: VecDeque<ConnectionId>,
    /// Sessions ended to make room that the driver has not been told of.
    to_end: Vec<ConnectionId>,
}

impl Endpoint {
    /// A server's endpoint: its connections' settings, its admission limits, and the rate
    /// of resume attempts it judges (`resume_rate`, used only if `settings.resume` is on).
    pub fn new(
        settings: Arc<ServerSettings>,
        admission: AdmissionSettings,
        resume_rate: RateLimit,
        now: Instant,
    ) -> Self {
        let max_parked = admission.max_parked_sessions.max(1);
        Self {
            settings,
            admission: Admission::new(admission, now),
            resume_rate: TokenBucket::new(resume_rate, now),
            parked: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            max_parked,
            evicted: HashSet::new(),
            evicted_order: VecDeque::new(),
            to_end: Vec::new(),
        }
    }

    /// The settings every connection of this server is made with.
    pub fn settings(&self) -> &Arc<ServerSettings> {
        &self.settings
    }

    /// A connection arrived: accept it under a new id, make room for it, or refuse it.
    /// Room is made by closing the oldest quiet connection (see [`Admission::admit`]) or,
    /// failing that, by ending the session that has waited longest for a resume: a
    /// server full of dropped sessions does not turn players away. Only a server full of
    /// connections that have all spoken, and none of them waiting, refuses.
    pub fn admit(&mut self) -> Admit {
        match self.admission.admit() {
            Admit::Refuse => match self.oldest_parked() {
                Some(victim) => {
                    self.evict_parked(victim);
                    self.admission.replace(victim)
                }
                None => Admit::Refuse,
            },
            admitted => admitted,
        }
    }

    fn oldest_parked(&self) -> Option<ConnectionId> {
        self.deadlines.first().map(|&(_, id)| id)
    }

    /// `victim` no longer waits: it is ended to make room, and a resume of it is refused
    /// as [`ResumeRefusal::Evicted`].
    fn evict_parked(&mut self, victim: ConnectionId) {
        self.unpark(victim);
        if self.evicted.insert(victim) {
            self.evicted_order.push_back(victim);
            if self.evicted_order.len() > EVICTED_REMEMBERED {
                if let Some(forgotten) = self.evicted_order.pop_front() {
                    self.evicted.remove(&forgotten);
                }
            }
        }
    }

    /// The connection `id` (admitted) starts being served at `now`: its protocol state,
    /// and the quiet connection to evict if it makes too many (see
    /// [`Admission::started`]). The connection's resume tokens carry its id.
    pub fn open(&mut self, id: ConnectionId, now: Instant) -> (ServerConnection, Option<Eviction>) {
        let conn = ServerConnection::server(self.settings.clone(), now).with_id(id);
        (conn, self.admission.started(id))
    }

    /// As [`open`](Self::open), for a connection whose WebSocket upgrade was answered at
    /// `now` (it waits [`ServerSettings::websocket_hello_wait`] for a hello).
    pub fn open_websocket(
        &mut self,
        id: ConnectionId,
        now: Instant,
    ) -> (ServerConnection, Option<Eviction>) {
        let conn = ServerConnection::server_over_websocket(self.settings.clone(), now).with_id(id);
        (conn, self.admission.started(id))
    }

    /// The connection `id` is counted as started (its protocol state comes later, once
    /// its first bytes say what it speaks): the quiet connection to evict, if any.
    pub fn opening(&mut self, id: ConnectionId) -> Option<Eviction> {
        self.admission.started(id)
    }

    /// The connection sent its first complete frame: it is no longer quiet.
    pub fn spoke(&mut self, id: ConnectionId) {
        self.admission.spoke(id);
    }

    /// The connection ended (or was never started): its slot is free, and it no longer
    /// waits for a resume.
    pub fn ended(&mut self, id: ConnectionId) {
        self.admission.ended(id);
        self.unpark(id);
    }

    /// An `info` connection completed its handshake at `now`: answer it, or refuse it if
    /// more than the info rate are asking.
    pub fn info(&mut self, now: Instant) -> InfoAnswer {
        if self.admission.info_allowed(now) {
            InfoAnswer::Answer
        } else {
            InfoAnswer::Refuse
        }
    }

    /// Judges an attempt at `now` to resume with `token` over a connection that is
    /// WebSocket or not; `session` looks the token's session up (see
    /// [`ResumeGate::judge`]). A driver that must not look sessions up under the
    /// endpoint's lock judges in two steps instead:
    /// [`resume_attempt`](Self::resume_attempt), then
    /// [`resume_session`](Self::resume_session).
    ///
    /// # Errors
    ///
    /// The first rule the attempt breaks.
    pub fn judge_resume(
        &mut self,
        now: Instant,
        token: &ResumeToken,
        over_websocket: bool,
        session: impl FnOnce(ConnectionId) -> Option<SessionView>,
    ) -> Result<(), ResumeRefusal> {
        self.resume_attempt(now, token)?;
        self.resume_session(token, session(token.id()), over_websocket)
    }

    /// The first step of judging a resume attempt at `now`: resume on, the attempt
    /// rate, the token's instance. No session is looked up for an attempt refused here.
    ///
    /// # Errors
    ///
    /// The first of those rules the attempt breaks.
    pub fn resume_attempt(
        &mut self,
        now: Instant,
        token: &ResumeToken,
    ) -> Result<(), ResumeRefusal> {
        let gate = self.gate();
        let rate = &mut self.resume_rate;
        gate.attempt(token, || rate.try_take(now))
    }

    /// The second step: the session `token` names, as found (`None` if there is none),
    /// may be resumed over a connection that is WebSocket or not. A session ended to
    /// make room is refused as [`ResumeRefusal::Evicted`].
    ///
    /// # Errors
    ///
    /// The first rule on the session that the attempt breaks.
    pub fn resume_session(
        &self,
        token: &ResumeToken,
        session: Option<SessionView>,
        over_websocket: bool,
    ) -> Result<(), ResumeRefusal> {
        match ResumeGate::session(session, over_websocket) {
            Err(ResumeRefusal::Ended) if self.evicted.contains(&token.id()) => {
                Err(ResumeRefusal::Evicted)
            }
            judged => judged,
        }
    }

    fn gate(&self) -> ResumeGate {
        ResumeGate {
            enabled: self.settings.resume.is_some(),
            instance: self.settings.instance,
        }
    }

    /// The session `id` lost its link at `now` and waits for a resume for `grace`;
    /// returns when its grace is over. Parking it again moves the deadline.
    ///
    /// If that makes more sessions wait than `max_parked_sessions`, the one that has
    /// waited longest is ended to make room: [`evicted`](Self::evicted) names it.
    pub fn park(&mut self, id: ConnectionId, now: Instant, grace: std::time::Duration) -> Instant {
        self.unpark(id);
        let until = now + grace;
        self.parked.insert(id, until);
        self.deadlines.insert((until, id));
        while self.parked.len() > self.max_parked {
            let Some(victim) = self.oldest_parked().filter(|&v| v != id) else {
                break;
            };
            self.evict_parked(victim);
            self.to_end.push(victim);
        }
        until
    }

    /// The sessions ended to make room since the last call: the driver ends each one
    /// (`DisconnectReason::NotResumed`); a resume of any is refused as
    /// [`ResumeRefusal::Evicted`].
    pub fn evicted(&mut self) -> Vec<ConnectionId> {
        std::mem::take(&mut self.to_end)
    }

    /// Whether the session `id` was ended to make room (one of the latest
    /// [`EVICTED_REMEMBERED`]).
    pub fn was_evicted(&self, id: ConnectionId) -> bool {
        self.evicted.contains(&id)
    }

    /// The session `id` no longer waits (it resumed, or ended); returns whether it was
    /// waiting.
    pub fn unpark(&mut self, id: ConnectionId) -> bool {
        match self.parked.remove(&id) {
            Some(until) => {
                self.deadlines.remove(&(until, id));
                true
            }
            None => false,
        }
    }

    /// Whether the session `id`'s grace is over at `now`: if it is, it no longer waits
    /// (and ends, `DisconnectReason::NotResumed`). False if it does not wait.
    pub fn expire(&mut self, id: ConnectionId, now: Instant) -> bool {
        match self.parked.get(&id) {
            Some(&until) if until <= now => self.unpark(id),
            _ => false,
        }
    }

    /// Sessions waiting for a resume.
    pub fn parked(&self) -> usize {
        self.parked.len()
    }

    /// When the next session's grace is over, if one waits.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.first().map(|(until, _)| *until)
    }

    /// The sessions whose grace is over at `now`, oldest deadline first: they no longer
    /// wait, and end (`DisconnectReason::NotResumed`).
    pub fn expired(&mut self, now: Instant) -> Vec<ConnectionId> {
        let mut over = Vec::new();
        while let Some(&(until, id)) = self.deadlines.first() {
            if until > now {
                break;
            }
            self.deadlines.pop_first();
            self.parked.remove(&id);
            over.push(id);
        }
        over
    }

    /// Connections counted against `max_connections`.
    pub fn open_connections(&self) -> usize {
        self.admission.open()
    }

    /// Quiet connections now.
    pub fn quiet(&self) -> usize {
        self.admission.quiet()
    }
}

//! Who gets a connection slot: the server-wide rules of admission, sans-IO.
//!
//! A connection that never sends anything may stay as long as the server has room: a
//! repod spectator, a scoreboard or a viewer is a real user who only listens. What must
//! not happen is that connections which only hold slots keep players out. So a connection
//! that has not yet sent a complete frame is *quiet*, and quiet connections are the first
//! to go, oldest first, when
//!
//! - the server is full ([`AdmissionSettings::max_connections`]) and a new connection
//!   arrives: the oldest quiet one is closed to make room for it; or
//! - there are more quiet connections than [`AdmissionSettings::max_quiet_connections`]:
//!   the oldest is closed.
//!
//! An evicted connection is told why (`podnet:close`, see
//! [`DisconnectReason::Evicted`](crate::DisconnectReason::Evicted)) and given a short
//! time to read it; its slot is free at once. Only a server full of connections that have
//! all spoken turns newcomers away.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use crate::{ConnectionId, RateLimit, TokenBucket};

/// At most this many evicted connections are given time to read why at once; past that,
/// an evicted connection is cut without a word, so that a flood of evictions costs no more
/// than a bounded number of lingering sockets.
pub const MAX_TOLD_EVICTIONS: usize = 64;

/// What an evicted connection is told, in `podnet:close`.
pub const EVICTION_REASON: &str = "server full: this connection had sent nothing yet, so it was \
     closed to make room; reconnect and send a message to keep your place";

/// The limits admission enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AdmissionSettings {
    /// The most connections open at once (`ServerConfig::max_connections`).
    pub max_connections: usize,
    /// The most quiet connections (that have not sent a complete frame) at once
    /// (`ServerConfig::max_quiet_connections`); at least 1.
    pub max_quiet_connections: usize,
    /// How many `info` connections are answered, server-wide (`ServerConfig::info_rate`).
    pub info_rate: RateLimit,
    /// The most sessions waiting for a resume at once (`ResumeConfig::max_parked`); at
    /// least 1. Past it, the session that has waited longest ends. And when the server
    /// is full, a newcomer takes the slot of the session that has waited longest before
    /// it is turned away.
    pub max_parked_sessions: usize,
}

impl Default for AdmissionSettings {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            max_quiet_connections: 1024,
            info_rate: RateLimit::new(20, 40),
            max_parked_sessions: 1024,
        }
    }
}

/// A connection ended to make room: a quiet one, or a session waiting for a resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Eviction {
    /// The connection to close.
    pub victim: ConnectionId,
    /// Whether to tell it why and give it a moment to read that; if not, cut it at once
    /// (more than [`MAX_TOLD_EVICTIONS`] are being told already, or no one is there).
    pub tell: bool,
    /// Whether the victim is a session waiting for a resume (no link to close: end the
    /// session) rather than a quiet connection.
    pub parked: bool,
}

/// What to do with a connection that just arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Admit {
    /// Serve it, under this id.
    Accept(ConnectionId),
    /// Serve it under `id`, after closing `eviction.victim`, whose slot it takes.
    Evict {
        /// The new connection's id.
        id: ConnectionId,
        /// The quiet connection that makes room.
        eviction: Eviction,
    },
    /// The server is full of connections that have all spoken: turn it away.
    Refuse,
}

/// The server's admission state. One per server; the driver keeps it under a lock and
/// calls it when a connection arrives, starts serving, first speaks, and ends.
///
/// ```
/// use podnet_proto::{Admission, AdmissionSettings, Admit};
///
/// let mut settings = AdmissionSettings::default();
/// settings.max_connections = 1;
/// let mut admission = Admission::new(settings, std::time::Instant::now());
/// let Admit::Accept(quiet) = admission.admit() else { panic!() };
/// assert_eq!(admission.started(quiet), None);
/// // Full, but the one connection never spoke: it makes room.
/// match admission.admit() {
///     Admit::Evict { eviction, .. } => assert_eq!(eviction.victim, quiet),
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Debug)]
pub struct Admission {
    settings: AdmissionSettings,
    /// Connections counted against `max_connections`.
    open: usize,
    next_id: u64,
    /// Started connections that have not spoken, by id: the smallest is the oldest.
    quiet: BTreeSet<ConnectionId>,
    /// Evicted connections that have not ended yet (no longer counted in `open`), and
    /// whether each was told why.
    evicted: HashMap<ConnectionId, bool>,
    /// How many of `evicted` are being told why.
    telling: usize,
    info: TokenBucket,
}

impl Admission {
    /// A server's admission, with nothing open.
    pub fn new(mut settings: AdmissionSettings, now: Instant) -> Self {
        settings.max_quiet_connections = settings.max_quiet_connections.max(1);
        let info = TokenBucket::new(settings.info_rate, now);
        Self {
            settings,
            open: 0,
            next_id: 1,
            quiet: BTreeSet::new(),
            evicted: HashMap::new(),
            telling: 0,
            info,
        }
    }

    fn next_id(&mut self) -> ConnectionId {
        let id = ConnectionId::from_raw(self.next_id);
        self.next_id += 1;
        id
    }

    /// Marks `victim` evicted: it no longer counts, and it is told why if few are.
    fn evict(&mut self, victim: ConnectionId) -> Eviction {
        let tell = self.telling < MAX_TOLD_EVICTIONS;
        if tell {
            self.telling += 1;
        }
        self.evicted.insert(victim, tell);
        Eviction {
            victim,
            tell,
            parked: false,
        }
    }

    /// A connection arrived. If it is accepted it counts as open from now on, until
    /// [`ended`](Self::ended).
    pub fn admit(&mut self) -> Admit {
        if self.open < self.settings.max_connections {
            self.open += 1;
            return Admit::Accept(self.next_id());
        }
        match self.quiet.pop_first() {
            Some(victim) => {
                // The victim's slot goes to the newcomer: `open` stays.
                let eviction = self.evict(victim);
                Admit::Evict {
                    id: self.next_id(),
                    eviction,
                }
            }
            None => Admit::Refuse,
        }
    }

    /// A connection arrived at a full server and takes the slot of `victim` (a session
    /// waiting for a resume, which has no one to tell): it counts as open from now on.
    pub(crate) fn replace(&mut self, victim: ConnectionId) -> Admit {
        self.evicted.insert(victim, false);
        Admit::Evict {
            id: self.next_id(),
            eviction: Eviction {
                victim,
                tell: false,
                parked: true,
            },
        }
    }

    /// The connection started serving (past its TLS handshake, if any): it is quiet until
    /// it [speaks](Self::spoke). If that makes too many quiet connections, the oldest one
    /// (never this one: the cap is at least 1) is evicted.
    pub fn started(&mut self, id: ConnectionId) -> Option<Eviction> {
        self.quiet.insert(id);
        if self.quiet.len() <= self.settings.max_quiet_connections {
            return None;
        }
        let victim = self.quiet.pop_first()?;
        self.open = self.open.saturating_sub(1);
        Some(self.evict(victim))
    }

    /// The connection sent its first complete frame: it is no longer quiet.
    pub fn spoke(&mut self, id: ConnectionId) {
        self.quiet.remove(&id);
    }

    /// The connection ended (or was never started: a failed TLS handshake).
    pub fn ended(&mut self, id: ConnectionId) {
        self.quiet.remove(&id);
        match self.evicted.remove(&id) {
            Some(told) => {
                if told {
                    self.telling -= 1;
                }
            }
            None => self.open = self.open.saturating_sub(1),
        }
    }

    /// Whether an `info` connection may be answered now (server-wide rate).
    pub fn info_allowed(&mut self, now: Instant) -> bool {
        self.info.try_take(now)
    }

    /// Connections counted against `max_connections`.
    pub fn open(&self) -> usize {
        self.open
    }

    /// Quiet connections now.
    pub fn quiet(&self) -> usize {
        self.quiet.len()
    }

    /// The settings in force.
    pub fn settings(&self) -> &AdmissionSettings {
        &self.settings
    }
}

//! The connections a server serves, by id, and the list of its sessions that broadcasts
//! go over.
//!
//! A send to one connection looks it up under the table's lock and lets go before
//! touching it. A broadcast takes a snapshot of the sessions (one shared list, rebuilt
//! only after a connection came, became a session or left) and sends to each with no lock
//! of the registry held: the writes and queue locks of a broadcast never hold up the
//! network thread's accepts and closes, nor each other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::ConnectionId;
use crate::conn::Shared;
use crate::lock::Lock;
use crate::stats::{Totals, Traffic};

/// Every connection being served, sessions or not yet.
#[derive(Debug, Default)]
pub(super) struct Registry {
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    connections: HashMap<ConnectionId, Arc<Shared>>,
    /// The sessions, as of the last change; `None` once a change made it stale.
    sessions: Option<Arc<[Arc<Shared>]>>,
}

impl Registry {
    pub(super) fn insert(&self, id: ConnectionId, conn: Arc<Shared>) {
        let mut table = self.table.locked();
        table.connections.insert(id, conn);
        table.sessions = None;
    }

    /// Forgets connection `id`, its traffic added to `retired` in the same step, so that
    /// [`traffic`](Self::traffic) counts it once, whenever it is asked.
    pub(super) fn remove(&self, id: ConnectionId, retired: &Traffic) {
        let mut table = self.table.locked();
        if let Some(conn) = table.connections.remove(&id) {
            retired.absorb(&conn.traffic);
            table.sessions = None;
        }
    }

    /// The traffic of every connection, and `retired`'s, added up.
    pub(super) fn traffic(&self, retired: &Traffic) -> Totals {
        let table = self.table.locked();
        let mut totals = Totals::default();
        retired.add_to(&mut totals);
        for conn in table.connections.values() {
            conn.traffic.add_to(&mut totals);
        }
        totals
    }

    /// A connection became a session: broadcasts reach it from now on.
    pub(super) fn became_session(&self) {
        self.table.locked().sessions = None;
    }

    /// The connection `id`, session or not.
    pub(super) fn get(&self, id: ConnectionId) -> Option<Arc<Shared>> {
        self.table.locked().connections.get(&id).cloned()
    }

    /// The session `id`, if it is one.
    pub(super) fn session(&self, id: ConnectionId) -> Option<Arc<Shared>> {
        self.table
            .locked()
            .connections
            .get(&id)
            .filter(|conn| conn.is_session())
            .cloned()
    }

    /// The sessions now, to go over without holding the registry.
    pub(super) fn sessions(&self) -> Arc<[Arc<Shared>]> {
        let mut table = self.table.locked();
        if let Some(sessions) = &table.sessions {
            return sessions.clone();
        }
        let mut sessions: Vec<Arc<Shared>> = table
            .connections
            .values()
            .filter(|conn| conn.is_session())
            .cloned()
            .collect();
        // In order of connection, as the application numbers them.
        sessions.sort_unstable_by_key(|conn| conn.id);
        let sessions: Arc<[Arc<Shared>]> = sessions.into();
        table.sessions = Some(sessions.clone());
        sessions
    }

    /// Every connection now, sessions or not.
    pub(super) fn all(&self) -> Vec<Arc<Shared>> {
        self.table.locked().connections.values().cloned().collect()
    }
}

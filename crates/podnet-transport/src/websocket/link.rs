//! What a WebSocket connection's reader and its sending side share: how this side's close
//! frame answers the peer (its own close, or its violation), and the way to the queue for
//! pongs.

use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;

use super::close::{CloseCode, Violation};
use super::frames;
use crate::conn::Shared;
use crate::lock::Lock;

/// One WebSocket connection's link between its reader and its sending side.
#[derive(Debug, Default)]
pub(crate) struct WsLink {
    /// The code and reason this side closes with, when it is not a plain close (1000
    /// with the `podnet:close` reason): a violation, or the echo of the peer's close.
    answer: Mutex<Option<(u16, String)>>,
    /// The connection (or, once resumed, the session) whose queue takes the pongs.
    conn: Mutex<Weak<Shared>>,
}

impl WsLink {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Connects the link to the connection whose queue takes the pongs: the one it was
    /// opened for, then the session it resumes, if it does.
    pub(crate) fn attach(&self, conn: &Arc<Shared>) {
        *self.conn.locked() = Arc::downgrade(conn);
    }

    fn answer(&self) -> std::sync::MutexGuard<'_, Option<(u16, String)>> {
        self.answer.locked()
    }

    /// The peer pinged: queue the pong (after the message being written, never inside it).
    pub(crate) fn pong(&self, payload: &[u8]) {
        let conn = self.conn.locked().upgrade();
        if let Some(conn) = conn {
            // A peer that pings and does not read fills its own queue: the pong is
            // dropped like any send to a full queue.
            let _ = conn.queue.push_control(None, frames::pong(payload));
        }
    }

    /// The peer sent a close frame: this side answers with the same code.
    pub(crate) fn peer_closed(&self, code: Option<u16>) {
        let mut answer = self.answer();
        if answer.is_none() {
            *answer = Some((code.unwrap_or(CloseCode::Normal.code()), String::new()));
        }
    }

    /// The peer broke the protocol: this side closes with the violation's code and reason.
    pub(crate) fn violated(&self, violation: &Violation) {
        let mut answer = self.answer();
        if answer.is_none() {
            *answer = Some((violation.code.code(), violation.reason.clone()));
        }
    }

    /// What a close from this side sends: `podnet:close` (the repod frame
    /// `podnet_close`), then the close frame, 1000 with `reason` unless the peer's close or
    /// violation decided otherwise.
    pub(crate) fn closing(&self, podnet_close: &Bytes, reason: &str) -> Bytes {
        match &*self.answer() {
            Some((code, why)) => frames::closing(podnet_close, *code, why),
            None => frames::closing(podnet_close, CloseCode::Normal.code(), reason),
        }
    }

    /// What goes out last when the reader ended first: the answer to the peer's close
    /// frame, or nothing after a cut (there is no one to tell).
    pub(crate) fn ending(&self) -> Bytes {
        match &*self.answer() {
            Some((code, why)) => frames::closing(&Bytes::new(), *code, why),
            None => Bytes::new(),
        }
    }
}

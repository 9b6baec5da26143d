//! What a resumable session's queue keeps: every message sent and not yet acknowledged,
//! numbered, to send again from where the peer's count says once a new connection takes
//! the session over; and the link to the connection that carries it now.

use super::*;

impl Replay {
    /// The peer has the first `n` frames: let go of what was kept up to there.
    fn release_up_to(&mut self, n: u64) {
        while self.acked < n {
            if let Some(kept) = self.frames.pop_front() {
                self.charged = self.charged.saturating_sub(kept.cost());
            }
            self.acked += 1;
        }
    }
}

impl State {
    /// The queue's frames go to `link` from now on: what was queued for the connection
    /// before is dropped (what matters of it is kept for the replay), and a direct write
    /// still under way on it neither requeues its rest nor ends the new link's.
    fn change_link(&mut self, link: Link) {
        self.link = link;
        self.link_epoch += 1;
        self.frames.clear();
        self.charged = 0;
        self.writing = false;
        self.direct_writing = false;
    }
}

impl OutboundQueue {
    /// Keeps an application frame for a resume, if the session is resumable: charged to
    /// the replay limit, and refused as `Full` past it. Returns whether the frame also goes
    /// to the writer now (a connection is attached).
    pub(super) fn keep(
        &self,
        state: &mut State,
        header: Option<&Bytes>,
        frame: &Bytes,
    ) -> Result<bool, PushError> {
        let Some(replay) = state.replay.as_mut() else {
            return Ok(true);
        };
        let kept = Kept {
            header: header.cloned(),
            frame: frame.clone(),
        };
        let cost = kept.cost();
        if replay.charged > 0 && replay.charged + cost > self.replay_limit {
            return Err(PushError::Full {
                queued: replay.charged + cost,
                limit: self.replay_limit,
            });
        }
        replay.frames.push_back(kept);
        replay.sent += 1;
        replay.charged += cost;
        Ok(state.link == Link::Attached)
    }

    /// Takes back the frame [`keep`](Self::keep) kept last (the queue refused it).
    pub(super) fn unkeep(state: &mut State) {
        if let Some(replay) = state.replay.as_mut() {
            if let Some(kept) = replay.frames.pop_back() {
                replay.sent -= 1;
                replay.charged = replay.charged.saturating_sub(kept.cost());
            }
        }
    }

    /// The session is resumable from now on: keep every application frame until it is
    /// acknowledged. Does nothing if it already is.
    pub(crate) fn keep_for_resume(&self) {
        let mut state = self.lock();
        if state.replay.is_none() {
            state.replay = Some(Box::default());
        }
    }

    /// The session is not resumable: let go of what was kept.
    pub(crate) fn stop_keeping(&self) {
        self.lock().replay = None;
    }

    /// The peer has received `n` application frames: drop what was kept up to there.
    /// Returns false if `n` is more than were sent (the peer is lying or broken).
    pub(crate) fn acked(&self, n: u64) -> bool {
        let mut state = self.lock();
        let Some(replay) = state.replay.as_mut() else {
            return true;
        };
        if n > replay.sent {
            return false;
        }
        replay.release_up_to(n);
        drop(state);
        // Producers waiting for room in the replay may go on.
        self.room.notify_waiters();
        true
    }

    /// The session's connection dropped (its writer has ended): nothing goes out until a
    /// new one is attached; what was queued is dropped, since what matters of it is kept.
    pub(crate) fn detach(&self) {
        let mut state = self.lock();
        state.change_link(Link::Detached);
        state.direct = None;
        drop(state);
        self.room.notify_waiters();
    }

    /// A new connection takes over the session: control messages go to it from now on;
    /// messages wait for [`replay_from`](Self::replay_from). `direct` is its socket for
    /// direct writes (plain TCP).
    pub(crate) fn relink(&self, direct: Option<Arc<dyn DirectWrite>>) {
        let mut state = self.lock();
        state.change_link(Link::Resuming);
        if !(state.closing || state.aborted) {
            state.direct = direct;
        }
    }

    /// The connection that was resuming the session ends without resuming it: what is
    /// queued (the close, above all) goes out to it; nothing kept is sent again. Returns
    /// whether it was resuming.
    pub(crate) fn resume_failed(&self) -> bool {
        let mut state = self.lock();
        if state.link != Link::Resuming {
            return false;
        }
        state.link = Link::Attached;
        drop(state);
        self.writer.notify_one();
        true
    }

    /// The resume is agreed: the peer had received `received` application frames. Queues
    /// every kept frame after those, in order, and attaches the connection. Returns false
    /// if `received` is outside what was sent and not yet acknowledged.
    pub(crate) fn replay_from(&self, received: u64) -> bool {
        let mut state = self.lock();
        let Some(replay) = state.replay.as_mut() else {
            return false;
        };
        if received < replay.acked || received > replay.sent {
            return false;
        }
        // What the peer has is acknowledged by its count.
        replay.release_up_to(received);
        let again: Vec<Kept> = replay.frames.iter().cloned().collect();
        let was_empty = state.frames.is_empty();
        for Kept { header, frame } in again {
            // Not charged to the queue's limit: the replay limit already bounds them.
            if let Some(header) = header {
                state.frames.push_back(header);
            }
            state.frames.push_back(frame);
        }
        state.link = Link::Attached;
        // A close waiting for the attach may go out now too.
        let wake = (was_empty && !state.frames.is_empty()) || state.closing;
        drop(state);
        if wake {
            self.writer.notify_one();
        }
        self.room.notify_waiters();
        true
    }

    /// Application frames kept for a resume: how many, and their charged bytes.
    pub(crate) fn kept(&self) -> (usize, usize) {
        let state = self.lock();
        state
            .replay
            .as_ref()
            .map_or((0, 0), |r| (r.frames.len(), r.charged))
    }
}

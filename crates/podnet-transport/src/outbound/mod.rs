//! A connection's outbound queue: encoded frames waiting for the writer task.
//!
//! Producers (the application, on any thread) push without blocking; the one writer takes
//! everything queued at once and writes it with as few syscalls as it can. The queue is
//! bounded in bytes, and closing it puts the close frame after everything already queued.
//!
//! A push may instead write the frame to the socket itself, from the sending thread,
//! when nothing is queued or being written ([`OutboundQueue::push_direct`]): a reply then
//! leaves without waking the network thread. That write is made outside the queue's lock:
//! the lock is held for a few assignments only, never across a syscall, so a broadcast
//! from the game thread and the writer task on the network thread never wait on each
//! other's writes. While a direct write is under way, pushes queue behind it and the
//! writer waits for it to end.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex};

use crate::lock::Lock;
use bytes::Bytes;
use tokio::sync::Notify;

mod replay;

/// A socket the sending thread may write to without waiting: a non-blocking write that
/// takes what the kernel accepts now.
pub(crate) trait DirectWrite: Send + Sync + std::fmt::Debug + 'static {
    /// Writes what fits now, in order; `WouldBlock` if nothing does.
    fn try_write_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize>;
}

impl DirectWrite for tokio::net::tcp::OwnedWriteHalf {
    fn try_write_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        tokio::net::tcp::OwnedWriteHalf::try_write_vectored(self, bufs)
    }
}

/// Each queued frame is charged this much on top of its length: the bookkeeping it costs
/// (its `Bytes` handle and queue slot). It keeps a flood of tiny frames bounded as well.
pub(crate) const FRAME_OVERHEAD: usize = 48;

/// How far past its limit a queue takes control messages.
const CONTROL_SLACK: usize = 64 * 1024;

/// Why a push was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushError {
    /// The queue is closing or closed: nothing more goes out on this connection.
    Closed,
    /// The frame would take the queue over its limit.
    Full { queued: usize, limit: usize },
}

/// What the writer should do next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Write the frames moved into the batch.
    Write,
    /// Everything queued was handed out: write this close frame (possibly empty), then
    /// shut the connection down.
    Close(Bytes),
    /// The queue was aborted: stop without writing anything more.
    Abort,
}

/// Where the queue's frames go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Link {
    /// To the writer of a live connection.
    #[default]
    Attached,
    /// Nowhere: the session's connection dropped. Messages are kept for a resume;
    /// control messages are dropped.
    Detached,
    /// To a new connection that is resuming: control messages go out, messages are kept
    /// until [`OutboundQueue::replay_from`] sends them, in order.
    Resuming,
}

/// What a resumable session keeps: every application frame sent and not yet acknowledged
/// by the peer, oldest first.
#[derive(Debug, Default)]
struct Replay {
    frames: VecDeque<Kept>,
    /// Frames acknowledged so far: `frames[0]` is number `acked + 1`.
    acked: u64,
    /// Frames sent on the session so far.
    sent: u64,
    /// Charged bytes of `frames` (with [`FRAME_OVERHEAD`] each).
    charged: usize,
}

/// One application frame kept for a resume, as it went on the wire: after `header` (a
/// WebSocket message's), when there is one.
#[derive(Debug, Clone)]
struct Kept {
    header: Option<Bytes>,
    frame: Bytes,
}

impl Kept {
    /// What it is charged against the replay's limit.
    fn cost(&self) -> usize {
        self.header.as_ref().map_or(0, Bytes::len) + self.frame.len() + FRAME_OVERHEAD
    }
}

#[derive(Debug, Default)]
struct State {
    frames: VecDeque<Bytes>,
    /// Charged bytes of `frames` plus the batch the writer is writing.
    charged: usize,
    /// The most `charged` ever was: what tests assert memory bounds on.
    high_water: usize,
    /// Set by `close`: no more pushes; hand out `close_frame` once drained.
    close_frame: Option<Bytes>,
    /// The writer holds a batch it is writing: nothing may be written around it.
    writing: bool,
    /// A sending thread is writing to the socket directly, outside the lock: the writer
    /// waits, and what is pushed meanwhile queues behind it.
    direct_writing: bool,
    /// Counts the changes of link (a dropped connection, a new one): a direct write that
    /// began on an earlier link neither requeues its rest nor clears `direct_writing`.
    link_epoch: u64,
    /// The socket, for direct writes (plain TCP only). Let go of as soon as the queue
    /// closes, so that the socket is closed once the connection's tasks end, not when
    /// the last handle to the connection is dropped.
    direct: Option<Arc<dyn DirectWrite>>,
    closing: bool,
    aborted: bool,
    link: Link,
    /// Set while the session is resumable.
    replay: Option<Box<Replay>>,
}

#[derive(Debug)]
pub(crate) struct OutboundQueue {
    state: Mutex<State>,
    limit: usize,
    /// The most bytes a resumable session keeps unacknowledged.
    replay_limit: usize,
    /// Wakes the writer when the queue stops being empty (or closes).
    writer: Notify,
    /// Wakes producers waiting for room.
    room: Notify,
}

/// Figures for statistics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueueStats {
    pub(crate) frames: usize,
    pub(crate) charged: usize,
    pub(crate) high_water: usize,
}

impl OutboundQueue {
    #[cfg(test)]
    pub(crate) fn new(limit: usize, direct: Option<Arc<dyn DirectWrite>>) -> Self {
        Self::with_replay_limit(limit, usize::MAX, direct)
    }

    pub(crate) fn with_replay_limit(
        limit: usize,
        replay_limit: usize,
        direct: Option<Arc<dyn DirectWrite>>,
    ) -> Self {
        Self {
            state: Mutex::new(State {
                direct,
                ..State::default()
            }),
            limit,
            replay_limit,
            writer: Notify::new(),
            room: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the state inconsistent (every
        // update is a few plain assignments), so a poisoned lock is still usable.
        self.state.locked()
    }

    /// Queues a frame. A frame always fits into an empty queue, whatever its size.
    #[cfg(test)]
    pub(crate) fn push(&self, frame: Bytes) -> Result<(), PushError> {
        let state = self.lock();
        if state.closing || state.aborted {
            return Err(PushError::Closed);
        }
        self.push_locked(state, None, frame, false)
    }

    /// Queues a control message (after `header`, when given): never kept for a resume,
    /// and dropped while no connection is attached.
    pub(crate) fn push_control(
        &self,
        header: Option<Bytes>,
        frame: Bytes,
    ) -> Result<(), PushError> {
        let state = self.lock();
        // A session closed while its connection was down still resumes (its hello and
        // acknowledgements go out) so that what it sent is delivered before the close.
        if state.aborted || (state.closing && state.link == Link::Attached) {
            return Err(PushError::Closed);
        }
        if state.link == Link::Detached {
            return Ok(());
        }
        // Control messages (acknowledgements above all) must get through a queue that
        // messages filled: a lost acknowledgement could leave both sides waiting for
        // room. They have a little room of their own past the limit.
        self.push_within(state, header, frame, false, self.limit + CONTROL_SLACK)
    }

    /// Queues a control message, as [`push_control`](Self::push_control), and keeps
    /// every application frame queued after it for a resume: the two in one step.
    pub(crate) fn push_control_then_keep(
        &self,
        header: Option<Bytes>,
        frame: Bytes,
    ) -> Result<(), PushError> {
        let mut state = self.lock();
        if state.replay.is_none() {
            state.replay = Some(Box::default());
        }
        if state.aborted || (state.closing && state.link == Link::Attached) {
            return Err(PushError::Closed);
        }
        if state.link == Link::Detached {
            return Ok(());
        }
        self.push_within(state, header, frame, false, self.limit + CONTROL_SLACK)
    }

    /// Queues `frame` after `header` (a WebSocket frame's header), as one: nothing else
    /// goes between them. Each counts as an entry of the queue.
    ///
    /// With `keep`, an application frame of a resumable session, it is kept for a resume
    /// too (unless the queue is full).
    fn push_locked(
        &self,
        state: std::sync::MutexGuard<'_, State>,
        header: Option<Bytes>,
        frame: Bytes,
        keep: bool,
    ) -> Result<(), PushError> {
        self.push_within(state, header, frame, keep, self.limit)
    }

    fn push_within(
        &self,
        mut state: std::sync::MutexGuard<'_, State>,
        header: Option<Bytes>,
        frame: Bytes,
        keep: bool,
        limit: usize,
    ) -> Result<(), PushError> {
        let header_cost = header.as_ref().map_or(0, |h| h.len() + FRAME_OVERHEAD);
        let cost = frame.len() + FRAME_OVERHEAD + header_cost;
        if state.charged > 0 && state.charged + cost > limit {
            return Err(PushError::Full {
                queued: state.charged + cost,
                limit: self.limit,
            });
        }
        if keep && !self.keep(&mut state, header.as_ref(), &frame)? {
            return Ok(());
        }
        let was_empty = state.frames.is_empty();
        if let Some(header) = header {
            state.frames.push_back(header);
        }
        state.frames.push_back(frame);
        state.charged += cost;
        state.high_water = state.high_water.max(state.charged);
        drop(state);
        if was_empty {
            self.writer.notify_one();
        }
        Ok(())
    }

    /// Writes `frame` to the socket at once, from the calling thread, if nothing is
    /// queued or being written (so order is kept); what the socket does not take now is
    /// queued for the writer as [`push`](Self::push) does. Never blocks: the write is
    /// non-blocking, and the lock it is made under is never held across a wait.
    ///
    /// `allowed` is consumed by a write: the reader sets it again when the peer next
    /// sends something. So a burst of sends between two reads writes once and queues the
    /// rest for one vectored write, and a broadcast writes directly only to the peers
    /// that spoke since their last direct write, whatever the number of sends.
    ///
    /// `header`, when given, goes first and with it (a WebSocket frame's header).
    pub(crate) fn push_direct(
        &self,
        header: Option<Bytes>,
        frame: Bytes,
        allowed: &std::sync::atomic::AtomicBool,
    ) -> Result<(), PushError> {
        let mut state = self.lock();
        if state.closing || state.aborted {
            return Err(PushError::Closed);
        }
        if state.replay.is_some() {
            // Kept first, so a full replay refuses the frame before any of it is written;
            // un-kept if the queue refuses it. With no connection attached it is only kept.
            if !self.keep(&mut state, header.as_ref(), &frame)? {
                return Ok(());
            }
            return self.write_or_queue(state, header, frame, allowed, true);
        }
        self.write_or_queue(state, header, frame, allowed, false)
    }

    /// The direct write of [`push_direct`](Self::push_direct), or queueing, for a frame
    /// already kept if it had to be.
    ///
    /// The write is made with the lock released: `direct_writing` keeps the writer and
    /// other direct writes off the socket meanwhile, and what other threads push queues
    /// behind it. Whatever the socket did not take goes to the front of the queue, ahead
    /// of those, since its first bytes are on the wire already.
    fn write_or_queue(
        &self,
        mut state: std::sync::MutexGuard<'_, State>,
        header: Option<Bytes>,
        frame: Bytes,
        allowed: &std::sync::atomic::AtomicBool,
        kept: bool,
    ) -> Result<(), PushError> {
        let socket = state
            .direct
            .as_ref()
            .filter(|_| {
                state.frames.is_empty()
                    && !state.writing
                    && !state.direct_writing
                    && allowed.swap(false, std::sync::atomic::Ordering::Relaxed)
            })
            .cloned();
        let Some(socket) = socket else {
            let header_cost = header.as_ref().map_or(0, |h| h.len() + FRAME_OVERHEAD);
            let cost = frame.len() + FRAME_OVERHEAD + header_cost;
            if kept && state.charged > 0 && state.charged + cost > self.limit {
                Self::unkeep(&mut state);
            }
            return self.push_locked(state, header, frame, false);
        };
        state.direct_writing = true;
        let epoch = state.link_epoch;
        drop(state);

        let head = header.as_deref().unwrap_or_default();
        let written = if head.is_empty() {
            socket.try_write_vectored(&[io::IoSlice::new(&frame)])
        } else {
            socket.try_write_vectored(&[io::IoSlice::new(head), io::IoSlice::new(&frame)])
        };
        // Full, or failed: the writer finds out which and acts on it, with all of it.
        let n = written.unwrap_or(0);
        let rest = if n >= head.len() + frame.len() {
            None
        } else if n < head.len() {
            Some((header.map(|h| h.slice(n..)), frame))
        } else {
            Some((None, frame.slice(n - head.len()..)))
        };
        drop(socket);

        let mut state = self.lock();
        if state.link_epoch != epoch {
            // The connection was dropped or replaced meanwhile: what is kept is replayed
            // from the session's record, not from here.
            return Ok(());
        }
        state.direct_writing = false;
        if let Some((header, frame)) = rest {
            if !(state.aborted || state.link == Link::Detached) {
                // Part of it may be on the wire: it is taken whatever the queue holds.
                let header_cost = header.as_ref().map_or(0, |h| h.len() + FRAME_OVERHEAD);
                state.charged += frame.len() + FRAME_OVERHEAD + header_cost;
                state.high_water = state.high_water.max(state.charged);
                state.frames.push_front(frame);
                if let Some(header) = header {
                    state.frames.push_front(header);
                }
            }
        }
        // The writer may have been woken for what queued behind the write, and found it
        // held back: wake it again.
        let wake = !state.frames.is_empty() || state.closing || state.aborted;
        drop(state);
        if wake {
            self.writer.notify_one();
        }
        Ok(())
    }

    /// Queues a frame (after `header`, when given), waiting for room if the queue is full.
    pub(crate) async fn push_wait(
        &self,
        header: Option<Bytes>,
        frame: Bytes,
    ) -> Result<(), PushError> {
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            // Register before checking, so a release between the check and the wait is
            // not missed.
            room.as_mut().enable();
            let pushed = {
                let state = self.lock();
                if state.closing || state.aborted {
                    Err(PushError::Closed)
                } else {
                    let keep = state.replay.is_some();
                    self.push_locked(state, header.clone(), frame.clone(), keep)
                }
            };
            match pushed {
                Err(PushError::Full { .. }) => room.await,
                other => return other,
            }
        }
    }

    /// Closes the queue: what is queued still goes out, then `close_frame`. Returns false
    /// if it was already closing or aborted.
    pub(crate) fn close(&self, close_frame: Bytes) -> bool {
        let closed = self.close_quietly(close_frame);
        if closed {
            self.wake();
        }
        closed
    }

    /// [`close`](Self::close), without waking the writer and the producers waiting for
    /// room: for a caller holding a lock of its own, which calls [`wake`](Self::wake)
    /// once it has let go.
    pub(crate) fn close_quietly(&self, close_frame: Bytes) -> bool {
        let mut state = self.lock();
        state.direct = None;
        if state.closing || state.aborted {
            return false;
        }
        state.closing = true;
        state.close_frame = Some(close_frame);
        true
    }

    /// Wakes the writer, and the producers waiting for room, to look at the queue again.
    pub(crate) fn wake(&self) {
        self.writer.notify_one();
        self.room.notify_waiters();
    }

    /// Drops everything queued and stops the writer.
    pub(crate) fn abort(&self) {
        let mut state = self.lock();
        state.aborted = true;
        state.direct = None;
        state.frames.clear();
        drop(state);
        self.writer.notify_one();
        self.room.notify_waiters();
    }

    pub(crate) fn is_closing(&self) -> bool {
        let state = self.lock();
        state.closing || state.aborted
    }

    /// Waits for work and moves every queued frame into `batch` (which must be empty).
    pub(crate) async fn next(&self, batch: &mut VecDeque<Bytes>) -> Next {
        loop {
            {
                let mut state = self.lock();
                if state.aborted {
                    return Next::Abort;
                }
                // A direct write under way wakes the writer when it ends.
                if !state.direct_writing {
                    if !state.frames.is_empty() {
                        // Swap rather than drain: both deques keep their allocations.
                        std::mem::swap(&mut state.frames, batch);
                        state.writing = true;
                        return Next::Write;
                    }
                    // A resuming session's close waits for the replay (what was sent
                    // first).
                    if state.closing && state.link == Link::Attached {
                        return Next::Close(state.close_frame.take().unwrap_or_default());
                    }
                }
            }
            // notify_one stores a wake-up if the writer is not waiting yet, so a push
            // between the check above and this await is not lost.
            self.writer.notified().await;
        }
    }

    /// The writer wrote `frames` frames totalling `bytes` bytes: give their room back.
    pub(crate) fn release(&self, frames: usize, bytes: usize) {
        let mut state = self.lock();
        state.charged = state
            .charged
            .saturating_sub(bytes + frames * FRAME_OVERHEAD);
        state.writing = false;
        drop(state);
        self.room.notify_waiters();
    }

    /// The direct-write socket, taken away (a connection handed to another session).
    pub(crate) fn take_direct(&self) -> Option<Arc<dyn DirectWrite>> {
        self.lock().direct.take()
    }

    pub(crate) fn stats(&self) -> QueueStats {
        let state = self.lock();
        QueueStats {
            frames: state.frames.len(),
            charged: state.charged,
            high_water: state.high_water,
        }
    }
}

#[cfg(test)]
mod tests;

//! The network inside `pump()`: a current-thread tokio runtime that only the pumping
//! thread drives. The transport runs on it exactly as on a network thread; it simply
//! moves only while `pump()` (or `pump_timeout`, or a shutdown) is inside it.
//!
//! Servers and clients started in pump mode on one thread share that thread's runtime,
//! so pumping one moves the others' sockets too: a game that hosts and plays on one
//! thread has its client's close answered by its own server while it waits for it.

use std::cell::RefCell;
use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crossbeam_channel::Receiver;
use tokio::sync::Notify;

use podnet_transport::ReceivedEvent;

use crate::thread::{Delivery, drain, drain_seeing_wakes};
use crate::{EventHandler, SyncError};

/// The most turns one `pump()` gives the network before it hands over what arrived: a
/// peer that never stops sending cannot keep a pump going. A turn runs every task that
/// is ready, then polls the sockets and timers once without waiting.
pub(crate) const MAX_TURNS: usize = 16;

thread_local! {
    /// The runtime of the pump-mode servers and clients started on this thread.
    static RUNTIME: RefCell<Weak<tokio::runtime::Runtime>> = const { RefCell::new(Weak::new()) };
}

/// A runtime driven by `pump()`, and the signal its sink gives when an event arrives.
#[derive(Debug)]
pub(crate) struct InPump {
    runtime: Arc<tokio::runtime::Runtime>,
    arrived: Arc<Notify>,
}

impl InPump {
    /// This thread's pump runtime (a current-thread runtime with I/O and timers), made if
    /// there is none yet.
    pub(crate) fn new() -> Result<Self, SyncError> {
        let runtime = RUNTIME.with(|cell| -> Result<_, SyncError> {
            if let Some(runtime) = cell.borrow().upgrade() {
                return Ok(runtime);
            }
            let runtime = Arc::new(
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(SyncError::Thread)?,
            );
            *cell.borrow_mut() = Arc::downgrade(&runtime);
            Ok(runtime)
        })?;
        Ok(Self {
            runtime,
            arrived: Arc::new(Notify::new()),
        })
    }

    /// What the sink signals when it delivers an event.
    pub(crate) fn arrived(&self) -> Arc<Notify> {
        self.arrived.clone()
    }

    /// Runs `future` to its end on this thread, the network running meanwhile.
    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// Lets the network run until a turn brings no new event: the first turn runs what
    /// was woken since the last pump (writers of sends made meanwhile) and polls the
    /// sockets, the next ones run the readers that woke, and so on, at most
    /// [`MAX_TURNS`].
    pub(crate) fn run<T>(&self, events: &Receiver<T>) {
        self.runtime.block_on(async {
            let mut seen = events.len();
            for turn in 0..MAX_TURNS {
                tokio::task::yield_now().await;
                let now = events.len();
                if turn > 0 && now == seen {
                    break;
                }
                seen = now;
            }
        });
    }

    /// `pump()` in pump mode: turns of the network, each followed by the hand-over of
    /// what it brought (so a batch is handled while it is still in the cache, and the
    /// replies leave in the next turn), until a turn brings nothing, at most
    /// [`MAX_TURNS`]; then one turn more for the replies of the last.
    pub(crate) fn pump<E: ReceivedEvent>(
        &self,
        events: &Receiver<Delivery<E>>,
        handler: &mut impl EventHandler<E>,
    ) -> usize {
        self.turns(events, handler, 0)
    }

    /// `pump_timeout()` in pump mode: as [`pump`](Self::pump), first waiting up to
    /// `timeout` for an event if the network brought none.
    pub(crate) fn pump_timeout<E: ReceivedEvent>(
        &self,
        events: &Receiver<Delivery<E>>,
        timeout: Duration,
        handler: &mut impl EventHandler<E>,
    ) -> usize {
        self.flush();
        let (handled, woken) = drain_seeing_wakes(events, None, handler);
        // A wake drained here (a stop asked for just now) ends the wait before it begins.
        if handled == 0 && !woken && events.is_empty() && !self.wait(events, timeout) {
            return 0;
        }
        self.turns(events, handler, handled)
    }

    /// Turns and hand-overs until one brings nothing; `handled` were handled before. At
    /// least two: a turn's poll of the sockets wakes their readers, which run in the next.
    fn turns<E: ReceivedEvent>(
        &self,
        events: &Receiver<Delivery<E>>,
        handler: &mut impl EventHandler<E>,
        mut handled: usize,
    ) -> usize {
        for turn in 0..MAX_TURNS {
            let now = self.turn(events, handler);
            handled += now;
            if turn > 0 && now == 0 && events.is_empty() {
                break;
            }
        }
        if handled > 0 {
            self.flush();
        }
        handled
    }

    /// One turn of the network, then the hand-over of what is queued: to `handler`, in
    /// order. Returns how many events were handled.
    fn turn<E: ReceivedEvent>(
        &self,
        events: &Receiver<Delivery<E>>,
        handler: &mut impl EventHandler<E>,
    ) -> usize {
        self.flush();
        drain(events, None, handler)
    }

    /// One turn of the network, handing nothing over: writers write what is queued.
    pub(crate) fn flush(&self) {
        self.runtime.block_on(tokio::task::yield_now());
    }

    /// Waits up to `timeout` for an event, the network running meanwhile: the thread
    /// sleeps in the poll of the sockets, not in a loop. Returns whether one came.
    pub(crate) fn wait<T>(&self, events: &Receiver<T>, timeout: Duration) -> bool {
        self.runtime.block_on(async {
            tokio::time::timeout(timeout, async {
                while events.is_empty() {
                    self.arrived.notified().await;
                }
            })
            .await
            .is_ok()
        })
    }
}

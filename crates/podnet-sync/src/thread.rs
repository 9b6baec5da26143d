//! The background network thread: a tokio runtime of its own, current-thread by default
//! and multi-threaded when `ServerConfig::network_threads` asks for more than one worker.

use std::future::Future;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use podnet_transport::{Received, ReceivedEvent};
use tokio::sync::Notify;

use crate::{EventHandler, SyncError};

/// Runs `task` to completion on a new thread named `name`, inside a tokio runtime that it
/// owns. With `workers` ≤ 1 that is a current-thread runtime: one thread serves every
/// connection, since the work per message is small and a game's own thread is the other
/// core's job. With more, the connections' tasks run on that many runtime workers.
pub(crate) fn spawn<F, Fut>(
    name: &str,
    workers: usize,
    task: F,
) -> Result<JoinHandle<()>, SyncError>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let runtime = if workers > 1 {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name(format!("{name}-worker"))
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
    .map_err(SyncError::Thread)?;
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || runtime.block_on(task()))
        .map_err(SyncError::Thread)
}

/// What crosses from the network thread to the pumping thread: one event, or the messages
/// of one read, made into events only when they are pumped.
#[derive(Debug)]
pub(crate) enum Delivery<E: ReceivedEvent> {
    One(E),
    Read(Received<E>),
    /// No event: a stop was requested, and a waiting pump should look.
    Wake,
}

impl<E: ReceivedEvent> Delivery<E> {
    /// Passes each event to `handler`, in order; returns how many there were.
    #[inline]
    pub(crate) fn handle(self, handler: &mut impl EventHandler<E>) -> usize {
        match self {
            Delivery::One(event) => {
                handler.event(event);
                1
            }
            Delivery::Read(received) => {
                let count = received.len();
                handler.received(received);
                count
            }
            Delivery::Wake => 0,
        }
    }
}

/// Delivers transport events into the crossbeam channel that `pump()` drains: what one
/// read of one connection brought crosses threads in one hand-off.
pub(crate) struct ChannelSink<E: ReceivedEvent> {
    pub(crate) events: crossbeam_channel::Sender<Delivery<E>>,
    /// Told of each delivery when the network runs inside `pump()`, for `pump_timeout`
    /// to wake on (a thread-backed `pump_timeout` sleeps on the channel itself).
    pub(crate) arrived: Option<Arc<Notify>>,
}

impl<E: ReceivedEvent> ChannelSink<E> {
    fn send(&self, delivery: Delivery<E>) {
        // The receiver lives in the handle; if it is gone, so is the application.
        let _ = self.events.send(delivery);
        if let Some(arrived) = &self.arrived {
            arrived.notify_one();
        }
    }
}

impl<E: ReceivedEvent> podnet_transport::EventSink<E> for ChannelSink<E> {
    fn deliver(&self, event: E) {
        self.send(Delivery::One(event));
    }

    fn deliver_received(&self, received: Received<E>) {
        self.send(Delivery::Read(received));
    }

    fn wake(&self) {
        self.send(Delivery::Wake);
    }
}

/// Drains what is queued in `events` when it is called (not what arrives meanwhile, so a
/// flood cannot keep one call going), passing each event to `handler`; `first` is a
/// delivery already taken. Returns how many events were handled.
pub(crate) fn drain<E: ReceivedEvent>(
    events: &crossbeam_channel::Receiver<Delivery<E>>,
    first: Option<Delivery<E>>,
    handler: &mut impl EventHandler<E>,
) -> usize {
    drain_seeing_wakes(events, first, handler).0
}

/// As [`drain`], also saying whether a [`Delivery::Wake`] was among what it drained: a
/// pump about to wait must not, for the wake was meant to end that wait.
pub(crate) fn drain_seeing_wakes<E: ReceivedEvent>(
    events: &crossbeam_channel::Receiver<Delivery<E>>,
    first: Option<Delivery<E>>,
    handler: &mut impl EventHandler<E>,
) -> (usize, bool) {
    let queued = events.len();
    let mut handled = 0;
    let mut woken = false;
    for delivery in first.into_iter().chain(events.try_iter().take(queued)) {
        woken |= matches!(delivery, Delivery::Wake);
        handled += delivery.handle(handler);
    }
    (handled, woken)
}

/// Waits up to `timeout` for a batch, asleep on the channel.
pub(crate) fn wait_first<T>(
    events: &crossbeam_channel::Receiver<T>,
    timeout: Duration,
) -> Option<T> {
    events.recv_timeout(timeout).ok()
}

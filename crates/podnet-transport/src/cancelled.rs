//! Cancellations waited on cheaply, by the loops that poll them on every wake-up.
//!
//! tokio-util's `WaitForCancellationFuture` locks its token on every poll (and its
//! `Notified` locks the token's waiter list while it waits). A connection's reader polls
//! two tokens on every read and its writer one on every batch, so in a busy server those
//! locks were a visible share of podnet's own CPU. [`Cancelled`] waits on the same
//! token, but polls it only when the token has woken the task (or on the first poll, or
//! when another task polls it): any other poll costs one atomic load.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use crate::lock::Lock;

/// Completes when its token is cancelled, as `token.cancelled()` does.
pub(crate) struct Cancelled<'a> {
    inner: Pin<Box<WaitForCancellationFuture<'a>>>,
    relay: Arc<Relay>,
    /// The waker the token's future is polled with: `relay`'s.
    relay_waker: Waker,
    /// The task the relay wakes, as last registered with it.
    task: Option<Waker>,
}

/// Stands between the token and the task: notes that the token woke it.
#[derive(Default)]
struct Relay {
    woken: AtomicBool,
    /// Set when a task first polls (or another task polls); taken only then and when the
    /// token wakes, which is once in a connection's life.
    task: Mutex<Option<Waker>>,
}

impl Wake for Relay {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        // Woken with the lock let go.
        let task = self.task.locked().clone();
        if let Some(task) = task {
            task.wake();
        }
    }
}

impl<'a> Cancelled<'a> {
    pub(crate) fn new(token: &'a CancellationToken) -> Self {
        let relay = Arc::new(Relay::default());
        Self {
            inner: Box::pin(token.cancelled()),
            relay_waker: Waker::from(Arc::clone(&relay)),
            relay,
            task: None,
        }
    }
}

impl Future for Cancelled<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.task.as_ref().is_some_and(|t| t.will_wake(cx.waker())) {
            // Registered with this task already: the token's future has news only if it
            // woke us since.
            if !this.relay.woken.load(Ordering::Acquire) {
                return Poll::Pending;
            }
            this.relay.woken.store(false, Ordering::Relaxed);
        } else {
            // First poll, or another task: the relay wakes this one from now on. Set
            // before the token's future is polled, so no wake-up it makes is lost.
            *this.relay.task.locked() = Some(cx.waker().clone());
            this.task = Some(cx.waker().clone());
        }
        let mut relayed = Context::from_waker(&this.relay_waker);
        this.inner.as_mut().poll(&mut relayed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cancellation after many idle polls completes the wait; one before the first
    /// poll too; and so does a parent's.
    #[tokio::test]
    async fn completes_on_cancel() {
        let token = CancellationToken::new();
        let mut waiting = Cancelled::new(&token);
        for _ in 0..3 {
            tokio::select! {
                biased;
                () = &mut waiting => panic!("not cancelled yet"),
                () = tokio::task::yield_now() => {}
            }
        }
        let cancel = token.clone();
        tokio::spawn(async move { cancel.cancel() });
        tokio::time::timeout(std::time::Duration::from_secs(5), &mut waiting)
            .await
            .expect("the cancel wakes the wait");

        let early = CancellationToken::new();
        early.cancel();
        Cancelled::new(&early).await;

        let parent = CancellationToken::new();
        let child = parent.child_token();
        let mut waiting = Cancelled::new(&child);
        tokio::select! {
            biased;
            () = &mut waiting => panic!("not cancelled yet"),
            () = tokio::task::yield_now() => {}
        }
        let cancel = parent.clone();
        tokio::spawn(async move { cancel.cancel() });
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("the parent's cancel wakes the child's wait");
    }
}

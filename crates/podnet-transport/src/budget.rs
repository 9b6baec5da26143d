//! A connection's inbound budget: how many bytes of received messages and error events may
//! wait for the application before the reader stops reading.

use std::sync::Arc;

use crate::cancelled::Cancelled;
use tokio::sync::Semaphore;
use tracing::trace;

/// The budget of one connection, in bytes, counted by a semaphore.
pub(crate) struct Budget {
    semaphore: Arc<Semaphore>,
    /// The whole budget: what an empty backlog leaves free.
    pub(crate) size: usize,
}

impl Budget {
    pub(crate) fn new(bytes: usize) -> Self {
        // Semaphores count in u32 permits (and at most MAX_PERMITS).
        let size = bytes.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
        Self {
            semaphore: Arc::new(Semaphore::new(size)),
            size,
        }
    }

    /// A share for the next batch; it holds nothing until [`acquire`](Self::acquire)
    /// charges it.
    pub(crate) fn share(&self) -> Share {
        Share {
            semaphore: self.semaphore.clone(),
            permits: 0,
        }
    }

    /// Charges `share` with `bytes` of budget, waiting while the application catches up.
    /// A batch larger than the whole budget takes all of it. Returns false if the
    /// connection is aborted meanwhile.
    pub(crate) async fn acquire(
        &self,
        share: &mut Share,
        bytes: usize,
        aborted: &mut Cancelled<'_>,
    ) -> bool {
        let permits = u32::try_from(bytes.clamp(1, self.size)).unwrap_or(u32::MAX);
        let permit = match self.semaphore.try_acquire_many(permits) {
            Ok(permit) => permit,
            Err(_) => {
                trace!(permits, "inbound budget exhausted: pausing reads");
                tokio::select! {
                    biased;
                    () = aborted => return false,
                    permit = self.semaphore.acquire_many(permits) => match permit {
                        Ok(permit) => permit,
                        Err(_) => return false,
                    },
                }
            }
        };
        // The share gives the permits back when it is dropped: with the batch's last
        // message, or with its error event.
        permit.forget();
        share.permits = share.permits.saturating_add(permits);
        true
    }
}

/// One batch's part of the budget, held by the batch's buffer (or by an error event); the
/// bytes go back to the budget when it is dropped.
#[derive(Debug)]
pub(crate) struct Share {
    semaphore: Arc<Semaphore>,
    permits: u32,
}

impl Drop for Share {
    fn drop(&mut self) {
        let permits = self.permits;
        if permits > 0 {
            self.semaphore.add_permits(permits as usize);
        }
    }
}

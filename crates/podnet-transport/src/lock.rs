//! Locking without poisoning.
//!
//! Every `Mutex` in this crate guards state that each update leaves consistent (single
//! inserts and removes, plain assignments), and none is held across a syscall, an
//! `.await` or another connection's lock. A panic elsewhere while one was held therefore
//! leaves nothing half-done, and the lock is taken as it is.

use std::sync::{Mutex, MutexGuard};

/// [`Mutex::lock`], ignoring poisoning (see the module's documentation).
pub(crate) trait Lock<T> {
    /// Locks, waiting for the lock's holder (never long: see the module's documentation).
    fn locked(&self) -> MutexGuard<'_, T>;
}

impl<T> Lock<T> for Mutex<T> {
    #[inline]
    fn locked(&self) -> MutexGuard<'_, T> {
        self.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

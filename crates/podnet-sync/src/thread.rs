//! The background network thread: a single-threaded tokio runtime of its own.

use std::future::Future;
use std::thread::{self, JoinHandle};

use crate::SyncError;

/// Runs `task` to completion on a new thread named `name`, inside a current-thread tokio
/// runtime that it owns. One thread serves every connection: the work per message is
/// small, and a game's own thread is the other core's job.
pub(crate) fn spawn<F, Fut>(name: &str, task: F) -> Result<JoinHandle<()>, SyncError>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(SyncError::Thread)?;
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || runtime.block_on(task()))
        .map_err(SyncError::Thread)
}

/// Resolves `addr` on the calling thread, so that errors name what the caller gave.
pub(crate) fn resolve(
    addr: impl std::net::ToSocketAddrs + std::fmt::Debug,
) -> Result<Vec<std::net::SocketAddr>, SyncError> {
    let described = format!("{addr:?}");
    let addrs: Vec<_> = addr
        .to_socket_addrs()
        .map_err(|source| SyncError::Resolve {
            addr: described.clone(),
            source,
        })?
        .collect();
    if addrs.is_empty() {
        return Err(SyncError::Resolve {
            addr: described,
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address found"),
        });
    }
    Ok(addrs)
}

/// Delivers transport events into the crossbeam channel that `pump()` drains.
pub(crate) struct ChannelSink<E>(pub(crate) crossbeam_channel::Sender<E>);

impl<E: Send + 'static> podnet_transport::EventSink<E> for ChannelSink<E> {
    fn deliver(&self, event: E) {
        // The receiver lives in the handle; if it is gone, so is the application.
        let _ = self.0.send(event);
    }
}

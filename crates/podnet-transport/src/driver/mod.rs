//! The tokio drivers of one connection: a reader task that feeds the protocol state
//! machine (`podnet_proto::Connection`) and carries out what it asks, and a writer task
//! that drains the outbound queue. Both are thin: every protocol decision is the state
//! machine's.

mod reader;
mod writer;

pub(crate) use writer::SharedTcpWriter;

use std::sync::Arc;

use podnet_framing::MessageBatch;
use podnet_proto::{Handshake, ServerInfo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug};

use crate::conn::Shared;
use crate::{DisconnectReason, Incoming};
use podnet_framing::FramingError;

/// What a connection reports to: the server (which adds the connection's id) or a client.
pub(crate) trait Owner: Send + Sync + 'static {
    /// The handshake completed. A server answers an `info` connection here, through
    /// `core`.
    fn established(&self, handshake: Handshake, core: &mut podnet_proto::Connection);
    /// The peer sent its first complete frame.
    fn spoke(&self) {}
    /// The server's description arrived (a client's `info` connection).
    fn info(&self, info: ServerInfo) {
        let _ = info;
    }
    /// Hands over the messages one read brought, in order.
    fn messages(&self, messages: MessageBatch);
    /// Hands over a frame that was not a message.
    fn error(&self, error: Incoming<FramingError>);
    /// The connection has ended: forget it, then report it.
    fn closed(&self, reason: DisconnectReason);
}

/// The current time, as the state machine takes it.
fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// Starts the reader and writer tasks of `conn`, with `core` its protocol state. When
/// both have ended, `owner.closed` runs once.
pub(crate) fn spawn<R, W, O>(
    conn: Arc<Shared>,
    mut core: podnet_proto::Connection,
    reader: R,
    writer: W,
    owner: O,
    tracker: &TaskTracker,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
    O: Owner,
{
    // What the connection says first (a client's hello) is queued now, on the caller's
    // thread, so that it goes out before anything the application sends once this
    // returns.
    reader::carry_out(&conn, &mut core, &owner);
    let span = match conn.id {
        Some(id) => tracing::info_span!("connection", id = id.get(), peer = %conn.peer),
        None => tracing::info_span!("connection", peer = %conn.peer),
    };
    let mut writer_task =
        tracker.spawn(writer::write_loop(conn.clone(), writer).instrument(span.clone()));
    tracker.spawn(
        async move {
            debug!("open");
            let closing_deadline = reader::read_loop(&conn, &mut core, reader, &owner).await;

            // Reading is over. Let the writer flush what was queued (gracefully, within the
            // close deadline) unless the connection is being cut.
            conn.queue.close(conn.last_words());
            let deadline = closing_deadline
                .map(Instant::from_std)
                .unwrap_or_else(|| Instant::now() + conn.close_within_limit());
            let finished = tokio::select! {
                done = &mut writer_task => done.unwrap_or(false),
                () = tokio::time::sleep_until(deadline) => {
                    conn.queue.abort();
                    conn.abort.cancel();
                    (&mut writer_task).await.unwrap_or(false)
                }
            };
            if !finished {
                conn.unfinished();
            }
            let reason = conn.take_reason();
            debug!(%reason, "closed");
            owner.closed(reason);
        }
        .instrument(span),
    );
}

//! The writer task: takes everything queued at once and writes it with as few syscalls as
//! it can.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio_util::sync::CancellationToken;
use tracing::{debug, trace};

use crate::conn::Shared;
use crate::outbound::Next;

/// At most this many frames go into one vectored write: Linux's `IOV_MAX` (a longer list
/// is refused by the kernel). Small frames are the common case (a 70-byte broadcast to a
/// hundred players), so the slice list, not the bytes, is what limits a write: 1,024
/// of them let one `writev` carry what 16 did with 64.
const MAX_IO_SLICES: usize = 1024;
/// A batch of at most this many frames is written from a list on the stack; a longer one
/// from a list allocated for it (its cost shared by hundreds of frames). Either is built
/// within a poll, so it costs the connection's task no memory while it waits.
const STACK_IO_SLICES: usize = 32;

/// Writes what the queue hands out until it closes or aborts, or `link` (this connection,
/// not the session) is cut. Returns true if it finished a graceful close (everything
/// written, the close frame sent, its half shut down), and the writing half.
pub(super) async fn write_loop<W>(
    conn: Arc<Shared>,
    mut writer: W,
    link: CancellationToken,
) -> (bool, W)
where
    W: AsyncWrite + Unpin,
{
    let finished = write_all(&conn, &mut writer, &link).await;
    (finished, writer)
}

async fn write_all<W>(conn: &Shared, writer: &mut W, link: &CancellationToken) -> bool
where
    W: AsyncWrite + Unpin,
{
    let mut batch: VecDeque<Bytes> = VecDeque::new();
    let mut aborted = crate::cancelled::Cancelled::new(link);
    loop {
        let next = tokio::select! {
            biased;
            () = &mut aborted => return false,
            next = conn.queue.next(&mut batch) => next,
        };
        match next {
            Next::Write => {
                let frames = batch.len();
                let bytes: usize = batch.iter().map(Bytes::len).sum();
                let written = tokio::select! {
                    biased;
                    () = &mut aborted => return false,
                    res = write_batch(writer, &mut batch) => res,
                };
                batch.clear();
                conn.queue.release(frames, bytes);
                if let Err(err) = written {
                    debug!(%err, "write failed");
                    conn.link_failed(err.to_string());
                    return false;
                }
                trace!(frames, bytes, "wrote");
            }
            Next::Close(close_frame) => {
                let done = async {
                    if !close_frame.is_empty() {
                        writer.write_all(&close_frame).await?;
                    }
                    writer.flush().await?;
                    writer.shutdown().await
                };
                return tokio::select! {
                    biased;
                    () = &mut aborted => false,
                    res = done => res.is_ok(),
                };
            }
            Next::Abort => return false,
        }
    }
}

/// A TCP socket's writing half, shared with the sending threads (which write to it
/// directly when nothing is queued; the queue keeps the two from writing at once).
#[derive(Debug, Clone)]
pub(crate) struct SharedTcpWriter(pub(crate) Arc<OwnedWriteHalf>);

impl SharedTcpWriter {
    fn stream(&self) -> &tokio::net::TcpStream {
        (*self.0).as_ref()
    }
}

impl AsyncWrite for SharedTcpWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.stream().poll_write_ready(cx))?;
            match self.0.try_write_vectored(bufs) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                other => return Poll::Ready(other),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let socket = socket2::SockRef::from(self.stream());
        Poll::Ready(socket.shutdown(std::net::Shutdown::Write))
    }
}

/// Writes every frame of `batch` with vectored writes, then flushes.
async fn write_batch<W>(writer: &mut W, batch: &mut VecDeque<Bytes>) -> io::Result<()>
where
    W: AsyncWrite + Unpin,
{
    while !batch.is_empty() {
        let written = std::future::poll_fn(|cx| {
            let mut write =
                |slices: &[IoSlice<'_>]| Pin::new(&mut *writer).poll_write_vectored(cx, slices);
            if batch.len() <= STACK_IO_SLICES {
                let mut slices = [IoSlice::new(&[]); STACK_IO_SLICES];
                for (slot, frame) in slices.iter_mut().zip(batch.iter()) {
                    *slot = IoSlice::new(frame);
                }
                write(&slices[..batch.len()])
            } else {
                let slices: Vec<IoSlice<'_>> = batch
                    .iter()
                    .take(MAX_IO_SLICES)
                    .map(|frame| IoSlice::new(frame))
                    .collect();
                write(&slices)
            }
        })
        .await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        advance(batch, written);
    }
    writer.flush().await
}

/// Drops `n` written bytes from the front of `batch`.
fn advance(batch: &mut VecDeque<Bytes>, mut n: usize) {
    while n > 0 {
        let Some(front) = batch.front_mut() else {
            return;
        };
        if n >= front.len() {
            n -= front.len();
            batch.pop_front();
        } else {
            front.advance(n);
            n = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Partial writes advance through frames, splitting the one they end in.
    #[test]
    fn advance_splits_frames() {
        let mut batch: VecDeque<Bytes> = [&b"abc"[..], b"de", b"fgh"]
            .into_iter()
            .map(Bytes::from_static)
            .collect();
        advance(&mut batch, 4);
        assert_eq!(
            batch,
            [Bytes::from_static(b"e"), Bytes::from_static(b"fgh")]
        );
        advance(&mut batch, 4);
        assert!(batch.is_empty());
    }
}

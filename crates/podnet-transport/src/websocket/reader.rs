//! The reading half of a WebSocket as a stream of repod frames: the driver reads it
//! exactly as it reads a TCP socket. Pings are answered through the connection's queue;
//! a close frame from the peer, or a violation, is noted on the [`WsLink`] so that this
//! side's close frame answers it.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::BytesMut;
use tokio::io::{AsyncRead, ReadBuf};

use super::close::Violation;
use super::inbound::{Inbound, Step};
use super::link::WsLink;

/// Raw input is read in steps of this size.
const READ_CHUNK: usize = 16 * 1024;

/// The reading half of a WebSocket over `R`, read as a stream of repod frames.
#[derive(Debug)]
pub(crate) struct WsReader<R> {
    io: R,
    /// Raw input not decoded yet.
    raw: BytesMut,
    inbound: Inbound,
    link: Arc<WsLink>,
    /// The peer broke the protocol: the connection is failed (RFC 6455, 7.1.7) and
    /// nothing more is read.
    failed: bool,
}

impl<R> WsReader<R> {
    /// Reads `io`, past the upgrade; `leftover` is what was read after the request.
    pub(crate) fn new(
        io: R,
        leftover: BytesMut,
        link: Arc<WsLink>,
        max_message: usize,
        max_fragments: usize,
    ) -> Self {
        Self {
            io,
            raw: leftover,
            inbound: Inbound::new(max_message, max_fragments),
            link,
            failed: false,
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for WsReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(Ok(()));
        }
        let start = buf.filled().len();
        loop {
            match this.inbound.decode(&mut this.raw, buf) {
                Ok(Step::OutputFull) => return Poll::Ready(Ok(())),
                Ok(Step::NeedInput) => {
                    if buf.filled().len() > start {
                        return Poll::Ready(Ok(()));
                    }
                    if this.raw.capacity() - this.raw.len() < READ_CHUNK / 4 {
                        this.raw.reserve(READ_CHUNK);
                    }
                    let n = ready!(tokio_util::io::poll_read_buf(
                        Pin::new(&mut this.io),
                        cx,
                        &mut this.raw
                    ))?;
                    if n == 0 {
                        // End of stream without a close frame (a cut): the driver sees the
                        // end of its stream too.
                        return Poll::Ready(Ok(()));
                    }
                }
                Ok(Step::Ping(payload)) => this.link.pong(&payload),
                Ok(Step::Closed(peer)) => {
                    this.link.peer_closed(peer.map(|(code, _)| code));
                    // What was decoded before the close goes first; then the end.
                    return Poll::Ready(Ok(()));
                }
                Err(violation) => {
                    this.link.violated(&violation);
                    this.failed = true;
                    return Poll::Ready(Err(violation.into_io()));
                }
            }
        }
    }
}

/// Whether `err` is the peer breaking the WebSocket protocol (the connection then closes
/// gracefully, with the violation's reason), and its text.
pub(crate) fn violation_text(err: &io::Error) -> Option<String> {
    Violation::of(err).map(ToString::to_string)
}

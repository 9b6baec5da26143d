//! The WebSocket as a byte stream: the driver reads and writes repod frames through it,
//! exactly as through a TCP socket, and it carries them as WebSocket messages. It answers
//! pings itself, and sends the close frame (with the code and reason) when the driver
//! shuts its side down.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker, ready};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::close::{CloseCode, Violation, close_payload};
use super::inbound::{Inbound, Step};
use super::outbound::{CLOSE, Outbound, PONG, put_header};

/// Raw input is read in steps of this size.
const READ_CHUNK: usize = 16 * 1024;
/// Past this much unwritten output, writes wait for the socket (so the outbound queue,
/// not this buffer, holds the backlog and counts it).
const OUT_HIGH: usize = 64 * 1024;

/// A WebSocket over `S`, read and written as a stream of repod frames.
#[derive(Debug)]
pub(crate) struct WsStream<S> {
    io: S,
    /// Raw input not decoded yet.
    raw: BytesMut,
    inbound: Inbound,
    outbound: Outbound,
    /// WebSocket bytes waiting to be written.
    out: BytesMut,
    /// Control frames (pongs) waiting for the output to reach a frame boundary.
    control: BytesMut,
    /// Why this side closes, when the reason is not a `podnet:close`: a violation by the
    /// peer, or the echo of the peer's own close.
    close: Option<(u16, String)>,
    close_sent: bool,
    /// The peer broke the protocol: the connection is failed (RFC 6455, 7.1.7). Input is
    /// read and thrown away, and the stream ends once the close frame is written.
    failed: bool,
    /// The reader waiting for that close frame to be written.
    read_waker: Option<Waker>,
}

impl<S> WsStream<S> {
    /// Wraps `io`, past the upgrade; `leftover` is what was read after the request.
    pub(crate) fn new(io: S, leftover: BytesMut, max_message: usize, max_fragments: usize) -> Self {
        Self {
            io,
            raw: leftover,
            inbound: Inbound::new(max_message, max_fragments),
            outbound: Outbound::default(),
            out: BytesMut::new(),
            control: BytesMut::new(),
            close: None,
            close_sent: false,
            failed: false,
            read_waker: None,
        }
    }

    /// Moves waiting control frames into the output, if it is at a frame boundary.
    fn release_control(&mut self) {
        if !self.control.is_empty() && self.outbound.at_boundary() {
            self.out.extend_from_slice(&self.control);
            self.control.clear();
        }
    }
}

impl<S: AsyncWrite + Unpin> WsStream<S> {
    /// Writes the output until it is empty or the socket is full.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.out.is_empty() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.out))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out.advance(n);
        }
        Poll::Ready(Ok(()))
    }

    /// Takes `buf` (repod frames) into the output, once the output is below its mark.
    fn poll_take(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.out.len() >= OUT_HIGH {
            if let Poll::Ready(Err(err)) = self.poll_write_out(cx) {
                return Poll::Ready(Err(err));
            }
            if self.out.len() >= OUT_HIGH {
                return Poll::Pending;
            }
        }
        let mut taken = 0;
        for buf in bufs {
            if self.out.len() >= OUT_HIGH {
                break;
            }
            self.outbound.encode(buf, &mut self.out);
            taken += buf.len();
        }
        self.release_control();
        // Start writing now; what does not fit is written by the next call or the flush.
        if let Poll::Ready(Err(err)) = self.poll_write_out(cx) {
            return Poll::Ready(Err(err));
        }
        Poll::Ready(Ok(taken))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.failed {
            // Nothing more is decoded; the stream ends once the close frame is out.
            loop {
                if this.close_sent && this.out.is_empty() {
                    return Poll::Ready(Ok(()));
                }
                this.read_waker = Some(cx.waker().clone());
                this.raw.clear();
                this.raw.reserve(READ_CHUNK);
                let n = ready!(tokio_util::io::poll_read_buf(
                    Pin::new(&mut this.io),
                    cx,
                    &mut this.raw
                ))?;
                if n == 0 {
                    return Poll::Ready(Ok(()));
                }
            }
        }
        // Pongs go out even while the driver has nothing to write.
        if !this.control.is_empty() || !this.out.is_empty() {
            this.release_control();
            let _ = this.poll_write_out(cx);
        }
        let start = buf.filled().len();
        loop {
            let step = this.inbound.decode(&mut this.raw, buf);
            match step {
                Ok(Step::OutputFull) => return Poll::Ready(Ok(())),
                Ok(Step::NeedInput) => {
                    if buf.filled().len() > start {
                        return Poll::Ready(Ok(()));
                    }
                    this.raw.reserve(READ_CHUNK);
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
                Ok(Step::Ping(payload)) => {
                    put_header(&mut this.control, PONG, payload.len());
                    this.control.extend_from_slice(&payload);
                    this.release_control();
                    let _ = this.poll_write_out(cx);
                }
                Ok(Step::Closed(peer)) => {
                    // Answer with the peer's own code, once what is queued went out.
                    if this.close.is_none() {
                        let code = peer.map_or(CloseCode::Normal.code(), |(code, _)| code);
                        this.close = Some((code, String::new()));
                    }
                    return Poll::Ready(Ok(()));
                }
                Err(violation) => {
                    this.failed = true;
                    this.close = Some((violation.code.code(), violation.reason.clone()));
                    return Poll::Ready(Err(violation.into_io()));
                }
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WsStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_take(cx, &[io::IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_take(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.release_control();
        ready!(this.poll_write_out(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.release_control();
        if !this.close_sent && this.outbound.at_boundary() {
            this.close_sent = true;
            let (code, reason) = match (&this.close, this.outbound.close_reason()) {
                (Some((code, reason)), _) => (*code, reason.as_str()),
                (None, Some(reason)) => (CloseCode::Normal.code(), reason),
                (None, None) => (CloseCode::Normal.code(), ""),
            };
            let payload = close_payload(code, reason);
            put_header(&mut this.out, CLOSE, payload.len());
            this.out.extend_from_slice(&payload);
        }
        ready!(this.poll_write_out(cx))?;
        if this.close_sent
            && let Some(reader) = this.read_waker.take()
        {
            reader.wake();
        }
        ready!(Pin::new(&mut this.io).poll_flush(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

/// Whether `err` is the peer breaking the WebSocket protocol (the connection then closes
/// gracefully, with the violation's reason), and its text.
pub(crate) fn violation_text(err: &io::Error) -> Option<String> {
    Violation::of(err).map(ToString::to_string)
}

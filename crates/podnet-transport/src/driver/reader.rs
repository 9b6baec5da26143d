//! The reader task: reads into a growing buffer, cuts frames in place, hands messages to
//! the application a read at a time under the inbound budget, and feeds the protocol state
//! machine everything else (control messages, the first frame, time).

use bytes::BytesMut;
use podnet_framing::{BatchDecoder, Decoded};
use podnet_proto::{Input, RESERVED_PREFIX, ResumeToken};
use tokio::io::AsyncRead;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, trace, warn};

use super::actions::{Flow, carry_out};
use super::wire::Wire;
use super::{Owner, Reading, now};
use crate::budget::Budget;
use crate::cancelled::Cancelled;
use crate::conn::Shared;
use crate::websocket::{Signal, Violation, frames};
use crate::{DisconnectReason, Incoming};

/// A connection's read buffer starts this small: most game clients send a few small
/// messages at a time, and ten thousand of them should not each hold a large buffer.
const READ_START: usize = 1024;
/// The read buffer grows in steps of at most this size; a step doubles (from
/// `READ_START`) each time a read fills all the room it had.
const READ_CHUNK: usize = 256 * 1024;
/// An error event is charged this much of the inbound budget, so a flood of bad frames is
/// bounded like a flood of messages.
const ERROR_EVENT_COST: usize = 256;

/// How reading ended.
#[derive(Debug)]
pub(super) enum ReadEnd {
    /// The connection ends with the session; a graceful close's deadline, if one is under
    /// way.
    Closed(Option<std::time::Instant>),
    /// The connection failed (an error, an end of stream without a close, a timeout),
    /// and the session outlives it: it waits for a resume.
    Lost(DisconnectReason),
    /// This connection takes over the session the token names.
    Handoff { token: ResumeToken, received: u64 },
}

/// Reads frames until the connection ends; returns how, with the reading half (its wire
/// and what was read and not handed over, for a handoff).
pub(super) async fn read_loop<R, O>(
    conn: &Shared,
    core: &mut podnet_proto::Connection<O::Side>,
    reading: Reading<R>,
    owner: &O,
    link: &CancellationToken,
) -> (ReadEnd, Reading<R>)
where
    R: AsyncRead + Unpin,
    O: Owner,
{
    let config = &conn.config;
    let Reading {
        io: mut reader,
        mut wire,
        read,
    } = reading;
    let mut buf = read;
    buf.reserve(READ_START);
    let mut inbound = Inbound {
        decoder: BatchDecoder::new(&config.framing).with_reserved_prefix(RESERVED_PREFIX),
        read_bytes: 0,
        buf,
        budget: Budget::new(config.max_inbound_bytes),
    };
    let end = read_frames(
        conn,
        core,
        &mut reader,
        &mut wire,
        owner,
        link,
        &mut inbound,
    )
    .await;
    let reading = Reading {
        io: reader,
        wire,
        read: inbound.buf,
    };
    (end, reading)
}

#[allow(clippy::too_many_arguments)]
async fn read_frames<R, O>(
    conn: &Shared,
    core: &mut podnet_proto::Connection<O::Side>,
    reader: &mut R,
    wire: &mut Wire,
    owner: &O,
    link: &CancellationToken,
    inbound: &mut Inbound,
) -> ReadEnd
where
    R: AsyncRead + Unpin,
    O: Owner,
{
    // The cancellations are waited on by futures made once: each one made afresh would
    // register with (and leave) its token's waiters at every turn of the loop. A poll
    // that finds nothing new costs an atomic load (see `Cancelled`). The loop polls two:
    // `link` is a child of `conn.abort`, cut by an abort too.
    let mut aborted = Cancelled::new(&conn.abort);
    let mut cut = Cancelled::new(link);
    let mut close_asked = Cancelled::new(&conn.closing);
    // Set when `close_asked` completes.
    let mut close_wanted = false;
    let timer = tokio::time::sleep_until(Instant::now());
    tokio::pin!(timer);
    let mut chunk = READ_START;
    // What was read before the loop (past a resume hello, or after a WebSocket upgrade
    // request) is handed over first, as a read would be.
    let mut primed = !inbound.buf.is_empty() || wire.has_input();

    loop {
        let wake_at = core.poll_timeout().map(Instant::from_std);
        if let Some(at) = wake_at {
            if timer.deadline() != at {
                timer.as_mut().reset(at);
            }
        }
        let buf = &mut inbound.buf;
        if buf.capacity() - buf.len() < chunk / 4 {
            buf.reserve(chunk);
        }
        let room = buf.capacity() - buf.len();
        let before = if primed { 0 } else { buf.len() };

        let read = if std::mem::take(&mut primed) {
            Ok(None)
        } else {
            tokio::select! {
                biased;
                () = &mut cut => {
                    if conn.abort.is_cancelled() {
                        return ReadEnd::Closed(core.closing_deadline());
                    }
                    let error = conn
                        .slot()
                        .link_error
                        .take()
                        .unwrap_or_else(|| "the connection was replaced".to_owned());
                    return end_link(conn, core, owner, Input::Lost(DisconnectReason::Io { error }));
                }
                () = &mut close_asked, if !close_wanted => {
                    close_wanted = true;
                    let within = conn.close_within_limit();
                    core.handle(now(), Input::CloseAsked { within });
                    continue;
                }
                () = &mut timer, if wake_at.is_some() => {
                    core.handle_timeout(now());
                    match carry_out(conn, core, owner) {
                        Flow::Stop => return ReadEnd::Closed(core.closing_deadline()),
                        Flow::Lost(reason) => return ReadEnd::Lost(reason),
                        _ => {}
                    }
                    continue;
                }
                read = wire.read(reader, buf) => read.map(Some),
            }
        };
        match read {
            Ok(Some(0)) => {
                let mid_frame = inbound
                    .decoder
                    .is_mid_frame(&inbound.buf)
                    .then_some(inbound.buf.len());
                return end_link(conn, core, owner, Input::End { mid_frame });
            }
            Ok(Some(read)) if read >= room => chunk = (chunk * 2).min(READ_CHUNK),
            Ok(_) => {}
            Err(err) => {
                debug!(%err, "read failed");
                let reason = DisconnectReason::Io {
                    error: err.to_string(),
                };
                return end_link(conn, core, owner, Input::Lost(reason));
            }
        }
        let violation = decode_wire(conn, wire, &mut inbound.buf);
        inbound.read_bytes += inbound.buf.len().saturating_sub(before);
        core.handle(now(), Input::Read);
        // The peer spoke: the next reply may go out from the sending thread.
        conn.direct_ok
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if core.is_closing() {
            inbound.buf.clear();
            continue;
        }
        match inbound.hand_over(conn, core, owner, &mut aborted).await {
            Flow::Stop => return ReadEnd::Closed(core.closing_deadline()),
            Flow::Lost(reason) => return ReadEnd::Lost(reason),
            Flow::Handoff { token, received } => {
                return ReadEnd::Handoff { token, received };
            }
            Flow::Continue | Flow::Closing => {}
        }
        if let Some(violation) = violation {
            // The peer broke the WebSocket under the framing: closed gracefully, with the
            // reason, as a bad frame would be; what it sent before is handed over.
            conn.violated_websocket(&violation);
            warn!(%violation, "protocol error: closing");
            core.handle(now(), Input::Violation(&violation.to_string()));
            if carry_out(conn, core, owner) == Flow::Stop {
                return ReadEnd::Closed(core.closing_deadline());
            }
        }
    }
}

/// The link ended as `input` says. What the application asked meanwhile counts first (a
/// cut ends the session; a close makes it end with the link), then the state machine
/// decides whether the session outlives the link.
fn end_link<O: Owner>(
    conn: &Shared,
    core: &mut podnet_proto::Connection<O::Side>,
    owner: &O,
    input: Input<'_>,
) -> ReadEnd {
    if conn.abort.is_cancelled() {
        return ReadEnd::Closed(None);
    }
    if conn.close_asked() {
        let within = conn.close_within_limit();
        core.handle(now(), Input::CloseAsked { within });
    }
    core.handle(now(), input);
    match carry_out(conn, core, owner) {
        Flow::Lost(reason) => ReadEnd::Lost(reason),
        _ => ReadEnd::Closed(core.closing_deadline()),
    }
}

/// Decodes a WebSocket's input into repod frames in `frames`, answering pings and noting
/// the peer's close; returns the peer's violation, if it broke the protocol.
fn decode_wire(conn: &Shared, wire: &mut Wire, frames: &mut BytesMut) -> Option<Violation> {
    while let Some(signal) = wire.decode(frames) {
        match signal {
            // A peer that pings and does not read fills its own queue: the pong is
            // dropped like any send to a full queue.
            Signal::Ping(payload) => drop(conn.queue.push_control(None, frames::pong(&payload))),
            // What was decoded before the close goes first; the next read is the end.
            Signal::Closed(code) => conn.peer_closed_websocket(code),
            Signal::Violation(violation) => return Some(violation),
        }
    }
    None
}

/// The reading side of a connection, between reads.
struct Inbound {
    decoder: BatchDecoder,
    /// Bytes read since the last hand-over, for a resumable session's acknowledgements.
    read_bytes: usize,
    buf: BytesMut,
    budget: Budget,
}

impl Inbound {
    /// Hands every whole frame read so far to the application: messages as one batch with
    /// one share of the inbound budget (one hand-off per read, not per message), control
    /// messages to the state machine, and bad frames as error events, in order. Returns
    /// `Stop` if the connection was cut or aborted meanwhile.
    async fn hand_over<O: Owner>(
        &mut self,
        conn: &Shared,
        core: &mut podnet_proto::Connection<O::Side>,
        owner: &O,
        aborted: &mut Cancelled<'_>,
    ) -> Flow {
        // Application frames handed over, for a resumable session's acknowledgements.
        let mut counted: u64 = 0;
        loop {
            if core.is_rate_limited() && self.decoder.has_frame(&self.buf) {
                // Over the rate: hand over what was read, then wait for a token before
                // reading the next frame; unread input waits in the socket.
                if let Some(resume) = core.take_frame_token(now()) {
                    if !self.flush(owner, &mut *aborted).await {
                        return Flow::Stop;
                    }
                    trace!(?resume, "rate limit: pausing");
                    tokio::select! {
                        biased;
                        () = &mut *aborted => return Flow::Stop,
                        () = tokio::time::sleep_until(Instant::from_std(resume)) => {}
                    }
                }
            }
            let next = if core.is_rate_limited() || core.needs_frames() {
                self.decoder.decode(&mut self.buf)
            } else {
                // The common case: a run of messages batched in one call, not one turn of
                // this loop each.
                let before = self.decoder.len();
                let batch = self.budget.size.min(owner.batch_bytes());
                let run = self.decoder.decode_messages(&mut self.buf, batch);
                counted += (self.decoder.len() - before) as u64;
                match run {
                    Ok(None) if self.decoder.batch_bytes() >= batch => {
                        if !self.flush(owner, &mut *aborted).await {
                            return Flow::Stop;
                        }
                        // Let the batch be handled (and other connections read) before
                        // the next is checked: it is still in the cache.
                        tokio::task::yield_now().await;
                        continue;
                    }
                    other => other,
                }
            };
            let decoded = match next {
                Ok(Some(decoded)) => decoded,
                Ok(None) => break,
                Err(err) => {
                    warn!(%err, "protocol error: closing");
                    core.handle(now(), Input::Broken(&err));
                    // What came before the bad frame is still delivered.
                    let delivered = self.flush(owner, &mut *aborted).await;
                    self.buf.clear();
                    if !delivered || carry_out(conn, core, owner) == Flow::Stop {
                        return Flow::Stop;
                    }
                    break;
                }
            };
            let flow = match decoded {
                Decoded::Reserved(ref msg) => {
                    let counting = core.counts_messages();
                    core.handle(now(), Input::Control(msg));
                    if !counting && core.counts_messages() {
                        // A late grant: the session's frames are counted from the hello
                        // that granted it, not from those read before it.
                        counted = 0;
                    }
                    match carry_out(conn, core, owner) {
                        Flow::Handoff { token, received } => {
                            // The frame after the hello stays in the buffer, for the
                            // session that takes this connection over.
                            self.decoder.take(&mut self.buf);
                            return Flow::Handoff { token, received };
                        }
                        other => other,
                    }
                }
                // Until the handshake is settled and the peer has spoken, the state
                // machine sees each frame before the application does.
                Decoded::Message | Decoded::NotAMessage(_) if core.needs_frames() => {
                    core.handle(now(), Input::Frame);
                    carry_out(conn, core, owner)
                }
                _ => Flow::Continue,
            };
            if matches!(decoded, Decoded::Message | Decoded::NotAMessage(_)) {
                counted += 1;
            }
            match flow {
                Flow::Continue => {}
                Flow::Stop => return Flow::Stop,
                Flow::Lost(reason) => return Flow::Lost(reason),
                Flow::Handoff { token, received } => return Flow::Handoff { token, received },
                Flow::Closing => {
                    // This frame asked for a close (a failed handshake, an answered info
                    // request): what came before it is handed over, what follows is
                    // dropped.
                    let delivered = self.flush(owner, &mut *aborted).await;
                    self.buf.clear();
                    return if delivered {
                        Flow::Continue
                    } else {
                        Flow::Stop
                    };
                }
            }
            let handed = match decoded {
                Decoded::Message => {
                    self.decoder.batch_bytes() < self.budget.size
                        || self.flush(owner, &mut *aborted).await
                }
                Decoded::NotAMessage(err) => {
                    let count = conn
                        .bad_frames
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                        + 1;
                    debug!(%err, count, "frame is not a message");
                    // In order: the messages before it first.
                    self.flush(owner, &mut *aborted).await
                        && self.error(owner, err, &mut *aborted).await
                }
                _ => true,
            };
            if !handed {
                return Flow::Stop;
            }
        }
        if !self.flush(owner, aborted).await {
            return Flow::Stop;
        }
        let bytes = std::mem::take(&mut self.read_bytes);
        if counted > 0 && core.counts_messages() {
            core.handle(
                now(),
                Input::Delivered {
                    count: counted,
                    bytes,
                },
            );
            return carry_out(conn, core, owner);
        }
        Flow::Continue
    }

    /// Charges the messages decoded so far to the budget (waiting while the application
    /// catches up) and hands them over as one batch, which holds the share until its last
    /// message is dropped. Returns false if the connection was aborted meanwhile.
    async fn flush<O: Owner>(&mut self, owner: &O, aborted: &mut Cancelled<'_>) -> bool {
        if self.decoder.is_empty() {
            // Control messages and bad frames only: their bytes go.
            self.decoder.take(&mut self.buf);
            return true;
        }
        let mut share = self.budget.share();
        if !self
            .budget
            .acquire(&mut share, self.decoder.batch_bytes(), aborted)
            .await
        {
            return false;
        }
        owner.messages(self.decoder.take_with(&mut self.buf, share));
        true
    }

    /// Hands over a frame that was not a message as an error event, with a share of the
    /// budget of its own. Returns false if the connection was aborted meanwhile.
    async fn error<O: Owner>(
        &mut self,
        owner: &O,
        err: podnet_framing::FramingError,
        aborted: &mut Cancelled<'_>,
    ) -> bool {
        let mut share = self.budget.share();
        if !self
            .budget
            .acquire(&mut share, ERROR_EVENT_COST, aborted)
            .await
        {
            return false;
        }
        owner.error(Incoming::new(err, Some(share)));
        true
    }
}

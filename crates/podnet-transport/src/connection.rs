//! One connection: a reader task and a writer task around an outbound queue, shared by the
//! server (one per client) and the client.
//!
//! Lifecycle. A connection is open until one of these happens, and the first one decides
//! the [`DisconnectReason`]:
//!
//! - a local `close(reason)`: the queue closes behind what is already in it, the writer
//!   writes all of it, then `podnet:close` with the reason, then shuts its half down; the
//!   reader keeps reading (and discarding) until the peer closes its half, so the peer's
//!   kernel never sees a reset that could destroy data it has not read yet;
//! - the peer closes (EOF): what was queued is still flushed, then the socket closes;
//! - a fatal framing error: closed as a local close, with the error as the reason;
//! - a socket error, a slow consumer, a heartbeat timeout, or an abort: cut at once.
//!
//! A graceful close is bounded by `close_timeout`; past it the connection is cut and the
//! reason becomes [`DisconnectReason::Aborted`] if the writer had not finished.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use podnet_framing::{BatchDecoder, Decoded, MessageBatch, RawMessage};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, trace, warn};

use crate::budget::Budget;
use crate::config::{ConnectionConfig, RateLimit, SlowConsumerPolicy};
use crate::control::{self, Control, RESERVED_PREFIX};
use crate::outbound::{Next, OutboundQueue, PushError};
use crate::{ConnectionId, DisconnectReason, Incoming, TransportError};

/// A connection's read buffer starts this small: most game clients send a few small
/// messages at a time, and ten thousand of them should not each hold a large buffer.
const READ_START: usize = 1024;
/// The read buffer grows in steps of at most this size; a step doubles (from
/// `READ_START`) each time a read fills all the room it had.
const READ_CHUNK: usize = 16 * 1024;
/// An error event is charged this much of the inbound budget, so a flood of bad frames is
/// bounded like a flood of messages.
const ERROR_EVENT_COST: usize = 256;
/// At most this many frames go into one vectored write.
const MAX_IO_SLICES: usize = 64;

/// What a connection reports to: the server (which adds the connection's id) or a client.
pub(crate) trait Owner: Send + Sync + 'static {
    /// Hands over the messages one read brought, in order.
    fn messages(&self, messages: MessageBatch);
    /// Hands over a frame that was not a message.
    fn error(&self, error: Incoming<TransportError>);
    /// The connection has ended.
    fn closed(&self, reason: DisconnectReason);
}

/// The state of one connection that its tasks and the application's handles share.
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) id: Option<ConnectionId>,
    pub(crate) peer: SocketAddr,
    pub(crate) config: Arc<ConnectionConfig>,
    pub(crate) queue: OutboundQueue,
    /// Cancelled when a graceful close starts.
    closing: CancellationToken,
    /// Cancelled to cut the connection now.
    abort: CancellationToken,
    reason: Mutex<Option<DisconnectReason>>,
    /// The peer said `podnet:hello`: heartbeats apply.
    podnet_peer: AtomicBool,
    /// Answer the peer's `podnet:hello` with ours (the server does; the client spoke first).
    reply_hello: bool,
    bad_frames: AtomicU64,
    /// Last measured round trip, in microseconds; 0 until measured.
    rtt_micros: AtomicU64,
}

/// A snapshot of one connection's figures.
///
/// ```
/// # async fn demo(server: &podnet_transport::Server, id: podnet_transport::ConnectionId) {
/// if let Some(info) = server.connection_info(id) {
///     println!("{} has {} bytes queued, rtt {:?}", info.peer, info.queued_bytes, info.rtt);
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// The peer's address.
    pub peer: SocketAddr,
    /// Frames waiting to be written.
    pub queued_frames: usize,
    /// Bytes waiting to be written (with a small per-frame overhead), as counted against
    /// [`ConnectionConfig::max_queued_bytes`].
    pub queued_bytes: usize,
    /// The most `queued_bytes` has been.
    pub max_queued_bytes: usize,
    /// Frames received that were not messages.
    pub bad_frames: u64,
    /// The last round trip measured by the heartbeat, between podnet peers.
    pub rtt: Option<Duration>,
    /// Whether the peer said `podnet:hello` (it is podnet, not repod).
    pub podnet_peer: bool,
}

impl Connection {
    pub(crate) fn new(
        id: Option<ConnectionId>,
        peer: SocketAddr,
        config: Arc<ConnectionConfig>,
        abort: CancellationToken,
        reply_hello: bool,
    ) -> Self {
        Self {
            id,
            peer,
            queue: OutboundQueue::new(config.max_queued_bytes),
            config,
            closing: CancellationToken::new(),
            abort,
            reason: Mutex::new(None),
            podnet_peer: AtomicBool::new(false),
            reply_hello,
            bad_frames: AtomicU64::new(0),
            rtt_micros: AtomicU64::new(0),
        }
    }

    /// Records why the connection ends; the first reason recorded wins.
    fn set_reason(&self, reason: DisconnectReason) {
        let mut slot = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(reason);
        }
    }

    /// A graceful close (ours, or a shutdown) did not finish: the reason becomes
    /// [`DisconnectReason::Aborted`]. Other reasons (the peer left, a socket error, a slow
    /// consumer) already say why the close could not finish, and stay.
    fn mark_aborted(&self) {
        let mut slot = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        match *slot {
            None
            | Some(DisconnectReason::Closed { .. })
            | Some(DisconnectReason::Shutdown { .. }) => *slot = Some(DisconnectReason::Aborted),
            Some(_) => {}
        }
    }

    fn take_reason(&self) -> DisconnectReason {
        let mut slot = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        slot.take()
            .unwrap_or(DisconnectReason::PeerClosed { reason: None })
    }

    fn not_connected(&self) -> TransportError {
        TransportError::NotConnected { id: self.id }
    }

    /// Queues a frame without waiting, applying the slow-consumer policy if it is full.
    pub(crate) fn send(&self, frame: Bytes) -> Result<(), TransportError> {
        match self.queue.push(frame) {
            Ok(()) => Ok(()),
            Err(PushError::Closed) => Err(self.not_connected()),
            Err(PushError::Full { queued, limit }) => {
                if self.config.slow_consumer == SlowConsumerPolicy::Disconnect {
                    warn!(peer = %self.peer, queued, limit, "slow consumer: disconnecting");
                    self.abort_with(DisconnectReason::SlowConsumer { queued, limit });
                }
                Err(TransportError::QueueFull {
                    id: self.id,
                    queued,
                    limit,
                })
            }
        }
    }

    /// Queues a frame, waiting for room instead of applying the slow-consumer policy.
    pub(crate) async fn send_wait(&self, frame: Bytes) -> Result<(), TransportError> {
        self.queue
            .push_wait(frame)
            .await
            .map_err(|_| self.not_connected())
    }

    /// Starts a graceful close: what is queued goes out, then `podnet:close` with
    /// `wire_reason`. Returns false if the connection was already closing.
    pub(crate) fn close(&self, reason: DisconnectReason, wire_reason: &str) -> bool {
        let frame = control::close_frame(wire_reason, &self.config.framing);
        // Hold the reason while closing the queue: once the queue is closed the writer can
        // send the close and the peer can answer with end-of-stream, and the reader must
        // not record "closed by the peer" before this side's reason is in.
        let mut slot = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        if !self.queue.close(frame) {
            return false;
        }
        if slot.is_none() {
            *slot = Some(reason);
        }
        drop(slot);
        self.closing.cancel();
        true
    }

    /// Cuts the connection now, dropping what was queued.
    pub(crate) fn abort_with(&self, reason: DisconnectReason) {
        self.set_reason(reason);
        self.queue.abort();
        self.abort.cancel();
    }

    pub(crate) fn is_open(&self) -> bool {
        !self.queue.is_closing()
    }

    pub(crate) fn info(&self) -> ConnectionInfo {
        let stats = self.queue.stats();
        let rtt = self.rtt_micros.load(Ordering::Relaxed);
        ConnectionInfo {
            peer: self.peer,
            queued_frames: stats.frames,
            queued_bytes: stats.charged,
            max_queued_bytes: stats.high_water,
            bad_frames: self.bad_frames.load(Ordering::Relaxed),
            rtt: (rtt > 0).then(|| Duration::from_micros(rtt)),
            podnet_peer: self.podnet_peer.load(Ordering::Relaxed),
        }
    }
}

/// Starts the reader and writer tasks of `conn`. When both have ended, `on_end` runs (the
/// owner forgets the connection) and then `Closed` is emitted, in that order, so that once
/// the application sees the disconnect, sending to the connection fails.
pub(crate) fn spawn<R, W, O>(
    conn: Arc<Connection>,
    reader: R,
    writer: W,
    owner: O,
    tracker: &TaskTracker,
    on_end: impl FnOnce() + Send + 'static,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
    O: Owner,
{
    let span = match conn.id {
        Some(id) => tracing::info_span!("connection", id = id.get(), peer = %conn.peer),
        None => tracing::info_span!("connection", peer = %conn.peer),
    };
    let mut writer_task = tracker.spawn(write_loop(conn.clone(), writer).instrument(span.clone()));
    tracker.spawn(
        async move {
            debug!("open");
            let closing_deadline = read_loop(&conn, reader, &owner).await;

            // Reading is over. Let the writer flush what was queued (gracefully, within the
            // close deadline) unless the connection is being cut.
            conn.queue.close(Bytes::new());
            let deadline =
                closing_deadline.unwrap_or_else(|| Instant::now() + conn.config.close_timeout);
            let finished = tokio::select! {
                done = &mut writer_task => done.unwrap_or(false),
                () = tokio::time::sleep_until(deadline) => {
                    conn.queue.abort();
                    conn.abort.cancel();
                    (&mut writer_task).await.unwrap_or(false)
                }
            };
            if !finished {
                conn.mark_aborted();
            }
            on_end();
            let reason = conn.take_reason();
            debug!(%reason, "closed");
            owner.closed(reason);
        }
        .instrument(span),
    );
}

/// Heartbeat bookkeeping for the reader.
struct Heartbeat {
    interval: Option<Duration>,
    timeout: Duration,
    last_heard: Instant,
    last_ping: Instant,
    next_seq: u64,
    /// The ping awaiting its pong, and when it was sent.
    outstanding: Option<(u64, Instant)>,
}

impl Heartbeat {
    /// When the reader must wake for the heartbeat, if it applies.
    fn deadline(&self, podnet_peer: bool) -> Option<Instant> {
        let interval = self.interval?;
        podnet_peer.then(|| (self.last_ping + interval).min(self.last_heard + self.timeout))
    }
}

/// Reads frames until the connection ends; returns the deadline of the graceful close if
/// one is under way.
async fn read_loop<R, O>(conn: &Connection, mut reader: R, owner: &O) -> Option<Instant>
where
    R: AsyncRead + Unpin,
    O: Owner,
{
    let config = &conn.config;
    let now = Instant::now();
    let mut inbound = Inbound {
        decoder: BatchDecoder::new(&config.framing).with_reserved_prefix(RESERVED_PREFIX),
        buf: BytesMut::with_capacity(READ_START),
        budget: Budget::new(config.max_inbound_bytes),
        rate: config.rate_limit.map(|limit| TokenBucket::new(limit, now)),
        heartbeat: Heartbeat {
            interval: config.liveness.heartbeat_interval,
            timeout: config.liveness.heartbeat_timeout,
            last_heard: now,
            last_ping: now,
            next_seq: 1,
            outstanding: None,
        },
        peer_reason: None,
    };
    let mut was_podnet_peer = false;
    // Only a server holds a slot for a peer that says nothing.
    let mut first_frame_deadline = conn
        .id
        .and(config.liveness.first_frame_timeout)
        .map(|after| (now + after, after));
    // Set once a graceful close is under way: from then on, input is read and discarded.
    let mut closing_deadline: Option<Instant> = None;

    let aborted = conn.abort.cancelled();
    tokio::pin!(aborted);
    let timer = tokio::time::sleep_until(now);
    tokio::pin!(timer);
    let mut chunk = READ_START;

    loop {
        if closing_deadline.is_none() && conn.closing.is_cancelled() {
            closing_deadline = Some(Instant::now() + config.close_timeout);
        }
        let heartbeat = &mut inbound.heartbeat;
        let podnet_peer = conn.podnet_peer.load(Ordering::Relaxed);
        if podnet_peer && !was_podnet_peer {
            was_podnet_peer = true;
            heartbeat.last_ping = Instant::now();
        }
        let wake_at = closing_deadline.or_else(|| {
            let heartbeat = heartbeat.deadline(podnet_peer);
            match first_frame_deadline {
                Some((at, _)) => Some(heartbeat.map_or(at, |h| h.min(at))),
                None => heartbeat,
            }
        });
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

        tokio::select! {
            biased;
            () = &mut aborted => return closing_deadline,
            () = conn.closing.cancelled(), if closing_deadline.is_none() => continue,
            () = &mut timer, if wake_at.is_some() => {
                if closing_deadline.is_some() {
                    // The peer did not close its side in time; the writer's end decides
                    // whether the close itself completed.
                    return closing_deadline;
                }
                let now = Instant::now();
                if let Some((at, after)) = first_frame_deadline {
                    if now >= at {
                        debug!(?after, "no frame since the connection opened: closing");
                        let text = format!("no message within {after:?} of connecting");
                        conn.close(DisconnectReason::TimedOut { after }, &text);
                        first_frame_deadline = None;
                        continue;
                    }
                }
                if now >= heartbeat.last_heard + heartbeat.timeout {
                    debug!("heartbeat timeout");
                    conn.abort_with(DisconnectReason::TimedOut { after: heartbeat.timeout });
                    return None;
                }
                if heartbeat.interval.is_some_and(|i| now >= heartbeat.last_ping + i) {
                    let seq = heartbeat.next_seq;
                    heartbeat.next_seq += 1;
                    heartbeat.last_ping = now;
                    heartbeat.outstanding = Some((seq, now));
                    trace!(seq, "ping");
                    // A full queue here is the slow-consumer case; send reports it.
                    let _ = conn.send(control::ping(seq, &config.framing));
                }
            }
            read = reader.read_buf(buf) => {
                match read {
                    Ok(0) => {
                        let reason = if !inbound.decoder.is_mid_frame(&inbound.buf) {
                            DisconnectReason::PeerClosed { reason: inbound.peer_reason.take() }
                        } else {
                            DisconnectReason::Protocol {
                                error: format!(
                                    "the peer closed the connection in the middle of a frame \
                                     ({} bytes of it received)",
                                    inbound.buf.len()
                                ),
                            }
                        };
                        conn.set_reason(reason);
                        return closing_deadline;
                    }
                    Ok(read) => {
                        if read >= room {
                            chunk = (chunk * 2).min(READ_CHUNK);
                        }
                    }
                    Err(err) => {
                        debug!(%err, "read failed");
                        conn.abort_with(DisconnectReason::Io { error: err.to_string() });
                        return None;
                    }
                }
                inbound.heartbeat.last_heard = Instant::now();
                if closing_deadline.is_some() {
                    inbound.buf.clear();
                    continue;
                }
                match inbound.hand_over(conn, owner, aborted.as_mut()).await {
                    HandOver::Aborted => return closing_deadline,
                    HandOver::Frames => first_frame_deadline = None,
                    HandOver::NoFrame => {}
                }
            }
        }
    }
}

/// The reading side of a connection, between reads.
struct Inbound {
    decoder: BatchDecoder,
    buf: BytesMut,
    budget: Budget,
    rate: Option<TokenBucket>,
    heartbeat: Heartbeat,
    /// The reason the peer gave in `podnet:close`.
    peer_reason: Option<String>,
}

/// What [`Inbound::hand_over`] did.
enum HandOver {
    /// Read at least one whole frame.
    Frames,
    /// The read brought part of a frame only.
    NoFrame,
    /// The connection was aborted while waiting for the budget or the rate limit.
    Aborted,
}

impl Inbound {
    /// Hands every whole frame read so far to the application: messages as one batch with
    /// one share of the inbound budget (one hand-off per read, not per message), control
    /// messages to [`handle_control`], and bad frames as error events, in order.
    async fn hand_over<O: Owner>(
        &mut self,
        conn: &Connection,
        owner: &O,
        mut aborted: Pin<&mut WaitForCancellationFuture<'_>>,
    ) -> HandOver {
        let mut frames = false;
        loop {
            if let Some(bucket) = self.rate.as_mut() {
                // Over the rate: hand over what was read, then wait for a token before
                // reading the next frame; unread input waits in the socket.
                let resume = self
                    .decoder
                    .has_frame(&self.buf)
                    .then(|| bucket.take_one(Instant::now()));
                if let Some(Some(resume)) = resume {
                    if !self.flush(owner, aborted.as_mut()).await {
                        return HandOver::Aborted;
                    }
                    trace!(?resume, "rate limit: pausing");
                    tokio::select! {
                        biased;
                        () = aborted.as_mut() => return HandOver::Aborted,
                        () = tokio::time::sleep_until(resume) => {}
                    }
                }
            }
            let decoded = match self.decoder.decode(&mut self.buf) {
                Ok(Some(decoded)) => decoded,
                Ok(None) => break,
                Err(err) => {
                    warn!(%err, "protocol error: closing");
                    let text = err.to_string();
                    conn.close(
                        DisconnectReason::Protocol {
                            error: text.clone(),
                        },
                        &text,
                    );
                    // What came before the bad frame is still delivered.
                    let delivered = self.flush(owner, aborted.as_mut()).await;
                    self.buf.clear();
                    if !delivered {
                        return HandOver::Aborted;
                    }
                    break;
                }
            };
            frames = true;
            let handed = match decoded {
                Decoded::Message if self.decoder.batch_bytes() >= self.budget.size => {
                    self.flush(owner, aborted.as_mut()).await
                }
                Decoded::Reserved(msg) => {
                    handle_control(conn, &msg, &mut self.heartbeat, &mut self.peer_reason);
                    true
                }
                Decoded::NotAMessage(err) => {
                    let count = conn.bad_frames.fetch_add(1, Ordering::Relaxed) + 1;
                    debug!(%err, count, "frame is not a message");
                    // In order: the messages before it first.
                    self.flush(owner, aborted.as_mut()).await
                        && self.error(owner, err, aborted.as_mut()).await
                }
                _ => true,
            };
            if !handed {
                return HandOver::Aborted;
            }
        }
        if !self.flush(owner, aborted).await {
            return HandOver::Aborted;
        }
        if frames {
            HandOver::Frames
        } else {
            HandOver::NoFrame
        }
    }

    /// Charges the messages decoded so far to the budget (waiting while the application
    /// catches up) and hands them over as one batch, which holds the share until its last
    /// message is dropped. Returns false if the connection was aborted meanwhile.
    async fn flush<O: Owner>(
        &mut self,
        owner: &O,
        aborted: Pin<&mut WaitForCancellationFuture<'_>>,
    ) -> bool {
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
        aborted: Pin<&mut WaitForCancellationFuture<'_>>,
    ) -> bool {
        let mut share = self.budget.share();
        if !self
            .budget
            .acquire(&mut share, ERROR_EVENT_COST, aborted)
            .await
        {
            return false;
        }
        owner.error(Incoming::new(TransportError::Framing(err), Some(share)));
        true
    }
}

/// The state of a [`RateLimit`]: tokens are messages, refilled continuously.
struct TokenBucket {
    limit: RateLimit,
    /// Tokens left; negative after a read brought more messages than there were tokens.
    tokens: f64,
    refilled_at: Instant,
}

impl TokenBucket {
    fn new(limit: RateLimit, now: Instant) -> Self {
        Self {
            limit,
            tokens: f64::from(limit.burst),
            refilled_at: now,
        }
    }

    /// Takes a token for the next frame; if there is none, returns when there will be
    /// (the token is taken then).
    fn take_one(&mut self, now: Instant) -> Option<Instant> {
        let rate = f64::from(self.limit.messages_per_second);
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(f64::from(self.limit.burst));
        self.refilled_at = now;
        self.tokens -= 1.0;
        (self.tokens < 0.0).then(|| now + Duration::from_secs_f64(-self.tokens / rate))
    }
}

/// Handles one of podnet's control messages from the peer.
fn handle_control(
    conn: &Connection,
    msg: &RawMessage,
    heartbeat: &mut Heartbeat,
    peer_reason: &mut Option<String>,
) {
    let framing = &conn.config.framing;
    match Control::parse(msg) {
        // Not reserved after all; the decoder only hands out reserved actions.
        None => {}
        Some(Control::Ping { seq }) => {
            let _ = conn.send(control::pong(seq.unwrap_or(0), framing));
        }
        Some(Control::Pong { seq }) => {
            if let Some((sent_seq, sent_at)) = heartbeat.outstanding {
                if seq == Some(sent_seq) {
                    let rtt = sent_at.elapsed().as_micros().clamp(1, u64::MAX.into());
                    conn.rtt_micros
                        .store(u64::try_from(rtt).unwrap_or(u64::MAX), Ordering::Relaxed);
                    heartbeat.outstanding = None;
                }
            }
        }
        Some(Control::Hello { protocol }) => {
            debug!(?protocol, "peer is podnet");
            if !conn.podnet_peer.swap(true, Ordering::Relaxed) && conn.reply_hello {
                let _ = conn.send(control::hello_frame(framing));
            }
        }
        Some(Control::Close { reason }) => {
            debug!(%reason, "peer is closing");
            *peer_reason = Some(reason);
        }
        Some(Control::Unknown) => trace!(action = msg.action(), "unknown control message"),
    }
}

/// Writes what the queue hands out until it closes or aborts. Returns true if it finished
/// a graceful close (everything written, the close frame sent, its half shut down).
async fn write_loop<W>(conn: Arc<Connection>, mut writer: W) -> bool
where
    W: AsyncWrite + Unpin,
{
    let mut batch: VecDeque<Bytes> = VecDeque::new();
    let aborted = conn.abort.cancelled();
    tokio::pin!(aborted);
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
                    res = write_batch(&mut writer, &mut batch) => res,
                };
                batch.clear();
                conn.queue.release(frames, bytes);
                if let Err(err) = written {
                    debug!(%err, "write failed");
                    conn.abort_with(DisconnectReason::Io {
                        error: err.to_string(),
                    });
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

/// Writes every frame of `batch` with vectored writes, then flushes.
async fn write_batch<W>(writer: &mut W, batch: &mut VecDeque<Bytes>) -> io::Result<()>
where
    W: AsyncWrite + Unpin,
{
    while !batch.is_empty() {
        let written = {
            let mut slices = [IoSlice::new(&[]); MAX_IO_SLICES];
            let mut count = 0;
            for (slot, frame) in slices.iter_mut().zip(batch.iter()) {
                *slot = IoSlice::new(frame);
                count += 1;
            }
            writer.write_vectored(&slices[..count]).await?
        };
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

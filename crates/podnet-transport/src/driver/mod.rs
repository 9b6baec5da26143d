//! The tokio drivers of one connection: a reader task that feeds the protocol state
//! machine (`podnet_proto::Connection`) and carries out what it asks, and a writer task
//! that drains the outbound queue. Both are thin: every protocol decision is the state
//! machine's.

mod actions;
mod reader;
mod wire;
mod writer;

pub(crate) use wire::Wire;
pub(crate) use writer::SharedTcpWriter;

use std::sync::Arc;

use podnet_framing::MessageBatch;
use podnet_proto::{ClientSide, Connection, Handshake, ResumeToken, ServerInfo, ServerSide};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug};

use crate::conn::Shared;
use crate::{DisconnectReason, Incoming};
use podnet_framing::FramingError;

/// What a connection reports to: the server (which adds the connection's id) or a client.
pub(crate) trait Owner: Send + Sync + 'static {
    /// The end of the connection this owner drives: a server's or a client's.
    type Side: Carry;
    /// The handshake completed: what the connection is answered with (a server's
    /// description, for an `info` connection).
    fn established(&self, handshake: Handshake) -> Welcome;
    /// The peer sent its first complete frame.
    fn spoke(&self) {}
    /// The heartbeat measured a round trip.
    fn rtt(&self, rtt: std::time::Duration) {
        let _ = rtt;
    }
    /// The server's description arrived (a client's `info` connection).
    fn info(&self, info: ServerInfo) {
        let _ = info;
    }
    /// Hands over the messages one read brought, in order.
    fn messages(&self, messages: MessageBatch);
    /// The most payload bytes handed over in one batch: see [`batch_bytes`].
    fn batch_bytes(&self) -> usize;
    /// Hands over a frame that was not a message.
    fn error(&self, error: Incoming<FramingError>);
    /// The connection has ended: forget it, then report it.
    fn closed(&self, reason: DisconnectReason);
    /// A resumable session's connection dropped for `reason`; `core` is the session's
    /// protocol state, to keep until a resume (or the end of the session). The default
    /// ends the session.
    fn dropped(&self, core: Connection<Self::Side>, reason: DisconnectReason) {
        drop(core);
        self.closed(reason);
    }
    /// The session resumed on a new connection.
    fn resumed(&self) {}
    /// (Server.) Whether the session `token` names may be resumed by this connection;
    /// `Err` says why not, as the client is told.
    fn check_resume(&self, token: &ResumeToken) -> Result<(), String> {
        let _ = token;
        Err("this side does not resume sessions".to_owned())
    }
    /// (Server.) This connection takes over the session `token` names: its socket's
    /// halves, what was read past the resume hello, and its direct-write handle.
    fn handoff(&self, handoff: Handoff) {
        drop(handoff);
    }
}

/// The most payload bytes of one read handed over as one batch, in `mode`. Inside
/// `pump()` a batch is handled as soon as it is handed over, by the same thread, so it is
/// kept small enough to still be in the cache. With a network thread each hand-over
/// crosses threads (and may wake the game's), so it is larger, but not a whole read: the
/// reader yields after each, so the writers keep up with what the handlers send (a burst
/// of broadcasts handled at once would fill every player's queue before any is written).
pub(crate) fn batch_bytes(mode: crate::NetworkMode) -> usize {
    match mode {
        crate::NetworkMode::Pump => 16 * 1024,
        crate::NetworkMode::Thread => 64 * 1024,
    }
}

/// What an owner answers a connection whose handshake completed with; the driver passes
/// it to the state machine.
#[derive(Debug)]
pub(crate) enum Welcome {
    /// Nothing: the protocol goes on.
    Nothing,
    /// (Server, an `info` connection.) The server's description, then the close.
    Info(ServerInfo),
    /// (Server, an `info` connection.) Refused: too many are being answered.
    RefuseInfo,
}

/// What the driver does with the decisions only one end of a connection is asked for:
/// a server's (an `info` connection's answer, a refused resume).
pub(crate) trait Carry: podnet_proto::Side + Sized {
    /// The owner's answer to a connection whose handshake completed.
    fn welcome(core: &mut Connection<Self>, welcome: Welcome);
    /// The resume the connection asked for is refused, as `why` says.
    fn refuse_resume(core: &mut Connection<Self>, why: &str);
}

impl Carry for ServerSide {
    fn welcome(core: &mut Connection<Self>, welcome: Welcome) {
        match welcome {
            Welcome::Nothing => {}
            Welcome::Info(info) => core.answer_info(&info),
            Welcome::RefuseInfo => core.refuse_info(),
        }
    }

    fn refuse_resume(core: &mut Connection<Self>, why: &str) {
        core.refuse_resume(why);
    }
}

/// A client is welcomed with nothing, and never asked for a resume (its state machine
/// does not ask a driver to judge one).
impl Carry for ClientSide {
    fn welcome(_: &mut Connection<Self>, _: Welcome) {}

    fn refuse_resume(_: &mut Connection<Self>, _: &str) {}
}

/// A boxed reading half, for connections that change hands.
pub(crate) type BoxRead = Box<dyn AsyncRead + Unpin + Send>;
/// A boxed writing half.
pub(crate) type BoxWrite = Box<dyn AsyncWrite + Unpin + Send>;

/// The reading half of a connection: the stream, the wire it speaks, and what was read
/// from it already (frames, handed over before anything else is read).
#[derive(Debug)]
pub(crate) struct Reading<R> {
    pub(crate) io: R,
    pub(crate) wire: Wire,
    pub(crate) read: bytes::BytesMut,
}

impl<R> Reading<R> {
    /// A stream speaking repod framing, nothing read from it yet.
    pub(crate) fn repod(io: R) -> Self {
        Self {
            io,
            wire: Wire::Repod,
            read: bytes::BytesMut::new(),
        }
    }
}

/// A connection handed over to the session it resumes.
pub(crate) struct Handoff {
    pub(crate) token: ResumeToken,
    /// How many of the session's application frames the client had received.
    pub(crate) received: u64,
    /// Its reading half, with what followed the resume hello.
    pub(crate) reading: Reading<BoxRead>,
    pub(crate) writer: BoxWrite,
    pub(crate) direct: Option<Arc<dyn crate::outbound::DirectWrite>>,
}

/// The current time, as the state machine takes it.
fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// Starts the reader and writer tasks of `conn`, with `core` its protocol state. When
/// both have ended, `owner.closed` runs once.
pub(crate) fn spawn<R, W, O>(
    conn: Arc<Shared>,
    mut core: Connection<O::Side>,
    reading: Reading<R>,
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
    actions::carry_out(&conn, &mut core, &owner);
    let span = match conn.id {
        Some(id) => tracing::info_span!("connection", id = id.get(), peer = %conn.peer),
        None => tracing::info_span!("connection", peer = %conn.peer),
    };
    // Cuts this connection, not the session (a resumable session outlives it).
    let link = conn.abort.child_token();
    conn.slot().link = Some(link.clone());
    let mut writer_task = tracker
        .spawn(writer::write_loop(conn.clone(), writer, link.clone()).instrument(span.clone()));
    tracker.spawn(
        async move {
            debug!("open");
            let (end, reading) = reader::read_loop(&conn, &mut core, reading, &owner, &link).await;
            let closing_deadline = match end {
                reader::ReadEnd::Closed(deadline) => deadline,
                reader::ReadEnd::Lost(reason) => {
                    // The connection dropped; the session waits for a resume.
                    debug!(%reason, "connection dropped: the session is kept for a resume");
                    link.cancel();
                    drop(reading);
                    let _ = (&mut writer_task).await;
                    conn.queue.detach();
                    {
                        let mut slot = conn.slot();
                        slot.link = None;
                        slot.link_error = None;
                    }
                    owner.dropped(core, reason);
                    return;
                }
                reader::ReadEnd::Handoff { token, received } => {
                    link.cancel();
                    let writer = match (&mut writer_task).await {
                        Ok((_, writer)) => writer,
                        Err(_) => {
                            owner.closed(conn.take_reason());
                            return;
                        }
                    };
                    let reading = Reading {
                        io: Box::new(reading.io) as BoxRead,
                        wire: reading.wire,
                        read: reading.read,
                    };
                    owner.handoff(Handoff {
                        token,
                        received,
                        reading,
                        writer: Box::new(writer),
                        direct: conn.queue.take_direct(),
                    });
                    // This connection never was a session of its own.
                    conn.queue.abort();
                    owner.closed(DisconnectReason::Closed {
                        reason: "handed over to the session it resumed".into(),
                    });
                    return;
                }
            };

            // Reading is over. Let the writer flush what was queued (gracefully, within the
            // close deadline) unless the connection is being cut. A resume that did not
            // happen has nothing to wait for: the close goes out now.
            conn.queue.close(conn.last_words());
            if conn.queue.resume_failed() {
                // A close asked for while away, then the resume refused: the refusal says
                // why what was sent could not be delivered.
                if let Some(refused) = core.resume_refusal() {
                    conn.overrule(refused);
                }
            }
            let deadline = closing_deadline
                .map(Instant::from_std)
                .unwrap_or_else(|| Instant::now() + conn.close_within_limit());
            let finished = tokio::select! {
                done = &mut writer_task => done.is_ok_and(|(finished, _)| finished),
                () = tokio::time::sleep_until(deadline) => {
                    conn.queue.abort();
                    conn.abort.cancel();
                    (&mut writer_task).await.is_ok_and(|(finished, _)| finished)
                }
            };
            if !finished {
                conn.unfinished();
            }
            // The socket is closed before the end is reported: nothing else holds it once
            // the reader's half and the direct writer's go (the writer's went with its task).
            drop(reading);
            drop(conn.queue.take_direct());
            let reason = conn.take_reason();
            debug!(%reason, "closed");
            owner.closed(reason);
        }
        .instrument(span),
    );
}

//! Carrying out what a connection's state machine asks: sends, resume bookkeeping, the
//! owner's part of a handshake, closes and cuts; and whether reading goes on.

use podnet_proto::{Action, Input, ResumeToken};
use tracing::debug;

use super::{Carry, Owner, now};
use crate::DisconnectReason;
use crate::conn::Shared;

/// Whether reading goes on after the state machine's actions were carried out.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Flow {
    Continue,
    /// A graceful close started: what was read before it is still handed over, what
    /// follows is dropped.
    Closing,
    /// The connection was cut, or its close's deadline passed.
    Stop,
    /// The connection was lost, and the session outlives it.
    Lost(DisconnectReason),
    /// This connection resumes the session the token names.
    Handoff {
        token: ResumeToken,
        received: u64,
    },
}

/// Carries out what the state machine asks, in order.
pub(super) fn carry_out<O: Owner>(
    conn: &Shared,
    core: &mut podnet_proto::Connection<O::Side>,
    owner: &O,
) -> Flow {
    let mut flow = Flow::Continue;
    while let Some(action) = core.poll() {
        match action {
            Action::Send(frame) => conn.send_control(frame),
            // A full queue here is the slow-consumer case; `send` handles it.
            Action::SendMessage(frame) => drop(conn.send(frame)),
            Action::Resumable(token) => conn.set_resumable(token),
            Action::Grant { token, hello } => conn.grant_resumable(token, hello),
            Action::TokenConfirmed => conn.slot().previous = None,
            Action::NotResumable => conn.set_not_resumable(),
            Action::Acked(n) if !conn.queue.acked(n) => {
                let error =
                    format!("the peer acknowledged {n} messages, more than were sent to it");
                core.handle(now(), Input::Violation(&error));
            }
            Action::Resume { token, received } => match owner.check_resume(&token) {
                Ok(()) => return Flow::Handoff { token, received },
                Err(why) => O::Side::refuse_resume(core, &why),
            },
            Action::Resumed { received } => {
                if conn.queue.replay_from(received) {
                    debug!(received, "session resumed");
                    owner.resumed();
                } else {
                    let error = format!(
                        "the peer's count of messages received ({received}) is not one this \
                         side can resume from"
                    );
                    // The close goes out on this connection, with nothing sent again.
                    conn.queue.resume_failed();
                    core.handle(now(), Input::Violation(&error));
                }
            }
            Action::Established(handshake) => {
                debug!(peer = ?handshake.peer, r#type = %handshake.connection_type, "handshake complete");
                O::Side::welcome(core, owner.established(handshake));
            }
            Action::Spoke => owner.spoke(),
            Action::PodnetPeer { .. } => conn
                .podnet_peer
                .store(true, std::sync::atomic::Ordering::Relaxed),
            Action::Rtt(rtt) => {
                conn.rtt_micros.store(
                    u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX).max(1),
                    std::sync::atomic::Ordering::Relaxed,
                );
                owner.rtt(rtt);
            }
            Action::Info(info) => owner.info(info),
            Action::Close { reason, wire } => {
                conn.close(reason, &wire);
                flow = Flow::Closing;
            }
            Action::Cut(reason) => {
                conn.abort_with(reason);
                return Flow::Stop;
            }
            Action::Dropped(reason) => return Flow::Lost(reason),
            Action::Ended(reason) => {
                conn.record(reason);
                return Flow::Stop;
            }
            Action::StopReading => return Flow::Stop,
            _ => {}
        }
    }
    flow
}

//! Resumable sessions on the server: a session whose connection dropped is parked (its
//! protocol state kept, what is sent to it kept) for the grace period; a new connection
//! that presents its token takes it over; past the grace it ends.

use std::sync::Arc;
use std::time::Duration;

use podnet_proto::{ResumeToken, SessionView};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info};

use super::Inner;
use super::listener::ConnOwner;
use crate::conn::Shared;
use crate::driver::{self, Handoff};
use crate::{ConnectionId, DisconnectReason, ServerEvent};

/// How long a resume waits for the session's old connection to let go of it (when the
/// client noticed the drop before the server did).
const TAKE_OVER_WAIT: Duration = Duration::from_secs(2);
/// How long a refused resume's client is given to read why.
const REFUSE_LINGER: Duration = Duration::from_secs(1);

impl Inner {
    /// Whether the connection `conn` may resume the session `token` names; `Err` says why
    /// not, as the client is told. The rules are the protocol's ([`ResumeGate`]).
    pub(super) fn check_resume(&self, conn: &Shared, token: &ResumeToken) -> Result<(), String> {
        // In two steps, so that an attempt refused at once looks nothing up, and no lock
        // is held inside another: the session is looked up with the endpoint let go.
        let now = tokio::time::Instant::now().into_std();
        self.endpoint()
            .resume_attempt(now, token)
            .map_err(|refusal| refusal.to_string())?;
        let view = self.registry.get(token.id()).map(|session| SessionView {
            open: session.is_session() && session.is_open(),
            token_matches: session.is_resumable() && session.token_matches(token),
            websocket: session.is_websocket(),
        });
        self.endpoint()
            .resume_session(token, view, conn.is_websocket())
            .map_err(|refusal| refusal.to_string())
    }

    /// Keeps a session whose connection dropped for `reason`, with its protocol state, for
    /// the grace period.
    pub(super) fn park(
        self: &Arc<Self>,
        id: ConnectionId,
        conn: Arc<Shared>,
        core: podnet_proto::ServerConnection,
        reason: DisconnectReason,
    ) {
        let grace = self.resume.as_ref().map_or(Duration::ZERO, |r| r.grace);
        let (until, evicted) = {
            let mut endpoint = self.endpoint();
            let until = endpoint.park(id, tokio::time::Instant::now().into_std(), grace);
            (until, endpoint.evicted())
        };
        let timer = CancellationToken::new();
        let generation = {
            let mut slot = conn.slot();
            slot.generation += 1;
            slot.parked = Some((core, reason.clone()));
            slot.grace_timer = Some(timer.clone());
            slot.generation
        };
        conn.parked_notify.notify_waiters();
        info!(%id, %reason, ?grace, "connection dropped: the session waits for a resume");
        self.sink.deliver(ServerEvent::Dropped {
            id,
            reason: reason.clone(),
        });
        // Too many sessions wait: the ones that waited longest make room.
        for victim in evicted {
            if let Some(victim) = self.registry.get(victim) {
                self.end_evicted_parked(&victim);
            }
        }
        let inner = Arc::clone(self);
        self.tracker.spawn(
            async move {
                let expired = tokio::select! {
                    () = tokio::time::sleep_until(until.into()) => true,
                    () = conn.abort.cancelled() => false,
                    () = conn.closing.cancelled() => false,
                    () = timer.cancelled() => return,
                };
                if expired {
                    inner.endpoint().expire(id, until);
                }
                let end = expired.then(|| DisconnectReason::NotResumed {
                    dropped: reason.to_string(),
                    after: format!("it was not resumed within the grace of {grace:?}"),
                });
                inner.end_parked(id, &conn, generation, end);
            }
            .instrument(tracing::debug_span!("parked", id = id.get())),
        );
    }

    /// Ends `victim` if it is a session waiting for a resume, ended to make room (see
    /// `ResumeConfig::max_parked`). If a resume has just taken it, that resume ends it.
    pub(super) fn end_evicted_parked(&self, victim: &Shared) {
        let dropped = match &victim.slot().parked {
            Some((_, reason)) => reason.to_string(),
            None => return,
        };
        info!(id = ?victim.id, "a session waiting for a resume is ended to make room");
        victim.abort_with(evicted_while_parked(dropped));
    }

    /// Ends a parked session, if it is still the parking `generation`: with `reason`, or
    /// with the reason recorded (a close, a shutdown, a slow consumer).
    fn end_parked(
        self: &Arc<Self>,
        id: ConnectionId,
        conn: &Arc<Shared>,
        generation: u64,
        reason: Option<DisconnectReason>,
    ) {
        let parked = {
            let mut slot = conn.slot();
            if slot.generation != generation {
                return;
            }
            slot.parked.take()
        };
        if parked.is_none() {
            return;
        }
        self.finish(id, conn, reason);
    }

    /// Ends a session no connection carries: with `reason`, or with the reason recorded.
    fn finish(
        self: &Arc<Self>,
        id: ConnectionId,
        conn: &Arc<Shared>,
        reason: Option<DisconnectReason>,
    ) {
        if let Some(reason) = reason {
            conn.record(reason);
        }
        conn.queue.abort();
        let owner = ConnOwner {
            id,
            conn: conn.clone(),
            inner: Arc::clone(self),
        };
        use crate::driver::Owner;
        owner.closed(conn.take_reason());
    }

    /// A new connection takes over the session its token names: once the session is
    /// parked (its old connection is cut if the server had not noticed the drop yet), the
    /// session's state answers the client and sends again what it missed.
    pub(super) fn take_over(self: &Arc<Self>, handoff: Handoff) {
        let inner = Arc::clone(self);
        let id = handoff.token.id();
        let task = async move {
            let session = inner.registry.get(id);
            let Some(session) = session else {
                return refuse(handoff, "the session has ended").await;
            };
            let Some((mut core, dropped)) = take_parked(&session).await else {
                return refuse(handoff, "the session has ended").await;
            };
            // It no longer waits for a resume, unless it was ended to make room or its
            // grace ran out just as this resume took it: then this resume ends it.
            let (waited, evicted) = {
                let mut endpoint = inner.endpoint();
                (endpoint.unpark(id), endpoint.was_evicted(id))
            };
            if !waited {
                let (reason, why) = if evicted {
                    let why = podnet_proto::ResumeRefusal::Evicted.to_string();
                    (evicted_while_parked(dropped.to_string()), why)
                } else {
                    let reason = DisconnectReason::NotResumed {
                        dropped: dropped.to_string(),
                        after: "its grace ran out".to_owned(),
                    };
                    (reason, "the session has ended".to_owned())
                };
                inner.finish(id, &session, Some(reason));
                return refuse(handoff, &why).await;
            }
            let now = tokio::time::Instant::now().into_std();
            if !core.resume_link(now, handoff.received) {
                return refuse(handoff, "the session has ended").await;
            }
            debug!(%id, received = handoff.received, "resuming the session");
            session.new_link();
            session.queue.relink(handoff.direct);
            let owner = ConnOwner {
                id,
                conn: session.clone(),
                inner: Arc::clone(&inner),
            };
            driver::spawn(
                session,
                core,
                handoff.reading,
                handoff.writer,
                owner,
                &inner.tracker,
            );
        };
        self.tracker
            .spawn(task.instrument(tracing::debug_span!("take_over", id = id.get())));
    }
}

/// Takes the parked state of `session` and why its link dropped, cutting its current
/// connection first if it has one; `None` if the session ends (or its connection does not
/// let go) meanwhile.
async fn take_parked(
    session: &Shared,
) -> Option<(podnet_proto::ServerConnection, DisconnectReason)> {
    let deadline = tokio::time::Instant::now() + TAKE_OVER_WAIT;
    loop {
        let notified = session.parked_notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        // Tokens are cancelled once the slot's lock is let go: a cancel wakes tasks.
        let cut = {
            let mut slot = session.slot();
            if let Some(parked) = slot.parked.take() {
                // The grace timer of this parking no longer applies.
                slot.generation += 1;
                let timer = slot.grace_timer.take();
                drop(slot);
                if let Some(timer) = timer {
                    timer.cancel();
                }
                return Some(parked);
            }
            if !session.is_open() {
                return None;
            }
            let link = slot.link.take();
            if link.is_some() {
                slot.link_error = Some("replaced by a resumed connection".to_owned());
            }
            link
        };
        if let Some(link) = cut {
            link.cancel();
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return None;
        }
    }
}

/// Why a session waiting for a resume ended when it was ended to make room; it had
/// dropped for `dropped`.
fn evicted_while_parked(dropped: String) -> DisconnectReason {
    DisconnectReason::NotResumed {
        dropped,
        after: "it was ended while it waited, to make room for a newer connection \
                (ResumeConfig::max_parked, ServerConfig::max_connections)"
            .to_owned(),
    }
}

/// Tells a connection that could not take its session over why, and closes it.
async fn refuse(handoff: Handoff, why: &str) {
    let Handoff {
        reading, writer, ..
    } = handoff;
    let reason = podnet_proto::refusal_reason(why);
    let frame = crate::conn::goodbye(
        matches!(reading.wire, crate::driver::Wire::WebSocket(_)),
        Some(&reason),
        None,
        &podnet_proto::podnet_framing::FramingConfig::default(),
    );
    let mut io = tokio::io::join(reading.io, writer);
    crate::socket::last_words(&mut io, &frame, REFUSE_LINGER).await;
}

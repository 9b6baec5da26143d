//! Resumable sessions: the token granted and confirmed, the resume asked for and
//! answered, and the counts of messages received that a resume starts from.

use super::*;

impl<S: Side> Connection<S> {
    /// (Client.) The server did not grant the resumable session asked for.
    pub(super) fn not_resumable(&mut self) {
        if self.receipts.take().is_some() {
            debug!("the server does not resume sessions");
            self.actions.push_back(Action::NotResumable);
        }
    }

    pub(super) fn is_agreed(&self) -> bool {
        self.receipts
            .as_ref()
            .is_some_and(|r| r.role == ResumeRole::Agreed)
    }

    /// (Server, new connection.) A hello with a token: the client wants a session back.
    pub(super) fn on_resume_request(&mut self, protocol: u32, resume: HelloResume, now: Instant) {
        let RoleRef::Server(side) = self.side.role() else {
            return;
        };
        if side.settings.resume.is_none() {
            return self.refuse("this server does not resume sessions");
        }
        let Some(token) = resume.token.as_deref().and_then(ResumeToken::parse) else {
            return self.refuse("the token is not one a podnet server gives");
        };
        self.become_podnet(protocol, now);
        // The driver decides now; until then nothing else happens on this connection.
        self.deadline = None;
        self.actions.push_back(Action::Resume {
            token,
            received: resume.received.unwrap_or(0),
        });
    }

    /// Refuses the resume asked for, as `why` says (see
    /// [`Connection::refuse_resume`]).
    pub(super) fn refuse(&mut self, why: &str) {
        let wire = crate::refusal_reason(why);
        debug!(%wire, "refusing a resume");
        self.close(
            DisconnectReason::ResumeRefused {
                reason: wire.clone(),
            },
            wire,
        );
    }

    /// (Client.) The server's hello after a resume hello.
    pub(super) fn on_resume_answer(&mut self, resume: HelloResume, now: Instant) {
        let token = resume.token.as_deref().and_then(ResumeToken::parse);
        let (true, Some(token), Some(receipts)) = (resume.resumed, token, self.receipts.as_mut())
        else {
            let error = "the server answered a resume without resuming the session".to_owned();
            self.closed = true;
            return self.close(
                DisconnectReason::Protocol {
                    error: error.clone(),
                },
                error,
            );
        };
        receipts.token = Some(token.clone());
        debug!("session resumed");
        self.state = State::Established;
        self.deadline = None;
        if let Some(within) = self.close_wanted.take() {
            // Asked for while away: what was sent before it goes first (the replay comes
            // with `Resumed`), then the close.
            self.state = State::Closing;
            self.deadline = Some(now + within);
        }
        self.actions.push_back(Action::Resumable(token));
        self.actions.push_back(Action::Resumed {
            received: resume.received.unwrap_or(0),
        });
    }

    /// A new link starts: the heartbeat starts over, and the peer's close reason of the
    /// old one is forgotten.
    pub(super) fn fresh_link(&mut self, now: Instant) {
        self.heartbeat.last_heard = now;
        self.heartbeat.last_ping = now;
        self.heartbeat.outstanding = None;
        self.peer_reason = None;
        self.closed = false;
        self.deadline = None;
    }

    /// Whether the session outlives its connection: it is resumable and no close (this
    /// side's or the peer's) has started. When the connection drops (an error, an end of
    /// stream without a close, a heartbeat timeout), a driver keeps the session for a
    /// resume instead of ending it.
    pub fn survives_drop(&self) -> bool {
        self.is_agreed() && !self.closed
    }

    /// The token of a resumable session, once agreed.
    pub fn resume_token(&self) -> Option<&ResumeToken> {
        self.receipts.as_ref().and_then(|r| r.token.as_ref())
    }

    /// See [`Input::Delivered`].
    #[inline]
    pub(super) fn on_delivered(&mut self, count: u64, bytes: usize, now: Instant) {
        let Some(receipts) = self.receipts.as_mut() else {
            return;
        };
        if receipts.role != ResumeRole::Agreed || self.state != State::Established {
            return;
        }
        receipts.received = receipts.received.saturating_add(count);
        receipts.unacked_bytes = receipts.unacked_bytes.saturating_add(bytes);
        let unacked = receipts.received.saturating_sub(receipts.acked);
        if unacked >= u64::from(receipts.settings.ack_every.max(1))
            || receipts.unacked_bytes >= receipts.settings.ack_bytes
        {
            self.send_ack();
        } else if receipts.ack_due.is_none() {
            receipts.ack_due = Some(now + receipts.settings.ack_delay);
        }
    }

    /// Whether [`Input::Delivered`] matters: the session is resumable.
    #[inline]
    pub fn counts_messages(&self) -> bool {
        self.is_agreed()
    }

    pub(super) fn send_ack(&mut self) {
        let Some(receipts) = self.receipts.as_mut() else {
            return;
        };
        receipts.acked = receipts.received;
        receipts.unacked_bytes = 0;
        receipts.ack_due = None;
        let ack = control::ack_frame(receipts.received, &self.settings().framing);
        self.actions.push_back(Action::Send(ack));
    }
}

impl Connection<ServerSide> {
    /// (Server, new connection.) The resume asked for cannot be granted, as `why` says:
    /// the client is told and the connection closes, with
    /// [`refusal_reason`](crate::refusal_reason)`(why)`.
    pub fn refuse_resume(&mut self, why: &str) {
        self.refuse(why);
    }

    /// (Server, the session's own state.) The session resumes on a new link at `now`; the
    /// client had received `peer_received` of its application frames. Asks to record a
    /// new token ([`Action::Resumable`]; the one before stays good until
    /// [`Action::TokenConfirmed`], and while it is not confirmed a resume gives the same
    /// token again), answers the client, and asks to send again what the client had not
    /// received ([`Action::Resumed`]). Returns false (and does nothing) if the session is
    /// not resumable.
    pub fn resume_link(&mut self, now: Instant, peer_received: u64) -> bool {
        let settings = &self.side.settings;
        let (Some(id), Some(ty)) = (self.side.id, self.handshake.as_ref()) else {
            return false;
        };
        if !self.survives_drop() {
            return false;
        }
        let Some(receipts) = self.receipts.as_mut() else {
            return false;
        };
        // A client that never confirmed the last token may not have it: it is given
        // again, not replaced, so the tokens that work stay two (the last confirmed one
        // and this one).
        let rotate = !self.unconfirmed || receipts.token.is_none();
        let token = match &receipts.token {
            Some(token) if !rotate => token.clone(),
            _ => ResumeToken::mint(settings.instance, id),
        };
        let answer = control::hello_frame_with(
            ty.connection_type.name(),
            &HelloOut {
                token: Some(&token.to_wire()),
                received: Some(receipts.received),
                resumed: true,
                ..HelloOut::default()
            },
            &settings.connection.framing,
        );
        receipts.token = Some(token.clone());
        receipts.acked = receipts.received;
        receipts.ack_due = None;
        self.fresh_link(now);
        self.state = State::Established;
        self.unconfirmed = true;
        if rotate {
            self.actions.push_back(Action::Resumable(token));
        }
        self.actions.push_back(Action::Send(answer));
        self.actions.push_back(Action::Resumed {
            received: peer_received,
        });
        true
    }
}

impl Connection<ClientSide> {
    /// (Client.) The session's connection dropped and a new one opened at `now`: say
    /// hello with the token and what was received, and await the answer. Returns false
    /// (and does nothing) if the session is not resumable.
    pub fn start_resume(&mut self, now: Instant) -> bool {
        let settings = &self.side.settings;
        if !self.survives_drop() {
            return false;
        }
        let Some(receipts) = self.receipts.as_mut() else {
            return false;
        };
        let Some(token) = receipts.token.as_ref() else {
            return false;
        };
        let hello = control::hello_frame_with(
            &settings.connection_type,
            &HelloOut {
                token: Some(&token.to_wire()),
                received: Some(receipts.received),
                ..HelloOut::default()
            },
            &settings.connection.framing,
        );
        receipts.acked = receipts.received;
        receipts.ack_due = None;
        let answer_by = now + receipts.settings.answer_timeout;
        self.fresh_link(now);
        self.state = State::Resuming;
        self.deadline = Some(answer_by);
        self.actions.push_back(Action::Send(hello));
        true
    }

    /// (Client.) Whether a resume hello went out and its answer is awaited.
    pub fn is_resuming(&self) -> bool {
        self.state == State::Resuming
    }
}

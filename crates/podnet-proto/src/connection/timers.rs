//! What a connection does as time passes: a silent peer's handshake settled, pings and
//! the heartbeat's timeout, the acknowledgement delay, and the deadlines of a resume and
//! of a close.

use super::*;

impl<S: Side> Connection<S> {
    /// The earliest instant at which [`handle_timeout`](Self::handle_timeout) has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Done => None,
            State::Closing | State::Handshaking | State::Resuming => self.deadline,
            State::Established => {
                let ack = self.receipts.as_ref().and_then(|r| r.ack_due);
                let heartbeat = self.heartbeat_due();
                match (ack, heartbeat) {
                    (Some(a), Some(h)) => Some(a.min(h)),
                    (a, h) => a.or(h),
                }
            }
        }
    }

    pub(super) fn heartbeat_due(&self) -> Option<Instant> {
        let interval = self.settings().liveness.heartbeat_interval?;
        self.podnet?;
        let timeout = self.settings().liveness.heartbeat_timeout;
        Some((self.heartbeat.last_ping + interval).min(self.heartbeat.last_heard + timeout))
    }

    /// Does what is due at `now`: settles a silent peer's handshake, sends a ping, times
    /// out a silent podnet peer, or ends a close that took too long.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Done => {}
            State::Closing => {
                if self.deadline.is_some_and(|at| now >= at) {
                    self.state = State::Done;
                    self.actions.push_back(Action::StopReading);
                }
            }
            State::Handshaking => {
                if self.deadline.is_some_and(|at| now >= at) {
                    debug!("no hello: a classic peer");
                    self.settle_without_hello(now, true);
                }
            }
            State::Resuming => {
                if self.deadline.is_some_and(|at| now >= at) {
                    let after = self
                        .receipts
                        .as_ref()
                        .map(|r| r.settings.answer_timeout)
                        .unwrap_or_default();
                    debug!(?after, "no answer to the resume");
                    self.link_ended(DisconnectReason::TimedOut { after }, Action::Cut);
                }
            }
            State::Established => {
                if self
                    .receipts
                    .as_ref()
                    .and_then(|r| r.ack_due)
                    .is_some_and(|at| now >= at)
                {
                    self.send_ack();
                }
                let liveness = &self.settings().liveness;
                let (Some(interval), Some(_)) = (liveness.heartbeat_interval, self.podnet) else {
                    return;
                };
                let timeout = liveness.heartbeat_timeout;
                if now >= self.heartbeat.last_heard + timeout {
                    debug!(?timeout, "heartbeat timeout");
                    self.link_ended(DisconnectReason::TimedOut { after: timeout }, Action::Cut);
                    return;
                }
                if now >= self.heartbeat.last_ping + interval {
                    let seq = self.heartbeat.next_seq;
                    self.heartbeat.next_seq += 1;
                    self.heartbeat.last_ping = now;
                    self.heartbeat.outstanding = Some(seq);
                    trace!(seq, "ping");
                    let ping = control::ping_frame(seq, &self.settings().framing);
                    self.actions.push_back(Action::Send(ping));
                }
            }
        }
    }
}

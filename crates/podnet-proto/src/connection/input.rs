//! What a driver tells a connection: everything that arrives or happens to it, through
//! one entry point.

use super::*;

/// What happened to a connection, as its driver tells it through
/// [`Connection::handle`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Input<'a> {
    /// Bytes arrived from the peer: it is alive.
    Read,
    /// An application frame (a message, or a frame that is not one) arrived and is about
    /// to be handed over. Only needed while [`Connection::needs_frames`] says so: if the
    /// handshake was waiting for a hello, this settles it (the peer does not say hello,
    /// so it is a `classic` repod peer on a server, or a repod server on a client), and
    /// the application learns so before the frame.
    Frame,
    /// A control message (an action with the reserved prefix) arrived.
    Control(&'a RawMessage),
    /// `count` application frames, in `bytes` bytes read, were handed over. On a
    /// resumable session they are counted, and acknowledged every
    /// [`ResumeSettings::ack_every`] frames or [`ResumeSettings::ack_bytes`] bytes, or
    /// after [`ResumeSettings::ack_delay`]. Only needed while
    /// [`Connection::counts_messages`] says so.
    Delivered {
        /// How many application frames.
        count: u64,
        /// How many bytes were read for them.
        bytes: usize,
    },
    /// A frame broke the stream (over the length limit): the connection closes, telling
    /// the peer.
    Broken(&'a FramingError),
    /// The layer under the framing (a WebSocket) broke its own protocol, as the text
    /// says: the connection closes gracefully with that reason, as for a broken frame.
    Violation(&'a str),
    /// The peer ended its stream; `mid_frame` is how many bytes of an unfinished frame
    /// had arrived, if any. The connection answers [`Action::Dropped`] if the session
    /// outlives it, [`Action::Ended`] otherwise.
    End {
        /// Bytes of an unfinished frame, if the stream ended inside one.
        mid_frame: Option<usize>,
    },
    /// The link failed (a read or write error, a reset) for this reason. The connection
    /// answers [`Action::Dropped`] if the session outlives it, [`Action::Cut`] otherwise.
    Lost(DisconnectReason),
    /// This side asked for a graceful close (the application, or a shutdown), which may
    /// take `within`. From then on the session ends with the connection. A client
    /// waiting for a resume's answer closes once the session is back, so that what was
    /// sent before the close is delivered first.
    CloseAsked {
        /// How long the close may take, from when it starts.
        within: Duration,
    },
}

impl<S: Side> Connection<S> {
    /// Tells the connection what happened at `now`. Then [`poll`](Self::poll) its
    /// actions.
    #[inline]
    pub fn handle(&mut self, now: Instant, input: Input<'_>) {
        match input {
            Input::Read => self.on_read(now),
            Input::Frame => self.on_frame(now),
            Input::Control(msg) => self.on_control(msg, now),
            Input::Delivered { count, bytes } => self.on_delivered(count, bytes, now),
            Input::Broken(error) => self.on_violation(error.to_string()),
            Input::Violation(error) => self.on_violation(error.to_owned()),
            Input::End { mid_frame } => {
                let reason = self.end_reason(mid_frame);
                self.link_ended(reason, Action::Ended);
            }
            Input::Lost(reason) => self.link_ended(reason, Action::Cut),
            Input::CloseAsked { within } => self.close_asked(now, within),
        }
    }

    /// The link is gone for `reason`: the session waits for a resume if it outlives the
    /// link ([`Action::Dropped`]), and ends `otherwise`.
    pub(super) fn link_ended(
        &mut self,
        reason: DisconnectReason,
        otherwise: fn(DisconnectReason) -> Action,
    ) {
        self.state = State::Done;
        let action = if self.survives_drop() {
            Action::Dropped(reason)
        } else {
            otherwise(reason)
        };
        self.actions.push_back(action);
    }

    fn close_asked(&mut self, now: Instant, within: Duration) {
        self.closed = true;
        match self.state {
            State::Done => {}
            // The close waits for the session to be back (see `on_resume_answer`).
            State::Resuming => self.close_wanted = Some(within),
            State::Closing if self.deadline.is_some() => {}
            _ => {
                self.state = State::Closing;
                self.deadline = Some(now + within);
            }
        }
    }

    #[inline]
    fn on_read(&mut self, now: Instant) {
        self.heartbeat.last_heard = now;
        if self.unconfirmed {
            self.unconfirmed = false;
            self.actions.push_back(Action::TokenConfirmed);
        }
    }
}

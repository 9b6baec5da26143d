//! What a connection asks its driver to do.

use super::*;

/// What the driver must do, in the order the connection asks for it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Action {
    /// Queue this control message behind what is queued already. It is not an
    /// application frame: it is not counted, kept or sent again after a resume.
    Send(Bytes),
    /// Queue this application message (the `connected` greeting) behind what is queued
    /// already: on a resumable session it is counted and kept like the application's own.
    SendMessage(Bytes),
    /// The session is resumable from now on, with this token: keep every application
    /// frame sent until the peer acknowledges it. A server stores the token to check a
    /// resume against; a client presents it after a drop. Comes again, with a new token,
    /// at every resume.
    Resumable(ResumeToken),
    /// (Server.) A new session is resumable, granted by this hello: queue the hello and
    /// start keeping, as [`Action::Resumable`], in one step, so that nothing the
    /// application sends meanwhile falls between them (the session's frames are counted
    /// from the one after the hello, by both sides).
    Grant {
        /// The session's token, carried in `hello`.
        token: ResumeToken,
        /// The granting `podnet:hello`, a control message.
        hello: Bytes,
    },
    /// (Server.) The client has the token of the last [`Action::Resumable`]: it sent
    /// something on the resumed link, which it does only after reading the answer that
    /// carried the token. Until then the token before it is still good, so a client that
    /// lost the answer in another drop can still resume.
    TokenConfirmed,
    /// A client asked for a resumable session, and the server did not grant one: stop
    /// keeping what is sent.
    NotResumable,
    /// The peer has received this many application frames of the session: what is kept
    /// up to there may go.
    Acked(u64),
    /// (Server, on a new connection.) The client asks to resume the session its token
    /// names; `received` is how many application frames of it the client had. The driver
    /// checks the token and either hands this connection to that session (see
    /// [`Connection::resume_link`]) or calls [`Connection::refuse_resume`].
    Resume {
        /// The token presented.
        token: ResumeToken,
        /// How many application frames of the session the client had received.
        received: u64,
    },
    /// The session resumed on a new link: send again, in order, every application frame
    /// after the first `received` (what the peer had), then carry on.
    Resumed {
        /// How many application frames the peer had received.
        received: u64,
    },
    /// The handshake completed: the connection is what this says. On a server, a
    /// [session](ConnectionKind::Session) becomes visible to the application now, before
    /// any message of its; an [info](ConnectionKind::Info) connection is to be answered
    /// with [`Connection::answer_info`] (or refused with
    /// [`Connection::refuse_info`]).
    Established(Handshake),
    /// The peer sent its first complete frame: it is no longer a quiet connection (see
    /// [`Admission`](crate::Admission)).
    Spoke,
    /// The peer turned out to be podnet (it said hello).
    PodnetPeer {
        /// Its protocol version.
        protocol: u32,
    },
    /// A round trip was measured by the heartbeat.
    Rtt(Duration),
    /// The server's description arrived, on a client's `info` connection.
    Info(ServerInfo),
    /// Close gracefully: what is queued goes out, then `podnet:close` with `wire`, and
    /// the connection ends with `reason` (unless it already had one).
    Close {
        /// Why, for this side's records.
        reason: DisconnectReason,
        /// Why, as the peer is told.
        wire: String,
    },
    /// Cut the connection now, dropping what is queued; the session ends with it.
    Cut(DisconnectReason),
    /// The link is gone (it failed, timed out, or the peer ended it without a close), and
    /// the session outlives it: keep the session's state (this connection) and what it
    /// sent, for a resume. A client dials again and calls
    /// [`Connection::start_resume`]; a server waits for the client, then calls
    /// [`Connection::resume_link`].
    Dropped(DisconnectReason),
    /// The peer ended its stream, and the session ends with it for this reason: stop
    /// reading, and let what is queued go out within the close's deadline, if one is
    /// under way.
    Ended(DisconnectReason),
    /// The graceful close's deadline passed: stop reading; the writer's end decides
    /// whether the close itself finished.
    StopReading,
}

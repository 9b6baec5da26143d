//! Why a connection ended, and which reason wins when several happen at once.

use std::fmt;
use std::time::Duration;

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// This side closed it, with this reason (sent to the peer as `podnet:close`).
    Closed {
        /// The reason given to `close`.
        reason: String,
    },
    /// The peer closed it. A podnet peer says why with `podnet:close`; a repod peer just
    /// closes.
    PeerClosed {
        /// The reason the peer gave, if any.
        reason: Option<String>,
    },
    /// The server shut down, with this reason (sent to the peer as `podnet:close`).
    Shutdown {
        /// The reason given to `shutdown`.
        reason: String,
    },
    /// The peer did not read fast enough: its outbound queue went over the connection's
    /// `max_queued_bytes`.
    SlowConsumer {
        /// Bytes that would have been queued.
        queued: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The peer broke the framing (for example a frame over the maximum length), so the
    /// stream could not go on.
    Protocol {
        /// What was wrong.
        error: String,
    },
    /// The handshake failed: the peers speak different protocol versions, or the peer
    /// asked for a connection type this server does not have. Both sides are told why.
    Handshake {
        /// What was wrong, naming both sides' versions or the type asked for.
        error: String,
    },
    /// The socket failed (reset by the peer, a broken pipe, ...).
    Io {
        /// What the OS reported.
        error: String,
    },
    /// A podnet peer was silent for the heartbeat timeout
    /// ([`Liveness::heartbeat_timeout`](crate::Liveness::heartbeat_timeout)).
    TimedOut {
        /// How long it was silent.
        after: Duration,
    },
    /// The server was full (or held as many quiet connections as it allows) and this
    /// connection had not sent a single message yet: it was closed to make room, and told
    /// why. See `ServerConfig::max_quiet_connections`.
    Evicted,
    /// A graceful close or a shutdown ran out of time and the connection was cut.
    Aborted,
    /// The session's connection dropped, and it was not resumed within the server's grace
    /// period (on a server), or the client gave up reconnecting after its attempts.
    NotResumed {
        /// Why the connection dropped in the first place.
        dropped: String,
        /// What happened since: the grace that ran out, or the attempts made.
        after: String,
    },
    /// The server refused to resume the session (it was restarted, the session had
    /// ended, or the token was not the session's).
    ResumeRefused {
        /// The server's reason.
        reason: String,
    },
}

impl DisconnectReason {
    /// Every [`kind`](Self::kind), in declaration order: the label values a metrics
    /// exporter uses for disconnects by reason.
    pub const KINDS: [&'static str; 13] = [
        "closed",
        "peer_closed",
        "shutdown",
        "slow_consumer",
        "protocol",
        "handshake",
        "io",
        "timed_out",
        "evicted",
        "aborted",
        "not_resumed",
        "resume_refused",
        "other",
    ];

    /// The reason's kind, without its details, in snake case: `"slow_consumer"`,
    /// `"timed_out"`, ... (one of [`KINDS`](Self::KINDS)).
    ///
    /// ```
    /// use podnet_proto::DisconnectReason;
    /// assert_eq!(DisconnectReason::Evicted.kind(), "evicted");
    /// assert_eq!(DisconnectReason::PeerClosed { reason: None }.kind(), "peer_closed");
    /// ```
    pub fn kind(&self) -> &'static str {
        Self::KINDS[self.kind_index()]
    }

    /// The index of [`kind`](Self::kind) in [`KINDS`](Self::KINDS).
    pub fn kind_index(&self) -> usize {
        match self {
            Self::Closed { .. } => 0,
            Self::PeerClosed { .. } => 1,
            Self::Shutdown { .. } => 2,
            Self::SlowConsumer { .. } => 3,
            Self::Protocol { .. } => 4,
            Self::Handshake { .. } => 5,
            Self::Io { .. } => 6,
            Self::TimedOut { .. } => 7,
            Self::Evicted => 8,
            Self::Aborted => 9,
            Self::NotResumed { .. } => 10,
            Self::ResumeRefused { .. } => 11,
        }
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed { reason } => write!(f, "closed: {reason}"),
            Self::PeerClosed {
                reason: Some(reason),
            } => write!(f, "closed by the peer: {reason}"),
            Self::PeerClosed { reason: None } => f.write_str("closed by the peer"),
            Self::Shutdown { reason } => write!(f, "server shut down: {reason}"),
            Self::SlowConsumer { queued, limit } => write!(
                f,
                "slow consumer: {queued} bytes queued, over the limit of {limit}"
            ),
            Self::Protocol { error } => write!(f, "protocol error: {error}"),
            Self::Handshake { error } => write!(f, "handshake failed: {error}"),
            Self::Io { error } => write!(f, "connection error: {error}"),
            Self::TimedOut { after } => write!(f, "timed out: nothing heard for {after:?}"),
            Self::Evicted => f.write_str(
                "evicted: the server was full and this connection had not sent anything",
            ),
            Self::Aborted => f.write_str("aborted: the close did not finish in time"),
            Self::NotResumed { dropped, after } => {
                write!(
                    f,
                    "not resumed: the connection dropped ({dropped}), then {after}"
                )
            }
            Self::ResumeRefused { reason } => write!(f, "the server refused the resume: {reason}"),
        }
    }
}

/// Which [`DisconnectReason`] a connection ends with, when several things end it at once:
/// a local close racing the peer's, a write error during a shutdown, a close that runs out
/// of time. The rules:
///
/// 1. The first reason recorded wins ([`record`](Self::record)): a local close recorded
///    before the peer's end-of-stream stays a local close.
/// 2. A graceful close that did not finish ([`unfinished`](Self::unfinished)) becomes
///    [`DisconnectReason::Aborted`] if it was this side's close or a shutdown (or nothing
///    was recorded); a reason that already says why the close could not finish (the peer
///    left, a socket error, a slow consumer) stays.
/// 3. With nothing recorded, the connection was closed by the peer, without a reason.
///
/// It is plain data: the transport keeps it under a lock, since the application's threads
/// close connections while the network's tasks record what they see.
///
/// ```
/// use podnet_proto::{DisconnectReason, Ending};
///
/// let mut ending = Ending::default();
/// ending.record(DisconnectReason::Closed { reason: "bye".into() });
/// ending.record(DisconnectReason::PeerClosed { reason: None }); // too late
/// ending.unfinished(); // but the close never finished
/// assert_eq!(ending.take(), DisconnectReason::Aborted);
/// ```
#[derive(Debug, Default)]
pub struct Ending {
    reason: Option<DisconnectReason>,
}

impl Ending {
    /// Records `reason` unless one is already recorded; returns whether it was.
    pub fn record(&mut self, reason: DisconnectReason) -> bool {
        if self.reason.is_some() {
            return false;
        }
        self.reason = Some(reason);
        true
    }

    /// Records `reason` in place of whatever was recorded: for an ending that explains
    /// more than the first (a close this side asked for, then a resume refused before
    /// what was kept could be delivered).
    pub fn overrule(&mut self, reason: DisconnectReason) {
        self.reason = Some(reason);
    }

    /// Whether a reason is recorded.
    pub fn is_recorded(&self) -> bool {
        self.reason.is_some()
    }

    /// A graceful close (this side's, or a shutdown) did not finish in time.
    pub fn unfinished(&mut self) {
        match self.reason {
            None
            | Some(DisconnectReason::Closed { .. })
            | Some(DisconnectReason::Shutdown { .. }) => {
                self.reason = Some(DisconnectReason::Aborted);
            }
            Some(_) => {}
        }
    }

    /// The reason the connection ended with.
    pub fn take(&mut self) -> DisconnectReason {
        self.reason
            .take()
            .unwrap_or(DisconnectReason::PeerClosed { reason: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed() -> DisconnectReason {
        DisconnectReason::Closed {
            reason: "bye".into(),
        }
    }

    /// The first reason wins over later ones.
    #[test]
    fn first_reason_wins() {
        let mut ending = Ending::default();
        assert!(ending.record(closed()));
        assert!(!ending.record(DisconnectReason::PeerClosed { reason: None }));
        assert_eq!(ending.take(), closed());
    }

    /// An unfinished close of ours, or of a shutdown, or of nothing recorded, is Aborted;
    /// reasons that explain the failure stay.
    #[test]
    fn unfinished_close_precedence() {
        for (recorded, expected) in [
            (Some(closed()), DisconnectReason::Aborted),
            (
                Some(DisconnectReason::Shutdown { reason: "x".into() }),
                DisconnectReason::Aborted,
            ),
            (None, DisconnectReason::Aborted),
            (
                Some(DisconnectReason::Io {
                    error: "reset".into(),
                }),
                DisconnectReason::Io {
                    error: "reset".into(),
                },
            ),
            (
                Some(DisconnectReason::SlowConsumer {
                    queued: 2,
                    limit: 1,
                }),
                DisconnectReason::SlowConsumer {
                    queued: 2,
                    limit: 1,
                },
            ),
            (Some(DisconnectReason::Evicted), DisconnectReason::Evicted),
        ] {
            let mut ending = Ending::default();
            if let Some(reason) = recorded {
                ending.record(reason);
            }
            ending.unfinished();
            assert_eq!(ending.take(), expected);
        }
    }

    /// Nothing recorded: the peer closed, without a reason.
    #[test]
    fn nothing_recorded_is_a_peer_close() {
        assert_eq!(
            Ending::default().take(),
            DisconnectReason::PeerClosed { reason: None }
        );
    }
}

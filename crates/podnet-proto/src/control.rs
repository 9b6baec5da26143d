//! podnet's own control messages, in the reserved `podnet:` namespace: their names, how
//! they are recognised, and how they are written, in one place; the transport and the
//! layers above ask here. The prefix itself is framing's, so that a frame can refuse it.
//!
//! Every one of them is optional for the peer: a repod peer sees an unknown action, ignores
//! it, and never sends any of them.

use bytes::{Bytes, BytesMut};
use podnet_framing::{FramingConfig, RawMessage, encode_with_action};
use serde::{Deserialize, Serialize};

pub use podnet_framing::{RESERVED_PREFIX, is_reserved};

/// The version of podnet's control protocol that `podnet:hello` announces. Two podnet
/// peers speak to each other only if their versions are equal.
///
/// - 1: podnet 0.1 (`hello` with a version only; no connection types).
/// - 2: podnet 0.2 (`hello` with a connection type; `podnet:info`; session resume, with
///   its fields in `hello` and `podnet:ack`).
pub const PROTOCOL_VERSION: u32 = 2;

pub(crate) const CLOSE: &str = "podnet:close";
pub(crate) const HELLO: &str = "podnet:hello";
pub(crate) const PING: &str = "podnet:ping";
pub(crate) const PONG: &str = "podnet:pong";
pub(crate) const INFO: &str = "podnet:info";
pub(crate) const ACK: &str = "podnet:ack";

/// The longest connection type name a hello may carry; a longer one is refused.
pub(crate) const MAX_TYPE_NAME: usize = 64;

/// `{"action": "podnet:close", "reason": ...}`: the last message before a close.
#[derive(Serialize, Deserialize)]
struct CloseMsg<'a> {
    #[serde(borrow)]
    reason: &'a str,
}

/// `{"action": "podnet:hello", "protocol": 2, "type": "classic"}`: "I am podnet, and this
/// is the kind of connection I want" (from a client), or "so am I, and that is what you
/// have" (the server's answer).
///
/// Resume rides on it (see `docs/protocol.md`): a client asks for a resumable session
/// with `"resume": true`, or resumes one with `"token"` and `"received"` (how many
/// application frames it had received); the server grants one with `"token"`, and answers
/// a resume with `"resumed": true`, a new `"token"` and its own `"received"`. A server
/// that settles a silent connection as `classic` says so first with `"silent": true`.
#[derive(Serialize, Deserialize)]
struct HelloMsg<'a> {
    protocol: u32,
    #[serde(rename = "type", default, borrow)]
    conn_type: Option<&'a str>,
    #[serde(default, skip_serializing_if = "is_false")]
    resume: bool,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    token: Option<&'a str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    received: Option<u64>,
    #[serde(default, skip_serializing_if = "is_false")]
    resumed: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    silent: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The resume fields of a hello, as received.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct HelloResume {
    /// A client asks for a resumable session.
    pub(crate) resume: bool,
    /// A client's token to resume with; the server's token for the session.
    pub(crate) token: Option<String>,
    /// How many application frames the sender had received.
    pub(crate) received: Option<u64>,
    /// The server's answer to a resume.
    pub(crate) resumed: bool,
    /// The server settled the connection as `classic` before it heard a hello: the
    /// client's hello, if it sent one, is still on its way, and will be answered.
    pub(crate) silent: bool,
}

/// What a hello says about resume, to write one.
#[derive(Debug, Default)]
pub(crate) struct HelloOut<'a> {
    pub(crate) resume: bool,
    pub(crate) token: Option<&'a str>,
    pub(crate) received: Option<u64>,
    pub(crate) resumed: bool,
    pub(crate) silent: bool,
}

/// `{"action": "podnet:ack", "n": 1234}`: the sender has received this many application
/// frames on the session.
#[derive(Serialize, Deserialize)]
struct AckMsg {
    n: u64,
}

/// `podnet:ping` and `podnet:pong` carry a sequence number.
#[derive(Serialize, Deserialize)]
struct PingMsg {
    seq: u64,
}

/// A control message received from the peer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Control {
    Close {
        reason: String,
    },
    Hello {
        /// `None` if the hello carried no readable version.
        protocol: Option<u32>,
        /// `None` if it named no type (podnet 0.1 did not): the default type.
        conn_type: Option<String>,
        /// What it says about resume.
        resume: HelloResume,
    },
    Ack {
        n: Option<u64>,
    },
    Ping {
        seq: Option<u64>,
    },
    Pong {
        seq: Option<u64>,
    },
    /// The server's answer to an `info` connection; decoded by whoever asked.
    Info,
    /// A `podnet:` action this version does not know: ignored, for forward compatibility.
    Unknown,
}

impl Control {
    /// The control message `msg` carries, or `None` if it is an application message.
    /// Malformed control messages are read leniently (missing fields become `None`).
    pub(crate) fn parse(msg: &RawMessage) -> Option<Control> {
        if !msg.action_bytes().starts_with(RESERVED_PREFIX.as_bytes()) {
            return None;
        }
        Some(match msg.action() {
            CLOSE => Control::Close {
                reason: msg
                    .decode::<CloseMsg<'_>>()
                    .map(|c| c.reason.to_owned())
                    .unwrap_or_default(),
            },
            HELLO => match msg.decode::<HelloMsg<'_>>() {
                Ok(hello) => Control::Hello {
                    protocol: Some(hello.protocol),
                    conn_type: hello.conn_type.map(str::to_owned),
                    resume: HelloResume {
                        resume: hello.resume,
                        token: hello.token.map(str::to_owned),
                        received: hello.received,
                        resumed: hello.resumed,
                        silent: hello.silent,
                    },
                },
                Err(_) => Control::Hello {
                    protocol: None,
                    conn_type: None,
                    resume: HelloResume::default(),
                },
            },
            ACK => Control::Ack {
                n: msg.decode::<AckMsg>().ok().map(|a| a.n),
            },
            PING => Control::Ping {
                seq: msg.decode::<PingMsg>().ok().map(|p| p.seq),
            },
            PONG => Control::Pong {
                seq: msg.decode::<PingMsg>().ok().map(|p| p.seq),
            },
            INFO => Control::Info,
            _ => Control::Unknown,
        })
    }
}

/// Encodes a control message as a whole frame. Control messages are small and fixed, so
/// encoding cannot fail; if it ever did, the result is an empty frame that writes nothing.
pub(crate) fn frame<T: Serialize>(action: &str, msg: &T, config: &FramingConfig) -> Bytes {
    let mut buf = BytesMut::with_capacity(64);
    match encode_with_action(action, msg, &mut buf, config) {
        Ok(()) => buf.freeze(),
        Err(_) => Bytes::new(),
    }
}

/// `podnet:close` with `reason`. A reason too long for a frame is cut (at a character
/// boundary) rather than lost: the close must go out.
///
/// ```
/// use podnet_framing::{FramingConfig, RawMessage};
///
/// let frame = podnet_proto::close_frame("server full", &FramingConfig::default());
/// let msg = RawMessage::parse(frame.slice(4..), &FramingConfig::default())?;
/// assert_eq!(msg.action(), "podnet:close");
/// assert_eq!(msg.to_value()?["reason"].as_str(), Some("server full"));
/// # Ok::<(), podnet_framing::FramingError>(())
/// ```
pub fn close_frame(reason: &str, config: &FramingConfig) -> Bytes {
    let mut reason = reason;
    let limit = config.max_frame_length.saturating_sub(32).min(4096);
    if reason.len() > limit {
        let mut end = limit;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason = &reason[..end];
    }
    frame(CLOSE, &CloseMsg { reason }, config)
}

pub(crate) fn hello_frame(conn_type: &str, config: &FramingConfig) -> Bytes {
    hello_frame_with(conn_type, &HelloOut::default(), config)
}

pub(crate) fn hello_frame_with(
    conn_type: &str,
    resume: &HelloOut<'_>,
    config: &FramingConfig,
) -> Bytes {
    frame(
        HELLO,
        &HelloMsg {
            protocol: PROTOCOL_VERSION,
            conn_type: Some(conn_type),
            resume: resume.resume,
            token: resume.token,
            received: resume.received,
            resumed: resume.resumed,
            silent: resume.silent,
        },
        config,
    )
}

pub(crate) fn ack_frame(n: u64, config: &FramingConfig) -> Bytes {
    frame(ACK, &AckMsg { n }, config)
}

pub(crate) fn ping_frame(seq: u64, config: &FramingConfig) -> Bytes {
    frame(PING, &PingMsg { seq }, config)
}

pub(crate) fn pong_frame(seq: u64, config: &FramingConfig) -> Bytes {
    frame(PONG, &PingMsg { seq }, config)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn parse(frame: Bytes) -> Control {
        let config = FramingConfig::default();
        let payload = frame.slice(4..);
        Control::parse(&RawMessage::parse(payload, &config).unwrap()).unwrap()
    }

    /// Every control frame podnet writes reads back as itself.
    #[test]
    fn control_frames_round_trip() {
        let config = FramingConfig::default();
        assert_eq!(
            parse(close_frame("bye", &config)),
            Control::Close {
                reason: "bye".into()
            }
        );
        assert_eq!(
            parse(hello_frame("info", &config)),
            Control::Hello {
                protocol: Some(PROTOCOL_VERSION),
                conn_type: Some("info".into()),
                resume: HelloResume::default(),
            }
        );
        let resume = HelloOut {
            resume: false,
            token: Some("ab"),
            received: Some(9),
            resumed: true,
            silent: true,
        };
        assert_eq!(
            parse(hello_frame_with("classic", &resume, &config)),
            Control::Hello {
                protocol: Some(PROTOCOL_VERSION),
                conn_type: Some("classic".into()),
                resume: HelloResume {
                    resume: false,
                    token: Some("ab".into()),
                    received: Some(9),
                    resumed: true,
                    silent: true,
                },
            }
        );
        assert_eq!(parse(ack_frame(42, &config)), Control::Ack { n: Some(42) });
        assert_eq!(
            parse(ping_frame(7, &config)),
            Control::Ping { seq: Some(7) }
        );
        assert_eq!(
            parse(pong_frame(8, &config)),
            Control::Pong { seq: Some(8) }
        );
    }

    /// podnet 0.1's hello (a version, no type) still parses: its version decides.
    #[test]
    fn version_one_hello_parses() {
        let config = FramingConfig::default();
        let old = frame(
            HELLO,
            &std::collections::HashMap::from([("protocol", 1)]),
            &config,
        );
        assert_eq!(
            parse(old),
            Control::Hello {
                protocol: Some(1),
                conn_type: None,
                resume: HelloResume::default(),
            }
        );
    }

    /// A reason longer than a frame allows is cut at a character boundary, not dropped.
    #[test]
    fn long_reasons_are_cut() {
        let config = FramingConfig::default().with_max_frame_length(64);
        let Control::Close { reason } = parse(close_frame(&"é".repeat(100), &config)) else {
            panic!("not a close");
        };
        assert!(!reason.is_empty() && reason.len() <= 32);
        assert!(reason.chars().all(|c| c == 'é'));
    }
}

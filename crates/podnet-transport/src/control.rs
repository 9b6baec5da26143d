//! podnet's own control messages, in the reserved `podnet:` namespace. Sans-IO: building
//! and recognising them, nothing else.
//!
//! Every one of them is optional for the peer: a repod peer sees an unknown action, ignores
//! it, and never sends any of them.

use bytes::Bytes;
use podnet_framing::{FramingConfig, RawMessage};
use serde::{Deserialize, Serialize};

use crate::frame::Frame;

/// The prefix of every action podnet reserves for itself.
pub const RESERVED_PREFIX: &str = "podnet:";

/// The version of podnet's control protocol that `podnet:hello` announces.
pub(crate) const PROTOCOL_VERSION: u32 = 1;

pub(crate) const CLOSE: &str = "podnet:close";
pub(crate) const HELLO: &str = "podnet:hello";
pub(crate) const PING: &str = "podnet:ping";
pub(crate) const PONG: &str = "podnet:pong";

/// `{"action": "podnet:close", "reason": ...}`: the last message before a close.
#[derive(Serialize, Deserialize)]
pub(crate) struct Close<'a> {
    #[serde(borrow)]
    pub(crate) reason: &'a str,
}

/// `{"action": "podnet:hello", "protocol": 1}`: "I am podnet".
#[derive(Serialize, Deserialize)]
pub(crate) struct Hello {
    pub(crate) protocol: u32,
}

/// `podnet:ping` and `podnet:pong` carry a sequence number.
#[derive(Serialize, Deserialize)]
pub(crate) struct Ping {
    pub(crate) seq: u64,
}

/// A control message received from the peer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Control {
    Close {
        reason: String,
    },
    Hello {
        protocol: Option<u32>,
    },
    Ping {
        seq: Option<u64>,
    },
    Pong {
        seq: Option<u64>,
    },
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
        let action = msg.action();
        Some(match action {
            CLOSE => Control::Close {
                reason: msg
                    .decode::<Close<'_>>()
                    .map(|c| c.reason.to_owned())
                    .unwrap_or_default(),
            },
            HELLO => Control::Hello {
                protocol: msg.decode::<Hello>().ok().map(|h| h.protocol),
            },
            PING => Control::Ping {
                seq: msg.decode::<Ping>().ok().map(|p| p.seq),
            },
            PONG => Control::Pong {
                seq: msg.decode::<Ping>().ok().map(|p| p.seq),
            },
            _ => Control::Unknown,
        })
    }
}

pub(crate) fn close_frame(reason: &str, config: &FramingConfig) -> Bytes {
    // A reason too long for a frame is cut rather than lost: the close must go out.
    let mut reason = reason;
    let limit = config.max_frame_length.saturating_sub(32).min(4096);
    if reason.len() > limit {
        let mut end = limit;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason = &reason[..end];
    }
    Frame::control(CLOSE, &Close { reason }, config)
}

pub(crate) fn hello_frame(config: &FramingConfig) -> Bytes {
    Frame::control(
        HELLO,
        &Hello {
            protocol: PROTOCOL_VERSION,
        },
        config,
    )
}

pub(crate) fn ping_frame(action: &str, seq: u64, config: &FramingConfig) -> Bytes {
    Frame::control(action, &Ping { seq }, config)
}

pub(crate) fn ping(seq: u64, config: &FramingConfig) -> Bytes {
    ping_frame(PING, seq, config)
}

pub(crate) fn pong(seq: u64, config: &FramingConfig) -> Bytes {
    ping_frame(PONG, seq, config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use podnet_framing::FrameCodec;
    use tokio_util::codec::Decoder;

    fn parse(frame: Bytes) -> Control {
        let config = FramingConfig::default();
        let mut buf = bytes::BytesMut::from(&frame[..]);
        let payload = FrameCodec::new(&config).decode(&mut buf).unwrap().unwrap();
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
            parse(hello_frame(&config)),
            Control::Hello { protocol: Some(1) }
        );
        assert_eq!(parse(ping(7, &config)), Control::Ping { seq: Some(7) });
        assert_eq!(parse(pong(8, &config)), Control::Pong { seq: Some(8) });
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

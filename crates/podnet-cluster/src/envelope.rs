//! What travels through Redis pub/sub between nodes: a message (the msgpack map, without
//! repod's 4-byte length) behind a small header naming who it is for. Anything that
//! arrives is checked as a peer's frame would be: a bad envelope or message is dropped
//! and counted, never delivered.

use bytes::{BufMut, Bytes, BytesMut};
use podnet_framing::{FramingConfig, RawMessage};
use podnet_transport::ConnectionId;

/// Who a message on a node's own channel is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum To {
    /// One local connection.
    Connection(ConnectionId),
    /// The local player holding this name.
    Name(String),
    /// The node itself (its game loop), from node `from`.
    Node {
        /// The sending node.
        from: String,
    },
}

const TO_CONNECTION: u8 = b'C';
const TO_NAME: u8 = b'N';
const TO_NODE: u8 = b'M';

/// The longest name an envelope carries (names are short; this bounds the header).
pub(crate) const MAX_NAME: usize = 255;

/// `to` and the message, for a node's own channel.
pub(crate) fn direct(to: &To, payload: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::with_capacity(payload.len() + 16);
    match to {
        To::Connection(id) => {
            out.put_u8(TO_CONNECTION);
            out.put_u64(id.get());
        }
        To::Name(name) => {
            out.put_u8(TO_NAME);
            let name = &name.as_bytes()[..name.len().min(MAX_NAME)];
            out.put_u8(u8::try_from(name.len()).unwrap_or(u8::MAX));
            out.put_slice(name);
        }
        To::Node { from } => {
            out.put_u8(TO_NODE);
            let from = &from.as_bytes()[..from.len().min(MAX_NAME)];
            out.put_u8(u8::try_from(from.len()).unwrap_or(u8::MAX));
            out.put_slice(from);
        }
    }
    out.put_slice(payload);
    out.to_vec()
}

/// The message and the node that sent it, for the cluster-wide and room channels (the
/// sender has delivered to its own players already, and skips its own).
pub(crate) fn from_node(origin: &str, payload: &[u8]) -> Vec<u8> {
    let origin = &origin.as_bytes()[..origin.len().min(MAX_NAME)];
    let mut out = Vec::with_capacity(payload.len() + origin.len() + 1);
    out.push(u8::try_from(origin.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(origin);
    out.extend_from_slice(payload);
    out
}

/// Why an envelope was dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Bad {
    /// Too short for its header, or an unknown kind.
    Header,
    /// Over the message size limit.
    TooBig,
    /// The message is not one (see podnet's framing checks).
    Message,
}

fn message(rest: &[u8], config: &FramingConfig) -> Result<RawMessage, Bad> {
    if rest.len() > config.max_frame_length {
        return Err(Bad::TooBig);
    }
    RawMessage::parse(Bytes::copy_from_slice(rest), config).map_err(|_| Bad::Message)
}

/// Reads a node's own channel's envelope.
pub(crate) fn read_direct(data: &[u8], config: &FramingConfig) -> Result<(To, RawMessage), Bad> {
    match data.split_first() {
        Some((&TO_CONNECTION, rest)) if rest.len() >= 8 => {
            let (id, rest) = rest.split_at(8);
            let mut raw = [0u8; 8];
            raw.copy_from_slice(id);
            let to = To::Connection(ConnectionId::from_raw(u64::from_be_bytes(raw)));
            Ok((to, message(rest, config)?))
        }
        Some((&kind @ (TO_NAME | TO_NODE), rest)) => {
            let (&len, rest) = rest.split_first().ok_or(Bad::Header)?;
            let len = usize::from(len);
            if rest.len() < len {
                return Err(Bad::Header);
            }
            let (name, rest) = rest.split_at(len);
            let name = std::str::from_utf8(name)
                .map_err(|_| Bad::Header)?
                .to_owned();
            let to = if kind == TO_NAME {
                To::Name(name)
            } else {
                To::Node { from: name }
            };
            Ok((to, message(rest, config)?))
        }
        _ => Err(Bad::Header),
    }
}

/// Reads a cluster-wide or room envelope: the sending node, and the message.
pub(crate) fn read_from_node<'d>(
    data: &'d [u8],
    config: &FramingConfig,
) -> Result<(&'d [u8], RawMessage), Bad> {
    let (&len, rest) = data.split_first().ok_or(Bad::Header)?;
    let len = usize::from(len);
    if rest.len() < len {
        return Err(Bad::Header);
    }
    let (origin, rest) = rest.split_at(len);
    Ok((origin, message(rest, config)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> Vec<u8> {
        // {"action": "hi"}
        vec![
            0x81, 0xa6, b'a', b'c', b't', b'i', b'o', b'n', 0xa2, b'h', b'i',
        ]
    }

    #[test]
    fn envelopes_round_trip() {
        let config = FramingConfig::default();
        let to = To::Connection(ConnectionId::from_raw(42));
        let (back, msg) = read_direct(&direct(&to, &payload()), &config).unwrap();
        assert_eq!((back, msg.action()), (to, "hi"));
        let to = To::Name("ada".into());
        let (back, msg) = read_direct(&direct(&to, &payload()), &config).unwrap();
        assert_eq!((back, msg.action()), (to, "hi"));
        let to = To::Node { from: "n2".into() };
        let (back, msg) = read_direct(&direct(&to, &payload()), &config).unwrap();
        assert_eq!((back, msg.action()), (to, "hi"));
        let sent = from_node("n1", &payload());
        let (origin, msg) = read_from_node(&sent, &config).unwrap();
        assert_eq!((origin, msg.action()), (&b"n1"[..], "hi"));
    }

    /// Whatever arrives, nothing panics, and only a whole, valid message is delivered.
    #[test]
    fn hostile_envelopes_are_refused() {
        let config = FramingConfig::default();
        for bad in [
            &b""[..],
            b"C",
            b"C1234567",
            b"N",
            b"N\x05ab",
            b"X\x00",
            b"N\x02\xff\xfe\x81",
            b"M",
            b"M\x09n",
        ] {
            assert!(read_direct(bad, &config).is_err(), "{bad:?}");
        }
        let mut garbage = direct(&To::Connection(ConnectionId::from_raw(1)), &[0xc1]);
        assert_eq!(
            read_direct(&garbage, &config).map(|_| ()),
            Err(Bad::Message)
        );
        garbage.truncate(3);
        assert!(read_direct(&garbage, &config).is_err());
        assert!(read_from_node(b"\x09short", &config).is_err());
        let mut small = FramingConfig::default();
        small.max_frame_length = 4;
        assert_eq!(
            read_from_node(&from_node("n", &payload()), &small).map(|_| ()),
            Err(Bad::TooBig)
        );
    }
}

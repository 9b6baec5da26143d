//! What travels through Redis pub/sub between nodes: a message (the msgpack map, without
//! repod's 4-byte length) behind a small header naming who it is for. Anything that
//! arrives is checked as a peer's frame would be: a bad envelope or message is dropped
//! and counted, never delivered.

use bytes::{BufMut, Bytes};
use podnet_framing::{FramingConfig, RawMessage};
use podnet_transport::ConnectionId;

/// Who a message on a node's own channel is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum To {
    /// One local connection.
    Connection(ConnectionId),
    /// The local player holding this name.
    Name(String),
    /// The node itself (its game loop), from node `from`: message `seq` of its stream
    /// `epoch` to this node, which it holds from `base` on (see `delivery`).
    Node {
        /// The sending node.
        from: String,
        /// When the sending node started (its stream's life).
        epoch: u64,
        /// The oldest message the sender still holds for this node.
        base: u64,
        /// This message's number.
        seq: u64,
    },
}

/// What arrives on a node's own channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Direct {
    /// A message, for a player or the node's game loop.
    Message(To, RawMessage),
    /// Node `from` acknowledges this node's stream `epoch` up to `upto`; with `resend`,
    /// it asks for the rest at once.
    Ack {
        from: String,
        epoch: u64,
        upto: u64,
        resend: bool,
    },
}

const TO_CONNECTION: u8 = b'C';
const TO_NAME: u8 = b'N';
const TO_NODE: u8 = b'M';
const ACK: u8 = b'K';

/// The longest name an envelope carries (names are short; this bounds the header).
pub(crate) const MAX_NAME: usize = 255;

/// `to` and the message, for a node's own channel.
pub(crate) fn direct(to: &To, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 2 * MAX_NAME.min(64) + 26);
    match to {
        To::Connection(id) => {
            out.put_u8(TO_CONNECTION);
            out.put_u64(id.get());
        }
        To::Name(name) => {
            out.put_u8(TO_NAME);
            put_name(&mut out, name);
        }
        To::Node {
            from,
            epoch,
            base,
            seq,
        } => {
            out.put_u8(TO_NODE);
            put_name(&mut out, from);
            out.put_u64(*epoch);
            out.put_u64(*base);
            out.put_u64(*seq);
        }
    }
    out.put_slice(payload);
    out
}

fn put_name(out: &mut Vec<u8>, name: &str) {
    let name = &name.as_bytes()[..name.len().min(MAX_NAME)];
    out.put_u8(u8::try_from(name.len()).unwrap_or(u8::MAX));
    out.put_slice(name);
}

/// An acknowledgement, for the channel of the node whose stream it acknowledges.
pub(crate) fn ack(from: &str, epoch: u64, upto: u64, resend: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(from.len() + 19);
    out.put_u8(ACK);
    put_name(&mut out, from);
    out.put_u64(epoch);
    out.put_u64(upto);
    out.put_u8(u8::from(resend));
    out
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

/// A length-prefixed name, and what follows it.
fn name(data: &[u8]) -> Result<(String, &[u8]), Bad> {
    let (&len, rest) = data.split_first().ok_or(Bad::Header)?;
    let len = usize::from(len);
    if rest.len() < len {
        return Err(Bad::Header);
    }
    let (name, rest) = rest.split_at(len);
    let name = std::str::from_utf8(name).map_err(|_| Bad::Header)?;
    Ok((name.to_owned(), rest))
}

/// A big-endian u64, and what follows it.
fn number(data: &[u8]) -> Result<(u64, &[u8]), Bad> {
    if data.len() < 8 {
        return Err(Bad::Header);
    }
    let (n, rest) = data.split_at(8);
    let mut raw = [0u8; 8];
    raw.copy_from_slice(n);
    Ok((u64::from_be_bytes(raw), rest))
}

/// Reads a node's own channel's envelope.
pub(crate) fn read_direct(data: &[u8], config: &FramingConfig) -> Result<Direct, Bad> {
    let (&kind, rest) = data.split_first().ok_or(Bad::Header)?;
    match kind {
        TO_CONNECTION => {
            let (id, rest) = number(rest)?;
            let to = To::Connection(ConnectionId::from_raw(id));
            Ok(Direct::Message(to, message(rest, config)?))
        }
        TO_NAME => {
            let (name, rest) = name(rest)?;
            Ok(Direct::Message(To::Name(name), message(rest, config)?))
        }
        TO_NODE => {
            let (from, rest) = name(rest)?;
            let (epoch, rest) = number(rest)?;
            let (base, rest) = number(rest)?;
            let (seq, rest) = number(rest)?;
            let to = To::Node {
                from,
                epoch,
                base,
                seq,
            };
            Ok(Direct::Message(to, message(rest, config)?))
        }
        ACK => {
            let (from, rest) = name(rest)?;
            let (epoch, rest) = number(rest)?;
            let (upto, rest) = number(rest)?;
            match rest {
                [flag @ (0 | 1)] => Ok(Direct::Ack {
                    from,
                    epoch,
                    upto,
                    resend: *flag == 1,
                }),
                _ => Err(Bad::Header),
            }
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
        for to in [
            To::Connection(ConnectionId::from_raw(42)),
            To::Name("ada".into()),
            To::Node {
                from: "n2".into(),
                epoch: 1 << 40,
                base: 3,
                seq: 9,
            },
        ] {
            let Ok(Direct::Message(back, msg)) = read_direct(&direct(&to, &payload()), &config)
            else {
                panic!("{to:?} did not come back");
            };
            assert_eq!((back, msg.action()), (to, "hi"));
        }
        assert_eq!(
            read_direct(&ack("n3", 5, 77, true), &config),
            Ok(Direct::Ack {
                from: "n3".into(),
                epoch: 5,
                upto: 77,
                resend: true
            })
        );
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
            b"M\x01n\x00\x00\x00\x00\x00\x00\x00\x01",
            b"K\x01n\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01",
            b"K\x01n\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x02",
            b"K\x01n\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00",
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

//! The decoder of a WebSocket connection's input: raw input in, repod frames out, and
//! what else the peer said (a ping, its close, a violation) as results of their own.

use bytes::{Bytes, BytesMut};

use super::close::Violation;
use super::inbound::{Inbound, Step};

/// Raw input is read in steps of this size.
const READ_CHUNK: usize = 16 * 1024;

/// What a WebSocket peer sent besides messages.
#[derive(Debug, PartialEq, Eq)]
pub enum Signal {
    /// A ping: answer with a pong carrying this payload.
    Ping(Bytes),
    /// Its close frame, with its code if it gave one: nothing more is read, and this
    /// side's close answers with the same code.
    Closed(Option<u16>),
    /// It broke the protocol or a limit: nothing more is read, and the connection closes
    /// with the violation's code and reason.
    Violation(Violation),
}

/// The decoder of one WebSocket connection's input: what was read and not decoded yet,
/// and where the decoding stands.
#[derive(Debug)]
pub struct WsDecoder {
    /// Raw input not decoded yet.
    raw: BytesMut,
    inbound: Inbound,
    /// The peer closed or broke the protocol: nothing more is decoded.
    over: bool,
}

impl WsDecoder {
    /// A decoder for the input past the upgrade; `leftover` is what was read after the
    /// request. Messages over `max_message` bytes or in more than `max_fragments`
    /// fragments are violations.
    pub fn new(leftover: BytesMut, max_message: usize, max_fragments: usize) -> Self {
        Self {
            raw: leftover,
            inbound: Inbound::new(max_message, max_fragments),
            over: false,
        }
    }

    /// Where the next read goes, with room made for it; `None` once the peer closed or
    /// broke the protocol (reading is over).
    pub fn input(&mut self) -> Option<&mut BytesMut> {
        if self.over {
            return None;
        }
        if self.raw.capacity() - self.raw.len() < READ_CHUNK / 4 {
            self.raw.reserve(READ_CHUNK);
        }
        Some(&mut self.raw)
    }

    /// Whether input waits to be decoded.
    pub fn has_input(&self) -> bool {
        !self.over && !self.raw.is_empty()
    }

    /// Decodes the input read so far into `frames`, as repod frames, until it is all
    /// decoded (`None`) or the peer said something else, which is returned (after a
    /// ping, call again).
    pub fn decode(&mut self, frames: &mut BytesMut) -> Option<Signal> {
        if self.over {
            return None;
        }
        match self.inbound.decode(&mut self.raw, frames) {
            // `frames` grows as needed: the output is never full.
            Ok(Step::NeedInput | Step::OutputFull) => None,
            Ok(Step::Ping(payload)) => Some(Signal::Ping(payload)),
            Ok(Step::Closed(peer)) => {
                self.over = true;
                Some(Signal::Closed(peer.map(|(code, _)| code)))
            }
            Err(violation) => {
                self.over = true;
                self.raw = BytesMut::new();
                Some(Signal::Violation(violation))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame with a payload under 126 bytes.
    fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [1u8, 2, 3, 4];
        let mut out = vec![first, 0x80 | payload.len() as u8];
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    #[test]
    fn messages_pings_and_the_close_come_out_in_order() {
        let mut input = client_frame(0x82, b"one");
        input.extend(client_frame(0x89, b"hi"));
        input.extend(client_frame(0x82, b"two"));
        input.extend(client_frame(0x88, &[0x03, 0xe8]));
        input.extend(client_frame(0x82, b"after the close"));
        let mut decoder = WsDecoder::new(BytesMut::from(&input[..]), 1024, 4);
        let mut frames = BytesMut::new();
        assert_eq!(
            decoder.decode(&mut frames),
            Some(Signal::Ping(Bytes::from_static(b"hi")))
        );
        assert_eq!(&frames[..], b"\0\0\0\x03one");
        assert_eq!(
            decoder.decode(&mut frames),
            Some(Signal::Closed(Some(1000)))
        );
        assert_eq!(&frames[..], b"\0\0\0\x03one\0\0\0\x03two");
        assert_eq!(decoder.decode(&mut frames), None);
        assert!(decoder.input().is_none(), "nothing is read after the close");
    }

    #[test]
    fn a_violation_ends_the_input() {
        let mut decoder = WsDecoder::new(BytesMut::from(&client_frame(0x81, b"text")[..]), 1024, 4);
        let mut frames = BytesMut::new();
        match decoder.decode(&mut frames) {
            Some(Signal::Violation(v)) => assert_eq!(v.code.code(), 1003),
            other => panic!("expected a violation, got {other:?}"),
        }
        assert!(frames.is_empty());
        assert!(!decoder.has_input());
        assert!(decoder.input().is_none());
    }
}

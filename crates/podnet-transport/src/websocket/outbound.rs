//! Writing a WebSocket, sans IO: repod frames in, the server's WebSocket frames out.
//!
//! Each repod frame (a 4-byte length, then a message) becomes one unmasked binary
//! WebSocket message holding the message: the length moves into the WebSocket header.
//! Frames may arrive split anywhere; the encoder keeps its place. The last `podnet:close`
//! that goes through is remembered, so that the WebSocket close frame that follows can
//! repeat its reason.

use std::sync::LazyLock;

use bytes::{BufMut, BytesMut};
use podnet_framing::{FramingConfig, RawMessage};

/// WebSocket opcodes podnet writes.
pub(crate) const BINARY: u8 = 0x2;
pub(crate) const CLOSE: u8 = 0x8;
pub(crate) const PONG: u8 = 0xA;

/// How every `podnet:close` frame's message begins: a map of two entries, the action,
/// then the key of the reason (its value follows).
static CLOSE_START: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let frame = podnet_proto::close_frame("", &FramingConfig::default());
    // The frame ends with the empty reason (one byte, 0xa0).
    frame[4..frame.len().saturating_sub(1)].to_vec()
});

/// The longest `podnet:close` message (its reason is cut at 4096 bytes).
const MAX_CLOSE_MESSAGE: usize = 4096 + 64;

/// Writes the header of an unmasked, final frame of `len` bytes.
pub(crate) fn put_header(out: &mut BytesMut, opcode: u8, len: usize) {
    out.put_u8(0x80 | opcode);
    if len < 126 {
        out.put_u8(len as u8);
    } else if let Ok(len) = u16::try_from(len) {
        out.put_u8(126);
        out.put_u16(len);
    } else {
        out.put_u8(127);
        out.put_u64(len as u64);
    }
}

/// The encoder of one connection's outbound WebSocket stream.
#[derive(Debug, Default)]
pub(crate) struct Outbound {
    /// The length prefix of the next frame, as far as it arrived.
    prefix: [u8; 4],
    prefix_len: usize,
    /// Payload bytes of the current frame still to come.
    left: usize,
    /// The reason of the last `podnet:close` encoded.
    close_reason: Option<String>,
}

impl Outbound {
    /// Whether the output ends between two WebSocket frames, so that a control frame may
    /// go next.
    pub(crate) fn at_boundary(&self) -> bool {
        self.prefix_len == 0 && self.left == 0
    }

    /// The reason of the last `podnet:close` encoded, if any.
    pub(crate) fn close_reason(&self) -> Option<&str> {
        self.close_reason.as_deref()
    }

    /// Encodes all of `input` (repod frames, or pieces of them) into `out`.
    pub(crate) fn encode(&mut self, mut input: &[u8], out: &mut BytesMut) {
        while !input.is_empty() {
            if self.left > 0 {
                let n = self.left.min(input.len());
                out.extend_from_slice(&input[..n]);
                self.left -= n;
                input = &input[n..];
                continue;
            }
            let n = (4 - self.prefix_len).min(input.len());
            self.prefix[self.prefix_len..self.prefix_len + n].copy_from_slice(&input[..n]);
            self.prefix_len += n;
            input = &input[n..];
            if self.prefix_len < 4 {
                return;
            }
            self.prefix_len = 0;
            let len = u32::from_be_bytes(self.prefix) as usize;
            put_header(out, BINARY, len);
            self.left = len;
            if len <= MAX_CLOSE_MESSAGE && input.len() >= len {
                self.note_close(&input[..len]);
            }
        }
    }

    /// Remembers the reason of `message` if it is a `podnet:close`.
    fn note_close(&mut self, message: &[u8]) {
        if !message.starts_with(&CLOSE_START) {
            return;
        }
        let config = FramingConfig::default();
        let reason = RawMessage::parse(bytes::Bytes::copy_from_slice(message), &config)
            .ok()
            .and_then(|msg| msg.to_value().ok())
            .and_then(|value| value["reason"].as_str().map(str::to_owned));
        self.close_reason = reason;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use tungstenite::protocol::frame::FrameHeader;
    use tungstenite::protocol::frame::coding::{Data, OpCode};

    fn repod(payload: &[u8]) -> Vec<u8> {
        let mut out = (payload.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(payload);
        out
    }

    /// Reads back the messages with tungstenite's parser.
    fn messages(mut bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut messages = Vec::new();
        while !bytes.is_empty() {
            let mut cursor = Cursor::new(bytes);
            let (header, len) = FrameHeader::parse(&mut cursor).unwrap().unwrap();
            assert!(header.is_final && header.mask.is_none());
            assert_eq!(header.opcode, OpCode::Data(Data::Binary));
            let start = cursor.position() as usize;
            messages.push(bytes[start..start + len as usize].to_vec());
            bytes = &bytes[start + len as usize..];
        }
        messages
    }

    #[test]
    fn frames_split_anywhere_become_the_same_messages() {
        let sizes = [0usize, 5, 125, 126, 300, 65_535, 65_536, 70_000];
        let payloads: Vec<Vec<u8>> = sizes.iter().map(|&n| vec![n as u8; n]).collect();
        let input: Vec<u8> = payloads.iter().flat_map(|p| repod(p)).collect();
        for step in [1, 3, 4, 7, 1000, input.len()] {
            let mut encoder = Outbound::default();
            let mut out = BytesMut::new();
            for piece in input.chunks(step) {
                encoder.encode(piece, &mut out);
            }
            assert!(encoder.at_boundary());
            assert_eq!(messages(&out), payloads, "in pieces of {step}");
        }
    }

    #[test]
    fn a_close_reason_is_remembered() {
        let mut encoder = Outbound::default();
        let mut out = BytesMut::new();
        encoder.encode(&repod(b"\x81\xa6action\xa4move"), &mut out);
        assert_eq!(encoder.close_reason(), None);
        let close = podnet_proto::close_frame("game over", &FramingConfig::default());
        encoder.encode(&close, &mut out);
        assert_eq!(encoder.close_reason(), Some("game over"));
    }
}

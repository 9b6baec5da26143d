//! The server's WebSocket frames, built when a message is queued: a repod frame (a 4-byte
//! length, then the message) goes out as a small header and the message itself, a slice
//! of the very bytes every TCP peer gets. So a broadcast is encoded once for TCP and
//! WebSocket peers alike, and the header of a message under 126 bytes comes from a
//! static table: nothing is allocated or copied per WebSocket peer.

use std::sync::LazyLock;

use bytes::{BufMut, Bytes, BytesMut};

use super::close::close_payload;

/// WebSocket opcodes podnet writes.
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PONG: u8 = 0xA;

/// The headers of final, unmasked binary frames of 0 to 125 bytes, back to back.
static SMALL_HEADERS: LazyLock<Bytes> = LazyLock::new(|| {
    let mut all = BytesMut::with_capacity(2 * 126);
    for len in 0..126u8 {
        all.put_u8(0x80 | BINARY);
        all.put_u8(len);
    }
    all.freeze()
});

/// Writes the header of an unmasked, final frame of `len` bytes.
fn put_header(out: &mut BytesMut, opcode: u8, len: usize) {
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

/// A repod frame as a binary WebSocket message: (its header, its message).
pub fn message(frame: &Bytes) -> (Bytes, Bytes) {
    let body = frame.slice(4.min(frame.len())..);
    let header = if body.len() < 126 {
        SMALL_HEADERS.slice(2 * body.len()..2 * body.len() + 2)
    } else {
        let mut header = BytesMut::with_capacity(10);
        put_header(&mut header, BINARY, body.len());
        header.freeze()
    };
    (header, body)
}

/// What ends a WebSocket connection from this side: `podnet:close` (a repod frame, empty
/// when there is none to send) as a binary message, then the close frame with `code` and
/// `reason`.
pub fn closing(podnet_close: &Bytes, code: u16, reason: &str) -> Bytes {
    let mut out = BytesMut::new();
    if podnet_close.len() > 4 {
        let (header, body) = message(podnet_close);
        out.extend_from_slice(&header);
        out.extend_from_slice(&body);
    }
    let payload = close_payload(code, reason);
    put_header(&mut out, CLOSE, payload.len());
    out.extend_from_slice(&payload);
    out.freeze()
}

/// The answer to a ping carrying `payload` (at most 125 bytes, as the decoder checks).
pub fn pong(payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(2 + payload.len());
    put_header(&mut out, PONG, payload.len());
    out.extend_from_slice(payload);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repod(body: &[u8]) -> Bytes {
        let mut frame = u32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
        frame.extend_from_slice(body);
        Bytes::from(frame)
    }

    /// Each size class gets the header RFC 6455 gives it; the message is not copied.
    #[test]
    fn messages_get_the_right_header_and_share_the_frame() {
        for (len, header) in [
            (0, vec![0x82, 0]),
            (125, vec![0x82, 125]),
            (126, vec![0x82, 126, 0, 126]),
            (65_535, vec![0x82, 126, 0xff, 0xff]),
            (65_536, vec![0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
        ] {
            let frame = repod(&vec![7u8; len]);
            let (got, body) = message(&frame);
            assert_eq!(&got[..], &header[..], "{len}");
            assert_eq!(body.len(), len);
            assert_eq!(body.as_ptr(), frame[4..].as_ptr(), "a slice, not a copy");
        }
    }

    /// The close goes after the `podnet:close` message, with the code and reason.
    #[test]
    fn closing_sends_the_message_then_the_close_frame() {
        let close = crate::Frame::encode_own(
            "podnet:close",
            &std::collections::BTreeMap::from([("reason", "game over")]),
            &crate::FramingConfig::default(),
        )
        .unwrap()
        .into_bytes();
        let bytes = closing(&close, 1000, "game over");
        let body = &close[4..];
        assert_eq!(bytes[0], 0x82);
        assert_eq!(usize::from(bytes[1]), body.len());
        assert_eq!(&bytes[2..2 + body.len()], body);
        let rest = &bytes[2 + body.len()..];
        assert_eq!(rest[..4], [0x88, 11, 0x03, 0xe8]);
        assert_eq!(&rest[4..], b"game over");
        assert_eq!(
            &closing(&Bytes::new(), 1002, "")[..],
            &[0x88, 2, 0x03, 0xea]
        );
    }

    #[test]
    fn pongs_carry_the_ping_payload() {
        assert_eq!(&pong(b"hi")[..], &[0x8a, 2, b'h', b'i']);
    }
}

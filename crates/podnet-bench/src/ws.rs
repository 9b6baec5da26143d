//! Just enough of a WebSocket client for the load generator: the upgrade, masked binary
//! frames out, binary frames in. Written by hand so that the client costs as little as the
//! plain TCP one and only the server differs between the TCP and WebSocket rows.

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The mask every frame from this client carries (clients must mask; the server unmasks
/// every byte whatever the key).
const MASK: [u8; 4] = [0x5a, 0x13, 0xc7, 0x2e];

/// Upgrades `stream` to a WebSocket at `/`; returns what the server sent after its answer.
///
/// # Errors
///
/// The server's answer, when it is not `101 Switching Protocols`.
pub async fn upgrade(stream: &mut TcpStream, host: &str) -> Result<BytesMut> {
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = buf.split_to(end + 4);
            if !head.starts_with(b"HTTP/1.1 101") {
                return Err(format!(
                    "the server refused the upgrade: {}",
                    String::from_utf8_lossy(&head)
                )
                .into());
            }
            return Ok(buf);
        }
        if buf.len() > 16 * 1024 || stream.read_buf(&mut buf).await? == 0 {
            return Err("no answer to the upgrade".into());
        }
    }
}

/// A repod frame (4-byte length, then the payload) as a masked binary WebSocket frame.
pub fn masked(frame: &[u8]) -> Vec<u8> {
    let payload = &frame[4..];
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(0x82);
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&MASK);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    out
}

/// Cuts the next binary message off `buf` (server frames are not masked); control frames
/// are skipped. `None` until a whole frame is there.
///
/// # Errors
///
/// A fragmented message or a masked frame: this client does not expect them.
pub fn next_message(buf: &mut BytesMut) -> Result<Option<Bytes>> {
    loop {
        if buf.len() < 2 {
            return Ok(None);
        }
        let (fin, opcode, masked, short) = (
            buf[0] & 0x80 != 0,
            buf[0] & 0x0f,
            buf[1] & 0x80 != 0,
            buf[1] & 0x7f,
        );
        if masked {
            return Err("a masked frame from the server".into());
        }
        let (len, header) = match short {
            126 if buf.len() >= 4 => (usize::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
            127 if buf.len() >= 10 => {
                let mut n = [0u8; 8];
                n.copy_from_slice(&buf[2..10]);
                (usize::try_from(u64::from_be_bytes(n))?, 10)
            }
            126 | 127 => return Ok(None),
            n => (usize::from(n), 2),
        };
        if buf.len() < header + len {
            buf.reserve(header + len - buf.len());
            return Ok(None);
        }
        buf.advance(header);
        let payload = buf.split_to(len).freeze();
        match opcode {
            0x2 if fin => return Ok(Some(payload)),
            0x8 => return Err("the server closed the WebSocket".into()),
            0x9 | 0xa => {}
            other => return Err(format!("unexpected frame: opcode {other}, fin {fin}").into()),
        }
    }
}

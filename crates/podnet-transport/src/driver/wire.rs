//! How a connection's bytes carry repod frames, chosen when it opens: as they are (TCP,
//! and TCP in TLS), or as WebSocket messages that are decoded into the same frames. The
//! reader is the same for both; this is the one place it asks which.

use std::io;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::websocket::{Signal, WsDecoder};

/// The wire a connection speaks.
#[derive(Debug)]
pub(crate) enum Wire {
    /// repod's framing, straight on the stream.
    Repod,
    /// WebSocket: each binary message is one frame.
    WebSocket(Box<WsDecoder>),
}

impl Wire {
    /// Reads once from `reader`: straight into `frames` (repod framing), or as raw input
    /// for [`decode`](Self::decode) (WebSocket). `Ok(0)` is the end of the stream, and so
    /// is anything after a WebSocket peer's close or violation.
    pub(crate) async fn read<R>(
        &mut self,
        reader: &mut R,
        frames: &mut BytesMut,
    ) -> io::Result<usize>
    where
        R: AsyncRead + Unpin,
    {
        match self {
            Wire::Repod => reader.read_buf(frames).await,
            Wire::WebSocket(decoder) => match decoder.input() {
                Some(raw) => reader.read_buf(raw).await,
                None => Ok(0),
            },
        }
    }

    /// Decodes what was read into `frames`; returns what stopped it that is not a frame
    /// (after a ping, call again). Nothing to do for repod framing.
    pub(crate) fn decode(&mut self, frames: &mut BytesMut) -> Option<Signal> {
        match self {
            Wire::Repod => None,
            Wire::WebSocket(decoder) => decoder.decode(frames),
        }
    }

    /// Whether input read already waits to be decoded (what followed a WebSocket
    /// upgrade request in the same read).
    pub(crate) fn has_input(&self) -> bool {
        match self {
            Wire::Repod => false,
            Wire::WebSocket(decoder) => decoder.has_input(),
        }
    }
}

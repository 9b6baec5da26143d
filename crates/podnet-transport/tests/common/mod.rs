//! Helpers for the transport's integration tests: waiting on events with a timeout, and a
//! raw peer that speaks bare frames the way a repod peer does.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use podnet_framing::{FrameCodec, FramingConfig, RawMessage, encode_with_action};
use podnet_transport::{ClientEvent, EventStream, ServerEvent};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Decoder;

/// How long any single expected event may take. Generous: it bounds a failing test, it
/// does not measure speed.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// Logs to the test output when `RUST_LOG` is set.
pub(crate) fn trace() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

pub(crate) async fn next_server_event(events: &mut EventStream<ServerEvent>) -> ServerEvent {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("a server event within the timeout")
        .expect("the server's event stream is open")
}

pub(crate) async fn next_client_event(events: &mut EventStream<ClientEvent>) -> ClientEvent {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("a client event within the timeout")
        .expect("the client's event stream is open")
}

/// Waits for the next client message, skipping SocketConnect and Handshake.
pub(crate) async fn next_client_message(events: &mut EventStream<ClientEvent>) -> RawMessage {
    loop {
        match next_client_event(events).await {
            ClientEvent::Message(msg) => return msg.into_inner(),
            ClientEvent::SocketConnect { .. } | ClientEvent::Handshake(_) => {}
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Eq, Clone, Copy)]
pub(crate) struct Say {
    pub(crate) from: u32,
    pub(crate) seq: u32,
}
impl podnet_framing::Message for Say {
    const ACTION: &'static str = "say";
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Eq, Clone, Copy)]
pub(crate) struct Echo {
    pub(crate) n: u64,
}
impl podnet_framing::Message for Echo {
    const ACTION: &'static str = "echo";
}

/// A peer speaking bare frames over a plain socket, as a repod peer does: no hello, no
/// pongs, nothing podnet-specific unless a test sends it.
pub(crate) struct RawPeer {
    pub(crate) stream: TcpStream,
    codec: FrameCodec,
    buf: BytesMut,
    config: FramingConfig,
}

impl RawPeer {
    pub(crate) async fn connect(addr: SocketAddr) -> Self {
        Self::from_stream(TcpStream::connect(addr).await.unwrap())
    }

    /// A peer on a stream connected some other way.
    pub(crate) fn from_stream(stream: TcpStream) -> Self {
        stream.set_nodelay(true).unwrap();
        let config = FramingConfig::default().with_max_frame_length(64 * 1024 * 1024);
        Self {
            stream,
            codec: FrameCodec::new(&config),
            buf: BytesMut::new(),
            config,
        }
    }

    pub(crate) async fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    pub(crate) async fn send<T: Serialize>(&mut self, action: &str, msg: &T) {
        let mut frame = BytesMut::new();
        encode_with_action(action, msg, &mut frame, &self.config).unwrap();
        self.send_bytes(&frame).await;
    }

    /// Sends a frame with this raw payload.
    pub(crate) async fn send_payload(&mut self, payload: &[u8]) {
        let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(payload);
        self.send_bytes(&frame).await;
    }

    /// The next message, or `None` at end of stream.
    pub(crate) async fn recv(&mut self) -> Option<RawMessage> {
        tokio::time::timeout(WAIT, async {
            loop {
                if let Some(payload) = self.codec.decode(&mut self.buf).unwrap() {
                    return Some(RawMessage::parse(payload, &self.config).unwrap());
                }
                if self.stream.read_buf(&mut self.buf).await.unwrap_or(0) == 0 {
                    return None;
                }
            }
        })
        .await
        .expect("a message or end of stream within the timeout")
    }

    /// The greeting a silent repod peer gets once `hello_wait` has run out: the hello that
    /// says it was settled as `classic` for its silence, then `connected` (returned).
    pub(crate) async fn recv_greeting(&mut self) -> Option<RawMessage> {
        let told = self.recv().await?;
        assert_eq!(told.action(), "podnet:hello", "told it was silent first");
        let value = told.to_value().unwrap();
        assert_eq!(value["silent"], podnet_framing::Value::from(true));
        self.recv().await
    }

    /// The next message that is not the greeting (`connected`, and the hello that tells a
    /// silent peer it was settled as `classic`, which a repod client ignores).
    pub(crate) async fn recv_skipping_connected(&mut self) -> Option<RawMessage> {
        loop {
            match self.recv().await {
                Some(msg) if matches!(msg.action(), "connected" | "podnet:hello") => continue,
                other => return other,
            }
        }
    }

    /// Everything until the server closes the connection.
    pub(crate) async fn recv_until_eof(&mut self) -> Vec<RawMessage> {
        let mut all = Vec::new();
        while let Some(msg) = self.recv().await {
            all.push(msg);
        }
        all
    }
}

/// `reason` of a podnet:close message.
pub(crate) fn close_reason(msg: &RawMessage) -> Option<String> {
    (msg.action() == "podnet:close")
        .then(|| {
            msg.to_value().unwrap()["reason"]
                .as_str()
                .map(str::to_owned)
        })
        .flatten()
}

/// A WebSocket upgrade done by hand on a new connection to `addr`, so that a test can
/// send frames a real client never would: the stream, past the server's `101`.
pub(crate) async fn raw_upgrade(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .await
        .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        tokio::time::timeout(WAIT, stream.read_exact(&mut byte))
            .await
            .unwrap()
            .unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
    stream
}

//! `podnet connect ws://...`: a WebSocket connection to a podnet server (or any server
//! speaking repod's messages over WebSocket, one msgpack map per binary message), as the
//! TypeScript client makes one: it says `podnet:hello` (unless `--no-hello`), answers the
//! server's pings, and closes with a reason. No resume over WebSocket here. wss:// runs
//! over podnet's TLS client (`--ca`).

use futures_util::{SinkExt, StreamExt};
use podnet_framing::{FramingConfig, RawMessage, Value, encode_value};
use podnet_transport::ClientTls;
use podnet_transport::{DisconnectReason, PROTOCOL_VERSION};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_util::either::Either;

use crate::connect::{Incoming, Link};
use crate::error::CliError;

/// What the connection's task is asked to do.
enum Command {
    Send(Value),
    Close(String),
}

/// A WebSocket connection, served by a task of its own.
pub(crate) struct WsLink {
    commands: mpsc::UnboundedSender<Command>,
    framing: FramingConfig,
}

impl Link for WsLink {
    fn send_value(&self, value: &Value) -> Result<(), String> {
        // Checked here, so that a line that does not encode is reported by its number.
        let mut buf = bytes::BytesMut::new();
        encode_value(value, &mut buf, &self.framing).map_err(|e| e.to_string())?;
        self.commands
            .send(Command::Send(value.clone()))
            .map_err(|_| "not connected".to_owned())
    }

    fn close(&self, reason: &str) {
        let _ = self.commands.send(Command::Close(reason.to_owned()));
    }
}

/// Connects to `url` (`ws://HOST:PORT/...`); returns the link and what arrives on it.
pub(crate) async fn connect(
    url: &str,
    hello: bool,
    timeout: std::time::Duration,
    tls: Option<&ClientTls>,
) -> Result<(WsLink, mpsc::UnboundedReceiver<Incoming>), CliError> {
    let secure = url.starts_with("wss://");
    let tls = match (secure, tls) {
        (true, Some(tls)) => Some(tls),
        (true, None) => {
            return Err(CliError::Usage(
                "wss:// needs --ca ROOTS.pem: the certificate authority that signed the \
                 server's certificate (or the certificate itself)"
                    .into(),
            ));
        }
        (false, Some(_)) => {
            return Err(CliError::Usage(
                "--ca is for wss:// (or TCP); this URL is ws://".into(),
            ));
        }
        (false, None) => None,
    };
    let connecting = async {
        let host = crate::connect::host_of(url);
        let port = url
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|authority| authority.rsplit_once(':'))
            .map(|(_, port)| port.to_owned())
            .unwrap_or_else(|| (if secure { "443" } else { "80" }).to_owned());
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        };
        let tcp = TcpStream::connect(format!("{host}:{port}"))
            .await
            .map_err(|e| CliError::Usage(format!("could not connect to {url}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let stream = match tls {
            Some(tls) => Either::Right(tls.handshake(tcp).await.map_err(|e| {
                CliError::Usage(format!("the TLS handshake with {url} failed: {e}"))
            })?),
            None => Either::Left(tcp),
        };
        tokio_tungstenite::client_async(url, stream)
            .await
            .map_err(|e| CliError::Usage(format!("could not open a WebSocket at {url}: {e}")))
    };
    let (mut ws, _) = tokio::time::timeout(timeout, connecting)
        .await
        .map_err(|_| CliError::Usage(format!("could not connect to {url} within {timeout:?}")))??;
    let framing = FramingConfig::default();
    if hello {
        let hello = control(
            "podnet:hello",
            &[
                ("protocol", PROTOCOL_VERSION.into()),
                ("type", "classic".into()),
            ],
        );
        ws.send(binary(&hello, &framing)?).await.map_err(ws_error)?;
    }
    let (commands, mut asked) = mpsc::unbounded_channel();
    let (incoming, events) = mpsc::unbounded_channel();
    let task_framing = framing.clone();
    tokio::spawn(async move {
        let framing = task_framing;
        let mut podnet = false;
        let mut server_reason: Option<String> = None;
        let mut own_reason: Option<String> = None;
        let reason = loop {
            tokio::select! {
                command = asked.recv(), if own_reason.is_none() => match command {
                    Some(Command::Send(value)) => {
                        let Ok(message) = binary(&value, &framing) else { continue };
                        if let Err(err) = ws.send(message).await {
                            break DisconnectReason::Io { error: err.to_string() };
                        }
                    }
                    close @ (Some(Command::Close(_)) | None) => {
                        let reason = match close {
                            Some(Command::Close(reason)) => own_or_default(reason),
                            _ => "closed".to_owned(),
                        };
                        if podnet {
                            let close = control("podnet:close", &[("reason", reason.as_str().into())]);
                            if let Ok(message) = binary(&close, &framing) {
                                let _ = ws.send(message).await;
                            }
                        }
                        let frame = CloseFrame { code: CloseCode::Normal, reason: truncate(&reason, 123).into() };
                        let _ = ws.close(Some(frame)).await;
                        own_reason = Some(reason);
                    }
                },
                message = ws.next() => match message {
                    Some(Ok(WsMessage::Binary(payload))) => {
                        let message = match RawMessage::parse(payload, &framing) {
                            Ok(message) => message,
                            Err(err) => {
                                let _ = incoming.send(Incoming::NotAMessage(err.to_string()));
                                continue;
                            }
                        };
                        match message.action() {
                            // A repod client (`--no-hello`) takes no notice.
                            "podnet:hello" => podnet = hello,
                            "podnet:ping" => {
                                let seq = message.to_value().map(|v| v["seq"].clone()).unwrap_or(Value::Nil);
                                let pong = control("podnet:pong", &[("seq", seq)]);
                                if let Ok(message) = binary(&pong, &framing) {
                                    let _ = ws.send(message).await;
                                }
                            }
                            "podnet:close" => {
                                server_reason = message
                                    .to_value()
                                    .ok()
                                    .and_then(|v| v["reason"].as_str().map(str::to_owned));
                            }
                            action if action.starts_with("podnet:") => {}
                            _ => {
                                let _ = incoming.send(Incoming::Message(message));
                            }
                        }
                    }
                    Some(Ok(WsMessage::Text(_))) => {
                        let _ = incoming.send(Incoming::NotAMessage(
                            "a text message (repod's messages are binary)".into(),
                        ));
                    }
                    Some(Ok(WsMessage::Close(frame))) => {
                        break match own_reason.take() {
                            Some(reason) => DisconnectReason::Closed { reason },
                            None => DisconnectReason::PeerClosed {
                                reason: server_reason.take().or_else(|| {
                                    frame.map(|f| f.reason.to_string()).filter(|r| !r.is_empty())
                                }),
                            },
                        };
                    }
                    Some(Ok(_)) => {}
                    Some(Err(err)) => break match own_reason.take() {
                        Some(reason) => DisconnectReason::Closed { reason },
                        None => DisconnectReason::Io { error: err.to_string() },
                    },
                    None => break match own_reason.take() {
                        Some(reason) => DisconnectReason::Closed { reason },
                        None => DisconnectReason::PeerClosed { reason: server_reason.take() },
                    },
                },
            }
        };
        let _ = incoming.send(Incoming::Ended(reason));
    });
    Ok((WsLink { commands, framing }, events))
}

fn own_or_default(reason: String) -> String {
    if reason.trim().is_empty() {
        "closed".into()
    } else {
        reason
    }
}

/// `{"action": action, ...fields}`.
fn control(action: &str, fields: &[(&str, Value)]) -> Value {
    let mut map = vec![(Value::from("action"), Value::from(action))];
    map.extend(fields.iter().map(|(k, v)| (Value::from(*k), v.clone())));
    Value::Map(map)
}

/// `value` as one binary WebSocket message: the msgpack map, without repod's 4-byte length.
fn binary(value: &Value, framing: &FramingConfig) -> Result<WsMessage, CliError> {
    let mut buf = bytes::BytesMut::new();
    encode_value(value, &mut buf, framing)?;
    Ok(WsMessage::Binary(buf.freeze().slice(4..)))
}

fn ws_error(err: tokio_tungstenite::tungstenite::Error) -> CliError {
    CliError::Usage(format!("the WebSocket connection failed: {err}"))
}

/// At most `max` bytes of `s`, cut at a character boundary (a close frame's reason is at
/// most 123 bytes).
fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

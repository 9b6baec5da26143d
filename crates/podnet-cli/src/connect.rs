//! `podnet connect`: JSON lines in, JSON lines out.

use std::io::Write;
use std::time::Duration;

use podnet_framing::{RawMessage, Value};
use podnet_transport::{Client, ClientConfig, ClientEvent, DisconnectReason, Frame};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::error::CliError;
use crate::json;

/// When `connect` ends by itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct End {
    /// Once stdin has ended: after the server has been quiet this long.
    pub(crate) linger: Duration,
    /// After this long in all (`--seconds`).
    pub(crate) after: Option<Duration>,
    /// After printing this many messages (`--count`).
    pub(crate) count: Option<u64>,
}

/// What arrives on a connection, whatever it runs over.
pub(crate) enum Incoming {
    /// An application message.
    Message(RawMessage),
    /// A frame that is not a message, and why.
    NotAMessage(String),
    /// Something to tell the user on stderr (a reconnection, a resume).
    Note(String),
    /// The connection ended, for this reason.
    Ended(DisconnectReason),
}

/// A connection `connect` sends on: TCP through podnet's client, or a WebSocket.
pub(crate) trait Link {
    /// Sends one message, or says why it cannot.
    fn send_value(&self, value: &Value) -> Result<(), String>;
    /// Closes gracefully with `reason`, after what was sent.
    fn close(&self, reason: &str);
}

impl Link for Client {
    fn send_value(&self, value: &Value) -> Result<(), String> {
        let frame = Frame::from_value(value, self.framing()).map_err(|e| e.to_string())?;
        self.send(&frame).map_err(|e| e.to_string())
    }

    fn close(&self, reason: &str) {
        Client::close(self, reason);
    }
}

/// Connects to `addr` (HOST:PORT over TCP, or a `ws://` URL), then prints each incoming
/// message as a line of JSON on stdout and sends each line of stdin as a message. A line
/// that is not a message is reported on stderr with its number and skipped. At the end of
/// stdin the connection is closed after what was sent is delivered.
/// At the end of stdin, messages are still printed until the server has been quiet for
/// `end.linger`, since replies to the last lines may still be on their way; `end.after`
/// and `end.count` close it sooner. A reader of stdout that goes away (`| head`) closes
/// it too, quietly.
/// Over TCP with `config.resume` (the default), a dropped connection to a podnet server is
/// reconnected and the session resumed, said on stderr; lines typed meanwhile are kept and
/// sent once it resumes.
pub(crate) async fn run(addr: &str, config: ClientConfig, end: End) -> Result<(), CliError> {
    if addr.starts_with("ws://") || addr.starts_with("wss://") {
        let (link, events) = crate::websocket::connect(
            addr,
            config.hello,
            config.connect_timeout,
            config.tls.as_ref(),
        )
        .await?;
        say_connected(addr);
        return serve(&link, events, end).await;
    }
    let (client, mut events) = Client::connect(addr, config).await?;
    say_connected(&client.peer_addr().to_string());
    let (incoming, received) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            let item = match event {
                ClientEvent::Message(msg) => Incoming::Message(msg.into_inner()),
                ClientEvent::Error(err) => Incoming::NotAMessage(err.to_string()),
                ClientEvent::Reconnecting { attempt, reason } => Incoming::Note(format!(
                    "connection lost ({reason}); reconnecting, attempt {attempt}"
                )),
                ClientEvent::Resumed => {
                    Incoming::Note("reconnected; the session resumed, nothing lost".into())
                }
                ClientEvent::Disconnected(reason) => Incoming::Ended(reason),
                _ => continue,
            };
            if incoming.send(item).is_err() {
                break;
            }
        }
    });
    serve(&client, received, end).await
}

fn say_connected(to: &str) {
    eprintln!(
        "podnet: connected to {to}; type messages as JSON, one per line, e.g. \
         {{\"action\": \"chat\", \"text\": \"hi\"}}; Ctrl-D to end"
    );
}

/// The JSON lines both ways over `link`, until it ends.
async fn serve(
    link: &impl Link,
    mut events: tokio::sync::mpsc::UnboundedReceiver<Incoming>,
    end: End,
) -> Result<(), CliError> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut line_no: u64 = 0;
    let mut printed: u64 = 0;
    let mut stdin_open = true;
    let mut closing = false;
    let mut quiet_since: Option<tokio::time::Instant> = None;
    let deadline = end.after.map(|after| tokio::time::Instant::now() + after);
    loop {
        let close_at = quiet_since.map(|since| since + end.linger);
        tokio::select! {
            () = sleep_until(close_at) => {
                quiet_since = None;
                link.close("end of input");
            }
            () = sleep_until(deadline), if !closing => {
                closing = true;
                link.close("time is up");
            }
            line = lines.next_line(), if stdin_open => match line? {
                Some(line) => {
                    line_no += 1;
                    if !line.trim().is_empty() {
                        send_line(link, &line, line_no);
                    }
                }
                None => {
                    stdin_open = false;
                    quiet_since = Some(tokio::time::Instant::now());
                }
            },
            event = events.recv() => match event {
                Some(Incoming::Message(msg)) => {
                    if quiet_since.is_some() {
                        quiet_since = Some(tokio::time::Instant::now());
                    }
                    if closing {
                        continue;
                    }
                    let line = match msg.to_value() {
                        Ok(value) => json::to_line(&value),
                        Err(err) => format!("{{\"$error\": {:?}}}", err.to_string()),
                    };
                    let mut out = std::io::stdout().lock();
                    match writeln!(out, "{line}").and_then(|()| out.flush()) {
                        Ok(()) => {}
                        // Whoever read stdout has gone (`| head`): end quietly.
                        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => {
                            closing = true;
                            link.close("the output was closed");
                            continue;
                        }
                        Err(err) => return Err(err.into()),
                    }
                    printed += 1;
                    if end.count.is_some_and(|count| printed >= count) {
                        closing = true;
                        link.close("printed what was asked");
                    }
                }
                Some(Incoming::NotAMessage(err)) => {
                    eprintln!("podnet: the server sent something that is not a message: {err}");
                }
                Some(Incoming::Note(note)) => eprintln!("podnet: {note}"),
                Some(Incoming::Ended(reason)) => return ended(reason),
                None => return Ok(()),
            },
        }
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Sends one line, or says on stderr why it cannot.
fn send_line(link: &impl Link, line: &str, line_no: u64) {
    if let Err(why) = json::from_line(line).and_then(|value| link.send_value(&value)) {
        eprintln!("podnet: line {line_no} not sent: {why}");
    }
}

/// A close by either side is the normal end, said once on stderr; anything else is an
/// error, which `main` reports (once).
fn ended(reason: DisconnectReason) -> Result<(), CliError> {
    match reason {
        DisconnectReason::Closed { .. } | DisconnectReason::PeerClosed { .. } => {
            eprintln!("podnet: disconnected: {reason}");
            Ok(())
        }
        other => Err(CliError::Closed {
            reason: other.to_string(),
        }),
    }
}

/// The host of `addr` (`HOST:PORT`, `[V6]:PORT`, or a ws:// or wss:// URL), the name a
/// server's certificate is checked against by default.
pub(crate) fn host_of(addr: &str) -> String {
    let rest = addr
        .strip_prefix("wss://")
        .or_else(|| addr.strip_prefix("ws://"))
        .unwrap_or(addr);
    let authority = rest.split('/').next().unwrap_or(rest);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6).to_owned();
    }
    match authority.rsplit_once(':') {
        Some((host, _)) => host.to_owned(),
        None => authority.to_owned(),
    }
}

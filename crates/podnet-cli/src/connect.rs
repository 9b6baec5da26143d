//! `podnet connect`: JSON lines in, JSON lines out.

use std::io::Write;
use std::time::Duration;

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

/// Connects to `addr`, then prints each incoming message as a line of JSON on stdout and
/// sends each line of stdin as a message. A line that is not a message is reported on
/// stderr with its number and skipped. At the end of stdin the connection is closed after
/// what was sent is delivered.
/// At the end of stdin, messages are still printed until the server has been quiet for
/// `end.linger`, since replies to the last lines may still be on their way; `end.after`
/// and `end.count` close it sooner. A reader of stdout that goes away (`| head`) closes
/// it too, quietly.
/// With `config.resume` (the default), a dropped connection to a podnet server is
/// reconnected and the session resumed, said on stderr; lines typed meanwhile are kept and
/// sent once it resumes.
pub(crate) async fn run(addr: &str, config: ClientConfig, end: End) -> Result<(), CliError> {
    let (client, mut events) = Client::connect(addr, config).await?;
    eprintln!(
        "podnet: connected to {}; type messages as JSON, one per line, e.g. \
         {{\"action\": \"chat\", \"text\": \"hi\"}}; Ctrl-D to end",
        client.peer_addr()
    );
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
                client.close("end of input");
            }
            () = sleep_until(deadline), if !closing => {
                closing = true;
                client.close("time is up");
            }
            line = lines.next_line(), if stdin_open => match line? {
                Some(line) => {
                    line_no += 1;
                    if !line.trim().is_empty() {
                        send_line(&client, &line, line_no);
                    }
                }
                None => {
                    stdin_open = false;
                    quiet_since = Some(tokio::time::Instant::now());
                }
            },
            event = events.recv() => match event {
                Some(ClientEvent::Message(msg)) => {
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
                            client.close("the output was closed");
                            continue;
                        }
                        Err(err) => return Err(err.into()),
                    }
                    printed += 1;
                    if end.count.is_some_and(|count| printed >= count) {
                        closing = true;
                        client.close("printed what was asked");
                    }
                }
                Some(ClientEvent::Error(err)) => {
                    eprintln!("podnet: the server sent something that is not a message: {err}");
                }
                Some(ClientEvent::Reconnecting { attempt, reason }) => {
                    eprintln!("podnet: connection lost ({reason}); reconnecting, attempt {attempt}");
                }
                Some(ClientEvent::Resumed) => {
                    eprintln!("podnet: reconnected; the session resumed, nothing lost");
                }
                Some(ClientEvent::Disconnected(reason)) => return ended(reason),
                Some(_) => {}
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
fn send_line(client: &Client, line: &str, line_no: u64) {
    let sent = json::from_line(line).and_then(|value| {
        let frame = Frame::from_value(&value, client.framing()).map_err(|e| e.to_string())?;
        client.send(&frame).map_err(|e| e.to_string())
    });
    if let Err(why) = sent {
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

//! `podnet serve`: servers for testing clients.

use std::io::Write;
use std::time::Duration;

use podnet_framing::Value;
use podnet_transport::{Frame, Server, ServerConfig, ServerEvent};

use crate::error::CliError;
use crate::json;

/// What the server does with each message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Back to the sender.
    Echo,
    /// To every other client.
    Relay,
    /// The bench protocol (docs/performance.md): `ping` echoed, `move` counted, `report`
    /// answered with the count, `broadcast` sent to everyone.
    Bench,
}

/// Serves on `host:port` until Ctrl-C, printing `listening on ADDR` first, then one line
/// per connection, message (not in bench mode) and disconnect.
pub(crate) async fn run(
    host: &str,
    port: u16,
    mode: Mode,
    config: ServerConfig,
) -> Result<(), CliError> {
    let (server, mut events) = Server::bind((host, port), config).await?;
    say(format_args!(
        "listening on {} ({mode:?})",
        server.local_addr()
    ))?;
    let mut moves: u64 = 0;
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        let event = tokio::select! {
            _ = &mut ctrl_c => break,
            event = events.recv() => match event {
                Some(event) => event,
                None => break,
            },
        };
        match event {
            ServerEvent::Connected {
                id,
                peer,
                handshake,
            } => {
                let who = if handshake.is_podnet() {
                    "podnet"
                } else {
                    "repod"
                };
                say(format_args!(
                    "[{id}] connected from {peer} ({who}, {})",
                    handshake.connection_type
                ))?
            }
            ServerEvent::Message { id, message } => {
                if mode != Mode::Bench {
                    let line = message
                        .to_value()
                        .map(|v| json::to_line(&v))
                        .unwrap_or_default();
                    say(format_args!("[{id}] {line}"))?;
                }
                if mode != Mode::Bench && message.action() == "close-me" {
                    let value = message.to_value().unwrap_or(Value::Nil);
                    let reason = value["reason"].as_str().unwrap_or("you asked");
                    let _ = server.close(id, reason);
                    continue;
                }
                let frame = Frame::from_message(&message)?;
                match (mode, message.action()) {
                    (Mode::Echo, _) | (Mode::Bench, "ping") => {
                        let _ = server.send(id, &frame);
                    }
                    (Mode::Relay, _) => {
                        for other in server.connection_ids().into_iter().filter(|o| *o != id) {
                            let _ = server.send(other, &frame);
                        }
                    }
                    (Mode::Bench, "move") => moves += 1,
                    (Mode::Bench, "report") => {
                        let report = Value::Map(vec![
                            (Value::from("action"), Value::from("report")),
                            (Value::from("moves"), Value::from(moves)),
                        ]);
                        let _ = server.send(id, &Frame::from_value(&report, server.framing())?);
                    }
                    (Mode::Bench, "broadcast") => {
                        // An encoded frame: nothing to fail.
                        let _ = server.send_to_all(&frame);
                    }
                    (Mode::Bench, _) => {}
                }
            }
            ServerEvent::Error { id, error } => say(format_args!("[{id}] bad input: {error}"))?,
            ServerEvent::Dropped { id, reason } => {
                say(format_args!(
                    "[{id}] dropped ({reason}); waiting for it to resume"
                ))?;
            }
            ServerEvent::Resumed { id } => say(format_args!("[{id}] resumed"))?,
            ServerEvent::Disconnected { id, reason } => {
                say(format_args!("[{id}] disconnected: {reason}"))?;
            }
            _ => {}
        }
    }
    eprintln!("podnet: stopping");
    server
        .shutdown("server stopped", Duration::from_secs(5))
        .await;
    Ok(())
}

/// One line on stdout, flushed (stdout may be a pipe read line by line).
fn say(line: std::fmt::Arguments<'_>) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

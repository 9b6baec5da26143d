//! `podnet info`: a server's description, from an `info` connection.

use std::io::Write;
use std::time::Duration;

use podnet_transport::{ClientConfig, ServerInfo, podnet_framing::Value};

use crate::error::CliError;
use crate::json;

/// Asks the server at `addr` for its description and prints it: as lines for a person,
/// or as one JSON object with `as_json`.
pub(crate) async fn run(addr: &str, timeout: Duration, as_json: bool) -> Result<(), CliError> {
    let mut config = ClientConfig::default();
    config.connect_timeout = timeout;
    let info = podnet_transport::query_info(addr, config).await?;
    let mut out = std::io::stdout().lock();
    if as_json {
        writeln!(out, "{}", json::to_line(&to_value(&info)))?;
        return Ok(());
    }
    writeln!(out, "name:     {}", info.name)?;
    writeln!(out, "protocol: {}", info.protocol)?;
    writeln!(out, "players:  {} of {}", info.players, info.capacity)?;
    writeln!(out, "away:     {} (dropped, waiting to resume)", info.away)?;
    for (name, value) in &info.game {
        writeln!(out, "{name}: {}", json::to_line(value))?;
    }
    Ok(())
}

/// The description as one map, in the order it is printed.
fn to_value(info: &ServerInfo) -> Value {
    let game = info
        .game
        .iter()
        .map(|(name, value)| (Value::from(name.as_str()), value.clone()))
        .collect();
    Value::Map(vec![
        ("name".into(), info.name.as_str().into()),
        ("protocol".into(), info.protocol.into()),
        ("players".into(), (info.players as u64).into()),
        ("away".into(), (info.away as u64).into()),
        ("capacity".into(), (info.capacity as u64).into()),
        ("game".into(), Value::Map(game)),
    ])
}

//! repod's lag-time example, client side, on podnet: the same protocol as repod's
//! `examples/lag_time/client.py`. It sends each ping the server sends back as it came
//! (the server measures the round trip), and closes after the tenth.
//!
//! Run `cargo run --example lag_time_server` (or repod's `python server.py`) first, then
//! `cargo run --example lag_time_client` (or `-- HOST PORT`; repod's address,
//! 127.0.0.1:5071, by default). It ends by itself.

#[path = "common/address.rs"]
mod address;

use std::time::Duration;

use podnet::wire::Frame;
use podnet::{
    Client, ClientCtx, Connected, ConnectionListener, DisconnectReason, HookResult,
    ListenerHandlers, SendError,
};

/// How many pings to answer before closing, as repod's client.
const PINGS: u32 = 10;

#[derive(Default)]
struct LagTime {
    pings_received: u32,
    /// Disconnected: the program ends.
    gone: bool,
}

impl ConnectionListener for LagTime {
    fn handlers(h: &mut ListenerHandlers<Self>) {
        h.on(|_: &mut Self, _: &mut ClientCtx<'_>, _: Connected| {
            println!("Connected to server!");
        })
        // Sent back as it came, whatever it holds: the raw message, not decoded.
        .on_raw(
            "ping",
            |me: &mut Self, ctx: &mut ClientCtx<'_>, msg| -> Result<(), SendError> {
                let count = msg.to_value().ok().and_then(|v| v["count"].as_u64());
                println!(
                    "Got ping #{}",
                    count.map_or("?".to_owned(), |c| c.to_string())
                );
                me.pings_received += 1;
                if me.pings_received >= PINGS {
                    println!("Received {PINGS} pings, closing connection...");
                    ctx.close("done");
                    return Ok(());
                }
                ctx.handle().send(&Frame::from_message(msg)?)
            },
        );
    }

    fn on_disconnect(
        &mut self,
        _ctx: &mut ClientCtx<'_>,
        _reason: &DisconnectReason,
    ) -> HookResult {
        println!("Disconnected from server");
        self.gone = true;
        Ok(())
    }
}

fn main() -> Result<(), podnet::Error> {
    // `lag_time_client [HOST [PORT]]`, as repod's client.py.
    // `[HOST [PORT]]`, as repod's examples take it.
    let addr = address::from_command_line("lag_time_client");
    let mut client = Client::connect(addr.as_str(), LagTime::default())?;
    println!("LagTimeClient started");
    // Until the disconnect is handled: after a close, it comes once the server has had
    // everything sent before it.
    while !client.listener().gone {
        client.pump_timeout(Duration::from_millis(50));
    }
    Ok(())
}

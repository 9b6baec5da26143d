//! repod's lag-time example, server side, on podnet: the same protocol as repod's
//! `examples/lag_time/server.py`. The server pings each client as it connects
//! (`{"action": "ping", "count": N}`); a client sends each ping back as it came; the
//! server prints the round trip and pings again.
//!
//! Run it with `cargo run --example lag_time_server` (repod's address, 127.0.0.1:5071) or
//! `-- HOST PORT` (port 0 picks a free one; the first line says which), then
//! `cargo run --example lag_time_client` or repod's `python client.py`: ten pings, then the
//! client closes. Ctrl-C stops the server.

#[path = "common/address.rs"]
mod address;

use std::time::Instant;

use podnet::{
    Channel, ChannelCtx, ChannelHandlers, DisconnectReason, HookResult, Message, SendError, Server,
};
use serde::{Deserialize, Serialize};

/// A ping, and the client's answer: the same message back.
#[derive(Serialize, Deserialize, Message)]
#[message(action = "ping")]
struct Ping {
    count: u64,
}

/// One client: how many pings it was sent, and when the one it has not answered left.
#[derive(Default)]
struct LagTime {
    count: u64,
    waiting: Option<(u64, Instant)>,
}

impl Channel for LagTime {
    type Game = ();

    fn handlers(h: &mut ChannelHandlers<Self>) {
        h.on(Self::answered);
    }

    fn on_connect(&mut self, ctx: &mut ChannelCtx<'_, Self>) -> HookResult {
        println!("Client {} connected", ctx.peer());
        self.ping(ctx)?;
        Ok(())
    }

    fn on_disconnect(
        &mut self,
        ctx: &mut ChannelCtx<'_, Self>,
        reason: &DisconnectReason,
    ) -> HookResult {
        println!("Client {} disconnected ({reason})", ctx.peer());
        Ok(())
    }
}

impl LagTime {
    /// Sends the next ping, and notes when.
    fn ping(&mut self, ctx: &mut ChannelCtx<'_, Self>) -> Result<(), SendError> {
        self.waiting = Some((self.count, Instant::now()));
        ctx.send(&Ping { count: self.count })?;
        self.count += 1;
        Ok(())
    }

    /// A ping came back: its round trip, then the next one. An answer to no ping we are
    /// waiting for (repeated, made up) is reported and changes nothing: repod's server
    /// keeps every ping's time and would fail on a count it never sent.
    fn answered(&mut self, ctx: &mut ChannelCtx<'_, Self>, ping: Ping) -> Result<(), SendError> {
        match self.waiting {
            Some((count, sent)) if count == ping.count => {
                let rtt = sent.elapsed().as_secs_f64();
                println!(
                    "Client {}: ping {} RTT was {rtt:.4}s",
                    ctx.peer(),
                    ping.count
                );
                self.ping(ctx)
            }
            _ => {
                println!(
                    "Client {}: answer to ping {}, which is not the one it was sent",
                    ctx.peer(),
                    ping.count
                );
                Ok(())
            }
        }
    }
}

fn main() -> Result<(), podnet::Error> {
    // `lag_time_server [HOST [PORT]]`, as repod's server.py.
    // `[HOST [PORT]]`, as repod's examples take it.
    let addr = address::from_command_line("lag_time_server");
    let server = Server::<LagTime>::start_background(addr, ())?;
    server.stop_on_signals()?;
    println!("Server running on {}", server.local_addr());
    server.run();
    Ok(())
}

//! PodSixNet's LagTime example: a client measures its round trip to the server and prints
//! it once a second. Runs a server in the background and ends after five seconds.
//!
//! Run it with `cargo run --example lag_time`, or against any server speaking the bench
//! protocol (it echoes `ping`): `cargo run --example lag_time -- --connect HOST:PORT`.

use std::time::{Duration, Instant};

use podnet::wire::Frame;
use podnet::{
    Channel, ChannelHandlers, Client, ClientCtx, ConnectionListener, ListenerHandlers, Message,
    SendError, Server,
};
use serde::{Deserialize, Serialize};

/// A ping carrying when it was sent; the server sends it back unchanged.
#[derive(Serialize, Deserialize, Message)]
#[message(action = "ping")]
struct Ping {
    sent_us: u64,
}

#[derive(Default)]
struct Echo;
impl Channel for Echo {
    type Game = ();
    fn handlers(h: &mut ChannelHandlers<Self>) {
        // Echoed as received, without decoding it.
        h.on_raw("ping", |_, ctx, msg| -> Result<(), SendError> {
            ctx.server()
                .send_frame(ctx.id(), &Frame::from_message(msg)?)
        });
    }
}

struct Lag {
    start: Instant,
    samples: Vec<Duration>,
}

impl Lag {
    fn now_us(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

impl ConnectionListener for Lag {
    fn handlers(h: &mut ListenerHandlers<Self>) {
        h.on(|lag: &mut Self, ctx: &mut ClientCtx<'_>, ping: Ping| {
            let rtt = Duration::from_micros(lag.now_us().saturating_sub(ping.sent_us));
            lag.samples.push(rtt);
            // Keep one ping in flight.
            ctx.send(&Ping {
                sent_us: lag.now_us(),
            })
        });
    }
}

fn main() -> Result<(), podnet::Error> {
    let args: Vec<String> = std::env::args().collect();
    let target = args
        .iter()
        .position(|a| a == "--connect")
        .and_then(|i| args.get(i + 1).cloned());
    // Without --connect, host a server here.
    let mut server = match &target {
        Some(_) => None,
        None => Some(Server::<Echo>::start_background("127.0.0.1:0", ())?),
    };
    let addr = match (&target, &server) {
        (Some(addr), _) => addr.clone(),
        (None, Some(server)) => server.local_addr().to_string(),
        (None, None) => unreachable!("a server is started when no address is given"),
    };

    let lag = Lag {
        start: Instant::now(),
        samples: Vec::new(),
    };
    let mut client = Client::connect(addr.as_str(), lag)?;
    client.send(&Ping {
        sent_us: client.listener().now_us(),
    })?;

    for second in 1..=5 {
        let until = Instant::now() + Duration::from_secs(1);
        while Instant::now() < until {
            if let Some(server) = &mut server {
                server.pump();
            }
            client.pump();
            std::thread::yield_now(); // busy pumping, as a latency-bound game would
        }
        let samples = std::mem::take(&mut client.listener_mut().samples);
        if samples.is_empty() {
            println!("{second}s: no answer");
            continue;
        }
        let mut sorted = samples.clone();
        sorted.sort();
        let avg = samples.iter().sum::<Duration>() / samples.len() as u32;
        println!(
            "{second}s: {} round trips, average {:?}, best {:?}, worst {:?}",
            samples.len(),
            avg,
            sorted[0],
            sorted[sorted.len() - 1]
        );
    }
    Ok(())
}

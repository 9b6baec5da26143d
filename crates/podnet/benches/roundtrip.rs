//! Round trip through `pump()`, beside a plain tokio echo measured in the same run.
//!
//! - baseline: a tokio server task echoing length-prefixed frames, and a tokio client that
//!   writes a frame and reads the echo: the limit of this stack, no podnet;
//! - podnet: `podnet::Server` with a `ping` handler that echoes (bench_server semantics),
//!   pumped on its own thread, and a `podnet::Client` on this thread, busy pumping until the
//!   echo arrives.
//!
//! Run it with `cargo bench -p podnet --bench roundtrip` (or `cargo xtask bench`).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use podnet::wire::Frame;
use podnet::{
    Channel, ChannelHandlers, Client, ClientCtx, ConnectionListener, ListenerHandlers, Message,
    Server,
};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WARMUP: usize = 500;
const ROUND_TRIPS: usize = 5_000;

#[derive(Serialize, Deserialize, Message)]
#[message(action = "ping")]
struct Ping {
    seq: u64,
}

struct Figures {
    p50: Duration,
    p99: Duration,
    max: Duration,
}

fn figures(mut samples: Vec<Duration>) -> Figures {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    Figures {
        p50: at(0.50),
        p99: at(0.99),
        max: *samples.last().unwrap(),
    }
}

/// Plain tokio: the server echoes frames; the client writes one and reads it back.
fn baseline() -> Vec<Duration> {
    let server_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let listener = server_rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        server_rt.block_on(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            let mut frame = vec![0u8; 64 * 1024];
            loop {
                if stream.read_exact(&mut frame[..4]).await.is_err() {
                    return;
                }
                let len = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
                stream.read_exact(&mut frame[4..4 + len]).await.unwrap();
                // The whole frame back in one write.
                stream.write_all(&frame[..4 + len]).await.unwrap();
            }
        });
    });

    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    client_rt.block_on(async move {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let mut frame = bytes::BytesMut::new();
        podnet::wire::encode_message(
            &Ping { seq: 1 },
            &mut frame,
            &podnet::FramingConfig::default(),
        )
        .unwrap();
        let mut back = vec![0u8; frame.len()];
        let mut samples = Vec::with_capacity(ROUND_TRIPS);
        for i in 0..WARMUP + ROUND_TRIPS {
            let start = Instant::now();
            stream.write_all(&frame).await.unwrap();
            stream.read_exact(&mut back).await.unwrap();
            if i >= WARMUP {
                samples.push(start.elapsed());
            }
        }
        samples
    })
}

#[derive(Default)]
struct Echo;
impl Channel for Echo {
    type Game = ();
    fn handlers(h: &mut ChannelHandlers<Self>) {
        h.on_raw("ping", |_, ctx, msg| {
            let _ = ctx
                .server()
                .send(ctx.id(), &Frame::from_message(msg).unwrap());
        });
    }
}

#[derive(Default)]
struct Pinger {
    received: u64,
}
impl ConnectionListener for Pinger {
    fn handlers(h: &mut ListenerHandlers<Self>) {
        h.on(|p: &mut Self, _: &mut ClientCtx<'_>, _: Ping| p.received += 1);
    }
}

/// podnet client and server, both through `pump()`.
fn podnet_pump() -> Vec<Duration> {
    let stop = Arc::new(AtomicBool::new(false));
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let server_thread = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut server = Server::<Echo>::start_background("127.0.0.1:0", ()).unwrap();
            addr_tx.send(server.local_addr()).unwrap();
            // The server's game loop: wait for events, handle them at once.
            while !stop.load(Ordering::Relaxed) {
                server.pump_timeout(Duration::from_millis(50));
            }
        })
    };
    let addr = addr_rx.recv().unwrap();
    let mut client = Client::connect(addr, Pinger::default()).unwrap();
    let mut samples = Vec::with_capacity(ROUND_TRIPS);
    for i in 0..WARMUP + ROUND_TRIPS {
        let want = client.listener().received + 1;
        let start = Instant::now();
        client.send(&Ping { seq: i as u64 }).unwrap();
        // Busy pumping, as a latency-bound game loop would between frames.
        while client.listener().received < want {
            if client.pump() == 0 {
                std::thread::yield_now();
            }
        }
        if i >= WARMUP {
            samples.push(start.elapsed());
        }
    }
    stop.store(true, Ordering::Relaxed);
    server_thread.join().unwrap();
    samples
}

fn main() {
    // `cargo test --benches` runs this with no arguments worth honouring; a short run
    // keeps it a smoke test there.
    let runs = if std::env::args().any(|a| a == "--bench") {
        3
    } else {
        1
    };
    println!("round trip, {ROUND_TRIPS} pings after {WARMUP} warm-up, median of {runs} runs");
    let mut base_runs = Vec::new();
    let mut pod_runs = Vec::new();
    for _ in 0..runs {
        base_runs.push(figures(baseline()));
        pod_runs.push(figures(podnet_pump()));
    }
    let median = |runs: &[Figures], f: fn(&Figures) -> Duration| {
        let mut v: Vec<Duration> = runs.iter().map(f).collect();
        v.sort();
        v[v.len() / 2]
    };
    println!("{:<28} {:>10} {:>10} {:>10}", "", "p50", "p99", "max");
    for (name, runs) in [
        ("plain tokio echo", &mut base_runs),
        ("podnet pump() both sides", &mut pod_runs),
    ] {
        println!(
            "{:<28} {:>10.1?} {:>10.1?} {:>10.1?}",
            name,
            median(runs, |f| f.p50),
            median(runs, |f| f.p99),
            median(runs, |f| f.max)
        );
    }
    let ratio = |f: fn(&Figures) -> Duration| {
        median(&pod_runs, f).as_secs_f64() / median(&base_runs, f).as_secs_f64()
    };
    println!(
        "podnet / baseline: p50 {:.2}x, p99 {:.2}x (target: within 1.5x)",
        ratio(|f| f.p50),
        ratio(|f| f.p99)
    );
}

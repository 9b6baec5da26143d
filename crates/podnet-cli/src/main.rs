//! The `podnet` command: talk to repod-protocol servers from a terminal, serve test
//! servers, and benchmark.
//!
//! ```text
//! podnet connect HOST:PORT                  JSON lines in and out
//! podnet serve --port P --echo|--relay|--bench
//! podnet bench HOST:PORT [--clients N] [--messages N] [--pings N]
//! podnet info HOST:PORT [--json]
//! ```

mod bench;
mod connect;
mod error;
mod info;
mod json;
mod serve;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::error::CliError;

/// Talk to any server speaking the repod wire format (podnet or repod): a length-prefixed
/// msgpack map with an "action" key per message.
#[derive(Debug, Parser)]
#[command(name = "podnet", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Connect to a server: print each incoming message as a JSON line, send each JSON
    /// line typed on stdin (`{"action": "chat", "text": "hi"}`). Ends when the server
    /// closes, or after stdin ends and the server has gone quiet (see --linger); what was
    /// sent is delivered first.
    Connect(ConnectArgs),
    /// Run a server for testing clients, printing what happens, until Ctrl-C. Takes TCP
    /// and WebSocket clients (`ws://HOST:PORT/`) on the same port. With --echo or
    /// --relay, `{"action": "close-me", "reason": "..."}` makes the server close that
    /// client with the reason.
    Serve(ServeArgs),
    /// Measure a server speaking the bench protocol (ping, move, report): throughput
    /// with several clients pipelining `move`s, and `ping` round trips.
    Bench(BenchArgs),
    /// Ask a podnet server for its description (an `info` connection): name, protocol
    /// version, players, capacity and the game's fields. A repod server has none, and is
    /// reported as such.
    Info(InfoArgs),
}

#[derive(Debug, Args)]
struct InfoArgs {
    /// The server, as HOST:PORT.
    addr: String,
    /// Print one JSON object instead of lines.
    #[arg(long)]
    json: bool,
    /// Give up after this many seconds, connecting included.
    #[arg(long, default_value_t = 5)]
    timeout: u64,
}

#[derive(Debug, Args)]
struct ConnectArgs {
    /// The server, as HOST:PORT.
    addr: String,
    /// Give up connecting after this many seconds.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// When stdin ends, keep printing incoming messages until the server has been quiet
    /// this many seconds, then close.
    #[arg(long, default_value_t = 1.0)]
    linger: f64,
    /// Do not resume the session when the connection drops: end instead. By default a
    /// dropped connection to a podnet server is reconnected (backoff from 100 ms to 5 s,
    /// 12 attempts) and the session resumed, nothing lost either way.
    #[arg(long)]
    no_resume: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["echo", "relay", "bench"])))]
struct ServeArgs {
    /// The port to listen on (0 picks a free one; the address is printed first).
    #[arg(long, default_value_t = 5071)]
    port: u16,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Send each message back to its sender.
    #[arg(long)]
    echo: bool,
    /// Send each message to every other client.
    #[arg(long)]
    relay: bool,
    /// Answer the bench protocol: echo `ping`, count `move`, answer `report` with the
    /// count, send `broadcast` to everyone. Prints only connections.
    #[arg(long)]
    bench: bool,
    /// Ping podnet clients every this many milliseconds (the server's heartbeat;
    /// default 5000).
    #[arg(long)]
    heartbeat_ms: Option<u64>,
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// The server, as HOST:PORT.
    addr: String,
    /// Clients sending `move`s at once.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// `move`s to send, in all.
    #[arg(long, default_value_t = 200_000)]
    messages: u64,
    /// `ping` round trips to time.
    #[arg(long, default_value_t = 2_000)]
    pings: usize,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("podnet: could not start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result: Result<(), CliError> = runtime.block_on(async {
        match cli.command {
            Command::Connect(args) => {
                let linger = Duration::try_from_secs_f64(args.linger).unwrap_or_default();
                let mut config = podnet_transport::ClientConfig::default();
                config.connect_timeout = Duration::from_secs(args.timeout);
                if args.no_resume {
                    config.resume = None;
                }
                connect::run(&args.addr, config, linger).await
            }
            Command::Serve(args) => {
                let mode = if args.echo {
                    serve::Mode::Echo
                } else if args.relay {
                    serve::Mode::Relay
                } else {
                    serve::Mode::Bench
                };
                let mut config = podnet_transport::ServerConfig::default();
                if let Some(ms) = args.heartbeat_ms {
                    config.connection.liveness.heartbeat_interval =
                        Some(Duration::from_millis(ms.max(1)));
                }
                serve::run(&args.host, args.port, mode, config).await
            }
            Command::Bench(args) => {
                bench::run(&args.addr, args.clients.max(1), args.messages, args.pings).await
            }
            Command::Info(args) => {
                info::run(&args.addr, Duration::from_secs(args.timeout), args.json).await
            }
        }
    });
    // Every command has finished its work (connections closed, what was sent delivered);
    // do not wait for the thread blocked reading stdin, which only a line or the end of
    // input would wake: `connect` would otherwise hang after the server closed it.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("podnet: {err}");
            ExitCode::FAILURE
        }
    }
}

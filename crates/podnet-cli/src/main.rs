//! The `podnet` command: talk to repod-protocol servers from a terminal, serve test
//! servers, and benchmark.
//!
//! ```text
//! podnet connect [HOST:PORT] [--seconds S] [--count N]   JSON lines in and out
//! podnet serve [--port P] [--echo|--relay|--bench|--state] [--max-connections N] [--metrics ADDR]
//! podnet bench HOST:PORT [--clients N] [--messages N] [--pings N]
//! podnet info HOST:PORT [--json]
//! podnet completions bash|zsh|fish
//! ```

mod bench;
mod connect;
mod error;
mod info;
mod json;
mod serve;
mod websocket;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand};

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
    /// Print a completion script for your shell, e.g. `podnet completions bash >
    /// ~/.local/share/bash-completion/completions/podnet`, or for zsh into a directory of
    /// your `fpath` as `_podnet`, or for fish into `~/.config/fish/completions/podnet.fish`.
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
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

/// repod's address, where `connect` goes when given none.
const DEFAULT_ADDR: &str = "127.0.0.1:5071";

#[derive(Debug, Args)]
struct ConnectArgs {
    /// The server, as HOST:PORT (default: repod's, 127.0.0.1:5071), or a WebSocket URL,
    /// ws://HOST:PORT/ (a podnet server takes both on one port; no resume over
    /// WebSocket here).
    #[arg(default_value = DEFAULT_ADDR)]
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
    /// Behave exactly as a repod client: say no `podnet:hello` (so no heartbeat, no
    /// resume, no connection type).
    #[arg(long)]
    no_hello: bool,
    /// Close after this many seconds, whatever else is going on.
    #[arg(long)]
    seconds: Option<f64>,
    /// Close after printing this many messages (the server's `connected` greeting
    /// counts).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    /// Connect over TLS (TCP, or wss://), trusting the certificates in this PEM file (the
    /// authority that signed the server's certificate, or the server's own).
    #[arg(long, value_name = "ROOTS.pem")]
    ca: Option<std::path::PathBuf>,
    /// With --ca: the name the server's certificate must carry (default: the address's
    /// host).
    #[arg(long, value_name = "NAME")]
    server_name: Option<String>,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("mode").args(["echo", "relay", "bench", "state"])))]
struct ServeArgs {
    /// The port to listen on (0 picks a free one; the address is printed first).
    #[arg(long, default_value_t = 5071)]
    port: u16,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Send each message back to its sender (the default).
    #[arg(long)]
    echo: bool,
    /// Send each message to every other client.
    #[arg(long)]
    relay: bool,
    /// Answer the bench protocol: echo `ping`, count `move`, answer `report` with the
    /// count, send `broadcast` to everyone. Prints only connections.
    #[arg(long)]
    bench: bool,
    /// Replicate a key-value state to every client (podnet-state, docs/state.md):
    /// `{"action": "put", "key": K, "value": V}` sets an entry, `{"action": "del", "key":
    /// K}` removes it; an entry named `secret:N` is seen by client N only. Clients get
    /// `state:full`, then `state:patch` 20 times a second.
    #[arg(long)]
    state: bool,
    /// Ping podnet clients every this many milliseconds (the server's heartbeat;
    /// default 5000).
    #[arg(long)]
    heartbeat_ms: Option<u64>,
    /// The most clients at once (default 4096); more are refused with "server full".
    #[arg(long)]
    max_connections: Option<usize>,
    /// Serve Prometheus' `/metrics` and the live `/monitor` page on this address (say
    /// 127.0.0.1:9464).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<std::net::SocketAddr>,
    /// The server's name, in its answer to `podnet info`.
    #[arg(long)]
    name: Option<String>,
    /// Take TCP clients only: no WebSocket on the port.
    #[arg(long)]
    no_websocket: bool,
    /// Serve over TLS (and wss:// for browsers) with this certificate chain and key, both
    /// PEM files.
    #[arg(long, num_args = 2, value_names = ["CERT.pem", "KEY.pem"])]
    tls: Option<Vec<std::path::PathBuf>>,
    /// How long a new connection may stay silent before it is taken for a repod client
    /// (default 500 on the port shared with WebSocket, where browsers open connections
    /// before they send; 10 with --no-websocket).
    #[arg(long, value_name = "MS")]
    hello_wait_ms: Option<u64>,
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
    /// Bytes of padding in each `move` and `ping` (a `pad` field), for bigger messages.
    #[arg(long, default_value_t = 0)]
    size: usize,
    /// Over WebSocket (ws://HOST:PORT/), as browsers connect, rather than TCP.
    #[arg(long)]
    ws: bool,
    /// The game tick instead: players in rooms sending 30 inputs a second, the server
    /// stepping each room 20 times a second and sending its state (`join`, `input`,
    /// `state`: `podnet serve --bench` and the bench_server example run it). Reports how
    /// long an input takes to show in a state.
    #[arg(long)]
    tick: bool,
    /// With --tick: how many players.
    #[arg(long, default_value_t = 200)]
    players: usize,
    /// With --tick: players per room.
    #[arg(long, default_value_t = 10)]
    room_size: usize,
    /// With --tick: how long to measure, after a second of warm-up.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Print one JSON object with every figure instead of lines.
    #[arg(long)]
    json: bool,
}

/// The bytes of `path`, given with `option`, or an error that names both.
fn read_file(path: &std::path::Path, option: &str) -> Result<Vec<u8>, CliError> {
    std::fs::read(path)
        .map_err(|e| CliError::Usage(format!("{option}: could not read {}: {e}", path.display())))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(shell, &mut Cli::command(), "podnet", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
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
                if args.no_resume || args.no_hello {
                    config.resume = None;
                }
                if args.no_hello {
                    config.hello = false;
                }
                if let Some(ca) = &args.ca {
                    let name = match &args.server_name {
                        Some(name) => name.clone(),
                        None => connect::host_of(&args.addr),
                    };
                    let roots = read_file(ca, "--ca")?;
                    config.tls = Some(podnet_transport::ClientTls::from_pem_roots(&roots, &name)?);
                } else if args.addr.starts_with("wss://") {
                    return Err(CliError::Usage(
                        "wss:// needs --ca ROOTS.pem: the certificate authority that signed \
                         the server's certificate (or the certificate itself)"
                            .into(),
                    ));
                }
                let end = connect::End {
                    linger,
                    after: args
                        .seconds
                        .map(|s| Duration::try_from_secs_f64(s).unwrap_or_default()),
                    count: args.count,
                };
                connect::run(&args.addr, config, end).await
            }
            Command::Serve(args) => {
                let mode = if args.relay {
                    serve::Mode::Relay
                } else if args.bench {
                    serve::Mode::Bench
                } else if args.state {
                    serve::Mode::State
                } else {
                    serve::Mode::Echo
                };
                let mut config = podnet_transport::ServerConfig::default();
                if let Some(ms) = args.heartbeat_ms {
                    config.connection.liveness.heartbeat_interval =
                        Some(Duration::from_millis(ms.max(1)));
                }
                if let Some(max) = args.max_connections {
                    config.max_connections = max;
                }
                if let Some(addr) = args.metrics {
                    config.metrics = Some(podnet_transport::MetricsConfig::on(addr));
                }
                if let Some(name) = args.name {
                    config.name = name;
                }
                if args.no_websocket {
                    config.websocket = None;
                }
                if let Some(files) = &args.tls {
                    let (cert, key) = (
                        read_file(&files[0], "--tls")?,
                        read_file(&files[1], "--tls")?,
                    );
                    config.tls = Some(podnet_transport::ServerTls::from_pem(&cert, &key)?);
                }
                if let Some(ms) = args.hello_wait_ms {
                    config.hello_wait = Duration::from_millis(ms);
                    if let Some(websocket) = config.websocket.as_mut() {
                        websocket.hello_wait = Duration::from_millis(ms);
                    }
                }
                serve::run(&args.host, args.port, mode, config).await
            }
            Command::Bench(args) => {
                bench::run(bench::Plan {
                    addr: args.addr,
                    clients: args.clients.max(1),
                    messages: args.messages,
                    pings: args.pings,
                    size: args.size,
                    websocket: args.ws,
                    tick: args.tick.then_some(bench::Tick {
                        players: args.players.max(1),
                        room_size: args.room_size.max(1),
                        seconds: args.seconds,
                    }),
                    json: args.json,
                })
                .await
            }
            Command::Info(args) => {
                info::run(&args.addr, Duration::from_secs(args.timeout), args.json).await
            }
            // Printed before the runtime starts.
            Command::Completions { .. } => Ok(()),
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

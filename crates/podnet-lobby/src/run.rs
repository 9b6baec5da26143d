//! The lobby on an async server.

use std::future::Future;
use std::time::{Duration, Instant};

use podnet_transport::{EventStream, Server, ServerEvent, ShutdownReport};

use crate::lobby::Lobby;
use crate::session::Game;

/// How long the final server shutdown may take to deliver the last messages.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the lobby's figures go to the server's `/metrics`.
pub(crate) const PUBLISH_EVERY: Duration = Duration::from_millis(100);

/// Runs `lobby` on an async `server` until `shutdown` resolves (with the reason to tell
/// the players) or the server's events end; then shuts down as
/// [`Lobby::begin_shutdown`] describes, and shuts the server down. Never hangs: the
/// sessions get [`LobbyConfig::session_grace`](crate::LobbyConfig::session_grace), the
/// final close 5 s.
///
/// # Example
///
/// ```
/// use podnet_lobby::{Game, Lobby, LobbyConfig, Seat, SessionCtx, SessionHandlers};
/// use podnet_transport::{Server, ServerConfig};
///
/// struct Nothing;
/// impl Game for Nothing {
///     type Setup = ();
///     fn start(_: &(), ctx: &mut SessionCtx<'_>) -> Self { ctx.end("done"); Nothing }
///     fn handlers(_: &mut SessionHandlers<Self>) {}
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), podnet_transport::TransportError> {
/// let (server, mut events) = Server::bind("127.0.0.1:0", ServerConfig::default()).await?;
/// let mut lobby = Lobby::<Nothing>::new(LobbyConfig::new(2), ());
/// // Here the shutdown comes at once; a real server waits for ctrl-c or an admin command.
/// let report = podnet_lobby::run(&server, &mut events, &mut lobby, async { "bye".to_string() }).await;
/// assert_eq!(report.connections, 0);
/// # Ok(())
/// # }
/// ```
pub async fn run<G: Game>(
    server: &Server,
    events: &mut EventStream<ServerEvent>,
    lobby: &mut Lobby<G>,
    shutdown: impl Future<Output = String>,
) -> ShutdownReport {
    let mut shutdown = std::pin::pin!(shutdown);
    let mut reason: Option<String> = None;
    let mut published = Instant::now();
    // The lobby's decisions go out through the server's handle.
    let out = server.handle();
    loop {
        if lobby.is_done() {
            break;
        }
        if published.elapsed() >= PUBLISH_EVERY {
            lobby.publish(|name, value| server.set_gauge(name, value));
            published = Instant::now();
        }
        let deadline = lobby.next_deadline().map(tokio::time::Instant::from_std);
        tokio::select! {
            why = &mut shutdown, if reason.is_none() => {
                lobby.begin_shutdown(&why, Instant::now(), out);
                reason = Some(why);
            }
            event = events.recv() => match event {
                Some(event) => lobby.handle(event, out),
                None => {
                    let why = reason.clone().unwrap_or_else(|| "server closed".into());
                    lobby.begin_shutdown(&why, Instant::now(), out);
                    reason = Some(why);
                    // No event can come any more, so no session can go on.
                    lobby.cut_sessions(out);
                }
            },
            () = sleep_until(deadline) => {}
        }
        lobby.tick(Instant::now(), out);
    }
    let reason = reason.unwrap_or_else(|| "server closed".into());
    server.shutdown(&reason, CLOSE_TIMEOUT).await
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

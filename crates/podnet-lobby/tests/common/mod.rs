//! Helpers for the lobby's tests: a small test game, a lobby served in the background,
//! and a player that speaks the lobby protocol over a real connection.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use podnet_framing::RawMessage;
use podnet_lobby::protocol::{GameStart, LobbyUpdate, Login, Welcome};
use podnet_lobby::{Game, Lobby, LobbyConfig, Message, SessionCtx, SessionHandlers};
use podnet_transport::{
    Client, ClientConfig, ClientEvent, DisconnectReason, EventStream, Server, ServerConfig,
    ShutdownReport,
};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long any single expected event may take: it bounds a failing test.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

// ---- The test game: players talk; the session counts its own lines ----

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Message)]
#[message(action = "say")]
pub(crate) struct Say {
    pub(crate) text: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Message)]
#[message(action = "said")]
pub(crate) struct Said {
    pub(crate) seat: usize,
    pub(crate) text: String,
    /// Lines said in this session so far.
    pub(crate) lines: u32,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Message)]
#[message(action = "finish")]
pub(crate) struct Finish {}

/// Sent to everyone in the session when the player at `seat` drops (`away`) or comes
/// back.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Message)]
#[message(action = "away")]
pub(crate) struct Away {
    pub(crate) seat: usize,
    pub(crate) away: bool,
}

/// Sent to everyone left in the session when the player at `seat` leaves it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Message)]
#[message(action = "left")]
pub(crate) struct Left {
    pub(crate) seat: usize,
    /// Who left (the session still knows their name).
    pub(crate) name: String,
}

/// Makes the game's handler panic: a bug in the game, for the panic policy.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Message)]
#[message(action = "boom")]
pub(crate) struct Boom {}

/// A session: lines said so far, its own.
pub(crate) struct Talk {
    lines: u32,
    /// The kind of game the group chose, when the lobby offers several.
    kind: String,
}

impl Game for Talk {
    type Setup = ();

    fn start(_: &(), ctx: &mut SessionCtx<'_>) -> Self {
        Talk {
            lines: 0,
            kind: ctx.kind().to_owned(),
        }
    }

    fn handlers(h: &mut SessionHandlers<Self>) {
        h.on(Self::say).on(Self::finish).on(Self::boom);
    }

    fn on_dropped(&mut self, ctx: &mut SessionCtx<'_>, seat: usize) {
        ctx.send_to_all(&Away { seat, away: true });
    }

    fn on_resumed(&mut self, ctx: &mut SessionCtx<'_>, seat: usize) {
        ctx.send_to_all(&Away { seat, away: false });
    }

    fn on_leave(&mut self, ctx: &mut SessionCtx<'_>, seat: usize) {
        let name = ctx.name(seat).to_owned();
        ctx.send_to_all(&Left { seat, name });
    }
}

impl Talk {
    fn say(&mut self, ctx: &mut SessionCtx<'_>, msg: Say) {
        self.lines += 1;
        ctx.send_to_all(&Said {
            seat: ctx.sender(),
            text: msg.text,
            lines: self.lines,
        });
    }

    fn finish(&mut self, ctx: &mut SessionCtx<'_>, _: Finish) {
        let mut result = format!(
            "{} finished after {} lines",
            ctx.name(ctx.sender()),
            self.lines
        );
        if !self.kind.is_empty() {
            result += &format!(" of {}", self.kind);
        }
        ctx.end(result);
    }

    /// A bug in the game's code.
    fn boom(&mut self, _: &mut SessionCtx<'_>, _: Boom) {
        panic!("the game's code has a bug");
    }
}

// ---- A lobby served in the background ----

pub(crate) struct Served {
    pub(crate) addr: SocketAddr,
    shutdown: Option<oneshot::Sender<String>>,
    task: JoinHandle<ShutdownReport>,
}

impl Served {
    pub(crate) async fn start(config: LobbyConfig) -> Self {
        Self::start_with(config, ServerConfig::default()).await
    }

    /// As [`start`](Self::start), on a server configured with `server`.
    pub(crate) async fn start_with(config: LobbyConfig, server: ServerConfig) -> Self {
        let (server, mut events) = Server::bind("127.0.0.1:0", server).await.unwrap();
        let addr = server.local_addr();
        let (tx, rx) = oneshot::channel::<String>();
        let task = tokio::spawn(async move {
            let mut lobby = Lobby::<Talk>::new(config, ());
            let reason = async move { rx.await.unwrap_or_else(|_| "test over".into()) };
            podnet_lobby::run(&server, &mut events, &mut lobby, reason).await
        });
        Self {
            addr,
            shutdown: Some(tx),
            task,
        }
    }

    /// Starts the shutdown.
    pub(crate) fn shut_down(&mut self, reason: &str) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(reason.to_owned());
        }
    }

    /// Waits for the lobby (and its server) to end.
    pub(crate) async fn finished(self) -> ShutdownReport {
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the lobby ends within the timeout")
            .unwrap()
    }
}

// ---- A player over a real connection ----

pub(crate) struct Peer {
    pub(crate) client: Client,
    events: EventStream<ClientEvent>,
}

impl Peer {
    /// Connects and reads the lobby's `login_required`.
    pub(crate) async fn connect(addr: SocketAddr) -> Self {
        Self::connect_with(addr, ClientConfig::default()).await
    }

    /// As [`connect`](Self::connect), with `config`.
    pub(crate) async fn connect_with(addr: SocketAddr, config: ClientConfig) -> Self {
        let (client, events) = Client::connect(addr, config).await.unwrap();
        let mut peer = Self { client, events };
        peer.expect("login_required").await;
        peer
    }

    /// The next message, skipping the server's `connected` greeting.
    pub(crate) async fn next(&mut self) -> RawMessage {
        loop {
            let event = tokio::time::timeout(WAIT, self.events.recv())
                .await
                .expect("an event within the timeout")
                .expect("the event stream is open");
            match event {
                ClientEvent::Message(msg) if msg.action() == "connected" => {}
                ClientEvent::Message(msg) => return msg.into_inner(),
                ClientEvent::SocketConnect { .. }
                | ClientEvent::Handshake(_)
                | ClientEvent::Reconnecting { .. }
                | ClientEvent::Resumed => {}
                other => panic!("expected a message, got {other:?}"),
            }
        }
    }

    /// The next message, which must have `action`.
    pub(crate) async fn expect(&mut self, action: &str) -> RawMessage {
        let msg = self.next().await;
        assert_eq!(
            msg.action(),
            action,
            "expected {action:?}, got {:?}",
            msg.to_value().unwrap()
        );
        msg
    }

    /// The next message with `action`, skipping the session's `said` lines.
    pub(crate) async fn expect_skipping_said(&mut self, action: &str) -> RawMessage {
        loop {
            let msg = self.next().await;
            if msg.action() != "said" {
                assert_eq!(msg.action(), action, "{:?}", msg.to_value().unwrap());
                return msg;
            }
        }
    }

    /// The next `said` with `text`, skipping other lines.
    pub(crate) async fn expect_skipping_said_until(&mut self, text: &str) -> Said {
        loop {
            let said: Said = self.expect("said").await.decode().unwrap();
            if said.text == text {
                return said;
            }
        }
    }

    /// The next message with `action`, skipping lobby updates.
    pub(crate) async fn expect_skipping_updates(&mut self, action: &str) -> RawMessage {
        loop {
            let msg = self.next().await;
            if msg.action() != LobbyUpdate::ACTION {
                assert_eq!(
                    msg.action(),
                    action,
                    "expected {action:?}, got {:?}",
                    msg.to_value().unwrap()
                );
                return msg;
            }
        }
    }

    pub(crate) fn send<M: Message + Serialize>(&self, msg: &M) {
        self.client.send(msg).unwrap();
    }

    pub(crate) fn login_as(&self, name: &str) {
        self.send(&Login { name: name.into() });
    }

    /// Logs in as `name` and reads the welcome.
    pub(crate) async fn login(&mut self, name: &str) -> Welcome {
        self.login_as(name);
        self.expect(Welcome::ACTION).await.decode().unwrap()
    }

    /// Logs in as `name` once it is free: a name is freed when its holder's disconnect
    /// reaches the lobby, which may be just after the holder's side saw it, so a refusal
    /// for "taken" is retried (each attempt is a round trip). Any other refusal fails.
    pub(crate) async fn login_once_free(&mut self, name: &str) -> Welcome {
        loop {
            self.login_as(name);
            let msg = self.next().await;
            if msg.action() == Welcome::ACTION {
                return msg.decode().unwrap();
            }
            assert_eq!(
                msg.action(),
                "login_refused",
                "{:?}",
                msg.to_value().unwrap()
            );
            let refused: podnet_lobby::protocol::LoginRefused = msg.decode().unwrap();
            assert_eq!(refused.reason, "the name is taken");
        }
    }

    /// Waits for the game to start (skipping lobby updates).
    pub(crate) async fn game_start(&mut self) -> GameStart {
        self.expect_skipping_updates(GameStart::ACTION)
            .await
            .decode()
            .unwrap()
    }

    /// Waits for the server to close the connection; returns its reason. Messages still
    /// arriving before the close are skipped.
    pub(crate) async fn closed(&mut self) -> DisconnectReason {
        loop {
            let event = tokio::time::timeout(WAIT, self.events.recv())
                .await
                .expect("closed within the timeout")
                .expect("the event stream is open");
            if let ClientEvent::Disconnected(reason) = event {
                return reason;
            }
        }
    }
}

/// Two players who log in as `names` on a lobby of pairs, and the session the lobby
/// started for them (both saw its `game_start`).
pub(crate) async fn pair_in_game(addr: SocketAddr, names: [&str; 2]) -> (Peer, Peer, u64) {
    let mut first = Peer::connect(addr).await;
    first.login(names[0]).await;
    let mut second = Peer::connect(addr).await;
    second.login(names[1]).await;
    let session = first.game_start().await.session;
    assert_eq!(second.game_start().await.session, session);
    (first, second, session)
}

/// The reason a peer was given when closed.
pub(crate) fn peer_reason(reason: &DisconnectReason) -> &str {
    match reason {
        DisconnectReason::PeerClosed {
            reason: Some(reason),
        } => reason,
        other => panic!("expected a close with a reason, got {other:?}"),
    }
}

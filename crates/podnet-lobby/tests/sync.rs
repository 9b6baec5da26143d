//! The same pipeline under `pump()`: a `LobbyServer` pumped by an ordinary loop on its own
//! thread, as a game would, with players over real connections.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::mpsc;
use std::time::Duration;

use common::{Finish, Peer, Talk, pair_in_game, peer_reason};
use podnet_lobby::protocol::GameOver;
use podnet_lobby::{LobbyConfig, LobbyServer};

#[tokio::test]
async fn a_pumped_lobby_logs_in_groups_plays_and_shuts_down() {
    let (addr_tx, addr_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let game_loop = std::thread::spawn(move || {
        let mut server =
            LobbyServer::<Talk>::start_background("127.0.0.1:0", LobbyConfig::new(2), ()).unwrap();
        addr_tx.send(server.local_addr()).unwrap();
        // The game loop: pump once per frame until told to stop.
        while stop_rx.try_recv().is_err() {
            server.pump_timeout(Duration::from_millis(5));
        }
        let sessions_before = server.lobby().session_count();
        let report = server.shutdown("the game loop ended");
        (sessions_before, report, server.lobby().names_in_use())
    });
    let addr = addr_rx.recv_timeout(common::WAIT).unwrap();

    let (mut a, mut b, session) = pair_in_game(addr, ["a", "b"]).await;
    b.send(&Finish {});
    for peer in [&mut a, &mut b] {
        let over: GameOver = peer.expect("game_over").await.decode().unwrap();
        assert_eq!(over.session, session);
        peer.expect("welcome").await;
    }
    // Regrouped at once.
    a.game_start().await;
    b.game_start().await;

    // A shutdown with a session running and a player waiting: the waiting player is
    // closed at once, which shows the shutdown began; the session gets its grace, and
    // here a player ends it.
    let mut c = Peer::connect(addr).await;
    c.login("c").await;
    stop_tx.send(()).unwrap();
    assert_eq!(peer_reason(&c.closed().await), "the game loop ended");
    a.send(&Finish {});
    for peer in [&mut a, &mut b] {
        peer.expect("game_over").await;
        assert_eq!(peer_reason(&peer.closed().await), "the game loop ended");
    }
    let (sessions_before, report, names) =
        tokio::task::spawn_blocking(move || game_loop.join().unwrap())
            .await
            .unwrap();
    assert_eq!(sessions_before, 1);
    assert!(report.is_some());
    assert_eq!(names, 0, "every name is freed once everyone is gone");
}

/// `run()` serves until a stop is asked for from another thread, then shuts down with
/// the reason given, which the players get.
#[tokio::test]
async fn run_serves_until_a_stop_is_asked_for() {
    let (tx, rx) = mpsc::channel();
    let game_loop = std::thread::spawn(move || {
        let server =
            LobbyServer::<Talk>::start_background("127.0.0.1:0", LobbyConfig::new(2), ()).unwrap();
        tx.send((server.local_addr(), server.handle().clone()))
            .unwrap();
        server.run()
    });
    let (addr, handle) = rx.recv_timeout(common::WAIT).unwrap();
    let mut c = Peer::connect(addr).await;
    c.login("c").await;
    handle.request_stop("maintenance");
    assert_eq!(peer_reason(&c.closed().await), "maintenance");
    let report = tokio::task::spawn_blocking(move || game_loop.join().unwrap())
        .await
        .unwrap();
    assert!(report.is_some());
}

/// The game can end a session from its loop at any time (a force-cut): its players get
/// `game_over` with the game's result and go back to the lobby.
#[tokio::test]
async fn the_game_loop_ends_a_session_at_any_time() {
    let (addr_tx, addr_rx) = mpsc::channel();
    let (cut_tx, cut_rx) = mpsc::channel::<()>();
    let (ended_tx, ended_rx) = mpsc::channel::<(bool, usize)>();
    let game_loop = std::thread::spawn(move || {
        // No grace at the end: the pair is playing again by then.
        let config = LobbyConfig::new(2).with_session_grace(Duration::ZERO);
        let mut server = LobbyServer::<Talk>::start_background("127.0.0.1:0", config, ()).unwrap();
        addr_tx.send(server.local_addr()).unwrap();
        loop {
            server.pump_timeout(Duration::from_millis(5));
            if cut_rx.try_recv().is_ok() {
                let sessions = server.lobby().sessions();
                let ended = server.end_session(sessions[0], "the host ended the round");
                let unknown = server.end_session(9_999, "no such session");
                ended_tx.send((ended && !unknown, sessions.len())).unwrap();
                break;
            }
        }
        server.shutdown("test over");
    });
    let addr = addr_rx.recv_timeout(common::WAIT).unwrap();
    let (mut a, mut b, session) = pair_in_game(addr, ["a", "b"]).await;
    cut_tx.send(()).unwrap();
    for peer in [&mut a, &mut b] {
        let over: GameOver = peer.expect("game_over").await.decode().unwrap();
        assert_eq!(
            (over.session, over.result.as_str()),
            (session, "the host ended the round")
        );
        peer.expect("welcome").await;
    }
    let (ended, running) = ended_rx.recv_timeout(common::WAIT).unwrap();
    assert!(ended, "end_session said whether the session existed");
    assert_eq!(running, 1);
    tokio::task::spawn_blocking(move || game_loop.join().unwrap())
        .await
        .unwrap();
}

/// The lobby's client helper: two bots asking for one name log in as "ann" and "ann2",
/// vote for a kind of game, play it, and are back in the lobby afterwards.
#[cfg(feature = "client")]
#[test]
fn the_client_helper_logs_in_retries_votes_and_plays() {
    use podnet::{Client, ClientCtx, ConnectionListener, ListenerHandlers, SendError};
    use podnet_lobby::client::{LobbyPlayer, LobbyState, Status, lobby_handlers};
    use podnet_lobby::protocol::{ChooseGame, GameStart};

    struct Bot {
        lobby: LobbyState,
        kind: Option<String>,
    }
    impl ConnectionListener for Bot {
        fn handlers(h: &mut ListenerHandlers<Self>) {
            lobby_handlers(h);
        }
    }
    impl LobbyPlayer for Bot {
        fn lobby(&mut self) -> &mut LobbyState {
            &mut self.lobby
        }
        fn choose_game(&mut self, ask: &ChooseGame) -> Option<String> {
            ask.kinds.last().cloned()
        }
        fn on_game_start(
            &mut self,
            ctx: &mut ClientCtx<'_>,
            start: &GameStart,
        ) -> Result<(), SendError> {
            self.kind = Some(start.kind.clone());
            if start.seat == 0 {
                ctx.send(&Finish {})?;
            }
            Ok(())
        }
    }

    let config = LobbyConfig::new(2).with_game_kinds(["dice", "cards"]);
    let mut server = LobbyServer::<Talk>::start_background("127.0.0.1:0", config, ()).unwrap();
    let mut bots: Vec<Client<Bot>> = (0..2)
        .map(|_| {
            let bot = Bot {
                lobby: LobbyState::new("ann"),
                kind: None,
            };
            Client::connect(server.local_addr(), bot).unwrap()
        })
        .collect();
    let deadline = std::time::Instant::now() + common::WAIT;
    while bots.iter().any(|b| {
        b.listener().lobby.games_played() == 0
            || !matches!(
                b.listener().lobby.status(),
                Status::Waiting { .. } | Status::Choosing { .. }
            )
    }) {
        assert!(
            std::time::Instant::now() < deadline,
            "the bots did not finish a game"
        );
        server.pump_timeout(Duration::from_millis(2));
        for bot in &mut bots {
            bot.pump();
        }
    }
    let mut names: Vec<String> = bots
        .iter()
        .map(|b| b.listener().lobby.name().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["ann", "ann2"]);
    for bot in &bots {
        assert_eq!(bot.listener().kind.as_deref(), Some("cards"));
    }
    drop(bots);
    server.shutdown("test over");
}

/// The lobby's figures reach the server's `/metrics` text at every pump.
#[tokio::test]
async fn a_pumped_lobby_publishes_its_figures() {
    let (addr_tx, addr_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let (metrics_tx, metrics_rx) = mpsc::channel::<String>();
    let game_loop = std::thread::spawn(move || {
        let mut server =
            LobbyServer::<Talk>::start_background("127.0.0.1:0", LobbyConfig::new(2), ()).unwrap();
        addr_tx.send(server.local_addr()).unwrap();
        while stop_rx.try_recv().is_err() {
            server.pump_timeout(Duration::from_millis(5));
            let _ = metrics_tx.send(server.handle().metrics_text("podnet"));
        }
        server.shutdown("over");
    });
    let addr = addr_rx.recv_timeout(common::WAIT).unwrap();
    let mut waiting = Peer::connect(addr).await;
    waiting.login("solo").await;
    // The game loop publishes after each pump: the next texts show the waiting player.
    let deadline = std::time::Instant::now() + common::WAIT;
    loop {
        let text = metrics_rx.recv_timeout(common::WAIT).unwrap();
        if text.contains("podnet_game_lobby_waiting 1.0")
            && text.contains("podnet_game_lobby_names 1.0")
            && text.contains("podnet_game_lobby_sessions 0.0")
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{text}");
    }
    stop_tx.send(()).unwrap();
    drop(waiting);
    tokio::task::spawn_blocking(move || game_loop.join().unwrap())
        .await
        .unwrap();
}

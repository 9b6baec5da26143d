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

//! The lobby's behaviour, one test per rule (numbered as in docs/lobby.md), over real
//! connections to a lobby run by `podnet_lobby::run` (async). `sync.rs` runs the same
//! pipeline under `pump()`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use podnet_transport::WithAction;
use std::time::{Duration, Instant};

use common::{Away, Boom, Finish, Left, Peer, Said, Say, Served, pair_in_game, peer_reason};
use podnet_lobby::LobbyConfig;
use podnet_lobby::protocol::{
    Choose, ChooseGame, GameOver, LobbyError, LobbyUpdate, LoginRefused, Welcome,
};
use podnet_testkit::{Cut, Proxy};
use tokio::io::AsyncWriteExt;

fn refused(msg: &podnet_framing::RawMessage) -> LoginRefused {
    assert_eq!(msg.action(), "login_refused");
    msg.decode().unwrap()
}

/// 1. A free name is accepted; a taken one (held by a waiting or a playing player, in any
/// case) is refused with a reason, and the client retries on the same connection.
#[tokio::test]
async fn taken_names_are_refused_and_the_client_may_retry() {
    let served = Served::start(LobbyConfig::new(2)).await;
    let mut alice = Peer::connect(served.addr).await;
    assert_eq!(alice.login("alice").await.name, "alice");

    let mut other = Peer::connect(served.addr).await;
    other.login_as("alice");
    let no = refused(&other.next().await);
    assert_eq!(
        (no.name.as_str(), no.reason.as_str()),
        ("alice", "the name is taken")
    );
    other.login_as("ALICE");
    assert_eq!(refused(&other.next().await).reason, "the name is taken");
    // Same connection, a free name: welcomed, and grouped with alice.
    assert_eq!(other.login("bob").await.name, "bob");
    alice.game_start().await;
    other.game_start().await;

    // Names held by players in a game are taken too.
    let mut third = Peer::connect(served.addr).await;
    third.login_as("bob");
    assert_eq!(refused(&third.next().await).reason, "the name is taken");
    assert_eq!(third.login("carol").await.name, "carol");
}

/// 2. Logins are independent: a silent client delays no one, and is closed with a reason
/// at the login deadline, as is one that only fails to log in.
#[tokio::test]
async fn a_silent_client_delays_no_one_and_is_closed_at_the_deadline() {
    let timeout = Duration::from_millis(300);
    let served = Served::start(LobbyConfig::new(3).with_login_timeout(timeout)).await;
    let started = Instant::now();
    let mut silent = Peer::connect(served.addr).await;
    let mut failing = Peer::connect(served.addr).await;
    failing.login_as("");

    let mut quick = Peer::connect(served.addr).await;
    quick.login("quick").await;
    let welcomed_after = started.elapsed();
    assert!(
        welcomed_after < timeout,
        "the silent client held up a login for {welcomed_after:?}"
    );

    for peer in [&mut silent, &mut failing] {
        let reason = peer.closed().await;
        assert_eq!(peer_reason(&reason), "no login within 300ms");
    }
    assert!(started.elapsed() >= timeout);
    // The logged-in player is not affected by the deadline.
    quick.send(&Say {
        text: "still here".into(),
    });
    let reply: LobbyError = quick
        .expect_skipping_updates("lobby_error")
        .await
        .decode()
        .unwrap();
    assert!(
        reply.reason.contains("waiting for a group of 3"),
        "{}",
        reply.reason
    );
}

/// 3. A name is freed whenever its holder disconnects, at any stage; empty, blank,
/// over-long and control-character names are refused.
#[tokio::test]
async fn names_are_freed_on_disconnect_and_bad_names_refused() {
    let served = Served::start(LobbyConfig::new(2)).await;

    // Waiting.
    let mut waiting = Peer::connect(served.addr).await;
    waiting.login("dora").await;
    waiting.client.close("bye");
    waiting.closed().await;
    let mut again = Peer::connect(served.addr).await;
    again.login("dora").await;

    // Playing: dora (again) is grouped with erin; erin leaves mid-game.
    let mut erin = Peer::connect(served.addr).await;
    erin.login("erin").await;
    again.game_start().await;
    erin.game_start().await;
    drop(erin);
    let mut next = Peer::connect(served.addr).await;
    next.login_once_free("erin").await;

    // Bad names.
    let mut bad = Peer::connect(served.addr).await;
    for (name, reason) in [
        ("", "the name is empty"),
        ("   ", "the name is empty"),
        ("abcdefghijklmnopq", "the name is longer than 16 characters"),
        ("tab\there", "the name has control characters"),
    ] {
        bad.login_as(name);
        assert_eq!(refused(&bad.next().await).reason, reason, "{name:?}");
    }
}

/// 4. Bad input never crashes anything: an unknown action, a login without a name, an
/// undecodable frame each get an error reply and the connection goes on; a frame over the
/// limit closes that connection and frees its name.
#[tokio::test]
async fn bad_input_gets_an_error_reply_or_a_close() {
    let served = Served::start(LobbyConfig::new(2)).await;
    let mut peer = Peer::connect(served.addr).await;

    peer.client.send(&WithAction("dance", &())).unwrap();
    let error: LobbyError = peer.expect("lobby_error").await.decode().unwrap();
    assert!(error.reason.contains("log in first"), "{}", error.reason);

    peer.client.send(&WithAction("login", &())).unwrap();
    assert!(refused(&peer.next().await).reason.contains("needs a name"));

    // An undecodable frame, from a raw socket: a lobby_error, then login still works.
    let mut raw = tokio::net::TcpStream::connect(served.addr).await.unwrap();
    raw.write_all(b"\x00\x00\x00\x03\x93\x01\x02")
        .await
        .unwrap(); // [1, 2]: not a map
    let login = b"\x82\xa6action\xa5login\xa4name\xa3raw";
    raw.write_all(&(login.len() as u32).to_be_bytes())
        .await
        .unwrap();
    raw.write_all(login).await.unwrap();
    let mut seen = Vec::new();
    read_actions(&mut raw, &mut seen, "welcome").await;
    assert!(seen.contains(&"lobby_error".to_string()), "{seen:?}");

    // A frame announcing 4 GiB: that connection is closed, and its name freed.
    raw.write_all(&[0xff, 0xff, 0xff, 0xff]).await.unwrap();
    read_actions(&mut raw, &mut seen, "podnet:close").await;
    drop(raw);
    peer.login_once_free("raw").await;

    // In a session: an unknown action and a message that does not fit its type.
    let mut partner = Peer::connect(served.addr).await;
    partner.login("partner").await;
    peer.game_start().await;
    partner.game_start().await;
    peer.client.send(&WithAction("dance", &())).unwrap();
    let error: LobbyError = peer.expect("lobby_error").await.decode().unwrap();
    assert!(
        error.reason.contains("no \"dance\" action"),
        "{}",
        error.reason
    );
    peer.client
        .send(&WithAction(
            "say",
            &std::collections::HashMap::from([("text", 5)]),
        ))
        .unwrap();
    let error: LobbyError = peer.expect("lobby_error").await.decode().unwrap();
    assert!(error.reason.contains("does not fit"), "{}", error.reason);
    // The session goes on.
    peer.send(&Say { text: "ok".into() });
    assert_eq!(
        partner.expect("said").await.decode::<Said>().unwrap().text,
        "ok"
    );
}

/// Reads frames from a raw socket, noting their actions, until one is `until`.
async fn read_actions(raw: &mut tokio::net::TcpStream, seen: &mut Vec<String>, until: &str) {
    use tokio::io::AsyncReadExt;
    use tokio_util_codec::Decoder;
    let config = podnet_framing::FramingConfig::default();
    let mut codec = podnet_framing::FrameCodec::new(&config);
    let mut buf = bytes_mut();
    tokio::time::timeout(common::WAIT, async {
        loop {
            while let Some(payload) = codec.decode(&mut buf).unwrap() {
                let msg = podnet_framing::RawMessage::parse(payload, &config).unwrap();
                seen.push(msg.action().to_owned());
                if msg.action() == until {
                    return;
                }
            }
            assert!(
                raw.read_buf(&mut buf).await.unwrap() > 0,
                "closed; saw {seen:?}"
            );
        }
    })
    .await
    .expect("the expected message within the timeout");
}

mod tokio_util_codec {
    pub(crate) use tokio_util::codec::Decoder;
}

fn bytes_mut() -> bytes::BytesMut {
    bytes::BytesMut::new()
}

/// 5. Every waiting player is welcomed (with who is waiting) and sees lobby updates as
/// players come and go.
#[tokio::test]
async fn waiting_players_are_welcomed_and_see_updates() {
    let served = Served::start(LobbyConfig::new(3)).await;
    let mut ann = Peer::connect(served.addr).await;
    let welcome = ann.login("ann").await;
    assert_eq!(
        (welcome.group_size, welcome.waiting),
        (3, vec!["ann".to_string()])
    );
    let _: LobbyUpdate = ann.expect("lobby").await.decode().unwrap();

    let mut ben = Peer::connect(served.addr).await;
    assert_eq!(ben.login("ben").await.waiting, ["ann", "ben"]);
    let update: LobbyUpdate = ann.expect("lobby").await.decode().unwrap();
    assert_eq!(update.waiting, ["ann", "ben"]);

    ben.client.close("bye");
    ben.closed().await;
    let update: LobbyUpdate = ann.expect("lobby").await.decode().unwrap();
    assert_eq!(
        (update.waiting, update.group_size),
        (vec!["ann".to_string()], 3)
    );
}

/// 6. Every N waiting players form exactly one group, in join order; a waiting player who
/// leaves is never grouped, even one who was sending messages.
#[tokio::test]
async fn groups_form_in_join_order_and_leavers_are_never_grouped() {
    let served = Served::start(LobbyConfig::new(3)).await;
    let mut a = Peer::connect(served.addr).await;
    a.login("a").await;
    let mut b = Peer::connect(served.addr).await;
    b.login("b").await;
    for _ in 0..3 {
        b.send(&Say {
            text: "anyone?".into(),
        });
        b.expect_skipping_updates("lobby_error").await;
    }
    b.client.close("gone");
    b.closed().await;
    // a hears that b left before anyone else joins.
    loop {
        let update: LobbyUpdate = a.expect("lobby").await.decode().unwrap();
        if update.waiting == ["a"] {
            break;
        }
    }

    let mut rest = Vec::new();
    for name in ["c", "d", "e", "f", "g"] {
        let mut peer = Peer::connect(served.addr).await;
        peer.login(name).await;
        rest.push(peer);
    }
    let start = a.game_start().await;
    assert_eq!(start.players, ["a", "c", "d"]);
    assert_eq!(start.seat, 0);
    let mut sessions = vec![start.session];
    for (i, peer) in rest.iter_mut().enumerate().take(4) {
        let start = peer.game_start().await;
        sessions.push(start.session);
        if i < 2 {
            assert_eq!(start.players, ["a", "c", "d"]);
            assert_eq!(start.seat, i + 1);
        } else {
            assert_eq!(start.players, ["e", "f", "g"]);
        }
    }
    let g = &mut rest[4];
    let start = g.game_start().await;
    assert_eq!((start.players.len(), start.seat), (3, 2));
    assert_eq!(sessions[..3], [sessions[0]; 3]);
    assert_ne!(sessions[0], start.session);
}

/// 7. Each group's session runs at the same time as the others, with its own state: lines
/// said in one are neither counted nor heard in the other.
#[tokio::test]
async fn sessions_run_side_by_side_with_their_own_state() {
    let served = Served::start(LobbyConfig::new(2)).await;
    let mut peers = Vec::new();
    for name in ["p1", "p2", "q1", "q2"] {
        let mut peer = Peer::connect(served.addr).await;
        peer.login(name).await;
        peers.push(peer);
    }
    for peer in &mut peers {
        peer.game_start().await;
    }
    let (p, q) = peers.split_at_mut(2);
    // Interleaved: p's session hears three lines, q's one.
    for i in 0..3 {
        p[0].send(&Say {
            text: format!("p{i}"),
        });
        if i == 1 {
            q[1].send(&Say { text: "q".into() });
        }
    }
    for i in 0..3u32 {
        let said: Said = p[1].expect("said").await.decode().unwrap();
        assert_eq!(
            (said.text, said.lines, said.seat),
            (format!("p{i}"), i + 1, 0)
        );
    }
    let said: Said = q[0].expect("said").await.decode().unwrap();
    assert_eq!((said.text.as_str(), said.lines, said.seat), ("q", 1, 1));
    // Ending q's session: q's count was its own.
    q[1].expect("said").await; // its own line
    q[0].send(&Finish {});
    let over: GameOver = q[1].expect("game_over").await.decode().unwrap();
    assert_eq!(over.result, "q1 finished after 1 lines");
    // p's session is still running: p1 heard its own three lines, then this one.
    p[1].send(&Say {
        text: "still on".into(),
    });
    for lines in 1..=4 {
        let said: Said = p[0].expect("said").await.decode().unwrap();
        assert_eq!(said.lines, lines);
    }
}

/// 8. When a session ends, the players still connected go back to the lobby with their
/// names, are welcomed again, and are grouped again.
#[tokio::test]
async fn players_go_back_to_the_lobby_and_play_again() {
    let served = Served::start(LobbyConfig::new(2)).await;
    let (mut x, mut y, first) = pair_in_game(served.addr, ["x", "y"]).await;

    x.send(&Finish {});
    for peer in [&mut x, &mut y] {
        let over: GameOver = peer.expect("game_over").await.decode().unwrap();
        assert_eq!(
            (over.session, over.result.as_str()),
            (first, "x finished after 0 lines")
        );
        let welcome: Welcome = peer.expect("welcome").await.decode().unwrap();
        assert!(["x", "y"].contains(&welcome.name.as_str()));
    }
    let second = x.game_start().await;
    assert_ne!(second.session, first);
    assert_eq!(second.players, ["x", "y"]);
    y.game_start().await;

    // A player whose partner left mid-game still goes back when the game ends.
    y.client.close("gone");
    y.closed().await;
    x.send(&Finish {});
    // The game tells x that y left, if y's leave reaches the lobby before x's finish.
    let mut msg = x.next().await;
    if msg.action() == "left" {
        msg = x.next().await;
    }
    assert_eq!(msg.action(), "game_over");
    let welcome: Welcome = x.expect("welcome").await.decode().unwrap();
    assert_eq!(welcome.waiting, ["x"]);
}

/// 9a. Shutdown: no new connections; waiting and logging-in players are told the reason;
/// a running session finishes, then its players are told the reason too.
#[tokio::test]
async fn shutdown_lets_sessions_finish_and_tells_everyone_why() {
    let mut served = Served::start(LobbyConfig::new(2)).await;
    let (mut a, mut b, _) = pair_in_game(served.addr, ["a", "b"]).await;
    let mut waiting = Peer::connect(served.addr).await;
    waiting.login("waiting").await;
    let mut anonymous = Peer::connect(served.addr).await;

    served.shut_down("maintenance");
    for peer in [&mut waiting, &mut anonymous] {
        assert_eq!(peer_reason(&peer.closed().await), "maintenance");
    }
    // New connections are refused, or closed before they are served.
    if let Ok((_, mut events)) =
        podnet_transport::Client::connect(served.addr, Default::default()).await
    {
        let closed = tokio::time::timeout(common::WAIT, async {
            while let Some(event) = events.recv().await {
                if let podnet_transport::ClientEvent::Disconnected(_) = event {
                    return;
                }
                assert!(
                    !matches!(&event, podnet_transport::ClientEvent::Message(m) if m.action() == "login_required"),
                    "a new client was served during the shutdown"
                );
            }
        });
        closed.await.expect("a new client is closed");
    }
    // The session goes on, then ends; its players are closed with the reason.
    a.send(&Say {
        text: "last words".into(),
    });
    a.expect("said").await;
    b.expect("said").await;
    b.send(&Finish {});
    for peer in [&mut a, &mut b] {
        peer.expect("game_over").await;
        assert_eq!(peer_reason(&peer.closed().await), "maintenance");
    }
    served.finished().await;
}

/// 9b. A session that does not finish within the grace is cut; the shutdown never hangs.
#[tokio::test]
async fn shutdown_cuts_sessions_after_the_grace() {
    let grace = Duration::from_millis(200);
    let mut served = Served::start(LobbyConfig::new(2).with_session_grace(grace)).await;
    let (mut a, mut b, _) = pair_in_game(served.addr, ["a", "b"]).await;

    let started = Instant::now();
    served.shut_down("closing time");
    for peer in [&mut a, &mut b] {
        assert_eq!(peer_reason(&peer.closed().await), "closing time");
    }
    assert!(started.elapsed() >= grace, "cut before the grace was over");
    served.finished().await;
}

/// 10. A game whose handler panics ends that session with "the game failed" (its players
/// go back to the lobby); the other sessions and the lobby go on.
#[tokio::test]
async fn a_panicking_game_ends_its_session_and_the_others_play_on() {
    let served = Served::start(LobbyConfig::new(2)).await;
    let (mut a, mut b, broken) = pair_in_game(served.addr, ["a", "b"]).await;
    let (c, mut d, _) = pair_in_game(served.addr, ["c", "d"]).await;
    a.send(&Boom {});
    for peer in [&mut a, &mut b] {
        let over: GameOver = peer.expect("game_over").await.decode().unwrap();
        assert_eq!(
            (over.session, over.result.as_str()),
            (broken, "the game failed")
        );
        peer.expect("welcome").await;
    }
    c.send(&Say {
        text: "fine".into(),
    });
    let said: Said = d.expect("said").await.decode().unwrap();
    assert_eq!(said.text, "fine");
    // The players of the failed game are grouped again and play.
    let again = a.game_start().await;
    assert_ne!(again.session, broken);
    b.game_start().await;
}

/// 11. With several kinds of game, a new group votes: most votes win, a tie goes to the
/// kind listed first, a wrong choice gets an error naming the kinds, and the session
/// knows its kind.
#[tokio::test]
async fn groups_choose_their_kind_of_game() {
    let config = LobbyConfig::new(3).with_game_kinds(["dice", "cards"]);
    let served = Served::start(config).await;
    let mut peers = Vec::new();
    for name in ["a", "b", "c"] {
        let mut peer = Peer::connect(served.addr).await;
        peer.login(name).await;
        peers.push(peer);
    }
    for peer in &mut peers {
        let ask: ChooseGame = peer
            .expect_skipping_updates("choose_game")
            .await
            .decode()
            .unwrap();
        assert_eq!(ask.kinds, ["dice", "cards"]);
        assert_eq!(ask.players, ["a", "b", "c"]);
    }
    peers[0].send(&Choose {
        kind: "chess".into(),
    });
    let error: LobbyError = peers[0].expect("lobby_error").await.decode().unwrap();
    assert!(
        error.reason.contains("[\"dice\", \"cards\"]"),
        "{}",
        error.reason
    );
    peers[0].send(&Say { text: "hi".into() });
    let error: LobbyError = peers[0].expect("lobby_error").await.decode().unwrap();
    assert!(
        error.reason.contains("choosing its game"),
        "{}",
        error.reason
    );

    // a changes their mind; cards wins two to one. Votes from different connections
    // reach the lobby in any order, so each voter's change is known to be in (its next
    // message's error reply came back) before c casts the last vote.
    for (i, kind) in [(0, "dice"), (1, "dice"), (0, "cards")] {
        peers[i].send(&Choose { kind: kind.into() });
    }
    for peer in &mut peers[..2] {
        peer.send(&Say {
            text: "barrier".into(),
        });
        peer.expect("lobby_error").await;
    }
    peers[2].send(&Choose {
        kind: "cards".into(),
    });
    for peer in &mut peers {
        assert_eq!(peer.game_start().await.kind, "cards");
    }
    peers[1].send(&Finish {});
    let over: GameOver = peers[0].expect("game_over").await.decode().unwrap();
    assert_eq!(over.result, "b finished after 0 lines of cards");
}

/// 11b. A group whose time to choose runs out plays what its votes say (a tie, or no
/// vote at all, goes to the first kind); a player who leaves while their group chooses
/// sends the others back to the front of the waiting room.
#[tokio::test]
async fn choosing_times_out_and_a_leaver_dissolves_the_group() {
    let config = LobbyConfig::new(2)
        .with_game_kinds(["dice", "cards"])
        .with_choose_timeout(Duration::from_millis(200));
    let served = Served::start(config).await;
    let (mut a, mut b) = (
        Peer::connect(served.addr).await,
        Peer::connect(served.addr).await,
    );
    a.login("a").await;
    b.login("b").await;
    a.expect_skipping_updates("choose_game").await;
    b.expect_skipping_updates("choose_game").await;
    a.send(&Choose {
        kind: "cards".into(),
    });
    b.send(&Choose {
        kind: "dice".into(),
    });
    // A tie: the first kind listed.
    assert_eq!(a.game_start().await.kind, "dice");
    assert_eq!(b.game_start().await.kind, "dice");

    let (mut c, mut d) = (
        Peer::connect(served.addr).await,
        Peer::connect(served.addr).await,
    );
    c.login("c").await;
    d.login("d").await;
    c.expect_skipping_updates("choose_game").await;
    d.expect_skipping_updates("choose_game").await;
    // Nobody votes: after the timeout, the first kind.
    assert_eq!(c.game_start().await.kind, "dice");
    d.game_start().await;

    let (mut e, mut f) = (
        Peer::connect(served.addr).await,
        Peer::connect(served.addr).await,
    );
    e.login("e").await;
    f.login("f").await;
    e.expect_skipping_updates("choose_game").await;
    f.expect_skipping_updates("choose_game").await;
    f.client.close("changed my mind");
    f.closed().await;
    let welcome: Welcome = e.expect_skipping_updates("welcome").await.decode().unwrap();
    assert_eq!(welcome.waiting, ["e"]);
    let mut g = Peer::connect(served.addr).await;
    g.login_once_free("f").await; // the leaver's name is free again
    let ask: ChooseGame = e
        .expect_skipping_updates("choose_game")
        .await
        .decode()
        .unwrap();
    assert_eq!(ask.players, ["e", "f"], "e first: back at the front");
}

/// 9c. A grace of `Duration::MAX` means "until they finish": the session is never cut,
/// and the shutdown completes when it ends.
#[tokio::test]
async fn a_grace_of_duration_max_lets_sessions_finish() {
    let mut served = Served::start(LobbyConfig::new(2).with_session_grace(Duration::MAX)).await;
    let (mut a, mut b, _) = pair_in_game(served.addr, ["a", "b"]).await;
    let mut waiting = Peer::connect(served.addr).await;
    waiting.login("waiting").await;
    served.shut_down("last game");
    assert_eq!(peer_reason(&waiting.closed().await), "last game");
    // Still playing after the shutdown began.
    a.send(&Say {
        text: "still on".into(),
    });
    b.expect("said").await;
    b.send(&Finish {});
    for peer in [&mut a, &mut b] {
        peer.expect_skipping_said("game_over").await;
        assert_eq!(peer_reason(&peer.closed().await), "last game");
    }
    served.finished().await;
}

/// A client that resumes quickly through the test proxy's cuts.
fn resuming_client() -> podnet_transport::ClientConfig {
    let mut config = podnet_transport::ClientConfig::default();
    let mut resume = podnet_transport::ResumeConfig::default();
    resume.initial_backoff = Duration::from_millis(5);
    resume.max_backoff = Duration::from_millis(50);
    config.resume = Some(resume);
    config
}

fn server_with_grace(grace: Duration) -> podnet_transport::ServerConfig {
    let mut config = podnet_transport::ServerConfig::default();
    config.resume.as_mut().unwrap().grace = grace;
    config
}

/// 10. A player whose connection drops mid-game keeps their seat and name: the game hears
/// `on_dropped` then `on_resumed`, what was said meanwhile reaches them once, and their
/// name stays taken.
#[tokio::test]
async fn a_dropped_player_keeps_their_seat_and_name() {
    let served = Served::start_with(
        LobbyConfig::new(2),
        server_with_grace(Duration::from_secs(30)),
    )
    .await;
    let proxy = Proxy::start(served.addr, 21).unwrap();
    let mut a = Peer::connect_with(proxy.addr(), resuming_client()).await;
    a.login("a").await;
    let mut b = Peer::connect(served.addr).await;
    b.login("b").await;
    let a_seat = a.game_start().await.seat;
    let session = b.game_start().await.session;

    proxy.cut(Cut::Both);
    let away: Away = b.expect("away").await.decode().unwrap();
    assert_eq!(
        away,
        Away {
            seat: a_seat,
            away: true
        }
    );
    // Said while a is away: kept for a.
    b.send(&Say {
        text: "are you there?".into(),
    });
    let back: Away = b.expect_skipping_said("away").await.decode().unwrap();
    assert_eq!(
        back,
        Away {
            seat: a_seat,
            away: false
        }
    );

    // a gets, once and in order: its own away notice (sent while it was away), the line,
    // and its return.
    let got: Away = a.expect("away").await.decode().unwrap();
    assert!(got.away);
    let said: Said = a.expect("said").await.decode().unwrap();
    assert_eq!((said.text.as_str(), said.lines), ("are you there?", 1));
    let got: Away = a.expect("away").await.decode().unwrap();
    assert!(!got.away);

    // Same seat, same session: its lines go on counting.
    a.send(&Say {
        text: "back".into(),
    });
    let said: Said = b.expect_skipping_said_until("back").await;
    assert_eq!((said.seat, said.lines), (a_seat, 2));
    // The name is still a's.
    let mut other = Peer::connect(served.addr).await;
    other.login_as("a");
    assert_eq!(refused(&other.next().await).reason, "the name is taken");
    b.send(&Finish {});
    let over: GameOver = a.expect_skipping_said("game_over").await.decode().unwrap();
    assert_eq!(over.session, session);
}

/// 10. A dropped player who does not come back within the grace leaves once: `on_leave`,
/// and the name is free again.
#[tokio::test]
async fn a_dropped_player_who_does_not_return_leaves_once() {
    let served = Served::start_with(
        LobbyConfig::new(2),
        server_with_grace(Duration::from_millis(200)),
    )
    .await;
    let proxy = Proxy::start(served.addr, 22).unwrap();
    let mut a = Peer::connect_with(proxy.addr(), resuming_client()).await;
    a.login("a").await;
    let mut b = Peer::connect(served.addr).await;
    b.login("b").await;
    let a_seat = a.game_start().await.seat;
    b.game_start().await;

    // The proxy goes: a's attempts to come back find nothing.
    drop(proxy);
    let away: Away = b.expect("away").await.decode().unwrap();
    assert_eq!(
        away,
        Away {
            seat: a_seat,
            away: true
        }
    );
    let left: Left = b.expect("left").await.decode().unwrap();
    assert_eq!((left.seat, left.name.as_str()), (a_seat, "a"));
    // Free again, and nothing more about a reaches b.
    let mut again = Peer::connect(served.addr).await;
    again.login_once_free("a").await;
    b.send(&Say {
        text: "alone".into(),
    });
    let said: Said = b.expect("said").await.decode().unwrap();
    assert_eq!(said.text, "alone");
}

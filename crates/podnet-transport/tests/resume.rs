//! Sessions that survive dropped connections, through a fault-injecting proxy on loopback:
//! exactly once and in order across cuts, grace expiry, a restarted server, and tokens
//! that are not the session's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use podnet_transport::WithAction;
use std::sync::Arc;
use std::time::Duration;

use common::{Echo, RawPeer, WAIT};
use podnet_testkit::{Cut, Proxy};
use podnet_transport::{
    Client, ClientConfig, ClientEvent, ConnectionId, DisconnectReason, EventStream, Frame,
    ResumeConfig, Server, ServerConfig, ServerEvent,
};

/// A client that comes back fast, and notices a silent server within half a second.
fn quick_client() -> ClientConfig {
    let mut config = ClientConfig::default();
    let mut resume = ResumeConfig::default();
    resume.initial_backoff = Duration::from_millis(5);
    resume.max_backoff = Duration::from_millis(50);
    resume.max_attempts = 50;
    config.resume = Some(resume);
    config.connection.liveness.heartbeat_interval = Some(Duration::from_millis(100));
    config.connection.liveness.heartbeat_timeout = Duration::from_millis(500);
    config
}

fn server_config(grace: Duration) -> ServerConfig {
    let mut config = ServerConfig::default();
    config.resume.as_mut().unwrap().grace = grace;
    config
}

/// Waits until the client has the server's greeting: past the handshake, so the session
/// is resumable on both sides.
async fn greeted(events: &mut EventStream<ClientEvent>) {
    let msg = common::next_client_message(events).await;
    assert_eq!(msg.action(), "connected");
}

async fn connected(events: &mut EventStream<ServerEvent>) -> ConnectionId {
    match common::next_server_event(events).await {
        ServerEvent::Connected { id, .. } => id,
        other => panic!("expected a connection, got {other:?}"),
    }
}

/// 100,000 messages each way while the proxy cuts the connection 20 times (both sides
/// reset, or one side reset and the other left silent), wherever the bytes are: each side
/// receives every message of the other exactly once, in order, and the session is the
/// same throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_thousand_each_way_through_twenty_cuts() {
    common::trace();
    const N: u64 = 100_000;
    const CUTS: u64 = 20;
    let (server, mut server_events) =
        Server::bind("127.0.0.1:0", server_config(Duration::from_secs(30)))
            .await
            .unwrap();
    let server = Arc::new(server);
    let proxy = Proxy::start(server.local_addr(), 7).unwrap();
    let (client, mut client_events) = Client::connect(proxy.addr(), quick_client()).await.unwrap();
    let client = Arc::new(client);
    let id = connected(&mut server_events).await;

    // The traffic goes in CUTS + 1 stretches: each side sends stretch s once s cuts were
    // made and resumed, and cut c is made when half of stretch c has arrived. So every
    // cut lands in the middle of the traffic, however fast it flows (with no pacing, a
    // fast run could deliver everything before the cuts were spread over it).
    const STRETCH: u64 = N / (CUTS + 1);
    let stretch = |n: u64| (n / STRETCH).min(CUTS);
    let (gate, opened) = tokio::sync::watch::channel(0u64);
    let to_client = tokio::spawn({
        let server = server.clone();
        let mut opened = opened.clone();
        async move {
            for n in 0..N {
                opened.wait_for(|open| *open >= stretch(n)).await.unwrap();
                let frame = Frame::encode(&Echo { n }, server.framing()).unwrap();
                server.send_wait(id, &frame).await.unwrap();
            }
        }
    });
    let to_server = tokio::spawn({
        let client = client.clone();
        let mut opened = opened.clone();
        async move {
            for n in 0..N {
                opened.wait_for(|open| *open >= stretch(n)).await.unwrap();
                let frame = Frame::encode(&Echo { n }, client.framing()).unwrap();
                client.send_wait(&frame).await.unwrap();
            }
        }
    });

    let (mut at_server, mut at_client) = (0u64, 0u64);
    let (mut cuts, mut dropped, mut resumed, mut reconnecting, mut client_resumed) =
        (0u64, 0, 0, 0, 0);
    let modes = [Cut::Both, Cut::ClientSide, Cut::ServerSide];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while at_server < N || at_client < N || resumed < cuts || client_resumed < cuts {
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => panic!(
                "stuck: server has {at_server}, client {at_client}, {cuts} cuts, \
                 {resumed} resumed on the server, {client_resumed} on the client"
            ),
            event = server_events.recv() => match event.unwrap() {
                ServerEvent::Message { id: from, message } => {
                    assert_eq!(from, id, "the same session throughout");
                    assert_eq!(message.decode::<Echo>().unwrap().n, at_server, "in order, once");
                    at_server += 1;
                }
                ServerEvent::Dropped { id: from, .. } => {
                    assert_eq!(from, id);
                    dropped += 1;
                }
                ServerEvent::Resumed { id: from } => {
                    assert_eq!(from, id);
                    resumed += 1;
                }
                other => panic!("unexpected on the server: {other:?}"),
            },
            event = client_events.recv() => match event.unwrap() {
                ClientEvent::Message(message) => {
                    if message.action() == "connected" {
                        continue;
                    }
                    assert_eq!(message.decode::<Echo>().unwrap().n, at_client, "in order, once");
                    at_client += 1;
                }
                ClientEvent::Reconnecting { .. } => reconnecting += 1,
                ClientEvent::Resumed => client_resumed += 1,
                ClientEvent::SocketConnect { .. } | ClientEvent::Handshake(_) => {}
                other => panic!("unexpected on the client: {other:?}"),
            },
        }
        // Cut halfway through each stretch, once the last cut was resumed on both sides;
        // then the next stretch may go.
        let progress = at_server + at_client;
        let settled = resumed == cuts && client_resumed == cuts;
        if settled && *gate.borrow() < cuts {
            gate.send_replace(cuts);
        }
        if cuts < CUTS && settled && progress >= (2 * cuts + 1) * STRETCH {
            proxy.cut(modes[usize::try_from(cuts).unwrap() % modes.len()]);
            cuts += 1;
        }
    }
    to_client.await.unwrap();
    to_server.await.unwrap();
    assert_eq!((at_server, at_client), (N, N));
    assert_eq!(cuts, CUTS);
    assert_eq!((dropped, resumed, client_resumed), (CUTS, CUTS, CUTS));
    assert!(reconnecting >= CUTS);
    let info = server.connection_info(id).unwrap();
    assert!(info.resumable);
    client.close("done");
    loop {
        match common::next_server_event(&mut server_events).await {
            ServerEvent::Disconnected { id: from, reason } => {
                assert_eq!(from, id);
                assert_eq!(
                    reason,
                    DisconnectReason::PeerClosed {
                        reason: Some("done".into())
                    }
                );
                break;
            }
            ServerEvent::Message { .. } => panic!("nothing more was sent"),
            _ => {}
        }
    }
}

/// A session whose client does not come back ends once the grace runs out: `Dropped`,
/// then one `Disconnected` with `NotResumed`; sending to it meanwhile is kept, not refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grace_expiry_ends_the_session_once() {
    common::trace();
    let grace = Duration::from_millis(300);
    let (server, mut events) = Server::bind("127.0.0.1:0", server_config(grace))
        .await
        .unwrap();
    let proxy = Proxy::start(server.local_addr(), 3).unwrap();
    let mut config = quick_client();
    config.resume.as_mut().unwrap().max_attempts = 1;
    config.resume.as_mut().unwrap().initial_backoff = Duration::from_secs(1);
    config.resume.as_mut().unwrap().max_backoff = Duration::from_secs(1);
    let (client, mut client_events) = Client::connect(proxy.addr(), config).await.unwrap();
    let id = connected(&mut events).await;
    greeted(&mut client_events).await;
    proxy.cut(Cut::Both);
    let started = tokio::time::Instant::now();
    match common::next_server_event(&mut events).await {
        ServerEvent::Dropped { id: from, .. } => assert_eq!(from, id),
        other => panic!("expected Dropped, got {other:?}"),
    }
    // Kept for the player while it is away.
    let before = server.connection_info(id).unwrap().unacked_frames;
    server.send(id, &WithAction("state", &())).unwrap();
    assert_eq!(
        server.connection_info(id).unwrap().unacked_frames,
        before + 1
    );
    match common::next_server_event(&mut events).await {
        ServerEvent::Disconnected { id: from, reason } => {
            assert_eq!(from, id);
            assert!(
                matches!(reason, DisconnectReason::NotResumed { .. }),
                "{reason}"
            );
            assert!(started.elapsed() >= grace);
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
    assert!(server.connection_ids().is_empty());
    assert!(server.send(id, &WithAction("state", &())).is_err());
    // The client, its one attempt refused (the session is gone), gives up once.
    drop(proxy);
    let reason = loop {
        match common::next_client_event(&mut client_events).await {
            ClientEvent::Disconnected(reason) => break reason,
            ClientEvent::Message(_) | ClientEvent::Reconnecting { .. } => {}
            ClientEvent::SocketConnect { .. } | ClientEvent::Handshake(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    assert!(
        matches!(
            reason,
            DisconnectReason::NotResumed { .. } | DisconnectReason::ResumeRefused { .. }
        ),
        "{reason}"
    );
    drop(client);
    assert!(
        tokio::time::timeout(Duration::from_millis(200), events.recv())
            .await
            .is_err(),
        "no second Disconnected"
    );
}

/// A server restarted on the same port refuses the old session's resume with a reason
/// that says so, and the client reports it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_refuses_the_resume() {
    common::trace();
    let (server, mut events) = Server::bind("127.0.0.1:0", ServerConfig::default())
        .await
        .unwrap();
    let addr = server.local_addr();
    let proxy = Proxy::start(addr, 5).unwrap();
    let mut config = quick_client();
    config.resume.as_mut().unwrap().initial_backoff = Duration::from_millis(200);
    config.resume.as_mut().unwrap().max_backoff = Duration::from_millis(200);
    let (_client, mut client_events) = Client::connect(proxy.addr(), config).await.unwrap();
    connected(&mut events).await;
    // The server goes; another starts on the same port, before the client's first attempt.
    server.shutdown("restart", WAIT).await;
    drop(server);
    let (_restarted, _events) = Server::bind(addr, ServerConfig::default()).await.unwrap();
    let reason = loop {
        if let ClientEvent::Disconnected(reason) =
            common::next_client_event(&mut client_events).await
        {
            break reason;
        }
    };
    // A shutdown is a close, not a drop: the session ends with the server's reason.
    assert!(
        matches!(&reason, DisconnectReason::PeerClosed { reason: Some(r) } if r == "restart"),
        "{reason}"
    );

    // Now a drop, then a restart: the resume reaches a server that never gave the token.
    let (server, mut events) = Server::bind("127.0.0.1:0", ServerConfig::default())
        .await
        .unwrap();
    let addr = server.local_addr();
    let proxy = Proxy::start(addr, 6).unwrap();
    let mut config = quick_client();
    config.resume.as_mut().unwrap().initial_backoff = Duration::from_millis(300);
    config.resume.as_mut().unwrap().max_backoff = Duration::from_millis(300);
    let (_client, mut client_events) = Client::connect(proxy.addr(), config).await.unwrap();
    connected(&mut events).await;
    greeted(&mut client_events).await;
    proxy.cut(Cut::Both);
    match common::next_server_event(&mut events).await {
        ServerEvent::Dropped { .. } => {}
        other => panic!("expected Dropped, got {other:?}"),
    }
    // Stopped without telling anyone (the connection is gone already), and restarted.
    server.shutdown("restart", WAIT).await;
    drop(server);
    let (_restarted, _events) = Server::bind(addr, ServerConfig::default()).await.unwrap();
    let reason = loop {
        if let ClientEvent::Disconnected(reason) =
            common::next_client_event(&mut client_events).await
        {
            break reason;
        }
    };
    match reason {
        DisconnectReason::ResumeRefused { reason } => {
            assert!(reason.contains("before this server restarted"), "{reason}");
        }
        other => panic!("expected a refused resume, got {other}"),
    }
    drop(proxy);
}

/// A podnet client by hand: hello asking for resume (or resuming with `token`), and the
/// server's answer.
async fn raw_hello(
    addr: std::net::SocketAddr,
    token: Option<&str>,
    received: u64,
) -> (RawPeer, podnet_framing::RawMessage) {
    #[derive(serde::Serialize)]
    struct Hello<'a> {
        protocol: u32,
        #[serde(rename = "type")]
        conn_type: &'a str,
        resume: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        token: Option<&'a str>,
        received: u64,
    }
    let mut peer = RawPeer::connect(addr).await;
    peer.send(
        "podnet:hello",
        &Hello {
            protocol: podnet_transport::PROTOCOL_VERSION,
            conn_type: "classic",
            resume: token.is_none(),
            token,
            received,
        },
    )
    .await;
    let answer = tokio::time::timeout(WAIT, peer.recv())
        .await
        .unwrap()
        .unwrap();
    (peer, answer)
}

/// Resets `peer`'s connection (as a crashed client or a lost link does) and waits until
/// the server says the session `id` dropped.
async fn reset_until_dropped(
    peer: RawPeer,
    id: ConnectionId,
    events: &mut EventStream<ServerEvent>,
) {
    socket2::SockRef::from(&peer.stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(peer);
    match common::next_server_event(events).await {
        ServerEvent::Dropped { id: dropped, .. } => assert_eq!(dropped, id),
        other => panic!("expected Dropped, got {other:?}"),
    }
}

fn token_of(answer: &podnet_framing::RawMessage) -> String {
    assert_eq!(answer.action(), "podnet:hello");
    answer.to_value().unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A stale token (one a resume replaced, once the client used the new one) and a token
/// naming another session are refused with reasons that say so; neither session is
/// touched, and each one's own token still resumes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_and_foreign_tokens_are_refused() {
    common::trace();
    let (server, mut events) = Server::bind("127.0.0.1:0", ServerConfig::default())
        .await
        .unwrap();
    let addr = server.local_addr();
    let (a, hello_a) = raw_hello(addr, None, 0).await;
    let a_id = connected(&mut events).await;
    let (_b, hello_b) = raw_hello(addr, None, 0).await;
    let b_id = connected(&mut events).await;
    let (token_a, token_b) = (token_of(&hello_a), token_of(&hello_b));

    // A's connection drops; A resumes, then says something on the new connection (it has
    // the new token).
    reset_until_dropped(a, a_id, &mut events).await;
    // Received: the greeting.
    let (mut a, answer) = raw_hello(addr, Some(&token_a), 1).await;
    let value = answer.to_value().unwrap();
    assert_eq!(value["resumed"].as_bool(), Some(true), "{value:?}");
    let new_token_a = token_of(&answer);
    assert_ne!(new_token_a, token_a, "rotated");
    a.send("hi", &()).await;
    loop {
        match common::next_server_event(&mut events).await {
            ServerEvent::Resumed { id } => assert_eq!(id, a_id),
            ServerEvent::Message { id, message } => {
                assert_eq!((id, message.action()), (a_id, "hi"));
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    // The stale token: refused, A untouched.
    let (mut stale, answer) = raw_hello(addr, Some(&token_a), 1).await;
    let reason = common::close_reason(&answer).expect("a close");
    assert!(reason.starts_with("resume refused"), "{reason}");
    assert!(reason.contains("stale"), "{reason}");
    assert!(stale.recv_until_eof().await.is_empty());

    // B's id with A's secret: refused, B untouched.
    let foreign = format!("{}{}", &token_b[..32], &new_token_a[32..]);
    let (_foreign, answer) = raw_hello(addr, Some(&foreign), 1).await;
    let reason = common::close_reason(&answer).expect("a close");
    assert!(reason.contains("not this session's"), "{reason}");

    // Neither session noticed anything.
    assert_eq!(server.connection_ids(), vec![a_id, b_id]);
    a.send("still here", &()).await;
    match common::next_server_event(&mut events).await {
        ServerEvent::Message { id, message } => {
            assert_eq!((id, message.action()), (a_id, "still here"));
        }
        other => panic!("unexpected {other:?}"),
    }
    // A malformed token is refused too.
    let (_bad, answer) = raw_hello(addr, Some("zz"), 0).await;
    assert!(
        common::close_reason(&answer)
            .unwrap()
            .starts_with("resume refused")
    );
}

/// What is sent to a dropped session is kept up to `max_unacked_bytes`; past it the
/// session ends at once (slow consumer) with one `Disconnected`, rather than holding more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_session_keeps_a_bounded_amount() {
    common::trace();
    let mut config = ServerConfig::default();
    config.connection.max_unacked_bytes = 64 * 1024;
    let (server, mut events) = Server::bind("127.0.0.1:0", config).await.unwrap();
    let (peer, hello) = raw_hello(server.local_addr(), None, 0).await;
    token_of(&hello);
    let id = connected(&mut events).await;
    reset_until_dropped(peer, id, &mut events).await;
    let chunk = common::Say { from: 0, seq: 0 };
    let mut kept = 0usize;
    let refused = loop {
        match server.send(id, &chunk) {
            Ok(()) => kept += 1,
            Err(err) => break err,
        }
        assert!(kept < 100_000, "the session kept without bound");
    };
    assert!(
        matches!(refused, podnet_transport::SendError::QueueFull { .. }),
        "{refused:?}"
    );
    match common::next_server_event(&mut events).await {
        ServerEvent::Disconnected { id: ended, reason } => {
            assert_eq!(ended, id);
            assert!(
                matches!(reason, DisconnectReason::SlowConsumer { .. }),
                "{reason}"
            );
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(200), events.recv())
            .await
            .is_err(),
        "one Disconnected only"
    );
    assert!(server.connection_ids().is_empty());
}

/// A peer that acknowledges more than it was sent breaks the protocol: closed, saying so.
#[tokio::test]
async fn acknowledging_more_than_was_sent_closes() {
    let (server, mut events) = Server::bind("127.0.0.1:0", ServerConfig::default())
        .await
        .unwrap();
    let (mut peer, hello) = raw_hello(server.local_addr(), None, 0).await;
    token_of(&hello);
    connected(&mut events).await;
    #[derive(serde::Serialize)]
    struct Ack {
        n: u64,
    }
    peer.send("podnet:ack", &Ack { n: 1_000 }).await;
    let reason = loop {
        let msg = tokio::time::timeout(WAIT, peer.recv())
            .await
            .unwrap()
            .unwrap();
        if let Some(reason) = common::close_reason(&msg) {
            break reason;
        }
    };
    assert!(reason.contains("acknowledged 1000 messages"), "{reason}");
    match common::next_server_event(&mut events).await {
        ServerEvent::Disconnected { reason, .. } => {
            assert!(
                matches!(reason, DisconnectReason::Protocol { .. }),
                "{reason}"
            );
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
}

/// A client that closes while its connection is down resumes first (at once, not after
/// its backoff), so that what it sent before the close is delivered; then it closes with
/// its reason. The server sees the messages, then the close: never a drop that ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_while_away_delivers_what_was_sent_first() {
    common::trace();
    let (server, mut events) = Server::bind("127.0.0.1:0", server_config(Duration::from_secs(30)))
        .await
        .unwrap();
    let proxy = Proxy::start(server.local_addr(), 8).unwrap();
    let mut config = quick_client();
    // A long backoff: the close must not wait for it.
    config.resume.as_mut().unwrap().initial_backoff = Duration::from_secs(60);
    config.resume.as_mut().unwrap().max_backoff = Duration::from_secs(60);
    let (client, mut client_events) = Client::connect(proxy.addr(), config).await.unwrap();
    let id = connected(&mut events).await;
    greeted(&mut client_events).await;
    proxy.cut(Cut::Both);
    loop {
        if let ClientEvent::Reconnecting { .. } =
            common::next_client_event(&mut client_events).await
        {
            break;
        }
    }
    for seq in 0..10 {
        client.send(&common::Say { from: 1, seq }).unwrap();
    }
    client.close("bye");
    let mut seen = Vec::new();
    let reason = loop {
        match common::next_server_event(&mut events).await {
            ServerEvent::Message { id: from, message } => {
                assert_eq!(from, id);
                seen.push(message.decode::<common::Say>().unwrap().seq);
            }
            ServerEvent::Dropped { .. } | ServerEvent::Resumed { .. } => {}
            ServerEvent::Disconnected { id: from, reason } => {
                assert_eq!(from, id);
                break reason;
            }
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(seen, (0..10).collect::<Vec<_>>());
    assert!(
        matches!(&reason, DisconnectReason::PeerClosed { reason: Some(r) } if r == "bye"),
        "{reason}"
    );
    let ended = loop {
        if let ClientEvent::Disconnected(reason) =
            common::next_client_event(&mut client_events).await
        {
            break reason;
        }
    };
    assert!(matches!(ended, DisconnectReason::Closed { .. }), "{ended}");
}

/// A close while away whose resume is refused (the session ended meanwhile) ends at once
/// with the refusal, not after the close timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_while_away_with_no_session_left_ends_at_once() {
    common::trace();
    let (server, mut events) =
        Server::bind("127.0.0.1:0", server_config(Duration::from_millis(50)))
            .await
            .unwrap();
    let proxy = Proxy::start(server.local_addr(), 9).unwrap();
    let mut config = quick_client();
    config.resume.as_mut().unwrap().initial_backoff = Duration::from_secs(60);
    config.resume.as_mut().unwrap().max_backoff = Duration::from_secs(60);
    let close_timeout = Duration::from_secs(20);
    config.connection.close_timeout = close_timeout;
    let (client, mut client_events) = Client::connect(proxy.addr(), config).await.unwrap();
    connected(&mut events).await;
    greeted(&mut client_events).await;
    proxy.cut(Cut::Both);
    // The grace runs out on the server.
    loop {
        if let ServerEvent::Disconnected { .. } = common::next_server_event(&mut events).await {
            break;
        }
    }
    let started = tokio::time::Instant::now();
    client.close("bye");
    let reason = loop {
        if let ClientEvent::Disconnected(reason) =
            common::next_client_event(&mut client_events).await
        {
            break reason;
        }
    };
    assert!(
        matches!(reason, DisconnectReason::ResumeRefused { .. }),
        "{reason}"
    );
    assert!(
        started.elapsed() < close_timeout / 2,
        "the close waited {:?} for a resume that had been refused",
        started.elapsed()
    );
}

/// Resume attempts over the server's rate are told "resume busy", and a real client told
/// so tries again after its backoff and resumes once the rate allows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_attempts_over_the_rate_are_told_to_wait() {
    common::trace();
    let mut config = server_config(Duration::from_secs(30));
    config.resume.as_mut().unwrap().attempt_rate = podnet_transport::RateLimit::new(2, 1);
    let (server, mut events) = Server::bind("127.0.0.1:0", config).await.unwrap();
    let addr = server.local_addr();
    let proxy = Proxy::start(addr, 10).unwrap();
    let (_client, mut client_events) = Client::connect(proxy.addr(), quick_client()).await.unwrap();
    let id = connected(&mut events).await;
    greeted(&mut client_events).await;

    // A stranger spends the one attempt there is room for; the next is turned away.
    let bogus = format!("{:064x}", 1);
    let (_first, answer) = raw_hello(addr, Some(&bogus), 0).await;
    let reason = common::close_reason(&answer).unwrap();
    assert!(reason.starts_with("resume refused"), "{reason}");
    let (_second, answer) = raw_hello(addr, Some(&bogus), 0).await;
    assert_eq!(
        common::close_reason(&answer).unwrap(),
        podnet_transport::podnet_proto::RESUME_BUSY
    );

    // The real client's first attempt is as likely to be turned away; it keeps trying.
    proxy.cut(Cut::Both);
    loop {
        match common::next_client_event(&mut client_events).await {
            ClientEvent::Resumed => break,
            ClientEvent::Reconnecting { .. } | ClientEvent::Message(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(server.connection_ids(), vec![id]);
}

/// Clients that take a resumable session and drop it cannot lock players out: on a full
/// server a newcomer takes the slot of the session that has waited longest, which ends
/// (`NotResumed`), and whose resume is refused saying it was ended to make room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_sessions_make_room_for_newcomers() {
    common::trace();
    let mut config = ServerConfig::default();
    config.max_connections = 3;
    let (server, mut events) = Server::bind("127.0.0.1:0", config).await.unwrap();
    let addr = server.local_addr();
    let mut dropped = Vec::new();
    for _ in 0..3 {
        let (peer, hello) = raw_hello(addr, None, 0).await;
        let id = connected(&mut events).await;
        reset_until_dropped(peer, id, &mut events).await;
        dropped.push((id, token_of(&hello)));
    }
    // A player arrives at a server whose three slots are all held by dropped sessions.
    let (_player, mut player_events) = Client::connect(addr, ClientConfig::default())
        .await
        .unwrap();
    greeted(&mut player_events).await;
    let (mut newcomer, mut ended) = (None, None);
    while newcomer.is_none() || ended.is_none() {
        match common::next_server_event(&mut events).await {
            ServerEvent::Connected { id, .. } => newcomer = Some(id),
            ServerEvent::Disconnected { id, reason } => ended = Some((id, reason)),
            other => panic!("unexpected {other:?}"),
        }
    }
    let (ended, reason) = ended.unwrap();
    assert_eq!(ended, dropped[0].0, "the session that waited longest");
    assert!(
        matches!(&reason, DisconnectReason::NotResumed { after, .. } if after.contains("make room")),
        "{reason}"
    );
    // Its resume is refused, saying why. The attempt came over a connection of its own,
    // which needed a slot too: the next session in line made room for it.
    let (_late, answer) = raw_hello(addr, Some(&dropped[0].1), 1).await;
    let refusal = common::close_reason(&answer).expect("a close");
    assert!(refusal.contains("to make room"), "{refusal}");
    match common::next_server_event(&mut events).await {
        ServerEvent::Disconnected { id, reason } => {
            assert_eq!(id, dropped[1].0);
            assert!(
                matches!(reason, DisconnectReason::NotResumed { .. }),
                "{reason}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    let ids = server.connection_ids();
    assert!(
        ids.contains(&dropped[2].0),
        "the last one still waits: {ids:?}"
    );
    assert!(ids.contains(&newcomer.unwrap()));
}

/// An `info` answer counts a dropped session waiting for its resume as away, not as a
/// player; once it has resumed it is a player again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_tells_players_from_sessions_away() {
    common::trace();
    let (server, mut events) = Server::bind("127.0.0.1:0", ServerConfig::default())
        .await
        .unwrap();
    let addr = server.local_addr();
    let (_player, mut player_events) = Client::connect(addr, ClientConfig::default())
        .await
        .unwrap();
    greeted(&mut player_events).await;
    connected(&mut events).await;
    let (peer, hello) = raw_hello(addr, None, 0).await;
    let id = connected(&mut events).await;
    let info = podnet_transport::query_info(addr, ClientConfig::default())
        .await
        .unwrap();
    assert_eq!((info.players, info.away), (2, 0));
    reset_until_dropped(peer, id, &mut events).await;
    let info = podnet_transport::query_info(addr, ClientConfig::default())
        .await
        .unwrap();
    assert_eq!((info.players, info.away), (1, 1));
    let (_back, _answer) = raw_hello(addr, Some(&token_of(&hello)), 0).await;
    match common::next_server_event(&mut events).await {
        ServerEvent::Resumed { id: resumed, .. } => assert_eq!(resumed, id),
        other => panic!("expected Resumed, got {other:?}"),
    }
    let info = podnet_transport::query_info(addr, ClientConfig::default())
        .await
        .unwrap();
    assert_eq!((info.players, info.away), (2, 0));
}

/// A podnet client whose hello comes after the server settled its connection for its
/// silence (a lost packet, a busy machine) still gets the resumable session it asked for:
/// the answer to its hello grants it, and the session's frames are counted from there on
/// both sides (what went before the grant is not replayed after a drop).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_hello_still_gets_a_resumable_session_counted_from_its_grant() {
    #[derive(serde::Serialize)]
    struct Hello {
        protocol: u32,
        #[serde(rename = "type")]
        conn_type: &'static str,
        resume: bool,
    }
    let (server, mut events) = Server::bind("127.0.0.1:0", ServerConfig::default())
        .await
        .unwrap();
    let mut peer = RawPeer::connect(server.local_addr()).await;
    // Silent past `hello_wait`: a repod player, told so.
    let id = connected(&mut events).await;
    assert!(!server.connection_info(id).unwrap().podnet_peer);
    assert_eq!(peer.recv_greeting().await.unwrap().action(), "connected");
    server.send(id, &Echo { n: 1 }).unwrap();
    assert_eq!(peer.recv().await.unwrap().decode::<Echo>().unwrap().n, 1);

    peer.send(
        "podnet:hello",
        &Hello {
            protocol: podnet_transport::PROTOCOL_VERSION,
            conn_type: "classic",
            resume: true,
        },
    )
    .await;
    let grant = peer.recv().await.unwrap();
    let token = token_of(&grant);
    assert_eq!(
        grant.to_value().unwrap()["silent"],
        podnet_framing::Value::Nil
    );
    for n in [2, 3] {
        server.send(id, &Echo { n }).unwrap();
        assert_eq!(peer.recv().await.unwrap().decode::<Echo>().unwrap().n, n);
    }
    assert!(server.connection_info(id).unwrap().podnet_peer);

    // The link drops; the client had the session's first frame (2) of its two.
    reset_until_dropped(peer, id, &mut events).await;
    let (mut peer, answer) = raw_hello(server.local_addr(), Some(&token), 1).await;
    assert_eq!(
        answer.to_value().unwrap()["resumed"],
        podnet_framing::Value::from(true)
    );
    match common::next_server_event(&mut events).await {
        ServerEvent::Resumed { id: resumed } => assert_eq!(resumed, id),
        other => panic!("expected Resumed, got {other:?}"),
    }
    // Only 3 comes again: 1 went before the grant, 2 was received.
    server.send(id, &Echo { n: 4 }).unwrap();
    for n in [3, 4] {
        assert_eq!(peer.recv().await.unwrap().decode::<Echo>().unwrap().n, n);
    }
}

/// A resume that claims more of the session's messages than were ever sent (a forged or
/// broken client) is a protocol error: closed with a reason that says so, the session
/// ends with it, and the server goes on serving others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_claiming_more_than_was_sent_is_refused() {
    let (server, mut events) = Server::bind("127.0.0.1:0", ServerConfig::default())
        .await
        .unwrap();
    let (peer, hello) = raw_hello(server.local_addr(), None, 0).await;
    let token = token_of(&hello);
    let id = connected(&mut events).await;
    server.send(id, &Echo { n: 1 }).unwrap();
    reset_until_dropped(peer, id, &mut events).await;

    let (mut peer, answer) = raw_hello(server.local_addr(), Some(&token), 1_000_000).await;
    let reason = match common::close_reason(&answer) {
        Some(reason) => reason,
        None => loop {
            let msg = tokio::time::timeout(WAIT, peer.recv())
                .await
                .unwrap()
                .expect("a close before the end");
            if let Some(reason) = common::close_reason(&msg) {
                break reason;
            }
        },
    };
    assert!(reason.contains("1000000"), "{reason}");
    // Told why; its side closes, as a client's does.
    drop(peer);
    loop {
        match common::next_server_event(&mut events).await {
            ServerEvent::Disconnected { id: gone, reason } => {
                assert_eq!(gone, id);
                assert!(
                    matches!(reason, DisconnectReason::Protocol { .. }),
                    "{reason}"
                );
                break;
            }
            ServerEvent::Resumed { .. } | ServerEvent::Connected { .. } => {}
            other => panic!("expected the session to end, got {other:?}"),
        }
    }
    // Others are still served.
    let mut other = RawPeer::connect(server.local_addr()).await;
    other.send("echo", &Echo { n: 5 }).await;
    let ServerEvent::Connected { id: other_id, .. } = common::next_server_event(&mut events).await
    else {
        panic!("expected the newcomer");
    };
    server.send(other_id, &Echo { n: 6 }).unwrap();
    let back = other.recv_skipping_connected().await.unwrap();
    assert_eq!(back.decode::<Echo>().unwrap(), Echo { n: 6 });
}

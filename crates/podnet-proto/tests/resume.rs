//! Session resume on the state machines alone: a client and a server joined by a simulated
//! link that is cut at random moments, losing whatever was in flight. A minimal driver on
//! each side does what the tokio transport does (keeps what it sent until acknowledged,
//! sends it again after a resume); every message must arrive exactly once, in order.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use podnet_framing::{FramingConfig, RawMessage, encode_with_action};
use podnet_proto::{
    Action, ClientSettings, ClientSide, Connection, ConnectionId, DisconnectReason, Input,
    RESUME_REFUSED, ResumeSettings, ResumeToken, ServerSettings, ServerSide, Side, is_reserved,
};

mod common;
use common::end;

const MS: Duration = Duration::from_millis(1);

/// A tiny deterministic random source (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn app_frame(n: u64) -> Bytes {
    #[derive(serde::Serialize)]
    struct Num {
        n: u64,
    }
    let mut buf = BytesMut::new();
    encode_with_action("num", &Num { n }, &mut buf, &FramingConfig::default()).unwrap();
    buf.freeze()
}

fn parse(frame: &Bytes) -> RawMessage {
    RawMessage::parse(frame.slice(4..), &FramingConfig::default()).unwrap()
}

/// One side: its state machine plus what a driver keeps.
struct End<S: Side> {
    core: Connection<S>,
    /// Application frames sent on the session.
    sent: u64,
    /// Sent and not yet acknowledged, oldest first; the first is number `acked + 1`.
    kept: VecDeque<Bytes>,
    acked: u64,
    keeping: bool,
    token: Option<ResumeToken>,
    /// (Server.) The token before, good until the client confirms the new one.
    previous: Option<ResumeToken>,
    /// Whether application frames go on the link now (false while cut or resuming).
    linked: bool,
    /// The `n` of every `num` message received, in order.
    inbox: Vec<u64>,
    greetings: usize,
    resumed: usize,
}

impl<S: Side> End<S> {
    fn new(core: Connection<S>, keeping: bool) -> Self {
        Self {
            core,
            sent: 0,
            kept: VecDeque::new(),
            acked: 0,
            keeping,
            token: None,
            previous: None,
            linked: true,
            inbox: Vec::new(),
            greetings: 0,
            resumed: 0,
        }
    }

    /// The application sends message number `self.sent + 1`.
    fn send_app(&mut self, out: &mut VecDeque<Bytes>) {
        let frame = app_frame(self.sent + 1);
        self.send_message(frame, out);
    }

    fn send_message(&mut self, frame: Bytes, out: &mut VecDeque<Bytes>) {
        self.sent += 1;
        if self.keeping {
            self.kept.push_back(frame.clone());
        }
        if self.linked {
            out.push_back(frame);
        }
    }

    /// Carries out the state machine's actions; control frames go on `out`.
    fn drive(&mut self, out: &mut VecDeque<Bytes>) -> Vec<Action> {
        let mut others = Vec::new();
        while let Some(action) = self.core.poll() {
            match action {
                Action::Send(frame) => out.push_back(frame),
                Action::SendMessage(frame) => self.send_message(frame, out),
                Action::Resumable(token) => {
                    self.keeping = true;
                    self.previous = self.token.replace(token);
                }
                Action::Grant { token, hello } => {
                    out.push_back(hello);
                    self.keeping = true;
                    self.previous = self.token.replace(token);
                }
                Action::TokenConfirmed => self.previous = None,
                Action::NotResumable => {
                    self.keeping = false;
                    self.kept.clear();
                }
                Action::Acked(n) => {
                    assert!(n <= self.sent, "acked {n} of {} sent", self.sent);
                    while self.acked < n {
                        self.kept.pop_front();
                        self.acked += 1;
                    }
                }
                Action::Resumed { received } => {
                    assert!(received >= self.acked && received <= self.sent);
                    let skip = usize::try_from(received - self.acked).unwrap();
                    out.extend(self.kept.iter().skip(skip).cloned());
                    self.linked = true;
                    self.resumed += 1;
                }
                other => others.push(other),
            }
        }
        others
    }

    /// A frame arrives from the peer.
    fn receive(&mut self, frame: &Bytes, now: Instant) {
        let msg = parse(frame);
        self.core.handle(now, Input::Read);
        if is_reserved(msg.action()) {
            self.core.handle(now, Input::Control(&msg));
            return;
        }
        if self.core.needs_frames() {
            self.core.handle(now, Input::Frame);
        }
        match msg.action() {
            "num" => self
                .inbox
                .push(msg.to_value().unwrap()["n"].as_u64().unwrap()),
            "connected" => self.greetings += 1,
            other => panic!("unexpected {other}"),
        }
        self.core.handle(
            now,
            Input::Delivered {
                count: 1,
                bytes: frame.len(),
            },
        );
    }
}

fn resume_settings() -> ResumeSettings {
    let mut settings = ResumeSettings::default();
    settings.ack_every = 8;
    settings.ack_delay = 20 * MS;
    settings
}

fn server_settings() -> Arc<ServerSettings> {
    let mut settings = ServerSettings::default();
    settings.resume = Some(resume_settings());
    let mut buf = BytesMut::new();
    encode_with_action("connected", &(), &mut buf, &FramingConfig::default()).unwrap();
    settings.greeting = Some(buf.freeze());
    Arc::new(settings)
}

fn client_settings() -> Arc<ClientSettings> {
    let mut settings = ClientSettings::default();
    settings.resume = Some(resume_settings());
    Arc::new(settings)
}

/// A link between a client and a server, with a clock.
struct World {
    client: End<ClientSide>,
    server: End<ServerSide>,
    to_server: VecDeque<Bytes>,
    to_client: VecDeque<Bytes>,
    now: Instant,
    settings: Arc<ServerSettings>,
    /// Connections the server accepted, for ids.
    accepted: u64,
}

impl World {
    fn new() -> Self {
        let now = Instant::now();
        let settings = server_settings();
        let server = Connection::server(settings.clone(), now).with_id(ConnectionId::from_raw(1));
        let client = Connection::client(client_settings(), now);
        let mut world = Self {
            client: End::new(client, true),
            server: End::new(server, false),
            to_server: VecDeque::new(),
            to_client: VecDeque::new(),
            now,
            settings,
            accepted: 1,
        };
        world.settle();
        world
    }

    /// Runs both drivers until nothing is in flight and nothing is due.
    fn settle(&mut self) {
        loop {
            self.client.drive(&mut self.to_server);
            self.server.drive(&mut self.to_client);
            if self.to_server.is_empty() && self.to_client.is_empty() {
                return;
            }
            self.deliver(usize::MAX);
        }
    }

    /// Delivers up to `n` frames each way.
    fn deliver(&mut self, n: usize) {
        for _ in 0..n {
            let (a, b) = (self.to_server.pop_front(), self.to_client.pop_front());
            if a.is_none() && b.is_none() {
                return;
            }
            if let Some(frame) = a {
                self.server.receive(&frame, self.now);
                self.server.drive(&mut self.to_client);
            }
            if let Some(frame) = b {
                self.client.receive(&frame, self.now);
                self.client.drive(&mut self.to_server);
            }
        }
    }

    fn tick(&mut self, by: Duration) {
        self.now += by;
        fn due<S: Side>(core: &mut Connection<S>, now: Instant) {
            if core.poll_timeout().is_some_and(|at| at <= now) {
                core.handle_timeout(now);
            }
        }
        due(&mut self.client.core, self.now);
        due(&mut self.server.core, self.now);
        self.client.drive(&mut self.to_server);
        self.server.drive(&mut self.to_client);
    }

    /// The link drops: what was in flight is lost. Both sides keep the session.
    fn cut(&mut self) {
        self.to_server.clear();
        self.to_client.clear();
        assert!(self.client.core.survives_drop());
        assert!(self.server.core.survives_drop());
        self.client.linked = false;
        self.server.linked = false;
    }

    /// The client reconnects and resumes; returns the new server connection's actions
    /// when it did not hand over to the session (a refusal).
    fn reconnect(&mut self, token_override: Option<ResumeToken>) -> Option<Vec<Action>> {
        assert!(self.client.core.start_resume(self.now));
        let mut hello = VecDeque::new();
        self.client.drive(&mut hello);
        self.accepted += 1;
        let mut fresh = Connection::server(self.settings.clone(), self.now)
            .with_id(ConnectionId::from_raw(self.accepted));
        let mut hello_frame = hello.pop_front().unwrap();
        if let Some(token) = token_override {
            // Replace the token: re-encode the hello with another one.
            let value = parse(&hello_frame).to_value().unwrap();
            let received = value["received"].as_u64().unwrap();
            #[derive(serde::Serialize)]
            struct Hello {
                protocol: u32,
                #[serde(rename = "type")]
                conn_type: &'static str,
                token: String,
                received: u64,
            }
            let mut buf = BytesMut::new();
            encode_with_action(
                "podnet:hello",
                &Hello {
                    protocol: podnet_proto::PROTOCOL_VERSION,
                    conn_type: "classic",
                    token: token.to_wire(),
                    received,
                },
                &mut buf,
                &FramingConfig::default(),
            )
            .unwrap();
            hello_frame = buf.freeze();
        }
        fresh.handle(self.now, Input::Read);
        fresh.handle(self.now, Input::Control(&parse(&hello_frame)));
        let actions: Vec<Action> = std::iter::from_fn(|| fresh.poll()).collect();
        let Some((token, received)) = actions.iter().find_map(|a| match a {
            Action::Resume { token, received } => Some((token.clone(), *received)),
            _ => None,
        }) else {
            return Some(actions);
        };
        // What the transport checks: this instance, this session, this secret.
        let good =
            |ours: &ResumeToken| token.instance() == ours.instance() && token.same_secret(ours);
        if !(self.server.token.as_ref().is_some_and(good)
            || self.server.previous.as_ref().is_some_and(good))
        {
            fresh.refuse_resume("the token is not this session's");
            return Some(std::iter::from_fn(|| fresh.poll()).collect());
        }
        assert!(self.server.core.resume_link(self.now, received));
        self.server.drive(&mut self.to_client);
        None
    }
}

/// The handshake agrees on resume: both sides hold the same token, and the greeting is
/// counted like any message.
#[test]
fn resume_is_agreed_in_the_handshake() {
    let mut world = World::new();
    let (c, s) = (
        world.client.token.clone().unwrap(),
        world.server.token.clone().unwrap(),
    );
    assert!(c.same_secret(&s) && c.id() == ConnectionId::from_raw(1));
    assert_eq!(world.client.greetings, 1);
    assert_eq!(world.server.sent, 1);
    // The greeting is acknowledged after ack_delay.
    world.tick(25 * MS);
    world.settle();
    assert_eq!(world.server.acked, 1);
    assert!(world.server.kept.is_empty());
}

/// Acknowledgements come every `ack_every` messages, so what a sender keeps stays small.
#[test]
fn acks_bound_what_is_kept() {
    let mut world = World::new();
    for _ in 0..1000 {
        world.client.send_app(&mut world.to_server);
        world.deliver(1);
        assert!(
            world.client.kept.len() <= 8 + 2,
            "{}",
            world.client.kept.len()
        );
    }
    world.settle();
    assert_eq!(world.server.inbox, (1..=1000).collect::<Vec<_>>());
}

/// Random cuts, each losing whatever was in flight either way, mid-burst: every message
/// arrives exactly once, in order, both ways.
#[test]
fn every_message_once_in_order_through_cuts() {
    for seed in 1..=20u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut world = World::new();
        let mut cuts = 0;
        while cuts < 20 {
            match rng.below(10) {
                0..=3 => world.client.send_app(&mut world.to_server),
                4..=7 => world.server.send_app(&mut world.to_client),
                8 => {
                    let n = usize::try_from(rng.below(5)).unwrap();
                    world.deliver(n);
                }
                _ => {
                    if rng.below(4) == 0 {
                        world.tick(Duration::from_millis(rng.below(40)));
                    } else {
                        world.cut();
                        cuts += 1;
                        // Sends while the link is down are kept, not lost.
                        for _ in 0..rng.below(3) {
                            world.client.send_app(&mut world.to_server);
                            world.server.send_app(&mut world.to_client);
                        }
                        let refused = world.reconnect(None);
                        assert!(refused.is_none(), "seed {seed} cut {cuts}: {refused:?}");
                        world.deliver(usize::try_from(rng.below(3)).unwrap());
                    }
                }
            }
        }
        world.settle();
        world.tick(25 * MS);
        world.settle();
        let sent_by_client = world.client.sent;
        // The server's first message was the greeting, not a `num`.
        let sent_by_server = world.server.sent - 1;
        assert_eq!(world.server.inbox, (1..=sent_by_client).collect::<Vec<_>>());
        assert_eq!(
            world.client.inbox,
            (2..=sent_by_server + 1).collect::<Vec<_>>(),
            "seed {seed}"
        );
        assert_eq!(world.client.greetings, 1);
        // Every cut was resumed on the server; an answer lost in the next cut is not seen
        // by the client, which resumes with the same token again.
        assert_eq!(world.server.resumed, 20);
        assert!(world.client.resumed > 0);
        assert!(world.client.kept.is_empty() && world.server.kept.is_empty());
    }
}

/// A token with the right session but a wrong secret, or from another server instance, is
/// refused with a reason that says so; the session is not touched.
#[test]
fn wrong_tokens_are_refused() {
    let mut world = World::new();
    let real = world.client.token.clone().unwrap();
    world.cut();
    let forged = ResumeToken::mint(real.instance(), real.id());
    let refusal = world.reconnect(Some(forged)).unwrap();
    let close = refusal.iter().find_map(|a| match a {
        Action::Close { reason, wire } => Some((reason.clone(), wire.clone())),
        _ => None,
    });
    let (reason, wire) = close.unwrap();
    assert!(wire.starts_with(RESUME_REFUSED), "{wire}");
    assert!(matches!(reason, DisconnectReason::ResumeRefused { .. }));
    // The client reads the refusal, then the end of stream: it ends, refused.
    let refusal_frame = podnet_proto::close_frame(&wire, &FramingConfig::default());
    world.client.receive(&refusal_frame, world.now);
    assert!(!world.client.core.survives_drop());
    assert!(matches!(
        end(&mut world.client.core, None),
        DisconnectReason::ResumeRefused { .. }
    ));
    // The session on the server is untouched: the real token still resumes it.
    assert!(world.server.core.survives_drop());
}

/// A malformed token, and a resume on a server that grants none, are refused at once.
#[test]
fn resume_refused_without_a_session() {
    let now = Instant::now();
    let mut plain = ServerSettings::default();
    plain.resume = None;
    #[derive(serde::Serialize)]
    struct Hello<'a> {
        protocol: u32,
        token: &'a str,
        received: u64,
    }
    let hello = |token: &str| {
        let mut buf = BytesMut::new();
        encode_with_action(
            "podnet:hello",
            &Hello {
                protocol: podnet_proto::PROTOCOL_VERSION,
                token,
                received: 0,
            },
            &mut buf,
            &FramingConfig::default(),
        )
        .unwrap();
        buf.freeze()
    };
    let valid = ResumeToken::mint(1, ConnectionId::from_raw(1)).to_wire();
    for (settings, token, expect) in [
        (Arc::new(plain), valid.as_str(), "does not resume"),
        (
            server_settings(),
            "not-a-token",
            "not one a podnet server gives",
        ),
    ] {
        let mut conn = Connection::server(settings, now).with_id(ConnectionId::from_raw(9));
        conn.handle(now, Input::Control(&parse(&hello(token))));
        let wire = std::iter::from_fn(|| conn.poll())
            .find_map(|a| match a {
                Action::Close { wire, .. } => Some(wire),
                _ => None,
            })
            .unwrap();
        assert!(wire.contains(expect), "{wire}");
    }
}

/// A server that grants no resume makes the client stop keeping; a graceful close ends
/// the session for good.
#[test]
fn no_resume_without_agreement_or_after_a_close() {
    let now = Instant::now();
    let mut plain = ServerSettings::default();
    plain.resume = None;
    let mut server = Connection::server(Arc::new(plain), now).with_id(ConnectionId::from_raw(1));
    let mut client = Connection::client(client_settings(), now);
    let hello = client.poll();
    let Some(Action::Send(hello)) = hello else {
        panic!("{hello:?}")
    };
    server.handle(now, Input::Control(&parse(&hello)));
    let answer = std::iter::from_fn(|| server.poll())
        .find_map(|a| match a {
            Action::Send(f) => Some(f),
            _ => None,
        })
        .unwrap();
    client.handle(now, Input::Control(&parse(&answer)));
    let acts: Vec<Action> = std::iter::from_fn(|| client.poll()).collect();
    assert!(acts.contains(&Action::NotResumable), "{acts:?}");
    assert!(!client.survives_drop() && !server.survives_drop());

    let mut world = World::new();
    world.client.core.handle(
        now,
        Input::Control(&parse(&podnet_proto::close_frame(
            "bye",
            &FramingConfig::default(),
        ))),
    );
    assert!(!world.client.core.survives_drop());
}

/// The client's resume waits for the answer at most `answer_timeout`; then the attempt
/// is cut (and the session survives for the next one).
#[test]
fn unanswered_resume_times_out() {
    let mut world = World::new();
    world.cut();
    assert!(world.client.core.start_resume(world.now));
    let mut sink = VecDeque::new();
    world.client.drive(&mut sink);
    world.now += Duration::from_secs(5);
    world.client.core.handle_timeout(world.now);
    let acts: Vec<Action> = std::iter::from_fn(|| world.client.core.poll()).collect();
    assert!(
        matches!(
            acts.as_slice(),
            [Action::Dropped(DisconnectReason::TimedOut { .. })]
        ),
        "{acts:?}"
    );
    assert!(world.client.core.survives_drop());
    assert!(world.client.core.start_resume(world.now));
}

/// Whether a session outlives its link is the connection's decision: a failed link or an
/// end of stream without a close drops it (kept for a resume); after a close asked for by
/// either side, the session ends with the link.
#[test]
fn the_connection_decides_whether_a_session_outlives_its_link() {
    let io = || DisconnectReason::Io {
        error: "reset".into(),
    };
    fn ended_by<S: Side>(core: &mut Connection<S>, input: Input<'_>) -> Option<Action> {
        core.handle(Instant::now(), input);
        std::iter::from_fn(|| core.poll()).last()
    }
    // A failed link, an end of stream without a close: the session waits.
    let mut world = World::new();
    assert!(matches!(
        ended_by(&mut world.client.core, Input::Lost(io())),
        Some(Action::Dropped(DisconnectReason::Io { .. }))
    ));
    assert!(matches!(
        ended_by(&mut world.server.core, Input::End { mid_frame: None }),
        Some(Action::Dropped(DisconnectReason::PeerClosed {
            reason: None
        }))
    ));
    // This side asked for a close: the session ends with the link.
    let mut world = World::new();
    let within = Duration::from_secs(1);
    world
        .client
        .core
        .handle(world.now, Input::CloseAsked { within });
    assert!(world.client.core.is_closing());
    assert!(matches!(
        ended_by(&mut world.client.core, Input::Lost(io())),
        Some(Action::Cut(DisconnectReason::Io { .. }))
    ));
    // The peer said it closes: the end of its stream ends the session.
    let close = podnet_proto::close_frame("bye", &FramingConfig::default());
    world.server.receive(&close, world.now);
    assert!(matches!(
        ended_by(&mut world.server.core, Input::End { mid_frame: None }),
        Some(Action::Ended(DisconnectReason::PeerClosed { reason: Some(r) })) if r == "bye"
    ));
}

/// A close asked for while a resume's answer is awaited waits for the session to be back:
/// what was sent before the close is sent again first, then the close's deadline runs.
#[test]
fn a_close_while_resuming_waits_for_the_session() {
    let mut world = World::new();
    world.cut();
    // The resume hello went out and the server answered; the answer is on its way.
    assert!(world.reconnect(None).is_none());
    let within = Duration::from_secs(3);
    world
        .client
        .core
        .handle(world.now, Input::CloseAsked { within });
    assert!(!world.client.core.is_closing(), "still resuming");
    assert!(world.client.core.is_resuming());
    assert_eq!(world.client.core.closing_deadline(), None);
    // A second drop now ends the session: a close was asked for.
    assert!(!world.client.core.survives_drop());
    // The answer arrives: the session is back (the replay is asked for), then it closes.
    world.now += 5 * MS;
    let answer = world.to_client.pop_front().unwrap();
    world.client.receive(&answer, world.now);
    let acts: Vec<Action> = std::iter::from_fn(|| world.client.core.poll()).collect();
    assert!(
        acts.iter().any(|a| matches!(a, Action::Resumed { .. })),
        "{acts:?}"
    );
    assert!(world.client.core.is_closing());
    assert_eq!(
        world.client.core.closing_deadline(),
        Some(world.now + within)
    );
}

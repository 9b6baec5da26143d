//! Session resume through the facade: a player whose connection drops keeps its channel,
//! the hooks run in order on both sides, and nothing sent either way is lost. The
//! connection goes through the test kit's fault-injecting proxy.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use podnet::{
    Channel, ChannelCtx, ChannelHandlers, Client, ClientConfig, ClientCtx, Connected,
    ConnectionListener, DisconnectReason, HookResult, ListenerHandlers, Message, ResumeConfig,
    Server, ServerConfig,
};
use podnet_testkit::{Cut, Proxy};
use serde::{Deserialize, Serialize};

const WAIT: Duration = Duration::from_secs(10);
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(3);

/// A numbered message, both ways.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, Message)]
#[message(action = "step")]
struct Step {
    n: u32,
}

/// The server's record, in order.
#[derive(Default)]
struct Log {
    events: Vec<String>,
}

/// A player counts the steps it was sent; the count lives in the channel, so it survives
/// a resume only if the channel does.
#[derive(Default)]
struct Player {
    steps: Vec<u32>,
}

impl Channel for Player {
    type Game = Log;

    fn handlers(h: &mut ChannelHandlers<Self>) {
        h.on(|p: &mut Self, _: &mut ChannelCtx<'_, Self>, s: Step| p.steps.push(s.n));
    }

    fn on_connect(&mut self, ctx: &mut ChannelCtx<'_, Self>) -> HookResult {
        let event = format!("connect {}", ctx.id());
        ctx.game.events.push(event);
        Ok(())
    }

    fn on_dropped(
        &mut self,
        ctx: &mut ChannelCtx<'_, Self>,
        _reason: &DisconnectReason,
    ) -> HookResult {
        let event = format!("dropped {} after {} steps", ctx.id(), self.steps.len());
        ctx.game.events.push(event);
        Ok(())
    }

    fn on_resumed(&mut self, ctx: &mut ChannelCtx<'_, Self>) -> HookResult {
        let event = format!("resumed {}", ctx.id());
        ctx.game.events.push(event);
        Ok(())
    }

    fn on_disconnect(
        &mut self,
        ctx: &mut ChannelCtx<'_, Self>,
        reason: &DisconnectReason,
    ) -> HookResult {
        let kind = match reason {
            DisconnectReason::NotResumed { .. } => "not resumed",
            _ => "other",
        };
        let event = format!("disconnect {}: {kind}", ctx.id());
        ctx.game.events.push(event);
        Ok(())
    }
}

/// The client's record.
#[derive(Default)]
struct Watcher {
    greeted: bool,
    events: Vec<String>,
    steps: Vec<u32>,
}

impl ConnectionListener for Watcher {
    fn handlers(h: &mut ListenerHandlers<Self>) {
        h.on(|w: &mut Self, _: &mut ClientCtx<'_>, _: Connected| w.greeted = true)
            .on(|w: &mut Self, _: &mut ClientCtx<'_>, s: Step| w.steps.push(s.n));
    }

    fn on_reconnecting(
        &mut self,
        _: &mut ClientCtx<'_>,
        attempt: u32,
        _: &DisconnectReason,
    ) -> HookResult {
        self.events.push(format!("reconnecting {attempt}"));
        Ok(())
    }

    fn on_resumed(&mut self, _: &mut ClientCtx<'_>) -> HookResult {
        self.events.push("resumed".into());
        Ok(())
    }

    fn on_disconnect(&mut self, _: &mut ClientCtx<'_>, reason: &DisconnectReason) -> HookResult {
        self.events.push(format!("disconnected: {reason}"));
        Ok(())
    }
}

fn quick_client() -> ClientConfig {
    let mut config = ClientConfig::default();
    let mut resume = ResumeConfig::default();
    resume.initial_backoff = Duration::from_millis(5);
    resume.max_backoff = Duration::from_millis(50);
    config.resume = Some(resume);
    config
}

fn server(grace: Duration) -> Server<Player> {
    let mut config = ServerConfig::default();
    config.resume.as_mut().unwrap().grace = grace;
    Server::<Player>::builder()
        .addr("127.0.0.1:0")
        .config(config)
        .start_background(Log::default())
        .unwrap()
}

/// Pumps both until `done` holds; fails after `WAIT`.
fn pump_until(
    server: &mut Server<Player>,
    client: &mut Client<Watcher>,
    mut done: impl FnMut(&Server<Player>, &Client<Watcher>) -> bool,
) {
    let deadline = Instant::now() + WAIT;
    while !done(server, client) {
        assert!(Instant::now() < deadline, "condition not reached in time");
        server.pump_timeout(Duration::from_millis(1));
        client.pump();
    }
}

/// A cut in the middle of a game: the server's channel sees `on_dropped` then
/// `on_resumed`, the client `on_reconnecting(1)` then `on_resumed`, the channel (and what
/// it counted) is the same one, and what each side sent while the connection was down
/// arrives once, in order.
#[test]
fn a_dropped_player_comes_back_to_its_channel() {
    let mut server = server(Duration::from_secs(30));
    let proxy = Proxy::start(server.local_addr(), 11).unwrap();
    let mut client = Client::builder()
        .addr(proxy.addr())
        .config(quick_client())
        .connect(Watcher::default())
        .unwrap();
    pump_until(&mut server, &mut client, |s, c| {
        c.listener().greeted && s.channels().count() == 1
    });
    let id = server.channels().next().unwrap().0;
    for n in 0..100 {
        client.send(&Step { n }).unwrap();
        server.send(id, &Step { n }).unwrap();
    }
    pump_until(&mut server, &mut client, |s, c| {
        c.listener().steps.len() == 100 && s.channel(id).unwrap().steps.len() == 100
    });

    proxy.cut(Cut::Both);
    // Sent while the connection is down (or about to be): kept, then delivered.
    for n in 100..200 {
        client.send(&Step { n }).unwrap();
        server.send(id, &Step { n }).unwrap();
    }
    pump_until(&mut server, &mut client, |s, c| {
        c.listener().steps.len() == 200
            && s.channel(id).is_some_and(|p| p.steps.len() == 200)
            && c.listener().events.last().is_some_and(|e| e == "resumed")
            && s.game()
                .events
                .last()
                .is_some_and(|e| e.starts_with("resumed"))
    });
    let expected: Vec<u32> = (0..200).collect();
    assert_eq!(client.listener().steps, expected);
    assert_eq!(server.channel(id).unwrap().steps, expected);
    assert_eq!(
        server.game().events,
        [
            format!("connect {id}"),
            format!("dropped {id} after 100 steps"),
            format!("resumed {id}"),
        ]
    );
    let events = &client.listener().events;
    assert_eq!(events.first().map(String::as_str), Some("reconnecting 1"));
    assert_eq!(events.last().map(String::as_str), Some("resumed"));
    assert!(
        events[..events.len() - 1]
            .iter()
            .all(|e| e.starts_with("reconnecting")),
        "{events:?}"
    );

    // The session ends; nothing of it (its grace timer included) holds up a shutdown.
    client.close("bye");
    pump_until(&mut server, &mut client, |s, _| s.is_empty());
    let started = Instant::now();
    let report = server.shutdown("done", SHUTDOWN_TIMEOUT).unwrap();
    assert!(
        started.elapsed() < SHUTDOWN_TIMEOUT,
        "the shutdown waited for its timeout: something of the resumed session outlived it"
    );
    assert!(report.clean);
}

/// A player who does not come back within the grace: `on_dropped`, then `on_disconnect`
/// with `NotResumed`, once, and the channel is gone.
#[test]
fn grace_expiry_disconnects_once() {
    let mut server = server(Duration::from_millis(200));
    let proxy = Proxy::start(server.local_addr(), 12).unwrap();
    let mut client = Client::builder()
        .addr(proxy.addr())
        .config(quick_client())
        .connect(Watcher::default())
        .unwrap();
    pump_until(&mut server, &mut client, |s, c| {
        c.listener().greeted && s.channels().count() == 1
    });
    let id = server.channels().next().unwrap().0;
    // The client goes away for good: its attempts land nowhere.
    drop(proxy);
    pump_until(&mut server, &mut client, |s, _| s.is_empty());
    for _ in 0..20 {
        server.pump_timeout(Duration::from_millis(5));
    }
    assert_eq!(
        server.game().events,
        [
            format!("connect {id}"),
            format!("dropped {id} after 0 steps"),
            format!("disconnect {id}: not resumed"),
        ]
    );
}

//! The server side: a `Channel` per connection, handlers keyed by action, one game state.
//!
//! The [`Server`] and its pump are here; a channel and its context are in `channel`, the
//! builder in `builder`, the dispatch of one pump's events in `dispatcher`.

mod builder;
mod channel;
mod dispatcher;

pub use builder::ServerBuilder;
pub use channel::{Channel, ChannelCtx, ChannelHandlers, ChannelSide, DefaultChannel, NewChannel};
use dispatcher::Dispatcher;

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use podnet_dispatch::{Context, MessageError, UnhandledActions, catch};
use podnet_framing::Outgoing;
use podnet_sync::{ServerEvent, ServerHandle};
use podnet_transport::{
    ConnectionId, DisconnectReason, Handshake, NetworkMode, SendError, ServerConfig, ShutdownReport,
};

use crate::HookResult;
use crate::addr::{Addrs, resolve};
use crate::{Error, report};

/// How long [`Server::run`] and [`Server::launch`] give connections to close when the
/// server stops.
const RUN_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// How long [`Server::run`] waits for events at a time. A stop asked for from another
/// thread or a signal wakes it at once; this bounds the wait should a wake be missed.
const STOP_POLL: Duration = Duration::from_secs(1);

/// How a server makes a channel when a player connects.
type MakeChannel<C> = Box<dyn FnMut(&mut ChannelCtx<'_, C>) -> C + Send>;

/// A podnet server: its network on a background thread, its [`Channel`]s and game state on
/// the thread that calls [`pump`](Self::pump).
///
/// What a game does with the server is here: [`send`](Self::send),
/// [`send_to_all`](Self::send_to_all), [`close`](Self::close), the channels and the game
/// state. Everything else (connection ids and figures, frames, `info`) is on its
/// [`handle`](Self::handle), which other threads can keep a clone of. Dropping the server
/// shuts it down gracefully.
///
/// # Example
///
/// ```
/// use podnet::{Channel, Server};
///
/// #[derive(Default)]
/// struct Player;
/// impl Channel for Player { type Game = (); }
///
/// let mut server = Server::<Player>::start_background("127.0.0.1:0", ())?;
/// println!("listening on {}", server.local_addr());
/// server.pump(); // once per frame of your game loop
/// # Ok::<(), podnet::Error>(())
/// ```
pub struct Server<C: Channel> {
    net: podnet_sync::Server,
    handlers: ChannelHandlers<C>,
    channels: BTreeMap<ConnectionId, Slot<C>>,
    new_channel: MakeChannel<C>,
    game: C::Game,
    /// Actions that found no handler, reported once each.
    unhandled: UnhandledActions,
}

/// One connected client: its channel, and what the transport told of it.
struct Slot<C> {
    channel: C,
    peer: SocketAddr,
    handshake: Handshake,
}

impl<C: Channel> Slot<C> {
    /// The channel, and the context its handlers and hooks get.
    fn split<'a>(
        &'a mut self,
        id: ConnectionId,
        game: &'a mut C::Game,
        server: &'a ServerHandle,
    ) -> (&'a mut C, ChannelCtx<'a, C>) {
        let ctx = ChannelCtx {
            id,
            peer: self.peer,
            handshake: &self.handshake,
            game,
            server,
        };
        (&mut self.channel, ctx)
    }
}

impl<C: Channel + Default> Server<C> {
    /// Starts the server on a background thread, listening on `addr`, with `game` as its
    /// state (repod's `start_background`). Port 0 picks a free port. For a configuration,
    /// repod's default address, or channels that are not `Default`, see
    /// [`builder`](Self::builder).
    ///
    /// # Errors
    ///
    /// As [`ServerBuilder::start_background`].
    ///
    /// # Panics
    ///
    /// As [`ServerBuilder::start_background`].
    pub fn start_background(addr: impl crate::Addr, game: C::Game) -> Result<Self, Error> {
        Self::builder().addr(addr).start_background(game)
    }

    /// Starts the server on `addr` and runs it on the calling thread until it is stopped
    /// (repod's `launch`): see [`run`](Self::run). Returns the game state.
    ///
    /// # Errors
    ///
    /// As [`ServerBuilder::start_background`].
    pub fn launch(addr: impl crate::Addr, game: C::Game) -> Result<C::Game, Error> {
        Self::builder().addr(addr).launch(game)
    }
}

impl<C: Channel> Server<C> {
    /// A [`ServerBuilder`] with repod's address (`127.0.0.1:5071`), the default
    /// configuration, and channels made with `Default`.
    pub fn builder() -> ServerBuilder<C> {
        ServerBuilder {
            addrs: resolve(crate::DEFAULT_ADDR),
            config: ServerConfig::default(),
            new_channel: DefaultChannel,
            _channel: PhantomData,
        }
    }

    /// Runs the server on the calling thread, pumping as events come, until it is asked
    /// to stop: by a handler ([`ChannelCtx::stop_server`]), from another thread
    /// ([`ServerHandle::request_stop`]), or by Ctrl-C / SIGTERM once
    /// [`stop_on_signals`](Self::stop_on_signals) was called. Then shuts down gracefully
    /// with the reason given (every channel's `on_disconnect` runs), and returns the game
    /// state.
    ///
    /// ```
    /// use podnet::{Channel, Server};
    ///
    /// #[derive(Default)]
    /// struct Player;
    /// impl Channel for Player { type Game = (); }
    ///
    /// let server = Server::<Player>::start_background("127.0.0.1:0", ())?;
    /// let handle = server.handle().clone();
    /// let admin = std::thread::spawn(move || handle.request_stop("maintenance"));
    /// server.run(); // returns once the admin thread asked
    /// admin.join().unwrap();
    /// # Ok::<(), podnet::Error>(())
    /// ```
    pub fn run(mut self) -> C::Game {
        while self.net.stop_requested().is_none() {
            self.pump_timeout(STOP_POLL);
        }
        let reason = self
            .net
            .stop_requested()
            .unwrap_or_else(|| "server closed".to_owned());
        self.shutdown(&reason, RUN_SHUTDOWN_TIMEOUT);
        let Server { game, .. } = self;
        game
    }

    /// Stops the server gracefully on Ctrl-C (SIGINT) or SIGTERM: the process's signal
    /// handler calls [`ServerHandle::request_stop`], so [`run`](Self::run) and
    /// [`launch`](ServerBuilder::launch) shut down with the reason "the server was
    /// stopped by a signal", and a game loop of its own sees
    /// [`stop_requested`](Self::stop_requested).
    ///
    /// # Errors
    ///
    /// [`Error::Signals`] if the process already has such a handler (one per process).
    pub fn stop_on_signals(&self) -> Result<(), Error> {
        let handle = self.net.handle().clone();
        ctrlc::set_handler(move || handle.request_stop("the server was stopped by a signal"))
            .map_err(|err| Error::Signals {
                problem: err.to_string(),
            })
    }

    /// The reason a stop was asked for (see [`run`](Self::run)), for a game loop that
    /// pumps by itself and should end.
    pub fn stop_requested(&self) -> Option<String> {
        self.net.stop_requested()
    }

    /// Handles every event queued now on this thread: creates and drops channels, calls
    /// their handlers and hooks. Returns how many events it handled. Never blocks; call it
    /// once per frame. See [`podnet_sync::Server`] for the full contract.
    pub fn pump(&mut self) -> usize {
        let (net, mut dispatcher) = self.dispatcher();
        net.pump_with(&mut dispatcher)
    }

    /// With the network inside `pump()` ([`NetworkMode::Pump`]), writes what was sent
    /// since the last pump and is still queued, without handling any event: a tick loop
    /// that pumps, steps and sends calls it after sending, so the state leaves now rather
    /// than at the next pump. With a network thread it does nothing.
    pub fn flush(&mut self) {
        self.net.flush();
    }

    /// Waits up to `timeout` for the first event, then handles it and everything queued,
    /// as [`pump`](Self::pump). Returns how many events it handled.
    pub fn pump_timeout(&mut self, timeout: Duration) -> usize {
        let (net, mut dispatcher) = self.dispatcher();
        net.pump_timeout_with(timeout, &mut dispatcher)
    }

    /// The network, and what dispatches its events to the channels.
    fn dispatcher(&mut self) -> (&mut podnet_sync::Server, Dispatcher<'_, C>) {
        let Self {
            net,
            handlers,
            channels,
            new_channel,
            game,
            unhandled,
        } = self;
        let server = net.handle().clone();
        (
            net,
            Dispatcher {
                server,
                handlers,
                channels,
                new_channel,
                game,
                unhandled,
            },
        )
    }

    /// The game state.
    pub fn game(&self) -> &C::Game {
        &self.game
    }

    /// The game state, to change between pumps.
    pub fn game_mut(&mut self) -> &mut C::Game {
        &mut self.game
    }

    /// One connected client's channel.
    pub fn channel(&self, id: ConnectionId) -> Option<&C> {
        self.channels.get(&id).map(|slot| &slot.channel)
    }

    /// One connected client's channel, to change from the game loop.
    pub fn channel_mut(&mut self, id: ConnectionId) -> Option<&mut C> {
        self.channels.get_mut(&id).map(|slot| &mut slot.channel)
    }

    /// Every connected client's channel, by connection id (the order they connected in;
    /// repod's `server.channels`).
    pub fn channels(&self) -> impl Iterator<Item = (ConnectionId, &C)> {
        self.channels.iter().map(|(id, slot)| (*id, &slot.channel))
    }

    /// Every connected client's channel, by connection id, to change from the game loop.
    pub fn channels_mut(&mut self) -> impl Iterator<Item = (ConnectionId, &mut C)> {
        self.channels
            .iter_mut()
            .map(|(id, slot)| (*id, &mut slot.channel))
    }

    /// Every connected client's channel by id, with the game state: to change both from
    /// the game loop (a tick that moves every player inside the world).
    pub fn channels_and_game_mut(
        &mut self,
    ) -> (impl Iterator<Item = (ConnectionId, &mut C)>, &mut C::Game) {
        let channels = self
            .channels
            .iter_mut()
            .map(|(id, slot)| (*id, &mut slot.channel));
        (channels, &mut self.game)
    }

    /// How many clients are connected (have a channel).
    pub fn len(&self) -> usize {
        self.channels.len()
    }

    /// Whether no client is connected.
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }

    /// The handle for everything else, `Clone + Send + Sync`: connection ids and
    /// figures, frames, `info`, stopping. Clone it to keep one on another thread.
    pub fn handle(&self) -> &ServerHandle {
        self.net.handle()
    }

    /// The address the server listens on, with the actual port when bound to port 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.net.local_addr()
    }

    /// Sends a message to one client. Never blocks.
    ///
    /// # Errors
    ///
    /// As [`ChannelCtx::send`].
    pub fn send<M: Outgoing + ?Sized>(&self, id: ConnectionId, msg: &M) -> Result<(), SendError> {
        self.net.handle().send(id, msg)
    }

    /// Sends a message to each of `ids`, encoded once. Returns how many it was queued for.
    ///
    /// # Errors
    ///
    /// If the message does not encode.
    pub fn send_to<M: Outgoing + ?Sized>(
        &self,
        ids: impl IntoIterator<Item = ConnectionId>,
        msg: &M,
    ) -> Result<usize, SendError> {
        self.net.handle().send_to(ids, msg)
    }

    /// Sends a message to every client, encoded once (repod's `send_to_all`). Returns how
    /// many it was queued for.
    ///
    /// # Errors
    ///
    /// If the message does not encode.
    pub fn send_to_all<M: Outgoing + ?Sized>(&self, msg: &M) -> Result<usize, SendError> {
        self.net.handle().send_to_all(msg)
    }

    /// Closes one client's connection gracefully with `reason`, after what was sent to it;
    /// its channel's `on_disconnect` follows on a later pump.
    ///
    /// # Errors
    ///
    /// If the connection is gone or already closing.
    pub fn close(&self, id: ConnectionId, reason: &str) -> Result<(), SendError> {
        self.net.handle().close(id, reason)
    }

    /// Starts draining, for a rolling deploy: stops accepting (new clients are refused)
    /// and reports not ready (`/readyz` answers 503, see
    /// [`ServerConfig::metrics`](crate::ServerConfig::metrics)), while the players
    /// connected play on: keep pumping. Returns at once; see
    /// [`drain_and_shutdown`](Self::drain_and_shutdown) for the whole procedure.
    pub fn drain(&self, reason: &str) {
        self.net.handle().drain(reason);
    }

    /// The whole drain: [`drain`](Self::drain), then pumps as the game loop would (the
    /// players connected play on) until the last one leaves or `deadline` passes, then
    /// [`shutdown`](Self::shutdown) with `reason` (whoever is left gets everything sent
    /// to them, then the reason). Blocks for at most `deadline` plus `close_timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[derive(Default)] struct Player;
    /// # impl podnet::Channel for Player {
    /// #     type Game = ();
    /// #     fn handlers(_: &mut podnet::ChannelHandlers<Self>) {}
    /// # }
    /// let mut server = podnet::Server::<Player>::start_background("127.0.0.1:0", ())?;
    /// // ... the game runs; a deploy begins ...
    /// let report = server.drain_and_shutdown("deploying 1.4", Duration::from_secs(60), Duration::from_secs(5));
    /// assert!(report.is_some_and(|r| r.clean));
    /// # Ok::<(), podnet::Error>(())
    /// ```
    pub fn drain_and_shutdown(
        &mut self,
        reason: &str,
        deadline: Duration,
        close_timeout: Duration,
    ) -> Option<ShutdownReport> {
        self.drain(reason);
        let until = Instant::now() + deadline;
        while !self.is_empty() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            self.pump_timeout(left.min(Duration::from_millis(50)));
        }
        self.shutdown(reason, close_timeout)
    }

    /// Shuts down: stops accepting, closes every connection with `reason` after what was
    /// sent to it, waits up to `timeout`, then handles the remaining events, so every
    /// channel's [`on_disconnect`](Channel::on_disconnect) runs. Returns what the shutdown
    /// did, or `None` if it had already happened.
    pub fn shutdown(&mut self, reason: &str, timeout: Duration) -> Option<ShutdownReport> {
        let report = self.net.shutdown(reason, timeout);
        self.pump();
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use podnet_dispatch::PanicPolicy;

    /// The table's policy is what `pump` uses; `Propagate` is a real choice.
    #[test]
    fn panic_policy_is_the_tables() {
        let mut h = ChannelHandlers::<Unit>::new();
        assert_eq!(h.panic_policy(), PanicPolicy::Catch);
        h.set_panic_policy(PanicPolicy::Propagate);
        assert_eq!(h.panic_policy(), PanicPolicy::Propagate);
    }

    #[derive(Default)]
    struct Unit;
    impl Channel for Unit {
        type Game = ();
    }
}

//! The server side: a `Channel` per connection, handlers keyed by action, one game state.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use podnet_dispatch::{Context, MessageError, catch};
use podnet_framing::Outgoing;
use podnet_sync::{ServerEvent, ServerHandle};
use podnet_transport::{
    ConnectionId, DisconnectReason, Handshake, SendError, ServerConfig, ShutdownReport,
};

use crate::addr::{Addrs, resolve};
use crate::{Error, report};

/// How long [`Server::run`] and [`Server::launch`] give connections to close when the
/// server stops.
const RUN_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// How often [`Server::run`], waiting for events, checks whether a stop was asked for:
/// the longest a stop from another thread or a signal waits.
const STOP_POLL: Duration = Duration::from_millis(50);

/// One connected player, as the server sees them: repod's `Channel`.
///
/// A value of your type is created when a client has connected (with `Default`, or the
/// function given to [`ServerBuilder::new_channel`]) and dropped when it leaves. Its
/// handlers, registered once in [`handlers`](Self::handlers), get `&mut self` and a
/// [`ChannelCtx`] with the server-wide [`Game`](Self::Game) state and ways to send. They
/// run on the thread that calls [`Server::pump`], so nothing needs a lock.
///
/// | repod | podnet |
/// |---|---|
/// | `def Network_move(self, data)` | `h.on(Self::on_move)` with `fn on_move(&mut self, ctx, msg: Move)` |
/// | `def network_received(self, data)` | `h.fallback(...)`, with the message as a [`Value`](crate::Value) |
/// | `on_connect` / `on_close` / `on_error` | [`on_connect`](Self::on_connect) / [`on_disconnect`](Self::on_disconnect) / [`on_error`](Self::on_error) |
/// | (no resume in repod) | [`on_dropped`](Self::on_dropped) / [`on_resumed`](Self::on_resumed) |
/// | `self.server.send_to_all(data)` | `ctx.send_to_all(&msg)?` |
///
/// # Example
///
/// ```
/// use podnet::{Channel, ChannelCtx, ChannelHandlers, Message, SendError};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize, Message)]
/// #[message(action = "chat")]
/// struct Chat { text: String }
///
/// #[derive(Default)]
/// struct Room { lines: usize }
///
/// #[derive(Default)]
/// struct Player { said: usize }
///
/// impl Channel for Player {
///     type Game = Room;
///
///     fn handlers(h: &mut ChannelHandlers<Self>) {
///         h.on(Self::chat);
///     }
/// }
///
/// impl Player {
///     fn chat(&mut self, ctx: &mut ChannelCtx<'_, Self>, msg: Chat) -> Result<(), SendError> {
///         self.said += 1;
///         ctx.game.lines += 1;
///         ctx.send_to_all(&msg)?;
///         Ok(())
///     }
/// }
/// ```
pub trait Channel: Sized + 'static {
    /// The state the whole server shares, owned by the thread that pumps (use `()` if
    /// there is none).
    type Game: 'static;

    /// Registers the handlers, once per server. Default: none, so every message is
    /// ignored.
    fn handlers(h: &mut ChannelHandlers<Self>) {
        let _ = h;
    }

    /// The client connected and its handshake completed (repod's `on_connect`, the
    /// `connected` event; peng3dnet's `on_handshake_complete`): at once for a podnet
    /// client or a repod client that speaks first, after
    /// [`ServerConfig::hello_wait`] for a silent repod client. podnet has already sent it
    /// `{"action": "connected"}`. [`ChannelCtx::handshake`] says who it is.
    fn on_connect(&mut self, ctx: &mut ChannelCtx<'_, Self>) {
        let _ = ctx;
    }

    /// The client is gone, for `reason` (repod's `on_close`; the `disconnected` event).
    /// Sending to it no longer works. A player whose connection dropped and who did not
    /// come back within the grace period (see [`on_dropped`](Self::on_dropped)) ends here
    /// once, with [`DisconnectReason::NotResumed`].
    fn on_disconnect(&mut self, ctx: &mut ChannelCtx<'_, Self>, reason: &DisconnectReason) {
        let _ = (ctx, reason);
    }

    /// The client's connection dropped (a reset, a timeout, a network change) and its
    /// session may resume: a podnet client reconnects by itself, and has
    /// [`ResumeConfig::grace`](crate::ResumeConfig::grace) (30 s by default) to come back
    /// as this same channel. Nothing is lost meanwhile: what you send to it is kept and
    /// delivered when it returns. A game may pause the match or show the player as
    /// reconnecting. Then either [`on_resumed`](Self::on_resumed) or, once,
    /// [`on_disconnect`](Self::on_disconnect) with [`DisconnectReason::NotResumed`].
    ///
    /// Clients that do not ask for resume (repod's, or a podnet client with resume off),
    /// and every client of a server whose `ServerConfig::resume` is `None`, do not
    /// resume: their drop goes straight to `on_disconnect`.
    fn on_dropped(&mut self, ctx: &mut ChannelCtx<'_, Self>, reason: &DisconnectReason) {
        let _ = (ctx, reason);
    }

    /// The client came back after [`on_dropped`](Self::on_dropped), on a new connection:
    /// the same channel, and nothing sent either way was lost.
    fn on_resumed(&mut self, ctx: &mut ChannelCtx<'_, Self>) {
        let _ = ctx;
    }

    /// Something the client sent was not handled: a frame that is not a message, a
    /// message that does not fit its handler's type, or a handler that returned an error
    /// (repod's `on_error`; the `error` event). The connection stays open.
    ///
    /// Default: a warning naming the connection and the action, through `tracing` if
    /// the program installed a subscriber, on stderr if not.
    fn on_error(&mut self, ctx: &mut ChannelCtx<'_, Self>, error: MessageError) {
        report::warn(format_args!(
            "connection {}: {error} (override Channel::on_error to handle this)",
            ctx.id()
        ));
    }
}

/// The [`Context`] of a [`Channel`]'s handlers: a [`ChannelCtx`].
#[derive(Debug)]
pub struct ChannelSide<C>(PhantomData<fn() -> C>);

impl<C: Channel> Context for ChannelSide<C> {
    type Ctx<'a> = ChannelCtx<'a, C>;
}

/// The handlers of a [`Channel`] type, one per action: see [`Handlers`](crate::Handlers)
/// for the registrations (`on`, `on_value`, `on_raw`, `fallback`) and the
/// [`PanicPolicy`](crate::PanicPolicy).
pub type ChannelHandlers<C> = podnet_dispatch::Handlers<C, ChannelSide<C>>;

/// What a [`Channel`]'s handlers get besides the message: the game state, the connection,
/// and ways to send.
pub struct ChannelCtx<'a, C: Channel> {
    id: ConnectionId,
    peer: SocketAddr,
    handshake: &'a Handshake,
    /// The server-wide state.
    pub game: &'a mut C::Game,
    server: &'a ServerHandle,
}

impl<C: Channel> ChannelCtx<'_, C> {
    /// This connection's id.
    pub fn id(&self) -> ConnectionId {
        self.id
    }

    /// The client's address (repod's `channel.addr`).
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// What the connection's handshake settled: whether the client is podnet or repod, and
    /// the connection type it asked for (`classic`, or one the game registered in
    /// [`ServerConfig::connection_types`]).
    pub fn handshake(&self) -> &Handshake {
        self.handshake
    }

    /// Sends a message to this client (repod's `self.send`): a typed message, an action
    /// named at run time with its fields ([`WithAction`](crate::WithAction)), or an
    /// encoded [`Frame`](crate::wire::Frame). Never blocks.
    ///
    /// # Errors
    ///
    /// If the client is gone or not reading (see `SlowConsumerPolicy`), or the message
    /// does not encode.
    pub fn send<M: Outgoing + ?Sized>(&self, msg: &M) -> Result<(), SendError> {
        self.server.send(self.id, msg)
    }

    /// Sends a message to each of `ids` (a slice, a `Vec`, an iterator of connection
    /// ids), encoded once. Returns how many it was queued for: one that is gone, or a slow
    /// consumer, is not counted.
    ///
    /// # Errors
    ///
    /// If the message does not encode.
    pub fn send_to<M: Outgoing + ?Sized>(
        &self,
        ids: impl IntoIterator<Item = ConnectionId>,
        msg: &M,
    ) -> Result<usize, SendError> {
        self.server.send_to(ids, msg)
    }

    /// Sends a message to every client, this one included, encoded once (repod's
    /// `server.send_to_all`). Returns how many it was queued for.
    ///
    /// # Errors
    ///
    /// If the message does not encode.
    pub fn send_to_all<M: Outgoing + ?Sized>(&self, msg: &M) -> Result<usize, SendError> {
        self.server.send_to_all(msg)
    }

    /// Closes this client's connection gracefully with `reason`, after what was sent to
    /// it. Closing twice is fine: the first reason stands.
    pub fn close(&self, reason: &str) {
        let _ = self.server.close(self.id, reason);
    }

    /// The server, for anything else: other connections, broadcasting frames.
    pub fn server(&self) -> &ServerHandle {
        self.server
    }

    /// Asks [`Server::run`] (or [`Server::launch`]) to shut the server down once this
    /// event is handled.
    pub fn stop_server(&self) {
        self.server.request_stop("server closed");
    }
}

/// Makes a [`Channel`] when a client connects: `Default` ([`DefaultChannel`]), or a
/// function given to [`ServerBuilder::new_channel`].
pub trait NewChannel<C: Channel>: Send + 'static {
    /// The channel for the client in `ctx`.
    fn new_channel(&mut self, ctx: &mut ChannelCtx<'_, C>) -> C;
}

/// Makes each [`Channel`] with `Default`: what a [`ServerBuilder`] does unless given
/// [`new_channel`](ServerBuilder::new_channel).
#[derive(Debug, Default, Clone, Copy)]
pub struct DefaultChannel;

impl<C: Channel + Default> NewChannel<C> for DefaultChannel {
    fn new_channel(&mut self, _: &mut ChannelCtx<'_, C>) -> C {
        C::default()
    }
}

impl<C: Channel, F: FnMut(&mut ChannelCtx<'_, C>) -> C + Send + 'static> NewChannel<C> for F {
    fn new_channel(&mut self, ctx: &mut ChannelCtx<'_, C>) -> C {
        self(ctx)
    }
}

/// Sets up a [`Server`]: its address (default repod's, [`DEFAULT_ADDR`](crate::DEFAULT_ADDR)),
/// its [`ServerConfig`], and how its channels are made. From [`Server::builder`].
///
/// ```
/// use podnet::{Channel, ChannelCtx, Server, ServerConfig};
///
/// /// A channel made with arguments, not `Default`.
/// struct Player { number: u64 }
/// impl Channel for Player { type Game = u64; }
///
/// let mut config = ServerConfig::default();
/// config.max_connections = 100;
/// let server = Server::<Player>::builder()
///     .addr("127.0.0.1:0")
///     .config(config)
///     .new_channel(|ctx: &mut ChannelCtx<'_, Player>| {
///         *ctx.game += 1;
///         Player { number: *ctx.game }
///     })
///     .start_background(0)?;
/// # drop(server);
/// # Ok::<(), podnet::Error>(())
/// ```
#[must_use = "a builder does nothing until `start_background` or `launch`"]
pub struct ServerBuilder<C: Channel, F = DefaultChannel> {
    addrs: Result<Addrs, Error>,
    config: ServerConfig,
    new_channel: F,
    _channel: PhantomData<fn() -> C>,
}

impl<C: Channel, F> ServerBuilder<C, F> {
    /// Listens on `addr` instead of [`DEFAULT_ADDR`](crate::DEFAULT_ADDR) (`127.0.0.1:5071`,
    /// repod's). Port 0 picks a free port; `0.0.0.0:PORT` accepts players from other
    /// machines.
    pub fn addr(mut self, addr: impl crate::Addr) -> Self {
        self.addrs = resolve(addr);
        self
    }

    /// Uses `config` instead of `ServerConfig::default()`.
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// Serves `body` at `path` to plain HTTP requests on the game's own port: the page and
    /// script of a browser game, next to the WebSocket its players connect to (see
    /// [`WebSocketConfig`](crate::WebSocketConfig) and `docs/browser.md`). Turns WebSocket
    /// on if the config had it off.
    ///
    /// ```
    /// use podnet::{Channel, Server};
    ///
    /// #[derive(Default)]
    /// struct Player;
    /// impl Channel for Player { type Game = (); }
    ///
    /// let server = Server::<Player>::builder()
    ///     .addr("127.0.0.1:0")
    ///     .page("/", "text/html; charset=utf-8", "<script src=\"/game.js\"></script>")
    ///     .page("/game.js", "text/javascript", "/* ... */")
    ///     .start_background(())?;
    /// # drop(server);
    /// # Ok::<(), podnet::Error>(())
    /// ```
    pub fn page(mut self, path: &str, content_type: &str, body: impl Into<bytes::Bytes>) -> Self {
        let websocket = self.config.websocket.take().unwrap_or_default();
        self.config.websocket = Some(websocket.with_page(path, content_type, body));
        self
    }

    /// Makes each channel with `f` when its client connects, instead of `Default`: for
    /// channels built with arguments (from the game state, the handshake, ...).
    pub fn new_channel<G>(self, f: G) -> ServerBuilder<C, G>
    where
        G: FnMut(&mut ChannelCtx<'_, C>) -> C + Send + 'static,
    {
        ServerBuilder {
            addrs: self.addrs,
            config: self.config,
            new_channel: f,
            _channel: PhantomData,
        }
    }
}

impl<C: Channel, F: NewChannel<C>> ServerBuilder<C, F> {
    /// Starts the server on a background thread, with `game` as its state (repod's
    /// `start_background`); call [`Server::pump`] once per frame.
    ///
    /// # Errors
    ///
    /// If the address does not resolve or cannot be listened on, or the network thread
    /// cannot start. The error names the address.
    ///
    /// # Panics
    ///
    /// If [`Channel::handlers`] registers two handlers for one action, or one for a
    /// `podnet:` action.
    pub fn start_background(self, game: C::Game) -> Result<Server<C>, Error> {
        let mut handlers = ChannelHandlers::<C>::new();
        C::handlers(&mut handlers);
        let addrs = self.addrs?;
        let net = podnet_sync::Server::start(&addrs[..], self.config)?;
        let mut new_channel = self.new_channel;
        Ok(Server {
            net,
            handlers,
            channels: BTreeMap::new(),
            new_channel: Box::new(move |ctx: &mut ChannelCtx<'_, C>| new_channel.new_channel(ctx)),
            game,
        })
    }

    /// Starts the server and runs it on the calling thread until it is stopped (repod's
    /// `launch`, for dedicated servers): see [`Server::run`]. Returns the game state.
    ///
    /// # Errors
    ///
    /// As [`start_background`](Self::start_background).
    pub fn launch(self, game: C::Game) -> Result<C::Game, Error> {
        Ok(self.start_background(game)?.run())
    }
}

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
        net.pump(|event| dispatcher.dispatch(event))
    }

    /// Waits up to `timeout` for the first event, then handles it and everything queued,
    /// as [`pump`](Self::pump). Returns how many events it handled.
    pub fn pump_timeout(&mut self, timeout: Duration) -> usize {
        let (net, mut dispatcher) = self.dispatcher();
        net.pump_timeout(timeout, |event| dispatcher.dispatch(event))
    }

    /// The network, and what dispatches its events to the channels.
    fn dispatcher(&mut self) -> (&mut podnet_sync::Server, Dispatcher<'_, C>) {
        let Self {
            net,
            handlers,
            channels,
            new_channel,
            game,
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

/// Dispatches one pump's events to the channels.
struct Dispatcher<'s, C: Channel> {
    server: ServerHandle,
    handlers: &'s ChannelHandlers<C>,
    channels: &'s mut BTreeMap<ConnectionId, Slot<C>>,
    new_channel: &'s mut MakeChannel<C>,
    game: &'s mut C::Game,
}

impl<C: Channel> Dispatcher<'_, C> {
    fn dispatch(&mut self, event: ServerEvent) {
        let policy = self.handlers.panic_policy();
        match event {
            ServerEvent::Connected {
                id,
                peer,
                handshake,
            } => {
                let mut ctx = ChannelCtx {
                    id,
                    peer,
                    handshake: &handshake,
                    game: self.game,
                    server: &self.server,
                };
                let made = catch(policy, "new_channel", || (self.new_channel)(&mut ctx));
                let channel = match made {
                    Ok(channel) => channel,
                    Err(panic) => return self.failed(id, &panic),
                };
                let slot = self.channels.entry(id).or_insert(Slot {
                    channel,
                    peer,
                    handshake,
                });
                let (channel, mut ctx) = slot.split(id, self.game, &self.server);
                if let Err(panic) = catch(policy, "on_connect", || channel.on_connect(&mut ctx)) {
                    self.failed(id, &panic);
                }
            }
            ServerEvent::Message { id, message } => {
                let Some(slot) = self.channels.get_mut(&id) else {
                    return;
                };
                let (channel, mut ctx) = slot.split(id, self.game, &self.server);
                match self.handlers.dispatch(channel, &mut ctx, &message) {
                    Ok(_) => {}
                    Err(error @ MessageError::Panicked { .. }) => self.failed(id, &error),
                    Err(error) => self.on_error(id, error),
                }
            }
            ServerEvent::Error { id, error } => {
                let error = MessageError::NotAMessage {
                    source: error.into_inner(),
                };
                self.on_error(id, error);
            }
            ServerEvent::Dropped { id, reason } => {
                self.hook(id, "on_dropped", |channel, ctx| {
                    channel.on_dropped(ctx, &reason);
                });
            }
            ServerEvent::Resumed { id } => {
                self.hook(id, "on_resumed", |channel, ctx| channel.on_resumed(ctx));
            }
            ServerEvent::Disconnected { id, reason } => {
                let Some(mut slot) = self.channels.remove(&id) else {
                    return;
                };
                let (channel, mut ctx) = slot.split(id, self.game, &self.server);
                if let Err(panic) = catch(policy, "on_disconnect", || {
                    channel.on_disconnect(&mut ctx, &reason)
                }) {
                    report::error(format_args!("connection {id}: {panic}"));
                }
            }
            _ => {}
        }
    }

    /// Hands `error` to the channel's `on_error`, under the panic policy.
    fn on_error(&mut self, id: ConnectionId, error: MessageError) {
        self.hook(id, "on_error", |channel, ctx| channel.on_error(ctx, error));
    }

    /// Runs hook `name` of connection `id`'s channel, if it has one, under the panic
    /// policy.
    fn hook(
        &mut self,
        id: ConnectionId,
        name: &'static str,
        hook: impl FnOnce(&mut C, &mut ChannelCtx<'_, C>),
    ) {
        let Some(slot) = self.channels.get_mut(&id) else {
            return;
        };
        let policy = self.handlers.panic_policy();
        let (channel, mut ctx) = slot.split(id, self.game, &self.server);
        if let Err(panic) = catch(policy, name, || hook(channel, &mut ctx)) {
            self.failed(id, &panic);
        }
    }

    /// A handler or hook panicked while handling connection `id` (and the policy caught
    /// it): says so, and closes that connection; the game goes on.
    fn failed(&self, id: ConnectionId, panic: &MessageError) {
        report::error(format_args!(
            "connection {id}: {panic}; closing the connection (PanicPolicy::Catch)"
        ));
        let what = panic.action().unwrap_or("a message");
        let _ = self
            .server
            .close(id, &format!("the server failed handling {what:?}"));
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

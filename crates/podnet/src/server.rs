//! The server side: a `Channel` per connection, handlers keyed by action, one game state.

use std::net::SocketAddr;
use std::time::Duration;

use podnet_framing::{Message, RawMessage, Value};
use podnet_sync::{ServerEvent, ServerHandle};
use podnet_transport::{ConnectionId, DisconnectReason, Handshake, ServerConfig, ShutdownReport};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::handlers::{FxMap, Table, decode, to_value};

/// One connected player, as the server sees them: repod's `Channel`.
///
/// A value of your type is created with `Default` when a client connects and dropped when
/// it leaves. Its handlers, registered once in [`handlers`](Self::handlers), get `&mut self`
/// and a [`ChannelCtx`] with the server-wide [`Game`](Self::Game) state and ways to send.
/// They run on the thread that calls [`Server::pump`], so nothing needs a lock.
///
/// | repod | podnet |
/// |---|---|
/// | `def Network_move(self, data)` | `h.on(Self::on_move)` with `fn on_move(&mut self, ctx, msg: Move)` |
/// | `def network_received(self, data)` | [`network_received`](Self::network_received) |
/// | `on_connect` / `on_close` / `on_error` | [`on_connect`](Self::on_connect) / [`on_disconnect`](Self::on_disconnect) / [`on_error`](Self::on_error) |
/// | `self.server.send_to_all(data)` | `ctx.send_to_all(&msg)` |
///
/// # Example
///
/// ```
/// use podnet::{Channel, ChannelCtx, ChannelHandlers, Message};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct Chat { text: String }
/// impl Message for Chat { const ACTION: &'static str = "chat"; }
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
///     fn chat(&mut self, ctx: &mut ChannelCtx<'_, Self>, msg: Chat) {
///         self.said += 1;
///         ctx.game.lines += 1;
///         let _ = ctx.send_to_all(&msg);
///     }
/// }
/// ```
pub trait Channel: Default + 'static {
    /// The state the whole server shares, owned by the thread that pumps (use `()` if
    /// there is none).
    type Game: 'static;

    /// Registers the handlers, once per server. Default: none, so every message goes to
    /// [`network_received`](Self::network_received).
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
    /// Sending to it no longer works.
    fn on_disconnect(&mut self, ctx: &mut ChannelCtx<'_, Self>, reason: &DisconnectReason) {
        let _ = (ctx, reason);
    }

    /// Something the client sent could not be handled: a frame that is not a message, or
    /// a message that does not fit its handler's type (repod's `on_error`; the `error`
    /// event). The connection stays open. Default: logs a warning.
    fn on_error(&mut self, ctx: &mut ChannelCtx<'_, Self>, error: Error) {
        tracing::warn!(id = %ctx.id(), %error, "message not handled");
    }

    /// A message whose action has no handler (repod's `network_received`), as a dynamic
    /// value with its `"action"`. Default: ignores it.
    fn network_received(&mut self, ctx: &mut ChannelCtx<'_, Self>, msg: Value) {
        let _ = (ctx, msg);
    }
}

type ChannelFn<C> =
    Box<dyn for<'a, 'b> Fn(&mut C, &'b mut ChannelCtx<'a, C>, &RawMessage) -> Result<(), Error>>;

/// The handlers of a [`Channel`] type, one per action.
///
/// Registering two handlers for one action, or one for a `podnet:` action, panics at
/// registration, when the server starts.
pub struct ChannelHandlers<C: Channel> {
    table: Table<ChannelFn<C>>,
}

impl<C: Channel> ChannelHandlers<C> {
    /// Handles messages of type `M` (action `M::ACTION`) with `f`: repod's
    /// `Network_<action>`. The message is decoded into `M` first; one that does not fit
    /// goes to [`Channel::on_error`].
    ///
    /// # Panics
    ///
    /// If `M::ACTION` already has a handler, or starts with `podnet:`.
    #[track_caller]
    pub fn on<M>(&mut self, f: impl Fn(&mut C, &mut ChannelCtx<'_, C>, M) + 'static) -> &mut Self
    where
        M: Message + DeserializeOwned + 'static,
    {
        let handler: ChannelFn<C> = Box::new(
            move |channel: &mut C, ctx: &mut ChannelCtx<'_, C>, msg: &RawMessage| {
                f(channel, ctx, decode::<M>(msg)?);
                Ok(())
            },
        );
        self.table
            .insert(M::ACTION, std::any::type_name::<M>(), handler);
        self
    }

    /// Handles the action `action` with `f`, which gets the message as a dynamic value: for
    /// actions named at run time, or messages without a Rust type.
    ///
    /// # Panics
    ///
    /// As [`on`](Self::on).
    #[track_caller]
    pub fn on_value(
        &mut self,
        action: &str,
        f: impl Fn(&mut C, &mut ChannelCtx<'_, C>, Value) + 'static,
    ) -> &mut Self {
        let handler: ChannelFn<C> = Box::new(
            move |channel: &mut C, ctx: &mut ChannelCtx<'_, C>, msg: &RawMessage| {
                let value = to_value(msg)?;
                f(channel, ctx, value);
                Ok(())
            },
        );
        self.table.insert(action, "a value handler", handler);
        self
    }

    /// Handles the action `action` with `f`, which gets the message as received, undecoded:
    /// for relaying or echoing it unchanged (see [`Frame::from_message`]).
    ///
    /// [`Frame::from_message`]: podnet_transport::Frame::from_message
    ///
    /// # Panics
    ///
    /// As [`on`](Self::on).
    ///
    /// ```
    /// use podnet::{Channel, ChannelHandlers, Frame};
    ///
    /// #[derive(Default)]
    /// struct Echo;
    /// impl Channel for Echo {
    ///     type Game = ();
    ///     fn handlers(h: &mut ChannelHandlers<Self>) {
    ///         h.on_raw("ping", |_, ctx, msg| {
    ///             if let Ok(frame) = Frame::from_message(msg) {
    ///                 let _ = ctx.server().send_frame(ctx.id(), &frame);
    ///             }
    ///         });
    ///     }
    /// }
    /// ```
    #[track_caller]
    pub fn on_raw(
        &mut self,
        action: &str,
        f: impl Fn(&mut C, &mut ChannelCtx<'_, C>, &RawMessage) + 'static,
    ) -> &mut Self {
        let handler: ChannelFn<C> = Box::new(
            move |channel: &mut C, ctx: &mut ChannelCtx<'_, C>, msg: &RawMessage| {
                f(channel, ctx, msg);
                Ok(())
            },
        );
        self.table.insert(action, "a raw handler", handler);
        self
    }

    /// How many actions have a handler.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether no action has a handler.
    pub fn is_empty(&self) -> bool {
        self.table.len() == 0
    }
}

/// What a [`Channel`]'s handlers get besides the message: the game state, the connection,
/// and ways to send.
pub struct ChannelCtx<'a, C: Channel> {
    id: ConnectionId,
    peer: SocketAddr,
    handshake: &'a Handshake,
    /// The server-wide state.
    pub game: &'a mut C::Game,
    server: &'a ServerHandle,
    stop: &'a mut bool,
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

    /// Sends a message to this client (repod's `self.send`).
    ///
    /// # Errors
    ///
    /// If the client is gone or not reading (see `SlowConsumerPolicy`), or the message
    /// does not encode.
    pub fn send<M: Message + Serialize + ?Sized>(&self, msg: &M) -> Result<(), Error> {
        Ok(self.server.send(self.id, msg)?)
    }

    /// Sends a message to another connection.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn send_to<M: Message + Serialize + ?Sized>(
        &self,
        id: ConnectionId,
        msg: &M,
    ) -> Result<(), Error> {
        Ok(self.server.send(id, msg)?)
    }

    /// Sends a message to every client, this one included, encoded once (repod's
    /// `server.send_to_all`). Returns how many it was queued for.
    ///
    /// # Errors
    ///
    /// If the message does not encode.
    pub fn send_to_all<M: Message + Serialize + ?Sized>(&self, msg: &M) -> Result<usize, Error> {
        Ok(self.server.send_to_all(msg)?)
    }

    /// Closes this client's connection gracefully with `reason`.
    pub fn close(&self, reason: &str) {
        // Already closing is fine: the reason given first stands.
        let _ = self.server.close(self.id, reason);
    }

    /// The server, for anything else: other connections, broadcasting frames.
    pub fn server(&self) -> &ServerHandle {
        self.server
    }

    /// Asks [`Server::launch`] to shut the server down once this event is handled.
    pub fn stop_server(&mut self) {
        *self.stop = true;
    }
}

/// A podnet server: its network on a background thread, its [`Channel`]s and game state on
/// the thread that calls [`pump`](Self::pump).
///
/// It dereferences to a [`ServerHandle`] for sending (`send`, `send_to_all`, `close`,
/// `connection_ids`, `local_addr`). Dropping it shuts it down gracefully.
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
    handle: ServerHandle,
    handlers: ChannelHandlers<C>,
    channels: FxMap<ConnectionId, Slot<C>>,
    game: C::Game,
    stop: bool,
}

/// One connected client: its channel, and what the transport told of it.
struct Slot<C> {
    channel: C,
    peer: SocketAddr,
    handshake: Handshake,
}

impl<C: Channel> Server<C> {
    /// Starts the server on a background thread, listening on `addr`, with `game` as its
    /// state (repod's `start_background`). Port 0 picks a free port.
    ///
    /// # Errors
    ///
    /// If the address does not resolve or cannot be listened on.
    ///
    /// # Panics
    ///
    /// If [`Channel::handlers`] registers two handlers for one action.
    pub fn start_background(
        addr: impl std::net::ToSocketAddrs + std::fmt::Debug,
        game: C::Game,
    ) -> Result<Self, Error> {
        Self::start_background_with(addr, ServerConfig::default(), game)
    }

    /// As [`start_background`](Self::start_background), with a configuration.
    ///
    /// # Errors
    ///
    /// As [`start_background`](Self::start_background).
    pub fn start_background_with(
        addr: impl std::net::ToSocketAddrs + std::fmt::Debug,
        config: ServerConfig,
        game: C::Game,
    ) -> Result<Self, Error> {
        let mut handlers = ChannelHandlers {
            table: Table::default(),
        };
        C::handlers(&mut handlers);
        let net = podnet_sync::Server::start(addr, config)?;
        Ok(Server {
            handle: net.handle(),
            net,
            handlers,
            channels: FxMap::default(),
            game,
            stop: false,
        })
    }

    /// Runs the server on the calling thread until a handler calls
    /// [`ChannelCtx::stop_server`] (repod's `launch`, for dedicated servers), then shuts it
    /// down and returns the game state.
    ///
    /// # Errors
    ///
    /// As [`start_background`](Self::start_background).
    pub fn launch(
        addr: impl std::net::ToSocketAddrs + std::fmt::Debug,
        game: C::Game,
    ) -> Result<C::Game, Error> {
        let mut server = Self::start_background(addr, game)?;
        while !server.stop {
            server.pump_timeout(Duration::from_millis(100));
        }
        server.shutdown("server closed", Duration::from_secs(5));
        let Server { game, .. } = server;
        Ok(game)
    }

    /// Handles every event queued now on this thread: creates and drops channels, calls
    /// their handlers and hooks. Returns how many events it handled. Never blocks; call it
    /// once per frame. See [`podnet_sync::Server`] for the full contract.
    pub fn pump(&mut self) -> usize {
        let (net, dispatch) = self.dispatcher();
        net.pump(dispatch)
    }

    /// Waits up to `timeout` for the first event, then handles it and everything queued,
    /// as [`pump`](Self::pump). Returns how many events it handled.
    pub fn pump_timeout(&mut self, timeout: Duration) -> usize {
        let (net, dispatch) = self.dispatcher();
        net.pump_timeout(timeout, dispatch)
    }

    /// The network, and the handler that dispatches its events to the channels.
    fn dispatcher(&mut self) -> (&mut podnet_sync::Server, impl FnMut(ServerEvent) + '_) {
        let Self {
            net,
            handle,
            handlers,
            channels,
            game,
            stop,
        } = self;
        (net, move |event| {
            dispatch(event, handle, handlers, channels, game, stop)
        })
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

    /// Every connected client's channel, in no particular order (repod's
    /// `server.channels`).
    pub fn channels(&self) -> impl Iterator<Item = (ConnectionId, &C)> {
        self.channels.iter().map(|(id, slot)| (*id, &slot.channel))
    }

    /// A handle for sending from other threads.
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
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

impl<C: Channel> std::ops::Deref for Server<C> {
    type Target = ServerHandle;

    fn deref(&self) -> &ServerHandle {
        &self.handle
    }
}

fn dispatch<C: Channel>(
    event: ServerEvent,
    server: &ServerHandle,
    handlers: &ChannelHandlers<C>,
    channels: &mut FxMap<ConnectionId, Slot<C>>,
    game: &mut C::Game,
    stop: &mut bool,
) {
    match event {
        ServerEvent::Connected {
            id,
            peer,
            handshake,
        } => {
            let Slot {
                channel,
                peer,
                handshake,
            } = channels.entry(id).or_insert_with(|| Slot {
                channel: C::default(),
                peer,
                handshake,
            });
            let mut ctx = ChannelCtx {
                id,
                peer: *peer,
                handshake,
                game,
                server,
                stop,
            };
            channel.on_connect(&mut ctx);
        }
        ServerEvent::Message { id, message } => {
            let Some(Slot {
                channel,
                peer,
                handshake,
            }) = channels.get_mut(&id)
            else {
                return;
            };
            let mut ctx = ChannelCtx {
                id,
                peer: *peer,
                handshake,
                game,
                server,
                stop,
            };
            let handled = match handlers.table.get(message.action_bytes()) {
                Some(handler) => handler(channel, &mut ctx, &message),
                None => to_value(&message).map(|value| channel.network_received(&mut ctx, value)),
            };
            if let Err(error) = handled {
                channel.on_error(&mut ctx, error);
            }
        }
        ServerEvent::Error { id, error } => {
            if let Some(Slot {
                channel,
                peer,
                handshake,
            }) = channels.get_mut(&id)
            {
                let mut ctx = ChannelCtx {
                    id,
                    peer: *peer,
                    handshake,
                    game,
                    server,
                    stop,
                };
                channel.on_error(&mut ctx, Error::Transport(error.into_inner()));
            }
        }
        ServerEvent::Disconnected { id, reason } => {
            if let Some(Slot {
                mut channel,
                peer,
                handshake,
            }) = channels.remove(&id)
            {
                let mut ctx = ChannelCtx {
                    id,
                    peer,
                    handshake: &handshake,
                    game,
                    server,
                    stop,
                };
                channel.on_disconnect(&mut ctx, &reason);
            }
        }
        _ => {}
    }
}

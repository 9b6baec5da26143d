//! What a game writes per player: its [`Channel`] type, the context its handlers get,
//! and how a channel is made when a player connects.

use super::*;

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
    fn on_connect(&mut self, ctx: &mut ChannelCtx<'_, Self>) -> HookResult {
        let _ = ctx;
        Ok(())
    }

    /// The client is gone, for `reason` (repod's `on_close`; the `disconnected` event).
    /// Sending to it no longer works. A player whose connection dropped and who did not
    /// come back within the grace period (see [`on_dropped`](Self::on_dropped)) ends here
    /// once, with [`DisconnectReason::NotResumed`].
    fn on_disconnect(
        &mut self,
        ctx: &mut ChannelCtx<'_, Self>,
        reason: &DisconnectReason,
    ) -> HookResult {
        let _ = (ctx, reason);
        Ok(())
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
    fn on_dropped(
        &mut self,
        ctx: &mut ChannelCtx<'_, Self>,
        reason: &DisconnectReason,
    ) -> HookResult {
        let _ = (ctx, reason);
        Ok(())
    }

    /// The client came back after [`on_dropped`](Self::on_dropped), on a new connection:
    /// the same channel, and nothing sent either way was lost.
    fn on_resumed(&mut self, ctx: &mut ChannelCtx<'_, Self>) -> HookResult {
        let _ = ctx;
        Ok(())
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
    pub(super) id: ConnectionId,
    pub(super) peer: SocketAddr,
    pub(super) handshake: &'a Handshake,
    /// The server-wide state.
    pub game: &'a mut C::Game,
    pub(super) server: &'a ServerHandle,
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

//! Setting a server up before it starts: address, config, how channels are made.

use super::*;

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
    pub(super) addrs: Result<Addrs, Error>,
    pub(super) config: ServerConfig,
    pub(super) new_channel: F,
    pub(super) _channel: PhantomData<fn() -> C>,
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

    /// Where the network runs: on a thread of its own (the default), or inside
    /// [`Server::pump`] on the game's thread ([`NetworkMode::Pump`]: less CPU per message,
    /// and the game must pump regularly). Sets
    /// [`ServerConfig::network_mode`](crate::ServerConfig::network_mode); see
    /// [`NetworkMode`] for how to choose.
    ///
    /// ```
    /// use podnet::{Channel, NetworkMode, Server};
    ///
    /// #[derive(Default)]
    /// struct Player;
    /// impl Channel for Player { type Game = (); }
    ///
    /// let mut server = Server::<Player>::builder()
    ///     .addr("127.0.0.1:0")
    ///     .network_mode(NetworkMode::Pump)
    ///     .start_background(())?;
    /// server.pump(); // reads the sockets, runs the handlers, writes the replies
    /// # Ok::<(), podnet::Error>(())
    /// ```
    pub fn network_mode(mut self, mode: NetworkMode) -> Self {
        self.config.network_mode = mode;
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
            unhandled: UnhandledActions::default(),
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

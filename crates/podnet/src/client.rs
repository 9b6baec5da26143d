//! The client side: a `ConnectionListener` with handlers keyed by action.

use std::net::SocketAddr;
use std::time::Duration;

use podnet_framing::{Message, RawMessage, Value};
use podnet_sync::ClientEvent;
use podnet_transport::{ClientConfig, ConnectionInfo, DisconnectReason, Handshake};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::handlers::{Table, decode, to_value};

/// A game's client side: repod's `ConnectionListener`.
///
/// Your type holds the client's state; its handlers, registered once in
/// [`handlers`](Self::handlers), get `&mut self` and a [`ClientCtx`] to send with. They run
/// on the thread that calls [`Client::pump`].
///
/// | repod | podnet |
/// |---|---|
/// | `def Network_state(self, data)` | `h.on(Self::on_state)` with `fn on_state(&mut self, ctx, msg: State)` |
/// | `Network_connected` (the server's greeting) | `h.on(Self::connected)` with [`Connected`](crate::Connected) |
/// | `Network_socketConnect` | [`on_connect`](Self::on_connect) |
/// | `Network_disconnected` | [`on_close`](Self::on_close) |
/// | `Network_error` | [`on_error`](Self::on_error) |
/// | `network_received` | [`network_received`](Self::network_received) |
///
/// # Example
///
/// ```
/// use podnet::{ClientCtx, ConnectionListener, ListenerHandlers, Message};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct Chat { who: String, text: String }
/// impl Message for Chat { const ACTION: &'static str = "chat"; }
///
/// #[derive(Default)]
/// struct ChatWindow { lines: Vec<String> }
///
/// impl ConnectionListener for ChatWindow {
///     fn handlers(h: &mut ListenerHandlers<Self>) {
///         h.on(Self::chat);
///     }
/// }
///
/// impl ChatWindow {
///     fn chat(&mut self, _ctx: &mut ClientCtx<'_>, msg: Chat) {
///         self.lines.push(format!("{}: {}", msg.who, msg.text));
///     }
/// }
/// ```
pub trait ConnectionListener: 'static {
    /// Registers the handlers, once per client. Default: none.
    fn handlers(h: &mut ListenerHandlers<Self>)
    where
        Self: Sized,
    {
        let _ = h;
    }

    /// The TCP connection opened (repod's `socketConnect`). The server's own greeting
    /// follows as the `connected` message.
    fn on_connect(&mut self, ctx: &mut ClientCtx<'_>) {
        let _ = ctx;
    }

    /// The handshake with the server completed (peng3dnet's `on_handshake_complete`),
    /// before any message is handled: with a podnet server's `podnet:hello`, or at once
    /// with the first message of a repod server, which never says hello.
    /// [`Handshake::peer`](podnet_transport::Handshake::peer) says which.
    fn on_handshake_complete(&mut self, ctx: &mut ClientCtx<'_>, handshake: &Handshake) {
        let _ = (ctx, handshake);
    }

    /// The connection ended, for `reason` (repod's `disconnected`).
    fn on_close(&mut self, ctx: &mut ClientCtx<'_>, reason: &DisconnectReason) {
        let _ = (ctx, reason);
    }

    /// Something the server sent could not be handled (repod's `error`). The connection
    /// stays open. Default: logs a warning.
    fn on_error(&mut self, ctx: &mut ClientCtx<'_>, error: Error) {
        let _ = ctx;
        tracing::warn!(%error, "message not handled");
    }

    /// A message whose action has no handler (repod's `network_received`), as a dynamic
    /// value with its `"action"`. Default: ignores it.
    fn network_received(&mut self, ctx: &mut ClientCtx<'_>, msg: Value) {
        let _ = (ctx, msg);
    }
}

type ListenerFn<L> =
    Box<dyn for<'a, 'b> Fn(&mut L, &'b mut ClientCtx<'a>, &RawMessage) -> Result<(), Error>>;

/// The handlers of a [`ConnectionListener`] type, one per action.
pub struct ListenerHandlers<L> {
    table: Table<ListenerFn<L>>,
}

impl<L: ConnectionListener> ListenerHandlers<L> {
    /// Handles messages of type `M` (action `M::ACTION`) with `f`: repod's
    /// `Network_<action>`. A message that does not fit `M` goes to
    /// [`ConnectionListener::on_error`].
    ///
    /// # Panics
    ///
    /// If `M::ACTION` already has a handler, or starts with `podnet:`.
    #[track_caller]
    pub fn on<M>(&mut self, f: impl Fn(&mut L, &mut ClientCtx<'_>, M) + 'static) -> &mut Self
    where
        M: Message + DeserializeOwned + 'static,
    {
        let handler: ListenerFn<L> = Box::new(
            move |listener: &mut L, ctx: &mut ClientCtx<'_>, msg: &RawMessage| {
                f(listener, ctx, decode::<M>(msg)?);
                Ok(())
            },
        );
        self.table
            .insert(M::ACTION, std::any::type_name::<M>(), handler);
        self
    }

    /// Handles the action `action` with `f`, which gets the message as a dynamic value.
    ///
    /// # Panics
    ///
    /// As [`on`](Self::on).
    #[track_caller]
    pub fn on_value(
        &mut self,
        action: &str,
        f: impl Fn(&mut L, &mut ClientCtx<'_>, Value) + 'static,
    ) -> &mut Self {
        let handler: ListenerFn<L> = Box::new(
            move |listener: &mut L, ctx: &mut ClientCtx<'_>, msg: &RawMessage| {
                let value = to_value(msg)?;
                f(listener, ctx, value);
                Ok(())
            },
        );
        self.table.insert(action, "a value handler", handler);
        self
    }
}

/// What a [`ConnectionListener`]'s handlers get besides the message: a way to send.
pub struct ClientCtx<'a> {
    net: &'a podnet_sync::Client,
}

impl ClientCtx<'_> {
    /// Sends a message to the server.
    ///
    /// # Errors
    ///
    /// If the connection is closed, or the message does not encode.
    pub fn send<M: Message + Serialize + ?Sized>(&self, msg: &M) -> Result<(), Error> {
        Ok(self.net.send(msg)?)
    }

    /// Closes the connection gracefully with `reason`.
    pub fn close(&self, reason: &str) {
        self.net.close(reason);
    }

    /// The underlying client handle, `Clone + Send`, for other threads.
    pub fn handle(&self) -> &podnet_sync::Client {
        self.net
    }
}

/// A connection to a podnet or repod server, with its network on a background thread and
/// its [`ConnectionListener`] on the thread that calls [`pump`](Self::pump).
///
/// # Example
///
/// ```no_run
/// use podnet::{Client, ConnectionListener};
///
/// #[derive(Default)]
/// struct Game;
/// impl ConnectionListener for Game {}
///
/// let mut client = Client::connect("127.0.0.1:5071", Game)?;
/// loop {
///     client.pump(); // once per frame
///     // ... the rest of the frame ...
/// #   break;
/// }
/// # Ok::<(), podnet::Error>(())
/// ```
pub struct Client<L: ConnectionListener> {
    net: podnet_sync::Client,
    handlers: ListenerHandlers<L>,
    listener: L,
}

impl<L: ConnectionListener> Client<L> {
    /// Connects to `addr` and starts the network on a background thread (repod's
    /// `connect`). Returns once the TCP connection is open; the handshake follows, and
    /// [`ConnectionListener::on_handshake_complete`] runs when it is done. Until the
    /// server has read the handshake it does not count this client as a player, so a
    /// broadcast it makes meanwhile does not reach it; what this client sends is always
    /// handled after its handshake.
    ///
    /// # Errors
    ///
    /// If the server cannot be reached; the error says why (refused, timed out, ...).
    ///
    /// # Panics
    ///
    /// If [`ConnectionListener::handlers`] registers two handlers for one action.
    pub fn connect(
        addr: impl std::net::ToSocketAddrs + std::fmt::Debug,
        listener: L,
    ) -> Result<Self, Error> {
        Self::connect_with(addr, ClientConfig::default(), listener)
    }

    /// As [`connect`](Self::connect), with a configuration.
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    pub fn connect_with(
        addr: impl std::net::ToSocketAddrs + std::fmt::Debug,
        config: ClientConfig,
        listener: L,
    ) -> Result<Self, Error> {
        let mut handlers = ListenerHandlers {
            table: Table::default(),
        };
        L::handlers(&mut handlers);
        let net = podnet_sync::Client::connect(addr, config)?;
        Ok(Client {
            net,
            handlers,
            listener,
        })
    }

    /// Handles every event queued now with the listener, on this thread. Returns how many
    /// events it handled. Never blocks; call it once per frame.
    pub fn pump(&mut self) -> usize {
        let (net, dispatch) = self.dispatcher();
        net.pump(dispatch)
    }

    /// Waits up to `timeout` for the first event, then handles it and everything queued.
    /// Returns how many events it handled.
    pub fn pump_timeout(&mut self, timeout: Duration) -> usize {
        let (net, dispatch) = self.dispatcher();
        net.pump_timeout(timeout, dispatch)
    }

    /// The network handle, and the handler that dispatches its events to the listener.
    fn dispatcher(&mut self) -> (&podnet_sync::Client, impl FnMut(ClientEvent) + '_) {
        let Self {
            net,
            handlers,
            listener,
        } = self;
        let net: &podnet_sync::Client = net;
        (net, move |event| dispatch(event, net, handlers, listener))
    }

    /// Sends a message to the server. Never blocks.
    ///
    /// # Errors
    ///
    /// If the connection is closed, the server does not read fast enough, or the message
    /// does not encode.
    pub fn send<M: Message + Serialize + ?Sized>(&self, msg: &M) -> Result<(), Error> {
        Ok(self.net.send(msg)?)
    }

    /// Sends a message under an action name chosen at run time.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn send_with_action<T: Serialize + ?Sized>(
        &self,
        action: &str,
        msg: &T,
    ) -> Result<(), Error> {
        Ok(self.net.send_with_action(action, msg)?)
    }

    /// Closes the connection gracefully with `reason`; `on_close` follows on a later pump.
    pub fn close(&self, reason: &str) {
        self.net.close(reason);
    }

    /// Whether the connection is open.
    pub fn is_connected(&self) -> bool {
        self.net.is_connected()
    }

    /// The listener: the client's state.
    pub fn listener(&self) -> &L {
        &self.listener
    }

    /// The listener, to change between pumps.
    pub fn listener_mut(&mut self) -> &mut L {
        &mut self.listener
    }

    /// A `Clone + Send` handle for sending from other threads.
    pub fn handle(&self) -> podnet_sync::Client {
        self.net.clone()
    }

    /// The server's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.net.peer_addr()
    }

    /// Figures for the connection; `rtt` is the round trip the heartbeat measured (podnet
    /// servers only).
    pub fn info(&self) -> ConnectionInfo {
        self.net.info()
    }
}

fn dispatch<L: ConnectionListener>(
    event: ClientEvent,
    net: &podnet_sync::Client,
    handlers: &ListenerHandlers<L>,
    listener: &mut L,
) {
    let mut ctx = ClientCtx { net };
    match event {
        ClientEvent::SocketConnect { .. } => listener.on_connect(&mut ctx),
        ClientEvent::Handshake(handshake) => listener.on_handshake_complete(&mut ctx, &handshake),
        ClientEvent::Message(message) => {
            let handled = match handlers.table.get(message.action_bytes()) {
                Some(handler) => handler(listener, &mut ctx, &message),
                None => to_value(&message).map(|value| listener.network_received(&mut ctx, value)),
            };
            if let Err(error) = handled {
                listener.on_error(&mut ctx, error);
            }
        }
        ClientEvent::Error(error) => {
            listener.on_error(&mut ctx, Error::Transport(error.into_inner()));
        }
        ClientEvent::Disconnected(reason) => listener.on_close(&mut ctx, &reason),
        _ => {}
    }
}

//! The client side: a `ConnectionListener` with handlers keyed by action.

use std::net::SocketAddr;
use std::time::Duration;

use podnet_dispatch::{Context, Handled, MessageError, Recent, UnhandledActions, catch};
use podnet_framing::{Message, Outgoing, RawMessage};
use podnet_sync::{ClientEvent, ClientHandle, EventHandler, Received};
use podnet_transport::{
    ClientConfig, ConnectionInfo, DisconnectReason, Handshake, NetworkMode, SendError,
};

use crate::addr::{Addrs, resolve};
use crate::{Error, HookResult, report};

/// A game's client side: repod's `ConnectionListener`.
///
/// Your type holds the client's state; its handlers, registered once in
/// [`handlers`](Self::handlers), get `&mut self` and a [`ClientCtx`] to send with. They run
/// on the thread that calls [`Client::pump`]. The hooks have the server's names:
/// [`on_connect`](Self::on_connect), [`on_disconnect`](Self::on_disconnect),
/// [`on_error`](Self::on_error).
///
/// | repod | podnet |
/// |---|---|
/// | `def Network_state(self, data)` | `h.on(Self::on_state)` with `fn on_state(&mut self, ctx, msg: State)` |
/// | `Network_connected` (the server's greeting) | `h.on(Self::connected)` with [`Connected`](crate::Connected) |
/// | `Network_socketConnect` | [`on_socket_connect`](Self::on_socket_connect) |
/// | `Network_disconnected` | [`on_disconnect`](Self::on_disconnect) |
/// | `Network_error` | [`on_error`](Self::on_error) |
/// | (no resume in repod) | [`on_reconnecting`](Self::on_reconnecting) / [`on_resumed`](Self::on_resumed) |
/// | `network_received` | `h.fallback(...)`, with the message as a [`Value`](crate::Value) |
///
/// # Example
///
/// ```
/// use podnet::{ClientCtx, ConnectionListener, ListenerHandlers, Message};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize, Message)]
/// #[message(action = "chat")]
/// struct Chat { who: String, text: String }
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
pub trait ConnectionListener: Sized + 'static {
    /// Registers the handlers, once per client. Default: none, so every message is
    /// ignored.
    fn handlers(h: &mut ListenerHandlers<Self>) {
        let _ = h;
    }

    /// The TCP connection opened (repod's `socketConnect`); the handshake follows.
    fn on_socket_connect(&mut self, ctx: &mut ClientCtx<'_>) -> HookResult {
        let _ = ctx;
        Ok(())
    }

    /// The handshake with the server completed (peng3dnet's `on_handshake_complete`),
    /// before any message is handled: with a podnet server's `podnet:hello`, or at once
    /// with the first message of a repod server, which never says hello.
    /// [`ClientCtx::handshake`] says which. The server's own greeting follows as the
    /// `connected` message.
    fn on_connect(&mut self, ctx: &mut ClientCtx<'_>) -> HookResult {
        let _ = ctx;
        Ok(())
    }

    /// The connection ended, for `reason` (repod's `disconnected`). A client that gave
    /// up reconnecting ends here once, with [`DisconnectReason::NotResumed`] (or
    /// [`DisconnectReason::ResumeRefused`] if the server no longer had its session).
    fn on_disconnect(&mut self, ctx: &mut ClientCtx<'_>, reason: &DisconnectReason) -> HookResult {
        let _ = (ctx, reason);
        Ok(())
    }

    /// The connection to a podnet server dropped without a close, and the client is
    /// reconnecting to resume its session (see [`ResumeConfig`](crate::ResumeConfig):
    /// exponential backoff with jitter, 12 attempts by default): `attempt` (from 1) comes
    /// next; `reason` is why the connection dropped, or why the previous attempt failed.
    /// Sending goes on working meanwhile: what you send is kept and delivered once the
    /// session resumes. A game may show "reconnecting...". Then either
    /// [`on_resumed`](Self::on_resumed), or [`on_disconnect`](Self::on_disconnect) if it
    /// gives up.
    fn on_reconnecting(
        &mut self,
        ctx: &mut ClientCtx<'_>,
        attempt: u32,
        reason: &DisconnectReason,
    ) -> HookResult {
        let _ = (ctx, attempt, reason);
        Ok(())
    }

    /// The session resumed on a new connection: nothing sent either way was lost.
    fn on_resumed(&mut self, ctx: &mut ClientCtx<'_>) -> HookResult {
        let _ = ctx;
        Ok(())
    }

    /// Something the server sent was not handled: a frame that is not a message, a
    /// message that does not fit its handler's type, or a handler that returned an error
    /// (repod's `error`). The connection stays open.
    ///
    /// Default: a warning naming the action, through `tracing` if the program installed
    /// a subscriber, on stderr if not.
    fn on_error(&mut self, ctx: &mut ClientCtx<'_>, error: MessageError) {
        let _ = ctx;
        report::warn(format_args!(
            "{error} (override ConnectionListener::on_error to handle this)"
        ));
    }
}

/// The [`Context`] of a [`ConnectionListener`]'s handlers: a [`ClientCtx`].
#[derive(Debug)]
pub struct ListenerSide;

impl Context for ListenerSide {
    type Ctx<'a> = ClientCtx<'a>;
}

/// The handlers of a [`ConnectionListener`] type, one per action: see
/// [`Handlers`](crate::Handlers) for the registrations (`on`, `on_value`, `on_raw`,
/// `fallback`) and the [`PanicPolicy`](crate::PanicPolicy).
pub type ListenerHandlers<L> = podnet_dispatch::Handlers<L, ListenerSide>;

/// What a [`ConnectionListener`]'s handlers get besides the message: a way to send.
pub struct ClientCtx<'a> {
    handle: &'a ClientHandle,
    handshake: Option<&'a Handshake>,
}

impl ClientCtx<'_> {
    /// Sends a message to the server: a typed message, an action named at run time with
    /// its fields ([`WithAction`](crate::WithAction)), or an encoded
    /// [`Frame`](crate::wire::Frame). Never blocks.
    ///
    /// # Errors
    ///
    /// If the connection is closed, the server does not read fast enough, or the message
    /// does not encode.
    pub fn send<M: Outgoing + ?Sized>(&self, msg: &M) -> Result<(), SendError> {
        self.handle.send(msg)
    }

    /// Closes the connection gracefully with `reason`, after what was sent.
    pub fn close(&self, reason: &str) {
        self.handle.close(reason);
    }

    /// What the handshake settled (podnet or repod server), once it completed: always
    /// in handlers and in `on_connect`, `None` in `on_socket_connect`.
    pub fn handshake(&self) -> Option<&Handshake> {
        self.handshake
    }

    /// The client's handle, `Clone + Send`: clone it to send from other threads.
    pub fn handle(&self) -> &ClientHandle {
        self.handle
    }
}

/// Sets up a [`Client`]: its server's address (default repod's,
/// [`DEFAULT_ADDR`](crate::DEFAULT_ADDR)) and its [`ClientConfig`]. From
/// [`Client::builder`].
///
/// ```no_run
/// use podnet::{Client, ClientConfig, ConnectionListener};
///
/// #[derive(Default)]
/// struct Game;
/// impl ConnectionListener for Game {}
///
/// // 127.0.0.1:5071, as repod's clients default to.
/// let client = Client::builder().config(ClientConfig::default()).connect(Game)?;
/// # Ok::<(), podnet::Error>(())
/// ```
#[must_use = "a builder does nothing until `connect`"]
pub struct ClientBuilder {
    addrs: Result<Addrs, Error>,
    config: ClientConfig,
}

impl ClientBuilder {
    /// Connects to `addr` instead of [`DEFAULT_ADDR`](crate::DEFAULT_ADDR).
    pub fn addr(mut self, addr: impl crate::Addr) -> Self {
        self.addrs = resolve(addr);
        self
    }

    /// Uses `config` instead of `ClientConfig::default()`.
    pub fn config(mut self, config: ClientConfig) -> Self {
        self.config = config;
        self
    }

    /// Where the network runs: on a thread of its own (the default), or inside
    /// [`Client::pump`] on the game's thread ([`NetworkMode::Pump`]). Sets
    /// [`ClientConfig::network_mode`](crate::ClientConfig::network_mode).
    pub fn network_mode(mut self, mode: NetworkMode) -> Self {
        self.config.network_mode = mode;
        self
    }

    /// Connects, with `listener` as the client's state, and starts the network on a
    /// background thread (repod's `connect`). Returns once the TCP connection is open;
    /// the handshake follows, and [`ConnectionListener::on_connect`] runs when it is done.
    /// Until the server has read the handshake it does not count this client as a
    /// player, so a broadcast it makes meanwhile does not reach it; what this client
    /// sends is always handled after its handshake.
    ///
    /// # Errors
    ///
    /// If the address does not resolve or the server cannot be reached; the error names
    /// the address and says why (refused, timed out, ...).
    ///
    /// # Panics
    ///
    /// If [`ConnectionListener::handlers`] registers two handlers for one action.
    pub fn connect<L: ConnectionListener>(self, listener: L) -> Result<Client<L>, Error> {
        let mut handlers = ListenerHandlers::<L>::new();
        L::handlers(&mut handlers);
        let addrs = self.addrs?;
        let net = podnet_sync::Client::connect(&addrs[..], self.config)?;
        Ok(Client {
            net,
            handlers,
            listener,
            handshake: None,
            unhandled: UnhandledActions::default(),
        })
    }
}

/// A connection to a podnet or repod server, with its network on a background thread and
/// its [`ConnectionListener`] on the thread that calls [`pump`](Self::pump).
///
/// The `Client` owns the listener and pumps; it is not `Clone`. To send or close from
/// other threads, clone its [`handle`](Self::handle), which cannot pump. Dropping the
/// client closes the connection gracefully.
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
    handshake: Option<Handshake>,
    /// Actions that found no handler, reported once each.
    unhandled: UnhandledActions,
}

impl Client<()> {
    /// A [`ClientBuilder`] with repod's address (`127.0.0.1:5071`) and the default
    /// configuration.
    pub fn builder() -> ClientBuilder {
        ClientBuilder {
            addrs: resolve(crate::DEFAULT_ADDR),
            config: ClientConfig::default(),
        }
    }
}

/// `()` as a listener: a client that handles nothing, e.g. a bot that only sends.
impl ConnectionListener for () {}

impl<L: ConnectionListener> Client<L> {
    /// Connects to `addr` with `listener` as the client's state (repod's `connect`); see
    /// [`ClientBuilder::connect`]. For a configuration or repod's default address, see
    /// [`Client::builder`].
    ///
    /// # Errors
    ///
    /// As [`ClientBuilder::connect`].
    ///
    /// # Panics
    ///
    /// As [`ClientBuilder::connect`].
    pub fn connect(addr: impl crate::Addr, listener: L) -> Result<Self, Error> {
        Client::builder().addr(addr).connect(listener)
    }

    /// Handles every event queued now with the listener, on this thread. Returns how many
    /// events it handled. Never blocks; call it once per frame.
    pub fn pump(&mut self) -> usize {
        self.pump_within(None)
    }

    /// Waits up to `timeout` for the first event, then handles it and everything queued.
    /// Returns how many events it handled.
    pub fn pump_timeout(&mut self, timeout: Duration) -> usize {
        self.pump_within(Some(timeout))
    }

    /// With the network inside `pump()` ([`NetworkMode::Pump`]), writes what was sent
    /// since the last pump and is still queued, without handling any event. With a
    /// network thread it does nothing.
    pub fn flush(&self) {
        self.net.flush();
    }

    fn pump_within(&mut self, timeout: Option<Duration>) -> usize {
        let Self {
            net,
            handlers,
            listener,
            handshake,
            unhandled,
        } = self;
        let mut to = Dispatch {
            handle: net.handle(),
            handlers,
            listener,
            handshake,
            unhandled,
        };
        match timeout {
            None => net.pump_with(&mut to),
            Some(timeout) => net.pump_timeout_with(timeout, &mut to),
        }
    }

    /// Sends a message to the server: a typed message, an action named at run time with
    /// its fields ([`WithAction`](crate::WithAction)), or an encoded
    /// [`Frame`](crate::wire::Frame). Never blocks.
    ///
    /// # Errors
    ///
    /// If the connection is closed, the server does not read fast enough, or the message
    /// does not encode.
    pub fn send<M: Outgoing + ?Sized>(&self, msg: &M) -> Result<(), SendError> {
        self.net.send(msg)
    }

    /// Closes the connection gracefully with `reason`, after what was sent;
    /// `on_disconnect` follows on a later pump.
    pub fn close(&self, reason: &str) {
        self.net.close(reason);
    }

    /// Whether the connection is open.
    pub fn is_connected(&self) -> bool {
        self.net.is_connected()
    }

    /// What the handshake settled, once it completed.
    pub fn handshake(&self) -> Option<&Handshake> {
        self.handshake.as_ref()
    }

    /// The listener: the client's state.
    pub fn listener(&self) -> &L {
        &self.listener
    }

    /// The listener, to change between pumps.
    pub fn listener_mut(&mut self) -> &mut L {
        &mut self.listener
    }

    /// The handle for sending and closing from other threads (`Clone + Send + Sync`;
    /// it cannot pump). Clone it to keep one.
    pub fn handle(&self) -> &ClientHandle {
        self.net.handle()
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

/// What the client's events are dispatched to.
struct Dispatch<'a, L: ConnectionListener> {
    handle: &'a ClientHandle,
    handlers: &'a ListenerHandlers<L>,
    listener: &'a mut L,
    handshake: &'a mut Option<Handshake>,
    unhandled: &'a mut UnhandledActions,
}

impl<L: ConnectionListener> EventHandler<ClientEvent> for Dispatch<'_, L> {
    fn event(&mut self, event: ClientEvent) {
        let policy = self.handlers.panic_policy();
        if let ClientEvent::Handshake(settled) = &event {
            *self.handshake = Some(settled.clone());
        }
        let listener = &mut *self.listener;
        let mut ctx = ClientCtx {
            handle: self.handle,
            handshake: self.handshake.as_ref(),
        };
        // A hook's outcome: its panic, or the error it returned, with its name.
        let hook = |name: &'static str, outcome: Result<HookResult, MessageError>| match outcome {
            Ok(Ok(())) => Ok(None),
            Ok(Err(source)) => Ok(Some(MessageError::Hook { hook: name, source })),
            Err(panic) => Err(panic),
        };
        let outcome = match event {
            ClientEvent::SocketConnect { .. } => hook(
                "on_socket_connect",
                catch(policy, "on_socket_connect", || {
                    listener.on_socket_connect(&mut ctx)
                }),
            ),
            ClientEvent::Handshake(_) => hook(
                "on_connect",
                catch(policy, "on_connect", || listener.on_connect(&mut ctx)),
            ),
            ClientEvent::Message(message) => handle(
                self.handlers,
                &mut Recent::default(),
                self.unhandled,
                listener,
                &mut ctx,
                &message,
            )
            .map(|()| None),
            ClientEvent::Error(error) => {
                let error = MessageError::NotAMessage {
                    source: error.into_inner(),
                };
                catch(policy, "on_error", || listener.on_error(&mut ctx, error)).map(|()| None)
            }
            ClientEvent::Disconnected(reason) => {
                match catch(policy, "on_disconnect", || {
                    listener.on_disconnect(&mut ctx, &reason)
                }) {
                    // The connection is gone: there is no `on_error` to tell.
                    Ok(Err(error)) => {
                        report::warn(format_args!("on_disconnect failed: {error}"));
                        Ok(None)
                    }
                    other => hook("on_disconnect", other),
                }
            }
            ClientEvent::Reconnecting { attempt, reason } => hook(
                "on_reconnecting",
                catch(policy, "on_reconnecting", || {
                    listener.on_reconnecting(&mut ctx, attempt, &reason)
                }),
            ),
            ClientEvent::Resumed => hook(
                "on_resumed",
                catch(policy, "on_resumed", || listener.on_resumed(&mut ctx)),
            ),
            _ => Ok(None),
        };
        let outcome = match outcome {
            Ok(Some(error)) => catch(policy, "on_error", || listener.on_error(&mut ctx, error)),
            Ok(None) => Ok(()),
            Err(panic) => Err(panic),
        };
        if let Err(panic) = outcome {
            failed(self.handle, &panic);
        }
    }

    /// A read's messages, each lent to its handler where it lies in the read's buffer.
    fn received(&mut self, received: Received<ClientEvent>) {
        let (client, handlers, unhandled) = (self.handle, self.handlers, &mut *self.unhandled);
        let listener = &mut *self.listener;
        let mut ctx = ClientCtx {
            handle: client,
            handshake: self.handshake.as_ref(),
        };
        let mut recent = Recent::default();
        received.for_each_message(|message| {
            let outcome = handle(
                handlers,
                &mut recent,
                unhandled,
                listener,
                &mut ctx,
                message,
            );
            if let Err(panic) = outcome {
                failed(client, &panic);
            }
        });
    }
}

/// Runs the handler of `message`'s action on `listener`; what went wrong goes to its
/// `on_error`. Returns the panic, if one was caught.
fn handle<'t, L: ConnectionListener>(
    handlers: &'t ListenerHandlers<L>,
    recent: &mut Recent<'t, L, ListenerSide>,
    unhandled: &mut UnhandledActions,
    listener: &mut L,
    ctx: &mut ClientCtx<'_>,
    message: &RawMessage,
) -> Result<(), MessageError> {
    let error = match handlers.dispatch_recent(recent, listener, ctx, message) {
        // The server's greeting needs no handler (a listener that wants it has one), and a
        // listener with no handlers at all takes no messages on purpose.
        Ok(Handled::Unhandled)
            if !handlers.is_empty()
                && message.action() != <crate::Connected as Message>::ACTION =>
        {
            match unhandled.report(message.action()) {
                Some(error) => error,
                None => return Ok(()),
            }
        }
        Ok(_) => return Ok(()),
        Err(error @ MessageError::Panicked { .. }) => return Err(error),
        Err(error) => error,
    };
    catch(handlers.panic_policy(), "on_error", || {
        listener.on_error(ctx, error)
    })
}

/// A handler or hook panicked (and the policy caught it): says so, and closes the
/// connection.
fn failed(handle: &ClientHandle, panic: &MessageError) {
    report::error(format_args!(
        "{panic}; closing the connection (PanicPolicy::Catch)"
    ));
    let what = panic.action().unwrap_or("a message");
    handle.close(&format!("the client failed handling {what:?}"));
}

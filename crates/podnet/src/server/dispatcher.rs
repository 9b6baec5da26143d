//! One pump's events, dispatched to the channels: connects and leaves, messages to their
//! handlers, errors and resumes to the hooks.

use super::*;
use podnet_dispatch::{Handled, Recent};
use podnet_sync::{EventHandler, Received};

/// Dispatches one pump's events to the channels.
pub(super) struct Dispatcher<'s, C: Channel> {
    pub(super) server: ServerHandle,
    pub(super) handlers: &'s ChannelHandlers<C>,
    pub(super) channels: &'s mut BTreeMap<ConnectionId, Slot<C>>,
    pub(super) new_channel: &'s mut MakeChannel<C>,
    pub(super) game: &'s mut C::Game,
    pub(super) unhandled: &'s mut UnhandledActions,
}

impl<C: Channel> Dispatcher<'_, C> {
    pub(super) fn dispatch(&mut self, event: ServerEvent) {
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
                match catch(policy, "on_connect", || channel.on_connect(&mut ctx)) {
                    Ok(Ok(())) => {}
                    Ok(Err(source)) => self.on_error(
                        id,
                        MessageError::Hook {
                            hook: "on_connect",
                            source,
                        },
                    ),
                    Err(panic) => self.failed(id, &panic),
                }
            }
            ServerEvent::Message { id, message } => {
                let Some(slot) = self.channels.get_mut(&id) else {
                    return;
                };
                let (channel, mut ctx) = slot.split(id, self.game, &self.server);
                let recent = &mut Recent::default();
                handle(
                    self.handlers,
                    recent,
                    self.unhandled,
                    channel,
                    &mut ctx,
                    &message,
                );
            }
            ServerEvent::Error { id, error } => {
                let error = MessageError::NotAMessage {
                    source: error.into_inner(),
                };
                self.on_error(id, error);
            }
            ServerEvent::Dropped { id, reason } => {
                self.hook(id, "on_dropped", |channel, ctx| {
                    channel.on_dropped(ctx, &reason)
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
                match catch(policy, "on_disconnect", || {
                    channel.on_disconnect(&mut ctx, &reason)
                }) {
                    Ok(Ok(())) => {}
                    // The connection is gone: there is no `on_error` to tell.
                    Ok(Err(error)) => {
                        report::warn(format_args!(
                            "connection {id}: on_disconnect failed: {error}"
                        ));
                    }
                    Err(panic) => report::error(format_args!("connection {id}: {panic}")),
                }
            }
            _ => {}
        }
    }

    /// Hands `error` to the channel's `on_error`, under the panic policy.
    fn on_error(&mut self, id: ConnectionId, error: MessageError) {
        self.hook(id, "on_error", |channel, ctx| {
            channel.on_error(ctx, error);
            Ok(())
        });
    }

    /// Runs hook `name` of connection `id`'s channel, if it has one, under the panic
    /// policy; an error it returns goes to `on_error`.
    fn hook(
        &mut self,
        id: ConnectionId,
        name: &'static str,
        hook: impl FnOnce(&mut C, &mut ChannelCtx<'_, C>) -> HookResult,
    ) {
        let Some(slot) = self.channels.get_mut(&id) else {
            return;
        };
        let policy = self.handlers.panic_policy();
        let (channel, mut ctx) = slot.split(id, self.game, &self.server);
        match catch(policy, name, || hook(channel, &mut ctx)) {
            Ok(Ok(())) => {}
            Ok(Err(source)) => self.on_error(id, MessageError::Hook { hook: name, source }),
            Err(panic) => self.failed(id, &panic),
        }
    }

    /// A handler or hook panicked while handling connection `id` (and the policy caught
    /// it): says so, and closes that connection; the game goes on.
    fn failed(&self, id: ConnectionId, panic: &MessageError) {
        failed(&self.server, id, panic);
    }
}

impl<C: Channel> EventHandler<ServerEvent> for Dispatcher<'_, C> {
    fn event(&mut self, event: ServerEvent) {
        self.dispatch(event);
    }

    /// A read's messages, all from one connection: its channel is found once, and each
    /// message is lent to its handler where it lies in the read's buffer.
    fn received(&mut self, received: Received<ServerEvent>) {
        let id = received.source();
        let Some(slot) = self.channels.get_mut(&id) else {
            return;
        };
        let (channel, mut ctx) = slot.split(id, self.game, &self.server);
        let (handlers, unhandled) = (self.handlers, &mut *self.unhandled);
        let mut recent = Recent::default();
        received.for_each_message(|message| {
            handle(handlers, &mut recent, unhandled, channel, &mut ctx, message);
        });
    }
}

/// Runs the handler of `message`'s action on `channel`; what went wrong goes to the
/// channel's `on_error`, a panic (caught) closes the connection.
#[inline]
fn handle<'t, C: Channel>(
    handlers: &'t ChannelHandlers<C>,
    recent: &mut Recent<'t, C, ChannelSide<C>>,
    unhandled: &mut UnhandledActions,
    channel: &mut C,
    ctx: &mut ChannelCtx<'_, C>,
    message: &podnet_framing::RawMessage,
) {
    let error = match handlers.dispatch_recent(recent, channel, ctx, message) {
        Ok(Handled::ByHandler | Handled::ByFallback) => return,
        // A channel with no handlers at all takes no messages on purpose.
        Ok(Handled::Unhandled) if handlers.is_empty() => return,
        Ok(Handled::Unhandled) => match unhandled.report(message.action()) {
            Some(error) => error,
            None => return,
        },
        Err(error @ MessageError::Panicked { .. }) => return failed(ctx.server, ctx.id, &error),
        Err(error) => error,
    };
    let policy = handlers.panic_policy();
    if let Err(panic) = catch(policy, "on_error", || channel.on_error(ctx, error)) {
        failed(ctx.server, ctx.id, &panic);
    }
}

/// A handler or hook panicked while handling connection `id` (and the policy caught it):
/// says so, and closes that connection; the game goes on.
fn failed(server: &ServerHandle, id: ConnectionId, panic: &MessageError) {
    report::error(format_args!(
        "connection {id}: {panic}; closing the connection (PanicPolicy::Catch)"
    ));
    let what = panic.action().unwrap_or("a message");
    let _ = server.close(id, &format!("the server failed handling {what:?}"));
}

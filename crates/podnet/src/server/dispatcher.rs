//! One pump's events, dispatched to the channels: connects and leaves, messages to their
//! handlers, errors and resumes to the hooks.

use super::*;
use podnet_dispatch::Handled;

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
                    // A channel with no handlers at all takes no messages on purpose.
                    Ok(Handled::Unhandled) if !self.handlers.is_empty() => {
                        if let Some(error) = self.unhandled.report(message.action()) {
                            self.on_error(id, error);
                        }
                    }
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

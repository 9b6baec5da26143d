//! What a pump hands what arrived to.

use podnet_transport::{Received, ReceivedEvent};

/// Takes what one `pump()` hands over: each event, in order, and the messages of one
/// read of one connection at once. A closure `FnMut(E)` is one (with [`Each`]); implement
/// it to take a read's messages by reference ([`Received::for_each_message`]), the
/// cheapest way to handle a burst: no event is made for each message, and no message
/// takes a reference count of its own.
///
/// ```
/// use podnet_sync::{EventHandler, Received};
/// use podnet_transport::ServerEvent;
///
/// /// Counts the moves, and prints what else happens.
/// #[derive(Default)]
/// struct Moves(u64);
///
/// impl EventHandler<ServerEvent> for Moves {
///     fn event(&mut self, event: ServerEvent) {
///         println!("{event:?}");
///     }
///
///     fn received(&mut self, received: Received<ServerEvent>) {
///         received.for_each_message(|msg| self.0 += u64::from(msg.action() == "move"));
///     }
/// }
///
/// let mut server = podnet_sync::Server::start("127.0.0.1:0", Default::default())?;
/// let mut moves = Moves::default();
/// server.pump_with(&mut moves);
/// # Ok::<(), podnet_sync::SyncError>(())
/// ```
pub trait EventHandler<E: ReceivedEvent> {
    /// One event: a connect, a leave, an error, or a message.
    fn event(&mut self, event: E);

    /// The messages one read of one connection brought, in the order they arrived, after
    /// the events before them and before those after. The default makes each an event of
    /// its own for [`event`](Self::event).
    fn received(&mut self, received: Received<E>) {
        for event in received {
            self.event(event);
        }
    }
}

/// A closure as an [`EventHandler`]: every message is an event of its own.
#[derive(Debug)]
pub struct Each<F>(pub F);

impl<E: ReceivedEvent, F: FnMut(E)> EventHandler<E> for Each<F> {
    #[inline]
    fn event(&mut self, event: E) {
        (self.0)(event);
    }
}

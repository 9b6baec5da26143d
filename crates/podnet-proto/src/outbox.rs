//! Where a server's outgoing frames go, as the layers above the transport see it.

use podnet_framing::{Frame, FramingConfig};

use crate::ConnectionId;

/// What the layers above a server (the lobby, the cluster, a game's own code) need of
/// it to reach its players: send an encoded frame to one or to all, close one, stop
/// accepting. The transport's `ServerHandle` implements it (`server.handle()`, async or
/// under `pump()`); a test harness can too.
///
/// A send or close to a connection that is not there is not an error here: it is going
/// away, and its `Disconnected` event says so.
///
/// ```
/// use std::sync::Mutex;
/// use podnet_proto::{ConnectionId, Outbox};
/// use podnet_proto::podnet_framing::{Frame, FramingConfig};
///
/// /// Counts what would be sent.
/// #[derive(Default)]
/// struct Counter { sent: Mutex<usize>, framing: FramingConfig }
///
/// impl Outbox for Counter {
///     fn send_frame(&self, _: ConnectionId, _: &Frame) -> bool {
///         *self.sent.lock().unwrap() += 1;
///         true
///     }
///     fn send_frame_to_all(&self, _: &Frame) -> usize { 0 }
///     fn close(&self, _: ConnectionId, _: &str) -> bool { true }
///     fn stop_accepting(&self) {}
///     fn framing(&self) -> &FramingConfig { &self.framing }
/// }
///
/// let out = Counter::default();
/// let frame = Frame::encode_with_action("ping", &(), out.framing())?;
/// out.send_frame(ConnectionId::from_raw(1), &frame);
/// assert_eq!(*out.sent.lock().unwrap(), 1);
/// # Ok::<(), podnet_proto::podnet_framing::FramingError>(())
/// ```
pub trait Outbox {
    /// Queues `frame` for connection `id`; false if it is not there (or not taking
    /// more).
    fn send_frame(&self, id: ConnectionId, frame: &Frame) -> bool;
    /// Queues `frame` for every connection; returns how many took it.
    fn send_frame_to_all(&self, frame: &Frame) -> usize;
    /// Closes connection `id` after what was queued for it, telling it `reason`; false
    /// if it is not there.
    fn close(&self, id: ConnectionId, reason: &str) -> bool;
    /// Stops accepting new connections.
    fn stop_accepting(&self);
    /// The framing limits to encode frames with.
    fn framing(&self) -> &FramingConfig;
}

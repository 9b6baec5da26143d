//! Where the lobby's decisions go: the sends and closes of a server, sync or async.

use podnet_framing::Frame;
use podnet_framing::FramingConfig;
use podnet_proto::ConnectionId;

/// What the lobby needs of a server: send a frame, close a connection with a reason, stop
/// accepting. Implemented for a server's [`ServerHandle`](podnet_transport::ServerHandle)
/// (`server.handle()`, async or under `pump()`); implement it to drive a [`Lobby`] from
/// something else, a test harness for example.
///
/// Failures are not reported: a connection that cannot be sent to is going away, and its
/// `Disconnected` event will tell the lobby.
///
/// [`Lobby`]: crate::Lobby
pub trait Outbox {
    /// Queues `frame` for connection `id`.
    fn send_frame(&self, id: ConnectionId, frame: &Frame);
    /// Closes connection `id` after what was queued for it, telling it `reason`.
    fn close(&self, id: ConnectionId, reason: &str);
    /// Stops accepting new connections.
    fn stop_accepting(&self);
    /// The framing limits to encode frames with.
    fn framing(&self) -> &FramingConfig;
}

impl Outbox for podnet_transport::ServerHandle {
    fn send_frame(&self, id: ConnectionId, frame: &Frame) {
        let _ = podnet_transport::ServerHandle::send_frame(self, id, frame);
    }

    fn close(&self, id: ConnectionId, reason: &str) {
        let _ = podnet_transport::ServerHandle::close(self, id, reason);
    }

    fn stop_accepting(&self) {
        podnet_transport::ServerHandle::stop_accepting(self);
    }

    fn framing(&self) -> &FramingConfig {
        podnet_transport::ServerHandle::framing(self)
    }
}

/// Encodes and sends `msg`; a message that does not encode is logged and dropped (the
/// lobby's own messages always encode; a game's may be too large).
pub(crate) fn send<M>(out: &dyn Outbox, id: ConnectionId, msg: &M)
where
    M: podnet_framing::Message + serde::Serialize + ?Sized,
{
    match Frame::encode(msg, out.framing()) {
        Ok(frame) => out.send_frame(id, &frame),
        Err(err) => tracing::warn!(%id, action = M::ACTION, %err, "message not sent"),
    }
}

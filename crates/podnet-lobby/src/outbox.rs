//! Where the lobby's decisions go: the sends and closes of a server, sync or async.

use podnet_framing::Frame;
use podnet_proto::ConnectionId;

/// What the lobby needs of a server: the protocol's [`Outbox`](podnet_proto::Outbox),
/// which a server's [`ServerHandle`](podnet_transport::ServerHandle) implements
/// (`server.handle()`, async or under `pump()`); implement it to drive a
/// [`Lobby`](crate::Lobby) from something else, a test harness for example. The lobby
/// ignores what sends and closes return: a connection that cannot be sent to is going
/// away, and its `Disconnected` event will tell the lobby.
pub use podnet_proto::Outbox;

/// Encodes and sends `msg`; a message that does not encode is logged and dropped (the
/// lobby's own messages always encode; a game's may be too large).
pub(crate) fn send<M>(out: &dyn Outbox, id: ConnectionId, msg: &M)
where
    M: podnet_framing::Message + serde::Serialize + ?Sized,
{
    match Frame::encode(msg, out.framing()) {
        Ok(frame) => drop(out.send_frame(id, &frame)),
        Err(err) => tracing::warn!(%id, action = M::ACTION, %err, "message not sent"),
    }
}

//! What the lobby is told about its players' connections: the server's events as plain
//! data, so that the lobby's core depends on no transport.

use podnet_framing::RawMessage;
use podnet_proto::ConnectionId;
use podnet_transport::ServerEvent;

/// Something that happened to a player's connection, for [`Lobby::handle`].
///
/// A podnet server's [`ServerEvent`]s convert into it (`lobby.handle(event, out)` takes
/// them as they come); another server that can say these five things can drive a
/// lobby too.
///
/// [`Lobby::handle`]: crate::Lobby::handle
///
/// ```
/// use podnet_lobby::PlayerEvent;
/// use podnet_transport::ConnectionId;
///
/// let event = PlayerEvent::Connected(ConnectionId::from_raw(7));
/// assert_eq!(event.id(), Some(ConnectionId::from_raw(7)));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum PlayerEvent {
    /// A new connection: a player who is to log in.
    Connected(ConnectionId),
    /// A message from the player.
    Message(ConnectionId, RawMessage),
    /// The player sent a frame that is not a message; `reason` is told back to them.
    BadMessage(ConnectionId, String),
    /// The player's resumable connection dropped: they are away, and may come back.
    Dropped(ConnectionId),
    /// The player is back after a drop, nothing lost.
    Resumed(ConnectionId),
    /// The player's connection ended: their name is free again.
    Disconnected(ConnectionId),
    /// Something the lobby does not act on.
    Other,
}

impl PlayerEvent {
    /// The connection it is about, if any.
    pub fn id(&self) -> Option<ConnectionId> {
        match self {
            Self::Connected(id)
            | Self::Message(id, _)
            | Self::BadMessage(id, _)
            | Self::Dropped(id)
            | Self::Resumed(id)
            | Self::Disconnected(id) => Some(*id),
            Self::Other => None,
        }
    }
}

impl From<ServerEvent> for PlayerEvent {
    fn from(event: ServerEvent) -> Self {
        match event {
            ServerEvent::Connected { id, .. } => Self::Connected(id),
            ServerEvent::Message { id, message } => Self::Message(id, message.into_inner()),
            ServerEvent::Error { id, error } => Self::BadMessage(id, error.to_string()),
            ServerEvent::Dropped { id, .. } => Self::Dropped(id),
            ServerEvent::Resumed { id } => Self::Resumed(id),
            ServerEvent::Disconnected { id, .. } => Self::Disconnected(id),
            _ => Self::Other,
        }
    }
}

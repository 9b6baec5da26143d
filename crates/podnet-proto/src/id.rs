//! Connection ids.

use std::fmt;

/// Identifies one connection of a server, for as long as the server runs.
///
/// Ids count up from 1 and are never reused, so a stale id can never reach a newer
/// connection (peng3dnet's client ids). An id travels in messages as its number
/// (`Serialize`/`Deserialize`), so a game can tell players which player is which.
///
/// ```
/// use podnet_proto::ConnectionId;
///
/// let id = ConnectionId::from_raw(7);
/// assert_eq!(id.get(), 7);
/// assert_eq!(id.to_string(), "#7");
///
/// // Into a message's number field: the id itself (it travels as its number), or u64.
/// let number: u64 = id.into();
/// assert_eq!(number, 7);
/// assert_eq!(ConnectionId::from(7), id);
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct ConnectionId(u64);

impl ConnectionId {
    /// The id with this number. Useful in tests and for ids stored as numbers; sending
    /// to an id the server never gave out fails with `NotConnected`.
    pub const fn from_raw(raw: u64) -> Self {
        Self(raw)
    }

    /// The id's number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl From<ConnectionId> for u64 {
    fn from(id: ConnectionId) -> u64 {
        id.0
    }
}

impl From<u64> for ConnectionId {
    /// As [`ConnectionId::from_raw`].
    fn from(raw: u64) -> Self {
        Self(raw)
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

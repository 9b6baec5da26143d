//! What a completed handshake established.

use crate::ConnectionType;

/// Who is at the other end of a connection, as the handshake found out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Peer {
    /// A podnet peer: it said `podnet:hello` with this protocol version (the same as
    /// ours, or the handshake would have failed). Heartbeats run between podnet peers.
    Podnet {
        /// Its protocol version.
        protocol: u32,
    },
    /// A peer that never said hello: repod, PodSixNet, or anything else speaking the wire
    /// format. It is never pinged.
    Repod,
}

/// What the handshake of a connection settled (peng3dnet's `on_handshake_complete`).
///
/// On a server it completes when the client's first frame arrives (`podnet:hello` names
/// the type; any other message makes the peer a `classic` repod player at once), or when
/// the client has said nothing for `ServerConfig::hello_wait`. On a client it completes
/// with the server's first frame: its `podnet:hello`, or, from a repod server, whatever it
/// sends first (`{"action": "connected"}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// Who the peer is.
    pub peer: Peer,
    /// The connection's type: what the client asked for (`classic` unless it said
    /// otherwise).
    pub connection_type: ConnectionType,
}

impl Handshake {
    /// Whether the peer is podnet (it said hello).
    pub fn is_podnet(&self) -> bool {
        matches!(self.peer, Peer::Podnet { .. })
    }
}

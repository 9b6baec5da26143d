//! What a server tells an `info` connection: `podnet:info`.

use std::collections::BTreeMap;

use bytes::Bytes;
use podnet_framing::{FramingConfig, FramingError, RawMessage, Value};
use serde::{Deserialize, Serialize};

use crate::control::{self, INFO};

/// A server's description, as an `info` connection receives it: what a server browser or
/// a LAN list shows.
///
/// On the wire:
/// `{"action": "podnet:info", "name": "...", "protocol": 2, "players": 3, "capacity": 4096,
/// "game": {...}}`, where `game` holds the fields the game added.
///
/// ```
/// use podnet_framing::{FramingConfig, RawMessage, Value};
/// use podnet_proto::ServerInfo;
///
/// let mut info = ServerInfo::new("castle", 3, 16);
/// info.game.insert("map".into(), Value::from("dungeon"));
/// let frame = info.encode(&FramingConfig::default())?;
/// let msg = RawMessage::parse(frame.slice(4..), &FramingConfig::default())?;
/// assert_eq!(ServerInfo::decode(&msg)?, info);
/// # Ok::<(), podnet_framing::FramingError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServerInfo {
    /// The server's name (`ServerConfig::name`).
    pub name: String,
    /// The podnet protocol version it speaks.
    pub protocol: u32,
    /// Sessions connected now: players (and any other session types).
    pub players: usize,
    /// Sessions whose connection dropped, waiting for their player to resume them (not
    /// counted in `players`). A server that resumes nothing, or an older one, says 0.
    #[serde(default)]
    pub away: usize,
    /// The most connections it accepts (`ServerConfig::max_connections`).
    pub capacity: usize,
    /// What the game added (`Server::set_info`), by name.
    #[serde(default)]
    pub game: BTreeMap<String, Value>,
}

impl ServerInfo {
    /// A description with no game fields, at this crate's protocol version.
    pub fn new(name: impl Into<String>, players: usize, capacity: usize) -> Self {
        Self {
            name: name.into(),
            protocol: control::PROTOCOL_VERSION,
            players,
            away: 0,
            capacity,
            game: BTreeMap::new(),
        }
    }

    /// Encodes it as a `podnet:info` frame.
    ///
    /// # Errors
    ///
    /// If it does not fit in a frame of `config`'s maximum length (the game's fields are
    /// too large).
    pub fn encode(&self, config: &FramingConfig) -> Result<Bytes, FramingError> {
        let mut buf = bytes::BytesMut::with_capacity(128);
        podnet_framing::encode_with_action(INFO, self, &mut buf, config)?;
        Ok(buf.freeze())
    }

    /// Reads a received `podnet:info` message.
    ///
    /// # Errors
    ///
    /// If the message does not have the fields above.
    pub fn decode(msg: &RawMessage) -> Result<Self, FramingError> {
        msg.decode()
    }
}

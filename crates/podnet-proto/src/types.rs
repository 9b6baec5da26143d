//! Connection types (peng3dnet's model): what a connection is for, named by the client in
//! its `podnet:hello`, looked up by the server in its registry.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::ProtoError;
use crate::control::MAX_TYPE_NAME;

/// What a server does with a connection of a given type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionKind {
    /// A session: the application sees it (connected, messages, disconnected), tagged with
    /// the type's name, so a game can tell a player from a spectator. `classic` is one.
    Session,
    /// A server-info query (peng3dnet's ping type): the server answers with its
    /// [`ServerInfo`](crate::ServerInfo) and closes. It never reaches the application.
    /// `info` is one.
    Info,
}

/// A connection type: its name and what the server does with it.
///
/// ```
/// use podnet_proto::{ConnectionKind, ConnectionType};
///
/// let classic = ConnectionType::classic();
/// assert_eq!(classic.name(), "classic");
/// assert_eq!(classic.kind(), ConnectionKind::Session);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionType {
    name: Arc<str>,
    kind: ConnectionKind,
}

impl ConnectionType {
    /// The name of the default type: a player. A repod peer, which never says hello, is one.
    pub const CLASSIC: &'static str = "classic";
    /// The name of the server-info type.
    pub const INFO: &'static str = "info";

    /// The built-in `classic` type.
    pub fn classic() -> Self {
        Self {
            name: Arc::from(Self::CLASSIC),
            kind: ConnectionKind::Session,
        }
    }

    /// A session type of this name: what a client calls a type the server registered.
    pub(crate) fn session(name: &str) -> Self {
        Self {
            name: Arc::from(name),
            kind: ConnectionKind::Session,
        }
    }

    /// The type's name, as the client says it in `podnet:hello`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the server does with it.
    pub fn kind(&self) -> ConnectionKind {
        self.kind
    }
}

impl fmt::Display for ConnectionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// A server's registry of connection types. It starts with the built-in `classic` (a
/// player) and `info` (a server-info query); a game adds its own, for example a
/// `spectator` session its handlers treat differently.
///
/// ```
/// use podnet_proto::{ConnectionKind, ConnectionTypes, ProtoError};
///
/// let mut types = ConnectionTypes::default();
/// types.register("spectator", ConnectionKind::Session)?;
/// assert!(matches!(
///     types.register("spectator", ConnectionKind::Session),
///     Err(ProtoError::AlreadyRegistered { .. })
/// ));
/// assert_eq!(types.names().collect::<Vec<_>>(), ["classic", "info", "spectator"]);
/// # Ok::<(), ProtoError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionTypes {
    types: BTreeMap<Arc<str>, ConnectionType>,
}

impl Default for ConnectionTypes {
    fn default() -> Self {
        let mut types = BTreeMap::new();
        for ty in [
            ConnectionType::classic(),
            ConnectionType {
                name: Arc::from(ConnectionType::INFO),
                kind: ConnectionKind::Info,
            },
        ] {
            types.insert(ty.name.clone(), ty);
        }
        Self { types }
    }
}

impl ConnectionTypes {
    /// Adds a type.
    ///
    /// # Errors
    ///
    /// [`ProtoError::AlreadyRegistered`] if the name is taken (the built-in ones
    /// included); [`ProtoError::InvalidTypeName`] if it is empty, longer than 64 bytes, or
    /// not made of ASCII letters, digits, `-`, `_` and `.`.
    pub fn register(&mut self, name: &str, kind: ConnectionKind) -> Result<(), ProtoError> {
        let valid = !name.is_empty()
            && name.len() <= MAX_TYPE_NAME
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !valid {
            return Err(ProtoError::InvalidTypeName {
                name: name.to_owned(),
            });
        }
        if self.types.contains_key(name) {
            return Err(ProtoError::AlreadyRegistered {
                name: name.to_owned(),
            });
        }
        let name: Arc<str> = Arc::from(name);
        self.types
            .insert(name.clone(), ConnectionType { name, kind });
        Ok(())
    }

    /// The type registered under `name`.
    pub fn get(&self, name: &str) -> Option<&ConnectionType> {
        self.types.get(name)
    }

    /// The registered names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.types.keys().map(|name| &**name)
    }
}

//! The two ends of a connection as types of their own: what each knows beyond the
//! shared state, and which operations it has. A server's connection is a
//! [`Connection<ServerSide>`](ServerConnection), a client's a
//! [`Connection<ClientSide>`](ClientConnection); what only one side does is a method of
//! that side's type alone.

use super::*;

/// Which end of a connection a [`Connection`] is: [`ServerSide`] or [`ClientSide`].
/// Sealed: the protocol has these two ends only.
pub trait Side: sealed::Role + std::fmt::Debug + Send + Sync + 'static {}

pub(crate) mod sealed {
    use super::{ClientSide, ServerSide};

    /// How the shared state reaches the side it is on.
    pub trait Role {
        fn role(&self) -> RoleRef<'_>;
    }

    /// The side, for the few rules the two ends share with a difference.
    #[derive(Clone, Copy)]
    pub enum RoleRef<'a> {
        Server(&'a ServerSide),
        Client(&'a ClientSide),
    }
}

pub(crate) use sealed::RoleRef;

/// A server's end of a connection: the server's settings, and the connection's id (the
/// resume tokens it gives carry it).
#[derive(Debug)]
pub struct ServerSide {
    pub(super) settings: Arc<ServerSettings>,
    pub(super) id: Option<ConnectionId>,
}

/// A client's end of a connection: the client's settings, and the connection type it
/// asks for.
#[derive(Debug)]
pub struct ClientSide {
    pub(super) settings: Arc<ClientSettings>,
    pub(super) connection_type: ConnectionType,
}

impl Side for ServerSide {}
impl Side for ClientSide {}

impl sealed::Role for ServerSide {
    fn role(&self) -> RoleRef<'_> {
        RoleRef::Server(self)
    }
}

impl sealed::Role for ClientSide {
    fn role(&self) -> RoleRef<'_> {
        RoleRef::Client(self)
    }
}

impl<'a> RoleRef<'a> {
    /// The per-connection settings.
    pub(super) fn config(self) -> &'a ConnectionConfig {
        match self {
            RoleRef::Server(s) => &s.settings.connection,
            RoleRef::Client(c) => &c.settings.connection,
        }
    }
}

/// A server's connection.
pub type ServerConnection = Connection<ServerSide>;
/// A client's connection.
pub type ClientConnection = Connection<ClientSide>;

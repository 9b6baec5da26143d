//! What a connection needs to know, by role, beyond [`ConnectionConfig`].

use super::*;

/// What a server-side connection needs beyond [`ConnectionConfig`]. One per server,
/// shared by its connections.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerSettings {
    /// The per-connection settings.
    pub connection: ConnectionConfig,
    /// The connection types this server accepts.
    pub types: ConnectionTypes,
    /// How long a new connection may stay silent before it counts as a `classic` peer
    /// that does not say hello (repod). A podnet client says hello with its first bytes,
    /// so this only has to cover their way from the client's `connect` to the server.
    /// Default: **10 ms**.
    pub hello_wait: Duration,
    /// [`hello_wait`](Self::hello_wait) for a connection opened by a WebSocket upgrade,
    /// counted from the upgrade's answer: a browser says hello once the answer has
    /// reached it, a round trip later. Default: **500 ms**.
    pub websocket_hello_wait: Duration,
    /// repod's `{"action": "connected"}` greeting, encoded, sent to each session when its
    /// handshake completes; `None` sends none.
    pub greeting: Option<Bytes>,
    /// Grant resumable sessions to podnet clients that ask, acknowledging as this says;
    /// `None` grants none (a resume is then refused). Default: `None`.
    pub resume: Option<ResumeSettings>,
    /// This server instance's number, carried in every resume token it gives, so that a
    /// restarted server refuses the tokens of the one before. Default: a random number.
    pub instance: u64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            connection: ConnectionConfig::default(),
            types: ConnectionTypes::default(),
            hello_wait: Duration::from_millis(10),
            websocket_hello_wait: Duration::from_millis(500),
            greeting: None,
            resume: None,
            instance: ResumeToken::new_instance(),
        }
    }
}

/// What a client-side connection needs beyond [`ConnectionConfig`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientSettings {
    /// The per-connection settings.
    pub connection: ConnectionConfig,
    /// The connection type to ask for. Default: `classic`.
    pub connection_type: String,
    /// Say `podnet:hello` first thing. Default: **true**. Without it a podnet server
    /// takes this client for a repod one.
    pub hello: bool,
    /// Ask the server for a resumable session, acknowledging as this says; `None` asks
    /// for none. Default: `None`.
    pub resume: Option<ResumeSettings>,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            connection: ConnectionConfig::default(),
            connection_type: ConnectionType::CLASSIC.to_owned(),
            hello: true,
            resume: None,
        }
    }
}

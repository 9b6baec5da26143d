//! Opening a connection to the server: resolving its address, connecting, and TLS.

use super::*;

/// Resolves `addr` and connects to the first of its addresses that answers.
pub(super) async fn resolve_and_connect(
    addr: impl ToSocketAddrs + crate::Addr,
) -> Result<TcpStream, TransportError> {
    socket::open_first(addr, TcpStream::connect, |addr, source| {
        TransportError::Connect { addr, source }
    })
    .await
}

/// A new connection to a resuming client's server.
pub(super) struct Link {
    pub(super) reader: driver::BoxRead,
    pub(super) writer: driver::BoxWrite,
    pub(super) direct: Option<Arc<dyn DirectWrite>>,
}

/// A connected socket, past its TLS handshake when the config asks for TLS.
pub(super) enum Opened {
    Tcp(TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// Tunes a freshly connected socket and, with TLS configured, runs the handshake by
/// `deadline` (`timed_out` is the error past it).
pub(super) async fn finish_connect(
    stream: TcpStream,
    config: &ClientConfig,
    deadline: tokio::time::Instant,
    timed_out: impl Fn() -> TransportError,
) -> Result<Opened, TransportError> {
    if let Err(err) = socket::tune(&stream, &config.connection.liveness) {
        debug!(peer = ?stream.peer_addr().ok(), %err, "could not set socket options");
    }
    #[cfg(feature = "tls")]
    if let Some(tls) = config.tls.clone() {
        let stream = tokio::time::timeout_at(
            deadline,
            tls.connector.connect(tls.server_name.clone(), stream),
        )
        .await
        .map_err(|_| timed_out())?
        .map_err(|source| TransportError::TlsHandshake {
            server_name: tls.server_name(),
            source,
        })?;
        return Ok(Opened::Tls(Box::new(stream)));
    }
    #[cfg(not(feature = "tls"))]
    let _ = (deadline, timed_out);
    Ok(Opened::Tcp(stream))
}

/// Connects to `peer` as `config` says (TLS included), within its connect timeout.
pub(super) async fn open_link(
    peer: SocketAddr,
    config: &ClientConfig,
) -> Result<Link, TransportError> {
    let timeout = config.connect_timeout;
    let deadline = tokio::time::Instant::now() + timeout;
    let timed_out = || TransportError::ConnectTimeout {
        addr: peer.to_string(),
        timeout,
    };
    let stream = tokio::time::timeout_at(deadline, TcpStream::connect(peer))
        .await
        .map_err(|_| timed_out())?
        .map_err(|source| TransportError::Connect {
            addr: peer.to_string(),
            source,
        })?;
    #[allow(clippy::infallible_destructuring_match)] // one variant without `tls`
    let stream = match finish_connect(stream, config, deadline, timed_out).await? {
        Opened::Tcp(stream) => stream,
        #[cfg(feature = "tls")]
        Opened::Tls(stream) => {
            let (reader, writer) = tokio::io::split(*stream);
            return Ok(Link {
                reader: Box::new(reader),
                writer: Box::new(writer),
                direct: None,
            });
        }
    };
    let (reader, writer) = stream.into_split();
    let writer = Arc::new(writer);
    let direct: Arc<dyn DirectWrite> = writer.clone();
    Ok(Link {
        reader: Box::new(reader),
        writer: Box::new(SharedTcpWriter(writer)),
        direct: Some(direct),
    })
}

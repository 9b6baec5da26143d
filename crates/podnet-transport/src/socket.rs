//! Addresses resolved, socket options applied to every connection, and the last words of
//! one turned away.

use std::io;
use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use podnet_proto::Liveness;

use crate::TransportError;

/// Resolves `addr` and returns what `open` makes of the first of its addresses that
/// works. If none does, the error is `failed`'s for the last address tried, or a
/// [`TransportError::Resolve`] naming `addr` as the caller gave it.
pub(crate) async fn open_first<T, Fut>(
    addr: impl tokio::net::ToSocketAddrs + crate::Addr,
    mut open: impl FnMut(std::net::SocketAddr) -> Fut,
    failed: impl FnOnce(String, io::Error) -> TransportError,
) -> Result<T, TransportError>
where
    Fut: std::future::Future<Output = io::Result<T>>,
{
    let described = addr.describe();
    let addrs = tokio::net::lookup_host(addr)
        .await
        .map_err(|source| TransportError::Resolve {
            addr: described.clone(),
            source,
        })?;
    let mut last = None;
    for addr in addrs {
        match open(addr).await {
            Ok(opened) => return Ok(opened),
            Err(err) => last = Some((addr, err)),
        }
    }
    Err(match last {
        Some((addr, err)) => failed(addr.to_string(), err),
        None => TransportError::Resolve {
            addr: described,
            source: io::Error::new(io::ErrorKind::NotFound, "no address found"),
        },
    })
}

/// TCP_NODELAY (game messages are small and latency-bound; Nagle would hold them back) and
/// TCP keepalive as configured.
pub(crate) fn tune(stream: &TcpStream, liveness: &Liveness) -> io::Result<()> {
    stream.set_nodelay(true)?;
    if let Some(idle) = liveness.tcp_keepalive {
        let keepalive = TcpKeepalive::new().with_time(idle);
        #[cfg(any(
            target_os = "linux",
            target_os = "android",
            target_os = "macos",
            target_os = "ios",
            target_os = "windows",
            target_os = "freebsd"
        ))]
        let keepalive = keepalive.with_interval((idle / 3).max(std::time::Duration::from_secs(1)));
        SockRef::from(stream).set_tcp_keepalive(&keepalive)?;
    }
    Ok(())
}

/// Tells a peer that is being turned away `words` (a close reason, an HTTP answer), shuts
/// the writing side down, then reads until the peer closes, so that unread input does not
/// turn the close into a reset that destroys the words before they are read. All within
/// `linger`; errors only end it early.
pub(crate) async fn last_words<S>(io: &mut S, words: &[u8], linger: Duration)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let _ = tokio::time::timeout(linger, async {
        io.write_all(words).await?;
        io.shutdown().await?;
        let mut sink = [0u8; 1024];
        while io.read(&mut sink).await? > 0 {}
        Ok::<_, io::Error>(())
    })
    .await;
}

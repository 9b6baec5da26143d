//! Socket options applied to every connection.

use std::io;

use socket2::{SockRef, TcpKeepalive};
use tokio::net::TcpStream;

use podnet_proto::Liveness;

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

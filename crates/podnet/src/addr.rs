//! Addresses: repod's defaults, and resolving what a game passes once, so that errors
//! name the address.

use std::net::SocketAddr;

use podnet_transport::Addr;

use crate::Error;

/// The host a server listens on and a client connects to when none is named: repod's.
/// Only this machine can connect; a server for other machines listens on `0.0.0.0`.
pub const DEFAULT_HOST: &str = "127.0.0.1";

/// The port a server listens on and a client connects to when none is named: repod's.
pub const DEFAULT_PORT: u16 = 5071;

/// [`DEFAULT_HOST`] and [`DEFAULT_PORT`] together: `127.0.0.1:5071`.
pub const DEFAULT_ADDR: (&str, u16) = (DEFAULT_HOST, DEFAULT_PORT);

/// The addresses a name resolved to, in order.
pub(crate) type Addrs = Vec<SocketAddr>;

/// Resolves `addr` now, so that a failure names it.
pub(crate) fn resolve(addr: impl Addr) -> Result<Addrs, Error> {
    Ok(podnet_transport::resolve(addr)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_address_it_could_not_resolve() {
        let err = resolve("no-such-host.invalid:5071").unwrap_err();
        assert!(
            err.to_string().contains("no-such-host.invalid:5071"),
            "{err}"
        );
        let err = resolve("localhost").unwrap_err();
        assert!(err.to_string().contains("HOST:PORT"), "{err}");
        assert_eq!(
            resolve(DEFAULT_ADDR).unwrap()[0].to_string(),
            "127.0.0.1:5071"
        );
    }
}

//! Addresses as a game gives them: resolved once, where they are given, and named in
//! errors as they were written.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, ToSocketAddrs};

use crate::TransportError;

/// An address a server listens on or a client connects to: anything
/// [`std::net::ToSocketAddrs`] takes (`"host:port"`, `("host", port)`, a [`SocketAddr`],
/// a slice of them), which can say how it was written, so that an error names it.
///
/// ```
/// use podnet_transport::Addr;
///
/// assert_eq!(("example.org", 80).describe(), "example.org:80");
/// assert_eq!("localhost:5071".describe(), "localhost:5071");
/// let addrs = podnet_transport::resolve("127.0.0.1:5071").unwrap();
/// assert_eq!(addrs[0].port(), 5071);
/// ```
pub trait Addr: ToSocketAddrs {
    /// The address as it was written.
    fn describe(&self) -> String;
}

macro_rules! displayed {
    ($($ty:ty),*) => {$(
        impl Addr for $ty {
            fn describe(&self) -> String {
                self.to_string()
            }
        }
    )*};
}

displayed!(SocketAddr, SocketAddrV4, SocketAddrV6, str, String);

macro_rules! ip_and_port {
    ($($ip:ty),*) => {$(
        impl Addr for ($ip, u16) {
            fn describe(&self) -> String {
                SocketAddr::from((self.0, self.1)).to_string()
            }
        }
    )*};
}

ip_and_port!(IpAddr, Ipv4Addr, Ipv6Addr);

impl Addr for (&str, u16) {
    fn describe(&self) -> String {
        format!("{}:{}", self.0, self.1)
    }
}

impl Addr for (String, u16) {
    fn describe(&self) -> String {
        format!("{}:{}", self.0, self.1)
    }
}

impl Addr for &[SocketAddr] {
    fn describe(&self) -> String {
        let all: Vec<String> = self.iter().map(SocketAddr::to_string).collect();
        all.join(", ")
    }
}

impl<T: Addr + ?Sized> Addr for &T {
    fn describe(&self) -> String {
        (**self).describe()
    }
}

/// Resolves `addr` now, on the calling thread (a name is looked up in the system's
/// resolver), so that a failure names the address as it was given. Fails if it names no
/// address.
pub fn resolve(addr: impl Addr) -> Result<Vec<SocketAddr>, TransportError> {
    let failed = |source| TransportError::Resolve {
        addr: addr.describe(),
        source,
    };
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs().map_err(failed)?.collect();
    if addrs.is_empty() {
        return Err(failed(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "it names no address",
        )));
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_read_as_written() {
        assert_eq!("localhost".describe(), "localhost");
        assert_eq!(("example.org", 80).describe(), "example.org:80");
        assert_eq!(
            (String::from("example.org"), 80).describe(),
            "example.org:80"
        );
        let v6 = (Ipv6Addr::LOCALHOST, 5071);
        assert_eq!(v6.describe(), "[::1]:5071");
        let addr: SocketAddr = "127.0.0.1:5071".parse().unwrap();
        assert_eq!(addr.describe(), "127.0.0.1:5071");
        fn described(addr: impl Addr) -> String {
            addr.describe()
        }
        let name = String::from("localhost:5071");
        assert_eq!(described(&name), "localhost:5071");
        assert_eq!(described(name), "localhost:5071");
        let both = [addr, SocketAddr::from(v6)];
        assert_eq!((&both[..]).describe(), "127.0.0.1:5071, [::1]:5071");
    }

    #[test]
    fn a_failure_names_the_address() {
        let err = resolve("no-such-host.invalid:5071").unwrap_err();
        assert!(
            err.to_string().contains("no-such-host.invalid:5071"),
            "{err}"
        );
        let err = resolve("localhost").unwrap_err();
        assert!(err.to_string().contains("localhost"), "{err}");
        let none: &[SocketAddr] = &[];
        assert!(resolve(none).is_err());
        assert_eq!(
            resolve(("127.0.0.1", 5071)).unwrap(),
            ["127.0.0.1:5071".parse::<SocketAddr>().unwrap()]
        );
    }
}

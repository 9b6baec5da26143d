//! Encrypted connections with rustls, behind the `tls` feature.
//!
//! A server given [`ServerConfig::tls`](crate::ServerConfig::tls) runs the TLS handshake on
//! each accepted connection before anything else; a client given
//! [`ClientConfig::tls`](crate::ClientConfig::tls) runs it right after connecting. Past the
//! handshake nothing changes: the same frames, events, limits and API. (A repod peer speaks
//! plain TCP only, so TLS is for podnet on both ends, or behind a TLS-terminating proxy.)

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::TransportError;

/// A server's TLS settings: its certificate chain and private key, as a rustls config.
///
/// # Example
///
/// ```
/// use podnet_transport::{ServerConfig, ServerTls};
///
/// # let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// # let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
/// // cert_pem and key_pem hold PEM text, as read from files.
/// let mut config = ServerConfig::default();
/// config.tls = Some(ServerTls::from_pem(cert_pem.as_bytes(), key_pem.as_bytes())?);
/// # Ok::<(), podnet_transport::TransportError>(())
/// ```
#[derive(Clone)]
pub struct ServerTls {
    pub(crate) acceptor: tokio_rustls::TlsAcceptor,
    /// How long a new connection has to finish the handshake before it is dropped. It
    /// holds one of [`ServerConfig::max_connections`](crate::ServerConfig::max_connections)'
    /// slots meanwhile, so a peer that stalls mid-handshake costs a slot for this long.
    ///
    /// Default: **10 s**.
    pub handshake_timeout: Duration,
}

impl ServerTls {
    /// The default [`handshake_timeout`](Self::handshake_timeout): 10 s.
    pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

    /// Settings from PEM text: `cert_chain` holds the server's certificate first, then any
    /// intermediates; `private_key` holds its key (PKCS#8, PKCS#1 or SEC1).
    ///
    /// # Errors
    ///
    /// [`TransportError::TlsConfig`] if the PEM holds no certificate or no key, or rustls
    /// refuses the pair (for example a key that does not match the certificate).
    pub fn from_pem(cert_chain: &[u8], private_key: &[u8]) -> Result<Self, TransportError> {
        let certs = CertificateDer::pem_slice_iter(cert_chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| config_error(format!("could not read the certificate chain: {e}")))?;
        if certs.is_empty() {
            return Err(config_error(
                "the certificate chain holds no `BEGIN CERTIFICATE` block".into(),
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(private_key).map_err(|e| {
            config_error(format!(
                "could not read the private key: {e} (expected a PEM `PRIVATE KEY` block)"
            ))
        })?;
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| config_error(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| config_error(format!("the certificate and key were refused: {e}")))?;
        Ok(Self::from_rustls(Arc::new(config)))
    }

    /// Settings from a rustls config built by hand: for client certificates, ALPN,
    /// certificate resolvers and the rest of what rustls offers.
    pub fn from_rustls(config: Arc<rustls::ServerConfig>) -> Self {
        Self {
            acceptor: tokio_rustls::TlsAcceptor::from(config),
            handshake_timeout: Self::DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls")
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

/// Equal when they share the same rustls config and timeout.
impl PartialEq for ServerTls {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(self.acceptor.config(), other.acceptor.config())
            && self.handshake_timeout == other.handshake_timeout
    }
}

impl Eq for ServerTls {}

/// A client's TLS settings: the roots it trusts and the name the server's certificate
/// must carry.
///
/// # Example
///
/// ```
/// use podnet_transport::{ClientConfig, ClientTls};
///
/// # let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// # let ca_pem = cert.cert.pem();
/// // ca_pem: the certificate that signed the server's (or the server's own, self-signed).
/// let mut config = ClientConfig::default();
/// config.tls = Some(ClientTls::from_pem_roots(ca_pem.as_bytes(), "localhost")?);
/// # Ok::<(), podnet_transport::TransportError>(())
/// ```
#[derive(Clone)]
pub struct ClientTls {
    pub(crate) connector: tokio_rustls::TlsConnector,
    pub(crate) server_name: ServerName<'static>,
}

impl ClientTls {
    /// Trusts the certificates in `roots` (PEM text) and expects the server's certificate
    /// to be valid for `server_name` (a DNS name or an IP address).
    ///
    /// # Errors
    ///
    /// [`TransportError::TlsConfig`] if `roots` holds no certificate or one rustls
    /// refuses, or `server_name` is neither a DNS name nor an IP address.
    pub fn from_pem_roots(roots: &[u8], server_name: &str) -> Result<Self, TransportError> {
        let mut store = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(roots) {
            let cert =
                cert.map_err(|e| config_error(format!("could not read a root certificate: {e}")))?;
            store
                .add(cert)
                .map_err(|e| config_error(format!("a root certificate was refused: {e}")))?;
        }
        if store.is_empty() {
            return Err(config_error(
                "the roots hold no `BEGIN CERTIFICATE` block".into(),
            ));
        }
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| config_error(e.to_string()))?
            .with_root_certificates(store)
            .with_no_client_auth();
        Self::from_rustls(Arc::new(config), server_name)
    }

    /// Settings from a rustls config built by hand (other roots, client certificates,
    /// ALPN), checking the server's certificate against `server_name`.
    ///
    /// # Errors
    ///
    /// [`TransportError::TlsConfig`] if `server_name` is neither a DNS name nor an IP
    /// address.
    pub fn from_rustls(
        config: Arc<rustls::ClientConfig>,
        server_name: &str,
    ) -> Result<Self, TransportError> {
        let server_name = ServerName::try_from(server_name.to_owned()).map_err(|e| {
            config_error(format!(
                "`{server_name}` is not a server name: {e} (give a DNS name or an IP address)"
            ))
        })?;
        Ok(Self {
            connector: tokio_rustls::TlsConnector::from(config),
            server_name,
        })
    }

    /// The name the server's certificate must carry.
    pub fn server_name(&self) -> String {
        self.server_name.to_str().into_owned()
    }

    /// Runs the TLS handshake over `stream` (a connected socket), as this client's
    /// connections do: for a protocol on top of TLS that podnet's client does not speak
    /// itself (`podnet connect wss://` runs a WebSocket over it).
    ///
    /// # Errors
    ///
    /// The handshake's error: the server's certificate is not trusted or not valid for
    /// [`server_name`](Self::server_name), or the connection failed.
    pub async fn handshake<S>(
        &self,
        stream: S,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<S>>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        self.connector
            .connect(self.server_name.clone(), stream)
            .await
    }
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// Equal when they share the same rustls config and server name.
impl PartialEq for ClientTls {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(self.connector.config(), other.connector.config())
            && self.server_name == other.server_name
    }
}

impl Eq for ClientTls {}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn config_error(problem: String) -> TransportError {
    TransportError::TlsConfig { problem }
}

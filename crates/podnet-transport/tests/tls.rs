//! TLS (feature `tls`): the same exchange as plain TCP once the handshake is done, and
//! every way a handshake can go wrong ends that one connection and no other. The
//! certificates are made in each test with rcgen.

#![cfg(feature = "tls")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Say, next_client_event, next_client_message, next_server_event};
use podnet_transport::{
    Client, ClientConfig, ClientEvent, ClientTls, DisconnectReason, EventStream, Server,
    ServerConfig, ServerEvent, ServerTls, TransportError,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A self-signed certificate for `localhost`: (certificate PEM, key PEM).
fn certificate() -> (String, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    (cert.cert.pem(), cert.signing_key.serialize_pem())
}

async fn tls_server(cert: &str, key: &str) -> (Server, EventStream<ServerEvent>) {
    let mut config = ServerConfig::default();
    let mut tls = ServerTls::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
    tls.handshake_timeout = Duration::from_millis(300);
    config.tls = Some(tls);
    Server::bind("127.0.0.1:0", config).await.unwrap()
}

fn tls_client_config(root: &str) -> ClientConfig {
    let mut config = ClientConfig::default();
    config.tls = Some(ClientTls::from_pem_roots(root.as_bytes(), "localhost").unwrap());
    config
}

/// Waits for a Connected event, skipping nothing else: a failed handshake must leave no
/// trace in the server's events.
async fn next_connected(events: &mut EventStream<ServerEvent>) -> podnet_transport::ConnectionId {
    match next_server_event(events).await {
        ServerEvent::Connected { id, .. } => id,
        other => panic!("expected Connected, got {other:?}"),
    }
}

/// A client connects over TLS, sends; the server answers 200 messages and closes: all
/// 200 arrive in order, then the reason. The same promise as plain TCP.
#[tokio::test(start_paused = true)]
async fn messages_and_close_reason_cross_tls() {
    common::trace();
    let (cert, key) = certificate();
    let (server, mut server_events) = tls_server(&cert, &key).await;
    let (client, mut client_events) =
        Client::connect(server.local_addr(), tls_client_config(&cert))
            .await
            .unwrap();
    let id = next_connected(&mut server_events).await;

    client.send(&Say { from: 7, seq: 1 }).unwrap();
    loop {
        match next_server_event(&mut server_events).await {
            ServerEvent::Message { message, .. } if message.action() == "say" => {
                assert_eq!(message.decode::<Say>().unwrap(), Say { from: 7, seq: 1 });
                break;
            }
            ServerEvent::Message { .. } => {} // podnet:hello
            other => panic!("expected the client's message, got {other:?}"),
        }
    }

    for seq in 0..200 {
        server.send(id, &Say { from: 0, seq }).unwrap();
    }
    server.close(id, "game over").unwrap();

    assert_eq!(
        next_client_message(&mut client_events).await.action(),
        "connected"
    );
    for seq in 0..200 {
        let msg = next_client_message(&mut client_events).await;
        assert_eq!(msg.decode::<Say>().unwrap(), Say { from: 0, seq });
    }
    match next_client_event(&mut client_events).await {
        ClientEvent::Disconnected(DisconnectReason::PeerClosed { reason }) => {
            assert_eq!(reason.as_deref(), Some("game over"));
        }
        other => panic!("expected the close reason, got {other:?}"),
    }
}

/// A client that does not trust the server's certificate fails to connect with
/// TlsHandshake, naming the server; the server reports nothing and serves the next
/// client.
#[tokio::test(start_paused = true)]
async fn untrusted_certificate_is_refused() {
    let (cert, key) = certificate();
    let (server, mut server_events) = tls_server(&cert, &key).await;
    let (stranger, _) = certificate();

    let err = Client::connect(server.local_addr(), tls_client_config(&stranger))
        .await
        .expect_err("a certificate signed by no trusted root");
    assert!(
        matches!(err, TransportError::TlsHandshake { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("localhost"), "{err}");

    let (client, _events) = Client::connect(server.local_addr(), tls_client_config(&cert))
        .await
        .unwrap();
    next_connected(&mut server_events).await;
    assert_eq!(server.connection_count(), 1);
    drop(client);
}

/// A plain-TCP peer (a repod client, say) at a TLS server: its bytes are not a
/// handshake, so it is dropped without ever being a connection.
#[tokio::test(start_paused = true)]
async fn plain_client_at_tls_server_is_dropped() {
    let (cert, key) = certificate();
    let (server, mut server_events) = tls_server(&cert, &key).await;

    let mut plain = TcpStream::connect(server.local_addr()).await.unwrap();
    plain
        .write_all(b"\x00\x00\x00\x0d\x81\xa6action\xa4ping")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(common::WAIT, async {
        let mut total = 0;
        // The server may answer with a TLS alert before it closes.
        while let Ok(n @ 1..) = plain.read(&mut buf).await {
            total += n;
        }
        total
    })
    .await
    .expect("the plain client is closed");
    assert!(n < buf.len(), "the server sent {n} bytes to a plain client");

    let (_client, _events) = Client::connect(server.local_addr(), tls_client_config(&cert))
        .await
        .unwrap();
    // The first event is the TLS client's: the plain one never was a connection.
    next_connected(&mut server_events).await;
    assert_eq!(server.connection_count(), 1);
}

/// A TLS client at a plain server (a repod server, say) fails with TlsHandshake.
#[tokio::test(start_paused = true)]
async fn tls_client_at_plain_server_fails() {
    let (cert, _) = certificate();
    let (server, _events) = Server::bind("127.0.0.1:0", ServerConfig::default())
        .await
        .unwrap();
    let err = Client::connect(server.local_addr(), tls_client_config(&cert))
        .await
        .expect_err("a plain server cannot finish a handshake");
    assert!(
        matches!(err, TransportError::TlsHandshake { .. }),
        "{err:?}"
    );
}

/// A peer that opens a connection and never starts the handshake is closed after the
/// handshake timeout, and its slot is freed: a server capped at one connection then
/// serves a real client.
#[tokio::test(start_paused = true)]
async fn stalled_handshake_times_out_and_frees_its_slot() {
    let (cert, key) = certificate();
    let mut config = ServerConfig::default();
    let mut tls = ServerTls::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
    tls.handshake_timeout = Duration::from_millis(200);
    config.tls = Some(tls);
    config.max_connections = 1;
    let (server, mut server_events) = Server::bind("127.0.0.1:0", config).await.unwrap();

    let mut silent = TcpStream::connect(server.local_addr()).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(common::WAIT, silent.read(&mut buf))
        .await
        .expect("the server closes a stalled handshake");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");

    let (_client, _events) = Client::connect(server.local_addr(), tls_client_config(&cert))
        .await
        .unwrap();
    next_connected(&mut server_events).await;
    assert_eq!(server.rejected_count(), 0);
}

/// Bad PEM is a TlsConfig error that says what was missing.
#[test]
fn unreadable_pem_is_a_config_error() {
    let (cert, key) = certificate();
    let no_cert = ServerTls::from_pem(b"", key.as_bytes()).unwrap_err();
    assert!(
        no_cert.to_string().contains("no `BEGIN CERTIFICATE`"),
        "{no_cert}"
    );
    let no_key = ServerTls::from_pem(cert.as_bytes(), b"nonsense").unwrap_err();
    assert!(no_key.to_string().contains("private key"), "{no_key}");
    let (other_cert, _) = certificate();
    let mismatch = ServerTls::from_pem(other_cert.as_bytes(), key.as_bytes());
    // rustls checks the pair when it can; either way nothing panics.
    if let Err(err) = mismatch {
        assert!(matches!(err, TransportError::TlsConfig { .. }));
    }
    let no_roots = ClientTls::from_pem_roots(b"", "localhost").unwrap_err();
    assert!(matches!(no_roots, TransportError::TlsConfig { .. }));
    let bad_name = ClientTls::from_pem_roots(cert.as_bytes(), "not a name!").unwrap_err();
    assert!(
        bad_name.to_string().contains("not a server name"),
        "{bad_name}"
    );
}

/// `wss://`: a WebSocket client over TLS on the TLS server's own port plays like any
/// other, and a plain TLS client still gets repod framing on the same port.
#[tokio::test]
async fn websocket_over_tls_on_the_same_port() {
    use futures_util::{SinkExt, StreamExt};
    use std::sync::Arc;
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::CertificateDer;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_tungstenite::tungstenite::Message;

    let (cert, key) = certificate();
    let (server, mut server_events) = tls_server(&cert, &key).await;
    let addr = server.local_addr();

    let mut roots = rustls::RootCertStore::empty();
    for root in CertificateDer::pem_slice_iter(cert.as_bytes()) {
        roots.add(root.unwrap()).unwrap();
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    let (mut ws, _) =
        tokio_tungstenite::client_async(format!("wss://localhost:{}/", addr.port()), stream)
            .await
            .unwrap();

    let mut frame = bytes::BytesMut::new();
    podnet_framing::encode_with_action(
        "say",
        &Say { from: 5, seq: 1 },
        &mut frame,
        &podnet_framing::FramingConfig::default(),
    )
    .unwrap();
    ws.send(Message::Binary(frame.split_off(4).freeze()))
        .await
        .unwrap();
    let id = next_connected(&mut server_events).await;
    match next_server_event(&mut server_events).await {
        ServerEvent::Message { id: from, message } => {
            assert_eq!(from, id);
            assert_eq!(message.decode::<Say>().unwrap(), Say { from: 5, seq: 1 });
        }
        other => panic!("expected the message, got {other:?}"),
    }
    server.send(id, &Say { from: 0, seq: 2 }).unwrap();
    let mut got = Vec::new();
    while got.len() < 2 {
        match tokio::time::timeout(common::WAIT, ws.next()).await.unwrap() {
            Some(Ok(Message::Binary(payload))) => got.push(
                podnet_framing::RawMessage::parse(
                    payload,
                    &podnet_framing::FramingConfig::default(),
                )
                .unwrap(),
            ),
            other => panic!("expected a binary message, got {other:?}"),
        }
    }
    assert_eq!(got[0].action(), "connected");
    assert_eq!(got[1].decode::<Say>().unwrap(), Say { from: 0, seq: 2 });

    // The same port still serves a TLS client speaking repod framing.
    let (client, mut client_events) = Client::connect(addr, tls_client_config(&cert))
        .await
        .unwrap();
    client.send(&Say { from: 6, seq: 1 }).unwrap();
    next_connected(&mut server_events).await;
    assert_eq!(
        next_client_message(&mut client_events).await.action(),
        "connected"
    );
}

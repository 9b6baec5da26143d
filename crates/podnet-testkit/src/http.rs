//! One HTTP GET, for the tests of the monitoring endpoints.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bounds a stuck answer; it does not measure speed.
const ANSWER_WAIT: Duration = Duration::from_secs(10);

/// Sends `GET path` to `addr` and reads the answer to its end: its status and body.
///
/// # Panics
///
/// If the connection fails, no whole answer comes within 10 s, or it is not HTTP: what a
/// test that asks wants to fail on.
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = Vec::new();
    tokio::time::timeout(ANSWER_WAIT, stream.read_to_end(&mut response))
        .await
        .expect("an answer within the timeout")
        .expect("read");
    let text = String::from_utf8(response).expect("a text answer");
    let status = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let body = text.split_once("\r\n\r\n").expect("a body").1.to_owned();
    (status, body)
}

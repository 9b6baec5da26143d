//! Entry points for podnet's fuzz targets (`fuzz/`), with the `fuzzing` feature: the
//! parsers a peer's bytes reach that are not public API. Not for applications.

use crate::config::{Page, WebSocketConfig};
use crate::http::{Route, route};

/// What the game port's HTTP front decided for a request.
#[derive(Debug, PartialEq, Eq)]
pub enum HttpRoute {
    /// The WebSocket upgrade: this response (101), and the request took the first
    /// `consumed` bytes.
    Upgrade { response: Vec<u8>, consumed: usize },
    /// This response, then the close.
    Respond { response: Vec<u8> },
    /// A monitoring endpoint, answered by the server.
    Observe,
}

/// Routes the request at the start of `buf` as the game port does, with requests limited
/// to `max_request_bytes`, one page at `/`, and browsers' origins checked when
/// `check_origin`; `None` while the request's head is not whole.
pub fn http_route(buf: &[u8], max_request_bytes: usize, check_origin: bool) -> Option<HttpRoute> {
    let mut config = WebSocketConfig {
        max_request_bytes,
        allowed_origins: check_origin.then(|| vec!["https://game.example".to_owned()]),
        ..WebSocketConfig::default()
    };
    config.pages.insert(
        "/".to_owned(),
        Page {
            content_type: "text/html".to_owned(),
            body: bytes::Bytes::from_static(b"<p>play</p>"),
        },
    );
    Some(match route(buf, &config)? {
        Route::Upgrade { response, consumed } => HttpRoute::Upgrade {
            response: response.to_vec(),
            consumed,
        },
        Route::Respond { response, .. } => HttpRoute::Respond {
            response: response.to_vec(),
        },
        Route::Observe { .. } => HttpRoute::Observe,
    })
}

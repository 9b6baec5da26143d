//! The WebSocket upgrade (RFC 6455, section 4.2): a request that asks for one is checked
//! and answered with `101 Switching Protocols`, or refused with what is wrong.

use super::route::Route;
use super::{Request, Response};
use crate::config::WebSocketConfig;

/// Answers a request that asks to upgrade to WebSocket.
pub(super) fn accept(request: &Request<'_, '_>, config: &WebSocketConfig) -> Route {
    if request.method() != "GET" || !request.is_http11() {
        return Route::refuse(
            400,
            "Bad Request",
            "a WebSocket upgrade must be an HTTP/1.1 GET".to_owned(),
        );
    }
    if !request.has_token("connection", "upgrade") {
        return Route::refuse(
            400,
            "Bad Request",
            "a WebSocket upgrade needs `Connection: Upgrade`".to_owned(),
        );
    }
    if request.header("sec-websocket-version") != Some("13") {
        return Route::Respond {
            response: Response::text(
                426,
                "Upgrade Required",
                "podnet speaks WebSocket version 13 (RFC 6455)",
            )
            .with_header("Sec-WebSocket-Version", "13")
            .render(false),
            refused: Some("the client asked for a WebSocket version other than 13".to_owned()),
        };
    }
    let Some(key) = request
        .header("sec-websocket-key")
        .filter(|key| is_key(key))
    else {
        return Route::refuse(
            400,
            "Bad Request",
            "Sec-WebSocket-Key is missing or is not 16 bytes in base64".to_owned(),
        );
    };
    if let Some(allowed) = &config.allowed_origins {
        let origin = request.header("origin");
        let ok = origin.is_some_and(|origin| {
            allowed
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(origin))
        });
        if !ok {
            let why = match origin {
                Some(origin) => format!(
                    "origin {origin} is not allowed (the server's allowed_origins: {})",
                    allowed.join(", ")
                ),
                None => "the request has no Origin, and the server allows only listed origins"
                    .to_owned(),
            };
            return Route::refuse(403, "Forbidden", why);
        }
    }
    let mut response = Response::switching_protocols()
        .with_header("Upgrade", "websocket")
        .with_header("Connection", "Upgrade")
        .with_header(
            "Sec-WebSocket-Accept",
            tungstenite::handshake::derive_accept_key(key.as_bytes()),
        );
    // A client that offers subprotocols must get one of them back; podnet's own name is
    // the one it knows.
    if request.has_token("sec-websocket-protocol", "podnet") {
        response = response.with_header("Sec-WebSocket-Protocol", "podnet");
    }
    Route::Upgrade {
        response: response.render(false),
        consumed: request.consumed,
    }
}

/// Whether `key` is 16 bytes in base64 (24 characters, the last two `==`).
fn is_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    bytes.len() == 24
        && bytes.ends_with(b"==")
        && bytes[..22]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

#[cfg(test)]
mod tests {
    use super::super::route::{assert_refused, route};
    use super::*;

    const UPGRADE: &str = "GET /play HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
        Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\nOrigin: https://game.example\r\n\r\n";

    #[test]
    fn an_upgrade_is_answered_with_the_rfc_accept_key() {
        let config = WebSocketConfig::default();
        let mut input = UPGRADE.as_bytes().to_vec();
        input.extend_from_slice(b"\x82\x80");
        let Some(Route::Upgrade { response, consumed }) = route(&input, &config) else {
            panic!("not an upgrade");
        };
        assert_eq!(consumed, UPGRADE.len());
        let text = std::str::from_utf8(&response).unwrap();
        // The example of RFC 6455, 1.3.
        assert!(text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(text.starts_with("HTTP/1.1 101 "));
    }

    #[test]
    fn a_partial_request_waits_until_the_limit() {
        let mut config = WebSocketConfig::default();
        assert_eq!(route(&UPGRADE.as_bytes()[..40], &config), None);
        config.max_request_bytes = 30;
        assert_eq!(
            route(&UPGRADE.as_bytes()[..40], &config).unwrap().status(),
            431
        );
        assert_eq!(route(UPGRADE.as_bytes(), &config).unwrap().status(), 431);
    }

    #[test]
    fn origins_are_checked_against_the_allow_list() {
        let mut config = WebSocketConfig {
            allowed_origins: Some(vec!["https://game.example".to_owned()]),
            ..WebSocketConfig::default()
        };
        assert!(matches!(
            route(UPGRADE.as_bytes(), &config),
            Some(Route::Upgrade { .. })
        ));
        config.allowed_origins = Some(vec!["https://other.example".to_owned()]);
        assert_eq!(route(UPGRADE.as_bytes(), &config).unwrap().status(), 403);
        let no_origin = UPGRADE.replace("Origin: https://game.example\r\n", "");
        assert_eq!(route(no_origin.as_bytes(), &config).unwrap().status(), 403);
    }

    #[test]
    fn bad_upgrades_say_what_is_wrong() {
        let config = WebSocketConfig::default();
        let cases = [
            (UPGRADE.replace("Version: 13", "Version: 8"), 426),
            (UPGRADE.replace("dGhlIHNhbXBsZSBub25jZQ==", "short"), 400),
            (UPGRADE.replace("keep-alive, Upgrade", "close"), 400),
            (UPGRADE.replace("GET", "POST"), 400),
        ];
        assert_refused(&cases, &config);
    }
}

//! The HTTP side of a WebSocket, sans IO: reading the request a connection opens with,
//! and deciding the answer: the upgrade, one of the server's pages, or a refusal that says
//! why.

use bytes::Bytes;

use crate::config::WebSocketConfig;

/// Requests with more header lines than this are refused (431).
const MAX_HEADERS: usize = 48;

/// What to do with a connection whose request has been read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Write `response` (101 Switching Protocols): from then on, it is a WebSocket. The
    /// request took the first `consumed` bytes; what follows is the peer's first frames.
    Upgrade { response: Bytes, consumed: usize },
    /// Write `response`, then close: a page, or a refusal (`refused` says why, for the
    /// server's log).
    Respond {
        response: Bytes,
        refused: Option<String>,
    },
    /// A request for one of the monitoring endpoints (`/metrics`, `/healthz`,
    /// `/readyz`): answered by the server if it serves them there, else 404.
    Observe {
        endpoint: crate::observe::Endpoint,
        head: bool,
    },
}

/// Reads the request at the start of `buf`. `None`: it is not complete yet (read more,
/// unless `buf` holds `max_request_bytes` already, which this answers itself).
pub(crate) fn answer(buf: &[u8], config: &WebSocketConfig) -> Option<Answer> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let consumed = match request.parse(buf) {
        Ok(httparse::Status::Complete(consumed)) => consumed,
        Ok(httparse::Status::Partial) if buf.len() < config.max_request_bytes => return None,
        Ok(httparse::Status::Partial) | Err(httparse::Error::TooManyHeaders) => {
            return Some(refuse(
                431,
                "Request Header Fields Too Large",
                format!(
                    "the request's header is over {} bytes or {MAX_HEADERS} lines",
                    config.max_request_bytes
                ),
            ));
        }
        Err(err) => {
            return Some(refuse(
                400,
                "Bad Request",
                format!("not an HTTP request ({err})"),
            ));
        }
    };
    if consumed > config.max_request_bytes {
        return Some(refuse(
            431,
            "Request Header Fields Too Large",
            format!(
                "the request's header is over {} bytes",
                config.max_request_bytes
            ),
        ));
    }
    let method = request.method.unwrap_or_default();
    let path = request.path.unwrap_or("/");
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .map(str::trim)
    };
    let has_token = |name: &str, token: &str| {
        request
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .filter_map(|h| std::str::from_utf8(h.value).ok())
            .flat_map(|v| v.split(','))
            .any(|v| v.trim().eq_ignore_ascii_case(token))
    };

    if !has_token("upgrade", "websocket") {
        return Some(page(method, path, config));
    }
    if method != "GET" || request.version != Some(1) {
        return Some(refuse(
            400,
            "Bad Request",
            "a WebSocket upgrade must be an HTTP/1.1 GET".to_owned(),
        ));
    }
    if !has_token("connection", "upgrade") {
        return Some(refuse(
            400,
            "Bad Request",
            "a WebSocket upgrade needs `Connection: Upgrade`".to_owned(),
        ));
    }
    if header("sec-websocket-version") != Some("13") {
        return Some(Answer::Respond {
            response: response(
                426,
                "Upgrade Required",
                &[("Sec-WebSocket-Version", "13")],
                "text/plain; charset=utf-8",
                b"podnet speaks WebSocket version 13 (RFC 6455)\n",
            ),
            refused: Some("the client asked for a WebSocket version other than 13".to_owned()),
        });
    }
    let Some(key) = header("sec-websocket-key").filter(|key| is_key(key)) else {
        return Some(refuse(
            400,
            "Bad Request",
            "Sec-WebSocket-Key is missing or is not 16 bytes in base64".to_owned(),
        ));
    };
    if let Some(allowed) = &config.allowed_origins {
        let origin = header("origin");
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
            return Some(refuse(403, "Forbidden", why));
        }
    }
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let mut extra = vec![
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", accept.as_str()),
    ];
    // A client that offers subprotocols must get one of them back; podnet's own name is
    // the one it knows.
    if has_token("sec-websocket-protocol", "podnet") {
        extra.push(("Sec-WebSocket-Protocol", "podnet"));
    }
    let mut head = String::from("HTTP/1.1 101 Switching Protocols\r\n");
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    Some(Answer::Upgrade {
        response: Bytes::from(head),
        consumed,
    })
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

/// A plain HTTP request: one of the server's pages, or a 404 that says what this is.
fn page(method: &str, path: &str, config: &WebSocketConfig) -> Answer {
    if method != "GET" && method != "HEAD" {
        return refuse(
            405,
            "Method Not Allowed",
            format!("{method} is not served here"),
        );
    }
    let path = path.split(['?', '#']).next().unwrap_or("/");
    if let Some(endpoint) = crate::observe::Endpoint::at(path) {
        return Answer::Observe {
            endpoint,
            head: method == "HEAD",
        };
    }
    match config.pages.get(path) {
        Some(page) => {
            let body: &[u8] = if method == "HEAD" { b"" } else { &page.body };
            let length = page.body.len().to_string();
            let mut out = response(
                200,
                "OK",
                &[("Cache-Control", "no-cache")],
                &page.content_type,
                body,
            );
            if method == "HEAD" {
                // The length of what GET would send.
                let text = String::from_utf8_lossy(&out).replace(
                    "Content-Length: 0\r\n",
                    &format!("Content-Length: {length}\r\n"),
                );
                out = Bytes::from(text);
            }
            Answer::Respond {
                response: out,
                refused: None,
            }
        }
        None => not_found(path),
    }
}

/// The 404 of a path this server does not serve.
pub(crate) fn not_found(path: &str) -> Answer {
    refuse(
        404,
        "Not Found",
        format!(
            "{path}: this is a podnet game server; players connect here with a \
             WebSocket (ws://HOST:PORT/) or over TCP"
        ),
    )
}

/// A refusal: the reason as a plain-text body, and for the server's log.
pub(crate) fn refuse(status: u16, text: &str, why: String) -> Answer {
    let body = format!("{why}\n");
    Answer::Respond {
        response: response(
            status,
            text,
            &[],
            "text/plain; charset=utf-8",
            body.as_bytes(),
        ),
        refused: Some(why),
    }
}

pub(crate) fn response(
    status: u16,
    text: &str,
    extra: &[(&str, &str)],
    content_type: &str,
    body: &[u8],
) -> Bytes {
    let mut head = format!(
        "HTTP/1.1 {status} {text}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n",
        body.len()
    );
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPGRADE: &str = "GET /play HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
        Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\nOrigin: https://game.example\r\n\r\n";

    fn status(answer: &Answer) -> u16 {
        let bytes = match answer {
            Answer::Upgrade { response, .. } | Answer::Respond { response, .. } => response,
            Answer::Observe { .. } => return 0,
        };
        let text = std::str::from_utf8(bytes).unwrap();
        text[9..12].parse().unwrap()
    }

    #[test]
    fn an_upgrade_is_answered_with_the_rfc_accept_key() {
        let config = WebSocketConfig::default();
        let mut input = UPGRADE.as_bytes().to_vec();
        input.extend_from_slice(b"\x82\x80");
        let Some(Answer::Upgrade { response, consumed }) = answer(&input, &config) else {
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
        assert_eq!(answer(&UPGRADE.as_bytes()[..40], &config), None);
        config.max_request_bytes = 30;
        assert_eq!(
            status(&answer(&UPGRADE.as_bytes()[..40], &config).unwrap()),
            431
        );
        assert_eq!(status(&answer(UPGRADE.as_bytes(), &config).unwrap()), 431);
    }

    #[test]
    fn origins_are_checked_against_the_allow_list() {
        let mut config = WebSocketConfig {
            allowed_origins: Some(vec!["https://game.example".to_owned()]),
            ..WebSocketConfig::default()
        };
        assert!(matches!(
            answer(UPGRADE.as_bytes(), &config),
            Some(Answer::Upgrade { .. })
        ));
        config.allowed_origins = Some(vec!["https://other.example".to_owned()]);
        assert_eq!(status(&answer(UPGRADE.as_bytes(), &config).unwrap()), 403);
        let no_origin = UPGRADE.replace("Origin: https://game.example\r\n", "");
        assert_eq!(status(&answer(no_origin.as_bytes(), &config).unwrap()), 403);
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        let config = WebSocketConfig::default();
        let cases = [
            (UPGRADE.replace("Version: 13", "Version: 8"), 426),
            (UPGRADE.replace("dGhlIHNhbXBsZSBub25jZQ==", "short"), 400),
            (UPGRADE.replace("keep-alive, Upgrade", "close"), 400),
            (UPGRADE.replace("GET", "POST"), 400),
            ("GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_owned(), 404),
            ("DELETE / HTTP/1.1\r\n\r\n".to_owned(), 405),
            ("GET /\x01 HTTP/1.1\r\n\r\n".to_owned(), 400),
        ];
        for (request, expected) in cases {
            let got = answer(request.as_bytes(), &config).unwrap();
            assert_eq!(status(&got), expected, "{request:?}");
            assert!(matches!(
                got,
                Answer::Respond {
                    refused: Some(_),
                    ..
                }
            ));
        }
    }

    #[test]
    fn pages_are_served() {
        let config =
            WebSocketConfig::default().with_page("/", "text/html; charset=utf-8", "<h1>hi</h1>");
        let Some(Answer::Respond { response, refused }) =
            answer(b"GET /?room=2 HTTP/1.1\r\n\r\n", &config)
        else {
            panic!("no page");
        };
        assert_eq!(refused, None);
        assert!(response.ends_with(b"\r\n\r\n<h1>hi</h1>"));
        let Some(Answer::Respond { response, .. }) = answer(b"HEAD / HTTP/1.1\r\n\r\n", &config)
        else {
            panic!("no page");
        };
        assert!(
            std::str::from_utf8(&response)
                .unwrap()
                .contains("Content-Length: 11\r\n")
        );
        assert!(response.ends_with(b"\r\n\r\n"));
    }
}

//! HTTP/1.1 as a podnet server speaks it, sans IO: the request a connection opens with,
//! the responses it gets (a `HEAD` included), and the route a request takes ([`route`]).
//!
//! Two listeners read requests: the game's own port, where a connection that opens with
//! HTTP is a WebSocket upgrade, a page or a monitoring endpoint; and the monitoring
//! endpoints' port of their own (`MetricsConfig::listen`). Both answer through here.

mod route;
mod upgrade;

pub(crate) use route::{Endpoint, Route, route};

use bytes::Bytes;

/// Requests with more header lines than this are refused (431).
const MAX_HEADERS: usize = 48;

/// A request whose head has been read whole.
pub(crate) struct Request<'h, 'b> {
    parsed: httparse::Request<'h, 'b>,
    /// The head's length: what follows it is the peer's next bytes.
    consumed: usize,
}

impl Request<'_, '_> {
    fn method(&self) -> &str {
        self.parsed.method.unwrap_or_default()
    }

    /// The path, without its query or fragment.
    fn path(&self) -> &str {
        let path = self.parsed.path.unwrap_or("/");
        path.split(['?', '#']).next().unwrap_or("/")
    }

    fn is_http11(&self) -> bool {
        self.parsed.version == Some(1)
    }

    /// The first value of header `name`, trimmed.
    fn header(&self, name: &str) -> Option<&str> {
        self.parsed
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .map(str::trim)
    }

    /// Whether header `name` lists `token` (comma-separated, in any of its lines).
    fn has_token(&self, name: &str, token: &str) -> bool {
        self.parsed
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .filter_map(|h| std::str::from_utf8(h.value).ok())
            .flat_map(|v| v.split(','))
            .any(|v| v.trim().eq_ignore_ascii_case(token))
    }
}

/// Reads the request head at the start of `buf` and hands it to `then`. `None`: it is not
/// whole yet (read more); a head that is malformed, or over `max_bytes` or
/// [`MAX_HEADERS`] lines, is refused here.
fn read<T>(
    buf: &[u8],
    max_bytes: usize,
    then: impl FnOnce(&Request<'_, '_>) -> T,
    refused: impl FnOnce(Response, String) -> T,
) -> Option<T> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let too_large =
        || format!("the request's header is over {max_bytes} bytes or {MAX_HEADERS} lines");
    // Nothing past the limit is looked at: a request is refused for the same reason
    // however its bytes were cut into reads.
    let head = &buf[..buf.len().min(max_bytes)];
    let consumed = match parsed.parse(head) {
        Ok(httparse::Status::Complete(consumed)) if consumed <= max_bytes => consumed,
        Ok(httparse::Status::Partial) if head.len() < max_bytes => return None,
        Ok(_) | Err(httparse::Error::TooManyHeaders) => {
            let why = too_large();
            return Some(refused(
                Response::text(431, "Request Header Fields Too Large", &why),
                why,
            ));
        }
        Err(err) => {
            let why = format!("not an HTTP request ({err})");
            return Some(refused(Response::text(400, "Bad Request", &why), why));
        }
    };
    Some(then(&Request { parsed, consumed }))
}

/// A response, rendered with [`render`](Self::render).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    status: u16,
    reason: &'static str,
    headers: Vec<(&'static str, String)>,
    /// Its content type and body; none for `101 Switching Protocols`, which has neither
    /// and keeps the connection.
    body: Option<(String, Bytes)>,
}

impl Response {
    /// A response with a body, after which the connection closes.
    pub(crate) fn new(
        status: u16,
        reason: &'static str,
        content_type: &str,
        body: impl Into<Bytes>,
    ) -> Self {
        Self {
            status,
            reason,
            headers: Vec::new(),
            body: Some((content_type.to_owned(), body.into())),
        }
    }

    /// A plain-text response: `text` and a line end.
    pub(crate) fn text(status: u16, reason: &'static str, text: &str) -> Self {
        Self::new(
            status,
            reason,
            "text/plain; charset=utf-8",
            format!("{text}\n"),
        )
    }

    /// `101 Switching Protocols`: no body, and the connection goes on.
    fn switching_protocols() -> Self {
        Self {
            status: 101,
            reason: "Switching Protocols",
            headers: Vec::new(),
            body: None,
        }
    }

    /// With header `name: value` too.
    pub(crate) fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// What goes on the wire. For a `HEAD` (`head`), the body is left out and its
    /// `Content-Length` is the one a `GET` gets.
    pub(crate) fn render(&self, head: bool) -> Bytes {
        let mut out = format!("HTTP/1.1 {} {}\r\n", self.status, self.reason);
        if let Some((content_type, body)) = &self.body {
            out.push_str(&format!(
                "Content-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            ));
        }
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str("\r\n");
        let mut out = out.into_bytes();
        if let Some((_, body)) = self.body.as_ref().filter(|_| !head) {
            out.extend_from_slice(body);
        }
        Bytes::from(out)
    }
}

/// The 404 of a path this server does not serve, saying what it is.
pub(crate) fn not_found(path: &str) -> Response {
    Response::text(
        404,
        "Not Found",
        &format!(
            "{path}: this is a podnet game server; players connect here with a \
             WebSocket (ws://HOST:PORT/) or over TCP"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `HEAD` gets the `GET`'s headers, its length included, and no body.
    #[test]
    fn head_gets_the_length_of_the_body_it_does_not_get() {
        let response = Response::new(200, "OK", "text/html", "<h1>hi</h1>")
            .with_header("Cache-Control", "no-cache");
        let get = response.render(false);
        let head = response.render(true);
        assert_eq!(
            std::str::from_utf8(&get).unwrap(),
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 11\r\n\
             Connection: close\r\nCache-Control: no-cache\r\n\r\n<h1>hi</h1>"
        );
        assert_eq!(head, get[..get.len() - 11]);
    }

    /// `101` has neither body nor the headers of one.
    #[test]
    fn switching_protocols_has_no_body_headers() {
        let response = Response::switching_protocols().with_header("Upgrade", "websocket");
        assert_eq!(
            response.render(false),
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
        );
    }
}

//! Where a request goes: the WebSocket upgrade, one of the game's pages, a monitoring
//! endpoint, or a refusal that says why.

use bytes::Bytes;

use super::{Request, Response, not_found, read};
use crate::config::WebSocketConfig;

/// What to do with a connection whose request has been read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// Write `response` (101 Switching Protocols): from then on, it is a WebSocket. The
    /// request took the first `consumed` bytes; what follows is the peer's first frames.
    Upgrade { response: Bytes, consumed: usize },
    /// Write `response`, then close: a page, or a refusal (`refused` says why, for the
    /// server's log).
    Respond {
        response: Bytes,
        refused: Option<String>,
    },
    /// A request for one of the monitoring endpoints: answered by the server if it
    /// serves them there, else 404. `key` is the first segment of a path
    /// `/KEY/ENDPOINT` (see `MetricsConfig::secret`).
    Observe {
        endpoint: Endpoint,
        head: bool,
        key: Option<String>,
    },
}

impl Route {
    /// `response`, written as `head` asks, then the connection closes.
    pub(super) fn respond(response: &Response, head: bool) -> Route {
        Route::Respond {
            response: response.render(head),
            refused: None,
        }
    }

    /// A refusal: `why` as a plain-text body, and for the server's log.
    pub(super) fn refuse(status: u16, reason: &'static str, why: String) -> Route {
        Self::refused(Response::text(status, reason, &why), why)
    }

    fn refused(response: Response, why: String) -> Route {
        Route::Respond {
            response: response.render(false),
            refused: Some(why),
        }
    }

    /// The status code it answers with (0 for a monitoring endpoint, answered later).
    #[cfg(test)]
    pub(super) fn status(&self) -> u16 {
        let bytes = match self {
            Route::Upgrade { response, .. } | Route::Respond { response, .. } => response,
            Route::Observe { .. } => return 0,
        };
        std::str::from_utf8(&bytes[9..12])
            .ok()
            .and_then(|code| code.parse().ok())
            .unwrap_or_default()
    }
}

/// A monitoring endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Metrics,
    Healthz,
    Readyz,
    Monitor,
}

impl Endpoint {
    /// Every endpoint.
    const ALL: [Endpoint; 4] = [
        Endpoint::Metrics,
        Endpoint::Healthz,
        Endpoint::Readyz,
        Endpoint::Monitor,
    ];

    /// The endpoint at `path` (without its query), if there is one.
    pub(crate) fn at(path: &str) -> Option<Endpoint> {
        Self::ALL
            .into_iter()
            .find(|endpoint| endpoint.path() == path)
    }

    /// The endpoint at `path`, at the root or under one segment (`/KEY/metrics`), with
    /// that segment.
    fn under_key(path: &str) -> Option<(Endpoint, Option<String>)> {
        if let Some(endpoint) = Self::at(path) {
            return Some((endpoint, None));
        }
        let rest = path.strip_prefix('/')?;
        let (key, tail) = rest.split_at(rest.find('/')?);
        let endpoint = Self::at(tail)?;
        (!key.is_empty()).then(|| (endpoint, Some(key.to_owned())))
    }

    /// Whether it tells more than whether the server is up and ready: the figures and
    /// the page that shows them.
    pub(crate) fn is_private(self) -> bool {
        matches!(self, Endpoint::Metrics | Endpoint::Monitor)
    }

    /// Its path.
    pub(crate) fn path(self) -> &'static str {
        match self {
            Endpoint::Metrics => "/metrics",
            Endpoint::Healthz => "/healthz",
            Endpoint::Readyz => "/readyz",
            Endpoint::Monitor => "/monitor",
        }
    }
}

/// Reads the request at the start of `buf` and routes it. `None`: it is not complete yet
/// (read more, unless `buf` holds `config.max_request_bytes` already, which this answers
/// itself).
pub(crate) fn route(buf: &[u8], config: &WebSocketConfig) -> Option<Route> {
    read(
        buf,
        config.max_request_bytes,
        |request| {
            if request.has_token("upgrade", "websocket") {
                super::upgrade::accept(request, config)
            } else {
                page(request, config)
            }
        },
        Route::refused,
    )
}

/// A plain HTTP request: a monitoring endpoint, one of the game's pages, or a 404 that
/// says what this is.
fn page(request: &Request<'_, '_>, config: &WebSocketConfig) -> Route {
    let method = request.method();
    let head = match method {
        "GET" => false,
        "HEAD" => true,
        _ => {
            return Route::refuse(
                405,
                "Method Not Allowed",
                format!("{method} is not served here"),
            );
        }
    };
    let path = request.path();
    if let Some((endpoint, key)) = Endpoint::under_key(path) {
        return Route::Observe {
            endpoint,
            head,
            key,
        };
    }
    match config.pages.get(path) {
        Some(page) => Route::respond(
            &Response::new(200, "OK", &page.content_type, page.body.clone())
                .with_header("Cache-Control", "no-cache"),
            head,
        ),
        None => {
            let response = not_found(path);
            Route::Respond {
                response: response.render(head),
                refused: Some(format!("{path} is not served here")),
            }
        }
    }
}

/// Each request is refused with its status, and a reason for the log.
#[cfg(test)]
pub(super) fn assert_refused(cases: &[(impl AsRef<str>, u16)], config: &WebSocketConfig) {
    for (request, expected) in cases {
        let request = request.as_ref();
        let got = route(request.as_bytes(), config);
        assert_eq!(
            got.as_ref().map(Route::status),
            Some(*expected),
            "{request:?}"
        );
        assert!(
            matches!(
                got,
                Some(Route::Respond {
                    refused: Some(_),
                    ..
                })
            ),
            "{request:?}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_requests_say_what_is_wrong() {
        let config = WebSocketConfig::default();
        let cases = [
            ("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 404),
            ("DELETE / HTTP/1.1\r\n\r\n", 405),
            ("GET /\x01 HTTP/1.1\r\n\r\n", 400),
        ];
        assert_refused(&cases, &config);
    }

    /// Nothing past the request limit is read: a head that runs over it is refused as too
    /// large, whether what follows is well formed or not, and however it arrived.
    #[test]
    fn nothing_past_the_limit_is_read() {
        let config = WebSocketConfig {
            max_request_bytes: 64,
            ..WebSocketConfig::default()
        };
        let long = format!("GET / HTTP/1.1\r\nX-A: {}\r\n", "a".repeat(80));
        for tail in ["\r\n", "\x01bad header\r\n\r\n"] {
            let request = format!("{long}{tail}");
            let whole = route(request.as_bytes(), &config).map(|r| r.status());
            let first = (1..=request.len())
                .find_map(|end| route(&request.as_bytes()[..end], &config))
                .map(|r| r.status());
            assert_eq!((whole, first), (Some(431), Some(431)), "{tail:?}");
        }
    }

    #[test]
    fn pages_are_served() {
        let config =
            WebSocketConfig::default().with_page("/", "text/html; charset=utf-8", "<h1>hi</h1>");
        let Some(Route::Respond { response, refused }) =
            route(b"GET /?room=2 HTTP/1.1\r\n\r\n", &config)
        else {
            panic!("no page");
        };
        assert_eq!(refused, None);
        assert!(response.ends_with(b"\r\n\r\n<h1>hi</h1>"));
        let Some(Route::Respond { response, .. }) = route(b"HEAD / HTTP/1.1\r\n\r\n", &config)
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

    #[test]
    fn monitoring_endpoints_are_routed_to_the_server() {
        let config = WebSocketConfig::default();
        assert_eq!(
            route(b"HEAD /metrics?x=1 HTTP/1.1\r\n\r\n", &config),
            Some(Route::Observe {
                endpoint: Endpoint::Metrics,
                head: true,
                key: None,
            })
        );
        assert_eq!(
            route(b"GET /s3cr3t/monitor HTTP/1.1\r\n\r\n", &config),
            Some(Route::Observe {
                endpoint: Endpoint::Monitor,
                head: false,
                key: Some("s3cr3t".to_owned()),
            })
        );
        assert_eq!(Endpoint::at("/other"), None);
        assert_eq!(Endpoint::under_key("//metrics"), None);
        assert_eq!(Endpoint::under_key("/a/b/metrics"), None);
    }
}

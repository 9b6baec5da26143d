//! The monitoring endpoints, sans IO: which paths they are, and what they answer.
//!
//! - `/metrics`: the server's figures in the Prometheus text format (OpenMetrics).
//! - `/healthz`: 200 while the server runs: it answers, so it is alive.
//! - `/readyz`: 200 while it accepts connections; 503 once it stops accepting or drains,
//!   or while a part the game depends on (its cluster) reports itself degraded.
//! - `/monitor`: a live page (plain HTML and a small script) charting players,
//!   messages per second and round trips from `/metrics`.

use bytes::Bytes;

use crate::http::{Endpoint, Response};

/// The monitor page.
const MONITOR: &str = include_str!("monitor.html");

/// The health of a part the game depends on, beside the server itself (its cluster, a
/// database), as reported with [`Server::set_health`](crate::ServerHandle::set_health): shown in
/// `/readyz` and in `/metrics` (`podnet_component_healthy{component="cluster"}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// It works.
    Healthy,
    /// It does not (its backing service stopped or cannot be reached): the server goes on
    /// serving what it can.
    Degraded {
        /// What went wrong, for the operator.
        why: String,
    },
}

/// What the server says at an endpoint.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Accepting, and not draining.
    pub ready: bool,
    /// Draining (rather than stopped).
    pub draining: bool,
    /// The parts reported degraded: (component, why).
    pub degraded: Vec<(String, String)>,
    /// Whether a degraded part still leaves the server ready
    /// ([`MetricsConfig::ready_while_degraded`](crate::MetricsConfig::ready_while_degraded)).
    pub ready_while_degraded: bool,
}

impl State {
    /// What `/readyz` answers: ready or not, and its body.
    fn readiness(&self) -> (bool, String) {
        let degraded: String = self
            .degraded
            .iter()
            .map(|(component, why)| format!("{component} degraded: {why}\n"))
            .collect();
        if !self.ready {
            let why = if self.draining {
                "draining\n"
            } else {
                "not accepting connections\n"
            };
            (false, format!("{why}{degraded}"))
        } else if degraded.is_empty() || self.ready_while_degraded {
            (true, format!("ready\n{degraded}"))
        } else {
            (false, degraded)
        }
    }
}

/// The answer at `endpoint` (without the body for a `HEAD`); `metrics` makes the
/// `/metrics` text, only when asked for it.
pub(crate) fn answer(
    endpoint: Endpoint,
    head: bool,
    state: &State,
    metrics: impl FnOnce() -> String,
) -> Bytes {
    let text = "text/plain; charset=utf-8";
    let response = match endpoint {
        Endpoint::Metrics => Response::new(
            200,
            "OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics(),
        ),
        Endpoint::Healthz => Response::new(200, "OK", text, "alive\n"),
        Endpoint::Monitor => Response::new(200, "OK", "text/html; charset=utf-8", MONITOR),
        Endpoint::Readyz => match state.readiness() {
            (true, body) => Response::new(200, "OK", text, body),
            (false, body) => Response::new(503, "Service Unavailable", text, body),
        },
    };
    response
        .with_header("Cache-Control", "no-store")
        .render(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_answer_with_their_status() {
        let ready = State {
            ready: true,
            ..State::default()
        };
        let draining = State {
            draining: true,
            ..State::default()
        };
        let status = |b: &Bytes| String::from_utf8_lossy(&b[..12]).into_owned();
        assert_eq!(
            status(&answer(Endpoint::Readyz, false, &ready, String::new)),
            "HTTP/1.1 200"
        );
        let answered = answer(Endpoint::Readyz, false, &draining, String::new);
        assert_eq!(status(&answered), "HTTP/1.1 503");
        assert!(String::from_utf8_lossy(&answered).ends_with("draining\n"));
        assert_eq!(
            status(&answer(Endpoint::Healthz, false, &draining, String::new)),
            "HTTP/1.1 200"
        );
        let metrics = answer(Endpoint::Metrics, true, &ready, || "x 1\n".to_owned());
        let text = String::from_utf8_lossy(&metrics);
        assert!(
            text.contains("Content-Length: 4\r\n") && text.ends_with("\r\n\r\n"),
            "{text}"
        );
    }

    #[test]
    fn a_degraded_part_makes_the_server_unready_unless_configured() {
        let mut state = State {
            ready: true,
            degraded: vec![("cluster".into(), "redis unreachable".into())],
            ..State::default()
        };
        assert_eq!(
            state.readiness(),
            (false, "cluster degraded: redis unreachable\n".to_owned())
        );
        state.ready_while_degraded = true;
        assert_eq!(
            state.readiness(),
            (
                true,
                "ready\ncluster degraded: redis unreachable\n".to_owned()
            )
        );
        state.draining = true;
        state.ready = false;
        assert!(!state.readiness().0);
        assert!(state.readiness().1.starts_with("draining\n"));
    }
}

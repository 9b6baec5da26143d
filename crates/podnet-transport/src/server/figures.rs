//! What a server tells about itself: its figures ([`Server::stats`], `/metrics`), the
//! game's own gauges, the health of the parts it depends on, and the description `info`
//! connections get.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::MutexGuard;
use std::sync::atomic::Ordering;
use std::time::Duration;

use podnet_framing::Value;
use podnet_proto::ServerInfo;

use super::{Inner, ServerHandle};
use crate::lock::Lock;

impl ServerHandle {
    /// Sets a field of the description `info` connections receive (a map name, a game
    /// mode, ...), shown by a server browser or `podnet info`. Replaces the field's value
    /// if it was set.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), podnet_transport::TransportError> {
    /// use podnet_transport::{Server, ServerConfig};
    ///
    /// let (server, _events) = Server::bind("127.0.0.1:0", ServerConfig::default()).await?;
    /// server.set_info("map", "dungeon");
    /// assert_eq!(server.info().game["map"].as_str(), Some("dungeon"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_info(&self, name: &str, value: impl Into<Value>) {
        self.inner
            .info_fields()
            .insert(name.to_owned(), value.into());
    }

    /// Removes a field set with [`set_info`](Self::set_info).
    pub fn remove_info(&self, name: &str) {
        self.inner.info_fields().remove(name);
    }

    /// The description an `info` connection receives now.
    pub fn info(&self) -> ServerInfo {
        self.inner.server_info()
    }

    /// The server's figures now: connections by peer and transport, messages and bytes
    /// each way, queues, round trips, disconnects by reason, drops and resumes. Counters
    /// count since the server started.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), podnet_transport::TransportError> {
    /// use podnet_transport::{Server, ServerConfig};
    ///
    /// let (server, _events) = Server::bind("127.0.0.1:0", ServerConfig::default()).await?;
    /// let stats = server.stats();
    /// assert_eq!((stats.connections.total, stats.messages_in), (0, 0));
    /// assert!(stats.accepting && !stats.draining);
    /// # Ok(())
    /// # }
    /// ```
    pub fn stats(&self) -> crate::ServerStats {
        self.inner.stats()
    }

    /// [`stats`](Self::stats) in the Prometheus text format (OpenMetrics), every name
    /// starting with `prefix` (`podnet` gives `podnet_messages_received_total`, ...):
    /// what `/metrics` serves (see [`MetricsConfig`](crate::MetricsConfig)).
    pub fn metrics_text(&self, prefix: &str) -> String {
        self.inner.metrics_text(prefix)
    }

    /// Sets one of the game's own figures, served in `/metrics` beside the server's as
    /// `{prefix}_game_{name}` (rooms open, players waiting, matches played): a gauge, the
    /// value now. `name` is letters, digits and underscores, starting with a letter;
    /// anything else is refused (false). Replaces the value if it was set.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), podnet_transport::TransportError> {
    /// use podnet_transport::{Server, ServerConfig};
    ///
    /// let (server, _events) = Server::bind("127.0.0.1:0", ServerConfig::default()).await?;
    /// assert!(server.set_gauge("rooms_open", 12.0));
    /// assert!(server.metrics_text("mygame").contains("mygame_game_rooms_open 12.0"));
    /// assert!(!server.set_gauge("rooms open", 1.0));
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_gauge(&self, name: &str, value: f64) -> bool {
        let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if valid {
            // A game sets its figures every frame: the name is allocated once.
            let mut gauges = self.inner.gauges();
            match gauges.get_mut(name) {
                Some(slot) => *slot = value,
                None => {
                    gauges.insert(name.to_owned(), value);
                }
            }
        }
        valid
    }

    /// Removes a figure set with [`set_gauge`](Self::set_gauge).
    pub fn remove_gauge(&self, name: &str) {
        self.inner.gauges().remove(name);
    }

    /// Reports the health of a part the game depends on (`"cluster"`, `"database"`): in
    /// `/metrics` as `{prefix}_component_healthy{component="..."}` (1 or 0), and in
    /// `/readyz`, which answers 503 while any part is degraded (unless
    /// [`MetricsConfig::ready_while_degraded`](crate::MetricsConfig::ready_while_degraded)),
    /// its body saying which and why. A cluster (`podnet-cluster`) reports itself.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), podnet_transport::TransportError> {
    /// use podnet_transport::{Health, Server, ServerConfig};
    ///
    /// let (server, _events) = Server::bind("127.0.0.1:0", ServerConfig::default()).await?;
    /// server.set_health("database", Health::Degraded { why: "no answer in 5 s".into() });
    /// let text = server.metrics_text("podnet");
    /// assert!(text.contains(r#"podnet_component_healthy{component="database"} 0"#));
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_health(&self, component: &str, health: crate::Health) {
        let mut parts = self.inner.health();
        if let Some(slot) = parts.get_mut(component) {
            *slot = health;
        } else {
            parts.insert(component.to_owned(), health);
        }
    }

    /// Forgets a part reported with [`set_health`](Self::set_health) (it left).
    pub fn remove_health(&self, component: &str) {
        self.inner.health().remove(component);
    }

    /// Where the monitoring endpoints listen, when they have a port of their own
    /// ([`MetricsConfig::listen`](crate::MetricsConfig::listen)), with the actual port.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.inner.metrics_addr
    }
}

impl Inner {
    pub(super) fn gauges(&self) -> MutexGuard<'_, BTreeMap<String, f64>> {
        // Inserts and removes only: a poisoned map is still consistent.
        self.gauges.locked()
    }

    pub(super) fn health(&self) -> MutexGuard<'_, BTreeMap<String, crate::Health>> {
        // Inserts and removes only.
        self.health.locked()
    }

    /// The parts reported degraded: (component, why).
    pub(crate) fn degraded(&self) -> Vec<(String, String)> {
        self.health()
            .iter()
            .filter_map(|(component, health)| match health {
                crate::Health::Healthy => None,
                crate::Health::Degraded { why } => Some((component.clone(), why.clone())),
            })
            .collect()
    }

    pub(super) fn info_fields(&self) -> MutexGuard<'_, BTreeMap<String, Value>> {
        self.info_fields.locked()
    }

    pub(super) fn stats(&self) -> crate::ServerStats {
        let mut stats = crate::ServerStats {
            connections: crate::ConnectionCounts::default(),
            connected: 0,
            messages_in: 0,
            bytes_in: 0,
            messages_out: 0,
            bytes_out: 0,
            queued_bytes: 0,
            max_queued_bytes: 0,
            bad_frames: 0,
            disconnects: Vec::new(),
            slow_consumers: 0,
            drops: 0,
            resumes: 0,
            rejected: self.rejected.load(Ordering::Relaxed),
            evicted: self.evicted.load(Ordering::Relaxed),
            rtt: crate::RttStats::default(),
            accepting: !self.stop_accepting.is_cancelled(),
            draining: self.draining.load(Ordering::Acquire),
        };
        let c = &mut stats.connections;
        for conn in self.registry.sessions().iter() {
            let info = conn.info();
            c.total += 1;
            if info.podnet_peer {
                c.podnet += 1;
            } else {
                c.repod += 1;
            }
            match info.transport {
                crate::Transport::Tcp => c.tcp += 1,
                crate::Transport::Tls => c.tls += 1,
                crate::Transport::WebSocket => c.websocket += 1,
                crate::Transport::SecureWebSocket => c.secure_websocket += 1,
            }
            c.resumable += usize::from(info.resumable);
            stats.queued_bytes += info.queued_bytes;
            stats.max_queued_bytes = stats.max_queued_bytes.max(info.queued_bytes);
        }
        self.counters
            .fill(&mut stats, self.registry.traffic(&self.counters.traffic));
        stats
    }

    pub(super) fn metrics_text(&self, prefix: &str) -> String {
        let gauges = self.gauges().clone();
        let health = self.health().clone();
        self.counters
            .prometheus(&self.stats(), &gauges, &health, prefix)
    }

    /// Whether the server takes new connections: what `/readyz` says.
    pub(crate) fn is_ready(&self) -> bool {
        !self.stop_accepting.is_cancelled() && !self.draining.load(Ordering::Acquire)
    }

    /// The metrics endpoints' settings, if served.
    pub(crate) fn metrics_config(&self) -> Option<&crate::config::MetricsConfig> {
        self.metrics.as_ref()
    }

    /// `/metrics`'s body.
    pub(crate) fn metrics_body(&self) -> String {
        let prefix = self
            .metrics
            .as_ref()
            .map_or("podnet", |m| m.prefix.as_str());
        self.metrics_text(prefix)
    }

    /// The heartbeat measured a round trip.
    pub(crate) fn record_rtt(&self, rtt: Duration) {
        self.counters.rtt(rtt);
    }

    pub(super) fn server_info(&self) -> ServerInfo {
        let away = self.endpoint().parked();
        let players = self.session_count().saturating_sub(away);
        let mut info = ServerInfo::new(&self.name, players, self.max_connections);
        info.away = away;
        info.game = self.info_fields().clone();
        info
    }
}

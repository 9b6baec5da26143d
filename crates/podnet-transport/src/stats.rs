//! What a server counts as it runs, and how it reports it: [`ServerStats`] for code, and
//! the Prometheus (OpenMetrics) text for a scraper.
//!
//! Traffic is counted by each connection where it happens ([`Traffic`]: its reader per
//! read, its senders per send) and summed when the figures are asked for, so no counter
//! shared by every connection is touched per message. The server's own counters are
//! bumped per connection event and per broadcast. Gauges (connections, queues) are read
//! from the connection table when asked.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::lock::Lock;
use crate::{DisconnectReason, ServerEvent};

/// How a connection reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// Plain TCP (repod's framing).
    Tcp,
    /// TCP in TLS.
    Tls,
    /// WebSocket (`ws://`).
    WebSocket,
    /// WebSocket in TLS (`wss://`).
    SecureWebSocket,
}

impl Transport {
    /// Its label: `tcp`, `tls`, `ws` or `wss`.
    pub fn label(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
            Transport::WebSocket => "ws",
            Transport::SecureWebSocket => "wss",
        }
    }
}

/// The connections a server holds now, by who the peer is and how it is connected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionCounts {
    /// Every connection past its handshake (a session whose connection dropped and may be
    /// resumed included).
    pub total: usize,
    /// Of them, podnet peers (they said hello).
    pub podnet: usize,
    /// Of them, repod peers (anything that did not say hello).
    pub repod: usize,
    /// By transport: plain TCP.
    pub tcp: usize,
    /// TLS.
    pub tls: usize,
    /// WebSocket.
    pub websocket: usize,
    /// WebSocket in TLS.
    pub secure_websocket: usize,
    /// Resumable sessions.
    pub resumable: usize,
}

/// The round trips measured by the heartbeat (between podnet peers), since the server
/// started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RttStats {
    /// How many were measured.
    pub samples: u64,
    /// The median.
    pub p50: Duration,
    /// The 90th percentile.
    pub p90: Duration,
    /// The 99th percentile.
    pub p99: Duration,
    /// The longest.
    pub max: Duration,
}

/// A server's figures at one moment: what [`Server::stats`](crate::ServerHandle::stats)
/// returns. Counters count since the server started; the rest is now.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerStats {
    /// The connections now.
    pub connections: ConnectionCounts,
    /// Connections that completed their handshake, since the start.
    pub connected: u64,
    /// Messages received from peers (handed to the application, or refused as bad).
    pub messages_in: u64,
    /// Their bytes, frame headers included.
    pub bytes_in: u64,
    /// Messages the application sent (one per peer it was queued for).
    pub messages_out: u64,
    /// Their bytes, frame headers included.
    pub bytes_out: u64,
    /// Bytes waiting in outbound queues now, all connections.
    pub queued_bytes: usize,
    /// The fullest connection's queue now, in bytes.
    pub max_queued_bytes: usize,
    /// Frames received that were not messages.
    pub bad_frames: u64,
    /// Connections that ended, by the kind of their reason
    /// ([`DisconnectReason::kind`]), in the order of [`DisconnectReason::KINDS`].
    pub disconnects: Vec<(&'static str, u64)>,
    /// Of those, peers too slow to read what they were sent.
    pub slow_consumers: u64,
    /// Resumable sessions whose connection dropped.
    pub drops: u64,
    /// Sessions resumed after a drop.
    pub resumes: u64,
    /// Connections refused because the server was full or the peer too eager.
    pub rejected: u64,
    /// Quiet connections closed to make room.
    pub evicted: u64,
    /// Round trips measured by the heartbeat.
    pub rtt: RttStats,
    /// Whether the server accepts new connections (not stopped, not draining).
    pub accepting: bool,
    /// Whether [`Server::drain`](crate::ServerHandle::drain) was called.
    pub draining: bool,
}

/// What one connection carried (or, for the server's own, what connections that closed
/// carried, and broadcasts): messages and their bytes each way.
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    messages_in: AtomicU64,
    bytes_in: AtomicU64,
    messages_out: AtomicU64,
    bytes_out: AtomicU64,
}

/// [`Traffic`] added up.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Totals {
    messages_in: u64,
    bytes_in: u64,
    messages_out: u64,
    bytes_out: u64,
}

impl Traffic {
    /// `messages` messages of `bytes` bytes arrived.
    #[inline]
    pub(crate) fn received(&self, messages: usize, bytes: usize) {
        self.messages_in
            .fetch_add(messages as u64, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// `messages` messages of `bytes` bytes in all were queued.
    #[inline]
    pub(crate) fn sent(&self, messages: usize, bytes: usize) {
        self.messages_out
            .fetch_add(messages as u64, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Adds these counts to `totals`.
    pub(crate) fn add_to(&self, totals: &mut Totals) {
        totals.messages_in += self.messages_in.load(Ordering::Relaxed);
        totals.bytes_in += self.bytes_in.load(Ordering::Relaxed);
        totals.messages_out += self.messages_out.load(Ordering::Relaxed);
        totals.bytes_out += self.bytes_out.load(Ordering::Relaxed);
    }

    /// Takes in the counts of `other` (a connection that closed).
    pub(crate) fn absorb(&self, other: &Traffic) {
        let mut totals = Totals::default();
        other.add_to(&mut totals);
        self.messages_in
            .fetch_add(totals.messages_in, Ordering::Relaxed);
        self.bytes_in.fetch_add(totals.bytes_in, Ordering::Relaxed);
        self.messages_out
            .fetch_add(totals.messages_out, Ordering::Relaxed);
        self.bytes_out
            .fetch_add(totals.bytes_out, Ordering::Relaxed);
    }
}

/// The counters every server keeps.
pub(crate) struct Counters {
    /// The traffic of connections that closed, and broadcasts (counted once per call).
    pub(crate) traffic: Traffic,
    /// Frames that were not messages (their connections count them as received).
    not_messages: Counter,
    connected: Counter,
    bad_frames: Counter,
    drops: Counter,
    resumes: Counter,
    disconnects: [Counter; DisconnectReason::KINDS.len()],
    rtt_histogram: Histogram,
    /// `None` only if the histogram's (constant) bounds were refused.
    rtt: Mutex<Option<hdrhistogram::Histogram<u64>>>,
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            traffic: Traffic::default(),
            not_messages: Counter::default(),
            connected: Counter::default(),
            bad_frames: Counter::default(),
            drops: Counter::default(),
            resumes: Counter::default(),
            disconnects: std::array::from_fn(|_| Counter::default()),
            // 20 us to ~2.6 s, in steps of 1.5x: fine enough for a monitor's percentiles.
            rtt_histogram: Histogram::new(exponential_buckets(0.000_02, 1.5, 30)),
            // Microseconds, 1 us to 1 h, 3 significant figures.
            rtt: Mutex::new(hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 3).ok()),
        }
    }
}

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counters")
            .field("connected", &self.connected.get())
            .finish_non_exhaustive()
    }
}

impl Counters {
    /// One event on its way to the application.
    pub(crate) fn event(&self, event: &ServerEvent) {
        match event {
            ServerEvent::Connected { .. } => {
                self.connected.inc();
            }
            ServerEvent::Message { message, .. } => {
                self.traffic.received(1, 4 + message.payload().len());
            }
            ServerEvent::Error { .. } => {
                self.bad_frames.inc();
                self.not_messages.inc();
            }
            ServerEvent::Dropped { .. } => {
                self.drops.inc();
            }
            ServerEvent::Resumed { .. } => {
                self.resumes.inc();
            }
            ServerEvent::Disconnected { reason, .. } => {
                self.disconnects[reason.kind_index()].inc();
            }
        }
    }

    /// A round trip the heartbeat measured.
    pub(crate) fn rtt(&self, rtt: Duration) {
        self.rtt_histogram.observe(rtt.as_secs_f64());
        let micros = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX).max(1);
        let mut hdr = self.rtt.locked();
        if let Some(hdr) = hdr.as_mut() {
            hdr.saturating_record(micros);
        }
    }

    /// The counters' part of a [`ServerStats`], with `traffic`: the counts of every
    /// connection and of the server's own, added up.
    pub(crate) fn fill(&self, stats: &mut ServerStats, traffic: Totals) {
        stats.connected = self.connected.get();
        stats.messages_in = traffic.messages_in + self.not_messages.get();
        stats.bytes_in = traffic.bytes_in;
        stats.messages_out = traffic.messages_out;
        stats.bytes_out = traffic.bytes_out;
        stats.bad_frames = self.bad_frames.get();
        stats.drops = self.drops.get();
        stats.resumes = self.resumes.get();
        stats.disconnects = DisconnectReason::KINDS
            .iter()
            .zip(&self.disconnects)
            .map(|(kind, counter)| (*kind, counter.get()))
            .collect();
        stats.slow_consumers = self.disconnects[3].get();
        let hdr = self.rtt.locked();
        if let Some(hdr) = hdr.as_ref().filter(|h| !h.is_empty()) {
            let at = |q: f64| Duration::from_micros(hdr.value_at_quantile(q));
            stats.rtt = RttStats {
                samples: hdr.len(),
                p50: at(0.5),
                p90: at(0.9),
                p99: at(0.99),
                max: Duration::from_micros(hdr.max()),
            };
        }
    }

    /// `stats` (with these counters) and the game's `gauges` in the Prometheus
    /// (OpenMetrics) text format, every name starting with `prefix`.
    pub(crate) fn prometheus(
        &self,
        stats: &ServerStats,
        gauges: &std::collections::BTreeMap<String, f64>,
        health: &std::collections::BTreeMap<String, crate::Health>,
        prefix: &str,
    ) -> String {
        let mut registry = Registry::with_prefix(prefix);
        let game = registry.sub_registry_with_prefix("game");
        for (name, value) in gauges {
            game.register(name.as_str(), "Set by the game", ConstGauge::new(*value));
        }
        let counter = |registry: &mut Registry, name: &str, help: &str, c: &Counter| {
            registry.register(name, help, c.clone());
        };
        registry.register(
            "messages_received",
            "Messages received from peers",
            ConstCounter::new(stats.messages_in),
        );
        registry.register_with_unit(
            "received",
            "Bytes of the messages received, frame headers included",
            Unit::Bytes,
            ConstCounter::new(stats.bytes_in),
        );
        registry.register(
            "messages_sent",
            "Messages the application sent, one per peer",
            ConstCounter::new(stats.messages_out),
        );
        registry.register_with_unit(
            "sent",
            "Bytes of the messages sent, frame headers included",
            Unit::Bytes,
            ConstCounter::new(stats.bytes_out),
        );
        counter(
            &mut registry,
            "connections_accepted",
            "Connections that completed their handshake",
            &self.connected,
        );
        counter(
            &mut registry,
            "bad_frames",
            "Frames received that were not messages",
            &self.bad_frames,
        );
        counter(
            &mut registry,
            "session_drops",
            "Resumable sessions whose connection dropped",
            &self.drops,
        );
        counter(
            &mut registry,
            "session_resumes",
            "Sessions resumed after a drop",
            &self.resumes,
        );
        registry.register(
            "connections_rejected",
            "Connections refused (the server full, or the peer too eager)",
            ConstCounter::new(stats.rejected),
        );
        registry.register(
            "connections_evicted",
            "Quiet connections closed to make room",
            ConstCounter::new(stats.evicted),
        );
        if !health.is_empty() {
            let parts = Family::<Vec<(&'static str, String)>, Gauge>::default();
            for (component, health) in health {
                parts
                    .get_or_create(&vec![("component", component.clone())])
                    .set(i64::from(*health == crate::Health::Healthy));
            }
            registry.register(
                "component_healthy",
                "1 while a part the game depends on (its cluster) reports itself healthy",
                parts,
            );
        }
        let disconnects = Family::<Vec<(&'static str, &'static str)>, Counter>::default();
        for (kind, counter) in DisconnectReason::KINDS.iter().zip(&self.disconnects) {
            disconnects
                .get_or_create(&vec![("reason", *kind)])
                .inc_by(counter.get());
        }
        registry.register(
            "disconnects",
            "Connections that ended, by the kind of reason",
            disconnects,
        );
        let connections = Family::<Vec<(&'static str, &'static str)>, Gauge>::default();
        let c = &stats.connections;
        for (label, n) in [
            ("tcp", c.tcp),
            ("tls", c.tls),
            ("ws", c.websocket),
            ("wss", c.secure_websocket),
        ] {
            connections
                .get_or_create(&vec![("transport", label)])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        registry.register("connections", "Connections now, by transport", connections);
        let peers = Family::<Vec<(&'static str, &'static str)>, Gauge>::default();
        for (label, n) in [("podnet", c.podnet), ("repod", c.repod)] {
            peers
                .get_or_create(&vec![("peer", label)])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        registry.register("peers", "Connections now, by kind of peer", peers);
        let gauge = |v: usize| ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
        registry.register(
            "resumable_sessions",
            "Resumable sessions now",
            gauge(c.resumable),
        );
        registry.register_with_unit(
            "queued",
            "Bytes waiting in outbound queues now, all connections",
            Unit::Bytes,
            gauge(stats.queued_bytes),
        );
        registry.register_with_unit(
            "queued_max",
            "The fullest outbound queue now",
            Unit::Bytes,
            gauge(stats.max_queued_bytes),
        );
        registry.register_with_unit(
            "rtt",
            "Round trips measured by the heartbeat (podnet peers)",
            Unit::Seconds,
            self.rtt_histogram.clone(),
        );
        registry.register(
            "ready",
            "1 while the server accepts connections and is not draining",
            ConstGauge::new(i64::from(stats.accepting && !stats.draining)),
        );
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &registry);
        text
    }
}

//! A resumable client's reconnections: with backoff and jitter, until a new connection
//! carries the session again or the attempts run out.

use super::*;

/// What a resuming client needs to open new connections to its server.
pub(super) struct Redial {
    /// The server's address, as first connected to.
    pub(super) peer: SocketAddr,
    pub(super) config: ClientConfig,
    pub(super) resume: crate::ResumeConfig,
    pub(super) tracker: TaskTracker,
    /// Attempts since the last resume (or since the connection first dropped).
    pub(super) attempts: AtomicU32,
    /// Why the connection dropped, before any attempt failed.
    pub(super) first_drop: Mutex<Option<String>>,
}

/// A number in `[0, 1)`, random enough for jitter.
pub(super) fn random_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(u64::from(std::process::id()));
    let bits = hasher.finish() >> 11;
    #[allow(clippy::cast_precision_loss)]
    let unit = bits as f64 / (1u64 << 53) as f64;
    unit
}

impl ConnOwner {
    /// Reconnects and resumes the session whose connection dropped for `reason`, with
    /// backoff, until an attempt gets a new connection (its resume hello then goes out,
    /// and a failure comes back through `dropped`), the attempts run out, or the client
    /// closes.
    pub(super) async fn reconnect(
        self,
        redial: Arc<Redial>,
        mut core: podnet_proto::ClientConnection,
        mut reason: DisconnectReason,
    ) {
        let conn = self.conn.clone();
        loop {
            let attempt = redial.attempts.fetch_add(1, Ordering::Relaxed) + 1;
            if attempt > redial.resume.max_attempts {
                let dropped = redial
                    .first_drop
                    .locked()
                    .clone()
                    .unwrap_or_else(|| reason.to_string());
                conn.record(DisconnectReason::NotResumed {
                    dropped,
                    after: format!(
                        "{} reconnection attempts failed (the last: {reason})",
                        redial.resume.max_attempts
                    ),
                });
                break;
            }
            self.sink.deliver(ClientEvent::Reconnecting {
                attempt,
                reason: reason.clone(),
            });
            let pause = redial.resume.backoff(attempt, random_unit());
            // No timer for no pause: a timer fires on the next millisecond tick at best.
            if !pause.is_zero() {
                // A close meanwhile cuts the pause short: the session resumes at once to
                // deliver what was sent, then closes.
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = conn.closing.cancelled() => {}
                    () = conn.abort.cancelled() => break,
                }
            }
            match open_link(redial.peer, &redial.config).await {
                Ok(link) => {
                    if conn.abort.is_cancelled() {
                        break;
                    }
                    if !core.start_resume(tokio::time::Instant::now().into_std()) {
                        break;
                    }
                    debug!(attempt, "reconnected: resuming the session");
                    conn.queue.relink(link.direct);
                    let tracker = redial.tracker.clone();
                    driver::spawn(
                        conn,
                        core,
                        driver::Reading::repod(link.reader),
                        link.writer,
                        self,
                        &tracker,
                    );
                    return;
                }
                Err(err) => {
                    debug!(attempt, %err, "reconnection failed");
                    reason = DisconnectReason::Io {
                        error: err.to_string(),
                    };
                }
            }
        }
        conn.queue.abort();
        self.sink
            .deliver(ClientEvent::Disconnected(conn.take_reason()));
    }
}

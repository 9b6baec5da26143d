//! A node's heartbeat: its entry and names kept alive in Redis, its load reported, and
//! the names it lost noticed.

use super::*;

/// What the heartbeat task holds.
pub(super) struct Beat {
    pub(super) conn: ConnectionManager,
    pub(super) keys: Keys,
    pub(super) id: String,
    pub(super) config: ClusterConfig,
    pub(super) shared: Arc<Shared>,
    pub(super) started: u64,
}

impl Beat {
    /// One heartbeat; returns whether Redis still had this node's entry.
    pub(super) async fn once(&self) -> Result<bool, ClusterError> {
        let load = *lock(&self.shared.load);
        let mut conn = self.conn.clone();
        let (existed, lost): (i64, Vec<String>) = Script::new(HEARTBEAT)
            .key(self.keys.node(&self.id))
            .key(self.keys.names_of(&self.id))
            .arg(millis(self.config.ttl))
            .arg(load.players)
            .arg(load.sessions)
            .arg(&self.id)
            .arg(self.keys.name(""))
            .arg(self.started)
            .arg(load.sessions_started)
            .invoke_async(&mut conn)
            .await?;
        if !lost.is_empty() {
            warn!(node = %self.id, names = lost.len(), "names expired while this node was not heard from");
            self.lose(lost);
        }
        Ok(existed == 1)
    }

    fn lose(&self, names: Vec<String>) {
        let mut held = lock(&self.shared.held);
        for name in &names {
            held.remove(name);
        }
        drop(held);
        lock(&self.shared.lost).extend(names);
    }

    /// After Redis was away: claims again every name this node holds (a restarted Redis
    /// has none of them); the ones another node took meanwhile are lost.
    async fn reclaim(&self) -> Result<(), ClusterError> {
        let names: Vec<String> = lock(&self.shared.held).iter().cloned().collect();
        let mut lost = Vec::new();
        for name in names {
            let mut conn = self.conn.clone();
            let claimed: i64 = Script::new(CLAIM)
                .key(self.keys.name(&name))
                .key(self.keys.names_of(&self.id))
                .arg(&self.id)
                .arg(millis(self.config.ttl))
                .arg(&name)
                .invoke_async(&mut conn)
                .await?;
            if claimed == 0 {
                let holder: Option<String> = redis::cmd("GET")
                    .arg(self.keys.name(&name))
                    .query_async(&mut conn)
                    .await?;
                if holder.as_deref() != Some(self.id.as_str()) {
                    lost.push(name);
                }
            }
        }
        if !lost.is_empty() {
            warn!(node = %self.id, names = lost.len(), "names taken by other nodes while Redis was away");
            self.lose(lost);
        }
        Ok(())
    }

    pub(super) async fn run(self) {
        let mut ticks = tokio::time::interval(self.config.heartbeat);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let result = match self.once().await {
                Ok(true) if *self.shared.health.borrow() == Health::Healthy => Ok(()),
                Ok(existed) => {
                    if !existed {
                        // Redis lost everything (restarted between two heartbeats, too
                        // quickly to be noticed as away): as after an outage, the node is
                        // degraded until it has claimed its names again, and those
                        // watching its health see it come back.
                        *lock(&self.shared.healthy_since) = None;
                        self.shared.health.send_replace(Health::Degraded {
                            why: "Redis lost this node's entry (it restarted)".to_owned(),
                        });
                        warn!(node = %self.id, "Redis restarted: claiming this node's names again");
                    }
                    self.reclaim().await
                }
                Err(err) => Err(err),
            };
            match result {
                Ok(()) => {
                    self.shared.health.send_if_modified(|health| {
                        let changed = *health != Health::Healthy;
                        if changed {
                            warn!(node = %self.id, "the cluster is back");
                            *lock(&self.shared.healthy_since) = Some(std::time::Instant::now());
                            *health = Health::Healthy;
                        }
                        changed
                    });
                }
                Err(err) => {
                    let why = err.to_string();
                    *lock(&self.shared.healthy_since) = None;
                    self.shared.health.send_if_modified(|health| {
                        let changed = *health == Health::Healthy;
                        if changed {
                            warn!(node = %self.id, %why, "cluster degraded: serving local players only");
                        }
                        *health = Health::Degraded { why };
                        changed
                    });
                }
            }
        }
    }
}

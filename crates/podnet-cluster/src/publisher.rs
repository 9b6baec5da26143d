//! One task publishes everything a node sends through Redis, in the order it was sent,
//! as pipelines: whatever waits is sent in one round trip. It is also the sending side of
//! the messages between game loops (see `delivery`): it numbers them, keeps them until
//! acknowledged, and sends them again when due.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use redis::aio::ConnectionManager;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::delivery::Outgoing;
use crate::envelope::{self, To};

/// The most publishes sent in one pipeline.
const BATCH: usize = 256;

/// Whether a publish went out, or why not.
pub(crate) type Done = oneshot::Sender<Result<(), String>>;

/// Something to publish.
pub(crate) enum Op {
    /// `data` on `channel`.
    Publish {
        channel: String,
        data: Vec<u8>,
        done: Option<Done>,
    },
    /// `data` to the node holding the name at `name_key`, on its channel `{prefix}:to:{node}`
    /// (nothing if nobody holds it).
    ToName {
        name_key: String,
        prefix: String,
        data: Vec<u8>,
        done: Option<Done>,
    },
    /// A message to node `to`'s game loop, numbered and kept until acknowledged (its
    /// room was counted in [`Reliable::kept`] by the sender).
    ToNode { to: String, payload: Bytes },
    /// Node `from` acknowledged this node's stream `epoch` up to `upto` (and asks for
    /// the rest, with `resend`).
    Acked {
        from: String,
        epoch: u64,
        upto: u64,
        resend: bool,
    },
}

/// The sending side of the messages between game loops, shared with the senders.
#[derive(Debug, Clone)]
pub(crate) struct Reliable {
    /// This node's id, and the channels' prefix.
    pub id: String,
    pub prefix: String,
    /// When this node started (its streams' epoch), and how long a message is sent again.
    pub epoch: u64,
    pub resend_for: Duration,
    /// Messages handed over and not yet acknowledged (or given up): counted up by the
    /// senders, down here.
    pub kept: Arc<AtomicUsize>,
    /// Messages given up on, since the start.
    pub lost: Arc<AtomicU64>,
    /// What is kept, as this task last saw it: zero once every node has acknowledged
    /// everything.
    pub settled: watch::Sender<usize>,
}

pub(crate) fn spawn(
    conn: ConnectionManager,
    capacity: usize,
    reliable: Reliable,
) -> (mpsc::Sender<Op>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (tx, tokio::spawn(run(conn, rx, reliable)))
}

/// The channels of the nodes this one sends to (`{prefix}:to:{node}`), made once each.
#[derive(Default)]
struct Channels(std::collections::HashMap<String, String>);

impl Channels {
    fn of(&mut self, prefix: &str, node: &str) -> &str {
        if !self.0.contains_key(node) {
            self.0
                .insert(node.to_owned(), format!("{prefix}:to:{node}"));
        }
        self.0.get(node).map_or("", String::as_str)
    }
}

/// Adds the publish of message `seq` of this node's stream to `to` to `pipe`.
fn publish_numbered(
    pipe: &mut redis::Pipeline,
    reliable: &Reliable,
    channels: &mut Channels,
    (to, base, seq): (&str, u64, u64),
    payload: &[u8],
) {
    let header = To::Node {
        from: reliable.id.clone(),
        epoch: reliable.epoch,
        base,
        seq,
    };
    pipe.cmd("PUBLISH")
        .arg(channels.of(&reliable.prefix, to))
        .arg(envelope::direct(&header, payload))
        .ignore();
}

async fn run(mut conn: ConnectionManager, mut rx: mpsc::Receiver<Op>, reliable: Reliable) {
    let mut outgoing = Outgoing::new(reliable.epoch, reliable.resend_for);
    let mut channels = Channels::default();
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let deadline = outgoing.next_deadline();
        let first = tokio::select! {
            op = rx.recv() => match op {
                Some(op) => Some(op),
                None => return,
            },
            () = sleep_until(deadline) => None,
        };
        batch.extend(first);
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let mut pipe = redis::pipe();
        let mut waiting: Vec<Done> = Vec::new();
        let before = outgoing.kept();
        let now = Instant::now();
        let (again, lost) = outgoing.poll(now);
        if lost > 0 {
            reliable.lost.fetch_add(lost, Ordering::Relaxed);
            warn!(node = %reliable.id, lost, "messages to other nodes given up: not acknowledged within resend_for");
        }
        for m in &again {
            let numbers = (m.to.as_str(), m.base, m.seq);
            publish_numbered(&mut pipe, &reliable, &mut channels, numbers, &m.payload);
        }
        let mut added = 0;
        for op in batch.drain(..) {
            match op {
                Op::ToNode { to, payload } => {
                    let (base, seq) = outgoing.send(&to, payload.clone(), now);
                    added += 1;
                    let numbers = (to.as_str(), base, seq);
                    publish_numbered(&mut pipe, &reliable, &mut channels, numbers, &payload);
                }
                Op::Acked {
                    from,
                    epoch,
                    upto,
                    resend,
                } => {
                    for m in outgoing.acked(&from, epoch, upto, resend, now) {
                        let numbers = (m.to.as_str(), m.base, m.seq);
                        publish_numbered(&mut pipe, &reliable, &mut channels, numbers, &m.payload);
                    }
                }
                Op::Publish {
                    channel,
                    data,
                    done,
                } => {
                    pipe.cmd("PUBLISH").arg(channel).arg(data).ignore();
                    waiting.extend(done);
                }
                Op::ToName {
                    name_key,
                    prefix,
                    data,
                    done,
                } => {
                    // Resolved in order: what was batched before goes out first.
                    flush(&mut conn, &mut pipe, &mut waiting).await;
                    let holder: Result<Option<String>, _> = redis::cmd("GET")
                        .arg(&name_key)
                        .query_async(&mut conn)
                        .await;
                    match holder {
                        Ok(Some(node)) => {
                            pipe.cmd("PUBLISH")
                                .arg(format!("{prefix}:to:{node}"))
                                .arg(data)
                                .ignore();
                            waiting.extend(done);
                        }
                        Ok(None) => {
                            if let Some(done) = done {
                                let _ = done.send(Ok(()));
                            }
                        }
                        Err(err) => {
                            if let Some(done) = done {
                                let _ = done.send(Err(err.to_string()));
                            }
                        }
                    }
                }
            }
        }
        let released = (before + added).saturating_sub(outgoing.kept());
        if released > 0 {
            reliable.kept.fetch_sub(released, Ordering::Relaxed);
        }
        reliable.settled.send_replace(outgoing.kept());
        flush(&mut conn, &mut pipe, &mut waiting).await;
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}

/// Sends what `pipe` holds, and tells those waiting how it went.
async fn flush(conn: &mut ConnectionManager, pipe: &mut redis::Pipeline, waiting: &mut Vec<Done>) {
    if pipe.is_empty() {
        return;
    }
    let result: Result<(), String> = pipe
        .query_async::<()>(conn)
        .await
        .map_err(|err| err.to_string());
    if let Err(err) = &result {
        debug!(%err, "cluster publish failed");
    }
    pipe.clear();
    for done in waiting.drain(..) {
        let _ = done.send(result.clone());
    }
}

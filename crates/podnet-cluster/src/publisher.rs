//! One task publishes everything a node sends through Redis, in the order it was sent,
//! as pipelines: whatever waits is sent in one round trip.

use redis::aio::ConnectionManager;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::debug;

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
}

pub(crate) fn spawn(
    conn: ConnectionManager,
    capacity: usize,
) -> (mpsc::Sender<Op>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (tx, tokio::spawn(run(conn, rx)))
}

async fn run(mut conn: ConnectionManager, mut rx: mpsc::Receiver<Op>) {
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let mut pipe = redis::pipe();
        let mut waiting: Vec<Done> = Vec::new();
        for op in batch.drain(..) {
            match op {
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
        flush(&mut conn, &mut pipe, &mut waiting).await;
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

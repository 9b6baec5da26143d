//! The queue's rules, and its direct writes raced by other senders.

use super::*;

fn frame(n: usize) -> Bytes {
    Bytes::from(vec![0u8; n])
}

/// Frames come out in order, all at once, and their room comes back on release.
#[tokio::test]
async fn batches_in_order_and_releases() {
    let q = OutboundQueue::new(1000, None);
    q.push(Bytes::from_static(b"a")).unwrap();
    q.push(Bytes::from_static(b"b")).unwrap();
    let mut batch = VecDeque::new();
    assert_eq!(q.next(&mut batch).await, Next::Write);
    assert_eq!(batch, [Bytes::from_static(b"a"), Bytes::from_static(b"b")]);
    assert_eq!(q.stats().charged, 2 + 2 * FRAME_OVERHEAD);
    q.release(2, 2);
    assert_eq!(q.stats().charged, 0);
    assert_eq!(q.stats().high_water, 2 + 2 * FRAME_OVERHEAD);
}

/// The byte limit holds, counting the batch being written; an empty queue takes any frame.
#[test]
fn limit_counts_bytes_and_overhead() {
    let q = OutboundQueue::new(200, None);
    q.push(frame(5000)).unwrap(); // alone, over the limit: accepted
    assert!(matches!(q.push(frame(1)), Err(PushError::Full { .. })));
    let q = OutboundQueue::new(200, None);
    q.push(frame(100)).unwrap();
    assert_eq!(
        q.push(frame(100 - FRAME_OVERHEAD + 1)),
        Err(PushError::Full {
            queued: 201 + FRAME_OVERHEAD,
            limit: 200
        })
    );
    assert!(q.stats().high_water <= 200);
}

/// Closing hands out what was queued, then the close frame, and refuses new pushes.
#[tokio::test]
async fn close_comes_after_what_was_queued() {
    let q = OutboundQueue::new(1000, None);
    q.push(Bytes::from_static(b"last")).unwrap();
    assert!(q.close(Bytes::from_static(b"bye")));
    assert!(!q.close(Bytes::from_static(b"again")));
    assert_eq!(q.push(Bytes::from_static(b"late")), Err(PushError::Closed));
    let mut batch = VecDeque::new();
    assert_eq!(q.next(&mut batch).await, Next::Write);
    assert_eq!(batch, [Bytes::from_static(b"last")]);
    batch.clear();
    assert_eq!(
        q.next(&mut batch).await,
        Next::Close(Bytes::from_static(b"bye"))
    );
}

/// A producer waiting for room is woken by a release.
#[tokio::test]
async fn push_wait_resumes_after_release() {
    let q = std::sync::Arc::new(OutboundQueue::new(100, None));
    q.push(frame(60)).unwrap();
    let waiter = tokio::spawn({
        let q = q.clone();
        async move { q.push_wait(None, frame(60)).await }
    });
    let mut batch = VecDeque::new();
    assert_eq!(q.next(&mut batch).await, Next::Write);
    tokio::task::yield_now().await;
    assert!(!waiter.is_finished());
    q.release(1, 60);
    assert_eq!(waiter.await.unwrap(), Ok(()));
}

/// What a [`Racing`] socket does in the middle of its first write.
type During = Box<dyn FnOnce(&OutboundQueue) + Send>;

/// A socket that takes `accept` bytes of each write and, in the middle of the first
/// one, lets another sender use the same queue: that cannot wait on a lock held by
/// the write.
struct Racing {
    queue: std::sync::OnceLock<std::sync::Weak<OutboundQueue>>,
    accept: usize,
    during: Mutex<Option<During>>,
    wire: Mutex<Vec<u8>>,
}

impl std::fmt::Debug for Racing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Racing").finish_non_exhaustive()
    }
}

impl DirectWrite for Racing {
    fn try_write_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        if let Some(during) = self.during.lock().unwrap().take() {
            let queue = self.queue.get().and_then(std::sync::Weak::upgrade).unwrap();
            during(&queue);
        }
        let mut wire = self.wire.lock().unwrap();
        let mut taken = 0;
        for buf in bufs {
            let n = buf.len().min(self.accept - taken);
            wire.extend_from_slice(&buf[..n]);
            taken += n;
        }
        Ok(taken)
    }
}

fn racing(accept: usize, during: During) -> (Arc<OutboundQueue>, Arc<Racing>) {
    let socket = Arc::new(Racing {
        queue: std::sync::OnceLock::new(),
        accept,
        during: Mutex::new(Some(during)),
        wire: Mutex::new(Vec::new()),
    });
    let queue = Arc::new(OutboundQueue::new(
        1000,
        Some(socket.clone() as Arc<dyn DirectWrite>),
    ));
    socket.queue.set(Arc::downgrade(&queue)).unwrap();
    (queue, socket)
}

/// Another sender pushes `frame`, allowed a direct write: it must queue instead.
fn push_second(queue: &OutboundQueue) {
    let allowed = std::sync::atomic::AtomicBool::new(true);
    queue
        .push_direct(None, Bytes::from_static(b"second"), &allowed)
        .unwrap();
    assert!(allowed.load(std::sync::atomic::Ordering::Relaxed));
}

/// A direct write is made outside the lock: another sender's push during it queues
/// behind it, and the writer is handed it only once the write has ended.
#[tokio::test]
async fn a_push_during_a_direct_write_queues_behind_it() {
    let (q, socket) = racing(usize::MAX, Box::new(push_second));
    let allowed = std::sync::atomic::AtomicBool::new(true);
    q.push_direct(None, Bytes::from_static(b"first"), &allowed)
        .unwrap();
    assert_eq!(socket.wire.lock().unwrap().as_slice(), b"first");
    let mut batch = VecDeque::new();
    assert_eq!(q.next(&mut batch).await, Next::Write);
    assert_eq!(batch, [Bytes::from_static(b"second")]);
}

/// What a direct write leaves unwritten goes out before what was pushed during it.
#[tokio::test]
async fn the_rest_of_a_partial_direct_write_goes_first() {
    let (q, socket) = racing(3, Box::new(push_second));
    let allowed = std::sync::atomic::AtomicBool::new(true);
    q.push_direct(
        Some(Bytes::from_static(b"hd")),
        Bytes::from_static(b"first"),
        &allowed,
    )
    .unwrap();
    assert_eq!(socket.wire.lock().unwrap().as_slice(), b"hdf");
    let mut batch = VecDeque::new();
    assert_eq!(q.next(&mut batch).await, Next::Write);
    assert_eq!(
        batch,
        [Bytes::from_static(b"irst"), Bytes::from_static(b"second")]
    );
    assert_eq!(q.stats().charged, 4 + 6 + 2 * FRAME_OVERHEAD);
}

/// A close asked for during a direct write goes out after all of the write.
#[tokio::test]
async fn a_close_during_a_direct_write_comes_after_it() {
    let close = |q: &OutboundQueue| assert!(q.close(Bytes::from_static(b"bye")));
    let (q, _socket) = racing(2, Box::new(close));
    let allowed = std::sync::atomic::AtomicBool::new(true);
    q.push_direct(None, Bytes::from_static(b"abcd"), &allowed)
        .unwrap();
    let mut batch = VecDeque::new();
    assert_eq!(q.next(&mut batch).await, Next::Write);
    assert_eq!(batch, [Bytes::from_static(b"cd")]);
    q.release(1, 2);
    batch.clear();
    assert_eq!(
        q.next(&mut batch).await,
        Next::Close(Bytes::from_static(b"bye"))
    );
}

/// A connection dropped during a direct write: its rest is not queued for the next.
#[tokio::test]
async fn a_detach_during_a_direct_write_drops_its_rest() {
    let (q, _socket) = racing(2, Box::new(OutboundQueue::detach));
    let allowed = std::sync::atomic::AtomicBool::new(true);
    q.push_direct(None, Bytes::from_static(b"abcd"), &allowed)
        .unwrap();
    q.relink(None);
    assert_eq!(q.stats().frames, 0);
}

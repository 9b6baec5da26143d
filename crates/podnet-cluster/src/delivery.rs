//! Messages between nodes' game loops, delivered exactly once and in order through Redis
//! pub/sub, which by itself is at most once: sans-IO, driven by the publisher task (the
//! sending side, [`Outgoing`]) and the subscriber task (the receiving side, [`Incoming`]).
//!
//! Each node numbers what it sends to each other node (1, 2, 3, ...) and keeps it until
//! that node acknowledges it. The receiver hands a message to its game loop only if it is
//! the next one it expects, drops repeats, and drops what comes after a gap; it
//! acknowledges what it has every [`ACK_EVERY`], and asks at once for what it missed when
//! it sees a gap or its subscription comes back. The sender sends again whatever is not
//! acknowledged when asked to, or when nothing was acknowledged for a while (backing off
//! from [`FIRST_RESEND`] to [`LAST_RESEND`]). So a message survives a Redis restart, a
//! lost subscription or a lost acknowledgement, as long as both nodes live.
//!
//! What cannot be delivered is bounded and reported, never silent: the sender gives up on
//! what stayed unacknowledged for `ClusterConfig::resend_for` (its receiver died, or Redis
//! stayed away), counts it lost, and tells the receiver where its stream starts again
//! (every message carries the oldest number the sender still holds), so a receiver that
//! lived through it counts the same loss and goes on.
//!
//! A node that starts again under the same id starts a new stream: every message carries
//! the sender's *epoch* (when it started), and a receiver that sees a newer epoch follows
//! it from that stream's start.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

/// How often a receiver acknowledges what it got (only to senders it got something from
/// since).
pub(crate) const ACK_EVERY: Duration = Duration::from_millis(50);
/// The first wait for an acknowledgement before sending again.
pub(crate) const FIRST_RESEND: Duration = Duration::from_millis(250);
/// The longest wait between two sends of what is not acknowledged (doubling from
/// [`FIRST_RESEND`] while nothing is).
pub(crate) const LAST_RESEND: Duration = Duration::from_secs(2);
/// The most senders a receiver follows: past it, the one heard from least recently is
/// forgotten (anyone who can publish to Redis could make up node ids).
pub(crate) const MAX_SENDERS: usize = 1024;

/// A message kept until acknowledged.
#[derive(Debug)]
struct Kept {
    seq: u64,
    /// Its payload (the message, without the envelope).
    payload: Bytes,
    /// When it was first sent.
    at: Instant,
}

/// What one node sends another.
#[derive(Debug)]
struct Stream {
    next_seq: u64,
    unacked: VecDeque<Kept>,
    /// When to send the unacknowledged again if nothing is acknowledged before.
    resend_at: Option<Instant>,
    /// The wait before the next resend.
    backoff: Duration,
}

impl Stream {
    fn new() -> Self {
        Self {
            next_seq: 1,
            unacked: VecDeque::new(),
            resend_at: None,
            backoff: FIRST_RESEND,
        }
    }

    /// The oldest number the sender still holds (the next one if it holds none).
    fn base(&self) -> u64 {
        self.unacked.front().map_or(self.next_seq, |k| k.seq)
    }
}

/// A message to publish: to node `to`, its number, the sender's oldest kept number, and
/// the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Numbered {
    pub to: String,
    pub base: u64,
    pub seq: u64,
    pub payload: Bytes,
}

/// The sending side: every node's stream, and what they have acknowledged.
#[derive(Debug)]
pub(crate) struct Outgoing {
    epoch: u64,
    resend_for: Duration,
    /// By receiving node. A stream is kept for the node's life, even with nothing in it,
    /// so that its numbers go on: one small entry per node ever sent to.
    streams: HashMap<String, Stream>,
    kept: usize,
}

impl Outgoing {
    pub(crate) fn new(epoch: u64, resend_for: Duration) -> Self {
        Self {
            epoch,
            resend_for,
            streams: HashMap::new(),
            kept: 0,
        }
    }

    /// Messages kept for resending, to every node.
    pub(crate) fn kept(&self) -> usize {
        self.kept
    }

    /// Numbers `payload` for node `to`, and keeps it until acknowledged; returns the
    /// sender's oldest kept number and this message's.
    pub(crate) fn send(&mut self, to: &str, payload: Bytes, now: Instant) -> (u64, u64) {
        if !self.streams.contains_key(to) {
            self.streams.insert(to.to_owned(), Stream::new());
        }
        let Some(stream) = self.streams.get_mut(to) else {
            unreachable!("inserted above");
        };
        let seq = stream.next_seq;
        stream.next_seq += 1;
        stream.unacked.push_back(Kept {
            seq,
            payload: payload.clone(),
            at: now,
        });
        if stream.resend_at.is_none() {
            stream.resend_at = Some(now + stream.backoff);
        }
        self.kept += 1;
        (stream.base(), seq)
    }

    /// Node `from` acknowledged everything up to `upto` of this node's stream `epoch`;
    /// with `resend`, it asks for the rest at once. Returns what to send again. An
    /// acknowledgement of another epoch (a previous life of this node) or of more than
    /// was sent is ignored.
    pub(crate) fn acked(
        &mut self,
        from: &str,
        epoch: u64,
        upto: u64,
        resend: bool,
        now: Instant,
    ) -> Vec<Numbered> {
        if epoch != self.epoch {
            return Vec::new();
        }
        let Some(stream) = self.streams.get_mut(from) else {
            return Vec::new();
        };
        if upto >= stream.next_seq {
            return Vec::new();
        }
        let mut progress = false;
        while stream.unacked.front().is_some_and(|k| k.seq <= upto) {
            stream.unacked.pop_front();
            self.kept -= 1;
            progress = true;
        }
        if progress {
            stream.backoff = FIRST_RESEND;
            stream.resend_at = (!stream.unacked.is_empty()).then(|| now + stream.backoff);
        }
        if resend {
            return Self::resend(from, stream, now);
        }
        Vec::new()
    }

    fn resend(to: &str, stream: &mut Stream, now: Instant) -> Vec<Numbered> {
        if stream.unacked.is_empty() {
            stream.resend_at = None;
            return Vec::new();
        }
        stream.backoff = (stream.backoff * 2).min(LAST_RESEND);
        stream.resend_at = Some(now + stream.backoff);
        let base = stream.base();
        stream
            .unacked
            .iter()
            .map(|k| Numbered {
                to: to.to_owned(),
                base,
                seq: k.seq,
                payload: k.payload.clone(),
            })
            .collect()
    }

    /// What is due at `now`: what to send again (nothing acknowledged for a while), and
    /// how many messages were given up (unacknowledged for `resend_for`).
    pub(crate) fn poll(&mut self, now: Instant) -> (Vec<Numbered>, u64) {
        let mut again = Vec::new();
        let mut lost = 0;
        let resend_for = self.resend_for;
        for (to, stream) in &mut self.streams {
            while stream
                .unacked
                .front()
                .is_some_and(|k| now.saturating_duration_since(k.at) >= resend_for)
            {
                stream.unacked.pop_front();
                lost += 1;
            }
            if stream.resend_at.is_some_and(|at| at <= now) {
                again.extend(Self::resend(to, stream, now));
            }
        }
        self.kept -= lost as usize;
        (again, lost)
    }

    /// The earliest time [`poll`](Self::poll) has something to do.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.streams
            .values()
            .flat_map(|s| {
                let give_up = s.unacked.front().map(|k| k.at + self.resend_for);
                [s.resend_at, give_up]
            })
            .flatten()
            .min()
    }
}

/// What the receiver makes of an arriving message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// The next one: hand it to the game loop.
    Deliver,
    /// Had it already.
    Repeat,
    /// Came after a gap: dropped (it will be sent again).
    Early,
    /// From an older life of the sender.
    Stale,
}

/// What one node got from another.
#[derive(Debug)]
struct Followed {
    epoch: u64,
    /// The next number expected.
    next: u64,
    /// The last acknowledged (next - 1 at the time).
    acked: u64,
    /// Ask the sender for what is missing, at the next acknowledgement.
    ask: bool,
    /// When it was last asked (an ask per [`FIRST_RESEND`] at most).
    asked_at: Option<Instant>,
    heard: Instant,
}

impl Followed {
    /// A sender first heard of (or started again): its stream starts where it still
    /// holds it.
    fn new(epoch: u64, base: u64, now: Instant) -> Self {
        Followed {
            epoch,
            next: base,
            acked: base.saturating_sub(1),
            ask: false,
            asked_at: None,
            heard: now,
        }
    }
}

/// An acknowledgement to send: to node `to`, of its stream `epoch`, up to `upto`; with
/// `resend`, asking for the rest at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ack {
    pub to: String,
    pub epoch: u64,
    pub upto: u64,
    pub resend: bool,
}

/// The receiving side: where each sender's stream is.
#[derive(Debug, Default)]
pub(crate) struct Incoming {
    senders: HashMap<String, Followed>,
    lost: u64,
}

impl Incoming {
    /// Messages the senders gave up on, as learnt from their streams' bases.
    pub(crate) fn lost(&self) -> u64 {
        self.lost
    }

    /// Message `seq` of `from`'s stream `epoch` arrived, the sender holding everything
    /// from `base` on. A [`Deliver`](Arrival::Deliver) is taken as delivered: call it
    /// only once the message has room to go.
    pub(crate) fn arrived(
        &mut self,
        from: &str,
        epoch: u64,
        base: u64,
        seq: u64,
        now: Instant,
    ) -> Arrival {
        if !self.senders.contains_key(from) {
            self.follow(from, epoch, base, now);
        }
        let Some(followed) = self.senders.get_mut(from) else {
            unreachable!("followed above");
        };
        if epoch < followed.epoch {
            return Arrival::Stale;
        }
        if epoch > followed.epoch {
            // The sender started again: a new stream, from its start.
            *followed = Followed::new(epoch, base, now);
        }
        followed.heard = now;
        if base > followed.next {
            // The sender gave up on these: counted, and the stream goes on.
            self.lost += base - followed.next;
            followed.next = base;
        }
        if seq < followed.next {
            // Say so soon: the sender may be resending because an acknowledgement was lost.
            followed.acked = followed.acked.min(seq.saturating_sub(1));
            return Arrival::Repeat;
        }
        if seq > followed.next {
            followed.ask = true;
            return Arrival::Early;
        }
        followed.next += 1;
        followed.ask = false;
        Arrival::Deliver
    }

    /// Starts following `from`, forgetting the sender heard from least recently if there
    /// are too many.
    fn follow(&mut self, from: &str, epoch: u64, base: u64, now: Instant) {
        if self.senders.len() >= MAX_SENDERS {
            let oldest = self
                .senders
                .iter()
                .min_by_key(|(_, f)| f.heard)
                .map(|(id, _)| id.clone());
            if let Some(oldest) = oldest {
                self.senders.remove(&oldest);
            }
        }
        self.senders
            .insert(from.to_owned(), Followed::new(epoch, base, now));
    }

    /// A message of `from` could not be handed on (the game loop's inbox is full): ask
    /// for it again later, as for a gap.
    pub(crate) fn refused(&mut self, from: &str) {
        if let Some(followed) = self.senders.get_mut(from) {
            followed.ask = true;
        }
    }

    /// The subscription came back: what was published meanwhile is asked for again from
    /// every sender.
    pub(crate) fn resubscribed(&mut self) {
        for followed in self.senders.values_mut() {
            followed.ask = true;
            followed.asked_at = None;
        }
    }

    /// The acknowledgements due at `now` (called every [`ACK_EVERY`]).
    pub(crate) fn acks(&mut self, now: Instant) -> Vec<Ack> {
        let mut acks = Vec::new();
        for (from, followed) in &mut self.senders {
            let upto = followed.next - 1;
            let ask = followed.ask
                && followed
                    .asked_at
                    .is_none_or(|at| now.saturating_duration_since(at) >= FIRST_RESEND);
            if upto == followed.acked && !ask {
                continue;
            }
            followed.acked = upto;
            if ask {
                followed.asked_at = Some(now);
                followed.ask = false;
            }
            acks.push(Ack {
                to: from.clone(),
                epoch: followed.epoch,
                upto,
                resend: ask,
            });
        }
        acks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(n: u8) -> Bytes {
        Bytes::from(vec![n])
    }

    /// Sends payload `n` to "b", as the publisher would publish it.
    fn numbered(out: &mut Outgoing, n: u8, now: Instant) -> Numbered {
        let (base, seq) = out.send("b", payload(n), now);
        Numbered {
            to: "b".into(),
            base,
            seq,
            payload: payload(n),
        }
    }

    /// Hands what `out` sends to `into`, dropping the numbers in `lose`; returns the
    /// payloads delivered.
    fn carry(
        into: &mut Incoming,
        sent: &[Numbered],
        lose: &[u64],
        epoch: u64,
        now: Instant,
    ) -> Vec<u8> {
        let mut got = Vec::new();
        for m in sent {
            if lose.contains(&m.seq) {
                continue;
            }
            if into.arrived("a", epoch, m.base, m.seq, now) == Arrival::Deliver {
                got.push(m.payload[0]);
            }
        }
        got
    }

    #[test]
    fn a_gap_is_asked_for_and_filled_in_order_once() {
        let t0 = Instant::now();
        let mut out = Outgoing::new(7, Duration::from_secs(30));
        let mut into = Incoming::default();
        let sent: Vec<Numbered> = (1..=5).map(|n| numbered(&mut out, n, t0)).collect();
        assert_eq!(carry(&mut into, &sent, &[2, 3], 7, t0), vec![1]);
        let acks = into.acks(t0);
        assert_eq!(
            acks,
            vec![Ack {
                to: "a".into(),
                epoch: 7,
                upto: 1,
                resend: true
            }]
        );
        let again = out.acked("b", 7, 1, true, t0);
        assert_eq!(
            again.iter().map(|m| m.seq).collect::<Vec<_>>(),
            [2, 3, 4, 5]
        );
        assert_eq!(carry(&mut into, &again, &[], 7, t0), vec![2, 3, 4, 5]);
        // Repeats are dropped; the acknowledgement empties the sender.
        assert_eq!(carry(&mut into, &again, &[], 7, t0), Vec::<u8>::new());
        for ack in into.acks(t0) {
            out.acked("b", ack.epoch, ack.upto, ack.resend, t0);
        }
        assert_eq!(out.kept(), 0);
    }

    #[test]
    fn nothing_acknowledged_is_sent_again_backing_off() {
        let t0 = Instant::now();
        let mut out = Outgoing::new(1, Duration::from_secs(30));
        out.send("b", payload(1), t0);
        assert_eq!(out.next_deadline(), Some(t0 + FIRST_RESEND));
        assert!(out.poll(t0 + FIRST_RESEND / 2).0.is_empty());
        let (again, lost) = out.poll(t0 + FIRST_RESEND);
        assert_eq!((again.len(), lost), (1, 0));
        assert_eq!(
            out.next_deadline(),
            Some(t0 + FIRST_RESEND + FIRST_RESEND * 2)
        );
        let mut at = t0 + FIRST_RESEND;
        for _ in 0..10 {
            at = out.next_deadline().unwrap();
            assert_eq!(out.poll(at).0.len(), 1);
        }
        assert_eq!(out.next_deadline(), Some(at + LAST_RESEND), "capped");
        // An acknowledgement resets it.
        out.acked("b", 1, 1, false, at);
        assert_eq!(out.next_deadline(), None);
    }

    #[test]
    fn what_is_given_up_is_counted_on_both_sides() {
        let t0 = Instant::now();
        let mut out = Outgoing::new(1, Duration::from_secs(30));
        let mut into = Incoming::default();
        let first = numbered(&mut out, 1, t0);
        assert_eq!(carry(&mut into, &[first], &[], 1, t0), vec![1]);
        out.acked("b", 1, 1, false, t0);
        // Two lost while Redis was away, never acknowledged: given up after 30 s.
        out.send("b", payload(2), t0);
        out.send("b", payload(3), t0);
        let later = t0 + Duration::from_secs(30);
        let (_, lost) = out.poll(later);
        assert_eq!((lost, out.kept()), (2, 0));
        // The stream goes on past them; the receiver learns of the loss from the base.
        let next = numbered(&mut out, 4, later);
        assert_eq!((next.base, next.seq), (4, 4));
        assert_eq!(carry(&mut into, &[next], &[], 1, later), vec![4]);
        assert_eq!(into.lost(), 2);
    }

    #[test]
    fn a_sender_that_starts_again_starts_a_new_stream() {
        let t0 = Instant::now();
        let mut into = Incoming::default();
        assert_eq!(into.arrived("a", 5, 1, 1, t0), Arrival::Deliver);
        assert_eq!(into.arrived("a", 5, 1, 2, t0), Arrival::Deliver);
        assert_eq!(into.arrived("a", 9, 1, 1, t0), Arrival::Deliver);
        assert_eq!(into.arrived("a", 5, 1, 3, t0), Arrival::Stale);
        // A receiver that starts again follows a sender from what it still holds.
        let mut fresh = Incoming::default();
        assert_eq!(fresh.arrived("a", 9, 40, 41, t0), Arrival::Early);
        assert_eq!(fresh.arrived("a", 9, 40, 40, t0), Arrival::Deliver);
        assert_eq!(fresh.arrived("a", 9, 40, 41, t0), Arrival::Deliver);
    }

    #[test]
    fn acknowledgements_of_the_wrong_epoch_or_beyond_what_was_sent_are_ignored() {
        let t0 = Instant::now();
        let mut out = Outgoing::new(3, Duration::from_secs(30));
        out.send("b", payload(1), t0);
        out.send("b", payload(2), t0);
        assert!(out.acked("b", 4, 2, true, t0).is_empty());
        assert!(out.acked("b", 3, 9, true, t0).is_empty());
        assert!(out.acked("nobody", 3, 1, true, t0).is_empty());
        assert_eq!(out.kept(), 2);
    }

    #[test]
    fn made_up_senders_are_bounded() {
        let t0 = Instant::now();
        let mut into = Incoming::default();
        for n in 0..(MAX_SENDERS + 10) {
            let _ = into.arrived(
                &format!("n{n}"),
                1,
                1,
                1,
                t0 + Duration::from_millis(n as u64),
            );
        }
        assert_eq!(into.senders.len(), MAX_SENDERS);
        assert!(!into.senders.contains_key("n0"));
    }

    /// Random losses, repeats and reorderings of both messages and acknowledgements:
    /// every message is delivered exactly once, in order.
    #[test]
    fn exactly_once_in_order_through_any_losses() {
        // xorshift64: the same run every time, without a dependency.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut chance = |p: f64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64 <= p
        };
        let t0 = Instant::now();
        let mut out = Outgoing::new(1, Duration::from_secs(3600));
        let mut into = Incoming::default();
        let mut wire: Vec<Numbered> = Vec::new();
        let mut got = Vec::new();
        let mut sent = 0u32;
        let mut now = t0;
        let mut step = 0u32;
        while got.len() < 2_000 && step < 1_000_000 {
            step += 1;
            now += Duration::from_millis(5);
            if sent < 2_000 && chance(0.5) {
                sent += 1;
                let payload = Bytes::from(sent.to_be_bytes().to_vec());
                let (base, seq) = out.send("b", payload.clone(), now);
                wire.push(Numbered {
                    to: "b".into(),
                    base,
                    seq,
                    payload,
                });
            }
            // The wire loses 20 %, repeats some, and swaps neighbours.
            let mut arriving = Vec::new();
            for m in wire.drain(..) {
                if chance(0.2) {
                    continue;
                }
                if chance(0.05) {
                    arriving.push(m.clone());
                }
                arriving.push(m);
            }
            if arriving.len() > 1 && chance(0.1) {
                arriving.swap(0, 1);
            }
            for m in arriving {
                if into.arrived("a", 1, m.base, m.seq, now) == Arrival::Deliver {
                    got.push(u32::from_be_bytes(m.payload[..].try_into().unwrap()));
                }
            }
            if step % 10 == 0 {
                for ack in into.acks(now) {
                    if chance(0.8) {
                        wire.extend(out.acked("b", ack.epoch, ack.upto, ack.resend, now));
                    }
                }
            }
            wire.extend(out.poll(now).0);
        }
        assert_eq!(got, (1..=2_000).collect::<Vec<_>>());
        assert_eq!(into.lost(), 0);
    }
}

//! A server's protocol state, server-wide: the sessions waiting for a resume and their
//! grace deadlines, resume attempts judged at a rate, and `info` answers, on invented
//! instants.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use podnet_proto::{
    AdmissionSettings, Admit, ConnectionId, Endpoint, InfoAnswer, RateLimit, ResumeRefusal,
    ResumeSettings, ResumeToken, ServerSettings, SessionView,
};

const SEC: Duration = Duration::from_secs(1);

/// An endpoint with resume on or off, info answered at 1 a second, resume attempts at 1
/// a second (2 at once).
fn endpoint(resume: bool, t0: Instant) -> Endpoint {
    let mut admission = AdmissionSettings::default();
    admission.info_rate = RateLimit::new(1, 1);
    endpoint_with(resume, admission, RateLimit::new(1, 2), t0)
}

fn endpoint_with(
    resume: bool,
    admission: AdmissionSettings,
    resume_rate: RateLimit,
    t0: Instant,
) -> Endpoint {
    let mut settings = ServerSettings::default();
    if resume {
        settings.resume = Some(ResumeSettings::default());
    }
    Endpoint::new(Arc::new(settings), admission, resume_rate, t0)
}

fn admitted(endpoint: &mut Endpoint, t0: Instant) -> ConnectionId {
    let Admit::Accept(id) = endpoint.admit() else {
        panic!("room for it")
    };
    let (_conn, eviction) = endpoint.open(id, t0);
    assert!(eviction.is_none());
    id
}

/// Parked sessions end in the order of their deadlines; one that resumed or ended no
/// longer waits, and parking again moves its deadline.
#[test]
fn grace_deadlines_in_order() {
    let t0 = Instant::now();
    let mut endpoint = endpoint(true, t0);
    let [a, b, c] = [(); 3].map(|()| admitted(&mut endpoint, t0));
    endpoint.park(a, t0, 30 * SEC);
    endpoint.park(b, t0 + SEC, 10 * SEC);
    endpoint.park(c, t0 + 2 * SEC, 10 * SEC);
    assert_eq!(endpoint.parked(), 3);
    assert_eq!(endpoint.poll_timeout(), Some(t0 + 11 * SEC));
    // b resumes; c drops again later and gets a new grace.
    assert!(endpoint.unpark(b));
    assert!(!endpoint.unpark(b));
    endpoint.park(c, t0 + 5 * SEC, 10 * SEC);
    assert_eq!(endpoint.poll_timeout(), Some(t0 + 15 * SEC));
    assert!(!endpoint.expire(c, t0 + 14 * SEC), "not yet");
    assert_eq!(endpoint.expired(t0 + 20 * SEC), vec![c]);
    assert_eq!(endpoint.poll_timeout(), Some(t0 + 30 * SEC));
    // a ends before its grace is over: it no longer waits.
    endpoint.ended(a);
    assert_eq!(endpoint.parked(), 0);
    assert_eq!(endpoint.poll_timeout(), None);
    assert!(endpoint.expired(t0 + 60 * SEC).is_empty());
}

/// Attempts are judged at the endpoint's rate, which a server without resume never
/// spends.
#[test]
fn resume_attempts_at_a_rate() {
    let t0 = Instant::now();
    let live = SessionView {
        open: true,
        token_matches: true,
        websocket: false,
    };
    let mut off = endpoint(false, t0);
    let instance = off.settings().instance;
    let token = ResumeToken::mint(instance, ConnectionId::from_raw(1));
    assert_eq!(
        off.judge_resume(t0, &token, false, |_| Some(live)),
        Err(ResumeRefusal::Disabled)
    );

    let mut on = endpoint(true, t0);
    let token = ResumeToken::mint(on.settings().instance, ConnectionId::from_raw(1));
    // A burst of two, then one a second.
    assert_eq!(on.judge_resume(t0, &token, false, |_| Some(live)), Ok(()));
    assert_eq!(
        on.judge_resume(t0, &token, true, |_| Some(live)),
        Err(ResumeRefusal::OtherTransport)
    );
    assert_eq!(
        on.judge_resume(t0, &token, false, |_| Some(live)),
        Err(ResumeRefusal::Busy)
    );
    assert_eq!(
        on.judge_resume(t0 + SEC, &token, false, |_| Some(live)),
        Ok(())
    );
}

/// `info` connections are answered at the info rate, and refused past it.
#[test]
fn info_answers_at_a_rate() {
    let t0 = Instant::now();
    let mut endpoint = endpoint(false, t0);
    assert_eq!(endpoint.info(t0), InfoAnswer::Answer);
    assert_eq!(endpoint.info(t0), InfoAnswer::Refuse);
    assert_eq!(endpoint.info(t0 + SEC), InfoAnswer::Answer);
}

/// A server full of sessions waiting for a resume does not turn a player away: the
/// newcomer takes the slot of the one that has waited longest, whose resume is then
/// refused saying why. Only a server full of connections that have all spoken refuses.
#[test]
fn a_newcomer_takes_the_slot_of_the_longest_waiting_session() {
    let t0 = Instant::now();
    let mut admission = AdmissionSettings::default();
    admission.max_connections = 2;
    let mut endpoint = endpoint_with(true, admission, RateLimit::new(100, 100), t0);
    let [a, b] = [(); 2].map(|()| admitted(&mut endpoint, t0));
    endpoint.spoke(a);
    endpoint.spoke(b);
    assert_eq!(endpoint.admit(), Admit::Refuse, "full of players");
    endpoint.park(b, t0 + SEC, 30 * SEC);
    endpoint.park(a, t0 + 2 * SEC, 30 * SEC);
    let Admit::Evict { id, eviction } = endpoint.admit() else {
        panic!("room is made")
    };
    assert_eq!(eviction.victim, b, "the one that has waited longest");
    assert!(!eviction.tell, "no one is there to tell");
    assert!(endpoint.was_evicted(b));
    assert_eq!(endpoint.parked(), 1);
    // The victim ends; the newcomer holds its slot; the server is full again.
    endpoint.ended(b);
    let (_conn, _) = endpoint.open(id, t0 + 3 * SEC);
    endpoint.spoke(id);
    assert_eq!(endpoint.open_connections(), 2);
    let token = ResumeToken::mint(endpoint.settings().instance, b);
    let live = |_| None;
    assert_eq!(
        endpoint.judge_resume(t0 + 3 * SEC, &token, false, live),
        Err(ResumeRefusal::Evicted)
    );
    assert!(ResumeRefusal::Evicted.to_string().contains("make room"));
    // a still waits, and is the next to make room.
    let Admit::Evict { eviction, .. } = endpoint.admit() else {
        panic!("room is made")
    };
    assert_eq!(eviction.victim, a);
}

/// At most `max_parked_sessions` wait at once: past it, the one that has waited longest
/// is ended (named once by `evicted`), never the one just parked.
#[test]
fn parked_sessions_are_capped() {
    let t0 = Instant::now();
    let mut admission = AdmissionSettings::default();
    admission.max_parked_sessions = 2;
    let mut endpoint = endpoint_with(true, admission, RateLimit::new(100, 100), t0);
    let ids = [(); 3].map(|()| admitted(&mut endpoint, t0));
    for (n, id) in (0u32..).zip(ids) {
        endpoint.park(id, t0 + n * SEC, 30 * SEC);
    }
    assert_eq!(endpoint.parked(), 2);
    assert_eq!(endpoint.evicted(), vec![ids[0]]);
    assert!(endpoint.evicted().is_empty(), "named once");
    assert!(endpoint.was_evicted(ids[0]));
    // A cap of 0 is taken as 1: the session just parked always waits.
    let mut admission = AdmissionSettings::default();
    admission.max_parked_sessions = 0;
    let mut endpoint = endpoint_with(false, admission, RateLimit::new(1, 1), t0);
    let id = admitted(&mut endpoint, t0);
    endpoint.park(id, t0, SEC);
    assert_eq!(endpoint.parked(), 1);
    assert!(endpoint.evicted().is_empty());
}

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

fn endpoint(resume: bool, t0: Instant) -> Endpoint {
    let mut settings = ServerSettings::default();
    if resume {
        settings.resume = Some(ResumeSettings::default());
    }
    let mut admission = AdmissionSettings::default();
    admission.info_rate = RateLimit::new(1, 1);
    Endpoint::new(Arc::new(settings), admission, RateLimit::new(1, 2), t0)
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

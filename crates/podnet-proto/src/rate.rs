//! The token bucket behind every [`RateLimit`].

use std::time::{Duration, Instant};

use crate::RateLimit;

/// The state of a [`RateLimit`]: tokens refilled continuously, taken one at a time.
///
/// ```
/// use std::time::{Duration, Instant};
/// use podnet_proto::{RateLimit, TokenBucket};
///
/// let start = Instant::now();
/// let mut bucket = TokenBucket::new(RateLimit::new(10, 2), start);
/// assert_eq!(bucket.take(start), None); // the burst
/// assert_eq!(bucket.take(start), None);
/// // Out of tokens: the next one is due in 1/10 s.
/// assert_eq!(bucket.take(start), Some(start + Duration::from_millis(100)));
/// ```
#[derive(Debug, Clone)]
pub struct TokenBucket {
    limit: RateLimit,
    /// Tokens left; negative when tokens were taken ahead of time.
    tokens: f64,
    refilled_at: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(limit: RateLimit, now: Instant) -> Self {
        Self {
            limit,
            tokens: f64::from(limit.burst),
            refilled_at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let rate = f64::from(self.limit.per_second);
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(f64::from(self.limit.burst));
        self.refilled_at = now;
    }

    /// Takes a token. `None` if one was there; otherwise the token is taken ahead of time
    /// and the answer is when it is due: the caller waits until then.
    pub fn take(&mut self, now: Instant) -> Option<Instant> {
        self.refill(now);
        self.tokens -= 1.0;
        let rate = f64::from(self.limit.per_second);
        (self.tokens < 0.0).then(|| now + Duration::from_secs_f64(-self.tokens / rate))
    }

    /// Takes a token only if one is there now; for what is refused rather than delayed.
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tokens come back at the rate, up to the burst and no further.
    #[test]
    fn refills_at_the_rate_up_to_the_burst() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(RateLimit::new(100, 5), t0);
        for _ in 0..5 {
            assert!(bucket.try_take(t0));
        }
        assert!(!bucket.try_take(t0));
        // 30 ms later: 3 tokens.
        let t1 = t0 + Duration::from_millis(30);
        for _ in 0..3 {
            assert!(bucket.try_take(t1));
        }
        assert!(!bucket.try_take(t1));
        // An hour later: only the burst.
        let t2 = t1 + Duration::from_secs(3600);
        for _ in 0..5 {
            assert!(bucket.try_take(t2));
        }
        assert!(!bucket.try_take(t2));
    }

    /// Taking ahead of time queues the tokens: each is due a period after the last.
    #[test]
    fn take_ahead_schedules_each_token() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(RateLimit::new(200, 1), t0);
        assert_eq!(bucket.take(t0), None);
        assert_eq!(bucket.take(t0), Some(t0 + Duration::from_millis(5)));
        assert_eq!(bucket.take(t0), Some(t0 + Duration::from_millis(10)));
        // Waiting until the second is due makes the third 5 ms later.
        let t1 = t0 + Duration::from_millis(10);
        assert_eq!(bucket.take(t1), Some(t1 + Duration::from_millis(5)));
    }
}

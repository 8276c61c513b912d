//! The rate limit on health kills: a token bucket over virtual time (seconds as `f64`,
//! passed in; nothing here reads a clock). Marathon users' worst outages came from an
//! overloaded scheduler seeing every instance of an app as unhealthy at once and killing
//! them all; with replacement before kill and this bucket, a burst of bad health news
//! removes at most `burst` instances at once and then `per_second` a second.

/// A token bucket: `burst` kills at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KillLimit {
    /// Kills allowed in one go (the bucket's size).
    pub burst: f64,
    /// Refill rate, kills per second.
    pub per_second: f64,
    tokens: f64,
    at: Option<f64>,
}

impl Default for KillLimit {
    fn default() -> Self {
        KillLimit::new(5.0, 0.5)
    }
}

impl KillLimit {
    /// A full bucket of `burst` refilled at `per_second`.
    pub fn new(burst: f64, per_second: f64) -> KillLimit {
        KillLimit {
            burst,
            per_second,
            tokens: burst,
            at: None,
        }
    }

    fn refill(&mut self, now: f64) {
        if let Some(at) = self.at {
            if now > at {
                self.tokens = (self.tokens + (now - at) * self.per_second).min(self.burst);
            }
        }
        self.at = Some(self.at.map_or(now, |a| a.max(now)));
    }

    /// Takes one kill at `now` if the bucket allows it.
    pub fn take(&mut self, now: f64) -> bool {
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

    #[test]
    fn a_burst_then_the_rate() {
        let mut l = KillLimit::new(2.0, 0.5);
        assert!(l.take(0.0) && l.take(0.0));
        assert!(!l.take(0.0), "the burst is spent");
        assert!(!l.take(1.0), "half a token after a second");
        assert!(l.take(2.0), "one token after two seconds");
        assert!(!l.take(2.0));
        // A long quiet spell refills only up to the burst.
        assert!(l.take(100.0) && l.take(100.0) && !l.take(100.0));
        // Time going backwards (a clock step) grants nothing.
        assert!(!l.take(50.0));
    }
}

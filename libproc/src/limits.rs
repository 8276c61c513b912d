//! Bounds on what strangers on the network can make a node spend: a byte budget shared by
//! every inbound connection's partial frames, the back-off of the accept loop after an
//! error (EMFILE must not make it spin), and a limiter that keeps a repeating error from
//! flooding the log. Pure state; the node's connection tasks drive it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// A shared budget of bytes. Connections charge what they hold and release it when they
/// no longer do; a charge that would exceed the limit is refused (and nothing is charged).
#[derive(Debug)]
pub(crate) struct ByteBudget {
    limit: usize,
    used: AtomicUsize,
}

impl ByteBudget {
    pub(crate) fn new(limit: usize) -> ByteBudget {
        ByteBudget {
            limit,
            used: AtomicUsize::new(0),
        }
    }

    /// Charges `n` bytes if they fit under the limit.
    pub(crate) fn try_charge(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|&total| total <= self.limit)
            })
            .is_ok()
    }

    /// Returns `n` previously charged bytes.
    pub(crate) fn release(&self, n: usize) {
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(n))
            });
    }

    /// Bytes charged now.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

/// One holder's share of a [`ByteBudget`]: it tracks what it charged, moves the charge to a
/// new amount, and releases everything when dropped.
pub(crate) struct Charge<'a> {
    budget: &'a ByteBudget,
    held: usize,
}

impl<'a> Charge<'a> {
    pub(crate) fn new(budget: &'a ByteBudget) -> Charge<'a> {
        Charge { budget, held: 0 }
    }

    /// Makes the charge `n` bytes. False (and the charge unchanged) if the growth does not
    /// fit in the budget.
    pub(crate) fn set(&mut self, n: usize) -> bool {
        if n > self.held {
            if !self.budget.try_charge(n - self.held) {
                return false;
            }
        } else {
            self.budget.release(self.held - n);
        }
        self.held = n;
        true
    }
}

impl Drop for Charge<'_> {
    fn drop(&mut self) {
        self.budget.release(self.held);
    }
}

/// Exponential back-off between retries of a failing operation: `first`, doubling, capped
/// at `max`; a success resets it.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub(crate) fn new(first: Duration, max: Duration) -> Backoff {
        Backoff {
            first,
            max,
            next: first,
        }
    }

    /// The delay before the next retry (and doubles the one after).
    pub(crate) fn failed(&mut self) -> Duration {
        let d = self.next.min(self.max);
        self.next = d.saturating_mul(2).min(self.max);
        d
    }

    /// The operation worked: the next failure waits `first` again.
    pub(crate) fn succeeded(&mut self) {
        self.next = self.first;
    }
}

/// Lets a repeating log line through at most once per `every`, saying how many were held
/// back since the last one.
#[derive(Debug, Clone)]
pub(crate) struct LogLimiter {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl LogLimiter {
    pub(crate) fn new(every: Duration) -> LogLimiter {
        LogLimiter {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(held back since the last line)` if a line may be written at `now`.
    pub(crate) fn allow(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(t) if now.saturating_duration_since(t) < self.every => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn budget_refuses_what_does_not_fit_and_charges_release_on_drop() {
        let b = ByteBudget::new(100);
        let mut a = Charge::new(&b);
        let mut c = Charge::new(&b);
        assert!(a.set(60));
        assert!(!c.set(41));
        assert_eq!(b.used(), 60);
        assert!(c.set(40));
        assert!(a.set(10));
        assert_eq!(b.used(), 50);
        drop(a);
        assert_eq!(b.used(), 40);
        drop(c);
        assert_eq!(b.used(), 0);
    }

    #[test]
    fn backoff_doubles_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(10), Duration::from_millis(50));
        let got: Vec<_> = (0..5).map(|_| b.failed().as_millis()).collect();
        assert_eq!(got, vec![10, 20, 40, 50, 50]);
        b.succeeded();
        assert_eq!(b.failed(), Duration::from_millis(10));
    }

    #[test]
    fn log_limiter_lets_one_line_per_period_through() {
        let mut l = LogLimiter::new(Duration::from_secs(1));
        let t0 = Instant::now();
        assert_eq!(l.allow(t0), Some(0));
        assert_eq!(l.allow(t0 + Duration::from_millis(10)), None);
        assert_eq!(l.allow(t0 + Duration::from_millis(999)), None);
        assert_eq!(l.allow(t0 + Duration::from_secs(1)), Some(2));
    }

    proptest! {
        #[test]
        fn budget_never_exceeds_its_limit(limit in 0usize..1000, sets in proptest::collection::vec((0usize..4, 0usize..600), 0..64)) {
            let b = ByteBudget::new(limit);
            let mut charges: Vec<Charge<'_>> = (0..4).map(|_| Charge::new(&b)).collect();
            for (who, n) in sets {
                let before = charges[who].held;
                let ok = charges[who].set(n);
                prop_assert!(b.used() <= limit);
                prop_assert_eq!(charges[who].held, if ok { n } else { before });
                prop_assert_eq!(b.used(), charges.iter().map(|c| c.held).sum::<usize>());
            }
            drop(charges);
            prop_assert_eq!(b.used(), 0);
        }
    }
}

//! The invariant "at most one master acts as leader" (elected, leading and its ZooKeeper
//! lease valid: `Acting::Act`), checked at every instant rather than sampled. Each running
//! master's [`ActingProbe`] is entered in a shared ledger by slot, with an observer that
//! the probe calls synchronously on every change that can start or stop the master acting
//! (a leadership change, a lease renewal or revocation). A master can only *start* acting
//! at such a change (its lease stops holding by time alone, never starts), so checking at
//! each one that no other master in the ledger acts at that moment catches every overlap,
//! however short: one of a few milliseconds, which a periodic sampler misses, included.
//! The others are read live ([`ActingProbe::acting`]), not from a record of their last
//! report, so a leader whose lease ran out silently is not counted as acting.

use std::sync::{Arc, Mutex, Weak};

use master::leadership::{Acting, ActingProbe};

use super::Trace;

/// Who may act, by master slot, and what overlaps were seen (see the module docs).
#[derive(Clone)]
pub struct ActingLedger {
    inner: Arc<Mutex<Ledger>>,
    trace: Trace,
}

struct Ledger {
    /// The running masters' probes by slot, each with the generation it was entered at.
    slots: Vec<Option<(u64, ActingProbe)>>,
    /// The next generation.
    next: u64,
    /// Overlaps not yet taken by [`ActingLedger::take_breaks`].
    breaks: Vec<String>,
    /// Whether an overlap was found (only the first is reported: one is a failed run).
    broken: bool,
}

impl ActingLedger {
    /// A ledger for `masters` slots, noting breaks in `trace`.
    pub fn new(masters: usize, trace: Trace) -> ActingLedger {
        ActingLedger {
            inner: Arc::new(Mutex::new(Ledger {
                slots: vec![None; masters],
                next: 0,
                breaks: Vec::new(),
                broken: false,
            })),
            trace,
        }
    }

    fn lock(inner: &Mutex<Ledger>) -> std::sync::MutexGuard<'_, Ledger> {
        inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Enters master `slot`'s probe (a started master) and observes it from now on.
    pub fn enter(&self, slot: usize, probe: ActingProbe) {
        let generation = {
            let mut l = Self::lock(&self.inner);
            let g = l.next;
            l.next += 1;
            match l.slots.get_mut(slot) {
                Some(s) => *s = Some((g, probe.clone())),
                None => return,
            }
            g
        };
        let weak: Weak<Mutex<Ledger>> = Arc::downgrade(&self.inner);
        let trace = self.trace.clone();
        probe.observe(Arc::new(move |acting| {
            if acting != Acting::Act {
                return;
            }
            let Some(inner) = weak.upgrade() else { return };
            let mut l = Self::lock(&inner);
            // A master taken out of the ledger (crashed), or replaced, no longer counts.
            if !matches!(l.slots.get(slot), Some(Some((g, _))) if *g == generation) {
                return;
            }
            let acting: Vec<usize> = l
                .slots
                .iter()
                .enumerate()
                .filter(|(j, p)| {
                    *j == slot || p.as_ref().is_some_and(|(_, p)| p.acting() == Acting::Act)
                })
                .map(|(j, _)| j + 1)
                .collect();
            if acting.len() > 1 && !l.broken {
                l.broken = true;
                let b = format!("masters {acting:?} act as leader at once");
                trace.note(format!("BREAK {b}"));
                l.breaks.push(b);
            }
        }));
    }

    /// Takes master `slot` out (a crashed master acts no more).
    pub fn leave(&self, slot: usize) {
        if let Some(s) = Self::lock(&self.inner).slots.get_mut(slot) {
            *s = None;
        }
    }

    /// The overlaps found since the last call.
    pub fn take_breaks(&self) -> Vec<String> {
        std::mem::take(&mut Self::lock(&self.inner).breaks)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use detector::contender::Lease;
    use master::leadership::Leadership;
    use tokio::time::Instant;

    use super::*;

    /// Two masters overlap for 10 ms, well inside the 50 ms period the invariant used to be
    /// sampled at (a sampler ticking at 50 ms sees only master 2 acting): a break.
    #[tokio::test(start_paused = true)]
    async fn an_overlap_shorter_than_a_sampling_period_is_a_break() {
        let ledger = ActingLedger::new(3, Trace::new());
        let (a, b) = (ActingProbe::new(None), ActingProbe::new(None));
        ledger.enter(0, a.clone());
        ledger.enter(1, b.clone());
        tokio::time::advance(Duration::from_millis(5)).await;
        a.set(Leadership::Leading);
        assert!(ledger.take_breaks().is_empty(), "one leader is fine");
        tokio::time::advance(Duration::from_millis(20)).await;
        b.set(Leadership::Leading);
        tokio::time::advance(Duration::from_millis(10)).await;
        a.set(Leadership::Lost);
        tokio::time::advance(Duration::from_millis(15)).await;
        let sampled = [&a, &b]
            .iter()
            .filter(|p| p.acting() == Acting::Act)
            .count();
        assert_eq!(sampled, 1, "a sample at 50 ms sees one leader");
        assert_eq!(
            ledger.take_breaks(),
            vec!["masters [1, 2] act as leader at once".to_string()]
        );
    }

    /// A leader whose lease is renewed while another acts starts acting again: a break,
    /// though neither changed its leadership.
    #[tokio::test(start_paused = true)]
    async fn a_lease_renewed_while_another_acts_is_a_break() {
        let t = Duration::from_secs(2);
        let ledger = ActingLedger::new(2, Trace::new());
        let lease = Lease::new();
        let (a, b) = (
            ActingProbe::new(Some((lease.clone(), t))),
            ActingProbe::new(None),
        );
        ledger.enter(0, a.clone());
        ledger.enter(1, b.clone());
        lease.renew(Instant::now() + t);
        a.set(Leadership::Leading);
        tokio::time::advance(Duration::from_millis(2100)).await;
        b.set(Leadership::Leading);
        assert!(ledger.take_breaks().is_empty(), "a's lease ran out first");
        lease.renew(Instant::now() + t);
        assert_eq!(
            ledger.take_breaks(),
            vec!["masters [1, 2] act as leader at once".to_string()]
        );
    }

    /// A crashed master (taken out) and one whose lease ran out by time alone do not count.
    #[tokio::test(start_paused = true)]
    async fn a_crashed_master_or_a_run_out_lease_does_not_count() {
        let t = Duration::from_secs(2);
        let ledger = ActingLedger::new(3, Trace::new());
        let lease = Lease::new();
        let a = ActingProbe::new(Some((lease.clone(), t)));
        let (b, c) = (ActingProbe::new(None), ActingProbe::new(None));
        for (i, p) in [&a, &b, &c].into_iter().enumerate() {
            ledger.enter(i, p.clone());
        }
        lease.renew(Instant::now() + t);
        a.set(Leadership::Leading);
        tokio::time::advance(t).await;
        b.set(Leadership::Leading);
        ledger.leave(1);
        c.set(Leadership::Leading);
        b.set(Leadership::Leading);
        assert!(ledger.take_breaks().is_empty());
    }
}

//! Slow and failing disks in the simulation. One master's registry (in memory, shared by its
//! incarnations) can be made slow (its writes are held until the fault is repaired) or
//! failing (every write fails: the master gives up leading and stops, and is restarted as
//! a supervisor would). With 3 masters the registry is in ZooKeeper, whose disk can turn
//! slow (`detector::zk_model::Ensemble::slow`: every request applied late, in order). The agents' checkpoint writes can be made failing or slow, through
//! the per-thread disk rule of `libproc::fault` (seeds run side by side in one OS process,
//! one per thread): while a failing fault lasts each checkpoint write fails with a seeded
//! probability; while a slow one lasts each write takes a seeded time, during which the
//! agent that made it handles nothing and what it sent after the write waits (libproc
//! holds the process in virtual time; the other nodes of the run go on).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use libproc::fault::{set_thread_disk_rule, DiskTarget, DiskVerdict};
use libproc::rng::SplitMix64;

use super::{FaultKinds, Repair, Sim};

/// The agents' checkpoint disk of one run.
pub(super) struct CheckpointDisk {
    /// Chance a checkpoint write fails now (0: healthy).
    failing: f64,
    /// While slow, the longest a checkpoint write takes (each draws up to it).
    slow: Option<Duration>,
    rng: SplitMix64,
    /// Writes failed so far.
    failed: u64,
    /// Writes made slow so far.
    slowed: u64,
}

/// Shared between the run and its thread's disk rule.
pub(super) type SharedDisk = Rc<RefCell<CheckpointDisk>>;

/// A healthy checkpoint disk whose failures are drawn from `seed`, installed as this
/// thread's disk rule (replacing a previous run's).
pub(super) fn install(seed: u64) -> SharedDisk {
    let disk = Rc::new(RefCell::new(CheckpointDisk {
        failing: 0.0,
        slow: None,
        rng: SplitMix64::new(seed ^ 0x0D15_CFA1_1ED0_0D15),
        failed: 0,
        slowed: 0,
    }));
    let rule = disk.clone();
    set_thread_disk_rule(Some(Box::new(move |target| {
        let Ok(mut d) = rule.try_borrow_mut() else {
            return DiskVerdict::Write;
        };
        d.verdict(target)
    })));
    disk
}

impl CheckpointDisk {
    /// What the disk does with one write to `target` now.
    fn verdict(&mut self, target: DiskTarget) -> DiskVerdict {
        if target != DiskTarget::Checkpoint {
            return DiskVerdict::Write;
        }
        if self.failing > 0.0 && self.rng.next_f64() < self.failing {
            self.failed += 1;
            return DiskVerdict::Fail;
        }
        match self.slow {
            Some(max) => {
                self.slowed += 1;
                let ms = max.as_millis().max(1) as u64;
                DiskVerdict::Slow(Duration::from_millis(1 + self.rng.next_u64() % ms))
            }
            None => DiskVerdict::Write,
        }
    }
}

/// Removes this thread's disk rule (the run is over).
pub(super) fn uninstall() {
    set_thread_disk_rule(None);
}

impl Sim {
    /// Checkpoint writes start failing (each with a seeded chance) for a while.
    pub(super) fn fail_checkpoints(&mut self) {
        let p = 0.2 + 0.6 * self.fault_rng.next_f64();
        self.trace
            .note(format!("checkpoint writes fail (p = {p:.2})"));
        self.disk.borrow_mut().failing = p;
        self.count("checkpoint_writes_failing");
        self.later_with_fault_rng(1, 30, Repair::Checkpoints);
    }

    /// Checkpoint writes turn slow for a while: each takes up to 0.1–5 s.
    pub(super) fn slow_checkpoints(&mut self) {
        let max = Duration::from_millis(100 + self.fault_rng.next_u64() % 4900);
        self.trace
            .note(format!("checkpoint writes are slow (up to {max:?} each)"));
        self.disk.borrow_mut().slow = Some(max);
        self.count("checkpoint_disk_slow");
        self.later_with_fault_rng(1, 30, Repair::Checkpoints);
    }

    /// Registry writes are slow for a while. One master's (in memory) are held until the
    /// disk heals; with 3 masters the registry is in ZooKeeper, whose disk stalls: every
    /// request of every client is applied 0.1-5 s late (in order per session; with
    /// [`FaultKinds::All`] only, as for [`Sim::fail_registry`]).
    pub(super) fn slow_registry(&mut self) {
        match self
            .zk
            .as_ref()
            .filter(|_| self.fault_kinds >= FaultKinds::All)
        {
            Some(zk) => {
                let extra = Duration::from_millis(100 + self.fault_rng.next_u64() % 4900);
                self.trace
                    .note(format!("ZooKeeper's disk is slow: requests {extra:?} late"));
                // Until healed (`heal_registry`).
                zk.slow(extra, Duration::from_secs(86_400));
                self.count("zk_slow");
            }
            None => {
                self.trace.note("registry writes are slow".into());
                self.store.hold_writes();
                self.count("registry_slow");
            }
        }
        self.later_with_fault_rng(1, 20, Repair::Registry);
    }

    /// Registry writes fail for a while (one master's; ZooKeeper's writes do not fail, its
    /// outages are the ZooKeeper faults. Without [`FaultKinds::All`] it is
    /// drawn all the same, failing a store 3 masters do not use, as when the pinned seeds
    /// were found).
    pub(super) fn fail_registry(&mut self) {
        if self.zk.is_some() && self.fault_kinds >= FaultKinds::All {
            return;
        }
        self.trace.note("registry writes fail".into());
        self.store.fail_writes(true);
        self.count("registry_failing");
        self.later_with_fault_rng(1, 15, Repair::Registry);
    }

    /// The registry disk is healthy again.
    pub(super) fn heal_registry(&mut self) {
        self.trace.note("registry disk healthy".into());
        self.store.fail_writes(false);
        self.store.release_writes();
        if let Some(zk) = &self.zk {
            zk.slow(Duration::ZERO, Duration::ZERO);
        }
    }

    /// The checkpoint disk is healthy again.
    pub(super) fn heal_checkpoints(&mut self) {
        let mut d = self.disk.borrow_mut();
        d.failing = 0.0;
        d.slow = None;
        let (failed, slowed) = (d.failed, d.slowed);
        drop(d);
        self.trace.note(format!(
            "checkpoint disk healthy ({failed} writes failed, {slowed} slow so far)"
        ));
    }

    /// Checkpoint writes failed, and made slow, in the run.
    pub(super) fn checkpoint_writes_failed_and_slowed(&self) -> (u64, u64) {
        let d = self.disk.borrow();
        (d.failed, d.slowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk() -> CheckpointDisk {
        CheckpointDisk {
            failing: 0.0,
            slow: None,
            rng: SplitMix64::new(7),
            failed: 0,
            slowed: 0,
        }
    }

    #[test]
    fn a_slow_disk_slows_checkpoint_writes_only_and_within_its_bound() {
        let mut d = disk();
        assert_eq!(d.verdict(DiskTarget::Checkpoint), DiskVerdict::Write);
        let max = Duration::from_millis(250);
        d.slow = Some(max);
        for _ in 0..100 {
            match d.verdict(DiskTarget::Checkpoint) {
                DiskVerdict::Slow(t) => assert!(!t.is_zero() && t <= max, "{t:?}"),
                v => panic!("a slow disk answered {v:?}"),
            }
        }
        assert_eq!(d.verdict(DiskTarget::Registry), DiskVerdict::Write);
        assert_eq!((d.slowed, d.failed), (100, 0));
    }

    #[test]
    fn a_failing_write_is_not_also_slow() {
        let mut d = disk();
        d.slow = Some(Duration::from_secs(1));
        d.failing = 1.0;
        assert_eq!(d.verdict(DiskTarget::Checkpoint), DiskVerdict::Fail);
        assert_eq!((d.slowed, d.failed), (0, 1));
    }
}

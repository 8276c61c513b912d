//! Slow and failing disks in the simulation. The master's registry (in memory, shared by its
//! incarnations) can be made slow (its writes are held until the fault is repaired) or
//! failing (every write fails: the master gives up leading and stops, and is restarted as
//! a supervisor would). The agents' checkpoint writes can be made failing: while the fault
//! lasts each checkpoint write fails with a seeded probability, through the per-thread
//! disk rule of `libproc::fault` (seeds run side by side in one OS process, one per
//! thread). Checkpoint writes are synchronous, so a *slow* checkpoint disk is not
//! modelled: it would stall the one thread every node of the run shares.

use std::cell::RefCell;
use std::rc::Rc;

use libproc::fault::{set_thread_disk_rule, DiskTarget};
use libproc::rng::SplitMix64;

use super::{Repair, Sim};

/// The agents' checkpoint disk of one run.
pub(super) struct CheckpointDisk {
    /// Chance a checkpoint write fails now (0: healthy).
    failing: f64,
    rng: SplitMix64,
    /// Writes failed so far.
    failed: u64,
}

/// Shared between the run and its thread's disk rule.
pub(super) type SharedDisk = Rc<RefCell<CheckpointDisk>>;

/// A healthy checkpoint disk whose failures are drawn from `seed`, installed as this
/// thread's disk rule (replacing a previous run's).
pub(super) fn install(seed: u64) -> SharedDisk {
    let disk = Rc::new(RefCell::new(CheckpointDisk {
        failing: 0.0,
        rng: SplitMix64::new(seed ^ 0x0D15_CFA1_1ED0_0D15),
        failed: 0,
    }));
    let rule = disk.clone();
    set_thread_disk_rule(Some(Box::new(move |target| {
        let Ok(mut d) = rule.try_borrow_mut() else {
            return false;
        };
        let fail =
            target == DiskTarget::Checkpoint && d.failing > 0.0 && d.rng.next_f64() < d.failing;
        if fail {
            d.failed += 1;
        }
        fail
    })));
    disk
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

    /// Registry writes are held (a slow disk) for a while.
    pub(super) fn slow_registry(&mut self) {
        self.trace.note("registry writes are slow".into());
        self.store.hold_writes();
        self.count("registry_slow");
        self.later_with_fault_rng(1, 20, Repair::Registry);
    }

    /// Registry writes fail for a while.
    pub(super) fn fail_registry(&mut self) {
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
    }

    /// The checkpoint disk is healthy again.
    pub(super) fn heal_checkpoints(&mut self) {
        let mut d = self.disk.borrow_mut();
        d.failing = 0.0;
        let failed = d.failed;
        drop(d);
        self.trace.note(format!(
            "checkpoint disk healthy ({failed} writes failed so far)"
        ));
    }

    /// Checkpoint writes failed in the run.
    pub(super) fn checkpoint_writes_failed(&self) -> u64 {
        self.disk.borrow().failed
    }
}

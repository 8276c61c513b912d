//! CPU accounting: how much of the machine other programs used during the run (Linux only).

use super::*;

/// CPU ticks used by the children, read just before each is killed.
pub(crate) static CHILD_TICKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// utime + stime of process `pid` (this process if `None`), in clock ticks.
pub(crate) fn proc_ticks(pid: Option<u32>) -> Option<u64> {
    let p = match pid {
        Some(pid) => libproc::procfs::stat(i32::try_from(pid).ok()?)?,
        None => libproc::procfs::self_stat()?,
    };
    Some(p.utime + p.stime)
}

/// Busy ticks of the whole machine (all CPUs) from `/proc/stat`.
pub(crate) fn machine_busy_ticks() -> Option<u64> {
    libproc::procfs::cpu_times().map(|t| t.busy)
}

/// Snapshot at the start of a run; `foreign_fraction` then says what share of the machine's
/// capacity other programs used meanwhile (a run above a few percent is suspect).
pub(crate) struct CpuWatch {
    pub(crate) start: Instant,
    pub(crate) busy: Option<u64>,
    pub(crate) own: Option<u64>,
}

impl CpuWatch {
    pub(crate) fn start() -> CpuWatch {
        CpuWatch {
            start: Instant::now(),
            busy: machine_busy_ticks(),
            own: proc_ticks(None),
        }
    }

    pub(crate) fn foreign_fraction(&self, cores: usize) -> Option<f64> {
        const TICKS_PER_S: f64 = 100.0; // USER_HZ on Linux
        let busy = machine_busy_ticks()?.checked_sub(self.busy?)?;
        let own = proc_ticks(None)?.checked_sub(self.own?)?
            + CHILD_TICKS.load(std::sync::atomic::Ordering::Relaxed);
        let capacity = self.start.elapsed().as_secs_f64() * TICKS_PER_S * cores as f64;
        Some((busy.saturating_sub(own) as f64 / capacity).clamp(0.0, 1.0))
    }
}

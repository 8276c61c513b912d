//! CPU accounting: how much of the machine other programs used during the run (Linux only).

use super::*;

/// CPU ticks used by the children, read just before each is killed.
pub(crate) static CHILD_TICKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// utime + stime of a process, in clock ticks, from `/proc/<pid>/stat`.
pub(crate) fn proc_ticks(path: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Busy ticks of the whole machine (all CPUs) from `/proc/stat`.
pub(crate) fn machine_busy_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = cpu
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let total: u64 = v.iter().take(8).sum();
    Some(total - v.get(3)? - v.get(4)?)
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
            own: proc_ticks("/proc/self/stat"),
        }
    }

    pub(crate) fn foreign_fraction(&self, cores: usize) -> Option<f64> {
        const TICKS_PER_S: f64 = 100.0; // USER_HZ on Linux
        let busy = machine_busy_ticks()?.checked_sub(self.busy?)?;
        let own = proc_ticks("/proc/self/stat")?.checked_sub(self.own?)?
            + CHILD_TICKS.load(std::sync::atomic::Ordering::Relaxed);
        let capacity = self.start.elapsed().as_secs_f64() * TICKS_PER_S * cores as f64;
        Some((busy.saturating_sub(own) as f64 / capacity).clamp(0.0, 1.0))
    }
}

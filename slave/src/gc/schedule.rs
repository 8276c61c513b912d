//! The garbage collection schedule as a pure state machine (Mesos `GarbageCollector`):
//! which directories are to be removed and since when they are unused. A path is due
//! when it has been unused for `gc_delay`, or sooner when the disk fills: for a disk
//! `usage` (0 to 1) a path may be at most `gc_delay * max(0, 1 - gc_disk_headroom - usage)`
//! old (Mesos's `Slave::age`). Paths that cover a directory in use (a running
//! executor's sandbox, or a re-launched executor's) are never handed out.
//!
//! Each path is kept with its deadline (when it is due at the full `gc_delay`), so a
//! path found already old (after a restart) needs no time before the clock's origin.
//! Time comes in as arguments ([`Instant`]s from the caller's clock, virtual under a
//! paused tokio clock); nothing here reads a clock or touches the file system.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Directories scheduled for removal, each with its deadline at the full `gc_delay`.
#[derive(Debug, Clone)]
pub struct GcSchedule {
    delay: Duration,
    headroom: f64,
    paths: BTreeMap<PathBuf, Instant>,
}

/// What [`GcSchedule::prune`] decided.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pruned {
    /// Due now: remove them (they left the schedule).
    pub due: Vec<PathBuf>,
    /// Due but covering a directory in use: dropped from the schedule, not removed.
    pub in_use: Vec<PathBuf>,
}

impl GcSchedule {
    /// An empty schedule: paths are removed `delay` after they became unused, sooner
    /// when less than `headroom` (a fraction of the disk) is free.
    pub fn new(delay: Duration, headroom: f64) -> GcSchedule {
        GcSchedule {
            delay,
            headroom: if headroom.is_finite() {
                headroom.clamp(0.0, 1.0)
            } else {
                0.0
            },
            paths: BTreeMap::new(),
        }
    }

    /// The configured `gc_delay`.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// Schedules `path`, unused for `age` at `now` (zero when it just finished;
    /// replacing an earlier schedule of it). Returns the latest time it will be due
    /// (`now + gc_delay - age`), for a timer.
    pub fn schedule(&mut self, path: PathBuf, now: Instant, age: Duration) -> Instant {
        let deadline = now + self.delay.saturating_sub(age);
        self.paths.insert(path, deadline);
        deadline
    }

    /// Whether `path` is scheduled.
    pub fn is_scheduled(&self, path: &Path) -> bool {
        self.paths.contains_key(path)
    }

    /// Every scheduled path with its deadline at the full `gc_delay`.
    pub fn scheduled(&self) -> impl Iterator<Item = (&Path, Instant)> {
        self.paths.iter().map(|(p, t)| (p.as_path(), *t))
    }

    /// How many paths are scheduled.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// Whether nothing is scheduled.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// `path` is about to be used again (a new run under it): it and every scheduled
    /// directory above it leave the schedule. Returns what was unscheduled.
    pub fn unschedule_covering(&mut self, path: &Path) -> Vec<PathBuf> {
        let covering: Vec<PathBuf> = path
            .ancestors()
            .filter(|a| self.paths.contains_key(*a))
            .map(Path::to_path_buf)
            .collect();
        for p in &covering {
            self.paths.remove(p);
        }
        covering
    }

    /// The oldest a path may get at disk `usage` (0 to 1; `None`: not measured yet,
    /// `gc_delay`): `gc_delay * max(0, 1 - headroom - usage)`, never more than `gc_delay`.
    pub fn max_age(&self, usage: Option<f64>) -> Duration {
        let Some(usage) = usage else {
            return self.delay;
        };
        let usage = if usage.is_finite() {
            usage.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let factor = (1.0 - self.headroom - usage).clamp(0.0, 1.0);
        self.delay.mul_f64(factor)
    }

    /// Takes out every path due at `now` for disk `usage` (see [`GcSchedule::max_age`]).
    /// A due path that is, or lies above, one of `in_use` is dropped instead of handed
    /// out; scheduled paths below a due one go with it.
    pub fn prune(&mut self, usage: Option<f64>, now: Instant, in_use: &[PathBuf]) -> Pruned {
        let max_age = self.max_age(usage);
        let ripe: Vec<PathBuf> = self
            .paths
            .iter()
            // Unused for at least max_age: now - (deadline - delay) >= max_age.
            .filter(|(_, deadline)| now + (self.delay - max_age) >= **deadline)
            .map(|(p, _)| p.clone())
            .collect();
        let mut out = Pruned::default();
        for path in ripe {
            if self.paths.remove(&path).is_none() {
                continue; // went with a due directory above it
            }
            if in_use.iter().any(|u| u.starts_with(&path)) {
                out.in_use.push(path);
                continue;
            }
            self.paths.retain(|p, _| !p.starts_with(&path));
            out.due.retain(|p| !p.starts_with(&path));
            out.due.push(path);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    #[test]
    fn a_path_is_due_after_gc_delay_when_the_disk_is_not_measured() {
        let t0 = Instant::now();
        let mut s = GcSchedule::new(HOUR, 0.1);
        let latest = s.schedule(
            p("/w/slaves/S/frameworks/F/executors/E/runs/C"),
            t0,
            Duration::ZERO,
        );
        assert_eq!(latest, t0 + HOUR);
        assert!(s
            .prune(None, t0 + HOUR - Duration::from_secs(1), &[])
            .due
            .is_empty());
        let out = s.prune(None, t0 + HOUR, &[]);
        assert_eq!(
            out.due,
            vec![p("/w/slaves/S/frameworks/F/executors/E/runs/C")]
        );
        assert!(s.is_empty(), "a pruned path leaves the schedule");
        assert!(s.prune(None, t0 + 2 * HOUR, &[]).due.is_empty());
    }

    #[test]
    fn the_allowed_age_shrinks_as_the_disk_fills() {
        let s = GcSchedule::new(HOUR, 0.1);
        assert_eq!(s.max_age(None), HOUR);
        assert_eq!(s.max_age(Some(0.0)), HOUR.mul_f64(0.9));
        assert_eq!(s.max_age(Some(0.4)), HOUR.mul_f64(0.5));
        assert_eq!(s.max_age(Some(0.9)), Duration::ZERO);
        assert_eq!(s.max_age(Some(1.0)), Duration::ZERO);
        assert_eq!(s.max_age(Some(f64::NAN)), HOUR.mul_f64(0.9));
        // No headroom: the full delay on an empty disk.
        assert_eq!(GcSchedule::new(HOUR, 0.0).max_age(Some(0.0)), HOUR);
        // A bad headroom is clamped, never a panic.
        assert_eq!(
            GcSchedule::new(HOUR, 7.0).max_age(Some(0.0)),
            Duration::ZERO
        );
    }

    #[test]
    fn a_full_disk_makes_everything_due_at_once_and_half_full_only_the_old() {
        let t0 = Instant::now();
        let mut s = GcSchedule::new(HOUR, 0.1);
        s.schedule(p("/old"), t0, Duration::ZERO);
        s.schedule(p("/new"), t0 + 40 * Duration::from_secs(60), Duration::ZERO);
        let now = t0 + 45 * Duration::from_secs(60);
        // 40% used: max age 30 min; /old (45 min) is due, /new (5 min) is not.
        assert_eq!(s.prune(Some(0.4), now, &[]).due, vec![p("/old")]);
        assert!(s.is_scheduled(Path::new("/new")));
        // Full: everything is due.
        assert_eq!(s.prune(Some(1.0), now, &[]).due, vec![p("/new")]);
    }

    #[test]
    fn a_directory_in_use_is_never_handed_out() {
        let t0 = Instant::now();
        let mut s = GcSchedule::new(HOUR, 0.1);
        let fw = p("/w/slaves/S/frameworks/F");
        let old_run = p("/w/slaves/S/frameworks/F/executors/E/runs/C1");
        let live_run = p("/w/slaves/S/frameworks/F/executors/E2/runs/C2");
        s.schedule(fw.clone(), t0, Duration::ZERO);
        s.schedule(old_run.clone(), t0, Duration::ZERO);
        let out = s.prune(Some(1.0), t0, std::slice::from_ref(&live_run));
        assert_eq!(out.due, vec![old_run], "the finished run goes");
        assert_eq!(
            out.in_use,
            vec![fw],
            "the framework's directory holds a live run"
        );
        assert!(s.is_empty());
        // The live run itself, scheduled by mistake, is not handed out either.
        s.schedule(live_run.clone(), t0, Duration::ZERO);
        let out = s.prune(Some(1.0), t0 + 2 * HOUR, std::slice::from_ref(&live_run));
        assert!(out.due.is_empty());
        assert_eq!(out.in_use, vec![live_run]);
    }

    #[test]
    fn a_relaunch_unschedules_the_directories_above_its_new_run() {
        let t0 = Instant::now();
        let mut s = GcSchedule::new(HOUR, 0.1);
        let ex = p("/w/slaves/S/frameworks/F/executors/E");
        let run1 = ex.join("runs/C1");
        let fw = p("/w/slaves/S/frameworks/F");
        s.schedule(fw.clone(), t0, Duration::ZERO);
        s.schedule(ex.clone(), t0, Duration::ZERO);
        s.schedule(run1.clone(), t0, Duration::ZERO);
        let mut gone = s.unschedule_covering(&ex.join("runs/C2"));
        gone.sort();
        assert_eq!(gone, vec![fw, ex]);
        // The old run's own directory stays scheduled: nothing reuses it.
        assert_eq!(s.prune(None, t0 + HOUR, &[]).due, vec![run1]);
    }

    #[test]
    fn paths_below_a_due_directory_go_with_it() {
        let t0 = Instant::now();
        let mut s = GcSchedule::new(HOUR, 0.0);
        s.schedule(p("/w/F/executors/E/runs/C"), t0, Duration::ZERO);
        s.schedule(p("/w/F/executors/E"), t0, Duration::ZERO);
        s.schedule(p("/w/F/executors/X/runs/D"), t0 + 2 * HOUR, Duration::ZERO);
        s.schedule(p("/w/F"), t0, Duration::ZERO);
        let out = s.prune(None, t0 + HOUR, &[]);
        assert_eq!(out.due, vec![p("/w/F")]);
        assert!(s.is_empty(), "the later run under /w/F is gone with it");
    }

    #[test]
    fn a_path_found_old_is_due_sooner_and_one_older_than_gc_delay_at_once() {
        let t0 = Instant::now();
        let mut s = GcSchedule::new(HOUR, 0.0);
        let deadline = s.schedule(p("/a"), t0, HOUR / 4);
        assert_eq!(deadline, t0 + HOUR * 3 / 4);
        s.schedule(p("/b"), t0, 30 * HOUR);
        assert_eq!(s.prune(None, t0, &[]).due, vec![p("/b")]);
        assert!(s.prune(None, t0 + HOUR / 2, &[]).due.is_empty());
        // Half full: max age 30 min, and /a has been unused for 15 + 30 min.
        assert_eq!(s.prune(Some(0.5), t0 + HOUR / 2, &[]).due, vec![p("/a")]);
    }

    #[test]
    fn rescheduling_restarts_the_clock() {
        let t0 = Instant::now();
        let mut s = GcSchedule::new(HOUR, 0.0);
        s.schedule(p("/a"), t0, Duration::ZERO);
        s.schedule(p("/a"), t0 + HOUR, Duration::ZERO);
        assert!(s.prune(None, t0 + HOUR, &[]).due.is_empty());
        assert_eq!(s.len(), 1);
        assert_eq!(s.prune(None, t0 + 2 * HOUR, &[]).due, vec![p("/a")]);
    }
}

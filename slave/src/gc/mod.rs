//! Sandbox garbage collection (Mesos's `GarbageCollector` and disk watch): the sandboxes
//! and checkpointed runs of finished executors, and the sandboxes of frameworks that left,
//! are removed `--gc_delay` after they finished, sooner when the disk fills
//! (`--gc_disk_headroom`, measured every `--disk_watch_interval`), and never while an
//! executor uses them.
//!
//! * [`schedule`]: the pure schedule (what is due when).
//! * [`disk`]: the file system side (disk usage through `statvfs`, moving a directory out
//!   of sight and deleting it, finding finished runs on disk after a restart).
//! * The agent's shell drives both (`agent/gc.rs`): it schedules a run when the core says
//!   the executor finished, unschedules the directories above a new run, prunes on a
//!   timer, and deletes off the actor thread.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use libproc::flags::Flags;

pub mod disk;
pub mod schedule;

pub use schedule::{GcSchedule, Pruned};

/// How full a file system is (0 to 1), as [`GcConfig::disk_usage`] measures it.
pub type UsageFn = dyn Fn(&Path) -> Result<f64, String> + Send + Sync;

/// Where the disk usage comes from: `statvfs` on the work directory by default; tests
/// fake pressure with [`DiskUsage::fixed`] or their own function.
#[derive(Clone)]
pub struct DiskUsage(Arc<UsageFn>);

impl DiskUsage {
    /// The usage of the file system holding the path, through `statvfs`.
    pub fn statvfs() -> DiskUsage {
        DiskUsage(Arc::new(disk::statvfs_usage))
    }

    /// Always `usage` (tests).
    pub fn fixed(usage: f64) -> DiskUsage {
        DiskUsage(Arc::new(move |_| Ok(usage)))
    }

    /// Any function of the work directory.
    pub fn new(f: impl Fn(&Path) -> Result<f64, String> + Send + Sync + 'static) -> DiskUsage {
        DiskUsage(Arc::new(f))
    }

    /// Measures the usage of the file system holding `path` (blocking).
    pub fn measure(&self, path: &Path) -> Result<f64, String> {
        (self.0)(path)
    }
}

impl std::fmt::Debug for DiskUsage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DiskUsage(..)")
    }
}

/// The garbage collection settings.
#[derive(Debug, Clone)]
pub struct GcConfig {
    /// `--gc_delay`: how long a finished sandbox is kept at most (default 1 week).
    pub delay: Duration,
    /// `--gc_disk_headroom`: the fraction of the disk to keep free (default 0.1); the
    /// fuller the disk, the sooner sandboxes go.
    pub disk_headroom: f64,
    /// `--disk_watch_interval`: how often the disk usage is checked (default 1 min).
    pub disk_watch_interval: Duration,
    /// How the disk usage is measured.
    pub disk_usage: DiskUsage,
}

impl Default for GcConfig {
    fn default() -> GcConfig {
        GcConfig {
            delay: Duration::from_secs(7 * 24 * 3600),
            disk_headroom: 0.1,
            disk_watch_interval: Duration::from_secs(60),
            disk_usage: DiskUsage::statvfs(),
        }
    }
}

impl GcConfig {
    /// Reads `--gc_delay`, `--gc_disk_headroom` and `--disk_watch_interval`.
    pub fn from_flags(flags: &Flags) -> Result<GcConfig, String> {
        let e = |x: libproc::flags::FlagsError| x.to_string();
        let disk_headroom: f64 = flags.get("gc_disk_headroom").map_err(e)?;
        if !(0.0..=1.0).contains(&disk_headroom) {
            return Err(format!(
                "--gc_disk_headroom={disk_headroom}: expected a fraction between 0.0 and 1.0"
            ));
        }
        let disk_watch_interval = flags.duration("disk_watch_interval").map_err(e)?;
        if disk_watch_interval.is_zero() {
            return Err("--disk_watch_interval must be longer than 0secs".into());
        }
        Ok(GcConfig {
            delay: flags.duration("gc_delay").map_err(e)?,
            disk_headroom,
            disk_watch_interval,
            disk_usage: DiskUsage::statvfs(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<GcConfig, String> {
        let flags = Flags::parse(
            "mesos-agent",
            crate::config::FLAGS,
            args.iter().map(|s| s.to_string()),
            "MESOS_",
            |_| None,
        )
        .map_err(|e| e.to_string())?;
        GcConfig::from_flags(&flags)
    }

    #[test]
    fn flags_default_to_mesos_and_bad_values_are_clear_errors() {
        let c = parse(&["--master=127.0.0.1:5050"]).unwrap();
        assert_eq!(c.delay, Duration::from_secs(7 * 24 * 3600));
        assert_eq!(c.disk_headroom, 0.1);
        assert_eq!(c.disk_watch_interval, Duration::from_secs(60));
        let c = parse(&[
            "--master=127.0.0.1:5050",
            "--gc_delay=2secs",
            "--gc_disk_headroom=0.25",
            "--disk_watch_interval=500ms",
        ])
        .unwrap();
        assert_eq!(c.delay, Duration::from_secs(2));
        assert_eq!(c.disk_headroom, 0.25);
        assert_eq!(c.disk_watch_interval, Duration::from_millis(500));
        let err = parse(&["--master=127.0.0.1:5050", "--gc_disk_headroom=1.5"]).unwrap_err();
        assert!(err.contains("--gc_disk_headroom=1.5"), "{err}");
        let err = parse(&["--master=127.0.0.1:5050", "--gc_delay=soon"]).unwrap_err();
        assert!(err.contains("gc_delay"), "{err}");
        assert!(parse(&["--master=127.0.0.1:5050", "--disk_watch_interval=0secs"]).is_err());
        assert_eq!(DiskUsage::fixed(0.5).measure(Path::new("/")), Ok(0.5));
    }
}

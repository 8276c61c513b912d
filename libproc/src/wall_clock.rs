//! A node's wall clock, injected: seconds since the Unix epoch as the node reads them, for
//! the timestamps it puts on what it reports and the few rules that go by wall time (a
//! registry's garbage collection by age). Timers never read it: they run on the runtime's
//! monotonic clock. Production reads the system clock ([`WallClock::system`], the
//! default); tests pin it ([`WallClock::fixed`]); the simulation gives each node its own
//! ([`WallClock::from_fn`]), which can step forwards or backwards on one node alone, as an
//! NTP step or a VM resume does to one machine.

use std::fmt;
use std::sync::Arc;

/// Reads a wall clock: seconds since the Unix epoch.
#[derive(Clone)]
pub struct WallClock(Arc<dyn Fn() -> f64 + Send + Sync>);

impl WallClock {
    /// The system clock.
    pub fn system() -> WallClock {
        WallClock::from_fn(system_now)
    }

    /// A clock that always reads `secs`.
    pub fn fixed(secs: f64) -> WallClock {
        WallClock::from_fn(move || secs)
    }

    /// A clock read by calling `f`.
    pub fn from_fn(f: impl Fn() -> f64 + Send + Sync + 'static) -> WallClock {
        WallClock(Arc::new(f))
    }

    /// Now, in seconds since the epoch.
    pub fn now(&self) -> f64 {
        (self.0)()
    }
}

impl Default for WallClock {
    fn default() -> WallClock {
        WallClock::system()
    }
}

impl fmt::Debug for WallClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WallClock")
    }
}

/// Seconds since the epoch from the system clock (0 before the epoch).
pub fn system_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};

    #[test]
    fn fixed_and_stepped_clocks_read_what_they_are_given() {
        assert_eq!(WallClock::fixed(1000.0).now(), 1000.0);
        let offset = Arc::new(AtomicI64::new(0));
        let o = offset.clone();
        let c = WallClock::from_fn(move || 1000.0 + o.load(Ordering::Relaxed) as f64);
        let copy = c.clone();
        offset.store(-60, Ordering::Relaxed);
        assert_eq!(copy.now(), 940.0, "a clone reads the same clock");
        assert!(WallClock::default().now() > 1.6e9);
    }
}

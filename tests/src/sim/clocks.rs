//! Per-node wall clocks. Monotonic time (tokio's `Instant`, paused and virtual) is shared
//! by every node of a run: timers, leases and timeouts all run on it. Wall time is per
//! node: node `n` reads [`BASE_WALL_S`] + the virtual time elapsed since the run started +
//! `n`'s offset, which starts at zero and moves only when a fault steps it, forwards or
//! backwards, as an NTP step or a VM resume does to one machine. The nodes with a wall
//! clock: each master slot (`m1`…, its `MasterConfig::clock`: registration and unreachable
//! times, status update stamps, the registry's GC by age), each agent slot (`a1`…, its
//! `AgentConfig::clock`: status update stamps), Marathon (versions, backoffs, kill
//! retries) and Chronos (its schedules: when an instant is due, late or missed). A restarted
//! node keeps its slot's offset, as a restarted process keeps its machine's clock.
//!
//! The clock fault (`Sim::clock_fault`, one kind of fault of the main schedule) is one
//! of two: a step of one node's wall clock (by up to 60 s either way, one time in five 1
//! to 10 minutes forwards), or, as before per-node clocks, a stall of the whole process:
//! the shared clock leaps and every timer of every node comes due at once. Which one, the
//! node and the step are drawn from a stream of their own, so the other faults of a seed
//! keep their draws. With [`FaultKinds::Stop25`] (the seeds pinned before) it is always
//! the jump of the shared clock, as when those seeds were found. Clocks are not synchronised again when faults stop: a real cluster
//! runs with some skew, and no invariant compares two nodes' wall clocks. Chronos's
//! invariants read its own clock; "no instant due well after the faults stopped is missed"
//! allows for how far that clock once stood ahead of where it ended
//! ([`ClockTable::max_offset_ms`]): an instant missed before a step back may look due
//! after the faults stopped.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use libproc::rng::SplitMix64;
use libproc::wall_clock::WallClock;
use tokio::time::Instant;

use super::{FaultKinds, Sim};

/// The wall time (seconds since the epoch) every node's clock reads when the run starts.
pub const BASE_WALL_S: i64 = 1_800_000_000;
/// Label of Marathon's clock.
pub const MARATHON: &str = "marathon";
/// Label of Chronos's clock.
pub const CHRONOS: &str = "chronos";

/// The offsets of the nodes' wall clocks (shared by the clocks handed out).
#[derive(Clone)]
pub struct ClockTable {
    start: Instant,
    /// Offsets in milliseconds, by node label (shared with the clocks handed out: a
    /// node's clock is read on the run's one thread; the atomics only make the master's
    /// and the agents' clocks `Send`).
    offsets: Arc<Mutex<BTreeMap<String, Arc<AtomicI64>>>>,
    /// The largest offset each node's clock ever had, in milliseconds (0 if never stepped).
    max: Arc<Mutex<BTreeMap<String, i64>>>,
}

impl ClockTable {
    fn new() -> ClockTable {
        ClockTable {
            start: Instant::now(),
            offsets: Arc::default(),
            max: Arc::default(),
        }
    }

    fn cell(&self, node: &str) -> Arc<AtomicI64> {
        self.offsets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(node.to_string())
            .or_default()
            .clone()
    }

    /// `node`'s offset, in milliseconds.
    pub fn offset_ms(&self, node: &str) -> i64 {
        self.cell(node).load(Ordering::Relaxed)
    }

    /// The largest offset `node`'s clock ever had, in milliseconds (at least 0).
    pub fn max_offset_ms(&self, node: &str) -> i64 {
        let max = self.max.lock().unwrap_or_else(|p| p.into_inner());
        max.get(node).copied().unwrap_or(0)
    }

    /// Steps `node`'s clock by `ms` (negative: backwards); returns its new offset.
    pub fn step(&self, node: &str, ms: i64) -> i64 {
        let offset = self.cell(node).fetch_add(ms, Ordering::Relaxed) + ms;
        let mut max = self.max.lock().unwrap_or_else(|p| p.into_inner());
        let m = max.entry(node.to_string()).or_insert(0);
        *m = (*m).max(offset);
        offset
    }

    /// `node`'s wall clock in seconds since the epoch (the masters', the agents' and
    /// Marathon's form).
    pub fn wall(&self, node: &str) -> WallClock {
        let (start, offset) = (self.start, self.cell(node));
        WallClock::from_fn(move || {
            BASE_WALL_S as f64
                + start.elapsed().as_secs_f64()
                + offset.load(Ordering::Relaxed) as f64 / 1000.0
        })
    }

    /// `node`'s wall clock as a date (Chronos's form).
    pub fn date(&self, node: &str) -> impl Fn() -> DateTime<Utc> {
        let (start, offset) = (self.start, self.cell(node));
        move || {
            let base = DateTime::from_timestamp(BASE_WALL_S, 0).unwrap_or_default();
            base + chrono::Duration::from_std(start.elapsed()).unwrap_or_default()
                + chrono::Duration::milliseconds(offset.load(Ordering::Relaxed))
        }
    }
}

/// The clocks of a run and the stream their faults draw from.
pub struct Clocks {
    rng: SplitMix64,
    /// The offsets.
    pub table: ClockTable,
}

impl Clocks {
    /// Every clock at [`BASE_WALL_S`] now.
    pub fn new(seed: u64) -> Clocks {
        Clocks {
            rng: SplitMix64::new(seed ^ 0x00C1_0C6E_5EED_0FF5),
            table: ClockTable::new(),
        }
    }

    /// A clock fault: `Some((node, step in ms))` steps one of `nodes`' wall clock; `None`
    /// is a stall of the whole process (one time in three).
    fn draw(&mut self, nodes: &[String]) -> Option<(String, i64)> {
        if nodes.is_empty() || self.rng.next_u64() % 3 == 0 {
            return None;
        }
        let node = nodes[(self.rng.next_u64() % nodes.len() as u64) as usize].clone();
        let ms = if self.rng.next_u64() % 5 == 0 {
            // A VM resumed, or a clock set right after minutes adrift: a large step forwards.
            60_000 + (self.rng.next_u64() % 540_001) as i64
        } else {
            let ms = 1 + (self.rng.next_u64() % 60_000) as i64;
            if self.rng.next_u64() % 2 == 0 {
                ms
            } else {
                -ms
            }
        };
        Some((node, ms))
    }
}

impl Sim {
    /// The labels of the nodes with a wall clock, in a fixed order.
    fn clock_nodes(&self) -> Vec<String> {
        let mut v: Vec<String> = (0..self.masters.len()).map(super::master_label).collect();
        v.extend((1..=self.agents.len()).map(|i| format!("a{i}")));
        if self.services.is_some() {
            v.extend([MARATHON.to_string(), CHRONOS.to_string()]);
        }
        v
    }

    /// One clock fault (see the module doc): one node's wall clock steps, or the whole
    /// process stalls (every timer of every node comes due at once).
    pub(super) async fn clock_fault(&mut self) {
        // Drawn first, as before there were per-node clocks, so the main stream keeps its
        // order whichever kind this is.
        let stall = Duration::from_secs(1 + self.rng.next_u64() % 30);
        if self.fault_kinds < FaultKinds::WallClockSteps {
            // As when the pinned seeds were found: the shared clock jumps.
            self.trace.note(format!("clock jumps {stall:?}"));
            tokio::time::advance(stall).await;
            self.count("clock_jump");
            return;
        }
        let nodes = self.clock_nodes();
        match self.clocks.draw(&nodes) {
            Some((node, ms)) => {
                let offset = self.clocks.table.step(&node, ms);
                self.trace.note(format!(
                    "wall clock of {node} steps {:+.3}s (now {:+.3}s off)",
                    ms as f64 / 1000.0,
                    offset as f64 / 1000.0
                ));
                self.count(if ms < 0 {
                    "wall_clock_step_back"
                } else {
                    "wall_clock_step_forward"
                });
            }
            None => {
                self.trace.note(format!(
                    "the whole process stalls {stall:?} (every node's timers come due at once)"
                ));
                tokio::time::advance(stall).await;
                self.count("process_stall");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn each_node_reads_its_own_offset_on_the_shared_clock() {
        let t = ClockTable::new();
        let (m1, a1) = (t.wall("m1"), t.wall("a1"));
        let chronos = t.date(CHRONOS);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(m1.now(), BASE_WALL_S as f64 + 10.0);
        assert_eq!(t.step("m1", -60_000), -60_000);
        assert_eq!(m1.now(), BASE_WALL_S as f64 - 50.0, "m1 stepped back");
        assert_eq!(a1.now(), BASE_WALL_S as f64 + 10.0, "a1 did not");
        assert_eq!(
            t.wall("m1").now(),
            m1.now(),
            "a new clock of a slot keeps its offset"
        );
        t.step(CHRONOS, 1_500);
        assert_eq!(
            chronos().timestamp_millis(),
            (BASE_WALL_S + 10) * 1000 + 1_500
        );
        t.step(CHRONOS, -2_000);
        assert_eq!(
            (t.offset_ms(CHRONOS), t.max_offset_ms(CHRONOS)),
            (-500, 1_500)
        );
        assert_eq!(t.max_offset_ms("m1"), 0);
    }
}

//! The tasks this agent told the master it never got (its answer to a reconciliation
//! question about a task the master believes launched here: `TASK_LOST`, or `TASK_DROPPED`
//! for a partition-aware framework), so that a `RunTaskMessage` for one of them arriving
//! afterwards is refused instead of run.
//!
//! Why: the master asks about a launch it has no word of (its `RunTaskMessage` may be lost)
//! and relies on the question following the launch on the same connection. That order
//! does not hold across connections: when the master re-links to the agent (a
//! re-registration), or crashes and comes back on the same PID, a launch still in flight
//! on the old connection can arrive after the question asked on the new one. By then the
//! task was reported lost, the master dropped it and the framework may have launched it
//! again under another id; running the late launch would run it twice. Once the agent has
//! said "never got it", it keeps its word: the task id is not run here afterwards.
//!
//! Mesos asks frameworks not to reuse a task id (`TaskID`: reuse after a terminal state is
//! allowed but strongly discouraged); a framework that relaunches a lost task under the
//! same id on this agent gets it reported lost again, and learns that way. The memory is
//! bounded (the oldest entries are forgotten first) and lives as long as the agent
//! process: a launch addressed to an earlier agent process is dropped by the runtime (its
//! PID is gone).

use std::collections::{BTreeSet, VecDeque};

use proto::{FrameworkId, TaskId};

/// How many reported-lost tasks the agent remembers. A stale launch arrives within a
/// network delay of the answer, long before this many further tasks were reported lost.
pub const MAX_REPORTED_LOST: usize = 4096;

/// A bounded set of (framework, task) the agent reported it never got, oldest first out.
#[derive(Debug, Default, Clone)]
pub struct ReportedLost {
    order: VecDeque<(FrameworkId, TaskId)>,
    set: BTreeSet<(FrameworkId, TaskId)>,
}

impl ReportedLost {
    /// Remembers that the agent reported `task` of `framework` as never received.
    pub fn record(&mut self, framework: &FrameworkId, task: &TaskId) {
        let key = (framework.clone(), task.clone());
        if !self.set.insert(key.clone()) {
            return;
        }
        self.order.push_back(key);
        while self.order.len() > MAX_REPORTED_LOST {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }

    /// Whether the agent reported `task` of `framework` as never received.
    pub fn contains(&self, framework: &FrameworkId, task: &TaskId) -> bool {
        self.set.contains(&(framework.clone(), task.clone()))
    }

    /// How many are remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reported_task_is_remembered_per_framework() {
        let mut r = ReportedLost::default();
        r.record(&FrameworkId::new("F"), &TaskId::new("t"));
        r.record(&FrameworkId::new("F"), &TaskId::new("t"));
        assert!(r.contains(&FrameworkId::new("F"), &TaskId::new("t")));
        assert!(!r.contains(&FrameworkId::new("G"), &TaskId::new("t")));
        assert!(!r.contains(&FrameworkId::new("F"), &TaskId::new("u")));
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn the_oldest_entries_are_forgotten_beyond_the_bound() {
        let mut r = ReportedLost::default();
        let f = FrameworkId::new("F");
        for i in 0..MAX_REPORTED_LOST + 2 {
            r.record(&f, &TaskId::new(format!("t{i}")));
        }
        assert_eq!(r.len(), MAX_REPORTED_LOST);
        assert!(!r.contains(&f, &TaskId::new("t0")));
        assert!(!r.contains(&f, &TaskId::new("t1")));
        assert!(r.contains(&f, &TaskId::new("t2")));
        assert!(r.contains(&f, &TaskId::new(format!("t{}", MAX_REPORTED_LOST + 1))));
    }
}

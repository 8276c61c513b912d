//! The acknowledgement invariants, held at the agents' status update managers:
//!
//! * every status update is acknowledged at most once: an update seen unacknowledged at an
//!   agent, then gone from that same agent process (its acknowledgement took effect, the
//!   stream moved on), never shows up unacknowledged again at any agent (re-sent after its
//!   acknowledgement, as a restarted agent would that lost the acknowledgement's
//!   checkpoint);
//! * and at least once: once the cluster converged, every update the framework received
//!   is acknowledged within a bound (nothing received stays pending at an agent).
//!
//! Polled between the simulation's steps, so an update acknowledged between two polls is
//! never seen pending (the first check then misses it, never wrongly reports it).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use proto::{StatusUuid, TaskId};
use tokio::time::Instant;

use super::Sim;

/// How long after convergence every update the framework received must be acknowledged
/// (the agents re-send an unacknowledged update at least every 40 s).
const ACK_BOUND: Duration = Duration::from_secs(150);

/// What the polls saw.
#[derive(Debug, Default)]
pub(super) struct AckLedger {
    /// Updates unacknowledged at the last poll, with the agent process holding them.
    pending: BTreeMap<(TaskId, StatusUuid), String>,
    /// Updates whose acknowledgement took effect.
    acked: BTreeSet<(TaskId, StatusUuid)>,
}

impl AckLedger {
    /// One poll's view: `now`, the unacknowledged updates of the agents that answered
    /// (`live`). An update pending at the last poll and now gone from the same live agent
    /// process was acknowledged; returns the breaks: acknowledged updates pending again.
    fn observe(
        &mut self,
        now: BTreeMap<(TaskId, StatusUuid), String>,
        live: &BTreeSet<String>,
    ) -> Vec<String> {
        let before = std::mem::take(&mut self.pending);
        for (key, agent) in before {
            if live.contains(&agent) && !now.contains_key(&key) {
                self.acked.insert(key);
            }
        }
        let again = now
            .keys()
            .filter(|k| self.acked.contains(*k))
            .map(|(t, u)| {
                format!("task {t}: status update {u:?} pending again after its acknowledgement")
            })
            .collect();
        self.pending = now;
        again
    }
}

impl Sim {
    /// Every live agent's unacknowledged updates of the framework: (task, uuid) → agent
    /// PID; and the agents that answered (a stopped one whose slot still holds its handle
    /// does not).
    async fn unacknowledged(&self) -> (BTreeMap<(TaskId, StatusUuid), String>, BTreeSet<String>) {
        let mut out = BTreeMap::new();
        let mut answered = BTreeSet::new();
        let fid = self
            .memory
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .framework_id
            .clone();
        let Some(fid) = fid else {
            return (out, answered);
        };
        for slot in &self.agents {
            let Some(h) = &slot.handle else { continue };
            let fid = fid.clone();
            let got = h
                .process
                .call(move |a, _| a.unacknowledged_updates(&fid))
                .await;
            let Ok(got) = got else { continue };
            answered.insert(h.pid().to_string());
            for key in got {
                out.insert(key, h.pid().to_string());
            }
        }
        (out, answered)
    }

    fn ack_break(&mut self, b: String) {
        if !self.breaks.contains(&b) {
            self.trace.note(format!("BREAK {b}"));
            self.breaks.push(b);
        }
    }

    /// One poll: records acknowledgements that took effect, and breaks if an acknowledged
    /// update is pending again.
    pub(super) async fn check_acks(&mut self) {
        let (now, live) = self.unacknowledged().await;
        for b in self.acks.observe(now, &live) {
            self.ack_break(b);
        }
    }

    /// After convergence: waits (bounded, simulated time) until no agent holds an update
    /// the framework received unacknowledged.
    pub(super) async fn settle_acks(&mut self) {
        if !self.breaks.is_empty() {
            return;
        }
        let deadline = Instant::now() + ACK_BOUND;
        loop {
            self.check_acks().await;
            let received: Vec<(TaskId, StatusUuid)> = {
                let mem = self.memory.lock().unwrap_or_else(|p| p.into_inner());
                self.acks
                    .pending
                    .keys()
                    .filter(|(t, u)| {
                        mem.updates
                            .get(t)
                            .is_some_and(|seen| seen.iter().any(|(_, s)| *s == Some(*u)))
                    })
                    .cloned()
                    .collect()
            };
            let Some((t, u)) = received.first() else {
                return;
            };
            if Instant::now() >= deadline {
                let b = format!(
                    "task {t}: status update {u:?} received by the framework is not acknowledged \
                     {ACK_BOUND:?} after convergence ({} such)",
                    received.len()
                );
                self.ack_break(b);
                return;
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(t: &str, u: u128) -> (TaskId, StatusUuid) {
        (TaskId::new(t), StatusUuid::from_u128(u))
    }

    fn at(agent: &str, keys: &[(TaskId, StatusUuid)]) -> BTreeMap<(TaskId, StatusUuid), String> {
        keys.iter()
            .map(|k| (k.clone(), agent.to_string()))
            .collect()
    }

    #[test]
    fn an_update_pending_again_after_its_acknowledgement_breaks() {
        let mut l = AckLedger::default();
        let a1: BTreeSet<String> = ["a(1)".to_string()].into();
        assert!(l.observe(at("a(1)", &[key("t", 1)]), &a1).is_empty());
        // Acknowledged: gone from the same live agent.
        assert!(l.observe(at("a(1)", &[]), &a1).is_empty());
        // Re-sent by the restarted agent.
        let a2: BTreeSet<String> = ["a(2)".to_string()].into();
        let b = l.observe(at("a(2)", &[key("t", 1)]), &a2);
        assert_eq!(b.len(), 1, "{b:?}");
    }

    #[test]
    fn an_update_of_an_agent_that_went_away_is_not_taken_as_acknowledged() {
        let mut l = AckLedger::default();
        let a1: BTreeSet<String> = ["a(1)".to_string()].into();
        l.observe(at("a(1)", &[key("t", 1)]), &a1);
        // The agent stopped (did not answer): its updates are not acknowledged.
        assert!(l.observe(BTreeMap::new(), &BTreeSet::new()).is_empty());
        let a2: BTreeSet<String> = ["a(2)".to_string()].into();
        assert!(l.observe(at("a(2)", &[key("t", 1)]), &a2).is_empty());
    }
}

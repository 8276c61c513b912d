//! The task status update manager (pure; Mesos `TaskStatusUpdateManager`): one stream per
//! (framework, task). Each stream holds its unacknowledged updates in order; only the head is
//! in flight. The head is forwarded to the master and re-forwarded with a backoff (10 s
//! doubling to 10 min by default) until the scheduler's acknowledgement, relayed by the
//! master, arrives; then the next update goes out. Duplicate updates and unexpected
//! acknowledgements are rejected. While the agent is disconnected the manager is paused
//! (nothing is forwarded); `resume` forwards every head at once.
//!
//! Streams of checkpointing frameworks are persisted by the agent as an append-only log of
//! [`UpdateRecord`]s (`task.updates`); [`replay`] folds such a log back into the stream's
//! state and [`StatusUpdateManager::recover`] reinstalls it after an agent restart, so the
//! head is re-sent and duplicates of checkpointed updates are still recognised.

use libproc::fxhash::FxHashSet;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use proto::messages::StatusUpdate;
use proto::{FrameworkId, StatusUuid, TaskId, TaskState};
use serde::{Deserialize, Serialize};

/// One entry of a checkpointed stream (`task.updates`): an update as it was accepted, or
/// the acknowledgement of one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum UpdateRecord {
    /// An update was accepted into the stream.
    #[serde(rename = "UPDATE")]
    Update {
        /// The update.
        update: Box<StatusUpdate>,
    },
    /// The scheduler acknowledged the update with this uuid.
    #[serde(rename = "ACK")]
    Ack {
        /// The acknowledged uuid.
        uuid: StatusUuid,
    },
}

/// A stream rebuilt from its records.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Replayed {
    /// Every update accepted, oldest first.
    pub updates: Vec<StatusUpdate>,
    /// The unacknowledged ones, oldest first (the first is the head to re-send).
    pub pending: Vec<StatusUpdate>,
    /// Whether a terminal update was acknowledged (the stream is finished).
    pub terminated: bool,
    /// Records that made no sense (an ack that is not for the head, a duplicate update);
    /// they are skipped.
    pub errors: Vec<String>,
}

/// Folds a checkpointed stream back into its state: updates queue up, an ack pops the head
/// it names. Inconsistent records are skipped and reported.
pub fn replay(records: &[UpdateRecord]) -> Replayed {
    let mut out = Replayed::default();
    let mut seen = FxHashSet::default();
    let mut pending: VecDeque<StatusUpdate> = VecDeque::new();
    for r in records {
        match r {
            UpdateRecord::Update { update } => {
                let Some(uuid) = update.status.uuid else {
                    out.errors.push(format!(
                        "update for task {} without a uuid",
                        update.status.task_id
                    ));
                    continue;
                };
                if !seen.insert(uuid) {
                    out.errors.push(format!("duplicate update {uuid}"));
                    continue;
                }
                out.updates.push((**update).clone());
                pending.push_back((**update).clone());
            }
            UpdateRecord::Ack { uuid } => match pending.front() {
                Some(head) if head.status.uuid == Some(*uuid) => {
                    if head.status.state.is_terminal() {
                        out.terminated = true;
                    }
                    pending.pop_front();
                }
                _ => out
                    .errors
                    .push(format!("acknowledgement {uuid} is not for the head")),
            },
        }
    }
    out.pending = pending.into();
    out
}

/// Default first retry interval (Mesos `STATUS_UPDATE_RETRY_INTERVAL_MIN`).
pub const STATUS_UPDATE_RETRY_INTERVAL_MIN: Duration = Duration::from_secs(10);
/// Default retry cap (Mesos `STATUS_UPDATE_RETRY_INTERVAL_MAX`).
pub const STATUS_UPDATE_RETRY_INTERVAL_MAX: Duration = Duration::from_secs(600);

/// What the shell must do.
#[derive(Debug, Clone, PartialEq)]
pub enum UpdateEffect {
    /// Send this update to the master.
    Forward(StatusUpdate),
    /// Call [`StatusUpdateManager::retry`] with these arguments after `delay`.
    RetryAfter {
        /// The stream's framework.
        framework_id: FrameworkId,
        /// The stream's task.
        task_id: TaskId,
        /// Timer generation (stale timers are ignored).
        generation: u64,
        /// How long to wait.
        delay: Duration,
    },
}

/// Why an update or acknowledgement was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateError {
    /// The update has no uuid, so it could never be acknowledged.
    #[error("status update for task {0} has no uuid")]
    NoUuid(TaskId),
    /// The update was seen before.
    #[error("duplicate status update {uuid} for task {task_id}")]
    Duplicate {
        /// The task.
        task_id: TaskId,
        /// Its uuid.
        uuid: StatusUuid,
    },
    /// The task's stream already delivered a terminal update.
    #[error("status update for task {0} after its terminal update was acknowledged")]
    Terminated(TaskId),
    /// No stream for the acknowledged task.
    #[error("acknowledgement for unknown task {0}")]
    UnknownStream(TaskId),
    /// The uuid is not the one in flight.
    #[error("unexpected (duplicate or out-of-order) acknowledgement {uuid} for task {task_id}")]
    UnexpectedAck {
        /// The task.
        task_id: TaskId,
        /// The uuid acknowledged.
        uuid: StatusUuid,
    },
}

/// A successful acknowledgement.
#[derive(Debug, Clone, PartialEq)]
pub struct Acked {
    /// The state of the acknowledged update.
    pub state: TaskState,
    /// Whether the stream is now finished (its terminal update was acknowledged).
    pub terminated: bool,
    /// What to do next (forward the following update).
    pub effects: Vec<UpdateEffect>,
}

#[derive(Debug)]
struct Stream {
    pending: VecDeque<StatusUpdate>,
    seen: FxHashSet<StatusUuid>,
    interval: Duration,
    generation: u64,
    terminated: bool,
}

/// Reliable, ordered delivery of task status updates to the master.
#[derive(Debug)]
pub struct StatusUpdateManager {
    min: Duration,
    max: Duration,
    paused: bool,
    streams: BTreeMap<(FrameworkId, TaskId), Stream>,
}

impl StatusUpdateManager {
    /// A manager retrying from `min` doubling up to `max`. It starts paused (the agent is
    /// not registered yet).
    pub fn new(min: Duration, max: Duration) -> StatusUpdateManager {
        StatusUpdateManager {
            min,
            max: max.max(min),
            paused: true,
            streams: BTreeMap::new(),
        }
    }

    /// Whether forwarding is paused.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    fn forward_head(&self, key: &(FrameworkId, TaskId), s: &Stream) -> Vec<UpdateEffect> {
        if self.paused {
            return vec![];
        }
        let Some(head) = s.pending.front() else {
            return vec![];
        };
        let mut update = head.clone();
        update.latest_state = s.pending.back().map(|u| u.status.state);
        vec![
            UpdateEffect::Forward(update),
            UpdateEffect::RetryAfter {
                framework_id: key.0.clone(),
                task_id: key.1.clone(),
                generation: s.generation,
                delay: s.interval,
            },
        ]
    }

    /// Records a new update; forwards it if it is the only one of its stream.
    pub fn update(&mut self, update: StatusUpdate) -> Result<Vec<UpdateEffect>, UpdateError> {
        let task_id = update.status.task_id.clone();
        let uuid = update
            .status
            .uuid
            .ok_or_else(|| UpdateError::NoUuid(task_id.clone()))?;
        let key = (update.framework_id.clone(), task_id.clone());
        let min = self.min;
        let s = self.streams.entry(key.clone()).or_insert_with(|| Stream {
            pending: VecDeque::new(),
            seen: FxHashSet::default(),
            interval: min,
            generation: 0,
            terminated: false,
        });
        if s.terminated {
            return Err(UpdateError::Terminated(task_id));
        }
        if !s.seen.insert(uuid) {
            return Err(UpdateError::Duplicate { task_id, uuid });
        }
        s.pending.push_back(update);
        if s.pending.len() == 1 {
            s.interval = min;
            s.generation += 1;
            let s = &self.streams[&key];
            Ok(self.forward_head(&key, s))
        } else {
            Ok(vec![])
        }
    }

    /// The scheduler acknowledged `uuid` for the task.
    pub fn acknowledge(
        &mut self,
        framework_id: &FrameworkId,
        task_id: &TaskId,
        uuid: StatusUuid,
    ) -> Result<Acked, UpdateError> {
        let key = (framework_id.clone(), task_id.clone());
        let min = self.min;
        let Some(s) = self.streams.get_mut(&key) else {
            return Err(UpdateError::UnknownStream(task_id.clone()));
        };
        match s.pending.front() {
            Some(head) if head.status.uuid == Some(uuid) => {}
            _ => {
                return Err(UpdateError::UnexpectedAck {
                    task_id: task_id.clone(),
                    uuid,
                })
            }
        }
        let Some(head) = s.pending.pop_front() else {
            return Err(UpdateError::UnknownStream(task_id.clone()));
        };
        let state = head.status.state;
        if state.is_terminal() {
            s.terminated = true;
        }
        s.interval = min;
        s.generation += 1;
        let terminated = s.terminated && s.pending.is_empty();
        let s = &self.streams[&key];
        let effects = self.forward_head(&key, s);
        Ok(Acked {
            state,
            terminated,
            effects,
        })
    }

    /// A retry timer fired: re-forward the head if it is still unacknowledged.
    pub fn retry(
        &mut self,
        framework_id: &FrameworkId,
        task_id: &TaskId,
        generation: u64,
    ) -> Vec<UpdateEffect> {
        let key = (framework_id.clone(), task_id.clone());
        if self.paused {
            return vec![];
        }
        let max = self.max;
        let Some(s) = self.streams.get_mut(&key) else {
            return vec![];
        };
        if s.generation != generation || s.pending.is_empty() {
            return vec![];
        }
        s.interval = (s.interval * 2).min(max);
        s.generation += 1;
        let s = &self.streams[&key];
        self.forward_head(&key, s)
    }

    /// Reinstalls a stream replayed from its checkpoint (agent recovery). Its head goes out
    /// on the next [`StatusUpdateManager::resume`]. A stream already known is left alone.
    pub fn recover(&mut self, framework_id: &FrameworkId, task_id: &TaskId, replayed: &Replayed) {
        let key = (framework_id.clone(), task_id.clone());
        if self.streams.contains_key(&key) {
            return;
        }
        let stream = Stream {
            pending: replayed.pending.iter().cloned().collect(),
            seen: replayed
                .updates
                .iter()
                .filter_map(|u| u.status.uuid)
                .collect(),
            interval: self.min,
            generation: 0,
            terminated: replayed.terminated,
        };
        self.streams.insert(key, stream);
    }

    /// Whether the task's stream has delivered its terminal update (acknowledged).
    pub fn is_terminated(&self, framework_id: &FrameworkId, task_id: &TaskId) -> bool {
        self.streams
            .get(&(framework_id.clone(), task_id.clone()))
            .is_some_and(|s| s.terminated)
    }

    /// Stops forwarding (the master is gone).
    pub fn pause(&mut self) {
        self.paused = true;
    }

    /// Resumes forwarding: every stream's head goes out now.
    pub fn resume(&mut self) -> Vec<UpdateEffect> {
        self.paused = false;
        let min = self.min;
        for s in self.streams.values_mut() {
            s.interval = min;
            s.generation += 1;
        }
        let mut out = vec![];
        for (k, s) in &self.streams {
            out.extend(self.forward_head(k, s));
        }
        out
    }

    /// The update in flight for a task, if any.
    pub fn head(&self, framework_id: &FrameworkId, task_id: &TaskId) -> Option<&StatusUpdate> {
        self.streams
            .get(&(framework_id.clone(), task_id.clone()))
            .and_then(|s| s.pending.front())
    }

    /// How many updates of the task are unacknowledged.
    pub fn pending(&self, framework_id: &FrameworkId, task_id: &TaskId) -> usize {
        self.streams
            .get(&(framework_id.clone(), task_id.clone()))
            .map_or(0, |s| s.pending.len())
    }

    /// Whether any update of the framework is unacknowledged.
    pub fn has_pending(&self, framework_id: &FrameworkId) -> bool {
        self.streams
            .iter()
            .any(|((f, _), s)| f == framework_id && !s.pending.is_empty())
    }

    /// Every unacknowledged update of the framework: (task, uuid), streams in task order,
    /// each stream oldest first.
    pub fn unacknowledged(&self, framework_id: &FrameworkId) -> Vec<(TaskId, StatusUuid)> {
        self.streams
            .iter()
            .filter(|((f, _), _)| f == framework_id)
            .flat_map(|((_, t), s)| {
                s.pending
                    .iter()
                    .filter_map(move |u| u.status.uuid.map(|id| (t.clone(), id)))
            })
            .collect()
    }

    /// Forgets every stream of a framework (it was removed).
    pub fn cleanup(&mut self, framework_id: &FrameworkId) {
        self.streams.retain(|(f, _), _| f != framework_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::TaskStatus;

    fn upd(task: &str, state: TaskState, uuid: u128) -> StatusUpdate {
        StatusUpdate {
            framework_id: FrameworkId::new("F"),
            executor_id: None,
            agent_id: None,
            status: TaskStatus::new(TaskId::new(task), state)
                .with_uuid(StatusUuid::from_u128(uuid)),
            timestamp: 0.0,
            latest_state: None,
        }
    }

    fn forwarded(effects: &[UpdateEffect]) -> Vec<(TaskState, Option<TaskState>)> {
        effects
            .iter()
            .filter_map(|e| match e {
                UpdateEffect::Forward(u) => Some((u.status.state, u.latest_state)),
                _ => None,
            })
            .collect()
    }

    fn retry_of(effects: &[UpdateEffect]) -> (u64, Duration) {
        effects
            .iter()
            .find_map(|e| match e {
                UpdateEffect::RetryAfter {
                    generation, delay, ..
                } => Some((*generation, *delay)),
                _ => None,
            })
            .expect("retry timer")
    }

    fn live() -> StatusUpdateManager {
        let mut m = StatusUpdateManager::new(Duration::from_secs(10), Duration::from_secs(600));
        assert!(m.resume().is_empty());
        m
    }

    #[test]
    fn only_the_head_is_in_flight_and_order_holds() {
        let mut m = live();
        let f = FrameworkId::new("F");
        let t = TaskId::new("t");
        let out = m.update(upd("t", TaskState::Running, 1)).unwrap();
        assert_eq!(
            forwarded(&out),
            vec![(TaskState::Running, Some(TaskState::Running))]
        );
        assert!(
            m.update(upd("t", TaskState::Finished, 2))
                .unwrap()
                .is_empty(),
            "second waits"
        );
        assert_eq!(m.pending(&f, &t), 2);
        // Acking the head sends the next, with no retry of the old one.
        let acked = m.acknowledge(&f, &t, StatusUuid::from_u128(1)).unwrap();
        assert_eq!(acked.state, TaskState::Running);
        assert!(!acked.terminated);
        assert_eq!(
            forwarded(&acked.effects),
            vec![(TaskState::Finished, Some(TaskState::Finished))]
        );
        let acked = m.acknowledge(&f, &t, StatusUuid::from_u128(2)).unwrap();
        assert!(acked.terminated);
        assert!(acked.effects.is_empty());
        assert!(matches!(
            m.update(upd("t", TaskState::Running, 3)),
            Err(UpdateError::Terminated(_))
        ));
    }

    #[test]
    fn latest_state_shows_the_newest_queued_state() {
        let mut m = StatusUpdateManager::new(Duration::from_secs(10), Duration::from_secs(600));
        m.update(upd("t", TaskState::Running, 1)).unwrap();
        m.update(upd("t", TaskState::Failed, 2)).unwrap();
        let out = m.resume();
        assert_eq!(
            forwarded(&out),
            vec![(TaskState::Running, Some(TaskState::Failed))]
        );
    }

    #[test]
    fn retries_double_to_the_cap_until_acknowledged() {
        let mut m = live();
        let f = FrameworkId::new("F");
        let t = TaskId::new("t");
        let out = m.update(upd("t", TaskState::Running, 1)).unwrap();
        let (mut g, d) = retry_of(&out);
        assert_eq!(d, Duration::from_secs(10));
        let mut seen = vec![];
        for _ in 0..8 {
            let out = m.retry(&f, &t, g);
            assert_eq!(forwarded(&out).len(), 1, "the head is re-sent");
            let (g2, d) = retry_of(&out);
            seen.push(d.as_secs());
            assert!(m.retry(&f, &t, g).is_empty(), "a stale timer does nothing");
            g = g2;
        }
        assert_eq!(seen, vec![20, 40, 80, 160, 320, 600, 600, 600]);
        m.acknowledge(&f, &t, StatusUuid::from_u128(1)).unwrap();
        assert!(m.retry(&f, &t, g).is_empty(), "no retry after the ack");
    }

    #[test]
    fn duplicates_and_unexpected_acks_are_rejected() {
        let mut m = live();
        let f = FrameworkId::new("F");
        let t = TaskId::new("t");
        m.update(upd("t", TaskState::Running, 1)).unwrap();
        assert!(matches!(
            m.update(upd("t", TaskState::Running, 1)),
            Err(UpdateError::Duplicate { .. })
        ));
        m.update(upd("t", TaskState::Finished, 2)).unwrap();
        // Acking the second before the first is out of order.
        assert!(matches!(
            m.acknowledge(&f, &t, StatusUuid::from_u128(2)),
            Err(UpdateError::UnexpectedAck { .. })
        ));
        m.acknowledge(&f, &t, StatusUuid::from_u128(1)).unwrap();
        // Acking the first again is a duplicate.
        assert!(matches!(
            m.acknowledge(&f, &t, StatusUuid::from_u128(1)),
            Err(UpdateError::UnexpectedAck { .. })
        ));
        assert!(matches!(
            m.acknowledge(&f, &TaskId::new("nope"), StatusUuid::from_u128(1)),
            Err(UpdateError::UnknownStream(_))
        ));
        let mut no_uuid = upd("t", TaskState::Running, 9);
        no_uuid.status.uuid = None;
        assert!(matches!(m.update(no_uuid), Err(UpdateError::NoUuid(_))));
    }

    #[test]
    fn replay_rebuilds_pending_and_terminated() {
        let recs = vec![
            UpdateRecord::Update {
                update: Box::new(upd("t", TaskState::Running, 1)),
            },
            UpdateRecord::Ack {
                uuid: StatusUuid::from_u128(1),
            },
            UpdateRecord::Update {
                update: Box::new(upd("t", TaskState::Finished, 2)),
            },
            // Out of order or duplicate: skipped and reported.
            UpdateRecord::Ack {
                uuid: StatusUuid::from_u128(1),
            },
            UpdateRecord::Update {
                update: Box::new(upd("t", TaskState::Finished, 2)),
            },
        ];
        let r = replay(&recs);
        assert_eq!(r.updates.len(), 2);
        assert_eq!(r.pending.len(), 1);
        assert_eq!(r.pending[0].status.state, TaskState::Finished);
        assert!(!r.terminated);
        assert_eq!(r.errors.len(), 2);
        let mut all = recs.clone();
        all.push(UpdateRecord::Ack {
            uuid: StatusUuid::from_u128(2),
        });
        let r = replay(&all);
        assert!(r.terminated && r.pending.is_empty());
        // Records round-trip through JSON with Mesos-like tags.
        let text = serde_json::to_string(&all[1]).unwrap();
        assert!(text.contains("\"ACK\""), "{text}");
        let back: UpdateRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(back, all[1]);
    }

    #[test]
    fn recover_task_status_update_manager_resends_the_head_and_rejects_duplicates() {
        // RecoverTaskStatusUpdateManager: the head of a recovered stream is re-sent on
        // resume; checkpointed updates are duplicates; acks continue the stream.
        let f = FrameworkId::new("F");
        let t = TaskId::new("t");
        let r = replay(&[
            UpdateRecord::Update {
                update: Box::new(upd("t", TaskState::Running, 1)),
            },
            UpdateRecord::Update {
                update: Box::new(upd("t", TaskState::Finished, 2)),
            },
        ]);
        let mut m = StatusUpdateManager::new(Duration::from_secs(10), Duration::from_secs(600));
        m.recover(&f, &t, &r);
        assert_eq!(m.pending(&f, &t), 2);
        assert!(matches!(
            m.update(upd("t", TaskState::Running, 1)),
            Err(UpdateError::Duplicate { .. })
        ));
        let out = m.resume();
        assert_eq!(
            forwarded(&out),
            vec![(TaskState::Running, Some(TaskState::Finished))]
        );
        let acked = m.acknowledge(&f, &t, StatusUuid::from_u128(1)).unwrap();
        assert_eq!(forwarded(&acked.effects)[0].0, TaskState::Finished);
        assert!(m.acknowledge(&f, &t, StatusUuid::from_u128(1)).is_err());
        assert!(
            m.acknowledge(&f, &t, StatusUuid::from_u128(2))
                .unwrap()
                .terminated
        );
        assert!(m.is_terminated(&f, &t));
    }

    #[test]
    fn unacknowledged_lists_pending_updates_until_acknowledged() {
        let mut m = StatusUpdateManager::new(Duration::from_secs(10), Duration::from_secs(40));
        m.update(upd("t1", TaskState::Running, 1)).unwrap();
        m.update(upd("t1", TaskState::Finished, 2)).unwrap();
        m.update(upd("t2", TaskState::Running, 3)).unwrap();
        let f = FrameworkId::new("F");
        let u = |t: &str, n: u128| (TaskId::new(t), StatusUuid::from_u128(n));
        assert_eq!(
            m.unacknowledged(&f),
            vec![u("t1", 1), u("t1", 2), u("t2", 3)]
        );
        m.acknowledge(&f, &TaskId::new("t1"), StatusUuid::from_u128(1))
            .unwrap();
        assert_eq!(m.unacknowledged(&f), vec![u("t1", 2), u("t2", 3)]);
        assert!(m.unacknowledged(&FrameworkId::new("other")).is_empty());
    }

    #[test]
    fn paused_manager_queues_and_resume_forwards_every_head() {
        let mut m = live();
        m.pause();
        assert!(m
            .update(upd("a", TaskState::Running, 1))
            .unwrap()
            .is_empty());
        assert!(m
            .update(upd("b", TaskState::Running, 2))
            .unwrap()
            .is_empty());
        let out = m.resume();
        assert_eq!(forwarded(&out).len(), 2);
        // Streams are independent: acking one does not affect the other.
        let f = FrameworkId::new("F");
        m.acknowledge(&f, &TaskId::new("a"), StatusUuid::from_u128(1))
            .unwrap();
        assert_eq!(m.pending(&f, &TaskId::new("b")), 1);
        assert!(m.has_pending(&f));
        m.cleanup(&f);
        assert!(!m.has_pending(&f));
    }
}

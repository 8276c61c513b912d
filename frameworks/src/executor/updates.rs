//! The pure core of the driver: the tasks the executor runs and the status updates the
//! agent has not acknowledged.

use super::*;

/// Tasks the executor runs and the updates the agent has not acknowledged.
#[derive(Debug, Clone)]
pub struct UpdateBook {
    framework_id: FrameworkId,
    executor_id: ExecutorId,
    /// Launched tasks whose terminal update is not yet acknowledged.
    tasks: BTreeMap<TaskId, TaskInfo>,
    /// Unacknowledged updates, oldest first.
    updates: Vec<StatusUpdate>,
    rng: SplitMix64,
}

impl UpdateBook {
    /// A book for one executor; `seed` feeds the uuid generator.
    pub fn new(framework_id: FrameworkId, executor_id: ExecutorId, seed: u64) -> UpdateBook {
        let seed = hash_str(hash_str(seed, framework_id.as_str()), executor_id.as_str());
        UpdateBook {
            framework_id,
            executor_id,
            tasks: BTreeMap::new(),
            updates: Vec::new(),
            rng: SplitMix64::new(seed),
        }
    }

    /// A task arrived.
    pub fn launched(&mut self, task: TaskInfo) {
        self.tasks.insert(task.task_id.clone(), task);
    }

    /// Turns `status` into an update with a fresh uuid, the ids, the source and the
    /// timestamp, and records it as unacknowledged.
    pub fn update(
        &mut self,
        mut status: TaskStatus,
        agent_id: Option<AgentId>,
        now: f64,
    ) -> Result<StatusUpdate, UpdateError> {
        if status.state == TaskState::Staging {
            return Err(UpdateError::Staging(status.task_id));
        }
        status.uuid = Some(StatusUuid::from_bytes(self.rng.uuid_bytes()));
        status.source = Some(Source::Executor);
        status.executor_id = Some(self.executor_id.clone());
        if status.agent_id.is_none() {
            status.agent_id = agent_id.clone();
        }
        status.timestamp = now;
        let update = StatusUpdate {
            framework_id: self.framework_id.clone(),
            executor_id: Some(self.executor_id.clone()),
            agent_id,
            status,
            timestamp: now,
            latest_state: None,
        };
        self.updates.push(update.clone());
        Ok(update)
    }

    /// The agent acknowledged `uuid`: forget the update (and the task, if the update was
    /// terminal). Returns the acknowledged update, or `None` for an unknown uuid.
    pub fn acknowledge(&mut self, task_id: &TaskId, uuid: StatusUuid) -> Option<StatusUpdate> {
        let i = self
            .updates
            .iter()
            .position(|u| u.status.uuid == Some(uuid) && &u.status.task_id == task_id)?;
        let u = self.updates.remove(i);
        if u.status.state.is_terminal() {
            self.tasks.remove(task_id);
        }
        Some(u)
    }

    /// The unacknowledged updates, oldest first.
    pub fn unacknowledged(&self) -> &[StatusUpdate] {
        &self.updates
    }

    /// The tasks not yet terminal-and-acknowledged.
    pub fn tasks(&self) -> impl Iterator<Item = &TaskInfo> {
        self.tasks.values()
    }

    /// What to tell a restarted agent.
    pub fn reregister_message(&self) -> ReregisterExecutorMessage {
        ReregisterExecutorMessage {
            executor_id: self.executor_id.clone(),
            framework_id: self.framework_id.clone(),
            tasks: self.tasks.values().cloned().collect(),
            updates: self.updates.clone(),
        }
    }
}

//! Tasks and executors: kills, status updates and their acknowledgements,
//! reconciliation, and the messages relayed between schedulers and executors.

use super::*;

impl Master {
    /// `KillTaskMessage` from a scheduler.
    pub fn kill_task(&mut self, from: &Pid, msg: KillTaskMessage) -> Vec<Effect> {
        let mut fx = Vec::new();
        let Some(f) = self.scheduler(&msg.framework_id, from, "kill", &mut fx) else {
            return fx;
        };
        match f.tasks.get(&msg.task_id) {
            Some(t) => match self.agents.get(&t.agent_id) {
                Some(a) if a.connected => fx.push(Effect::Send(a.pid.clone(), msg.into())),
                _ => {
                    tracing::warn!(task = %msg.task_id, "cannot kill a task on a disconnected agent; reconcile later")
                }
            },
            None if f.unreachable_tasks.contains_key(&msg.task_id) => {
                tracing::warn!(task = %msg.task_id, "cannot kill a task on an unreachable agent");
            }
            None => {
                let s = self.master_status(
                    msg.task_id.clone(),
                    TaskState::Lost,
                    Reason::Reconciliation,
                    "Attempted to kill an unknown task",
                    None,
                );
                let u = self.update_message(&msg.framework_id, s);
                fx.push(Effect::Send(from.clone(), u.into()));
            }
        }
        fx
    }

    /// `StatusUpdateMessage` from an agent: record and forward to the scheduler.
    pub fn status_update(&mut self, from: &Pid, mut msg: StatusUpdateMessage) -> Vec<Effect> {
        let mut fx = Vec::new();
        let Some(agent_id) = self.agent_pids.get(from).cloned() else {
            return self.not_registered(from);
        };
        let fid = msg.update.framework_id.clone();
        let status = msg.update.status.clone();
        if msg.pid.is_none() {
            msg.pid = Some(from.to_string());
        }
        if !status.state.is_terminal()
            && self.told_lost_and_killed(&agent_id, &fid, &status.task_id)
        {
            // The framework (not partition-aware) was told this task is TASK_LOST and the
            // task was killed on its agent's return: the framework must not hear that it
            // lives (a `TASK_RUNNING` after `TASK_LOST`). The master acknowledges the
            // update itself, so the agent's stream moves on to the task's end. That end
            // (terminal) is forwarded: a framework that replaced the task (Marathon) learns
            // the old one is gone for good, and the agent can forget it once acknowledged.
            tracing::info!(task = %status.task_id, framework = %fid, agent = %agent_id,
                state = %status.state.as_str(),
                "update of a task its framework was told is TASK_LOST; acknowledged, not forwarded");
            if let Some(uuid) = status.uuid {
                fx.push(Effect::Send(
                    from.clone(),
                    StatusUpdateAcknowledgementMessage {
                        agent_id,
                        framework_id: fid,
                        task_id: status.task_id.clone(),
                        uuid,
                    }
                    .into(),
                ));
            }
            if !status.state.is_terminal() {
                // It still runs: the kill asked before may not have landed.
                fx.push(Effect::Send(
                    from.clone(),
                    KillTaskMessage {
                        framework_id: msg.update.framework_id.clone(),
                        task_id: status.task_id,
                        kill_policy: None,
                    }
                    .into(),
                ));
            }
            return fx;
        }
        let Some(f) = self.frameworks.get_mut(&fid).map(Arc::make_mut) else {
            tracing::warn!(framework = %fid, task = %status.task_id, "status update for an unknown framework; dropped");
            return fx;
        };
        // A task that turns terminal stays in the framework's view (reconciliation
        // reports it) until its terminal update is acknowledged (Mesos); its resources
        // go back to the allocator at once.
        // Only the agent running a task speaks for it.
        if let Some(t) = f
            .tasks
            .get(&status.task_id)
            .or_else(|| f.unreachable_tasks.get(&status.task_id))
            .filter(|t| t.agent_id != agent_id)
        {
            tracing::warn!(task = %status.task_id, agent = %agent_id, runs_on = %t.agent_id, "ignoring a status update from an agent the task does not run on");
            // (The field, not `refuse_sender`: `f` still borrows the frameworks.)
            self.refused_senders.set(self.refused_senders.get() + 1);
            return fx;
        }
        // A task this master already holds as ended on this agent (the framework was
        // told so, or is being told) that the agent now says lives: e.g. its
        // `RunTaskMessage` overtook by a newer connection the agent's answer that it never
        // got it (`TASK_LOST`), and arrived after. A terminal state is final for the
        // framework (Mesos drops updates after a terminal one): not forwarded; the master
        // acknowledges it (the agent's stream moves on) and kills the task, which its
        // framework no longer counts on.
        // (A task id launched again after its first run completed is the live one.)
        let ended = match f.tasks.get(&status.task_id) {
            Some(t) => t.state.is_terminal().then_some(t.state),
            None if f.unreachable_tasks.contains_key(&status.task_id) => None,
            None => f.ended_on(&status.task_id, &agent_id),
        };
        if let (Some(ended), false) = (ended, status.state.is_terminal()) {
            tracing::warn!(task = %status.task_id, framework = %fid, agent = %agent_id,
                state = %status.state.as_str(), ended = %ended.as_str(),
                "update says a task lives after it ended; acknowledged, not forwarded, killing the task");
            // The kill may not land before a failover, and the next leader, which never
            // heard the task ended, would adopt it: recorded with the agent's other kills
            // of lost tasks (durably, before anyone is told), the next leader kills it too.
            let key = (fid.clone(), status.task_id.clone());
            let recorded = match self.agents.get_mut(&agent_id) {
                Some(a) if !a.killed_tasks.contains(&key) => {
                    let a = Arc::make_mut(a);
                    a.killed_tasks.insert(key);
                    Some(a.killed_tasks.clone())
                }
                _ => None,
            };
            if let Some(killed) = recorded {
                if Arc::make_mut(&mut self.registry).set_killed_lost_tasks(&agent_id, killed) {
                    fx.push(Effect::PersistRegistry);
                }
            }
            if let Some(uuid) = status.uuid {
                fx.push(Effect::Send(
                    from.clone(),
                    StatusUpdateAcknowledgementMessage {
                        agent_id,
                        framework_id: fid.clone(),
                        task_id: status.task_id.clone(),
                        uuid,
                    }
                    .into(),
                ));
            }
            fx.push(Effect::Send(
                from.clone(),
                KillTaskMessage {
                    framework_id: fid,
                    task_id: status.task_id,
                    kill_policy: None,
                }
                .into(),
            ));
            return fx;
        }
        let reachable = f.tasks.contains_key(&status.task_id);
        // What the update does to the task; `Some` (its agent and resources) when it
        // just turned terminal.
        let record = |t: &mut TaskRecord| {
            let mut finished = None;
            if !t.state.is_terminal() {
                t.state = status.state;
                t.status_update_state = Some(status.state);
                t.statuses.push(status.clone());
                if t.statuses.len() > 32 {
                    t.statuses.remove(0);
                }
                if status.state.is_terminal() {
                    finished = Some((t.agent_id.clone(), t.resources.clone()));
                }
            }
            // The update the acknowledgement must name.
            if status.state == t.state {
                t.status_update_uuid = status.uuid;
            }
            finished
        };
        let finished = if reachable {
            f.tasks.update(&status.task_id, record).flatten()
        } else if let Some(mut t) = f.unreachable_tasks.remove(&status.task_id) {
            // A task on an unreachable agent that reports again is reachable again.
            let finished = record(Arc::make_mut(&mut t));
            f.tasks.insert(t);
            finished
        } else {
            None
        };
        let pid = f.connected_pid().cloned();
        if let Some((agent, resources)) = finished {
            self.count_terminal(status.state);
            if reachable {
                fx.push(Effect::Allocator(
                    RecoverResources {
                        framework_id: fid.clone(),
                        agent_id: agent,
                        resources,
                        filters: None,
                    }
                    .into(),
                ));
            }
        }
        match pid {
            Some(pid) => fx.push(Effect::Send(pid, msg.into())),
            None => {
                tracing::debug!(framework = %fid, agent = %agent_id, "framework disconnected; the agent will retry the update")
            }
        }
        fx
    }

    /// Whether `task` is one that agent `agent` was asked to kill (or must not run again)
    /// because its framework was told it is `TASK_LOST` while the agent was unreachable,
    /// and that the master has not adopted since.
    fn told_lost_and_killed(&self, agent: &AgentId, fid: &FrameworkId, task: &TaskId) -> bool {
        let killed = self
            .agents
            .get(agent)
            .is_some_and(|a| a.killed_tasks.contains(&(fid.clone(), task.clone())));
        let known = self
            .frameworks
            .get(fid)
            .is_some_and(|f| f.tasks.contains_key(task) || f.unreachable_tasks.contains_key(task));
        killed && !known
    }

    /// `StatusUpdateAcknowledgementMessage` from a scheduler: forward to the agent.
    pub fn acknowledge(
        &mut self,
        from: &Pid,
        msg: StatusUpdateAcknowledgementMessage,
    ) -> Vec<Effect> {
        let mut fx = Vec::new();
        if self
            .scheduler(&msg.framework_id, from, "acknowledgement", &mut fx)
            .is_none()
        {
            return fx;
        }
        match self.agents.get(&msg.agent_id) {
            Some(a) if a.connected => {
                let pid = a.pid.clone();
                // The terminal update is acknowledged: the task is done.
                let done = self
                    .frameworks
                    .get_mut(&msg.framework_id)
                    .map(Arc::make_mut)
                    .and_then(|f| match f.tasks.get(&msg.task_id) {
                        Some(t)
                            if t.state.is_terminal() && t.status_update_uuid == Some(msg.uuid) =>
                        {
                            f.tasks.remove(&msg.task_id)
                        }
                        _ => None,
                    });
                if let Some(t) = done {
                    self.retire_task(&msg.framework_id, t);
                }
                vec![Effect::Send(pid, msg.into())]
            }
            _ => {
                tracing::warn!(agent = %msg.agent_id, task = %msg.task_id, "acknowledgement for an unknown or disconnected agent; dropped");
                Vec::new()
            }
        }
    }

    /// `ReconcileTasksMessage`: answer with the latest known state of the named tasks
    /// (explicit) or of every task (implicit, empty list).
    pub fn reconcile(&mut self, from: &Pid, msg: ReconcileTasksMessage) -> Vec<Effect> {
        let mut fx = Vec::new();
        let Some(f) = self.scheduler(&msg.framework_id, from, "reconciliation", &mut fx) else {
            return fx;
        };
        let aware = f.info.is_partition_aware();
        let mut answers: Vec<TaskStatus> = Vec::new();
        let latest = |t: &Task, state: TaskState| -> TaskStatus {
            let last = t.statuses.last();
            let mut s = TaskStatus::new(t.task_id.clone(), state)
                .with_source(Source::Master)
                .with_reason(Reason::Reconciliation)
                .with_message("Reconciliation: Latest task state")
                .with_agent(t.agent_id.clone())
                .with_timestamp(self.now());
            s.executor_id = t.executor_id.clone();
            s.healthy = last.and_then(|l| l.healthy);
            s
        };
        let unreachable_state = if aware {
            TaskState::Unreachable
        } else {
            TaskState::Lost
        };
        // Unreachable agents on which this framework is now told its tasks are TASK_LOST.
        let mut lost_on: Vec<AgentId> = Vec::new();
        if msg.statuses.is_empty() {
            answers.extend(f.tasks.values().map(|t| latest(t, t.state)));
            answers.extend(
                f.unreachable_tasks
                    .values()
                    .map(|t| latest(t, unreachable_state)),
            );
        } else {
            for asked in &msg.statuses {
                if let Some(t) = f.tasks.get(&asked.task_id) {
                    answers.push(latest(t, t.state));
                } else if let Some(t) = f.unreachable_tasks.get(&asked.task_id) {
                    answers.push(latest(t, unreachable_state));
                } else {
                    let (state, why) = match &asked.agent_id {
                        Some(a) if self.agents.contains_key(a) => (
                            if aware {
                                TaskState::Gone
                            } else {
                                TaskState::Lost
                            },
                            "Reconciliation: Task is unknown to the agent",
                        ),
                        // Failover in progress: the agent may still re-register with it.
                        Some(a) if self.recovered.contains_key(a) => continue,
                        Some(a) if self.unreachable.contains_key(a) => {
                            if !aware {
                                lost_on.push(a.clone());
                            }
                            (unreachable_state, "Reconciliation: Task is unreachable")
                        }
                        _ => (
                            if aware {
                                TaskState::Unknown
                            } else {
                                TaskState::Lost
                            },
                            "Reconciliation: Task is unknown",
                        ),
                    };
                    let mut s = TaskStatus::new(asked.task_id.clone(), state)
                        .with_source(Source::Master)
                        .with_reason(Reason::Reconciliation)
                        .with_message(why)
                        .with_timestamp(self.now());
                    s.agent_id = asked.agent_id.clone();
                    answers.push(s);
                }
            }
        }
        let mut lost_noted = false;
        for a in &lost_on {
            // Durable before it is said: if the agent comes back, this framework's tasks
            // there must not run again.
            lost_noted |= Arc::make_mut(&mut self.registry).note_lost(a, &msg.framework_id);
        }
        if lost_noted {
            fx.push(Effect::PersistRegistry);
        }
        for s in answers {
            let u = self.update_message(&msg.framework_id, s);
            fx.push(Effect::Send(from.clone(), u.into()));
        }
        fx
    }

    /// `FrameworkToExecutorMessage` from a scheduler: forward to the agent.
    pub fn framework_to_executor(
        &mut self,
        from: &Pid,
        msg: FrameworkToExecutorMessage,
    ) -> Vec<Effect> {
        let mut fx = Vec::new();
        if self
            .scheduler(&msg.framework_id, from, "framework message", &mut fx)
            .is_none()
        {
            return fx;
        }
        match self.agents.get(&msg.agent_id) {
            Some(a) if a.connected => vec![Effect::Send(a.pid.clone(), msg.into())],
            _ => {
                tracing::warn!(agent = %msg.agent_id, "framework message for an unknown or disconnected agent; dropped");
                Vec::new()
            }
        }
    }

    /// `ExecutorToFrameworkMessage` from an agent: forward to the scheduler.
    pub fn executor_to_framework(
        &mut self,
        from: &Pid,
        msg: ExecutorToFrameworkMessage,
    ) -> Vec<Effect> {
        if !self.agent_pids.contains_key(from) {
            return self.not_registered(from);
        }
        let mut fx = Vec::new();
        let fid = msg.framework_id.clone();
        self.to_framework(&fid, msg, &mut fx);
        fx
    }

    /// `ExitedExecutorMessage` from an agent: the agent no longer runs it; forward to the
    /// scheduler.
    pub fn executor_exited(&mut self, from: &Pid, msg: ExitedExecutorMessage) -> Vec<Effect> {
        let Some(agent) = self.agent_pids.get(from).cloned() else {
            return self.not_registered(from);
        };
        if let Some(a) = self.agents.get_mut(&agent).map(Arc::make_mut) {
            a.executors
                .remove(&(msg.framework_id.clone(), msg.executor_id.clone()));
        }
        let mut fx = Vec::new();
        let fid = msg.framework_id.clone();
        self.to_framework(&fid, msg, &mut fx);
        fx
    }
}

//! The core's side of recovery after an agent restart, executor re-registration and
//! framework shutdown (Mesos `Slave::recover`, `Slave::reregisterExecutor`,
//! `Slave::shutdownFramework`): rebuilding frameworks, executors, tasks and update
//! streams from a checkpoint, taking a recovered executor back when it re-registers, and
//! the timeouts and losses around them. Pure, like [`super`]: the shell reads the
//! checkpoint and asks the containerizer which executors are alive, then feeds the
//! answers in and carries the effects out.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;
use std::time::Duration;

use libproc::Pid;
use proto::messages::{
    ExecutorRegisteredMessage, ExecutorReregisteredMessage, RegisterExecutorMessage,
    ReregisterExecutorMessage, ShutdownExecutorMessage, Task, UpdateFrameworkMessage,
};
use proto::{
    AgentId, AgentInfo, ContainerId, ExecutorId, FrameworkCapability, FrameworkId, FrameworkInfo,
    Reason, TaskId, TaskState,
};

use super::{AgentCore, Effect, Executor, ExecutorState, Framework, ToExecutor};
use crate::checkpoint::AgentCheckpoint;
use crate::paths;
use crate::status_update::replay;

/// One executor run: framework, executor, container.
pub type RunId = (FrameworkId, ExecutorId, ContainerId);

/// What [`AgentCore::recover`] found.
#[derive(Debug, Default, PartialEq)]
pub struct Recovery {
    /// Carry these out first (checkpoints of frameworks with nothing left to remove).
    pub effects: Vec<Effect>,
    /// Live executors to ask to reconnect (their libproc PIDs).
    pub reconnect: Vec<Pid>,
    /// Runs whose executor is alive: they must re-register.
    pub live: Vec<RunId>,
    /// Runs whose executor died while the agent was down: the shell turns each into an
    /// exit.
    pub dead: Vec<RunId>,
}

/// How [`AgentCore::subscribe_executor`] took a v1 executor's SUBSCRIBE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subscription {
    /// Not an executor this agent runs or launches: told to shut down.
    Refused,
    /// Its first subscription: it got its queued tasks.
    First,
    /// A re-subscription (after a broken connection or an agent restart).
    Again,
}

/// The state a task gets when its executor is lost across an agent restart.
pub fn lost_state(info: &FrameworkInfo) -> TaskState {
    if info.has_capability(FrameworkCapability::PartitionAware) {
        TaskState::Gone
    } else {
        TaskState::Lost
    }
}

impl AgentCore {
    /// Rebuilds frameworks, executors, tasks and update streams from the checkpoint of
    /// `agent` (sandboxes under `work_dir`). `alive` says whether a run's executor (by
    /// container and OS pid) still runs. A run that is the latest of its executor and not
    /// over is live (or dead, if its executor is gone, with its tasks to be lost); an
    /// over run is kept only while it has updates to deliver; a framework with nothing
    /// left is forgotten and its checkpoint removed.
    pub fn recover(
        &mut self,
        agent: AgentCheckpoint,
        work_dir: &Path,
        alive: &dyn Fn(&ContainerId, Option<i32>) -> bool,
    ) -> Recovery {
        let mut out = Recovery::default();
        for (fw_id, fc) in agent.frameworks {
            let mut framework = Framework {
                id: fw_id.clone(),
                info: fc.info.clone(),
                pid: fc.pid.clone(),
                executors: BTreeMap::new(),
                completed_executors: VecDeque::new(),
                terminating: false,
            };
            for (ex_id, ec) in fc.executors {
                for (container, run) in ec.runs {
                    let live = !run.completed && ec.latest.as_ref() == Some(&container);
                    let mut e = Executor {
                        info: ec.info.clone(),
                        framework_id: fw_id.clone(),
                        container_id: container.clone(),
                        directory: paths::sandbox(work_dir, &agent.id, &fw_id, &ex_id, &container),
                        state: ExecutorState::Launching,
                        pid: run.libprocess_pid.clone(),
                        os_pid: run.forked_pid,
                        queued: vec![],
                        launched: BTreeMap::new(),
                        terminated: BTreeMap::new(),
                        completed: VecDeque::new(),
                        resources: ec.info.resources.clone(),
                        termination: None,
                    };
                    for (task_id, tc) in run.tasks {
                        let replayed = replay(&tc.records);
                        for err in &replayed.errors {
                            tracing::warn!(task = %task_id, error = %err, "inconsistent status update log");
                        }
                        self.updates.recover(&fw_id, &task_id, &replayed);
                        let mut task = tc.info;
                        if let Some(last) = replayed.updates.last() {
                            task.state = last.status.state;
                        }
                        task.statuses = replayed
                            .updates
                            .iter()
                            .rev()
                            .take(super::MAX_TASK_STATUSES)
                            .rev()
                            .map(|u| {
                                let mut s = u.status.clone();
                                s.data = None;
                                s
                            })
                            .collect();
                        if !task.state.is_terminal() {
                            e.resources += &task.resources;
                            e.launched.insert(task_id, task);
                        } else if replayed.terminated {
                            e.completed.push_back(task);
                        } else {
                            e.terminated.insert(task_id, task);
                        }
                    }
                    if !live {
                        if !e.terminated.is_empty() {
                            e.state = ExecutorState::Terminated;
                            framework.completed_executors.push_back(e);
                        }
                        continue;
                    }
                    let key = (fw_id.clone(), ex_id.clone(), container.clone());
                    if alive(&container, run.forked_pid) {
                        tracing::info!(executor = %ex_id, pid = ?run.forked_pid, libprocess = ?run.libprocess_pid, "recovered a live executor");
                        out.live.push(key);
                        // A v1 executor's stream died with the old agent: it re-subscribes
                        // on its own.
                        if let Some(pid) = run
                            .libprocess_pid
                            .clone()
                            .filter(|p| !proto::v1::is_stream_pid(p))
                        {
                            out.reconnect.push(pid);
                        }
                    } else {
                        tracing::info!(executor = %ex_id, pid = ?run.forked_pid, "recovered executor is gone");
                        e.termination = Some((
                            lost_state(&fc.info),
                            Reason::ExecutorTerminated,
                            "Executor terminated while the agent was down".to_string(),
                        ));
                        out.dead.push(key);
                    }
                    framework.executors.insert(ex_id.clone(), e);
                }
            }
            if framework.executors.is_empty()
                && !framework
                    .completed_executors
                    .iter()
                    .any(|e| !e.terminated.is_empty())
            {
                // Nothing left to run or to deliver: forget it.
                self.updates.cleanup(&fw_id);
                out.effects.push(Effect::RemoveFrameworkCheckpoint(fw_id));
                continue;
            }
            self.frameworks.insert(fw_id, framework);
        }
        out
    }

    /// Whether one of `runs` (recovered executors) has not re-registered yet.
    pub fn awaiting_reregistration(&self, runs: &BTreeSet<RunId>) -> bool {
        runs.iter().any(|(f, e, c)| {
            self.frameworks
                .get(f)
                .and_then(|fw| fw.executors.get(e))
                .is_some_and(|x| x.container_id == *c && x.state == ExecutorState::Launching)
        })
    }

    /// The recovered executors of `runs` had `timeout` to re-register: those that have
    /// not are destroyed, and their tasks will be lost.
    pub fn reregistration_timeout(
        &mut self,
        runs: &BTreeSet<RunId>,
        timeout: Duration,
    ) -> Vec<Effect> {
        let mut out = vec![];
        for (fw, ex, container) in runs {
            let lost = self
                .frameworks
                .get(fw)
                .map(|f| lost_state(&f.info))
                .unwrap_or(TaskState::Lost);
            let Some(e) = self.executor_mut(fw, ex, container) else {
                continue;
            };
            if e.state != ExecutorState::Launching {
                continue;
            }
            tracing::warn!(executor = %ex, ?timeout, "recovered executor did not re-register in time; killing it");
            e.state = ExecutorState::Terminating;
            e.termination = Some((
                lost,
                Reason::ExecutorReregistrationTimeout,
                format!(
                    "Executor did not re-register within {}ms",
                    timeout.as_millis()
                ),
            ));
            out.push(Effect::Destroy {
                framework_id: fw.clone(),
                executor_id: ex.clone(),
                container_id: container.clone(),
            });
        }
        out
    }

    /// `ReregisterExecutorMessage` from `from`. A recovered executor (`recovered` says
    /// which runs are) still waiting is taken back: it runs again, tasks it runs that the
    /// agent did not checkpoint are adopted, and it is told it re-registered. Anything else
    /// is told to shut down. Returns whether it was taken back (then the shell records
    /// the updates it brought and calls [`AgentCore::lost_undelivered`]).
    pub fn reregister_executor(
        &mut self,
        from: &Pid,
        msg: &ReregisterExecutorMessage,
        agent: &AgentInfo,
        recovered: &BTreeSet<RunId>,
    ) -> (bool, Vec<Effect>) {
        let agent_id = agent.id.clone().unwrap_or_default();
        let Some(mut out) = self.take_back(from, msg, &agent_id, recovered) else {
            return (false, vec![shutdown(from, msg)]);
        };
        out.push(Effect::SendExecutor {
            to: from.clone(),
            message: ToExecutor::Reregistered(ExecutorReregisteredMessage {
                slave_id: agent_id,
                slave_info: agent.clone(),
            }),
        });
        (true, out)
    }

    /// A v1 executor's SUBSCRIBE from the stream `from`, with the tasks and updates it holds
    /// unacknowledged (Mesos `Slave::subscribe`). A recovered executor still waiting is
    /// taken back as by [`AgentCore::reregister_executor`]; a running one whose connection
    /// broke (or that retries) moves to the new stream; a launching one registers as by
    /// [`AgentCore::register_executor`]. Each is answered SUBSCRIBED with its infos.
    /// Anything else is told to shut down. Says how it was taken (then the shell records
    /// its updates, duplicates included, and after a re-subscription calls
    /// [`AgentCore::lost_undelivered`]).
    pub fn subscribe_executor(
        &mut self,
        from: &Pid,
        msg: &ReregisterExecutorMessage,
        agent: &AgentInfo,
        recovered: &BTreeSet<RunId>,
    ) -> (Subscription, Vec<Effect>) {
        let agent_id = agent.id.clone().unwrap_or_default();
        let (fw_id, ex_id) = (&msg.framework_id, &msg.executor_id);
        let state = self
            .frameworks
            .get(fw_id)
            .filter(|f| !f.terminating)
            .and_then(|f| f.executors.get(ex_id))
            .map(|e| {
                let run = (fw_id.clone(), ex_id.clone(), e.container_id.clone());
                (e.state, recovered.contains(&run))
            });
        let mut out = match state {
            Some((ExecutorState::Launching, false)) => {
                let register = RegisterExecutorMessage {
                    framework_id: fw_id.clone(),
                    executor_id: ex_id.clone(),
                };
                let out = self.register_executor(from, register, agent);
                return (Subscription::First, out);
            }
            Some((ExecutorState::Launching, true)) => {
                match self.take_back(from, msg, &agent_id, recovered) {
                    Some(out) => out,
                    None => return (Subscription::Refused, vec![shutdown(from, msg)]),
                }
            }
            Some((ExecutorState::Running, _)) => {
                let Some(e) = self
                    .frameworks
                    .get_mut(fw_id)
                    .and_then(|f| f.executors.get_mut(ex_id))
                else {
                    return (Subscription::Refused, vec![shutdown(from, msg)]);
                };
                tracing::info!(executor = %ex_id, %from, old = ?e.pid, "executor re-subscribed");
                e.pid = Some(from.clone());
                vec![
                    Effect::Link(from.clone()),
                    Effect::CheckpointExecutorPid {
                        framework_id: fw_id.clone(),
                        executor_id: ex_id.clone(),
                    },
                ]
            }
            _ => {
                tracing::warn!(executor = %ex_id, %from, "unexpected executor subscription; shutting it down");
                return (Subscription::Refused, vec![shutdown(from, msg)]);
            }
        };
        let Some(f) = self.frameworks.get(fw_id) else {
            return (Subscription::Refused, vec![shutdown(from, msg)]);
        };
        let Some(e) = f.executors.get(ex_id) else {
            return (Subscription::Refused, vec![shutdown(from, msg)]);
        };
        out.push(Effect::SendExecutor {
            to: from.clone(),
            message: ToExecutor::Registered(ExecutorRegisteredMessage {
                executor_info: e.info.clone(),
                framework_id: fw_id.clone(),
                framework_info: f.info.clone(),
                slave_id: agent_id,
                slave_info: agent.clone(),
            }),
        });
        (Subscription::Again, out)
    }

    /// Takes a recovered executor that is still waiting back from `from`: it runs again
    /// and tasks it runs that the agent did not checkpoint are adopted. `None` if it is not
    /// one.
    fn take_back(
        &mut self,
        from: &Pid,
        msg: &ReregisterExecutorMessage,
        agent_id: &AgentId,
        recovered: &BTreeSet<RunId>,
    ) -> Option<Vec<Effect>> {
        let (fw_id, ex_id) = (msg.framework_id.clone(), msg.executor_id.clone());
        let Some(e) = self
            .frameworks
            .get_mut(&fw_id)
            .and_then(|f| f.executors.get_mut(&ex_id))
            .filter(|e| {
                e.state == ExecutorState::Launching
                    && recovered.contains(&(fw_id.clone(), ex_id.clone(), e.container_id.clone()))
            })
        else {
            tracing::warn!(executor = %ex_id, %from, "unexpected executor re-registration; shutting it down");
            return None;
        };
        tracing::info!(executor = %ex_id, %from, tasks = msg.tasks.len(), updates = msg.updates.len(), "executor re-registered");
        e.state = ExecutorState::Running;
        e.pid = Some(from.clone());
        // Tasks the executor runs that the agent did not checkpoint (it died between
        // sending and checkpointing) are adopted.
        let mut adopted = vec![];
        for t in &msg.tasks {
            if !e.has_task(&t.task_id) && !e.completed.iter().any(|c| c.task_id == t.task_id) {
                let mut record = Task::from_info(t, fw_id.clone(), Some(ex_id.clone()));
                record.agent_id = agent_id.clone();
                e.resources += &t.resources;
                e.launched.insert(t.task_id.clone(), record);
                adopted.push(t.task_id.clone());
            }
        }
        let mut out = vec![
            Effect::Link(from.clone()),
            Effect::CheckpointExecutorPid {
                framework_id: fw_id.clone(),
                executor_id: ex_id.clone(),
            },
        ];
        out.extend(adopted.into_iter().map(|task_id| Effect::CheckpointTask {
            framework_id: fw_id.clone(),
            task_id,
        }));
        Some(out)
    }

    /// After a re-registration (and the updates it brought): tasks the agent accepted but
    /// the executor never received (`known` are those it runs) are lost (`TASK_DROPPED`
    /// for partition-aware frameworks), with `REASON_AGENT_RESTARTED`.
    pub fn lost_undelivered(
        &mut self,
        fw_id: &FrameworkId,
        ex_id: &ExecutorId,
        known: &BTreeSet<TaskId>,
    ) -> Vec<Effect> {
        let Some(f) = self.frameworks.get(fw_id) else {
            return vec![];
        };
        let state = if lost_state(&f.info) == TaskState::Gone {
            TaskState::Dropped
        } else {
            TaskState::Lost
        };
        let Some(e) = f.executors.get(ex_id) else {
            return vec![];
        };
        e.launched
            .values()
            .filter(|t| t.state == TaskState::Staging && !known.contains(&t.task_id))
            .map(|t| Effect::AgentUpdate {
                framework_id: fw_id.clone(),
                executor_id: ex_id.clone(),
                task_id: t.task_id.clone(),
                state,
                reason: Reason::AgentRestarted,
                message: "Task was not delivered to the executor before the agent restarted".into(),
            })
            .collect()
    }

    /// `ShutdownFrameworkMessage`: no more tasks for the framework, every executor of it
    /// is shut down (with `grace`), and it is removed once nothing of it is left.
    pub fn shutdown_framework(&mut self, fw: &FrameworkId, grace: Duration) -> Vec<Effect> {
        let Some(f) = self.frameworks.get_mut(fw) else {
            return vec![];
        };
        tracing::info!(framework = %fw, "shutting down framework");
        f.terminating = true;
        let executors: Vec<ExecutorId> = f.executors.keys().cloned().collect();
        let mut out = vec![];
        for ex in executors {
            out.extend(self.shutdown_executor(fw, &ex, grace));
        }
        out.extend(self.maybe_remove_framework(fw));
        out
    }

    /// `UpdateFrameworkMessage`: the scheduler's new PID and info.
    pub fn update_framework(&mut self, msg: UpdateFrameworkMessage) {
        if let Some(f) = self.frameworks.get_mut(&msg.framework_id) {
            if msg.pid.is_some() {
                f.pid = msg.pid;
            }
            if let Some(info) = msg.framework_info {
                f.info = info;
            }
        }
    }

    /// The container of the executor running `task` hit a limit: its tasks will fail with
    /// `reason` and `message`, and it is destroyed. Returns nothing if no live executor
    /// holds the task.
    pub fn container_limited(
        &mut self,
        fw: &FrameworkId,
        task: &TaskId,
        (reason, message): (Reason, String),
    ) -> Vec<Effect> {
        let Some(e) = self
            .frameworks
            .get_mut(fw)
            .and_then(|f| f.executors.values_mut().find(|e| e.has_task(task)))
        else {
            return vec![];
        };
        tracing::warn!(executor = %e.info.executor_id, %message, "container limitation; destroying the container");
        e.termination = Some((TaskState::Failed, reason, message));
        e.state = ExecutorState::Terminating;
        vec![Effect::Destroy {
            framework_id: fw.clone(),
            executor_id: e.info.executor_id.clone(),
            container_id: e.container_id.clone(),
        }]
    }
}

/// Tells the executor that sent `msg` from `from` to shut down.
fn shutdown(from: &Pid, msg: &ReregisterExecutorMessage) -> Effect {
    Effect::SendExecutor {
        to: from.clone(),
        message: ToExecutor::Shutdown(ShutdownExecutorMessage {
            executor_id: msg.executor_id.clone(),
            framework_id: msg.framework_id.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{
        ExecutorCheckpoint, FrameworkCheckpoint, RunCheckpoint, TaskCheckpoint,
    };
    use crate::status_update::UpdateRecord;
    use proto::messages::StatusUpdate;
    use proto::{AgentId, CommandInfo, ExecutorInfo, Resources, StatusUuid, TaskInfo, TaskStatus};

    fn core() -> AgentCore {
        AgentCore::new(Duration::from_secs(10), Duration::from_secs(600))
    }

    fn task(fw: &str, ex: &str, id: &str) -> Task {
        let info = TaskInfo::command_task(
            id,
            TaskId::new(id),
            AgentId::new("S1"),
            Resources::new(),
            CommandInfo::shell("true"),
        );
        Task::from_info(&info, FrameworkId::new(fw), Some(ExecutorId::new(ex)))
    }

    fn update(fw: &str, id: &str, state: TaskState, uuid: u128) -> UpdateRecord {
        UpdateRecord::Update {
            update: Box::new(StatusUpdate {
                framework_id: FrameworkId::new(fw),
                executor_id: None,
                agent_id: None,
                status: TaskStatus::new(TaskId::new(id), state)
                    .with_uuid(StatusUuid::from_u128(uuid)),
                timestamp: 0.0,
                latest_state: None,
            }),
        }
    }

    fn executor(ex: &str, runs: Vec<(&str, RunCheckpoint)>) -> ExecutorCheckpoint {
        ExecutorCheckpoint {
            info: ExecutorInfo::new(ExecutorId::new(ex), CommandInfo::shell("x")),
            latest: runs.last().map(|(c, _)| ContainerId::new(*c)),
            runs: runs
                .into_iter()
                .map(|(c, r)| (ContainerId::new(c), r))
                .collect(),
        }
    }

    fn run(
        pid: Option<i32>,
        completed: bool,
        tasks: Vec<(&str, Task, Vec<UpdateRecord>)>,
    ) -> RunCheckpoint {
        RunCheckpoint {
            forked_pid: pid,
            libprocess_pid: pid.map(|p| format!("executor({p})@127.0.0.1:1").parse().unwrap()),
            completed,
            tasks: tasks
                .into_iter()
                .map(|(id, info, records)| (TaskId::new(id), TaskCheckpoint { info, records }))
                .collect(),
        }
    }

    fn framework(executors: Vec<ExecutorCheckpoint>) -> FrameworkCheckpoint {
        let mut info = FrameworkInfo::new("fw", "nobody");
        info.checkpoint = true;
        FrameworkCheckpoint {
            info,
            pid: None,
            executors: executors
                .into_iter()
                .map(|e| (e.info.executor_id.clone(), e))
                .collect(),
        }
    }

    fn agent() -> AgentInfo {
        let mut a = AgentInfo::new("host", Resources::new());
        a.id = Some(AgentId::new("S1"));
        a
    }

    /// F: a live executor E (pid 1) with a running task and a dead one D (pid 2); G: only
    /// a finished run whose terminal update was acknowledged.
    fn checkpoint() -> AgentCheckpoint {
        let live = run(
            Some(1),
            false,
            vec![(
                "t",
                task("F", "E", "t"),
                vec![update("F", "t", TaskState::Running, 1)],
            )],
        );
        let dead = run(Some(2), false, vec![("d", task("F", "D", "d"), vec![])]);
        let done = run(
            Some(3),
            true,
            vec![(
                "g",
                task("G", "X", "g"),
                vec![
                    update("G", "g", TaskState::Finished, 5),
                    UpdateRecord::Ack {
                        uuid: StatusUuid::from_u128(5),
                    },
                ],
            )],
        );
        AgentCheckpoint {
            id: AgentId::new("S1"),
            info: agent(),
            frameworks: [
                (
                    FrameworkId::new("F"),
                    framework(vec![
                        executor("E", vec![("C1", live)]),
                        executor("D", vec![("C2", dead)]),
                    ]),
                ),
                (
                    FrameworkId::new("G"),
                    framework(vec![executor("X", vec![("C3", done)])]),
                ),
            ]
            .into_iter()
            .collect(),
        }
    }

    fn recovered(c: &mut AgentCore) -> Recovery {
        let alive = |_: &ContainerId, pid: Option<i32>| pid == Some(1);
        c.recover(checkpoint(), Path::new("/w"), &alive)
    }

    #[test]
    fn recovery_rebuilds_live_and_dead_executors_and_forgets_finished_frameworks() {
        let mut c = core();
        let found = recovered(&mut c);
        let (f, e, d) = (
            FrameworkId::new("F"),
            ExecutorId::new("E"),
            ExecutorId::new("D"),
        );
        assert_eq!(
            found.effects,
            vec![Effect::RemoveFrameworkCheckpoint(FrameworkId::new("G"))]
        );
        assert_eq!(
            found.live,
            vec![(f.clone(), e.clone(), ContainerId::new("C1"))]
        );
        assert_eq!(
            found.dead,
            vec![(f.clone(), d.clone(), ContainerId::new("C2"))]
        );
        assert_eq!(found.reconnect.len(), 1);
        assert!(!c.frameworks.contains_key(&FrameworkId::new("G")));
        let ex = &c.frameworks[&f].executors[&e];
        assert_eq!(ex.state, ExecutorState::Launching);
        assert_eq!(ex.launched[&TaskId::new("t")].state, TaskState::Running);
        assert_eq!(
            ex.directory,
            Path::new("/w/slaves/S1/frameworks/F/executors/E/runs/C1")
        );
        assert!(
            c.updates.has_pending(&f),
            "the running update is unacknowledged"
        );
        let dead = &c.frameworks[&f].executors[&d];
        assert_eq!(
            dead.termination.as_ref().map(|t| (t.0, t.1)),
            Some((TaskState::Lost, Reason::ExecutorTerminated))
        );
        // Re-registration with the master reports the recovered task.
        let (_, tasks, _) = c.reregistration(&agent());
        assert!(tasks.iter().any(|t| t.task_id == TaskId::new("t")));
    }

    #[test]
    fn a_recovered_executor_reregisters_and_undelivered_tasks_are_lost() {
        let mut c = core();
        let found = recovered(&mut c);
        let runs: BTreeSet<RunId> = found.live.into_iter().collect();
        assert!(c.awaiting_reregistration(&runs));
        let pid: Pid = "executor(1)@127.0.0.1:1".parse().unwrap();
        let (f, e) = (FrameworkId::new("F"), ExecutorId::new("E"));
        // An executor this agent did not recover is told to shut down.
        let stranger = ReregisterExecutorMessage {
            executor_id: ExecutorId::new("D"),
            framework_id: f.clone(),
            tasks: vec![],
            updates: vec![],
        };
        let (taken, out) = c.reregister_executor(&pid, &stranger, &agent(), &runs);
        assert!(!taken);
        assert!(matches!(
            &out[..],
            [Effect::SendExecutor {
                message: ToExecutor::Shutdown(_),
                ..
            }]
        ));
        // E comes back running a task the agent never checkpointed ("new"); the agent's
        // staging task "s" never reached it.
        if let Some(ex) = c
            .frameworks
            .get_mut(&f)
            .and_then(|x| x.executors.get_mut(&e))
        {
            ex.launched.insert(TaskId::new("s"), task("F", "E", "s"));
        }
        let new = TaskInfo::command_task(
            "new",
            TaskId::new("new"),
            AgentId::new("S1"),
            Resources::new(),
            CommandInfo::shell("true"),
        );
        let old = TaskInfo::command_task(
            "t",
            TaskId::new("t"),
            AgentId::new("S1"),
            Resources::new(),
            CommandInfo::shell("true"),
        );
        let msg = ReregisterExecutorMessage {
            executor_id: e.clone(),
            framework_id: f.clone(),
            tasks: vec![old, new],
            updates: vec![],
        };
        let (taken, out) = c.reregister_executor(&pid, &msg, &agent(), &runs);
        assert!(taken);
        let kinds: Vec<&str> = out
            .iter()
            .map(|x| match x {
                Effect::Link(_) => "link",
                Effect::CheckpointExecutorPid { .. } => "pid",
                Effect::CheckpointTask { .. } => "task",
                Effect::SendExecutor {
                    message: ToExecutor::Reregistered(_),
                    ..
                } => "reregistered",
                _ => "other",
            })
            .collect();
        assert_eq!(kinds, vec!["link", "pid", "task", "reregistered"]);
        assert!(!c.awaiting_reregistration(&runs));
        let known: BTreeSet<TaskId> = msg.tasks.iter().map(|t| t.task_id.clone()).collect();
        let lost = c.lost_undelivered(&f, &e, &known);
        assert_eq!(
            lost,
            vec![Effect::AgentUpdate {
                framework_id: f.clone(),
                executor_id: e.clone(),
                task_id: TaskId::new("s"),
                state: TaskState::Lost,
                reason: Reason::AgentRestarted,
                message: "Task was not delivered to the executor before the agent restarted".into(),
            }]
        );
        // Running again: the re-registration timeout leaves it alone.
        assert!(c
            .reregistration_timeout(&runs, Duration::from_secs(2))
            .is_empty());
    }

    #[test]
    fn a_v1_executor_resubscribes_the_reregistration_way_and_gets_subscribed() {
        let mut c = core();
        let found = recovered(&mut c);
        let runs: BTreeSet<RunId> = found.live.into_iter().collect();
        let (f, e) = (FrameworkId::new("F"), ExecutorId::new("E"));
        // The agent had also accepted "s", which never reached the executor.
        if let Some(ex) = c
            .frameworks
            .get_mut(&f)
            .and_then(|x| x.executors.get_mut(&e))
        {
            ex.launched.insert(TaskId::new("s"), task("F", "E", "s"));
        }
        let stream: Pid = proto::v1::stream_pid("executor", "one", "127.0.0.1:1".parse().unwrap());
        let t = TaskInfo::command_task(
            "t",
            TaskId::new("t"),
            AgentId::new("S1"),
            Resources::new(),
            CommandInfo::shell("true"),
        );
        let msg = ReregisterExecutorMessage {
            executor_id: e.clone(),
            framework_id: f.clone(),
            tasks: vec![t],
            updates: vec![],
        };
        // One this agent launched (not recovered) subscribes for the first time: it
        // registers, and the shell looks for no undelivered tasks.
        let mut fresh = core();
        recovered(&mut fresh);
        let (how, out) = fresh.subscribe_executor(&stream, &msg, &agent(), &BTreeSet::new());
        assert_eq!(how, Subscription::First);
        assert!(out.iter().any(|x| matches!(
            x,
            Effect::SendExecutor {
                message: ToExecutor::Registered(_),
                ..
            }
        )));
        let (taken, out) = c.subscribe_executor(&stream, &msg, &agent(), &runs);
        assert_eq!(taken, Subscription::Again);
        assert!(
            matches!(&out[0], Effect::Link(p) if *p == stream),
            "{out:?}"
        );
        // A v1 executor gets SUBSCRIBED with its infos, not a bare re-registration.
        let Some(Effect::SendExecutor {
            to,
            message: ToExecutor::Registered(m),
        }) = out.last()
        else {
            panic!("no SUBSCRIBED: {out:?}")
        };
        assert_eq!(to, &stream);
        assert_eq!(m.executor_info.executor_id, e);
        assert_eq!(m.framework_info.name, "fw");
        assert_eq!(m.slave_id, AgentId::new("S1"));
        assert!(!c.awaiting_reregistration(&runs));
        let known: BTreeSet<TaskId> = msg.tasks.iter().map(|t| t.task_id.clone()).collect();
        let lost = c.lost_undelivered(&f, &e, &known);
        assert!(
            matches!(&lost[..], [Effect::AgentUpdate { task_id, state: TaskState::Lost, .. }] if *task_id == TaskId::new("s")),
            "{lost:?}"
        );

        // Its connection breaks and it subscribes again: it moves to the new stream.
        let again: Pid = proto::v1::stream_pid("executor", "two", "127.0.0.1:1".parse().unwrap());
        let (taken, out) = c.subscribe_executor(&again, &msg, &agent(), &runs);
        assert_eq!(taken, Subscription::Again);
        assert_eq!(c.frameworks[&f].executors[&e].pid.as_ref(), Some(&again));
        assert!(matches!(
            out.last(),
            Some(Effect::SendExecutor {
                message: ToExecutor::Registered(_),
                ..
            })
        ));

        // An executor this agent does not run is told to shut down.
        let stranger = ReregisterExecutorMessage {
            executor_id: ExecutorId::new("nope"),
            ..msg.clone()
        };
        let (taken, out) = c.subscribe_executor(&again, &stranger, &agent(), &runs);
        assert_eq!(taken, Subscription::Refused);
        assert!(matches!(
            &out[..],
            [Effect::SendExecutor {
                message: ToExecutor::Shutdown(_),
                ..
            }]
        ));
    }

    #[test]
    fn a_recovered_v1_executor_is_not_asked_to_reconnect() {
        let mut cp = checkpoint();
        let stream: Pid = proto::v1::stream_pid("executor", "one", "127.0.0.1:1".parse().unwrap());
        for fw in cp.frameworks.values_mut() {
            for ex in fw.executors.values_mut() {
                for r in ex.runs.values_mut() {
                    r.libprocess_pid = Some(stream.clone());
                }
            }
        }
        let mut c = core();
        let alive = |_: &ContainerId, pid: Option<i32>| pid == Some(1);
        let found = c.recover(cp, Path::new("/w"), &alive);
        assert!(found.reconnect.is_empty(), "{:?}", found.reconnect);
        // It is still waited for.
        assert_eq!(found.live.len(), 1);
    }

    #[test]
    fn an_executor_that_does_not_reregister_in_time_is_destroyed_and_its_tasks_will_be_lost() {
        let mut c = core();
        let found = recovered(&mut c);
        let runs: BTreeSet<RunId> = found.live.into_iter().collect();
        let out = c.reregistration_timeout(&runs, Duration::from_secs(2));
        assert!(matches!(&out[..], [Effect::Destroy { .. }]), "{out:?}");
        let ex = &c.frameworks[&FrameworkId::new("F")].executors[&ExecutorId::new("E")];
        assert_eq!(ex.state, ExecutorState::Terminating);
        assert_eq!(
            ex.termination,
            Some((
                TaskState::Lost,
                Reason::ExecutorReregistrationTimeout,
                "Executor did not re-register within 2000ms".into()
            ))
        );
    }

    #[test]
    fn shutting_a_framework_down_shuts_its_executors_down_and_ignores_its_new_tasks() {
        let mut c = core();
        let found = recovered(&mut c);
        let runs: BTreeSet<RunId> = found.live.into_iter().collect();
        let pid: Pid = "executor(1)@127.0.0.1:1".parse().unwrap();
        let f = FrameworkId::new("F");
        let msg = ReregisterExecutorMessage {
            executor_id: ExecutorId::new("E"),
            framework_id: f.clone(),
            tasks: vec![],
            updates: vec![],
        };
        c.reregister_executor(&pid, &msg, &agent(), &runs);
        let grace = Duration::from_secs(5);
        let out = c.shutdown_framework(&f, grace);
        // E (registered) is asked, then destroyed after the grace period; D (never
        // registered again) is destroyed at once.
        let shutdowns = out
            .iter()
            .filter(|x| {
                matches!(
                    x,
                    Effect::SendExecutor {
                        message: ToExecutor::Shutdown(_),
                        ..
                    }
                )
            })
            .count();
        assert_eq!(shutdowns, 1, "{out:?}");
        assert!(out
            .iter()
            .any(|x| matches!(x, Effect::DestroyAfter { delay, .. } if *delay == grace)));
        assert!(out.iter().any(|x| matches!(x, Effect::Destroy { .. })));
        assert!(c.frameworks[&f].terminating);
        assert!(c
            .shutdown_framework(&FrameworkId::new("nope"), grace)
            .is_empty());
        // Its scheduler moves: the new PID is kept.
        c.update_framework(UpdateFrameworkMessage {
            framework_id: f.clone(),
            pid: Some("scheduler(2)@127.0.0.1:2".into()),
            framework_info: None,
        });
        assert_eq!(
            c.frameworks[&f].pid.as_deref(),
            Some("scheduler(2)@127.0.0.1:2")
        );
    }

    #[test]
    fn a_container_over_its_limit_is_destroyed_and_its_tasks_fail_with_the_reason() {
        let mut c = core();
        recovered(&mut c);
        let f = FrameworkId::new("F");
        let out = c.container_limited(
            &f,
            &TaskId::new("t"),
            (Reason::ContainerLimitation, "Memory limit exceeded".into()),
        );
        assert!(matches!(&out[..], [Effect::Destroy { .. }]), "{out:?}");
        let ex = &c.frameworks[&f].executors[&ExecutorId::new("E")];
        assert_eq!(
            ex.termination,
            Some((
                TaskState::Failed,
                Reason::ContainerLimitation,
                "Memory limit exceeded".into()
            ))
        );
        assert!(c
            .container_limited(
                &f,
                &TaskId::new("unknown"),
                (Reason::ContainerLimitation, String::new())
            )
            .is_empty());
    }
}

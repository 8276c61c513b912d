//! The agent's bookkeeping as a pure state machine: frameworks, executors, tasks and the
//! status-update streams ([`StatusUpdateManager`]). Each input (an update to record, an
//! acknowledgement, a retry timer firing, the master connecting or going away, an executor
//! registering or exiting, a task, a kill) is a method call returning the [`Effect`]s for the actor shell
//! ([`super::AgentProcess`]) to carry out, in order: send to the master or an executor,
//! arm a retry timer, write a checkpoint, make an update of the agent's own, shut an
//! executor down. Timers are never cancelled: each carries its stream's generation and is
//! ignored when that no longer matches.
//!
//! The core touches no runtime, file or process: no actix, tokio, `std::fs`,
//! `std::process`, `nix` or libproc context, and reads no clock. The unit test
//! `core_has_no_runtime_filesystem_or_process_calls` checks the text of this file and of
//! `core/recovered.rs` (outside their tests) for those paths; by hand:
//! `for f in slave/src/agent/core.rs slave/src/agent/core/*.rs; do sed '/^#\[cfg(test)/,$d' $f | grep -v '^ *//' | grep -nE 'actix|tokio|std::(fs|process|thread|net)|nix::|Ctx<'; done`
//! prints nothing.
//!
//! Also here: updates of the agent's own (`agent_update`, stamped by the shell's clock and
//! RNG), executor registration (`register_executor`, `registration_timeout`), kills (`kill_task`),
//! executor shutdowns (`shutdown_executor`) and exits (`executor_exited`), and where a task goes (`run_task`: to its running
//! executor, its launching executor's queue, or a new executor). [`recovered`] holds
//! recovery from a checkpoint (`recover`), executor re-registration and its timeout, the
//! tasks lost across a restart, framework shutdown and updates, and container limits.
//! Still in the shell: choosing the executor for a task (it depends on the configured
//! containerizers) and the launch itself, which records the starting [`Executor`] with
//! [`AgentCore::add_executor`].

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::time::Duration;

use libproc::Pid;
use proto::messages::{
    ExecutorRegisteredMessage, ExecutorReregisteredMessage, ExitedExecutorMessage, KillTaskMessage,
    ReconcileTasksMessage, RegisterExecutorMessage, RunTaskMessage, ShutdownExecutorMessage,
    StatusUpdate, Task,
};
use proto::{
    AgentInfo, ContainerId, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, Reason,
    Resources, Source, StatusUuid, TaskId, TaskInfo, TaskState, TaskStatus,
};

use crate::status_update::{StatusUpdateManager, UpdateEffect, UpdateRecord};

mod recovered;
mod reported_lost;
pub use recovered::{lost_state, Recovery, RunId, Subscription};
pub use reported_lost::{ReportedLost, MAX_REPORTED_LOST};

const MAX_COMPLETED_FRAMEWORKS: usize = 50;
const MAX_COMPLETED_EXECUTORS: usize = 150;
const MAX_COMPLETED_TASKS: usize = 1000;
/// How many of a task's statuses the agent keeps (for `/state`).
const MAX_TASK_STATUSES: usize = 20;

/// Lifecycle of an executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutorState {
    /// Started, not yet registered.
    Launching,
    /// Registered; tasks go straight to it.
    Running,
    /// Being shut down or killed.
    Terminating,
    /// Its process exited.
    Terminated,
}

impl ExecutorState {
    /// The name `/state` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutorState::Launching => "REGISTERING",
            ExecutorState::Running => "RUNNING",
            ExecutorState::Terminating => "TERMINATING",
            ExecutorState::Terminated => "TERMINATED",
        }
    }
}

/// One executor run on this agent.
#[derive(Debug)]
pub struct Executor {
    /// Its info (as launched).
    pub info: ExecutorInfo,
    /// Its framework.
    pub framework_id: FrameworkId,
    /// The container (run) id.
    pub container_id: ContainerId,
    /// The sandbox.
    pub directory: PathBuf,
    /// Lifecycle state.
    pub state: ExecutorState,
    /// Its libproc PID once registered.
    pub pid: Option<Pid>,
    /// OS pid of its process (also its session and process group id).
    pub os_pid: Option<i32>,
    /// Tasks waiting for it to register.
    pub queued: Vec<TaskInfo>,
    /// Tasks sent to it and not terminal.
    pub launched: BTreeMap<TaskId, Task>,
    /// Terminal tasks whose terminal update is not acknowledged yet.
    pub terminated: BTreeMap<TaskId, Task>,
    /// Terminal, acknowledged tasks.
    pub completed: VecDeque<Task>,
    /// Resources it and its live tasks use.
    pub resources: Resources,
    /// State, reason and message its remaining tasks get when it exits.
    pub termination: Option<(TaskState, Reason, String)>,
}

impl Executor {
    /// An executor of `framework_id` starting in `container_id` with its sandbox at
    /// `directory`, to run `task` first once it registers.
    pub fn launching(
        info: ExecutorInfo,
        framework_id: FrameworkId,
        container_id: ContainerId,
        directory: PathBuf,
        task: TaskInfo,
        resources: Resources,
    ) -> Executor {
        Executor {
            info,
            framework_id,
            container_id,
            directory,
            state: ExecutorState::Launching,
            pid: None,
            os_pid: None,
            queued: vec![task],
            launched: BTreeMap::new(),
            terminated: BTreeMap::new(),
            completed: VecDeque::new(),
            resources,
            termination: None,
        }
    }

    /// A launched or terminated (unacknowledged) task.
    pub fn find_task_mut(&mut self, task_id: &TaskId) -> Option<&mut Task> {
        if self.launched.contains_key(task_id) {
            self.launched.get_mut(task_id)
        } else {
            self.terminated.get_mut(task_id)
        }
    }

    /// Whether the task is queued, launched or terminated here.
    pub fn has_task(&self, task_id: &TaskId) -> bool {
        self.launched.contains_key(task_id)
            || self.terminated.contains_key(task_id)
            || self.queued.iter().any(|t| t.task_id == *task_id)
    }
}

/// A framework with executors on this agent.
#[derive(Debug)]
pub struct Framework {
    /// Its id.
    pub id: FrameworkId,
    /// Its info.
    pub info: FrameworkInfo,
    /// The scheduler's PID, if known.
    pub pid: Option<String>,
    /// Live executors.
    pub executors: BTreeMap<ExecutorId, Executor>,
    /// Exited executors (most recent last).
    pub completed_executors: VecDeque<Executor>,
    /// Being shut down: no more tasks, and its tasks get no updates when executors exit.
    pub terminating: bool,
}

/// What the shell must do after a core call, in order.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // short-lived, carried straight out by the shell
pub enum Effect {
    /// Send the update to the master (`StatusUpdateMessage` with the agent's PID).
    ForwardUpdate(StatusUpdate),
    /// Tell the master straight away (no update stream) that this agent does not have the
    /// task, in `state` (`TASK_LOST`, or `TASK_DROPPED` for a partition-aware framework),
    /// stamped by the shell.
    ReportUnknownTask {
        /// The task's framework.
        framework_id: FrameworkId,
        /// The task.
        task_id: TaskId,
        /// `TASK_LOST` or `TASK_DROPPED`.
        state: TaskState,
        /// Why, for the status message.
        message: String,
    },
    /// After `delay`, call [`AgentCore::retry_update`] with these arguments.
    RetryUpdate {
        /// The stream's framework.
        framework_id: FrameworkId,
        /// The stream's task.
        task_id: TaskId,
        /// The stream's generation when armed.
        generation: u64,
        /// How long to wait.
        delay: Duration,
    },
    /// Append `record` to the task's checkpointed update log (the framework checkpoints).
    CheckpointUpdate {
        /// The framework.
        framework_id: FrameworkId,
        /// The executor whose run holds the task.
        executor_id: ExecutorId,
        /// That run.
        container_id: ContainerId,
        /// The task.
        task_id: TaskId,
        /// The record to append.
        record: UpdateRecord,
    },
    /// The framework has left this agent: remove its checkpoint.
    RemoveFrameworkCheckpoint(FrameworkId),
    /// Send a message to an executor.
    SendExecutor {
        /// The executor's PID.
        to: Pid,
        /// The message.
        message: ToExecutor,
    },
    /// Link to the (now registered) executor, to learn when it goes away.
    Link(Pid),
    /// Checkpoint the executor's PID (it registered).
    CheckpointExecutorPid {
        /// Its framework.
        framework_id: FrameworkId,
        /// The executor.
        executor_id: ExecutorId,
    },
    /// Make an update of the agent's own for the task (it stamps uuid and time) and
    /// record it.
    AgentUpdate {
        /// The task's framework.
        framework_id: FrameworkId,
        /// Its executor.
        executor_id: ExecutorId,
        /// The task.
        task_id: TaskId,
        /// The state.
        state: TaskState,
        /// Why.
        reason: Reason,
        /// The message.
        message: String,
    },
    /// Destroy the executor's container now (if that run is still live).
    Destroy {
        /// Its framework.
        framework_id: FrameworkId,
        /// The executor.
        executor_id: ExecutorId,
        /// The run.
        container_id: ContainerId,
    },
    /// After `delay`, destroy the container if that run is still live (the executor did
    /// not exit within its shutdown grace period).
    DestroyAfter {
        /// Its framework.
        framework_id: FrameworkId,
        /// The executor.
        executor_id: ExecutorId,
        /// The run.
        container_id: ContainerId,
        /// How long to wait.
        delay: Duration,
    },
    /// Launch a new executor run for `framework_id` with `task` queued on it.
    LaunchExecutor {
        /// The framework.
        framework_id: FrameworkId,
        /// The executor to launch.
        executor: ExecutorInfo,
        /// Its first task.
        task: TaskInfo,
    },
    /// The container's resources changed (a task joined its executor).
    UpdateContainer {
        /// The container.
        container_id: ContainerId,
        /// What it and its tasks now use.
        resources: Resources,
    },
    /// Checkpoint the task's record (if its framework checkpoints).
    CheckpointTask {
        /// Its framework.
        framework_id: FrameworkId,
        /// The task.
        task_id: TaskId,
    },
    /// Send the master an `ExitedExecutorMessage`.
    ExecutorExited(ExitedExecutorMessage),
    /// Mark the executor run as over in its checkpoint (the framework checkpoints).
    CheckpointSentinel {
        /// Its framework.
        framework_id: FrameworkId,
        /// The executor.
        executor_id: ExecutorId,
        /// The run.
        container_id: ContainerId,
    },
    /// Shut the executor down (gracefully, then by force).
    ShutdownExecutor {
        /// Its framework.
        framework_id: FrameworkId,
        /// The executor.
        executor_id: ExecutorId,
    },
    /// The executor run is over: its sandbox (and checkpointed run) may be garbage
    /// collected.
    RunFinished {
        /// Its framework.
        framework_id: FrameworkId,
        /// The executor.
        executor_id: ExecutorId,
        /// The run.
        container_id: ContainerId,
        /// Its sandbox.
        directory: PathBuf,
        /// Whether its framework checkpoints (the run has a checkpoint too).
        checkpoint: bool,
    },
    /// The framework left this agent: its sandbox directory may be garbage collected.
    FrameworkFinished(FrameworkId),
}

/// What the agent does about an executor whose connection broke
/// ([`AgentCore::executor_disconnected`]).
#[derive(Debug, PartialEq)]
pub enum Disconnected {
    /// It was not the connection of a running executor: nothing.
    Unknown,
    /// Carry out these effects: the executor is being shut down.
    Shutdown(Vec<Effect>),
    /// Its framework checkpoints: call [`AgentCore::executor_reconnect_expired`] after
    /// the recovery timeout.
    AwaitResubscription {
        /// Its framework.
        framework_id: FrameworkId,
        /// The executor.
        executor_id: ExecutorId,
    },
}

/// A message the agent sends an executor.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum ToExecutor {
    /// Registered, with its infos.
    Registered(ExecutorRegisteredMessage),
    /// Re-registered after an agent restart.
    Reregistered(ExecutorReregisteredMessage),
    /// A task to run.
    RunTask(RunTaskMessage),
    /// Kill a task.
    KillTask(KillTaskMessage),
    /// Shut down (unknown or unexpected executor).
    Shutdown(ShutdownExecutorMessage),
}

impl From<UpdateEffect> for Effect {
    fn from(e: UpdateEffect) -> Effect {
        match e {
            UpdateEffect::Forward(u) => Effect::ForwardUpdate(u),
            UpdateEffect::RetryAfter {
                framework_id,
                task_id,
                generation,
                delay,
            } => Effect::RetryUpdate {
                framework_id,
                task_id,
                generation,
                delay,
            },
        }
    }
}

/// The agent's frameworks, executors, tasks and update streams.
#[derive(Debug)]
pub struct AgentCore {
    /// Frameworks with executors (or undelivered updates) here.
    pub frameworks: BTreeMap<FrameworkId, Framework>,
    /// Frameworks that left (most recent last).
    pub completed_frameworks: VecDeque<Framework>,
    /// The status-update streams.
    pub updates: StatusUpdateManager,
    /// Tasks the agent told the master it never got: a late launch of one is refused.
    pub reported_lost: ReportedLost,
}

impl AgentCore {
    /// Records a starting executor (see [`Executor::launching`]) under `id`; `false` if
    /// its framework is gone (then nothing is recorded).
    pub fn add_executor(&mut self, id: ExecutorId, executor: Executor) -> bool {
        match self.frameworks.get_mut(&executor.framework_id) {
            Some(f) => {
                f.executors.insert(id, executor);
                true
            }
            None => false,
        }
    }

    /// Nothing known; update retries back off from `retry_min` doubling to `retry_max`.
    pub fn new(retry_min: Duration, retry_max: Duration) -> AgentCore {
        AgentCore {
            frameworks: BTreeMap::new(),
            completed_frameworks: VecDeque::new(),
            updates: StatusUpdateManager::new(retry_min, retry_max),
            reported_lost: ReportedLost::default(),
        }
    }

    /// The agent (re-)registered: every stream's head goes out now.
    pub fn connected(&mut self) -> Vec<Effect> {
        self.updates
            .resume()
            .into_iter()
            .map(Effect::from)
            .collect()
    }

    /// The master is gone: nothing is forwarded until [`AgentCore::connected`].
    pub fn disconnected(&mut self) {
        self.updates.pause();
    }

    /// A stream's retry timer fired.
    pub fn retry_update(
        &mut self,
        framework_id: &FrameworkId,
        task_id: &TaskId,
        generation: u64,
    ) -> Vec<Effect> {
        self.updates
            .retry(framework_id, task_id, generation)
            .into_iter()
            .map(Effect::from)
            .collect()
    }

    /// The executor (live or completed) whose run holds `task`.
    pub fn run_of(&self, fw: &FrameworkId, task: &TaskId) -> Option<&Executor> {
        let f = self.frameworks.get(fw)?;
        f.executors.values().find(|e| e.has_task(task)).or_else(|| {
            f.completed_executors
                .iter()
                .rev()
                .find(|e| e.has_task(task) || e.completed.iter().any(|t| t.task_id == *task))
        })
    }

    /// The checkpoint of `record` if the framework checkpoints and the task has a run.
    fn checkpoint_record(
        &self,
        fw: &FrameworkId,
        task: &TaskId,
        record: UpdateRecord,
    ) -> Option<Effect> {
        if !self.frameworks.get(fw).is_some_and(|f| f.info.checkpoint) {
            return None;
        }
        let e = self.run_of(fw, task)?;
        Some(Effect::CheckpointUpdate {
            framework_id: fw.clone(),
            executor_id: e.info.executor_id.clone(),
            container_id: e.container_id.clone(),
            task_id: task.clone(),
            record,
        })
    }

    /// Records an update (from an executor or the agent itself) in the task bookkeeping and
    /// its stream: checkpointed before it is forwarded (Mesos's order). A duplicate, or an
    /// update of a stream that has terminated, is dropped with a warning.
    pub fn record_update(&mut self, update: StatusUpdate) -> Vec<Effect> {
        let status = update.status.clone();
        if let Some(f) = self.frameworks.get_mut(&update.framework_id) {
            let executor = f
                .executors
                .values_mut()
                .find(|e| e.has_task(&status.task_id));
            if let Some(e) = executor {
                if let Some(task) = e.find_task_mut(&status.task_id) {
                    task.state = status.state;
                    let mut short = status.clone();
                    short.data = None;
                    task.statuses.push(short);
                    if task.statuses.len() > MAX_TASK_STATUSES {
                        task.statuses.remove(0);
                    }
                }
                if status.state.is_terminal() {
                    if let Some(task) = e.launched.remove(&status.task_id) {
                        e.resources -= &task.resources;
                        e.terminated.insert(task.task_id.clone(), task);
                    }
                }
            }
        }
        let fw = update.framework_id.clone();
        let record = UpdateRecord::Update {
            update: Box::new(update.clone()),
        };
        match self.updates.update(update) {
            Ok(effects) => self
                .checkpoint_record(&fw, &status.task_id, record)
                .into_iter()
                .chain(effects.into_iter().map(Effect::from))
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "status update not recorded");
                vec![]
            }
        }
    }

    /// The scheduler's acknowledgement (relayed by the master) of `uuid`: checkpoint it,
    /// send the stream's next update, complete the task if its terminal update was
    /// acknowledged, and remove the framework if nothing of it is left.
    pub fn acknowledge(
        &mut self,
        framework_id: &FrameworkId,
        task_id: &TaskId,
        uuid: StatusUuid,
    ) -> Vec<Effect> {
        match self.updates.acknowledge(framework_id, task_id, uuid) {
            Err(e) => {
                tracing::warn!(error = %e, "ignoring acknowledgement");
                vec![]
            }
            Ok(acked) => {
                let mut out: Vec<Effect> = self
                    .checkpoint_record(framework_id, task_id, UpdateRecord::Ack { uuid })
                    .into_iter()
                    .collect();
                out.extend(acked.effects.into_iter().map(Effect::from));
                if acked.terminated {
                    self.complete_task(framework_id, task_id);
                }
                out.extend(self.maybe_remove_framework(framework_id));
                out
            }
        }
    }

    /// Moves a task whose terminal update was acknowledged to its executor's completed
    /// tasks.
    fn complete_task(&mut self, framework_id: &FrameworkId, task_id: &TaskId) {
        let Some(f) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        for e in f
            .executors
            .values_mut()
            .chain(f.completed_executors.iter_mut())
        {
            if let Some(t) = e.terminated.remove(task_id) {
                e.completed.push_back(t);
                if e.completed.len() > MAX_COMPLETED_TASKS {
                    e.completed.pop_front();
                }
                return;
            }
        }
    }

    /// Removes the framework if it has no executors left and nothing to deliver (or is
    /// being shut down).
    pub fn maybe_remove_framework(&mut self, framework_id: &FrameworkId) -> Vec<Effect> {
        let done = self.frameworks.get(framework_id).is_some_and(|f| {
            f.executors.is_empty() && (f.terminating || !self.updates.has_pending(framework_id))
        });
        if !done {
            return vec![];
        }
        let Some(f) = self.frameworks.remove(framework_id) else {
            return vec![];
        };
        tracing::info!(framework = %framework_id, "framework has no executors left; removing it");
        self.updates.cleanup(framework_id);
        self.completed_frameworks.push_back(f);
        if self.completed_frameworks.len() > MAX_COMPLETED_FRAMEWORKS {
            self.completed_frameworks.pop_front();
        }
        vec![
            Effect::FrameworkFinished(framework_id.clone()),
            Effect::RemoveFrameworkCheckpoint(framework_id.clone()),
        ]
    }

    /// The frameworks, executors and tasks a `ReregisterSlaveMessage` reports; each task
    /// carries the state and uuid of its stream's unacknowledged head.
    pub fn reregistration(
        &self,
        agent: &AgentInfo,
    ) -> (Vec<ExecutorInfo>, Vec<Task>, Vec<FrameworkInfo>) {
        let mut executor_infos = vec![];
        let mut tasks = vec![];
        let mut frameworks = vec![];
        for f in self.frameworks.values() {
            let mut info = f.info.clone();
            info.id = Some(f.id.clone());
            frameworks.push(info);
            for e in f.executors.values() {
                executor_infos.push(e.info.clone());
                for t in e.queued.iter() {
                    let mut task =
                        Task::from_info(t, f.id.clone(), Some(e.info.executor_id.clone()));
                    task.agent_id = agent.id.clone().unwrap_or_default();
                    tasks.push(task);
                }
                for t in e.launched.values().chain(e.terminated.values()) {
                    let mut t = t.clone();
                    if let Some(head) = self.updates.head(&f.id, &t.task_id) {
                        t.status_update_state = Some(head.status.state);
                        t.status_update_uuid = head.status.uuid;
                    }
                    tasks.push(t);
                }
            }
            // An exited executor's tasks whose terminal update is not acknowledged yet are
            // still the agent's to report (Mesos keeps such an executor until then): a
            // master that never heard of them would answer a reconciliation with
            // TASK_GONE while their TASK_FINISHED is still on its way, and the framework
            // would run them again (found by chronos's Jepsen test, across a master
            // failover).
            for e in &f.completed_executors {
                for t in e.terminated.values() {
                    let Some(head) = self.updates.head(&f.id, &t.task_id) else {
                        continue;
                    };
                    let mut t = t.clone();
                    t.status_update_state = Some(head.status.state);
                    t.status_update_uuid = head.status.uuid;
                    tasks.push(t);
                }
            }
        }
        (executor_infos, tasks, frameworks)
    }

    /// A task from the master (`RunTaskMessage`, already validated by the shell) for the
    /// executor `executor`: it goes to that executor if it runs, waits in its queue if it
    /// is launching, is lost if it is terminating, and starts a new executor otherwise.
    /// Tasks of a framework being shut down and duplicates are ignored. A task this agent
    /// already reported it never got (see [`AgentCore::unknown_tasks`]) is a stale launch
    /// that arrived after the answer: it is not run, and is reported lost again.
    pub fn run_task(
        &mut self,
        msg: RunTaskMessage,
        executor: ExecutorInfo,
        agent: &AgentInfo,
    ) -> Vec<Effect> {
        let fw_id = msg.framework_id.clone();
        let task = msg.task;
        if self.reported_lost.contains(&fw_id, &task.task_id) {
            tracing::warn!(task = %task.task_id, framework = %fw_id, "refusing a launch of a task this agent already reported lost (a stale RunTaskMessage)");
            let state = if msg.framework.is_partition_aware() {
                TaskState::Dropped
            } else {
                TaskState::Lost
            };
            return vec![Effect::ReportUnknownTask {
                framework_id: fw_id,
                task_id: task.task_id,
                state,
                message: "Launch arrived after the agent reported the task lost".into(),
            }];
        }
        let ex_id = executor.executor_id.clone();
        let fw = self
            .frameworks
            .entry(fw_id.clone())
            .or_insert_with(|| Framework {
                id: fw_id.clone(),
                info: msg.framework.clone(),
                pid: msg.pid.clone(),
                executors: BTreeMap::new(),
                completed_executors: VecDeque::new(),
                terminating: false,
            });
        if msg.pid.is_some() {
            fw.pid = msg.pid.clone();
        }
        if fw.terminating {
            tracing::warn!(task = %task.task_id, framework = %fw_id, "ignoring task of a framework being shut down");
            return vec![];
        }
        if fw.executors.values().any(|e| e.has_task(&task.task_id)) {
            tracing::warn!(task = %task.task_id, "ignoring duplicate RunTaskMessage");
            return vec![];
        }
        tracing::info!(task = %task.task_id, framework = %fw_id, executor = %ex_id, "got a task");
        let agent_id = agent.id.clone().unwrap_or_default();
        let checkpoint = Effect::CheckpointTask {
            framework_id: fw_id.clone(),
            task_id: task.task_id.clone(),
        };
        let fw_info = fw.info.clone();
        let fw_pid = fw.pid.clone();
        let mut out = vec![];
        match fw.executors.get_mut(&ex_id) {
            Some(e) if e.state == ExecutorState::Running => {
                let mut record = Task::from_info(&task, fw_id.clone(), Some(ex_id.clone()));
                record.agent_id = agent_id;
                e.resources += &task.resources;
                out.push(Effect::UpdateContainer {
                    container_id: e.container_id.clone(),
                    resources: e.resources.clone(),
                });
                e.launched.insert(task.task_id.clone(), record);
                if let Some(pid) = e.pid.clone() {
                    out.push(Effect::SendExecutor {
                        to: pid,
                        message: ToExecutor::RunTask(RunTaskMessage {
                            framework: fw_info,
                            framework_id: fw_id.clone(),
                            task,
                            pid: fw_pid,
                        }),
                    });
                }
            }
            Some(e) if e.state == ExecutorState::Launching => {
                e.resources += &task.resources;
                out.push(Effect::UpdateContainer {
                    container_id: e.container_id.clone(),
                    resources: e.resources.clone(),
                });
                e.queued.push(task);
            }
            Some(_) => out.push(Effect::AgentUpdate {
                framework_id: fw_id.clone(),
                executor_id: ex_id.clone(),
                task_id: task.task_id.clone(),
                state: TaskState::Lost,
                reason: Reason::ExecutorTerminated,
                message: format!("Executor {ex_id} is terminating"),
            }),
            None => out.push(Effect::LaunchExecutor {
                framework_id: fw_id.clone(),
                executor,
                task,
            }),
        }
        out.push(checkpoint);
        out
    }

    /// `RegisterExecutorMessage` from `from`: an executor this agent launched is up. It
    /// gets its infos and the tasks queued for it; an unknown or unexpected one is told to
    /// shut down. One with nothing left to run (every task killed while it launched), or
    /// of a framework being shut down, is shut down at once.
    pub fn register_executor(
        &mut self,
        from: &Pid,
        msg: RegisterExecutorMessage,
        agent: &AgentInfo,
    ) -> Vec<Effect> {
        let shutdown = |msg: RegisterExecutorMessage| Effect::SendExecutor {
            to: from.clone(),
            message: ToExecutor::Shutdown(ShutdownExecutorMessage {
                executor_id: msg.executor_id,
                framework_id: msg.framework_id,
            }),
        };
        let agent_id = agent.id.clone().unwrap_or_default();
        let Some(f) = self.frameworks.get_mut(&msg.framework_id) else {
            tracing::warn!(executor = %msg.executor_id, %from, "unknown framework of registering executor; shutting it down");
            return vec![shutdown(msg)];
        };
        let fw_info = f.info.clone();
        let fw_pid = f.pid.clone();
        let terminating = f.terminating;
        let Some(e) = f
            .executors
            .get_mut(&msg.executor_id)
            .filter(|e| e.state == ExecutorState::Launching)
        else {
            tracing::warn!(executor = %msg.executor_id, %from, "unexpected executor registration; shutting it down");
            return vec![shutdown(msg)];
        };
        tracing::info!(executor = %msg.executor_id, %from, "executor registered");
        e.state = ExecutorState::Running;
        e.pid = Some(from.clone());
        let mut out = vec![
            Effect::Link(from.clone()),
            Effect::SendExecutor {
                to: from.clone(),
                message: ToExecutor::Registered(ExecutorRegisteredMessage {
                    executor_info: e.info.clone(),
                    framework_id: msg.framework_id.clone(),
                    framework_info: fw_info.clone(),
                    slave_id: agent_id.clone(),
                    slave_info: agent.clone(),
                }),
            },
        ];
        let queued = std::mem::take(&mut e.queued);
        let nothing_to_run = queued.is_empty();
        for task in queued {
            let mut record = Task::from_info(
                &task,
                msg.framework_id.clone(),
                Some(msg.executor_id.clone()),
            );
            record.agent_id = agent_id.clone();
            e.launched.insert(task.task_id.clone(), record);
            out.push(Effect::SendExecutor {
                to: from.clone(),
                message: ToExecutor::RunTask(RunTaskMessage {
                    framework: fw_info.clone(),
                    framework_id: msg.framework_id.clone(),
                    task,
                    pid: fw_pid.clone(),
                }),
            });
        }
        out.push(Effect::CheckpointExecutorPid {
            framework_id: msg.framework_id.clone(),
            executor_id: msg.executor_id.clone(),
        });
        if nothing_to_run || terminating {
            out.push(Effect::ShutdownExecutor {
                framework_id: msg.framework_id,
                executor_id: msg.executor_id,
            });
        }
        out
    }

    /// `KillTaskMessage` from the master: a task not yet delivered is killed here (and its
    /// executor, left idle, shut down); a delivered one is the executor's to kill.
    pub fn kill_task(&mut self, msg: KillTaskMessage) -> Vec<Effect> {
        let Some(f) = self.frameworks.get_mut(&msg.framework_id) else {
            tracing::warn!(task = %msg.task_id, framework = %msg.framework_id, "cannot kill a task of an unknown framework");
            return vec![];
        };
        let Some(e) = f.executors.values_mut().find(|e| e.has_task(&msg.task_id)) else {
            tracing::warn!(task = %msg.task_id, "cannot kill an unknown task");
            return vec![];
        };
        let ex_id = e.info.executor_id.clone();
        if let Some(pos) = e.queued.iter().position(|t| t.task_id == msg.task_id) {
            let task = e.queued.remove(pos);
            e.resources -= &task.resources;
            let idle = e.queued.is_empty() && e.launched.is_empty();
            tracing::info!(task = %msg.task_id, "killing a task not yet delivered to its executor");
            let mut out = vec![Effect::AgentUpdate {
                framework_id: msg.framework_id.clone(),
                executor_id: ex_id.clone(),
                task_id: msg.task_id.clone(),
                state: TaskState::Killed,
                reason: Reason::TaskKilledDuringLaunch,
                message: "Killed before delivery to the executor".into(),
            }];
            if idle {
                out.push(Effect::ShutdownExecutor {
                    framework_id: msg.framework_id,
                    executor_id: ex_id,
                });
            }
            return out;
        }
        match (e.state, e.pid.clone()) {
            (ExecutorState::Running, Some(pid)) if e.launched.contains_key(&msg.task_id) => {
                tracing::info!(task = %msg.task_id, executor = %ex_id, "asking the executor to kill a task");
                vec![Effect::SendExecutor {
                    to: pid,
                    message: ToExecutor::KillTask(msg),
                }]
            }
            _ => {
                tracing::info!(task = %msg.task_id, "task is already terminal or its executor is terminating");
                vec![]
            }
        }
    }

    /// Of the tasks the master asks about on re-registration (Mesos
    /// `SlaveReregisteredMessage.reconciliations`), those this agent does not have (their
    /// `RunTaskMessage` never arrived, or arrived while the agent had no master and was
    /// ignored), each with the state to report: `TASK_DROPPED` to a partition-aware
    /// framework, else `TASK_LOST`. The agent remembers them ([`ReportedLost`]): a launch of
    /// one arriving later is refused by [`AgentCore::run_task`].
    pub fn unknown_tasks(
        &mut self,
        asked: &[ReconcileTasksMessage],
    ) -> Vec<(FrameworkId, TaskId, TaskState)> {
        let mut out = Vec::new();
        for r in asked {
            let f = self.frameworks.get(&r.framework_id);
            let aware = f.is_some_and(|f| f.info.is_partition_aware());
            for s in &r.statuses {
                let known = f.is_some_and(|f| f.executors.values().any(|e| e.has_task(&s.task_id)));
                if !known {
                    let state = if aware {
                        TaskState::Dropped
                    } else {
                        TaskState::Lost
                    };
                    out.push((r.framework_id.clone(), s.task_id.clone(), state));
                }
            }
        }
        for (framework_id, task_id, _) in &out {
            self.reported_lost.record(framework_id, task_id);
        }
        out
    }

    /// An update of the agent's own (executor exited, task killed before launch, …),
    /// stamped with `now` and `uuid`, recorded like any other.
    #[allow(clippy::too_many_arguments)]
    pub fn agent_update(
        &mut self,
        agent: &AgentInfo,
        framework_id: &FrameworkId,
        executor_id: Option<&ExecutorId>,
        task_id: &TaskId,
        (state, reason, message): (TaskState, Reason, String),
        (now, uuid): (f64, StatusUuid),
    ) -> Vec<Effect> {
        let mut status = TaskStatus::new(task_id.clone(), state)
            .with_source(Source::Agent)
            .with_reason(reason)
            .with_message(message)
            .with_timestamp(now)
            .with_uuid(uuid);
        if let Some(id) = agent.id.clone() {
            status = status.with_agent(id);
        }
        if let Some(e) = executor_id {
            status = status.with_executor(e.clone());
        }
        self.record_update(StatusUpdate {
            framework_id: framework_id.clone(),
            executor_id: executor_id.cloned(),
            agent_id: agent.id.clone(),
            status,
            timestamp: now,
            latest_state: None,
        })
    }

    /// The executor running `container` ended (`status` and `description` as the
    /// containerizer saw it; `limitation` if it hit a limit). Its remaining tasks get its
    /// termination as updates (unless the framework is being shut down), the run is marked
    /// over, the master told, and the framework removed if nothing of it is left.
    /// `stamp` gives each update its time and uuid.
    #[allow(clippy::too_many_arguments)]
    pub fn executor_exited(
        &mut self,
        agent: &AgentInfo,
        fw_id: &FrameworkId,
        ex_id: &ExecutorId,
        container: &ContainerId,
        (status, description): (i32, &str),
        limitation: Option<(Reason, String)>,
        stamp: &mut dyn FnMut() -> (f64, StatusUuid),
    ) -> Vec<Effect> {
        let Some(e) = self.executor_mut(fw_id, ex_id, container) else {
            return vec![];
        };
        tracing::info!(executor = %ex_id, %description, "executor exited");
        e.state = ExecutorState::Terminated;
        if let Some((reason, message)) = limitation {
            e.termination = Some((TaskState::Failed, reason, message));
        }
        let termination = e.termination.clone().unwrap_or((
            TaskState::Failed,
            Reason::ExecutorTerminated,
            format!("Executor {description}"),
        ));
        let directory = e.directory.clone();
        let live: Vec<TaskId> = e
            .queued
            .iter()
            .map(|t| t.task_id.clone())
            .chain(e.launched.keys().cloned())
            .collect();
        let (terminating, checkpoint) = self
            .frameworks
            .get(fw_id)
            .map_or((false, false), |f| (f.terminating, f.info.checkpoint));
        let mut out = vec![];
        if !terminating {
            for task_id in &live {
                let e = self.agent_update(
                    agent,
                    fw_id,
                    Some(ex_id),
                    task_id,
                    termination.clone(),
                    stamp(),
                );
                out.extend(e);
            }
        }
        out.push(Effect::RunFinished {
            framework_id: fw_id.clone(),
            executor_id: ex_id.clone(),
            container_id: container.clone(),
            directory,
            checkpoint,
        });
        if checkpoint && agent.id.is_some() {
            out.push(Effect::CheckpointSentinel {
                framework_id: fw_id.clone(),
                executor_id: ex_id.clone(),
                container_id: container.clone(),
            });
        }
        if let Some(agent_id) = agent.id.clone() {
            out.push(Effect::ExecutorExited(ExitedExecutorMessage {
                agent_id,
                framework_id: fw_id.clone(),
                executor_id: ex_id.clone(),
                status,
            }));
        }
        if let Some(f) = self.frameworks.get_mut(fw_id) {
            if let Some(mut e) = f.executors.remove(ex_id) {
                if terminating {
                    // Its tasks are dropped with the framework.
                    e.queued.clear();
                    let gone: Vec<Task> = std::mem::take(&mut e.launched).into_values().collect();
                    e.completed.extend(gone);
                }
                f.completed_executors.push_back(e);
                if f.completed_executors.len() > MAX_COMPLETED_EXECUTORS {
                    f.completed_executors.pop_front();
                }
            }
        }
        out.extend(self.maybe_remove_framework(fw_id));
        out
    }

    /// The executor of run `container` was given `timeout` to register: if it has not, it
    /// is destroyed and its tasks will fail with `REASON_EXECUTOR_REGISTRATION_TIMEOUT`.
    pub fn registration_timeout(
        &mut self,
        fw: &FrameworkId,
        ex: &ExecutorId,
        container: &ContainerId,
        timeout: Duration,
    ) -> Vec<Effect> {
        let Some(e) = self.executor_mut(fw, ex, container) else {
            return vec![];
        };
        if e.state != ExecutorState::Launching {
            return vec![];
        }
        tracing::warn!(executor = %ex, ?timeout, "executor did not register in time; killing it");
        e.state = ExecutorState::Terminating;
        e.termination = Some((
            TaskState::Failed,
            Reason::ExecutorRegistrationTimeout,
            format!("Executor did not register within {}ms", timeout.as_millis()),
        ));
        vec![Effect::Destroy {
            framework_id: fw.clone(),
            executor_id: ex.clone(),
            container_id: container.clone(),
        }]
    }

    /// Shuts an executor down: a registered one is asked to and destroyed if it has not
    /// exited after `grace`; an unregistered one is destroyed at once. One already
    /// terminating is left alone.
    pub fn shutdown_executor(
        &mut self,
        fw: &FrameworkId,
        ex: &ExecutorId,
        grace: Duration,
    ) -> Vec<Effect> {
        let Some(e) = self
            .frameworks
            .get_mut(fw)
            .and_then(|f| f.executors.get_mut(ex))
        else {
            return vec![];
        };
        match (e.state, e.pid.clone()) {
            (ExecutorState::Terminating | ExecutorState::Terminated, _) => vec![],
            (ExecutorState::Running, Some(pid)) => {
                tracing::info!(executor = %ex, "shutting down executor");
                e.state = ExecutorState::Terminating;
                vec![
                    Effect::SendExecutor {
                        to: pid,
                        message: ToExecutor::Shutdown(ShutdownExecutorMessage {
                            executor_id: ex.clone(),
                            framework_id: fw.clone(),
                        }),
                    },
                    Effect::DestroyAfter {
                        framework_id: fw.clone(),
                        executor_id: ex.clone(),
                        container_id: e.container_id.clone(),
                        delay: grace,
                    },
                ]
            }
            _ => {
                tracing::info!(executor = %ex, "killing unregistered executor");
                e.state = ExecutorState::Terminating;
                vec![Effect::Destroy {
                    framework_id: fw.clone(),
                    executor_id: ex.clone(),
                    container_id: e.container_id.clone(),
                }]
            }
        }
    }

    /// The connection to the running executor at `pid` broke (its HTTP stream closed).
    /// As Mesos: an executor of a framework that does not checkpoint cannot come back,
    /// so it is shut down; one of a checkpointing framework may re-subscribe, and is
    /// shut down only if it has not by the recovery timeout
    /// ([`AgentCore::executor_reconnect_expired`]).
    pub fn executor_disconnected(&mut self, pid: &Pid, grace: Duration) -> Disconnected {
        let found = self.frameworks.values().find_map(|f| {
            f.executors
                .values()
                .find(|e| e.state == ExecutorState::Running && e.pid.as_ref() == Some(pid))
                .map(|e| (f.id.clone(), e.info.executor_id.clone(), f.info.checkpoint))
        });
        match found {
            None => Disconnected::Unknown,
            Some((fw, ex, true)) => {
                tracing::info!(executor = %ex, framework = %fw, "executor disconnected; its framework checkpoints, so it may re-subscribe");
                Disconnected::AwaitResubscription {
                    framework_id: fw,
                    executor_id: ex,
                }
            }
            Some((fw, ex, false)) => {
                tracing::info!(executor = %ex, framework = %fw, "executor disconnected and its framework does not checkpoint: shutting it down");
                Disconnected::Shutdown(self.shutdown_executor(&fw, &ex, grace))
            }
        }
    }

    /// The recovery timeout after executor `ex` of `fw` disconnected from `pid`: shut it
    /// down unless it re-subscribed since (it has another PID then).
    pub fn executor_reconnect_expired(
        &mut self,
        fw: &FrameworkId,
        ex: &ExecutorId,
        pid: &Pid,
        grace: Duration,
    ) -> Vec<Effect> {
        let still_gone = self
            .frameworks
            .get(fw)
            .and_then(|f| f.executors.get(ex))
            .is_some_and(|e| e.pid.as_ref() == Some(pid));
        if !still_gone {
            return vec![];
        }
        tracing::info!(executor = %ex, framework = %fw, "executor did not re-subscribe within the recovery timeout: shutting it down");
        self.shutdown_executor(fw, ex, grace)
    }

    /// The live executor of `fw` named `ex` if it still runs `container`.
    pub fn executor_mut(
        &mut self,
        fw: &FrameworkId,
        ex: &ExecutorId,
        container: &ContainerId,
    ) -> Option<&mut Executor> {
        self.frameworks
            .get_mut(fw)
            .and_then(|f| f.executors.get_mut(ex))
            .filter(|e| e.container_id == *container)
    }

    /// Whether some executor here (live or completed, recovered ones included) has had
    /// container `id`.
    pub fn container_known(&self, id: &ContainerId) -> bool {
        self.frameworks.values().any(|f| {
            f.executors
                .values()
                .chain(f.completed_executors.iter())
                .any(|e| e.container_id == *id)
        })
    }

    /// OS pids (= process group ids) of every live executor.
    pub fn executor_os_pids(&self) -> Vec<i32> {
        self.frameworks
            .values()
            .flat_map(|f| f.executors.values())
            .filter_map(|e| e.os_pid)
            .collect()
    }
}

fn executor_json(e: &Executor, user: &str) -> serde_json::Value {
    let task_json = |t: &Task| proto::state_json::task_json(t, Some(user));
    let queued: Vec<_> = e
        .queued
        .iter()
        .map(|t| {
            serde_json::json!({
                "id": t.task_id, "name": t.name, "resources": t.resources.to_json_map(), "state": "TASK_STAGING",
            })
        })
        .collect();
    serde_json::json!({
        "id": e.info.executor_id,
        "name": e.info.name.clone().unwrap_or_default(),
        "source": e.info.source.clone().unwrap_or_default(),
        "container": e.container_id,
        "directory": e.directory.to_string_lossy(),
        "state": e.state.as_str(),
        "resources": e.resources.to_json_map(),
        "tasks": e.launched.values().chain(e.terminated.values()).map(task_json).collect::<Vec<_>>(),
        "queued_tasks": queued,
        "completed_tasks": e.completed.iter().map(task_json).collect::<Vec<_>>(),
    })
}

pub(super) fn framework_json(f: &Framework) -> serde_json::Value {
    serde_json::json!({
        "id": f.id,
        "name": f.info.name,
        "user": f.info.user,
        "checkpoint": f.info.checkpoint,
        "role": f.info.role.clone().unwrap_or_else(|| "*".into()),
        "executors": f.executors.values().map(|e| executor_json(e, &f.info.user)).collect::<Vec<_>>(),
        "completed_executors": f.completed_executors.iter().map(|e| executor_json(e, &f.info.user)).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::{Source, TaskStatus};

    fn core_with_task(checkpoint: bool) -> AgentCore {
        let mut core = AgentCore::new(Duration::from_secs(10), Duration::from_secs(600));
        let fw = FrameworkId::new("F");
        let mut info = FrameworkInfo::new("fw", "user");
        info.checkpoint = checkpoint;
        let exec = ExecutorInfo::new(ExecutorId::new("E"), proto::CommandInfo::shell("true"));
        let task = TaskInfo::command_task(
            "t",
            TaskId::new("t"),
            proto::AgentId::new("A"),
            Resources::new(),
            proto::CommandInfo::shell("true"),
        );
        let mut e = Executor {
            info: exec,
            framework_id: fw.clone(),
            container_id: ContainerId::new("C"),
            directory: PathBuf::from("/sandbox"),
            state: ExecutorState::Running,
            pid: None,
            os_pid: None,
            queued: vec![],
            launched: BTreeMap::new(),
            terminated: BTreeMap::new(),
            completed: VecDeque::new(),
            resources: Resources::new(),
            termination: None,
        };
        e.launched.insert(
            task.task_id.clone(),
            Task::from_info(&task, fw.clone(), Some(ExecutorId::new("E"))),
        );
        let mut executors = BTreeMap::new();
        executors.insert(ExecutorId::new("E"), e);
        core.frameworks.insert(
            fw.clone(),
            Framework {
                id: fw,
                info,
                pid: None,
                executors,
                completed_executors: VecDeque::new(),
                terminating: false,
            },
        );
        core
    }

    fn update(state: TaskState, uuid: u128) -> StatusUpdate {
        StatusUpdate {
            framework_id: FrameworkId::new("F"),
            executor_id: Some(ExecutorId::new("E")),
            agent_id: None,
            status: TaskStatus::new(TaskId::new("t"), state)
                .with_source(Source::Executor)
                .with_uuid(StatusUuid::from_u128(uuid)),
            timestamp: 0.0,
            latest_state: None,
        }
    }

    #[test]
    fn an_update_is_checkpointed_before_it_is_forwarded_and_retried() {
        let mut core = core_with_task(true);
        assert!(core.connected().is_empty());
        let out = core.record_update(update(TaskState::Running, 1));
        assert!(matches!(out[0], Effect::CheckpointUpdate { .. }), "{out:?}");
        assert!(matches!(out[1], Effect::ForwardUpdate(_)), "{out:?}");
        let Effect::RetryUpdate {
            generation, delay, ..
        } = out[2].clone()
        else {
            panic!("no retry timer: {out:?}");
        };
        assert_eq!(delay, Duration::from_secs(10));
        let (f, t) = (FrameworkId::new("F"), TaskId::new("t"));
        let again = core.retry_update(&f, &t, generation);
        assert!(matches!(again[0], Effect::ForwardUpdate(_)), "{again:?}");
        assert!(
            core.retry_update(&f, &t, generation).is_empty(),
            "a stale timer does nothing"
        );
        // While disconnected nothing goes out; reconnecting re-sends the head.
        core.disconnected();
        assert!(core.retry_update(&f, &t, generation + 1).is_empty());
        assert!(matches!(core.connected()[0], Effect::ForwardUpdate(_)));
        // A framework that does not checkpoint gets no log.
        let mut plain = core_with_task(false);
        plain.connected();
        let out = plain.record_update(update(TaskState::Running, 1));
        assert!(!out
            .iter()
            .any(|e| matches!(e, Effect::CheckpointUpdate { .. })));
    }

    #[test]
    fn acknowledged_terminal_update_completes_the_task_and_the_framework() {
        let mut core = core_with_task(true);
        core.connected();
        core.record_update(update(TaskState::Finished, 1));
        let (f, t) = (FrameworkId::new("F"), TaskId::new("t"));
        let e = &core.frameworks[&f].executors[&ExecutorId::new("E")];
        assert!(
            e.terminated.contains_key(&t),
            "terminal, not yet acknowledged"
        );
        // The executor exits: the framework stays while its update is unacknowledged.
        let fw = core.frameworks.get_mut(&f).expect("framework");
        let gone = fw
            .executors
            .remove(&ExecutorId::new("E"))
            .expect("executor");
        fw.completed_executors.push_back(gone);
        assert!(core.maybe_remove_framework(&f).is_empty());
        // A re-registration meanwhile still reports the task, with its unacknowledged
        // terminal update, so that a new master knows it is not gone.
        let (_, tasks, _) = core.reregistration(&AgentInfo::new("host", Resources::new()));
        assert_eq!(tasks.len(), 1, "{tasks:?}");
        assert_eq!(tasks[0].task_id, t);
        assert_eq!(tasks[0].status_update_state, Some(TaskState::Finished));
        // An unexpected uuid changes nothing.
        assert!(core
            .acknowledge(&f, &t, StatusUuid::from_u128(9))
            .is_empty());
        let out = core.acknowledge(&f, &t, StatusUuid::from_u128(1));
        assert!(
            matches!(
                &out[0],
                Effect::CheckpointUpdate {
                    record: UpdateRecord::Ack { .. },
                    ..
                }
            ),
            "the ack is checkpointed in the task's run: {out:?}"
        );
        assert_eq!(
            out.last(),
            Some(&Effect::RemoveFrameworkCheckpoint(f.clone()))
        );
        assert!(core.frameworks.is_empty());
        assert_eq!(core.completed_frameworks.len(), 1);
        let done = &core.completed_frameworks[0].completed_executors[0];
        assert_eq!(done.completed.len(), 1);
    }

    #[test]
    fn reregistration_reports_the_unacknowledged_head() {
        let mut core = core_with_task(false);
        core.connected();
        core.record_update(update(TaskState::Running, 1));
        core.record_update(update(TaskState::Finished, 2));
        let (infos, tasks, frameworks) =
            core.reregistration(&AgentInfo::new("host", Resources::new()));
        assert_eq!((infos.len(), frameworks.len()), (1, 1));
        assert_eq!(tasks[0].state, TaskState::Finished);
        assert_eq!(tasks[0].status_update_state, Some(TaskState::Running));
        assert_eq!(tasks[0].status_update_uuid, Some(StatusUuid::from_u128(1)));
    }

    #[test]
    fn tasks_the_master_asks_about_and_the_agent_never_got_are_reported_lost() {
        let mut core = core_with_task(false);
        let asked = |fw: &str, ids: &[&str]| ReconcileTasksMessage {
            framework_id: FrameworkId::new(fw),
            statuses: ids
                .iter()
                .map(|t| TaskStatus::new(TaskId::new(*t), TaskState::Staging))
                .collect(),
        };
        // "t" runs here; "gone" never arrived; "other" is of a framework unknown here.
        let out = core.unknown_tasks(&[asked("F", &["t", "gone"]), asked("G", &["other"])]);
        assert_eq!(
            out,
            vec![
                (FrameworkId::new("F"), TaskId::new("gone"), TaskState::Lost),
                (FrameworkId::new("G"), TaskId::new("other"), TaskState::Lost),
            ]
        );
    }

    /// Found by the seeded simulation (Chronos seeds 113, 233, 665): the master asked about
    /// a task whose `RunTaskMessage` was still in flight on a connection it had replaced
    /// (a re-link on re-registration, or a crashed incarnation on the same PID); the agent
    /// answered `TASK_LOST`, the framework relaunched the work under a new id, and the
    /// late launch then ran too: the work ran twice. A launch of a task the agent reported
    /// lost is refused, and reported lost again.
    #[test]
    fn a_launch_arriving_after_the_agent_reported_the_task_lost_is_refused() {
        let mut core = core_with_task(false);
        let agent = AgentInfo::new("host", Resources::new());
        let asked = |fw: &str, id: &str| ReconcileTasksMessage {
            framework_id: FrameworkId::new(fw),
            statuses: vec![TaskStatus::new(TaskId::new(id), TaskState::Staging)],
        };
        let launch = |fw: &str, id: &str, partition_aware: bool| {
            let mut framework = FrameworkInfo::new("fw", "user");
            if partition_aware {
                framework
                    .capabilities
                    .push(proto::FrameworkCapability::PartitionAware);
            }
            RunTaskMessage {
                framework,
                framework_id: FrameworkId::new(fw),
                task: TaskInfo::command_task(
                    id,
                    TaskId::new(id),
                    proto::AgentId::new("A"),
                    Resources::new(),
                    proto::CommandInfo::shell("true"),
                ),
                pid: None,
            }
        };
        let exec =
            |id: &str| ExecutorInfo::new(ExecutorId::new(id), proto::CommandInfo::shell("x"));
        // Asked about "late" (of a framework with nothing here) and "late2" of F: never got them.
        assert_eq!(core.unknown_tasks(&[asked("G", "late")]).len(), 1);
        assert_eq!(core.unknown_tasks(&[asked("F", "late2")]).len(), 1);
        // Their launches arrive afterwards: refused, reported lost (dropped if aware).
        let out = core.run_task(launch("G", "late", false), exec("late"), &agent);
        assert_eq!(
            out,
            vec![Effect::ReportUnknownTask {
                framework_id: FrameworkId::new("G"),
                task_id: TaskId::new("late"),
                state: TaskState::Lost,
                message: "Launch arrived after the agent reported the task lost".into(),
            }]
        );
        assert!(
            !core.frameworks.contains_key(&FrameworkId::new("G")),
            "no framework made up"
        );
        let out = core.run_task(launch("F", "late2", true), exec("E"), &agent);
        assert!(
            matches!(
                &out[..],
                [Effect::ReportUnknownTask {
                    state: TaskState::Dropped,
                    ..
                }]
            ),
            "{out:?}"
        );
        let f = &core.frameworks[&FrameworkId::new("F")];
        assert!(!f
            .executors
            .values()
            .any(|e| e.has_task(&TaskId::new("late2"))));
        // The same task id of another framework, and another task, still run.
        let out = core.run_task(launch("H", "late", false), exec("late"), &agent);
        assert!(matches!(out[0], Effect::LaunchExecutor { .. }), "{out:?}");
        let out = core.run_task(launch("G", "fresh", false), exec("fresh"), &agent);
        assert!(matches!(out[0], Effect::LaunchExecutor { .. }), "{out:?}");
    }

    #[test]
    fn a_registering_executor_gets_its_queued_tasks_and_a_kill_before_delivery_is_local() {
        let mut core = core_with_task(false);
        let (f, ex) = (FrameworkId::new("F"), ExecutorId::new("E"));
        let pid: Pid = "executor(1)@127.0.0.1:5051".parse().expect("pid");
        let agent = AgentInfo::new("host", Resources::new());
        let register = RegisterExecutorMessage {
            framework_id: f.clone(),
            executor_id: ex.clone(),
        };
        // Not launching (it is running already): told to shut down.
        let out = core.register_executor(&pid, register.clone(), &agent);
        assert!(
            matches!(
                &out[..],
                [Effect::SendExecutor {
                    message: ToExecutor::Shutdown(_),
                    ..
                }]
            ),
            "{out:?}"
        );
        // Launching with two queued tasks: link, registered, both tasks, checkpoint.
        let e = core
            .frameworks
            .get_mut(&f)
            .and_then(|fw| fw.executors.get_mut(&ex))
            .expect("executor");
        e.state = ExecutorState::Launching;
        let queued: Vec<TaskInfo> = ["q1", "q2"]
            .iter()
            .map(|id| {
                TaskInfo::command_task(
                    *id,
                    TaskId::new(*id),
                    proto::AgentId::new("A"),
                    Resources::new(),
                    proto::CommandInfo::shell("true"),
                )
            })
            .collect();
        e.queued = queued;
        // A kill before delivery is answered here; the executor still has work.
        let out = core.kill_task(KillTaskMessage {
            framework_id: f.clone(),
            task_id: TaskId::new("q1"),
            kill_policy: None,
        });
        assert!(
            matches!(
                &out[..],
                [Effect::AgentUpdate {
                    state: TaskState::Killed,
                    reason: Reason::TaskKilledDuringLaunch,
                    ..
                }]
            ),
            "{out:?}"
        );
        let out = core.register_executor(&pid, register, &agent);
        let names: Vec<&str> = out
            .iter()
            .map(|e| match e {
                Effect::Link(_) => "link",
                Effect::SendExecutor {
                    message: ToExecutor::Registered(_),
                    ..
                } => "registered",
                Effect::SendExecutor {
                    message: ToExecutor::RunTask(_),
                    ..
                } => "run",
                Effect::CheckpointExecutorPid { .. } => "checkpoint",
                _ => "other",
            })
            .collect();
        assert_eq!(names, vec!["link", "registered", "run", "checkpoint"]);
        let e = &core.frameworks[&f].executors[&ex];
        assert_eq!(e.state, ExecutorState::Running);
        assert!(e.launched.contains_key(&TaskId::new("q2")));
        // A delivered task is the executor's to kill.
        let out = core.kill_task(KillTaskMessage {
            framework_id: f,
            task_id: TaskId::new("q2"),
            kill_policy: None,
        });
        assert!(
            matches!(
                &out[..],
                [Effect::SendExecutor {
                    message: ToExecutor::KillTask(_),
                    ..
                }]
            ),
            "{out:?}"
        );
    }

    #[test]
    fn an_exited_executor_fails_its_live_tasks_marks_its_run_over_and_tells_the_master() {
        let mut core = core_with_task(true);
        core.connected();
        let mut agent = AgentInfo::new("host", Resources::new());
        agent.id = Some(proto::AgentId::new("A"));
        let (f, ex, c) = (
            FrameworkId::new("F"),
            ExecutorId::new("E"),
            ContainerId::new("C"),
        );
        let mut stamp = || (7.0, StatusUuid::from_u128(42));
        // Another run of the executor: nothing happens.
        let other = ContainerId::new("old");
        let none = core.executor_exited(&agent, &f, &ex, &other, (0, "exited"), None, &mut stamp);
        assert!(none.is_empty());
        let out = core.executor_exited(
            &agent,
            &f,
            &ex,
            &c,
            (256, "exited with status 1"),
            None,
            &mut stamp,
        );
        let Some(Effect::ForwardUpdate(u)) =
            out.iter().find(|e| matches!(e, Effect::ForwardUpdate(_)))
        else {
            panic!("no update forwarded: {out:?}");
        };
        assert_eq!(u.status.state, TaskState::Failed);
        assert_eq!(u.status.reason, Some(Reason::ExecutorTerminated));
        assert_eq!(
            u.status.message.as_deref(),
            Some("Executor exited with status 1")
        );
        assert_eq!(u.status.uuid, Some(StatusUuid::from_u128(42)));
        let tail: Vec<&Effect> = out.iter().rev().take(2).collect();
        assert!(
            matches!(tail[0], Effect::ExecutorExited(m) if m.status == 256),
            "{out:?}"
        );
        assert!(
            matches!(tail[1], Effect::CheckpointSentinel { .. }),
            "{out:?}"
        );
        let fw = &core.frameworks[&f];
        assert!(fw.executors.is_empty(), "the executor is completed");
        assert_eq!(fw.completed_executors[0].state, ExecutorState::Terminated);
        assert!(fw.completed_executors[0]
            .terminated
            .contains_key(&TaskId::new("t")));
    }

    #[test]
    fn a_task_goes_to_its_running_executor_or_starts_a_new_one_and_duplicates_are_ignored() {
        let mut core = core_with_task(false);
        let agent = AgentInfo::new("host", Resources::new());
        let pid: Pid = "executor(1)@127.0.0.1:5051".parse().expect("pid");
        if let Some(e) = core
            .frameworks
            .get_mut(&FrameworkId::new("F"))
            .and_then(|f| f.executors.get_mut(&ExecutorId::new("E")))
        {
            e.pid = Some(pid);
        }
        let msg = |id: &str| RunTaskMessage {
            framework: FrameworkInfo::new("fw", "user"),
            framework_id: FrameworkId::new("F"),
            task: TaskInfo::command_task(
                id,
                TaskId::new(id),
                proto::AgentId::new("A"),
                "cpus:1".parse().expect("resources"),
                proto::CommandInfo::shell("true"),
            ),
            pid: None,
        };
        let exec = |id: &str| {
            ExecutorInfo::new(ExecutorId::new(id), proto::CommandInfo::shell("executor"))
        };
        let kinds = |out: &[Effect]| -> Vec<&'static str> {
            out.iter()
                .map(|e| match e {
                    Effect::UpdateContainer { .. } => "update",
                    Effect::SendExecutor {
                        message: ToExecutor::RunTask(_),
                        ..
                    } => "run",
                    Effect::LaunchExecutor { .. } => "launch",
                    Effect::CheckpointTask { .. } => "checkpoint",
                    _ => "other",
                })
                .collect()
        };
        let out = core.run_task(msg("t2"), exec("E"), &agent);
        assert_eq!(kinds(&out), vec!["update", "run", "checkpoint"]);
        let out = core.run_task(msg("t3"), exec("E2"), &agent);
        assert_eq!(kinds(&out), vec!["launch", "checkpoint"]);
        assert!(
            core.run_task(msg("t2"), exec("E"), &agent).is_empty(),
            "duplicate"
        );
    }

    #[test]
    fn shutdown_asks_a_registered_executor_then_destroys_and_destroys_an_unregistered_one() {
        let mut core = core_with_task(false);
        let (f, ex) = (FrameworkId::new("F"), ExecutorId::new("E"));
        let grace = Duration::from_secs(5);
        // Running but with no PID (never registered): destroyed at once.
        let out = core.shutdown_executor(&f, &ex, grace);
        assert!(matches!(&out[..], [Effect::Destroy { .. }]), "{out:?}");
        assert!(
            core.shutdown_executor(&f, &ex, grace).is_empty(),
            "already terminating"
        );
        let e = core
            .frameworks
            .get_mut(&f)
            .and_then(|fw| fw.executors.get_mut(&ex))
            .expect("executor");
        e.state = ExecutorState::Running;
        e.pid = Some("executor(1)@127.0.0.1:5051".parse().expect("pid"));
        let out = core.shutdown_executor(&f, &ex, grace);
        assert!(
            matches!(
                &out[..],
                [
                    Effect::SendExecutor { message: ToExecutor::Shutdown(_), .. },
                    Effect::DestroyAfter { delay, .. }
                ] if *delay == grace
            ),
            "{out:?}"
        );
    }

    #[test]
    fn an_executor_that_does_not_register_in_time_is_destroyed_with_the_reason() {
        let mut core = core_with_task(false);
        let (f, ex, c) = (
            FrameworkId::new("F"),
            ExecutorId::new("E"),
            ContainerId::new("C"),
        );
        let t = Duration::from_secs(20);
        assert!(
            core.registration_timeout(&f, &ex, &c, t).is_empty(),
            "it registered (running)"
        );
        if let Some(e) = core.executor_mut(&f, &ex, &c) {
            e.state = ExecutorState::Launching;
        }
        let out = core.registration_timeout(&f, &ex, &c, t);
        assert!(matches!(&out[..], [Effect::Destroy { .. }]), "{out:?}");
        let e = &core.frameworks[&f].executors[&ex];
        assert_eq!(e.state, ExecutorState::Terminating);
        assert_eq!(
            e.termination,
            Some((
                TaskState::Failed,
                Reason::ExecutorRegistrationTimeout,
                "Executor did not register within 20000ms".to_string()
            ))
        );
    }

    #[test]
    fn a_finished_run_and_a_departed_framework_are_handed_to_garbage_collection() {
        let mut core = core_with_task(false);
        core.connected();
        let agent = AgentInfo::new("host", Resources::new());
        let (f, ex, c) = (
            FrameworkId::new("F"),
            ExecutorId::new("E"),
            ContainerId::new("C"),
        );
        if let Some(fw) = core.frameworks.get_mut(&f) {
            fw.terminating = true;
        }
        let mut stamp = || (7.0, StatusUuid::from_u128(42));
        let out = core.executor_exited(&agent, &f, &ex, &c, (0, "exited"), None, &mut stamp);
        assert!(
            out.contains(&Effect::RunFinished {
                framework_id: f.clone(),
                executor_id: ex,
                container_id: c,
                directory: PathBuf::from("/sandbox"),
                checkpoint: false,
            }),
            "{out:?}"
        );
        let gone = out
            .iter()
            .position(|e| *e == Effect::FrameworkFinished(f.clone()))
            .expect("the framework left");
        assert_eq!(out[gone + 1], Effect::RemoveFrameworkCheckpoint(f));
    }

    #[test]
    fn core_has_no_runtime_filesystem_or_process_calls() {
        // The code before the tests, comments left out (the module doc names the words).
        let code: String = [include_str!("core.rs"), include_str!("core/recovered.rs")]
            .iter()
            .map(|source| {
                source
                    .split("#[cfg(test)]")
                    .next()
                    .unwrap_or(source)
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("//"))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .collect::<Vec<_>>()
            .join("\n");
        // Built from parts so that this list does not match itself.
        let forbidden = [
            ["act", "ix"].concat(),
            ["tok", "io"].concat(),
            ["std::", "fs"].concat(),
            ["std::", "process"].concat(),
            ["std::", "thread"].concat(),
            ["std::", "net"].concat(),
            ["ni", "x::"].concat(),
            ["Ct", "x<"].concat(),
            ["System", "Time"].concat(),
            ["Instant", "::now"].concat(),
        ];
        for word in &forbidden {
            assert!(
                !code.contains(word.as_str()),
                "slave/src/agent/core.rs must stay pure but mentions `{word}`"
            );
        }
    }
}

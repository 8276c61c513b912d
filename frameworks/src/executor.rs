//! The executor driver: writing an executor means implementing [`Executor`] and handing it
//! to [`run`].
//!
//! The driver is a libproc process (`executor(1)`) inside the executor's OS process. It
//! reads what the agent put in its environment ([`ExecutorEnv`]), registers with the agent,
//! links it, delivers tasks, kills, framework messages and shutdown to the [`Executor`], and
//! sends status updates. Updates are at-least-once: the driver keeps every update until the
//! agent acknowledges it and re-sends the unacknowledged ones when a restarted agent asks
//! the executor to reconnect. When the agent goes away, an executor of a non-checkpointing
//! framework shuts down; a checkpointing one waits `MESOS_RECOVERY_TIMEOUT` for the agent
//! to come back.
//!
//! The update bookkeeping is a pure struct, [`UpdateBook`]; [`ExecutorProcess`] is the shell.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use libproc::{Ctx, Handlers, Node, Pid, Process, ProcessRef, SpawnError, TimerId};
use proto::messages::{
    ExecutorRegisteredMessage, ExecutorReregisteredMessage, ExecutorToFrameworkMessage,
    FrameworkToExecutorMessage, KillTaskMessage, ReconnectExecutorMessage, RegisterExecutorMessage,
    ReregisterExecutorMessage, RunTaskMessage, ShutdownExecutorMessage, StatusUpdate,
    StatusUpdateAcknowledgementMessage, StatusUpdateMessage,
};
use proto::{
    AgentId, AgentInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, KillPolicy, Source,
    StatusUuid, TaskId, TaskInfo, TaskState, TaskStatus,
};
use tokio::sync::oneshot;

use crate::rng::{hash_str, SplitMix64};

/// The grace period between SIGTERM (or `docker stop`) and SIGKILL for a kill: the kill's
/// own policy, else the task's, else `default`. A value that is not a number of seconds in
/// `0..=10 years` (NaN, negative, `1e300`) came from a scheduler and is skipped with a
/// warning, never a panic.
pub fn kill_grace(
    kill: Option<&KillPolicy>,
    task: Option<&KillPolicy>,
    default: Duration,
) -> Duration {
    [kill, task]
        .into_iter()
        .flatten()
        .filter_map(|p| p.grace_period_secs)
        .find_map(|secs| match libproc::duration::secs(secs) {
            Ok(d) => Some(d),
            Err(e) => {
                tracing::warn!(error = %e, "ignoring an invalid kill grace period");
                None
            }
        })
        .unwrap_or(default)
}

/// Mesos `DEFAULT_EXECUTOR_SHUTDOWN_GRACE_PERIOD`.
pub const DEFAULT_SHUTDOWN_GRACE_PERIOD: Duration = Duration::from_secs(5);
/// Mesos agent `--recovery_timeout` default.
pub const DEFAULT_RECOVERY_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// An executor: the Mesos executor callbacks. Only `launch_task` and `kill_task` are
/// required.
#[allow(unused_variables)]
pub trait Executor: Sized + Unpin + 'static {
    /// The agent accepted the registration.
    fn registered(
        &mut self,
        driver: &mut ExecutorDriver<'_, '_, Self>,
        executor_info: &ExecutorInfo,
        framework_info: &FrameworkInfo,
        agent_info: &AgentInfo,
    ) {
    }

    /// The executor re-registered with a restarted agent.
    fn reregistered(&mut self, driver: &mut ExecutorDriver<'_, '_, Self>, agent_info: &AgentInfo) {}

    /// The agent went away (checkpointing frameworks only; the driver waits for it).
    fn disconnected(&mut self, driver: &mut ExecutorDriver<'_, '_, Self>) {}

    /// Run a task.
    fn launch_task(&mut self, driver: &mut ExecutorDriver<'_, '_, Self>, task: TaskInfo);

    /// Kill a task; `kill_policy` overrides the task's own when set.
    fn kill_task(
        &mut self,
        driver: &mut ExecutorDriver<'_, '_, Self>,
        task_id: TaskId,
        kill_policy: Option<KillPolicy>,
    );

    /// Data from the scheduler.
    fn framework_message(&mut self, driver: &mut ExecutorDriver<'_, '_, Self>, data: Vec<u8>) {}

    /// Kill every task and get ready to exit; the driver stops after the shutdown grace
    /// period at the latest.
    fn shutdown(&mut self, driver: &mut ExecutorDriver<'_, '_, Self>) {}

    /// An error in the driver (e.g. an invalid update).
    fn error(&mut self, driver: &mut ExecutorDriver<'_, '_, Self>, message: &str) {}

    /// The agent acknowledged the update `uuid` of `task_id`.
    fn acknowledged(
        &mut self,
        driver: &mut ExecutorDriver<'_, '_, Self>,
        task_id: &TaskId,
        uuid: StatusUuid,
    ) {
    }

    /// The driver stopped; nothing more will be called.
    fn stopped(&mut self, reason: &ExecutorStopReason) {}
}

/// What the agent tells an executor through its environment.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorEnv {
    /// `MESOS_SLAVE_PID`: the agent's PID.
    pub agent_pid: Pid,
    /// `MESOS_FRAMEWORK_ID`.
    pub framework_id: FrameworkId,
    /// `MESOS_EXECUTOR_ID`.
    pub executor_id: ExecutorId,
    /// `MESOS_SLAVE_ID`, if set.
    pub agent_id: Option<AgentId>,
    /// `MESOS_DIRECTORY`: the sandbox path on the host.
    pub directory: PathBuf,
    /// `MESOS_SANDBOX`: the sandbox as the executor sees it (defaults to `directory`).
    pub sandbox: PathBuf,
    /// `MESOS_CHECKPOINT`: whether the framework checkpoints (then the executor survives
    /// agent restarts).
    pub checkpoint: bool,
    /// `MESOS_RECOVERY_TIMEOUT`: how long to wait for a restarted agent.
    pub recovery_timeout: Duration,
    /// `MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD`.
    pub shutdown_grace_period: Duration,
}

/// A missing or malformed executor environment variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecutorEnvError {
    /// A required variable is not set.
    #[error("environment variable {name} is not set ({what}); executors are started by the agent, which sets it")]
    Missing {
        /// Variable name.
        name: &'static str,
        /// What it holds.
        what: &'static str,
    },
    /// A variable does not parse.
    #[error("environment variable {name}='{value}' is invalid: expected {expected}")]
    Invalid {
        /// Variable name.
        name: &'static str,
        /// Its value.
        value: String,
        /// What a valid value looks like.
        expected: &'static str,
    },
}

impl ExecutorEnv {
    /// Reads the process environment.
    pub fn from_env() -> Result<ExecutorEnv, ExecutorEnvError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads variables through `get` (tests pass a map).
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<ExecutorEnv, ExecutorEnvError> {
        let required = |name: &'static str, what: &'static str| {
            get(name)
                .filter(|v| !v.is_empty())
                .ok_or(ExecutorEnvError::Missing { name, what })
        };
        let pid_text = required(
            "MESOS_SLAVE_PID",
            "the agent's PID, e.g. slave(1)@10.0.0.2:5051",
        )?;
        let agent_pid = pid_text
            .parse::<Pid>()
            .map_err(|_| ExecutorEnvError::Invalid {
                name: "MESOS_SLAVE_PID",
                value: pid_text.clone(),
                expected: "a PID id@ip:port, e.g. slave(1)@10.0.0.2:5051",
            })?;
        let framework_id = FrameworkId::new(required("MESOS_FRAMEWORK_ID", "the framework's id")?);
        let executor_id = ExecutorId::new(required("MESOS_EXECUTOR_ID", "this executor's id")?);
        let agent_id = get("MESOS_SLAVE_ID")
            .filter(|v| !v.is_empty())
            .map(AgentId::new);
        let directory = get("MESOS_DIRECTORY").filter(|v| !v.is_empty());
        let sandbox = get("MESOS_SANDBOX").filter(|v| !v.is_empty());
        let (directory, sandbox) = match (directory, sandbox) {
            (Some(d), Some(s)) => (PathBuf::from(d), PathBuf::from(s)),
            (Some(d), None) => (PathBuf::from(&d), PathBuf::from(d)),
            (None, Some(s)) => (PathBuf::from(&s), PathBuf::from(s)),
            (None, None) => {
                return Err(ExecutorEnvError::Missing {
                    name: "MESOS_DIRECTORY",
                    what: "the sandbox directory (or MESOS_SANDBOX)",
                })
            }
        };
        let checkpoint = match get("MESOS_CHECKPOINT").as_deref().map(str::trim) {
            None | Some("") | Some("0") | Some("false") => false,
            Some("1") | Some("true") => true,
            Some(other) => {
                return Err(ExecutorEnvError::Invalid {
                    name: "MESOS_CHECKPOINT",
                    value: other.to_string(),
                    expected: "1 or 0",
                })
            }
        };
        let duration =
            |name: &'static str, default: Duration| match get(name).filter(|v| !v.is_empty()) {
                None => Ok(default),
                Some(v) => libproc::flags::parse_duration(&v).ok_or(ExecutorEnvError::Invalid {
                    name,
                    value: v,
                    expected: "a duration like 15mins, 5secs, 100ms",
                }),
            };
        Ok(ExecutorEnv {
            agent_pid,
            framework_id,
            executor_id,
            agent_id,
            directory,
            sandbox,
            checkpoint,
            recovery_timeout: duration("MESOS_RECOVERY_TIMEOUT", DEFAULT_RECOVERY_TIMEOUT)?,
            shutdown_grace_period: duration(
                "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
                DEFAULT_SHUTDOWN_GRACE_PERIOD,
            )?,
        })
    }

    /// The variables that describe this environment (what an agent sets when it launches an
    /// executor).
    pub fn to_vars(&self) -> Vec<(String, String)> {
        let mut v = vec![
            ("MESOS_SLAVE_PID".to_string(), self.agent_pid.to_string()),
            (
                "MESOS_FRAMEWORK_ID".to_string(),
                self.framework_id.to_string(),
            ),
            (
                "MESOS_EXECUTOR_ID".to_string(),
                self.executor_id.to_string(),
            ),
            (
                "MESOS_DIRECTORY".to_string(),
                self.directory.display().to_string(),
            ),
            (
                "MESOS_SANDBOX".to_string(),
                self.sandbox.display().to_string(),
            ),
            (
                "MESOS_CHECKPOINT".to_string(),
                if self.checkpoint { "1" } else { "0" }.to_string(),
            ),
            (
                "MESOS_RECOVERY_TIMEOUT".to_string(),
                format!("{}ms", self.recovery_timeout.as_millis()),
            ),
            (
                "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD".to_string(),
                format!("{}ms", self.shutdown_grace_period.as_millis()),
            ),
        ];
        if let Some(a) = &self.agent_id {
            v.push(("MESOS_SLAVE_ID".to_string(), a.to_string()));
        }
        v
    }
}

/// Driver settings.
#[derive(Debug, Clone, Copy)]
pub struct ExecutorConfig {
    /// Seed for update uuids (mixed with the executor and framework ids). Binaries seed from
    /// their OS pid and the clock.
    pub seed: u64,
    /// Wall-clock seconds for update timestamps (display only).
    pub clock: fn() -> f64,
}

fn zero_clock() -> f64 {
    0.0
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            seed: 0,
            clock: zero_clock,
        }
    }
}

/// Why an executor driver stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutorStopReason {
    /// [`ExecutorDriver::stop`] was called.
    Stopped,
    /// [`ExecutorDriver::abort`] was called.
    Aborted,
    /// The agent asked the executor to shut down and the grace period ran out.
    Shutdown,
    /// The agent went away and the framework does not checkpoint.
    AgentLost,
    /// The agent did not come back within the recovery timeout.
    RecoveryTimeout,
    /// The process was terminated from outside.
    Terminated,
}

/// Why an update was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateError {
    /// Executors may not send `TASK_STAGING`.
    #[error("executors must not send TASK_STAGING (task '{0}')")]
    Staging(TaskId),
    /// The driver has stopped.
    #[error("the executor driver has stopped")]
    Stopped,
}

// ---------------------------------------------------------------------------------------
// The pure core: tasks and unacknowledged updates.
// ---------------------------------------------------------------------------------------

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
        status.uuid = Some(self.rng.next_uuid());
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

// ---------------------------------------------------------------------------------------
// The shell.
// ---------------------------------------------------------------------------------------

struct ExecCore {
    env: ExecutorEnv,
    config: ExecutorConfig,
    agent: Pid,
    connected: bool,
    agent_id: Option<AgentId>,
    executor_info: Option<ExecutorInfo>,
    framework_info: Option<FrameworkInfo>,
    book: UpdateBook,
    recovery_timer: Option<TimerId>,
    /// Bumped on every (re)connection so a stale recovery timer does nothing.
    connection: u64,
    shutting_down: bool,
    stop_reason: Option<ExecutorStopReason>,
    stop_tx: Option<oneshot::Sender<ExecutorStopReason>>,
}

/// The libproc process hosting an [`Executor`].
pub struct ExecutorProcess<E: Executor> {
    executor: E,
    core: ExecCore,
}

/// The executor's handle on the driver inside a callback.
pub struct ExecutorDriver<'a, 'c, E: Executor> {
    ctx: &'a mut Ctx<'c, ExecutorProcess<E>>,
    core: &'a mut ExecCore,
}

impl<E: Executor> ExecutorProcess<E> {
    /// A driver process for `executor` in the environment `env`.
    pub fn new(env: ExecutorEnv, executor: E, config: ExecutorConfig) -> Self {
        let book = UpdateBook::new(
            env.framework_id.clone(),
            env.executor_id.clone(),
            config.seed,
        );
        ExecutorProcess {
            executor,
            core: ExecCore {
                agent: env.agent_pid.clone(),
                agent_id: env.agent_id.clone(),
                env,
                config,
                connected: false,
                executor_info: None,
                framework_info: None,
                book,
                recovery_timer: None,
                connection: 0,
                shutting_down: false,
                stop_reason: None,
                stop_tx: None,
            },
        }
    }

    /// The user's executor.
    pub fn executor(&self) -> &E {
        &self.executor
    }

    /// The unacknowledged updates, oldest first.
    pub fn unacknowledged(&self) -> &[StatusUpdate] {
        self.core.book.unacknowledged()
    }

    /// Whether the driver is registered with a live agent.
    pub fn connected(&self) -> bool {
        self.core.connected
    }

    fn active(&self) -> bool {
        self.core.stop_reason.is_none()
    }

    /// Runs `f` with the user's object and a driver handle, as a callback would (for code
    /// outside the callbacks, e.g. through [`ProcessRef::call`]).
    pub fn with_driver<R>(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        f: impl FnOnce(&mut E, &mut ExecutorDriver<'_, '_, E>) -> R,
    ) -> R {
        let ExecutorProcess { executor, core } = self;
        let mut d = ExecutorDriver { ctx, core };
        f(executor, &mut d)
    }

    fn finish(&mut self, ctx: &mut Ctx<'_, Self>, reason: ExecutorStopReason) {
        if self.core.stop_reason.is_none() {
            tracing::info!(?reason, "executor driver stopping");
            self.core.stop_reason = Some(reason);
            ctx.stop();
        }
    }

    /// Runs `shutdown()` on the executor once, then stops after the grace period.
    fn begin_shutdown(&mut self, ctx: &mut Ctx<'_, Self>, reason: ExecutorStopReason) {
        if self.core.shutting_down {
            return;
        }
        self.core.shutting_down = true;
        self.with_driver(ctx, |e, d| e.shutdown(d));
        let grace = self.core.env.shutdown_grace_period;
        ctx.after(grace, move |me: &mut Self, ctx| me.finish(ctx, reason));
    }
}

impl<E: Executor> Process for ExecutorProcess<E> {
    fn install(h: &mut Handlers<Self>) {
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, _from: Pid, m: ExecutorRegisteredMessage| {
                if !me.active() || me.core.connected {
                    return;
                }
                tracing::info!(agent_id = %m.slave_id, "executor registered");
                me.core.connected = true;
                me.core.connection += 1;
                me.core.agent_id = Some(m.slave_id);
                me.core.executor_info = Some(m.executor_info.clone());
                me.core.framework_info = Some(m.framework_info.clone());
                me.with_driver(ctx, |e, d| {
                    e.registered(d, &m.executor_info, &m.framework_info, &m.slave_info)
                });
            },
        );
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, _from: Pid, m: ReconnectExecutorMessage| {
                if !me.active() {
                    return;
                }
                tracing::info!(agent = %_from, "agent asks the executor to reconnect");
                me.core.agent = _from.clone();
                me.core.agent_id = Some(m.slave_id);
                ctx.relink(&_from);
                let msg = me.core.book.reregister_message();
                ctx.send(&_from, msg);
            },
        );
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, _from: Pid, m: ExecutorReregisteredMessage| {
                if !me.active() {
                    return;
                }
                tracing::info!(agent_id = %m.slave_id, "executor re-registered");
                me.core.connected = true;
                me.core.connection += 1;
                me.core.agent_id = Some(m.slave_id);
                if let Some(t) = me.core.recovery_timer.take() {
                    ctx.cancel(t);
                }
                me.with_driver(ctx, |e, d| e.reregistered(d, &m.slave_info));
            },
        );
        h.on(|me: &mut Self, ctx: &mut Ctx<Self>, _from: Pid, m: RunTaskMessage| {
            if !me.active() {
                return;
            }
            if !me.core.connected {
                tracing::warn!(task = %m.task.task_id, "ignoring a task while disconnected from the agent");
                return;
            }
            if me.core.framework_info.is_none() {
                me.core.framework_info = Some(m.framework.clone());
            }
            me.core.book.launched(m.task.clone());
            me.with_driver(ctx, |e, d| e.launch_task(d, m.task));
        });
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, _from: Pid, m: KillTaskMessage| {
                if me.active() {
                    me.with_driver(ctx, |e, d| e.kill_task(d, m.task_id, m.kill_policy));
                }
            },
        );
        h.on(|me: &mut Self, ctx: &mut Ctx<Self>, _from: Pid, m: StatusUpdateAcknowledgementMessage| {
            if !me.active() {
                return;
            }
            match me.core.book.acknowledge(&m.task_id, m.uuid) {
                Some(_) => me.with_driver(ctx, |e, d| e.acknowledged(d, &m.task_id, m.uuid)),
                None => tracing::warn!(task = %m.task_id, uuid = %m.uuid, "acknowledgement for an unknown update"),
            }
        });
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, _from: Pid, m: FrameworkToExecutorMessage| {
                if me.active() {
                    me.with_driver(ctx, |e, d| e.framework_message(d, m.data));
                }
            },
        );
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, _from: Pid, _m: ShutdownExecutorMessage| {
                if me.active() {
                    tracing::info!("the agent asks the executor to shut down");
                    me.begin_shutdown(ctx, ExecutorStopReason::Shutdown);
                }
            },
        );
    }

    fn started(&mut self, ctx: &mut Ctx<'_, Self>) {
        let agent = self.core.agent.clone();
        tracing::info!(%agent, executor_id = %self.core.env.executor_id, "registering with the agent");
        ctx.link(&agent);
        ctx.send(
            &agent,
            RegisterExecutorMessage {
                framework_id: self.core.env.framework_id.clone(),
                executor_id: self.core.env.executor_id.clone(),
            },
        );
    }

    fn exited(&mut self, ctx: &mut Ctx<'_, Self>, pid: Pid) {
        if !self.active() || pid != self.core.agent {
            return;
        }
        self.core.connected = false;
        if self.core.env.checkpoint {
            let timeout = self.core.env.recovery_timeout;
            tracing::warn!(?timeout, "agent exited; waiting for it to recover");
            self.with_driver(ctx, |e, d| e.disconnected(d));
            let connection = self.core.connection;
            if let Some(t) = self.core.recovery_timer.take() {
                ctx.cancel(t);
            }
            self.core.recovery_timer = Some(ctx.after(timeout, move |me: &mut Self, ctx| {
                me.core.recovery_timer = None;
                if me.active() && !me.core.connected && me.core.connection == connection {
                    tracing::warn!(
                        "the agent did not come back within the recovery timeout; shutting down"
                    );
                    me.begin_shutdown(ctx, ExecutorStopReason::RecoveryTimeout);
                }
            }));
        } else {
            tracing::warn!("agent exited and the framework does not checkpoint; shutting down");
            self.begin_shutdown(ctx, ExecutorStopReason::AgentLost);
        }
    }

    fn stopped(&mut self) {
        let reason = self
            .core
            .stop_reason
            .take()
            .unwrap_or(ExecutorStopReason::Terminated);
        self.executor.stopped(&reason);
        if let Some(tx) = self.core.stop_tx.take() {
            let _ = tx.send(reason);
        }
    }
}

impl<E: Executor> ExecutorDriver<'_, '_, E> {
    /// Sends a status update for a task. The driver fills in the uuid, the timestamp, the
    /// agent and executor ids and `SOURCE_EXECUTOR`, keeps the update until the agent
    /// acknowledges it, and returns its uuid.
    pub fn send_status_update(&mut self, status: TaskStatus) -> Result<StatusUuid, UpdateError> {
        if self.core.stop_reason.is_some() {
            return Err(UpdateError::Stopped);
        }
        let now = (self.core.config.clock)();
        let update = self
            .core
            .book
            .update(status, self.core.agent_id.clone(), now)?;
        let uuid = update.status.uuid.unwrap_or_default();
        tracing::info!(task = %update.status.task_id, state = %update.status.state, %uuid, "sending status update");
        let pid = Some(self.ctx.pid().to_string());
        self.ctx
            .send(&self.core.agent, StatusUpdateMessage { update, pid });
        Ok(uuid)
    }

    /// Sends opaque data to the scheduler.
    pub fn send_framework_message(&mut self, data: Vec<u8>) {
        let Some(agent_id) = self.core.agent_id.clone() else {
            tracing::warn!("not registered yet; dropping the framework message");
            return;
        };
        self.ctx.send(
            &self.core.agent,
            ExecutorToFrameworkMessage {
                agent_id,
                framework_id: self.core.env.framework_id.clone(),
                executor_id: self.core.env.executor_id.clone(),
                data,
            },
        );
    }

    /// Stops the driver (the executor process then exits).
    pub fn stop(&mut self) {
        self.finish(ExecutorStopReason::Stopped);
    }

    /// Stops the driver at once, as after an unrecoverable error.
    pub fn abort(&mut self) {
        self.finish(ExecutorStopReason::Aborted);
    }

    fn finish(&mut self, reason: ExecutorStopReason) {
        if self.core.stop_reason.is_none() {
            self.core.stop_reason = Some(reason);
            self.ctx.stop();
        }
    }

    /// The environment the agent gave the executor.
    pub fn env(&self) -> &ExecutorEnv {
        &self.core.env
    }

    /// The framework's info, once known.
    pub fn framework_info(&self) -> Option<&FrameworkInfo> {
        self.core.framework_info.as_ref()
    }

    /// This executor's info, once registered.
    pub fn executor_info(&self) -> Option<&ExecutorInfo> {
        self.core.executor_info.as_ref()
    }

    /// The agent's id, once known.
    pub fn agent_id(&self) -> Option<&AgentId> {
        self.core.agent_id.as_ref()
    }

    /// Whether the driver is registered with a live agent.
    pub fn connected(&self) -> bool {
        self.core.connected
    }

    /// Updates the agent has not acknowledged yet, oldest first.
    pub fn unacknowledged(&self) -> &[StatusUpdate] {
        self.core.book.unacknowledged()
    }

    /// The driver's PID.
    pub fn pid(&self) -> &Pid {
        self.ctx.pid()
    }

    /// The node the driver runs on.
    pub fn node(&self) -> &Node {
        self.ctx.node()
    }

    /// Runs `f` on the executor after `d`.
    pub fn after(
        &mut self,
        d: Duration,
        f: impl FnOnce(&mut E, &mut ExecutorDriver<'_, '_, E>) + 'static,
    ) -> TimerId {
        self.ctx.after(d, move |me: &mut ExecutorProcess<E>, ctx| {
            if me.active() {
                me.with_driver(ctx, f);
            }
        })
    }

    /// Cancels a timer.
    pub fn cancel(&mut self, timer: TimerId) -> bool {
        self.ctx.cancel(timer)
    }

    /// Runs `fut`, then `then` on the executor with its output.
    pub fn spawn<F, T>(
        &mut self,
        fut: F,
        then: impl FnOnce(&mut E, &mut ExecutorDriver<'_, '_, E>, T) + 'static,
    ) -> TimerId
    where
        F: Future<Output = T> + 'static,
        T: 'static,
    {
        self.ctx
            .spawn(fut, move |me: &mut ExecutorProcess<E>, ctx, out| {
                if me.active() {
                    me.with_driver(ctx, |e, d| then(e, d, out));
                }
            })
    }
}

/// A running executor driver: its process and a way to wait until it stops.
pub struct ExecutorHandle<E: Executor> {
    /// The driver process.
    pub process: ProcessRef<ExecutorProcess<E>>,
    stopped: oneshot::Receiver<ExecutorStopReason>,
}

impl<E: Executor> ExecutorHandle<E> {
    /// Waits until the driver stops and says why.
    pub async fn stopped(self) -> ExecutorStopReason {
        self.stopped.await.unwrap_or(ExecutorStopReason::Terminated)
    }
}

/// Starts an executor driver on `node` (as process `executor(N)`).
pub fn run<E: Executor>(
    node: &Node,
    env: ExecutorEnv,
    executor: E,
    config: ExecutorConfig,
) -> Result<ExecutorHandle<E>, SpawnError> {
    let (tx, rx) = oneshot::channel();
    let mut process = ExecutorProcess::new(env, executor, config);
    process.core.stop_tx = Some(tx);
    let id = node.generate_id("executor");
    let process = node.spawn(&id, process)?;
    Ok(ExecutorHandle {
        process,
        stopped: rx,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn policy(secs: f64) -> KillPolicy {
        KillPolicy {
            grace_period_secs: Some(secs),
        }
    }

    #[test]
    fn kill_grace_prefers_the_kill_then_the_task_and_skips_invalid_values() {
        let d = Duration::from_secs(3);
        assert_eq!(
            kill_grace(Some(&policy(1.0)), Some(&policy(2.0)), d),
            Duration::from_secs(1)
        );
        assert_eq!(
            kill_grace(None, Some(&policy(2.0)), d),
            Duration::from_secs(2)
        );
        assert_eq!(
            kill_grace(Some(&policy(1e300)), Some(&policy(2.0)), d),
            Duration::from_secs(2)
        );
        assert_eq!(kill_grace(Some(&policy(f64::NAN)), None, d), d);
        assert_eq!(kill_grace(None, None, d), d);
    }

    proptest! {
        /// Any f64 a scheduler puts in a kill policy (NaN, infinities, negatives, 1e300)
        /// gives a bounded grace period; `from_secs_f64` panicked on 1e300.
        #[test]
        fn any_kill_grace_from_the_wire_is_bounded(
            kill in proptest::option::of(proptest::num::f64::ANY),
            task in proptest::option::of(proptest::num::f64::ANY),
        ) {
            let k = kill.map(policy);
            let t = task.map(policy);
            let g = kill_grace(k.as_ref(), t.as_ref(), Duration::from_secs(3));
            prop_assert!(g.as_secs_f64() <= libproc::duration::MAX_UNTRUSTED_SECS);
            prop_assert!(std::time::Instant::now().checked_add(g * 2).is_some());
        }
    }

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    const BASE: &[(&str, &str)] = &[
        ("MESOS_SLAVE_PID", "slave(1)@127.0.0.1:5051"),
        ("MESOS_FRAMEWORK_ID", "F1"),
        ("MESOS_EXECUTOR_ID", "E1"),
        ("MESOS_DIRECTORY", "/tmp/sb"),
    ];

    #[test]
    fn env_defaults_and_round_trip() {
        let env = ExecutorEnv::from_lookup(lookup(BASE)).unwrap();
        assert_eq!(env.sandbox, PathBuf::from("/tmp/sb"));
        assert!(!env.checkpoint);
        assert_eq!(env.recovery_timeout, DEFAULT_RECOVERY_TIMEOUT);
        assert_eq!(env.shutdown_grace_period, DEFAULT_SHUTDOWN_GRACE_PERIOD);
        let vars = env.to_vars();
        let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(ExecutorEnv::from_lookup(lookup(&pairs)).unwrap(), env);
    }

    #[test]
    fn env_errors_name_the_variable() {
        let e = ExecutorEnv::from_lookup(lookup(&BASE[1..])).unwrap_err();
        assert!(e.to_string().contains("MESOS_SLAVE_PID"), "{e}");
        let mut bad = BASE.to_vec();
        bad[0] = ("MESOS_SLAVE_PID", "nope");
        assert!(ExecutorEnv::from_lookup(lookup(&bad))
            .unwrap_err()
            .to_string()
            .contains("id@ip:port"));
        let mut bad = BASE.to_vec();
        bad.push(("MESOS_RECOVERY_TIMEOUT", "soon"));
        assert!(ExecutorEnv::from_lookup(lookup(&bad))
            .unwrap_err()
            .to_string()
            .contains("MESOS_RECOVERY_TIMEOUT"));
        let mut bad = BASE.to_vec();
        bad.push(("MESOS_CHECKPOINT", "maybe"));
        assert!(ExecutorEnv::from_lookup(lookup(&bad)).is_err());
        assert!(ExecutorEnv::from_lookup(lookup(&BASE[..3]))
            .unwrap_err()
            .to_string()
            .contains("MESOS_DIRECTORY"));
    }

    #[test]
    fn book_tracks_updates_until_acknowledged() {
        let mut b = UpdateBook::new("F".into(), "E".into(), 1);
        let task = TaskInfo::command_task(
            "t",
            "t1".into(),
            "S".into(),
            Default::default(),
            proto::CommandInfo::shell("x"),
        );
        b.launched(task);
        assert!(b
            .update(TaskStatus::new("t1".into(), TaskState::Staging), None, 0.0)
            .is_err());
        let running = b
            .update(
                TaskStatus::new("t1".into(), TaskState::Running),
                Some("S".into()),
                1.5,
            )
            .unwrap();
        let done = b
            .update(
                TaskStatus::new("t1".into(), TaskState::Finished),
                Some("S".into()),
                2.0,
            )
            .unwrap();
        assert_ne!(running.status.uuid, done.status.uuid);
        assert_eq!(running.status.source, Some(Source::Executor));
        assert_eq!(running.status.executor_id, Some("E".into()));
        assert_eq!(running.status.agent_id, Some("S".into()));
        assert_eq!(running.timestamp, 1.5);
        let rr = b.reregister_message();
        assert_eq!((rr.tasks.len(), rr.updates.len()), (1, 2));
        assert!(b
            .acknowledge(&"t1".into(), StatusUuid::from_u128(9))
            .is_none());
        let d = done.status.uuid.unwrap();
        assert!(b.acknowledge(&"t1".into(), d).is_some());
        assert_eq!(
            b.tasks().count(),
            0,
            "terminal and acknowledged: the task is forgotten"
        );
        assert_eq!(b.unacknowledged().len(), 1);
        // Same seed and ids: same uuids (reproducible).
        let mut b2 = UpdateBook::new("F".into(), "E".into(), 1);
        let r2 = b2
            .update(TaskStatus::new("t1".into(), TaskState::Running), None, 0.0)
            .unwrap();
        assert_eq!(r2.status.uuid, running.status.uuid);
    }
}

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
//!
//! Layout: `env` (the environment contract), `updates` (the pure core), `process` (the
//! actor shell), `driver` (the API callbacks get), and `single_task` (what the built-in
//! one-task executors share).

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

mod driver;
mod env;
mod process;
pub mod single_task;
mod updates;

pub use env::{ExecutorEnv, ExecutorEnvError};
pub use process::{ExecutorDriver, ExecutorProcess};
pub use updates::UpdateBook;

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

/// A running executor driver: its process and a way to wait until it stops.
pub struct ExecutorHandle<E: Executor> {
    /// The driver process.
    pub process: ProcessRef<ExecutorProcess<E>>,
    stopped: oneshot::Receiver<ExecutorStopReason>,
    handback: oneshot::Receiver<E>,
}

impl<E: Executor> ExecutorHandle<E> {
    /// Waits until the driver stops and says why.
    pub async fn stopped(self) -> ExecutorStopReason {
        self.stopped.await.unwrap_or(ExecutorStopReason::Terminated)
    }

    /// Waits until the driver stops, and hands back the executor with the reason
    /// (`None` if the process was dropped without stopping, e.g. its node shut down).
    pub async fn finished(self) -> Option<(E, ExecutorStopReason)> {
        let reason = self.stopped.await.unwrap_or(ExecutorStopReason::Terminated);
        self.handback.await.ok().map(|e| (e, reason))
    }
}

/// Runs `executor` in the environment the agent gave this process (default settings)
/// until the driver stops, blocking this thread; returns the executor and why it
/// stopped. See [`crate::blocking`].
pub fn run_blocking<E: Executor>(
    executor: E,
) -> Result<(E, ExecutorStopReason), crate::blocking::RunError> {
    crate::blocking::run_executor(executor, ExecutorConfig::default())
}

/// Starts an executor driver on `node` (as process `executor(N)`).
pub fn run<E: Executor>(
    node: &Node,
    env: ExecutorEnv,
    executor: E,
    config: ExecutorConfig,
) -> Result<ExecutorHandle<E>, SpawnError> {
    let (tx, rx) = oneshot::channel();
    let (handback_tx, handback) = oneshot::channel();
    let mut process = ExecutorProcess::new(env, executor, config);
    process.core.stop_tx = Some(tx);
    process.handback = Some(handback_tx);
    let id = node.generate_id("executor");
    let process = node.spawn(&id, process)?;
    Ok(ExecutorHandle {
        process,
        stopped: rx,
        handback,
    })
}

#[cfg(test)]
mod tests;

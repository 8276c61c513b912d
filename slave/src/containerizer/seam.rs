//! The containerizer seam: what the agent asks of whatever runs its executors (Mesos's
//! `Containerizer`: `launch`, `wait`, `update`, `usage`, `destroy`, `recover`). The agent
//! holds an `Arc<dyn Containerizer>`; [`super::posix::PosixContainerizer`] runs executors
//! as OS processes in their own sessions under [`crate::isolation`],
//! [`super::docker::DockerContainerizer`] adds Docker containers to it, and a test can supply its own through
//! [`crate::AgentConfig::containerizer`], e.g. one that runs executors in-process.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use proto::{ContainerId, ExecutorInfo, FrameworkId, Resources};

use crate::isolation::{Limitation, ResourceStatistics};

/// Everything needed to start one executor run.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    /// The run's id.
    pub container_id: ContainerId,
    /// The executor to start (its command).
    pub executor: ExecutorInfo,
    /// Its framework.
    pub framework_id: FrameworkId,
    /// Its sandbox (created by the containerizer), also its working directory.
    pub sandbox: PathBuf,
    /// What the container may use (the executor's and its first task's resources).
    pub resources: Resources,
    /// The executor's environment (`MESOS_*`, `LIBPROCESS_IP`, the command's variables).
    pub environment: Vec<(String, String)>,
    /// The user the executor runs as (`--switch_user`); `None`: the agent's user.
    pub user: Option<crate::user::RunAs>,
}

/// A container the containerizer started (or recovered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// The run's id.
    pub id: ContainerId,
    /// OS pid of the executor (its session and process group id), if it is a process.
    pub os_pid: Option<i32>,
}

/// The outcome of [`Containerizer::launch`].
#[derive(Debug)]
pub struct Launched {
    /// The container.
    pub container: Container,
    /// Why the container could not be isolated (it has been destroyed; its tasks fail
    /// with this message once it exits).
    pub isolation_error: Option<String>,
}

/// A container found running after an agent restart.
#[derive(Debug, Clone)]
pub struct Recovered {
    /// The container.
    pub container: Container,
    /// Its executor.
    pub executor: ExecutorInfo,
    /// Its framework.
    pub framework_id: FrameworkId,
    /// What it and its tasks use.
    pub resources: Resources,
}

/// How a container ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Termination {
    /// The raw wait status (`ExitedExecutorMessage.status`), -1 if unknown.
    pub status: i32,
    /// "exited with status 1", "terminated by signal SIGKILL", ….
    pub description: String,
}

/// Resolves when the container has ended.
pub type WaitFuture = Pin<Box<dyn Future<Output = Termination> + Send>>;

/// What runs the agent's executors.
pub trait Containerizer: Send + Sync + std::fmt::Debug {
    /// Starts an executor run; `Err` when nothing could be started (its task fails).
    fn launch(&self, spec: LaunchSpec) -> Result<Launched, String>;
    /// Resolves when the launched container ends (called once per launch).
    fn wait(&self, container: &ContainerId) -> WaitFuture;
    /// The container's resources changed.
    fn update(&self, container: &ContainerId, resources: &Resources) -> Result<(), String>;
    /// The container's resource usage, at `timestamp`.
    fn usage(&self, container: &ContainerId, timestamp: f64) -> Option<ResourceStatistics>;
    /// Why the container must end, if it hit a limit.
    fn limitation(&self, container: &ContainerId) -> Option<Limitation>;
    /// Kills everything in the container (idempotent; a container already gone is fine).
    fn destroy(&self, container: &Container);
    /// [`Containerizer::destroy`], returning only once the container is gone (for the
    /// agent's last moments, when nothing will run afterwards).
    fn destroy_blocking(&self, container: &Container) {
        self.destroy(container);
    }
    /// The container ended: release what is left of it (cgroups, tables).
    fn cleanup(&self, container: &ContainerId);
    /// After an agent restart: `live` are the containers recovered with their executor
    /// still running (with what they were launched as); every other container this
    /// containerizer finds is an orphan to remove.
    fn recover(&self, live: &[Recovered]);
    /// Whether a recovered container's executor still runs (the agent is not its parent
    /// and polls this).
    fn alive(&self, container: &Container) -> bool;
}

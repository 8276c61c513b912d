//! Executor descriptions (`ExecutorInfo`): the process that runs a
//! framework's tasks on an agent.

use crate::command::CommandInfo;
use crate::container::ContainerInfo;
use crate::ids::{ExecutorId, FrameworkId};
use crate::labels::Labels;
use crate::resources::Resources;
use serde::{Deserialize, Serialize};

/// Describes a custom executor to launch (tasks without one use the command executor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutorInfo {
    /// Executor ID, unique within the framework on one agent.
    pub executor_id: ExecutorId,
    /// Owning framework (filled in by the master if absent).
    #[serde(default)]
    pub framework_id: Option<FrameworkId>,
    /// How to start the executor.
    pub command: CommandInfo,
    /// Resources consumed by the executor itself.
    #[serde(default)]
    pub resources: Resources,
    /// Human-readable name.
    #[serde(default)]
    pub name: Option<String>,
    /// Free-form source tag (used for monitoring).
    #[serde(default)]
    pub source: Option<String>,
    /// Containerization settings.
    #[serde(default)]
    pub container: Option<ContainerInfo>,
    /// Free-form labels.
    #[serde(default)]
    pub labels: Labels,
}

impl ExecutorInfo {
    /// An executor with the given ID and command and no resources.
    pub fn new(executor_id: ExecutorId, command: CommandInfo) -> Self {
        ExecutorInfo {
            executor_id,
            framework_id: None,
            command,
            resources: Resources::new(),
            name: None,
            source: None,
            container: None,
            labels: Labels::new(),
        }
    }
}

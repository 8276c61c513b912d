//! Task descriptions (`TaskInfo`), kill policies and Mesos's basic
//! shape validation of a task before it is matched against an offer.

use crate::command::CommandInfo;
use crate::container::{ContainerInfo, ContainerKind};
use crate::discovery::DiscoveryInfo;
use crate::executor::ExecutorInfo;
use crate::health::HealthCheck;
use crate::ids::{AgentId, TaskId};
use crate::labels::Labels;
use crate::resources::{Resources, ResourcesError};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// How to kill a task.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct KillPolicy {
    /// Seconds between SIGTERM (or `docker stop`) and SIGKILL; `None` uses
    /// the executor's default.
    #[serde(default)]
    pub grace_period_secs: Option<f64>,
}

/// Why a task description is malformed (reported as `TASK_ERROR`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TaskValidationError {
    /// An ID is empty, `.`/`..`, or contains `/` or control/whitespace characters.
    #[error("invalid {what} '{id}': {reason}")]
    BadId {
        /// `task ID` or `executor ID`.
        what: &'static str,
        /// The offending ID.
        id: String,
        /// What was wrong.
        reason: &'static str,
    },
    /// Neither `command` nor `executor` is set.
    #[error("task '{0}' must set exactly one of 'command' or 'executor'; neither is set")]
    NoCommandOrExecutor(String),
    /// Both `command` and `executor` are set.
    #[error("task '{0}' must set exactly one of 'command' or 'executor'; both are set")]
    BothCommandAndExecutor(String),
    /// The task has no resources.
    #[error("task '{0}' uses no resources; it needs at least cpus and mem")]
    NoResources(String),
    /// Task plus executor lack a positive amount of `cpus` or `mem`.
    #[error("task '{task}' (with its executor) has no {missing}; it needs cpus > 0 and mem > 0")]
    MissingScalar {
        /// The task ID.
        task: String,
        /// `cpus` or `mem`.
        missing: &'static str,
    },
    /// A resource entry is invalid.
    #[error("task '{task}' has an invalid resource: {source}")]
    BadResource {
        /// The task ID.
        task: String,
        /// The underlying error.
        #[source]
        source: ResourcesError,
    },
    /// Any other inconsistency (health check, kill policy, container).
    #[error("task '{task}': {reason}")]
    Other {
        /// The task ID.
        task: String,
        /// What was wrong.
        reason: String,
    },
}

/// Checks an ID the way Mesos does for task and executor IDs.
fn validate_id(what: &'static str, id: &str) -> Result<(), TaskValidationError> {
    let reason = if id.is_empty() {
        Some("it is empty")
    } else if id == "." || id == ".." {
        Some("'.' and '..' are not allowed")
    } else if id.contains('/') {
        Some("it contains '/'")
    } else if id.chars().any(|c| c.is_control() || c.is_whitespace()) {
        Some("it contains whitespace or control characters")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(TaskValidationError::BadId {
            what,
            id: id.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// A task a framework asks to launch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    /// Human-readable name.
    pub name: String,
    /// Task ID, unique within the framework.
    pub task_id: TaskId,
    /// The agent to run on (the offer's agent).
    pub agent_id: AgentId,
    /// Resources the task consumes.
    #[serde(default)]
    pub resources: Resources,
    /// Custom executor (exclusive with `command`).
    #[serde(default)]
    pub executor: Option<ExecutorInfo>,
    /// Command for the built-in command executor (exclusive with `executor`).
    #[serde(default)]
    pub command: Option<CommandInfo>,
    /// Containerization settings.
    #[serde(default)]
    pub container: Option<ContainerInfo>,
    /// Health check run by the executor.
    #[serde(default)]
    pub health_check: Option<HealthCheck>,
    /// Kill policy.
    #[serde(default)]
    pub kill_policy: Option<KillPolicy>,
    /// Service discovery information.
    #[serde(default)]
    pub discovery: Option<DiscoveryInfo>,
    /// Free-form labels.
    #[serde(default)]
    pub labels: Labels,
    /// Opaque data for the executor.
    #[serde(default)]
    pub data: Option<Vec<u8>>,
}

impl TaskInfo {
    /// A command task with the given resources and nothing else set.
    pub fn command_task(
        name: impl Into<String>,
        task_id: TaskId,
        agent_id: AgentId,
        resources: Resources,
        command: CommandInfo,
    ) -> Self {
        TaskInfo {
            name: name.into(),
            task_id,
            agent_id,
            resources,
            executor: None,
            command: Some(command),
            container: None,
            health_check: None,
            kill_policy: None,
            discovery: None,
            labels: Labels::new(),
            data: None,
        }
    }

    /// Resources of the task plus those of its executor, if any.
    pub fn total_resources(&self) -> Resources {
        match &self.executor {
            Some(e) => &self.resources + &e.resources,
            None => self.resources.clone(),
        }
    }

    /// Mesos's basic, offer-independent task validation: valid IDs, exactly
    /// one of command/executor, non-empty valid resources including positive
    /// cpus and mem (task plus executor), and consistent health check, kill
    /// policy and container settings.
    pub fn validate_shape(&self) -> Result<(), TaskValidationError> {
        let task = || self.task_id.as_str().to_owned();
        validate_id("task ID", self.task_id.as_str())?;
        match (&self.command, &self.executor) {
            (None, None) => return Err(TaskValidationError::NoCommandOrExecutor(task())),
            (Some(_), Some(_)) => return Err(TaskValidationError::BothCommandAndExecutor(task())),
            _ => {}
        }
        if let Some(e) = &self.executor {
            validate_id("executor ID", e.executor_id.as_str())?;
        }
        if self.resources.is_empty() {
            return Err(TaskValidationError::NoResources(task()));
        }
        let total = self.total_resources();
        for r in total.iter() {
            r.validate()
                .map_err(|source| TaskValidationError::BadResource {
                    task: task(),
                    source,
                })?;
        }
        for (missing, amount) in [("cpus", total.cpus()), ("mem", total.mem())] {
            if amount <= 0.0 {
                return Err(TaskValidationError::MissingScalar {
                    task: task(),
                    missing,
                });
            }
        }
        let other = |reason: String| TaskValidationError::Other {
            task: task(),
            reason,
        };
        if let Some(h) = &self.health_check {
            h.validate().map_err(other)?;
        }
        if let Some(g) = self.kill_policy.as_ref().and_then(|k| k.grace_period_secs) {
            if !g.is_finite() || g < 0.0 {
                return Err(other(format!(
                    "kill policy grace period must be a finite number >= 0, got {g}"
                )));
            }
        }
        let containers = [
            self.container.as_ref(),
            self.executor.as_ref().and_then(|e| e.container.as_ref()),
        ];
        for c in containers.into_iter().flatten() {
            if c.kind == ContainerKind::Docker
                && c.docker.as_ref().is_none_or(|d| d.image.trim().is_empty())
            {
                return Err(other(
                    "container of type DOCKER needs 'docker' settings with an image".to_owned(),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ExecutorId;

    fn task(id: &str) -> TaskInfo {
        TaskInfo::command_task(
            "t",
            id.into(),
            "S1".into(),
            "cpus:1;mem:32".parse().unwrap(),
            CommandInfo::shell("true"),
        )
    }

    #[test]
    fn valid_task() {
        assert_eq!(task("web-1").validate_shape(), Ok(()));
        let json = serde_json::to_string(&task("a")).unwrap();
        assert_eq!(serde_json::from_str::<TaskInfo>(&json).unwrap(), task("a"));
    }

    #[test]
    fn bad_ids() {
        for (id, why) in [
            ("", "it is empty"),
            (".", "'.' and '..' are not allowed"),
            ("..", "'.' and '..' are not allowed"),
            ("a/b", "it contains '/'"),
            ("a b", "it contains whitespace or control characters"),
        ] {
            let e = task(id).validate_shape().unwrap_err();
            assert_eq!(e.to_string(), format!("invalid task ID '{id}': {why}"));
        }
    }

    #[test]
    fn command_executor_exclusive() {
        let mut t = task("a");
        t.command = None;
        assert_eq!(
            t.validate_shape().unwrap_err().to_string(),
            "task 'a' must set exactly one of 'command' or 'executor'; neither is set"
        );
        let mut e = ExecutorInfo::new(ExecutorId::new("e"), CommandInfo::shell("x"));
        e.resources = "cpus:0.1;mem:32".parse().unwrap();
        t.executor = Some(e.clone());
        assert_eq!(t.validate_shape(), Ok(()));
        t.command = Some(CommandInfo::shell("y"));
        assert!(t
            .validate_shape()
            .unwrap_err()
            .to_string()
            .contains("both are set"));
        t.command = None;
        e.executor_id = ExecutorId::new("x/y");
        t.executor = Some(e);
        assert!(t
            .validate_shape()
            .unwrap_err()
            .to_string()
            .starts_with("invalid executor ID 'x/y'"));
    }

    #[test]
    fn resources_required() {
        let mut t = task("a");
        t.resources = Resources::new();
        assert_eq!(
            t.validate_shape().unwrap_err().to_string(),
            "task 'a' uses no resources; it needs at least cpus and mem"
        );
        t.resources = "cpus:1".parse().unwrap();
        assert_eq!(
            t.validate_shape().unwrap_err().to_string(),
            "task 'a' (with its executor) has no mem; it needs cpus > 0 and mem > 0"
        );
        t.resources = "mem:1;disk:5".parse().unwrap();
        assert!(t
            .validate_shape()
            .unwrap_err()
            .to_string()
            .contains("no cpus"));
    }

    #[test]
    fn other_checks() {
        let mut t = task("a");
        t.kill_policy = Some(KillPolicy {
            grace_period_secs: Some(-1.0),
        });
        assert!(t
            .validate_shape()
            .unwrap_err()
            .to_string()
            .contains("grace period"));
        let mut t = task("a");
        t.container = Some(ContainerInfo {
            kind: ContainerKind::Docker,
            ..Default::default()
        });
        assert!(t
            .validate_shape()
            .unwrap_err()
            .to_string()
            .contains("DOCKER"));
        t.container = Some(ContainerInfo::docker(" "));
        assert!(t
            .validate_shape()
            .unwrap_err()
            .to_string()
            .contains("image"));
        t.container = Some(ContainerInfo::docker("busybox"));
        assert!(t.validate_shape().is_ok());
        let mut t = task("a");
        let mut h = HealthCheck::tcp(80);
        h.tcp = None;
        t.health_check = Some(h);
        assert!(t
            .validate_shape()
            .unwrap_err()
            .to_string()
            .contains("health check"));
    }
}

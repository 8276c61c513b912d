//! What the agent tells an executor through its environment, and back.

use super::*;

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

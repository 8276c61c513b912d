//! Task lifecycle states, status-update sources and reason codes.
//!
//! Names and numeric values follow Mesos (`TaskState`, `TaskStatus.Source`,
//! `TaskStatus.Reason` in `mesos.proto`). All three serialize as their Mesos
//! name (`"TASK_RUNNING"`, `"SOURCE_SLAVE"`, `"REASON_RECONCILIATION"`).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// A name that is not one of an enum's Mesos names.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown {kind} '{name}'; expected one of: {expected}")]
pub struct UnknownNameError {
    /// Which enum was being parsed (`task state`, `source`, `reason`).
    pub kind: &'static str,
    /// The offending text.
    pub name: String,
    /// The accepted names, comma separated.
    pub expected: String,
}

macro_rules! named_enum {
    (
        $(#[$doc:meta])* $name:ident, $kind:literal,
        { $( $(#[$vdoc:meta])* $variant:ident = $text:literal ),+ $(,)? }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $( $(#[$vdoc])* #[serde(rename = $text)] $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The Mesos name, e.g. `TASK_RUNNING`.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownNameError;
            /// Parses the Mesos name (exact, case-sensitive).
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.trim() {
                    $($text => Ok($name::$variant),)+
                    other => Err(UnknownNameError {
                        kind: $kind,
                        name: other.to_owned(),
                        expected: [$($text),+].join(", "),
                    }),
                }
            }
        }
    };
}

named_enum!(
    /// The state of a task (Mesos `TaskState`).
    TaskState, "task state", {
        /// Initial state, set by the master; executors must not send it.
        Staging = "TASK_STAGING",
        /// The executor is launching the task.
        Starting = "TASK_STARTING",
        /// The task is running.
        Running = "TASK_RUNNING",
        /// The task is being killed (only for frameworks with TASK_KILLING_STATE).
        Killing = "TASK_KILLING",
        /// Terminal: finished successfully.
        Finished = "TASK_FINISHED",
        /// Terminal: failed.
        Failed = "TASK_FAILED",
        /// Terminal: killed.
        Killed = "TASK_KILLED",
        /// Terminal: invalid task description.
        Error = "TASK_ERROR",
        /// Lost (non-partition-aware frameworks); treated as terminal.
        Lost = "TASK_LOST",
        /// Terminal: never reached the executor (partition-aware).
        Dropped = "TASK_DROPPED",
        /// The agent is partitioned; the task may still run (partition-aware).
        Unreachable = "TASK_UNREACHABLE",
        /// Terminal: the task is gone (partition-aware).
        Gone = "TASK_GONE",
        /// Terminal: an operator marked the agent gone.
        GoneByOperator = "TASK_GONE_BY_OPERATOR",
        /// The master has no knowledge of the task (reconciliation).
        Unknown = "TASK_UNKNOWN",
    }
);

impl TaskState {
    /// Mesos's numeric value of the state (`TASK_STAGING` = 6, `TASK_RUNNING` = 1, ...).
    pub fn code(self) -> i32 {
        match self {
            TaskState::Starting => 0,
            TaskState::Running => 1,
            TaskState::Finished => 2,
            TaskState::Failed => 3,
            TaskState::Killed => 4,
            TaskState::Lost => 5,
            TaskState::Staging => 6,
            TaskState::Error => 7,
            TaskState::Killing => 8,
            TaskState::Dropped => 9,
            TaskState::Unreachable => 10,
            TaskState::Gone => 11,
            TaskState::GoneByOperator => 12,
            TaskState::Unknown => 13,
        }
    }

    /// The state with Mesos numeric value `code`, if any.
    pub fn from_code(code: i32) -> Option<TaskState> {
        TaskState::ALL.iter().copied().find(|s| s.code() == code)
    }

    /// True for states after which the task no longer runs and its resources
    /// are released (Mesos `isTerminalState`; includes `TASK_LOST`).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Finished
                | TaskState::Failed
                | TaskState::Killed
                | TaskState::Error
                | TaskState::Lost
                | TaskState::Dropped
                | TaskState::Gone
                | TaskState::GoneByOperator
        )
    }

    /// The lower-case suffix used in metric names, e.g. `running` for `master/tasks_running`.
    pub fn metric_suffix(self) -> String {
        self.as_str()
            .trim_start_matches("TASK_")
            .to_ascii_lowercase()
    }
}

named_enum!(
    /// Who generated a status update (Mesos `TaskStatus.Source`).
    Source, "source", {
        /// The master (e.g. TASK_LOST on agent removal, reconciliation).
        Master = "SOURCE_MASTER",
        /// The agent (e.g. executor terminated).
        Agent = "SOURCE_SLAVE",
        /// The executor.
        Executor = "SOURCE_EXECUTOR",
    }
);

impl Source {
    /// Mesos's numeric value (`SOURCE_MASTER` = 0, `SOURCE_SLAVE` = 1, `SOURCE_EXECUTOR` = 2).
    pub fn code(self) -> i32 {
        match self {
            Source::Master => 0,
            Source::Agent => 1,
            Source::Executor => 2,
        }
    }
}

named_enum!(
    /// Why a status update was sent (Mesos `TaskStatus.Reason`).
    Reason, "reason", {
        /// The command executor failed.
        CommandExecutorFailed = "REASON_COMMAND_EXECUTOR_FAILED",
        /// The container could not be launched.
        ContainerLaunchFailed = "REASON_CONTAINER_LAUNCH_FAILED",
        /// The container exceeded a resource limit.
        ContainerLimitation = "REASON_CONTAINER_LIMITATION",
        /// The container exceeded its disk limit.
        ContainerLimitationDisk = "REASON_CONTAINER_LIMITATION_DISK",
        /// The container exceeded its memory limit (OOM).
        ContainerLimitationMemory = "REASON_CONTAINER_LIMITATION_MEMORY",
        /// The container was preempted.
        ContainerPreempted = "REASON_CONTAINER_PREEMPTED",
        /// Updating the container's resources failed.
        ContainerUpdateFailed = "REASON_CONTAINER_UPDATE_FAILED",
        /// The executor did not register in time.
        ExecutorRegistrationTimeout = "REASON_EXECUTOR_REGISTRATION_TIMEOUT",
        /// The executor did not re-register in time after an agent restart.
        ExecutorReregistrationTimeout = "REASON_EXECUTOR_REREGISTRATION_TIMEOUT",
        /// The executor terminated.
        ExecutorTerminated = "REASON_EXECUTOR_TERMINATED",
        /// The executor unregistered (deprecated in Mesos).
        ExecutorUnregistered = "REASON_EXECUTOR_UNREGISTERED",
        /// The framework was removed.
        FrameworkRemoved = "REASON_FRAMEWORK_REMOVED",
        /// Sandbox garbage collection failed.
        GcError = "REASON_GC_ERROR",
        /// The framework ID was invalid.
        InvalidFrameworkId = "REASON_INVALID_FRAMEWORKID",
        /// The offers used to launch were invalid.
        InvalidOffers = "REASON_INVALID_OFFERS",
        /// The I/O switchboard exited.
        IoSwitchboardExited = "REASON_IO_SWITCHBOARD_EXITED",
        /// The agent lost its master.
        MasterDisconnected = "REASON_MASTER_DISCONNECTED",
        /// Sent in answer to reconciliation.
        Reconciliation = "REASON_RECONCILIATION",
        /// The task's resources are unknown.
        ResourcesUnknown = "REASON_RESOURCES_UNKNOWN",
        /// The agent disconnected from the master.
        AgentDisconnected = "REASON_SLAVE_DISCONNECTED",
        /// The agent was removed.
        AgentRemoved = "REASON_SLAVE_REMOVED",
        /// The agent was removed by an operator.
        AgentRemovedByOperator = "REASON_SLAVE_REMOVED_BY_OPERATOR",
        /// The agent re-registered.
        AgentReregistered = "REASON_SLAVE_REREGISTERED",
        /// The agent restarted.
        AgentRestarted = "REASON_SLAVE_RESTARTED",
        /// The agent is unknown to the master.
        AgentUnknown = "REASON_SLAVE_UNKNOWN",
        /// The agent is draining.
        AgentDraining = "REASON_AGENT_DRAINING",
        /// A task check's status changed.
        TaskCheckStatusUpdated = "REASON_TASK_CHECK_STATUS_UPDATED",
        /// A task health check's status changed.
        TaskHealthCheckStatusUpdated = "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED",
        /// The task group was invalid.
        TaskGroupInvalid = "REASON_TASK_GROUP_INVALID",
        /// The task group was not authorized.
        TaskGroupUnauthorized = "REASON_TASK_GROUP_UNAUTHORIZED",
        /// The task was invalid.
        TaskInvalid = "REASON_TASK_INVALID",
        /// The task was not authorized.
        TaskUnauthorized = "REASON_TASK_UNAUTHORIZED",
        /// The task is unknown.
        TaskUnknown = "REASON_TASK_UNKNOWN",
        /// The task was killed before it was launched.
        TaskKilledDuringLaunch = "REASON_TASK_KILLED_DURING_LAUNCH",
    }
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parsers_never_panic(s in "\\PC*") {
            let _ = s.parse::<TaskState>();
            let _ = s.parse::<Reason>();
            let _ = s.parse::<Source>();
            let _ = serde_json::from_str::<TaskState>(&s);
        }
    }

    #[test]
    fn codes_and_names() {
        assert_eq!(TaskState::Staging.code(), 6);
        assert_eq!(TaskState::Unknown.code(), 13);
        for s in TaskState::ALL {
            assert_eq!(TaskState::from_code(s.code()), Some(*s));
            assert_eq!(s.to_string().parse::<TaskState>().unwrap(), *s);
            let json = serde_json::to_string(s).unwrap();
            assert_eq!(json, format!("\"{s}\""));
            assert_eq!(serde_json::from_str::<TaskState>(&json).unwrap(), *s);
        }
        assert_eq!(TaskState::ALL.len(), 14);
        assert_eq!(TaskState::from_code(14), None);
        assert_eq!(TaskState::Running.metric_suffix(), "running");
        assert_eq!(
            TaskState::GoneByOperator.metric_suffix(),
            "gone_by_operator"
        );
        for r in Reason::ALL {
            assert_eq!(r.to_string().parse::<Reason>().unwrap(), *r);
        }
        assert_eq!(Source::Agent.to_string(), "SOURCE_SLAVE");
        assert_eq!(Source::Executor.code(), 2);
    }

    #[test]
    fn terminal_states() {
        let terminal: Vec<_> = TaskState::ALL.iter().filter(|s| s.is_terminal()).collect();
        assert_eq!(terminal.len(), 8);
        assert!(TaskState::Lost.is_terminal());
        assert!(!TaskState::Unreachable.is_terminal());
        assert!(!TaskState::Killing.is_terminal());
        assert!(!TaskState::Unknown.is_terminal());
    }

    #[test]
    fn unknown_name() {
        let e = "TASK_BOGUS".parse::<TaskState>().unwrap_err();
        assert!(e
            .to_string()
            .starts_with("unknown task state 'TASK_BOGUS'; expected one of: TASK_STAGING,"));
        assert!(serde_json::from_str::<Source>("\"SOURCE_X\"").is_err());
    }
}

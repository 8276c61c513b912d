//! What the built-in single-task executors (the command executor `mesos-executor` and the
//! Docker executor `mesos-docker-executor`) share: they run one task, end it with one
//! terminal update and exit once the agent acknowledges that update. Here are that
//! terminal update's bookkeeping ([`TerminalUpdate`]), how a kill is matched against the
//! one task ([`kill_target`]), the kill policy a shutdown uses ([`shutdown_kill_policy`]),
//! and the tail of the task's stderr that failure messages quote ([`stderr_tail`]).

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

use proto::{KillPolicy, StatusUuid, TaskId, TaskInfo, TaskState, TaskStatus};

use super::{Executor, ExecutorDriver};

/// SIGTERM (or `docker stop`) to SIGKILL when neither the kill nor the task names a
/// grace period (Mesos's command executor default).
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(3);

/// How long to wait for the agent to acknowledge the terminal update before exiting anyway.
/// The agent acknowledges as soon as it has the update, so this only runs out when the
/// agent is gone or badly overloaded; exiting earlier would race the update: the agent
/// could see the executor's exit before the update and fail a task that finished.
pub const TERMINAL_ACK_TIMEOUT: Duration = Duration::from_secs(30);

/// Lines of the task's stderr put in a failure message.
pub const STDERR_TAIL_LINES: usize = 10;

/// The one task's terminal update: sent at most once; once the agent acknowledges it (or
/// [`TERMINAL_ACK_TIMEOUT`] passes) the executor stops.
#[derive(Debug, Default)]
pub struct TerminalUpdate {
    sent: bool,
    uuid: Option<StatusUuid>,
}

impl TerminalUpdate {
    /// Whether the terminal update went out (or was attempted): the task is over.
    pub fn sent(&self) -> bool {
        self.sent
    }

    /// Sends `status` unless a terminal update was already sent, and arranges to stop when
    /// it is acknowledged or after [`TERMINAL_ACK_TIMEOUT`]. Returns whether it sent.
    pub fn send<E: Executor>(
        &mut self,
        driver: &mut ExecutorDriver<'_, '_, E>,
        status: TaskStatus,
    ) -> bool {
        if self.sent {
            return false;
        }
        self.sent = true;
        match driver.send_status_update(status) {
            Ok(uuid) => self.uuid = Some(uuid),
            Err(e) => tracing::error!(error = %e, "could not send the terminal update"),
        }
        driver.after(TERMINAL_ACK_TIMEOUT, |_me, d| {
            tracing::warn!("no acknowledgement for the terminal update; exiting anyway");
            d.stop();
        });
        true
    }

    /// The agent acknowledged `uuid`: stops the executor if that was the terminal update.
    pub fn acknowledged<E: Executor>(
        &self,
        driver: &mut ExecutorDriver<'_, '_, E>,
        uuid: StatusUuid,
    ) {
        if self.uuid == Some(uuid) {
            driver.stop();
        }
    }
}

/// What a kill of `task_id` is to an executor that runs `current` (if anything yet).
#[derive(Debug, Clone, PartialEq)]
pub enum KillTarget {
    /// No task has arrived: the kill came first. The executor keeps `placeholder` as its
    /// task (so a launch arriving later is refused) and ends with `status` (`TASK_KILLED`).
    NotLaunched {
        /// Stands in for the task that never arrived.
        placeholder: TaskInfo,
        /// The terminal update to send.
        status: TaskStatus,
    },
    /// Another task than the one this executor runs: nothing to do.
    Other,
    /// The task this executor runs.
    Current(TaskInfo),
}

/// Matches a kill of `task_id` against the executor's one task.
pub fn kill_target(current: Option<&TaskInfo>, task_id: TaskId) -> KillTarget {
    match current {
        None => KillTarget::NotLaunched {
            placeholder: TaskInfo::command_task(
                "",
                task_id.clone(),
                Default::default(),
                Default::default(),
                Default::default(),
            ),
            status: TaskStatus::new(task_id, TaskState::Killed)
                .with_message("Killed before it was launched"),
        },
        Some(task) if task.task_id != task_id => {
            tracing::warn!(%task_id, "kill for a task this executor does not run");
            KillTarget::Other
        }
        Some(task) => KillTarget::Current(task.clone()),
    }
}

/// The kill policy of a shutdown: 80% of the executor's shutdown grace period (the rest
/// is left for the terminal update), at most [`DEFAULT_KILL_GRACE`].
pub fn shutdown_kill_policy(shutdown_grace_period: Duration) -> KillPolicy {
    let grace = shutdown_grace_period.mul_f64(0.8);
    KillPolicy {
        grace_period_secs: Some(grace.min(DEFAULT_KILL_GRACE).as_secs_f64()),
    }
}

/// The last `n` lines written to `path` after `offset` (at most the last 64 KiB); empty
/// if the file cannot be read.
pub fn stderr_tail(path: &Path, offset: u64, n: usize) -> String {
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = offset.max(len.saturating_sub(64 * 1024)).min(len);
    let mut buf = Vec::new();
    if f.seek(SeekFrom::Start(start)).is_err() || f.read_to_end(&mut buf).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str) -> TaskInfo {
        TaskInfo::command_task(
            "t",
            TaskId::new(id),
            Default::default(),
            Default::default(),
            Default::default(),
        )
    }

    #[test]
    fn a_kill_before_the_launch_kills_a_placeholder() {
        match kill_target(None, TaskId::new("a")) {
            KillTarget::NotLaunched {
                placeholder,
                status,
            } => {
                assert_eq!(placeholder.task_id, TaskId::new("a"));
                assert_eq!(status.state, TaskState::Killed);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_kill_matches_only_the_current_task() {
        let t = task("a");
        assert_eq!(kill_target(Some(&t), TaskId::new("b")), KillTarget::Other);
        assert_eq!(
            kill_target(Some(&t), TaskId::new("a")),
            KillTarget::Current(t.clone())
        );
    }

    #[test]
    fn a_shutdown_kills_within_most_of_its_grace_period() {
        let p = shutdown_kill_policy(Duration::from_secs(1));
        assert_eq!(p.grace_period_secs, Some(0.8));
        let p = shutdown_kill_policy(Duration::from_secs(60));
        assert_eq!(p.grace_period_secs, Some(3.0));
    }

    #[test]
    fn the_stderr_tail_is_the_last_lines_after_the_offset() {
        let dir = std::env::temp_dir().join(format!("stderr-tail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("stderr");
        std::fs::write(&path, "before\none\ntwo\nthree\n").unwrap();
        assert_eq!(stderr_tail(&path, 7, 2), "two\nthree");
        assert_eq!(stderr_tail(&path, 7, 10), "one\ntwo\nthree");
        assert_eq!(stderr_tail(&dir.join("missing"), 0, 3), "");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

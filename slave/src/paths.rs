//! The agent's on-disk layout (Mesos `slave/paths.hpp`): sandboxes live at
//! `<work_dir>/slaves/<agent_id>/frameworks/<framework_id>/executors/<executor_id>/runs/<container_id>/`.

use std::path::{Path, PathBuf};

use proto::{AgentId, ContainerId, ExecutorId, FrameworkId};

/// The directory every sandbox lives under: `<work_dir>/slaves`.
pub fn slaves_root(work_dir: &Path) -> PathBuf {
    work_dir.join("slaves")
}

/// The sandbox of one executor run.
pub fn sandbox(
    work_dir: &Path,
    agent: &AgentId,
    framework: &FrameworkId,
    executor: &ExecutorId,
    container: &ContainerId,
) -> PathBuf {
    slaves_root(work_dir)
        .join(agent.as_str())
        .join("frameworks")
        .join(framework.as_str())
        .join("executors")
        .join(executor.as_str())
        .join("runs")
        .join(container.as_str())
}

/// Whether an id is safe as one path component (no separators, not `.`/`..`, not empty).
pub fn safe_component(id: &str) -> bool {
    !id.is_empty() && id != "." && id != ".." && !id.contains('/') && !id.contains('\0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_layout_matches_mesos() {
        let p = sandbox(
            Path::new("/var/lib/mesos"),
            &AgentId::new("S0"),
            &FrameworkId::new("F1"),
            &ExecutorId::new("e"),
            &ContainerId::new("c-1"),
        );
        assert_eq!(
            p,
            PathBuf::from("/var/lib/mesos/slaves/S0/frameworks/F1/executors/e/runs/c-1")
        );
        assert!(safe_component("task-1"));
        for bad in ["", ".", "..", "a/b"] {
            assert!(!safe_component(bad), "{bad}");
        }
    }
}

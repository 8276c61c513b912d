//! Containerizers (`--containerizers=mesos,docker`): which kinds of container this agent
//! runs, and the agent's side of the Docker containerizer. The seam the agent runs
//! executors through is [`Containerizer`] ([`seam`]); [`posix`] is its process
//! implementation.
//!
//! * `mesos` (the default): executors are OS processes in their own sessions, isolated as
//!   [`crate::isolation`] says.
//! * `docker`: a command task whose `ContainerInfo` is of type DOCKER runs under the Docker
//!   executor (`mesos-docker-executor`, next to `mesos-executor`), which does `docker run`.
//!   Its container is named `mesos-<containerId>` and labelled with this agent's work
//!   directory. The agent removes it whenever the executor exits (so a killed or crashed
//!   executor leaves no container), and at start-up removes the containers labelled with
//!   its work directory that its checkpoint does not know (orphans; Mesos
//!   `--docker_kill_orphans`). A live executor of a checkpointing framework keeps its
//!   container across an agent restart and reconnects like any executor.
//!
//! A Docker container runs under the engine, outside the executor's session and cgroups:
//! its limits are Docker's (`--cpu-shares`, `--memory`), and `/monitor/statistics` reports
//! the executor's own processes only.
//!
//! Start-up refuses an unknown containerizer and, for `docker`, an engine that does not
//! answer.

pub mod docker;
pub mod posix;
pub mod seam;
pub mod testing;

pub use docker::DockerContainerizer;
pub use posix::PosixContainerizer;
pub use seam::{Container, Containerizer, LaunchSpec, Launched, Recovered, Termination};
pub use testing::{TaskOutcome, TaskScript, TestContainerizer};

use std::path::{Path, PathBuf};

use libproc::docker::DockerCli;
use proto::container::DOCKER_AGENT_LABEL;
use proto::ContainerId;

/// The containerizers this build knows.
pub const SUPPORTED: &[&str] = &["mesos", "docker"];

/// Docker containerizer settings (`--docker`, `--docker_*`).
#[derive(Debug, Clone, PartialEq)]
pub struct DockerConfig {
    /// The `docker` CLI (Mesos `--docker`, default `docker`).
    pub docker: PathBuf,
    /// Passed to the Docker executor: `missing` (pull absent images, Mesos's behaviour) or
    /// `never` (only local images).
    pub pull_policy: String,
    /// Remove containers of this agent that its checkpoint does not know at start-up
    /// (Mesos `--docker_kill_orphans`, default true).
    pub kill_orphans: bool,
    /// Overrides the Docker executor binary (default `<launcher_dir>/mesos-docker-executor`).
    pub executor: Option<PathBuf>,
}

impl Default for DockerConfig {
    fn default() -> Self {
        DockerConfig {
            docker: PathBuf::from("docker"),
            pull_policy: "missing".into(),
            kill_orphans: true,
            executor: None,
        }
    }
}

/// The enabled containerizers.
#[derive(Debug, Clone, PartialEq)]
pub struct Containerizers {
    /// The Mesos containerizer (plain command tasks and custom executors).
    pub mesos: bool,
    /// The Docker containerizer, if enabled.
    pub docker: Option<DockerConfig>,
}

impl Default for Containerizers {
    fn default() -> Self {
        Containerizers {
            mesos: true,
            docker: None,
        }
    }
}

/// Parses `--containerizers`: whether `mesos` and `docker` are on.
pub fn parse(text: &str) -> Result<(bool, bool), String> {
    let (mut mesos, mut docker) = (false, false);
    for c in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match c {
            "mesos" => mesos = true,
            "docker" => docker = true,
            other => {
                return Err(format!(
                    "--containerizers: unknown containerizer '{other}'; valid: {}",
                    SUPPORTED.join(", ")
                ))
            }
        }
    }
    if !mesos && !docker {
        return Err(format!(
            "--containerizers is empty; valid: {}",
            SUPPORTED.join(", ")
        ));
    }
    Ok((mesos, docker))
}

/// Checks, at start-up, that the Docker engine answers through `docker`; returns its
/// version.
pub fn check_engine(docker: &Path) -> Result<String, String> {
    let cli = DockerCli::new(docker);
    cli.call_blocking(&["version"]).map_err(|e| {
        format!("--containerizers=docker: {e}; install the Docker CLI or set --docker")
    })?;
    cli.server_version().map_err(|e| {
        format!(
            "--containerizers=docker: the Docker engine does not answer ({e}); start dockerd or drop docker from --containerizers"
        )
    })
}

/// The label value marking the containers of the agent with `work_dir`.
pub fn owner_label(work_dir: &Path) -> String {
    work_dir.display().to_string()
}

/// Of the container `names` found, those not belonging to a `known` container.
pub fn orphans(names: &[String], known: &[ContainerId]) -> Vec<String> {
    names
        .iter()
        .filter(|n| !known.iter().any(|k| proto::docker_container_name(k) == **n))
        .cloned()
        .collect()
}

/// Names of every container (running or not) labelled as the agent with `work_dir`'s.
pub async fn owned_containers(docker: &Path, work_dir: &Path) -> Result<Vec<String>, String> {
    let names = DockerCli::new(docker)
        .names_labelled(DOCKER_AGENT_LABEL, &owner_label(work_dir))
        .await?;
    Ok(names
        .into_iter()
        .filter(|n| n.starts_with(proto::container::DOCKER_NAME_PREFIX))
        .collect())
}

/// `docker rm -f name`; a container that does not exist is fine.
pub async fn remove(docker: &Path, name: &str) -> Result<(), String> {
    DockerCli::new(docker).remove(name).await
}

/// [`remove`], blocking (for the agent's last moments).
pub fn remove_blocking(docker: &Path, name: &str) {
    let _ = DockerCli::new(docker).remove_blocking(name);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containerizers_flag() {
        assert_eq!(parse("mesos"), Ok((true, false)));
        assert_eq!(parse("mesos, docker"), Ok((true, true)));
        assert_eq!(parse("docker"), Ok((false, true)));
        let err = parse("mesos,rkt").unwrap_err();
        assert!(
            err.contains("'rkt'") && err.contains("mesos, docker"),
            "{err}"
        );
        assert!(parse(" , ").unwrap_err().contains("valid: mesos, docker"));
    }

    #[test]
    fn orphans_are_the_containers_not_known() {
        let names = vec!["mesos-a".to_string(), "mesos-b".to_string()];
        assert_eq!(
            orphans(&names, &[ContainerId::new("a")]),
            vec!["mesos-b".to_string()]
        );
        assert!(orphans(&names, &[ContainerId::new("a"), ContainerId::new("b")]).is_empty());
    }

    #[test]
    fn a_missing_docker_cli_is_a_clear_start_up_error() {
        let err = check_engine(Path::new("/nonexistent/docker")).unwrap_err();
        assert!(err.contains("--containerizers=docker"), "{err}");
        assert!(err.contains("/nonexistent/docker"), "{err}");
        // A CLI that runs but whose engine does not answer.
        let err = check_engine(Path::new("false")).unwrap_err();
        assert!(err.contains("does not answer"), "{err}");
    }
}

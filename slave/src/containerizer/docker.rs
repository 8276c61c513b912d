//! The Docker containerizer behind the [`Containerizer`] seam: a command task with a DOCKER
//! `ContainerInfo` runs under the Docker executor, a process launched like any executor
//! (by the wrapped [`PosixContainerizer`]), which does `docker run`. What this adds is the
//! engine side: the Docker container (`mesos-<containerId>`, labelled with the agent's
//! work directory) is removed whenever its executor ends, and at recovery the containers
//! of this agent that its checkpoint does not know are removed (`--docker_kill_orphans`).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Mutex;

use proto::{ContainerId, ExecutorInfo, Resources};

use super::posix::PosixContainerizer;
use super::seam::{Container, Containerizer, LaunchSpec, Launched, Recovered, WaitFuture};
use super::{orphans, owned_containers, remove, remove_blocking, DockerConfig};
use crate::isolation::{Limitation, ResourceStatistics};

/// Whether the executor runs its task in a Docker container (the Docker executor).
pub fn is_docker(info: &ExecutorInfo) -> bool {
    info.container
        .as_ref()
        .is_some_and(|c| c.kind == proto::ContainerKind::Docker)
}

/// The process containerizer plus Docker container removal.
#[derive(Debug)]
pub struct DockerContainerizer {
    inner: PosixContainerizer,
    config: DockerConfig,
    work_dir: PathBuf,
    /// Containers whose executor is the Docker executor.
    docker: Mutex<HashSet<ContainerId>>,
}

impl DockerContainerizer {
    /// Wraps `inner` for the agent with `work_dir`.
    pub fn new(inner: PosixContainerizer, config: DockerConfig, work_dir: PathBuf) -> Self {
        DockerContainerizer {
            inner,
            config,
            work_dir,
            docker: Mutex::new(HashSet::new()),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashSet<ContainerId>> {
        self.docker.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Containerizer for DockerContainerizer {
    fn launch(&self, mut spec: LaunchSpec) -> Result<Launched, String> {
        if is_docker(&spec.executor) {
            self.table().insert(spec.container_id.clone());
            // As Mesos's Docker containerizer: the sandbox and fetched files belong to the
            // task's user, but the Docker executor (a `docker` client) and `docker run`
            // keep the agent's user.
            spec.user = None;
        }
        self.inner.launch(spec)
    }

    fn wait(&self, container: &ContainerId) -> WaitFuture {
        self.inner.wait(container)
    }

    fn update(&self, container: &ContainerId, resources: &Resources) -> Result<(), String> {
        self.inner.update(container, resources)
    }

    fn usage(&self, container: &ContainerId, timestamp: f64) -> Option<ResourceStatistics> {
        self.inner.usage(container, timestamp)
    }

    fn limitation(&self, container: &ContainerId) -> Option<Limitation> {
        self.inner.limitation(container)
    }

    fn destroy(&self, container: &Container) {
        self.inner.destroy(container);
    }

    fn destroy_blocking(&self, container: &Container) {
        self.inner.destroy(container);
        if self.table().contains(&container.id) {
            remove_blocking(
                &self.config.docker,
                &proto::docker_container_name(&container.id),
            );
        }
    }

    fn cleanup(&self, container: &ContainerId) {
        self.inner.cleanup(container);
        if !self.table().remove(container) {
            return;
        }
        // The container lives under the engine, not in the executor's session.
        let cli = self.config.docker.clone();
        let name = proto::docker_container_name(container);
        tokio::spawn(async move {
            match remove(&cli, &name).await {
                Ok(()) => {
                    tracing::info!(container = %name, "removed the executor's Docker container")
                }
                Err(e) => {
                    tracing::warn!(container = %name, error = %e, "cannot remove the executor's Docker container")
                }
            }
        });
    }

    fn recover(&self, live: &[Recovered]) {
        self.inner.recover(live);
        let known: Vec<ContainerId> = live.iter().map(|r| r.container.id.clone()).collect();
        {
            let mut table = self.table();
            for r in live.iter().filter(|r| is_docker(&r.executor)) {
                table.insert(r.container.id.clone());
            }
        }
        if !self.config.kill_orphans {
            return;
        }
        let cli = self.config.docker.clone();
        let work_dir = self.work_dir.clone();
        tokio::spawn(async move {
            let removed = async {
                let names = owned_containers(&cli, &work_dir).await?;
                let mut removed = vec![];
                for name in orphans(&names, &known) {
                    tracing::info!(container = %name, "removing an orphan Docker container");
                    remove(&cli, &name).await?;
                    removed.push(name);
                }
                Ok::<_, String>(removed)
            };
            match removed.await {
                Ok(removed) if !removed.is_empty() => {
                    tracing::info!(?removed, "removed orphan Docker containers")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot recover Docker containers"),
            }
        });
    }

    fn alive(&self, container: &Container) -> bool {
        self.inner.alive(container)
    }
}

//! Container descriptions: `ContainerInfo` (Mesos or Docker), volumes and
//! Docker settings, and the naming convention the agent and its Docker executor share.

use serde::{Deserialize, Serialize};

use crate::ids::ContainerId;

/// Prefix of the names of Docker containers the agent owns (Mesos `DOCKER_NAME_PREFIX`).
pub const DOCKER_NAME_PREFIX: &str = "mesos-";

/// Docker label carrying the work directory of the agent that owns a container, so an
/// agent reaps only its own orphans when several agents share one engine.
pub const DOCKER_AGENT_LABEL: &str = "org.mesos.agent.work_dir";

/// Where the sandbox is mounted inside a Docker container (Mesos's mapped directory).
pub const DOCKER_MAPPED_SANDBOX: &str = "/mnt/mesos/sandbox";

/// The Docker container name of `container`: `mesos-<containerId>`.
pub fn docker_container_name(container: &ContainerId) -> String {
    format!("{DOCKER_NAME_PREFIX}{}", container.as_str())
}

/// Which containerizer runs the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum ContainerKind {
    /// The Mesos (universal) containerizer.
    #[default]
    #[serde(rename = "MESOS")]
    Mesos,
    /// The Docker containerizer.
    #[serde(rename = "DOCKER")]
    Docker,
}

/// Volume access mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum VolumeMode {
    /// Read-write.
    #[default]
    #[serde(rename = "RW")]
    Rw,
    /// Read-only.
    #[serde(rename = "RO")]
    Ro,
}

/// A volume mounted into the container.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Volume {
    /// Path inside the container.
    pub container_path: String,
    /// Path on the host (absolute) or relative to the sandbox.
    #[serde(default)]
    pub host_path: Option<String>,
    /// Access mode.
    #[serde(default)]
    pub mode: VolumeMode,
}

/// Docker network mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum DockerNetwork {
    /// `--net=host` (Mesos default).
    #[default]
    #[serde(rename = "HOST")]
    Host,
    /// `--net=bridge`.
    #[serde(rename = "BRIDGE")]
    Bridge,
    /// `--net=none`.
    #[serde(rename = "NONE")]
    None,
    /// A user-defined network.
    #[serde(rename = "USER")]
    User,
}

/// A host-to-container port mapping (bridge networking).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortMapping {
    /// Port on the host.
    pub host_port: u32,
    /// Port in the container.
    pub container_port: u32,
    /// `tcp` or `udp`.
    #[serde(default)]
    pub protocol: Option<String>,
}

/// An extra `docker run --key=value` parameter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DockerParameter {
    /// Parameter name without dashes.
    pub key: String,
    /// Parameter value.
    pub value: String,
}

/// Docker-specific container settings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DockerInfo {
    /// Image name, e.g. `busybox:latest`.
    pub image: String,
    /// Network mode.
    #[serde(default)]
    pub network: DockerNetwork,
    /// Port mappings.
    #[serde(default)]
    pub port_mappings: Vec<PortMapping>,
    /// Extra `docker run` parameters.
    #[serde(default)]
    pub parameters: Vec<DockerParameter>,
    /// Always pull the image.
    #[serde(default)]
    pub force_pull_image: bool,
    /// Run with `--privileged`.
    #[serde(default)]
    pub privileged: bool,
}

impl DockerInfo {
    /// Settings for `image` with host networking and no extras.
    pub fn new(image: impl Into<String>) -> Self {
        DockerInfo {
            image: image.into(),
            network: DockerNetwork::Host,
            port_mappings: Vec::new(),
            parameters: Vec::new(),
            force_pull_image: false,
            privileged: false,
        }
    }
}

/// How a task or executor is containerized.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct ContainerInfo {
    /// The containerizer kind (JSON field `type` in Mesos, accepted as an alias).
    #[serde(default, alias = "type")]
    pub kind: ContainerKind,
    /// Docker settings; required when `kind` is Docker.
    #[serde(default)]
    pub docker: Option<DockerInfo>,
    /// Volumes to mount.
    #[serde(default)]
    pub volumes: Vec<Volume>,
    /// Hostname inside the container.
    #[serde(default)]
    pub hostname: Option<String>,
}

impl ContainerInfo {
    /// A Docker container for `image`.
    pub fn docker(image: impl Into<String>) -> Self {
        ContainerInfo {
            kind: ContainerKind::Docker,
            docker: Some(DockerInfo::new(image)),
            volumes: Vec::new(),
            hostname: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_round_trip() {
        let mut c = ContainerInfo::docker("busybox");
        c.volumes.push(Volume {
            container_path: "/data".into(),
            host_path: Some("/tmp".into()),
            mode: VolumeMode::Ro,
        });
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains("\"kind\":\"DOCKER\""));
        assert!(json.contains("\"network\":\"HOST\""));
        assert_eq!(serde_json::from_str::<ContainerInfo>(&json).unwrap(), c);
        let d: ContainerInfo = serde_json::from_str("{}").unwrap();
        assert_eq!(d.kind, ContainerKind::Mesos);
        // Mesos's own JSON spells the kind `type`.
        let m: ContainerInfo = serde_json::from_str(
            r#"{"type":"DOCKER","docker":{"image":"busybox","force_pull_image":true}}"#,
        )
        .unwrap();
        assert_eq!(m.kind, ContainerKind::Docker);
        assert!(m.docker.unwrap().force_pull_image);
        assert_eq!(docker_container_name(&ContainerId::new("abc")), "mesos-abc");
    }
}

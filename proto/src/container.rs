//! Container descriptions: `ContainerInfo` (Mesos or Docker), volumes and
//! Docker settings.

use serde::{Deserialize, Serialize};

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
    /// The containerizer kind (JSON field `type` in Mesos).
    #[serde(default)]
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
    }
}

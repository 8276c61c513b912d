//! Service discovery information (Mesos `DiscoveryInfo`) that frameworks attach to tasks and
//! DNS-based readers of `/master/state` (Mesos-DNS) turn into records.
//!
//! The serde shape is Mesos's JSON shape (`ports` wraps its list in `{"ports": [...]}`), so
//! the state endpoints render it as it is.

use serde::{Deserialize, Serialize};

use crate::labels::Labels;

/// Who may see the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Visibility {
    /// Only the framework.
    #[default]
    #[serde(rename = "FRAMEWORK")]
    Framework,
    /// The cluster.
    #[serde(rename = "CLUSTER")]
    Cluster,
    /// Everyone.
    #[serde(rename = "EXTERNAL")]
    External,
}

/// One named port of a service.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DiscoveryPort {
    /// The port number.
    pub number: u32,
    /// Its name (e.g. `http`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `tcp` or `udp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Free-form labels.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
}

/// The list of ports (Mesos's `Ports` message).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct DiscoveryPorts {
    /// The ports.
    #[serde(default)]
    pub ports: Vec<DiscoveryPort>,
}

/// How a task is found (Mesos `DiscoveryInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct DiscoveryInfo {
    /// Who may see it.
    #[serde(default)]
    pub visibility: Visibility,
    /// The service name (Mesos-DNS uses it instead of the task name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Environment (e.g. `prod`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Location (e.g. a data centre).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Named ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<DiscoveryPorts>,
    /// Free-form labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<DiscoveryLabels>,
}

/// Labels wrapped as Mesos's JSON wraps them (`{"labels": [...]}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct DiscoveryLabels {
    /// The labels.
    #[serde(default)]
    pub labels: Labels,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mesos_json_shape_round_trips() {
        let j = serde_json::json!({
            "visibility": "EXTERNAL", "name": "web",
            "ports": {"ports": [{"number": 80, "name": "http", "protocol": "tcp"}]}
        });
        let d: DiscoveryInfo = serde_json::from_value(j.clone()).unwrap();
        assert_eq!(d.visibility, Visibility::External);
        assert_eq!(d.ports.as_ref().unwrap().ports[0].number, 80);
        assert_eq!(serde_json::to_value(&d).unwrap(), j);
    }
}

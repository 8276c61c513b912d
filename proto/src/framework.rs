//! Framework descriptions (`FrameworkInfo`) and framework capabilities.

use crate::ids::FrameworkId;
use crate::labels::Labels;
use serde::{Deserialize, Serialize};

/// An opt-in feature a framework declares when subscribing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FrameworkCapability {
    /// Accepts revocable (oversubscribed) resources.
    RevocableResources,
    /// Understands `TASK_KILLING`.
    TaskKillingState,
    /// Accepts agents with GPUs.
    GpuResources,
    /// Accepts shared resources.
    SharedResources,
    /// Understands `TASK_UNREACHABLE`, `TASK_DROPPED`, `TASK_GONE`, ...
    PartitionAware,
    /// Subscribes with a list of roles (`roles`) instead of one `role`.
    MultiRole,
    /// Understands refined (hierarchical) reservations.
    ReservationRefinement,
    /// Accepts offers from agents in remote regions.
    RegionAware,
}

/// Describes a framework to the master.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameworkInfo {
    /// Assigned by the master; set when re-subscribing after failover.
    #[serde(default)]
    pub id: Option<FrameworkId>,
    /// Framework name.
    pub name: String,
    /// Default user tasks run as.
    #[serde(default)]
    pub user: String,
    /// Roles (used with the MULTI_ROLE capability).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Legacy single role (Mesos default `*`).
    #[serde(default)]
    pub role: Option<String>,
    /// Seconds the master waits for a disconnected scheduler before tearing
    /// the framework down (default 0).
    #[serde(default)]
    pub failover_timeout: f64,
    /// Whether agents checkpoint the framework's state (needed for agent recovery).
    #[serde(default)]
    pub checkpoint: bool,
    /// Scheduler host name.
    #[serde(default)]
    pub hostname: Option<String>,
    /// Authentication principal.
    #[serde(default)]
    pub principal: Option<String>,
    /// Link to the framework's web UI.
    #[serde(default)]
    pub webui_url: Option<String>,
    /// Declared capabilities.
    #[serde(default)]
    pub capabilities: Vec<FrameworkCapability>,
    /// Free-form labels.
    #[serde(default)]
    pub labels: Labels,
}

impl FrameworkInfo {
    /// A framework with a name and user and every other field defaulted.
    pub fn new(name: impl Into<String>, user: impl Into<String>) -> Self {
        FrameworkInfo {
            id: None,
            name: name.into(),
            user: user.into(),
            roles: Vec::new(),
            role: None,
            failover_timeout: 0.0,
            checkpoint: false,
            hostname: None,
            principal: None,
            webui_url: None,
            capabilities: Vec::new(),
            labels: Labels::new(),
        }
    }

    /// True if the framework declared `capability`.
    pub fn has_capability(&self, capability: FrameworkCapability) -> bool {
        self.capabilities.contains(&capability)
    }

    /// The roles the framework subscribes with: `roles` under MULTI_ROLE (or
    /// when non-empty), otherwise the legacy `role`, defaulting to `*`.
    pub fn effective_roles(&self) -> Vec<String> {
        if self.has_capability(FrameworkCapability::MultiRole) || !self.roles.is_empty() {
            self.roles.clone()
        } else {
            vec![self.role.clone().unwrap_or_else(|| "*".to_owned())]
        }
    }

    /// True if the framework is partition aware.
    pub fn is_partition_aware(&self) -> bool {
        self.has_capability(FrameworkCapability::PartitionAware)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_capabilities() {
        let mut f = FrameworkInfo::new("fw", "root");
        assert_eq!(f.effective_roles(), vec!["*"]);
        f.role = Some("ads".into());
        assert_eq!(f.effective_roles(), vec!["ads"]);
        f.capabilities.push(FrameworkCapability::MultiRole);
        assert!(f.has_capability(FrameworkCapability::MultiRole));
        assert!(f.effective_roles().is_empty());
        f.roles = vec!["a".into(), "b".into()];
        assert_eq!(f.effective_roles(), vec!["a", "b"]);
        let json = serde_json::to_string(&f).unwrap();
        assert!(json.contains("\"capabilities\":[\"MULTI_ROLE\"]"));
        assert_eq!(serde_json::from_str::<FrameworkInfo>(&json).unwrap(), f);
        let old: FrameworkInfo = serde_json::from_str(r#"{"name":"x"}"#).unwrap();
        assert_eq!(old, FrameworkInfo::new("x", ""));
    }
}

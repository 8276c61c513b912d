//! Agent descriptions (`AgentInfo`, Mesos's `SlaveInfo`).

use crate::attributes::Attributes;
use crate::ids::AgentId;
use crate::resources::Resources;
use serde::{Deserialize, Serialize};

fn default_port() -> u16 {
    5051
}

/// What an agent advertises when registering with the master.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentInfo {
    /// Host name the agent is reachable at.
    pub hostname: String,
    /// Agent port (default 5051).
    #[serde(default = "default_port")]
    pub port: u16,
    /// Assigned by the master on first registration.
    #[serde(default)]
    pub id: Option<AgentId>,
    /// Total resources of the agent.
    #[serde(default)]
    pub resources: Resources,
    /// Descriptive attributes.
    #[serde(default)]
    pub attributes: Attributes,
}

impl AgentInfo {
    /// An agent on `hostname:5051` with the given resources and no attributes.
    pub fn new(hostname: impl Into<String>, resources: Resources) -> Self {
        AgentInfo {
            hostname: hostname.into(),
            port: default_port(),
            id: None,
            resources,
            attributes: Attributes::new(),
        }
    }
}

//! Task status updates (`TaskStatus`) and their acknowledgement UUIDs.
//!
//! A status update travels executor → agent → master → scheduler and is
//! acknowledged by its [`StatusUuid`]. The crate never reads a clock or a
//! random source: callers supply the timestamp and the UUID bytes.

use crate::ids::{AgentId, ContainerId, ExecutorId, TaskId};
use crate::labels::Labels;
use crate::task_state::{Reason, Source, TaskState};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// The 16-byte UUID identifying one status update for acknowledgement.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
pub struct StatusUuid(pub [u8; 16]);

/// Error parsing a [`StatusUuid`] from text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid UUID '{text}'; expected 32 hex digits, optionally dashed like 123e4567-e89b-12d3-a456-426614174000")]
pub struct StatusUuidError {
    /// The offending text.
    pub text: String,
}

impl StatusUuid {
    /// Wraps 16 caller-supplied bytes (e.g. from a seeded RNG).
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        StatusUuid(bytes)
    }

    /// Builds a UUID from a 128-bit number (big-endian byte order).
    pub const fn from_u128(v: u128) -> Self {
        StatusUuid(v.to_be_bytes())
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for StatusUuid {
    /// Canonical dashed lower-case hex: `8-4-4-4-12`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Into a buffer and out in one write: `/master/state` shows one per task, and
        // sixteen formatted writes each cost more than the rest of the uuid.
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 36];
        let mut at = 0;
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                out[at] = b'-';
                at += 1;
            }
            out[at] = HEX[usize::from(b >> 4)];
            out[at + 1] = HEX[usize::from(b & 15)];
            at += 2;
        }
        // Only ASCII hex digits and dashes were written.
        f.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
    }
}

impl FromStr for StatusUuid {
    type Err = StatusUuidError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || StatusUuidError { text: s.to_owned() };
        let hex: Vec<u8> = s.trim().bytes().filter(|b| *b != b'-').collect();
        if hex.len() != 32 {
            return Err(err());
        }
        let mut out = [0u8; 16];
        for (i, pair) in hex.chunks_exact(2).enumerate() {
            let digit = |c: u8| (c as char).to_digit(16).ok_or_else(err);
            out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
        }
        Ok(StatusUuid(out))
    }
}

/// The status of a task as reported in a status update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskStatus {
    /// The task this status is about.
    pub task_id: TaskId,
    /// The task's state.
    pub state: TaskState,
    /// Human-readable detail.
    #[serde(default)]
    pub message: Option<String>,
    /// Who generated the update.
    #[serde(default)]
    pub source: Option<Source>,
    /// Why the update was generated.
    #[serde(default)]
    pub reason: Option<Reason>,
    /// The agent running the task.
    #[serde(default)]
    pub agent_id: Option<AgentId>,
    /// The executor running the task.
    #[serde(default)]
    pub executor_id: Option<ExecutorId>,
    /// Health-check result, if the task has a health check.
    #[serde(default)]
    pub healthy: Option<bool>,
    /// Seconds since the Unix epoch, supplied by the sender.
    #[serde(default)]
    pub timestamp: f64,
    /// Acknowledgement UUID; `None` for updates that need no acknowledgement.
    #[serde(default)]
    pub uuid: Option<StatusUuid>,
    /// Opaque data from the executor.
    #[serde(default)]
    pub data: Option<String>,
    /// Free-form labels.
    #[serde(default)]
    pub labels: Labels,
    /// The container the task runs in and its addresses (set by the agent).
    #[serde(default)]
    pub container_status: Option<Box<ContainerStatus>>,
}

/// One IP address of a container (Mesos `NetworkInfo.IPAddress`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpAddress {
    /// `IPv4` or `IPv6`.
    pub protocol: String,
    /// The address.
    pub ip_address: String,
}

/// A network a container is attached to (Mesos `NetworkInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NetworkInfo {
    /// Its addresses.
    #[serde(default)]
    pub ip_addresses: Vec<IpAddress>,
    /// The network's name (absent for the host network).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// What the containerizer knows of a task's container (Mesos `ContainerStatus`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContainerStatus {
    /// The container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<ContainerId>,
    /// Its networks.
    #[serde(default)]
    pub network_infos: Vec<NetworkInfo>,
    /// The executor's OS pid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_pid: Option<u32>,
}

impl ContainerStatus {
    /// A container on the host network, reachable at `ip`.
    pub fn on_host(container_id: Option<ContainerId>, ip: &str) -> ContainerStatus {
        let protocol = if ip.contains(':') { "IPv6" } else { "IPv4" };
        ContainerStatus {
            container_id,
            network_infos: vec![NetworkInfo {
                ip_addresses: vec![IpAddress {
                    protocol: protocol.into(),
                    ip_address: ip.into(),
                }],
                name: None,
            }],
            executor_pid: None,
        }
    }

    /// Mesos's JSON (ids as `{"value": …}`).
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({ "network_infos": self.network_infos });
        if let Some(c) = &self.container_id {
            v["container_id"] = serde_json::json!({ "value": c.as_str() });
        }
        if let Some(p) = self.executor_pid {
            v["executor_pid"] = serde_json::json!(p);
        }
        v
    }
}

impl TaskStatus {
    /// A status with only the task and state set (timestamp 0).
    pub fn new(task_id: TaskId, state: TaskState) -> Self {
        TaskStatus {
            task_id,
            state,
            message: None,
            source: None,
            reason: None,
            agent_id: None,
            executor_id: None,
            healthy: None,
            timestamp: 0.0,
            uuid: None,
            data: None,
            labels: Labels::new(),
            container_status: None,
        }
    }

    /// Sets the message.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// Sets the source.
    pub fn with_source(mut self, source: Source) -> Self {
        self.source = Some(source);
        self
    }

    /// Sets the reason.
    pub fn with_reason(mut self, reason: Reason) -> Self {
        self.reason = Some(reason);
        self
    }

    /// Sets the agent ID.
    pub fn with_agent(mut self, agent_id: AgentId) -> Self {
        self.agent_id = Some(agent_id);
        self
    }

    /// Sets the executor ID.
    pub fn with_executor(mut self, executor_id: ExecutorId) -> Self {
        self.executor_id = Some(executor_id);
        self
    }

    /// Sets the health-check result.
    pub fn with_healthy(mut self, healthy: bool) -> Self {
        self.healthy = Some(healthy);
        self
    }

    /// Sets the timestamp (seconds since the Unix epoch).
    pub fn with_timestamp(mut self, timestamp: f64) -> Self {
        self.timestamp = timestamp;
        self
    }

    /// Sets the acknowledgement UUID.
    pub fn with_uuid(mut self, uuid: StatusUuid) -> Self {
        self.uuid = Some(uuid);
        self
    }

    /// Sets the opaque data.
    pub fn with_data(mut self, data: impl Into<String>) -> Self {
        self.data = Some(data.into());
        self
    }

    /// Sets the labels.
    pub fn with_labels(mut self, labels: Labels) -> Self {
        self.labels = labels;
        self
    }

    /// True if the state is terminal.
    pub fn is_terminal(&self) -> bool {
        self.state.is_terminal()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn uuid_text() {
        let u = StatusUuid::from_u128(0x123e4567_e89b_12d3_a456_426614174000);
        assert_eq!(u.to_string(), "123e4567-e89b-12d3-a456-426614174000");
        assert_eq!(u.to_string().parse::<StatusUuid>().unwrap(), u);
        assert_eq!(
            "123E4567E89B12D3A456426614174000"
                .parse::<StatusUuid>()
                .unwrap(),
            u
        );
        let e = "xyz".parse::<StatusUuid>().unwrap_err();
        assert!(e
            .to_string()
            .starts_with("invalid UUID 'xyz'; expected 32 hex digits"));
        assert!("123e4567-e89b-12d3-a456-42661417400g"
            .parse::<StatusUuid>()
            .is_err());
    }

    #[test]
    fn status_serde_round_trip_and_defaults() {
        let s = TaskStatus::new("t1".into(), TaskState::Running)
            .with_source(Source::Executor)
            .with_reason(Reason::TaskHealthCheckStatusUpdated)
            .with_agent("S0".into())
            .with_executor("e1".into())
            .with_healthy(true)
            .with_timestamp(1_700_000_000.25)
            .with_uuid(StatusUuid::from_u128(7))
            .with_message("ok")
            .with_data("d")
            .with_labels(Labels::new().with("k", "v"));
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains("\"state\":\"TASK_RUNNING\""));
        assert!(json.contains("\"reason\":\"REASON_TASK_HEALTH_CHECK_STATUS_UPDATED\""));
        assert_eq!(serde_json::from_str::<TaskStatus>(&json).unwrap(), s);
        let bytes = rmp_serde::to_vec_named(&s).unwrap();
        assert_eq!(rmp_serde::from_slice::<TaskStatus>(&bytes).unwrap(), s);
        // An older encoding with only the required fields still decodes.
        let old: TaskStatus =
            serde_json::from_str(r#"{"task_id":"t1","state":"TASK_LOST"}"#).unwrap();
        assert_eq!(old, TaskStatus::new("t1".into(), TaskState::Lost));
        assert!(old.is_terminal());
    }

    proptest! {
        #[test]
        fn uuid_parse_never_panics(s in "\\PC*") {
            let _ = s.parse::<StatusUuid>();
        }

        #[test]
        fn uuid_round_trip(v in any::<u128>()) {
            let u = StatusUuid::from_u128(v);
            prop_assert_eq!(u.to_string().parse::<StatusUuid>().unwrap(), u);
        }
    }
}

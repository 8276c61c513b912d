//! Pure pieces of the isolators: the limits a container's resources translate to (Mesos
//! constants), the v2 weight mapping, the usage record `/monitor/statistics` reports, and
//! the limitation a memory-limited container ends with.

use proto::{Reason, Resources, Source, TaskState, TaskStatus};
use serde::Serialize;

/// `cpu.shares` per CPU.
pub const CPU_SHARES_PER_CPU: f64 = 1024.0;
/// Smallest `cpu.shares`.
pub const MIN_CPU_SHARES: u64 = 2;
/// CFS period (100 ms).
pub const CFS_PERIOD_US: u64 = 100_000;
/// Smallest CFS quota (1 ms).
pub const MIN_CFS_QUOTA_US: u64 = 1_000;
/// Smallest memory limit (32 MB).
pub const MIN_MEMORY_BYTES: u64 = 32 << 20;

/// What a container's resources translate to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// CPUs allocated.
    pub cpus: f64,
    /// `cpu.shares` (v1).
    pub shares: u64,
    /// CFS quota per [`CFS_PERIOD_US`].
    pub cfs_quota_us: u64,
    /// Memory allocated, in bytes, before the minimum.
    pub mem_bytes: u64,
    /// Memory limit in bytes (at least [`MIN_MEMORY_BYTES`]).
    pub mem_limit_bytes: u64,
}

impl Limits {
    /// The limits for `resources` (cpus and mem; the rest is not isolated).
    pub fn of(resources: &Resources) -> Limits {
        let cpus = resources.cpus().max(0.0);
        let mem_bytes = (resources.mem().max(0.0) * 1024.0 * 1024.0) as u64;
        Limits {
            cpus,
            shares: ((CPU_SHARES_PER_CPU * cpus) as u64).max(MIN_CPU_SHARES),
            cfs_quota_us: ((cpus * CFS_PERIOD_US as f64) as u64).max(MIN_CFS_QUOTA_US),
            mem_bytes,
            mem_limit_bytes: mem_bytes.max(MIN_MEMORY_BYTES),
        }
    }

    /// The v2 `cpu.weight` (1-10000) for these shares, as systemd maps them.
    pub fn weight(&self) -> u64 {
        let s = self.shares.clamp(2, 262_144);
        (1 + (s - 2) * 9_999 / 262_142).clamp(1, 10_000)
    }
}

/// Usage of one container, Mesos `ResourceStatistics` field names.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ResourceStatistics {
    /// When it was taken (seconds since the epoch).
    pub timestamp: f64,
    /// Processes in the container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processes: Option<u64>,
    /// User CPU time.
    pub cpus_user_time_secs: f64,
    /// System CPU time.
    pub cpus_system_time_secs: f64,
    /// CPUs allocated.
    pub cpus_limit: f64,
    /// CFS periods elapsed (with `--cgroups_enable_cfs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus_nr_periods: Option<u64>,
    /// CFS periods throttled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus_nr_throttled: Option<u64>,
    /// Time throttled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus_throttled_time_secs: Option<f64>,
    /// Resident memory.
    pub mem_rss_bytes: u64,
    /// Total memory charged (cgroups: usage including page cache).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_total_bytes: Option<u64>,
    /// Page cache (cgroups).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_cache_bytes: Option<u64>,
    /// Memory allocated (the enforced limit under cgroups/mem).
    pub mem_limit_bytes: u64,
}

/// Why a container was stopped by the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limitation {
    /// The task status reason (`REASON_CONTAINER_LIMITATION_MEMORY`).
    pub reason: Reason,
    /// Mesos-style message.
    pub message: String,
}

impl Limitation {
    /// The memory limitation: "Memory limit exceeded: Requested: 64MB Maximum Used: 64MB".
    pub fn memory(limit_bytes: u64, max_used_bytes: u64) -> Limitation {
        Limitation {
            reason: Reason::ContainerLimitationMemory,
            message: format!(
                "Memory limit exceeded: Requested: {}MB Maximum Used: {}MB",
                limit_bytes >> 20,
                max_used_bytes >> 20
            ),
        }
    }

    /// Rewrites a terminal status of a task of the limited container: the agent reports it
    /// `TASK_FAILED` with the limitation's reason and message, as Mesos does.
    pub fn apply(&self, status: &mut TaskStatus) {
        status.state = TaskState::Failed;
        status.reason = Some(self.reason);
        status.source = Some(Source::Agent);
        status.message = Some(self.message.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Resources {
        s.parse().unwrap()
    }

    #[test]
    fn mesos_constants() {
        let l = Limits::of(&r("cpus:1.5;mem:64"));
        assert_eq!(l.shares, 1536);
        assert_eq!(l.cfs_quota_us, 150_000);
        assert_eq!(l.mem_limit_bytes, 64 << 20);
        let tiny = Limits::of(&r("cpus:0.001;mem:1"));
        assert_eq!(tiny.shares, MIN_CPU_SHARES);
        assert_eq!(tiny.cfs_quota_us, MIN_CFS_QUOTA_US);
        assert_eq!(tiny.mem_limit_bytes, MIN_MEMORY_BYTES);
        let none = Limits::of(&Resources::new());
        assert_eq!((none.shares, none.mem_limit_bytes), (2, 32 << 20));
    }

    #[test]
    fn weights_span_1_to_10000() {
        let w = |shares| {
            Limits {
                shares,
                ..Limits::of(&Resources::new())
            }
            .weight()
        };
        assert_eq!(w(2), 1);
        assert_eq!(w(1024), 39);
        assert_eq!(w(262_144), 10_000);
        assert!(w(3072) > 3 * w(1024) - 3);
    }

    #[test]
    fn memory_limitation_rewrites_a_terminal_status() {
        let l = Limitation::memory(64 << 20, (64 << 20) - 4096);
        assert_eq!(
            l.message,
            "Memory limit exceeded: Requested: 64MB Maximum Used: 63MB"
        );
        let mut s = TaskStatus::new("t".into(), TaskState::Failed)
            .with_source(Source::Executor)
            .with_message("Command terminated with signal SIGKILL");
        l.apply(&mut s);
        assert_eq!(s.reason, Some(Reason::ContainerLimitationMemory));
        assert_eq!(s.source, Some(Source::Agent));
        assert_eq!(s.state, TaskState::Failed);
        assert!(s.message.unwrap().starts_with("Memory limit exceeded"));
    }

    #[test]
    fn statistics_use_mesos_field_names() {
        let s = ResourceStatistics {
            cpus_limit: 1.0,
            mem_limit_bytes: 5,
            ..Default::default()
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["cpus_limit"], 1.0);
        assert_eq!(v["mem_limit_bytes"], 5);
        assert!(v.get("cpus_nr_periods").is_none());
    }
}

//! Container isolation (Mesos's isolators, `--isolation=`): what the agent does to each
//! executor's container around its life, and the usage it reports.
//!
//! * `posix/cpu`, `posix/mem` (the default) report usage of the executor's processes from
//!   `/proc` and enforce nothing.
//! * `cgroups/cpu` gives each container a cgroup in the cpu and cpuacct hierarchies with
//!   `cpu.shares` = 1024 × cpus (min 2) and, with `--cgroups_enable_cfs`, a CFS quota of
//!   cpus × 100 ms per 100 ms. `cgroups/mem` sets a hard memory limit = mem (min 32 MB) and
//!   detects OOM kills, which end the container's tasks `TASK_FAILED` with
//!   `REASON_CONTAINER_LIMITATION_MEMORY`. Both work on cgroup v1 and v2
//!   ([`cgroupfs`]); `cgroups/all` means both.
//!
//! The agent calls [`Isolation::launch`] right after spawning an executor (before it can
//! register and receive a task, so everything it starts inherits the cgroups),
//! [`Isolation::limitation`] when a task ends or the executor exits, and
//! [`Isolation::cleanup`] when the executor is gone. [`Isolation::recover`] removes cgroups
//! of containers this agent does not know (orphans) at start-up. The [`monitor`] process
//! serves `/monitor/statistics` from [`Isolation::statistics`].
//!
//! An [`Isolation`] is a cheap handle: clones share the container table.

pub mod cgroupfs;
pub mod cgroups;
pub mod limits;
pub mod monitor;
pub mod posix;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use proto::{ContainerId, ExecutorInfo, FrameworkId, Resources};
use serde::Serialize;

pub use cgroupfs::Version as CgroupsVersion;
pub use limits::{Limitation, Limits, ResourceStatistics};

/// The isolators this build knows.
pub const SUPPORTED: &[&str] = &[
    "posix/cpu",
    "posix/mem",
    "cgroups/cpu",
    "cgroups/mem",
    "cgroups/all",
];

/// Isolation settings (the `--isolation` and `--cgroups_*` flags).
#[derive(Debug, Clone, PartialEq)]
pub struct IsolationConfig {
    /// Comma-separated isolators (default `posix/cpu,posix/mem`).
    pub isolation: String,
    /// Where cgroup hierarchies are mounted (default `/sys/fs/cgroup`).
    pub cgroups_hierarchy: PathBuf,
    /// Cgroup (relative to the agent's own) holding the containers' cgroups (default `mesos`).
    pub cgroups_root: String,
    /// Enforce CPU limits with CFS bandwidth control (default false).
    pub cgroups_enable_cfs: bool,
}

impl Default for IsolationConfig {
    fn default() -> Self {
        IsolationConfig {
            isolation: "posix/cpu,posix/mem".into(),
            cgroups_hierarchy: PathBuf::from("/sys/fs/cgroup"),
            cgroups_root: "mesos".into(),
            cgroups_enable_cfs: false,
        }
    }
}

/// What `/monitor/statistics` says about a container besides its usage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContainerMeta {
    /// The executor.
    pub executor_id: String,
    /// Its name.
    pub executor_name: String,
    /// Its framework.
    pub framework_id: String,
    /// Its source (the task id for command executors).
    pub source: String,
}

impl ContainerMeta {
    /// The meta data of `info`'s container.
    pub fn of(info: &ExecutorInfo, framework_id: &FrameworkId) -> ContainerMeta {
        ContainerMeta {
            executor_id: info.executor_id.to_string(),
            executor_name: info.name.clone().unwrap_or_default(),
            framework_id: framework_id.to_string(),
            source: info.source.clone().unwrap_or_default(),
        }
    }
}

#[derive(Debug)]
struct Container {
    meta: ContainerMeta,
    pid: i32,
    limits: Limits,
}

#[derive(Debug)]
struct Inner {
    names: Vec<String>,
    cpu: Option<&'static str>,
    mem: Option<&'static str>,
    cgroups: Option<cgroups::Cgroups>,
    containers: Mutex<BTreeMap<ContainerId, Container>>,
}

/// The agent's isolators. See the module docs.
#[derive(Debug, Clone)]
pub struct Isolation {
    inner: Arc<Inner>,
}

impl Default for Isolation {
    fn default() -> Self {
        Isolation::posix()
    }
}

/// Parses `--isolation`: which of cpu and mem go to cgroups.
fn parse_isolation(text: &str) -> Result<(Vec<String>, bool, bool), String> {
    let mut names = vec![];
    let (mut cg_cpu, mut cg_mem) = (false, false);
    for iso in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match iso {
            "posix/cpu" | "posix/mem" => {}
            "cgroups/cpu" => cg_cpu = true,
            "cgroups/mem" => cg_mem = true,
            "cgroups/all" => (cg_cpu, cg_mem) = (true, true),
            other => {
                return Err(format!(
                    "--isolation: unknown isolator '{other}'; supported: {}",
                    SUPPORTED.join(", ")
                ))
            }
        }
        if !names.iter().any(|n| n == iso) {
            names.push(iso.to_string());
        }
    }
    Ok((names, cg_cpu, cg_mem))
}

impl Isolation {
    /// The default posix isolators (never fails).
    pub fn posix() -> Isolation {
        Isolation {
            inner: Arc::new(Inner {
                names: vec!["posix/cpu".into(), "posix/mem".into()],
                cpu: Some("posix/cpu"),
                mem: Some("posix/mem"),
                cgroups: None,
                containers: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// The isolators `config` names. Fails with a clear message for an unknown isolator or
    /// when cgroups isolators cannot work on this host (no usable hierarchy, not writable).
    pub fn new(config: &IsolationConfig) -> Result<Isolation, String> {
        let (names, cg_cpu, cg_mem) = parse_isolation(&config.isolation)?;
        let cgroups = if cg_cpu || cg_mem {
            Some(
                cgroups::Cgroups::new(
                    &config.cgroups_hierarchy,
                    &config.cgroups_root,
                    cg_cpu,
                    cg_mem,
                    config.cgroups_enable_cfs,
                )
                .map_err(|e| format!("--isolation={}: {e}", config.isolation))?,
            )
        } else {
            None
        };
        let has = |n: &str| names.iter().any(|x| x == n);
        Ok(Isolation {
            inner: Arc::new(Inner {
                cpu: if cg_cpu {
                    Some("cgroups/cpu")
                } else if has("posix/cpu") {
                    Some("posix/cpu")
                } else {
                    None
                },
                mem: if cg_mem {
                    Some("cgroups/mem")
                } else if has("posix/mem") {
                    Some("posix/mem")
                } else {
                    None
                },
                names,
                cgroups,
                containers: Mutex::new(BTreeMap::new()),
            }),
        })
    }

    /// The isolators in use, as configured.
    pub fn names(&self) -> &[String] {
        &self.inner.names
    }

    /// The cgroup version in use, if a cgroups isolator is on.
    pub fn cgroups_version(&self) -> Option<CgroupsVersion> {
        self.inner.cgroups.as_ref().map(|c| c.version())
    }

    /// The container's cgroups (empty without cgroups isolators).
    pub fn cgroup_dirs(&self, container: &ContainerId) -> Vec<PathBuf> {
        self.inner
            .cgroups
            .as_ref()
            .map(|c| c.dirs(container))
            .unwrap_or_default()
    }

    fn table(&self) -> MutexGuard<'_, BTreeMap<ContainerId, Container>> {
        self.inner
            .containers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Isolates a just-spawned executor (`pid`, a session leader) with `resources`: creates
    /// its cgroups, sets the limits and moves it in. On error the container is cleaned up
    /// and the caller should kill the executor.
    pub fn launch(
        &self,
        container: &ContainerId,
        meta: ContainerMeta,
        resources: &Resources,
        pid: i32,
    ) -> Result<(), String> {
        let limits = Limits::of(resources);
        if let Some(cg) = &self.inner.cgroups {
            let done = cg
                .prepare(container, &limits)
                .and_then(|()| cg.isolate(container, pid));
            if let Err(e) = done {
                let _ = cg.destroy(container);
                return Err(format!("Failed to isolate container {container}: {e}"));
            }
        }
        self.table()
            .insert(container.clone(), Container { meta, pid, limits });
        Ok(())
    }

    /// Registers an executor that was isolated before (recovered by a restarted agent).
    pub fn recovered(
        &self,
        container: &ContainerId,
        meta: ContainerMeta,
        resources: &Resources,
        pid: i32,
    ) {
        let limits = Limits::of(resources);
        self.table()
            .insert(container.clone(), Container { meta, pid, limits });
    }

    /// The container's resources changed (tasks added to or gone from its executor).
    pub fn update(&self, container: &ContainerId, resources: &Resources) -> Result<(), String> {
        let limits = Limits::of(resources);
        let mut table = self.table();
        let Some(c) = table.get_mut(container) else {
            return Ok(());
        };
        if c.limits == limits {
            return Ok(());
        }
        c.limits = limits;
        drop(table);
        match &self.inner.cgroups {
            Some(cg) => cg.update(container, &limits),
            None => Ok(()),
        }
    }

    /// Why the container must end, if a limit was hit (an OOM kill under `cgroups/mem`).
    pub fn limitation(&self, container: &ContainerId) -> Option<Limitation> {
        let cg = self.inner.cgroups.as_ref()?;
        let limits = self.table().get(container).map(|c| c.limits);
        cg.limitation(container, limits.as_ref())
    }

    /// Forgets the container; kills what is left in its cgroups and removes them (on a
    /// background thread: the killed processes need a moment to leave).
    pub fn cleanup(&self, container: &ContainerId) {
        self.table().remove(container);
        if self.inner.cgroups.is_some() {
            let me = self.clone();
            let id = container.clone();
            let spawned = std::thread::Builder::new()
                .name("cgroup-cleanup".into())
                .spawn(move || me.destroy_now(&id));
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot start a cgroup cleanup thread; cleaning up inline");
                self.destroy_now(container);
            }
        }
    }

    fn destroy_now(&self, container: &ContainerId) {
        if let Some(cg) = &self.inner.cgroups {
            if let Err(e) = cg.destroy(container) {
                tracing::warn!(%container, error = %e, "cannot remove the container's cgroups");
            }
        }
    }

    /// Removes the cgroups of containers that are neither in `known` nor live in this
    /// isolation (orphans of a previous agent run); returns their ids.
    pub fn recover(&self, known: &[ContainerId]) -> Vec<String> {
        let Some(cg) = &self.inner.cgroups else {
            return vec![];
        };
        let live: Vec<ContainerId> = self.table().keys().cloned().collect();
        let orphans: Vec<String> = cg
            .containers()
            .into_iter()
            .filter(|n| !known.iter().chain(live.iter()).any(|k| k.as_str() == n))
            .collect();
        for name in &orphans {
            tracing::info!(container = %name, "removing the cgroups of an orphan container");
            self.destroy_now(&ContainerId::new(name.clone()));
        }
        orphans
    }

    /// The container's usage now (`None` if it is unknown).
    pub fn usage(&self, container: &ContainerId, timestamp: f64) -> Option<ResourceStatistics> {
        let (pid, limits) = {
            let table = self.table();
            let c = table.get(container)?;
            (c.pid, c.limits)
        };
        let mut s = ResourceStatistics {
            timestamp,
            cpus_limit: limits.cpus,
            mem_limit_bytes: limits.mem_bytes,
            ..Default::default()
        };
        let cg = match &self.inner.cgroups {
            Some(cg) => cg.usage(container),
            None => Default::default(),
        };
        let needs_proc =
            self.inner.cpu != Some("cgroups/cpu") || self.inner.mem != Some("cgroups/mem");
        let proc_usage = needs_proc.then(|| posix::usage(pid));
        s.processes = cg.processes.or(proc_usage.map(|u| u.processes));
        if self.inner.cpu == Some("cgroups/cpu") {
            s.cpus_user_time_secs = cg.user_secs.unwrap_or(0.0);
            s.cpus_system_time_secs = cg.system_secs.unwrap_or(0.0);
            s.cpus_nr_periods = cg.nr_periods;
            s.cpus_nr_throttled = cg.nr_throttled;
            s.cpus_throttled_time_secs = cg.throttled_secs;
        } else if let Some(u) = proc_usage.filter(|_| self.inner.cpu.is_some()) {
            s.cpus_user_time_secs = u.user_secs;
            s.cpus_system_time_secs = u.system_secs;
        }
        if self.inner.mem == Some("cgroups/mem") {
            s.mem_rss_bytes = cg.rss_bytes.unwrap_or(0);
            s.mem_cache_bytes = cg.cache_bytes;
            s.mem_total_bytes = cg.total_bytes;
            s.mem_limit_bytes = cg.limit_bytes.unwrap_or(limits.mem_limit_bytes);
        } else if let Some(u) = proc_usage.filter(|_| self.inner.mem.is_some()) {
            s.mem_rss_bytes = u.rss_bytes;
        }
        Some(s)
    }

    /// The `/monitor/statistics` document: one entry per live container.
    pub fn statistics(&self, timestamp: f64) -> serde_json::Value {
        let containers: Vec<(ContainerId, ContainerMeta)> = self
            .table()
            .iter()
            .map(|(id, c)| (id.clone(), c.meta.clone()))
            .collect();
        let entries: Vec<serde_json::Value> = containers
            .into_iter()
            .filter_map(|(id, meta)| {
                let stats = self.usage(&id, timestamp)?;
                Some(serde_json::json!({
                    "executor_id": meta.executor_id,
                    "executor_name": meta.executor_name,
                    "framework_id": meta.framework_id,
                    "source": meta.source,
                    "container_id": id.as_str(),
                    "statistics": stats,
                }))
            })
            .collect();
        serde_json::Value::Array(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isolation_flag_parsing() {
        let (n, cpu, mem) = parse_isolation("posix/cpu, posix/mem").unwrap();
        assert_eq!(n, vec!["posix/cpu", "posix/mem"]);
        assert!(!cpu && !mem);
        let (_, cpu, mem) = parse_isolation("cgroups/cpu,posix/mem").unwrap();
        assert!(cpu && !mem);
        let (_, cpu, mem) = parse_isolation("cgroups/all").unwrap();
        assert!(cpu && mem);
        let err = parse_isolation("cgroups/cpu,network/cni").unwrap_err();
        assert!(err.contains("unknown isolator 'network/cni'"), "{err}");
        assert!(err.contains("cgroups/mem"), "{err}");
        let err = Isolation::new(&IsolationConfig {
            isolation: "disk/du".into(),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.contains("disk/du"));
    }

    #[test]
    fn unusable_cgroups_are_refused_with_a_clear_message() {
        let err = Isolation::new(&IsolationConfig {
            isolation: "cgroups/mem".into(),
            cgroups_hierarchy: PathBuf::from("/nonexistent/cgroup"),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.contains("--isolation=cgroups/mem"), "{err}");
        assert!(err.contains("no cgroup hierarchy"), "{err}");
        let err = Isolation::new(&IsolationConfig {
            isolation: "cgroups/mem".into(),
            cgroups_root: "../escape".into(),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.contains("cgroups_root"), "{err}");
    }

    #[test]
    fn posix_usage_of_a_live_process_tree() {
        let iso = Isolation::posix();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let c = ContainerId::new("c1");
        let meta = ContainerMeta {
            executor_id: "e1".into(),
            executor_name: "n".into(),
            framework_id: "f1".into(),
            source: "t1".into(),
        };
        iso.launch(&c, meta, &"cpus:0.5;mem:64".parse().unwrap(), pid)
            .unwrap();
        // Right after spawn the child may still be in exec (no resident pages yet): wait,
        // bounded, for it to show memory.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let s = loop {
            let s = iso.usage(&c, 7.0).unwrap();
            if s.mem_rss_bytes > 0 || std::time::Instant::now() > deadline {
                break s;
            }
            std::thread::yield_now();
        };
        assert_eq!(s.cpus_limit, 0.5);
        assert_eq!(s.mem_limit_bytes, 64 << 20);
        assert!(s.mem_rss_bytes > 0, "{s:?}");
        assert_eq!(s.processes, Some(1));
        assert!(iso.limitation(&c).is_none());
        let doc = iso.statistics(7.0);
        assert_eq!(doc[0]["executor_id"], "e1");
        assert_eq!(doc[0]["source"], "t1");
        assert_eq!(doc[0]["statistics"]["timestamp"], 7.0);
        iso.cleanup(&c);
        assert_eq!(iso.statistics(8.0), serde_json::json!([]));
        assert!(iso.recover(&[]).is_empty());
        let _ = child.kill();
        let _ = child.wait();
    }
}

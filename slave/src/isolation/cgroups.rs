//! The `cgroups/cpu` and `cgroups/mem` isolators: a cgroup per container in the cpu (and
//! cpuacct) and memory hierarchies, `cpu.shares` (v2: `cpu.weight`), optional CFS quota,
//! a hard memory limit, OOM detection from the kernel's counters, and usage statistics.

use std::path::{Path, PathBuf};
use std::time::Duration;

use proto::ContainerId;

use super::cgroupfs::{self, keyed, Layout, Version};
use super::limits::{Limitation, Limits, CFS_PERIOD_US};
use super::posix;

/// Usage read from a container's cgroups (fields it could not read are `None`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CgroupUsage {
    /// Processes in the container.
    pub processes: Option<u64>,
    /// User CPU seconds.
    pub user_secs: Option<f64>,
    /// System CPU seconds.
    pub system_secs: Option<f64>,
    /// CFS periods.
    pub nr_periods: Option<u64>,
    /// Throttled CFS periods.
    pub nr_throttled: Option<u64>,
    /// Throttled seconds.
    pub throttled_secs: Option<f64>,
    /// Resident (anonymous) memory.
    pub rss_bytes: Option<u64>,
    /// Page cache.
    pub cache_bytes: Option<u64>,
    /// Memory charged in total.
    pub total_bytes: Option<u64>,
    /// Memory limit in force.
    pub limit_bytes: Option<u64>,
}

/// The cgroups isolators of one agent.
#[derive(Debug)]
pub struct Cgroups {
    layout: Layout,
    root: String,
    cpu: bool,
    mem: bool,
    enable_cfs: bool,
}

impl Cgroups {
    /// Finds the hierarchies under `base` for the enabled isolators and creates the
    /// `root` cgroup in each (on v2 also enabling the controllers below it). Fails with a
    /// clear message when cgroups cannot be used (not mounted, not writable, v2 controllers
    /// unavailable).
    pub fn new(
        base: &Path,
        root: &str,
        cpu: bool,
        mem: bool,
        enable_cfs: bool,
    ) -> Result<Cgroups, String> {
        if root.is_empty() || root.split('/').any(|p| p == ".." || p == ".") {
            return Err(format!(
                "--cgroups_root='{root}' must be a relative path without '.' or '..'"
            ));
        }
        let mut v1 = vec![];
        let mut v2 = vec![];
        if cpu {
            v1.extend(["cpu", "cpuacct"]);
            v2.push("cpu");
        }
        if mem {
            v1.push("memory");
            v2.push("memory");
        }
        let layout = cgroupfs::detect_host(base, &v1, &v2)?;
        let me = Cgroups {
            layout,
            root: root.trim_matches('/').to_string(),
            cpu,
            mem,
            enable_cfs,
        };
        me.setup(&v2)?;
        Ok(me)
    }

    fn setup(&self, v2: &[&str]) -> Result<(), String> {
        for h in &self.layout.hierarchies {
            let dir = h.path(&self.root);
            std::fs::create_dir_all(&dir).map_err(|e| {
                format!(
                    "cannot create the cgroup {}: {e}; cgroups isolation needs a writable cgroup hierarchy (run the agent as root)",
                    dir.display()
                )
            })?;
            if self.layout.version == Version::V2 {
                let enable: String = v2.iter().map(|c| format!("+{c} ")).collect();
                let own = h.path("");
                cgroupfs::write(&own, "cgroup.subtree_control", enable.trim()).map_err(|e| {
                    format!("{e}; on cgroup v2 the agent's own cgroup must be the root or have no processes of its own")
                })?;
                let mut path = String::new();
                for part in self.root.split('/') {
                    path = if path.is_empty() {
                        part.to_string()
                    } else {
                        format!("{path}/{part}")
                    };
                    cgroupfs::write(&h.path(&path), "cgroup.subtree_control", enable.trim())?;
                }
            }
        }
        Ok(())
    }

    /// Which cgroup version is in use.
    pub fn version(&self) -> Version {
        self.layout.version
    }

    fn rel(&self, container: &ContainerId) -> String {
        format!("{}/{}", self.root, container.as_str())
    }

    /// The container's cgroup in every hierarchy used.
    pub fn dirs(&self, container: &ContainerId) -> Vec<PathBuf> {
        let rel = self.rel(container);
        self.layout
            .hierarchies
            .iter()
            .map(|h| h.path(&rel))
            .collect()
    }

    fn dir_of(&self, controller: &str, container: &ContainerId) -> Option<PathBuf> {
        let rel = self.rel(container);
        match self.layout.version {
            Version::V2 => self.layout.hierarchies.first().map(|h| h.path(&rel)),
            Version::V1 => self
                .layout
                .hierarchies
                .iter()
                .find(|h| h.controllers.iter().any(|c| c == controller))
                .map(|h| h.path(&rel)),
        }
    }

    /// Creates the container's cgroups and sets its limits.
    pub fn prepare(&self, container: &ContainerId, limits: &Limits) -> Result<(), String> {
        for d in self.dirs(container) {
            std::fs::create_dir_all(&d)
                .map_err(|e| format!("cannot create the cgroup {}: {e}", d.display()))?;
        }
        self.update(container, limits)
    }

    /// Sets the container's limits.
    pub fn update(&self, container: &ContainerId, limits: &Limits) -> Result<(), String> {
        if self.cpu {
            let d = self.dir_of("cpu", container).ok_or("no cpu hierarchy")?;
            match self.layout.version {
                Version::V1 => {
                    cgroupfs::write(&d, "cpu.shares", &limits.shares.to_string())?;
                    if self.enable_cfs {
                        cgroupfs::write(&d, "cpu.cfs_period_us", &CFS_PERIOD_US.to_string())?;
                        cgroupfs::write(&d, "cpu.cfs_quota_us", &limits.cfs_quota_us.to_string())?;
                    }
                }
                Version::V2 => {
                    cgroupfs::write(&d, "cpu.weight", &limits.weight().to_string())?;
                    let max = if self.enable_cfs {
                        format!("{} {CFS_PERIOD_US}", limits.cfs_quota_us)
                    } else {
                        format!("max {CFS_PERIOD_US}")
                    };
                    cgroupfs::write(&d, "cpu.max", &max)?;
                }
            }
        }
        if self.mem {
            let d = self
                .dir_of("memory", container)
                .ok_or("no memory hierarchy")?;
            let limit = limits.mem_limit_bytes.to_string();
            match self.layout.version {
                Version::V1 => {
                    cgroupfs::write(&d, "memory.soft_limit_in_bytes", &limit)?;
                    cgroupfs::write(&d, "memory.limit_in_bytes", &limit)?;
                }
                Version::V2 => cgroupfs::write(&d, "memory.max", &limit)?,
            }
        }
        Ok(())
    }

    /// Moves process `pid` into the container's cgroups (its future children follow).
    pub fn isolate(&self, container: &ContainerId, pid: i32) -> Result<(), String> {
        for d in self.dirs(container) {
            cgroupfs::attach(&d, pid)?;
        }
        Ok(())
    }

    /// The memory limitation, if the kernel OOM-killed a process of the container.
    /// Without `limits` (a container this agent did not launch) the limit is read back.
    pub fn limitation(
        &self,
        container: &ContainerId,
        limits: Option<&Limits>,
    ) -> Option<Limitation> {
        if !self.mem {
            return None;
        }
        let d = self.dir_of("memory", container)?;
        let (events, max_used) = match self.layout.version {
            Version::V1 => (
                cgroupfs::read(&d, "memory.oom_control")?,
                cgroupfs::read_u64(&d, "memory.max_usage_in_bytes"),
            ),
            Version::V2 => (
                cgroupfs::read(&d, "memory.events")?,
                cgroupfs::read_u64(&d, "memory.peak")
                    .or_else(|| cgroupfs::read_u64(&d, "memory.current")),
            ),
        };
        if keyed(&events, "oom_kill").unwrap_or(0) == 0 {
            return None;
        }
        let limit = limits.map(|l| l.mem_limit_bytes).or_else(|| {
            cgroupfs::read_u64(&d, "memory.limit_in_bytes")
                .or_else(|| cgroupfs::read_u64(&d, "memory.max"))
        })?;
        Some(Limitation::memory(limit, max_used.unwrap_or(limit)))
    }

    /// What the container's cgroups say about its usage.
    pub fn usage(&self, container: &ContainerId) -> CgroupUsage {
        let mut u = CgroupUsage::default();
        if let Some(d) = self.dirs(container).first() {
            u.processes = Some(cgroupfs::procs(d).len() as u64);
        }
        if self.cpu {
            match self.layout.version {
                Version::V1 => {
                    if let Some(stat) = self
                        .dir_of("cpuacct", container)
                        .and_then(|d| cgroupfs::read(&d, "cpuacct.stat"))
                    {
                        let t = posix::ticks_per_sec() as f64;
                        u.user_secs = keyed(&stat, "user").map(|v| v as f64 / t);
                        u.system_secs = keyed(&stat, "system").map(|v| v as f64 / t);
                    }
                    if let Some(stat) = self
                        .dir_of("cpu", container)
                        .and_then(|d| cgroupfs::read(&d, "cpu.stat"))
                    {
                        u.nr_periods = keyed(&stat, "nr_periods");
                        u.nr_throttled = keyed(&stat, "nr_throttled");
                        u.throttled_secs = keyed(&stat, "throttled_time").map(|v| v as f64 / 1e9);
                    }
                }
                Version::V2 => {
                    if let Some(stat) = self
                        .dir_of("cpu", container)
                        .and_then(|d| cgroupfs::read(&d, "cpu.stat"))
                    {
                        u.user_secs = keyed(&stat, "user_usec").map(|v| v as f64 / 1e6);
                        u.system_secs = keyed(&stat, "system_usec").map(|v| v as f64 / 1e6);
                        u.nr_periods = keyed(&stat, "nr_periods");
                        u.nr_throttled = keyed(&stat, "nr_throttled");
                        u.throttled_secs = keyed(&stat, "throttled_usec").map(|v| v as f64 / 1e6);
                    }
                }
            }
        }
        if self.mem {
            if let Some(d) = self.dir_of("memory", container) {
                let stat = cgroupfs::read(&d, "memory.stat").unwrap_or_default();
                match self.layout.version {
                    Version::V1 => {
                        u.rss_bytes = keyed(&stat, "total_rss").or_else(|| keyed(&stat, "rss"));
                        u.cache_bytes =
                            keyed(&stat, "total_cache").or_else(|| keyed(&stat, "cache"));
                        u.total_bytes = cgroupfs::read_u64(&d, "memory.usage_in_bytes");
                        u.limit_bytes = cgroupfs::read_u64(&d, "memory.limit_in_bytes");
                    }
                    Version::V2 => {
                        u.rss_bytes = keyed(&stat, "anon");
                        u.cache_bytes = keyed(&stat, "file");
                        u.total_bytes = cgroupfs::read_u64(&d, "memory.current");
                        u.limit_bytes = cgroupfs::read_u64(&d, "memory.max");
                    }
                }
            }
        }
        u
    }

    /// Kills whatever is left in the container's cgroups and removes them.
    pub fn destroy(&self, container: &ContainerId) -> Result<(), String> {
        let mut errors = vec![];
        for d in self.dirs(container) {
            if let Err(e) = cgroupfs::destroy(&d, 100, Duration::from_millis(20)) {
                errors.push(e);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// Names of the containers with a cgroup under the root in any hierarchy.
    pub fn containers(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .layout
            .hierarchies
            .iter()
            .flat_map(|h| {
                std::fs::read_dir(h.path(&self.root))
                    .map(|d| {
                        d.flatten()
                            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                            .filter_map(|e| e.file_name().to_str().map(str::to_string))
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default()
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

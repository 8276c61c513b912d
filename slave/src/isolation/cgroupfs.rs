//! A thin layer over the cgroup filesystem (v1 and v2): finding the hierarchies that hold
//! the controllers the isolators need, the agent's own place in them, and the few file
//! operations isolators perform (create, write, read, list and kill members, remove).
//!
//! Containers live at `<mount>/<agent's own cgroup>/<cgroups_root>/<container_id>` in
//! every hierarchy, so an agent started inside a container or a systemd slice keeps the
//! limits its host gave it (Mesos places `--cgroups_root` at the hierarchy root).
//!
//! Parsing (`/proc/self/mounts`, `/proc/self/cgroup`) is pure and unit-tested; the
//! filesystem root is a parameter, so the layer also runs against a plain directory.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which cgroup version a [`Layout`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// One hierarchy per controller (or group of co-mounted controllers).
    V1,
    /// The unified hierarchy.
    V2,
}

/// One mounted hierarchy and the agent's own cgroup in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Where it is mounted, e.g. `/sys/fs/cgroup/memory`.
    pub mount: PathBuf,
    /// The controllers it carries (v1: from the mount options; v2: `cgroup.controllers`).
    pub controllers: Vec<String>,
    /// The agent's cgroup relative to the mount, e.g. `user.slice` (empty for the root).
    pub own: String,
}

impl Hierarchy {
    /// `<mount>/<own>/<rel>`.
    pub fn path(&self, rel: &str) -> PathBuf {
        let mut p = self.mount.clone();
        for part in self.own.split('/').chain(rel.split('/')) {
            if !part.is_empty() {
                p.push(part);
            }
        }
        p
    }
}

/// The hierarchies serving a set of controllers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// v1 or v2.
    pub version: Version,
    /// v1: one per distinct mount that serves a needed controller; v2: exactly one.
    pub hierarchies: Vec<Hierarchy>,
}

/// A cgroup mount read from `/proc/self/mounts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Mount point.
    pub path: PathBuf,
    /// `cgroup` (v1) or `cgroup2`.
    pub fstype: String,
    /// Mount options (v1 controllers appear here).
    pub options: Vec<String>,
}

/// The cgroup mounts in a `/proc/self/mounts` text.
pub fn parse_mounts(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 4 || (f[2] != "cgroup" && f[2] != "cgroup2") {
                return None;
            }
            Some(Mount {
                path: PathBuf::from(unescape_mount(f[1])),
                fstype: f[2].to_string(),
                options: f[3].split(',').map(str::to_string).collect(),
            })
        })
        .collect()
}

/// `/proc/mounts` escapes spaces and a few other bytes as `\ooo`.
fn unescape_mount(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 4])
                .ok()
                .and_then(|o| u8::from_str_radix(o, 8).ok())
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One line of `/proc/self/cgroup`: `id:controllers:path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// Hierarchy id (0 for v2).
    pub id: u32,
    /// Controllers (empty for v2; `name=systemd` style entries kept as is).
    pub controllers: Vec<String>,
    /// Path in that hierarchy, starting with `/`.
    pub path: String,
}

/// The lines of a `/proc/self/cgroup` text.
pub fn parse_self_cgroup(text: &str) -> Vec<Membership> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let id = parts.next()?.trim().parse().ok()?;
            let controllers = parts.next()?;
            let path = parts.next()?.trim().to_string();
            Some(Membership {
                id,
                controllers: controllers
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_string)
                    .collect(),
                path,
            })
        })
        .collect()
}

/// Finds the hierarchies serving `needed` (v1 names: `cpu`, `cpuacct`, `memory`) under
/// `base`. v1 wins when every needed controller has a v1 mount; otherwise the v2 mount at
/// `base` must list them in `cgroup.controllers` (`needed_v2` are the v2 names, since v2
/// folds `cpuacct` into `cpu`).
pub fn detect(
    base: &Path,
    mounts: &[Mount],
    membership: &[Membership],
    needed: &[&str],
    needed_v2: &[&str],
) -> Result<Layout, String> {
    let v1: Vec<&Mount> = mounts
        .iter()
        .filter(|m| m.fstype == "cgroup" && m.path.starts_with(base))
        .collect();
    let mut hierarchies: Vec<Hierarchy> = vec![];
    let mut missing = vec![];
    for c in needed {
        match v1.iter().find(|m| m.options.iter().any(|o| o == c)) {
            Some(m) => {
                if hierarchies.iter().any(|h| h.mount == m.path) {
                    continue;
                }
                let own = membership
                    .iter()
                    .find(|l| l.id != 0 && l.controllers.iter().any(|x| x == c))
                    .map(|l| l.path.trim_matches('/').to_string())
                    .unwrap_or_default();
                hierarchies.push(Hierarchy {
                    mount: m.path.clone(),
                    controllers: m
                        .options
                        .iter()
                        .filter(|o| {
                            ["cpu", "cpuacct", "memory", "cpuset", "pids"].contains(&o.as_str())
                        })
                        .cloned()
                        .collect(),
                    own,
                });
            }
            None => missing.push(*c),
        }
    }
    if missing.is_empty() && !hierarchies.is_empty() {
        return Ok(Layout {
            version: Version::V1,
            hierarchies,
        });
    }
    if let Some(m) = mounts
        .iter()
        .find(|m| m.fstype == "cgroup2" && m.path == base)
    {
        let available =
            std::fs::read_to_string(m.path.join("cgroup.controllers")).unwrap_or_default();
        let available: Vec<String> = available.split_whitespace().map(str::to_string).collect();
        let absent: Vec<&str> = needed_v2
            .iter()
            .filter(|c| !available.iter().any(|a| a == *c))
            .copied()
            .collect();
        if absent.is_empty() {
            let own = membership
                .iter()
                .find(|l| l.id == 0)
                .map(|l| l.path.trim_matches('/').to_string())
                .unwrap_or_default();
            return Ok(Layout {
                version: Version::V2,
                hierarchies: vec![Hierarchy {
                    mount: m.path.clone(),
                    controllers: available,
                    own,
                }],
            });
        }
        return Err(format!(
            "the cgroup v2 hierarchy at {} lacks the controller(s) {} (cgroup.controllers: '{}') and no cgroup v1 hierarchy provides {}",
            base.display(),
            absent.join(", "),
            available.join(" "),
            missing.join(", ")
        ));
    }
    Err(format!(
        "no cgroup hierarchy under {} provides {} (neither a v1 mount per controller nor a v2 mount at {} with cgroup.controllers)",
        base.display(),
        missing.join(", "),
        base.display()
    ))
}

/// Reads the running process's mounts and memberships and calls [`detect`].
pub fn detect_host(base: &Path, needed: &[&str], needed_v2: &[&str]) -> Result<Layout, String> {
    let mounts = std::fs::read_to_string("/proc/self/mounts")
        .map_err(|e| format!("cannot read /proc/self/mounts: {e}"))?;
    let membership = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
    detect(
        base,
        &parse_mounts(&mounts),
        &parse_self_cgroup(&membership),
        needed,
        needed_v2,
    )
}

/// Writes `value` to `dir/file`, naming both in the error.
pub fn write(dir: &Path, file: &str, value: &str) -> Result<(), String> {
    std::fs::write(dir.join(file), value).map_err(|e| {
        format!(
            "cannot write '{value}' to {}: {e}",
            dir.join(file).display()
        )
    })
}

/// Reads `dir/file` (trimmed), or `None` if it is absent or unreadable.
pub fn read(dir: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(file))
        .ok()
        .map(|s| s.trim().to_string())
}

/// Reads `dir/file` as an unsigned integer.
pub fn read_u64(dir: &Path, file: &str) -> Option<u64> {
    read(dir, file).and_then(|s| s.parse().ok())
}

/// The value of `key` in a flat-keyed file such as `memory.stat` or `cpu.stat`.
pub fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next()? == key).then_some(())?;
        it.next()?.parse().ok()
    })
}

/// Pids listed in `dir/cgroup.procs`.
pub fn procs(dir: &Path) -> Vec<i32> {
    read(dir, "cgroup.procs")
        .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// Moves process `pid` (all its threads) into the cgroup at `dir`.
pub fn attach(dir: &Path, pid: i32) -> Result<(), String> {
    write(dir, "cgroup.procs", &pid.to_string())
}

/// SIGKILLs every process in `dir` (and its child cgroups) and removes them, deepest
/// first, retrying while the killed processes exit. Returns an error if something stayed.
pub fn destroy(dir: &Path, attempts: u32, pause: Duration) -> Result<(), String> {
    if !dir.exists() {
        return Ok(());
    }
    let mut children: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    children.sort();
    for c in children {
        destroy(&c, attempts, pause)?;
    }
    let mut last = String::new();
    for i in 0..attempts.max(1) {
        for pid in procs(dir) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => last = e.to_string(),
        }
        if i + 1 < attempts {
            std::thread::sleep(pause);
        }
    }
    Err(format!("cannot remove cgroup {}: {last}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTS: &str = "\
tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
proc /proc proc rw 0 0
";
    const SELF: &str = "\
9:name=systemd:/
4:memory:/process_api/abc
2:cpuacct:/
1:cpu:/
0::/
";

    #[test]
    fn hybrid_v1_layout_uses_one_hierarchy_per_controller_and_the_own_cgroup() {
        let l = detect(
            Path::new("/sys/fs/cgroup"),
            &parse_mounts(MOUNTS),
            &parse_self_cgroup(SELF),
            &["cpu", "cpuacct", "memory"],
            &["cpu", "memory"],
        )
        .unwrap();
        assert_eq!(l.version, Version::V1);
        assert_eq!(l.hierarchies.len(), 3);
        let mem = &l.hierarchies[2];
        assert_eq!(mem.mount, PathBuf::from("/sys/fs/cgroup/memory"));
        assert_eq!(mem.own, "process_api/abc");
        assert_eq!(
            mem.path("mesos/c1"),
            PathBuf::from("/sys/fs/cgroup/memory/process_api/abc/mesos/c1")
        );
        assert_eq!(
            l.hierarchies[0].path("mesos"),
            PathBuf::from("/sys/fs/cgroup/cpu/mesos")
        );
    }

    #[test]
    fn comounted_controllers_share_a_hierarchy() {
        let mounts = "cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,cpu,cpuacct 0 0\ncgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n";
        let l = detect(
            Path::new("/sys/fs/cgroup"),
            &parse_mounts(mounts),
            &parse_self_cgroup("3:cpu,cpuacct:/a\n2:memory:/\n"),
            &["cpu", "cpuacct", "memory"],
            &["cpu", "memory"],
        )
        .unwrap();
        assert_eq!(l.hierarchies.len(), 2);
        assert_eq!(l.hierarchies[0].own, "a");
        assert_eq!(l.hierarchies[0].controllers, vec!["cpu", "cpuacct"]);
    }

    #[test]
    fn v2_needs_its_controllers_listed() {
        let dir = std::env::temp_dir().join(format!("cgfs-v2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("cgroup.controllers"),
            "cpuset cpu io memory pids\n",
        )
        .unwrap();
        let mounts = vec![Mount {
            path: dir.clone(),
            fstype: "cgroup2".into(),
            options: vec!["rw".into()],
        }];
        let l = detect(
            &dir,
            &mounts,
            &parse_self_cgroup("0::/agent.slice\n"),
            &["cpu", "cpuacct", "memory"],
            &["cpu", "memory"],
        )
        .unwrap();
        assert_eq!(l.version, Version::V2);
        assert_eq!(l.hierarchies[0].own, "agent.slice");
        std::fs::write(dir.join("cgroup.controllers"), "pids\n").unwrap();
        let err = detect(&dir, &mounts, &[], &["memory"], &["memory"]).unwrap_err();
        assert!(err.contains("lacks the controller(s) memory"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
        let err = detect(Path::new("/nowhere"), &[], &[], &["memory"], &["memory"]).unwrap_err();
        assert!(err.contains("no cgroup hierarchy"), "{err}");
    }

    #[test]
    fn keyed_files_and_escaped_mounts() {
        assert_eq!(keyed("rss 10\ntotal_rss 20\n", "total_rss"), Some(20));
        assert_eq!(keyed("rss 10\n", "cache"), None);
        assert_eq!(unescape_mount("/a\\040b"), "/a b");
        assert_eq!(unescape_mount("/plain"), "/plain");
    }

    #[test]
    fn destroy_removes_plain_directories_too() {
        let dir = std::env::temp_dir().join(format!("cgfs-destroy-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("x/y")).unwrap();
        destroy(&dir, 1, Duration::ZERO).unwrap();
        assert!(!dir.exists());
        destroy(&dir, 1, Duration::ZERO).unwrap();
    }
}

//! The agent's resources: parsed from `--resources` (Mesos text syntax) with anything the
//! flag leaves out (cpus, mem, disk, ports) detected from the host the way Mesos does:
//! all CPUs; memory minus 1 GB for the system (or half, on small hosts); disk of the
//! work_dir's filesystem minus 5 GB (or half); ports `[31000-32000]`.

use std::path::Path;

use proto::{Attributes, Resources};

/// MB of memory kept for the system on hosts with at least twice as much.
const MEM_RESERVED_MB: u64 = 1024;
/// MB of disk kept for the system on filesystems with at least twice as much.
const DISK_RESERVED_MB: u64 = 5 * 1024;
/// Ports offered when not given.
pub const DEFAULT_PORTS: &str = "[31000-32000]";

/// What the host has, as far as it could be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostTotals {
    /// Number of CPUs.
    pub cpus: Option<u64>,
    /// Total memory in MB.
    pub mem_mb: Option<u64>,
    /// Total disk of the work_dir's filesystem in MB.
    pub disk_mb: Option<u64>,
}

impl HostTotals {
    /// Reads this machine's CPUs, `/proc/meminfo` and the filesystem holding `work_dir`.
    pub fn probe(work_dir: &Path) -> HostTotals {
        let cpus = std::thread::available_parallelism()
            .ok()
            .map(|n| n.get() as u64);
        let mem_mb = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|rest| {
                        rest.trim()
                            .trim_end_matches("kB")
                            .trim()
                            .parse::<u64>()
                            .ok()
                    })
                    .map(|kb| kb / 1024)
            });
        let mut probe_dir = work_dir.to_path_buf();
        while !probe_dir.exists() {
            if !probe_dir.pop() {
                break;
            }
        }
        // The statvfs field widths differ between platforms; u64 everywhere here.
        #[allow(clippy::useless_conversion)]
        let disk_mb = nix::sys::statvfs::statvfs(&probe_dir).ok().map(|s| {
            u64::from(s.blocks()).saturating_mul(u64::from(s.fragment_size())) / (1024 * 1024)
        });
        HostTotals {
            cpus,
            mem_mb,
            disk_mb,
        }
    }
}

fn keep_for_system(total: u64, reserved: u64) -> u64 {
    if total >= 2 * reserved {
        total - reserved
    } else {
        total / 2
    }
}

/// Resources detected from host totals (Mesos defaults where a total is unknown: 1 cpu,
/// 1 GB mem, 10 GB disk).
pub fn detect(host: HostTotals) -> Resources {
    let cpus = host.cpus.unwrap_or(1).max(1);
    let mem = host
        .mem_mb
        .map_or(1024, |m| keep_for_system(m, MEM_RESERVED_MB));
    let disk = host
        .disk_mb
        .map_or(10 * 1024, |d| keep_for_system(d, DISK_RESERVED_MB));
    // Every piece is a plain number, so this always parses.
    format!("cpus:{cpus};mem:{mem};disk:{disk};ports:{DEFAULT_PORTS}")
        .parse()
        .unwrap_or_default()
}

/// The agent's total resources: `--resources` (if given) plus detected values for the
/// standard resources it does not mention. Errors name the flag and show the valid form.
pub fn resolve(flag: Option<&str>, host: HostTotals) -> Result<Resources, String> {
    let detected = detect(host);
    let Some(text) = flag.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(detected);
    };
    let given: Resources = text.parse().map_err(|e| {
        format!("invalid --resources '{text}': {e}; expected e.g. --resources='cpus:4;mem:8192;disk:40960;ports:[31000-32000]'")
    })?;
    let mut total = given.clone();
    let names: std::collections::BTreeSet<String> = given.iter().map(|r| r.name.clone()).collect();
    for r in detected.iter() {
        if !names.contains(&r.name) {
            total.push(&r);
        }
    }
    Ok(total)
}

/// Parses `--attributes` (`rack:a;zone:1`).
pub fn parse_attributes(flag: Option<&str>) -> Result<Attributes, String> {
    match flag.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(Attributes::new()),
        Some(text) => text.parse().map_err(|e| {
            format!(
                "invalid --attributes '{text}': {e}; expected e.g. --attributes='rack:r1;zone:2'"
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_keeps_memory_and_disk_for_the_system() {
        let r = detect(HostTotals {
            cpus: Some(8),
            mem_mb: Some(16384),
            disk_mb: Some(100 * 1024),
        });
        assert_eq!(r.cpus(), 8.0);
        assert_eq!(r.mem(), 15360.0);
        assert_eq!(r.disk(), 95.0 * 1024.0);
        assert_eq!(r.ports().count(), 1001);
        // Small hosts keep half.
        let r = detect(HostTotals {
            cpus: None,
            mem_mb: Some(1500),
            disk_mb: Some(6000),
        });
        assert_eq!(r.cpus(), 1.0);
        assert_eq!(r.mem(), 750.0);
        assert_eq!(r.disk(), 3000.0);
        // Unknown totals fall back to Mesos's defaults.
        let r = detect(HostTotals {
            cpus: None,
            mem_mb: None,
            disk_mb: None,
        });
        assert_eq!((r.mem(), r.disk()), (1024.0, 10240.0));
    }

    #[test]
    fn flag_overrides_and_detection_fills_the_rest() {
        let host = HostTotals {
            cpus: Some(8),
            mem_mb: Some(16384),
            disk_mb: Some(100 * 1024),
        };
        let r = resolve(Some("cpus:2;gpus:1"), host).unwrap();
        assert_eq!(r.cpus(), 2.0);
        assert_eq!(r.gpus(), 1.0);
        assert_eq!(r.mem(), 15360.0);
        assert_eq!(r.ports().count(), 1001);
        let r = resolve(Some("ports:[5000-5001]"), host).unwrap();
        assert_eq!(r.ports().count(), 2);
        assert_eq!(resolve(None, host).unwrap(), detect(host));
    }

    #[test]
    fn parse_errors_show_the_valid_form() {
        let host = HostTotals::probe(Path::new("/tmp"));
        let e = resolve(Some("cpus=2"), host).unwrap_err();
        assert!(
            e.contains("--resources") && e.contains("cpus:4;mem:8192"),
            "{e}"
        );
        let e = resolve(Some("cpus:abc"), host).unwrap_err();
        assert!(e.contains("cpus:abc"), "{e}");
        assert!(parse_attributes(Some("rack:a;zone:1"))
            .unwrap()
            .get("rack")
            .is_some());
        assert!(parse_attributes(None).unwrap().is_empty());
    }
}

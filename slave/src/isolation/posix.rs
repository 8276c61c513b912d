//! The posix isolators' usage: CPU times and resident memory of a container's processes,
//! read from `/proc` through [`libproc::procfs`]. A container's processes are the executor's session (the agent starts
//! every executor as a session leader, so double-forked task children stay in it) plus any
//! descendant of the executor that started a session of its own. Nothing is enforced.

use std::collections::{BTreeMap, BTreeSet};

pub use libproc::procfs::{all as all_processes, ProcStat};

/// The processes of the container whose executor is `root`: its session and its
/// descendants.
pub fn container_processes(all: &[ProcStat], root: i32) -> Vec<ProcStat> {
    let mut children: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for p in all {
        children.entry(p.ppid).or_default().push(p.pid);
    }
    let mut members: BTreeSet<i32> = all
        .iter()
        .filter(|p| p.session == root)
        .map(|p| p.pid)
        .collect();
    if all.iter().any(|p| p.pid == root) {
        members.insert(root);
    }
    let mut stack: Vec<i32> = members.iter().copied().collect();
    let mut seen = BTreeSet::new();
    while let Some(pid) = stack.pop() {
        if !seen.insert(pid) {
            continue;
        }
        for k in children.get(&pid).into_iter().flatten() {
            members.insert(*k);
            stack.push(*k);
        }
    }
    all.iter()
        .filter(|p| members.contains(&p.pid))
        .copied()
        .collect()
}

/// Summed usage of some processes.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Usage {
    /// Processes counted.
    pub processes: u64,
    /// User CPU seconds.
    pub user_secs: f64,
    /// System CPU seconds.
    pub system_secs: f64,
    /// Resident bytes.
    pub rss_bytes: u64,
}

/// Sums `procs` with the host's clock tick and page size.
pub fn sum(procs: &[ProcStat], ticks_per_sec: u64, page_size: u64) -> Usage {
    let t = ticks_per_sec.max(1) as f64;
    Usage {
        processes: procs.len() as u64,
        user_secs: procs.iter().map(|p| p.utime).sum::<u64>() as f64 / t,
        system_secs: procs.iter().map(|p| p.stime).sum::<u64>() as f64 / t,
        rss_bytes: procs.iter().map(|p| p.rss_pages).sum::<u64>() * page_size,
    }
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, 100 if unknown).
pub fn ticks_per_sec() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|v| u64::try_from(v).ok())
        .filter(|v| *v > 0)
        .unwrap_or(100)
}

/// The page size (4096 if unknown).
pub fn page_size() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|v| u64::try_from(v).ok())
        .filter(|v| *v > 0)
        .unwrap_or(4096)
}

/// The usage of the container whose executor is `root`, from `/proc`.
pub fn usage(root: i32) -> Usage {
    let all = all_processes();
    sum(
        &container_processes(&all, root),
        ticks_per_sec(),
        page_size(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: i32, ppid: i32, session: i32, utime: u64) -> ProcStat {
        ProcStat {
            pid,
            state: 'S',
            ppid,
            pgrp: session,
            session,
            utime,
            stime: 1,
            rss_pages: 2,
        }
    }

    #[test]
    fn container_is_the_session_plus_descendants() {
        let all = vec![
            p(10, 1, 10, 5),   // executor, session leader
            p(11, 10, 10, 5),  // task
            p(12, 1, 10, 5),   // double-forked child, reparented, same session
            p(13, 11, 13, 5),  // descendant in a session of its own
            p(14, 13, 13, 5),  // its child
            p(20, 1, 20, 100), // unrelated
        ];
        let mut pids: Vec<i32> = container_processes(&all, 10)
            .iter()
            .map(|p| p.pid)
            .collect();
        pids.sort();
        assert_eq!(pids, vec![10, 11, 12, 13, 14]);
        let u = sum(&container_processes(&all, 10), 100, 4096);
        assert_eq!(u.processes, 5);
        assert!((u.user_secs - 0.25).abs() < 1e-9);
        assert_eq!(u.rss_bytes, 5 * 2 * 4096);
        assert!(container_processes(&all, 99).is_empty());
    }

    #[test]
    fn usage_of_this_process_is_readable() {
        let me = std::process::id() as i32;
        let all = all_processes();
        assert!(all.iter().any(|p| p.pid == me));
        assert!(ticks_per_sec() > 0 && page_size() >= 4096);
    }
}

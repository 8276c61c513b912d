//! The posix isolators' usage: CPU times and resident memory of a container's processes,
//! read from `/proc`. A container's processes are the executor's session (the agent starts
//! every executor as a session leader, so double-forked task children stay in it) plus any
//! descendant of the executor that started a session of its own. Nothing is enforced.

use std::collections::{BTreeMap, BTreeSet};

/// One process as `/proc/<pid>/stat` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// Its pid.
    pub pid: i32,
    /// Parent pid.
    pub ppid: i32,
    /// Session id.
    pub session: i32,
    /// User time in clock ticks.
    pub utime: u64,
    /// System time in clock ticks.
    pub stime: u64,
    /// Resident set in pages.
    pub rss_pages: u64,
}

/// Parses a `/proc/<pid>/stat` line (the command name may hold spaces and parentheses).
pub fn parse_stat(pid: i32, text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    // Fields after ")": 0 state, 1 ppid, 2 pgrp, 3 session, ..., 11 utime, 12 stime, ...,
    // 21 rss.
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(ProcStat {
        pid,
        ppid: f.get(1)?.parse().ok()?,
        session: f.get(3)?.parse().ok()?,
        utime: f.get(11)?.parse().ok()?,
        stime: f.get(12)?.parse().ok()?,
        rss_pages: f.get(21)?.parse().ok()?,
    })
}

/// Every readable process on the host.
pub fn all_processes() -> Vec<ProcStat> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter_map(|pid| {
            let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            parse_stat(pid, &text)
        })
        .collect()
}

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
            ppid,
            session,
            utime,
            stime: 1,
            rss_pages: 2,
        }
    }

    #[test]
    fn stat_lines_with_odd_names() {
        let line = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 123 4096 9 18446744073709551615";
        let s = parse_stat(42, line).unwrap();
        assert_eq!(
            (s.ppid, s.session, s.utime, s.stime, s.rss_pages),
            (1, 42, 7, 3, 9)
        );
        assert!(parse_stat(1, "garbage").is_none());
        assert!(parse_stat(1, "1 (x) S 1").is_none());
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

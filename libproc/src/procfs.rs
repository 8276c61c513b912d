//! The one reader of Linux's `/proc` process table: a process's `/proc/<pid>/stat` line
//! ([`stat`], [`parse_stat`]), the pids on the host ([`pids`], [`all`]) and the machine's
//! CPU time from `/proc/stat` ([`cpu_times`]), its CPU count ([`cpus`]), load averages
//! (`/proc/loadavg`, [`load_avg`]) and memory (`/proc/meminfo`, [`machine_memory`]), and a
//! process's memory from `/proc/<pid>/status` ([`memory`]), and the CPU time of this
//! process's threads from `/proc/self/task/<tid>/schedstat` ([`thread_cpu_ns`],
//! [`threads`]). Anything unreadable or
//! malformed is `None`
//! (a process may exit between listing and reading); nothing here panics.

/// One process as `/proc/<pid>/stat` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// Its pid.
    pub pid: i32,
    /// Its state (`R`, `S`, `D`, `Z` for a zombie, `X` dead, ...).
    pub state: char,
    /// Parent pid.
    pub ppid: i32,
    /// Process group id.
    pub pgrp: i32,
    /// Session id.
    pub session: i32,
    /// User time in clock ticks.
    pub utime: u64,
    /// System time in clock ticks.
    pub stime: u64,
    /// Resident set in pages.
    pub rss_pages: u64,
}

impl ProcStat {
    /// Whether it is a zombie or dead (exited, not yet reaped): nothing left to run or kill.
    pub fn is_zombie(&self) -> bool {
        matches!(self.state, 'Z' | 'X')
    }
}

/// Parses the `/proc/<pid>/stat` line of process `pid`. The command name is in parentheses
/// and may itself hold spaces and parentheses, so the fields are read after the last `)`.
pub fn parse_stat(pid: i32, text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    // Fields after ")": 0 state, 1 ppid, 2 pgrp, 3 session, ..., 11 utime, 12 stime, ...,
    // 21 rss.
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(ProcStat {
        pid,
        state: f.first()?.chars().next()?,
        ppid: f.get(1)?.parse().ok()?,
        pgrp: f.get(2)?.parse().ok()?,
        session: f.get(3)?.parse().ok()?,
        utime: f.get(11)?.parse().ok()?,
        stime: f.get(12)?.parse().ok()?,
        rss_pages: f.get(21)?.parse().ok()?,
    })
}

/// Process `pid` as it stands now, if it exists.
pub fn stat(pid: i32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(pid, &text)
}

/// This process as it stands now.
pub fn self_stat() -> Option<ProcStat> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_stat(i32::try_from(std::process::id()).ok()?, &text)
}

/// The nanoseconds spent on a CPU and spent waiting for one (runnable, not running), the
/// first two fields of a `schedstat` line.
pub fn parse_schedstat(text: &str) -> Option<(u64, u64)> {
    let mut f = text.split_whitespace();
    Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
}

/// The CPU time the calling thread has used, in nanoseconds (what a benchmark can
/// report for one thread on a shared machine, where wall time includes others' turns).
pub fn thread_cpu_ns() -> Option<u64> {
    parse_schedstat(&std::fs::read_to_string("/proc/thread-self/schedstat").ok()?)
        .map(|(cpu, _)| cpu)
}

/// One thread of this process: its id, its name (`comm`) and the CPU time it has used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadCpu {
    /// Its thread id.
    pub tid: i32,
    /// Its name.
    pub name: String,
    /// Nanoseconds it has run.
    pub cpu_ns: u64,
    /// Nanoseconds it was runnable but waited for a CPU (others had them all).
    pub wait_ns: u64,
}

/// This process's threads now (those that exit while being read are left out).
pub fn threads() -> Vec<ThreadCpu> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let e = e.ok()?;
        let tid: i32 = e.file_name().to_str()?.parse().ok()?;
        let path = e.path();
        let (cpu_ns, wait_ns) =
            parse_schedstat(&std::fs::read_to_string(path.join("schedstat")).ok()?)?;
        let name = std::fs::read_to_string(path.join("comm")).ok()?;
        Some(ThreadCpu {
            tid,
            name: name.trim_end().to_string(),
            cpu_ns,
            wait_ns,
        })
    })
    .collect()
}

/// The pids of the processes on the host (empty without `/proc`).
pub fn pids() -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .collect()
}

/// Every readable process on the host.
pub fn all() -> Vec<ProcStat> {
    pids().into_iter().filter_map(stat).collect()
}

/// The live (not zombie) members of process group `pgid`.
pub fn live_group_members(pgid: i32) -> Vec<i32> {
    all()
        .into_iter()
        .filter(|p| p.pgrp == pgid && !p.is_zombie())
        .map(|p| p.pid)
        .collect()
}

/// The machine's CPU time (all CPUs) in clock ticks, from the `cpu` line of `/proc/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTimes {
    /// user + nice + system + idle + iowait + irq + softirq + steal.
    pub total: u64,
    /// The total less idle and iowait.
    pub busy: u64,
}

/// Parses the text of `/proc/stat`.
pub fn parse_cpu_times(text: &str) -> Option<CpuTimes> {
    let cpu = text.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = cpu
        .split_whitespace()
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4)?;
    Some(CpuTimes {
        total,
        busy: total.saturating_sub(idle),
    })
}

/// The machine's CPU time now.
pub fn cpu_times() -> Option<CpuTimes> {
    parse_cpu_times(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// A process's memory, from `/proc/<pid>/status`, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Memory {
    /// Resident set now (`VmRSS`).
    pub rss_kib: u64,
    /// Peak resident set (`VmHWM`).
    pub peak_rss_kib: u64,
}

/// Parses the text of `/proc/<pid>/status`; a missing line reads as 0.
pub fn parse_memory(text: &str) -> Memory {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Memory {
        rss_kib: field("VmRSS:"),
        peak_rss_kib: field("VmHWM:"),
    }
}

/// The memory of process `pid` (`None`: this process), if it exists.
pub fn memory(pid: Option<i32>) -> Option<Memory> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_string(),
    };
    Some(parse_memory(&std::fs::read_to_string(path).ok()?))
}

/// Online CPUs: the `cpuN` lines of `/proc/stat` text.
pub fn parse_cpus(text: &str) -> Option<u64> {
    let n = text
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count() as u64;
    (n > 0).then_some(n)
}

/// The machine's online CPUs (what Mesos's `system/cpus_total` reports).
pub fn cpus() -> Option<u64> {
    parse_cpus(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// The 1, 5 and 15 minute load averages.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadAvg {
    /// Over 1 minute.
    pub one: f64,
    /// Over 5 minutes.
    pub five: f64,
    /// Over 15 minutes.
    pub fifteen: f64,
}

/// Parses `/proc/loadavg` text (`0.52 0.58 0.59 1/467 12345`).
pub fn parse_load_avg(text: &str) -> Option<LoadAvg> {
    let mut f = text.split_whitespace().map(|x| x.parse::<f64>().ok());
    Some(LoadAvg {
        one: f.next()??,
        five: f.next()??,
        fifteen: f.next()??,
    })
}

/// The machine's load averages now.
pub fn load_avg() -> Option<LoadAvg> {
    parse_load_avg(&std::fs::read_to_string("/proc/loadavg").ok()?)
}

/// The machine's memory in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MachineMemory {
    /// `MemTotal`.
    pub total_bytes: u64,
    /// `MemAvailable` (what can be had without swapping), else `MemFree`.
    pub free_bytes: u64,
}

/// Parses `/proc/meminfo` text (values in kB).
pub fn parse_meminfo(text: &str) -> Option<MachineMemory> {
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.split(':').next() == Some(name))?;
        let kb: u64 = line
            .split(':')
            .nth(1)?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        kb.checked_mul(1024)
    };
    Some(MachineMemory {
        total_bytes: field("MemTotal")?,
        free_bytes: field("MemAvailable").or_else(|| field("MemFree"))?,
    })
}

/// The machine's memory now.
pub fn machine_memory() -> Option<MachineMemory> {
    parse_meminfo(&std::fs::read_to_string("/proc/meminfo").ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedstat_lines_and_this_threads_cpu_time() {
        assert_eq!(parse_schedstat("203898 1500 7\n"), Some((203_898, 1_500)));
        assert_eq!(parse_schedstat("12"), None);
        assert_eq!(parse_schedstat("x 1 2"), None);
        let before = thread_cpu_ns().expect("schedstat");
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_millis(30) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(x > 0);
        assert!(thread_cpu_ns().expect("schedstat") > before);
        let me = threads();
        assert!(!me.is_empty());
        assert!(me.iter().all(|t| t.tid > 0));
    }

    #[test]
    fn stat_lines_with_odd_names() {
        let line = "42 (a) b (c)) S 1 40 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 123 4096 9 18446744073709551615";
        let s = parse_stat(42, line).unwrap();
        assert_eq!(
            (
                s.state,
                s.ppid,
                s.pgrp,
                s.session,
                s.utime,
                s.stime,
                s.rss_pages
            ),
            ('S', 1, 40, 42, 7, 3, 9)
        );
        assert!(!s.is_zombie());
        assert!(parse_stat(1, "garbage").is_none());
        assert!(parse_stat(1, "1 (x) S 1").is_none());
        assert!(parse_stat(1, "1 (x)").is_none());
    }

    #[test]
    fn zombies_are_recognised() {
        let line = "7 (z) Z 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0 0";
        assert!(parse_stat(7, line).unwrap().is_zombie());
    }

    #[test]
    fn this_process_is_found_and_alive() {
        let me = self_stat().expect("/proc/self/stat");
        assert_eq!(me.pid, std::process::id() as i32);
        assert!(!me.is_zombie());
        assert_eq!(stat(me.pid).map(|s| s.session), Some(me.session));
        assert!(pids().contains(&me.pid));
        assert!(live_group_members(me.pgrp).contains(&me.pid));
    }

    #[test]
    fn machine_cpu_times() {
        let t = parse_cpu_times("cpu  10 1 5 100 4 1 1 0 0 0\ncpu0 1 2 3\n").unwrap();
        assert_eq!(
            t,
            CpuTimes {
                total: 122,
                busy: 18
            }
        );
        assert!(parse_cpu_times("intr 1 2").is_none());
        assert!(parse_cpu_times("cpu  1 x").is_none());
        let now = cpu_times().expect("/proc/stat");
        assert!(now.busy <= now.total);
    }

    #[test]
    fn process_memory() {
        let m = parse_memory("Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n");
        assert_eq!((m.rss_kib, m.peak_rss_kib), (1024, 2048));
        assert_eq!(parse_memory("garbage"), Memory::default());
        let me = memory(None).expect("/proc/self/status");
        assert!(me.rss_kib > 0 && me.peak_rss_kib >= me.rss_kib);
    }

    #[test]
    fn machine_cpus_load_and_memory() {
        assert_eq!(parse_cpus("cpu  1 2\ncpu0 1\ncpu1 2\nintr 5\n"), Some(2));
        assert_eq!(parse_cpus("intr 5"), None);
        assert_eq!(
            parse_load_avg("0.52 0.58 0.59 1/467 12345\n"),
            Some(LoadAvg {
                one: 0.52,
                five: 0.58,
                fifteen: 0.59
            })
        );
        assert!(parse_load_avg("0.5 x").is_none());
        let m = parse_meminfo("MemTotal:  2048 kB\nMemFree: 512 kB\nMemAvailable: 1024 kB\n");
        assert_eq!(
            m,
            Some(MachineMemory {
                total_bytes: 2048 * 1024,
                free_bytes: 1024 * 1024
            })
        );
        assert_eq!(
            parse_meminfo("MemTotal: 4 kB\nMemFree: 1 kB\n").map(|m| m.free_bytes),
            Some(1024)
        );
        assert!(parse_meminfo("MemTotal: 99999999999999999999 kB").is_none());
        assert!(cpus().unwrap() >= 1);
        assert!(load_avg().is_some());
        assert!(machine_memory().unwrap().total_bytes > 0);
    }
}

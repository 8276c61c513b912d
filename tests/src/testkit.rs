//! Helpers shared by the integration suites in `tests/tests/`: per-test scratch
//! directories, a multi-process cluster (master and agents as OS processes), bounded waits
//! on child processes, sandbox lookup, and OS process-group checks for kill tests.
//!
//! Everything here is for tests: failures panic with a message saying what was awaited
//! and, for multi-process clusters, the tail of every component's log.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::procs::{self, Proc};

/// A scratch directory under `std::env::temp_dir()`, removed when dropped unless the
/// thread is panicking (then it is kept, and its path printed, for the post-mortem).
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// A fresh, empty directory named after `prefix`, the OS pid and a counter.
    pub fn new(prefix: &str) -> TempDir {
        TempDir::new_in(&std::env::temp_dir(), prefix)
    }

    /// [`TempDir::new`] under `base`. The pid and the counter are zero-padded, so the
    /// path's length does not vary from run to run: paths travel in messages, and a seeded
    /// simulation's replay compares the frames' lengths.
    pub fn new_in(base: &Path, prefix: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = base.join(format!(
            "mesos-it-{prefix}-{:07}-{n:06}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        if let Err(e) = std::fs::create_dir_all(&path) {
            panic!("cannot create the test directory {}: {e}", path.display());
        }
        TempDir { path }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "keeping the test directory {} for inspection",
                self.path.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Panics with a clear message unless every named workspace binary has been built.
pub fn require_bins(names: &[&str]) {
    for name in names {
        let p = procs::bin(name);
        if !p.exists() {
            panic!(
                "{} is missing: build the workspace binaries first (`cargo build --workspace --bins`)",
                p.display()
            );
        }
    }
}

/// Waits (bounded) until `p` exits and returns its status. Polls `try_wait`: the child is
/// an OS process we do not control, so there is no event to await.
pub async fn wait_exit(p: &mut Proc, limit: Duration) -> Result<ExitStatus, String> {
    let start = Instant::now();
    loop {
        match p.child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) => {}
            Err(e) => return Err(format!("{}: cannot wait: {e}", p.name)),
        }
        if start.elapsed() > limit {
            return Err(format!("{} did not exit within {limit:?}", p.name));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Every file called `name` under `root` (recursively; unreadable directories skipped).
pub fn find_files(root: &Path, name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(_) if e.file_name() == name => out.push(path),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

/// A cluster of real OS processes: one `mesos-master` and N `mesos-agent`s on loopback,
/// each on a free port, with work directories and logs under one [`TempDir`]. Every
/// process is SIGKILLed when the cluster drops.
pub struct MultiCluster {
    /// The master process.
    pub master: Proc,
    /// The master's address.
    pub master_addr: SocketAddr,
    /// The agent processes, in start order.
    pub agents: Vec<Proc>,
    /// Each agent's address.
    pub agent_addrs: Vec<SocketAddr>,
    /// Other processes started through [`MultiCluster::start_proc`] are logged here too.
    pub dir: TempDir,
}

impl Drop for MultiCluster {
    /// Stops the agents, then SIGKILLs whatever their executors left running in the
    /// sandboxes, so no task outlives its test. The master and the directory go after.
    fn drop(&mut self) {
        self.agents.clear();
        crate::ha::kill_processes_under(self.dir.path());
    }
}

/// How long a component gets to start answering HTTP.
const START_LIMIT: Duration = Duration::from_secs(30);

/// Starts a server binary on a free port (retrying with another port if the one picked
/// was taken meanwhile) and waits until `GET probe` answers 200.
pub async fn start_server(
    name: &str,
    program: &str,
    args: impl Fn(u16) -> Vec<String>,
    probe: &str,
    log_dir: &Path,
) -> Result<(Proc, SocketAddr), String> {
    let mut last = String::new();
    for _attempt in 0..3 {
        let port = procs::free_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut p = Proc::start(name, program, &args(port), log_dir).map_err(|e| e.to_string())?;
        let up = tokio::select! {
            biased;
            r = procs::wait_http(addr, probe, START_LIMIT) => r.map(|_| ()),
            s = async { wait_exit(&mut p, START_LIMIT).await } => Err(format!("{name} exited at start: {s:?}")),
        };
        match up {
            Ok(()) => return Ok((p, addr)),
            Err(e) => {
                last = format!("{e}\n--- {name} log ---\n{}", tail(&p.log_text(), 30));
                p.kill();
            }
        }
    }
    Err(format!("cannot start {name}: {last}"))
}

impl MultiCluster {
    /// Starts a master and `num_agents` agents with `resources` each, and waits until the
    /// master counts them all as activated.
    pub async fn start(prefix: &str, num_agents: usize, resources: &str) -> MultiCluster {
        MultiCluster::start_with(prefix, num_agents, resources, |_| Vec::new(), &[]).await
    }

    /// [`MultiCluster::start`] with more flags for the master, made from the cluster's
    /// directory (e.g. `--log_dir` inside it), and for every agent.
    pub async fn start_with(
        prefix: &str,
        num_agents: usize,
        resources: &str,
        master_flags: impl Fn(&Path) -> Vec<String>,
        agent_flags: &[String],
    ) -> MultiCluster {
        require_bins(&["mesos-master", "mesos-agent", "mesos-executor"]);
        let dir = TempDir::new(prefix);
        let logs = dir.path().join("logs");
        let extra = master_flags(dir.path());
        let (master, master_addr) = start_server(
            "master",
            "mesos-master",
            |p| {
                let mut args = vec![format!("--port={p}"), "--allocation_interval=100ms".into()];
                args.extend(extra.iter().cloned());
                args
            },
            "/master/state",
            &logs,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        let mut cluster = MultiCluster {
            master,
            master_addr,
            agents: Vec::new(),
            agent_addrs: Vec::new(),
            dir,
        };
        for i in 1..=num_agents {
            let work_dir = cluster.agent_work_dir(i);
            let master_arg = cluster.master_arg();
            let started = start_server(
                &format!("agent-{i}"),
                "mesos-agent",
                |p| {
                    let mut args = vec![
                        master_arg.clone(),
                        format!("--port={p}"),
                        format!("--work_dir={}", work_dir.display()),
                        format!("--resources={resources}"),
                    ];
                    args.extend(agent_flags.iter().cloned());
                    args
                },
                "/state",
                &logs,
            )
            .await;
            match started {
                Ok((p, addr)) => {
                    cluster.agents.push(p);
                    cluster.agent_addrs.push(addr);
                }
                Err(e) => panic!("{e}\n{}", cluster.logs()),
            }
        }
        if let Err(e) = cluster.wait_activated(num_agents).await {
            panic!("{e}\n{}", cluster.logs());
        }
        cluster
    }

    /// Waits until `/master/state` counts `n` activated agents.
    pub async fn wait_activated(&self, n: usize) -> Result<serde_json::Value, String> {
        procs::wait_json(
            self.master_addr,
            "/master/state",
            START_LIMIT,
            &format!("{n} activated agents"),
            |s| s["activated_slaves"].as_u64() == Some(n as u64),
        )
        .await
    }

    /// `--master=127.0.0.1:PORT`.
    pub fn master_arg(&self) -> String {
        format!("--master={}", self.master_addr)
    }

    /// Agent `i`'s (1-based) work directory.
    pub fn agent_work_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("agent-{i}"))
    }

    /// Where process logs go.
    pub fn log_dir(&self) -> PathBuf {
        self.dir.path().join("logs")
    }

    /// Starts another binary (a framework) with its output logged next to the cluster's.
    pub fn start_proc(&self, name: &str, program: &str, args: &[String]) -> Proc {
        require_bins(&[program]);
        Proc::start(name, program, args, &self.log_dir()).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The tails of the master's and agents' logs, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for p in std::iter::once(&self.master).chain(self.agents.iter()) {
            out.push_str(&format!(
                "--- {} log (tail) ---\n{}\n",
                p.name,
                tail(&p.log_text(), 40)
            ));
        }
        out
    }
}

/// Process `pid` as `/proc/<pid>/stat` shows it, if it exists.
pub use libproc::procfs::stat as proc_stat;

/// Whether `pid` is gone or a zombie (dead, waiting to be reaped).
pub fn dead_or_zombie(pid: i32) -> bool {
    proc_stat(pid).is_none_or(|p| p.is_zombie())
}

pub use libproc::procfs::live_group_members;

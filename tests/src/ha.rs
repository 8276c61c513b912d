//! High-availability clusters of real OS processes for the failover suites and benchmark:
//! N `mesos-master`s contending through a real ZooKeeper (Debian's package, through
//! [`detector::zk_test_server`]), M `mesos-agent`s and a `long-lived-framework` that follow
//! the leader through `zk://`. It can kill, stop and restart any of them (ZooKeeper
//! included), and [`HaCluster::check_invariants`] checks, after a fault, what must hold in
//! every scenario:
//!
//! * every task the framework launched is running or reached exactly one terminal state in
//!   the framework's view (read from its log);
//! * no task that was running before the fault was lost or restarted (same task ids, same
//!   OS processes in the sandboxes);
//! * no executor leaked (one `mesos-executor` and one task process per running task, no
//!   other processes in the sandboxes);
//! * the cluster accepts new work (`mesos-execute --command=true` finishes).
//!
//! Every node reaches ZooKeeper through a [`TcpProxy`] ([`HaCluster::zk_proxy`]): a test
//! can cut or blackhole ZooKeeper for everyone without stopping it, as well as restart it.
//!
//! Every process is SIGKILLed when the cluster drops, then every process left in the
//! sandboxes, then ZooKeeper.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use detector::tcp_proxy::TcpProxy;
use detector::zk_test_server::ZkServer;
use serde_json::Value;

use crate::procs::{self, Proc};
use crate::testkit::{require_bins, start_server, tail, wait_exit, TempDir};

/// Bound on anything a scenario waits for (generous: the machine may be loaded).
pub const LIMIT: Duration = Duration::from_secs(30);

/// The framework's name in every HA cluster.
pub const FRAMEWORK: &str = "ha-llf";

/// The shape of an HA cluster.
#[derive(Clone, Debug)]
pub struct HaConfig {
    /// Number of masters.
    pub masters: usize,
    /// Number of agents.
    pub agents: usize,
    /// `--resources` of each agent.
    pub agent_resources: String,
    /// `--instances` of the framework (0: no framework is started).
    pub instances: usize,
    /// `--task_resources` of each task.
    pub task_resources: String,
    /// Give the framework a `--framework_id_file` and `--failover_timeout=120`, so that a
    /// restarted scheduler fails over and adopts its tasks.
    pub framework_failover: bool,
    /// `--zk_session_timeout` of the masters.
    pub zk_session_timeout: String,
    /// Bound on each wait ([`LIMIT`] by default; benchmarks at scale need more).
    pub limit: Duration,
    /// `--agent_reregister_timeout` of the masters (their default if `None`).
    pub agent_reregister_timeout: Option<String>,
    /// `--hostname` of the masters (their IP if `None`): the host their redirects name.
    pub master_hostname: Option<String>,
    /// Start every node (masters, agents and so their executors, the framework) with
    /// `--enable_fault_injection`, for scenarios driven through `/fault/rules`
    /// ([`HaCluster::chaos`]).
    pub fault_injection: bool,
    /// More flags for every master (e.g. `--agent_ping_timeout=1secs`).
    pub master_flags: Vec<String>,
}

impl Default for HaConfig {
    fn default() -> HaConfig {
        HaConfig {
            masters: 2,
            agents: 2,
            agent_resources: "cpus:2;mem:1024;disk:1024".into(),
            instances: 3,
            task_resources: "cpus:0.1;mem:32".into(),
            framework_failover: true,
            zk_session_timeout: "2secs".into(),
            limit: LIMIT,
            agent_reregister_timeout: None,
            master_hostname: None,
            fault_injection: false,
            master_flags: Vec::new(),
        }
    }
}

/// One master's slot: it keeps its name and work dir across restarts.
struct MasterSlot {
    proc: Option<Proc>,
    addr: SocketAddr,
    work_dir: PathBuf,
    starts: usize,
}

/// What a scenario records before its fault, to compare against afterwards.
#[derive(Clone, Debug)]
pub struct Baseline {
    /// The framework's id.
    pub framework_id: String,
    /// The ids of its running tasks.
    pub tasks: BTreeSet<String>,
    /// The OS pids of the task processes (`sleep`) in the sandboxes.
    pub task_pids: BTreeSet<i32>,
}

/// The running cluster.
pub struct HaCluster {
    /// The ZooKeeper server (stop and start it again for a ZooKeeper restart).
    pub zk: ZkServer,
    /// The proxy every node reaches ZooKeeper through (cut, blackhole, restore).
    pub zk_proxy: TcpProxy,
    config: HaConfig,
    masters: Vec<MasterSlot>,
    agents: Vec<Proc>,
    framework: Option<Proc>,
    /// Every framework log (one per start), oldest first: the framework's whole view.
    framework_logs: Vec<PathBuf>,
    /// Processes no longer part of the cluster, kept for their logs.
    retired: Vec<Proc>,
    work: PathBuf,
    logs: PathBuf,
    dir: TempDir,
}

/// The one framework named [`FRAMEWORK`] in a master's state, if there is exactly one.
pub fn framework(state: &Value) -> Option<&Value> {
    let fws: Vec<&Value> = state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["name"] == FRAMEWORK)
        .collect();
    match fws.as_slice() {
        [f] => Some(f),
        _ => None,
    }
}

/// The ids of a framework's `TASK_RUNNING` tasks (in a master's state).
pub fn running_tasks(f: &Value) -> BTreeSet<String> {
    f["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["state"] == "TASK_RUNNING")
        .filter_map(|t| t["id"].as_str().map(str::to_string))
        .collect()
}

/// Live (non-zombie) processes whose working directory is under `dir`, with their
/// command names: executors and their tasks run in sandboxes there.
pub fn processes_under(dir: &Path) -> Vec<(i32, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        if !std::fs::read_link(e.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(dir)) {
            continue;
        }
        if crate::testkit::dead_or_zombie(pid) {
            continue;
        }
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        out.push((pid, comm.trim().to_string()));
    }
    out.sort();
    out
}

/// SIGKILLs every process whose working directory is under `dir`, with its process group
/// (a task's children too): what a killed executor left running in its sandbox would
/// otherwise outlive the test.
pub fn kill_processes_under(dir: &Path) {
    for (pid, _) in processes_under(dir) {
        let pid = nix::unistd::Pid::from_raw(pid);
        if let Ok(pgid) = nix::unistd::getpgid(Some(pid)) {
            if pgid.as_raw() > 1 && pgid.as_raw() != nix::unistd::getpgrp().as_raw() {
                let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
            }
        }
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    }
}

/// The framework's view of its tasks, from `long-lived-framework`'s log lines
/// (`Launching n task(s) on agent A: ["t1", ...]`, `Task T is in state S`): for each task
/// it launched, every state it was told, in order.
pub fn framework_view(logs: &[String]) -> BTreeMap<String, Vec<String>> {
    let mut view: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in logs.iter().flat_map(|l| l.lines()) {
        if let Some(rest) = line.strip_prefix("Launching ") {
            let Some((_, list)) = rest.split_once(": [") else {
                continue;
            };
            for id in list.trim_end_matches(']').split(", ") {
                let id = id.trim_matches('"');
                if !id.is_empty() {
                    view.entry(id.to_string()).or_default();
                }
            }
        } else if let Some(rest) = line.strip_prefix("Task ") {
            if let Some((id, state)) = rest.split_once(" is in state ") {
                view.entry(id.to_string())
                    .or_default()
                    .push(state.trim().to_string());
            }
        }
    }
    view
}

/// Whether a Mesos task state name is terminal.
pub fn is_terminal(state: &str) -> bool {
    matches!(
        state,
        "TASK_FINISHED"
            | "TASK_FAILED"
            | "TASK_KILLED"
            | "TASK_LOST"
            | "TASK_ERROR"
            | "TASK_DROPPED"
            | "TASK_GONE"
            | "TASK_GONE_BY_OPERATOR"
    )
}

impl HaCluster {
    /// Starts ZooKeeper, the masters (waiting for a leader), the agents (waiting until the
    /// leader counts them all) and, with `instances > 0`, the framework (waiting until all
    /// its tasks run). `None` (after printing why) when ZooKeeper is not installed.
    pub async fn start(prefix: &str, config: HaConfig) -> Option<HaCluster> {
        let mut cluster = HaCluster::start_without_framework(prefix, config).await?;
        if cluster.config.instances > 0 {
            cluster.start_framework();
            cluster.wait_tasks_running(cluster.config.instances).await;
        }
        Some(cluster)
    }

    /// Starts ZooKeeper, the masters and the agents as [`HaCluster::start`] does, but not
    /// the framework: start it with [`HaCluster::start_framework`] (and take the
    /// [`HaCluster::baseline`] once its tasks run).
    pub async fn start_without_framework(prefix: &str, config: HaConfig) -> Option<HaCluster> {
        require_bins(&[
            "mesos-master",
            "mesos-agent",
            "mesos-executor",
            "long-lived-framework",
            "mesos-execute",
        ]);
        let zk = ZkServer::start().await?;
        let zk_proxy = TcpProxy::start(SocketAddr::from(([127, 0, 0, 1], zk.port())))
            .unwrap_or_else(|e| panic!("cannot start the ZooKeeper proxy: {e}"));
        let dir = TempDir::new(prefix);
        let work = dir.path().join("work");
        let logs = dir.path().join("logs");
        let mut cluster = HaCluster {
            zk,
            zk_proxy,
            masters: Vec::new(),
            agents: Vec::new(),
            framework: None,
            framework_logs: Vec::new(),
            retired: Vec::new(),
            work: work.clone(),
            logs,
            dir,
            config: config.clone(),
        };
        for i in 0..config.masters {
            cluster.masters.push(MasterSlot {
                proc: None,
                addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                work_dir: work.join(format!("master-{}", i + 1)),
                starts: 0,
            });
            cluster.start_master(i).await;
        }
        cluster.wait_leader("a leading master", |_, _| true).await;
        for i in 1..=config.agents {
            cluster.start_agent(i).await;
        }
        let n = config.agents;
        cluster
            .wait_leader(&format!("{n} activated agents"), |_, s| {
                s["activated_slaves"].as_u64() == Some(n as u64)
            })
            .await;
        Some(cluster)
    }

    /// The ZooKeeper URL every node is given (`zk://127.0.0.1:PORT/mesos`, through the
    /// proxy).
    pub fn zk_url(&self) -> String {
        format!("zk://{}/mesos", self.zk_proxy.servers())
    }

    /// `extra`, plus `--enable_fault_injection` when the cluster runs with fault injection.
    fn node_flags(&self, extra: &[String]) -> Vec<String> {
        let mut flags = extra.to_vec();
        if self.config.fault_injection {
            flags.push(format!("--{}", libproc::fault::FLAG.name));
        }
        flags
    }

    /// Runs a `mesos-chaos` command (the same code as the binary, in this process) against
    /// the cluster's `/fault/rules` endpoints; returns its output, or fails the test with
    /// every log. Needs [`HaConfig::fault_injection`].
    pub async fn chaos(&self, args: &[&str]) -> String {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let cmd = crate::chaos::Command::parse(&args)
            .unwrap_or_else(|e| self.fail(&format!("mesos-chaos {args:?}: {e}")));
        crate::chaos::run(cmd)
            .await
            .unwrap_or_else(|e| self.fail(&format!("mesos-chaos {args:?}: {e}")))
    }

    /// The number of masters.
    pub fn num_masters(&self) -> usize {
        self.masters.len()
    }

    /// Where the sandboxes (and everything else the processes write) are.
    pub fn work_dir(&self) -> &Path {
        &self.work
    }

    /// The scratch directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Starts (or restarts) master `i` (0-based) on a free port; waits until it answers.
    pub async fn start_master(&mut self, i: usize) {
        let zk_arg = format!("--zk={}", self.zk_url());
        let slot = &self.masters[i];
        let work_dir = slot.work_dir.clone();
        let name = if slot.starts == 0 {
            format!("master-{}", i + 1)
        } else {
            format!("master-{}.{}", i + 1, slot.starts)
        };
        let session = format!("--zk_session_timeout={}", self.config.zk_session_timeout);
        let reregister = self
            .config
            .agent_reregister_timeout
            .as_ref()
            .map(|t| format!("--agent_reregister_timeout={t}"));
        let hostname = self
            .config
            .master_hostname
            .as_ref()
            .map(|h| format!("--hostname={h}"));
        let extra = self.node_flags(&self.config.master_flags);
        let started = start_server(
            &name,
            "mesos-master",
            |p| {
                let mut args = vec![
                    format!("--port={p}"),
                    zk_arg.clone(),
                    "--quorum=1".into(),
                    session.clone(),
                    "--registry=zookeeper".into(),
                    format!("--work_dir={}", work_dir.display()),
                    "--allocation_interval=100ms".into(),
                ];
                args.extend(reregister.clone());
                args.extend(hostname.clone());
                args.extend(extra.iter().cloned());
                args
            },
            "/master/health",
            &self.logs,
        )
        .await;
        match started {
            Ok((p, addr)) => {
                let slot = &mut self.masters[i];
                if let Some(old) = slot.proc.replace(p) {
                    self.retired.push(old);
                }
                slot.addr = addr;
                slot.starts += 1;
            }
            Err(e) => self.fail(&e),
        }
    }

    async fn start_agent(&mut self, i: usize) {
        let agent_dir = self.work.join(format!("agent-{i}"));
        let master_arg = format!("--master={}", self.zk_url());
        let resources = format!("--resources={}", self.config.agent_resources);
        let extra = self.node_flags(&[]);
        let started = start_server(
            &format!("agent-{i}"),
            "mesos-agent",
            |p| {
                let mut args = vec![
                    master_arg.clone(),
                    format!("--port={p}"),
                    format!("--work_dir={}", agent_dir.display()),
                    resources.clone(),
                    // Quick re-registration after a master failover.
                    "--registration_backoff_factor=100ms".into(),
                ];
                args.extend(extra.iter().cloned());
                args
            },
            "/state",
            &self.logs,
        )
        .await;
        match started {
            Ok((p, _)) => self.agents.push(p),
            Err(e) => self.fail(&e),
        }
    }

    /// Starts the framework (again, after [`HaCluster::kill_framework`]); with
    /// `framework_failover` it fails over to the id in its id file.
    pub fn start_framework(&mut self) {
        let n = self.framework_logs.len();
        let name = if n == 0 {
            "framework".to_string()
        } else {
            format!("framework.{n}")
        };
        let mut args = vec![
            format!("--master={}", self.zk_url()),
            format!("--instances={}", self.config.instances),
            "--command=sleep 1000".into(),
            format!("--task_resources={}", self.config.task_resources),
            format!("--name={FRAMEWORK}"),
        ];
        args.extend(self.node_flags(&[]));
        if self.config.framework_failover {
            args.push(format!(
                "--framework_id_file={}",
                self.dir.path().join("framework.id").display()
            ));
            args.push("--failover_timeout=120".into());
        }
        let p = Proc::start(&name, "long-lived-framework", &args, &self.logs)
            .unwrap_or_else(|e| panic!("{e}"));
        self.framework_logs.push(p.log.clone());
        if let Some(old) = self.framework.replace(p) {
            self.retired.push(old);
        }
    }

    /// SIGKILLs the framework's scheduler.
    pub fn kill_framework(&mut self) {
        if let Some(mut p) = self.framework.take() {
            p.kill();
            self.retired.push(p);
        }
    }

    /// The framework's log so far, over every start.
    pub fn framework_log(&self) -> Vec<String> {
        self.framework_logs
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .collect()
    }

    /// Waits until the framework's log (any start) contains `needle`.
    pub async fn wait_framework_log(&self, needle: &str) {
        let start = Instant::now();
        while !self.framework_log().iter().any(|l| l.contains(needle)) {
            if start.elapsed() > self.config.limit {
                self.fail(&format!("the framework never printed '{needle}'"));
            }
            // Polling a process we do not control: there is no event to wait for.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The tails of every component's log (and ZooKeeper's), for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        let all = self
            .retired
            .iter()
            .chain(self.masters.iter().filter_map(|m| m.proc.as_ref()))
            .chain(self.agents.iter())
            .chain(self.framework.iter());
        for p in all {
            out.push_str(&format!(
                "--- {} log (tail) ---\n{}\n",
                p.name,
                tail(&p.log_text(), 30)
            ));
        }
        let zk_log = std::fs::read_to_string(self.zk.dir().join("server.log")).unwrap_or_default();
        out.push_str(&format!(
            "--- zookeeper log (tail) ---\n{}\n",
            tail(&zk_log, 10)
        ));
        out
    }

    /// Panics with `what` and every log's tail.
    pub fn fail(&self, what: &str) -> ! {
        panic!("{what}\n{}", self.logs())
    }

    /// The index and `/master/state` of the master answering it (only the leader does).
    pub async fn leader_state(&self) -> Option<(usize, Value)> {
        for (i, m) in self.masters.iter().enumerate() {
            if m.proc.is_none() {
                continue;
            }
            // Bounded: a stopped (SIGSTOP) master accepts connections but never answers.
            let ask = procs::get_json(m.addr, "/master/state");
            if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_millis(500), ask).await {
                return Some((i, s));
            }
        }
        None
    }

    /// Polls the leader's `/master/state` until `pred(index, state)` holds (bounded).
    pub async fn wait_leader(
        &self,
        what: &str,
        mut pred: impl FnMut(usize, &Value) -> bool,
    ) -> (usize, Value) {
        let start = Instant::now();
        let mut last = Value::Null;
        while start.elapsed() < self.config.limit {
            if let Some((i, s)) = self.leader_state().await {
                if pred(i, &s) {
                    return (i, s);
                }
                last = s;
            }
            // Polling processes we do not control: there is no event to wait for.
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.fail(&format!(
            "timed out after {:?} waiting for {what}; last leader state: {last}",
            self.config.limit
        ))
    }

    /// Waits until the leader shows the framework with `n` running tasks and the sandboxes
    /// hold `n` task processes.
    pub async fn wait_tasks_running(&self, n: usize) -> Baseline {
        let (_, state) = self
            .wait_leader(&format!("{n} running tasks"), |_, s| {
                framework(s).is_some_and(|f| running_tasks(f).len() == n)
            })
            .await;
        let start = Instant::now();
        let mut pids = self.task_pids();
        while pids.len() < n && start.elapsed() < self.config.limit {
            tokio::time::sleep(Duration::from_millis(50)).await;
            pids = self.task_pids();
        }
        if pids.len() != n {
            self.fail(&format!(
                "expected {n} task processes in the sandboxes: {:?}",
                processes_under(&self.work)
            ));
        }
        let f = framework(&state).expect("checked by the wait");
        Baseline {
            framework_id: f["id"].as_str().unwrap_or_default().to_string(),
            tasks: running_tasks(f),
            task_pids: pids,
        }
    }

    /// What runs now: the baseline later checks compare against.
    pub async fn baseline(&self) -> Baseline {
        self.wait_tasks_running(self.config.instances).await
    }

    /// The pids of the task processes (`sleep`) in the sandboxes.
    pub fn task_pids(&self) -> BTreeSet<i32> {
        processes_under(&self.work)
            .into_iter()
            .filter(|(_, comm)| comm == "sleep")
            .map(|(pid, _)| pid)
            .collect()
    }

    /// The index of the leading master (waiting for one).
    pub async fn leader(&self) -> usize {
        self.wait_leader("a leading master", |_, _| true).await.0
    }

    /// The OS process of master `i`, if it runs.
    pub fn master_proc(&mut self, i: usize) -> Option<&mut Proc> {
        self.masters[i].proc.as_mut()
    }

    /// The OS process of agent `i` (0-based), if it runs.
    pub fn agent_proc(&mut self, i: usize) -> Option<&mut Proc> {
        self.agents.get_mut(i)
    }

    /// Where agent `i` (0-based) keeps its work dir (its sandboxes are under it).
    pub fn agent_dir(&self, i: usize) -> PathBuf {
        self.work.join(format!("agent-{}", i + 1))
    }

    /// Master `i`'s address.
    pub fn master_addr(&self, i: usize) -> SocketAddr {
        self.masters[i].addr
    }

    /// SIGKILLs master `i` (its slot stays, for a restart).
    pub fn kill_master(&mut self, i: usize) {
        if let Some(mut p) = self.masters[i].proc.take() {
            p.kill();
            self.retired.push(p);
        }
    }

    /// Forgets master `i`'s process (after it exited on its own), keeping its log.
    pub fn retire_master(&mut self, i: usize) {
        if let Some(p) = self.masters[i].proc.take() {
            self.retired.push(p);
        }
    }

    /// Waits (bounded) until master `i`, which lost its ZooKeeper session while it was
    /// stopped or stalled, exits; fails the test if it serves `/master/state` as a leader
    /// meanwhile (a second leader). Returns its exit status.
    pub async fn wait_stepped_down(&mut self, i: usize) -> std::process::ExitStatus {
        let addr = self.master_addr(i);
        let start = Instant::now();
        loop {
            let ask = procs::get_json(addr, "/master/state");
            if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_secs(1), ask).await {
                self.fail(&format!(
                    "the old leader master-{} serves /master/state as a leader: {}",
                    i + 1,
                    s["id"]
                ));
            }
            let exited = self
                .master_proc(i)
                .and_then(|p| p.child.try_wait().ok().flatten());
            if let Some(status) = exited {
                return status;
            }
            if start.elapsed() > LIMIT {
                self.fail(&format!(
                    "the old leader master-{} did not step down",
                    i + 1
                ));
            }
            // Polling a process we do not control: there is no event to wait for.
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Restarts every master whose process exited (as a supervisor would, after a master
    /// that lost leadership exits with code 3); returns how many were restarted.
    pub async fn supervise(&mut self) -> usize {
        let mut restarted = 0;
        for i in 0..self.masters.len() {
            let exited = match self.masters[i].proc.as_mut() {
                Some(p) => !p.running(),
                None => false,
            };
            if exited {
                self.start_master(i).await;
                restarted += 1;
            }
        }
        restarted
    }

    /// Checks, for `period` (polling: there is no event for "nothing happened"), that
    /// master `leader` keeps running and stays the one leader with id `id`: no exit, no
    /// other master answering as leader meanwhile.
    pub async fn hold_leader(&mut self, leader: usize, id: &Value, period: Duration) {
        let start = Instant::now();
        while start.elapsed() < period {
            let exited = self
                .master_proc(leader)
                .is_none_or(|p| p.child.try_wait().ok().flatten().is_some());
            if exited {
                self.fail(&format!(
                    "master-{} exited after {:?} although its session lived",
                    leader + 1,
                    start.elapsed()
                ));
            }
            for (i, m) in self.masters.iter().enumerate() {
                if i == leader || m.proc.is_none() {
                    continue;
                }
                let ask = procs::get_json(m.addr, "/master/state");
                if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(500), ask).await {
                    self.fail(&format!(
                        "master-{} leads while master-{} should",
                        i + 1,
                        leader + 1
                    ));
                }
            }
            let ask = procs::get_json(self.masters[leader].addr, "/master/state");
            if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_millis(500), ask).await {
                if s["id"] != *id {
                    self.fail(&format!(
                        "another master instance leads: {} (was {id})",
                        s["id"]
                    ));
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until a master other than `old` leads, every agent is re-registered with it,
    /// and the framework is back with the baseline's tasks; returns the new leader's index
    /// and the times (from `since`) at which each of the three was first seen.
    pub async fn wait_recovered(
        &self,
        base: &Baseline,
        old: Option<(usize, &Value)>,
        since: Instant,
    ) -> (usize, [Duration; 3]) {
        let old_id = old.map(|(_, id)| id.clone());
        let (leader, _) = self
            .wait_leader("a new leader", |i, s| {
                old_id.as_ref().is_none_or(|id| s["id"] != *id) && old.is_none_or(|(o, _)| i != o)
            })
            .await;
        let to_leader = since.elapsed();
        let n = self.agents.len() as u64;
        self.wait_leader("every agent re-registered", |_, s| {
            s["activated_slaves"].as_u64() == Some(n)
        })
        .await;
        let to_agents = since.elapsed();
        self.wait_leader("the framework re-registered with its tasks", |_, s| {
            framework(s).is_some_and(|f| {
                f["active"] == true
                    && f["id"] == base.framework_id.as_str()
                    && base.tasks.is_subset(&running_tasks(f))
            })
        })
        .await;
        let to_framework = since.elapsed();
        (leader, [to_leader, to_agents, to_framework])
    }

    /// The checks every scenario ends with (see the module doc): the framework is back
    /// with its tasks, its view of every task is sane, nothing that ran was lost or
    /// restarted, no executor leaked, and new work runs.
    pub async fn check_invariants(&mut self, base: &Baseline) {
        let n = self.agents.len() as u64;
        let (_, state) = self
            .wait_leader("the cluster back with every agent and task", |_, s| {
                s["activated_slaves"].as_u64() == Some(n)
                    && framework(s).is_some_and(|f| {
                        f["active"] == true
                            && f["id"] == base.framework_id.as_str()
                            && base.tasks.is_subset(&running_tasks(f))
                    })
            })
            .await;
        let fw = framework(&state).expect("checked by the wait");
        let running = running_tasks(fw);

        // The framework's view: each task it launched is running (as the master says) or
        // reached exactly one terminal state, and nothing follows a terminal state.
        let view = framework_view(&self.framework_log());
        for id in &base.tasks {
            if !view.contains_key(id) {
                self.fail(&format!(
                    "running task {id} is not in the framework's view: {view:?}"
                ));
            }
        }
        for (id, states) in &view {
            let terminal: Vec<&String> = states.iter().filter(|s| is_terminal(s)).collect();
            match terminal.as_slice() {
                [] => {
                    if !running.contains(id) {
                        self.fail(&format!(
                            "task {id} is neither running nor terminal: {states:?}; master: {fw}"
                        ));
                    }
                }
                [_] => {
                    if states.last().is_some_and(|s| !is_terminal(s)) {
                        self.fail(&format!("task {id} changed state after ending: {states:?}"));
                    }
                    if running.contains(id) {
                        self.fail(&format!(
                            "task {id} ended in the framework's view but runs: {states:?}"
                        ));
                    }
                }
                _ => self.fail(&format!("task {id} ended more than once: {states:?}")),
            }
        }
        // No running task was lost or restarted.
        for id in &base.tasks {
            if view[id].iter().any(|s| is_terminal(s)) {
                self.fail(&format!(
                    "task {id}, running before the fault, ended: {:?}",
                    view[id]
                ));
            }
        }
        let pids = self.task_pids();
        if !base.task_pids.is_subset(&pids) {
            self.fail(&format!(
                "task processes were lost or restarted: before {:?}, now {:?}",
                base.task_pids, pids
            ));
        }
        // No executor leaked: one executor and one task process per running task.
        let start = Instant::now();
        loop {
            let procs = processes_under(&self.work);
            let executors = procs.iter().filter(|(_, c)| c == "mesos-executor").count();
            let tasks = procs.iter().filter(|(_, c)| c == "sleep").count();
            let others: Vec<&(i32, String)> = procs
                .iter()
                .filter(|(_, c)| c != "mesos-executor" && c != "sleep" && c != "sh")
                .collect();
            if executors == running.len() && tasks == running.len() && others.is_empty() {
                break;
            }
            if start.elapsed() > self.config.limit {
                self.fail(&format!(
                    "sandbox processes do not match the {} running tasks: {procs:?}",
                    running.len()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // New work runs.
        let mut exec = Proc::start(
            "mesos-execute",
            "mesos-execute",
            &[
                format!("--master={}", self.zk_url()),
                "--name=after-fault".into(),
                "--command=true".into(),
            ],
            &self.logs,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let status = wait_exit(&mut exec, self.config.limit).await;
        let out = exec.log_text();
        self.retired.push(exec);
        match status {
            Ok(s) if s.code() == Some(0) => {}
            other => self.fail(&format!(
                "mesos-execute after the fault: {other:?}\n{}",
                tail(&out, 40)
            )),
        }
    }

    fn kill_sandbox_processes(&self) {
        kill_processes_under(&self.work);
    }
}

impl Drop for HaCluster {
    fn drop(&mut self) {
        self.framework.take();
        self.agents.clear();
        for m in &mut self.masters {
            m.proc.take();
        }
        self.retired.clear();
        self.kill_sandbox_processes();
        self.zk.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_framework_view_is_read_from_its_log() {
        let log = "Registered with framework ID f1\n\
                   Launching 2 task(s) on agent a1: [\"instance-0\", \"instance-1\"]\n\
                   Task instance-0 is in state TASK_RUNNING\n\
                   Task instance-1 is in state TASK_RUNNING\n\
                   Task instance-1 is in state TASK_KILLED\n";
        let view = framework_view(&[log.to_string()]);
        assert_eq!(view["instance-0"], vec!["TASK_RUNNING"]);
        assert_eq!(view["instance-1"], vec!["TASK_RUNNING", "TASK_KILLED"]);
        assert_eq!(view.len(), 2);
        assert!(is_terminal("TASK_KILLED") && !is_terminal("TASK_RUNNING"));
    }
}

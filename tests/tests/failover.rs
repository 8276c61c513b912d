//! Master failover with real OS processes and a real ZooKeeper: two `mesos-master`s contend
//! through ZooKeeper, two `mesos-agent`s and `long-lived-framework` follow the leader
//! through `zk://`. The leading master is SIGKILLed; the other one takes over, the agents
//! and the framework re-register, and the running tasks keep running untouched.
//!
//! Needs Debian's `zookeeper` package (and a `java`); without it the test prints SKIPPED
//! and passes. Build the binaries first: `cargo build --workspace --bins`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cluster::procs::{self, Proc};
use cluster::testkit::{require_bins, start_server, tail, wait_exit, TempDir};
use serde_json::Value;

/// Bound on anything the test waits for (generous: the machine may be loaded).
const LIMIT: Duration = Duration::from_secs(30);

/// Where Debian's package puts the ZooKeeper server jar.
const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";
/// Debian's ZooKeeper log configuration (on the class path, as `zkServer.sh` does).
const ZOOKEEPER_CONF: &str = "/etc/zookeeper/conf";

/// A standalone ZooKeeper on a free loopback port, killed on drop. (The `detector` crate
/// has a richer one, but this crate does not depend on `detector`.)
struct Zk {
    port: u16,
    child: Child,
}

impl Zk {
    /// Starts ZooKeeper under `dir` and waits until it answers `ruok`; `None` (after
    /// printing why) when ZooKeeper or java is not installed.
    async fn start(dir: &Path) -> Option<Zk> {
        let java = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("java"))
                .find(|p| p.exists())
        });
        let Some(java) = java.filter(|_| Path::new(ZOOKEEPER_JAR).exists()) else {
            eprintln!(
                "SKIPPED: ZooKeeper is not installed ({ZOOKEEPER_JAR} or java missing; \
                 apt-get install zookeeper)"
            );
            return None;
        };
        let port = procs::free_port();
        let data = dir.join("zk-data");
        std::fs::create_dir_all(&data).expect("create the ZooKeeper data dir");
        let cfg = format!(
            "tickTime=200\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
             minSessionTimeout=400\nmaxSessionTimeout=60000\nadmin.enableServer=false\n\
             4lw.commands.whitelist=ruok,srvr\nmaxClientCnxns=0\n",
            data.display()
        );
        let cfg_path = dir.join("zoo.cfg");
        std::fs::write(&cfg_path, cfg).expect("write zoo.cfg");
        let log = std::fs::File::create(dir.join("zookeeper.log")).expect("ZooKeeper log");
        let child = Command::new(java)
            .args(["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
            .arg(format!("-Dzookeeper.log.dir={}", dir.display()))
            .arg("-cp")
            .arg(format!("{ZOOKEEPER_CONF}:{ZOOKEEPER_JAR}"))
            .arg("org.apache.zookeeper.server.ZooKeeperServerMain")
            .arg(&cfg_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup the ZooKeeper log"))
            .stderr(log)
            .spawn()
            .expect("start java for ZooKeeper");
        let mut zk = Zk { port, child };
        let start = Instant::now();
        while !zk.ruok().await {
            if let Ok(Some(status)) = zk.child.try_wait() {
                panic!(
                    "ZooKeeper exited at start ({status}); see {}",
                    dir.display()
                );
            }
            if start.elapsed() > Duration::from_secs(60) {
                panic!(
                    "ZooKeeper did not answer within 60 s; see {}",
                    dir.display()
                );
            }
            // Polling a process we do not control: there is no event to wait for.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Some(zk)
    }

    /// Whether the server answers `ruok` with `imok`.
    async fn ruok(&self) -> bool {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let attempt = async {
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await?;
            s.write_all(b"ruok").await?;
            let mut buf = Vec::new();
            s.read_to_end(&mut buf).await?;
            Ok::<_, std::io::Error>(buf == b"imok")
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(2), attempt).await,
            Ok(Ok(true))
        )
    }

    /// `zk://127.0.0.1:<port><path>`.
    fn url(&self, path: &str) -> String {
        format!("zk://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Zk {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Live processes whose working directory is under `dir` (executors and their tasks run
/// in sandboxes there), with their command names.
fn processes_under(dir: &Path) -> Vec<(i32, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        if !std::fs::read_link(e.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(dir)) {
            continue;
        }
        if cluster::testkit::dead_or_zombie(pid) {
            continue;
        }
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        out.push((pid, comm.trim().to_string()));
    }
    out.sort();
    out
}

/// The pids of the `sleep` tasks running in sandboxes under `dir`.
fn sleep_pids(dir: &Path) -> BTreeSet<i32> {
    processes_under(dir)
        .into_iter()
        .filter(|(_, comm)| comm == "sleep")
        .map(|(pid, _)| pid)
        .collect()
}

/// Everything the test started; dropping it kills the components first, then every
/// executor and task left in the sandboxes (their own sessions), then ZooKeeper.
struct Cluster {
    masters: Vec<Option<Proc>>,
    master_addrs: Vec<SocketAddr>,
    agents: Vec<Proc>,
    agent_addrs: Vec<SocketAddr>,
    framework: Option<Proc>,
    others: Vec<Proc>,
    zk: Option<Zk>,
    /// Where sandboxes live (killed by cwd at the end).
    work: PathBuf,
    /// The scratch directory (logs, ZooKeeper data, work dirs), removed last.
    _dir: TempDir,
}

impl Cluster {
    fn logs(&self) -> String {
        let mut out = String::new();
        let all = self
            .masters
            .iter()
            .flatten()
            .chain(self.agents.iter())
            .chain(self.framework.iter())
            .chain(self.others.iter());
        for p in all {
            out.push_str(&format!(
                "--- {} log (tail) ---\n{}\n",
                p.name,
                tail(&p.log_text(), 40)
            ));
        }
        out
    }

    fn fail(&self, what: &str) -> ! {
        panic!("{what}\n{}", self.logs())
    }

    /// The index and `/master/state` of the master answering it (only the leader does).
    async fn leader_state(&self) -> Option<(usize, Value)> {
        for (i, addr) in self.master_addrs.iter().enumerate() {
            if self.masters[i].is_none() {
                continue;
            }
            if let Ok(s) = procs::get_json(*addr, "/master/state").await {
                return Some((i, s));
            }
        }
        None
    }

    /// Polls the leader's `/master/state` until `pred` holds (bounded by `LIMIT`).
    async fn wait_leader(
        &self,
        what: &str,
        mut pred: impl FnMut(usize, &Value) -> bool,
    ) -> (usize, Value) {
        let start = Instant::now();
        let mut last = Value::Null;
        while start.elapsed() < LIMIT {
            if let Some((i, s)) = self.leader_state().await {
                if pred(i, &s) {
                    return (i, s);
                }
                last = s;
            }
            // Polling processes we do not control: there is no event to wait for.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.fail(&format!(
            "timed out after {LIMIT:?} waiting for {what}; last leader state: {last}"
        ))
    }

    fn kill_sandbox_processes(&self) {
        for (pid, _) in processes_under(&self.work) {
            let pid = nix::unistd::Pid::from_raw(pid);
            if let Ok(pgid) = nix::unistd::getpgid(Some(pid)) {
                if pgid.as_raw() > 1 && pgid.as_raw() != nix::unistd::getpgrp().as_raw() {
                    let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
                }
            }
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.others.clear();
        self.framework.take();
        self.agents.clear();
        self.masters.clear();
        self.kill_sandbox_processes();
        self.zk.take();
    }
}

/// The one framework named `name` in `state`, if there is exactly one.
fn framework<'a>(state: &'a Value, name: &str) -> Option<&'a Value> {
    let fws: Vec<&Value> = state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["name"] == name)
        .collect();
    match fws.as_slice() {
        [f] => Some(f),
        _ => None,
    }
}

/// The ids of the framework's `TASK_RUNNING` tasks.
fn running_tasks(f: &Value) -> BTreeSet<String> {
    f["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["state"] == "TASK_RUNNING")
        .filter_map(|t| t["id"].as_str().map(str::to_string))
        .collect()
}

/// Every task id the framework has, in any list or state.
fn all_tasks(f: &Value) -> BTreeSet<String> {
    ["tasks", "completed_tasks", "unreachable_tasks"]
        .iter()
        .flat_map(|k| f[*k].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["id"].as_str().map(str::to_string))
        .collect()
}

const FRAMEWORK: &str = "failover-llf";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_the_leading_master_keeps_tasks_running() {
    require_bins(&[
        "mesos-master",
        "mesos-agent",
        "mesos-executor",
        "long-lived-framework",
        "mesos-execute",
    ]);
    let dir = TempDir::new("master-failover");
    let Some(zk) = Zk::start(dir.path()).await else {
        return;
    };
    let zk_url = zk.url("/mesos");
    let logs = dir.path().join("logs");
    let work = dir.path().join("work");
    let mut cluster = Cluster {
        masters: Vec::new(),
        master_addrs: Vec::new(),
        agents: Vec::new(),
        agent_addrs: Vec::new(),
        framework: None,
        others: Vec::new(),
        zk: Some(zk),
        work: work.clone(),
        _dir: dir,
    };

    for i in 1..=2 {
        let master_dir = work.join(format!("master-{i}"));
        let zk_arg = format!("--zk={zk_url}");
        let started = start_server(
            &format!("master-{i}"),
            "mesos-master",
            |p| {
                vec![
                    format!("--port={p}"),
                    zk_arg.clone(),
                    "--quorum=1".into(),
                    "--zk_session_timeout=2secs".into(),
                    "--registry=replicated_log".into(),
                    format!("--work_dir={}", master_dir.display()),
                    "--allocation_interval=100ms".into(),
                ]
            },
            "/master/health",
            &logs,
        )
        .await;
        match started {
            Ok((p, addr)) => {
                cluster.masters.push(Some(p));
                cluster.master_addrs.push(addr);
            }
            Err(e) => cluster.fail(&e),
        }
    }
    cluster.wait_leader("a leading master", |_, _| true).await;

    for i in 1..=2 {
        let agent_dir = work.join(format!("agent-{i}"));
        let master_arg = format!("--master={zk_url}");
        let started = start_server(
            &format!("agent-{i}"),
            "mesos-agent",
            |p| {
                vec![
                    master_arg.clone(),
                    format!("--port={p}"),
                    format!("--work_dir={}", agent_dir.display()),
                    "--resources=cpus:2;mem:1024;disk:1024".into(),
                ]
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
            Err(e) => cluster.fail(&e),
        }
    }
    cluster
        .wait_leader("2 activated agents", |_, s| s["activated_slaves"] == 2)
        .await;

    cluster.framework = Some(
        Proc::start(
            "long-lived-framework",
            "long-lived-framework",
            &[
                format!("--master={zk_url}"),
                "--instances=3".into(),
                "--command=sleep 1000".into(),
                "--task_resources=cpus:0.1;mem:32".into(),
                format!("--name={FRAMEWORK}"),
            ],
            &logs,
        )
        .unwrap_or_else(|e| panic!("{e}")),
    );
    let (leader, state) = cluster
        .wait_leader("3 running tasks", |_, s| {
            framework(s, FRAMEWORK).is_some_and(|f| running_tasks(f).len() == 3)
        })
        .await;
    let fw = framework(&state, FRAMEWORK).expect("checked by the wait");
    let framework_id = fw["id"].as_str().unwrap_or_default().to_string();
    let tasks = running_tasks(fw);
    let old_leader_id = state["id"].clone();

    // The three `sleep` tasks, as OS processes in the agents' sandboxes.
    let start = Instant::now();
    let mut sleeps = sleep_pids(&work);
    while sleeps.len() < 3 && start.elapsed() < LIMIT {
        tokio::time::sleep(Duration::from_millis(50)).await;
        sleeps = sleep_pids(&work);
    }
    if sleeps.len() != 3 {
        cluster.fail(&format!(
            "expected 3 sleep processes in the sandboxes: {:?}",
            processes_under(&work)
        ));
    }

    // SIGKILL the leading master.
    let killed_at = Instant::now();
    if let Some(mut p) = cluster.masters[leader].take() {
        p.kill();
        cluster.others.push(p); // keep its log for failure messages
    }
    let (new_leader, _) = cluster
        .wait_leader("a new leader", |i, s| {
            i != leader && s["id"] != old_leader_id
        })
        .await;
    let to_leader = killed_at.elapsed();
    cluster
        .wait_leader("2 re-registered agents", |_, s| s["activated_slaves"] == 2)
        .await;
    let to_agents = killed_at.elapsed();
    let (_, state) = cluster
        .wait_leader("the framework re-registered with its 3 tasks", |_, s| {
            framework(s, FRAMEWORK).is_some_and(|f| {
                f["active"] == true && f["id"] == framework_id.as_str() && running_tasks(f) == tasks
            })
        })
        .await;
    let to_framework = killed_at.elapsed();
    eprintln!(
        "SIGKILL of master-{} -> master-{} leads: {to_leader:?}; -> 2 agents re-registered: \
         {to_agents:?}; -> framework re-registered with its 3 tasks: {to_framework:?}",
        leader + 1,
        new_leader + 1
    );

    // Nothing was restarted: the same three tasks, no others, and the same processes.
    let fw = framework(&state, FRAMEWORK).expect("checked by the wait");
    assert_eq!(all_tasks(fw), tasks, "tasks after failover: {fw}");
    // The scheduler itself re-registered with the new leader (not just re-added from
    // the agents' reports). `reregistered_time` is not checked: the master leaves it unset
    // when the scheduler re-registers before any agent has reported the framework.
    let needle = format!("Re-registered with framework ID {framework_id}");
    let start = Instant::now();
    let framework_log = || {
        cluster
            .framework
            .as_ref()
            .map(Proc::log_text)
            .unwrap_or_default()
    };
    while !framework_log().contains(&needle) {
        if start.elapsed() > LIMIT {
            cluster.fail(&format!("the framework never printed '{needle}'"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !fw["reregistered_time"].is_number() {
        eprintln!("note: the new leader shows no reregistered_time for the framework: {fw}");
    }
    let agents = state["slaves"].as_array().cloned().unwrap_or_default();
    assert_eq!(agents.len(), 2, "{state}");
    for a in &agents {
        assert!(
            a["active"] == true && a["reregistered_time"].is_number(),
            "agent not re-registered with the new leader: {a}"
        );
    }
    let after = sleep_pids(&work);
    assert_eq!(
        after,
        sleeps,
        "the sleep tasks changed: {:?}",
        processes_under(&work)
    );
    let fw_log = cluster
        .framework
        .as_ref()
        .map(Proc::log_text)
        .unwrap_or_default();
    assert!(
        !fw_log.contains("TASK_LOST") && !fw_log.contains("TASK_FAILED"),
        "the framework saw a task lost or failed:\n{}",
        tail(&fw_log, 40)
    );

    // The cluster still takes new work.
    let mut exec = Proc::start(
        "mesos-execute",
        "mesos-execute",
        &[
            format!("--master={zk_url}"),
            "--name=after".into(),
            "--command=true".into(),
        ],
        &logs,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let status = wait_exit(&mut exec, LIMIT).await;
    let out = exec.log_text();
    cluster.others.push(exec);
    match status {
        Ok(s) if s.code() == Some(0) => {}
        other => cluster.fail(&format!(
            "mesos-execute after the failover: {other:?}\n{}",
            tail(&out, 40)
        )),
    }

    // Still the same three tasks and processes.
    let (_, state) = cluster.wait_leader("the leader", |_, _| true).await;
    let fw = framework(&state, FRAMEWORK).expect("the framework is still there");
    assert_eq!(running_tasks(fw), tasks);
    assert_eq!(sleep_pids(&work), sleeps);
    drop(cluster);
    assert!(
        sleep_pids(&work).is_empty(),
        "sleep tasks left behind after cleanup"
    );
}

//! Framework failover with real OS processes: `mesos-master`, one `mesos-agent` and
//! `long-lived-framework --framework_id_file --failover_timeout=60` on loopback. Two
//! instances run; the framework is SIGKILLed and restarted with the same id file; it fails
//! over, reconciles, adopts both running tasks and launches nothing new.
//!
//! `mesos-master` and `mesos-agent` live in other crates: the test looks for them in the
//! target directory of this test binary (`target/debug`, built by
//! `cargo build --workspace --bins`), or in `$MESOS_TEST_BIN_DIR`; when they are missing it
//! prints why and passes without running.

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Bound on anything the test waits for (generous: the machine may be loaded).
const LIMIT: Duration = Duration::from_secs(60);

/// Where the workspace's binaries are: `$MESOS_TEST_BIN_DIR`, else this test's target dir.
fn bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("MESOS_TEST_BIN_DIR") {
        return PathBuf::from(d);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// A child OS process, SIGKILLed and reaped on drop.
struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn start(name: &str, program: &Path, args: &[String], logs: &Path) -> Proc {
        let log = logs.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("create the log file");
        let child = Command::new(program)
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(out.try_clone().expect("dup the log file"))
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        Proc {
            name: name.to_string(),
            child,
            log,
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(40);
        format!("--- {} ---\n{}", self.name, lines[from..].join("\n"))
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The cluster; dropping it kills everything, including executors (their own sessions,
/// found through the agent's checkpointed `forked.pid` files), and removes the scratch dir.
struct Cluster {
    dir: PathBuf,
    master: Option<Proc>,
    agent: Option<Proc>,
    framework: Option<Proc>,
    master_addr: SocketAddr,
}

impl Cluster {
    fn logs(&self) -> String {
        [&self.master, &self.agent, &self.framework]
            .into_iter()
            .flatten()
            .map(Proc::tail)
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn fail(&self, what: &str) -> ! {
        panic!("{what}\n{}", self.logs())
    }

    async fn state(&self) -> Option<Value> {
        let (status, body) = libproc::testing::http_get(self.master_addr, "/master/state")
            .await
            .ok()?;
        if status != 200 {
            return None;
        }
        serde_json::from_str(&body).ok()
    }

    /// Polls `/master/state` until `pred` holds (bounded). Polling: the master is an OS
    /// process we do not control, so there is no event to await.
    async fn wait_state(&self, what: &str, mut pred: impl FnMut(&Value) -> bool) -> Value {
        let start = Instant::now();
        let mut last = Value::Null;
        while start.elapsed() < LIMIT {
            if let Some(s) = self.state().await {
                if pred(&s) {
                    return s;
                }
                last = s;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.fail(&format!("timed out waiting for {what}; last state: {last}"))
    }

    /// Polls the framework's output until it contains `needle` `times` times (bounded).
    async fn wait_framework_log(&self, needle: &str, times: usize) -> String {
        let start = Instant::now();
        while start.elapsed() < LIMIT {
            let text = self
                .framework
                .as_ref()
                .map(Proc::log_text)
                .unwrap_or_default();
            if text.matches(needle).count() >= times {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.fail(&format!("the framework never printed '{needle}'"))
    }

    /// Kills the executors and their tasks: every process working inside the scratch
    /// directory (sandboxes are there), and the sessions named by `forked.pid` files.
    fn kill_executors(&self) {
        let kill = |pid: i32| {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        };
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            if std::fs::read_link(e.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(&self.dir))
            {
                kill(pid);
            }
        }
        let mut stack = vec![self.dir.join("agent")];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() && !p.is_symlink() {
                    stack.push(p);
                } else if p.file_name().is_some_and(|n| n == "forked.pid") {
                    if let Some(pid) = std::fs::read_to_string(&p)
                        .ok()
                        .and_then(|t| t.trim().parse::<i32>().ok())
                        .filter(|pid| *pid > 1)
                    {
                        let _ = nix::sys::signal::killpg(
                            nix::unistd::Pid::from_raw(pid),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                    }
                }
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.framework.take();
        self.agent.take();
        self.master.take();
        self.kill_executors();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The frameworks in `state` named `name` (active or not).
fn frameworks_named<'a>(state: &'a Value, name: &str) -> Vec<&'a Value> {
    state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["name"] == name)
        .collect()
}

/// The ids of the running tasks of the one framework named `name`, if there is one.
fn running_tasks(state: &Value, name: &str) -> Option<BTreeSet<String>> {
    let fws = frameworks_named(state, name);
    let [f] = fws.as_slice() else {
        return None;
    };
    Some(
        f["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["state"] == "TASK_RUNNING")
            .filter_map(|t| t["id"].as_str().map(str::to_string))
            .collect(),
    )
}

/// Every task (any state, completed too) of the frameworks named `name`.
fn all_tasks(state: &Value, name: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for key in ["frameworks", "completed_frameworks"] {
        for f in state[key].as_array().into_iter().flatten() {
            if f["name"] != name {
                continue;
            }
            for list in ["tasks", "completed_tasks", "unreachable_tasks"] {
                for t in f[list].as_array().into_iter().flatten() {
                    if let Some(id) = t["id"].as_str() {
                        out.insert(id.to_string());
                    }
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_lived_framework_fails_over_and_adopts_its_running_tasks() {
    let bins = bin_dir();
    let (master_bin, agent_bin) = (bins.join("mesos-master"), bins.join("mesos-agent"));
    if !master_bin.exists() || !agent_bin.exists() {
        libproc::testing::skip_unless_ci(
            "long_lived_framework_fails_over_and_adopts_its_running_tasks",
            &format!(
                "{} or {} is missing; build them with `cargo build --workspace --bins` (same \
                 target dir) or point MESOS_TEST_BIN_DIR at a directory holding both",
                master_bin.display(),
                agent_bin.display()
            ),
        );
        return;
    }
    let executor_dir = PathBuf::from(env!("CARGO_BIN_EXE_mesos-executor"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    let framework_bin = PathBuf::from(env!("CARGO_BIN_EXE_long-lived-framework"));

    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("llf-failover-{}-{nanos}", std::process::id()));
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).expect("scratch dir");

    let port = free_port();
    let master_addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut cluster = Cluster {
        dir: dir.clone(),
        master: Some(Proc::start(
            "master",
            &master_bin,
            &[
                format!("--port={port}"),
                "--allocation_interval=100ms".into(),
            ],
            &logs,
        )),
        agent: None,
        framework: None,
        master_addr,
    };
    cluster.wait_state("the master", |_| true).await;
    cluster.agent = Some(Proc::start(
        "agent",
        &agent_bin,
        &[
            format!("--master=127.0.0.1:{port}"),
            format!("--port={}", free_port()),
            format!("--work_dir={}", dir.join("agent").display()),
            "--resources=cpus:2;mem:1024;disk:1024".into(),
            format!("--launcher_dir={}", executor_dir.display()),
        ],
        &logs,
    ));
    cluster
        .wait_state("an activated agent", |s| s["activated_slaves"] == 1)
        .await;

    let id_file = dir.join("framework.id");
    let args = vec![
        format!("--master=127.0.0.1:{port}"),
        "--instances=2".into(),
        "--command=sleep 600".into(),
        "--task_resources=cpus:0.1;mem:32".into(),
        "--name=llf-failover".into(),
        format!("--framework_id_file={}", id_file.display()),
        "--failover_timeout=60".into(),
    ];
    cluster.framework = Some(Proc::start("framework-1", &framework_bin, &args, &logs));
    let state = cluster
        .wait_state("2 running tasks", |s| {
            running_tasks(s, "llf-failover").is_some_and(|t| t.len() == 2)
        })
        .await;
    let tasks = running_tasks(&state, "llf-failover").unwrap_or_default();
    let framework_id = frameworks_named(&state, "llf-failover")[0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let written = std::fs::read_to_string(&id_file).unwrap_or_default();
    if written.trim() != framework_id {
        cluster.fail(&format!(
            "the id file holds '{}', the master knows framework '{framework_id}'",
            written.trim()
        ));
    }

    // SIGKILL the scheduler; the master keeps the framework (failover_timeout) and its tasks.
    if let Some(p) = cluster.framework.as_mut() {
        p.kill();
    }
    cluster
        .wait_state("the framework to be disconnected", |s| {
            frameworks_named(s, "llf-failover")
                .first()
                .is_some_and(|f| f["connected"] == false || f["active"] == false)
        })
        .await;

    // Restart it with the same id file: it fails over and adopts both tasks.
    cluster.framework = Some(Proc::start("framework-2", &framework_bin, &args, &logs));
    cluster
        .wait_framework_log(&format!("Registered with framework ID {framework_id}"), 1)
        .await;
    let out = cluster
        .wait_framework_log("Reconciled: 2 task(s) running", 1)
        .await;
    for t in &tasks {
        if !out.contains(&format!("Adopted task {t}")) {
            cluster.fail(&format!("task {t} was not adopted"));
        }
    }
    if out.contains("Launching") {
        cluster.fail("the restarted framework launched new tasks");
    }
    // The cluster stays as it was: the same two tasks, nothing new, for a while (several
    // allocation intervals in which a wrong launch would show).
    let state = cluster
        .wait_state("the framework to be connected again", |s| {
            frameworks_named(s, "llf-failover")
                .first()
                .is_some_and(|f| f["active"] == true)
        })
        .await;
    let fws = frameworks_named(&state, "llf-failover");
    if fws.len() != 1 || fws[0]["id"] != framework_id.as_str() {
        cluster.fail(&format!(
            "expected the one framework {framework_id}: {state}"
        ));
    }
    for _ in 0..10 {
        let Some(state) = cluster.state().await else {
            cluster.fail("the master stopped answering");
        };
        let all = all_tasks(&state, "llf-failover");
        if all != tasks || running_tasks(&state, "llf-failover").as_ref() != Some(&tasks) {
            cluster.fail(&format!(
                "tasks changed: before {tasks:?}, now {all:?}; state: {state}"
            ));
        }
        // Observing that nothing happens: the only way is to look again a little later.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let out = cluster
        .framework
        .as_ref()
        .map(Proc::log_text)
        .unwrap_or_default();
    if out.contains("Launching") {
        cluster.fail("the restarted framework launched new tasks");
    }
    eprintln!("framework output after the failover:\n{out}");
}

//! Health checks and the kill policy of the real `mesos-executor` (an OS process) against a
//! fake agent on a test node: a failing HTTP check reports `healthy = false` and kills its
//! task after three failures; a passing one reports `healthy = true` once; a task that
//! ignores SIGTERM is SIGKILLed with its whole group (double-forked children included)
//! after the kill grace period.

mod common;

use common::{AgentEvent as Ev, FakeAgent as Agent};

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use libproc::testing::{eventually, within};
use libproc::{Node, NodeConfig, Pid, ProcessRef};
use proto::messages::*;
use proto::{CommandInfo, FrameworkInfo, HealthCheck, Reason, TaskInfo, TaskState, TaskStatus};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

struct Harness {
    node: Node,
    agent: ProcessRef<Agent>,
    events: mpsc::UnboundedReceiver<Ev>,
    executor: Pid,
    child: Child,
    sandbox: PathBuf,
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The task runs in its own process group, which a SIGKILLed executor cannot clean
        // up: kill every process still working in the sandbox.
        for p in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            if std::fs::read_link(p.path().join("cwd"))
                .is_ok_and(|cwd| cwd.starts_with(&self.sandbox))
            {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        let _ = std::fs::remove_dir_all(&self.sandbox);
    }
}

impl Harness {
    async fn start() -> Harness {
        static N: AtomicU32 = AtomicU32::new(0);
        let sandbox = std::env::temp_dir().join(format!(
            "frameworks-health-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&sandbox);
        std::fs::create_dir_all(&sandbox).unwrap();
        let node = Node::bind(NodeConfig::local()).await.unwrap();
        let (tx, mut events) = mpsc::unbounded_channel();
        let agent = node
            .spawn("slave(1)", Agent::new(tx, "mesos-executor"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_mesos-executor"))
            .env("MESOS_SLAVE_PID", agent.pid().to_string())
            .env("MESOS_FRAMEWORK_ID", "F1")
            .env("MESOS_EXECUTOR_ID", "E1")
            .env("MESOS_SLAVE_ID", "S1")
            .env("MESOS_DIRECTORY", &sandbox)
            .env("MESOS_SANDBOX", &sandbox)
            .current_dir(&sandbox)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(sandbox.join("stdout")).unwrap())
            .stderr(std::fs::File::create(sandbox.join("stderr")).unwrap())
            .spawn()
            .expect("spawn mesos-executor");
        let executor = match within(Duration::from_secs(20), "registration", events.recv()).await {
            Some(Ev::Registered(p)) => p,
            other => panic!("{other:?}"),
        };
        Harness {
            node,
            agent,
            events,
            executor,
            child,
            sandbox,
        }
    }

    fn run(&self, task: TaskInfo) {
        self.node.send(
            self.agent.pid(),
            &self.executor,
            RunTaskMessage {
                framework: FrameworkInfo::new("fw", "u"),
                framework_id: "F1".into(),
                task,
                pid: None,
            },
        );
    }

    async fn update(&mut self) -> TaskStatus {
        match within(
            Duration::from_secs(20),
            "a status update",
            self.events.recv(),
        )
        .await
        {
            Some(Ev::Update(s)) => s,
            other => panic!("{other:?}"),
        }
    }
}

fn task(id: &str, command: &str, check: Option<HealthCheck>) -> TaskInfo {
    let mut t = TaskInfo::command_task(
        "t",
        id.into(),
        "S1".into(),
        "cpus:0.1;mem:32".parse().unwrap(),
        CommandInfo::shell(command),
    );
    t.health_check = check;
    t
}

fn fast(mut check: HealthCheck) -> HealthCheck {
    check.delay_seconds = 0.0;
    check.interval_seconds = 0.2;
    check.timeout_seconds = 2.0;
    check.grace_period_seconds = 0.0;
    check.consecutive_failures = 3;
    check
}

/// A port nothing listens on (bound, then released).
fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[actix_rt::test]
async fn failing_http_check_reports_unhealthy_and_kills_after_three_failures() {
    let mut h = Harness::start().await;
    let check = fast(HealthCheck::http(u32::from(dead_port()), "/health"));
    h.run(task("t-unhealthy", "sleep 1000", Some(check)));
    let running = h.update().await;
    assert_eq!(running.state, TaskState::Running);
    assert_eq!(running.healthy, None);
    for i in 1..=3 {
        let s = h.update().await;
        assert_eq!(s.state, TaskState::Running, "failure {i}: {s:?}");
        assert_eq!(s.healthy, Some(false), "failure {i}");
        assert_eq!(s.reason, Some(Reason::TaskHealthCheckStatusUpdated));
        let msg = s.message.unwrap_or_default();
        assert!(msg.contains("HTTP health check"), "{msg}");
    }
    let killed = h.update().await;
    assert_eq!(killed.state, TaskState::Killed, "{killed:?}");
    assert_eq!(killed.healthy, Some(false));
    let msg = killed.message.unwrap_or_default();
    assert!(msg.contains("3 consecutive failed health checks"), "{msg}");
    let child = &mut h.child;
    eventually(Duration::from_secs(20), "the executor to exit", || {
        child.try_wait().ok().flatten().is_some()
    })
    .await;
}

#[actix_rt::test]
async fn passing_http_check_reports_healthy_once() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (hits_tx, mut hits) = mpsc::unbounded_channel::<String>();
    let server = tokio::spawn(async move {
        loop {
            let Ok((mut c, _)) = listener.accept().await else {
                return;
            };
            let mut buf = vec![0u8; 2048];
            let n = c.read(&mut buf).await.unwrap_or(0);
            let _ = hits_tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
            let _ = c
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .await;
        }
    });
    let mut h = Harness::start().await;
    h.run(task(
        "t-healthy",
        "sleep 1000",
        Some(fast(HealthCheck::http(u32::from(port), "/ready"))),
    ));
    assert_eq!(h.update().await.state, TaskState::Running);
    let healthy = h.update().await;
    assert_eq!(healthy.healthy, Some(true), "{healthy:?}");
    assert_eq!(healthy.reason, Some(Reason::TaskHealthCheckStatusUpdated));
    // More probes pass, and none of them produces an update.
    for _ in 0..3 {
        let req = within(Duration::from_secs(10), "a probe", hits.recv())
            .await
            .unwrap();
        assert!(req.starts_with("GET /ready HTTP/1.1\r\n"), "{req}");
    }
    assert!(h.events.try_recv().is_err(), "no update while healthy");
    h.node.send(
        h.agent.pid(),
        &h.executor,
        KillTaskMessage {
            framework_id: "F1".into(),
            task_id: "t-healthy".into(),
            kill_policy: None,
        },
    );
    let killed = h.update().await;
    assert_eq!(killed.state, TaskState::Killed);
    assert_eq!(killed.healthy, None, "not killed for its health");
    server.abort();
}

#[actix_rt::test]
async fn failures_in_the_grace_period_are_not_reported() {
    let mut h = Harness::start().await;
    let mut check = fast(HealthCheck::command(CommandInfo::shell(
        "test -f healthy-now",
    )));
    check.grace_period_seconds = 600.0;
    h.run(task("t-grace", "sleep 1000", Some(check)));
    assert_eq!(h.update().await.state, TaskState::Running);
    // Failing probes inside the grace period say nothing; the first success is reported.
    std::fs::write(h.sandbox.join("healthy-now"), "").unwrap();
    let s = h.update().await;
    assert_eq!(
        (s.state, s.healthy),
        (TaskState::Running, Some(true)),
        "{s:?}"
    );
    // After the first success, failures count even within the grace period.
    std::fs::remove_file(h.sandbox.join("healthy-now")).unwrap();
    let s = h.update().await;
    assert_eq!(s.healthy, Some(false), "{s:?}");
}

/// Whether any live (non-zombie) process is in group `pgid`.
fn group_alive(pgid: i32) -> bool {
    !libproc::procfs::live_group_members(pgid).is_empty()
}

async fn read_pgid(dir: &Path) -> i32 {
    let file = dir.join("pgid");
    let mut pgid = None;
    eventually(Duration::from_secs(20), "the task's pgid", || {
        pgid = std::fs::read_to_string(&file)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        pgid.is_some()
    })
    .await;
    pgid.unwrap_or_default()
}

#[actix_rt::test]
async fn a_task_ignoring_sigterm_is_sigkilled_with_its_group_after_the_grace_period() {
    let mut h = Harness::start().await;
    h.run(task(
        "t-stubborn",
        "trap '' TERM; sh -c 'sleep 1000 &'; echo $$ > pgid; while :; do sleep 1; done",
        None,
    ));
    assert_eq!(h.update().await.state, TaskState::Running);
    let pgid = read_pgid(&h.sandbox).await;
    assert!(group_alive(pgid));
    let asked = std::time::Instant::now();
    h.node.send(
        h.agent.pid(),
        &h.executor,
        KillTaskMessage {
            framework_id: "F1".into(),
            task_id: "t-stubborn".into(),
            kill_policy: Some(proto::KillPolicy {
                grace_period_secs: Some(1.0),
            }),
        },
    );
    let killed = h.update().await;
    assert_eq!(killed.state, TaskState::Killed, "{killed:?}");
    let msg = killed.message.unwrap_or_default();
    assert!(msg.contains("SIGKILL"), "SIGTERM was ignored: {msg}");
    assert!(
        asked.elapsed() >= Duration::from_millis(900),
        "SIGKILL only after the grace period"
    );
    eventually(
        Duration::from_secs(10),
        "the task's group to be gone",
        || !group_alive(pgid),
    )
    .await;
}

//! The `mesos-executor` binary as a real OS process talking over TCP to a fake agent on a
//! test node: a failing command reports its exit status and stderr, a killed command is
//! TASK_KILLED and leaves no process of its group behind (not even a double-forked one).

mod common;

use common::{AgentEvent as A, FakeAgent};

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use libproc::testing::{eventually, within};
use libproc::{Node, NodeConfig, Pid, ProcessRef};
use proto::messages::*;
use proto::{CommandInfo, FrameworkCapability, FrameworkInfo, TaskInfo, TaskState, TaskStatus};
use tokio::sync::mpsc;

struct Exec {
    child: Child,
    sandbox: PathBuf,
}

impl Drop for Exec {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.sandbox);
    }
}

fn sandbox() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "frameworks-cmdexec-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn start(
    capabilities: Vec<FrameworkCapability>,
) -> (
    Node,
    ProcessRef<FakeAgent>,
    mpsc::UnboundedReceiver<A>,
    Exec,
    Pid,
) {
    let node = Node::bind(NodeConfig::local()).await.unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut framework = FrameworkInfo::new("fw", "u");
    framework.capabilities = capabilities;
    let agent = node
        .spawn(
            "slave(1)",
            FakeAgent {
                out: tx,
                framework,
                executor_command: "mesos-executor",
            },
        )
        .unwrap();
    let dir = sandbox();
    let child = Command::new(env!("CARGO_BIN_EXE_mesos-executor"))
        .env("MESOS_SLAVE_PID", agent.pid().to_string())
        .env("MESOS_FRAMEWORK_ID", "F1")
        .env("MESOS_EXECUTOR_ID", "E1")
        .env("MESOS_SLAVE_ID", "S1")
        .env("MESOS_DIRECTORY", &dir)
        .env("MESOS_SANDBOX", &dir)
        .env("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "5secs")
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("stdout")).unwrap())
        .stderr(std::fs::File::create(dir.join("stderr")).unwrap())
        .spawn()
        .expect("spawn mesos-executor");
    let exec = Exec {
        child,
        sandbox: dir,
    };
    let pid = match within(
        Duration::from_secs(20),
        "the executor to register",
        rx.recv(),
    )
    .await
    {
        Some(A::Registered(p)) => p,
        other => panic!("{other:?}"),
    };
    (node, agent, rx, exec, pid)
}

fn run(agent: &Node, from: &Pid, to: &Pid, task_id: &str, command: &str) {
    let task = TaskInfo::command_task(
        "t",
        task_id.into(),
        "S1".into(),
        "cpus:0.1;mem:32".parse().unwrap(),
        CommandInfo::shell(command),
    );
    agent.send(
        from,
        to,
        RunTaskMessage {
            framework: FrameworkInfo::new("fw", "u"),
            framework_id: "F1".into(),
            task,
            pid: None,
        },
    );
}

async fn update(rx: &mut mpsc::UnboundedReceiver<A>) -> TaskStatus {
    match within(Duration::from_secs(20), "a status update", rx.recv()).await {
        Some(A::Update(s)) => s,
        other => panic!("{other:?}"),
    }
}

async fn exits(exec: &mut Exec) -> std::process::ExitStatus {
    let child = &mut exec.child;
    let mut status = None;
    eventually(Duration::from_secs(20), "the executor to exit", || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    })
    .await;
    status.unwrap()
}

/// Whether any process of group `pgid` still runs. `kill(-pgid, 0)` answers ESRCH once the
/// group is empty; zombies waiting for a reaper still count for it, so those are not live.
fn group_alive(pgid: i32) -> bool {
    use nix::sys::signal::killpg;
    if killpg(nix::unistd::Pid::from_raw(pgid), None) == Err(nix::errno::Errno::ESRCH) {
        return false;
    }
    !libproc::procfs::live_group_members(pgid).is_empty()
}

async fn read_pgid(dir: &Path) -> i32 {
    let file = dir.join("pgid");
    let mut pgid = None;
    eventually(
        Duration::from_secs(20),
        "the task to write its pgid",
        || {
            pgid = std::fs::read_to_string(&file)
                .ok()
                .and_then(|s| s.trim().parse().ok());
            pgid.is_some()
        },
    )
    .await;
    pgid.unwrap()
}

#[actix_rt::test]
async fn a_failing_command_reports_its_status_and_stderr() {
    let (node, agent, mut rx, mut exec, pid) = start(vec![]).await;
    run(
        &node,
        agent.pid(),
        &pid,
        "t1",
        "echo hi; echo oops-on-stderr >&2; echo MESOS_TASK_ID=$MESOS_TASK_ID >&2; exit 3",
    );
    let running = update(&mut rx).await;
    assert_eq!(running.state, TaskState::Running);
    assert!(running.uuid.is_some());
    let failed = update(&mut rx).await;
    assert_eq!(failed.state, TaskState::Failed);
    let msg = failed.message.unwrap_or_default();
    assert!(msg.contains("Command exited with status 3"), "{msg}");
    assert!(msg.contains("oops-on-stderr"), "{msg}");
    assert!(msg.contains("MESOS_TASK_ID=t1"), "{msg}");
    assert!(
        !msg.contains("INFO"),
        "executor logs stay out of the task's stderr: {msg}"
    );
    // After the terminal update is acknowledged, the executor exits on its own.
    assert!(exits(&mut exec).await.success());
    let stdout = std::fs::read_to_string(exec.sandbox.join("stdout")).unwrap();
    assert!(stdout.contains("hi"), "{stdout}");
}

#[actix_rt::test]
async fn a_finishing_command_takes_its_background_children_with_it() {
    let (node, agent, mut rx, mut exec, pid) = start(vec![]).await;
    run(
        &node,
        agent.pid(),
        &pid,
        "t2",
        "echo $$ > pgid; sh -c 'sleep 1000 &'; exit 0",
    );
    assert_eq!(update(&mut rx).await.state, TaskState::Running);
    let done = update(&mut rx).await;
    assert_eq!(done.state, TaskState::Finished, "{:?}", done.message);
    let pgid = read_pgid(&exec.sandbox).await;
    eventually(
        Duration::from_secs(10),
        "the task's group to be gone",
        || !group_alive(pgid),
    )
    .await;
    assert!(exits(&mut exec).await.success());
}

#[actix_rt::test]
async fn a_killed_command_is_killed_with_its_whole_group() {
    let (node, agent, mut rx, mut exec, pid) =
        start(vec![FrameworkCapability::TaskKillingState]).await;
    run(
        &node,
        agent.pid(),
        &pid,
        "t3",
        "echo $$ > pgid; sh -c 'sleep 1000 &'; sleep 1000",
    );
    assert_eq!(update(&mut rx).await.state, TaskState::Running);
    let pgid = read_pgid(&exec.sandbox).await;
    assert!(group_alive(pgid));
    node.send(
        agent.pid(),
        &pid,
        KillTaskMessage {
            framework_id: "F1".into(),
            task_id: "t3".into(),
            kill_policy: Some(proto::KillPolicy {
                grace_period_secs: Some(1.0),
            }),
        },
    );
    assert_eq!(update(&mut rx).await.state, TaskState::Killing);
    let killed = update(&mut rx).await;
    assert_eq!(killed.state, TaskState::Killed, "{:?}", killed.message);
    eventually(
        Duration::from_secs(10),
        "the task's group to be gone",
        || !group_alive(pgid),
    )
    .await;
    assert!(exits(&mut exec).await.success());
}

#[test]
fn missing_environment_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_mesos-executor"))
        .env_remove("MESOS_SLAVE_PID")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("MESOS_SLAVE_PID"), "{err}");
}

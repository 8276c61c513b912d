//! The real `mesos-docker-executor` (an OS process) against a fake agent on a test node and
//! the real Docker engine: a Docker task runs, logs into the sandbox and finishes with its
//! container removed; a failing container fails the task with its status and stderr; a
//! kill stops the container (`TASK_KILLED`, no container left); a missing image fails the
//! task with a message. The image is built locally from busybox with no registry
//! (`scripts/docker-test-image.sh`). Where no engine answers, each test says so and returns.

mod common;

use common::{AgentEvent as Ev, FakeAgent as Agent};

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use libproc::testing::{
    docker_container_status as container_status, wait_docker_container_gone, within,
};
use libproc::{Node, NodeConfig, Pid, ProcessRef};
use proto::messages::*;
use proto::{
    CommandInfo, ContainerInfo, FrameworkInfo, KillPolicy, Reason, TaskInfo, TaskState, TaskStatus,
};
use tokio::sync::mpsc;

const IMAGE: &str = "mesos-rs-test-busybox:latest";
const LIMIT: Duration = Duration::from_secs(30);

/// Whether a Docker engine answers here; builds the test image if so.
fn docker_ready(test: &str) -> bool {
    let engine = Command::new("docker")
        .args(["version", "--format={{.Server.Version}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !engine {
        libproc::testing::skip_unless_ci(
            test,
            "no Docker engine answers on this machine (`docker version` failed)",
        );
        return false;
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/docker-test-image.sh");
    let built = Command::new(&script).arg(IMAGE).status();
    assert!(
        built.is_ok_and(|s| s.success()),
        "{} could not build {IMAGE}",
        script.display()
    );
    true
}

struct Harness {
    node: Node,
    agent: ProcessRef<Agent>,
    events: mpsc::UnboundedReceiver<Ev>,
    executor: Pid,
    child: Child,
    sandbox: PathBuf,
    /// The container's name (`mesos-<containerId>`).
    name: String,
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = Command::new("docker")
            .args(["rm", "-f", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.sandbox);
    }
}

impl Harness {
    async fn start(test: &str) -> Harness {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let container_id = format!("test-{test}-{}-{n}", std::process::id());
        let sandbox =
            std::env::temp_dir().join(format!("frameworks-docker-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&sandbox);
        std::fs::create_dir_all(&sandbox).unwrap();
        let node = Node::bind(NodeConfig::local()).await.unwrap();
        let (tx, mut events) = mpsc::unbounded_channel();
        let agent = node
            .spawn("slave(1)", Agent::new(tx, "mesos-docker-executor"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_mesos-docker-executor"))
            .arg("--docker_pull_policy=never")
            .arg(format!("--agent_work_dir={}", sandbox.display()))
            .env("MESOS_SLAVE_PID", agent.pid().to_string())
            .env("MESOS_FRAMEWORK_ID", "F1")
            .env("MESOS_EXECUTOR_ID", "E1")
            .env("MESOS_SLAVE_ID", "S1")
            .env("MESOS_DIRECTORY", &sandbox)
            .env("MESOS_SANDBOX", &sandbox)
            .env("MESOS_CONTAINER_ID", &container_id)
            .current_dir(&sandbox)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(sandbox.join("stdout")).unwrap())
            .stderr(std::fs::File::create(sandbox.join("stderr")).unwrap())
            .spawn()
            .expect("spawn mesos-docker-executor");
        let executor = match within(LIMIT, "registration", events.recv()).await {
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
            name: format!("mesos-{container_id}"),
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
        match within(LIMIT, "a status update", self.events.recv()).await {
            Some(Ev::Update(s)) => s,
            other => panic!("{other:?}"),
        }
    }

    async fn exited(&mut self) {
        let child = &mut self.child;
        within(LIMIT, "the executor to exit", async {
            while child.try_wait().ok().flatten().is_none() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
    }
}

fn docker_task(id: &str, image: &str, command: &str) -> TaskInfo {
    let mut t = TaskInfo::command_task(
        "t",
        id.into(),
        "S1".into(),
        "cpus:0.1;mem:32".parse().unwrap(),
        CommandInfo::shell(command),
    );
    t.container = Some(ContainerInfo::docker(image));
    t
}

#[actix_rt::test]
async fn docker_task_logs_into_the_sandbox_finishes_and_its_container_is_removed() {
    if !docker_ready("docker_task_logs_into_the_sandbox_finishes") {
        return;
    }
    let mut h = Harness::start("finish").await;
    h.run(docker_task(
        "t1",
        IMAGE,
        "echo hello-from-docker; echo \"$MESOS_SANDBOX $MESOS_TASK_ID\" > $MESOS_SANDBOX/seen",
    ));
    let running = h.update().await;
    assert_eq!(running.state, TaskState::Running, "{running:?}");
    let finished = h.update().await;
    assert_eq!(finished.state, TaskState::Finished, "{finished:?}");
    // Removed before the terminal update went out.
    assert_eq!(container_status(&h.name), None, "the container is gone");
    let stdout = std::fs::read_to_string(h.sandbox.join("stdout")).unwrap();
    assert!(stdout.contains("hello-from-docker"), "{stdout}");
    let seen = std::fs::read_to_string(h.sandbox.join("seen")).unwrap();
    assert_eq!(seen.trim(), "/mnt/mesos/sandbox t1");
    h.exited().await;
}

#[actix_rt::test]
async fn failing_container_fails_the_task_with_its_status_and_stderr() {
    if !docker_ready("failing_container_fails_the_task") {
        return;
    }
    let mut h = Harness::start("fail").await;
    h.run(docker_task("t2", IMAGE, "echo it-went-wrong >&2; exit 3"));
    assert_eq!(h.update().await.state, TaskState::Running);
    let failed = h.update().await;
    assert_eq!(failed.state, TaskState::Failed, "{failed:?}");
    let message = failed.message.unwrap_or_default();
    assert!(message.contains("status 3"), "{message}");
    assert!(message.contains("it-went-wrong"), "{message}");
    assert_eq!(container_status(&h.name), None);
    h.exited().await;
}

#[actix_rt::test]
async fn kill_stops_the_container_and_leaves_none_behind() {
    if !docker_ready("kill_stops_the_container") {
        return;
    }
    let mut h = Harness::start("kill").await;
    h.run(docker_task("t3", IMAGE, "sleep 1000"));
    assert_eq!(h.update().await.state, TaskState::Running);
    assert_eq!(container_status(&h.name).as_deref(), Some("running"));
    h.node.send(
        h.agent.pid(),
        &h.executor,
        KillTaskMessage {
            framework_id: "F1".into(),
            task_id: "t3".into(),
            kill_policy: Some(KillPolicy {
                grace_period_secs: Some(1.0),
            }),
        },
    );
    let killed = h.update().await;
    assert_eq!(killed.state, TaskState::Killed, "{killed:?}");
    wait_docker_container_gone(&h.name, Duration::from_secs(30));
    h.exited().await;
}

#[actix_rt::test]
async fn missing_image_fails_the_task_with_a_message() {
    if !docker_ready("missing_image_fails_the_task") {
        return;
    }
    let mut h = Harness::start("missing").await;
    h.run(docker_task("t4", "mesos-rs-no-such-image:latest", "true"));
    let failed = h.update().await;
    assert_eq!(failed.state, TaskState::Failed, "{failed:?}");
    assert_eq!(failed.reason, Some(Reason::ContainerLaunchFailed));
    let message = failed.message.unwrap_or_default();
    assert!(
        message.contains("mesos-rs-no-such-image:latest") && message.contains("not present"),
        "{message}"
    );
    assert_eq!(container_status(&h.name), None);
    h.exited().await;
}

#[actix_rt::test]
async fn a_name_taken_by_another_container_fails_the_task_and_spares_that_container() {
    if !docker_ready("a_name_taken_by_another_container") {
        return;
    }
    let mut h = Harness::start("taken").await;
    let created = Command::new("docker")
        .args(["create", "--net=none", &format!("--name={}", h.name)])
        .args([IMAGE, "sleep", "1000"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(created.success());
    h.run(docker_task("t5", IMAGE, "true"));
    let failed = h.update().await;
    assert_eq!(failed.state, TaskState::Failed, "{failed:?}");
    assert_eq!(failed.reason, Some(Reason::ContainerLaunchFailed));
    assert!(
        failed
            .message
            .as_deref()
            .unwrap_or("")
            .contains("already in use"),
        "{failed:?}"
    );
    h.exited().await;
    // The executor never touched the container it did not create.
    assert_eq!(container_status(&h.name).as_deref(), Some("created"));
}

#[actix_rt::test]
async fn a_container_over_its_memory_limit_fails_with_a_memory_limitation() {
    if !docker_ready("a_container_over_its_memory_limit") {
        return;
    }
    let mut h = Harness::start("oom").await;
    // mem:32 is the limit; dd's 200 MB buffer cannot fit.
    h.run(docker_task(
        "t6",
        IMAGE,
        "dd if=/dev/zero of=/dev/null bs=200M count=1",
    ));
    let mut last = h.update().await;
    if last.state == TaskState::Running {
        last = h.update().await;
    }
    assert_eq!(last.state, TaskState::Failed, "{last:?}");
    assert_eq!(
        last.reason,
        Some(Reason::ContainerLimitationMemory),
        "{last:?}"
    );
    assert!(
        last.message
            .as_deref()
            .unwrap_or("")
            .contains("Memory limit"),
        "{last:?}"
    );
    assert_eq!(container_status(&h.name), None);
    h.exited().await;
}

//! The agent's Docker containerizer with a fake master, the real `mesos-docker-executor`
//! (build the binaries first: `cargo build --workspace --bins`) and the real Docker engine:
//! a DOCKER task runs and finishes with its container removed, a kill leaves no container,
//! a crashed executor's container is removed by the agent, orphans of this agent are
//! removed at start-up (and other agents' containers are left alone), and an agent without
//! the Docker containerizer fails DOCKER tasks with a clear message. Tests that need the
//! engine say so and return where none answers.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{test_dir, Cluster};
use libproc::testing::{
    docker_container_status as container_status, wait_docker_container_gone, within,
};
use libproc::{Node, NodeConfig};
use proto::container::DOCKER_AGENT_LABEL;
use proto::messages::{KillTaskMessage, RunTaskMessage};
use proto::{
    AgentId, CommandInfo, ContainerInfo, FrameworkId, FrameworkInfo, KillPolicy, Reason, TaskId,
    TaskInfo, TaskState,
};
use slave::containerizer::DockerConfig;

const IMAGE: &str = "mesos-rs-test-busybox:latest";
const LIMIT: Duration = Duration::from_secs(30);

/// Whether a Docker engine answers here; builds the test image if so.
fn docker_ready(test: &str) -> bool {
    if slave::containerizer::check_engine(std::path::Path::new("docker")).is_err() {
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

/// The Docker executor built next to this test's binary.
fn docker_executor() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let mut dir = exe.parent().unwrap().to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let p = dir.join("mesos-docker-executor");
    assert!(
        p.exists(),
        "{} is missing: build the workspace binaries first (`cargo build --workspace --bins`)",
        p.display()
    );
    p
}

fn rm(name: &str) {
    let _ = Command::new("docker")
        .args(["rm", "-f", name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

async fn wait_gone(name: &str) {
    within(LIMIT, "the container to be removed", async {
        while container_status(name).is_some() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

/// A seed of this test's own: container ids (and so Docker names, which are global to the
/// engine) must differ between agents running at once.
fn seed_of(name: &str) -> u64 {
    name.bytes().fold(u64::from(std::process::id()), |h, b| {
        h.wrapping_mul(1_000_003).wrapping_add(u64::from(b))
    })
}

async fn docker_cluster(name: &str) -> Cluster {
    let node = Node::bind(NodeConfig::local()).await.unwrap();
    let executor = docker_executor();
    let seed = seed_of(name);
    Cluster::start(node, test_dir(name), move |c| {
        c.seed = seed;
        c.containerizers.docker = Some(DockerConfig {
            pull_policy: "never".into(),
            executor: Some(executor),
            ..Default::default()
        });
    })
    .await
}

fn run_docker_task(c: &Cluster, task_id: &str, image: &str, command: &str) {
    let mut framework = FrameworkInfo::new("test-fw", "nobody");
    framework.id = Some(FrameworkId::new("F1"));
    let mut task = TaskInfo::command_task(
        task_id,
        TaskId::new(task_id),
        AgentId::new("S1"),
        "cpus:0.5;mem:64".parse().unwrap(),
        CommandInfo::shell(command),
    );
    task.container = Some(ContainerInfo::docker(image));
    c.node.send(
        c.master.pid(),
        c.agent.pid(),
        RunTaskMessage {
            framework,
            framework_id: FrameworkId::new("F1"),
            task,
            pid: None,
        },
    );
}

/// The container id (and so the Docker name) of the executor of `task_id`.
async fn container_name(c: &Cluster, task_id: &str) -> String {
    let task_id = task_id.to_string();
    let id = c
        .agent
        .process
        .call(move |me, _| {
            me.frameworks()
                .values()
                .flat_map(|f| f.executors.values().chain(f.completed_executors.iter()))
                .find(|e| e.info.executor_id.as_str() == task_id)
                .map(|e| e.container_id.clone())
        })
        .await
        .unwrap()
        .expect("executor known");
    proto::docker_container_name(&id)
}

#[actix_rt::test]
async fn docker_task_runs_logs_into_its_sandbox_and_its_container_is_removed() {
    if !docker_ready("docker_task_runs_logs_into_its_sandbox") {
        return;
    }
    let mut c = docker_cluster("docker-run").await;
    run_docker_task(&c, "d1", IMAGE, "echo hello-from-a-container");
    let running = c.next_update().await;
    assert_eq!(running.status.state, TaskState::Running, "{running:?}");
    c.ack(&running);
    let finished = c.next_update().await;
    assert_eq!(finished.status.state, TaskState::Finished, "{finished:?}");
    c.ack(&finished);
    let name = container_name(&c, "d1").await;
    assert_eq!(
        container_status(&name),
        None,
        "removed before TASK_FINISHED"
    );
    let sandbox = c.sandbox("d1").await;
    let stdout = std::fs::read_to_string(sandbox.join("stdout")).unwrap();
    assert!(stdout.contains("hello-from-a-container"), "{stdout}");
    let info = c
        .agent
        .process
        .call(|me, _| {
            me.frameworks()
                .values()
                .flat_map(|f| f.executors.values().chain(f.completed_executors.iter()))
                .map(|e| e.info.name.clone().unwrap_or_default())
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
    assert!(
        info[0].starts_with("Docker Executor (Task: d1)"),
        "{info:?}"
    );
    c.agent.shutdown().await;
}

#[actix_rt::test]
async fn killing_a_docker_task_leaves_no_container() {
    if !docker_ready("killing_a_docker_task_leaves_no_container") {
        return;
    }
    let mut c = docker_cluster("docker-kill").await;
    run_docker_task(&c, "d2", IMAGE, "sleep 1000");
    let running = c.next_update().await;
    assert_eq!(running.status.state, TaskState::Running);
    c.ack(&running);
    let name = container_name(&c, "d2").await;
    assert_eq!(container_status(&name).as_deref(), Some("running"));
    c.node.send(
        c.master.pid(),
        c.agent.pid(),
        KillTaskMessage {
            framework_id: FrameworkId::new("F1"),
            task_id: TaskId::new("d2"),
            kill_policy: Some(KillPolicy {
                grace_period_secs: Some(1.0),
            }),
        },
    );
    let killed = c.next_update().await;
    assert_eq!(killed.status.state, TaskState::Killed, "{killed:?}");
    c.ack(&killed);
    wait_docker_container_gone(&name, LIMIT);
    c.agent.shutdown().await;
}

#[actix_rt::test]
async fn a_crashed_docker_executors_container_is_removed_by_the_agent() {
    if !docker_ready("a_crashed_docker_executors_container_is_removed") {
        return;
    }
    let mut c = docker_cluster("docker-crash").await;
    run_docker_task(&c, "d3", IMAGE, "sleep 1000");
    let running = c.next_update().await;
    c.ack(&running);
    let name = container_name(&c, "d3").await;
    assert_eq!(container_status(&name).as_deref(), Some("running"));
    let pids = c
        .agent
        .process
        .call(|me, _| me.executor_os_pids())
        .await
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pids[0]),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let failed = c.next_update().await;
    assert_eq!(failed.status.state, TaskState::Failed, "{failed:?}");
    assert_eq!(failed.status.reason, Some(Reason::ExecutorTerminated));
    c.ack(&failed);
    wait_gone(&name).await;
    c.agent.shutdown().await;
}

#[actix_rt::test]
async fn orphan_containers_of_this_agent_are_removed_at_start_up() {
    if !docker_ready("orphan_containers_of_this_agent_are_removed") {
        return;
    }
    let dir = test_dir("docker-orphans");
    let pid = std::process::id();
    let ours = format!("mesos-orphan-{pid}");
    let theirs = format!("mesos-other-agent-{pid}");
    for (name, owner) in [
        (&ours, dir.display().to_string()),
        (&theirs, "/elsewhere".into()),
    ] {
        rm(name);
        let created = Command::new("docker")
            .args(["create", "--net=none", &format!("--name={name}")])
            .arg(format!("--label={DOCKER_AGENT_LABEL}={owner}"))
            .args([IMAGE, "sleep", "1000"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(created.success());
    }
    let node = Node::bind(NodeConfig::local()).await.unwrap();
    let executor = docker_executor();
    let c = Cluster::start(node, dir, move |c| {
        c.seed = seed_of("docker-orphans");
        c.containerizers.docker = Some(DockerConfig {
            pull_policy: "never".into(),
            executor: Some(executor),
            ..Default::default()
        });
    })
    .await;
    wait_gone(&ours).await;
    assert!(
        container_status(&theirs).is_some(),
        "another agent's container is left alone"
    );
    rm(&theirs);
    c.agent.shutdown().await;
}

#[actix_rt::test]
async fn docker_task_without_the_docker_containerizer_fails_with_a_message() {
    let node = Node::bind(NodeConfig::local()).await.unwrap();
    let mut c = Cluster::start(node, test_dir("docker-off"), |_| {}).await;
    run_docker_task(&c, "d4", IMAGE, "true");
    let failed = c.next_update().await;
    assert_eq!(failed.status.state, TaskState::Failed);
    assert_eq!(failed.status.reason, Some(Reason::ContainerLaunchFailed));
    let message = failed.status.message.clone().unwrap_or_default();
    assert!(
        message.contains("--containerizers=mesos,docker"),
        "{message}"
    );
    // Nothing was launched for it.
    assert!(c
        .agent
        .process
        .call(|me, _| me.executor_os_pids())
        .await
        .unwrap()
        .is_empty());
    c.agent.shutdown().await;
}

#[actix_rt::test]
async fn a_docker_executor_survives_an_agent_restart_and_keeps_its_container() {
    use common::{Ev, FakeMaster};
    use proto::messages::StatusUpdateAcknowledgementMessage;
    use proto::StatusUuid;
    use tokio::sync::mpsc;

    if !docker_ready("a_docker_executor_survives_an_agent_restart") {
        return;
    }
    let dir = test_dir("docker-restart");
    let executor = docker_executor();
    let seed = seed_of("docker-restart");
    let config = move |master: &libproc::Pid| {
        let mut c = common::config(master, &dir);
        c.seed = seed;
        c.executor_reregistration_timeout = Duration::from_secs(10);
        c.containerizers.docker = Some(DockerConfig {
            pull_policy: "never".into(),
            executor: Some(executor.clone()),
            ..Default::default()
        });
        c
    };
    let mnode = Node::bind(NodeConfig::local()).await.unwrap();
    let (tx, mut events) = mpsc::unbounded_channel();
    let master = mnode.spawn("master", FakeMaster { out: tx }).unwrap();
    let anode = Node::bind(NodeConfig::local()).await.unwrap();
    let addr = anode.addr();
    let agent = slave::spawn(&anode, config(master.pid())).unwrap();
    common::wait_registered(&agent).await;

    let mut framework = FrameworkInfo::new("ckpt-fw", "nobody");
    framework.id = Some(FrameworkId::new("F1"));
    framework.checkpoint = true;
    let mut task = TaskInfo::command_task(
        "d5",
        TaskId::new("d5"),
        AgentId::new("S1"),
        "cpus:0.5;mem:64".parse().unwrap(),
        CommandInfo::shell("sleep 1000"),
    );
    task.container = Some(ContainerInfo::docker(IMAGE));
    mnode.send(
        master.pid(),
        agent.pid(),
        RunTaskMessage {
            framework,
            framework_id: FrameworkId::new("F1"),
            task,
            pid: None,
        },
    );
    let ack = |agent: &slave::AgentHandle, u: &proto::messages::StatusUpdate| {
        mnode.send(
            master.pid(),
            agent.pid(),
            StatusUpdateAcknowledgementMessage {
                agent_id: AgentId::new("S1"),
                framework_id: u.framework_id.clone(),
                task_id: u.status.task_id.clone(),
                uuid: u.status.uuid.unwrap_or(StatusUuid::from_u128(0)),
            },
        )
    };
    let running = within(LIMIT, "TASK_RUNNING", async {
        loop {
            if let Some(Ev::Update(m)) = events.recv().await {
                return m.update;
            }
        }
    })
    .await;
    assert_eq!(running.status.state, TaskState::Running, "{running:?}");
    ack(&agent, &running);
    let name = {
        let id = agent
            .process
            .call(|me, _| {
                me.frameworks()
                    .values()
                    .flat_map(|f| f.executors.values())
                    .map(|e| e.container_id.clone())
                    .next()
            })
            .await
            .unwrap()
            .expect("a live executor");
        proto::docker_container_name(&id)
    };
    assert_eq!(container_status(&name).as_deref(), Some("running"));

    // The agent dies without any cleanup and comes back on the same address and work_dir.
    anode.shutdown();
    within(LIMIT, "agent stopped", agent.stopped()).await;
    mnode.sever(addr);
    let anode = within(LIMIT, "rebind", async move {
        loop {
            match Node::bind(NodeConfig::new(addr)).await {
                Ok(n) => return n,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    })
    .await;
    let agent = slave::spawn(&anode, config(master.pid())).unwrap();
    let rereg = within(LIMIT, "re-registration", async {
        loop {
            match events.recv().await {
                Some(Ev::Reregister(m)) => return m,
                Some(Ev::Update(m)) => ack(&agent, &m.update),
                Some(_) => {}
                None => panic!("fake master gone"),
            }
        }
    })
    .await;
    assert!(
        rereg
            .tasks
            .iter()
            .any(|t| t.task_id.as_str() == "d5" && t.state == TaskState::Running),
        "{:?}",
        rereg.tasks
    );
    // Not an orphan: the recovered executor keeps its container.
    assert_eq!(container_status(&name).as_deref(), Some("running"));

    // And it still answers: a kill stops and removes the container.
    let reconnected = within(LIMIT, "the executor to re-register", async {
        loop {
            let live = agent
                .process
                .call(|me, _| {
                    me.frameworks()
                        .values()
                        .flat_map(|f| f.executors.values())
                        .any(|e| e.pid.is_some() && e.state == slave::agent::ExecutorState::Running)
                })
                .await
                .unwrap();
            if live {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    reconnected.await;
    // A new task gets a container of its own: the restarted agent's ids (from the same
    // seed) must not collide with the recovered container's.
    let mut framework = FrameworkInfo::new("ckpt-fw", "nobody");
    framework.id = Some(FrameworkId::new("F1"));
    framework.checkpoint = true;
    let mut task = TaskInfo::command_task(
        "d6",
        TaskId::new("d6"),
        AgentId::new("S1"),
        "cpus:0.5;mem:64".parse().unwrap(),
        CommandInfo::shell("echo after-restart"),
    );
    task.container = Some(ContainerInfo::docker(IMAGE));
    mnode.send(
        master.pid(),
        agent.pid(),
        RunTaskMessage {
            framework,
            framework_id: FrameworkId::new("F1"),
            task,
            pid: None,
        },
    );
    let done = within(LIMIT, "d6 to end", async {
        loop {
            if let Some(Ev::Update(m)) = events.recv().await {
                ack(&agent, &m.update);
                if m.update.status.task_id.as_str() == "d6" && m.update.status.state.is_terminal() {
                    return m.update;
                }
            }
        }
    })
    .await;
    assert_eq!(done.status.state, TaskState::Finished, "{done:?}");
    assert_eq!(container_status(&name).as_deref(), Some("running"));
    mnode.send(
        master.pid(),
        agent.pid(),
        KillTaskMessage {
            framework_id: FrameworkId::new("F1"),
            task_id: TaskId::new("d5"),
            kill_policy: Some(KillPolicy {
                grace_period_secs: Some(1.0),
            }),
        },
    );
    let killed = within(LIMIT, "TASK_KILLED", async {
        loop {
            if let Some(Ev::Update(m)) = events.recv().await {
                if m.update.status.state.is_terminal() {
                    return m.update;
                }
                ack(&agent, &m.update);
            }
        }
    })
    .await;
    assert_eq!(killed.status.state, TaskState::Killed, "{killed:?}");
    ack(&agent, &killed);
    wait_docker_container_gone(&name, LIMIT);
    agent.shutdown().await;
}

//! Agent recovery (ports of Mesos's `SlaveRecoveryTest`): a checkpointing framework's
//! executor (the crate's `test-executor`, a real OS process) survives the agent's death;
//! the restarted agent recovers its id, reconnects to the executor, re-registers with the
//! master with the task, and delivers the updates it missed, exactly once per update.
//!
//! In-process tests run the agent on a node of its own and "crash" it by shutting the node
//! down (every connection breaks, nothing is cleaned up), then bind a new node on the same
//! address. The last test runs `mesos-agent` as an OS process and SIGKILLs it.

mod common;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{test_dir, Ev, FakeMaster};
use libproc::testing::within;
use libproc::{Node, NodeConfig, Pid, ProcessRef};
use proto::messages::*;
use proto::{
    AgentId, CommandInfo, Environment, FrameworkId, FrameworkInfo, Reason, Resources, Source,
    StatusUuid, TaskId, TaskInfo, TaskState,
};
use slave::{AgentConfig, AgentHandle};
use tokio::sync::mpsc;

struct Rig {
    mnode: Node,
    master: ProcessRef<FakeMaster>,
    events: mpsc::UnboundedReceiver<Ev>,
    dir: PathBuf,
    addr: SocketAddr,
    anode: Node,
    agent: AgentHandle,
    tweak: fn(&mut AgentConfig),
    /// Events that reached the fake master before a crash, minus the dead agent's
    /// registration attempts; read before the channel.
    backlog: VecDeque<Ev>,
}

fn base_tweak(c: &mut AgentConfig) {
    c.status_update_retry_interval_min = Duration::from_secs(1);
    c.executor_reregistration_timeout = Duration::from_secs(5);
}

impl Rig {
    async fn start(name: &str, tweak: fn(&mut AgentConfig)) -> Rig {
        let mnode = Node::bind(NodeConfig::local()).await.unwrap();
        let (tx, events) = mpsc::unbounded_channel();
        let master = mnode.spawn("master", FakeMaster { out: tx }).unwrap();
        let dir = test_dir(name);
        let anode = Node::bind(NodeConfig::local()).await.unwrap();
        let addr = anode.addr();
        let mut c = common::config(master.pid(), &dir);
        base_tweak(&mut c);
        tweak(&mut c);
        let agent = slave::spawn(&anode, c).unwrap();
        let mut rig = Rig {
            mnode,
            master,
            events,
            dir,
            addr,
            anode,
            agent,
            tweak,
            backlog: VecDeque::new(),
        };
        match rig.next_registration().await {
            Ev::Register(_) => {}
            other => panic!("expected a first registration, got {other:?}"),
        }
        common::wait_registered(&rig.agent).await;
        rig
    }

    /// The agent dies: its node goes away without any cleanup.
    async fn crash(&mut self) {
        self.anode.shutdown();
        within(
            Duration::from_secs(10),
            "agent stopped",
            self.agent.stopped(),
        )
        .await;
        self.mnode.sever(self.addr);
        // With a 10 ms backoff the dead agent may have sent (re-)registration retries that
        // the fake master had not yet read: they are stale, and would pass for the new
        // agent's first attempt. The cut closed their connection; once the master's mailbox
        // is empty nothing more of the dead agent can arrive, so drop them now.
        self.mnode.settle().await;
        while let Ok(e) = self.events.try_recv() {
            if !matches!(e, Ev::Register(_) | Ev::Reregister(_) | Ev::Pong) {
                self.backlog.push_back(e);
            }
        }
    }

    /// A new agent process on the same address and work_dir.
    async fn restart(&mut self) {
        self.restart_with(|_| {}).await
    }

    async fn restart_with(&mut self, more: impl FnOnce(&mut AgentConfig)) {
        let addr = self.addr;
        self.anode = within(Duration::from_secs(10), "rebind", async move {
            loop {
                match Node::bind(NodeConfig::new(addr)).await {
                    Ok(n) => return n,
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        })
        .await;
        let mut c = common::config(self.master.pid(), &self.dir);
        base_tweak(&mut c);
        (self.tweak)(&mut c);
        more(&mut c);
        self.agent = slave::spawn(&self.anode, c).unwrap();
    }

    async fn next_event(&mut self) -> Ev {
        if let Some(e) = self.backlog.pop_front() {
            return e;
        }
        loop {
            match within(
                Duration::from_secs(20),
                "an agent message",
                self.events.recv(),
            )
            .await
            {
                Some(Ev::Pong) => continue,
                Some(e) => return e,
                None => panic!("fake master gone"),
            }
        }
    }

    async fn next_registration(&mut self) -> Ev {
        loop {
            match self.next_event().await {
                e @ (Ev::Register(_) | Ev::Reregister(_)) => return e,
                _ => continue,
            }
        }
    }

    async fn next_update(&mut self) -> StatusUpdate {
        loop {
            if let Ev::Update(m) = self.next_event().await {
                return m.update;
            }
        }
    }

    fn ack(&self, u: &StatusUpdate) {
        self.mnode.send(
            self.master.pid(),
            self.agent.pid(),
            StatusUpdateAcknowledgementMessage {
                agent_id: AgentId::new("S1"),
                framework_id: u.framework_id.clone(),
                task_id: u.status.task_id.clone(),
                uuid: u.status.uuid.unwrap_or(StatusUuid::from_u128(0)),
            },
        );
    }

    /// Launches a command task of a checkpointing framework.
    fn run_task(&self, task_id: &str, command: CommandInfo) {
        let mut framework = FrameworkInfo::new("ckpt-fw", "nobody");
        framework.id = Some(FrameworkId::new("F1"));
        framework.checkpoint = true;
        let task = TaskInfo::command_task(
            task_id,
            TaskId::new(task_id),
            AgentId::new("S1"),
            "cpus:0.5;mem:64".parse::<Resources>().unwrap(),
            command,
        );
        self.mnode.send(
            self.master.pid(),
            self.agent.pid(),
            RunTaskMessage {
                framework,
                framework_id: FrameworkId::new("F1"),
                task,
                pid: Some("scheduler@127.0.0.1:1".into()),
            },
        );
    }

    fn run_dir(&self, task: &str) -> PathBuf {
        let runs = self
            .dir
            .join("meta/slaves/S1/frameworks/F1/executors")
            .join(task)
            .join("runs");
        let latest = std::fs::read_link(runs.join("latest")).expect("latest run link");
        runs.join(latest)
    }

    /// Waits until the agent checkpointed `n` acknowledgements of the task.
    async fn acked(&self, task: &str, n: usize) {
        let updates = self
            .run_dir(task)
            .join("tasks")
            .join(task)
            .join("task.updates");
        wait_for("ack checkpointed", || {
            std::fs::read(&updates)
                .is_ok_and(|b| String::from_utf8_lossy(&b).matches("\"ACK\"").count() >= n)
        })
        .await
    }

    /// The executor's OS pid, from the checkpoint.
    fn executor_pid(&self, task: &str) -> i32 {
        std::fs::read_to_string(self.run_dir(task).join("pids/forked.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    fn sandbox(&self, task: &str) -> PathBuf {
        let run = self.run_dir(task);
        let container = run.file_name().unwrap().to_owned();
        self.dir
            .join("slaves/S1/frameworks/F1/executors")
            .join(task)
            .join("runs")
            .join(container)
    }
}

fn alive(pid: i32) -> bool {
    slave::agent::recovery::executor_alive(pid)
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    within(Duration::from_secs(20), what, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

async fn wait_stdout(sandbox: &Path, needle: &str) {
    let path = sandbox.join("stdout");
    wait_for(needle, || {
        std::fs::read_to_string(&path).is_ok_and(|s| s.contains(needle))
    })
    .await
}

fn kill_session(pid: i32) {
    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
    for p in slave::agent::session_members(pid) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), nix::sys::signal::SIGKILL);
    }
}

#[actix_rt::test]
async fn reconnect_executor() {
    // SlaveRecoveryTest.ReconnectExecutor: the agent dies, the executor keeps running; the
    // restarted agent recovers its id, reconnects, and re-registers with the task RUNNING.
    let mut rig = Rig::start("reconnect", |_| {}).await;
    rig.run_task("t1", CommandInfo::shell("sleep 1000"));
    let running = rig.next_update().await;
    assert_eq!(running.status.state, TaskState::Running);
    rig.ack(&running);
    let pid = rig.executor_pid("t1");
    let run = rig.run_dir("t1");
    assert!(run.join("pids/libprocess.pid").exists());
    rig.acked("t1", 1).await;
    assert!(rig.dir.join("meta/slaves/S1/slave.info").exists());
    assert!(rig.dir.join("meta/boot_id").exists());

    rig.crash().await;
    let sandbox = rig.sandbox("t1");
    wait_stdout(&sandbox, "waiting for it to recover").await;
    assert!(alive(pid), "the executor survives the agent");

    rig.restart().await;
    match rig.next_registration().await {
        Ev::Reregister(m) => {
            assert_eq!(m.slave.id, Some(AgentId::new("S1")));
            let t = m
                .tasks
                .iter()
                .find(|t| t.task_id == TaskId::new("t1"))
                .expect("t1 re-registered");
            assert_eq!(t.state, TaskState::Running);
            assert!(m
                .frameworks
                .iter()
                .any(|f| f.id == Some(FrameworkId::new("F1")) && f.checkpoint));
            assert_eq!(m.executor_infos.len(), 1);
        }
        other => panic!("expected a re-registration, got {other:?}"),
    }
    wait_stdout(&sandbox, "re-registered with").await;
    assert_eq!(
        rig_executor_state(&rig.agent, "t1").await.as_deref(),
        Some("Running")
    );
    assert!(alive(pid));

    // The reconnected executor takes orders from the new agent.
    rig.mnode.send(
        rig.master.pid(),
        rig.agent.pid(),
        KillTaskMessage {
            framework_id: FrameworkId::new("F1"),
            task_id: TaskId::new("t1"),
            kill_policy: None,
        },
    );
    let killed = rig.next_update().await;
    assert_eq!(killed.status.state, TaskState::Killed);
    rig.ack(&killed);
    // Its exit is noticed although the agent is not its parent (polling).
    kill_session(pid);
    loop {
        if let Ev::ExitedExecutor(m) = rig.next_event().await {
            assert_eq!(m.executor_id.as_str(), "t1");
            break;
        }
    }
    rig.agent.shutdown().await;
}

#[actix_rt::test]
async fn recover_task_status_update_manager_delivers_updates_missed_while_down() {
    // RecoverTaskStatusUpdateManager + an update sent while the agent was down: the RUNNING
    // head (unacknowledged) is re-sent from the checkpoint, the FINISHED the executor could
    // not deliver comes back with its re-registration, each exactly once. A torn record at
    // the end of task.updates is tolerated.
    let mut rig = Rig::start("updates", |_| {}).await;
    let gate = rig.dir.join("go");
    rig.run_task(
        "t2",
        CommandInfo::shell(format!(
            "while [ ! -e {} ]; do sleep 0.05; done",
            gate.display()
        )),
    );
    let running = rig.next_update().await;
    assert_eq!(running.status.state, TaskState::Running);
    // Not acknowledged.
    let pid = rig.executor_pid("t2");
    let sandbox = rig.sandbox("t2");
    let updates = rig.run_dir("t2").join("tasks/t2/task.updates");
    rig.crash().await;
    wait_stdout(&sandbox, "waiting for it to recover").await;
    // The task finishes during the outage; its update goes nowhere.
    std::fs::write(&gate, b"").unwrap();
    wait_stdout(&sandbox, "sent TASK_FINISHED").await;
    // The agent died in the middle of appending a record.
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&updates)
            .unwrap();
        f.write_all(&[0, 0, 1, 0, b'{', b'"']).unwrap();
    }

    rig.restart().await;
    let mut seen_running = 0;
    let mut finished = vec![];
    match rig.next_registration().await {
        Ev::Reregister(m) => {
            let t = m
                .tasks
                .iter()
                .find(|t| t.task_id == TaskId::new("t2"))
                .unwrap();
            assert_eq!(t.status_update_state, Some(TaskState::Running));
            assert_eq!(t.status_update_uuid, running.status.uuid);
        }
        other => panic!("expected a re-registration, got {other:?}"),
    }
    // The head comes first; nothing overtakes it.
    loop {
        let u = rig.next_update().await;
        assert_eq!(u.status.task_id, TaskId::new("t2"));
        match u.status.state {
            TaskState::Running => {
                assert_eq!(u.status.uuid, running.status.uuid);
                seen_running += 1;
                rig.ack(&u);
            }
            TaskState::Finished => {
                assert!(seen_running > 0, "FINISHED overtook RUNNING");
                finished.push(u.status.uuid);
                rig.ack(&u);
                break;
            }
            s => panic!("unexpected {s:?}"),
        }
    }
    // The framework is shut down: it is gone from the agent, and so is its checkpoint.
    rig.mnode.send(
        rig.master.pid(),
        rig.agent.pid(),
        ShutdownFrameworkMessage {
            framework_id: FrameworkId::new("F1"),
        },
    );
    let agent = &rig.agent;
    within(Duration::from_secs(20), "framework removed", async {
        while agent
            .process
            .call(|me, _| !me.frameworks().is_empty())
            .await
            .unwrap()
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(!rig.dir.join("meta/slaves/S1/frameworks/F1").exists());
    wait_for("executor gone", || !alive(pid)).await;
    // Every update that reached the master is one of the two, the FINISHED one only once
    // as an update (retries would repeat its uuid).
    while let Some(ev) = rig
        .backlog
        .pop_front()
        .or_else(|| rig.events.try_recv().ok())
    {
        if let Ev::Update(m) = ev {
            assert_eq!(m.update.status.state, TaskState::Finished);
            finished.push(m.update.status.uuid);
        }
    }
    finished.dedup();
    assert_eq!(finished.len(), 1, "one FINISHED update");
    rig.agent.shutdown().await;
}

#[actix_rt::test]
async fn recover_terminated_executor() {
    // SlaveRecoveryTest.RecoverTerminatedExecutor: the executor dies while the agent is
    // down; after recovery its task is TASK_LOST with REASON_EXECUTOR_TERMINATED.
    let mut rig = Rig::start("terminated", |_| {}).await;
    rig.run_task("t3", CommandInfo::shell("sleep 1000"));
    let running = rig.next_update().await;
    rig.ack(&running);
    rig.acked("t3", 1).await;
    let pid = rig.executor_pid("t3");
    rig.crash().await;
    kill_session(pid);
    wait_for("executor dead", || !alive(pid)).await;
    rig.restart().await;
    assert!(matches!(rig.next_registration().await, Ev::Reregister(_)));
    let lost = rig.next_update().await;
    assert_eq!(lost.status.task_id, TaskId::new("t3"));
    assert_eq!(lost.status.state, TaskState::Lost);
    assert_eq!(lost.status.reason, Some(Reason::ExecutorTerminated));
    assert_eq!(lost.status.source, Some(Source::Agent));
    assert!(lost
        .status
        .message
        .as_deref()
        .unwrap_or_default()
        .contains("agent was down"));
    rig.ack(&lost);
    rig.agent.shutdown().await;
}

#[actix_rt::test]
async fn recover_unregistered_executor_is_killed_after_the_reregistration_timeout() {
    // An executor that does not answer the reconnect within
    // executor_reregistration_timeout is killed; its task is lost with that reason.
    let mut rig = Rig::start("noreregister", |c| {
        c.executor_reregistration_timeout = Duration::from_millis(500);
    })
    .await;
    let mut cmd = CommandInfo::shell("sleep 1000");
    cmd.environment = Environment::default().with("TEST_EXECUTOR_NO_REREGISTER", "1");
    rig.run_task("t4", cmd);
    let running = rig.next_update().await;
    rig.ack(&running);
    rig.acked("t4", 1).await;
    let pid = rig.executor_pid("t4");
    rig.crash().await;
    rig.restart().await;
    let lost = rig.next_update().await;
    assert_eq!(lost.status.state, TaskState::Lost);
    assert_eq!(
        lost.status.reason,
        Some(Reason::ExecutorReregistrationTimeout)
    );
    assert!(!alive(pid), "the executor was killed");
    rig.ack(&lost);
    rig.agent.shutdown().await;
}

#[actix_rt::test]
async fn reboot_starts_a_new_agent() {
    // SlaveRecoveryTest.Reboot: a changed boot id means the executors are gone and the
    // agent registers afresh; the same boot id means it re-registers.
    fn boot_path() -> PathBuf {
        std::env::temp_dir().join(format!("slave-test-boot-id-{}", std::process::id()))
    }
    fn boot(c: &mut AgentConfig) {
        c.boot_id_path = boot_path();
    }
    std::fs::write(boot_path(), "boot-A\n").unwrap();
    let mut rig = Rig::start("reboot", boot).await;
    assert_eq!(
        std::fs::read_to_string(rig.dir.join("meta/boot_id"))
            .unwrap()
            .trim(),
        "boot-A"
    );
    rig.crash().await;
    rig.restart().await;
    assert!(matches!(rig.next_registration().await, Ev::Reregister(_)));
    common::wait_registered(&rig.agent).await;
    rig.crash().await;
    std::fs::write(boot_path(), "boot-B\n").unwrap();
    rig.restart().await;
    assert!(matches!(rig.next_registration().await, Ev::Register(_)));
    common::wait_registered(&rig.agent).await;
    assert_eq!(
        std::fs::read_to_string(rig.dir.join("meta/boot_id"))
            .unwrap()
            .trim(),
        "boot-B"
    );
    rig.agent.shutdown().await;
}

#[actix_rt::test]
async fn incompatible_agent_info_is_refused() {
    let mut rig = Rig::start("incompatible", |_| {}).await;
    rig.crash().await;
    let c = {
        let mut c = common::config(rig.master.pid(), &rig.dir);
        c.resources = "cpus:3;mem:1024;disk:1024;ports:[31000-32000]"
            .parse()
            .unwrap();
        c
    };
    let node = Node::bind(NodeConfig::local()).await.unwrap();
    let err = match slave::spawn(&node, c) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("an incompatible agent must not start"),
    };
    assert!(
        err.contains("incompatible") && err.contains("meta/slaves/latest"),
        "{err}"
    );
}

#[actix_rt::test]
async fn checkpointed_resources_survive_an_agent_restart() {
    // The master's CheckpointResourcesMessage (dynamic reservations) is persisted under
    // meta/resources and reported in the restarted agent's re-registration.
    let mut rig = Rig::start("checkpointed-resources", |_| {}).await;
    let reserved: Resources = "cpus(ads):1;mem(ads):64".parse().unwrap();
    rig.mnode.send(
        rig.master.pid(),
        rig.agent.pid(),
        CheckpointResourcesMessage {
            resources: reserved.clone(),
        },
    );
    let path = rig.dir.join("meta/resources/resources.info");
    wait_for("resources checkpointed", || {
        std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Resources>(&b).ok())
            == Some(reserved.clone())
    })
    .await;
    rig.crash().await;
    rig.restart().await;
    match rig.next_registration().await {
        Ev::Reregister(m) => {
            assert_eq!(m.checkpointed_resources, reserved);
            assert_eq!(
                m.slave.resources,
                common::config(rig.master.pid(), &rig.dir).resources
            );
        }
        other => panic!("expected a re-registration, got {other:?}"),
    }
    common::wait_registered(&rig.agent).await;
    let state = rig
        .agent
        .process
        .call(|a, ctx| a.state_json(ctx.pid()))
        .await
        .expect("agent alive");
    assert_eq!(
        state["reserved_resources_full"]["ads"][0]["name"], "cpus",
        "{state}"
    );
    assert_eq!(state["resources"]["cpus"], 2.0, "{state}");
    rig.agent.shutdown().await;
}

// ---- the agent as an OS process, SIGKILLed ---------------------------------------------

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn_agent(dir: &Path, master: &Pid, port: u16, n: u32) -> tokio::process::Child {
    let launcher = dir.join("launcher");
    std::fs::create_dir_all(&launcher).unwrap();
    let link = launcher.join("mesos-executor");
    if !link.exists() {
        let executor = common::reachable_copy(Path::new(env!("CARGO_BIN_EXE_test-executor")));
        std::os::unix::fs::symlink(executor, &link).unwrap();
    }
    let log = std::fs::File::create(dir.join(format!("agent-{n}.log"))).unwrap();
    tokio::process::Command::new(env!("CARGO_BIN_EXE_mesos-agent"))
        .arg(format!("--master={master}"))
        .arg(format!("--port={port}"))
        .arg(format!("--work_dir={}", dir.join("work").display()))
        .arg(format!("--launcher_dir={}", launcher.display()))
        .arg("--resources=cpus:2;mem:1024;disk:1024;ports:[31000-32000]")
        .arg("--hostname=test-host")
        .arg("--registration_backoff_factor=10ms")
        .arg("--status_update_retry_interval_min=1secs")
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

#[actix_rt::test]
async fn sigkilled_agent_process_recovers_and_reconnects() {
    let dir = test_dir("sigkill");
    let node = Node::bind(NodeConfig::local()).await.unwrap();
    let (tx, mut events) = mpsc::unbounded_channel();
    let master = node.spawn("master", FakeMaster { out: tx }).unwrap();
    let port = free_port();
    let agent_pid: Pid = format!("slave(1)@127.0.0.1:{port}").parse().unwrap();
    async fn next_ev(rx: &mut mpsc::UnboundedReceiver<Ev>, what: &str) -> Ev {
        loop {
            match within(Duration::from_secs(30), what, rx.recv()).await {
                Some(Ev::Pong) => continue,
                Some(e) => return e,
                None => panic!("master gone"),
            }
        }
    }
    let mut agent = spawn_agent(&dir, master.pid(), port, 1);
    assert!(matches!(
        next_ev(&mut events, "registration").await,
        Ev::Register(_)
    ));
    let mut framework = FrameworkInfo::new("ckpt-fw", "nobody");
    framework.id = Some(FrameworkId::new("F1"));
    framework.checkpoint = true;
    let task = TaskInfo::command_task(
        "t",
        TaskId::new("t"),
        AgentId::new("S1"),
        "cpus:0.5;mem:64".parse::<Resources>().unwrap(),
        CommandInfo::shell("sleep 1000"),
    );
    let run = RunTaskMessage {
        framework,
        framework_id: FrameworkId::new("F1"),
        task,
        pid: None,
    };
    node.send(master.pid(), &agent_pid, run);
    let running = loop {
        match next_ev(&mut events, "RUNNING").await {
            Ev::Update(m) => break m.update,
            _ => continue,
        }
    };
    assert_eq!(running.status.state, TaskState::Running);
    let ack = |u: &StatusUpdate| StatusUpdateAcknowledgementMessage {
        agent_id: AgentId::new("S1"),
        framework_id: u.framework_id.clone(),
        task_id: u.status.task_id.clone(),
        uuid: u.status.uuid.unwrap_or_default(),
    };
    node.send(master.pid(), &agent_pid, ack(&running));
    let runs = dir.join("work/meta/slaves/S1/frameworks/F1/executors/t/runs");
    wait_for("forked pid checkpointed", || {
        runs.join("latest/pids/libprocess.pid").exists()
    })
    .await;
    let pid: i32 = std::fs::read_to_string(runs.join("latest/pids/forked.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();

    // SIGKILL: no cleanup at all.
    agent.start_kill().unwrap();
    let status = within(Duration::from_secs(10), "agent exit", agent.wait())
        .await
        .unwrap();
    assert!(!status.success());
    node.sever(agent_pid.addr());
    assert!(alive(pid), "the executor outlives a SIGKILLed agent");

    let mut agent = spawn_agent(&dir, master.pid(), port, 2);
    match next_ev(&mut events, "re-registration").await {
        Ev::Reregister(m) => {
            assert_eq!(m.slave.id, Some(AgentId::new("S1")));
            let t = m
                .tasks
                .iter()
                .find(|t| t.task_id == TaskId::new("t"))
                .unwrap();
            assert_eq!(t.state, TaskState::Running);
        }
        other => panic!("expected a re-registration, got {other:?}"),
    }
    // The executor re-registered with the new agent: a kill reaches it.
    node.send(
        master.pid(),
        &agent_pid,
        KillTaskMessage {
            framework_id: FrameworkId::new("F1"),
            task_id: TaskId::new("t"),
            kill_policy: None,
        },
    );
    let killed = loop {
        match next_ev(&mut events, "KILLED").await {
            Ev::Update(m) if m.update.status.state == TaskState::Killed => break m.update,
            // RUNNING again if its ack did not make it before the SIGKILL.
            Ev::Update(m) => node.send(master.pid(), &agent_pid, ack(&m.update)),
            _ => continue,
        }
    };
    node.send(master.pid(), &agent_pid, ack(&killed));
    node.send(
        master.pid(),
        &agent_pid,
        ShutdownMessage {
            message: "test over".into(),
        },
    );
    let status = within(Duration::from_secs(20), "agent shutdown", agent.wait())
        .await
        .unwrap();
    assert!(status.success());
    // The restarted agent shut down the executor it recovered.
    wait_for("executor gone", || !alive(pid)).await;
}

fn real_command_executor() -> PathBuf {
    common::reachable_copy(
        &Path::new(env!("CARGO_BIN_EXE_test-executor")).with_file_name("mesos-executor"),
    )
}

#[actix_rt::test]
#[ignore = "needs frameworks' mesos-executor built in the same target dir: cargo build -p frameworks --bin mesos-executor"]
async fn reconnect_real_command_executor() {
    // ReconnectExecutor with the real command executor and its driver (frameworks).
    assert!(
        real_command_executor().exists(),
        "build it first: cargo build -p frameworks --bin mesos-executor"
    );
    let mut rig = Rig::start("real-executor", |c| {
        c.command_executor = Some(real_command_executor());
    })
    .await;
    rig.run_task("r1", CommandInfo::shell("sleep 1000"));
    let running = loop {
        let u = rig.next_update().await;
        rig.ack(&u);
        if u.status.state == TaskState::Running {
            break u;
        }
    };
    rig.acked("r1", 1).await;
    let pid = rig.executor_pid("r1");
    rig.crash().await;
    assert!(alive(pid));
    rig.restart().await;
    match rig.next_registration().await {
        Ev::Reregister(m) => {
            let t = m
                .tasks
                .iter()
                .find(|t| t.task_id == TaskId::new("r1"))
                .unwrap();
            assert_eq!(t.state, TaskState::Running);
        }
        other => panic!("expected a re-registration, got {other:?}"),
    }
    let agent = &rig.agent;
    within(Duration::from_secs(20), "executor re-registered", async {
        while rig_executor_state(agent, "r1").await.as_deref() != Some("Running") {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    rig.mnode.send(
        rig.master.pid(),
        rig.agent.pid(),
        KillTaskMessage {
            framework_id: FrameworkId::new("F1"),
            task_id: TaskId::new("r1"),
            kill_policy: None,
        },
    );
    let killed = loop {
        let u = rig.next_update().await;
        rig.ack(&u);
        if u.status.state.is_terminal() {
            break u;
        }
    };
    assert_eq!(killed.status.state, TaskState::Killed);
    assert_ne!(killed.status.uuid, running.status.uuid);
    // The command executor exits after its task; the agent notices by polling.
    wait_for("executor gone", || !alive(pid)).await;
    loop {
        if let Ev::ExitedExecutor(m) = rig.next_event().await {
            assert_eq!(m.executor_id.as_str(), "r1");
            break;
        }
    }
    rig.agent.shutdown().await;
}

async fn rig_executor_state(agent: &AgentHandle, task: &str) -> Option<String> {
    let task = task.to_string();
    agent
        .process
        .call(move |me, _| {
            me.frameworks()
                .values()
                .flat_map(|f| f.executors.values())
                .find(|e| e.info.executor_id.as_str() == task)
                .map(|e| format!("{:?}", e.state))
        })
        .await
        .unwrap()
}

// ---- a v1 (HTTP) executor across an agent restart -----------------------------------

/// A scripted v1 executor: it speaks `POST /api/v1/executor` over real HTTP for an
/// executor process that only sleeps.
struct V1Executor {
    stream: libproc::testing::HttpStream,
    decoder: proto::v1::recordio::Decoder,
    pending: VecDeque<serde_json::Value>,
}

impl V1Executor {
    /// The request for `body` to the agent `agent`'s executor API.
    fn call(agent: &Pid, body: &serde_json::Value) -> Vec<u8> {
        let (addr, id) = (agent.addr(), agent.id());
        let body = body.to_string();
        format!(
            "POST /{id}/api/v1/executor HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    /// SUBSCRIBE (with what it holds unacknowledged); the stream must open.
    async fn subscribe(agent: &Pid, subscribe: serde_json::Value) -> V1Executor {
        let call = serde_json::json!({"type": "SUBSCRIBE", "framework_id": {"value": "F1"},
            "executor_id": {"value": "E"}, "subscribe": subscribe});
        let stream = within(
            Duration::from_secs(20),
            "SUBSCRIBE",
            libproc::testing::HttpStream::open(agent.addr(), &Self::call(agent, &call)),
        )
        .await
        .expect("the agent answers");
        assert_eq!(stream.status(), 200, "{}", stream.head);
        assert!(
            stream.header("Mesos-Stream-Id").is_some(),
            "{}",
            stream.head
        );
        V1Executor {
            stream,
            decoder: proto::v1::recordio::Decoder::new(),
            pending: VecDeque::new(),
        }
    }

    /// The next event, `None` once the stream ended.
    async fn next(&mut self) -> Option<serde_json::Value> {
        within(Duration::from_secs(20), "an executor event", async {
            loop {
                if let Some(e) = self.pending.pop_front() {
                    return Some(e);
                }
                let chunk = self.stream.next_chunk().await?;
                for rec in self.decoder.feed(&chunk).expect("RecordIO") {
                    self.pending
                        .push_back(serde_json::from_slice(&rec).expect("a JSON event"));
                }
            }
        })
        .await
    }

    /// The next event of type `ty`, past heartbeats.
    async fn next_of(&mut self, ty: &str) -> serde_json::Value {
        loop {
            match self.next().await {
                Some(e) if e["type"] == ty => return e,
                Some(e) if e["type"] == "HEARTBEAT" => continue,
                other => panic!("expected {ty}, got {other:?}"),
            }
        }
    }

    /// The UPDATE call for task `t` in `state`.
    fn update(state: &str, uuid: u128, message: &str) -> serde_json::Value {
        serde_json::json!({"status": {"task_id": {"value": "t"}, "state": state,
            "source": "SOURCE_EXECUTOR", "message": message,
            "uuid": proto::v1::base64::encode(StatusUuid::from_u128(uuid).as_bytes())}})
    }

    /// POSTs UPDATE; the agent must accept it.
    async fn send_update(agent: &Pid, update: serde_json::Value) {
        let call = serde_json::json!({"type": "UPDATE", "framework_id": {"value": "F1"},
            "executor_id": {"value": "E"}, "update": update});
        let mut raw = Self::call(agent, &call);
        raw.splice(
            raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap()..,
            b"\r\nConnection: close".iter().copied(),
        );
        let body = call.to_string();
        raw.extend_from_slice(b"\r\n\r\n");
        raw.extend_from_slice(body.as_bytes());
        let (status, _, body) = libproc::testing::http_exchange(agent.addr(), &raw)
            .await
            .expect("HTTP exchange");
        assert_eq!(status, 202, "{body}");
    }
}

#[actix_rt::test]
async fn a_v1_executor_resubscribes_to_a_restarted_agent_with_its_unacknowledged_update() {
    // Executor recovery over the v1 API: the agent dies while the executor holds an update
    // it could not send; the executor re-subscribes to the restarted agent with it, the
    // update reaches the master exactly once, and the task keeps running.
    let mut rig = Rig::start("v1-executor", |_| {}).await;
    let mut framework = FrameworkInfo::new("ckpt-fw", "nobody");
    framework.id = Some(FrameworkId::new("F1"));
    framework.checkpoint = true;
    let mut task = TaskInfo::command_task(
        "t",
        TaskId::new("t"),
        AgentId::new("S1"),
        "cpus:0.5;mem:64".parse::<Resources>().unwrap(),
        CommandInfo::shell("unused"),
    );
    task.command = None;
    task.executor = Some(proto::ExecutorInfo::new(
        proto::ExecutorId::new("E"),
        CommandInfo::shell("sleep 1000"),
    ));
    rig.mnode.send(
        rig.master.pid(),
        rig.agent.pid(),
        RunTaskMessage {
            framework,
            framework_id: FrameworkId::new("F1"),
            task,
            pid: Some("scheduler@127.0.0.1:1".into()),
        },
    );
    wait_for("the executor launched", || {
        rig.dir
            .join("meta/slaves/S1/frameworks/F1/executors/E/runs/latest/pids/forked.pid")
            .exists()
    })
    .await;
    let pid = rig.executor_pid("E");
    let mut ex = V1Executor::subscribe(rig.agent.pid(), serde_json::json!({})).await;
    ex.next_of("SUBSCRIBED").await;
    let launch = ex.next_of("LAUNCH").await;
    assert_eq!(launch["launch"]["task"]["task_id"]["value"], "t");
    V1Executor::send_update(rig.agent.pid(), V1Executor::update("TASK_RUNNING", 1, "up")).await;
    let ack = ex.next_of("ACKNOWLEDGED").await;
    assert_eq!(ack["acknowledged"]["task_id"]["value"], "t");
    let running = rig.next_update().await;
    assert_eq!(
        running.status.uuid,
        Some(StatusUuid::from_u128(1)),
        "{running:?}"
    );
    rig.ack(&running);
    let updates = rig
        .dir
        .join("meta/slaves/S1/frameworks/F1/executors/E/runs/latest/tasks/t/task.updates");
    wait_for("ack checkpointed", || {
        std::fs::read(&updates).is_ok_and(|b| String::from_utf8_lossy(&b).contains("\"ACK\""))
    })
    .await;

    rig.crash().await;
    // The old stream ends with the agent; the executor's next update cannot be sent and
    // stays unacknowledged.
    assert_eq!(ex.next().await, None);
    assert!(alive(pid), "the executor survives the agent");
    rig.restart().await;
    let unacked = V1Executor::update("TASK_RUNNING", 2, "still running");
    let mut ex = V1Executor::subscribe(
        rig.agent.pid(),
        serde_json::json!({"unacknowledged_tasks": [], "unacknowledged_updates": [unacked]}),
    )
    .await;
    let subscribed = ex.next_of("SUBSCRIBED").await;
    assert_eq!(
        subscribed["subscribed"]["executor_info"]["executor_id"]["value"], "E",
        "{subscribed}"
    );
    assert_eq!(subscribed["subscribed"]["agent_info"]["id"]["value"], "S1");
    let ack = ex.next_of("ACKNOWLEDGED").await;
    assert_eq!(
        ack["acknowledged"]["uuid"],
        proto::v1::base64::encode(StatusUuid::from_u128(2).as_bytes())
    );
    // Recovery is over at once (no waiting out the re-registration timeout): the agent
    // re-registers with the task running.
    match rig.next_registration().await {
        Ev::Reregister(m) => {
            let t = m
                .tasks
                .iter()
                .find(|t| t.task_id == TaskId::new("t"))
                .expect("t");
            assert_eq!(t.state, TaskState::Running);
        }
        other => panic!("expected a re-registration, got {other:?}"),
    }
    let again = rig.next_update().await;
    assert_eq!(again.status.uuid, Some(StatusUuid::from_u128(2)));
    assert_eq!(again.status.message.as_deref(), Some("still running"));
    rig.ack(&again);
    // The task still runs in the re-subscribed executor: a kill reaches it over the new
    // stream, and the next update the master sees is its answer (no second copy).
    rig.mnode.send(
        rig.master.pid(),
        rig.agent.pid(),
        KillTaskMessage {
            framework_id: FrameworkId::new("F1"),
            task_id: TaskId::new("t"),
            kill_policy: None,
        },
    );
    ex.next_of("KILL").await;
    V1Executor::send_update(
        rig.agent.pid(),
        V1Executor::update("TASK_KILLED", 3, "killed"),
    )
    .await;
    let killed = rig.next_update().await;
    assert_eq!(killed.status.state, TaskState::Killed);
    assert_eq!(killed.status.uuid, Some(StatusUuid::from_u128(3)));
    rig.ack(&killed);
    assert_eq!(
        rig_executor_state(&rig.agent, "E").await.as_deref(),
        Some("Running")
    );
    kill_session(pid);
    rig.agent.shutdown().await;
}

//! Sandbox garbage collection. With real executor processes and real time: a finished
//! sandbox goes after a short `--gc_delay` and `/files` then answers 404; a full disk
//! removes one long before `--gc_delay` while a running executor's sandbox stays. On the
//! test containerizer with a paused clock: the exact delay, a re-launched executor's
//! directories kept under pressure, and a restarted agent scheduling the finished runs
//! (and an old agent's directories) it finds on disk.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{enc, http_get, next_update, test_dir, Cluster, Ev, FakeMaster};
use libproc::testing::{paused, within};
use libproc::{MemNetwork, Node, NodeConfig, Pid};
use proto::messages::{RunTaskMessage, ShutdownExecutorMessage, ShutdownFrameworkMessage};
use proto::{
    AgentId, CommandInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, Resources, TaskId,
    TaskInfo, TaskState,
};
use slave::containerizer::TestContainerizer;
use slave::gc::DiskUsage;
use slave::AgentConfig;
use tokio::sync::mpsc;

/// Waits (bounded, polling) until `path` no longer exists.
async fn gone(path: &Path) {
    within(
        Duration::from_secs(30),
        &format!("{} removed", path.display()),
        async {
            while path.exists() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        },
    )
    .await
}

async fn wait_exited(events: &mut mpsc::UnboundedReceiver<Ev>, executor: &str) {
    loop {
        match within(Duration::from_secs(30), "executor exit", events.recv()).await {
            Some(Ev::ExitedExecutor(m)) if m.executor_id.as_str() == executor => return,
            Some(_) => continue,
            None => panic!("fake master gone"),
        }
    }
}

fn files_read(path: &Path) -> String {
    format!("/files/read?path={}&offset=0", enc(&path.to_string_lossy()))
}

#[actix_rt::test]
async fn a_finished_sandbox_is_removed_after_gc_delay_and_files_then_answers_404() {
    let node = Node::bind(NodeConfig::local()).await.unwrap();
    let mut c = Cluster::start(node, test_dir("gc-delay"), |c| {
        c.gc.delay = Duration::from_secs(2);
    })
    .await;
    c.run_task("t1", CommandInfo::shell("echo collect-me"));
    let running = c.next_update().await;
    c.ack(&running);
    let finished = c.next_update().await;
    assert_eq!(finished.status.state, TaskState::Finished);
    c.ack(&finished);
    let sandbox = c.sandbox("t1").await;
    let stdout = sandbox.join("stdout");
    let addr = c.node.addr();
    let (status, body) = http_get(addr, &files_read(&stdout)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("collect-me"), "{body}");

    // The framework goes: its executor exits and its sandbox is scheduled.
    c.node.send(
        c.master.pid(),
        c.agent.pid(),
        ShutdownFrameworkMessage {
            framework_id: FrameworkId::new("F1"),
        },
    );
    wait_exited(&mut c.events, "t1").await;
    gone(&sandbox).await;

    let (status, body) = http_get(addr, &files_read(&stdout)).await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = http_get(
        addr,
        &format!("/files/browse?path={}", enc(&sandbox.to_string_lossy())),
    )
    .await;
    assert_eq!(status, 404);
    // The framework's whole directory went with it: its parent no longer lists it.
    let frameworks = c.dir.join("slaves/S1/frameworks");
    let (status, body) = http_get(
        addr,
        &format!("/files/browse?path={}", enc(&frameworks.to_string_lossy())),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains("F1"), "{body}");
    // Deleted, not just moved: once the deletion is reported, the trash is empty.
    within(Duration::from_secs(30), "deletion reported", async {
        while c.agent.process.call(|me, _| me.gc_removed()).await.unwrap() == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let trash = c.dir.join("gc-trash");
    assert_eq!(std::fs::read_dir(&trash).map(|d| d.count()).unwrap_or(0), 0);
    c.agent.shutdown().await;
}

#[actix_rt::test]
async fn a_full_disk_removes_a_finished_sandbox_long_before_gc_delay_but_not_a_running_one() {
    let node = Node::bind(NodeConfig::local()).await.unwrap();
    let mut c = Cluster::start(node, test_dir("gc-pressure"), |c| {
        c.gc.delay = Duration::from_secs(3600);
        c.gc.disk_watch_interval = Duration::from_millis(100);
        c.gc.disk_usage = DiskUsage::fixed(1.0);
    })
    .await;
    c.run_task("done", CommandInfo::shell("echo done"));
    c.run_task("busy", CommandInfo::shell("sleep 1000"));
    let mut finished = false;
    let mut busy_running = false;
    while !(finished && busy_running) {
        let u = c.next_update().await;
        c.ack(&u);
        match (u.status.task_id.as_str(), u.status.state) {
            ("done", TaskState::Finished) => finished = true,
            ("busy", TaskState::Running) => busy_running = true,
            _ => {}
        }
    }
    let done = c.sandbox("done").await;
    let busy = c.sandbox("busy").await;
    c.node.send(
        c.master.pid(),
        c.agent.pid(),
        ShutdownExecutorMessage {
            executor_id: ExecutorId::new("done"),
            framework_id: FrameworkId::new("F1"),
        },
    );
    wait_exited(&mut c.events, "done").await;
    gone(&done).await;
    // The check that removed it left the running executor's sandbox alone.
    assert!(busy.join("stdout").exists());
    let (status, body) = http_get(c.node.addr(), &files_read(&busy.join("stdout"))).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = http_get(c.node.addr(), &files_read(&done.join("stdout"))).await;
    assert_eq!(status, 404);
    c.agent.shutdown().await;
}

// ---- paused clock, test containerizer -----------------------------------------------------

fn in_process_config(master: &Pid, dir: &Path, tc: &TestContainerizer) -> AgentConfig {
    let mut c = common::config(master, dir);
    c.containerizer = Some(Arc::new(tc.clone()));
    c.status_update_retry_interval_min = Duration::from_secs(600);
    c.status_update_retry_interval_max = Duration::from_secs(600);
    c.gc.delay = Duration::from_secs(3600);
    c.gc.disk_headroom = 0.0;
    c.gc.disk_watch_interval = Duration::from_secs(10);
    c
}

/// A task for the custom executor `executor` of framework `F1`.
fn run_on(node: &Node, master: &Pid, agent: &Pid, task: &str, executor: &str, checkpoint: bool) {
    let mut framework = FrameworkInfo::new("fw", "nobody");
    framework.id = Some(FrameworkId::new("F1"));
    framework.checkpoint = checkpoint;
    let mut task = TaskInfo::command_task(
        task,
        TaskId::new(task),
        AgentId::new("S1"),
        "cpus:0.1;mem:16".parse::<Resources>().unwrap(),
        CommandInfo::shell("sleep 1000"),
    );
    task.command = None;
    task.executor = Some(ExecutorInfo::new(
        ExecutorId::new(executor),
        CommandInfo::shell("in-process"),
    ));
    node.send(
        master,
        agent,
        RunTaskMessage {
            framework,
            framework_id: FrameworkId::new("F1"),
            task,
            pid: None,
        },
    );
}

fn shutdown_executor(node: &Node, master: &Pid, agent: &Pid, executor: &str) {
    node.send(
        master,
        agent,
        ShutdownExecutorMessage {
            executor_id: ExecutorId::new(executor),
            framework_id: FrameworkId::new("F1"),
        },
    );
}

async fn sandbox_of(agent: &slave::AgentHandle, executor: &str) -> PathBuf {
    let executor = executor.to_string();
    agent
        .process
        .call(move |me, _| {
            me.frameworks()
                .values()
                .flat_map(|f| f.executors.values())
                .find(|e| e.info.executor_id.as_str() == executor)
                .map(|e| e.directory.clone())
        })
        .await
        .unwrap()
        .expect("a live executor")
}

async fn start(
    node: &Node,
    name: &str,
) -> (
    slave::AgentHandle,
    libproc::ProcessRef<FakeMaster>,
    mpsc::UnboundedReceiver<Ev>,
    TestContainerizer,
    PathBuf,
) {
    let (tx, events) = mpsc::unbounded_channel();
    let master = node.spawn("master", FakeMaster { out: tx }).unwrap();
    let dir = test_dir(name);
    let tc = TestContainerizer::new(node);
    let agent = slave::spawn(node, in_process_config(master.pid(), &dir, &tc)).unwrap();
    common::wait_registered(&agent).await;
    (agent, master, events, tc, dir)
}

#[test]
fn a_finished_sandbox_stays_for_gc_delay_in_virtual_time_then_goes() {
    paused(async {
        let node = Node::bind(NodeConfig::local().transport(MemNetwork::new()))
            .await
            .unwrap();
        let (agent, master, mut events, _tc, _dir) = start(&node, "gc-virtual").await;
        let pinger = common::keep_pinging(&node, master.pid(), agent.pid());
        run_on(&node, master.pid(), agent.pid(), "t1", "E", false);
        let running = next_update(&mut events, "TASK_RUNNING").await;
        assert_eq!(running.status.state, TaskState::Running);
        let sandbox = sandbox_of(&agent, "E").await;
        assert!(sandbox.join("stdout").exists());
        shutdown_executor(&node, master.pid(), agent.pid(), "E");
        wait_exited(&mut events, "E").await;
        let scheduled = agent.process.call(|me, _| me.gc_scheduled()).await.unwrap();
        assert!(scheduled.contains(&sandbox), "{scheduled:?}");
        // Disk checks every minute find nothing due before the hour is up.
        tokio::time::sleep(Duration::from_secs(3540)).await;
        assert!(sandbox.exists(), "removed before --gc_delay");
        tokio::time::sleep(Duration::from_secs(120)).await;
        gone(&sandbox).await;
        // The executor's directory went with it.
        assert!(!sandbox.parent().and_then(Path::parent).unwrap().exists());
        pinger.abort();
        node.shutdown();
    });
}

#[test]
fn a_relaunched_executors_directories_are_kept_under_pressure() {
    paused(async {
        let node = Node::bind(NodeConfig::local().transport(MemNetwork::new()))
            .await
            .unwrap();
        let (tx, mut events) = mpsc::unbounded_channel();
        let master = node.spawn("master", FakeMaster { out: tx }).unwrap();
        let dir = test_dir("gc-relaunch");
        let tc = TestContainerizer::new(&node);
        let full = Arc::new(AtomicBool::new(false));
        let mut cfg = in_process_config(master.pid(), &dir, &tc);
        let flag = full.clone();
        cfg.gc.disk_usage = DiskUsage::new(move |_| {
            Ok(if flag.load(Ordering::SeqCst) {
                1.0
            } else {
                0.0
            })
        });
        let agent = slave::spawn(&node, cfg).unwrap();
        common::wait_registered(&agent).await;
        let pinger = common::keep_pinging(&node, master.pid(), agent.pid());

        run_on(&node, master.pid(), agent.pid(), "t1", "E", false);
        next_update(&mut events, "TASK_RUNNING of t1").await;
        let first = sandbox_of(&agent, "E").await;
        shutdown_executor(&node, master.pid(), agent.pid(), "E");
        wait_exited(&mut events, "E").await;
        let executor_dir = first.parent().and_then(Path::parent).unwrap().to_path_buf();
        let scheduled = agent.process.call(|me, _| me.gc_scheduled()).await.unwrap();
        assert!(scheduled.contains(&executor_dir), "{scheduled:?}");

        // The same executor again: its directory leaves the schedule.
        run_on(&node, master.pid(), agent.pid(), "t2", "E", false);
        loop {
            let u = next_update(&mut events, "TASK_RUNNING of t2").await;
            if u.status.task_id.as_str() == "t2" {
                break;
            }
        }
        let second = sandbox_of(&agent, "E").await;
        assert_ne!(first, second);
        let scheduled = agent.process.call(|me, _| me.gc_scheduled()).await.unwrap();
        assert!(!scheduled.contains(&executor_dir), "{scheduled:?}");
        assert!(scheduled.contains(&first), "{scheduled:?}");

        // The disk fills: the old run goes at the next check, the live one stays.
        full.store(true, Ordering::SeqCst);
        gone(&first).await;
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert!(second.join("stdout").exists());
        assert!(executor_dir.exists());
        pinger.abort();
        node.shutdown();
    });
}

#[test]
fn a_restarted_agent_schedules_the_finished_runs_and_old_agents_it_finds_on_disk() {
    paused(async {
        let node = Node::bind(NodeConfig::local().transport(MemNetwork::new()))
            .await
            .unwrap();
        let (agent, master, mut events, tc, dir) = start(&node, "gc-recovery").await;
        run_on(&node, master.pid(), agent.pid(), "t1", "E", true);
        next_update(&mut events, "TASK_RUNNING").await;
        let sandbox = sandbox_of(&agent, "E").await;
        shutdown_executor(&node, master.pid(), agent.pid(), "E");
        wait_exited(&mut events, "E").await;
        let meta_run = dir
            .join("meta/slaves/S1/frameworks/F1/executors/E/runs")
            .join(sandbox.file_name().unwrap());
        assert!(meta_run.join("executor.sentinel").exists());

        // The agent dies before the hour is up; an old agent's directories lie about.
        node.terminate(agent.pid());
        within(Duration::from_secs(10), "agent stopped", agent.stopped()).await;
        let old_sandbox = dir.join("slaves/S0/frameworks/F0/executors/X/runs/C");
        let old_meta = dir.join("meta/slaves/S0");
        std::fs::create_dir_all(&old_sandbox).unwrap();
        std::fs::create_dir_all(&old_meta).unwrap();

        let mut cfg = in_process_config(master.pid(), &dir, &tc);
        cfg.gc.delay = Duration::from_secs(600);
        let agent = slave::spawn(&node, cfg).unwrap();
        within(Duration::from_secs(30), "re-registration", async {
            loop {
                match events.recv().await {
                    Some(Ev::Reregister(_)) => break,
                    Some(Ev::Register(m)) => panic!("registered as a new agent: {m:?}"),
                    Some(_) => continue,
                    None => panic!("fake master gone"),
                }
            }
        })
        .await;
        let pinger = common::keep_pinging(&node, master.pid(), agent.pid());
        let scheduled: Vec<PathBuf> = within(Duration::from_secs(30), "scheduled", async {
            loop {
                let s = agent.process.call(|me, _| me.gc_scheduled()).await.unwrap();
                if !s.is_empty() {
                    return s;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        let executor_dir = sandbox
            .parent()
            .and_then(Path::parent)
            .unwrap()
            .to_path_buf();
        for p in [&executor_dir, &dir.join("slaves/S0"), &old_meta] {
            assert!(scheduled.contains(p), "{p:?} not in {scheduled:?}");
        }
        assert!(sandbox.exists() && meta_run.exists());
        // The new agent's --gc_delay (10 min) applies.
        tokio::time::sleep(Duration::from_secs(660)).await;
        for p in [&sandbox, &meta_run, &old_sandbox, &old_meta] {
            gone(p).await;
        }
        // Its own checkpoint stays.
        assert!(dir.join("meta/slaves/S1/slave.info").exists());
        pinger.abort();
        node.shutdown();
    });
}

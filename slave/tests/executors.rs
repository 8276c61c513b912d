//! The agent with real executor processes (the crate's `test-executor`) and a fake master:
//! launch, reliable in-order status updates, kill, executor crash, registration timeout,
//! sandbox files and `/state`.

mod common;

use std::time::Duration;

use common::{enc, http_get, test_dir, Cluster, Ev};
use libproc::testing::within;
use libproc::{Match, Node, NodeConfig};
use proto::messages::{KillTaskMessage, StatusUpdateMessage};
use proto::{CommandInfo, Environment, FrameworkId, Reason, TaskId, TaskState};

async fn cluster(name: &str, tweak: impl FnOnce(&mut slave::AgentConfig)) -> Cluster {
    let node = Node::bind(NodeConfig::local()).await.unwrap();
    Cluster::start(node, test_dir(name), tweak).await
}

fn group_of(stdout: &str) -> i32 {
    stdout
        .lines()
        .find_map(|l| l.split(" as group ").nth(1))
        .and_then(|g| g.trim().parse().ok())
        .unwrap_or_else(|| panic!("no group in {stdout:?}"))
}

/// Whether no live process is left in group `pgid`. Zombies do not count: a killed task
/// whose executor died is reparented to PID 1, which on some machines never reaps it.
fn group_gone(pgid: i32) -> bool {
    libproc::procfs::live_group_members(pgid).is_empty()
}

#[actix_rt::test]
async fn task_runs_and_updates_arrive_in_order_retried_until_acked() {
    let mut c = cluster("run", |_| {}).await;
    // The first forwarded update is lost: the agent must retry it.
    let dropped = c
        .node
        .filters()
        .drop_one(Match::message::<StatusUpdateMessage>().to(c.master.pid()));
    c.run_task("t1", CommandInfo::shell("echo hello-from-task"));
    let running = c.next_update().await;
    assert_eq!(dropped.hits(), 1, "the first copy was dropped");
    assert_eq!(running.status.state, TaskState::Running);
    assert_eq!(running.status.task_id, TaskId::new("t1"));
    // The agent adds its container's addresses (host network: the agent's IP), as Mesos's.
    let cs = running
        .status
        .container_status
        .as_ref()
        .expect("container_status");
    assert_eq!(
        cs.network_infos[0].ip_addresses[0].ip_address,
        c.agent.pid().addr().ip().to_string()
    );
    assert!(cs.container_id.is_some());
    // Unacknowledged: it comes again, and nothing newer overtakes it.
    let again = c.next_update().await;
    assert_eq!(again.status.uuid, running.status.uuid);
    assert_eq!(
        again.latest_state,
        Some(TaskState::Finished),
        "the newer state is queued behind"
    );
    c.ack(&running);
    let finished = c.next_update().await;
    assert_eq!(finished.status.state, TaskState::Finished);
    c.ack(&finished);

    let sandbox = c.sandbox("t1").await;
    assert!(sandbox.starts_with(c.dir.join("slaves/S1/frameworks/F1/executors/t1/runs")));
    let stdout = std::fs::read_to_string(sandbox.join("stdout")).unwrap();
    assert!(stdout.contains("hello-from-task"), "{stdout}");

    // /state shows the task as completed after the ack.
    let addr = c.node.addr();
    let (status, body) = http_get(addr, &format!("/{}/state", c.agent.pid().id())).await;
    assert_eq!(status, 200);
    let state: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(state["id"], "S1");
    assert_eq!(
        state["version"],
        proto::MESOS_VERSION,
        "the master's version"
    );
    assert!(state["capabilities"].is_array());
    assert!(state["reserved_resources"].is_object());
    assert_eq!(state["hostname"], "test-host");
    assert_eq!(state["resources"]["cpus"], 2.0);
    let ex = &state["frameworks"][0]["executors"][0];
    assert_eq!(ex["id"], "t1");
    assert_eq!(ex["directory"], sandbox.to_string_lossy().as_ref());
    assert_eq!(ex["completed_tasks"][0]["state"], "TASK_FINISHED");
    assert!(ex["completed_tasks"][0]["user"].is_string());
    assert!(
        ex["completed_tasks"][0]["statuses"][0]["container_status"]["network_infos"].is_array()
    );
    assert_eq!(
        http_get(addr, &format!("/{}/health", c.agent.pid().id()))
            .await
            .0,
        200
    );

    // Sandbox files are readable through /files, and offset=-1 gives the length.
    let file = sandbox.join("stdout");
    let (status, body) = http_get(
        addr,
        &format!("/files/read?path={}&offset=0", enc(&file.to_string_lossy())),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let read: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(read["data"].as_str().unwrap().contains("hello-from-task"));
    let (_, body) = http_get(
        addr,
        &format!(
            "/files/read?path={}&offset=-1",
            enc(&file.to_string_lossy())
        ),
    )
    .await;
    let read: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(read["offset"].as_u64().unwrap(), stdout.len() as u64);
    let (status, body) = http_get(
        addr,
        &format!("/files/browse?path={}", enc(&sandbox.to_string_lossy())),
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.contains("stdout") && body.contains("stderr"), "{body}");

    c.agent.shutdown().await;
}

#[actix_rt::test]
async fn kill_task_kills_its_process_group() {
    let mut c = cluster("kill", |_| {}).await;
    c.run_task("sleeper", CommandInfo::shell("sleep 1000"));
    let running = c.next_update().await;
    assert_eq!(running.status.state, TaskState::Running);
    c.ack(&running);
    let sandbox = c.sandbox("sleeper").await;
    let pgid = group_of(&std::fs::read_to_string(sandbox.join("stdout")).unwrap());
    assert!(!group_gone(pgid), "the task runs");

    c.node.send(
        c.master.pid(),
        c.agent.pid(),
        KillTaskMessage {
            framework_id: FrameworkId::new("F1"),
            task_id: TaskId::new("sleeper"),
            kill_policy: None,
        },
    );
    let killed = c.next_update().await;
    assert_eq!(killed.status.state, TaskState::Killed);
    c.ack(&killed);
    // The group's last members may still be being reaped by init.
    within(
        Duration::from_secs(5),
        "the task's process group is gone",
        async {
            while !group_gone(pgid) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        },
    )
    .await;
    c.agent.shutdown().await;
}

#[actix_rt::test]
async fn executor_crash_fails_its_tasks_and_leaves_no_process_behind() {
    let mut c = cluster("crash", |_| {}).await;
    c.run_task("victim", CommandInfo::shell("sleep 1000"));
    let running = c.next_update().await;
    c.ack(&running);
    let sandbox = c.sandbox("victim").await;
    let task_group = group_of(&std::fs::read_to_string(sandbox.join("stdout")).unwrap());
    let pids = c
        .agent
        .process
        .call(|me, _| me.executor_os_pids())
        .await
        .unwrap();
    assert_eq!(pids.len(), 1);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pids[0]),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();

    let failed = c.next_update().await;
    assert_eq!(failed.status.state, TaskState::Failed);
    assert_eq!(failed.status.reason, Some(Reason::ExecutorTerminated));
    assert!(
        failed
            .status
            .message
            .as_deref()
            .unwrap_or("")
            .contains("SIGKILL"),
        "{:?}",
        failed.status.message
    );
    c.ack(&failed);
    let exited = within(Duration::from_secs(10), "ExitedExecutorMessage", async {
        loop {
            if let Some(Ev::ExitedExecutor(m)) = c.events.recv().await {
                return m;
            }
        }
    })
    .await;
    assert_eq!(exited.executor_id.as_str(), "victim");
    // The task ran in its own process group inside the executor's session: killed too.
    within(Duration::from_secs(5), "task group gone", async {
        while !group_gone(task_group) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    c.agent.shutdown().await;
}

#[actix_rt::test]
async fn executor_that_never_registers_is_killed_and_its_task_fails() {
    let mut c = cluster("regtimeout", |cfg| {
        cfg.executor_registration_timeout = Duration::from_millis(500);
    })
    .await;
    let mut cmd = CommandInfo::shell("true");
    cmd.environment = Environment::default().with("TEST_EXECUTOR_NO_REGISTER", "1");
    c.run_task("lonely", cmd);
    let failed = c.next_update().await;
    assert_eq!(failed.status.state, TaskState::Failed);
    assert_eq!(
        failed.status.reason,
        Some(Reason::ExecutorRegistrationTimeout)
    );
    c.ack(&failed);
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
async fn files_refuse_paths_outside_the_sandboxes() {
    let c = cluster("files", |_| {}).await;
    let root = c.dir.join("slaves");
    let inside = root.join("S1/frameworks/F/executors/e/runs/r");
    std::fs::create_dir_all(&inside).unwrap();
    std::fs::write(inside.join("ok.txt"), "fine").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", inside.join("escape")).unwrap();
    let addr = c.node.addr();
    let read =
        |p: String| async move { http_get(addr, &format!("/files/read?path={}", enc(&p))).await };

    let (status, body) = read(inside.join("ok.txt").to_string_lossy().into_owned()).await;
    assert_eq!(status, 200);
    assert!(body.contains("fine"));
    let dotdot = format!(
        "{}/../../../../../../../../../../../../../../etc/passwd",
        inside.display()
    );
    // Outside and absent get the same answer, so it tells nothing about the host.
    let (_, absent) = read(inside.join("missing").to_string_lossy().into_owned()).await;
    let (status, body) = read(dotdot).await;
    assert_eq!((status, &body), (404, &absent));
    let (status, body) = read(inside.join("escape").to_string_lossy().into_owned()).await;
    assert_eq!((status, &body), (404, &absent));
    assert_eq!(read("/etc/passwd".into()).await, (404, absent.clone()));
    assert_eq!(
        read(inside.join("missing").to_string_lossy().into_owned())
            .await
            .0,
        404
    );
    assert_eq!(read("relative/path".into()).await.0, 400);
    let (status, _) = http_get(addr, &format!("/files/browse?path={}", enc("/etc"))).await;
    assert_eq!(status, 404);
    std::os::unix::fs::symlink("/etc", inside.join("etc")).unwrap();
    let etc = inside.join("etc").to_string_lossy().into_owned();
    let (status, body) = http_get(addr, &format!("/files/browse?path={}", enc(&etc))).await;
    assert_eq!(status, 404, "{body}");
    c.agent.shutdown().await;
}

/// A task that makes a FIFO in its sandbox used to freeze the whole agent: `/files/read`
/// opened it blocking on the agent's only thread, waiting for a writer forever. Now it is
/// refused at once (not a regular file) and the agent keeps serving.
#[actix_rt::test]
async fn files_read_of_a_fifo_is_refused_at_once_and_the_agent_keeps_serving() {
    let c = cluster("files-fifo", |_| {}).await;
    let inside = c.dir.join("slaves/S1/frameworks/F/executors/e/runs/r");
    std::fs::create_dir_all(&inside).unwrap();
    std::fs::write(inside.join("ok.txt"), "fine").unwrap();
    let fifo = inside.join("stdout.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    // Without the fix the agent's thread blocks in open(2); this writer releases it after
    // a while so the test fails on the elapsed time instead of hanging.
    let release = fifo.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(8));
        let _ = std::fs::OpenOptions::new().write(true).open(release);
    });
    let addr = c.node.addr();
    let started = std::time::Instant::now();
    let (status, body) = http_get(
        addr,
        &format!("/files/read?path={}&offset=0", enc(&fifo.to_string_lossy())),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("not a regular file"), "{body}");
    let (status, body) = http_get(
        addr,
        &format!(
            "/files/read?path={}&offset=-1",
            enc(&fifo.to_string_lossy())
        ),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    // Browsing the directory describes the FIFO without opening it.
    let (status, body) = http_get(
        addr,
        &format!("/files/browse?path={}", enc(&inside.to_string_lossy())),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("stdout.fifo"), "{body}");
    // The agent still serves: another file, and its own actor.
    let (status, body) = http_get(
        addr,
        &format!(
            "/files/read?path={}",
            enc(&inside.join("ok.txt").to_string_lossy())
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.contains("fine"));
    assert!(c
        .agent
        .process
        .call(|me, _| me.is_registered())
        .await
        .unwrap());
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(5),
        "the FIFO held the agent for {elapsed:?}"
    );
    c.agent.shutdown().await;
}

#[actix_rt::test]
async fn shutdown_message_stops_executors_and_the_agent() {
    let mut c = cluster("shutdown", |_| {}).await;
    c.run_task("long", CommandInfo::shell("sleep 1000"));
    let running = c.next_update().await;
    c.ack(&running);
    let sandbox = c.sandbox("long").await;
    let task_group = group_of(&std::fs::read_to_string(sandbox.join("stdout")).unwrap());
    let exec = c
        .agent
        .process
        .call(|me, _| me.executor_os_pids())
        .await
        .unwrap()[0];
    c.node.send(
        c.master.pid(),
        c.agent.pid(),
        proto::messages::ShutdownMessage {
            message: "bye".into(),
        },
    );
    within(Duration::from_secs(10), "agent stopped", c.agent.stopped()).await;
    within(Duration::from_secs(5), "processes gone", async {
        while !(group_gone(task_group) && group_gone(exec)) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

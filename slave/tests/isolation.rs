//! The agent's isolators with real executor processes and a fake master: an OOM-killed
//! task under `cgroups/mem` ends `TASK_FAILED` with `REASON_CONTAINER_LIMITATION_MEMORY`
//! while its neighbour keeps running; `cpu.shares` split a contended CPU 1:3; CFS quota
//! caps a busy task; `/monitor/statistics` reports usage; orphan cgroups are removed at
//! start-up and a container's cgroups when it ends.
//!
//! The cgroups tests need a writable cgroup hierarchy (root); elsewhere they print why
//! they are skipped and pass.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{http_get, test_dir, Cluster};
use libproc::testing::eventually;
use libproc::{Node, NodeConfig};
use proto::messages::{RunTaskMessage, StatusUpdate};
use proto::{
    AgentId, CommandInfo, ContainerId, FrameworkId, FrameworkInfo, Reason, Resources, Source,
    TaskId, TaskInfo, TaskState,
};
use slave::isolation::{Isolation, IsolationConfig};

/// A cgroups isolation under a root of its own, or `None` (with a message) if cgroups
/// cannot be used here.
fn cgroups(test: &str, isolation: &str, cfs: bool) -> Option<Isolation> {
    let config = IsolationConfig {
        isolation: isolation.into(),
        cgroups_root: format!("mesos-test-{}-{test}", std::process::id()),
        cgroups_enable_cfs: cfs,
        ..Default::default()
    };
    match Isolation::new(&config) {
        Ok(i) => Some(i),
        Err(e) => {
            libproc::testing::skip_unless_ci(
                test,
                &format!("cgroups isolation is not usable here: {e}"),
            );
            None
        }
    }
}

/// The per-test cgroups root directories (parents of any container's cgroups).
fn roots(isolation: &Isolation) -> Vec<PathBuf> {
    isolation
        .cgroup_dirs(&ContainerId::new("x"))
        .iter()
        .filter_map(|d| d.parent().map(PathBuf::from))
        .collect()
}

async fn start(name: &str, isolation: Isolation) -> Cluster {
    if std::env::var("ISO_DEBUG").is_ok() {
        libproc::logging::init("info");
    }
    let node = Node::bind(NodeConfig::local()).await.unwrap();
    Cluster::start(node, test_dir(name), move |c| c.isolation = isolation).await
}

async fn stop(c: Cluster, isolation: &Isolation) {
    c.agent.shutdown().await;
    for root in roots(isolation) {
        eventually(Duration::from_secs(10), "the test's cgroups to go", || {
            std::fs::remove_dir(&root).is_ok() || !root.exists()
        })
        .await;
    }
    let _ = std::fs::remove_dir_all(&c.dir);
}

fn run(c: &Cluster, task_id: &str, resources: &str, command: &str) {
    let mut framework = FrameworkInfo::new("test-fw", "nobody");
    framework.id = Some(FrameworkId::new("F1"));
    let task = TaskInfo::command_task(
        task_id,
        TaskId::new(task_id),
        AgentId::new("S1"),
        resources.parse::<Resources>().unwrap(),
        CommandInfo::shell(command),
    );
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

/// Acknowledges updates until one for `task_id` in `state` arrives.
async fn wait_for(c: &mut Cluster, task_id: &str, state: TaskState) -> StatusUpdate {
    wait_all(c, &[(task_id, state)]).await.remove(0)
}

/// Acknowledges updates until each `(task, state)` has arrived (in any order across
/// tasks); returns them in the order asked.
async fn wait_all(c: &mut Cluster, wanted: &[(&str, TaskState)]) -> Vec<StatusUpdate> {
    let mut got: Vec<Option<StatusUpdate>> = vec![None; wanted.len()];
    while got.iter().any(Option::is_none) {
        let u = c.next_update().await;
        c.ack(&u);
        let task = u.status.task_id.as_str();
        match wanted
            .iter()
            .position(|(t, s)| *t == task && *s == u.status.state)
        {
            Some(i) => got[i] = got[i].take().or(Some(u)),
            None if u.status.state.is_terminal() && wanted.iter().any(|(t, _)| *t == task) => {
                panic!(
                    "{task} ended {:?} unexpectedly: {:?}",
                    u.status.state, u.status
                )
            }
            None => {}
        }
    }
    got.into_iter().flatten().collect()
}

async fn container_of(c: &Cluster, executor: &str) -> ContainerId {
    let executor = executor.to_string();
    c.agent
        .process
        .call(move |me, _| {
            me.frameworks()
                .values()
                .flat_map(|f| f.executors.values())
                .find(|e| e.info.executor_id.as_str() == executor)
                .map(|e| e.container_id.clone())
        })
        .await
        .unwrap()
        .expect("live executor")
}

fn cpu_secs(isolation: &Isolation, container: &ContainerId) -> f64 {
    let s = isolation.usage(container, 0.0).expect("known container");
    s.cpus_user_time_secs + s.cpus_system_time_secs
}

#[actix_rt::test]
async fn memory_hog_fails_with_a_memory_limitation_while_its_neighbour_runs() {
    let Some(iso) = cgroups("oom", "cgroups/cpu,cgroups/mem", false) else {
        return;
    };
    let mut c = start("iso-oom", iso.clone()).await;
    run(&c, "neighbour", "cpus:0.1;mem:64", "sleep 1000");
    wait_for(&mut c, "neighbour", TaskState::Running).await;
    let neighbour = container_of(&c, "neighbour").await;
    for d in iso.cgroup_dirs(&neighbour) {
        if let Ok(limit) = std::fs::read_to_string(d.join("memory.limit_in_bytes")) {
            assert_eq!(limit.trim(), (64u64 << 20).to_string());
        }
    }

    // `tail` keeps its whole newline-free input in memory: 300 MB against a 64 MB limit.
    run(
        &c,
        "hog",
        "cpus:0.1;mem:64",
        "head -c 300M /dev/zero | tail",
    );
    let hog_running = wait_for(&mut c, "hog", TaskState::Running).await;
    assert_eq!(hog_running.status.state, TaskState::Running);
    let hog = container_of(&c, "hog").await;
    let failed = wait_for(&mut c, "hog", TaskState::Failed).await;
    let status = &failed.status;
    assert_eq!(
        status.reason,
        Some(Reason::ContainerLimitationMemory),
        "{status:?}"
    );
    assert_eq!(status.source, Some(Source::Agent));
    let message = status.message.clone().unwrap_or_default();
    assert!(
        message.starts_with("Memory limit exceeded: Requested: 64MB Maximum Used: "),
        "{message}"
    );
    println!("hog: {message}");

    // The neighbour is untouched, and the hog's cgroups are gone once its executor is.
    let state = c
        .agent
        .process
        .call(|me, ctx| me.state_json(ctx.pid()))
        .await
        .unwrap();
    let executors = state["frameworks"][0]["executors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let n = executors
        .iter()
        .find(|e| e["id"] == "neighbour")
        .expect("neighbour live");
    assert_eq!(n["tasks"][0]["state"], "TASK_RUNNING");
    assert!(iso.limitation(&neighbour).is_none());
    assert!(
        iso.usage(&neighbour, 0.0)
            .and_then(|s| s.processes)
            .unwrap_or(0)
            >= 2
    );
    let hog_dirs = iso.cgroup_dirs(&hog);
    eventually(
        Duration::from_secs(20),
        "the hog's cgroups to be removed",
        || hog_dirs.iter().all(|d| !d.exists()),
    )
    .await;
    stop(c, &iso).await;
}

#[actix_rt::test]
async fn cpu_shares_split_a_contended_cpu_one_to_three() {
    let Some(iso) = cgroups("shares", "cgroups/cpu,cgroups/mem", false) else {
        return;
    };
    let mut c = start("iso-shares", iso.clone()).await;
    // Both busy loops pinned to CPU 0: they contend, and the shares decide.
    let busy = "exec taskset -c 0 sh -c 'while :; do :; done'";
    run(&c, "one", "cpus:1;mem:64", busy);
    run(&c, "three", "cpus:3;mem:64", busy);
    wait_all(
        &mut c,
        &[("one", TaskState::Running), ("three", TaskState::Running)],
    )
    .await;
    let (one, three) = (
        container_of(&c, "one").await,
        container_of(&c, "three").await,
    );

    // Let both settle on the CPU, then measure over a 3 s window.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (a0, b0) = (cpu_secs(&iso, &one), cpu_secs(&iso, &three));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (a1, b1) = (cpu_secs(&iso, &one), cpu_secs(&iso, &three));
    let (a, b) = (a1 - a0, b1 - b0);
    let ratio = b / a.max(1e-3);
    println!("cpu over 3s: cpus:1 -> {a:.2}s, cpus:3 -> {b:.2}s, ratio {ratio:.2} (ideal 3.0)");
    assert!(a + b > 0.3, "the loops hardly ran: {a} + {b}");
    assert!((2.0..=4.5).contains(&ratio), "ratio {ratio}");

    // `/monitor/statistics` shows both with their limits and usage.
    for path in ["/monitor/statistics", "/monitor/statistics.json"] {
        let (code, body) = http_get(c.node.addr(), path).await;
        assert_eq!(code, 200, "{body}");
        let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
        let entries = doc.as_array().cloned().unwrap_or_default();
        assert_eq!(entries.len(), 2, "{doc}");
        let three = entries
            .iter()
            .find(|e| e["executor_id"] == "three")
            .expect("three");
        assert_eq!(three["framework_id"], "F1");
        assert_eq!(three["source"], "three");
        assert!(three["executor_name"]
            .as_str()
            .unwrap_or_default()
            .contains("three"));
        let s = &three["statistics"];
        assert_eq!(s["cpus_limit"], 3.0);
        assert_eq!(s["mem_limit_bytes"], 64u64 << 20);
        assert!(
            s["cpus_user_time_secs"].as_f64().unwrap_or(0.0) > 0.5,
            "{s}"
        );
        assert!(s["mem_rss_bytes"].as_u64().is_some(), "{s}");
        assert!(s["timestamp"].as_f64().unwrap_or(0.0) > 1e9, "{s}");
    }
    stop(c, &iso).await;
}

#[actix_rt::test]
async fn cfs_quota_caps_a_busy_task() {
    let Some(iso) = cgroups("cfs", "cgroups/cpu", true) else {
        return;
    };
    let mut c = start("iso-cfs", iso.clone()).await;
    run(&c, "capped", "cpus:0.25;mem:64", "while :; do :; done");
    wait_for(&mut c, "capped", TaskState::Running).await;
    let capped = container_of(&c, "capped").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t0 = cpu_secs(&iso, &capped);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = cpu_secs(&iso, &capped) - t0;
    let s = iso.usage(&capped, 0.0).unwrap();
    println!(
        "cfs: cpus:0.25 used {used:.2}s of CPU in 2s; periods {:?}, throttled {:?}",
        s.cpus_nr_periods, s.cpus_nr_throttled
    );
    assert!(used < 0.25 * 2.0 * 1.5, "quota not enforced: {used}s in 2s");
    assert!(used > 0.1, "the loop hardly ran: {used}s");
    assert!(s.cpus_nr_throttled.unwrap_or(0) > 0, "{s:?}");
    stop(c, &iso).await;
}

#[actix_rt::test]
async fn orphan_cgroups_are_removed_at_start_up() {
    let Some(iso) = cgroups("orphans", "cgroups/mem", false) else {
        return;
    };
    let orphan = ContainerId::new("orphan-from-a-previous-run");
    let dirs = iso.cgroup_dirs(&orphan);
    for d in &dirs {
        std::fs::create_dir_all(d).unwrap();
    }
    let c = start("iso-orphans", iso.clone()).await;
    eventually(
        Duration::from_secs(10),
        "the orphan's cgroups to go",
        || dirs.iter().all(|d| !d.exists()),
    )
    .await;
    stop(c, &iso).await;
}

#[actix_rt::test]
async fn posix_statistics_report_a_running_task() {
    let mut c = start("iso-posix", Isolation::posix()).await;
    run(&c, "p1", "cpus:0.5;mem:32", "sleep 1000");
    wait_for(&mut c, "p1", TaskState::Running).await;
    let (code, body) = http_get(c.node.addr(), "/monitor/statistics").await;
    assert_eq!(code, 200, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    let e = &doc[0];
    assert_eq!(e["executor_id"], "p1");
    assert_eq!(e["statistics"]["cpus_limit"], 0.5);
    assert_eq!(e["statistics"]["mem_limit_bytes"], 32u64 << 20);
    assert!(
        e["statistics"]["mem_rss_bytes"].as_u64().unwrap_or(0) > 0,
        "{e}"
    );
    assert!(
        e["statistics"]["processes"].as_u64().unwrap_or(0) >= 2,
        "{e}"
    );
    c.agent.shutdown().await;
    let _ = std::fs::remove_dir_all(&c.dir);
}

//! Failover driven by live fault injection: the same real-process HA cluster as
//! `failover.rs` ([`cluster::ha`]: `mesos-master`s contending through a real ZooKeeper,
//! `mesos-agent`s, `long-lived-framework`), every node started with
//! `--enable_fault_injection`, and the faults applied through the nodes' `/fault/rules`
//! endpoints ([`HaCluster::chaos`], the code of `mesos-chaos`) instead of signals. Each test
//! ends with [`HaCluster::check_invariants`].
//!
//! | test | fault (rules) | signal counterpart |
//! |---|---|---|
//! | `a_stalled_leader_is_replaced_and_steps_down_when_the_stall_ends` | `stall` of the leader's `master` process past its ZooKeeper session | `a_stopped_leader_steps_down_when_resumed` (SIGSTOP) |
//! | `a_leader_cut_off_from_its_agents_within_the_ping_timeout_loses_no_task` | `leader-isolation` (partition rules: the leader against every agent and the other masters, not ZooKeeper), cleared within the agent ping timeout | – |
//! | `acknowledgements_dropped_by_the_old_leader_are_retried_and_acknowledged_once_after_failover` | `drop` of `StatusUpdateAcknowledgementMessage` at the leader, then a `stall` of it past its ZooKeeper session (failover) | – |
//!
//! Needs Debian's `zookeeper` package (and a `java`); without it each test prints SKIPPED
//! and passes, unless `CI` is set: then it fails (`libproc::testing::skip_unless_ci`).
//! Build the binaries first: `cargo build --workspace --bins`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cluster::ha::{framework, framework_view, running_tasks, HaCluster, HaConfig, LIMIT};
use serde_json::json;

async fn start(prefix: &str, config: HaConfig) -> Option<HaCluster> {
    let c = HaCluster::start(prefix, config).await;
    if c.is_none() {
        libproc::testing::skip_unless_ci(
            prefix,
            "ZooKeeper is not installed (apt-get install zookeeper)",
        );
    }
    c
}

/// An HA cluster whose every node serves `/fault/rules`.
fn faulty(config: HaConfig) -> HaConfig {
    HaConfig {
        fault_injection: true,
        ..config
    }
}

/// `name` in `addr`'s `/metrics/snapshot` (0 if it cannot be read).
async fn metric(addr: SocketAddr, name: &str) -> f64 {
    let ask = cluster::procs::get_json(addr, "/metrics/snapshot");
    match tokio::time::timeout(Duration::from_secs(1), ask).await {
        Ok(Ok(v)) => v[name].as_f64().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// Waits (bounded) until `name` in `addr`'s metrics reaches `at_least`.
async fn wait_metric(cluster: &HaCluster, addr: SocketAddr, name: &str, at_least: f64) {
    let start = Instant::now();
    while metric(addr, name).await < at_least {
        if start.elapsed() > LIMIT {
            cluster.fail(&format!("{name} of {addr} never reached {at_least}"));
        }
        // Polling a process we do not control: there is no event to wait for.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How long the leader's event loop is stalled: well past the 2 s ZooKeeper session.
const STALL_MS: u64 = 6000;

/// Stalls master `i`'s `master` process for [`STALL_MS`] through its `/fault/rules` (a
/// one-off `stall` rule); returns when the stall began.
async fn stall_master(cluster: &HaCluster, i: usize) -> Instant {
    let addr = cluster.master_addr(i).to_string();
    let stalled_at = Instant::now();
    let rule = json!({"kind": "stall", "process": "master", "ms": STALL_MS}).to_string();
    let out = cluster.chaos(&["add", &addr, &rule]).await;
    assert!(out.contains("\"stall\""), "{out}");
    stalled_at
}

/// After a stall of the old leader `old` (begun at `stalled_at`) made `new` lead: when the
/// stall ends, `old` finds its session gone, never acts as a second leader, and exits
/// (code 3, lost leadership), while `new` keeps leading. Forgets `old`'s process.
async fn stalled_leader_steps_down(
    cluster: &mut HaCluster,
    old: usize,
    new: usize,
    stalled_at: Instant,
) {
    let status = cluster.wait_stepped_down(old).await;
    assert_eq!(status.code(), Some(3), "the old leader's exit status");
    assert!(
        stalled_at.elapsed() >= Duration::from_millis(STALL_MS),
        "the old leader exited during its stall ({:?}): it was not stalled",
        stalled_at.elapsed()
    );
    let (still, _) = cluster.wait_leader("the new leader", |_, _| true).await;
    assert_eq!(still, new, "leadership moved again");
    cluster.retire_master(old);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_leader_is_replaced_and_steps_down_when_the_stall_ends() {
    let Some(mut cluster) = start("stall-leader", faulty(HaConfig::default())).await else {
        return;
    };
    let base = cluster.baseline().await;
    let (leader, state) = cluster.wait_leader("the leader", |_, _| true).await;
    let stalled_at = stall_master(&cluster, leader).await;
    // The stalled master renews nothing: its session expires, the standby takes over and
    // every agent and the framework follow it.
    let (new_leader, times) = cluster
        .wait_recovered(&base, Some((leader, &state["id"])), stalled_at)
        .await;
    eprintln!(
        "stall of master-{} -> master-{} leads with everything re-registered: {times:?}",
        leader + 1,
        new_leader + 1
    );
    stalled_leader_steps_down(&mut cluster, leader, new_leader, stalled_at).await;
    cluster.check_invariants(&base).await;
}

/// The masters' ping timeout in this scenario: `2 s × 5`, so that a partition healed after
/// a few seconds is well within it.
const PING_TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_from_its_agents_within_the_ping_timeout_loses_no_task() {
    let config = faulty(HaConfig {
        master_flags: vec![
            "--agent_ping_timeout=2secs".into(),
            "--max_agent_ping_timeouts=5".into(),
        ],
        ..HaConfig::default()
    });
    let Some(cluster) = start("isolate-leader", config).await else {
        return;
    };
    let base = cluster.baseline().await;
    let (leader, state) = cluster.wait_leader("the leader", |_, _| true).await;
    let id = state["id"].clone();
    let masters: Vec<String> = (0..cluster.num_masters())
        .map(|i| cluster.master_addr(i).to_string())
        .collect();
    let cut_at = Instant::now();
    let out = cluster
        .chaos(&[
            "scenario",
            "leader-isolation",
            &format!("--masters={}", masters.join(",")),
        ])
        .await;
    eprintln!("{out}");
    // The cut took effect: the leader's connections to the agents are closed, it lost
    // them (deactivated, not removed), and it drops what they send to get back.
    cluster
        .wait_leader("both agents disconnected from the leader", |i, s| {
            i == leader && s["activated_slaves"] == 0 && s["deactivated_slaves"] == 2
        })
        .await;
    let leader_addr = cluster.master_addr(leader);
    wait_metric(&cluster, leader_addr, "fault/messages_partitioned", 1.0).await;
    let cut_for = cut_at.elapsed();
    let mut clear = vec!["clear"];
    clear.extend(masters.iter().map(String::as_str));
    cluster.chaos(&clear).await;
    assert!(
        cut_for < PING_TIMEOUT,
        "the partition lasted {cut_for:?}, not within the ping timeout {PING_TIMEOUT:?}"
    );
    eprintln!("leader cut off from its agents for {cut_for:?}");
    // Healed: the agents re-register with the same leader, nothing was marked unreachable
    // and the framework heard nothing of its tasks.
    let (_, state) = cluster
        .wait_leader("both agents back with the same leader", |i, s| {
            i == leader && s["id"] == id && s["activated_slaves"] == 2
        })
        .await;
    assert_eq!(state["unreachable_slaves"], 0, "{state}");
    let fw = framework(&state).expect("the framework is there");
    assert_eq!(running_tasks(fw), base.tasks, "no task was added or lost");
    let view = framework_view(&cluster.framework_log());
    for (task, states) in &view {
        assert!(
            states.iter().all(|s| s == "TASK_RUNNING"),
            "task {task} was told more than running: {states:?}"
        );
    }
    let mut cluster = cluster;
    cluster.check_invariants(&base).await;
}

/// How many `ACK` records a `task.updates` log holds.
fn acks_in(path: &std::path::Path) -> usize {
    let bytes = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    text.matches("\"type\":\"ACK\"").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledgements_dropped_by_the_old_leader_are_retried_and_acknowledged_once_after_failover(
) {
    let config = faulty(HaConfig::default());
    let instances = config.instances;
    let Some(mut cluster) = HaCluster::start_without_framework("dropped-acks", config).await else {
        libproc::testing::skip_unless_ci(
            "dropped-acks",
            "ZooKeeper is not installed (apt-get install zookeeper)",
        );
        return;
    };
    let (leader, state) = cluster.wait_leader("the leader", |_, _| true).await;
    let leader_addr = cluster.master_addr(leader);
    let rule = json!({"kind": "drop", "name": "mesos.internal.StatusUpdateAcknowledgementMessage"});
    cluster
        .chaos(&["add", &leader_addr.to_string(), &rule.to_string()])
        .await;
    cluster.start_framework();
    let base = cluster.baseline().await;
    // The scheduler acknowledged every TASK_RUNNING; the leader dropped each, so the agents
    // still hold the updates unacknowledged.
    wait_metric(
        &cluster,
        leader_addr,
        "fault/messages_dropped",
        instances as f64,
    )
    .await;
    let logs = |c: &HaCluster| cluster::testkit::find_files(c.work_dir(), "task.updates");
    let updates = logs(&cluster);
    assert_eq!(updates.len(), instances, "{updates:?}");
    for u in &updates {
        assert_eq!(
            acks_in(u),
            0,
            "{} acknowledged through the rule",
            u.display()
        );
    }
    // Fail over, through the endpoint too: a stall of the leader past its ZooKeeper session
    // timeout costs it leadership (as in the stall test above) and the standby takes over;
    // the agents re-register with it and re-send the held updates, the framework
    // acknowledges them again, and this time the acks arrive.
    let stalled_at = stall_master(&cluster, leader).await;
    let (new_leader, times) = cluster
        .wait_recovered(&base, Some((leader, &state["id"])), stalled_at)
        .await;
    eprintln!(
        "acks dropped by master-{}, then it stalled; master-{} leads: {times:?}",
        leader + 1,
        new_leader + 1
    );
    let start = Instant::now();
    while !updates.iter().all(|u| acks_in(u) >= 1) {
        if start.elapsed() > LIMIT {
            cluster.fail(&format!(
                "the re-sent updates were not acknowledged: {:?}",
                updates.iter().map(|u| acks_in(u)).collect::<Vec<_>>()
            ));
        }
        // Polling files of processes we do not control.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // When its stall ends the old leader steps down (with its rule).
    stalled_leader_steps_down(&mut cluster, leader, new_leader, stalled_at).await;
    cluster.check_invariants(&base).await;
    // Exactly once: one acknowledgement per update in every stream, and the framework was
    // told TASK_RUNNING again (the retry), nothing else.
    for u in &updates {
        assert_eq!(acks_in(u), 1, "{}", u.display());
    }
    let view = framework_view(&cluster.framework_log());
    for task in &base.tasks {
        let states = &view[task];
        assert!(
            states.len() >= 2 && states.iter().all(|s| s == "TASK_RUNNING"),
            "task {task}: the held update was not re-sent, or more was said: {states:?}"
        );
    }
}

//! Failover with real OS processes and a real ZooKeeper: `mesos-master`s contend through
//! ZooKeeper, `mesos-agent`s and `long-lived-framework` follow the leader through `zk://`
//! (the harness is [`cluster::ha`]). Each test injects one kind of fault and ends with
//! [`HaCluster::check_invariants`]: every task the framework launched is running or ended
//! exactly once in its view, no running task was lost or restarted, no executor leaked,
//! and the cluster still runs new work.
//!
//! | test | fault | Mesos counterpart |
//! |---|---|---|
//! | `sigkill_of_the_leading_master_keeps_tasks_running` | SIGKILL of the leader | `MasterFailover` (multi-process) |
//! | `a_stopped_leader_steps_down_when_resumed` | SIGSTOP of the leader past its session, then SIGCONT | `MasterContenderDetectorTest.MasterDetectorExpireMasterZKSession`, split brain |
//! | `a_zookeeper_restart_loses_no_task` | ZooKeeper killed until the leader gives up, restarted on the same port | `ZooKeeperMasterContenderDetectorTest` session expiry |
//! | `three_leader_kills_in_a_row_lose_no_task` | leader churn: kill, re-elect, restart, 3 times | – |
//! | `a_restarted_scheduler_fails_over_and_adopts_its_tasks` | SIGKILL and restart of the scheduler | `SchedulerFailover` (multi-process) |
//! | `an_agent_partitioned_while_the_new_leader_waits_for_it_keeps_tasks_nobody_was_told_lost` | SIGSTOP of an agent, then SIGKILL of the leader; the agent is resumed after `--agent_reregister_timeout` and its tasks are adopted | `MasterTest.RecoveredSlaveReregisters…ThenUnreachableRace` (roughly) |
//! | `a_zookeeper_restart_then_a_leader_kill_fails_over_on_its_own` | ZooKeeper restarted within the session timeout (the leader keeps leading), then SIGKILL of the leader (the standby takes over unaided) | `ZooKeeperMasterContenderDetectorTest.MasterDetectorTimedoutSession` |
//! | `a_zookeeper_restart_while_a_framework_launches_loses_nothing` | ZooKeeper restarted while the framework registers and launches its tasks | – |
//! | `zookeeper_unreachable_mid_request_keeps_the_leader` | every node's ZooKeeper connection silenced (requests in flight) then cut, restored within the session timeout | – |
//!
//! Needs Debian's `zookeeper` package (and a `java`); without it each test prints SKIPPED
//! and passes, unless `CI` is set: then it fails (`libproc::testing::skip_unless_ci`).
//! Build the binaries first: `cargo build --workspace --bins`.

use std::time::{Duration, Instant};

use cluster::ha::{framework, running_tasks, HaCluster, HaConfig, LIMIT};

/// SIGSTOP/SIGCONT (numbers for `kill -N`).
const SIGSTOP: i32 = 19;
const SIGCONT: i32 = 18;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_the_leading_master_keeps_tasks_running() {
    let Some(mut cluster) = start("master-failover", HaConfig::default()).await else {
        return;
    };
    let base = cluster.baseline().await;
    let (leader, state) = cluster.wait_leader("the leader", |_, _| true).await;
    let killed_at = Instant::now();
    cluster.kill_master(leader);
    let (new_leader, [to_leader, to_agents, to_framework]) = cluster
        .wait_recovered(&base, Some((leader, &state["id"])), killed_at)
        .await;
    eprintln!(
        "SIGKILL of master-{} -> master-{} leads: {to_leader:?}; -> agents re-registered: \
         {to_agents:?}; -> framework re-registered: {to_framework:?}",
        leader + 1,
        new_leader + 1
    );
    // The agents re-registered (not registered anew) with the new leader.
    let (_, state) = cluster.wait_leader("the new leader", |_, _| true).await;
    for a in state["slaves"].as_array().into_iter().flatten() {
        assert!(
            a["active"] == true && a["reregistered_time"].is_number(),
            "agent not re-registered with the new leader: {a}"
        );
    }
    cluster.check_invariants(&base).await;
    let (_, state) = cluster.wait_leader("the leader", |_, _| true).await;
    let fw = framework(&state).expect("the framework is still there");
    assert_eq!(running_tasks(fw), base.tasks, "no task was added or lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_leader_steps_down_when_resumed() {
    let Some(mut cluster) = start("master-sigstop", HaConfig::default()).await else {
        return;
    };
    let base = cluster.baseline().await;
    let (leader, state) = cluster.wait_leader("the leader", |_, _| true).await;
    let stopped_at = Instant::now();
    let sent = cluster
        .master_proc(leader)
        .is_some_and(|p| p.signal(SIGSTOP));
    assert!(sent, "cannot SIGSTOP the leader");
    // Its session expires; another master takes over and everything follows it.
    let (new_leader, times) = cluster
        .wait_recovered(&base, Some((leader, &state["id"])), stopped_at)
        .await;
    eprintln!(
        "SIGSTOP of master-{} -> master-{} leads with everything re-registered: {times:?}",
        leader + 1,
        new_leader + 1
    );
    // Resumed, the old leader must not act as a second leader: it never serves the
    // leader's state again, and it exits (code 3, lost leadership).
    let sent = cluster
        .master_proc(leader)
        .is_some_and(|p| p.signal(SIGCONT));
    assert!(sent, "cannot SIGCONT the old leader");
    let status = cluster.wait_stepped_down(leader).await;
    assert_eq!(status.code(), Some(3), "the old leader's exit status");
    // The new leader still leads, and nothing was lost meanwhile.
    let (still, _) = cluster.wait_leader("the new leader", |_, _| true).await;
    assert_eq!(still, new_leader, "leadership moved again");
    cluster.retire_master(leader);
    cluster.check_invariants(&base).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zookeeper_restart_loses_no_task() {
    let Some(mut cluster) = start("zk-restart", HaConfig::default()).await else {
        return;
    };
    let base = cluster.baseline().await;
    let (leader, _) = cluster.wait_leader("the leader", |_, _| true).await;
    cluster.zk.stop();
    // Without ZooKeeper past its session timeout, the leader gives up leadership and exits
    // (a supervisor restarts it).
    let start = Instant::now();
    loop {
        let exited = cluster
            .master_proc(leader)
            .and_then(|p| p.child.try_wait().ok().flatten());
        if let Some(status) = exited {
            assert_eq!(status.code(), Some(3), "the leader's exit status");
            break;
        }
        if start.elapsed() > LIMIT {
            cluster.fail("the leader kept leading without ZooKeeper");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // The tasks kept running meanwhile.
    assert!(base.task_pids.is_subset(&cluster.task_pids()));
    cluster.zk.start_again().await;
    // Supervise until some master leads the whole cluster again.
    let n = HaConfig::default().agents as u64;
    let start = Instant::now();
    loop {
        cluster.supervise().await;
        if let Some((_, s)) = cluster.leader_state().await {
            let back = s["activated_slaves"].as_u64() == Some(n)
                && framework(&s).is_some_and(|f| {
                    f["active"] == true && base.tasks.is_subset(&running_tasks(f))
                });
            if back {
                break;
            }
        }
        if start.elapsed() > LIMIT {
            cluster.fail("the cluster did not recover after the ZooKeeper restart");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cluster.supervise().await;
    cluster.check_invariants(&base).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_leader_kills_in_a_row_lose_no_task() {
    let config = HaConfig {
        masters: 3,
        ..HaConfig::default()
    };
    let Some(mut cluster) = start("leader-churn", config).await else {
        return;
    };
    let base = cluster.baseline().await;
    let mut leaders = Vec::new();
    for round in 1..=3 {
        let (leader, state) = cluster.wait_leader("the leader", |_, _| true).await;
        let killed_at = Instant::now();
        cluster.kill_master(leader);
        let (new_leader, times) = cluster
            .wait_recovered(&base, Some((leader, &state["id"])), killed_at)
            .await;
        eprintln!(
            "round {round}: master-{} killed, master-{} leads; {times:?}",
            leader + 1,
            new_leader + 1
        );
        leaders.push(leader);
        cluster.start_master(leader).await;
    }
    assert_eq!(leaders.len(), 3);
    cluster.check_invariants(&base).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_scheduler_fails_over_and_adopts_its_tasks() {
    let Some(mut cluster) = start("scheduler-failover", HaConfig::default()).await else {
        return;
    };
    let base = cluster.baseline().await;
    cluster
        .wait_framework_log("Registered with framework ID")
        .await;
    cluster.kill_framework();
    // The master keeps the framework (failover timeout) and its tasks, inactive.
    cluster
        .wait_leader("the framework inactive with its tasks", |_, s| {
            framework(s).is_some_and(|f| f["active"] == false && running_tasks(f) == base.tasks)
        })
        .await;
    cluster.start_framework();
    cluster.wait_framework_log("Reconciled: 3 task(s)").await;
    cluster.check_invariants(&base).await;
    // The failed-over scheduler adopted the tasks and launched nothing.
    let view = cluster::ha::framework_view(&cluster.framework_log());
    assert_eq!(
        view.keys()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>(),
        base.tasks,
        "the restarted scheduler launched new tasks"
    );
}

/// Issue 10: an agent is partitioned (SIGSTOP) while the new leader waits for
/// re-registrations. The new leader marks it unreachable after
/// `--agent_reregister_timeout` (durably), telling the framework only that the agent is
/// lost. When the agent comes back its tasks are adopted with their processes (nobody was
/// told they are lost), and nothing runs twice: exactly `instances` tasks run, one
/// executor each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_partitioned_while_the_new_leader_waits_for_it_keeps_tasks_nobody_was_told_lost() {
    let config = HaConfig {
        agent_reregister_timeout: Some("3secs".into()),
        ..HaConfig::default()
    };
    let instances = config.instances;
    let Some(mut cluster) = start("partition-during-failover", config).await else {
        return;
    };
    let base = cluster.baseline().await;
    // The agent to partition: one that runs tasks.
    let sleeps_on = |c: &HaCluster, i: usize| -> Vec<i32> {
        cluster::ha::processes_under(&c.agent_dir(i))
            .into_iter()
            .filter(|(_, comm)| comm == "sleep")
            .map(|(pid, _)| pid)
            .collect()
    };
    let victim = if sleeps_on(&cluster, 0).is_empty() {
        1
    } else {
        0
    };
    let before = sleeps_on(&cluster, victim);
    assert!(!before.is_empty(), "no agent runs a task");
    let (leader, state) = cluster.wait_leader("the leader", |_, _| true).await;
    let stopped = cluster
        .agent_proc(victim)
        .is_some_and(|p| p.signal(SIGSTOP));
    assert!(stopped, "cannot SIGSTOP the agent");
    cluster.kill_master(leader);
    let old_id = state["id"].clone();
    // The new leader gives up on the silent agent: unreachable.
    cluster
        .wait_leader(
            "the stopped agent unreachable under the new leader",
            |i, s| i != leader && s["id"] != old_id && s["unreachable_slaves"].as_u64() == Some(1),
        )
        .await;
    let resumed = cluster
        .agent_proc(victim)
        .is_some_and(|p| p.signal(SIGCONT));
    assert!(resumed, "cannot SIGCONT the agent");
    // It comes back. The new leader never knew its tasks, so it told the framework only
    // that the agent was lost, never that a task was: the tasks are adopted and keep
    // their processes (Mesos: an unreachable agent may re-register later). Killing them
    // would end tasks the framework still believes are running.
    let start = Instant::now();
    let running = loop {
        let (_, s) = cluster
            .wait_leader("both agents back and every instance running", |_, s| {
                s["activated_slaves"].as_u64() == Some(2)
                    && framework(s).is_some_and(|f| {
                        f["id"] == base.framework_id.as_str() && running_tasks(f).len() == instances
                    })
            })
            .await;
        let running = framework(&s).map(running_tasks).unwrap_or_default();
        let alive: Vec<i32> = before
            .iter()
            .copied()
            .filter(|p| !cluster::testkit::dead_or_zombie(*p))
            .collect();
        let procs = cluster::ha::processes_under(cluster.work_dir());
        let executors = procs.iter().filter(|(_, c)| c == "mesos-executor").count();
        let sleeps = procs.iter().filter(|(_, c)| c == "sleep").count();
        if alive == before && executors == instances && sleeps == instances {
            break running;
        }
        if start.elapsed() > LIMIT {
            cluster.fail(&format!(
                "after the partition: running {running:?}, {executors} executors, {sleeps} \
                 task processes; the partitioned agent's task processes alive: {alive:?} of \
                 {before:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // The framework's view: no task ended twice, and no task that ended still runs.
    let view = cluster::ha::framework_view(&cluster.framework_log());
    for (id, states) in &view {
        let ended = states
            .iter()
            .filter(|s| cluster::ha::is_terminal(s))
            .count();
        if ended > 1 || (ended == 1 && running.contains(id)) {
            cluster.fail(&format!("task {id}: {states:?}; running: {running:?}"));
        }
    }
}

/// The session timeout of the ZooKeeper-restart scenarios: a restart of the test server
/// takes well under a second on an idle machine, a few seconds when several suites start
/// JVMs at once; the restart must stay within the lease (3/4 of this) for the leader to
/// keep leading.
const RESTART_SESSION: &str = "8secs";
const RESTART_SESSION_TIMEOUT: Duration = Duration::from_secs(8);

/// The session timeout of the scenario that silences ZooKeeper through the proxy.
const BLACKHOLE_SESSION: &str = "4secs";
const BLACKHOLE_SESSION_TIMEOUT: Duration = Duration::from_secs(4);

/// Restarts ZooKeeper (SIGKILL, then start on the same port and data dir); returns how
/// long it was down.
async fn restart_zookeeper(cluster: &mut HaCluster) -> Duration {
    let t0 = Instant::now();
    cluster.zk.stop();
    cluster.zk.start_again().await;
    let down = t0.elapsed();
    eprintln!("ZooKeeper was down for {down:?}");
    down
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zookeeper_restart_then_a_leader_kill_fails_over_on_its_own() {
    let config = HaConfig {
        zk_session_timeout: RESTART_SESSION.into(),
        ..HaConfig::default()
    };
    let Some(mut cluster) = start("zk-restart-then-kill", config).await else {
        return;
    };
    let base = cluster.baseline().await;
    let (leader, state) = cluster.wait_leader("the leader", |_, _| true).await;
    let id = state["id"].clone();
    let down = restart_zookeeper(&mut cluster).await;
    assert!(
        down < RESTART_SESSION_TIMEOUT / 2,
        "ZooKeeper restart too slow: {down:?}"
    );
    // Every session survived: the leader keeps leading (it does not exit), for longer
    // than the session timeout and the lease, and the same instance leads afterwards.
    cluster
        .hold_leader(
            leader,
            &id,
            RESTART_SESSION_TIMEOUT + Duration::from_secs(2),
        )
        .await;
    cluster
        .wait_leader("the same leader after the ZooKeeper restart", |i, s| {
            i == leader && s["id"] == id
        })
        .await;
    // Then the leader dies: the standby, which went through the same restart, must notice
    // on its own (no supervisor restarts anything) and take over.
    let killed_at = Instant::now();
    cluster.kill_master(leader);
    let (new_leader, times) = cluster
        .wait_recovered(&base, Some((leader, &id)), killed_at)
        .await;
    eprintln!(
        "after the ZooKeeper restart, SIGKILL of master-{} -> master-{} leads: {times:?}",
        leader + 1,
        new_leader + 1
    );
    cluster.check_invariants(&base).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zookeeper_restart_while_a_framework_launches_loses_nothing() {
    let config = HaConfig {
        zk_session_timeout: RESTART_SESSION.into(),
        ..HaConfig::default()
    };
    let Some(mut cluster) = HaCluster::start_without_framework("zk-restart-launch", config).await
    else {
        eprintln!("SKIPPED: ZooKeeper is not installed (apt-get install zookeeper)");
        return;
    };
    let (leader, state) = cluster.wait_leader("the leader", |_, _| true).await;
    let id = state["id"].clone();
    cluster.start_framework();
    // The framework registered and is being offered resources / launching: restart
    // ZooKeeper under it.
    cluster
        .wait_framework_log("Registered with framework ID")
        .await;
    restart_zookeeper(&mut cluster).await;
    let base = cluster.baseline().await;
    cluster
        .wait_leader("the same leader after the ZooKeeper restart", |i, s| {
            i == leader && s["id"] == id
        })
        .await;
    cluster.check_invariants(&base).await;
    // Exactly the configured tasks were launched, each once.
    let view = cluster::ha::framework_view(&cluster.framework_log());
    assert_eq!(view.len(), HaConfig::default().instances, "{view:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zookeeper_unreachable_mid_request_keeps_the_leader() {
    let config = HaConfig {
        zk_session_timeout: BLACKHOLE_SESSION.into(),
        ..HaConfig::default()
    };
    let Some(mut cluster) = start("zk-blackhole", config).await else {
        return;
    };
    let base = cluster.baseline().await;
    let (leader, state) = cluster.wait_leader("the leader", |_, _| true).await;
    let id = state["id"].clone();
    // Silence first, so that the masters' periodic reads are in flight when their clients
    // give the connections up; then refuse connections; then restore, all within the
    // session timeout.
    let accepted = cluster.zk_proxy.accepted();
    let t0 = Instant::now();
    cluster.zk_proxy.blackhole();
    // The masters (session timeout 4 s, reading every second) give their connections up
    // first, with a read in flight, and try new ones; the agents and the framework
    // (Mesos's default 10 s) would take longer.
    while cluster.zk_proxy.accepted() < accepted + 2 {
        if t0.elapsed() > BLACKHOLE_SESSION_TIMEOUT {
            cluster.fail("the ZooKeeper clients did not give up their silent connections");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cluster.zk_proxy.cut();
    cluster.zk_proxy.restore();
    eprintln!("ZooKeeper unreachable for {:?}", t0.elapsed());
    cluster
        .hold_leader(leader, &id, 2 * BLACKHOLE_SESSION_TIMEOUT)
        .await;
    cluster
        .wait_leader("the same leader after the outage", |i, s| {
            i == leader && s["id"] == id
        })
        .await;
    cluster.check_invariants(&base).await;
}

//! In-process integration tests: a master and its agents on one libproc node
//! ([`LocalCluster`]), driven by a scheduler written here with `frameworks::scheduler`.
//! Executors are real `mesos-executor` processes (build the binaries first:
//! `cargo build --workspace --bins`), so time is real; every wait is bounded.
//!
//! Mesos tests ported here (by behaviour): `PartitionTest.PartitionedSlave`
//! (`a_silent_agent_is_lost_and_its_tasks_with_it`: the agent's pongs are dropped) and
//! `PartitionTest.OneWayPartitionMasterToSlave`
//! (`a_one_way_partition_from_master_to_agent_loses_the_agent`: the master's pings are
//! dropped) and `PartitionTest.ReregisterSlavePartitionAware`
//! (`a_partition_aware_framework_gets_its_task_back_when_the_agent_returns`), and a
//! framework torn down during a partition stays torn down when it heals
//! (`a_framework_torn_down_during_a_partition_does_not_get_its_task_back`). Other failover ports live next to their component: `MasterFailover` and
//! `SplitBrainMasters` in `tests/tests/failover.rs` (real processes) and
//! `master/tests/zk_failover.rs`; `SchedulerFailover`, `SchedulerFailoverStatusUpdate` and
//! `FrameworkReliableRegistration` in `frameworks/tests/{scheduler,detection}.rs`;
//! `SlaveReliableRegistration` in `slave/tests/registration.rs`; `ReconnectExecutor`, `RecoverTaskStatusUpdateManager` and `RecoverTerminatedExecutor` in
//! `slave/tests/recovery.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cluster::local::{LocalCluster, LocalConfig};
use cluster::procs;
use cluster::testkit::{dead_or_zombie, live_group_members, proc_stat, require_bins, TempDir};
use frameworks::scheduler::recorder::{Recorder, SchedulerEvent as Event};
use frameworks::scheduler::{self, SchedulerHandle};
use libproc::testing::within;
use libproc::{Match, Node, NodeConfig};
use proto::messages::{PingSlaveMessage, PongSlaveMessage};
use proto::{
    AgentId, CommandInfo, Filters, FrameworkId, FrameworkInfo, Offer, OfferId, Reason, Resources,
    TaskId, TaskInfo, TaskState, TaskStatus,
};
use serde_json::Value;
use tokio::sync::mpsc;

/// Bound on anything a test waits for (generous: the machine may be loaded).
const LIMIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------
// A scheduler that forwards every callback to the test, which acts through the driver.
// ---------------------------------------------------------------------------------------

/// The test's view of its framework: every event recorded, offers kept until used.
struct Framework {
    handle: SchedulerHandle<Recorder>,
    rx: mpsc::UnboundedReceiver<Event>,
    id: Option<FrameworkId>,
    /// Offers received and not yet taken by the test.
    offers: Vec<Offer>,
    /// Every status per task, in arrival order.
    statuses: BTreeMap<String, Vec<TaskStatus>>,
    lost_agents: Vec<AgentId>,
    errors: Vec<String>,
}

impl Framework {
    fn start(node: &Node, master: &libproc::Pid, name: &str) -> Framework {
        let info = FrameworkInfo::new(name, frameworks::cli::current_user());
        Framework::start_with(node, master, info)
    }

    fn start_with(node: &Node, master: &libproc::Pid, info: FrameworkInfo) -> Framework {
        let (recorder, rx) = Recorder::new();
        let handle =
            scheduler::run(node, master.clone(), info, recorder).unwrap_or_else(|e| panic!("{e}"));
        Framework {
            handle,
            rx,
            id: None,
            offers: Vec::new(),
            statuses: BTreeMap::new(),
            lost_agents: Vec::new(),
            errors: Vec::new(),
        }
    }

    fn record(&mut self, e: Event) {
        match e {
            Event::Registered(id, _) => self.id = Some(id),
            Event::Offers(o) => self.offers.extend(o),
            Event::Rescinded(id) => self.offers.retain(|o| o.id != id),
            Event::Status(s) => self
                .statuses
                .entry(s.task_id.as_str().to_string())
                .or_default()
                .push(s),
            Event::AgentLost(a) => self.lost_agents.push(a),
            Event::Error(m) => self.errors.push(m),
            _ => {}
        }
    }

    /// Takes in events until `done` holds (bounded by `limit`).
    async fn until(&mut self, what: &str, limit: Duration, done: impl Fn(&Framework) -> bool) {
        let wait = async {
            while !done(self) {
                match self.rx.recv().await {
                    Some(e) => self.record(e),
                    None => panic!("the scheduler driver stopped while waiting for {what}"),
                }
            }
        };
        if tokio::time::timeout(limit, wait).await.is_err() {
            panic!(
                "timed out after {limit:?} waiting for {what}; statuses: {:?}; offers: {}; errors: {:?}",
                self.summary(),
                self.offers.len(),
                self.errors
            );
        }
    }

    /// Waits for an offer satisfying `pred` and takes it.
    async fn take_offer(&mut self, what: &str, pred: impl Fn(&Offer) -> bool) -> Offer {
        self.until(what, LIMIT, |f| f.offers.iter().any(&pred))
            .await;
        let i = self.offers.iter().position(&pred).unwrap_or_default();
        self.offers.remove(i)
    }

    /// The states each task went through.
    fn summary(&self) -> BTreeMap<String, Vec<TaskState>> {
        self.statuses
            .iter()
            .map(|(k, v)| (k.clone(), v.iter().map(|s| s.state).collect()))
            .collect()
    }

    fn states(&self, task: &str) -> Vec<TaskState> {
        self.statuses
            .get(task)
            .map(|v| v.iter().map(|s| s.state).collect())
            .unwrap_or_default()
    }

    fn has(&self, task: &str, state: TaskState) -> bool {
        self.states(task).contains(&state)
    }

    fn status(&self, task: &str, state: TaskState) -> TaskStatus {
        self.statuses
            .get(task)
            .and_then(|v| v.iter().find(|s| s.state == state))
            .cloned()
            .unwrap_or_else(|| panic!("task {task} never reached {state}: {:?}", self.states(task)))
    }

    /// ACCEPT `offers` with one LAUNCH of `tasks` (remaining resources come back at once).
    async fn launch(&self, offers: Vec<OfferId>, tasks: Vec<TaskInfo>) {
        self.handle
            .process
            .call(move |p, ctx| {
                p.with_driver(ctx, |_s, d| d.launch(offers, tasks, Filters::refuse(0.0)))
            })
            .await
            .unwrap_or_else(|_| panic!("the scheduler driver is gone"));
    }

    /// Explicit reconciliation of `statuses`.
    async fn reconcile(&self, statuses: Vec<TaskStatus>) {
        self.handle
            .process
            .call(move |p, ctx| p.with_driver(ctx, |_s, d| d.reconcile(statuses)))
            .await
            .unwrap_or_else(|_| panic!("the scheduler driver is gone"));
    }

    async fn kill(&self, task: &str) {
        let id = TaskId::from(task);
        self.handle
            .process
            .call(move |p, ctx| p.with_driver(ctx, |_s, d| d.kill(id)))
            .await
            .unwrap_or_else(|_| panic!("the scheduler driver is gone"));
    }
}

// ---------------------------------------------------------------------------------------
// Cluster set-up and helpers.
// ---------------------------------------------------------------------------------------

struct Setup {
    node: Node,
    cluster: LocalCluster,
    dir: TempDir,
}

impl Setup {
    /// A node with a master (fast allocation) and `agents` agents of `cpus:4;mem:4096`.
    async fn start(prefix: &str, agents: usize, tweak: impl FnOnce(&mut LocalConfig)) -> Setup {
        require_bins(&["mesos-executor"]);
        let dir = TempDir::new(prefix);
        let node = Node::bind(NodeConfig::local())
            .await
            .unwrap_or_else(|e| panic!("cannot bind a node: {e}"));
        let mut config = LocalConfig::new(agents, dir.path().join("work"));
        config.master.ip = node.addr().ip();
        config.master.port = node.addr().port();
        config.master.allocation_interval = Duration::from_millis(50);
        config.agent_resources = Some(resources("cpus:4;mem:4096;disk:1024"));
        config.launcher_dir = Some(procs::bin_dir());
        tweak(&mut config);
        let cluster = LocalCluster::start(&node, config).unwrap_or_else(|e| panic!("{e}"));
        Setup { node, cluster, dir }
    }

    /// The agent id of agent `i` (0-based), once it has registered.
    async fn agent_id(&self, i: usize) -> AgentId {
        let agent = &self.cluster.agents[i];
        within(LIMIT, "the agent's registration", async {
            loop {
                let id = agent
                    .process
                    .call(|a, _| a.agent_id().cloned())
                    .await
                    .ok()
                    .flatten();
                if let Some(id) = id {
                    return id;
                }
                // The agent registers on its own; give it its turn.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
    }

    /// `/master/state` over HTTP on the node.
    async fn master_state(&self) -> Value {
        procs::get_json(self.node.addr(), "/master/state")
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Shuts every agent down (killing their executors), bounded.
    async fn shutdown(self) {
        for a in &self.cluster.agents {
            within(LIMIT, "an agent shutdown", a.shutdown()).await;
        }
        drop(self.dir);
    }
}

fn resources(text: &str) -> Resources {
    text.parse()
        .unwrap_or_else(|e| panic!("bad resources '{text}': {e:?}"))
}

fn task(id: &str, agent: &AgentId, res: &str, command: &str) -> TaskInfo {
    TaskInfo::command_task(
        format!("task {id}"),
        TaskId::from(id),
        agent.clone(),
        resources(res),
        CommandInfo::shell(command),
    )
}

/// Reads a pid written by a task, waiting (bounded) for the file to appear: the task
/// writes it after it started, which the test cannot otherwise observe.
async fn read_pid(path: &Path) -> i32 {
    within(LIMIT, &format!("the pid file {}", path.display()), async {
        loop {
            if let Some(pid) = std::fs::read_to_string(path)
                .ok()
                .and_then(|t| t.trim().parse::<i32>().ok())
            {
                return pid;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

/// Kills the process groups whose leaders' pids were written to these files when
/// dropped: a failing kill test must not leave `sleep`s behind.
struct PidFileGuard(Vec<PathBuf>);

impl Drop for PidFileGuard {
    fn drop(&mut self) {
        use nix::sys::signal::{kill, Signal};
        use nix::unistd::Pid;
        for f in &self.0 {
            if let Some(pid) = std::fs::read_to_string(f)
                .ok()
                .and_then(|t| t.trim().parse::<i32>().ok())
            {
                if pid > 1 {
                    let _ = kill(Pid::from_raw(-pid), Signal::SIGKILL);
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
        }
    }
}

/// Every task of every framework in `/master/state`, by id: (list it is in, state).
fn master_tasks(state: &Value) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    for key in ["frameworks", "completed_frameworks"] {
        for f in state[key].as_array().into_iter().flatten() {
            for list in ["tasks", "unreachable_tasks", "completed_tasks"] {
                for t in f[list].as_array().into_iter().flatten() {
                    if let (Some(id), Some(s)) = (t["id"].as_str(), t["state"].as_str()) {
                        out.insert(id.to_string(), (list.to_string(), s.to_string()));
                    }
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------------------------

#[actix_rt::test]
async fn killing_a_running_task_kills_its_process_group() {
    let setup = Setup::start("kill", 1, |_| {}).await;
    let mut fw = Framework::start(&setup.node, setup.cluster.master_pid(), "killer");
    let pid_file = setup.dir.path().join("pid");
    let child_file = setup.dir.path().join("child");
    let _guard = PidFileGuard(vec![pid_file.clone(), child_file.clone()]);
    let offer = fw.take_offer("an offer", |_| true).await;
    let command = format!(
        "sleep 1000 & echo $! > {}; echo $$ > {}; wait",
        child_file.display(),
        pid_file.display()
    );
    fw.launch(
        vec![offer.id],
        vec![task(
            "sleeper",
            &offer.agent_id,
            "cpus:0.1;mem:32",
            &command,
        )],
    )
    .await;
    fw.until("TASK_RUNNING", LIMIT, |f| {
        f.has("sleeper", TaskState::Running)
    })
    .await;
    let pid = read_pid(&pid_file).await;
    let child = read_pid(&child_file).await;
    let shell = proc_stat(pid).unwrap_or_else(|| panic!("the task's shell {pid} is not running"));
    assert!(!shell.is_zombie());
    let pgid = shell.pgrp;
    assert_eq!(pgid, pid, "the task leads its own process group");
    assert_eq!(
        proc_stat(child).map(|p| p.pgrp),
        Some(pgid),
        "the child is in the task's group"
    );

    fw.kill("sleeper").await;
    fw.until("TASK_KILLED", LIMIT, |f| {
        f.has("sleeper", TaskState::Killed)
    })
    .await;
    let states = fw.states("sleeper");
    assert_eq!(states.first(), Some(&TaskState::Running), "{states:?}");
    assert_eq!(states.last(), Some(&TaskState::Killed), "{states:?}");
    assert!(
        !states
            .iter()
            .any(|s| *s != TaskState::Running && *s != TaskState::Killed),
        "{states:?}"
    );

    // The executor SIGKILLs the group before it reports TASK_KILLED; only reaping may lag.
    let gone = within(LIMIT, "the task's process group to die", async {
        loop {
            let live = live_group_members(pgid);
            if live.is_empty() && dead_or_zombie(pid) && dead_or_zombie(child) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    gone.await;
    // kill(-pgid, 0): no such group, or only unreaped zombies left in it.
    use nix::sys::signal::kill;
    match kill(nix::unistd::Pid::from_raw(-pgid), None) {
        Err(nix::errno::Errno::ESRCH) => {}
        Ok(()) => assert!(
            live_group_members(pgid).is_empty(),
            "live processes remain in group {pgid}"
        ),
        Err(e) => panic!("kill(-{pgid}, 0): {e}"),
    }
    setup.shutdown().await;
}

#[actix_rt::test]
async fn invalid_launches_get_task_error_while_valid_tasks_run() {
    let setup = Setup::start("invalid", 2, |_| {}).await;
    let mut fw = Framework::start(&setup.node, setup.cluster.master_pid(), "validator");
    let first = fw.take_offer("a first offer", |_| true).await;
    let a = first.agent_id.clone();
    let small = "cpus:0.1;mem:32";
    fw.launch(
        vec![first.id.clone()],
        vec![
            task("valid-1", &a, small, "true"),
            // (a) more than the offer holds.
            task("too-big", &a, "cpus:1000;mem:32", "true"),
            // (b) the same id twice in one accept: the first runs, the second is not
            // launched and gets no TASK_ERROR (it would contradict the running task).
            task("dup", &a, small, "true"),
            task("dup", &a, small, "true"),
            // (c) an agent that is not the offer's.
            task("elsewhere", &AgentId::new("no-such-agent"), small, "true"),
            task("valid-2", &a, small, "true"),
        ],
    )
    .await;
    // (d) the same offer again: it is used up.
    fw.launch(
        vec![first.id.clone()],
        vec![task("reused", &a, small, "true")],
    )
    .await;
    // A later accept on a fresh offer runs normally.
    let next = fw.take_offer("another offer", |o| o.id != first.id).await;
    fw.launch(
        vec![next.id],
        vec![task("later", &next.agent_id, small, "true")],
    )
    .await;

    let finished = ["valid-1", "valid-2", "dup", "later"];
    let errored = ["too-big", "elsewhere", "reused"];
    fw.until("every task's outcome", LIMIT, |f| {
        finished.iter().all(|t| f.has(t, TaskState::Finished))
            && errored.iter().all(|t| f.has(t, TaskState::Error))
    })
    .await;

    let check = |t: &str, reason: Reason, words: &[&str]| {
        let s = fw.status(t, TaskState::Error);
        assert_eq!(s.reason, Some(reason), "{t}: {s:?}");
        let m = s.message.clone().unwrap_or_default();
        assert!(
            words.iter().all(|w| m.contains(w)),
            "{t}: message '{m}' lacks {words:?}"
        );
    };
    check("too-big", Reason::TaskInvalid, &["more resources"]);
    check(
        "elsewhere",
        Reason::TaskInvalid,
        &["no-such-agent", a.as_str()],
    );
    check("reused", Reason::InvalidOffers, &[first.id.as_str()]);
    for t in ["too-big", "elsewhere", "reused"] {
        assert_eq!(fw.states(t), vec![TaskState::Error], "{t} never ran");
    }
    for t in ["valid-1", "valid-2", "dup", "later"] {
        assert!(!fw.has(t, TaskState::Error), "{t}: {:?}", fw.states(t));
    }
    assert_eq!(
        fw.states("dup")
            .iter()
            .filter(|s| **s == TaskState::Finished)
            .count(),
        1
    );
    setup.shutdown().await;
}

#[actix_rt::test]
async fn fifty_tasks_report_each_state_exactly_once() {
    // Fast retries: an update that was delivered but not acknowledged would come again.
    let setup = Setup::start("fifty", 2, |c| {
        c.tweak_agent = Some(|_, a| {
            a.status_update_retry_interval_min = Duration::from_millis(200);
            a.status_update_retry_interval_max = Duration::from_millis(400);
        })
    })
    .await;
    let mut fw = Framework::start(&setup.node, setup.cluster.master_pid(), "fifty");
    let each = resources("cpus:0.1;mem:32");
    let total = 50;
    let mut launched = 0;
    while launched < total {
        let offer = fw.take_offer("an offer", |_| true).await;
        let mut left = offer.resources.clone();
        let mut tasks = Vec::new();
        while launched < total && left.contains(&each) {
            left = &left - &each;
            tasks.push(task(
                &format!("t{launched}"),
                &offer.agent_id,
                "cpus:0.1;mem:32",
                "echo $MESOS_TASK_ID",
            ));
            launched += 1;
        }
        fw.launch(vec![offer.id], tasks).await;
    }
    let ids: Vec<String> = (0..total).map(|i| format!("t{i}")).collect();
    fw.until("50 finished tasks", Duration::from_secs(60), |f| {
        ids.iter().all(|t| {
            f.statuses
                .get(t)
                .is_some_and(|v| v.iter().any(|s| s.state.is_terminal()))
        })
    })
    .await;

    // The master shows them all completed once the acknowledgements went through.
    let fid = fw.id.clone().expect("registered");
    let state = procs::wait_json(
        setup.node.addr(),
        "/master/state",
        LIMIT,
        "50 completed tasks",
        |s| {
            let tasks = master_tasks(s);
            ids.iter().all(|t| {
                tasks
                    .get(t)
                    .is_some_and(|(list, st)| list == "completed_tasks" && st == "TASK_FINISHED")
            })
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let framework = state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["id"] == fid.as_str())
        .expect("framework");
    assert_eq!(
        framework["completed_tasks"].as_array().map(Vec::len),
        Some(total)
    );

    // Every agent is done with the framework once all its updates were acknowledged; no
    // update can be resent after that, so what the framework saw is final.
    for agent in &setup.cluster.agents {
        let fid = fid.clone();
        within(LIMIT, "the agents to drop the finished framework", async {
            loop {
                let f = fid.clone();
                let gone = agent
                    .process
                    .call(move |a, _| !a.frameworks().contains_key(&f))
                    .await
                    .unwrap_or(true);
                if gone {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
    }
    // Anything still queued in the channel counts too.
    while let Ok(e) = fw.rx.try_recv() {
        fw.record(e);
    }
    for t in &ids {
        let states = fw.states(t);
        assert_eq!(
            states,
            vec![TaskState::Running, TaskState::Finished],
            "task {t}"
        );
        let fin = fw.status(t, TaskState::Finished);
        assert!(fin.agent_id.is_some() && fin.uuid.is_some(), "{fin:?}");
    }
    setup.shutdown().await;
}

/// Port of Mesos's `PartitionTest.PartitionedSlave`: the agent's pongs are dropped.
#[actix_rt::test]
async fn a_silent_agent_is_lost_and_its_tasks_with_it() {
    partitioned_agent("agent-lost", false, |agent| {
        Match::message::<PongSlaveMessage>().from(agent)
    })
    .await;
}

/// Port of Mesos's `PartitionTest.OneWayPartitionMasterToSlave`: the master's pings never
/// reach the agent (the agent → master direction works). The master must treat it as
/// partitioned all the same: agent unreachable, its task lost, the other agent untouched.
#[actix_rt::test]
async fn a_one_way_partition_from_master_to_agent_loses_the_agent() {
    partitioned_agent("one-way-partition", true, |agent| {
        Match::message::<PingSlaveMessage>().to(agent)
    })
    .await;
}

/// Two agents with a task each; the traffic `cut(agent 0)` matches is dropped. Agent 0 and
/// its task are lost (TASK_LOST with a reason, `agent_lost`), agent 1 and its task are not.
/// With `may_come_back` agent 0 can still reach the master: missing pings make it
/// re-register on its own (as in Mesos), so the count of activated agents is not checked.
async fn partitioned_agent(
    prefix: &str,
    may_come_back: bool,
    cut: impl Fn(&libproc::Pid) -> Match,
) {
    let setup = Setup::start(prefix, 2, |c| {
        c.master.agent_ping_timeout = Duration::from_secs(1);
        c.master.max_agent_ping_timeouts = 2;
    })
    .await;
    let pid_files: Vec<PathBuf> = (0..2)
        .map(|i| setup.dir.path().join(format!("pid-{i}")))
        .collect();
    let _guard = PidFileGuard(pid_files.clone());
    let ids = [setup.agent_id(0).await, setup.agent_id(1).await];
    let mut fw = Framework::start(&setup.node, setup.cluster.master_pid(), "partitioned");
    for (i, agent) in ids.iter().enumerate() {
        let offer = fw
            .take_offer("an offer from each agent", |o| &o.agent_id == agent)
            .await;
        let cmd = format!("echo $$ > {}; exec sleep 1000", pid_files[i].display());
        fw.launch(
            vec![offer.id],
            vec![task(&format!("on-{i}"), agent, "cpus:0.1;mem:32", &cmd)],
        )
        .await;
    }
    fw.until("both tasks running", LIMIT, |f| {
        f.has("on-0", TaskState::Running) && f.has("on-1", TaskState::Running)
    })
    .await;

    // Agent 0 stops answering pings.
    let filters = setup.node.filters();
    let silent = setup.cluster.agents[0].pid().clone();
    let _cut = filters.drop_all(cut(&silent));
    fw.until("TASK_LOST and agent_lost", LIMIT, |f| {
        f.has("on-0", TaskState::Lost) && f.lost_agents.contains(&ids[0])
    })
    .await;
    let lost = fw.status("on-0", TaskState::Lost);
    assert_eq!(lost.agent_id.as_ref(), Some(&ids[0]), "{lost:?}");
    assert!(lost.reason.is_some(), "{lost:?}");

    // The other agent keeps answering (a pong after the loss) and its task keeps running.
    let healthy = setup.cluster.agents[1].pid().clone();
    within(
        LIMIT,
        "a pong from the healthy agent",
        filters.future::<PongSlaveMessage>(Match::any().from(&healthy)),
    )
    .await;
    while let Ok(e) = fw.rx.try_recv() {
        fw.record(e);
    }
    assert_eq!(fw.states("on-1"), vec![TaskState::Running]);
    assert_eq!(fw.lost_agents, vec![ids[0].clone()]);
    let tasks = master_tasks(&setup.master_state().await);
    assert_eq!(
        tasks.get("on-1").map(|(l, s)| (l.as_str(), s.as_str())),
        Some(("tasks", "TASK_RUNNING")),
        "{tasks:?}"
    );
    let state = setup.master_state().await;
    if !may_come_back {
        assert_eq!(state["activated_slaves"], 1, "{}", state["slaves"]);
    }
    let sleeper = read_pid(&pid_files[1]).await;
    assert!(
        !dead_or_zombie(sleeper),
        "the healthy agent's task process is gone"
    );
    setup.shutdown().await;
}

/// Port of Mesos's `PartitionTest.ReregisterSlavePartitionAware`: a partition-aware
/// framework hears TASK_UNREACHABLE when its agent stops answering pings; when the agent
/// re-registers the task is the master's again (same process, never restarted) and explicit
/// reconciliation answers TASK_RUNNING.
#[actix_rt::test]
async fn a_partition_aware_framework_gets_its_task_back_when_the_agent_returns() {
    let setup = Setup::start("partition-aware", 1, |c| {
        c.master.agent_ping_timeout = Duration::from_secs(1);
        c.master.max_agent_ping_timeouts = 2;
    })
    .await;
    let pid_file = setup.dir.path().join("pid-pa");
    let _guard = PidFileGuard(vec![pid_file.clone()]);
    let agent = setup.agent_id(0).await;
    let mut info = FrameworkInfo::new("partition-aware", frameworks::cli::current_user());
    info.capabilities
        .push(proto::FrameworkCapability::PartitionAware);
    let mut fw = Framework::start_with(&setup.node, setup.cluster.master_pid(), info);
    let offer = fw.take_offer("an offer", |o| o.agent_id == agent).await;
    let cmd = format!("echo $$ > {}; exec sleep 1000", pid_file.display());
    fw.launch(
        vec![offer.id],
        vec![task("pa-task", &agent, "cpus:0.1;mem:32", &cmd)],
    )
    .await;
    fw.until("the task running", LIMIT, |f| {
        f.has("pa-task", TaskState::Running)
    })
    .await;
    let sleeper = read_pid(&pid_file).await;

    // The agent's pongs are dropped until the master gives up on it.
    let filters = setup.node.filters();
    let silent = setup.cluster.agents[0].pid().clone();
    let cut = filters.drop_all(Match::message::<PongSlaveMessage>().from(&silent));
    fw.until("TASK_UNREACHABLE", LIMIT, |f| {
        f.has("pa-task", TaskState::Unreachable)
    })
    .await;
    let unreachable = fw.status("pa-task", TaskState::Unreachable);
    assert_eq!(
        unreachable.agent_id.as_ref(),
        Some(&agent),
        "{unreachable:?}"
    );
    let tasks = master_tasks(&setup.master_state().await);
    assert_eq!(
        tasks.get("pa-task").map(|(l, s)| (l.as_str(), s.as_str())),
        Some(("unreachable_tasks", "TASK_UNREACHABLE")),
        "{tasks:?}"
    );

    // The partition heals: the agent, pinged no more, re-registers with its task.
    drop(cut);
    within(LIMIT, "the task back with the master", async {
        loop {
            let tasks = master_tasks(&setup.master_state().await);
            if tasks.get("pa-task").map(|(l, s)| (l.as_str(), s.as_str()))
                == Some(("tasks", "TASK_RUNNING"))
            {
                return;
            }
            // Polling the master's HTTP state: there is no event to await from outside.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let state = setup.master_state().await;
    assert_eq!(state["activated_slaves"], 1, "{}", state["slaves"]);
    assert!(
        state["slaves"][0]["reregistered_time"].is_number(),
        "{}",
        state["slaves"]
    );
    fw.reconcile(vec![
        TaskStatus::new("pa-task".into(), TaskState::Running).with_agent(agent.clone())
    ])
    .await;
    fw.until("TASK_RUNNING from reconciliation", LIMIT, |f| {
        f.states("pa-task")
            .ends_with(&[TaskState::Unreachable, TaskState::Running])
    })
    .await;
    let answer = fw.statuses["pa-task"]
        .last()
        .cloned()
        .expect("checked by the wait");
    assert_eq!(answer.reason, Some(Reason::Reconciliation), "{answer:?}");
    assert!(
        !dead_or_zombie(sleeper),
        "the task process died; it must run through the partition"
    );
    assert_eq!(read_pid(&pid_file).await, sleeper, "the task was restarted");
    setup.shutdown().await;
}

/// Issue 10: a framework torn down while its agent is partitioned (longer than the ping
/// timeout) must not get its task back when the partition heals. The master used to adopt
/// the task again (the framework showed in both `frameworks` and `completed_frameworks`)
/// and it ran forever; now the returning agent is told to shut the framework down.
#[actix_rt::test]
async fn a_framework_torn_down_during_a_partition_does_not_get_its_task_back() {
    let setup = Setup::start("teardown-partition", 1, |c| {
        c.master.agent_ping_timeout = Duration::from_secs(1);
        c.master.max_agent_ping_timeouts = 2;
    })
    .await;
    let pid_file = setup.dir.path().join("pid-torn");
    let _guard = PidFileGuard(vec![pid_file.clone()]);
    let agent = setup.agent_id(0).await;
    let mut info = FrameworkInfo::new("torn-down", frameworks::cli::current_user());
    info.capabilities
        .push(proto::FrameworkCapability::PartitionAware);
    let mut fw = Framework::start_with(&setup.node, setup.cluster.master_pid(), info);
    let offer = fw.take_offer("an offer", |o| o.agent_id == agent).await;
    let cmd = format!("echo $$ > {}; exec sleep 1000", pid_file.display());
    fw.launch(
        vec![offer.id],
        vec![task("torn", &agent, "cpus:0.1;mem:32", &cmd)],
    )
    .await;
    fw.until("the task running", LIMIT, |f| {
        f.has("torn", TaskState::Running)
    })
    .await;
    let sleeper = read_pid(&pid_file).await;
    let fid = fw.id.clone().expect("registered");

    // Partitioned past the ping timeout: unreachable.
    let filters = setup.node.filters();
    let silent = setup.cluster.agents[0].pid().clone();
    let cut = filters.drop_all(Match::message::<PongSlaveMessage>().from(&silent));
    fw.until("TASK_UNREACHABLE", LIMIT, |f| {
        f.has("torn", TaskState::Unreachable)
    })
    .await;
    // The framework is torn down meanwhile (the agent cannot hear of it).
    fw.handle
        .process
        .call(|p, ctx| p.with_driver(ctx, |_s, d| d.stop(false)))
        .await
        .unwrap_or_else(|_| panic!("the scheduler driver is gone"));
    within(LIMIT, "the teardown", async {
        loop {
            let state = setup.master_state().await;
            let done = state["completed_frameworks"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|f| f["id"] == fid.as_str());
            if done {
                return;
            }
            // Polling the master's HTTP state: there is no event to await from outside.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;

    // The partition heals: the agent re-registers, is told to shut the framework down,
    // and the task's process goes.
    drop(cut);
    within(LIMIT, "the torn-down framework's task killed", async {
        while !dead_or_zombie(sleeper) {
            // A process's death is not an event this test can await.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let state = setup.master_state().await;
    assert!(
        state["slaves"][0]["reregistered_time"].is_number(),
        "{}",
        state["slaves"]
    );
    let active = state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|f| f["id"] == fid.as_str());
    assert!(
        !active,
        "the torn-down framework is back: {}",
        state["frameworks"]
    );
    setup.shutdown().await;
}

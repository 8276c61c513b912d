//! Master failover figures, printed as one JSON object.
//!
//! ```text
//! cargo build --release --workspace --bins
//! cargo build --release -p cluster --example failover_bench
//! target/release/examples/failover_bench --json [--rounds=5] [--only=cluster|scale]
//! ```
//!
//! The benchmark runs the binaries next to it (`target/release/` for a release build of
//! the example, `target/debug/` for a debug one): build both in the same profile.
//!
//! * `cluster`: real processes — 3 `mesos-master`s (`--zk_session_timeout=2secs`) on a
//!   real ZooKeeper (tickTime 200 ms), 5 `mesos-agent`s, `long-lived-framework` with 100
//!   running `sleep` tasks. Each round (5 by default) SIGKILLs the leader and measures the
//!   time to a new leader, to every agent re-registered with it and to the framework
//!   re-registered with all its tasks, then restarts the killed master. Medians over the
//!   rounds; the headline figure is `kill_to_everything_reregistered_ms_median` (a new
//!   leader with every agent *and* the framework back), against a target of 3 s. The
//!   failover invariants ([`cluster::ha::HaCluster::check_invariants`]) are checked at
//!   the end.
//! * `scale`: 2 `mesos-master` processes on ZooKeeper and 1,000 simulated agents (libproc
//!   processes in this program, over one loopback TCP connection). The agents register with
//!   the leader; once its registry (in ZooKeeper) holds them all it is SIGKILLed; when the
//!   other master leads, every agent re-registers with 10 running tasks. Measured: time to
//!   every `SlaveReregisteredMessage`, time until `/master/state` shows all agents and
//!   tasks, and the new leader's RSS before and after.
//!
//! Progress goes to stderr.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cluster::ha::{HaCluster, HaConfig};
use cluster::procs::{get_json, Proc};
use cluster::testkit::{start_server, TempDir};
use detector::zk_test_server::ZkServer;
use libproc::{Ctx, Handlers, Node, NodeConfig, Pid, Process};
use proto::messages::{
    PingSlaveMessage, PongSlaveMessage, RegisterSlaveMessage, ReregisterSlaveMessage,
    SlaveRegisteredMessage, SlaveReregisteredMessage, Task,
};
use proto::{
    AgentId, AgentInfo, CommandInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo,
    Resources, TaskId, TaskState,
};
use serde_json::{json, Value};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

/// The goal for SIGKILL of the leader -> new leader with every agent and the framework
/// re-registered, with `--zk_session_timeout=2secs` in a release build.
const TARGET_MS: f64 = 3000.0;

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e4).round() / 10.0
}

/// (resident, peak resident) MiB of process `pid`.
fn rss_mb(pid: i32) -> (f64, f64) {
    let m = libproc::procfs::memory(Some(pid)).unwrap_or_default();
    (m.rss_kib as f64 / 1024.0, m.peak_rss_kib as f64 / 1024.0)
}

/// (total, busy) CPU time of the machine from `/proc/stat`: the run's busy share, the
/// benchmark's own processes included, says how loaded the machine was.
fn cpu_times() -> (u64, u64) {
    libproc::procfs::cpu_times().map_or((0, 0), |t| (t.total, t.busy))
}

async fn cluster_rounds(rounds: usize) -> Value {
    let config = HaConfig {
        masters: 3,
        agents: 5,
        agent_resources: "cpus:4;mem:4096;disk:4096".into(),
        instances: 100,
        task_resources: "cpus:0.1;mem:32".into(),
        framework_failover: true,
        zk_session_timeout: "2secs".into(),
        limit: Duration::from_secs(180),
        agent_reregister_timeout: None,
        master_hostname: None,
        fault_injection: false,
        master_flags: Vec::new(),
    };
    eprintln!("cluster: starting 3 masters, 5 agents, 100 tasks");
    let setup = Instant::now();
    let Some(mut cluster) = HaCluster::start("failover-bench", config).await else {
        return json!({"skipped": "ZooKeeper is not installed"});
    };
    let setup_s = setup.elapsed().as_secs_f64();
    let base = cluster.baseline().await;
    let mut leader_ms = Vec::new();
    let mut agents_ms = Vec::new();
    let mut framework_ms = Vec::new();
    let mut everything_ms = Vec::new();
    for round in 1..=rounds {
        let (leader, state) = cluster.wait_leader("the leader", |_, _| true).await;
        let killed_at = Instant::now();
        cluster.kill_master(leader);
        let (new_leader, [l, a, f]) = cluster
            .wait_recovered(&base, Some((leader, &state["id"])), killed_at)
            .await;
        eprintln!(
            "round {round}: master-{} killed, master-{} leads after {l:?}; agents {a:?}; framework {f:?}",
            leader + 1,
            new_leader + 1
        );
        leader_ms.push(ms(l));
        agents_ms.push(ms(a));
        framework_ms.push(ms(f));
        everything_ms.push(ms(a.max(f)));
        cluster.start_master(leader).await;
    }
    cluster.check_invariants(&base).await;
    json!({
        "masters": 3,
        "agents": 5,
        "tasks": 100,
        "zk_session_timeout_s": 2,
        "zk_tick_ms": detector::zk_test_server::TICK.as_millis() as u64,
        "rounds": rounds,
        "setup_s": setup_s,
        "kill_to_everything_reregistered_ms_median": median(everything_ms.clone()),
        "target_ms": TARGET_MS,
        "within_target": median(everything_ms.clone()) <= TARGET_MS,
        "kill_to_new_leader_ms_median": median(leader_ms.clone()),
        "kill_to_all_agents_reregistered_ms_median": median(agents_ms.clone()),
        "kill_to_framework_reregistered_ms_median": median(framework_ms.clone()),
        "kill_to_new_leader_ms": leader_ms,
        "kill_to_all_agents_reregistered_ms": agents_ms,
        "kill_to_framework_reregistered_ms": framework_ms,
        "kill_to_everything_reregistered_ms": everything_ms,
        "invariants_ok": true,
        "note": "times are first seen by polling /master/state every 25 ms",
    })
}

/// What a simulated agent reports to the benchmark.
enum Ev {
    Registered(usize, AgentId),
    Reregistered,
}

/// A simulated agent: answers pings and reports (re)registration.
struct SimAgent {
    index: usize,
    tx: UnboundedSender<Ev>,
}

impl Process for SimAgent {
    fn install(h: &mut Handlers<Self>) {
        h.on(
            |_me: &mut SimAgent, ctx: &mut Ctx<Self>, from: Pid, _p: PingSlaveMessage| {
                ctx.send(&from, PongSlaveMessage {});
            },
        );
        h.on(
            |me: &mut SimAgent, _ctx: &mut Ctx<Self>, _from: Pid, m: SlaveRegisteredMessage| {
                let _ = me.tx.send(Ev::Registered(me.index, m.slave_id));
            },
        );
        h.on(
            |me: &mut SimAgent, _ctx: &mut Ctx<Self>, _from: Pid, _m: SlaveReregisteredMessage| {
                let _ = me.tx.send(Ev::Reregistered);
            },
        );
    }
}

async fn leader_of(addrs: &[SocketAddr]) -> Option<usize> {
    for (i, a) in addrs.iter().enumerate() {
        let ask = get_json(*a, "/master/state");
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(2), ask).await {
            return Some(i);
        }
    }
    None
}

async fn poll<T>(what: &str, limit: Duration, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if start.elapsed() > limit {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn scale(num_agents: usize, tasks_per_agent: usize) -> Value {
    let limit = Duration::from_secs(300);
    let Some(zk) = ZkServer::start().await else {
        return json!({"skipped": "ZooKeeper is not installed"});
    };
    let dir = TempDir::new("failover-bench-scale");
    let logs = dir.path().join("logs");
    let zk_arg = format!("--zk=zk://{}/mesos", zk.servers());
    let mut masters: Vec<Proc> = Vec::new();
    let mut addrs = Vec::new();
    for i in 1..=2 {
        let work = dir.path().join(format!("master-{i}"));
        let (p, addr) = start_server(
            &format!("master-{i}"),
            "mesos-master",
            |port| {
                vec![
                    format!("--port={port}"),
                    zk_arg.clone(),
                    "--quorum=1".into(),
                    "--zk_session_timeout=2secs".into(),
                    "--registry=zookeeper".into(),
                    format!("--work_dir={}", work.display()),
                    "--quiet=true".into(),
                ]
            },
            "/master/health",
            &logs,
        )
        .await
        .expect("start mesos-master (build it first: cargo build --workspace --bins)");
        masters.push(p);
        addrs.push(addr);
    }
    let first = poll("a leader", limit, async || leader_of(&addrs).await).await;
    let other = 1 - first;
    let master_pid =
        |i: usize| -> Pid { format!("master@{}", addrs[i]).parse().expect("master pid") };

    let node = Node::bind(NodeConfig::local()).await.expect("bind");
    let (tx, mut rx) = unbounded_channel();
    let mut pids = Vec::new();
    for index in 0..num_agents {
        let p = node
            .spawn(
                &format!("slave({})", index + 1),
                SimAgent {
                    index,
                    tx: tx.clone(),
                },
            )
            .expect("spawn a simulated agent");
        pids.push(p.pid().clone());
    }
    let resources: Resources = "cpus:16;mem:65536;disk:100000;ports:[31000-32000]"
        .parse()
        .expect("resources");
    let info = |i: usize| AgentInfo::new(format!("sim-{i}.bench"), resources.clone());

    eprintln!(
        "scale: {num_agents} simulated agents register with master-{}",
        first + 1
    );
    let t = Instant::now();
    for (i, pid) in pids.iter().enumerate() {
        node.send(
            pid,
            &master_pid(first),
            RegisterSlaveMessage {
                slave: info(i),
                checkpointed_resources: Resources::new(),
                version: "1.11.0".into(),
            },
        );
    }
    let mut ids: BTreeMap<usize, AgentId> = BTreeMap::new();
    while ids.len() < num_agents {
        match tokio::time::timeout(limit, rx.recv()).await {
            Ok(Some(Ev::Registered(i, id))) => {
                ids.insert(i, id);
            }
            Ok(Some(Ev::Reregistered)) => {}
            _ => panic!("only {} of {num_agents} agents registered", ids.len()),
        }
    }
    let register_ms = ms(t.elapsed());
    // Wait until the leader's registry in ZooKeeper holds every agent.
    let store = master::registry::RegistryStore::ZooKeeper(detector::zk_store::ZkBlobStore::new(
        &zk.url("/mesos"),
        "registry",
        Duration::from_secs(4),
    ));
    poll("the registry to hold every agent", limit, async || {
        store
            .load()
            .await
            .ok()
            .filter(|r| r.agents.len() == num_agents)
    })
    .await;

    // The re-registration messages, built before the clock starts.
    let framework_id = FrameworkId::from("bench-framework-0000");
    let mut fw = FrameworkInfo::new("bench", "root");
    fw.id = Some(framework_id.clone());
    let task_res: Resources = "cpus:1;mem:1024".parse().expect("resources");
    let mut msgs = Vec::new();
    for (i, id) in &ids {
        let mut slave = info(*i);
        slave.id = Some(id.clone());
        let mut tasks = Vec::new();
        let mut executors = Vec::new();
        for k in 0..tasks_per_agent {
            let task_id = TaskId::from(format!("task-{i}-{k}"));
            let executor_id = ExecutorId::from(format!("task-{i}-{k}"));
            let mut e = ExecutorInfo::new(executor_id.clone(), CommandInfo::shell("sleep 1000"));
            e.framework_id = Some(framework_id.clone());
            executors.push(e);
            tasks.push(Task {
                name: task_id.to_string(),
                task_id,
                framework_id: framework_id.clone(),
                executor_id: Some(executor_id),
                agent_id: id.clone(),
                state: TaskState::Running,
                resources: task_res.clone(),
                statuses: Vec::new(),
                status_update_state: None,
                status_update_uuid: None,
                labels: Default::default(),
                role: None,
                user: None,
                container: None,
                health_check: None,
                discovery: None,
            });
        }
        msgs.push(ReregisterSlaveMessage {
            slave,
            checkpointed_resources: Resources::new(),
            executor_infos: executors,
            tasks,
            frameworks: vec![fw.clone()],
            version: "1.11.0".into(),
        });
    }
    let old_rss_mb = rss_mb(masters[first].pid()).0;

    eprintln!("scale: SIGKILL of master-{}", first + 1);
    let killed_at = Instant::now();
    masters[first].kill();
    let new = poll("the other master to lead", limit, async || {
        leader_of(&addrs[other..=other]).await.map(|_| other)
    })
    .await;
    let to_leader_ms = ms(killed_at.elapsed());
    let new_pid = masters[new].pid();
    let rss_before = rss_mb(new_pid).0;

    eprintln!(
        "scale: {num_agents} agents re-register with master-{} ({tasks_per_agent} tasks each)",
        new + 1
    );
    let t = Instant::now();
    for (pid, m) in pids.iter().zip(msgs) {
        node.send(pid, &master_pid(new), m);
    }
    let mut back = 0;
    while back < num_agents {
        match tokio::time::timeout(limit, rx.recv()).await {
            Ok(Some(Ev::Reregistered)) => back += 1,
            Ok(Some(Ev::Registered(..))) => {}
            _ => panic!("only {back} of {num_agents} agents re-registered"),
        }
    }
    let reregister_ms = ms(t.elapsed());
    let want_tasks = num_agents * tasks_per_agent;
    let state = poll(
        "the new leader's state to show everything",
        limit,
        async || {
            let s = get_json(addrs[new], "/master/state").await.ok()?;
            let tasks: usize = s["frameworks"]
                .as_array()?
                .iter()
                .map(|f| f["tasks"].as_array().map_or(0, Vec::len))
                .sum();
            (s["activated_slaves"].as_u64() == Some(num_agents as u64) && tasks == want_tasks)
                .then_some(s)
        },
    )
    .await;
    let rebuilt_ms = ms(t.elapsed());
    let t = Instant::now();
    let body = libproc::testing::http_get(addrs[new], "/master/state")
        .await
        .map(|(_, b)| b.len())
        .unwrap_or(0);
    let state_ms = ms(t.elapsed());
    let rss_after = rss_mb(new_pid).0;
    let rss_peak = rss_mb(new_pid).1;
    drop(state);
    // The new leader must still lead (a master that lost its ZooKeeper session exits).
    let exited = masters[new].child.try_wait().ok().flatten();
    if let Some(status) = exited {
        let log = masters[new].log_text();
        panic!(
            "the new leader exited ({status}) after the re-registrations:\n{}",
            cluster::testkit::tail(&log, 30)
        );
    }
    json!({
        "simulated_agents": num_agents,
        "tasks_per_agent": tasks_per_agent,
        "tasks": want_tasks,
        "register_all_ms": register_ms,
        "kill_to_new_leader_ms": to_leader_ms,
        "reregister_all_ms": reregister_ms,
        "reregister_to_state_rebuilt_ms": rebuilt_ms,
        "master_state_get_ms": state_ms,
        "master_state_bytes": body,
        "old_leader_rss_mb_with_agents_no_tasks": old_rss_mb,
        "new_leader_rss_mb_before_reregistration": rss_before,
        "new_leader_rss_mb_after_reregistration": rss_after,
        "new_leader_rss_peak_mb": rss_peak,
        "note": "masters are mesos-master processes; the agents are libproc processes in the benchmark, all on one TCP connection",
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json_out = args.iter().any(|a| a == "--json");
    let arg = |name: &str| {
        args.iter()
            .find_map(|a| a.strip_prefix(&format!("--{name}=")).map(str::to_string))
    };
    let rounds: usize = arg("rounds").and_then(|v| v.parse().ok()).unwrap_or(5);
    let agents: usize = arg("agents").and_then(|v| v.parse().ok()).unwrap_or(1000);
    let tasks: usize = arg("tasks_per_agent")
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let only = arg("only");
    let report = actix::System::new().block_on(async move {
        let (cpu_total0, cpu_busy0) = cpu_times();
        let mut report = json!({
            "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        });
        if only.as_deref().is_none_or(|o| o == "cluster") {
            report["cluster"] = cluster_rounds(rounds).await;
        }
        if only.as_deref().is_none_or(|o| o == "scale") {
            report["scale"] = scale(agents, tasks).await;
        }
        let (cpu_total1, cpu_busy1) = cpu_times();
        let total = cpu_total1.saturating_sub(cpu_total0).max(1) as f64;
        let busy = cpu_busy1.saturating_sub(cpu_busy0) as f64;
        report["machine_busy_fraction"] = json!((busy / total * 1000.0).round() / 1000.0);
        report
    });
    if json_out {
        println!("{report}");
    } else {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    }
}

//! `/master/state` at scale: the pure master core with simulated agents and frameworks
//! (driven through its ordinary calls: registrations, allocator offers, ACCEPTs with
//! LAUNCH, RUNNING status updates), then the work one `/master/state` request costs:
//! the snapshot taken on the master's thread (a clone of the core: what blocks its event
//! loop), and the rendering straight into bytes done on a blocking thread (the first one
//! renders every task and caches its JSON in its record, the next ones write the cached
//! bytes of unchanged tasks); as a baseline,
//! the same JSON built as a `serde_json::Value` tree and then serialized. Prints one JSON
//! object.
//!
//! `cargo run --release -p master --example state_bench -- [--agents=10000] [--tasks=100000] [--rounds=5] [--baseline=1] [--warm=0] [--latency-seconds=0]`
//!
//! With `--warm=1`, the tasks' JSON is first warmed on another thread as the master
//! does off its thread after tasks change (`state_json::warm_task_json`), so the first
//! render is the one a client gets a second after the master took the tasks over.
//!
//! With `--latency-seconds=N`, it then runs a real master process holding that cluster and
//! measures the latency of `GET /master/health` (handled by the master's actor) for N s
//! alone (the baseline) and N s while another client polls `/master/state` in a loop.

use std::time::Instant;

use actix::System;

use libproc::Pid;
use master::allocator::protocol::{Allocation, Offers};
use master::config::MasterConfig;
use master::core::{Effect, Master, Outbound};
use proto::messages::{
    AcceptOffersMessage, RegisterFrameworkMessage, RegisterSlaveMessage, StatusUpdate,
    StatusUpdateMessage,
};
use proto::{
    AgentInfo, CommandInfo, Filters, FrameworkInfo, OfferOperation, Resources, StatusUuid,
    TaskInfo, TaskState, TaskStatus,
};
use serde_json::json;

const FRAMEWORKS: usize = 10;

fn arg(name: &str, default: usize) -> usize {
    std::env::args()
        .find_map(|a| a.strip_prefix(&format!("--{name}=")).map(str::to_owned))
        .map(|v| {
            v.parse().unwrap_or_else(|_| {
                eprintln!("--{name}={v}: expected a number");
                std::process::exit(2)
            })
        })
        .unwrap_or(default)
}

fn rss_bytes() -> u64 {
    libproc::procfs::self_stat().map_or(0, |s| s.rss_pages * 4096)
}

/// The calling thread's CPU time in ms (from `schedstat`, in ns): on a shared machine
/// the wall-clock figures include time other programs ran; this does not.
fn cpu_ms() -> f64 {
    libproc::procfs::thread_cpu_ns().map_or(0.0, |ns| ns as f64 / 1e6)
}

/// CPU ms of this process's threads, summed by thread name, and (under `wait:` + the
/// name) the ms they were runnable but waited for a CPU.
fn threads_cpu_ms() -> std::collections::BTreeMap<String, f64> {
    let mut out = std::collections::BTreeMap::new();
    for t in libproc::procfs::threads() {
        *out.entry(format!("wait:{}", t.name)).or_default() += t.wait_ns as f64 / 1e6;
        *out.entry(t.name).or_default() += t.cpu_ns as f64 / 1e6;
    }
    out
}

/// What each thread name used between two [`threads_cpu_ms`] readings, in ms.
fn threads_cpu_delta(
    before: &std::collections::BTreeMap<String, f64>,
    after: &std::collections::BTreeMap<String, f64>,
) -> serde_json::Value {
    after
        .iter()
        .map(|(name, ms)| {
            let d = ms - before.get(name).copied().unwrap_or(0.0);
            (name.clone(), json!((d * 10.0).round() / 10.0))
        })
        .filter(|(_, d)| d.as_f64().is_some_and(|d| d >= 1.0))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn pid(s: String) -> Pid {
    s.parse().unwrap_or_else(|e| {
        eprintln!("bad pid {s}: {e:?}");
        std::process::exit(2)
    })
}

fn res(s: &str) -> Resources {
    s.parse().unwrap_or_else(|e| {
        eprintln!("bad resources {s}: {e}");
        std::process::exit(2)
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A master with `agents` agents and `tasks` running tasks spread over them and over
/// [`FRAMEWORKS`] frameworks.
fn build(agents: usize, tasks: usize, config: MasterConfig, master: Pid) -> Master {
    let mut m = Master::new(config, master);
    let agent_res = res("cpus:64;mem:262144;disk:1000000;ports:[31000-32000]");
    for i in 0..agents {
        let mut info = AgentInfo::new(format!("agent-{i}.example"), agent_res.clone());
        info.port = 5051;
        m.register_agent(
            &pid(format!(
                "slave(1)@10.{}.{}.{}:5051",
                i >> 16,
                (i >> 8) & 255,
                i & 255
            )),
            RegisterSlaveMessage {
                slave: info,
                checkpointed_resources: Resources::new(),
                version: proto::MESOS_VERSION.into(),
            },
        );
    }
    for f in 0..FRAMEWORKS {
        m.register_framework(
            &pid(format!("scheduler-{f}@127.0.0.1:{}", 6000 + f)),
            RegisterFrameworkMessage {
                framework: FrameworkInfo::new(format!("framework-{f}"), "nobody"),
            },
        );
    }
    let fids: Vec<_> = m.frameworks().keys().cloned().collect();
    let aids: Vec<_> = m.agents().keys().cloned().collect();
    let per_agent = tasks.div_ceil(agents.max(1));
    let task_res = res("cpus:0.1;mem:32");
    let mut made = 0;
    for (i, aid) in aids.iter().enumerate() {
        let fid = &fids[i % fids.len()];
        let sched = pid(format!(
            "scheduler-{}@127.0.0.1:{}",
            i % fids.len(),
            6000 + i % fids.len()
        ));
        let fx = m.offers_from_allocator(Offers {
            allocations: vec![Allocation {
                framework_id: fid.clone(),
                agent_id: aid.clone(),
                role: "*".into(),
                resources: agent_res.clone(),
            }],
        });
        let Some(offer_id) = fx.iter().find_map(|e| match e {
            Effect::Send(_, Outbound::ResourceOffersMessage(o)) => Some(o.offers[0].id.clone()),
            _ => None,
        }) else {
            eprintln!("no offer for agent {aid}");
            std::process::exit(1)
        };
        let n = per_agent.min(tasks - made);
        let infos: Vec<TaskInfo> = (0..n)
            .map(|k| {
                let id = format!("task-{i}-{k}");
                TaskInfo::command_task(
                    id.clone(),
                    id.into(),
                    aid.clone(),
                    task_res.clone(),
                    CommandInfo::shell("sleep 1000"),
                )
            })
            .collect();
        let ids: Vec<_> = infos.iter().map(|t| t.task_id.clone()).collect();
        m.accept(
            &sched,
            AcceptOffersMessage {
                framework_id: fid.clone(),
                offer_ids: vec![offer_id],
                operations: vec![OfferOperation::Launch { task_infos: infos }],
                filters: Filters::default(),
            },
        );
        let agent_pid = m.agents()[aid].pid.clone();
        for (k, id) in ids.into_iter().enumerate() {
            let mut s = TaskStatus::new(id, TaskState::Running);
            s.uuid = Some(StatusUuid::from_u128((i * per_agent + k + 1) as u128));
            s.agent_id = Some(aid.clone());
            s.timestamp = 1.7e9;
            m.status_update(
                &agent_pid,
                StatusUpdateMessage {
                    update: StatusUpdate {
                        framework_id: fid.clone(),
                        executor_id: None,
                        agent_id: Some(aid.clone()),
                        status: s,
                        timestamp: 1.7e9,
                        latest_state: None,
                    },
                    pid: Some(agent_pid.to_string()),
                },
            );
        }
        made += n;
    }
    m
}

fn main() {
    let agents = arg("agents", 10_000);
    let tasks = arg("tasks", 100_000);
    let rounds = arg("rounds", 5).max(1);
    let baseline = arg("baseline", 1) != 0;
    let latency_secs = arg("latency-seconds", 0) as u64;
    let warm = arg("warm", 0) != 0;
    let rss_before = rss_bytes();
    let started = Instant::now();
    let m = build(
        agents,
        tasks,
        MasterConfig::default(),
        pid("master@127.0.0.1:5050".into()),
    );
    let build_s = started.elapsed().as_secs_f64();
    let rss_master = rss_bytes();
    let warm_up = warm.then(|| {
        let snapshot = m.frameworks().clone();
        let t = Instant::now();
        let (tasks, cpu) = std::thread::spawn(move || {
            let c = cpu_ms();
            let n = master::state_json::warm_task_json(&snapshot);
            (n, cpu_ms() - c)
        })
        .join()
        .expect("warmer");
        json!({"tasks": tasks, "cpu_ms": cpu, "wall_ms": t.elapsed().as_secs_f64() * 1e3})
    });
    let flags = MasterConfig::default().to_flags_json();
    let (mut snapshot_ms, mut render_ms, mut tree_ms, mut bytes) = (vec![], vec![], vec![], 0);
    let (mut snapshot_cpu, mut render_cpu, mut tree_cpu) = (vec![], vec![], vec![]);
    let mut rss_rendered = None;
    for round in 0..rounds {
        if round == 1 {
            // The first rendering wrote every task afresh and cached its JSON in its
            // record; the next ones write the cached bytes. The cache shows in the RSS
            // the first round left behind (its body and snapshot are freed by now).
            rss_rendered = Some(rss_bytes());
        }
        let (t, c) = (Instant::now(), cpu_ms());
        let snap = m.clone();
        snapshot_ms.push(t.elapsed().as_secs_f64() * 1e3);
        let c1 = cpu_ms();
        snapshot_cpu.push(c1 - c);
        // What the master does off its thread: stream the state into bytes.
        let t = Instant::now();
        let body = master::state_json::render_state(&snap, &flags);
        render_ms.push(t.elapsed().as_secs_f64() * 1e3);
        let c2 = cpu_ms();
        render_cpu.push(c2 - c1);
        bytes = body.len();
        drop(body);
        // The baseline: the same JSON through a serde_json::Value tree.
        if !baseline {
            continue;
        }
        let t = Instant::now();
        let v = master::state_json::state(&snap, &flags);
        let body = serde_json::to_vec(&v).unwrap_or_default();
        tree_ms.push(t.elapsed().as_secs_f64() * 1e3);
        tree_cpu.push(cpu_ms() - c2);
        drop((snap, v, body));
    }
    let running = m
        .frameworks()
        .values()
        .map(|f| {
            f.tasks
                .values()
                .filter(|t| t.state == TaskState::Running)
                .count()
        })
        .sum::<usize>();
    let out = json!({
        "build": if cfg!(debug_assertions) { "debug" } else { "release" },
        "agents": m.agents().len(),
        "frameworks": m.frameworks().len(),
        "tasks_running": running,
        "rounds": rounds,
        "build_s": build_s,
        "master_thread_snapshot_ms_median": median(snapshot_ms.clone()),
        "master_thread_snapshot_ms_max": snapshot_ms.iter().cloned().fold(0.0, f64::max),
        "snapshot_cpu_ms_median": median(snapshot_cpu),
        "warm_up_off_thread": warm_up,
        "render_first_ms": render_ms[0],
        "render_first_cpu_ms": render_cpu[0],
        "render_ms_median": median(render_ms.clone()),
        "render_cpu_ms_median": median(render_cpu),
        "state_total_ms_median": median(
            render_ms.iter().zip(&snapshot_ms).map(|(r, s)| r + s).collect()
        ),
        "state_bytes": bytes,
        "baseline_value_tree_ms_median": baseline.then(|| median(tree_ms)),
        "baseline_value_tree_cpu_ms_median": baseline.then(|| median(tree_cpu)),
        "load_avg_1min": libproc::procfs::load_avg().map_or(0.0, |l| l.one),
        "rss_master_core_bytes": rss_master.saturating_sub(rss_before),
        // Only without the baseline: its value tree's freed heap would count too.
        "rss_growth_after_first_render_bytes": rss_rendered
            .filter(|_| !baseline)
            .map(|r| r.saturating_sub(rss_master)),
        "task_json_cache_bytes": cached_json_bytes(&m),
        "rss_total_bytes": rss_bytes(),
    });
    println!("{out}");
    if latency_secs > 0 {
        drop(m);
        latency(agents, tasks, latency_secs);
    }
}

/// The bytes of the tasks' cached JSON (what the records hold once rendered, without the
/// allocator's overhead).
fn cached_json_bytes(m: &Master) -> usize {
    m.frameworks()
        .values()
        .flat_map(|f| {
            let user = Some(f.info.user.as_str());
            f.tasks
                .values()
                .filter_map(move |t| t.json(user).map(|j| j.get().len()))
        })
        .sum()
}

/// p50/p99/max of latencies in ms.
fn percentiles(mut v: Vec<f64>) -> serde_json::Value {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v.get(((v.len() as f64 * q) as usize).min(v.len().saturating_sub(1)));
    json!({"samples": v.len(), "p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": v.last()})
}

/// `GET /master/health` (answered by the master's actor) every 5 ms for `secs`, from
/// its own thread: the latencies in ms, and how many failed.
fn probe(addr: std::net::SocketAddr, secs: u64) -> (Vec<f64>, u64) {
    std::thread::Builder::new()
        .name("bench-prober".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let (mut lat, mut failed) = (Vec::new(), 0);
                let end = Instant::now() + std::time::Duration::from_secs(secs);
                while Instant::now() < end {
                    let t = Instant::now();
                    match libproc::testing::http_get(addr, "/master/health").await {
                        Ok((200, _)) => lat.push(t.elapsed().as_secs_f64() * 1e3),
                        _ => failed += 1,
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
                (lat, failed)
            })
        })
        .expect("prober thread")
        .join()
        .expect("prober")
}

/// The master's handler latency while one client polls `/master/state`: a real master
/// process (its HTTP endpoint on loopback, the DRF allocator beside it) whose core holds
/// the simulated cluster, probed first alone (the baseline), then while another thread
/// fetches `/master/state` in a loop. Prints one more JSON object.
fn latency(agents: usize, tasks: usize, secs: u64) {
    let sys = actix::System::new();
    sys.block_on(async move {
        let node = libproc::Node::bind(libproc::NodeConfig::local())
            .await
            .expect("node");
        // No pings to the simulated agents during the run (they are not there to answer).
        let config = MasterConfig {
            agent_ping_timeout: std::time::Duration::from_secs(3600),
            ..MasterConfig::default()
        };
        let handle = master::spawn(&node, config.clone(), None).expect("master");
        let addr = handle.pid().addr();
        // Until it leads (standalone: at once, once its empty registry is read).
        let t = Instant::now();
        while !matches!(
            libproc::testing::http_get(addr, "/master/state").await,
            Ok((200, _))
        ) {
            if t.elapsed().as_secs() > 30 {
                eprintln!("the master did not lead within 30 s");
                std::process::exit(1)
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let core = build(agents, tasks, config, handle.pid().clone());
        handle
            .master
            .call(move |me, _| me.replace_core(core))
            .await
            .expect("master alive");
        let rss_master = rss_bytes();
        let cpu0 = threads_cpu_ms();
        let (idle, idle_failed) = tokio::task::spawn_blocking(move || probe(addr, secs))
            .await
            .expect("probe");
        let cpu1 = threads_cpu_ms();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let poller = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("bench-poller".into())
                .spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime");
                    rt.block_on(async move {
                        let (mut polls, mut ms, mut bytes) = (0u64, Vec::new(), 0);
                        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                            let t = Instant::now();
                            if let Ok((200, body)) =
                                libproc::testing::http_get(addr, "/master/state").await
                            {
                                polls += 1;
                                bytes = body.len();
                                ms.push(t.elapsed().as_secs_f64() * 1e3);
                            }
                        }
                        (polls, ms, bytes)
                    })
                })
                .expect("poller thread")
        };
        let (busy, busy_failed) = tokio::task::spawn_blocking(move || probe(addr, secs))
            .await
            .expect("probe");
        let rss_polled = rss_bytes();
        let cpu2 = threads_cpu_ms();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (polls, state_ms, bytes) = tokio::task::spawn_blocking(move || poller.join())
            .await
            .expect("join")
            .expect("poller");
        let out = json!({
            "build": if cfg!(debug_assertions) { "debug" } else { "release" },
            "agents": agents,
            "tasks": tasks,
            "probe": "GET /master/health every 5 ms, new connection each",
            "seconds_per_phase": secs,
            "baseline_health_latency": percentiles(idle),
            "baseline_failed": idle_failed,
            "polled_health_latency": percentiles(busy),
            "polled_failed": busy_failed,
            "state_polls": polls,
            "state_poll_wall_ms": percentiles(state_ms),
            "state_bytes": bytes,
            // CPU ms per thread name in each phase: the master's actor and its HTTP
            // connections run on `state_bench` (the main thread's actix system), renders
            // on tokio's blocking threads.
            "baseline_thread_cpu_ms": threads_cpu_delta(&cpu0, &cpu1),
            "polled_thread_cpu_ms": threads_cpu_delta(&cpu1, &cpu2),
            "rss_master_bytes": rss_master,
            "rss_while_polled_bytes": rss_polled,
            "load_avg_1min": libproc::procfs::load_avg().map_or(0.0, |l| l.one),
        });
        println!("{out}");
        System::current().stop();
    });
}

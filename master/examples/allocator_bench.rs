//! Allocator benchmark: the pure DRF core driven directly (no actors), mirroring Mesos's
//! `HierarchicalAllocator_BENCHMARK_Test.DeclineOffers` and
//! `BENCHMARK_HierarchicalAllocations.MultiFrameworkAllocations`.
//!
//! `cargo run --release -p master --example allocator_bench -- [--json] [--quick]`
//!
//! DeclineOffers: agents `cpus:24;mem:4096;disk:4096;ports:[31000-32000]` with 16 cpus
//! already used by framework `i % frameworks`; every framework declines everything it
//! is offered with a very long filter; the figure is the time of one allocation run
//! (median over the rounds after the first). Each setting runs in a child process so
//! its resident-memory delta is its own.

use std::process::Command;
use std::time::{Duration, Instant};

use master::allocator::protocol::AllocatorConfig;
use master::allocator::Allocator;
use proto::{AgentId, AgentInfo, Filters, FrameworkId, FrameworkInfo, Resources};
use serde_json::{json, Value};

const ROUNDS: usize = 7;

fn res(s: &str) -> Resources {
    match s.parse() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bad resources {s}: {e}");
            std::process::exit(2)
        }
    }
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        0.0
    } else {
        v[v.len() / 2]
    }
}

fn framework(i: usize) -> (FrameworkId, FrameworkInfo) {
    let mut info = FrameworkInfo::new(format!("framework-{i}"), "user");
    info.role = Some("*".into());
    (FrameworkId::new(format!("framework-{i}")), info)
}

fn decline_offers(agents: usize, frameworks: usize) -> Value {
    let rss0 = rss_bytes();
    let mut a = Allocator::new(AllocatorConfig::default());
    let fws: Vec<(FrameworkId, FrameworkInfo)> = (0..frameworks).map(framework).collect();
    let t = Instant::now();
    for (id, info) in &fws {
        a.add_framework(id, info, &[], true);
    }
    let add_frameworks = t.elapsed();
    let total = res("cpus:24;mem:4096;disk:4096;ports:[31000-32000]");
    let used = res("cpus:16");
    let t = Instant::now();
    for i in 0..agents {
        let id = AgentId::new(format!("agent-{i}"));
        let info = AgentInfo::new(format!("host-{i}"), total.clone());
        a.add_agent(
            &id,
            &info,
            &total,
            &[(fws[i % frameworks].0.clone(), used.clone())],
        );
    }
    let add_agents = t.elapsed();

    let mut now = Duration::from_secs(1);
    let t = Instant::now();
    let mut offers = a.allocate(now);
    let first_round = t.elapsed();
    let first_offers = offers.len();
    let refuse = Filters::refuse(1e9);
    let mut rounds = Vec::new();
    let mut declines = Vec::new();
    let mut offers_per_round = Vec::new();
    for _ in 0..ROUNDS {
        let t = Instant::now();
        for o in offers.drain(..) {
            a.recover_resources(
                &o.framework_id,
                &o.agent_id,
                &o.resources,
                Some(&refuse),
                now,
            );
        }
        drop(offers);
        declines.push(ms(t.elapsed()));
        now += Duration::from_secs(1);
        let t = Instant::now();
        offers = a.allocate(now);
        rounds.push(ms(t.elapsed()));
        offers_per_round.push(offers.len());
    }
    let rss = rss_bytes().saturating_sub(rss0);
    json!({
        "benchmark": "DeclineOffers",
        "agents": agents,
        "frameworks": frameworks,
        "add_frameworks_ms": ms(add_frameworks),
        "add_agents_ms": ms(add_agents),
        "first_round_ms": ms(first_round),
        "first_round_offers": first_offers,
        "round_ms_median": median(&mut rounds.clone()),
        "round_ms": rounds,
        "offers_per_round": offers_per_round,
        "decline_ms_median": median(&mut declines),
        "filters": a.stats().filters,
        "allocator_memory_bytes": rss,
        "allocator_memory_estimate_bytes": a.memory_estimate(),
    })
}

/// A framework in the mixed benchmark: how many tasks it still wants and their shape.
struct Wants {
    id: FrameworkId,
    left: usize,
    cpus: f64,
    mem: f64,
}

fn multi_framework() -> Value {
    let rss0 = rss_bytes();
    let mut a = Allocator::new(AllocatorConfig::default());
    let mut wants = Vec::new();
    let mut add = |a: &mut Allocator, prefix: &str, n: usize, tasks: usize, cpus: f64, mem: f64| {
        for i in 0..n {
            let id = FrameworkId::new(format!("{prefix}-{i}"));
            let mut info = FrameworkInfo::new(format!("{prefix}-{i}"), "user");
            info.role = Some(prefix.to_owned());
            a.add_framework(&id, &info, &[], true);
            wants.push(Wants {
                id,
                left: tasks,
                cpus,
                mem,
            });
        }
    };
    let t = Instant::now();
    add(&mut a, "marathon", 4, 4000, 0.07, 400.0);
    add(&mut a, "jenkins", 500, 5, 0.1, 1024.0);
    add(&mut a, "spark", 50, 20, 1.0, 4096.0);
    let add_frameworks = t.elapsed();
    let total = res("cpus:64;mem:488000");
    let t = Instant::now();
    for i in 0..80 {
        let id = AgentId::new(format!("agent-{i}"));
        a.add_agent(
            &id,
            &AgentInfo::new(format!("host-{i}"), total.clone()),
            &total,
            &[],
        );
    }
    let add_agents = t.elapsed();
    let index: std::collections::HashMap<FrameworkId, usize> = wants
        .iter()
        .enumerate()
        .map(|(i, w)| (w.id.clone(), i))
        .collect();
    let wanted: usize = wants.iter().map(|w| w.left).sum();
    let mut launched = 0usize;
    let mut rounds = Vec::new();
    let mut now = Duration::ZERO;
    let started = Instant::now();
    while launched < wanted && now < Duration::from_secs(30) {
        now += Duration::from_secs(1);
        let t = Instant::now();
        let offers = a.allocate(now);
        rounds.push(ms(t.elapsed()));
        for o in offers {
            let Some(&i) = index.get(&o.framework_id) else {
                continue;
            };
            let w = &mut wants[i];
            let fit = ((o.resources.cpus() / w.cpus).floor() as usize)
                .min((o.resources.mem() / w.mem).floor() as usize);
            let n = fit.min(w.left);
            w.left -= n;
            launched += n;
            let used = match Resources::cpus_mem(w.cpus * n as f64, w.mem * n as f64) {
                Ok(r) => r,
                Err(_) => Resources::new(),
            };
            let rest = &o.resources - &used;
            if w.left == 0 {
                a.suppress_offers(&w.id, &[]);
            }
            a.recover_resources(
                &o.framework_id,
                &o.agent_id,
                &rest,
                Some(&Filters::default()),
                now,
            );
        }
    }
    json!({
        "benchmark": "MultiFrameworkAllocations",
        "agents": 80,
        "frameworks": wants.len(),
        "add_frameworks_ms": ms(add_frameworks),
        "add_agents_ms": ms(add_agents),
        "tasks_wanted": wanted,
        "tasks_launched": launched,
        "rounds": rounds.len(),
        "round_ms_median": median(&mut rounds.clone()),
        "total_ms": ms(started.elapsed()),
        "allocator_memory_bytes": rss_bytes().saturating_sub(rss0),
        "allocator_memory_estimate_bytes": a.memory_estimate(),
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(pos) = args.iter().position(|x| x == "--one") {
        let agents = args
            .get(pos + 1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000);
        let frameworks = args.get(pos + 2).and_then(|v| v.parse().ok()).unwrap_or(1);
        println!("{}", decline_offers(agents, frameworks));
        return;
    }
    if args.iter().any(|x| x == "--multi") {
        println!("{}", multi_framework());
        return;
    }
    let json_out = args.iter().any(|x| x == "--json");
    let quick = args.iter().any(|x| x == "--quick");
    let (agent_counts, fw_counts): (&[usize], &[usize]) = if quick {
        (&[1000, 10000], &[1, 100])
    } else {
        (&[1000, 10000, 50000], &[1, 100, 1000])
    };
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("cannot find own executable: {e}");
            std::process::exit(1)
        }
    };
    let run = |extra: &[String]| -> Value {
        let out = Command::new(&exe).args(extra).output();
        match out {
            Ok(o) if o.status.success() => serde_json::from_slice(&o.stdout)
                .unwrap_or_else(|e| json!({ "error": e.to_string() })),
            Ok(o) => json!({ "error": String::from_utf8_lossy(&o.stderr).to_string() }),
            Err(e) => json!({ "error": e.to_string() }),
        }
    };
    let mut rows = Vec::new();
    for &agents in agent_counts {
        for &fws in fw_counts {
            let row = run(&["--one".into(), agents.to_string(), fws.to_string()]);
            if !json_out {
                eprintln!(
                    "DeclineOffers agents={agents:>6} frameworks={fws:>5}: add_agents {:>9.1} ms, add_frameworks {:>7.1} ms, round median {:>8.2} ms, memory {:>6.1} MB",
                    row["add_agents_ms"].as_f64().unwrap_or(f64::NAN),
                    row["add_frameworks_ms"].as_f64().unwrap_or(f64::NAN),
                    row["round_ms_median"].as_f64().unwrap_or(f64::NAN),
                    row["allocator_memory_bytes"].as_f64().unwrap_or(f64::NAN) / 1e6,
                );
            }
            rows.push(row);
        }
    }
    let row = run(&["--multi".into()]);
    if !json_out {
        eprintln!(
            "MultiFrameworkAllocations: {} of {} tasks in {} rounds, round median {:.2} ms, total {:.1} ms",
            row["tasks_launched"], row["tasks_wanted"], row["rounds"],
            row["round_ms_median"].as_f64().unwrap_or(f64::NAN),
            row["total_ms"].as_f64().unwrap_or(f64::NAN),
        );
    }
    rows.push(row);
    if json_out {
        println!("{}", Value::Array(rows));
    }
}

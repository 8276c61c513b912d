//! Deploys `--apps` apps of `--instances` instances each (default 1,000 × 10) through the
//! scheduler core against simulated agents and executors (every launched task reports
//! `TASK_RUNNING`, healthy, at once), and prints one JSON object: time from the first POST
//! to every deployment finished, the resident memory, the largest stored record (ZooKeeper's
//! limit is 1 MB per znode) and the time to render `GET /v2/apps?embed=apps.tasks`.
//!
//! ```text
//! cargo run --release -p marathon --example bench_deploy -- --apps 1000 --instances 10 --agents 200
//! ```

use std::collections::BTreeMap;
use std::time::Instant;

use marathon::constraints::Place;
use marathon::core::{Core, OfferView, StoreOp};
use proto::TaskState;
use serde_json::json;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kib() -> u64 {
    libproc::procfs::memory(None).map_or(0, |m| m.rss_kib)
}

struct Agent {
    id: String,
    cpus: f64,
    mem: f64,
    next_port: u64,
}

fn main() {
    let apps = arg("--apps", 1000);
    let instances = arg("--instances", 10);
    let agents_n = arg("--agents", 200);
    let rss_before = rss_kib();
    let mut core = Core::new(42);
    core.ready = true;
    let t0 = Instant::now();
    let mut largest = 0usize;
    let mut stored = 0usize;
    let mut now = 1_000_000.0;
    for a in 0..apps {
        let body = json!({"id": format!("/bench/app-{a}"), "cmd": "sleep 1000", "cpus": 0.1, "mem": 32,
                          "instances": instances, "labels": {"team": "bench"}});
        let planned = core
            .plan_put(&body, None, true, false, now)
            .expect("valid app");
        for op in &planned.ops {
            if let StoreOp::Put(_, v) = op {
                largest = largest.max(v.len());
                stored += v.len();
            }
        }
        core.commit(&planned, now);
    }
    let posted = t0.elapsed();
    let mut agents: Vec<Agent> = (0..agents_n)
        .map(|i| Agent {
            id: format!("agent-{i}"),
            cpus: 64.0,
            mem: 262_144.0,
            next_port: 31_000,
        })
        .collect();
    let mut rounds = 0;
    let mut launched = 0usize;
    let mut by_agent: BTreeMap<String, usize> = BTreeMap::new();
    while !core.deployments.is_empty() {
        rounds += 1;
        now += 1.0;
        for ag in agents.iter_mut() {
            let offer = OfferView {
                agent_id: ag.id.clone(),
                place: Place {
                    hostname: ag.id.clone(),
                    attributes: BTreeMap::new(),
                },
                cpus: ag.cpus,
                mem: ag.mem,
                disk: 0.0,
                ports: vec![(ag.next_port, 65_000)],
            };
            let plans = core.match_offer(&offer, now);
            for p in plans {
                ag.cpus -= p.app.def.cpus;
                ag.mem -= p.app.def.mem;
                ag.next_port = p.rec.ports.iter().copied().max().unwrap_or(ag.next_port) + 1;
                let rec = serde_json::to_vec(&p.rec).unwrap_or_default();
                largest = largest.max(rec.len());
                stored += rec.len();
                launched += 1;
                *by_agent.entry(ag.id.clone()).or_default() += 1;
                core.status(&p.rec.task_id, TaskState::Running, Some(true), "", now);
            }
        }
        core.step(now);
        if rounds > 10_000 {
            eprintln!("bench_deploy: did not converge");
            std::process::exit(1);
        }
    }
    let deployed = t0.elapsed();
    let t1 = Instant::now();
    let rendered: Vec<serde_json::Value> = core
        .apps
        .values()
        .map(|a| core.app_json(a, true, now))
        .collect();
    let body = serde_json::to_vec(&json!({ "apps": rendered })).unwrap_or_default();
    let render = t1.elapsed();
    println!(
        "{}",
        json!({
            "apps": apps,
            "instances_per_app": instances,
            "agents": agents_n,
            "tasks_launched": launched,
            "offer_rounds": rounds,
            "post_all_apps_s": posted.as_secs_f64(),
            "time_to_all_running_s": deployed.as_secs_f64(),
            "rss_kib": rss_kib(),
            "rss_growth_kib": rss_kib().saturating_sub(rss_before),
            "largest_stored_record_bytes": largest,
            "stored_bytes_total": stored,
            "v2_apps_embed_tasks_render_s": render.as_secs_f64(),
            "v2_apps_embed_tasks_bytes": body.len(),
        })
    );
}

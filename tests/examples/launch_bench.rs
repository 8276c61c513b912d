//! Launch throughput on `mesos-local` with 4 agents: how fast tasks go from ACCEPT to
//! `TASK_RUNNING` and to `TASK_FINISHED`, and how much memory the cluster process uses.
//!
//! ```text
//! cargo build --release --workspace --bins
//! cargo run --release -p cluster --example launch_bench -- --json [--tasks=2000]
//! ```
//!
//! It starts the built `mesos-local --num_slaves=4` (from the same target directory) as
//! a child process, runs a framework in this process that launches every task (`true`,
//! cpus:0.1;mem:32) as soon as offers allow, and prints one JSON object.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use cluster::procs::{free_port, wait_json, Proc};
use frameworks::scheduler::{self, Scheduler, SchedulerDriver};
use libproc::{Node, NodeConfig};
use proto::{
    CommandInfo, Filters, FrameworkInfo, Offer, Resources, TaskInfo, TaskState, TaskStatus,
};

struct Launcher {
    total: usize,
    next: usize,
    need: Resources,
    accepted_at: HashMap<String, Instant>,
    running_at: HashMap<String, Instant>,
    finished_at: HashMap<String, Instant>,
    failed: usize,
    first_accept: Option<Instant>,
    start: Instant,
    done: Option<tokio::sync::oneshot::Sender<serde_json::Value>>,
}

impl Scheduler for Launcher {
    fn resource_offers(&mut self, driver: &mut SchedulerDriver<'_, '_, Self>, offers: Vec<Offer>) {
        for offer in offers {
            let mut left = offer.resources.clone();
            let mut tasks = Vec::new();
            while self.next < self.total && left.contains(&self.need) {
                left -= &self.need;
                let id = format!("t{}", self.next);
                self.next += 1;
                tasks.push(TaskInfo::command_task(
                    &id,
                    id.as_str().into(),
                    offer.agent_id.clone(),
                    self.need.clone(),
                    CommandInfo::shell("true"),
                ));
            }
            if tasks.is_empty() {
                driver.decline(offer.id, Filters::refuse(1.0));
                continue;
            }
            let now = Instant::now();
            self.first_accept.get_or_insert(now);
            for t in &tasks {
                self.accepted_at.insert(t.task_id.to_string(), now);
            }
            driver.launch(vec![offer.id], tasks, Filters::refuse(0.0));
        }
    }

    fn status_update(&mut self, driver: &mut SchedulerDriver<'_, '_, Self>, status: &TaskStatus) {
        let id = status.task_id.to_string();
        let now = Instant::now();
        match status.state {
            TaskState::Running => {
                self.running_at.entry(id).or_insert(now);
            }
            TaskState::Finished => {
                self.finished_at.entry(id).or_insert(now);
            }
            s if s.is_terminal() => self.failed += 1,
            _ => {}
        }
        if self.finished_at.len() + self.failed >= self.total {
            if let Some(tx) = self.done.take() {
                let _ = tx.send(self.report());
            }
            driver.stop(false);
        }
    }
}

impl Launcher {
    fn report(&self) -> serde_json::Value {
        let s = self;
        let wall = self.start.elapsed();
        let first = s.first_accept.unwrap_or_else(Instant::now);
        let last_running = s.running_at.values().max().copied().unwrap_or(first);
        let last_finished = s.finished_at.values().max().copied().unwrap_or(first);
        let lat = |m: &HashMap<String, Instant>| -> Vec<f64> {
            m.iter()
                .filter_map(|(id, t)| {
                    s.accepted_at
                        .get(id)
                        .map(|a| t.duration_since(*a).as_secs_f64() * 1e3)
                })
                .collect()
        };
        let run_lat = lat(&s.running_at);
        let fin_lat = lat(&s.finished_at);
        serde_json::json!({
            "tasks": s.total,
            "finished": s.finished_at.len(),
            "failed": s.failed,
            "agents": 4,
            "wall_s": wall.as_secs_f64(),
            "accept_to_running_tasks_per_s": s.running_at.len() as f64 / last_running.duration_since(first).as_secs_f64().max(1e-9),
            "accept_to_finished_tasks_per_s": s.finished_at.len() as f64 / last_finished.duration_since(first).as_secs_f64().max(1e-9),
            "accept_to_running_ms_p50": percentile(run_lat.clone(), 0.5),
            "accept_to_running_ms_p99": percentile(run_lat, 0.99),
            "accept_to_finished_ms_p50": percentile(fin_lat.clone(), 0.5),
            "accept_to_finished_ms_p99": percentile(fin_lat, 0.99),
            "note": "mesos-local hosts the master and the 4 agents in one process; RSS is that process's",
        })
    }
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// (resident, peak resident) KiB of process `pid`.
fn rss_kb(pid: i32) -> (u64, u64) {
    let m = libproc::procfs::memory(Some(pid)).unwrap_or_default();
    (m.rss_kib, m.peak_rss_kib)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let tasks: usize = args
        .iter()
        .find_map(|a| a.strip_prefix("--tasks=").and_then(|v| v.parse().ok()))
        .unwrap_or(2000);
    let port = free_port();
    let work = std::env::temp_dir().join(format!("launch-bench-{}", std::process::id()));
    let cluster = Proc::start(
        "mesos-local",
        "mesos-local",
        &[
            "--num_slaves=4".into(),
            format!("--port={port}"),
            format!("--work_dir={}", work.display()),
            "--resources=cpus:16;mem:16384;disk:16384;ports:[31000-32000]".into(),
            "--allocation_interval=100ms".into(),
        ],
        &work,
    )
    .expect("start mesos-local (build it first: cargo build --release --workspace --bins)");
    let master_pid = cluster.pid();
    actix::System::new().block_on(async move {
        let master_addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        wait_json(
            master_addr,
            "/master/state",
            Duration::from_secs(30),
            "4 agents",
            |s| s["activated_slaves"] == 4,
        )
        .await
        .expect("cluster up");
        let rss_idle = rss_kb(master_pid).0;
        let node = Node::bind(NodeConfig::local()).await.expect("bind");
        let (tx, rx) = tokio::sync::oneshot::channel();
        let launcher = Launcher {
            total: tasks,
            next: 0,
            need: "cpus:0.1;mem:32".parse().expect("resources"),
            accepted_at: HashMap::new(),
            running_at: HashMap::new(),
            finished_at: HashMap::new(),
            failed: 0,
            first_accept: None,
            start: Instant::now(),
            done: Some(tx),
        };
        let handle = scheduler::run(
            &node,
            format!("master@127.0.0.1:{port}").parse().expect("pid"),
            FrameworkInfo::new("launch-bench", "root"),
            launcher,
        )
        .expect("scheduler");
        let report = tokio::time::timeout(Duration::from_secs(600), rx)
            .await
            .expect("all tasks within 10 minutes")
            .expect("done");
        drop(handle);
        let rss_peak = rss_kb(master_pid).1;
        let rss_now = rss_kb(master_pid).0;
        let mut report = report;
        report["cluster_process_rss_idle_mb"] = serde_json::json!(rss_idle as f64 / 1024.0);
        report["cluster_process_rss_after_mb"] = serde_json::json!(rss_now as f64 / 1024.0);
        report["cluster_process_rss_peak_mb"] = serde_json::json!(rss_peak as f64 / 1024.0);
        if json {
            println!("{report}");
        } else {
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
        }
    });
    drop(cluster);
    let _ = std::fs::remove_dir_all(&work);
}

//! The seeds' claim, measured as the Mesos paper did (§6.1, "macrobenchmark"): does sharing
//! one cluster between frameworks under DRF beat giving each framework a static partition
//! of the same total size?
//!
//! ```text
//! cargo run --release -p frameworks --example sharing_bench            # JSON on stdout
//! cargo run --release -p frameworks --example sharing_bench -- --quick # a smaller run
//! ```
//!
//! Three frameworks, one generic [`Workload`] scheduler each:
//! * **batch**: elastic, one job of many short tasks (wants the whole cluster);
//! * **service**: steady load, a fixed number of long tasks;
//! * **bursty**: jobs of many short tasks arriving every few minutes, idle between.
//!
//! Run 1 (**shared**): one [`TestCluster`] of `3 × P` agents, the real master and its DRF
//! allocator, all three frameworks at once. Run 2 (**partitioned**): three clusters of `P`
//! agents, one framework each. Agents are the in-process test containerizer, tasks end after
//! the duration their `duration_secs` label says, and the clock is virtual (tokio paused), so
//! the figures are in virtual seconds and do not depend on the machine. Utilisation is the
//! share of the cluster's cpus held by running tasks (the master's count: from the launch
//! until the master learns the task ended), sampled every [`SAMPLE`].

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use frameworks::offers::{OfferPacker, TaskShape};
use frameworks::scheduler::{Scheduler, SchedulerConfig, SchedulerDriver};
use frameworks::task::TaskBuilder;
use frameworks::testing::{paused, TaskOutcome, TestCluster};
use proto::{Filters, FrameworkInfo, Offer, TaskId, TaskStatus};
use serde_json::{json, Value};
use tokio::time::Instant;

/// How often utilisation is sampled (virtual time).
const SAMPLE: Duration = Duration::from_secs(10);
/// Each agent.
const AGENT: &str = "cpus:4;mem:8192;disk:10000;ports:[31000-31099]";
/// The label carrying a task's run time, read by the test containerizer's script.
const DURATION_LABEL: &str = "duration_secs";

/// One job: `tasks` tasks of `secs` each, submitted `at` after the framework starts.
#[derive(Debug, Clone)]
struct Job {
    at: Duration,
    tasks: usize,
    secs: u64,
}

/// A framework's whole workload.
#[derive(Debug, Clone)]
struct Spec {
    name: &'static str,
    jobs: Vec<Job>,
}

fn workloads(quick: bool) -> Vec<Spec> {
    let k = if quick { 4 } else { 1 };
    vec![
        Spec {
            name: "batch",
            jobs: vec![Job {
                at: Duration::ZERO,
                tasks: 480 / k,
                secs: 30,
            }],
        },
        Spec {
            name: "service",
            jobs: vec![Job {
                at: Duration::ZERO,
                tasks: 10,
                secs: 600 / k as u64,
            }],
        },
        Spec {
            name: "bursty",
            jobs: (0..4)
                .map(|i| Job {
                    at: Duration::from_secs(60 + i * 200 / k as u64),
                    tasks: 64 / k,
                    secs: 20,
                })
                .collect(),
        },
    ]
}

/// A scheduler that runs [`Job`]s: submits each at its time (reviving offers), packs its
/// tasks into offers, suppresses offers while nothing waits, and records when each job
/// finished.
struct Workload {
    name: &'static str,
    shape: TaskShape,
    start: Instant,
    /// Jobs not yet submitted.
    future: VecDeque<Job>,
    /// (job, task index) waiting for resources.
    queue: VecDeque<(usize, usize)>,
    /// Running tasks → their job.
    running: BTreeMap<TaskId, usize>,
    /// Per job: submitted at, tasks left, seconds per task, finished at.
    jobs: Vec<(Duration, usize, u64, Option<Duration>)>,
}

impl Workload {
    fn new(spec: &Spec) -> Workload {
        let shape: TaskShape = "cpus:1;mem:256".parse().expect("a valid shape");
        Workload {
            name: spec.name,
            shape,
            start: Instant::now(),
            future: spec.jobs.iter().cloned().collect(),
            queue: VecDeque::new(),
            running: BTreeMap::new(),
            jobs: Vec::new(),
        }
    }

    fn done(&self) -> bool {
        self.future.is_empty() && self.queue.is_empty() && self.running.is_empty()
    }

    /// Submits the next job when its time comes, and arms the timer for the one after.
    fn submit_due(&mut self, driver: &mut SchedulerDriver<Self>) {
        let now = self.start.elapsed();
        while self.future.front().is_some_and(|j| j.at <= now) {
            let Some(job) = self.future.pop_front() else {
                break;
            };
            let index = self.jobs.len();
            self.jobs.push((now, job.tasks, job.secs, None));
            self.queue.extend((0..job.tasks).map(|t| (index, t)));
            driver.revive();
        }
        if let Some(next) = self.future.front() {
            driver.after(next.at.saturating_sub(now), |me, d| me.submit_due(d));
        }
    }
}

impl Scheduler for Workload {
    fn registered(
        &mut self,
        driver: &mut SchedulerDriver<Self>,
        _id: &proto::FrameworkId,
        _m: &proto::MasterInfo,
    ) {
        self.start = Instant::now();
        driver.suppress();
        self.submit_due(driver);
    }

    fn resource_offers(&mut self, driver: &mut SchedulerDriver<Self>, offers: Vec<Offer>) {
        for offer in offers {
            let mut packer = OfferPacker::new(&offer, "*");
            let mut tasks = Vec::new();
            while let Some(&(job, t)) = self.queue.front() {
                let Some(resources) = packer.take(&self.shape) else {
                    break;
                };
                self.queue.pop_front();
                let id = TaskId::from(format!("{}-{job}-{t}", self.name));
                let task = TaskBuilder::shell("sleep $DURATION")
                    .id(id.clone())
                    .resources(resources)
                    .label(DURATION_LABEL, self.jobs[job].2.to_string())
                    .build_for(&offer);
                match task {
                    Ok(task) => {
                        self.running.insert(id, job);
                        tasks.push(task);
                    }
                    Err(e) => eprintln!("{}: {e}", self.name),
                }
            }
            if tasks.is_empty() {
                driver.decline(offer.id, Filters::refuse(5.0));
            } else {
                driver.launch(vec![offer.id], tasks, Filters::refuse(1.0));
            }
        }
        if self.queue.is_empty() {
            driver.suppress();
        }
    }

    fn status_update(&mut self, driver: &mut SchedulerDriver<Self>, status: &TaskStatus) {
        if !status.state.is_terminal() {
            return;
        }
        let Some(job) = self.running.remove(&status.task_id) else {
            return;
        };
        if status.state != proto::TaskState::Finished {
            // Not expected in this benchmark; run it again.
            let t = self.jobs[job].1;
            self.queue.push_back((job, t));
            driver.revive();
            return;
        }
        let entry = &mut self.jobs[job];
        entry.1 -= 1;
        if entry.1 == 0 {
            entry.3 = Some(self.start.elapsed());
        }
        if self.done() {
            driver.stop(false);
        }
    }
}

/// How each task ends: after its `duration_secs` label.
fn script(task: &proto::TaskInfo) -> TaskOutcome {
    let secs = task
        .labels
        .get(DURATION_LABEL)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    TaskOutcome::finishes_after(Duration::from_secs(secs))
}

/// What one framework did in one run.
struct Outcome {
    name: &'static str,
    /// Per job: completion time (submission → last task finished), seconds.
    completion: Vec<f64>,
    /// Framework finished all its work at (seconds after start).
    makespan: f64,
    /// Sampled cpus its tasks hold (the master's count), one per [`SAMPLE`].
    used: Vec<f64>,
}

/// Runs `specs` on one cluster of `agents` agents; returns each framework's outcome.
async fn run_cluster(agents: usize, specs: &[Spec]) -> Vec<Outcome> {
    let cluster = TestCluster::builder()
        .agents(agents)
        .agent_resources(AGENT.parse().expect("agent resources"))
        .script(script)
        .start()
        .await
        .unwrap_or_else(|e| panic!("cluster: {e}"));
    let mut handles = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let config = SchedulerConfig {
            seed: i as u64 + 1,
            ..Default::default()
        };
        let h = cluster
            .run(
                FrameworkInfo::new(spec.name, "root"),
                Workload::new(spec),
                config,
            )
            .unwrap_or_else(|e| panic!("{}: {e}", spec.name));
        handles.push(h);
    }
    // Sample the cpus the master counts as used by each framework's tasks until every
    // driver has stopped (a framework stops once all its work is done).
    let mut used: Vec<Vec<f64>> = vec![Vec::new(); specs.len()];
    let start = Instant::now();
    let mut tick = tokio::time::interval(SAMPLE);
    loop {
        tick.tick().await;
        let by_name = cluster
            .master
            .master
            .call(|m, _| {
                m.core()
                    .frameworks()
                    .values()
                    .map(|f| {
                        let cpus: f64 = f.tasks.values().map(|t| t.resources.cpus()).sum();
                        (f.info.name.clone(), cpus)
                    })
                    .collect::<BTreeMap<String, f64>>()
            })
            .await
            .unwrap_or_default();
        for (i, spec) in specs.iter().enumerate() {
            used[i].push(by_name.get(spec.name).copied().unwrap_or(0.0));
        }
        let mut running = 0;
        for h in &handles {
            if h.process.call(|_, _| ()).await.is_ok() {
                running += 1;
            }
        }
        if running == 0 {
            break;
        }
        if start.elapsed() > Duration::from_secs(6 * 3600) {
            panic!("the workload did not finish in 6 hours of virtual time");
        }
    }
    let mut out = Vec::new();
    for ((h, spec), used) in handles.into_iter().zip(specs).zip(used) {
        let Some((w, _reason)) = h.finished().await else {
            panic!("{}: the driver went away", spec.name);
        };
        let completion: Vec<f64> = w
            .jobs
            .iter()
            .map(|(at, _, _, end)| end.map_or(f64::NAN, |e| (e - *at).as_secs_f64()))
            .collect();
        let makespan = w
            .jobs
            .iter()
            .filter_map(|j| j.3)
            .max()
            .map_or(0.0, |d| d.as_secs_f64());
        out.push(Outcome {
            name: spec.name,
            completion,
            makespan,
            used,
        });
    }
    cluster.shutdown().await;
    out
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// The cluster-wide utilisation series: cpus in use at each sample / `total` cpus.
fn utilisation(outcomes: &[Outcome], total: f64) -> Vec<f64> {
    let len = outcomes.iter().map(|o| o.used.len()).max().unwrap_or(0);
    (0..len)
        .map(|i| {
            let used: f64 = outcomes
                .iter()
                .map(|o| o.used.get(i).copied().unwrap_or(0.0))
                .sum();
            (used / total * 1000.0).round() / 1000.0
        })
        .collect()
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn report(outcomes: &[Outcome], total_cpus: f64) -> Value {
    let series = utilisation(outcomes, total_cpus);
    let frameworks: Vec<Value> = outcomes
        .iter()
        .map(|o| {
            json!({
                "framework": o.name,
                "job_completion_secs": o.completion.iter().copied().map(round).collect::<Vec<_>>(),
                "mean_job_completion_secs": round(mean(&o.completion)),
                "finished_all_at_secs": round(o.makespan),
            })
        })
        .collect();
    let makespan = outcomes.iter().map(|o| o.makespan).fold(0.0, f64::max);
    json!({
        "frameworks": frameworks,
        "makespan_secs": round(makespan),
        "mean_utilisation": (mean(&series) * 1000.0).round() / 1000.0,
        "utilisation_every_10s": series,
    })
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let per_partition = 4usize;
    let specs = workloads(quick);
    let agents = per_partition * specs.len();
    let total_cpus = agents as f64 * 4.0;
    let wall = std::time::Instant::now();

    let shared = paused(run_cluster(agents, &specs));
    let mut partitioned = Vec::new();
    for spec in &specs {
        partitioned.extend(paused(run_cluster(
            per_partition,
            std::slice::from_ref(spec),
        )));
    }
    let (s, p) = (
        report(&shared, total_cpus),
        report(&partitioned, total_cpus),
    );
    let ratios: Vec<Value> = shared
        .iter()
        .zip(&partitioned)
        .map(|(a, b)| {
            json!({
                "framework": a.name,
                "mean_job_completion": (mean(&a.completion) / mean(&b.completion) * 1000.0).round() / 1000.0,
            })
        })
        .collect();
    let ratio = |key: &str| {
        let (a, b) = (
            s[key].as_f64().unwrap_or(0.0),
            p[key].as_f64().unwrap_or(1.0),
        );
        (a / b * 1000.0).round() / 1000.0
    };
    let out = json!({
        "benchmark": "sharing_bench",
        "virtual_time": true,
        "agents": agents,
        "agent_resources": AGENT,
        "partitions": specs.len(),
        "task_shape": "cpus:1;mem:256",
        "workload": specs.iter().map(|s| json!({
            "framework": s.name,
            "jobs": s.jobs.iter().map(|j| json!({"at_secs": j.at.as_secs(), "tasks": j.tasks, "task_secs": j.secs})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "shared": s,
        "partitioned": p,
        "shared_over_partitioned": {
            "frameworks": ratios,
            "makespan": ratio("makespan_secs"),
            "mean_utilisation": ratio("mean_utilisation"),
        },
        "wall_secs": (wall.elapsed().as_secs_f64() * 100.0).round() / 100.0,
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&out).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    );
}

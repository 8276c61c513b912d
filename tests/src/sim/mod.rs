//! The seeded whole-cluster simulation: a master, N agents on the test containerizer and a
//! framework (the SDK's scheduler keeping tasks running; in one seed of eight also our
//! Marathon and Chronos, see [`services`]) in one OS process, on one thread, on a paused
//! tokio clock and the simulated network [`net::SimNet`], with every random choice drawn
//! from one seed.
//!
//! A run has two phases. During the *fault phase* a seeded schedule injects faults: frame
//! drops, duplicates and delays, one-way and two-way partitions, severed connections,
//! master crashes (its registry, in memory, survives), agent crashes (the executors live on
//! and the restarted agent recovers from its checkpoint directory), scheduler failovers
//! with the FrameworkID, and clock jumps; what went down comes back after a while. Seeds
//! with Marathon and Chronos add their own faults on a separate seeded stream (crash and
//! restart from their durable stores with the stored FrameworkID, partitions from the
//! master). Then faults stop, everything is brought back, and the *settle phase* waits
//! (bounded, in simulated time) for the cluster to converge. [`check`] holds the
//! invariants, checked at every step and at the end ([`marathon`] and [`chronos`] hold
//! theirs: each app's instances running in all three views and nothing of Marathon's
//! unknown to it; Chronos's instants each decided once, run or missed as documented). A run
//! returns a [`SimReport`]; a failing seed's report carries its trace, and the same seed
//! replays the same schedule.
//!
//! Modelled: what is listed above. Not modelled (yet): several masters with leader
//! election (needs a ZooKeeper model behind a seam in `detector`), slow disks, executor
//! crashes, per-node clocks (a clock jump moves the one shared clock: every timer in the
//! cluster comes due at once, like a stall of the whole process).

pub mod check;
pub mod chronos;
pub mod marathon;
pub mod net;
pub mod services;
pub mod workload;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use frameworks::scheduler::{self, MasterAddress, SchedulerConfig, SchedulerHandle};
use libproc::rng::SplitMix64;
use libproc::{Node, NodeConfig, Pid};
use master::config::MasterConfig;
use master::registry::RegistryStore;
use master::MasterHandle;
use proto::{FrameworkInfo, TaskId};
use slave::containerizer::{TaskOutcome, TestContainerizer};
use slave::{AgentConfig, AgentHandle};
use tokio::time::Instant;

use net::{SimNet, Weather};
use workload::{Intent, Keeper, Memory, SharedMemory};

/// The event log of a run, stamped with simulated time.
#[derive(Clone)]
pub struct Trace {
    start: Instant,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Trace {
    fn new() -> Trace {
        Trace {
            start: Instant::now(),
            lines: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Appends `what` at the current simulated time.
    pub fn note(&self, what: String) {
        let t = self.start.elapsed().as_secs_f64();
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(format!("{t:>9.3}s {what}"));
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The shape of a run.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Agents.
    pub agents: usize,
    /// Tasks the framework keeps running.
    pub intents: usize,
    /// How long faults are injected (simulated time).
    pub fault_time: Duration,
    /// How long the cluster gets to converge once faults stop (the liveness bound).
    pub settle_bound: Duration,
    /// Whether to inject faults at all.
    pub faults: bool,
    /// Which seeds also run Marathon and Chronos ([`services`]).
    pub marathon_chronos: services::SeedShare,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            agents: 3,
            intents: 4,
            fault_time: Duration::from_secs(120),
            settle_bound: Duration::from_secs(400),
            faults: true,
            marathon_chronos: services::SeedShare::OneIn(8),
        }
    }
}

/// What a run did and found.
#[derive(Debug, Clone)]
pub struct SimReport {
    /// Its seed.
    pub seed: u64,
    /// Faults injected, by kind.
    pub faults: BTreeMap<String, u64>,
    /// Invariant breaks (empty: the seed passed).
    pub breaks: Vec<String>,
    /// The event log.
    pub trace: Vec<String>,
    /// Simulated time the run covered.
    pub simulated: Duration,
    /// Wall time it took.
    pub wall: Duration,
}

impl SimReport {
    /// The seed, its breaks and its trace, for a failure message.
    pub fn explain(&self) -> String {
        let mut out = format!(
            "seed {} broke invariants (replay: cargo run -p cluster --example chaos -- --seed {}):\n",
            self.seed, self.seed
        );
        for b in &self.breaks {
            out.push_str(&format!("  BREAK {b}\n"));
        }
        out.push_str("trace:\n");
        for l in &self.trace {
            out.push_str(&format!("  {l}\n"));
        }
        out
    }
}

const MASTER_ADDR: &str = "10.0.0.1:5050";
const FRAMEWORK_ADDR: &str = "10.0.2.1:7000";
const AGENT_RESOURCES: &str = "cpus:2;mem:1024";
const TASK_RESOURCES: &str = "cpus:0.5;mem:128";

fn agent_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, 1, i as u8], 5051))
}

/// Runs one seed on a fresh single-threaded runtime with a paused clock.
pub fn run_seed(seed: u64, config: &SimConfig) -> SimReport {
    let wall = std::time::Instant::now();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return SimReport {
                seed,
                faults: BTreeMap::new(),
                breaks: vec![format!("cannot build a runtime: {e}")],
                trace: Vec::new(),
                simulated: Duration::ZERO,
                wall: wall.elapsed(),
            }
        }
    };
    let mut report = rt.block_on(tokio::task::LocalSet::new().run_until(simulate(seed, config)));
    drop(rt);
    report.wall = wall.elapsed();
    report
}

/// Runs `seeds` on `workers` threads (each seed on its own runtime) and returns their
/// reports in seed order.
pub fn run_seeds(
    seeds: std::ops::Range<u64>,
    config: &SimConfig,
    workers: usize,
) -> Vec<SimReport> {
    let next = std::sync::atomic::AtomicU64::new(seeds.start);
    let reports = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..workers.max(1) {
            s.spawn(|| loop {
                let seed = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if seed >= seeds.end {
                    return;
                }
                let r = run_seed(seed, config);
                reports.lock().unwrap_or_else(|p| p.into_inner()).push(r);
            });
        }
    });
    let mut reports = reports.into_inner().unwrap_or_else(|p| p.into_inner());
    reports.sort_by_key(|r| r.seed);
    reports
}

/// Launches per task id, counted where executors receive them.
type Launches = Arc<Mutex<BTreeMap<TaskId, u32>>>;

struct AgentSlot {
    node: Node,
    dir: PathBuf,
    containerizer: TestContainerizer,
    handle: Option<AgentHandle>,
}

/// Something down that comes back at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repair {
    Master,
    Agent(usize),
    Framework,
    Heal(IpAddr, IpAddr),
    CalmWeather,
}

struct Sim {
    seed: u64,
    rng: SplitMix64,
    net: SimNet,
    trace: Trace,
    store: RegistryStore,
    master_node: Option<Node>,
    master: Option<MasterHandle>,
    agents: Vec<AgentSlot>,
    fw_node: Node,
    driver: Option<SchedulerHandle<Keeper>>,
    drivers_started: u64,
    memory: SharedMemory,
    launches: Launches,
    faults: BTreeMap<String, u64>,
    pending: Vec<(Instant, Repair)>,
    breaks: Vec<String>,
    services: Option<services::Services>,
    _work: crate::testkit::TempDir,
}

fn master_pid() -> Pid {
    Pid::new("master", MASTER_ADDR.parse().expect("a socket address"))
}

async fn bind(net: &SimNet, addr: SocketAddr) -> Node {
    // A crashed node's listener goes away a moment after its shutdown: retry briefly.
    let mut last = None;
    for _ in 0..100 {
        match Node::bind(NodeConfig::new(addr).transport(net.clone())).await {
            Ok(n) => return n,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("cannot bind a simulated node at {addr}: {last:?}");
}

async fn simulate(seed: u64, config: &SimConfig) -> SimReport {
    let start = Instant::now();
    let mut sim = Sim::start(seed, config).await;
    sim.trace.note(format!("seed {seed}: cluster up"));
    if config.faults {
        let end = Instant::now() + config.fault_time;
        let mut reconciled = Instant::now();
        while Instant::now() < end {
            if reconciled.elapsed() >= Duration::from_secs(30) {
                reconciled = Instant::now();
                sim.reconcile().await;
            }
            let pause = Duration::from_millis(200 + sim.rng.next_u64() % 4800);
            tokio::time::sleep(pause).await;
            sim.repair_due(false).await;
            sim.inject(config).await;
            sim.inject_services();
            sim.check_now();
            sim.check_services_now();
        }
    }
    sim.trace.note("faults stop; everything comes back".into());
    sim.net.heal();
    sim.net.set_weather(Weather::default());
    sim.repair_due(true).await;
    sim.settle(config).await;
    sim.settle_services(config).await;
    sim.check_now();
    sim.check_services_now();
    let mut faults = sim.faults.clone();
    for (k, v) in sim.net.counts() {
        faults.insert(format!("net_{k}"), v);
    }
    let report = SimReport {
        seed,
        faults,
        breaks: sim.breaks.clone(),
        trace: sim.trace.lines(),
        simulated: start.elapsed(),
        wall: Duration::ZERO,
    };
    sim.stop().await;
    report
}

impl Sim {
    async fn start(seed: u64, config: &SimConfig) -> Sim {
        let net = SimNet::new(seed ^ 0x005E_ED0F_0E70_4B17);
        // Checkpoints fsync; on a memory file system that costs no disk wait.
        let shm = std::path::Path::new("/dev/shm");
        let work = if shm.is_dir() {
            crate::testkit::TempDir::new_in(shm, "sim")
        } else {
            crate::testkit::TempDir::new("sim")
        };
        let launches: Launches = Arc::default();
        let memory: SharedMemory = Arc::new(Mutex::new(Memory {
            intents: vec![Intent::default(); config.intents],
            ..Memory::default()
        }));
        let fw_node = bind(&net, FRAMEWORK_ADDR.parse().expect("a socket address")).await;
        let services = if config.marathon_chronos.includes(seed) {
            Some(services::Services::new(seed, &net).await)
        } else {
            None
        };
        let mut sim = Sim {
            seed,
            rng: SplitMix64::new(seed),
            net,
            trace: Trace::new(),
            store: RegistryStore::in_memory(),
            master_node: None,
            master: None,
            agents: Vec::new(),
            fw_node,
            driver: None,
            drivers_started: 0,
            memory,
            launches,
            faults: BTreeMap::new(),
            pending: Vec::new(),
            breaks: Vec::new(),
            services,
            _work: work,
        };
        sim.start_master().await;
        for i in 1..=config.agents {
            let node = bind(&sim.net, agent_addr(i)).await;
            let launches = sim.launches.clone();
            let theirs = sim.services.as_ref().map(|s| s.launches.clone());
            let containerizer = TestContainerizer::new(&node).with_script(Arc::new(move |t| {
                if let Some(o) = theirs.as_ref().and_then(|l| services::on_launch(l, t)) {
                    return o;
                }
                *launches
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(t.task_id.clone())
                    .or_default() += 1;
                TaskOutcome::Runs
            }));
            sim.agents.push(AgentSlot {
                node,
                dir: sim._work.path().join(format!("agent-{i}")),
                containerizer,
                handle: None,
            });
            sim.start_agent(i - 1);
        }
        sim.start_framework();
        sim.start_services().await;
        sim
    }

    fn count(&mut self, kind: &str) {
        *self.faults.entry(kind.to_string()).or_default() += 1;
    }

    async fn start_master(&mut self) {
        let node = bind(&self.net, MASTER_ADDR.parse().expect("a socket address")).await;
        let mut config = MasterConfig::default();
        let addr: SocketAddr = MASTER_ADDR.parse().expect("a socket address");
        config.ip = addr.ip();
        config.port = addr.port();
        config.registry_store = Some(self.store.clone());
        config.id_seed = self.seed ^ self.rng.next_u64();
        config.allocation_interval = Duration::from_secs(1);
        config.agent_ping_timeout = Duration::from_secs(5);
        config.max_agent_ping_timeouts = 3;
        config.agent_reregister_timeout = Duration::from_secs(60);
        config.quiet = true;
        match master::spawn(&node, config, None) {
            Ok(m) => {
                self.master = Some(m);
                self.trace.note("master started".into());
            }
            Err(e) => self.breaks.push(format!("the master cannot start: {e}")),
        }
        self.master_node = Some(node);
    }

    fn start_agent(&mut self, i: usize) {
        let slot = &mut self.agents[i];
        let mut config = AgentConfig::new(master_pid(), slot.dir.clone());
        config.resources = AGENT_RESOURCES.parse().unwrap_or_default();
        config.containerizer = Some(Arc::new(slot.containerizer.clone()));
        config.serve_files = false;
        config.seed = self.seed.wrapping_add(1000 * (i as u64 + 1)) ^ self.rng.next_u64();
        config.status_update_retry_interval_max = Duration::from_secs(40);
        match slave::spawn(&slot.node, config) {
            Ok(h) => {
                self.trace
                    .note(format!("agent {} started as {}", i + 1, h.pid()));
                slot.handle = Some(h);
            }
            Err(e) => self
                .breaks
                .push(format!("agent {} cannot start: {e}", i + 1)),
        }
    }

    fn start_framework(&mut self) {
        let mut info = FrameworkInfo::new("sim", "root");
        info.failover_timeout = 7.0 * 24.0 * 3600.0;
        info.checkpoint = true;
        info.id = self
            .memory
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .framework_id
            .clone();
        let keeper = Keeper {
            memory: self.memory.clone(),
            task_resources: TASK_RESOURCES.parse().unwrap_or_default(),
            agent_total: AGENT_RESOURCES.parse().unwrap_or_default(),
            log: self.trace.clone(),
        };
        self.drivers_started += 1;
        let config = SchedulerConfig {
            seed: self.seed.wrapping_add(self.drivers_started),
            registration_backoff_max: Duration::from_secs(10),
            ..SchedulerConfig::default()
        };
        let failover = info.id.is_some();
        match scheduler::run_with(
            &self.fw_node,
            MasterAddress::Standalone(master_pid()),
            info,
            keeper,
            config,
        ) {
            Ok(h) => {
                self.trace.note(format!(
                    "scheduler {} started (failover: {failover})",
                    h.pid()
                ));
                self.driver = Some(h);
            }
            Err(e) => self.breaks.push(format!("the scheduler cannot start: {e}")),
        }
    }

    fn later(&mut self, min_s: u64, max_s: u64, r: Repair) {
        let secs = min_s + self.rng.next_u64() % (max_s - min_s + 1);
        self.pending
            .push((Instant::now() + Duration::from_secs(secs), r));
    }

    fn nodes(&self) -> Vec<IpAddr> {
        let mut v = vec![master_pid().addr().ip()];
        v.extend((1..=self.agents.len()).map(|i| agent_addr(i).ip()));
        v.push(self.fw_node.addr().ip());
        v
    }

    /// One random fault.
    async fn inject(&mut self, _config: &SimConfig) {
        let roll = self.rng.next_u64() % 100;
        let nodes = self.nodes();
        let a = nodes[(self.rng.next_u64() % nodes.len() as u64) as usize];
        let mut b = nodes[(self.rng.next_u64() % nodes.len() as u64) as usize];
        if a == b {
            b = nodes[(nodes.iter().position(|n| *n == a).unwrap_or(0) + 1) % nodes.len()];
        }
        match roll {
            0..=14 => {
                let w = Weather {
                    drop: 0.02 + 0.2 * self.rng.next_f64(),
                    duplicate: 0.1 * self.rng.next_f64(),
                    delay: 0.3 * self.rng.next_f64(),
                    max_delay: Duration::from_millis(1 + self.rng.next_u64() % 3000),
                };
                self.trace.note(format!("weather {w:?}"));
                self.net.set_weather(w);
                self.count("weather");
                self.later(1, 30, Repair::CalmWeather);
            }
            15..=29 => {
                self.trace.note(format!("partition {a} -> {b} (one-way)"));
                self.net.block(a, b);
                self.count("partition_one_way");
                self.later(1, 90, Repair::Heal(a, b));
            }
            30..=44 => {
                self.trace.note(format!("partition {a} <-> {b}"));
                self.net.block(a, b);
                self.net.block(b, a);
                self.net.sever(a, b);
                self.count("partition_two_way");
                self.later(1, 90, Repair::Heal(a, b));
            }
            45..=54 => {
                self.trace.note(format!("sever {a} <-> {b}"));
                self.net.sever(a, b);
                self.count("sever");
            }
            55..=69 => {
                let i = (self.rng.next_u64() % self.agents.len() as u64) as usize;
                if let Some(h) = self.agents[i].handle.take() {
                    self.trace
                        .note(format!("crash agent {} ({})", i + 1, h.pid()));
                    self.agents[i].node.terminate(h.pid());
                    self.count("crash_agent");
                    self.later(1, 40, Repair::Agent(i));
                }
            }
            70..=79 => {
                if let (Some(node), Some(_)) = (self.master_node.take(), self.master.take()) {
                    self.trace.note("crash master".into());
                    node.shutdown();
                    self.count("crash_master");
                    self.later(1, 30, Repair::Master);
                }
            }
            80..=89 => {
                if let Some(d) = self.driver.take() {
                    self.trace.note(format!("crash scheduler {}", d.pid()));
                    self.fw_node.terminate(d.pid());
                    self.count("crash_scheduler");
                    self.later(1, 30, Repair::Framework);
                }
            }
            _ => {
                let jump = Duration::from_secs(1 + self.rng.next_u64() % 30);
                self.trace.note(format!("clock jumps {jump:?}"));
                tokio::time::advance(jump).await;
                self.count("clock_jump");
            }
        }
    }

    /// Brings back what is due (or everything, with `all`); restarts what stopped by
    /// itself, as a supervisor would.
    async fn repair_due(&mut self, all: bool) {
        let now = Instant::now();
        let mut due: Vec<(Instant, Repair)> = Vec::new();
        self.pending.retain(|(t, r)| {
            if all || *t <= now {
                due.push((*t, *r));
                false
            } else {
                true
            }
        });
        due.sort_by_key(|(t, _)| *t);
        for (_, r) in due {
            match r {
                Repair::Master => self.start_master().await,
                Repair::Agent(i) => self.start_agent(i),
                Repair::Framework => self.start_framework(),
                Repair::Heal(a, b) => {
                    self.trace.note(format!("heal {a} <-> {b}"));
                    self.net.unblock(a, b);
                    self.net.unblock(b, a);
                }
                Repair::CalmWeather => {
                    self.trace.note("calm weather".into());
                    self.net.set_weather(Weather::default());
                }
            }
        }
        // Processes that stopped by themselves (an agent told to shut down, a master
        // that gave up) are restarted.
        if self.master.as_ref().is_some_and(|m| !m.master.is_alive())
            && !self.pending.iter().any(|(_, r)| *r == Repair::Master)
        {
            self.trace
                .note("the master stopped by itself: restarting it".into());
            if let Some(n) = self.master_node.take() {
                n.shutdown();
            }
            self.master = None;
            self.start_master().await;
        }
        for i in 0..self.agents.len() {
            let dead = self.agents[i]
                .handle
                .as_ref()
                .is_some_and(|h| !h.process.is_alive());
            if dead {
                self.trace
                    .note(format!("agent {} stopped by itself: restarting it", i + 1));
                self.agents[i].handle = None;
                self.start_agent(i);
            }
        }
        let driver_dead = self.driver.as_ref().is_some_and(|d| !d.process.is_alive());
        if driver_dead {
            self.trace
                .note("the scheduler stopped by itself: restarting it".into());
            self.driver = None;
            self.start_framework();
        }
        self.repair_services(all).await;
    }

    async fn stop(self) {
        for slot in &self.agents {
            if let Some(h) = &slot.handle {
                let _ = tokio::time::timeout(Duration::from_secs(30), h.shutdown()).await;
            }
            slot.node.shutdown();
        }
        if let Some(n) = &self.master_node {
            n.shutdown();
        }
        self.fw_node.shutdown();
    }
}

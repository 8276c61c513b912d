//! The seeded whole-cluster simulation: 3 masters contending through an in-memory
//! ZooKeeper (`detector::zk_model`, reached through the same `detector::session` seam as a
//! real one: the masters, agents and scheduler are given `zk://<client>.sim-ensemble-<seed>:2181/mesos`),
//! N agents on the test containerizer and a framework (the SDK's scheduler keeping tasks
//! running) in one OS process, on one thread, on a paused tokio clock and the simulated
//! network [`net::SimNet`], with every random choice drawn from one seed. The registry is
//! the ZooKeeper blob store on the model, fenced by the writer's candidacy.
//! `SimConfig::default()` still runs the older, cheaper shape (`masters: 1`: one standalone
//! master, its registry in memory); `masters: 3` runs the shape above (about 1.8x the CPU
//! per seed; the suite gives it its own, smaller budget). In one seed of eight our Marathon
//! and Chronos run too, beside the simulation's framework (see [`services`]; their faults:
//! crash and restart from their durable stores with the stored FrameworkID, partitions from
//! the master, on a stream of their own; their invariants in [`marathon`] and [`chronos`]).
//!
//! A run has two phases. During the *fault phase* a seeded schedule injects faults: frame
//! drops, duplicates and delays, one-way and two-way partitions, severed connections,
//! master crashes (the leader half the time; with 3 masters its ZooKeeper session is cut
//! first, so its candidacy lingers until the session expires, as when a process dies; a
//! single master's registry, in memory, survives), agent crashes (the executors live on and
//! the restarted agent recovers from its checkpoint directory), scheduler failovers with
//! the FrameworkID, clock faults (one node's wall clock steps forwards or backwards, or
//! the whole process stalls: see [`clocks`]), and ZooKeeper faults: a master's session
//! expired (never sooner than a real server would), a master disconnected from ZooKeeper for up to 15 s,
//! a master partitioned from ZooKeeper, a ZooKeeper restart. Drawn from a second stream of
//! the seed: executor crashes (the agent fails the task, the framework relaunches it), a
//! slow or a failing registry disk (the single master's in-memory registry; with 3 masters
//! the registry is in ZooKeeper, whose disk turns slow), and failing or slow agent
//! checkpoint writes (see [`disk`]; a failed checkpoint stops the agent, which is
//! restarted; a slow one holds the agent, and what it sends after the write, in virtual
//! time), and a master, an agent, the scheduler or an agent's executors stopped for up to
//! 25 s, as by SIGSTOP
//! (see [`pause`]: its processes paused in virtual time, its ZooKeeper session silent),
//! and, with 3 masters, a ZooKeeper follower lagging the leader by up to 20 s, reached by
//! the sessions one master opens meanwhile (stale reads: `Sim::lag_zk_follower`), and, in
//! seeds that run Chronos, its store turned slow for a while (each write 0.2-5 s, in order:
//! [`chronos::SimStore`]).
//! What went down comes back after a while. Then faults stop, everything is
//! brought back, and the *settle phase* waits (bounded, in simulated time) for the cluster
//! to converge. [`check`] and [`acks`] hold the invariants (among them at most one acting
//! leader, checked at every instant: at each change that can start a master acting, see
//! [`acting`]; offers within every agent's resources; each status update acknowledged
//! exactly once), checked at every step and at the end. A run returns a
//! [`SimReport`]; a failing seed's report carries its trace, and the same seed replays the
//! same run exactly: the same frames at the same simulated times ([`SimReport::digest`]),
//! whatever else runs in the process (see `tests/tests/sim_determinism.rs` for what that
//! takes of the code: biased `select!`s, blocking work through `libproc::offload`, which
//! [`run_seed`] makes inline, and no shared counters or randomly ordered maps).
//!
//! Modelled: what is listed above. ZooKeeper losing its quorum and regaining it is what
//! the ensemble's restart does (sessions and data kept, timeouts started again once it is
//! back). Not modelled (yet): failing registry writes with 3 masters (a real ZooKeeper does
//! not fail a write; its outages are the ZooKeeper faults), executors that hang for good
//! (they stop for a while: see [`pause`]), stale reads of the agents' and the scheduler's sessions (only masters' sessions
//! reach a lagging follower), and per-node monotonic clocks (wall clocks are per node;
//! timers run on the one shared clock, so a stopped program's timers fire late, as they
//! would, but no node's timers run fast).
//! By default only masters' sessions get ZooKeeper faults; with
//! [`SimConfig::zk_faults_on_followers`] (`chaos --zk-followers`) the agents' and the
//! scheduler's sessions get them too: expiry, disconnects, and a request cut in flight
//! (`detector::zk_model::Ensemble::cut_next_request`).

pub mod acks;
pub mod acting;
pub mod check;
pub mod chronos;
pub mod clocks;
pub mod disk;
pub mod marathon;
pub mod net;
pub mod pause;
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
    /// Masters: 1 is a standalone master (its registry in memory, found at a fixed
    /// address); more contend through the in-memory ZooKeeper (`detector::zk_model`), keep
    /// the registry there, and agents and the scheduler find the leader by `zk://`.
    pub masters: usize,
    /// With several masters: ZooKeeper faults (session expiry, disconnects) also hit the
    /// agents' and the scheduler's sessions, which follow the leader through ZooKeeper,
    /// not only the masters'. Off by default, so the CI budget's schedules stay as pinned
    /// (it draws from the seed differently); `chaos --zk-followers` turns it on.
    pub zk_faults_on_followers: bool,
    /// Which fault kinds are drawn ([`FaultKinds::All`] by default). Pinned-seed tests
    /// name the set their seed was found with, so it replays that run (a kind added later
    /// reshapes a seed's run) and stays a reproducer.
    pub fault_kinds: FaultKinds,
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
            masters: 1,
            zk_faults_on_followers: false,
            fault_kinds: FaultKinds::All,
        }
    }
}

/// The fault kinds of a run. The kinds grew over time, and each new one reshapes every
/// seed's run, so a seed found breaking with one set is replayed with that set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKinds {
    /// The kinds the seeds pinned up to stop 25 were found with; a clock fault jumps the
    /// one shared clock.
    Stop25,
    /// And a clock fault steps one node's wall clock (two times in three, see [`clocks`]).
    WallClockSteps,
    /// And slow checkpoint disks, stopped programs ([`pause`]), a slow ZooKeeper and a
    /// lagging follower with 3 masters, and a slow Chronos store ([`chronos::SimStore`]).
    All,
}

impl std::str::FromStr for FaultKinds {
    type Err = String;
    fn from_str(s: &str) -> Result<FaultKinds, String> {
        match s {
            "stop25" => Ok(FaultKinds::Stop25),
            "wall-clock-steps" => Ok(FaultKinds::WallClockSteps),
            "all" => Ok(FaultKinds::All),
            _ => Err(format!(
                "unknown fault kinds '{s}': use stop25, wall-clock-steps or all"
            )),
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
    /// The digest of every frame the network carried ([`SimNet::digest`]): a seed that
    /// replays exactly gives the same digest every time, in any process, on any thread.
    pub digest: u64,
    /// One line per frame, when `SIM_NET_LOG` is set ([`SimNet::log`]).
    pub net_log: Vec<String>,
    /// The command that replays this seed in the same shape ([`replay_command`]).
    pub replay: String,
}

/// The `chaos` command that replays `seed` with `config`'s shape: a seed's run depends on
/// the masters, the services, the follower faults, the fault kinds and the fault time.
pub fn replay_command(seed: u64, config: &SimConfig) -> String {
    let services = match config.marathon_chronos {
        services::SeedShare::None => "none".to_string(),
        services::SeedShare::All => "all".to_string(),
        services::SeedShare::OneIn(n) => n.to_string(),
    };
    let kinds = match config.fault_kinds {
        FaultKinds::Stop25 => "stop25",
        FaultKinds::WallClockSteps => "wall-clock-steps",
        FaultKinds::All => "all",
    };
    let mut cmd = format!(
        "cargo run -p cluster --example chaos -- --seed {seed} --masters {} --marathon-chronos {services} --fault-kinds {kinds}",
        config.masters.max(1)
    );
    if config.zk_faults_on_followers {
        cmd.push_str(" --zk-followers");
    }
    if config.fault_time != SimConfig::default().fault_time {
        cmd.push_str(&format!(" --fault-secs {}", config.fault_time.as_secs()));
    }
    if !config.faults {
        cmd.push_str(" (with faults off: SimConfig::faults)");
    }
    cmd
}

impl SimReport {
    /// The seed, its breaks and its trace, for a failure message.
    pub fn explain(&self) -> String {
        let mut out = format!(
            "seed {} broke invariants (replay: {}):\n",
            self.seed, self.replay
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

/// The ZooKeeper path masters contend under.
const ZK_PATH: &str = "/mesos";
/// The sim's ZooKeeper session timeout (Mesos's default).
const ZK_SESSION_TIMEOUT: Duration = Duration::from_secs(10);
const FRAMEWORK_ADDR: &str = "10.0.2.1:7000";
const AGENT_RESOURCES: &str = "cpus:2;mem:1024";
const TASK_RESOURCES: &str = "cpus:0.5;mem:128";

/// Master `i`'s address (from 0).
fn master_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, i as u8 + 1], 5050))
}

/// Master `i`'s label as a ZooKeeper client (see `detector::zk_model`).
fn master_label(i: usize) -> String {
    format!("m{}", i + 1)
}

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
                digest: 0,
                net_log: Vec::new(),
                replay: replay_command(seed, config),
            }
        }
    };
    // Blocking work (disk scans, renders) runs inline, so its result reaches its actor at
    // the same point on every replay (see `libproc::offload`).
    libproc::offload::run_inline_on_this_thread(true);
    let mut report = rt.block_on(tokio::task::LocalSet::new().run_until(simulate(seed, config)));
    drop(rt);
    libproc::offload::run_inline_on_this_thread(false);
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
    Master(usize),
    /// Master `i` reaches ZooKeeper again.
    ZkHeal(usize),
    Agent(usize),
    Framework,
    Heal(IpAddr, IpAddr),
    CalmWeather,
    /// The registry's disk is healthy again.
    Registry,
    /// The agents' checkpoint disk is healthy again.
    Checkpoints,
}

struct Sim {
    seed: u64,
    rng: SplitMix64,
    net: SimNet,
    trace: Trace,
    store: RegistryStore,
    masters: Vec<MasterSlot>,
    /// The in-memory ZooKeeper, with several masters.
    zk: Option<detector::zk_model::Ensemble>,
    /// The running masters' acting probes, by slot, checked at every change for two
    /// masters acting at once (see [`acting`]).
    acting: acting::ActingLedger,
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
    /// [`SimConfig::zk_faults_on_followers`].
    zk_faults_on_followers: bool,
    /// [`SimConfig::fault_kinds`].
    fault_kinds: FaultKinds,
    /// Draws the executor and disk faults (apart from `rng`, so adding them left the
    /// schedule of the other faults as it was).
    fault_rng: SplitMix64,
    disk: disk::SharedDisk,
    acks: acks::AckLedger,
    /// The nodes' wall clocks (see [`clocks`]).
    clocks: clocks::Clocks,
    _work: crate::testkit::TempDir,
}

/// One master's place: its node and process while up.
#[derive(Default)]
struct MasterSlot {
    node: Option<Node>,
    handle: Option<MasterHandle>,
}

fn master_pid() -> Pid {
    Pid::new("master", master_addr(0))
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
            sim.inject_process_or_disk_fault();
            sim.inject_services();
            sim.check_now();
            sim.check_services_now();
            sim.check_master_offers().await;
            sim.check_acks().await;
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
    sim.check_master_offers().await;
    sim.settle_acks().await;
    let mut faults = sim.faults.clone();
    let (failed, slowed) = sim.checkpoint_writes_failed_and_slowed();
    faults.insert("checkpoint_writes_failed".into(), failed);
    faults.insert("checkpoint_writes_slow".into(), slowed);
    if let Some(n) = sim.chronos_store_writes_slowed().filter(|n| *n > 0) {
        faults.insert("chronos_store_writes_slow".into(), n);
    }
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
        digest: sim.net.digest(),
        net_log: sim.net.log(),
        replay: replay_command(seed, config),
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
        let clocks = clocks::Clocks::new(seed);
        let services = if config.marathon_chronos.includes(seed) {
            Some(services::Services::new(seed, &net, clocks.table.clone()).await)
        } else {
            None
        };
        let trace = Trace::new();
        let mut sim = Sim {
            seed,
            rng: SplitMix64::new(seed),
            net,
            acting: acting::ActingLedger::new(config.masters.max(1), trace.clone()),
            trace,
            store: RegistryStore::in_memory(),
            masters: (0..config.masters.max(1))
                .map(|_| MasterSlot::default())
                .collect(),
            zk: (config.masters > 1)
                .then(|| detector::zk_model::Ensemble::new(&format!("sim-ensemble-{seed}"))),
            agents: Vec::new(),
            fw_node,
            driver: None,
            drivers_started: 0,
            zk_faults_on_followers: config.zk_faults_on_followers,
            fault_kinds: config.fault_kinds,
            memory,
            launches,
            faults: BTreeMap::new(),
            pending: Vec::new(),
            breaks: Vec::new(),
            services,
            fault_rng: SplitMix64::new(seed ^ 0x00E8_EC0F_A17D_15C5),
            disk: disk::install(seed),
            acks: acks::AckLedger::default(),
            clocks,
            _work: work,
        };
        for i in 0..sim.masters.len() {
            sim.start_master(i).await;
        }
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

    /// Where `client` (a ZooKeeper client label) finds the leading master.
    fn master_address(&self, client: &str) -> MasterAddress {
        match &self.zk {
            Some(zk) => MasterAddress::ZooKeeper(detector::ZkUrl {
                servers: zk.servers(client),
                path: ZK_PATH.into(),
            }),
            None => MasterAddress::Standalone(master_pid()),
        }
    }

    async fn start_master(&mut self, i: usize) {
        let addr = master_addr(i);
        let node = bind(&self.net, addr).await;
        let mut config = MasterConfig {
            ip: addr.ip(),
            port: addr.port(),
            ..MasterConfig::default()
        };
        match &self.zk {
            Some(zk) => {
                let url = detector::ZkUrl {
                    servers: zk.servers(&master_label(i)),
                    path: ZK_PATH.into(),
                };
                config.zk_session_timeout = ZK_SESSION_TIMEOUT;
                config.registry_store = Some(RegistryStore::ZooKeeper(
                    detector::zk_store::ZkBlobStore::new(&url, "registry", ZK_SESSION_TIMEOUT),
                ));
                config.zk = Some(url);
            }
            None => config.registry_store = Some(self.store.clone()),
        }
        config.id_seed = self.seed ^ self.rng.next_u64();
        config.allocation_interval = Duration::from_secs(1);
        config.agent_ping_timeout = Duration::from_secs(5);
        config.max_agent_ping_timeouts = 3;
        config.agent_reregister_timeout = Duration::from_secs(60);
        config.quiet = true;
        config.clock = self.clocks.table.wall(&master_label(i));
        match master::spawn(&node, config, None) {
            Ok(m) => {
                self.acting.enter(i, m.acting.clone());
                self.masters[i].handle = Some(m);
                self.trace.note(format!("master {} started", i + 1));
            }
            Err(e) => self
                .breaks
                .push(format!("master {} cannot start: {e}", i + 1)),
        }
        self.masters[i].node = Some(node);
    }

    fn start_agent(&mut self, i: usize) {
        let address = self.master_address(&format!("a{}", i + 1));
        let slot = &mut self.agents[i];
        let mut config = AgentConfig::new(master_pid(), slot.dir.clone());
        config.master = address;
        config.resources = AGENT_RESOURCES.parse().unwrap_or_default();
        config.containerizer = Some(Arc::new(slot.containerizer.clone()));
        // The test containerizer runs nothing. A fixed path keeps the executors' commands,
        // and so the frames' lengths and the run's digest, the same wherever it was built.
        config.launcher_dir = PathBuf::from("/sim/libexec");
        config.serve_files = false;
        config.seed = self.seed.wrapping_add(1000 * (i as u64 + 1)) ^ self.rng.next_u64();
        config.status_update_retry_interval_max = Duration::from_secs(40);
        config.clock = self.clocks.table.wall(&format!("a{}", i + 1));
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
            self.master_address("fw"),
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

    /// [`Sim::later`] with the time drawn from `fault_rng`.
    fn later_with_fault_rng(&mut self, min_s: u64, max_s: u64, r: Repair) {
        let secs = min_s + self.fault_rng.next_u64() % (max_s - min_s + 1);
        self.pending
            .push((Instant::now() + Duration::from_secs(secs), r));
    }

    fn later(&mut self, min_s: u64, max_s: u64, r: Repair) {
        let secs = min_s + self.rng.next_u64() % (max_s - min_s + 1);
        self.pending
            .push((Instant::now() + Duration::from_secs(secs), r));
    }

    fn nodes(&self) -> Vec<IpAddr> {
        let mut v: Vec<IpAddr> = (0..self.masters.len())
            .map(|i| master_addr(i).ip())
            .collect();
        v.extend((1..=self.agents.len()).map(|i| agent_addr(i).ip()));
        v.push(self.fw_node.addr().ip());
        v
    }

    /// One random fault.
    async fn inject(&mut self, _config: &SimConfig) {
        // With ZooKeeper, rolls past 99 are ZooKeeper faults (see `inject_zk`).
        let roll = self.rng.next_u64() % if self.zk.is_some() { 115 } else { 100 };
        if roll >= 100 {
            self.inject_zk(roll - 100);
            return;
        }
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
                // Half the time the leader (if one acts), else any master.
                let i = match self.acting_master() {
                    Some(l) if self.rng.next_u64() % 2 == 0 => l,
                    _ => (self.rng.next_u64() % self.masters.len() as u64) as usize,
                };
                self.crash_master(i);
            }
            80..=89 => {
                if let Some(d) = self.driver.take() {
                    self.trace.note(format!("crash scheduler {}", d.pid()));
                    self.fw_node.terminate(d.pid());
                    self.count("crash_scheduler");
                    self.later(1, 30, Repair::Framework);
                }
            }
            _ => self.clock_fault().await,
        }
    }

    /// Now and then, one fault of another layer (drawn from `fault_rng`): an executor
    /// crashes, or the registry's disk turns slow or failing, or checkpoint writes fail or
    /// turn slow, or a program stops for a while (see [`pause`]), or a ZooKeeper follower
    /// lags, or Chronos's store turns slow.
    fn inject_process_or_disk_fault(&mut self) {
        match self.fault_rng.next_u64() % 100 {
            0..=5 => self.crash_executor(),
            6..=8 => self.slow_registry(),
            9..=10 => self.fail_registry(),
            11..=14 => self.fail_checkpoints(),
            15..=18 if self.fault_kinds >= FaultKinds::All => self.slow_checkpoints(),
            19..=21 if self.fault_kinds >= FaultKinds::All => self.pause_program(),
            22..=24 if self.fault_kinds >= FaultKinds::All => self.lag_zk_follower(),
            25..=27 if self.fault_kinds >= FaultKinds::All => self.slow_chronos_store(),
            _ => {}
        }
    }

    /// Kills a running executor, picked by `fault_rng` (its agent, up or down, must fail
    /// its tasks; the framework relaunches them).
    fn crash_executor(&mut self) {
        let running: Vec<(usize, proto::ContainerId)> = self
            .agents
            .iter()
            .enumerate()
            .flat_map(|(i, a)| {
                a.containerizer
                    .containers()
                    .into_iter()
                    .map(move |c| (i, c))
            })
            .collect();
        if running.is_empty() {
            return;
        }
        let (i, c) = running[(self.fault_rng.next_u64() % running.len() as u64) as usize].clone();
        if self.agents[i].containerizer.crash(&c) {
            self.trace
                .note(format!("crash executor {c} on agent {}", i + 1));
            self.count("crash_executor");
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
                Repair::Master(i) => self.start_master(i).await,
                Repair::ZkHeal(i) => {
                    if let Some(zk) = &self.zk {
                        self.trace
                            .note(format!("master {} reaches ZooKeeper again", i + 1));
                        zk.heal(&master_label(i));
                    }
                }
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
                Repair::Registry => self.heal_registry(),
                Repair::Checkpoints => self.heal_checkpoints(),
            }
        }
        // Processes that stopped by themselves (an agent told to shut down, a master
        // that gave up) are restarted.
        for i in 0..self.masters.len() {
            let slot = &self.masters[i];
            if slot.handle.as_ref().is_some_and(|m| !m.master.is_alive())
                && !self.pending.iter().any(|(_, r)| *r == Repair::Master(i))
            {
                self.trace
                    .note(format!("master {} stopped by itself: restarting it", i + 1));
                if let Some(n) = self.masters[i].node.take() {
                    n.shutdown();
                }
                self.masters[i].handle = None;
                self.start_master(i).await;
            }
        }
        if all {
            if let Some(zk) = &self.zk {
                zk.heal_all();
            }
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
        disk::uninstall();
        for slot in &self.agents {
            if let Some(h) = &slot.handle {
                let _ = tokio::time::timeout(Duration::from_secs(30), h.shutdown()).await;
            }
            slot.node.shutdown();
        }
        for slot in &self.masters {
            if let Some(n) = &slot.node {
                n.shutdown();
            }
        }
        self.fw_node.shutdown();
    }
}

/// Several masters and ZooKeeper.
impl Sim {
    /// Crashes master `i` (if up); it comes back after a while. With ZooKeeper, its
    /// session is cut first, as when a process dies: its candidacy lingers until the
    /// session expires.
    fn crash_master(&mut self, i: usize) {
        let (Some(node), Some(_)) = (self.masters[i].node.take(), self.masters[i].handle.take())
        else {
            return;
        };
        self.trace.note(format!("crash master {}", i + 1));
        self.acting.leave(i);
        if let Some(zk) = &self.zk {
            zk.disconnect(&master_label(i), Duration::from_millis(1));
        }
        node.shutdown();
        self.count("crash_master");
        self.later(1, 30, Repair::Master(i));
    }

    /// The master acting as leader now, if one is.
    fn acting_master(&self) -> Option<usize> {
        self.masters.iter().position(|s| {
            s.handle
                .as_ref()
                .is_some_and(|h| h.acting.acting() == master::leadership::Acting::Act)
        })
    }

    /// The master to ask what the cluster looks like: the acting leader, else the only
    /// master.
    pub(super) fn leader(&self) -> Option<&MasterHandle> {
        match self.acting_master() {
            Some(i) => self.masters[i].handle.as_ref(),
            None if self.masters.len() == 1 => self.masters[0].handle.as_ref(),
            None => None,
        }
    }

    /// One ZooKeeper fault (`roll` in 0..15).
    fn inject_zk(&mut self, roll: u64) {
        let Some(zk) = self.zk.clone() else { return };
        if self.zk_faults_on_followers && roll <= 7 && self.rng.next_u64() % 2 == 0 {
            self.inject_zk_follower(&zk, roll);
            return;
        }
        let i = match self.acting_master() {
            Some(l) if self.rng.next_u64() % 2 == 0 => l,
            _ => (self.rng.next_u64() % self.masters.len() as u64) as usize,
        };
        let label = master_label(i);
        match roll {
            0..=3 => {
                let n = zk.expire(&label);
                self.trace.note(format!(
                    "ZooKeeper expires master {}'s sessions ({n})",
                    i + 1
                ));
                self.count("zk_expire");
            }
            4..=7 => {
                let outage = Duration::from_millis(100 + self.rng.next_u64() % 15_000);
                let n = zk.disconnect(&label, outage);
                self.trace.note(format!(
                    "master {} disconnected from ZooKeeper for {outage:?} ({n} sessions)",
                    i + 1
                ));
                self.count("zk_disconnect");
            }
            8..=10 => {
                self.trace
                    .note(format!("partition master {} from ZooKeeper", i + 1));
                zk.partition(&label);
                self.count("zk_partition");
                self.later(1, 40, Repair::ZkHeal(i));
            }
            11..=12 => {
                let outage = Duration::from_millis(100 + self.rng.next_u64() % 20_000);
                self.trace
                    .note(format!("ZooKeeper restarts ({outage:?} down)"));
                zk.restart(outage);
                self.count("zk_restart");
            }
            _ => {
                if let Some(l) = self.acting_master() {
                    self.crash_master(l);
                }
            }
        }
    }

    /// A ZooKeeper follower falls 1-20 s behind the leader for 10-60 s, and the sessions a
    /// master (one not acting, if any: the acting one has its sessions) opens meanwhile
    /// reach it: their reads are stale until they sync (see
    /// `detector::zk_model::Ensemble::lag`). With 3 masters (ZooKeeper) and
    /// [`FaultKinds::All`] only; drawn from `fault_rng`.
    fn lag_zk_follower(&mut self) {
        let Some(zk) = self.zk.clone() else { return };
        let acting = self.acting_master();
        let others: Vec<usize> = (0..self.masters.len())
            .filter(|i| Some(*i) != acting)
            .collect();
        let pick = self.fault_rng.next_u64() as usize;
        let i = others.get(pick % others.len().max(1)).copied().unwrap_or(0);
        let behind = Duration::from_millis(1_000 + self.fault_rng.next_u64() % 19_000);
        let lasting = Duration::from_secs(10 + self.fault_rng.next_u64() % 51);
        zk.lag(&master_label(i), behind, lasting);
        self.trace.note(format!(
            "a ZooKeeper follower lags {behind:?} for {lasting:?}; master {}'s new sessions reach it",
            i + 1
        ));
        self.count("zk_stale_reads");
    }

    /// A ZooKeeper fault on the session of an agent or the scheduler (`roll` in 0..=7):
    /// expiry (0..=3), its next request cut in flight (4..=5), or a disconnection of up to
    /// 15 s. Their detectors must come back
    /// to following the leader on their own.
    fn inject_zk_follower(&mut self, zk: &detector::zk_model::Ensemble, roll: u64) {
        let followers = self.agents.len() as u64 + 1;
        let pick = self.rng.next_u64() % followers;
        let label = if pick == 0 {
            "fw".to_string()
        } else {
            format!("a{pick}")
        };
        if roll <= 3 {
            let n = zk.expire(&label);
            self.trace
                .note(format!("ZooKeeper expires {label}'s sessions ({n})"));
            self.count("zk_expire_follower");
        } else if roll <= 5 {
            let outage = Duration::from_millis(100 + self.rng.next_u64() % 5_000);
            let n = zk.cut_next_request(&label, outage);
            self.trace.note(format!(
                "{label}'s next ZooKeeper request is cut in flight, {outage:?} down ({n} sessions)"
            ));
            self.count("zk_cut_request_follower");
        } else {
            let outage = Duration::from_millis(100 + self.rng.next_u64() % 15_000);
            let n = zk.disconnect(&label, outage);
            self.trace.note(format!(
                "{label} disconnected from ZooKeeper for {outage:?} ({n} sessions)"
            ));
            self.count("zk_disconnect_follower");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A failing seed's replay hint names its shape: with the seed alone, `chaos` ran it
    /// with its own defaults (3 masters), another run than the one that failed.
    #[test]
    fn the_replay_command_names_the_runs_shape() {
        let one = SimConfig {
            masters: 1,
            marathon_chronos: services::SeedShare::None,
            fault_kinds: FaultKinds::Stop25,
            ..SimConfig::default()
        };
        assert_eq!(
            replay_command(14, &one),
            "cargo run -p cluster --example chaos -- --seed 14 --masters 1 --marathon-chronos none --fault-kinds stop25"
        );
        let three = SimConfig {
            masters: 3,
            zk_faults_on_followers: true,
            marathon_chronos: services::SeedShare::OneIn(8),
            fault_time: Duration::from_secs(60),
            ..SimConfig::default()
        };
        assert_eq!(
            replay_command(16, &three),
            "cargo run -p cluster --example chaos -- --seed 16 --masters 3 --marathon-chronos 8 --fault-kinds all --zk-followers --fault-secs 60"
        );
    }
}

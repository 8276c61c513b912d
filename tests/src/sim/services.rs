//! Marathon and Chronos beside the simulation's own framework (the Keeper): starting them,
//! their faults (scheduler crash and restart from the durable store, partitions between
//! them and the master; on their own seeded stream, so the cluster's schedule for a seed
//! stays what it is without them), repairs, and their invariants (see [`super::marathon`]
//! and [`super::chronos`]). The agents' test containerizer reports their launches here.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use libproc::rng::SplitMix64;
use proto::{FrameworkId, TaskInfo, TaskState};
use slave::containerizer::TaskOutcome;
use tokio::time::Instant;

use super::chronos::{self as chr, ChronosSim};
use super::clocks::{self, ClockTable};
use super::marathon::{self as mar, MarathonSim};
use super::{bind, Sim};

const MARATHON_ADDR: &str = "10.0.3.1:7100";
const CHRONOS_ADDR: &str = "10.0.3.2:7200";
/// After faults stop, Chronos runs at least this long before it is judged (a few instants).
const CHRONOS_QUIET: Duration = Duration::from_secs(110);
/// An instant due this long after the faults stopped must not be missed (its epsilon plus
/// a reconciliation round).
const CHRONOS_GRACE: Duration = Duration::from_secs(60);
/// After faults stop, no Chronos run stays queued or in flight longer than this.
const CHRONOS_RUN_BOUND: Duration = Duration::from_secs(90);

/// Which seeds run Marathon and Chronos too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedShare {
    /// None.
    None,
    /// One seed in `n`: those with `seed % n == 1`.
    OneIn(u64),
    /// Every seed.
    All,
}

impl SeedShare {
    /// Whether `seed` runs them.
    pub fn includes(self, seed: u64) -> bool {
        match self {
            SeedShare::None => false,
            SeedShare::OneIn(n) => n > 0 && seed % n == 1 % n,
            SeedShare::All => true,
        }
    }
}

/// Task ids of Marathon and Chronos, in the order the agents launched them.
pub type ServiceLaunches = Arc<Mutex<Vec<String>>>;

/// The containerizer's hook: a Marathon or Chronos task is counted here and gets its
/// outcome (Marathon's run until killed, Chronos's end by themselves); `None`: not theirs.
pub fn on_launch(launches: &ServiceLaunches, task: &TaskInfo) -> Option<TaskOutcome> {
    let id = task.task_id.as_str();
    let outcome = if chr::is_chronos_task(id) {
        chr::outcome(id)
    } else if mar::is_marathon_task(id) {
        TaskOutcome::Runs
    } else {
        return None;
    };
    launches
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(id.to_string());
    Some(outcome)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fix {
    Marathon,
    Chronos,
    Heal(IpAddr, IpAddr),
}

/// Marathon, Chronos, their fault stream and what they launched.
pub struct Services {
    rng: SplitMix64,
    start: Instant,
    marathon: MarathonSim,
    chronos: ChronosSim,
    pending: Vec<(Instant, Fix)>,
    /// What the agents launched for them.
    pub launches: ServiceLaunches,
    quiet_since: Option<Instant>,
    /// Their wall clocks (see [`clocks`]).
    clocks: ClockTable,
}

impl Services {
    /// Binds their nodes on `net`.
    pub(super) async fn new(seed: u64, net: &super::net::SimNet, clocks: ClockTable) -> Services {
        let m: SocketAddr = MARATHON_ADDR.parse().expect("a socket address");
        let c: SocketAddr = CHRONOS_ADDR.parse().expect("a socket address");
        let launches: ServiceLaunches = Arc::default();
        Services {
            rng: SplitMix64::new(seed ^ 0x005E_2F1C_E50F_C0DE),
            start: Instant::now(),
            marathon: MarathonSim::new(bind(net, m).await),
            chronos: ChronosSim::new(bind(net, c).await, launches.clone()),
            pending: Vec::new(),
            launches,
            quiet_since: None,
            clocks,
        }
    }

    fn marathon_clock(&self) -> marathon::shell::Clock {
        let clock = self.clocks.wall(clocks::MARATHON);
        Rc::new(move || clock.now())
    }

    fn chronos_clock(&self) -> chronos::framework::Clock {
        Rc::new(self.clocks.date(clocks::CHRONOS))
    }

    fn later(&mut self, min_s: u64, max_s: u64, f: Fix) {
        let secs = min_s + self.rng.next_u64() % (max_s - min_s + 1);
        self.pending
            .push((Instant::now() + Duration::from_secs(secs), f));
    }
}

impl Sim {
    /// The acting master's address (the first master's when none acts).
    fn leader_ip(&self) -> IpAddr {
        let i = self.acting_master().unwrap_or(0);
        super::master_addr(i).ip()
    }

    async fn start_marathon(&mut self) {
        let master = self.master_address("marathon");
        let Some(s) = self.services.as_mut() else {
            return;
        };
        if s.marathon.handle.is_some() {
            return;
        }
        let (seed, clock) = (s.rng.next_u64(), s.marathon_clock());
        if let Err(e) = s.marathon.start(seed, master, clock, &self.trace).await {
            self.breaks.push(e);
        }
    }

    async fn start_chronos(&mut self) {
        let master = self.master_address("chronos");
        let Some(s) = self.services.as_mut() else {
            return;
        };
        if s.chronos.handle.is_some() {
            return;
        }
        let (seed, clock) = (s.rng.next_u64(), s.chronos_clock());
        if let Err(e) = s.chronos.start(seed, master, clock, &self.trace).await {
            self.breaks.push(e);
        }
    }

    /// Starts Marathon and Chronos (if this seed runs them).
    pub(super) async fn start_services(&mut self) {
        self.start_marathon().await;
        self.start_chronos().await;
    }

    /// One fault of theirs, maybe (their own seeded stream).
    pub(super) fn inject_services(&mut self) {
        let master = self.leader_ip();
        let Some(s) = self.services.as_mut() else {
            return;
        };
        let kind = match s.rng.next_u64() % 100 {
            0..=5 if s.marathon.crash(&self.trace) => {
                s.later(1, 30, Fix::Marathon);
                "crash_marathon"
            }
            6..=11 if s.chronos.crash(&self.trace) => {
                s.later(1, 30, Fix::Chronos);
                "crash_chronos"
            }
            12..=17 => {
                let node = if s.rng.next_u64() % 2 == 0 {
                    s.marathon.node.addr().ip()
                } else {
                    s.chronos.node.addr().ip()
                };
                self.trace.note(format!("partition {node} <-> {master}"));
                self.net.block(node, master);
                self.net.block(master, node);
                self.net.sever(node, master);
                s.later(1, 60, Fix::Heal(node, master));
                "partition_service"
            }
            _ => return,
        };
        self.count(kind);
    }

    /// Chronos's store turns slow for 20-90 s: each write takes 0.2-5 s of simulated time,
    /// in order (see [`chr::SimStore`]), so a run matched with an offer waits that long for
    /// its record before its launch goes out. With [`super::FaultKinds::All`] only, in the
    /// seeds that run Chronos; drawn from `fault_rng` (nothing drawn in the other seeds).
    pub(super) fn slow_chronos_store(&mut self) {
        let Some(s) = self.services.as_ref() else {
            return;
        };
        let lasting = Duration::from_secs(20 + self.fault_rng.next_u64() % 71);
        s.chronos.store.slow_for(lasting, self.fault_rng.next_u64());
        self.trace.note(format!(
            "chronos's store is slow for {lasting:?}: each write takes 0.2-5 s"
        ));
        self.count("chronos_store_slow");
    }

    /// Writes Chronos's store made slow ([`Sim::slow_chronos_store`]), if this seed runs it.
    pub(super) fn chronos_store_writes_slowed(&self) -> Option<u64> {
        self.services.as_ref().map(|s| s.chronos.store.slowed())
    }

    /// Brings back what is due (all, with `all`: the faults stopped); restarts a Marathon
    /// or Chronos whose driver stopped by itself.
    pub(super) async fn repair_services(&mut self, all: bool) {
        let Some(s) = self.services.as_mut() else {
            return;
        };
        if all && s.quiet_since.is_none() {
            s.quiet_since = Some(Instant::now());
            s.chronos.store.heal();
        }
        let now = Instant::now();
        let mut due: Vec<(Instant, Fix)> = Vec::new();
        s.pending.retain(|(t, f)| {
            let go = all || *t <= now;
            if go {
                due.push((*t, *f));
            }
            !go
        });
        if s.marathon.stopped_by_itself() {
            self.trace
                .note("marathon stopped by itself: restarting it".into());
            s.marathon.crash(&self.trace);
            due.push((now, Fix::Marathon));
        }
        if s.chronos.stopped_by_itself() {
            self.trace
                .note("chronos stopped by itself: restarting it".into());
            s.chronos.crash(&self.trace);
            due.push((now, Fix::Chronos));
        }
        due.sort_by_key(|(t, _)| *t);
        for (_, f) in due {
            match f {
                Fix::Marathon => self.start_marathon().await,
                Fix::Chronos => self.start_chronos().await,
                Fix::Heal(node, master) => {
                    self.trace.note(format!("heal {node} <-> {master}"));
                    self.net.unblock(node, master);
                    self.net.unblock(master, node);
                }
            }
        }
    }

    /// What holds at every moment: no Marathon or Chronos task launched twice, and no
    /// Chronos task launched after Chronos recorded its end as unknown to the master
    /// ([`chr::stale_launches`]).
    pub(super) fn check_services_now(&mut self) {
        let Some(s) = self.services.as_ref() else {
            return;
        };
        let launched = s.launches.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut seen: BTreeMap<String, u32> = BTreeMap::new();
        for t in &launched {
            *seen.entry(t.clone()).or_default() += 1;
        }
        let twice = seen
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|(t, n)| format!("task {t} launched {n} times"));
        let stale = chr::stale_launches(&launched, &s.chronos.store.unknown_at());
        for b in twice.chain(stale) {
            if !self.breaks.contains(&b) {
                self.trace.note(format!("BREAK {b}"));
                self.breaks.push(b);
            }
        }
    }

    /// The live tasks of framework `fid` in the master's and the agents' eyes.
    async fn live_tasks(
        &self,
        fid: Option<FrameworkId>,
    ) -> (BTreeMap<String, TaskState>, Vec<(usize, String, TaskState)>) {
        let mut master = BTreeMap::new();
        let mut agents = Vec::new();
        let Some(fid) = fid else {
            return (master, agents);
        };
        if let Some(m) = self.leader() {
            let f = fid.clone();
            let got = m
                .master
                .call(move |m, _| {
                    m.core()
                        .frameworks()
                        .get(&f)
                        .map(|f| {
                            f.tasks
                                .iter()
                                .filter(|(_, t)| !t.state.is_terminal())
                                .map(|(id, t)| (id.as_str().to_string(), t.state))
                                .collect::<BTreeMap<_, _>>()
                        })
                        .unwrap_or_default()
                })
                .await;
            master = got.unwrap_or_default();
        }
        for (i, slot) in self.agents.iter().enumerate() {
            let Some(h) = &slot.handle else { continue };
            let f = fid.clone();
            let got = h
                .process
                .call(move |a, _| {
                    a.frameworks()
                        .iter()
                        .filter(|(id, _)| **id == f)
                        .flat_map(|(_, f)| f.executors.values())
                        .flat_map(|e| e.launched.values())
                        .filter(|t| !t.state.is_terminal())
                        .map(|t| (t.task_id.as_str().to_string(), t.state))
                        .collect::<Vec<_>>()
                })
                .await;
            agents.extend(got.unwrap_or_default().into_iter().map(|(t, s)| (i, t, s)));
        }
        (master, agents)
    }

    /// With faults stopped (after the Keeper converged): waits, bounded in simulated time,
    /// for Marathon to converge and Chronos to settle, then checks Chronos's books.
    pub(super) async fn settle_services(&mut self, config: &super::SimConfig) {
        let Some(quiet) = self
            .services
            .as_ref()
            .map(|s| s.quiet_since.unwrap_or(s.start))
        else {
            return;
        };
        let deadline = quiet + config.settle_bound;
        let mut marathon_done = false;
        loop {
            self.repair_due(true).await;
            let Some(s) = self.services.as_ref() else {
                return;
            };
            let mut why = None;
            if !marathon_done {
                let fid = s.marathon.framework_id();
                let view = s.marathon.view();
                let (master, agents) = self.live_tasks(fid).await;
                match mar::diverges(view.as_ref(), &master, &agents) {
                    None => {
                        marathon_done = true;
                        self.trace.note("marathon converged".into());
                    }
                    Some(w) => why = Some(w),
                }
            }
            let Some(s) = self.services.as_ref() else {
                return;
            };
            let view = s.chronos.view().await;
            let now = (s.chronos_clock())();
            if why.is_none() {
                why = chr::unsettled(view.as_ref(), now, CHRONOS_RUN_BOUND);
            }
            if why.is_none() && Instant::now() < quiet + CHRONOS_QUIET {
                why = Some("chronos runs a while after the faults".into());
            }
            let Some(why) = why else {
                let Some(view) = view else { return };
                let launched: Vec<String> = s
                    .launches
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .iter()
                    .filter(|t| chr::is_chronos_task(t))
                    .cloned()
                    .collect();
                // Chronos's clock when faults stopped (it has not stepped since), moved on
                // by as much as it ever stood further ahead before: an instant it missed
                // before a step back then may look due after the faults stopped.
                let behind =
                    s.clocks.max_offset_ms(clocks::CHRONOS) - s.clocks.offset_ms(clocks::CHRONOS);
                let quiet_wall = now
                    - chrono::Duration::from_std(quiet.elapsed()).unwrap_or_default()
                    + chrono::Duration::milliseconds(behind);
                self.trace.note(format!(
                    "chronos settled: {} instants decided, {} launches, {} missed",
                    view.instants.len(),
                    launched.len(),
                    view.record.state.missed.len()
                ));
                for b in chr::breaks(&view, &launched, quiet_wall, CHRONOS_GRACE) {
                    self.trace.note(format!("BREAK {b}"));
                    self.breaks.push(b);
                }
                return;
            };
            if Instant::now() >= deadline {
                let b = format!(
                    "liveness: marathon/chronos not settled {:?} after faults stopped: {why}",
                    config.settle_bound
                );
                self.trace.note(format!("BREAK {b}"));
                self.breaks.push(b);
                return;
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    }
}

//! An elastic "Spark-like" application: work arrives in waves, and the framework grows its
//! executors with the offers it gets while work waits, shrinks them when they sit idle, and
//! asks for offers only when it wants more executors.
//!
//! Executors are long-running tasks of [`EXECUTOR`] with [`SLOTS`] work slots each (Spark's
//! coarse-grained mode). Spark's executors pull their work from the driver over Spark's own
//! RPC; that part is simulated here by a timer per work unit, so the example shows the Mesos
//! side: pack executors into offers (`OfferPacker`), decline and suppress once there are
//! enough, revive when a wave arrives, kill an executor idle for [`IDLE_TIMEOUT`].
//!
//! ```text
//! cargo run -p frameworks --example elastic -- 127.0.0.1:5050
//! ```
//! Tested on the in-process cluster by `frameworks/tests/elastic_example.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use frameworks::offers::{OfferPacker, TaskShape};
use frameworks::scheduler::{Scheduler, SchedulerDriver};
use frameworks::task::TaskBuilder;
use proto::{
    Filters, FrameworkId, FrameworkInfo, MasterInfo, Offer, TaskId, TaskState, TaskStatus,
};

/// One executor's resources.
pub const EXECUTOR: &str = "cpus:2;mem:1024";
/// Work units an executor runs at once (one per cpu).
pub const SLOTS: usize = 2;
/// An executor with no work for this long is killed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one work unit takes.
pub const UNIT: Duration = Duration::from_secs(10);

/// One executor: running yet, and how many work units it is busy with.
#[derive(Default)]
struct Executor {
    running: bool,
    busy: usize,
    /// Bumped on every change of work, so a stale idle timer does nothing.
    epoch: u64,
}

pub struct Elastic {
    shape: TaskShape,
    pub max_executors: usize,
    /// Waves still to come: (after registration, work units).
    waves: Vec<(Duration, usize)>,
    pending: usize,
    executors: BTreeMap<TaskId, Executor>,
    next: u64,
    pub done: usize,
    pub total: usize,
    pub peak: usize,
    pub launched: usize,
    pub killed_idle: usize,
}

impl Elastic {
    pub fn new(max_executors: usize, waves: Vec<(Duration, usize)>) -> Elastic {
        Elastic {
            shape: EXECUTOR.parse().expect("a valid shape"),
            max_executors,
            total: waves.iter().map(|w| w.1).sum(),
            waves,
            pending: 0,
            executors: BTreeMap::new(),
            next: 0,
            done: 0,
            peak: 0,
            launched: 0,
            killed_idle: 0,
        }
    }

    /// Executors launched and not ended.
    pub fn executors(&self) -> usize {
        self.executors.len()
    }

    /// Executors wanted for the work waiting and in progress.
    fn wanted(&self) -> usize {
        let busy: usize = self.executors.values().map(|e| e.busy).sum();
        (self.pending + busy)
            .div_ceil(SLOTS)
            .min(self.max_executors)
    }

    /// A wave arrives: queue its work, hand it out, ask for offers if we need executors.
    fn arrive(&mut self, driver: &mut SchedulerDriver<Self>, units: usize) {
        self.pending += units;
        self.dispatch(driver);
        if self.wanted() > self.executors.len() {
            driver.revive();
        }
    }

    /// Fills free slots of running executors with waiting work.
    fn dispatch(&mut self, driver: &mut SchedulerDriver<Self>) {
        for (id, e) in self.executors.iter_mut().filter(|(_, e)| e.running) {
            while e.busy < SLOTS && self.pending > 0 {
                self.pending -= 1;
                e.busy += 1;
                e.epoch += 1;
                let id = id.clone();
                driver.after(UNIT, move |me, d| me.unit_done(d, id));
            }
        }
    }

    fn unit_done(&mut self, driver: &mut SchedulerDriver<Self>, id: TaskId) {
        let Some(e) = self.executors.get_mut(&id) else {
            return;
        };
        e.busy -= 1;
        e.epoch += 1;
        self.done += 1;
        self.dispatch(driver);
        self.idle_check(driver, id);
        if self.done == self.total && self.executors.is_empty() {
            driver.stop(false);
        }
    }

    /// Kills `id` if it is still idle after [`IDLE_TIMEOUT`] (Spark's dynamic allocation).
    fn idle_check(&mut self, driver: &mut SchedulerDriver<Self>, id: TaskId) {
        let Some(e) = self.executors.get(&id).filter(|e| e.running && e.busy == 0) else {
            return;
        };
        let epoch = e.epoch;
        driver.after(IDLE_TIMEOUT, move |me, d| {
            if me
                .executors
                .get(&id)
                .is_some_and(|e| e.busy == 0 && e.epoch == epoch)
            {
                me.killed_idle += 1;
                d.kill(id);
            }
        });
    }
}

impl Scheduler for Elastic {
    fn registered(&mut self, driver: &mut SchedulerDriver<Self>, _: &FrameworkId, _: &MasterInfo) {
        driver.suppress(); // no work yet
        for (at, units) in std::mem::take(&mut self.waves) {
            driver.after(at, move |me, d| me.arrive(d, units));
        }
    }

    fn resource_offers(&mut self, driver: &mut SchedulerDriver<Self>, offers: Vec<Offer>) {
        for offer in offers {
            let mut packer = OfferPacker::new(&offer, "*");
            let mut tasks = Vec::new();
            while self.executors.len() < self.wanted() {
                let Some(resources) = packer.take(&self.shape) else {
                    break;
                };
                let id = TaskId::from(format!("executor-{}", self.next));
                self.next += 1;
                let task = TaskBuilder::shell("sleep 86400") // stands in for the executor
                    .id(id.clone())
                    .resources(resources)
                    .build_for(&offer);
                if let Ok(task) = task {
                    self.executors.insert(id, Executor::default());
                    tasks.push(task);
                }
            }
            self.launched += tasks.len();
            if tasks.is_empty() {
                driver.decline(offer.id, Filters::refuse(30.0)); // enough for now
            } else {
                driver.launch(vec![offer.id], tasks, Filters::default());
            }
        }
        self.peak = self.peak.max(self.executors.len());
        if self.executors.len() >= self.wanted() {
            driver.suppress(); // enough executors: no more offers until work arrives
        }
    }

    fn status_update(&mut self, driver: &mut SchedulerDriver<Self>, status: &TaskStatus) {
        let id = status.task_id.clone();
        if status.state == TaskState::Running {
            if let Some(e) = self.executors.get_mut(&id) {
                e.running = true;
                self.dispatch(driver);
                self.idle_check(driver, id);
            }
        } else if status.state.is_terminal() {
            let Some(e) = self.executors.remove(&id) else {
                return;
            };
            self.pending += e.busy; // its work runs again elsewhere
            if self.wanted() > self.executors.len() {
                driver.revive();
            } else if self.done == self.total && self.executors.is_empty() {
                driver.stop(false);
            }
        }
    }
}

#[allow(dead_code)] // the test includes this file for `Elastic`
fn main() {
    let master = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:5050".into());
    let waves = vec![(Duration::ZERO, 40), (Duration::from_secs(300), 20)];
    let framework = FrameworkInfo::new("elastic", "root");
    match frameworks::scheduler::run_blocking(&master, framework, Elastic::new(8, waves)) {
        Ok((app, reason)) => println!(
            "{} of {} units done; peak {} executors, {} launched, {} killed idle ({reason:?})",
            app.done, app.total, app.peak, app.launched, app.killed_idle
        ),
        Err(e) => eprintln!("elastic: {e}"),
    }
}

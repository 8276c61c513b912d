//! A service keeper: keeps N instances of a command running, replaces any that end, and
//! after every (re-)registration reconciles before launching anything, so a master
//! failover or a scheduler restart neither loses nor duplicates instances.
//!
//! ```text
//! cargo run -p frameworks --example service -- 127.0.0.1:5050 3 'python3 -m http.server $PORT0'
//! ```
//! Tested by `frameworks/tests/service_example.rs` (on the in-process cluster, and against
//! the fake master for a master failover).

use std::collections::BTreeSet;

use frameworks::offers::{OfferPacker, TaskShape};
use frameworks::scheduler::{Scheduler, SchedulerConfig, SchedulerDriver};
use frameworks::task::TaskBuilder;
use proto::{
    Filters, FrameworkId, FrameworkInfo, MasterInfo, Offer, TaskId, TaskState, TaskStatus,
};

/// The keeper: how many instances it wants and which tasks it believes alive.
pub struct Keeper {
    pub instances: usize,
    command: String,
    shape: TaskShape,
    pub alive: BTreeSet<TaskId>,
    next: u64,
    /// Reconciliation since the last (re-)registration is complete: launching is safe.
    ready: bool,
    pub launched: usize,
    pub replaced: usize,
}

impl Keeper {
    pub fn new(instances: usize, command: &str) -> Keeper {
        Keeper {
            instances,
            command: command.into(),
            shape: "cpus:0.5;mem:128"
                .parse::<TaskShape>()
                .expect("a valid shape")
                .with_ports(1),
            alive: BTreeSet::new(),
            next: 0,
            ready: false,
            launched: 0,
            replaced: 0,
        }
    }

    fn missing(&self) -> usize {
        if self.ready {
            self.instances.saturating_sub(self.alive.len())
        } else {
            0
        }
    }

    /// Asks the master about the instances we believe alive: one it does not know comes
    /// back `TASK_LOST` (the implicit reconciliation the driver runs next only reports
    /// the tasks the master knows).
    fn reconcile_known(&self, driver: &mut SchedulerDriver<Self>) {
        let known = self
            .alive
            .iter()
            .map(|id| TaskStatus::new(id.clone(), TaskState::Running));
        if !self.alive.is_empty() {
            driver.reconcile(known.collect());
        }
    }
}

impl Scheduler for Keeper {
    fn registered(&mut self, d: &mut SchedulerDriver<Self>, id: &FrameworkId, _: &MasterInfo) {
        println!("registered as {id} (persist it to fail over)");
        self.reconcile_known(d);
    }

    fn reregistered(&mut self, driver: &mut SchedulerDriver<Self>, _: &MasterInfo) {
        self.reconcile_known(driver);
    }

    fn disconnected(&mut self, _: &mut SchedulerDriver<Self>) {
        self.ready = false; // we no longer know what runs
    }

    fn reconciled(&mut self, driver: &mut SchedulerDriver<Self>) {
        self.ready = true;
        println!(
            "reconciled: {} of {} alive",
            self.alive.len(),
            self.instances
        );
        if self.missing() > 0 {
            driver.revive();
        }
    }

    fn resource_offers(&mut self, driver: &mut SchedulerDriver<Self>, offers: Vec<Offer>) {
        for offer in offers {
            let mut packer = OfferPacker::new(&offer, "*");
            let mut tasks = Vec::new();
            while self.missing() > 0 {
                let Some(resources) = packer.take(&self.shape) else {
                    break;
                };
                let port = resources.ports().iter().next().map_or(0, |r| r.begin);
                let id = TaskId::from(format!("instance-{}", self.next));
                self.next += 1;
                let task = TaskBuilder::shell(self.command.clone())
                    .id(id.clone())
                    .resources(resources)
                    .env("PORT0", port.to_string()) // Mesos sets no port variable itself
                    .label("service", "keeper")
                    .build_for(&offer);
                if let Ok(task) = task {
                    self.alive.insert(id);
                    tasks.push(task);
                }
            }
            self.launched += tasks.len();
            if tasks.is_empty() {
                // Not ready yet: look again soon. Full: keep this agent away for a minute.
                driver.decline(
                    offer.id,
                    Filters::refuse(if self.ready { 60.0 } else { 5.0 }),
                );
            } else {
                driver.launch(vec![offer.id], tasks, Filters::default());
            }
        }
        if self.ready && self.missing() == 0 {
            driver.suppress();
        }
    }

    fn status_update(&mut self, driver: &mut SchedulerDriver<Self>, status: &TaskStatus) {
        let id = &status.task_id;
        if status.state.is_terminal() {
            // Updates are at-least-once: replace an instance only the first time it ends.
            if self.alive.remove(id) {
                println!("{id} is {}: replacing it", status.state);
                self.replaced += 1;
                driver.revive();
            }
        } else if !self.alive.contains(id) {
            // Reported by reconciliation after a failover: adopt it, or kill a surplus one.
            if self.alive.len() < self.instances {
                self.alive.insert(id.clone());
                let n = id
                    .as_str()
                    .trim_start_matches("instance-")
                    .parse()
                    .unwrap_or(0u64);
                self.next = self.next.max(n + 1);
            } else {
                driver.kill(id.clone());
            }
        }
    }
}

#[allow(dead_code)] // the test includes this file for `Keeper`
fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let master = args.get(1).map_or("127.0.0.1:5050", String::as_str);
    let instances = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(3);
    let command = args.get(3).map_or("sleep 3600", String::as_str);
    let mut framework = FrameworkInfo::new("service-keeper", "root");
    framework.failover_timeout = 600.0; // tasks survive this scheduler for 10 minutes
    let config = SchedulerConfig {
        reconcile_on_registration: true,
        ..Default::default()
    };
    let keeper = Keeper::new(instances, command);
    match frameworks::blocking::run_scheduler(master, framework, keeper, config) {
        Ok((_, reason)) => {
            println!("stopped: {reason:?}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("service: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

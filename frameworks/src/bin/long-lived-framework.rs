//! `long-lived-framework`: keeps `--instances` copies of a command running, relaunching any
//! that end. Runs until interrupted.
//!
//! ```text
//! long-lived-framework --master=127.0.0.1:5050 --instances=3 --command='sleep 3600'
//! ```

use std::collections::BTreeSet;
use std::process::ExitCode;

use frameworks::cli;
use frameworks::scheduler::{self, MasterDetector, Scheduler, SchedulerConfig, SchedulerDriver};
use libproc::flags::Flag;
use libproc::{Node, NodeConfig};
use proto::{
    CommandInfo, Filters, FrameworkId, FrameworkInfo, MasterInfo, Offer, Resources, TaskInfo,
    TaskStatus,
};

const FLAGS: &[Flag] = &[
    Flag::required("master", "The master: host:port."),
    Flag::new("instances", "1", "How many copies to keep running."),
    Flag::new("command", "sleep 3600", "Shell command of each task."),
    Flag::new(
        "task_resources",
        "cpus:0.1;mem:32",
        "Resources of each task.",
    ),
    Flag::new("name", "long-lived-framework", "Framework name."),
];

/// The pure bookkeeping: which tasks are alive and what the next task id is.
#[derive(Debug, Default)]
struct Fleet {
    instances: usize,
    active: BTreeSet<String>,
    next: u64,
    relaunched: u64,
}

impl Fleet {
    fn missing(&self) -> usize {
        self.instances.saturating_sub(self.active.len())
    }

    fn new_task_id(&mut self) -> String {
        let id = format!("instance-{}", self.next);
        self.next += 1;
        self.active.insert(id.clone());
        id
    }

    /// Returns true if a live task ended (so a replacement is needed).
    fn ended(&mut self, id: &str) -> bool {
        let was = self.active.remove(id);
        if was {
            self.relaunched += 1;
        }
        was
    }
}

struct LongLived {
    command: String,
    each: Resources,
    fleet: Fleet,
}

impl Scheduler for LongLived {
    fn registered(
        &mut self,
        _d: &mut SchedulerDriver<'_, '_, Self>,
        id: &FrameworkId,
        _m: &MasterInfo,
    ) {
        println!("Registered with framework ID {id}");
    }

    fn reregistered(&mut self, driver: &mut SchedulerDriver<'_, '_, Self>, _m: &MasterInfo) {
        // Learn what happened while disconnected.
        driver.reconcile(Vec::new());
    }

    fn resource_offers(&mut self, driver: &mut SchedulerDriver<'_, '_, Self>, offers: Vec<Offer>) {
        for offer in offers {
            let mut left = offer.resources.clone();
            let mut tasks = Vec::new();
            while self.fleet.missing() > 0 && left.contains(&self.each) {
                left = &left - &self.each;
                let id = self.fleet.new_task_id();
                tasks.push(TaskInfo::command_task(
                    id.clone(),
                    id.as_str().into(),
                    offer.agent_id.clone(),
                    self.each.clone(),
                    CommandInfo::shell(self.command.clone()),
                ));
            }
            if tasks.is_empty() {
                driver.decline(offer.id, Filters::refuse(60.0));
            } else {
                println!(
                    "Launching {} task(s) on agent {}",
                    tasks.len(),
                    offer.agent_id
                );
                driver.launch(vec![offer.id], tasks, Filters::default());
            }
        }
    }

    fn status_update(&mut self, driver: &mut SchedulerDriver<'_, '_, Self>, status: &TaskStatus) {
        println!("Task {} is in state {}", status.task_id, status.state);
        if status.state.is_terminal() && self.fleet.ended(status.task_id.as_str()) {
            println!(
                "Task {} ended; relaunching ({} relaunches so far)",
                status.task_id, self.fleet.relaunched
            );
            driver.revive();
        }
    }
}

fn main() -> ExitCode {
    let flags = cli::flags_or_exit("long-lived-framework", FLAGS);
    let bad = |m: String| -> ! { cli::usage_error("long-lived-framework", &m) };
    let master =
        cli::parse_master(flags.str("master").unwrap_or_default()).unwrap_or_else(|e| bad(e));
    let instances: usize = flags
        .get("instances")
        .unwrap_or_else(|e| bad(e.to_string()));
    let each: Resources = flags
        .str("task_resources")
        .unwrap_or_default()
        .parse()
        .unwrap_or_else(|e| bad(format!("--task_resources: {e}")));
    if each.cpus() <= 0.0 || each.mem() <= 0.0 {
        bad("--task_resources needs cpus > 0 and mem > 0".to_string());
    }
    let command = flags.str("command").unwrap_or("sleep 3600").to_string();
    let mut framework = FrameworkInfo::new(
        flags.str("name").unwrap_or("long-lived-framework"),
        cli::current_user(),
    );
    framework.checkpoint = true;
    cli::init_logging("warn");
    actix::System::new().block_on(async move {
        let node = match Node::bind(NodeConfig::new(cli::listen_addr_for(master.addr()))).await {
            Ok(n) => n,
            Err(e) => {
                eprintln!("long-lived-framework: cannot listen: {e}");
                return ExitCode::from(1);
            }
        };
        let sched = LongLived {
            command,
            each,
            fleet: Fleet {
                instances,
                ..Default::default()
            },
        };
        let config = SchedulerConfig {
            seed: cli::os_seed(),
            ..Default::default()
        };
        let handle = match scheduler::run_with(
            &node,
            MasterDetector::Standalone(master),
            framework,
            sched,
            config,
        ) {
            Ok(h) => h,
            Err(e) => {
                eprintln!("long-lived-framework: {e}");
                return ExitCode::from(1);
            }
        };
        let reason = handle.stopped().await;
        eprintln!("long-lived-framework: driver stopped: {reason:?}");
        node.shutdown();
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_count() {
        let mut f = Fleet {
            instances: 2,
            ..Default::default()
        };
        assert_eq!(f.missing(), 2);
        let a = f.new_task_id();
        f.new_task_id();
        assert_eq!(f.missing(), 0);
        assert!(f.ended(&a));
        assert!(
            !f.ended(&a),
            "a duplicate terminal update does not count twice"
        );
        assert_eq!(f.missing(), 1);
        assert_eq!(f.new_task_id(), "instance-2");
    }
}

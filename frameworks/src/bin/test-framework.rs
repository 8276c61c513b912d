//! `test-framework`: launches `--num_tasks` command tasks across offers (as many per offer
//! as fit), tracks every task, and exits 0 once all reached `TASK_FINISHED` exactly once;
//! non-zero if any task ended otherwise or a state was reported twice. An update the agent
//! re-sent because our acknowledgement was slow (same UUID: Mesos delivers updates at least
//! once) is counted as `redelivered`, not as a duplicate. The last line printed is a JSON
//! summary.
//!
//! ```text
//! test-framework --master=127.0.0.1:5050 --num_tasks=10 --command='echo hi'
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::rc::Rc;

use frameworks::cli;
use frameworks::scheduler::{self, Scheduler, SchedulerConfig, SchedulerDriver};
use libproc::flags::Flag;
use libproc::{Node, NodeConfig};
use proto::{
    CommandInfo, Filters, FrameworkId, FrameworkInfo, MasterInfo, Offer, Resources, StatusUuid,
    TaskInfo, TaskState, TaskStatus,
};

const FLAGS: &[Flag] = &[
    Flag::required(
        "master",
        "The master: host:port, or zk://host:port[,host:port]/path to follow the leader.",
    ),
    Flag::new("num_tasks", "5", "How many tasks to run."),
    Flag::new("command", "echo hello", "Shell command of each task."),
    Flag::new(
        "task_resources",
        "cpus:0.1;mem:32",
        "Resources of each task.",
    ),
    Flag::new("name", "test-framework", "Framework name."),
    libproc::fault::FLAG,
];

/// The pure bookkeeping: what is launched, what each task went through.
#[derive(Debug, Default)]
struct Tracker {
    total: usize,
    launched: usize,
    /// Every state each task reported, in order, with the update's UUID.
    states: BTreeMap<String, Vec<(TaskState, Option<StatusUuid>)>>,
    finished: usize,
    failed: usize,
    /// A state reported again by a different update: the task went through it twice.
    duplicates: usize,
    /// The same update delivered again (the agent's retry of an unacknowledged update).
    redelivered: usize,
}

impl Tracker {
    fn new(total: usize) -> Tracker {
        Tracker {
            total,
            ..Default::default()
        }
    }

    /// How many tasks of `each` fit into `offered`, up to what is left to launch.
    fn plan(&self, offered: &Resources, each: &Resources) -> usize {
        let mut left = offered.clone();
        let mut n = 0;
        while self.launched + n < self.total && left.contains(each) {
            left = &left - each;
            n += 1;
        }
        n
    }

    fn launched(&mut self, id: &str) {
        self.launched += 1;
        self.states.insert(id.to_string(), Vec::new());
    }

    fn update(&mut self, id: &str, state: TaskState, uuid: Option<StatusUuid>) {
        let seen = self.states.entry(id.to_string()).or_default();
        if let Some((_, first)) = seen.iter().find(|(s, _)| *s == state) {
            if uuid.is_some() && *first == uuid {
                self.redelivered += 1;
            } else {
                eprintln!("task {id}: {state} reported twice, by different updates");
                self.duplicates += 1;
            }
            return;
        }
        seen.push((state, uuid));
        match state {
            TaskState::Finished => self.finished += 1,
            s if s.is_terminal() => self.failed += 1,
            _ => {}
        }
    }

    fn done(&self) -> bool {
        self.failed > 0 || self.duplicates > 0 || self.finished == self.total
    }

    fn success(&self) -> bool {
        self.failed == 0 && self.duplicates == 0 && self.finished == self.total
    }

    fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "tasks": self.total,
            "launched": self.launched,
            "finished": self.finished,
            "failed": self.failed,
            "duplicate_states": self.duplicates,
            "redelivered": self.redelivered,
            "success": self.success(),
        })
    }
}

struct TestFramework {
    command: String,
    each: Resources,
    tracker: Rc<RefCell<Tracker>>,
}

impl Scheduler for TestFramework {
    fn registered(
        &mut self,
        _d: &mut SchedulerDriver<'_, '_, Self>,
        id: &FrameworkId,
        _m: &MasterInfo,
    ) {
        println!("Registered with framework ID {id}");
    }

    fn resource_offers(&mut self, driver: &mut SchedulerDriver<'_, '_, Self>, offers: Vec<Offer>) {
        for offer in offers {
            let n = self.tracker.borrow().plan(&offer.resources, &self.each);
            if n == 0 {
                driver.decline(offer.id, Filters::refuse(3600.0));
                continue;
            }
            let mut tasks = Vec::new();
            for _ in 0..n {
                let mut t = self.tracker.borrow_mut();
                let id = format!("{}", t.launched);
                t.launched(&id);
                tasks.push(TaskInfo::command_task(
                    format!("task {id}"),
                    id.as_str().into(),
                    offer.agent_id.clone(),
                    self.each.clone(),
                    CommandInfo::shell(self.command.clone()),
                ));
            }
            println!("Launching {n} task(s) on agent {}", offer.agent_id);
            driver.launch(vec![offer.id], tasks, Filters::default());
        }
    }

    fn status_update(&mut self, driver: &mut SchedulerDriver<'_, '_, Self>, status: &TaskStatus) {
        let mut t = self.tracker.borrow_mut();
        t.update(status.task_id.as_str(), status.state, status.uuid);
        println!(
            "Task {} is in state {}{} ({}/{} finished)",
            status.task_id,
            status.state,
            status
                .message
                .as_ref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default(),
            t.finished,
            t.total
        );
        if t.done() {
            drop(t);
            driver.stop(false);
        }
    }

    fn error(&mut self, _d: &mut SchedulerDriver<'_, '_, Self>, message: &str) {
        eprintln!("Framework error: {message}");
    }
}

fn main() -> ExitCode {
    let flags = cli::flags_or_exit("test-framework", FLAGS);
    let fault_injection = cli::fault_injection_or_exit("test-framework", &flags);
    let bad = |m: String| -> ! { cli::usage_error("test-framework", &m) };
    let master =
        cli::parse_master(flags.str("master").unwrap_or_default()).unwrap_or_else(|e| bad(e));
    let total: usize = flags
        .get("num_tasks")
        .unwrap_or_else(|e| bad(e.to_string()));
    let each: Resources = flags
        .str("task_resources")
        .unwrap_or_default()
        .parse()
        .unwrap_or_else(|e| bad(format!("--task_resources: {e}")));
    if each.cpus() <= 0.0 || each.mem() <= 0.0 {
        bad("--task_resources needs cpus > 0 and mem > 0".to_string());
    }
    let command = flags.str("command").unwrap_or("echo hello").to_string();
    let framework = FrameworkInfo::new(
        flags.str("name").unwrap_or("test-framework"),
        cli::current_user(),
    );
    cli::init_logging("warn");
    let tracker = Rc::new(RefCell::new(Tracker::new(total)));
    if total == 0 {
        println!("{}", tracker.borrow().summary());
        return ExitCode::SUCCESS;
    }
    actix::System::new().block_on(async move {
        let node = match Node::bind(
            NodeConfig::new(cli::listen_addr_for_master(&master)).fault_injection(fault_injection),
        )
        .await
        {
            Ok(n) => n,
            Err(e) => {
                eprintln!("test-framework: cannot listen: {e}");
                return ExitCode::from(1);
            }
        };
        let sched = TestFramework {
            command,
            each,
            tracker: tracker.clone(),
        };
        let config = SchedulerConfig {
            seed: cli::os_seed(),
            ..Default::default()
        };
        let handle = match scheduler::run_with(&node, master, framework, sched, config) {
            Ok(h) => h,
            Err(e) => {
                eprintln!("test-framework: {e}");
                return ExitCode::from(1);
            }
        };
        let reason = handle.stopped().await;
        node.shutdown();
        let t = tracker.borrow();
        println!("{}", t.summary());
        if t.success() {
            ExitCode::SUCCESS
        } else {
            eprintln!("test-framework: not every task finished ({reason:?})");
            ExitCode::from(1)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_what_fits_and_counts_outcomes() {
        let mut t = Tracker::new(5);
        let each: Resources = "cpus:1;mem:10".parse().unwrap();
        assert_eq!(t.plan(&"cpus:3;mem:100".parse().unwrap(), &each), 3);
        for id in ["0", "1", "2"] {
            t.launched(id);
        }
        assert_eq!(t.plan(&"cpus:8;mem:100".parse().unwrap(), &each), 2);
        let uuid = |n: u8| Some(StatusUuid([n; 16]));
        t.update("0", TaskState::Running, uuid(1));
        t.update("0", TaskState::Finished, uuid(2));
        assert!(!t.done());
        // The agent re-sent the same update: at-least-once delivery, not a second finish.
        t.update("0", TaskState::Finished, uuid(2));
        assert_eq!((t.duplicates, t.redelivered), (0, 1));
        assert!(!t.done());
        // A different update saying the task finished again is a duplicate.
        t.update("0", TaskState::Finished, uuid(3));
        assert_eq!(t.duplicates, 1);
        assert!(t.done() && !t.success());
        let mut t = Tracker::new(1);
        t.launched("0");
        t.update("0", TaskState::Failed, uuid(1));
        assert!(t.done() && !t.success());
        let mut t = Tracker::new(1);
        t.launched("0");
        t.update("0", TaskState::Finished, uuid(1));
        assert!(t.success());
        assert_eq!(t.summary()["finished"], 1);
    }
}

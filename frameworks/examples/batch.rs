//! A batch job: runs N tasks (default 50), each up to 3 times until it succeeds, packing
//! as many as fit into every offer. Declines what it cannot use for a minute, suppresses
//! offers once nothing is left to launch, revives when a failed task needs another try,
//! and stops when every task has finished or run out of tries.
//!
//! ```text
//! cargo run -p frameworks --example batch -- 127.0.0.1:5050 50 'echo $TASK_INDEX'
//! ```
//! Tested on the in-process cluster by `frameworks/tests/batch_example.rs`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use frameworks::offers::{OfferPacker, TaskShape};
use frameworks::scheduler::{Scheduler, SchedulerDriver};
use frameworks::task::TaskBuilder;
use proto::{Filters, FrameworkInfo, Offer, TaskId, TaskState, TaskStatus};

/// Tries per task.
pub const MAX_ATTEMPTS: u32 = 3;

/// The job: what is left to launch, what runs, what ended.
pub struct Batch {
    pub total: usize,
    command: String,
    shape: TaskShape,
    queue: VecDeque<usize>,
    attempts: BTreeMap<usize, u32>,
    running: BTreeMap<TaskId, usize>,
    pub finished: BTreeSet<usize>,
    pub gave_up: BTreeSet<usize>,
    pub launched: usize,
}

impl Batch {
    pub fn new(total: usize, command: &str) -> Batch {
        Batch {
            total,
            command: command.into(),
            shape: "cpus:0.5;mem:64".parse().expect("a valid shape"),
            queue: (0..total).collect(),
            attempts: BTreeMap::new(),
            running: BTreeMap::new(),
            finished: BTreeSet::new(),
            gave_up: BTreeSet::new(),
            launched: 0,
        }
    }

    fn next_task(&mut self, offer: &Offer, packer: &mut OfferPacker) -> Option<proto::TaskInfo> {
        let index = *self.queue.front()?;
        let resources = packer.take(&self.shape)?;
        self.queue.pop_front();
        let attempt = self.attempts.entry(index).or_default();
        *attempt += 1;
        let id = TaskId::from(format!("task-{index}-try-{attempt}"));
        self.running.insert(id.clone(), index);
        self.launched += 1;
        TaskBuilder::shell(self.command.clone())
            .id(id)
            .env("TASK_INDEX", index.to_string())
            .resources(resources)
            .build_for(offer)
            .ok()
    }
}

impl Scheduler for Batch {
    fn resource_offers(&mut self, driver: &mut SchedulerDriver<Self>, offers: Vec<Offer>) {
        for offer in offers {
            let mut packer = OfferPacker::new(&offer, "*");
            let mut tasks = Vec::new();
            while let Some(task) = self.next_task(&offer, &mut packer) {
                tasks.push(task);
            }
            if tasks.is_empty() {
                // Nothing to run here: keep this agent's resources away for a minute.
                driver.decline(offer.id, Filters::refuse(60.0));
            } else {
                driver.launch(vec![offer.id], tasks, Filters::refuse(5.0));
            }
        }
        if self.queue.is_empty() {
            driver.suppress(); // sends nothing if already suppressed
        }
    }

    fn status_update(&mut self, driver: &mut SchedulerDriver<Self>, status: &TaskStatus) {
        if !status.state.is_terminal() {
            return;
        }
        // Agents retry updates until acknowledged: count each task's end once.
        let Some(index) = self.running.remove(&status.task_id) else {
            return;
        };
        if status.state == TaskState::Finished {
            self.finished.insert(index);
        } else if self.attempts.get(&index).copied().unwrap_or(0) < MAX_ATTEMPTS {
            println!("{} is {}: trying again", status.task_id, status.state);
            self.queue.push_back(index);
            driver.revive(); // offers again, filters cleared
        } else {
            self.gave_up.insert(index);
        }
        if self.finished.len() + self.gave_up.len() == self.total {
            driver.stop(false);
        }
    }
}

#[allow(dead_code)] // the test includes this file for `Batch`
fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let master = args.get(1).map_or("127.0.0.1:5050", String::as_str);
    let total = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(50);
    let command = args.get(3).map_or("echo task $TASK_INDEX", String::as_str);
    let framework = FrameworkInfo::new("batch", "root");
    match frameworks::scheduler::run_blocking(master, framework, Batch::new(total, command)) {
        Ok((job, reason)) => {
            println!(
                "{} finished, {} gave up, {} launches ({reason:?})",
                job.finished.len(),
                job.gave_up.len(),
                job.launched
            );
            std::process::ExitCode::from(u8::from(!job.gave_up.is_empty()))
        }
        Err(e) => {
            eprintln!("batch: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

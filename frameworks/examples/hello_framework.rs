//! The smallest complete framework: runs `echo hello` once and exits.
//!
//! ```text
//! cargo run -p frameworks --example hello_framework -- 127.0.0.1:5050
//! cargo run -p frameworks --example hello_framework -- zk://127.0.0.1:2181/mesos
//! ```

use frameworks::offers::{OfferPacker, TaskShape};
use frameworks::scheduler::{self, Scheduler, SchedulerDriver};
use frameworks::task::TaskBuilder;
use proto::{Filters, FrameworkInfo, Offer, TaskStatus};

struct Hello {
    launched: bool,
    finished: bool,
}

impl Scheduler for Hello {
    fn resource_offers(&mut self, driver: &mut SchedulerDriver<Self>, offers: Vec<Offer>) {
        let shape: TaskShape = "cpus:0.1;mem:32".parse().expect("valid shape");
        for offer in offers {
            let taken = OfferPacker::new(&offer, "*").take(&shape);
            let (false, Some(resources)) = (self.launched, taken) else {
                driver.decline(offer.id, Filters::refuse(60.0));
                continue;
            };
            let task = TaskBuilder::shell("echo hello")
                .id("hello-1")
                .resources(resources)
                .build_for(&offer)
                .expect("a valid task");
            driver.launch(vec![offer.id], vec![task], Filters::default());
            self.launched = true;
        }
    }

    fn status_update(&mut self, driver: &mut SchedulerDriver<Self>, status: &TaskStatus) {
        println!("task {} is {}", status.task_id, status.state);
        if status.state.is_terminal() {
            self.finished = status.state == proto::TaskState::Finished;
            driver.stop(false);
        }
    }
}

fn main() -> std::process::ExitCode {
    let master = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:5050".into());
    let hello = Hello {
        launched: false,
        finished: false,
    };
    match scheduler::run_blocking(&master, FrameworkInfo::new("hello", "root"), hello) {
        Ok((hello, reason)) => {
            println!("driver stopped: {reason:?}");
            std::process::ExitCode::from(if hello.finished { 0 } else { 1 })
        }
        Err(e) => {
            eprintln!("hello_framework: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

//! The smallest complete framework: runs `echo hello` once and exits.
//!
//! ```text
//! cargo run -p frameworks --example hello_framework -- 127.0.0.1:5050
//! cargo run -p frameworks --example hello_framework -- zk://127.0.0.1:2181/mesos
//! ```

use frameworks::scheduler::{self, Scheduler, SchedulerDriver};
use libproc::{Node, NodeConfig};
use proto::{CommandInfo, Filters, FrameworkInfo, Offer, TaskInfo, TaskStatus};

struct Hello {
    launched: bool,
}

impl Scheduler for Hello {
    fn resource_offers(&mut self, driver: &mut SchedulerDriver<'_, '_, Self>, offers: Vec<Offer>) {
        let need: proto::Resources = "cpus:0.1;mem:32".parse().expect("valid resources");
        for offer in offers {
            if self.launched || !offer.resources.contains(&need) {
                driver.decline(offer.id, Filters::refuse(60.0));
                continue;
            }
            let task = TaskInfo::command_task(
                "hello",
                "hello-1".into(),
                offer.agent_id.clone(),
                need.clone(),
                CommandInfo::shell("echo hello"),
            );
            driver.launch(vec![offer.id], vec![task], Filters::default());
            self.launched = true;
        }
    }

    fn status_update(&mut self, driver: &mut SchedulerDriver<'_, '_, Self>, status: &TaskStatus) {
        println!("task {} is {}", status.task_id, status.state);
        if status.state.is_terminal() {
            driver.stop(false);
        }
    }
}

fn main() {
    let master = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:5050".into());
    let master = match frameworks::cli::parse_master(&master) {
        Ok(m) => m,
        Err(e) => return eprintln!("{e}"),
    };
    actix::System::new().block_on(async move {
        let bind = frameworks::cli::listen_addr_for_master(&master);
        let node = Node::bind(NodeConfig::new(bind)).await.expect("listen");
        let handle = scheduler::run_with(
            &node,
            master,
            FrameworkInfo::new("hello", "root"),
            Hello { launched: false },
            Default::default(),
        )
        .expect("spawn");
        println!("driver stopped: {:?}", handle.stopped().await);
    });
}

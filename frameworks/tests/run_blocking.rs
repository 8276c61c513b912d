//! `scheduler::run_blocking` against a real master over TCP in another thread: it binds,
//! registers, and hands the scheduler back with the stop reason; bad input is an error.

use std::sync::mpsc;

use frameworks::blocking::RunError;
use frameworks::scheduler::{self, Scheduler, SchedulerDriver};
use frameworks::StopReason;
use libproc::{Node, NodeConfig};
use proto::{FrameworkId, FrameworkInfo, MasterInfo};

/// Stops as soon as it is registered, remembering its id.
struct RegisterAndStop(Option<FrameworkId>);

impl Scheduler for RegisterAndStop {
    fn registered(&mut self, d: &mut SchedulerDriver<Self>, id: &FrameworkId, _m: &MasterInfo) {
        self.0 = Some(id.clone());
        d.stop(false);
    }
}

#[test]
fn run_blocking_registers_and_hands_the_scheduler_back() {
    let (tx, rx) = mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let master = std::thread::spawn(move || {
        actix::System::new().block_on(async move {
            let node = Node::bind(NodeConfig::new("127.0.0.1:0".parse().unwrap()))
                .await
                .expect("listen");
            let m = master::spawn(&node, master::config::MasterConfig::default(), None)
                .expect("master");
            tx.send(m.pid().addr()).expect("report the address");
            let _ = stop_rx.await;
            node.shutdown();
        })
    });
    let addr = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the master starts");
    let (sched, reason) = scheduler::run_blocking(
        &addr.to_string(),
        FrameworkInfo::new("blocking", "root"),
        RegisterAndStop(None),
    )
    .expect("runs");
    assert_eq!(reason, StopReason::Stopped { failover: false });
    assert!(sched.0.is_some(), "registered before stopping");
    let _ = stop_tx.send(());
    master.join().expect("the master thread");
}

#[test]
fn a_bad_master_address_is_an_error_not_a_panic() {
    let out = scheduler::run_blocking(
        "not a master",
        FrameworkInfo::new("x", "root"),
        RegisterAndStop(None),
    );
    assert!(matches!(out, Err(RunError::Master(_))), "{:?}", out.err());
}

#[test]
fn an_executor_outside_an_agent_is_told_what_is_missing() {
    struct Nothing;
    impl frameworks::Executor for Nothing {
        fn launch_task(&mut self, _d: &mut frameworks::ExecutorDriver<Self>, _t: proto::TaskInfo) {}
        fn kill_task(
            &mut self,
            _d: &mut frameworks::ExecutorDriver<Self>,
            _t: proto::TaskId,
            _p: Option<proto::KillPolicy>,
        ) {
        }
    }
    let out = frameworks::executor::run_blocking(Nothing);
    assert!(matches!(out, Err(RunError::Env(_))), "{:?}", out.err());
}

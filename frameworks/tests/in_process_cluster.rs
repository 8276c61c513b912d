//! The scheduler driver against a real master on the in-process cluster
//! (`frameworks::testing`): a failed-over scheduler gets `registered`, as in Mesos.

use std::time::Duration;

use frameworks::scheduler::{Scheduler, SchedulerConfig, SchedulerDriver};
use frameworks::testing::{paused, within, TestCluster};
use proto::{FrameworkId, FrameworkInfo, MasterInfo};
use tokio::sync::mpsc;

#[derive(Debug, PartialEq)]
enum Ev {
    Registered(FrameworkId),
    Reregistered,
}

struct Record(mpsc::UnboundedSender<Ev>);

impl Scheduler for Record {
    fn registered(&mut self, _d: &mut SchedulerDriver<Self>, id: &FrameworkId, _m: &MasterInfo) {
        let _ = self.0.send(Ev::Registered(id.clone()));
    }
    fn reregistered(&mut self, _d: &mut SchedulerDriver<Self>, _m: &MasterInfo) {
        let _ = self.0.send(Ev::Reregistered);
    }
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Ev>, what: &str) -> Ev {
    within(Duration::from_secs(60), what, rx.recv())
        .await
        .expect("the scheduler is gone")
}

#[test]
fn a_failed_over_scheduler_gets_registered_with_its_framework_id() {
    paused(async {
        let cluster = TestCluster::builder().start().await.expect("cluster");
        let mut info = FrameworkInfo::new("fo", "root");
        info.failover_timeout = 600.0;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let first = cluster
            .run(info.clone(), Record(tx), SchedulerConfig::default())
            .expect("first scheduler");
        let Ev::Registered(id) = next(&mut rx, "first registration").await else {
            panic!("not registered first");
        };
        // The scheduler dies (no unregistration: the framework waits for a failover).
        first
            .process
            .call(|p, ctx| p.with_driver(ctx, |_s, d| d.stop(true)))
            .await
            .expect("stop");
        first.stopped().await;

        info.id = Some(id.clone());
        let (tx, mut rx) = mpsc::unbounded_channel();
        let config = SchedulerConfig {
            seed: 7,
            ..Default::default()
        };
        let _second = cluster
            .run(info, Record(tx), config)
            .expect("second scheduler");
        assert_eq!(
            next(&mut rx, "the failover's registration").await,
            Ev::Registered(id),
            "Mesos answers a failover with FrameworkRegisteredMessage"
        );
        cluster.node.settle().await;
        assert!(rx.try_recv().is_err(), "no reregistered as well");
        cluster.shutdown().await;
    });
}

//! The scheduler driver against a real master on the in-process cluster
//! (`frameworks::testing`): a failed-over scheduler gets `registered`, as in Mesos, and
//! gets offers even though its predecessor had suppressed them.

use std::time::Duration;

use frameworks::scheduler::{Scheduler, SchedulerConfig, SchedulerDriver};
use frameworks::testing::{paused, within, TestCluster};
use proto::{Filters, FrameworkId, FrameworkInfo, MasterInfo, Offer};
use tokio::sync::mpsc;

#[derive(Debug, PartialEq)]
enum Ev {
    Registered(FrameworkId),
    Reregistered,
    Offers,
}

struct Record(mpsc::UnboundedSender<Ev>);

impl Scheduler for Record {
    fn registered(&mut self, _d: &mut SchedulerDriver<Self>, id: &FrameworkId, _m: &MasterInfo) {
        let _ = self.0.send(Ev::Registered(id.clone()));
    }
    fn reregistered(&mut self, _d: &mut SchedulerDriver<Self>, _m: &MasterInfo) {
        let _ = self.0.send(Ev::Reregistered);
    }
    fn resource_offers(&mut self, d: &mut SchedulerDriver<Self>, offers: Vec<Offer>) {
        let _ = self.0.send(Ev::Offers);
        for o in offers {
            d.decline(o.id, Filters::default());
        }
    }
}

/// The next event other than offers.
async fn next(rx: &mut mpsc::UnboundedReceiver<Ev>, what: &str) -> Ev {
    within(Duration::from_secs(60), what, async {
        loop {
            match rx.recv().await {
                Some(Ev::Offers) => continue,
                Some(ev) => return ev,
                None => panic!("the scheduler is gone"),
            }
        }
    })
    .await
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
        while let Ok(ev) = rx.try_recv() {
            assert_eq!(ev, Ev::Offers, "no reregistered as well");
        }
        cluster.shutdown().await;
    });
}

#[test]
fn a_failed_over_scheduler_gets_offers_its_predecessor_had_suppressed() {
    paused(async {
        let cluster = TestCluster::builder().start().await.expect("cluster");
        let mut info = FrameworkInfo::new("quiet", "root");
        info.failover_timeout = 600.0;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let first = cluster
            .run(info.clone(), Record(tx), SchedulerConfig::default())
            .expect("first scheduler");
        let Ev::Registered(id) = next(&mut rx, "first registration").await else {
            panic!("not registered first");
        };
        // Suppressed, then the scheduler dies without unregistering.
        first
            .process
            .call(|p, ctx| {
                p.with_driver(ctx, |_s, d| {
                    d.suppress();
                    d.stop(true)
                })
            })
            .await
            .expect("suppress and stop");
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
        within(
            Duration::from_secs(60),
            "offers for the new scheduler",
            async { while rx.recv().await != Some(Ev::Offers) {} },
        )
        .await;
        cluster.shutdown().await;
    });
}

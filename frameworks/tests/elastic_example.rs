//! The elastic example (`examples/elastic.rs`) on the in-process cluster, in virtual time:
//! it grows to as many executors as the offers allow, shrinks to none when idle and stays
//! suppressed, then grows again (after one revive) when the next wave of work arrives.

#[path = "../examples/elastic.rs"]
mod elastic;

use std::time::Duration;

use elastic::Elastic;
use frameworks::scheduler::SchedulerConfig;
use frameworks::testing::{paused, within, TestCluster};
use frameworks::StopReason;
use libproc::Match;
use proto::messages::{ReviveOffersMessage, SuppressOffersMessage};
use proto::FrameworkInfo;

#[test]
fn grows_with_offers_shrinks_when_idle_and_revives_for_the_next_wave() {
    paused(async {
        // Two agents of 4 cpus: room for 4 executors of 2 cpus, fewer than the 6 wanted.
        let cluster = TestCluster::builder()
            .agents(2)
            .start()
            .await
            .expect("cluster");
        let mut revives = cluster
            .node
            .filters()
            .observe(Match::message::<ReviveOffersMessage>());
        let mut suppresses = cluster
            .node
            .filters()
            .observe(Match::message::<SuppressOffersMessage>());
        let waves = vec![(Duration::ZERO, 40), (Duration::from_secs(400), 4)];
        let app = cluster
            .run(
                FrameworkInfo::new("elastic", "root"),
                Elastic::new(6, waves),
                SchedulerConfig::default(),
            )
            .expect("the framework starts");

        // Between the waves: every executor was killed idle, and offers are suppressed.
        tokio::time::sleep(Duration::from_secs(350)).await;
        let between = app
            .process
            .call(|p, ctx| {
                let me = p.scheduler();
                let seen = (me.executors(), me.peak, me.done, me.killed_idle);
                (seen, p.with_driver(ctx, |_, d| d.suppressed_roles()))
            })
            .await
            .expect("the framework runs");
        assert_eq!(
            between,
            ((0, 4, 40, 4), vec!["*".to_string()]),
            "(executors, peak, done, killed idle), suppressed"
        );
        assert_eq!(revives.drain().len(), 1, "one revive, for the first wave");

        let (app, reason) = within(Duration::from_secs(3600), "the second wave", app.finished())
            .await
            .expect("the framework stops");
        assert_eq!(reason, StopReason::Stopped { failover: false });
        assert_eq!(
            (app.done, app.launched, app.killed_idle),
            (44, 6, 6),
            "2 executors for 4 units"
        );
        assert_eq!(revives.drain().len(), 1, "one revive, for the second wave");
        assert!(
            suppresses.drain().len() >= 2,
            "suppressed at start and when it had enough"
        );
        cluster.shutdown().await;
    });
}

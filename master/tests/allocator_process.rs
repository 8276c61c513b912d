//! The allocator process in-process on a paused clock, with a fake master recording
//! the `Offers` it receives: runs happen every allocation interval and soon after
//! events, coalesced.

use std::time::Duration;

use libproc::testing::{paused, within};
use libproc::{Ctx, Handlers, MemNetwork, Node, NodeConfig, Process};
use master::allocator::protocol::{
    AddAgent, AddFramework, AllocatorConfig, Offers, RecoverResources, SuppressOffers,
};
use master::allocator::quota_messages::SetQuota;
use master::allocator::AllocatorProcess;
use proto::{AgentId, AgentInfo, Filters, FrameworkId, FrameworkInfo, Resources};
use tokio::sync::mpsc;
use tokio::time::Instant;

struct FakeMaster {
    out: mpsc::UnboundedSender<(Instant, Offers)>,
}

impl Process for FakeMaster {
    fn install(h: &mut Handlers<Self>) {
        h.on(|me: &mut FakeMaster, _: &mut Ctx<Self>, _, m: Offers| {
            let _ = me.out.send((Instant::now(), m));
        });
    }
}

fn res(s: &str) -> Resources {
    s.parse().expect("valid resources")
}

fn add_agent(id: &str) -> AddAgent {
    AddAgent {
        agent_id: AgentId::new(id),
        info: AgentInfo::new(id, res("cpus:2;mem:1024")),
        total: res("cpus:2;mem:1024"),
        used: vec![],
    }
}

#[test]
fn runs_every_interval_and_soon_after_events() {
    paused(async {
        let node = Node::bind(NodeConfig::local().transport(MemNetwork::new()))
            .await
            .expect("node");
        let (tx, mut rx) = mpsc::unbounded_channel();
        let fake = node
            .spawn("master", FakeMaster { out: tx })
            .expect("spawn master");
        let config = AllocatorConfig {
            allocation_interval: Duration::from_secs(1),
            ..AllocatorConfig::default()
        };
        let alloc = node
            .spawn(
                "allocator",
                AllocatorProcess::new(config, fake.pid().clone()),
            )
            .expect("spawn allocator");
        node.settle().await;
        let t0 = Instant::now();
        let to = alloc.pid().clone();

        // Three agents and a framework arrive together: one coalesced run.
        for i in 0..3 {
            node.post(&to, add_agent(&format!("a{i}")));
        }
        let mut info = FrameworkInfo::new("fw", "root");
        info.role = Some("*".into());
        node.post(
            &to,
            AddFramework {
                framework_id: FrameworkId::new("f1"),
                info,
                used: vec![],
                active: true,
            },
        );
        let (at, offers) = within(Duration::from_secs(5), "first offers", rx.recv())
            .await
            .expect("offers");
        assert!(
            at - t0 < Duration::from_secs(1),
            "event-triggered, not the interval"
        );
        assert_eq!(offers.allocations.len(), 3, "one coalesced run");

        // A decline with a zero filter waits for the next interval tick.
        let first = offers.allocations[0].clone();
        node.post(
            &to,
            RecoverResources {
                framework_id: first.framework_id.clone(),
                agent_id: first.agent_id.clone(),
                resources: first.resources.clone(),
                filters: Some(Filters::refuse(0.0)),
            },
        );
        let (at, offers) = within(Duration::from_secs(5), "tick offers", rx.recv())
            .await
            .expect("offers");
        assert_eq!(at - t0, Duration::from_secs(1), "the periodic run at 1 s");
        assert_eq!(offers.allocations.len(), 1);

        // Resources freed without a filter (a task ended) are offered at once.
        let again = offers.allocations[0].clone();
        tokio::time::advance(Duration::from_millis(300)).await;
        node.post(
            &to,
            RecoverResources {
                framework_id: again.framework_id.clone(),
                agent_id: again.agent_id.clone(),
                resources: again.resources.clone(),
                filters: None,
            },
        );
        let (at, offers) = within(Duration::from_secs(5), "event offers", rx.recv())
            .await
            .expect("offers");
        assert_eq!(at - t0, Duration::from_millis(1300));
        assert_eq!(offers.allocations.len(), 1);

        // Suppressed: nothing more arrives even across many intervals.
        node.post(
            &to,
            SuppressOffers {
                framework_id: FrameworkId::new("f1"),
                roles: vec![],
            },
        );
        node.post(
            &to,
            SetQuota {
                role: "prod".into(),
                guarantee: res("cpus:1"),
                limit: None,
            },
        );
        node.settle().await;
        for _ in 0..5 {
            tokio::time::advance(Duration::from_secs(1)).await;
            node.settle().await;
        }
        assert!(rx.try_recv().is_err(), "no offers while suppressed");
        let runs = alloc
            .call(|p, _| p.allocator().stats().runs)
            .await
            .expect("alive");
        assert!(runs >= 7, "periodic runs keep happening ({runs})");
        let roles = alloc.call(|p, _| p.roles_json()).await.expect("alive");
        assert!(roles.to_string().contains("prod"));
    });
}

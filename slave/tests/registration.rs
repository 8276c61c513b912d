//! Registration under a paused clock with in-memory transport (no OS processes): retries
//! after a dropped RegisterSlaveMessage, re-registration on ping timeout and on a ping
//! saying the master does not know the agent.

mod common;

use std::time::Duration;

use common::{Ev, FakeMaster};
use libproc::testing::{paused, within};
use libproc::{Match, MemNetwork, Node, NodeConfig};
use proto::messages::{
    MasterSlaveConnection, PingSlaveMessage, RegisterSlaveMessage, SlaveRegisteredMessage,
    SlaveReregisteredMessage,
};
use proto::AgentId;
use tokio::sync::mpsc;

#[test]
fn registration_is_retried_when_the_first_attempt_is_lost_and_reregisters_on_master_loss() {
    paused(async {
        let node = Node::bind(NodeConfig::local().transport(MemNetwork::new()))
            .await
            .unwrap();
        let (tx, mut events) = mpsc::unbounded_channel();
        let master = node.spawn("master", FakeMaster { out: tx }).unwrap();
        let dropped = node
            .filters()
            .drop_one(Match::message::<RegisterSlaveMessage>().to(master.pid()));
        let dir = common::test_dir("reg");
        let mut cfg = common::config(master.pid(), &dir);
        cfg.registration_backoff_factor = Duration::from_secs(1);
        let agent = slave::spawn(&node, cfg).unwrap();

        // The first attempt is dropped; a retry within the backoff bound gets through.
        let ev = within(Duration::from_secs(5), "second registration", events.recv()).await;
        assert!(matches!(ev, Some(Ev::Register(_))), "{ev:?}");
        assert_eq!(dropped.hits(), 1);
        node.settle().await;
        assert!(agent
            .process
            .call(|me, _| me.is_registered())
            .await
            .unwrap());
        assert_eq!(
            agent
                .process
                .call(|me, _| me.agent_id().cloned())
                .await
                .unwrap()
                .unwrap()
                .as_str(),
            "S1"
        );

        // A ping is answered.
        node.send(
            master.pid(),
            agent.pid(),
            PingSlaveMessage { connected: true },
        );
        assert!(matches!(
            within(Duration::from_secs(1), "pong", events.recv()).await,
            Some(Ev::Pong)
        ));

        // A ping saying "not connected" forces a re-registration with the same id.
        node.send(
            master.pid(),
            agent.pid(),
            PingSlaveMessage { connected: false },
        );
        let mut got = None;
        while got.is_none() {
            match within(Duration::from_secs(5), "re-registration", events.recv()).await {
                Some(Ev::Reregister(m)) => got = Some(m),
                Some(_) => {}
                None => panic!("master gone"),
            }
        }
        assert_eq!(got.unwrap().slave.id.unwrap().as_str(), "S1");
        node.settle().await;
        assert!(agent
            .process
            .call(|me, _| me.is_registered())
            .await
            .unwrap());

        // No pings for 75 s: the master is considered lost and the agent re-registers.
        tokio::time::advance(Duration::from_secs(74)).await;
        node.settle().await;
        while let Ok(ev) = events.try_recv() {
            assert!(
                !matches!(ev, Ev::Reregister(_)),
                "re-registered before the ping timeout"
            );
        }
        let ev = within(
            Duration::from_secs(5),
            "re-registration after ping timeout",
            async {
                loop {
                    if let Some(Ev::Reregister(m)) = events.recv().await {
                        return m;
                    }
                }
            },
        )
        .await;
        assert_eq!(ev.slave.id.unwrap().as_str(), "S1");
    });
}

/// One forged frame with `total_ping_timeout_seconds: 1e300` (or NaN, or negative) used to
/// panic the agent in `Duration::from_secs_f64`; now it is ignored and the agent keeps
/// answering pings and supervising its master with the timeout it had.
#[test]
fn a_forged_ping_timeout_does_not_kill_the_agent() {
    paused(async {
        let node = Node::bind(NodeConfig::local().transport(MemNetwork::new()))
            .await
            .unwrap();
        let (tx, mut events) = mpsc::unbounded_channel();
        let master = node.spawn("master", FakeMaster { out: tx }).unwrap();
        let dir = common::test_dir("reg-forged");
        let agent = slave::spawn(&node, common::config(master.pid(), &dir)).unwrap();
        common::wait_registered(&agent).await;
        for bad in [1e300, f64::INFINITY, f64::NAN, -5.0] {
            let connection = Some(MasterSlaveConnection {
                total_ping_timeout_seconds: bad,
            });
            node.send(
                master.pid(),
                agent.pid(),
                SlaveRegisteredMessage {
                    slave_id: AgentId::new("S1"),
                    connection,
                },
            );
            node.send(
                master.pid(),
                agent.pid(),
                SlaveReregisteredMessage {
                    slave_id: AgentId::new("S1"),
                    connection,
                    reconciliations: Vec::new(),
                },
            );
            node.send(
                master.pid(),
                agent.pid(),
                PingSlaveMessage { connected: true },
            );
            let pong = within(Duration::from_secs(5), "pong", async {
                loop {
                    match events.recv().await {
                        Some(Ev::Pong) => return true,
                        Some(_) => {}
                        None => return false,
                    }
                }
            })
            .await;
            assert!(pong, "the agent died on total_ping_timeout_seconds={bad}");
        }
        let timeout = agent
            .process
            .call(|me, _| me.master_ping_timeout())
            .await
            .expect("the agent is alive");
        assert_eq!(
            timeout,
            Duration::from_secs(75),
            "the default timeout is kept"
        );
    });
}

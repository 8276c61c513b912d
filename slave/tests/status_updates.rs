//! Status-update retries on a paused clock with in-memory transport (no OS processes): an
//! update the agent makes itself (a task no containerizer can launch fails at once) is
//! re-sent after the retry interval, doubling, in virtual time, until it is acknowledged;
//! an update forwarded while the master was away goes out again when the agent
//! re-registers.

mod common;

use std::time::Duration;

use common::{keep_pinging, next_update, Ev, FakeMaster};
use libproc::testing::{paused, within};
use libproc::{Match, MemNetwork, Node, NodeConfig};
use proto::messages::{PingSlaveMessage, RunTaskMessage, StatusUpdateMessage};
use proto::{
    AgentId, CommandInfo, ContainerInfo, FrameworkId, FrameworkInfo, Reason, Resources, TaskId,
    TaskInfo, TaskState,
};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A command task in a DOCKER container: an agent without the Docker containerizer fails
/// it with an update of its own, no executor involved.
fn docker_task(node: &Node, master: &libproc::Pid, agent: &libproc::Pid, id: &str) {
    let mut framework = FrameworkInfo::new("fw", "nobody");
    framework.id = Some(FrameworkId::new("F1"));
    let mut task = TaskInfo::command_task(
        id,
        TaskId::new(id),
        AgentId::new("S1"),
        "cpus:0.1;mem:16".parse::<Resources>().unwrap(),
        CommandInfo::shell("true"),
    );
    task.container = Some(ContainerInfo::docker("busybox"));
    node.send(
        master,
        agent,
        RunTaskMessage {
            framework,
            framework_id: FrameworkId::new("F1"),
            task,
            pid: None,
        },
    );
}

#[test]
fn unacknowledged_update_is_resent_with_backoff_in_virtual_time_until_acked() {
    paused(async {
        let node = Node::bind(NodeConfig::local().transport(MemNetwork::new()))
            .await
            .unwrap();
        let (tx, mut events) = mpsc::unbounded_channel();
        let master = node.spawn("master", FakeMaster { out: tx }).unwrap();
        let dir = common::test_dir("update-retries");
        let mut cfg = common::config(master.pid(), &dir);
        cfg.status_update_retry_interval_min = Duration::from_secs(10);
        cfg.status_update_retry_interval_max = Duration::from_secs(40);
        let agent = slave::spawn(&node, cfg).unwrap();
        common::wait_registered(&agent).await;

        // The master pings as a live master does, so the agent never re-registers (which
        // would re-send the update early).
        keep_pinging(&node, master.pid(), agent.pid());
        docker_task(&node, master.pid(), agent.pid(), "t1");
        let first = next_update(&mut events, "TASK_FAILED").await;
        let sent_at = Instant::now();
        assert_eq!(first.status.state, TaskState::Failed);
        assert_eq!(first.status.reason, Some(Reason::ContainerLaunchFailed));

        // Not acknowledged: the same update again after 10 s, then 20 s, then 40 s (the cap),
        // all in virtual time.
        let mut at = sent_at;
        for expected in [10, 20, 40, 40] {
            let again = next_update(&mut events, "a retry").await;
            assert_eq!(again.status.uuid, first.status.uuid, "the same update");
            let waited = Instant::now() - at;
            assert_eq!(waited, Duration::from_secs(expected));
            at = Instant::now();
        }

        // Acknowledged: no more retries, however long we wait.
        let acks = node.filters().observe(Match::message::<
            proto::messages::StatusUpdateAcknowledgementMessage,
        >());
        common::ack_from(&node, master.pid(), agent.pid(), &first);
        node.settle().await;
        assert_eq!(acks.rule().hits(), 1);
        tokio::time::sleep(Duration::from_secs(600)).await;
        while let Ok(ev) = events.try_recv() {
            assert!(
                !matches!(ev, Ev::Update(_)),
                "re-sent after the ack: {ev:?}"
            );
        }
        node.shutdown();
    });
}

#[test]
fn update_dropped_while_the_master_is_away_goes_out_on_reregistration() {
    paused(async {
        let node = Node::bind(NodeConfig::local().transport(MemNetwork::new()))
            .await
            .unwrap();
        let (tx, mut events) = mpsc::unbounded_channel();
        let master = node.spawn("master", FakeMaster { out: tx }).unwrap();
        let dir = common::test_dir("update-reregistration");
        let mut cfg = common::config(master.pid(), &dir);
        cfg.status_update_retry_interval_min = Duration::from_secs(60);
        cfg.status_update_retry_interval_max = Duration::from_secs(600);
        let agent = slave::spawn(&node, cfg).unwrap();
        common::wait_registered(&agent).await;

        // The first forward is lost on the way to the master.
        let lost = node
            .filters()
            .drop_one(Match::message::<StatusUpdateMessage>().to(master.pid()));
        docker_task(&node, master.pid(), agent.pid(), "t1");
        node.settle().await;
        assert_eq!(lost.hits(), 1);

        // The master says it does not know the agent: it re-registers and re-sends the
        // unacknowledged update at once, long before the 60 s retry.
        let before = Instant::now();
        node.send(
            master.pid(),
            agent.pid(),
            PingSlaveMessage { connected: false },
        );
        loop {
            match within(Duration::from_secs(5), "re-registration", events.recv()).await {
                Some(Ev::Reregister(_)) => break,
                Some(_) => continue,
                None => panic!("fake master gone"),
            }
        }
        let update = next_update(&mut events, "the update after re-registration").await;
        assert_eq!(update.status.state, TaskState::Failed);
        assert!(Instant::now() - before < Duration::from_secs(60));
        node.shutdown();
    });
}

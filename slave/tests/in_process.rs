//! The agent on the test containerizer (executors in-process, on the agent's node), with
//! in-memory transport and a paused clock: status-update retries from a running executor,
//! and an agent restart that recovers its checkpointed task, has the executor re-register,
//! and re-sends the update that was never acknowledged; a recovered executor that does not
//! re-register in time is killed and its task lost; an executor that crashes has its task
//! failed by the agent; a failed checkpoint write stops the agent before it acts on what it
//! could not record.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{keep_pinging, next_update, Ev, FakeMaster};
use libproc::testing::{paused, within};
use libproc::{Match, MemNetwork, Node, NodeConfig, Pid};
use proto::messages::{
    KillTaskMessage, ReconnectExecutorMessage, ReregisterExecutorMessage, RunTaskMessage,
};
use proto::{AgentId, CommandInfo, FrameworkId, FrameworkInfo, Resources, TaskId, TaskInfo};
use proto::{ContainerId, TaskState};
use slave::containerizer::TestContainerizer;
use slave::AgentConfig;
use tokio::sync::mpsc;
use tokio::time::Instant;

fn config(master: &Pid, dir: &std::path::Path, tc: &TestContainerizer) -> AgentConfig {
    let mut c = common::config(master, dir);
    c.containerizer = Some(Arc::new(tc.clone()));
    c.status_update_retry_interval_min = Duration::from_secs(10);
    c.status_update_retry_interval_max = Duration::from_secs(40);
    c
}

fn run_task(node: &Node, master: &Pid, agent: &Pid, id: &str, checkpoint: bool) {
    let mut framework = FrameworkInfo::new("fw", "nobody");
    framework.id = Some(FrameworkId::new("F1"));
    framework.checkpoint = checkpoint;
    let task = TaskInfo::command_task(
        id,
        TaskId::new(id),
        AgentId::new("S1"),
        "cpus:0.1;mem:16".parse::<Resources>().unwrap(),
        CommandInfo::shell("sleep 1000"),
    );
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
fn a_running_executors_update_is_retried_in_virtual_time_until_acknowledged() {
    paused(async {
        let node = Node::bind(NodeConfig::local().transport(MemNetwork::new()))
            .await
            .unwrap();
        let (tx, mut events) = mpsc::unbounded_channel();
        let master = node.spawn("master", FakeMaster { out: tx }).unwrap();
        let dir = common::test_dir("in-process-retries");
        let tc = TestContainerizer::new(&node);
        let agent = slave::spawn(&node, config(master.pid(), &dir, &tc)).unwrap();
        common::wait_registered(&agent).await;
        let pinger = keep_pinging(&node, master.pid(), agent.pid());

        run_task(&node, master.pid(), agent.pid(), "t1", false);
        let first = next_update(&mut events, "TASK_RUNNING").await;
        assert_eq!(first.status.state, TaskState::Running);
        assert_eq!(tc.running(), 1, "the executor runs in-process");
        let mut at = Instant::now();
        for expected in [10, 20, 40] {
            let again = next_update(&mut events, "a retry").await;
            assert_eq!(again.status.uuid, first.status.uuid);
            assert_eq!(Instant::now() - at, Duration::from_secs(expected));
            at = Instant::now();
        }
        common::ack_from(&node, master.pid(), agent.pid(), &first);
        node.settle().await;
        tokio::time::sleep(Duration::from_secs(300)).await;
        while let Ok(ev) = events.try_recv() {
            assert!(
                !matches!(ev, Ev::Update(_)),
                "re-sent after the ack: {ev:?}"
            );
        }

        // Shutting the agent down stops the in-process executor.
        pinger.abort();
        within(Duration::from_secs(30), "agent shutdown", agent.shutdown()).await;
        assert_eq!(tc.running(), 0);
        node.shutdown();
    });
}

#[test]
fn a_restarted_agent_recovers_its_checkpointed_task_and_the_executor_reregisters() {
    paused(async {
        let node = Node::bind(NodeConfig::local().transport(MemNetwork::new()))
            .await
            .unwrap();
        let (tx, mut events) = mpsc::unbounded_channel();
        let master = node.spawn("master", FakeMaster { out: tx }).unwrap();
        let dir = common::test_dir("in-process-recovery");
        let tc = TestContainerizer::new(&node);
        let agent = slave::spawn(&node, config(master.pid(), &dir, &tc)).unwrap();
        common::wait_registered(&agent).await;

        run_task(&node, master.pid(), agent.pid(), "t1", true);
        let running = next_update(&mut events, "TASK_RUNNING").await;
        assert_eq!(running.status.state, TaskState::Running);
        let container: ContainerId = agent
            .process
            .call(|me, _| {
                me.frameworks()
                    .values()
                    .flat_map(|f| f.executors.values())
                    .map(|e| e.container_id.clone())
                    .next()
            })
            .await
            .unwrap()
            .expect("an executor");

        // The agent process dies (its executor lives on), unacknowledged update and all.
        node.terminate(agent.pid());
        within(Duration::from_secs(10), "agent stopped", agent.stopped()).await;
        assert_eq!(tc.running(), 1);
        while events.try_recv().is_ok() {}

        let filters = node.filters();
        let mut reconnects = filters.observe(Match::message::<ReconnectExecutorMessage>());
        let mut reregisters = filters.observe(Match::message::<ReregisterExecutorMessage>());
        let agent = slave::spawn(&node, config(master.pid(), &dir, &tc)).unwrap();

        // The agent asks the live executor to reconnect; it re-registers with its task.
        let _: ReconnectExecutorMessage =
            libproc::testing::next_message(&mut reconnects, Duration::from_secs(30), "reconnect")
                .await;
        let rereg: ReregisterExecutorMessage = libproc::testing::next_message(
            &mut reregisters,
            Duration::from_secs(30),
            "executor re-registration",
        )
        .await;
        assert_eq!(rereg.tasks.len(), 1);
        // The agent acknowledged the executor's update when it recorded it: the
        // unacknowledged one is in the agent's checkpointed stream, not the executor's.
        assert!(rereg.updates.is_empty());

        // The agent re-registers with the recovered task and re-sends its update.
        loop {
            match within(Duration::from_secs(30), "re-registration", events.recv()).await {
                Some(Ev::Reregister(m)) => {
                    assert_eq!(m.slave.id, Some(AgentId::new("S1")));
                    let t = m.tasks.iter().find(|t| t.task_id.as_str() == "t1");
                    assert_eq!(t.map(|t| t.state), Some(TaskState::Running), "{m:?}");
                    break;
                }
                Some(Ev::Register(m)) => panic!("registered as a new agent: {m:?}"),
                Some(_) => continue,
                None => panic!("fake master gone"),
            }
        }
        let again = next_update(&mut events, "the recovered update").await;
        assert_eq!(again.status.uuid, running.status.uuid);
        let executor_state = agent
            .process
            .call(|me, _| {
                me.frameworks()
                    .values()
                    .flat_map(|f| f.executors.values())
                    .map(|e| (e.container_id.clone(), e.state, e.pid.is_some()))
                    .next()
            })
            .await
            .unwrap();
        assert_eq!(
            executor_state,
            Some((container, slave::agent::ExecutorState::Running, true))
        );
        assert!(!agent
            .process
            .call(|me, _| me.is_recovering())
            .await
            .unwrap());
        within(Duration::from_secs(30), "agent shutdown", agent.shutdown()).await;
        assert_eq!(tc.running(), 0);
        node.shutdown();
    });
}

#[test]
fn a_recovered_executor_that_does_not_reregister_is_killed_and_its_task_lost() {
    paused(async {
        let node = Node::bind(NodeConfig::local().transport(MemNetwork::new()))
            .await
            .unwrap();
        let (tx, mut events) = mpsc::unbounded_channel();
        let master = node.spawn("master", FakeMaster { out: tx }).unwrap();
        let dir = common::test_dir("in-process-rereg-timeout");
        let tc = TestContainerizer::new(&node);
        let agent = slave::spawn(&node, config(master.pid(), &dir, &tc)).unwrap();
        common::wait_registered(&agent).await;
        run_task(&node, master.pid(), agent.pid(), "t1", true);
        let running = next_update(&mut events, "TASK_RUNNING").await;
        common::ack_from(&node, master.pid(), agent.pid(), &running);
        node.settle().await;

        // The agent dies; its executor lives on but will not answer the new agent.
        node.terminate(agent.pid());
        within(Duration::from_secs(10), "agent stopped", agent.stopped()).await;
        tc.ignore_reconnects(true);
        let started = Instant::now();
        let agent = slave::spawn(&node, config(master.pid(), &dir, &tc)).unwrap();
        let lost = next_update(&mut events, "TASK_LOST").await;
        assert_eq!(lost.status.task_id, TaskId::new("t1"));
        assert_eq!(lost.status.state, TaskState::Lost);
        assert_eq!(
            lost.status.reason,
            Some(proto::Reason::ExecutorReregistrationTimeout)
        );
        assert!(Instant::now() - started >= Duration::from_secs(2));
        assert_eq!(tc.running(), 0, "the executor was killed");
        within(Duration::from_secs(30), "agent shutdown", agent.shutdown()).await;
        node.shutdown();
    });
}

#[test]
fn a_crashed_executors_task_is_failed_by_the_agent() {
    paused(async {
        let node = Node::bind(NodeConfig::local().transport(MemNetwork::new()))
            .await
            .unwrap();
        let (tx, mut events) = mpsc::unbounded_channel();
        let master = node.spawn("master", FakeMaster { out: tx }).unwrap();
        let dir = common::test_dir("in-process-crash");
        let tc = TestContainerizer::new(&node);
        let agent = slave::spawn(&node, config(master.pid(), &dir, &tc)).unwrap();
        common::wait_registered(&agent).await;
        let pinger = keep_pinging(&node, master.pid(), agent.pid());

        run_task(&node, master.pid(), agent.pid(), "t1", false);
        let running = next_update(&mut events, "TASK_RUNNING").await;
        common::ack_from(&node, master.pid(), agent.pid(), &running);
        let containers = tc.containers();
        assert_eq!(containers.len(), 1);
        assert!(tc.crash(&containers[0]));
        let failed = next_update(&mut events, "the crashed executor's task").await;
        assert_eq!(failed.status.task_id, TaskId::new("t1"));
        assert!(failed.status.state.is_terminal(), "{failed:?}");
        assert_eq!(tc.running(), 0);
        assert!(!tc.crash(&containers[0]), "nothing runs there any more");

        pinger.abort();
        within(Duration::from_secs(30), "agent shutdown", agent.shutdown()).await;
        node.shutdown();
    });
}

/// Mesos aborts the agent on a failed checkpoint; so does this one, as a crash (the
/// executor lives on). The update it could not record was neither forwarded nor
/// acknowledged to the executor, which re-sends it to the restarted agent.
#[test]
fn a_failed_checkpoint_write_stops_the_agent_and_the_update_survives_through_the_executor() {
    paused(async {
        let node = Node::bind(NodeConfig::local().transport(MemNetwork::new()))
            .await
            .unwrap();
        let (tx, mut events) = mpsc::unbounded_channel();
        let master = node.spawn("master", FakeMaster { out: tx }).unwrap();
        let dir = common::test_dir("in-process-failed-checkpoint");
        let tc = TestContainerizer::new(&node);
        let agent = slave::spawn(&node, config(master.pid(), &dir, &tc)).unwrap();
        common::wait_registered(&agent).await;
        let pinger = keep_pinging(&node, master.pid(), agent.pid());

        run_task(&node, master.pid(), agent.pid(), "t1", true);
        let running = next_update(&mut events, "TASK_RUNNING").await;
        common::ack_from(&node, master.pid(), agent.pid(), &running);
        node.settle().await;

        // Every checkpoint write fails from now on (this thread's disk rule).
        libproc::fault::set_thread_disk_rule(Some(Box::new(|t| {
            if t == libproc::fault::DiskTarget::Checkpoint {
                libproc::fault::DiskVerdict::Fail
            } else {
                libproc::fault::DiskVerdict::Write
            }
        })));
        node.send(
            master.pid(),
            agent.pid(),
            KillTaskMessage {
                framework_id: FrameworkId::new("F1"),
                task_id: TaskId::new("t1"),
                kill_policy: None,
            },
        );
        within(Duration::from_secs(10), "the agent stops", agent.stopped()).await;
        assert!(agent.aborted(), "stopped on the failed checkpoint");
        pinger.abort();
        assert_eq!(tc.running(), 1, "the executor lives on");
        while let Ok(ev) = events.try_recv() {
            assert!(
                !matches!(&ev, Ev::Update(u) if u.update.status.state == TaskState::Killed),
                "forwarded an update it could not checkpoint: {ev:?}"
            );
        }
        libproc::fault::set_thread_disk_rule(None);

        let filters = node.filters();
        let mut reregisters = filters.observe(Match::message::<ReregisterExecutorMessage>());
        let agent = slave::spawn(&node, config(master.pid(), &dir, &tc)).unwrap();
        let rereg: ReregisterExecutorMessage = libproc::testing::next_message(
            &mut reregisters,
            Duration::from_secs(30),
            "executor re-registration",
        )
        .await;
        assert_eq!(rereg.updates.len(), 1, "the unrecorded update: {rereg:?}");
        let pinger = keep_pinging(&node, master.pid(), agent.pid());
        let killed = next_update(&mut events, "TASK_KILLED, from the restarted agent").await;
        assert_eq!(killed.status.state, TaskState::Killed, "{killed:?}");
        pinger.abort();
        within(Duration::from_secs(30), "agent shutdown", agent.shutdown()).await;
        node.shutdown();
    });
}

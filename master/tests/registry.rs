//! The master's registry in-process (issue 10): a master whose registry cannot be
//! written stops and tells no agent it is registered; a leader killed while a registry
//! write is in flight has told no one of that decision; a decision written by one leader
//! (a framework torn down) holds under the next one, which shares the registry; and an
//! agent the master does not know does not start a ping/pong storm with it.
//!
//! Fake agents and schedulers are plain processes the test drives with `node.send` and
//! watches through filters; the clock is paused.

mod common;

use common::{config, FakeAgent, Mute};
use libproc::testing::paused;

use std::time::Duration;

use libproc::filter::Observer;
use libproc::{Match, MemNetwork, Message, Node, NodeConfig, Pid};
use master::allocator::protocol::{Allocation, Offers};
use master::registry::RegistryStore;
use master::MasterConfig;
use proto::messages::*;
use proto::{AgentId, AgentInfo, CommandInfo, FrameworkInfo, OfferOperation, Resources, TaskInfo};

const LIMIT: Duration = Duration::from_secs(300);

async fn node_at(net: &MemNetwork, addr: &str) -> Node {
    Node::bind(NodeConfig::new(addr.parse().unwrap()).transport(net.clone()))
        .await
        .expect("bind")
}

async fn next_of<M: libproc::Message>(obs: &mut Observer, what: &str) -> M {
    libproc::testing::next_message(obs, LIMIT, what).await
}

fn with_store(store: &RegistryStore) -> MasterConfig {
    MasterConfig {
        registry_store: Some(store.clone()),
        ..config()
    }
}

fn register(node: &Node, agent: &Pid, master: &Pid, resources: &str) {
    node.send(
        agent,
        master,
        RegisterSlaveMessage {
            slave: AgentInfo::new("agent-host", resources.parse().unwrap()),
            checkpointed_resources: Resources::new(),
            version: "1.11.0".into(),
        },
    );
}

fn received(obs: &mut Observer, name: &str) -> usize {
    obs.drain().iter().filter(|o| o.name == name).count()
}

#[test]
fn a_master_whose_registry_cannot_be_written_stops_and_tells_no_agent() {
    paused(async {
        let net = MemNetwork::new();
        // Unwritable from the start: the new leader's first write fails, it stops.
        let node = node_at(&net, "10.0.0.1:5050").await;
        let store = RegistryStore::in_memory();
        store.fail_writes(true);
        node.spawn("allocator", Mute).unwrap();
        let m = master::spawn_master(&node, with_store(&store)).unwrap();
        let agent = node.spawn("slave(1)", FakeAgent).unwrap().pid().clone();
        let mut mail = node.filters().observe(Match::any().to(&agent));
        register(&node, &agent, m.pid(), "cpus:2;mem:1024");
        tokio::time::sleep(Duration::from_secs(30)).await;
        node.settle().await;
        assert!(
            !m.is_alive(),
            "a master that cannot write its registry leads"
        );
        assert_eq!(
            received(&mut mail, SlaveRegisteredMessage::NAME),
            0,
            "an agent was told it is registered"
        );
        node.shutdown();

        // Writable at first, then not: the next admission is never announced.
        let node = node_at(&net, "10.0.0.2:5050").await;
        let store = RegistryStore::in_memory();
        node.spawn("allocator", Mute).unwrap();
        let m = master::spawn_master(&node, with_store(&store)).unwrap();
        let a1 = node.spawn("slave(1)", FakeAgent).unwrap().pid().clone();
        let mut mail1 = node.filters().observe(Match::any().to(&a1));
        register(&node, &a1, m.pid(), "cpus:2;mem:1024");
        let _: SlaveRegisteredMessage = next_of(&mut mail1, "SlaveRegistered").await;
        assert!(store.writes() >= 2, "the admission was not written");
        store.fail_writes(true);
        let a2 = node.spawn("slave(2)", FakeAgent).unwrap().pid().clone();
        let mut mail2 = node.filters().observe(Match::any().to(&a2));
        register(&node, &a2, m.pid(), "cpus:2;mem:1024");
        tokio::time::sleep(Duration::from_secs(30)).await;
        node.settle().await;
        assert_eq!(received(&mut mail2, SlaveRegisteredMessage::NAME), 0);
        assert!(!m.is_alive());
        node.shutdown();
    });
}

#[test]
fn a_teardown_written_by_one_leader_holds_under_the_next() {
    paused(async {
        let net = MemNetwork::new();
        let store = RegistryStore::in_memory();
        let node1 = node_at(&net, "10.0.0.1:5050").await;
        let allocator = node1.spawn("allocator", Mute).unwrap().pid().clone();
        let m1 = master::spawn_master(&node1, with_store(&store)).unwrap();
        let agents = node_at(&net, "10.0.0.9:5051").await;
        let agent = agents.spawn("slave(1)", FakeAgent).unwrap().pid().clone();
        let mut agent_mail = agents.filters().observe(Match::any().to(&agent));
        register(&agents, &agent, m1.pid(), "cpus:2;mem:1024");
        let reg: SlaveRegisteredMessage = next_of(&mut agent_mail, "SlaveRegistered").await;
        let agent_id: AgentId = reg.slave_id;

        let sched = agents.spawn("scheduler-1", Mute).unwrap().pid().clone();
        let mut sched_mail = agents.filters().observe(Match::any().to(&sched));
        let info = FrameworkInfo::new("fw", "root");
        agents.send(
            &sched,
            m1.pid(),
            RegisterFrameworkMessage {
                framework: info.clone(),
            },
        );
        let r: FrameworkRegisteredMessage = next_of(&mut sched_mail, "FrameworkRegistered").await;
        let fid = r.framework_id;
        node1.send(
            &allocator,
            m1.pid(),
            Offers {
                allocations: vec![Allocation {
                    framework_id: fid.clone(),
                    agent_id: agent_id.clone(),
                    role: "*".into(),
                    resources: "cpus:2;mem:1024".parse().unwrap(),
                }],
            },
        );
        let offers: ResourceOffersMessage = next_of(&mut sched_mail, "offers").await;
        let t = TaskInfo::command_task(
            "t1",
            "t1".into(),
            agent_id.clone(),
            "cpus:1;mem:128".parse().unwrap(),
            CommandInfo::shell("sleep 1000"),
        );
        agents.send(
            &sched,
            m1.pid(),
            AcceptOffersMessage {
                framework_id: fid.clone(),
                offer_ids: vec![offers.offers[0].id.clone()],
                operations: vec![OfferOperation::Launch {
                    task_infos: vec![t.clone()],
                }],
                filters: proto::Filters::default(),
            },
        );
        let _: RunTaskMessage = next_of(&mut agent_mail, "RunTask").await;
        // The framework is torn down; the leader then dies before the agent could
        // act on ShutdownFramework (it is dropped).
        let drop = agents
            .filters()
            .drop_all(Match::message::<ShutdownFrameworkMessage>());
        agents.send(
            &sched,
            m1.pid(),
            UnregisterFrameworkMessage {
                framework_id: fid.clone(),
            },
        );
        let _: FrameworkErrorMessage = next_of(&mut sched_mail, "teardown").await;
        drop.remove();
        node1.shutdown();

        // The next leader shares the registry. The agent re-registers with the task.
        let node2 = node_at(&net, "10.0.0.2:5050").await;
        node2.spawn("allocator", Mute).unwrap();
        let m2 = master::spawn_master(&node2, with_store(&store)).unwrap();
        let mut slave = AgentInfo::new("agent-host", "cpus:2;mem:1024".parse().unwrap());
        slave.id = Some(agent_id.clone());
        let mut task = Task::from_info(&t, fid.clone(), None);
        task.state = proto::TaskState::Running;
        let mut finfo = info.clone();
        finfo.id = Some(fid.clone());
        agents.send(
            &agent,
            m2.pid(),
            ReregisterSlaveMessage {
                slave,
                checkpointed_resources: Resources::new(),
                executor_infos: vec![],
                tasks: vec![task],
                frameworks: vec![finfo.clone()],
                version: "1.11.0".into(),
            },
        );
        let _: SlaveReregisteredMessage = next_of(&mut agent_mail, "SlaveReregistered").await;
        let s: ShutdownFrameworkMessage = next_of(&mut agent_mail, "ShutdownFramework").await;
        assert_eq!(s.framework_id, fid);
        let known = m2
            .call(move |m, _| m.core().frameworks().contains_key(&fid))
            .await
            .unwrap();
        assert!(!known, "the torn-down framework was adopted back");
        // Its scheduler cannot come back either.
        let sched2 = agents.spawn("scheduler-2", Mute).unwrap().pid().clone();
        let mut mail2 = agents.filters().observe(Match::any().to(&sched2));
        agents.send(
            &sched2,
            m2.pid(),
            ReregisterFrameworkMessage {
                framework: finfo,
                failover: true,
            },
        );
        let e: FrameworkErrorMessage = next_of(&mut mail2, "refusal").await;
        assert!(e.message.contains("removed"), "{}", e.message);
        node2.shutdown();
        agents.shutdown();
    });
}

#[test]
fn an_unknown_agent_and_the_master_do_not_ping_pong() {
    paused(async {
        let net = MemNetwork::new();
        let node = node_at(&net, "10.0.0.1:5050").await;
        node.spawn("allocator", Mute).unwrap();
        let m = master::spawn_master(&node, config()).unwrap();
        // An agent the master does not know (say, it was removed while partitioned)
        // answers pings with pongs, as agents do.
        let agent = node.spawn("slave(1)", FakeAgent).unwrap().pid().clone();
        let mut mail = node.filters().observe(Match::any().to(&agent));
        node.send(&agent, m.pid(), PongSlaveMessage {});
        // (settle gives up after a bounded number of rounds if the two never stop.)
        node.settle().await;
        let pings = received(&mut mail, PingSlaveMessage::NAME);
        assert!(pings <= 1, "{pings} pings for one pong");
        node.shutdown();
    });
}

#[test]
fn a_leader_killed_during_a_registry_write_has_told_no_one() {
    paused(async {
        let net = MemNetwork::new();
        let store = RegistryStore::in_memory();
        let node1 = node_at(&net, "10.0.0.1:5050").await;
        node1.spawn("allocator", Mute).unwrap();
        let m1 = master::spawn_master(&node1, with_store(&store)).unwrap();
        let agents = node_at(&net, "10.0.0.9:5051").await;
        let a1 = agents.spawn("slave(1)", FakeAgent).unwrap().pid().clone();
        let mut mail1 = agents.filters().observe(Match::any().to(&a1));
        register(&agents, &a1, m1.pid(), "cpus:2;mem:1024");
        let r1: SlaveRegisteredMessage = next_of(&mut mail1, "SlaveRegistered").await;

        // The next admission's write is in flight when the leader dies.
        store.hold_writes();
        let a2 = agents.spawn("slave(2)", FakeAgent).unwrap().pid().clone();
        let mut mail2 = agents.filters().observe(Match::any().to(&a2));
        register(&agents, &a2, m1.pid(), "cpus:2;mem:1024");
        tokio::time::sleep(Duration::from_secs(10)).await;
        agents.settle().await;
        assert_eq!(
            received(&mut mail2, SlaveRegisteredMessage::NAME),
            0,
            "told before the write completed"
        );
        assert!(m1.is_alive());
        node1.shutdown();
        store.release_writes();

        // The next leader knows the first agent (it re-registers) and admits the
        // second one, which simply registers again, as a new agent.
        let node2 = node_at(&net, "10.0.0.2:5050").await;
        node2.spawn("allocator", Mute).unwrap();
        // (Another master id, as a real master's: agent ids start with it.)
        let m2 = master::spawn_master(
            &node2,
            MasterConfig {
                id_seed: 43,
                ..with_store(&store)
            },
        )
        .unwrap();
        let mut slave = AgentInfo::new("agent-host", "cpus:2;mem:1024".parse().unwrap());
        slave.id = Some(r1.slave_id.clone());
        agents.send(
            &a1,
            m2.pid(),
            ReregisterSlaveMessage {
                slave,
                checkpointed_resources: Resources::new(),
                executor_infos: vec![],
                tasks: vec![],
                frameworks: vec![],
                version: "1.11.0".into(),
            },
        );
        let re: SlaveReregisteredMessage = next_of(&mut mail1, "SlaveReregistered").await;
        assert_eq!(re.slave_id, r1.slave_id);
        register(&agents, &a2, m2.pid(), "cpus:2;mem:1024");
        let r2: SlaveRegisteredMessage = next_of(&mut mail2, "SlaveRegistered").await;
        assert_ne!(r2.slave_id, r1.slave_id);
        let recovered = m2
            .call(|m, _| m.core().registry().agents.len())
            .await
            .unwrap();
        assert_eq!(recovered, 2);
        node2.shutdown();
        agents.shutdown();
    });
}

#[actix_rt::test]
async fn an_operator_change_is_answered_once_it_is_written() {
    let node = Node::bind(NodeConfig::local()).await.unwrap();
    let store = RegistryStore::in_memory();
    node.spawn("allocator", Mute).unwrap();
    let m = master::spawn_master(&node, with_store(&store)).unwrap();
    let addr = node.addr();
    // The master leads once its first write is done.
    libproc::testing::within(LIMIT, "the master leading", async {
        while store.writes() == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    store.hold_writes();
    let put = tokio::spawn(async move {
        libproc::testing::http_request(addr, "PUT", "/weights", br#"[{"role":"ads","weight":2}]"#)
            .await
    });
    // The master has decided (its registry holds the weight)...
    libproc::testing::within(LIMIT, "the weight decided", async {
        loop {
            let decided = m
                .call(|me, _| me.core().registry().weights.contains_key("ads"))
                .await
                .unwrap();
            if decided {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    // ...but does not answer while the write is in flight (a bounded wait for an
    // absence).
    let early = tokio::time::timeout(Duration::from_millis(300), async {
        while !put.is_finished() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(early.is_err(), "answered before the write completed");
    store.release_writes();
    let (status, body) = libproc::testing::within(LIMIT, "the answer", put)
        .await
        .unwrap()
        .expect("HTTP exchange");
    assert_eq!(status, 200, "{body}");
    node.shutdown();
}

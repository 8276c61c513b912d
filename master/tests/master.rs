//! The master in-process: a test node with fake agents and schedulers (plain processes
//! the test drives with `node.send` and watches through filters), a fake or the real
//! allocator, a paused clock where timers matter, and real HTTP for `/master/state`.

mod common;

use common::{config, FakeAgent, Mute};

use std::net::SocketAddr;
use std::time::Duration;

use libproc::filter::Observer;
use libproc::testing::{paused, within};
use libproc::{Match, MemNetwork, Node, NodeConfig, Pid};
use master::allocator::protocol::{Allocation, Offers};
use master::MasterConfig;
use proto::messages::*;
use proto::{
    AgentId, AgentInfo, CommandInfo, FrameworkCapability, FrameworkId, FrameworkInfo, OfferId,
    OfferOperation, Reason, Resources, Source, StatusUuid, TaskInfo, TaskState, TaskStatus,
};

const LIMIT: Duration = Duration::from_secs(300);

async fn mem_node() -> Node {
    Node::bind(NodeConfig::new("10.0.0.1:5050".parse().unwrap()).transport(MemNetwork::new()))
        .await
        .expect("bind")
}

async fn next_of<M: libproc::Message>(obs: &mut Observer, what: &str) -> M {
    libproc::testing::next_message(obs, LIMIT, what).await
}

fn task(id: &str, agent: &AgentId, resources: &str) -> TaskInfo {
    TaskInfo::command_task(
        id,
        id.into(),
        agent.clone(),
        resources.parse().unwrap(),
        CommandInfo::shell("sleep 1000"),
    )
}

struct Cluster {
    node: Node,
    master: Pid,
    allocator: Pid,
}

impl Cluster {
    /// Master with a fake allocator (a mute process the test speaks for).
    async fn fake_allocator(node: Node, config: MasterConfig) -> Cluster {
        let allocator = node.spawn("allocator", Mute).unwrap().pid().clone();
        let master = master::spawn_master(&node, config).unwrap().pid().clone();
        Cluster {
            node,
            master,
            allocator,
        }
    }

    async fn agent(&self, id: &str, resources: &str) -> (Pid, AgentId, Observer) {
        let pid = self.node.spawn(id, FakeAgent).unwrap().pid().clone();
        let mut mail = self.node.filters().observe(Match::any().to(&pid));
        self.node.send(
            &pid,
            &self.master,
            RegisterSlaveMessage {
                slave: AgentInfo::new("agent-host", resources.parse().unwrap()),
                checkpointed_resources: Resources::new(),
                version: "1.11.0".into(),
            },
        );
        let reg: SlaveRegisteredMessage = next_of(&mut mail, "SlaveRegistered").await;
        (pid, reg.slave_id, mail)
    }

    async fn scheduler(&self, id: &str, info: FrameworkInfo) -> (Pid, FrameworkId, Observer) {
        let pid = self.node.spawn(id, Mute).unwrap().pid().clone();
        let mut mail = self.node.filters().observe(Match::any().to(&pid));
        self.node.send(
            &pid,
            &self.master,
            RegisterFrameworkMessage { framework: info },
        );
        let reg: FrameworkRegisteredMessage = next_of(&mut mail, "FrameworkRegistered").await;
        (pid, reg.framework_id, mail)
    }

    /// The fake allocator offers `resources` of `agent` to `framework`.
    async fn offer(
        &self,
        sched: &mut Observer,
        framework: &FrameworkId,
        agent: &AgentId,
        resources: &str,
    ) -> OfferId {
        self.node.send(
            &self.allocator,
            &self.master,
            Offers {
                allocations: vec![Allocation {
                    framework_id: framework.clone(),
                    agent_id: agent.clone(),
                    role: "*".into(),
                    resources: resources.parse().unwrap(),
                }],
            },
        );
        let offers: ResourceOffersMessage = next_of(sched, "offers").await;
        offers.offers[0].id.clone()
    }

    fn accept(&self, sched: &Pid, framework: &FrameworkId, offer: OfferId, tasks: Vec<TaskInfo>) {
        self.node.send(
            sched,
            &self.master,
            AcceptOffersMessage {
                framework_id: framework.clone(),
                offer_ids: vec![offer],
                operations: vec![OfferOperation::Launch { task_infos: tasks }],
                filters: proto::Filters::default(),
            },
        );
    }

    fn status(
        &self,
        agent: &Pid,
        framework: &FrameworkId,
        agent_id: &AgentId,
        task: &str,
        state: TaskState,
        uuid: u128,
    ) {
        self.node.send(
            agent,
            &self.master,
            StatusUpdateMessage {
                update: StatusUpdate {
                    framework_id: framework.clone(),
                    executor_id: None,
                    agent_id: Some(agent_id.clone()),
                    status: TaskStatus::new(task.into(), state)
                        .with_source(Source::Executor)
                        .with_agent(agent_id.clone())
                        .with_uuid(StatusUuid::from_u128(uuid)),
                    timestamp: 1.0,
                    latest_state: None,
                },
                pid: Some(agent.to_string()),
            },
        );
    }
}

#[test]
fn launch_update_ack_and_kill_through_the_real_allocator() {
    paused(async {
        let node = mem_node().await;
        let handle = master::spawn(&node, config(), None).expect("spawn");
        let c = Cluster {
            node: node.clone(),
            master: handle.pid().clone(),
            allocator: handle.allocator.clone(),
        };
        let (agent, agent_id, mut agent_mail) = c.agent("slave(1)", "cpus:2;mem:1024").await;
        let (sched, fid, mut sched_mail) = c
            .scheduler("scheduler-1", FrameworkInfo::new("fw", "root"))
            .await;

        // The real allocator offers the whole agent.
        let offers: ResourceOffersMessage = next_of(&mut sched_mail, "offers").await;
        let offer = &offers.offers[0];
        assert_eq!(offer.agent_id, agent_id);
        assert_eq!(offer.hostname, "agent-host");
        assert_eq!(offers.pids, vec![agent.to_string()]);
        assert_eq!(offer.resources.cpus(), 2.0);

        // One valid task, one that asks for too much: the valid one launches.
        c.accept(
            &sched,
            &fid,
            offer.id.clone(),
            vec![
                task("big", &agent_id, "cpus:8;mem:64"),
                task("t1", &agent_id, "cpus:1;mem:128"),
            ],
        );
        let err: StatusUpdateMessage = next_of(&mut sched_mail, "TASK_ERROR").await;
        assert_eq!(err.update.status.task_id.as_str(), "big");
        assert_eq!(err.update.status.state, TaskState::Error);
        assert_eq!(err.update.status.reason, Some(Reason::TaskInvalid));
        let run: RunTaskMessage = next_of(&mut agent_mail, "RunTask").await;
        assert_eq!(run.task.task_id.as_str(), "t1");
        assert_eq!(run.framework_id, fid);
        assert_eq!(run.pid.as_deref(), Some(sched.as_str()));

        // Status update agent → master → scheduler; ack scheduler → master → agent.
        c.status(&agent, &fid, &agent_id, "t1", TaskState::Running, 7);
        let up: StatusUpdateMessage = next_of(&mut sched_mail, "TASK_RUNNING").await;
        assert_eq!(up.update.status.state, TaskState::Running);
        assert_eq!(up.pid.as_deref(), Some(agent.as_str()));
        let ack = StatusUpdateAcknowledgementMessage {
            agent_id: agent_id.clone(),
            framework_id: fid.clone(),
            task_id: "t1".into(),
            uuid: StatusUuid::from_u128(7),
        };
        node.send(&sched, &c.master, ack.clone());
        let got: StatusUpdateAcknowledgementMessage = next_of(&mut agent_mail, "ack").await;
        assert_eq!(got, ack);

        // Kill is forwarded to the agent.
        let kill = KillTaskMessage {
            framework_id: fid.clone(),
            task_id: "t1".into(),
            kill_policy: None,
        };
        node.send(&sched, &c.master, kill.clone());
        let got: KillTaskMessage = next_of(&mut agent_mail, "kill").await;
        assert_eq!(got, kill);

        let state = handle
            .master
            .call(|m, _| {
                let f = &m.core().frameworks().values().next().map(|f| f.tasks.len());
                *f
            })
            .await
            .unwrap();
        assert_eq!(state, Some(1));
        node.shutdown();
    });
}

/// After tasks change, the master renders their operator JSON off its thread (the
/// records cache it), so the next `/master/state` does not render them all itself.
#[test]
fn changed_tasks_have_their_json_rendered_in_the_background() {
    paused(async {
        let node = mem_node().await;
        let handle = master::spawn(&node, config(), None).expect("spawn");
        let c = Cluster {
            node: node.clone(),
            master: handle.pid().clone(),
            allocator: handle.allocator.clone(),
        };
        let (agent, agent_id, _agent_mail) = c.agent("slave(1)", "cpus:2;mem:1024").await;
        let (sched, fid, mut sched_mail) = c
            .scheduler("scheduler-1", FrameworkInfo::new("fw", "root"))
            .await;
        let offers: ResourceOffersMessage = next_of(&mut sched_mail, "offers").await;
        let offer = offers.offers[0].id.clone();
        c.accept(
            &sched,
            &fid,
            offer,
            vec![task("t1", &agent_id, "cpus:1;mem:128")],
        );
        c.status(&agent, &fid, &agent_id, "t1", TaskState::Running, 7);
        let _: StatusUpdateMessage = next_of(&mut sched_mail, "TASK_RUNNING").await;
        let rendered = || async {
            handle
                .master
                .call(|m, _| {
                    m.core()
                        .frameworks()
                        .values()
                        .flat_map(|f| f.tasks.values())
                        .map(|t| (t.state, t.is_rendered()))
                        .collect::<Vec<_>>()
                })
                .await
                .expect("master alive")
        };
        within(Duration::from_secs(10), "the task's JSON rendered", async {
            while rendered().await != vec![(TaskState::Running, true)] {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        node.shutdown();
    });
}

#[test]
fn scheduler_exit_tears_down_after_the_failover_timeout() {
    paused(async {
        let node = mem_node().await;
        let c = Cluster::fake_allocator(node.clone(), config()).await;
        let mut alloc_mail = node.filters().observe(Match::any().to(&c.allocator));
        let (agent, agent_id, mut agent_mail) = c.agent("slave(1)", "cpus:2;mem:1024").await;
        let mut info = FrameworkInfo::new("fw", "root");
        info.failover_timeout = 10.0;
        let (sched, fid, mut sched_mail) = c.scheduler("scheduler-1", info).await;
        let offer = c
            .offer(&mut sched_mail, &fid, &agent_id, "cpus:2;mem:1024")
            .await;
        c.accept(
            &sched,
            &fid,
            offer,
            vec![task("t1", &agent_id, "cpus:1;mem:128")],
        );
        let _: RunTaskMessage = next_of(&mut agent_mail, "RunTask").await;

        // The scheduler dies: the framework is deactivated at once...
        let start = tokio::time::Instant::now();
        node.terminate(&sched);
        let _: master::allocator::protocol::DeactivateFramework =
            next_of(&mut alloc_mail, "DeactivateFramework").await;
        // ...and torn down when the failover timeout passes.
        let shutdown: ShutdownFrameworkMessage =
            next_of(&mut agent_mail, "ShutdownFramework").await;
        assert_eq!(shutdown.framework_id, fid);
        assert!(
            start.elapsed() >= Duration::from_secs(10),
            "torn down after {:?}",
            start.elapsed()
        );
        let _: master::allocator::protocol::RemoveFramework =
            next_of(&mut alloc_mail, "RemoveFramework").await;
        let _ = agent;
        node.shutdown();
    });
}

#[test]
fn a_scheduler_failing_over_in_time_keeps_its_framework() {
    paused(async {
        let node = mem_node().await;
        let c = Cluster::fake_allocator(node.clone(), config()).await;
        let (_agent, _agent_id, mut agent_mail) = c.agent("slave(1)", "cpus:2;mem:1024").await;
        let mut info = FrameworkInfo::new("fw", "root");
        info.failover_timeout = 10.0;
        let (sched, fid, _sched_mail) = c.scheduler("scheduler-1", info.clone()).await;
        node.terminate(&sched);
        tokio::time::sleep(Duration::from_secs(5)).await;
        let sched2 = node.spawn("scheduler-2", Mute).unwrap().pid().clone();
        let mut mail2 = node.filters().observe(Match::any().to(&sched2));
        info.id = Some(fid.clone());
        node.send(
            &sched2,
            &c.master,
            ReregisterFrameworkMessage {
                framework: info,
                failover: true,
            },
        );
        // Mesos's failoverFramework answers a failed-over scheduler as registered.
        let re: FrameworkRegisteredMessage = next_of(&mut mail2, "FrameworkRegistered").await;
        assert_eq!(re.framework_id, fid);
        let upd: UpdateFrameworkMessage = next_of(&mut agent_mail, "UpdateFramework").await;
        assert_eq!(upd.pid.as_deref(), Some(sched2.as_str()));
        // Well past the old timeout, nothing is torn down.
        tokio::time::sleep(Duration::from_secs(30)).await;
        node.settle().await;
        assert!(agent_mail
            .drain()
            .iter()
            .all(|o| o.name != "mesos.internal.ShutdownFrameworkMessage"));
        node.shutdown();
    });
}

#[test]
fn missed_pongs_make_the_agent_unreachable() {
    paused(async {
        let node = mem_node().await;
        let c = Cluster::fake_allocator(node.clone(), config()).await;
        let (agent, agent_id, mut agent_mail) = c.agent("slave(1)", "cpus:4;mem:1024").await;
        let (s1, f1, mut m1) = c
            .scheduler("scheduler-1", FrameworkInfo::new("plain", "root"))
            .await;
        let mut pa_info = FrameworkInfo::new("aware", "root");
        pa_info
            .capabilities
            .push(FrameworkCapability::PartitionAware);
        let (s2, f2, mut m2) = c.scheduler("scheduler-2", pa_info).await;
        let o1 = c.offer(&mut m1, &f1, &agent_id, "cpus:2;mem:512").await;
        c.accept(
            &s1,
            &f1,
            o1,
            vec![task("plain-1", &agent_id, "cpus:1;mem:128")],
        );
        let o2 = c.offer(&mut m2, &f2, &agent_id, "cpus:2;mem:512").await;
        c.accept(
            &s2,
            &f2,
            o2,
            vec![task("aware-1", &agent_id, "cpus:1;mem:128")],
        );
        let _: RunTaskMessage = next_of(&mut agent_mail, "RunTask").await;
        let _: RunTaskMessage = next_of(&mut agent_mail, "RunTask").await;

        // The agent stops answering (its pongs are dropped).
        let start = tokio::time::Instant::now();
        let pongs = node
            .filters()
            .drop_all(Match::message::<PongSlaveMessage>());
        let lost: StatusUpdateMessage = next_of(&mut m1, "TASK_LOST").await;
        assert_eq!(lost.update.status.state, TaskState::Lost);
        assert_eq!(lost.update.status.reason, Some(Reason::AgentRemoved));
        assert_eq!(lost.update.status.source, Some(Source::Master));
        assert!(
            start.elapsed() >= Duration::from_secs(75),
            "after {:?}",
            start.elapsed()
        );
        let _: LostSlaveMessage = next_of(&mut m1, "LostSlave").await;
        let unreachable: StatusUpdateMessage = next_of(&mut m2, "TASK_UNREACHABLE").await;
        assert_eq!(unreachable.update.status.state, TaskState::Unreachable);
        assert_eq!(unreachable.update.status.task_id.as_str(), "aware-1");

        // The master no longer pings it; a message from it (a retried status update)
        // gets "you are not connected", and it re-registers with its tasks.
        pongs.remove();
        c.status(&agent, &f2, &agent_id, "aware-1", TaskState::Running, 9);
        // (Skip the pings it got while still registered.)
        while next_of::<PingSlaveMessage>(&mut agent_mail, "Ping{connected:false}")
            .await
            .connected
        {}
        let mut slave = AgentInfo::new("agent-host", "cpus:4;mem:1024".parse().unwrap());
        slave.id = Some(agent_id.clone());
        let mut t = Task::from_info(
            &task("aware-1", &agent_id, "cpus:1;mem:128"),
            f2.clone(),
            None,
        );
        t.state = TaskState::Running;
        node.send(
            &agent,
            &c.master,
            ReregisterSlaveMessage {
                slave,
                checkpointed_resources: Resources::new(),
                executor_infos: vec![],
                tasks: vec![t],
                frameworks: vec![],
                version: String::new(),
            },
        );
        let _: SlaveReregisteredMessage = next_of(&mut agent_mail, "SlaveReregistered").await;
        node.send(
            &s2,
            &c.master,
            ReconcileTasksMessage {
                framework_id: f2.clone(),
                statuses: vec![],
            },
        );
        let r: StatusUpdateMessage = next_of(&mut m2, "reconciliation").await;
        assert_eq!(
            (r.update.status.task_id.as_str(), r.update.status.state),
            ("aware-1", TaskState::Running)
        );
        node.shutdown();
    });
}

async fn http_get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    within(
        Duration::from_secs(10),
        "HTTP response",
        libproc::testing::http_get_full(addr, path),
    )
    .await
    .expect("HTTP exchange")
}

#[actix_rt::test]
async fn state_over_http_shows_agents_frameworks_and_tasks() {
    let node = Node::bind(NodeConfig::local()).await.unwrap();
    let c = Cluster::fake_allocator(node.clone(), config()).await;
    let (_agent, agent_id, mut agent_mail) = c
        .agent("slave(1)", "cpus:2;mem:1024;ports:[31000-32000]")
        .await;
    let (sched, fid, mut sched_mail) = c
        .scheduler("scheduler-1", FrameworkInfo::new("web", "root"))
        .await;
    let offer = c
        .offer(&mut sched_mail, &fid, &agent_id, "cpus:2;mem:1024")
        .await;
    c.accept(
        &sched,
        &fid,
        offer,
        vec![task("t1", &agent_id, "cpus:1;mem:128")],
    );
    let _: RunTaskMessage = next_of(&mut agent_mail, "RunTask").await;

    for path in ["/master/state", "/state"] {
        let (status, _, body) = http_get(node.addr(), path).await;
        assert_eq!(status, 200, "{path}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(v["leader"], c.master.to_string());
        assert_eq!(v["pid"], c.master.to_string());
        assert_eq!(v["activated_slaves"], 1);
        assert_eq!(v["slaves"][0]["id"], agent_id.as_str());
        assert_eq!(v["slaves"][0]["resources"]["cpus"], 2.0);
        assert_eq!(v["slaves"][0]["resources"]["ports"], "[31000-32000]");
        assert_eq!(v["slaves"][0]["used_resources"]["mem"], 128.0);
        assert_eq!(v["frameworks"][0]["id"], fid.as_str());
        assert_eq!(v["frameworks"][0]["name"], "web");
        assert_eq!(v["frameworks"][0]["active"], true);
        let t = &v["frameworks"][0]["tasks"][0];
        assert_eq!(t["id"], "t1");
        assert_eq!(t["state"], "TASK_STAGING");
        assert_eq!(t["slave_id"], agent_id.as_str());
        assert_eq!(t["framework_id"], fid.as_str());
        assert_eq!(t["resources"]["cpus"], 1.0);
    }
    let (status, _, body) = http_get(node.addr(), "/master/health").await;
    assert_eq!((status, body.as_str()), (200, ""));
    let (status, head, _) = http_get(node.addr(), "/master/redirect").await;
    assert_eq!(status, 307);
    let location = format!("location: //{}:{}", node.addr().ip(), node.addr().port());
    assert!(head.to_ascii_lowercase().contains(&location), "{head}");
    let (_, _, body) = http_get(node.addr(), "/master/tasks").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["tasks"][0]["id"], "t1");
    let (_, _, body) = http_get(node.addr(), "/master/slaves").await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["slaves"][0]["id"],
        agent_id.as_str()
    );
    let (_, _, body) = http_get(node.addr(), "/master/frameworks").await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["frameworks"][0]["id"],
        fid.as_str()
    );
    let (_, _, body) = http_get(node.addr(), "/master/flags").await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["flags"]["agent_ping_timeout"],
        "15secs"
    );
    let (_, _, body) = http_get(node.addr(), "/metrics/snapshot").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["master/elected"], 1.0, "{body}");
    assert_eq!(v["master/messages_register_slave"], 1, "{body}");
    node.shutdown();
}

/// Any MessagePack-able value: lets a test forge an ACCEPT the strict types cannot hold
/// (a NaN or negative resource) by patching the tree of a real one.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum Forged {
    Null,
    Bool(bool),
    U(u64),
    I(i64),
    F(f64),
    S(String),
    A(Vec<Forged>),
    M(std::collections::BTreeMap<String, Forged>),
}

impl Forged {
    fn from_json(v: serde_json::Value, patch: f64) -> Forged {
        use serde_json::Value as J;
        match v {
            J::Null => Forged::Null,
            J::Bool(b) => Forged::Bool(b),
            // The marker value in the real message becomes the forged one.
            J::Number(n) if n.as_f64() == Some(0.125) => Forged::F(patch),
            J::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => Forged::U(u),
                (_, Some(i)) => Forged::I(i),
                _ => Forged::F(n.as_f64().unwrap_or_default()),
            },
            J::String(s) => Forged::S(s),
            J::Array(a) => Forged::A(a.into_iter().map(|x| Forged::from_json(x, patch)).collect()),
            J::Object(m) => Forged::M(
                m.into_iter()
                    .map(|(k, x)| (k, Forged::from_json(x, patch)))
                    .collect(),
            ),
        }
    }
}

/// An `AcceptOffersMessage` on the wire with a forged body.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
struct ForgedAccept(Forged);
libproc::message!(ForgedAccept, "mesos.scheduler.Call.Accept");

/// An ACCEPT whose task has a negative, NaN or infinite resource does not decode; the
/// master used to drop it silently (no TASK_ERROR, the offer held). Now the scheduler gets
/// TASK_ERROR with the reason and the offered resources are offered again.
#[test]
fn an_accept_with_a_negative_or_nan_resource_is_a_task_error_and_frees_the_offer() {
    paused(async {
        let net = MemNetwork::new();
        let node =
            Node::bind(NodeConfig::new("10.0.0.1:5050".parse().unwrap()).transport(net.clone()))
                .await
                .unwrap();
        // The scheduler lives on its own node so its ACCEPT crosses the wire as bytes.
        let sched_node =
            Node::bind(NodeConfig::new("10.0.0.2:4000".parse().unwrap()).transport(net))
                .await
                .unwrap();
        let c = Cluster::fake_allocator(node.clone(), config()).await;
        let (_agent, agent_id, _agent_mail) = c.agent("slave(1)", "cpus:2;mem:1024").await;
        let sched = sched_node.spawn("scheduler-1", Mute).unwrap().pid().clone();
        let mut mail = sched_node.filters().observe(Match::any().to(&sched));
        let mut allocator_mail = node.filters().observe(Match::any().to(&c.allocator));
        sched_node.send(
            &sched,
            &c.master,
            RegisterFrameworkMessage {
                framework: FrameworkInfo::new("fw", "root"),
            },
        );
        let reg: FrameworkRegisteredMessage = next_of(&mut mail, "registered").await;
        let fid = reg.framework_id;
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            let offer = c.offer(&mut mail, &fid, &agent_id, "cpus:2;mem:1024").await;
            let real = AcceptOffersMessage {
                framework_id: fid.clone(),
                offer_ids: vec![offer.clone()],
                operations: vec![OfferOperation::Launch {
                    task_infos: vec![task("t", &agent_id, "cpus:0.125;mem:64")],
                }],
                filters: proto::Filters::default(),
            };
            let forged = ForgedAccept(Forged::from_json(serde_json::to_value(&real).unwrap(), bad));
            sched_node.send(&sched, &c.master, forged);
            let err: StatusUpdateMessage = next_of(&mut mail, "TASK_ERROR").await;
            let s = &err.update.status;
            assert_eq!(s.task_id.as_str(), "t");
            assert_eq!(s.state, TaskState::Error, "{bad}");
            assert_eq!(s.reason, Some(Reason::TaskInvalid));
            let msg = s.message.clone().unwrap_or_default();
            assert!(msg.contains("Invalid ACCEPT"), "{msg}");
            // The offer is released: its resources go back to the allocator.
            let back: master::allocator::protocol::RecoverResources =
                next_of(&mut allocator_mail, "recovered resources").await;
            assert_eq!(back.framework_id, fid);
            assert_eq!(back.resources.cpus(), 2.0, "{bad}");
        }
        node.shutdown();
        sched_node.shutdown();
    });
}

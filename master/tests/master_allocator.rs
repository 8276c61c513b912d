//! Ports of Mesos's `MasterAllocatorTest` (and `RoleTest`) scenarios: the master with the
//! real DRF allocator process on one in-memory node, fake agents and schedulers the test
//! drives, libproc filters to watch the mail, and a paused clock for filters and timeouts.

mod common;

use common::{config, FakeAgent, Mute};

use std::time::Duration;

use libproc::filter::Observer;
use libproc::testing::{paused, within};
use libproc::{Match, MemNetwork, Node, NodeConfig, Pid};
use master::MasterConfig;
use proto::messages::*;
use proto::{
    AgentId, AgentInfo, CommandInfo, Filters, FrameworkId, FrameworkInfo, Offer, OfferOperation,
    Resources, Source, StatusUuid, TaskInfo, TaskState, TaskStatus,
};

const LIMIT: Duration = Duration::from_secs(300);

fn res(s: &str) -> Resources {
    s.parse().expect("resources")
}

async fn next_of<M: libproc::Message>(obs: &mut Observer, what: &str) -> M {
    libproc::testing::next_message(obs, LIMIT, what).await
}

async fn offers(obs: &mut Observer) -> Vec<Offer> {
    next_of::<ResourceOffersMessage>(obs, "offers").await.offers
}

fn task(id: &str, agent: &AgentId, resources: &str) -> TaskInfo {
    TaskInfo::command_task(
        id,
        id.into(),
        agent.clone(),
        res(resources),
        CommandInfo::shell("sleep 1000"),
    )
}

fn with_role(role: &str) -> FrameworkInfo {
    let mut info = FrameworkInfo::new(format!("fw-{role}"), "root");
    info.role = Some(role.into());
    info
}

struct Cluster {
    node: Node,
    master: Pid,
}

impl Cluster {
    async fn start(config: MasterConfig) -> Cluster {
        let node = Node::bind(
            NodeConfig::new("10.0.0.1:5050".parse().unwrap()).transport(MemNetwork::new()),
        )
        .await
        .expect("bind");
        let handle = master::spawn(&node, config, None).expect("spawn");
        Cluster {
            master: handle.pid().clone(),
            node,
        }
    }

    async fn agent(&self, id: &str, resources: &str) -> (Pid, AgentId, Observer) {
        let pid = self.node.spawn(id, FakeAgent).unwrap().pid().clone();
        let mut mail = self.node.filters().observe(Match::any().to(&pid));
        self.node.send(
            &pid,
            &self.master,
            RegisterSlaveMessage {
                slave: AgentInfo::new(format!("{id}-host"), res(resources)),
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

    fn accept(&self, sched: &Pid, fid: &FrameworkId, offer: &Offer, ops: Vec<OfferOperation>) {
        self.node.send(
            sched,
            &self.master,
            AcceptOffersMessage {
                framework_id: fid.clone(),
                offer_ids: vec![offer.id.clone()],
                operations: ops,
                filters: Filters::default(),
            },
        );
    }

    fn launch(&self, sched: &Pid, fid: &FrameworkId, offer: &Offer, tasks: Vec<TaskInfo>) {
        self.accept(
            sched,
            fid,
            offer,
            vec![OfferOperation::Launch { task_infos: tasks }],
        );
    }

    fn decline(&self, sched: &Pid, fid: &FrameworkId, offer: &Offer, refuse_seconds: f64) {
        self.node.send(
            sched,
            &self.master,
            DeclineOffersMessage {
                framework_id: fid.clone(),
                offer_ids: vec![offer.id.clone()],
                filters: Filters::refuse(refuse_seconds),
            },
        );
    }

    fn status(&self, agent: &Pid, fid: &FrameworkId, agent_id: &AgentId, t: &str, s: TaskState) {
        self.node.send(
            agent,
            &self.master,
            StatusUpdateMessage {
                update: StatusUpdate {
                    framework_id: fid.clone(),
                    executor_id: None,
                    agent_id: Some(agent_id.clone()),
                    status: TaskStatus::new(t.into(), s)
                        .with_source(Source::Executor)
                        .with_agent(agent_id.clone())
                        .with_uuid(StatusUuid::from_u128(1)),
                    timestamp: 1.0,
                    latest_state: None,
                },
                pid: Some(agent.to_string()),
            },
        );
    }
}

#[test]
fn resources_reoffered_after_the_decline_filter_expires() {
    paused(async {
        let c = Cluster::start(config()).await;
        let (_a, agent_id, _am) = c.agent("slave(1)", "cpus:2;mem:1024").await;
        let (s, f, mut m) = c
            .scheduler("scheduler-1", FrameworkInfo::new("fw", "root"))
            .await;
        let o = offers(&mut m).await;
        assert_eq!(o[0].agent_id, agent_id);
        let declined = tokio::time::Instant::now();
        c.decline(&s, &f, &o[0], 5.0);
        let again = offers(&mut m).await;
        assert_eq!(again[0].resources, res("cpus:2;mem:1024"));
        assert!(
            declined.elapsed() >= Duration::from_secs(5),
            "re-offered after {:?}, before the 5s filter expired",
            declined.elapsed()
        );
        c.node.shutdown();
    });
}

#[test]
fn revive_clears_the_filter_and_suppress_stops_offers() {
    paused(async {
        let c = Cluster::start(config()).await;
        let _agent = c.agent("slave(1)", "cpus:2;mem:1024").await;
        let (s, f, mut m) = c
            .scheduler("scheduler-1", FrameworkInfo::new("fw", "root"))
            .await;
        let o = offers(&mut m).await;
        let declined = tokio::time::Instant::now();
        c.decline(&s, &f, &o[0], 3600.0);
        c.node.send(
            &s,
            &c.master,
            ReviveOffersMessage {
                framework_id: f.clone(),
                roles: vec![],
            },
        );
        let o = offers(&mut m).await;
        assert!(declined.elapsed() < Duration::from_secs(3600));
        // Suppressed: a decline with no filter brings nothing back for a long while.
        c.node.send(
            &s,
            &c.master,
            SuppressOffersMessage {
                framework_id: f.clone(),
                roles: vec![],
            },
        );
        c.decline(&s, &f, &o[0], 0.0);
        tokio::time::sleep(Duration::from_secs(30)).await;
        c.node.settle().await;
        assert!(m
            .drain()
            .iter()
            .all(|x| x.name != <ResourceOffersMessage as libproc::Message>::NAME));
        c.node.shutdown();
    });
}

#[test]
fn framework_exited_its_resources_go_to_the_other_framework() {
    paused(async {
        let c = Cluster::start(config()).await;
        let (_a, agent_id, mut am) = c.agent("slave(1)", "cpus:2;mem:1024").await;
        let (s1, f1, mut m1) = c
            .scheduler("scheduler-1", FrameworkInfo::new("one", "root"))
            .await;
        let o = offers(&mut m1).await;
        c.launch(
            &s1,
            &f1,
            &o[0],
            vec![task("t1", &agent_id, "cpus:2;mem:1024")],
        );
        let _: RunTaskMessage = next_of(&mut am, "RunTask").await;
        let (_s2, _f2, mut m2) = c
            .scheduler("scheduler-2", FrameworkInfo::new("two", "root"))
            .await;
        // The first framework leaves: its task is shut down and its resources recovered.
        c.node.send(
            &s1,
            &c.master,
            UnregisterFrameworkMessage {
                framework_id: f1.clone(),
            },
        );
        let sd: ShutdownFrameworkMessage = next_of(&mut am, "ShutdownFramework").await;
        assert_eq!(sd.framework_id, f1);
        let o2 = offers(&mut m2).await;
        assert_eq!(o2[0].resources, res("cpus:2;mem:1024"));
        c.node.shutdown();
    });
}

#[test]
fn scheduler_failover_rescinds_and_reoffers_to_the_new_scheduler() {
    paused(async {
        let c = Cluster::start(config()).await;
        let _agent = c.agent("slave(1)", "cpus:2;mem:1024").await;
        let mut info = FrameworkInfo::new("fw", "root");
        info.failover_timeout = 60.0;
        let (s1, f, mut m1) = c.scheduler("scheduler-1", info.clone()).await;
        let o = offers(&mut m1).await;
        c.node.terminate(&s1);
        let s2 = c.node.spawn("scheduler-2", Mute).unwrap().pid().clone();
        let mut m2 = c.node.filters().observe(Match::any().to(&s2));
        info.id = Some(f.clone());
        c.node.send(
            &s2,
            &c.master,
            ReregisterFrameworkMessage {
                framework: info,
                failover: true,
            },
        );
        let _: FrameworkRegisteredMessage = next_of(&mut m2, "FrameworkRegistered").await;
        let o2 = offers(&mut m2).await;
        assert_ne!(o2[0].id, o[0].id, "a new offer of the recovered resources");
        assert_eq!(o2[0].resources, res("cpus:2;mem:1024"));
        c.node.shutdown();
    });
}

/// Found by the simulation (3 masters, seed 207): the leader, its ZooKeeper lease lapsed
/// for a moment, dropped a scheduler's re-registration but kept offering to its (same)
/// PID; the driver, not connected, dropped those offers; the retry was answered as "the
/// connected scheduler again" and the offers stayed outstanding for good. A re-registration
/// from the connected PID rescinds what is outstanding, and the resources are offered again.
#[test]
fn reregistration_from_the_same_pid_rescinds_outstanding_offers_and_reoffers() {
    paused(async {
        let c = Cluster::start(config()).await;
        let _agent = c.agent("slave(1)", "cpus:2;mem:1024").await;
        let mut info = FrameworkInfo::new("fw", "root");
        info.failover_timeout = 60.0;
        let (s, f, mut m) = c.scheduler("scheduler-1", info.clone()).await;
        let o = offers(&mut m).await;
        info.id = Some(f.clone());
        c.node.send(
            &s,
            &c.master,
            ReregisterFrameworkMessage {
                framework: info,
                failover: false,
            },
        );
        let rescinded: RescindResourceOfferMessage = next_of(&mut m, "RescindResourceOffer").await;
        assert_eq!(rescinded.offer_id, o[0].id);
        let o2 = offers(&mut m).await;
        assert_ne!(o2[0].id, o[0].id, "a new offer of the recovered resources");
        assert_eq!(o2[0].resources, res("cpus:2;mem:1024"));
        c.node.shutdown();
    });
}

#[test]
fn slave_added_is_offered_and_slave_lost_is_recovered() {
    paused(async {
        let c = Cluster::start(config()).await;
        let (a1, id1, mut am1) = c.agent("slave(1)", "cpus:2;mem:1024").await;
        let (s, f, mut m) = c
            .scheduler("scheduler-1", FrameworkInfo::new("fw", "root"))
            .await;
        let o = offers(&mut m).await;
        c.launch(&s, &f, &o[0], vec![task("t1", &id1, "cpus:2;mem:1024")]);
        let _: RunTaskMessage = next_of(&mut am1, "RunTask").await;
        // SlaveAdded: the new agent's resources are offered.
        let (_a2, id2, _am2) = c.agent("slave(2)", "cpus:3;mem:512").await;
        let o2 = offers(&mut m).await;
        assert_eq!(o2[0].agent_id, id2);
        assert_eq!(o2[0].resources, res("cpus:3;mem:512"));
        // SlaveLost: the first agent leaves; its task is lost and nothing of it is offered.
        c.node.send(
            &a1,
            &c.master,
            UnregisterSlaveMessage {
                slave_id: id1.clone(),
            },
        );
        let lost: StatusUpdateMessage = next_of(&mut m, "TASK_LOST").await;
        assert_eq!(lost.update.status.task_id.as_str(), "t1");
        let _: LostSlaveMessage = next_of(&mut m, "LostSlave").await;
        // The declined second agent comes back; the lost one never does.
        c.decline(&s, &f, &o2[0], 1.0);
        let o3 = offers(&mut m).await;
        assert!(o3.iter().all(|x| x.agent_id == id2), "{o3:?}");
        c.node.shutdown();
    });
}

#[test]
fn task_finished_its_resources_are_reoffered() {
    paused(async {
        let c = Cluster::start(config()).await;
        let (a, id, mut am) = c.agent("slave(1)", "cpus:3;mem:1024").await;
        let (s, f, mut m) = c
            .scheduler("scheduler-1", FrameworkInfo::new("fw", "root"))
            .await;
        let o = offers(&mut m).await;
        c.launch(&s, &f, &o[0], vec![task("t1", &id, "cpus:1;mem:256")]);
        let _: RunTaskMessage = next_of(&mut am, "RunTask").await;
        // What the task did not use is offered again (after the default 5s filter).
        let rest = offers(&mut m).await;
        assert_eq!(rest[0].resources, res("cpus:2;mem:768"));
        c.decline(&s, &f, &rest[0], 3600.0);
        c.status(&a, &f, &id, "t1", TaskState::Finished);
        // The freed resources come back; together with the refused rest they are more
        // than the filter covers (a filter holds only for subsets of what was refused).
        let back = offers(&mut m).await;
        assert_eq!(back[0].resources, res("cpus:3;mem:1024"));
        c.node.shutdown();
    });
}

#[test]
fn cpus_only_offered_and_task_launched() {
    paused(async {
        let c = Cluster::start(config()).await;
        // Memory below the 32 MB minimum: offered for its CPUs.
        let (_a, id, mut am) = c.agent("slave(1)", "cpus:2;mem:30").await;
        let (s, f, mut m) = c
            .scheduler("scheduler-1", FrameworkInfo::new("fw", "root"))
            .await;
        let o = offers(&mut m).await;
        assert_eq!(o[0].resources, res("cpus:2;mem:30"));
        c.launch(&s, &f, &o[0], vec![task("t1", &id, "cpus:2;mem:30")]);
        let run: RunTaskMessage = next_of(&mut am, "RunTask").await;
        assert_eq!(run.task.task_id.as_str(), "t1");
        c.node.shutdown();
    });
}

#[test]
fn memory_only_offered_and_task_launched() {
    paused(async {
        let c = Cluster::start(config()).await;
        // CPUs below the 0.01 minimum: offered for its memory.
        let (_a, id, mut am) = c.agent("slave(1)", "cpus:0.001;mem:200").await;
        let (s, f, mut m) = c
            .scheduler("scheduler-1", FrameworkInfo::new("fw", "root"))
            .await;
        let o = offers(&mut m).await;
        assert_eq!(o[0].resources.mem(), 200.0);
        c.launch(&s, &f, &o[0], vec![task("t1", &id, "cpus:0.001;mem:200")]);
        let run: RunTaskMessage = next_of(&mut am, "RunTask").await;
        assert_eq!(run.task.task_id.as_str(), "t1");
        c.node.shutdown();
    });
}

#[test]
fn min_allocatable_resources_flag_keeps_small_agents_unoffered() {
    paused(async {
        let c = Cluster::start(MasterConfig {
            min_allocatable_resources: vec![vec![("cpus".into(), 1.0), ("mem".into(), 64.0)]],
            ..config()
        })
        .await;
        let (_a, _small, _m1) = c.agent("slave(1)", "cpus:0.5;mem:4096").await;
        let (_b, big, _m2) = c.agent("slave(2)", "cpus:2;mem:128").await;
        let (_s, _f, mut m) = c
            .scheduler("scheduler-1", FrameworkInfo::new("fw", "root"))
            .await;
        let o = offers(&mut m).await;
        assert_eq!(o.len(), 1);
        assert_eq!(o[0].agent_id, big);
        tokio::time::sleep(Duration::from_secs(10)).await;
        c.node.settle().await;
        assert!(m
            .drain()
            .iter()
            .all(|x| x.name != <ResourceOffersMessage as libproc::Message>::NAME));
        c.node.shutdown();
    });
}

#[test]
fn statically_reserved_resources_are_offered_only_to_their_role() {
    paused(async {
        let c = Cluster::start(config()).await;
        let (_a, _id, _am) = c
            .agent("slave(1)", "cpus(ads):2;mem(ads):512;cpus:1;mem:256")
            .await;
        let (_w, _fw, mut web) = c.scheduler("scheduler-web", with_role("web")).await;
        let o = offers(&mut web).await;
        assert_eq!(
            o[0].resources,
            res("cpus:1;mem:256"),
            "web sees only unreserved"
        );
        let (_x, _fa, mut ads) = c.scheduler("scheduler-ads", with_role("ads")).await;
        let o = offers(&mut ads).await;
        assert_eq!(o[0].resources, res("cpus(ads):2;mem(ads):512"));
        c.node.shutdown();
    });
}

#[test]
fn reserve_in_accept_checkpoints_and_reoffers_reserved_to_the_role() {
    paused(async {
        let c = Cluster::start(config()).await;
        let (_a, _id, mut am) = c.agent("slave(1)", "cpus:4;mem:1024").await;
        let (s, f, mut m) = c.scheduler("scheduler-ads", with_role("ads")).await;
        let o = offers(&mut m).await;
        c.accept(
            &s,
            &f,
            &o[0],
            vec![OfferOperation::Reserve {
                resources: res("cpus(ads):2;mem(ads):512"),
            }],
        );
        let ck: CheckpointResourcesMessage = next_of(&mut am, "CheckpointResources").await;
        assert_eq!(ck.resources, res("cpus(ads):2;mem(ads):512"));
        let again = offers(&mut m).await;
        assert_eq!(
            again[0].resources,
            res("cpus:2;mem:512;cpus(ads):2;mem(ads):512")
        );
        // An invalid UNRESERVE gets an operation error and changes nothing.
        c.accept(
            &s,
            &f,
            &again[0],
            vec![OfferOperation::Unreserve {
                resources: res("cpus(ads):8"),
            }],
        );
        let err: UpdateOperationStatusMessage = next_of(&mut m, "OPERATION_ERROR").await;
        assert_eq!(err.state, "OPERATION_ERROR");
        assert_eq!(err.operation, "UNRESERVE");
        // Another role sees only the unreserved rest.
        let (_w, _fw, mut web) = c.scheduler("scheduler-web", with_role("web")).await;
        let o = offers(&mut web).await;
        assert!(o[0].resources.roles().is_empty(), "{}", o[0].resources);
        c.node.shutdown();
    });
}

#[test]
fn offer_timeout_rescinds_unanswered_offers() {
    paused(async {
        let c = Cluster::start(MasterConfig {
            offer_timeout: Some(Duration::from_secs(30)),
            ..config()
        })
        .await;
        let _agent = c.agent("slave(1)", "cpus:2;mem:1024").await;
        let (_s, _f, mut m) = c
            .scheduler("scheduler-1", FrameworkInfo::new("fw", "root"))
            .await;
        let o = offers(&mut m).await;
        let start = tokio::time::Instant::now();
        let r: RescindResourceOfferMessage = next_of(&mut m, "Rescind").await;
        assert_eq!(r.offer_id, o[0].id);
        assert!(
            start.elapsed() >= Duration::from_secs(30),
            "{:?}",
            start.elapsed()
        );
        let again = offers(&mut m).await;
        assert_eq!(again[0].resources, res("cpus:2;mem:1024"));
        c.node.shutdown();
    });
}

#[test]
fn out_of_order_dispatch_offers_for_a_removed_framework_go_back() {
    paused(async {
        let c = Cluster::start(config()).await;
        // Hold the allocator's first offers while the framework leaves.
        let mut held = c
            .node
            .filters()
            .hold(Match::message::<master::allocator::protocol::Offers>());
        let _agent = c.agent("slave(1)", "cpus:2;mem:1024").await;
        let (s1, f1, _m1) = c
            .scheduler("scheduler-1", FrameworkInfo::new("one", "root"))
            .await;
        let first = within(LIMIT, "held offers", held.next())
            .await
            .expect("held");
        c.node.send(
            &s1,
            &c.master,
            UnregisterFrameworkMessage {
                framework_id: f1.clone(),
            },
        );
        c.node.settle().await;
        first.release();
        held.release_all();
        // The stale allocation came back to the allocator and goes to the next framework.
        let (_s2, _f2, mut m2) = c
            .scheduler("scheduler-2", FrameworkInfo::new("two", "root"))
            .await;
        let o = offers(&mut m2).await;
        assert_eq!(o[0].resources, res("cpus:2;mem:1024"));
        c.node.shutdown();
    });
}

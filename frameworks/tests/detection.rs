//! The scheduler driver's leader detection, scheduler failover and reconciliation, against
//! fake masters on test nodes (in-memory network, paused clock):
//!
//! * a detector the test plays moves the driver between masters A and B (disconnected,
//!   re-registration with the framework id), to no master at all (no attempts), and the
//!   old leader's messages are ignored;
//! * a new driver with the framework id of a killed one fails over and receives (and
//!   acknowledges) the update its predecessor never acknowledged;
//! * implicit reconciliation after registration ends with `reconciled`.

use std::cell::RefCell;
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::time::Duration;

use frameworks::scheduler::recorder::{Recorder, SchedulerEvent};
use frameworks::scheduler::{
    self, MasterAddress, NewMasterDetected, SchedulerConfig, SchedulerHandle, StopReason,
};
use libproc::testing::{paused, within};
use libproc::{
    Ctx, Filters, Handlers, Match, MemNetwork, Node, NodeConfig, Pid, Process, ProcessRef,
};
use proto::messages::*;
use proto::{
    FrameworkId, FrameworkInfo, MasterInfo, Reason, Source, StatusUuid, TaskState, TaskStatus,
};
use tokio::sync::mpsc;

/// What a fake master received (tagged with the master's name).
#[derive(Debug)]
enum M {
    Register(RegisterFrameworkMessage),
    Reregister(Pid, ReregisterFrameworkMessage),
    Ack(Pid, StatusUpdateAcknowledgementMessage),
    Reconcile(ReconcileTasksMessage),
}

/// A master that accepts every (re-)registration and answers reconciliation: the implicit
/// kind with RUNNING for each of `tasks`, the explicit kind with LOST for unknown tasks.
struct FakeMaster {
    info: MasterInfo,
    out: mpsc::UnboundedSender<M>,
    tasks: Vec<&'static str>,
}

impl Process for FakeMaster {
    fn install(h: &mut Handlers<Self>) {
        h.on(
            |me: &mut FakeMaster, ctx: &mut Ctx<Self>, from: Pid, m: RegisterFrameworkMessage| {
                let _ = me.out.send(M::Register(m));
                ctx.send(
                    &from,
                    FrameworkRegisteredMessage {
                        framework_id: "F1".into(),
                        master_info: me.info.clone(),
                    },
                );
            },
        );
        h.on(
            |me: &mut FakeMaster, ctx: &mut Ctx<Self>, from: Pid, m: ReregisterFrameworkMessage| {
                let id = m.framework.id.clone().unwrap_or_default();
                let _ = me.out.send(M::Reregister(from.clone(), m));
                ctx.send(
                    &from,
                    FrameworkReregisteredMessage {
                        framework_id: id,
                        master_info: me.info.clone(),
                    },
                );
            },
        );
        h.on(
            |me: &mut FakeMaster, _ctx, from: Pid, m: StatusUpdateAcknowledgementMessage| {
                let _ = me.out.send(M::Ack(from, m));
            },
        );
        h.on(
            |me: &mut FakeMaster, ctx: &mut Ctx<Self>, from: Pid, m: ReconcileTasksMessage| {
                let answers: Vec<TaskStatus> = if m.statuses.is_empty() {
                    me.tasks
                        .iter()
                        .map(|t| TaskStatus::new((*t).into(), TaskState::Running))
                        .collect()
                } else {
                    m.statuses
                        .iter()
                        .map(|s| TaskStatus::new(s.task_id.clone(), TaskState::Lost))
                        .collect()
                };
                for status in answers {
                    let status = status
                        .with_reason(Reason::Reconciliation)
                        .with_source(Source::Master);
                    ctx.send(&from, update_of(status, &m.framework_id));
                }
                let _ = me.out.send(M::Reconcile(m));
            },
        );
    }
}

fn update_of(status: TaskStatus, framework_id: &FrameworkId) -> StatusUpdateMessage {
    StatusUpdateMessage {
        update: StatusUpdate {
            framework_id: framework_id.clone(),
            executor_id: None,
            agent_id: Some("S1".into()),
            status,
            timestamp: 0.0,
            latest_state: None,
        },
        pid: None,
    }
}

/// What the test scheduler saw.
#[derive(Debug, PartialEq)]
enum S {
    Registered(FrameworkId, String),
    Reregistered(String),
    Disconnected,
    Offers(usize),
    Status(String, TaskState, Option<StatusUuid>),
    Reconciled,
    Error(String),
    Stopped(StopReason),
}

impl S {
    /// The part of a recorded callback these tests check (`None`: not checked).
    fn of(event: SchedulerEvent) -> Option<S> {
        Some(match event {
            SchedulerEvent::Registered(id, m) => S::Registered(id, m.id),
            SchedulerEvent::Reregistered(m) => S::Reregistered(m.id),
            SchedulerEvent::Disconnected => S::Disconnected,
            SchedulerEvent::Offers(o) => S::Offers(o.len()),
            SchedulerEvent::Status(s) => S::Status(s.task_id.to_string(), s.state, s.uuid),
            SchedulerEvent::Reconciled => S::Reconciled,
            SchedulerEvent::Error(m) => S::Error(m),
            SchedulerEvent::Stopped(r) => S::Stopped(r),
            _ => return None,
        })
    }
}

/// A recording scheduler (offers stay outstanding) and what it saw, as [`S`].
fn recorder() -> (Recorder, mpsc::UnboundedReceiver<S>) {
    Recorder::mapped(S::of)
}

/// The detector the test plays: it sends whatever the test tells it to.
struct FakeDetector;

impl Process for FakeDetector {
    fn install(_h: &mut Handlers<Self>) {}
}

async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>, what: &str) -> T {
    within(Duration::from_secs(30), what, rx.recv())
        .await
        .expect("channel closed")
}

async fn node_on(net: &MemNetwork, filters: &Filters) -> Node {
    Node::bind(
        NodeConfig::local()
            .transport(net.clone())
            .filters(filters.clone()),
    )
    .await
    .unwrap()
}

fn master_info(id: &str, pid: &Pid) -> MasterInfo {
    MasterInfo::new(
        id,
        Ipv4Addr::LOCALHOST,
        pid.addr().port(),
        "localhost",
        "test",
    )
}

fn spawn_master(
    node: &Node,
    id: &str,
    tasks: Vec<&'static str>,
) -> (
    ProcessRef<FakeMaster>,
    mpsc::UnboundedReceiver<M>,
    MasterInfo,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let info = master_info(id, &node.pid("master"));
    let p = node
        .spawn(
            "master",
            FakeMaster {
                info: info.clone(),
                out: tx,
                tasks,
            },
        )
        .unwrap();
    (p, rx, info)
}

/// Starts a driver whose detector is a [`FakeDetector`], and returns the detector too.
async fn driver_with_fake_detector(
    node: &Node,
    framework: FrameworkInfo,
    config: SchedulerConfig,
) -> (
    SchedulerHandle<Recorder>,
    mpsc::UnboundedReceiver<S>,
    ProcessRef<FakeDetector>,
) {
    let (recorder, rx) = recorder();
    let slot: Rc<RefCell<Option<ProcessRef<FakeDetector>>>> = Rc::default();
    let slot2 = slot.clone();
    let h =
        scheduler::run_with_detector(node, framework, recorder, config, move |node, _driver| {
            let d = node.spawn(&node.generate_id("fake-detector"), FakeDetector)?;
            let pid = d.pid().clone();
            *slot2.borrow_mut() = Some(d);
            Ok(pid)
        })
        .unwrap();
    node.settle().await;
    let detector = slot
        .borrow_mut()
        .take()
        .expect("the driver started its detector");
    (h, rx, detector)
}

/// Has `detector` tell the driver at `driver` that `master` leads.
async fn detect(
    detector: &ProcessRef<FakeDetector>,
    driver: &Pid,
    master: Option<Pid>,
    info: Option<MasterInfo>,
) {
    let driver = driver.clone();
    detector
        .call(move |_, ctx| ctx.send(&driver, NewMasterDetected { master, info }))
        .await
        .unwrap();
}

async fn settle_all(nodes: &[&Node]) {
    for _ in 0..3 {
        for n in nodes {
            n.settle().await;
        }
    }
}

fn config() -> SchedulerConfig {
    SchedulerConfig {
        seed: 7,
        ..Default::default()
    }
}

#[test]
fn the_driver_follows_the_detected_leader() {
    paused(async {
        let net = MemNetwork::new();
        let filters = Filters::new();
        let sched_node = node_on(&net, &filters).await;
        let node_a = node_on(&net, &filters).await;
        let node_b = node_on(&net, &filters).await;
        let (master_a, mut arx, info_a) = spawn_master(&node_a, "A", vec![]);
        let (_master_b, mut brx, info_b) = spawn_master(&node_b, "B", vec![]);
        let (a, b) = (master_a.pid().clone(), node_b.pid("master"));
        let all = [&sched_node, &node_a, &node_b];

        let (h, mut srx, detector) =
            driver_with_fake_detector(&sched_node, FrameworkInfo::new("fw", "u"), config()).await;
        let sched = h.pid().clone();
        // No leader reported yet: nobody hears from the driver.
        tokio::time::advance(Duration::from_secs(60)).await;
        settle_all(&all).await;
        assert!(arx.try_recv().is_err() && brx.try_recv().is_err());

        // A leads: the driver registers with A.
        detect(&detector, &sched, Some(a.clone()), Some(info_a.clone())).await;
        assert!(
            matches!(next(&mut arx, "register at A").await, M::Register(r) if r.framework.id.is_none())
        );
        assert_eq!(
            next(&mut srx, "registered").await,
            S::Registered("F1".into(), "A".into())
        );

        // B takes over: disconnected, then re-registration with B with the id.
        detect(&detector, &sched, Some(b.clone()), Some(info_b.clone())).await;
        assert_eq!(next(&mut srx, "disconnected").await, S::Disconnected);
        match next(&mut brx, "reregister at B").await {
            M::Reregister(from, m) => {
                assert_eq!(from, sched);
                assert_eq!(m.framework.id, Some("F1".into()));
                assert!(!m.failover, "only the master changed");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            next(&mut srx, "reregistered").await,
            S::Reregistered("B".into())
        );

        // The old leader is no longer heard: offers, updates and errors from A are
        // dropped, and nothing is acknowledged to A.
        let offers_seen = filters.future::<ResourceOffersMessage>(Match::any().from(&a).to(&sched));
        let error_seen = filters.future::<FrameworkErrorMessage>(Match::any().from(&a).to(&sched));
        let s2 = sched.clone();
        master_a
            .call(move |_, ctx| {
                ctx.send(
                    &s2,
                    ResourceOffersMessage {
                        offers: vec![],
                        pids: vec![],
                    },
                );
                let status = TaskStatus::new("t1".into(), TaskState::Running)
                    .with_uuid(StatusUuid::from_u128(9));
                ctx.send(&s2, update_of(status, &"F1".into()));
                ctx.send(
                    &s2,
                    FrameworkErrorMessage {
                        message: "Framework failed over".into(),
                    },
                );
            })
            .await
            .unwrap();
        within(Duration::from_secs(5), "A's offers delivered", offers_seen).await;
        within(Duration::from_secs(5), "A's error delivered", error_seen).await;
        settle_all(&all).await;
        assert!(srx.try_recv().is_err(), "messages from A are ignored");
        assert!(arx.try_recv().is_err(), "nothing acknowledged to A");
        assert!(h.process.is_alive(), "A's error did not stop the driver");

        // A detector on another node cannot move the driver.
        let s2 = sched.clone();
        let bogus = Some(a.clone());
        master_a
            .call(move |_, ctx| {
                ctx.send(
                    &s2,
                    NewMasterDetected {
                        master: bogus,
                        info: None,
                    },
                )
            })
            .await
            .unwrap();
        settle_all(&all).await;
        assert!(srx.try_recv().is_err());

        // No leader: disconnected, and no registration attempts however long it waits.
        detect(&detector, &sched, None, None).await;
        assert_eq!(next(&mut srx, "disconnected").await, S::Disconnected);
        for _ in 0..10 {
            tokio::time::advance(Duration::from_secs(60)).await;
            settle_all(&all).await;
        }
        assert!(arx.try_recv().is_err() && brx.try_recv().is_err());
        assert!(srx.try_recv().is_err());

        // A leads again: the driver comes back to it with its id.
        detect(&detector, &sched, Some(a.clone()), Some(info_a)).await;
        assert!(matches!(
            next(&mut arx, "reregister at A").await,
            M::Reregister(_, m) if m.framework.id == Some("F1".into()) && !m.failover
        ));
        assert_eq!(
            next(&mut srx, "reregistered with A").await,
            S::Reregistered("A".into())
        );

        // Stopping the driver stops its detector.
        let det = detector.pid().clone();
        h.process
            .call(|p, ctx| p.with_driver(ctx, |_s, d| d.stop(true)))
            .await
            .unwrap();
        assert_eq!(
            next(&mut srx, "stopped").await,
            S::Stopped(StopReason::Stopped { failover: true })
        );
        settle_all(&all).await;
        assert!(
            !sched_node.processes().contains(&det),
            "detector terminated"
        );
    });
}

#[test]
fn a_failover_scheduler_gets_the_unacknowledged_updates() {
    paused(async {
        let net = MemNetwork::new();
        let filters = Filters::new();
        let node = node_on(&net, &filters).await;
        let (master, mut mrx, _info) = spawn_master(&node, "M", vec![]);
        let mut fw = FrameworkInfo::new("fw", "u");
        fw.failover_timeout = 60.0;

        // The first scheduler registers through a standalone detector.
        let (rec, mut srx) = recorder();
        let first = scheduler::run_with(
            &node,
            MasterAddress::Standalone(master.pid().clone()),
            fw.clone(),
            rec,
            config(),
        )
        .unwrap();
        assert!(matches!(next(&mut mrx, "register").await, M::Register(_)));
        assert_eq!(
            next(&mut srx, "registered").await,
            S::Registered("F1".into(), "M".into())
        );
        // An update is on its way when the scheduler dies: it never acknowledges it.
        let dropped = filters.future_drop::<StatusUpdateMessage>(Match::any().to(first.pid()));
        let s1 = first.pid().clone();
        let uuid = StatusUuid::from_u128(42);
        master
            .call(move |_, ctx| {
                let status = TaskStatus::new("t1".into(), TaskState::Running)
                    .with_uuid(uuid)
                    .with_source(Source::Executor);
                ctx.send(&s1, update_of(status, &"F1".into()));
            })
            .await
            .unwrap();
        within(Duration::from_secs(5), "the lost update", dropped).await;
        node.terminate(first.pid());
        assert_eq!(
            next(&mut srx, "first stopped").await,
            S::Stopped(StopReason::Terminated)
        );
        settle_all(&[&node]).await;
        assert_eq!(
            node.processes()
                .iter()
                .filter(|p| p.id().starts_with("detector"))
                .count(),
            0,
            "the dead driver's detector is gone"
        );

        // A new scheduler with the framework id fails over.
        fw.id = Some("F1".into());
        let (rec, mut srx) = recorder();
        let second = scheduler::run_with(
            &node,
            MasterAddress::Standalone(master.pid().clone()),
            fw,
            rec,
            SchedulerConfig {
                seed: 8,
                ..Default::default()
            },
        )
        .unwrap();
        assert_ne!(second.pid(), first.pid());
        match next(&mut mrx, "reregister").await {
            M::Reregister(from, m) => {
                assert_eq!(&from, second.pid());
                assert!(m.failover, "a new scheduler takes over");
                assert_eq!(m.framework.id, Some("F1".into()));
                assert_eq!(m.framework.failover_timeout, 60.0);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            next(&mut srx, "reregistered").await,
            S::Reregistered("M".into())
        );
        // The agent retries the update; the master forwards it to the new scheduler.
        let s2 = second.pid().clone();
        master
            .call(move |_, ctx| {
                let status = TaskStatus::new("t1".into(), TaskState::Running)
                    .with_uuid(uuid)
                    .with_source(Source::Executor);
                ctx.send(&s2, update_of(status, &"F1".into()));
            })
            .await
            .unwrap();
        assert_eq!(
            next(&mut srx, "status").await,
            S::Status("t1".into(), TaskState::Running, Some(uuid))
        );
        match next(&mut mrx, "ack").await {
            M::Ack(from, ack) => {
                assert_eq!(&from, second.pid());
                assert_eq!(
                    (
                        ack.framework_id.as_str(),
                        ack.agent_id.as_str(),
                        ack.task_id.as_str(),
                        ack.uuid
                    ),
                    ("F1", "S1", "t1", uuid)
                );
            }
            other => panic!("{other:?}"),
        }
        // A re-registration on a second scheduler run is not a failover any more: the
        // master going away and coming back gets failover=false.
        node.terminate(master.pid());
        assert_eq!(next(&mut srx, "disconnected").await, S::Disconnected);
        settle_all(&[&node]).await;
        let (_m2, mut mrx2, _) = spawn_master(&node, "M2", vec![]);
        assert!(matches!(
            next(&mut mrx2, "reregister after master restart").await,
            M::Reregister(_, m) if !m.failover
        ));
    });
}

#[test]
fn implicit_reconciliation_after_registration_ends_with_reconciled() {
    paused(async {
        let net = MemNetwork::new();
        let filters = Filters::new();
        let node = node_on(&net, &filters).await;
        let (master, mut mrx, info) = spawn_master(&node, "M", vec!["t1", "t2"]);
        let cfg = SchedulerConfig {
            reconcile_on_registration: true,
            ..config()
        };
        let (h, mut srx, detector) =
            driver_with_fake_detector(&node, FrameworkInfo::new("fw", "u"), cfg).await;
        // Before any master is known, a manual reconciliation cannot go out.
        let sent = h
            .process
            .call(|p, ctx| p.with_driver(ctx, |_s, d| d.reconcile_all()))
            .await
            .unwrap();
        assert!(!sent);
        detect(&detector, h.pid(), Some(master.pid().clone()), Some(info)).await;
        assert!(matches!(next(&mut mrx, "register").await, M::Register(_)));
        assert_eq!(
            next(&mut srx, "registered").await,
            S::Registered("F1".into(), "M".into())
        );
        // The implicit request, then the barrier.
        assert!(
            matches!(next(&mut mrx, "implicit").await, M::Reconcile(r) if r.statuses.is_empty())
        );
        assert!(
            matches!(next(&mut mrx, "barrier").await, M::Reconcile(r) if r.statuses.len() == 1)
        );
        assert_eq!(
            next(&mut srx, "t1").await,
            S::Status("t1".into(), TaskState::Running, None)
        );
        assert_eq!(
            next(&mut srx, "t2").await,
            S::Status("t2".into(), TaskState::Running, None)
        );
        assert_eq!(next(&mut srx, "reconciled").await, S::Reconciled);
        node.settle().await;
        assert!(
            srx.try_recv().is_err(),
            "the barrier's answer is not delivered"
        );
        // A manual round works the same way.
        let sent = h
            .process
            .call(|p, ctx| p.with_driver(ctx, |_s, d| d.reconcile_all()))
            .await
            .unwrap();
        assert!(sent);
        for _ in 0..2 {
            assert!(matches!(next(&mut srx, "status").await, S::Status(..)));
        }
        assert_eq!(next(&mut srx, "reconciled again").await, S::Reconciled);
    });
}

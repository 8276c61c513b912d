//! The scheduler driver against a fake master process on one node: registration and its
//! retry, offers, launches, status updates with implicit acknowledgements, master failure
//! and re-registration, stop.

use std::net::Ipv4Addr;
use std::time::Duration;

use frameworks::scheduler::recorder::{Recorder, SchedulerEvent};
use frameworks::scheduler::{
    self, Delivery, MasterAddress, SchedulerConfig, SchedulerDriver, StopReason,
};
use libproc::testing::{paused, within};
use libproc::{Ctx, Handlers, Match, MemNetwork, Node, NodeConfig, Pid, Process, ProcessRef};
use proto::messages::*;
use proto::{
    CommandInfo, Filters, FrameworkId, FrameworkInfo, MasterInfo, Offer, OfferOperation,
    StatusUuid, TaskInfo, TaskState, TaskStatus,
};
use tokio::sync::mpsc;

/// What the fake master received.
#[derive(Debug)]
enum M {
    Register(RegisterFrameworkMessage),
    Reregister(ReregisterFrameworkMessage),
    Accept(AcceptOffersMessage),
    Decline(DeclineOffersMessage),
    Ack(StatusUpdateAcknowledgementMessage),
    Unregister(UnregisterFrameworkMessage),
    Suppress(Vec<String>),
    Revive(Vec<String>),
}

struct FakeMaster {
    out: mpsc::UnboundedSender<M>,
    scheduler: Option<Pid>,
}

fn master_info() -> MasterInfo {
    MasterInfo::new("m", Ipv4Addr::LOCALHOST, 5050, "localhost", "test")
}

impl Process for FakeMaster {
    fn install(h: &mut Handlers<Self>) {
        h.on(
            |me: &mut FakeMaster, ctx: &mut Ctx<Self>, from: Pid, m: RegisterFrameworkMessage| {
                me.scheduler = Some(from.clone());
                let _ = me.out.send(M::Register(m));
                ctx.send(
                    &from,
                    FrameworkRegisteredMessage {
                        framework_id: "F1".into(),
                        master_info: master_info(),
                    },
                );
            },
        );
        h.on(
            |me: &mut FakeMaster, ctx: &mut Ctx<Self>, from: Pid, m: ReregisterFrameworkMessage| {
                me.scheduler = Some(from.clone());
                let id = m.framework.id.clone().unwrap_or_default();
                let failover = m.failover;
                let _ = me.out.send(M::Reregister(m));
                // As Mesos: a scheduler failover is answered as a registration.
                if failover {
                    ctx.send(
                        &from,
                        FrameworkRegisteredMessage {
                            framework_id: id,
                            master_info: master_info(),
                        },
                    );
                } else {
                    ctx.send(
                        &from,
                        FrameworkReregisteredMessage {
                            framework_id: id,
                            master_info: master_info(),
                        },
                    );
                }
            },
        );
        h.on(|me: &mut FakeMaster, _ctx, _from, m: AcceptOffersMessage| {
            let _ = me.out.send(M::Accept(m));
        });
        h.on(
            |me: &mut FakeMaster, _ctx, _from, m: DeclineOffersMessage| {
                let _ = me.out.send(M::Decline(m));
            },
        );
        h.on(
            |me: &mut FakeMaster, _ctx, _from, m: StatusUpdateAcknowledgementMessage| {
                let _ = me.out.send(M::Ack(m));
            },
        );
        h.on(
            |me: &mut FakeMaster, _ctx, _from, m: UnregisterFrameworkMessage| {
                let _ = me.out.send(M::Unregister(m));
            },
        );
        h.on(
            |me: &mut FakeMaster, _ctx, _from, m: SuppressOffersMessage| {
                let _ = me.out.send(M::Suppress(m.roles));
            },
        );
        h.on(|me: &mut FakeMaster, _ctx, _from, m: ReviveOffersMessage| {
            let _ = me.out.send(M::Revive(m.roles));
        });
    }
}

/// What the test scheduler saw.
#[derive(Debug, PartialEq)]
enum S {
    Registered(FrameworkId),
    Reregistered,
    Disconnected,
    Offers(usize),
    Status(TaskState, Option<StatusUuid>),
    Stopped(StopReason),
}

impl S {
    /// The part of a recorded callback these tests check (`None`: not checked).
    fn of(event: SchedulerEvent) -> Option<S> {
        Some(match event {
            SchedulerEvent::Registered(id, _) => S::Registered(id),
            SchedulerEvent::Reregistered(_) => S::Reregistered,
            SchedulerEvent::Disconnected => S::Disconnected,
            SchedulerEvent::Offers(o) => S::Offers(o.len()),
            SchedulerEvent::Status(s) => S::Status(s.state, s.uuid),
            SchedulerEvent::Stopped(r) => S::Stopped(r),
            _ => return None,
        })
    }
}

/// A recording scheduler that launches one task on each offer (`launch`) or declines it.
fn recorder(launch: bool) -> (Recorder, mpsc::UnboundedReceiver<S>) {
    let (recorder, rx) = Recorder::mapped(S::of);
    let recorder = recorder.on_offers(move |d, offers| {
        for o in offers {
            if launch {
                let task = TaskInfo::command_task(
                    "t",
                    "t1".into(),
                    o.agent_id.clone(),
                    "cpus:1;mem:32".parse().unwrap(),
                    CommandInfo::shell("true"),
                );
                d.launch(vec![o.id.clone()], vec![task], Filters::refuse(1.0));
            } else {
                d.decline(o.id.clone(), Filters::refuse(30.0));
            }
        }
    });
    (recorder, rx)
}

fn spawn_master(node: &Node) -> (ProcessRef<FakeMaster>, mpsc::UnboundedReceiver<M>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        node.spawn(
            "master",
            FakeMaster {
                out: tx,
                scheduler: None,
            },
        )
        .unwrap(),
        rx,
    )
}

fn spawn_scheduler(
    node: &Node,
    framework: FrameworkInfo,
    launch: bool,
) -> (
    scheduler::SchedulerHandle<Recorder>,
    mpsc::UnboundedReceiver<S>,
) {
    let (recorder, rx) = recorder(launch);
    let config = SchedulerConfig {
        seed: 42,
        ..Default::default()
    };
    let h = scheduler::run_with(
        node,
        MasterAddress::Standalone(node.pid("master")),
        framework,
        recorder,
        config,
    )
    .unwrap();
    (h, rx)
}

async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>, what: &str) -> T {
    within(Duration::from_secs(30), what, rx.recv())
        .await
        .expect("channel closed")
}

fn offer(id: &str) -> Offer {
    Offer {
        id: id.into(),
        framework_id: "F1".into(),
        agent_id: "S1".into(),
        hostname: "h".into(),
        resources: "cpus:2;mem:256".parse().unwrap(),
        attributes: Default::default(),
        executor_ids: vec![],
    }
}

fn update(state: TaskState, uuid: Option<StatusUuid>) -> StatusUpdateMessage {
    let mut status = TaskStatus::new("t1".into(), state);
    status.uuid = uuid;
    StatusUpdateMessage {
        update: StatusUpdate {
            framework_id: "F1".into(),
            executor_id: None,
            agent_id: Some("S1".into()),
            status,
            timestamp: 0.0,
            latest_state: None,
        },
        pid: None,
    }
}

async fn paused_node() -> Node {
    Node::bind(NodeConfig::local().transport(MemNetwork::new()))
        .await
        .unwrap()
}

#[test]
fn registration_is_retried_when_the_first_attempt_is_dropped() {
    paused(async {
        let node = paused_node().await;
        let (_master, mut mrx) = spawn_master(&node);
        let dropped = node
            .filters()
            .future_drop::<RegisterFrameworkMessage>(Match::any().to(&node.pid("master")));
        let start = tokio::time::Instant::now();
        let (h, mut srx) = spawn_scheduler(&node, FrameworkInfo::new("fw", "u"), false);
        assert!(h.pid().id().starts_with("scheduler-"), "{}", h.pid());
        let (from, first) = within(Duration::from_secs(5), "the first registration", dropped).await;
        assert_eq!(&from, h.pid());
        assert_eq!(first.framework.id, None);
        node.settle().await;
        assert!(
            srx.try_recv().is_err(),
            "nothing is registered while the request is lost"
        );
        // The retry comes within the initial backoff (2 s, virtual time).
        assert_eq!(
            next(&mut srx, "registered").await,
            S::Registered("F1".into())
        );
        assert!(
            start.elapsed() <= Duration::from_secs(2),
            "retried after {:?}",
            start.elapsed()
        );
        assert!(matches!(next(&mut mrx, "register").await, M::Register(_)));
        // Registered: no more retries, however long we wait.
        tokio::time::advance(Duration::from_secs(120)).await;
        node.settle().await;
        assert!(mrx.try_recv().is_err());
    });
}

#[actix_rt::test]
async fn offers_launches_updates_and_implicit_acks() {
    let node = Node::bind(NodeConfig::local()).await.unwrap();
    let (master, mut mrx) = spawn_master(&node);
    let (h, mut srx) = spawn_scheduler(&node, FrameworkInfo::new("fw", "u"), true);
    assert_eq!(
        next(&mut srx, "registered").await,
        S::Registered("F1".into())
    );
    assert!(matches!(next(&mut mrx, "register").await, M::Register(r) if r.framework.name == "fw"));

    let sched = h.pid().clone();
    let s2 = sched.clone();
    master
        .call(move |_, ctx| {
            ctx.send(
                &s2,
                ResourceOffersMessage {
                    offers: vec![offer("O1")],
                    pids: vec![],
                },
            )
        })
        .await
        .unwrap();
    assert_eq!(next(&mut srx, "offers").await, S::Offers(1));
    match next(&mut mrx, "accept").await {
        M::Accept(a) => {
            assert_eq!(a.framework_id, "F1".into());
            assert_eq!(a.offer_ids, vec!["O1".into()]);
            match &a.operations[..] {
                [OfferOperation::Launch { task_infos }] => {
                    assert_eq!(task_infos[0].task_id, "t1".into())
                }
                other => panic!("{other:?}"),
            }
            assert_eq!(a.filters.refuse_seconds, 1.0);
        }
        other => panic!("{other:?}"),
    }

    // An update with a uuid is delivered and acknowledged with that uuid.
    let uuid = StatusUuid::from_u128(77);
    let s2 = sched.clone();
    master
        .call(move |_, ctx| ctx.send(&s2, update(TaskState::Running, Some(uuid))))
        .await
        .unwrap();
    assert_eq!(
        next(&mut srx, "status").await,
        S::Status(TaskState::Running, Some(uuid))
    );
    match next(&mut mrx, "ack").await {
        M::Ack(a) => {
            assert_eq!(
                (
                    a.uuid,
                    a.task_id.as_str(),
                    a.agent_id.as_str(),
                    a.framework_id.as_str()
                ),
                (uuid, "t1", "S1", "F1")
            );
        }
        other => panic!("{other:?}"),
    }
    // A master-generated update without a uuid is delivered but not acknowledged.
    let s2 = sched.clone();
    master
        .call(move |_, ctx| ctx.send(&s2, update(TaskState::Lost, None)))
        .await
        .unwrap();
    assert_eq!(
        next(&mut srx, "status").await,
        S::Status(TaskState::Lost, None)
    );
    node.settle().await;
    assert!(mrx.try_recv().is_err(), "no ack for an update without uuid");

    // Updates from someone other than the master are ignored.
    let stranger = node
        .spawn(
            "stranger",
            FakeMaster {
                out: mpsc::unbounded_channel().0,
                scheduler: None,
            },
        )
        .unwrap();
    let s2 = sched.clone();
    stranger
        .call(move |_, ctx| ctx.send(&s2, update(TaskState::Failed, Some(uuid))))
        .await
        .unwrap();
    node.settle().await;
    assert!(srx.try_recv().is_err());

    // stop(false) unregisters and the handle resolves.
    drop(stranger);
    h.process
        .call(|p, ctx| p.with_driver(ctx, |_s, d| d.stop(false)))
        .await
        .unwrap();
    assert!(
        matches!(next(&mut mrx, "unregister").await, M::Unregister(u) if u.framework_id == "F1".into())
    );
    assert_eq!(
        next(&mut srx, "stopped").await,
        S::Stopped(StopReason::Stopped { failover: false })
    );
    assert_eq!(h.stopped().await, StopReason::Stopped { failover: false });
}

#[test]
fn master_exit_disconnects_and_reregisters_with_the_framework_id() {
    paused(async {
        let node = paused_node().await;
        let (master, mut mrx) = spawn_master(&node);
        let (_h, mut srx) = spawn_scheduler(&node, FrameworkInfo::new("fw", "u"), false);
        assert_eq!(
            next(&mut srx, "registered").await,
            S::Registered("F1".into())
        );
        assert!(matches!(next(&mut mrx, "register").await, M::Register(_)));

        // The master dies: the driver notices through its link.
        node.terminate(master.pid());
        assert_eq!(next(&mut srx, "disconnected").await, S::Disconnected);
        node.settle().await;
        // A new master comes up under the same PID; the driver's retries reach it.
        let (_master2, mut mrx2) = spawn_master(&node);
        match next(&mut mrx2, "reregister").await {
            M::Reregister(m) => {
                assert_eq!(m.framework.id, Some("F1".into()));
                assert!(!m.failover);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(next(&mut srx, "reregistered").await, S::Reregistered);
    });
}

#[test]
fn a_scheduler_with_an_id_fails_over_and_launches_while_disconnected_are_lost() {
    paused(async {
        let node = paused_node().await;
        let (_master, mut mrx) = spawn_master(&node);
        let mut fw = FrameworkInfo::new("fw", "u");
        fw.id = Some("F7".into());
        let (h, mut srx) = spawn_scheduler(&node, fw, false);
        match next(&mut mrx, "reregister").await {
            M::Reregister(m) => assert!(m.failover && m.framework.id == Some("F7".into())),
            other => panic!("{other:?}"),
        }
        // Mesos answers a failed-over scheduler with FrameworkRegisteredMessage, and
        // the driver calls `registered` with the id it kept.
        assert_eq!(
            next(&mut srx, "registered").await,
            S::Registered("F7".into())
        );
        // Taking over, the driver revives what its predecessor may have suppressed.
        assert!(matches!(next(&mut mrx, "revive").await, M::Revive(r) if r == ["*"]));
        // Declines go to the master with the filter.
        let s2 = h.pid().clone();
        _master
            .call(move |_, ctx| {
                ctx.send(
                    &s2,
                    ResourceOffersMessage {
                        offers: vec![offer("O2")],
                        pids: vec![],
                    },
                )
            })
            .await
            .unwrap();
        assert_eq!(next(&mut srx, "offers").await, S::Offers(1));
        assert!(
            matches!(next(&mut mrx, "decline").await, M::Decline(d) if d.filters.refuse_seconds == 30.0)
        );

        // Disconnected: a launch turns into TASK_LOST for the scheduler at once.
        node.filters()
            .drop_all(Match::message::<ReregisterFrameworkMessage>());
        node.terminate(_master.pid());
        assert_eq!(next(&mut srx, "disconnected").await, S::Disconnected);
        h.process
            .call(|p, ctx| {
                p.with_driver(ctx, |_s, d| {
                    let task = TaskInfo::command_task(
                        "t",
                        "t9".into(),
                        "S1".into(),
                        "cpus:1;mem:1".parse().unwrap(),
                        CommandInfo::shell("true"),
                    );
                    d.launch(vec!["O3".into()], vec![task], Filters::default());
                })
            })
            .await
            .unwrap();
        assert_eq!(
            next(&mut srx, "lost").await,
            S::Status(TaskState::Lost, None)
        );
    });
}

#[test]
fn suppression_survives_reregistration_and_revives_owed_while_away_are_paid() {
    paused(async {
        let node = paused_node().await;
        let (master, mut mrx) = spawn_master(&node);
        let (h, mut srx) = spawn_scheduler(&node, FrameworkInfo::new("fw", "u"), false);
        assert_eq!(
            next(&mut srx, "registered").await,
            S::Registered("F1".into())
        );
        assert!(matches!(next(&mut mrx, "register").await, M::Register(_)));
        let driver = |f: fn(&mut SchedulerDriver<'_, '_, Recorder>) -> Delivery| {
            h.process
                .call(move |p, ctx| p.with_driver(ctx, |_s, d| f(d)))
        };
        // Suppress goes out once; a repeat costs nothing.
        assert_eq!(driver(|d| d.suppress()).await.unwrap(), Delivery::Sent);
        assert!(matches!(next(&mut mrx, "suppress").await, M::Suppress(r) if r == ["*"]));
        assert_eq!(driver(|d| d.suppress()).await.unwrap(), Delivery::Unchanged);

        // The master fails over: the new one hears of the suppression at once.
        node.terminate(master.pid());
        assert_eq!(next(&mut srx, "disconnected").await, S::Disconnected);
        assert_eq!(
            driver(|d| d.decline("O1".into(), Filters::default()))
                .await
                .unwrap(),
            Delivery::NotConnected
        );
        node.settle().await;
        let (master2, mut mrx2) = spawn_master(&node);
        assert!(matches!(
            next(&mut mrx2, "reregister").await,
            M::Reregister(_)
        ));
        assert!(matches!(next(&mut mrx2, "suppress again").await, M::Suppress(r) if r == ["*"]));
        assert_eq!(next(&mut srx, "reregistered").await, S::Reregistered);
        assert_eq!(
            driver(|d| d.decline("O1".into(), Filters::default()))
                .await
                .unwrap(),
            Delivery::Sent
        );
        assert!(matches!(next(&mut mrx2, "decline").await, M::Decline(_)));

        // Revived while disconnected: deferred, then sent on re-registration, and
        // nothing is suppressed again.
        node.terminate(master2.pid());
        assert_eq!(next(&mut srx, "disconnected").await, S::Disconnected);
        assert_eq!(driver(|d| d.revive()).await.unwrap(), Delivery::Deferred);
        node.settle().await;
        let (_master3, mut mrx3) = spawn_master(&node);
        assert!(matches!(
            next(&mut mrx3, "reregister").await,
            M::Reregister(_)
        ));
        assert!(matches!(next(&mut mrx3, "owed revive").await, M::Revive(r) if r == ["*"]));
        assert_eq!(next(&mut srx, "reregistered").await, S::Reregistered);
        node.settle().await;
        assert!(mrx3.try_recv().is_err(), "no suppress after the revive");
    });
}

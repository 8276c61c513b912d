//! The scheduler driver against the fake master (`frameworks::testing::FakeMaster`):
//! registration and its retry, offers, launches, status updates with implicit
//! acknowledgements, master failure and re-registration, suppression kept across it, stop.

use std::time::Duration;

use frameworks::scheduler::recorder::{Recorder, SchedulerEvent};
use frameworks::scheduler::{self, Delivery, SchedulerConfig, SchedulerDriver, StopReason};
use frameworks::testing::{paused, within, Call, FakeMaster};
use libproc::{Handlers, Match, Process};
use proto::messages::*;
use proto::{
    CommandInfo, Filters, FrameworkId, FrameworkInfo, OfferOperation, StatusUuid, TaskInfo,
    TaskState, TaskStatus,
};
use tokio::sync::mpsc;

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

/// A scheduler (recording, launching or declining) against the fake master.
fn spawn_scheduler(
    master: &FakeMaster,
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
    (master.run(framework, recorder, config).unwrap(), rx)
}

async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>, what: &str) -> T {
    within(Duration::from_secs(30), what, rx.recv())
        .await
        .expect("channel closed")
}

/// An update of task t1 on agent S1.
fn update(state: TaskState, uuid: Option<StatusUuid>) -> TaskStatus {
    let mut status = TaskStatus::new("t1".into(), state).with_agent("S1".into());
    status.uuid = uuid;
    status
}

const F1: &str = FakeMaster::FRAMEWORK_ID;

#[test]
fn registration_is_retried_when_the_first_attempt_is_dropped() {
    paused(async {
        let master = FakeMaster::start().await.unwrap();
        let node = master.node.clone();
        let dropped = node
            .filters()
            .future_drop::<RegisterFrameworkMessage>(Match::any().to(&master.pid()));
        let start = tokio::time::Instant::now();
        let (h, mut srx) = spawn_scheduler(&master, FrameworkInfo::new("fw", "u"), false);
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
        assert_eq!(next(&mut srx, "registered").await, S::Registered(F1.into()));
        assert!(
            start.elapsed() <= Duration::from_secs(2),
            "retried after {:?}",
            start.elapsed()
        );
        assert!(matches!(master.next_call().await, Call::Register(_)));
        // Registered: no more retries, however long we wait.
        tokio::time::advance(Duration::from_secs(120)).await;
        assert_eq!(master.calls().await, vec![]);
    });
}

/// A process that is not the master.
struct Stranger;

impl Process for Stranger {
    fn install(_h: &mut Handlers<Self>) {}
}

#[actix_rt::test]
async fn offers_launches_updates_and_implicit_acks() {
    let master = FakeMaster::start().await.unwrap();
    let (h, mut srx) = spawn_scheduler(&master, FrameworkInfo::new("fw", "u"), true);
    assert_eq!(next(&mut srx, "registered").await, S::Registered(F1.into()));
    assert!(matches!(master.next_call().await, Call::Register(f) if f.name == "fw"));

    master.offer("O1", "S1", "cpus:2;mem:256").await;
    assert_eq!(next(&mut srx, "offers").await, S::Offers(1));
    match master.next_call().await {
        Call::Accept(a) => {
            assert_eq!(a.framework_id, F1.into());
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
    master
        .update_raw(update(TaskState::Running, Some(uuid)))
        .await;
    assert_eq!(
        next(&mut srx, "status").await,
        S::Status(TaskState::Running, Some(uuid))
    );
    match master.next_call().await {
        Call::Acknowledge(a) => {
            assert_eq!(
                (
                    a.uuid,
                    a.task_id.as_str(),
                    a.agent_id.as_str(),
                    a.framework_id.as_str()
                ),
                (uuid, "t1", "S1", F1)
            );
        }
        other => panic!("{other:?}"),
    }
    // A master-generated update without a uuid is delivered but not acknowledged.
    master.update_raw(update(TaskState::Lost, None)).await;
    assert_eq!(
        next(&mut srx, "status").await,
        S::Status(TaskState::Lost, None)
    );
    assert_eq!(
        master.calls().await,
        vec![],
        "no ack for an update without uuid"
    );

    // Updates from someone other than the master are ignored.
    let stranger = master.node.spawn("stranger", Stranger).unwrap();
    let sched = h.pid().clone();
    stranger
        .call(move |_, ctx| {
            let update = update(TaskState::Failed, Some(uuid));
            ctx.send(
                &sched,
                StatusUpdateMessage {
                    update: StatusUpdate {
                        framework_id: F1.into(),
                        executor_id: None,
                        agent_id: Some("S1".into()),
                        status: update,
                        timestamp: 0.0,
                        latest_state: None,
                    },
                    pid: None,
                },
            )
        })
        .await
        .unwrap();
    master.node.settle().await;
    assert!(srx.try_recv().is_err());

    // stop(false) unregisters and the handle resolves.
    drop(stranger);
    h.process
        .call(|p, ctx| p.with_driver(ctx, |_s, d| d.stop(false)))
        .await
        .unwrap();
    assert_eq!(master.next_call().await, Call::Unregister);
    assert_eq!(
        next(&mut srx, "stopped").await,
        S::Stopped(StopReason::Stopped { failover: false })
    );
    assert_eq!(h.stopped().await, StopReason::Stopped { failover: false });
}

#[test]
fn master_exit_disconnects_and_reregisters_with_the_framework_id() {
    paused(async {
        let master = FakeMaster::start().await.unwrap();
        let (_h, mut srx) = spawn_scheduler(&master, FrameworkInfo::new("fw", "u"), false);
        assert_eq!(next(&mut srx, "registered").await, S::Registered(F1.into()));
        assert!(matches!(master.next_call().await, Call::Register(_)));

        // The master dies: the driver notices through its link.
        master.disconnect().await;
        assert_eq!(next(&mut srx, "disconnected").await, S::Disconnected);
        // A new master comes up under the same PID; the driver's retries reach it.
        master.restart().await;
        match master.next_call().await {
            Call::Reregister(f, failover) => {
                assert_eq!(f.id, Some(F1.into()));
                assert!(!failover);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(next(&mut srx, "reregistered").await, S::Reregistered);
    });
}

#[test]
fn a_scheduler_with_an_id_fails_over_and_launches_while_disconnected_are_lost() {
    paused(async {
        let master = FakeMaster::start().await.unwrap();
        let mut fw = FrameworkInfo::new("fw", "u");
        fw.id = Some("F7".into());
        let (h, mut srx) = spawn_scheduler(&master, fw, false);
        match master.next_call().await {
            Call::Reregister(f, failover) => assert!(failover && f.id == Some("F7".into())),
            other => panic!("{other:?}"),
        }
        // Mesos answers a failed-over scheduler with FrameworkRegisteredMessage, and
        // the driver calls `registered` with the id it kept.
        assert_eq!(
            next(&mut srx, "registered").await,
            S::Registered("F7".into())
        );
        // Taking over, the driver revives what its predecessor may have suppressed.
        assert_eq!(master.next_call().await, Call::Revive(vec!["*".into()]));
        // Declines go to the master with the filter.
        master.offer("O2", "S1", "cpus:2;mem:256").await;
        assert_eq!(next(&mut srx, "offers").await, S::Offers(1));
        assert!(
            matches!(master.next_call().await, Call::Decline(d) if d.filters.refuse_seconds == 30.0)
        );

        // Disconnected: a launch turns into TASK_LOST for the scheduler at once.
        master
            .node
            .filters()
            .drop_all(Match::message::<ReregisterFrameworkMessage>());
        master.disconnect().await;
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
        let master = FakeMaster::start().await.unwrap();
        let (h, mut srx) = spawn_scheduler(&master, FrameworkInfo::new("fw", "u"), false);
        assert_eq!(next(&mut srx, "registered").await, S::Registered(F1.into()));
        assert!(matches!(master.next_call().await, Call::Register(_)));
        let driver = |f: fn(&mut SchedulerDriver<'_, '_, Recorder>) -> Delivery| {
            h.process
                .call(move |p, ctx| p.with_driver(ctx, |_s, d| f(d)))
        };
        let all = vec!["*".to_string()];
        // Suppress goes out once; a repeat costs nothing.
        assert_eq!(driver(|d| d.suppress()).await.unwrap(), Delivery::Sent);
        assert_eq!(master.next_call().await, Call::Suppress(all.clone()));
        assert_eq!(driver(|d| d.suppress()).await.unwrap(), Delivery::Unchanged);

        // The master fails over: the new one hears of the suppression at once.
        master.disconnect().await;
        assert_eq!(next(&mut srx, "disconnected").await, S::Disconnected);
        assert_eq!(
            driver(|d| d.decline("O1".into(), Filters::default()))
                .await
                .unwrap(),
            Delivery::NotConnected
        );
        master.restart().await;
        assert!(matches!(
            master.next_call().await,
            Call::Reregister(_, false)
        ));
        assert_eq!(
            master.next_call().await,
            Call::Suppress(all.clone()),
            "suppressed again"
        );
        assert_eq!(next(&mut srx, "reregistered").await, S::Reregistered);
        assert_eq!(
            driver(|d| d.decline("O1".into(), Filters::default()))
                .await
                .unwrap(),
            Delivery::Sent
        );
        assert!(matches!(master.next_call().await, Call::Decline(_)));

        // Revived while disconnected: deferred, then sent on re-registration, and
        // nothing is suppressed again.
        master.disconnect().await;
        assert_eq!(next(&mut srx, "disconnected").await, S::Disconnected);
        assert_eq!(driver(|d| d.revive()).await.unwrap(), Delivery::Deferred);
        master.restart().await;
        assert!(matches!(
            master.next_call().await,
            Call::Reregister(_, false)
        ));
        assert_eq!(
            master.next_call().await,
            Call::Revive(all),
            "the owed revive"
        );
        assert_eq!(next(&mut srx, "reregistered").await, S::Reregistered);
        assert_eq!(master.calls().await, vec![], "no suppress after the revive");
    });
}

//! The scriptable fake master (`frameworks::testing::FakeMaster`) itself: what it sends
//! reaches the scheduler's callbacks, what the scheduler sends comes back as `Call`s, and it
//! answers reconciliation as the Mesos master does.

use std::time::Duration;

use frameworks::scheduler::recorder::{Recorder, SchedulerEvent};
use frameworks::scheduler::{SchedulerConfig, StopReason};
use frameworks::testing::{paused, within, Call, FakeMaster};
use proto::{FrameworkInfo, Reason, TaskState, TaskStatus};
use tokio::sync::mpsc::UnboundedReceiver;

async fn next(rx: &mut UnboundedReceiver<SchedulerEvent>) -> SchedulerEvent {
    within(Duration::from_secs(60), "a callback", rx.recv())
        .await
        .expect("the recorder is gone")
}

#[test]
fn rescinds_messages_lost_agents_kills_reconciliation_and_errors() {
    paused(async {
        let master = FakeMaster::start().await.expect("the fake master starts");
        let (recorder, mut events) = Recorder::new();
        let driver = master
            .run(
                FrameworkInfo::new("fw", "u"),
                recorder,
                SchedulerConfig::default(),
            )
            .expect("the driver starts");
        assert!(
            matches!(next(&mut events).await, SchedulerEvent::Registered(id, _) if id.as_str() == FakeMaster::FRAMEWORK_ID)
        );

        assert!(matches!(master.next_call().await, Call::Register(f) if f.name == "fw"));
        master.rescind("O1").await;
        assert_eq!(
            next(&mut events).await,
            SchedulerEvent::Rescinded("O1".into())
        );
        master.framework_message("A1", "E1", b"hi".to_vec()).await;
        assert_eq!(
            next(&mut events).await,
            SchedulerEvent::Message("A1".into(), "E1".into(), b"hi".to_vec())
        );
        master.lose_agent("A1").await;
        assert_eq!(
            next(&mut events).await,
            SchedulerEvent::AgentLost("A1".into())
        );

        // Calls the scheduler makes come back in order.
        master
            .set_tasks(vec![TaskStatus::new("t1".into(), TaskState::Running)])
            .await;
        driver
            .process
            .call(|p, ctx| {
                p.with_driver(ctx, |_, d| {
                    d.kill("t1".into());
                    d.reconcile(vec![
                        TaskStatus::new("t1".into(), TaskState::Staging),
                        TaskStatus::new("t2".into(), TaskState::Running),
                    ]);
                })
            })
            .await
            .expect("the driver runs");
        assert_eq!(master.next_call().await, Call::Kill("t1".into()));
        assert!(matches!(master.next_call().await, Call::Reconcile(asked) if asked.len() == 2));
        // The answers: t1 as the master knows it, t2 unknown and so lost; no uuids.
        for (task, state) in [("t1", TaskState::Running), ("t2", TaskState::Lost)] {
            let SchedulerEvent::Status(s) = next(&mut events).await else {
                panic!("not a status update")
            };
            assert_eq!((s.task_id.as_str(), s.state, s.uuid), (task, state, None));
            assert_eq!(s.reason, Some(Reason::Reconciliation));
        }
        assert_eq!(
            master.calls().await,
            vec![],
            "reconciliation answers are not acknowledged"
        );

        // An error ends the driver.
        master.error("Framework removed").await;
        assert_eq!(
            next(&mut events).await,
            SchedulerEvent::Error("Framework removed".into())
        );
        assert_eq!(
            driver.stopped().await,
            StopReason::Error("Framework removed".into())
        );
    });
}

//! The service keeper example (`examples/service.rs`): on the in-process cluster it keeps
//! its instances running, replaces a failed one, and a restarted keeper adopts the running
//! instances instead of launching new ones; against the fake master, a master failover
//! that lost an instance is reconciled before anything is launched.

#[path = "../examples/service.rs"]
mod service;

use std::time::Duration;

use frameworks::scheduler::{SchedulerConfig, SchedulerHandle};
use frameworks::testing::{paused, within, Call, FakeMaster, TaskOutcome, TestCluster};
use proto::{FrameworkInfo, TaskState, TaskStatus};
use service::Keeper;

fn config(seed: u64) -> SchedulerConfig {
    SchedulerConfig {
        reconcile_on_registration: true,
        seed,
        ..Default::default()
    }
}

/// Waits (virtual time) until the keeper satisfies `cond`.
async fn until(h: &SchedulerHandle<Keeper>, what: &str, cond: fn(&Keeper) -> bool) {
    within(Duration::from_secs(600), what, async {
        while !h
            .process
            .call(move |p, _| cond(p.scheduler()))
            .await
            .unwrap_or(false)
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
}

#[test]
fn keeps_three_running_replaces_a_failure_and_a_restarted_keeper_adopts_them() {
    paused(async {
        let cluster = TestCluster::builder()
            .agents(2)
            .script(|task| match task.task_id.as_str() {
                "instance-1" => TaskOutcome::fails_after(Duration::from_secs(30)),
                _ => TaskOutcome::Runs,
            })
            .start()
            .await
            .expect("the cluster starts");
        let mut info = FrameworkInfo::new("keeper", "root");
        info.failover_timeout = 600.0;
        let first = cluster
            .run(info.clone(), Keeper::new(3, "sleep 3600"), config(1))
            .expect("the keeper starts");
        until(&first, "instance-1 replaced", |k| {
            k.replaced == 1 && k.alive.len() == 3
        })
        .await;
        let (launched, id) = first
            .process
            .call(|p, ctx| {
                let launched = p.scheduler().launched;
                let id = p.with_driver(ctx, |_, d| {
                    let id = d.framework_id().cloned();
                    d.stop(true); // the scheduler dies; its framework waits for a failover
                    id
                });
                (launched, id)
            })
            .await
            .expect("the keeper answers");
        assert_eq!(launched, 4, "three instances and one replacement");
        first.stopped().await;
        assert_eq!(
            cluster.containerizer.running(),
            3,
            "the instances outlive the scheduler"
        );

        // A new keeper takes over with the saved id: it reconciles and adopts all three.
        info.id = id;
        let second = cluster
            .run(info, Keeper::new(3, "sleep 3600"), config(2))
            .expect("the second keeper starts");
        until(&second, "the instances adopted", |k| k.alive.len() == 3).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
        let launched = second.process.call(|p, _| p.scheduler().launched).await;
        assert_eq!(launched.ok(), Some(0), "nothing launched twice");
        assert_eq!(cluster.containerizer.running(), 3);
        cluster.shutdown().await;
    });
}

#[test]
fn after_a_master_failover_a_lost_instance_is_reconciled_before_any_launch() {
    paused(async {
        let master = FakeMaster::start().await.expect("the fake master starts");
        let _keeper = master
            .run(
                FrameworkInfo::new("keeper", "root"),
                Keeper::new(2, "sleep 3600"),
                config(1),
            )
            .expect("the keeper starts");
        assert!(matches!(master.next_call().await, Call::Register(_)));
        // Nothing runs yet: the reconciliation finds nothing and the keeper asks for offers.
        master
            .next_call_where("revive", |c| matches!(c, Call::Revive(_)))
            .await;
        master
            .offer("O1", "A1", "cpus:4;mem:1024;ports:[31000-31009]")
            .await;
        let accept = master
            .next_call_where("launch", |c| matches!(c, Call::Accept(_)))
            .await;
        let ids: Vec<String> = accept
            .launched()
            .iter()
            .map(|t| t.task_id.to_string())
            .collect();
        assert_eq!(ids, ["instance-0", "instance-1"]);
        for id in &ids {
            let running =
                TaskStatus::new(id.as_str().into(), TaskState::Running).with_agent("A1".into());
            master.update(running).await;
        }
        master.calls().await;

        // The master fails over, and the new one knows only instance-0.
        master.disconnect().await;
        master
            .set_tasks(vec![TaskStatus::new(
                "instance-0".into(),
                TaskState::Running,
            )])
            .await;
        master.restart().await;
        // The keeper asks about the instances it knows, then about everything.
        let explicit = master
            .next_call_where("reconcile", |c| matches!(c, Call::Reconcile(_)))
            .await;
        let Call::Reconcile(asked) = explicit else {
            unreachable!()
        };
        let asked: Vec<&str> = asked.iter().map(|s| s.task_id.as_str()).collect();
        assert_eq!(asked, ["instance-0", "instance-1"]);
        // Only once reconciled (instance-1 reported lost) does it launch, and only one.
        master
            .next_call_where("revive", |c| matches!(c, Call::Revive(_)))
            .await;
        master
            .offer("O2", "A1", "cpus:4;mem:1024;ports:[31000-31009]")
            .await;
        let accept = master
            .next_call_where("launch", |c| matches!(c, Call::Accept(_)))
            .await;
        let ids: Vec<&str> = accept
            .launched()
            .iter()
            .map(|t| t.task_id.as_str())
            .collect();
        assert_eq!(ids, ["instance-2"]);
    });
}

//! The batch example (`examples/batch.rs`) on the in-process cluster, in virtual time:
//! 50 tasks on two agents, some failing once and retried, one failing for good.

#[path = "../examples/batch.rs"]
mod batch;

use std::time::Duration;

use batch::{Batch, MAX_ATTEMPTS};
use frameworks::testing::{paused, TaskOutcome, TestCluster};
use frameworks::StopReason;
use libproc::Match;
use proto::messages::{ReviveOffersMessage, SuppressOffersMessage};
use proto::{FrameworkInfo, TaskInfo};

/// (index, try) from a task id `task-<index>-try-<try>`.
fn index_and_try(task: &TaskInfo) -> (usize, u32) {
    let id = task.task_id.as_str();
    let mut parts = id
        .trim_start_matches("task-")
        .split("-try-")
        .map(|n| n.parse().unwrap_or(0));
    let index = parts.next().unwrap_or(0);
    (index as usize, parts.next().unwrap_or(0) as u32)
}

#[test]
fn fifty_tasks_finish_and_the_ones_failing_once_are_retried() {
    paused(async {
        let cluster = TestCluster::builder()
            .agents(2)
            .script(|task| {
                let (index, attempt) = index_and_try(task);
                let after = Duration::from_secs(1 + index as u64 % 5);
                if index % 10 == 3 && attempt == 1 {
                    TaskOutcome::fails_after(after)
                } else {
                    TaskOutcome::finishes_after(after)
                }
            })
            .start()
            .await
            .expect("the cluster starts");
        let mut suppresses = cluster
            .node
            .filters()
            .observe(Match::message::<SuppressOffersMessage>());
        let mut revives = cluster
            .node
            .filters()
            .observe(Match::message::<ReviveOffersMessage>());
        let started = std::time::Instant::now();
        let (job, reason) = cluster
            .run_until_stopped(FrameworkInfo::new("batch", "root"), Batch::new(50, "true"))
            .await;
        assert_eq!(reason, StopReason::Stopped { failover: false });
        assert_eq!(job.finished.len(), 50);
        assert!(job.gave_up.is_empty());
        assert_eq!(job.launched, 55, "5 tasks failed once and ran again");
        // One revive per retry at most, and a suppress only after each revive (the
        // driver sends nothing for a repeated suppress).
        let (suppresses, revives) = (suppresses.drain().len(), revives.drain().len());
        assert!(revives <= 5, "{revives} revives");
        assert!(
            (1..=revives + 1).contains(&suppresses),
            "{suppresses} suppresses for {revives} revives"
        );
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "virtual time: took {:?}",
            started.elapsed()
        );
        cluster.shutdown().await;
    });
}

#[test]
fn a_task_that_always_fails_is_given_up_after_its_tries() {
    paused(async {
        let cluster = TestCluster::builder()
            .script(|task| match index_and_try(task) {
                (2, _) => TaskOutcome::fails_after(Duration::from_secs(1)),
                _ => TaskOutcome::finishes_after(Duration::from_secs(1)),
            })
            .start()
            .await
            .expect("the cluster starts");
        let (job, _) = cluster
            .run_until_stopped(FrameworkInfo::new("batch", "root"), Batch::new(5, "true"))
            .await;
        assert_eq!(job.gave_up.iter().copied().collect::<Vec<_>>(), vec![2]);
        assert_eq!(job.finished.len(), 4);
        assert_eq!(job.launched, 4 + MAX_ATTEMPTS as usize);
        cluster.shutdown().await;
    });
}

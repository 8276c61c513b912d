//! `--switch_user` with real processes: a task runs as its framework's user (`nobody`)
//! with that user's ids, owns its sandbox and cannot write into the agent's work
//! directory; an unknown user fails the task with the reason; `--switch_user=false` runs
//! it as the agent's user. These need root (skipped elsewhere, failed under CI).

mod common;

use common::{test_dir, Cluster};
use libproc::{Node, NodeConfig};
use proto::{CommandInfo, Reason, TaskState};
use slave::user::RunAs;
use std::os::unix::fs::MetadataExt;

async fn cluster(name: &str, tweak: impl FnOnce(&mut slave::AgentConfig)) -> Option<Cluster> {
    if !slave::user::can_switch() {
        libproc::testing::skip_unless_ci(name, "switching users needs root");
        return None;
    }
    let node = Node::bind(NodeConfig::local()).await.unwrap();
    let dir = test_dir(name);
    // Like a real work directory: others may pass through it (to reach their sandbox),
    // not write into it.
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    Some(Cluster::start(node, dir, tweak).await)
}

#[actix_rt::test]
async fn a_task_runs_as_its_user_and_cannot_write_the_agents_work_dir() {
    let Some(mut c) = cluster("as-nobody", |_| {}).await else {
        return;
    };
    let nobody = RunAs::lookup("nobody").unwrap();
    let work_dir = c.dir.display().to_string();
    let meta = c.dir.join("meta").display().to_string();
    c.run_task(
        "who",
        CommandInfo::shell(format!(
            "echo uid=$(id -u) gid=$(id -g); \
             touch {work_dir}/by-task 2>/dev/null && echo wrote-work-dir || echo denied-work-dir; \
             touch {meta}/by-task 2>/dev/null && echo wrote-meta || echo denied-meta; \
             touch ./in-sandbox && echo wrote-sandbox"
        )),
    );
    let running = c.next_update().await;
    assert_eq!(running.status.state, TaskState::Running);
    c.ack(&running);
    let finished = c.next_update().await;
    assert_eq!(
        finished.status.state,
        TaskState::Finished,
        "{:?}",
        finished.status.message
    );
    c.ack(&finished);

    let sandbox = c.sandbox("who").await;
    let stdout = std::fs::read_to_string(sandbox.join("stdout")).unwrap();
    assert!(
        stdout.contains(&format!("uid={} gid={}", nobody.uid, nobody.gid)),
        "{stdout}"
    );
    assert!(stdout.contains("denied-work-dir"), "{stdout}");
    assert!(stdout.contains("denied-meta"), "{stdout}");
    assert!(stdout.contains("wrote-sandbox"), "{stdout}");
    assert!(
        c.dir.join("meta").is_dir(),
        "the agent's checkpoint directory exists"
    );
    assert!(!c.dir.join("by-task").exists());
    assert!(!c.dir.join("meta/by-task").exists());
    // The sandbox, its output files and what the task made belong to the user.
    for p in [
        &sandbox,
        &sandbox.join("stdout"),
        &sandbox.join("in-sandbox"),
    ] {
        let m = std::fs::metadata(p).unwrap();
        assert_eq!(
            (m.uid(), m.gid()),
            (nobody.uid, nobody.gid),
            "{}",
            p.display()
        );
    }
    assert_eq!(std::fs::metadata(&sandbox).unwrap().mode() & 0o777, 0o750);
    c.agent.shutdown().await;
}

#[actix_rt::test]
async fn an_unknown_user_fails_the_task_with_the_reason() {
    let Some(mut c) = cluster("unknown-user", |_| {}).await else {
        return;
    };
    let mut command = CommandInfo::shell("echo never");
    command.user = Some("no-such-user-mesos-rs".into());
    c.run_task("ghost", command);
    let failed = c.next_update().await;
    assert_eq!(failed.status.state, TaskState::Failed);
    assert_eq!(failed.status.reason, Some(Reason::ExecutorTerminated));
    let message = failed.status.message.clone().unwrap_or_default();
    assert!(
        message.contains("user 'no-such-user-mesos-rs' does not exist"),
        "{message}"
    );
    c.ack(&failed);
    c.agent.shutdown().await;
}

#[actix_rt::test]
async fn without_switch_user_tasks_run_as_the_agents_user() {
    let Some(mut c) = cluster("no-switch", |c| c.switch_user = false).await else {
        return;
    };
    // The framework says nobody (the fixture's), the command names a user that does not
    // even exist: neither matters.
    let mut command = CommandInfo::shell("echo uid=$(id -u)");
    command.user = Some("no-such-user-mesos-rs".into());
    c.run_task("as-agent", command);
    let running = c.next_update().await;
    assert_eq!(
        running.status.state,
        TaskState::Running,
        "{:?}",
        running.status.message
    );
    c.ack(&running);
    let finished = c.next_update().await;
    assert_eq!(finished.status.state, TaskState::Finished);
    c.ack(&finished);
    let sandbox = c.sandbox("as-agent").await;
    let stdout = std::fs::read_to_string(sandbox.join("stdout")).unwrap();
    assert!(stdout.contains("uid=0"), "{stdout}");
    assert_eq!(std::fs::metadata(&sandbox).unwrap().uid(), 0);
    c.agent.shutdown().await;
}

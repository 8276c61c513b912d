//! `mesos-execute` as a real OS process: bad flags exit 2 with the reason; against a fake
//! master over TCP it launches on the first fitting offer, declines the rest, prints each
//! update and exits 0 on TASK_FINISHED, 1 on TASK_FAILED (printing the message).

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::Duration;

use libproc::{Ctx, Handlers, Node, NodeConfig, Pid, Process};
use proto::messages::*;
use proto::{MasterInfo, Offer, OfferOperation, StatusUuid, TaskState, TaskStatus};
use tokio::sync::mpsc;

fn execute(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mesos-execute"))
        .args(args)
        .output()
        .expect("run mesos-execute")
}

#[test]
fn bad_flags_exit_2_with_the_reason() {
    let out = execute(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--master"));

    let base = ["--master=127.0.0.1:5050", "--name=t", "--command=true"];
    for (extra, needle) in [
        ("--resources=cpus:lots", "--resources"),
        ("--env=[1,2]", "--env"),
        ("--env={oops", "--env"),
        ("--kill_after=soon", "--kill_after"),
        ("--bogus=1", "bogus"),
        ("--checkpoint=maybe", "--checkpoint"),
    ] {
        let mut args = base.to_vec();
        args.push(extra);
        let out = execute(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra}: {err}");
        assert!(err.contains(needle), "{extra}: {err}");
    }
    // A ZooKeeper URL is accepted, but it needs the znode path.
    let out = execute(&["--master=zk://h:2181", "--name=t", "--command=true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("znode path"));
    let out = execute(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("(default: cpus:0.1;mem:32)"));
}

/// Registers the framework, offers a too-small and a big offer, answers the launch with
/// RUNNING then `final_state`, and reports declines and accepts.
struct FakeMaster {
    final_state: TaskState,
    out: mpsc::UnboundedSender<String>,
}

impl Process for FakeMaster {
    fn install(h: &mut Handlers<Self>) {
        h.on(
            |_me: &mut FakeMaster, ctx: &mut Ctx<Self>, from: Pid, _m: RegisterFrameworkMessage| {
                let info = MasterInfo::new(
                    "m",
                    Ipv4Addr::LOCALHOST,
                    ctx.pid().addr().port(),
                    "localhost",
                    "test",
                );
                ctx.send(
                    &from,
                    FrameworkRegisteredMessage {
                        framework_id: "F1".into(),
                        master_info: info,
                    },
                );
                let offer = |id: &str, res: &str| Offer {
                    id: id.into(),
                    framework_id: "F1".into(),
                    agent_id: "S1".into(),
                    hostname: "h".into(),
                    resources: res.parse().unwrap(),
                    attributes: Default::default(),
                    executor_ids: vec![],
                };
                ctx.send(
                    &from,
                    ResourceOffersMessage {
                        offers: vec![
                            offer("small", "cpus:0.05;mem:8"),
                            offer("big", "cpus:4;mem:1024"),
                        ],
                        pids: vec![],
                    },
                );
            },
        );
        h.on(
            |me: &mut FakeMaster, _ctx, _from, m: DeclineOffersMessage| {
                let _ = me.out.send(format!("decline {}", m.offer_ids[0]));
            },
        );
        h.on(
            |me: &mut FakeMaster, ctx: &mut Ctx<Self>, from: Pid, m: AcceptOffersMessage| {
                let _ = me.out.send(format!("accept {}", m.offer_ids[0]));
                let Some(OfferOperation::Launch { task_infos }) = m.operations.first() else {
                    return;
                };
                let task = &task_infos[0];
                let _ = me.out.send(format!(
                    "task {} {:?}",
                    task.task_id,
                    task.command.as_ref().and_then(|c| c.value.clone())
                ));
                if let Some(d) = task.container.as_ref().and_then(|c| c.docker.as_ref()) {
                    let _ = me.out.send(format!(
                        "image {} {:?}",
                        d.image,
                        task.container.as_ref().map(|c| c.kind)
                    ));
                }
                for (i, state) in [TaskState::Running, me.final_state].into_iter().enumerate() {
                    let mut status = TaskStatus::new(task.task_id.clone(), state)
                        .with_uuid(StatusUuid::from_u128(i as u128 + 1));
                    if state == TaskState::Failed {
                        status = status.with_message(
                            "Command exited with status 3\nLast lines of stderr:\nboom",
                        );
                    }
                    let update = StatusUpdate {
                        framework_id: "F1".into(),
                        executor_id: None,
                        agent_id: Some("S1".into()),
                        status,
                        timestamp: 0.0,
                        latest_state: None,
                    };
                    ctx.send(&from, StatusUpdateMessage { update, pid: None });
                }
            },
        );
        h.on(
            |me: &mut FakeMaster, _ctx, _from, m: StatusUpdateAcknowledgementMessage| {
                let _ = me.out.send(format!("ack {}", m.uuid));
            },
        );
        h.on(
            |me: &mut FakeMaster, _ctx, _from, _m: UnregisterFrameworkMessage| {
                let _ = me.out.send("unregister".into());
            },
        );
    }
}

async fn run_against(final_state: TaskState) -> (std::process::Output, Vec<String>) {
    run_with(final_state, &[]).await
}

async fn run_with(final_state: TaskState, extra: &[&str]) -> (std::process::Output, Vec<String>) {
    let node = Node::bind(NodeConfig::local()).await.unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    node.spawn(
        "master",
        FakeMaster {
            final_state,
            out: tx,
        },
    )
    .unwrap();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mesos-execute"))
        .arg(format!("--master={}", node.addr()))
        .args(["--name=hello", "--command=echo hi", "--env={\"A\":\"1\"}"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let out = libproc::testing::within(
        Duration::from_secs(30),
        "mesos-execute to exit",
        child.wait_with_output(),
    )
    .await
    .unwrap();
    node.settle().await;
    let mut seen = Vec::new();
    while let Ok(s) = rx.try_recv() {
        seen.push(s);
    }
    (out, seen)
}

#[actix_rt::test]
async fn finished_task_exits_0_and_prints_each_update() {
    let (out, seen) = run_against(TaskState::Finished).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Subscribed with ID F1"), "{stdout}");
    assert!(
        stdout.contains("Received status update TASK_RUNNING for task 'hello'"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Received status update TASK_FINISHED for task 'hello'"),
        "{stdout}"
    );
    assert!(seen.contains(&"decline small".to_string()), "{seen:?}");
    assert!(seen.contains(&"accept big".to_string()), "{seen:?}");
    assert!(
        seen.contains(&"task hello Some(\"echo hi\")".to_string()),
        "{seen:?}"
    );
    assert!(
        seen.iter().filter(|s| s.starts_with("ack ")).count() >= 1,
        "{seen:?}"
    );
}

#[actix_rt::test]
async fn failed_task_exits_1_and_prints_the_message() {
    let (out, _seen) = run_against(TaskState::Failed).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Received status update TASK_FAILED for task 'hello'"),
        "{stdout}"
    );
    assert!(
        stderr.contains("Task 'hello' ended in TASK_FAILED"),
        "{stderr}"
    );
    assert!(stderr.contains("boom"), "{stderr}");
}

#[actix_rt::test]
async fn docker_image_gives_the_task_a_docker_container() {
    let (out, seen) = run_with(TaskState::Finished, &["--docker_image=busybox:1.36"]).await;
    assert_eq!(out.status.code(), Some(0), "{seen:?}");
    assert!(
        seen.contains(&"image busybox:1.36 Some(Docker)".to_string()),
        "{seen:?}"
    );
    let out = execute(&[
        "--master=127.0.0.1:5050",
        "--name=t",
        "--command=true",
        "--docker_image=",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--docker_image"));
}

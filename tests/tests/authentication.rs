//! Authentication (issue 17) against real `mesos-master` and `mesos-agent` processes over
//! real TCP, with scheduler drivers in this test process: a master started with
//! `--authenticate_frameworks --authenticate_agents --credentials=…` admits the agent and
//! the framework that prove the right secret, refuses (and counts) a wrong secret and a
//! missing credential, and lets only a framework's own principal fail it over. No secret
//! shows in `/flags`.
//!
//! Build the binaries first: `cargo build --workspace --bins`.

use std::net::SocketAddr;
use std::time::Duration;

use cluster::procs::{free_port, get_json, wait_json};
use cluster::testkit::MultiCluster;
use frameworks::scheduler::recorder::{Recorder, SchedulerEvent};
use frameworks::scheduler::{self, MasterAddress, SchedulerConfig};
use libproc::testing::within;
use libproc::{Node, NodeConfig, Pid};
use proto::authentication::Credential;
use proto::{FrameworkId, FrameworkInfo};
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc::UnboundedReceiver;

const LIMIT: Duration = Duration::from_secs(30);

fn cred(principal: &str, secret: &str) -> Credential {
    Credential {
        principal: principal.into(),
        secret: secret.into(),
    }
}

fn count(v: &Value, name: &str) -> u64 {
    v[name].as_f64().unwrap_or(0.0) as u64
}

/// Starts a driver for `info` with `credential` and returns its events.
fn framework(
    node: &Node,
    master: SocketAddr,
    info: FrameworkInfo,
    credential: Option<Credential>,
) -> UnboundedReceiver<SchedulerEvent> {
    let (recorder, events) = Recorder::new();
    let config = SchedulerConfig {
        credential,
        registration_backoff: Duration::from_millis(100),
        ..Default::default()
    };
    let master = Pid::new("master", master);
    scheduler::run_with(
        node,
        MasterAddress::Standalone(master),
        info,
        recorder,
        config,
    )
    .unwrap();
    events
}

/// The first registration or error the driver reports.
async fn outcome(events: &mut UnboundedReceiver<SchedulerEvent>) -> SchedulerEvent {
    within(LIMIT, "the framework to register or fail", async {
        loop {
            if let e @ (SchedulerEvent::Registered(..)
            | SchedulerEvent::Reregistered(..)
            | SchedulerEvent::Error(_)) = events.recv().await.expect("the driver went away")
            {
                return e;
            }
        }
    })
    .await
}

fn error_text(e: SchedulerEvent) -> String {
    match e {
        SchedulerEvent::Error(m) => m,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[actix_rt::test]
async fn only_the_right_secret_registers_and_only_its_principal_fails_a_framework_over() {
    let dir = cluster::testkit::TempDir::new("auth-creds");
    let credentials = dir.path().join("credentials.json");
    std::fs::write(
        &credentials,
        r#"{"credentials":[{"principal":"ops","secret":"ops-s3cret"},
            {"principal":"dev","secret":"dev-s3cret"},
            {"principal":"agent","secret":"agent-s3cret"}]}"#,
    )
    .unwrap();
    let agent_credential = dir.path().join("agent-credential");
    std::fs::write(&agent_credential, "agent agent-s3cret\n").unwrap();
    let wrong_credential = dir.path().join("wrong-credential");
    std::fs::write(&wrong_credential, "agent guessed\n").unwrap();

    // The agent with the right credential registers (start_with waits for it).
    let c = MultiCluster::start_with(
        "auth",
        1,
        "cpus:2;mem:1024;disk:1024",
        |_| {
            vec![
                "--authenticate_frameworks".into(),
                "--authenticate_agents".into(),
                format!("--credentials=file://{}", credentials.display()),
            ]
        },
        &[format!("--credential={}", agent_credential.display())],
    )
    .await;

    // An agent with a wrong secret and one without a credential are refused, and counted.
    let mut others = Vec::new();
    for (name, flag) in [
        (
            "agent-wrong",
            Some(format!("--credential={}", wrong_credential.display())),
        ),
        ("agent-none", None),
    ] {
        let mut args = vec![
            c.master_arg(),
            format!("--port={}", free_port()),
            format!("--work_dir={}", c.dir.path().join(name).display()),
            "--resources=cpus:1;mem:256;disk:256".into(),
            "--registration_backoff_factor=100ms".into(),
        ];
        args.extend(flag);
        others.push(c.start_proc(name, "mesos-agent", &args));
    }
    wait_json(
        c.master_addr,
        "/metrics/snapshot",
        LIMIT,
        "a failed agent authentication and a refused unauthenticated agent",
        |v| {
            count(v, "master/authentication_failures") >= 1
                && count(v, "master/registrations_refused_authentication") >= 1
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));

    // Frameworks, from this process over TCP.
    let node = Node::bind(NodeConfig::local()).await.unwrap();
    let info = |p: Option<&str>| {
        let mut i = FrameworkInfo::new("auth-test", frameworks::cli::current_user());
        i.principal = p.map(String::from);
        i.failover_timeout = 60.0;
        i
    };
    let mut ok = framework(
        &node,
        c.master_addr,
        info(Some("ops")),
        Some(cred("ops", "ops-s3cret")),
    );
    let id: FrameworkId = match outcome(&mut ok).await {
        SchedulerEvent::Registered(id, _) => id,
        other => panic!("the right secret did not register: {other:?}\n{}", c.logs()),
    };
    let wrong = error_text(
        outcome(&mut framework(
            &node,
            c.master_addr,
            info(Some("ops")),
            Some(cred("ops", "nope")),
        ))
        .await,
    );
    assert!(wrong.contains("refused authentication"), "{wrong}");
    let none = error_text(outcome(&mut framework(&node, c.master_addr, info(None), None)).await);
    assert!(none.contains("not authenticated"), "{none}");

    // Another principal cannot take the framework over with its id...
    let mut theirs = info(Some("dev"));
    theirs.id = Some(id.clone());
    let takeover = error_text(
        outcome(&mut framework(
            &node,
            c.master_addr,
            theirs,
            Some(cred("dev", "dev-s3cret")),
        ))
        .await,
    );
    assert!(takeover.contains("may not fail it over"), "{takeover}");
    // ... nor claim a principal it did not authenticate as.
    let mut claims = info(Some("ops"));
    claims.id = Some(id.clone());
    let claimed = error_text(
        outcome(&mut framework(
            &node,
            c.master_addr,
            claims,
            Some(cred("dev", "dev-s3cret")),
        ))
        .await,
    );
    assert!(claimed.contains("does not match"), "{claimed}");
    // Its own principal can (a scheduler failover).
    let mut mine = info(Some("ops"));
    mine.id = Some(id.clone());
    let mut failover = framework(&node, c.master_addr, mine, Some(cred("ops", "ops-s3cret")));
    match outcome(&mut failover).await {
        SchedulerEvent::Registered(got, _) => assert_eq!(got, id),
        SchedulerEvent::Reregistered(_) => {}
        other => panic!("the owner's failover was refused: {other:?}\n{}", c.logs()),
    }

    // One framework, still ops's; one agent; every refusal counted.
    let state = get_json(c.master_addr, "/master/state").await.unwrap();
    assert_eq!(state["activated_slaves"].as_u64(), Some(1), "{state}");
    let fws = state["frameworks"].as_array().unwrap();
    assert_eq!(fws.len(), 1, "{state}");
    assert_eq!(fws[0]["principal"].as_str(), Some("ops"), "{state}");
    let m = get_json(c.master_addr, "/metrics/snapshot").await.unwrap();
    assert!(count(&m, "master/authentication_failures") >= 2, "{m}");
    assert!(
        count(&m, "master/registrations_refused_authentication") >= 4,
        "{m}"
    );
    assert!(count(&m, "master/authentication_successes") >= 4, "{m}");

    // No secret in /flags.
    let flags = get_json(c.master_addr, "/master/flags").await.unwrap();
    assert!(!flags.to_string().contains("s3cret"), "{flags}");
    let flags = get_json(c.agent_addrs[0], "/flags").await.unwrap();
    assert!(!flags.to_string().contains("s3cret"), "{flags}");
    for mut p in others {
        p.kill();
    }
}

/// A cluster of real processes with `--authenticate_frameworks --authenticate_agents`:
/// frameworks `ops`/`dev` and the agents (credential `agent`) authenticate. The returned
/// directory holds the credential files (keep it alive).
async fn secured_cluster(prefix: &str) -> (MultiCluster, cluster::testkit::TempDir) {
    let dir = cluster::testkit::TempDir::new(&format!("{prefix}-creds"));
    let credentials = dir.path().join("credentials.json");
    std::fs::write(
        &credentials,
        r#"{"credentials":[{"principal":"ops","secret":"ops-s3cret"},
            {"principal":"dev","secret":"dev-s3cret"},
            {"principal":"agent","secret":"agent-s3cret"}]}"#,
    )
    .unwrap();
    let agent_credential = dir.path().join("agent-credential");
    std::fs::write(&agent_credential, "agent agent-s3cret\n").unwrap();
    let c = MultiCluster::start_with(
        prefix,
        1,
        "cpus:2;mem:1024;disk:1024",
        |_| {
            vec![
                "--authenticate_frameworks".into(),
                "--authenticate_agents".into(),
                format!("--credentials=file://{}", credentials.display()),
            ]
        },
        &[format!("--credential={}", agent_credential.display())],
    )
    .await;
    (c, dir)
}

/// The multi-process suite's end-to-end task, with authentication on: `mesos-execute`
/// authenticates as `ops` and runs `echo hello` to `TASK_FINISHED` on an agent that
/// authenticated too.
#[tokio::test]
async fn mesos_execute_runs_a_task_end_to_end_with_authentication_on() {
    let (c, _dir) = secured_cluster("auth-e2e").await;
    let mut exec = c.start_proc(
        "mesos-execute",
        "mesos-execute",
        &[
            c.master_arg(),
            "--name=hello".into(),
            "--command=echo hello".into(),
            "--principal=ops".into(),
            "--secret=ops-s3cret".into(),
        ],
    );
    let status = cluster::testkit::wait_exit(&mut exec, LIMIT)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", exec.log_text(), c.logs()));
    let out = exec.log_text();
    assert_eq!(status.code(), Some(0), "{out}\n{}", c.logs());
    assert!(out.contains("TASK_FINISHED"), "{out}");
    let m = get_json(c.master_addr, "/metrics/snapshot").await.unwrap();
    // The agent and the framework authenticated; nothing was refused.
    assert!(count(&m, "master/authentication_successes") >= 2, "{m}");
    assert_eq!(
        count(&m, "master/registrations_refused_authentication"),
        0,
        "{m}"
    );
    assert_eq!(count(&m, "master/messages_refused_connection"), 0, "{m}");
    let state = get_json(c.master_addr, "/master/state").await.unwrap();
    let fw = &state["completed_frameworks"][0];
    assert_eq!(fw["principal"].as_str(), Some("ops"), "{state}");
}

/// Launches `t1` (`sleep 1000`) on the first offer, declines the rest, reports statuses.
struct Sleeper {
    tx: tokio::sync::mpsc::UnboundedSender<proto::TaskStatus>,
    launched: bool,
}

impl scheduler::Scheduler for Sleeper {
    fn resource_offers(
        &mut self,
        d: &mut scheduler::SchedulerDriver<'_, '_, Self>,
        offers: Vec<proto::Offer>,
    ) {
        for o in offers {
            if self.launched {
                d.decline(o.id, proto::Filters::default());
                continue;
            }
            self.launched = true;
            let task = proto::TaskInfo::command_task(
                "t1",
                proto::TaskId::from("t1"),
                o.agent_id.clone(),
                "cpus:1;mem:64".parse().unwrap(),
                proto::CommandInfo::shell("sleep 1000"),
            );
            d.launch(vec![o.id], vec![task], proto::Filters::refuse(0.0));
        }
    }
    fn status_update(
        &mut self,
        _d: &mut scheduler::SchedulerDriver<'_, '_, Self>,
        status: &proto::TaskStatus,
    ) {
        let _ = self.tx.send(status.clone());
    }
}

async fn status_of(
    rx: &mut UnboundedReceiver<proto::TaskStatus>,
    state: proto::TaskState,
) -> proto::TaskStatus {
    within(LIMIT, "a task status", async {
        loop {
            let s = rx.recv().await.expect("the driver went away");
            if s.state == state {
                return s;
            }
        }
    })
    .await
}

/// PIDs bound to connections: with `--authenticate_frameworks`, a kill and a teardown
/// "from" the authenticated framework's PID, sent by an attacker over a raw socket (its
/// own connection), are dropped and counted; the task runs on, the framework stays, and
/// the real framework's own kill still works.
#[actix_rt::test]
async fn forged_calls_from_an_authenticated_framework_over_another_connection_change_nothing() {
    let (c, _dir) = secured_cluster("auth-bound").await;
    let node = Node::bind(NodeConfig::local()).await.unwrap();
    let (tx, mut statuses) = tokio::sync::mpsc::unbounded_channel();
    let mut info = FrameworkInfo::new("bound", frameworks::cli::current_user());
    info.principal = Some("ops".into());
    let handle = scheduler::run_with(
        &node,
        MasterAddress::Standalone(Pid::new("master", c.master_addr)),
        info,
        Sleeper {
            tx,
            launched: false,
        },
        SchedulerConfig {
            credential: Some(cred("ops", "ops-s3cret")),
            registration_backoff: Duration::from_millis(100),
            ..Default::default()
        },
    )
    .unwrap();
    let running = status_of(&mut statuses, proto::TaskState::Running).await;
    let state = get_json(c.master_addr, "/master/state").await.unwrap();
    let fw = &state["frameworks"][0];
    let framework_id = FrameworkId::from(fw["id"].as_str().unwrap());
    let framework_pid = handle.pid().to_string();
    assert_eq!(fw["pid"].as_str(), Some(framework_pid.as_str()), "{state}");

    // The attacker: its own connection, the framework's PID.
    let mut s = tokio::net::TcpStream::connect(c.master_addr).await.unwrap();
    s.write_all(&libproc::wire::handshake(handle.pid().addr()))
        .await
        .unwrap();
    let kill = proto::messages::KillTaskMessage {
        framework_id: framework_id.clone(),
        task_id: running.task_id.clone(),
        kill_policy: None,
    };
    let teardown = proto::messages::UnregisterFrameworkMessage {
        framework_id: framework_id.clone(),
    };
    for f in [
        forged_frame(&framework_pid, &kill),
        forged_frame(&framework_pid, &teardown),
    ] {
        s.write_all(&f).await.unwrap();
    }
    wait_json(
        c.master_addr,
        "/metrics/snapshot",
        LIMIT,
        "the two forgeries refused",
        |v| count(v, "master/messages_refused_connection") >= 2,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));

    // Nothing changed.
    let state = get_json(c.master_addr, "/master/state").await.unwrap();
    let fw = &state["frameworks"][0];
    assert_eq!(fw["active"].as_bool(), Some(true), "{state}");
    assert_eq!(
        fw["tasks"][0]["state"].as_str(),
        Some("TASK_RUNNING"),
        "{state}"
    );
    assert!(
        state["completed_frameworks"]
            .as_array()
            .is_none_or(|a| a.is_empty()),
        "{state}"
    );

    // The real framework, over its own connection, still kills its task.
    let task = running.task_id.clone();
    handle
        .process
        .call(move |p, ctx| p.with_driver(ctx, |_s, d| d.kill(task)))
        .await
        .unwrap_or_else(|_| panic!("the scheduler driver is gone"));
    status_of(&mut statuses, proto::TaskState::Killed).await;
    let m = get_json(c.master_addr, "/metrics/snapshot").await.unwrap();
    assert_eq!(count(&m, "master/messages_refused_connection"), 2, "{m}");
}

/// One frame to the master claiming `from`.
fn forged_frame<M: libproc::Message + serde::Serialize>(from: &str, m: &M) -> bytes::Bytes {
    let body = rmp_serde::to_vec_named(m).unwrap();
    libproc::wire::encode_frame_bytes(from, master::MASTER_ID, M::NAME, &body)
}

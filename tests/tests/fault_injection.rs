//! Live fault injection against real `mesos-master` and `mesos-agent` processes on loopback
//! TCP, driven by the `mesos-chaos` binary through the nodes' `/fault/rules` endpoints:
//! dropped status updates, dropped acknowledgements to the agent, a partitioned agent,
//! failing checkpoint writes, and the endpoint's refusal on a node started without
//! `--enable_fault_injection`.
//!
//! Build the binaries first: `cargo build --workspace --bins`.

use std::time::Duration;

use cluster::procs::{self, Proc};
use cluster::testkit::{require_bins, tail, wait_exit, MultiCluster};
use serde_json::Value;

/// Bound on anything a test waits for (generous: the machine may be loaded; a dropped
/// status update is retried 10 s after it was sent).
const LIMIT: Duration = Duration::from_secs(60);

const FAULTS: &str = "--enable_fault_injection";

/// Runs `mesos-chaos` with `args` and returns its output; panics if it fails.
fn chaos(args: &[&str]) -> String {
    require_bins(&["mesos-chaos"]);
    let out = std::process::Command::new(procs::bin("mesos-chaos"))
        .args(args)
        .output()
        .expect("mesos-chaos runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "mesos-chaos {args:?} failed:\n{text}");
    text
}

async fn metric(addr: std::net::SocketAddr, name: &str) -> f64 {
    procs::get_json(addr, "/metrics/snapshot")
        .await
        .ok()
        .and_then(|v| v[name].as_f64())
        .unwrap_or(0.0)
}

/// Waits (bounded) until `name` in `addr`'s metrics is at least `at_least`.
async fn wait_metric(
    addr: std::net::SocketAddr,
    name: &str,
    at_least: f64,
    logs: impl Fn() -> String,
) {
    let reached = async {
        while metric(addr, name).await < at_least {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    if tokio::time::timeout(LIMIT, reached).await.is_err() {
        panic!("{name} never reached {at_least}\n{}", logs());
    }
}

fn statuses_of(out: &str, state: &str) -> usize {
    out.lines().filter(|l| l.contains(state)).count()
}

async fn run_to_exit(p: &mut Proc, logs: impl Fn() -> String) -> (Option<i32>, String) {
    match wait_exit(p, LIMIT).await {
        Ok(status) => (status.code(), p.log_text()),
        Err(e) => panic!(
            "{e}\n--- {} ---\n{}\n{}",
            p.name,
            tail(&p.log_text(), 40),
            logs()
        ),
    }
}

/// Applies `scenario` to `cluster`'s master and runs a `mesos-execute` task under it: its
/// `TASK_FINISHED` must be held while the rule (which lists `rule_name`) stays, until the
/// master dropped `drops` messages, then arrive exactly once after `mesos-chaos clear`.
async fn task_finishes_once_the_rule_goes(
    cluster: &MultiCluster,
    scenario: &str,
    rule_name: &str,
    drops: f64,
) {
    let master = cluster.master_addr.to_string();
    let out = chaos(&["scenario", scenario, &format!("--master={master}")]);
    assert!(out.contains("\"id\""), "{out}");
    let mut exec = cluster.start_proc(
        "mesos-execute",
        "mesos-execute",
        &[
            cluster.master_arg(),
            format!("--name={scenario}"),
            "--command=true".into(),
        ],
    );
    wait_metric(cluster.master_addr, "fault/messages_dropped", drops, || {
        cluster.logs()
    })
    .await;
    assert!(
        exec.running(),
        "mesos-execute must still wait:\n{}",
        exec.log_text()
    );
    assert_eq!(statuses_of(&exec.log_text(), "TASK_FINISHED"), 0);
    let listed = chaos(&["list", &master]);
    assert!(listed.contains(rule_name), "{listed}");
    chaos(&["clear", &master]);
    // The agent retries its unacknowledged updates; the task finishes, reported once.
    let (code, out) = run_to_exit(&mut exec, || cluster.logs()).await;
    assert_eq!(code, Some(0), "{out}\n{}", cluster.logs());
    assert_eq!(statuses_of(&out, "TASK_FINISHED"), 1, "{out}");
    assert_eq!(metric(cluster.master_addr, "fault/rules_active").await, 0.0);
}

#[tokio::test]
async fn dropped_status_updates_hold_task_finished_until_the_rule_goes_and_it_arrives_once() {
    let cluster = MultiCluster::start_with(
        "fault-drop-updates",
        1,
        "cpus:2;mem:1024;disk:1024",
        |_| vec![FAULTS.into()],
        &[],
    )
    .await;
    // The master drops the agent's updates: the framework hears nothing meanwhile.
    let name = "mesos.internal.StatusUpdateMessage";
    task_finishes_once_the_rule_goes(&cluster, "drop-status-updates", name, 1.0).await;
}

#[tokio::test]
async fn acknowledgements_dropped_on_the_way_to_the_agent_are_retried_and_arrive_once_lifted() {
    // Short retries: the agent re-sends an unacknowledged update after 1 s, then 2 s.
    let retries = [
        "--status_update_retry_interval_min=1secs".to_string(),
        "--status_update_retry_interval_max=2secs".to_string(),
    ];
    let cluster = MultiCluster::start_with(
        "fault-drop-acks",
        1,
        "cpus:2;mem:1024;disk:1024",
        |_| vec![FAULTS.into()],
        &retries,
    )
    .await;
    // The scheduler acknowledges the task's first update, and a retry of it; the master
    // relays neither ack, so the agent holds TASK_FINISHED behind the unacknowledged one.
    let name = "mesos.internal.StatusUpdateAcknowledgementMessage";
    task_finishes_once_the_rule_goes(&cluster, "drop-acknowledgements", name, 2.0).await;
}

#[tokio::test]
async fn a_partitioned_agent_is_marked_unreachable_and_reregisters_when_healed() {
    let cluster = MultiCluster::start_with(
        "fault-partition",
        1,
        "cpus:1;mem:512;disk:512",
        |_| {
            vec![
                FAULTS.into(),
                "--agent_ping_timeout=1secs".into(),
                "--max_agent_ping_timeouts=2".into(),
            ]
        },
        &[FAULTS.into()],
    )
    .await;
    let (master, agent) = (
        cluster.master_addr.to_string(),
        cluster.agent_addrs[0].to_string(),
    );
    chaos(&[
        "scenario",
        "partition-agent",
        &format!("--master={master}"),
        &format!("--agent={agent}"),
    ]);
    procs::wait_json(
        cluster.master_addr,
        "/master/state",
        LIMIT,
        "the agent unreachable",
        |s| s["unreachable_slaves"] == 1 && s["activated_slaves"] == 0,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));
    assert!(metric(cluster.master_addr, "fault/messages_partitioned").await >= 1.0);
    chaos(&["clear", &master, &agent]);
    let state: Value = procs::wait_json(
        cluster.master_addr,
        "/master/state",
        LIMIT,
        "the agent registered again",
        |s| s["activated_slaves"] == 1,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));
    assert_eq!(state["unreachable_slaves"], 0, "{state}");
}

/// A failed checkpoint write stops the agent, as Mesos aborts it, before it acts on what
/// it could not record; the binary exits with a failure so that a supervisor restarts it
/// (and it recovers from its last good checkpoint).
#[tokio::test]
async fn a_failed_checkpoint_write_stops_the_agent_with_a_failure() {
    let mut cluster = MultiCluster::start_with(
        "fault-checkpoint",
        1,
        "cpus:1;mem:512;disk:512",
        |_| Vec::new(),
        &[FAULTS.into()],
    )
    .await;
    let agent = cluster.agent_addrs[0];
    chaos(&[
        "scenario",
        "fail-checkpoints",
        &format!("--agent={agent}"),
        "--count=1000",
    ]);
    let mut exec = cluster.start_proc(
        "mesos-execute",
        "mesos-execute",
        &[
            cluster.master_arg(),
            "--name=unsaved".into(),
            "--command=true".into(),
            "--checkpoint".into(),
        ],
    );
    let status = wait_exit(&mut cluster.agents[0], LIMIT)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));
    assert_eq!(status.code(), Some(1), "{}", cluster.logs());
    exec.kill();
    let log = cluster.agents[0].log_text();
    assert!(
        log.lines()
            .any(|l| l.contains("failed to checkpoint") && l.contains("fault injection")),
        "the agent logs the failed checkpoint:\n{}",
        tail(&log, 40)
    );
    assert!(
        log.contains("a checkpoint write failed: the agent stops"),
        "{}",
        tail(&log, 40)
    );
    // Nothing of the run reached the disk.
    let updates = cluster::testkit::find_files(&cluster.agent_work_dir(1), "task.updates");
    assert!(updates.is_empty(), "{updates:?}");
}

#[tokio::test]
async fn the_endpoint_refuses_on_a_master_without_the_flag() {
    let cluster = MultiCluster::start("fault-off", 0, "cpus:1;mem:512;disk:512").await;
    let (status, body) = libproc::testing::http_get(cluster.master_addr, "/fault/rules")
        .await
        .unwrap();
    assert_eq!(status, 403);
    assert!(body.contains("--enable_fault_injection"), "{body}");
    require_bins(&["mesos-chaos"]);
    let out = std::process::Command::new(procs::bin("mesos-chaos"))
        .args(["list", &cluster.master_addr.to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("403"));
    let help = std::process::Command::new(procs::bin("mesos-master"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("--enable_fault_injection"));
}

/// The executor's own address, from the `registering with the agent ... pid=...` line of
/// its sandbox `stdout` (waiting for it, bounded).
async fn executor_addr(cluster: &MultiCluster) -> std::net::SocketAddr {
    let start = std::time::Instant::now();
    loop {
        let outs = cluster::testkit::find_files(&cluster.agent_work_dir(1), "stdout");
        let pid = outs.iter().find_map(|p| {
            let text = std::fs::read_to_string(p).ok()?;
            let line = text
                .lines()
                .find(|l| l.contains("registering with the agent"))?;
            let pid = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("pid="))?;
            pid.parse::<libproc::Pid>().ok()
        });
        if let Some(pid) = pid {
            return pid.addr();
        }
        if start.elapsed() > LIMIT {
            panic!("no executor registered\n{}", cluster.logs());
        }
        // Polling a file of a process we do not control.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn executors_launched_by_an_agent_with_the_flag_serve_fault_rules_too() {
    let cluster = MultiCluster::start_with(
        "fault-executor",
        1,
        "cpus:1;mem:512;disk:512",
        |_| Vec::new(),
        &[FAULTS.into()],
    )
    .await;
    // The task runs until the test creates `go` in its sandbox.
    let mut exec = cluster.start_proc(
        "mesos-execute",
        "mesos-execute",
        &[
            cluster.master_arg(),
            "--name=waits".into(),
            "--command=until [ -e go ]; do sleep 0.05; done".into(),
        ],
    );
    let executor = executor_addr(&cluster).await;
    let (status, body) = libproc::testing::http_get(executor, "/fault/rules")
        .await
        .unwrap();
    assert_eq!(status, 200, "the executor refuses /fault/rules: {body}");
    // A rule on the executor acts on what it sends: its TASK_FINISHED arrives late.
    chaos(&[
        "add",
        &executor.to_string(),
        r#"{"kind":"delay","name":"mesos.internal.StatusUpdateMessage","delay_ms":2000}"#,
    ]);
    let stdout = cluster::testkit::find_files(&cluster.agent_work_dir(1), "stdout");
    let sandbox = stdout[0].parent().expect("a sandbox").to_path_buf();
    std::fs::write(sandbox.join("go"), b"").unwrap();
    wait_metric(executor, "fault/messages_delayed", 1.0, || cluster.logs()).await;
    let (code, out) = run_to_exit(&mut exec, || cluster.logs()).await;
    assert_eq!(code, Some(0), "{out}\n{}", cluster.logs());
    assert_eq!(statuses_of(&out, "TASK_FINISHED"), 1, "{out}");
}

//! Multi-process integration tests: the built binaries (`mesos-master`, `mesos-agent`,
//! `mesos-local`, `mesos-execute`, `test-framework`) run as real OS processes on loopback
//! TCP with free ports and per-test scratch directories.
//!
//! Build the binaries first: `cargo build --workspace --bins`.

use std::time::{Duration, Instant};

use cluster::procs::{self, Proc};
use cluster::testkit::{
    find_files, require_bins, start_server, tail, wait_exit, MultiCluster, TempDir,
};
use serde_json::Value;

/// Bound on anything a test waits for (generous: the machine may be loaded).
const LIMIT: Duration = Duration::from_secs(30);

/// Runs `p` to completion (bounded) and returns its exit code and output, or panics with
/// the cluster's logs.
async fn run_to_exit(
    p: &mut Proc,
    limit: Duration,
    cluster_logs: impl Fn() -> String,
) -> (Option<i32>, String) {
    match wait_exit(p, limit).await {
        Ok(status) => (status.code(), p.log_text()),
        Err(e) => panic!(
            "{e}\n--- {} output ---\n{}\n{}",
            p.name,
            tail(&p.log_text(), 40),
            cluster_logs()
        ),
    }
}

/// The task `task_id` among the frameworks and completed frameworks of `/master/state`.
fn find_task<'a>(state: &'a Value, task_id: &str) -> Option<(&'a Value, &'a Value)> {
    for key in ["frameworks", "completed_frameworks"] {
        for f in state[key].as_array().into_iter().flatten() {
            for list in ["tasks", "completed_tasks", "unreachable_tasks"] {
                if let Some(t) = f[list]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|t| t["id"] == task_id)
                {
                    return Some((f, t));
                }
            }
        }
    }
    None
}

/// Whether `state` holds a completed framework whose completed task `task_id` finished.
fn completed_framework_with_finished_task(state: &Value, task_id: &str) -> bool {
    state["completed_frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|f| {
            f["completed_tasks"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|t| t["id"] == task_id && t["state"] == "TASK_FINISHED")
        })
}

#[tokio::test]
async fn mesos_execute_runs_echo_on_a_two_agent_cluster() {
    let cluster = MultiCluster::start("execute-echo", 2, "cpus:2;mem:1024;disk:1024").await;
    let mut exec = cluster.start_proc(
        "mesos-execute",
        "mesos-execute",
        &[
            cluster.master_arg(),
            "--name=hello".into(),
            "--command=echo hello".into(),
        ],
    );
    let (code, out) = run_to_exit(&mut exec, LIMIT, || cluster.logs()).await;
    assert_eq!(
        code,
        Some(0),
        "mesos-execute failed:\n{out}\n{}",
        cluster.logs()
    );
    assert!(
        out.contains("TASK_FINISHED"),
        "no TASK_FINISHED in the output:\n{out}"
    );

    // The framework unregistered on exit; the master keeps it among the completed ones.
    let state = procs::wait_json(
        cluster.master_addr,
        "/master/state",
        LIMIT,
        "a completed framework with task 'hello' TASK_FINISHED",
        |s| completed_framework_with_finished_task(s, "hello"),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));
    let (framework, task) = find_task(&state, "hello").expect("task 'hello' in /master/state");
    assert_eq!(framework["name"], "mesos-execute instance");
    assert_eq!(framework["active"], false);
    let states: Vec<&str> = task["statuses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["state"].as_str())
        .collect();
    assert_eq!(
        states.last(),
        Some(&"TASK_FINISHED"),
        "statuses: {states:?}"
    );
    assert_eq!(state["activated_slaves"], 2);

    // The agent that ran it has `hello` in the executor's sandbox stdout.
    let agent_id = task["slave_id"]
        .as_str()
        .expect("the task's agent id")
        .to_string();
    let sandboxes: Vec<_> = (1..=2)
        .flat_map(|i| find_files(&cluster.agent_work_dir(i), "stdout"))
        .filter(|p| p.to_string_lossy().contains("/executors/hello/runs/"))
        .collect();
    assert_eq!(
        sandboxes.len(),
        1,
        "one sandbox for task 'hello': {sandboxes:?}"
    );
    assert!(
        sandboxes[0]
            .to_string_lossy()
            .contains(&format!("/slaves/{agent_id}/")),
        "{sandboxes:?} vs {agent_id}"
    );
    let stdout = std::fs::read_to_string(&sandboxes[0]).unwrap_or_default();
    assert!(
        stdout.lines().any(|l| l == "hello"),
        "sandbox stdout lacks 'hello':\n{stdout}"
    );

    // The agent's own /state names the same sandbox for the completed executor.
    let i = (0..2)
        .find(|i| sandboxes[0].starts_with(cluster.agent_work_dir(i + 1)))
        .expect("the sandbox is under an agent's work_dir");
    let agent_state = procs::get_json(cluster.agent_addrs[i], "/state")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(agent_state["id"], agent_id.as_str());
    let dirs: Vec<String> = ["frameworks", "completed_frameworks"]
        .iter()
        .flat_map(|k| agent_state[*k].as_array().cloned().unwrap_or_default())
        .flat_map(|f| {
            ["executors", "completed_executors"]
                .iter()
                .flat_map(|k| f[*k].as_array().cloned().unwrap_or_default())
                .collect::<Vec<_>>()
        })
        .filter(|e| e["id"] == "hello")
        .filter_map(|e| e["directory"].as_str().map(String::from))
        .collect();
    assert_eq!(
        dirs,
        vec![sandboxes[0]
            .parent()
            .expect("sandbox dir")
            .display()
            .to_string()]
    );
}

#[tokio::test]
async fn mesos_execute_reports_a_failing_command() {
    let cluster = MultiCluster::start("execute-fail", 2, "cpus:2;mem:1024;disk:1024").await;
    let mut exec = cluster.start_proc(
        "mesos-execute",
        "mesos-execute",
        &[
            cluster.master_arg(),
            "--name=doomed".into(),
            "--command=echo first-complaint >&2; echo second-complaint >&2; exit 3".into(),
        ],
    );
    let (code, out) = run_to_exit(&mut exec, LIMIT, || cluster.logs()).await;
    assert_eq!(
        code,
        Some(1),
        "mesos-execute should exit 1 for a failed task:\n{out}"
    );
    assert!(
        out.contains("Task 'doomed' ended in TASK_FAILED"),
        "no failure line:\n{out}"
    );
    assert!(
        out.contains("exited with status 3"),
        "no exit reason:\n{out}"
    );
    assert!(
        out.contains("first-complaint") && out.contains("second-complaint"),
        "stderr lines missing:\n{out}"
    );
    let state = procs::wait_json(
        cluster.master_addr,
        "/master/state",
        LIMIT,
        "task 'doomed' TASK_FAILED",
        |s| find_task(s, "doomed").is_some_and(|(_, t)| t["state"] == "TASK_FAILED"),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));
    assert!(find_task(&state, "doomed").is_some());
}

/// Runs `test-framework` with 1000 `true` tasks of `task_resources` over 3 agents of
/// `cpus:8;mem:8192` and checks it ends with every task finished exactly once (an agent's retry of an
/// update whose acknowledgement was slow is allowed: Mesos delivers updates at least once).
async fn thousand_tasks(prefix: &str, task_resources: &str) {
    let cluster = MultiCluster::start(prefix, 3, "cpus:8;mem:8192;disk:1024").await;
    let started = Instant::now();
    let mut fw = cluster.start_proc(
        "test-framework",
        "test-framework",
        &[
            cluster.master_arg(),
            "--num_tasks=1000".into(),
            "--command=true".into(),
            format!("--task_resources={task_resources}"),
        ],
    );
    // A bound against a hang, not a speed check: launch throughput is measured by the
    // launch benchmark (BENCHMARKS.md), and this machine may be busy.
    let (code, out) = run_to_exit(&mut fw, Duration::from_secs(180), || cluster.logs()).await;
    let elapsed = started.elapsed();
    eprintln!("test-framework ran 1000 tasks of {task_resources} over 3 agents in {elapsed:?}");
    let last = out
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_default();
    let summary: Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("no JSON summary ({e}):\n{}", tail(&out, 20)));
    let failures: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("TASK_FAILED") || l.contains("TASK_LOST"))
        .collect();
    assert_eq!(
        code,
        Some(0),
        "test-framework failed: {summary}\n{failures:#?}\n{}",
        tail(&out, 5)
    );
    assert_eq!(summary["finished"], 1000, "{summary}");
    assert_eq!(summary["duplicate_states"], 0, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
    // Every agent took part.
    let state = procs::get_json(cluster.master_addr, "/master/state")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (framework, _) = find_task(&state, "0").expect("task 0 in /master/state");
    let mut agents: Vec<&str> = framework["completed_tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["slave_id"].as_str())
        .collect();
    agents.sort();
    agents.dedup();
    assert_eq!(agents.len(), 3, "tasks ran on {agents:?}");
}

/// 1000 tasks, up to 480 in flight (160 per agent) on 2 cores. This load once exposed a
/// race (an executor that exited before the agent read its terminal update had its
/// finished task reported TASK_FAILED); each task must finish exactly once.
#[tokio::test]
async fn test_framework_runs_1000_tasks_over_3_agents() {
    thousand_tasks("thousand", "cpus:0.05;mem:16").await;
}

#[tokio::test]
async fn mesos_local_with_two_agents_runs_mesos_execute() {
    require_bins(&["mesos-local", "mesos-execute", "mesos-executor"]);
    let dir = TempDir::new("mesos-local");
    let logs = dir.path().join("logs");
    let work_dir = dir.path().join("work");
    let (local, addr) = start_server(
        "mesos-local",
        "mesos-local",
        |p| {
            vec![
                "--num_slaves=2".into(),
                format!("--port={p}"),
                format!("--work_dir={}", work_dir.display()),
                "--resources=cpus:2;mem:1024;disk:1024".into(),
                "--allocation_interval=100ms".into(),
            ]
        },
        "/master/state",
        &logs,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let local_log = || format!("--- mesos-local log ---\n{}", tail(&local.log_text(), 40));
    procs::wait_json(addr, "/master/state", LIMIT, "2 activated agents", |s| {
        s["activated_slaves"] == 2
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", local_log()));
    let mut exec = Proc::start(
        "mesos-execute",
        "mesos-execute",
        &[
            format!("--master={addr}"),
            "--name=local-hello".into(),
            "--command=echo hello".into(),
        ],
        &logs,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (code, out) = run_to_exit(&mut exec, LIMIT, local_log).await;
    assert_eq!(
        code,
        Some(0),
        "mesos-execute failed:\n{out}\n{}",
        local_log()
    );
    let state = procs::wait_json(
        addr,
        "/master/state",
        LIMIT,
        "task 'local-hello' finished",
        |s| find_task(s, "local-hello").is_some_and(|(_, t)| t["state"] == "TASK_FINISHED"),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", local_log()));
    assert_eq!(state["activated_slaves"], 2, "{state}");
    assert_eq!(state["slaves"].as_array().map(Vec::len), Some(2));
    let stdout: Vec<_> = find_files(&work_dir, "stdout")
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("/executors/local-hello/"))
        .collect();
    assert_eq!(stdout.len(), 1, "{stdout:?}");
    let text = std::fs::read_to_string(&stdout[0]).unwrap_or_default();
    assert!(text.lines().any(|l| l == "hello"), "{text}");
    drop(local);
}

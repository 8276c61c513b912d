//! The stock `chronos-python` client (1.2.1, unchanged) against `chronos` on a real
//! multi-process cluster (`mesos-master`, `mesos-agent`): a job every 5 s and a dependent
//! child; the child runs after each parent run (checked against the master's own record of
//! the tasks); deleting stops both.
//!
//! Needs the workspace binaries (`cargo build --workspace --bins`) and the test virtualenv
//! (`scripts/python-env.sh`); skipped locally without the virtualenv, failed under CI.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use cluster::procs;
use cluster::testkit::{start_server, tail, MultiCluster};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(60);

fn python(py: &Path, addr: SocketAddr, code: &str) -> Value {
    let script = format!(
        "import json, chronos\nc = chronos.connect('{addr}')\n{code}\nprint(json.dumps(out))\n"
    );
    let out = Command::new(py)
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", py.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or("null");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// The master's tasks of framework `chronos` named `ChronosTask:<job>`: (task id, state,
/// timestamp of the first and last status).
fn tasks_of(state: &Value, job: &str) -> Vec<(String, String, f64, f64)> {
    let mut out = Vec::new();
    let name = format!("ChronosTask:{job}");
    for f in state["frameworks"].as_array().into_iter().flatten() {
        for t in f["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(f["completed_tasks"].as_array().into_iter().flatten())
        {
            if t["name"] != name.as_str() {
                continue;
            }
            let ts: Vec<f64> = t["statuses"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["timestamp"].as_f64())
                .collect();
            out.push((
                t["id"].as_str().unwrap_or_default().to_string(),
                t["state"].as_str().unwrap_or_default().to_string(),
                ts.iter().copied().fold(f64::INFINITY, f64::min),
                ts.iter().copied().fold(0.0, f64::max),
            ));
        }
    }
    out.sort_by(|a, b| a.2.total_cmp(&b.2));
    out
}

fn count(jobs: &Value, name: &str, field: &str) -> u64 {
    jobs.as_array()
        .into_iter()
        .flatten()
        .find(|j| j["name"] == name)
        .and_then(|j| j[field].as_u64())
        .unwrap_or(0)
}

#[tokio::test]
async fn chronos_python_adds_a_periodic_job_and_a_child_that_follows_it() {
    let Some(py) = libproc::testing::python_env("chronos_python_client") else {
        return;
    };
    let cluster = MultiCluster::start("chronos-py", 1, "cpus:4;mem:4096;disk:8192").await;
    let master = cluster.master_arg();
    let (mut chronos, addr) = start_server(
        "chronos",
        "chronos",
        |p| vec![master.clone(), format!("--http_port={p}")],
        "/ping",
        &cluster.log_dir(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));
    let logs = |c: &procs::Proc| {
        format!(
            "{}\n--- chronos ---\n{}",
            cluster.logs(),
            tail(&c.log_text(), 60)
        )
    };

    // Add both jobs with the stock client.
    let listed = python(
        &py,
        addr,
        r#"
c.add({"name": "parent", "command": "echo parent", "schedule": "R//PT5S",
       "owner": "ops@example.com", "disabled": False, "epsilon": "PT30S", "cpus": 0.1, "mem": 32})
c.add({"name": "child", "command": "echo child", "parents": ["parent"],
       "owner": "ops@example.com", "disabled": False, "cpus": 0.1, "mem": 32})
c.add({"name": "slowpoke", "command": "sleep 600", "schedule": "R1//PT1H", "retries": 0,
       "maxCompletionTime": 300, "owner": "o", "disabled": False, "mem": 32})
out = sorted(j["name"] for j in c.list())
"#,
    );
    assert_eq!(listed, serde_json::json!(["child", "parent", "slowpoke"]));
    // A bad schedule is refused with the reason, through the client too.
    let refused = python(
        &py,
        addr,
        r#"
import io, logging
log = io.StringIO()
logging.basicConfig(stream=log, level=logging.ERROR)
try:
    c.add({"name": "bad", "command": "x", "schedule": "R/tomorrow/PT5S", "owner": "o", "disabled": False})
    out = "accepted"
except chronos.ChronosAPIError as e:
    # The client logs the server's answer, then gives up on the (only) server.
    out = str(e) + " / " + log.getvalue()
"#,
    );
    assert!(
        refused
            .as_str()
            .is_some_and(|s| s.contains("'tomorrow' is not an ISO 8601 date-time")),
        "{refused}"
    );

    // Three runs of the parent, and the child after each.
    let jobs = procs::wait_json(
        addr,
        "/v1/scheduler/jobs",
        LIMIT,
        "3 parent and 3 child runs",
        |j| count(j, "parent", "successCount") >= 3 && count(j, "child", "successCount") >= 3,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", logs(&chronos)));
    assert_eq!(count(&jobs, "parent", "errorCount"), 0);
    // maxCompletionTime: the 600 s run was killed after 300 ms (no retries).
    procs::wait_json(addr, "/v1/scheduler/jobs", LIMIT, "slowpoke killed", |j| {
        count(j, "slowpoke", "errorCount") == 1 && count(j, "slowpoke", "running") == 0
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", logs(&chronos)));

    // Delete both with the client; then nothing of theirs runs again.
    let left = python(
        &py,
        addr,
        r#"
c.delete("child")
c.delete("parent")
c.delete("slowpoke")
out = [j["name"] for j in c.list()]
"#,
    );
    assert_eq!(left, serde_json::json!([]));
    let state = procs::get_json(cluster.master_addr, "/master/state")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let parents_at_delete = tasks_of(&state, "parent").len();
    let children_at_delete = tasks_of(&state, "child").len();
    // A sentinel job due 7 s from now: once it has run, more than one parent period has
    // passed since the deletion.
    let due = chrono::Utc::now() + chrono::Duration::seconds(7);
    let sentinel = format!(
        r#"c.add({{"name": "sentinel", "command": "true", "schedule": "R1/{}/PT1S", "owner": "o", "disabled": False, "mem": 32}})
out = True"#,
        due.format("%Y-%m-%dT%H:%M:%S%.3fZ")
    );
    python(&py, addr, &sentinel);
    procs::wait_json(addr, "/v1/scheduler/jobs", LIMIT, "the sentinel ran", |j| {
        count(j, "sentinel", "successCount") >= 1
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", logs(&chronos)));

    let state = procs::get_json(cluster.master_addr, "/master/state")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let parents = tasks_of(&state, "parent");
    let children = tasks_of(&state, "child");
    assert_eq!(
        parents.len(),
        parents_at_delete,
        "the parent ran after deletion"
    );
    assert_eq!(
        children.len(),
        children_at_delete,
        "the child ran after deletion"
    );
    // Every task finished; each child task started after a parent task finished, and
    // between two child tasks there was another parent run.
    for (id, st, _, _) in parents.iter().chain(children.iter()) {
        assert_eq!(st, "TASK_FINISHED", "{id}");
    }
    let mut prev_child_start = 0.0;
    for (id, _, start, _) in &children {
        let parent_ends = parents
            .iter()
            .filter(|(_, _, _, end)| *end <= *start && *end >= prev_child_start)
            .count();
        assert!(
            parent_ends >= 1,
            "child {id} started at {start} without a parent run since the previous child\nparents {parents:?}\nchildren {children:?}"
        );
        prev_child_start = *start;
    }
    assert!(
        children.len() + 1 >= parents.len() && children.len() <= parents.len(),
        "{} child runs for {} parent runs",
        children.len(),
        parents.len()
    );
    chronos.kill();
}

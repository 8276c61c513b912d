//! Operator tools against the built binaries, over real HTTP: the agent's v1 operator API
//! (GET_STATE, GET_CONTAINERS, LIST_FILES, READ_FILE, …) and container endpoints
//! (`/slave(1)/monitor/statistics`, `/slave(1)/containers`) on a running task, then v1
//! TEARDOWN of its framework; and on a master with a file registry: reservations made and
//! released through v1 and seen in `/master/state`, weights and quota updated through v1
//! and still there after the master restarts, and an agent marked gone shut down.
//!
//! Build the binaries first: `cargo build --workspace --bins`.

use std::net::SocketAddr;
use std::time::Duration;

use cluster::procs::{self, Proc};
use cluster::testkit::{self, MultiCluster, TempDir};
use serde_json::{json, Value};

const LIMIT: Duration = Duration::from_secs(30);

/// POSTs a v1 operator call to `addr`; returns status and body.
async fn v1(addr: SocketAddr, call: &Value) -> (u16, String) {
    libproc::testing::within(
        LIMIT,
        "v1 call",
        libproc::testing::http_request(addr, "POST", "/api/v1", call.to_string().as_bytes()),
    )
    .await
    .expect("HTTP exchange")
}

/// A getter's JSON answer.
async fn get(addr: SocketAddr, ty: &str) -> Value {
    let (status, body) = v1(addr, &json!({ "type": ty })).await;
    assert_eq!(status, 200, "{ty}: {body}");
    let v: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["type"], ty, "{v}");
    v
}

fn base64_decode(s: &str) -> Vec<u8> {
    proto::v1::base64::decode(s).expect("base64")
}

#[tokio::test]
async fn agent_operator_api_and_container_endpoints_follow_a_running_task() {
    let cluster = MultiCluster::start("v1-agent-ops", 1, "cpus:2;mem:1024;disk:512").await;
    let master = cluster.master_addr;
    let agent = cluster.agent_addrs[0];
    let _exec = cluster.start_proc(
        "mesos-execute",
        "mesos-execute",
        &[
            cluster.master_arg(),
            "--name=watched".into(),
            "--command=echo hello-sandbox; sleep 600".into(),
        ],
    );
    procs::wait_json(agent, "/state", LIMIT, "the task running", |s| {
        s["frameworks"][0]["executors"][0]["tasks"][0]["state"] == "TASK_RUNNING"
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));

    for ty in [
        "GET_HEALTH",
        "GET_VERSION",
        "GET_FLAGS",
        "GET_METRICS",
        "GET_LOGGING_LEVEL",
    ] {
        get(agent, ty).await;
    }
    let (status, body) = v1(agent, &json!({"type": "GET_AGENTS"})).await;
    assert_eq!(status, 400, "a master call on the agent: {body}");

    let state = get(agent, "GET_STATE").await;
    let s = &state["get_state"];
    let task = &s["get_tasks"]["launched_tasks"][0];
    assert_eq!(task["task_id"]["value"], "watched", "{state}");
    assert_eq!(task["state"], "TASK_RUNNING", "{state}");
    let fid = s["get_frameworks"]["frameworks"][0]["framework_info"]["id"]["value"]
        .as_str()
        .unwrap_or_else(|| panic!("{state}"))
        .to_string();
    assert_eq!(task["framework_id"]["value"], fid.as_str());
    let executor_id = s["get_executors"]["executors"][0]["executor_info"]["executor_id"]["value"]
        .as_str()
        .unwrap_or_else(|| panic!("{state}"))
        .to_string();
    assert_eq!(get(agent, "GET_TASKS").await["get_tasks"], s["get_tasks"]);

    let containers = get(agent, "GET_CONTAINERS").await;
    let c = &containers["get_containers"]["containers"][0];
    assert_eq!(c["framework_id"]["value"], fid.as_str(), "{containers}");
    assert_eq!(
        c["executor_id"]["value"],
        executor_id.as_str(),
        "{containers}"
    );
    assert!(
        c["resource_statistics"]["timestamp"]
            .as_f64()
            .unwrap_or(0.0)
            > 0.0,
        "{containers}"
    );

    // Mesos's statistics on the agent process's own path and at the top, and /containers.
    for path in [
        "/slave(1)/monitor/statistics",
        "/monitor/statistics",
        "/slave(1)/containers",
    ] {
        let stats = procs::get_json(agent, path).await.unwrap();
        let e = &stats[0];
        assert_eq!(e["framework_id"], fid.as_str(), "{path}: {stats}");
        assert_eq!(e["executor_id"], executor_id.as_str(), "{path}: {stats}");
        assert!(
            e["statistics"]["mem_limit_bytes"].as_u64().unwrap_or(0) > 0,
            "{path}: {stats}"
        );
        assert!(
            e["statistics"].get("cpus_user_time_secs").is_some(),
            "{path}: {stats}"
        );
    }

    // The sandbox through LIST_FILES and READ_FILE.
    let agent_state = procs::get_json(agent, "/state").await.unwrap();
    let sandbox = agent_state["frameworks"][0]["executors"][0]["directory"]
        .as_str()
        .unwrap()
        .to_string();
    let listing = v1(
        agent,
        &json!({"type": "LIST_FILES", "list_files": {"path": sandbox}}),
    )
    .await;
    assert_eq!(listing.0, 200, "{}", listing.1);
    let listing: Value = serde_json::from_str(&listing.1).unwrap();
    let stdout = format!("{sandbox}/stdout");
    assert!(
        listing["list_files"]["file_infos"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["path"] == stdout.as_str() && f["size"].is_u64()),
        "{listing}"
    );
    let read = |offset: u64, length: u64| json!({"type": "READ_FILE", "read_file": {"path": stdout, "offset": offset, "length": length}});
    let mut text = String::new();
    for _ in 0..200 {
        let (status, body) = v1(agent, &read(0, 1 << 40)).await;
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        text = String::from_utf8_lossy(&base64_decode(v["read_file"]["data"].as_str().unwrap()))
            .to_string();
        if text.contains("hello-sandbox") {
            break;
        }
        // The task writes when it likes: there is no event to wait for.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(text.contains("hello-sandbox"), "{text:?}");
    let at = text.find("hello").unwrap() as u64;
    let (_, body) = v1(agent, &read(at, 5)).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        base64_decode(v["read_file"]["data"].as_str().unwrap()),
        b"hello"
    );
    assert!(v["read_file"]["size"].as_u64().unwrap() >= at + 5);
    let (status, _) = v1(
        agent,
        &json!({"type": "READ_FILE", "read_file": {"path": "/etc/passwd", "offset": 0}}),
    )
    .await;
    // Outside the sandboxes reads as absent: the answer tells nothing about the host.
    assert_eq!(status, 404);
    let (status, body) = v1(
        agent,
        &json!({"type": "READ_FILE", "read_file": {"path": stdout}}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("read_file.offset"), "{body}");

    // TEARDOWN through the master's v1 API kills the task and completes the framework.
    let (status, body) = v1(
        master,
        &json!({"type": "TEARDOWN", "teardown": {"framework_id": {"value": fid}}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    procs::wait_json(
        master,
        "/master/state",
        LIMIT,
        "the framework completed",
        |s| {
            s["completed_frameworks"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|f| f["id"] == fid.as_str())
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));
}

fn start_master(port: u16, work_dir: &std::path::Path, logs: &std::path::Path, name: &str) -> Proc {
    Proc::start(
        name,
        "mesos-master",
        &[
            "--ip=127.0.0.1".into(),
            format!("--port={port}"),
            "--registry=file".into(),
            format!("--work_dir={}", work_dir.display()),
            "--allocation_interval=100ms".into(),
        ],
        logs,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn v1_changes_show_in_state_and_survive_a_master_restart() {
    testkit::require_bins(&["mesos-master", "mesos-agent"]);
    let dir = TempDir::new("v1-registry");
    let logs = dir.path().join("logs");
    let work = dir.path().join("master");
    let port = procs::free_port();
    let master = SocketAddr::from(([127, 0, 0, 1], port));
    let mut m1 = start_master(port, &work, &logs, "master-1");
    procs::wait_http(master, "/master/state", LIMIT)
        .await
        .unwrap();
    let agent_work = dir.path().join("agent");
    let (mut agent_proc, _agent) = testkit::start_server(
        "agent",
        "mesos-agent",
        |p| {
            vec![
                format!("--master={master}"),
                format!("--port={p}"),
                format!("--work_dir={}", agent_work.display()),
                "--resources=cpus:2;mem:1024;disk:512".into(),
            ]
        },
        "/state",
        &logs,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let state = procs::wait_json(master, "/master/state", LIMIT, "the agent", |s| {
        s["activated_slaves"] == 1
    })
    .await
    .unwrap();
    let agent_id = state["slaves"][0]["id"].as_str().unwrap().to_string();

    // Reserve, seen in /master/state; unreserve, gone again.
    let resources = json!([{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1},
        "reservations": [{"type": "DYNAMIC", "role": "ads"}]}]);
    let (status, body) = v1(
        master,
        &json!({"type": "RESERVE_RESOURCES", "reserve_resources": {
        "agent_id": {"value": agent_id}, "resources": resources}}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let state = procs::get_json(master, "/master/state").await.unwrap();
    assert_eq!(
        state["slaves"][0]["unreserved_resources"]["cpus"], 1.0,
        "{state}"
    );
    assert_eq!(state["slaves"][0]["resources"]["cpus"], 2.0, "{state}");
    let (status, body) = v1(
        master,
        &json!({"type": "UNRESERVE_RESOURCES", "unreserve_resources": {
        "agent_id": {"value": agent_id}, "resources": resources}}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let state = procs::get_json(master, "/master/state").await.unwrap();
    assert_eq!(
        state["slaves"][0]["unreserved_resources"]["cpus"], 2.0,
        "{state}"
    );

    // Weights and quota, written to the registry before the answer.
    let (status, body) = v1(
        master,
        &json!({"type": "UPDATE_WEIGHTS", "update_weights": {
        "weight_infos": [{"role": "ads", "weight": 3.0}]}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = v1(
        master,
        &json!({"type": "UPDATE_QUOTA", "update_quota": {
        "quota_configs": [{"role": "ads", "guarantees": {"cpus": {"value": 1}}}]}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let weights = get(master, "GET_WEIGHTS").await;
    let quota = get(master, "GET_QUOTA").await;

    // The master restarts on the same port and work_dir: it recovers them.
    m1.kill();
    let mut m2 = start_master(port, &work, &logs, "master-2");
    procs::wait_http(master, "/master/state", LIMIT)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", m2.log_text()));
    assert_eq!(get(master, "GET_WEIGHTS").await, weights);
    assert_eq!(get(master, "GET_QUOTA").await, quota);
    assert_eq!(
        quota["get_quota"]["status"]["configs"][0]["guarantees"]["cpus"]["value"], 1.0,
        "{quota}"
    );

    // The agent comes back to the new master; marked gone, it is told to shut down.
    procs::wait_json(master, "/master/state", LIMIT, "the agent back", |s| {
        s["activated_slaves"] == 1
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", agent_proc.log_text()));
    let (status, body) = v1(
        master,
        &json!({"type": "MARK_AGENT_GONE", "mark_agent_gone": {
        "agent_id": {"value": agent_id}}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let exited = testkit::wait_exit(&mut agent_proc, LIMIT).await;
    assert!(exited.is_ok(), "{exited:?}\n{}", agent_proc.log_text());
    let state = procs::get_json(master, "/master/state").await.unwrap();
    assert_eq!(state["slaves"], json!([]), "{state}");
    m2.kill();
}

//! HTTP authentication and authorization (issue 17) against real `mesos-master`,
//! `mesos-agent` and `mesos-execute` processes over real TCP and HTTP: with
//! `--authenticate_http_readonly --authenticate_http_readwrite
//! --authenticate_http_frameworks` a request without or with wrong HTTP Basic credentials
//! gets `401` with the `WWW-Authenticate` challenge and the right ones get through; the
//! v1 scheduler API subscribes as the Basic principal; `--acls` refuses a task as a user
//! its principal may not run as (`TASK_ERROR`), a registration in a role it may not use
//! (framework error), a teardown (`403`), and hides frameworks and tasks from a viewer who
//! may not see them. No secret shows in `/flags`.
//!
//! Build the binaries first: `cargo build --workspace --bins`.

use std::net::SocketAddr;
use std::time::Duration;

use cluster::testkit::{require_bins, start_server, wait_exit, TempDir};
use libproc::testing::{http_exchange, within, HttpStream};
use proto::http_authentication::basic_header;
use serde_json::{json, Value};

const LIMIT: Duration = Duration::from_secs(30);

/// Who sends a request: `None` sends no `Authorization` header.
type As<'a> = Option<(&'a str, &'a str)>;

const OPS: As = Some(("ops", "ops-s3cret"));
const VIEWER: As = Some(("viewer", "viewer-s3cret"));
const DEV: As = Some(("dev", "dev-s3cret"));
const WRONG: As = Some(("ops", "guessed"));

fn raw_request(addr: SocketAddr, method: &str, path: &str, body: &[u8], who: As) -> Vec<u8> {
    let auth = who
        .map(|(p, s)| format!("Authorization: {}\r\n", basic_header(p, s)))
        .unwrap_or_default();
    let mut raw = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    raw
}

/// One request; returns status, head and body.
async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
    who: As<'_>,
) -> (u16, String, String) {
    http_exchange(addr, &raw_request(addr, method, path, body, who))
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

async fn get(addr: SocketAddr, path: &str, who: As<'_>) -> (u16, String) {
    let (status, _, body) = call(addr, "GET", path, b"", who).await;
    (status, body)
}

async fn get_json(addr: SocketAddr, path: &str, who: As<'_>) -> Value {
    let (status, body) = get(addr, path, who).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

/// Polls `GET path` as `who` until `pred` holds (a process we do not control: there is no
/// event to wait for).
async fn wait_for(
    addr: SocketAddr,
    path: &str,
    who: As<'_>,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    within(LIMIT, what, async {
        loop {
            let (status, body) = get(addr, path, who).await;
            if status == 200 {
                if let Ok(v) = serde_json::from_str::<Value>(&body) {
                    if pred(&v) {
                        return v;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

fn assert_challenged(what: &str, status: u16, head: &str) {
    assert_eq!(status, 401, "{what}: {head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: basic realm=\"mesos\""),
        "{what}: {head}"
    );
}

#[actix_rt::test]
async fn http_basic_and_acls_guard_a_real_cluster() {
    require_bins(&[
        "mesos-master",
        "mesos-agent",
        "mesos-executor",
        "mesos-execute",
    ]);
    let dir = TempDir::new("http-security");
    let logs = dir.path().join("logs");
    let credentials = dir.path().join("credentials");
    std::fs::write(
        &credentials,
        "ops ops-s3cret\nviewer viewer-s3cret\ndev dev-s3cret\n",
    )
    .unwrap();
    let me = frameworks::cli::current_user();
    let acls = dir.path().join("acls.json");
    std::fs::write(
        &acls,
        json!({
            "register_frameworks": [
                {"principals": {"values": ["intruder"]}, "roles": {"type": "NONE"}}
            ],
            "run_tasks": [
                {"principals": {"values": ["ops"]}, "users": {"type": "ANY"}},
                {"principals": {"type": "NONE"}, "users": {"values": ["root", me]}}
            ],
            "teardown_frameworks": [
                {"principals": {"values": ["ops"]}, "framework_principals": {"type": "ANY"}},
                {"principals": {"type": "NONE"}, "framework_principals": {"type": "ANY"}}
            ],
            "view_frameworks": [
                {"principals": {"values": ["viewer"]}, "users": {"type": "NONE"}}
            ],
            "view_tasks": [
                {"principals": {"values": ["viewer"]}, "users": {"type": "NONE"}}
            ],
            "access_sandboxes": [
                {"principals": {"values": ["viewer"]}, "users": {"type": "NONE"}}
            ],
            "view_agents": [
                {"principals": {"values": ["dev"]}, "agents": {"type": "NONE"}}
            ],
            "get_endpoints": [
                {"principals": {"values": ["viewer"]}, "paths": {"type": "NONE"}}
            ],
            "update_weights": [
                {"principals": {"values": ["viewer"]}, "roles": {"type": "NONE"}}
            ],
            "update_quotas": [
                {"principals": {"values": ["viewer"]}, "roles": {"type": "NONE"}}
            ],
            "reserve_resources": [
                {"principals": {"values": ["viewer"]}, "roles": {"type": "NONE"}}
            ]
        })
        .to_string(),
    )
    .unwrap();

    let (_master, master) = start_server(
        "master",
        "mesos-master",
        |p| {
            vec![
                format!("--port={p}"),
                "--allocation_interval=100ms".into(),
                "--authenticate_http_readonly".into(),
                "--authenticate_http_readwrite".into(),
                "--authenticate_http_frameworks".into(),
                format!("--credentials=file://{}", credentials.display()),
                format!("--acls={}", acls.display()),
            ]
        },
        "/health",
        &logs,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let work_dir = dir.path().join("agent");
    let (_agent, agent) = start_server(
        "agent",
        "mesos-agent",
        |p| {
            vec![
                format!("--master={master}"),
                format!("--port={p}"),
                format!("--work_dir={}", work_dir.display()),
                "--resources=cpus:2;mem:1024;disk:1024".into(),
                "--authenticate_http_readonly".into(),
                "--authenticate_http_readwrite".into(),
                format!("--http_credentials={}", credentials.display()),
                format!("--acls={}", acls.display()),
            ]
        },
        "/health",
        &logs,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    wait_for(master, "/master/state", OPS, "the agent to register", |s| {
        s["activated_slaves"].as_u64() == Some(1)
    })
    .await;

    // Read-only endpoints, master and agent: 401 without or with wrong credentials.
    for (addr, path) in [
        (master, "/master/state"),
        (master, "/state"),
        (master, "/master/flags"),
        (master, "/metrics/snapshot"),
        (master, "/master/roles"),
        (agent, "/state"),
        (agent, "/flags"),
        (agent, "/metrics/snapshot"),
        (agent, "/files/browse?path=/"),
    ] {
        for who in [None, WRONG] {
            let (status, head, _) = call(addr, "GET", path, b"", who).await;
            assert_challenged(path, status, &head);
        }
        let (status, body) = get(addr, path, OPS).await;
        assert_ne!(status, 401, "{path} with the right credentials: {body}");
    }
    // Read-write: the operator API and teardown.
    let health = json!({"type": "GET_HEALTH"}).to_string();
    for addr in [master, agent] {
        let (status, head, _) = call(addr, "POST", "/api/v1", health.as_bytes(), None).await;
        assert_challenged("/api/v1", status, &head);
        let (status, _, body) = call(addr, "POST", "/api/v1", health.as_bytes(), OPS).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, head, _) = call(master, "POST", "/master/teardown", b"frameworkId=x", None).await;
    assert_challenged("/master/teardown", status, &head);
    // Open: health, version, the web UI, and the agent's executor API (Mesos guards it
    // with JWTs, not implemented).
    for (addr, path) in [
        (master, "/health"),
        (master, "/version"),
        (master, "/"),
        (agent, "/health"),
    ] {
        assert_eq!(get(addr, path, None).await.0, 200, "{path}");
    }
    let (status, _, _) = call(agent, "POST", "/api/v1/executor", b"{}", None).await;
    assert_ne!(status, 401);

    // run_tasks: ops may run as anyone; dev may not run as this user (root under CI).
    let execute = |name: &str, principal: &str, command: &str| {
        vec![
            format!("--master={master}"),
            format!("--name={name}"),
            format!("--command={command}"),
            format!("--principal={principal}"),
        ]
    };
    let mut denied = cluster::procs::Proc::start(
        "execute-dev",
        "mesos-execute",
        &execute("as-dev", "dev", "true"),
        &logs,
    )
    .unwrap();
    let status = wait_exit(&mut denied, LIMIT).await.unwrap();
    let out = denied.log_text();
    assert!(!status.success(), "{out}");
    assert!(
        out.contains("TASK_ERROR") && out.contains("REASON_TASK_UNAUTHORIZED"),
        "{out}"
    );
    assert!(out.contains("principal 'dev' may not run_tasks"), "{out}");

    // register_frameworks: intruder may use no role.
    let mut intruder = cluster::procs::Proc::start(
        "execute-intruder",
        "mesos-execute",
        &execute("as-intruder", "intruder", "true"),
        &logs,
    )
    .unwrap();
    let status = wait_exit(&mut intruder, LIMIT).await.unwrap();
    let out = intruder.log_text();
    assert!(!status.success(), "{out}");
    assert!(
        out.contains("Framework error") && out.contains("may not register_frameworks"),
        "{out}"
    );

    // ops runs a long task; the viewer sees neither it nor its framework.
    let _ops = cluster::procs::Proc::start(
        "execute-ops",
        "mesos-execute",
        &execute("as-ops", "ops", "sleep 60"),
        &logs,
    )
    .unwrap();
    let state = wait_for(master, "/master/state", OPS, "ops's task to run", |s| {
        s["frameworks"][0]["tasks"][0]["state"] == "TASK_RUNNING"
    })
    .await;
    let framework_id = state["frameworks"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(state["frameworks"][0]["principal"], "ops", "{state}");
    let hidden = get_json(master, "/master/state", VIEWER).await;
    assert_eq!(hidden["frameworks"], json!([]), "{hidden}");
    assert_eq!(hidden["activated_slaves"], 1, "{hidden}");
    assert_eq!(
        get_json(master, "/master/tasks", VIEWER).await["tasks"],
        json!([])
    );
    assert_eq!(
        get_json(master, "/master/frameworks", VIEWER).await["frameworks"],
        json!([])
    );
    assert_eq!(
        get_json(master, "/master/tasks", OPS).await["tasks"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    // view_agents: dev sees no agent, ops sees it.
    assert_eq!(
        get_json(master, "/master/slaves", DEV).await["slaves"],
        json!([])
    );
    assert_eq!(
        get_json(master, "/master/slaves", OPS).await["slaves"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let get_frameworks = json!({"type": "GET_FRAMEWORKS"}).to_string();
    let (_, _, body) = call(master, "POST", "/api/v1", get_frameworks.as_bytes(), VIEWER).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["get_frameworks"]["frameworks"].as_array().map(Vec::len),
        Some(0),
        "{v}"
    );

    // access_sandboxes: the viewer may not read the task's sandbox on the agent, ops may.
    let agent_state = get_json(agent, "/state", OPS).await;
    let sandbox = agent_state["frameworks"][0]["executors"][0]["directory"]
        .as_str()
        .unwrap_or_else(|| panic!("no sandbox in {agent_state}"))
        .to_string();
    let read = format!("/files/read?path={sandbox}/stdout&offset=0");
    let (status, body) = get(agent, &read, VIEWER).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("access_sandboxes"), "{body}");
    assert_eq!(get(agent, &read, OPS).await.0, 200);
    let read_file = json!({"type": "READ_FILE", "read_file": {"path": format!("{sandbox}/stdout"), "offset": 0}})
        .to_string();
    let (status, _, body) = call(agent, "POST", "/api/v1", read_file.as_bytes(), VIEWER).await;
    assert_eq!(status, 403, "{body}");

    // teardown_frameworks: the viewer may not, ops may.
    let form = format!("frameworkId={framework_id}");
    let (status, _, body) = call(master, "POST", "/master/teardown", form.as_bytes(), VIEWER).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("teardown_frameworks"), "{body}");
    let (status, _, body) = call(master, "POST", "/master/teardown", form.as_bytes(), OPS).await;
    assert_eq!(status, 200, "{body}");

    // get_endpoints, update_weights, update_quotas, reserve_resources: the viewer may not.
    for addr in [master, agent] {
        let (status, body) = get(addr, "/metrics/snapshot", VIEWER).await;
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("get_endpoints"), "{body}");
    }
    let weights = br#"[{"role": "ads", "weight": 2.0}]"#;
    let (status, _, body) = call(master, "PUT", "/weights", weights, VIEWER).await;
    assert_eq!(status, 403, "{body}");
    let (status, _, body) = call(master, "PUT", "/weights", weights, OPS).await;
    assert_eq!(status, 200, "{body}");
    let update_weights = json!({"type": "UPDATE_WEIGHTS",
        "update_weights": {"weight_infos": [{"role": "ads", "weight": 3.0}]}})
    .to_string();
    let (status, _, body) =
        call(master, "POST", "/api/v1", update_weights.as_bytes(), VIEWER).await;
    assert_eq!(status, 403, "{body}");
    let quota = json!({"type": "UPDATE_QUOTA", "update_quota": {"quota_configs": [
        {"role": "ads", "guarantees": {"cpus": {"value": 0.5}}}]}})
    .to_string();
    let (status, _, body) = call(master, "POST", "/api/v1", quota.as_bytes(), VIEWER).await;
    assert_eq!(status, 403, "{body}");
    let (status, _, body) = call(master, "POST", "/api/v1", quota.as_bytes(), OPS).await;
    assert_eq!(status, 200, "{body}");
    let agent_id = state["slaves"][0]["id"].as_str().unwrap();
    let reserve = format!(
        "slaveId={agent_id}&resources=%5B%7B%22name%22%3A%22cpus%22%2C%22type%22%3A%22SCALAR%22%2C%22scalar%22%3A%7B%22value%22%3A0.5%7D%2C%22role%22%3A%22ads%22%7D%5D"
    );
    let (status, _, body) = call(
        master,
        "POST",
        "/master/reserve",
        reserve.as_bytes(),
        VIEWER,
    )
    .await;
    assert_eq!(status, 403, "{body}");

    // The v1 scheduler API: unauthenticated is refused, a FrameworkInfo principal other
    // than the Basic one is refused, and the Basic principal is the framework's.
    let subscribe = |principal: Option<&str>| {
        let mut info = json!({"user": me, "name": "v1-auth"});
        if let Some(p) = principal {
            info["principal"] = json!(p);
        }
        json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}).to_string()
    };
    let body = subscribe(None);
    let (status, head, _) = call(master, "POST", "/api/v1/scheduler", body.as_bytes(), None).await;
    assert_challenged("/api/v1/scheduler", status, &head);
    let body = subscribe(Some("dev"));
    let (status, _, text) = call(master, "POST", "/api/v1/scheduler", body.as_bytes(), OPS).await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("does not match"), "{text}");
    let body = subscribe(None);
    let raw = raw_request(master, "POST", "/api/v1/scheduler", body.as_bytes(), OPS);
    let mut stream = HttpStream::open(master, &raw).await.unwrap();
    assert_eq!(stream.status(), 200, "{}", stream.head);
    let first = within(LIMIT, "SUBSCRIBED", stream.next_chunk())
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&first).contains("SUBSCRIBED"),
        "{}",
        String::from_utf8_lossy(&first)
    );
    wait_for(
        master,
        "/master/frameworks",
        OPS,
        "the v1 framework with principal ops",
        |v| {
            v["frameworks"].as_array().is_some_and(|l| {
                l.iter()
                    .any(|f| f["name"] == "v1-auth" && f["principal"] == "ops")
            })
        },
    )
    .await;

    // No secret in /flags (master and agent).
    for (addr, path) in [(master, "/master/flags"), (agent, "/flags")] {
        let flags = get_json(addr, path, OPS).await;
        assert!(!flags.to_string().contains("s3cret"), "{flags}");
    }
}

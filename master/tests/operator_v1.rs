//! The v1 operator API's calls that change the cluster, over real HTTP on a real TCP node:
//! UPDATE_WEIGHTS / GET_WEIGHTS, UPDATE_QUOTA / SET_QUOTA / REMOVE_QUOTA / GET_QUOTA,
//! RESERVE_RESOURCES / UNRESERVE_RESOURCES (the agent is told), TEARDOWN (and v0
//! `POST /master/teardown`), MARK_AGENT_GONE, GET/SET_LOGGING_LEVEL and `/logging/toggle`;
//! each through the core path its v0 endpoint takes, answered only once the registry
//! write is done; malformed calls are `400` with the reason and leave a kept-alive
//! connection serving the next call.

mod common;

use common::{config, FakeAgent, Mute};

use std::net::SocketAddr;
use std::time::Duration;

use libproc::filter::Observer;
use libproc::testing::within;
use libproc::{Match, Node, NodeConfig, Pid};
use master::registry::RegistryStore;
use master::{MasterConfig, MasterHandle};
use proto::messages::*;
use proto::{AgentId, AgentInfo, FrameworkInfo, Resources};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMIT: Duration = Duration::from_secs(30);

async fn next_of<M: libproc::Message>(obs: &mut Observer, what: &str) -> M {
    libproc::testing::next_message(obs, LIMIT, what).await
}

/// POSTs a v1 call; returns status and body.
async fn v1(addr: SocketAddr, call: Value) -> (u16, String) {
    http(addr, "POST", "/api/v1", call.to_string().as_bytes()).await
}

/// A v0 request; returns status and body.
async fn http(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    within(
        LIMIT,
        path,
        libproc::testing::http_request(addr, method, path, body),
    )
    .await
    .expect("HTTP exchange")
}

/// A getter's JSON answer.
async fn get(addr: SocketAddr, ty: &str) -> Value {
    let (status, body) = v1(addr, json!({ "type": ty })).await;
    assert_eq!(status, 200, "{ty}: {body}");
    let v: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["type"], ty, "{v}");
    v
}

struct Cluster {
    node: Node,
    handle: MasterHandle,
}

async fn start(config: MasterConfig) -> Cluster {
    let node = Node::bind(NodeConfig::local()).await.expect("bind");
    let handle = master::spawn(&node, config, None).expect("spawn");
    Cluster { node, handle }
}

impl Cluster {
    fn addr(&self) -> SocketAddr {
        self.node.addr()
    }

    async fn agent(&self, id: &str, resources: &str) -> (AgentId, Pid, Observer) {
        let pid = self.node.spawn(id, FakeAgent).unwrap().pid().clone();
        let mut mail = self.node.filters().observe(Match::any().to(&pid));
        self.node.send(
            &pid,
            self.handle.pid(),
            RegisterSlaveMessage {
                slave: AgentInfo::new("agent-host", resources.parse().unwrap()),
                checkpointed_resources: Resources::new(),
                version: "1.11.0".into(),
            },
        );
        let reg: SlaveRegisteredMessage = next_of(&mut mail, "SlaveRegistered").await;
        (reg.slave_id, pid, mail)
    }

    async fn framework(&self, id: &str) -> (String, Observer) {
        let pid = self.node.spawn(id, Mute).unwrap().pid().clone();
        let mut mail = self.node.filters().observe(Match::any().to(&pid));
        self.node.send(
            &pid,
            self.handle.pid(),
            RegisterFrameworkMessage {
                framework: FrameworkInfo::new(id, "tester"),
            },
        );
        let reg: FrameworkRegisteredMessage = next_of(&mut mail, "FrameworkRegistered").await;
        (reg.framework_id.to_string(), mail)
    }
}

fn cpus_for(role: &str, cpus: f64) -> Value {
    json!([{"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus},
            "reservations": [{"type": "DYNAMIC", "role": role}]}])
}

#[actix_rt::test]
async fn weights_and_quota_are_updated_and_read_back() {
    let c = start(config()).await;
    let addr = c.addr();
    let _agent = c.agent("slave(1)", "cpus:4;mem:1024").await;

    let (status, body) = v1(
        addr,
        json!({"type": "UPDATE_WEIGHTS", "update_weights": {
        "weight_infos": [{"role": "ads", "weight": 2.5}, {"role": "eng/web", "weight": 0.5}]}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let w = get(addr, "GET_WEIGHTS").await;
    assert_eq!(
        w["get_weights"]["weight_infos"],
        json!([{"role": "ads", "weight": 2.5}, {"role": "eng/web", "weight": 0.5}])
    );
    // The v0 endpoint reads the same weights.
    let (_, v0) = http(addr, "GET", "/weights", b"").await;
    assert_eq!(
        serde_json::from_str::<Value>(&v0).unwrap(),
        w["get_weights"]["weight_infos"]
    );
    let roles = get(addr, "GET_ROLES").await;
    assert!(
        roles["get_roles"]["roles"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "ads" && r["weight"] == 2.5),
        "{roles}"
    );
    // All or nothing: one bad weight changes none.
    let (status, body) = v1(
        addr,
        json!({"type": "UPDATE_WEIGHTS", "update_weights": {
        "weight_infos": [{"role": "ads", "weight": 9}, {"role": "x", "weight": -1}]}}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("must be a number > 0"), "{body}");
    assert_eq!(get(addr, "GET_WEIGHTS").await, w);

    // UPDATE_QUOTA: checked against the cluster unless forced, all or nothing.
    let quota = |role: &str, cpus: f64| json!({"role": role, "guarantees": {"cpus": {"value": cpus}}, "limits": {"cpus": {"value": cpus * 2.0}}});
    let (status, body) = v1(
        addr,
        json!({"type": "UPDATE_QUOTA", "update_quota": {
        "quota_configs": [quota("ads", 1.0), quota("eng", 99.0)]}}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    let q = get(addr, "GET_QUOTA").await;
    assert_eq!(q["get_quota"]["status"]["configs"], json!([]), "{q}");
    let (status, body) = v1(
        addr,
        json!({"type": "UPDATE_QUOTA", "update_quota": {
        "quota_configs": [quota("ads", 1.0), quota("eng", 2.0)]}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let q = get(addr, "GET_QUOTA").await;
    let configs = &q["get_quota"]["status"]["configs"];
    assert_eq!(configs[0]["role"], "ads", "{q}");
    assert_eq!(configs[0]["guarantees"]["cpus"]["value"], 1.0, "{q}");
    assert_eq!(configs[1]["limits"]["cpus"]["value"], 4.0, "{q}");
    assert_eq!(q["get_quota"]["status"]["infos"][1]["role"], "eng", "{q}");
    let (status, _) = v1(
        addr,
        json!({"type": "UPDATE_QUOTA", "update_quota": {
        "force": true, "quota_configs": [quota("big", 100.0)]}}),
    )
    .await;
    assert_eq!(status, 200);
    // A config without guarantees or limits removes the role's quota.
    let (status, _) = v1(
        addr,
        json!({"type": "UPDATE_QUOTA", "update_quota": {
        "quota_configs": [{"role": "big"}]}}),
    )
    .await;
    assert_eq!(status, 200);
    // The deprecated calls still work.
    let (status, body) = v1(addr, json!({"type": "SET_QUOTA", "set_quota": {"quota_request": {
        "role": "legacy", "guarantee": [{"name": "mem", "type": "SCALAR", "scalar": {"value": 64}}]}}}))
    .await;
    assert_eq!(status, 200, "{body}");
    let q = get(addr, "GET_QUOTA").await;
    let roles: Vec<&str> = q["get_quota"]["status"]["configs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["role"].as_str())
        .collect();
    assert_eq!(roles, ["ads", "eng", "legacy"], "{q}");
    let (status, _) = v1(
        addr,
        json!({"type": "REMOVE_QUOTA", "remove_quota": {"role": "legacy"}}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = v1(
        addr,
        json!({"type": "REMOVE_QUOTA", "remove_quota": {"role": "legacy"}}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    c.node.shutdown();
}

#[actix_rt::test]
async fn reservations_reach_the_agent_and_show_in_state() {
    let c = start(config()).await;
    let addr = c.addr();
    let (agent_id, _pid, mut mail) = c.agent("slave(1)", "cpus:4;mem:1024").await;
    let reserve = |ty: &str, key: &str, agent: &str| json!({"type": ty, (key): {"agent_id": {"value": agent}, "resources": cpus_for("ads", 1.0)}});

    let (status, body) = v1(
        addr,
        reserve("RESERVE_RESOURCES", "reserve_resources", "nope"),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("no agent nope"), "{body}");
    let (status, body) = v1(
        addr,
        reserve("RESERVE_RESOURCES", "reserve_resources", agent_id.as_str()),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let cp: CheckpointResourcesMessage = next_of(&mut mail, "CheckpointResources").await;
    assert_eq!(cp.resources.reserved("ads").scalar("cpus").as_f64(), 1.0);
    let agents = get(addr, "GET_AGENTS").await;
    let total = &agents["get_agents"]["agents"][0]["total_resources"];
    assert!(
        total
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "cpus" && r["reservations"][0]["role"] == "ads"),
        "{agents}"
    );
    let (_, roles) = http(addr, "GET", "/roles", b"").await;
    let roles: Value = serde_json::from_str(&roles).unwrap();
    let ads = roles["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "ads")
        .unwrap_or_else(|| panic!("{roles}"));
    assert_eq!(ads["reserved"]["cpus"], 1.0, "{roles}");
    let unreserve = reserve(
        "UNRESERVE_RESOURCES",
        "unreserve_resources",
        agent_id.as_str(),
    );

    let (status, body) = v1(addr, unreserve.clone()).await;
    assert_eq!(status, 202, "{body}");
    let cp: CheckpointResourcesMessage = next_of(&mut mail, "CheckpointResources").await;
    assert!(cp.resources.is_empty(), "{}", cp.resources);
    // Nothing is reserved any more: a second unreserve is a conflict.
    let (status, body) = v1(addr, unreserve).await;
    assert_eq!(status, 409, "{body}");
    c.node.shutdown();
}

/// Polls `cond` until it holds (bounded: panics after `limit`).
async fn until<F, Fut>(limit: Duration, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    within(limit, what, async {
        while !cond().await {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

#[actix_rt::test]
async fn teardown_by_v1_and_by_v0_removes_the_framework() {
    let c = start(config()).await;
    let addr = c.addr();
    let (f1, mut mail1) = c.framework("scheduler-1").await;
    let (f2, mut mail2) = c.framework("scheduler-2").await;

    let (status, body) = v1(
        addr,
        json!({"type": "TEARDOWN", "teardown": {"framework_id": {"value": "nope"}}}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("No framework found"), "{body}");
    let (status, body) = v1(
        addr,
        json!({"type": "TEARDOWN", "teardown": {"framework_id": {"value": f1}}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let err: FrameworkErrorMessage = next_of(&mut mail1, "FrameworkError").await;
    assert!(
        err.message.contains("torn down by the operator"),
        "{}",
        err.message
    );

    // v0: form field frameworkId, POST only.
    let (status, _) = http(addr, "GET", "/master/teardown", b"").await;
    assert_eq!(status, 405);
    let (status, body) = http(addr, "POST", "/master/teardown", b"x=1").await;
    assert_eq!(status, 400);
    assert!(body.contains("frameworkId"), "{body}");
    let form = format!("frameworkId={f2}");
    let (status, body) = http(addr, "POST", "/master/teardown", form.as_bytes()).await;
    assert_eq!(status, 200, "{body}");
    let _: FrameworkErrorMessage = next_of(&mut mail2, "FrameworkError").await;

    let fw = get(addr, "GET_FRAMEWORKS").await;
    assert_eq!(fw["get_frameworks"]["frameworks"], json!([]), "{fw}");
    let done: Vec<&str> = fw["get_frameworks"]["completed_frameworks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["framework_info"]["id"]["value"].as_str())
        .collect();
    assert!(
        done.contains(&f1.as_str()) && done.contains(&f2.as_str()),
        "{fw}"
    );
    c.node.shutdown();
}

#[actix_rt::test]
async fn an_agent_marked_gone_is_shut_down_and_removed() {
    let c = start(config()).await;
    let addr = c.addr();
    let (agent_id, _pid, mut mail) = c.agent("slave(1)", "cpus:4;mem:1024").await;
    let gone = |id: &str| json!({"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": {"value": id}}});

    let (status, body) = v1(addr, gone("nope")).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = v1(addr, gone(agent_id.as_str())).await;
    assert_eq!(status, 200, "{body}");
    let shut: ShutdownMessage = next_of(&mut mail, "Shutdown").await;
    assert_eq!(shut.message, "Agent has been marked gone");
    let agents = get(addr, "GET_AGENTS").await;
    assert_eq!(agents["get_agents"]["agents"], json!([]), "{agents}");
    // Again: nothing to do, still 200 (as Mesos).
    assert_eq!(v1(addr, gone(agent_id.as_str())).await.0, 200);
    let gone_list = c
        .handle
        .master
        .call(|m, _| m.core().registry().gone.keys().cloned().collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(gone_list, vec![agent_id]);
    c.node.shutdown();
}

/// Decide, write, then speak: a change is answered only once the registry holds it.
#[actix_rt::test]
async fn changes_are_answered_only_after_the_registry_write() {
    let store = RegistryStore::in_memory();
    let c = start(MasterConfig {
        registry_store: Some(store.clone()),
        ..config()
    })
    .await;
    let addr = c.addr();
    let (fid, _mail) = c.framework("scheduler-1").await;
    let written = store.writes();
    store.hold_writes();
    let answer = tokio::spawn(v1(
        addr,
        json!({"type": "UPDATE_WEIGHTS", "update_weights": {"weight_infos": [{"role": "ads", "weight": 3}]}}),
    ));
    let teardown = tokio::spawn(v1(
        addr,
        json!({"type": "TEARDOWN", "teardown": {"framework_id": {"value": fid}}}),
    ));
    // Both decided (the core changed) while their writes wait.
    until(LIMIT, "both calls decided", || async {
        c.handle
            .master
            .call(|m, _| m.core().weight("ads") == 3.0 && m.core().frameworks().is_empty())
            .await
            .unwrap_or(false)
    })
    .await;
    assert!(
        !answer.is_finished() && !teardown.is_finished(),
        "answered before the write"
    );
    store.release_writes();
    assert_eq!(answer.await.unwrap().0, 200);
    assert_eq!(teardown.await.unwrap().0, 200);
    assert!(store.writes() > written);
    c.node.shutdown();
}

#[actix_rt::test]
async fn logging_level_is_set_for_a_while_then_reverts() {
    let c = start(config()).await;
    let addr = c.addr();
    let level = || async {
        get(addr, "GET_LOGGING_LEVEL").await["get_logging_level"]["level"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(level().await, 0);
    let (status, body) = v1(
        addr,
        json!({"type": "SET_LOGGING_LEVEL", "set_logging_level": {
        "level": 2, "duration": {"nanoseconds": 3_600_000_000_000u64}}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(level().await, 2);
    // v0: level and duration are required.
    let (status, body) = http(addr, "GET", "/logging/toggle?level=1", b"").await;
    assert_eq!(status, 400);
    assert!(body.contains("duration"), "{body}");
    let (status, _) = http(addr, "POST", "/logging/toggle?level=1&duration=200ms", b"").await;
    assert_eq!(status, 200);
    assert_eq!(level().await, 1);
    // The latest toggle runs out and the level goes back to 0 (the hour-long one no
    // longer counts).
    until(LIMIT, "the level back to 0", || async {
        level().await == 0
    })
    .await;
    c.node.shutdown();
}

/// Malformed calls are 400 with the reason, and the connection (kept alive) serves the
/// next call.
#[actix_rt::test]
async fn malformed_calls_are_400_and_the_connection_goes_on() {
    let c = start(config()).await;
    let mut sock = tokio::net::TcpStream::connect(c.addr()).await.unwrap();
    let calls = [
        ("{oops".to_string(), 400, "not JSON"),
        (json!({"type": "TEARDOWN"}).to_string(), 400, "'teardown' is required"),
        (
            json!({"type": "RESERVE_RESOURCES", "reserve_resources": {"agent_id": {"value": "a"}, "resources": "cpus:1"}}).to_string(),
            400,
            "reserve_resources.resources",
        ),
        (json!({"type": "GET_CONTAINERS"}).to_string(), 400, "unsupported call type"),
        (json!({"type": "GET_HEALTH"}).to_string(), 200, "healthy"),
    ];
    for (body, want, says) in calls {
        let req = format!(
            "POST /api/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        sock.write_all(req.as_bytes()).await.unwrap();
        let (status, text) = within(
            LIMIT,
            "a response on the kept-alive connection",
            read_response(&mut sock),
        )
        .await;
        assert_eq!(status, want, "{body}: {text}");
        assert!(text.contains(says), "{body}: {text}");
    }
    c.node.shutdown();
}

/// A random JSON value of bounded depth, built from the names calls use.
fn random_json(rng: &mut libproc::rng::SplitMix64, depth: u32) -> Value {
    const KEYS: &[&str] = &[
        "value",
        "agent_id",
        "framework_id",
        "resources",
        "weight_infos",
        "role",
        "weight",
        "quota_configs",
        "guarantees",
        "limits",
        "force",
        "quota_request",
        "name",
        "type",
        "scalar",
        "reservations",
    ];
    let pick = rng.next_u64();
    match (pick % if depth == 0 { 5 } else { 7 }, depth) {
        (0, _) => Value::Null,
        (1, _) => json!(pick % 2 == 0),
        (2, _) => json!((rng.next_u64() as i64) >> (pick % 60)),
        (3, _) => json!(rng.next_f64() * 1e3 - 500.0),
        (4, _) => json!(["", "ads", "*", "cpus", "SCALAR", "a/b", "x"][(pick % 7) as usize]),
        (5, d) => Value::Array((0..pick % 4).map(|_| random_json(rng, d - 1)).collect()),
        (_, d) => Value::Object(
            (0..pick % 5)
                .map(|_| {
                    let k = KEYS[(rng.next_u64() % KEYS.len() as u64) as usize];
                    (k.to_string(), random_json(rng, d - 1))
                })
                .collect(),
        ),
    }
}

/// Hundreds of random calls of every type the master serves (but SUBSCRIBE, a stream,
/// and SET_LOGGING_LEVEL, process-wide) on one kept-alive connection: each gets a
/// deliberate answer (never a 5xx), and the connection then still serves a getter.
#[actix_rt::test]
async fn random_calls_on_one_connection_get_answers_and_leave_it_serving() {
    let c = start(config()).await;
    let _agent = c.agent("slave(1)", "cpus:4;mem:1024").await;
    let mut sock = tokio::net::TcpStream::connect(c.addr()).await.unwrap();
    let mut rng = libproc::rng::SplitMix64::new(12);
    let types: Vec<&str> = proto::v1::operator::MASTER_TYPES
        .iter()
        .copied()
        .filter(|t| !matches!(*t, "SUBSCRIBE" | "SET_LOGGING_LEVEL"))
        .collect();
    for i in 0..400 {
        let ty = types[(rng.next_u64() % types.len() as u64) as usize];
        let body = match i % 3 {
            0 => json!({"type": ty, (ty.to_ascii_lowercase()): random_json(&mut rng, 3)}),
            1 => {
                let mut v = random_json(&mut rng, 3);
                if let Value::Object(m) = &mut v {
                    m.insert("type".into(), json!(ty));
                }
                v
            }
            _ => random_json(&mut rng, 4),
        }
        .to_string();
        let req = format!(
            "POST /api/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        sock.write_all(req.as_bytes()).await.unwrap();
        let (status, text) = within(LIMIT, "an answer", read_response(&mut sock)).await;
        assert!(
            [200, 202, 400, 404, 409].contains(&status),
            "{body}: {status} {text}"
        );
        if status == 400 {
            assert!(!text.trim().is_empty(), "a 400 without a reason: {body}");
        }
    }
    let health = json!({"type": "GET_HEALTH"}).to_string();
    let req = format!(
        "POST /api/v1 HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{health}",
        health.len()
    );
    sock.write_all(req.as_bytes()).await.unwrap();
    let (status, text) = within(LIMIT, "the last answer", read_response(&mut sock)).await;
    assert_eq!((status, text.contains("healthy")), (200, true), "{text}");
    c.node.shutdown();
}

/// Reads one `Content-Length` response off a kept-alive connection.
async fn read_response(sock: &mut tokio::net::TcpStream) -> (u16, String) {
    let mut raw = Vec::new();
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .expect("a Content-Length");
            if raw.len() >= end + 4 + len {
                let status = head[9..12].parse().expect("status");
                let body = String::from_utf8_lossy(&raw[end + 4..end + 4 + len]).to_string();
                return (status, body);
            }
        }
        let mut buf = [0u8; 4096];
        let n = sock.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "the connection closed: {}",
            String::from_utf8_lossy(&raw)
        );
        raw.extend_from_slice(&buf[..n]);
    }
}

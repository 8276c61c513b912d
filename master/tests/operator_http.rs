//! The allocation operator endpoints over real HTTP on a real TCP node: `/weights`,
//! `/quota`, `/reserve`, `/unreserve`, `/roles` (as `/master/<name>` and top-level), each
//! with its bad-request case, and the allocator's metrics in `/metrics/snapshot`.

mod common;

use common::{FakeAgent, Mute};

use std::net::SocketAddr;
use std::time::Duration;

use libproc::filter::Observer;
use libproc::testing::within;
use libproc::{Match, Node, NodeConfig, Pid};
use master::MasterConfig;
use proto::messages::*;
use proto::{AgentId, AgentInfo, FrameworkInfo, Resources};

const LIMIT: Duration = Duration::from_secs(30);

async fn next_of<M: libproc::Message>(obs: &mut Observer, what: &str) -> M {
    libproc::testing::next_message(obs, LIMIT, what).await
}

async fn call(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    within(
        LIMIT,
        "HTTP response",
        libproc::testing::http_request(addr, method, path, body.as_bytes()),
    )
    .await
    .expect("HTTP exchange")
}

async fn json(addr: SocketAddr, path: &str) -> serde_json::Value {
    let (status, body) = call(addr, "GET", path, "").await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).expect("JSON")
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

struct Cluster {
    node: Node,
    master: Pid,
}

async fn start(config: MasterConfig) -> Cluster {
    let node = Node::bind(NodeConfig::local()).await.expect("bind");
    let handle = master::spawn(
        &node,
        MasterConfig {
            clock: libproc::wall_clock::WallClock::fixed(1_700_000_000.0),
            id_seed: 42,
            ..config
        },
        None,
    )
    .expect("spawn");
    Cluster {
        master: handle.pid().clone(),
        node,
    }
}

impl Cluster {
    async fn agent(&self, id: &str, resources: &str) -> (AgentId, Observer) {
        let pid = self.node.spawn(id, FakeAgent).unwrap().pid().clone();
        let mut mail = self.node.filters().observe(Match::any().to(&pid));
        self.node.send(
            &pid,
            &self.master,
            RegisterSlaveMessage {
                slave: AgentInfo::new("agent-host", resources.parse().unwrap()),
                checkpointed_resources: Resources::new(),
                version: "1.11.0".into(),
            },
        );
        let reg: SlaveRegisteredMessage = next_of(&mut mail, "SlaveRegistered").await;
        (reg.slave_id, mail)
    }
}

#[actix_rt::test]
async fn weights_endpoint_lists_updates_and_rejects_bad_bodies() {
    let c = start(MasterConfig {
        weights: vec![("ads".into(), 2.0)],
        ..MasterConfig::default()
    })
    .await;
    let addr = c.node.addr();
    assert_eq!(
        json(addr, "/master/weights").await,
        serde_json::json!([{"role": "ads", "weight": 2.0}])
    );
    let (status, body) = call(addr, "PUT", "/weights", r#"[{"role":"eng","weight":0}]"#).await;
    assert_eq!(status, 400);
    assert!(body.contains("must be a number > 0"), "{body}");
    let (status, body) = call(addr, "PUT", "/master/weights", "{oops").await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = call(
        addr,
        "PUT",
        "/master/weights",
        r#"[{"role":"eng","weight":1.5},{"role":"ads","weight":3}]"#,
    )
    .await;
    assert_eq!(status, 200);
    let v = json(addr, "/weights").await;
    assert_eq!(
        v,
        serde_json::json!([{"role": "ads", "weight": 3.0}, {"role": "eng", "weight": 1.5}])
    );
    let (status, _) = call(addr, "DELETE", "/weights", "").await;
    assert_eq!(status, 405);
    c.node.shutdown();
}

#[actix_rt::test]
async fn quota_endpoint_sets_lists_and_removes_nested_roles() {
    let c = start(MasterConfig::default()).await;
    let addr = c.node.addr();
    let _agent = c.agent("slave(1)", "cpus:4;mem:1024").await;
    let g = r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":2}},{"name":"mem","type":"SCALAR","scalar":{"value":256}}]"#;
    let (status, body) = call(addr, "POST", "/quota", r#"{"role":"eng/backend"}"#).await;
    assert_eq!(status, 400);
    assert!(body.contains("neither a guarantee nor a limit"), "{body}");
    let (status, _) = call(addr, "POST", "/quota", "[]").await;
    assert_eq!(status, 400);
    let too_much = r#"{"role":"x","guarantees":{"cpus":{"value":99}}}"#;
    assert_eq!(call(addr, "POST", "/quota", too_much).await.0, 409);
    let body = format!(r#"{{"role":"eng/backend","guarantee":{g}}}"#);
    let (status, text) = call(addr, "POST", "/master/quota", &body).await;
    assert_eq!(status, 200, "{text}");
    let v = json(addr, "/quota").await;
    assert_eq!(v["infos"][0]["role"], "eng/backend");
    assert_eq!(v["infos"][0]["guarantee"][0]["name"], "cpus");
    assert_eq!(v["configs"][0]["guarantees"]["mem"]["value"], 256.0);
    let roles = json(addr, "/roles").await;
    let be = roles["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "eng/backend")
        .cloned()
        .expect("role listed");
    assert_eq!(be["quota"]["guarantee"]["cpus"], 2.0);
    let (status, _) = call(addr, "DELETE", "/master/quota/eng/backend", "").await;
    assert_eq!(status, 200);
    let (status, body) = call(addr, "DELETE", "/quota/eng/backend", "").await;
    assert_eq!(status, 400);
    assert!(body.contains("none is set"), "{body}");
    assert_eq!(json(addr, "/quota").await["infos"], serde_json::json!([]));
    c.node.shutdown();
}

#[actix_rt::test]
async fn reserve_and_unreserve_endpoints_checkpoint_on_the_agent() {
    let c = start(MasterConfig::default()).await;
    let addr = c.node.addr();
    let (agent_id, mut agent_mail) = c.agent("slave(1)", "cpus:4;mem:1024").await;
    let reserved = r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"reservations":[{"type":"DYNAMIC","role":"ads"}]},{"name":"mem","type":"SCALAR","scalar":{"value":128},"role":"ads"}]"#;
    let form = |r: &str| format!("slaveId={}&resources={}", enc(agent_id.as_str()), enc(r));

    let (status, body) = call(addr, "POST", "/master/reserve", "resources=[]").await;
    assert_eq!(status, 400);
    assert!(body.contains("slaveId"), "{body}");
    let (status, body) = call(addr, "POST", "/reserve", &form("[{]")).await;
    assert_eq!(status, 400);
    assert!(body.contains("JSON"), "{body}");
    let huge = r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":64},"role":"ads"}]"#;
    let (status, body) = call(addr, "POST", "/reserve", &form(huge)).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(call(addr, "GET", "/reserve", "").await.0, 405);

    let (status, body) = call(addr, "POST", "/master/reserve", &form(reserved)).await;
    assert_eq!(status, 202, "{body}");
    let ck: CheckpointResourcesMessage = next_of(&mut agent_mail, "CheckpointResources").await;
    assert_eq!(ck.resources, "cpus(ads):1;mem(ads):128".parse().unwrap());
    let state = json(addr, "/master/slaves").await;
    assert_eq!(state["slaves"][0]["resources"]["cpus"], 4.0);
    let roles = json(addr, "/master/roles").await;
    assert_eq!(roles["roles"][0]["name"], "ads");
    assert_eq!(roles["roles"][0]["reserved"]["mem"], 128.0);

    // Unreserving more than is reserved is a conflict; the reservation itself goes.
    assert_eq!(call(addr, "POST", "/unreserve", &form(huge)).await.0, 409);
    let (status, body) = call(addr, "POST", "/unreserve", "slaveId=x").await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = call(addr, "POST", "/master/unreserve", &form(reserved)).await;
    assert_eq!(status, 202, "{body}");
    let ck: CheckpointResourcesMessage = next_of(&mut agent_mail, "CheckpointResources").await;
    assert!(ck.resources.is_empty());
    c.node.shutdown();
}

#[actix_rt::test]
async fn roles_endpoint_and_allocator_metrics() {
    let c = start(MasterConfig::default()).await;
    let addr = c.node.addr();
    let mut offers = c
        .node
        .filters()
        .observe(Match::message::<master::allocator::protocol::Offers>());
    let _agent = c.agent("slave(1)", "cpus:4;mem:1024").await;
    let sched = c.node.spawn("scheduler-1", Mute).unwrap().pid().clone();
    let mut info = FrameworkInfo::new("web", "root");
    info.role = Some("web".into());
    c.node.send(
        &sched,
        &c.master,
        RegisterFrameworkMessage { framework: info },
    );
    // The allocator ran and offered: its metrics are recorded by now.
    let _: master::allocator::protocol::Offers = next_of(&mut offers, "Offers").await;
    let (status, _) = call(addr, "PUT", "/weights", r#"[{"role":"web","weight":2}]"#).await;
    assert_eq!(status, 200);
    let v = json(addr, "/roles.json").await;
    let web = &v["roles"][0];
    assert_eq!(web["name"], "web");
    assert_eq!(web["weight"], 2.0);
    assert_eq!(web["frameworks"].as_array().map(Vec::len), Some(1));
    assert_eq!(web["offered"]["cpus"], 4.0);
    assert_eq!(web["allocated"]["mem"], 1024.0);
    let m = json(addr, "/metrics/snapshot").await;
    for name in [
        "allocator/mesos/allocation_runs",
        "allocator/mesos/allocation_run_ms",
        "allocator/mesos/allocation_run_ms/p50",
        "allocator/mesos/offers",
        "allocator/mesos/roles/web/shares/dominant",
        "master/outstanding_offers",
    ] {
        assert!(m.get(name).is_some(), "{name} missing from {m}");
    }
    assert!(
        m["allocator/mesos/offers"].as_f64().unwrap_or(0.0) >= 1.0,
        "{m}"
    );
    assert_eq!(m["allocator/mesos/roles/web/shares/dominant"], 1.0, "{m}");
    c.node.shutdown();
}

#[actix_rt::test]
async fn a_master_that_does_not_lead_refuses_the_operator_endpoints() {
    // Contending through a ZooKeeper that is not there: never elected, no leader known.
    let c = start(MasterConfig {
        zk: Some("zk://127.0.0.1:1/mesos".parse().expect("zk url")),
        ..MasterConfig::default()
    })
    .await;
    let addr = c.node.addr();
    for (method, path, body) in [
        ("GET", "/master/weights", ""),
        ("PUT", "/weights", r#"[{"role":"a","weight":2}]"#),
        ("GET", "/quota", ""),
        (
            "POST",
            "/master/quota",
            r#"{"role":"a","guarantees":{"cpus":{"value":1}}}"#,
        ),
        ("DELETE", "/quota/a", ""),
        ("POST", "/reserve", "slaveId=x&resources=[]"),
        ("POST", "/unreserve", "slaveId=x&resources=[]"),
        ("GET", "/roles", ""),
    ] {
        let (status, text) = call(addr, method, path, body).await;
        assert_eq!(status, 503, "{method} {path}: {text}");
    }
    c.node.shutdown();
}

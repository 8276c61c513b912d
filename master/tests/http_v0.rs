//! v0 endpoints existing clients read: `/version` (pymesos asks it before subscribing),
//! `/master/state-summary` (Mesos's web UI overview) and `?jsonp=` on JSON endpoints; and
//! the v1 APIs' answer when no leader is known.

mod common;

use std::time::Duration;

use common::{config, Mute};
use libproc::testing::{http_exchange, within};
use libproc::{Node, NodeConfig};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMIT: Duration = Duration::from_secs(30);

async fn get(node: &Node, path: &str) -> (u16, String, String) {
    let raw = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    within(LIMIT, path, http_exchange(node.addr(), raw.as_bytes()))
        .await
        .unwrap()
}

#[actix_rt::test]
async fn version_state_summary_and_jsonp() {
    let node = Node::bind(NodeConfig::local()).await.unwrap();
    node.spawn("allocator", Mute).unwrap();
    master::spawn_master(&node, config()).unwrap();

    let (status, _, body) = get(&node, "/version").await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["version"], master::config::MESOS_VERSION);

    // An HTTP framework shows in the summary, with task counts and without tasks or pid.
    let sub =
        json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"name": "sum", "user": "x"}}})
            .to_string();
    let mut sock = tokio::net::TcpStream::connect(node.addr()).await.unwrap();
    let req = format!(
        "POST /api/v1/scheduler HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{sub}",
        sub.len()
    );
    sock.write_all(req.as_bytes()).await.unwrap();
    within(LIMIT, "SUBSCRIBED", async {
        let mut seen = Vec::new();
        while !String::from_utf8_lossy(&seen).contains("SUBSCRIBED") {
            let mut buf = [0u8; 4096];
            let n = sock.read(&mut buf).await.unwrap();
            assert!(n > 0);
            seen.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    let (status, _, body) = get(&node, "/master/state-summary").await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["slaves"], json!([]));
    let f = &v["frameworks"][0];
    assert_eq!(f["name"], "sum", "{v}");
    assert_eq!(f["TASK_RUNNING"], 0, "{f}");
    assert_eq!(f["slave_ids"], json!([]), "{f}");
    assert!(f.get("tasks").is_none() && f.get("pid").is_none(), "{f}");

    // JSONP wraps the JSON for a plain callback name and refuses anything else.
    let (status, head, body) = get(&node, "/master/state?jsonp=angular.callbacks._1").await;
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/javascript"),
        "{head}"
    );
    let inner = body
        .strip_prefix("angular.callbacks._1(")
        .and_then(|b| b.strip_suffix(");"))
        .expect("callback(...);");
    assert!(serde_json::from_str::<Value>(inner).unwrap()["frameworks"].is_array());
    let (status, _, _) = get(&node, "/master/state?jsonp=alert(1)").await;
    assert_eq!(status, 400);
}

/// A master that knows no leader (its ZooKeeper is unreachable) answers the v1 scheduler
/// and operator APIs with `503`, which clients retry.
#[actix_rt::test]
async fn without_a_known_leader_v1_calls_are_503() {
    let node = Node::bind(NodeConfig::local()).await.unwrap();
    node.spawn("allocator", Mute).unwrap();
    // Nothing listens on port 1: the contender never connects, so no leader is known.
    let config = master::MasterConfig {
        zk: Some("zk://127.0.0.1:1/mesos".parse().unwrap()),
        ..config()
    };
    master::spawn_master(&node, config).unwrap();
    let sub =
        json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"name": "x", "user": "x"}}})
            .to_string();
    for (path, body) in [
        ("/api/v1/scheduler", sub),
        ("/api/v1", json!({"type": "GET_STATE"}).to_string()),
    ] {
        let raw = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let (status, _, text) = within(LIMIT, path, http_exchange(node.addr(), raw.as_bytes()))
            .await
            .unwrap();
        assert_eq!(status, 503, "{path}: {text}");
        assert!(text.contains("no leading master"), "{path}: {text}");
    }
}

//! Live fault rules over real TCP: two nodes, rules posted to `/fault/rules` by HTTP, and
//! what each kind does to the messages between them, in the counters and `/metrics`.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{next, Event, Ping, Recorder, Tick};
use libproc::testing::{http_get, http_request, within};
use libproc::{LinkMode, Node, NodeConfig, Pid};
use tokio::sync::mpsc::UnboundedReceiver;

struct Side {
    node: Node,
    pid: Pid,
    events: UnboundedReceiver<Event>,
}

async fn side(id: &str, fault_injection: bool) -> Side {
    let node = Node::bind(NodeConfig::local().fault_injection(fault_injection))
        .await
        .unwrap();
    let (rec, events) = Recorder::new();
    let pid = node.spawn(id, rec).unwrap().pid().clone();
    Side { node, pid, events }
}

async fn post_rule(addr: SocketAddr, rule: &str) -> u64 {
    let (status, body) = http_request(addr, "POST", "/fault/rules", rule.as_bytes())
        .await
        .unwrap();
    assert_eq!(status, 200, "{rule}: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["id"].as_u64().unwrap_or(0)
}

async fn metric(addr: SocketAddr, name: &str) -> f64 {
    let (_, body) = http_get(addr, "/metrics/snapshot").await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v[name].as_f64().unwrap_or(-1.0)
}

/// Nothing more arrived than the test expected.
async fn assert_quiet(events: &mut UnboundedReceiver<Event>) {
    assert!(
        events.try_recv().is_err(),
        "nothing else should have arrived"
    );
}

#[actix_rt::test]
async fn the_endpoint_refuses_without_the_flag_and_says_how_to_enable_it() {
    let a = side("a", false).await;
    for method in ["GET", "POST", "DELETE"] {
        let (status, body) = http_request(
            a.node.addr(),
            method,
            "/fault/rules",
            b"{\"kind\":\"drop\"}",
        )
        .await
        .unwrap();
        assert_eq!(status, 403, "{method}");
        assert!(body.contains("--enable_fault_injection"), "{body}");
    }
    assert!(a.node.faults().is_empty());
    let (_, snapshot) = http_get(a.node.addr(), "/metrics/snapshot").await.unwrap();
    assert!(
        !snapshot.contains("fault/"),
        "no fault metrics when off: {snapshot}"
    );
}

#[actix_rt::test]
async fn bad_requests_are_refused_with_the_reason() {
    let a = side("a", true).await;
    let addr = a.node.addr();
    let (status, body) = http_request(
        addr,
        "POST",
        "/fault/rules",
        b"{\"kind\":\"drop\",\"count\":-1}",
    )
    .await
    .unwrap();
    assert_eq!(status, 400);
    assert!(body.contains("valid rules"), "{body}");
    let (status, body) = http_request(addr, "DELETE", "/fault/rules/x", b"")
        .await
        .unwrap();
    assert_eq!(status, 400, "{body}");
    let (status, _) = http_request(addr, "DELETE", "/fault/rules/99", b"")
        .await
        .unwrap();
    assert_eq!(status, 404);
    let (status, _) = http_request(addr, "PUT", "/fault/rules", b"")
        .await
        .unwrap();
    assert_eq!(status, 405);
    let stall = br#"{"kind":"stall","process":"nobody","ms":1}"#;
    let (status, _) = http_request(addr, "POST", "/fault/rules", stall)
        .await
        .unwrap();
    assert_eq!(status, 404);
}

#[actix_rt::test]
async fn a_drop_rule_drops_matching_messages_until_it_is_removed() {
    let mut a = side("a", true).await;
    let b = side("b", false).await;
    let id = post_rule(
        a.node.addr(),
        &format!(
            r#"{{"kind":"drop","name":"demo.Ping","from":"b@{}"}}"#,
            b.node.addr()
        ),
    )
    .await;
    b.node.send(
        &b.pid,
        &a.pid,
        Ping {
            seq: 1,
            text: "lost".into(),
        },
    );
    b.node.send(&b.pid, &a.pid, Tick(2));
    // The tick (not matched) arrives; the ping before it on the same connection did not.
    assert_eq!(next(&mut a.events).await, Event::Tick(2));
    assert_eq!(metric(a.node.addr(), "fault/messages_dropped").await, 1.0);
    assert_eq!(metric(a.node.addr(), "fault/rules_active").await, 1.0);
    let (_, listed) = http_get(a.node.addr(), "/fault/rules").await.unwrap();
    assert!(listed.contains("\"hits\":1"), "{listed}");
    let (status, _) = http_request(a.node.addr(), "DELETE", &format!("/fault/rules/{id}"), b"")
        .await
        .unwrap();
    assert_eq!(status, 200);
    b.node.send(
        &b.pid,
        &a.pid,
        Ping {
            seq: 3,
            text: "kept".into(),
        },
    );
    assert_eq!(next(&mut a.events).await, Event::Ping(b.pid.clone(), 3));
    let (_, prom) = http_get(a.node.addr(), "/metrics").await.unwrap();
    assert!(
        prom.contains("fault_rules_active") || prom.contains("fault/rules_active"),
        "{prom}"
    );
    assert_quiet(&mut a.events).await;
}

#[actix_rt::test]
async fn a_delay_rule_on_the_sender_lets_later_messages_overtake() {
    let mut a = side("a", false).await;
    let b = side("b", true).await;
    // On b's node: outbound messages are delayed there.
    post_rule(
        b.node.addr(),
        r#"{"kind":"delay","delay_ms":[300,400],"name":"demo.Ping","count":1}"#,
    )
    .await;
    b.node.send(
        &b.pid,
        &a.pid,
        Ping {
            seq: 1,
            text: "late".into(),
        },
    );
    b.node.send(&b.pid, &a.pid, Tick(2));
    assert_eq!(next(&mut a.events).await, Event::Tick(2));
    assert_eq!(next(&mut a.events).await, Event::Ping(b.pid.clone(), 1));
    assert_eq!(metric(b.node.addr(), "fault/messages_delayed").await, 1.0);
    assert!(b.node.faults().is_empty(), "retired after its count");
}

#[actix_rt::test]
async fn a_duplicate_rule_delivers_copies() {
    let mut a = side("a", true).await;
    let b = side("b", false).await;
    post_rule(
        a.node.addr(),
        r#"{"kind":"duplicate","copies":2,"name":"demo.P*g","to":"a"}"#,
    )
    .await;
    b.node.send(
        &b.pid,
        &a.pid,
        Ping {
            seq: 7,
            text: "x".into(),
        },
    );
    for _ in 0..3 {
        assert_eq!(next(&mut a.events).await, Event::Ping(b.pid.clone(), 7));
    }
    assert_eq!(
        metric(a.node.addr(), "fault/messages_duplicated").await,
        2.0
    );
}

#[actix_rt::test]
async fn a_partition_cuts_both_directions_and_heals_when_removed() {
    let mut a = side("a", true).await;
    let mut b = side("b", false).await;
    // b is linked to a over a live connection.
    b.node.send(&b.pid, &a.pid, Tick(1));
    assert_eq!(next(&mut a.events).await, Event::Tick(1));
    b.node.link(&b.pid, &a.pid, LinkMode::Reuse);
    let id = post_rule(
        a.node.addr(),
        &format!(r#"{{"kind":"partition","peers":["{}"]}}"#, b.node.addr()),
    )
    .await;
    // b's connections to a break: b's link fires.
    assert_eq!(next(&mut b.events).await, Event::Exited(a.pid.clone()));
    // Neither direction gets through while it lasts.
    b.node.send(&b.pid, &a.pid, Tick(2));
    a.node.send(&a.pid, &b.pid, Tick(3));
    let an = a.node.addr();
    within(Duration::from_secs(10), "a refused b's reconnect", async {
        while metric(an, "fault/connections_refused").await < 1.0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(metric(an, "fault/messages_partitioned").await >= 1.0);
    http_request(an, "DELETE", &format!("/fault/rules/{id}"), b"")
        .await
        .unwrap();
    // Healed: the next messages go through both ways.
    b.node.send(&b.pid, &a.pid, Tick(4));
    assert_eq!(next(&mut a.events).await, Event::Tick(4));
    a.node.send(&a.pid, &b.pid, Tick(5));
    assert_eq!(next(&mut b.events).await, Event::Tick(5));
    assert_quiet(&mut a.events).await;
}

#[actix_rt::test]
async fn sever_closes_the_connection_to_a_peer() {
    let mut a = side("a", true).await;
    let b = side("b", false).await;
    a.node.link(&a.pid, &b.pid, LinkMode::Reuse);
    let rule = format!(r#"{{"kind":"sever","peer":"{}"}}"#, b.node.addr());
    let (status, body) = http_request(a.node.addr(), "POST", "/fault/rules", rule.as_bytes())
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    // a closed its connection to b: a's link to b fires.
    assert_eq!(next(&mut a.events).await, Event::Exited(b.pid.clone()));
    assert!(a.node.faults().is_empty(), "a one-off, not installed");
    assert_eq!(metric(a.node.addr(), "fault/severs").await, 1.0);
}

#[actix_rt::test]
async fn a_stall_blocks_the_process_for_its_duration() {
    let node = Node::bind(NodeConfig::local().fault_injection(true))
        .await
        .unwrap();
    // The stalled process runs on its own thread, so the test's thread keeps serving HTTP.
    let arbiter = actix::Arbiter::new();
    let (rec, mut events) = Recorder::new();
    let pid = node
        .spawn_on(&arbiter.handle(), "slow", move || rec)
        .unwrap()
        .pid()
        .clone();
    let start = Instant::now();
    let (status, body) = http_request(
        node.addr(),
        "POST",
        "/fault/rules",
        br#"{"kind":"stall","process":"slow","ms":400}"#,
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    node.post(&pid, Tick(1));
    assert_eq!(next(&mut events).await, Event::Tick(1));
    // Queued behind the stall: handled no sooner than it ends (a lower bound only).
    assert!(
        start.elapsed() >= Duration::from_millis(400),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(metric(node.addr(), "fault/stalls").await, 1.0);
    arbiter.stop();
}

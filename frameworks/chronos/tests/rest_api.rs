//! The REST API over real HTTP, in one process: the scheduler on its driver (no master
//! needed for the API), an in-memory store, the hyper server. Checks Chronos's paths (with
//! and without `/v1`), 400s with reasons, answers only after the store has the change,
//! deletion, graph, search, metrics, and a follower's 307 to the leader.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chronos::core::Chronos;
use chronos::framework::{wall_clock, ChronosScheduler};
use chronos::http::{serve, Backend, HttpState};
use chronos::store::MemStore;
use frameworks::scheduler;
use libproc::testing::{http_get_full, http_request, within};
use libproc::{Node, NodeConfig};
use proto::FrameworkInfo;
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(20);

async fn req(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    within(
        LIMIT,
        path,
        http_request(addr, method, path, body.as_bytes()),
    )
    .await
    .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

async fn json(addr: SocketAddr, path: &str) -> Value {
    let (s, b) = req(addr, "GET", path, "").await;
    assert_eq!(s, 200, "{path}: {b}");
    serde_json::from_str(&b).unwrap_or_else(|e| panic!("{path}: {e}: {b}"))
}

async fn start_server(state: Arc<HttpState>) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::task::spawn_local(serve(l, state));
    addr
}

#[actix_rt::test]
async fn chronos_rest_api() {
    let node = Node::bind(NodeConfig::new("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap();
    let store = MemStore::new();
    let sched = ChronosScheduler::new(
        Chronos::new(),
        Rc::new(store.clone()),
        wall_clock(),
        Rc::new(|| true),
    );
    // No master listens there: the API works all the same.
    let handle = scheduler::run(
        &node,
        "master@127.0.0.1:1".parse().unwrap(),
        FrameworkInfo::new("chronos", "root"),
        sched,
    )
    .unwrap();
    let state = Arc::new(HttpState::default());
    state.set(Backend::Leader(handle.process.clone()));
    let addr = start_server(state).await;

    let parent = r#"{"name":"p","command":"echo p","schedule":"R/2030-01-01T00:00:00Z/PT1H","owner":"o@x","disabled":false,"scheduleTimeZone":"Europe/Berlin"}"#;
    assert_eq!(
        req(addr, "POST", "/v1/scheduler/iso8601", parent).await.0,
        204
    );
    // Answered only once stored.
    assert!(store.records().contains_key("p"));
    let child = r#"{"name":"c","command":"echo c","parents":["p"],"owner":"o@x"}"#;
    assert_eq!(
        req(addr, "POST", "/scheduler/dependency", child).await.0,
        204
    );

    // Bad bodies: 400 with the reason.
    for (path, body, why) in [
        ("/v1/scheduler/iso8601", "{", "invalid job definition"),
        (
            "/v1/scheduler/iso8601",
            r#"{"name":"x","command":"y","schedule":"R/2030-01-01T00:00:00Z/P1H"}"#,
            "need a T",
        ),
        (
            "/v1/scheduler/iso8601",
            r#"{"name":"x","command":"y","schedule":"R//PT1M","scheduleTimeZone":"Nowhere/City"}"#,
            "unknown time zone",
        ),
        (
            "/v1/scheduler/dependency",
            r#"{"name":"x","command":"y","parents":["nope"]}"#,
            "does not exist",
        ),
        (
            "/v1/scheduler/dependency",
            r#"{"name":"p","command":"y","parents":["c"]}"#,
            "cycle",
        ),
        (
            "/v1/scheduler/dependency",
            r#"{"name":"x","command":"y","parents":[]}"#,
            "at least one parent",
        ),
        (
            "/v1/scheduler/iso8601",
            r#"{"name":"a/b","command":"y","schedule":"R//PT1M"}"#,
            "invalid job name",
        ),
    ] {
        let (s, b) = req(addr, "POST", path, body).await;
        assert_eq!(s, 400, "{body}: {b}");
        let v: Value = serde_json::from_str(&b).unwrap();
        assert!(v["message"].as_str().unwrap().contains(why), "{body}: {b}");
    }
    assert!(!store.records().contains_key("x"));

    // Reading: Chronos's field names, both prefixes.
    let jobs = json(addr, "/scheduler/jobs").await;
    let p = jobs
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["name"] == "p")
        .unwrap();
    for field in [
        "name",
        "command",
        "schedule",
        "scheduleTimeZone",
        "epsilon",
        "owner",
        "ownerName",
        "description",
        "cpus",
        "mem",
        "disk",
        "retries",
        "disabled",
        "concurrent",
        "shell",
        "arguments",
        "environmentVariables",
        "uris",
        "fetch",
        "lastSuccess",
        "lastError",
        "successCount",
        "errorCount",
    ] {
        assert!(p.get(field).is_some(), "GET /jobs lacks {field}: {p}");
    }
    assert_eq!(p["nextRun"], "2029-12-31T23:00:00.000Z", "00:00 in Berlin");
    let c = json(addr, "/v1/scheduler/job/c").await;
    assert_eq!(c["parents"], serde_json::json!(["p"]));
    assert_eq!(req(addr, "GET", "/v1/scheduler/job/zz", "").await.0, 404);
    assert_eq!(
        json(addr, "/v1/scheduler/jobs/search?name=C")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (_, dot) = req(addr, "GET", "/v1/scheduler/graph/dot", "").await;
    assert!(dot.contains("\"p\" -> \"c\""), "{dot}");
    let (_, csv) = req(addr, "GET", "/v1/scheduler/graph/csv", "").await;
    assert!(csv.contains("link,p,c"), "{csv}");
    assert_eq!(req(addr, "GET", "/ping", "").await, (200, "pong\n".into()));
    let m = json(addr, "/metrics").await;
    assert!(
        m["gauges"].get("chronos.schedule.drift_ms.max").is_some(),
        "{m}"
    );
    assert!(json(addr, "/v1/scheduler/leader").await["leader"].is_string());
    assert_eq!(req(addr, "DELETE", "/v1/scheduler/jobs", "").await.0, 405);

    // Run now: queued (no master here), and stored before the answer.
    assert_eq!(
        req(addr, "PUT", "/v1/scheduler/job/p?arguments=-v", "")
            .await
            .0,
        204
    );
    assert_eq!(store.records()["p"].state.runs.len(), 1);
    assert_eq!(store.records()["p"].state.runs[0].arguments, vec!["-v"]);
    assert_eq!(
        req(addr, "DELETE", "/v1/scheduler/task/kill/p", "").await.0,
        204
    );
    assert!(store.records()["p"].state.runs.is_empty());

    // While the store refuses writes, a change is not answered; it is once the store is back.
    store.fail.store(true, Ordering::SeqCst);
    let body = r#"{"name":"late","command":"true","schedule":"R//PT1H"}"#;
    let pending = tokio::task::spawn_local(async move {
        http_request(addr, "POST", "/v1/scheduler/iso8601", body.as_bytes()).await
    });
    // The scheduler has taken the job (it shows in memory) but not answered.
    within(LIMIT, "the job is taken", async {
        loop {
            let v = json(addr, "/v1/scheduler/jobs").await;
            if v.as_array().unwrap().iter().any(|j| j["name"] == "late") {
                break;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(!pending.is_finished(), "answered before the write");
    assert!(!store.records().contains_key("late"));
    store.fail.store(false, Ordering::SeqCst);
    let (s, _) = within(LIMIT, "the answer", pending).await.unwrap().unwrap();
    assert_eq!(s, 204);
    assert!(store.records().contains_key("late"));

    // Deleting the parent deletes the child left without parents.
    assert_eq!(req(addr, "DELETE", "/v1/scheduler/job/p", "").await.0, 204);
    assert!(!store.records().contains_key("p"));
    assert!(!store.records().contains_key("c"));
    assert_eq!(req(addr, "DELETE", "/v1/scheduler/job/p", "").await.0, 404);

    // A follower sends API clients to the leader.
    let follower = Arc::new(HttpState::default());
    follower.set(Backend::Follower("leader.example:4400".into()));
    let faddr = start_server(follower).await;
    let (s, head, _) = http_get_full(faddr, "/v1/scheduler/jobs?x=1")
        .await
        .unwrap();
    assert_eq!(s, 307);
    assert!(
        head.to_ascii_lowercase()
            .contains("location: http://leader.example:4400/v1/scheduler/jobs?x=1"),
        "{head}"
    );
    assert_eq!(req(faddr, "GET", "/ping", "").await.0, 200);
    node.shutdown();
}

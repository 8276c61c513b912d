//! Readiness checks on a real cluster: the tasks are small HTTP servers that answer the
//! readiness path 503 until the test creates a file; Marathon probes them itself, and the
//! deployment stays in flight (after probes were answered) until they answer 200. The
//! agent offers ports below the kernel's ephemeral range (32768+), which any socket may hold.

mod common;

use std::time::Duration;

use cluster::procs::wait_json;
use serde_json::{json, Value};

const LIMIT: Duration = Duration::from_secs(60);

const SERVER: &str = r#"
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(os.environ["HITS"], "a") as f:
            f.write(self.path + "\n")
        ok = os.path.exists(os.environ["READY"])
        self.send_response(200 if ok else 503)
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT0"])), H).serve_forever()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_waits_until_its_instances_are_ready() {
    let c =
        common::cluster_with_hosts("marathon-ready", &[""], |_| "127.0.0.1".into(), 24000).await;
    let (mut m, addr) = common::marathon(&c, "marathon", &[]).await;
    let dir = c.dir.path();
    let script = dir.join("server.py");
    std::fs::write(&script, SERVER).unwrap();
    let hits = dir.join("hits");
    let ready = dir.join("ready");
    let app = json!({
        "id": "/web", "cmd": format!("exec python3 {}", script.display()),
        "instances": 2, "cpus": 0.1, "mem": 32,
        "env": {"HITS": hits.display().to_string(), "READY": ready.display().to_string()},
        "portDefinitions": [{"port": 0, "name": "http"}],
        "readinessChecks": [{"name": "ready", "protocol": "HTTP", "path": "/ready",
            "portName": "http", "intervalSeconds": 1, "timeoutSeconds": 2,
            "httpStatusCodesForReady": [200]}],
    });
    let (s, body) = common::call(addr, "POST", "/v2/apps", &app).await;
    assert_eq!(s, 201, "{body}");
    // Both instances run and were probed (answered 503): the deployment is still on.
    let start = std::time::Instant::now();
    loop {
        let probed = std::fs::read_to_string(&hits)
            .unwrap_or_default()
            .lines()
            .filter(|l| *l == "/ready")
            .count();
        let (_, a) = common::call(addr, "GET", "/v2/apps/web", &Value::Null).await;
        if probed >= 2 && a["app"]["tasksRunning"] == 2 {
            let (_, deps) = common::call(addr, "GET", "/v2/deployments", &Value::Null).await;
            assert_eq!(
                deps.as_array().map(Vec::len),
                Some(1),
                "running but unready instances finished the deployment: {deps}"
            );
            break;
        }
        assert!(
            start.elapsed() < LIMIT,
            "never probed: {probed} probes, {a}\n{}\n{}",
            m.log_text(),
            c.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    std::fs::write(&ready, b"ok").unwrap();
    wait_json(addr, "/v2/deployments", LIMIT, "the deployment done", |v| {
        v.as_array().is_some_and(Vec::is_empty)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", m.log_text()));
    let (_, a) = common::call(addr, "GET", "/v2/apps/web", &Value::Null).await;
    assert_eq!(a["app"]["tasksRunning"], 2, "{a}");
    // Destroyed, so that no server outlives the cluster.
    let (s, body) = common::call(addr, "DELETE", "/v2/apps/web", &Value::Null).await;
    assert_eq!(s, 200, "{body}");
    wait_json(
        c.master_addr,
        "/master/state",
        LIMIT,
        "the servers gone",
        |v| {
            v["frameworks"]
                .as_array()
                .into_iter()
                .flatten()
                .all(|f| f["tasks"].as_array().is_none_or(Vec::is_empty))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", m.log_text()));
    m.kill();
}

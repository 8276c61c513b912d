//! Mesos's v1 HTTP APIs against the built binaries. Scheduler API (`POST
//! /api/v1/scheduler`): a stock pymesos scheduler launches tasks that finish (by host:port,
//! and by `zk://` across a master failover), a scripted client checks the status codes
//! Mesos gives (200 stream with `Mesos-Stream-Id`, 202, 400 with the reason, 403, 405, 415,
//! 307 from a standby) and that a malformed call leaves the stream up. Executor API: a
//! stock pymesos executor runs as a custom executor. Operator API (`POST /api/v1`): the
//! getters, and a scripted RecordIO client following a task's life on SUBSCRIBE.
//!
//! Build the binaries first: `cargo build --workspace --bins`; the pymesos test needs
//! `scripts/python-env.sh`.

use std::net::SocketAddr;
use std::time::Duration;

use cluster::procs;
use cluster::testkit::MultiCluster;
use libproc::testing::within;
use proto::v1::recordio;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMIT: Duration = Duration::from_secs(30);

/// POSTs a JSON call with extra headers; returns status and body.
async fn post(addr: SocketAddr, path: &str, body: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut raw = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        raw.push_str("Content-Type: application/json\r\n");
    }
    for (k, v) in headers {
        raw.push_str(&format!("{k}: {v}\r\n"));
    }
    raw.push_str("\r\n");
    raw.push_str(body);
    let (status, _, body) = within(
        LIMIT,
        "HTTP exchange",
        libproc::testing::http_exchange(addr, raw.as_bytes()),
    )
    .await
    .expect("HTTP exchange");
    (status, body)
}

/// An open SUBSCRIBE stream: the socket, the stream id and the records read so far.
struct Subscription {
    sock: tokio::net::TcpStream,
    stream_id: String,
    decoder: recordio::Decoder,
    pending: Vec<Value>,
    /// Bytes of the chunked body not yet de-chunked.
    raw: Vec<u8>,
}

impl Subscription {
    async fn open(addr: SocketAddr, framework_info: Value) -> Subscription {
        let body = json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": framework_info}});
        Subscription::open_at(addr, "/api/v1/scheduler", &body).await
    }

    /// POSTs `body` to `path` and reads the head of the streamed answer.
    async fn open_at(addr: SocketAddr, path: &str, body: &Value) -> Subscription {
        let body = body.to_string();
        let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Accept: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        sock.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        let head_end = within(LIMIT, "SUBSCRIBE response head", async {
            loop {
                if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                    return i;
                }
                let mut buf = [0u8; 4096];
                let n = sock.read(&mut buf).await.unwrap();
                assert!(
                    n > 0,
                    "connection closed: {}",
                    String::from_utf8_lossy(&raw)
                );
                raw.extend_from_slice(&buf[..n]);
            }
        })
        .await;
        let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(head.contains("transfer-encoding: chunked"), "{head}");
        let stream_id = head
            .lines()
            .find_map(|l| l.strip_prefix("mesos-stream-id: "))
            .unwrap_or_default()
            .trim()
            .to_string();
        let rest = raw[head_end + 4..].to_vec();
        Subscription {
            sock,
            stream_id,
            decoder: recordio::Decoder::new(),
            pending: Vec::new(),
            raw: rest,
        }
    }

    /// De-chunks what is buffered; returns false once the last chunk was seen.
    fn drain_chunks(&mut self) -> bool {
        loop {
            let Some(nl) = self.raw.windows(2).position(|w| w == b"\r\n") else {
                return true;
            };
            let size_text = String::from_utf8_lossy(&self.raw[..nl]).to_string();
            let size = usize::from_str_radix(size_text.trim(), 16).expect("chunk size");
            if size == 0 {
                return false;
            }
            if self.raw.len() < nl + 2 + size + 2 {
                return true;
            }
            let data = self.raw[nl + 2..nl + 2 + size].to_vec();
            self.raw.drain(..nl + 2 + size + 2);
            for rec in self.decoder.feed(&data).expect("valid RecordIO") {
                self.pending
                    .push(serde_json::from_slice(&rec).expect("a JSON event"));
            }
        }
    }

    /// The next event, or `None` when the stream ended.
    async fn next(&mut self) -> Option<Value> {
        within(LIMIT, "the next event", async {
            loop {
                let open = self.drain_chunks();
                if !self.pending.is_empty() {
                    return Some(self.pending.remove(0));
                }
                if !open {
                    return None;
                }
                let mut buf = [0u8; 4096];
                let n = self.sock.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    return None;
                }
                self.raw.extend_from_slice(&buf[..n]);
            }
        })
        .await
    }

    /// The next event of type `ty`, skipping others (offers, heartbeats).
    async fn next_of(&mut self, ty: &str) -> Value {
        loop {
            match self.next().await {
                Some(e) if e["type"] == ty => return e,
                Some(_) => continue,
                None => panic!("the stream ended before a {ty} event"),
            }
        }
    }
}

/// The user this test runs as: its tasks run as that user, who can reach the executor
/// binaries in this checkout (`nobody` may not: the checkout can sit below a directory only
/// its owner may enter).
fn this_user() -> String {
    std::process::Command::new("id")
        .arg("-un")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "root".to_string())
}

#[tokio::test]
async fn scripted_client_gets_mesos_status_codes_and_events() {
    let cluster = MultiCluster::start("v1-sched", 1, "cpus:2;mem:1024;disk:1024").await;
    let addr = cluster.master_addr;
    let fw = json!({"user": this_user(), "name": "scripted", "failover_timeout": 60});

    // 405, 415, 400 and 403 before anything is subscribed.
    let raw =
        format!("GET /api/v1/scheduler HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let (status, _, _) = libproc::testing::http_exchange(addr, raw.as_bytes())
        .await
        .unwrap();
    assert_eq!(status, 405);
    let (status, _) = post(
        addr,
        "/api/v1/scheduler",
        "{}",
        &[("Content-Type", "text/plain")],
    )
    .await;
    assert_eq!(status, 415);
    let (status, body) = post(addr, "/api/v1/scheduler", "{\"type\": \"FLY\"}", &[]).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("unknown call type 'FLY'"), "{body}");
    let kill = json!({"type": "KILL", "framework_id": {"value": "nope"}, "kill": {"task_id": {"value": "t"}}});
    let (status, body) = post(addr, "/api/v1/scheduler", &kill.to_string(), &[]).await;
    assert_eq!(status, 403, "{body}");

    // SUBSCRIBE: a 200 stream whose first event is SUBSCRIBED, then offers.
    let mut sub = Subscription::open(addr, fw.clone()).await;
    assert!(!sub.stream_id.is_empty(), "a Mesos-Stream-Id header");
    let subscribed = sub.next_of("SUBSCRIBED").await;
    let fid = subscribed["subscribed"]["framework_id"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(subscribed["subscribed"]["heartbeat_interval_seconds"], 15.0);
    assert!(subscribed["subscribed"]["master_info"]["address"]["port"].is_number());
    let offers = sub.next_of("OFFERS").await;
    let offer = &offers["offers"]["offers"][0];
    assert_eq!(offer["framework_id"]["value"], fid.as_str());
    let agent_id = offer["agent_id"]["value"].as_str().unwrap().to_string();

    // The framework shows in /master/state without a `pid` (Mesos omits it for HTTP
    // frameworks).
    let state = procs::get_json(addr, "/master/state").await.unwrap();
    let f = state["frameworks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == fid.as_str())
        .expect("framework in state");
    assert!(f.get("pid").is_none(), "{f}");

    // Calls need the stream id of the framework's own stream.
    let path = "/master/api/v1/scheduler";
    let revive = json!({"type": "REVIVE", "framework_id": {"value": fid}}).to_string();
    assert_eq!(post(addr, path, &revive, &[]).await.0, 403);
    assert_eq!(
        post(addr, path, &revive, &[("Mesos-Stream-Id", "bogus")])
            .await
            .0,
        403
    );
    let sid = sub.stream_id.clone();
    let with_stream = [("Mesos-Stream-Id", sid.as_str())];

    // A malformed call is 400 with the reason, and the stream stays up.
    let bad = json!({"type": "ACCEPT", "framework_id": {"value": fid}, "accept": {"operations": [{"type": "LAUNCH"}]}});
    let (status, body) = post(addr, path, &bad.to_string(), &with_stream).await;
    assert_eq!(status, 400);
    assert!(body.contains("accept.operations[0].launch"), "{body}");

    // Launch a task on the offer; its updates come as UPDATE events, acknowledged.
    let accept = json!({"type": "ACCEPT", "framework_id": {"value": fid}, "accept": {
        "offer_ids": [offer["id"]],
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": [{
            "name": "v1", "task_id": {"value": "v1-task"}, "agent_id": {"value": agent_id},
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                          {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}],
            "command": {"value": "true"}}]}}]}});
    let (status, body) = post(addr, path, &accept.to_string(), &with_stream).await;
    assert_eq!(status, 202, "{body}");
    let mut states = Vec::new();
    while states.last().map(String::as_str) != Some("TASK_FINISHED") {
        let u = sub.next_of("UPDATE").await;
        let s = &u["update"]["status"];
        assert_eq!(s["task_id"]["value"], "v1-task");
        states.push(s["state"].as_str().unwrap().to_string());
        assert!(
            !["TASK_FAILED", "TASK_ERROR", "TASK_LOST"].contains(&states.last().unwrap().as_str()),
            "{u}"
        );
        if let Some(uuid) = s.get("uuid") {
            let ack = json!({"type": "ACKNOWLEDGE", "framework_id": {"value": fid}, "acknowledge": {
                "agent_id": s["agent_id"], "task_id": s["task_id"], "uuid": uuid}});
            let (status, body) = post(addr, path, &ack.to_string(), &with_stream).await;
            assert_eq!(status, 202, "{body}");
        }
    }

    // UPDATE_FRAMEWORK changes what may change, and refuses the rest with the reason.
    let mut renamed = fw.clone();
    renamed["name"] = json!("scripted-renamed");
    let update = json!({"type": "UPDATE_FRAMEWORK", "framework_id": {"value": fid},
        "update_framework": {"framework_info": renamed}});
    let (status, body) = post(addr, path, &update.to_string(), &with_stream).await;
    assert_eq!(status, 202, "{body}");
    let state = procs::get_json(addr, "/master/state").await.unwrap();
    assert!(
        state["frameworks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == fid.as_str() && f["name"] == "scripted-renamed"),
        "{state}"
    );
    renamed["user"] = json!("someone-else");
    let update = json!({"type": "UPDATE_FRAMEWORK", "framework_id": {"value": fid},
        "update_framework": {"framework_info": renamed}});
    let (status, body) = post(addr, path, &update.to_string(), &with_stream).await;
    assert_eq!(status, 400);
    assert!(body.contains("user"), "{body}");

    // Ignored calls are accepted.
    let req =
        json!({"type": "REQUEST", "framework_id": {"value": fid}, "request": {"requests": []}});
    assert_eq!(
        post(addr, path, &req.to_string(), &with_stream).await.0,
        202
    );
    // So are the inverse-offer calls (we make no inverse offers: no maintenance).
    for (ty, key) in [
        ("ACCEPT_INVERSE_OFFERS", "accept_inverse_offers"),
        ("DECLINE_INVERSE_OFFERS", "decline_inverse_offers"),
    ] {
        let call = json!({"type": ty, "framework_id": {"value": fid},
            key: {"inverse_offer_ids": [{"value": "io-1"}]}});
        let (status, body) = post(addr, path, &call.to_string(), &with_stream).await;
        assert_eq!(status, 202, "{ty}: {body}");
    }

    // TEARDOWN ends the stream and completes the framework.
    let teardown = json!({"type": "TEARDOWN", "framework_id": {"value": fid}}).to_string();
    assert_eq!(post(addr, path, &teardown, &with_stream).await.0, 202);
    while sub.next().await.is_some() {}
    procs::wait_json(
        addr,
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

#[tokio::test]
async fn a_closed_stream_disconnects_and_resubscribing_fails_over() {
    let cluster = MultiCluster::start("v1-failover", 1, "cpus:2;mem:1024;disk:1024").await;
    let addr = cluster.master_addr;
    let fw = json!({"user": this_user(), "name": "failover", "failover_timeout": 600});
    let mut first = Subscription::open(addr, fw.clone()).await;
    let fid = first.next_of("SUBSCRIBED").await["subscribed"]["framework_id"]["value"]
        .as_str()
        .unwrap()
        .to_string();

    // A second stream for the same framework takes over; the first gets ERROR and ends.
    let mut again = fw.clone();
    again["id"] = json!({"value": fid});
    let mut second = Subscription::open(addr, again.clone()).await;
    let sub = second.next_of("SUBSCRIBED").await;
    assert_eq!(sub["subscribed"]["framework_id"]["value"], fid.as_str());
    let err = first.next_of("ERROR").await;
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("failed over"),
        "{err}"
    );
    assert!(first.next().await.is_none(), "the old stream ends");

    // Closing the stream disconnects the framework (its failover timeout runs) ...
    drop(second);
    procs::wait_json(
        addr,
        "/master/state",
        LIMIT,
        "the framework disconnected",
        |s| {
            s["frameworks"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|f| f["id"] == fid.as_str() && f["connected"] == false)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));
    // ... and re-subscribing within it brings the same framework back.
    let mut third = Subscription::open(addr, again).await;
    let sub = third.next_of("SUBSCRIBED").await;
    assert_eq!(sub["subscribed"]["framework_id"]["value"], fid.as_str());
    procs::wait_json(
        addr,
        "/master/state",
        LIMIT,
        "the framework reconnected",
        |s| {
            s["frameworks"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|f| f["id"] == fid.as_str() && f["connected"] == true)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));
}

#[tokio::test]
async fn pymesos_scheduler_launches_tasks_that_finish() {
    let Some(python) = libproc::testing::python_env("pymesos_scheduler_launches_tasks_that_finish")
    else {
        return;
    };
    let cluster = MultiCluster::start("pymesos", 2, "cpus:1;mem:512;disk:512").await;
    let script = libproc::testing::repo_root().join("tests/python/pymesos_scheduler.py");
    let mut child = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(cluster.master_addr.to_string())
        .arg("4")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the pymesos scheduler");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (mut out, mut err) = (String::new(), String::new());
    let status = tokio::time::timeout(Duration::from_secs(150), async {
        let (_, _, status) = tokio::join!(
            stdout.read_to_string(&mut out),
            stderr.read_to_string(&mut err),
            child.wait()
        );
        status
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "the pymesos scheduler did not finish in 150 s\n{}",
            cluster.logs()
        )
    })
    .unwrap();
    eprintln!("--- pymesos scheduler output ---\n{out}");
    assert!(
        status.success() && out.contains("ALL FINISHED 4"),
        "pymesos scheduler: {status}\n--- stdout ---\n{out}\n--- stderr ---\n{err}\n{}",
        cluster.logs()
    );
    // It tore itself down: a completed framework with four finished tasks.
    let state = procs::wait_json(
        cluster.master_addr,
        "/master/state",
        LIMIT,
        "the completed pymesos framework",
        |s| {
            s["completed_frameworks"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|f| f["name"] == "pymesos-test")
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));
    let f = state["completed_frameworks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "pymesos-test")
        .unwrap();
    let finished = f["completed_tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["state"] == "TASK_FINISHED")
        .count();
    assert_eq!(finished, 4, "{f}");
}

/// A running Python script whose stdout lines are collected as they come.
struct Script {
    child: tokio::process::Child,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
}

impl Script {
    fn start(python: &std::path::Path, script: &str, args: &[String]) -> Script {
        use tokio::io::AsyncBufReadExt;
        let path = libproc::testing::repo_root()
            .join("tests/python")
            .join(script);
        let mut child = tokio::process::Command::new(python)
            .arg(&path)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start the Python script");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut r = tokio::io::BufReader::new(stdout).lines();
            while let Ok(Some(line)) = r.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Script {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits (bounded) for a line starting with `prefix`; returns the rest of it.
    async fn wait_line(&mut self, prefix: &str, limit: Duration) -> Result<String, String> {
        let found = tokio::time::timeout(limit, async {
            while let Some(line) = self.lines.recv().await {
                self.seen.push(line.clone());
                if let Some(rest) = line.strip_prefix(prefix) {
                    return Some(rest.trim().to_string());
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(rest)) => Ok(rest),
            Ok(None) => Err(format!(
                "the script ended before {prefix:?}:\n{}",
                self.seen.join("\n")
            )),
            Err(_) => Err(format!(
                "no {prefix:?} within {limit:?}:\n{}",
                self.seen.join("\n")
            )),
        }
    }
}

#[tokio::test]
async fn pymesos_survives_a_master_failover_through_zk() {
    let Some(python) =
        libproc::testing::python_env("pymesos_survives_a_master_failover_through_zk")
    else {
        return;
    };
    let config = cluster::ha::HaConfig {
        masters: 2,
        agents: 1,
        instances: 0,
        ..cluster::ha::HaConfig::default()
    };
    let Some(mut cluster) =
        cluster::ha::HaCluster::start_without_framework("pymesos-ha", config).await
    else {
        return;
    };
    let mut script = Script::start(
        &python,
        "pymesos_failover.py",
        &[cluster.zk_url(), "3".into()],
    );
    let limit = Duration::from_secs(60);
    let fid = match script.wait_line("LONG RUNNING ", limit).await {
        Ok(fid) => fid,
        Err(e) => cluster.fail(&e),
    };

    // A standby redirects scheduler calls to the leader, as Mesos does.
    let leader = cluster.leader().await;
    let standby = 1 - leader;
    let sub =
        json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"name": "x", "user": "x"}}});
    let raw = format!(
        "POST /api/v1/scheduler HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{sub}",
        sub.to_string().len()
    );
    // (The standby learns who leads from ZooKeeper shortly after the election: until then
    // it answers 503, which pymesos retries.)
    let standby_addr = cluster.master_addr(standby);
    let head = within(LIMIT, "a 307 from the standby", async {
        loop {
            let (status, head, _) = libproc::testing::http_exchange(standby_addr, raw.as_bytes())
                .await
                .unwrap();
            if status == 307 {
                return head;
            }
            assert_eq!(status, 503, "{head}");
            // Polling a process we do not control: there is no event to wait for.
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    })
    .await;
    let location = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("location: ")
                .map(str::to_string)
        })
        .expect("a Location header");
    let port = cluster.master_addr(leader).port();
    assert!(
        location.starts_with("//") && location.ends_with(&format!(":{port}/api/v1/scheduler")),
        "{location}"
    );

    // Kill the leader: pymesos finds the new one through ZooKeeper and re-subscribes with
    // its framework id; its long task keeps running and new tasks run.
    cluster.kill_master(leader);
    match script.wait_line("REREGISTERED ", limit).await {
        Ok(again) => assert_eq!(again, fid),
        Err(e) => cluster.fail(&e),
    }
    if let Err(e) = script.wait_line("ALL DONE ", limit).await {
        cluster.fail(&e);
    }
    let status = tokio::time::timeout(LIMIT, script.child.wait())
        .await
        .expect("the script exits")
        .unwrap();
    assert!(status.success(), "{}", script.seen.join("\n"));
}

#[tokio::test]
async fn pymesos_executor_runs_as_a_custom_executor() {
    let Some(python) = libproc::testing::python_env("pymesos_executor_runs_as_a_custom_executor")
    else {
        return;
    };
    let cluster = MultiCluster::start("pymesos-exec", 1, "cpus:2;mem:1024;disk:512").await;
    let mut script = Script::start(
        &python,
        "pymesos_scheduler.py",
        &[
            cluster.master_addr.to_string(),
            "3".into(),
            "--executor".into(),
        ],
    );
    if let Err(e) = script
        .wait_line("MESSAGES 3", Duration::from_secs(90))
        .await
    {
        panic!("{e}\n{}", cluster.logs());
    }
    assert!(
        script.seen.iter().any(|l| l == "ALL FINISHED 3"),
        "{}",
        script.seen.join("\n")
    );
    let status = tokio::time::timeout(LIMIT, script.child.wait())
        .await
        .expect("the scheduler exits")
        .unwrap();
    assert!(status.success(), "{}", script.seen.join("\n"));
    // The agent's executor API refuses malformed calls with the reason, and calls for an
    // executor that did not subscribe.
    let agent = cluster.agent_addrs[0];
    let (status, body) = post(agent, "/api/v1/executor", "{\"type\": \"UPDATE\"}", &[]).await;
    assert_eq!(status, 400);
    assert!(body.contains("framework_id"), "{body}");
    let msg = json!({"type": "MESSAGE", "framework_id": {"value": "F"}, "executor_id": {"value": "E"},
        "message": {"data": "aGk="}});
    let (status, body) = post(agent, "/api/v1/executor", &msg.to_string(), &[]).await;
    assert_eq!(status, 403, "{body}");
    // The tasks ran in the custom executor: their statuses came from it.
    let state = procs::wait_json(
        cluster.master_addr,
        "/master/state",
        LIMIT,
        "the completed framework",
        |s| {
            s["completed_frameworks"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|f| f["name"] == "pymesos-test")
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));
    let f = state["completed_frameworks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "pymesos-test")
        .unwrap();
    for t in f["completed_tasks"].as_array().unwrap() {
        assert_eq!(t["state"], "TASK_FINISHED", "{t}");
        assert_eq!(t["executor_id"], "pymesos-executor", "{t}");
    }
}

#[tokio::test]
async fn operator_api_getters_and_a_subscriber_following_a_task() {
    let cluster = MultiCluster::start("v1-operator", 1, "cpus:2;mem:1024;disk:512").await;
    let addr = cluster.master_addr;
    let call = |ty: &str| json!({ "type": ty }).to_string();

    for (ty, key) in [
        ("GET_HEALTH", "get_health"),
        ("GET_VERSION", "get_version"),
        ("GET_FLAGS", "get_flags"),
        ("GET_METRICS", "get_metrics"),
        ("GET_MASTER", "get_master"),
        ("GET_AGENTS", "get_agents"),
        ("GET_FRAMEWORKS", "get_frameworks"),
        ("GET_TASKS", "get_tasks"),
        ("GET_ROLES", "get_roles"),
        ("GET_STATE", "get_state"),
    ] {
        let (status, body) = post(addr, "/api/v1", &call(ty), &[]).await;
        assert_eq!(status, 200, "{ty}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["type"], ty, "{body}");
        assert!(v[key].is_object(), "{ty}: {body}");
    }
    let (_, body) = post(addr, "/api/v1", &call("GET_HEALTH"), &[]).await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["get_health"]["healthy"],
        true
    );
    let (_, body) = post(addr, "/api/v1", &call("GET_AGENTS"), &[]).await;
    let agents: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        agents["get_agents"]["agents"].as_array().unwrap().len(),
        1,
        "{agents}"
    );
    let (_, body) = post(addr, "/api/v1", &call("GET_METRICS"), &[]).await;
    assert!(body.contains("master/elected"), "{body}");
    let (status, body) = post(addr, "/api/v1", &call("DROP_TABLES"), &[]).await;
    assert_eq!(status, 400);
    assert!(body.contains("DROP_TABLES"), "{body}");

    // A subscriber sees the state, then a task's whole life.
    let mut ops = Subscription::open_at(addr, "/api/v1", &json!({"type": "SUBSCRIBE"})).await;
    let first = ops.next_of("SUBSCRIBED").await;
    let (_, body) = post(addr, "/api/v1", &call("GET_METRICS"), &[]).await;
    let metrics: Value = serde_json::from_str(&body).unwrap();
    let subscribers = metrics["get_metrics"]["metrics"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["name"] == "master/operator_event_stream_subscribers")
        .map(|m| m["value"].clone());
    assert_eq!(subscribers, Some(json!(1.0)), "{body}");
    assert_eq!(
        first["subscribed"]["get_state"]["get_agents"]["agents"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "{first}"
    );
    let mut exec = cluster.start_proc(
        "mesos-execute",
        "mesos-execute",
        &[
            cluster.master_arg(),
            "--name=watched".into(),
            "--command=true".into(),
        ],
    );
    let added = ops.next_of("FRAMEWORK_ADDED").await;
    let fid = added["framework_added"]["framework"]["framework_info"]["id"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    let task = ops.next_of("TASK_ADDED").await;
    assert_eq!(
        task["task_added"]["task"]["task_id"]["value"], "watched",
        "{task}"
    );
    assert_eq!(
        task["task_added"]["task"]["framework_id"]["value"],
        fid.as_str()
    );
    let mut states = Vec::new();
    while states.last().map(String::as_str) != Some("TASK_FINISHED") {
        let u = ops.next_of("TASK_UPDATED").await;
        assert_eq!(
            u["task_updated"]["status"]["task_id"]["value"], "watched",
            "{u}"
        );
        states.push(u["task_updated"]["state"].as_str().unwrap().to_string());
    }
    assert!(states.contains(&"TASK_RUNNING".to_string()), "{states:?}");
    let removed = ops.next_of("FRAMEWORK_REMOVED").await;
    assert_eq!(
        removed["framework_removed"]["framework_info"]["id"]["value"],
        fid.as_str()
    );
    let done = cluster::testkit::wait_exit(&mut exec, LIMIT).await;
    assert!(
        matches!(done, Ok(s) if s.success()),
        "{done:?}\n{}",
        exec.log_text()
    );
}

//! Fault tests of `marathon` on a multi-process Mesos with a real ZooKeeper (the failover
//! suites' [`HaCluster`]: two masters, two agents, every node reaching ZooKeeper through a
//! proxy) and two `marathon` processes electing a leader there. Each scenario injects one
//! fault: the leading `marathon` killed mid-deployment, the leading Mesos master killed
//! while a scale-up is in flight, an agent partitioned (SIGSTOP) past the new leader's
//! re-registration timeout, and a ZooKeeper restart mid-deployment. Afterwards, always:
//!
//! * every app has exactly its `instances` running and healthy, in Marathon's API and in
//!   the master's state, and the sandboxes hold exactly that many task processes;
//! * no task was launched twice for one instance: each task appends its `$MESOS_TASK_ID` to
//!   a ledger file when it starts, and no id appears twice there;
//! * the deployment finished, and the leader's `/v2/events` stream said so
//!   (`deployment_success` with its id).
//!
//! Deployments are held open deterministically: the health check passes only once the
//! test creates a `ready` file, so a deployment cannot finish before the fault.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cluster::ha::{processes_under, HaCluster, HaConfig};
use cluster::procs::{self, Proc};
use cluster::testkit::start_server;
use libproc::testing::HttpStream;
use serde_json::{json, Value};

/// Bound on every wait (the machine is shared and loaded).
const LIMIT: Duration = Duration::from_secs(60);
const SIGSTOP: i32 = 19;
const SIGCONT: i32 = 18;

/// The cluster, the `marathon` processes and the files the tasks write.
struct Fixture {
    cluster: HaCluster,
    marathons: Vec<Option<(Proc, SocketAddr)>>,
    retired: Vec<Proc>,
    starts: usize,
}

/// `GET path` as JSON, given up after a while (a stopped process never answers).
async fn get(addr: SocketAddr, path: &str) -> Result<Value, String> {
    tokio::time::timeout(Duration::from_secs(2), procs::get_json(addr, path))
        .await
        .unwrap_or_else(|_| Err(format!("GET {path} on {addr}: no answer")))
}

impl Fixture {
    async fn start(prefix: &str, config: HaConfig) -> Option<Fixture> {
        cluster::testkit::require_bins(&["marathon"]);
        let cluster = HaCluster::start_without_framework(prefix, config).await?;
        let mut f = Fixture {
            cluster,
            marathons: vec![None, None],
            retired: Vec::new(),
            starts: 0,
        };
        f.start_marathon(0).await;
        f.wait_leader().await;
        f.start_marathon(1).await;
        Some(f)
    }

    fn ledger(&self) -> PathBuf {
        self.cluster.dir().join("ledger")
    }

    fn ready_file(&self) -> PathBuf {
        self.cluster.dir().join("ready")
    }

    /// Starts (or restarts) `marathon` number `i` (a supervisor's job after fail-fast).
    async fn start_marathon(&mut self, i: usize) {
        let zk = format!("--zk=zk://{}/marathon", self.cluster.zk_proxy.servers());
        let master = format!("--master={}", self.cluster.zk_url());
        self.starts += 1;
        let name = format!("marathon-{}.{}", i + 1, self.starts);
        let logs = self.cluster.dir().join("logs");
        let started = start_server(
            &name,
            "marathon",
            |p| {
                vec![
                    master.clone(),
                    zk.clone(),
                    format!("--http_port={p}"),
                    "--zk_session_timeout=4".into(),
                ]
            },
            "/ping",
            &logs,
        )
        .await;
        match started {
            Ok(m) => {
                if let Some((old, _)) = self.marathons[i].replace(m) {
                    self.retired.push(old);
                }
            }
            Err(e) => self.fail(&e),
        }
    }

    fn kill_marathon(&mut self, i: usize) {
        if let Some((mut p, _)) = self.marathons[i].take() {
            p.kill();
            self.retired.push(p);
        }
    }

    /// Restarts every `marathon` whose process exited (fail-fast after losing leadership
    /// expects a supervisor); returns how many.
    async fn supervise(&mut self) -> usize {
        let mut n = 0;
        for i in 0..self.marathons.len() {
            let exited = self.marathons[i]
                .as_mut()
                .is_some_and(|(p, _)| !p.running());
            if exited {
                self.start_marathon(i).await;
                n += 1;
            }
        }
        n
    }

    fn fail(&self, what: &str) -> ! {
        let mut out = String::new();
        for p in self
            .retired
            .iter()
            .chain(self.marathons.iter().flatten().map(|(p, _)| p))
        {
            out.push_str(&format!(
                "--- {} log (tail) ---\n{}\n",
                p.name,
                cluster::testkit::tail(&p.log_text(), 40)
            ));
        }
        panic!("{what}\n{out}\n{}", self.cluster.logs())
    }

    /// The index of the elected `marathon` that has registered (waits, restarting exited
    /// ones meanwhile).
    async fn wait_leader(&mut self) -> (usize, SocketAddr) {
        let start = Instant::now();
        while start.elapsed() < LIMIT {
            self.supervise().await;
            for (i, m) in self.marathons.iter().enumerate() {
                let Some((_, addr)) = m else { continue };
                if let Ok(v) = get(*addr, "/v2/info").await {
                    if v["elected"] == true && v["frameworkId"].is_string() {
                        return (i, *addr);
                    }
                }
            }
            // Polling processes we do not control: there is no event to wait for.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.fail("no marathon was elected")
    }

    /// Subscribes to the leader's event stream.
    async fn events(&mut self) -> Events {
        let (_, addr) = self.wait_leader().await;
        let req =
            format!("GET /v2/events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n");
        let s = HttpStream::open(addr, req.as_bytes())
            .await
            .unwrap_or_else(|e| self.fail(&format!("/v2/events: {e}")));
        let mut ev = Events {
            stream: s,
            seen: String::new(),
        };
        if let Err(e) = ev.wait(&["event_stream_attached"], LIMIT).await {
            self.fail(&e);
        }
        ev
    }

    /// Creates an app whose tasks append their id to the ledger and whose health check
    /// passes once the ready file exists; returns its deployment id.
    async fn create_app(&mut self, id: &str, instances: u32) -> String {
        self.create_app_with(id, instances, json!({})).await
    }

    /// `create_app` with `extra` fields merged into the app.
    async fn create_app_with(&mut self, id: &str, instances: u32, extra: Value) -> String {
        let (_, addr) = self.wait_leader().await;
        let cmd = format!(
            "echo \"$MESOS_TASK_ID\" >> {} && exec sleep 1000",
            self.ledger().display()
        );
        let check = format!("test -f {}", self.ready_file().display());
        let app = json!({
            "id": id, "cmd": cmd, "cpus": 0.05, "mem": 8, "instances": instances,
            "portDefinitions": [],
            "healthChecks": [{"protocol": "COMMAND", "command": {"value": check},
                "delaySeconds": 0, "intervalSeconds": 1, "timeoutSeconds": 5,
                "gracePeriodSeconds": 600, "maxConsecutiveFailures": 3}],
        });
        let mut app = app;
        if let (Value::Object(m), Value::Object(more)) = (&mut app, extra) {
            m.extend(more);
        }
        let (s, body) = call(addr, "POST", "/v2/apps", &app).await;
        if s != 201 {
            self.fail(&format!("POST /v2/apps: {s} {body}"));
        }
        body["deployments"][0]["id"]
            .as_str()
            .unwrap_or_else(|| self.fail(&format!("no deployment id: {body}")))
            .to_string()
    }

    /// Lines of the ledger: one per task start.
    fn ledger_lines(&self) -> Vec<String> {
        std::fs::read_to_string(self.ledger())
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Waits until `n` tasks have started (per the ledger) and the master shows them
    /// running.
    async fn wait_started(&mut self, n: usize) -> BTreeSet<String> {
        let start = Instant::now();
        while start.elapsed() < LIMIT {
            let lines = self.ledger_lines();
            if lines.len() >= n {
                if let Some((_, s)) = self.cluster.leader_state().await {
                    let running = marathon_tasks(&s);
                    let started: BTreeSet<String> = lines.iter().cloned().collect();
                    if running.len() == n && running.iter().all(|t| started.contains(t)) {
                        return running;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.fail(&format!(
            "{n} tasks never started; ledger: {:?}",
            self.ledger_lines()
        ))
    }

    /// The checks every scenario ends with (see the module doc), for app `id` wanting `n`.
    async fn check_converged(&mut self, id: &str, n: usize) -> BTreeSet<String> {
        let start = Instant::now();
        let mut last = String::new();
        while start.elapsed() < LIMIT {
            let (_, addr) = self.wait_leader().await;
            let app = get(addr, &format!("/v2/apps{id}?embed=apps.tasks")).await;
            let tasks = get(addr, &format!("/v2/apps{id}/tasks")).await;
            let master = self.cluster.leader_state().await;
            if let (Ok(app), Ok(tasks), Some((_, state))) = (app, tasks, master) {
                let api: BTreeSet<String> = tasks["tasks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t["id"].as_str().map(str::to_string))
                    .collect();
                let running = marathon_tasks(&state);
                let sleeps = processes_under(self.cluster.work_dir())
                    .into_iter()
                    .filter(|(_, c)| c == "sleep")
                    .count();
                let a = &app["app"];
                if a["tasksRunning"] == n
                    && a["tasksHealthy"] == n
                    && a["deployments"].as_array().is_some_and(Vec::is_empty)
                    && api.len() == n
                    && api == running
                    && sleeps == n
                {
                    self.check_ledger(&running);
                    return running;
                }
                last = format!(
                    "app: running {} healthy {} deployments {}; API tasks {api:?}; \
                     master running {running:?}; {sleeps} task processes",
                    a["tasksRunning"], a["tasksHealthy"], a["deployments"]
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.fail(&format!(
            "{id} never converged to {n} running and healthy: {last}"
        ))
    }

    /// No task id was started twice, and every running task started exactly once.
    fn check_ledger(&self, running: &BTreeSet<String>) {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for l in self.ledger_lines() {
            *counts.entry(l).or_default() += 1;
        }
        let twice: Vec<&String> = counts
            .iter()
            .filter(|(_, c)| **c > 1)
            .map(|(t, _)| t)
            .collect();
        if !twice.is_empty() {
            self.fail(&format!("tasks launched twice: {twice:?}"));
        }
        for t in running {
            if !counts.contains_key(t) {
                self.fail(&format!("running task {t} never started per the ledger"));
            }
        }
    }

    fn make_ready(&self) {
        std::fs::write(self.ready_file(), b"ok")
            .unwrap_or_else(|e| self.fail(&format!("ready file: {e}")));
    }
}

/// The running tasks of the framework named `marathon` in a master's state.
fn marathon_tasks(state: &Value) -> BTreeSet<String> {
    state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["name"] == "marathon")
        .flat_map(|f| f["tasks"].as_array().into_iter().flatten())
        .filter(|t| t["state"] == "TASK_RUNNING")
        .filter_map(|t| t["id"].as_str().map(str::to_string))
        .collect()
}

async fn call(addr: SocketAddr, method: &str, path: &str, body: &Value) -> (u16, Value) {
    let raw = body.to_string().into_bytes();
    match libproc::testing::http_request(addr, method, path, &raw).await {
        Ok((s, text)) => (s, serde_json::from_str(&text).unwrap_or(Value::Null)),
        Err(e) => (0, json!({"error": e.to_string()})),
    }
}

/// A subscription to `/v2/events`: everything read so far, searchable.
struct Events {
    stream: HttpStream,
    seen: String,
}

impl Events {
    /// Reads until a frame containing every one of `needles` arrived (bounded); returns it.
    async fn wait(&mut self, needles: &[&str], limit: Duration) -> Result<String, String> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(f) = self
                .seen
                .split("\n\n")
                .find(|f| needles.iter().all(|n| f.contains(n)) && f.ends_with('}'))
            {
                return Ok(f.to_string());
            }
            match tokio::time::timeout_at(deadline, self.stream.next_chunk()).await {
                Ok(Some(c)) => self.seen.push_str(&String::from_utf8_lossy(&c)),
                Ok(None) => return Err(format!("the stream ended; seen: {}", self.seen)),
                Err(_) => {
                    return Err(format!(
                        "no {needles:?} within {limit:?}; seen: {}",
                        self.seen
                    ))
                }
            }
        }
    }
}

fn config() -> HaConfig {
    HaConfig {
        agent_resources: "cpus:2;mem:1024;disk:1024".into(),
        instances: 0,
        limit: LIMIT,
        ..HaConfig::default()
    }
}

/// Waits for `deployment_success` of `deployment` on `events`, failing the fixture if not.
async fn expect_success(f: &Fixture, events: &mut Events, deployment: &str) {
    let needle = format!("\"id\":\"{deployment}\"");
    if let Err(e) = events
        .wait(&["event: deployment_success", &needle], LIMIT)
        .await
    {
        f.fail(&e);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marathon_leader_killed_mid_deployment_finishes_it_once() {
    let Some(mut f) = Fixture::start("mfault-marathon", config()).await else {
        return;
    };
    let (leader, _) = f.wait_leader().await;
    let dep = f.create_app("/svc", 4).await;
    // Every instance started, none healthy yet: the deployment is in flight.
    let before = f.wait_started(4).await;
    f.kill_marathon(leader);
    let (next, _) = f.wait_leader().await;
    assert_ne!(next, leader);
    let mut events = f.events().await;
    f.make_ready();
    expect_success(&f, &mut events, &dep).await;
    let after = f.check_converged("/svc", 4).await;
    assert_eq!(before, after, "the new leader adopted the same tasks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mesos_leader_killed_during_a_scale_up_loses_and_doubles_nothing() {
    let Some(mut f) = Fixture::start("mfault-master", config()).await else {
        return;
    };
    f.make_ready();
    f.create_app("/svc", 2).await;
    let before = f.check_converged("/svc", 2).await;
    let mut events = f.events().await;
    let (_, addr) = f.wait_leader().await;
    let master = f.cluster.leader().await;
    f.cluster.kill_master(master);
    // Scaled while the master is gone: the intent is stored, the launches wait.
    let (s, body) = call(addr, "PUT", "/v2/apps/svc", &json!({"instances": 4})).await;
    assert_eq!(s, 200, "{body}");
    let dep = body["deploymentId"]
        .as_str()
        .unwrap_or_else(|| f.fail(&format!("no deploymentId: {body}")))
        .to_string();
    f.cluster.start_master(master).await;
    expect_success(&f, &mut events, &dep).await;
    let after = f.check_converged("/svc", 4).await;
    assert!(
        before.is_subset(&after),
        "running tasks kept: {before:?} -> {after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_agents_instances_are_replaced_and_not_doubled_when_it_returns() {
    let mut config = config();
    config.agent_reregister_timeout = Some("4secs".into());
    let Some(mut f) = Fixture::start("mfault-agent", config).await else {
        return;
    };
    f.make_ready();
    f.create_app("/svc", 3).await;
    f.check_converged("/svc", 3).await;
    let mut events = f.events().await;
    // Stop an agent running the app's tasks, then fail the master over: the new leader
    // gives up on the stopped agent after its re-registration timeout.
    let sleeps_on = |f: &Fixture, i: usize| {
        processes_under(&f.cluster.agent_dir(i))
            .into_iter()
            .filter(|(_, c)| c == "sleep")
            .count()
    };
    let victim = if sleeps_on(&f, 0) >= sleeps_on(&f, 1) {
        0
    } else {
        1
    };
    let stopped = f
        .cluster
        .agent_proc(victim)
        .is_some_and(|p| p.signal(SIGSTOP));
    assert!(stopped, "cannot SIGSTOP the agent");
    let (master, state) = f.cluster.wait_leader("the leader", |_, _| true).await;
    f.cluster.kill_master(master);
    let old_id = state["id"].clone();
    f.cluster
        .wait_leader(
            "the stopped agent unreachable under the new leader",
            |_, s| s["id"] != old_id && s["unreachable_slaves"].as_u64() == Some(1),
        )
        .await;
    // Marathon hears of the lost agent, asks about its instances (TASK_LOST) and replaces
    // them on the other agent: 3 run there while the partition lasts.
    let (_, addr) = f.wait_leader().await;
    let start = Instant::now();
    loop {
        let app = get(addr, "/v2/apps/svc").await.unwrap_or(Value::Null);
        let master = f.cluster.leader_state().await;
        let running = master.map(|(_, s)| marathon_tasks(&s)).unwrap_or_default();
        if app["app"]["tasksHealthy"] == 3 && running.len() == 3 {
            break;
        }
        if start.elapsed() > LIMIT {
            f.fail(&format!(
                "the partitioned agent's instances were not replaced: {app}; master: {running:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if let Err(e) = events.wait(&["TASK_LOST"], LIMIT).await {
        f.fail(&e);
    }
    // Scaled up during the partition: the deployment must finish once the agent is back,
    // with exactly 4 instances; the old tasks on it are killed as unknown.
    let (s, body) = call(addr, "PUT", "/v2/apps/svc", &json!({"instances": 4})).await;
    assert_eq!(s, 200, "{body}");
    let dep = body["deploymentId"]
        .as_str()
        .unwrap_or_else(|| f.fail(&format!("no deploymentId: {body}")))
        .to_string();
    let resumed = f
        .cluster
        .agent_proc(victim)
        .is_some_and(|p| p.signal(SIGCONT));
    assert!(resumed, "cannot SIGCONT the agent");
    f.cluster
        .wait_leader("the agent back", |_, s| {
            s["activated_slaves"].as_u64() == Some(2)
        })
        .await;
    expect_success(&f, &mut events, &dep).await;
    f.check_converged("/svc", 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_instance_is_replaced_after_inactive_and_the_surplus_goes_on_return() {
    let mut config = config();
    config.agent_reregister_timeout = Some("4secs".into());
    let Some(mut f) = Fixture::start("mfault-unreach", config).await else {
        return;
    };
    f.make_ready();
    let inactive = 3.0;
    f.create_app_with(
        "/svc",
        2,
        json!({"unreachableStrategy": {"inactiveAfterSeconds": inactive, "expungeAfterSeconds": 3600}}),
    )
    .await;
    f.check_converged("/svc", 2).await;
    let sleeps_on = |f: &Fixture, i: usize| {
        processes_under(&f.cluster.agent_dir(i))
            .into_iter()
            .filter(|(_, c)| c == "sleep")
            .count()
    };
    let victim = if sleeps_on(&f, 0) >= sleeps_on(&f, 1) {
        0
    } else {
        1
    };
    let on_victim = sleeps_on(&f, victim);
    let stopped = f
        .cluster
        .agent_proc(victim)
        .is_some_and(|p| p.signal(SIGSTOP));
    assert!(stopped, "cannot SIGSTOP the agent");
    let (master, state) = f.cluster.wait_leader("the leader", |_, _| true).await;
    f.cluster.kill_master(master);
    let old_id = state["id"].clone();
    f.cluster
        .wait_leader(
            "the stopped agent unreachable under the new leader",
            |_, s| s["id"] != old_id && s["unreachable_slaves"].as_u64() == Some(1),
        )
        .await;
    // Marathon keeps the lost instances as unreachable and replaces them only after
    // inactiveAfterSeconds.
    let (_, addr) = f.wait_leader().await;
    let start = Instant::now();
    let mut marked: Option<Instant> = None;
    loop {
        let app = get(addr, "/v2/apps/svc?embed=apps.tasks")
            .await
            .unwrap_or(Value::Null);
        let tasks: Vec<Value> = app["app"]["tasks"].as_array().cloned().unwrap_or_default();
        let unreachable = tasks
            .iter()
            .filter(|t| t["state"] == "TASK_UNREACHABLE")
            .count();
        if marked.is_none() && unreachable > 0 {
            marked = Some(Instant::now());
        }
        if let Some(at) = marked {
            let replaced = tasks.len() > 2;
            if replaced && app["app"]["tasksHealthy"] == 2 {
                assert!(
                    at.elapsed() >= Duration::from_secs_f64(inactive - 1.0),
                    "replaced {:?} after the instance was marked unreachable",
                    at.elapsed()
                );
                assert_eq!(unreachable, on_victim, "{app}");
                break;
            }
        }
        if start.elapsed() > LIMIT {
            f.fail(&format!("no unreachable instance replaced: {app}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The agent returns before expungeAfterSeconds: exactly 2 instances stay.
    let resumed = f
        .cluster
        .agent_proc(victim)
        .is_some_and(|p| p.signal(SIGCONT));
    assert!(resumed, "cannot SIGCONT the agent");
    f.cluster
        .wait_leader("the agent back", |_, s| {
            s["activated_slaves"].as_u64() == Some(2)
        })
        .await;
    f.check_converged("/svc", 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zookeeper_restart_mid_deployment_finishes_it_once() {
    let Some(mut f) = Fixture::start("mfault-zk", config()).await else {
        return;
    };
    let dep = f.create_app("/svc", 3).await;
    let before = f.wait_started(3).await;
    f.cluster.zk.stop();
    f.cluster.zk.start_again().await;
    // Whoever leads afterwards (a marathon that lost its session exits and is restarted,
    // as a supervisor would) finishes the deployment.
    let mut events = f.events().await;
    f.make_ready();
    let needle = format!("\"id\":\"{dep}\"");
    let dep_gone = events
        .wait(&["event: deployment_success", &needle], LIMIT)
        .await;
    if let Err(e) = dep_gone {
        // It may have finished before we subscribed on a new leader: the API must say so.
        let (_, addr) = f.wait_leader().await;
        let deps = get(addr, "/v2/deployments").await.unwrap_or(Value::Null);
        if deps.as_array().is_none_or(|d| !d.is_empty()) {
            f.fail(&format!("{e}; deployments: {deps}"));
        }
    }
    let after = f.check_converged("/svc", 3).await;
    assert_eq!(before, after, "the tasks survived the restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_marathon_leader_is_fenced_and_exits_when_resumed() {
    let Some(mut f) = Fixture::start("mfault-pause", config()).await else {
        return;
    };
    f.make_ready();
    f.create_app("/svc", 2).await;
    let before = f.check_converged("/svc", 2).await;
    let (a, _) = f.wait_leader().await;
    let acted = |f: &Fixture| {
        let log = f.marathons[a]
            .as_ref()
            .map(|(p, _)| p.log_text())
            .unwrap_or_default();
        log.lines()
            .filter(|l| l.contains("launching") || l.contains("killing"))
            .count()
    };
    let acted_before = acted(&f);
    let paused = f.marathons[a]
        .as_ref()
        .is_some_and(|(p, _)| p.signal(SIGSTOP));
    assert!(paused, "cannot SIGSTOP the leader");
    // Past its session the other one leads; a change goes through it.
    let (b, b_addr) = f.wait_leader().await;
    assert_ne!(a, b);
    let mut events = f.events().await;
    let (s, body) = call(b_addr, "PUT", "/v2/apps/svc", &json!({"instances": 3})).await;
    assert_eq!(s, 200, "{body}");
    let dep = body["deploymentId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // Resumed, the old leader finds its lease run out: it acts on nothing and exits.
    let resumed = f.marathons[a]
        .as_ref()
        .is_some_and(|(p, _)| p.signal(SIGCONT));
    assert!(resumed, "cannot SIGCONT the old leader");
    let start = Instant::now();
    while f.marathons[a].as_mut().is_some_and(|(p, _)| p.running()) {
        if start.elapsed() > LIMIT {
            f.fail("the resumed old leader kept running");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        acted(&f),
        acted_before,
        "the fenced leader launched or killed"
    );
    expect_success(&f, &mut events, &dep).await;
    let after = f.check_converged("/svc", 3).await;
    assert!(before.is_subset(&after), "{before:?} -> {after:?}");
}

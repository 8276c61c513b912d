//! A Jepsen-style test of Chronos on a real multi-process cluster with a real ZooKeeper
//! ([`cluster::ha::HaCluster`]: two `mesos-master`s, two `mesos-agent`s) and two `chronos`
//! processes electing a leader: 20 jobs at periods of 2–10 s (a chain of three dependent
//! jobs and a child of two parents among them) run while, one after the other,
//!
//! 1. the leading `chronos` is SIGKILLed (its supervisor, the test, restarts it),
//! 2. the leading Mesos master is SIGKILLed (then restarted): chronos must re-register
//!    with the new leader under the same FrameworkID and neither re-run nor skip,
//! 3. ZooKeeper is restarted (masters and chronos processes that gave up are restarted),
//! 4. an agent is partitioned (SIGSTOP, tasks launched there meanwhile hang) until the
//!    rest of the cluster has finished a dozen runs, then resumed.
//!
//! Every task appends its task id (`ct:<due ms>:<attempt>:<job>:<trigger>`) to one file:
//! the runs are counted from the tasks' own side effects. At the end, for every scheduled
//! job, every instant up to the end of the window ran exactly once or is recorded by
//! chronos as missed with its reason, and then only if it fell into a fault (a job whose
//! epsilon outlasts every fault misses none); every dependency trigger ran once, no child
//! ran before its parents had run for it, and a chain's child ran exactly as often as its
//! parent. The test prints the counts.
//!
//! Needs ZooKeeper (skipped locally without it, failed under `CI`) and the workspace
//! binaries (`cargo build --workspace --bins`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use cluster::ha::{HaCluster, HaConfig};
use cluster::procs::{self, Proc};
use cluster::testkit::tail;
use serde_json::{json, Value};

/// Bound on anything the test waits for.
const LIMIT: Duration = Duration::from_secs(60);
const SIGSTOP: i32 = 19;
const SIGCONT: i32 = 18;
/// The epsilon of the jobs that must miss nothing (longer than any fault lasts).
const LONG_EPSILON: &str = "PT60S";
/// The epsilon of the jobs that may miss instants while chronos is down.
const SHORT_EPSILON_S: i64 = 2;

/// The `chronos` processes, each on a fixed port across restarts (as a supervisor would
/// run them).
struct Fleet {
    procs: Vec<Option<Proc>>,
    ports: Vec<u16>,
    starts: Vec<usize>,
    args: Vec<String>,
    logs: PathBuf,
    retired: Vec<Proc>,
}

impl Fleet {
    fn new(n: usize, args: Vec<String>, logs: &Path) -> Fleet {
        let mut f = Fleet {
            procs: (0..n).map(|_| None).collect(),
            ports: (0..n).map(|_| procs::free_port()).collect(),
            starts: vec![0; n],
            args,
            logs: logs.to_path_buf(),
            retired: Vec::new(),
        };
        for i in 0..n {
            f.start(i);
        }
        f
    }

    fn addr(&self, i: usize) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports[i]))
    }

    fn start(&mut self, i: usize) {
        let name = match self.starts[i] {
            0 => format!("chronos-{i}"),
            n => format!("chronos-{i}.{n}"),
        };
        let mut args = self.args.clone();
        args.push(format!("--http_port={}", self.ports[i]));
        // At `info`, so that a failure can quote what chronos did with a task.
        let env = [("RUST_LOG".to_string(), "info".to_string())];
        let p = Proc::start_env(&name, "chronos", &args, &env, &self.logs)
            .unwrap_or_else(|e| panic!("{e}"));
        self.starts[i] += 1;
        if let Some(old) = self.procs[i].replace(p) {
            self.retired.push(old);
        }
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut p) = self.procs[i].take() {
            p.kill();
            self.retired.push(p);
        }
    }

    /// Restarts every chronos that exited (one that lost leadership exits with 3).
    fn supervise(&mut self) -> usize {
        let mut n = 0;
        for i in 0..self.procs.len() {
            let exited = match self.procs[i].as_mut() {
                Some(p) => !p.running(),
                None => true,
            };
            if exited {
                self.start(i);
                n += 1;
            }
        }
        n
    }

    /// The leader, as any live chronos names it, if that one answers the API.
    async fn leader(&self) -> Option<usize> {
        for i in 0..self.procs.len() {
            let Ok(v) = get(self.addr(i), "/v1/scheduler/leader").await else {
                continue;
            };
            let Some(l) = v["leader"].as_str() else {
                continue;
            };
            let Some(j) = (0..self.procs.len()).find(|j| self.addr(*j).to_string() == l) else {
                continue;
            };
            if get(self.addr(j), "/v1/scheduler/jobs").await.is_ok() {
                return Some(j);
            }
        }
        None
    }

    fn logs(&self) -> String {
        let mut s = String::new();
        for p in self.retired.iter().chain(self.procs.iter().flatten()) {
            s.push_str(&format!(
                "--- {} (tail) ---\n{}\n",
                p.name,
                tail(&p.log_text(), 25)
            ));
        }
        s
    }
}

/// `GET path` as JSON, bounded (a stopped process accepts connections but never answers).
async fn get(addr: SocketAddr, path: &str) -> Result<Value, String> {
    tokio::time::timeout(Duration::from_secs(3), procs::get_json(addr, path))
        .await
        .unwrap_or_else(|_| Err(format!("GET {path} on {addr}: no answer")))
}

async fn post(addr: SocketAddr, path: &str, body: &Value) -> Result<(u16, String), String> {
    let body = body.to_string();
    let ask = libproc::testing::http_request(addr, "POST", path, body.as_bytes());
    match tokio::time::timeout(Duration::from_secs(10), ask).await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("POST {path}: no answer")),
    }
}

/// The chronos framework in a master's state, if there is exactly one.
fn chronos_framework(state: &Value) -> Option<&Value> {
    let fs: Vec<&Value> = state["frameworks"]
        .as_array()?
        .iter()
        .filter(|f| f["name"] == "chronos")
        .collect();
    match fs.as_slice() {
        [f] => Some(f),
        _ => None,
    }
}

/// One job of the test: its definition and, if scheduled, its start and period.
struct JobSpec {
    name: String,
    period_s: i64,
    parents: Vec<String>,
    epsilon_s: i64,
    body: Value,
}

fn jobs(start: DateTime<Utc>, runs: &Path) -> Vec<JobSpec> {
    let command = format!("echo \"$MESOS_TASK_ID\" >> {}", runs.display());
    let start = start.format("%Y-%m-%dT%H:%M:%SZ");
    let scheduled = |name: String, period_s: i64, epsilon_s: i64, concurrent: bool| JobSpec {
        body: json!({
            "name": name, "command": command, "owner": "jepsen@example.com",
            "schedule": format!("R/{start}/PT{period_s}S"),
            "epsilon": format!("PT{epsilon_s}S"), "concurrent": concurrent,
            "cpus": 0.05, "mem": 16, "disk": 0,
        }),
        name,
        period_s,
        parents: Vec::new(),
        epsilon_s,
    };
    let dependent = |name: &str, parents: &[&str]| JobSpec {
        name: name.to_string(),
        period_s: 0,
        parents: parents.iter().map(|p| p.to_string()).collect(),
        epsilon_s: 0,
        body: json!({
            "name": name, "command": command, "owner": "jepsen@example.com",
            "parents": parents, "concurrent": true, "cpus": 0.05, "mem": 16, "disk": 0,
        }),
    };
    let long: i64 = 60;
    let mut out = Vec::new();
    // 14 independent jobs at periods 2..10 s, half of them never overlapping.
    for i in 0..14 {
        out.push(scheduled(format!("j{i:02}"), 2 + (i % 9), long, i % 2 == 1));
    }
    // Two with an epsilon shorter than the faults: they may miss instants, visibly.
    for i in 0..2 {
        out.push(scheduled(format!("e{i}"), 3, SHORT_EPSILON_S, true));
    }
    // A chain c-a -> c-b -> c-c, and a child of two parents.
    out.push(scheduled("c-a".into(), 4, long, false));
    out.push(dependent("c-b", &["c-a"]));
    out.push(dependent("c-c", &["c-b"]));
    out.push(dependent("d-ab", &["c-a", "j00"]));
    assert_eq!(out.len(), 20);
    assert_eq!(LONG_EPSILON, "PT60S");
    out
}

/// The runs the tasks recorded: task ids in the order they were written.
fn side_effects(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect()
}

/// What is known of the runs of `job`'s trigger `tag`, for a failure message: the task
/// ids the tasks wrote (their attempts), and how chronos recorded each attempt's end
/// (`history` of `GET /job/stat`: state and message).
fn run_story(job: &str, tag: &str, lines: &[String], stat: Option<&Value>) -> String {
    let suffix = format!(":{job}:{tag}");
    let written: Vec<&String> = lines.iter().filter(|l| l.ends_with(&suffix)).collect();
    let ended: Vec<&Value> = stat
        .and_then(|s| s["history"].as_array())
        .into_iter()
        .flatten()
        .filter(|o| o["taskId"].as_str().is_some_and(|t| t.ends_with(&suffix)))
        .collect();
    format!("  {job} {tag}: the tasks wrote {written:?}; chronos recorded their ends as {ended:?}")
}

/// Every line of the logs in `dir` (chronos, masters, agents) that names `needle`, each
/// prefixed with its log's name, in log order (at most 80).
fn log_lines_naming(dir: &Path, needle: &str) -> String {
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for f in files {
        let name = f
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        out.extend(
            text.lines()
                .filter(|l| l.contains(needle))
                .map(|l| format!("    {name}: {l}")),
        );
    }
    out.truncate(80);
    format!("  log lines naming {needle}:\n{}", out.join("\n"))
}

/// `ct:<due ms>:<attempt>:<job>:<tag>` → (due ms, job, tag).
fn parse_task_id(id: &str) -> Option<(i64, String, String)> {
    let parts: Vec<&str> = id.split(':').collect();
    match parts.as_slice() {
        ["ct", due, _attempt, job, tag] => {
            Some((due.parse().ok()?, job.to_string(), tag.to_string()))
        }
        _ => None,
    }
}

fn total_successes(jobs: &Value) -> u64 {
    jobs.as_array()
        .into_iter()
        .flatten()
        .filter_map(|j| j["successCount"].as_u64())
        .sum()
}

fn successes(jobs: &Value) -> BTreeMap<String, u64> {
    jobs.as_array()
        .into_iter()
        .flatten()
        .map(|j| {
            (
                j["name"].as_str().unwrap_or_default().to_string(),
                j["successCount"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// How long before the end of the window an instant must be for the end-of-window checks
/// to require it decided (run or missed).
const CAUGHT_UP: chrono::Duration = chrono::Duration::seconds(15);

/// Whether every scheduled job in `jobs` (`GET /v1/scheduler/jobs`) has decided each of
/// its instants due before `cutoff`: its next undecided instant (`nextRun`) is not
/// earlier.
fn caught_up(jobs: &Value, cutoff: DateTime<Utc>) -> bool {
    jobs.as_array().into_iter().flatten().all(|j| {
        if j.get("schedule").is_none() {
            return true;
        }
        match j["nextRun"].as_str() {
            Some("") | None => true,
            Some(next) => next.parse::<DateTime<Utc>>().is_ok_and(|n| n >= cutoff),
        }
    })
}

/// A fault: when it began and when the cluster was seen whole again.
struct Fault {
    what: &'static str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

struct Test {
    cluster: HaCluster,
    fleet: Fleet,
    faults: Vec<Fault>,
}

impl Test {
    fn fail(&self, what: &str) -> ! {
        panic!("{what}\n{}\n{}", self.cluster.logs(), self.fleet.logs())
    }

    /// Supervises (restarts exited masters and chronos processes) until a chronos leads
    /// and its framework is registered and active with the leading master under `fid`,
    /// and the jobs answer; returns the chronos leader and its `/jobs`.
    async fn wait_whole(&mut self, what: &str, fid: &str) -> (usize, Value) {
        let start = Instant::now();
        loop {
            self.cluster.supervise().await;
            self.fleet.supervise();
            let master_ok = match self.cluster.leader_state().await {
                Some((_, s)) => {
                    chronos_framework(&s).is_some_and(|f| f["active"] == true && f["id"] == fid)
                }
                None => false,
            };
            if master_ok {
                if let Some(l) = self.fleet.leader().await {
                    if let Ok(j) = get(self.fleet.addr(l), "/v1/scheduler/jobs").await {
                        return (l, j);
                    }
                }
            }
            if start.elapsed() > LIMIT {
                self.fail(&format!(
                    "the cluster was not whole again within {LIMIT:?} after {what}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `pred` holds for the leader's `/jobs` (following the leader).
    async fn wait_jobs(&mut self, what: &str, mut pred: impl FnMut(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            self.fleet.supervise();
            if let Some(l) = self.fleet.leader().await {
                if let Ok(j) = get(self.fleet.addr(l), "/v1/scheduler/jobs").await {
                    if pred(&j) {
                        return j;
                    }
                }
            }
            if start.elapsed() > LIMIT {
                self.fail(&format!("timed out after {LIMIT:?} waiting for {what}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until every job ran `more` more times than in `before` (the system works
    /// for all of them again).
    async fn wait_progress(&mut self, what: &str, before: &Value, more: u64) -> Value {
        let before = successes(before);
        self.wait_jobs(what, |j| {
            let now = successes(j);
            before
                .iter()
                .all(|(n, c)| now.get(n).is_some_and(|x| *x >= c + more))
        })
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_jobs_run_exactly_once_through_chronos_master_zookeeper_and_agent_faults() {
    let t_test = Instant::now();
    let config = HaConfig {
        masters: 2,
        agents: 2,
        agent_resources: "cpus:8;mem:4096;disk:4096".into(),
        instances: 0,
        zk_session_timeout: "4secs".into(),
        ..HaConfig::default()
    };
    let Some(cluster) = HaCluster::start_without_framework("chronos-jepsen", config).await else {
        libproc::testing::skip_unless_ci(
            "chronos jepsen",
            "ZooKeeper is not installed (apt-get install zookeeper)",
        );
        return;
    };
    let runs_file = cluster.dir().join("runs.log");
    let args = vec![
        format!("--master={}", cluster.zk_url()),
        format!("--zk_hosts={}", cluster.zk_proxy.servers()),
        "--zk_path=/chronos/state".to_string(),
        "--zk_timeout=4".to_string(),
        "--failover_timeout=600".to_string(),
    ];
    let fleet = Fleet::new(2, args, &cluster.dir().join("logs"));
    let mut t = Test {
        cluster,
        fleet,
        faults: Vec::new(),
    };

    // A leader, then the jobs (their first instant a few seconds from now).
    let start = Instant::now();
    let leader = loop {
        if let Some(l) = t.fleet.leader().await {
            break l;
        }
        if start.elapsed() > LIMIT {
            t.fail("no chronos leader");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let first = DateTime::<Utc>::from_timestamp(Utc::now().timestamp() + 4, 0)
        .unwrap_or_else(|| t.fail("the clock is out of range"));
    let specs = jobs(first, &runs_file);
    for s in &specs {
        let path = if s.parents.is_empty() {
            "/v1/scheduler/iso8601"
        } else {
            "/v1/scheduler/dependency"
        };
        match post(t.fleet.addr(leader), path, &s.body).await {
            Ok((204, _)) => {}
            other => t.fail(&format!("adding {}: {other:?}", s.name)),
        }
    }
    t.wait_jobs("every job ran once", |j| {
        successes(j).values().all(|c| *c >= 1) && successes(j).len() == 20
    })
    .await;
    let state = t
        .cluster
        .wait_leader("chronos registered", |_, s| chronos_framework(s).is_some())
        .await
        .1;
    let fid = chronos_framework(&state)
        .and_then(|f| f["id"].as_str())
        .unwrap_or_default()
        .to_string();
    eprintln!(
        "jepsen: 20 jobs running after {:?}; framework {fid}",
        t_test.elapsed()
    );

    // Two rounds of the four faults. A fault lasts from its start until the cluster is
    // whole again (plus a little: a chronos may answer before it acts again); a quiet
    // phase follows in which every job runs once more and nothing may be missed.
    let settle = chrono::Duration::seconds(5);
    for round in 0..2 {
        // 1. SIGKILL the leading chronos.
        let from = Utc::now();
        let l = t.fleet.leader().await.unwrap_or(leader);
        t.fleet.kill(l);
        let (_, whole) = t.wait_whole("the chronos kill", &fid).await;
        t.faults.push(Fault {
            what: "chronos leader killed",
            from,
            to: Utc::now() + settle,
        });
        t.wait_progress("runs after the chronos kill", &whole, 1)
            .await;

        // 2. SIGKILL the leading Mesos master: chronos re-registers with the new one
        //    under the same FrameworkID and reconciles.
        let from = Utc::now();
        let (m, s) = t
            .cluster
            .wait_leader("the leading master", |_, _| true)
            .await;
        let old_id = s["id"].clone();
        t.cluster.kill_master(m);
        t.cluster
            .wait_leader("chronos re-registered with the new master", |i, s| {
                i != m
                    && s["id"] != old_id
                    && chronos_framework(s).is_some_and(|f| f["active"] == true && f["id"] == fid)
            })
            .await;
        t.cluster.start_master(m).await;
        let (_, whole) = t.wait_whole("the master kill", &fid).await;
        t.faults.push(Fault {
            what: "Mesos leader killed",
            from,
            to: Utc::now() + settle,
        });
        t.wait_progress("runs after the master kill", &whole, 1)
            .await;

        // 3. Restart ZooKeeper.
        let from = Utc::now();
        t.cluster.zk.stop();
        t.cluster.zk.start_again().await;
        let (_, whole) = t.wait_whole("the ZooKeeper restart", &fid).await;
        t.faults.push(Fault {
            what: "ZooKeeper restarted",
            from,
            to: Utc::now() + settle,
        });
        let after = t
            .wait_progress("runs after the ZooKeeper restart", &whole, 1)
            .await;

        // 4. Partition an agent (SIGSTOP) until the rest of the cluster finished a dozen
        //    runs: tasks launched there meanwhile hang until it is resumed.
        let from = Utc::now();
        let victim = round % 2;
        if !t
            .cluster
            .agent_proc(victim)
            .is_some_and(|p| p.signal(SIGSTOP))
        {
            t.fail("cannot SIGSTOP the agent");
        }
        let base = total_successes(&after);
        t.wait_jobs("a dozen runs while an agent is stopped", |j| {
            total_successes(j) >= base + 12
        })
        .await;
        if !t
            .cluster
            .agent_proc(victim)
            .is_some_and(|p| p.signal(SIGCONT))
        {
            t.fail("cannot SIGCONT the agent");
        }
        let (_, whole) = t.wait_whole("the agent partition", &fid).await;
        t.faults.push(Fault {
            what: "agent partitioned",
            from,
            to: Utc::now() + settle,
        });
        t.wait_progress("runs after the partition", &whole, 1).await;
        eprintln!(
            "jepsen: round {round} of faults over ({:?})",
            t_test.elapsed()
        );
    }
    // The window ends. A job that never overlaps (`concurrent: false`) and had a run
    // hanging on the stopped agent works off its backlog one run at a time, so wait until
    // every scheduled job has decided each instant due `CAUGHT_UP` before the end (bounded:
    // the last of them is missed at the latest when its epsilon runs out). Then disable
    // every scheduled job (same schedule: its instants keep their numbers), and wait until
    // nothing is queued or running.
    let window_end = Utc::now();
    t.wait_whole("the end of the window", &fid).await;
    t.wait_jobs(
        "every job deciding its instants due before the window ended",
        |j| caught_up(j, window_end - CAUGHT_UP),
    )
    .await;
    let (l, _) = t.wait_whole("the end of the window", &fid).await;
    for s in specs.iter().filter(|s| s.parents.is_empty()) {
        let mut body = s.body.clone();
        body["disabled"] = json!(true);
        match post(t.fleet.addr(l), "/v1/scheduler/iso8601", &body).await {
            Ok((204, _)) => {}
            other => t.fail(&format!("disabling {}: {other:?}", s.name)),
        }
    }
    let jobs_end = t
        .wait_jobs("every run over", |j| {
            j.as_array()
                .into_iter()
                .flatten()
                .all(|x| x["running"].as_u64() == Some(0) && x["queued"].as_u64() == Some(0))
        })
        .await;
    let l = t.fleet.leader().await.unwrap_or(l);
    let mut stats = BTreeMap::new();
    for s in &specs {
        match get(
            t.fleet.addr(l),
            &format!("/v1/scheduler/job/stat/{}", s.name),
        )
        .await
        {
            Ok(v) => {
                stats.insert(s.name.clone(), v);
            }
            Err(e) => t.fail(&e),
        }
    }

    // ---- The checks, from the tasks' side effects. ----
    let lines = side_effects(&runs_file);
    let mut by_job: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
    for id in &lines {
        let Some((due, job, tag)) = parse_task_id(id) else {
            problems.push(format!("a task wrote '{id}', not a chronos task id"));
            continue;
        };
        *seen.entry((job.clone(), tag.clone())).or_default() += 1;
        by_job.entry(job).or_default().push((due, tag));
    }
    for ((job, tag), n) in &seen {
        if *n > 1 {
            problems.push(format!("{job} {tag} ran {n} times"));
            problems.push(run_story(job, tag, &lines, stats.get(job)));
            problems.push(log_lines_naming(
                &t.cluster.dir().join("logs"),
                &format!(":{job}:{tag}"),
            ));
        }
    }
    let mut report = Vec::new();
    let (mut total_ran, mut total_missed) = (0, 0);
    for s in specs.iter().filter(|s| s.parents.is_empty()) {
        let ran: BTreeMap<u64, i64> = by_job
            .get(&s.name)
            .into_iter()
            .flatten()
            .filter_map(|(due, tag)| Some((tag.strip_prefix('s')?.parse().ok()?, *due)))
            .collect();
        for (k, due) in &ran {
            let want = first.timestamp_millis() + *k as i64 * s.period_s * 1000;
            if *due != want {
                problems.push(format!(
                    "{} instant {k} ran as due {due}, not {want}",
                    s.name
                ));
            }
        }
        let stat = &stats[&s.name];
        let missed: BTreeMap<u64, Value> = stat["missed"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| Some((m["index"].as_u64()?, m.clone())))
            .collect();
        if stat["missedCount"].as_u64() != Some(missed.len() as u64) {
            problems.push(format!(
                "{}: missedCount {} but {} listed",
                s.name,
                stat["missedCount"],
                missed.len()
            ));
        }
        for (k, m) in &missed {
            if ran.contains_key(k) {
                problems.push(format!("{} instant {k} both ran and was missed", s.name));
            }
            let due: DateTime<Utc> = m["due"]
                .as_str()
                .and_then(|d| d.parse().ok())
                .unwrap_or(first);
            let reason = m["reason"].as_str().unwrap_or_default();
            let eps = chrono::Duration::seconds(s.epsilon_s);
            let in_fault = t
                .faults
                .iter()
                .any(|f| due >= f.from - eps - chrono::Duration::seconds(1) && due <= f.to);
            if reason.is_empty() || !in_fault {
                problems.push(format!(
                    "{} instant {k} (due {due}) missed outside any fault or without a reason: {m}",
                    s.name
                ));
            }
            if s.epsilon_s >= 60 {
                problems.push(format!(
                    "{} instant {k} missed although epsilon outlasts every fault: {m}",
                    s.name
                ));
            }
        }
        let decided: BTreeSet<u64> = ran.keys().chain(missed.keys()).copied().collect();
        let n = decided.iter().max().map_or(0, |m| m + 1);
        if decided.len() as u64 != n {
            let gaps: Vec<u64> = (0..n).filter(|k| !decided.contains(k)).collect();
            problems.push(format!("{} skipped instants {gaps:?}", s.name));
        }
        // Every instant due well before the window ended was decided.
        let due_before =
            ((window_end - CAUGHT_UP - first).num_milliseconds() / (s.period_s * 1000)) as u64;
        if n < due_before {
            problems.push(format!(
                "{}: only {n} instants decided, {due_before} were due",
                s.name
            ));
        }
        total_ran += ran.len();
        total_missed += missed.len();
        report.push(format!(
            "{} every {}s: {} ran, {} missed",
            s.name,
            s.period_s,
            ran.len(),
            missed.len()
        ));
    }
    // Dependencies: each trigger ran once, never before its parents had run for it.
    let mut count: BTreeMap<String, u64> = BTreeMap::new();
    for id in &lines {
        let Some((_, job, _)) = parse_task_id(id) else {
            continue;
        };
        if let Some(spec) = specs.iter().find(|s| s.name == job) {
            let n = count.get(&job).copied().unwrap_or(0) + 1;
            for p in &spec.parents {
                let pn = count.get(p).copied().unwrap_or(0);
                if pn < n {
                    problems.push(format!(
                        "{job} ran for the {n}th time after only {pn} runs of its parent {p}"
                    ));
                }
            }
        }
        *count.entry(job).or_default() += 1;
    }
    for s in specs.iter().filter(|s| !s.parents.is_empty()) {
        let tags: BTreeSet<u64> = by_job
            .get(&s.name)
            .into_iter()
            .flatten()
            .filter_map(|(_, tag)| tag.strip_prefix('d')?.parse().ok())
            .collect();
        let n = count.get(&s.name).copied().unwrap_or(0);
        if tags != (1..=n).collect() {
            problems.push(format!(
                "{}: dependency triggers {tags:?} are not 1..={n}",
                s.name
            ));
        }
        if let [p] = s.parents.as_slice() {
            let pn = count.get(p).copied().unwrap_or(0);
            if pn != n {
                problems.push(format!(
                    "{} ran {n} times for {pn} runs of its parent {p}",
                    s.name
                ));
            }
        }
        report.push(format!("{} (after {:?}): {n} ran", s.name, s.parents));
    }
    // Chronos's own view agrees with the side effects.
    let ok = successes(&jobs_end);
    for s in &specs {
        let side = count.get(&s.name).copied().unwrap_or(0);
        if ok.get(&s.name).copied() != Some(side) {
            problems.push(format!(
                "{}: chronos counts {:?} successes, the tasks {side}",
                s.name,
                ok.get(&s.name)
            ));
        }
    }
    // One framework throughout: the FrameworkID was kept.
    let (_, state) = t.cluster.wait_leader("the final state", |_, _| true).await;
    let n_fw = state["frameworks"].as_array().map_or(0, |f| f.len());
    if n_fw != 1 || chronos_framework(&state).is_none_or(|f| f["id"] != fid.as_str()) {
        problems.push(format!("frameworks at the end: {}", state["frameworks"]));
    }

    println!(
        "chronos jepsen: {} task runs recorded by the tasks",
        lines.len()
    );
    for f in &t.faults {
        println!(
            "  fault: {} ({} s)",
            f.what,
            (f.to - f.from).num_milliseconds() as f64 / 1000.0
        );
    }
    for r in &report {
        println!("  {r}");
    }
    println!(
        "  scheduled instants: {total_ran} ran exactly once, {total_missed} missed (with reasons, in faults); duplicates: {}; wall time {:?}",
        seen.values().filter(|n| **n > 1).count(),
        t_test.elapsed()
    );
    if !problems.is_empty() {
        t.fail(&format!(
            "{} problem(s):\n{}",
            problems.len(),
            problems.join("\n")
        ));
    }
}

#[test]
fn caught_up_needs_every_scheduled_jobs_next_instant_at_or_after_the_cutoff() {
    let cutoff: DateTime<Utc> = "2026-12-07T08:00:10Z".parse().expect("instant");
    let jobs = |next: &str| {
        json!([
            {"name": "s", "schedule": "R/2026-12-07T08:00:00Z/PT2S", "nextRun": next},
            {"name": "child", "parents": ["s"], "nextRun": ""},
        ])
    };
    assert!(caught_up(&jobs("2026-12-07T08:00:10.000Z"), cutoff));
    assert!(caught_up(&jobs("2026-12-07T08:00:12.000Z"), cutoff));
    assert!(!caught_up(&jobs("2026-12-07T08:00:08.000Z"), cutoff));
    assert!(
        caught_up(&jobs(""), cutoff),
        "a finished schedule has no next instant"
    );
}

//! High availability with a real ZooKeeper: the job store (one znode per job, writes fenced
//! by the leader's candidacy), and two `chronos` processes electing a leader on a real
//! multi-process Mesos cluster. The leader is first paused past its session (the other
//! takes over; the paused one, resumed, must not act and exits) and then killed; every
//! scheduled instant runs exactly once throughout, none is missed (downtime stays under
//! epsilon), the child runs once per parent run, and the FrameworkID is kept.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use chronos::core::{JobRecord, JobState};
use chronos::job::JobDef;
use chronos::store::{Store, ZkStore};
use cluster::procs::{self, Proc};
use cluster::testkit::{start_server, tail, wait_exit, MultiCluster};
use detector::zk_test_server::ZkServer;
use detector::ZkUrl;
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(90);

#[tokio::test]
async fn zk_store_keeps_one_znode_per_job_and_fences_writes() {
    let Some(zk) = ZkServer::start().await else {
        return;
    };
    let url: ZkUrl = format!("zk://{}/chronos/state", zk.servers())
        .parse()
        .unwrap();
    let store = ZkStore::new(&url, Duration::from_secs(10));
    let rec = |name: &str| JobRecord {
        def: JobDef::scheduled(name, "true", "R//PT1M"),
        state: JobState::default(),
    };
    store.put("a".into(), Some(rec("a"))).await.unwrap();
    store.put("b".into(), Some(rec("b"))).await.unwrap();
    let mut r2 = rec("a");
    r2.state.next = 7;
    store.put("a".into(), Some(r2)).await.unwrap();
    store.put("b".into(), None).await.unwrap();
    store.put("b".into(), None).await.unwrap();
    let loaded = store.load().await.unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].state.next, 7);
    assert_eq!(store.framework_id().await.unwrap(), None);
    store.set_framework_id("F-1".into()).await.unwrap();
    assert_eq!(store.framework_id().await.unwrap().as_deref(), Some("F-1"));
    // A writer whose fence znode is gone is refused.
    store.set_fence(Some("/chronos/state/no-such-candidacy".into()));
    let e = store.put("a".into(), Some(rec("a"))).await.unwrap_err();
    assert!(e.contains("not the leader"), "{e}");
    assert_eq!(store.load().await.unwrap()[0].state.next, 7);
}

/// `GET path` as JSON, given up after a while (a paused process accepts connections but
/// never answers).
async fn get(addr: SocketAddr, path: &str) -> Result<Value, String> {
    tokio::time::timeout(Duration::from_secs(2), procs::get_json(addr, path))
        .await
        .unwrap_or_else(|_| Err(format!("GET {path} on {addr}: no answer")))
}

async fn leader_of(addrs: &[SocketAddr]) -> Option<usize> {
    for a in addrs {
        if let Ok(v) = get(*a, "/v1/scheduler/leader").await {
            if let Some(l) = v["leader"].as_str() {
                return addrs.iter().position(|x| x.to_string() == l);
            }
        }
    }
    None
}

async fn wait_leader(addrs: &[SocketAddr], not: Option<usize>) -> usize {
    let start = std::time::Instant::now();
    while start.elapsed() < LIMIT {
        if let Some(i) = leader_of(addrs).await {
            if Some(i) != not {
                // It answers the API (it has recovered).
                if get(addrs[i], "/v1/scheduler/jobs").await.is_ok() {
                    return i;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no new chronos leader within {LIMIT:?}");
}

fn count(jobs: &Value, name: &str, field: &str) -> u64 {
    jobs.as_array()
        .into_iter()
        .flatten()
        .find(|j| j["name"] == name)
        .and_then(|j| j[field].as_u64())
        .unwrap_or(0)
}

/// (job, trigger tag) → final states of that trigger's tasks, from the master.
fn runs(state: &Value) -> BTreeMap<(String, String), Vec<String>> {
    let mut out: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for f in state["frameworks"].as_array().into_iter().flatten() {
        for t in f["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(f["completed_tasks"].as_array().into_iter().flatten())
        {
            let id = t["id"].as_str().unwrap_or_default();
            let parts: Vec<&str> = id.split(':').collect();
            if parts.len() == 5 && parts[0] == "ct" {
                out.entry((parts[3].to_string(), parts[4].to_string()))
                    .or_default()
                    .push(t["state"].as_str().unwrap_or_default().to_string());
            }
        }
    }
    out
}

#[tokio::test]
async fn two_chronos_fail_over_without_running_an_instant_twice() {
    let Some(zk) = ZkServer::start().await else {
        return;
    };
    let cluster = MultiCluster::start("chronos-ha", 1, "cpus:8;mem:8192;disk:16384").await;
    let master = cluster.master_arg();
    let zk_hosts = zk.servers();
    let args = |p: u16| {
        vec![
            master.clone(),
            format!("--http_port={p}"),
            format!("--zk_hosts={zk_hosts}"),
            "--zk_path=/chronos/state".to_string(),
            "--zk_timeout=2".to_string(),
        ]
    };
    let mut procs_: Vec<Proc> = Vec::new();
    let mut addrs = Vec::new();
    for i in 0..2 {
        let (p, a) = start_server(
            &format!("chronos-{i}"),
            "chronos",
            args,
            "/ping",
            &cluster.log_dir(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        procs_.push(p);
        addrs.push(a);
    }
    let logs = |ps: &[Proc]| {
        let mut s = cluster.logs();
        for p in ps {
            s.push_str(&format!(
                "--- {} ---\n{}\n",
                p.name,
                tail(&p.log_text(), 40)
            ));
        }
        s
    };
    let first = wait_leader(&addrs, None).await;
    let l = addrs[first];
    // The follower redirects (once it has seen who leads).
    libproc::testing::within(LIMIT, "a 307 from the follower", async {
        loop {
            let r = libproc::testing::http_get(addrs[1 - first], "/v1/scheduler/jobs").await;
            if matches!(r, Ok((307, _))) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    for (path, body) in [
        (
            "/v1/scheduler/iso8601",
            r#"{"name":"tick","command":"true","schedule":"R//PT2S","epsilon":"PT60S","owner":"o","mem":32,"concurrent":true}"#,
        ),
        (
            "/v1/scheduler/dependency",
            r#"{"name":"tock","command":"true","parents":["tick"],"owner":"o","mem":32,"concurrent":true}"#,
        ),
    ] {
        let (s, b) = libproc::testing::http_request(l, "POST", path, body.as_bytes())
            .await
            .unwrap();
        assert_eq!(s, 204, "{b}");
    }
    let jobs = procs::wait_json(l, "/v1/scheduler/jobs", LIMIT, "3 runs", |j| {
        count(j, "tick", "successCount") >= 3
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", logs(&procs_)));
    let before = count(&jobs, "tick", "successCount");

    // 1. Pause the leader past its session: the other takes over; the paused one, resumed,
    //    stops (its lease ran out) and exits.
    assert!(procs_[first].signal(19), "SIGSTOP");
    let second = wait_leader(&addrs, Some(first)).await;
    assert!(procs_[first].signal(18), "SIGCONT");
    let status = wait_exit(&mut procs_[first], LIMIT)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", logs(&procs_)));
    // It lost its lease (exit 3) or the master told it the framework failed over (exit 1).
    assert!(
        matches!(status.code(), Some(1 | 3)),
        "{status:?}\n{}",
        logs(&procs_)
    );
    let l2 = addrs[second];
    let jobs = procs::wait_json(l2, "/v1/scheduler/jobs", LIMIT, "3 more runs", |j| {
        count(j, "tick", "successCount") >= before + 3
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", logs(&procs_)));
    let before = count(&jobs, "tick", "successCount");

    // 2. Restart the old one (as its supervisor would) and kill the leader.
    let port = addrs[first].port();
    procs_[first] = Proc::start(
        &format!("chronos-{first}-again"),
        "chronos",
        &args(port),
        &cluster.log_dir(),
    )
    .unwrap();
    procs::wait_http(addrs[first], "/ping", LIMIT)
        .await
        .unwrap();
    procs_[second].kill();
    let third = wait_leader(&addrs, Some(second)).await;
    assert_eq!(third, first);
    let jobs = procs::wait_json(
        addrs[third],
        "/v1/scheduler/jobs",
        LIMIT,
        "3 more runs",
        |j| {
            count(j, "tick", "successCount") >= before + 3
                && count(j, "tock", "successCount") >= before + 2
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", logs(&procs_)));

    // Exactly once, from the master's record of every task.
    let state = procs::get_json(cluster.master_addr, "/master/state")
        .await
        .unwrap();
    let frameworks = state["frameworks"].as_array().unwrap();
    assert_eq!(
        frameworks.len(),
        1,
        "the FrameworkID was kept: {frameworks:?}"
    );
    assert!(state["completed_frameworks"]
        .as_array()
        .is_none_or(|c| c.is_empty()));
    let runs = runs(&state);
    let mut ticks = BTreeSet::new();
    for ((job, tag), states) in &runs {
        let finished = states.iter().filter(|s| *s == "TASK_FINISHED").count();
        assert!(
            finished <= 1,
            "{job} {tag} finished {finished} times: {states:?}"
        );
        if job == "tick" {
            let k: u64 = tag.trim_start_matches('s').parse().unwrap();
            ticks.insert(k);
        }
    }
    let max = *ticks.iter().max().unwrap();
    let stat = procs::get_json(addrs[third], "/v1/scheduler/job/stat/tick")
        .await
        .unwrap();
    let missed: BTreeSet<u64> = stat["missed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["index"].as_u64().unwrap())
        .collect();
    assert!(missed.is_empty(), "missed within epsilon: {stat}");
    let expected: BTreeSet<u64> = (0..=max).collect();
    assert_eq!(ticks, expected, "an instant was skipped");
    println!(
        "chronos HA: {} instants of tick, each run exactly once; tock ran {} times; missed {}",
        ticks.len(),
        count(&jobs, "tock", "successCount"),
        missed.len()
    );
}

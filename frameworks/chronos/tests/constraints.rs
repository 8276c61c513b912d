//! Placement constraints on a real multi-process cluster: two `mesos-agent`s with
//! `--attributes=rack:r1` and `rack:r2`; runs of a job constrained with `EQUALS`, `LIKE`
//! or `UNLIKE` land only on the agents whose attributes match (checked against the
//! master's record of where each task ran), and a job no agent matches waits queued.

use std::collections::BTreeMap;
use std::time::Duration;

use cluster::procs;
use cluster::testkit::{start_server, tail, MultiCluster};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(60);

fn count(jobs: &Value, name: &str, field: &str) -> u64 {
    jobs.as_array()
        .into_iter()
        .flatten()
        .find(|j| j["name"] == name)
        .and_then(|j| j[field].as_u64())
        .unwrap_or(0)
}

#[tokio::test]
async fn constrained_runs_land_only_on_matching_agents() {
    let mut cluster = MultiCluster::start("chronos-constraints", 0, "cpus:4;mem:4096").await;
    let master = cluster.master_arg();
    for (i, rack) in [(1, "r1"), (2, "r2")] {
        let work_dir = cluster.agent_work_dir(i);
        let (p, addr) = start_server(
            &format!("agent-{i}"),
            "mesos-agent",
            |port| {
                vec![
                    master.clone(),
                    format!("--port={port}"),
                    format!("--work_dir={}", work_dir.display()),
                    "--resources=cpus:4;mem:4096;disk:4096".into(),
                    format!("--attributes=rack:{rack};zone:{i}"),
                ]
            },
            "/state",
            &cluster.log_dir(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        cluster.agents.push(p);
        cluster.agent_addrs.push(addr);
    }
    let state = cluster
        .wait_activated(2)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));
    // Agent id → its rack.
    let racks: BTreeMap<String, String> = state["slaves"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            (
                a["id"].as_str().unwrap_or_default().to_string(),
                a["attributes"]["rack"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(racks.len(), 2, "{state}");

    let (chronos, addr) = start_server(
        "chronos",
        "chronos",
        |p| vec![master.clone(), format!("--http_port={p}")],
        "/ping",
        &cluster.log_dir(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));
    let logs = || {
        format!(
            "{}\n--- chronos ---\n{}",
            cluster.logs(),
            tail(&chronos.log_text(), 40)
        )
    };
    let job = |name: &str, constraint: &str| {
        format!(
            r#"{{"name":"{name}","command":"true","schedule":"R//PT2S","owner":"o","mem":16,
                "constraints":[{constraint}]}}"#
        )
    };
    for body in [
        job("on-r1", r#"["rack","EQUALS","r1"]"#),
        job("like-r2", r#"["rack","LIKE","r[2-9]"]"#),
        job("not-r1", r#"["rack","UNLIKE","r1"]"#),
        job("nowhere", r#"["rack","EQUALS","r7"]"#),
    ] {
        let (s, b) =
            libproc::testing::http_request(addr, "POST", "/v1/scheduler/iso8601", body.as_bytes())
                .await
                .unwrap();
        assert_eq!(s, 204, "{b}");
    }
    // A bad operator is refused with the reason.
    let (s, b) = libproc::testing::http_request(
        addr,
        "POST",
        "/v1/scheduler/iso8601",
        job("bad", r#"["rack","CLUSTER","r1"]"#).as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(s, 400, "{b}");
    assert!(b.contains("EQUALS, LIKE, UNLIKE"), "{b}");

    let jobs = procs::wait_json(addr, "/v1/scheduler/jobs", LIMIT, "3 runs each", |j| {
        ["on-r1", "like-r2", "not-r1"]
            .iter()
            .all(|n| count(j, n, "successCount") >= 3)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", logs()));
    assert_eq!(count(&jobs, "nowhere", "successCount"), 0);
    assert!(count(&jobs, "nowhere", "queued") >= 1, "{jobs}");

    // Where each task ran, as the master recorded it.
    let state = procs::get_json(cluster.master_addr, "/master/state")
        .await
        .unwrap();
    let mut on: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for f in state["frameworks"].as_array().into_iter().flatten() {
        for t in f["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(f["completed_tasks"].as_array().into_iter().flatten())
        {
            let job = t["name"]
                .as_str()
                .unwrap_or_default()
                .trim_start_matches("ChronosTask:")
                .to_string();
            let rack = racks
                .get(t["slave_id"].as_str().unwrap_or_default())
                .cloned()
                .unwrap_or_default();
            *on.entry(job).or_default().entry(rack).or_default() += 1;
        }
    }
    let racks_of = |job: &str| on.get(job).map(|m| m.keys().cloned().collect::<Vec<_>>());
    assert_eq!(racks_of("on-r1"), Some(vec!["r1".to_string()]), "{on:?}");
    assert_eq!(racks_of("like-r2"), Some(vec!["r2".to_string()]), "{on:?}");
    assert_eq!(racks_of("not-r1"), Some(vec!["r2".to_string()]), "{on:?}");
    assert_eq!(racks_of("nowhere"), None, "{on:?}");
    // /stats ranks the jobs that ran by run time (Chronos's shape).
    let stats = procs::get_json(addr, "/scheduler/stats/99thPercentile")
        .await
        .unwrap();
    let names: Vec<&str> = stats
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["jobNameLabel"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{stats}");
    assert!(stats[0]["time"].as_f64().unwrap() >= stats[2]["time"].as_f64().unwrap());
    println!("constraints: runs per job and rack {on:?}");
}

//! Placement constraints against a real cluster with racks: four agents (`agent1`,
//! `agent2` on rack r1, `agent3` on r2, `agent4` on r3); every placement of every app must
//! satisfy its constraint, and an app that cannot be placed fully waits in the queue.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

fn rack_of(host: &str) -> &'static str {
    match host {
        "agent1" | "agent2" => "r1",
        "agent3" => "r2",
        "agent4" => "r3",
        _ => "?",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constraints_hold_for_every_placement() {
    let c = common::cluster(
        "marathon-racks",
        &["rack:r1", "rack:r1", "rack:r2", "rack:r3"],
    )
    .await;
    let (mut m, addr) = common::marathon(&c, "marathon", &[]).await;
    let apps = [
        ("/unique", 4, json!([["hostname", "UNIQUE"]])),
        ("/groupby", 6, json!([["rack", "GROUP_BY", "3"]])),
        ("/maxper", 4, json!([["rack", "MAX_PER", "2"]])),
        ("/like", 3, json!([["rack", "LIKE", "r[12]"]])),
        ("/unlike", 3, json!([["rack", "UNLIKE", "r1"]])),
        ("/toomany", 5, json!([["hostname", "UNIQUE"]])),
    ];
    for (id, n, cons) in &apps {
        let (s, body) = common::call(
            addr,
            "POST",
            "/v2/apps",
            &json!({"id": id, "cmd": "sleep 1000", "cpus": 0.05, "mem": 8, "instances": n, "constraints": cons}),
        )
        .await;
        assert_eq!(s, 201, "{id}: {body}");
    }
    // A bad constraint is a 422 in Marathon's shape.
    let (s, body) = common::call(
        addr,
        "POST",
        "/v2/apps",
        &json!({"id": "/bad", "cmd": "x", "constraints": [["rack", "MAX_PER", "many"]]}),
    )
    .await;
    assert_eq!(s, 422, "{body}");
    assert_eq!(body["details"][0]["path"], "/constraints(0)");

    let want: usize = 4 + 6 + 4 + 3 + 3 + 4;
    let tasks = cluster::procs::wait_json(
        addr,
        "/v2/tasks",
        Duration::from_secs(90),
        "every placeable instance running",
        |v| {
            v["tasks"]
                .as_array()
                .is_some_and(|t| t.len() == want && t.iter().all(|x| x["state"] == "TASK_RUNNING"))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));
    let mut by_app: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for t in tasks["tasks"].as_array().into_iter().flatten() {
        by_app
            .entry(t["appId"].as_str().unwrap_or_default().to_string())
            .or_default()
            .push(t["host"].as_str().unwrap_or_default().to_string());
    }
    let count = |hosts: &[String], f: &dyn Fn(&str) -> &str| {
        let mut m: BTreeMap<String, usize> = BTreeMap::new();
        for h in hosts {
            *m.entry(f(h).to_string()).or_default() += 1;
        }
        m
    };
    let unique = count(&by_app["/unique"], &|h| h);
    assert!(
        unique.values().all(|&n| n == 1) && unique.len() == 4,
        "UNIQUE hostname: {unique:?}"
    );
    let toomany = count(&by_app["/toomany"], &|h| h);
    assert!(
        toomany.values().all(|&n| n == 1) && toomany.len() == 4,
        "UNIQUE with 5 > 4 hosts: {toomany:?}"
    );
    let group = count(&by_app["/groupby"], &|h| rack_of(h));
    assert_eq!(
        group.values().copied().collect::<Vec<_>>(),
        vec![2, 2, 2],
        "GROUP_BY rack 3: {group:?}"
    );
    let maxper = count(&by_app["/maxper"], &|h| rack_of(h));
    assert!(
        maxper.values().all(|&n| n <= 2),
        "MAX_PER rack 2: {maxper:?}"
    );
    assert!(
        by_app["/like"]
            .iter()
            .all(|h| matches!(rack_of(h), "r1" | "r2")),
        "LIKE: {:?}",
        by_app["/like"]
    );
    assert!(
        by_app["/unlike"].iter().all(|h| rack_of(h) != "r1"),
        "UNLIKE: {:?}",
        by_app["/unlike"]
    );
    // The fifth /toomany instance waits in the launch queue.
    let (s, q) = common::call(addr, "GET", "/v2/queue", &Value::Null).await;
    assert_eq!(s, 200);
    let waiting: Vec<&Value> = q["queue"].as_array().into_iter().flatten().collect();
    assert_eq!(waiting.len(), 1, "{q}");
    assert_eq!(waiting[0]["app"]["id"], "/toomany");
    assert_eq!(waiting[0]["count"], 1);
    m.kill();
}

//! High availability with a real ZooKeeper: two `marathon` processes elect a leader, the
//! follower proxies the API to it, and when the leader is SIGKILLed mid-deployment the
//! follower takes over with the same FrameworkID, adopts the running tasks and finishes the
//! deployment: exactly `instances` tasks run and healthy, none was launched twice.

mod common;

use std::time::Duration;

use cluster::procs::wait_json;
use detector::zk_test_server::ZkServer;
use serde_json::{json, Value};

const LIMIT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_killed_mid_deployment_follower_takes_over() {
    let Some(zk) = ZkServer::start().await else {
        return;
    };
    let c = common::cluster("marathon-ha", &["", ""]).await;
    let zk_flag = format!("--zk=zk://{}/marathon", zk.servers());
    let flags = vec![zk_flag, "--zk_session_timeout=3".to_string()];
    let (mut a, a_addr) = common::marathon(&c, "marathon-a", &flags).await;
    let info = wait_json(
        a_addr,
        "/v2/info",
        LIMIT,
        "marathon-a elected and registered",
        |v| v["elected"] == true && v["frameworkId"].is_string(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", a.log_text()));
    let framework_id = info["frameworkId"].clone();
    let (mut b, b_addr) = common::marathon(&c, "marathon-b", &flags).await;
    let a_name = format!("127.0.0.1:{}", a_addr.port());
    wait_json(
        b_addr,
        "/v2/leader",
        LIMIT,
        "marathon-b follows marathon-a",
        |v| v["leader"] == a_name.as_str(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", b.log_text()));

    // Created through the follower: proxied to the leader.
    let (s, body) = common::call(
        b_addr,
        "POST",
        "/v2/apps",
        &json!({"id": "/svc", "cmd": "sleep 1000", "cpus": 0.05, "mem": 8, "instances": 4,
                "healthChecks": [{"protocol": "COMMAND", "command": {"value": "true"},
                    "delaySeconds": 1, "intervalSeconds": 1, "gracePeriodSeconds": 30}]}),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    let (_, deps) = common::call(a_addr, "GET", "/v2/deployments", &Value::Null).await;
    assert_eq!(
        deps.as_array().map(Vec::len),
        Some(1),
        "the deployment is under way: {deps}"
    );
    a.kill();

    let info = wait_json(b_addr, "/v2/info", LIMIT, "marathon-b elected", |v| {
        v["elected"] == true
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", b.log_text()));
    assert_eq!(
        info["frameworkId"], framework_id,
        "the new leader keeps the FrameworkID"
    );
    wait_json(
        b_addr,
        "/v2/apps/svc",
        LIMIT,
        "4 healthy instances, deployment done",
        |v| {
            v["app"]["tasksHealthy"] == 4
                && v["app"]["deployments"]
                    .as_array()
                    .is_some_and(Vec::is_empty)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}\n{}", b.log_text(), c.logs()));
    let (_, leader) = common::call(b_addr, "GET", "/v2/leader", &Value::Null).await;
    assert_eq!(leader["leader"], format!("127.0.0.1:{}", b_addr.port()));
    // Mesos agrees: one framework, 4 running tasks, nothing launched twice or killed.
    let state = cluster::procs::get_json(c.master_addr, "/master/state")
        .await
        .unwrap();
    let fws: Vec<&Value> = state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["name"] == "marathon")
        .collect();
    assert_eq!(fws.len(), 1, "{state}");
    let f = fws[0];
    assert_eq!(f["id"], framework_id);
    let running = f["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["state"] == "TASK_RUNNING")
        .count();
    assert_eq!(running, 4, "{f}");
    assert_eq!(
        f["completed_tasks"].as_array().map(Vec::len).unwrap_or(0),
        0,
        "no task was killed or duplicated: {f}"
    );
    b.kill();
}

//! `/master/state` carries what Mesos's does and its readers (Mesos-DNS, mesos-exporter)
//! read: reservations per role, custom executors, tasks' user/container/discovery, agent
//! capabilities, and no `pid` for a framework without one.

use super::*;
use crate::state_json;
use proto::{ContainerInfo, DiscoveryInfo, ExecutorInfo};

fn state(m: &Master) -> serde_json::Value {
    state_json::state(m, &serde_json::json!({}))
}

#[test]
fn reserved_resources_follow_a_dynamic_reservation_per_role() {
    let mut m = master();
    let a = add_agent(&mut m, AGENT, "cpus:4;mem:1024;cpus(eng):1");
    let v = state(&m);
    assert_eq!(v["slaves"][0]["reserved_resources"]["eng"]["cpus"], 1.0);
    assert!(v["slaves"][0]["reserved_resources"].get("ads").is_none());
    let body = format!(
        "slaveId={a}&resources={}",
        r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":2},"role":"ads","reservation":{"principal":"ops"}}]"#
    );
    m.operator_reserve(body.as_bytes()).expect("reserved");
    let v = state(&m);
    let slave = &v["slaves"][0];
    assert_eq!(slave["reserved_resources"]["ads"]["cpus"], 2.0, "{slave}");
    assert_eq!(slave["reserved_resources"]["eng"]["cpus"], 1.0);
    assert_eq!(slave["unreserved_resources"]["cpus"], 2.0);
    assert!(slave["reserved_resources_full"]["ads"].is_array());
    assert_eq!(
        slave["capabilities"],
        serde_json::json!(["MULTI_ROLE", "HIERARCHICAL_ROLE"])
    );
    assert!(v["recovered_slaves"].is_array());
}

#[test]
fn tasks_carry_user_container_discovery_and_frameworks_their_executors() {
    let (mut m, a, f, o) = setup();
    let mut t = task("web", &a, "cpus:1;mem:128");
    t.container = Some(ContainerInfo::docker("busybox"));
    t.discovery = Some(DiscoveryInfo {
        name: Some("web".into()),
        ..Default::default()
    });
    let mut custom = task("custom", &a, "cpus:1;mem:128");
    custom.command = None;
    let mut exec = ExecutorInfo::new("E1".into(), CommandInfo::shell("my-executor"));
    exec.framework_id = Some(f.clone());
    custom.executor = Some(exec);
    let fx = m.accept(&pid(SCHED), launch(&f, vec![o], vec![t, custom]));
    assert_eq!(run_tasks(&fx).len(), 2, "{fx:?}");

    let v = state(&m);
    let fw = &v["frameworks"][0];
    assert_eq!(fw["pid"], SCHED);
    let web = fw["tasks"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["id"] == "web"))
        .expect("task web");
    assert_eq!(web["user"], "root");
    assert_eq!(web["container"]["type"], "DOCKER");
    assert_eq!(web["discovery"]["name"], "web");
    assert_eq!(fw["executors"][0]["executor_id"]["value"], "E1");
    assert_eq!(fw["executors"][0]["slave_id"], a.as_str());

    // The executor exits: it is gone from the list.
    m.executor_exited(
        &pid(AGENT),
        ExitedExecutorMessage {
            agent_id: a.clone(),
            framework_id: f.clone(),
            executor_id: "E1".into(),
            status: 0,
        },
    );
    assert_eq!(
        state(&m)["frameworks"][0]["executors"],
        serde_json::json!([])
    );
}

#[test]
fn a_framework_without_a_pid_has_no_pid_key() {
    let mut m = master();
    let mut fx = Vec::new();
    let fid = FrameworkId::new("recovered-fw");
    let mut info = FrameworkInfo::new("old", "root");
    info.id = Some(fid.clone());
    m.ensure_framework(&fid, &[info], &mut fx);
    let v = state(&m);
    let fw = &v["frameworks"][0];
    assert_eq!(fw["id"], "recovered-fw");
    assert!(fw.get("pid").is_none(), "{fw}");
}

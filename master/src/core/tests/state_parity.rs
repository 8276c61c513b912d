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

/// A state with a bit of everything `/master/state` shows: reservations and attributes,
/// a disconnected agent, a framework with capabilities and roles, tasks with container,
/// discovery, health check, labels and rich statuses, a custom executor, a completed
/// task, an outstanding offer, a framework without a PID and a completed framework.
fn rich_state() -> Master {
    let mut m = Master::new(
        MasterConfig {
            cluster: Some("prod".into()),
            ..config()
        },
        pid("master@127.0.0.1:5050"),
    );
    let mut info = AgentInfo::new(
        "host1",
        "cpus:8;mem:4096;disk:100;cpus(eng):1;ports:[31000-32000];gpus:0"
            .parse()
            .expect("resources"),
    );
    info.attributes = "rack:r1;zone:2".parse().expect("attributes");
    m.register_agent(
        &pid(AGENT),
        RegisterSlaveMessage {
            slave: info,
            checkpointed_resources: Resources::new(),
            version: "1.11.0".into(),
        },
    );
    let a = m.agents().keys().next().cloned().expect("agent");
    let a2 = add_agent(&mut m, AGENT2, "cpus:2;mem:512");
    let mut fi = FrameworkInfo::new("fw \"quoted\" é", "root");
    fi.capabilities = vec![
        FrameworkCapability::PartitionAware,
        FrameworkCapability::MultiRole,
    ];
    fi.roles = vec!["eng".into(), "ops".into()];
    fi.webui_url = Some("http://fw:8080".into());
    fi.hostname = Some("fw-host".into());
    fi.principal = Some("me".into());
    fi.checkpoint = true;
    let f = add_framework(&mut m, SCHED, fi);
    let o = offer(&mut m, &f, &a, "cpus:6;mem:3072;ports:[31000-31010]");
    let mut web = task("web", &a, "cpus:1;mem:128;ports:[31000-31001]");
    web.container = Some(ContainerInfo::docker("busybox"));
    web.discovery = Some(DiscoveryInfo {
        name: Some("web".into()),
        ..Default::default()
    });
    web.health_check = Some(proto::HealthCheck::tcp(31000));
    web.labels = proto::Labels::new().with("k", "v");
    let mut custom = task("custom", &a, "cpus:1;mem:128");
    custom.command = None;
    let mut exec = ExecutorInfo::new("E1".into(), CommandInfo::shell("my-executor"));
    exec.framework_id = Some(f.clone());
    custom.executor = Some(exec);
    let done = task("done", &a, "cpus:0.5;mem:32");
    m.accept(&pid(SCHED), launch(&f, vec![o], vec![web, custom, done]));
    let mut status = TaskStatus::new("web".into(), TaskState::Running)
        .with_agent(a.clone())
        .with_source(Source::Executor)
        .with_healthy(true)
        .with_message("up")
        .with_labels(proto::Labels::new().with("x", "y"))
        .with_uuid(StatusUuid::from_u128(1));
    status.container_status = Some(Box::new(proto::ContainerStatus::on_host(None, "10.0.0.7")));
    for (s, uuid) in [
        (status, 1),
        (
            TaskStatus::new("done".into(), TaskState::Finished)
                .with_agent(a.clone())
                .with_reason(proto::Reason::CommandExecutorFailed)
                .with_uuid(StatusUuid::from_u128(2)),
            2,
        ),
    ] {
        let _ = uuid;
        m.status_update(
            &pid(AGENT),
            StatusUpdateMessage {
                update: StatusUpdate {
                    framework_id: f.clone(),
                    executor_id: None,
                    agent_id: Some(a.clone()),
                    status: s,
                    timestamp: 1.5,
                    latest_state: None,
                },
                pid: Some(AGENT.into()),
            },
        );
    }
    m.acknowledge(&pid(SCHED), ack(&a, &f, "done", 2));
    // A framework known only from an agent, and one that left.
    let mut fx = Vec::new();
    let rid = FrameworkId::new("recovered-fw");
    let mut old = FrameworkInfo::new("old", "root");
    old.id = Some(rid.clone());
    m.ensure_framework(&rid, &[old], &mut fx);
    let gone = add_framework(
        &mut m,
        "scheduler-2@127.0.0.1:6001",
        FrameworkInfo::new("gone", "bob"),
    );
    m.unregister_framework(
        &pid("scheduler-2@127.0.0.1:6001"),
        UnregisterFrameworkMessage { framework_id: gone },
    );
    m.exited(&pid(AGENT2));
    let _ = a2;
    offer(&mut m, &f, &a, "cpus:1;mem:64");
    m
}

/// The state JSON is what the value-tree renderer (before `/master/state` was streamed
/// into bytes) gave for [`rich_state`], byte for byte: `state_golden.json` is its output.
/// A deliberate change to the state JSON changes this file too: write the new output
/// there (`render_state(&rich_state(), &flags)`) and review its diff.
#[test]
fn the_streamed_state_is_byte_for_byte_the_value_tree_one() {
    let m = rich_state();
    let flags = serde_json::json!({"port": "5050", "quiet": "false"});
    let streamed = state_json::render_state(&m, &flags);
    // A second rendering writes the tasks' cached JSON: the same bytes.
    assert_eq!(state_json::render_state(&m, &flags), streamed);
    let v = state(&m);
    // The state really has what the comparison is about.
    let fw = &v["frameworks"][0];
    assert_eq!(fw["tasks"].as_array().map(Vec::len), Some(2), "{fw}");
    assert_eq!(
        fw["completed_tasks"].as_array().map(Vec::len),
        Some(1),
        "{fw}"
    );
    assert_eq!(fw["offers"].as_array().map(Vec::len), Some(1), "{fw}");
    assert_eq!(fw["executors"].as_array().map(Vec::len), Some(1), "{fw}");
    assert_eq!(v["completed_frameworks"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["deactivated_slaves"], 1, "{v}");
    assert_eq!(
        String::from_utf8_lossy(&streamed),
        include_str!("state_golden.json")
    );
}

/// Warming the tasks' JSON (what the master does off its thread after tasks changed)
/// caches every task's, the core's records included, and the state is the same bytes.
#[test]
fn warming_caches_every_task_and_leaves_the_state_unchanged() {
    let m = rich_state();
    let flags = serde_json::json!({"port": "5050", "quiet": "false"});
    let cold = state_json::render_state(&rich_state(), &flags);
    let snapshot = m.clone();
    let tasks = |m: &Master| -> Vec<Arc<TaskRecord>> {
        m.frameworks()
            .values()
            .flat_map(|f| {
                f.tasks
                    .values()
                    .chain(f.unreachable_tasks.values())
                    .chain(f.completed_tasks.iter())
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    assert!(tasks(&m).iter().any(|t| !t.is_rendered()));
    assert_eq!(
        state_json::warm_task_json(snapshot.frameworks()),
        tasks(&m).len()
    );
    assert!(tasks(&m).iter().all(|t| t.is_rendered()));
    assert_eq!(state_json::warm_task_json(snapshot.frameworks()), 0);
    assert_eq!(state_json::render_state(&m, &flags), cold);
}

/// `/master/frameworks`, `/master/slaves`, `/master/tasks` and `/master/state-summary`
/// show the same records as `/master/state`.
#[test]
fn the_other_views_agree_with_the_state() {
    let m = rich_state();
    let v = state(&m);
    let parse = |b: Vec<u8>| -> serde_json::Value { serde_json::from_slice(&b).expect("json") };
    let flags = serde_json::json!({});
    let fws = parse(state_json::render_frameworks(&m, &flags));
    assert_eq!(fws["frameworks"], v["frameworks"]);
    assert_eq!(fws["completed_frameworks"], v["completed_frameworks"]);
    let slaves = parse(state_json::render_slaves(&m, &flags));
    assert_eq!(slaves["slaves"], v["slaves"]);
    assert_eq!(slaves["recovered_slaves"], v["recovered_slaves"]);
    let tasks = parse(state_json::render_tasks(&m, &flags));
    let ids: Vec<&str> = tasks["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert_eq!(ids, ["custom", "web", "done"], "{tasks}");
    assert_eq!(tasks["tasks"][1], v["frameworks"][0]["tasks"][1]);
    let summary = parse(state_json::render_state_summary(&m, &flags));
    let fw = &summary["frameworks"][0];
    assert_eq!(fw["TASK_RUNNING"], 1, "{fw}");
    assert_eq!(fw["TASK_FINISHED"], 1, "{fw}");
    assert!(
        fw.get("tasks").is_none() && fw.get("offers").is_none(),
        "{fw}"
    );
    assert_eq!(fw["used_resources"], v["frameworks"][0]["used_resources"]);
    assert_eq!(summary["slaves"][0]["TASK_STAGING"], 1);
}

/// The task `id` of the first framework in a rendered `/master/state`, looked for in
/// `tasks` and `completed_tasks`.
fn rendered_task(body: &[u8], id: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_slice(body).expect("state JSON");
    let fw = &v["frameworks"][0];
    ["tasks", "completed_tasks"]
        .iter()
        .filter_map(|k| fw[k].as_array())
        .flatten()
        .find(|t| t["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no task {id} in {fw}"))
}

/// A task's JSON is cached in its record by the first rendering; every change to the
/// task (a status update, its state, a move to the completed tasks) shows in the next
/// rendering, both when the core owns the record alone and when a snapshot shares it, and
/// the snapshot keeps showing what it was taken with.
#[test]
fn a_tasks_cached_json_follows_every_change_to_the_task() {
    let (mut m, a, f, o) = setup();
    let flags = serde_json::json!({});
    m.accept(
        &pid(SCHED),
        launch(&f, vec![o], vec![task("t1", &a, "cpus:1;mem:128")]),
    );
    let record = |m: &Master| m.frameworks()[&f].tasks[&TaskId::new("t1")].clone();
    let t = rendered_task(&state_json::render_state(&m, &flags), "t1");
    assert_eq!(t["state"], "TASK_STAGING");
    assert!(record(&m).is_rendered());

    // The core alone holds the record: the update changes it in place.
    running(&mut m, &f, &a, "t1", TaskState::Running, 1);
    assert!(!record(&m).is_rendered());
    let t = rendered_task(&state_json::render_state(&m, &flags), "t1");
    assert_eq!(t["state"], "TASK_RUNNING", "{t}");
    assert_eq!(t["statuses"].as_array().map(Vec::len), Some(1), "{t}");
    assert_eq!(t["status_update_state"], "TASK_RUNNING", "{t}");

    // A snapshot shares the record (and its cache): the update copies it.
    let snapshot = m.clone();
    let before = state_json::render_state(&snapshot, &flags);
    running(&mut m, &f, &a, "t1", TaskState::Failed, 2);
    let t = rendered_task(&state_json::render_state(&m, &flags), "t1");
    assert_eq!(t["state"], "TASK_FAILED", "{t}");
    assert_eq!(t["statuses"].as_array().map(Vec::len), Some(2), "{t}");
    assert_eq!(state_json::render_state(&snapshot, &flags), before);

    // Acknowledged, it moves to the completed tasks, still showing its latest state.
    m.acknowledge(&pid(SCHED), ack(&a, &f, "t1", 2));
    assert!(m.frameworks()[&f].tasks.is_empty());
    let t = rendered_task(&state_json::render_state(&m, &flags), "t1");
    assert_eq!(t["state"], "TASK_FAILED", "{t}");
    // Every cached rendering is what rendering the task afresh gives.
    let fresh = proto::state_json::task_json(&m.frameworks()[&f].completed_tasks[0], Some("root"));
    assert_eq!(t, fresh);
}

/// The snapshot the views render shares the core's agent and framework records (taking
/// it copies pointers, not the cluster), and what changes in the core after it copies
/// only the records it changes: the snapshot keeps showing what it was taken with.
#[test]
fn a_snapshot_shares_records_until_the_core_changes_them() {
    let (mut m, a, f, o) = setup();
    m.accept(
        &pid(SCHED),
        launch(&f, vec![o], vec![task("t1", &a, "cpus:1;mem:128")]),
    );
    let snapshot = m.clone();
    assert!(Arc::ptr_eq(&m.agents()[&a], &snapshot.agents()[&a]));
    assert!(Arc::ptr_eq(&m.frameworks()[&f], &snapshot.frameworks()[&f]));
    assert!(Arc::ptr_eq(&m.registry, &snapshot.registry));

    // The scheduler and the agent go away: the core copies those two records.
    m.exited(&pid(SCHED));
    m.exited(&pid(AGENT));
    assert!(!Arc::ptr_eq(&m.agents()[&a], &snapshot.agents()[&a]));
    assert!(!Arc::ptr_eq(
        &m.frameworks()[&f],
        &snapshot.frameworks()[&f]
    ));
    assert!(!m.agents()[&a].connected);
    assert!(!m.frameworks()[&f].connected);
    let v = state(&snapshot);
    assert_eq!(v["slaves"][0]["active"], true, "{v}");
    assert_eq!(v["frameworks"][0]["connected"], true, "{v}");
    assert_eq!(
        v["frameworks"][0]["tasks"][0]["state"], "TASK_STAGING",
        "{v}"
    );
}

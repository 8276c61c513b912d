//! Unit and property tests of the core's decisions.

use super::*;
use proptest::prelude::*;

fn ready_core() -> Core {
    let mut c = Core::new(7);
    c.ready = true;
    c
}

fn offer(host: &str, rack: &str) -> OfferView {
    let mut attributes = BTreeMap::new();
    attributes.insert("rack".to_string(), rack.to_string());
    OfferView {
        agent_id: format!("agent-{host}"),
        place: Place {
            hostname: host.into(),
            attributes,
        },
        cpus: 8.0,
        mem: 4096.0,
        disk: 1000.0,
        ports: vec![(31000, 31100)],
    }
}

fn apply(c: &mut Core, p: Result<Planned, ApiError>, now: f64) -> Planned {
    let p = p.expect("planned");
    c.commit(&p, now);
    p
}

fn create(c: &mut Core, body: Value, now: f64) -> Planned {
    let p = c.plan_put(&body, None, true, false, now);
    apply(c, p, now)
}

/// Launches what the offer takes and reports each new task running (and healthy).
fn launch_all(c: &mut Core, o: &OfferView, now: f64) -> Vec<String> {
    let plans = c.match_offer(o, now);
    let ids: Vec<String> = plans.iter().map(|p| p.rec.task_id.clone()).collect();
    c.sent(&ids);
    for id in &ids {
        c.status(id, TaskState::Running, Some(true), "", now);
    }
    ids
}

fn healthy_count(c: &Core, app: &str) -> usize {
    let rec = &c.apps[app];
    c.instances
        .values()
        .filter(|i| i.rec.app_id == app && Core::is_healthy(&rec.def, i))
        .count()
}

fn kill_all(c: &mut Core, kills: &[String], now: f64) {
    for k in kills {
        c.status(k, TaskState::Killed, None, "", now);
    }
}

/// An instance is launched once its record is stored. Explicit reconciliation meanwhile
/// (after a re-registration, or of a lost agent's instances) must not name it: the master,
/// which has not seen the launch, answers `TASK_GONE`, the instance is replaced, and the
/// launch that follows runs a copy nobody counts. Once the launch went out, it is asked
/// about; a launch given up is forgotten.
#[test]
fn an_instance_whose_launch_has_not_gone_out_is_not_reconciled() {
    let mut c = ready_core();
    create(
        &mut c,
        json!({"id": "/web", "cmd": "sleep 100", "instances": 2, "cpus": 0.1, "mem": 16}),
        1.0,
    );
    let plans = c.match_offer(&offer("a", "r1"), 2.0);
    let ids: Vec<String> = plans.iter().map(|p| p.rec.task_id.clone()).collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(c.known_tasks(), vec![], "their records are being written");
    c.sent(&ids[..1]);
    assert_eq!(
        c.known_tasks(),
        vec![(ids[0].clone(), "agent-a".to_string())]
    );
    c.forget(&ids[1..]);
    assert!(!c.instances.contains_key(&ids[1]));
    c.sent(&ids[1..]);
    assert_eq!(
        c.known_tasks().len(),
        1,
        "a forgotten launch is not asked about"
    );
}

#[test]
fn create_launches_instances_and_finishes_the_deployment() {
    let mut c = Core::new(1);
    let p = create(
        &mut c,
        json!({"id": "/web", "cmd": "sleep 100", "instances": 3, "cpus": 0.1, "mem": 16}),
        1.0,
    );
    assert_eq!(p.status, 201);
    assert_eq!(p.ops.len(), 2, "app and deployment records are written");
    assert!(
        c.match_offer(&offer("a", "r1"), 1.0).is_empty(),
        "nothing launches before reconciliation"
    );
    c.ready = true;
    let ids = launch_all(&mut c, &offer("a", "r1"), 2.0);
    assert_eq!(ids.len(), 3);
    assert!(
        c.match_offer(&offer("b", "r1"), 2.0).is_empty(),
        "never more than instances"
    );
    let a = c.step(3.0);
    assert_eq!(a.finished.len(), 1);
    assert!(c.deployments.is_empty());
    assert!(a.kills.is_empty());
}

#[test]
fn a_second_deployment_is_409_unless_forced() {
    let mut c = ready_core();
    create(&mut c, json!({"id": "/a", "cmd": "x", "instances": 2}), 1.0);
    let e = c
        .plan_put(&json!({"instances": 3}), Some("/a"), false, false, 2.0)
        .unwrap_err();
    assert_eq!(e.status(), 409);
    assert!(e.body()["deployments"][0]["id"].is_string());
    let p = c
        .plan_put(&json!({"instances": 3}), Some("/a"), false, true, 2.0)
        .unwrap();
    assert_eq!(p.cancelled.len(), 1);
    c.commit(&p, 2.0);
    assert_eq!(c.deployments.len(), 1);
    assert_eq!(c.apps["/a"].def.instances, 3);
    assert_eq!(
        c.plan_put(&json!({"id": "/a", "cmd": "x"}), None, true, true, 3.0)
            .unwrap_err()
            .status(),
        409,
        "POST of an existing app"
    );
}

#[test]
fn scale_down_kills_youngest_first_and_unhealthy_before_healthy() {
    let mut c = ready_core();
    create(
        &mut c,
        json!({"id": "/a", "cmd": "x", "instances": 3, "cpus": 0.1, "mem": 1}),
        0.0,
    );
    let first = launch_all(&mut c, &offer("a", "r1"), 1.0);
    assert_eq!(first.len(), 3);
    // Stagger launch times: re-stamp for a clear order.
    for (k, id) in first.iter().enumerate() {
        c.instances.get_mut(id).unwrap().rec.staged_at = k as f64;
    }
    c.step(2.0);
    let p = c.plan_put(&json!({"instances": 2}), Some("/a"), false, false, 3.0);
    apply(&mut c, p, 3.0);
    let a = c.step(3.0);
    assert_eq!(a.kills, vec![first[2].clone()], "youngest goes");
    kill_all(&mut c, &a.kills, 3.0);
    // An unhealthy instance goes before a younger healthy one.
    let mut c2 = ready_core();
    create(
        &mut c2,
        json!({"id": "/b", "cmd": "x", "instances": 2, "cpus": 0.1, "mem": 1, "killSelection": "OLDEST_FIRST",
        "healthChecks": [{"protocol": "MESOS_TCP"}]}),
        0.0,
    );
    let ids = launch_all(&mut c2, &offer("a", "r1"), 1.0);
    c2.instances.get_mut(&ids[0]).unwrap().rec.staged_at = 0.0;
    c2.instances.get_mut(&ids[1]).unwrap().rec.staged_at = 5.0;
    c2.status(&ids[1], TaskState::Running, Some(false), "", 6.0);
    let p = c2.plan_put(&json!({"instances": 1}), Some("/b"), false, true, 7.0);
    apply(&mut c2, p, 7.0);
    assert_eq!(c2.step(7.0).kills, vec![ids[1].clone()]);
}

#[test]
fn rolling_upgrade_with_full_health_capacity_never_drops_below_target() {
    let mut c = ready_core();
    create(
        &mut c,
        json!({"id": "/a", "cmd": "v1", "instances": 3, "cpus": 0.1, "mem": 1,
        "upgradeStrategy": {"minimumHealthCapacity": 1.0, "maximumOverCapacity": 0.0}}),
        0.0,
    );
    launch_all(&mut c, &offer("a", "r1"), 1.0);
    c.step(1.0);
    let p = c
        .plan_put(&json!({"cmd": "v2"}), Some("/a"), false, false, 2.0)
        .unwrap();
    assert_eq!(c.deployments.len(), 0);
    c.commit(&p, 2.0);
    let v2 = c.apps["/a"].config_version.clone();
    let mut now = 3.0;
    for _ in 0..20 {
        let plans = c.match_offer(&offer("a", "r1"), now);
        assert!(plans.len() <= 1, "over capacity is one instance at most");
        for pl in &plans {
            c.status(&pl.rec.task_id, TaskState::Running, None, "", now);
        }
        assert!(healthy_count(&c, "/a") >= 3);
        // Health arrives a little later.
        for pl in &plans {
            c.status(
                &pl.rec.task_id,
                TaskState::Running,
                Some(true),
                "",
                now + 0.5,
            );
        }
        let a = c.step(now + 1.0);
        kill_all(&mut c, &a.kills, now + 1.0);
        assert!(healthy_count(&c, "/a") >= 3, "healthy dropped below target");
        now += 2.0;
        if c.deployments.is_empty() {
            break;
        }
    }
    assert!(c.deployments.is_empty(), "the upgrade finished");
    assert_eq!(c.instances.len(), 3);
    assert!(c.instances.values().all(|i| i.rec.config_version == v2));
}

fn checked_app(id: &str, n: u32) -> Value {
    json!({"id": id, "cmd": "x", "instances": n, "cpus": 0.1, "mem": 1, "portDefinitions": [],
           "healthChecks": [{"protocol": "COMMAND", "command": {"value": "true"},
                             "maxConsecutiveFailures": 3}]})
}

/// Reports `n` failed health checks in a row for `task`.
fn fail_checks(c: &mut Core, task: &str, n: u32, now: f64) {
    for _ in 0..n {
        c.status(task, TaskState::Running, Some(false), "probe failed", now);
    }
}

#[test]
fn an_unhealthy_instance_is_replaced_before_it_is_killed() {
    let mut c = ready_core();
    create(&mut c, checked_app("/a", 3), 1.0);
    let ids = launch_all(&mut c, &offer("a", "r1"), 1.0);
    assert_eq!(ids.len(), 3);
    c.step(2.0);
    fail_checks(&mut c, &ids[0], 2, 3.0);
    assert!(
        c.step(3.0).kills.is_empty(),
        "two failures of three: nothing yet"
    );
    assert_eq!(c.launch_need(&c.apps["/a"].clone(), 3.0), 0);
    fail_checks(&mut c, &ids[0], 1, 4.0);
    // Doomed: a replacement is wanted, but the old instance stays until it runs healthy.
    let a = c.step(4.0);
    assert!(a.kills.is_empty(), "killed before its replacement: {a:?}");
    assert!(a.wants_offers);
    let plans = c.match_offer(&offer("b", "r1"), 5.0);
    assert_eq!(plans.len(), 1, "exactly one replacement");
    let new = plans[0].rec.task_id.clone();
    c.status(&new, TaskState::Running, None, "", 6.0);
    assert!(
        c.step(6.0).kills.is_empty(),
        "the replacement is not healthy yet"
    );
    assert_eq!(c.instances.len(), 4, "never fewer instances than asked");
    c.status(&new, TaskState::Running, Some(true), "", 7.0);
    let a = c.step(7.0);
    assert_eq!(a.kills, vec![ids[0].clone()]);
    assert!(a.finished.is_empty(), "the doomed one is still there");
    kill_all(&mut c, &a.kills, 8.0);
    assert_eq!(healthy_count(&c, "/a"), 3);
    assert!(c.converged("/a"));
    // A recovered instance is not doomed any more.
    fail_checks(&mut c, &ids[1], 3, 9.0);
    c.status(&ids[1], TaskState::Running, Some(true), "", 10.0);
    assert_eq!(c.launch_need(&c.apps["/a"].clone(), 10.0), 0);
    assert!(c.step(10.0).kills.is_empty());
}

#[test]
fn health_kills_are_rate_limited_and_never_take_a_whole_app() {
    let mut c = ready_core();
    create(&mut c, checked_app("/a", 20), 1.0);
    let ids = launch_all(&mut c, &offer("a", "r1"), 1.0);
    assert_eq!(ids.len(), 20);
    c.step(1.0);
    // An overloaded scheduler: every instance looks unhealthy at once.
    for id in &ids {
        fail_checks(&mut c, id, 3, 2.0);
    }
    let a = c.step(2.0);
    assert!(
        a.kills.is_empty(),
        "nothing is killed without a replacement"
    );
    assert_eq!(c.launch_need(&c.apps["/a"].clone(), 2.0), 20);
    // Replacements come up healthy; the old ones go at the limit's pace.
    let fresh = launch_all(&mut c, &offer("b", "r1"), 3.0);
    assert_eq!(fresh.len(), 20);
    let mut killed = Vec::new();
    let a = c.step(3.0);
    assert_eq!(a.kills.len(), 5, "the burst: {a:?}");
    killed.extend(a.kills);
    assert!(c.step(3.5).kills.is_empty(), "then the rate");
    let a = c.step(5.0);
    assert_eq!(a.kills.len(), 1);
    killed.extend(a.kills);
    let mut t = 5.0;
    while killed.len() < 20 {
        t += 2.0;
        assert!(t < 60.0, "the limit never starves: {} killed", killed.len());
        // (Retries of earlier kills are not new kills.)
        let new: Vec<String> = c
            .step(t)
            .kills
            .into_iter()
            .filter(|k| !killed.contains(k))
            .collect();
        assert!(new.len() <= 1, "{new:?}");
        killed.extend(new);
    }
    let old: BTreeSet<&String> = ids.iter().collect();
    assert!(killed.iter().all(|k| old.contains(k)), "only doomed ones");
    kill_all(&mut c, &killed, t);
    assert_eq!(healthy_count(&c, "/a"), 20);
    assert!(c.converged("/a"));
}

#[test]
fn deployments_count_an_instance_only_once_ready() {
    let mut c = ready_core();
    let app = |cmd: &str| {
        json!({"id": "/r", "cmd": cmd, "instances": 2, "cpus": 0.1, "mem": 1,
               "portDefinitions": [{"port": 0, "name": "http"}],
               "upgradeStrategy": {"minimumHealthCapacity": 1.0, "maximumOverCapacity": 0.0},
               "readinessChecks": [{"path": "/ready", "portName": "http", "intervalSeconds": 1,
                                    "httpStatusCodesForReady": [200]}]})
    };
    create(&mut c, app("v1"), 1.0);
    let v1 = launch_all(&mut c, &offer("a", "r1"), 1.0);
    assert!(c.step(2.0).finished.is_empty(), "running but not ready");
    let probes = c.readiness_probes();
    assert_eq!(probes.len(), 2);
    assert_eq!(probes[0].check.path, "/ready");
    assert!(
        (31000..=31100).contains(&probes[0].port),
        "the named host port"
    );
    // While deploying, the app and the deployment show their tasks' readiness results.
    let not_yet = ReadinessAnswer {
        status: 503,
        content_type: "text/plain".into(),
        body: "warming up".into(),
    };
    c.record_readiness(&v1[0], not_yet, false);
    let aj = c.app_json(&c.apps["/r"], true, 2.0);
    let results = aj["readinessCheckResults"].as_array().unwrap();
    let of = |t: &str| results.iter().find(|r| r["taskId"] == t).unwrap().clone();
    assert_eq!(
        of(&v1[0]),
        json!({"name": "readinessCheck", "taskId": v1[0], "ready": false,
                "lastResponse": {"status": 503, "contentType": "text/plain", "body": "warming up"}})
    );
    assert_eq!(of(&v1[1])["lastResponse"], Value::Null);
    assert!(
        aj["tasks"][0].get("readinessCheckResults").is_none(),
        "not a task field in Marathon (the stock client's task model refuses it)"
    );
    let dep = c.deployments.values().next().unwrap();
    let dj = c.deployment_json(dep);
    assert_eq!(
        dj["currentActions"][0]["readinessCheckResults"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    let ok = ReadinessAnswer {
        status: 200,
        ..Default::default()
    };
    for id in &v1 {
        c.record_readiness(id, ok.clone(), true);
    }
    assert_eq!(c.step(3.0).finished.len(), 1);
    assert_eq!(
        c.app_json(&c.apps["/r"], false, 3.0)["readinessCheckResults"],
        json!([]),
        "shown during deployments only"
    );
    assert!(c.readiness_probes().is_empty(), "ready stays ready");
    // An upgrade: the new instance runs healthy but is not ready; nothing old goes.
    let p = c.plan_put(&app("v2"), Some("/r"), false, false, 4.0);
    apply(&mut c, p, 4.0);
    let v2 = launch_all(&mut c, &offer("a", "r1"), 4.0);
    assert_eq!(v2.len(), 1, "one extra at a time");
    let a = c.step(5.0);
    assert!(
        a.kills.is_empty(),
        "an old instance killed for an unready one: {a:?}"
    );
    assert_eq!(c.readiness_probes().len(), 1);
    c.set_ready(&v2[0]);
    let a = c.step(6.0);
    assert_eq!(a.kills.len(), 1, "ready: one old one goes");
    // Bad checks are 422.
    let mut bad = app("v3");
    bad["readinessChecks"][0]["portName"] = json!("nope");
    let e = c.plan_put(&bad, Some("/r"), false, true, 7.0).unwrap_err();
    assert_eq!(e.status(), 422, "{}", e.body());
}

#[test]
fn a_group_starts_its_apps_in_dependency_order() {
    let mut c = ready_core();
    let group = json!({"id": "/shop", "apps": [
        {"id": "web", "cmd": "w", "instances": 2, "cpus": 0.1, "mem": 1, "dependencies": ["db"]},
        {"id": "db", "cmd": "d", "instances": 1, "cpus": 0.1, "mem": 1}
    ], "groups": [{"id": "ops", "apps": [
        {"id": "mon", "cmd": "m", "instances": 1, "cpus": 0.1, "mem": 1,
         "dependencies": ["/shop/web"]}]}]});
    let p = c.plan_group(&group, false, 1.0);
    let p = apply(&mut c, p, 1.0);
    assert_eq!(p.status, 201);
    assert!(p.reply["deploymentId"].is_string());
    assert_eq!(
        c.deployments.len(),
        1,
        "one deployment for the group's change"
    );
    let stored = p
        .ops
        .iter()
        .filter(|op| matches!(op, StoreOp::Put(k, _) if k.starts_with("deployments/")))
        .count();
    assert_eq!(stored, 1);
    let dj = c.deployment_json(c.deployments.values().next().unwrap());
    assert_eq!(dj["affectedApps"].as_array().map(Vec::len), Some(3));
    assert_eq!(dj["currentActions"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        c.plan_put(
            &json!({"instances": 5}),
            Some("/shop/ops/mon"),
            false,
            false,
            1.5
        )
        .unwrap_err()
        .status(),
        409,
        "every app of the group is locked by its deployment"
    );
    let ids: Vec<&String> = c.apps.keys().collect();
    assert_eq!(ids, ["/shop/db", "/shop/ops/mon", "/shop/web"]);
    assert_eq!(c.apps["/shop/web"].def.dependencies, ["/shop/db"]);
    let ports: BTreeSet<u64> = c
        .apps
        .values()
        .map(|a| a.def.port_definitions[0].port)
        .collect();
    assert_eq!(ports.len(), 3, "service ports stay unique within a group");
    // Only the app without dependencies starts; then its dependants, in order.
    let first = launch_all(&mut c, &offer("a", "r1"), 2.0);
    assert_eq!(first.len(), 1);
    assert_eq!(c.instances[&first[0]].rec.app_id, "/shop/db");
    let second = launch_all(&mut c, &offer("a", "r1"), 3.0);
    assert_eq!(second.len(), 2);
    assert!(second
        .iter()
        .all(|t| c.instances[t].rec.app_id == "/shop/web"));
    let third = launch_all(&mut c, &offer("a", "r1"), 4.0);
    assert_eq!(c.instances[&third[0]].rec.app_id, "/shop/ops/mon");
    let a = c.step(5.0);
    assert_eq!(a.finished, [p.reply["deploymentId"].as_str().unwrap()]);
    // Rolling back a group deployment: every app it created goes, as one deployment.
    let p = c.plan_group(
        &json!({"id": "/lab", "apps": [{"id": "a", "cmd": "a", "cpus": 0.1, "mem": 1},
                                        {"id": "b", "cmd": "b", "cpus": 0.1, "mem": 1}]}),
        false,
        5.5,
    );
    let p = apply(&mut c, p, 5.5);
    let dep = p.reply["deploymentId"].as_str().unwrap().to_string();
    let back = c.plan_rollback(&dep, false, 5.6);
    apply(&mut c, back, 5.6);
    assert_eq!(c.deployments.len(), 1);
    assert!(c.apps["/lab/a"].deleting && c.apps["/lab/b"].deleting);
    c.step(5.7);
    assert!(c.deployments.is_empty());
    assert!(!c.apps.contains_key("/lab/a") && !c.apps.contains_key("/lab/b"));
    // Bad groups are 422, and nothing is applied.
    let bad = json!({"id": "/x", "apps": [{"id": "a", "cmd": "a", "dependencies": ["nope"]}]});
    assert_eq!(c.plan_group(&bad, false, 6.0).unwrap_err().status(), 422);
    let bad = json!({"id": "/x", "apps": [{"id": "a", "cmd": "a", "cpus": -1}]});
    assert_eq!(c.plan_group(&bad, false, 6.0).unwrap_err().status(), 422);
    assert!(!c.apps.contains_key("/x/a"));
}

#[test]
fn scale_only_changes_do_not_restart() {
    let mut c = ready_core();
    create(
        &mut c,
        json!({"id": "/a", "cmd": "v1", "instances": 1, "cpus": 0.1, "mem": 1}),
        0.0,
    );
    launch_all(&mut c, &offer("a", "r1"), 1.0);
    c.step(1.0);
    let p = c
        .plan_put(&json!({"instances": 2}), Some("/a"), false, false, 2.0)
        .unwrap();
    assert_eq!(p.deployments[0].action, "ScaleApplication");
    c.commit(&p, 2.0);
    assert_eq!(c.match_offer(&offer("a", "r1"), 2.0).len(), 1);
    assert!(c.step(2.0).kills.is_empty());
}

#[test]
fn unknown_tasks_are_killed_and_failures_back_off() {
    let mut c = ready_core();
    assert_eq!(
        c.status("ghost.1", TaskState::Running, None, "", 0.0),
        StatusEffect::KillUnknown
    );
    assert_eq!(
        c.status("ghost.1", TaskState::Failed, None, "", 0.0),
        StatusEffect::None
    );
    create(
        &mut c,
        json!({"id": "/a", "cmd": "false", "instances": 1, "cpus": 0.1, "mem": 1,
        "backoffSeconds": 10, "backoffFactor": 2, "maxLaunchDelaySeconds": 30}),
        0.0,
    );
    let ids = launch_all(&mut c, &offer("a", "r1"), 0.0);
    let eff = c.status(&ids[0], TaskState::Failed, None, "boom", 1.0);
    assert_eq!(
        eff,
        StatusEffect::Ended(StoreOp::Delete(instance_key(&ids[0])))
    );
    assert!(
        c.match_offer(&offer("a", "r1"), 5.0).is_empty(),
        "backing off"
    );
    assert_eq!(c.queue_json(5.0)["queue"][0]["delay"]["timeLeftSeconds"], 6);
    let ids = c.match_offer(&offer("a", "r1"), 11.5);
    assert_eq!(ids.len(), 1);
    c.status(&ids[0].rec.task_id, TaskState::Failed, None, "boom", 12.0);
    assert_eq!(c.backoff["/a"].delay, 20.0);
    assert!(c.app_json(&c.apps["/a"].clone(), false, 12.0)["lastTaskFailure"]["message"] == "boom");
    // Killed tasks are replaced without backoff.
    let mut k = ready_core();
    create(
        &mut k,
        json!({"id": "/k", "cmd": "x", "cpus": 0.1, "mem": 1}),
        0.0,
    );
    let ids = launch_all(&mut k, &offer("a", "r1"), 0.0);
    k.status(&ids[0], TaskState::Killed, None, "", 1.0);
    assert_eq!(k.match_offer(&offer("a", "r1"), 1.0).len(), 1);
}

#[test]
fn rollback_restores_the_previous_config_and_delete_stops_everything() {
    let mut c = ready_core();
    create(
        &mut c,
        json!({"id": "/a", "cmd": "v1", "instances": 2, "cpus": 0.1, "mem": 1}),
        0.0,
    );
    launch_all(&mut c, &offer("a", "r1"), 0.0);
    c.step(0.5);
    let v1 = c.apps["/a"].config_version.clone();
    let p = c
        .plan_put(&json!({"cmd": "v2-broken"}), Some("/a"), false, false, 1.0)
        .unwrap();
    c.commit(&p, 1.0);
    let dep = p.deployments[0].id.clone();
    let p = c.plan_rollback(&dep, false, 2.0);
    let p = apply(&mut c, p, 2.0);
    assert_eq!(p.status, 200);
    assert_eq!(c.apps["/a"].def.cmd.as_deref(), Some("v1"));
    assert_eq!(
        c.apps["/a"].config_version, v1,
        "the old instances are current again"
    );
    let a = c.step(3.0);
    assert!(a.kills.is_empty());
    assert!(c.deployments.is_empty(), "already converged");
    // Destroy.
    let p = c.plan_delete("/a", false, 4.0);
    apply(&mut c, p, 4.0);
    let a = c.step(4.0);
    assert_eq!(a.kills.len(), 2);
    kill_all(&mut c, &a.kills, 5.0);
    let a = c.step(5.0);
    assert!(a.ops.contains(&StoreOp::Delete(app_key("/a"))));
    assert!(c.apps.is_empty() && c.deployments.is_empty());
    assert_eq!(c.plan_delete("/a", false, 6.0).unwrap_err().status(), 404);
}

#[test]
fn kill_with_and_without_scale() {
    let mut c = ready_core();
    create(
        &mut c,
        json!({"id": "/a", "cmd": "x", "instances": 2, "cpus": 0.1, "mem": 1}),
        0.0,
    );
    let ids = launch_all(&mut c, &offer("a", "r1"), 0.0);
    c.step(0.5);
    let p = c.plan_kill(&ids[..1], false, false, 1.0);
    let p = apply(&mut c, p, 1.0);
    assert_eq!(p.reply["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(c.step(1.0).kills, vec![ids[0].clone()]);
    kill_all(&mut c, &ids[..1], 1.5);
    assert_eq!(c.match_offer(&offer("a", "r1"), 2.0).len(), 1, "replaced");
    let p = c.plan_kill(&ids[1..], true, true, 3.0);
    apply(&mut c, p, 3.0);
    assert_eq!(c.apps["/a"].def.instances, 1);
    assert_eq!(
        c.step(3.0).kills,
        vec![ids[1].clone()],
        "exactly the named task goes"
    );
}

#[test]
fn constraints_hold_for_placements() {
    let mut c = ready_core();
    create(
        &mut c,
        json!({"id": "/u", "cmd": "x", "instances": 3, "cpus": 0.1, "mem": 1,
        "constraints": [["hostname", "UNIQUE"]]}),
        0.0,
    );
    assert_eq!(c.match_offer(&offer("a", "r1"), 0.0).len(), 1);
    assert_eq!(c.match_offer(&offer("a", "r1"), 0.0).len(), 0);
    assert_eq!(c.match_offer(&offer("b", "r1"), 0.0).len(), 1);
    create(
        &mut c,
        json!({"id": "/m", "cmd": "x", "instances": 5, "cpus": 0.1, "mem": 1,
        "constraints": [["rack", "MAX_PER", "2"]]}),
        0.0,
    );
    let n = c
        .match_offer(&offer("c", "r9"), 0.0)
        .iter()
        .filter(|p| p.app.def.id == "/m")
        .count();
    assert_eq!(n, 2);
}

#[test]
fn ports_and_required_ports() {
    let mut c = ready_core();
    create(
        &mut c,
        json!({"id": "/p", "cmd": "x", "instances": 2, "cpus": 0.1, "mem": 1,
        "portDefinitions": [{"port": 0}, {"port": 0}]}),
        0.0,
    );
    assert_eq!(
        c.apps["/p"].def.port_definitions[0].port, 10000,
        "service ports are assigned"
    );
    let plans = c.match_offer(&offer("a", "r1"), 0.0);
    assert_eq!(plans[0].rec.ports, vec![31000, 31001]);
    assert_eq!(plans[1].rec.ports, vec![31002, 31003]);
    create(
        &mut c,
        json!({"id": "/r", "cmd": "x", "instances": 2, "cpus": 0.1, "mem": 1,
        "requirePorts": true, "portDefinitions": [{"port": 31050}]}),
        0.0,
    );
    assert_eq!(
        c.match_offer(&offer("b", "r1"), 0.0).len(),
        1,
        "one per host with a fixed port"
    );
}

#[test]
fn restored_instances_wait_for_reconciliation() {
    let mut c = ready_core();
    create(
        &mut c,
        json!({"id": "/a", "cmd": "x", "instances": 2, "cpus": 0.1, "mem": 1}),
        0.0,
    );
    let plans = c.match_offer(&offer("a", "r1"), 0.0);
    let mut entries: Vec<(String, Vec<u8>)> = vec![
        (app_key("/a"), serde_json::to_vec(&c.apps["/a"]).unwrap()),
        (FRAMEWORK_ID_KEY.into(), b"fw-1".to_vec()),
    ];
    for p in &plans {
        entries.push((
            instance_key(&p.rec.task_id),
            serde_json::to_vec(&p.rec).unwrap(),
        ));
    }
    let mut d = Core::new(8);
    d.load(entries).unwrap();
    assert_eq!(d.framework_id.as_deref(), Some("fw-1"));
    assert!(d.step(1.0).kills.is_empty());
    assert!(d.match_offer(&offer("a", "r1"), 1.0).is_empty());
    d.ready = true;
    assert!(
        d.match_offer(&offer("a", "r1"), 1.0).is_empty(),
        "the restored instances count"
    );
    // The master does not know one of them: it is replaced, once.
    d.status(&plans[0].rec.task_id, TaskState::Lost, None, "", 2.0);
    assert_eq!(d.match_offer(&offer("a", "r1"), 2.0).len(), 1);
}

proptest! {
    /// Whatever order offers, health reports and failures come in during a rolling upgrade
    /// with minimumHealthCapacity 1, live instances never exceed instances + over-capacity,
    /// and the count of healthy instances never drops below target while no task fails.
    #[test]
    fn upgrades_keep_bounds(events in proptest::collection::vec(0u8..4, 1..80), n in 1i64..5, over in 0u8..3) {
        let moc = f64::from(over) / 2.0;
        let mut c = ready_core();
        create(&mut c, json!({"id": "/a", "cmd": "v1", "instances": n, "cpus": 0.1, "mem": 1,
            "upgradeStrategy": {"minimumHealthCapacity": 1.0, "maximumOverCapacity": moc}}), 0.0);
        launch_all(&mut c, &offer("a", "r1"), 0.0);
        c.step(0.0);
        let p = c.plan_put(&json!({"cmd": "v2"}), Some("/a"), false, false, 1.0).unwrap();
        c.commit(&p, 1.0);
        let max_total = (n as usize + (n as f64 * moc).floor() as usize).max(n as usize + 1);
        let mut now = 2.0;
        let mut pending: Vec<String> = Vec::new();
        for e in events {
            now += 1.0;
            match e {
                0 => {
                    for p in c.match_offer(&offer("a", "r1"), now) {
                        c.status(&p.rec.task_id, TaskState::Running, None, "", now);
                        pending.push(p.rec.task_id);
                    }
                }
                1 => {
                    if let Some(t) = pending.pop() {
                        c.status(&t, TaskState::Running, Some(true), "", now);
                    }
                }
                _ => {
                    let a = c.step(now);
                    kill_all(&mut c, &a.kills, now);
                }
            }
            prop_assert!(c.instances.len() <= max_total, "{} live > {}", c.instances.len(), max_total);
            prop_assert!(healthy_count(&c, "/a") >= n as usize);
        }
    }
}

fn running_of(c: &Core, app: &str) -> Vec<String> {
    c.instances
        .values()
        .filter(|i| {
            i.rec.app_id == app && i.state == TaskState::Running && i.kill_sent_at.is_none()
        })
        .map(|i| i.rec.task_id.clone())
        .collect()
}

#[test]
fn unreachable_instances_are_replaced_after_inactive_and_the_surplus_killed_on_return() {
    let mut c = ready_core();
    create(
        &mut c,
        json!({"id": "/u", "cmd": "x", "instances": 2, "cpus": 0.1, "mem": 1,
            "unreachableStrategy": {"inactiveAfterSeconds": 30, "expungeAfterSeconds": 120}}),
        0.0,
    );
    let first = launch_all(&mut c, &offer("a", "r1"), 1.0);
    assert_eq!(first.len(), 2);
    c.step(2.0);
    // The agent of the first goes away: Mesos says TASK_LOST (or TASK_UNREACHABLE).
    assert_eq!(
        c.status(&first[0], TaskState::Lost, None, "agent removed", 10.0),
        StatusEffect::None,
        "kept, not ended"
    );
    assert_eq!(c.instances[&first[0]].state, TaskState::Unreachable);
    c.step(20.0);
    assert!(
        c.match_offer(&offer("b", "r1"), 39.0).is_empty(),
        "no replacement before inactiveAfterSeconds"
    );
    let a = c.step(40.0);
    assert!(a.kills.is_empty());
    let repl = launch_all(&mut c, &offer("b", "r1"), 40.0);
    assert_eq!(repl.len(), 1, "one replacement once inactive");
    assert!(c.match_offer(&offer("c", "r1"), 41.0).is_empty());
    // The old one comes back before expungeAfterSeconds: exactly `instances` stay.
    c.status(&first[0], TaskState::Running, None, "", 60.0);
    let a = c.step(60.0);
    assert_eq!(a.kills, repl, "the surplus (youngest) goes");
    kill_all(&mut c, &a.kills, 61.0);
    c.step(62.0);
    assert_eq!(running_of(&c, "/u").len(), 2);

    // Gone for good: past expungeAfterSeconds the record is dropped, and it is a stranger
    // if it ever returns.
    c.status(&first[1], TaskState::Unreachable, None, "", 100.0);
    let a = c.step(219.0);
    assert!(a.ops.is_empty());
    let a = c.step(220.0);
    assert!(a.ops.contains(&StoreOp::Delete(instance_key(&first[1]))));
    assert!(!c.instances.contains_key(&first[1]));
    assert_eq!(
        c.status(&first[1], TaskState::Running, None, "", 230.0),
        StatusEffect::KillUnknown
    );
}

#[test]
fn default_and_disabled_unreachable_strategies() {
    // Default 0/0: an unreachable instance ends at once and is replaced.
    let mut c = ready_core();
    create(
        &mut c,
        json!({"id": "/d", "cmd": "x", "instances": 1, "cpus": 0.1, "mem": 1}),
        0.0,
    );
    let ids = launch_all(&mut c, &offer("a", "r1"), 1.0);
    assert!(matches!(
        c.status(&ids[0], TaskState::Unreachable, None, "", 2.0),
        StatusEffect::Ended(_)
    ));
    assert_eq!(launch_all(&mut c, &offer("b", "r1"), 2.0).len(), 1);
    // Disabled: never replaced, never forgotten.
    let mut c = ready_core();
    create(
        &mut c,
        json!({"id": "/s", "cmd": "x", "instances": 1, "cpus": 0.1, "mem": 1,
            "unreachableStrategy": "disabled"}),
        0.0,
    );
    let ids = launch_all(&mut c, &offer("a", "r1"), 1.0);
    c.status(&ids[0], TaskState::Lost, None, "", 2.0);
    c.step(100_000.0);
    assert!(c.match_offer(&offer("b", "r1"), 100_000.0).is_empty());
    assert!(c.instances.contains_key(&ids[0]));
}

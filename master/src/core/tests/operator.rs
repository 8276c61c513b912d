//! Unit tests of the operator side of the pure core: RESERVE/UNRESERVE offer operations,
//! the `/reserve`, `/unreserve`, `/weights`, `/quota` calls and the `/roles` model.

use super::*;
use crate::operator::OpError;
use serde_json::json;

fn ads_framework(m: &mut Master) -> FrameworkId {
    let mut info = FrameworkInfo::new("ads-fw", "root");
    info.role = Some("ads".into());
    add_framework(m, SCHED, info)
}

fn offer_for(m: &mut Master, fid: &FrameworkId, aid: &AgentId, role: &str, res: &str) -> OfferId {
    let fx = m.offers_from_allocator(alloc::Offers {
        allocations: vec![Allocation {
            framework_id: fid.clone(),
            agent_id: aid.clone(),
            role: role.into(),
            resources: res.parse().expect("resources"),
        }],
    });
    match sends(&fx).pop() {
        Some((_, Outbound::ResourceOffersMessage(o))) => o.offers[0].id.clone(),
        other => panic!("expected offers, got {other:?}"),
    }
}

fn accept(
    fid: &FrameworkId,
    offer: OfferId,
    operations: Vec<OfferOperation>,
) -> AcceptOffersMessage {
    AcceptOffersMessage {
        framework_id: fid.clone(),
        offer_ids: vec![offer],
        operations,
        filters: proto::Filters::default(),
    }
}

fn res(s: &str) -> Resources {
    s.parse().expect("resources")
}

fn checkpoints(fx: &[Effect]) -> Vec<(Pid, Resources)> {
    sends(fx)
        .into_iter()
        .filter_map(|(p, m)| match m {
            Outbound::CheckpointResourcesMessage(c) => Some((p, c.resources)),
            _ => None,
        })
        .collect()
}

fn operation_errors(fx: &[Effect]) -> Vec<String> {
    sends(fx)
        .into_iter()
        .filter_map(|(_, m)| match m {
            Outbound::UpdateOperationStatusMessage(u) => {
                assert_eq!(u.state, "OPERATION_ERROR");
                Some(u.message)
            }
            _ => None,
        })
        .collect()
}

fn recovered(fx: &[Effect]) -> Resources {
    alloc_calls(fx)
        .into_iter()
        .filter_map(|c| match c {
            ToAllocator::RecoverResources(r) => Some(r.resources),
            _ => None,
        })
        .fold(Resources::new(), |acc, r| acc + &r)
}

/// Percent-encodes a form value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn form(agent: &AgentId, resources: &str) -> Vec<u8> {
    format!(
        "slaveId={}&resources={}",
        enc(agent.as_str()),
        enc(resources)
    )
    .into_bytes()
}

const CPUS_ADS_2: &str = r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":2},"reservations":[{"type":"DYNAMIC","role":"ads"}]}]"#;

#[test]
fn reserve_in_accept_converts_the_offer_and_checkpoints_on_the_agent() {
    let mut m = master();
    let a = add_agent(&mut m, AGENT, "cpus:4;mem:1024");
    let f = ads_framework(&mut m);
    let o = offer_for(&mut m, &f, &a, "ads", "cpus:4;mem:1024");
    let fx = m.accept(
        &pid(SCHED),
        accept(
            &f,
            o,
            vec![
                OfferOperation::Reserve {
                    resources: res("cpus(ads):2"),
                },
                OfferOperation::Launch {
                    task_infos: vec![task("t1", &a, "cpus(ads):1;mem:128")],
                },
            ],
        ),
    );
    assert!(operation_errors(&fx).is_empty(), "{fx:?}");
    assert_eq!(checkpoints(&fx), vec![(pid(AGENT), res("cpus(ads):2"))]);
    let update = alloc_calls(&fx)
        .into_iter()
        .find_map(|c| match c {
            ToAllocator::UpdateAllocation(u) => Some(u),
            _ => None,
        })
        .expect("UpdateAllocation");
    assert_eq!(update.from, res("cpus:2"));
    assert_eq!(update.to, res("cpus(ads):2"));
    assert_eq!(update.total, res("cpus:2;cpus(ads):2;mem:1024"));
    assert_eq!(update.role, "ads");
    assert_eq!(run_tasks(&fx).len(), 1);
    // What the task did not use comes back, reserved part included.
    assert_eq!(recovered(&fx), res("cpus:2;cpus(ads):1;mem:896"));
    let agent = &m.agents()[&a];
    assert_eq!(agent.checkpointed, res("cpus(ads):2"));
    assert_eq!(agent.info.resources, res("cpus:2;cpus(ads):2;mem:1024"));
}

#[test]
fn invalid_offer_operations_are_refused_and_disturb_nothing_else() {
    let mut m = master();
    let a = add_agent(&mut m, AGENT, "cpus:4;mem:1024;cpus(ads):1");
    let f = ads_framework(&mut m);
    let o = offer_for(&mut m, &f, &a, "ads", "cpus:4;mem:1024;cpus(ads):1");
    let fx = m.accept(
        &pid(SCHED),
        accept(
            &f,
            o,
            vec![
                // Another role than the offer's.
                OfferOperation::Reserve {
                    resources: res("cpus(web):1"),
                },
                // More than offered.
                OfferOperation::Reserve {
                    resources: res("cpus(ads):8"),
                },
                // Unreserved resources in a RESERVE.
                OfferOperation::Reserve {
                    resources: res("mem:10"),
                },
                // A static reservation cannot be unreserved.
                OfferOperation::Unreserve {
                    resources: res("cpus(ads):1"),
                },
                OfferOperation::Launch {
                    task_infos: vec![task("t1", &a, "cpus:1;mem:128")],
                },
            ],
        ),
    );
    let errors = operation_errors(&fx);
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert!(
        errors[0].contains("allocated to role 'ads'"),
        "{}",
        errors[0]
    );
    assert!(errors[1].contains("does not hold"), "{}", errors[1]);
    assert!(errors[2].contains("no reservation role"), "{}", errors[2]);
    assert!(errors[3].contains("static reservations"), "{}", errors[3]);
    assert!(checkpoints(&fx).is_empty());
    assert_eq!(run_tasks(&fx).len(), 1, "the valid launch still happens");
    assert_eq!(recovered(&fx), res("cpus:3;mem:896;cpus(ads):1"));
    let agent = &m.agents()[&a];
    assert!(agent.checkpointed.is_empty());
    assert_eq!(agent.info.resources, res("cpus:4;mem:1024;cpus(ads):1"));
}

#[test]
fn unreserve_in_accept_releases_a_dynamic_reservation() {
    let mut m = master();
    let a = add_agent(&mut m, AGENT, "cpus:4;mem:1024");
    let f = ads_framework(&mut m);
    let o = offer_for(&mut m, &f, &a, "ads", "cpus:4;mem:1024");
    m.accept(
        &pid(SCHED),
        accept(
            &f,
            o,
            vec![OfferOperation::Reserve {
                resources: res("cpus(ads):2"),
            }],
        ),
    );
    let o = offer_for(&mut m, &f, &a, "ads", "cpus:2;cpus(ads):2;mem:1024");
    let fx = m.accept(
        &pid(SCHED),
        accept(
            &f,
            o,
            vec![OfferOperation::Unreserve {
                resources: res("cpus(ads):2"),
            }],
        ),
    );
    assert!(operation_errors(&fx).is_empty());
    assert_eq!(checkpoints(&fx), vec![(pid(AGENT), Resources::new())]);
    assert_eq!(recovered(&fx), res("cpus:4;mem:1024"));
    assert_eq!(m.agents()[&a].info.resources, res("cpus:4;mem:1024"));
}

#[test]
fn operator_reserve_and_unreserve_validate_rescind_and_conflict() {
    let mut m = master();
    let a = add_agent(&mut m, AGENT, "cpus:4;mem:1024");
    let f = add_framework(&mut m, SCHED, FrameworkInfo::new("fw", "root"));

    // Bad bodies are 400 with a message, and change nothing.
    for (body, why) in [
        (b"resources=[]".to_vec(), "slaveId"),
        (format!("slaveId={a}").into_bytes(), "resources"),
        (
            format!("slaveId={a}&resources=notjson").into_bytes(),
            "JSON",
        ),
        (
            form(
                &a,
                r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":1}}]"#,
            ),
            "reservation role",
        ),
        (form(&AgentId::new("nope"), CPUS_ADS_2), "no agent"),
    ] {
        let err = m.operator_reserve(&body).expect_err("refused");
        assert_eq!(err.status, 400, "{err:?}");
        assert!(err.message.contains(why), "{why}: {}", err.message);
    }
    assert!(m.agents()[&a].checkpointed.is_empty());

    // Resources in an outstanding offer: the offer is rescinded, then reserved.
    let o = offer_for(&mut m, &f, &a, "*", "cpus:4;mem:1024");
    let fx = m.operator_reserve(&form(&a, CPUS_ADS_2)).expect("reserved");
    let rescinds: Vec<_> = sends(&fx)
        .into_iter()
        .filter_map(|(_, msg)| match msg {
            Outbound::RescindResourceOfferMessage(r) => Some(r.offer_id),
            _ => None,
        })
        .collect();
    assert_eq!(rescinds, vec![o]);
    assert!(m.offers().is_empty());
    assert_eq!(checkpoints(&fx), vec![(pid(AGENT), res("cpus(ads):2"))]);
    assert!(alloc_calls(&fx).iter().any(|c| matches!(c,
        ToAllocator::UpdateAgent(u) if u.total == res("cpus:2;cpus(ads):2;mem:1024"))));

    // Not enough unreserved left: 409.
    let big = r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":3},"role":"ads"}]"#;
    let err = m.operator_reserve(&form(&a, big)).expect_err("conflict");
    assert_eq!(err.status, 409, "{err:?}");

    // Resources used by a task cannot be reserved either.
    let o = offer_for(&mut m, &f, &a, "*", "cpus:2;mem:1024");
    m.accept(
        &pid(SCHED),
        launch(&f, vec![o], vec![task("t", &a, "cpus:2;mem:128")]),
    );
    let one = r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"role":"ads"}]"#;
    assert_eq!(m.operator_reserve(&form(&a, one)).unwrap_err().status, 409);

    // Unreserve: only dynamic reservations, JSON body accepted too.
    let err = m
        .operator_unreserve(&form(&a, big))
        .expect_err("not reserved");
    assert_eq!(err.status, 409);
    let body = format!(r#"{{"slaveId":"{a}","resources":{CPUS_ADS_2}}}"#);
    let fx = m.operator_unreserve(body.as_bytes()).expect("unreserved");
    assert_eq!(checkpoints(&fx), vec![(pid(AGENT), Resources::new())]);
    assert_eq!(m.agents()[&a].info.resources, res("cpus:4;mem:1024"));
}

#[test]
fn an_agent_registers_with_its_checkpointed_reservations_applied() {
    let mut m = master();
    let fx = m.register_agent(
        &pid(AGENT),
        RegisterSlaveMessage {
            slave: AgentInfo::new("h", res("cpus:4;mem:1024")),
            checkpointed_resources: res("cpus(ads):1;mem(ads):256"),
            version: String::new(),
        },
    );
    let total = res("cpus:3;mem:768;cpus(ads):1;mem(ads):256");
    assert!(matches!(&alloc_calls(&fx)[..], [ToAllocator::AddAgent(a)] if a.total == total));
    let a = m.agents().values().next().expect("agent");
    assert_eq!(a.info.resources, total);
    assert_eq!(a.checkpointed, res("cpus(ads):1;mem(ads):256"));
}

#[test]
fn an_allocation_that_predates_a_reservation_is_not_offered() {
    let mut m = master();
    let a = add_agent(&mut m, AGENT, "cpus:4;mem:1024");
    let f = add_framework(&mut m, SCHED, FrameworkInfo::new("fw", "root"));
    m.operator_reserve(&form(&a, CPUS_ADS_2)).expect("reserved");
    // The allocator decided before it learnt of the reservation.
    let fx = m.offers_from_allocator(alloc::Offers {
        allocations: vec![Allocation {
            framework_id: f.clone(),
            agent_id: a.clone(),
            role: "*".into(),
            resources: res("cpus:4;mem:1024"),
        }],
    });
    assert!(m.offers().is_empty());
    assert_eq!(recovered(&fx), res("cpus:4;mem:1024"));
}

#[test]
fn weights_are_validated_all_or_nothing() {
    let mut m = Master::new(
        MasterConfig {
            weights: vec![("ads".into(), 2.0)],
            ..config()
        },
        pid("master@127.0.0.1:5050"),
    );
    assert_eq!(
        m.weights_json(),
        serde_json::json!([{"role": "ads", "weight": 2.0}])
    );
    for bad in [
        &b"not json"[..],
        br#"{"role":"a","weight":1}"#,
        br#"[{"role":"a"}]"#,
        br#"[{"role":"a","weight":0}]"#,
        br#"[{"role":"b","weight":1},{"role":"/x","weight":1}]"#,
    ] {
        let err: OpError = m.update_weights(bad).expect_err("refused");
        assert_eq!(err.status, 400);
    }
    assert_eq!(m.weight("b"), 1.0, "nothing applied from a refused call");
    let fx = m
        .update_weights(br#"[{"role":"eng","weight":1.5},{"role":"ads","weight":3}]"#)
        .expect("ok");
    assert!(
        matches!(&alloc_calls(&fx)[..], [ToAllocator::UpdateWeights(w)] if w.weights.len() == 2)
    );
    assert_eq!(m.weight("ads"), 3.0);
    assert_eq!(m.weight("eng"), 1.5);
}

#[test]
fn quota_is_validated_set_listed_and_removed() {
    let mut m = master();
    add_agent(&mut m, AGENT, "cpus:4;mem:1024");
    let g = r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":2}}]"#;
    for (body, status) in [
        ("nope".to_string(), 400),
        (format!(r#"{{"guarantee":{g}}}"#), 400),
        (format!(r#"{{"role":"*","guarantee":{g}}}"#), 400),
        (r#"{"role":"ads"}"#.to_string(), 400),
        (
            r#"{"role":"ads","guarantee":[{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":1,"end":2}]}}]}"#
                .to_string(),
            400,
        ),
        (
            format!(r#"{{"role":"ads","guarantee":{g},"limits":{{"cpus":{{"value":1}}}}}}"#),
            400,
        ),
        (
            r#"{"role":"ads","guarantee":[{"name":"cpus","type":"SCALAR","scalar":{"value":64}}]}"#
                .to_string(),
            409,
        ),
    ] {
        let err = m.set_quota(body.as_bytes()).expect_err(&body);
        assert_eq!(err.status, status, "{body}: {}", err.message);
    }
    assert!(m.quotas().is_empty());
    let fx = m
        .set_quota(
            format!(r#"{{"role":"ads","guarantee":{g},"limits":{{"cpus":{{"value":3}}}}}}"#)
                .as_bytes(),
        )
        .expect("set");
    assert!(matches!(&alloc_calls(&fx)[..], [ToAllocator::SetQuota(q)]
        if q.role == "ads" && q.guarantee == res("cpus:2") && q.limit == Some(res("cpus:3"))));
    // Beyond the cluster with force.
    m.set_quota(br#"{"role":"big","guarantees":{"cpus":{"value":100}},"force":true}"#)
        .expect("forced");
    let v = m.quota_json();
    assert_eq!(v["infos"][0]["role"], "ads");
    assert_eq!(v["infos"][0]["guarantee"][0]["scalar"]["value"], 2.0);
    assert_eq!(v["configs"][0]["limits"]["cpus"]["value"], 3.0);
    assert_eq!(v["infos"][1]["role"], "big");
    let fx = m.remove_quota("ads").expect("removed");
    assert!(matches!(&alloc_calls(&fx)[..], [ToAllocator::RemoveQuota(q)] if q.role == "ads"));
    assert_eq!(m.remove_quota("ads").unwrap_err().status, 400);
}

#[test]
fn roles_show_weights_frameworks_allocations_reservations_and_quota() {
    let mut m = master();
    let a = add_agent(&mut m, AGENT, "cpus:4;mem:1024;cpus(eng/backend):2");
    let mut info = FrameworkInfo::new("be", "root");
    info.role = Some("eng/backend".into());
    let f = add_framework(&mut m, SCHED, info);
    m.update_weights(br#"[{"role":"eng","weight":2}]"#).unwrap();
    m.set_quota(br#"{"role":"eng/backend","guarantees":{"cpus":{"value":1}}}"#)
        .unwrap();
    let o = offer_for(
        &mut m,
        &f,
        &a,
        "eng/backend",
        "cpus:1;cpus(eng/backend):2;mem:512",
    );
    m.accept(
        &pid(SCHED),
        launch(
            &f,
            vec![o],
            vec![task("t", &a, "cpus(eng/backend):1;mem:128")],
        ),
    );
    let v = m.roles_json();
    let roles = v["roles"].as_array().expect("roles");
    let names: Vec<&str> = roles.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["eng", "eng/backend"]);
    assert_eq!(roles[0]["weight"], 2.0);
    assert_eq!(
        roles[0]["allocated"]["cpus"], 1.0,
        "ancestors sum their subtree"
    );
    let be = &roles[1];
    assert_eq!(be["weight"], 1.0);
    assert_eq!(be["frameworks"], serde_json::json!([f.as_str()]));
    assert_eq!(be["allocated"]["mem"], 128.0);
    assert_eq!(be["reserved"]["cpus"], 2.0);
    assert_eq!(be["quota"]["guarantee"]["cpus"], 1.0);
    assert_eq!(
        be["quota"]["consumed"]["cpus"], 2.0,
        "reservations count as consumed"
    );
}

#[test]
fn a_reconnecting_agent_that_missed_a_reservation_gets_it_again() {
    let mut m = master();
    let a = add_agent(&mut m, AGENT, "cpus:4;mem:1024");
    m.operator_reserve(&form(&a, CPUS_ADS_2)).expect("reserved");
    let mut slave = AgentInfo::new("host1", res("cpus:4;mem:1024"));
    slave.id = Some(a.clone());
    let fx = m.reregister_agent(
        &pid(AGENT),
        ReregisterSlaveMessage {
            slave,
            checkpointed_resources: Resources::new(),
            executor_infos: vec![],
            tasks: vec![],
            frameworks: vec![],
            version: String::new(),
        },
    );
    assert_eq!(checkpoints(&fx), vec![(pid(AGENT), res("cpus(ads):2"))]);
}

#[test]
fn weights_and_quotas_survive_a_master_failover_through_the_registry() {
    let mut m = master();
    add_agent(&mut m, AGENT, "cpus:4;mem:1024");
    let fx = m.update_weights(br#"[{"role":"ads","weight":2}]"#).unwrap();
    assert!(fx.contains(&Effect::PersistRegistry));
    let fx = m
        .set_quota(br#"{"role":"ads","guarantees":{"cpus":{"value":1}}}"#)
        .unwrap();
    assert!(fx.contains(&Effect::PersistRegistry));
    let registry = Registry::decode(&m.registry().encode()).expect("decodes");
    // A new leader recovers them and tells its allocator.
    let mut next = master();
    let fx = next.recover(registry);
    assert_eq!(next.weight("ads"), 2.0);
    assert_eq!(next.quotas()["ads"].guarantee, res("cpus:1"));
    let calls = alloc_calls(&fx);
    assert!(calls.iter().any(|c| matches!(c, ToAllocator::UpdateWeights(w) if w.weights == vec![("ads".to_string(), 2.0)])));
    assert!(calls
        .iter()
        .any(|c| matches!(c, ToAllocator::SetQuota(q) if q.role == "ads")));
    let fx = next.remove_quota("ads").unwrap();
    assert!(fx.contains(&Effect::PersistRegistry));
    assert!(next.registry().quotas.is_empty());
}

fn partition_aware(m: &mut Master) -> (FrameworkId, &'static str) {
    let mut info = FrameworkInfo::new("pa", "root");
    info.capabilities.push(FrameworkCapability::PartitionAware);
    let at = "pa@127.0.0.1:7000";
    (add_framework(m, at, info), at)
}

#[test]
fn an_agent_marked_gone_is_written_then_shut_down_and_its_tasks_gone_by_operator() {
    let (mut m, a, f, o) = setup();
    m.accept(
        &pid(SCHED),
        launch(&f, vec![o], vec![task("t1", &a, "cpus:1;mem:128")]),
    );
    let (pa, pa_at) = partition_aware(&mut m);
    let o2 = offer(&mut m, &pa, &a, "cpus:3;mem:896");
    m.accept(
        &pid(pa_at),
        launch(&pa, vec![o2], vec![task("p1", &a, "cpus:1;mem:128")]),
    );
    let fx = m.mark_agent_gone(&a).expect("marked gone");
    // Written before anything is said: the registry write comes first.
    assert!(
        matches!(fx.first(), Some(Effect::PersistRegistry)),
        "{fx:?}"
    );
    assert!(m.registry().gone.contains_key(&a));
    let s = sends(&fx);
    assert!(
        matches!(&s[0], (p, Outbound::ShutdownMessage(x)) if *p == pid(AGENT) && x.message == "Agent has been marked gone")
    );
    let states: Vec<(TaskState, Option<Reason>)> =
        updates(&fx).iter().map(|s| (s.state, s.reason)).collect();
    assert!(
        states.contains(&(TaskState::Lost, Some(Reason::AgentRemoved))),
        "{states:?}"
    );
    assert!(
        states.contains(&(
            TaskState::GoneByOperator,
            Some(Reason::AgentRemovedByOperator)
        )),
        "{states:?}"
    );
    assert!(m.agents().is_empty() && m.unreachable_agents().is_empty());
    // Again: nothing more to do. Unknown: 404.
    assert_eq!(m.mark_agent_gone(&a).map(|fx| fx.len()), Ok(0));
    assert_eq!(
        m.mark_agent_gone(&AgentId::new("nope")).unwrap_err().status,
        404
    );
}

#[test]
fn an_unreachable_agent_marked_gone_completes_its_unreachable_tasks() {
    let mut m = master();
    let a = add_agent(&mut m, AGENT, "cpus:4;mem:1024");
    let (pa, pa_at) = partition_aware(&mut m);
    let o = offer(&mut m, &pa, &a, "cpus:4;mem:1024");
    m.accept(
        &pid(pa_at),
        launch(&pa, vec![o], vec![task("p1", &a, "cpus:1;mem:128")]),
    );
    for _ in 0..7 {
        m.ping_tick();
    }
    assert!(m.unreachable_agents().contains_key(&a));
    assert_eq!(m.frameworks()[&pa].unreachable_tasks.len(), 1);
    let fx = m.mark_agent_gone(&a).expect("marked gone");
    assert!(matches!(fx.first(), Some(Effect::PersistRegistry)));
    let states: Vec<TaskState> = updates(&fx).iter().map(|s| s.state).collect();
    assert_eq!(states, vec![TaskState::GoneByOperator]);
    assert!(m.unreachable_agents().is_empty());
    assert!(m.frameworks()[&pa].unreachable_tasks.is_empty());
    assert_eq!(
        m.frameworks()[&pa].completed_tasks.back().map(|t| t.state),
        Some(TaskState::GoneByOperator)
    );
    assert!(m.registry().gone.contains_key(&a) && !m.registry().unreachable.contains_key(&a));
}

#[test]
fn update_quota_is_all_or_nothing_and_an_empty_config_removes() {
    let mut m = master();
    add_agent(&mut m, AGENT, "cpus:4;mem:1024");
    let cfg =
        |role: &str, cpus: f64| json!({"role": role, "guarantees": {"cpus": {"value": cpus}}});
    let e = m
        .update_quota(false, &[cfg("a", 1.0), cfg("b", 10.0)])
        .unwrap_err();
    assert_eq!(e.status, 409, "{e:?}");
    assert!(m.quotas().is_empty());
    let e = m
        .update_quota(true, &[cfg("a", 1.0), cfg("a", 2.0)])
        .unwrap_err();
    assert!(e.message.contains("appears twice"), "{e:?}");
    let e = m
        .update_quota(true, &[cfg("a", 1.0), json!({"role": "*"})])
        .unwrap_err();
    assert!(e.message.contains("quota_configs[1]"), "{e:?}");
    assert!(m.quotas().is_empty());
    let fx = m
        .update_quota(false, &[cfg("a", 1.0), cfg("b", 2.0)])
        .unwrap();
    assert!(fx.iter().any(|e| matches!(e, Effect::PersistRegistry)));
    assert_eq!(m.quotas().len(), 2);
    m.update_quota(false, &[json!({"role": "a"})]).unwrap();
    assert_eq!(m.quotas().keys().collect::<Vec<_>>(), ["b"]);
    assert_eq!(m.registry().quotas.keys().collect::<Vec<_>>(), ["b"]);
}

#[test]
fn operator_teardown_writes_before_it_speaks() {
    let (mut m, _a, f, _o) = setup();
    let fx = m.operator_teardown(&f).expect("torn down");
    assert!(matches!(fx.first(), Some(Effect::PersistRegistry)));
    assert!(m.registry().removed_frameworks.contains_key(&f));
    assert_eq!(
        m.operator_teardown(&f).unwrap_err(),
        OpError {
            status: 400,
            message: format!("No framework found with ID {f}")
        }
    );
}

#[test]
fn get_executors_lists_what_agents_run_by_framework_until_they_exit() {
    let (mut m, a, f, o) = setup();
    let mut t = task("t1", &a, "cpus:1;mem:128");
    t.command = None;
    t.executor = Some(ExecutorInfo::new(
        ExecutorId::new("E1"),
        CommandInfo::shell("my-executor"),
    ));
    m.accept(&pid(SCHED), launch(&f, vec![o], vec![t]));
    let get = |m: &Master| {
        let v = crate::http_api::operator::answer(
            &crate::http_api::operator::Call::GetExecutors,
            m,
            &json!({}),
            || json!({}),
        )
        .expect("a getter");
        assert_eq!(v["type"], "GET_EXECUTORS");
        v["get_executors"]["executors"].clone()
    };
    let executors = get(&m);
    assert_eq!(executors.as_array().map(Vec::len), Some(1), "{executors}");
    let e = &executors[0];
    assert_eq!(e["agent_id"]["value"], a.as_str());
    assert_eq!(e["executor_info"]["executor_id"]["value"], "E1");
    assert_eq!(e["executor_info"]["framework_id"]["value"], f.as_str());
    assert_eq!(e["executor_info"]["command"]["value"], "my-executor");
    // GET_STATE carries the same list.
    let state = crate::http_api::operator::get_state(&m);
    assert_eq!(state["get_executors"]["executors"], executors);
    // The agent says it exited: it is gone.
    m.executor_exited(
        &pid(AGENT),
        ExitedExecutorMessage {
            agent_id: a.clone(),
            framework_id: f.clone(),
            executor_id: ExecutorId::new("E1"),
            status: 0,
        },
    );
    assert_eq!(get(&m), json!([]));
}

//! Unit tests of the pure master core: events in, effects out.

use super::*;
use crate::allocator::protocol::Allocation;
use proto::{CommandInfo, FrameworkCapability, StatusUuid};

fn pid(s: &str) -> Pid {
    s.parse().expect("test pid")
}

fn config() -> MasterConfig {
    MasterConfig {
        clock: libproc::wall_clock::WallClock::fixed(1000.0),
        id_seed: 7,
        max_completed_tasks_per_framework: 3,
        ..MasterConfig::default()
    }
}

fn master() -> Master {
    Master::new(config(), pid("master@127.0.0.1:5050"))
}

fn sends(fx: &[Effect]) -> Vec<(Pid, Outbound)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send(p, m) => Some((p.clone(), m.clone())),
            _ => None,
        })
        .collect()
}

fn alloc_calls(fx: &[Effect]) -> Vec<ToAllocator> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Allocator(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

fn updates(fx: &[Effect]) -> Vec<TaskStatus> {
    sends(fx)
        .into_iter()
        .filter_map(|(_, m)| match m {
            Outbound::StatusUpdateMessage(u) => Some(u.update.status),
            _ => None,
        })
        .collect()
}

fn run_tasks(fx: &[Effect]) -> Vec<(Pid, RunTaskMessage)> {
    sends(fx)
        .into_iter()
        .filter_map(|(p, m)| match m {
            Outbound::RunTaskMessage(r) => Some((p, r)),
            _ => None,
        })
        .collect()
}

const AGENT: &str = "slave(1)@127.0.0.1:5051";
const AGENT2: &str = "slave(2)@127.0.0.1:5052";
const SCHED: &str = "scheduler-1@127.0.0.1:6000";

fn add_agent(m: &mut Master, at: &str, resources: &str) -> AgentId {
    let fx = m.register_agent(
        &pid(at),
        RegisterSlaveMessage {
            slave: AgentInfo::new("host1", resources.parse().expect("resources")),
            checkpointed_resources: Resources::new(),
            version: "1.11.0".into(),
        },
    );
    match sends(&fx).pop() {
        Some((_, Outbound::SlaveRegisteredMessage(r))) => r.slave_id,
        other => panic!("expected SlaveRegistered, got {other:?}"),
    }
}

fn add_framework(m: &mut Master, at: &str, info: FrameworkInfo) -> FrameworkId {
    let fx = m.register_framework(&pid(at), RegisterFrameworkMessage { framework: info });
    match sends(&fx).pop() {
        Some((_, Outbound::FrameworkRegisteredMessage(r))) => r.framework_id,
        other => panic!("expected FrameworkRegistered, got {other:?}"),
    }
}

fn offer(m: &mut Master, fid: &FrameworkId, aid: &AgentId, resources: &str) -> OfferId {
    let fx = m.offers_from_allocator(alloc::Offers {
        allocations: vec![Allocation {
            framework_id: fid.clone(),
            agent_id: aid.clone(),
            role: "*".into(),
            resources: resources.parse().expect("resources"),
        }],
    });
    match sends(&fx).pop() {
        Some((_, Outbound::ResourceOffersMessage(o))) => o.offers[0].id.clone(),
        other => panic!("expected offers, got {other:?}"),
    }
}

fn task(id: &str, agent: &AgentId, resources: &str) -> TaskInfo {
    TaskInfo::command_task(
        id,
        id.into(),
        agent.clone(),
        resources.parse().expect("resources"),
        CommandInfo::shell("sleep 100"),
    )
}

fn launch(fid: &FrameworkId, offers: Vec<OfferId>, tasks: Vec<TaskInfo>) -> AcceptOffersMessage {
    AcceptOffersMessage {
        framework_id: fid.clone(),
        offer_ids: offers,
        operations: vec![OfferOperation::Launch { task_infos: tasks }],
        filters: proto::Filters::refuse(10.0),
    }
}

fn setup() -> (Master, AgentId, FrameworkId, OfferId) {
    let mut m = master();
    let a = add_agent(&mut m, AGENT, "cpus:4;mem:1024");
    let f = add_framework(&mut m, SCHED, FrameworkInfo::new("fw", "root"));
    let o = offer(&mut m, &f, &a, "cpus:4;mem:1024");
    (m, a, f, o)
}

#[test]
fn ids_follow_mesos_shapes() {
    let (m, a, f, o) = setup();
    let mid = &m.info().id;
    assert_eq!(a.as_str(), format!("{mid}-S0"));
    assert_eq!(f.as_str(), format!("{mid}-0000"));
    assert_eq!(o.as_str(), format!("{mid}-O0"));
}

#[test]
fn agent_registration_links_adds_to_allocator_and_answers_retries() {
    let mut m = master();
    let fx = m.register_agent(
        &pid(AGENT),
        RegisterSlaveMessage {
            slave: AgentInfo::new("h", "cpus:2;mem:512".parse().unwrap()),
            checkpointed_resources: Resources::new(),
            version: String::new(),
        },
    );
    assert!(fx.contains(&Effect::Link(pid(AGENT))));
    assert!(matches!(&alloc_calls(&fx)[..], [ToAllocator::AddAgent(a)] if a.total.cpus() == 2.0));
    let Some((_, Outbound::SlaveRegisteredMessage(r))) = sends(&fx).pop() else {
        panic!()
    };
    assert_eq!(
        r.connection.map(|c| c.total_ping_timeout_seconds),
        Some(75.0)
    );
    // The same agent retrying gets the same id and is not added twice.
    let fx = m.register_agent(
        &pid(AGENT),
        RegisterSlaveMessage {
            slave: AgentInfo::new("h", "cpus:2;mem:512".parse().unwrap()),
            checkpointed_resources: Resources::new(),
            version: String::new(),
        },
    );
    assert!(alloc_calls(&fx).is_empty());
    assert!(
        matches!(sends(&fx).pop(), Some((_, Outbound::SlaveRegisteredMessage(r2))) if r2.slave_id == r.slave_id)
    );
    assert_eq!(m.agents().len(), 1);
}

#[test]
fn accept_launches_valid_tasks_and_rejects_invalid_ones() {
    let (mut m, a, f, o) = setup();
    let mut bad_shape = task("noresources", &a, "cpus:1;mem:10");
    bad_shape.resources = Resources::new();
    let fx = m.accept(
        &pid(SCHED),
        launch(
            &f,
            vec![o],
            vec![
                task("t1", &a, "cpus:1;mem:128"),
                task("t1", &a, "cpus:1;mem:128"),
                task("elsewhere", &AgentId::new("other"), "cpus:1;mem:128"),
                task("huge", &a, "cpus:10;mem:128"),
                bad_shape,
                task("t2", &a, "cpus:2;mem:256"),
            ],
        ),
    );
    let runs = run_tasks(&fx);
    let launched: Vec<&str> = runs.iter().map(|(_, r)| r.task.task_id.as_str()).collect();
    assert_eq!(launched, vec!["t1", "t2"]);
    assert!(runs
        .iter()
        .all(|(p, r)| *p == pid(AGENT) && r.pid.as_deref() == Some(SCHED)));
    // The second t1 gets no answer: a TASK_ERROR would contradict the first.
    let errors = updates(&fx);
    assert_eq!(errors.len(), 3);
    for s in &errors {
        assert_eq!(s.state, TaskState::Error);
        assert_eq!(s.reason, Some(Reason::TaskInvalid));
        assert_eq!(s.source, Some(Source::Master));
        assert_eq!(s.uuid, None);
    }
    let msgs: Vec<String> = errors
        .iter()
        .map(|s| s.message.clone().unwrap_or_default())
        .collect();
    assert!(msgs[0].contains("invalid agent"), "{msgs:?}");
    assert!(msgs[1].contains("more resources"), "{msgs:?}");
    assert!(msgs[2].contains("no resources"), "{msgs:?}");
    // The unused remainder goes back with the accept's filter.
    let recovered: Vec<_> = alloc_calls(&fx)
        .into_iter()
        .filter_map(|c| match c {
            ToAllocator::RecoverResources(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0].resources.cpus(), 1.0);
    assert_eq!(recovered[0].resources.mem(), 640.0);
    assert_eq!(recovered[0].filters, Some(proto::Filters::refuse(10.0)));
    let fw = &m.frameworks()[&f];
    assert_eq!(fw.tasks.len(), 2);
    assert!(fw.tasks.values().all(|t| t.state == TaskState::Staging));
    assert!(m.offers().is_empty(), "the offer is used up");
}

#[test]
fn a_known_task_id_is_not_launched_again_nor_answered_with_an_error() {
    let (mut m, a, f, o) = setup();
    let first = launch(&f, vec![o], vec![task("t1", &a, "cpus:1;mem:128")]);
    assert_eq!(run_tasks(&m.accept(&pid(SCHED), first.clone())).len(), 1);
    running(&mut m, &f, &a, "t1", TaskState::Running, 1);

    // A second accept with the same task id: not launched, and no TASK_ERROR for the
    // running task (a terminal update is final).
    let o2 = offer(&mut m, &f, &a, "cpus:3;mem:896");
    let fx = m.accept(
        &pid(SCHED),
        launch(&f, vec![o2], vec![task("t1", &a, "cpus:1;mem:128")]),
    );
    assert!(run_tasks(&fx).is_empty(), "{fx:?}");
    assert!(updates(&fx).is_empty(), "{fx:?}");

    // The first accept delivered again (its offer is used up): tasks it launched are
    // left alone; a task id the framework does not have still gets TASK_ERROR.
    let mut again = first;
    if let Some(OfferOperation::Launch { task_infos }) = again.operations.first_mut() {
        task_infos.push(task("t9", &a, "cpus:1;mem:1"));
    }
    let fx = m.accept(&pid(SCHED), again);
    assert!(run_tasks(&fx).is_empty(), "{fx:?}");
    let u = updates(&fx);
    assert_eq!(u.len(), 1, "{u:?}");
    assert_eq!(u[0].task_id, TaskId::new("t9"));
    assert_eq!(
        (u[0].state, u[0].reason),
        (TaskState::Error, Some(Reason::InvalidOffers))
    );
    assert_eq!(
        m.frameworks()[&f].tasks[&TaskId::new("t1")].state,
        TaskState::Running
    );
}

#[test]
fn invalid_offers_fail_every_task() {
    let (mut m, a, f, o) = setup();
    // Unknown offer id.
    let fx = m.accept(
        &pid(SCHED),
        launch(
            &f,
            vec!["nope".into()],
            vec![task("t1", &a, "cpus:1;mem:1")],
        ),
    );
    let u = updates(&fx);
    assert_eq!(u.len(), 1);
    assert_eq!(
        (u[0].state, u[0].reason),
        (TaskState::Error, Some(Reason::InvalidOffers))
    );
    assert!(run_tasks(&fx).is_empty());

    // Another framework's offer.
    let f2 = add_framework(
        &mut m,
        "scheduler-2@127.0.0.1:6001",
        FrameworkInfo::new("fw2", "root"),
    );
    let fx = m.accept(
        &pid("scheduler-2@127.0.0.1:6001"),
        launch(&f2, vec![o.clone()], vec![task("x", &a, "cpus:1;mem:1")]),
    );
    assert_eq!(updates(&fx)[0].reason, Some(Reason::InvalidOffers));
    assert!(
        m.offers().contains_key(&o),
        "someone else's offer is untouched"
    );

    // Offers on two agents.
    let a2 = add_agent(&mut m, AGENT2, "cpus:1;mem:64");
    let o2 = offer(&mut m, &f, &a2, "cpus:1;mem:64");
    let fx = m.accept(
        &pid(SCHED),
        launch(
            &f,
            vec![o.clone(), o2.clone()],
            vec![task("t1", &a, "cpus:1;mem:1")],
        ),
    );
    assert!(updates(&fx)[0]
        .message
        .as_deref()
        .unwrap_or("")
        .contains("one agent"));
    // Both offers are used up and their resources recovered.
    assert!(m.offers().is_empty());
    assert_eq!(alloc_calls(&fx).len(), 2);

    // A rescinded offer is no longer valid.
    let o3 = offer(&mut m, &f, &a, "cpus:1;mem:64");
    m.offer_expired(&o3);
    let fx = m.accept(
        &pid(SCHED),
        launch(&f, vec![o3], vec![task("t9", &a, "cpus:1;mem:1")]),
    );
    assert_eq!(updates(&fx)[0].reason, Some(Reason::InvalidOffers));
}

#[test]
fn accepts_from_another_pid_or_unknown_framework_are_ignored() {
    let (mut m, a, f, o) = setup();
    assert!(m
        .accept(
            &pid("impostor@127.0.0.1:1"),
            launch(&f, vec![o.clone()], vec![task("t", &a, "cpus:1;mem:1")])
        )
        .is_empty());
    assert!(m
        .accept(
            &pid(SCHED),
            launch(
                &"unknown".into(),
                vec![o.clone()],
                vec![task("t", &a, "cpus:1;mem:1")]
            )
        )
        .is_empty());
    assert!(m.offers().contains_key(&o));
}

/// Sim seed 759: the master's side of the link to the scheduler broke, the driver's did
/// not, so the driver never re-registers on its own. A call from the disconnected
/// framework's own scheduler is refused with `FrameworkErrorMessage("Framework
/// disconnected")` (Mesos's `Master::receive`), on which the driver re-registers; a call
/// from another PID is ignored, unanswered, as before.
#[test]
fn a_call_from_a_disconnected_frameworks_scheduler_is_answered_with_an_error() {
    let (mut m, a, f, o) = setup();
    m.accept(
        &pid(SCHED),
        launch(&f, vec![o], vec![task("t1", &a, "cpus:1;mem:128")]),
    );
    m.exited(&pid(SCHED));
    assert!(!m.frameworks()[&f].connected);
    let refused = vec![Effect::Send(
        pid(SCHED),
        FrameworkErrorMessage {
            message: proto::messages::FRAMEWORK_DISCONNECTED.into(),
        }
        .into(),
    )];
    let revive = || ReviveOffersMessage {
        framework_id: f.clone(),
        roles: vec![],
    };
    let reconcile = || ReconcileTasksMessage {
        framework_id: f.clone(),
        statuses: vec![],
    };
    let kill = || KillTaskMessage {
        framework_id: f.clone(),
        task_id: "t1".into(),
        kill_policy: None,
    };
    assert_eq!(m.revive(&pid(SCHED), revive()), refused);
    assert_eq!(m.reconcile(&pid(SCHED), reconcile()), refused);
    assert_eq!(m.kill_task(&pid(SCHED), kill()), refused);
    assert_eq!(m.acknowledge(&pid(SCHED), ack(&a, &f, "t1", 1)), refused);
    assert_eq!(
        m.unregister_framework(
            &pid(SCHED),
            UnregisterFrameworkMessage {
                framework_id: f.clone()
            }
        ),
        refused
    );
    assert!(m.frameworks().contains_key(&f), "the teardown was refused");
    let impostor = pid("impostor@127.0.0.1:1");
    assert!(m.revive(&impostor, revive()).is_empty());
    assert!(m.reconcile(&impostor, reconcile()).is_empty());

    // Re-registered, its calls are handled again.
    let mut info = FrameworkInfo::new("fw", "root");
    info.id = Some(f.clone());
    m.reregister_framework(
        &pid(SCHED),
        ReregisterFrameworkMessage {
            framework: info,
            failover: false,
        },
    );
    assert!(m.frameworks()[&f].connected);
    let fx = m.revive(&pid(SCHED), revive());
    assert!(sends(&fx).is_empty(), "{fx:?}");
    assert!(matches!(
        alloc_calls(&fx).as_slice(),
        [ToAllocator::ReviveOffers(_)]
    ));
    assert_eq!(updates(&m.reconcile(&pid(SCHED), reconcile())).len(), 1);
}

#[test]
fn decline_recovers_with_filters() {
    let (mut m, _a, f, o) = setup();
    let fx = m.decline(
        &pid(SCHED),
        DeclineOffersMessage {
            framework_id: f,
            offer_ids: vec![o],
            filters: proto::Filters::refuse(60.0),
        },
    );
    assert!(
        matches!(&alloc_calls(&fx)[..], [ToAllocator::RecoverResources(r)] if r.filters == Some(proto::Filters::refuse(60.0)) && r.resources.cpus() == 4.0)
    );
    assert!(m.offers().is_empty());
}

fn running(
    m: &mut Master,
    f: &FrameworkId,
    a: &AgentId,
    tid: &str,
    state: TaskState,
    uuid: u128,
) -> Vec<Effect> {
    let status = TaskStatus::new(tid.into(), state)
        .with_agent(a.clone())
        .with_source(Source::Executor)
        .with_uuid(StatusUuid::from_u128(uuid));
    m.status_update(
        &pid(AGENT),
        StatusUpdateMessage {
            update: StatusUpdate {
                framework_id: f.clone(),
                executor_id: None,
                agent_id: Some(a.clone()),
                status,
                timestamp: 1.0,
                latest_state: None,
            },
            pid: Some(AGENT.into()),
        },
    )
}

fn ack(a: &AgentId, f: &FrameworkId, task: &str, uuid: u128) -> StatusUpdateAcknowledgementMessage {
    StatusUpdateAcknowledgementMessage {
        agent_id: a.clone(),
        framework_id: f.clone(),
        task_id: task.into(),
        uuid: StatusUuid::from_u128(uuid),
    }
}

#[test]
fn status_updates_are_recorded_forwarded_and_terminal_ones_release_resources() {
    let (mut m, a, f, o) = setup();
    m.accept(
        &pid(SCHED),
        launch(&f, vec![o], vec![task("t1", &a, "cpus:1;mem:128")]),
    );
    let fx = running(&mut m, &f, &a, "t1", TaskState::Running, 1);
    assert!(
        matches!(&sends(&fx)[..], [(p, Outbound::StatusUpdateMessage(u))] if *p == pid(SCHED) && u.update.status.state == TaskState::Running)
    );
    assert!(alloc_calls(&fx).is_empty());
    assert_eq!(
        m.frameworks()[&f].tasks[&TaskId::new("t1")].state,
        TaskState::Running
    );

    let fx = running(&mut m, &f, &a, "t1", TaskState::Finished, 2);
    assert!(
        matches!(&alloc_calls(&fx)[..], [ToAllocator::RecoverResources(r)] if r.resources.cpus() == 1.0 && r.filters.is_none())
    );
    assert_eq!(updates(&fx)[0].state, TaskState::Finished);
    // Until its terminal update is acknowledged the task stays in the framework's view
    // (Mesos): a scheduler that fails over now learns its fate by reconciliation.
    let fw = &m.frameworks()[&f];
    assert_eq!(fw.tasks[&TaskId::new("t1")].state, TaskState::Finished);
    assert!(fw.completed_tasks.is_empty());
    assert!(m.used_on_agent(&a).is_empty());
    // A retried terminal update is forwarded again but releases nothing twice.
    let fx = running(&mut m, &f, &a, "t1", TaskState::Finished, 2);
    assert!(alloc_calls(&fx).is_empty());
    assert_eq!(updates(&fx).len(), 1);
    let fx = m.reconcile(
        &pid(SCHED),
        ReconcileTasksMessage {
            framework_id: f.clone(),
            statuses: vec![],
        },
    );
    assert_eq!(
        updates(&fx).iter().map(|s| s.state).collect::<Vec<_>>(),
        vec![TaskState::Finished]
    );

    // An acknowledgement of another update leaves it; the terminal one completes it.
    m.acknowledge(&pid(SCHED), ack(&a, &f, "t1", 1));
    assert!(m.frameworks()[&f].tasks.contains_key(&TaskId::new("t1")));
    let fx = m.acknowledge(&pid(SCHED), ack(&a, &f, "t1", 2));
    assert_eq!(
        sends(&fx),
        vec![(
            pid(AGENT),
            Outbound::StatusUpdateAcknowledgementMessage(ack(&a, &f, "t1", 2))
        )]
    );
    let fw = &m.frameworks()[&f];
    assert!(fw.tasks.is_empty());
    assert_eq!(fw.completed_tasks.len(), 1);
    assert_eq!(m.terminal_counts[&TaskState::Finished], 1);

    // Updates from an agent we do not know get "you are not connected".
    let fx = m.status_update(
        &pid("slave(9)@127.0.0.1:9"),
        StatusUpdateMessage {
            update: StatusUpdate {
                framework_id: f,
                executor_id: None,
                agent_id: None,
                status: TaskStatus::new("x".into(), TaskState::Running),
                timestamp: 0.0,
                latest_state: None,
            },
            pid: None,
        },
    );
    assert_eq!(
        sends(&fx),
        vec![(
            pid("slave(9)@127.0.0.1:9"),
            Outbound::PingSlaveMessage(PingSlaveMessage { connected: false })
        )]
    );
}

/// The master's own acknowledgements and kills to the agent, as (task, uuid) and tasks.
fn acks_and_kills(fx: &[Effect]) -> (Vec<(TaskId, StatusUuid)>, Vec<TaskId>) {
    let mut acks = Vec::new();
    let mut kills = Vec::new();
    for (to, o) in sends(fx) {
        assert_eq!(to, pid(AGENT), "{fx:?}");
        match o {
            Outbound::StatusUpdateAcknowledgementMessage(a) => acks.push((a.task_id, a.uuid)),
            Outbound::KillTaskMessage(k) => kills.push(k.task_id),
            other => panic!("unexpected {other:?}"),
        }
    }
    (acks, kills)
}

#[test]
fn an_update_saying_an_ended_task_lives_is_not_forwarded_and_the_task_is_killed() {
    // Seed 101 (3 masters): the agent answers the master's question about t1, still
    // TASK_STAGING, with TASK_LOST (it never got it); the framework is told. Then the
    // task's RunTaskMessage, overtaken by that question on a newer connection, arrives
    // and the agent runs it: its TASK_RUNNING must not reach the framework (a lost task
    // of a framework that is not partition-aware stays lost), and the task must not run.
    let (mut m, a, f, o) = setup();
    m.accept(
        &pid(SCHED),
        launch(&f, vec![o], vec![task("t1", &a, "cpus:1;mem:128")]),
    );
    let fx = running(&mut m, &f, &a, "t1", TaskState::Lost, 1);
    assert_eq!(updates(&fx)[0].state, TaskState::Lost);
    let fx = running(&mut m, &f, &a, "t1", TaskState::Running, 2);
    assert!(updates(&fx).is_empty(), "{fx:?}");
    assert_eq!(
        acks_and_kills(&fx),
        (
            vec![(TaskId::new("t1"), StatusUuid::from_u128(2))],
            vec![TaskId::new("t1")]
        )
    );
    assert_eq!(
        m.frameworks()[&f].tasks[&TaskId::new("t1")].state,
        TaskState::Lost
    );
    // Written down before anyone is told: the next leader, which never heard that t1
    // ended, kills it too instead of adopting it (seed 161).
    assert_eq!(fx.first(), Some(&Effect::PersistRegistry), "{fx:?}");
    assert!(m.registry().killed_lost_tasks[&a].contains(&(f.clone(), TaskId::new("t1"))));
    let mut next = master();
    next.recover(crate::registry::Registry::decode(&m.registry().encode()).expect("round trip"));
    let mut t1 = Task::from_info(&task("t1", &a, "cpus:1;mem:128"), f.clone(), None);
    t1.state = TaskState::Running;
    let mut finfo = FrameworkInfo::new("fw", "root");
    finfo.id = Some(f.clone());
    let fx = reregister(&mut next, AGENT, &a, vec![t1], vec![finfo]);
    assert!(sends(&fx)
        .iter()
        .any(|(_, o)| matches!(o, Outbound::KillTaskMessage(k) if k.task_id == TaskId::new("t1"))));
    assert!(!next.frameworks()[&f].tasks.contains_key(&TaskId::new("t1")));
    // The same once the framework acknowledged TASK_LOST and the task is completed.
    m.acknowledge(&pid(SCHED), ack(&a, &f, "t1", 1));
    assert_eq!(m.frameworks()[&f].completed_tasks.len(), 1);
    let fx = running(&mut m, &f, &a, "t1", TaskState::Running, 2);
    assert!(updates(&fx).is_empty(), "{fx:?}");
    assert_eq!(acks_and_kills(&fx).1, vec![TaskId::new("t1")]);

    // The framework launches the id again: the new task's updates are its own.
    let o = offer(&mut m, &f, &a, "cpus:1;mem:128");
    let fx = m.accept(
        &pid(SCHED),
        launch(&f, vec![o], vec![task("t1", &a, "cpus:1;mem:128")]),
    );
    assert_eq!(run_tasks(&fx).len(), 1, "{fx:?}");
    let fx = running(&mut m, &f, &a, "t1", TaskState::Running, 3);
    assert_eq!(updates(&fx)[0].state, TaskState::Running, "{fx:?}");
}

#[test]
fn a_task_reported_by_a_reregistering_agent_after_it_ended_there_is_killed_not_adopted() {
    // Seed 27 (3 masters, Marathon and Chronos): an agent whose link broke re-registers
    // without t1 (its RunTaskMessage, on the older connection, has not arrived yet): t1
    // is TASK_LOST and the allocator gets its resources back. The launch then arrives,
    // the agent runs t1 and re-registers again reporting it. Adopted, t1 would count as
    // used on the agent while the allocator offers its resources too.
    let (mut m, a, f, o) = setup();
    m.accept(
        &pid(SCHED),
        launch(&f, vec![o], vec![task("t1", &a, "cpus:1;mem:128")]),
    );
    m.exited(&pid(AGENT));
    let fx = reregister(&mut m, AGENT, &a, vec![], vec![]);
    assert_eq!(updates(&fx)[0].state, TaskState::Lost, "{fx:?}");
    assert!(alloc_calls(&fx)
        .iter()
        .any(|c| matches!(c, ToAllocator::RecoverResources(r) if r.resources == "cpus:1;mem:128".parse().unwrap())));

    m.exited(&pid(AGENT));
    let mut t1 = Task::from_info(&task("t1", &a, "cpus:1;mem:128"), f.clone(), None);
    t1.state = TaskState::Running;
    let mut finfo = FrameworkInfo::new("fw", "root");
    finfo.id = Some(f.clone());
    let fx = reregister(&mut m, AGENT, &a, vec![t1], vec![finfo]);
    assert!(!m.frameworks()[&f].tasks.contains_key(&TaskId::new("t1")));
    assert!(
        m.used_on_agent(&a).values().all(|r| r.is_empty()),
        "{:?}",
        m.used_on_agent(&a)
    );
    assert!(updates(&fx).is_empty(), "{fx:?}");
    assert!(sends(&fx)
        .iter()
        .any(|(_, o)| matches!(o, Outbound::KillTaskMessage(k) if k.task_id == TaskId::new("t1"))));
    // Recorded, durably, with the agent's other kills of lost tasks: its updates are not
    // forwarded, and a next leader kills it too.
    assert!(persists(&fx));
    assert!(m.registry().killed_lost_tasks[&a].contains(&(f.clone(), TaskId::new("t1"))));
}

#[test]
fn completed_tasks_are_bounded() {
    let (mut m, a, f, _o) = setup();
    for i in 0..5 {
        let o = offer(&mut m, &f, &a, "cpus:1;mem:32");
        let id = format!("t{i}");
        m.accept(
            &pid(SCHED),
            launch(&f, vec![o], vec![task(&id, &a, "cpus:1;mem:32")]),
        );
        running(&mut m, &f, &a, &id, TaskState::Failed, i as u128);
        m.acknowledge(&pid(SCHED), ack(&a, &f, &id, i as u128));
    }
    let fw = &m.frameworks()[&f];
    let ids: Vec<&str> = fw
        .completed_tasks
        .iter()
        .map(|t| t.task_id.as_str())
        .collect();
    assert_eq!(ids, vec!["t2", "t3", "t4"]);
    assert_eq!(m.terminal_counts[&TaskState::Failed], 5);
}

#[test]
fn kill_forwards_known_tasks_and_answers_unknown_ones_with_lost() {
    let (mut m, a, f, o) = setup();
    m.accept(
        &pid(SCHED),
        launch(&f, vec![o], vec![task("t1", &a, "cpus:1;mem:128")]),
    );
    let kill = KillTaskMessage {
        framework_id: f.clone(),
        task_id: "t1".into(),
        kill_policy: None,
    };
    assert_eq!(
        sends(&m.kill_task(&pid(SCHED), kill.clone())),
        vec![(pid(AGENT), Outbound::KillTaskMessage(kill))]
    );
    let fx = m.kill_task(
        &pid(SCHED),
        KillTaskMessage {
            framework_id: f,
            task_id: "ghost".into(),
            kill_policy: None,
        },
    );
    let u = updates(&fx);
    assert_eq!(
        (u[0].state, u[0].reason, u[0].source),
        (
            TaskState::Lost,
            Some(Reason::Reconciliation),
            Some(Source::Master)
        )
    );
}

#[test]
fn reconciliation_answers_latest_states() {
    let (mut m, a, f, o) = setup();
    m.accept(
        &pid(SCHED),
        launch(
            &f,
            vec![o],
            vec![
                task("t1", &a, "cpus:1;mem:128"),
                task("t2", &a, "cpus:1;mem:128"),
            ],
        ),
    );
    running(&mut m, &f, &a, "t1", TaskState::Running, 1);
    // Implicit: every task.
    let fx = m.reconcile(
        &pid(SCHED),
        ReconcileTasksMessage {
            framework_id: f.clone(),
            statuses: vec![],
        },
    );
    let mut u: Vec<(String, TaskState)> = updates(&fx)
        .iter()
        .map(|s| (s.task_id.to_string(), s.state))
        .collect();
    u.sort();
    assert_eq!(
        u,
        vec![
            ("t1".into(), TaskState::Running),
            ("t2".into(), TaskState::Staging)
        ]
    );
    assert!(updates(&fx)
        .iter()
        .all(|s| s.reason == Some(Reason::Reconciliation)
            && s.source == Some(Source::Master)
            && s.uuid.is_none()));
    // Explicit: known, unknown on a registered agent, unknown anywhere.
    let fx = m.reconcile(
        &pid(SCHED),
        ReconcileTasksMessage {
            framework_id: f,
            statuses: vec![
                TaskStatus::new("t1".into(), TaskState::Staging),
                TaskStatus::new("gone".into(), TaskState::Running).with_agent(a.clone()),
                TaskStatus::new("never".into(), TaskState::Running),
            ],
        },
    );
    let states: Vec<TaskState> = updates(&fx).iter().map(|s| s.state).collect();
    assert_eq!(
        states,
        vec![TaskState::Running, TaskState::Lost, TaskState::Lost]
    );

    // A partition-aware framework hears TASK_GONE / TASK_UNKNOWN instead.
    let mut info = FrameworkInfo::new("pa", "root");
    info.capabilities.push(FrameworkCapability::PartitionAware);
    let pa = add_framework(&mut m, "pa@127.0.0.1:7000", info);
    let fx = m.reconcile(
        &pid("pa@127.0.0.1:7000"),
        ReconcileTasksMessage {
            framework_id: pa,
            statuses: vec![
                TaskStatus::new("gone".into(), TaskState::Running).with_agent(a),
                TaskStatus::new("never".into(), TaskState::Running),
            ],
        },
    );
    let states: Vec<TaskState> = updates(&fx).iter().map(|s| s.state).collect();
    assert_eq!(states, vec![TaskState::Gone, TaskState::Unknown]);
}

#[test]
fn missed_pings_make_an_agent_unreachable_and_its_tasks_lost_or_unreachable() {
    let (mut m, a, f, o) = setup();
    let mut info = FrameworkInfo::new("pa", "root");
    info.capabilities.push(FrameworkCapability::PartitionAware);
    let pa_pid = "pa@127.0.0.1:7000";
    let pa = add_framework(&mut m, pa_pid, info);
    m.accept(
        &pid(SCHED),
        launch(&f, vec![o], vec![task("t1", &a, "cpus:1;mem:128")]),
    );
    let o2 = offer(&mut m, &pa, &a, "cpus:3;mem:896");
    m.accept(
        &pid(pa_pid),
        launch(&pa, vec![o2], vec![task("p1", &a, "cpus:1;mem:128")]),
    );
    let o3 = offer(&mut m, &f, &a, "cpus:2;mem:768");

    // First round pings; a pong clears the miss.
    let fx = m.ping_tick();
    assert_eq!(
        sends(&fx),
        vec![(
            pid(AGENT),
            Outbound::PingSlaveMessage(PingSlaveMessage { connected: true })
        )]
    );
    m.pong(&pid(AGENT));
    for _ in 0..5 {
        let fx = m.ping_tick();
        assert_eq!(sends(&fx).len(), 1, "still pinging");
    }
    assert_eq!(m.agents()[&a].ping_timeouts, 4);
    let fx = m.ping_tick();
    assert!(m.agents().is_empty());
    assert!(m.unreachable_agents().contains_key(&a));
    assert!(alloc_calls(&fx)
        .iter()
        .any(|c| matches!(c, ToAllocator::RemoveAgent(r) if r.agent_id == a)));
    let s = sends(&fx);
    let to = |who: &str| -> Vec<Outbound> {
        s.iter()
            .filter(|(p, _)| *p == pid(who))
            .map(|(_, m)| m.clone())
            .collect()
    };
    let sched = to(SCHED);
    assert!(sched.contains(&Outbound::RescindResourceOfferMessage(
        RescindResourceOfferMessage { offer_id: o3 }
    )));
    assert!(sched.iter().any(|m| matches!(m, Outbound::StatusUpdateMessage(u) if u.update.status.state == TaskState::Lost && u.update.status.reason == Some(Reason::AgentRemoved))));
    assert!(
        sched.contains(&Outbound::LostSlaveMessage(LostSlaveMessage {
            agent_id: a.clone()
        }))
    );
    let pa_msgs = to(pa_pid);
    assert!(pa_msgs.iter().any(|m| matches!(m, Outbound::StatusUpdateMessage(u) if u.update.status.state == TaskState::Unreachable)));
    assert_eq!(m.frameworks()[&pa].unreachable_tasks.len(), 1);
    assert_eq!(m.frameworks()[&f].completed_tasks[0].state, TaskState::Lost);

    // Pongs from it are not answered (a ping would be answered by a pong, forever).
    assert!(m.pong(&pid(AGENT)).is_empty());

    // It re-registers with its tasks: the partition-aware one becomes known again; the
    // one already reported TASK_LOST is killed, not resurrected.
    let mut t1 =
        proto::messages::Task::from_info(&task("t1", &a, "cpus:1;mem:128"), f.clone(), None);
    t1.state = TaskState::Running;
    let mut p1 =
        proto::messages::Task::from_info(&task("p1", &a, "cpus:1;mem:128"), pa.clone(), None);
    p1.state = TaskState::Running;
    let mut slave = AgentInfo::new("host1", "cpus:4;mem:1024".parse().unwrap());
    slave.id = Some(a.clone());
    let fx = m.reregister_agent(
        &pid(AGENT),
        ReregisterSlaveMessage {
            slave,
            checkpointed_resources: Resources::new(),
            executor_infos: vec![],
            tasks: vec![t1, p1],
            frameworks: vec![],
            version: String::new(),
        },
    );
    let s = sends(&fx);
    assert!(
        matches!(s.iter().rev().nth(1), Some((_, Outbound::SlaveReregisteredMessage(r))) if r.slave_id == a)
    );
    assert_eq!(
        s.last(),
        Some(&(
            pid(AGENT),
            Outbound::KillTaskMessage(KillTaskMessage {
                framework_id: f.clone(),
                task_id: TaskId::new("t1"),
                kill_policy: None,
            })
        ))
    );
    assert!(alloc_calls(&fx)
        .iter()
        .any(|c| matches!(c, ToAllocator::AddAgent(x) if x.used.len() == 1)));
    assert!(m.unreachable_agents().is_empty());
    assert!(!m.frameworks()[&f].tasks.contains_key(&TaskId::new("t1")));
    assert_eq!(m.frameworks()[&f].completed_tasks[0].state, TaskState::Lost);
    // A retried re-registration, still listing t1 (not killed yet), does not bring it back.
    let mut t1 =
        proto::messages::Task::from_info(&task("t1", &a, "cpus:1;mem:128"), f.clone(), None);
    t1.state = TaskState::Running;
    let mut p1 =
        proto::messages::Task::from_info(&task("p1", &a, "cpus:1;mem:128"), pa.clone(), None);
    p1.state = TaskState::Running;
    let fx = reregister(&mut m, AGENT, &a, vec![t1, p1], vec![]);
    assert!(sends(&fx).iter().any(|(p, m)| *p == pid(AGENT)
        && matches!(m, Outbound::KillTaskMessage(k) if k.task_id == TaskId::new("t1"))));
    assert!(!m.frameworks()[&f].tasks.contains_key(&TaskId::new("t1")));
    assert!(m.frameworks()[&pa].unreachable_tasks.is_empty());
    assert_eq!(
        m.frameworks()[&pa].tasks[&TaskId::new("p1")].state,
        TaskState::Running
    );
}

#[test]
fn scheduler_exit_arms_failover_and_expiry_tears_down() {
    let (mut m, a, f, o) = setup();
    let mut info = FrameworkInfo::new("fw", "root");
    info.failover_timeout = 30.0;
    m.accept(
        &pid(SCHED),
        launch(&f, vec![o], vec![task("t1", &a, "cpus:1;mem:128")]),
    );
    // Give it a failover timeout by re-registering the same scheduler with the new info.
    info.id = Some(f.clone());
    Arc::make_mut(m.frameworks.get_mut(&f).unwrap())
        .info
        .failover_timeout = 30.0;
    let fx = m.exited(&pid(SCHED));
    let timer = fx.iter().find_map(|e| match e {
        Effect::FailoverTimer {
            framework_id,
            epoch,
            after,
        } => Some((framework_id.clone(), *epoch, *after)),
        _ => None,
    });
    let (fid, epoch, after) = timer.expect("failover timer");
    assert_eq!((fid.clone(), after), (f.clone(), Duration::from_secs(30)));
    assert!(alloc_calls(&fx)
        .iter()
        .any(|c| matches!(c, ToAllocator::DeactivateFramework(_))));
    assert!(!m.frameworks()[&f].connected);

    // A new scheduler re-registers in time: the timer is void.
    let new_sched = pid("scheduler-2@127.0.0.1:6001");
    let fx = m.reregister_framework(
        &new_sched,
        ReregisterFrameworkMessage {
            framework: info.clone(),
            failover: true,
        },
    );
    assert!(sends(&fx).iter().any(|(p, m)| *p == pid(AGENT) && matches!(m, Outbound::UpdateFrameworkMessage(u) if u.pid.as_deref() == Some(new_sched.as_str()))));
    assert!(alloc_calls(&fx)
        .iter()
        .any(|c| matches!(c, ToAllocator::ActivateFramework(_))));
    assert!(
        matches!(sends(&fx).last(), Some((p, Outbound::FrameworkRegisteredMessage(_))) if *p == new_sched),
        "a scheduler failover is answered as Mesos's failoverFramework does: registered"
    );
    assert!(m.failover_expired(&f, epoch).is_empty());

    // It goes away again and does not come back.
    let fx = m.exited(&new_sched);
    let epoch = fx.iter().find_map(|e| match e {
        Effect::FailoverTimer { epoch, .. } => Some(*epoch),
        _ => None,
    });
    let fx = m.failover_expired(&f, epoch.expect("timer"));
    assert!(sends(&fx).contains(&(
        pid(AGENT),
        Outbound::ShutdownFrameworkMessage(ShutdownFrameworkMessage {
            framework_id: f.clone()
        })
    )));
    assert!(alloc_calls(&fx)
        .iter()
        .any(|c| matches!(c, ToAllocator::RemoveFramework(_))));
    assert!(m.frameworks().is_empty());
    let done = &m.completed_frameworks()[0];
    assert_eq!(done.completed_tasks[0].state, TaskState::Killed);
    // Re-registering a removed framework is refused.
    let fx = m.reregister_framework(
        &new_sched,
        ReregisterFrameworkMessage {
            framework: info,
            failover: true,
        },
    );
    assert!(
        matches!(&sends(&fx)[..], [(_, Outbound::FrameworkErrorMessage(e))] if e.message.contains("removed"))
    );
}

#[test]
fn offer_timeout_rescinds() {
    let mut m = Master::new(
        MasterConfig {
            offer_timeout: Some(Duration::from_secs(5)),
            ..config()
        },
        pid("master@127.0.0.1:5050"),
    );
    let a = add_agent(&mut m, AGENT, "cpus:1;mem:64");
    let f = add_framework(&mut m, SCHED, FrameworkInfo::new("fw", "root"));
    let fx = m.offers_from_allocator(alloc::Offers {
        allocations: vec![Allocation {
            framework_id: f.clone(),
            agent_id: a,
            role: "*".into(),
            resources: "cpus:1;mem:64".parse().unwrap(),
        }],
    });
    let Some(Effect::OfferTimer { offer_id, after }) = fx
        .iter()
        .find(|e| matches!(e, Effect::OfferTimer { .. }))
        .cloned()
    else {
        panic!("no offer timer")
    };
    assert_eq!(after, Duration::from_secs(5));
    let fx = m.offer_expired(&offer_id);
    assert_eq!(
        sends(&fx),
        vec![(
            pid(SCHED),
            Outbound::RescindResourceOfferMessage(RescindResourceOfferMessage {
                offer_id: offer_id.clone()
            })
        )]
    );
    assert_eq!(alloc_calls(&fx).len(), 1);
    assert!(
        m.offer_expired(&offer_id).is_empty(),
        "a second expiry does nothing"
    );
}

#[test]
fn allocations_for_gone_frameworks_or_agents_go_back() {
    let mut m = master();
    let fx = m.offers_from_allocator(alloc::Offers {
        allocations: vec![Allocation {
            framework_id: "nobody".into(),
            agent_id: "nowhere".into(),
            role: "*".into(),
            resources: "cpus:1".parse().unwrap(),
        }],
    });
    assert!(matches!(
        &alloc_calls(&fx)[..],
        [ToAllocator::RecoverResources(_)]
    ));
    assert!(m.offers().is_empty());
}

#[test]
fn unregister_framework_tears_down() {
    let (mut m, a, f, o) = setup();
    m.accept(
        &pid(SCHED),
        launch(&f, vec![o], vec![task("t1", &a, "cpus:1;mem:128")]),
    );
    let fx = m.unregister_framework(
        &pid(SCHED),
        UnregisterFrameworkMessage {
            framework_id: f.clone(),
        },
    );
    assert!(sends(&fx).contains(&(
        pid(AGENT),
        Outbound::ShutdownFrameworkMessage(ShutdownFrameworkMessage { framework_id: f })
    )));
    assert!(m.frameworks().is_empty());
    assert_eq!(m.completed_frameworks().len(), 1);
}

// ------------------------------------------------------------- failover

fn persists(fx: &[Effect]) -> bool {
    fx.iter().any(|e| matches!(e, Effect::PersistRegistry))
}

fn agent_info(id: &AgentId, host: &str) -> AgentInfo {
    let mut info = AgentInfo::new(host, "cpus:4;mem:1024".parse().unwrap());
    info.id = Some(id.clone());
    info
}

fn reregister(
    m: &mut Master,
    at: &str,
    id: &AgentId,
    tasks: Vec<Task>,
    fws: Vec<FrameworkInfo>,
) -> Vec<Effect> {
    m.reregister_agent(
        &pid(at),
        ReregisterSlaveMessage {
            slave: agent_info(id, "host1"),
            checkpointed_resources: Resources::new(),
            executor_infos: vec![],
            tasks,
            frameworks: fws,
            version: "1.11.0".into(),
        },
    )
}

#[test]
fn registry_follows_admission_and_removal() {
    let mut m = master();
    let fx = m.register_agent(
        &pid(AGENT),
        RegisterSlaveMessage {
            slave: AgentInfo::new("host1", "cpus:1;mem:128".parse().unwrap()),
            checkpointed_resources: Resources::new(),
            version: "1.11.0".into(),
        },
    );
    assert!(persists(&fx));
    let a = m.agent_id_of(&pid(AGENT)).cloned().unwrap();
    assert_eq!(m.registry().agents[&a].id.as_ref(), Some(&a));
    // A retry changes nothing durable.
    let fx = m.register_agent(
        &pid(AGENT),
        RegisterSlaveMessage {
            slave: AgentInfo::new("host1", "cpus:1;mem:128".parse().unwrap()),
            checkpointed_resources: Resources::new(),
            version: "1.11.0".into(),
        },
    );
    assert!(!persists(&fx));
    // Missing pings: unreachable, durably.
    for _ in 0..=config().max_agent_ping_timeouts {
        m.ping_tick();
    }
    assert!(m.registry().agents.is_empty());
    assert_eq!(m.registry().unreachable[&a].time, 1000.0);
    // It comes back: admitted again.
    let fx = reregister(&mut m, AGENT, &a, vec![], vec![]);
    assert!(persists(&fx));
    assert!(m.registry().unreachable.is_empty());
    assert!(m.registry().agents.contains_key(&a));
    // It leaves for good: forgotten.
    let fx = m.unregister_agent(
        &pid(AGENT),
        UnregisterSlaveMessage {
            slave_id: a.clone(),
        },
    );
    assert!(persists(&fx));
    assert!(m.registry().agents.is_empty() && m.registry().unreachable.is_empty());
    // Gone for good: remembered so that it cannot come back under this id.
    assert_eq!(m.registry().gone.get(&a), Some(&1000.0));
}

#[test]
fn new_leader_rebuilds_from_registry_and_reregistrations() {
    let a = AgentId::new("old-S0");
    let b = AgentId::new("old-S1");
    let gone = AgentId::new("old-S2");
    let mut reg = crate::registry::Registry::default();
    reg.admit(&a, &agent_info(&a, "host1"));
    reg.admit(&b, &agent_info(&b, "host2"));
    reg.mark_unreachable(&gone, &agent_info(&gone, "host3"), 5.0);

    let mut m = master();
    let fx = m.recover(reg.clone());
    assert!(fx.contains(&Effect::ReregisterTimer {
        after: Duration::from_secs(600)
    }));
    assert_eq!(m.recovered_agents().len(), 2);
    assert!(m.unreachable_agents().contains_key(&gone));

    // Agent A re-registers first, with a running task of framework F (not back yet).
    let fid = FrameworkId::new("old-0000");
    let mut finfo = FrameworkInfo::new("f", "user");
    finfo.id = Some(fid.clone());
    let mut t1 = Task::from_info(&task("t1", &a, "cpus:1;mem:128"), fid.clone(), None);
    t1.state = TaskState::Running;
    let fx = reregister(&mut m, AGENT, &a, vec![t1], vec![finfo.clone()]);
    assert!(
        matches!(sends(&fx).last(), Some((_, Outbound::SlaveReregisteredMessage(r))) if r.slave_id == a)
    );
    let calls = alloc_calls(&fx);
    // The framework is known to the allocator (inactive) before the agent's used
    // resources, which are reported once, with the agent.
    let add_fw = calls
        .iter()
        .position(|c| matches!(c, ToAllocator::AddFramework(x) if !x.active && x.used.is_empty()));
    let add_agent = calls
        .iter()
        .position(|c| matches!(c, ToAllocator::AddAgent(x) if x.used.len() == 1));
    assert!(
        add_fw.is_some() && add_agent.is_some() && add_fw < add_agent,
        "{calls:?}"
    );
    assert!(!persists(&fx), "A is already in the registry");
    let f = &m.frameworks()[&fid];
    assert!(f.recovered && !f.active && f.pid.is_none());
    assert_eq!(f.tasks[&TaskId::new("t1")].state, TaskState::Running);
    assert_eq!(m.recovered_agents().len(), 1);

    // F re-subscribes with its id: re-registered, tasks kept, activated.
    let fx = m.reregister_framework(
        &pid(SCHED),
        ReregisterFrameworkMessage {
            framework: finfo.clone(),
            failover: true,
        },
    );
    assert!(sends(&fx).iter().any(|(p, o)| p == &pid(SCHED)
        && matches!(o, Outbound::FrameworkReregisteredMessage(r) if r.framework_id == fid)));
    assert!(alloc_calls(&fx)
        .iter()
        .any(|c| matches!(c, ToAllocator::ActivateFramework(_))));
    assert!(!alloc_calls(&fx)
        .iter()
        .any(|c| matches!(c, ToAllocator::AddFramework(_))));
    let f = &m.frameworks()[&fid];
    assert!(!f.recovered && f.active && f.connected);
    assert_eq!(f.tasks[&TaskId::new("t1")].state, TaskState::Running);

    // During the window, a task on B (not back yet) gets no reconciliation answer.
    let ask = |tid: &str, agent: &AgentId| ReconcileTasksMessage {
        framework_id: fid.clone(),
        statuses: vec![{
            let mut s = TaskStatus::new(TaskId::new(tid), TaskState::Running);
            s.agent_id = Some(agent.clone());
            s
        }],
    };
    assert!(updates(&m.reconcile(&pid(SCHED), ask("t2", &b))).is_empty());
    assert_eq!(
        updates(&m.reconcile(&pid(SCHED), ask("t1", &a)))[0].state,
        TaskState::Running
    );

    // B never comes back: unreachable (durably); F hears of it; its task reconciles LOST.
    let fx = m.reregister_timeout();
    assert!(persists(&fx));
    assert!(m.recovered_agents().is_empty());
    assert!(m.registry().unreachable.contains_key(&b));
    assert!(!m.registry().agents.contains_key(&b));
    assert!(sends(&fx)
        .iter()
        .any(|(_, o)| matches!(o, Outbound::LostSlaveMessage(l) if l.agent_id == b)));
    let u = updates(&m.reconcile(&pid(SCHED), ask("t2", &b)));
    assert_eq!(u[0].state, TaskState::Lost);
    // A late timer does nothing more.
    assert!(m.reregister_timeout().is_empty());

    // B re-registers later after all: admitted again (non-strict registry).
    let fx = reregister(&mut m, AGENT2, &b, vec![], vec![]);
    assert!(persists(&fx));
    assert!(m.registry().agents.contains_key(&b));
}

#[test]
fn framework_back_before_its_agent_counts_used_once() {
    let a = AgentId::new("old-S0");
    let mut reg = crate::registry::Registry::default();
    reg.admit(&a, &agent_info(&a, "host1"));
    let mut m = master();
    m.recover(reg);
    let fid = FrameworkId::new("old-0000");
    let mut finfo = FrameworkInfo::new("f", "user");
    finfo.id = Some(fid.clone());
    let fx = m.reregister_framework(
        &pid(SCHED),
        ReregisterFrameworkMessage {
            framework: finfo.clone(),
            failover: true,
        },
    );
    assert!(alloc_calls(&fx)
        .iter()
        .any(|c| matches!(c, ToAllocator::AddFramework(x) if x.active && x.used.is_empty())));
    let mut t1 = Task::from_info(&task("t1", &a, "cpus:1;mem:128"), fid.clone(), None);
    t1.state = TaskState::Running;
    let fx = reregister(&mut m, AGENT, &a, vec![t1], vec![finfo]);
    let calls = alloc_calls(&fx);
    assert!(
        !calls
            .iter()
            .any(|c| matches!(c, ToAllocator::AddFramework(_))),
        "{calls:?}"
    );
    assert!(calls
        .iter()
        .any(|c| matches!(c, ToAllocator::AddAgent(x) if x.used.len() == 1)));
    assert_eq!(m.frameworks()[&fid].tasks.len(), 1);
    assert!(m.frameworks()[&fid].connected);
}

#[test]
fn a_framework_unknown_to_a_new_leader_is_readmitted_with_its_reregistration_time() {
    // The scheduler reaches the new leader before any agent has reported its framework.
    let mut m = master();
    let mut info = FrameworkInfo::new("fw", "root");
    info.id = Some(FrameworkId::new("old-master-0007"));
    let fx = m.reregister_framework(
        &pid("scheduler-1@127.0.0.1:4000"),
        ReregisterFrameworkMessage {
            framework: info,
            failover: false,
        },
    );
    assert!(sends(&fx)
        .iter()
        .any(|(_, o)| matches!(o, Outbound::FrameworkReregisteredMessage(_))));
    let f = &m.frameworks()[&FrameworkId::new("old-master-0007")];
    assert!(
        f.reregistered_time.is_some(),
        "/master/state shows when it came back"
    );
}

#[test]
fn update_framework_changes_the_info_for_the_allocator_and_agents() {
    let mut m = master();
    let agent = add_agent(&mut m, "slave(1)@10.0.0.2:5051", "cpus:2;mem:1024");
    let fid = add_framework(&mut m, "sched@10.0.0.3:1", FrameworkInfo::new("fw", "root"));
    let mut info = m.frameworks()[&fid].info.clone();
    info.name = "renamed".into();
    info.roles = vec!["ads".into()];
    // Only the connected scheduler may update it.
    let e = m
        .update_framework(&pid("other@10.0.0.9:1"), info.clone())
        .unwrap_err();
    assert!(e.contains("not subscribed"), "{e}");
    let fx = m
        .update_framework(&pid("sched@10.0.0.3:1"), info.clone())
        .unwrap();
    assert_eq!(m.frameworks()[&fid].info.name, "renamed");
    assert!(alloc_calls(&fx)
        .iter()
        .any(|c| matches!(c, ToAllocator::UpdateFramework(u) if u.info.roles == vec!["ads"])));
    let to_agents: Vec<_> = sends(&fx)
        .into_iter()
        .filter(|(_, o)| matches!(o, Outbound::UpdateFrameworkMessage(_)))
        .collect();
    assert_eq!(to_agents.len(), 1);
    assert_eq!(m.agents()[&agent].pid, to_agents[0].0);
    // Nothing changed: nothing to do. Fixed fields and bad infos are refused.
    assert!(m
        .update_framework(&pid("sched@10.0.0.3:1"), info.clone())
        .unwrap()
        .is_empty());
    let mut other_user = info.clone();
    other_user.user = "nobody".into();
    let e = m
        .update_framework(&pid("sched@10.0.0.3:1"), other_user)
        .unwrap_err();
    assert!(e.contains("user"), "{e}");
    let mut bad = info;
    bad.failover_timeout = -1.0;
    assert!(m.update_framework(&pid("sched@10.0.0.3:1"), bad).is_err());
}

mod operator;

mod durability;

mod state_parity;

#[test]
fn a_status_update_from_an_agent_the_task_does_not_run_on_is_refused_and_counted() {
    let (mut m, a, f, o) = setup();
    let _other = add_agent(&mut m, AGENT2, "cpus:4;mem:1024");
    m.accept(
        &pid(SCHED),
        launch(&f, vec![o], vec![task("t1", &a, "cpus:1;mem:128")]),
    );
    running(&mut m, &f, &a, "t1", TaskState::Running, 1);
    let refused = m.refused_senders();
    // The other (registered) agent claims t1 finished.
    let status = TaskStatus::new("t1".into(), TaskState::Finished)
        .with_source(Source::Executor)
        .with_uuid(StatusUuid::from_u128(2));
    let fx = m.status_update(
        &pid(AGENT2),
        StatusUpdateMessage {
            update: StatusUpdate {
                framework_id: f.clone(),
                executor_id: None,
                agent_id: None,
                status,
                timestamp: 1.0,
                latest_state: None,
            },
            pid: None,
        },
    );
    assert!(fx.is_empty(), "{fx:?}");
    assert_eq!(
        m.frameworks()[&f].tasks[&TaskId::new("t1")].state,
        TaskState::Running
    );
    assert_eq!(m.refused_senders(), refused + 1);
}

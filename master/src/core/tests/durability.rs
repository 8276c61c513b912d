//! Unit tests of the pure master core for issue 10: decisions are written to the
//! registry before anyone hears of them, the registry remembers what must survive a
//! failover (gone agents, torn-down frameworks, frameworks told `TASK_LOST`), and
//! re-registering agents are reconciled with what the master knows.

use super::*;

/// The effects carried out before the first registry write (the rest wait for it).
fn before_write(fx: &[Effect]) -> &[Effect] {
    match fx.iter().position(|e| matches!(e, Effect::PersistRegistry)) {
        Some(i) => &fx[..i],
        None => fx,
    }
}

fn assert_written_before_told(fx: &[Effect], what: &str) {
    assert!(persists(fx), "{what}: no registry write in {fx:?}");
    let early: Vec<&Effect> = before_write(fx)
        .iter()
        .filter(|e| matches!(e, Effect::Send(..) | Effect::Allocator(_)))
        .collect();
    assert!(early.is_empty(), "{what}: told before the write: {early:?}");
}

fn running_task(id: &str, agent: &AgentId, fid: &FrameworkId) -> Task {
    let mut t = Task::from_info(&task(id, agent, "cpus:1;mem:128"), fid.clone(), None);
    t.state = TaskState::Running;
    t
}

fn pa_info(name: &str) -> FrameworkInfo {
    let mut info = FrameworkInfo::new(name, "root");
    info.capabilities.push(FrameworkCapability::PartitionAware);
    info
}

/// Launches `ids` on `a` for `f` (one offer) and reports them running.
fn launch_running(m: &mut Master, f: &FrameworkId, a: &AgentId, ids: &[&str], sched: &str) {
    let o = offer(m, f, a, "cpus:2;mem:256");
    let fx = m.accept(
        &pid(sched),
        launch(
            f,
            vec![o],
            ids.iter().map(|id| task(id, a, "cpus:1;mem:128")).collect(),
        ),
    );
    assert_eq!(run_tasks(&fx).len(), ids.len(), "{fx:?}");
    for (n, id) in ids.iter().enumerate() {
        running(m, f, a, id, TaskState::Running, 100 + n as u128);
    }
}

fn miss_pings(m: &mut Master) -> Vec<Effect> {
    let mut fx = Vec::new();
    for _ in 0..=config().max_agent_ping_timeouts {
        fx.extend(m.ping_tick());
    }
    fx
}

#[test]
fn decisions_are_written_before_anyone_is_told() {
    let mut m = master();
    // Admission: the agent and the allocator hear of it only after the write.
    let fx = m.register_agent(
        &pid(AGENT),
        RegisterSlaveMessage {
            slave: AgentInfo::new("host1", "cpus:4;mem:1024".parse().unwrap()),
            checkpointed_resources: Resources::new(),
            version: "1.11.0".into(),
        },
    );
    assert_written_before_told(&fx, "admission");
    let a = m.agent_id_of(&pid(AGENT)).cloned().unwrap();
    let f = add_framework(&mut m, SCHED, FrameworkInfo::new("fw", "root"));
    launch_running(&mut m, &f, &a, &["t1"], SCHED);

    // Unreachable: TASK_LOST and LostSlave go out only after the write.
    let fx = miss_pings(&mut m);
    let lost = fx
        .iter()
        .position(|e| matches!(e, Effect::PersistRegistry))
        .expect("a write");
    assert!(updates(&fx[lost..])
        .iter()
        .any(|s| s.state == TaskState::Lost));
    assert!(updates(&fx[..lost]).is_empty(), "{fx:?}");
    assert!(m.registry().unreachable[&a].lost_frameworks.contains(&f));

    // Framework removal: written (and remembered) before the teardown is announced.
    let fx = m.unregister_framework(
        &pid(SCHED),
        UnregisterFrameworkMessage {
            framework_id: f.clone(),
        },
    );
    assert_written_before_told(&fx, "framework removal");
    assert!(m.registry().removed_frameworks.contains_key(&f));

    // After a failover: agents that did not come back are marked unreachable durably
    // before frameworks hear LostSlave.
    let mut reg = crate::registry::Registry::default();
    let b = AgentId::new("old-S1");
    reg.admit(&b, &agent_info(&b, "host2"));
    let mut m = master();
    m.recover(reg);
    add_framework(&mut m, SCHED, FrameworkInfo::new("fw2", "root"));
    let fx = m.reregister_timeout();
    assert_written_before_told(&fx, "re-registration timeout");
    assert!(m.registry().unreachable.contains_key(&b));
}

#[test]
fn told_lost_is_durable_across_failover() {
    // The old leader marked A unreachable and told F (not partition-aware) that its
    // task there is TASK_LOST; G (partition-aware) was told TASK_UNREACHABLE.
    let a = AgentId::new("old-S0");
    let f = FrameworkId::new("old-0000");
    let g = FrameworkId::new("old-0001");
    let mut reg = crate::registry::Registry::default();
    reg.admit(&a, &agent_info(&a, "host1"));
    reg.mark_unreachable(&a, &agent_info(&a, "host1"), 5.0);
    reg.note_lost(&a, &f);
    let reg = crate::registry::Registry::decode(&reg.encode()).expect("round trip");

    // A new leader (empty completed_tasks) sees A come back with both tasks.
    let mut m = master();
    m.recover(reg);
    let mut finfo = FrameworkInfo::new("f", "root");
    finfo.id = Some(f.clone());
    let mut ginfo = pa_info("g");
    ginfo.id = Some(g.clone());
    let fx = reregister(
        &mut m,
        AGENT,
        &a,
        vec![running_task("t1", &a, &f), running_task("p1", &a, &g)],
        vec![finfo, ginfo],
    );
    let kills: Vec<TaskId> = sends(&fx)
        .into_iter()
        .filter_map(|(_, o)| match o {
            Outbound::KillTaskMessage(k) => Some(k.task_id),
            _ => None,
        })
        .collect();
    assert_eq!(kills, vec![TaskId::new("t1")]);
    assert!(!m
        .frameworks()
        .get(&f)
        .is_some_and(|fw| fw.tasks.contains_key(&TaskId::new("t1"))));
    assert_eq!(
        m.frameworks()[&g].tasks[&TaskId::new("p1")].state,
        TaskState::Running
    );
    // A retry of the re-registration (the answer was lost) still lists t1: killed again.
    let fx = reregister(
        &mut m,
        AGENT,
        &a,
        vec![running_task("t1", &a, &f), running_task("p1", &a, &g)],
        vec![],
    );
    assert!(sends(&fx)
        .iter()
        .any(|(_, o)| matches!(o, Outbound::KillTaskMessage(k) if k.task_id == TaskId::new("t1"))));
    assert!(!m
        .frameworks()
        .get(&f)
        .is_some_and(|fw| fw.tasks.contains_key(&TaskId::new("t1"))));
}

#[test]
fn a_lost_task_killed_on_return_is_killed_again_by_the_next_leader() {
    // The framework was told its task on A is TASK_LOST; A comes back and the master
    // kills the task. The kill may never land (dropped, or the agent restarts first), and
    // re-admitting A leaves no unreachable entry: the next leader must still know.
    let a = AgentId::new("old-S0");
    let f = FrameworkId::new("old-0000");
    let mut reg = crate::registry::Registry::default();
    reg.admit(&a, &agent_info(&a, "host1"));
    reg.mark_unreachable(&a, &agent_info(&a, "host1"), 5.0);
    reg.note_lost(&a, &f);
    let mut m = master();
    m.recover(reg);
    let mut finfo = FrameworkInfo::new("f", "root");
    finfo.id = Some(f.clone());
    let fx = reregister(
        &mut m,
        AGENT,
        &a,
        vec![running_task("t1", &a, &f)],
        vec![finfo.clone()],
    );
    assert!(persists(&fx), "{fx:?}");
    assert!(sends(&fx)
        .iter()
        .any(|(_, o)| matches!(o, Outbound::KillTaskMessage(k) if k.task_id == TaskId::new("t1"))));

    // The master fails over before the task ends: the agent still reports it running.
    let reg = crate::registry::Registry::decode(&m.registry().encode()).expect("round trip");
    let mut next = master();
    next.recover(reg);
    let fx = reregister(
        &mut next,
        AGENT,
        &a,
        vec![running_task("t1", &a, &f), running_task("t2", &a, &f)],
        vec![finfo.clone()],
    );
    let kills: Vec<TaskId> = sends(&fx)
        .into_iter()
        .filter_map(|(_, o)| match o {
            Outbound::KillTaskMessage(k) => Some(k.task_id),
            _ => None,
        })
        .collect();
    assert_eq!(kills, vec![TaskId::new("t1")], "{fx:?}");
    let tasks = &next.frameworks()[&f].tasks;
    assert!(!tasks.contains_key(&TaskId::new("t1")), "{tasks:?}");
    assert_eq!(tasks[&TaskId::new("t2")].state, TaskState::Running);

    // Ended but still reported (its terminal update unacknowledged): it may still have
    // updates on their way, so it is remembered, not killed again.
    let mut ended = running_task("t1", &a, &f);
    ended.state = TaskState::Killed;
    let fx = reregister(
        &mut next,
        AGENT,
        &a,
        vec![ended, running_task("t2", &a, &f)],
        vec![finfo.clone()],
    );
    assert!(!sends(&fx)
        .iter()
        .any(|(_, o)| matches!(o, Outbound::KillTaskMessage(_))));
    assert_eq!(next.registry().killed_lost_tasks[&a].len(), 1);
    // Once the agent no longer reports it, the registry forgets it.
    let fx = reregister(
        &mut next,
        AGENT,
        &a,
        vec![running_task("t2", &a, &f)],
        vec![finfo],
    );
    assert!(persists(&fx), "{fx:?}");
    assert!(next.registry().killed_lost_tasks.is_empty());
}

#[test]
fn registry_prunes_unreachable_agents_by_age_and_count() {
    let mut m = Master::new(
        MasterConfig {
            registry_max_agent_count: 2,
            ..config()
        },
        pid("master@127.0.0.1:5050"),
    );
    let mut ids = Vec::new();
    for n in 0..4 {
        let at = format!("slave({n})@127.0.0.1:{}", 6000 + n);
        ids.push(add_agent(&mut m, &at, "cpus:1;mem:64"));
    }
    miss_pings(&mut m);
    assert_eq!(m.registry().unreachable.len(), 2);
    assert_eq!(m.unreachable_agents().len(), 2);

    // By age: an entry older than --registry_max_agent_age is forgotten.
    let mut r = crate::registry::Registry::default();
    let old = AgentId::new("x-S0");
    let new = AgentId::new("x-S1");
    r.mark_unreachable(&old, &agent_info(&old, "h"), 100.0);
    r.mark_unreachable(&new, &agent_info(&new, "h"), 900.0);
    r.mark_gone(&AgentId::new("x-S2"), 100.0);
    let pruned = r.prune(1000.0, Duration::from_secs(500), 10);
    assert_eq!(pruned, vec![old]);
    assert!(r.unreachable.contains_key(&new));
    assert!(r.gone.is_empty());

    // The master prunes on its own as time passes (here: on the ping round).
    let mut m = Master::new(
        MasterConfig {
            registry_max_agent_age: Duration::from_secs(500),
            ..config()
        },
        pid("master@127.0.0.1:5050"),
    );
    let stale = AgentId::new("x-S3");
    r.mark_unreachable(&stale, &agent_info(&stale, "h"), 400.0);
    r.unreachable.remove(&new);
    m.recover(r);
    assert!(m.unreachable_agents().contains_key(&stale));
    let fx = m.ping_tick();
    assert!(persists(&fx), "nothing to prune yet? {fx:?}");
    assert!(m.registry().unreachable.is_empty());
    assert!(m.unreachable_agents().is_empty());
    assert!(!persists(&m.ping_tick()));
}

#[test]
fn a_reregistering_agent_is_reconciled_with_the_master() {
    let (mut m, a, f, _o) = setup();
    let pa = add_framework(&mut m, "scheduler-2@127.0.0.1:6001", pa_info("pa"));
    launch_running(&mut m, &f, &a, &["t1", "t2"], SCHED);
    launch_running(&mut m, &pa, &a, &["p1"], "scheduler-2@127.0.0.1:6001");
    // Its link breaks, it re-registers reporting t1 only, plus a task of a framework
    // torn down meanwhile.
    m.exited(&pid(AGENT));
    let gone_fw = FrameworkId::new("removed-fw");
    Arc::make_mut(&mut m.registry).remove_framework(&gone_fw, 1.0);
    let fx = reregister(
        &mut m,
        AGENT,
        &a,
        vec![running_task("t1", &a, &f), running_task("z1", &a, &gone_fw)],
        vec![],
    );
    let ups = updates(&fx);
    let state_of = |id: &str| {
        ups.iter()
            .find(|s| s.task_id.as_str() == id)
            .map(|s| (s.state, s.reason))
    };
    // Known to the master, unknown to the agent: LOST, or DROPPED if partition-aware.
    assert_eq!(
        state_of("t2"),
        Some((TaskState::Lost, Some(Reason::Reconciliation)))
    );
    assert_eq!(
        state_of("p1"),
        Some((TaskState::Dropped, Some(Reason::Reconciliation)))
    );
    assert_eq!(state_of("t1"), None);
    // Their resources go back to the allocator.
    let recovered: f64 = alloc_calls(&fx)
        .iter()
        .filter_map(|c| match c {
            ToAllocator::RecoverResources(r) => Some(r.resources.cpus()),
            _ => None,
        })
        .sum();
    assert_eq!(recovered, 2.0);
    assert!(m.frameworks()[&f].tasks.contains_key(&TaskId::new("t1")));
    assert!(!m.frameworks()[&f].tasks.contains_key(&TaskId::new("t2")));
    // The torn-down framework's task is shut down, not adopted.
    assert!(sends(&fx).contains(&(
        pid(AGENT),
        Outbound::ShutdownFrameworkMessage(ShutdownFrameworkMessage {
            framework_id: gone_fw.clone()
        })
    )));
    assert!(!m.frameworks().contains_key(&gone_fw));
}

#[test]
fn tasks_of_a_framework_torn_down_during_a_partition_are_shut_down_not_adopted() {
    let (mut m, a, f, _o) = setup();
    launch_running(&mut m, &f, &a, &["t1"], SCHED);
    // Partition longer than the ping timeout, and the framework is torn down meanwhile.
    miss_pings(&mut m);
    m.unregister_framework(
        &pid(SCHED),
        UnregisterFrameworkMessage {
            framework_id: f.clone(),
        },
    );
    let mut finfo = FrameworkInfo::new("fw", "root");
    finfo.id = Some(f.clone());
    // The partition heals: the agent still runs t1.
    let fx = reregister(
        &mut m,
        AGENT,
        &a,
        vec![running_task("t1", &a, &f)],
        vec![finfo.clone()],
    );
    assert!(sends(&fx).iter().any(|(p, o)| *p == pid(AGENT)
        && matches!(o, Outbound::ShutdownFrameworkMessage(s) if s.framework_id == f)));
    assert!(!m.frameworks().contains_key(&f), "adopted back");
    assert_eq!(m.completed_frameworks().len(), 1);
    // The same after a failover: the registry remembers the teardown.
    let mut m2 = master();
    m2.recover(m.registry().clone());
    let fx = reregister(
        &mut m2,
        AGENT,
        &a,
        vec![running_task("t1", &a, &f)],
        vec![finfo.clone()],
    );
    assert!(sends(&fx).iter().any(|(p, o)| *p == pid(AGENT)
        && matches!(o, Outbound::ShutdownFrameworkMessage(s) if s.framework_id == f)));
    assert!(!m2.frameworks().contains_key(&f));
    let fx = m2.reregister_framework(
        &pid("scheduler-9@127.0.0.1:6009"),
        ReregisterFrameworkMessage {
            framework: finfo,
            failover: true,
        },
    );
    assert!(
        matches!(&sends(&fx)[..], [(_, Outbound::FrameworkErrorMessage(e))] if e.message.contains("removed"))
    );
}

#[test]
fn a_removed_agent_is_refused_and_told_to_shut_down() {
    let (mut m, a, _f, _o) = setup();
    m.unregister_agent(
        &pid(AGENT),
        UnregisterSlaveMessage {
            slave_id: a.clone(),
        },
    );
    let fx = reregister(&mut m, AGENT, &a, vec![], vec![]);
    assert!(
        matches!(&sends(&fx)[..], [(p, Outbound::ShutdownMessage(_))] if *p == pid(AGENT)),
        "{fx:?}"
    );
    assert!(!m.agents().contains_key(&a));
    assert!(alloc_calls(&fx).is_empty());
    // Also after a failover.
    let mut m2 = master();
    m2.recover(m.registry().clone());
    let fx = reregister(&mut m2, AGENT, &a, vec![], vec![]);
    assert!(matches!(
        &sends(&fx)[..],
        [(_, Outbound::ShutdownMessage(_))]
    ));
    assert!(!m2.agents().contains_key(&a));
}

#[test]
fn a_registration_with_another_info_at_a_known_pid_is_a_new_agent() {
    let (mut m, a, f, _o) = setup();
    launch_running(&mut m, &f, &a, &["t1"], SCHED);
    // The same resources again: a retry, same id.
    let same = add_agent(&mut m, AGENT, "cpus:4;mem:1024");
    assert_eq!(same, a);
    // Restarted with more memory: a new agent; the old one and its task are gone.
    let fx = m.register_agent(
        &pid(AGENT),
        RegisterSlaveMessage {
            slave: AgentInfo::new("host1", "cpus:4;mem:2048".parse().unwrap()),
            checkpointed_resources: Resources::new(),
            version: "1.11.0".into(),
        },
    );
    let new = match sends(&fx).pop() {
        Some((_, Outbound::SlaveRegisteredMessage(r))) => r.slave_id,
        other => panic!("expected SlaveRegistered, got {other:?}"),
    };
    assert_ne!(new, a);
    assert!(updates(&fx)
        .iter()
        .any(|s| s.task_id.as_str() == "t1" && s.state == TaskState::Lost));
    assert!(!m.agents().contains_key(&a));
    assert!(m.registry().gone.contains_key(&a));
    assert_eq!(m.agent_id_of(&pid(AGENT)), Some(&new));
}

#[test]
fn a_scheduler_failing_over_while_its_task_finishes_learns_it_by_reconciliation() {
    let (mut m, a, f, _o) = setup();
    launch_running(&mut m, &f, &a, &["t1"], SCHED);
    // The task finishes while the scheduler is gone: the update is not acknowledged.
    m.exited(&pid(SCHED));
    running(&mut m, &f, &a, "t1", TaskState::Finished, 9);
    let mut info = FrameworkInfo::new("fw", "root");
    info.id = Some(f.clone());
    let sched2 = pid("scheduler-2@127.0.0.1:6001");
    m.reregister_framework(
        &sched2,
        ReregisterFrameworkMessage {
            framework: info,
            failover: true,
        },
    );
    let fx = m.reconcile(
        &sched2,
        ReconcileTasksMessage {
            framework_id: f.clone(),
            statuses: vec![],
        },
    );
    let ups = updates(&fx);
    assert_eq!(ups.len(), 1, "{ups:?}");
    assert_eq!(ups[0].state, TaskState::Finished);
    // Acknowledged by the new scheduler: done.
    m.acknowledge(&sched2, ack(&a, &f, "t1", 9));
    assert!(m.frameworks()[&f].tasks.is_empty());
}

#[test]
fn an_unknown_agents_pong_is_not_answered() {
    let mut m = master();
    // Answering with a ping made the agent pong back: thousands of messages a second.
    assert!(m.pong(&pid(AGENT)).is_empty());
}

#[test]
fn a_retried_reregistration_does_not_lose_a_task_on_its_way_to_the_agent() {
    let (mut m, a, f, o) = setup();
    // The agent re-registers (its link never broke) while RunTask for t1 is on its way:
    // its retry was sent before RunTask arrived. t1 is still STAGING: kept.
    let fx = m.accept(
        &pid(SCHED),
        launch(&f, vec![o], vec![task("t1", &a, "cpus:1;mem:128")]),
    );
    assert_eq!(run_tasks(&fx).len(), 1);
    let fx = reregister(&mut m, AGENT, &a, vec![], vec![]);
    assert!(updates(&fx).is_empty(), "{fx:?}");
    assert!(m.frameworks()[&f].tasks.contains_key(&TaskId::new("t1")));
    // The answer, which follows RunTask on the same link, asks the agent about t1: an
    // agent that never got it (it ignored it while it had no master) says so, and t1
    // does not stay STAGING for ever (found by chronos's Jepsen test).
    let asked: Vec<ReconcileTasksMessage> = sends(&fx)
        .into_iter()
        .filter_map(|(_, m)| match m {
            Outbound::SlaveReregisteredMessage(r) => Some(r.reconciliations),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(asked.len(), 1, "{fx:?}");
    assert_eq!(asked[0].framework_id, f);
    assert_eq!(asked[0].statuses[0].task_id, TaskId::new("t1"));
    // After its link broke, a STAGING task it does not report was lost with the link.
    m.exited(&pid(AGENT));
    let fx = reregister(&mut m, AGENT, &a, vec![], vec![]);
    assert_eq!(
        updates(&fx).iter().map(|s| s.state).collect::<Vec<_>>(),
        vec![TaskState::Lost]
    );
}

#[test]
fn a_task_nobody_was_told_is_lost_is_adopted_and_one_reconciled_as_lost_is_killed() {
    // A new leader recovers admitted agents A and B; neither re-registers in time, so
    // both are marked unreachable. The leader never knew their tasks, so the framework
    // (not partition-aware) hears only LostSlave, no TASK_LOST.
    let a = AgentId::new("old-S0");
    let b = AgentId::new("old-S1");
    let mut reg = crate::registry::Registry::default();
    reg.admit(&a, &agent_info(&a, "host1"));
    reg.admit(&b, &agent_info(&b, "host1"));
    let mut m = master();
    m.recover(reg);
    let f = add_framework(&mut m, SCHED, FrameworkInfo::new("f", "root"));
    let mut finfo = FrameworkInfo::new("f", "root");
    finfo.id = Some(f.clone());
    let fx = m.reregister_timeout();
    assert!(updates(&fx).is_empty(), "{fx:?}");
    assert!(m.registry().unreachable[&a].lost_frameworks.is_empty());

    // The framework reconciles its task on B: TASK_LOST, written down before it is said.
    let fx = m.reconcile(
        &pid(SCHED),
        ReconcileTasksMessage {
            framework_id: f.clone(),
            statuses: vec![
                TaskStatus::new(TaskId::new("tb"), TaskState::Running).with_agent(b.clone())
            ],
        },
    );
    assert_written_before_told(&fx, "reconciliation answering TASK_LOST");
    assert_eq!(updates(&fx)[0].state, TaskState::Lost);
    assert!(m.registry().unreachable[&b].lost_frameworks.contains(&f));

    // A comes back with its task: adopted, not killed (nobody was told it is lost), over
    // a fresh connection (the old one may be half-open after the partition).
    let fx = reregister(
        &mut m,
        AGENT,
        &a,
        vec![running_task("ta", &a, &f)],
        vec![finfo.clone()],
    );
    assert!(fx.contains(&Effect::Relink(pid(AGENT))), "{fx:?}");
    assert!(
        !sends(&fx)
            .iter()
            .any(|(_, o)| matches!(o, Outbound::KillTaskMessage(_))),
        "{fx:?}"
    );
    assert_eq!(
        m.frameworks()[&f].tasks[&TaskId::new("ta")].state,
        TaskState::Running
    );

    // B comes back with the task the framework was told is lost: killed.
    let fx = reregister(
        &mut m,
        "slave(2)@127.0.0.1:5052",
        &b,
        vec![running_task("tb", &b, &f)],
        vec![finfo],
    );
    assert!(sends(&fx)
        .iter()
        .any(|(_, o)| matches!(o, Outbound::KillTaskMessage(k) if k.task_id == TaskId::new("tb"))));
}

#[test]
fn a_reregistering_agent_is_relinked_before_it_is_told_anything() {
    // Seeds 243 and 201 of the 3-master simulation: a lost task comes back with its agent
    // and is killed; the link breaks and the KillTaskMessage is lost; the agent
    // re-registers and the master kills the task again. That kill went out before the
    // relink, on the connection the relink replaces, and was lost too; the agent, answered,
    // never re-registered again and ran the replaced task for good. Mesos links to the
    // agent before it reconciles (`reconcileKnownSlave`): so must we.
    let a = AgentId::new("old-S0");
    let f = FrameworkId::new("old-0000");
    let mut reg = crate::registry::Registry::default();
    reg.admit(&a, &agent_info(&a, "host1"));
    reg.mark_unreachable(&a, &agent_info(&a, "host1"), 5.0);
    reg.note_lost(&a, &f);
    let mut m = master();
    m.recover(reg);
    let mut finfo = FrameworkInfo::new("f", "root");
    finfo.id = Some(f.clone());
    reregister(
        &mut m,
        AGENT,
        &a,
        vec![running_task("t1", &a, &f)],
        vec![finfo.clone()],
    );
    // The link breaks (the kill with it); the agent re-registers, still running t1.
    m.exited(&pid(AGENT));
    let fx = reregister(
        &mut m,
        AGENT,
        &a,
        vec![running_task("t1", &a, &f)],
        vec![finfo],
    );
    let relink = fx
        .iter()
        .position(|e| matches!(e, Effect::Relink(p) if *p == pid(AGENT)))
        .expect("the agent is relinked");
    let kill = fx
        .iter()
        .position(|e| {
            matches!(e, Effect::Send(p, Outbound::KillTaskMessage(k))
                if *p == pid(AGENT) && k.task_id == TaskId::new("t1"))
        })
        .expect("t1 is killed again");
    assert!(relink < kill, "killed before the relink: {fx:?}");
    let first_send = fx
        .iter()
        .position(|e| matches!(e, Effect::Send(p, _) if *p == pid(AGENT)))
        .expect("the agent is answered");
    assert!(relink < first_send, "told before the relink: {fx:?}");
}

/// The acknowledgements the master itself sends, as (to, task, uuid).
fn master_acks(fx: &[Effect]) -> Vec<(Pid, TaskId, StatusUuid)> {
    sends(fx)
        .into_iter()
        .filter_map(|(to, o)| match o {
            Outbound::StatusUpdateAcknowledgementMessage(a) => Some((to, a.task_id, a.uuid)),
            _ => None,
        })
        .collect()
}

#[test]
fn updates_saying_a_task_reconciled_as_lost_lives_never_reach_the_framework() {
    // Seeds 397 and 536: a new leader marks agent B unreachable (it did not re-register
    // in time) and answers the framework's reconciliation of its tasks there with
    // TASK_LOST. B comes back: t-live still runs; t-ended ended while B was away (its
    // executor exited), but B still holds its unacknowledged TASK_RUNNING, so it reports
    // the task with that update at the head of its stream. The agent then (re)sends those
    // TASK_RUNNING updates: neither may reach the framework (it was told the tasks are
    // lost), nor may the ended task be adopted.
    let b = AgentId::new("old-S1");
    let mut reg = crate::registry::Registry::default();
    reg.admit(&b, &agent_info(&b, "host1"));
    let mut m = master();
    m.recover(reg);
    let f = add_framework(&mut m, SCHED, FrameworkInfo::new("f", "root"));
    let mut finfo = FrameworkInfo::new("f", "root");
    finfo.id = Some(f.clone());
    m.reregister_timeout();
    let fx = m.reconcile(
        &pid(SCHED),
        ReconcileTasksMessage {
            framework_id: f.clone(),
            statuses: ["t-live", "t-ended"]
                .iter()
                .map(|t| TaskStatus::new(TaskId::new(*t), TaskState::Running).with_agent(b.clone()))
                .collect(),
        },
    );
    assert!(
        updates(&fx).iter().all(|s| s.state == TaskState::Lost),
        "{fx:?}"
    );

    let mut ended = running_task("t-ended", &b, &f);
    ended.state = TaskState::Failed;
    ended.status_update_state = Some(TaskState::Running);
    ended.status_update_uuid = Some(StatusUuid::from_u128(11));
    let mut live = running_task("t-live", &b, &f);
    live.status_update_state = Some(TaskState::Running);
    live.status_update_uuid = Some(StatusUuid::from_u128(21));
    let fx = reregister(
        &mut m,
        AGENT,
        &b,
        vec![live, ended.clone()],
        vec![finfo.clone()],
    );
    let kills: Vec<TaskId> = sends(&fx)
        .into_iter()
        .filter_map(|(_, o)| match o {
            Outbound::KillTaskMessage(k) => Some(k.task_id),
            _ => None,
        })
        .collect();
    assert_eq!(kills, vec![TaskId::new("t-live")], "{fx:?}");
    let tasks = &m.frameworks()[&f].tasks;
    assert!(tasks.is_empty(), "neither task is adopted: {tasks:?}");
    // Durable: the next leader must hold them back too.
    assert_eq!(m.registry().killed_lost_tasks[&b].len(), 2);

    // The updates the agent still had to deliver that say the task lives: acknowledged by
    // the master (so the agent's streams move on), forwarded to nobody.
    for (task, state, uuid) in [
        ("t-ended", TaskState::Running, 11),
        ("t-live", TaskState::Running, 21),
    ] {
        let fx = running(&mut m, &f, &b, task, state, uuid);
        assert!(
            updates(&fx).is_empty(),
            "{task} {state:?} forwarded: {fx:?}"
        );
        assert_eq!(
            master_acks(&fx),
            vec![(pid(AGENT), TaskId::new(task), StatusUuid::from_u128(uuid))],
            "{fx:?}"
        );
    }

    // Their ends reach the framework (a framework that replaced them, as Marathon does,
    // learns they are gone), to be acknowledged by it.
    for (task, state, uuid) in [
        ("t-ended", TaskState::Failed, 12),
        ("t-live", TaskState::Killed, 22),
    ] {
        let fx = running(&mut m, &f, &b, task, state, uuid);
        let forwarded: Vec<TaskState> = updates(&fx).iter().map(|s| s.state).collect();
        assert_eq!(forwarded, vec![state], "{task}: {fx:?}");
        assert!(master_acks(&fx).is_empty(), "{fx:?}");
    }

    // A re-registration that still reports the ended task (its terminal update not yet
    // acknowledged as far as the agent knows) keeps it held back; once the agent no
    // longer reports it, it is forgotten.
    let mut killed = running_task("t-live", &b, &f);
    killed.state = TaskState::Killed;
    reregister(&mut m, AGENT, &b, vec![ended, killed], vec![finfo.clone()]);
    let fx = running(&mut m, &f, &b, "t-ended", TaskState::Running, 11);
    assert!(updates(&fx).is_empty(), "{fx:?}");
    let fx = reregister(&mut m, AGENT, &b, vec![], vec![finfo]);
    assert!(persists(&fx), "{fx:?}");
    assert!(m.registry().killed_lost_tasks.is_empty());
}

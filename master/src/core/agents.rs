//! Agents: registration, re-registration (reconciling what they report with what
//! the master knows), disconnection, removal, and health checks (pings).

use super::*;

#[derive(Debug, Clone)]
pub struct Agent {
    /// Its id.
    pub id: AgentId,
    /// Its info (with `id` set).
    pub info: AgentInfo,
    /// Its PID.
    pub pid: Pid,
    /// Its version string.
    pub version: String,
    /// When it registered (display clock).
    pub registered_time: f64,
    /// When it last re-registered.
    pub reregistered_time: Option<f64>,
    /// Whether its link is up (a disconnected agent is offered nothing).
    pub connected: bool,
    /// Whether a ping is outstanding (no pong since the last ping).
    pub ping_outstanding: bool,
    /// Consecutive missed pings.
    pub ping_timeouts: u32,
    /// Outstanding offers of its resources.
    pub offers: BTreeSet<OfferId>,
    /// Its dynamic reservations (the agent's checkpointed resources); `info.resources`
    /// is its total with these applied.
    pub checkpointed: Resources,
    /// Its total changed through a reservation: check allocations against what is
    /// really free before offering them (an allocation may predate the change).
    pub check_offers: bool,
    /// Its info as the agent declared it (no id, no reservations applied): a
    /// registration from its PID with another info is a new agent.
    pub declared: AgentInfo,
    /// Tasks the master told it to kill when it came back (their frameworks were told
    /// `TASK_LOST`): killed again if a retried re-registration still reports them.
    pub killed_tasks: BTreeSet<(FrameworkId, TaskId)>,
    /// The executors it runs, by framework (Mesos `Slave::executors`): added when a task
    /// with an executor is launched on it, replaced by what it reports when it
    /// re-registers, removed when it says one exited.
    pub executors: BTreeMap<(FrameworkId, ExecutorId), ExecutorInfo>,
}

/// The executors a re-registering agent reports, by framework: an executor's own
/// `framework_id`, else that of a reported task it runs.
pub(super) fn reported_executors(
    msg: &ReregisterSlaveMessage,
) -> BTreeMap<(FrameworkId, ExecutorId), ExecutorInfo> {
    msg.executor_infos
        .iter()
        .filter_map(|e| {
            let fid = e.framework_id.clone().or_else(|| {
                msg.tasks
                    .iter()
                    .find(|t| t.executor_id.as_ref() == Some(&e.executor_id))
                    .map(|t| t.framework_id.clone())
            })?;
            Some(((fid, e.executor_id.clone()), e.clone()))
        })
        .collect()
}

/// How an agent leaves the master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Removal {
    /// It missed its pings: remembered, it may come back.
    Unreachable,
    /// It left (unregistered, or replaced by another agent at its address).
    Gone,
    /// The operator marked it gone (MARK_AGENT_GONE): it never comes back.
    GoneByOperator,
}

/// An agent marked unreachable, remembered so it may re-register.
#[derive(Debug, Clone)]
pub struct UnreachableAgent {
    /// Its last info.
    pub info: AgentInfo,
    /// When it was marked unreachable (display clock).
    pub time: f64,
}

impl Master {
    /// `RegisterSlaveMessage` from `from`.
    pub fn register_agent(&mut self, from: &Pid, msg: RegisterSlaveMessage) -> Vec<Effect> {
        let mut fx = Vec::new();
        if let Some(id) = self.agent_pids.get(from).cloned() {
            let mut declared = msg.slave.clone();
            declared.id = None;
            let same = self.agents.get(&id).is_some_and(|a| a.declared == declared);
            if same {
                // A retry: the agent did not see our answer.
                tracing::info!(agent = %id, %from, "agent re-sent its registration; answering again");
                if let Some(a) = self.agents.get_mut(&id).map(Arc::make_mut) {
                    a.ping_outstanding = false;
                    a.ping_timeouts = 0;
                }
                fx.extend(self.reconnect_agent(&id));
                fx.push(Effect::Send(
                    from.clone(),
                    SlaveRegisteredMessage {
                        slave_id: id,
                        connection: Some(self.ping_connection()),
                    }
                    .into(),
                ));
                return fx;
            }
            // Mesos: another agent (a restart with new resources or attributes) at the
            // same address; the old one is gone for good.
            fx.extend(self.remove_agent(
                &id,
                Removal::Gone,
                "a new agent registered at its address with another hostname, resources or attributes",
            ));
        }
        if msg.slave.hostname.is_empty() {
            fx.push(Effect::Send(
                from.clone(),
                ShutdownMessage {
                    message: "agent registration refused: its hostname is empty".into(),
                }
                .into(),
            ));
            return fx;
        }
        let id = AgentId::new(format!("{}-S{}", self.info.id, self.next_agent));
        self.next_agent += 1;
        let mut declared = msg.slave;
        declared.id = None;
        let mut info = declared.clone();
        info.id = Some(id.clone());
        info.resources =
            crate::operator::apply_checkpointed(&info.resources, &msg.checkpointed_resources);
        let total = info.resources.clone();
        tracing::info!(agent = %id, %from, hostname = %info.hostname, resources = %total, "registered agent");
        self.insert_agent(
            id.clone(),
            info.clone(),
            from.clone(),
            msg.version,
            declared,
        );
        if let Some(a) = self.agents.get_mut(&id).map(Arc::make_mut) {
            a.checkpointed = msg.checkpointed_resources.clone();
        }
        // Admitted durably before the agent (or the allocator) hears of it.
        Arc::make_mut(&mut self.registry).admit(&id, &info);
        fx.push(Effect::PersistRegistry);
        fx.push(Effect::Link(from.clone()));
        fx.push(Effect::Allocator(
            AddAgent {
                agent_id: id.clone(),
                info,
                total,
                used: Vec::new(),
            }
            .into(),
        ));
        fx.push(Effect::Send(
            from.clone(),
            SlaveRegisteredMessage {
                slave_id: id,
                connection: Some(self.ping_connection()),
            }
            .into(),
        ));
        fx
    }

    pub(super) fn insert_agent(
        &mut self,
        id: AgentId,
        info: AgentInfo,
        pid: Pid,
        version: String,
        declared: AgentInfo,
    ) {
        let now = self.now();
        Arc::make_mut(&mut self.agent_pids).insert(pid.clone(), id.clone());
        self.agents.insert(
            id.clone(),
            Arc::new(Agent {
                id,
                info,
                pid,
                version,
                registered_time: now,
                reregistered_time: None,
                connected: true,
                ping_outstanding: false,
                ping_timeouts: 0,
                offers: BTreeSet::new(),
                checkpointed: Resources::new(),
                check_offers: false,
                declared,
                killed_tasks: BTreeSet::new(),
                executors: BTreeMap::new(),
            }),
        );
    }

    /// Marks a registered agent connected again; returns the allocator call if it was not.
    pub(super) fn reconnect_agent(&mut self, id: &AgentId) -> Option<Effect> {
        match self.agents.get_mut(id).map(Arc::make_mut) {
            Some(a) if !a.connected => {
                a.connected = true;
                Some(Effect::Allocator(
                    ActivateAgent {
                        agent_id: id.clone(),
                    }
                    .into(),
                ))
            }
            _ => None,
        }
    }

    /// The `TASK_STAGING` tasks on `agent_id` that the re-registering agent did not
    /// report, per framework, as Mesos's `SlaveReregisteredMessage.reconciliations`.
    pub(super) fn unreported_staging_tasks(
        &self,
        agent_id: &AgentId,
        reported: &HashSet<(FrameworkId, TaskId)>,
    ) -> Vec<ReconcileTasksMessage> {
        self.frameworks
            .iter()
            .filter_map(|(fid, f)| {
                let statuses: Vec<TaskStatus> = f
                    .tasks
                    .on_agent(agent_id)
                    .filter(|t| {
                        t.state == TaskState::Staging
                            && !reported.contains(&(fid.clone(), t.task_id.clone()))
                    })
                    .map(|t| {
                        TaskStatus::new(t.task_id.clone(), TaskState::Staging)
                            .with_agent(agent_id.clone())
                    })
                    .collect();
                (!statuses.is_empty()).then(|| ReconcileTasksMessage {
                    framework_id: fid.clone(),
                    statuses,
                })
            })
            .collect()
    }

    /// Tasks the master has on `agent_id` that the re-registering agent did not report
    /// (Mesos `reconcileKnownSlave`): a non-terminal one never reached the agent or died
    /// with it, and its framework gets `TASK_LOST` (`TASK_DROPPED` if partition-aware);
    /// a terminal one was acknowledged to the agent and is retired. `recover`: give
    /// their resources back to the allocator (it still counts them). `in_flight`: the
    /// agent's link never broke, so a task still `TASK_STAGING` may be on its way to it
    /// (the agent sent this re-registration, a retry, before its `RunTask` arrived): it
    /// is kept.
    pub(super) fn drop_unreported_tasks(
        &mut self,
        agent_id: &AgentId,
        reported: &HashSet<(FrameworkId, TaskId)>,
        recover: bool,
        in_flight: bool,
    ) -> Vec<Effect> {
        let mut fx = Vec::new();
        let fids: Vec<FrameworkId> = self.frameworks.keys().cloned().collect();
        for fid in fids {
            let Some(f) = self.frameworks.get_mut(&fid).map(Arc::make_mut) else {
                continue;
            };
            let aware = f.info.is_partition_aware();
            let missing = |t: &&Arc<TaskRecord>| {
                &t.agent_id == agent_id
                    && !reported.contains(&(fid.clone(), t.task_id.clone()))
                    && !(in_flight && t.state == TaskState::Staging)
            };
            let ids: Vec<(TaskId, bool)> = f
                .tasks
                .on_agent(agent_id)
                .filter(missing)
                .map(|t| (t.task_id.clone(), true))
                .chain(
                    f.unreachable_tasks
                        .values()
                        .filter(missing)
                        .map(|t| (t.task_id.clone(), false)),
                )
                .collect();
            let mut dropped = Vec::new();
            for (tid, reachable) in ids {
                let task = if reachable {
                    f.tasks.remove(&tid)
                } else {
                    f.unreachable_tasks.remove(&tid)
                };
                if let Some(t) = task {
                    dropped.push((t, reachable));
                }
            }
            for (mut task, reachable) in dropped {
                if task.state.is_terminal() {
                    self.retire_task(&fid, task);
                    continue;
                }
                let state = if aware {
                    TaskState::Dropped
                } else {
                    TaskState::Lost
                };
                tracing::warn!(agent = %agent_id, framework = %fid, task = %task.task_id, ?state,
                    "the re-registering agent does not have this task");
                let mut status = self.master_status(
                    task.task_id.clone(),
                    state,
                    Reason::Reconciliation,
                    "Reconciliation: task is unknown to the agent that re-registered",
                    Some(agent_id.clone()),
                );
                status.executor_id = task.executor_id.clone();
                let record = Arc::make_mut(&mut task);
                record.state = state;
                record.statuses.push(status.clone());
                if recover && reachable {
                    fx.push(Effect::Allocator(
                        RecoverResources {
                            framework_id: fid.clone(),
                            agent_id: agent_id.clone(),
                            resources: task.resources.clone(),
                            filters: None,
                        }
                        .into(),
                    ));
                }
                let update = self.update_message(&fid, status);
                self.to_framework(&fid, update, &mut fx);
                self.complete_task(&fid, task);
            }
        }
        fx
    }

    /// `ReregisterSlaveMessage` from `from`.
    pub fn reregister_agent(&mut self, from: &Pid, msg: ReregisterSlaveMessage) -> Vec<Effect> {
        let mut fx = Vec::new();
        let Some(id) = msg.slave.id.clone() else {
            fx.push(Effect::Send(
                from.clone(),
                ShutdownMessage {
                    message: "agent re-registration refused: it carries no agent id".into(),
                }
                .into(),
            ));
            return fx;
        };
        if self.registry.gone.contains_key(&id) {
            // Mesos refuses an agent it removed: it must start over as a new agent.
            tracing::warn!(agent = %id, %from, "refusing the re-registration of an agent this master removed; telling it to shut down");
            fx.push(Effect::Send(
                from.clone(),
                ShutdownMessage {
                    message: format!(
                        "Agent {id} was removed by the master; it must register as a new agent"
                    ),
                }
                .into(),
            ));
            return fx;
        }
        let reported: HashSet<(FrameworkId, TaskId)> = msg
            .tasks
            .iter()
            .map(|t| (t.framework_id.clone(), t.task_id.clone()))
            .collect();
        if self.agents.contains_key(&id) {
            return self.reregister_known_agent(from, id, msg, &reported);
        }
        // An unreachable agent coming back, or an agent we never saw (master failover).
        let now = self.now();
        let lost_frameworks = self
            .registry
            .unreachable
            .get(&id)
            .map(|e| e.lost_frameworks.clone())
            .unwrap_or_default();
        // Lost tasks an earlier leader already asked this agent to kill on its return.
        let killed_before = self
            .registry
            .killed_lost_tasks
            .get(&id)
            .cloned()
            .unwrap_or_default();
        let was_unreachable = self.unreachable.remove(&id).is_some();
        let was_recovered = self.recovered.remove(&id).is_some();
        if let Some(stale) = self.agent_pids.get(from).cloned() {
            // Another agent id at the same PID: the old one is gone for good.
            fx.extend(self.remove_agent(
                &stale,
                Removal::Gone,
                "agent at the same address re-registered with another id",
            ));
        }
        let mut declared = msg.slave.clone();
        declared.id = None;
        let mut info = msg.slave.clone();
        info.id = Some(id.clone());
        for f in &msg.frameworks {
            if let Some(fid) = &f.id {
                if !self.framework_removed(fid) {
                    self.ensure_framework(fid, &msg.frameworks, &mut fx);
                }
            }
        }
        fx.extend(self.drop_unreported_tasks(&id, &reported, false, false));
        let mut used: BTreeMap<FrameworkId, Resources> = BTreeMap::new();
        let mut kills = Vec::new();
        let mut killed = BTreeSet::new();
        let mut shutdowns = BTreeSet::new();
        for task in &msg.tasks {
            let fid = &task.framework_id;
            if self.framework_removed(fid) {
                // Torn down while the agent was away: its tasks must not come back.
                shutdowns.insert(fid.clone());
                continue;
            }
            let live = !task.state.is_terminal();
            // Only what the framework was really told counts: after a failover the new
            // leader knows none of an unreachable agent's tasks and tells the framework
            // only that the agent is lost, so such a task is adopted, not killed unseen.
            let told_lost = lost_frameworks.contains(fid)
                || killed_before.contains(&(fid.clone(), task.task_id.clone()));
            if told_lost {
                // Its framework was told TASK_LOST (the registry says so) and may have
                // replaced it: the task must not run again (Mesos kills it too), and
                // none of its updates still on their way (a `TASK_RUNNING` the agent
                // holds unacknowledged, even for a task that has ended since) may reach
                // the framework: it is never adopted, and `status_update` acknowledges
                // its updates without forwarding them.
                killed.insert((fid.clone(), task.task_id.clone()));
                if live {
                    tracing::warn!(agent = %id, task = %task.task_id, framework = %fid,
                        "task reported TASK_LOST while its agent was unreachable; killing it");
                    kills.push(KillTaskMessage {
                        framework_id: fid.clone(),
                        task_id: task.task_id.clone(),
                        kill_policy: None,
                    });
                } else {
                    tracing::warn!(agent = %id, task = %task.task_id, framework = %fid,
                        "task reported TASK_LOST while its agent was unreachable has ended; its pending updates will not be forwarded");
                }
                continue;
            }
            self.ensure_framework(fid, &msg.frameworks, &mut fx);
            if live {
                *used.entry(fid.clone()).or_default() += &task.resources;
            }
            self.adopt_task(&id, task.clone());
        }
        info.resources =
            crate::operator::apply_checkpointed(&info.resources, &msg.checkpointed_resources);
        let total = info.resources.clone();
        let executors = reported_executors(&msg);
        self.insert_agent(
            id.clone(),
            info.clone(),
            from.clone(),
            msg.version,
            declared,
        );
        if let Some(a) = self.agents.get_mut(&id).map(Arc::make_mut) {
            a.reregistered_time = Some(now);
            a.checkpointed = msg.checkpointed_resources.clone();
            a.killed_tasks = killed.clone();
            a.executors = executors;
        }
        // Re-admitted durably before anyone hears of it (a recovered agent already is),
        // with the kills: the next leader must not adopt those tasks either.
        let registry = Arc::make_mut(&mut self.registry);
        let admitted = registry.admit(&id, &info);
        if registry.set_killed_lost_tasks(&id, killed) | admitted {
            fx.insert(0, Effect::PersistRegistry);
        }
        tracing::info!(agent = %id, %from, was_unreachable, was_recovered, tasks = msg.tasks.len(), "re-admitted agent");
        fx.push(Effect::Relink(from.clone()));
        fx.push(Effect::Allocator(
            AddAgent {
                agent_id: id.clone(),
                info,
                total,
                used: used.into_iter().collect(),
            }
            .into(),
        ));
        fx.push(Effect::Send(
            from.clone(),
            SlaveReregisteredMessage {
                slave_id: id,
                connection: Some(self.ping_connection()),
                reconciliations: Vec::new(),
            }
            .into(),
        ));
        fx.extend(
            kills
                .into_iter()
                .map(|k| Effect::Send(from.clone(), k.into())),
        );
        fx.extend(shutdowns.into_iter().map(|framework_id| {
            Effect::Send(
                from.clone(),
                ShutdownFrameworkMessage { framework_id }.into(),
            )
        }));
        fx
    }

    /// A registered agent re-registers (its link broke, or it was told it is not
    /// connected): reconcile its tasks with the master's.
    pub(super) fn reregister_known_agent(
        &mut self,
        from: &Pid,
        id: AgentId,
        msg: ReregisterSlaveMessage,
        reported: &HashSet<(FrameworkId, TaskId)>,
    ) -> Vec<Effect> {
        let mut fx = Vec::new();
        let now = self.now();
        // Same PID and the link never broke: a retried re-registration.
        let retry = self
            .agents
            .get(&id)
            .is_some_and(|a| a.connected && &a.pid == from);
        let old_pid = self.agents.get(&id).map(|a| a.pid.clone());
        if let Some(old) = old_pid.filter(|p| p != from) {
            Arc::make_mut(&mut self.agent_pids).remove(&old);
            fx.push(Effect::Unlink(old));
        }
        Arc::make_mut(&mut self.agent_pids).insert(from.clone(), id.clone());
        if let Some(a) = self.agents.get_mut(&id).map(Arc::make_mut) {
            a.pid = from.clone();
            a.reregistered_time = Some(now);
            a.ping_outstanding = false;
            a.ping_timeouts = 0;
            a.version = msg.version.clone();
            a.executors = reported_executors(&msg);
        }
        fx.extend(self.reconnect_agent(&id));
        // Relinked before anything is sent to it (Mesos links before it reconciles): a
        // message sent first goes out on the connection the relink then replaces, and
        // may be lost with it; a lost `KillTaskMessage` is never sent again, since the
        // agent, answered, does not re-register (seeds 243 and 201 of the 3-master
        // simulation: an agent ran a task its framework had replaced, for good).
        fx.push(Effect::Relink(from.clone()));
        // The master's record of the agent's reservations wins: a change the agent
        // missed while disconnected is sent again.
        if let Some(a) = self.agents.get(&id) {
            if a.checkpointed != msg.checkpointed_resources {
                fx.push(Effect::Send(
                    from.clone(),
                    CheckpointResourcesMessage {
                        resources: a.checkpointed.clone(),
                    }
                    .into(),
                ));
            }
        }
        // Kept `TASK_STAGING` tasks (a retry: they may still be on their way) are asked
        // about in the answer, which usually follows their `RunTaskMessage` on the same
        // link: the agent reports those it never got (it may have ignored them while it had
        // no master), so none stays `TASK_STAGING` for ever. A launch still in flight on an
        // older connection can arrive after the answer: the agent then refuses it (it
        // remembers what it reported lost, see `slave::agent::core::reported_lost`).
        let unconfirmed = if retry {
            self.unreported_staging_tasks(&id, reported)
        } else {
            Vec::new()
        };
        fx.extend(self.drop_unreported_tasks(&id, reported, true, retry));
        // Tasks the agent has that we do not know (e.g. launched while we were
        // disconnected) become known; their resources stay with the allocator as is.
        // Tasks of torn-down frameworks are shut down, tasks we asked to kill are
        // killed again.
        let mut shutdowns = BTreeSet::new();
        for task in &msg.tasks {
            let fid = &task.framework_id;
            let known = self
                .frameworks
                .get(fid)
                .is_some_and(|f| f.tasks.contains_key(&task.task_id));
            if known {
                continue;
            }
            if self.framework_removed(fid) {
                shutdowns.insert(fid.clone());
                continue;
            }
            // A task this master holds as ended on this agent (the framework was told,
            // e.g. `TASK_LOST` when an earlier re-registration did not report it because
            // its `RunTaskMessage`, on an older connection, had not arrived yet): that is
            // final for the framework, and the allocator got its resources back. Not
            // adopted (its resources would count twice: offered and used); if it runs,
            // it is killed, recorded with the agent's other kills of lost tasks (as
            // `status_update` does for an update saying such a task lives).
            let ended = self
                .frameworks
                .get(fid)
                .and_then(|f| f.ended_on(&task.task_id, &id))
                .is_some();
            if ended {
                tracing::warn!(agent = %id, framework = %fid, task = %task.task_id,
                    state = %task.state.as_str(),
                    "the re-registering agent has a task that ended here; not adopted");
                if let Some(a) = self.agents.get_mut(&id) {
                    let key = (fid.clone(), task.task_id.clone());
                    if !a.killed_tasks.contains(&key) {
                        Arc::make_mut(a).killed_tasks.insert(key);
                    }
                }
            }
            let asked_to_kill = self.agents.get(&id).is_some_and(|a| {
                a.killed_tasks
                    .contains(&(fid.clone(), task.task_id.clone()))
            });
            if asked_to_kill {
                if !task.state.is_terminal() {
                    fx.push(Effect::Send(
                        from.clone(),
                        KillTaskMessage {
                            framework_id: fid.clone(),
                            task_id: task.task_id.clone(),
                            kill_policy: None,
                        }
                        .into(),
                    ));
                }
                continue;
            }
            self.ensure_framework(fid, &msg.frameworks, &mut fx);
            self.adopt_task(&id, task.clone());
        }
        // Killed lost tasks the agent no longer reports are over: forget them. One it
        // still reports, even ended, may still have updates to deliver (it is reported
        // until its terminal update is acknowledged), which must not be forwarded.
        if let Some(a) = self.agents.get_mut(&id) {
            // Records shared with a snapshot are copied only when something changes.
            if a.killed_tasks.iter().any(|k| !reported.contains(k)) {
                Arc::make_mut(a)
                    .killed_tasks
                    .retain(|k| reported.contains(k));
            }
            let killed = a.killed_tasks.clone();
            let stored = self.registry.killed_lost_tasks.get(&id);
            let changed = match stored {
                Some(s) => *s != killed,
                None => !killed.is_empty(),
            };
            if changed && Arc::make_mut(&mut self.registry).set_killed_lost_tasks(&id, killed) {
                fx.push(Effect::PersistRegistry);
            }
        }
        fx.extend(shutdowns.into_iter().map(|framework_id| {
            Effect::Send(
                from.clone(),
                ShutdownFrameworkMessage { framework_id }.into(),
            )
        }));
        tracing::info!(agent = %id, %from, "agent re-registered");
        fx.push(Effect::Send(
            from.clone(),
            SlaveReregisteredMessage {
                slave_id: id,
                connection: Some(self.ping_connection()),
                reconciliations: unconfirmed,
            }
            .into(),
        ));
        fx
    }

    /// Makes sure a framework known from an agent exists (inactive, no scheduler yet).
    pub(super) fn ensure_framework(
        &mut self,
        id: &FrameworkId,
        infos: &[FrameworkInfo],
        fx: &mut Vec<Effect>,
    ) {
        if self.frameworks.contains_key(id) {
            return;
        }
        let info = infos
            .iter()
            .find(|f| f.id.as_ref() == Some(id))
            .cloned()
            .unwrap_or_else(|| FrameworkInfo::new("", ""));
        let f = Framework::new(id.clone(), info, None, self.now());
        fx.push(Effect::Allocator(
            AddFramework {
                framework_id: id.clone(),
                info: f.info.clone(),
                used: Vec::new(),
                active: false,
            }
            .into(),
        ));
        self.frameworks.insert(id.clone(), Arc::new(f));
    }

    /// Records a task reported by an agent.
    pub(super) fn adopt_task(&mut self, agent_id: &AgentId, mut task: Task) {
        task.agent_id = agent_id.clone();
        if let Some(f) = self
            .frameworks
            .get_mut(&task.framework_id)
            .map(Arc::make_mut)
        {
            f.unreachable_tasks.remove(&task.task_id);
            f.tasks.insert(Arc::new(task.into()));
        }
    }

    /// `UnregisterSlaveMessage`: the agent leaves for good.
    pub fn unregister_agent(&mut self, from: &Pid, msg: UnregisterSlaveMessage) -> Vec<Effect> {
        match self.agents.get(&msg.slave_id) {
            Some(a) if &a.pid == from => {
                self.remove_agent(&msg.slave_id, Removal::Gone, "agent unregistered")
            }
            Some(a) => {
                self.refuse_sender();
                tracing::warn!(agent = %msg.slave_id, %from, registered = %a.pid, "ignoring unregistration: not from the agent's registered PID");
                Vec::new()
            }
            None => {
                tracing::warn!(agent = %msg.slave_id, %from, "ignoring unregistration of unknown agent");
                Vec::new()
            }
        }
    }

    /// The link to `pid` broke: a scheduler or an agent.
    pub fn exited(&mut self, pid: &Pid) -> Vec<Effect> {
        let mut fx = Vec::new();
        if let Some(id) = self.agent_pids.get(pid).cloned() {
            fx.extend(self.disconnect_agent(&id));
        }
        let fids: Vec<FrameworkId> = self
            .frameworks
            .values()
            .filter(|f| f.connected_pid() == Some(pid))
            .map(|f| f.id.clone())
            .collect();
        for fid in fids {
            fx.extend(self.disconnect_framework(&fid));
        }
        fx
    }

    pub(super) fn disconnect_agent(&mut self, id: &AgentId) -> Vec<Effect> {
        let mut fx = Vec::new();
        let Some(a) = self.agents.get_mut(id).map(Arc::make_mut) else {
            return fx;
        };
        if !a.connected {
            return fx;
        }
        a.connected = false;
        tracing::warn!(agent = %id, pid = %a.pid, "agent disconnected; waiting for it to re-register or miss its pings");
        let offers: Vec<OfferId> = a.offers.iter().cloned().collect();
        fx.push(Effect::Allocator(
            DeactivateAgent {
                agent_id: id.clone(),
            }
            .into(),
        ));
        for o in offers {
            fx.extend(self.rescind_offer(&o, true));
        }
        fx
    }

    /// Removes an agent: unreachable (remembered, may come back) or gone (unregistered,
    /// or marked gone by the operator).
    pub(super) fn remove_agent(
        &mut self,
        id: &AgentId,
        removal: Removal,
        why: &str,
    ) -> Vec<Effect> {
        let unreachable = removal == Removal::Unreachable;
        let mut fx = Vec::new();
        let Some(agent) = self.agents.remove(id) else {
            return fx;
        };
        Arc::make_mut(&mut self.agent_pids).remove(&agent.pid);
        tracing::warn!(agent = %id, pid = %agent.pid, unreachable, "removing agent: {why}");
        // Decided and written before anyone (framework, allocator) hears of it.
        let now = self.now();
        if unreachable {
            Arc::make_mut(&mut self.registry).mark_unreachable(id, &agent.info, now);
        } else {
            Arc::make_mut(&mut self.registry).mark_gone(id, now);
        }
        fx.push(Effect::PersistRegistry);
        for o in &agent.offers {
            if let Some(e) = self.offers.remove(o) {
                if let Some(f) = self
                    .frameworks
                    .get_mut(&e.offer.framework_id)
                    .map(Arc::make_mut)
                {
                    f.offers.remove(o);
                }
                self.to_framework(
                    &e.offer.framework_id,
                    RescindResourceOfferMessage {
                        offer_id: o.clone(),
                    },
                    &mut fx,
                );
            }
        }
        fx.push(Effect::Unlink(agent.pid.clone()));
        fx.push(Effect::Allocator(
            RemoveAgent {
                agent_id: id.clone(),
            }
            .into(),
        ));
        let fids: Vec<FrameworkId> = self.frameworks.keys().cloned().collect();
        for fid in &fids {
            let Some(f) = self.frameworks.get_mut(fid).map(Arc::make_mut) else {
                continue;
            };
            let ids: Vec<TaskId> = f.tasks.on_agent(id).map(|t| t.task_id.clone()).collect();
            let aware = f.info.is_partition_aware();
            for tid in ids {
                let Some(mut task) = self
                    .frameworks
                    .get_mut(fid)
                    .map(Arc::make_mut)
                    .and_then(|f| f.tasks.remove(&tid))
                else {
                    continue;
                };
                if task.state.is_terminal() {
                    // Its terminal update was sent; nothing more to tell.
                    self.retire_task(fid, task);
                    continue;
                }
                if unreachable && !aware {
                    // Durable: if the agent comes back, this framework's tasks there are
                    // killed, whichever master is leading then.
                    Arc::make_mut(&mut self.registry).note_lost(id, fid);
                }
                let (state, reason) = match (removal, aware) {
                    (Removal::Unreachable, true) => (TaskState::Unreachable, Reason::AgentRemoved),
                    (Removal::Gone, true) => (TaskState::Gone, Reason::AgentRemoved),
                    (Removal::GoneByOperator, true) => {
                        (TaskState::GoneByOperator, Reason::AgentRemovedByOperator)
                    }
                    (_, false) => (TaskState::Lost, Reason::AgentRemoved),
                };
                let mut status = self.master_status(
                    tid.clone(),
                    state,
                    reason,
                    format!("Agent {id} removed: {why}"),
                    Some(id.clone()),
                );
                status.executor_id = task.executor_id.clone();
                let record = Arc::make_mut(&mut task);
                record.state = state;
                record.statuses.push(status.clone());
                let update = self.update_message(fid, status);
                self.to_framework(fid, update, &mut fx);
                if state == TaskState::Unreachable {
                    if let Some(f) = self.frameworks.get_mut(fid).map(Arc::make_mut) {
                        f.unreachable_tasks.insert(tid, task);
                    }
                } else {
                    self.complete_task(fid, task);
                }
            }
            self.to_framework(
                fid,
                LostSlaveMessage {
                    agent_id: id.clone(),
                },
                &mut fx,
            );
        }
        if unreachable {
            self.unreachable.insert(
                id.clone(),
                UnreachableAgent {
                    info: agent.info.clone(),
                    time: now,
                },
            );
        }
        self.prune_registry();
        fx
    }

    /// The periodic ping round (every `--agent_ping_timeout`): counts a missed ping for
    /// every agent that has not answered the previous one, removes agents that missed
    /// `--max_agent_ping_timeouts` in a row as unreachable, and pings the rest.
    pub fn ping_tick(&mut self) -> Vec<Effect> {
        let mut fx = Vec::new();
        let max = self.config.max_agent_ping_timeouts;
        let mut lost = Vec::new();
        for a in self.agents.values_mut().map(Arc::make_mut) {
            if a.ping_outstanding {
                a.ping_timeouts += 1;
                tracing::debug!(agent = %a.id, missed = a.ping_timeouts, "agent missed a ping");
                if a.ping_timeouts >= max {
                    lost.push(a.id.clone());
                    continue;
                }
            }
            a.ping_outstanding = true;
            fx.push(Effect::Send(
                a.pid.clone(),
                PingSlaveMessage {
                    connected: a.connected,
                }
                .into(),
            ));
        }
        for id in lost {
            fx.extend(self.remove_agent(&id, Removal::Unreachable, "missed too many pings"));
        }
        // The registry GC runs on this clock too (Mesos: every 15 minutes).
        let before = (self.registry.unreachable.len(), self.registry.gone.len());
        self.prune_registry();
        if before != (self.registry.unreachable.len(), self.registry.gone.len()) {
            fx.push(Effect::PersistRegistry);
        }
        fx
    }

    /// `PongSlaveMessage` from `from`.
    pub fn pong(&mut self, from: &Pid) -> Vec<Effect> {
        match self
            .agent_pids
            .get(from)
            .and_then(|id| self.agents.get_mut(id).map(Arc::make_mut))
        {
            Some(a) => {
                a.ping_outstanding = false;
                a.ping_timeouts = 0;
                Vec::new()
            }
            None => {
                // Never answered: the agent answers every ping with a pong, so a ping
                // here would start an endless ping/pong exchange. Pongs only answer our
                // pings; an unknown agent learns it is not registered from any other
                // message it sends, or from its ping timeout.
                tracing::debug!(%from, "ignoring a pong from an agent that is not registered");
                Vec::new()
            }
        }
    }

    /// Tells a process that talks to us as an agent that we do not know it.
    pub(super) fn not_registered(&self, from: &Pid) -> Vec<Effect> {
        self.refuse_sender();
        tracing::info!(%from, "message from an agent that is not registered; telling it to re-register");
        vec![Effect::Send(
            from.clone(),
            PingSlaveMessage { connected: false }.into(),
        )]
    }
}

impl Master {
    /// MARK_AGENT_GONE: the operator asserts that the agent (registered, unreachable or
    /// recovered) is never coming back. Written to the registry before anyone hears of
    /// it; a registered agent is told to shut down; its tasks become
    /// `TASK_GONE_BY_OPERATOR` (`TASK_LOST` for frameworks that are not partition-aware).
    /// Marking a gone agent again changes nothing; an unknown agent is a 404.
    pub fn mark_agent_gone(&mut self, id: &AgentId) -> Result<Vec<Effect>, OpError> {
        const WHY: &str = "Agent has been marked gone";
        if self.registry.gone.contains_key(id) {
            tracing::warn!(agent = %id, "not marking the agent gone: it is gone already");
            return Ok(Vec::new());
        }
        if let Some(a) = self.agents.get(id) {
            let pid = a.pid.clone();
            let mut fx = self.remove_agent(id, Removal::GoneByOperator, WHY);
            let at = fx
                .iter()
                .position(|e| matches!(e, Effect::PersistRegistry))
                .map_or(0, |i| i + 1);
            fx.insert(
                at,
                Effect::Send(
                    pid,
                    ShutdownMessage {
                        message: WHY.into(),
                    }
                    .into(),
                ),
            );
            return Ok(fx);
        }
        let unreachable = self.unreachable.remove(id).is_some();
        let recovered = self.recovered.remove(id).is_some();
        if !unreachable && !recovered {
            return Err(OpError {
                status: 404,
                message: format!("Agent '{id}' not found"),
            });
        }
        tracing::warn!(agent = %id, unreachable, recovered, "marking agent gone");
        let now = self.now();
        Arc::make_mut(&mut self.registry).mark_gone(id, now);
        let mut fx = vec![Effect::PersistRegistry];
        let fids: Vec<FrameworkId> = self.frameworks.keys().cloned().collect();
        for fid in &fids {
            let Some(f) = self.frameworks.get_mut(fid).map(Arc::make_mut) else {
                continue;
            };
            let aware = f.info.is_partition_aware();
            let ids: Vec<TaskId> = f
                .unreachable_tasks
                .values()
                .filter(|t| &t.agent_id == id)
                .map(|t| t.task_id.clone())
                .collect();
            for tid in ids {
                let Some(mut task) = self
                    .frameworks
                    .get_mut(fid)
                    .map(Arc::make_mut)
                    .and_then(|f| f.unreachable_tasks.remove(&tid))
                else {
                    continue;
                };
                let (state, reason) = if aware {
                    (TaskState::GoneByOperator, Reason::AgentRemovedByOperator)
                } else {
                    (TaskState::Lost, Reason::AgentRemoved)
                };
                let mut status = self.master_status(tid, state, reason, WHY, Some(id.clone()));
                status.executor_id = task.executor_id.clone();
                let record = Arc::make_mut(&mut task);
                record.state = state;
                record.statuses.push(status.clone());
                let update = self.update_message(fid, status);
                self.to_framework(fid, update, &mut fx);
                self.complete_task(fid, task);
            }
        }
        Ok(fx)
    }
}

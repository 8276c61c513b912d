//! Frameworks: registration, failover (re-registration), deactivation, the failover
//! timeout, and teardown.

use super::*;

/// A framework (active, disconnected, or recovered from a re-registering agent).
///
/// Its task records are shared (`Arc`): the snapshot `/master/state` takes of the core
/// copies pointers, not 100,000 tasks, and a change to a task shared with a snapshot
/// copies that one task (`Arc::make_mut`). A record caches its rendered JSON
/// ([`TaskRecord`]), so the views write only changed tasks afresh.
#[derive(Debug, Clone)]
pub struct Framework {
    /// Its id.
    pub id: FrameworkId,
    /// Its info (with `id` set).
    pub info: FrameworkInfo,
    /// Its scheduler's PID (None for a framework only known from agents).
    pub pid: Option<Pid>,
    /// Whether offers go to it.
    pub active: bool,
    /// Whether its scheduler is connected.
    pub connected: bool,
    /// Whether it ever subscribed with this master (false: recovered from agents).
    pub recovered: bool,
    /// When it registered.
    pub registered_time: f64,
    /// When it last re-registered.
    pub reregistered_time: Option<f64>,
    /// When it was removed.
    pub unregistered_time: Option<f64>,
    /// Tasks on reachable agents (non-terminal, or terminal until acknowledged), with
    /// what they use per agent.
    pub tasks: TaskTable,
    /// Tasks on unreachable agents (partition-aware frameworks: `TASK_UNREACHABLE`).
    pub unreachable_tasks: BTreeMap<TaskId, Arc<TaskRecord>>,
    /// Terminal tasks, oldest first, bounded.
    pub completed_tasks: VecDeque<Arc<TaskRecord>>,
    /// Outstanding offers.
    pub offers: BTreeSet<OfferId>,
    /// Bumped on every (dis)connection; a failover timer armed in an older epoch is void.
    pub failover_epoch: u64,
}

impl Framework {
    pub(super) fn new(
        id: FrameworkId,
        mut info: FrameworkInfo,
        pid: Option<Pid>,
        now: f64,
    ) -> Framework {
        info.id = Some(id.clone());
        let connected = pid.is_some();
        Framework {
            id,
            info,
            pid,
            active: connected,
            connected,
            recovered: !connected,
            registered_time: now,
            reregistered_time: None,
            unregistered_time: None,
            tasks: TaskTable::new(),
            unreachable_tasks: BTreeMap::new(),
            completed_tasks: VecDeque::new(),
            offers: BTreeSet::new(),
            failover_epoch: 0,
        }
    }

    /// The scheduler's PID if it is connected.
    pub fn connected_pid(&self) -> Option<&Pid> {
        if self.connected {
            self.pid.as_ref()
        } else {
            None
        }
    }

    /// How task `task` ended on `agent` if this master holds it as completed there (the
    /// framework was told, or is being told): the newest such record.
    pub fn ended_on(&self, task: &TaskId, agent: &AgentId) -> Option<TaskState> {
        self.completed_tasks
            .iter()
            .rev()
            .find(|t| &t.task_id == task && &t.agent_id == agent)
            .map(|t| t.state)
    }
}

impl Master {
    /// `RegisterFrameworkMessage` from `from`.
    pub fn register_framework(&mut self, from: &Pid, msg: RegisterFrameworkMessage) -> Vec<Effect> {
        if msg.framework.id.is_some() {
            return self.reregister_framework(
                from,
                ReregisterFrameworkMessage {
                    framework: msg.framework,
                    failover: true,
                },
            );
        }
        let mut fx = Vec::new();
        if let Err(why) = validate_framework(&msg.framework) {
            fx.push(Effect::Send(
                from.clone(),
                FrameworkErrorMessage { message: why }.into(),
            ));
            return fx;
        }
        // A retry from a scheduler we already registered.
        if let Some(f) = self
            .frameworks
            .values()
            .find(|f| f.connected_pid() == Some(from))
        {
            fx.push(Effect::Send(
                from.clone(),
                FrameworkRegisteredMessage {
                    framework_id: f.id.clone(),
                    master_info: self.info.clone(),
                }
                .into(),
            ));
            return fx;
        }
        let id = FrameworkId::new(format!("{}-{:04}", self.info.id, self.next_framework));
        self.next_framework += 1;
        let f = Framework::new(id.clone(), msg.framework, Some(from.clone()), self.now());
        tracing::info!(framework = %id, name = %f.info.name, %from, "registered framework");
        self.admit_framework(&mut fx, from, f);
        fx.push(Effect::Send(
            from.clone(),
            FrameworkRegisteredMessage {
                framework_id: id,
                master_info: self.info.clone(),
            }
            .into(),
        ));
        fx
    }

    /// Takes in a framework this master did not know: links its scheduler, tells the
    /// allocator, and records it.
    pub(super) fn admit_framework(&mut self, fx: &mut Vec<Effect>, from: &Pid, f: Framework) {
        fx.push(Effect::Link(from.clone()));
        fx.push(Effect::Allocator(
            AddFramework {
                framework_id: f.id.clone(),
                info: f.info.clone(),
                used: Vec::new(),
                active: true,
            }
            .into(),
        ));
        self.frameworks.insert(f.id.clone(), Arc::new(f));
    }

    /// `ReregisterFrameworkMessage` from `from`.
    pub fn reregister_framework(
        &mut self,
        from: &Pid,
        msg: ReregisterFrameworkMessage,
    ) -> Vec<Effect> {
        let mut fx = Vec::new();
        let err = |message: String| {
            vec![Effect::Send(
                from.clone(),
                FrameworkErrorMessage { message }.into(),
            )]
        };
        let Some(id) = msg.framework.id.clone() else {
            return err("re-registration needs the framework id".into());
        };
        if let Err(why) = validate_framework(&msg.framework) {
            return err(why);
        }
        if self.framework_removed(&id) {
            return err(format!("Framework {id} has been removed"));
        }
        let now = self.now();
        let master_info = self.info.clone();
        let Some(f) = self.frameworks.get_mut(&id).map(Arc::make_mut) else {
            // Unknown (this master failed over): take it back with the id it has.
            let mut f = Framework::new(id.clone(), msg.framework, Some(from.clone()), now);
            f.reregistered_time = Some(now);
            tracing::info!(framework = %id, %from, "re-admitted framework unknown to this master");
            self.admit_framework(&mut fx, from, f);
            fx.push(Effect::Send(
                from.clone(),
                FrameworkReregisteredMessage {
                    framework_id: id,
                    master_info,
                }
                .into(),
            ));
            return fx;
        };
        if f.connected_pid() == Some(from) {
            // A retry, or the connected scheduler re-registering after its driver lost
            // the master for a while: answer again. Offers made meanwhile may have reached
            // a driver that dropped them (it was not connected) or whose replies were
            // dropped, and nobody would ever answer them: rescind them all and let the
            // allocator offer the resources again (Mesos `_reregisterFramework`, same PID).
            let outstanding: Vec<OfferId> = f.offers.iter().cloned().collect();
            for o in outstanding {
                fx.extend(self.rescind_offer(&o, true));
            }
            fx.push(reregistration_answer(from, msg.failover, id, master_info));
            return fx;
        }
        if let Some(old) = f.connected_pid().cloned() {
            fx.push(Effect::Send(
                old.clone(),
                FrameworkErrorMessage {
                    message: "Framework failed over".into(),
                }
                .into(),
            ));
            fx.push(Effect::Unlink(old));
        }
        let mut info = msg.framework;
        info.id = Some(id.clone());
        let info_changed = info != f.info;
        // A framework this master only knows from its agents meets its scheduler for
        // the first time here: that is a master failover, answered as a re-registration.
        let scheduler_failover = msg.failover && !f.recovered;
        f.info = info.clone();
        f.pid = Some(from.clone());
        f.connected = true;
        f.recovered = false;
        f.reregistered_time = Some(now);
        f.failover_epoch += 1;
        let was_active = f.active;
        f.active = true;
        tracing::info!(framework = %id, %from, "framework re-registered (scheduler failover)");
        fx.push(Effect::Link(from.clone()));
        if info_changed {
            fx.push(Effect::Allocator(
                UpdateFramework {
                    framework_id: id.clone(),
                    info: info.clone(),
                }
                .into(),
            ));
        }
        if !was_active {
            fx.push(Effect::Allocator(
                ActivateFramework {
                    framework_id: id.clone(),
                }
                .into(),
            ));
        }
        // Offers made to the old scheduler go back to the allocator, which offers them
        // again to the new one (Mesos `failoverFramework`).
        let stale: Vec<OfferId> = self
            .frameworks
            .get(&id)
            .map(|f| f.offers.iter().cloned().collect())
            .unwrap_or_default();
        for o in stale {
            fx.extend(self.rescind_offer(&o, false));
        }
        for a in self.agents.values() {
            fx.push(Effect::Send(
                a.pid.clone(),
                UpdateFrameworkMessage {
                    framework_id: id.clone(),
                    pid: Some(from.to_string()),
                    framework_info: Some(info.clone()),
                }
                .into(),
            ));
        }
        fx.push(reregistration_answer(
            from,
            scheduler_failover,
            id,
            master_info,
        ));
        fx
    }

    /// `UnregisterFrameworkMessage`: tear the framework down.
    pub fn unregister_framework(
        &mut self,
        from: &Pid,
        msg: UnregisterFrameworkMessage,
    ) -> Vec<Effect> {
        let mut fx = Vec::new();
        if self
            .scheduler(&msg.framework_id, from, "teardown", &mut fx)
            .is_none()
        {
            return fx;
        }
        self.remove_framework(&msg.framework_id, "the framework unregistered")
    }

    /// TEARDOWN (v1 operator API) and `POST /master/teardown`: the operator removes a
    /// framework (its tasks killed, its executors shut down), written to the registry
    /// before anyone hears of it. An unknown framework is a 400, as in Mesos.
    pub fn operator_teardown(&mut self, id: &FrameworkId) -> Result<Vec<Effect>, OpError> {
        if !self.frameworks.contains_key(id) {
            return Err(OpError {
                status: 400,
                message: format!("No framework found with ID {id}"),
            });
        }
        Ok(self.remove_framework(id, "torn down by the operator"))
    }

    /// `DeactivateFrameworkMessage`: no offers until it re-registers.
    pub fn deactivate_framework(
        &mut self,
        from: &Pid,
        msg: DeactivateFrameworkMessage,
    ) -> Vec<Effect> {
        let mut fx = Vec::new();
        if self
            .scheduler(&msg.framework_id, from, "deactivation", &mut fx)
            .is_none()
        {
            return fx;
        }
        self.deactivate(&msg.framework_id, true, &mut fx);
        fx
    }

    pub(super) fn deactivate(&mut self, id: &FrameworkId, rescind: bool, fx: &mut Vec<Effect>) {
        let Some(f) = self.frameworks.get_mut(id).map(Arc::make_mut) else {
            return;
        };
        if f.active {
            f.active = false;
            fx.push(Effect::Allocator(
                DeactivateFramework {
                    framework_id: id.clone(),
                }
                .into(),
            ));
        }
        let offers: Vec<OfferId> = f.offers.iter().cloned().collect();
        for o in offers {
            fx.extend(self.rescind_offer(&o, rescind));
        }
    }

    pub(super) fn disconnect_framework(&mut self, id: &FrameworkId) -> Vec<Effect> {
        let mut fx = Vec::new();
        self.deactivate(id, false, &mut fx);
        let Some(f) = self.frameworks.get_mut(id).map(Arc::make_mut) else {
            return fx;
        };
        f.connected = false;
        f.failover_epoch += 1;
        // Capped at ten years so timer arithmetic cannot overflow.
        let after = libproc::duration::secs_clamped(f.info.failover_timeout);
        tracing::warn!(framework = %id, failover_timeout = ?after, "scheduler disconnected; waiting for it to fail over");
        fx.push(Effect::FailoverTimer {
            framework_id: id.clone(),
            epoch: f.failover_epoch,
            after,
        });
        fx
    }

    /// A failover timer fired.
    pub fn failover_expired(&mut self, id: &FrameworkId, epoch: u64) -> Vec<Effect> {
        match self.frameworks.get(id) {
            Some(f) if !f.connected && f.failover_epoch == epoch => {
                self.remove_framework(id, "its scheduler did not fail over in time")
            }
            _ => Vec::new(),
        }
    }

    /// Tears a framework down: its executors are shut down, its tasks killed, its offers
    /// dropped, and the allocator forgets it.
    pub(super) fn remove_framework(&mut self, id: &FrameworkId, why: &str) -> Vec<Effect> {
        let mut fx = Vec::new();
        let Some(mut f) = self.frameworks.remove(id).map(Arc::unwrap_or_clone) else {
            return fx;
        };
        tracing::info!(framework = %id, "removing framework: {why}");
        // Written before anyone hears of it: a torn-down framework stays torn down
        // through failovers (its tasks are never adopted back).
        let now = self.now();
        Arc::make_mut(&mut self.registry).remove_framework(id, now);
        fx.push(Effect::PersistRegistry);
        for o in &f.offers {
            if let Some(e) = self.offers.remove(o) {
                if let Some(a) = self.agents.get_mut(&e.offer.agent_id).map(Arc::make_mut) {
                    a.offers.remove(o);
                }
            }
        }
        f.offers.clear();
        for a in self.agents.values() {
            fx.push(Effect::Send(
                a.pid.clone(),
                ShutdownFrameworkMessage {
                    framework_id: id.clone(),
                }
                .into(),
            ));
        }
        let tasks: Vec<Arc<TaskRecord>> = f
            .tasks
            .take()
            .into_values()
            .chain(std::mem::take(&mut f.unreachable_tasks).into_values())
            .collect();
        for mut t in tasks {
            if t.state.is_terminal() {
                f.completed_tasks.push_back(t);
                continue;
            }
            let mut s = TaskStatus::new(t.task_id.clone(), TaskState::Killed)
                .with_source(Source::Master)
                .with_reason(Reason::FrameworkRemoved)
                .with_message(format!("Framework {id} removed"))
                .with_agent(t.agent_id.clone())
                .with_timestamp(now);
            s.executor_id = t.executor_id.clone();
            let t_mut = Arc::make_mut(&mut t);
            t_mut.state = TaskState::Killed;
            t_mut.statuses.push(s);
            *self.terminal_counts.entry(TaskState::Killed).or_default() += 1;
            f.completed_tasks.push_back(t);
        }
        while f.completed_tasks.len() > self.config.max_completed_tasks_per_framework {
            f.completed_tasks.pop_front();
        }
        if let Some(pid) = f.pid.clone() {
            if f.connected {
                fx.push(Effect::Send(
                    pid.clone(),
                    FrameworkErrorMessage {
                        message: format!("Framework {id} removed: {why}"),
                    }
                    .into(),
                ));
            }
            fx.push(Effect::Unlink(pid));
        }
        fx.push(Effect::Allocator(
            RemoveFramework {
                framework_id: id.clone(),
            }
            .into(),
        ));
        f.active = false;
        f.connected = false;
        f.unregistered_time = Some(now);
        self.completed_frameworks.push_back(f);
        while self.completed_frameworks.len() > self.config.max_completed_frameworks {
            self.completed_frameworks.pop_front();
        }
        fx
    }
}

impl Master {
    /// UPDATE_FRAMEWORK (v1 scheduler API): the connected scheduler changes its
    /// FrameworkInfo without failing over. The allocator and the agents learn the new
    /// info. `Err` (the HTTP `400` reason) for an invalid info, an unknown or unconnected
    /// framework, or a change to what Mesos keeps fixed (`user`, `principal`,
    /// `checkpoint`).
    pub fn update_framework(
        &mut self,
        from: &Pid,
        info: FrameworkInfo,
    ) -> Result<Vec<Effect>, String> {
        let Some(id) = info.id.clone() else {
            return Err("'framework_info.id' is required".into());
        };
        validate_framework(&info)?;
        let Some(f) = self.frameworks.get_mut(&id).map(Arc::make_mut) else {
            return Err(format!("framework {id} is not known"));
        };
        if f.connected_pid() != Some(from) {
            return Err(format!(
                "framework {id} is not subscribed on this connection"
            ));
        }
        for (what, same) in [
            ("user", info.user == f.info.user),
            ("principal", info.principal == f.info.principal),
            ("checkpoint", info.checkpoint == f.info.checkpoint),
        ] {
            if !same {
                return Err(format!("'framework_info.{what}' cannot be updated"));
            }
        }
        if info == f.info {
            return Ok(Vec::new());
        }
        tracing::info!(framework = %id, "framework info updated");
        f.info = info.clone();
        let mut fx = vec![Effect::Allocator(
            UpdateFramework {
                framework_id: id.clone(),
                info: info.clone(),
            }
            .into(),
        )];
        for a in self.agents.values() {
            fx.push(Effect::Send(
                a.pid.clone(),
                UpdateFrameworkMessage {
                    framework_id: id.clone(),
                    pid: Some(from.to_string()),
                    framework_info: Some(info.clone()),
                }
                .into(),
            ));
        }
        Ok(fx)
    }
}

/// Offer-independent checks of a FrameworkInfo.
fn validate_framework(info: &FrameworkInfo) -> Result<(), String> {
    for role in info.effective_roles() {
        let bad = role.is_empty()
            || role == "."
            || role == ".."
            || role.starts_with('/')
            || role.ends_with('/')
            || role.chars().any(|c| c.is_whitespace() || c.is_control());
        if bad {
            return Err(format!("Framework role '{role}' is invalid"));
        }
    }
    if info.failover_timeout.is_nan() || info.failover_timeout < 0.0 {
        return Err(format!(
            "failover_timeout must be a number >= 0, got {}",
            info.failover_timeout
        ));
    }
    Ok(())
}

/// The answer to a re-registration with a framework this master knows: a scheduler
/// failover (`failover: true`, a new scheduler instance taking over) is answered with
/// `FrameworkRegisteredMessage`, as Mesos's `failoverFramework` does, so the new
/// scheduler gets its `registered` callback; a re-registration of the same scheduler
/// instance gets `FrameworkReregisteredMessage`.
fn reregistration_answer(
    to: &Pid,
    failover: bool,
    framework_id: FrameworkId,
    master_info: MasterInfo,
) -> Effect {
    let msg = if failover {
        FrameworkRegisteredMessage {
            framework_id,
            master_info,
        }
        .into()
    } else {
        FrameworkReregisteredMessage {
            framework_id,
            master_info,
        }
        .into()
    };
    Effect::Send(to.clone(), msg)
}

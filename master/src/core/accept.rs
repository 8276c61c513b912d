//! Accepting offers: validating the offers and the operations on them, launching
//! tasks (with their validation), and giving back what was not used.

use super::*;

impl Master {
    /// invalid ones with `TASK_ERROR`, and give the unused remainder back.
    pub fn accept(&mut self, from: &Pid, msg: AcceptOffersMessage) -> Vec<Effect> {
        let mut fx = Vec::new();
        let fid = msg.framework_id.clone();
        if self.scheduler(&fid, from, "accept", &mut fx).is_none() {
            return fx;
        }
        let tasks_of = |ops: &[OfferOperation]| -> Vec<TaskInfo> {
            ops.iter()
                .flat_map(|op| match op {
                    OfferOperation::Launch { task_infos } => task_infos.clone(),
                    OfferOperation::LaunchGroup { tasks, .. } => tasks.clone(),
                    _ => Vec::new(),
                })
                .collect()
        };
        if let Err(why) = self.validate_offers(&fid, &msg.offer_ids) {
            tracing::warn!(framework = %fid, "invalid accept: {why}");
            let tasks = tasks_of(&msg.operations)
                .into_iter()
                .map(|t| (t.task_id, t.agent_id))
                .collect();
            self.reject_accept(
                &fid,
                &msg.offer_ids,
                tasks,
                Reason::InvalidOffers,
                &why,
                &mut fx,
            );
            return fx;
        }
        let mut offered = Resources::new();
        let mut agent_id = AgentId::default();
        let mut role = String::from("*");
        for id in &msg.offer_ids {
            if let Some(e) = self.remove_offer(id) {
                offered += &e.offer.resources;
                agent_id = e.offer.agent_id;
                role = e.role;
            }
        }
        let mut remaining = offered;
        let mut launched: HashSet<TaskId> = HashSet::new();
        let mut new_executors: HashSet<ExecutorId> = HashSet::new();
        for op in msg.operations {
            match op {
                OfferOperation::Launch { task_infos } => {
                    for t in task_infos {
                        let checked = self
                            .authorize_task(&fid, &t)
                            .map_err(|why| (Reason::TaskUnauthorized, why))
                            .and_then(|()| {
                                self.validate_task(
                                    &fid,
                                    &agent_id,
                                    &t,
                                    &remaining,
                                    &launched,
                                    &new_executors,
                                )
                                .map_err(|why| (Reason::TaskInvalid, why))
                            });
                        match checked {
                            Ok(needed) => {
                                remaining -= &needed;
                                launched.insert(t.task_id.clone());
                                if let Some(e) = &t.executor {
                                    new_executors.insert(e.executor_id.clone());
                                }
                                fx.extend(self.launch(&fid, &agent_id, &role, t, needed));
                            }
                            Err((reason, why)) => {
                                tracing::warn!(framework = %fid, task = %t.task_id, "invalid task: {why}");
                                self.reject_task(
                                    &fid, t.task_id, t.agent_id, reason, &why, &mut fx,
                                );
                            }
                        }
                    }
                }
                OfferOperation::LaunchGroup { tasks, .. } => {
                    for t in tasks {
                        self.reject_task(
                            &fid,
                            t.task_id,
                            t.agent_id,
                            Reason::TaskGroupInvalid,
                            "LAUNCH_GROUP is not supported by this master yet",
                            &mut fx,
                        );
                    }
                }
                op @ (OfferOperation::Reserve { .. } | OfferOperation::Unreserve { .. }) => {
                    if let Err(why) =
                        self.offer_operation(&fid, &agent_id, &role, &op, &mut remaining, &mut fx)
                    {
                        self.operation_error(&fid, &agent_id, &op, why, &mut fx);
                    }
                }
                other => {
                    let why = format!(
                        "offer operation {} is not supported by this master yet",
                        other.type_name()
                    );
                    self.operation_error(&fid, &agent_id, &other, why, &mut fx);
                }
            }
        }
        if !remaining.is_empty() {
            fx.push(Effect::Allocator(
                RecoverResources {
                    framework_id: fid,
                    agent_id,
                    resources: remaining,
                    filters: Some(msg.filters),
                }
                .into(),
            ));
        }
        fx
    }

    /// An `AcceptOffersMessage` whose bytes did not decode (a task with a negative or NaN
    /// resource, say): every task in it gets `TASK_ERROR` with the decoder's reason, and
    /// the framework's offers it names go back to the allocator.
    pub fn accept_undecodable(
        &mut self,
        from: &Pid,
        accept: crate::undecodable::AcceptSkeleton,
        why: &str,
    ) -> Vec<Effect> {
        let mut fx = Vec::new();
        let fid = accept.framework_id;
        if self.scheduler(&fid, from, "accept", &mut fx).is_none() {
            return fx;
        }
        let why = format!("Invalid ACCEPT: {why}");
        tracing::warn!(framework = %fid, "{why}");
        self.reject_accept(
            &fid,
            &accept.offer_ids,
            accept.tasks,
            Reason::TaskInvalid,
            &why,
            &mut fx,
        );
        fx
    }

    /// Answers each of `tasks` with `TASK_ERROR` (`reason`, `why`) and returns the
    /// framework's offers among `offer_ids` to the allocator (they are used up).
    pub(super) fn reject_accept(
        &mut self,
        fid: &FrameworkId,
        offer_ids: &[OfferId],
        tasks: Vec<(TaskId, AgentId)>,
        reason: Reason,
        why: &str,
        fx: &mut Vec<Effect>,
    ) {
        for id in offer_ids {
            if self
                .offers
                .get(id)
                .is_some_and(|e| &e.offer.framework_id == fid)
            {
                fx.extend(self.rescind_offer(id, false));
            }
        }
        for (task_id, agent_id) in tasks {
            self.reject_task(fid, task_id, agent_id, reason, why, fx);
        }
    }

    /// Answers a task that cannot be launched with `TASK_ERROR` (`reason`, `why`), unless
    /// the framework already has a task with that id: a terminal update would contradict
    /// that task (a duplicated ACCEPT, say, names tasks its first copy launched), and a
    /// terminal update is final. Mesos answers such a duplicate id with `TASK_ERROR`; we
    /// only log it, and the framework keeps hearing of its task from the agent.
    pub(super) fn reject_task(
        &self,
        fid: &FrameworkId,
        task_id: TaskId,
        agent_id: AgentId,
        reason: Reason,
        why: &str,
        fx: &mut Vec<Effect>,
    ) {
        let known = self.frameworks.get(fid).is_some_and(|f| {
            f.tasks.contains_key(&task_id) || f.unreachable_tasks.contains_key(&task_id)
        });
        if known {
            tracing::warn!(framework = %fid, task = %task_id,
                "not answering TASK_ERROR for a task id the framework already has: {why}");
            return;
        }
        let s = self.master_status(task_id, TaskState::Error, reason, why, Some(agent_id));
        let u = self.update_message(fid, s);
        self.to_framework(fid, u, fx);
    }

    /// The `run_tasks` ACL: whether the framework's principal may run the task (and its
    /// executor) as the user it would run as (the command's user, else the framework's).
    pub(super) fn authorize_task(&self, fid: &FrameworkId, t: &TaskInfo) -> Result<(), String> {
        let Some(f) = self.frameworks.get(fid) else {
            return Ok(()); // validate_task says the framework is unknown
        };
        let principal = f.info.principal.as_deref();
        fn user_of<'a>(user: Option<&'a String>, framework_user: &'a str) -> &'a str {
            user.map(String::as_str)
                .filter(|u| !u.is_empty())
                .unwrap_or(framework_user)
        }
        let mut users = Vec::with_capacity(2);
        if t.command.is_some() || t.executor.is_none() {
            let user = t.command.as_ref().and_then(|c| c.user.as_ref());
            users.push(user_of(user, &f.info.user));
        }
        if let Some(e) = &t.executor {
            users.push(user_of(e.command.user.as_ref(), &f.info.user));
        }
        for user in users {
            self.config
                .acls
                .authorize(principal, proto::acls::Action::RunTask, Some(user))
                .map_err(|d| d.0)?;
        }
        Ok(())
    }

    /// Validates one task against the offer; returns the resources it takes (the task's,
    /// plus its executor's if that executor is not yet running on the agent).
    pub(super) fn validate_task(
        &self,
        fid: &FrameworkId,
        agent_id: &AgentId,
        t: &TaskInfo,
        remaining: &Resources,
        launched: &HashSet<TaskId>,
        new_executors: &HashSet<ExecutorId>,
    ) -> Result<Resources, String> {
        t.validate_shape().map_err(|e| e.to_string())?;
        let f = self
            .frameworks
            .get(fid)
            .ok_or_else(|| format!("Framework {fid} is unknown"))?;
        if launched.contains(&t.task_id)
            || f.tasks.contains_key(&t.task_id)
            || f.unreachable_tasks.contains_key(&t.task_id)
        {
            return Err(format!("Task has duplicate ID: {}", t.task_id));
        }
        if &t.agent_id != agent_id {
            return Err(format!(
                "Task uses invalid agent {}; the offer is for agent {agent_id}",
                t.agent_id
            ));
        }
        let mut needed = t.resources.clone();
        if let Some(e) = &t.executor {
            if let Some(efid) = &e.framework_id {
                if efid != fid {
                    return Err(format!(
                        "ExecutorInfo has an invalid framework id {efid}; expected {fid}"
                    ));
                }
            }
            let running = new_executors.contains(&e.executor_id)
                || f.tasks.values().any(|x| {
                    &x.agent_id == agent_id
                        && x.executor_id.as_ref() == Some(&e.executor_id)
                        && !x.state.is_terminal()
                });
            if !running {
                needed += &e.resources;
            }
        }
        if !remaining.contains(&needed) {
            return Err(format!(
                "Task uses more resources {needed} than available {remaining}"
            ));
        }
        Ok(needed)
    }

    pub(super) fn launch(
        &mut self,
        fid: &FrameworkId,
        agent_id: &AgentId,
        role: &str,
        t: TaskInfo,
        needed: Resources,
    ) -> Vec<Effect> {
        let mut fx = Vec::new();
        let (Some(agent_pid), Some(f)) = (
            self.agents.get(agent_id).map(|a| a.pid.clone()),
            self.frameworks.get_mut(fid).map(Arc::make_mut),
        ) else {
            return fx;
        };
        let mut task = Task::from_info(
            &t,
            fid.clone(),
            t.executor.as_ref().map(|e| e.executor_id.clone()),
        );
        task.resources = needed;
        task.role = Some(role.to_string());
        f.tasks.insert(Arc::new(task.into()));
        if let (Some(e), Some(a)) = (
            &t.executor,
            self.agents.get_mut(agent_id).map(Arc::make_mut),
        ) {
            let mut info = e.clone();
            info.framework_id = Some(fid.clone());
            a.executors
                .entry((fid.clone(), e.executor_id.clone()))
                .or_insert(info);
        }
        tracing::info!(framework = %fid, task = %t.task_id, agent = %agent_id, "launching task");
        fx.push(Effect::Send(
            agent_pid,
            RunTaskMessage {
                framework: f.info.clone(),
                framework_id: fid.clone(),
                task: t,
                pid: f.pid.as_ref().map(|p| p.to_string()),
            }
            .into(),
        ));
        fx
    }
}

//! The driver API: what a [`Scheduler`] callback can do through its [`SchedulerDriver`].

use super::*;

impl<'c, S: Scheduler> SchedulerDriver<'_, 'c, S> {
    /// The underlying process context.
    pub fn ctx(&mut self) -> &mut Ctx<'c, SchedulerProcess<S>> {
        self.ctx
    }
}

impl<S: Scheduler> SchedulerDriver<'_, '_, S> {
    /// The framework's id, once registered.
    pub fn framework_id(&self) -> Option<&FrameworkId> {
        self.core.reg.framework_id()
    }

    /// The framework info the driver subscribed with.
    pub fn framework_info(&self) -> &FrameworkInfo {
        self.core.reg.framework()
    }

    /// Whether the driver is connected to a master.
    pub fn connected(&self) -> bool {
        self.core.reg.connected()
    }

    /// The master the driver talks to.
    pub fn master(&self) -> Option<&Pid> {
        self.core.reg.master()
    }

    /// The driver's own PID.
    pub fn pid(&self) -> &Pid {
        self.ctx.pid()
    }

    /// The node the driver runs on.
    pub fn node(&self) -> &Node {
        self.ctx.node()
    }

    /// Sends `msg` to the master if connected and registered; returns whether it was sent.
    pub(super) fn to_master<M: libproc::Message>(
        &self,
        what: &str,
        msg: impl FnOnce(FrameworkId) -> M,
    ) -> bool {
        match (
            self.core.reg.connected(),
            self.core.reg.master(),
            self.core.reg.framework_id(),
        ) {
            (true, Some(master), Some(id)) if self.core.stop_reason.is_none() => {
                self.ctx.send(master, msg(id.clone()));
                true
            }
            _ => {
                tracing::warn!(what, "not connected to a master; dropping the call");
                false
            }
        }
    }

    /// Accepts offers with operations (all offers from one agent).
    pub fn accept(
        &mut self,
        offer_ids: Vec<OfferId>,
        operations: Vec<OfferOperation>,
        filters: Filters,
    ) {
        let lost: Vec<TaskId> = operations
            .iter()
            .flat_map(|op| match op {
                OfferOperation::Launch { task_infos } => {
                    task_infos.iter().map(|t| t.task_id.clone()).collect()
                }
                OfferOperation::LaunchGroup { tasks, .. } => {
                    tasks.iter().map(|t| t.task_id.clone()).collect()
                }
                _ => Vec::new(),
            })
            .collect();
        let sent = self.to_master("accept", |framework_id| AcceptOffersMessage {
            framework_id,
            offer_ids,
            operations,
            filters,
        });
        if !sent && self.core.stop_reason.is_none() {
            // Mesos: tasks launched while disconnected are reported TASK_LOST at once.
            for task_id in lost {
                let status = TaskStatus::new(task_id, TaskState::Lost)
                    .with_message("Master disconnected")
                    .with_source(Source::Master)
                    .with_reason(Reason::MasterDisconnected);
                self.ctx
                    .after(Duration::ZERO, move |me: &mut SchedulerProcess<S>, ctx| {
                        if me.active() {
                            me.with_driver(ctx, |s, d| s.status_update(d, &status));
                        }
                    });
            }
        }
    }

    /// Launches `tasks` on the offers (Mesos `launchTasks`: ACCEPT with one LAUNCH).
    pub fn launch(&mut self, offer_ids: Vec<OfferId>, tasks: Vec<TaskInfo>, filters: Filters) {
        self.accept(
            offer_ids,
            vec![OfferOperation::Launch { task_infos: tasks }],
            filters,
        );
    }

    /// Declines an offer; its resources are withheld for `filters.refuse_seconds`.
    /// Says whether the decline went out ([`Delivery::NotConnected`] when the driver is
    /// disconnected: the offer is void then anyway).
    pub fn decline(&mut self, offer_id: OfferId, filters: Filters) -> Delivery {
        let sent = self.to_master("decline", |framework_id| DeclineOffersMessage {
            framework_id,
            offer_ids: vec![offer_id],
            filters,
        });
        if sent {
            Delivery::Sent
        } else {
            Delivery::NotConnected
        }
    }

    /// Asks the master to kill a task.
    pub fn kill(&mut self, task_id: TaskId) {
        self.to_master("kill", |framework_id| KillTaskMessage {
            framework_id,
            task_id,
            kill_policy: None,
        });
    }

    /// Acknowledges a status update explicitly (only with implicit acknowledgements off).
    pub fn acknowledge(&mut self, status: &TaskStatus) {
        if self.core.config.implicit_acknowledgements {
            tracing::warn!(task = %status.task_id, "explicit acknowledge ignored: implicit acknowledgements are on");
            return;
        }
        let Some(id) = self.core.reg.framework_id() else {
            return;
        };
        if let Some(ack) = ack_message(id, status, None) {
            self.to_master("acknowledge", |_| ack);
        }
    }

    /// Asks for the latest state of `statuses`' tasks (empty: all tasks).
    pub fn reconcile(&mut self, statuses: Vec<TaskStatus>) {
        self.to_master("reconcile", |framework_id| ReconcileTasksMessage {
            framework_id,
            statuses,
        });
    }

    /// Implicit reconciliation with a completion signal: asks for the latest state of every
    /// task the master knows, then for one task nobody knows. The master answers in order,
    /// so when that last answer arrives (the driver swallows it) every real answer has been
    /// delivered to `status_update`, and [`Scheduler::reconciled`] is called. Returns
    /// whether the request went out (it needs a connection).
    pub fn reconcile_all(&mut self) -> bool {
        let core = &mut *self.core;
        core.barriers += 1;
        let barrier = TaskId::from(format!(
            "{RECONCILIATION_BARRIER}{}-{}",
            self.ctx.pid().id(),
            core.barriers
        ));
        if !self.to_master("reconcile", |framework_id| ReconcileTasksMessage {
            framework_id,
            statuses: Vec::new(),
        }) {
            return false;
        }
        let probe = TaskStatus::new(barrier.clone(), TaskState::Running);
        self.to_master("reconcile", |framework_id| ReconcileTasksMessage {
            framework_id,
            statuses: vec![probe],
        });
        self.core.barrier = Some(barrier);
        true
    }

    /// Clears offer filters and asks for offers again, for all the framework's roles
    /// (see [`revive_roles`](Self::revive_roles)).
    pub fn revive(&mut self) -> Delivery {
        self.revive_roles(&[])
    }

    /// Clears offer filters and asks for offers again for `roles` (empty: all the
    /// framework's roles). The driver remembers them as unsuppressed; while it is
    /// disconnected the revive is [`Delivery::Deferred`] and sent once it re-registers.
    pub fn revive_roles(&mut self, roles: &[String]) -> Delivery {
        let all = self.core.reg.framework().effective_roles();
        let connected = self.core.reg.connected();
        let roles = self.core.suppression.revive(roles, &all, connected);
        if !connected {
            return Delivery::Deferred;
        }
        self.to_master("revive", |framework_id| ReviveOffersMessage {
            framework_id,
            roles,
        });
        Delivery::Sent
    }

    /// Asks the master to stop sending offers for all the framework's roles (see
    /// [`suppress_roles`](Self::suppress_roles)).
    pub fn suppress(&mut self) -> Delivery {
        self.suppress_roles(&[])
    }

    /// Asks the master to stop sending offers for `roles` (empty: all the framework's
    /// roles) until [`revive`](Self::revive). The driver remembers the suppression and
    /// applies it again after every (re-)registration, so it survives a master failover;
    /// suppressing roles already suppressed sends nothing ([`Delivery::Unchanged`]);
    /// while disconnected it is [`Delivery::Deferred`].
    pub fn suppress_roles(&mut self, roles: &[String]) -> Delivery {
        let all = self.core.reg.framework().effective_roles();
        let roles = self.core.suppression.suppress(roles, &all);
        if !self.core.reg.connected() {
            return Delivery::Deferred;
        }
        if roles.is_empty() {
            return Delivery::Unchanged;
        }
        self.to_master("suppress", |framework_id| SuppressOffersMessage {
            framework_id,
            roles,
        });
        Delivery::Sent
    }

    /// The roles the driver keeps suppressed.
    pub fn suppressed_roles(&self) -> Vec<String> {
        self.core.suppression.suppressed().iter().cloned().collect()
    }

    /// Tells a master the driver just (re-)registered with what the scheduler suppressed
    /// and revived (it may be a new master that knows nothing of it).
    pub(super) fn reapply_suppression(&mut self) {
        let (suppress, revive) = self.core.suppression.registered();
        if !suppress.is_empty() {
            tracing::info!(roles = ?suppress, "suppressing offers again after registration");
            self.to_master("suppress", |framework_id| SuppressOffersMessage {
                framework_id,
                roles: suppress,
            });
        }
        if !revive.is_empty() {
            self.to_master("revive", |framework_id| ReviveOffersMessage {
                framework_id,
                roles: revive,
            });
        }
    }

    /// Sends opaque data to an executor (through the master).
    pub fn message(&mut self, agent_id: AgentId, executor_id: ExecutorId, data: Vec<u8>) {
        self.to_master("message", |framework_id| FrameworkToExecutorMessage {
            agent_id,
            framework_id,
            executor_id,
            data,
        });
    }

    /// Stops the driver. Without `failover` the framework is unregistered (its tasks are
    /// killed); with it the framework stays for a failover scheduler to take over.
    pub fn stop(&mut self, failover: bool) {
        if self.core.stop_reason.is_some() {
            return;
        }
        // The update being delivered is acknowledged before the framework goes away.
        if let Some(ack) = self.core.pending_ack.take() {
            self.to_master("acknowledge", |_| ack);
        }
        if !failover {
            self.to_master("unregister", |framework_id| UnregisterFrameworkMessage {
                framework_id,
            });
        }
        self.core.stop_reason = Some(StopReason::Stopped { failover });
        self.ctx.stop();
    }

    /// Stops the driver without telling the master anything.
    pub fn abort(&mut self) {
        if self.core.stop_reason.is_none() {
            self.core.pending_ack = None;
            self.core.stop_reason = Some(StopReason::Aborted);
            self.ctx.stop();
        }
    }

    /// Runs `f` on the scheduler after `d` (for the framework's own retries and deadlines).
    pub fn after(
        &mut self,
        d: Duration,
        f: impl FnOnce(&mut S, &mut SchedulerDriver<'_, '_, S>) + 'static,
    ) -> TimerId {
        self.ctx.after(d, move |me: &mut SchedulerProcess<S>, ctx| {
            if me.active() {
                me.with_driver(ctx, f);
            }
        })
    }

    /// Cancels a timer set with [`after`](Self::after) or [`spawn`](Self::spawn).
    pub fn cancel(&mut self, timer: TimerId) -> bool {
        self.ctx.cancel(timer)
    }

    /// Runs `fut`, then `then` on the scheduler with its output.
    pub fn spawn<F, T>(
        &mut self,
        fut: F,
        then: impl FnOnce(&mut S, &mut SchedulerDriver<'_, '_, S>, T) + 'static,
    ) -> TimerId
    where
        F: Future<Output = T> + 'static,
        T: 'static,
    {
        self.ctx
            .spawn(fut, move |me: &mut SchedulerProcess<S>, ctx, out| {
                if me.active() {
                    me.with_driver(ctx, |s, d| then(s, d, out));
                }
            })
    }
}

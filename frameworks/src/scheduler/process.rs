//! The shell: the libproc process that carries the registration's effects out and calls
//! the [`Scheduler`] back.

use super::*;

/// Starts the detector that reports leader changes to the driver (given the driver's PID).
pub(super) type DetectorStarter = Box<dyn FnOnce(&Node, &Pid) -> Result<Pid, SpawnError>>;

/// Driver state besides the user's scheduler.
pub(super) struct DriverCore {
    pub(super) reg: Registration,
    pub(super) config: SchedulerConfig,
    /// Starts the detector when the driver starts.
    pub(super) start_detector: Option<DetectorStarter>,
    /// The running detector (terminated when the driver stops).
    pub(super) detector: Option<(Node, Pid)>,
    /// The task id of the explicit reconciliation that follows the driver's last implicit
    /// one: its answer comes after every answer to the implicit one.
    pub(super) barrier: Option<TaskId>,
    pub(super) barriers: u64,
    pub(super) retry_timer: Option<TimerId>,
    /// The implicit acknowledgement of the update being delivered right now.
    pub(super) pending_ack: Option<StatusUpdateAcknowledgementMessage>,
    /// Set once stop/abort ran; the process then ignores everything.
    pub(super) stop_reason: Option<StopReason>,
    pub(super) stop_tx: Option<oneshot::Sender<StopReason>>,
    /// The roles the scheduler suppressed (re-applied after every registration).
    pub(super) suppression: Suppression,
    /// Authentication with the master (when [`SchedulerConfig::credential`] is set).
    pub(super) auth: Authentication,
}

/// Where the driver stands in authenticating with the master: the registration request
/// (and the master it is for) waits here until the master said "authenticated".
pub(super) type Authentication = AuthenticationGate<(Pid, RegistrationRequest)>;

/// The libproc process hosting a [`Scheduler`].
pub struct SchedulerProcess<S: Scheduler> {
    /// The user's scheduler: present until the process stops, then handed back.
    pub(super) scheduler: Option<S>,
    pub(super) core: DriverCore,
    /// Where the scheduler goes when the process stops.
    pub(super) handback: Option<oneshot::Sender<S>>,
}

/// The scheduler is only taken out of its process in `stopped`, after which nothing runs
/// on the process.
const PRESENT: &str = "the scheduler is present until its driver process stops";

/// The scheduler's handle on the driver inside a callback: the Mesos driver calls, timers,
/// and the underlying process context.
pub struct SchedulerDriver<'a, 'c, S: Scheduler> {
    pub(super) ctx: &'a mut Ctx<'c, SchedulerProcess<S>>,
    pub(super) core: &'a mut DriverCore,
}

impl<S: Scheduler> SchedulerProcess<S> {
    /// A driver process for `scheduler`, subscribing `framework` with the leading master
    /// that a detector reports (see [`run_with_detector`]: the process started with `new`
    /// alone waits for [`NewMasterDetected`] messages from a process on its node).
    pub fn new(framework: FrameworkInfo, scheduler: S, config: SchedulerConfig) -> Self {
        let suppression = match &framework.id {
            Some(_) => Suppression::taking_over(&framework.effective_roles()),
            None => Suppression::default(),
        };
        SchedulerProcess {
            scheduler: Some(scheduler),
            handback: None,
            core: DriverCore {
                reg: Registration::new(framework, None, &config),
                config,
                start_detector: None,
                detector: None,
                barrier: None,
                barriers: 0,
                retry_timer: None,
                pending_ack: None,
                stop_reason: None,
                stop_tx: None,
                suppression,
                auth: Authentication::default(),
            },
        }
    }

    /// The user's scheduler (for tests and inspection through [`ProcessRef::call`]).
    pub fn scheduler(&self) -> &S {
        self.scheduler.as_ref().expect(PRESENT)
    }

    /// The user's scheduler, mutably.
    pub fn scheduler_mut(&mut self) -> &mut S {
        self.scheduler.as_mut().expect(PRESENT)
    }

    /// The registration state.
    pub fn registration(&self) -> &Registration {
        &self.core.reg
    }

    /// Runs `f` with the user's object and a driver handle, as a callback would (for code
    /// outside the callbacks, e.g. through [`ProcessRef::call`]).
    pub fn with_driver<R>(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        f: impl FnOnce(&mut S, &mut SchedulerDriver<'_, '_, S>) -> R,
    ) -> R {
        let SchedulerProcess {
            scheduler, core, ..
        } = self;
        let scheduler = scheduler.as_mut().expect(PRESENT);
        let mut d = SchedulerDriver { ctx, core };
        f(scheduler, &mut d)
    }

    pub(super) fn active(&self) -> bool {
        self.core.stop_reason.is_none()
    }

    pub(super) fn apply(&mut self, ctx: &mut Ctx<'_, Self>, effects: Vec<RegEffect>) {
        for e in effects {
            match e {
                RegEffect::Link(pid) => ctx.link(&pid),
                RegEffect::Unlink(pid) => ctx.unlink(&pid),
                RegEffect::Send(to, request) if self.must_authenticate(&to) => {
                    self.authenticate(ctx, to, request)
                }
                RegEffect::Send(to, RegistrationRequest::Register(m)) => {
                    tracing::info!(master = %to, framework = %m.framework.name, "registering framework");
                    ctx.send(&to, m)
                }
                RegEffect::Send(to, RegistrationRequest::Reregister(m)) => {
                    tracing::info!(master = %to, framework_id = ?m.framework.id, "re-registering framework");
                    ctx.send(&to, m)
                }
                RegEffect::ArmRetry(d) => {
                    if let Some(t) = self.core.retry_timer.take() {
                        ctx.cancel(t);
                    }
                    self.core.retry_timer = Some(ctx.after(d, |me: &mut Self, ctx| {
                        me.core.retry_timer = None;
                        if me.active() {
                            let effects = me.core.reg.retry_fired();
                            me.apply(ctx, effects);
                        }
                    }));
                }
                RegEffect::CancelRetry => {
                    if let Some(t) = self.core.retry_timer.take() {
                        ctx.cancel(t);
                    }
                }
                RegEffect::Registered(id, info) => {
                    tracing::info!(framework_id = %id, "framework registered");
                    self.with_driver(ctx, |s, d| {
                        d.reapply_suppression();
                        s.registered(d, &id, &info)
                    });
                }
                RegEffect::Reregistered(info) => {
                    tracing::info!(framework_id = ?self.core.reg.framework_id(), "framework re-registered");
                    self.with_driver(ctx, |s, d| {
                        d.reapply_suppression();
                        s.reregistered(d, &info)
                    });
                }
                RegEffect::Disconnected => {
                    tracing::warn!("disconnected from the master");
                    self.core.auth.reset();
                    self.core.barrier = None;
                    self.with_driver(ctx, |s, d| s.disconnected(d));
                }
                RegEffect::Doubted(why) => {
                    tracing::info!(master = ?self.core.reg.master(), "{why}");
                }
                RegEffect::Reconcile => {
                    self.with_driver(ctx, |_s, d| {
                        d.reconcile_all();
                    });
                }
            }
            if !self.active() {
                return;
            }
        }
    }

    /// Whether a registration request to `master` must wait for an authentication (see
    /// [`AuthenticationGate::admits`]).
    fn must_authenticate(&mut self, master: &Pid) -> bool {
        self.core.config.credential.is_some() && !self.core.auth.admits(master)
    }

    /// Holds `request` until authenticated with `master`; starts authenticating unless an
    /// authentication with it is already under way (and not timed out).
    fn authenticate(&mut self, ctx: &mut Ctx<'_, Self>, master: Pid, request: RegistrationRequest) {
        let Some(credential) = &self.core.config.credential else {
            return;
        };
        let now = tokio::time::Instant::now().into_std();
        let held = (master.clone(), request);
        if let Some(hello) = self
            .core
            .auth
            .hold(held, credential, ctx.pid(), &master, now)
        {
            tracing::info!(%master, principal = %credential.principal, "authenticating with the master");
            ctx.send(&master, hello);
        }
    }

    /// The master refused the credential (or proved it does not know it): like Mesos's
    /// driver, report the error and stop.
    fn authentication_refused(&mut self, ctx: &mut Ctx<'_, Self>, why: String) {
        let message = format!("Master refused authentication: {why}");
        tracing::error!("{message}; aborting");
        self.core.auth.reset();
        self.with_driver(ctx, |s, d| s.error(d, &message));
        if self.active() {
            self.core.stop_reason = Some(StopReason::Error(message));
            ctx.stop();
        }
    }

    /// Whether a master message should be handled: the driver runs, is connected, and the
    /// sender is the master.
    pub(super) fn accepts_from_master(&self, from: &Pid, what: &str) -> bool {
        if !self.active() {
            return false;
        }
        if !self.core.reg.connected() || !self.core.reg.is_master(from) {
            tracing::debug!(%from, what, "ignoring message: not connected or not from the master");
            return false;
        }
        true
    }
}

impl<S: Scheduler> Process for SchedulerProcess<S> {
    fn install(h: &mut Handlers<Self>) {
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: FrameworkRegisteredMessage| {
                if me.active() {
                    let effects = me.core.reg.registered(&from, m.framework_id, m.master_info);
                    me.apply(ctx, effects);
                }
            },
        );
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: FrameworkReregisteredMessage| {
                if me.active() {
                    let effects = me
                        .core
                        .reg
                        .reregistered(&from, m.framework_id, m.master_info);
                    me.apply(ctx, effects);
                }
            },
        );
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: NewMasterDetected| {
                if !me.active() {
                    return;
                }
                // Only a detector on this node may say who leads.
                if from.addr() != ctx.pid().addr() {
                    tracing::warn!(%from, "ignoring a leader report from another node");
                    return;
                }
                match &m.master {
                    Some(pid) => tracing::info!(master = %pid, "new leading master detected"),
                    None => tracing::warn!("no leading master; waiting for one"),
                }
                let effects = me.core.reg.master_detected(m.master, m.info.as_ref());
                me.apply(ctx, effects);
            },
        );
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: ResourceOffersMessage| {
                if me.accepts_from_master(&from, "offers") {
                    me.with_driver(ctx, |s, d| s.resource_offers(d, m.offers));
                }
            },
        );
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: RescindResourceOfferMessage| {
                if me.accepts_from_master(&from, "rescind") {
                    me.with_driver(ctx, |s, d| s.offer_rescinded(d, &m.offer_id));
                }
            },
        );
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: StatusUpdateMessage| {
                if !me.accepts_from_master(&from, "status update") {
                    return;
                }
                if me.core.barrier.as_ref() == Some(&m.update.status.task_id) {
                    // Every answer to the implicit reconciliation has arrived.
                    me.core.barrier = None;
                    tracing::debug!("implicit reconciliation complete");
                    me.with_driver(ctx, |s, d| s.reconciled(d));
                    return;
                }
                if m.update
                    .status
                    .task_id
                    .as_str()
                    .starts_with(RECONCILIATION_BARRIER)
                {
                    // The barrier of an earlier implicit reconciliation, sent again since
                    // (see `Registration::confirm`): not a task of the scheduler's.
                    return;
                }
                let mut status = m.update.status.clone();
                if status.agent_id.is_none() {
                    status.agent_id = m.update.agent_id.clone();
                }
                if me.core.config.implicit_acknowledgements {
                    me.core.pending_ack = me.core.reg.ack_for(&m.update);
                }
                me.with_driver(ctx, |s, d| s.status_update(d, &status));
                // Acknowledge after the callback (unless it aborted; `stop` sends it itself).
                if let (Some(ack), Some(master)) =
                    (me.core.pending_ack.take(), me.core.reg.master())
                {
                    if me.active() {
                        ctx.send(master, ack);
                    }
                }
            },
        );
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: ExecutorToFrameworkMessage| {
                if me.accepts_from_master(&from, "framework message") {
                    me.with_driver(ctx, |s, d| {
                        s.framework_message(d, &m.agent_id, &m.executor_id, &m.data)
                    });
                }
            },
        );
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: LostSlaveMessage| {
                if me.accepts_from_master(&from, "lost agent") {
                    me.with_driver(ctx, |s, d| s.agent_lost(d, &m.agent_id));
                }
            },
        );
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: ExitedExecutorMessage| {
                if me.accepts_from_master(&from, "exited executor") {
                    me.with_driver(ctx, |s, d| {
                        s.executor_lost(d, &m.executor_id, &m.agent_id, m.status)
                    });
                }
            },
        );
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: UpdateOperationStatusMessage| {
                if me.accepts_from_master(&from, "operation status") {
                    tracing::warn!(operation = %m.operation, state = %m.state, message = %m.message, "offer operation refused");
                    me.with_driver(ctx, |s, d| s.operation_error(d, &m.operation, &m.message));
                }
            },
        );
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: AuthenticationStepMessage| {
                if !me.active() {
                    return;
                }
                if let Some(proof) = me.core.auth.step(&from, m) {
                    ctx.send(&from, proof);
                }
            },
        );
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: AuthenticationCompletedMessage| {
                if !me.active() {
                    return;
                }
                match me.core.auth.completed(&from, &m) {
                    None => {}
                    Some(Err(why)) => me.authentication_refused(ctx, why),
                    Some(Ok(held)) => {
                        tracing::info!(master = %from, "authenticated with the master");
                        if let Some((to, request)) = held {
                            if to == from {
                                me.apply(ctx, vec![RegEffect::Send(to, request)]);
                            }
                        }
                    }
                }
            },
        );
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: AuthenticationFailedMessage| {
                if !me.active() {
                    return;
                }
                if let Some(why) = me.core.auth.failed(&from, m) {
                    me.authentication_refused(ctx, why);
                }
            },
        );
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: FrameworkErrorMessage| {
                if !me.active() || !me.core.reg.is_master(&from) {
                    return;
                }
                if let Some(effects) = me.core.reg.framework_error(&from, &m.message) {
                    tracing::warn!(master = %from, "the master holds us as disconnected; re-registering");
                    me.apply(ctx, effects);
                    return;
                }
                tracing::error!(message = %m.message, "framework error from the master; aborting");
                me.with_driver(ctx, |s, d| s.error(d, &m.message));
                if me.active() {
                    me.core.stop_reason = Some(StopReason::Error(m.message));
                    ctx.stop();
                }
            },
        );
    }

    fn started(&mut self, ctx: &mut Ctx<'_, Self>) {
        if let Some(start) = self.core.start_detector.take() {
            match start(ctx.node(), ctx.pid()) {
                Ok(pid) => self.core.detector = Some((ctx.node().clone(), pid)),
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the master detector");
                    self.core.stop_reason = Some(StopReason::Error(format!(
                        "cannot start the master detector: {e}"
                    )));
                    ctx.stop();
                    return;
                }
            }
        }
        let effects = self.core.reg.start();
        self.apply(ctx, effects);
    }

    fn exited(&mut self, ctx: &mut Ctx<'_, Self>, pid: Pid) {
        if self.active() {
            let effects = self.core.reg.exited(&pid);
            self.apply(ctx, effects);
        }
    }

    fn stopped(&mut self) {
        if let Some((node, detector)) = self.core.detector.take() {
            node.terminate(&detector);
        }
        let reason = self
            .core
            .stop_reason
            .take()
            .unwrap_or(StopReason::Terminated);
        if let Some(mut scheduler) = self.scheduler.take() {
            scheduler.stopped(&reason);
            if let Some(tx) = self.handback.take() {
                let _ = tx.send(scheduler);
            }
        }
        if let Some(tx) = self.core.stop_tx.take() {
            let _ = tx.send(reason);
        }
    }
}

//! The scheduler driver: writing a framework means implementing [`Scheduler`] (the Mesos
//! callbacks) and handing it to [`run`].
//!
//! The driver is a libproc process (`scheduler-<suffix>`). It starts a master detector
//! (the `detector` crate: a fixed `host:port` master or a `zk://…/path` ZooKeeper URL) that
//! tells it about every change of leader with a [`NewMasterDetected`] message. It subscribes
//! with the leader, retries the subscription with a truncated exponential backoff until the
//! leader answers, links the leader, and re-subscribes (with its FrameworkID) whenever the
//! link breaks or another master takes over; while no master leads it waits. Messages from
//! anyone but the current leader are ignored. A driver started with `FrameworkInfo.id` set
//! is a failover scheduler: it re-subscribes with `failover: true` and takes over the
//! framework (and its unacknowledged status updates) from its predecessor.
//!
//! Every callback gets a [`SchedulerDriver`] through which the scheduler talks back:
//! launch/accept, decline, kill, acknowledge, reconcile, revive, suppress, framework
//! messages, timers, stop. With [`SchedulerConfig::reconcile_on_registration`] the driver
//! runs an implicit reconciliation after every (re-)registration and calls
//! [`Scheduler::reconciled`] once every answer has arrived.
//!
//! The bookkeeping of the (re-)registration protocol is a pure state machine,
//! [`Registration`], which takes events and returns [`RegEffect`]s; [`SchedulerProcess`] is
//! the thin shell that carries those effects out.

use std::future::Future;
use std::time::Duration;

pub use detector::{MasterAddress, NewMasterDetected};
use libproc::{Ctx, Handlers, Node, Pid, Process, ProcessRef, SpawnError, TimerId};
use proto::messages::{
    AcceptOffersMessage, DeclineOffersMessage, ExecutorToFrameworkMessage, ExitedExecutorMessage,
    FrameworkErrorMessage, FrameworkRegisteredMessage, FrameworkReregisteredMessage,
    FrameworkToExecutorMessage, KillTaskMessage, LostSlaveMessage, ReconcileTasksMessage,
    RegisterFrameworkMessage, ReregisterFrameworkMessage, RescindResourceOfferMessage,
    ResourceOffersMessage, ReviveOffersMessage, StatusUpdate, StatusUpdateAcknowledgementMessage,
    StatusUpdateMessage, SuppressOffersMessage, UnregisterFrameworkMessage,
    UpdateOperationStatusMessage,
};
use proto::{
    AgentId, ExecutorId, Filters, FrameworkId, FrameworkInfo, MasterInfo, Offer, OfferId,
    OfferOperation, Reason, Source, TaskId, TaskInfo, TaskState, TaskStatus,
};
use tokio::sync::oneshot;

use crate::rng::SplitMix64;

/// Mesos `DEFAULT_REGISTRATION_BACKOFF_FACTOR`: the first retry comes within 2 s.
pub const DEFAULT_REGISTRATION_BACKOFF: Duration = Duration::from_secs(2);
/// Mesos `REGISTRATION_RETRY_INTERVAL_MAX`: retries back off to at most 1 min.
pub const DEFAULT_REGISTRATION_BACKOFF_MAX: Duration = Duration::from_secs(60);

/// A framework scheduler: the Mesos callbacks. Every method has a default (offers are
/// declined, everything else ignored), so a scheduler implements only what it needs.
///
/// Each callback runs on the driver's process, one at a time, with a [`SchedulerDriver`]
/// to act through. Never block in a callback; use [`SchedulerDriver::after`] and
/// [`SchedulerDriver::spawn`] for anything that takes time.
#[allow(unused_variables)]
pub trait Scheduler: Sized + Unpin + 'static {
    /// The master accepted the subscription and assigned `framework_id`.
    fn registered(
        &mut self,
        driver: &mut SchedulerDriver<'_, '_, Self>,
        framework_id: &FrameworkId,
        master_info: &MasterInfo,
    ) {
    }

    /// The driver re-subscribed (after a master failover or a broken connection).
    fn reregistered(
        &mut self,
        driver: &mut SchedulerDriver<'_, '_, Self>,
        master_info: &MasterInfo,
    ) {
    }

    /// The connection to the master broke; the driver is re-subscribing.
    fn disconnected(&mut self, driver: &mut SchedulerDriver<'_, '_, Self>) {}

    /// New offers. The default declines them all (default filter).
    fn resource_offers(&mut self, driver: &mut SchedulerDriver<'_, '_, Self>, offers: Vec<Offer>) {
        for o in offers {
            driver.decline(o.id, Filters::default());
        }
    }

    /// An offer is no longer valid.
    fn offer_rescinded(&mut self, driver: &mut SchedulerDriver<'_, '_, Self>, offer_id: &OfferId) {}

    /// A task status update. With implicit acknowledgements (the default) the driver
    /// acknowledges it after this returns.
    fn status_update(&mut self, driver: &mut SchedulerDriver<'_, '_, Self>, status: &TaskStatus) {}

    /// Data from an executor.
    fn framework_message(
        &mut self,
        driver: &mut SchedulerDriver<'_, '_, Self>,
        agent_id: &AgentId,
        executor_id: &ExecutorId,
        data: &[u8],
    ) {
    }

    /// An agent was removed or became unreachable.
    fn agent_lost(&mut self, driver: &mut SchedulerDriver<'_, '_, Self>, agent_id: &AgentId) {}

    /// An executor exited with wait status `status`.
    fn executor_lost(
        &mut self,
        driver: &mut SchedulerDriver<'_, '_, Self>,
        executor_id: &ExecutorId,
        agent_id: &AgentId,
        status: i32,
    ) {
    }

    /// Every answer to an implicit reconciliation started by the driver (after a
    /// (re-)registration with [`SchedulerConfig::reconcile_on_registration`], or by
    /// [`SchedulerDriver::reconcile_all`]) has been delivered through `status_update`: the
    /// scheduler now knows every task the master knows.
    fn reconciled(&mut self, driver: &mut SchedulerDriver<'_, '_, Self>) {}

    /// An offer operation of an accept (RESERVE, UNRESERVE, …) was refused by the master
    /// (`OPERATION_ERROR`); `operation` is its Mesos type name. The rest of the accept
    /// was carried out.
    fn operation_error(
        &mut self,
        driver: &mut SchedulerDriver<'_, '_, Self>,
        operation: &str,
        message: &str,
    ) {
    }

    /// An unrecoverable error (e.g. the framework was removed); the driver aborts after this.
    fn error(&mut self, driver: &mut SchedulerDriver<'_, '_, Self>, message: &str) {}

    /// The driver stopped; nothing more will be called.
    fn stopped(&mut self, reason: &StopReason) {}
}

/// Driver settings.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Acknowledge each status update after `status_update` returns (Mesos default: true).
    /// When false the scheduler must call [`SchedulerDriver::acknowledge`].
    pub implicit_acknowledgements: bool,
    /// The first registration retry comes within this long.
    pub registration_backoff: Duration,
    /// Retries back off (doubling) up to this long.
    pub registration_backoff_max: Duration,
    /// Seed for the process id suffix and the backoff jitter.
    pub seed: u64,
    /// After every (re-)registration, ask the master for the latest state of every task
    /// (implicit reconciliation) and call [`Scheduler::reconciled`] once all answers are in
    /// (Mesos's advice for every framework; off by default as in the Mesos driver).
    pub reconcile_on_registration: bool,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            implicit_acknowledgements: true,
            registration_backoff: DEFAULT_REGISTRATION_BACKOFF,
            registration_backoff_max: DEFAULT_REGISTRATION_BACKOFF_MAX,
            seed: 0,
            reconcile_on_registration: false,
        }
    }
}

/// Why a driver stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// [`SchedulerDriver::stop`] was called.
    Stopped {
        /// Whether the framework stays registered for a failover scheduler.
        failover: bool,
    },
    /// [`SchedulerDriver::abort`] was called.
    Aborted,
    /// The master reported an error (the message).
    Error(String),
    /// The process was terminated from outside.
    Terminated,
}

// ---------------------------------------------------------------------------------------
// The pure core: (re-)registration.
// ---------------------------------------------------------------------------------------

/// A subscription request to send to the master.
#[derive(Debug, Clone, PartialEq)]
pub enum RegistrationRequest {
    /// First subscription of a new framework.
    Register(RegisterFrameworkMessage),
    /// Subscription with an existing FrameworkID.
    Reregister(ReregisterFrameworkMessage),
}

/// What the shell should do after a [`Registration`] event.
#[derive(Debug, Clone, PartialEq)]
pub enum RegEffect {
    /// Link the master (to learn when it goes away).
    Link(Pid),
    /// Drop the link to a master that no longer leads.
    Unlink(Pid),
    /// Send the request to the master.
    Send(Pid, RegistrationRequest),
    /// Call [`Registration::retry_fired`] after this long.
    ArmRetry(Duration),
    /// Cancel the pending retry timer.
    CancelRetry,
    /// Tell the scheduler: registered.
    Registered(FrameworkId, MasterInfo),
    /// Tell the scheduler: re-registered.
    Reregistered(MasterInfo),
    /// Tell the scheduler: disconnected.
    Disconnected,
    /// Start an implicit reconciliation (after a (re-)registration, when configured).
    Reconcile,
}

/// The registration protocol of the scheduler driver, without I/O.
#[derive(Debug, Clone)]
pub struct Registration {
    framework: FrameworkInfo,
    master: Option<Pid>,
    /// The id of the leading master instance, when the detector knew its `MasterInfo`.
    leader_id: Option<String>,
    /// Only the exact leader PID counts as the master (it came from the detector's
    /// `MasterInfo`); a `--master=host:port` also accepts the same id and port at another
    /// IP, as a master listening on every interface advertises an address of its choice.
    strict: bool,
    connected: bool,
    reconcile: bool,
    /// Whether the next re-registration is a scheduler failover (a new driver with an id).
    failover: bool,
    backoff: Duration,
    initial: Duration,
    max: Duration,
    retry_armed: bool,
    rng: SplitMix64,
}

impl Registration {
    /// A driver for `framework` (with `id` set if it is failing over) that will talk to
    /// `master`.
    pub fn new(
        framework: FrameworkInfo,
        master: Option<Pid>,
        config: &SchedulerConfig,
    ) -> Registration {
        Registration {
            failover: framework.id.is_some(),
            framework,
            master,
            leader_id: None,
            strict: false,
            connected: false,
            reconcile: config.reconcile_on_registration,
            backoff: config.registration_backoff,
            initial: config.registration_backoff,
            max: config
                .registration_backoff_max
                .max(config.registration_backoff),
            retry_armed: false,
            rng: SplitMix64::new(config.seed ^ 0x5eed_0fba_c0ff),
        }
    }

    /// The framework id, once assigned.
    pub fn framework_id(&self) -> Option<&FrameworkId> {
        self.framework.id.as_ref()
    }

    /// The framework info (with its id once assigned).
    pub fn framework(&self) -> &FrameworkInfo {
        &self.framework
    }

    /// Whether the master has (re-)accepted the subscription and the link holds.
    pub fn connected(&self) -> bool {
        self.connected
    }

    /// The master the driver talks to.
    pub fn master(&self) -> Option<&Pid> {
        self.master.as_ref()
    }

    /// Whether `from` is the current leading master. A leader known from its `MasterInfo`
    /// must match exactly; a bare `host:port` master also matches the same id and port at
    /// another IP (a master listening on every interface advertises an address of its own).
    pub fn is_master(&self, from: &Pid) -> bool {
        self.master.as_ref().is_some_and(|m| {
            m == from
                || (!self.strict && m.id() == from.id() && m.addr().port() == from.addr().port())
        })
    }

    fn request(&self) -> RegistrationRequest {
        match self.framework.id {
            Some(_) => RegistrationRequest::Reregister(ReregisterFrameworkMessage {
                framework: self.framework.clone(),
                failover: self.failover,
            }),
            None => RegistrationRequest::Register(RegisterFrameworkMessage {
                framework: self.framework.clone(),
            }),
        }
    }

    fn attempt(&mut self, out: &mut Vec<RegEffect>) {
        let Some(master) = self.master.clone() else {
            return;
        };
        if self.connected {
            return;
        }
        out.push(RegEffect::Link(master.clone()));
        out.push(RegEffect::Send(master, self.request()));
        // Mesos: wait a uniformly random fraction of the current backoff, then double it.
        let delay = self
            .backoff
            .mul_f64(self.rng.next_f64())
            .max(Duration::from_millis(1));
        self.backoff = (self.backoff * 2).min(self.max);
        self.retry_armed = true;
        out.push(RegEffect::ArmRetry(delay));
    }

    /// The driver starts: subscribe.
    pub fn start(&mut self) -> Vec<RegEffect> {
        let mut out = Vec::new();
        self.attempt(&mut out);
        out
    }

    /// The retry timer fired: subscribe again unless connected.
    pub fn retry_fired(&mut self) -> Vec<RegEffect> {
        self.retry_armed = false;
        let mut out = Vec::new();
        self.attempt(&mut out);
        out
    }

    fn cancel_retry(&mut self, out: &mut Vec<RegEffect>) {
        if self.retry_armed {
            self.retry_armed = false;
            out.push(RegEffect::CancelRetry);
        }
    }

    /// `FrameworkRegisteredMessage` arrived from `from`.
    pub fn registered(
        &mut self,
        from: &Pid,
        framework_id: FrameworkId,
        master_info: MasterInfo,
    ) -> Vec<RegEffect> {
        let mut out = Vec::new();
        if self.connected || !self.is_master(from) {
            return out;
        }
        self.framework.id = Some(framework_id.clone());
        self.connected = true;
        self.failover = false;
        self.backoff = self.initial;
        self.cancel_retry(&mut out);
        out.push(RegEffect::Registered(framework_id, master_info));
        if self.reconcile {
            out.push(RegEffect::Reconcile);
        }
        out
    }

    /// `FrameworkReregisteredMessage` arrived from `from`.
    pub fn reregistered(
        &mut self,
        from: &Pid,
        framework_id: FrameworkId,
        master_info: MasterInfo,
    ) -> Vec<RegEffect> {
        let mut out = Vec::new();
        if self.connected
            || !self.is_master(from)
            || self.framework.id.as_ref() != Some(&framework_id)
        {
            return out;
        }
        self.connected = true;
        self.failover = false;
        self.backoff = self.initial;
        self.cancel_retry(&mut out);
        out.push(RegEffect::Reregistered(master_info));
        if self.reconcile {
            out.push(RegEffect::Reconcile);
        }
        out
    }

    /// A linked process exited (or its connection broke).
    pub fn exited(&mut self, pid: &Pid) -> Vec<RegEffect> {
        let mut out = Vec::new();
        if self.master.as_ref() != Some(pid) {
            return out;
        }
        if self.connected {
            self.connected = false;
            self.backoff = self.initial;
            out.push(RegEffect::Disconnected);
        }
        if !self.retry_armed {
            self.attempt(&mut out);
        }
        out
    }

    /// The detector reports the leading master (`None`: no master leads now), with its
    /// `MasterInfo` when known. A new leader (another PID, or another master instance at
    /// the same PID) disconnects the driver and starts a re-subscription with it, keeping
    /// the framework id (`failover` stays false unless this driver has not yet taken over
    /// its framework); no leader disconnects it and it waits. A repeat report changes
    /// nothing.
    pub fn master_detected(
        &mut self,
        master: Option<Pid>,
        info: Option<&MasterInfo>,
    ) -> Vec<RegEffect> {
        let mut out = Vec::new();
        let leader_id = info.map(|i| i.id.clone());
        let same_instance = match (&leader_id, &self.leader_id) {
            (Some(new), Some(old)) => new == old,
            _ => true,
        };
        if master == self.master && same_instance {
            if leader_id.is_some() {
                self.leader_id = leader_id;
                self.strict = true;
            }
            return out;
        }
        if self.connected {
            self.connected = false;
            out.push(RegEffect::Disconnected);
        }
        if let Some(old) = self.master.take() {
            if master.as_ref() != Some(&old) {
                out.push(RegEffect::Unlink(old));
            }
        }
        self.strict = leader_id.is_some();
        self.leader_id = leader_id;
        self.master = master;
        self.backoff = self.initial;
        self.cancel_retry(&mut out);
        self.attempt(&mut out);
        out
    }

    /// The acknowledgement for `update`, if it needs one (it carries a uuid) and the
    /// framework has an id.
    pub fn ack_for(&self, update: &StatusUpdate) -> Option<StatusUpdateAcknowledgementMessage> {
        ack_message(
            self.framework.id.as_ref()?,
            &update.status,
            update.agent_id.as_ref(),
        )
    }
}

fn ack_message(
    framework_id: &FrameworkId,
    status: &TaskStatus,
    agent_id: Option<&AgentId>,
) -> Option<StatusUpdateAcknowledgementMessage> {
    let uuid = status.uuid?;
    let agent_id = agent_id.or(status.agent_id.as_ref())?.clone();
    Some(StatusUpdateAcknowledgementMessage {
        agent_id,
        framework_id: framework_id.clone(),
        task_id: status.task_id.clone(),
        uuid,
    })
}

// ---------------------------------------------------------------------------------------
// The shell: the libproc process and the handle callbacks get.
// ---------------------------------------------------------------------------------------

/// Starts the detector that reports leader changes to the driver (given the driver's PID).
type DetectorStarter = Box<dyn FnOnce(&Node, &Pid) -> Result<Pid, SpawnError>>;

/// Driver state besides the user's scheduler.
struct DriverCore {
    reg: Registration,
    config: SchedulerConfig,
    /// Starts the detector when the driver starts.
    start_detector: Option<DetectorStarter>,
    /// The running detector (terminated when the driver stops).
    detector: Option<(Node, Pid)>,
    /// The task id of the explicit reconciliation that follows the driver's last implicit
    /// one: its answer comes after every answer to the implicit one.
    barrier: Option<TaskId>,
    barriers: u64,
    retry_timer: Option<TimerId>,
    /// The implicit acknowledgement of the update being delivered right now.
    pending_ack: Option<StatusUpdateAcknowledgementMessage>,
    /// Set once stop/abort ran; the process then ignores everything.
    stop_reason: Option<StopReason>,
    stop_tx: Option<oneshot::Sender<StopReason>>,
}

/// The libproc process hosting a [`Scheduler`].
pub struct SchedulerProcess<S: Scheduler> {
    scheduler: S,
    core: DriverCore,
}

/// The scheduler's handle on the driver inside a callback: the Mesos driver calls, timers,
/// and the underlying process context.
pub struct SchedulerDriver<'a, 'c, S: Scheduler> {
    ctx: &'a mut Ctx<'c, SchedulerProcess<S>>,
    core: &'a mut DriverCore,
}

impl<S: Scheduler> SchedulerProcess<S> {
    /// A driver process for `scheduler`, subscribing `framework` with the leading master
    /// that a detector reports (see [`run_with_detector`]: the process started with `new`
    /// alone waits for [`NewMasterDetected`] messages from a process on its node).
    pub fn new(framework: FrameworkInfo, scheduler: S, config: SchedulerConfig) -> Self {
        SchedulerProcess {
            scheduler,
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
            },
        }
    }

    /// The user's scheduler (for tests and inspection through [`ProcessRef::call`]).
    pub fn scheduler(&self) -> &S {
        &self.scheduler
    }

    /// The user's scheduler, mutably.
    pub fn scheduler_mut(&mut self) -> &mut S {
        &mut self.scheduler
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
        let SchedulerProcess { scheduler, core } = self;
        let mut d = SchedulerDriver { ctx, core };
        f(scheduler, &mut d)
    }

    fn active(&self) -> bool {
        self.core.stop_reason.is_none()
    }

    fn apply(&mut self, ctx: &mut Ctx<'_, Self>, effects: Vec<RegEffect>) {
        for e in effects {
            match e {
                RegEffect::Link(pid) => ctx.link(&pid),
                RegEffect::Unlink(pid) => ctx.unlink(&pid),
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
                    self.with_driver(ctx, |s, d| s.registered(d, &id, &info));
                }
                RegEffect::Reregistered(info) => {
                    tracing::info!(framework_id = ?self.core.reg.framework_id(), "framework re-registered");
                    self.with_driver(ctx, |s, d| s.reregistered(d, &info));
                }
                RegEffect::Disconnected => {
                    tracing::warn!("disconnected from the master");
                    self.core.barrier = None;
                    self.with_driver(ctx, |s, d| s.disconnected(d));
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

    /// Whether a master message should be handled: the driver runs, is connected, and the
    /// sender is the master.
    fn accepts_from_master(&self, from: &Pid, what: &str) -> bool {
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
            |me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: FrameworkErrorMessage| {
                if !me.active() || !me.core.reg.is_master(&from) {
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
        self.scheduler.stopped(&reason);
        if let Some(tx) = self.core.stop_tx.take() {
            let _ = tx.send(reason);
        }
    }
}

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
    fn to_master<M: libproc::Message>(
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
    pub fn decline(&mut self, offer_id: OfferId, filters: Filters) {
        self.to_master("decline", |framework_id| DeclineOffersMessage {
            framework_id,
            offer_ids: vec![offer_id],
            filters,
        });
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
            "reconciliation-barrier-{}-{}",
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

    /// Clears offer filters and asks for offers again.
    pub fn revive(&mut self) {
        self.to_master("revive", |framework_id| ReviveOffersMessage {
            framework_id,
            roles: Vec::new(),
        });
    }

    /// Asks the master to stop sending offers.
    pub fn suppress(&mut self) {
        self.to_master("suppress", |framework_id| SuppressOffersMessage {
            framework_id,
            roles: Vec::new(),
        });
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

/// A running driver: its process and a way to wait until it stops.
pub struct SchedulerHandle<S: Scheduler> {
    /// The driver process (use [`ProcessRef::call`] to inspect the scheduler).
    pub process: ProcessRef<SchedulerProcess<S>>,
    stopped: oneshot::Receiver<StopReason>,
}

impl<S: Scheduler> SchedulerHandle<S> {
    /// The driver's PID.
    pub fn pid(&self) -> &Pid {
        self.process.pid()
    }

    /// Waits until the driver stops and says why.
    pub async fn stopped(self) -> StopReason {
        self.stopped.await.unwrap_or(StopReason::Terminated)
    }
}

/// Starts a driver for `scheduler` on `node`, subscribing `framework` with the fixed
/// `master`, with default settings.
pub fn run<S: Scheduler>(
    node: &Node,
    master: Pid,
    framework: FrameworkInfo,
    scheduler: S,
) -> Result<SchedulerHandle<S>, SpawnError> {
    run_with(
        node,
        MasterAddress::Standalone(master),
        framework,
        scheduler,
        SchedulerConfig::default(),
    )
}

/// Starts a driver that follows the leading master at `master` (a fixed master or a
/// `zk://…/path` URL) through a `detector` process, with settings. The process id is
/// `scheduler-<suffix>`, the suffix drawn from `config.seed`. Set `framework.id` (and
/// usually `failover_timeout`) to take over a framework whose scheduler went away.
pub fn run_with<S: Scheduler>(
    node: &Node,
    master: MasterAddress,
    framework: FrameworkInfo,
    scheduler: S,
    config: SchedulerConfig,
) -> Result<SchedulerHandle<S>, SpawnError> {
    run_with_detector(node, framework, scheduler, config, move |node, driver| {
        detector::spawn(node, master, driver.clone()).map(|d| d.pid().clone())
    })
}

/// Starts a driver whose leader detection is `start_detector`: called on the driver's
/// process when it starts, with the node and the driver's PID, it spawns a process on the
/// node that sends the driver a [`NewMasterDetected`] on every change of leader, and returns
/// that process's PID (terminated when the driver stops). Tests use it to play the detector.
pub fn run_with_detector<S: Scheduler>(
    node: &Node,
    framework: FrameworkInfo,
    scheduler: S,
    config: SchedulerConfig,
    start_detector: impl FnOnce(&Node, &Pid) -> Result<Pid, SpawnError> + 'static,
) -> Result<SchedulerHandle<S>, SpawnError> {
    let mut rng = SplitMix64::new(config.seed);
    let mut id = format!("scheduler-{:016x}", rng.next_u64());
    // A second driver with the same seed on one node gets a fresh suffix.
    while node.processes().iter().any(|p| p.id() == id) {
        id = format!("scheduler-{:016x}", rng.next_u64());
    }
    let (tx, rx) = oneshot::channel();
    let mut process = SchedulerProcess::new(framework, scheduler, config);
    process.core.stop_tx = Some(tx);
    process.core.start_detector = Some(Box::new(start_detector));
    let process = node.spawn(&id, process)?;
    Ok(SchedulerHandle {
        process,
        stopped: rx,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn master() -> Pid {
        "master@127.0.0.1:5050".parse().unwrap()
    }

    fn info() -> MasterInfo {
        MasterInfo::new("m1", Ipv4Addr::LOCALHOST, 5050, "localhost", "test")
    }

    fn reg(id: Option<&str>) -> Registration {
        let mut f = FrameworkInfo::new("fw", "u");
        f.id = id.map(FrameworkId::from);
        Registration::new(f, Some(master()), &SchedulerConfig::default())
    }

    fn retry_delay(effects: &[RegEffect]) -> Duration {
        effects
            .iter()
            .find_map(|e| match e {
                RegEffect::ArmRetry(d) => Some(*d),
                _ => None,
            })
            .expect("a retry is armed")
    }

    #[test]
    fn registers_then_retries_with_growing_capped_backoff() {
        let mut r = reg(None);
        let e = r.start();
        assert!(matches!(
            &e[1],
            RegEffect::Send(_, RegistrationRequest::Register(_))
        ));
        assert!(retry_delay(&e) <= Duration::from_secs(2));
        let mut caps = Vec::new();
        for _ in 0..10 {
            let e = r.retry_fired();
            caps.push(retry_delay(&e));
        }
        assert!(caps.iter().all(|d| *d <= Duration::from_secs(60)));
        assert!(caps[1] <= Duration::from_secs(8));
        // Registered: the retry is cancelled and the id kept.
        let e = r.registered(&master(), "F1".into(), info());
        assert_eq!(
            e,
            vec![
                RegEffect::CancelRetry,
                RegEffect::Registered("F1".into(), info())
            ]
        );
        assert!(r.connected());
        // A duplicate is ignored.
        assert!(r.registered(&master(), "F1".into(), info()).is_empty());
    }

    /// Master failover: while the old leader is gone the backoff grows, but a newly
    /// detected leader is tried at once and the next retry comes within the initial
    /// backoff (Mesos: 0-2 s), so a first attempt dropped by a still-recovering leader
    /// costs at most 2 s, never the grown backoff.
    #[test]
    fn a_new_leader_is_tried_at_once_with_the_backoff_reset() {
        let mut r = reg(None);
        r.start();
        r.registered(&master(), "F1".into(), info());
        r.exited(&master());
        for _ in 0..5 {
            r.retry_fired();
        }
        let new: Pid = "master@127.0.0.1:5051".parse().unwrap();
        let new_info = MasterInfo::new("m2", Ipv4Addr::LOCALHOST, 5051, "localhost", "test");
        let e = r.master_detected(Some(new.clone()), Some(&new_info));
        let sent = e.iter().position(
            |x| matches!(x, RegEffect::Send(to, RegistrationRequest::Reregister(_)) if *to == new),
        );
        assert!(sent.is_some(), "not tried at once: {e:?}");
        assert!(retry_delay(&e) <= DEFAULT_REGISTRATION_BACKOFF, "{e:?}");
        // The attempt was dropped (the leader was recovering): the next retry is still
        // bounded by twice the initial backoff, not by what grew during the outage.
        let e = r.retry_fired();
        assert!(retry_delay(&e) <= 2 * DEFAULT_REGISTRATION_BACKOFF, "{e:?}");
    }

    #[test]
    fn replies_from_strangers_are_ignored() {
        let mut r = reg(None);
        r.start();
        let stranger: Pid = "other@127.0.0.1:1".parse().unwrap();
        assert!(r.registered(&stranger, "F1".into(), info()).is_empty());
        assert!(!r.connected());
    }

    #[test]
    fn master_exit_disconnects_and_reregisters_with_the_id() {
        let mut r = reg(None);
        r.start();
        r.registered(&master(), "F1".into(), info());
        let e = r.exited(&master());
        assert_eq!(e[0], RegEffect::Disconnected);
        match &e[2] {
            RegEffect::Send(_, RegistrationRequest::Reregister(m)) => {
                assert_eq!(m.framework.id, Some("F1".into()));
                assert!(!m.failover);
            }
            other => panic!("{other:?}"),
        }
        // Another exit while retrying does not stack retries or repeat `disconnected`.
        assert!(r.exited(&master()).is_empty());
        let e = r.reregistered(&master(), "F1".into(), info());
        assert_eq!(
            e,
            vec![RegEffect::CancelRetry, RegEffect::Reregistered(info())]
        );
        // An unrelated pid's exit means nothing.
        assert!(r.exited(&"x@127.0.0.1:2".parse().unwrap()).is_empty());
    }

    #[test]
    fn a_driver_with_an_id_fails_over() {
        let mut r = reg(Some("F9"));
        match &r.start()[1] {
            RegEffect::Send(_, RegistrationRequest::Reregister(m)) => assert!(m.failover),
            other => panic!("{other:?}"),
        }
        // A reregistered for another framework is ignored.
        assert!(r.reregistered(&master(), "F1".into(), info()).is_empty());
    }

    #[test]
    fn new_master_moves_the_subscription() {
        let mut r = reg(None);
        r.start();
        r.registered(&master(), "F1".into(), info());
        let m2: Pid = "master@127.0.0.2:5050".parse().unwrap();
        let e = r.master_detected(Some(m2.clone()), None);
        assert_eq!(e[0], RegEffect::Disconnected);
        assert_eq!(e[1], RegEffect::Unlink(master()));
        assert!(e.contains(&RegEffect::Link(m2.clone())));
        match &e[3] {
            RegEffect::Send(to, RegistrationRequest::Reregister(m)) => {
                assert_eq!(to, &m2);
                assert_eq!(m.framework.id, Some("F1".into()));
                assert!(!m.failover, "only the master changed");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(r.master(), Some(&m2));
        assert!(r.master_detected(Some(m2.clone()), None).is_empty());
        // No leader: the pending retry is cancelled and nothing is sent.
        let e = r.master_detected(None, None);
        assert_eq!(e, vec![RegEffect::Unlink(m2), RegEffect::CancelRetry]);
        assert!(r.retry_fired().is_empty());
        assert!(!r.connected());
    }

    #[test]
    fn no_leader_while_connected_disconnects_and_waits() {
        let mut r = reg(None);
        r.start();
        r.registered(&master(), "F1".into(), info());
        let e = r.master_detected(None, None);
        assert_eq!(
            e,
            vec![RegEffect::Disconnected, RegEffect::Unlink(master())]
        );
        assert!(r.retry_fired().is_empty());
        assert!(r.exited(&master()).is_empty());
        // The same master comes back as leader: re-register with it.
        let e = r.master_detected(Some(master()), Some(&info()));
        assert!(matches!(
            &e[1],
            RegEffect::Send(_, RegistrationRequest::Reregister(m)) if !m.failover
        ));
    }

    #[test]
    fn a_leader_known_by_its_info_must_match_exactly() {
        let mut r = Registration::new(
            FrameworkInfo::new("fw", "u"),
            None,
            &SchedulerConfig::default(),
        );
        assert!(r.start().is_empty(), "no master yet: nothing to do");
        let a: Pid = "master@10.0.0.1:5050".parse().unwrap();
        let b: Pid = "master@10.0.0.2:5050".parse().unwrap();
        let mut info_b = info();
        info_b.id = "mb".into();
        r.master_detected(Some(b.clone()), Some(&info_b));
        assert!(r.is_master(&b));
        assert!(
            !r.is_master(&a),
            "same id and port at another IP is not the leader"
        );
        assert!(r.registered(&a, "F1".into(), info()).is_empty());
        // A bare host:port master accepts the advertised address of a wildcard listener.
        let r2 = reg(None);
        assert!(r2.is_master(&"master@10.9.9.9:5050".parse().unwrap()));
        // Another master instance at the same PID is a new leader.
        r.registered(&b, "F1".into(), info_b.clone());
        assert!(r.master_detected(Some(b.clone()), Some(&info_b)).is_empty());
        let mut info_b2 = info_b.clone();
        info_b2.id = "mb2".into();
        let e = r.master_detected(Some(b.clone()), Some(&info_b2));
        assert_eq!(e[0], RegEffect::Disconnected);
        assert!(!e.contains(&RegEffect::Unlink(b.clone())));
        assert!(e
            .iter()
            .any(|x| matches!(x, RegEffect::Send(to, _) if to == &b)));
    }

    #[test]
    fn reconciliation_follows_registration_when_configured() {
        let config = SchedulerConfig {
            reconcile_on_registration: true,
            ..Default::default()
        };
        let mut r = Registration::new(FrameworkInfo::new("fw", "u"), Some(master()), &config);
        r.start();
        let e = r.registered(&master(), "F1".into(), info());
        assert_eq!(e.last(), Some(&RegEffect::Reconcile));
        r.exited(&master());
        let e = r.reregistered(&master(), "F1".into(), info());
        assert_eq!(e.last(), Some(&RegEffect::Reconcile));
        // Off by default.
        let mut r = reg(None);
        r.start();
        let e = r.registered(&master(), "F1".into(), info());
        assert!(!e.contains(&RegEffect::Reconcile));
    }

    #[test]
    fn acks_need_a_uuid_and_an_agent() {
        let mut r = reg(None);
        r.start();
        r.registered(&master(), "F1".into(), info());
        let status = TaskStatus::new("t".into(), TaskState::Running);
        let mut u = StatusUpdate {
            framework_id: "F1".into(),
            executor_id: None,
            agent_id: Some("S1".into()),
            status,
            timestamp: 0.0,
            latest_state: None,
        };
        assert_eq!(r.ack_for(&u), None);
        u.status.uuid = Some(proto::StatusUuid::from_u128(5));
        let ack = r.ack_for(&u).unwrap();
        assert_eq!((ack.agent_id.as_str(), ack.task_id.as_str()), ("S1", "t"));
        assert_eq!(ack.uuid, proto::StatusUuid::from_u128(5));
        u.agent_id = None;
        assert_eq!(r.ack_for(&u), None);
    }
}

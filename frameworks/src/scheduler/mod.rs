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
//!
//! Layout: `registration` (the pure core), `process` (the actor shell), `driver` (the
//! API callbacks get) and `recorder` (a scheduler that records its callbacks, for tests).

use std::future::Future;
use std::time::Duration;

pub use detector::{MasterAddress, NewMasterDetected};
use libproc::{Ctx, Handlers, Node, Pid, Process, ProcessRef, SpawnError, TimerId};
use proto::authentication::{
    AuthenticationCompletedMessage, AuthenticationFailedMessage, AuthenticationStepMessage,
};
use proto::authentication_gate::AuthenticationGate;
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

mod driver;
mod process;
pub mod recorder;
mod registration;
mod suppression;

pub use process::{SchedulerDriver, SchedulerProcess};
use registration::ack_message;
pub use registration::{RegEffect, Registration, RegistrationRequest};
pub use suppression::{Delivery, Suppression};

/// Mesos `DEFAULT_REGISTRATION_BACKOFF_FACTOR`: the first retry comes within 2 s.
pub const DEFAULT_REGISTRATION_BACKOFF: Duration = Duration::from_secs(2);

/// How the task ids of the driver's reconciliation barriers start (see
/// [`SchedulerDriver::reconcile_all`]); the rest is the driver's process id and a counter.
pub const RECONCILIATION_BARRIER: &str = "reconciliation-barrier-";
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
    /// The principal and secret to authenticate with before (re-)registering (Mesos's
    /// driver credential); needed when the master runs with `--authenticate_frameworks`.
    /// A master that refuses it makes the driver stop with [`StopReason::Error`].
    pub credential: Option<proto::authentication::Credential>,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            implicit_acknowledgements: true,
            registration_backoff: DEFAULT_REGISTRATION_BACKOFF,
            registration_backoff_max: DEFAULT_REGISTRATION_BACKOFF_MAX,
            seed: 0,
            reconcile_on_registration: false,
            credential: None,
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

/// A running driver: its process and a way to wait until it stops.
pub struct SchedulerHandle<S: Scheduler> {
    /// The driver process (use [`ProcessRef::call`] to inspect the scheduler).
    pub process: ProcessRef<SchedulerProcess<S>>,
    stopped: oneshot::Receiver<StopReason>,
    handback: oneshot::Receiver<S>,
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

    /// Waits until the driver stops, and hands back the scheduler with the reason
    /// (`None` if the process was dropped without stopping, e.g. its node shut down).
    pub async fn finished(self) -> Option<(S, StopReason)> {
        let reason = self.stopped.await.unwrap_or(StopReason::Terminated);
        self.handback.await.ok().map(|s| (s, reason))
    }
}

/// Runs `scheduler` against `master` (`host:port` or `zk://host:port/path`) with
/// default settings until the driver stops, blocking this thread; returns the scheduler
/// and why it stopped. See [`crate::blocking`].
pub fn run_blocking<S: Scheduler>(
    master: &str,
    framework: FrameworkInfo,
    scheduler: S,
) -> Result<(S, StopReason), crate::blocking::RunError> {
    crate::blocking::run_scheduler(master, framework, scheduler, SchedulerConfig::default())
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
    let (handback_tx, handback) = oneshot::channel();
    let mut process = SchedulerProcess::new(framework, scheduler, config);
    process.core.stop_tx = Some(tx);
    process.handback = Some(handback_tx);
    process.core.start_detector = Some(Box::new(start_detector));
    let process = node.spawn(&id, process)?;
    Ok(SchedulerHandle {
        process,
        stopped: rx,
        handback,
    })
}

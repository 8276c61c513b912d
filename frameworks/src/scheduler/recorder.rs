//! A scheduler for tests that records every callback as a [`SchedulerEvent`] on a channel,
//! so a test drives its framework from outside: it waits for the events it expects and acts
//! through the driver (`handle.process.call(…)`), or hands the recorder an offer policy
//! ([`Recorder::on_offers`]) for the one decision a scheduler must take inside a callback.
//! The one recording scheduler the workspace's tests share.

use proto::{AgentId, ExecutorId, FrameworkId, MasterInfo, Offer, OfferId, TaskStatus};
use tokio::sync::mpsc;

use super::{Scheduler, SchedulerDriver, StopReason};

/// One callback the scheduler got, with what it was given.
#[derive(Debug, Clone, PartialEq)]
pub enum SchedulerEvent {
    /// `registered`.
    Registered(FrameworkId, MasterInfo),
    /// `reregistered`.
    Reregistered(MasterInfo),
    /// `disconnected`.
    Disconnected,
    /// `resource_offers`.
    Offers(Vec<Offer>),
    /// `offer_rescinded`.
    Rescinded(OfferId),
    /// `status_update`.
    Status(TaskStatus),
    /// `framework_message`.
    Message(AgentId, ExecutorId, Vec<u8>),
    /// `agent_lost`.
    AgentLost(AgentId),
    /// `executor_lost` with the wait status.
    ExecutorLost(ExecutorId, AgentId, i32),
    /// `reconciled`.
    Reconciled,
    /// `operation_error`: the operation's type name and the reason.
    OperationError(String, String),
    /// `error`.
    Error(String),
    /// `stopped`.
    Stopped(StopReason),
}

/// What a [`Recorder`] does with offers besides recording them.
type OfferPolicy = Box<dyn FnMut(&mut SchedulerDriver<'_, '_, Recorder>, &[Offer])>;

/// The recording scheduler: every callback becomes a [`SchedulerEvent`]. Offers are
/// recorded and left outstanding unless an offer policy says otherwise.
pub struct Recorder {
    sink: Box<dyn Fn(SchedulerEvent)>,
    on_offers: Option<OfferPolicy>,
}

impl Recorder {
    /// A recorder and the receiving end of its events.
    pub fn new() -> (Recorder, mpsc::UnboundedReceiver<SchedulerEvent>) {
        Recorder::mapped(Some)
    }

    /// A recorder whose events the test sees as `view` maps them (`None`: not passed on),
    /// for tests that compare a compact view of what happened.
    pub fn mapped<T: 'static>(
        view: impl Fn(SchedulerEvent) -> Option<T> + 'static,
    ) -> (Recorder, mpsc::UnboundedReceiver<T>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let sink = move |event| {
            if let Some(seen) = view(event) {
                // The test may have stopped listening; the scheduler goes on regardless.
                let _ = tx.send(seen);
            }
        };
        (
            Recorder {
                sink: Box::new(sink),
                on_offers: None,
            },
            rx,
        )
    }

    /// Also hands every batch of offers to `policy` (after recording it), which may launch
    /// on them or decline them through the driver.
    pub fn on_offers(
        mut self,
        policy: impl FnMut(&mut SchedulerDriver<'_, '_, Recorder>, &[Offer]) + 'static,
    ) -> Recorder {
        self.on_offers = Some(Box::new(policy));
        self
    }

    fn record(&self, event: SchedulerEvent) {
        (self.sink)(event);
    }
}

impl Scheduler for Recorder {
    fn registered(
        &mut self,
        _d: &mut SchedulerDriver<'_, '_, Self>,
        framework_id: &FrameworkId,
        master_info: &MasterInfo,
    ) {
        self.record(SchedulerEvent::Registered(
            framework_id.clone(),
            master_info.clone(),
        ));
    }
    fn reregistered(&mut self, _d: &mut SchedulerDriver<'_, '_, Self>, master_info: &MasterInfo) {
        self.record(SchedulerEvent::Reregistered(master_info.clone()));
    }
    fn disconnected(&mut self, _d: &mut SchedulerDriver<'_, '_, Self>) {
        self.record(SchedulerEvent::Disconnected);
    }
    fn resource_offers(&mut self, d: &mut SchedulerDriver<'_, '_, Self>, offers: Vec<Offer>) {
        let policy = self.on_offers.take();
        if let Some(mut policy) = policy {
            self.record(SchedulerEvent::Offers(offers.clone()));
            policy(d, &offers);
            self.on_offers = Some(policy);
        } else {
            self.record(SchedulerEvent::Offers(offers));
        }
    }
    fn offer_rescinded(&mut self, _d: &mut SchedulerDriver<'_, '_, Self>, offer_id: &OfferId) {
        self.record(SchedulerEvent::Rescinded(offer_id.clone()));
    }
    fn status_update(&mut self, _d: &mut SchedulerDriver<'_, '_, Self>, status: &TaskStatus) {
        self.record(SchedulerEvent::Status(status.clone()));
    }
    fn framework_message(
        &mut self,
        _d: &mut SchedulerDriver<'_, '_, Self>,
        agent_id: &AgentId,
        executor_id: &ExecutorId,
        data: &[u8],
    ) {
        self.record(SchedulerEvent::Message(
            agent_id.clone(),
            executor_id.clone(),
            data.to_vec(),
        ));
    }
    fn agent_lost(&mut self, _d: &mut SchedulerDriver<'_, '_, Self>, agent_id: &AgentId) {
        self.record(SchedulerEvent::AgentLost(agent_id.clone()));
    }
    fn executor_lost(
        &mut self,
        _d: &mut SchedulerDriver<'_, '_, Self>,
        executor_id: &ExecutorId,
        agent_id: &AgentId,
        status: i32,
    ) {
        self.record(SchedulerEvent::ExecutorLost(
            executor_id.clone(),
            agent_id.clone(),
            status,
        ));
    }
    fn reconciled(&mut self, _d: &mut SchedulerDriver<'_, '_, Self>) {
        self.record(SchedulerEvent::Reconciled);
    }
    fn operation_error(
        &mut self,
        _d: &mut SchedulerDriver<'_, '_, Self>,
        operation: &str,
        message: &str,
    ) {
        self.record(SchedulerEvent::OperationError(
            operation.to_string(),
            message.to_string(),
        ));
    }
    fn error(&mut self, _d: &mut SchedulerDriver<'_, '_, Self>, message: &str) {
        self.record(SchedulerEvent::Error(message.to_string()));
    }
    fn stopped(&mut self, reason: &StopReason) {
        self.record(SchedulerEvent::Stopped(reason.clone()));
    }
}

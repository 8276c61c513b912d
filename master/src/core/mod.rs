//! The master's bookkeeping as a pure state machine: agents, frameworks, offers and
//! tasks. Every input (a message with its sender, a timer firing, a link breaking) is a
//! method call returning the [`Effect`]s to carry out: messages to send, allocator calls,
//! links, timers. It never touches the runtime, reads no clock of its own (wall-time
//! stamps and the registry's GC by age read the configured `clock`, which may step
//! backwards), and never panics on input.
//!
//! Timers are never cancelled: each carries what it is about (a framework's failover epoch,
//! an offer id) and is ignored when it fires if that no longer holds.
//!
//! One [`Master`], its event methods spread by what they are about: `agents`
//! (registration, re-registration, health), `frameworks` (subscription, failover,
//! teardown), `offers` (allocations become offers; decline, revive, suppress), `accept`
//! (operations and task launch), `tasks` (kills, status updates, reconciliation, executor
//! messages) and `recovery` (leading after a failover). This module holds the state, the
//! effects and the read-only views.

use libproc::fxhash::FxHashMap;
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use libproc::{Message, Pid};
use proto::messages::*;
use proto::{
    AgentId, AgentInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, MasterInfo, Offer,
    OfferId, OfferOperation, Reason, Resources, Source, TaskId, TaskInfo, TaskState, TaskStatus,
};

use crate::allocator::protocol as alloc;
use crate::config::{master_id_from_seed, MasterConfig, MESOS_VERSION};
use crate::operator::OpError;
use crate::registry::Registry;

mod accept;
mod agents;
mod frameworks;
mod offers;
mod recovery;
mod task_record;
mod task_table;
mod tasks;

pub use agents::{Agent, UnreachableAgent};
pub use frameworks::Framework;
pub use offers::OfferEntry;
pub use task_record::TaskRecord;
pub use task_table::TaskTable;

/// Something that can carry a typed message to a PID (the actor shell, or a test).
pub trait Courier {
    /// Sends `msg` to `to`.
    fn send<M: Message>(&mut self, to: &Pid, msg: M);
}

macro_rules! message_enum {
    ($(#[$doc:meta])* $name:ident { $($v:ident),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq)]
        #[allow(clippy::large_enum_variant)]
        pub enum $name { $(
            #[doc = concat!("A `", stringify!($v), "`.")]
            $v($v),
        )* }
        impl $name {
            /// Sends the wrapped message through `courier`.
            pub fn deliver(self, to: &Pid, courier: &mut impl Courier) {
                match self { $($name::$v(m) => courier.send(to, m),)* }
            }
            /// The wrapped message's wire name.
            pub fn name(&self) -> &'static str {
                match self { $($name::$v(_) => <$v as Message>::NAME,)* }
            }
        }
        $(impl From<$v> for $name { fn from(m: $v) -> Self { $name::$v(m) } })*
    };
}

message_enum!(
    /// A message the master sends to a scheduler or an agent.
    Outbound {
        FrameworkRegisteredMessage, FrameworkReregisteredMessage, ResourceOffersMessage,
        RescindResourceOfferMessage, StatusUpdateMessage, LostSlaveMessage, ExitedExecutorMessage,
        ExecutorToFrameworkMessage, FrameworkErrorMessage, SlaveRegisteredMessage,
        SlaveReregisteredMessage, PingSlaveMessage, RunTaskMessage, KillTaskMessage,
        StatusUpdateAcknowledgementMessage, ShutdownFrameworkMessage, UpdateFrameworkMessage,
        ShutdownMessage, FrameworkToExecutorMessage, CheckpointResourcesMessage,
        UpdateOperationStatusMessage,
    }
);

use crate::allocator::quota_messages::{RemoveQuota, SetQuota};
use alloc::{
    ActivateAgent, ActivateFramework, AddAgent, AddFramework, DeactivateAgent, DeactivateFramework,
    RecoverResources, RemoveAgent, RemoveFramework, ReviveOffers, SuppressOffers, UpdateAgent,
    UpdateAllocation, UpdateFramework, UpdateWeights,
};

message_enum!(
    /// A call on the allocator process.
    ToAllocator {
        AddFramework, RemoveFramework, ActivateFramework, DeactivateFramework, UpdateFramework,
        AddAgent, RemoveAgent, ActivateAgent, DeactivateAgent, RecoverResources, SuppressOffers,
        ReviveOffers, UpdateAgent, UpdateAllocation, UpdateWeights, SetQuota, RemoveQuota,
    }
);

/// What the shell must do after an event.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // short-lived; boxing every send buys nothing
pub enum Effect {
    /// Send a message.
    Send(Pid, Outbound),
    /// Send a message to the allocator.
    Allocator(ToAllocator),
    /// Link to a process (scheduler or agent) to learn when it exits.
    Link(Pid),
    /// Link to a process over a fresh connection that replaces the one to its node
    /// (libprocess `RECONNECT`): for an agent that re-registers, whose old connection may
    /// be half-open after a partition (pings written into it would be lost until TCP gives
    /// up, and the agent marked unreachable again).
    Relink(Pid),
    /// Drop a link.
    Unlink(Pid),
    /// Call [`Master::failover_expired`] with these arguments after `after`.
    FailoverTimer {
        /// The framework.
        framework_id: FrameworkId,
        /// Its failover epoch when armed.
        epoch: u64,
        /// Its failover timeout.
        after: Duration,
    },
    /// Call [`Master::offer_expired`] for this offer after `after`.
    OfferTimer {
        /// The offer.
        offer_id: OfferId,
        /// `--offer_timeout`.
        after: Duration,
    },
    /// The registry changed: write [`Master::registry`] as it stands after this event,
    /// and carry out every later effect (of this event and of the events after it) only
    /// once that write succeeded: decide, write, then speak (Mesos's registrar). A
    /// failed write means none of them may happen: the master stops. Writes may be
    /// coalesced (one write of the latest registry covers every earlier decision).
    PersistRegistry,
    /// Call [`Master::reregister_timeout`] after `after` (`--agent_reregister_timeout`).
    ReregisterTimer {
        /// How long recovered agents have to re-register.
        after: Duration,
    },
}

/// The master's state. Cloning it is how `/master/state` takes a snapshot to render off
/// the master's thread, on that thread: so the big parts are shared (`Arc`), each agent
/// and framework record (and a framework's task records), the registry and the PID
/// index. Taking the snapshot copies pointers; a change made while a snapshot holds a
/// record copies that record (`Arc::make_mut`), not the cluster.
#[derive(Clone)]
pub struct Master {
    pub(crate) config: MasterConfig,
    pub(crate) pid: Pid,
    pub(crate) info: MasterInfo,
    pub(crate) start_time: f64,
    pub(crate) elected_time: f64,
    pub(crate) agents: BTreeMap<AgentId, Arc<Agent>>,
    agent_pids: Arc<FxHashMap<Pid, AgentId>>,
    pub(crate) unreachable: BTreeMap<AgentId, UnreachableAgent>,
    pub(crate) frameworks: BTreeMap<FrameworkId, Arc<Framework>>,
    pub(crate) completed_frameworks: VecDeque<Framework>,
    pub(crate) offers: BTreeMap<OfferId, OfferEntry>,
    next_agent: u64,
    next_framework: u64,
    next_offer: u64,
    /// Terminal task transitions by state, for `master/tasks_<state>` counters.
    pub(crate) terminal_counts: BTreeMap<TaskState, u64>,
    /// Messages refused because their sender is not who may send them (a framework call
    /// not from the framework's scheduler, an agent message not from that agent's PID):
    /// `master/messages_refused_sender`. Atomic so the read-only checks can count.
    pub(crate) refused_senders: std::cell::Cell<u64>,
    /// The durable state: admitted and unreachable agents.
    pub(crate) registry: Arc<Registry>,
    /// Agents in the recovered registry that have not re-registered yet.
    pub(crate) recovered: BTreeMap<AgentId, AgentInfo>,
    /// Role weights (`--weights`, then `/weights`).
    pub(crate) weights: BTreeMap<String, f64>,
    /// Role quotas (`/quota`).
    pub(crate) quotas: BTreeMap<String, crate::operator::QuotaConfig>,
}

fn hostname_of(config: &MasterConfig, pid: &Pid) -> String {
    config
        .hostname
        .clone()
        .unwrap_or_else(|| pid.addr().ip().to_string())
}

impl Master {
    /// A fresh master whose process is `pid`.
    pub fn new(config: MasterConfig, pid: Pid) -> Master {
        let id = master_id_from_seed(config.id_seed);
        let ip = match pid.addr().ip() {
            std::net::IpAddr::V4(v4) => v4,
            std::net::IpAddr::V6(_) => std::net::Ipv4Addr::UNSPECIFIED,
        };
        let hostname = hostname_of(&config, &pid);
        let mut info = MasterInfo::new(id, ip, pid.addr().port(), hostname, MESOS_VERSION);
        info.pid = pid.to_string();
        let now = config.clock.now();
        let weights = config.weights.iter().cloned().collect();
        Master {
            weights,
            quotas: BTreeMap::new(),
            config,
            pid,
            info,
            start_time: now,
            elected_time: now,
            agents: BTreeMap::new(),
            agent_pids: Arc::default(),
            unreachable: BTreeMap::new(),
            frameworks: BTreeMap::new(),
            completed_frameworks: VecDeque::new(),
            offers: BTreeMap::new(),
            next_agent: 0,
            next_framework: 0,
            next_offer: 0,
            terminal_counts: BTreeMap::new(),
            refused_senders: Default::default(),
            registry: Arc::default(),
            recovered: BTreeMap::new(),
        }
    }

    /// This master's info (as sent to schedulers).
    pub fn info(&self) -> &MasterInfo {
        &self.info
    }

    /// The registry as it should be persisted.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Agents from the recovered registry still expected to re-register.
    pub fn recovered_agents(&self) -> &BTreeMap<AgentId, AgentInfo> {
        &self.recovered
    }

    /// Whether `pid` is a registered agent's.
    pub fn is_agent(&self, pid: &Pid) -> bool {
        self.agent_pids.contains_key(pid)
    }

    /// The registered agents.
    pub fn agents(&self) -> &BTreeMap<AgentId, Arc<Agent>> {
        &self.agents
    }

    /// Agents marked unreachable.
    pub fn unreachable_agents(&self) -> &BTreeMap<AgentId, UnreachableAgent> {
        &self.unreachable
    }

    /// The known frameworks.
    pub fn frameworks(&self) -> &BTreeMap<FrameworkId, Arc<Framework>> {
        &self.frameworks
    }

    /// Removed frameworks, oldest first.
    pub fn completed_frameworks(&self) -> &VecDeque<Framework> {
        &self.completed_frameworks
    }

    /// Outstanding offers.
    pub fn offers(&self) -> &BTreeMap<OfferId, OfferEntry> {
        &self.offers
    }

    /// The agent registered at `pid`, if any.
    pub fn agent_id_of(&self, pid: &Pid) -> Option<&AgentId> {
        self.agent_pids.get(pid)
    }

    fn now(&self) -> f64 {
        self.config.clock.now()
    }

    fn ping_connection(&self) -> MasterSlaveConnection {
        MasterSlaveConnection {
            total_ping_timeout_seconds: self.config.agent_ping_timeout.as_secs_f64()
                * self.config.max_agent_ping_timeouts as f64,
        }
    }

    /// The framework `id` if `from` is its connected scheduler. A call from the scheduler of
    /// a framework held as disconnected (its link from the master broke; the scheduler's
    /// own link may not have: a one-way partition) is answered, as Mesos does, with
    /// `FrameworkErrorMessage("Framework disconnected")`: otherwise a scheduler connected in
    /// its own eyes would never re-register, and the master would ignore it for good.
    fn scheduler(
        &self,
        id: &FrameworkId,
        from: &Pid,
        what: &str,
        fx: &mut Vec<Effect>,
    ) -> Option<&Framework> {
        match self.frameworks.get(id) {
            Some(f) if f.connected_pid() == Some(from) => Some(f),
            Some(f) if f.pid.as_ref() == Some(from) => {
                self.refuse_sender();
                tracing::warn!(framework = %id, %from, "refusing {what}: framework disconnected");
                fx.push(Effect::Send(
                    from.clone(),
                    FrameworkErrorMessage {
                        message: proto::messages::FRAMEWORK_DISCONNECTED.into(),
                    }
                    .into(),
                ));
                None
            }
            Some(_) => {
                self.refuse_sender();
                tracing::warn!(framework = %id, %from, "ignoring {what}: not from the framework's connected scheduler");
                None
            }
            None => {
                tracing::warn!(framework = %id, %from, "ignoring {what} of unknown framework");
                None
            }
        }
    }

    fn to_framework(&self, id: &FrameworkId, msg: impl Into<Outbound>, fx: &mut Vec<Effect>) {
        if let Some(pid) = self.frameworks.get(id).and_then(|f| f.connected_pid()) {
            fx.push(Effect::Send(pid.clone(), msg.into()));
        }
    }

    /// A status made up by the master.
    fn master_status(
        &self,
        task_id: TaskId,
        state: TaskState,
        reason: Reason,
        message: impl Into<String>,
        agent_id: Option<AgentId>,
    ) -> TaskStatus {
        let mut s = TaskStatus::new(task_id, state)
            .with_source(Source::Master)
            .with_reason(reason)
            .with_message(message)
            .with_timestamp(self.now());
        s.agent_id = agent_id;
        s
    }

    fn update_message(
        &self,
        framework_id: &FrameworkId,
        status: TaskStatus,
    ) -> StatusUpdateMessage {
        StatusUpdateMessage {
            update: StatusUpdate {
                framework_id: framework_id.clone(),
                executor_id: status.executor_id.clone(),
                agent_id: status.agent_id.clone(),
                timestamp: status.timestamp,
                status,
                latest_state: None,
            },
            pid: None,
        }
    }

    /// Counts a message refused for its sender.
    fn refuse_sender(&self) {
        self.refused_senders.set(self.refused_senders.get() + 1);
    }

    /// Messages refused so far because of their sender.
    pub fn refused_senders(&self) -> u64 {
        self.refused_senders.get()
    }

    fn count_terminal(&mut self, state: TaskState) {
        if state.is_terminal() {
            *self.terminal_counts.entry(state).or_default() += 1;
        }
    }

    /// Moves a task that just became terminal to the completed tasks, counting it.
    fn complete_task(&mut self, framework_id: &FrameworkId, task: Arc<TaskRecord>) {
        self.count_terminal(task.state);
        self.retire_task(framework_id, task);
    }

    /// Moves a task (already counted) to the completed tasks.
    fn retire_task(&mut self, framework_id: &FrameworkId, task: Arc<TaskRecord>) {
        let max = self.config.max_completed_tasks_per_framework;
        if let Some(f) = self.frameworks.get_mut(framework_id).map(Arc::make_mut) {
            f.completed_tasks.push_back(task);
            while f.completed_tasks.len() > max {
                f.completed_tasks.pop_front();
            }
        }
    }

    // ---------------------------------------------------------------- views

    /// Resources used by tasks on `agent`, per framework.
    pub fn used_on_agent(&self, agent: &AgentId) -> BTreeMap<FrameworkId, Resources> {
        let mut out: BTreeMap<FrameworkId, Resources> = BTreeMap::new();
        for f in self.frameworks.values() {
            if let Some(used) = f.tasks.used_on(agent) {
                out.insert(f.id.clone(), used.clone());
            }
        }
        out
    }

    /// A figure that moves whenever a framework's tasks change (see
    /// [`TaskTable::changes`]): the master warms the tasks' JSON caches when it moved.
    pub fn task_changes(&self) -> u64 {
        self.frameworks
            .values()
            .fold(self.frameworks.len() as u64, |n, f| {
                n.wrapping_add(f.tasks.changes())
            })
    }

    /// Resources offered on `agent`.
    pub fn offered_on_agent(&self, agent: &Agent) -> Resources {
        let mut r = Resources::new();
        for o in &agent.offers {
            if let Some(e) = self.offers.get(o) {
                r += &e.offer.resources;
            }
        }
        r
    }

    /// Non-terminal task counts by state (for gauges), including unreachable tasks.
    pub fn task_state_counts(&self) -> BTreeMap<TaskState, u64> {
        let mut m = BTreeMap::new();
        for f in self.frameworks.values() {
            for t in f.tasks.values() {
                *m.entry(t.state).or_default() += 1;
            }
            *m.entry(TaskState::Unreachable).or_default() += f.unreachable_tasks.len() as u64;
        }
        m
    }
}

#[cfg(test)]
mod tests;

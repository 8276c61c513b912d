//! The master's bookkeeping as a pure state machine: agents, frameworks, offers and
//! tasks. Every input (a message with its sender, a timer firing, a link breaking) is a
//! method call returning the [`Effect`]s to carry out: messages to send, allocator calls,
//! links, timers. It never touches the runtime, reads no clock (display timestamps come
//! from the configured `clock`), and never panics on input.
//!
//! Timers are never cancelled: each carries what it is about (a framework's failover epoch,
//! an offer id) and is ignored when it fires if that no longer holds.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::time::Duration;

use libproc::{Message, Pid};
use proto::messages::*;
use proto::{
    AgentId, AgentInfo, ExecutorId, FrameworkId, FrameworkInfo, MasterInfo, Offer, OfferId,
    OfferOperation, Reason, Resources, Source, TaskId, TaskInfo, TaskState, TaskStatus,
};

use crate::allocator::protocol as alloc;
use crate::config::{master_id_from_seed, MasterConfig, MESOS_VERSION};
use crate::registry::Registry;

/// Something that can carry a typed message to a PID (the actor shell, or a test).
pub trait Sink {
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
            /// Sends the wrapped message through `sink`.
            pub fn deliver(self, to: &Pid, sink: &mut impl Sink) {
                match self { $($name::$v(m) => sink.send(to, m),)* }
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

use crate::allocator::extra::{RemoveQuota, SetQuota};
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

/// A registered agent.
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
}

/// An agent marked unreachable, remembered so it may re-register.
#[derive(Debug, Clone)]
pub struct UnreachableAgent {
    /// Its last info.
    pub info: AgentInfo,
    /// When it was marked unreachable (display clock).
    pub time: f64,
}

/// A framework (active, disconnected, or recovered from a re-registering agent).
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
    /// Non-terminal tasks on reachable agents.
    pub tasks: BTreeMap<TaskId, Task>,
    /// Tasks on unreachable agents (partition-aware frameworks: `TASK_UNREACHABLE`).
    pub unreachable_tasks: BTreeMap<TaskId, Task>,
    /// Terminal tasks, oldest first, bounded.
    pub completed_tasks: VecDeque<Task>,
    /// Outstanding offers.
    pub offers: BTreeSet<OfferId>,
    /// Bumped on every (dis)connection; a failover timer armed in an older epoch is void.
    pub failover_epoch: u64,
}

impl Framework {
    fn new(id: FrameworkId, mut info: FrameworkInfo, pid: Option<Pid>, now: f64) -> Framework {
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
            tasks: BTreeMap::new(),
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
}

/// An outstanding offer.
#[derive(Debug, Clone)]
pub struct OfferEntry {
    /// The offer as sent.
    pub offer: Offer,
    /// The role it was allocated to.
    pub role: String,
}

/// The master's state.
pub struct Master {
    pub(crate) config: MasterConfig,
    pub(crate) pid: Pid,
    pub(crate) info: MasterInfo,
    pub(crate) start_time: f64,
    pub(crate) elected_time: f64,
    pub(crate) agents: BTreeMap<AgentId, Agent>,
    agent_pids: HashMap<Pid, AgentId>,
    pub(crate) unreachable: BTreeMap<AgentId, UnreachableAgent>,
    pub(crate) frameworks: BTreeMap<FrameworkId, Framework>,
    pub(crate) completed_frameworks: VecDeque<Framework>,
    pub(crate) offers: BTreeMap<OfferId, OfferEntry>,
    next_agent: u64,
    next_framework: u64,
    next_offer: u64,
    /// Terminal task transitions by state, for `master/tasks_<state>` counters.
    pub(crate) terminal_counts: BTreeMap<TaskState, u64>,
    /// The durable state: admitted and unreachable agents.
    pub(crate) registry: Registry,
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
        let now = (config.clock)();
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
            agent_pids: HashMap::new(),
            unreachable: BTreeMap::new(),
            frameworks: BTreeMap::new(),
            completed_frameworks: VecDeque::new(),
            offers: BTreeMap::new(),
            next_agent: 0,
            next_framework: 0,
            next_offer: 0,
            terminal_counts: BTreeMap::new(),
            registry: Registry::default(),
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

    /// This master was elected leader now (for `elected_time`).
    pub fn elect(&mut self) {
        self.elected_time = self.now();
    }

    /// Adopts the registry a new leader recovered: its admitted agents are expected to
    /// re-register within `--agent_reregister_timeout`, its unreachable agents stay
    /// unreachable (and may re-register any time).
    pub fn recover(&mut self, registry: Registry) -> Vec<Effect> {
        let mut fx = Vec::new();
        for (id, e) in &registry.unreachable {
            self.unreachable
                .entry(id.clone())
                .or_insert(UnreachableAgent {
                    info: e.info.clone(),
                    time: e.time,
                });
        }
        for (id, info) in &registry.agents {
            if !self.agents.contains_key(id) {
                self.recovered.insert(id.clone(), info.clone());
            }
        }
        // Weights and quotas the operator set survive failover (over `--weights`).
        for (role, w) in &registry.weights {
            self.weights.insert(role.clone(), *w);
        }
        for (role, q) in &registry.quotas {
            self.quotas.insert(
                role.clone(),
                crate::operator::QuotaConfig {
                    guarantee: q.guarantee.clone(),
                    limit: q.limit.clone(),
                },
            );
        }
        if !registry.weights.is_empty() {
            fx.push(Effect::Allocator(
                UpdateWeights {
                    weights: registry.weights.clone().into_iter().collect(),
                }
                .into(),
            ));
        }
        for (role, q) in &registry.quotas {
            fx.push(Effect::Allocator(
                SetQuota {
                    role: role.clone(),
                    guarantee: q.guarantee.clone(),
                    limit: q.limit.clone(),
                }
                .into(),
            ));
        }
        // Agents that registered before recovery finished are admitted too.
        let mut merged = registry;
        for (id, a) in &self.agents {
            merged.admit(id, &a.info);
        }
        merged.weights = self.weights.clone();
        merged.quotas = self.policy_registry_quotas();
        let changed = merged != self.registry;
        self.registry = merged;
        tracing::info!(
            admitted = self.registry.agents.len(),
            unreachable = self.registry.unreachable.len(),
            expected_to_reregister = self.recovered.len(),
            "recovered the registry"
        );
        if !self.recovered.is_empty() {
            fx.push(Effect::ReregisterTimer {
                after: self.config.agent_reregister_timeout,
            });
        }
        if changed {
            fx.push(Effect::PersistRegistry);
        }
        fx
    }

    /// `--agent_reregister_timeout` passed since recovery: recovered agents that have not
    /// re-registered are marked unreachable (frameworks learn it from `LostSlaveMessage`
    /// and, for their tasks there, from reconciliation: `TASK_UNREACHABLE` or
    /// `TASK_LOST`).
    pub fn reregister_timeout(&mut self) -> Vec<Effect> {
        let mut fx = Vec::new();
        let lost = std::mem::take(&mut self.recovered);
        if lost.is_empty() {
            return fx;
        }
        let now = self.now();
        // Written before anyone is told.
        fx.push(Effect::PersistRegistry);
        for (id, info) in lost {
            tracing::warn!(agent = %id, "agent did not re-register within --agent_reregister_timeout after failover; marking it unreachable");
            self.registry.mark_unreachable(&id, &info, now);
            self.unreachable
                .insert(id.clone(), UnreachableAgent { info, time: now });
            let fids: Vec<FrameworkId> = self.frameworks.keys().cloned().collect();
            for fid in fids {
                self.to_framework(
                    &fid,
                    LostSlaveMessage {
                        agent_id: id.clone(),
                    },
                    &mut fx,
                );
            }
        }
        self.prune_registry();
        fx
    }

    /// Mesos's registry GC: forgets unreachable and gone agents past
    /// `--registry_max_agent_age` or `--registry_max_agent_count`, and the tasks the
    /// master kept of them.
    fn prune_registry(&mut self) {
        let pruned = self.registry.prune(
            self.now(),
            self.config.registry_max_agent_age,
            self.config.registry_max_agent_count,
        );
        for id in pruned {
            tracing::info!(agent = %id, "forgetting an unreachable agent (--registry_max_agent_age / --registry_max_agent_count)");
            self.unreachable.remove(&id);
            let fids: Vec<FrameworkId> = self.frameworks.keys().cloned().collect();
            for fid in fids {
                let gone: Vec<Task> = match self.frameworks.get_mut(&fid) {
                    Some(f) => {
                        let ids: Vec<TaskId> = f
                            .unreachable_tasks
                            .values()
                            .filter(|t| t.agent_id == id)
                            .map(|t| t.task_id.clone())
                            .collect();
                        ids.iter()
                            .filter_map(|t| f.unreachable_tasks.remove(t))
                            .collect()
                    }
                    None => Vec::new(),
                };
                for t in gone {
                    self.retire_task(&fid, t);
                }
            }
        }
    }

    /// Whether the framework was torn down (durably: the registry remembers it).
    fn framework_removed(&self, id: &FrameworkId) -> bool {
        self.registry.removed_frameworks.contains_key(id)
            || self.completed_frameworks.iter().any(|f| &f.id == id)
    }

    /// The registered agents.
    pub fn agents(&self) -> &BTreeMap<AgentId, Agent> {
        &self.agents
    }

    /// Agents marked unreachable.
    pub fn unreachable_agents(&self) -> &BTreeMap<AgentId, UnreachableAgent> {
        &self.unreachable
    }

    /// The known frameworks.
    pub fn frameworks(&self) -> &BTreeMap<FrameworkId, Framework> {
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
        (self.config.clock)()
    }

    fn ping_connection(&self) -> MasterSlaveConnection {
        MasterSlaveConnection {
            total_ping_timeout_seconds: self.config.agent_ping_timeout.as_secs_f64()
                * self.config.max_agent_ping_timeouts as f64,
        }
    }

    /// The framework `id` if `from` is its connected scheduler.
    fn scheduler(&self, id: &FrameworkId, from: &Pid, what: &str) -> Option<&Framework> {
        match self.frameworks.get(id) {
            Some(f) if f.connected_pid() == Some(from) => Some(f),
            Some(_) => {
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

    fn count_terminal(&mut self, state: TaskState) {
        if state.is_terminal() {
            *self.terminal_counts.entry(state).or_default() += 1;
        }
    }

    /// Moves a task that just became terminal to the completed tasks, counting it.
    fn complete_task(&mut self, framework_id: &FrameworkId, task: Task) {
        self.count_terminal(task.state);
        self.retire_task(framework_id, task);
    }

    /// Moves a task (already counted) to the completed tasks.
    fn retire_task(&mut self, framework_id: &FrameworkId, task: Task) {
        let max = self.config.max_completed_tasks_per_framework;
        if let Some(f) = self.frameworks.get_mut(framework_id) {
            f.completed_tasks.push_back(task);
            while f.completed_tasks.len() > max {
                f.completed_tasks.pop_front();
            }
        }
    }

    // ---------------------------------------------------------------- agents

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
                if let Some(a) = self.agents.get_mut(&id) {
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
                false,
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
        if let Some(a) = self.agents.get_mut(&id) {
            a.checkpointed = msg.checkpointed_resources.clone();
        }
        // Admitted durably before the agent (or the allocator) hears of it.
        self.registry.admit(&id, &info);
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

    fn insert_agent(
        &mut self,
        id: AgentId,
        info: AgentInfo,
        pid: Pid,
        version: String,
        declared: AgentInfo,
    ) {
        let now = self.now();
        self.agent_pids.insert(pid.clone(), id.clone());
        self.agents.insert(
            id.clone(),
            Agent {
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
            },
        );
    }

    /// Marks a registered agent connected again; returns the allocator call if it was not.
    fn reconnect_agent(&mut self, id: &AgentId) -> Option<Effect> {
        match self.agents.get_mut(id) {
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

    /// Tasks the master has on `agent_id` that the re-registering agent did not report
    /// (Mesos `reconcileKnownSlave`): a non-terminal one never reached the agent or died
    /// with it, and its framework gets `TASK_LOST` (`TASK_DROPPED` if partition-aware);
    /// a terminal one was acknowledged to the agent and is retired. `recover`: give
    /// their resources back to the allocator (it still counts them). `in_flight`: the
    /// agent's link never broke, so a task still `TASK_STAGING` may be on its way to it
    /// (the agent sent this re-registration, a retry, before its `RunTask` arrived): it
    /// is kept.
    fn drop_unreported_tasks(
        &mut self,
        agent_id: &AgentId,
        reported: &HashSet<(FrameworkId, TaskId)>,
        recover: bool,
        in_flight: bool,
    ) -> Vec<Effect> {
        let mut fx = Vec::new();
        let fids: Vec<FrameworkId> = self.frameworks.keys().cloned().collect();
        for fid in fids {
            let Some(f) = self.frameworks.get_mut(&fid) else {
                continue;
            };
            let aware = f.info.is_partition_aware();
            let missing = |t: &&Task| {
                &t.agent_id == agent_id
                    && !reported.contains(&(fid.clone(), t.task_id.clone()))
                    && !(in_flight && t.state == TaskState::Staging)
            };
            let ids: Vec<(TaskId, bool)> = f
                .tasks
                .values()
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
                task.state = state;
                task.statuses.push(status.clone());
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
        let was_unreachable = self.unreachable.remove(&id).is_some();
        let was_recovered = self.recovered.remove(&id).is_some();
        if let Some(stale) = self.agent_pids.get(from).cloned() {
            // Another agent id at the same PID: the old one is gone for good.
            fx.extend(self.remove_agent(
                &stale,
                false,
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
            let told_lost = lost_frameworks.contains(fid);
            if live && told_lost {
                // Its framework was told TASK_LOST (the registry says so) and may have
                // replaced it: the task must not run again (Mesos kills it too).
                tracing::warn!(agent = %id, task = %task.task_id, framework = %fid,
                    "task reported TASK_LOST while its agent was unreachable; killing it");
                killed.insert((fid.clone(), task.task_id.clone()));
                kills.push(KillTaskMessage {
                    framework_id: fid.clone(),
                    task_id: task.task_id.clone(),
                    kill_policy: None,
                });
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
        self.insert_agent(
            id.clone(),
            info.clone(),
            from.clone(),
            msg.version,
            declared,
        );
        if let Some(a) = self.agents.get_mut(&id) {
            a.reregistered_time = Some(now);
            a.checkpointed = msg.checkpointed_resources.clone();
            a.killed_tasks = killed;
        }
        // Re-admitted durably before anyone hears of it (a recovered agent already is).
        if self.registry.admit(&id, &info) {
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
    fn reregister_known_agent(
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
            self.agent_pids.remove(&old);
            fx.push(Effect::Unlink(old));
        }
        self.agent_pids.insert(from.clone(), id.clone());
        if let Some(a) = self.agents.get_mut(&id) {
            a.pid = from.clone();
            a.reregistered_time = Some(now);
            a.ping_outstanding = false;
            a.ping_timeouts = 0;
            a.version = msg.version.clone();
        }
        fx.extend(self.reconnect_agent(&id));
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
        fx.extend(shutdowns.into_iter().map(|framework_id| {
            Effect::Send(
                from.clone(),
                ShutdownFrameworkMessage { framework_id }.into(),
            )
        }));
        tracing::info!(agent = %id, %from, "agent re-registered");
        fx.push(Effect::Relink(from.clone()));
        fx.push(Effect::Send(
            from.clone(),
            SlaveReregisteredMessage {
                slave_id: id,
                connection: Some(self.ping_connection()),
            }
            .into(),
        ));
        fx
    }

    /// Makes sure a framework known from an agent exists (inactive, no scheduler yet).
    fn ensure_framework(
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
        self.frameworks.insert(id.clone(), f);
    }

    /// Records a task reported by an agent.
    fn adopt_task(&mut self, agent_id: &AgentId, mut task: Task) {
        task.agent_id = agent_id.clone();
        if let Some(f) = self.frameworks.get_mut(&task.framework_id) {
            f.unreachable_tasks.remove(&task.task_id);
            f.tasks.insert(task.task_id.clone(), task);
        }
    }

    /// `UnregisterSlaveMessage`: the agent leaves for good.
    pub fn unregister_agent(&mut self, from: &Pid, msg: UnregisterSlaveMessage) -> Vec<Effect> {
        match self.agents.get(&msg.slave_id) {
            Some(a) if &a.pid == from => {
                self.remove_agent(&msg.slave_id, false, "agent unregistered")
            }
            _ => {
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

    fn disconnect_agent(&mut self, id: &AgentId) -> Vec<Effect> {
        let mut fx = Vec::new();
        let Some(a) = self.agents.get_mut(id) else {
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

    /// Removes an agent: unreachable (remembered, may come back) or gone (unregistered).
    fn remove_agent(&mut self, id: &AgentId, unreachable: bool, why: &str) -> Vec<Effect> {
        let mut fx = Vec::new();
        let Some(agent) = self.agents.remove(id) else {
            return fx;
        };
        self.agent_pids.remove(&agent.pid);
        tracing::warn!(agent = %id, pid = %agent.pid, unreachable, "removing agent: {why}");
        // Decided and written before anyone (framework, allocator) hears of it.
        let now = self.now();
        if unreachable {
            self.registry.mark_unreachable(id, &agent.info, now);
        } else {
            self.registry.mark_gone(id, now);
        }
        fx.push(Effect::PersistRegistry);
        for o in &agent.offers {
            if let Some(e) = self.offers.remove(o) {
                if let Some(f) = self.frameworks.get_mut(&e.offer.framework_id) {
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
            let Some(f) = self.frameworks.get_mut(fid) else {
                continue;
            };
            let ids: Vec<TaskId> = f
                .tasks
                .values()
                .filter(|t| &t.agent_id == id)
                .map(|t| t.task_id.clone())
                .collect();
            let aware = f.info.is_partition_aware();
            for tid in ids {
                let Some(mut task) = self
                    .frameworks
                    .get_mut(fid)
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
                    self.registry.note_lost(id, fid);
                }
                let state = match (unreachable, aware) {
                    (true, true) => TaskState::Unreachable,
                    (false, true) => TaskState::Gone,
                    (_, false) => TaskState::Lost,
                };
                let mut status = self.master_status(
                    tid.clone(),
                    state,
                    Reason::AgentRemoved,
                    format!("Agent {id} removed: {why}"),
                    Some(id.clone()),
                );
                status.executor_id = task.executor_id.clone();
                task.state = state;
                task.statuses.push(status.clone());
                let update = self.update_message(fid, status);
                self.to_framework(fid, update, &mut fx);
                if state == TaskState::Unreachable {
                    if let Some(f) = self.frameworks.get_mut(fid) {
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
                    info: agent.info,
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
        for a in self.agents.values_mut() {
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
            fx.extend(self.remove_agent(&id, true, "missed too many pings"));
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
            .and_then(|id| self.agents.get_mut(id))
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
    fn not_registered(&self, from: &Pid) -> Vec<Effect> {
        tracing::info!(%from, "message from an agent that is not registered; telling it to re-register");
        vec![Effect::Send(
            from.clone(),
            PingSlaveMessage { connected: false }.into(),
        )]
    }

    // ------------------------------------------------------------ frameworks

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
    fn admit_framework(&mut self, fx: &mut Vec<Effect>, from: &Pid, f: Framework) {
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
        self.frameworks.insert(f.id.clone(), f);
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
        let Some(f) = self.frameworks.get_mut(&id) else {
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
            // A retry (or a re-registration of the connected scheduler): answer again.
            fx.push(Effect::Send(
                from.clone(),
                FrameworkReregisteredMessage {
                    framework_id: id,
                    master_info,
                }
                .into(),
            ));
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
        fx.push(Effect::Send(
            from.clone(),
            FrameworkReregisteredMessage {
                framework_id: id,
                master_info,
            }
            .into(),
        ));
        fx
    }

    /// `UnregisterFrameworkMessage`: tear the framework down.
    pub fn unregister_framework(
        &mut self,
        from: &Pid,
        msg: UnregisterFrameworkMessage,
    ) -> Vec<Effect> {
        if self
            .scheduler(&msg.framework_id, from, "teardown")
            .is_none()
        {
            return Vec::new();
        }
        self.remove_framework(&msg.framework_id, "the framework unregistered")
    }

    /// `DeactivateFrameworkMessage`: no offers until it re-registers.
    pub fn deactivate_framework(
        &mut self,
        from: &Pid,
        msg: DeactivateFrameworkMessage,
    ) -> Vec<Effect> {
        if self
            .scheduler(&msg.framework_id, from, "deactivation")
            .is_none()
        {
            return Vec::new();
        }
        let mut fx = Vec::new();
        self.deactivate(&msg.framework_id, true, &mut fx);
        fx
    }

    fn deactivate(&mut self, id: &FrameworkId, rescind: bool, fx: &mut Vec<Effect>) {
        let Some(f) = self.frameworks.get_mut(id) else {
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

    fn disconnect_framework(&mut self, id: &FrameworkId) -> Vec<Effect> {
        let mut fx = Vec::new();
        self.deactivate(id, false, &mut fx);
        let Some(f) = self.frameworks.get_mut(id) else {
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
    fn remove_framework(&mut self, id: &FrameworkId, why: &str) -> Vec<Effect> {
        let mut fx = Vec::new();
        let Some(mut f) = self.frameworks.remove(id) else {
            return fx;
        };
        tracing::info!(framework = %id, "removing framework: {why}");
        // Written before anyone hears of it: a torn-down framework stays torn down
        // through failovers (its tasks are never adopted back).
        let now = self.now();
        self.registry.remove_framework(id, now);
        fx.push(Effect::PersistRegistry);
        for o in &f.offers {
            if let Some(e) = self.offers.remove(o) {
                if let Some(a) = self.agents.get_mut(&e.offer.agent_id) {
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
        let tasks: Vec<Task> = std::mem::take(&mut f.tasks)
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
            t.state = TaskState::Killed;
            t.statuses.push(s);
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

    // ---------------------------------------------------------------- offers

    /// `Offers` from the allocator: turn each allocation into an offer.
    pub fn offers_from_allocator(&mut self, msg: alloc::Offers) -> Vec<Effect> {
        let mut fx = Vec::new();
        let mut batches: BTreeMap<FrameworkId, (Vec<Offer>, Vec<String>)> = BTreeMap::new();
        for a in msg.allocations {
            let framework_ok = self
                .frameworks
                .get(&a.framework_id)
                .is_some_and(|f| f.active && f.connected);
            let mut agent = self.agents.get(&a.agent_id).filter(|ag| ag.connected);
            if agent.is_some_and(|ag| ag.check_offers) {
                // A reservation changed the agent's total since the allocator decided.
                let mut free = agent
                    .map(|ag| ag.info.resources.clone())
                    .unwrap_or_default();
                for r in self.used_on_agent(&a.agent_id).values() {
                    free -= r;
                }
                if let Some(ag) = agent {
                    free -= &self.offered_on_agent(ag);
                }
                if !free.contains(&a.resources) {
                    tracing::debug!(agent = %a.agent_id, "allocation no longer fits the agent; returned to the allocator");
                    agent = None;
                }
            }
            let (Some(agent), true) = (agent, framework_ok) else {
                // Things changed since the allocator decided: give it back.
                fx.push(Effect::Allocator(
                    RecoverResources {
                        framework_id: a.framework_id,
                        agent_id: a.agent_id,
                        resources: a.resources,
                        filters: None,
                    }
                    .into(),
                ));
                continue;
            };
            let id = OfferId::new(format!("{}-O{}", self.info.id, self.next_offer));
            self.next_offer += 1;
            let executor_ids: BTreeSet<ExecutorId> = self
                .frameworks
                .get(&a.framework_id)
                .map(|f| {
                    f.tasks
                        .values()
                        .filter(|t| t.agent_id == a.agent_id)
                        .filter_map(|t| t.executor_id.clone())
                        .collect()
                })
                .unwrap_or_default();
            let offer = Offer {
                id: id.clone(),
                framework_id: a.framework_id.clone(),
                agent_id: a.agent_id.clone(),
                hostname: agent.info.hostname.clone(),
                resources: a.resources,
                attributes: agent.info.attributes.clone(),
                executor_ids: executor_ids.into_iter().collect(),
            };
            let agent_pid = agent.pid.to_string();
            if let Some(ag) = self.agents.get_mut(&a.agent_id) {
                ag.offers.insert(id.clone());
            }
            if let Some(f) = self.frameworks.get_mut(&a.framework_id) {
                f.offers.insert(id.clone());
            }
            let batch = batches.entry(a.framework_id).or_default();
            batch.0.push(offer.clone());
            batch.1.push(agent_pid);
            self.offers.insert(
                id.clone(),
                OfferEntry {
                    offer,
                    role: a.role,
                },
            );
            if let Some(after) = self.config.offer_timeout {
                fx.push(Effect::OfferTimer {
                    offer_id: id,
                    after,
                });
            }
        }
        for (fid, (offers, pids)) in batches {
            self.to_framework(&fid, ResourceOffersMessage { offers, pids }, &mut fx);
        }
        fx
    }

    /// Removes an offer and gives its resources back; tells the scheduler if `notify`.
    pub(crate) fn rescind_offer(&mut self, id: &OfferId, notify: bool) -> Vec<Effect> {
        let mut fx = Vec::new();
        let Some(e) = self.remove_offer(id) else {
            return fx;
        };
        if notify {
            self.to_framework(
                &e.offer.framework_id,
                RescindResourceOfferMessage {
                    offer_id: id.clone(),
                },
                &mut fx,
            );
        }
        fx.push(Effect::Allocator(
            RecoverResources {
                framework_id: e.offer.framework_id,
                agent_id: e.offer.agent_id,
                resources: e.offer.resources,
                filters: None,
            }
            .into(),
        ));
        fx
    }

    fn remove_offer(&mut self, id: &OfferId) -> Option<OfferEntry> {
        let e = self.offers.remove(id)?;
        if let Some(f) = self.frameworks.get_mut(&e.offer.framework_id) {
            f.offers.remove(id);
        }
        if let Some(a) = self.agents.get_mut(&e.offer.agent_id) {
            a.offers.remove(id);
        }
        Some(e)
    }

    /// `--offer_timeout` passed for an offer.
    pub fn offer_expired(&mut self, id: &OfferId) -> Vec<Effect> {
        if self.offers.contains_key(id) {
            tracing::info!(offer = %id, "offer timed out; rescinding");
        }
        self.rescind_offer(id, true)
    }

    /// `DeclineOffersMessage`.
    pub fn decline(&mut self, from: &Pid, msg: DeclineOffersMessage) -> Vec<Effect> {
        let mut fx = Vec::new();
        if self.scheduler(&msg.framework_id, from, "decline").is_none() {
            return fx;
        }
        for id in &msg.offer_ids {
            match self.offers.get(id) {
                Some(e) if e.offer.framework_id == msg.framework_id => {
                    if let Some(e) = self.remove_offer(id) {
                        fx.push(Effect::Allocator(
                            RecoverResources {
                                framework_id: e.offer.framework_id,
                                agent_id: e.offer.agent_id,
                                resources: e.offer.resources,
                                filters: Some(msg.filters),
                            }
                            .into(),
                        ));
                    }
                }
                _ => {
                    tracing::warn!(offer = %id, framework = %msg.framework_id, "ignoring decline of an unknown offer")
                }
            }
        }
        fx
    }

    /// Checks the offers of an accept: they exist, belong to the framework, are on one
    /// agent, and are not repeated.
    fn validate_offers(&self, framework_id: &FrameworkId, ids: &[OfferId]) -> Result<(), String> {
        if ids.is_empty() {
            return Err("No offers specified".into());
        }
        let mut seen = HashSet::new();
        let mut agent: Option<&AgentId> = None;
        for id in ids {
            if !seen.insert(id) {
                return Err(format!("Offer {id} appears more than once"));
            }
            let Some(e) = self.offers.get(id) else {
                return Err(format!("Offer {id} is no longer valid"));
            };
            if &e.offer.framework_id != framework_id {
                return Err(format!(
                    "Offer {id} has invalid framework {}",
                    e.offer.framework_id
                ));
            }
            match agent {
                None => agent = Some(&e.offer.agent_id),
                Some(a) if a != &e.offer.agent_id => {
                    return Err(format!(
                        "Aggregated offers must belong to one agent; offer {id} is on {}",
                        e.offer.agent_id
                    ));
                }
                _ => {}
            }
            if !self.agents.contains_key(&e.offer.agent_id) {
                return Err(format!(
                    "Offer {id} is on an agent that is no longer registered"
                ));
            }
        }
        Ok(())
    }

    /// `AcceptOffersMessage`: validate offers and tasks, launch the valid tasks, answer
    /// invalid ones with `TASK_ERROR`, and give the unused remainder back.
    pub fn accept(&mut self, from: &Pid, msg: AcceptOffersMessage) -> Vec<Effect> {
        let mut fx = Vec::new();
        let fid = msg.framework_id.clone();
        if self.scheduler(&fid, from, "accept").is_none() {
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
                        match self.validate_task(
                            &fid,
                            &agent_id,
                            &t,
                            &remaining,
                            &launched,
                            &new_executors,
                        ) {
                            Ok(needed) => {
                                remaining -= &needed;
                                launched.insert(t.task_id.clone());
                                if let Some(e) = &t.executor {
                                    new_executors.insert(e.executor_id.clone());
                                }
                                fx.extend(self.launch(&fid, &agent_id, &role, t, needed));
                            }
                            Err(why) => {
                                tracing::warn!(framework = %fid, task = %t.task_id, "invalid task: {why}");
                                let s = self.master_status(
                                    t.task_id.clone(),
                                    TaskState::Error,
                                    Reason::TaskInvalid,
                                    why,
                                    Some(t.agent_id.clone()),
                                );
                                let u = self.update_message(&fid, s);
                                self.to_framework(&fid, u, &mut fx);
                            }
                        }
                    }
                }
                OfferOperation::LaunchGroup { tasks, .. } => {
                    for t in tasks {
                        let s = self.master_status(
                            t.task_id.clone(),
                            TaskState::Error,
                            Reason::TaskGroupInvalid,
                            "LAUNCH_GROUP is not supported by this master yet",
                            Some(t.agent_id.clone()),
                        );
                        let u = self.update_message(&fid, s);
                        self.to_framework(&fid, u, &mut fx);
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
        if self.scheduler(&fid, from, "accept").is_none() {
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
    fn reject_accept(
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
            let s = self.master_status(task_id, TaskState::Error, reason, why, Some(agent_id));
            let u = self.update_message(fid, s);
            self.to_framework(fid, u, fx);
        }
    }

    /// Validates one task against the offer; returns the resources it takes (the task's,
    /// plus its executor's if that executor is not yet running on the agent).
    fn validate_task(
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

    fn launch(
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
            self.frameworks.get_mut(fid),
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
        f.tasks.insert(t.task_id.clone(), task);
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

    // ----------------------------------------------------------------- tasks

    /// `KillTaskMessage` from a scheduler.
    pub fn kill_task(&mut self, from: &Pid, msg: KillTaskMessage) -> Vec<Effect> {
        let mut fx = Vec::new();
        let Some(f) = self.scheduler(&msg.framework_id, from, "kill") else {
            return fx;
        };
        match f.tasks.get(&msg.task_id) {
            Some(t) => match self.agents.get(&t.agent_id) {
                Some(a) if a.connected => fx.push(Effect::Send(a.pid.clone(), msg.into())),
                _ => {
                    tracing::warn!(task = %msg.task_id, "cannot kill a task on a disconnected agent; reconcile later")
                }
            },
            None if f.unreachable_tasks.contains_key(&msg.task_id) => {
                tracing::warn!(task = %msg.task_id, "cannot kill a task on an unreachable agent");
            }
            None => {
                let s = self.master_status(
                    msg.task_id.clone(),
                    TaskState::Lost,
                    Reason::Reconciliation,
                    "Attempted to kill an unknown task",
                    None,
                );
                let u = self.update_message(&msg.framework_id, s);
                fx.push(Effect::Send(from.clone(), u.into()));
            }
        }
        fx
    }

    /// `StatusUpdateMessage` from an agent: record and forward to the scheduler.
    pub fn status_update(&mut self, from: &Pid, mut msg: StatusUpdateMessage) -> Vec<Effect> {
        let mut fx = Vec::new();
        let Some(agent_id) = self.agent_pids.get(from).cloned() else {
            return self.not_registered(from);
        };
        let fid = msg.update.framework_id.clone();
        let status = msg.update.status.clone();
        if msg.pid.is_none() {
            msg.pid = Some(from.to_string());
        }
        let Some(f) = self.frameworks.get_mut(&fid) else {
            tracing::warn!(framework = %fid, task = %status.task_id, "status update for an unknown framework; dropped");
            return fx;
        };
        // A task that turns terminal stays in the framework's view (reconciliation
        // reports it) until its terminal update is acknowledged (Mesos); its resources
        // go back to the allocator at once.
        let mut finished = None;
        let reachable = f.tasks.contains_key(&status.task_id);
        let task = match f.tasks.get_mut(&status.task_id) {
            Some(t) => Some(t),
            None => f.unreachable_tasks.get_mut(&status.task_id),
        };
        if let Some(t) = task {
            if !t.state.is_terminal() {
                t.state = status.state;
                t.status_update_state = Some(status.state);
                t.statuses.push(status.clone());
                if t.statuses.len() > 32 {
                    t.statuses.remove(0);
                }
                if status.state.is_terminal() {
                    finished = Some((t.agent_id.clone(), t.resources.clone()));
                }
            }
            // The update the acknowledgement must name.
            if status.state == t.state {
                t.status_update_uuid = status.uuid;
            }
            if let Some(t) = f.unreachable_tasks.remove(&status.task_id) {
                f.tasks.insert(t.task_id.clone(), t);
            }
        }
        let pid = f.connected_pid().cloned();
        if let Some((agent, resources)) = finished {
            self.count_terminal(status.state);
            if reachable {
                fx.push(Effect::Allocator(
                    RecoverResources {
                        framework_id: fid.clone(),
                        agent_id: agent,
                        resources,
                        filters: None,
                    }
                    .into(),
                ));
            }
        }
        match pid {
            Some(pid) => fx.push(Effect::Send(pid, msg.into())),
            None => {
                tracing::debug!(framework = %fid, agent = %agent_id, "framework disconnected; the agent will retry the update")
            }
        }
        fx
    }

    /// `StatusUpdateAcknowledgementMessage` from a scheduler: forward to the agent.
    pub fn acknowledge(
        &mut self,
        from: &Pid,
        msg: StatusUpdateAcknowledgementMessage,
    ) -> Vec<Effect> {
        if self
            .scheduler(&msg.framework_id, from, "acknowledgement")
            .is_none()
        {
            return Vec::new();
        }
        match self.agents.get(&msg.agent_id) {
            Some(a) if a.connected => {
                let pid = a.pid.clone();
                // The terminal update is acknowledged: the task is done.
                let done = self.frameworks.get_mut(&msg.framework_id).and_then(|f| {
                    match f.tasks.get(&msg.task_id) {
                        Some(t)
                            if t.state.is_terminal() && t.status_update_uuid == Some(msg.uuid) =>
                        {
                            f.tasks.remove(&msg.task_id)
                        }
                        _ => None,
                    }
                });
                if let Some(t) = done {
                    self.retire_task(&msg.framework_id, t);
                }
                vec![Effect::Send(pid, msg.into())]
            }
            _ => {
                tracing::warn!(agent = %msg.agent_id, task = %msg.task_id, "acknowledgement for an unknown or disconnected agent; dropped");
                Vec::new()
            }
        }
    }

    /// `ReconcileTasksMessage`: answer with the latest known state of the named tasks
    /// (explicit) or of every task (implicit, empty list).
    pub fn reconcile(&mut self, from: &Pid, msg: ReconcileTasksMessage) -> Vec<Effect> {
        let mut fx = Vec::new();
        let Some(f) = self.scheduler(&msg.framework_id, from, "reconciliation") else {
            return fx;
        };
        let aware = f.info.is_partition_aware();
        let mut answers: Vec<TaskStatus> = Vec::new();
        let latest = |t: &Task, state: TaskState| -> TaskStatus {
            let last = t.statuses.last();
            let mut s = TaskStatus::new(t.task_id.clone(), state)
                .with_source(Source::Master)
                .with_reason(Reason::Reconciliation)
                .with_message("Reconciliation: Latest task state")
                .with_agent(t.agent_id.clone())
                .with_timestamp(self.now());
            s.executor_id = t.executor_id.clone();
            s.healthy = last.and_then(|l| l.healthy);
            s
        };
        let unreachable_state = if aware {
            TaskState::Unreachable
        } else {
            TaskState::Lost
        };
        // Unreachable agents on which this framework is now told its tasks are TASK_LOST.
        let mut lost_on: Vec<AgentId> = Vec::new();
        if msg.statuses.is_empty() {
            answers.extend(f.tasks.values().map(|t| latest(t, t.state)));
            answers.extend(
                f.unreachable_tasks
                    .values()
                    .map(|t| latest(t, unreachable_state)),
            );
        } else {
            for asked in &msg.statuses {
                if let Some(t) = f.tasks.get(&asked.task_id) {
                    answers.push(latest(t, t.state));
                } else if let Some(t) = f.unreachable_tasks.get(&asked.task_id) {
                    answers.push(latest(t, unreachable_state));
                } else {
                    let (state, why) = match &asked.agent_id {
                        Some(a) if self.agents.contains_key(a) => (
                            if aware {
                                TaskState::Gone
                            } else {
                                TaskState::Lost
                            },
                            "Reconciliation: Task is unknown to the agent",
                        ),
                        // Failover in progress: the agent may still re-register with it.
                        Some(a) if self.recovered.contains_key(a) => continue,
                        Some(a) if self.unreachable.contains_key(a) => {
                            if !aware {
                                lost_on.push(a.clone());
                            }
                            (unreachable_state, "Reconciliation: Task is unreachable")
                        }
                        _ => (
                            if aware {
                                TaskState::Unknown
                            } else {
                                TaskState::Lost
                            },
                            "Reconciliation: Task is unknown",
                        ),
                    };
                    let mut s = TaskStatus::new(asked.task_id.clone(), state)
                        .with_source(Source::Master)
                        .with_reason(Reason::Reconciliation)
                        .with_message(why)
                        .with_timestamp(self.now());
                    s.agent_id = asked.agent_id.clone();
                    answers.push(s);
                }
            }
        }
        let mut lost_noted = false;
        for a in &lost_on {
            // Durable before it is said: if the agent comes back, this framework's tasks
            // there must not run again.
            lost_noted |= self.registry.note_lost(a, &msg.framework_id);
        }
        if lost_noted {
            fx.push(Effect::PersistRegistry);
        }
        for s in answers {
            let u = self.update_message(&msg.framework_id, s);
            fx.push(Effect::Send(from.clone(), u.into()));
        }
        fx
    }

    /// `ReviveOffersMessage`.
    pub fn revive(&mut self, from: &Pid, msg: ReviveOffersMessage) -> Vec<Effect> {
        if self.scheduler(&msg.framework_id, from, "revive").is_none() {
            return Vec::new();
        }
        vec![Effect::Allocator(
            ReviveOffers {
                framework_id: msg.framework_id,
                roles: msg.roles,
            }
            .into(),
        )]
    }

    /// `SuppressOffersMessage`.
    pub fn suppress(&mut self, from: &Pid, msg: SuppressOffersMessage) -> Vec<Effect> {
        if self
            .scheduler(&msg.framework_id, from, "suppress")
            .is_none()
        {
            return Vec::new();
        }
        vec![Effect::Allocator(
            SuppressOffers {
                framework_id: msg.framework_id,
                roles: msg.roles,
            }
            .into(),
        )]
    }

    /// `FrameworkToExecutorMessage` from a scheduler: forward to the agent.
    pub fn framework_to_executor(
        &mut self,
        from: &Pid,
        msg: FrameworkToExecutorMessage,
    ) -> Vec<Effect> {
        if self
            .scheduler(&msg.framework_id, from, "framework message")
            .is_none()
        {
            return Vec::new();
        }
        match self.agents.get(&msg.agent_id) {
            Some(a) if a.connected => vec![Effect::Send(a.pid.clone(), msg.into())],
            _ => {
                tracing::warn!(agent = %msg.agent_id, "framework message for an unknown or disconnected agent; dropped");
                Vec::new()
            }
        }
    }

    /// `ExecutorToFrameworkMessage` from an agent: forward to the scheduler.
    pub fn executor_to_framework(
        &mut self,
        from: &Pid,
        msg: ExecutorToFrameworkMessage,
    ) -> Vec<Effect> {
        if !self.agent_pids.contains_key(from) {
            return self.not_registered(from);
        }
        let mut fx = Vec::new();
        let fid = msg.framework_id.clone();
        self.to_framework(&fid, msg, &mut fx);
        fx
    }

    /// `ExitedExecutorMessage` from an agent: forward to the scheduler.
    pub fn executor_exited(&mut self, from: &Pid, msg: ExitedExecutorMessage) -> Vec<Effect> {
        if !self.agent_pids.contains_key(from) {
            return self.not_registered(from);
        }
        let mut fx = Vec::new();
        let fid = msg.framework_id.clone();
        self.to_framework(&fid, msg, &mut fx);
        fx
    }

    // ---------------------------------------------------------------- views

    /// Resources used by tasks on `agent`, per framework.
    pub fn used_on_agent(&self, agent: &AgentId) -> BTreeMap<FrameworkId, Resources> {
        let mut out: BTreeMap<FrameworkId, Resources> = BTreeMap::new();
        for f in self.frameworks.values() {
            for t in f
                .tasks
                .values()
                .filter(|t| &t.agent_id == agent && !t.state.is_terminal())
            {
                *out.entry(f.id.clone()).or_default() += &t.resources;
            }
        }
        out
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

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;

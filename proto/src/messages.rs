//! The internal protocol between master, agents, executors and schedulers: one message
//! type per Mesos `mesos.internal.*` message we implement, sent as libproc messages.
//!
//! Who sends what (see `shared/DESIGN.md`, "The main flows"):
//! * scheduler → master: [`RegisterFrameworkMessage`], [`ReregisterFrameworkMessage`],
//!   [`AcceptOffersMessage`], [`DeclineOffersMessage`], [`KillTaskMessage`],
//!   [`StatusUpdateAcknowledgementMessage`], [`ReviveOffersMessage`],
//!   [`SuppressOffersMessage`], [`ReconcileTasksMessage`], [`FrameworkToExecutorMessage`],
//!   [`UnregisterFrameworkMessage`], [`DeactivateFrameworkMessage`].
//! * master → scheduler: [`FrameworkRegisteredMessage`], [`FrameworkReregisteredMessage`],
//!   [`ResourceOffersMessage`], [`RescindResourceOfferMessage`], [`StatusUpdateMessage`],
//!   [`LostSlaveMessage`], [`ExitedExecutorMessage`], [`ExecutorToFrameworkMessage`],
//!   [`FrameworkErrorMessage`].
//! * agent ⇄ master: [`RegisterSlaveMessage`] → [`SlaveRegisteredMessage`],
//!   [`ReregisterSlaveMessage`] → [`SlaveReregisteredMessage`], [`PingSlaveMessage`] /
//!   [`PongSlaveMessage`], [`RunTaskMessage`], [`KillTaskMessage`], [`StatusUpdateMessage`]
//!   and its acknowledgement, [`ShutdownFrameworkMessage`], [`ShutdownExecutorMessage`],
//!   [`UpdateFrameworkMessage`], [`ExitedExecutorMessage`], [`UnregisterSlaveMessage`],
//!   [`ShutdownMessage`].
//! * executor ⇄ agent: [`RegisterExecutorMessage`] → [`ExecutorRegisteredMessage`],
//!   [`RunTaskMessage`], [`KillTaskMessage`], [`StatusUpdateMessage`] and its
//!   acknowledgement, [`ReconnectExecutorMessage`] → [`ReregisterExecutorMessage`] →
//!   [`ExecutorReregisteredMessage`], [`ShutdownExecutorMessage`],
//!   [`FrameworkToExecutorMessage`] / [`ExecutorToFrameworkMessage`].
//!
//! PIDs travel as `id@ip:port` strings ([`libproc::Pid`] serializes that way).

use libproc::Pid;
use serde::{Deserialize, Serialize};

use crate::{
    AgentId, AgentInfo, ContainerInfo, DiscoveryInfo, ExecutorId, ExecutorInfo, Filters,
    FrameworkId, FrameworkInfo, HealthCheck, KillPolicy, Labels, MasterInfo, Offer, OfferId,
    OfferOperation, Resources, StatusUuid, TaskId, TaskInfo, TaskState, TaskStatus,
};

/// A task as master and agent track it (Mesos `Task`): what was launched and where it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Task name.
    pub name: String,
    /// Task id (unique within its framework).
    pub task_id: TaskId,
    /// Owning framework.
    pub framework_id: FrameworkId,
    /// The executor running it (the command executor's id for command tasks).
    #[serde(default)]
    pub executor_id: Option<ExecutorId>,
    /// The agent it runs on.
    pub agent_id: AgentId,
    /// Latest known state.
    pub state: TaskState,
    /// Resources it holds.
    pub resources: Resources,
    /// Status history (most recent last), as `/master/state` shows.
    #[serde(default)]
    pub statuses: Vec<TaskStatus>,
    /// State of the status update currently being delivered (Mesos `status_update_state`).
    #[serde(default)]
    pub status_update_state: Option<TaskState>,
    /// Its uuid.
    #[serde(default)]
    pub status_update_uuid: Option<StatusUuid>,
    /// Labels from the TaskInfo.
    #[serde(default)]
    pub labels: Labels,
    /// The role whose resources it uses.
    #[serde(default)]
    pub role: Option<String>,
    /// The user it runs as, when the TaskInfo names one (its command's or executor's user;
    /// otherwise the framework's user applies).
    #[serde(default)]
    pub user: Option<String>,
    /// Containerization settings from the TaskInfo.
    #[serde(default)]
    pub container: Option<ContainerInfo>,
    /// Health check from the TaskInfo.
    #[serde(default)]
    pub health_check: Option<HealthCheck>,
    /// Service discovery information from the TaskInfo.
    #[serde(default)]
    pub discovery: Option<DiscoveryInfo>,
}

impl Task {
    /// The record for a task just accepted from a TaskInfo (state `TASK_STAGING`).
    pub fn from_info(
        info: &TaskInfo,
        framework_id: FrameworkId,
        executor_id: Option<ExecutorId>,
    ) -> Task {
        Task {
            name: info.name.clone(),
            task_id: info.task_id.clone(),
            framework_id,
            executor_id,
            agent_id: info.agent_id.clone(),
            state: TaskState::Staging,
            resources: info.resources.clone(),
            statuses: Vec::new(),
            status_update_state: None,
            status_update_uuid: None,
            labels: info.labels.clone(),
            role: None,
            user: info
                .command
                .as_ref()
                .and_then(|c| c.user.clone())
                .or_else(|| info.executor.as_ref().and_then(|e| e.command.user.clone())),
            container: info.container.clone(),
            health_check: info.health_check.clone(),
            discovery: info.discovery.clone(),
        }
    }
}

/// A task status on its way from executor (or agent, or master) to the scheduler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusUpdate {
    /// Owning framework.
    pub framework_id: FrameworkId,
    /// Executor that produced it, if any.
    #[serde(default)]
    pub executor_id: Option<ExecutorId>,
    /// Agent the task is on, if known.
    #[serde(default)]
    pub agent_id: Option<AgentId>,
    /// The status itself. `status.uuid` is set for updates that must be acknowledged;
    /// updates the master makes up (e.g. `TASK_ERROR`, `TASK_LOST`) carry none.
    pub status: TaskStatus,
    /// Seconds since the epoch when it was created (supplied by the sender).
    pub timestamp: f64,
    /// The newest state queued behind this one at the agent, if different.
    #[serde(default)]
    pub latest_state: Option<TaskState>,
}

/// How a master connection is supervised (Mesos `MasterSlaveConnection`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MasterSlaveConnection {
    /// `agent_ping_timeout × max_agent_ping_timeouts`, in seconds: the agent suspects the
    /// master is gone when no ping arrives for this long.
    pub total_ping_timeout_seconds: f64,
}

/// The text of the `FrameworkErrorMessage` a master answers a call with when it comes from
/// the scheduler of a framework the master holds as disconnected (Mesos's text): that
/// scheduler is connected in its own eyes only, and must subscribe again.
pub const FRAMEWORK_DISCONNECTED: &str = "Framework disconnected";

macro_rules! messages {
    ($( $(#[$doc:meta])* $name:ident $wire:literal { $( $(#[$fdoc:meta])* $field:ident : $ty:ty ),* $(,)? } )*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
            pub struct $name {
                $( $(#[$fdoc])* pub $field: $ty, )*
            }
            libproc::message!($name, $wire);
        )*

        /// The wire name of every message of this module.
        pub const NAMES: &[&str] = &[$($wire),*];

        /// Decodes `body` as the message named `name`, as a node receiving it from the
        /// network would (the fuzzer's entry point); `None` if `name` is not in [`NAMES`].
        pub fn decode_body(name: &str, body: &[u8]) -> Option<Result<(), String>> {
            let payload = || libproc::message::Payload::Remote(bytes::Bytes::copy_from_slice(body));
            match name {
                $( $wire => Some(payload().decode::<$name>().map(drop).map_err(|e| e.to_string())), )*
                _ => None,
            }
        }
    };
}

// Fields that can be absent are `#[serde(default)]`, so a sender that predates them still
// decodes (rolling upgrades); the rest are required.
messages! {
    /// Scheduler → master: subscribe a new framework.
    RegisterFrameworkMessage "mesos.internal.RegisterFrameworkMessage" {
        /// The framework (its `id` unset).
        framework: FrameworkInfo,
    }
    /// Scheduler → master: re-subscribe with an existing FrameworkID (after a master or
    /// scheduler failover).
    ReregisterFrameworkMessage "mesos.internal.ReregisterFrameworkMessage" {
        /// The framework, with `id` set.
        framework: FrameworkInfo,
        /// True if the scheduler itself failed over (a new scheduler process).
        #[serde(default)]
        failover: bool,
    }
    /// Master → scheduler: subscribed.
    FrameworkRegisteredMessage "mesos.internal.FrameworkRegisteredMessage" {
        /// The assigned id.
        framework_id: FrameworkId,
        /// The leading master.
        master_info: MasterInfo,
    }
    /// Master → scheduler: re-subscribed.
    FrameworkReregisteredMessage "mesos.internal.FrameworkReregisteredMessage" {
        /// The framework's id.
        framework_id: FrameworkId,
        /// The leading master.
        master_info: MasterInfo,
    }
    /// Scheduler → master: tear the framework down (kills its tasks).
    UnregisterFrameworkMessage "mesos.internal.UnregisterFrameworkMessage" {
        /// Which framework.
        framework_id: FrameworkId,
    }
    /// Scheduler → master: the scheduler is going away but may fail over (driver stop
    /// with failover).
    DeactivateFrameworkMessage "mesos.internal.DeactivateFrameworkMessage" {
        /// Which framework.
        framework_id: FrameworkId,
    }
    /// Master → scheduler: offers.
    ResourceOffersMessage "mesos.internal.ResourceOffersMessage" {
        /// The offers.
        #[serde(default)]
        offers: Vec<Offer>,
        /// The agents' PIDs, parallel to `offers` (for framework messages).
        #[serde(default)]
        pids: Vec<String>,
    }
    /// Master → scheduler: an offer is no longer valid.
    RescindResourceOfferMessage "mesos.internal.RescindResourceOfferMessage" {
        /// The rescinded offer.
        offer_id: OfferId,
    }
    /// Scheduler → master: accept offers with operations (Mesos `Call::ACCEPT`).
    AcceptOffersMessage "mesos.scheduler.Call.Accept" {
        /// The framework.
        framework_id: FrameworkId,
        /// The offers being used (all from one agent).
        #[serde(default)]
        offer_ids: Vec<OfferId>,
        /// What to do with them (LAUNCH, RESERVE, …).
        #[serde(default)]
        operations: Vec<OfferOperation>,
        /// Filter for the unused remainder.
        #[serde(default)]
        filters: Filters,
    }
    /// Scheduler → master: decline offers (Mesos `Call::DECLINE`).
    DeclineOffersMessage "mesos.scheduler.Call.Decline" {
        /// The framework.
        framework_id: FrameworkId,
        /// The offers.
        #[serde(default)]
        offer_ids: Vec<OfferId>,
        /// How long not to re-offer these resources.
        #[serde(default)]
        filters: Filters,
    }
    /// Scheduler → master: clear filters and offer again (Mesos `Call::REVIVE`).
    ReviveOffersMessage "mesos.internal.ReviveOffersMessage" {
        /// The framework.
        framework_id: FrameworkId,
        /// Roles to revive (empty: all).
        #[serde(default)]
        roles: Vec<String>,
    }
    /// Scheduler → master: stop sending offers (Mesos `Call::SUPPRESS`).
    SuppressOffersMessage "mesos.scheduler.Call.Suppress" {
        /// The framework.
        framework_id: FrameworkId,
        /// Roles to suppress (empty: all).
        #[serde(default)]
        roles: Vec<String>,
    }
    /// Scheduler → master → agent → executor: kill a task.
    KillTaskMessage "mesos.internal.KillTaskMessage" {
        /// The framework.
        framework_id: FrameworkId,
        /// The task.
        task_id: TaskId,
        /// Overrides the task's kill policy.
        #[serde(default)]
        kill_policy: Option<KillPolicy>,
    }
    /// Executor → agent → master → scheduler: a status update.
    StatusUpdateMessage "mesos.internal.StatusUpdateMessage" {
        /// The update.
        update: StatusUpdate,
        /// The PID of the sender that expects the acknowledgement (the agent), if any.
        #[serde(default)]
        pid: Option<String>,
    }
    /// Scheduler → master → agent → executor: acknowledges one status update by uuid.
    StatusUpdateAcknowledgementMessage "mesos.internal.StatusUpdateAcknowledgementMessage" {
        /// The agent.
        agent_id: AgentId,
        /// The framework.
        framework_id: FrameworkId,
        /// The task.
        task_id: TaskId,
        /// The acknowledged update's uuid.
        uuid: StatusUuid,
    }
    /// Scheduler → master: reconcile task states; empty `statuses` asks for all tasks.
    ReconcileTasksMessage "mesos.internal.ReconcileTasksMessage" {
        /// The framework.
        framework_id: FrameworkId,
        /// Tasks to reconcile (only task_id and agent_id are read).
        #[serde(default)]
        statuses: Vec<TaskStatus>,
    }
    /// Scheduler → (master →) agent → executor: opaque data.
    FrameworkToExecutorMessage "mesos.internal.FrameworkToExecutorMessage" {
        /// The agent.
        agent_id: AgentId,
        /// The framework.
        framework_id: FrameworkId,
        /// The executor.
        executor_id: ExecutorId,
        /// The data.
        #[serde(default)]
        data: Vec<u8>,
    }
    /// Executor → agent → (master →) scheduler: opaque data.
    ExecutorToFrameworkMessage "mesos.internal.ExecutorToFrameworkMessage" {
        /// The agent.
        agent_id: AgentId,
        /// The framework.
        framework_id: FrameworkId,
        /// The executor.
        executor_id: ExecutorId,
        /// The data.
        #[serde(default)]
        data: Vec<u8>,
    }
    /// Master → scheduler: an agent was removed or became unreachable.
    LostSlaveMessage "mesos.internal.LostSlaveMessage" {
        /// The agent.
        agent_id: AgentId,
    }
    /// Agent → master → scheduler: an executor exited.
    ExitedExecutorMessage "mesos.internal.ExitedExecutorMessage" {
        /// The agent.
        agent_id: AgentId,
        /// The framework.
        framework_id: FrameworkId,
        /// The executor.
        executor_id: ExecutorId,
        /// Its wait status (exit code or signal, as `waitpid` reports).
        status: i32,
    }
    /// Master → scheduler: an error the framework cannot recover from (e.g. torn down).
    FrameworkErrorMessage "mesos.internal.FrameworkErrorMessage" {
        /// What went wrong.
        #[serde(default)]
        message: String,
    }
    /// Agent → master: register a new agent.
    RegisterSlaveMessage "mesos.internal.RegisterSlaveMessage" {
        /// The agent (its `id` unset).
        slave: AgentInfo,
        /// Resources the agent checkpointed (dynamic reservations).
        #[serde(default)]
        checkpointed_resources: Resources,
        /// Agent version.
        #[serde(default)]
        version: String,
    }
    /// Agent → master: re-register after a master failover or a disconnection.
    ReregisterSlaveMessage "mesos.internal.ReregisterSlaveMessage" {
        /// The agent, with `id` set.
        slave: AgentInfo,
        /// Resources the agent checkpointed.
        #[serde(default)]
        checkpointed_resources: Resources,
        /// Executors running on it.
        #[serde(default)]
        executor_infos: Vec<ExecutorInfo>,
        /// Tasks on it, in their latest states.
        #[serde(default)]
        tasks: Vec<Task>,
        /// Frameworks with tasks or executors on it.
        #[serde(default)]
        frameworks: Vec<FrameworkInfo>,
        /// Agent version.
        #[serde(default)]
        version: String,
    }
    /// Master → agent: admitted.
    SlaveRegisteredMessage "mesos.internal.SlaveRegisteredMessage" {
        /// The assigned id.
        slave_id: AgentId,
        /// Ping supervision settings.
        #[serde(default)]
        connection: Option<MasterSlaveConnection>,
    }
    /// Master → agent: re-admitted.
    SlaveReregisteredMessage "mesos.internal.SlaveReregisteredMessage" {
        /// The agent's id.
        slave_id: AgentId,
        /// Ping supervision settings.
        #[serde(default)]
        connection: Option<MasterSlaveConnection>,
        /// Tasks the master launched on the agent that it did not report: the agent
        /// answers `TASK_LOST`/`TASK_DROPPED` for those it does not have (their
        /// `RunTaskMessage`, sent earlier on the same link, never reached it).
        #[serde(default)]
        reconciliations: Vec<ReconcileTasksMessage>,
    }
    /// Agent → master: the agent is shutting down for good.
    UnregisterSlaveMessage "mesos.internal.UnregisterSlaveMessage" {
        /// The agent.
        slave_id: AgentId,
    }
    /// Master → agent: are you there? `connected = false` tells an agent that believes it
    /// is registered that the master does not know it (it then re-registers).
    PingSlaveMessage "mesos.internal.PingSlaveMessage" {
        /// Whether the master considers the agent connected.
        #[serde(default)]
        connected: bool,
    }
    /// Agent → master: yes.
    PongSlaveMessage "mesos.internal.PongSlaveMessage" {}
    /// Master → agent (and agent → executor): run a task.
    RunTaskMessage "mesos.internal.RunTaskMessage" {
        /// The task's framework.
        framework: FrameworkInfo,
        /// The framework's id (also in `framework.id`).
        framework_id: FrameworkId,
        /// The task.
        task: TaskInfo,
        /// The scheduler's PID, for framework messages.
        #[serde(default)]
        pid: Option<String>,
    }
    /// Master → agent → executors: shut down everything of this framework.
    ShutdownFrameworkMessage "mesos.internal.ShutdownFrameworkMessage" {
        /// The framework.
        framework_id: FrameworkId,
    }
    /// Master → agent, agent → executor: shut this executor down.
    ShutdownExecutorMessage "mesos.internal.ShutdownExecutorMessage" {
        /// The executor.
        executor_id: ExecutorId,
        /// Its framework.
        framework_id: FrameworkId,
    }
    /// Master → agent: a framework's scheduler moved (failover).
    UpdateFrameworkMessage "mesos.internal.UpdateFrameworkMessage" {
        /// The framework.
        framework_id: FrameworkId,
        /// Its new scheduler PID.
        #[serde(default)]
        pid: Option<String>,
        /// Its (possibly updated) info.
        #[serde(default)]
        framework_info: Option<FrameworkInfo>,
    }
    /// Master → agent: the agent's checkpointed resources (its dynamic reservations) are
    /// now exactly `resources`; the agent persists them and applies them to its total.
    CheckpointResourcesMessage "mesos.internal.CheckpointResourcesMessage" {
        /// Every dynamically reserved resource of the agent.
        resources: Resources,
    }
    /// Master → scheduler: an offer operation (RESERVE, UNRESERVE, …) failed; nothing
    /// else in the accept is affected (Mesos `UpdateOperationStatusMessage` with
    /// `OPERATION_ERROR`).
    UpdateOperationStatusMessage "mesos.internal.UpdateOperationStatusMessage" {
        /// The framework.
        framework_id: FrameworkId,
        /// The agent of the offer.
        #[serde(default)]
        agent_id: Option<AgentId>,
        /// `OPERATION_ERROR` (or another Mesos operation state).
        state: String,
        /// The operation type, e.g. `RESERVE`.
        #[serde(default)]
        operation: String,
        /// Why.
        #[serde(default)]
        message: String,
    }
    /// Master → agent: you are refused or removed; shut down.
    ShutdownMessage "mesos.internal.ShutdownMessage" {
        /// Why.
        #[serde(default)]
        message: String,
    }
    /// Executor → agent: I am up.
    RegisterExecutorMessage "mesos.internal.RegisterExecutorMessage" {
        /// Its framework.
        framework_id: FrameworkId,
        /// Its id.
        executor_id: ExecutorId,
    }
    /// Agent → executor: registered; tasks follow as `RunTaskMessage`s.
    ExecutorRegisteredMessage "mesos.internal.ExecutorRegisteredMessage" {
        /// The executor's info.
        executor_info: ExecutorInfo,
        /// Its framework.
        framework_id: FrameworkId,
        /// The framework's info.
        framework_info: FrameworkInfo,
        /// The agent.
        slave_id: AgentId,
        /// The agent's info.
        slave_info: AgentInfo,
    }
    /// Agent → executor: I restarted; re-register with me.
    ReconnectExecutorMessage "mesos.internal.ReconnectExecutorMessage" {
        /// The agent.
        slave_id: AgentId,
    }
    /// Executor → agent: re-register, with what I run and what is unacknowledged.
    ReregisterExecutorMessage "mesos.internal.ReregisterExecutorMessage" {
        /// Its id.
        executor_id: ExecutorId,
        /// Its framework.
        framework_id: FrameworkId,
        /// Tasks it runs.
        #[serde(default)]
        tasks: Vec<TaskInfo>,
        /// Updates not yet acknowledged.
        #[serde(default)]
        updates: Vec<StatusUpdate>,
    }
    /// Agent → executor: re-registered.
    ExecutorReregisteredMessage "mesos.internal.ExecutorReregisteredMessage" {
        /// The agent.
        slave_id: AgentId,
        /// The agent's info.
        slave_info: AgentInfo,
    }
}

/// A PID carried as text in a message, parsed (`None` if absent or malformed).
pub fn parse_pid(text: &Option<String>) -> Option<Pid> {
    text.as_deref().and_then(|t| t.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use libproc::Message;

    #[test]
    fn names_are_unique() {
        let names = [
            RegisterFrameworkMessage::NAME,
            ReregisterFrameworkMessage::NAME,
            AcceptOffersMessage::NAME,
            DeclineOffersMessage::NAME,
            SuppressOffersMessage::NAME,
            StatusUpdateMessage::NAME,
            RunTaskMessage::NAME,
            PongSlaveMessage::NAME,
        ];
        let set: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(set.len(), names.len());
    }

    #[test]
    fn an_empty_map_decodes_to_defaults() {
        // Rolling upgrades: a sender that knows no fields still produces a decodable message.
        let empty =
            rmp_serde::to_vec_named(&std::collections::HashMap::<String, u8>::new()).unwrap();
        let m: PingSlaveMessage = rmp_serde::from_slice(&empty).unwrap();
        assert!(!m.connected);
        let r: ReviveOffersMessage = rmp_serde::from_slice(
            &rmp_serde::to_vec_named(&serde_json::json!({"framework_id": "f"})).unwrap(),
        )
        .unwrap();
        assert!(r.roles.is_empty(), "a newer optional field defaults");
        // A required field that is missing is an error, not a panic.
        assert!(rmp_serde::from_slice::<ReregisterSlaveMessage>(&empty).is_err());
    }
}

//! Agent recovery, checkpointing and master detection (Mesos `Slave::recover`,
//! `Slave::reregisterExecutor`, `Slave::detected`, and the `checkpoint(...)` calls).
//!
//! * **Checkpointing.** For frameworks with `FrameworkInfo.checkpoint` the agent writes its
//!   info, the framework, executor, run (forked and libproc PIDs), task records and each
//!   task's status update log under `<work_dir>/meta` ([`crate::checkpoint`]).
//! * **Checkpointed resources.** The master's `CheckpointResourcesMessage` (the agent's
//!   dynamic reservations) is written to `meta/resources/resources.info` and read back
//!   when the agent process is created, whatever its agent id or boot; the agent reports
//!   them in every (re-)registration and its total is its `--resources` with them applied.
//! * **Recovery.** [`load`] reads the checkpoint before the process starts (a reboot, seen
//!   through the boot id, means starting as a new agent). On start the agent takes its old
//!   id, rebuilds frameworks, executors, tasks and update streams, and sends
//!   `ReconnectExecutorMessage` to every executor whose process is still alive. Executors
//!   answer with `ReregisterExecutorMessage` (their tasks and unacknowledged updates); those
//!   that do not within `executor_reregistration_timeout` are killed. Executors that died
//!   while the agent was down, or are killed that way, get their live tasks `TASK_LOST`
//!   (`TASK_GONE` for partition-aware frameworks), as Mesos's recovery tests expect. Then
//!   detection starts and the agent re-registers with its tasks; unacknowledged updates go
//!   out once it is registered.
//! * **Watching recovered executors.** A restarted agent is not the parent of the executors
//!   it recovers and cannot wait for them. It polls their liveness every
//!   [`RECOVERED_EXECUTOR_POLL`] (the process exists, is not a zombie, and still leads its
//!   own session, which guards against PID reuse) and checks at once when the libproc link
//!   to the executor breaks. Their exit status is unknown.
//! * **Detection.** A [`detector::DetectorProcess`] tells the agent who leads; each new
//!   leader gets a (re-)registration with backoff; with no leader the agent waits.

use std::collections::BTreeSet;
use std::time::Duration;

use libproc::{Ctx, Message, Pid};
use proto::messages::*;
use proto::{ContainerId, ExecutorId, FrameworkId, Resources, TaskId};

use super::core::Subscription;
use super::{AgentProcess, Executor};
use crate::checkpoint::{self, AgentCheckpoint, CheckpointError, Meta, RunKey};
use crate::config::{AgentConfig, RecoverMode};
pub use crate::containerizer::posix::executor_alive;
use crate::containerizer::posix::kill_group;
use crate::containerizer::{Container, Termination};
use crate::status_update::UpdateRecord;
use crate::AgentError;

/// How often a restarted agent checks that the executors it recovered are still alive.
pub const RECOVERED_EXECUTOR_POLL: Duration = Duration::from_millis(500);

/// The agent's recovery and detection bookkeeping.
#[derive(Debug)]
pub struct RecoveryState {
    meta: Meta,
    boot_id: Option<String>,
    pending: Option<AgentCheckpoint>,
    recovering: bool,
    pub(super) master: Option<Pid>,
    detector: Option<(libproc::Node, Pid)>,
    /// Executors this agent did not spawn (recovered): watched by polling.
    recovered: BTreeSet<(FrameworkId, ExecutorId, ContainerId)>,
    polling: bool,
    /// The dynamic reservations the master asked this agent to checkpoint.
    pub(super) checkpointed_resources: Resources,
    /// A checkpoint write failed (see [`RecoveryState::checkpoint_failed`]).
    checkpoint_failed: std::cell::Cell<bool>,
}

impl RecoveryState {
    /// Nothing recovered yet, no master known.
    pub fn new(config: &AgentConfig) -> RecoveryState {
        let meta = Meta::new(&config.work_dir);
        let checkpointed_resources = match checkpoint::read_resources(&meta) {
            Ok(r) => {
                if !r.is_empty() {
                    tracing::info!(resources = %r, "recovered checkpointed resources");
                }
                r
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read the checkpointed resources; starting without dynamic reservations");
                Resources::new()
            }
        };
        RecoveryState {
            checkpointed_resources,
            meta,
            boot_id: checkpoint::read_boot_id(&config.boot_id_path),
            pending: None,
            recovering: true,
            master: None,
            detector: None,
            recovered: BTreeSet::new(),
            polling: false,
            checkpoint_failed: std::cell::Cell::new(false),
        }
    }
}

/// Reads the checkpoint as `config` says (before the agent process starts). `None`: start
/// as a new agent. `--recover=cleanup` kills the executors found and starts afresh.
pub fn load(config: &AgentConfig, port: u16) -> Result<Option<AgentCheckpoint>, AgentError> {
    let meta = Meta::new(&config.work_dir);
    let boot = checkpoint::read_boot_id(&config.boot_id_path);
    let latest = meta.latest_agent().display().to_string();
    let found = checkpoint::recover(&meta, boot.as_deref(), config.strict)
        .map_err(|e| AgentError::Recovery(e, latest.clone()))?;
    let Some(agent) = found.agent else {
        return Ok(None);
    };
    if config.recover == RecoverMode::Cleanup {
        tracing::info!(agent_id = %agent.id, "--recover=cleanup: killing recovered executors and starting as a new agent");
        for f in agent.frameworks.values() {
            for e in f.executors.values() {
                for run in e.runs.values().filter(|r| !r.completed) {
                    if run.forked_pid.is_some_and(executor_alive) {
                        kill_group(run.forked_pid);
                    }
                }
            }
        }
        let _ = std::fs::remove_file(meta.latest_agent());
        return Ok(None);
    }
    let mut diffs = vec![];
    if agent.info.hostname != config.hostname {
        diffs.push(format!(
            "hostname '{}' is now '{}'",
            agent.info.hostname, config.hostname
        ));
    }
    if agent.info.port != port {
        diffs.push(format!("port {} is now {port}", agent.info.port));
    }
    if agent.info.resources != config.resources {
        diffs.push(format!(
            "resources '{}' are now '{}'",
            agent.info.resources, config.resources
        ));
    }
    if agent.info.attributes != config.attributes {
        diffs.push("attributes changed".to_string());
    }
    if !diffs.is_empty() {
        return Err(AgentError::Incompatible(diffs.join("; "), latest));
    }
    Ok(Some(agent))
}

impl RecoveryState {
    /// Logs a failed checkpoint write and remembers it: the agent must not run on with a
    /// checkpoint that lags what it did (see [`RecoveryState::checkpoint_failed`]).
    fn log_ckpt(&self, what: &str, r: Result<(), CheckpointError>) {
        if let Err(e) = r {
            tracing::error!(error = %e, "failed to checkpoint {what}");
            self.checkpoint_failed.set(true);
        }
    }

    /// Whether a checkpoint write failed. The agent then stops at once, before acting on
    /// what it could not record (Mesos aborts on a failed checkpoint): a restart recovers
    /// from the last good checkpoint and the executors re-send what was not recorded.
    pub(super) fn checkpoint_failed(&self) -> bool {
        self.checkpoint_failed.get()
    }
}

impl AgentProcess {
    /// Hands the agent the checkpoint to recover when it starts (see [`load`]).
    pub fn with_recovery(mut self, agent: Option<AgentCheckpoint>) -> Self {
        self.rec.pending = agent;
        self
    }

    /// The currently detected master.
    pub fn master(&self) -> Option<&Pid> {
        self.rec.master.as_ref()
    }

    /// Whether the agent is still recovering (waiting for executors to re-register).
    pub fn is_recovering(&self) -> bool {
        self.rec.recovering
    }

    pub(super) fn send_master<M: Message>(&self, ctx: &Ctx<'_, Self>, msg: M) {
        match &self.rec.master {
            Some(m) => ctx.send(m, msg),
            None => tracing::debug!(message = M::NAME, "no master detected; dropping"),
        }
    }

    // ---- checkpoint writes --------------------------------------------------------------

    fn checkpoints(&self, fw: &FrameworkId) -> bool {
        self.core
            .frameworks
            .get(fw)
            .is_some_and(|f| f.info.checkpoint)
    }

    fn run_key(&self, fw: &FrameworkId, e: &Executor) -> Option<RunKey> {
        Some(RunKey {
            agent: self.info.id.clone()?,
            framework: fw.clone(),
            executor: e.info.executor_id.clone(),
            container: e.container_id.clone(),
        })
    }

    /// Registered: the agent's info, `latest` and the boot id.
    pub(super) fn checkpoint_agent(&self) {
        let Some(id) = self.info.id.clone() else {
            return;
        };
        let meta = &self.rec.meta;
        self.rec.log_ckpt(
            "the agent info",
            checkpoint::write_json(&meta.agent_info(&id), &self.info),
        );
        self.rec.log_ckpt(
            "the latest agent link",
            checkpoint::symlink_atomic(&meta.latest_agent(), id.as_str()),
        );
        if let Some(boot) = &self.rec.boot_id {
            self.rec.log_ckpt(
                "the boot id",
                checkpoint::write_atomic(&meta.boot_id(), boot.as_bytes()),
            );
        }
    }

    /// `CheckpointResourcesMessage`: persist the agent's dynamic reservations.
    pub(super) fn checkpoint_resources(&mut self, resources: Resources) {
        if resources == self.rec.checkpointed_resources {
            return;
        }
        tracing::info!(%resources, "checkpointing resources");
        self.rec.log_ckpt(
            "the checkpointed resources",
            checkpoint::write_resources(&self.rec.meta, &resources),
        );
        self.rec.checkpointed_resources = resources;
    }

    /// The agent's checkpointed resources (its dynamic reservations).
    pub fn checkpointed_resources(&self) -> &Resources {
        &self.rec.checkpointed_resources
    }

    /// A new executor run of a checkpointing framework: framework, executor and run.
    pub(super) fn checkpoint_executor(&self, fw: &FrameworkId, ex: &ExecutorId) {
        if !self.checkpoints(fw) {
            return;
        }
        let Some(f) = self.core.frameworks.get(fw) else {
            return;
        };
        let Some(e) = f.executors.get(ex) else {
            return;
        };
        let Some(key) = self.run_key(fw, e) else {
            return;
        };
        let meta = &self.rec.meta;
        let mut info = f.info.clone();
        info.id = Some(fw.clone());
        self.rec.log_ckpt(
            "the framework info",
            checkpoint::write_json(&meta.framework_info(&key.agent, fw), &info),
        );
        self.rec.log_ckpt(
            "the framework pid",
            checkpoint::write_atomic(
                &meta.framework_pid(&key.agent, fw),
                f.pid.clone().unwrap_or_default().as_bytes(),
            ),
        );
        self.rec.log_ckpt(
            "the executor info",
            checkpoint::write_json(&meta.executor_info(&key.agent, fw, ex), &e.info),
        );
        self.rec.log_ckpt(
            "the latest run link",
            checkpoint::symlink_atomic(
                &meta.latest_run(&key.agent, fw, ex),
                key.container.as_str(),
            ),
        );
        if let Some(pid) = e.os_pid {
            self.rec.log_ckpt(
                "the forked pid",
                checkpoint::write_atomic(&meta.forked_pid(&key), pid.to_string().as_bytes()),
            );
        }
    }

    /// A task accepted for a checkpointing framework (queued or launched).
    pub(super) fn checkpoint_task(&self, fw: &FrameworkId, task_id: &TaskId) {
        if !self.checkpoints(fw) {
            return;
        }
        let Some(e) = self
            .core
            .frameworks
            .get(fw)
            .and_then(|f| f.executors.values().find(|e| e.has_task(task_id)))
        else {
            return;
        };
        let Some(key) = self.run_key(fw, e) else {
            return;
        };
        let record = match e.launched.get(task_id) {
            Some(t) => t.clone(),
            None => match e.queued.iter().find(|t| t.task_id == *task_id) {
                Some(t) => {
                    let mut r = Task::from_info(t, fw.clone(), Some(e.info.executor_id.clone()));
                    r.agent_id = key.agent.clone();
                    r
                }
                None => return,
            },
        };
        self.rec.log_ckpt(
            "the task info",
            checkpoint::write_json(&self.rec.meta.task_info(&key, task_id), &record),
        );
    }

    /// The executor registered: its libproc PID.
    pub(super) fn checkpoint_libprocess_pid(&self, fw: &FrameworkId, ex: &ExecutorId) {
        if !self.checkpoints(fw) {
            return;
        }
        let Some(e) = self
            .core
            .frameworks
            .get(fw)
            .and_then(|f| f.executors.get(ex))
        else {
            return;
        };
        let (Some(key), Some(pid)) = (self.run_key(fw, e), e.pid.as_ref()) else {
            return;
        };
        self.rec.log_ckpt(
            "the executor's libprocess pid",
            checkpoint::write_atomic(
                &self.rec.meta.libprocess_pid(&key),
                pid.to_string().as_bytes(),
            ),
        );
    }

    /// An update accepted or acknowledged (the core said the framework checkpoints and
    /// which run holds the task): append it to the task's log.
    pub(super) fn checkpoint_update(
        &self,
        framework: FrameworkId,
        executor: ExecutorId,
        container: ContainerId,
        task: &TaskId,
        record: UpdateRecord,
    ) {
        let Some(agent) = self.info.id.clone() else {
            return;
        };
        let key = RunKey {
            agent,
            framework,
            executor,
            container,
        };
        self.rec.log_ckpt(
            "a status update",
            checkpoint::append_record(&self.rec.meta.task_updates(&key, task), &record),
        );
    }

    /// The executor exited: the run is over (the core said the framework checkpoints).
    pub(super) fn checkpoint_sentinel(
        &self,
        framework: FrameworkId,
        executor: ExecutorId,
        container: ContainerId,
    ) {
        let Some(agent) = self.info.id.clone() else {
            return;
        };
        let key = RunKey {
            agent,
            framework,
            executor,
            container,
        };
        self.rec.log_ckpt(
            "the executor sentinel",
            checkpoint::write_atomic(&self.rec.meta.sentinel(&key), b""),
        );
    }

    /// The framework is gone from this agent: its checkpoint goes too.
    pub(super) fn remove_framework_checkpoint(&self, fw: &FrameworkId) {
        let Some(id) = self.info.id.as_ref() else {
            return;
        };
        let dir = self.rec.meta.framework_dir(id, fw);
        if dir.exists() {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot remove a framework's checkpoint");
            }
        }
    }

    // ---- recovery -----------------------------------------------------------------------

    /// Called when the process starts: recover what the checkpoint holds, then detect.
    pub(super) fn start_recovery(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self.rec.pending.take() {
            Some(agent) => self.recover(ctx, agent),
            None => self.finish_recovery(ctx),
        }
    }

    fn recover(&mut self, ctx: &mut Ctx<'_, Self>, agent: AgentCheckpoint) {
        tracing::info!(agent_id = %agent.id, frameworks = agent.frameworks.len(), "recovering the agent from its checkpoint");
        self.info.id = Some(agent.id.clone());
        self.reg.recovered(agent.id.clone());
        let containerizer = self.containerizer.clone();
        let alive = |id: &ContainerId, os_pid: Option<i32>| {
            containerizer.alive(&Container {
                id: id.clone(),
                os_pid,
            })
        };
        let found = self.core.recover(agent, &self.config.work_dir, &alive);
        self.apply(found.effects, ctx);
        self.rec.recovered.extend(found.live);
        let slave_id = self.info.id.clone().unwrap_or_default();
        for pid in found.reconnect {
            tracing::info!(executor = %pid, "asking the executor to reconnect");
            ctx.link(&pid);
            ctx.send(
                &pid,
                ReconnectExecutorMessage {
                    slave_id: slave_id.clone(),
                },
            );
        }
        for (fw, ex, container) in found.dead {
            self.executor_exited(
                ctx,
                fw,
                ex,
                container,
                Termination {
                    status: -1,
                    description:
                        "could not be waited for: it was not running when the agent recovered"
                            .into(),
                },
            );
        }
        self.ensure_polling(ctx);
        if self.awaiting_reregistration() {
            let timeout = self.config.executor_reregistration_timeout;
            ctx.after(timeout, move |me: &mut Self, ctx| {
                me.reregistration_timeout(ctx, timeout)
            });
        } else {
            self.finish_recovery(ctx);
        }
    }

    fn awaiting_reregistration(&self) -> bool {
        self.core.awaiting_reregistration(&self.rec.recovered)
    }

    fn reregistration_timeout(&mut self, ctx: &mut Ctx<'_, Self>, timeout: Duration) {
        let e = self
            .core
            .reregistration_timeout(&self.rec.recovered, timeout);
        self.apply(e, ctx);
        self.finish_recovery(ctx);
    }

    /// Recovery is over: start detecting the master.
    fn finish_recovery(&mut self, ctx: &mut Ctx<'_, Self>) {
        if !self.rec.recovering {
            return;
        }
        self.rec.recovering = false;
        tracing::info!("recovery finished; detecting the master");
        match detector::spawn(ctx.node(), self.config.master.clone(), ctx.pid().clone()) {
            Ok(d) => self.rec.detector = Some((ctx.node().clone(), d.pid().clone())),
            Err(e) => tracing::error!(error = %e, "cannot start the master detector"),
        }
    }

    /// Stops the detector (the agent is stopping).
    pub(super) fn stop_detector(&mut self) {
        if let Some((node, pid)) = self.rec.detector.take() {
            node.terminate(&pid);
        }
    }

    /// `NewMasterDetected` from our detector.
    pub(super) fn detected(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: Pid,
        m: detector::NewMasterDetected,
    ) {
        if self.rec.detector.as_ref().map(|(_, p)| p) != Some(&from) {
            tracing::warn!(%from, "ignoring a master detection from a process that is not our detector");
            return;
        }
        if m.master.is_some() && m.master == self.rec.master {
            return;
        }
        if let Some(old) = self.rec.master.take() {
            ctx.unlink(&old);
        }
        match &m.master {
            Some(pid) => tracing::info!(master = %pid, "new master detected"),
            None => tracing::warn!("no master is leading; waiting for one to be elected"),
        }
        self.rec.master = m.master.clone();
        let e = self.reg.detected(m.master.is_some());
        self.apply_reg(e, ctx);
    }

    // ---- executor re-registration -------------------------------------------------------

    /// `ReregisterExecutorMessage`: a recovered executor answers our reconnect. The core
    /// takes it back (or tells it to shut down); the updates it could not deliver while
    /// the agent was down are recorded; tasks it never received are lost.
    pub(super) fn reregister_executor(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: Pid,
        msg: ReregisterExecutorMessage,
    ) {
        let (taken, e) =
            self.core
                .reregister_executor(&from, &msg, &self.info, &self.rec.recovered);
        self.apply(e, ctx);
        if taken {
            let reply_to = Some(from.to_string());
            self.executor_back(ctx, from, reply_to, msg);
        }
    }

    /// A v1 executor's SUBSCRIBE on the stream `from` (see `executor_http`): the same
    /// path as a re-registration, through the core's [`super::AgentCore::subscribe_executor`].
    pub(super) fn resubscribe_executor(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: Pid,
        msg: ReregisterExecutorMessage,
    ) {
        let (taken, e) = self
            .core
            .subscribe_executor(&from, &msg, &self.info, &self.rec.recovered);
        self.apply(e, ctx);
        match taken {
            Subscription::Refused => {}
            // Nothing was sent to it before: its tasks were just sent.
            Subscription::First => self.record_executor_updates(ctx, &from, None, msg.updates),
            Subscription::Again => self.executor_back(ctx, from, None, msg),
        }
    }

    /// An executor is back (re-registered or re-subscribed): the updates it holds
    /// unacknowledged are recorded (a duplicate of a recorded one only gets acknowledged
    /// again) and tasks it never received are lost.
    fn executor_back(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: Pid,
        reply_to: Option<String>,
        msg: ReregisterExecutorMessage,
    ) {
        self.record_executor_updates(ctx, &from, reply_to, msg.updates);
        let known: BTreeSet<TaskId> = msg.tasks.iter().map(|t| t.task_id.clone()).collect();
        let e = self
            .core
            .lost_undelivered(&msg.framework_id, &msg.executor_id, &known);
        self.apply(e, ctx);
        if self.rec.recovering && !self.awaiting_reregistration() {
            self.finish_recovery(ctx);
        }
    }

    /// Records the updates an executor brought when it came back.
    fn record_executor_updates(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: &Pid,
        reply_to: Option<String>,
        updates: Vec<StatusUpdate>,
    ) {
        for update in updates {
            self.status_update(
                ctx,
                from.clone(),
                StatusUpdateMessage {
                    update,
                    pid: reply_to.clone(),
                },
            );
        }
    }

    // ---- watching recovered executors ---------------------------------------------------

    fn ensure_polling(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.rec.polling || self.rec.recovered.is_empty() {
            return;
        }
        self.rec.polling = true;
        ctx.after(RECOVERED_EXECUTOR_POLL, |me: &mut Self, ctx| {
            me.rec.polling = false;
            me.check_recovered(ctx);
            me.ensure_polling(ctx);
        });
    }

    /// Turns every recovered executor whose process is gone into an exit.
    pub(super) fn check_recovered(&mut self, ctx: &mut Ctx<'_, Self>) {
        let keys: Vec<_> = self.rec.recovered.iter().cloned().collect();
        for key in keys {
            let (fw, ex, container) = key.clone();
            let os_pid = match self.core.executor_mut(&fw, &ex, &container) {
                None => {
                    self.rec.recovered.remove(&key);
                    continue;
                }
                Some(e) => e.os_pid,
            };
            if self.containerizer.alive(&Container {
                id: container.clone(),
                os_pid,
            }) {
                continue;
            }
            self.rec.recovered.remove(&key);
            tracing::info!(executor = %ex, pid = ?os_pid, "recovered executor exited");
            self.executor_exited(
                ctx,
                fw,
                ex,
                container,
                Termination {
                    status: -1,
                    description: "could not be waited for: it was recovered after an agent restart, so its exit status is unknown".into(),
                },
            );
        }
        if self.rec.recovering && !self.awaiting_reregistration() {
            self.finish_recovery(ctx);
        }
    }

    /// The libproc link to `pid` broke: if it is a recovered executor, check it now.
    pub(super) fn executor_link_broke(&mut self, ctx: &mut Ctx<'_, Self>, pid: &Pid) {
        let recovered = self.rec.recovered.iter().any(|(f, e, _)| {
            self.core
                .frameworks
                .get(f)
                .and_then(|fw| fw.executors.get(e))
                .is_some_and(|x| x.pid.as_ref() == Some(pid))
        });
        if recovered {
            self.check_recovered(ctx);
        }
    }
}

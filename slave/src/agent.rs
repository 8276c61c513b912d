//! The agent process (`slave(N)`): a libproc shell around the pure pieces ([`core`]'s
//! [`AgentCore`] for frameworks, executors, tasks and update streams, and
//! [`Registration`]). It feeds them messages and timers and carries their effects out;
//! it launches and destroys executors through a [`Containerizer`] (as their user, after
//! [`crate::fetcher`] brought their URIs into the sandbox), hands them their tasks
//! once they register, relays kills and shutdowns, turns executor exits into terminal
//! status updates, and serves `/state`, `/health` and `/flags` (and, in
//! [`operator_http`], the v1 operator API and the container endpoints). [`recovery`] holds
//! checkpointing, recovery after a restart (reconnecting to executors of checkpointing
//! frameworks) and master detection. Only the launch itself still changes the core's
//! tables from here (it adds the launched executor).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use libproc::{Ctx, Handlers, HttpResponse, Pid, Process};
use proto::http_authentication::{AGENT_READONLY, AGENT_READWRITE};
use proto::messages::*;
use proto::{
    AgentId, AgentInfo, CommandInfo, ContainerId, ContainerStatus, ExecutorId, ExecutorInfo,
    FrameworkId, Reason, Source, StatusUuid, TaskId, TaskInfo, TaskState, TaskStatus,
};
use tokio::sync::watch;

use crate::config::AgentConfig;
use crate::containerizer::{
    Container, Containerizer, DockerContainerizer, LaunchSpec, PosixContainerizer, Recovered,
    Termination,
};
use crate::paths;
use crate::registration::{ping_timeout_from_master, RegEffect, Registration};
use libproc::rng::SplitMix64;

mod authentication;
pub mod core;
pub use crate::containerizer::posix::session_members;
mod executor_http;
mod gc;
mod operator_http;
pub mod recovery;

/// Version reported to the master.
pub const VERSION: &str = proto::MESOS_VERSION;

pub use self::core::{AgentCore, Effect, Executor, ExecutorState, Framework, ToExecutor};

/// The agent process. Spawn it with [`crate::spawn`].
pub struct AgentProcess {
    config: AgentConfig,
    info: AgentInfo,
    reg: Registration,
    core: AgentCore,
    containerizer: Arc<dyn Containerizer>,
    fetcher: crate::fetcher::Fetcher,
    rng: SplitMix64,
    shutting_down: bool,
    start_time: f64,
    stopped: watch::Sender<bool>,
    /// Set when the agent stops on a failed checkpoint write (see [`AgentProcess::aborted`]).
    aborted: Arc<std::sync::atomic::AtomicBool>,
    rec: recovery::RecoveryState,
    gc: gc::GcState,
    /// Open v1 executor API streams.
    http: executor_http::Streams,
    /// This node's address, the `node` label of the agent's metrics.
    node_label: String,
    /// Authentication with the master (`--credential`).
    auth: authentication::AgentAuth,
}

/// How often the agent's gauges are refreshed.
const METRICS_INTERVAL: Duration = Duration::from_secs(1);

impl AgentProcess {
    /// A new agent; `stopped` flips to true when the process stops.
    pub fn new(config: AgentConfig, port: u16, stopped: watch::Sender<bool>) -> AgentProcess {
        let rec = recovery::RecoveryState::new(&config);
        let info = AgentInfo {
            hostname: config.hostname.clone(),
            port,
            id: None,
            resources: config.resources.clone(),
            attributes: config.attributes.clone(),
        };
        AgentProcess {
            reg: Registration::new(config.registration_backoff_factor, config.seed),
            containerizer: config.containerizer.clone().unwrap_or_else(|| {
                let posix = PosixContainerizer::new(config.isolation.clone());
                match &config.containerizers.docker {
                    Some(docker) => Arc::new(DockerContainerizer::new(
                        posix,
                        docker.clone(),
                        config.work_dir.clone(),
                    )),
                    None => Arc::new(posix),
                }
            }),
            fetcher: crate::fetcher::Fetcher::new(config.fetcher.clone()),
            core: AgentCore::new(
                config.status_update_retry_interval_min,
                config.status_update_retry_interval_max,
            ),
            rng: SplitMix64::new(config.seed.wrapping_add(1)),
            start_time: config.clock.now(),
            gc: gc::GcState::new(&config.gc, config.clock.now()),
            info,
            config,
            shutting_down: false,
            stopped,
            aborted: Arc::default(),
            rec,
            http: executor_http::Streams::default(),
            node_label: String::new(),
            auth: authentication::AgentAuth::default(),
        }
    }

    /// The id the master assigned, once registered.
    pub fn agent_id(&self) -> Option<&AgentId> {
        self.reg.agent_id()
    }

    /// Whether the agent is registered with its master.
    pub fn is_registered(&self) -> bool {
        self.reg.is_registered()
    }

    /// How long without a ping before the master is considered lost.
    pub fn master_ping_timeout(&self) -> Duration {
        self.reg.master_ping_timeout()
    }

    /// Becomes true when the agent stops because a checkpoint write failed (Mesos aborts
    /// then): a binary exits with a failure, so that a supervisor restarts it.
    pub fn aborted(&self) -> Arc<std::sync::atomic::AtomicBool> {
        self.aborted.clone()
    }

    /// The frameworks with executors here.
    pub fn frameworks(&self) -> &BTreeMap<FrameworkId, Framework> {
        &self.core.frameworks
    }

    /// The framework's status updates not acknowledged yet: (task, uuid).
    pub fn unacknowledged_updates(&self, framework_id: &FrameworkId) -> Vec<(TaskId, StatusUuid)> {
        self.core.updates.unacknowledged(framework_id)
    }

    /// OS pids (= process group ids) of every live executor.
    pub fn executor_os_pids(&self) -> Vec<i32> {
        self.core.executor_os_pids()
    }

    // ---- registration -------------------------------------------------------------------

    fn apply_reg(&mut self, effects: Vec<RegEffect>, ctx: &mut Ctx<'_, Self>) {
        for e in effects {
            match e {
                RegEffect::Register => {
                    let Some(master) = self.rec.master.clone() else {
                        continue;
                    };
                    ctx.link(&master);
                    if !self.authenticated_for(ctx, &master, &RegEffect::Register) {
                        continue;
                    }
                    let mut slave = self.info.clone();
                    slave.id = None;
                    tracing::info!(%master, "registering with the master");
                    ctx.send(
                        &master,
                        RegisterSlaveMessage {
                            slave,
                            checkpointed_resources: self.rec.checkpointed_resources.clone(),
                            version: VERSION.into(),
                        },
                    );
                }
                RegEffect::Reregister => {
                    let Some(master) = self.rec.master.clone() else {
                        continue;
                    };
                    ctx.link(&master);
                    if !self.authenticated_for(ctx, &master, &RegEffect::Reregister) {
                        continue;
                    }
                    tracing::info!(%master, "re-registering with the master");
                    let msg = self.reregister_message();
                    ctx.send(&master, msg);
                }
                RegEffect::RetryAfter { delay, generation } => {
                    ctx.after(delay, move |me: &mut Self, ctx| {
                        let e = me.reg.retry(generation);
                        me.apply_reg(e, ctx);
                    });
                }
                RegEffect::PingTimeoutAfter { delay, generation } => {
                    ctx.after(delay, move |me: &mut Self, ctx| {
                        let e = me.reg.ping_timeout(generation);
                        me.apply_reg(e, ctx);
                    });
                }
                RegEffect::Pong => self.send_master(ctx, PongSlaveMessage {}),
                RegEffect::Connected { agent_id, first } => {
                    tracing::info!(%agent_id, first, "registered with the master");
                    self.info.id = Some(agent_id.clone());
                    let dir = paths::slaves_root(&self.config.work_dir).join(agent_id.as_str());
                    if let Err(e) = std::fs::create_dir_all(&dir) {
                        tracing::error!(dir = %dir.display(), error = %e, "cannot create the agent's directory");
                    }
                    self.checkpoint_agent();
                    if self.stop_if_checkpoint_failed(ctx) {
                        return;
                    }
                    let e = self.core.connected();
                    self.apply(e, ctx);
                }
                RegEffect::Disconnected => {
                    tracing::warn!(master = ?self.rec.master, "lost the master");
                    self.forget_authentication();
                    self.core.disconnected();
                }
            }
        }
    }

    fn reregister_message(&self) -> ReregisterSlaveMessage {
        let (executor_infos, tasks, frameworks) = self.core.reregistration(&self.info);
        ReregisterSlaveMessage {
            slave: self.info.clone(),
            checkpointed_resources: self.rec.checkpointed_resources.clone(),
            executor_infos,
            tasks,
            frameworks,
            version: VERSION.into(),
        }
    }

    /// Counts a message refused for its sender (`slave/messages_refused_sender`).
    fn count_refused_sender(&self) {
        metrics::counter!("slave/messages_refused_sender", "node" => self.node_label.clone())
            .increment(1);
    }

    /// Whether `from` is the master this agent follows; if not, the message is refused and
    /// counted (`slave/messages_refused_sender`).
    fn is_from_master(&self, from: &Pid, what: &str) -> bool {
        if self.rec.master.as_ref() == Some(from) {
            true
        } else {
            self.count_refused_sender();
            tracing::warn!(%from, master = ?self.rec.master, "ignoring {what} from a process that is not our master");
            false
        }
    }

    // ---- status updates -----------------------------------------------------------------

    /// Carries out what the core asked for, in order.
    /// After a failed checkpoint write the agent stops at once, as a crash (its executors
    /// live on), and acts on nothing more (see `RecoveryState::checkpoint_failed`). True
    /// if it stopped.
    fn stop_if_checkpoint_failed(&mut self, ctx: &mut Ctx<'_, Self>) -> bool {
        if !self.rec.checkpoint_failed() {
            return false;
        }
        tracing::error!(
            "a checkpoint write failed: the agent stops, to recover from its last good checkpoint"
        );
        self.aborted
            .store(true, std::sync::atomic::Ordering::SeqCst);
        ctx.stop();
        true
    }

    fn apply(&mut self, effects: Vec<Effect>, ctx: &mut Ctx<'_, Self>) {
        for e in effects {
            if self.stop_if_checkpoint_failed(ctx) {
                return;
            }
            match e {
                Effect::ForwardUpdate(update) => {
                    tracing::debug!(task = %update.status.task_id, state = %update.status.state.as_str(), "forwarding status update");
                    let pid = Some(ctx.pid().to_string());
                    self.send_master(ctx, StatusUpdateMessage { update, pid });
                }
                Effect::ReportUnknownTask {
                    framework_id,
                    task_id,
                    state,
                    message,
                } => self.report_unknown_task(ctx, framework_id, task_id, state, message),
                Effect::RetryUpdate {
                    framework_id,
                    task_id,
                    generation,
                    delay,
                } => {
                    ctx.after(delay, move |me: &mut Self, ctx| {
                        let e = me.core.retry_update(&framework_id, &task_id, generation);
                        me.apply(e, ctx);
                    });
                }
                Effect::CheckpointUpdate {
                    framework_id,
                    executor_id,
                    container_id,
                    task_id,
                    record,
                } => self.checkpoint_update(
                    framework_id,
                    executor_id,
                    container_id,
                    &task_id,
                    record,
                ),
                Effect::RemoveFrameworkCheckpoint(framework_id) => {
                    self.remove_framework_checkpoint(&framework_id)
                }
                // An HTTP executor's "PID" is its event stream.
                Effect::SendExecutor { to, message } if proto::v1::is_stream_pid(&to) => {
                    self.send_to_executor_stream(ctx, &to, &message)
                }
                Effect::Link(pid) if proto::v1::is_stream_pid(&pid) => {}
                Effect::SendExecutor { to, message } => match message {
                    ToExecutor::Registered(m) => ctx.send(&to, m),
                    ToExecutor::Reregistered(m) => ctx.send(&to, m),
                    ToExecutor::RunTask(m) => ctx.send(&to, m),
                    ToExecutor::KillTask(m) => ctx.send(&to, m),
                    ToExecutor::Shutdown(m) => ctx.send(&to, m),
                },
                Effect::Link(pid) => ctx.link(&pid),
                Effect::CheckpointExecutorPid {
                    framework_id,
                    executor_id,
                } => self.checkpoint_libprocess_pid(&framework_id, &executor_id),
                Effect::AgentUpdate {
                    framework_id,
                    executor_id,
                    task_id,
                    state,
                    reason,
                    message,
                } => self.agent_update(
                    ctx,
                    &framework_id,
                    Some(&executor_id),
                    &task_id,
                    state,
                    reason,
                    message,
                ),
                Effect::ShutdownExecutor {
                    framework_id,
                    executor_id,
                } => self.shutdown_executor(ctx, &framework_id, &executor_id),
                Effect::ExecutorExited(m) => self.send_master(ctx, m),
                Effect::Destroy {
                    framework_id,
                    executor_id,
                    container_id,
                } => {
                    if let Some(e) =
                        self.core
                            .executor_mut(&framework_id, &executor_id, &container_id)
                    {
                        self.containerizer.destroy(&container_of(e));
                    }
                }
                Effect::DestroyAfter {
                    framework_id,
                    executor_id,
                    container_id,
                    delay,
                } => {
                    ctx.after(delay, move |me: &mut Self, _ctx| {
                        if let Some(e) =
                            me.core
                                .executor_mut(&framework_id, &executor_id, &container_id)
                        {
                            tracing::warn!(executor = %executor_id, "executor did not exit within the grace period; killing it");
                            me.containerizer.destroy(&container_of(e));
                        }
                    });
                }
                Effect::LaunchExecutor {
                    framework_id,
                    executor,
                    task,
                } => self.launch_executor(ctx, framework_id, executor, task),
                Effect::UpdateContainer {
                    container_id,
                    resources,
                } => {
                    let _ = self.containerizer.update(&container_id, &resources);
                }
                Effect::CheckpointTask {
                    framework_id,
                    task_id,
                } => self.checkpoint_task(&framework_id, &task_id),
                Effect::CheckpointSentinel {
                    framework_id,
                    executor_id,
                    container_id,
                } => self.checkpoint_sentinel(framework_id, executor_id, container_id),
                Effect::RunFinished {
                    framework_id,
                    executor_id,
                    container_id,
                    directory,
                    checkpoint,
                } => self.gc_run_finished(
                    ctx,
                    (framework_id, executor_id, container_id),
                    directory,
                    checkpoint,
                ),
                Effect::FrameworkFinished(framework_id) => {
                    self.gc_framework_finished(ctx, &framework_id)
                }
            }
        }
        self.stop_if_checkpoint_failed(ctx);
    }

    /// Records an update in the core and carries out what follows.
    fn record_update(&mut self, update: StatusUpdate, ctx: &mut Ctx<'_, Self>) {
        let e = self.core.record_update(update);
        self.apply(e, ctx);
    }

    /// Tells the master, straight away (no update stream: the framework may be unknown
    /// here), about each task it asked after that this agent does not have.
    fn report_unknown_tasks(&mut self, ctx: &mut Ctx<'_, Self>, asked: &[ReconcileTasksMessage]) {
        for (framework_id, task_id, state) in self.core.unknown_tasks(asked) {
            tracing::warn!(task = %task_id, framework = %framework_id, ?state, "the master asked about a task this agent never got");
            let message = "Reconciliation: task unknown to the agent".to_string();
            self.report_unknown_task(ctx, framework_id, task_id, state, message);
        }
    }

    /// Sends the master a `state` update (reason `Reconciliation`) for a task this agent
    /// does not have.
    fn report_unknown_task(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        framework_id: FrameworkId,
        task_id: TaskId,
        state: TaskState,
        message: String,
    ) {
        let now = self.config.clock.now();
        let uuid = proto::StatusUuid::from_bytes(self.rng.uuid_bytes());
        let mut status = TaskStatus::new(task_id, state)
            .with_source(Source::Agent)
            .with_reason(Reason::Reconciliation)
            .with_message(message)
            .with_timestamp(now)
            .with_uuid(uuid);
        if let Some(id) = self.info.id.clone() {
            status = status.with_agent(id);
        }
        let update = StatusUpdate {
            framework_id,
            executor_id: None,
            agent_id: self.info.id.clone(),
            status,
            timestamp: now,
            latest_state: None,
        };
        self.apply(vec![Effect::ForwardUpdate(update)], ctx);
    }

    /// An update the agent makes itself (executor exited, task killed before launch, …).
    #[allow(clippy::too_many_arguments)]
    fn agent_update(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        framework_id: &FrameworkId,
        executor_id: Option<&ExecutorId>,
        task_id: &TaskId,
        state: TaskState,
        reason: Reason,
        message: String,
    ) {
        let now = self.config.clock.now();
        let uuid = proto::StatusUuid::from_bytes(self.rng.uuid_bytes());
        let e = self.core.agent_update(
            &self.info,
            framework_id,
            executor_id,
            task_id,
            (state, reason, message),
            (now, uuid),
        );
        self.apply(e, ctx);
    }

    fn status_update(&mut self, ctx: &mut Ctx<'_, Self>, from: Pid, msg: StatusUpdateMessage) {
        let mut update = msg.update;
        // Only the executor running a task speaks for it (a forged TASK_FINISHED would
        // free its resources while it runs).
        let from_its_executor = self
            .core
            .frameworks
            .get(&update.framework_id)
            .and_then(|f| {
                f.executors
                    .values()
                    .find(|e| e.has_task(&update.status.task_id))
            })
            .is_some_and(|e| e.pid.as_ref() == Some(&from));
        if !from_its_executor {
            self.count_refused_sender();
            tracing::warn!(%from, task = %update.status.task_id, framework = %update.framework_id, "ignoring a status update not from the executor running the task");
            return;
        }
        let reply_to = parse_pid(&msg.pid).unwrap_or(from);
        if update.agent_id.is_none() {
            update.agent_id = self.info.id.clone();
        }
        if update.status.agent_id.is_none() {
            update.status.agent_id = self.info.id.clone();
        }
        if update.status.executor_id.is_none() {
            update.status.executor_id = update.executor_id.clone();
        }
        if update.status.source.is_none() {
            update.status.source = Some(Source::Executor);
        }
        if update.status.state == TaskState::Running && update.status.container_status.is_none() {
            // Mesos's agent adds what its containerizer knows: the container and its
            // addresses (ours run on the host network: the agent's address).
            let container_id = update.executor_id.as_ref().and_then(|e| {
                self.core
                    .frameworks
                    .get(&update.framework_id)
                    .and_then(|f| f.executors.get(e))
                    .map(|x| x.container_id.clone())
            });
            let ip = ctx.pid().addr().ip().to_string();
            update.status.container_status =
                Some(Box::new(ContainerStatus::on_host(container_id, &ip)));
        }
        let Some(uuid) = update.status.uuid else {
            tracing::warn!(task = %update.status.task_id, "dropping executor status update without a uuid");
            self.count("slave/invalid_status_updates");
            return;
        };
        self.count("slave/valid_status_updates");
        if update.status.is_terminal() {
            let name = format!("slave/tasks_{}", update.status.state.metric_suffix());
            metrics::counter!(name, "node" => self.node_label.clone()).increment(1);
        }
        let ack = StatusUpdateAcknowledgementMessage {
            agent_id: self.info.id.clone().unwrap_or_default(),
            framework_id: update.framework_id.clone(),
            task_id: update.status.task_id.clone(),
            uuid,
        };
        tracing::info!(task = %update.status.task_id, state = %update.status.state.as_str(), "status update from executor");
        if update.status.is_terminal() {
            // A container that hit a limit is destroyed and its tasks fail as the isolator
            // says (Mesos `MesosContainerizerProcess::limited`).
            let container = self
                .core
                .frameworks
                .get(&update.framework_id)
                .and_then(|f| {
                    f.executors
                        .values()
                        .find(|e| e.has_task(&update.status.task_id))
                })
                .map(|e| e.container_id.clone());
            if let Some(l) = container.and_then(|c| self.containerizer.limitation(&c)) {
                l.apply(&mut update.status);
                let e = self.core.container_limited(
                    &update.framework_id,
                    &update.status.task_id,
                    (l.reason, l.message),
                );
                self.apply(e, ctx);
            }
        }
        self.record_update(update, ctx);
        if self.stop_if_checkpoint_failed(ctx) {
            // Not recorded: the executor keeps it and re-sends it to the restarted agent.
            return;
        }
        // Recorded (or a duplicate of one recorded): the executor may forget it.
        if proto::v1::is_stream_pid(&reply_to) {
            self.ack_executor_stream(ctx, &reply_to, &ack);
        } else {
            ctx.send(&reply_to, ack);
        }
    }

    fn acknowledgement(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: Pid,
        msg: StatusUpdateAcknowledgementMessage,
    ) {
        if !self.is_from_master(&from, "a status update acknowledgement") {
            return;
        }
        let e = self
            .core
            .acknowledge(&msg.framework_id, &msg.task_id, msg.uuid);
        self.apply(e, ctx);
    }

    // ---- tasks and executors ------------------------------------------------------------

    fn command_executor_info(&self, task: &TaskInfo, framework_id: &FrameworkId) -> ExecutorInfo {
        let path = self.config.command_executor_path();
        let path_text = path.to_string_lossy().into_owned();
        let cmd_text = task
            .command
            .as_ref()
            .and_then(|c| c.value.clone())
            .unwrap_or_default();
        generated_executor(
            task,
            framework_id,
            CommandInfo::exec(path_text.clone(), vec![path_text]),
            format!(
                "Command Executor (Task: {}) (Command: sh -c '{}')",
                task.task_id, cmd_text
            ),
        )
    }

    /// The Docker executor for a command task with a DOCKER container: it carries the
    /// task's `ContainerInfo`, which marks its container as a Docker one.
    fn docker_executor_info(&self, task: &TaskInfo, framework_id: &FrameworkId) -> ExecutorInfo {
        let docker = self
            .config
            .containerizers
            .docker
            .clone()
            .unwrap_or_default();
        let path = self.config.docker_executor_path();
        let path_text = path.to_string_lossy().into_owned();
        let args = vec![
            path_text.clone(),
            format!("--docker={}", docker.docker.display()),
            format!("--docker_pull_policy={}", docker.pull_policy),
            format!(
                "--agent_work_dir={}",
                crate::containerizer::owner_label(&self.config.work_dir)
            ),
        ];
        let image = task
            .container
            .as_ref()
            .and_then(|c| c.docker.as_ref())
            .map(|d| d.image.clone())
            .unwrap_or_default();
        let mut info = generated_executor(
            task,
            framework_id,
            CommandInfo::exec(path_text, args),
            format!("Docker Executor (Task: {}) (Image: {image})", task.task_id),
        );
        info.container = task.container.clone();
        info
    }

    /// Which executor runs `task`, as the enabled containerizers allow (Mesos's composing
    /// containerizer: the first that supports the task launches it).
    fn choose_executor(
        &self,
        task: &TaskInfo,
        fw_id: &FrameworkId,
    ) -> Result<ExecutorInfo, String> {
        let c = &self.config.containerizers;
        let docker_task = task
            .container
            .as_ref()
            .is_some_and(|c| c.kind == proto::ContainerKind::Docker);
        match &task.executor {
            Some(e) if e.container.as_ref().is_some_and(|c| c.kind == proto::ContainerKind::Docker) => {
                Err("Custom executors in Docker containers are not supported; give the task a DOCKER container and a command instead".into())
            }
            Some(_) if docker_task => Err(
                "A task with a custom executor cannot have a DOCKER container of its own".into(),
            ),
            Some(_) if !c.mesos => {
                Err("No containerizer can launch the task: custom executors need the mesos containerizer (--containerizers=mesos)".into())
            }
            Some(e) => {
                let mut e = e.clone();
                e.framework_id = Some(fw_id.clone());
                Ok(e)
            }
            None if docker_task && c.docker.is_none() => Err(
                "No containerizer can launch the task: its container is of type DOCKER and this agent runs without the Docker containerizer (--containerizers=mesos,docker)".into(),
            ),
            None if docker_task => Ok(self.docker_executor_info(task, fw_id)),
            None if !c.mesos => Err(
                "No containerizer can launch the task: only the docker containerizer is enabled and the task has no DOCKER container".into(),
            ),
            None => Ok(self.command_executor_info(task, fw_id)),
        }
    }

    fn run_task(&mut self, ctx: &mut Ctx<'_, Self>, from: Pid, msg: RunTaskMessage) {
        if !self.is_from_master(&from, "RunTaskMessage") {
            return;
        }
        let fw_id = msg.framework_id.clone();
        let task = msg.task;
        if !self.reg.is_registered() || self.shutting_down {
            tracing::warn!(task = %task.task_id, "ignoring RunTaskMessage: the agent is not registered or shutting down");
            return;
        }
        let executor_info = match self.choose_executor(&task, &fw_id) {
            Ok(info) => info,
            Err(message) => {
                tracing::warn!(task = %task.task_id, %message, "no containerizer can launch the task");
                let ex_id = task.executor.as_ref().map(|e| e.executor_id.clone());
                self.agent_update(
                    ctx,
                    &fw_id,
                    ex_id.as_ref(),
                    &task.task_id,
                    TaskState::Failed,
                    Reason::ContainerLaunchFailed,
                    message,
                );
                return;
            }
        };
        let ex_id = executor_info.executor_id.clone();
        for (what, id) in [
            ("framework", fw_id.as_str()),
            ("executor", ex_id.as_str()),
            ("task", task.task_id.as_str()),
        ] {
            if !paths::safe_component(id) {
                let message =
                    format!("invalid {what} id '{id}': it cannot name a sandbox directory");
                self.agent_update(
                    ctx,
                    &fw_id,
                    Some(&ex_id),
                    &task.task_id,
                    TaskState::Error,
                    Reason::TaskInvalid,
                    message,
                );
                return;
            }
        }
        let e = self.core.run_task(
            RunTaskMessage {
                framework: msg.framework,
                framework_id: fw_id,
                task,
                pid: msg.pid,
            },
            executor_info,
            &self.info,
        );
        self.apply(e, ctx);
    }

    fn launch_executor(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        fw_id: FrameworkId,
        info: ExecutorInfo,
        task: TaskInfo,
    ) {
        let agent_id = self.info.id.clone().unwrap_or_default();
        let ex_id = info.executor_id.clone();
        // A restarted agent draws ids from the same seed as its previous run: skip those of
        // containers it recovered (cgroups and Docker names are keyed by them).
        let mut container_id =
            ContainerId::new(proto::StatusUuid::from_bytes(self.rng.uuid_bytes()).to_string());
        while self.core.container_known(&container_id) {
            container_id =
                ContainerId::new(proto::StatusUuid::from_bytes(self.rng.uuid_bytes()).to_string());
        }
        let dir = paths::sandbox(
            &self.config.work_dir,
            &agent_id,
            &fw_id,
            &ex_id,
            &container_id,
        );
        self.gc_reuse((&fw_id, &ex_id, &container_id), &dir);
        let checkpoint = self
            .core
            .frameworks
            .get(&fw_id)
            .is_some_and(|f| f.info.checkpoint);
        let agent_addr = ctx.node().addr();
        let mut environment: Vec<(String, String)> = info
            .command
            .environment
            .variables
            .iter()
            .map(|v| (v.name.clone(), v.value.clone()))
            .collect();
        let sandbox = dir.to_string_lossy().into_owned();
        for (name, value) in [
            ("MESOS_FRAMEWORK_ID", fw_id.to_string()),
            ("MESOS_EXECUTOR_ID", ex_id.to_string()),
            ("MESOS_SLAVE_ID", agent_id.to_string()),
            ("MESOS_AGENT_ID", agent_id.to_string()),
            ("MESOS_AGENT_ENDPOINT", agent_addr.to_string()),
            ("MESOS_SLAVE_PID", ctx.pid().to_string()),
            ("MESOS_DIRECTORY", sandbox.clone()),
            ("MESOS_SANDBOX", sandbox),
            (
                "MESOS_CHECKPOINT",
                if checkpoint { "1" } else { "0" }.into(),
            ),
            (
                "MESOS_RECOVERY_TIMEOUT",
                format!("{}secs", self.config.recovery_timeout.as_secs()),
            ),
            (
                "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
                format!(
                    "{}ms",
                    self.config.executor_shutdown_grace_period.as_millis()
                ),
            ),
            ("MESOS_CONTAINER_ID", container_id.to_string()),
            ("LIBPROCESS_IP", agent_addr.ip().to_string()),
        ] {
            environment.push((name.to_string(), value));
        }
        // An agent under fault injection lets its executors serve /fault/rules too (they
        // take no flags: `libproc::fault::enabled_from_env`).
        if ctx.node().faults().enabled() {
            environment.push(("MESOS_ENABLE_FAULT_INJECTION".into(), "true".into()));
        }
        let resources = info.resources.clone() + &task.resources;
        // The user the executor runs as (`--switch_user`), and its sandbox.
        let framework_user = self
            .core
            .frameworks
            .get(&fw_id)
            .map(|f| f.info.user.clone())
            .unwrap_or_default();
        let user = match crate::user::task_user(
            self.config.switch_user,
            info.command.user.as_deref(),
            &framework_user,
        )
        .map(|name| crate::user::RunAs::lookup(&name))
        .transpose()
        {
            Ok(user) => user,
            Err(e) => {
                // Mesos fails to create the sandbox for an unknown user and drops the task
                // with REASON_EXECUTOR_TERMINATED; here the task fails with that reason.
                tracing::warn!(executor = %ex_id, error = %e, "cannot run the executor as its user");
                let message = format!(
                    "Failed to create executor directory '{}': {e}",
                    dir.display()
                );
                self.agent_update(
                    ctx,
                    &fw_id,
                    Some(&ex_id),
                    &task.task_id,
                    TaskState::Failed,
                    Reason::ExecutorTerminated,
                    message,
                );
                return;
            }
        };
        // With URIs to fetch, the sandbox stays the agent's until the fetcher is done (it
        // then gives it all to the user): no process of that user can plant links in it
        // while files are written there as root.
        let owner = user.as_ref().filter(|_| info.command.uris.is_empty());
        if let Err(e) = crate::sandbox::create(&dir, owner) {
            let message = format!(
                "Failed to create executor directory '{}': {e}",
                dir.display()
            );
            self.agent_update(
                ctx,
                &fw_id,
                Some(&ex_id),
                &task.task_id,
                TaskState::Failed,
                Reason::ExecutorTerminated,
                message,
            );
            return;
        }
        let spec = LaunchSpec {
            container_id: container_id.clone(),
            executor: info.clone(),
            framework_id: fw_id.clone(),
            sandbox: dir.clone(),
            resources: resources.clone(),
            environment,
            user,
        };
        if !info.command.uris.is_empty() {
            // Fetch first, off the event loop; the executor waits as launching.
            let executor = Executor::launching(
                info,
                fw_id.clone(),
                container_id.clone(),
                dir,
                task,
                resources,
            );
            self.core.add_executor(ex_id.clone(), executor);
            self.checkpoint_executor(&fw_id, &ex_id);
            if self.stop_if_checkpoint_failed(ctx) {
                return;
            }
            tracing::info!(executor = %ex_id, container = %container_id, uris = spec.executor.command.uris.len(), "fetching the executor's URIs");
            let fetcher = self.fetcher.clone();
            let (uris, sandbox, user) = (
                spec.executor.command.uris.clone(),
                spec.sandbox.clone(),
                spec.user.clone(),
            );
            let fetch = async move { fetcher.fetch(uris, sandbox, user).await };
            ctx.spawn(
                async move {
                    tokio::spawn(fetch)
                        .await
                        .unwrap_or_else(|e| Err(format!("the fetcher failed: {e}")))
                },
                move |me: &mut Self, ctx, fetched| me.fetched(ctx, spec, fetched),
            );
            return;
        }
        let launched = match self.containerizer.launch(spec) {
            Ok(l) => l,
            Err(e) => {
                self.count("slave/container_launch_errors");
                tracing::error!(executor = %ex_id, error = %e, "failed to launch executor");
                let message = format!("Failed to launch executor {ex_id}: {e}");
                self.agent_update(
                    ctx,
                    &fw_id,
                    Some(&ex_id),
                    &task.task_id,
                    TaskState::Failed,
                    Reason::ContainerLaunchFailed,
                    message,
                );
                return;
            }
        };
        let os_pid = launched.container.os_pid;
        tracing::info!(executor = %ex_id, container = %container_id, pid = ?os_pid, dir = %dir.display(), "launched executor");
        if let Some(message) = &launched.isolation_error {
            tracing::error!(executor = %ex_id, %message, "cannot isolate the executor; killed it");
        }
        let isolated = match launched.isolation_error {
            Some(m) => Err(m),
            None => Ok(()),
        };
        let mut executor = Executor::launching(
            info,
            fw_id.clone(),
            container_id.clone(),
            dir,
            task,
            resources,
        );
        executor.os_pid = os_pid;
        executor.termination = isolated
            .err()
            .map(|m| (TaskState::Failed, Reason::ContainerLaunchFailed, m));
        self.core.add_executor(ex_id.clone(), executor);
        self.checkpoint_executor(&fw_id, &ex_id);
        if self.stop_if_checkpoint_failed(ctx) {
            return;
        }
        self.watch_executor(ctx, fw_id, ex_id, container_id);
    }

    /// Waits for a launched executor's exit and bounds its registration.
    fn watch_executor(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        fw_id: FrameworkId,
        ex_id: ExecutorId,
        container_id: ContainerId,
    ) {
        let (f2, e2, c2) = (fw_id.clone(), ex_id.clone(), container_id.clone());
        ctx.spawn(
            self.containerizer.wait(&container_id),
            move |me: &mut Self, ctx, termination| me.executor_exited(ctx, f2, e2, c2, termination),
        );
        let timeout = self.config.executor_registration_timeout;
        ctx.after(timeout, move |me: &mut Self, ctx| {
            me.registration_timeout(ctx, fw_id, ex_id, container_id, timeout)
        });
    }

    /// The executor's URIs are in its sandbox (or could not be fetched): launch it, unless
    /// it was shut down meanwhile. A failure fails its tasks with
    /// `REASON_CONTAINER_LAUNCH_FAILED`, as Mesos does.
    fn fetched(&mut self, ctx: &mut Ctx<'_, Self>, spec: LaunchSpec, fetched: Result<(), String>) {
        self.count(if fetched.is_ok() {
            "containerizer/fetcher/task_fetches_succeeded"
        } else {
            "containerizer/fetcher/task_fetches_failed"
        });
        let fw_id = spec.framework_id.clone();
        let ex_id = spec.executor.executor_id.clone();
        let container_id = spec.container_id.clone();
        let Some(e) = self.core.executor_mut(&fw_id, &ex_id, &container_id) else {
            return;
        };
        let failure = match fetched {
            Err(message) => Some((message, "could not fetch its URIs")),
            Ok(()) if e.state != ExecutorState::Launching => Some((
                "Executor was shut down before it was launched".to_string(),
                "was shut down before it was launched",
            )),
            Ok(()) => match self.containerizer.launch(spec) {
                Err(err) => Some((
                    format!("Failed to launch executor {ex_id}: {err}"),
                    "could not be launched",
                )),
                Ok(launched) => {
                    e.os_pid = launched.container.os_pid;
                    tracing::info!(executor = %ex_id, container = %container_id, pid = ?e.os_pid, "launched executor");
                    if let Some(m) = launched.isolation_error {
                        tracing::error!(executor = %ex_id, message = %m, "cannot isolate the executor; killed it");
                        e.termination = Some((TaskState::Failed, Reason::ContainerLaunchFailed, m));
                    }
                    None
                }
            },
        };
        match failure {
            None => {
                self.checkpoint_executor(&fw_id, &ex_id);
                if self.stop_if_checkpoint_failed(ctx) {
                    return;
                }
                self.watch_executor(ctx, fw_id, ex_id, container_id);
            }
            Some((message, description)) => {
                tracing::warn!(executor = %ex_id, %message, "executor not launched");
                if e.termination.is_none() && e.state == ExecutorState::Launching {
                    e.termination =
                        Some((TaskState::Failed, Reason::ContainerLaunchFailed, message));
                }
                let termination = Termination {
                    status: -1,
                    description: description.to_string(),
                };
                self.executor_exited(ctx, fw_id, ex_id, container_id, termination);
            }
        }
    }

    fn registration_timeout(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        fw: FrameworkId,
        ex: ExecutorId,
        container: ContainerId,
        timeout: Duration,
    ) {
        let e = self
            .core
            .registration_timeout(&fw, &ex, &container, timeout);
        self.apply(e, ctx);
    }

    fn register_executor(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: Pid,
        msg: RegisterExecutorMessage,
    ) {
        let e = self.core.register_executor(&from, msg, &self.info);
        self.apply(e, ctx);
    }

    fn kill_task(&mut self, ctx: &mut Ctx<'_, Self>, from: Pid, msg: KillTaskMessage) {
        if !self.is_from_master(&from, "KillTaskMessage") {
            return;
        }
        let e = self.core.kill_task(msg);
        self.apply(e, ctx);
    }

    fn shutdown_executor(&mut self, ctx: &mut Ctx<'_, Self>, fw: &FrameworkId, ex: &ExecutorId) {
        let grace = self.config.executor_shutdown_grace_period;
        let e = self.core.shutdown_executor(fw, ex, grace);
        self.apply(e, ctx);
    }

    fn executor_exited(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        fw_id: FrameworkId,
        ex_id: ExecutorId,
        container: ContainerId,
        termination: Termination,
    ) {
        let Some(e) = self.core.executor_mut(&fw_id, &ex_id, &container) else {
            return;
        };
        metrics::counter!("slave/executors_terminated", "node" => self.node_label.clone())
            .increment(1);
        // Nothing it started may outlive it.
        self.containerizer.destroy(&container_of(e));
        let limitation = self
            .containerizer
            .limitation(&container)
            .map(|l| (l.reason, l.message));
        self.containerizer.cleanup(&container);
        let clock = self.config.clock.clone();
        let rng = &mut self.rng;
        let mut stamp = || (clock.now(), proto::StatusUuid::from_bytes(rng.uuid_bytes()));
        let e = self.core.executor_exited(
            &self.info,
            &fw_id,
            &ex_id,
            &container,
            (termination.status, &termination.description),
            limitation,
            &mut stamp,
        );
        self.apply(e, ctx);
        if self.shutting_down
            && self
                .core
                .frameworks
                .values()
                .all(|f| f.executors.is_empty())
        {
            self.finish_shutdown(ctx);
        }
    }

    fn shutdown_framework(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: Pid,
        msg: ShutdownFrameworkMessage,
    ) {
        if !self.is_from_master(&from, "ShutdownFrameworkMessage") {
            return;
        }
        let grace = self.config.executor_shutdown_grace_period;
        let e = self.core.shutdown_framework(&msg.framework_id, grace);
        self.apply(e, ctx);
    }

    /// Shuts every executor down and stops the agent once they have exited (or after the
    /// grace period, killing what is left). `ShutdownMessage` from the master ends here.
    pub fn shutdown(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        let all: Vec<(FrameworkId, ExecutorId)> = self
            .core
            .frameworks
            .iter()
            .flat_map(|(f, fw)| fw.executors.keys().map(move |e| (f.clone(), e.clone())))
            .collect();
        if all.is_empty() {
            self.finish_shutdown(ctx);
            return;
        }
        for (f, e) in all {
            self.shutdown_executor(ctx, &f, &e);
        }
        let grace = self.config.executor_shutdown_grace_period + Duration::from_secs(1);
        ctx.after(grace, |me: &mut Self, ctx| me.finish_shutdown(ctx));
    }

    fn finish_shutdown(&mut self, ctx: &mut Ctx<'_, Self>) {
        for e in self
            .core
            .frameworks
            .values()
            .flat_map(|f| f.executors.values())
        {
            self.containerizer.destroy_blocking(&container_of(e));
        }
        tracing::info!("agent shut down");
        ctx.stop();
    }

    // ---- metrics ------------------------------------------------------------------------

    fn count(&self, name: &'static str) {
        metrics::counter!(name, "node" => self.node_label.clone()).increment(1);
    }

    /// Copies the core's figures into the metrics registry, every [`METRICS_INTERVAL`].
    fn metrics_tick(&mut self, ctx: &mut Ctx<'_, Self>) {
        let total = self
            .info
            .resources
            .with_checkpointed(&self.rec.checkpointed_resources);
        let uptime = self.config.clock.now() - self.start_time;
        for (name, v) in
            crate::metrics::gauges(&self.core, &total, self.reg.is_registered(), uptime)
        {
            metrics::gauge!(name, "node" => self.node_label.clone()).set(v);
        }
        ctx.after(METRICS_INTERVAL, |me: &mut Self, ctx| me.metrics_tick(ctx));
    }

    // ---- HTTP ---------------------------------------------------------------------------

    /// The `/state` document (Mesos field names).
    pub fn state_json(&self, pid: &Pid) -> serde_json::Value {
        let frameworks: Vec<_> = self
            .core
            .frameworks
            .values()
            .map(self::core::framework_json)
            .collect();
        let completed: Vec<_> = self
            .core
            .completed_frameworks
            .iter()
            .map(self::core::framework_json)
            .collect();
        // The total with dynamic reservations applied, and the reservations per role.
        let total = self
            .info
            .resources
            .with_checkpointed(&self.rec.checkpointed_resources);
        serde_json::json!({
            "version": VERSION,
            "id": self.info.id.as_ref().map(|i| i.to_string()).unwrap_or_default(),
            "pid": pid.to_string(),
            "hostname": self.info.hostname,
            "port": self.info.port,
            "start_time": self.start_time,
            "resources": total.to_json_map(),
            "reserved_resources": proto::state_json::reserved_by_role(&total, false),
            "reserved_resources_full": proto::state_json::reserved_by_role(&total, true),
            "capabilities": proto::state_json::AGENT_CAPABILITIES,
            "attributes": self.info.attributes.to_json_map(),
            "master_hostname": self.rec.master.as_ref().map(|m| m.addr().ip().to_string()).unwrap_or_default(),
            "registered": self.reg.is_registered(),
            "flags": self.config.flags,
            "frameworks": frameworks,
            "completed_frameworks": completed,
        })
    }
}

/// The containerizer's handle of an executor's container.
fn container_of(e: &Executor) -> Container {
    Container {
        id: e.container_id.clone(),
        os_pid: e.os_pid,
    }
}

impl Process for AgentProcess {
    fn install(h: &mut Handlers<Self>) {
        Self::install_authentication(h);
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: SlaveRegisteredMessage| {
                if me.is_from_master(&from, "SlaveRegisteredMessage") {
                    let t = m
                        .connection
                        .and_then(|c| ping_timeout_from_master(c.total_ping_timeout_seconds));
                    let e = me.reg.registered(m.slave_id, t);
                    me.apply_reg(e, ctx);
                }
            },
        );
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: SlaveReregisteredMessage| {
                if me.is_from_master(&from, "SlaveReregisteredMessage") {
                    let t = m
                        .connection
                        .and_then(|c| ping_timeout_from_master(c.total_ping_timeout_seconds));
                    let e = me.reg.reregistered(m.slave_id, t);
                    me.apply_reg(e, ctx);
                    me.report_unknown_tasks(ctx, &m.reconciliations);
                }
            },
        );
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: PingSlaveMessage| {
                if me.is_from_master(&from, "PingSlaveMessage") {
                    let e = me.reg.ping(m.connected);
                    me.apply_reg(e, ctx);
                }
            },
        );
        h.on(|me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: ShutdownMessage| {
            if me.is_from_master(&from, "ShutdownMessage") {
                tracing::warn!(message = %m.message, "the master asked this agent to shut down");
                me.shutdown(ctx);
            }
        });
        h.on(Self::run_task);
        h.on(Self::kill_task);
        h.on(Self::shutdown_framework);
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: ShutdownExecutorMessage| {
                if me.is_from_master(&from, "ShutdownExecutorMessage") {
                    me.shutdown_executor(ctx, &m.framework_id, &m.executor_id);
                }
            },
        );
        h.on(
            |me: &mut Self, _ctx: &mut Ctx<Self>, from: Pid, m: UpdateFrameworkMessage| {
                if me.is_from_master(&from, "UpdateFrameworkMessage") {
                    me.core.update_framework(m);
                }
            },
        );
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: CheckpointResourcesMessage| {
                if me.is_from_master(&from, "CheckpointResourcesMessage") {
                    me.checkpoint_resources(m.resources);
                    me.stop_if_checkpoint_failed(ctx);
                }
            },
        );
        h.on(Self::acknowledgement);
        h.on(Self::register_executor);
        h.on(Self::reregister_executor);
        h.on(Self::detected);
        h.on(Self::status_update);
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, _from: Pid, m: ExecutorToFrameworkMessage| {
                me.send_master(ctx, m);
            },
        );
        h.on(|me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: FrameworkToExecutorMessage| {
            if !me.is_from_master(&from, "FrameworkToExecutorMessage") {
                return;
            }
            let pid = me
                .core
            .frameworks
                .get(&m.framework_id)
                .and_then(|f| f.executors.get(&m.executor_id))
                .and_then(|e| e.pid.clone());
            match pid {
                Some(pid) if proto::v1::is_stream_pid(&pid) => {
                    me.message_executor_stream(ctx, &pid, &m)
                }
                Some(pid) => ctx.send(&pid, m),
                None => tracing::warn!(executor = %m.executor_id, "dropping framework message for an unknown executor"),
            }
        });
        // Open: Mesos authenticates executors with JWTs (--authenticate_http_executors),
        // which this agent does not implement.
        h.route("api/v1/executor", Self::executor_api);
        h.in_realm(AGENT_READWRITE, |h| {
            h.route_deferred("api/v1", Self::operator_api);
        });
        h.in_realm(AGENT_READONLY, |h| {
            for path in [
                "monitor/statistics",
                "monitor/statistics.json",
                "containers",
            ] {
                h.route_deferred(path, Self::container_statistics);
            }
            // Read-only, and read by the master's web UI from another origin.
            h.route("state", |me: &mut Self, ctx: &mut Ctx<Self>, _req| {
                HttpResponse::json(&me.state_json(ctx.pid()))
                    .with_header("Access-Control-Allow-Origin", "*")
            });
            h.route("flags", |me: &mut Self, _ctx: &mut Ctx<Self>, _req| {
                HttpResponse::json(&serde_json::json!({ "flags": me.config.flags }))
            });
        });
        h.route("health", |_me: &mut Self, _ctx: &mut Ctx<Self>, _req| {
            HttpResponse::text(200, "")
        });
        // Libprocess's `/version`, as the master's (the same version).
        h.route("version", |_me: &mut Self, _ctx: &mut Ctx<Self>, _req| {
            HttpResponse::json(&serde_json::json!({
                "version": VERSION,
                "build_date": "",
                "build_time": 0,
                "build_user": "",
            }))
        });
    }

    fn started(&mut self, ctx: &mut Ctx<'_, Self>) {
        tracing::info!(pid = %ctx.pid(), master = ?self.config.master, "agent started");
        self.node_label = ctx.pid().addr().to_string();
        for name in crate::metrics::COUNTERS {
            metrics::counter!(*name, "node" => self.node_label.clone()).increment(0);
        }
        self.metrics_tick(ctx);
        self.start_recovery(ctx);
        // Recovered executors keep their cgroups; orphans of a previous run lose theirs.
        let live: Vec<Recovered> = self
            .core
            .frameworks
            .values()
            .flat_map(|f| f.executors.values())
            .map(|e| Recovered {
                container: container_of(e),
                executor: e.info.clone(),
                framework_id: e.framework_id.clone(),
                resources: e.resources.clone(),
            })
            .collect();
        self.containerizer.recover(&live);
        self.gc_start(ctx);
    }

    fn exited(&mut self, ctx: &mut Ctx<'_, Self>, pid: Pid) {
        if self.rec.master.as_ref() == Some(&pid) {
            let e = self.reg.master_lost();
            self.apply_reg(e, ctx);
        } else {
            tracing::info!(%pid, "lost the connection to an executor");
            self.executor_link_broke(ctx, &pid);
        }
    }

    fn stopped(&mut self) {
        self.stop_detector();
        let _ = self.stopped.send(true);
    }
}

/// The executor the agent makes to run command task `task` with `command` (its program):
/// named `name`, its id and source the task's id, and the task's environment, URIs and user
/// carried over (the task's environment reaches it and through it the task; its URIs are
/// fetched for it and its user runs it, as for Mesos's command executor).
fn generated_executor(
    task: &TaskInfo,
    framework_id: &FrameworkId,
    mut command: CommandInfo,
    name: String,
) -> ExecutorInfo {
    if let Some(c) = &task.command {
        command.environment = c.environment.clone();
        command.uris = c.uris.clone();
        command.user = c.user.clone();
    }
    let mut info = ExecutorInfo::new(ExecutorId::new(task.task_id.as_str()), command);
    info.framework_id = Some(framework_id.clone());
    info.name = Some(name);
    info.source = Some(task.task_id.to_string());
    info
}

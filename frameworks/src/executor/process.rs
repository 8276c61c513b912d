//! The shell: the libproc process that registers with the agent and calls the
//! [`Executor`] back.

use super::*;

pub(super) struct ExecCore {
    pub(super) env: ExecutorEnv,
    pub(super) config: ExecutorConfig,
    pub(super) agent: Pid,
    pub(super) connected: bool,
    pub(super) agent_id: Option<AgentId>,
    pub(super) executor_info: Option<ExecutorInfo>,
    pub(super) framework_info: Option<FrameworkInfo>,
    pub(super) book: UpdateBook,
    pub(super) recovery_timer: Option<TimerId>,
    /// Bumped on every (re)connection so a stale recovery timer does nothing.
    pub(super) connection: u64,
    pub(super) shutting_down: bool,
    pub(super) stop_reason: Option<ExecutorStopReason>,
    pub(super) stop_tx: Option<oneshot::Sender<ExecutorStopReason>>,
}

/// The libproc process hosting an [`Executor`].
pub struct ExecutorProcess<E: Executor> {
    /// The user's executor: present until the process stops, then handed back.
    pub(super) executor: Option<E>,
    pub(super) core: ExecCore,
    /// Where the executor goes when the process stops.
    pub(super) handback: Option<oneshot::Sender<E>>,
}

/// The executor is only taken out of its process in `stopped`, after which nothing runs
/// on the process.
const PRESENT: &str = "the executor is present until its driver process stops";

/// The executor's handle on the driver inside a callback.
pub struct ExecutorDriver<'a, 'c, E: Executor> {
    pub(super) ctx: &'a mut Ctx<'c, ExecutorProcess<E>>,
    pub(super) core: &'a mut ExecCore,
}

impl<E: Executor> ExecutorProcess<E> {
    /// A driver process for `executor` in the environment `env`.
    pub fn new(env: ExecutorEnv, executor: E, config: ExecutorConfig) -> Self {
        let book = UpdateBook::new(
            env.framework_id.clone(),
            env.executor_id.clone(),
            config.seed,
        );
        ExecutorProcess {
            executor: Some(executor),
            handback: None,
            core: ExecCore {
                agent: env.agent_pid.clone(),
                agent_id: env.agent_id.clone(),
                env,
                config,
                connected: false,
                executor_info: None,
                framework_info: None,
                book,
                recovery_timer: None,
                connection: 0,
                shutting_down: false,
                stop_reason: None,
                stop_tx: None,
            },
        }
    }

    /// The user's executor.
    pub fn executor(&self) -> &E {
        self.executor.as_ref().expect(PRESENT)
    }

    /// The unacknowledged updates, oldest first.
    pub fn unacknowledged(&self) -> &[StatusUpdate] {
        self.core.book.unacknowledged()
    }

    /// Whether the driver is registered with a live agent.
    pub fn connected(&self) -> bool {
        self.core.connected
    }

    pub(super) fn active(&self) -> bool {
        self.core.stop_reason.is_none()
    }

    /// Whether a message came from the agent this executor belongs to (agent → executor
    /// messages from anyone else are ignored: a forged `RunTaskMessage` would run a task
    /// as the framework's user).
    fn is_from_agent(&self, from: &Pid, what: &str) -> bool {
        let ok = *from == self.core.agent;
        if !ok {
            tracing::warn!(%from, agent = %self.core.agent, "ignoring {what}: not from this executor's agent");
        }
        ok
    }

    /// Runs `f` with the user's object and a driver handle, as a callback would (for code
    /// outside the callbacks, e.g. through [`ProcessRef::call`]).
    pub fn with_driver<R>(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        f: impl FnOnce(&mut E, &mut ExecutorDriver<'_, '_, E>) -> R,
    ) -> R {
        let ExecutorProcess { executor, core, .. } = self;
        let executor = executor.as_mut().expect(PRESENT);
        let mut d = ExecutorDriver { ctx, core };
        f(executor, &mut d)
    }

    pub(super) fn finish(&mut self, ctx: &mut Ctx<'_, Self>, reason: ExecutorStopReason) {
        if self.core.stop_reason.is_none() {
            tracing::info!(?reason, "executor driver stopping");
            self.core.stop_reason = Some(reason);
            ctx.stop();
        }
    }

    /// Runs `shutdown()` on the executor once, then stops after the grace period.
    pub(super) fn begin_shutdown(&mut self, ctx: &mut Ctx<'_, Self>, reason: ExecutorStopReason) {
        if self.core.shutting_down {
            return;
        }
        self.core.shutting_down = true;
        self.with_driver(ctx, |e, d| e.shutdown(d));
        let grace = self.core.env.shutdown_grace_period;
        ctx.after(grace, move |me: &mut Self, ctx| me.finish(ctx, reason));
    }
}

impl<E: Executor> Process for ExecutorProcess<E> {
    fn install(h: &mut Handlers<Self>) {
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: ExecutorRegisteredMessage| {
                if !me.active() || me.core.connected || !me.is_from_agent(&from, "a registration") {
                    return;
                }
                tracing::info!(agent_id = %m.slave_id, "executor registered");
                me.core.connected = true;
                me.core.connection += 1;
                me.core.agent_id = Some(m.slave_id);
                me.core.executor_info = Some(m.executor_info.clone());
                me.core.framework_info = Some(m.framework_info.clone());
                me.with_driver(ctx, |e, d| {
                    e.registered(d, &m.executor_info, &m.framework_info, &m.slave_info)
                });
            },
        );
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, _from: Pid, m: ReconnectExecutorMessage| {
                if !me.active() {
                    return;
                }
                // A restarted agent has a new process but the same address.
                if _from.addr() != me.core.agent.addr() {
                    tracing::warn!(from = %_from, agent = %me.core.agent, "ignoring a reconnect request: not from this executor's agent's address");
                    return;
                }
                tracing::info!(agent = %_from, "agent asks the executor to reconnect");
                me.core.agent = _from.clone();
                me.core.agent_id = Some(m.slave_id);
                ctx.relink(&_from);
                let msg = me.core.book.reregister_message();
                ctx.send(&_from, msg);
            },
        );
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: ExecutorReregisteredMessage| {
                if !me.active() || !me.is_from_agent(&from, "a re-registration") {
                    return;
                }
                tracing::info!(agent_id = %m.slave_id, "executor re-registered");
                me.core.connected = true;
                me.core.connection += 1;
                me.core.agent_id = Some(m.slave_id);
                if let Some(t) = me.core.recovery_timer.take() {
                    ctx.cancel(t);
                }
                me.with_driver(ctx, |e, d| e.reregistered(d, &m.slave_info));
            },
        );
        h.on(|me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: RunTaskMessage| {
            if !me.active() || !me.is_from_agent(&from, "a task") {
                return;
            }
            if !me.core.connected {
                tracing::warn!(task = %m.task.task_id, "ignoring a task while disconnected from the agent");
                return;
            }
            if me.core.framework_info.is_none() {
                me.core.framework_info = Some(m.framework.clone());
            }
            me.core.book.launched(m.task.clone());
            me.with_driver(ctx, |e, d| e.launch_task(d, m.task));
        });
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: KillTaskMessage| {
                if me.active() && me.is_from_agent(&from, "a kill") {
                    me.with_driver(ctx, |e, d| e.kill_task(d, m.task_id, m.kill_policy));
                }
            },
        );
        h.on(|me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: StatusUpdateAcknowledgementMessage| {
            if !me.active() || !me.is_from_agent(&from, "an acknowledgement") {
                return;
            }
            match me.core.book.acknowledge(&m.task_id, m.uuid) {
                Some(_) => me.with_driver(ctx, |e, d| e.acknowledged(d, &m.task_id, m.uuid)),
                None => tracing::warn!(task = %m.task_id, uuid = %m.uuid, "acknowledgement for an unknown update"),
            }
        });
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: FrameworkToExecutorMessage| {
                if me.active() && me.is_from_agent(&from, "a framework message") {
                    me.with_driver(ctx, |e, d| e.framework_message(d, m.data));
                }
            },
        );
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, _m: ShutdownExecutorMessage| {
                if me.active() && me.is_from_agent(&from, "a shutdown") {
                    tracing::info!("the agent asks the executor to shut down");
                    me.begin_shutdown(ctx, ExecutorStopReason::Shutdown);
                }
            },
        );
    }

    fn started(&mut self, ctx: &mut Ctx<'_, Self>) {
        let agent = self.core.agent.clone();
        tracing::info!(%agent, executor_id = %self.core.env.executor_id, pid = %ctx.pid(), "registering with the agent");
        ctx.link(&agent);
        ctx.send(
            &agent,
            RegisterExecutorMessage {
                framework_id: self.core.env.framework_id.clone(),
                executor_id: self.core.env.executor_id.clone(),
            },
        );
    }

    fn exited(&mut self, ctx: &mut Ctx<'_, Self>, pid: Pid) {
        if !self.active() || pid != self.core.agent {
            return;
        }
        self.core.connected = false;
        if self.core.env.checkpoint {
            let timeout = self.core.env.recovery_timeout;
            tracing::warn!(?timeout, "agent exited; waiting for it to recover");
            self.with_driver(ctx, |e, d| e.disconnected(d));
            let connection = self.core.connection;
            if let Some(t) = self.core.recovery_timer.take() {
                ctx.cancel(t);
            }
            self.core.recovery_timer = Some(ctx.after(timeout, move |me: &mut Self, ctx| {
                me.core.recovery_timer = None;
                if me.active() && !me.core.connected && me.core.connection == connection {
                    tracing::warn!(
                        "the agent did not come back within the recovery timeout; shutting down"
                    );
                    me.begin_shutdown(ctx, ExecutorStopReason::RecoveryTimeout);
                }
            }));
        } else {
            tracing::warn!("agent exited and the framework does not checkpoint; shutting down");
            self.begin_shutdown(ctx, ExecutorStopReason::AgentLost);
        }
    }

    fn stopped(&mut self) {
        let reason = self
            .core
            .stop_reason
            .take()
            .unwrap_or(ExecutorStopReason::Terminated);
        if let Some(mut executor) = self.executor.take() {
            executor.stopped(&reason);
            if let Some(tx) = self.handback.take() {
                let _ = tx.send(executor);
            }
        }
        if let Some(tx) = self.core.stop_tx.take() {
            let _ = tx.send(reason);
        }
    }
}

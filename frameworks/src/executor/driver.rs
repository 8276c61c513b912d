//! The driver API: what an [`Executor`] callback can do through its [`ExecutorDriver`].

use super::*;

impl<E: Executor> ExecutorDriver<'_, '_, E> {
    /// Sends a status update for a task. The driver fills in the uuid, the timestamp, the
    /// agent and executor ids and `SOURCE_EXECUTOR`, keeps the update until the agent
    /// acknowledges it, and returns its uuid.
    pub fn send_status_update(&mut self, status: TaskStatus) -> Result<StatusUuid, UpdateError> {
        if self.core.stop_reason.is_some() {
            return Err(UpdateError::Stopped);
        }
        let now = (self.core.config.clock)();
        let update = self
            .core
            .book
            .update(status, self.core.agent_id.clone(), now)?;
        let uuid = update.status.uuid.unwrap_or_default();
        tracing::info!(task = %update.status.task_id, state = %update.status.state, %uuid, "sending status update");
        let pid = Some(self.ctx.pid().to_string());
        self.ctx
            .send(&self.core.agent, StatusUpdateMessage { update, pid });
        Ok(uuid)
    }

    /// Sends opaque data to the scheduler.
    pub fn send_framework_message(&mut self, data: Vec<u8>) {
        let Some(agent_id) = self.core.agent_id.clone() else {
            tracing::warn!("not registered yet; dropping the framework message");
            return;
        };
        self.ctx.send(
            &self.core.agent,
            ExecutorToFrameworkMessage {
                agent_id,
                framework_id: self.core.env.framework_id.clone(),
                executor_id: self.core.env.executor_id.clone(),
                data,
            },
        );
    }

    /// Stops the driver (the executor process then exits).
    pub fn stop(&mut self) {
        self.finish(ExecutorStopReason::Stopped);
    }

    /// Stops the driver at once, as after an unrecoverable error.
    pub fn abort(&mut self) {
        self.finish(ExecutorStopReason::Aborted);
    }

    pub(super) fn finish(&mut self, reason: ExecutorStopReason) {
        if self.core.stop_reason.is_none() {
            self.core.stop_reason = Some(reason);
            self.ctx.stop();
        }
    }

    /// The environment the agent gave the executor.
    pub fn env(&self) -> &ExecutorEnv {
        &self.core.env
    }

    /// The framework's info, once known.
    pub fn framework_info(&self) -> Option<&FrameworkInfo> {
        self.core.framework_info.as_ref()
    }

    /// This executor's info, once registered.
    pub fn executor_info(&self) -> Option<&ExecutorInfo> {
        self.core.executor_info.as_ref()
    }

    /// The agent's id, once known.
    pub fn agent_id(&self) -> Option<&AgentId> {
        self.core.agent_id.as_ref()
    }

    /// Whether the driver is registered with a live agent.
    pub fn connected(&self) -> bool {
        self.core.connected
    }

    /// Updates the agent has not acknowledged yet, oldest first.
    pub fn unacknowledged(&self) -> &[StatusUpdate] {
        self.core.book.unacknowledged()
    }

    /// The driver's PID.
    pub fn pid(&self) -> &Pid {
        self.ctx.pid()
    }

    /// The node the driver runs on.
    pub fn node(&self) -> &Node {
        self.ctx.node()
    }

    /// Runs `f` on the executor after `d`.
    pub fn after(
        &mut self,
        d: Duration,
        f: impl FnOnce(&mut E, &mut ExecutorDriver<'_, '_, E>) + 'static,
    ) -> TimerId {
        self.ctx.after(d, move |me: &mut ExecutorProcess<E>, ctx| {
            if me.active() {
                me.with_driver(ctx, f);
            }
        })
    }

    /// Cancels a timer.
    pub fn cancel(&mut self, timer: TimerId) -> bool {
        self.ctx.cancel(timer)
    }

    /// Runs `fut`, then `then` on the executor with its output.
    pub fn spawn<F, T>(
        &mut self,
        fut: F,
        then: impl FnOnce(&mut E, &mut ExecutorDriver<'_, '_, E>, T) + 'static,
    ) -> TimerId
    where
        F: Future<Output = T> + 'static,
        T: 'static,
    {
        self.ctx
            .spawn(fut, move |me: &mut ExecutorProcess<E>, ctx, out| {
                if me.active() {
                    me.with_driver(ctx, |e, d| then(e, d, out));
                }
            })
    }
}

//! The fake agent the executor suites run a real executor binary against: it registers
//! the executor, acknowledges every status update, and reports both to the test.
#![allow(dead_code)] // each suite uses its own subset

use libproc::{Ctx, Handlers, Pid, Process};
use proto::messages::*;
use proto::{AgentInfo, CommandInfo, ExecutorInfo, FrameworkInfo, TaskStatus};
use tokio::sync::mpsc;

/// What the fake agent saw.
#[derive(Debug)]
pub enum AgentEvent {
    /// An executor registered from this PID.
    Registered(Pid),
    /// A status update (already acknowledged when it carried a uuid).
    Update(TaskStatus),
}

/// Registers the executor, acknowledges every update, reports both.
pub struct FakeAgent {
    pub out: mpsc::UnboundedSender<AgentEvent>,
    /// The framework the executor is told it runs for.
    pub framework: FrameworkInfo,
    /// The executor's command, as the agent would have launched it.
    pub executor_command: &'static str,
}

impl FakeAgent {
    /// A fake agent for a plain framework `fw`.
    pub fn new(out: mpsc::UnboundedSender<AgentEvent>, executor_command: &'static str) -> Self {
        FakeAgent {
            out,
            framework: FrameworkInfo::new("fw", "u"),
            executor_command,
        }
    }
}

impl Process for FakeAgent {
    fn install(h: &mut Handlers<Self>) {
        h.on(
            |me: &mut FakeAgent, ctx: &mut Ctx<Self>, from: Pid, m: RegisterExecutorMessage| {
                ctx.send(
                    &from,
                    ExecutorRegisteredMessage {
                        executor_info: ExecutorInfo::new(
                            m.executor_id,
                            CommandInfo::shell(me.executor_command),
                        ),
                        framework_id: m.framework_id,
                        framework_info: me.framework.clone(),
                        slave_id: "S1".into(),
                        slave_info: AgentInfo::new("localhost", "cpus:1;mem:64".parse().unwrap()),
                    },
                );
                let _ = me.out.send(AgentEvent::Registered(from));
            },
        );
        h.on(
            |me: &mut FakeAgent, ctx: &mut Ctx<Self>, from: Pid, m: StatusUpdateMessage| {
                if let Some(uuid) = m.update.status.uuid {
                    ctx.send(
                        &from,
                        StatusUpdateAcknowledgementMessage {
                            agent_id: "S1".into(),
                            framework_id: m.update.framework_id.clone(),
                            task_id: m.update.status.task_id.clone(),
                            uuid,
                        },
                    );
                }
                let _ = me.out.send(AgentEvent::Update(m.update.status));
            },
        );
    }
}

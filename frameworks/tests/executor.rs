//! The executor driver against a fake agent process on one node: registration, tasks,
//! status updates with uuids that are re-sent on re-registration until acknowledged, and
//! what happens when the agent goes away (with and without checkpointing).

use std::path::PathBuf;
use std::time::Duration;

use frameworks::executor::{
    self, Executor, ExecutorConfig, ExecutorDriver, ExecutorEnv, ExecutorStopReason,
};
use libproc::testing::{paused, within};
use libproc::{Ctx, Handlers, MemNetwork, Node, NodeConfig, Pid, Process, ProcessRef};
use proto::messages::*;
use proto::{
    AgentInfo, CommandInfo, ExecutorInfo, FrameworkInfo, KillPolicy, StatusUuid, TaskId, TaskInfo,
    TaskState, TaskStatus,
};
use tokio::sync::mpsc;

#[derive(Debug)]
enum A {
    Register(Pid),
    Update(StatusUpdate),
    Reregister(ReregisterExecutorMessage),
}

struct FakeAgent {
    out: mpsc::UnboundedSender<A>,
}

fn agent_info() -> AgentInfo {
    AgentInfo::new("host", "cpus:1;mem:64".parse().unwrap())
}

impl Process for FakeAgent {
    fn install(h: &mut Handlers<Self>) {
        h.on(
            |me: &mut FakeAgent, ctx: &mut Ctx<Self>, from: Pid, m: RegisterExecutorMessage| {
                let _ = me.out.send(A::Register(from.clone()));
                ctx.send(
                    &from,
                    ExecutorRegisteredMessage {
                        executor_info: ExecutorInfo::new(m.executor_id, CommandInfo::shell("x")),
                        framework_id: m.framework_id,
                        framework_info: FrameworkInfo::new("fw", "u"),
                        slave_id: "S1".into(),
                        slave_info: agent_info(),
                    },
                );
            },
        );
        h.on(|me: &mut FakeAgent, _ctx, _from, m: StatusUpdateMessage| {
            let _ = me.out.send(A::Update(m.update));
        });
        h.on(
            |me: &mut FakeAgent, ctx: &mut Ctx<Self>, from: Pid, m: ReregisterExecutorMessage| {
                let _ = me.out.send(A::Reregister(m));
                ctx.send(
                    &from,
                    ExecutorReregisteredMessage {
                        slave_id: "S1".into(),
                        slave_info: agent_info(),
                    },
                );
            },
        );
    }
}

#[derive(Debug, PartialEq)]
enum E {
    Registered,
    Reregistered,
    Disconnected,
    Launch(TaskId),
    Kill(TaskId, Option<KillPolicy>),
    Acked(StatusUuid),
    Shutdown,
    Stopped(ExecutorStopReason),
}

struct Recorder {
    out: mpsc::UnboundedSender<E>,
}

impl Executor for Recorder {
    fn registered(
        &mut self,
        _d: &mut ExecutorDriver<'_, '_, Self>,
        _e: &ExecutorInfo,
        _f: &FrameworkInfo,
        _a: &AgentInfo,
    ) {
        let _ = self.out.send(E::Registered);
    }
    fn reregistered(&mut self, _d: &mut ExecutorDriver<'_, '_, Self>, _a: &AgentInfo) {
        let _ = self.out.send(E::Reregistered);
    }
    fn disconnected(&mut self, _d: &mut ExecutorDriver<'_, '_, Self>) {
        let _ = self.out.send(E::Disconnected);
    }
    fn launch_task(&mut self, d: &mut ExecutorDriver<'_, '_, Self>, task: TaskInfo) {
        let _ = self.out.send(E::Launch(task.task_id.clone()));
        d.send_status_update(TaskStatus::new(task.task_id, TaskState::Running))
            .unwrap();
    }
    fn kill_task(
        &mut self,
        _d: &mut ExecutorDriver<'_, '_, Self>,
        task_id: TaskId,
        kp: Option<KillPolicy>,
    ) {
        let _ = self.out.send(E::Kill(task_id, kp));
    }
    fn acknowledged(
        &mut self,
        _d: &mut ExecutorDriver<'_, '_, Self>,
        _t: &TaskId,
        uuid: StatusUuid,
    ) {
        let _ = self.out.send(E::Acked(uuid));
    }
    fn shutdown(&mut self, _d: &mut ExecutorDriver<'_, '_, Self>) {
        let _ = self.out.send(E::Shutdown);
    }
    fn stopped(&mut self, reason: &ExecutorStopReason) {
        let _ = self.out.send(E::Stopped(reason.clone()));
    }
}

async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>, what: &str) -> T {
    within(Duration::from_secs(300), what, rx.recv())
        .await
        .expect("channel closed")
}

fn env(node: &Node, checkpoint: bool) -> ExecutorEnv {
    ExecutorEnv {
        agent_pid: node.pid("slave(1)"),
        framework_id: "F1".into(),
        executor_id: "E1".into(),
        agent_id: None,
        directory: PathBuf::from("/tmp"),
        sandbox: PathBuf::from("/tmp"),
        checkpoint,
        recovery_timeout: Duration::from_secs(60),
        shutdown_grace_period: Duration::from_secs(5),
    }
}

struct Setup {
    node: Node,
    agent: ProcessRef<FakeAgent>,
    arx: mpsc::UnboundedReceiver<A>,
    exec: executor::ExecutorHandle<Recorder>,
    erx: mpsc::UnboundedReceiver<E>,
    exec_pid: Pid,
}

async fn setup(checkpoint: bool) -> Setup {
    let node = Node::bind(NodeConfig::local().transport(MemNetwork::new()))
        .await
        .unwrap();
    let (atx, mut arx) = mpsc::unbounded_channel();
    let agent = node.spawn("slave(1)", FakeAgent { out: atx }).unwrap();
    let (etx, mut erx) = mpsc::unbounded_channel();
    let exec = executor::run(
        &node,
        env(&node, checkpoint),
        Recorder { out: etx },
        ExecutorConfig::default(),
    )
    .unwrap();
    let exec_pid = match next(&mut arx, "register").await {
        A::Register(p) => p,
        other => panic!("{other:?}"),
    };
    assert_eq!(&exec_pid, exec.process.pid());
    assert_eq!(next(&mut erx, "registered").await, E::Registered);
    Setup {
        node,
        agent,
        arx,
        exec,
        erx,
        exec_pid,
    }
}

fn run_task(id: &str) -> RunTaskMessage {
    RunTaskMessage {
        framework: FrameworkInfo::new("fw", "u"),
        framework_id: "F1".into(),
        task: TaskInfo::command_task(
            "t",
            id.into(),
            "S1".into(),
            "cpus:1;mem:1".parse().unwrap(),
            CommandInfo::shell("x"),
        ),
        pid: None,
    }
}

#[test]
fn tasks_updates_and_resend_until_acknowledged() {
    paused(async {
        let Setup {
            node,
            agent,
            mut arx,
            exec: _exec,
            mut erx,
            exec_pid,
        } = setup(true).await;
        let to = exec_pid.clone();
        agent
            .call(move |_, ctx| ctx.send(&to, run_task("t1")))
            .await
            .unwrap();
        assert_eq!(next(&mut erx, "launch").await, E::Launch("t1".into()));
        let running = match next(&mut arx, "update").await {
            A::Update(u) => u,
            other => panic!("{other:?}"),
        };
        assert_eq!(running.status.state, TaskState::Running);
        assert_eq!(running.status.source, Some(proto::Source::Executor));
        assert_eq!(running.executor_id, Some("E1".into()));
        assert_eq!(running.agent_id, Some("S1".into()));
        let uuid = running.status.uuid.expect("a uuid");

        // Kill reaches the executor with the policy.
        let to = exec_pid.clone();
        let kp = KillPolicy {
            grace_period_secs: Some(1.0),
        };
        let kp2 = kp.clone();
        agent
            .call(move |_, ctx| {
                ctx.send(
                    &to,
                    KillTaskMessage {
                        framework_id: "F1".into(),
                        task_id: "t1".into(),
                        kill_policy: Some(kp2),
                    },
                )
            })
            .await
            .unwrap();
        assert_eq!(next(&mut erx, "kill").await, E::Kill("t1".into(), Some(kp)));

        // The agent "restarts" and asks for a reconnect: the unacked update is re-sent.
        let to = exec_pid.clone();
        agent
            .call(move |_, ctx| {
                ctx.send(
                    &to,
                    ReconnectExecutorMessage {
                        slave_id: "S1".into(),
                    },
                )
            })
            .await
            .unwrap();
        match next(&mut arx, "reregister").await {
            A::Reregister(m) => {
                assert_eq!(m.tasks.len(), 1);
                assert_eq!(m.updates.len(), 1);
                assert_eq!(m.updates[0].status.uuid, Some(uuid));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(next(&mut erx, "reregistered").await, E::Reregistered);

        // Acknowledged: the next re-registration carries no updates.
        let to = exec_pid.clone();
        agent
            .call(move |_, ctx| {
                ctx.send(
                    &to,
                    StatusUpdateAcknowledgementMessage {
                        agent_id: "S1".into(),
                        framework_id: "F1".into(),
                        task_id: "t1".into(),
                        uuid,
                    },
                )
            })
            .await
            .unwrap();
        assert_eq!(next(&mut erx, "acked").await, E::Acked(uuid));
        let to = exec_pid.clone();
        agent
            .call(move |_, ctx| {
                ctx.send(
                    &to,
                    ReconnectExecutorMessage {
                        slave_id: "S1".into(),
                    },
                )
            })
            .await
            .unwrap();
        match next(&mut arx, "reregister").await {
            A::Reregister(m) => assert!(m.updates.is_empty() && m.tasks.len() == 1),
            other => panic!("{other:?}"),
        }
        node.settle().await;
    });
}

#[test]
fn without_checkpointing_a_lost_agent_shuts_the_executor_down() {
    paused(async {
        let Setup {
            node,
            agent,
            arx: _arx,
            exec,
            mut erx,
            ..
        } = setup(false).await;
        node.terminate(agent.pid());
        assert_eq!(next(&mut erx, "shutdown").await, E::Shutdown);
        // The driver stops after the shutdown grace period.
        let start = tokio::time::Instant::now();
        assert_eq!(
            next(&mut erx, "stopped").await,
            E::Stopped(ExecutorStopReason::AgentLost)
        );
        assert!(start.elapsed() >= Duration::from_secs(5));
        assert_eq!(exec.stopped().await, ExecutorStopReason::AgentLost);
    });
}

#[test]
fn with_checkpointing_the_executor_waits_for_the_agent_then_gives_up() {
    paused(async {
        let Setup {
            node,
            agent,
            arx: _arx,
            exec,
            mut erx,
            ..
        } = setup(true).await;
        node.terminate(agent.pid());
        assert_eq!(next(&mut erx, "disconnected").await, E::Disconnected);
        // A restarted agent reconnects within the recovery timeout: the executor stays.
        tokio::time::advance(Duration::from_secs(30)).await;
        let (atx, mut arx) = mpsc::unbounded_channel();
        let agent2 = node.spawn("slave(1)", FakeAgent { out: atx }).unwrap();
        let to = exec.process.pid().clone();
        agent2
            .call(move |_, ctx| {
                ctx.send(
                    &to,
                    ReconnectExecutorMessage {
                        slave_id: "S1".into(),
                    },
                )
            })
            .await
            .unwrap();
        assert!(matches!(
            next(&mut arx, "reregister").await,
            A::Reregister(_)
        ));
        assert_eq!(next(&mut erx, "reregistered").await, E::Reregistered);
        tokio::time::advance(Duration::from_secs(120)).await;
        node.settle().await;
        assert!(
            exec.process.is_alive(),
            "a reconnected executor outlives the old recovery deadline"
        );

        // The agent goes away for good: after the recovery timeout, shutdown.
        node.terminate(agent2.pid());
        assert_eq!(next(&mut erx, "disconnected").await, E::Disconnected);
        let start = tokio::time::Instant::now();
        assert_eq!(next(&mut erx, "shutdown").await, E::Shutdown);
        assert!(start.elapsed() >= Duration::from_secs(60));
        assert_eq!(
            next(&mut erx, "stopped").await,
            E::Stopped(ExecutorStopReason::RecoveryTimeout)
        );
    });
}

#[test]
fn shutdown_message_calls_shutdown_then_stops_after_the_grace_period() {
    paused(async {
        let Setup {
            node: _node,
            agent,
            arx: _arx,
            exec,
            mut erx,
            exec_pid,
        } = setup(false).await;
        agent
            .call(move |_, ctx| {
                ctx.send(
                    &exec_pid,
                    ShutdownExecutorMessage {
                        executor_id: "E1".into(),
                        framework_id: "F1".into(),
                    },
                )
            })
            .await
            .unwrap();
        assert_eq!(next(&mut erx, "shutdown").await, E::Shutdown);
        // The executor is handed back with the reason.
        let (_recorder, reason) = exec.finished().await.expect("the executor back");
        assert_eq!(reason, ExecutorStopReason::Shutdown);
    });
}

/// Agent → executor messages from anyone but the agent are ignored: a forged task, kill
/// or shutdown does nothing; the agent's own task after them runs.
#[test]
fn messages_not_from_the_agent_are_ignored() {
    paused(async {
        let Setup {
            node,
            agent,
            arx: _arx,
            exec: _exec,
            mut erx,
            exec_pid,
        } = setup(false).await;
        let (tx, _rx) = mpsc::unbounded_channel();
        let evil = node.spawn("evil", FakeAgent { out: tx }).unwrap();
        let to = exec_pid.clone();
        evil.call(move |_, ctx| {
            ctx.send(&to, run_task("forged"));
            ctx.send(
                &to,
                KillTaskMessage {
                    framework_id: "F1".into(),
                    task_id: "t1".into(),
                    kill_policy: None,
                },
            );
            ctx.send(
                &to,
                ShutdownExecutorMessage {
                    executor_id: "E1".into(),
                    framework_id: "F1".into(),
                },
            );
        })
        .await
        .unwrap();
        node.settle().await;
        let to = exec_pid.clone();
        agent
            .call(move |_, ctx| ctx.send(&to, run_task("t1")))
            .await
            .unwrap();
        assert_eq!(next(&mut erx, "launch").await, E::Launch("t1".into()));
        node.settle().await;
        assert!(erx.try_recv().is_err());
    });
}

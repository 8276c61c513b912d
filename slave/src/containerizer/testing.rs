//! A containerizer for tests that runs each executor in-process: a libproc process
//! ([`InProcessExecutor`]) on the agent's own node, so agent tests need no OS processes
//! and can run on a paused tokio clock with in-memory transport. It does make each run's
//! sandbox directory, with a `stdout` naming the executor, as a real containerizer would
//! (sandbox garbage collection and `/files` act on it).
//!
//! The executor speaks the executor protocol: it registers, answers every task with
//! `TASK_RUNNING` (and `TASK_KILLED` on a kill), keeps its updates until the agent
//! acknowledges them, re-registers with its tasks and unacknowledged updates when a
//! restarted agent asks it to reconnect, and stops on a shutdown. Executors outlive the
//! agent process (as real ones outlive an agent restart); [`TestContainerizer::destroy`]
//! stops one, and [`crate::containerizer::Containerizer::wait`] resolves when it stopped.
//! [`TestContainerizer::crash`] kills one as a signal would: it stops without a word to
//! the agent and its termination says so (the agent then fails its tasks).
//!
//! By default a task runs until it is killed. A [`TaskScript`]
//! ([`TestContainerizer::with_script`]) makes tasks end by themselves: for each task it
//! says after how long (virtual time on a paused clock) and in which state
//! ([`TaskOutcome`]). A command executor (a task without its own `ExecutorInfo`) then
//! exits once its last task's terminal update is acknowledged, as the real one does.

use libproc::fxhash::{FxHashMap, FxHashSet};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use libproc::{Ctx, Handlers, Node, Pid, Process};
use proto::messages::*;
use proto::{
    ContainerId, ExecutorId, FrameworkId, Resources, StatusUuid, TaskId, TaskInfo, TaskState,
    TaskStatus,
};
use tokio::sync::oneshot;

use super::seam::{
    Container, Containerizer, LaunchSpec, Launched, Recovered, Termination, WaitFuture,
};
use crate::isolation::{Limitation, ResourceStatistics};

/// What becomes of a task in an in-process executor.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskOutcome {
    /// It runs until killed.
    Runs,
    /// It ends by itself `after` it started running, in `state` (e.g. `TASK_FINISHED`,
    /// `TASK_FAILED`), with `message`.
    Ends {
        /// How long it runs.
        after: Duration,
        /// Its terminal state.
        state: TaskState,
        /// The update's message.
        message: String,
    },
}

impl TaskOutcome {
    /// Finishes (`TASK_FINISHED`) after `after`.
    pub fn finishes_after(after: Duration) -> TaskOutcome {
        TaskOutcome::Ends {
            after,
            state: TaskState::Finished,
            message: "Command exited with status 0".into(),
        }
    }

    /// Fails (`TASK_FAILED`) after `after`.
    pub fn fails_after(after: Duration) -> TaskOutcome {
        TaskOutcome::Ends {
            after,
            state: TaskState::Failed,
            message: "Command exited with status 1".into(),
        }
    }
}

/// Decides each task's [`TaskOutcome`] (called once per launched task).
pub type TaskScript = Arc<dyn Fn(&TaskInfo) -> TaskOutcome + Send + Sync>;

/// Runs executors as [`InProcessExecutor`]s on `node`.
#[derive(Clone)]
pub struct TestContainerizer {
    node: Node,
    running: Arc<Mutex<FxHashMap<ContainerId, Running>>>,
    deaf: Arc<AtomicBool>,
    script: Option<TaskScript>,
    /// Containers killed by [`TestContainerizer::crash`] and not yet reaped.
    crashed: Arc<Mutex<FxHashSet<ContainerId>>>,
}

impl std::fmt::Debug for TestContainerizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestContainerizer")
            .field("node", &self.node)
            .field("scripted", &self.script.is_some())
            .finish()
    }
}

#[derive(Debug)]
struct Running {
    pid: Pid,
    done: Option<oneshot::Receiver<Termination>>,
}

impl TestContainerizer {
    /// Executors will run on `node` (the agent's).
    pub fn new(node: &Node) -> TestContainerizer {
        TestContainerizer {
            node: node.clone(),
            running: Arc::new(Mutex::new(FxHashMap::default())),
            deaf: Arc::new(AtomicBool::new(false)),
            script: None,
            crashed: Arc::default(),
        }
    }

    /// The same containerizer with tasks ending as `script` says (see the module doc).
    pub fn with_script(mut self, script: TaskScript) -> TestContainerizer {
        self.script = Some(script);
        self
    }

    /// Whether the executors (running or to come) ignore a restarted agent's
    /// `ReconnectExecutorMessage` (re-registration timeout tests).
    pub fn ignore_reconnects(&self, ignore: bool) {
        self.deaf.store(ignore, Ordering::SeqCst);
    }

    fn table(&self) -> std::sync::MutexGuard<'_, FxHashMap<ContainerId, Running>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The PID of the executor running in `container`, while it runs.
    pub fn executor_pid(&self, container: &ContainerId) -> Option<Pid> {
        self.table().get(container).map(|r| r.pid.clone())
    }

    /// How many executors run.
    pub fn running(&self) -> usize {
        self.table().len()
    }

    /// The containers whose executors run, in order.
    pub fn containers(&self) -> Vec<ContainerId> {
        let mut v: Vec<ContainerId> = self.table().keys().cloned().collect();
        v.sort();
        v
    }

    /// Kills the executor in `container` as `SIGKILL` would: it stops at once, tells the
    /// agent nothing, and its termination reports the signal. False if none runs there.
    pub fn crash(&self, container: &ContainerId) -> bool {
        let Some(pid) = self.executor_pid(container) else {
            return false;
        };
        self.crashed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(container.clone());
        self.node.terminate(&pid)
    }
}

fn env<'a>(spec: &'a LaunchSpec, name: &str) -> Option<&'a str> {
    spec.environment
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

impl Containerizer for TestContainerizer {
    fn launch(&self, spec: LaunchSpec) -> Result<Launched, String> {
        let agent: Pid = env(&spec, "MESOS_SLAVE_PID")
            .and_then(|p| p.parse().ok())
            .ok_or("no agent PID in the executor's environment")?;
        std::fs::create_dir_all(&spec.sandbox)
            .and_then(|()| {
                std::fs::write(
                    spec.sandbox.join("stdout"),
                    format!("in-process executor {}\n", spec.executor.executor_id),
                )
            })
            .map_err(|e| format!("cannot make the sandbox {}: {e}", spec.sandbox.display()))?;
        let (tx, rx) = oneshot::channel();
        let executor = InProcessExecutor {
            agent,
            framework_id: spec.framework_id.clone(),
            executor_id: spec.executor.executor_id.clone(),
            container_id: spec.container_id.clone(),
            tasks: BTreeMap::new(),
            unacknowledged: Vec::new(),
            done: Some(tx),
            running: self.running.clone(),
            deaf: self.deaf.clone(),
            script: self.script.clone(),
            crashed: self.crashed.clone(),
            command_executor: false,
            ended_some: false,
            uuids: libproc::rng::SplitMix64::new(libproc::rng::hash_str(
                0x5EED_0F0E_7EC5,
                spec.container_id.as_str(),
            )),
        };
        let id = format!("executor-{}", spec.container_id);
        let process = self
            .node
            .spawn(&id, executor)
            .map_err(|e| format!("cannot spawn the in-process executor: {e}"))?;
        self.table().insert(
            spec.container_id.clone(),
            Running {
                pid: process.pid().clone(),
                done: Some(rx),
            },
        );
        Ok(Launched {
            container: Container {
                id: spec.container_id,
                os_pid: None,
            },
            isolation_error: None,
        })
    }

    fn wait(&self, container: &ContainerId) -> WaitFuture {
        let done = self.table().get_mut(container).and_then(|r| r.done.take());
        Box::pin(async move {
            match done {
                Some(rx) => rx.await.unwrap_or(Termination {
                    status: -1,
                    description: "could not be waited for: the executor vanished".into(),
                }),
                None => Termination {
                    status: -1,
                    description: "could not be waited for: not launched here".into(),
                },
            }
        })
    }

    fn update(&self, _container: &ContainerId, _resources: &Resources) -> Result<(), String> {
        Ok(())
    }

    fn usage(&self, _container: &ContainerId, _timestamp: f64) -> Option<ResourceStatistics> {
        None
    }

    fn limitation(&self, _container: &ContainerId) -> Option<Limitation> {
        None
    }

    fn destroy(&self, container: &Container) {
        let pid = self.table().get(&container.id).map(|r| r.pid.clone());
        if let Some(pid) = pid {
            self.node.terminate(&pid);
        }
    }

    fn cleanup(&self, _container: &ContainerId) {}

    fn recover(&self, _live: &[Recovered]) {}

    fn alive(&self, container: &Container) -> bool {
        self.table().contains_key(&container.id)
    }
}

/// An executor running as a libproc process (see the module doc).
pub struct InProcessExecutor {
    agent: Pid,
    framework_id: FrameworkId,
    executor_id: ExecutorId,
    container_id: ContainerId,
    tasks: BTreeMap<TaskId, TaskInfo>,
    unacknowledged: Vec<StatusUpdate>,
    done: Option<oneshot::Sender<Termination>>,
    running: Arc<Mutex<FxHashMap<ContainerId, Running>>>,
    deaf: Arc<AtomicBool>,
    script: Option<TaskScript>,
    crashed: Arc<Mutex<FxHashSet<ContainerId>>>,
    /// Runs a task without its own `ExecutorInfo`: exits after its task ended.
    command_executor: bool,
    /// Some task ended by itself (so an idle command executor exits).
    ended_some: bool,
    /// Draws its status update uuids: seeded from the container id, so they are unique
    /// (container ids are) and a seeded run draws the same ones on every replay, whatever
    /// else runs in the process.
    uuids: libproc::rng::SplitMix64,
}

impl InProcessExecutor {
    /// A command executor whose tasks all ended and were acknowledged exits.
    fn exit_if_done(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.command_executor
            && self.ended_some
            && self.tasks.is_empty()
            && self.unacknowledged.is_empty()
        {
            ctx.stop();
        }
    }

    fn send_update(&mut self, ctx: &mut Ctx<'_, Self>, task_id: TaskId, state: TaskState) {
        self.send_update_with(ctx, task_id, state, String::new());
    }

    fn send_update_with(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        task_id: TaskId,
        state: TaskState,
        message: String,
    ) {
        let uuid = StatusUuid::from_bytes(self.uuids.uuid_bytes());
        let mut status = TaskStatus::new(task_id, state).with_uuid(uuid);
        if !message.is_empty() {
            status = status.with_message(message);
        }
        let update = StatusUpdate {
            framework_id: self.framework_id.clone(),
            executor_id: Some(self.executor_id.clone()),
            agent_id: None,
            status,
            timestamp: 0.0,
            latest_state: None,
        };
        self.unacknowledged.push(update.clone());
        ctx.send(
            &self.agent,
            StatusUpdateMessage {
                update,
                pid: Some(ctx.pid().to_string()),
            },
        );
    }
}

impl Process for InProcessExecutor {
    fn install(h: &mut Handlers<Self>) {
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, _from: Pid, m: RunTaskMessage| {
                let id = m.task.task_id.clone();
                let outcome = me
                    .script
                    .as_ref()
                    .map_or(TaskOutcome::Runs, |script| script(&m.task));
                me.command_executor = m.task.executor.is_none();
                me.tasks.insert(id.clone(), m.task);
                me.send_update(ctx, id.clone(), TaskState::Running);
                if let TaskOutcome::Ends {
                    after,
                    state,
                    message,
                } = outcome
                {
                    ctx.after(after, move |me: &mut Self, ctx| {
                        if me.tasks.remove(&id).is_some() {
                            me.ended_some = true;
                            me.send_update_with(ctx, id, state, message);
                        }
                    });
                }
            },
        );
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, _from: Pid, m: KillTaskMessage| {
                if me.tasks.remove(&m.task_id).is_some() {
                    me.send_update(ctx, m.task_id, TaskState::Killed);
                }
            },
        );
        h.on(
            |me: &mut Self,
             ctx: &mut Ctx<Self>,
             _from: Pid,
             m: StatusUpdateAcknowledgementMessage| {
                me.unacknowledged.retain(|u| u.status.uuid != Some(m.uuid));
                me.exit_if_done(ctx);
            },
        );
        h.on(|_me: &mut Self, _ctx: &mut Ctx<Self>, _from: Pid, _m: ExecutorRegisteredMessage| {});
        h.on(
            |_me: &mut Self, _ctx: &mut Ctx<Self>, _from: Pid, _m: ExecutorReregisteredMessage| {},
        );
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, _m: ReconnectExecutorMessage| {
                if me.deaf.load(Ordering::SeqCst) {
                    return;
                }
                me.agent = from;
                ctx.send(
                    &me.agent,
                    ReregisterExecutorMessage {
                        executor_id: me.executor_id.clone(),
                        framework_id: me.framework_id.clone(),
                        tasks: me.tasks.values().cloned().collect(),
                        updates: me.unacknowledged.clone(),
                    },
                );
            },
        );
        h.on(
            |_me: &mut Self, ctx: &mut Ctx<Self>, _from: Pid, _m: ShutdownExecutorMessage| {
                ctx.stop();
            },
        );
    }

    fn started(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.send(
            &self.agent,
            RegisterExecutorMessage {
                framework_id: self.framework_id.clone(),
                executor_id: self.executor_id.clone(),
            },
        );
    }

    fn stopped(&mut self) {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.container_id);
        let crashed = self
            .crashed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.container_id);
        if let Some(done) = self.done.take() {
            let _ = done.send(if crashed {
                Termination {
                    status: 9,
                    description: "terminated by signal SIGKILL".into(),
                }
            } else {
                Termination {
                    status: 0,
                    description: "exited with status 0".into(),
                }
            });
        }
    }
}

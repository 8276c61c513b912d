//! `test-executor`: a minimal executor for the agent's own tests, speaking the executor
//! protocol with libproc directly (the real `mesos-executor` lives in `frameworks`).
//!
//! It reads `MESOS_SLAVE_PID`, `MESOS_FRAMEWORK_ID` and `MESOS_EXECUTOR_ID`, registers,
//! runs each task's command with `sh -c` in its own process group, reports `TASK_RUNNING`
//! and then `TASK_FINISHED` / `TASK_FAILED` / `TASK_KILLED`, honours `KillTaskMessage`
//! (SIGTERM to the task's group, SIGKILL after the grace period) and
//! `ShutdownExecutorMessage`, and exits when the agent goes away — unless the framework
//! checkpoints (`MESOS_CHECKPOINT=1`): then it keeps its tasks running, waits up to
//! `MESOS_RECOVERY_TIMEOUT` for a restarted agent's `ReconnectExecutorMessage`, re-links to
//! it and re-registers with its tasks and unacknowledged updates.
//! `TEST_EXECUTOR_NO_REGISTER=1` makes it never register (registration-timeout tests);
//! `TEST_EXECUTOR_NO_REREGISTER=1` makes it ignore reconnect requests.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

use libproc::{Ctx, Handlers, Node, NodeConfig, Pid, Process};
use nix::sys::signal::{killpg, Signal};
use proto::messages::*;
use proto::{
    AgentId, ExecutorId, FrameworkId, Source, StatusUuid, TaskId, TaskInfo, TaskState, TaskStatus,
};

struct Running {
    pgid: i32,
    killed: bool,
}

struct TestExecutor {
    agent: Pid,
    agent_id: AgentId,
    framework_id: FrameworkId,
    executor_id: ExecutorId,
    tasks: HashMap<TaskId, Running>,
    /// Tasks received and not terminal-and-acknowledged.
    infos: HashMap<TaskId, TaskInfo>,
    /// Updates not acknowledged, oldest first.
    unacked: Vec<StatusUpdate>,
    checkpoint: bool,
    recovery_timeout: Duration,
    /// Bumped on every (re)connection; stale recovery timers do nothing.
    connection: u64,
    counter: u64,
    shutting_down: bool,
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl TestExecutor {
    fn send_status(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        task_id: TaskId,
        state: TaskState,
        message: &str,
    ) {
        self.counter += 1;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let uuid = StatusUuid::from_u128(
            ((u128::from(std::process::id()) << 96) | (u128::from(nanos) << 32))
                + u128::from(self.counter),
        );
        let status = TaskStatus::new(task_id, state)
            .with_source(Source::Executor)
            .with_executor(self.executor_id.clone())
            .with_agent(self.agent_id.clone())
            .with_message(message)
            .with_timestamp(now())
            .with_uuid(uuid);
        let update = StatusUpdate {
            framework_id: self.framework_id.clone(),
            executor_id: Some(self.executor_id.clone()),
            agent_id: Some(self.agent_id.clone()),
            status,
            timestamp: now(),
            latest_state: None,
        };
        self.unacked.push(update.clone());
        println!(
            "test-executor: sent {} for {}",
            update.status.state.as_str(),
            update.status.task_id
        );
        let pid = Some(ctx.pid().to_string());
        ctx.send(&self.agent, StatusUpdateMessage { update, pid });
    }

    fn run(&mut self, ctx: &mut Ctx<'_, Self>, msg: RunTaskMessage) {
        let task_id = msg.task.task_id.clone();
        self.infos.insert(task_id.clone(), msg.task.clone());
        let Some(command) = msg.task.command.clone() else {
            self.send_status(
                ctx,
                task_id,
                TaskState::Failed,
                "test-executor runs command tasks only",
            );
            return;
        };
        let mut cmd = tokio::process::Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(command.value.clone().unwrap_or_default())
            .process_group(0);
        for v in &command.environment.variables {
            cmd.env(&v.name, &v.value);
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                self.send_status(
                    ctx,
                    task_id,
                    TaskState::Failed,
                    &format!("cannot start: {e}"),
                );
                return;
            }
        };
        let pgid = child.id().map(|p| p as i32).unwrap_or(0);
        self.tasks.insert(
            task_id.clone(),
            Running {
                pgid,
                killed: false,
            },
        );
        println!("test-executor: started task {task_id} as group {pgid}");
        self.send_status(ctx, task_id.clone(), TaskState::Running, "running");
        ctx.spawn(
            async move { child.wait().await },
            move |me: &mut Self, ctx, status| {
                let killed = me.tasks.remove(&task_id).is_some_and(|r| r.killed);
                let (state, message) = match status {
                    _ if killed => (TaskState::Killed, "killed".to_string()),
                    Ok(s) if s.success() => (TaskState::Finished, "command exited 0".to_string()),
                    Ok(s) => (TaskState::Failed, format!("command {s}")),
                    Err(e) => (TaskState::Failed, format!("wait failed: {e}")),
                };
                me.send_status(ctx, task_id, state, &message);
            },
        );
    }

    fn kill(&mut self, ctx: &mut Ctx<'_, Self>, task_id: &TaskId, grace: Duration) {
        let Some(r) = self.tasks.get_mut(task_id) else {
            return;
        };
        r.killed = true;
        let pgid = r.pgid;
        let _ = killpg(nix::unistd::Pid::from_raw(pgid), Signal::SIGTERM);
        ctx.after(grace, move |_me: &mut Self, _ctx| {
            let _ = killpg(nix::unistd::Pid::from_raw(pgid), Signal::SIGKILL);
        });
    }

    fn maybe_exit(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.shutting_down && self.tasks.is_empty() {
            if self.unacked.is_empty() {
                std::process::exit(0);
            }
            ctx.after(Duration::from_secs(1), |_me: &mut Self, _ctx| {
                std::process::exit(0)
            });
        }
    }
}

impl Process for TestExecutor {
    fn install(h: &mut Handlers<Self>) {
        h.on(
            |me: &mut Self, _ctx: &mut Ctx<Self>, _from: Pid, m: ExecutorRegisteredMessage| {
                me.agent_id = m.slave_id;
            },
        );
        h.on(|me: &mut Self, ctx: &mut Ctx<Self>, _from: Pid, m: RunTaskMessage| me.run(ctx, m));
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: ReconnectExecutorMessage| {
                if std::env::var("TEST_EXECUTOR_NO_REREGISTER").is_ok() {
                    println!("test-executor: ignoring the reconnect request");
                    return;
                }
                println!("test-executor: reconnecting to {from}");
                me.agent = from.clone();
                me.agent_id = m.slave_id;
                me.connection += 1;
                ctx.relink(&from);
                ctx.send(
                    &from,
                    ReregisterExecutorMessage {
                        executor_id: me.executor_id.clone(),
                        framework_id: me.framework_id.clone(),
                        tasks: me.infos.values().cloned().collect(),
                        updates: me.unacked.clone(),
                    },
                );
            },
        );
        h.on(
            |_me: &mut Self, _ctx: &mut Ctx<Self>, from: Pid, _m: ExecutorReregisteredMessage| {
                println!("test-executor: re-registered with {from}");
            },
        );
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, _from: Pid, m: KillTaskMessage| {
                let grace = m
                    .kill_policy
                    .and_then(|k| k.grace_period_secs)
                    .and_then(|s| libproc::duration::secs(s).ok())
                    .unwrap_or(Duration::from_secs(2));
                me.kill(ctx, &m.task_id, grace);
            },
        );
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, _from: Pid, _m: ShutdownExecutorMessage| {
                me.shutting_down = true;
                let ids: Vec<TaskId> = me.tasks.keys().cloned().collect();
                for id in ids {
                    me.kill(ctx, &id, Duration::from_secs(1));
                }
                me.maybe_exit(ctx);
            },
        );
        h.on(
            |me: &mut Self,
             ctx: &mut Ctx<Self>,
             _from: Pid,
             m: StatusUpdateAcknowledgementMessage| {
                if let Some(i) = me
                    .unacked
                    .iter()
                    .position(|u| u.status.uuid == Some(m.uuid))
                {
                    let u = me.unacked.remove(i);
                    if u.status.state.is_terminal() {
                        me.infos.remove(&u.status.task_id);
                    }
                }
                me.maybe_exit(ctx);
            },
        );
    }

    fn started(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.link(&self.agent);
        if std::env::var("TEST_EXECUTOR_NO_REGISTER").is_ok() {
            println!("test-executor: not registering");
            return;
        }
        ctx.send(
            &self.agent,
            RegisterExecutorMessage {
                framework_id: self.framework_id.clone(),
                executor_id: self.executor_id.clone(),
            },
        );
    }

    fn exited(&mut self, ctx: &mut Ctx<'_, Self>, pid: Pid) {
        if pid == self.agent && self.checkpoint {
            println!("test-executor: the agent exited; waiting for it to recover");
            let connection = self.connection;
            ctx.after(self.recovery_timeout, move |me: &mut Self, _ctx| {
                if me.connection == connection {
                    println!("test-executor: recovery timeout; exiting");
                    for r in me.tasks.values() {
                        let _ = killpg(nix::unistd::Pid::from_raw(r.pgid), Signal::SIGKILL);
                    }
                    std::process::exit(0);
                }
            });
        } else if pid == self.agent {
            for r in self.tasks.values() {
                let _ = killpg(nix::unistd::Pid::from_raw(r.pgid), Signal::SIGKILL);
            }
            std::process::exit(0);
        }
    }
}

fn main() -> ExitCode {
    let var = |k: &str| std::env::var(k).map_err(|_| format!("test-executor: {k} is not set"));
    let setup = (|| -> Result<(Pid, FrameworkId, ExecutorId), String> {
        let agent = var("MESOS_SLAVE_PID")?
            .parse::<Pid>()
            .map_err(|e| format!("test-executor: MESOS_SLAVE_PID: {e}"))?;
        Ok((
            agent,
            FrameworkId::new(var("MESOS_FRAMEWORK_ID")?),
            ExecutorId::new(var("MESOS_EXECUTOR_ID")?),
        ))
    })();
    let (agent, framework_id, executor_id) = match setup {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let fault_injection = match libproc::fault::enabled_from_env() {
        Ok(on) => on,
        Err(e) => {
            eprintln!("test-executor: {e}");
            return ExitCode::from(2);
        }
    };
    println!("test-executor: starting executor {executor_id}");
    actix::System::new().block_on(async move {
        let node = match Node::bind(NodeConfig::local().fault_injection(fault_injection)).await {
            Ok(n) => n,
            Err(e) => {
                eprintln!("test-executor: cannot bind: {e}");
                return ExitCode::from(1);
            }
        };
        let exec = TestExecutor {
            agent,
            agent_id: AgentId::default(),
            framework_id,
            executor_id,
            tasks: HashMap::new(),
            infos: HashMap::new(),
            unacked: Vec::new(),
            checkpoint: std::env::var("MESOS_CHECKPOINT").as_deref() == Ok("1"),
            recovery_timeout: std::env::var("MESOS_RECOVERY_TIMEOUT")
                .ok()
                .and_then(|v| libproc::flags::parse_duration(&v))
                .unwrap_or(Duration::from_secs(15 * 60)),
            connection: 0,
            counter: 0,
            shutting_down: false,
        };
        if let Err(e) = node.spawn("executor", exec) {
            eprintln!("test-executor: {e}");
            return ExitCode::from(1);
        }
        std::future::pending::<()>().await;
        ExitCode::SUCCESS
    })
}

//! `mesos-executor`: the command executor. The agent starts it for a task that has a
//! `CommandInfo` and no executor of its own; it runs exactly one task.
//!
//! It reads its settings from the environment the agent sets (`MESOS_SLAVE_PID`,
//! `MESOS_FRAMEWORK_ID`, `MESOS_EXECUTOR_ID`, `MESOS_DIRECTORY`/`MESOS_SANDBOX`, …), registers
//! with the agent, and on `launch_task` runs the command in the sandbox, in its own process
//! group, with the executor's environment plus the command's plus `MESOS_TASK_ID`. It reports
//! `TASK_RUNNING`, then `TASK_FINISHED` (exit 0), `TASK_FAILED` (with the exit status or
//! signal and the last lines of the sandbox `stderr`) or `TASK_KILLED`. A kill sends SIGTERM
//! to the task's process group and SIGKILL after the grace period. When the task ends, the
//! whole group is killed, so nothing it started outlives it. After the terminal update is
//! acknowledged (or a short timeout) the executor exits.
//!
//! A task with a `health_check` is probed as [`frameworks::health`] describes: results go
//! out as `TASK_RUNNING` updates with `healthy` set, and after too many consecutive failures
//! the task is killed (its `TASK_KILLED` update carries `healthy = false`).
//!
//! The executor logs to stdout; the task's stderr is the sandbox `stderr` file alone.

use std::path::PathBuf;
use std::process::{ExitCode, ExitStatus, Stdio};

use frameworks::cli;
use frameworks::executor::single_task::{
    self, kill_target, shutdown_kill_policy, stderr_tail, KillTarget, TerminalUpdate,
    STDERR_TAIL_LINES,
};
use frameworks::executor::{
    self, Executor, ExecutorConfig, ExecutorDriver, ExecutorEnv, ExecutorStopReason,
};
use frameworks::health::{self, HealthAction, HealthTracker};
use libproc::{Node, NodeConfig, TimerId};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid as OsPid;
use proto::{
    FrameworkCapability, HealthCheck, KillPolicy, Reason, StatusUuid, TaskId, TaskInfo, TaskState,
    TaskStatus,
};

struct CommandExecutor {
    task: Option<TaskInfo>,
    /// The task's process group (its leader's pid).
    pgid: Option<i32>,
    killing: bool,
    escalation: Option<TimerId>,
    terminal: TerminalUpdate,
    /// Size of the sandbox `stderr` when the task started: the task's output follows it.
    stderr_offset: u64,
    /// The task's health check and its state, if it has one.
    health: Option<(HealthCheck, HealthTracker)>,
    /// When the task started (the health check grace period counts from it).
    launched_at: Option<tokio::time::Instant>,
    /// Set when the health check killed the task: why.
    unhealthy: Option<String>,
}

impl CommandExecutor {
    fn new() -> Self {
        CommandExecutor {
            task: None,
            pgid: None,
            killing: false,
            escalation: None,
            terminal: TerminalUpdate::default(),
            stderr_offset: 0,
            health: None,
            launched_at: None,
            unhealthy: None,
        }
    }

    /// Starts probing the task's health check, if it has a valid one.
    fn start_health_checks(&mut self, driver: &mut ExecutorDriver<'_, '_, Self>, task: &TaskInfo) {
        let Some(check) = task.health_check.clone() else {
            return;
        };
        if let Err(e) = check.validate() {
            tracing::warn!(error = %e, "ignoring the task's invalid health check");
            return;
        }
        let tracker = HealthTracker::new(&check);
        let delay = tracker.delay();
        tracing::info!(kind = ?check.kind, ?delay, "health checks start");
        self.health = Some((check, tracker));
        driver.after(delay, |me, d| me.probe_health(d));
    }

    fn probe_health(&mut self, driver: &mut ExecutorDriver<'_, '_, Self>) {
        if self.killing || self.terminal.sent() {
            return;
        }
        let (Some((check, _)), Some(task)) = (self.health.clone(), self.task.clone()) else {
            return;
        };
        let sandbox = driver.env().sandbox.clone();
        let mut env: Vec<(String, String)> = task
            .command
            .iter()
            .flat_map(|c| c.environment.variables.iter())
            .map(|v| (v.name.clone(), v.value.clone()))
            .collect();
        env.push(("MESOS_TASK_ID".into(), task.task_id.to_string()));
        driver.spawn(
            async move { health::probe(&check, &sandbox, &env).await },
            |me: &mut Self, d, result| me.health_result(d, result),
        );
    }

    fn health_result(
        &mut self,
        driver: &mut ExecutorDriver<'_, '_, Self>,
        result: Result<(), String>,
    ) {
        if self.killing || self.terminal.sent() {
            return;
        }
        let (Some(task), Some(started)) = (self.task.clone(), self.launched_at) else {
            return;
        };
        let Some((_, tracker)) = self.health.as_mut() else {
            return;
        };
        if let Err(e) = &result {
            tracing::info!(error = %e, "health check failed");
        }
        let actions = tracker.on_result(started.elapsed(), result);
        let (done, interval) = (tracker.is_done(), tracker.interval());
        for action in actions {
            match action {
                HealthAction::Report { healthy, message } => {
                    let status = TaskStatus::new(task.task_id.clone(), TaskState::Running)
                        .with_healthy(healthy)
                        .with_reason(Reason::TaskHealthCheckStatusUpdated)
                        .with_message(message);
                    let _ = driver.send_status_update(status);
                }
                HealthAction::Kill { message } => {
                    tracing::warn!(%message, "killing the unhealthy task");
                    self.unhealthy = Some(message);
                    self.kill_task(driver, task.task_id.clone(), None);
                }
            }
        }
        if !done {
            driver.after(interval, |me, d| me.probe_health(d));
        }
    }

    fn signal_group(&self, sig: Signal) {
        if let Some(pgid) = self.pgid {
            match killpg(OsPid::from_raw(pgid), sig) {
                Ok(()) => tracing::info!(pgid, ?sig, "signalled the task's process group"),
                Err(nix::errno::Errno::ESRCH) => {}
                Err(e) => {
                    tracing::warn!(pgid, ?sig, error = %e, "could not signal the task's process group")
                }
            }
        }
    }

    /// Sends the terminal update and arranges to exit once it is acknowledged.
    fn terminal(&mut self, driver: &mut ExecutorDriver<'_, '_, Self>, status: TaskStatus) {
        self.terminal.send(driver, status);
    }

    fn launch(
        &mut self,
        driver: &mut ExecutorDriver<'_, '_, Self>,
        task: &TaskInfo,
    ) -> Result<(), String> {
        let command = task.command.clone().ok_or("the task has no command")?;
        let value = command
            .value
            .clone()
            .ok_or("the task's command has no value")?;
        let sandbox = driver.env().sandbox.clone();
        let mut cmd = if command.shell {
            let mut c = tokio::process::Command::new("/bin/sh");
            c.arg("-c").arg(&value);
            c
        } else {
            let mut c = tokio::process::Command::new(&value);
            if let Some((arg0, rest)) = command.arguments.split_first() {
                c.arg0(arg0).args(rest);
            }
            c
        };
        for v in &command.environment.variables {
            cmd.env(&v.name, &v.value);
        }
        cmd.env("MESOS_TASK_ID", task.task_id.as_str())
            .current_dir(&sandbox)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit());
        self.stderr_offset = std::fs::metadata(sandbox.join("stderr"))
            .map(|m| m.len())
            .unwrap_or(0);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("Failed to launch the command '{value}': {e}"))?;
        self.launched_at = Some(tokio::time::Instant::now());
        let pid = child.id().map(|p| p as i32);
        self.pgid = pid;
        tracing::info!(task = %task.task_id, ?pid, command = %value, "started the task");
        driver.spawn(
            async move { child.wait().await },
            |me: &mut Self, d, status| me.exited(d, status),
        );
        Ok(())
    }

    fn exited(
        &mut self,
        driver: &mut ExecutorDriver<'_, '_, Self>,
        status: std::io::Result<ExitStatus>,
    ) {
        // Whatever the task left behind in its group goes with it.
        self.signal_group(Signal::SIGKILL);
        if let Some(t) = self.escalation.take() {
            driver.cancel(t);
        }
        let Some(task) = self.task.clone() else {
            return;
        };
        let sandbox = driver.env().sandbox.clone();
        let described = match &status {
            Ok(s) => describe(s),
            Err(e) => format!("Failed to wait for the command: {e}"),
        };
        let (state, message) = if self.killing {
            (TaskState::Killed, format!("Command killed: {described}"))
        } else if matches!(&status, Ok(s) if s.success()) {
            (TaskState::Finished, described)
        } else {
            let tail = stderr_tail(
                &sandbox.join("stderr"),
                self.stderr_offset,
                STDERR_TAIL_LINES,
            );
            let message = if tail.is_empty() {
                described
            } else {
                format!("{described}\nLast lines of stderr:\n{tail}")
            };
            (TaskState::Failed, message)
        };
        tracing::info!(task = %task.task_id, %state, "task ended");
        let status = match &self.unhealthy {
            // Killed by its health check: the last word on its health goes with it.
            Some(why) => TaskStatus::new(task.task_id.clone(), state)
                .with_message(format!("{message}; {why}"))
                .with_healthy(false),
            None => TaskStatus::new(task.task_id.clone(), state).with_message(message),
        };
        self.terminal(driver, status);
    }
}

/// "Command exited with status N" / "Command terminated with signal SIGX", as Mesos says it.
fn describe(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("Command exited with status {code}"),
        (None, Some(sig)) => {
            let name = Signal::try_from(sig)
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|_| format!("{sig}"));
            format!("Command terminated with signal {name}")
        }
        (None, None) => "Command ended in an unknown way".to_string(),
    }
}

impl Executor for CommandExecutor {
    fn launch_task(&mut self, driver: &mut ExecutorDriver<'_, '_, Self>, task: TaskInfo) {
        if self.task.is_some() {
            let status = TaskStatus::new(task.task_id.clone(), TaskState::Failed).with_message(
                "The command executor runs a single task; launch this task with its own executor",
            );
            let _ = driver.send_status_update(status);
            return;
        }
        self.task = Some(task.clone());
        match self.launch(driver, &task) {
            Ok(()) => {
                let _ = driver
                    .send_status_update(TaskStatus::new(task.task_id.clone(), TaskState::Running));
                self.start_health_checks(driver, &task);
            }
            Err(message) => {
                tracing::error!(%message, "could not launch the task");
                self.terminal(
                    driver,
                    TaskStatus::new(task.task_id.clone(), TaskState::Failed).with_message(message),
                );
            }
        }
    }

    fn kill_task(
        &mut self,
        driver: &mut ExecutorDriver<'_, '_, Self>,
        task_id: TaskId,
        kill_policy: Option<KillPolicy>,
    ) {
        let task = match kill_target(self.task.as_ref(), task_id.clone()) {
            KillTarget::NotLaunched {
                placeholder,
                status,
            } => {
                self.task = Some(placeholder);
                self.terminal(driver, status);
                return;
            }
            KillTarget::Other => return,
            KillTarget::Current(task) => task,
        };
        if self.killing || self.terminal.sent() || self.pgid.is_none() {
            return;
        }
        self.killing = true;
        let grace = frameworks::executor::kill_grace(
            kill_policy.as_ref(),
            task.kill_policy.as_ref(),
            single_task::DEFAULT_KILL_GRACE,
        );
        if driver
            .framework_info()
            .is_some_and(|f| f.has_capability(FrameworkCapability::TaskKillingState))
        {
            let _ = driver.send_status_update(TaskStatus::new(task_id, TaskState::Killing));
        }
        self.signal_group(Signal::SIGTERM);
        self.escalation = Some(driver.after(grace, |me, _d| {
            me.escalation = None;
            tracing::warn!("the task outlived its kill grace period; sending SIGKILL");
            me.signal_group(Signal::SIGKILL);
        }));
    }

    fn acknowledged(
        &mut self,
        driver: &mut ExecutorDriver<'_, '_, Self>,
        _task_id: &TaskId,
        uuid: StatusUuid,
    ) {
        self.terminal.acknowledged(driver, uuid);
    }

    fn shutdown(&mut self, driver: &mut ExecutorDriver<'_, '_, Self>) {
        match self.task.clone() {
            Some(task) if !self.terminal.sent() && self.pgid.is_some() => {
                let policy = shutdown_kill_policy(driver.env().shutdown_grace_period);
                self.kill_task(driver, task.task_id, Some(policy));
            }
            Some(_) if self.terminal.sent() => {}
            _ => driver.stop(),
        }
    }

    fn stopped(&mut self, reason: &ExecutorStopReason) {
        tracing::info!(?reason, "executor stopped");
        self.signal_group(Signal::SIGKILL);
    }
}

fn main() -> ExitCode {
    if std::env::args().skip(1).any(|a| a == "--help" || a == "-h") {
        println!(
            "Usage: mesos-executor\n\nThe command executor. The agent starts it with MESOS_SLAVE_PID, MESOS_FRAMEWORK_ID,\nMESOS_EXECUTOR_ID, MESOS_DIRECTORY (or MESOS_SANDBOX) and optionally MESOS_SLAVE_ID,\nMESOS_CHECKPOINT, MESOS_RECOVERY_TIMEOUT, MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD and\nMESOS_ENABLE_FAULT_INJECTION (serve /fault/rules) set."
        );
        return ExitCode::SUCCESS;
    }
    cli::init_logging_stdout("info");
    let env = match ExecutorEnv::from_env() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("mesos-executor: error: {e}");
            return ExitCode::from(2);
        }
    };
    let fault_injection = match libproc::fault::enabled_from_env() {
        Ok(on) => on,
        Err(e) => {
            eprintln!("mesos-executor: error: {e}");
            return ExitCode::from(2);
        }
    };
    actix::System::new().block_on(async move {
        let bind = cli::listen_addr_for(env.agent_pid.addr());
        let node = match Node::bind(NodeConfig::new(bind).fault_injection(fault_injection)).await {
            Ok(n) => n,
            Err(e) => {
                eprintln!("mesos-executor: error: cannot listen on {bind}: {e}");
                return ExitCode::from(1);
            }
        };
        let config = ExecutorConfig {
            seed: cli::os_seed(),
            clock: cli::wall_clock,
        };
        let sandbox: PathBuf = env.sandbox.clone();
        tracing::info!(sandbox = %sandbox.display(), agent = %env.agent_pid, "command executor starting");
        let handle = match executor::run(&node, env, CommandExecutor::new(), config) {
            Ok(h) => h,
            Err(e) => {
                eprintln!("mesos-executor: error: {e}");
                return ExitCode::from(1);
            }
        };
        // SIGTERM/SIGINT from the agent: stop the driver, which kills the task's group.
        let pid = handle.process.pid().clone();
        let stopper = node.clone();
        actix::spawn(async move {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return,
            };
            tokio::select! {
                biased;
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            stopper.terminate(&pid);
        });
        let reason = handle.stopped().await;
        node.shutdown();
        match reason {
            ExecutorStopReason::Stopped | ExecutorStopReason::Shutdown => ExitCode::SUCCESS,
            _ => ExitCode::from(1),
        }
    })
}

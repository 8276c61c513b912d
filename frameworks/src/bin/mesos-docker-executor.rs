//! `mesos-docker-executor`: the Docker executor (Mesos's `mesos-docker-executor`). The
//! agent, run with `--containerizers=docker`, starts it for a command task whose
//! `ContainerInfo` is of type DOCKER; it runs exactly that one task as a Docker container
//! through the `docker` CLI.
//!
//! On `launch_task` it makes sure the image is there (`docker image inspect`; a pull only
//! if the agent allows it), runs `docker run` with the arguments [`frameworks::docker`]
//! builds (named `mesos-<containerId>`, the sandbox at `/mnt/mesos/sandbox`, CPU shares and
//! memory limit from the task's resources), with the container's output going to the
//! sandbox `stdout`/`stderr`. It reports `TASK_RUNNING` once the container exists, then
//! waits for it and maps how it ended to `TASK_FINISHED`, `TASK_FAILED` (exit status, OOM
//! kill, or a container that could not start, with the tail of stderr) or `TASK_KILLED`. A
//! kill is `docker stop --time=<grace>`. The container is removed before the terminal
//! update goes out, and again on any exit of the executor, so none is left behind.
//!
//! Flags (set by the agent): `--docker` (the CLI), `--docker_pull_policy`,
//! `--container` (default `mesos-$MESOS_CONTAINER_ID`), `--mapped_directory`,
//! `--agent_work_dir` (a label marking the agent's containers). The rest comes from the
//! same environment as the command executor's.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, ExitStatus, Stdio};
use std::time::Duration;

use frameworks::cli;
use frameworks::docker::{self, ContainerState, DockerCli, PullPolicy, RunSpec};
use frameworks::executor::single_task::{
    self, kill_target, shutdown_kill_policy, stderr_tail, KillTarget, TerminalUpdate,
    STDERR_TAIL_LINES,
};
use frameworks::executor::{
    self, Executor, ExecutorConfig, ExecutorDriver, ExecutorEnv, ExecutorStopReason,
};
use libproc::flags::Flag;
use libproc::{Node, NodeConfig};
use proto::{
    FrameworkCapability, KillPolicy, Reason, StatusUuid, TaskId, TaskInfo, TaskState, TaskStatus,
};

const PROGRAM: &str = "mesos-docker-executor";
/// Default kill grace period (as the command executor's).
/// How long `docker run` may take to create the container before the task fails.
const CREATE_TIMEOUT: Duration = Duration::from_secs(60);
/// Between looks at whether the container exists yet.
const CREATE_POLL: Duration = Duration::from_millis(100);
/// The sandbox file `docker run --cidfile` writes the container's id into.
const CIDFILE: &str = ".docker-container-id";

const FLAGS: &[Flag] = &[
    Flag::new("docker", "docker", "The docker CLI."),
    Flag::new(
        "docker_pull_policy",
        "missing",
        "missing: pull images not present locally (always with force_pull_image); never: only run local images.",
    ),
    Flag::optional(
        "container",
        "Container name (default: mesos-$MESOS_CONTAINER_ID).",
    ),
    Flag::new(
        "mapped_directory",
        proto::container::DOCKER_MAPPED_SANDBOX,
        "Where the sandbox is mounted in the container.",
    ),
    Flag::optional(
        "agent_work_dir",
        "The agent's work directory, put on the container as a label.",
    ),
    libproc::fault::FLAG,
];

#[derive(Debug, Clone)]
struct Options {
    docker: DockerCli,
    pull: PullPolicy,
    name: String,
    mapped_directory: String,
    agent_work_dir: String,
    /// `--enable_fault_injection`.
    fault_injection: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No task yet.
    Idle,
    /// Making sure the image is there.
    Preparing,
    /// `docker run` is running.
    Running,
    /// The terminal update is out.
    Done,
}

struct DockerExecutor {
    opts: Options,
    task: Option<TaskInfo>,
    phase: Phase,
    killing: bool,
    running_sent: bool,
    terminal: TerminalUpdate,
    stderr_offset: u64,
    /// Where `docker run` writes the id of the container it created.
    cidfile: Option<PathBuf>,
}

impl DockerExecutor {
    fn new(opts: Options) -> Self {
        DockerExecutor {
            opts,
            task: None,
            phase: Phase::Idle,
            killing: false,
            running_sent: false,
            terminal: TerminalUpdate::default(),
            stderr_offset: 0,
            cidfile: None,
        }
    }

    fn terminal(&mut self, driver: &mut ExecutorDriver<'_, '_, Self>, status: TaskStatus) {
        if self.phase == Phase::Done {
            return;
        }
        self.phase = Phase::Done;
        self.terminal.send(driver, status);
    }

    fn fail(
        &mut self,
        driver: &mut ExecutorDriver<'_, '_, Self>,
        task_id: TaskId,
        reason: Reason,
        message: String,
    ) {
        tracing::error!(%message, "the task failed to launch");
        let status = TaskStatus::new(task_id, TaskState::Failed)
            .with_reason(reason)
            .with_message(message);
        self.terminal(driver, status);
    }

    fn send_running(&mut self, driver: &mut ExecutorDriver<'_, '_, Self>) {
        if self.running_sent || self.phase == Phase::Done {
            return;
        }
        if let Some(task) = &self.task {
            self.running_sent = true;
            let _ = driver
                .send_status_update(TaskStatus::new(task.task_id.clone(), TaskState::Running));
        }
    }

    /// The image is there (or not): run the container.
    fn prepared(
        &mut self,
        driver: &mut ExecutorDriver<'_, '_, Self>,
        args: Vec<String>,
        ready: Result<(), String>,
    ) {
        let Some(task) = self.task.clone() else {
            return;
        };
        if self.phase != Phase::Preparing {
            return; // Killed meanwhile.
        }
        if let Err(message) = ready {
            return self.fail(driver, task.task_id, Reason::ContainerLaunchFailed, message);
        }
        let sandbox = driver.env().sandbox.clone();
        self.stderr_offset = std::fs::metadata(sandbox.join("stderr"))
            .map(|m| m.len())
            .unwrap_or(0);
        let mut cmd = tokio::process::Command::new(&self.opts.docker.path);
        cmd.args(&args)
            .current_dir(&sandbox)
            .stdin(Stdio::null())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .kill_on_drop(false);
        tracing::info!(name = %self.opts.name, ?args, "docker run");
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let message = format!("Failed to run '{}': {e}", self.opts.docker.path.display());
                return self.fail(driver, task.task_id, Reason::ContainerLaunchFailed, message);
            }
        };
        self.phase = Phase::Running;
        driver.spawn(
            async move { child.wait().await },
            |me: &mut Self, d, status| me.run_exited(d, status),
        );
        // TASK_RUNNING once the engine has created this run's container.
        let cidfile = driver.env().directory.join(CIDFILE);
        driver.spawn(
            async move {
                let start = tokio::time::Instant::now();
                while start.elapsed() < CREATE_TIMEOUT {
                    if read_cid(&cidfile).is_some() {
                        return true;
                    }
                    tokio::time::sleep(CREATE_POLL).await;
                }
                false
            },
            |me: &mut Self, d, created| {
                if !created || me.phase != Phase::Running {
                    return;
                }
                if me.killing {
                    // Killed while docker run was still creating it.
                    me.remove_container(d);
                    return;
                }
                me.send_running(d);
            },
        );
    }

    /// The id of the container this run created, once `docker run` wrote it.
    fn cid(&self) -> Option<String> {
        self.cidfile.as_deref().and_then(read_cid)
    }

    fn remove_container(&mut self, driver: &mut ExecutorDriver<'_, '_, Self>) {
        let cli = self.opts.docker.clone();
        let name = self.cid().unwrap_or_else(|| self.opts.name.clone());
        driver.spawn(async move { cli.remove(&name).await }, |_me, _d, r| {
            if let Err(e) = r {
                tracing::warn!(error = %e, "could not remove the container");
            }
        });
    }

    /// `docker run` ended: see how the container ended, remove it, report.
    fn run_exited(
        &mut self,
        driver: &mut ExecutorDriver<'_, '_, Self>,
        status: std::io::Result<ExitStatus>,
    ) {
        let run_exit = status
            .as_ref()
            .ok()
            .and_then(|s| s.code().or(s.signal().map(|n| 128 + n)));
        tracing::info!(?run_exit, "docker run exited");
        // Only a container this run created (its id in the cidfile) is looked at and
        // removed: a name already taken makes docker run fail without creating one.
        let cid = read_cid(&driver.env().directory.join(CIDFILE));
        let cli = self.opts.docker.clone();
        driver.spawn(
            async move {
                let Some(cid) = cid else {
                    return (Ok(None), Ok(()));
                };
                let state = docker::container_state(&cli, &cid).await;
                let removed = cli.remove(&cid).await;
                (state, removed)
            },
            move |me: &mut Self, d, (state, removed)| {
                if let Err(e) = removed {
                    tracing::warn!(error = %e, "could not remove the container");
                }
                me.finish(d, state, run_exit);
            },
        );
    }

    fn finish(
        &mut self,
        driver: &mut ExecutorDriver<'_, '_, Self>,
        state: Result<Option<ContainerState>, String>,
        run_exit: Option<i32>,
    ) {
        let Some(task) = self.task.clone() else {
            return;
        };
        if self.phase == Phase::Done {
            return;
        }
        let state = state.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot inspect the container");
            None
        });
        if state.is_some() {
            // It ran, however briefly: RUNNING comes before its end.
            self.send_running(driver);
        }
        let tail = stderr_tail(
            &driver.env().sandbox.join("stderr"),
            self.stderr_offset,
            STDERR_TAIL_LINES,
        );
        let out = docker::outcome(self.killing, state.as_ref(), run_exit, &tail);
        tracing::info!(task = %task.task_id, state = %out.state, message = %out.message, "task ended");
        let mut status = TaskStatus::new(task.task_id.clone(), out.state).with_message(out.message);
        if let Some(r) = out.reason {
            status = status.with_reason(r);
        }
        self.terminal(driver, status);
    }
}

/// The container id `docker run --cidfile` wrote, once it did.
fn read_cid(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

impl Executor for DockerExecutor {
    fn launch_task(&mut self, driver: &mut ExecutorDriver<'_, '_, Self>, task: TaskInfo) {
        if self.task.is_some() {
            let status = TaskStatus::new(task.task_id.clone(), TaskState::Failed).with_message(
                "The Docker executor runs a single task; launch this task with its own executor",
            );
            let _ = driver.send_status_update(status);
            return;
        }
        self.task = Some(task.clone());
        self.phase = Phase::Preparing;
        let directory = driver.env().directory.clone();
        let cidfile = directory.join(CIDFILE);
        let _ = std::fs::remove_file(&cidfile);
        self.cidfile = Some(cidfile.clone());
        let mut spec = RunSpec::new(self.opts.name.clone(), directory);
        spec.cidfile = Some(cidfile);
        spec.mapped_directory = self.opts.mapped_directory.clone();
        spec.agent_work_dir = self.opts.agent_work_dir.clone();
        let env = driver.env();
        spec.env = vec![
            ("MESOS_TASK_ID".into(), task.task_id.to_string()),
            ("MESOS_FRAMEWORK_ID".into(), env.framework_id.to_string()),
            ("MESOS_EXECUTOR_ID".into(), env.executor_id.to_string()),
        ];
        if let Some(a) = &env.agent_id {
            spec.env.push(("MESOS_AGENT_ID".into(), a.to_string()));
        }
        let args = match docker::run_args(&task, &spec) {
            Ok(a) => a,
            Err(message) => {
                let message = format!("Invalid Docker task: {message}");
                return self.fail(driver, task.task_id, Reason::TaskInvalid, message);
            }
        };
        let image = docker::image_of(&task).unwrap_or_default();
        let force = task
            .container
            .as_ref()
            .and_then(|c| c.docker.as_ref())
            .is_some_and(|d| d.force_pull_image);
        let (cli, policy) = (self.opts.docker.clone(), self.opts.pull);
        tracing::info!(%image, ?policy, force, "preparing the image");
        driver.spawn(
            async move { docker::ensure_image(&cli, &image, policy, force).await },
            move |me: &mut Self, d, ready| me.prepared(d, args, ready),
        );
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
        if self.killing || self.phase == Phase::Done {
            return;
        }
        self.killing = true;
        if self.phase == Phase::Preparing {
            self.terminal(
                driver,
                TaskStatus::new(task_id, TaskState::Killed)
                    .with_message("Killed before the container started"),
            );
            return;
        }
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
        tracing::info!(name = %self.opts.name, ?grace, "docker stop");
        let cli = self.opts.docker.clone();
        let name = self.cid().unwrap_or_else(|| self.opts.name.clone());
        driver.spawn(
            async move {
                let stopped = cli.stop(&name, grace).await;
                // Stopped or not (it may not exist yet), it must go.
                let removed = cli.remove(&name).await;
                stopped.and(removed)
            },
            |_me, _d, r| {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "stopping the container");
                }
            },
        );
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
        match (self.task.clone(), self.phase) {
            (_, Phase::Done) => {}
            (Some(task), _) => {
                let policy = shutdown_kill_policy(driver.env().shutdown_grace_period);
                self.kill_task(driver, task.task_id, Some(policy));
            }
            (None, _) => driver.stop(),
        }
    }

    fn stopped(&mut self, reason: &ExecutorStopReason) {
        tracing::info!(?reason, "executor stopped");
        // Whatever happened, no container this run created outlives its executor: the one
        // in the cidfile, or, while docker run may still be creating it, the one by name.
        let target = match (self.cid(), self.phase) {
            (Some(cid), _) => Some(cid),
            (None, Phase::Running) => Some(self.opts.name.clone()),
            (None, _) => None,
        };
        if let Some(target) = target {
            if let Err(e) = self.opts.docker.remove_blocking(&target) {
                tracing::warn!(error = %e, "could not remove the container");
            }
        }
    }
}

fn options() -> Result<Options, String> {
    let flags = cli::flags_or_exit(PROGRAM, FLAGS);
    let fault_injection = cli::fault_injection_or_exit(PROGRAM, &flags);
    let pull: PullPolicy = flags
        .str("docker_pull_policy")
        .unwrap_or("missing")
        .parse()
        .map_err(|e| format!("--docker_pull_policy: {e}"))?;
    let name = match flags.str("container") {
        Some(n) => n.to_string(),
        None => {
            let id = std::env::var("MESOS_CONTAINER_ID").map_err(|_| {
                "MESOS_CONTAINER_ID is not set and no --container was given".to_string()
            })?;
            proto::docker_container_name(&proto::ContainerId::new(id))
        }
    };
    Ok(Options {
        docker: DockerCli::new(PathBuf::from(flags.str("docker").unwrap_or("docker"))),
        pull,
        name,
        mapped_directory: flags
            .str("mapped_directory")
            .unwrap_or(proto::container::DOCKER_MAPPED_SANDBOX)
            .to_string(),
        agent_work_dir: flags.str("agent_work_dir").unwrap_or_default().to_string(),
        fault_injection,
    })
}

fn main() -> ExitCode {
    let opts = match options() {
        Ok(o) => o,
        Err(e) => cli::usage_error(PROGRAM, &e),
    };
    cli::init_logging_stdout("info");
    let env = match ExecutorEnv::from_env() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{PROGRAM}: error: {e}");
            return ExitCode::from(2);
        }
    };
    actix::System::new().block_on(async move {
        let bind = cli::listen_addr_for(env.agent_pid.addr());
        let node = match Node::bind(NodeConfig::new(bind).fault_injection(opts.fault_injection)).await {
            Ok(n) => n,
            Err(e) => {
                eprintln!("{PROGRAM}: error: cannot listen on {bind}: {e}");
                return ExitCode::from(1);
            }
        };
        let config = ExecutorConfig {
            seed: cli::os_seed(),
            clock: cli::wall_clock,
        };
        tracing::info!(sandbox = %env.sandbox.display(), agent = %env.agent_pid, container = %opts.name, "docker executor starting");
        let handle = match executor::run(&node, env, DockerExecutor::new(opts), config) {
            Ok(h) => h,
            Err(e) => {
                eprintln!("{PROGRAM}: error: {e}");
                return ExitCode::from(1);
            }
        };
        // SIGTERM/SIGINT: stop the driver, which removes the container.
        let pid = handle.process.pid().clone();
        let stopper = node.clone();
        actix::spawn(async move {
            let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            else {
                return;
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

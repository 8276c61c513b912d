//! Docker for the Docker executor (`mesos-docker-executor`): the pure translation of a
//! task into `docker run` arguments ([`run_args`]), the pure mapping of how a container
//! ended to a terminal task state ([`outcome`]), and what the executor asks of the `docker`
//! CLI beyond [`libproc::docker::DockerCli`] (image checks and pulls, the container's state).
//!
//! Mesos's shape (`src/docker/docker.cpp`): `--cpu-shares` = 1024 × cpus (min 2),
//! `--memory` = mem (min 32 MB), the sandbox mounted at `/mnt/mesos/sandbox` and set as
//! the working directory and `MESOS_SANDBOX`, host networking by default, a shell command
//! runs as `--entrypoint /bin/sh IMAGE -c VALUE`. Containers are named `mesos-<containerId>`
//! and labelled with their agent's work directory (see [`proto::container`]).

use std::path::PathBuf;
use std::time::Duration;

pub use libproc::docker::{DockerCli, CLI_TIMEOUT};

use proto::container::{DOCKER_AGENT_LABEL, DOCKER_MAPPED_SANDBOX};
use proto::{ContainerKind, DockerNetwork, Reason, TaskInfo, TaskState, VolumeMode};

/// Mesos's minimum `cpu.shares`.
pub const MIN_CPU_SHARES: u64 = 2;
/// Mesos's minimum memory limit (32 MB).
pub const MIN_MEMORY_BYTES: u64 = 32 << 20;
/// Bound on a pull.
pub const PULL_TIMEOUT: Duration = Duration::from_secs(600);

/// Whether images may be pulled (agent flag `--docker_pull_policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    /// Pull when the image is not present locally, or always with `force_pull_image`
    /// (Mesos's behaviour).
    Missing,
    /// Only run images present locally (hosts without a registry).
    Never,
}

impl std::str::FromStr for PullPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "missing" => Ok(PullPolicy::Missing),
            "never" => Ok(PullPolicy::Never),
            other => Err(format!(
                "unknown pull policy '{other}': expected 'missing' or 'never'"
            )),
        }
    }
}

/// Everything `docker run` needs besides the task.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// Container name (`mesos-<containerId>`).
    pub name: String,
    /// The sandbox on the host.
    pub sandbox: PathBuf,
    /// Where the sandbox appears in the container (default `/mnt/mesos/sandbox`).
    pub mapped_directory: String,
    /// The owning agent's work directory (a label; empty: none).
    pub agent_work_dir: String,
    /// Environment besides the task's own (MESOS_TASK_ID, …), in order.
    pub env: Vec<(String, String)>,
    /// Where `docker run` writes the id of the container it created (`--cidfile`): proof
    /// that the container of that name is this run's.
    pub cidfile: Option<PathBuf>,
}

impl RunSpec {
    /// A spec for container `name` with the sandbox at `sandbox` and Mesos's mapping.
    pub fn new(name: impl Into<String>, sandbox: impl Into<PathBuf>) -> RunSpec {
        RunSpec {
            name: name.into(),
            sandbox: sandbox.into(),
            mapped_directory: DOCKER_MAPPED_SANDBOX.to_string(),
            agent_work_dir: String::new(),
            env: vec![],
            cidfile: None,
        }
    }
}

/// The image of a Docker task, or why the task is not one.
pub fn image_of(task: &TaskInfo) -> Result<String, String> {
    let c = task
        .container
        .as_ref()
        .filter(|c| c.kind == ContainerKind::Docker)
        .ok_or("the task has no container of type DOCKER")?;
    let d = c
        .docker
        .as_ref()
        .ok_or("the task's DOCKER container has no 'docker' settings")?;
    if d.image.trim().is_empty() {
        return Err("the task's DOCKER container has an empty image".into());
    }
    Ok(d.image.clone())
}

/// `cpu.shares` for `cpus` (1024 per CPU, at least 2).
pub fn cpu_shares(cpus: f64) -> u64 {
    ((cpus * 1024.0) as u64).max(MIN_CPU_SHARES)
}

/// Memory limit in bytes for `mem` MB (at least 32 MB).
pub fn memory_bytes(mem_mb: f64) -> u64 {
    ((mem_mb * 1024.0 * 1024.0) as u64).max(MIN_MEMORY_BYTES)
}

/// The arguments after `docker` that run `task` as `spec` says: `run`, the options, the
/// image and the command. Fails with a message for a task that cannot run this way.
pub fn run_args(task: &TaskInfo, spec: &RunSpec) -> Result<Vec<String>, String> {
    let image = image_of(task)?;
    let container = task.container.clone().unwrap_or_default();
    let docker = container.docker.clone().ok_or("no docker settings")?;
    let command = task.command.clone().unwrap_or_default();
    let mapped = spec.mapped_directory.trim_end_matches('/');
    if !mapped.starts_with('/') {
        return Err(format!(
            "the mapped sandbox directory '{mapped}' must be an absolute path"
        ));
    }
    let mut a: Vec<String> = vec!["run".into(), format!("--name={}", spec.name)];
    if let Some(f) = &spec.cidfile {
        a.push(format!("--cidfile={}", f.display()));
    }
    if !spec.agent_work_dir.is_empty() {
        a.push(format!(
            "--label={DOCKER_AGENT_LABEL}={}",
            spec.agent_work_dir
        ));
    }
    let cpus = task.resources.cpus();
    if cpus > 0.0 {
        a.push(format!("--cpu-shares={}", cpu_shares(cpus)));
    }
    let mem = task.resources.mem();
    if mem > 0.0 {
        a.push(format!("--memory={}", memory_bytes(mem)));
    }
    // The task's environment, then Mesos's (which wins).
    let mut env: Vec<(String, String)> = command
        .environment
        .variables
        .iter()
        .map(|v| (v.name.clone(), v.value.clone()))
        .collect();
    env.extend(spec.env.iter().cloned());
    env.push(("MESOS_SANDBOX".into(), mapped.to_string()));
    env.push(("MESOS_CONTAINER_NAME".into(), spec.name.clone()));
    for (k, v) in env {
        if k.is_empty() || k.contains('=') {
            return Err(format!("invalid environment variable name '{k}'"));
        }
        a.push("-e".into());
        a.push(format!("{k}={v}"));
    }
    a.push("-v".into());
    a.push(format!("{}:{mapped}", spec.sandbox.display()));
    for v in &container.volumes {
        let target = if v.container_path.starts_with('/') {
            v.container_path.clone()
        } else {
            format!("{mapped}/{}", v.container_path)
        };
        let mode = match v.mode {
            VolumeMode::Rw => "rw",
            VolumeMode::Ro => "ro",
        };
        a.push("-v".into());
        match &v.host_path {
            Some(h) if h.starts_with('/') => a.push(format!("{h}:{target}:{mode}")),
            Some(h) => a.push(format!(
                "{}:{target}:{mode}",
                spec.sandbox.join(h).display()
            )),
            None => a.push(target),
        }
    }
    a.push("-w".into());
    a.push(mapped.to_string());
    let user_net = docker
        .parameters
        .iter()
        .any(|p| p.key == "net" || p.key == "network");
    match docker.network {
        DockerNetwork::Host => a.push("--net=host".into()),
        DockerNetwork::Bridge => a.push("--net=bridge".into()),
        DockerNetwork::None => a.push("--net=none".into()),
        DockerNetwork::User if user_net => {}
        DockerNetwork::User => {
            return Err("network USER needs the network's name as a docker parameter 'net'".into())
        }
    }
    if !docker.port_mappings.is_empty() {
        if matches!(docker.network, DockerNetwork::Host | DockerNetwork::None) {
            return Err("port mappings need network BRIDGE or USER".into());
        }
        for p in &docker.port_mappings {
            let proto = p.protocol.as_deref().unwrap_or("tcp");
            a.push("-p".into());
            a.push(format!("{}:{}/{proto}", p.host_port, p.container_port));
        }
    }
    if let Some(h) = &container.hostname {
        if docker.network == DockerNetwork::Host {
            return Err("a container hostname cannot be set with network HOST".into());
        }
        a.push(format!("--hostname={h}"));
    }
    if docker.privileged {
        a.push("--privileged".into());
    }
    for p in &docker.parameters {
        if p.key.is_empty() || p.key.starts_with('-') {
            return Err(format!(
                "invalid docker parameter '{}': give the key without dashes",
                p.key
            ));
        }
        a.push(format!("--{}={}", p.key, p.value));
    }
    // The executor makes sure the image is there first (or fails the task).
    a.push("--pull=never".into());
    if command.shell {
        let value = command
            .value
            .clone()
            .filter(|v| !v.is_empty())
            .ok_or("a shell command needs a value")?;
        a.push("--entrypoint=/bin/sh".into());
        a.push(image);
        a.push("-c".into());
        a.push(value);
    } else {
        a.push(image);
        // As for the Mesos containerizer, `arguments` is the full argv: its first entry
        // names the program, which `value` gives.
        if let Some(v) = command.value.clone().filter(|v| !v.is_empty()) {
            a.push(v);
        }
        a.extend(command.arguments.iter().skip(1).cloned());
    }
    Ok(a)
}

/// What `docker inspect` says about a container's state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerState {
    /// `created`, `running`, `exited`, …
    pub status: String,
    /// Exit code once it exited.
    pub exit_code: i64,
    /// Whether the kernel OOM killer ended it.
    pub oom_killed: bool,
    /// The engine's error (e.g. a command that cannot be started).
    pub error: String,
}

impl ContainerState {
    /// Reads the JSON of `docker inspect --format '{{json .State}}'`.
    pub fn from_json(text: &str) -> Result<ContainerState, String> {
        let v: serde_json::Value = serde_json::from_str(text.trim())
            .map_err(|e| format!("unreadable container state '{}': {e}", text.trim()))?;
        Ok(ContainerState {
            status: v["Status"].as_str().unwrap_or_default().to_string(),
            exit_code: v["ExitCode"].as_i64().unwrap_or(-1),
            oom_killed: v["OOMKilled"].as_bool().unwrap_or(false),
            error: v["Error"].as_str().unwrap_or_default().to_string(),
        })
    }
}

/// The terminal update of a Docker task: state, reason and message.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The terminal state.
    pub state: TaskState,
    /// Its reason, if any.
    pub reason: Option<Reason>,
    /// What happened.
    pub message: String,
}

/// How a task ended: `killing` (a kill was asked for), the container's state after it
/// stopped (`None`: it was never created), the exit code of `docker run` and the tail of
/// the task's stderr.
pub fn outcome(
    killing: bool,
    state: Option<&ContainerState>,
    run_exit: Option<i32>,
    stderr_tail: &str,
) -> Outcome {
    let with_tail = |m: String| {
        if stderr_tail.is_empty() {
            m
        } else {
            format!("{m}\nLast lines of stderr:\n{stderr_tail}")
        }
    };
    if killing {
        return Outcome {
            state: TaskState::Killed,
            reason: None,
            message: "Container killed".into(),
        };
    }
    let Some(s) = state else {
        let code = run_exit.map_or("unknown".to_string(), |c| c.to_string());
        return Outcome {
            state: TaskState::Failed,
            reason: Some(Reason::ContainerLaunchFailed),
            message: with_tail(format!(
                "Failed to launch the container: docker run exited with status {code}"
            )),
        };
    };
    if s.oom_killed {
        return Outcome {
            state: TaskState::Failed,
            reason: Some(Reason::ContainerLimitationMemory),
            message: "Memory limit exceeded: the container was killed by the OOM killer".into(),
        };
    }
    if !s.error.is_empty() {
        return Outcome {
            state: TaskState::Failed,
            reason: Some(Reason::ContainerLaunchFailed),
            message: with_tail(format!("Failed to start the container: {}", s.error)),
        };
    }
    if s.exit_code == 0 {
        Outcome {
            state: TaskState::Finished,
            reason: None,
            message: "Container exited with status 0".into(),
        }
    } else {
        Outcome {
            state: TaskState::Failed,
            reason: None,
            message: with_tail(format!("Container exited with status {}", s.exit_code)),
        }
    }
}

/// Whether `image` is present locally.
pub async fn image_present(cli: &DockerCli, image: &str) -> Result<bool, String> {
    let out = cli
        .call(
            &["image", "inspect", "--format={{.Id}}", image],
            CLI_TIMEOUT,
        )
        .await?;
    if out.ok {
        Ok(true)
    } else if out.stderr.to_lowercase().contains("no such image") {
        Ok(false)
    } else {
        Err(format!("cannot inspect image '{image}': {}", out.stderr))
    }
}

/// Pulls `image`.
pub async fn pull(cli: &DockerCli, image: &str) -> Result<(), String> {
    let out = cli.call(&["pull", image], PULL_TIMEOUT).await?;
    if out.ok {
        Ok(())
    } else {
        Err(format!("Failed to pull image '{image}': {}", out.stderr))
    }
}

/// Makes sure `image` is present as `policy` and `force_pull` allow.
pub async fn ensure_image(
    cli: &DockerCli,
    image: &str,
    policy: PullPolicy,
    force_pull: bool,
) -> Result<(), String> {
    let present = image_present(cli, image).await?;
    match (policy, present, force_pull) {
        (_, true, false) => Ok(()),
        (PullPolicy::Missing, _, _) => pull(cli, image).await,
        (PullPolicy::Never, true, true) => {
            tracing::warn!(%image, "force_pull_image ignored: pulling is disabled on this agent; using the local image");
            Ok(())
        }
        (PullPolicy::Never, false, _) => Err(format!(
            "Image '{image}' is not present locally and this agent does not pull images (--docker_pull_policy=never)"
        )),
    }
}

/// The state of container `name` (`None`: no such container).
pub async fn container_state(
    cli: &DockerCli,
    name: &str,
) -> Result<Option<ContainerState>, String> {
    match cli.inspect(name, "{{json .State}}").await? {
        Some(json) => ContainerState::from_json(&json).map(Some),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::{
        CommandInfo, ContainerInfo, DockerParameter, Environment, PortMapping, TaskId, Volume,
    };

    fn task(cmd: CommandInfo) -> TaskInfo {
        let mut t = TaskInfo::command_task(
            "t",
            TaskId::new("t1"),
            "S1".into(),
            "cpus:0.5;mem:64".parse().unwrap(),
            cmd,
        );
        t.container = Some(ContainerInfo::docker("busybox:latest"));
        t
    }

    fn spec() -> RunSpec {
        let mut s = RunSpec::new("mesos-c1", "/work/sb");
        s.agent_work_dir = "/var/mesos".into();
        s.env = vec![("MESOS_TASK_ID".into(), "t1".into())];
        s.cidfile = Some("/work/sb/.cid".into());
        s
    }

    fn pos(a: &[String], x: &str) -> usize {
        a.iter()
            .position(|s| s == x)
            .unwrap_or_else(|| panic!("{x} not in {a:?}"))
    }

    #[test]
    fn shell_task_becomes_docker_run_with_limits_sandbox_and_env() {
        let mut cmd = CommandInfo::shell("echo hi $X");
        cmd.environment = Environment::default().with("X", "1");
        let a = run_args(&task(cmd), &spec()).unwrap();
        assert_eq!(a[0], "run");
        assert_eq!(a[1], "--name=mesos-c1");
        assert_eq!(a[2], "--cidfile=/work/sb/.cid");
        assert!(a.contains(&"--label=org.mesos.agent.work_dir=/var/mesos".into()));
        assert!(a.contains(&"--cpu-shares=512".into()), "{a:?}");
        assert!(a.contains(&format!("--memory={}", 64u64 << 20)));
        assert!(a.contains(&"X=1".into()));
        assert!(a.contains(&"MESOS_TASK_ID=t1".into()));
        assert!(a.contains(&"MESOS_SANDBOX=/mnt/mesos/sandbox".into()));
        assert!(a.contains(&"MESOS_CONTAINER_NAME=mesos-c1".into()));
        assert!(a.contains(&"/work/sb:/mnt/mesos/sandbox".into()));
        assert_eq!(a[pos(&a, "-w") + 1], "/mnt/mesos/sandbox");
        assert!(a.contains(&"--net=host".into()));
        // Options first, then the image and the command.
        let image = pos(&a, "busybox:latest");
        assert_eq!(a[image - 1], "--entrypoint=/bin/sh");
        assert_eq!(&a[image + 1..], &["-c".to_string(), "echo hi $X".into()]);
        assert!(pos(&a, "--pull=never") < image);
    }

    #[test]
    fn exec_task_skips_argv0_and_minimums_apply() {
        let mut t = task(CommandInfo::exec(
            "/bin/echo",
            vec!["echo".into(), "a".into(), "b c".into()],
        ));
        t.resources = "cpus:0.001;mem:1".parse().unwrap();
        let a = run_args(&t, &spec()).unwrap();
        assert!(a.contains(&"--cpu-shares=2".into()));
        assert!(a.contains(&format!("--memory={}", 32u64 << 20)));
        let image = pos(&a, "busybox:latest");
        assert_eq!(
            &a[image + 1..],
            &["/bin/echo".to_string(), "a".into(), "b c".into()]
        );
        assert!(!a.iter().any(|x| x.starts_with("--entrypoint")));
        // No command at all: the image's own entrypoint and command.
        let mut t = task(CommandInfo::default());
        t.command.as_mut().unwrap().shell = false;
        let a = run_args(&t, &spec()).unwrap();
        assert_eq!(a.last().unwrap(), "busybox:latest");
    }

    #[test]
    fn network_ports_volumes_and_parameters() {
        let mut t = task(CommandInfo::shell("true"));
        {
            let c = t.container.as_mut().unwrap();
            c.hostname = Some("box".into());
            c.volumes.push(Volume {
                container_path: "data".into(),
                host_path: Some("in-sandbox".into()),
                mode: VolumeMode::Ro,
            });
            c.volumes.push(Volume {
                container_path: "/etc/x".into(),
                host_path: Some("/srv/x".into()),
                mode: VolumeMode::Rw,
            });
            let d = c.docker.as_mut().unwrap();
            d.network = DockerNetwork::Bridge;
            d.port_mappings.push(PortMapping {
                host_port: 31000,
                container_port: 80,
                protocol: None,
            });
            d.parameters.push(DockerParameter {
                key: "ulimit".into(),
                value: "nofile=1024".into(),
            });
            d.privileged = true;
        }
        let a = run_args(&t, &spec()).unwrap();
        assert!(a.contains(&"--net=bridge".into()));
        assert!(a.contains(&"31000:80/tcp".into()));
        assert!(a.contains(&"--hostname=box".into()));
        assert!(a.contains(&"--privileged".into()));
        assert!(a.contains(&"--ulimit=nofile=1024".into()));
        assert!(a.contains(&"/work/sb/in-sandbox:/mnt/mesos/sandbox/data:ro".into()));
        assert!(a.contains(&"/srv/x:/etc/x:rw".into()));
    }

    #[test]
    fn tasks_that_cannot_run_are_refused_with_a_reason() {
        let mut t = task(CommandInfo::shell("true"));
        t.container = None;
        assert!(run_args(&t, &spec()).unwrap_err().contains("DOCKER"));
        let mut t = task(CommandInfo::shell("true"));
        t.container
            .as_mut()
            .unwrap()
            .docker
            .as_mut()
            .unwrap()
            .port_mappings = vec![PortMapping {
            host_port: 1,
            container_port: 2,
            protocol: None,
        }];
        assert!(run_args(&t, &spec()).unwrap_err().contains("BRIDGE"));
        let mut t = task(CommandInfo::shell("true"));
        t.container
            .as_mut()
            .unwrap()
            .docker
            .as_mut()
            .unwrap()
            .network = DockerNetwork::User;
        assert!(run_args(&t, &spec()).unwrap_err().contains("USER"));
        let mut t = task(CommandInfo::shell("true"));
        t.container.as_mut().unwrap().hostname = Some("h".into());
        assert!(run_args(&t, &spec()).unwrap_err().contains("hostname"));
        let t = task(CommandInfo {
            value: None,
            ..CommandInfo::shell("")
        });
        assert!(run_args(&t, &spec()).unwrap_err().contains("value"));
        let mut t = task(CommandInfo::shell("true"));
        t.container
            .as_mut()
            .unwrap()
            .docker
            .as_mut()
            .unwrap()
            .parameters = vec![DockerParameter {
            key: "--x".into(),
            value: "1".into(),
        }];
        assert!(run_args(&t, &spec()).unwrap_err().contains("dashes"));
        let mut s = spec();
        s.mapped_directory = "relative".into();
        assert!(run_args(&task(CommandInfo::shell("true")), &s).is_err());
    }

    #[test]
    fn outcomes_map_exit_states() {
        let exited = |code: i64| ContainerState {
            status: "exited".into(),
            exit_code: code,
            ..Default::default()
        };
        assert_eq!(
            outcome(false, Some(&exited(0)), Some(0), "").state,
            TaskState::Finished
        );
        let f = outcome(false, Some(&exited(3)), Some(3), "boom");
        assert_eq!(f.state, TaskState::Failed);
        assert!(f.message.contains("status 3") && f.message.contains("boom"));
        assert_eq!(
            outcome(true, Some(&exited(137)), Some(137), "").state,
            TaskState::Killed
        );
        let oom = ContainerState {
            oom_killed: true,
            ..exited(137)
        };
        assert_eq!(
            outcome(false, Some(&oom), Some(137), "").reason,
            Some(Reason::ContainerLimitationMemory)
        );
        let never = outcome(false, None, Some(125), "no such image");
        assert_eq!(never.reason, Some(Reason::ContainerLaunchFailed));
        assert!(never.message.contains("125"));
        let bad = ContainerState {
            error: "exec: \"nope\": not found".into(),
            ..exited(127)
        };
        assert!(outcome(false, Some(&bad), Some(127), "")
            .message
            .contains("not found"));
        let s = ContainerState::from_json(
            r#"{"Status":"exited","Running":false,"OOMKilled":false,"ExitCode":2,"Error":""}"#,
        )
        .unwrap();
        assert_eq!(s, exited(2));
        assert!(ContainerState::from_json("nope").is_err());
        assert_eq!("never".parse::<PullPolicy>(), Ok(PullPolicy::Never));
        assert!("sometimes".parse::<PullPolicy>().is_err());
    }
}

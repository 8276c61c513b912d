//! Agent configuration: [`AgentConfig`] for library users (tests, `mesos-local`) and the
//! `mesos-agent` flags (Mesos names, `MESOS_` environment fallbacks) that build it.

use std::path::PathBuf;
use std::time::Duration;

use detector::MasterAddress;
use libproc::flags::{Flag, Flags};
use libproc::Pid;
use proto::{Attributes, Resources};

use crate::resources::{self, HostTotals};
use crate::status_update::{STATUS_UPDATE_RETRY_INTERVAL_MAX, STATUS_UPDATE_RETRY_INTERVAL_MIN};

/// Everything an agent needs to run.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Where the master is: one fixed PID, or the leader found through ZooKeeper.
    pub master: MasterAddress,
    /// Host name advertised to the master (and shown in `/state`).
    pub hostname: String,
    /// Where sandboxes (and later checkpoints) live.
    pub work_dir: PathBuf,
    /// Total resources offered.
    pub resources: Resources,
    /// Attributes advertised.
    pub attributes: Attributes,
    /// Directory holding `mesos-executor`.
    pub launcher_dir: PathBuf,
    /// Overrides the command executor binary (default `<launcher_dir>/mesos-executor`).
    pub command_executor: Option<PathBuf>,
    /// An executor that has not registered by then is killed (default 1 min).
    pub executor_registration_timeout: Duration,
    /// Time between `ShutdownExecutorMessage` and SIGKILL (default 5 s).
    pub executor_shutdown_grace_period: Duration,
    /// Registration backoff factor (default 1 s).
    pub registration_backoff_factor: Duration,
    /// First status update retry interval (default 10 s).
    pub status_update_retry_interval_min: Duration,
    /// Status update retry cap (default 10 min).
    pub status_update_retry_interval_max: Duration,
    /// Passed to executors as `MESOS_RECOVERY_TIMEOUT` (default 15 min).
    pub recovery_timeout: Duration,
    /// Time recovered executors have to re-register after a restart before they are
    /// killed (Mesos `--executor_reregistration_timeout`, 2 s, at most 15 s).
    pub executor_reregistration_timeout: Duration,
    /// What to do with a checkpoint found at start (Mesos `--recover`).
    pub recover: RecoverMode,
    /// Whether any recovery error is fatal (Mesos `--strict`, default true).
    pub strict: bool,
    /// Where to read the current boot id (`/proc/sys/kernel/random/boot_id`; tests point
    /// it elsewhere to simulate a reboot).
    pub boot_id_path: PathBuf,
    /// Seed for jitter, container ids and uuids.
    pub seed: u64,
    /// This agent's wall clock (seconds since the epoch), for the timestamps on its status
    /// updates and statistics; timers run on the runtime's monotonic clock.
    pub clock: libproc::wall_clock::WallClock,
    /// Serve `/files/*` from a `files` process (one per node; turn off for extra agents).
    pub serve_files: bool,
    /// The isolators (`--isolation`, `--cgroups_*`); default posix/cpu,posix/mem.
    pub isolation: crate::isolation::Isolation,
    /// The containerizers (`--containerizers`, `--docker*`); default `mesos` only.
    pub containerizers: crate::containerizer::Containerizers,
    /// What runs the executors; `None`: processes isolated by `isolation`
    /// ([`crate::containerizer::PosixContainerizer`]). Tests may run them in-process.
    pub containerizer: Option<std::sync::Arc<dyn crate::containerizer::Containerizer>>,
    /// Sandbox garbage collection (`--gc_delay`, `--gc_disk_headroom`,
    /// `--disk_watch_interval`).
    pub gc: crate::gc::GcConfig,
    /// Run executors and tasks as their user (`CommandInfo.user`, else
    /// `FrameworkInfo.user`), Mesos `--switch_user` (default true).
    pub switch_user: bool,
    /// The fetcher (`--fetcher_cache_dir`, `--fetcher_cache_size`, `--fetcher_stall_timeout`).
    pub fetcher: crate::fetcher::FetcherConfig,
    /// The effective flags, for `/flags`.
    pub flags: serde_json::Value,
    /// `--credential`: the principal and secret to authenticate to the master with.
    pub credential: Option<proto::authentication::Credential>,
    /// `--authenticate_http_readonly`: read-only endpoints need HTTP Basic credentials.
    pub authenticate_http_readonly: bool,
    /// `--authenticate_http_readwrite`: the operator API needs HTTP Basic credentials.
    pub authenticate_http_readwrite: bool,
    /// `--http_credentials`: who may authenticate over HTTP.
    pub http_credentials: Vec<proto::authentication::Credential>,
    /// `--acls` (this agent checks `access_sandboxes`).
    pub acls: proto::acls::Acls,
}

/// Seconds since the epoch from the system clock (for display timestamps only).
pub fn system_clock() -> f64 {
    libproc::wall_clock::system_now()
}

fn default_launcher_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.to_path_buf()))
        .unwrap_or_else(|| PathBuf::from("."))
}

impl AgentConfig {
    /// A configuration with Mesos defaults: detected resources, the local host name.
    pub fn new(master: Pid, work_dir: impl Into<PathBuf>) -> AgentConfig {
        let work_dir = work_dir.into();
        let fetch_dir = work_dir.join("fetch");
        AgentConfig {
            master: MasterAddress::Standalone(master),
            hostname: nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(|| "localhost".into()),
            resources: resources::detect(HostTotals::probe(&work_dir)),
            work_dir,
            attributes: Attributes::new(),
            launcher_dir: default_launcher_dir(),
            command_executor: None,
            executor_registration_timeout: Duration::from_secs(60),
            executor_shutdown_grace_period: Duration::from_secs(5),
            registration_backoff_factor: Duration::from_secs(1),
            status_update_retry_interval_min: STATUS_UPDATE_RETRY_INTERVAL_MIN,
            status_update_retry_interval_max: STATUS_UPDATE_RETRY_INTERVAL_MAX,
            recovery_timeout: Duration::from_secs(15 * 60),
            executor_reregistration_timeout: Duration::from_secs(2),
            recover: RecoverMode::Reconnect,
            strict: true,
            boot_id_path: PathBuf::from(crate::checkpoint::BOOT_ID_PATH),
            seed: 0x5eed,
            clock: libproc::wall_clock::WallClock::system(),
            serve_files: true,
            isolation: crate::isolation::Isolation::posix(),
            containerizers: Default::default(),
            containerizer: None,
            gc: Default::default(),
            switch_user: true,
            // Per agent (`/tmp/mesos/fetch` for the default work directory, Mesos's
            // default): agents sharing one process must not share a cache directory.
            fetcher: crate::fetcher::FetcherConfig {
                cache_dir: fetch_dir,
                ..Default::default()
            },
            flags: serde_json::json!({}),
            credential: None,
            authenticate_http_readonly: false,
            authenticate_http_readwrite: false,
            http_credentials: Vec::new(),
            acls: proto::acls::Acls::default(),
        }
    }

    /// The command executor binary.
    pub fn command_executor_path(&self) -> PathBuf {
        self.command_executor
            .clone()
            .unwrap_or_else(|| self.launcher_dir.join("mesos-executor"))
    }

    /// The Docker executor binary (default `<launcher_dir>/mesos-docker-executor`).
    pub fn docker_executor_path(&self) -> PathBuf {
        self.containerizers
            .docker
            .as_ref()
            .and_then(|d| d.executor.clone())
            .unwrap_or_else(|| self.launcher_dir.join("mesos-docker-executor"))
    }
}

/// Mesos `--recover`: what a restarted agent does with the executors it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoverMode {
    /// Reconnect to live executors of checkpointing frameworks (the default).
    Reconnect,
    /// Kill every executor found and start as a new agent.
    Cleanup,
}

/// The `mesos-agent` flags.
pub const FLAGS: &[Flag] = &[
    Flag::required(
        "master",
        "Master address: host:port (e.g. 127.0.0.1:5050) or zk://host:port[,host:port]/path.",
    ),
    Flag::new("ip", "127.0.0.1", "IP address to listen on."),
    Flag::new("port", "5051", "Port to listen on."),
    Flag::optional("advertise_ip", "IP address advertised to the master and executors."),
    Flag::optional("advertise_port", "Port advertised to the master and executors, if not --port."),
    Flag::optional("log_dir", "Also write the log to a file in this directory (symlink <dir>/mesos-agent.INFO to the current one)."),
    Flag::new("logging_level", "INFO", "Lowest level logged: INFO, WARNING or ERROR."),
    Flag::optional("hostname", "Host name advertised to the master (default: the system's)."),
    Flag::optional("credential", "Path (or file:///path) of this agent's principal and secret for authenticating to the master: JSON {\"principal\":..,\"secret\":..} or a 'principal secret' line."),
    Flag::new("authenticate_http_readonly", "false", "Read-only HTTP endpoints (/state, /flags, /files, /metrics/snapshot, /containers, ...) need HTTP Basic credentials from --http_credentials."),
    Flag::new("authenticate_http_readwrite", "false", "HTTP endpoints that change the agent (the operator API /api/v1, /logging/toggle) need HTTP Basic credentials from --http_credentials."),
    Flag::optional("http_credentials", "Path (or file:///path) of the principals and secrets that may authenticate over HTTP: JSON {\"credentials\":[..]} or text lines 'principal secret'."),
    Flag::optional("acls", "Access control lists as Mesos's ACLs JSON, inline or a path (file:///path); the agent checks access_sandboxes."),
    Flag::new("work_dir", "/tmp/mesos", "Directory for sandboxes and agent state."),
    Flag::optional(
        "resources",
        "Total resources, e.g. 'cpus:4;mem:8192;disk:40960;ports:[31000-32000]'; unset ones are detected.",
    ),
    Flag::optional("attributes", "Attributes, e.g. 'rack:r1;zone:2'."),
    Flag::optional("launcher_dir", "Directory holding mesos-executor (default: this binary's directory)."),
    Flag::new("executor_registration_timeout", "1mins", "Time an executor has to register before it is killed."),
    Flag::new("executor_shutdown_grace_period", "5secs", "Time between asking an executor to shut down and SIGKILL."),
    Flag::new("registration_backoff_factor", "1secs", "Initial bound of the randomized registration backoff."),
    Flag::new("status_update_retry_interval_min", "10secs", "First retry interval of an unacknowledged status update."),
    Flag::new("status_update_retry_interval_max", "10mins", "Cap of the status update retry interval."),
    Flag::new("recovery_timeout", "15mins", "Time executors wait for a restarted agent (MESOS_RECOVERY_TIMEOUT)."),
    Flag::new("recover", "reconnect", "reconnect: reconnect to live executors of checkpointing frameworks after a restart; cleanup: kill them and start as a new agent."),
    Flag::new("strict", "true", "Whether any error while recovering the checkpoint is fatal."),
    Flag::new("executor_reregistration_timeout", "2secs", "Time recovered executors have to re-register after an agent restart (at most 15secs)."),
    Flag::new("isolation", "posix/cpu,posix/mem", "Isolators: posix/cpu, posix/mem (usage only), cgroups/cpu, cgroups/mem (enforced; cgroups/all = both)."),
    Flag::new("cgroups_hierarchy", "/sys/fs/cgroup", "Where the cgroup hierarchies (v1) or the unified hierarchy (v2) are mounted."),
    Flag::new("cgroups_root", "mesos", "Cgroup, below the agent's own, holding one cgroup per container."),
    Flag::new("cgroups_enable_cfs", "false", "Cap CPU with CFS bandwidth control (quota = cpus x 100ms per 100ms)."),
    Flag::new("containerizers", "mesos", "Containerizers: mesos (processes), docker (DOCKER containers through the Docker engine), or both: mesos,docker."),
    Flag::new("docker", "docker", "The docker CLI used by the Docker containerizer."),
    Flag::new("docker_kill_orphans", "true", "At start-up, remove this agent's Docker containers that its checkpoint does not know."),
    Flag::new("docker_pull_policy", "missing", "missing: pull images not present locally (always with force_pull_image); never: run local images only."),
    Flag::new("switch_user", "true", "Run each task as its user (CommandInfo.user, else FrameworkInfo.user): uid, gid and groups switched, sandbox owned by it; an unknown user fails the task. false: tasks run as the agent's user."),
    Flag::new("fetcher_cache_dir", "/tmp/mesos/fetch", "Directory of the fetcher cache (URIs with cache=true); emptied when the agent first uses it."),
    Flag::new("fetcher_cache_size", "2GB", "Most bytes the fetcher cache holds; least recently used files are evicted, larger ones bypass it."),
    Flag::new("fetcher_stall_timeout", "1mins", "A download that receives nothing for this long fails (and its task with it)."),
    Flag::new("seed", "0", "Seed for jitter and generated ids (0: derived from the port)."),
    Flag::new("gc_delay", "1weeks", "Longest time a finished executor's sandbox (and checkpoint) is kept before it is removed; sooner when the disk fills (see --gc_disk_headroom)."),
    Flag::new("gc_disk_headroom", "0.1", "Fraction of the disk to keep free: a finished sandbox is kept at most gc_delay * max(0, 1 - gc_disk_headroom - disk usage)."),
    Flag::new("disk_watch_interval", "1mins", "How often the disk usage is checked to garbage collect sandboxes sooner."),
    libproc::fault::FLAG,
];

/// `--logging_level` (as a tracing level) and `--log_dir`, read before anything logs.
pub fn logging(flags: &Flags) -> Result<(&'static str, Option<PathBuf>), String> {
    let level = libproc::logging::level_from_mesos(flags.str("logging_level").unwrap_or("INFO"))?;
    Ok((level, flags.str("log_dir").map(PathBuf::from)))
}

/// What the agent listens on and what it advertises instead (`--advertise_ip`,
/// `--advertise_port`), as a node configuration.
pub type Listen = (std::net::SocketAddr, Option<std::net::IpAddr>, Option<u16>);

/// Reads flags into a configuration and the address to listen on (and advertise).
pub fn from_flags(flags: &Flags) -> Result<(AgentConfig, Listen), String> {
    let e = |x: libproc::flags::FlagsError| x.to_string();
    logging(flags)?;
    let advertise_port: Option<u16> = flags.opt("advertise_port").map_err(e)?;
    let master_text = flags.str("master").unwrap_or_default().to_string();
    let master = parse_master(&master_text)?;
    let ip: std::net::IpAddr = flags.get("ip").map_err(e)?;
    let port: u16 = flags.get("port").map_err(e)?;
    let advertise: Option<std::net::IpAddr> = flags.opt("advertise_ip").map_err(e)?;
    let work_dir = PathBuf::from(flags.str("work_dir").unwrap_or("/tmp/mesos"));
    let isolation = crate::isolation::Isolation::new(&crate::isolation::IsolationConfig {
        isolation: flags.str("isolation").unwrap_or_default().to_string(),
        cgroups_hierarchy: PathBuf::from(
            flags.str("cgroups_hierarchy").unwrap_or("/sys/fs/cgroup"),
        ),
        cgroups_root: flags.str("cgroups_root").unwrap_or("mesos").to_string(),
        cgroups_enable_cfs: flags.bool("cgroups_enable_cfs").map_err(e)?,
    })?;
    let (mesos, docker) =
        crate::containerizer::parse(flags.str("containerizers").unwrap_or_default())?;
    let docker = if docker {
        let pull_policy = flags
            .str("docker_pull_policy")
            .unwrap_or("missing")
            .to_string();
        if pull_policy != "missing" && pull_policy != "never" {
            return Err(format!(
                "--docker_pull_policy={pull_policy}: expected 'missing' or 'never'"
            ));
        }
        let d = crate::containerizer::DockerConfig {
            docker: PathBuf::from(flags.str("docker").unwrap_or("docker")),
            pull_policy,
            kill_orphans: flags.bool("docker_kill_orphans").map_err(e)?,
            executor: None,
        };
        let version = crate::containerizer::check_engine(&d.docker)?;
        tracing::info!(%version, "the Docker engine answers");
        Some(d)
    } else {
        None
    };
    let mut config = AgentConfig::new(
        Pid::new("master", ([127, 0, 0, 1], 5050).into()),
        work_dir.clone(),
    );
    config.master = master;
    config.isolation = isolation;
    config.containerizers = crate::containerizer::Containerizers { mesos, docker };
    config.resources = resources::resolve(flags.str("resources"), HostTotals::probe(&work_dir))?;
    config.attributes = resources::parse_attributes(flags.str("attributes"))?;
    if let Some(h) = flags.str("hostname") {
        config.hostname = h.to_string();
    }
    if let Some(path) = flags.str("credential") {
        config.credential = Some(
            proto::authentication::load_credential(path)
                .map_err(|e| format!("--credential: {e}"))?,
        );
    }
    if let Some(path) = flags.str("http_credentials") {
        config.http_credentials = proto::authentication::load_credentials(path)
            .map_err(|e| format!("--http_credentials: {e}"))?;
    }
    config.authenticate_http_readonly = flags.bool("authenticate_http_readonly").map_err(e)?;
    config.authenticate_http_readwrite = flags.bool("authenticate_http_readwrite").map_err(e)?;
    if (config.authenticate_http_readonly || config.authenticate_http_readwrite)
        && !flags.has("http_credentials")
    {
        return Err(
            "--authenticate_http_readonly and --authenticate_http_readwrite need --http_credentials=<file> (the principals and secrets HTTP Basic is checked against)".into(),
        );
    }
    if let Some(acls) = flags.str("acls") {
        config.acls = proto::acls::Acls::from_flag(acls).map_err(|e| format!("--acls: {e}"))?;
    }
    if let Some(d) = flags.str("launcher_dir") {
        config.launcher_dir = PathBuf::from(d);
    }
    config.executor_registration_timeout =
        flags.duration("executor_registration_timeout").map_err(e)?;
    config.executor_shutdown_grace_period = flags
        .duration("executor_shutdown_grace_period")
        .map_err(e)?;
    config.registration_backoff_factor =
        flags.duration("registration_backoff_factor").map_err(e)?;
    config.status_update_retry_interval_min = flags
        .duration("status_update_retry_interval_min")
        .map_err(e)?;
    config.status_update_retry_interval_max = flags
        .duration("status_update_retry_interval_max")
        .map_err(e)?;
    config.recovery_timeout = flags.duration("recovery_timeout").map_err(e)?;
    config.recover = match flags.str("recover").unwrap_or("reconnect") {
        "reconnect" => RecoverMode::Reconnect,
        "cleanup" => RecoverMode::Cleanup,
        other => {
            return Err(format!(
                "--recover={other}: expected 'reconnect' or 'cleanup'"
            ))
        }
    };
    config.strict = flags.get("strict").map_err(e)?;
    config.switch_user = flags.bool("switch_user").map_err(e)?;
    config.fetcher.cache_dir = PathBuf::from(
        flags
            .str("fetcher_cache_dir")
            .unwrap_or(crate::fetcher::DEFAULT_CACHE_DIR),
    );
    config.fetcher.cache_size = flags.bytes("fetcher_cache_size").map_err(e)?;
    config.fetcher.stall_timeout = flags.duration("fetcher_stall_timeout").map_err(e)?;
    let rereg = flags
        .duration("executor_reregistration_timeout")
        .map_err(e)?;
    if rereg > Duration::from_secs(15) {
        return Err(format!(
            "--executor_reregistration_timeout={}secs: at most 15secs is allowed",
            rereg.as_secs()
        ));
    }
    config.executor_reregistration_timeout = rereg;
    config.gc = crate::gc::GcConfig::from_flags(flags)?;
    let seed: u64 = flags.get("seed").map_err(e)?;
    config.seed = if seed == 0 {
        0x5eed ^ u64::from(port)
    } else {
        seed
    };
    config.flags = flags.to_json();
    Ok((
        config,
        (
            std::net::SocketAddr::new(ip, port),
            advertise,
            advertise_port,
        ),
    ))
}

/// Parses `--master`: `host:port` (a host name is resolved), `master@ip:port`, or
/// `zk://host:port[,host:port]/path` (the leader is then found through ZooKeeper).
pub fn parse_master(text: &str) -> Result<MasterAddress, String> {
    text.trim()
        .parse::<MasterAddress>()
        .map_err(|err| format!("--master: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Flags, libproc::flags::FlagsError> {
        Flags::parse(
            "mesos-agent",
            FLAGS,
            args.iter().map(|s| s.to_string()),
            "MESOS_",
            |_| None,
        )
    }

    #[test]
    fn flags_build_a_config() {
        let f = parse(&[
            "--master=127.0.0.1:5050",
            "--work_dir=/tmp/x",
            "--resources=cpus:3",
            "--attributes=rack:a",
            "--executor_shutdown_grace_period=2secs",
        ])
        .unwrap();
        let (c, (addr, adv, adv_port)) = from_flags(&f).unwrap();
        assert_eq!(
            c.master,
            MasterAddress::Standalone("master@127.0.0.1:5050".parse().unwrap())
        );
        assert_eq!(c.recover, RecoverMode::Reconnect);
        assert!(c.strict);
        assert_eq!(c.executor_reregistration_timeout, Duration::from_secs(2));
        assert_eq!(c.resources.cpus(), 3.0);
        assert!(c.resources.mem() > 0.0);
        assert_eq!(c.executor_shutdown_grace_period, Duration::from_secs(2));
        assert_eq!(addr.port(), 5051);
        assert!(adv.is_none() && adv_port.is_none());
        assert_eq!(c.flags["work_dir"], "/tmp/x");
        assert!(c.switch_user, "Mesos's default");
        assert_eq!(c.fetcher.cache_size, 2 << 30);
        assert_eq!(c.fetcher.cache_dir, PathBuf::from("/tmp/mesos/fetch"));
        assert_eq!(c.fetcher.stall_timeout, Duration::from_secs(60));
    }

    #[test]
    fn user_and_fetcher_flags() {
        let f = parse(&[
            "--master=127.0.0.1:5050",
            "--switch_user=false",
            "--fetcher_cache_dir=/var/cache/f",
            "--fetcher_cache_size=100MB",
            "--fetcher_stall_timeout=5secs",
        ])
        .unwrap();
        let (c, _) = from_flags(&f).unwrap();
        assert!(!c.switch_user);
        assert_eq!(c.fetcher.cache_dir, PathBuf::from("/var/cache/f"));
        assert_eq!(c.fetcher.cache_size, 100 << 20);
        assert_eq!(c.fetcher.stall_timeout, Duration::from_secs(5));
        let f = parse(&["--master=127.0.0.1:5050", "--fetcher_cache_size=lots"]).unwrap();
        assert!(from_flags(&f).unwrap_err().contains("fetcher_cache_size"));
    }

    #[test]
    fn start_script_flags_parse_and_bad_values_say_the_valid_form() {
        let f = parse(&[
            "--master=127.0.0.1:5050",
            "--advertise_ip=10.1.2.3",
            "--advertise_port=6061",
            "--log_dir=/tmp/alogs",
            "--logging_level=error",
        ])
        .unwrap();
        let (_, (_, ip, port)) = from_flags(&f).unwrap();
        assert_eq!(ip, Some(std::net::IpAddr::from([10, 1, 2, 3])));
        assert_eq!(port, Some(6061));
        assert_eq!(
            logging(&f).unwrap(),
            ("error", Some(PathBuf::from("/tmp/alogs")))
        );
        let f = parse(&["--master=127.0.0.1:5050", "--logging_level=LOUD"]).unwrap();
        let e = from_flags(&f).unwrap_err();
        assert!(
            e.contains("--logging_level") && e.contains("INFO, WARNING or ERROR"),
            "{e}"
        );
        let f = parse(&["--master=127.0.0.1:5050", "--advertise_port=x"]).unwrap();
        let e = from_flags(&f).unwrap_err();
        assert!(e.contains("--advertise_port") && e.contains("'x'"), "{e}");
        let e = parse(&["--master=m:1", "--bogus"]).unwrap_err().to_string();
        assert!(
            e.contains("--bogus") && e.contains("--advertise_port"),
            "{e}"
        );
        assert!(matches!(
            parse(&["--version"]),
            Err(libproc::flags::FlagsError::Version)
        ));
    }

    #[test]
    fn unsupported_isolation_and_bad_master_are_clear_errors() {
        let f = parse(&["--master=127.0.0.1:5050", "--isolation=network/cni"]).unwrap();
        let err = from_flags(&f).unwrap_err();
        assert!(err.contains("unknown isolator 'network/cni'"), "{err}");
        let f = parse(&["--master=nohostport"]).unwrap();
        assert!(from_flags(&f).unwrap_err().contains("host:port"));
        assert!(matches!(
            parse_master("zk://a:2181/mesos"),
            Ok(MasterAddress::ZooKeeper(_))
        ));
        assert!(matches!(
            parse_master("localhost:5050"),
            Ok(MasterAddress::Standalone(p)) if p.addr().port() == 5050
        ));
        let f = parse(&["--master=127.0.0.1:5050", "--recover=maybe"]).unwrap();
        assert!(from_flags(&f).unwrap_err().contains("--recover"));
    }

    #[test]
    fn containerizers_are_checked_at_start_up() {
        let f = parse(&["--master=127.0.0.1:5050", "--containerizers=mesos,lxc"]).unwrap();
        let err = from_flags(&f).unwrap_err();
        assert!(
            err.contains("'lxc'") && err.contains("valid: mesos, docker"),
            "{err}"
        );
        let f = parse(&[
            "--master=127.0.0.1:5050",
            "--containerizers=mesos,docker",
            "--docker=/nonexistent/docker",
        ])
        .unwrap();
        let err = from_flags(&f).unwrap_err();
        assert!(err.contains("--containerizers=docker"), "{err}");
        let f = parse(&["--master=127.0.0.1:5050"]).unwrap();
        let (c, _) = from_flags(&f).unwrap();
        assert!(c.containerizers.mesos && c.containerizers.docker.is_none());
    }
}

//! Agent configuration: [`AgentConfig`] for library users (tests, `mesos-local`) and the
//! `mesos-agent` flags (Mesos names, `MESOS_` environment fallbacks) that build it.

use std::path::PathBuf;
use std::time::Duration;

use libproc::flags::{Flag, Flags};
use libproc::Pid;
use proto::{Attributes, Resources};

use crate::resources::{self, HostTotals};
use crate::status_update::{STATUS_UPDATE_RETRY_INTERVAL_MAX, STATUS_UPDATE_RETRY_INTERVAL_MIN};

/// Everything an agent needs to run.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The master's PID (`master@ip:port`).
    pub master: Pid,
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
    /// Seed for jitter, container ids and uuids.
    pub seed: u64,
    /// Wall clock for timestamps shown to users (seconds since the epoch).
    pub clock: fn() -> f64,
    /// Serve `/files/*` from a `files` process (one per node; turn off for extra agents).
    pub serve_files: bool,
    /// The effective flags, for `/flags`.
    pub flags: serde_json::Value,
}

/// Seconds since the epoch from the system clock (for display timestamps only).
pub fn system_clock() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
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
        AgentConfig {
            master,
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
            seed: 0x5eed,
            clock: system_clock,
            serve_files: true,
            flags: serde_json::json!({}),
        }
    }

    /// The command executor binary.
    pub fn command_executor_path(&self) -> PathBuf {
        self.command_executor
            .clone()
            .unwrap_or_else(|| self.launcher_dir.join("mesos-executor"))
    }
}

/// The `mesos-agent` flags.
pub const FLAGS: &[Flag] = &[
    Flag::required("master", "Master address: host:port (e.g. 127.0.0.1:5050)."),
    Flag::new("ip", "127.0.0.1", "IP address to listen on."),
    Flag::new("port", "5051", "Port to listen on."),
    Flag::optional("advertise_ip", "IP address advertised to the master and executors."),
    Flag::optional("hostname", "Host name advertised to the master (default: the system's)."),
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
    Flag::new("isolation", "posix/cpu,posix/mem", "Isolators; only posix/cpu and posix/mem are supported so far."),
    Flag::new("containerizers", "mesos", "Containerizers; only 'mesos' is supported so far."),
    Flag::new("seed", "0", "Seed for jitter and generated ids (0: derived from the port)."),
];

/// Reads flags into a configuration and the address to listen on (and advertise).
pub fn from_flags(
    flags: &Flags,
) -> Result<(AgentConfig, std::net::SocketAddr, Option<std::net::IpAddr>), String> {
    let e = |x: libproc::flags::FlagsError| x.to_string();
    let master_text = flags.str("master").unwrap_or_default().to_string();
    let master = parse_master(&master_text)?;
    let ip: std::net::IpAddr = flags.get("ip").map_err(e)?;
    let port: u16 = flags.get("port").map_err(e)?;
    let advertise: Option<std::net::IpAddr> = flags.opt("advertise_ip").map_err(e)?;
    let work_dir = PathBuf::from(flags.str("work_dir").unwrap_or("/tmp/mesos"));
    for iso in flags
        .str("isolation")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        if iso != "posix/cpu" && iso != "posix/mem" {
            return Err(format!(
                "--isolation: isolator '{iso}' is not supported yet; use --isolation=posix/cpu,posix/mem"
            ));
        }
    }
    for c in flags
        .str("containerizers")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        if c != "mesos" {
            return Err(format!(
                "--containerizers: '{c}' is not supported yet; use --containerizers=mesos"
            ));
        }
    }
    let mut config = AgentConfig::new(master, work_dir.clone());
    config.resources = resources::resolve(flags.str("resources"), HostTotals::probe(&work_dir))?;
    config.attributes = resources::parse_attributes(flags.str("attributes"))?;
    if let Some(h) = flags.str("hostname") {
        config.hostname = h.to_string();
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
    let seed: u64 = flags.get("seed").map_err(e)?;
    config.seed = if seed == 0 {
        0x5eed ^ u64::from(port)
    } else {
        seed
    };
    config.flags = flags.to_json();
    Ok((config, std::net::SocketAddr::new(ip, port), advertise))
}

/// Turns `--master=host:port` (or `master@ip:port`) into the master's PID, resolving a
/// host name.
pub fn parse_master(text: &str) -> Result<Pid, String> {
    let text = text.trim();
    if text.starts_with("zk://") {
        return Err(format!(
            "--master={text}: ZooKeeper detection is not supported yet; use --master=host:port"
        ));
    }
    if let Ok(pid) = text.parse::<Pid>() {
        return Ok(pid);
    }
    use std::net::ToSocketAddrs;
    let addr = text
        .to_socket_addrs()
        .map_err(|err| {
            format!("--master={text}: {err}; expected host:port such as 127.0.0.1:5050")
        })?
        .find(|a| a.is_ipv4())
        .ok_or_else(|| {
            format!("--master={text}: no IPv4 address; expected host:port such as 127.0.0.1:5050")
        })?;
    Ok(Pid::new("master", addr))
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
        let (c, addr, adv) = from_flags(&f).unwrap();
        assert_eq!(c.master.to_string(), "master@127.0.0.1:5050");
        assert_eq!(c.resources.cpus(), 3.0);
        assert!(c.resources.mem() > 0.0);
        assert_eq!(c.executor_shutdown_grace_period, Duration::from_secs(2));
        assert_eq!(addr.port(), 5051);
        assert!(adv.is_none());
        assert_eq!(c.flags["work_dir"], "/tmp/x");
    }

    #[test]
    fn unsupported_isolation_and_bad_master_are_clear_errors() {
        let f = parse(&["--master=127.0.0.1:5050", "--isolation=cgroups/mem"]).unwrap();
        let err = from_flags(&f).unwrap_err();
        assert!(err.contains("not supported yet"), "{err}");
        let f = parse(&["--master=nohostport"]).unwrap();
        assert!(from_flags(&f).unwrap_err().contains("host:port"));
        assert!(parse_master("zk://a:2181/mesos")
            .unwrap_err()
            .contains("not supported"));
        assert_eq!(parse_master("localhost:5050").unwrap().addr().port(), 5050);
    }
}

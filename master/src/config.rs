//! The master's settings: every `mesos-master` flag (Mesos names, `--name=value`,
//! `MESOS_NAME` fallback) and its parsed value in [`MasterConfig`].

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use detector::ZkUrl;
use libproc::flags::{Flag, Flags, FlagsError};

use crate::allocator::protocol::AllocatorConfig;

/// The version this master reports (`/master/state` `version`, `MasterInfo.version`).
pub use proto::MESOS_VERSION;

/// Every flag `mesos-master` accepts, with its default.
pub const FLAGS: &[Flag] = &[
    Flag::new("ip", "127.0.0.1", "IP address to listen on."),
    Flag::new("port", "5050", "Port to listen on."),
    Flag::optional(
        "hostname",
        "Hostname to advertise (default: the IP address).",
    ),
    Flag::optional(
        "work_dir",
        "Directory for the registry file (--registry=file).",
    ),
    Flag::new(
        "allocation_interval",
        "1secs",
        "Time between batch allocations.",
    ),
    Flag::new(
        "agent_ping_timeout",
        "15secs",
        "Time to wait for an agent's pong before counting a missed ping (1secs to 15mins).",
    ),
    Flag::new(
        "max_agent_ping_timeouts",
        "5",
        "Missed pings after which an agent is marked unreachable.",
    ),
    Flag::optional(
        "offer_timeout",
        "Time after which an unused offer is rescinded (default: never).",
    ),
    Flag::new(
        "max_completed_frameworks",
        "50",
        "Completed frameworks kept for /state.",
    ),
    Flag::new(
        "max_completed_tasks_per_framework",
        "1000",
        "Completed tasks kept per framework for /state.",
    ),
    Flag::new(
        "registry",
        "in_memory",
        "Registry backend: in_memory (tests), zookeeper (the <zk path>/registry znode; needs --zk) or file (<work_dir>/meta/registry.bin; needs --work_dir). replicated_log is a deprecated alias: zookeeper with --zk, else file.",
    ),
    Flag::new(
        "registry_max_agent_age",
        "2weeks",
        "Unreachable and gone agents are forgotten by the registry after this long.",
    ),
    Flag::new(
        "registry_max_agent_count",
        "102400",
        "At most this many unreachable (and this many gone) agents are kept in the registry; the oldest are forgotten first.",
    ),
    Flag::new(
        "agent_reregister_timeout",
        "10mins",
        "After a failover, time for agents in the registry to re-register before they are marked unreachable (Mesos: at least 10mins; here at least 1secs).",
    ),
    Flag::optional(
        "weights",
        "Role weights: role1=weight1,role2=weight2 (also settable at runtime through /weights).",
    ),
    Flag::new(
        "min_allocatable_resources",
        "cpus:0.01|mem:32",
        "Resources are offered only if they hold at least one of these '|'-separated quantity sets (each 'name:quantity;...').",
    ),
    Flag::new("quiet", "false", "Log warnings and errors only."),
    Flag::optional(
        "zk",
        "ZooKeeper URL zk://host:port[,host:port]/path: contend for leadership there (the leader is the json.info_* znode with the lowest sequence).",
    ),
    Flag::optional(
        "quorum",
        "Size of a quorum of masters (accepted for compatibility; the registry lives in the one ZooKeeper ensemble).",
    ),
    Flag::new(
        "zk_session_timeout",
        "10secs",
        "ZooKeeper session timeout; a leader that loses its session (or is disconnected this long) exits.",
    ),
    Flag::optional("cluster", "Human-readable cluster name shown in /state."),
    Flag::optional(
        "advertise_ip",
        "IP address advertised to agents, frameworks and ZooKeeper (its PID and MasterInfo), if not --ip (e.g. behind NAT).",
    ),
    Flag::optional(
        "advertise_port",
        "Port advertised to agents, frameworks and ZooKeeper, if not --port.",
    ),
    Flag::optional(
        "log_dir",
        "Also write the log to a file in this directory (symlink <dir>/mesos-master.INFO to the current one).",
    ),
    Flag::new(
        "logging_level",
        "INFO",
        "Lowest level logged: INFO, WARNING or ERROR (--quiet: WARNING).",
    ),
    Flag::optional(
        "webui_dir",
        "Serve the web UI (at / and /static/...) from this directory instead of the copy built into the binary; for developing the UI without rebuilding.",
    ),
    Flag::new(
        "authenticate_frameworks",
        "false",
        "Only frameworks that authenticated (with a principal and secret from --credentials) may register.",
    ),
    Flag::new(
        "authenticate_agents",
        "false",
        "Only agents that authenticated (with a principal and secret from --credentials) may register.",
    ),
    Flag::optional(
        "credentials",
        "Path (or file:///path) of the principals and secrets that may authenticate: JSON {\"credentials\":[{\"principal\":..,\"secret\":..}]} or text lines 'principal secret'.",
    ),    Flag::new(
        "authenticate_http_readonly",
        "false",
        "Read-only HTTP endpoints (/master/state, /flags, /metrics/snapshot, /files, ...) need HTTP Basic credentials from --credentials.",
    ),
    Flag::new(
        "authenticate_http_readwrite",
        "false",
        "HTTP endpoints that change the cluster (/teardown, /reserve, /quota, /weights, the operator API /api/v1, ...) need HTTP Basic credentials from --credentials.",
    ),
    Flag::new(
        "authenticate_http_frameworks",
        "false",
        "The v1 scheduler API (/api/v1/scheduler) needs HTTP Basic credentials from --credentials; a framework subscribes as that principal.",
    ),
    Flag::optional(
        "acls",
        "Access control lists as Mesos's ACLs JSON ({\"permissive\":true,\"run_tasks\":[{\"principals\":{..},\"users\":{..}}],...}), inline or a path (file:///path).",
    ),
    libproc::fault::FLAG,
];

/// Parsed master settings. [`MasterConfig::default`] is what the flags default to.
#[derive(Debug, Clone)]
pub struct MasterConfig {
    /// `--ip`.
    pub ip: IpAddr,
    /// `--port`.
    pub port: u16,
    /// `--hostname` (default: the IP).
    pub hostname: Option<String>,
    /// `--work_dir`.
    pub work_dir: Option<PathBuf>,
    /// `--allocation_interval`.
    pub allocation_interval: Duration,
    /// `--agent_ping_timeout`.
    pub agent_ping_timeout: Duration,
    /// `--max_agent_ping_timeouts`.
    pub max_agent_ping_timeouts: u32,
    /// `--offer_timeout` (`None`: offers never time out).
    pub offer_timeout: Option<Duration>,
    /// `--max_completed_frameworks`.
    pub max_completed_frameworks: usize,
    /// `--max_completed_tasks_per_framework`.
    pub max_completed_tasks_per_framework: usize,
    /// `--registry`: `in_memory`, `zookeeper` or `file` (the deprecated
    /// `replicated_log` is mapped to one of the last two when parsed).
    pub registry: String,
    /// `--registry_max_agent_age`.
    pub registry_max_agent_age: Duration,
    /// `--registry_max_agent_count`.
    pub registry_max_agent_count: usize,
    /// A registry store handed in (tests: a shared or failing in-memory store); when set,
    /// it is used whatever `registry` says.
    pub registry_store: Option<crate::registry::RegistryStore>,
    /// `--zk`: contend for leadership (and keep a replicated registry) in ZooKeeper.
    pub zk: Option<ZkUrl>,
    /// `--quorum` (accepted, unused).
    pub quorum: Option<u32>,
    /// `--zk_session_timeout`.
    pub zk_session_timeout: Duration,
    /// `--agent_reregister_timeout`.
    pub agent_reregister_timeout: Duration,
    /// `--weights`.
    pub weights: Vec<(String, f64)>,
    /// `--min_allocatable_resources` (alternatives of name/quantity sets).
    pub min_allocatable_resources: Vec<Vec<(String, f64)>>,
    /// `--quiet`.
    pub quiet: bool,
    /// `--cluster`.
    pub cluster: Option<String>,
    /// `--webui_dir` (`None`: the web UI built into the binary).
    pub webui_dir: Option<PathBuf>,
    /// `--authenticate_frameworks`.
    pub authenticate_frameworks: bool,
    /// `--authenticate_agents`.
    pub authenticate_agents: bool,
    /// `--credentials`: the file's path (shown in `/flags`; the secrets never are).
    pub credentials_path: Option<String>,
    /// The principals and secrets read from `--credentials`.
    pub credentials: Vec<proto::authentication::Credential>,
    /// `--authenticate_http_readonly`.
    pub authenticate_http_readonly: bool,
    /// `--authenticate_http_readwrite`.
    pub authenticate_http_readwrite: bool,
    /// `--authenticate_http_frameworks`.
    pub authenticate_http_frameworks: bool,
    /// `--acls` as given (inline JSON or a path), for `/flags`.
    pub acls_flag: Option<String>,
    /// The parsed `--acls` (default: none, permissive).
    pub acls: proto::acls::Acls,
    /// `--advertise_ip`.
    pub advertise_ip: Option<IpAddr>,
    /// `--advertise_port`.
    pub advertise_port: Option<u16>,
    /// `--log_dir`.
    pub log_dir: Option<PathBuf>,
    /// `--logging_level` as a tracing level (`info`, `warn`, `error`).
    pub logging_level: &'static str,
    /// Seed for the master id (a UUID-shaped string derived from it); the binary passes
    /// something unique, tests a constant.
    pub id_seed: u64,
    /// This master's wall clock (seconds since the epoch): timestamps on what it reports
    /// and registers, and the registry's GC by age (`--registry_max_agent_age`). Timers
    /// run on the runtime's monotonic clock, never on this one.
    pub clock: libproc::wall_clock::WallClock,
    /// How often v1 API streams (scheduler and operator SUBSCRIBE) get a HEARTBEAT event
    /// (Mesos: 15 s, not a flag; tests shorten it).
    pub http_heartbeat_interval: Duration,
}

/// The system wall clock, in seconds since the epoch.
pub fn wall_clock() -> f64 {
    libproc::wall_clock::system_now()
}

impl Default for MasterConfig {
    fn default() -> Self {
        MasterConfig {
            ip: IpAddr::from([127, 0, 0, 1]),
            port: 5050,
            hostname: None,
            work_dir: None,
            allocation_interval: Duration::from_secs(1),
            agent_ping_timeout: Duration::from_secs(15),
            max_agent_ping_timeouts: 5,
            offer_timeout: None,
            max_completed_frameworks: 50,
            max_completed_tasks_per_framework: 1000,
            registry: "in_memory".into(),
            registry_max_agent_age: Duration::from_secs(14 * 86400),
            registry_max_agent_count: 100 * 1024,
            registry_store: None,
            zk: None,
            quorum: None,
            zk_session_timeout: Duration::from_secs(10),
            agent_reregister_timeout: Duration::from_secs(600),
            weights: Vec::new(),
            min_allocatable_resources: AllocatorConfig::default().min_allocatable_resources,
            quiet: false,
            cluster: None,
            webui_dir: None,
            authenticate_frameworks: false,
            authenticate_agents: false,
            credentials_path: None,
            credentials: Vec::new(),
            authenticate_http_readonly: false,
            authenticate_http_readwrite: false,
            authenticate_http_frameworks: false,
            acls_flag: None,
            acls: proto::acls::Acls::default(),
            advertise_ip: None,
            advertise_port: None,
            log_dir: None,
            logging_level: "info",
            id_seed: 0,
            clock: libproc::wall_clock::WallClock::system(),
            http_heartbeat_interval: Duration::from_secs(15),
        }
    }
}

fn invalid(name: &str, value: &str, expected: &str) -> FlagsError {
    FlagsError::Invalid {
        name: name.into(),
        value: value.into(),
        expected: expected.into(),
    }
}

/// Parses `role1=2,role2=1.5`.
pub fn parse_weights(text: &str) -> Result<Vec<(String, f64)>, FlagsError> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || {
            invalid(
                "weights",
                text,
                "expected role=weight pairs like ads=2,batch=1 with weights > 0",
            )
        };
        let (role, w) = part.split_once('=').ok_or_else(bad)?;
        let w: f64 = w.trim().parse().map_err(|_| bad())?;
        if role.trim().is_empty() || !w.is_finite() || w <= 0.0 {
            return Err(bad());
        }
        out.push((role.trim().to_string(), w));
    }
    Ok(out)
}

/// Warnings about deprecated flag values in `flags` (the binary logs them).
pub fn deprecations(flags: &Flags) -> Vec<String> {
    let mut out = Vec::new();
    if flags.str("registry") == Some("replicated_log") {
        let mapped = if flags.has("zk") { "zookeeper" } else { "file" };
        out.push(format!(
            "--registry=replicated_log is deprecated: this master keeps its registry in one ZooKeeper blob or a local file, not a replicated log; using --registry={mapped}"
        ));
    }
    out
}

impl MasterConfig {
    /// Reads parsed flags.
    pub fn from_flags(flags: &Flags) -> Result<MasterConfig, FlagsError> {
        let zk = match flags.str("zk") {
            Some(text) => Some(
                text.parse::<ZkUrl>()
                    .map_err(|e| invalid("zk", text, &e.reason))?,
            ),
            None => None,
        };
        let given = flags.str("registry").unwrap_or("in_memory").to_string();
        let registry = match given.as_str() {
            // Scripts written for Mesos say replicated_log; ours is not a log (the binary
            // logs [`deprecations`] once logging is up).
            "replicated_log" if zk.is_some() => "zookeeper".to_string(),
            "replicated_log" => "file".to_string(),
            other => other.to_string(),
        };
        match registry.as_str() {
            "in_memory" => {}
            "zookeeper" if zk.is_none() => {
                return Err(invalid(
                    "registry",
                    &given,
                    "--registry=zookeeper needs --zk=zk://host:port/path",
                ));
            }
            "file" if !flags.has("work_dir") => {
                return Err(invalid(
                    "registry",
                    &given,
                    "--registry=file needs --work_dir (the registry is <work_dir>/meta/registry.bin)",
                ));
            }
            "zookeeper" | "file" => {}
            _ => {
                return Err(invalid(
                    "registry",
                    &given,
                    "expected in_memory, zookeeper or file (replicated_log: deprecated alias)",
                ))
            }
        }
        let registry_max_agent_count: usize = flags.get("registry_max_agent_count")?;
        let zk_session_timeout = flags.duration("zk_session_timeout")?;
        if zk_session_timeout < Duration::from_millis(100) {
            return Err(invalid(
                "zk_session_timeout",
                flags.str("zk_session_timeout").unwrap_or(""),
                "expected a duration of at least 100ms",
            ));
        }
        let agent_reregister_timeout = flags.duration("agent_reregister_timeout")?;
        if agent_reregister_timeout < Duration::from_secs(1) {
            return Err(invalid(
                "agent_reregister_timeout",
                flags.str("agent_reregister_timeout").unwrap_or(""),
                "expected a duration of at least 1secs",
            ));
        }
        let quorum = if flags.has("quorum") {
            let q: u32 = flags.get("quorum")?;
            if q == 0 {
                return Err(invalid("quorum", "0", "expected at least 1"));
            }
            Some(q)
        } else {
            None
        };
        let ping = flags.duration("agent_ping_timeout")?;
        if ping < Duration::from_secs(1) || ping > Duration::from_secs(15 * 60) {
            return Err(invalid(
                "agent_ping_timeout",
                flags.str("agent_ping_timeout").unwrap_or(""),
                "expected a duration between 1secs and 15mins",
            ));
        }
        let max_pings: u32 = flags.get("max_agent_ping_timeouts")?;
        if max_pings == 0 {
            return Err(invalid(
                "max_agent_ping_timeouts",
                "0",
                "expected at least 1",
            ));
        }
        let allocation_interval = flags.duration("allocation_interval")?;
        if allocation_interval.is_zero() {
            return Err(invalid(
                "allocation_interval",
                "0",
                "expected a positive duration",
            ));
        }
        let offer_timeout = if flags.has("offer_timeout") {
            Some(flags.duration("offer_timeout")?)
        } else {
            None
        };
        let credentials_path: Option<String> = flags.opt("credentials")?;
        let credentials = match &credentials_path {
            Some(path) => proto::authentication::load_credentials(path)
                .map_err(|e| invalid("credentials", path, &e.to_string()))?,
            None => Vec::new(),
        };
        let authenticate_frameworks = flags.bool("authenticate_frameworks")?;
        let authenticate_agents = flags.bool("authenticate_agents")?;
        if (authenticate_frameworks || authenticate_agents) && credentials_path.is_none() {
            return Err(invalid(
                "credentials",
                "",
                "a credentials file: --authenticate_frameworks and --authenticate_agents check principals against --credentials",
            ));
        }
        let authenticate_http_readonly = flags.bool("authenticate_http_readonly")?;
        let authenticate_http_readwrite = flags.bool("authenticate_http_readwrite")?;
        let authenticate_http_frameworks = flags.bool("authenticate_http_frameworks")?;
        if (authenticate_http_readonly
            || authenticate_http_readwrite
            || authenticate_http_frameworks)
            && credentials_path.is_none()
        {
            return Err(invalid(
                "credentials",
                "",
                "a credentials file: --authenticate_http_* check HTTP Basic credentials against --credentials",
            ));
        }
        let acls_flag: Option<String> = flags.opt("acls")?;
        let acls = match &acls_flag {
            Some(text) => {
                proto::acls::Acls::from_flag(text).map_err(|e| invalid("acls", text, &e))?
            }
            None => proto::acls::Acls::default(),
        };
        Ok(MasterConfig {
            authenticate_http_readonly,
            authenticate_http_readwrite,
            authenticate_http_frameworks,
            acls_flag,
            acls,
            authenticate_frameworks,
            authenticate_agents,
            credentials_path,
            credentials,
            ip: flags.get("ip")?,
            port: flags.get("port")?,
            hostname: flags.opt("hostname")?,
            work_dir: flags.opt("work_dir")?,
            allocation_interval,
            agent_ping_timeout: ping,
            max_agent_ping_timeouts: max_pings,
            offer_timeout,
            max_completed_frameworks: flags.get("max_completed_frameworks")?,
            max_completed_tasks_per_framework: flags.get("max_completed_tasks_per_framework")?,
            registry,
            registry_max_agent_age: flags.duration("registry_max_agent_age")?,
            registry_max_agent_count,
            registry_store: None,
            zk,
            quorum,
            zk_session_timeout,
            agent_reregister_timeout,
            weights: match flags.str("weights") {
                Some(w) => parse_weights(w)?,
                None => Vec::new(),
            },
            min_allocatable_resources: {
                let text = flags.str("min_allocatable_resources").unwrap_or_default();
                crate::allocator::protocol::parse_min_allocatable(text)
                    .map_err(|why| invalid("min_allocatable_resources", text, &why))?
            },
            quiet: flags.bool("quiet")?,
            cluster: flags.opt("cluster")?,
            webui_dir: flags.opt("webui_dir")?,
            advertise_ip: flags.opt("advertise_ip")?,
            advertise_port: flags.opt("advertise_port")?,
            log_dir: flags.opt("log_dir")?,
            logging_level: {
                let text = flags.str("logging_level").unwrap_or("INFO");
                libproc::logging::level_from_mesos(text)
                    .map_err(|_| invalid("logging_level", text, "INFO, WARNING or ERROR"))?
            },
            id_seed: 0,
            clock: libproc::wall_clock::WallClock::system(),
            http_heartbeat_interval: Duration::from_secs(15),
        })
    }

    /// Where the registry lives, from `--registry`, `--zk` and `--work_dir`.
    pub fn registry_store(&self) -> crate::registry::RegistryStore {
        use crate::registry::RegistryStore;
        if let Some(store) = &self.registry_store {
            return store.clone();
        }
        match (self.registry.as_str(), &self.zk, &self.work_dir) {
            ("zookeeper" | "replicated_log", Some(zk), _) => RegistryStore::ZooKeeper(
                detector::zk_store::ZkBlobStore::new(zk, "registry", self.zk_session_timeout),
            ),
            ("file" | "replicated_log", _, Some(dir)) => {
                RegistryStore::File(dir.join("meta").join("registry.bin"))
            }
            _ => RegistryStore::in_memory(),
        }
    }

    /// The allocator's settings derived from these flags.
    pub fn allocator_config(&self) -> AllocatorConfig {
        AllocatorConfig {
            allocation_interval: self.allocation_interval,
            weights: self.weights.clone(),
            min_allocatable_resources: self.min_allocatable_resources.clone(),
        }
    }

    /// Every flag and its effective value, for `/master/flags`.
    pub fn to_flags_json(&self) -> serde_json::Value {
        let secs = |d: Duration| format!("{}secs", d.as_secs_f64());
        let mut m = serde_json::Map::new();
        let mut put = |k: &str, v: String| {
            m.insert(k.to_string(), serde_json::Value::String(v));
        };
        put("ip", self.ip.to_string());
        put("port", self.port.to_string());
        if let Some(h) = &self.hostname {
            put("hostname", h.clone());
        }
        if let Some(w) = &self.work_dir {
            put("work_dir", w.display().to_string());
        }
        put("allocation_interval", secs(self.allocation_interval));
        put("agent_ping_timeout", secs(self.agent_ping_timeout));
        put(
            "max_agent_ping_timeouts",
            self.max_agent_ping_timeouts.to_string(),
        );
        if let Some(t) = self.offer_timeout {
            put("offer_timeout", secs(t));
        }
        put(
            "max_completed_frameworks",
            self.max_completed_frameworks.to_string(),
        );
        put(
            "max_completed_tasks_per_framework",
            self.max_completed_tasks_per_framework.to_string(),
        );
        put("registry", self.registry.clone());
        put("registry_max_agent_age", secs(self.registry_max_agent_age));
        put(
            "registry_max_agent_count",
            self.registry_max_agent_count.to_string(),
        );
        if let Some(zk) = &self.zk {
            put("zk", zk.to_string());
        }
        if let Some(q) = self.quorum {
            put("quorum", q.to_string());
        }
        put("zk_session_timeout", secs(self.zk_session_timeout));
        put(
            "agent_reregister_timeout",
            secs(self.agent_reregister_timeout),
        );
        if !self.weights.is_empty() {
            let w: Vec<String> = self
                .weights
                .iter()
                .map(|(r, w)| format!("{r}={w}"))
                .collect();
            put("weights", w.join(","));
        }
        let min: Vec<String> = self
            .min_allocatable_resources
            .iter()
            .map(|set| {
                set.iter()
                    .map(|(n, q)| format!("{n}:{q}"))
                    .collect::<Vec<_>>()
                    .join(";")
            })
            .collect();
        put("min_allocatable_resources", min.join("|"));
        put("quiet", self.quiet.to_string());
        if let Some(c) = &self.cluster {
            put("cluster", c.clone());
        }
        if let Some(d) = &self.webui_dir {
            put("webui_dir", d.display().to_string());
        }
        put(
            "authenticate_frameworks",
            self.authenticate_frameworks.to_string(),
        );
        put("authenticate_agents", self.authenticate_agents.to_string());
        if let Some(c) = &self.credentials_path {
            put("credentials", c.clone());
        }
        put(
            "authenticate_http_readonly",
            self.authenticate_http_readonly.to_string(),
        );
        put(
            "authenticate_http_readwrite",
            self.authenticate_http_readwrite.to_string(),
        );
        put(
            "authenticate_http_frameworks",
            self.authenticate_http_frameworks.to_string(),
        );
        if let Some(a) = &self.acls_flag {
            put("acls", a.clone());
        }
        if let Some(ip) = self.advertise_ip {
            put("advertise_ip", ip.to_string());
        }
        if let Some(p) = self.advertise_port {
            put("advertise_port", p.to_string());
        }
        if let Some(d) = &self.log_dir {
            put("log_dir", d.display().to_string());
        }
        put(
            "logging_level",
            match self.logging_level {
                "warn" => "WARNING",
                "error" => "ERROR",
                _ => "INFO",
            }
            .into(),
        );
        serde_json::Value::Object(m)
    }
}

/// A UUID-shaped master id from a seed (splitmix64), as Mesos master ids look.
pub fn master_id_from_seed(seed: u64) -> String {
    let mut rng = libproc::rng::SplitMix64::new(seed);
    let v = ((rng.next_u64() as u128) << 64) | rng.next_u64() as u128;
    let h = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<MasterConfig, FlagsError> {
        let flags = Flags::parse(
            "mesos-master",
            FLAGS,
            args.iter().map(|s| s.to_string()),
            "MESOS_",
            |_| None,
        )?;
        MasterConfig::from_flags(&flags)
    }

    #[test]
    fn start_script_flags_parse_and_bad_values_say_the_valid_form() {
        let c = parse(&[
            "--advertise_ip=10.1.2.3",
            "--advertise_port=6060",
            "--log_dir=/tmp/mlogs",
            "--logging_level=WARNING",
            "--hostname=m1.example",
        ])
        .unwrap();
        assert_eq!(c.advertise_ip, Some(IpAddr::from([10, 1, 2, 3])));
        assert_eq!(c.advertise_port, Some(6060));
        assert_eq!(c.log_dir, Some(PathBuf::from("/tmp/mlogs")));
        assert_eq!(c.logging_level, "warn");
        let flags = c.to_flags_json();
        assert_eq!(flags["logging_level"], "WARNING");
        assert_eq!(flags["advertise_ip"], "10.1.2.3");
        assert_eq!(parse(&[]).unwrap().logging_level, "info");
        let e = parse(&["--logging_level=LOUD"]).unwrap_err().to_string();
        assert!(
            e.contains("--logging_level") && e.contains("INFO, WARNING or ERROR"),
            "{e}"
        );
        let e = parse(&["--advertise_ip=nope"]).unwrap_err().to_string();
        assert!(e.contains("--advertise_ip") && e.contains("nope"), "{e}");
        let e = parse(&["--advertise_port=70000"]).unwrap_err().to_string();
        assert!(e.contains("--advertise_port") && e.contains("70000"), "{e}");
        let e = parse(&["--log-dirr=/x"]).unwrap_err().to_string();
        assert!(e.contains("--log_dirr") && e.contains("--log_dir,"), "{e}");
        assert_eq!(parse(&["--version"]).unwrap_err(), FlagsError::Version);
    }

    #[test]
    fn defaults_match_mesos() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.port, 5050);
        assert_eq!(c.agent_ping_timeout, Duration::from_secs(15));
        assert_eq!(c.max_agent_ping_timeouts, 5);
        assert_eq!(c.offer_timeout, None);
        assert_eq!(c.max_completed_frameworks, 50);
        assert_eq!(c.max_completed_tasks_per_framework, 1000);
        assert_eq!(c.allocation_interval, Duration::from_secs(1));
        assert_eq!(c.zk_session_timeout, Duration::from_secs(10));
        assert_eq!(c.agent_reregister_timeout, Duration::from_secs(600));
        assert_eq!(c.registry, "in_memory");
        assert!(c.zk.is_none());
        assert_eq!(
            c.min_allocatable_resources,
            vec![
                vec![("cpus".to_string(), 0.01)],
                vec![("mem".to_string(), 32.0)]
            ]
        );
    }

    #[test]
    fn min_allocatable_resources_flag() {
        let c = parse(&["--min_allocatable_resources=cpus:1;mem:64|gpus:1"]).unwrap();
        assert_eq!(
            c.min_allocatable_resources,
            vec![
                vec![("cpus".to_string(), 1.0), ("mem".to_string(), 64.0)],
                vec![("gpus".to_string(), 1.0)]
            ]
        );
        assert_eq!(
            c.to_flags_json()["min_allocatable_resources"],
            "cpus:1;mem:64|gpus:1"
        );
        for bad in ["cpus", "cpus:x", "cpus:1||mem:2", "cpus:-1"] {
            let err = parse(&[&format!("--min_allocatable_resources={bad}")]).unwrap_err();
            assert!(
                err.to_string().contains("min_allocatable_resources"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn values_and_errors() {
        let c = parse(&[
            "--offer_timeout=30secs",
            "--weights=a=2,b=0.5",
            "--port=6060",
        ])
        .unwrap();
        assert_eq!(c.offer_timeout, Some(Duration::from_secs(30)));
        assert_eq!(
            c.weights,
            vec![("a".to_string(), 2.0), ("b".to_string(), 0.5)]
        );
        assert_eq!(c.port, 6060);
        let c = parse(&[
            "--zk=zk://h:2181,h2:2181/mesos",
            "--quorum=2",
            "--zk_session_timeout=2secs",
            "--registry=replicated_log",
            "--agent_reregister_timeout=30secs",
        ])
        .unwrap();
        assert_eq!(c.zk.as_ref().map(|z| z.path.as_str()), Some("/mesos"));
        assert_eq!(c.quorum, Some(2));
        assert_eq!(c.zk_session_timeout, Duration::from_secs(2));
        assert_eq!(c.agent_reregister_timeout, Duration::from_secs(30));
        // The deprecated alias names what the registry really is, and says so.
        assert_eq!(c.registry, "zookeeper");
        let flags = Flags::parse(
            "mesos-master",
            FLAGS,
            ["--registry=replicated_log", "--zk=zk://h:2181/m"]
                .iter()
                .map(|s| s.to_string()),
            "MESOS_",
            |_| None,
        )
        .unwrap();
        let warned = deprecations(&flags);
        assert!(
            warned.len() == 1 && warned[0].contains("--registry=zookeeper"),
            "{warned:?}"
        );
        let e = parse(&["--zk=zk://h:2181"]).unwrap_err().to_string();
        assert!(e.contains("path"), "{e}");
        let e = parse(&["--registry=replicated_log"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--work_dir"), "{e}");
        let c = parse(&["--registry=replicated_log", "--work_dir=/tmp/x"]).unwrap();
        assert_eq!(c.registry, "file");
        assert!(matches!(
            c.registry_store(),
            crate::registry::RegistryStore::File(_)
        ));
        let e = parse(&["--registry=zookeeper"]).unwrap_err().to_string();
        assert!(e.contains("--zk"), "{e}");
        assert!(parse(&["--registry=file"]).is_err());
        let c = parse(&["--registry=file", "--work_dir=/tmp/x"]).unwrap();
        assert_eq!(c.registry, "file");
        let c = parse(&["--registry=zookeeper", "--zk=zk://h:2181/m"]).unwrap();
        assert!(matches!(
            c.registry_store(),
            crate::registry::RegistryStore::ZooKeeper(_)
        ));
        assert!(parse(&["--registry=bogus"]).is_err());
        let c = parse(&[]).unwrap();
        assert_eq!(c.registry_max_agent_age, Duration::from_secs(14 * 86400));
        assert_eq!(c.registry_max_agent_count, 102400);
        let c = parse(&[
            "--registry_max_agent_age=1days",
            "--registry_max_agent_count=7",
        ])
        .unwrap();
        assert_eq!(c.registry_max_agent_age, Duration::from_secs(86400));
        assert_eq!(c.registry_max_agent_count, 7);
        assert!(parse(&["--agent_reregister_timeout=0secs"]).is_err());
        assert!(parse(&["--weights=a"]).is_err());
        assert!(parse(&["--agent_ping_timeout=100ms"]).is_err());
        assert!(parse(&["--max_agent_ping_timeouts=0"]).is_err());
    }

    #[test]
    fn master_ids_are_uuid_shaped_and_seeded() {
        let a = master_id_from_seed(1);
        assert_eq!(a.len(), 36);
        assert_eq!(a, master_id_from_seed(1));
        assert_ne!(a, master_id_from_seed(2));
    }
}

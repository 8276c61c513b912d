//! The Mesos agent (`mesos-agent`): registers with the master, runs executors through a
//! containerizer in per-run sandboxes, relays tasks, kills and shutdowns to them, and
//! delivers their status updates to the master reliably.
//!
//! **Slave or agent.** The crate and its folder are `slave/`, as in Mesos's source tree
//! (`src/slave/`) and its wire names (`RegisterSlaveMessage`, `slave(N)`, `slave_id`),
//! which stay as Mesos spells them. Everything a user sees (the binary `mesos-agent`, flags,
//! logs, `/state` prose, docs) and every identifier in our code (`AgentProcess`,
//! `AgentCore`, `AgentId`) says **agent**.
//!
//! Rooms:
//!
//! * [`agent`]: the agent process, a thin actor shell; [`agent::core`] is its pure state
//!   machine (frameworks, executors, tasks and status-update streams: events in, effects
//!   out; it touches no runtime, file or process), [`agent::recovery`] checkpointing,
//!   recovery after a restart and master detection.
//! * [`registration`] and [`status_update`]: pure state machines the agent drives.
//! * [`containerizer`]: the [`containerizer::Containerizer`] seam (`launch`, `wait`,
//!   `update`, `usage`, `destroy`, `recover`) with [`containerizer::PosixContainerizer`]
//!   (executors as OS processes, Docker tasks through the Docker executor) and
//!   [`containerizer::TestContainerizer`] (executors in-process, for paused-clock tests);
//!   also `--containerizers` and the agent's side of Docker.
//! * [`isolation`]: isolators (posix, cgroups) and `/monitor/statistics`.
//! * [`gc`]: sandbox garbage collection (`--gc_delay`, `--gc_disk_headroom`): the pure
//!   schedule and the file system side; the agent's shell drives them.
//! * [`fetcher`]: brings `CommandInfo.uris` into the sandbox before launch (downloads,
//!   archives, the cache); [`user`] (`--switch_user`: which user a task runs as) and
//!   [`sandbox`] (its directory, owned by that user).
//! * [`resources`] (detection and `--resources`), [`paths`] (sandbox layout),
//!   [`checkpoint`] (the `meta/` checkpoint recovery reads), [`files`] (`/files/read`,
//!   `/files/browse`), [`config`] (configuration and flags).
//!   Randomness (jitter, ids, uuids) comes from the one seeded `libproc::rng`.
//!
//! ```ignore
//! let mut config = slave::AgentConfig::new(master_pid, "/tmp/mesos/agent-1");
//! let agent = slave::spawn(&node, config)?;   // process slave(N) on this node
//! agent.stopped().await;                       // after ShutdownMessage
//! ```

#![warn(missing_docs)]

pub mod agent;
pub mod beneath;
pub mod checkpoint;
pub mod config;
pub mod containerizer;
pub mod fetcher;
pub mod files;
pub mod gc;
pub mod isolation;
pub mod metrics;
pub mod paths;
pub mod registration;
pub mod resources;
pub mod sandbox;
pub mod status_update;
pub mod user;
pub mod v1_executor;

pub use agent::AgentProcess;
pub use config::AgentConfig;

use libproc::{Node, Pid, ProcessRef, SpawnError};
use tokio::sync::watch;

/// Why an agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The work directory could not be created.
    #[error("cannot create work_dir '{path}': {source}")]
    WorkDir {
        /// The directory.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The checkpoint could not be recovered (with `--strict`, any error; otherwise only
    /// an unreadable agent id or info).
    #[error("cannot recover the agent's checkpoint: {0}; to start as a new agent, remove {1}")]
    Recovery(#[source] checkpoint::CheckpointError, String),
    /// The checkpointed agent differs from the configured one (Mesos
    /// `--reconfiguration_policy=equal`).
    #[error("the checkpointed agent info is incompatible with the current one: {0}; to start as a new agent, remove {1}")]
    Incompatible(String, String),
    /// The process could not be spawned.
    #[error("cannot spawn the agent process: {0}")]
    Spawn(#[from] SpawnError),
}

/// A running agent.
pub struct AgentHandle {
    /// The agent process.
    pub process: ProcessRef<AgentProcess>,
    stopped: watch::Receiver<bool>,
    aborted: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl AgentHandle {
    /// The agent's PID (`slave(N)@ip:port`).
    pub fn pid(&self) -> &Pid {
        self.process.pid()
    }

    /// Resolves once the agent process has stopped (e.g. after `ShutdownMessage`).
    pub async fn stopped(&self) {
        let mut rx = self.stopped.clone();
        let _ = rx.wait_for(|s| *s).await;
    }

    /// Whether the agent stopped because a checkpoint write failed (as Mesos aborts).
    pub fn aborted(&self) -> bool {
        self.aborted.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Shuts every executor down and stops the agent; resolves when it has stopped.
    pub async fn shutdown(&self) {
        let _ = self.process.call(|me, ctx| me.shutdown(ctx)).await;
        self.stopped().await;
    }
}

/// Gives the node an HTTP Basic authenticator (against `--http_credentials`) for each
/// realm of the agent's routes its `--authenticate_http_*` flags guard, before any route
/// serves. The node's own endpoints follow the agent's realms unless a master on the same
/// node (`mesos-local`) named its own first.
fn guard_http(node: &Node, config: &AgentConfig) {
    use proto::http_authentication::{BasicAuthenticator, AGENT_READONLY, AGENT_READWRITE};
    let basic: std::sync::Arc<dyn libproc::http_auth::HttpAuthenticator> =
        std::sync::Arc::new(BasicAuthenticator::new(&config.http_credentials));
    for (realm, on) in [
        (AGENT_READONLY, config.authenticate_http_readonly),
        (AGENT_READWRITE, config.authenticate_http_readwrite),
    ] {
        if on {
            node.set_http_authenticator(realm, Some(basic.clone()));
        }
    }
    node.protect_builtins(AGENT_READONLY, AGENT_READWRITE);
    if !config.acls.permissive || config.acls.has_rules(proto::acls::Action::GetEndpoint) {
        node.set_http_authorizer(std::sync::Arc::new(proto::acls::EndpointAuthorizer(
            config.acls.clone(),
        )));
    }
}

/// Spawns an agent `slave(N)` on `node` (and, if `config.serve_files`, the node's `files`
/// process serving this agent's sandboxes, unless one exists already).
pub fn spawn(node: &Node, config: AgentConfig) -> Result<AgentHandle, AgentError> {
    let root = paths::slaves_root(&config.work_dir);
    std::fs::create_dir_all(&root).map_err(|source| AgentError::WorkDir {
        path: config.work_dir.display().to_string(),
        source,
    })?;
    guard_http(node, &config);
    if config.serve_files {
        let files = files::FilesProcess::new(vec![root]).with_acls(config.acls.clone());
        match node.spawn("files", files) {
            Ok(_) | Err(SpawnError::DuplicateId(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    // `/monitor/statistics` (one per node, like `files`: the first agent's containers).
    let monitor =
        isolation::monitor::MonitorProcess::new(config.isolation.clone(), config.clock.clone());
    match node.spawn(isolation::monitor::MONITOR_ID, monitor) {
        Ok(_) | Err(SpawnError::DuplicateId(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let recovery = agent::recovery::load(&config, node.addr().port())?;
    let (tx, rx) = watch::channel(false);
    let id = node.generate_id("slave");
    let port = node.addr().port();
    let agent = AgentProcess::new(config, port, tx).with_recovery(recovery);
    let aborted = agent.aborted();
    let process = node.spawn(&id, agent)?;
    Ok(AgentHandle {
        process,
        stopped: rx,
        aborted,
    })
}

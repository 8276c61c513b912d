//! The Mesos master: admits agents and frameworks, turns the allocator's decisions into
//! resource offers, validates and launches tasks, relays status updates, watches agent
//! health, and serves the operator HTTP API (`/master/state`, ...).
//!
//! Layout: [`core`] is the pure bookkeeping (event in, effects out); [`process`] is the
//! libproc actor shell around it; [`leadership`] is where the master stands in leader
//! election and [`write_queue`] holds effects back until the registry write covering them
//! succeeded (both pure, driven by the shell); [`state_json`] renders the operator views; [`config`] holds
//! the `mesos-master` flags; [`authentication`] decides who may register; [`authorization`] applies `--acls`; [`allocator`] is the DRF allocator process; [`operator`] is
//! the allocation policy the operator controls (weights, quota, reservations, `/roles`);
//! [`registry`] is the durable record (admitted, unreachable and gone agents, torn-down
//! frameworks, weights and quotas) and where it is stored: every decision in it is
//! written before the master announces it. [`webui`] serves the browser dashboard at `/`;
//! [`leader_proxy`] lets a standby's dashboard read the leader's state through it;
//! [`log_files`] serves the master's log at `/files/read?path=/master/log` (`--log_dir`).
//!
//! With `--zk` a master starts as a non-leader: it contends through ZooKeeper
//! ([`detector::contender`]), answers leader-only HTTP with a redirect to the leader, and
//! drops framework and agent messages. Once elected it recovers the registry and leads.
//! If it loses its ZooKeeper session or its candidacy it stops (the binary then exits),
//! so two masters never act at once.
//!
//! Start one with [`spawn`] (master + allocator on one node, as `mesos-master` and
//! `mesos-local` do).

pub mod allocator;
pub mod authentication;
pub mod authorization;
pub mod bound_pids;
pub mod config;
pub mod core;
pub mod http_api;
pub mod leader_proxy;
pub mod leadership;
pub mod log_files;
pub mod metrics;
pub mod operator;
pub mod process;
pub mod registry;
pub mod state_json;
pub mod undecodable;
pub mod webui;
pub mod write_queue;

pub use config::{MasterConfig, FLAGS};
pub use process::{MasterProcess, ALLOCATOR_ID, MASTER_ID};

use libproc::{Node, Pid, Process, ProcessRef, SpawnError};

use crate::allocator::protocol::AllocatorConfig;

/// A running master on a node.
#[derive(Clone)]
pub struct MasterHandle {
    /// The master process.
    pub master: ProcessRef<MasterProcess>,
    /// The allocator's PID.
    pub allocator: Pid,
    /// Whether the master may act as leader now, readable from any thread.
    pub acting: leadership::ActingProbe,
}

impl MasterHandle {
    /// The master's PID (`master@ip:port`).
    pub fn pid(&self) -> &Pid {
        self.master.pid()
    }
}

/// Spawns only the master process (id `master`), talking to whatever process has id
/// `allocator` on the node, and makes it the node's HTTP delegate (so `/state` works as
/// well as `/master/state`). Tests use this with a fake allocator.
pub fn spawn_master(
    node: &Node,
    config: MasterConfig,
) -> Result<ProcessRef<MasterProcess>, SpawnError> {
    spawn_master_probed(node, config).map(|(m, _)| m)
}

/// [`spawn_master`], with the master's [`leadership::ActingProbe`].
fn spawn_master_probed(
    node: &Node,
    config: MasterConfig,
) -> Result<(ProcessRef<MasterProcess>, leadership::ActingProbe), SpawnError> {
    let pid = node.pid(MASTER_ID);
    guard_http(node, &config);
    let process = MasterProcess::new(config, pid, node.pid(ALLOCATOR_ID));
    let acting = process.acting_probe();
    let master = node.spawn(MASTER_ID, process)?;
    node.set_delegate(MASTER_ID);
    Ok((master, acting))
}

/// Gives the node an HTTP Basic authenticator (against `--credentials`) for each realm of
/// the master's routes that its `--authenticate_http_*` flags guard, before any route
/// serves; the node's own endpoints follow the master's read-only and read-write realms.
fn guard_http(node: &Node, config: &MasterConfig) {
    use proto::http_authentication::{
        BasicAuthenticator, MASTER_READONLY, MASTER_READWRITE, MASTER_SCHEDULER,
    };
    let basic: std::sync::Arc<dyn libproc::http_auth::HttpAuthenticator> =
        std::sync::Arc::new(BasicAuthenticator::new(&config.credentials));
    for (realm, on) in [
        (MASTER_READONLY, config.authenticate_http_readonly),
        (MASTER_READWRITE, config.authenticate_http_readwrite),
        (MASTER_SCHEDULER, config.authenticate_http_frameworks),
    ] {
        node.set_http_authenticator(realm, on.then(|| basic.clone()));
    }
    node.protect_builtins(MASTER_READONLY, MASTER_READWRITE);
    if !config.acls.permissive || config.acls.has_rules(proto::acls::Action::GetEndpoint) {
        node.set_http_authorizer(std::sync::Arc::new(proto::acls::EndpointAuthorizer(
            config.acls.clone(),
        )));
    }
}

/// Spawns the master and an allocator made by `make_allocator(config, master_pid)`,
/// the allocator on `allocator_arbiter` if given (its own thread), else on the current
/// arbiter.
pub fn spawn_with_allocator<A: Process>(
    node: &Node,
    config: MasterConfig,
    allocator_arbiter: Option<&actix::ArbiterHandle>,
    make_allocator: impl FnOnce(AllocatorConfig, Pid) -> A + Send + 'static,
) -> Result<MasterHandle, SpawnError> {
    let alloc_config = config.allocator_config();
    let (master, acting) = spawn_master_probed(node, config)?;
    let master_pid = master.pid().clone();
    let allocator = match allocator_arbiter {
        Some(arbiter) => node.spawn_on(arbiter, ALLOCATOR_ID, move || {
            make_allocator(alloc_config, master_pid)
        })?,
        None => node.spawn(ALLOCATOR_ID, make_allocator(alloc_config, master_pid))?,
    };
    Ok(MasterHandle {
        master,
        allocator: allocator.pid().clone(),
        acting,
    })
}

/// Spawns the master and the DRF allocator on `node` (the allocator on
/// `allocator_arbiter` if given) and makes the master the node's HTTP delegate. This is
/// what `mesos-master` runs, and what `mesos-local` calls next to its agents.
pub fn spawn(
    node: &Node,
    config: MasterConfig,
    allocator_arbiter: Option<&actix::ArbiterHandle>,
) -> Result<MasterHandle, SpawnError> {
    spawn_with_allocator(
        node,
        config,
        allocator_arbiter,
        allocator::AllocatorProcess::new,
    )
}

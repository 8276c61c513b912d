//! Running a framework in a line: [`run_scheduler`] and [`run_executor`] start the actix
//! system, bind a node where the master (or agent) can reach it, start the driver, and
//! block until it stops, then hand back the scheduler (executor) and why it stopped.
//!
//! ```no_run
//! use frameworks::scheduler::{Scheduler, SchedulerDriver};
//! use proto::{FrameworkInfo, Offer};
//!
//! struct Hello;
//! impl Scheduler for Hello {
//!     // Lifetimes may be elided: `SchedulerDriver<Self>`.
//!     fn resource_offers(&mut self, driver: &mut SchedulerDriver<Self>, offers: Vec<Offer>) {
//!         driver.stop(false);
//!     }
//! }
//!
//! // "host:port" or "zk://host:port/mesos"
//! let (hello, reason) =
//!     frameworks::scheduler::run_blocking("127.0.0.1:5050", FrameworkInfo::new("hello", "root"), Hello)
//!         .expect("ran");
//! println!("stopped: {reason:?}");
//! ```

use libproc::{Node, NodeConfig, SpawnError};
use proto::FrameworkInfo;

use crate::executor::{
    self, Executor, ExecutorConfig, ExecutorEnv, ExecutorEnvError, ExecutorStopReason,
};
use crate::scheduler::{self, Scheduler, SchedulerConfig, StopReason};

/// Why a framework could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The master address is neither `host:port` nor `zk://…/path`.
    #[error("{0}")]
    Master(String),
    /// The executor's environment (set by the agent) is incomplete.
    #[error(transparent)]
    Env(#[from] ExecutorEnvError),
    /// The node could not listen.
    #[error("cannot listen on {addr}: {error}")]
    Listen {
        /// The address tried.
        addr: std::net::SocketAddr,
        /// Why not.
        error: std::io::Error,
    },
    /// The driver process could not start.
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    /// The driver process went away without stopping (its node shut down).
    #[error("the driver process went away without stopping")]
    Lost,
}

/// Runs `scheduler` against `master` (`host:port`, `master@ip:port` or
/// `zk://host:port[,…]/path`) with `config` until its driver stops, on a new actix
/// system on this thread (do not call it from inside one: use
/// [`scheduler::run_with`] there). The node listens on the local address routed to the
/// master (`LIBPROCESS_IP`/`LIBPROCESS_PORT` override it).
pub fn run_scheduler<S: Scheduler>(
    master: &str,
    framework: FrameworkInfo,
    scheduler: S,
    config: SchedulerConfig,
) -> Result<(S, StopReason), RunError> {
    let master = crate::cli::parse_master(master).map_err(RunError::Master)?;
    actix::System::new().block_on(async move {
        let addr = crate::cli::listen_addr_for_master(&master);
        let node = Node::bind(NodeConfig::new(addr))
            .await
            .map_err(|error| RunError::Listen { addr, error })?;
        let handle = scheduler::run_with(&node, master, framework, scheduler, config)?;
        let out = handle.finished().await;
        node.shutdown();
        out.ok_or(RunError::Lost)
    })
}

/// Runs `executor` in the environment the agent gave this process until its driver
/// stops, on a new actix system on this thread; SIGTERM or Ctrl-C stop it.
pub fn run_executor<E: Executor>(
    executor: E,
    config: ExecutorConfig,
) -> Result<(E, ExecutorStopReason), RunError> {
    let env = ExecutorEnv::from_env()?;
    actix::System::new().block_on(async move {
        let addr = crate::cli::listen_addr_for(env.agent_pid.addr());
        let node = Node::bind(NodeConfig::new(addr))
            .await
            .map_err(|error| RunError::Listen { addr, error })?;
        let handle = executor::run(&node, env, executor, config)?;
        let pid = handle.process.pid().clone();
        let stopper = node.clone();
        actix::spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let Ok(mut term) = signal(SignalKind::terminate()) else {
                return;
            };
            tokio::select! {
                biased;
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            stopper.terminate(&pid);
        });
        let out = handle.finished().await;
        node.shutdown();
        out.ok_or(RunError::Lost)
    })
}

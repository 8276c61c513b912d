//! Testing a framework in milliseconds: [`TestCluster`] is a real master (with its DRF
//! allocator) and agents in this process, on one libproc node with in-memory transport,
//! whose executors run in-process (the agent's test containerizer) and end their tasks as a
//! [`TaskScript`] says. Run it under [`paused`]: the clock is virtual, so task durations,
//! offer filters, backoffs and the scheduler's own timers cost no real time.
//!
//! Without any cluster, [`FakeMaster`] (module [`fake_master`]) plays the master for one
//! scheduler: the test makes it send offers, rescinds, updates, errors and disconnections,
//! and asserts on the calls the scheduler makes.
//!
//! Needs the `testing` feature (`frameworks = { …, features = ["testing"] }` in your
//! `[dev-dependencies]`); it brings in the `master` and `slave` crates.
//!
//! ```
//! use std::time::Duration;
//! use frameworks::scheduler::{Scheduler, SchedulerDriver};
//! use frameworks::testing::{paused, TaskOutcome, TestCluster};
//! use proto::{Filters, FrameworkInfo, Offer, TaskStatus};
//!
//! struct Once { done: bool }
//! impl Scheduler for Once {
//!     fn resource_offers(&mut self, d: &mut SchedulerDriver<Self>, offers: Vec<Offer>) {
//!         for offer in offers {
//!             let task = frameworks::task::TaskBuilder::shell("sleep 5")
//!                 .id("t1")
//!                 .resources("cpus:1;mem:64".parse().unwrap())
//!                 .build_for(&offer)
//!                 .unwrap();
//!             d.launch(vec![offer.id], vec![task], Filters::default());
//!             d.suppress();
//!         }
//!     }
//!     fn status_update(&mut self, d: &mut SchedulerDriver<Self>, s: &TaskStatus) {
//!         if s.state.is_terminal() {
//!             self.done = true;
//!             d.stop(false);
//!         }
//!     }
//! }
//!
//! paused(async {
//!     let cluster = TestCluster::builder()
//!         .agents(1)
//!         .script(|_task| TaskOutcome::finishes_after(Duration::from_secs(5)))
//!         .start()
//!         .await
//!         .unwrap();
//!     let (once, _reason) = cluster
//!         .run_until_stopped(FrameworkInfo::new("once", "root"), Once { done: false })
//!         .await;
//!     assert!(once.done);
//!     cluster.shutdown().await;
//! });
//! ```

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub mod fake_master;

pub use fake_master::{Call, FakeMaster};
pub use libproc::testing::{paused, within};
use libproc::{MemNetwork, Node, NodeConfig, Pid};
use master::config::MasterConfig;
use master::MasterHandle;
use proto::{FrameworkInfo, Resources, TaskInfo};
use slave::containerizer::TestContainerizer;
pub use slave::containerizer::{TaskOutcome, TaskScript};
use slave::{AgentConfig, AgentHandle};

use crate::scheduler::{self, Scheduler, SchedulerConfig, SchedulerHandle, StopReason};

/// The resources each agent offers unless told otherwise.
pub const DEFAULT_AGENT_RESOURCES: &str = "cpus:4;mem:4096;disk:10000;ports:[31000-31099]";

/// How long [`TestCluster::run_until_stopped`] waits (virtual time) before giving up.
pub const DEFAULT_RUN_LIMIT: Duration = Duration::from_secs(24 * 3600);

/// Why the cluster could not start.
#[derive(Debug, thiserror::Error)]
pub enum TestClusterError {
    /// The node could not be made.
    #[error("cannot make the node: {0}")]
    Node(std::io::Error),
    /// The work directory could not be made.
    #[error("cannot make the work directory {0}: {1}")]
    WorkDir(PathBuf, std::io::Error),
    /// The master did not start.
    #[error("cannot start the master: {0}")]
    Master(String),
    /// An agent did not start or register.
    #[error("agent {0}: {1}")]
    Agent(usize, String),
}

/// Settings of a [`TestCluster`].
#[must_use]
pub struct TestClusterBuilder {
    agents: usize,
    resources: Resources,
    script: Option<TaskScript>,
    master: MasterConfig,
}

impl TestClusterBuilder {
    /// The number of agents (default 1).
    pub fn agents(mut self, n: usize) -> Self {
        self.agents = n;
        self
    }

    /// Each agent's resources (default [`DEFAULT_AGENT_RESOURCES`]).
    pub fn agent_resources(mut self, resources: Resources) -> Self {
        self.resources = resources;
        self
    }

    /// How each task ends (default: it runs until killed).
    pub fn script(
        mut self,
        script: impl Fn(&TaskInfo) -> TaskOutcome + Send + Sync + 'static,
    ) -> Self {
        self.script = Some(Arc::new(script));
        self
    }

    /// The master's settings (weights, roles, timeouts…).
    pub fn master_config(mut self, config: MasterConfig) -> Self {
        self.master = config;
        self
    }

    /// Starts the master and the agents and waits (virtual time) until every agent has
    /// registered.
    pub async fn start(self) -> Result<TestCluster, TestClusterError> {
        let node = Node::bind(NodeConfig::local().transport(MemNetwork::new()))
            .await
            .map_err(TestClusterError::Node)?;
        let work_dir = WorkDir::new()?;
        let master = master::spawn(&node, self.master, None)
            .map_err(|e| TestClusterError::Master(e.to_string()))?;
        let mut containerizer = TestContainerizer::new(&node);
        if let Some(script) = self.script {
            containerizer = containerizer.with_script(script);
        }
        let mut agents = Vec::new();
        for i in 1..=self.agents {
            let mut config =
                AgentConfig::new(master.pid().clone(), work_dir.0.join(format!("agent-{i}")));
            config.resources = self.resources.clone();
            config.containerizer = Some(Arc::new(containerizer.clone()));
            config.serve_files = false;
            config.seed = config.seed.wrapping_add(i as u64);
            let agent = slave::spawn(&node, config)
                .map_err(|e| TestClusterError::Agent(i, e.to_string()))?;
            agents.push(agent);
        }
        for (i, agent) in agents.iter().enumerate() {
            wait_registered(agent)
                .await
                .map_err(|e| TestClusterError::Agent(i + 1, e))?;
        }
        Ok(TestCluster {
            node,
            master,
            agents,
            containerizer,
            _work_dir: work_dir,
        })
    }
}

/// Polls (in virtual time) until the agent says it is registered, for at most a minute.
async fn wait_registered(agent: &AgentHandle) -> Result<(), String> {
    let wait = async {
        loop {
            match agent.process.call(|me, _| me.is_registered()).await {
                Ok(true) => return Ok(()),
                Ok(false) => tokio::time::sleep(Duration::from_millis(10)).await,
                Err(e) => return Err(format!("the agent process is gone: {e}")),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), wait)
        .await
        .unwrap_or_else(|_| Err("did not register within a minute".into()))
}

/// A master and agents in this process (see the module doc).
pub struct TestCluster {
    /// The node everything runs on (schedulers too).
    pub node: Node,
    /// The master and its allocator.
    pub master: MasterHandle,
    /// The agents, in start order.
    pub agents: Vec<AgentHandle>,
    /// The agents' containerizer (how many executors run…).
    pub containerizer: TestContainerizer,
    _work_dir: WorkDir,
}

impl TestCluster {
    /// A cluster of one agent with [`DEFAULT_AGENT_RESOURCES`], tasks running until killed.
    pub fn builder() -> TestClusterBuilder {
        TestClusterBuilder {
            agents: 1,
            resources: DEFAULT_AGENT_RESOURCES
                .parse()
                .unwrap_or_else(|_| Resources::new()),
            script: None,
            master: MasterConfig::default(),
        }
    }

    /// The master's PID.
    pub fn master_pid(&self) -> &Pid {
        self.master.pid()
    }

    /// Starts a driver for `scheduler` against this cluster's master.
    pub fn run<S: Scheduler>(
        &self,
        framework: FrameworkInfo,
        scheduler: S,
        config: SchedulerConfig,
    ) -> Result<SchedulerHandle<S>, libproc::SpawnError> {
        drive(
            &self.node,
            self.master_pid().clone(),
            framework,
            scheduler,
            config,
        )
    }

    /// Runs `scheduler` until its driver stops and hands it back with the reason. Panics
    /// (failing the test) if it has not stopped after [`DEFAULT_RUN_LIMIT`] of virtual
    /// time, or cannot start.
    pub async fn run_until_stopped<S: Scheduler>(
        &self,
        framework: FrameworkInfo,
        scheduler: S,
    ) -> (S, StopReason) {
        let handle = match self.run(framework, scheduler, SchedulerConfig::default()) {
            Ok(h) => h,
            Err(e) => panic!("cannot start the scheduler: {e}"),
        };
        match within(
            DEFAULT_RUN_LIMIT,
            "the scheduler to stop",
            handle.finished(),
        )
        .await
        {
            Some(out) => out,
            None => panic!("the scheduler's process went away without stopping"),
        }
    }

    /// Stops the agents (and their executors), then the node.
    pub async fn shutdown(self) {
        for agent in &self.agents {
            agent.shutdown().await;
        }
        self.node.shutdown();
    }
}

/// Starts a driver for `scheduler` on `node` against the fixed `master`.
fn drive<S: Scheduler>(
    node: &Node,
    master: Pid,
    framework: FrameworkInfo,
    scheduler: S,
    config: SchedulerConfig,
) -> Result<SchedulerHandle<S>, libproc::SpawnError> {
    scheduler::run_with(
        node,
        scheduler::MasterAddress::Standalone(master),
        framework,
        scheduler,
        config,
    )
}

/// A fresh directory under the system's temp dir, removed on drop.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new() -> Result<WorkDir, TestClusterError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "frameworks-testing-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| TestClusterError::WorkDir(dir.clone(), e))?;
        Ok(WorkDir(dir))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

//! The in-process cluster: one libproc node hosting the master (with its allocator) and N
//! agents, as Mesos's `mesos-local` does. `mesos-local` runs it; tests use it to drive a
//! whole cluster in one OS process.

use std::path::PathBuf;

use libproc::{Node, Pid};
use master::config::MasterConfig;
use master::MasterHandle;
use slave::config::AgentConfig;
use slave::AgentHandle;

/// How to build the local cluster.
#[derive(Clone)]
pub struct LocalConfig {
    /// The master's settings (its ip/port are the node's).
    pub master: MasterConfig,
    /// Number of agents.
    pub num_agents: usize,
    /// Root work directory; agent N uses `<work_dir>/agent-N`.
    pub work_dir: PathBuf,
    /// Each agent's resources (`None`: detected from the host).
    pub agent_resources: Option<proto::Resources>,
    /// Each agent's attributes.
    pub agent_attributes: proto::Attributes,
    /// Where `mesos-executor` lives (`None`: next to the running binary).
    pub launcher_dir: Option<PathBuf>,
    /// Adjusts each agent's configuration (index, config) before it starts.
    pub tweak_agent: Option<fn(usize, &mut AgentConfig)>,
}

impl LocalConfig {
    /// `num_agents` agents under `work_dir`, Mesos defaults otherwise.
    pub fn new(num_agents: usize, work_dir: impl Into<PathBuf>) -> LocalConfig {
        LocalConfig {
            master: MasterConfig::default(),
            num_agents,
            work_dir: work_dir.into(),
            agent_resources: None,
            agent_attributes: proto::Attributes::new(),
            launcher_dir: None,
            tweak_agent: None,
        }
    }
}

/// A running local cluster.
pub struct LocalCluster {
    /// The node everything runs on.
    pub node: Node,
    /// The master and its allocator.
    pub master: MasterHandle,
    /// The agents, in start order.
    pub agents: Vec<AgentHandle>,
}

/// Why the cluster could not start.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The master did not start.
    #[error("cannot start the master: {0}")]
    Master(String),
    /// An agent did not start.
    #[error("cannot start agent {0}: {1}")]
    Agent(usize, String),
}

impl LocalCluster {
    /// Starts the master and the agents on `node`. The node's `files` process serves every
    /// agent's sandboxes.
    pub fn start(node: &Node, config: LocalConfig) -> Result<LocalCluster, LocalError> {
        let master = master::spawn(node, config.master.clone(), None)
            .map_err(|e| LocalError::Master(e.to_string()))?;
        let roots: Vec<PathBuf> = (1..=config.num_agents)
            .map(|i| slave::paths::slaves_root(&config.work_dir.join(format!("agent-{i}"))))
            .collect();
        node.spawn("files", slave::files::FilesProcess::new(roots))
            .map_err(|e| LocalError::Agent(0, e.to_string()))?;
        let mut agents = Vec::new();
        for i in 1..=config.num_agents {
            let mut a = AgentConfig::new(
                master.pid().clone(),
                config.work_dir.join(format!("agent-{i}")),
            );
            if let Some(r) = &config.agent_resources {
                a.resources = r.clone();
            }
            a.attributes = config.agent_attributes.clone();
            if let Some(dir) = &config.launcher_dir {
                a.launcher_dir = dir.clone();
            }
            a.serve_files = false;
            a.seed = a.seed.wrapping_add(i as u64);
            if let Some(t) = config.tweak_agent {
                t(i, &mut a);
            }
            let agent = slave::spawn(node, a).map_err(|e| LocalError::Agent(i, e.to_string()))?;
            agents.push(agent);
        }
        Ok(LocalCluster {
            node: node.clone(),
            master,
            agents,
        })
    }

    /// The master's PID.
    pub fn master_pid(&self) -> &Pid {
        self.master.pid()
    }
}

//! The messages between the master and its allocator process (local sends on one node,
//! never serialized in practice, but serde like every libproc message).
//!
//! The master tells the allocator about frameworks, agents and resources coming back; the
//! allocator answers with [`Offers`]: batches of allocations the master turns into offers.
//! Resources handed out in an allocation are the allocator's "allocated" until the master
//! returns them with [`RecoverResources`] (offer declined, rescinded or partly used, task
//! finished, framework or agent removed implicitly returns everything).

use std::time::Duration;

use proto::{AgentId, AgentInfo, Filters, FrameworkId, FrameworkInfo, Resources};
use serde::{Deserialize, Serialize};

/// Allocator settings (from `mesos-master` flags).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AllocatorConfig {
    /// Time between batch allocation runs (`--allocation_interval`, default 1 s).
    pub allocation_interval: Duration,
    /// Role weights (`--weights=role1=2,role2=1`); roles not listed weigh 1.
    pub weights: Vec<(String, f64)>,
    /// `--min_allocatable_resources`: resources are worth offering if they hold at least
    /// one of these quantity sets (default `cpus:0.01|mem:32`, Mesos's `MIN_CPUS` and
    /// `MIN_MEM`). Empty: anything non-empty is worth offering.
    pub min_allocatable_resources: Vec<Vec<(String, f64)>>,
}

/// Parses Mesos's `--min_allocatable_resources` syntax: alternatives separated by `|`,
/// each a `;`-separated list of `name:quantity` scalars, e.g. `cpus:0.01|mem:32` or
/// `cpus:1;mem:64|gpus:1`.
pub fn parse_min_allocatable(text: &str) -> Result<Vec<Vec<(String, f64)>>, String> {
    let mut out = Vec::new();
    for alt in text.split('|') {
        let mut set = Vec::new();
        for item in alt.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, q) = item
                .split_once(':')
                .ok_or_else(|| format!("'{item}' is not name:quantity"))?;
            let name = name.trim();
            if name.is_empty() || name.contains('(') {
                return Err(format!("'{item}' needs a plain resource name"));
            }
            let q: f64 = q
                .trim()
                .parse()
                .map_err(|_| format!("'{item}': the quantity is not a number"))?;
            if !(q.is_finite() && q >= 0.0) {
                return Err(format!("'{item}': the quantity must be a number >= 0"));
            }
            set.push((name.to_string(), q));
        }
        if set.is_empty() {
            return Err(format!("an empty alternative in '{text}'"));
        }
        out.push(set);
    }
    Ok(out)
}

impl Default for AllocatorConfig {
    fn default() -> Self {
        AllocatorConfig {
            allocation_interval: Duration::from_secs(1),
            weights: Vec::new(),
            min_allocatable_resources: vec![
                vec![("cpus".into(), 0.01)],
                vec![("mem".into(), 32.0)],
            ],
        }
    }
}

macro_rules! local_messages {
    ($( $(#[$doc:meta])* $name:ident { $( $(#[$fdoc:meta])* $field:ident : $ty:ty ),* $(,)? } )*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
            pub struct $name { $( $(#[$fdoc])* pub $field: $ty, )* }
            libproc::message!($name, concat!("mesos.allocator.", stringify!($name)));
        )*
    };
}

local_messages! {
    /// A framework subscribed (or re-subscribed after master failover with `used` on
    /// agents it already has tasks on).
    AddFramework {
        /// Its id.
        framework_id: FrameworkId,
        /// Its info (roles, capabilities).
        info: FrameworkInfo,
        /// Resources it already uses, per agent.
        used: Vec<(AgentId, Resources)>,
        /// Whether it should receive offers now.
        active: bool,
    }
    /// A framework is gone; everything it held is released.
    RemoveFramework {
        /// Its id.
        framework_id: FrameworkId,
    }
    /// A framework (re)connected: offer to it again.
    ActivateFramework {
        /// Its id.
        framework_id: FrameworkId,
    }
    /// A framework disconnected: no offers until activated.
    DeactivateFramework {
        /// Its id.
        framework_id: FrameworkId,
    }
    /// A framework's info changed (roles, capabilities).
    UpdateFramework {
        /// Its id.
        framework_id: FrameworkId,
        /// The new info.
        info: FrameworkInfo,
    }
    /// An agent was admitted (or re-registered with `used` by its frameworks).
    AddAgent {
        /// Its id.
        agent_id: AgentId,
        /// Its info (hostname, attributes).
        info: AgentInfo,
        /// Its total resources.
        total: Resources,
        /// Resources already used on it, per framework.
        used: Vec<(FrameworkId, Resources)>,
    }
    /// An agent was removed; its resources are gone.
    RemoveAgent {
        /// Its id.
        agent_id: AgentId,
    }
    /// An agent is reachable again: offer its resources.
    ActivateAgent {
        /// Its id.
        agent_id: AgentId,
    }
    /// An agent is disconnected or unreachable: offer nothing from it.
    DeactivateAgent {
        /// Its id.
        agent_id: AgentId,
    }
    /// An agent's total changed (e.g. dynamic reservations).
    UpdateAgent {
        /// Its id.
        agent_id: AgentId,
        /// Its new total.
        total: Resources,
    }
    /// Resources allocated to a framework on an agent come back: an offer declined (with
    /// the framework's filter), rescinded or partly used, or a task ended.
    RecoverResources {
        /// The framework that held them.
        framework_id: FrameworkId,
        /// The agent they are on.
        agent_id: AgentId,
        /// What comes back.
        resources: Resources,
        /// A refuse filter for this framework on this agent (declines only).
        filters: Option<Filters>,
    }
    /// The framework wants no offers for these roles (empty: all its roles).
    SuppressOffers {
        /// Its id.
        framework_id: FrameworkId,
        /// Roles.
        roles: Vec<String>,
    }
    /// The framework wants offers again for these roles (empty: all); clears its filters.
    ReviveOffers {
        /// Its id.
        framework_id: FrameworkId,
        /// Roles.
        roles: Vec<String>,
    }
    /// Offer operations (RESERVE, UNRESERVE) converted part of what a framework was
    /// allocated on an agent: `from` (held by the framework for `role`) is now `to`, and
    /// the agent's total is `total`.
    UpdateAllocation {
        /// The framework holding the resources.
        framework_id: FrameworkId,
        /// The agent.
        agent_id: AgentId,
        /// The role they were allocated to.
        role: String,
        /// What the framework held before.
        from: Resources,
        /// What it holds instead.
        to: Resources,
        /// The agent's new total.
        total: Resources,
    }
    /// New role weights.
    UpdateWeights {
        /// (role, weight) pairs.
        weights: Vec<(String, f64)>,
    }
    /// Allocator → master: allocations to turn into offers.
    Offers {
        /// The allocations of one run.
        allocations: Vec<Allocation>,
    }
}

/// Resources on one agent allocated to one framework for one role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Allocation {
    /// Who gets them.
    pub framework_id: FrameworkId,
    /// Where they are.
    pub agent_id: AgentId,
    /// For which of the framework's roles.
    pub role: String,
    /// What.
    pub resources: Resources,
}

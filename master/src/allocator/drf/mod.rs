//! The pure hierarchical DRF allocator (sans-IO): events in, allocations out.
//!
//! State: agents (total, allocated, free), frameworks (roles, allocations, refuse
//! filters), and a role tree whose nodes keep sorted sets of their live children and of
//! their own frameworks, keyed by weighted dominant share. Allocations update the keys
//! of the touched framework and its ancestors in `O(depth · log n)`, so a batch run never
//! re-sorts from scratch; cluster totals changing (agents added or removed) marks the
//! keys dirty and the next run rebuilds them once.
//!
//! A run ([`Allocator::allocate`]) walks the agents once (twice with unmet quota
//! guarantees): each agent goes to the first framework, in hierarchical DRF order, that
//! is active, not suppressed for the role, and not refusing the agent with a filter;
//! it gets everything on the agent it may use for that role (unreserved plus reserved
//! for the role), trimmed by quota limits and headroom held for unmet guarantees.
//! An agent found with nothing to give remembers the versions it was checked at and is
//! skipped in O(1) until something relevant changes (its resources, a filter on it
//! expiring, or any framework becoming eligible), which keeps runs where every framework
//! has declined every agent close to O(agents).
//!
//! The code is split by concern: `sorter` (role tree and DRF keys), `frameworks` and
//! `agents` (events), `filters` (refuse filters), `quota` (weights, guarantees, limits),
//! `run` (an allocation run) and `report` (introspection).

use libproc::fxhash::FxHashMap;
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Duration;

use proto::{AgentId, AgentInfo, Filters, FrameworkId, FrameworkInfo, Resource, Resources, Scalar};
use serde_json::json;

use super::protocol::{Allocation, AllocatorConfig};
use super::quantities::{intersect, unreserved_scalar, Names, Quantities};

mod agents;
mod filters;
mod frameworks;
mod quota;
mod report;
mod run;
mod sorter;

/// The root of the role tree (the empty path).
const ROOT: usize = 0;
/// The marker for a node's own frameworks among its sorted children.
const OWN: u32 = u32::MAX;
/// Upper bound on allocations per agent per stage (guards against non-progress).
const MAX_PER_AGENT: usize = 64;
/// Filters never last longer than this (Mesos caps `refuse_seconds` at 365 days).
const MAX_FILTER: Duration = Duration::from_secs(365 * 24 * 3600);

/// A small, fast hasher for dense integer keys.
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(*b)).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(n)).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;
type FastSet<K> = HashSet<K, BuildHasherDefault<IdHasher>>;

/// A sort key: weighted dominant share, then allocation count, then a stable tie-breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
struct Key {
    share: u64,
    count: u64,
    tie: u32,
}

fn key(share: f64, count: u64, tie: u32) -> Key {
    let s = if share.is_finite() {
        share.max(0.0)
    } else {
        f64::MAX
    };
    Key {
        share: s.to_bits(),
        count,
        tie,
    }
}

/// A role's quota as configured, with its scalar quantities.
#[derive(Debug, Clone)]
struct Quota {
    guarantee: Quantities,
    limit: Option<Quantities>,
    guarantee_res: Resources,
    limit_res: Option<Resources>,
}

/// A node of the role tree: one per role path and per path prefix.
#[derive(Debug)]
struct RoleNode {
    path: String,
    parent: Option<usize>,
    weight: f64,
    /// Allocation of this role's own frameworks.
    own: Quantities,
    own_count: u64,
    /// Allocation of the whole subtree (DRF share of the node).
    subtree: Quantities,
    subtree_count: u64,
    /// Unreserved part of the subtree's allocation (quota consumption).
    subtree_unres: Quantities,
    /// Reservations for roles in the subtree on all agents' totals.
    subtree_reserved: Quantities,
    /// Live children (subtree has candidates), plus `OWN` if own frameworks are candidates.
    children: BTreeSet<(Key, u32)>,
    /// Candidate frameworks of this role, by their share in it.
    frameworks: BTreeSet<(Key, u32)>,
    key: Key,
    own_key: Key,
    own_candidates: u32,
    subtree_candidates: u32,
    members: u32,
    quota: Option<Quota>,
}

impl RoleNode {
    fn new(path: String, parent: Option<usize>, weight: f64, idx: usize) -> Self {
        RoleNode {
            path,
            parent,
            weight,
            own: Quantities::new(),
            own_count: 0,
            subtree: Quantities::new(),
            subtree_count: 0,
            subtree_unres: Quantities::new(),
            subtree_reserved: Quantities::new(),
            children: BTreeSet::new(),
            frameworks: BTreeSet::new(),
            key: key(0.0, 0, idx as u32),
            own_key: key(0.0, 0, OWN),
            own_candidates: 0,
            subtree_candidates: 0,
            members: 0,
            quota: None,
        }
    }

    fn consumed(&self) -> Quantities {
        let mut c = self.subtree_reserved.clone();
        c.add(&self.subtree_unres);
        c
    }

    /// Guarantee not yet consumed (zero if no quota).
    fn unmet(&self) -> Quantities {
        let mut out = Quantities::new();
        if let Some(q) = &self.quota {
            let consumed = self.consumed();
            for (i, g) in q.guarantee.iter() {
                let u = g - consumed.get(i);
                if u > 1e-6 {
                    out.set(i, u);
                }
            }
        }
        out
    }
}

#[derive(Debug)]
struct FwRole {
    node: usize,
    subscribed: bool,
    suppressed: bool,
    candidate: bool,
    alloc: Quantities,
    count: u64,
    key: Key,
}

#[derive(Debug)]
struct Filter {
    node: usize,
    resources: Resources,
    seq: u64,
}

#[derive(Debug)]
struct Framework {
    id: FrameworkId,
    active: bool,
    roles: Vec<FwRole>,
    /// Per agent: (role node, resources) held (offered or used).
    allocations: FastMap<u32, Vec<(usize, Resources)>>,
    /// Per agent: refuse filters.
    filters: FastMap<u32, Vec<Filter>>,
}

impl Framework {
    fn role_index(&self, node: usize) -> Option<usize> {
        self.roles.iter().position(|r| r.node == node)
    }
}

#[derive(Debug)]
struct Agent {
    id: AgentId,
    hostname: String,
    total: Resources,
    free: Resources,
    active: bool,
    has_reservations: bool,
    names: Vec<usize>,
    total_q: Quantities,
    version: u64,
    skip: Option<(u64, u64)>,
    holders: FastSet<u32>,
    /// The total shrank below what is allocated: `free` must be recomputed, not summed.
    overcommitted: bool,
}

/// What a role may be offered on an agent: everything free there (moved, not
/// copied, when granted) or a computed part of it.
enum Offer {
    All,
    Part(Resources),
}

/// Live headroom bookkeeping during a run with quota.
#[derive(Debug, Default)]
struct Headroom {
    /// Unallocated unreserved resources on active agents.
    available: Quantities,
}

/// Allocations of one run, merged per (framework, agent, role).
#[derive(Default)]
struct Batch {
    index: FastMap<(u32, u32, usize), usize>,
    items: Vec<(u32, u32, usize, Resources)>,
}

/// Counters describing the allocator's work (for metrics and benchmarks).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AllocatorStats {
    /// Allocation runs so far.
    pub runs: u64,
    /// Allocations handed out so far.
    pub allocations: u64,
    /// Refuse filters currently installed.
    pub filters: u64,
    /// Agents known.
    pub agents: u64,
    /// Frameworks known.
    pub frameworks: u64,
}

/// A resource name of `--min_allocatable_resources`, with the common ones pre-matched.
#[derive(Debug, Clone)]
enum MinName {
    Cpus,
    Mem,
    Other(String),
}

/// The hierarchical DRF allocator state machine. See the module docs.
#[derive(Debug)]
pub struct Allocator {
    config: AllocatorConfig,
    /// `config.min_allocatable_resources`, names pre-matched.
    min_allocatable: Vec<Vec<(MinName, f64)>>,
    names: Names,
    nodes: Vec<RoleNode>,
    node_index: FxHashMap<String, usize>,
    weights: FxHashMap<String, f64>,
    frameworks: Vec<Option<Framework>>,
    fw_index: FxHashMap<FrameworkId, u32>,
    agents: Vec<Option<Agent>>,
    agent_index: FxHashMap<AgentId, u32>,
    /// Resources used on agents by frameworks not (yet) known, per framework.
    orphans: FxHashMap<FrameworkId, Vec<(u32, Resources)>>,
    total: Quantities,
    dirty: bool,
    global_version: u64,
    filter_heap: BinaryHeap<Reverse<(Duration, u64, u32, u32)>>,
    filter_seq: u64,
    filter_count: u64,
    quota_roles: Vec<usize>,
    stats: AllocatorStats,
    /// The generator shuffling the agent order of each run (the workspace's one RNG).
    rng: libproc::rng::SplitMix64,
    order: Vec<u32>,
}

impl Allocator {
    /// An empty allocator with `config` (its weights applied).
    pub fn new(config: AllocatorConfig) -> Allocator {
        let min_allocatable = config
            .min_allocatable_resources
            .iter()
            .map(|set| {
                set.iter()
                    .map(|(n, q)| {
                        let name = match n.as_str() {
                            "cpus" => MinName::Cpus,
                            "mem" => MinName::Mem,
                            other => MinName::Other(other.to_string()),
                        };
                        (name, *q)
                    })
                    .collect()
            })
            .collect();
        let mut a = Allocator {
            config: config.clone(),
            min_allocatable,
            names: Names::default(),
            nodes: vec![RoleNode::new(String::new(), None, 1.0, ROOT)],
            node_index: FxHashMap::default(),
            weights: FxHashMap::default(),
            frameworks: Vec::new(),
            fw_index: FxHashMap::default(),
            agents: Vec::new(),
            agent_index: FxHashMap::default(),
            orphans: FxHashMap::default(),
            total: Quantities::new(),
            dirty: false,
            global_version: 1,
            filter_heap: BinaryHeap::new(),
            filter_seq: 0,
            filter_count: 0,
            quota_roles: Vec::new(),
            stats: AllocatorStats::default(),
            rng: libproc::rng::SplitMix64::new(0x9e37_79b9_7f4a_7c15),
            order: Vec::new(),
        };
        // Common scalars first so their indices are small.
        for n in ["cpus", "mem", "disk", "gpus"] {
            a.names.intern(n);
        }
        a.update_weights(&config.weights);
        a
    }

    /// Seeds the generator that shuffles the agent order of each run (as Mesos
    /// shuffles agents so no agent is always offered first).
    pub fn set_seed(&mut self, seed: u64) {
        self.rng = libproc::rng::SplitMix64::new(seed);
    }

    /// A fresh random permutation of the agent slots.
    fn shuffled_order(&mut self) -> Vec<u32> {
        let mut order = std::mem::take(&mut self.order);
        order.clear();
        order.extend(0..self.agents.len() as u32);
        for i in (1..order.len()).rev() {
            let j = (self.rng.next_u64() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        order
    }

    /// The configuration in use.
    pub fn config(&self) -> &AllocatorConfig {
        &self.config
    }

    /// Work counters.
    pub fn stats(&self) -> AllocatorStats {
        AllocatorStats {
            filters: self.filter_count,
            agents: self.agent_index.len() as u64,
            frameworks: self.fw_index.len() as u64,
            ..self.stats
        }
    }
}

/// Adds `r` to the entry for `node` in a framework's per-agent holdings.
fn merge_into(list: &mut Vec<(usize, Resources)>, node: usize, r: &Resources) {
    match list.iter_mut().find(|(n, _)| *n == node) {
        Some((_, held)) => *held += r,
        None => list.push((node, r.clone())),
    }
}

/// The framework role `r` is accounted to: the role its reservations are for, else its
/// first role.
fn pick_role(fw: &Framework, r: &Resources, nodes: &[RoleNode]) -> Option<usize> {
    let reserved = r.roles();
    if let Some(role) = reserved.iter().next() {
        if let Some(i) = fw.roles.iter().position(|x| nodes[x.node].path == *role) {
            return Some(i);
        }
    }
    if fw.roles.is_empty() {
        None
    } else {
        Some(0)
    }
}

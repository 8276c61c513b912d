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

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Duration;

use proto::{AgentId, AgentInfo, Filters, FrameworkId, FrameworkInfo, Resource, Resources, Scalar};
use serde_json::json;

use super::protocol::{Allocation, AllocatorConfig};
use super::quantities::{intersect, unreserved_scalar, Names, Quantities};

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
    node_index: HashMap<String, usize>,
    weights: HashMap<String, f64>,
    frameworks: Vec<Option<Framework>>,
    fw_index: HashMap<FrameworkId, u32>,
    agents: Vec<Option<Agent>>,
    agent_index: HashMap<AgentId, u32>,
    /// Resources used on agents by frameworks not (yet) known, per framework.
    orphans: HashMap<FrameworkId, Vec<(u32, Resources)>>,
    total: Quantities,
    dirty: bool,
    global_version: u64,
    filter_heap: BinaryHeap<Reverse<(Duration, u64, u32, u32)>>,
    filter_seq: u64,
    filter_count: u64,
    quota_roles: Vec<usize>,
    stats: AllocatorStats,
    /// State of the xorshift generator shuffling the agent order of each run.
    rng: u64,
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
            node_index: HashMap::new(),
            weights: HashMap::new(),
            frameworks: Vec::new(),
            fw_index: HashMap::new(),
            agents: Vec::new(),
            agent_index: HashMap::new(),
            orphans: HashMap::new(),
            total: Quantities::new(),
            dirty: false,
            global_version: 1,
            filter_heap: BinaryHeap::new(),
            filter_seq: 0,
            filter_count: 0,
            quota_roles: Vec::new(),
            stats: AllocatorStats::default(),
            rng: 0x9e37_79b9_7f4a_7c15,
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
        self.rng = seed | 1;
    }

    fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    /// A fresh random permutation of the agent slots.
    fn shuffled_order(&mut self) -> Vec<u32> {
        let mut order = std::mem::take(&mut self.order);
        order.clear();
        order.extend(0..self.agents.len() as u32);
        for i in (1..order.len()).rev() {
            let j = (self.next_random() % (i as u64 + 1)) as usize;
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

    // ----- role tree ---------------------------------------------------------------

    fn node_for(&mut self, path: &str) -> usize {
        if let Some(i) = self.node_index.get(path) {
            return *i;
        }
        let parent = match path.rfind('/') {
            Some(p) if p > 0 => self.node_for(&path[..p]),
            _ => ROOT,
        };
        let idx = self.nodes.len();
        let weight = self.weights.get(path).copied().unwrap_or(1.0);
        self.nodes
            .push(RoleNode::new(path.to_owned(), Some(parent), weight, idx));
        self.node_index.insert(path.to_owned(), idx);
        // A new node has no allocation, candidates or reservations: nothing to insert.
        idx
    }

    fn fw_key(&self, fr: &FwRole, f: u32) -> Key {
        key(fr.alloc.share(&self.total), fr.count, f)
    }

    fn node_key(&self, n: usize) -> Key {
        let node = &self.nodes[n];
        key(
            node.subtree.share(&self.total) / node.weight,
            node.subtree_count,
            n as u32,
        )
    }

    fn own_key(&self, n: usize) -> Key {
        let node = &self.nodes[n];
        key(
            node.own.share(&self.total) / node.weight,
            node.own_count,
            OWN,
        )
    }

    /// Recomputes every key and rebuilds the sorted sets (after totals or weights change).
    fn rebuild(&mut self) {
        for n in 0..self.nodes.len() {
            let k = self.node_key(n);
            let ok = self.own_key(n);
            let node = &mut self.nodes[n];
            node.key = k;
            node.own_key = ok;
            node.children.clear();
            node.frameworks.clear();
        }
        for f in 0..self.frameworks.len() {
            let Some(fw) = &self.frameworks[f] else {
                continue;
            };
            let keys: Vec<Key> = fw.roles.iter().map(|r| self.fw_key(r, f as u32)).collect();
            let fw = self.frameworks[f].as_mut().expect("checked above");
            for (r, k) in fw.roles.iter_mut().zip(keys) {
                r.key = k;
                if r.candidate {
                    self.nodes[r.node].frameworks.insert((k, f as u32));
                }
            }
        }
        for n in 0..self.nodes.len() {
            if self.nodes[n].own_candidates > 0 {
                let k = self.nodes[n].own_key;
                self.nodes[n].children.insert((k, OWN));
            }
            if self.nodes[n].subtree_candidates > 0 {
                if let Some(p) = self.nodes[n].parent {
                    let k = self.nodes[n].key;
                    self.nodes[p].children.insert((k, n as u32));
                }
            }
        }
        self.dirty = false;
    }

    fn set_candidate(&mut self, f: u32, ri: usize) {
        let Some(fw) = self.frameworks[f as usize].as_mut() else {
            return;
        };
        let fr = &mut fw.roles[ri];
        let want = fw.active && fr.subscribed && !fr.suppressed;
        if fr.candidate == want {
            return;
        }
        fr.candidate = want;
        let (node, k) = (fr.node, fr.key);
        if want {
            self.global_version += 1;
            self.nodes[node].frameworks.insert((k, f));
            self.nodes[node].own_candidates += 1;
            if self.nodes[node].own_candidates == 1 {
                let ok = self.nodes[node].own_key;
                self.nodes[node].children.insert((ok, OWN));
            }
            let mut cur = node;
            loop {
                self.nodes[cur].subtree_candidates += 1;
                let parent = self.nodes[cur].parent;
                if self.nodes[cur].subtree_candidates == 1 {
                    if let Some(p) = parent {
                        let k = self.nodes[cur].key;
                        self.nodes[p].children.insert((k, cur as u32));
                    }
                }
                match parent {
                    Some(p) => cur = p,
                    None => break,
                }
            }
        } else {
            self.nodes[node].frameworks.remove(&(k, f));
            self.nodes[node].own_candidates -= 1;
            if self.nodes[node].own_candidates == 0 {
                let ok = self.nodes[node].own_key;
                self.nodes[node].children.remove(&(ok, OWN));
            }
            let mut cur = node;
            loop {
                self.nodes[cur].subtree_candidates -= 1;
                let parent = self.nodes[cur].parent;
                if self.nodes[cur].subtree_candidates == 0 {
                    if let Some(p) = parent {
                        let k = self.nodes[cur].key;
                        self.nodes[p].children.remove(&(k, cur as u32));
                    }
                }
                match parent {
                    Some(p) => cur = p,
                    None => break,
                }
            }
        }
    }

    /// Adds (or removes) an allocation of `q` (unreserved part `q_unres`) to framework
    /// `f`'s role `ri`, updating every affected sort key.
    fn account(&mut self, f: u32, ri: usize, q: &Quantities, q_unres: &Quantities, add: bool) {
        let total = std::mem::take(&mut self.total);
        let Some(fw) = self.frameworks[f as usize].as_mut() else {
            self.total = total;
            return;
        };
        let fr = &mut fw.roles[ri];
        let node = fr.node;
        if fr.candidate {
            self.nodes[node].frameworks.remove(&(fr.key, f));
        }
        if add {
            fr.alloc.add(q);
            fr.count += 1;
        } else {
            fr.alloc.sub(q);
        }
        fr.key = key(fr.alloc.share(&total), fr.count, f);
        if fr.candidate {
            self.nodes[node].frameworks.insert((fr.key, f));
        }
        // The role's own entry.
        {
            let n = &mut self.nodes[node];
            let live = n.own_candidates > 0;
            if live {
                n.children.remove(&(n.own_key, OWN));
            }
            if add {
                n.own.add(q);
                n.own_count += 1;
            } else {
                n.own.sub(q);
            }
            n.own_key = key(n.own.share(&total) / n.weight, n.own_count, OWN);
            if live {
                n.children.insert((n.own_key, OWN));
            }
        }
        // The node and its ancestors.
        let mut cur = node;
        loop {
            let parent = self.nodes[cur].parent;
            let live = self.nodes[cur].subtree_candidates > 0;
            let old = self.nodes[cur].key;
            {
                let n = &mut self.nodes[cur];
                if add {
                    n.subtree.add(q);
                    n.subtree_unres.add(q_unres);
                    n.subtree_count += 1;
                } else {
                    n.subtree.sub(q);
                    n.subtree_unres.sub(q_unres);
                }
                n.key = key(
                    n.subtree.share(&total) / n.weight,
                    n.subtree_count,
                    cur as u32,
                );
            }
            let new = self.nodes[cur].key;
            match parent {
                Some(p) => {
                    if live && old != new {
                        self.nodes[p].children.remove(&(old, cur as u32));
                        self.nodes[p].children.insert((new, cur as u32));
                    }
                    cur = p;
                }
                None => break,
            }
        }
        self.total = total;
    }

    fn quantities(&self, a: &Agent, r: &Resources) -> (Quantities, Quantities) {
        let q = Quantities::of(r, &self.names, &a.names);
        if a.has_reservations {
            let mut u = q.clone();
            u.sub(&Quantities::of(&r.all_reserved(), &self.names, &a.names));
            (q, u)
        } else {
            (q.clone(), q)
        }
    }

    fn add_reservations(&mut self, total: &Resources, add: bool) {
        for role in total.roles() {
            let q = Quantities::from_resources(&total.reserved(&role), &mut self.names);
            let mut cur = self.node_for(&role);
            loop {
                if add {
                    self.nodes[cur].subtree_reserved.add(&q);
                } else {
                    self.nodes[cur].subtree_reserved.sub(&q);
                }
                match self.nodes[cur].parent {
                    Some(p) => cur = p,
                    None => break,
                }
            }
        }
    }

    // ----- frameworks --------------------------------------------------------------

    /// A framework subscribed; `used` is what it already runs per agent.
    pub fn add_framework(
        &mut self,
        id: &FrameworkId,
        info: &FrameworkInfo,
        used: &[(AgentId, Resources)],
        active: bool,
    ) {
        if self.fw_index.contains_key(id) {
            // Treat as an update plus activation change.
            self.update_framework(id, info);
            if active {
                self.activate_framework(id);
            } else {
                self.deactivate_framework(id);
            }
            return;
        }
        let f = self.frameworks.len() as u32;
        let mut roles = Vec::new();
        for r in info.effective_roles() {
            if r.is_empty() || roles.iter().any(|x: &FwRole| self.nodes[x.node].path == r) {
                continue;
            }
            let node = self.node_for(&r);
            self.nodes[node].members += 1;
            roles.push(FwRole {
                node,
                subscribed: true,
                suppressed: false,
                candidate: false,
                alloc: Quantities::new(),
                count: 0,
                key: key(0.0, 0, f),
            });
        }
        let n_roles = roles.len();
        self.frameworks.push(Some(Framework {
            id: id.clone(),
            active,
            roles,
            allocations: FastMap::default(),
            filters: FastMap::default(),
        }));
        self.fw_index.insert(id.clone(), f);
        // Resources agents reported before the framework came back.
        let mut covered = FastSet::default();
        if let Some(list) = self.orphans.remove(id) {
            for (a, res) in list {
                covered.insert(a);
                self.attach(f, a, res, false);
            }
        }
        for (aid, res) in used {
            let Some(&a) = self.agent_index.get(aid) else {
                continue;
            };
            if covered.contains(&a) {
                continue;
            }
            self.attach(f, a, res.clone(), true);
        }
        for ri in 0..n_roles {
            self.set_candidate(f, ri);
        }
    }

    /// Records `res` as held by framework `f` on agent `a` (not an offer). With
    /// `take_free`, only what is free on the agent is taken from it; otherwise the
    /// resources are already counted in the agent's allocation (orphans).
    fn attach(&mut self, f: u32, a: u32, res: Resources, take_free: bool) {
        let Some(agent) = self.agents[a as usize].as_mut() else {
            return;
        };
        let part = if take_free {
            intersect(&agent.free, &res)
        } else {
            res
        };
        if part.is_empty() {
            return;
        }
        if take_free {
            agent.free -= &part;
            agent.version += 1;
        }
        agent.holders.insert(f);
        let Some(fw) = self.frameworks[f as usize].as_ref() else {
            return;
        };
        let ri = pick_role(fw, &part, &self.nodes);
        let Some(ri) = ri else { return };
        let node = fw.roles[ri].node;
        let Some(agent) = self.agents[a as usize].as_ref() else {
            return;
        };
        let (q, qu) = self.quantities(agent, &part);
        let Some(fw) = self.frameworks[f as usize].as_mut() else {
            return;
        };
        merge_into(fw.allocations.entry(a).or_default(), node, &part);
        self.account(f, ri, &q, &qu, true);
    }

    /// A framework is gone: everything it holds is released.
    pub fn remove_framework(&mut self, id: &FrameworkId) {
        let Some(f) = self.fw_index.remove(id) else {
            // Only orphans (a framework that never came back after failover).
            if let Some(list) = self.orphans.remove(id) {
                for (a, _) in list {
                    self.refresh_free(a);
                }
            }
            return;
        };
        let agents: Vec<u32> = self.frameworks[f as usize]
            .as_ref()
            .map(|fw| fw.allocations.keys().copied().collect())
            .unwrap_or_default();
        for a in agents {
            self.release_all(f, a);
        }
        if let Some(fw) = self.frameworks[f as usize].as_mut() {
            fw.active = false;
            let n = fw.roles.len();
            let filters: u64 = fw.filters.values().map(|v| v.len() as u64).sum();
            self.filter_count -= filters.min(self.filter_count);
            for ri in 0..n {
                self.set_candidate(f, ri);
            }
        }
        if let Some(fw) = self.frameworks[f as usize].take() {
            for r in fw.roles {
                self.nodes[r.node].members = self.nodes[r.node].members.saturating_sub(1);
            }
        }
    }

    /// Releases everything framework `f` holds on agent `a`.
    fn release_all(&mut self, f: u32, a: u32) {
        let parts = self.frameworks[f as usize]
            .as_mut()
            .and_then(|fw| fw.allocations.remove(&a))
            .unwrap_or_default();
        self.release_parts(f, a, &parts);
        if let Some(agent) = self.agents[a as usize].as_mut() {
            agent.holders.remove(&f);
        }
    }

    fn release_parts(&mut self, f: u32, a: u32, parts: &[(usize, Resources)]) {
        for (node, part) in parts {
            let Some(agent) = self.agents[a as usize].as_mut() else {
                return;
            };
            agent.version += 1;
            // When overcommitted, `free` is recomputed below instead.
            if !agent.overcommitted {
                agent.free += part;
            }
            let agent = self.agents[a as usize].as_ref().expect("present above");
            let (q, qu) = self.quantities(agent, part);
            let ri = self.frameworks[f as usize]
                .as_ref()
                .and_then(|fw| fw.role_index(*node));
            if let Some(ri) = ri {
                self.account(f, ri, &q, &qu, false);
            }
        }
        if self.agents[a as usize]
            .as_ref()
            .is_some_and(|x| x.overcommitted)
        {
            self.refresh_free(a);
        }
    }

    /// The framework may receive offers again.
    pub fn activate_framework(&mut self, id: &FrameworkId) {
        self.set_active(id, true);
    }

    /// The framework receives no offers until activated.
    pub fn deactivate_framework(&mut self, id: &FrameworkId) {
        self.set_active(id, false);
    }

    fn set_active(&mut self, id: &FrameworkId, active: bool) {
        let Some(&f) = self.fw_index.get(id) else {
            return;
        };
        let Some(fw) = self.frameworks[f as usize].as_mut() else {
            return;
        };
        fw.active = active;
        let n = fw.roles.len();
        for ri in 0..n {
            self.set_candidate(f, ri);
        }
    }

    /// The framework's info changed: its roles are re-read. Allocations to roles it
    /// left stay accounted until recovered.
    pub fn update_framework(&mut self, id: &FrameworkId, info: &FrameworkInfo) {
        let Some(&f) = self.fw_index.get(id) else {
            return;
        };
        let wanted: Vec<usize> = info
            .effective_roles()
            .iter()
            .filter(|r| !r.is_empty())
            .map(|r| self.node_for(r))
            .collect();
        let Some(fw) = self.frameworks[f as usize].as_mut() else {
            return;
        };
        let mut member_delta: Vec<(usize, i64)> = Vec::new();
        for r in fw.roles.iter_mut() {
            let sub = wanted.contains(&r.node);
            if sub != r.subscribed {
                member_delta.push((r.node, if sub { 1 } else { -1 }));
            }
            r.subscribed = sub;
        }
        for node in &wanted {
            if fw.role_index(*node).is_none() {
                member_delta.push((*node, 1));
                fw.roles.push(FwRole {
                    node: *node,
                    subscribed: true,
                    suppressed: false,
                    candidate: false,
                    alloc: Quantities::new(),
                    count: 0,
                    key: key(0.0, 0, f),
                });
            }
        }
        let n = fw.roles.len();
        for (node, d) in member_delta {
            let m = &mut self.nodes[node].members;
            *m = if d > 0 { *m + 1 } else { m.saturating_sub(1) };
        }
        for ri in 0..n {
            self.set_candidate(f, ri);
        }
    }

    fn roles_matching(&self, f: u32, roles: &[String]) -> Vec<usize> {
        let Some(fw) = self.frameworks[f as usize].as_ref() else {
            return Vec::new();
        };
        (0..fw.roles.len())
            .filter(|&ri| {
                roles.is_empty()
                    || roles
                        .iter()
                        .any(|r| *r == self.nodes[fw.roles[ri].node].path)
            })
            .collect()
    }

    /// No offers for these roles of the framework (empty: all its roles).
    pub fn suppress_offers(&mut self, id: &FrameworkId, roles: &[String]) {
        let Some(&f) = self.fw_index.get(id) else {
            return;
        };
        for ri in self.roles_matching(f, roles) {
            if let Some(fw) = self.frameworks[f as usize].as_mut() {
                fw.roles[ri].suppressed = true;
            }
            self.set_candidate(f, ri);
        }
    }

    /// Offers again for these roles (empty: all): unsuppresses them and clears the
    /// framework's filters for them.
    pub fn revive_offers(&mut self, id: &FrameworkId, roles: &[String]) {
        let Some(&f) = self.fw_index.get(id) else {
            return;
        };
        let ris = self.roles_matching(f, roles);
        let mut nodes = Vec::new();
        for ri in ris {
            if let Some(fw) = self.frameworks[f as usize].as_mut() {
                fw.roles[ri].suppressed = false;
                nodes.push(fw.roles[ri].node);
            }
            self.set_candidate(f, ri);
        }
        let mut removed = 0u64;
        if let Some(fw) = self.frameworks[f as usize].as_mut() {
            fw.filters.retain(|_, v| {
                let before = v.len();
                v.retain(|flt| !nodes.contains(&flt.node));
                removed += (before - v.len()) as u64;
                !v.is_empty()
            });
        }
        self.filter_count -= removed.min(self.filter_count);
        self.global_version += 1;
    }

    // ----- agents ------------------------------------------------------------------

    /// An agent was admitted; `used` is what frameworks already run on it.
    pub fn add_agent(
        &mut self,
        id: &AgentId,
        info: &AgentInfo,
        total: &Resources,
        used: &[(FrameworkId, Resources)],
    ) {
        if self.agent_index.contains_key(id) {
            self.update_agent(id, total);
            self.activate_agent(id);
            return;
        }
        let names = self.names.scalar_names_of(total);
        let total_q = Quantities::of(total, &self.names, &names);
        self.total.add(&total_q);
        self.dirty = true;
        let has_reservations = !total.roles().is_empty();
        if has_reservations {
            self.add_reservations(total, true);
        }
        let a = self.agents.len() as u32;
        self.agents.push(Some(Agent {
            id: id.clone(),
            hostname: info.hostname.clone(),
            total: total.clone(),
            free: total.clone(),
            active: true,
            has_reservations,
            names,
            total_q,
            version: 1,
            skip: None,
            holders: FastSet::default(),
            overcommitted: false,
        }));
        self.agent_index.insert(id.clone(), a);
        for (fid, res) in used {
            match self.fw_index.get(fid) {
                Some(&f) => self.attach(f, a, res.clone(), true),
                None => {
                    let Some(agent) = self.agents[a as usize].as_mut() else {
                        continue;
                    };
                    let part = intersect(&agent.free, res);
                    if part.is_empty() {
                        continue;
                    }
                    agent.free -= &part;
                    self.orphans.entry(fid.clone()).or_default().push((a, part));
                }
            }
        }
    }

    /// An agent was removed: its resources (and allocations on it) are gone.
    pub fn remove_agent(&mut self, id: &AgentId) {
        let Some(a) = self.agent_index.remove(id) else {
            return;
        };
        let holders: Vec<u32> = self.agents[a as usize]
            .as_ref()
            .map(|ag| ag.holders.iter().copied().collect())
            .unwrap_or_default();
        for f in holders {
            self.release_all(f, a);
            if let Some(fw) = self.frameworks[f as usize].as_mut() {
                if let Some(v) = fw.filters.remove(&a) {
                    self.filter_count -= (v.len() as u64).min(self.filter_count);
                }
            }
        }
        // Filters of frameworks that hold nothing here.
        for fw in self.frameworks.iter_mut().flatten() {
            if let Some(v) = fw.filters.remove(&a) {
                self.filter_count -= (v.len() as u64).min(self.filter_count);
            }
        }
        for list in self.orphans.values_mut() {
            list.retain(|(x, _)| *x != a);
        }
        self.orphans.retain(|_, l| !l.is_empty());
        if let Some(agent) = self.agents[a as usize].take() {
            self.total.sub(&agent.total_q);
            if agent.has_reservations {
                self.add_reservations(&agent.total, false);
            }
            self.dirty = true;
        }
    }

    /// The agent's resources may be offered again.
    pub fn activate_agent(&mut self, id: &AgentId) {
        if let Some(agent) = self.agent_mut(id) {
            agent.active = true;
            agent.version += 1;
        }
    }

    /// Nothing on the agent is offered until it is activated.
    pub fn deactivate_agent(&mut self, id: &AgentId) {
        if let Some(agent) = self.agent_mut(id) {
            agent.active = false;
            agent.version += 1;
        }
    }

    fn agent_mut(&mut self, id: &AgentId) -> Option<&mut Agent> {
        let a = *self.agent_index.get(id)?;
        self.agents[a as usize].as_mut()
    }

    /// The agent's total changed (allocations on it stay).
    pub fn update_agent(&mut self, id: &AgentId, total: &Resources) {
        let Some(&a) = self.agent_index.get(id) else {
            return;
        };
        let names = self.names.scalar_names_of(total);
        let total_q = Quantities::of(total, &self.names, &names);
        let Some(agent) = self.agents[a as usize].take() else {
            return;
        };
        let mut agent = agent;
        self.total.sub(&agent.total_q);
        self.total.add(&total_q);
        if agent.has_reservations {
            self.add_reservations(&agent.total, false);
        }
        let has_reservations = !total.roles().is_empty();
        if has_reservations {
            self.add_reservations(total, true);
        }
        // Keep names covering both what is allocated and the new total.
        let mut all = names;
        all.extend(agent.names.iter().copied());
        all.sort_unstable();
        all.dedup();
        agent.names = all;
        agent.total = total.clone();
        agent.total_q = total_q;
        // Sticky: reserved resources handed out under the old total may still be held.
        agent.has_reservations |= has_reservations;
        self.agents[a as usize] = Some(agent);
        self.refresh_free(a);
        self.dirty = true;
    }

    /// Resources held by a framework on an agent come back, optionally with a refuse
    /// filter. Resources it does not hold there are ignored. `now` is the allocator's
    /// clock (the same one passed to [`Allocator::allocate`]).
    pub fn recover_resources(
        &mut self,
        fid: &FrameworkId,
        aid: &AgentId,
        resources: &Resources,
        filters: Option<&Filters>,
        now: Duration,
    ) {
        let (Some(&f), Some(&a)) = (self.fw_index.get(fid), self.agent_index.get(aid)) else {
            // An orphan's resources coming back (framework never re-registered).
            if let (Some(list), Some(&a)) = (self.orphans.get_mut(fid), self.agent_index.get(aid)) {
                let mut rest = resources.clone();
                for (x, held) in list.iter_mut() {
                    if *x == a {
                        let part = intersect(held, &rest);
                        *held -= &part;
                        rest -= &part;
                    }
                }
                list.retain(|(_, h)| !h.is_empty());
                self.refresh_free(a);
            }
            return;
        };
        let Some(fw) = self.frameworks[f as usize].as_mut() else {
            return;
        };
        let mut parts: Vec<(usize, Resources)> = Vec::new();
        let mut emptied = false;
        if let Some(held) = fw.allocations.get_mut(&a) {
            // Fast path: everything held for one role comes back (a whole offer declined).
            if held.len() == 1 && resources.contains(&held[0].1) {
                parts.extend(held.pop());
            }
            let mut rest = if held.is_empty() {
                Resources::new()
            } else {
                resources.clone()
            };
            for (node, h) in held.iter_mut() {
                if rest.is_empty() {
                    break;
                }
                let part = if rest.contains(h) {
                    std::mem::take(h)
                } else {
                    intersect(h, &rest)
                };
                if part.is_empty() {
                    continue;
                }
                *h -= &part;
                rest -= &part;
                parts.push((*node, part));
            }
            held.retain(|(_, h)| !h.is_empty());
            emptied = held.is_empty();
        }
        if emptied {
            fw.allocations.remove(&a);
            if let Some(agent) = self.agents[a as usize].as_mut() {
                agent.holders.remove(&f);
            }
        }
        self.release_parts(f, a, &parts);
        let Some(flt) = filters else { return };
        let secs = flt.effective_refuse_seconds();
        if secs <= 0.0 {
            return;
        }
        let dur = libproc::duration::secs_clamped(secs)
            .max(self.config.allocation_interval)
            .min(MAX_FILTER);
        let expires = now.saturating_add(dur);
        for (node, part) in parts {
            self.filter_seq += 1;
            let seq = self.filter_seq;
            let Some(fw) = self.frameworks[f as usize].as_mut() else {
                return;
            };
            let list = fw.filters.entry(a).or_default();
            // A newer filter for the same role and resources replaces the older one.
            let before = list.len();
            list.retain(|x| !(x.node == node && x.resources == part));
            self.filter_count -= ((before - list.len()) as u64).min(self.filter_count);
            list.push(Filter {
                node,
                resources: part,
                seq,
            });
            self.filter_count += 1;
            self.filter_heap.push(Reverse((expires, seq, f, a)));
        }
    }

    /// Offer operations converted `from`, held by the framework on the agent for `role`,
    /// into `to`; the agent's total is now `total` (RESERVE: unreserved → reserved,
    /// UNRESERVE: the reverse). The framework keeps holding the converted resources until
    /// they come back through [`Allocator::recover_resources`].
    pub fn update_allocation(
        &mut self,
        fid: &FrameworkId,
        aid: &AgentId,
        role: &str,
        from: &Resources,
        to: &Resources,
        total: &Resources,
    ) {
        let (Some(&f), Some(&a)) = (self.fw_index.get(fid), self.agent_index.get(aid)) else {
            // Not held by a known framework: only the total changes.
            self.update_agent(aid, total);
            return;
        };
        // Release `from` (no filter), change the total, then hold `to` for the same role.
        let held_before = self.frameworks[f as usize]
            .as_ref()
            .and_then(|fw| fw.allocations.get(&a))
            .map(|parts| parts.iter().fold(Resources::new(), |acc, (_, r)| acc + r))
            .unwrap_or_default();
        let released = intersect(&held_before, from);
        self.recover_resources(fid, aid, &released, None, Duration::ZERO);
        self.update_agent(aid, total);
        let node = self.node_index.get(role).copied();
        let Some(agent) = self.agents[a as usize].as_mut() else {
            return;
        };
        let part = intersect(&agent.free, to);
        if part.is_empty() {
            return;
        }
        agent.free -= &part;
        agent.version += 1;
        agent.holders.insert(f);
        let Some(fw) = self.frameworks[f as usize].as_ref() else {
            return;
        };
        let ri = node
            .and_then(|n| fw.role_index(n))
            .or_else(|| pick_role(fw, &part, &self.nodes));
        let Some(ri) = ri else { return };
        let node = fw.roles[ri].node;
        let Some(agent) = self.agents[a as usize].as_ref() else {
            return;
        };
        let (q, qu) = self.quantities(agent, &part);
        if let Some(fw) = self.frameworks[f as usize].as_mut() {
            merge_into(fw.allocations.entry(a).or_default(), node, &part);
        }
        self.account(f, ri, &q, &qu, true);
    }

    fn expire_filters(&mut self, now: Duration) {
        while let Some(Reverse((t, seq, f, a))) = self.filter_heap.peek().copied() {
            if t > now {
                break;
            }
            self.filter_heap.pop();
            let Some(fw) = self.frameworks.get_mut(f as usize).and_then(Option::as_mut) else {
                continue;
            };
            let mut removed = false;
            if let Some(list) = fw.filters.get_mut(&a) {
                let before = list.len();
                list.retain(|x| x.seq != seq);
                removed = list.len() != before;
                if list.is_empty() {
                    fw.filters.remove(&a);
                }
            }
            if removed {
                self.filter_count = self.filter_count.saturating_sub(1);
                if let Some(agent) = self.agents.get_mut(a as usize).and_then(Option::as_mut) {
                    agent.version += 1;
                }
            }
        }
    }

    // ----- weights and quota -------------------------------------------------------

    /// New role weights (non-positive or non-finite weights are ignored).
    pub fn update_weights(&mut self, weights: &[(String, f64)]) {
        for (role, w) in weights {
            if !(w.is_finite() && *w > 0.0) {
                continue;
            }
            self.weights.insert(role.clone(), *w);
            if let Some(&n) = self.node_index.get(role) {
                self.nodes[n].weight = *w;
            }
        }
        self.dirty = true;
        self.global_version += 1;
    }

    /// The weight of `role`.
    pub fn weight(&self, role: &str) -> f64 {
        self.weights.get(role).copied().unwrap_or(1.0)
    }

    /// Sets `role`'s quota: `guarantee` is offered to it first (and headroom for it is
    /// held back from others), `limit` caps what it is offered. Scalars only.
    pub fn set_quota(&mut self, role: &str, guarantee: &Resources, limit: Option<&Resources>) {
        let n = self.node_for(role);
        let g = Quantities::from_resources(&guarantee.flatten(), &mut self.names);
        let l = limit.map(|l| Quantities::from_resources(&l.flatten(), &mut self.names));
        self.nodes[n].quota = Some(Quota {
            guarantee: g,
            limit: l,
            guarantee_res: guarantee.clone(),
            limit_res: limit.cloned(),
        });
        if !self.quota_roles.contains(&n) {
            self.quota_roles.push(n);
        }
        self.global_version += 1;
    }

    /// Removes `role`'s quota.
    pub fn remove_quota(&mut self, role: &str) {
        if let Some(&n) = self.node_index.get(role) {
            self.nodes[n].quota = None;
            self.quota_roles.retain(|x| *x != n);
        }
        self.global_version += 1;
    }

    fn required_headroom(&self) -> Quantities {
        let mut req = Quantities::new();
        for &q in &self.quota_roles {
            req.add(&self.nodes[q].unmet());
        }
        req
    }

    // ----- allocation --------------------------------------------------------------

    fn allocatable(&self, r: &Resources) -> bool {
        if self.min_allocatable.is_empty() {
            return !r.is_empty();
        }
        self.min_allocatable.iter().any(|set| {
            set.iter().all(|(name, q)| match name {
                MinName::Cpus => r.cpus() >= *q,
                MinName::Mem => r.mem() >= *q,
                MinName::Other(n) => r.scalar(n).as_f64() >= *q,
            })
        })
    }

    /// What `node`'s role may be offered on agent `a` now, after quota limits, headroom
    /// and (in the guarantee stage) the unmet guarantee of `stage1`.
    fn offer_for(
        &self,
        node: usize,
        a: &Agent,
        stage1: Option<usize>,
        hr: Option<&Headroom>,
    ) -> Option<Offer> {
        if hr.is_none() && !a.has_reservations {
            return self.allocatable(&a.free).then_some(Offer::All);
        }
        let role = &self.nodes[node].path;
        let mut offer = if a.has_reservations {
            a.free.allocatable_to(role)
        } else {
            a.free.clone()
        };
        if let Some(h) = hr {
            let mut caps: Vec<(usize, f64)> = Vec::new();
            // Limits of the role and its ancestors.
            let mut cur = Some(node);
            let mut own_unmet = Quantities::new();
            while let Some(c) = cur {
                if c == ROOT {
                    break;
                }
                let n = &self.nodes[c];
                if let Some(q) = &n.quota {
                    if let Some(l) = &q.limit {
                        let consumed = n.consumed();
                        for (i, lim) in l.iter() {
                            caps.push((i, lim - consumed.get(i)));
                        }
                        // A zero limit on a name shows up as absent from iter(); treat
                        // names in the limit resources with zero as capped at zero.
                    }
                    own_unmet.add(&n.unmet());
                }
                cur = n.parent;
            }
            let required = self.required_headroom();
            for (i, r) in required.iter() {
                caps.push((i, h.available.get(i) - r + own_unmet.get(i)));
            }
            if let Some(q) = stage1 {
                let unmet = self.nodes[q].unmet();
                if let Some(quota) = &self.nodes[q].quota {
                    for (i, _) in quota.guarantee.iter() {
                        caps.push((i, unmet.get(i)));
                    }
                }
            }
            for (i, cap) in caps {
                let name = self.names.name(i);
                let cur = unreserved_scalar(&offer, name, a.has_reservations);
                let cap = cap.max(0.0);
                if cur > cap + 1e-9 {
                    // Round the excess up to milli units so the result never exceeds the cap.
                    let excess = ((cur - cap) * 1000.0).ceil() as i64;
                    offer.remove(&Resource::scalar(name, Scalar::from_milli(excess)));
                }
            }
        }
        self.allocatable(&offer).then_some(Offer::Part(offer))
    }

    fn filtered(&self, fw: &Framework, node: usize, a: u32, offer: &Resources) -> bool {
        match fw.filters.get(&a) {
            None => false,
            Some(list) => list
                .iter()
                .any(|x| x.node == node && x.resources.contains(offer)),
        }
    }

    /// The first (framework, role, offer) in DRF order under `node` for agent `a`.
    fn find(
        &self,
        node: usize,
        a: u32,
        stage1: Option<usize>,
        hr: Option<&Headroom>,
    ) -> Option<(u32, usize, Offer)> {
        let agent = self.agents[a as usize].as_ref()?;
        for &(_, c) in self.nodes[node].children.iter() {
            if c == OWN {
                let mut offer: Option<Offer> = None;
                for &(_, f) in self.nodes[node].frameworks.iter() {
                    let Some(fw) = self.frameworks[f as usize].as_ref() else {
                        continue;
                    };
                    if offer.is_none() {
                        match self.offer_for(node, agent, stage1, hr) {
                            Some(o) => offer = Some(o),
                            None => break,
                        }
                    }
                    let filtered = match offer.as_ref() {
                        Some(Offer::All) => self.filtered(fw, node, a, &agent.free),
                        Some(Offer::Part(r)) => self.filtered(fw, node, a, r),
                        None => break,
                    };
                    if filtered {
                        continue;
                    }
                    let ri = fw.role_index(node)?;
                    return Some((f, ri, offer?));
                }
            } else if let Some(x) = self.find(c as usize, a, stage1, hr) {
                return Some(x);
            }
        }
        None
    }

    fn grant(
        &mut self,
        f: u32,
        ri: usize,
        a: u32,
        offer: Offer,
        hr: Option<&mut Headroom>,
        batch: &mut Batch,
    ) {
        let Some(agent) = self.agents[a as usize].as_mut() else {
            return;
        };
        let offer = match offer {
            Offer::All => std::mem::take(&mut agent.free),
            Offer::Part(r) => {
                agent.free -= &r;
                r
            }
        };
        agent.version += 1;
        agent.holders.insert(f);
        let Some(fw) = self.frameworks[f as usize].as_mut() else {
            return;
        };
        let node = fw.roles[ri].node;
        merge_into(fw.allocations.entry(a).or_default(), node, &offer);
        let agent = self.agents[a as usize].as_ref().expect("present above");
        let (q, qu) = self.quantities(agent, &offer);
        if let Some(h) = hr {
            h.available.sub(&qu);
        }
        self.account(f, ri, &q, &qu, true);
        self.stats.allocations += 1;
        match batch.index.get(&(f, a, node)) {
            Some(&i) => batch.items[i].3 += &offer,
            None => {
                batch.index.insert((f, a, node), batch.items.len());
                batch.items.push((f, a, node, offer));
            }
        }
    }

    fn servable(&self, a: u32) -> bool {
        match self.agents[a as usize].as_ref() {
            Some(agent) => agent.active && self.allocatable(&agent.free),
            None => false,
        }
    }

    fn unreserved_free_allocatable(&self, agent: &Agent) -> bool {
        if !agent.has_reservations {
            return self.allocatable(&agent.free);
        }
        let u = agent.free.unreserved();
        self.allocatable(&u)
    }

    /// Stage 2 for one agent: offer to the first eligible frameworks in DRF order.
    fn serve_agent(&mut self, a: u32, mut hr: Option<&mut Headroom>, batch: &mut Batch) {
        if !self.servable(a) {
            return;
        }
        let gv = self.global_version;
        {
            let Some(agent) = self.agents[a as usize].as_ref() else {
                return;
            };
            if agent.skip == Some((gv, agent.version)) {
                return;
            }
        }
        for _ in 0..MAX_PER_AGENT {
            let Some(agent) = self.agents[a as usize].as_ref() else {
                return;
            };
            if !self.allocatable(&agent.free) {
                break;
            }
            let found = if self.unreserved_free_allocatable(agent) {
                self.find(ROOT, a, None, hr.as_deref())
            } else if agent.has_reservations {
                let mut found = None;
                for role in agent.free.all_reserved().roles() {
                    if let Some(&n) = self.node_index.get(&role) {
                        if let Some(x) = self.find_at(n, a, hr.as_deref()) {
                            found = Some(x);
                            break;
                        }
                    }
                }
                found
            } else {
                None
            };
            match found {
                Some((f, ri, offer)) => self.grant(f, ri, a, offer, hr.as_deref_mut(), batch),
                None => break,
            }
        }
        if let Some(agent) = self.agents[a as usize].as_mut() {
            agent.skip = Some((gv, agent.version));
        }
    }

    /// Like `find` but includes `node`'s own frameworks when `node` is a leaf entry.
    fn find_at(&self, n: usize, a: u32, hr: Option<&Headroom>) -> Option<(u32, usize, Offer)> {
        if self.nodes[n].subtree_candidates == 0 {
            return None;
        }
        self.find(n, a, None, hr)
    }

    /// One batch allocation run at time `now`.
    pub fn allocate(&mut self, now: Duration) -> Vec<Allocation> {
        self.stats.runs += 1;
        self.expire_filters(now);
        if self.dirty {
            self.rebuild();
        }
        let mut batch = Batch::default();
        let order = self.shuffled_order();
        let mut headroom = None;
        if !self.quota_roles.is_empty() {
            // Quota makes eligibility depend on global consumption: no skip caching.
            self.global_version += 1;
            let mut h = Headroom::default();
            for agent in self.agents.iter().flatten() {
                if agent.active {
                    let (_, qu) = self.quantities(agent, &agent.free);
                    h.available.add(&qu);
                }
            }
            // Stage 1: roles below their guarantee, in DRF order.
            let mut unmet: Vec<usize> = self
                .quota_roles
                .iter()
                .copied()
                .filter(|&q| !self.nodes[q].unmet().is_zero())
                .collect();
            if !unmet.is_empty() {
                unmet.sort_by_key(|&q| self.nodes[q].key);
                for &a in &order {
                    for &q in &unmet {
                        if !self.servable(a) {
                            break;
                        }
                        if self.nodes[q].unmet().is_zero() || self.nodes[q].subtree_candidates == 0
                        {
                            continue;
                        }
                        if let Some((f, ri, offer)) = self.find(q, a, Some(q), Some(&h)) {
                            self.grant(f, ri, a, offer, Some(&mut h), &mut batch);
                        }
                    }
                }
            }
            headroom = Some(h);
        }
        for &a in &order {
            self.serve_agent(a, headroom.as_mut(), &mut batch);
        }
        self.order = order;
        batch
            .items
            .into_iter()
            .filter_map(|(f, a, node, resources)| {
                let fw = self.frameworks[f as usize].as_ref()?;
                let agent = self.agents[a as usize].as_ref()?;
                Some(Allocation {
                    framework_id: fw.id.clone(),
                    agent_id: agent.id.clone(),
                    role: self.nodes[node].path.clone(),
                    resources,
                })
            })
            .collect()
    }

    // ----- introspection -----------------------------------------------------------

    /// What the allocator counts as allocated (offered or used) on an agent.
    pub fn allocated_on(&self, id: &AgentId) -> Option<Resources> {
        let a = *self.agent_index.get(id)?;
        self.agents[a as usize].as_ref()?;
        Some(self.agent_allocated(a))
    }

    /// What the agent's free resources are (total minus allocated).
    pub fn free_on(&self, id: &AgentId) -> Option<&Resources> {
        let a = *self.agent_index.get(id)?;
        self.agents[a as usize].as_ref().map(|x| &x.free)
    }

    /// Sum of everything held on agent `a` (frameworks' holdings and orphans).
    fn agent_allocated(&self, a: u32) -> Resources {
        let mut out = Resources::new();
        let Some(agent) = self.agents[a as usize].as_ref() else {
            return out;
        };
        for f in &agent.holders {
            if let Some(parts) = self.frameworks[*f as usize]
                .as_ref()
                .and_then(|fw| fw.allocations.get(&a))
            {
                for (_, r) in parts {
                    out += r;
                }
            }
        }
        for list in self.orphans.values() {
            for (x, r) in list {
                if *x == a {
                    out += r;
                }
            }
        }
        out
    }

    /// Recomputes an agent's free resources from its holdings.
    fn refresh_free(&mut self, a: u32) {
        let allocated = self.agent_allocated(a);
        if let Some(agent) = self.agents[a as usize].as_mut() {
            agent.free = &agent.total - &allocated;
            agent.overcommitted = !agent.total.contains(&allocated);
            agent.version += 1;
        }
    }

    /// An agent's total resources.
    pub fn total_of(&self, id: &AgentId) -> Option<&Resources> {
        let a = *self.agent_index.get(id)?;
        self.agents[a as usize].as_ref().map(|x| &x.total)
    }

    /// Everything a framework holds, per agent and role.
    pub fn framework_allocation(&self, id: &FrameworkId) -> Vec<(AgentId, String, Resources)> {
        let mut out = Vec::new();
        let Some(&f) = self.fw_index.get(id) else {
            return out;
        };
        let Some(fw) = self.frameworks[f as usize].as_ref() else {
            return out;
        };
        for (a, parts) in &fw.allocations {
            let Some(agent) = self.agents[*a as usize].as_ref() else {
                continue;
            };
            for (node, r) in parts {
                out.push((agent.id.clone(), self.nodes[*node].path.clone(), r.clone()));
            }
        }
        out.sort_by(|x, y| (&x.0, &x.1).cmp(&(&y.0, &y.1)));
        out
    }

    /// The framework's dominant share in `role` (cluster totals as denominator).
    pub fn framework_share(&self, id: &FrameworkId, role: &str) -> Option<f64> {
        let f = *self.fw_index.get(id)?;
        let fw = self.frameworks[f as usize].as_ref()?;
        let node = *self.node_index.get(role)?;
        let ri = fw.role_index(node)?;
        Some(fw.roles[ri].alloc.share(&self.total))
    }

    /// Every role with an allocation, a quota or frameworks, with its dominant share
    /// (whole subtree, before weighting), sorted by name (for metrics).
    pub fn role_shares(&self) -> Vec<(String, f64)> {
        let mut out: Vec<(String, f64)> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, n)| {
                *i != ROOT && (n.members > 0 || !n.subtree.is_zero() || n.quota.is_some())
            })
            .map(|(_, n)| (n.path.clone(), n.subtree.share(&self.total)))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The role's dominant share (its whole subtree), before weighting.
    pub fn role_share(&self, role: &str) -> Option<f64> {
        let node = *self.node_index.get(role)?;
        Some(self.nodes[node].subtree.share(&self.total))
    }

    /// Whether the framework has an unexpired filter on the agent (for tests).
    pub fn has_filter(&self, fid: &FrameworkId, aid: &AgentId) -> bool {
        let (Some(&f), Some(&a)) = (self.fw_index.get(fid), self.agent_index.get(aid)) else {
            return false;
        };
        self.frameworks[f as usize]
            .as_ref()
            .is_some_and(|fw| fw.filters.get(&a).is_some_and(|v| !v.is_empty()))
    }

    /// The `/roles` endpoint model: every role with frameworks, allocations,
    /// reservations, a weight or a quota.
    pub fn roles_json(&self) -> serde_json::Value {
        let mut fws: HashMap<usize, Vec<String>> = HashMap::new();
        for fw in self.frameworks.iter().flatten() {
            for r in &fw.roles {
                if r.subscribed {
                    fws.entry(r.node).or_default().push(fw.id.to_string());
                }
            }
        }
        let mut roles: Vec<&RoleNode> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, n)| {
                *i != ROOT
                    && (n.members > 0
                        || !n.subtree.is_zero()
                        || !n.subtree_reserved.is_zero()
                        || n.quota.is_some()
                        || self.weights.contains_key(&n.path))
            })
            .map(|(_, n)| n)
            .collect();
        roles.sort_by(|a, b| a.path.cmp(&b.path));
        let list: Vec<serde_json::Value> = roles
            .into_iter()
            .map(|n| {
                let idx = self.node_index.get(&n.path).copied().unwrap_or(ROOT);
                let mut frameworks = fws.remove(&idx).unwrap_or_default();
                frameworks.sort();
                let allocated = n.subtree.to_resources(&self.names).to_json_map();
                let mut v = json!({
                    "name": n.path,
                    "weight": n.weight,
                    "frameworks": frameworks,
                    "resources": allocated.clone(),
                    "allocated": allocated,
                    "reserved": n.subtree_reserved.to_resources(&self.names).to_json_map(),
                    "share": n.subtree.share(&self.total),
                });
                if let Some(q) = &n.quota {
                    v["quota"] = json!({
                        "role": n.path,
                        "guarantee": q.guarantee_res.to_json_map(),
                        "limit": q.limit_res.as_ref().map(Resources::to_json_map),
                        "consumed": n.consumed().to_resources(&self.names).to_json_map(),
                    });
                }
                v
            })
            .collect();
        json!({ "roles": list })
    }

    /// Agent host names by id (for display).
    pub fn agent_hostname(&self, id: &AgentId) -> Option<&str> {
        let a = *self.agent_index.get(id)?;
        self.agents[a as usize]
            .as_ref()
            .map(|x| x.hostname.as_str())
    }

    /// A rough estimate of the heap bytes the allocator holds.
    pub fn memory_estimate(&self) -> usize {
        let per_agent = std::mem::size_of::<Agent>() + 3 * 128 + 64;
        let filters = self.filter_count as usize * (std::mem::size_of::<Filter>() + 96);
        let per_fw = std::mem::size_of::<Framework>() + 256;
        let allocations: usize = self
            .frameworks
            .iter()
            .flatten()
            .map(|f| f.allocations.len() * 160)
            .sum();
        self.agent_index.len() * per_agent + self.fw_index.len() * per_fw + filters + allocations
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

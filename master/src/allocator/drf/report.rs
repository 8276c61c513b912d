//! Introspection: what is allocated, free and shared, the `/roles` model, and a
//! memory estimate.

use super::*;

impl Allocator {
    /// Mesos's `allocator/mesos/resources/<name>/{total,offered_or_allocated}` (cpus, mem,
    /// disk and gpus always, zero when absent) and, for every role with a quota,
    /// `allocator/mesos/quota/roles/<role>/resources/<name>/{guarantee,offered_or_allocated}`.
    pub fn resource_metrics(&self) -> Vec<(String, f64)> {
        let at = |q: &Quantities, name: &str| self.names.get(name).map_or(0.0, |i| q.get(i));
        let allocated = &self.nodes[ROOT].subtree;
        let mut out = Vec::new();
        for name in ["cpus", "mem", "disk", "gpus"] {
            out.push((
                format!("allocator/mesos/resources/{name}/total"),
                at(&self.total, name),
            ));
            out.push((
                format!("allocator/mesos/resources/{name}/offered_or_allocated"),
                at(allocated, name),
            ));
        }
        for n in &self.nodes {
            let Some(q) = &n.quota else { continue };
            for (i, v) in q.guarantee.iter() {
                let name = self.names.name(i);
                let prefix = format!("allocator/mesos/quota/roles/{}/resources/{name}", n.path);
                out.push((format!("{prefix}/guarantee"), v));
                out.push((format!("{prefix}/offered_or_allocated"), n.subtree.get(i)));
            }
        }
        out
    }

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
    pub(super) fn agent_allocated(&self, a: u32) -> Resources {
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
    pub(super) fn refresh_free(&mut self, a: u32) {
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

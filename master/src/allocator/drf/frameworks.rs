//! Framework events: subscribe, remove, (de)activate, update, suppress and revive.

use super::*;

impl Allocator {
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
    pub(super) fn attach(&mut self, f: u32, a: u32, res: Resources, take_free: bool) {
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
    pub(super) fn release_all(&mut self, f: u32, a: u32) {
        let parts = self.frameworks[f as usize]
            .as_mut()
            .and_then(|fw| fw.allocations.remove(&a))
            .unwrap_or_default();
        self.release_parts(f, a, &parts);
        if let Some(agent) = self.agents[a as usize].as_mut() {
            agent.holders.remove(&f);
        }
    }

    pub(super) fn release_parts(&mut self, f: u32, a: u32, parts: &[(usize, Resources)]) {
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

    pub(super) fn set_active(&mut self, id: &FrameworkId, active: bool) {
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

    pub(super) fn roles_matching(&self, f: u32, roles: &[String]) -> Vec<usize> {
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
}

//! Agent events and resources coming back: add, remove, (de)activate, update totals,
//! recovered resources (with their refuse filters) and converted allocations.

use super::*;

impl Allocator {
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

    pub(super) fn agent_mut(&mut self, id: &AgentId) -> Option<&mut Agent> {
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
        self.install_filters(f, a, parts, filters, now);
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
}

//! One allocation run: walk the agents (twice with unmet quota guarantees) and give
//! each to the first eligible framework in DRF order.

use super::*;

impl Allocator {
    pub(super) fn allocatable(&self, r: &Resources) -> bool {
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
    pub(super) fn offer_for(
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

    /// The first (framework, role, offer) in DRF order under `node` for agent `a`.
    pub(super) fn find(
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

    pub(super) fn grant(
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

    pub(super) fn servable(&self, a: u32) -> bool {
        match self.agents[a as usize].as_ref() {
            Some(agent) => agent.active && self.allocatable(&agent.free),
            None => false,
        }
    }

    pub(super) fn unreserved_free_allocatable(&self, agent: &Agent) -> bool {
        if !agent.has_reservations {
            return self.allocatable(&agent.free);
        }
        let u = agent.free.unreserved();
        self.allocatable(&u)
    }

    /// Stage 2 for one agent: offer to the first eligible frameworks in DRF order.
    pub(super) fn serve_agent(&mut self, a: u32, mut hr: Option<&mut Headroom>, batch: &mut Batch) {
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
    pub(super) fn find_at(
        &self,
        n: usize,
        a: u32,
        hr: Option<&Headroom>,
    ) -> Option<(u32, usize, Offer)> {
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
}

//! Role weights and quota: guarantees (with the headroom held back for them) and limits.

use super::*;

impl Allocator {
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

    pub(super) fn required_headroom(&self) -> Quantities {
        let mut req = Quantities::new();
        for &q in &self.quota_roles {
            req.add(&self.nodes[q].unmet());
        }
        req
    }
}

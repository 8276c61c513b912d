//! The hierarchical DRF sorter: the role tree, the weighted dominant-share keys of
//! roles and frameworks, and their upkeep as allocations change.

use super::*;

impl Allocator {
    pub(super) fn node_for(&mut self, path: &str) -> usize {
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

    pub(super) fn fw_key(&self, fr: &FwRole, f: u32) -> Key {
        key(fr.alloc.share(&self.total), fr.count, f)
    }

    pub(super) fn node_key(&self, n: usize) -> Key {
        let node = &self.nodes[n];
        key(
            node.subtree.share(&self.total) / node.weight,
            node.subtree_count,
            n as u32,
        )
    }

    pub(super) fn own_key(&self, n: usize) -> Key {
        let node = &self.nodes[n];
        key(
            node.own.share(&self.total) / node.weight,
            node.own_count,
            OWN,
        )
    }

    /// Recomputes every key and rebuilds the sorted sets (after totals or weights change).
    pub(super) fn rebuild(&mut self) {
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

    pub(super) fn set_candidate(&mut self, f: u32, ri: usize) {
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
    pub(super) fn account(
        &mut self,
        f: u32,
        ri: usize,
        q: &Quantities,
        q_unres: &Quantities,
        add: bool,
    ) {
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

    pub(super) fn quantities(&self, a: &Agent, r: &Resources) -> (Quantities, Quantities) {
        let q = Quantities::of(r, &self.names, &a.names);
        if a.has_reservations {
            let mut u = q.clone();
            u.sub(&Quantities::of(&r.all_reserved(), &self.names, &a.names));
            (q, u)
        } else {
            (q.clone(), q)
        }
    }

    pub(super) fn add_reservations(&mut self, total: &Resources, add: bool) {
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
}

//! Refuse filters: installed when a framework declines resources, consulted when
//! offering, expired on schedule.

use super::*;

impl Allocator {
    /// Installs refuse filters for the `parts` (per role node) of an agent `a` that
    /// framework `f` declined with `filters`, expiring `now` + the refuse time.
    pub(super) fn install_filters(
        &mut self,
        f: u32,
        a: u32,
        parts: Vec<(usize, Resources)>,
        filters: Option<&Filters>,
        now: Duration,
    ) {
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

    pub(super) fn expire_filters(&mut self, now: Duration) {
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

    pub(super) fn filtered(&self, fw: &Framework, node: usize, a: u32, offer: &Resources) -> bool {
        match fw.filters.get(&a) {
            None => false,
            Some(list) => list
                .iter()
                .any(|x| x.node == node && x.resources.contains(offer)),
        }
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
}

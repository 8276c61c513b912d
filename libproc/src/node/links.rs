//! Links: who is told `exited` when a process terminates or its node becomes unreachable.

use super::*;

impl NodeInner {
    pub(super) fn notify_exited(&self, linker: &Pid, linkee: Pid) {
        if let Some(e) = self.entry(linker.id()) {
            if let Some(m) = e.mailbox() {
                m.exited(linkee);
            }
        }
    }

    pub(super) fn link(self: &Arc<Self>, linker: &Pid, linkee: &Pid, mode: LinkMode) {
        {
            let mut links = self.lock_links();
            links
                .by_linkee
                .entry(linkee.clone())
                .or_default()
                .insert(linker.clone());
        }
        if linkee.addr() == self.addr {
            // A local linkee that is not (or no longer) here exits at once.
            if !self.processes.contains_key(linkee.id()) {
                let present = {
                    let mut links = self.lock_links();
                    let had = links
                        .by_linkee
                        .get_mut(linkee)
                        .map(|s| s.remove(linker))
                        .unwrap_or(false);
                    if links.by_linkee.get(linkee).is_some_and(|s| s.is_empty()) {
                        links.by_linkee.remove(linkee);
                    }
                    had
                };
                if present {
                    self.notify_exited(linker, linkee.clone());
                }
            }
        } else {
            self.peer(linkee.addr(), mode == LinkMode::Reconnect);
        }
    }

    /// A local process stopped: unregister it and tell its linkers.
    pub(crate) fn process_terminated(&self, pid: &Pid) {
        if let Some((_, e)) = self.processes.remove(pid.id()) {
            self.counters
                .sent_by_gone
                .fetch_add(e.sent.0.load(Ordering::Relaxed), Ordering::Relaxed);
            self.counters
                .received_by_gone
                .fetch_add(e.handled.0.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        let linkers = {
            let mut links = self.lock_links();
            let linkers = links.by_linkee.remove(pid).unwrap_or_default();
            for set in links.by_linkee.values_mut() {
                set.remove(pid);
            }
            links.by_linkee.retain(|_, s| !s.is_empty());
            linkers
        };
        for l in linkers {
            self.notify_exited(&l, pid.clone());
        }
    }
}

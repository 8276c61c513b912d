//! PIDs bound to the connections they authenticated over, and the rules that follow, pure.
//!
//! A scheduler or an agent that authenticates proves its secret once, over one inbound
//! connection of the master's node ([`libproc::connection::ConnectionId`]). From then on:
//! * a message claiming that PID over any *other* connection is refused
//!   ([`Refusal::BoundElsewhere`]): a forged kill or teardown "from" an authenticated
//!   framework, sent by whoever can reach the port, changes nothing;
//! * a message over that connection claiming a PID of another node (another address than
//!   the authenticated PIDs') is refused ([`Refusal::ForeignOnBound`]): an authenticated
//!   peer speaks only for its own node;
//! * when the connection closes, its PIDs are forgotten and *orphaned*: their messages are
//!   refused ([`Refusal::Orphaned`]) until they authenticate again, so a forger cannot
//!   speak for a framework in the gap between its connection breaking and its
//!   re-registration (which authenticates again). Orphans are bounded ([`MAX_ORPHANS`]).
//!
//! Authentication messages themselves pass the last two rules (a second scheduler on an
//! authenticated node, a re-authentication after a reconnect), not the first. A local
//! delivery (no connection) is trusted: libproc already refuses network frames claiming
//! a sender of this node. Re-authenticating over another connection moves the binding.

use libproc::fxhash::{FxHashMap, FxHashSet};
use std::collections::VecDeque;
use std::net::SocketAddr;

use libproc::connection::ConnectionId;
use libproc::Pid;

/// Orphaned PIDs remembered at most (the oldest is forgotten first).
pub const MAX_ORPHANS: usize = 65_536;

/// Why a message is refused for its sender and connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The PID authenticated over another connection.
    BoundElsewhere,
    /// The connection is bound to another node's PIDs.
    ForeignOnBound,
    /// The PID's authenticated connection closed and it has not authenticated again.
    Orphaned,
}

impl Refusal {
    /// For logs.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::BoundElsewhere => "the sender authenticated over another connection",
            Refusal::ForeignOnBound => {
                "the connection is authenticated for another node's processes"
            }
            Refusal::Orphaned => {
                "the sender's authenticated connection closed; it must authenticate again"
            }
        }
    }
}

/// Which connection each authenticated PID is bound to.
#[derive(Debug, Default)]
pub struct BoundPids {
    /// PID → the connection it authenticated over (`None`: a local process).
    by_pid: FxHashMap<Pid, Option<ConnectionId>>,
    /// Connection → its node's address and the PIDs bound to it.
    by_connection: FxHashMap<ConnectionId, (SocketAddr, FxHashSet<Pid>)>,
    orphans: FxHashSet<Pid>,
    orphan_order: VecDeque<Pid>,
}

impl BoundPids {
    /// May a message claiming `from`, delivered over `connection`, be handled?
    /// `authenticating`: it is an authentication message.
    pub fn check(
        &self,
        from: &Pid,
        connection: Option<ConnectionId>,
        authenticating: bool,
    ) -> Result<(), Refusal> {
        let Some(c) = connection else {
            return Ok(());
        };
        match self.by_pid.get(from) {
            Some(bound) if *bound == Some(c) => return Ok(()),
            Some(_) => return Err(Refusal::BoundElsewhere),
            None => {}
        }
        if authenticating {
            return Ok(());
        }
        if self.orphans.contains(from) {
            return Err(Refusal::Orphaned);
        }
        match self.by_connection.get(&c) {
            Some((addr, _)) if *addr != from.addr() => Err(Refusal::ForeignOnBound),
            _ => Ok(()),
        }
    }

    /// `pid` authenticated over `connection`: bind it there (moving an older binding).
    /// Returns whether the connection had no binding yet (the caller watches for its
    /// close then, once).
    pub fn bind(&mut self, pid: &Pid, connection: Option<ConnectionId>) -> bool {
        if self.by_pid.get(pid) == Some(&connection) {
            return false;
        }
        self.unbind(pid);
        if self.orphans.remove(pid) {
            self.orphan_order.retain(|p| p != pid);
        }
        self.by_pid.insert(pid.clone(), connection);
        let Some(c) = connection else {
            return false;
        };
        let new = !self.by_connection.contains_key(&c);
        self.by_connection
            .entry(c)
            .or_insert_with(|| (pid.addr(), FxHashSet::default()))
            .1
            .insert(pid.clone());
        new
    }

    /// `connection` closed: its PIDs are unbound and orphaned. Returns them.
    pub fn closed(&mut self, connection: ConnectionId) -> Vec<Pid> {
        let Some((_, pids)) = self.by_connection.remove(&connection) else {
            return Vec::new();
        };
        let mut gone: Vec<Pid> = pids.into_iter().collect();
        gone.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        for pid in &gone {
            self.by_pid.remove(pid);
            if self.orphans.insert(pid.clone()) {
                self.orphan_order.push_back(pid.clone());
            }
        }
        while self.orphan_order.len() > MAX_ORPHANS {
            if let Some(old) = self.orphan_order.pop_front() {
                self.orphans.remove(&old);
            }
        }
        gone
    }

    /// Whether `pid` is bound (authenticated, its connection open).
    pub fn is_bound(&self, pid: &Pid) -> bool {
        self.by_pid.contains_key(pid)
    }

    /// How many PIDs are bound.
    pub fn len(&self) -> usize {
        self.by_pid.len()
    }

    /// Whether no PID is bound.
    pub fn is_empty(&self) -> bool {
        self.by_pid.is_empty()
    }

    fn unbind(&mut self, pid: &Pid) {
        if let Some(Some(c)) = self.by_pid.remove(pid) {
            if let Some((_, pids)) = self.by_connection.get_mut(&c) {
                pids.remove(pid);
                if pids.is_empty() {
                    self.by_connection.remove(&c);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid(s: &str) -> Pid {
        s.parse().unwrap()
    }

    fn conn(n: u64) -> Option<ConnectionId> {
        Some(ConnectionId::made_up(n))
    }

    #[test]
    fn a_bound_pid_speaks_only_over_its_connection() {
        let mut b = BoundPids::default();
        let fw = pid("scheduler(1)@10.0.0.5:4000");
        // Before authenticating, anything goes (the admission rules decide).
        assert_eq!(b.check(&fw, conn(1), false), Ok(()));
        b.bind(&fw, conn(1));
        assert_eq!(b.check(&fw, conn(1), false), Ok(()));
        assert_eq!(b.check(&fw, conn(2), false), Err(Refusal::BoundElsewhere));
        // Not even to authenticate again over another connection while bound.
        assert_eq!(b.check(&fw, conn(2), true), Err(Refusal::BoundElsewhere));
        // Local deliveries are trusted.
        assert_eq!(b.check(&fw, None, false), Ok(()));
    }

    #[test]
    fn a_bound_connection_speaks_only_for_its_node() {
        let mut b = BoundPids::default();
        b.bind(&pid("scheduler(1)@10.0.0.5:4000"), conn(1));
        // Another process of the same node: fine (it may authenticate too).
        assert_eq!(
            b.check(&pid("scheduler(2)@10.0.0.5:4000"), conn(1), false),
            Ok(())
        );
        // Another node's PID over the authenticated connection: refused, but it may
        // authenticate (and is then bound elsewhere than the connection's node... its own).
        let other = pid("slave(1)@10.0.0.9:5051");
        assert_eq!(
            b.check(&other, conn(1), false),
            Err(Refusal::ForeignOnBound)
        );
        assert_eq!(b.check(&other, conn(1), true), Ok(()));
        // Over an unauthenticated connection it is not this module's business.
        assert_eq!(b.check(&other, conn(3), false), Ok(()));
    }

    #[test]
    fn a_closed_connection_orphans_its_pids_until_they_authenticate_again() {
        let mut b = BoundPids::default();
        let fw = pid("scheduler(1)@10.0.0.5:4000");
        let fw2 = pid("scheduler(2)@10.0.0.5:4000");
        b.bind(&fw, conn(1));
        b.bind(&fw2, conn(1));
        assert_eq!(b.len(), 2);
        assert_eq!(
            b.closed(ConnectionId::made_up(1)),
            vec![fw.clone(), fw2.clone()]
        );
        assert!(b.is_empty());
        // Nobody speaks for it now, over any connection, but an authentication.
        assert_eq!(b.check(&fw, conn(1), false), Err(Refusal::Orphaned));
        assert_eq!(b.check(&fw, conn(2), false), Err(Refusal::Orphaned));
        assert_eq!(b.check(&fw, conn(2), true), Ok(()));
        // Authenticated again over a new connection: bound there.
        b.bind(&fw, conn(2));
        assert_eq!(b.check(&fw, conn(2), false), Ok(()));
        assert_eq!(b.check(&fw, conn(1), false), Err(Refusal::BoundElsewhere));
        // Closing an unknown or already closed connection does nothing.
        assert!(b.closed(ConnectionId::made_up(1)).is_empty());
        assert!(b.closed(ConnectionId::made_up(9)).is_empty());
    }

    #[test]
    fn re_authenticating_moves_the_binding() {
        let mut b = BoundPids::default();
        let agent = pid("slave(1)@10.0.0.9:5051");
        assert!(b.bind(&agent, conn(1)));
        assert!(!b.bind(&agent, conn(1)), "the same connection again");
        assert!(b.bind(&agent, conn(2)));
        assert_eq!(b.check(&agent, conn(2), false), Ok(()));
        assert_eq!(
            b.check(&agent, conn(1), false),
            Err(Refusal::BoundElsewhere)
        );
        // The old connection no longer holds it: its close orphans nothing.
        assert!(b.closed(ConnectionId::made_up(1)).is_empty());
        assert!(b.is_bound(&agent));
    }

    #[test]
    fn orphans_are_bounded() {
        let mut b = BoundPids::default();
        for i in 0..(MAX_ORPHANS as u64 + 10) {
            let p = pid(&format!("scheduler({i})@10.0.0.5:4000"));
            b.bind(&p, conn(i));
            b.closed(ConnectionId::made_up(i));
        }
        assert_eq!(b.orphans.len(), MAX_ORPHANS);
        assert_eq!(b.orphan_order.len(), MAX_ORPHANS);
        // The oldest were forgotten first.
        let first = pid("scheduler(0)@10.0.0.5:4000");
        assert_eq!(b.check(&first, conn(99), false), Ok(()));
    }
}

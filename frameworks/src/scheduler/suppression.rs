//! Which of the framework's roles want offers: the driver's record of `suppress` and
//! `revive`, so the state survives re-registration (a new leading master knows nothing
//! of it) and a repeated `suppress` costs no message.

use std::collections::BTreeSet;

/// What became of a driver call that talks to the master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The message went to the master.
    Sent,
    /// The driver is not connected: the call was dropped (the offers it named are void
    /// anyway once the master goes away).
    NotConnected,
    /// The driver is not connected: it recorded the wish and tells the master when it
    /// (re-)registers.
    Deferred,
    /// Nothing to send: the roles were already suppressed.
    Unchanged,
}

impl Delivery {
    /// True if a message went to the master.
    pub fn sent(self) -> bool {
        self == Delivery::Sent
    }
}

/// The suppressed roles, and the revives still owed to the master.
#[derive(Debug, Clone, Default)]
pub struct Suppression {
    suppressed: BTreeSet<String>,
    /// Roles revived while disconnected: revived on the master once registered.
    owed_revive: BTreeSet<String>,
}

/// The roles a call names: `roles`, or all of the framework's when empty.
fn pick(roles: &[String], all: &[String]) -> BTreeSet<String> {
    if roles.is_empty() { all } else { roles }
        .iter()
        .cloned()
        .collect()
}

impl Suppression {
    /// The state of a driver taking over an existing framework (a scheduler failover):
    /// its predecessor may have left `roles` suppressed on the master, but the new
    /// scheduler has asked for nothing yet, so they are revived on registration (as a
    /// Mesos master unsuppresses the roles a failed-over scheduler does not name).
    pub fn taking_over(roles: &[String]) -> Suppression {
        Suppression {
            suppressed: BTreeSet::new(),
            owed_revive: roles.iter().cloned().collect(),
        }
    }

    /// The roles now suppressed.
    pub fn suppressed(&self) -> &BTreeSet<String> {
        &self.suppressed
    }

    /// `suppress(roles)` (empty: all of `all`). Returns the roles to tell the master
    /// about (none if they already were suppressed).
    pub fn suppress(&mut self, roles: &[String], all: &[String]) -> Vec<String> {
        let mut new = Vec::new();
        for r in pick(roles, all) {
            self.owed_revive.remove(&r);
            if self.suppressed.insert(r.clone()) {
                new.push(r);
            }
        }
        new
    }

    /// `revive(roles)` (empty: all of `all`); `connected` says whether the revive goes
    /// out now (else it is owed). Returns the roles named.
    pub fn revive(&mut self, roles: &[String], all: &[String], connected: bool) -> Vec<String> {
        let named = pick(roles, all);
        for r in &named {
            self.suppressed.remove(r);
            if !connected {
                self.owed_revive.insert(r.clone());
            }
        }
        named.into_iter().collect()
    }

    /// The driver (re-)registered: the roles to suppress and to revive on the master so
    /// that it agrees with the scheduler's wishes.
    pub fn registered(&mut self) -> (Vec<String>, Vec<String>) {
        let revive = std::mem::take(&mut self.owed_revive).into_iter().collect();
        (self.suppressed.iter().cloned().collect(), revive)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn suppression_is_remembered_and_repeats_are_free() {
        let all = s(&["a", "b"]);
        let mut x = Suppression::default();
        assert_eq!(x.suppress(&[], &all), all);
        assert!(
            x.suppress(&s(&["a"]), &all).is_empty(),
            "already suppressed"
        );
        assert_eq!(x.registered(), (all.clone(), vec![]));
        assert_eq!(x.revive(&s(&["a"]), &all, true), s(&["a"]));
        assert_eq!(x.registered(), (s(&["b"]), vec![]));
        // Revived while disconnected: owed until registered, then paid once.
        assert_eq!(x.revive(&[], &all, false), all);
        assert_eq!(x.registered(), (vec![], all.clone()));
        assert_eq!(x.registered(), (vec![], vec![]));
        // A suppress cancels an owed revive.
        x.revive(&[], &all, false);
        x.suppress(&s(&["b"]), &all);
        assert_eq!(x.registered(), (s(&["b"]), s(&["a"])));
        // Taking over a framework: everything is revived once, unless suppressed first.
        let mut x = Suppression::taking_over(&all);
        x.suppress(&s(&["a"]), &all);
        assert_eq!(x.registered(), (s(&["a"]), s(&["b"])));
        assert_eq!(x.registered(), (s(&["a"]), vec![]));
    }
}

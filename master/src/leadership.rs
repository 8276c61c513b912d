//! Where a master stands in leader election, as a pure state machine: contending, elected
//! and recovering the registry, leading, or lost (stopping). The actor shell
//! ([`crate::process`]) feeds it elections, losses and the state of its ZooKeeper lease,
//! and asks it whether the master may act and what a leader-only request gets instead.
//! Not to be confused with resource roles (`FrameworkInfo.roles`, weights, quota).

use detector::contender::LeaseState;
use proto::MasterInfo;

/// Where the master stands in leader election.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Leadership {
    /// Contending through ZooKeeper; not leading.
    #[default]
    Contending,
    /// Elected; reading the registry.
    Recovering,
    /// Leading.
    Leading,
    /// Leadership lost; the process is stopping.
    Lost,
}

/// Whether a master may act as leader now (see [`Leadership::may_act`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acting {
    /// It leads and its lease holds: act.
    Act,
    /// It leads but its lease ran out recently: act on nothing until it is renewed.
    Wait,
    /// It leads but its lease ran out longer ago than the session timeout: stop.
    GiveUp,
    /// It does not lead.
    NotLeading,
}

/// What a master does with a message for the leader (see [`Leadership::on_message`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageFate {
    /// Handle it now.
    Handle,
    /// Keep it, in order, for when this master may act (it leads, or is about to).
    Defer,
    /// Drop it: this master does not lead (or stops now).
    Drop,
}

/// What a leader-only request gets from a master that may not act.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotLeading<'a> {
    /// Redirect to the leader (`307`).
    Redirect(&'a MasterInfo),
    /// Unavailable (`503`), with why.
    Unavailable(&'static str),
}

impl Leadership {
    /// Elected (or standalone, which leads without an election): a contender starts
    /// recovering the registry. Returns whether it did (an election reported while
    /// recovering, leading or lost changes nothing).
    pub fn elected(&mut self) -> bool {
        if *self == Leadership::Contending {
            *self = Leadership::Recovering;
            true
        } else {
            false
        }
    }

    /// The registry is recovered: lead.
    pub fn lead(&mut self) {
        *self = Leadership::Leading;
    }

    /// Leadership or the candidacy is gone. Returns whether this is news (it was not
    /// lost already).
    pub fn lose(&mut self) -> bool {
        if *self == Leadership::Lost {
            false
        } else {
            *self = Leadership::Lost;
            true
        }
    }

    /// Whether the master may act now, given its lease (a master without ZooKeeper
    /// passes [`LeaseState::Valid`]).
    pub fn may_act(self, lease: LeaseState) -> Acting {
        match (self, lease) {
            (Leadership::Leading, LeaseState::Valid) => Acting::Act,
            (Leadership::Leading, LeaseState::Suspended) => Acting::Wait,
            (Leadership::Leading, LeaseState::Expired) => Acting::GiveUp,
            _ => Acting::NotLeading,
        }
    }

    /// What a message for the leader gets, given the lease. A master recovering the
    /// registry, or leading with a suspended lease, keeps it for when it may act: a
    /// suspended lease is renewed (the master then acts on it, as the leader it still
    /// is) or lost (the master stops, and the message with it). Dropping it instead
    /// loses what senders never repeat: a scheduler's `DECLINE` or `ACCEPT` left its
    /// offer outstanding for good (seed 193 of the 3-master simulation with ZooKeeper
    /// faults on the followers: Chronos declined an offer while the leader's lease was
    /// suspended, and the master held the offer for ever).
    pub fn on_message(self, lease: LeaseState) -> MessageFate {
        match (self, self.may_act(lease)) {
            (_, Acting::Act) => MessageFate::Handle,
            (_, Acting::Wait) | (Leadership::Recovering, _) => MessageFate::Defer,
            _ => MessageFate::Drop,
        }
    }

    /// What a leader-only request gets from a master that may not act: a redirect to
    /// the leader it knows (`leader`, unless that is this master, `own`), else why it
    /// cannot answer.
    pub fn not_leading<'a>(
        self,
        leader: Option<&'a MasterInfo>,
        own: &MasterInfo,
    ) -> NotLeading<'a> {
        match (self, leader) {
            (Leadership::Contending, Some(l)) if l.id != own.id => NotLeading::Redirect(l),
            (Leadership::Lost, _) => {
                NotLeading::Unavailable("this master lost leadership and is stopping")
            }
            (Leadership::Recovering, _) | (Leadership::Contending, Some(_)) => {
                NotLeading::Unavailable("this master was elected and is recovering; retry shortly")
            }
            _ => NotLeading::Unavailable("no leading master is known; retry shortly"),
        }
    }
}

/// A cheap, thread-safe view of whether a master may act now ([`Leadership::may_act`]
/// with its lease), for observers outside the actor (the simulation's "at most one acting
/// leader" invariant). The master updates it at every leadership change; an observer
/// installed with [`ActingProbe::observe`] is told of each.
#[derive(Clone)]
pub struct ActingProbe {
    leadership: std::sync::Arc<std::sync::Mutex<Leadership>>,
    lease: Option<(detector::contender::Lease, std::time::Duration)>,
    /// Unset in production: then a change costs one atomic load more.
    observer: std::sync::Arc<std::sync::OnceLock<ActingObserver>>,
}

/// What [`ActingProbe::observe`] installs: called with whether the master may act, right
/// after each change that can start or stop its acting, on the task that made it.
pub type ActingObserver = std::sync::Arc<dyn Fn(Acting) + Send + Sync>;

impl std::fmt::Debug for ActingProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActingProbe")
            .field("leadership", &read(&self.leadership))
            .field("lease", &self.lease)
            .field("observed", &self.observer.get().is_some())
            .finish()
    }
}

fn read(l: &std::sync::Mutex<Leadership>) -> Leadership {
    *l.lock().unwrap_or_else(|p| p.into_inner())
}

impl ActingProbe {
    /// A probe for a master holding `lease` with grace `grace` (`None`: no ZooKeeper, the
    /// lease always holds).
    pub fn new(lease: Option<(detector::contender::Lease, std::time::Duration)>) -> ActingProbe {
        ActingProbe {
            leadership: Default::default(),
            lease,
            observer: Default::default(),
        }
    }

    /// Records where the master stands (and tells the observer, if any).
    pub fn set(&self, l: Leadership) {
        *self.leadership.lock().unwrap_or_else(|p| p.into_inner()) = l;
        if let Some(f) = self.observer.get() {
            f(self.acting());
        }
    }

    /// Whether the master may act now.
    pub fn acting(&self) -> Acting {
        let lease = match &self.lease {
            Some((lease, grace)) => lease.state(*grace),
            None => LeaseState::Valid,
        };
        read(&self.leadership).may_act(lease)
    }

    /// Installs `f`, told whether the master may act at once and after every change that
    /// can start it acting or stop it: each leadership change ([`ActingProbe::set`]) and
    /// each renewal or revocation of its lease. A lease also runs out by time alone, which
    /// nobody is told of: an observer reads [`ActingProbe::acting`] of the others when it
    /// needs to know whether they act. Acting can only *start* at a reported change, so an
    /// observer checking at each one that no other master acts catches every overlap, however
    /// short. One observer per probe (and per lease): returns whether `f` was installed.
    /// `f` must not hold this probe (that would be a cycle).
    pub fn observe(&self, f: ActingObserver) -> bool {
        if self.observer.set(f.clone()).is_err() {
            return false;
        }
        if let Some((lease, grace)) = &self.lease {
            let leadership = self.leadership.clone();
            let grace = *grace;
            let g = f.clone();
            lease.watch(Box::new(move |l: &detector::contender::Lease| {
                g(read(&leadership).may_act(l.state(grace)))
            }));
        }
        f(self.acting());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: &str) -> MasterInfo {
        MasterInfo::new(id, std::net::Ipv4Addr::LOCALHOST, 5050, "h", "1")
    }

    #[test]
    fn a_contender_is_elected_recovers_then_leads() {
        let mut l = Leadership::default();
        assert_eq!(l, Leadership::Contending);
        assert!(l.elected());
        assert_eq!(l, Leadership::Recovering);
        assert!(!l.elected(), "a second election changes nothing");
        l.lead();
        assert_eq!(l, Leadership::Leading);
        assert!(!l.elected());
        assert_eq!(l, Leadership::Leading);
    }

    #[test]
    fn leadership_is_lost_once() {
        let mut l = Leadership::Leading;
        assert!(l.lose());
        assert!(!l.lose());
        assert!(!l.elected(), "a lost master is never elected again");
        assert_eq!(l, Leadership::Lost);
    }

    #[test]
    fn only_a_leader_with_a_valid_lease_acts() {
        use LeaseState::*;
        assert_eq!(Leadership::Leading.may_act(Valid), Acting::Act);
        assert_eq!(Leadership::Leading.may_act(Suspended), Acting::Wait);
        assert_eq!(Leadership::Leading.may_act(Expired), Acting::GiveUp);
        for l in [
            Leadership::Contending,
            Leadership::Recovering,
            Leadership::Lost,
        ] {
            for s in [Valid, Suspended, Expired] {
                assert_eq!(l.may_act(s), Acting::NotLeading, "{l:?} {s:?}");
            }
        }
    }

    #[test]
    fn a_leader_keeps_messages_while_its_lease_is_suspended() {
        use LeaseState::*;
        assert_eq!(Leadership::Leading.on_message(Valid), MessageFate::Handle);
        // Seed 193 (--zk-followers): a DECLINE dropped here left its offer outstanding.
        assert_eq!(
            Leadership::Leading.on_message(Suspended),
            MessageFate::Defer
        );
        // Past the session timeout the master stops: nothing is kept.
        assert_eq!(Leadership::Leading.on_message(Expired), MessageFate::Drop);
        for s in [Valid, Suspended, Expired] {
            assert_eq!(Leadership::Recovering.on_message(s), MessageFate::Defer);
            assert_eq!(Leadership::Contending.on_message(s), MessageFate::Drop);
            assert_eq!(Leadership::Lost.on_message(s), MessageFate::Drop);
        }
    }

    #[test]
    fn a_contender_redirects_to_another_leader_only() {
        let own = info("me");
        let other = info("other");
        assert_eq!(
            Leadership::Contending.not_leading(Some(&other), &own),
            NotLeading::Redirect(&other)
        );
        assert!(matches!(
            Leadership::Contending.not_leading(Some(&own), &own),
            NotLeading::Unavailable(m) if m.contains("recovering")
        ));
        assert!(matches!(
            Leadership::Contending.not_leading(None, &own),
            NotLeading::Unavailable(m) if m.contains("no leading master")
        ));
        assert!(matches!(
            Leadership::Recovering.not_leading(Some(&other), &own),
            NotLeading::Unavailable(m) if m.contains("recovering")
        ));
        assert!(matches!(
            Leadership::Lost.not_leading(Some(&other), &own),
            NotLeading::Unavailable(m) if m.contains("lost leadership")
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn an_observer_is_told_of_leadership_changes_and_lease_renewals() {
        use detector::contender::Lease;
        use std::sync::{Arc, Mutex};
        use std::time::Duration;
        let lease = Lease::new();
        let t = Duration::from_secs(2);
        let probe = ActingProbe::new(Some((lease.clone(), t)));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        assert!(probe.observe(Arc::new(move |a| s.lock().unwrap().push(a))));
        assert!(!probe.observe(Arc::new(|_| {})), "one observer per probe");
        lease.renew(tokio::time::Instant::now() + t);
        probe.set(Leadership::Leading);
        tokio::time::advance(Duration::from_millis(2500)).await;
        // Suspended by time alone (not reported); a renewal makes it act again.
        lease.renew(tokio::time::Instant::now() + t);
        probe.set(Leadership::Lost);
        assert_eq!(
            *seen.lock().unwrap(),
            vec![
                Acting::NotLeading, // at installation
                Acting::NotLeading, // renewed while contending
                Acting::Act,
                Acting::Act,
                Acting::NotLeading,
            ]
        );
    }
}

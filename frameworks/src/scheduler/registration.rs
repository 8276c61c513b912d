//! The pure core of the driver: the (re-)registration protocol with the leading master,
//! as events in and [`RegEffect`]s out.
//!
//! Stale replies. A broken link does not say whether the master died or only the
//! connection did, and a reply the master sent before the break may still be on its way:
//! if the master crashed and came back on the same PID, that reply is from a dead
//! incarnation, and taking it as the answer would leave the new one never hearing from
//! the driver (no offers, no updates, for good). Nothing in a v0 reply answers a given
//! request, but every master start has a fresh `MasterInfo.id`. So after a break a reply
//! is taken at once (the scheduler may work with a master that is alive) but only
//! *provisionally* when it could be stale: when it comes from the incarnation that was
//! answering before the break, or when that incarnation or the reply's is unknown (an empty
//! id, as an old master may send). The retries go on until a reply confirms it: one that
//! comes after a request sent once the provisional reply was in, or one from another
//! incarnation than the one before the break (that one answered after the break). A
//! detector that names the leader's id (ZooKeeper) makes replies from any other id stale.
//! Mesos's driver does none of this; a real master answers the extra re-registration of a
//! connected framework like the first. What it cannot tell: a stale reply that arrives
//! after the confirming request went out (held up longer than one backoff) still confirms.

use super::*;

/// A subscription request to send to the master.
#[derive(Debug, Clone, PartialEq)]
pub enum RegistrationRequest {
    /// First subscription of a new framework.
    Register(RegisterFrameworkMessage),
    /// Subscription with an existing FrameworkID.
    Reregister(ReregisterFrameworkMessage),
}

/// What the shell should do after a [`Registration`] event.
#[derive(Debug, Clone, PartialEq)]
pub enum RegEffect {
    /// Link the master (to learn when it goes away).
    Link(Pid),
    /// Drop the link to a master that no longer leads.
    Unlink(Pid),
    /// Send the request to the master.
    Send(Pid, RegistrationRequest),
    /// Call [`Registration::retry_fired`] after this long.
    ArmRetry(Duration),
    /// Cancel the pending retry timer.
    CancelRetry,
    /// Tell the scheduler: registered.
    Registered(FrameworkId, MasterInfo),
    /// Tell the scheduler: re-registered.
    Reregistered(MasterInfo),
    /// Tell the scheduler: disconnected.
    Disconnected,
    /// Start an implicit reconciliation (after a (re-)registration, when configured).
    Reconcile,
    /// A reply was not (fully) taken as the answer, and why (for the log).
    Doubted(&'static str),
}

/// After the link to the master broke: whose replies may be stale (see the module doc).
#[derive(Debug, Clone, PartialEq)]
struct AfterBreak {
    /// The incarnation (`MasterInfo.id`) that was answering before the break, if known.
    before: Option<String>,
    /// A reply was taken provisionally since the break.
    provisional: bool,
    /// A request went out after that provisional reply: the next reply answers it.
    asked: bool,
}

/// The registration protocol of the scheduler driver, without I/O.
#[derive(Debug, Clone)]
pub struct Registration {
    framework: FrameworkInfo,
    master: Option<Pid>,
    /// The id of the leading master instance, when the detector knew its `MasterInfo`.
    leader_id: Option<String>,
    /// Only the exact leader PID counts as the master (it came from the detector's
    /// `MasterInfo`); a `--master=host:port` also accepts the same id and port at another
    /// IP, as a master listening on every interface advertises an address of its choice.
    strict: bool,
    connected: bool,
    reconcile: bool,
    /// Whether the next re-registration is a scheduler failover (a new driver with an id).
    failover: bool,
    backoff: Duration,
    initial: Duration,
    max: Duration,
    retry_armed: bool,
    rng: SplitMix64,
    /// The incarnation (`MasterInfo.id`) whose reply was last taken from the current master.
    answered_by: Option<String>,
    /// Set when the link to the master broke, until a reply is confirmed.
    after_break: Option<AfterBreak>,
}

/// A `MasterInfo.id` that can tell incarnations apart (an empty one cannot).
fn incarnation(info: &MasterInfo) -> Option<String> {
    (!info.id.is_empty()).then(|| info.id.clone())
}

impl Registration {
    /// A driver for `framework` (with `id` set if it is failing over) that will talk to
    /// `master`.
    pub fn new(
        framework: FrameworkInfo,
        master: Option<Pid>,
        config: &SchedulerConfig,
    ) -> Registration {
        Registration {
            failover: framework.id.is_some(),
            framework,
            master,
            leader_id: None,
            strict: false,
            connected: false,
            reconcile: config.reconcile_on_registration,
            backoff: config.registration_backoff,
            initial: config.registration_backoff,
            max: config
                .registration_backoff_max
                .max(config.registration_backoff),
            retry_armed: false,
            rng: SplitMix64::new(config.seed ^ 0x5eed_0fba_c0ff),
            answered_by: None,
            after_break: None,
        }
    }

    /// The framework id, once assigned.
    pub fn framework_id(&self) -> Option<&FrameworkId> {
        self.framework.id.as_ref()
    }

    /// The framework info (with its id once assigned).
    pub fn framework(&self) -> &FrameworkInfo {
        &self.framework
    }

    /// Whether the master has (re-)accepted the subscription and the link holds.
    pub fn connected(&self) -> bool {
        self.connected
    }

    /// Whether the current connection rests on a reply that may be stale (taken after a
    /// link break and not confirmed yet): the driver keeps re-registering meanwhile.
    pub fn provisional(&self) -> bool {
        self.after_break.as_ref().is_some_and(|b| b.provisional)
    }

    /// The master the driver talks to.
    pub fn master(&self) -> Option<&Pid> {
        self.master.as_ref()
    }

    /// Whether `from` is the current leading master. A leader known from its `MasterInfo`
    /// must match exactly; a bare `host:port` master also matches the same id and port at
    /// another IP (a master listening on every interface advertises an address of its own).
    pub fn is_master(&self, from: &Pid) -> bool {
        self.master.as_ref().is_some_and(|m| {
            m == from
                || (!self.strict && m.id() == from.id() && m.addr().port() == from.addr().port())
        })
    }

    fn request(&self) -> RegistrationRequest {
        match self.framework.id {
            Some(_) => RegistrationRequest::Reregister(ReregisterFrameworkMessage {
                framework: self.framework.clone(),
                failover: self.failover,
            }),
            None => RegistrationRequest::Register(RegisterFrameworkMessage {
                framework: self.framework.clone(),
            }),
        }
    }

    fn attempt(&mut self, out: &mut Vec<RegEffect>) {
        let Some(master) = self.master.clone() else {
            return;
        };
        if self.connected && !self.provisional() {
            return;
        }
        if let Some(b) = self.after_break.as_mut().filter(|b| b.provisional) {
            b.asked = true;
        }
        out.push(RegEffect::Link(master.clone()));
        out.push(RegEffect::Send(master, self.request()));
        // Mesos: wait a uniformly random fraction of the current backoff, then double it.
        let delay = self
            .backoff
            .mul_f64(self.rng.next_f64())
            .max(Duration::from_millis(1));
        self.backoff = (self.backoff * 2).min(self.max);
        self.retry_armed = true;
        out.push(RegEffect::ArmRetry(delay));
    }

    /// The driver starts: subscribe.
    pub fn start(&mut self) -> Vec<RegEffect> {
        let mut out = Vec::new();
        self.attempt(&mut out);
        out
    }

    /// The retry timer fired: subscribe again unless connected.
    pub fn retry_fired(&mut self) -> Vec<RegEffect> {
        self.retry_armed = false;
        let mut out = Vec::new();
        self.attempt(&mut out);
        out
    }

    fn cancel_retry(&mut self, out: &mut Vec<RegEffect>) {
        if self.retry_armed {
            self.retry_armed = false;
            out.push(RegEffect::CancelRetry);
        }
    }

    /// `FrameworkRegisteredMessage` arrived from `from`.
    pub fn registered(
        &mut self,
        from: &Pid,
        framework_id: FrameworkId,
        master_info: MasterInfo,
    ) -> Vec<RegEffect> {
        let mut out = Vec::new();
        if !self.is_master(from) || self.stale_for_leader(&master_info, &mut out) {
            return out;
        }
        if self.connected {
            // Only a provisional connection learns from a second reply, and only one for
            // the framework it has.
            if self.framework.id.as_ref() == Some(&framework_id) {
                self.confirm(&master_info, &mut out);
            }
            return out;
        }
        self.framework.id = Some(framework_id.clone());
        self.failover = false;
        self.take(&master_info, &mut out);
        out.push(RegEffect::Registered(framework_id, master_info));
        if self.reconcile {
            out.push(RegEffect::Reconcile);
        }
        out
    }

    /// `FrameworkReregisteredMessage` arrived from `from`.
    pub fn reregistered(
        &mut self,
        from: &Pid,
        framework_id: FrameworkId,
        master_info: MasterInfo,
    ) -> Vec<RegEffect> {
        let mut out = Vec::new();
        if !self.is_master(from)
            || self.framework.id.as_ref() != Some(&framework_id)
            || self.stale_for_leader(&master_info, &mut out)
        {
            return out;
        }
        if self.connected {
            self.confirm(&master_info, &mut out);
            return out;
        }
        self.failover = false;
        self.take(&master_info, &mut out);
        out.push(RegEffect::Reregistered(master_info));
        if self.reconcile {
            out.push(RegEffect::Reconcile);
        }
        out
    }

    /// Whether a reply is from another incarnation than the leader the detector named.
    fn stale_for_leader(&self, info: &MasterInfo, out: &mut Vec<RegEffect>) -> bool {
        let stale = matches!(
            (&self.leader_id, incarnation(info)),
            (Some(leader), Some(id)) if *leader != id
        );
        if stale {
            out.push(RegEffect::Doubted(
                "ignoring a registration reply from another master incarnation than the leader",
            ));
        }
        stale
    }

    /// Takes a reply as the answer while not connected: for good, or provisionally after a
    /// link break when it may be stale (the retry stays armed: see the module doc).
    fn take(&mut self, info: &MasterInfo, out: &mut Vec<RegEffect>) {
        self.connected = true;
        let id = incarnation(info);
        let fresh = match &self.after_break {
            None => true,
            Some(b) => matches!((&b.before, &id), (Some(before), Some(now)) if before != now),
        };
        self.answered_by = id;
        self.backoff = self.initial;
        if fresh {
            self.after_break = None;
            self.cancel_retry(out);
        } else if let Some(b) = self.after_break.as_mut() {
            b.provisional = true;
            b.asked = false;
            out.push(RegEffect::Doubted(
                "a registration reply after the link broke may be from a dead master \
                 incarnation: taken provisionally, re-registering to confirm",
            ));
            // The confirmation goes out after a fresh (short) backoff, never at once: a
            // stale reply's network duplicates arrive right behind it.
            if self.retry_armed {
                self.retry_armed = false;
                out.push(RegEffect::CancelRetry);
            }
            let delay = self
                .backoff
                .mul_f64(self.rng.next_f64())
                .max(Duration::from_millis(1));
            self.retry_armed = true;
            out.push(RegEffect::ArmRetry(delay));
        }
    }

    /// A reply while connected: confirms a provisional connection when it answers a
    /// request sent after the provisional reply, or comes from another incarnation than the
    /// one before the break; anything else is a duplicate. Once confirmed, the implicit
    /// reconciliation (when configured) goes out again: the one sent on the provisional
    /// reply reached a master that did not count the framework as connected yet (it
    /// ignores its calls until it re-registers), and the scheduler waits for its answer.
    fn confirm(&mut self, info: &MasterInfo, out: &mut Vec<RegEffect>) {
        let Some(b) = self.after_break.as_ref().filter(|b| b.provisional) else {
            return;
        };
        let id = incarnation(info);
        let other = matches!((&b.before, &id), (Some(before), Some(now)) if before != now);
        if !b.asked && !other {
            out.push(RegEffect::Doubted(
                "another registration reply from before the confirmation: still provisional",
            ));
            return;
        }
        self.after_break = None;
        self.answered_by = id;
        self.backoff = self.initial;
        self.cancel_retry(out);
        if self.reconcile {
            out.push(RegEffect::Reconcile);
        }
    }

    /// A linked process exited (or its connection broke).
    pub fn exited(&mut self, pid: &Pid) -> Vec<RegEffect> {
        let mut out = Vec::new();
        if self.master.as_ref() != Some(pid) {
            return out;
        }
        // Replies already on their way may be from before the break (see the module doc).
        self.after_break = Some(AfterBreak {
            before: self.answered_by.clone(),
            provisional: false,
            asked: false,
        });
        if self.connected {
            self.connected = false;
            self.backoff = self.initial;
            out.push(RegEffect::Disconnected);
        }
        if !self.retry_armed {
            self.attempt(&mut out);
        }
        out
    }

    /// A `FrameworkErrorMessage` from `from`. `Some` (what to do) when the leading master
    /// says it holds us as disconnected ([`proto::messages::FRAMEWORK_DISCONNECTED`]: its
    /// link to us broke though ours did not, and it refuses our calls): handled as if our
    /// link had broken, with a re-registration (Mesos's driver aborts; re-registering
    /// keeps the scheduler, which the master still knows, running). `None` for any other
    /// error, which the driver aborts on, or an error from another process.
    pub fn framework_error(&mut self, from: &Pid, message: &str) -> Option<Vec<RegEffect>> {
        if message != proto::messages::FRAMEWORK_DISCONNECTED || !self.is_master(from) {
            return None;
        }
        let master = self.master.clone()?;
        Some(self.exited(&master))
    }

    /// The detector reports the leading master (`None`: no master leads now), with its
    /// `MasterInfo` when known. A new leader (another PID, or another master instance at
    /// the same PID) disconnects the driver and starts a re-subscription with it, keeping
    /// the framework id (`failover` stays false unless this driver has not yet taken over
    /// its framework); no leader disconnects it and it waits. A repeat report changes
    /// nothing.
    pub fn master_detected(
        &mut self,
        master: Option<Pid>,
        info: Option<&MasterInfo>,
    ) -> Vec<RegEffect> {
        let mut out = Vec::new();
        let leader_id = info.map(|i| i.id.clone());
        let same_instance = match (&leader_id, &self.leader_id) {
            (Some(new), Some(old)) => new == old,
            _ => true,
        };
        if master == self.master && same_instance {
            if leader_id.is_some() {
                self.leader_id = leader_id;
                self.strict = true;
            }
            return out;
        }
        if self.connected {
            self.connected = false;
            out.push(RegEffect::Disconnected);
        }
        if let Some(old) = self.master.take() {
            if master.as_ref() != Some(&old) {
                out.push(RegEffect::Unlink(old));
            }
        }
        self.strict = leader_id.is_some();
        self.leader_id = leader_id;
        self.master = master;
        self.answered_by = None;
        self.after_break = None;
        self.backoff = self.initial;
        self.cancel_retry(&mut out);
        self.attempt(&mut out);
        out
    }

    /// The acknowledgement for `update`, if it needs one (it carries a uuid) and the
    /// framework has an id.
    pub fn ack_for(&self, update: &StatusUpdate) -> Option<StatusUpdateAcknowledgementMessage> {
        ack_message(
            self.framework.id.as_ref()?,
            &update.status,
            update.agent_id.as_ref(),
        )
    }
}

pub(super) fn ack_message(
    framework_id: &FrameworkId,
    status: &TaskStatus,
    agent_id: Option<&AgentId>,
) -> Option<StatusUpdateAcknowledgementMessage> {
    let uuid = status.uuid?;
    let agent_id = agent_id.or(status.agent_id.as_ref())?.clone();
    Some(StatusUpdateAcknowledgementMessage {
        agent_id,
        framework_id: framework_id.clone(),
        task_id: status.task_id.clone(),
        uuid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn master() -> Pid {
        "master@127.0.0.1:5050".parse().unwrap()
    }

    fn info() -> MasterInfo {
        MasterInfo::new("m1", Ipv4Addr::LOCALHOST, 5050, "localhost", "test")
    }

    fn info_of(id: &str) -> MasterInfo {
        let mut i = info();
        i.id = id.into();
        i
    }

    fn sends_reregister(e: &[RegEffect]) -> bool {
        e.iter()
            .any(|x| matches!(x, RegEffect::Send(_, RegistrationRequest::Reregister(_))))
    }

    fn reg(id: Option<&str>) -> Registration {
        let mut f = FrameworkInfo::new("fw", "u");
        f.id = id.map(FrameworkId::from);
        Registration::new(f, Some(master()), &SchedulerConfig::default())
    }

    fn retry_delay(effects: &[RegEffect]) -> Duration {
        effects
            .iter()
            .find_map(|e| match e {
                RegEffect::ArmRetry(d) => Some(*d),
                _ => None,
            })
            .expect("a retry is armed")
    }

    #[test]
    fn registers_then_retries_with_growing_capped_backoff() {
        let mut r = reg(None);
        let e = r.start();
        assert!(matches!(
            &e[1],
            RegEffect::Send(_, RegistrationRequest::Register(_))
        ));
        assert!(retry_delay(&e) <= Duration::from_secs(2));
        let mut caps = Vec::new();
        for _ in 0..10 {
            let e = r.retry_fired();
            caps.push(retry_delay(&e));
        }
        assert!(caps.iter().all(|d| *d <= Duration::from_secs(60)));
        assert!(caps[1] <= Duration::from_secs(8));
        // Registered: the retry is cancelled and the id kept.
        let e = r.registered(&master(), "F1".into(), info());
        assert_eq!(
            e,
            vec![
                RegEffect::CancelRetry,
                RegEffect::Registered("F1".into(), info())
            ]
        );
        assert!(r.connected());
        // A duplicate is ignored.
        assert!(r.registered(&master(), "F1".into(), info()).is_empty());
    }

    /// Master failover: while the old leader is gone the backoff grows, but a newly
    /// detected leader is tried at once and the next retry comes within the initial
    /// backoff (Mesos: 0-2 s), so a first attempt dropped by a still-recovering leader
    /// costs at most 2 s, never the grown backoff.
    #[test]
    fn a_new_leader_is_tried_at_once_with_the_backoff_reset() {
        let mut r = reg(None);
        r.start();
        r.registered(&master(), "F1".into(), info());
        r.exited(&master());
        for _ in 0..5 {
            r.retry_fired();
        }
        let new: Pid = "master@127.0.0.1:5051".parse().unwrap();
        let new_info = MasterInfo::new("m2", Ipv4Addr::LOCALHOST, 5051, "localhost", "test");
        let e = r.master_detected(Some(new.clone()), Some(&new_info));
        let sent = e.iter().position(
            |x| matches!(x, RegEffect::Send(to, RegistrationRequest::Reregister(_)) if *to == new),
        );
        assert!(sent.is_some(), "not tried at once: {e:?}");
        assert!(retry_delay(&e) <= DEFAULT_REGISTRATION_BACKOFF, "{e:?}");
        // The attempt was dropped (the leader was recovering): the next retry is still
        // bounded by twice the initial backoff, not by what grew during the outage.
        let e = r.retry_fired();
        assert!(retry_delay(&e) <= 2 * DEFAULT_REGISTRATION_BACKOFF, "{e:?}");
    }

    #[test]
    fn replies_from_strangers_are_ignored() {
        let mut r = reg(None);
        r.start();
        let stranger: Pid = "other@127.0.0.1:1".parse().unwrap();
        assert!(r.registered(&stranger, "F1".into(), info()).is_empty());
        assert!(!r.connected());
    }

    #[test]
    fn master_exit_disconnects_and_reregisters_with_the_id() {
        let mut r = reg(None);
        r.start();
        r.registered(&master(), "F1".into(), info());
        let e = r.exited(&master());
        assert_eq!(e[0], RegEffect::Disconnected);
        match &e[2] {
            RegEffect::Send(_, RegistrationRequest::Reregister(m)) => {
                assert_eq!(m.framework.id, Some("F1".into()));
                assert!(!m.failover);
            }
            other => panic!("{other:?}"),
        }
        // Another exit while retrying does not stack retries or repeat `disconnected`.
        assert!(r.exited(&master()).is_empty());
        // A new incarnation answers: taken for good.
        let e = r.reregistered(&master(), "F1".into(), info_of("m2"));
        assert_eq!(
            e,
            vec![
                RegEffect::CancelRetry,
                RegEffect::Reregistered(info_of("m2"))
            ]
        );
        // An unrelated pid's exit means nothing.
        assert!(r.exited(&"x@127.0.0.1:2".parse().unwrap()).is_empty());
    }

    /// A master that holds the framework as disconnected while the driver's link never
    /// broke answers its calls with "Framework disconnected" (sim seed 759): the driver
    /// re-registers, as after a link break. Any other error is left to abort the driver.
    #[test]
    fn framework_disconnected_error_makes_the_driver_reregister() {
        let mut r = reg(None);
        r.start();
        r.registered(&master(), "F1".into(), info());
        let stranger: Pid = "other@127.0.0.1:1".parse().unwrap();
        assert_eq!(
            r.framework_error(&stranger, proto::messages::FRAMEWORK_DISCONNECTED),
            None
        );
        assert_eq!(r.framework_error(&master(), "Framework failed over"), None);
        assert!(r.connected());
        let e = r
            .framework_error(&master(), proto::messages::FRAMEWORK_DISCONNECTED)
            .expect("handled");
        assert_eq!(e[0], RegEffect::Disconnected);
        assert!(sends_reregister(&e), "{e:?}");
        assert!(!r.connected());
        // The answers to the other calls it refused meanwhile do not stack retries.
        assert_eq!(
            r.framework_error(&master(), proto::messages::FRAMEWORK_DISCONNECTED),
            Some(Vec::new())
        );
    }

    #[test]
    fn a_driver_with_an_id_fails_over() {
        let mut r = reg(Some("F9"));
        match &r.start()[1] {
            RegEffect::Send(_, RegistrationRequest::Reregister(m)) => assert!(m.failover),
            other => panic!("{other:?}"),
        }
        // A reregistered for another framework is ignored.
        assert!(r.reregistered(&master(), "F1".into(), info()).is_empty());
    }

    #[test]
    fn new_master_moves_the_subscription() {
        let mut r = reg(None);
        r.start();
        r.registered(&master(), "F1".into(), info());
        let m2: Pid = "master@127.0.0.2:5050".parse().unwrap();
        let e = r.master_detected(Some(m2.clone()), None);
        assert_eq!(e[0], RegEffect::Disconnected);
        assert_eq!(e[1], RegEffect::Unlink(master()));
        assert!(e.contains(&RegEffect::Link(m2.clone())));
        match &e[3] {
            RegEffect::Send(to, RegistrationRequest::Reregister(m)) => {
                assert_eq!(to, &m2);
                assert_eq!(m.framework.id, Some("F1".into()));
                assert!(!m.failover, "only the master changed");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(r.master(), Some(&m2));
        assert!(r.master_detected(Some(m2.clone()), None).is_empty());
        // No leader: the pending retry is cancelled and nothing is sent.
        let e = r.master_detected(None, None);
        assert_eq!(e, vec![RegEffect::Unlink(m2), RegEffect::CancelRetry]);
        assert!(r.retry_fired().is_empty());
        assert!(!r.connected());
    }

    #[test]
    fn no_leader_while_connected_disconnects_and_waits() {
        let mut r = reg(None);
        r.start();
        r.registered(&master(), "F1".into(), info());
        let e = r.master_detected(None, None);
        assert_eq!(
            e,
            vec![RegEffect::Disconnected, RegEffect::Unlink(master())]
        );
        assert!(r.retry_fired().is_empty());
        assert!(r.exited(&master()).is_empty());
        // The same master comes back as leader: re-register with it.
        let e = r.master_detected(Some(master()), Some(&info()));
        assert!(matches!(
            &e[1],
            RegEffect::Send(_, RegistrationRequest::Reregister(m)) if !m.failover
        ));
    }

    #[test]
    fn a_leader_known_by_its_info_must_match_exactly() {
        let mut r = Registration::new(
            FrameworkInfo::new("fw", "u"),
            None,
            &SchedulerConfig::default(),
        );
        assert!(r.start().is_empty(), "no master yet: nothing to do");
        let a: Pid = "master@10.0.0.1:5050".parse().unwrap();
        let b: Pid = "master@10.0.0.2:5050".parse().unwrap();
        let mut info_b = info();
        info_b.id = "mb".into();
        r.master_detected(Some(b.clone()), Some(&info_b));
        assert!(r.is_master(&b));
        assert!(
            !r.is_master(&a),
            "same id and port at another IP is not the leader"
        );
        assert!(r.registered(&a, "F1".into(), info()).is_empty());
        // A bare host:port master accepts the advertised address of a wildcard listener.
        let r2 = reg(None);
        assert!(r2.is_master(&"master@10.9.9.9:5050".parse().unwrap()));
        // Another master instance at the same PID is a new leader.
        r.registered(&b, "F1".into(), info_b.clone());
        assert!(r.master_detected(Some(b.clone()), Some(&info_b)).is_empty());
        let mut info_b2 = info_b.clone();
        info_b2.id = "mb2".into();
        let e = r.master_detected(Some(b.clone()), Some(&info_b2));
        assert_eq!(e[0], RegEffect::Disconnected);
        assert!(!e.contains(&RegEffect::Unlink(b.clone())));
        assert!(e
            .iter()
            .any(|x| matches!(x, RegEffect::Send(to, _) if to == &b)));
    }

    #[test]
    fn reconciliation_follows_registration_when_configured() {
        let config = SchedulerConfig {
            reconcile_on_registration: true,
            ..Default::default()
        };
        let mut r = Registration::new(FrameworkInfo::new("fw", "u"), Some(master()), &config);
        r.start();
        let e = r.registered(&master(), "F1".into(), info());
        assert_eq!(e.last(), Some(&RegEffect::Reconcile));
        r.exited(&master());
        let e = r.reregistered(&master(), "F1".into(), info());
        assert_eq!(e.last(), Some(&RegEffect::Reconcile));
        // Off by default.
        let mut r = reg(None);
        r.start();
        let e = r.registered(&master(), "F1".into(), info());
        assert!(!e.contains(&RegEffect::Reconcile));
    }

    /// Seed 137 of the simulation (with Chronos, once wall clocks were per node): after a
    /// link break, a re-registration reply taken provisionally started the implicit
    /// reconciliation, which the master ignored (the framework was not connected in its
    /// eyes until the confirming re-registration); Chronos waited for its answer for good,
    /// launching nothing. The confirmation sends it again.
    #[test]
    fn a_confirmed_provisional_connection_reconciles_again() {
        let config = SchedulerConfig {
            reconcile_on_registration: true,
            ..Default::default()
        };
        let mut r = Registration::new(FrameworkInfo::new("fw", "u"), Some(master()), &config);
        r.start();
        r.registered(&master(), "F1".into(), info_of("m1"));
        r.exited(&master());
        let e = r.reregistered(&master(), "F1".into(), info_of("m1"));
        assert!(
            r.provisional() && e.contains(&RegEffect::Reconcile),
            "{e:?}"
        );
        let e = r.reregistered(&master(), "F1".into(), info_of("m1"));
        assert!(!e.contains(&RegEffect::Reconcile), "a duplicate: {e:?}");
        assert!(sends_reregister(&r.retry_fired()));
        let e = r.reregistered(&master(), "F1".into(), info_of("m1"));
        assert!(!r.provisional(), "{e:?}");
        assert_eq!(e.last(), Some(&RegEffect::Reconcile), "{e:?}");
    }

    /// Seeds 244 and 436 of the simulation: the master crashes and comes back on the same
    /// PID; a re-registration reply the dead incarnation sent arrives after the driver saw
    /// the link break. It is taken only provisionally: the driver keeps re-registering
    /// until the new incarnation (another id) answers.
    #[test]
    fn a_stale_reply_from_a_dead_incarnation_does_not_end_the_retries() {
        let mut r = reg(None);
        r.start();
        r.registered(&master(), "F1".into(), info_of("m1"));
        r.exited(&master());
        let e = r.reregistered(&master(), "F1".into(), info_of("m1"));
        assert!(e.contains(&RegEffect::Reregistered(info_of("m1"))), "{e:?}");
        assert!(r.connected() && r.provisional(), "{e:?}");
        assert!(retry_delay(&e) <= DEFAULT_REGISTRATION_BACKOFF, "{e:?}");
        // Its network duplicate changes nothing.
        let e = r.reregistered(&master(), "F1".into(), info_of("m1"));
        assert!(matches!(&e[..], [RegEffect::Doubted(_)]), "{e:?}");
        assert!(r.provisional());
        // The retry still fires: the new incarnation (dropping requests while it recovers)
        // is asked again and again until it answers.
        for _ in 0..3 {
            let e = r.retry_fired();
            assert!(sends_reregister(&e), "{e:?}");
        }
        let e = r.reregistered(&master(), "F1".into(), info_of("m2"));
        assert_eq!(e, vec![RegEffect::CancelRetry]);
        assert!(r.connected() && !r.provisional());
        assert!(r.retry_fired().is_empty());
    }

    /// Only the connection broke and the same incarnation lives on: one more round trip
    /// confirms it.
    #[test]
    fn after_a_network_break_the_same_live_incarnation_is_confirmed_by_one_more_round() {
        let mut r = reg(None);
        r.start();
        r.registered(&master(), "F1".into(), info_of("m1"));
        r.exited(&master());
        r.reregistered(&master(), "F1".into(), info_of("m1"));
        assert!(r.provisional());
        assert!(sends_reregister(&r.retry_fired()));
        let e = r.reregistered(&master(), "F1".into(), info_of("m1"));
        assert_eq!(e, vec![RegEffect::CancelRetry]);
        assert!(r.connected() && !r.provisional());
        // The link breaks again while provisional: disconnected, and back to retrying.
        r.exited(&master());
        r.reregistered(&master(), "F1".into(), info_of("m1"));
        let e = r.exited(&master());
        assert_eq!(e, vec![RegEffect::Disconnected], "the retry is still armed");
        assert!(!r.connected());
        assert!(sends_reregister(&r.retry_fired()));
    }

    /// A stale `FrameworkRegisteredMessage` (the dead incarnation assigned the id) is held
    /// provisionally too; the confirmation re-registers with that id.
    #[test]
    fn a_first_registration_reply_after_a_break_is_confirmed_with_its_id() {
        let mut r = reg(None);
        r.start();
        r.exited(&master());
        let e = r.registered(&master(), "F1".into(), info_of("m1"));
        assert!(
            r.provisional(),
            "nothing known of the incarnation before: {e:?}"
        );
        match r.retry_fired().get(1) {
            Some(RegEffect::Send(_, RegistrationRequest::Reregister(m))) => {
                assert_eq!(m.framework.id, Some("F1".into()));
            }
            other => panic!("{other:?}"),
        }
        // A registered reply for another framework does not confirm.
        assert!(r
            .registered(&master(), "F2".into(), info_of("m2"))
            .is_empty());
        assert_eq!(
            r.reregistered(&master(), "F1".into(), info_of("m2")),
            vec![RegEffect::CancelRetry]
        );
    }

    /// A master whose replies carry no id (an old or foreign master) still registers the
    /// driver; after a break, the confirmation round is what tells.
    #[test]
    fn replies_without_a_master_id_are_accepted() {
        let mut r = reg(None);
        r.start();
        let e = r.registered(&master(), "F1".into(), info_of(""));
        assert_eq!(
            e,
            vec![
                RegEffect::CancelRetry,
                RegEffect::Registered("F1".into(), info_of(""))
            ]
        );
        r.exited(&master());
        r.reregistered(&master(), "F1".into(), info_of(""));
        assert!(r.connected() && r.provisional());
        r.retry_fired();
        r.reregistered(&master(), "F1".into(), info_of(""));
        assert!(r.connected() && !r.provisional());
    }

    /// A detector that names the leader's id: a reply from another incarnation at the
    /// leader's PID is stale; one without an id is taken.
    #[test]
    fn a_reply_from_another_incarnation_than_the_detected_leader_is_ignored() {
        let mut r = Registration::new(
            FrameworkInfo::new("fw", "u"),
            None,
            &SchedulerConfig::default(),
        );
        r.master_detected(Some(master()), Some(&info_of("m2")));
        let e = r.registered(&master(), "F1".into(), info_of("m1"));
        assert!(matches!(&e[..], [RegEffect::Doubted(_)]), "{e:?}");
        assert!(!r.connected());
        let e = r.registered(&master(), "F1".into(), info_of(""));
        assert!(e.contains(&RegEffect::Registered("F1".into(), info_of(""))));
    }

    #[test]
    fn acks_need_a_uuid_and_an_agent() {
        let mut r = reg(None);
        r.start();
        r.registered(&master(), "F1".into(), info());
        let status = TaskStatus::new("t".into(), TaskState::Running);
        let mut u = StatusUpdate {
            framework_id: "F1".into(),
            executor_id: None,
            agent_id: Some("S1".into()),
            status,
            timestamp: 0.0,
            latest_state: None,
        };
        assert_eq!(r.ack_for(&u), None);
        u.status.uuid = Some(proto::StatusUuid::from_u128(5));
        let ack = r.ack_for(&u).unwrap();
        assert_eq!((ack.agent_id.as_str(), ack.task_id.as_str()), ("S1", "t"));
        assert_eq!(ack.uuid, proto::StatusUuid::from_u128(5));
        u.agent_id = None;
        assert_eq!(r.ack_for(&u), None);
    }
}

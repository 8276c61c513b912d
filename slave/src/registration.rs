//! The agent's registration state machine (pure): when to send `RegisterSlaveMessage` or
//! `ReregisterSlaveMessage`, the randomized exponential backoff between attempts, and the
//! master-ping supervision that declares the master lost.
//!
//! Backoff follows Mesos: the first attempt waits a random time in `[0, factor]`; after the
//! attempt with bound `b` (starting at `factor`) the next waits a random time in `[0, b]` and
//! the bound doubles, capped at one minute. Pings reset a timer of
//! `total_ping_timeout_seconds` (75 s by default); when it fires, or a ping says
//! `connected=false` while the agent thinks it is registered, the master is lost and the
//! agent re-registers.

use std::time::Duration;

use proto::AgentId;

use libproc::rng::SplitMix64;

/// Cap of the registration backoff (Mesos `REGISTER_RETRY_INTERVAL_MAX`).
pub const REGISTER_RETRY_INTERVAL_MAX: Duration = Duration::from_secs(60);

/// Default time without pings after which the master is considered lost (15 s × 5).
pub const DEFAULT_MASTER_PING_TIMEOUT: Duration = Duration::from_secs(75);

/// The master's `total_ping_timeout_seconds` as a duration, or `None` (keep the current
/// timeout) with a warning when it is not a positive number of seconds up to ten years:
/// a forged or corrupt value must not panic the agent nor disable its supervision.
pub fn ping_timeout_from_master(secs: f64) -> Option<Duration> {
    match libproc::duration::secs(secs) {
        Ok(d) if !d.is_zero() => Some(d),
        Ok(_) => {
            tracing::warn!(
                "the master sent a zero total_ping_timeout_seconds; keeping the current timeout"
            );
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "the master sent an invalid total_ping_timeout_seconds; keeping the current timeout");
            None
        }
    }
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq)]
pub enum RegEffect {
    /// Send `RegisterSlaveMessage` (the agent has no id yet).
    Register,
    /// Send `ReregisterSlaveMessage` with everything the agent runs.
    Reregister,
    /// Call [`Registration::retry`] with `generation` after `delay`.
    RetryAfter {
        /// How long to wait.
        delay: Duration,
        /// Timer generation (stale timers are ignored).
        generation: u64,
    },
    /// Call [`Registration::ping_timeout`] with `generation` after `delay`.
    PingTimeoutAfter {
        /// How long to wait.
        delay: Duration,
        /// Timer generation.
        generation: u64,
    },
    /// Answer the ping with `PongSlaveMessage`.
    Pong,
    /// (Re)registered: resume status updates.
    Connected {
        /// The agent's id.
        agent_id: AgentId,
        /// Whether this was a first registration (not a re-registration).
        first: bool,
    },
    /// The master is lost: pause status updates.
    Disconnected,
}

/// Where the agent stands with its master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegState {
    /// Not started yet.
    Idle,
    /// Trying to (re)register.
    Registering,
    /// Registered with the master.
    Registered,
}

/// The registration state machine.
#[derive(Debug, Clone)]
pub struct Registration {
    factor: Duration,
    ping_timeout: Duration,
    state: RegState,
    agent_id: Option<AgentId>,
    bound: Duration,
    retry_generation: u64,
    ping_generation: u64,
    rng: SplitMix64,
}

impl Registration {
    /// A machine with backoff `factor` (Mesos `--registration_backoff_factor`, 1 s) and a
    /// seeded jitter source.
    pub fn new(factor: Duration, seed: u64) -> Registration {
        Registration {
            factor,
            ping_timeout: DEFAULT_MASTER_PING_TIMEOUT,
            state: RegState::Idle,
            agent_id: None,
            bound: factor,
            retry_generation: 0,
            ping_generation: 0,
            rng: SplitMix64::new(seed),
        }
    }

    /// Current state.
    pub fn state(&self) -> RegState {
        self.state
    }

    /// The id the master assigned, once registered.
    pub fn agent_id(&self) -> Option<&AgentId> {
        self.agent_id.as_ref()
    }

    /// Whether the agent is registered.
    pub fn is_registered(&self) -> bool {
        self.state == RegState::Registered
    }

    /// The current ping timeout.
    pub fn master_ping_timeout(&self) -> Duration {
        self.ping_timeout
    }

    fn jitter(&mut self, bound: Duration) -> Duration {
        bound.mul_f64(self.rng.next_f64())
    }

    fn begin(&mut self) -> Vec<RegEffect> {
        self.state = RegState::Registering;
        self.bound = self.factor;
        self.retry_generation += 1;
        let delay = self.jitter(self.factor);
        vec![RegEffect::RetryAfter {
            delay,
            generation: self.retry_generation,
        }]
    }

    /// The master was detected: start registering.
    pub fn start(&mut self) -> Vec<RegEffect> {
        self.begin()
    }

    /// The agent recovered its id from its checkpoint: attempts will re-register.
    pub fn recovered(&mut self, agent_id: AgentId) {
        self.agent_id = Some(agent_id);
    }

    /// The detector reported a leading master (`true`) or that none leads (`false`).
    /// With a master, (re-)registration starts afresh with backoff; without one, the agent
    /// waits (no retries) until a master is detected.
    pub fn detected(&mut self, master: bool) -> Vec<RegEffect> {
        let mut out = vec![];
        if self.state == RegState::Registered {
            self.ping_generation += 1;
            out.push(RegEffect::Disconnected);
        }
        if master {
            out.extend(self.begin());
        } else {
            self.state = RegState::Idle;
            self.retry_generation += 1;
        }
        out
    }

    /// A retry timer fired: send an attempt and arm the next one.
    pub fn retry(&mut self, generation: u64) -> Vec<RegEffect> {
        if generation != self.retry_generation || self.state != RegState::Registering {
            return vec![];
        }
        let attempt = if self.agent_id.is_some() {
            RegEffect::Reregister
        } else {
            RegEffect::Register
        };
        let bound = self.bound;
        let delay = self.jitter(bound);
        self.bound = (bound * 2).min(REGISTER_RETRY_INTERVAL_MAX);
        vec![
            attempt,
            RegEffect::RetryAfter {
                delay,
                generation: self.retry_generation,
            },
        ]
    }

    fn connected(&mut self, agent_id: AgentId, first: bool) -> Vec<RegEffect> {
        self.state = RegState::Registered;
        self.agent_id = Some(agent_id.clone());
        self.retry_generation += 1;
        self.ping_generation += 1;
        vec![
            RegEffect::PingTimeoutAfter {
                delay: self.ping_timeout,
                generation: self.ping_generation,
            },
            RegEffect::Connected { agent_id, first },
        ]
    }

    /// `SlaveRegisteredMessage` arrived (with the master's ping timeout, if it sent one).
    pub fn registered(
        &mut self,
        agent_id: AgentId,
        ping_timeout: Option<Duration>,
    ) -> Vec<RegEffect> {
        if let Some(t) = ping_timeout {
            self.ping_timeout = t;
        }
        match (&self.state, &self.agent_id) {
            (RegState::Registered, _) => vec![],
            (RegState::Registering, Some(old)) if *old != agent_id => {
                tracing::warn!(%old, new = %agent_id, "master registered us under another id; ignoring");
                vec![]
            }
            (RegState::Registering, _) => self.connected(agent_id, true),
            (RegState::Idle, _) => vec![],
        }
    }

    /// `SlaveReregisteredMessage` arrived.
    pub fn reregistered(
        &mut self,
        agent_id: AgentId,
        ping_timeout: Option<Duration>,
    ) -> Vec<RegEffect> {
        if let Some(t) = ping_timeout {
            self.ping_timeout = t;
        }
        match (&self.state, &self.agent_id) {
            (RegState::Registering, Some(id)) if *id == agent_id => self.connected(agent_id, false),
            (RegState::Registered, _) => vec![],
            _ => {
                tracing::warn!(%agent_id, "unexpected re-registration ack; ignoring");
                vec![]
            }
        }
    }

    /// The master is gone (link exited, ping timeout, or it says we are not connected).
    pub fn master_lost(&mut self) -> Vec<RegEffect> {
        match self.state {
            RegState::Registered => {
                self.ping_generation += 1;
                let mut out = vec![RegEffect::Disconnected];
                out.extend(self.begin());
                out
            }
            // Already retrying: the retry timer carries on.
            RegState::Registering | RegState::Idle => vec![],
        }
    }

    /// `PingSlaveMessage{connected}` arrived.
    pub fn ping(&mut self, connected: bool) -> Vec<RegEffect> {
        let mut out = vec![RegEffect::Pong];
        if self.state == RegState::Registered {
            if connected {
                self.ping_generation += 1;
                out.push(RegEffect::PingTimeoutAfter {
                    delay: self.ping_timeout,
                    generation: self.ping_generation,
                });
            } else {
                out.extend(self.master_lost());
            }
        }
        out
    }

    /// A ping timer fired.
    pub fn ping_timeout(&mut self, generation: u64) -> Vec<RegEffect> {
        if generation != self.ping_generation || self.state != RegState::Registered {
            return vec![];
        }
        tracing::warn!(timeout = ?self.ping_timeout, "no ping from the master; re-registering");
        self.master_lost()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry_of(effects: &[RegEffect]) -> (Duration, u64) {
        effects
            .iter()
            .find_map(|e| match e {
                RegEffect::RetryAfter { delay, generation } => Some((*delay, *generation)),
                _ => None,
            })
            .expect("a retry timer")
    }

    proptest::proptest! {
        /// Any f64 from the wire (NaN, infinities, negatives, 1e300) leaves a bounded,
        /// positive ping timeout, and registering with it never panics.
        #[test]
        fn any_ping_timeout_from_the_wire_is_bounded(secs in proptest::num::f64::ANY) {
            let mut r = Registration::new(Duration::from_secs(1), 1);
            r.start();
            let out = r.registered(AgentId::new("S1"), ping_timeout_from_master(secs));
            let delay = out.iter().find_map(|e| match e {
                RegEffect::PingTimeoutAfter { delay, .. } => Some(*delay),
                _ => None,
            });
            let delay = delay.expect("ping supervision armed");
            proptest::prop_assert!(!delay.is_zero());
            proptest::prop_assert!(delay.as_secs_f64() <= libproc::duration::MAX_UNTRUSTED_SECS);
            proptest::prop_assert!(std::time::Instant::now().checked_add(delay * 2).is_some());
        }
    }

    #[test]
    fn invalid_ping_timeouts_keep_the_current_one() {
        for bad in [f64::NAN, f64::INFINITY, -1.0, 1e300, 0.0] {
            assert_eq!(ping_timeout_from_master(bad), None, "{bad}");
        }
        assert_eq!(
            ping_timeout_from_master(30.0),
            Some(Duration::from_secs(30))
        );
    }

    #[test]
    fn backoff_doubles_up_to_a_minute_and_is_jittered_below_the_bound() {
        let factor = Duration::from_secs(1);
        let mut r = Registration::new(factor, 42);
        let (first, mut g) = retry_of(&r.start());
        assert!(first <= factor);
        let mut bound = factor;
        let mut delays = vec![];
        for _ in 0..12 {
            let out = r.retry(g);
            assert_eq!(out[0], RegEffect::Register);
            let (d, g2) = retry_of(&out);
            assert!(d <= bound, "{d:?} > {bound:?}");
            delays.push(d);
            bound = (bound * 2).min(REGISTER_RETRY_INTERVAL_MAX);
            g = g2;
        }
        assert_eq!(r.bound, REGISTER_RETRY_INTERVAL_MAX);
        // Jitter actually varies.
        assert!(delays.windows(2).any(|w| w[0] != w[1]));
        // Same seed, same schedule.
        let mut r2 = Registration::new(factor, 42);
        assert_eq!(retry_of(&r2.start()).0, first);
    }

    #[test]
    fn registered_stops_retries_and_arms_ping_supervision() {
        let mut r = Registration::new(Duration::from_secs(1), 1);
        let (_, g) = retry_of(&r.start());
        let out = r.registered(AgentId::new("S1"), Some(Duration::from_secs(30)));
        assert!(out.contains(&RegEffect::Connected {
            agent_id: AgentId::new("S1"),
            first: true
        }));
        assert!(r.retry(g).is_empty(), "stale retry timers do nothing");
        assert!(
            r.registered(AgentId::new("S1"), None).is_empty(),
            "duplicates ignored"
        );
        let ping_gen = match out[0] {
            RegEffect::PingTimeoutAfter { delay, generation } => {
                assert_eq!(delay, Duration::from_secs(30));
                generation
            }
            ref e => panic!("{e:?}"),
        };
        // A ping re-arms; the old timer is stale.
        let out = r.ping(true);
        assert_eq!(out[0], RegEffect::Pong);
        assert!(r.ping_timeout(ping_gen).is_empty());
    }

    #[test]
    fn master_loss_leads_to_reregistration_with_the_same_id() {
        let mut r = Registration::new(Duration::from_secs(1), 3);
        r.start();
        r.registered(AgentId::new("S1"), None);
        let out = r.master_lost();
        assert_eq!(out[0], RegEffect::Disconnected);
        let (_, g) = retry_of(&out);
        assert_eq!(r.retry(g)[0], RegEffect::Reregister);
        assert!(r.reregistered(AgentId::new("other"), None).is_empty());
        let out = r.reregistered(AgentId::new("S1"), None);
        assert!(out.contains(&RegEffect::Connected {
            agent_id: AgentId::new("S1"),
            first: false
        }));
    }

    #[test]
    fn ping_with_connected_false_forces_reregistration() {
        let mut r = Registration::new(Duration::from_secs(1), 3);
        r.start();
        r.registered(AgentId::new("S1"), None);
        let out = r.ping(false);
        assert_eq!(out[0], RegEffect::Pong);
        assert_eq!(out[1], RegEffect::Disconnected);
        assert_eq!(r.state(), RegState::Registering);
        // While registering, pings are answered but change nothing.
        assert_eq!(r.ping(false), vec![RegEffect::Pong]);
    }

    #[test]
    fn detection_drives_registration_and_recovered_ids_reregister() {
        let mut r = Registration::new(Duration::from_secs(1), 5);
        r.recovered(AgentId::new("S7"));
        let (_, g) = retry_of(&r.detected(true));
        assert_eq!(r.retry(g)[0], RegEffect::Reregister);
        r.reregistered(AgentId::new("S7"), None);
        assert!(r.is_registered());
        // No leader: disconnected, and no more attempts.
        let out = r.detected(false);
        assert_eq!(out, vec![RegEffect::Disconnected]);
        assert_eq!(r.state(), RegState::Idle);
        assert!(r.retry(g + 1).is_empty() && r.retry(g + 2).is_empty());
        // A new leader: register again, with fresh backoff.
        let (_, g) = retry_of(&r.detected(true));
        assert_eq!(r.retry(g)[0], RegEffect::Reregister);
    }

    #[test]
    fn ping_timeout_declares_the_master_lost() {
        let mut r = Registration::new(Duration::from_secs(1), 3);
        r.start();
        let out = r.registered(AgentId::new("S1"), None);
        let g = match out[0] {
            RegEffect::PingTimeoutAfter { delay, generation } => {
                assert_eq!(delay, DEFAULT_MASTER_PING_TIMEOUT);
                generation
            }
            ref e => panic!("{e:?}"),
        };
        assert_eq!(r.ping_timeout(g)[0], RegEffect::Disconnected);
    }
}

//! The client side's gate in front of registration: a framework driver or an agent with a
//! credential holds its (re-)registration until it has authenticated with that master
//! ([`crate::authentication`]'s challenge-response), then sends it. One home for what both
//! clients do, sans IO: the caller sends the messages the gate returns and supplies the time.
//!
//! An authentication covers one registration attempt: a retry authenticates again, so that
//! a master that restarted at the same address (and forgot the PID) still admits it.

use std::time::{Duration, Instant};

use libproc::Pid;

use crate::authentication::{
    AuthenticateMessage, Authenticatee, AuthenticationCompletedMessage,
    AuthenticationFailedMessage, AuthenticationStepMessage, Credential,
};

/// An authentication with no answer for this long is started again at the next attempt.
pub const AUTHENTICATION_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a client stands in authenticating with its master; `R` is the held registration.
#[derive(Debug)]
pub struct AuthenticationGate<R> {
    /// The master just authenticated with (taken by the attempt it covers).
    done: Option<Pid>,
    /// The authentication under way, and since when.
    running: Option<(Authenticatee, Instant)>,
    /// The registration to send once authenticated.
    waiting: Option<R>,
}

impl<R> Default for AuthenticationGate<R> {
    fn default() -> Self {
        AuthenticationGate {
            done: None,
            running: None,
            waiting: None,
        }
    }
}

impl<R> AuthenticationGate<R> {
    /// Whether a registration with `master` may go now: an authentication with it just
    /// completed (and is used up by this attempt).
    pub fn admits(&mut self, master: &Pid) -> bool {
        self.done.take().as_ref() == Some(master)
    }

    /// Holds `registration` until authenticated with `master`. Returns the message that
    /// starts an authentication (send it to `master`), or `None` while one with `master`
    /// is already under way and not timed out.
    pub fn hold(
        &mut self,
        registration: R,
        credential: &Credential,
        me: &Pid,
        master: &Pid,
        now: Instant,
    ) -> Option<AuthenticateMessage> {
        self.waiting = Some(registration);
        if let Some((a, since)) = &self.running {
            if a.master() == master
                && now.saturating_duration_since(*since) < AUTHENTICATION_TIMEOUT
            {
                return None;
            }
        }
        let (a, hello) = Authenticatee::start(credential.clone(), me.clone(), master.clone());
        self.running = Some((a, now));
        Some(hello)
    }

    /// The master's challenge: the answer to send back, if `from` is the master being
    /// authenticated with.
    pub fn step(
        &mut self,
        from: &Pid,
        msg: AuthenticationStepMessage,
    ) -> Option<AuthenticationStepMessage> {
        self.running_with(from).map(|a| a.challenge(msg))
    }

    /// The master said "authenticated". `None` if `from` is not the master being
    /// authenticated with; `Some(Ok(held))` with the registration to send now;
    /// `Some(Err(why))` if the master could not prove it knows the secret (the gate resets).
    pub fn completed(
        &mut self,
        from: &Pid,
        msg: &AuthenticationCompletedMessage,
    ) -> Option<Result<Option<R>, String>> {
        let checked = self.running_with(from)?.completed(msg);
        if let Err(why) = checked {
            self.reset();
            return Some(Err(why));
        }
        self.running = None;
        self.done = Some(from.clone());
        Some(Ok(self.waiting.take()))
    }

    /// The master refused: its reason, if `from` is the master being authenticated with
    /// (the gate resets; the next attempt starts again).
    pub fn failed(&mut self, from: &Pid, msg: AuthenticationFailedMessage) -> Option<String> {
        self.running_with(from)?;
        self.reset();
        Some(msg.reason)
    }

    /// Forgets everything (the master is lost, or the client gives up).
    pub fn reset(&mut self) {
        *self = AuthenticationGate::default();
    }

    fn running_with(&mut self, from: &Pid) -> Option<&mut Authenticatee> {
        match &mut self.running {
            Some((a, _)) if a.master() == from => Some(a),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authentication::Authenticator;

    fn pid(s: &str) -> Pid {
        s.parse().expect("pid")
    }

    fn credential(secret: &str) -> Credential {
        Credential {
            principal: "ops".into(),
            secret: secret.into(),
        }
    }

    #[test]
    fn the_held_registration_goes_once_authenticated_and_covers_one_attempt() {
        let (me, master) = (pid("scheduler-1@127.0.0.1:1"), pid("master@127.0.0.1:2"));
        let mut auth = Authenticator::new(vec![credential("s3cret")]);
        let mut gate = AuthenticationGate::default();
        let t0 = Instant::now();
        assert!(!gate.admits(&master));
        let hello = gate
            .hold(1, &credential("s3cret"), &me, &master, t0)
            .expect("starts");
        // A retry while the authentication is under way starts none, but replaces the held one.
        assert!(gate
            .hold(2, &credential("s3cret"), &me, &master, t0)
            .is_none());
        let challenge = auth.start(&me, hello);
        assert!(
            gate.step(&pid("master@127.0.0.1:9"), challenge.clone())
                .is_none(),
            "another master"
        );
        let proof = gate.step(&master, challenge).expect("answers its master");
        let (_, done) = auth.step(&master, &me, proof).expect("right secret");
        assert_eq!(gate.completed(&master, &done), Some(Ok(Some(2))));
        assert!(gate.admits(&master), "the attempt it covers goes");
        assert!(
            !gate.admits(&master),
            "a second attempt authenticates again"
        );
    }

    #[test]
    fn a_refusal_resets_and_a_timed_out_authentication_starts_again() {
        let (me, master) = (pid("slave(1)@127.0.0.1:1"), pid("master@127.0.0.1:2"));
        let mut auth = Authenticator::new(vec![credential("s3cret")]);
        let mut gate = AuthenticationGate::default();
        let t0 = Instant::now();
        let hello = gate
            .hold("register", &credential("guessed"), &me, &master, t0)
            .expect("starts");
        let proof = gate.step(&master, auth.start(&me, hello)).expect("answers");
        let failed = auth.step(&master, &me, proof).expect_err("wrong secret");
        assert!(gate.failed(&master, failed.clone()).is_some());
        assert!(
            gate.failed(&master, failed).is_none(),
            "reset: nothing under way"
        );
        assert!(!gate.admits(&master));
        let later = t0 + AUTHENTICATION_TIMEOUT;
        assert!(gate
            .hold("register", &credential("guessed"), &me, &master, t0)
            .is_some());
        assert!(
            gate.hold("register", &credential("guessed"), &me, &master, later)
                .is_some(),
            "timed out: again"
        );
    }
}

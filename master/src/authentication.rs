//! Who may register: the master's side of authentication (`--authenticate_frameworks`,
//! `--authenticate_agents`, `--credentials`) and the admission rules built on it, pure.
//!
//! A scheduler or an agent authenticates its PID with the challenge-response of
//! [`proto::authentication`] before registering. Then:
//! * with `--authenticate_frameworks`, a framework (re-)registration from a PID that did
//!   not authenticate is refused (the scheduler gets a `FrameworkErrorMessage`); with
//!   `--authenticate_agents`, an agent's is dropped (the agent logs and retries, as Mesos);
//! * a framework that authenticated registers under that principal: a different
//!   `FrameworkInfo.principal` is refused, an unset one is filled in;
//! * the Mesos failover rule: with authentication on, a framework can only be
//!   re-registered (taken over with its FrameworkID) by the principal it registered as.
//!
//! A PID that authenticated is bound to the connection it authenticated over
//! ([`crate::bound_pids`]): its principal holds only there, and is forgotten when that
//! connection closes.
//!
//! Refusals and failed authentications are counted (see [`COUNTERS`]).

use libproc::connection::ConnectionId;
use libproc::Pid;

use crate::bound_pids::{BoundPids, Refusal};
use proto::authentication::{
    AuthenticateMessage, AuthenticationCompletedMessage, AuthenticationFailedMessage,
    AuthenticationStepMessage, Authenticator, Credential,
};
use proto::FrameworkInfo;

/// Counters of this module, declared at zero on start-up.
pub const COUNTERS: &[&str] = &[
    "master/authentication_successes",
    "master/authentication_failures",
    "master/registrations_refused_authentication",
    "master/messages_refused_connection",
];

/// The master's authentication state and admission rules.
pub struct Admission {
    auth: Authenticator,
    bound: BoundPids,
    frameworks: bool,
    agents: bool,
}

impl Admission {
    /// From the flags.
    pub fn new(credentials: Vec<Credential>, frameworks: bool, agents: bool) -> Admission {
        Admission {
            auth: Authenticator::new(credentials),
            bound: BoundPids::default(),
            frameworks,
            agents,
        }
    }

    /// `from` starts authenticating.
    pub fn authenticate(
        &mut self,
        from: &Pid,
        m: AuthenticateMessage,
    ) -> AuthenticationStepMessage {
        tracing::info!(%from, principal = %m.principal, "authenticating");
        self.auth.start(from, m)
    }

    /// `from` answered the challenge over `connection`. On success `from` is bound to
    /// that connection, and the answer says whether the connection is newly bound (the
    /// caller tells [`connection_closed`](Admission::connection_closed) when it closes).
    pub fn step(
        &mut self,
        master: &Pid,
        from: &Pid,
        connection: Option<ConnectionId>,
        m: AuthenticationStepMessage,
    ) -> Result<(AuthenticationCompletedMessage, bool), AuthenticationFailedMessage> {
        match self.auth.step(master, from, m) {
            Ok((principal, done)) => {
                tracing::info!(%from, %principal, "authenticated");
                let new = self.bound.bind(from, connection);
                Ok((done, new))
            }
            Err(f) => {
                tracing::warn!(%from, reason = %f.reason, "authentication failed");
                Err(f)
            }
        }
    }

    /// Whether a message claiming `from` over `connection` may be handled (see
    /// [`crate::bound_pids`]); `authenticating` for the authentication messages.
    pub fn admit_sender(
        &self,
        from: &Pid,
        connection: Option<ConnectionId>,
        authenticating: bool,
    ) -> Result<(), Refusal> {
        self.bound.check(from, connection, authenticating)
    }

    /// `connection` closed: the PIDs that authenticated over it are forgotten (they
    /// authenticate again to register or speak again). Returns them.
    pub fn connection_closed(&mut self, connection: ConnectionId) -> Vec<Pid> {
        let gone = self.bound.closed(connection);
        for pid in &gone {
            self.auth.forget(pid);
        }
        gone
    }

    /// The principal `pid` authenticated as.
    pub fn principal(&self, pid: &Pid) -> Option<&str> {
        self.auth.principal(pid)
    }

    /// Whether an agent registering from `from` is admitted (else why not).
    pub fn admit_agent(&self, from: &Pid) -> Result<(), String> {
        if self.agents && self.principal(from).is_none() {
            return Err(format!(
                "refusing registration of agent at {from}: it is not authenticated (--authenticate_agents)"
            ));
        }
        Ok(())
    }

    /// Whether a framework (re-)registering from `from` with `info` is admitted; on
    /// success `info.principal` is the authenticated principal, if any. `registered` is
    /// the principal the framework with `info.id` registered as, when the master knows
    /// that framework.
    pub fn admit_framework(
        &self,
        from: &Pid,
        info: &mut FrameworkInfo,
        registered: Option<Option<&str>>,
    ) -> Result<(), String> {
        let authenticated = self.principal(from);
        if self.frameworks && authenticated.is_none() {
            return Err(format!(
                "Framework at {from} is not authenticated (the master requires --authenticate_frameworks)"
            ));
        }
        if let Some(a) = authenticated {
            match &info.principal {
                Some(p) if p != a => {
                    return Err(format!(
                        "Framework principal '{p}' does not match authenticated principal '{a}'"
                    ))
                }
                Some(_) => {}
                None => info.principal = Some(a.to_string()),
            }
        }
        if self.frameworks || authenticated.is_some() {
            if let (Some(before), Some(id)) = (registered, &info.id) {
                if before != info.principal.as_deref() {
                    return Err(format!(
                        "Framework {id} was registered by principal '{}'; principal '{}' may not fail it over",
                        before.unwrap_or(""),
                        info.principal.as_deref().unwrap_or("")
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::authentication::Authenticatee;

    fn pid(s: &str) -> Pid {
        s.parse().unwrap()
    }

    fn cred(p: &str) -> Credential {
        Credential {
            principal: p.into(),
            secret: format!("{p}-secret"),
        }
    }

    fn login(a: &mut Admission, master: &Pid, who: &Pid, c: Credential) {
        let (mut client, hello) = Authenticatee::start(c, who.clone(), master.clone());
        let ch = a.authenticate(who, hello);
        let proof = client.challenge(ch);
        a.step(master, who, None, proof).unwrap();
    }

    fn info(principal: Option<&str>, id: Option<&str>) -> FrameworkInfo {
        let mut i = FrameworkInfo::new("fw", "root");
        i.principal = principal.map(String::from);
        i.id = id.map(proto::FrameworkId::new);
        i
    }

    #[test]
    fn an_authentication_holds_until_its_connection_closes() {
        let m = pid("master@127.0.0.1:5050");
        let s = pid("scheduler@127.0.0.1:1");
        let c = ConnectionId::made_up(7);
        let mut a = Admission::new(vec![cred("ops")], true, false);
        let (mut client, hello) = Authenticatee::start(cred("ops"), s.clone(), m.clone());
        assert_eq!(a.admit_sender(&s, Some(c), true), Ok(()));
        let ch = a.authenticate(&s, hello);
        let (_, new) = a.step(&m, &s, Some(c), client.challenge(ch)).unwrap();
        assert!(new);
        assert!(a.admit_framework(&s, &mut info(None, None), None).is_ok());
        // Claimed over another connection: refused.
        assert_eq!(
            a.admit_sender(&s, Some(ConnectionId::made_up(8)), false),
            Err(Refusal::BoundElsewhere)
        );
        // Its connection closes: forgotten, so it may not register until it
        // authenticates again.
        assert_eq!(a.connection_closed(c), vec![s.clone()]);
        assert_eq!(a.principal(&s), None);
        assert!(a
            .admit_framework(&s, &mut info(None, None), None)
            .unwrap_err()
            .contains("not authenticated"));
    }

    #[test]
    fn required_authentication_refuses_the_unauthenticated() {
        let a = Admission::new(vec![cred("ops")], true, true);
        let s = pid("scheduler@127.0.0.1:1");
        assert!(a.admit_agent(&s).is_err());
        assert!(a
            .admit_framework(&s, &mut info(Some("ops"), None), None)
            .unwrap_err()
            .contains("not authenticated"));
        // Not required: open as before.
        let open = Admission::new(vec![], false, false);
        assert!(open.admit_agent(&s).is_ok());
        assert!(open
            .admit_framework(&s, &mut info(None, None), None)
            .is_ok());
    }

    #[test]
    fn the_principal_is_the_authenticated_one() {
        let m = pid("master@127.0.0.1:5050");
        let s = pid("scheduler@127.0.0.1:1");
        let mut a = Admission::new(vec![cred("ops"), cred("dev")], true, false);
        login(&mut a, &m, &s, cred("ops"));
        let mut unset = info(None, None);
        assert!(a.admit_framework(&s, &mut unset, None).is_ok());
        assert_eq!(unset.principal.as_deref(), Some("ops"));
        assert!(a
            .admit_framework(&s, &mut info(Some("dev"), None), None)
            .unwrap_err()
            .contains("does not match"));
    }

    #[test]
    fn only_its_own_principal_fails_a_framework_over() {
        let m = pid("master@127.0.0.1:5050");
        let thief = pid("scheduler@127.0.0.1:2");
        let mut a = Admission::new(vec![cred("ops"), cred("dev")], true, false);
        login(&mut a, &m, &thief, cred("dev"));
        let mut takeover = info(Some("dev"), Some("fw-1"));
        assert!(a
            .admit_framework(&thief, &mut takeover, Some(Some("ops")))
            .unwrap_err()
            .contains("may not fail it over"));
        let owner = pid("scheduler@127.0.0.1:3");
        login(&mut a, &m, &owner, cred("ops"));
        assert!(a
            .admit_framework(
                &owner,
                &mut info(Some("ops"), Some("fw-1")),
                Some(Some("ops"))
            )
            .is_ok());
    }
}

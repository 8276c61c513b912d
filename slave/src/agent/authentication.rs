//! The agent's side of authentication with the master (`--credential`): before a
//! (re-)registration the agent authenticates its PID with the challenge-response of
//! [`proto::authentication`]; the registration waits until the master said
//! "authenticated". A refusal is logged and the registration's retry timer starts a new
//! attempt (the agent keeps trying, so that an operator can fix the credentials file on
//! the master without restarting agents).

use std::time::Duration;

use libproc::{Ctx, Handlers, Pid};
use proto::authentication::{
    Authenticatee, AuthenticationCompletedMessage, AuthenticationFailedMessage,
    AuthenticationStepMessage,
};

use super::AgentProcess;
use crate::registration::RegEffect;

/// An authentication with no answer for this long is started again at the next
/// registration retry.
const AUTHENTICATION_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the agent stands in authenticating with its master.
#[derive(Default)]
pub(super) struct AgentAuth {
    /// The master this agent just authenticated with (taken by the attempt it covers).
    done: Option<Pid>,
    /// An authentication under way, and since when.
    running: Option<(Authenticatee, tokio::time::Instant)>,
    /// The registration to send once authenticated.
    waiting: Option<RegEffect>,
}

impl AgentProcess {
    /// Whether `effect` (a registration with `master`) may go now; if not, it waits and an
    /// authentication is started (unless one with `master` is under way).
    pub(super) fn authenticated_for(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        master: &Pid,
        effect: &RegEffect,
    ) -> bool {
        let Some(credential) = self.config.credential.clone() else {
            return true;
        };
        // One authentication covers one attempt: a retry authenticates again, so that a
        // master that restarted (and forgot this PID) at the same address admits it.
        if self.auth.done.take().as_ref() == Some(master) {
            return true;
        }
        self.auth.waiting = Some(effect.clone());
        if let Some((a, since)) = &self.auth.running {
            if a.master() == master && since.elapsed() < AUTHENTICATION_TIMEOUT {
                return false;
            }
        }
        tracing::info!(%master, principal = %credential.principal, "authenticating with the master");
        let (a, hello) = Authenticatee::start(credential, ctx.pid().clone(), master.clone());
        self.auth.running = Some((a, tokio::time::Instant::now()));
        ctx.send(master, hello);
        false
    }

    /// The master is lost: authenticate again with whichever master comes next.
    pub(super) fn forget_authentication(&mut self) {
        self.auth = AgentAuth::default();
    }

    fn authenticating_with(&mut self, from: &Pid) -> Option<&mut Authenticatee> {
        match &mut self.auth.running {
            Some((a, _)) if a.master() == from => Some(a),
            _ => None,
        }
    }

    fn authentication_refused(&mut self, why: &str) {
        tracing::error!(
            "the master refused authentication: {why}; retrying (check --credential here and --credentials on the master)"
        );
        self.auth.running = None;
    }

    /// Installs the authentication message handlers.
    pub(super) fn install_authentication(h: &mut Handlers<Self>) {
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: AuthenticationStepMessage| {
                if let Some(a) = me.authenticating_with(&from) {
                    let proof = a.challenge(m);
                    ctx.send(&from, proof);
                }
            },
        );
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: AuthenticationCompletedMessage| {
                let Some(a) = me.authenticating_with(&from) else {
                    return;
                };
                if let Err(why) = a.completed(&m) {
                    me.authentication_refused(&why);
                    return;
                }
                tracing::info!(master = %from, "authenticated with the master");
                me.auth.running = None;
                me.auth.done = Some(from);
                if let Some(effect) = me.auth.waiting.take() {
                    me.apply_reg(vec![effect], ctx);
                }
            },
        );
        h.on(
            |me: &mut Self, _ctx: &mut Ctx<Self>, from: Pid, m: AuthenticationFailedMessage| {
                if me.authenticating_with(&from).is_some() {
                    me.authentication_refused(&m.reason);
                }
            },
        );
    }
}

//! The agent's side of authentication with the master (`--credential`): before a
//! (re-)registration the agent authenticates its PID with the challenge-response of
//! [`proto::authentication`]; the registration waits until the master said
//! "authenticated". A refusal is logged and the registration's retry timer starts a new
//! attempt (the agent keeps trying, so that an operator can fix the credentials file on
//! the master without restarting agents).

use libproc::{Ctx, Handlers, Pid};
use proto::authentication::{
    AuthenticationCompletedMessage, AuthenticationFailedMessage, AuthenticationStepMessage,
};
use proto::authentication_gate::AuthenticationGate;

use super::AgentProcess;
use crate::registration::RegEffect;

/// Where the agent stands in authenticating with its master: the registration waits here.
pub(super) type AgentAuth = AuthenticationGate<RegEffect>;

impl AgentProcess {
    /// Whether `effect` (a registration with `master`) may go now; if not, it waits and an
    /// authentication is started (unless one with `master` is under way).
    pub(super) fn authenticated_for(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        master: &Pid,
        effect: &RegEffect,
    ) -> bool {
        let Some(credential) = &self.config.credential else {
            return true;
        };
        if self.auth.admits(master) {
            return true;
        }
        let now = tokio::time::Instant::now().into_std();
        if let Some(hello) = self
            .auth
            .hold(effect.clone(), credential, ctx.pid(), master, now)
        {
            tracing::info!(%master, principal = %credential.principal, "authenticating with the master");
            ctx.send(master, hello);
        }
        false
    }

    /// The master is lost: authenticate again with whichever master comes next.
    pub(super) fn forget_authentication(&mut self) {
        self.auth.reset();
    }

    fn authentication_refused(why: &str) {
        tracing::error!(
            "the master refused authentication: {why}; retrying (check --credential here and --credentials on the master)"
        );
    }

    /// Installs the authentication message handlers.
    pub(super) fn install_authentication(h: &mut Handlers<Self>) {
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: AuthenticationStepMessage| {
                if let Some(proof) = me.auth.step(&from, m) {
                    ctx.send(&from, proof);
                }
            },
        );
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: AuthenticationCompletedMessage| {
                match me.auth.completed(&from, &m) {
                    None => {}
                    Some(Err(why)) => Self::authentication_refused(&why),
                    Some(Ok(held)) => {
                        tracing::info!(master = %from, "authenticated with the master");
                        if let Some(effect) = held {
                            me.apply_reg(vec![effect], ctx);
                        }
                    }
                }
            },
        );
        h.on(
            |me: &mut Self, _ctx: &mut Ctx<Self>, from: Pid, m: AuthenticationFailedMessage| {
                if let Some(why) = me.auth.failed(&from, m) {
                    Self::authentication_refused(&why);
                }
            },
        );
    }
}

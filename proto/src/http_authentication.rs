//! HTTP authentication of the master's and agent's endpoints: HTTP Basic against the same
//! principals and secrets as [`crate::authentication`] (`--credentials` on the master,
//! `--http_credentials` on the agent), and the realms their routes are grouped in, with
//! Mesos's names (`--authenticate_http_readonly` guards the `*-readonly` realm,
//! `--authenticate_http_readwrite` the `*-readwrite` one, `--authenticate_http_frameworks`
//! the master's scheduler API).
//!
//! A missing or wrong `Authorization` header gets `401` with
//! `WWW-Authenticate: Basic realm="mesos"`: one challenge realm for all of them, so a
//! browser asks once for the web UI, whichever endpoints it reads. The answer never says
//! whether the principal or the secret was wrong.

use std::collections::HashMap;

use libproc::http_auth::HttpAuthenticator;
use libproc::{HttpRequest, HttpResponse};

use crate::authentication::Credential;

/// The master's read-only endpoints (`/master/state`, `/flags`, `/metrics/snapshot`, …).
pub const MASTER_READONLY: &str = "mesos-master-readonly";
/// The master's endpoints that change the cluster (`/teardown`, `/reserve`, the operator
/// API `/api/v1`, …).
pub const MASTER_READWRITE: &str = "mesos-master-readwrite";
/// The master's v1 scheduler API (`/api/v1/scheduler`).
pub const MASTER_SCHEDULER: &str = "mesos-master-scheduler";
/// The agent's read-only endpoints (`/slave(1)/state`, `/files/*`, `/flags`, …).
pub const AGENT_READONLY: &str = "mesos-agent-readonly";
/// The agent's endpoints that change it (its operator API `/api/v1`, `/logging/toggle`).
pub const AGENT_READWRITE: &str = "mesos-agent-readwrite";

/// The challenge realm a `401` names.
pub const CHALLENGE: &str = "Basic realm=\"mesos\"";

/// HTTP Basic against a credentials list.
pub struct BasicAuthenticator {
    secrets: HashMap<String, String>,
}

impl std::fmt::Debug for BasicAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuthenticator")
            .field("principals", &self.secrets.len())
            .finish()
    }
}

/// Why a request was not authenticated (said in the `401`'s body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization` header.
    Missing,
    /// Not `Basic` with base64 of `principal:secret`.
    Malformed,
    /// Unknown principal or wrong secret.
    Wrong,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::Missing => "authentication required: send HTTP Basic credentials",
            Refusal::Malformed => {
                "the Authorization header is not HTTP Basic with base64 of 'principal:secret'"
            }
            Refusal::Wrong => "authentication failed: unknown principal or wrong secret",
        })
    }
}

/// Compares without an early exit on the first differing byte.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// At most this many bytes of an `Authorization` header are decoded.
const MAX_HEADER: usize = 8 * 1024;

impl BasicAuthenticator {
    /// An authenticator knowing these principals and secrets.
    pub fn new(credentials: &[Credential]) -> BasicAuthenticator {
        BasicAuthenticator {
            secrets: credentials
                .iter()
                .map(|c| (c.principal.clone(), c.secret.clone()))
                .collect(),
        }
    }

    /// The principal an `Authorization` header value proves, or why not.
    pub fn check(&self, header: Option<&str>) -> Result<String, Refusal> {
        let header = header.ok_or(Refusal::Missing)?;
        if header.len() > MAX_HEADER {
            return Err(Refusal::Malformed);
        }
        let (scheme, encoded) = header.trim().split_once(' ').ok_or(Refusal::Malformed)?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(Refusal::Malformed);
        }
        let decoded = crate::v1::base64::decode(encoded.trim()).map_err(|_| Refusal::Malformed)?;
        let decoded = String::from_utf8(decoded).map_err(|_| Refusal::Malformed)?;
        let (principal, secret) = decoded.split_once(':').ok_or(Refusal::Malformed)?;
        match self.secrets.get(principal) {
            Some(known) if same_secret(known.as_bytes(), secret.as_bytes()) => {
                Ok(principal.to_string())
            }
            _ => Err(Refusal::Wrong),
        }
    }
}

impl HttpAuthenticator for BasicAuthenticator {
    fn authenticate(&self, request: &HttpRequest) -> Result<String, HttpResponse> {
        self.check(request.header("authorization")).map_err(|why| {
            tracing::debug!(peer = %request.peer, path = %request.path, %why, "HTTP request not authenticated");
            HttpResponse::text(401, format!("{why}\n")).with_header("WWW-Authenticate", CHALLENGE)
        })
    }
}

/// The `Authorization` header value for `principal` and `secret` (for clients and tests).
pub fn basic_header(principal: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        crate::v1::base64::encode(format!("{principal}:{secret}").as_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> BasicAuthenticator {
        BasicAuthenticator::new(&[Credential {
            principal: "ops".into(),
            secret: "s3cret:with:colons".into(),
        }])
    }

    #[test]
    fn accepts_the_right_secret_only() {
        let a = auth();
        assert_eq!(
            a.check(Some(&basic_header("ops", "s3cret:with:colons"))),
            Ok("ops".into())
        );
        assert_eq!(
            a.check(Some(&basic_header("ops", "s3cret"))),
            Err(Refusal::Wrong)
        );
        assert_eq!(
            a.check(Some(&basic_header("dev", "s3cret:with:colons"))),
            Err(Refusal::Wrong)
        );
        assert_eq!(a.check(None), Err(Refusal::Missing));
        assert_eq!(a.check(Some("Bearer abc")), Err(Refusal::Malformed));
        assert_eq!(a.check(Some("Basic !!!")), Err(Refusal::Malformed));
        assert_eq!(
            a.check(Some(&format!(
                "basic {}",
                crate::v1::base64::encode(b"ops")
            ))),
            Err(Refusal::Malformed)
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_any_header(h in ".{0,200}") {
            let _ = auth().check(Some(&h));
        }
    }
}

//! Authentication of frameworks and agents to the master: the messages, the credentials
//! formats, and the two pure halves of the challenge-response ([`Authenticator`] on the
//! master, [`Authenticatee`] on the scheduler driver and the agent).
//!
//! The flow follows the shape of Mesos's (`AuthenticateMessage`, steps, then completed or
//! failed), but the mechanism is not CRAM-MD5 through SASL: there is no SASL library here
//! and MD5 is weak. Instead both sides prove knowledge of the shared secret with
//! HMAC-SHA256 over a transcript that holds the principal, both PIDs and a fresh random
//! nonce from each side; the secret itself never crosses the wire, a proof cannot be
//! replayed (the master's nonce is new each time) nor moved to another PID or master, and
//! the master proves itself back (mutual authentication). The credentials file formats are
//! Mesos's: JSON `{"credentials":[{"principal":..,"secret":..}]}` or text lines
//! `principal secret`, optionally named as `file:///path`.
//!
//! ```text
//! client → master  AuthenticateMessage { principal, nonce: client nonce }
//! master → client  AuthenticationStepMessage { data: master nonce }
//! client → master  AuthenticationStepMessage { data: client proof }
//! master → client  AuthenticationCompletedMessage { proof: master proof }
//!               or AuthenticationFailedMessage { reason }
//! ```

use std::collections::HashMap;
use std::path::Path;

use libproc::Pid;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

/// Client → master: start authenticating `principal` (the sender's PID is the one
/// authenticated).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthenticateMessage {
    /// Who the client claims to be.
    pub principal: String,
    /// The client's fresh random nonce (hex).
    pub nonce: String,
}
libproc::message!(AuthenticateMessage, "mesos.internal.AuthenticateMessage");

/// Master → client: the master's nonce; client → master: the client's proof (hex).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthenticationStepMessage {
    /// The nonce or the proof, hex.
    pub data: String,
}
libproc::message!(
    AuthenticationStepMessage,
    "mesos.internal.AuthenticationStepMessage"
);

/// Master → client: authenticated; `proof` shows the master knows the secret too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthenticationCompletedMessage {
    /// The master's proof (hex).
    pub proof: String,
}
libproc::message!(
    AuthenticationCompletedMessage,
    "mesos.internal.AuthenticationCompletedMessage"
);

/// Master → client: not authenticated, and why (never which of principal or secret was
/// wrong).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthenticationFailedMessage {
    /// Why.
    pub reason: String,
}
libproc::message!(
    AuthenticationFailedMessage,
    "mesos.internal.AuthenticationFailedMessage"
);

/// One principal and its secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// The name it authenticates as.
    pub principal: String,
    /// The shared secret.
    #[serde(default)]
    pub secret: String,
}

impl std::fmt::Debug for Credential {
    // The secret never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("principal", &self.principal)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Why credentials could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The file could not be read.
    #[error("cannot read credentials file '{path}': {error}")]
    Read {
        /// The file.
        path: String,
        /// What the OS said.
        error: std::io::Error,
    },
    /// The content is neither of the accepted formats.
    #[error("invalid credentials: {0}")]
    Invalid(String),
}

#[derive(Deserialize)]
struct CredentialsJson {
    credentials: Vec<Credential>,
}

/// Parses a credentials list: JSON `{"credentials":[{"principal":..,"secret":..}]}`, or
/// text with one `principal secret` per line (blank lines ignored).
pub fn parse_credentials(text: &str) -> Result<Vec<Credential>, CredentialsError> {
    let trimmed = text.trim();
    let list = if trimmed.starts_with('{') {
        serde_json::from_str::<CredentialsJson>(trimmed)
            .map_err(|e| CredentialsError::Invalid(format!("bad JSON: {e}")))?
            .credentials
    } else {
        let mut list = Vec::new();
        for (n, line) in trimmed.lines().enumerate() {
            let mut words = line.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (None, _, _) => continue,
                (Some(p), Some(s), None) => list.push(Credential {
                    principal: p.to_string(),
                    secret: s.to_string(),
                }),
                _ => {
                    return Err(CredentialsError::Invalid(format!(
                        "line {} is not 'principal secret'",
                        n + 1
                    )))
                }
            }
        }
        list
    };
    if let Some(c) = list.iter().find(|c| c.principal.is_empty()) {
        return Err(CredentialsError::Invalid(format!(
            "a credential has an empty principal (secret {} characters)",
            c.secret.len()
        )));
    }
    Ok(list)
}

/// Parses one credential (the agent's `--credential`): JSON `{"principal":..,"secret":..}`
/// or a `principal secret` line (or a list of exactly one).
pub fn parse_credential(text: &str) -> Result<Credential, CredentialsError> {
    let trimmed = text.trim();
    if trimmed.starts_with('{') && !trimmed.contains("\"credentials\"") {
        return serde_json::from_str::<Credential>(trimmed)
            .map_err(|e| CredentialsError::Invalid(format!("bad JSON: {e}")));
    }
    let mut list = parse_credentials(trimmed)?;
    match list.len() {
        1 => Ok(list.remove(0)),
        n => Err(CredentialsError::Invalid(format!(
            "expected one credential, found {n}"
        ))),
    }
}

/// Reads a credentials file (`/path` or `file:///path`).
pub fn read_file(path: &str) -> Result<String, CredentialsError> {
    let p = path.strip_prefix("file://").unwrap_or(path);
    std::fs::read_to_string(Path::new(p)).map_err(|error| CredentialsError::Read {
        path: p.to_string(),
        error,
    })
}

/// Reads and parses a `--credentials` file.
pub fn load_credentials(path: &str) -> Result<Vec<Credential>, CredentialsError> {
    parse_credentials(&read_file(path)?)
}

/// Reads and parses a `--credential` file.
pub fn load_credential(path: &str) -> Result<Credential, CredentialsError> {
    parse_credential(&read_file(path)?)
}

const NONCE_BYTES: usize = 32;
/// Bounds what the master keeps for authentications that never finish.
const MAX_PENDING: usize = 10_000;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || s.len() > 256 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A fresh random nonce (hex).
pub fn nonce() -> String {
    let mut b = [0u8; NONCE_BYTES];
    // The OS generator does not fail on Linux; a zero nonce would only weaken replay
    // protection, never leak the secret.
    if SystemRandom::new().fill(&mut b).is_err() {
        tracing::error!("the system random generator failed");
    }
    hex(&b)
}

/// Everything a proof covers. `role` tells the client's proof from the master's.
struct Transcript<'a> {
    principal: &'a str,
    client: &'a Pid,
    master: &'a Pid,
    client_nonce: &'a str,
    master_nonce: &'a str,
}

impl Transcript<'_> {
    fn bytes(&self, role: &str) -> Vec<u8> {
        let mut v = Vec::new();
        for part in [
            "mesos-rs-hmac-sha256-v1",
            role,
            self.principal,
            &self.client.to_string(),
            &self.master.to_string(),
            self.client_nonce,
            self.master_nonce,
        ] {
            v.extend_from_slice(&(part.len() as u64).to_be_bytes());
            v.extend_from_slice(part.as_bytes());
        }
        v
    }

    fn proof(&self, secret: &str, role: &str) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
        hex(hmac::sign(&key, &self.bytes(role)).as_ref())
    }

    /// Constant-time check of a hex proof.
    fn verify(&self, secret: &str, role: &str, proof: &str) -> bool {
        let Some(tag) = unhex(proof) else {
            return false;
        };
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
        hmac::verify(&key, &self.bytes(role), &tag).is_ok()
    }
}

struct Pending {
    principal: String,
    client_nonce: String,
    master_nonce: String,
}

/// The master's side: credentials, authentications under way, and which PID
/// authenticated as which principal.
#[derive(Default)]
pub struct Authenticator {
    secrets: HashMap<String, String>,
    pending: HashMap<Pid, Pending>,
    authenticated: HashMap<Pid, String>,
}

/// The client's proof did not check out.
pub const FAILED: &str = "authentication failed: unknown principal or wrong secret";

impl Authenticator {
    /// A master side knowing these credentials.
    pub fn new(credentials: Vec<Credential>) -> Authenticator {
        Authenticator {
            secrets: credentials
                .into_iter()
                .map(|c| (c.principal, c.secret))
                .collect(),
            ..Authenticator::default()
        }
    }

    /// How many principals are known.
    pub fn principals(&self) -> usize {
        self.secrets.len()
    }

    /// `from` starts authenticating: forget what it was, answer with a challenge. An
    /// unknown principal gets a challenge too (failing only at the proof), so the answer
    /// does not reveal which principals exist.
    pub fn start(&mut self, from: &Pid, msg: AuthenticateMessage) -> AuthenticationStepMessage {
        self.authenticated.remove(from);
        if self.pending.len() >= MAX_PENDING && !self.pending.contains_key(from) {
            // Oldest first is not tracked; dropping any one bounds memory, and its client
            // retries.
            if let Some(k) = self.pending.keys().next().cloned() {
                self.pending.remove(&k);
            }
        }
        let master_nonce = nonce();
        self.pending.insert(
            from.clone(),
            Pending {
                principal: msg.principal,
                client_nonce: msg.nonce.chars().take(2 * NONCE_BYTES).collect(),
                master_nonce: master_nonce.clone(),
            },
        );
        AuthenticationStepMessage { data: master_nonce }
    }

    /// `from` sent its proof. On success `from` is authenticated as the principal and the
    /// answer carries the master's proof.
    pub fn step(
        &mut self,
        master: &Pid,
        from: &Pid,
        msg: AuthenticationStepMessage,
    ) -> Result<(String, AuthenticationCompletedMessage), AuthenticationFailedMessage> {
        let Some(p) = self.pending.remove(from) else {
            return Err(AuthenticationFailedMessage {
                reason: "authentication step without AuthenticateMessage".into(),
            });
        };
        let t = Transcript {
            principal: &p.principal,
            client: from,
            master,
            client_nonce: &p.client_nonce,
            master_nonce: &p.master_nonce,
        };
        match self.secrets.get(&p.principal) {
            Some(secret) if t.verify(secret, "client", &msg.data) => {
                let proof = t.proof(secret, "master");
                self.authenticated.insert(from.clone(), p.principal.clone());
                Ok((p.principal, AuthenticationCompletedMessage { proof }))
            }
            _ => Err(AuthenticationFailedMessage {
                reason: FAILED.into(),
            }),
        }
    }

    /// The principal `pid` authenticated as, if it did.
    pub fn principal(&self, pid: &Pid) -> Option<&str> {
        self.authenticated.get(pid).map(String::as_str)
    }

    /// Forgets `pid` (its connection broke).
    pub fn forget(&mut self, pid: &Pid) {
        self.authenticated.remove(pid);
        self.pending.remove(pid);
    }
}

/// The client's side of one authentication with one master.
pub struct Authenticatee {
    credential: Credential,
    client: Pid,
    master: Pid,
    client_nonce: String,
    master_nonce: Option<String>,
}

impl std::fmt::Debug for Authenticatee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticatee")
            .field("principal", &self.credential.principal)
            .field("master", &self.master)
            .finish()
    }
}

impl Authenticatee {
    /// Starts authenticating `client` to `master`: send the returned message to `master`.
    pub fn start(
        credential: Credential,
        client: Pid,
        master: Pid,
    ) -> (Authenticatee, AuthenticateMessage) {
        let client_nonce = nonce();
        let msg = AuthenticateMessage {
            principal: credential.principal.clone(),
            nonce: client_nonce.clone(),
        };
        (
            Authenticatee {
                credential,
                client,
                master,
                client_nonce,
                master_nonce: None,
            },
            msg,
        )
    }

    /// The master this authentication is with.
    pub fn master(&self) -> &Pid {
        &self.master
    }

    fn transcript<'a>(&'a self, master_nonce: &'a str) -> Transcript<'a> {
        Transcript {
            principal: &self.credential.principal,
            client: &self.client,
            master: &self.master,
            client_nonce: &self.client_nonce,
            master_nonce,
        }
    }

    /// The master's challenge: the proof to send back.
    pub fn challenge(&mut self, msg: AuthenticationStepMessage) -> AuthenticationStepMessage {
        let proof = self
            .transcript(&msg.data)
            .proof(&self.credential.secret, "client");
        self.master_nonce = Some(msg.data);
        AuthenticationStepMessage { data: proof }
    }

    /// The master says completed: whether its proof checks out (it knows the secret).
    pub fn completed(&self, msg: &AuthenticationCompletedMessage) -> Result<(), String> {
        let Some(n) = &self.master_nonce else {
            return Err("completed before any challenge".into());
        };
        if self
            .transcript(n)
            .verify(&self.credential.secret, "master", &msg.proof)
        {
            Ok(())
        } else {
            Err("the master's proof is wrong: it does not know our secret".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid(s: &str) -> Pid {
        s.parse().unwrap()
    }

    fn run(server_secret: &str, client: Credential) -> Result<String, String> {
        let master = pid("master@127.0.0.1:5050");
        let me = pid("scheduler-1@127.0.0.1:4000");
        let mut a = Authenticator::new(vec![Credential {
            principal: "ops".into(),
            secret: server_secret.into(),
        }]);
        let (mut c, hello) = Authenticatee::start(client, me.clone(), master.clone());
        let challenge = a.start(&me, hello);
        let proof = c.challenge(challenge);
        assert!(!proof.data.contains(server_secret));
        match a.step(&master, &me, proof) {
            Ok((p, done)) => {
                c.completed(&done)?;
                assert_eq!(a.principal(&me), Some("ops"));
                Ok(p)
            }
            Err(f) => {
                assert_eq!(a.principal(&me), None);
                Err(f.reason)
            }
        }
    }

    fn cred(p: &str, s: &str) -> Credential {
        Credential {
            principal: p.into(),
            secret: s.into(),
        }
    }

    #[test]
    fn right_secret_authenticates_both_ways() {
        assert_eq!(run("s3cret", cred("ops", "s3cret")), Ok("ops".into()));
    }

    #[test]
    fn wrong_secret_or_unknown_principal_fails_alike() {
        assert_eq!(run("s3cret", cred("ops", "guess")), Err(FAILED.into()));
        assert_eq!(run("s3cret", cred("nobody", "s3cret")), Err(FAILED.into()));
    }

    #[test]
    fn a_proof_is_bound_to_its_pid_and_not_replayable() {
        let master = pid("master@127.0.0.1:5050");
        let me = pid("scheduler-1@127.0.0.1:4000");
        let thief = pid("scheduler-2@127.0.0.1:4001");
        let mut a = Authenticator::new(vec![cred("ops", "k")]);
        let (mut c, hello) = Authenticatee::start(cred("ops", "k"), me.clone(), master.clone());
        let ch = a.start(&me, hello.clone());
        let proof = c.challenge(ch);
        // The same proof from another PID (with its own challenge) fails.
        a.start(&thief, hello.clone());
        assert!(a.step(&master, &thief, proof.clone()).is_err());
        // Replayed to a fresh challenge for the same PID, it fails too.
        a.start(&me, hello);
        assert!(a.step(&master, &me, proof).is_err());
        assert_eq!(a.principal(&me), None);
    }

    #[test]
    fn a_master_without_the_secret_is_caught() {
        let master = pid("master@127.0.0.1:5050");
        let me = pid("agent@127.0.0.1:5051");
        let (mut c, _) = Authenticatee::start(cred("ops", "k"), me, master);
        c.challenge(AuthenticationStepMessage { data: nonce() });
        let forged = AuthenticationCompletedMessage {
            proof: "00".repeat(32),
        };
        assert!(c.completed(&forged).is_err());
        assert!(c
            .completed(&AuthenticationCompletedMessage { proof: "zz".into() })
            .is_err());
    }

    #[test]
    fn credentials_in_both_mesos_formats() {
        let json =
            r#"{"credentials":[{"principal":"a","secret":"x"},{"principal":"b","secret":"y"}]}"#;
        let l = parse_credentials(json).unwrap();
        assert_eq!(l, vec![cred("a", "x"), cred("b", "y")]);
        assert_eq!(parse_credentials("a x\n\nb y\n").unwrap(), l);
        assert!(parse_credentials("a x y").is_err());
        assert!(parse_credentials("{").is_err());
        assert_eq!(
            parse_credential(r#"{"principal":"a","secret":"x"}"#).unwrap(),
            cred("a", "x")
        );
        assert_eq!(parse_credential("a x").unwrap(), cred("a", "x"));
        assert!(parse_credential("a x\nb y").is_err());
        assert!(!format!("{:?}", cred("a", "topsecret")).contains("topsecret"));
    }
}

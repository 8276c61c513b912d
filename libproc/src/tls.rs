//! Transport security: optional TLS for the actor protocol and HTTP on a node's one port,
//! set up as libprocess sets it up, from `LIBPROCESS_SSL_*` environment variables (so every
//! binary gets it without flags of its own).
//!
//! [`TlsSettings`] is what the environment says (pure parsing, no files read);
//! [`Tls::new`] reads the certificate, key and trusted CAs and builds the rustls acceptor
//! and connector, failing with an error that names the variable, the file and what is wrong.
//! The node sniffs each inbound connection: a TLS ClientHello (`0x16 0x03`) is accepted as
//! TLS and the plaintext inside sniffed again into the actor protocol or HTTP; a plain
//! connection to a TLS node is refused unless `LIBPROCESS_SSL_SUPPORT_DOWNGRADE` is set.
//! Outbound actor connections speak TLS when it is enabled.
//!
//! rustls runs on the `ring` provider (as the agent's fetcher), not aws-lc-rs.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::transport::BoxStream;

/// The environment variables read, with what each means (for `--help` and the docs).
pub const ENVIRONMENT: &[(&str, &str)] = &[
    (
        ENABLED,
        "true|1 or false|0 (default false): TLS for the actor protocol and HTTP on this \
         node's port; outbound actor connections use TLS",
    ),
    (
        CERT_FILE,
        "PEM certificate chain this node presents (required with TLS)",
    ),
    (
        KEY_FILE,
        "PEM private key of that certificate (required with TLS)",
    ),
    (
        CA_FILE,
        "PEM file of CA certificates trusted to sign peers' certificates (default: the \
         system's trusted certificates)",
    ),
    (
        CA_DIR,
        "directory of PEM files of trusted CA certificates (with or instead of CA_FILE)",
    ),
    (
        VERIFY_CERT,
        "true|1 or false|0 (default false): verify peers' certificates against the trusted \
         CAs (a server's must name the IP address connected to); off, TLS only encrypts",
    ),
    (
        REQUIRE_CERT,
        "true|1 or false|0 (default false): require a client certificate on inbound TLS \
         connections (implies VERIFY_CERT)",
    ),
    (
        SUPPORT_DOWNGRADE,
        "true|1 or false|0 (default false): also accept plain (non-TLS) connections; \
         off, plain connections are refused (libproc/connections_refused_plaintext)",
    ),
];

const ENABLED: &str = "LIBPROCESS_SSL_ENABLED";
const CERT_FILE: &str = "LIBPROCESS_SSL_CERT_FILE";
const KEY_FILE: &str = "LIBPROCESS_SSL_KEY_FILE";
const CA_FILE: &str = "LIBPROCESS_SSL_CA_FILE";
const CA_DIR: &str = "LIBPROCESS_SSL_CA_DIR";
const VERIFY_CERT: &str = "LIBPROCESS_SSL_VERIFY_CERT";
const REQUIRE_CERT: &str = "LIBPROCESS_SSL_REQUIRE_CERT";
const SUPPORT_DOWNGRADE: &str = "LIBPROCESS_SSL_SUPPORT_DOWNGRADE";

/// The `LIBPROCESS_SSL_*` environment section of a binary's `--help`.
pub fn help() -> String {
    let mut out = String::from("Transport security (environment, as libprocess):\n");
    for (name, what) in ENVIRONMENT {
        out.push_str(&format!("  {name}\n      {what}\n"));
    }
    out
}

/// Why TLS could not be set up. Each names the variable and file concerned.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A boolean variable has another value.
    #[error("{var}={value:?} is not a boolean (expected true, false, 1 or 0)")]
    NotBoolean {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
    },
    /// TLS is enabled but a required variable is unset.
    #[error("TLS is enabled ({ENABLED}) but {var} is not set")]
    Missing {
        /// The variable.
        var: &'static str,
    },
    /// A file named by a variable cannot be read.
    #[error("{var}={path}: cannot read: {source}")]
    Unreadable {
        /// The variable.
        var: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A file named by a variable holds no usable certificate or key.
    #[error("{var}={path}: {what}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        what: String,
    },
    /// Peers' certificates are to be verified but no CA is trusted.
    #[error("{VERIFY_CERT} (or {REQUIRE_CERT}) is set but no CA certificate is trusted: set {CA_FILE} or {CA_DIR}")]
    NoTrustedCa,
    /// rustls refused the configuration.
    #[error("TLS set-up failed: {0}")]
    Rustls(#[from] rustls::Error),
}

impl From<TlsError> for io::Error {
    fn from(e: TlsError) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot set up TLS: {e}"),
        )
    }
}

/// What the `LIBPROCESS_SSL_*` environment asks for (parsed, no file read yet).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// `LIBPROCESS_SSL_ENABLED`.
    pub enabled: bool,
    /// `LIBPROCESS_SSL_CERT_FILE`.
    pub cert_file: Option<PathBuf>,
    /// `LIBPROCESS_SSL_KEY_FILE`.
    pub key_file: Option<PathBuf>,
    /// `LIBPROCESS_SSL_CA_FILE`.
    pub ca_file: Option<PathBuf>,
    /// `LIBPROCESS_SSL_CA_DIR`.
    pub ca_dir: Option<PathBuf>,
    /// `LIBPROCESS_SSL_VERIFY_CERT`.
    pub verify_cert: bool,
    /// `LIBPROCESS_SSL_REQUIRE_CERT`.
    pub require_cert: bool,
    /// `LIBPROCESS_SSL_SUPPORT_DOWNGRADE`.
    pub support_downgrade: bool,
}

impl TlsSettings {
    /// Reads the process environment.
    pub fn from_env() -> Result<TlsSettings, TlsError> {
        TlsSettings::from_lookup(|var| std::env::var(var).ok())
    }

    /// Reads the variables through `lookup` (a test's map instead of the environment).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<TlsSettings, TlsError> {
        let flag = |var: &'static str| -> Result<bool, TlsError> {
            match lookup(var) {
                None => Ok(false),
                Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                    "" | "false" | "0" => Ok(false),
                    "true" | "1" => Ok(true),
                    _ => Err(TlsError::NotBoolean { var, value: v }),
                },
            }
        };
        let path = |var: &str| lookup(var).filter(|v| !v.is_empty()).map(PathBuf::from);
        Ok(TlsSettings {
            enabled: flag(ENABLED)?,
            cert_file: path(CERT_FILE),
            key_file: path(KEY_FILE),
            ca_file: path(CA_FILE),
            ca_dir: path(CA_DIR),
            verify_cert: flag(VERIFY_CERT)?,
            require_cert: flag(REQUIRE_CERT)?,
            support_downgrade: flag(SUPPORT_DOWNGRADE)?,
        })
    }
}

/// How a node decides on TLS ([`NodeConfig::tls`](crate::NodeConfig::tls)).
#[derive(Clone, Default)]
pub enum TlsSetup {
    /// From the `LIBPROCESS_SSL_*` environment when the node binds (the default, so every
    /// binary honours it); a bad setting fails the bind with a message saying which.
    #[default]
    FromEnvironment,
    /// Plain TCP whatever the environment says.
    Disabled,
    /// TLS with these settings.
    Enabled(Arc<Tls>),
}

impl TlsSetup {
    /// The TLS a node binds with, if any.
    pub(crate) fn resolve(&self) -> Result<Option<Arc<Tls>>, TlsError> {
        match self {
            TlsSetup::FromEnvironment => {
                let settings = TlsSettings::from_env()?;
                if settings.enabled {
                    Ok(Some(Tls::new(&settings)?))
                } else {
                    Ok(None)
                }
            }
            TlsSetup::Disabled => Ok(None),
            TlsSetup::Enabled(t) => Ok(Some(t.clone())),
        }
    }
}

/// A ready TLS set-up: the acceptor for inbound connections and the connector for outbound
/// ones, both presenting this node's certificate.
pub struct Tls {
    acceptor: tokio_rustls::TlsAcceptor,
    connector: tokio_rustls::TlsConnector,
    support_downgrade: bool,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("support_downgrade", &self.support_downgrade)
            .finish_non_exhaustive()
    }
}

/// Whether the first bytes of a connection are a TLS handshake record (a ClientHello):
/// content type 22, protocol major version 3.
pub fn is_client_hello(head: &[u8]) -> bool {
    head.len() >= 2 && head[0] == 0x16 && head[1] == 0x03
}

fn provider() -> Arc<CryptoProvider> {
    // ring rather than rustls's default aws-lc-rs (a cmake C build); ring has no
    // post-quantum key exchange, hence the deprecation.
    #[allow(deprecated)]
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(var: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Unreadable {
        var,
        path: path.to_owned(),
        source,
    })
}

fn invalid(var: &'static str, path: &Path, what: impl Into<String>) -> TlsError {
    TlsError::Invalid {
        var,
        path: path.to_owned(),
        what: what.into(),
    }
}

fn certificates(var: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(var, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(var, path, format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(var, path, "holds no PEM certificate"));
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(KEY_FILE, path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        invalid(
            KEY_FILE,
            path,
            format!("holds no usable PEM private key: {e}"),
        )
    })
}

/// The CAs trusted to sign peers' certificates: the CA file and directory if given, else
/// the system's.
fn trusted(settings: &TlsSettings) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    let mut add = |var: &'static str, path: &Path, certs: Vec<CertificateDer<'static>>| {
        for c in certs {
            roots
                .add(c)
                .map_err(|e| invalid(var, path, format!("unusable CA certificate: {e}")))?;
        }
        Ok::<_, TlsError>(())
    };
    if let Some(f) = &settings.ca_file {
        add(CA_FILE, f, certificates(CA_FILE, f)?)?;
    }
    if let Some(d) = &settings.ca_dir {
        let entries = std::fs::read_dir(d).map_err(|source| TlsError::Unreadable {
            var: CA_DIR,
            path: d.clone(),
            source,
        })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for f in files {
            // Other files may sit in a CA directory: only PEM certificates count.
            if let Ok(certs) = certificates(CA_DIR, &f) {
                add(CA_DIR, &f, certs)?;
            }
        }
    }
    if settings.ca_file.is_none() && settings.ca_dir.is_none() {
        let found = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(found.certs);
    }
    if roots.is_empty() {
        return Err(TlsError::NoTrustedCa);
    }
    Ok(roots)
}

/// Accepts any server certificate (TLS only encrypts) while still checking the handshake's
/// signatures: `LIBPROCESS_SSL_VERIFY_CERT` off, as libprocess.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

impl Tls {
    /// Reads the certificate, key and trusted CAs `settings` name and builds the acceptor
    /// and connector. (`settings.enabled` is not consulted: this is TLS on.)
    pub fn new(settings: &TlsSettings) -> Result<Arc<Tls>, TlsError> {
        let cert_path = settings
            .cert_file
            .as_deref()
            .ok_or(TlsError::Missing { var: CERT_FILE })?;
        let key_path = settings
            .key_file
            .as_deref()
            .ok_or(TlsError::Missing { var: KEY_FILE })?;
        let certs = certificates(CERT_FILE, cert_path)?;
        let key = private_key(key_path)?;
        let provider = provider();
        // The key must be the certificate's, and of a kind the provider can sign with.
        rustls::sign::CertifiedKey::from_der(certs.clone(), key.clone_key(), &provider).map_err(
            |e| {
                invalid(
                    KEY_FILE,
                    key_path,
                    format!("does not fit {CERT_FILE}={}: {e}", cert_path.display()),
                )
            },
        )?;
        let verify = settings.verify_cert || settings.require_cert;
        let roots = if verify {
            Some(Arc::new(trusted(settings)?))
        } else {
            None
        };

        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let server = match &roots {
            Some(roots) => {
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    roots.clone(),
                    provider.clone(),
                );
                let verifier = if settings.require_cert {
                    verifier.build()
                } else {
                    verifier.allow_unauthenticated().build()
                }
                .map_err(|e| rustls::Error::General(e.to_string()))?;
                server.with_client_cert_verifier(verifier)
            }
            None => server.with_no_client_auth(),
        }
        .with_single_cert(certs.clone(), key.clone_key())?;

        let client = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let client = match roots {
            Some(roots) => client.with_root_certificates(roots),
            None => client
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider))),
        }
        .with_client_auth_cert(certs, key)?;

        Ok(Arc::new(Tls {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(server)),
            connector: tokio_rustls::TlsConnector::from(Arc::new(client)),
            support_downgrade: settings.support_downgrade,
        }))
    }

    /// Whether plain connections are accepted too (`LIBPROCESS_SSL_SUPPORT_DOWNGRADE`).
    pub fn support_downgrade(&self) -> bool {
        self.support_downgrade
    }

    /// The server side of a TLS handshake on an accepted stream (whose first bytes were
    /// replayed after sniffing).
    pub async fn accept(&self, stream: BoxStream) -> io::Result<BoxStream> {
        let s = self.acceptor.accept(stream).await?;
        Ok(Box::new(s))
    }

    /// The client side of a TLS handshake with the node at `addr` (its certificate must
    /// name `addr`'s IP address when certificates are verified). The error says what the
    /// handshake failed on, e.g. `invalid peer certificate: UnknownIssuer`.
    pub async fn connect(&self, addr: SocketAddr, stream: BoxStream) -> io::Result<BoxStream> {
        let name = ServerName::from(addr.ip());
        match self.connector.connect(name, stream).await {
            Ok(s) => Ok(Box::new(s)),
            Err(e) => Err(io::Error::new(
                e.kind(),
                format!("TLS handshake with {addr} failed: {e}"),
            )),
        }
    }

    /// A TCP connection to `addr` with the TLS handshake done: for HTTP clients of other
    /// nodes (e.g. a master proxying to the leader).
    pub async fn connect_tcp(&self, addr: SocketAddr) -> io::Result<BoxStream> {
        let s = tokio::net::TcpStream::connect(addr).await?;
        let _ = s.set_nodelay(true);
        self.connect(addr, Box::new(s)).await
    }
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod node_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn settings_parse_libprocess_booleans_and_paths() {
        let s = TlsSettings::from_lookup(lookup(&[
            (ENABLED, "1"),
            (CERT_FILE, "/c.pem"),
            (KEY_FILE, "/k.pem"),
            (VERIFY_CERT, "true"),
            (SUPPORT_DOWNGRADE, "FALSE"),
        ]))
        .unwrap();
        assert!(s.enabled && s.verify_cert && !s.require_cert && !s.support_downgrade);
        assert_eq!(s.cert_file.as_deref(), Some(Path::new("/c.pem")));
        assert_eq!(
            TlsSettings::from_lookup(lookup(&[])).unwrap(),
            TlsSettings::default()
        );
        let e = TlsSettings::from_lookup(lookup(&[(ENABLED, "yes")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "LIBPROCESS_SSL_ENABLED=\"yes\" is not a boolean (expected true, false, 1 or 0)"
        );
    }

    #[test]
    fn a_client_hello_is_told_from_the_actor_protocol_and_http() {
        assert!(is_client_hello(&[0x16, 0x03, 0x01, 0x02]));
        assert!(!is_client_hello(crate::wire::MAGIC));
        assert!(!is_client_hello(b"GET "));
        assert!(!is_client_hello(&[0x16]));
    }
}

//! Helpers for tests: bounded waits that fail with a clear message instead of hanging, and
//! the one rule for a test whose prerequisite (ZooKeeper, Docker, cgroups, built binaries)
//! is missing: skip locally, fail under CI ([`skip_unless_ci`]).

use std::future::Future;
use std::time::Duration;

/// Whether this run is CI's: the `CI` environment variable is set to anything but empty,
/// `0` or `false` (CI services set `CI=true`; `.ci/run` sets it too).
pub fn under_ci() -> bool {
    ci_value(std::env::var("CI").ok().as_deref())
}

fn ci_value(v: Option<&str>) -> bool {
    v.is_some_and(|v| !matches!(v.trim().to_ascii_lowercase().as_str(), "" | "0" | "false"))
}

/// `test` cannot run here because `why` (a tool or privilege it needs is missing). Under CI
/// ([`under_ci`]), whose machine has everything, that is a failure: this panics. Elsewhere
/// it prints `SKIPPED <test>: <why>` and returns, and the caller returns early.
pub fn skip_unless_ci(test: &str, why: &str) {
    if under_ci() {
        panic!("{test} cannot run: {why}; CI is set, so a missing prerequisite is a failure, not a skip");
    }
    eprintln!("SKIPPED {test}: {why}");
}

/// Runs `fut` to completion on a fresh single-threaded runtime whose clock starts paused,
/// inside a `LocalSet` (so `spawn_local` works, as actix needs): the one preamble of every
/// virtual-time test. Timers then fire as soon as every task is idle, in virtual time.
/// Needs the `test-util` feature (enable it in a dev-dependency).
#[cfg(feature = "test-util")]
pub fn paused<F: Future>(fut: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime for a paused-clock test");
    rt.block_on(tokio::task::LocalSet::new().run_until(fut))
}

/// Awaits `fut`, panicking with `what` if it takes longer than `limit`.
///
/// Under a paused clock the limit is virtual time, so a test that forgets to make progress
/// fails fast instead of hanging.
pub async fn within<F: Future>(limit: Duration, what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(limit, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {limit:?} waiting for {what}"),
    }
}

/// The next message of type `M` an [`Observer`](crate::filter::Observer) sees, decoded;
/// messages of other types are skipped. Panics with `what` after `limit`, or if the
/// observed body does not decode (the `FUTURE_PROTOBUF` of libprocess tests).
pub async fn next_message<M: crate::Message>(
    obs: &mut crate::filter::Observer,
    limit: Duration,
    what: &str,
) -> M {
    within(limit, what, async {
        loop {
            let o = obs.next().await.expect("the observer's filter was removed");
            if o.name == M::NAME {
                return o
                    .decode::<M>()
                    .unwrap_or_else(|e| panic!("{what}: {} does not decode: {e}", M::NAME));
            }
        }
    })
    .await
}

/// Polls `cond` (yielding between checks) until it holds, or panics after `limit`.
pub async fn eventually(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    within(limit, what, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
}

/// Sends raw request bytes over a fresh TCP connection and reads the whole response
/// (send `Connection: close`); returns the status code, the head (status line and headers)
/// and the body (de-chunked). For tests and tools that must not pull in an HTTP client.
pub async fn http_exchange(
    addr: std::net::SocketAddr,
    raw: &[u8],
) -> std::io::Result<(u16, String, String)> {
    let s = tokio::net::TcpStream::connect(addr).await?;
    exchange_over(Box::new(s), raw).await
}

/// [`http_exchange`] over TLS (the node's certificate checked as `tls` says).
pub async fn https_exchange(
    tls: &crate::tls::Tls,
    addr: std::net::SocketAddr,
    raw: &[u8],
) -> std::io::Result<(u16, String, String)> {
    let s = tls.connect_tcp(addr).await?;
    exchange_over(s, raw).await
}

/// `GET path` over TLS; returns status and body.
pub async fn https_get(
    tls: &crate::tls::Tls,
    addr: std::net::SocketAddr,
    path: &str,
) -> std::io::Result<(u16, String)> {
    let raw = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let (status, _, body) = https_exchange(tls, addr, raw.as_bytes()).await?;
    Ok((status, body))
}

async fn exchange_over(
    mut s: crate::transport::BoxStream,
    raw: &[u8],
) -> std::io::Result<(u16, String, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    s.write_all(raw).await?;
    s.flush().await?;
    let mut buf = Vec::new();
    match s.read_to_end(&mut buf).await {
        Ok(_) => {}
        // A TLS peer that closes without close_notify: the response is all there.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !buf.is_empty() => {}
        Err(e) => return Err(e),
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "no HTTP status line")
        })?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok((status, head.to_string(), body))
}

/// A `method path` request with `body` through [`http_exchange`]; returns status and body.
pub async fn http_request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    let mut raw = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    let (status, _, body) = http_exchange(addr, &raw).await?;
    Ok((status, body))
}

/// `GET path`; returns status, head and body.
pub async fn http_get_full(
    addr: std::net::SocketAddr,
    path: &str,
) -> std::io::Result<(u16, String, String)> {
    let raw = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    http_exchange(addr, raw.as_bytes()).await
}

/// `GET path`; returns status and body.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    http_request(addr, "GET", path, b"").await
}

/// A streamed (chunked) HTTP response read chunk by chunk as it arrives: the client side
/// of the v1 APIs' event streams, for tests that must not pull in an HTTP client.
pub struct HttpStream {
    sock: tokio::net::TcpStream,
    /// The status line and headers.
    pub head: String,
    raw: Vec<u8>,
}

impl HttpStream {
    /// Sends raw request bytes over a fresh TCP connection and reads the response head.
    pub async fn open(addr: std::net::SocketAddr, raw: &[u8]) -> std::io::Result<HttpStream> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut sock = tokio::net::TcpStream::connect(addr).await?;
        sock.write_all(raw).await?;
        let mut buf = Vec::new();
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            let mut more = [0u8; 4096];
            let n = sock.read(&mut more).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            buf.extend_from_slice(&more[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        Ok(HttpStream {
            sock,
            head,
            raw: buf[end + 4..].to_vec(),
        })
    }

    /// The status code (0 if the status line is malformed).
    pub fn status(&self) -> u16 {
        self.head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// A response header's value (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// The next chunk of the body; `None` once the body or the connection ended.
    pub async fn next_chunk(&mut self) -> Option<Vec<u8>> {
        use tokio::io::AsyncReadExt;
        loop {
            if let Some(nl) = self.raw.windows(2).position(|w| w == b"\r\n") {
                let size = std::str::from_utf8(&self.raw[..nl])
                    .ok()
                    .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())?;
                if size == 0 {
                    return None;
                }
                if self.raw.len() >= nl + 2 + size + 2 {
                    let data = self.raw[nl + 2..nl + 2 + size].to_vec();
                    self.raw.drain(..nl + 2 + size + 2);
                    return Some(data);
                }
            }
            let mut more = [0u8; 4096];
            match self.sock.read(&mut more).await {
                Ok(n) if n > 0 => self.raw.extend_from_slice(&more[..n]),
                _ => return None,
            }
        }
    }
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

/// The repository's root (where `scripts/` and `target/` are), from this crate's location.
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| std::path::PathBuf::from("."))
}

/// The Python interpreter of the tests' virtualenv (`target/pyenv`, built by
/// `scripts/python-env.sh`, which `scripts/test.sh` runs): pymesos, marathon,
/// chronos-python and selenium are importable from it. `None` (after
/// [`skip_unless_ci`]) when it has not been built.
pub fn python_env(test: &str) -> Option<std::path::PathBuf> {
    let py = repo_root().join("target/pyenv/bin/python");
    if py.is_file() {
        return Some(py);
    }
    skip_unless_ci(
        test,
        &format!(
            "no Python virtualenv at {} (run scripts/python-env.sh)",
            py.display()
        ),
    );
    None
}

/// Headless Chromium and its WebDriver (Debian's `chromium` and `chromium-driver`, installed
/// by `scripts/install-deps.sh`): `(browser, driver)`. `None` (after [`skip_unless_ci`])
/// when either is missing.
pub fn chromium(test: &str) -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    let browser = std::path::PathBuf::from("/usr/bin/chromium");
    let driver = std::path::PathBuf::from("/usr/bin/chromedriver");
    if browser.is_file() && driver.is_file() {
        return Some((browser, driver));
    }
    skip_unless_ci(
        test,
        "chromium and chromedriver are not installed (Debian: chromium chromium-driver)",
    );
    None
}

/// The state Docker reports for container `name` (`running`, `exited`, `removing`, …), or
/// `None` when no such container exists (or Docker does not answer).
pub fn docker_container_status(name: &str) -> Option<String> {
    crate::docker::DockerCli::default().inspect_blocking(name, "{{.State.Status}}")
}

/// Waits, at most `limit`, until container `name` no longer exists; panics if it is still
/// there in any state other than `removing` (Docker may show a removed container as
/// `removing` for a moment on a loaded machine), or still `removing` after `limit`.
pub fn wait_docker_container_gone(name: &str, limit: Duration) {
    let deadline = std::time::Instant::now() + limit;
    loop {
        match docker_container_status(name) {
            None => return,
            Some(s) if s == "removing" && std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100))
            }
            Some(s) => panic!("container {name} should be gone, Docker shows it {s:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_is_any_value_but_empty_zero_or_false() {
        assert!(!ci_value(None));
        for off in ["", "0", "false", "FALSE", " "] {
            assert!(!ci_value(Some(off)), "{off:?}");
        }
        for on in ["true", "1", "yes", "github"] {
            assert!(ci_value(Some(on)), "{on:?}");
        }
    }
}

/// A certificate authority made at test time, issuing node certificates for `127.0.0.1`
/// and `localhost` (needs the `test-util` feature).
#[cfg(any(test, feature = "test-util"))]
pub struct TestCa {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

/// The PEM files of one node's TLS identity, as [`TestCa::issue`] wrote them.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The issuing CA's certificate.
    pub ca_file: std::path::PathBuf,
    /// The node's certificate.
    pub cert_file: std::path::PathBuf,
    /// The node's private key.
    pub key_file: std::path::PathBuf,
}

impl TlsFiles {
    /// TLS on, peers' certificates verified against the CA, no downgrade.
    pub fn settings(&self) -> crate::tls::TlsSettings {
        crate::tls::TlsSettings {
            enabled: true,
            cert_file: Some(self.cert_file.clone()),
            key_file: Some(self.key_file.clone()),
            ca_file: Some(self.ca_file.clone()),
            ca_dir: None,
            verify_cert: true,
            require_cert: false,
            support_downgrade: false,
        }
    }

    /// The same as `LIBPROCESS_SSL_*` environment variables, for a child process.
    pub fn env(&self) -> Vec<(String, String)> {
        let s = |p: &std::path::Path| p.display().to_string();
        vec![
            ("LIBPROCESS_SSL_ENABLED".into(), "true".into()),
            ("LIBPROCESS_SSL_CERT_FILE".into(), s(&self.cert_file)),
            ("LIBPROCESS_SSL_KEY_FILE".into(), s(&self.key_file)),
            ("LIBPROCESS_SSL_CA_FILE".into(), s(&self.ca_file)),
            ("LIBPROCESS_SSL_VERIFY_CERT".into(), "true".into()),
        ]
    }
}

#[cfg(any(test, feature = "test-util"))]
impl TestCa {
    /// A fresh self-signed CA named `name`.
    pub fn new(name: &str) -> TestCa {
        let key = rcgen::KeyPair::generate().expect("generate a CA key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).expect("self-sign the CA");
        TestCa { cert, key }
    }

    /// Writes this CA's certificate and a new node certificate and key (for `127.0.0.1`
    /// and `localhost`) into `dir` as `<name>-ca.pem`, `<name>-cert.pem`, `<name>-key.pem`.
    pub fn issue(&self, dir: &std::path::Path, name: &str) -> TlsFiles {
        let key = rcgen::KeyPair::generate().expect("generate a node key");
        let params = rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
            .expect("node params");
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("sign the node certificate");
        let files = TlsFiles {
            ca_file: dir.join(format!("{name}-ca.pem")),
            cert_file: dir.join(format!("{name}-cert.pem")),
            key_file: dir.join(format!("{name}-key.pem")),
        };
        std::fs::write(&files.ca_file, self.cert.pem()).expect("write the CA certificate");
        std::fs::write(&files.cert_file, cert.pem()).expect("write the node certificate");
        std::fs::write(&files.key_file, key.serialize_pem()).expect("write the node key");
        files
    }
}

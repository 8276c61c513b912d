//! Getting one URI's bytes into a file: `http://` and `https://` with a small HTTP/1.1
//! client on hyper (following up to five redirects, like `curl -L`), `file://` and absolute
//! paths by copying. `https://` verifies the server against the host's trusted
//! certificates (the system store; `SSL_CERT_FILE` / `SSL_CERT_DIR` override it, as for
//! curl, which Mesos's fetcher uses) with rustls. Downloads are bounded: at most `max_size` bytes (a larger `Content-Length`
//! fails at once, a body growing past it fails when it does; nothing is allocated from a
//! length the server sends), a stall timeout between reads (Mesos
//! `--fetcher_stall_timeout`) and an overall deadline.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use tokio::io::AsyncWriteExt;

use crate::user::RunAs;

/// Bounds on one download.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest body accepted, in bytes.
    pub max_size: u64,
    /// Longest wait for the connection or the next piece of the body.
    pub stall_timeout: Duration,
    /// Longest whole download.
    pub timeout: Duration,
}

/// Where a URI's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An `http://` or `https://` URL.
    Http(String),
    /// A local file (`file://` or an absolute path).
    Local(PathBuf),
}

/// Classifies a URI; anything but `http://`, `https://`, `file://` and absolute paths is
/// refused.
pub fn source_of(uri: &str) -> Result<Source, String> {
    let uri = uri.trim();
    if uri.starts_with("http://") || uri.starts_with("https://") {
        Ok(Source::Http(uri.to_string()))
    } else if let Some(path) = uri.strip_prefix("file://") {
        if path.starts_with('/') {
            Ok(Source::Local(PathBuf::from(path)))
        } else {
            Err("a file:// URI needs an absolute path".into())
        }
    } else if uri.starts_with('/') {
        Ok(Source::Local(PathBuf::from(uri)))
    } else {
        Err("unsupported URI: expected http://, https://, file:// or an absolute path".into())
    }
}

/// The file name a URI gives (the last segment of its path, without query or fragment).
pub fn basename(uri: &str) -> Option<String> {
    let uri = uri.trim();
    let path = match uri.find("://") {
        Some(i) => {
            let rest = &uri[i + 3..];
            let rest = rest.split(['?', '#']).next().unwrap_or("");
            rest.find('/').map_or("", |j| &rest[j..])
        }
        None => uri,
    };
    path.rsplit('/')
        .next()
        .filter(|n| !n.is_empty() && *n != "." && *n != "..")
        .map(str::to_string)
}

/// An `http(s)://` URL taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Url {
    /// `https://`.
    tls: bool,
    /// What to connect to: `host:port` (the scheme's port when none is given).
    connect: String,
    /// The authority as written (`host[:port]`): the `Host` header.
    authority: String,
    /// The host alone (without brackets for IPv6): the name the certificate must show.
    host: String,
    /// Path and query (`/` when empty).
    path: String,
}

impl Url {
    fn parse(url: &str) -> Result<Url, String> {
        let (tls, rest) = if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else {
            return Err(format!("not an http(s) URL: {url}"));
        };
        let rest = rest.split('#').next().unwrap_or("");
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(format!("bad host in URL: {url}"));
        }
        let port_at = authority
            .rfind(':')
            .filter(|i| !authority[*i..].contains(']'));
        let host = port_at.map_or(authority, |i| &authority[..i]);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("bad host in URL: {url}"));
        }
        let connect = match port_at {
            Some(_) => authority.to_string(),
            None => format!("{authority}:{}", if tls { 443 } else { 80 }),
        };
        Ok(Url {
            tls,
            connect,
            authority: authority.to_string(),
            host: host.to_string(),
            path,
        })
    }

    /// Where a `Location` header sends a request for this URL.
    fn redirect(&self, location: &str) -> Result<String, String> {
        if location.starts_with("http://") || location.starts_with("https://") {
            Ok(location.to_string())
        } else if location.starts_with('/') {
            let scheme = if self.tls { "https" } else { "http" };
            Ok(format!("{scheme}://{}{location}", self.authority))
        } else {
            Err(format!("unsupported redirect to '{location}'"))
        }
    }
}

/// The TLS client settings for `https://`: the host's trusted certificates, read once.
/// Certificates that cannot be parsed are skipped (and logged); none at all means every
/// `https://` download fails verification, with a message that says so.
pub fn system_tls() -> Arc<rustls::ClientConfig> {
    static TLS: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    TLS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            tracing::warn!(error = %e, "fetcher: cannot load a trusted certificate");
        }
        let mut roots = rustls::RootCertStore::empty();
        let (added, ignored) = roots.add_parsable_certificates(found.certs);
        if ignored > 0 {
            tracing::warn!(ignored, "fetcher: unusable trusted certificates skipped");
        }
        tracing::debug!(added, "fetcher: trusted certificates loaded");
        tls_trusting(roots)
    })
    .clone()
}

/// TLS client settings trusting exactly `roots`.
pub fn tls_trusting(roots: rustls::RootCertStore) -> Arc<rustls::ClientConfig> {
    // ring rather than rustls's default aws-lc-rs (a cmake C build); ring has no
    // post-quantum key exchange, which a download of a task's files does not need.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth());
    match config {
        Ok(c) => Arc::new(c),
        // The ring provider supports the default versions; unreachable in practice, and
        // an empty provider list would then fail every handshake with a clear error.
        Err(e) => panic!("rustls cannot use the ring provider: {e}"),
    }
}

/// Downloads `url` into `dest`; returns the number of bytes written.
pub async fn http(url: &str, dest: &Path, limits: Limits) -> Result<u64, String> {
    http_with(url, dest, limits, system_tls()).await
}

/// [`http`] with the TLS settings `tls` for `https://`.
pub async fn http_with(
    url: &str,
    dest: &Path,
    limits: Limits,
    tls: Arc<rustls::ClientConfig>,
) -> Result<u64, String> {
    match tokio::time::timeout(limits.timeout, http_following(url, dest, limits, &tls)).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "download did not finish within {}s",
            limits.timeout.as_secs()
        )),
    }
}

async fn http_following(
    url: &str,
    dest: &Path,
    limits: Limits,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<u64, String> {
    let mut url = url.to_string();
    for _ in 0..=5 {
        let parsed = Url::parse(&url)?;
        match get(&parsed, dest, limits, tls).await? {
            Fetched::Body(n) => return Ok(n),
            Fetched::Redirect(location) => url = parsed.redirect(&location)?,
        }
    }
    Err("too many redirects".into())
}

enum Fetched {
    Body(u64),
    Redirect(String),
}

async fn get(
    url: &Url,
    dest: &Path,
    limits: Limits,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<Fetched, String> {
    let connect = url.connect.as_str();
    let stall = limits.stall_timeout;
    let stream = tokio::time::timeout(stall, tokio::net::TcpStream::connect(connect))
        .await
        .map_err(|_| format!("cannot connect to {connect}: timed out"))?
        .map_err(|e| format!("cannot connect to {connect}: {e}"))?;
    if !url.tls {
        return exchange(stream, url, dest, limits).await;
    }
    let name = rustls::pki_types::ServerName::try_from(url.host.clone())
        .map_err(|e| format!("bad host name '{}' for TLS: {e}", url.host))?;
    let stream = tokio::time::timeout(
        stall,
        tokio_rustls::TlsConnector::from(tls.clone()).connect(name, stream),
    )
    .await
    .map_err(|_| format!("TLS handshake with {connect} timed out"))?
    .map_err(|e| format!("TLS handshake with {connect} failed: {e}"))?;
    exchange(stream, url, dest, limits).await
}

/// One request and its response over `stream` (plain or TLS).
async fn exchange<S>(stream: S, url: &Url, dest: &Path, limits: Limits) -> Result<Fetched, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (connect, host, path) = (&url.connect, &url.authority, &url.path);
    let stall = limits.stall_timeout;
    let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .map_err(|e| format!("HTTP handshake with {connect} failed: {e}"))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let result = async {
        let request = hyper::Request::get(path.as_str())
            .header(hyper::header::HOST, host.as_str())
            .header(hyper::header::USER_AGENT, "mesos-fetcher")
            .body(Empty::<Bytes>::new())
            .map_err(|e| format!("bad request for {path}: {e}"))?;
        let response = tokio::time::timeout(stall, sender.send_request(request))
            .await
            .map_err(|_| format!("no response from {connect} within {}s", stall.as_secs()))?
            .map_err(|e| format!("request to {connect} failed: {e}"))?;
        let status = response.status();
        if status.is_redirection() {
            if let Some(location) = response
                .headers()
                .get(hyper::header::LOCATION)
                .and_then(|v| v.to_str().ok())
            {
                return Ok(Fetched::Redirect(location.to_string()));
            }
        }
        if !status.is_success() {
            return Err(format!("HTTP {status}"));
        }
        let declared = response
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limits.max_size) {
            return Err(format!(
                "the resource is larger than the fetcher's limit of {} bytes",
                limits.max_size
            ));
        }
        let mut file = tokio::fs::File::create(dest)
            .await
            .map_err(|e| format!("cannot create {}: {e}", dest.display()))?;
        let mut body = response.into_body();
        let mut written: u64 = 0;
        loop {
            let frame = tokio::time::timeout(stall, body.frame())
                .await
                .map_err(|_| format!("download stalled for {}s", stall.as_secs()))?;
            let Some(frame) = frame else { break };
            let frame = frame.map_err(|e| format!("download failed: {e}"))?;
            if let Ok(data) = frame.into_data() {
                written = written.saturating_add(data.len() as u64);
                if written > limits.max_size {
                    return Err(format!(
                        "the resource is larger than the fetcher's limit of {} bytes",
                        limits.max_size
                    ));
                }
                file.write_all(&data)
                    .await
                    .map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
            }
        }
        if declared.is_some_and(|n| n != written) {
            return Err(format!(
                "download cut short: got {written} of {} bytes",
                declared.unwrap_or(0)
            ));
        }
        file.flush()
            .await
            .map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
        Ok(Fetched::Body(written))
    }
    .await;
    driver.abort();
    result
}

/// Copies the local file `from` into `dest` (off the async threads); returns its size.
/// With `reader`, the file must be one that user may read: a symbolic link as the last
/// component is refused, and the permission is checked on the file actually opened.
pub async fn copy(
    from: &Path,
    dest: &Path,
    max_size: u64,
    reader: Option<RunAs>,
) -> Result<u64, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let (from, dest) = (from.to_path_buf(), dest.to_path_buf());
    tokio::task::spawn_blocking(move || {
        let mut open = std::fs::OpenOptions::new();
        open.read(true);
        if reader.is_some() {
            open.custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits());
        }
        let file = open
            .open(&from)
            .map_err(|e| format!("{}: {e}", from.display()))?;
        let meta = file
            .metadata()
            .map_err(|e| format!("{}: {e}", from.display()))?;
        if let Some(u) = &reader {
            if !(u.may_reach(&from) && u.may_read_meta(&meta)) {
                return Err(format!("user '{}' may not read {}", u.name, from.display()));
            }
        }
        if !meta.is_file() {
            return Err(format!("{} is not a regular file", from.display()));
        }
        if meta.len() > max_size {
            return Err(too_large(max_size));
        }
        let mut out = std::fs::File::create(&dest)
            .map_err(|e| format!("cannot create {}: {e}", dest.display()))?;
        let n = std::io::copy(&mut file.take(max_size.saturating_add(1)), &mut out)
            .map_err(|e| format!("cannot copy {}: {e}", from.display()))?;
        if n > max_size {
            return Err(too_large(max_size));
        }
        Ok(n)
    })
    .await
    .map_err(|e| format!("copy task failed: {e}"))?
}

fn too_large(max_size: u64) -> String {
    format!("the resource is larger than the fetcher's limit of {max_size} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// A loopback server answering each request with `answer(path)` raw bytes (`None`:
    /// never answer), then holding the connection open.
    async fn serve(answer: fn(&str) -> Option<Vec<u8>>) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut req = vec![];
                    let mut buf = [0u8; 512];
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => req.extend_from_slice(&buf[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&req).to_string();
                    let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
                    if let Some(bytes) = answer(&path) {
                        let _ = conn.write_all(&bytes).await;
                    }
                    // The connection stays open: only the answer says where a body ends.
                    std::future::pending::<()>().await
                });
            }
        });
        addr
    }

    fn limits() -> Limits {
        Limits {
            max_size: 100,
            stall_timeout: Duration::from_millis(300),
            timeout: Duration::from_secs(20),
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("download-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d.join("out")
    }

    #[tokio::test]
    async fn local_copies_for_a_user_follow_its_permissions_and_no_final_link() {
        let out = scratch("local");
        let dir = out.with_file_name("src");
        std::fs::create_dir_all(&dir).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let (open, secret, link) = (dir.join("open"), dir.join("secret"), dir.join("link"));
        std::fs::write(&open, "shared").unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::write(&secret, "private").unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&open, &link).unwrap();
        let other = RunAs {
            name: "other".into(),
            uid: 4_000_000,
            gid: 4_000_000,
            groups: vec![4_000_000],
        };
        assert_eq!(copy(&open, &out, 100, Some(other.clone())).await, Ok(6));
        assert_eq!(std::fs::read(&out).unwrap(), b"shared");
        let err = copy(&secret, &out, 100, Some(other.clone()))
            .await
            .unwrap_err();
        assert!(err.contains("may not read"), "{err}");
        assert!(
            copy(&link, &out, 100, Some(other)).await.is_err(),
            "a final link is refused"
        );
        assert_eq!(
            copy(&link, &out, 100, None).await,
            Ok(6),
            "the agent's own fetches follow it"
        );
        let err = copy(&open, &out, 3, None).await.unwrap_err();
        assert!(err.contains("larger than"), "{err}");
    }

    #[tokio::test]
    async fn redirects_are_followed_and_bodies_written() {
        let addr = serve(|path| {
            Some(match path {
                "/old" => {
                    b"HTTP/1.1 302 Found\r\nLocation: /new\r\nContent-Length: 0\r\n\r\n".to_vec()
                }
                "/new" => b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello".to_vec(),
                _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
            })
        })
        .await;
        let out = scratch("redirect");
        let n = http(&format!("http://{addr}/old"), &out, limits())
            .await
            .unwrap();
        assert_eq!(n, 5);
        assert_eq!(std::fs::read(&out).unwrap(), b"hello");
        let err = http(&format!("http://{addr}/nope"), &out, limits())
            .await
            .unwrap_err();
        assert!(err.contains("404"), "{err}");
    }

    #[tokio::test]
    async fn downloads_are_bounded_in_size_and_time() {
        let addr = serve(|path| match path {
            // Announces more than the limit: refused before reading.
            "/declared" => Some(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n".to_vec()),
            // No length, a body past the limit.
            "/endless" => {
                let mut r = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
                r.extend(std::iter::repeat_n(b'x', 1000));
                Some(r)
            }
            // Headers, then nothing.
            "/stall" => Some(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc".to_vec()),
            _ => None,
        })
        .await;
        let out = scratch("bounded");
        for (path, expect) in [
            ("/declared", "larger than"),
            ("/endless", "larger than"),
            ("/stall", "stalled"),
            ("/silent", "no response"),
        ] {
            let err = http(&format!("http://{addr}{path}"), &out, limits())
                .await
                .unwrap_err();
            assert!(err.contains(expect), "{path}: {err}");
        }
    }

    #[test]
    fn uris_are_classified_and_named() {
        assert_eq!(
            source_of("http://h:80/a.tgz"),
            Ok(Source::Http("http://h:80/a.tgz".into()))
        );
        assert_eq!(
            source_of("file:///opt/a"),
            Ok(Source::Local("/opt/a".into()))
        );
        assert_eq!(source_of("/opt/a"), Ok(Source::Local("/opt/a".into())));
        assert_eq!(
            source_of("https://h/a"),
            Ok(Source::Http("https://h/a".into()))
        );
        assert!(source_of("hdfs://h/a").is_err());
        assert!(source_of("relative/a").is_err());
        assert!(source_of("file://relative").is_err());
        assert_eq!(
            basename("http://h:1/x/app.tgz?sig=1#f"),
            Some("app.tgz".into())
        );
        assert_eq!(basename("/opt/run.sh"), Some("run.sh".into()));
        assert_eq!(basename("http://h/"), None);
        assert_eq!(basename("http://h"), None);
        assert_eq!(basename("http://h/a/.."), None);
    }

    #[test]
    fn urls_split_into_address_host_and_path() {
        let u = Url::parse("http://127.0.0.1:8080/a/b?x=1").unwrap();
        assert_eq!(
            (
                u.tls,
                u.connect.as_str(),
                u.authority.as_str(),
                u.host.as_str()
            ),
            (false, "127.0.0.1:8080", "127.0.0.1:8080", "127.0.0.1")
        );
        assert_eq!(u.path, "/a/b?x=1");
        let u = Url::parse("http://example.org").unwrap();
        assert_eq!(
            (u.connect.as_str(), u.path.as_str()),
            ("example.org:80", "/")
        );
        let u = Url::parse("https://example.org?q").unwrap();
        assert_eq!(
            (u.tls, u.connect.as_str(), u.host.as_str(), u.path.as_str()),
            (true, "example.org:443", "example.org", "/?q")
        );
        let u = Url::parse("https://[::1]/x").unwrap();
        assert_eq!((u.connect.as_str(), u.host.as_str()), ("[::1]:443", "::1"));
        assert!(Url::parse("http:///x").is_err());
        assert!(Url::parse("http://user@h/x").is_err());
        assert!(Url::parse("https://:443/x").is_err());
        assert!(Url::parse("ftp://h/x").is_err());
    }

    #[test]
    fn redirects_keep_the_scheme_and_host() {
        let u = Url::parse("https://h:8443/a").unwrap();
        assert_eq!(u.redirect("/b").unwrap(), "https://h:8443/b");
        assert_eq!(u.redirect("http://x/c").unwrap(), "http://x/c");
        assert!(u.redirect("relative").is_err());
    }
}

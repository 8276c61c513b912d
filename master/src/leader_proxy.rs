//! For the web UI on a standby master whose leader the browser cannot reach: the standby
//! reads one of the leader's public, read-only JSON endpoints over HTTP (at the leader's
//! PID address, which the masters share a network with) and answers it as its own, under
//! `/webui/leader/<path>`. A standby's redirect names the leader's `--hostname`, which a
//! browser outside the cluster's network may not resolve (the Docker demo's `masterN`);
//! the UI then reads the leader's state through the master it was opened on.
//!
//! Only the paths in [`PROXIED`] are forwarded, with `GET`; answers are bounded in size
//! ([`MAX_BODY_BYTES`]) and time ([`PROXY_TIMEOUT`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use libproc::tls::Tls;
use libproc::transport::BoxStream;

use libproc::HttpResponse;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The leader's endpoints the UI reads (paths without the leading `/`).
pub const PROXIED: &[&str] = &["master/state", "roles", "metrics/snapshot"];

/// Largest answer forwarded (the state of a large cluster is a few MB).
pub const MAX_BODY_BYTES: u64 = 64 * 1024 * 1024;

/// Bound on one forwarded request, connection to last byte.
pub const PROXY_TIMEOUT: Duration = Duration::from_secs(10);

/// The leader's path for a route under `webui/leader/`, if it may be forwarded.
pub fn proxied_path(route: &str) -> Option<&'static str> {
    let rest = route.strip_prefix("webui/leader/")?;
    PROXIED.iter().copied().find(|p| *p == rest)
}

/// `GET /<path>` from `addr` (bounded by [`PROXY_TIMEOUT`]), answered as this master's
/// response: the leader's status, type and body, or `502`/`504` saying what failed. Over
/// TLS when this master's node has it (the masters share the `LIBPROCESS_SSL_*` set-up).
pub async fn forward(addr: SocketAddr, path: &'static str, tls: Option<Arc<Tls>>) -> HttpResponse {
    match tokio::time::timeout(PROXY_TIMEOUT, get(addr, path, tls)).await {
        Ok(Ok((status, content_type, body))) => HttpResponse::new(status, &content_type, body),
        Ok(Err(e)) => HttpResponse::text(
            502,
            format!("cannot read /{path} from the leading master at {addr}: {e}\n"),
        ),
        Err(_) => HttpResponse::text(
            504,
            format!(
                "the leading master at {addr} did not answer /{path} within {PROXY_TIMEOUT:?}\n"
            ),
        ),
    }
}

/// One HTTP/1.1 `GET` with `Connection: close`: (status, content type, body).
async fn get(
    addr: SocketAddr,
    path: &str,
    tls: Option<Arc<Tls>>,
) -> Result<(u16, String, Vec<u8>), String> {
    let mut stream: BoxStream = match tls {
        None => Box::new(
            tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| format!("connect: {e}"))?,
        ),
        Some(tls) => tls
            .connect_tcp(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?,
    };
    let request = format!(
        "GET /{path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    stream.flush().await.map_err(|e| format!("write: {e}"))?;
    let mut raw = Vec::new();
    (&mut stream)
        .take(MAX_BODY_BYTES + 64 * 1024)
        .read_to_end(&mut raw)
        .await
        .map_err(|e| format!("read: {e}"))?;
    parse_response(&raw)
}

/// Splits a whole `Connection: close` response; a chunked body is refused (the masters'
/// server sends a `Content-Length`).
fn parse_response(raw: &[u8]) -> Result<(u16, String, Vec<u8>), String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| "headers are not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or("no status line")?;
    let mut content_type = "application/octet-stream".to_string();
    let mut length: Option<usize> = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-type" => content_type = value.to_string(),
            "content-length" => length = value.parse().ok(),
            "transfer-encoding" if !value.eq_ignore_ascii_case("identity") => {
                return Err(format!("unsupported transfer-encoding {value}"))
            }
            _ => {}
        }
    }
    let body = &raw[end + 4..];
    let body = match length {
        Some(n) if body.len() < n => {
            return Err(format!("body cut short ({} of {n} bytes)", body.len()))
        }
        Some(n) => &body[..n],
        None => body,
    };
    Ok((status, content_type, body.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_uis_read_only_endpoints_are_forwarded() {
        assert_eq!(
            proxied_path("webui/leader/master/state"),
            Some("master/state")
        );
        assert_eq!(proxied_path("webui/leader/roles"), Some("roles"));
        for bad in [
            "webui/leader/master/teardown",
            "webui/leader/../master/state",
            "webui/leader/",
            "master/state",
        ] {
            assert_eq!(proxied_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn responses_are_parsed_and_cut_ones_refused() {
        let ok =
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(
            parse_response(ok).unwrap(),
            (200, "application/json".to_string(), b"{}".to_vec())
        );
        let short = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n{}";
        assert!(parse_response(short).is_err());
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
        assert!(parse_response(chunked).is_err());
        assert!(parse_response(b"garbage").is_err());
    }

    #[tokio::test]
    async fn forwards_a_real_http_answer_and_reports_a_dead_leader() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).await.unwrap();
            assert!(buf[..n].starts_with(b"GET /master/state HTTP/1.1\r\n"));
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 13\r\n\r\n{\"id\": \"ldr\"}")
                .await
                .unwrap();
        });
        let r = forward(addr, "master/state", None).await;
        assert_eq!(r.status, 200);
        assert_eq!(&r.body[..], b"{\"id\": \"ldr\"}");
        // Nothing listens there any more.
        assert_eq!(forward(addr, "master/state", None).await.status, 502);
    }
}

#[cfg(test)]
mod tls_tests {
    use super::*;
    use libproc::testing::TestCa;
    use libproc::tls::TlsSetup;
    use libproc::{Node, NodeConfig};

    #[actix_rt::test]
    async fn a_standby_reads_a_tls_leader_over_tls() {
        let dir = std::env::temp_dir().join(format!("leader-proxy-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let files = TestCa::new("cluster CA").issue(&dir, "master");
        let tls = Tls::new(&files.settings()).unwrap();
        let leader = Node::bind(NodeConfig::local().tls(TlsSetup::Enabled(tls.clone())))
            .await
            .unwrap();
        let r = forward(leader.addr(), "metrics/snapshot", Some(tls)).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        // Plain HTTP to a TLS-only leader gets nothing: a 502 saying so.
        assert_eq!(
            forward(leader.addr(), "metrics/snapshot", None)
                .await
                .status,
            502
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

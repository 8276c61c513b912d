//! Readiness checks (`readinessChecks`), run by Marathon itself rather than the executor:
//! one HTTP GET of the check's path on the instance's host and named port, bounded by
//! `timeoutSeconds`, ready when the status is one of `httpStatusCodesForReady`. The core
//! decides which instances to probe ([`crate::core::Core::readiness_probes`]); the shell
//! paces them by `intervalSeconds` ([`Pacer`]) and reports the ready ones back.

use std::collections::BTreeMap;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::core::{ReadinessAnswer, ReadinessProbe};

/// The most of an answer kept (status line, headers and body).
const MAX_ANSWER_BYTES: usize = 16 * 1024;

/// When each instance was last probed: a probe is due `intervalSeconds` after the last.
#[derive(Debug, Default)]
pub struct Pacer {
    last: BTreeMap<String, f64>,
}

impl Pacer {
    /// Of `probes`, the ones due at `now` (marked as probed); forgets instances no longer
    /// probed.
    pub fn due(&mut self, probes: Vec<ReadinessProbe>, now: f64) -> Vec<ReadinessProbe> {
        self.last
            .retain(|task, _| probes.iter().any(|p| &p.task_id == task));
        let mut out = Vec::new();
        for p in probes {
            let due = self
                .last
                .get(&p.task_id)
                .is_none_or(|at| now - at >= p.check.interval_seconds);
            if due {
                self.last.insert(p.task_id.clone(), now);
                out.push(p);
            }
        }
        out
    }
}

/// Runs one probe: `Ok(answer)` if the instance answered (ready or not).
pub async fn probe(p: &ReadinessProbe) -> Result<ReadinessAnswer, String> {
    let limit = libproc::duration::secs_clamped(p.check.timeout_seconds);
    match tokio::time::timeout(limit, status_of(&p.host, p.port, &p.check.path)).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {limit:?}")),
    }
}

/// Whether `status` means ready for the probe's check.
pub fn is_ready(p: &ReadinessProbe, status: u16) -> bool {
    p.check.http_status_codes_for_ready.contains(&status)
}

async fn status_of(host: &str, port: u64, path: &str) -> Result<ReadinessAnswer, String> {
    let port = u16::try_from(port).map_err(|_| format!("port {port} out of range"))?;
    let mut sock = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("{host}:{port}: {e}"))?;
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: marathon-readiness\r\nConnection: close\r\n\r\n"
    );
    sock.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    let mut buf = [0u8; 256];
    while head.len() < MAX_ANSWER_BYTES {
        let n = sock.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
        if complete(&head) {
            // A server keeping the connection open despite `Connection: close`.
            break;
        }
    }
    head.truncate(MAX_ANSWER_BYTES);
    let text = String::from_utf8_lossy(&head);
    let (headers, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = headers.lines();
    let line = lines.next().unwrap_or_default();
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .filter(|_| line.starts_with("HTTP/"))
        .ok_or_else(|| format!("not an HTTP answer from {host}:{port}"))?;
    let content_type = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    Ok(ReadinessAnswer {
        status,
        content_type,
        body: body.to_string(),
    })
}

/// Whether `raw` holds the whole answer by its `Content-Length` (without one, the answer
/// ends when the server closes).
fn complete(raw: &[u8]) -> bool {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&raw[..end]);
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .is_some_and(|len| raw.len() >= end + 4 + len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::ReadinessCheckDef;

    fn probe_of(task: &str, interval: f64) -> ReadinessProbe {
        let check: ReadinessCheckDef = serde_json::from_value(serde_json::json!({
            "portName": "http", "intervalSeconds": interval, "httpStatusCodesForReady": [200, 204]
        }))
        .unwrap();
        ReadinessProbe {
            task_id: task.into(),
            host: "127.0.0.1".into(),
            port: 1,
            check,
        }
    }

    #[test]
    fn probes_are_paced_by_their_interval() {
        let mut p = Pacer::default();
        assert_eq!(
            p.due(vec![probe_of("a", 5.0), probe_of("b", 1.0)], 0.0)
                .len(),
            2
        );
        let due = p.due(vec![probe_of("a", 5.0), probe_of("b", 1.0)], 1.0);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].task_id, "b");
        assert_eq!(p.due(vec![probe_of("a", 5.0)], 5.0).len(), 1);
        assert!(is_ready(&probe_of("a", 1.0), 204));
        assert!(!is_ready(&probe_of("a", 1.0), 503));
    }

    #[tokio::test]
    async fn a_probe_reads_the_status() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf).await;
            s.write_all(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\r\nwarming up",
            )
            .await
            .unwrap();
        });
        let mut p = probe_of("a", 1.0);
        p.port = u64::from(port);
        assert!(complete(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
        assert!(!complete(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok"));
        assert!(!complete(b"HTTP/1.1 200 OK\r\n\r\nok"));
        assert_eq!(
            probe(&p).await,
            Ok(ReadinessAnswer {
                status: 503,
                content_type: "text/plain".into(),
                body: "warming up".into()
            })
        );
        p.port = 70000;
        assert!(probe(&p).await.is_err());
    }
}

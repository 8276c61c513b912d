//! Task health checks run by an executor (Mesos `HealthCheck`, docs/health-checks.md).
//!
//! [`HealthTracker`] is the pure part: it turns probe results into what the executor must
//! do, with Mesos semantics. Failures during the grace period (counted from launch,
//! including the delay) are ignored until the first success; every other failure is
//! reported `healthy = false`; a success is reported when the task was not known healthy
//! (the first success, or after failures); after `consecutive_failures` failures in a row
//! (0: never) the task is to be killed. [`probe`] runs one COMMAND, HTTP or TCP probe
//! (HTTP: `GET http://127.0.0.1:<port><path>`, healthy on 200-399 or the listed
//! statuses; TCP: the connection opens; COMMAND: exit status 0) bounded by the check's
//! timeout. The executor schedules probes: first after `delay_seconds`, then every
//! `interval_seconds` after the previous one finished.

use std::path::Path;
use std::time::Duration;

use proto::{HealthCheck, HealthCheckKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the executor must do after a probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthAction {
    /// Send a `TASK_RUNNING` update with `healthy` set (reason
    /// `REASON_TASK_HEALTH_CHECK_STATUS_UPDATED`).
    Report {
        /// The task's health.
        healthy: bool,
        /// Why (the probe's failure, or "healthy").
        message: String,
    },
    /// Kill the task: it failed too many checks in a row.
    Kill {
        /// Why.
        message: String,
    },
}

/// The health state of one task (pure; see the module docs).
#[derive(Debug, Clone)]
pub struct HealthTracker {
    delay: Duration,
    interval: Duration,
    timeout: Option<Duration>,
    grace: Duration,
    max_failures: u32,
    consecutive: u32,
    succeeded: bool,
    reported: Option<bool>,
    done: bool,
}

fn secs(v: f64) -> Duration {
    libproc::duration::secs_clamped(v)
}

impl HealthTracker {
    /// A tracker for `check` (which should have passed [`HealthCheck::validate`]).
    pub fn new(check: &HealthCheck) -> HealthTracker {
        HealthTracker {
            delay: secs(check.delay_seconds),
            interval: secs(check.interval_seconds),
            timeout: (check.timeout_seconds > 0.0).then(|| secs(check.timeout_seconds)),
            grace: secs(check.grace_period_seconds),
            max_failures: check.consecutive_failures,
            consecutive: 0,
            succeeded: false,
            reported: None,
            done: false,
        }
    }

    /// Time from launch to the first probe.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// Time between the end of a probe and the start of the next.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// A probe's time limit (`None`: unbounded).
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Failures in a row so far.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive
    }

    /// True once the tracker asked for a kill: no more probes.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Feeds the result of a probe that ended `since_launch` after the task started.
    pub fn on_result(
        &mut self,
        since_launch: Duration,
        result: Result<(), String>,
    ) -> Vec<HealthAction> {
        if self.done {
            return vec![];
        }
        match result {
            Ok(()) => {
                self.consecutive = 0;
                self.succeeded = true;
                if self.reported == Some(true) {
                    return vec![];
                }
                self.reported = Some(true);
                vec![HealthAction::Report {
                    healthy: true,
                    message: "healthy".into(),
                }]
            }
            Err(_) if !self.succeeded && since_launch < self.grace => vec![],
            Err(why) => {
                self.consecutive += 1;
                self.reported = Some(false);
                let mut actions = vec![HealthAction::Report {
                    healthy: false,
                    message: why.clone(),
                }];
                if self.max_failures > 0 && self.consecutive >= self.max_failures {
                    self.done = true;
                    actions.push(HealthAction::Kill {
                        message: format!(
                            "Task unhealthy after {} consecutive failed health checks: {why}",
                            self.consecutive
                        ),
                    });
                }
                actions
            }
        }
    }
}

/// Runs one probe of `check` (bounded by its timeout). COMMAND probes run with `sh -c` (or
/// the argv) in `sandbox` with `env` added to the executor's environment.
pub async fn probe(
    check: &HealthCheck,
    sandbox: &Path,
    env: &[(String, String)],
) -> Result<(), String> {
    let tracker = HealthTracker::new(check);
    let run = probe_once(check, sandbox, env);
    match tracker.timeout() {
        Some(t) => tokio::time::timeout(t, run)
            .await
            .unwrap_or_else(|_| Err(format!("health check timed out after {}s", t.as_secs_f64()))),
        None => run.await,
    }
}

async fn probe_once(
    check: &HealthCheck,
    sandbox: &Path,
    env: &[(String, String)],
) -> Result<(), String> {
    match check.kind {
        HealthCheckKind::Tcp => {
            let tcp = check
                .tcp
                .as_ref()
                .ok_or("TCP health check without settings")?;
            let port = port_of(tcp.port)?;
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .map(|_| ())
                .map_err(|e| format!("TCP health check: cannot connect to 127.0.0.1:{port}: {e}"))
        }
        HealthCheckKind::Http => {
            let http = check
                .http
                .as_ref()
                .ok_or("HTTP health check without settings")?;
            let scheme = http.scheme.as_deref().unwrap_or("http");
            if scheme != "http" {
                return Err(format!(
                    "HTTP health check: scheme '{scheme}' is not supported (only http)"
                ));
            }
            let port = port_of(http.port)?;
            let path = http.path.as_deref().unwrap_or("/");
            let path = if path.starts_with('/') {
                path.to_string()
            } else {
                format!("/{path}")
            };
            let url = format!("http://127.0.0.1:{port}{path}");
            let status = http_get_status(port, &path)
                .await
                .map_err(|e| format!("HTTP health check of {url}: {e}"))?;
            if http.is_healthy_status(u32::from(status)) {
                Ok(())
            } else {
                Err(format!("HTTP health check of {url}: status {status}"))
            }
        }
        HealthCheckKind::Command => {
            let command = check
                .command
                .as_ref()
                .ok_or("COMMAND health check without settings")?;
            let value = command
                .value
                .clone()
                .ok_or("COMMAND health check without a command")?;
            let mut cmd = if command.shell {
                let mut c = tokio::process::Command::new("/bin/sh");
                c.arg("-c").arg(&value);
                c
            } else {
                let mut c = tokio::process::Command::new(&value);
                if let Some((arg0, rest)) = command.arguments.split_first() {
                    c.arg0(arg0).args(rest);
                }
                c
            };
            for (k, v) in env {
                cmd.env(k, v);
            }
            for v in &command.environment.variables {
                cmd.env(&v.name, &v.value);
            }
            cmd.current_dir(sandbox)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true);
            let status = cmd
                .status()
                .await
                .map_err(|e| format!("COMMAND health check '{value}' could not run: {e}"))?;
            if status.success() {
                Ok(())
            } else {
                Err(format!("COMMAND health check '{value}' failed: {status}"))
            }
        }
    }
}

fn port_of(port: u32) -> Result<u16, String> {
    u16::try_from(port)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("health check port {port} is not a valid TCP port"))
}

/// `GET path` on 127.0.0.1:`port`; the response's status code.
async fn http_get_status(port: u16, path: &str) -> Result<u16, String> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: mesos-executor\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes())
        .await
        .map_err(|e| format!("cannot send the request: {e}"))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    while !buf.contains(&b'\n') && buf.len() < 8192 {
        let n = s
            .read(&mut chunk)
            .await
            .map_err(|e| format!("cannot read the response: {e}"))?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf);
    let line = text.lines().next().unwrap_or_default();
    let mut parts = line.split_whitespace();
    match (
        parts.next(),
        parts.next().and_then(|c| c.parse::<u16>().ok()),
    ) {
        (Some(v), Some(code)) if v.starts_with("HTTP/") => Ok(code),
        _ => Err(format!("not an HTTP response: '{line}'")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::CommandInfo;

    fn check(grace: f64, failures: u32) -> HealthCheck {
        let mut c = HealthCheck::tcp(1);
        c.grace_period_seconds = grace;
        c.consecutive_failures = failures;
        c
    }

    fn s(x: u64) -> Duration {
        Duration::from_secs(x)
    }

    proptest::proptest! {
        /// A check's numbers come from a scheduler: any f64 gives bounded durations.
        #[test]
        fn any_check_numbers_give_bounded_durations(
            v in proptest::array::uniform4(proptest::num::f64::ANY),
        ) {
            let mut c = HealthCheck::tcp(1);
            c.delay_seconds = v[0];
            c.interval_seconds = v[1];
            c.timeout_seconds = v[2];
            c.grace_period_seconds = v[3];
            let t = HealthTracker::new(&c);
            let max = libproc::duration::MAX_UNTRUSTED_SECS;
            for d in [t.delay, t.interval, t.grace, t.timeout.unwrap_or_default()] {
                proptest::prop_assert!(d.as_secs_f64() <= max);
            }
        }
    }

    fn fail() -> Result<(), String> {
        Err("nope".into())
    }

    fn report(healthy: bool) -> HealthAction {
        HealthAction::Report {
            healthy,
            message: if healthy {
                "healthy".into()
            } else {
                "nope".into()
            },
        }
    }

    #[test]
    fn mesos_defaults() {
        let t = HealthTracker::new(&HealthCheck::tcp(80));
        assert_eq!(
            (t.delay(), t.interval(), t.timeout()),
            (s(15), s(10), Some(s(20)))
        );
        let mut no_timeout = HealthCheck::tcp(80);
        no_timeout.timeout_seconds = 0.0;
        assert_eq!(HealthTracker::new(&no_timeout).timeout(), None);
    }

    #[test]
    fn failures_in_the_grace_period_do_not_count_until_the_first_success() {
        let mut t = HealthTracker::new(&check(10.0, 3));
        assert!(t.on_result(s(1), fail()).is_empty());
        assert!(t.on_result(s(5), fail()).is_empty());
        assert_eq!(t.consecutive_failures(), 0);
        assert_eq!(t.on_result(s(6), Ok(())), vec![report(true)]);
        // After a success the grace period no longer shields failures.
        assert_eq!(t.on_result(s(7), fail()), vec![report(false)]);
        assert_eq!(t.consecutive_failures(), 1);
    }

    #[test]
    fn healthy_is_reported_on_change_and_every_failure_is_reported() {
        let mut t = HealthTracker::new(&check(0.0, 3));
        assert_eq!(t.on_result(s(1), Ok(())), vec![report(true)]);
        assert!(t.on_result(s(2), Ok(())).is_empty(), "no news, no update");
        assert_eq!(t.on_result(s(3), fail()), vec![report(false)]);
        assert_eq!(t.on_result(s(4), fail()), vec![report(false)]);
        assert_eq!(t.on_result(s(5), Ok(())), vec![report(true)]);
        assert_eq!(t.consecutive_failures(), 0, "a success resets the count");
    }

    #[test]
    fn consecutive_failures_kill_once() {
        let mut t = HealthTracker::new(&check(0.0, 3));
        assert_eq!(t.on_result(s(1), fail()), vec![report(false)]);
        assert_eq!(t.on_result(s(2), fail()), vec![report(false)]);
        let last = t.on_result(s(3), fail());
        assert_eq!(last.len(), 2);
        assert_eq!(last[0], report(false));
        match &last[1] {
            HealthAction::Kill { message } => {
                assert!(message.contains("3 consecutive"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        assert!(t.is_done());
        assert!(t.on_result(s(4), fail()).is_empty());
        assert!(t.on_result(s(5), Ok(())).is_empty());
        // 0 never kills.
        let mut never = HealthTracker::new(&check(0.0, 0));
        for i in 0..10 {
            assert_eq!(never.on_result(s(i), fail()), vec![report(false)]);
        }
        assert!(!never.is_done());
    }

    #[test]
    fn grace_period_ends_even_without_a_success() {
        let mut t = HealthTracker::new(&check(2.0, 1));
        assert!(t.on_result(Duration::from_millis(1999), fail()).is_empty());
        let a = t.on_result(s(2), fail());
        assert!(matches!(a.last(), Some(HealthAction::Kill { .. })), "{a:?}");
    }

    #[actix_rt::test]
    async fn probes_of_each_kind() {
        let dir = std::env::temp_dir();
        // TCP and HTTP against a one-shot server answering 204 then 500.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            for status in ["204 No Content", "500 Oops"] {
                let (mut c, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 1024];
                let _ = c.read(&mut buf).await;
                let _ = c
                    .write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes())
                    .await;
            }
        });
        let mut http = HealthCheck::http(u32::from(port), "health");
        http.timeout_seconds = 5.0;
        assert_eq!(probe(&http, &dir, &[]).await, Ok(()));
        let err = probe(&http, &dir, &[]).await.unwrap_err();
        assert!(err.contains("status 500"), "{err}");
        server.await.unwrap();
        // Nothing listens there any more.
        let err = probe(&http, &dir, &[]).await.unwrap_err();
        assert!(err.contains("cannot connect"), "{err}");
        let err = probe(&HealthCheck::tcp(u32::from(port)), &dir, &[])
            .await
            .unwrap_err();
        assert!(err.contains("TCP health check"), "{err}");
        let err = probe(&HealthCheck::tcp(70000), &dir, &[])
            .await
            .unwrap_err();
        assert!(err.contains("not a valid TCP port"), "{err}");

        let ok = HealthCheck::command(CommandInfo::shell("test \"$X\" = yes"));
        assert_eq!(
            probe(&ok, &dir, &[("X".into(), "yes".into())]).await,
            Ok(())
        );
        let err = probe(&ok, &dir, &[]).await.unwrap_err();
        assert!(err.contains("failed"), "{err}");
        let mut slow = HealthCheck::command(CommandInfo::shell("sleep 5"));
        slow.timeout_seconds = 0.2;
        let err = probe(&slow, &dir, &[]).await.unwrap_err();
        assert!(err.contains("timed out"), "{err}");
    }
}

//! Health checks run by the executor against a task (Mesos `HealthCheck`).
//!
//! Defaults follow Mesos: delay 15 s, interval 10 s, timeout 20 s,
//! 3 consecutive failures, grace period 10 s.

use crate::command::CommandInfo;
use serde::{Deserialize, Serialize};

/// Which kind of probe to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HealthCheckKind {
    /// Run a command; exit code 0 is healthy.
    #[serde(rename = "COMMAND")]
    Command,
    /// HTTP GET on 127.0.0.1; 200-399 is healthy unless `statuses` is given.
    #[serde(rename = "HTTP")]
    Http,
    /// TCP connect to 127.0.0.1.
    #[serde(rename = "TCP")]
    Tcp,
}

/// Settings of an HTTP probe.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HttpCheck {
    /// `http` or `https` (default `http`).
    #[serde(default)]
    pub scheme: Option<String>,
    /// Port to probe.
    pub port: u32,
    /// Request path (default `/`).
    #[serde(default)]
    pub path: Option<String>,
    /// Status codes counted as healthy; empty means 200-399.
    #[serde(default)]
    pub statuses: Vec<u32>,
}

impl HttpCheck {
    /// True if `status` counts as healthy.
    pub fn is_healthy_status(&self, status: u32) -> bool {
        if self.statuses.is_empty() {
            (200..400).contains(&status)
        } else {
            self.statuses.contains(&status)
        }
    }
}

/// Settings of a TCP probe.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TcpCheck {
    /// Port to connect to.
    pub port: u32,
}

/// Settings of a command probe.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CommandCheck {
    /// The command to run.
    pub command: CommandInfo,
}

fn d15() -> f64 {
    15.0
}
fn d10() -> f64 {
    10.0
}
fn d20() -> f64 {
    20.0
}
fn d3() -> u32 {
    3
}

/// A health check with Mesos semantics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// The probe kind (Mesos JSON field `type`).
    #[serde(alias = "type")]
    pub kind: HealthCheckKind,
    /// Seconds to wait after launch before the first probe (default 15).
    #[serde(default = "d15")]
    pub delay_seconds: f64,
    /// Seconds between probes (default 10).
    #[serde(default = "d10")]
    pub interval_seconds: f64,
    /// Seconds before a probe is a failure; 0 means no timeout (default 20).
    #[serde(default = "d20")]
    pub timeout_seconds: f64,
    /// Consecutive failures after which the task is killed (default 3).
    #[serde(default = "d3")]
    pub consecutive_failures: u32,
    /// Seconds from launch during which failures are ignored until the
    /// first success (default 10).
    #[serde(default = "d10")]
    pub grace_period_seconds: f64,
    /// HTTP settings when `kind` is HTTP.
    #[serde(default)]
    pub http: Option<HttpCheck>,
    /// TCP settings when `kind` is TCP.
    #[serde(default)]
    pub tcp: Option<TcpCheck>,
    /// Command settings when `kind` is COMMAND.
    #[serde(default)]
    pub command: Option<CommandInfo>,
}

impl HealthCheck {
    fn with_kind(kind: HealthCheckKind) -> Self {
        HealthCheck {
            kind,
            delay_seconds: d15(),
            interval_seconds: d10(),
            timeout_seconds: d20(),
            consecutive_failures: d3(),
            grace_period_seconds: d10(),
            http: None,
            tcp: None,
            command: None,
        }
    }

    /// A command check with Mesos defaults.
    pub fn command(command: CommandInfo) -> Self {
        HealthCheck {
            command: Some(command),
            ..Self::with_kind(HealthCheckKind::Command)
        }
    }

    /// An HTTP check of `path` on `port` with Mesos defaults.
    pub fn http(port: u32, path: impl Into<String>) -> Self {
        HealthCheck {
            http: Some(HttpCheck {
                scheme: None,
                port,
                path: Some(path.into()),
                statuses: Vec::new(),
            }),
            ..Self::with_kind(HealthCheckKind::Http)
        }
    }

    /// A TCP check of `port` with Mesos defaults.
    pub fn tcp(port: u32) -> Self {
        HealthCheck {
            tcp: Some(TcpCheck { port }),
            ..Self::with_kind(HealthCheckKind::Tcp)
        }
    }

    /// Returns an error message if the settings for `kind` are missing or a
    /// duration is negative or not finite.
    pub fn validate(&self) -> Result<(), String> {
        let present = match self.kind {
            HealthCheckKind::Command => self.command.is_some(),
            HealthCheckKind::Http => self.http.is_some(),
            HealthCheckKind::Tcp => self.tcp.is_some(),
        };
        if !present {
            return Err(format!(
                "health check of type {:?} is missing its {:?} settings",
                self.kind, self.kind
            ));
        }
        for (name, v) in [
            ("delay_seconds", self.delay_seconds),
            ("interval_seconds", self.interval_seconds),
            ("timeout_seconds", self.timeout_seconds),
            ("grace_period_seconds", self.grace_period_seconds),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(format!(
                    "health check {name} must be a finite number >= 0, got {v}"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let h: HealthCheck = serde_json::from_str(r#"{"kind":"TCP","tcp":{"port":80}}"#).unwrap();
        assert_eq!(h, HealthCheck::tcp(80));
        assert_eq!(
            (h.delay_seconds, h.interval_seconds, h.timeout_seconds),
            (15.0, 10.0, 20.0)
        );
        assert_eq!((h.consecutive_failures, h.grace_period_seconds), (3, 10.0));
        assert!(h.validate().is_ok());
        let mut bad = HealthCheck::http(8080, "/health");
        bad.http = None;
        assert!(bad.validate().unwrap_err().contains("missing"));
        let mut neg = HealthCheck::command(CommandInfo::shell("true"));
        neg.interval_seconds = -1.0;
        assert!(neg.validate().unwrap_err().contains("interval_seconds"));
        let http = HealthCheck::http(1, "/").http.unwrap();
        assert!(http.is_healthy_status(204) && !http.is_healthy_status(404));
    }
}

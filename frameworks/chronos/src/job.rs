//! A job definition as Chronos's REST API spells it (`name`, `command`, `schedule`,
//! `scheduleTimeZone`, `epsilon`, `parents`, …), with Chronos's defaults, and its
//! validation: a bad name, schedule, epsilon or resource is refused with the reason.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::iso8601::{Period, Schedule};

/// A `{ "name": …, "value": … }` pair of `environmentVariables`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvVar {
    /// Name.
    pub name: String,
    /// Value.
    #[serde(default)]
    pub value: String,
}

/// One entry of `fetch` (Chronos 3): a URI for the Mesos fetcher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fetch {
    /// The URI.
    pub uri: String,
    /// Make it executable.
    #[serde(default)]
    pub executable: bool,
    /// Extract archives.
    #[serde(default = "yes")]
    pub extract: bool,
    /// Keep in the fetcher cache.
    #[serde(default)]
    pub cache: bool,
}

fn yes() -> bool {
    true
}
fn default_epsilon() -> String {
    "PT60S".into()
}
fn default_retries() -> u32 {
    2
}
fn default_cpus() -> f64 {
    0.1
}
fn default_mem() -> f64 {
    128.0
}
fn default_disk() -> f64 {
    256.0
}

/// A job as the user defines it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobDef {
    /// Unique name, `[\w.-]+`.
    pub name: String,
    /// The command (a shell line with `shell: true`, else the program).
    #[serde(default)]
    pub command: String,
    /// Run through `/bin/sh -c` (default true); false: `command` with `arguments`.
    #[serde(default = "yes")]
    pub shell: bool,
    /// Arguments (with `shell: false`).
    #[serde(default)]
    pub arguments: Vec<String>,
    /// `R[n]/start/period`; empty for a dependent job.
    #[serde(default)]
    pub schedule: String,
    /// tz database name overriding the start's offset.
    #[serde(default)]
    pub schedule_time_zone: String,
    /// How late a run may still start (ISO 8601 duration).
    #[serde(default = "default_epsilon")]
    pub epsilon: String,
    /// Parents of a dependent job.
    #[serde(default)]
    pub parents: Vec<String>,
    /// How many times a failed run is retried.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Runs may overlap.
    #[serde(default)]
    pub concurrent: bool,
    /// Disabled jobs never run.
    #[serde(default)]
    pub disabled: bool,
    /// Owner e-mail(s).
    #[serde(default)]
    pub owner: String,
    /// Owner name.
    #[serde(default)]
    pub owner_name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// CPUs per run.
    #[serde(default = "default_cpus")]
    pub cpus: f64,
    /// Memory (MB) per run.
    #[serde(default = "default_mem")]
    pub mem: f64,
    /// Disk (MB) per run.
    #[serde(default = "default_disk")]
    pub disk: f64,
    /// Docker container (Chronos's `container` object, passed on as given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<Value>,
    /// URIs to fetch (Chronos 2 style).
    #[serde(default)]
    pub uris: Vec<String>,
    /// URIs to fetch (Chronos 3 style).
    #[serde(default)]
    pub fetch: Vec<Fetch>,
    /// Environment of the command.
    #[serde(default)]
    pub environment_variables: Vec<EnvVar>,
    /// Placement constraints (`[["attr", "EQUALS"|"LIKE"|"UNLIKE", "value"]]`).
    #[serde(default)]
    pub constraints: Vec<Vec<String>>,
    /// User to run as.
    #[serde(default)]
    pub run_as_user: String,
    /// Kill a run after this long (ms; 0 = never).
    #[serde(default)]
    pub max_completion_time: u64,
}

/// A refused job definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `name` is a Chronos job name (`[\w.-]+`).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.' || c == '-')
}

impl JobDef {
    /// Parses a request body; `dependent` is true for `POST /dependency`.
    pub fn from_json(body: &[u8], dependent: bool) -> Result<JobDef, Invalid> {
        let def: JobDef = serde_json::from_slice(body)
            .map_err(|e| Invalid(format!("invalid job definition: {e}")))?;
        def.validate(dependent)?;
        Ok(def)
    }

    /// Checks everything but the parents' existence (the scheduler knows the jobs).
    pub fn validate(&self, dependent: bool) -> Result<(), Invalid> {
        if !valid_name(&self.name) {
            return Err(Invalid(format!(
                "invalid job name '{}': use letters, digits, '_', '.' and '-'",
                self.name
            )));
        }
        if self.command.trim().is_empty() && self.container.is_none() {
            return Err(Invalid(format!("job '{}' has no command", self.name)));
        }
        if dependent {
            if self.parents.is_empty() {
                return Err(Invalid(format!(
                    "dependent job '{}' needs at least one parent",
                    self.name
                )));
            }
            if !self.schedule.trim().is_empty() {
                return Err(Invalid(format!(
                    "job '{}': a dependent job has parents, not a schedule",
                    self.name
                )));
            }
            if self.parents.iter().any(|p| p == &self.name) {
                return Err(Invalid(format!(
                    "job '{}' cannot be its own parent",
                    self.name
                )));
            }
        } else {
            if self.schedule.trim().is_empty() {
                return Err(Invalid(format!("job '{}' has no schedule", self.name)));
            }
            self.parsed_schedule()?;
        }
        let epsilon = self.epsilon_period()?;
        if epsilon.approx() < chrono::Duration::zero() {
            return Err(Invalid("epsilon must not be negative".into()));
        }
        for (what, v) in [("cpus", self.cpus), ("mem", self.mem), ("disk", self.disk)] {
            if !v.is_finite() || v < 0.0 {
                return Err(Invalid(format!("{what} must be a number >= 0, not {v}")));
            }
        }
        if self.cpus <= 0.0 || self.mem <= 0.0 {
            return Err(Invalid("cpus and mem must be > 0".into()));
        }
        crate::constraints::parse_all(&self.constraints).map_err(Invalid)?;
        if self.retries > 1000 {
            return Err(Invalid("retries must be at most 1000".into()));
        }
        Ok(())
    }

    /// The schedule, parsed (jobs with parents have none).
    pub fn parsed_schedule(&self) -> Result<Schedule, Invalid> {
        Schedule::parse(&self.schedule, &self.schedule_time_zone)
            .map_err(|e| Invalid(e.to_string()))
    }

    /// The epsilon, parsed.
    pub fn epsilon_period(&self) -> Result<Period, Invalid> {
        if self.epsilon.trim().is_empty() {
            return Ok(Period::default());
        }
        Period::parse(&self.epsilon).map_err(|e| Invalid(format!("epsilon {e}")))
    }

    /// Whether this is a dependent job.
    pub fn is_dependent(&self) -> bool {
        self.schedule.trim().is_empty() && !self.parents.is_empty()
    }

    /// A minimal scheduled job (tests and examples).
    pub fn scheduled(name: &str, command: &str, schedule: &str) -> JobDef {
        let mut d: JobDef = serde_json::from_value(serde_json::json!({"name": name}))
            .unwrap_or_else(|_| unreachable!("every field has a default"));
        d.command = command.into();
        d.schedule = schedule.into();
        d
    }

    /// A minimal dependent job (tests and examples).
    pub fn dependent(name: &str, command: &str, parents: &[&str]) -> JobDef {
        let mut d = JobDef::scheduled(name, command, "");
        d.parents = parents.iter().map(|p| p.to_string()).collect();
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chronos_fields_and_defaults() {
        let d = JobDef::from_json(
            br#"{"name":"j1","command":"echo hi","schedule":"R/2014-09-25T17:22:00Z/PT2M",
                 "owner":"a@b.c","ownerName":"A","scheduleTimeZone":"Europe/Berlin",
                 "environmentVariables":[{"name":"X","value":"1"}],"disabled":false,
                 "async":false,"epsilon":"PT30S"}"#,
            false,
        )
        .unwrap();
        assert_eq!(d.owner_name, "A");
        assert_eq!(d.retries, 2);
        assert!(d.shell);
        assert_eq!(d.environment_variables[0].name, "X");
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["scheduleTimeZone"], "Europe/Berlin");
        assert_eq!(v["ownerName"], "A");
    }

    #[test]
    fn refuses_with_reasons() {
        let bad = |body: &str, dep: bool| JobDef::from_json(body.as_bytes(), dep).unwrap_err().0;
        assert!(bad("{", false).contains("invalid job definition"));
        assert!(bad(
            r#"{"name":"a b","command":"x","schedule":"R//PT1M"}"#,
            false
        )
        .contains("name"));
        assert!(bad(r#"{"name":"a","command":"x","schedule":"R//1M"}"#, false).contains("period"));
        assert!(bad(r#"{"name":"a","command":"x"}"#, false).contains("no schedule"));
        assert!(bad(r#"{"name":"a","command":"x","parents":[]}"#, true).contains("parent"));
        assert!(bad(r#"{"name":"a","command":"x","parents":["a"]}"#, true).contains("own parent"));
        assert!(bad(
            r#"{"name":"a","command":"x","schedule":"R//PT1M","epsilon":"soon"}"#,
            false
        )
        .contains("epsilon"));
        assert!(bad(
            r#"{"name":"a","command":"x","schedule":"R//PT1M","cpus":-1}"#,
            false
        )
        .contains("cpus"));
        assert!(
            bad(r#"{"name":"a","command":"","schedule":"R//PT1M"}"#, false).contains("command")
        );
    }
}

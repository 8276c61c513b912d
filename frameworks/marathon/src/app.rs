//! App definitions: Marathon's `/v2/apps` JSON (field names and defaults), parsing with
//! partial updates, and validation into Marathon's 422 error shape.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::constraints::Constraint;

/// One validation failure: a JSON path and its messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON path such as `/cpus`.
    pub path: String,
    /// What is wrong.
    pub errors: Vec<String>,
}

/// Why a request was refused, rendered as Marathon renders it.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// 400: the body is not JSON of the right shape.
    BadJson(String),
    /// 422: validation failed.
    Invalid(Vec<Violation>),
    /// 404.
    NotFound(String),
    /// 409: the app is locked by deployments (their ids).
    Locked(Vec<String>),
    /// 409: the app already exists (POST).
    Exists(String),
    /// 503: the store could not be written (nothing was changed).
    Unavailable(String),
}

impl ApiError {
    /// A single 422 violation.
    pub fn invalid(path: &str, error: impl Into<String>) -> ApiError {
        ApiError::Invalid(vec![Violation {
            path: path.to_string(),
            errors: vec![error.into()],
        }])
    }

    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadJson(_) => 400,
            ApiError::Invalid(_) => 422,
            ApiError::NotFound(_) => 404,
            ApiError::Locked(_) | ApiError::Exists(_) => 409,
            ApiError::Unavailable(_) => 503,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        match self {
            ApiError::BadJson(m) => json!({
                "message": "Invalid JSON",
                "details": [{"path": "/", "errors": [m]}],
            }),
            ApiError::Invalid(v) => json!({
                "message": "Object is not valid",
                "details": v.iter().map(|v| json!({"path": v.path, "errors": v.errors})).collect::<Vec<_>>(),
            }),
            ApiError::NotFound(m) => json!({ "message": m }),
            ApiError::Locked(ids) => json!({
                "message": format!(
                    "App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/{}'.",
                    ids.first().map(String::as_str).unwrap_or("")
                ),
                "deployments": ids.iter().map(|i| json!({"id": i})).collect::<Vec<_>>(),
            }),
            ApiError::Unavailable(m) | ApiError::Exists(m) => json!({ "message": m }),
        }
    }
}

/// A port of the app (`portDefinitions`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortDefinition {
    /// The service port (0: Marathon assigns one); with `requirePorts`, the host port.
    #[serde(default)]
    pub port: u64,
    /// `tcp` or `udp`.
    #[serde(default = "tcp")]
    pub protocol: String,
    /// Optional name (`$PORT_<NAME>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

fn tcp() -> String {
    "tcp".into()
}

/// A URI to fetch into the sandbox (`fetch`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FetchUri {
    /// The URI.
    pub uri: String,
    /// chmod +x.
    #[serde(default)]
    pub executable: bool,
    /// Extract archives.
    #[serde(default = "yes")]
    pub extract: bool,
    /// Use the fetcher cache.
    #[serde(default)]
    pub cache: bool,
    /// Rename to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_file: Option<String>,
}

fn yes() -> bool {
    true
}

/// A health check (`healthChecks[]`), run by the executor on the agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckDef {
    /// `MESOS_HTTP`, `MESOS_TCP`, `COMMAND` (`HTTP`/`TCP` are run the Mesos way too).
    #[serde(default = "http_protocol")]
    pub protocol: String,
    /// HTTP path.
    #[serde(default = "slash")]
    pub path: String,
    /// Index into the task's ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_index: Option<usize>,
    /// A fixed port instead of `portIndex`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u64>,
    /// `{"value": "..."}` for COMMAND.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandValue>,
    /// Failures ignored for this long after launch (until the first success).
    #[serde(default = "d300")]
    pub grace_period_seconds: f64,
    /// Seconds between probes.
    #[serde(default = "d60")]
    pub interval_seconds: f64,
    /// A probe slower than this failed.
    #[serde(default = "d20")]
    pub timeout_seconds: f64,
    /// Failures in a row after which the task is killed and replaced.
    #[serde(default = "d3")]
    pub max_consecutive_failures: u32,
    /// Seconds before the first probe.
    #[serde(default = "d15")]
    pub delay_seconds: f64,
}

/// `{"value": "cmd"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandValue {
    /// The shell command.
    pub value: String,
}

fn http_protocol() -> String {
    "HTTP".into()
}
fn slash() -> String {
    "/".into()
}
fn d300() -> f64 {
    300.0
}
fn d60() -> f64 {
    60.0
}
fn d20() -> f64 {
    20.0
}
fn d15() -> f64 {
    15.0
}
fn d3() -> u32 {
    3
}

/// A readiness check (`readinessChecks[]`), run by Marathon itself: an HTTP GET on a named
/// port of the instance; a deployment counts the instance only once it answered one of
/// `httpStatusCodesForReady` (after that it stays ready).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadinessCheckDef {
    /// Its name.
    #[serde(default = "readiness_name")]
    pub name: String,
    /// `HTTP` (or `HTTPS`, probed as HTTP here).
    #[serde(default = "http_protocol")]
    pub protocol: String,
    /// HTTP path.
    #[serde(default = "slash")]
    pub path: String,
    /// The `portDefinitions` name to probe.
    #[serde(default = "http_api")]
    pub port_name: String,
    /// Seconds between probes.
    #[serde(default = "d30")]
    pub interval_seconds: f64,
    /// A probe slower than this failed.
    #[serde(default = "d10")]
    pub timeout_seconds: f64,
    /// Statuses meaning ready.
    #[serde(default = "ok_200")]
    pub http_status_codes_for_ready: Vec<u16>,
    /// Keep the last response in `readinessCheckResults`.
    #[serde(default)]
    pub preserve_last_response: bool,
}

fn readiness_name() -> String {
    "readinessCheck".into()
}
fn http_api() -> String {
    "http-api".into()
}
fn d30() -> f64 {
    30.0
}
fn d10() -> f64 {
    10.0
}
fn ok_200() -> Vec<u16> {
    vec![200]
}

/// `upgradeStrategy`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeStrategy {
    /// Fraction of `instances` that must stay healthy during an upgrade.
    #[serde(default = "one")]
    pub minimum_health_capacity: f64,
    /// Fraction of `instances` that may run in excess during an upgrade.
    #[serde(default = "one")]
    pub maximum_over_capacity: f64,
}

fn one() -> f64 {
    1.0
}

impl Default for UpgradeStrategy {
    fn default() -> Self {
        UpgradeStrategy {
            minimum_health_capacity: 1.0,
            maximum_over_capacity: 1.0,
        }
    }
}

/// `unreachableStrategy`: what happens to an instance whose agent is unreachable (its task
/// reported `TASK_UNREACHABLE` or `TASK_LOST`). Marathon's default is `0`/`0`: replaced and
/// forgotten at once (killed if it ever comes back). `"disabled"`: never replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnreachableStrategy {
    /// The instance stays; it is never replaced (Marathon's choice for resident apps).
    Disabled,
    /// Replaced after `inactive_after_seconds`, forgotten after `expunge_after_seconds`;
    /// back before that, the surplus instance is killed (by `killSelection`).
    Enabled {
        /// Seconds unreachable before a replacement launches.
        inactive_after_seconds: i64,
        /// Seconds unreachable before the instance is forgotten (killed if it returns).
        expunge_after_seconds: i64,
    },
}

impl Default for UnreachableStrategy {
    fn default() -> Self {
        UnreachableStrategy::Enabled {
            inactive_after_seconds: 0,
            expunge_after_seconds: 0,
        }
    }
}

impl UnreachableStrategy {
    /// Whether an unreachable instance is kept (not forgotten at once).
    pub fn keeps(&self) -> bool {
        match self {
            UnreachableStrategy::Disabled => true,
            UnreachableStrategy::Enabled {
                expunge_after_seconds,
                ..
            } => *expunge_after_seconds > 0,
        }
    }
}

impl Serialize for UnreachableStrategy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            UnreachableStrategy::Disabled => s.serialize_str("disabled"),
            UnreachableStrategy::Enabled {
                inactive_after_seconds,
                expunge_after_seconds,
            } => json!({
                "inactiveAfterSeconds": inactive_after_seconds,
                "expungeAfterSeconds": expunge_after_seconds,
            })
            .serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for UnreachableStrategy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let v = Value::deserialize(d)?;
        if v.as_str() == Some("disabled") {
            return Ok(UnreachableStrategy::Disabled);
        }
        let Value::Object(m) = &v else {
            return Err(D::Error::custom(
                "unreachableStrategy must be \"disabled\" or an object",
            ));
        };
        let field = |name: &str| -> Result<i64, D::Error> {
            match m.get(name) {
                None | Some(Value::Null) => Ok(0),
                Some(x) => x
                    .as_i64()
                    .or_else(|| {
                        // `3.0` is a whole number of seconds too.
                        x.as_f64()
                            .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                            .map(|f| f as i64)
                    })
                    .ok_or_else(|| {
                        D::Error::custom(format!("unreachableStrategy.{name} must be an integer"))
                    }),
            }
        };
        Ok(UnreachableStrategy::Enabled {
            inactive_after_seconds: field("inactiveAfterSeconds")?,
            expunge_after_seconds: field("expungeAfterSeconds")?,
        })
    }
}

/// Which instances go first on a scale-down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum KillSelection {
    /// The most recently started first (Marathon's default).
    #[default]
    #[serde(rename = "YOUNGEST_FIRST")]
    YoungestFirst,
    /// The longest running first.
    #[serde(rename = "OLDEST_FIRST")]
    OldestFirst,
}

/// An app definition: the intent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppDef {
    /// Absolute path id, e.g. `/group/app`.
    #[serde(default)]
    pub id: String,
    /// Shell command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    /// argv (no shell).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    /// Run as this user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Environment.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// How many instances to run.
    #[serde(default = "one_i64")]
    pub instances: i64,
    /// CPUs per instance.
    #[serde(default = "one")]
    pub cpus: f64,
    /// MiB per instance.
    #[serde(default = "d128")]
    pub mem: f64,
    /// Disk MiB per instance.
    #[serde(default)]
    pub disk: f64,
    /// GPUs per instance (must be 0 here).
    #[serde(default)]
    pub gpus: f64,
    /// Placement constraints `[field, OP, value?]`.
    #[serde(default)]
    pub constraints: Vec<Vec<String>>,
    /// URIs to fetch.
    #[serde(default)]
    pub fetch: Vec<FetchUri>,
    /// Ports.
    #[serde(default = "default_ports")]
    pub port_definitions: Vec<PortDefinition>,
    /// Host ports must equal the declared ports.
    #[serde(default)]
    pub require_ports: bool,
    /// Health checks (at most one is run by the executor).
    #[serde(default)]
    pub health_checks: Vec<HealthCheckDef>,
    /// Readiness checks (Marathon-side; at most one).
    #[serde(default)]
    pub readiness_checks: Vec<ReadinessCheckDef>,
    /// Rolling upgrade bounds.
    #[serde(default)]
    pub upgrade_strategy: UpgradeStrategy,
    /// First launch delay after a failure.
    #[serde(default = "one")]
    pub backoff_seconds: f64,
    /// Delay multiplier per failure.
    #[serde(default = "d115")]
    pub backoff_factor: f64,
    /// Delay cap.
    #[serde(default = "d300")]
    pub max_launch_delay_seconds: f64,
    /// Scale-down order.
    #[serde(default)]
    pub kill_selection: KillSelection,
    /// What happens to instances on unreachable agents.
    #[serde(default)]
    pub unreachable_strategy: UnreachableStrategy,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Apps that must be running first.
    #[serde(default)]
    pub dependencies: Vec<String>,
    /// SIGTERM to SIGKILL window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_kill_grace_period_seconds: Option<f64>,
    /// Container (`{"type": "DOCKER", "docker": {"image": ...}}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<Value>,
}

fn one_i64() -> i64 {
    1
}
fn d128() -> f64 {
    128.0
}
fn d115() -> f64 {
    1.15
}
fn default_ports() -> Vec<PortDefinition> {
    vec![PortDefinition {
        port: 0,
        protocol: tcp(),
        name: None,
        labels: BTreeMap::new(),
    }]
}

/// Fields a client may send back that are computed by Marathon (ignored on input).
const READ_ONLY: &[&str] = &[
    "version",
    "versionInfo",
    "tasks",
    "tasksRunning",
    "tasksStaged",
    "tasksHealthy",
    "tasksUnhealthy",
    "deployments",
    "lastTaskFailure",
    "taskStats",
    "readinessCheckResults",
];

/// Normalises an app id: absolute, no trailing slash.
pub fn normalize_id(id: &str) -> String {
    let trimmed = id.trim().trim_matches('/');
    format!("/{trimmed}")
}

/// Checks an app id's segments (Marathon: lower-case letters, digits, `-`, `.`; no empty
/// segment; `.`/`..` only as relative markers, which we refuse).
fn id_ok(id: &str) -> bool {
    let body = id.trim_start_matches('/');
    !body.is_empty()
        && body.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
                && !seg.starts_with('-')
                && !seg.ends_with('-')
        })
}

/// Parses a request body into JSON.
pub fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::BadJson(e.to_string()))
}

/// Builds an app from a JSON object, on top of `base` (a partial update) if given, then
/// validates it. `path_id` (from the URL) wins over the body's id.
pub fn from_json(
    body: &Value,
    base: Option<&AppDef>,
    path_id: Option<&str>,
) -> Result<AppDef, ApiError> {
    let Value::Object(given) = body else {
        return Err(ApiError::BadJson("an app must be a JSON object".into()));
    };
    let mut merged: Map<String, Value> = match base {
        Some(b) => match serde_json::to_value(b) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        },
        None => Map::new(),
    };
    for (k, v) in given {
        if READ_ONLY.contains(&k.as_str()) || v.is_null() {
            continue;
        }
        merged.insert(k.clone(), v.clone());
    }
    // Legacy `ports: [..]` become port definitions.
    if let Some(Value::Array(ports)) = merged.remove("ports") {
        if !given.contains_key("portDefinitions") {
            let defs: Vec<Value> = ports.iter().map(|p| json!({"port": p})).collect();
            merged.insert("portDefinitions".into(), Value::Array(defs));
        }
    }
    // Legacy `uris: [..]` become fetch URIs.
    if let Some(Value::Array(uris)) = merged.remove("uris") {
        if !given.contains_key("fetch") && !uris.is_empty() {
            let defs: Vec<Value> = uris.iter().map(|u| json!({"uri": u})).collect();
            merged.insert("fetch".into(), Value::Array(defs));
        }
    }
    // A switch between cmd and args clears the other.
    if given.contains_key("cmd") && !given.contains_key("args") {
        merged.remove("args");
    }
    if given.contains_key("args") && !given.contains_key("cmd") {
        merged.remove("cmd");
    }
    // Constraints arrive as lists of strings (values may be numbers in the wild).
    if let Some(Value::Array(cs)) = merged.get_mut("constraints") {
        for c in cs.iter_mut() {
            if let Value::Array(parts) = c {
                for p in parts.iter_mut() {
                    if let Value::Number(n) = p {
                        *p = Value::String(n.to_string());
                    }
                }
            }
        }
    }
    if let Some(id) = path_id {
        merged.insert("id".into(), Value::String(id.to_string()));
    }
    let mut app: AppDef = serde_json::from_value(Value::Object(merged))
        .map_err(|e| ApiError::invalid("/", format!("{e}")))?;
    app.id = normalize_id(&app.id);
    validate(&app)?;
    Ok(app)
}

/// `x >= min`, false for NaN.
fn at_least(x: f64, min: f64) -> bool {
    x >= min
}

/// Marathon's validation rules for the fields we support.
pub fn validate(app: &AppDef) -> Result<(), ApiError> {
    let mut v = Vec::new();
    let mut bad = |path: &str, e: &str| {
        v.push(Violation {
            path: path.into(),
            errors: vec![e.into()],
        })
    };
    if !id_ok(&app.id) {
        bad(
            "/id",
            "must fully match regular expression '^(([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])\\.)*([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])|(\\.|\\.\\.)$'",
        );
    }
    let has_image = app
        .container
        .as_ref()
        .and_then(|c| c.pointer("/docker/image"))
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty());
    match (&app.cmd, &app.args) {
        (Some(_), Some(_)) => bad(
            "/",
            "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'.",
        ),
        (None, None) if !has_image => bad(
            "/",
            "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'.",
        ),
        (Some(c), None) if c.trim().is_empty() => bad("/cmd", "must not be empty"),
        _ => {}
    }
    if !at_least(app.cpus, 0.001) || !app.cpus.is_finite() {
        bad(
            "/cpus",
            &format!("got {}, expected 0.001 or more", app.cpus),
        );
    }
    if !at_least(app.mem, 0.0) || !app.mem.is_finite() {
        bad("/mem", "must be 0 or more");
    }
    if !at_least(app.disk, 0.0) || !app.disk.is_finite() {
        bad("/disk", "must be 0 or more");
    }
    if app.gpus != 0.0 {
        bad("/gpus", "GPUs are not supported by this scheduler");
    }
    if app.instances < 0 {
        bad(
            "/instances",
            &format!("got {}, expected 0 or more", app.instances),
        );
    }
    let us = app.upgrade_strategy;
    if !(0.0..=1.0).contains(&us.minimum_health_capacity) {
        bad(
            "/upgradeStrategy/minimumHealthCapacity",
            "is greater than 1 or less than 0",
        );
    }
    if !(0.0..=1.0).contains(&us.maximum_over_capacity) {
        bad(
            "/upgradeStrategy/maximumOverCapacity",
            "is greater than 1 or less than 0",
        );
    }
    if !at_least(app.backoff_seconds, 0.0) {
        bad("/backoffSeconds", "must be 0 or more");
    }
    if !at_least(app.backoff_factor, 1.0) {
        bad("/backoffFactor", "must be 1 or more");
    }
    if !at_least(app.max_launch_delay_seconds, 0.0) {
        bad("/maxLaunchDelaySeconds", "must be 0 or more");
    }
    if let UnreachableStrategy::Enabled {
        inactive_after_seconds: inactive,
        expunge_after_seconds: expunge,
    } = app.unreachable_strategy
    {
        if inactive < 0 {
            bad(
                "/unreachableStrategy/inactiveAfterSeconds",
                &format!("got {inactive}, expected 0 or more"),
            );
        }
        if expunge < inactive {
            bad(
                "/unreachableStrategy/expungeAfterSeconds",
                "must be greater than or equal to inactiveAfterSeconds",
            );
        }
    }
    for (i, c) in app.constraints.iter().enumerate() {
        if let Err(e) = Constraint::parse(c) {
            bad(&format!("/constraints({i})"), &e);
        }
    }
    if app.health_checks.len() > 1 {
        bad(
            "/healthChecks",
            "at most one health check is supported per app",
        );
    }
    for (i, h) in app.health_checks.iter().enumerate() {
        let p = format!("/healthChecks({i})");
        match h.protocol.as_str() {
            "MESOS_HTTP" | "HTTP" | "MESOS_TCP" | "TCP" => {
                let idx = h.port_index.unwrap_or(0);
                if h.port.is_none() && idx >= app.port_definitions.len() {
                    bad(&format!("{p}/portIndex"), "Health check port indices must address an element of the ports array or container port mappings.");
                }
            }
            "COMMAND" => {
                if h.command.as_ref().is_none_or(|c| c.value.trim().is_empty()) {
                    bad(
                        &format!("{p}/command"),
                        "is required for COMMAND health checks",
                    );
                }
            }
            other => bad(
                &format!("{p}/protocol"),
                &format!("'{other}' is not supported (use MESOS_HTTP, MESOS_TCP or COMMAND)"),
            ),
        }
        if !at_least(h.interval_seconds, f64::MIN_POSITIVE)
            || !at_least(h.timeout_seconds, f64::MIN_POSITIVE)
            || !at_least(h.grace_period_seconds, 0.0)
            || !at_least(h.delay_seconds, 0.0)
        {
            bad(&p, "intervals and timeouts must be positive");
        }
    }
    if app.readiness_checks.len() > 1 {
        bad(
            "/readinessChecks",
            "at most one readiness check is supported per app",
        );
    }
    for (i, r) in app.readiness_checks.iter().enumerate() {
        let p = format!("/readinessChecks({i})");
        if !matches!(r.protocol.as_str(), "HTTP" | "HTTPS") {
            bad(&format!("{p}/protocol"), "must be HTTP or HTTPS");
        }
        if !app
            .port_definitions
            .iter()
            .any(|pd| pd.name.as_deref() == Some(r.port_name.as_str()))
        {
            bad(
                &format!("{p}/portName"),
                "must be the name of one of the app's portDefinitions",
            );
        }
        if !at_least(r.interval_seconds, f64::MIN_POSITIVE)
            || !at_least(r.timeout_seconds, f64::MIN_POSITIVE)
        {
            bad(&p, "intervals and timeouts must be positive");
        }
        if r.http_status_codes_for_ready.is_empty()
            || r.http_status_codes_for_ready
                .iter()
                .any(|c| !(100..=599).contains(c))
        {
            bad(
                &format!("{p}/httpStatusCodesForReady"),
                "must list HTTP status codes (100-599)",
            );
        }
    }
    let mut names = std::collections::BTreeSet::new();
    for (i, pd) in app.port_definitions.iter().enumerate() {
        if pd.port > 65535 {
            bad(
                &format!("/portDefinitions({i})/port"),
                "must be 65535 or less",
            );
        }
        if !matches!(pd.protocol.as_str(), "tcp" | "udp" | "udp,tcp" | "tcp,udp") {
            bad(
                &format!("/portDefinitions({i})/protocol"),
                "must be tcp or udp",
            );
        }
        if let Some(n) = &pd.name {
            if !names.insert(n.clone()) {
                bad("/portDefinitions", "Port names must be unique.");
            }
        }
    }
    if app.require_ports && app.port_definitions.iter().any(|p| p.port == 0) {
        bad(
            "/portDefinitions",
            "requirePorts needs every port to be non-zero",
        );
    }
    if let Some(c) = &app.container {
        match c.get("type").and_then(Value::as_str) {
            Some("DOCKER") | Some("MESOS") | None => {}
            Some(other) => bad("/container/type", &format!("'{other}' is not supported")),
        }
    }
    for (i, d) in app.dependencies.iter().enumerate() {
        if !id_ok(&normalize_id(d)) {
            bad(&format!("/dependencies({i})"), "is not a valid app id");
        }
    }
    if v.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Invalid(v))
    }
}

/// The definition's identity for rolling restarts: everything but `instances` (a change of
/// `instances` alone is a scale, not an upgrade).
pub fn config_key(app: &AppDef) -> String {
    let mut copy = app.clone();
    copy.instances = 0;
    serde_json::to_string(&copy).unwrap_or_default()
}

/// Formats seconds since the epoch as Marathon's timestamps (`2026-01-02T03:04:05.678Z`).
pub fn iso_time(secs: f64) -> String {
    let ms_total = (secs.max(0.0) * 1000.0).round() as i64;
    let ms = ms_total.rem_euclid(1000);
    let s_total = ms_total.div_euclid(1000);
    let days = s_total.div_euclid(86_400);
    let sod = s_total.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let mut y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    if m <= 2 {
        y += 1;
    }
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_marathon() {
        let app = from_json(&json!({"id": "web", "cmd": "sleep 1"}), None, None).unwrap();
        assert_eq!(app.id, "/web");
        assert_eq!(app.cpus, 1.0);
        assert_eq!(app.mem, 128.0);
        assert_eq!(app.disk, 0.0);
        assert_eq!(app.instances, 1);
        assert_eq!(app.backoff_seconds, 1.0);
        assert_eq!(app.backoff_factor, 1.15);
        assert_eq!(app.max_launch_delay_seconds, 300.0);
        assert_eq!(app.kill_selection, KillSelection::YoungestFirst);
        assert_eq!(app.upgrade_strategy, UpgradeStrategy::default());
        assert_eq!(app.port_definitions.len(), 1);
        let out = serde_json::to_value(&app).unwrap();
        assert_eq!(out["killSelection"], "YOUNGEST_FIRST");
        assert_eq!(out["upgradeStrategy"]["minimumHealthCapacity"], 1.0);
    }

    #[test]
    fn validation_errors_have_marathons_shape() {
        let e = from_json(
            &json!({"id": "Bad_Id", "cpus": 0, "instances": -1, "constraints": [["hostname", "NOPE"]]}),
            None,
            None,
        )
        .unwrap_err();
        assert_eq!(e.status(), 422);
        let body = e.body();
        assert_eq!(body["message"], "Object is not valid");
        let paths: Vec<&str> = body["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["path"].as_str().unwrap())
            .collect();
        for p in ["/id", "/", "/cpus", "/instances", "/constraints(0)"] {
            assert!(paths.contains(&p), "{p} missing in {paths:?}");
        }
        assert_eq!(parse_body(b"{nope").unwrap_err().status(), 400);
        assert_eq!(
            from_json(&json!({"id": "x", "cmd": "a", "cpus": "lots"}), None, None)
                .unwrap_err()
                .status(),
            422
        );
    }

    #[test]
    fn partial_update_keeps_other_fields_and_ignores_read_only() {
        let base = from_json(
            &json!({"id": "/a", "cmd": "run", "mem": 64, "env": {"A": "1"}}),
            None,
            None,
        )
        .unwrap();
        let up = from_json(
            &json!({"instances": 3, "tasksRunning": 9, "version": "x"}),
            Some(&base),
            Some("/a"),
        )
        .unwrap();
        assert_eq!(up.instances, 3);
        assert_eq!(up.mem, 64.0);
        assert_eq!(up.env.get("A").map(String::as_str), Some("1"));
        assert_eq!(
            config_key(&up),
            config_key(&base),
            "a scale is not a config change"
        );
        let up2 = from_json(&json!({"args": ["x"]}), Some(&base), Some("/a")).unwrap();
        assert_eq!(up2.cmd, None, "args replace cmd");
        assert_ne!(config_key(&up2), config_key(&base));
    }

    #[test]
    fn unreachable_strategy_parses_validates_and_renders() {
        let app = from_json(&json!({"id": "a", "cmd": "x"}), None, None).unwrap();
        assert_eq!(app.unreachable_strategy, UnreachableStrategy::default());
        let out = serde_json::to_value(&app).unwrap();
        assert_eq!(
            out["unreachableStrategy"],
            json!({"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0})
        );
        let app = from_json(
            &json!({"id": "a", "cmd": "x", "unreachableStrategy": {"inactiveAfterSeconds": 60, "expungeAfterSeconds": 120}}),
            None,
            None,
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(&app).unwrap()["unreachableStrategy"]["expungeAfterSeconds"],
            120
        );
        let app = from_json(
            &json!({"id": "a", "cmd": "x", "unreachableStrategy": "disabled"}),
            None,
            None,
        )
        .unwrap();
        assert_eq!(app.unreachable_strategy, UnreachableStrategy::Disabled);
        assert_eq!(
            serde_json::to_value(&app).unwrap()["unreachableStrategy"],
            "disabled"
        );
        for bad in [
            json!({"inactiveAfterSeconds": -1, "expungeAfterSeconds": 5}),
            json!({"inactiveAfterSeconds": 10, "expungeAfterSeconds": 5}),
            json!({"inactiveAfterSeconds": "soon"}),
            json!({"inactiveAfterSeconds": 1.5, "expungeAfterSeconds": 9}),
            json!("sometimes"),
            json!(7),
        ] {
            let e = from_json(
                &json!({"id": "a", "cmd": "x", "unreachableStrategy": bad}),
                None,
                None,
            )
            .unwrap_err();
            assert_eq!(e.status(), 422, "{bad}");
        }
    }

    #[test]
    fn iso_times() {
        assert_eq!(iso_time(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_time(1_700_000_000.5), "2023-11-14T22:13:20.500Z");
        assert_eq!(iso_time(951_782_400.0), "2000-02-29T00:00:00.000Z");
    }
}

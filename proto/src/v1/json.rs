//! The JSON mapping of our types as Mesos's v1 APIs carry them (the protobuf JSON of
//! `mesos.proto`): readers that reject bad input with the path of the bad field, and
//! writers for what the master and agent send.

use serde_json::{json, Map, Value};

use super::base64;
use crate::command::{CommandInfo, Environment, EnvironmentVariable, Uri};
use crate::executor::ExecutorInfo;
use crate::framework::{FrameworkCapability, FrameworkInfo};
use crate::labels::{Label, Labels};
use crate::messages::Task;
use crate::offer::{Filters, Offer};
use crate::status::{StatusUuid, TaskStatus};
use crate::task::{KillPolicy, TaskInfo};
use crate::{AgentInfo, AttributeValue, Attributes, MasterInfo, Resources};

/// A field that is missing or malformed, with its path (`accept.operations[0].type`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FieldError(pub String);

type R<T> = Result<T, FieldError>;

fn err<T>(msg: impl Into<String>) -> R<T> {
    Err(FieldError(msg.into()))
}

/// A JSON object being read, with its path for error messages.
#[derive(Debug, Clone)]
pub struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Obj<'a> {
    /// `value` as an object at `path`.
    pub fn new(value: &'a Value, path: &str) -> R<Obj<'a>> {
        match value.as_object() {
            Some(map) => Ok(Obj {
                map,
                path: path.to_owned(),
            }),
            None => err(format!("'{path}' must be a JSON object")),
        }
    }

    /// The path of field `name`.
    pub fn at(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    /// The raw field (absent or `null` is `None`).
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    /// An optional string field.
    pub fn str(&self, name: &str) -> R<Option<&'a str>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => err(format!("'{}' must be a string", self.at(name))),
        }
    }

    /// A required string field.
    pub fn req_str(&self, name: &str) -> R<&'a str> {
        self.str(name)?
            .map_or_else(|| err(format!("'{}' is required", self.at(name))), Ok)
    }

    /// An optional boolean.
    pub fn bool(&self, name: &str) -> R<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => err(format!("'{}' must be true or false", self.at(name))),
        }
    }

    /// An optional finite number (a numeric string is accepted, as protobuf's JSON does).
    pub fn f64(&self, name: &str) -> R<Option<f64>> {
        let v = match self.get(name) {
            None => return Ok(None),
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            Some(_) => None,
        };
        match v {
            Some(x) if x.is_finite() => Ok(Some(x)),
            _ => err(format!("'{}' must be a finite number", self.at(name))),
        }
    }

    /// An optional sub-object.
    pub fn obj(&self, name: &str) -> R<Option<Obj<'a>>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => Obj::new(v, &self.at(name)).map(Some),
        }
    }

    /// An optional array (absent is empty).
    pub fn array(&self, name: &str) -> R<&'a [Value]> {
        match self.get(name) {
            None => Ok(&[]),
            Some(Value::Array(a)) => Ok(a),
            Some(_) => err(format!("'{}' must be an array", self.at(name))),
        }
    }

    /// An optional id field (`{"value": "…"}`).
    pub fn id(&self, name: &str) -> R<Option<String>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => id_value(v, &self.at(name)).map(Some),
        }
    }

    /// A required id field.
    pub fn req_id(&self, name: &str) -> R<String> {
        self.id(name)?
            .map_or_else(|| err(format!("'{}' is required", self.at(name))), Ok)
    }

    /// An optional `bytes` field (base64).
    pub fn bytes(&self, name: &str) -> R<Option<Vec<u8>>> {
        match self.str(name)? {
            None => Ok(None),
            Some(s) => base64::decode(s)
                .map(Some)
                .map_err(|e| FieldError(format!("'{}': {e}", self.at(name)))),
        }
    }
}

/// An id object `{"value": "…"}` (non-empty).
pub fn id_value(v: &Value, path: &str) -> R<String> {
    match v.get("value") {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => err(format!("'{path}' must be an id: {{\"value\": \"…\"}}")),
    }
}

/// An id as JSON.
pub fn id(value: &str) -> Value {
    json!({ "value": value })
}

// ------------------------------------------------------------------ readers

/// Labels: `{"labels": [{"key": …, "value": …}]}`.
pub fn read_labels(o: Option<Obj<'_>>) -> R<Labels> {
    let Some(o) = o else {
        return Ok(Labels::new());
    };
    let mut out = Vec::new();
    for (i, l) in o.array("labels")?.iter().enumerate() {
        let path = format!("{}[{i}]", o.at("labels"));
        let l = Obj::new(l, &path)?;
        out.push(Label {
            key: l.req_str("key")?.to_owned(),
            value: l.str("value")?.map(str::to_owned),
        });
    }
    Ok(Labels(out))
}

/// Resources: the Mesos JSON array.
pub fn read_resources(v: Option<&Value>, path: &str) -> R<Resources> {
    match v {
        None => Ok(Resources::new()),
        Some(v @ Value::Array(_)) => v
            .to_string()
            .parse::<Resources>()
            .map_err(|e| FieldError(format!("'{path}': {e}"))),
        Some(_) => err(format!("'{path}' must be an array of resources")),
    }
}

/// A `FrameworkInfo`.
pub fn read_framework_info(o: Obj<'_>) -> R<FrameworkInfo> {
    let mut f = FrameworkInfo::new(o.req_str("name")?, o.str("user")?.unwrap_or(""));
    f.id = o.id("id")?.map(Into::into);
    f.roles = o
        .array("roles")?
        .iter()
        .map(|r| match r {
            Value::String(s) => Ok(s.clone()),
            _ => err(format!("'{}' must hold strings", o.at("roles"))),
        })
        .collect::<R<_>>()?;
    f.role = o.str("role")?.map(str::to_owned);
    f.failover_timeout = o.f64("failover_timeout")?.unwrap_or(0.0);
    f.checkpoint = o.bool("checkpoint")?.unwrap_or(false);
    f.hostname = o.str("hostname")?.map(str::to_owned);
    f.principal = o.str("principal")?.map(str::to_owned);
    f.webui_url = o.str("webui_url")?.map(str::to_owned);
    for (i, c) in o.array("capabilities")?.iter().enumerate() {
        let path = format!("{}[{i}]", o.at("capabilities"));
        let c = Obj::new(c, &path)?;
        let ty = c.req_str("type")?;
        // Capabilities we do not model are accepted and ignored, as an older Mesos does.
        if let Ok(cap) = serde_json::from_value::<FrameworkCapability>(json!(ty)) {
            f.capabilities.push(cap);
        }
    }
    f.labels = read_labels(o.obj("labels")?)?;
    Ok(f)
}

/// A `CommandInfo`.
pub fn read_command(o: Obj<'_>) -> R<CommandInfo> {
    let mut c = CommandInfo::shell("");
    c.value = o.str("value")?.map(str::to_owned);
    c.shell = o.bool("shell")?.unwrap_or(true);
    c.arguments = o
        .array("arguments")?
        .iter()
        .map(|a| match a {
            Value::String(s) => Ok(s.clone()),
            _ => err(format!("'{}' must hold strings", o.at("arguments"))),
        })
        .collect::<R<_>>()?;
    if let Some(env) = o.obj("environment")? {
        let mut e = Environment::default();
        for (i, v) in env.array("variables")?.iter().enumerate() {
            let path = format!("{}[{i}]", env.at("variables"));
            let v = Obj::new(v, &path)?;
            e.variables.push(EnvironmentVariable {
                name: v.req_str("name")?.to_owned(),
                value: v.str("value")?.unwrap_or("").to_owned(),
            });
        }
        c.environment = e;
    }
    for (i, u) in o.array("uris")?.iter().enumerate() {
        let path = format!("{}[{i}]", o.at("uris"));
        let u = Obj::new(u, &path)?;
        let mut uri = Uri::new(u.req_str("value")?);
        uri.executable = u.bool("executable")?.unwrap_or(false);
        uri.extract = u.bool("extract")?.unwrap_or(true);
        uri.cache = u.bool("cache")?.unwrap_or(false);
        uri.output_file = u.str("output_file")?.map(str::to_owned);
        c.uris.push(uri);
    }
    c.user = o.str("user")?.map(str::to_owned);
    Ok(c)
}

/// An `ExecutorInfo`.
pub fn read_executor(o: Obj<'_>) -> R<ExecutorInfo> {
    let command = match o.obj("command")? {
        Some(c) => read_command(c)?,
        None => return err(format!("'{}' is required", o.at("command"))),
    };
    let mut e = ExecutorInfo::new(o.req_id("executor_id")?.into(), command);
    e.framework_id = o.id("framework_id")?.map(Into::into);
    e.resources = read_resources(o.get("resources"), &o.at("resources"))?;
    e.name = o.str("name")?.map(str::to_owned);
    e.source = o.str("source")?.map(str::to_owned);
    e.labels = read_labels(o.obj("labels")?)?;
    Ok(e)
}

/// A nested message whose serde shape is Mesos's JSON shape.
fn decoded<T: serde::de::DeserializeOwned>(o: &Obj<'_>, name: &str) -> R<Option<T>> {
    match o.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|e| FieldError(format!("'{}': {e}", o.at(name)))),
    }
}

/// A `TaskInfo` (with its container, health check and discovery information).
pub fn read_task_info(o: Obj<'_>) -> R<TaskInfo> {
    let command = o.obj("command")?.map(read_command).transpose()?;
    let executor = o.obj("executor")?.map(read_executor).transpose()?;
    let mut t = TaskInfo::command_task(
        o.req_str("name")?,
        o.req_id("task_id")?.into(),
        o.req_id("agent_id")?.into(),
        read_resources(o.get("resources"), &o.at("resources"))?,
        CommandInfo::shell(""),
    );
    t.command = command;
    t.executor = executor;
    if let Some(k) = o.obj("kill_policy")? {
        let grace = match k.obj("grace_period")? {
            Some(g) => g.f64("nanoseconds")?.map(|n| n / 1e9),
            None => None,
        };
        t.kill_policy = Some(KillPolicy {
            grace_period_secs: grace,
        });
    }
    t.labels = read_labels(o.obj("labels")?)?;
    t.data = o.bytes("data")?;
    t.container = decoded(&o, "container")?;
    t.health_check = decoded(&o, "health_check")?;
    t.discovery = decoded(&o, "discovery")?;
    Ok(t)
}

/// `Filters` (absent: the default).
pub fn read_filters(o: Option<Obj<'_>>) -> R<Filters> {
    match o {
        None => Ok(Filters::default()),
        Some(o) => Ok(match o.f64("refuse_seconds")? {
            Some(s) => Filters::refuse(s),
            None => Filters::default(),
        }),
    }
}

/// A `TaskStatus` (as an executor sends it in UPDATE).
pub fn read_task_status(o: Obj<'_>) -> R<TaskStatus> {
    let state = o
        .req_str("state")?
        .parse()
        .map_err(|e| FieldError(format!("'{}': {e}", o.at("state"))))?;
    let mut s = TaskStatus::new(o.req_id("task_id")?.into(), state);
    s.message = o.str("message")?.map(str::to_owned);
    if let Some(src) = o.str("source")? {
        s.source = Some(
            src.parse()
                .map_err(|e| FieldError(format!("'{}': {e}", o.at("source"))))?,
        );
    }
    if let Some(r) = o.str("reason")? {
        s.reason = Some(
            r.parse()
                .map_err(|e| FieldError(format!("'{}': {e}", o.at("reason"))))?,
        );
    }
    s.agent_id = o.id("agent_id")?.map(Into::into);
    s.executor_id = o.id("executor_id")?.map(Into::into);
    s.healthy = o.bool("healthy")?;
    s.timestamp = o.f64("timestamp")?.unwrap_or(0.0);
    s.uuid = o.bytes("uuid")?.map(|b| read_uuid(&b)).transpose()?;
    s.data = o
        .bytes("data")?
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    s.labels = read_labels(o.obj("labels")?)?;
    Ok(s)
}

/// A status uuid from its 16 bytes.
pub fn read_uuid(bytes: &[u8]) -> R<StatusUuid> {
    <[u8; 16]>::try_from(bytes)
        .map(StatusUuid::from_bytes)
        .map_err(|_| FieldError(format!("a uuid has 16 bytes, not {}", bytes.len())))
}

// ------------------------------------------------------------------ writers

/// Labels as JSON.
pub fn labels(l: &Labels) -> Value {
    let list: Vec<Value> = l
        .iter()
        .map(|l| match &l.value {
            Some(v) => json!({"key": l.key, "value": v}),
            None => json!({"key": l.key}),
        })
        .collect();
    json!({ "labels": list })
}

/// Attributes as the Mesos JSON array.
pub fn attributes(a: &Attributes) -> Value {
    let list: Vec<Value> = a
        .iter()
        .map(|a| match &a.value {
            AttributeValue::Text(t) => {
                json!({"name": a.name, "type": "TEXT", "text": {"value": t}})
            }
            AttributeValue::Scalar(s) => {
                json!({"name": a.name, "type": "SCALAR", "scalar": {"value": s.as_f64()}})
            }
            AttributeValue::Ranges(r) => {
                let range: Vec<Value> = r
                    .iter()
                    .map(|x| json!({"begin": x.begin, "end": x.end}))
                    .collect();
                json!({"name": a.name, "type": "RANGES", "ranges": {"range": range}})
            }
            AttributeValue::Set(s) => {
                json!({"name": a.name, "type": "SET", "set": {"item": s}})
            }
        })
        .collect();
    Value::Array(list)
}

/// An `Offer`.
pub fn offer(o: &Offer) -> Value {
    let mut v = json!({
        "id": id(o.id.as_str()),
        "framework_id": id(o.framework_id.as_str()),
        "agent_id": id(o.agent_id.as_str()),
        "hostname": o.hostname,
        "resources": o.resources.to_json_array(),
        "attributes": attributes(&o.attributes),
    });
    if !o.executor_ids.is_empty() {
        let ids: Vec<Value> = o.executor_ids.iter().map(|e| id(e.as_str())).collect();
        v["executor_ids"] = Value::Array(ids);
    }
    v
}

/// A `TaskStatus`.
pub fn task_status(s: &TaskStatus) -> Value {
    let mut v = json!({
        "task_id": id(s.task_id.as_str()),
        "state": s.state.as_str(),
        "timestamp": s.timestamp,
    });
    if let Some(m) = &s.message {
        v["message"] = json!(m);
    }
    if let Some(src) = s.source {
        v["source"] = json!(src.as_str());
    }
    if let Some(r) = s.reason {
        v["reason"] = json!(r.as_str());
    }
    if let Some(a) = &s.agent_id {
        v["agent_id"] = id(a.as_str());
    }
    if let Some(e) = &s.executor_id {
        v["executor_id"] = id(e.as_str());
    }
    if let Some(h) = s.healthy {
        v["healthy"] = json!(h);
    }
    if let Some(u) = &s.uuid {
        v["uuid"] = json!(base64::encode(u.as_bytes()));
    }
    if let Some(d) = &s.data {
        v["data"] = json!(base64::encode(d.as_bytes()));
    }
    if !s.labels.is_empty() {
        v["labels"] = labels(&s.labels);
    }
    v
}

/// A `MasterInfo` (its field names already match).
pub fn master_info(m: &MasterInfo) -> Value {
    serde_json::to_value(m).unwrap_or(Value::Null)
}

/// A `FrameworkInfo`.
pub fn framework_info(f: &FrameworkInfo) -> Value {
    let mut v = json!({
        "name": f.name,
        "user": f.user,
        "failover_timeout": f.failover_timeout,
        "checkpoint": f.checkpoint,
    });
    if let Some(i) = &f.id {
        v["id"] = id(i.as_str());
    }
    if !f.roles.is_empty() {
        v["roles"] = json!(f.roles);
    }
    for (k, x) in [
        ("role", &f.role),
        ("hostname", &f.hostname),
        ("principal", &f.principal),
        ("webui_url", &f.webui_url),
    ] {
        if let Some(x) = x {
            v[k] = json!(x);
        }
    }
    if !f.capabilities.is_empty() {
        let caps: Vec<Value> = f
            .capabilities
            .iter()
            .map(|c| json!({ "type": serde_json::to_value(c).unwrap_or(Value::Null) }))
            .collect();
        v["capabilities"] = Value::Array(caps);
    }
    if !f.labels.is_empty() {
        v["labels"] = labels(&f.labels);
    }
    v
}

/// A `CommandInfo`.
pub fn command(c: &CommandInfo) -> Value {
    let mut v = json!({ "shell": c.shell });
    if let Some(x) = &c.value {
        v["value"] = json!(x);
    }
    if !c.arguments.is_empty() {
        v["arguments"] = json!(c.arguments);
    }
    if !c.environment.is_empty() {
        let vars: Vec<Value> = c
            .environment
            .variables
            .iter()
            .map(|e| json!({"name": e.name, "type": "VALUE", "value": e.value}))
            .collect();
        v["environment"] = json!({ "variables": vars });
    }
    if !c.uris.is_empty() {
        let uris: Vec<Value> = c
            .uris
            .iter()
            .map(|u| {
                let mut x = json!({"value": u.value, "executable": u.executable,
                    "extract": u.extract, "cache": u.cache});
                if let Some(o) = &u.output_file {
                    x["output_file"] = json!(o);
                }
                x
            })
            .collect();
        v["uris"] = Value::Array(uris);
    }
    if let Some(u) = &c.user {
        v["user"] = json!(u);
    }
    v
}

/// An `ExecutorInfo`.
pub fn executor_info(e: &ExecutorInfo) -> Value {
    let mut v = json!({
        "executor_id": id(e.executor_id.as_str()),
        "command": command(&e.command),
        "resources": e.resources.to_json_array(),
    });
    if let Some(f) = &e.framework_id {
        v["framework_id"] = id(f.as_str());
    }
    if let Some(n) = &e.name {
        v["name"] = json!(n);
    }
    if let Some(s) = &e.source {
        v["source"] = json!(s);
    }
    if !e.labels.is_empty() {
        v["labels"] = labels(&e.labels);
    }
    v
}

/// A `TaskInfo`.
pub fn task_info(t: &TaskInfo) -> Value {
    let mut v = json!({
        "name": t.name,
        "task_id": id(t.task_id.as_str()),
        "agent_id": id(t.agent_id.as_str()),
        "resources": t.resources.to_json_array(),
    });
    if let Some(c) = &t.command {
        v["command"] = command(c);
    }
    if let Some(e) = &t.executor {
        v["executor"] = executor_info(e);
    }
    if let Some(k) = &t.kill_policy {
        if let Some(g) = k.grace_period_secs {
            v["kill_policy"] = json!({"grace_period": {"nanoseconds": (g * 1e9) as i64}});
        }
    }
    if !t.labels.is_empty() {
        v["labels"] = labels(&t.labels);
    }
    if let Some(d) = &t.data {
        v["data"] = json!(base64::encode(d));
    }
    v
}

/// An `AgentInfo`.
pub fn agent_info(a: &AgentInfo) -> Value {
    let mut v = json!({
        "hostname": a.hostname,
        "port": a.port,
        "resources": a.resources.to_json_array(),
        "attributes": attributes(&a.attributes),
    });
    if let Some(i) = &a.id {
        v["id"] = id(i.as_str());
    }
    v
}

/// A `Task` as the master and agent operator APIs list it.
pub fn task(t: &Task) -> Value {
    let statuses: Vec<Value> = t.statuses.iter().map(task_status).collect();
    let mut v = json!({
        "name": t.name,
        "task_id": id(t.task_id.as_str()),
        "framework_id": id(t.framework_id.as_str()),
        "agent_id": id(t.agent_id.as_str()),
        "state": t.state.as_str(),
        "resources": t.resources.to_json_array(),
        "statuses": statuses,
    });
    if let Some(e) = &t.executor_id {
        v["executor_id"] = id(e.as_str());
    }
    if let Some(s) = t.status_update_state {
        v["status_update_state"] = json!(s.as_str());
    }
    if let Some(u) = &t.status_update_uuid {
        v["status_update_uuid"] = json!(base64::encode(u.as_bytes()));
    }
    if !t.labels.is_empty() {
        v["labels"] = labels(&t.labels);
    }
    if let Some(r) = &t.role {
        v["role"] = json!(r);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn framework(v: Value) -> R<FrameworkInfo> {
        read_framework_info(Obj::new(&v, "framework_info")?)
    }

    #[test]
    fn reads_a_pymesos_framework_info() {
        let f = framework(json!({
            "user": "root", "name": "py", "failover_timeout": 100,
            "capabilities": [{"type": "GPU_RESOURCES"}, {"type": "SOMETHING_NEW"}],
            "id": {"value": "F-1"}, "hostname": "h", "roles": ["a"]
        }))
        .unwrap();
        assert_eq!(f.name, "py");
        assert_eq!(f.id.unwrap().as_str(), "F-1");
        assert_eq!(f.failover_timeout, 100.0);
        assert_eq!(f.capabilities, vec![FrameworkCapability::GpuResources]);
        assert_eq!(f.roles, vec!["a"]);
        let e = framework(json!({"user": "x"})).unwrap_err();
        assert_eq!(e.0, "'framework_info.name' is required");
        let e = framework(json!({"name": "x", "failover_timeout": "soon"})).unwrap_err();
        assert!(e.0.contains("framework_info.failover_timeout"), "{e}");
    }

    #[test]
    fn task_info_round_trips_through_json() {
        let v = json!({
            "name": "t", "task_id": {"value": "t1"}, "agent_id": {"value": "S1"},
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}},
                          {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}],
            "command": {"value": "echo hi", "environment": {"variables": [{"name": "A", "value": "1"}]}},
            "data": base64::encode(b"payload"),
            "labels": {"labels": [{"key": "k", "value": "v"}]},
        });
        let t = read_task_info(Obj::new(&v, "task").unwrap()).unwrap();
        assert_eq!(t.resources.cpus(), 0.5);
        assert_eq!(
            t.command.as_ref().unwrap().value.as_deref(),
            Some("echo hi")
        );
        assert_eq!(t.data.as_deref(), Some(&b"payload"[..]));
        let again = read_task_info(Obj::new(&task_info(&t), "task").unwrap()).unwrap();
        assert_eq!(again, t);
        let bad = json!({"name": "t", "task_id": {"value": "t1"}, "agent_id": "S1"});
        let e = read_task_info(Obj::new(&bad, "task").unwrap()).unwrap_err();
        assert!(e.0.contains("task.agent_id"), "{e}");
    }

    #[test]
    fn task_info_reads_container_health_check_and_discovery() {
        let v = json!({
            "name": "t", "task_id": {"value": "t1"}, "agent_id": {"value": "S1"},
            "container": {"type": "DOCKER", "docker": {"image": "busybox", "network": "BRIDGE"}},
            "health_check": {"type": "TCP", "tcp": {"port": 80}},
            "discovery": {"visibility": "EXTERNAL", "name": "web",
                          "ports": {"ports": [{"number": 80, "name": "http", "protocol": "tcp"}]}},
        });
        let t = read_task_info(Obj::new(&v, "task").unwrap()).unwrap();
        assert_eq!(t.container.unwrap().docker.unwrap().image, "busybox");
        assert_eq!(t.health_check.unwrap().tcp.unwrap().port, 80);
        assert_eq!(t.discovery.unwrap().name.as_deref(), Some("web"));
        let bad = json!({"name": "t", "task_id": {"value": "t1"}, "agent_id": {"value": "S1"},
                         "discovery": {"visibility": "NOWHERE"}});
        let e = read_task_info(Obj::new(&bad, "task").unwrap()).unwrap_err();
        assert!(e.0.contains("task.discovery"), "{e}");
    }

    #[test]
    fn status_uuid_and_data_are_base64() {
        let mut s = TaskStatus::new("t1".into(), crate::TaskState::Running);
        s.uuid = Some(StatusUuid::from_u128(7));
        s.data = Some("hello".into());
        s.agent_id = Some("S1".into());
        let v = task_status(&s);
        assert_eq!(v["state"], "TASK_RUNNING");
        assert_eq!(v["agent_id"]["value"], "S1");
        let back = read_task_status(Obj::new(&v, "status").unwrap()).unwrap();
        assert_eq!(back, s);
    }

    proptest! {
        #[test]
        fn readers_never_panic(s in "[\\[\\]{}\":,a-z0-9_. -]{0,160}") {
            if let Ok(v) = serde_json::from_str::<Value>(&s) {
                if let Ok(o) = Obj::new(&v, "x") {
                    let _ = read_framework_info(o.clone());
                    let _ = read_task_info(o.clone());
                    let _ = read_task_status(o.clone());
                    let _ = read_executor(o);
                }
            }
        }
    }
}

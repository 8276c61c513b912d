//! Mesos's operator JSON of a task and its statuses, as `/master/state` and the agent's
//! `/state` both show them (Mesos's `model(Task)`): keys Mesos omits when unset are omitted,
//! nested messages in Mesos's protobuf JSON (`type`, `{"value": …}` ids, wrapped lists).

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use crate::messages::Task;
use crate::TaskStatus;

/// Capabilities every agent of ours has (Mesos's `SlaveInfo.Capability` names).
pub const AGENT_CAPABILITIES: &[&str] = &["MULTI_ROLE", "HIERARCHICAL_ROLE"];

/// A serde value with the field `kind` renamed to Mesos's `type` (ours avoids the keyword).
fn with_type_field(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        if let Some(k) = o.remove("kind") {
            o.insert("type".into(), k);
        }
    }
    v
}

/// One status in a task's `statuses`.
pub fn status_json(s: &TaskStatus) -> Value {
    serde_json::to_value(StatusJson(s)).unwrap_or(Value::Null)
}

/// A task; `framework_user` is the user it runs as when its TaskInfo names none.
pub fn task_json(t: &Task, framework_user: Option<&str>) -> Value {
    serde_json::to_value(TaskJson {
        task: t,
        framework_user,
    })
    .unwrap_or(Value::Null)
}

/// [`status_json`] serialized in place, without a value tree. Keys are written in
/// sorted order, as serde_json's maps hold them, so both forms give the same bytes.
pub struct StatusJson<'a>(pub &'a TaskStatus);

impl Serialize for StatusJson<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let s = self.0;
        let mut m = ser.serialize_map(None)?;
        if let Some(c) = &s.container_status {
            m.serialize_entry("container_status", &c.to_json())?;
        }
        if let Some(h) = s.healthy {
            m.serialize_entry("healthy", &h)?;
        }
        if !s.labels.is_empty() {
            m.serialize_entry("labels", &sorted(&s.labels))?;
        }
        // Beyond Mesos's fields: why and from whom, for the web UI's status history.
        if let Some(msg) = &s.message {
            m.serialize_entry("message", msg)?;
        }
        if let Some(r) = s.reason {
            m.serialize_entry("reason", r.as_str())?;
        }
        if let Some(src) = s.source {
            m.serialize_entry("source", src.as_str())?;
        }
        m.serialize_entry("state", s.state.as_str())?;
        m.serialize_entry("timestamp", &s.timestamp)?;
        m.end()
    }
}

/// [`task_json`] serialized in place (keys in sorted order, as [`StatusJson`]).
pub struct TaskJson<'a> {
    /// The task.
    pub task: &'a Task,
    /// The user it runs as when its TaskInfo names none.
    pub framework_user: Option<&'a str>,
}

impl Serialize for TaskJson<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let t = self.task;
        let mut m = ser.serialize_map(None)?;
        if let Some(c) = &t.container {
            let mut c = with_type_field(sorted(c));
            if let Some(d) = c.get_mut("docker") {
                // Mesos drops unset optional Docker fields; `network` is always set.
                if let Some(o) = d.as_object_mut() {
                    o.retain(|_, x| !x.is_null());
                }
            }
            m.serialize_entry("container", &c)?;
        }
        if let Some(d) = &t.discovery {
            m.serialize_entry("discovery", &sorted(d))?;
        }
        let executor = t.executor_id.as_ref().map(|e| e.as_str()).unwrap_or("");
        m.serialize_entry("executor_id", executor)?;
        m.serialize_entry("framework_id", t.framework_id.as_str())?;
        if let Some(h) = &t.health_check {
            m.serialize_entry("health_check", &with_type_field(sorted(h)))?;
        }
        m.serialize_entry("id", t.task_id.as_str())?;
        if !t.labels.is_empty() {
            m.serialize_entry("labels", &sorted(&t.labels))?;
        }
        m.serialize_entry("name", &t.name)?;
        m.serialize_entry("resources", &t.resources.json_map())?;
        if let Some(role) = &t.role {
            m.serialize_entry("role", role)?;
        }
        m.serialize_entry("slave_id", t.agent_id.as_str())?;
        m.serialize_entry("state", t.state.as_str())?;
        if let Some(s) = t.status_update_state {
            m.serialize_entry("status_update_state", s.as_str())?;
        }
        if let Some(u) = t.status_update_uuid {
            m.serialize_entry("status_update_uuid", &Shown(u))?;
        }
        m.serialize_entry("statuses", &seq(t.statuses.iter().map(StatusJson)))?;
        if let Some(u) = t.user.as_deref().or(self.framework_user) {
            m.serialize_entry("user", u)?;
        }
        m.end()
    }
}

/// A value's serde form as a value tree, whose maps serialize with sorted keys (for the
/// rarely set nested messages, which derive `Serialize` in declaration order).
fn sorted<T: Serialize>(x: &T) -> Value {
    serde_json::to_value(x).unwrap_or(Value::Null)
}

/// A value serialized as the string it displays as, without an intermediate `String`.
struct Shown<T>(T);

impl<T: std::fmt::Display> Serialize for Shown<T> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        ser.collect_str(&self.0)
    }
}

/// An iterator serialized as a JSON array without collecting it. Serializing it
/// consumes the iterator (it is taken out of a cell): serialize each `Seq` once.
pub struct Seq<I>(std::cell::Cell<Option<I>>);

/// An iterator to serialize as a JSON array (see [`Seq`]).
pub fn seq<I>(items: I) -> Seq<I> {
    Seq(std::cell::Cell::new(Some(items)))
}

impl<I> Serialize for Seq<I>
where
    I: Iterator,
    I::Item: Serialize,
{
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        ser.collect_seq(self.0.take().into_iter().flatten())
    }
}

/// Reservations per role (Mesos's `reserved_resources`, and with `full` the resource list
/// of `reserved_resources_full`).
pub fn reserved_by_role(total: &crate::Resources, full: bool) -> Value {
    let map: serde_json::Map<String, Value> = total
        .roles()
        .into_iter()
        .map(|role| {
            let r = total.reserved(&role);
            let v = if full {
                r.to_json_array()
            } else {
                r.to_json_map()
            };
            (role, v)
        })
        .collect();
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        AgentId, CommandInfo, ContainerInfo, ContainerStatus, DiscoveryInfo, FrameworkId, Labels,
        Resources, TaskId, TaskInfo, TaskState,
    };

    fn task() -> Task {
        let mut info = TaskInfo::command_task(
            "web",
            TaskId::new("t1"),
            AgentId::new("a1"),
            Resources::new(),
            CommandInfo::shell("true"),
        );
        info.container = Some(ContainerInfo::docker("busybox"));
        info.discovery = Some(DiscoveryInfo {
            name: Some("web".into()),
            ..Default::default()
        });
        Task::from_info(&info, FrameworkId::new("f1"), None)
    }

    #[test]
    fn renders_mesos_keys_and_omits_unset_ones() {
        let mut t = task();
        let mut s = TaskStatus::new(TaskId::new("t1"), TaskState::Running);
        s.container_status = Some(Box::new(ContainerStatus::on_host(None, "10.0.0.7")));
        s.labels = Labels::new().with("k", "v");
        t.statuses.push(s);
        let v = task_json(&t, Some("alice"));
        assert_eq!(v["user"], "alice");
        assert_eq!(v["container"]["type"], "DOCKER");
        assert_eq!(v["container"]["docker"]["image"], "busybox");
        assert_eq!(v["discovery"]["name"], "web");
        assert_eq!(v["discovery"]["visibility"], "FRAMEWORK");
        let st = &v["statuses"][0];
        assert_eq!(
            st["container_status"]["network_infos"][0]["ip_addresses"][0]["ip_address"],
            "10.0.0.7"
        );
        assert_eq!(st["labels"][0]["key"], "k");
        assert!(v.get("health_check").is_none());
        assert!(v.get("labels").is_none());
        assert!(task_json(&t, None).get("user").is_none());
    }
}

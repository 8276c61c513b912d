//! Mesos's operator JSON of a task and its statuses, as `/master/state` and the agent's
//! `/state` both show them (Mesos's `model(Task)`): keys Mesos omits when unset are omitted,
//! nested messages in Mesos's protobuf JSON (`type`, `{"value": …}` ids, wrapped lists).

use serde_json::{json, Value};

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
    let mut v = json!({"state": s.state.as_str(), "timestamp": s.timestamp});
    if let Some(h) = s.healthy {
        v["healthy"] = json!(h);
    }
    if !s.labels.is_empty() {
        v["labels"] = serde_json::to_value(&s.labels).unwrap_or(Value::Null);
    }
    if let Some(c) = &s.container_status {
        v["container_status"] = c.to_json();
    }
    // Beyond Mesos's fields: why and from whom, for the web UI's status history.
    if let Some(r) = s.reason {
        v["reason"] = json!(r.as_str());
    }
    if let Some(src) = s.source {
        v["source"] = json!(src.as_str());
    }
    if let Some(m) = &s.message {
        v["message"] = json!(m);
    }
    v
}

/// A task; `framework_user` is the user it runs as when its TaskInfo names none.
pub fn task_json(t: &Task, framework_user: Option<&str>) -> Value {
    let mut v = json!({
        "id": t.task_id.as_str(),
        "name": t.name,
        "framework_id": t.framework_id.as_str(),
        "executor_id": t.executor_id.as_ref().map(|e| e.as_str()).unwrap_or(""),
        "slave_id": t.agent_id.as_str(),
        "state": t.state.as_str(),
        "resources": t.resources.to_json_map(),
        "statuses": t.statuses.iter().map(status_json).collect::<Vec<_>>(),
    });
    if !t.labels.is_empty() {
        v["labels"] = serde_json::to_value(&t.labels).unwrap_or(Value::Null);
    }
    if let Some(u) = t.user.as_deref().or(framework_user) {
        v["user"] = json!(u);
    }
    if let Some(role) = &t.role {
        v["role"] = json!(role);
    }
    if let Some(s) = t.status_update_state {
        v["status_update_state"] = json!(s.as_str());
    }
    if let Some(u) = t.status_update_uuid {
        v["status_update_uuid"] = json!(u.to_string());
    }
    if let Some(c) = &t.container {
        let mut c = with_type_field(serde_json::to_value(c).unwrap_or(Value::Null));
        if let Some(d) = c.get_mut("docker") {
            // Mesos drops unset optional Docker fields; `network` is always set.
            if let Some(o) = d.as_object_mut() {
                o.retain(|_, x| !x.is_null());
            }
        }
        v["container"] = c;
    }
    if let Some(h) = &t.health_check {
        v["health_check"] = with_type_field(serde_json::to_value(h).unwrap_or(Value::Null));
    }
    if let Some(d) = &t.discovery {
        v["discovery"] = serde_json::to_value(d).unwrap_or(Value::Null);
    }
    v
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

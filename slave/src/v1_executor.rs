//! The v1 executor API's calls and events in JSON (`POST /api/v1/executor`):
//! [`decode_call`] turns a request body into the message the agent's core already handles
//! from a libprocess executor, and [`event`] turns what the core sends an executor into
//! the v1 event. The shell's glue is `agent::executor_http`.

use proto::messages::*;
use proto::v1::json::{self as j, FieldError, Obj};
use proto::v1::{base64, recordio};
use proto::{ExecutorId, FrameworkId};
use serde_json::{json, Value};

use crate::agent::ToExecutor;

/// A decoded executor call.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// SUBSCRIBE, with the tasks and updates a re-subscribing executor holds
    /// unacknowledged (Mesos's `Call.Subscribe`): the same message a libprocess executor
    /// re-registers with.
    Subscribe(ReregisterExecutorMessage),
    /// UPDATE: a status update (its `uuid` is required).
    Update(Box<proto::messages::StatusUpdate>),
    /// MESSAGE: data for the scheduler.
    Message {
        /// The framework.
        framework_id: FrameworkId,
        /// The executor.
        executor_id: ExecutorId,
        /// The data.
        data: Vec<u8>,
    },
}

impl Call {
    /// The framework and executor the call is from (always both for a decoded call).
    pub fn ids(&self) -> Option<(&FrameworkId, &ExecutorId)> {
        match self {
            Call::Subscribe(m) => Some((&m.framework_id, &m.executor_id)),
            Call::Update(u) => u.executor_id.as_ref().map(|e| (&u.framework_id, e)),
            Call::Message {
                framework_id,
                executor_id,
                ..
            } => Some((framework_id, executor_id)),
        }
    }
}

/// Decodes a JSON executor call; errors name the bad field.
pub fn decode_call(body: &[u8]) -> Result<Call, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    decode_value(&v).map_err(|e| e.0)
}

fn decode_value(v: &Value) -> Result<Call, FieldError> {
    let o = Obj::new(v, "")?;
    let ty = o.req_str("type")?;
    let framework_id = FrameworkId::new(o.req_id("framework_id")?);
    let executor_id = ExecutorId::new(o.req_id("executor_id")?);
    let sub = |name: &str| {
        o.obj(name)?
            .ok_or_else(|| FieldError(format!("'{name}' is required for {ty}")))
    };
    Ok(match ty {
        "SUBSCRIBE" => {
            let mut tasks = vec![];
            let mut updates = vec![];
            if let Some(s) = o.obj("subscribe")? {
                for (i, t) in s.array("unacknowledged_tasks")?.iter().enumerate() {
                    let at = format!("subscribe.unacknowledged_tasks[{i}]");
                    tasks.push(j::read_task_info(Obj::new(t, &at)?)?);
                }
                for (i, u) in s.array("unacknowledged_updates")?.iter().enumerate() {
                    let at = format!("subscribe.unacknowledged_updates[{i}]");
                    let u = Obj::new(u, &at)?;
                    updates.push(read_update(u, &at, &framework_id, &executor_id)?);
                }
            }
            Call::Subscribe(ReregisterExecutorMessage {
                framework_id,
                executor_id,
                tasks,
                updates,
            })
        }
        "UPDATE" => Call::Update(Box::new(read_update(
            sub("update")?,
            "update",
            &framework_id,
            &executor_id,
        )?)),
        "MESSAGE" => {
            let m = sub("message")?;
            Call::Message {
                framework_id,
                executor_id,
                data: m.bytes("data")?.unwrap_or_default(),
            }
        }
        other => {
            return Err(FieldError(format!(
                "unknown call type '{other}'; expected SUBSCRIBE, UPDATE or MESSAGE"
            )))
        }
    })
}

/// A `Call.Update` (at `at`): its status must carry a uuid.
fn read_update(
    u: Obj<'_>,
    at: &str,
    framework_id: &FrameworkId,
    executor_id: &ExecutorId,
) -> Result<proto::messages::StatusUpdate, FieldError> {
    let s = u
        .obj("status")?
        .ok_or_else(|| FieldError(format!("'{at}.status' is required")))?;
    let status = j::read_task_status(s)?;
    if status.uuid.is_none() {
        return Err(FieldError(format!("'{at}.status.uuid' is required")));
    }
    let timestamp = status.timestamp;
    Ok(proto::messages::StatusUpdate {
        framework_id: framework_id.clone(),
        executor_id: Some(executor_id.clone()),
        agent_id: None,
        status,
        timestamp,
        latest_state: None,
    })
}

/// A v1 event, RecordIO-framed.
pub fn frame(event: &Value) -> bytes::Bytes {
    recordio::encode(event.to_string().as_bytes())
}

/// The event for what the core sends an executor.
pub fn event(msg: &ToExecutor) -> Value {
    match msg {
        ToExecutor::Registered(m) => {
            let mut framework = j::framework_info(&m.framework_info);
            framework["id"] = j::id(m.framework_id.as_str());
            let mut agent = j::agent_info(&m.slave_info);
            agent["id"] = j::id(m.slave_id.as_str());
            let mut executor = j::executor_info(&m.executor_info);
            executor["framework_id"] = j::id(m.framework_id.as_str());
            json!({"type": "SUBSCRIBED", "subscribed": {
                "executor_info": executor,
                "framework_info": framework,
                "agent_info": agent,
            }})
        }
        // Only a libprocess executor re-registers this way (an HTTP executor re-subscribes
        // with SUBSCRIBE); should one get here, it learns the agent it is on.
        ToExecutor::Reregistered(m) => {
            let mut agent = j::agent_info(&m.slave_info);
            agent["id"] = j::id(m.slave_id.as_str());
            json!({"type": "SUBSCRIBED", "subscribed": {"agent_info": agent}})
        }
        ToExecutor::RunTask(m) => {
            json!({"type": "LAUNCH", "launch": {"task": j::task_info(&m.task)}})
        }
        ToExecutor::KillTask(m) => {
            let mut kill = json!({"task_id": j::id(m.task_id.as_str())});
            if let Some(g) = m.kill_policy.as_ref().and_then(|k| k.grace_period_secs) {
                kill["kill_policy"] = json!({"grace_period": {"nanoseconds": (g * 1e9) as i64}});
            }
            json!({"type": "KILL", "kill": kill})
        }
        ToExecutor::Shutdown(_) => json!({"type": "SHUTDOWN"}),
    }
}

/// ACKNOWLEDGED: the agent has the update with this uuid.
pub fn acknowledged(ack: &StatusUpdateAcknowledgementMessage) -> Value {
    json!({"type": "ACKNOWLEDGED", "acknowledged": {
        "task_id": j::id(ack.task_id.as_str()),
        "uuid": base64::encode(ack.uuid.as_bytes()),
    }})
}

/// MESSAGE: data from the scheduler.
pub fn message(m: &FrameworkToExecutorMessage) -> Value {
    json!({"type": "MESSAGE", "message": {"data": base64::encode(&m.data)}})
}

/// HEARTBEAT.
pub fn heartbeat() -> Value {
    json!({"type": "HEARTBEAT"})
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_pymesos_executor_calls() {
        let sub = json!({"type": "SUBSCRIBE", "framework_id": {"value": "F"},
            "executor_id": {"value": "E"},
            "subscribe": {"unacknowledged_tasks": [], "unacknowledged_updates": []}});
        let c = decode_call(sub.to_string().as_bytes()).unwrap();
        assert_eq!(c.ids().unwrap().1.as_str(), "E");
        let upd = json!({"type": "UPDATE", "framework_id": {"value": "F"},
            "executor_id": {"value": "E"}, "update": {"status": {
                "task_id": {"value": "t"}, "state": "TASK_RUNNING", "timestamp": 1,
                "uuid": base64::encode(&[1u8; 16]), "source": "SOURCE_EXECUTOR"}}});
        let Call::Update(u) = decode_call(upd.to_string().as_bytes()).unwrap() else {
            panic!("not an update")
        };
        assert_eq!(u.status.state, proto::TaskState::Running);
        let bad = json!({"type": "UPDATE", "framework_id": {"value": "F"},
            "executor_id": {"value": "E"}, "update": {"status": {
                "task_id": {"value": "t"}, "state": "TASK_RUNNING"}}});
        let e = decode_call(bad.to_string().as_bytes()).unwrap_err();
        assert!(e.contains("uuid"), "{e}");
        let e = decode_call(b"{\"type\":\"SUBSCRIBE\"}").unwrap_err();
        assert!(e.contains("framework_id"), "{e}");
    }

    #[test]
    fn a_resubscription_carries_its_unacknowledged_tasks_and_updates() {
        let task = json!({"name": "t", "task_id": {"value": "t"}, "agent_id": {"value": "S1"},
            "resources": [], "command": {"value": "true"}});
        let update = json!({"status": {"task_id": {"value": "t"}, "state": "TASK_RUNNING",
            "uuid": base64::encode(&[2u8; 16])}});
        let sub = json!({"type": "SUBSCRIBE", "framework_id": {"value": "F"},
            "executor_id": {"value": "E"},
            "subscribe": {"unacknowledged_tasks": [task], "unacknowledged_updates": [update]}});
        let Call::Subscribe(m) = decode_call(sub.to_string().as_bytes()).unwrap() else {
            panic!("not a subscription")
        };
        assert_eq!(m.tasks.len(), 1);
        assert_eq!(m.tasks[0].task_id.as_str(), "t");
        assert_eq!(m.updates.len(), 1);
        assert_eq!(m.updates[0].status.state, proto::TaskState::Running);
        assert_eq!(
            m.updates[0].executor_id.as_ref().map(|e| e.as_str()),
            Some("E")
        );
        assert_eq!(m.updates[0].framework_id.as_str(), "F");
        // An unacknowledged update without its uuid is refused, by its place.
        let bad = json!({"type": "SUBSCRIBE", "framework_id": {"value": "F"},
            "executor_id": {"value": "E"}, "subscribe": {"unacknowledged_updates": [
                {"status": {"task_id": {"value": "t"}, "state": "TASK_RUNNING"}}]}});
        let e = decode_call(bad.to_string().as_bytes()).unwrap_err();
        assert!(
            e.contains("subscribe.unacknowledged_updates[0].status.uuid"),
            "{e}"
        );
    }

    proptest! {
        #[test]
        fn decoding_never_panics(s in "[\\[\\]{}\":,a-zA-Z0-9_. -]{0,200}") {
            let _ = decode_call(s.as_bytes());
        }
    }
}

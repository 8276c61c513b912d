//! The v1 scheduler API's calls and events in JSON: [`decode_call`] turns a request body
//! into the internal message the core already handles (or says what is wrong with it),
//! and [`event`] turns what the core sends a scheduler into the v1 event.

use proto::messages::*;
use proto::v1::json::{self as j, FieldError, Obj};
use proto::v1::{base64, recordio};
use proto::{AgentId, ExecutorId, FrameworkId, FrameworkInfo, OfferOperation, TaskStatus};
use serde_json::{json, Value};

use crate::core::Outbound;

/// A decoded call.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// SUBSCRIBE: the framework, its `id` set when re-subscribing.
    Subscribe(FrameworkInfo),
    /// TEARDOWN.
    Teardown(UnregisterFrameworkMessage),
    /// ACCEPT.
    Accept(AcceptOffersMessage),
    /// DECLINE.
    Decline(DeclineOffersMessage),
    /// REVIVE.
    Revive(ReviveOffersMessage),
    /// SUPPRESS.
    Suppress(SuppressOffersMessage),
    /// KILL.
    Kill(KillTaskMessage),
    /// SHUTDOWN (an executor).
    Shutdown {
        /// The executor.
        executor_id: ExecutorId,
        /// Its agent.
        agent_id: AgentId,
    },
    /// ACKNOWLEDGE.
    Acknowledge(StatusUpdateAcknowledgementMessage),
    /// RECONCILE.
    Reconcile(ReconcileTasksMessage),
    /// MESSAGE (to an executor).
    Message(FrameworkToExecutorMessage),
    /// UPDATE_FRAMEWORK: the new info (its `id` is the call's framework).
    UpdateFramework(FrameworkInfo),
    /// A call accepted and not acted on (REQUEST, the inverse-offer and operation-status
    /// calls): its type.
    Ignored(String),
}

impl Call {
    /// The framework a non-SUBSCRIBE call is for.
    pub fn framework_id(&self) -> Option<&FrameworkId> {
        Some(match self {
            Call::Subscribe(f) => return f.id.as_ref(),
            Call::Teardown(m) => &m.framework_id,
            Call::Accept(m) => &m.framework_id,
            Call::Decline(m) => &m.framework_id,
            Call::Revive(m) => &m.framework_id,
            Call::Suppress(m) => &m.framework_id,
            Call::Kill(m) => &m.framework_id,
            Call::Acknowledge(m) => &m.framework_id,
            Call::Reconcile(m) => &m.framework_id,
            Call::Message(m) => &m.framework_id,
            Call::UpdateFramework(f) => return f.id.as_ref(),
            Call::Shutdown { .. } | Call::Ignored(_) => return None,
        })
    }
}

/// A decoded call with the framework it names.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The top-level `framework_id` (required on every call but SUBSCRIBE).
    pub framework_id: Option<FrameworkId>,
    /// The call.
    pub call: Call,
}

type R<T> = Result<T, FieldError>;

fn missing(what: &str) -> FieldError {
    FieldError(format!("'{what}' is required for this call type"))
}

/// Decodes a JSON call body. Errors say which field is wrong.
pub fn decode_call(body: &[u8]) -> Result<Decoded, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    decode_value(&v).map_err(|e| e.0)
}

fn decode_value(v: &Value) -> R<Decoded> {
    let o = Obj::new(v, "")?;
    let ty = o.req_str("type")?;
    let framework_id = o.id("framework_id")?.map(FrameworkId::new);
    let fid = || framework_id.clone().ok_or_else(|| missing("framework_id"));
    let sub = |name: &str| o.obj(name)?.ok_or_else(|| missing(name));
    let call = match ty {
        "SUBSCRIBE" => {
            let s = sub("subscribe")?;
            let fi = s
                .obj("framework_info")?
                .ok_or_else(|| missing("subscribe.framework_info"))?;
            let mut info = j::read_framework_info(fi)?;
            match (&framework_id, &info.id) {
                (Some(a), Some(b)) if a != b => {
                    return Err(FieldError(format!(
                        "'framework_id' ({a}) differs from 'subscribe.framework_info.id' ({b})"
                    )))
                }
                (Some(a), None) => info.id = Some(a.clone()),
                _ => {}
            }
            Call::Subscribe(info)
        }
        "TEARDOWN" => Call::Teardown(UnregisterFrameworkMessage {
            framework_id: fid()?,
        }),
        "ACCEPT" => {
            let a = sub("accept")?;
            let mut operations = Vec::new();
            for (i, op) in a.array("operations")?.iter().enumerate() {
                operations.push(operation(Obj::new(
                    op,
                    &format!("accept.operations[{i}]"),
                )?)?);
            }
            Call::Accept(AcceptOffersMessage {
                framework_id: fid()?,
                offer_ids: ids(&a, "offer_ids")?,
                operations,
                filters: j::read_filters(a.obj("filters")?)?,
            })
        }
        "DECLINE" => {
            let d = sub("decline")?;
            Call::Decline(DeclineOffersMessage {
                framework_id: fid()?,
                offer_ids: ids(&d, "offer_ids")?,
                filters: j::read_filters(d.obj("filters")?)?,
            })
        }
        "REVIVE" => Call::Revive(ReviveOffersMessage {
            framework_id: fid()?,
            roles: roles(o.obj("revive")?)?,
        }),
        "SUPPRESS" => Call::Suppress(SuppressOffersMessage {
            framework_id: fid()?,
            roles: roles(o.obj("suppress")?)?,
        }),
        "KILL" => {
            let k = sub("kill")?;
            let kill_policy = match k.obj("kill_policy")? {
                Some(p) => Some(proto::KillPolicy {
                    grace_period_secs: match p.obj("grace_period")? {
                        Some(g) => g.f64("nanoseconds")?.map(|n| n / 1e9),
                        None => None,
                    },
                }),
                None => None,
            };
            Call::Kill(KillTaskMessage {
                framework_id: fid()?,
                task_id: k.req_id("task_id")?.into(),
                kill_policy,
            })
        }
        "SHUTDOWN" => {
            let s = sub("shutdown")?;
            fid()?;
            Call::Shutdown {
                executor_id: s.req_id("executor_id")?.into(),
                agent_id: s.req_id("agent_id")?.into(),
            }
        }
        "ACKNOWLEDGE" => {
            let a = sub("acknowledge")?;
            let uuid = a
                .bytes("uuid")?
                .ok_or_else(|| missing("acknowledge.uuid"))?;
            Call::Acknowledge(StatusUpdateAcknowledgementMessage {
                agent_id: a.req_id("agent_id")?.into(),
                framework_id: fid()?,
                task_id: a.req_id("task_id")?.into(),
                uuid: j::read_uuid(&uuid)?,
            })
        }
        "RECONCILE" => {
            let mut statuses = Vec::new();
            if let Some(r) = o.obj("reconcile")? {
                for (i, t) in r.array("tasks")?.iter().enumerate() {
                    let t = Obj::new(t, &format!("reconcile.tasks[{i}]"))?;
                    let mut s =
                        TaskStatus::new(t.req_id("task_id")?.into(), proto::TaskState::Staging);
                    s.agent_id = t.id("agent_id")?.map(Into::into);
                    statuses.push(s);
                }
            }
            Call::Reconcile(ReconcileTasksMessage {
                framework_id: fid()?,
                statuses,
            })
        }
        "MESSAGE" => {
            let m = sub("message")?;
            Call::Message(FrameworkToExecutorMessage {
                agent_id: m.req_id("agent_id")?.into(),
                framework_id: fid()?,
                executor_id: m.req_id("executor_id")?.into(),
                data: m.bytes("data")?.unwrap_or_default(),
            })
        }
        "REQUEST"
        | "ACCEPT_INVERSE_OFFERS"
        | "DECLINE_INVERSE_OFFERS"
        | "ACKNOWLEDGE_OPERATION_STATUS"
        | "RECONCILE_OPERATIONS" => {
            fid()?;
            Call::Ignored(ty.to_owned())
        }
        "UPDATE_FRAMEWORK" => {
            let u = sub("update_framework")?;
            let fi = u
                .obj("framework_info")?
                .ok_or_else(|| missing("update_framework.framework_info"))?;
            let mut info = j::read_framework_info(fi)?;
            let id = fid()?;
            match &info.id {
                Some(given) if *given != id => {
                    return Err(FieldError(format!(
                        "'update_framework.framework_info.id' ({given}) differs from 'framework_id' ({id})"
                    )))
                }
                _ => info.id = Some(id),
            }
            Call::UpdateFramework(info)
        }
        other => {
            return Err(FieldError(format!(
                "unknown call type '{other}'; expected SUBSCRIBE, TEARDOWN, ACCEPT, DECLINE, \
                 REVIVE, SUPPRESS, KILL, SHUTDOWN, ACKNOWLEDGE, RECONCILE, MESSAGE, REQUEST, \
                 ACCEPT_INVERSE_OFFERS, DECLINE_INVERSE_OFFERS, ACKNOWLEDGE_OPERATION_STATUS, \
                 RECONCILE_OPERATIONS or UPDATE_FRAMEWORK"
            )))
        }
    };
    Ok(Decoded { framework_id, call })
}

fn ids<T: From<String>>(o: &Obj<'_>, name: &str) -> R<Vec<T>> {
    o.array(name)?
        .iter()
        .enumerate()
        .map(|(i, v)| j::id_value(v, &format!("{}[{i}]", o.at(name))).map(T::from))
        .collect()
}

fn roles(o: Option<Obj<'_>>) -> R<Vec<String>> {
    let Some(o) = o else { return Ok(Vec::new()) };
    let mut out: Vec<String> = Vec::new();
    for r in o.array("roles")? {
        match r {
            Value::String(s) => out.push(s.clone()),
            _ => return Err(FieldError(format!("'{}' must hold strings", o.at("roles")))),
        }
    }
    if let Some(r) = o.str("role")? {
        out.push(r.to_owned());
    }
    Ok(out)
}

fn operation(o: Obj<'_>) -> R<OfferOperation> {
    let ty = o.req_str("type")?;
    let sub = |name: &str| {
        o.obj(name)?
            .ok_or_else(|| FieldError(format!("'{}' is required for {ty}", o.at(name))))
    };
    let resources = |name: &str, field: &str| -> R<proto::Resources> {
        let s = sub(name)?;
        j::read_resources(s.get(field), &s.at(field))
    };
    Ok(match ty {
        "LAUNCH" => {
            let l = sub("launch")?;
            let mut task_infos = Vec::new();
            for (i, t) in l.array("task_infos")?.iter().enumerate() {
                task_infos.push(j::read_task_info(Obj::new(
                    t,
                    &format!("{}[{i}]", l.at("task_infos")),
                )?)?);
            }
            OfferOperation::Launch { task_infos }
        }
        "LAUNCH_GROUP" => {
            let l = sub("launch_group")?;
            let executor = j::read_executor(
                l.obj("executor")?
                    .ok_or_else(|| missing("launch_group.executor"))?,
            )?;
            let group = l
                .obj("task_group")?
                .ok_or_else(|| missing("launch_group.task_group"))?;
            let mut tasks = Vec::new();
            for (i, t) in group.array("tasks")?.iter().enumerate() {
                tasks.push(j::read_task_info(Obj::new(
                    t,
                    &format!("{}[{i}]", group.at("tasks")),
                )?)?);
            }
            OfferOperation::LaunchGroup {
                executor: Box::new(executor),
                tasks,
            }
        }
        "RESERVE" => OfferOperation::Reserve {
            resources: resources("reserve", "resources")?,
        },
        "UNRESERVE" => OfferOperation::Unreserve {
            resources: resources("unreserve", "resources")?,
        },
        "CREATE" => OfferOperation::Create {
            volumes: resources("create", "volumes")?,
        },
        "DESTROY" => OfferOperation::Destroy {
            volumes: resources("destroy", "volumes")?,
        },
        other => {
            return Err(FieldError(format!(
                "'{}': unknown operation type '{other}'",
                o.at("type")
            )))
        }
    })
}

/// A v1 event as JSON, RecordIO-framed.
pub fn frame(event: &Value) -> bytes::Bytes {
    recordio::encode(event.to_string().as_bytes())
}

/// The HEARTBEAT event.
pub fn heartbeat() -> Value {
    json!({"type": "HEARTBEAT"})
}

/// The v1 event for a message the core sends a scheduler (SUBSCRIBED announces heartbeats
/// every `heartbeat_secs`); `None` for messages that are not for schedulers.
pub fn event(msg: &Outbound, heartbeat_secs: f64) -> Option<Value> {
    Some(match msg {
        Outbound::FrameworkRegisteredMessage(FrameworkRegisteredMessage {
            framework_id,
            master_info,
        })
        | Outbound::FrameworkReregisteredMessage(FrameworkReregisteredMessage {
            framework_id,
            master_info,
        }) => json!({"type": "SUBSCRIBED", "subscribed": {
            "framework_id": j::id(framework_id.as_str()),
            "heartbeat_interval_seconds": heartbeat_secs,
            "master_info": j::master_info(master_info),
        }}),
        Outbound::ResourceOffersMessage(m) => {
            let offers: Vec<Value> = m.offers.iter().map(j::offer).collect();
            json!({"type": "OFFERS", "offers": {"offers": offers}})
        }
        Outbound::RescindResourceOfferMessage(m) => {
            json!({"type": "RESCIND", "rescind": {"offer_id": j::id(m.offer_id.as_str())}})
        }
        Outbound::StatusUpdateMessage(m) => {
            let mut status = m.update.status.clone();
            if status.agent_id.is_none() {
                status.agent_id = m.update.agent_id.clone();
            }
            if status.executor_id.is_none() {
                status.executor_id = m.update.executor_id.clone();
            }
            json!({"type": "UPDATE", "update": {"status": j::task_status(&status)}})
        }
        Outbound::LostSlaveMessage(m) => {
            json!({"type": "FAILURE", "failure": {"agent_id": j::id(m.agent_id.as_str())}})
        }
        Outbound::ExitedExecutorMessage(m) => json!({"type": "FAILURE", "failure": {
            "agent_id": j::id(m.agent_id.as_str()),
            "executor_id": j::id(m.executor_id.as_str()),
            "status": m.status,
        }}),
        Outbound::ExecutorToFrameworkMessage(m) => json!({"type": "MESSAGE", "message": {
            "agent_id": j::id(m.agent_id.as_str()),
            "executor_id": j::id(m.executor_id.as_str()),
            "data": base64::encode(&m.data),
        }}),
        Outbound::FrameworkErrorMessage(m) => {
            json!({"type": "ERROR", "error": {"message": m.message}})
        }
        Outbound::UpdateOperationStatusMessage(m) => {
            let mut status = json!({"state": m.state, "message": m.message});
            if let Some(a) = &m.agent_id {
                status["agent_id"] = j::id(a.as_str());
            }
            json!({"type": "UPDATE_OPERATION_STATUS", "update_operation_status": {"status": status}})
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode(v: Value) -> Result<Decoded, String> {
        decode_call(v.to_string().as_bytes())
    }

    #[test]
    fn decodes_pymesos_calls() {
        let d = decode(json!({"type": "SUBSCRIBE", "subscribe": {"framework_info":
            {"user": "root", "name": "py", "failover_timeout": 100}}}))
        .unwrap();
        assert!(matches!(&d.call, Call::Subscribe(f) if f.name == "py" && f.id.is_none()));
        let d = decode(json!({"type": "SUBSCRIBE", "framework_id": {"value": "F1"},
            "subscribe": {"framework_info": {"user": "root", "name": "py"}}}))
        .unwrap();
        assert!(matches!(&d.call, Call::Subscribe(f) if f.id.as_ref().unwrap().as_str() == "F1"));

        let d = decode(
            json!({"type": "ACCEPT", "framework_id": {"value": "F1"}, "accept": {
            "offer_ids": [{"value": "O1"}],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": [{
                "name": "t", "task_id": {"value": "t1"}, "agent_id": {"value": "S1"},
                "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}}],
                "command": {"value": "true"}}]}}],
            "filters": {"refuse_seconds": 1}}}),
        )
        .unwrap();
        let Call::Accept(a) = d.call else {
            panic!("not an accept")
        };
        assert_eq!(a.offer_ids[0].as_str(), "O1");
        assert_eq!(a.filters.refuse_seconds, 1.0);
        assert!(
            matches!(&a.operations[0], OfferOperation::Launch { task_infos } if task_infos[0].task_id.as_str() == "t1")
        );

        let d = decode(
            json!({"type": "ACKNOWLEDGE", "framework_id": {"value": "F1"},
            "acknowledge": {"agent_id": {"value": "S1"}, "task_id": {"value": "t1"},
            "uuid": base64::encode(&[7u8; 16])}}),
        )
        .unwrap();
        assert!(matches!(d.call, Call::Acknowledge(m) if m.uuid.as_bytes() == &[7u8; 16]));
        let d = decode(json!({"type": "REVIVE", "framework_id": {"value": "F1"}})).unwrap();
        assert!(matches!(d.call, Call::Revive(m) if m.roles.is_empty()));
        let d = decode(json!({"type": "DECLINE_INVERSE_OFFERS", "framework_id": {"value": "F1"}}))
            .unwrap();
        assert_eq!(d.call, Call::Ignored("DECLINE_INVERSE_OFFERS".into()));
        let d = decode(
            json!({"type": "UPDATE_FRAMEWORK", "framework_id": {"value": "F1"},
            "update_framework": {"framework_info": {"name": "new", "user": "u"}}}),
        )
        .unwrap();
        assert!(
            matches!(&d.call, Call::UpdateFramework(f) if f.name == "new" && f.id.as_ref().unwrap().as_str() == "F1")
        );
    }

    #[test]
    fn rejects_bad_calls_with_the_reason() {
        let e = decode_call(b"{nope").unwrap_err();
        assert!(e.contains("not JSON"), "{e}");
        let e = decode(json!({"type": "FLY"})).unwrap_err();
        assert!(e.contains("unknown call type 'FLY'"), "{e}");
        let e = decode(json!({"type": "KILL", "kill": {"task_id": {"value": "t"}}})).unwrap_err();
        assert!(e.contains("'framework_id' is required"), "{e}");
        let e = decode(json!({"type": "ACCEPT", "framework_id": {"value": "F"},
            "accept": {"operations": [{"type": "LAUNCH"}]}}))
        .unwrap_err();
        assert!(e.contains("accept.operations[0].launch"), "{e}");
        let e = decode(json!({"type": "ACKNOWLEDGE", "framework_id": {"value": "F"},
            "acknowledge": {"agent_id": {"value": "S"}, "task_id": {"value": "t"}, "uuid": "AAAA"}}))
        .unwrap_err();
        assert!(e.contains("16 bytes"), "{e}");
        let e = decode(json!({"type": "SUBSCRIBE", "framework_id": {"value": "A"},
            "subscribe": {"framework_info": {"name": "x", "id": {"value": "B"}}}}))
        .unwrap_err();
        assert!(e.contains("differs"), "{e}");
    }

    #[test]
    fn events_for_schedulers() {
        let mut s = TaskStatus::new("t1".into(), proto::TaskState::Finished);
        s.uuid = Some(proto::StatusUuid::from_u128(1));
        let m = StatusUpdateMessage {
            update: proto::messages::StatusUpdate {
                framework_id: "F".into(),
                executor_id: None,
                agent_id: Some("S1".into()),
                status: s,
                timestamp: 0.0,
                latest_state: None,
            },
            pid: None,
        };
        let v = event(&m.into(), 15.0).unwrap();
        assert_eq!(v["type"], "UPDATE");
        assert_eq!(v["update"]["status"]["agent_id"]["value"], "S1");
        assert_eq!(v["update"]["status"]["state"], "TASK_FINISHED");
        assert!(v["update"]["status"]["uuid"].is_string());
        let v = event(
            &FrameworkErrorMessage {
                message: "bye".into(),
            }
            .into(),
            15.0,
        )
        .unwrap();
        assert_eq!(v, json!({"type": "ERROR", "error": {"message": "bye"}}));
        assert!(event(&PingSlaveMessage { connected: true }.into(), 15.0).is_none());
        assert_eq!(&frame(&heartbeat())[..], b"20\n{\"type\":\"HEARTBEAT\"}");
    }

    proptest! {
        #[test]
        fn decoding_never_panics(s in "[\\[\\]{}\":,a-zA-Z0-9_. -]{0,200}") {
            let _ = decode_call(s.as_bytes());
        }

        #[test]
        fn decoding_typed_garbage_never_panics(
            ty in prop::sample::select(vec!["SUBSCRIBE", "ACCEPT", "DECLINE", "KILL", "ACKNOWLEDGE",
                "RECONCILE", "MESSAGE", "SHUTDOWN", "REVIVE", "TEARDOWN", "UPDATE_FRAMEWORK"]),
            inner in "[\\[\\]{}\":,a-z0-9_. -]{0,120}",
        ) {
            let body = format!(
                "{{\"type\":\"{ty}\",\"framework_id\":{{\"value\":\"F\"}},\"{}\":{inner}}}",
                ty.to_lowercase()
            );
            if let Err(e) = decode_call(body.as_bytes()) {
                prop_assert!(!e.is_empty());
            }
        }
    }
}

//! The v1 operator API (`POST /api/v1`) in JSON: the getters' answers built from the
//! core's state, and the SUBSCRIBE stream's events, derived from the effects the shell
//! carries out (a task is added when its `RunTaskMessage` goes to the agent, updated when
//! its status goes to the scheduler; agents and frameworks are added, updated and removed
//! as the allocator is told), so the core keeps no second record for subscribers.

use proto::messages::Task;
use proto::v1::json as j;
use proto::v1::operator as ops;
use serde_json::{json, Value};

use crate::allocator::protocol::*;
use crate::config::MESOS_VERSION;
use crate::core::{Agent, Effect, Framework, Master, Outbound, ToAllocator};

pub use proto::v1::operator::OperatorCall as Call;

/// Decodes an operator call body (see [`proto::v1::operator::decode`]).
pub fn decode_call(body: &[u8]) -> Result<Call, String> {
    proto::v1::operator::decode(body, proto::v1::operator::MASTER_TYPES)
}

fn time(secs: f64) -> Value {
    json!({ "nanoseconds": (secs * 1e9) as i64 })
}

pub use proto::v1::json::task;

/// A framework as GET_FRAMEWORKS lists it.
pub fn framework(f: &Framework) -> Value {
    let mut v = json!({
        "framework_info": j::framework_info(&f.info),
        "active": f.active,
        "connected": f.connected,
        "recovered": f.recovered,
        "registered_time": time(f.registered_time),
    });
    v["framework_info"]["id"] = j::id(f.id.as_str());
    if let Some(t) = f.reregistered_time {
        v["reregistered_time"] = time(t);
    }
    if let Some(t) = f.unregistered_time {
        v["unregistered_time"] = time(t);
    }
    v
}

/// An agent as GET_AGENTS lists it.
pub fn agent(a: &Agent) -> Value {
    let mut info = j::agent_info(&a.info);
    info["id"] = j::id(a.id.as_str());
    let mut v = json!({
        "agent_info": info,
        "active": a.connected,
        "deactivated": !a.connected,
        "pid": a.pid.to_string(),
        "version": a.version,
        "registered_time": time(a.registered_time),
        "total_resources": a.info.resources.to_json_array(),
    });
    if let Some(t) = a.reregistered_time {
        v["reregistered_time"] = time(t);
    }
    v
}

/// GET_AGENTS's body.
pub fn get_agents(m: &Master) -> Value {
    let agents: Vec<Value> = m.agents().values().map(|a| agent(a)).collect();
    let recovered: Vec<Value> = m
        .unreachable_agents()
        .keys()
        .map(|id| json!({"id": j::id(id.as_str())}))
        .collect();
    json!({ "agents": agents, "recovered_agents": recovered })
}

/// GET_FRAMEWORKS's body.
pub fn get_frameworks(m: &Master) -> Value {
    let frameworks: Vec<Value> = m.frameworks().values().map(|f| framework(f)).collect();
    let completed: Vec<Value> = m.completed_frameworks().iter().map(framework).collect();
    json!({ "frameworks": frameworks, "completed_frameworks": completed })
}

/// GET_TASKS's body.
pub fn get_tasks(m: &Master) -> Value {
    let all = m
        .frameworks()
        .values()
        .map(|f| &**f)
        .chain(m.completed_frameworks().iter());
    let (mut tasks, mut unreachable, mut completed) = (Vec::new(), Vec::new(), Vec::new());
    for f in all {
        tasks.extend(f.tasks.values().map(|t| task(t)));
        unreachable.extend(f.unreachable_tasks.values().map(|t| task(t)));
        completed.extend(f.completed_tasks.iter().map(|t| task(t)));
    }
    json!({ "tasks": tasks, "unreachable_tasks": unreachable, "completed_tasks": completed })
}

/// GET_EXECUTORS's body: every executor the master knows an agent runs, with its agent
/// (Mesos lists those of frameworks it knows; a removed framework's are gone).
pub fn get_executors(m: &Master) -> Value {
    let executors: Vec<Value> = m
        .agents()
        .values()
        .flat_map(|a| a.executors.iter().map(move |(k, e)| (a, k, e)))
        .filter(|(_, (fid, _), _)| m.frameworks().contains_key(fid))
        .map(|(a, (fid, _), e)| {
            let mut info = j::executor_info(e);
            info["framework_id"] = j::id(fid.as_str());
            json!({"agent_id": j::id(a.id.as_str()), "executor_info": info})
        })
        .collect();
    json!({ "executors": executors })
}

/// GET_STATE's body.
pub fn get_state(m: &Master) -> Value {
    json!({
        "get_tasks": get_tasks(m),
        "get_executors": get_executors(m),
        "get_frameworks": get_frameworks(m),
        "get_agents": get_agents(m),
    })
}

/// The answer to a getter (`None` for SUBSCRIBE and the calls that change state), given
/// the flags and the metrics snapshot (`/metrics/snapshot`'s JSON object).
pub fn answer(
    call: &Call,
    m: &Master,
    flags: &Value,
    metrics: impl FnOnce() -> Value,
) -> Option<Value> {
    Some(match call {
        Call::GetHealth => ops::get_health(),
        Call::GetFlags => ops::get_flags(flags),
        Call::GetVersion => ops::get_version(MESOS_VERSION),
        Call::GetMetrics => ops::get_metrics(&metrics()),
        Call::GetState => json!({"type": "GET_STATE", "get_state": get_state(m)}),
        Call::GetAgents => json!({"type": "GET_AGENTS", "get_agents": get_agents(m)}),
        Call::GetFrameworks => {
            json!({"type": "GET_FRAMEWORKS", "get_frameworks": get_frameworks(m)})
        }
        Call::GetTasks => json!({"type": "GET_TASKS", "get_tasks": get_tasks(m)}),
        Call::GetExecutors => {
            json!({"type": "GET_EXECUTORS", "get_executors": get_executors(m)})
        }
        Call::GetRoles => {
            let roles: Vec<Value> = m
                .roles_json()
                .get("roles")
                .and_then(Value::as_array)
                .map(|rs| {
                    rs.iter()
                        .map(|r| json!({"name": r["name"], "weight": r["weight"]}))
                        .collect()
                })
                .unwrap_or_default();
            json!({"type": "GET_ROLES", "get_roles": {"roles": roles}})
        }
        Call::GetMaster => json!({"type": "GET_MASTER", "get_master": {
            "master_info": j::master_info(m.info()),
            "start_time": m.start_time,
            "elected_time": m.elected_time,
        }}),
        Call::GetWeights => json!({"type": "GET_WEIGHTS", "get_weights": {
            "weight_infos": m.weights_json(),
        }}),
        Call::GetQuota => json!({"type": "GET_QUOTA", "get_quota": {"status": m.quota_json()}}),
        Call::GetLoggingLevel => ops::get_logging_level(),
        _ => return None,
    })
}

/// The first event of a SUBSCRIBE stream (heartbeats every `heartbeat_secs`).
pub fn subscribed(m: &Master, heartbeat_secs: f64) -> Value {
    json!({"type": "SUBSCRIBED", "subscribed": {
        "get_state": get_state(m),
        "heartbeat_interval_seconds": heartbeat_secs,
    }})
}

/// The SUBSCRIBE events an effect stands for, read against the core's state after the
/// event that produced it.
pub fn events(effect: &Effect, m: &Master) -> Vec<Value> {
    let framework_event = |ty: &str, id: &proto::FrameworkId| -> Option<Value> {
        let f = m.frameworks().get(id)?;
        let key = ty.to_ascii_lowercase();
        Some(json!({"type": ty, key: {"framework": framework(f)}}))
    };
    let mut out = Vec::new();
    match effect {
        Effect::Send(_, Outbound::RunTaskMessage(r)) => {
            let executor = r.task.executor.as_ref().map(|e| e.executor_id.clone());
            let t = m
                .frameworks()
                .get(&r.framework_id)
                .and_then(|f| f.tasks.get(&r.task.task_id))
                .map(|t| task(t))
                .unwrap_or_else(|| {
                    task(&Task::from_info(&r.task, r.framework_id.clone(), executor))
                });
            out.push(json!({"type": "TASK_ADDED", "task_added": {"task": t}}));
        }
        Effect::Send(_, Outbound::StatusUpdateMessage(u)) => {
            let mut status = u.update.status.clone();
            if status.agent_id.is_none() {
                status.agent_id = u.update.agent_id.clone();
            }
            out.push(json!({"type": "TASK_UPDATED", "task_updated": {
                "framework_id": j::id(u.update.framework_id.as_str()),
                "status": j::task_status(&status),
                "state": status.state.as_str(),
            }}));
        }
        Effect::Allocator(ToAllocator::AddAgent(a)) => {
            if let Some(agent) = m.agents().get(&a.agent_id) {
                out.push(
                    json!({"type": "AGENT_ADDED", "agent_added": {"agent": self::agent(agent)}}),
                );
            }
        }
        Effect::Allocator(ToAllocator::RemoveAgent(a)) => {
            out.push(json!({"type": "AGENT_REMOVED", "agent_removed": {"agent_id": j::id(a.agent_id.as_str())}}));
        }
        Effect::Allocator(ToAllocator::AddFramework(f)) => {
            out.extend(framework_event("FRAMEWORK_ADDED", &f.framework_id));
        }
        Effect::Allocator(ToAllocator::UpdateFramework(UpdateFramework {
            framework_id, ..
        }))
        | Effect::Allocator(ToAllocator::ActivateFramework(ActivateFramework { framework_id }))
        | Effect::Allocator(ToAllocator::DeactivateFramework(DeactivateFramework {
            framework_id,
        })) => out.extend(framework_event("FRAMEWORK_UPDATED", framework_id)),
        Effect::Allocator(ToAllocator::RemoveFramework(f)) => {
            let mut info = m
                .completed_frameworks()
                .iter()
                .rev()
                .find(|c| c.id == f.framework_id)
                .map(|c| j::framework_info(&c.info))
                .unwrap_or_else(|| json!({"name": ""}));
            info["id"] = j::id(f.framework_id.as_str());
            out.push(
                json!({"type": "FRAMEWORK_REMOVED", "framework_removed": {"framework_info": info}}),
            );
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_calls() {
        assert_eq!(decode_call(br#"{"type":"GET_STATE"}"#), Ok(Call::GetState));
        // The agent's calls are not the master's.
        let e = decode_call(br#"{"type":"GET_CONTAINERS"}"#).unwrap_err();
        assert!(e.contains("GET_CONTAINERS"), "{e}");
        assert_eq!(decode_call(br#"{"type":"SUBSCRIBE"}"#), Ok(Call::Subscribe));
        let e = decode_call(br#"{"type":"DROP_ALL"}"#).unwrap_err();
        assert!(e.contains("DROP_ALL") && e.contains("GET_HEALTH"), "{e}");
        assert!(decode_call(b"[]").unwrap_err().contains("JSON object"));
        assert!(decode_call(b"{").unwrap_err().contains("not JSON"));
    }

    proptest! {
        #[test]
        fn decoding_never_panics(s in "[\\[\\]{}\":,a-zA-Z0-9_. -]{0,100}") {
            let _ = decode_call(s.as_bytes());
        }
    }
}

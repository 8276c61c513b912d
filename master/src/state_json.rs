//! The operator JSON views of the master's state (`/master/state`, `/master/frameworks`,
//! `/master/slaves`, `/master/tasks`) with Mesos's field names.

use std::collections::HashMap;

use proto::messages::Task;
use proto::AgentId;
use proto::Resources;
use serde_json::{json, Value};

use crate::config::MESOS_VERSION;
use crate::core::{Agent, Framework, Master};

/// A task with its framework's user as the default user.
fn task_json(f: &Framework, t: &Task) -> Value {
    proto::state_json::task_json(t, Some(&f.info.user))
}

/// An executor in a framework's `executors` (Mesos's `ExecutorInfo` JSON plus `slave_id`).
fn executor_json(agent: &proto::AgentId, e: &proto::ExecutorInfo) -> Value {
    let mut v = proto::v1::json::executor_info(e);
    v["slave_id"] = json!(agent.as_str());
    v
}

/// What live tasks use on each agent, in one pass over the tasks (asking per agent would
/// be agents × tasks).
fn used_by_agent(m: &Master) -> HashMap<&AgentId, Resources> {
    let mut used: HashMap<&AgentId, Resources> = HashMap::new();
    for t in m
        .frameworks()
        .values()
        .flat_map(|f| f.tasks.values())
        .filter(|t| !t.state.is_terminal())
    {
        *used.entry(&t.agent_id).or_default() += &t.resources;
    }
    used
}

fn agent_json(m: &Master, a: &Agent, used: &HashMap<&AgentId, Resources>) -> Value {
    let used = used.get(&a.id).cloned().unwrap_or_default();
    let offered = m.offered_on_agent(a);
    let mut v = json!({
        "id": a.id.as_str(),
        "pid": a.pid.to_string(),
        "hostname": a.info.hostname,
        "port": a.info.port,
        "resources": a.info.resources.to_json_map(),
        "used_resources": used.to_json_map(),
        "offered_resources": offered.to_json_map(),
        "reserved_resources": proto::state_json::reserved_by_role(&a.info.resources, false),
        "reserved_resources_full": proto::state_json::reserved_by_role(&a.info.resources, true),
        "unreserved_resources": a.info.resources.unreserved().to_json_map(),
        "attributes": a.info.attributes.to_json_map(),
        "active": a.connected,
        "deactivated": !a.connected,
        "version": a.version,
        "registered_time": a.registered_time,
        "capabilities": proto::state_json::AGENT_CAPABILITIES,
    });
    if let Some(t) = a.reregistered_time {
        v["reregistered_time"] = json!(t);
    }
    v
}

fn framework_json(m: &Master, f: &Framework) -> Value {
    // A terminal task awaiting its acknowledgement holds nothing any more.
    let used: Resources = f
        .tasks
        .values()
        .filter(|t| !t.state.is_terminal())
        .fold(Resources::new(), |acc, t| acc + &t.resources);
    let offers: Vec<Value> = f
        .offers
        .iter()
        .filter_map(|o| m.offers().get(o))
        .map(|e| {
            json!({
                "id": e.offer.id.as_str(),
                "framework_id": e.offer.framework_id.as_str(),
                "slave_id": e.offer.agent_id.as_str(),
                "resources": e.offer.resources.to_json_map(),
            })
        })
        .collect();
    let offered: Resources = f
        .offers
        .iter()
        .filter_map(|o| m.offers().get(o))
        .fold(Resources::new(), |acc, e| acc + &e.offer.resources);
    let capabilities: Vec<Value> = f
        .info
        .capabilities
        .iter()
        .filter_map(|c| serde_json::to_value(c).ok())
        .collect();
    let mut v = json!({
        "id": f.id.as_str(),
        "name": f.info.name,
        "user": f.info.user,
        "hostname": f.info.hostname.clone().unwrap_or_default(),
        "webui_url": f.info.webui_url.clone().unwrap_or_default(),
        "role": f.info.effective_roles().first().cloned().unwrap_or_else(|| "*".into()),
        "roles": f.info.effective_roles(),
        "principal": f.info.principal,
        "active": f.active,
        "connected": f.connected,
        "recovered": f.recovered,
        "failover_timeout": f.info.failover_timeout,
        "checkpoint": f.info.checkpoint,
        "capabilities": capabilities,
        "registered_time": f.registered_time,
        "unregistered_time": f.unregistered_time.unwrap_or(0.0),
        "resources": used.to_json_map(),
        "allocated_resources": used.to_json_map(),
        "used_resources": used.to_json_map(),
        "offered_resources": offered.to_json_map(),
        "tasks": f.tasks.values().map(|t| task_json(f, t)).collect::<Vec<_>>(),
        "unreachable_tasks": f.unreachable_tasks.values().map(|t| task_json(f, t)).collect::<Vec<_>>(),
        "completed_tasks": f.completed_tasks.iter().map(|t| task_json(f, t)).collect::<Vec<_>>(),
        "offers": offers,
        "executors": m
            .agents()
            .values()
            .flat_map(|a| {
                a.executors
                    .iter()
                    .filter(|((fid, _), _)| *fid == f.id)
                    .map(|(_, e)| executor_json(&a.id, e))
            })
            .collect::<Vec<_>>(),
    });
    if let Some(t) = f.reregistered_time {
        v["reregistered_time"] = json!(t);
    }
    // Mesos omits the key for a framework without a PID (an HTTP framework, or one only
    // known from re-registering agents): readers such as Mesos-DNS parse it as a UPID.
    if let Some(p) = f
        .pid
        .as_ref()
        .filter(|p| !crate::http_api::is_stream_pid(p))
    {
        v["pid"] = json!(p.to_string());
    }
    v
}

/// `/master/state`.
pub fn state(m: &Master, flags: &Value) -> Value {
    let agents = m.agents();
    let used = used_by_agent(m);
    let active = agents.values().filter(|a| a.connected).count();
    let mut v = json!({
        "version": MESOS_VERSION,
        "build_date": "",
        "build_time": 0,
        "build_user": "",
        "start_time": m.start_time,
        "elected_time": m.elected_time,
        "id": m.info.id,
        "pid": m.pid.to_string(),
        "hostname": m.info.hostname,
        "leader": m.pid.to_string(),
        "leader_info": serde_json::to_value(&m.info).unwrap_or(Value::Null),
        "activated_slaves": active,
        "deactivated_slaves": agents.len() - active,
        "unreachable_slaves": m.unreachable_agents().len(),
        "flags": flags,
        "slaves": agents.values().map(|a| agent_json(m, a, &used)).collect::<Vec<_>>(),
        "frameworks": m.frameworks().values().map(|f| framework_json(m, f)).collect::<Vec<_>>(),
        "completed_frameworks": m.completed_frameworks().iter().map(|f| framework_json(m, f)).collect::<Vec<_>>(),
        "orphan_tasks": [],
        "unregistered_frameworks": [],
        "recovered_slaves": recovered_slaves(m),
    });
    if let Some(c) = &m.config.cluster {
        v["cluster"] = json!(c);
    }
    v
}

/// Agents in the recovered registry that have not re-registered yet (their `SlaveInfo`).
fn recovered_slaves(m: &Master) -> Vec<Value> {
    m.recovered_agents()
        .iter()
        .map(|(id, info)| {
            json!({
                "id": id.as_str(),
                "hostname": info.hostname,
                "port": info.port,
                "resources": info.resources.to_json_map(),
                "attributes": info.attributes.to_json_map(),
            })
        })
        .collect()
}

/// `/version` (Mesos's libprocess `version` endpoint).
pub fn version() -> Value {
    json!({
        "version": MESOS_VERSION,
        "build_date": "",
        "build_time": 0,
        "build_user": "",
    })
}

/// Task counts by state (`TASK_RUNNING: n`, …) into `v`, every state present.
fn add_state_counts<'a>(v: &mut Value, tasks: impl Iterator<Item = &'a Task>) {
    let mut counts = std::collections::BTreeMap::new();
    for s in proto::TaskState::ALL {
        counts.insert(s.as_str(), 0u64);
    }
    for t in tasks {
        *counts.entry(t.state.as_str()).or_default() += 1;
    }
    for (k, n) in counts {
        v[k] = json!(n);
    }
}

/// `/master/state-summary`: agents and frameworks without their tasks, with task counts
/// by state and the ids linking them (what Mesos's web UI's overview reads).
pub fn state_summary(m: &Master) -> Value {
    let tasks_of = |f: &'_ Framework| -> Vec<Task> {
        f.tasks
            .values()
            .chain(f.unreachable_tasks.values())
            .chain(f.completed_tasks.iter())
            .cloned()
            .collect()
    };
    let all: Vec<Task> = m.frameworks().values().flat_map(tasks_of).collect();
    let mut by_agent: HashMap<&AgentId, Vec<&Task>> = HashMap::new();
    for t in &all {
        by_agent.entry(&t.agent_id).or_default().push(t);
    }
    let used = used_by_agent(m);
    let slaves: Vec<Value> = m
        .agents()
        .values()
        .map(|a| {
            let mut v = agent_json(m, a, &used);
            let here: Vec<&Task> = by_agent.remove(&a.id).unwrap_or_default();
            add_state_counts(&mut v, here.iter().copied());
            let mut fids: Vec<&str> = here.iter().map(|t| t.framework_id.as_str()).collect();
            fids.sort_unstable();
            fids.dedup();
            v["framework_ids"] = json!(fids);
            v
        })
        .collect();
    let frameworks: Vec<Value> = m
        .frameworks()
        .values()
        .map(|f| {
            let mut v = framework_json(m, f);
            if let Some(o) = v.as_object_mut() {
                for k in [
                    "tasks",
                    "unreachable_tasks",
                    "completed_tasks",
                    "offers",
                    "executors",
                ] {
                    o.remove(k);
                }
            }
            let own = tasks_of(f);
            add_state_counts(&mut v, own.iter());
            let mut aids: Vec<&str> = own.iter().map(|t| t.agent_id.as_str()).collect();
            aids.sort_unstable();
            aids.dedup();
            v["slave_ids"] = json!(aids);
            v
        })
        .collect();
    let mut v = json!({
        "hostname": m.info.hostname,
        "slaves": slaves,
        "frameworks": frameworks,
    });
    if let Some(c) = &m.config.cluster {
        v["cluster"] = json!(c);
    }
    v
}

/// `/master/frameworks`.
pub fn frameworks(m: &Master) -> Value {
    json!({
        "frameworks": m.frameworks().values().map(|f| framework_json(m, f)).collect::<Vec<_>>(),
        "completed_frameworks": m.completed_frameworks().iter().map(|f| framework_json(m, f)).collect::<Vec<_>>(),
        "unregistered_frameworks": [],
    })
}

/// `/master/slaves`.
pub fn slaves(m: &Master) -> Value {
    let used = used_by_agent(m);
    json!({
        "slaves": m.agents().values().map(|a| agent_json(m, a, &used)).collect::<Vec<_>>(),
        "recovered_slaves": recovered_slaves(m),
    })
}

/// `/master/tasks`: every known task (active, unreachable, completed).
pub fn tasks(m: &Master) -> Value {
    let mut out = Vec::new();
    for f in m
        .frameworks()
        .values()
        .chain(m.completed_frameworks().iter())
    {
        out.extend(f.tasks.values().map(|t| task_json(f, t)));
        out.extend(f.unreachable_tasks.values().map(|t| task_json(f, t)));
        out.extend(f.completed_tasks.iter().map(|t| task_json(f, t)));
    }
    json!({ "tasks": out })
}

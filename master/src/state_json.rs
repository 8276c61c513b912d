//! The operator JSON views of the master's state (`/master/state`, `/master/frameworks`,
//! `/master/slaves`, `/master/tasks`) with Mesos's field names.

use std::collections::HashMap;

use proto::messages::Task;
use proto::state_json::{seq, TaskJson};
use proto::AgentId;
use proto::Resources;
use serde::ser::{Serialize, SerializeMap, Serializer};
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

// ------------------------------------------------------------ the streaming renderer
//
// `/master/state` at scale is tens of megabytes: it is written straight from the core
// through these borrowed views (no value tree). Each view writes its keys in sorted
// order, as serde_json's maps hold them, so its bytes are those of the value form.

/// `/master/state` as JSON bytes (see [`state`]).
pub fn render_state(m: &Master, flags: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 << 16);
    // Serializing borrowed views of plain data into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out, &StateView { m, flags });
    out
}

struct StateView<'a> {
    m: &'a Master,
    flags: &'a Value,
}

impl Serialize for StateView<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let m = self.m;
        let agents = m.agents();
        let used = used_by_agent(m);
        let active = agents.values().filter(|a| a.connected).count();
        let pid = m.pid.to_string();
        let mut o = ser.serialize_map(None)?;
        o.serialize_entry("activated_slaves", &active)?;
        o.serialize_entry("build_date", "")?;
        o.serialize_entry("build_time", &0)?;
        o.serialize_entry("build_user", "")?;
        if let Some(c) = &m.config.cluster {
            o.serialize_entry("cluster", c)?;
        }
        o.serialize_entry(
            "completed_frameworks",
            &seq(m
                .completed_frameworks()
                .iter()
                .map(|f| FrameworkView::full(m, f))),
        )?;
        o.serialize_entry("deactivated_slaves", &(agents.len() - active))?;
        o.serialize_entry("elected_time", &m.elected_time)?;
        o.serialize_entry("flags", self.flags)?;
        o.serialize_entry(
            "frameworks",
            &seq(m.frameworks().values().map(|f| FrameworkView::full(m, f))),
        )?;
        o.serialize_entry("hostname", &m.info.hostname)?;
        o.serialize_entry("id", &m.info.id)?;
        o.serialize_entry("leader", &pid)?;
        o.serialize_entry(
            "leader_info",
            &serde_json::to_value(&m.info).unwrap_or(Value::Null),
        )?;
        o.serialize_entry("orphan_tasks", &[(); 0])?;
        o.serialize_entry("pid", &pid)?;
        o.serialize_entry("recovered_slaves", &recovered_slaves(m))?;
        o.serialize_entry(
            "slaves",
            &seq(agents.values().map(|a| AgentView { m, a, used: &used })),
        )?;
        o.serialize_entry("start_time", &m.start_time)?;
        o.serialize_entry("unreachable_slaves", &m.unreachable_agents().len())?;
        o.serialize_entry("unregistered_frameworks", &[(); 0])?;
        o.serialize_entry("version", MESOS_VERSION)?;
        o.end()
    }
}

/// An agent in `slaves`.
struct AgentView<'a> {
    m: &'a Master,
    a: &'a Agent,
    used: &'a HashMap<&'a AgentId, Resources>,
}

impl Serialize for AgentView<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let a = self.a;
        let none = Resources::new();
        let used = self.used.get(&a.id).unwrap_or(&none);
        let offered = self.m.offered_on_agent(a);
        let total = &a.info.resources;
        let mut o = ser.serialize_map(None)?;
        o.serialize_entry("active", &a.connected)?;
        o.serialize_entry("attributes", &a.info.attributes.to_json_map())?;
        o.serialize_entry("capabilities", proto::state_json::AGENT_CAPABILITIES)?;
        o.serialize_entry("deactivated", &!a.connected)?;
        o.serialize_entry("hostname", &a.info.hostname)?;
        o.serialize_entry("id", a.id.as_str())?;
        o.serialize_entry("offered_resources", &offered.json_map())?;
        o.serialize_entry("pid", &a.pid.to_string())?;
        o.serialize_entry("port", &a.info.port)?;
        o.serialize_entry("registered_time", &a.registered_time)?;
        if let Some(t) = a.reregistered_time {
            o.serialize_entry("reregistered_time", &t)?;
        }
        o.serialize_entry(
            "reserved_resources",
            &proto::state_json::reserved_by_role(total, false),
        )?;
        o.serialize_entry(
            "reserved_resources_full",
            &proto::state_json::reserved_by_role(total, true),
        )?;
        o.serialize_entry("resources", &total.json_map())?;
        o.serialize_entry("unreserved_resources", &total.unreserved().json_map())?;
        o.serialize_entry("used_resources", &used.json_map())?;
        o.serialize_entry("version", &a.version)?;
        o.end()
    }
}

/// A framework in `frameworks` or `completed_frameworks`; without its tasks, offers and
/// executors for `/master/state-summary`.
struct FrameworkView<'a> {
    m: &'a Master,
    f: &'a Framework,
    with_tasks: bool,
}

impl<'a> FrameworkView<'a> {
    fn full(m: &'a Master, f: &'a Framework) -> Self {
        FrameworkView {
            m,
            f,
            with_tasks: true,
        }
    }
}

impl Serialize for FrameworkView<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let (m, f) = (self.m, self.f);
        // A terminal task awaiting its acknowledgement holds nothing any more.
        let used: Resources = f
            .tasks
            .values()
            .filter(|t| !t.state.is_terminal())
            .fold(Resources::new(), |acc, t| acc + &t.resources);
        let offers = || f.offers.iter().filter_map(|o| m.offers().get(o));
        let offered: Resources = offers().fold(Resources::new(), |acc, e| acc + &e.offer.resources);
        let roles = f.info.effective_roles();
        let user = Some(f.info.user.as_str());
        let mut o = ser.serialize_map(None)?;
        o.serialize_entry("active", &f.active)?;
        o.serialize_entry("allocated_resources", &used.json_map())?;
        o.serialize_entry("capabilities", &f.info.capabilities)?;
        o.serialize_entry("checkpoint", &f.info.checkpoint)?;
        if self.with_tasks {
            o.serialize_entry(
                "completed_tasks",
                &seq(f.completed_tasks.iter().map(|task| TaskJson {
                    task,
                    framework_user: user,
                })),
            )?;
        }
        o.serialize_entry("connected", &f.connected)?;
        if self.with_tasks {
            o.serialize_entry(
                "executors",
                &seq(m.agents().values().flat_map(|a| {
                    a.executors
                        .iter()
                        .filter(|((fid, _), _)| *fid == f.id)
                        .map(|(_, e)| executor_json(&a.id, e))
                })),
            )?;
        }
        o.serialize_entry("failover_timeout", &f.info.failover_timeout)?;
        o.serialize_entry("hostname", f.info.hostname.as_deref().unwrap_or(""))?;
        o.serialize_entry("id", f.id.as_str())?;
        o.serialize_entry("name", &f.info.name)?;
        o.serialize_entry("offered_resources", &offered.json_map())?;
        if self.with_tasks {
            o.serialize_entry("offers", &seq(offers().map(|e| OfferView(&e.offer))))?;
        }
        // Mesos omits the key for a framework without a PID (an HTTP framework, or one
        // only known from re-registering agents): readers such as Mesos-DNS parse it as
        // a UPID.
        if let Some(p) = f
            .pid
            .as_ref()
            .filter(|p| !crate::http_api::is_stream_pid(p))
        {
            o.serialize_entry("pid", &p.to_string())?;
        }
        o.serialize_entry("principal", &f.info.principal)?;
        o.serialize_entry("recovered", &f.recovered)?;
        o.serialize_entry("registered_time", &f.registered_time)?;
        if let Some(t) = f.reregistered_time {
            o.serialize_entry("reregistered_time", &t)?;
        }
        o.serialize_entry("resources", &used.json_map())?;
        o.serialize_entry("role", roles.first().map_or("*", String::as_str))?;
        o.serialize_entry("roles", &roles)?;
        if self.with_tasks {
            o.serialize_entry(
                "tasks",
                &seq(f.tasks.values().map(|task| TaskJson {
                    task,
                    framework_user: user,
                })),
            )?;
            o.serialize_entry(
                "unreachable_tasks",
                &seq(f.unreachable_tasks.values().map(|task| TaskJson {
                    task,
                    framework_user: user,
                })),
            )?;
        }
        o.serialize_entry("unregistered_time", &f.unregistered_time.unwrap_or(0.0))?;
        o.serialize_entry("used_resources", &used.json_map())?;
        o.serialize_entry("user", &f.info.user)?;
        o.serialize_entry("webui_url", f.info.webui_url.as_deref().unwrap_or(""))?;
        o.end()
    }
}

/// An outstanding offer in a framework's `offers`.
struct OfferView<'a>(&'a proto::Offer);

impl Serialize for OfferView<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut o = ser.serialize_map(Some(4))?;
        o.serialize_entry("framework_id", self.0.framework_id.as_str())?;
        o.serialize_entry("id", self.0.id.as_str())?;
        o.serialize_entry("resources", &self.0.resources.json_map())?;
        o.serialize_entry("slave_id", self.0.agent_id.as_str())?;
        o.end()
    }
}

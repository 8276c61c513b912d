//! The operator JSON views of the master's state (`/master/state`, `/master/frameworks`,
//! `/master/slaves`, `/master/tasks`, `/master/state-summary`) with Mesos's field names.
//!
//! At scale these are tens of megabytes, so they are written straight into bytes from
//! the core through borrowed `Serialize` views (no `serde_json::Value` tree: building
//! one cost ten times the writing). Each view writes its keys in sorted order, as
//! serde_json's maps hold them, so the bytes are those the value form would give.
//! Tasks, most of the bytes, are written from the JSON their records cache
//! ([`TaskRecord::json`]): a request renders afresh only the tasks changed since the last.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use proto::messages::Task;
use proto::state_json::seq;
use proto::Resources;
use proto::{AgentId, FrameworkId};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{json, Value};

use crate::config::MESOS_VERSION;
use crate::core::{Agent, Framework, Master, TaskRecord};

/// An executor in a framework's `executors` (Mesos's `ExecutorInfo` JSON plus `slave_id`).
fn executor_json(agent: &proto::AgentId, e: &proto::ExecutorInfo) -> Value {
    let mut v = proto::v1::json::executor_info(e);
    v["slave_id"] = json!(agent.as_str());
    v
}

/// What live tasks use on each agent: the frameworks' per-agent figures
/// ([`crate::core::TaskTable::used_on`], kept as tasks change) added up, borrowed where
/// one framework alone uses an agent.
fn used_by_agent(m: &Master) -> HashMap<&AgentId, Cow<'_, Resources>> {
    let mut used: HashMap<&AgentId, Cow<'_, Resources>> = HashMap::with_capacity(m.agents().len());
    for (agent, r) in m
        .frameworks()
        .values()
        .flat_map(|f| f.tasks.used_by_agent())
    {
        match used.entry(agent) {
            Entry::Vacant(e) => {
                e.insert(Cow::Borrowed(r));
            }
            Entry::Occupied(mut e) => *e.get_mut().to_mut() += r,
        }
    }
    used
}

/// Renders and caches ([`TaskRecord::json`]) the JSON of every task whose record has
/// none, as the views would: what the master runs off its thread after tasks changed, so
/// that the next `/master/state` (the first after a start or a failover included) writes
/// cached bytes instead of rendering every changed task itself. Returns how many it
/// rendered. It takes the frameworks only (a copy of the core's map shares their
/// records, task records included), so the master's thread copies ten pointers for it,
/// not the whole core.
pub fn warm_task_json(frameworks: &BTreeMap<FrameworkId, Arc<Framework>>) -> usize {
    let mut rendered = 0;
    for f in frameworks.values() {
        let user = Some(f.info.user.as_str());
        for t in f
            .tasks
            .values()
            .chain(f.unreachable_tasks.values())
            .chain(f.completed_tasks.iter())
            .filter(|t| !t.is_rendered())
        {
            t.json(user);
            rendered += 1;
        }
    }
    rendered
}

/// A renderer of one of these endpoints: the core and the master's flags in, JSON out.
pub type Render = fn(&Master, &Value) -> Vec<u8>;

/// `/master/state` as a value (see [`render_state`], which the endpoint uses).
pub fn state(m: &Master, flags: &Value) -> Value {
    serde_json::to_value(StateView { m, flags }).unwrap_or(Value::Null)
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

/// `/master/state-summary` (small: no tasks): agents and frameworks without their tasks, with task counts
/// by state and the ids linking them (what Mesos's web UI's overview reads).
fn state_summary(m: &Master) -> Value {
    let tasks_of = |f: &'_ Framework| -> Vec<Arc<TaskRecord>> {
        f.tasks
            .values()
            .chain(f.unreachable_tasks.values())
            .chain(f.completed_tasks.iter())
            .cloned()
            .collect()
    };
    let all: Vec<Arc<TaskRecord>> = m.frameworks().values().flat_map(|f| tasks_of(f)).collect();
    let mut by_agent: HashMap<&AgentId, Vec<&Task>> = HashMap::new();
    for t in &all {
        by_agent.entry(&t.agent_id).or_default().push(t.task());
    }
    let used = used_by_agent(m);
    let slaves: Vec<Value> = m
        .agents()
        .values()
        .map(|a| {
            let mut v =
                serde_json::to_value(AgentView { m, a, used: &used }).unwrap_or(Value::Null);
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
            let mut v = serde_json::to_value(FrameworkView {
                m,
                f,
                with_tasks: false,
            })
            .unwrap_or(Value::Null);
            let own = tasks_of(f);
            add_state_counts(&mut v, own.iter().map(|t| t.task()));
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

/// `/master/frameworks` as JSON bytes.
pub fn render_frameworks(m: &Master, _flags: &Value) -> Vec<u8> {
    to_bytes(&Frameworks(m))
}

struct Frameworks<'a>(&'a Master);

impl Serialize for Frameworks<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let m = self.0;
        let mut o = ser.serialize_map(Some(3))?;
        o.serialize_entry(
            "completed_frameworks",
            &seq(m
                .completed_frameworks()
                .iter()
                .map(|f| FrameworkView::full(m, f))),
        )?;
        o.serialize_entry(
            "frameworks",
            &seq(m.frameworks().values().map(|f| FrameworkView::full(m, f))),
        )?;
        o.serialize_entry("unregistered_frameworks", &[(); 0])?;
        o.end()
    }
}

/// `/master/slaves` as JSON bytes.
pub fn render_slaves(m: &Master, _flags: &Value) -> Vec<u8> {
    to_bytes(&Slaves(m))
}

struct Slaves<'a>(&'a Master);

impl Serialize for Slaves<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let m = self.0;
        let used = used_by_agent(m);
        let mut o = ser.serialize_map(Some(2))?;
        o.serialize_entry("recovered_slaves", &recovered_slaves(m))?;
        o.serialize_entry(
            "slaves",
            &seq(m.agents().values().map(|a| AgentView { m, a, used: &used })),
        )?;
        o.end()
    }
}

/// `/master/tasks` as JSON bytes: every known task (active, unreachable, completed).
pub fn render_tasks(m: &Master, _flags: &Value) -> Vec<u8> {
    to_bytes(&Tasks(m))
}

struct Tasks<'a>(&'a Master);

impl Serialize for Tasks<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let m = self.0;
        let all = m
            .frameworks()
            .values()
            .map(|f| &**f)
            .chain(m.completed_frameworks().iter())
            .flat_map(|f| {
                let framework_user = Some(f.info.user.as_str());
                f.tasks
                    .values()
                    .chain(f.unreachable_tasks.values())
                    .chain(f.completed_tasks.iter())
                    .map(move |task| TaskView {
                        task,
                        framework_user,
                    })
            });
        let mut o = ser.serialize_map(Some(1))?;
        o.serialize_entry("tasks", &seq(all))?;
        o.end()
    }
}

/// `/master/state-summary` as JSON bytes.
pub fn render_state_summary(m: &Master, _flags: &Value) -> Vec<u8> {
    to_bytes(&state_summary(m))
}

/// A view serialized into a fresh buffer.
fn to_bytes(view: &impl Serialize) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 << 16);
    // Serializing borrowed views of plain data into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out, view);
    out
}

// ------------------------------------------------------------------ the views

/// `/master/state` as JSON bytes (see [`state`]).
pub fn render_state(m: &Master, flags: &Value) -> Vec<u8> {
    // About 500 bytes a task and 1 kB an agent: sized once, not grown through copies.
    let tasks: usize = m
        .frameworks()
        .values()
        .map(|f| f.tasks.len() + f.unreachable_tasks.len() + f.completed_tasks.len())
        .sum();
    let mut out = Vec::with_capacity(tasks * 512 + m.agents().len() * 1024 + 4096);
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
    used: &'a HashMap<&'a AgentId, Cow<'a, Resources>>,
}

impl Serialize for AgentView<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let a = self.a;
        let none = Resources::new();
        let used: &Resources = self.used.get(&a.id).map_or(&none, |r| r);
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
        let used: Resources = f.tasks.used();
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
                &seq(f.completed_tasks.iter().map(|task| TaskView {
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
                &seq(f.tasks.values().map(|task| TaskView {
                    task,
                    framework_user: user,
                })),
            )?;
            o.serialize_entry(
                "unreachable_tasks",
                &seq(f.unreachable_tasks.values().map(|task| TaskView {
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

/// A task in `tasks`, `unreachable_tasks` or `completed_tasks`: its record's cached JSON
/// ([`TaskRecord::json`]), written as it is.
struct TaskView<'a> {
    task: &'a TaskRecord,
    framework_user: Option<&'a str>,
}

impl Serialize for TaskView<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        match self.task.json(self.framework_user) {
            Some(json) => json.serialize(ser),
            None => self.task.render(self.framework_user).serialize(ser),
        }
    }
}

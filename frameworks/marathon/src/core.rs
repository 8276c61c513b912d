//! The pure core: apps (intent), instances (task id ↔ app, placement, state, health),
//! deployments (with what to roll back to), the launch queue with backoff, offer matching
//! under constraints, and the per-app convergence step (rolling upgrades honouring
//! `minimumHealthCapacity`/`maximumOverCapacity`, scale by `killSelection`, stop).
//!
//! Health kills are the scheduler's (the executor only probes and reports): an instance
//! that failed `maxConsecutiveFailures` checks in a row is *doomed*; it stops counting
//! towards `instances`, so a replacement launches, and it is killed only once a
//! replacement runs healthy, and then only as the kill rate limit ([`KillLimit`]) allows.
//!
//! Nothing here does I/O or reads a clock: API changes are *planned* (store writes plus the
//! change to apply) and committed only after the shell has written them (decide, write,
//! speak); launches come with the instance records to write before the launch goes out.

use std::collections::{BTreeMap, BTreeSet};

use proto::TaskState;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::app::{self, ApiError, AppDef, KillSelection};
use crate::constraints::{all_allow, Constraint, Place};
use crate::kill_limit::KillLimit;

/// A write to the state store. Keys: `apps/<id>`, `deployments/<id>`, `instances/<task>`,
/// `framework_id`; one small record each (no blob nears ZooKeeper's 1 MB limit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOp {
    /// Create or replace.
    Put(String, Vec<u8>),
    /// Remove (absent is fine).
    Delete(String),
}

/// The store key of an app (its id with `/` escaped, so one znode per app).
pub fn app_key(id: &str) -> String {
    format!("apps/{}", id.replace('%', "%25").replace('/', "%2F"))
}
/// The store key of a deployment.
pub fn deployment_key(id: &str) -> String {
    format!("deployments/{id}")
}
/// The store key of an instance.
pub fn instance_key(task_id: &str) -> String {
    format!("instances/{task_id}")
}
/// The store key of the framework id.
pub const FRAMEWORK_ID_KEY: &str = "framework_id";

fn put<T: Serialize>(key: String, value: &T) -> StoreOp {
    StoreOp::Put(key, serde_json::to_vec(value).unwrap_or_default())
}

/// An app as stored: the definition and its versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppRecord {
    /// The definition.
    pub def: AppDef,
    /// The version of this definition (any change).
    pub version: String,
    /// The version of the last change that needs new instances (not a mere scale).
    pub config_version: String,
    /// When `instances` last changed.
    pub last_scaling_at: String,
    /// Being destroyed: every instance is killed, then the record goes.
    #[serde(default)]
    pub deleting: bool,
}

/// A deployment as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    /// Its id.
    pub id: String,
    /// The app it changes.
    pub app_id: String,
    /// The app version it deploys.
    pub version: String,
    /// Marathon's action name (`StartApplication`, `ScaleApplication`, …).
    pub action: String,
    /// The app before the change (None: the app did not exist): what a rollback restores.
    pub original: Option<AppRecord>,
    /// The further apps one change touches (a group change is one deployment), each a
    /// part like this one (without further parts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub others: Vec<Deployment>,
}

impl Deployment {
    /// Every part: this app's and the others'.
    pub fn parts(&self) -> impl Iterator<Item = &Deployment> {
        std::iter::once(self).chain(self.others.iter())
    }

    /// Whether it changes app `app_id`.
    pub fn affects(&self, app_id: &str) -> bool {
        self.parts().any(|p| p.app_id == app_id)
    }
}

/// An instance as stored (written before its launch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceRecord {
    /// The Mesos task id.
    pub task_id: String,
    /// Its app.
    pub app_id: String,
    /// The app's `config_version` it runs.
    pub config_version: String,
    /// The agent.
    pub agent_id: String,
    /// Where it runs (for constraints).
    pub host: String,
    /// The agent's attributes.
    pub attributes: BTreeMap<String, String>,
    /// Host ports.
    pub ports: Vec<u64>,
    /// When it was launched.
    pub staged_at: f64,
}

/// An instance as the core tracks it.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// The stored part.
    pub rec: InstanceRecord,
    /// Latest Mesos state.
    pub state: TaskState,
    /// Latest health (None: not yet known).
    pub healthy: Option<bool>,
    /// When it first ran.
    pub started_at: Option<f64>,
    /// When a kill was last sent (None: not being killed).
    pub kill_sent_at: Option<f64>,
    /// First health success.
    pub first_success: Option<f64>,
    /// Last health success.
    pub last_success: Option<f64>,
    /// Last health failure.
    pub last_failure: Option<f64>,
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// Passed its app's readiness check (in memory: a new leader probes again).
    pub ready: bool,
    /// The last answer to its readiness probe (None: not answered yet).
    pub readiness_answer: Option<ReadinessAnswer>,
    /// Since when its agent is unreachable (`TASK_UNREACHABLE`/`TASK_LOST` kept by the
    /// app's `unreachableStrategy`; in memory: a new leader learns it again by reconciling).
    pub unreachable_since: Option<f64>,
}

impl Instance {
    fn place(&self) -> Place {
        Place {
            hostname: self.rec.host.clone(),
            attributes: self.rec.attributes.clone(),
        }
    }
}

/// Launch backoff of one app.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Backoff {
    /// Current delay (0: none).
    pub delay: f64,
    /// No launch before this.
    pub until: f64,
}

/// The last failed task of an app.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskFailure {
    /// The task.
    pub task_id: String,
    /// Its final state.
    pub state: TaskState,
    /// The status message.
    pub message: String,
    /// When.
    pub at: f64,
    /// Where.
    pub host: String,
    /// Version it ran.
    pub version: String,
}

/// An offer as the core sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct OfferView {
    /// The agent.
    pub agent_id: String,
    /// Host name and attributes.
    pub place: Place,
    /// Unreserved CPUs.
    pub cpus: f64,
    /// Unreserved memory (MiB).
    pub mem: f64,
    /// Unreserved disk (MiB).
    pub disk: f64,
    /// Port ranges.
    pub ports: Vec<(u64, u64)>,
}

/// One instance to launch from an offer (its record must be stored first).
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchPlan {
    /// The instance.
    pub rec: InstanceRecord,
    /// The app (definition and versions) it runs.
    pub app: AppRecord,
}

/// An API change, computed but not yet applied: write `ops`, then [`Core::commit`].
#[derive(Debug, Clone, Default)]
pub struct Planned {
    /// Store writes.
    pub ops: Vec<StoreOp>,
    /// Apps to upsert (Some) or forget (None).
    pub apps: Vec<(String, Option<AppRecord>)>,
    /// Deployments to add.
    pub deployments: Vec<Deployment>,
    /// Deployments to drop.
    pub cancelled: Vec<String>,
    /// Tasks to kill (marked at commit).
    pub kills: Vec<String>,
    /// HTTP status of the answer.
    pub status: u16,
    /// The answer.
    pub reply: Value,
    /// Backoffs to reset (a new config).
    pub reset_backoff: Vec<String>,
}

impl Planned {
    /// Makes the planned deployments one (the first, with the rest as its other parts):
    /// one change of several apps is one deployment, as in Marathon.
    fn one_deployment(&mut self) {
        if self.deployments.len() < 2 {
            return;
        }
        let mut all = std::mem::take(&mut self.deployments).into_iter();
        let Some(mut first) = all.next() else {
            return;
        };
        first.others.extend(all.flat_map(|d| {
            let mut parts = d.others.clone();
            parts.insert(
                0,
                Deployment {
                    others: Vec::new(),
                    ..d
                },
            );
            parts
        }));
        let keys: BTreeSet<String> = first.parts().map(|d| deployment_key(&d.id)).collect();
        self.ops
            .retain(|op| !matches!(op, StoreOp::Put(k, _) if keys.contains(k)));
        self.ops.push(put(deployment_key(&first.id), &first));
        self.deployments.push(first);
    }

    /// Takes in another plan's writes and changes (not its answer).
    fn absorb(&mut self, p: Planned) {
        self.ops.extend(p.ops);
        self.apps.extend(p.apps);
        self.cancelled.extend(p.cancelled);
        self.kills.extend(p.kills);
        self.reset_backoff.extend(p.reset_backoff);
        self.deployments.extend(p.deployments);
    }
}

/// Whether app `app_id` is in group `group` (at any depth; every app is in `/`).
fn in_group(app_id: &str, group: &str) -> bool {
    group == "/" || app_id.starts_with(&format!("{group}/"))
}

/// What the shell does after a convergence step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Actions {
    /// Tasks to kill now.
    pub kills: Vec<String>,
    /// Store writes (finished deployments, destroyed apps).
    pub ops: Vec<StoreOp>,
    /// Some app wants offers.
    pub wants_offers: bool,
    /// Deployments that finished (for events/logs).
    pub finished: Vec<String>,
}

/// A readiness check to run now on one instance.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadinessProbe {
    /// The instance's task.
    pub task_id: String,
    /// Its agent's host name.
    pub host: String,
    /// The host port named by the check.
    pub port: u64,
    /// The check.
    pub check: app::ReadinessCheckDef,
}

/// The answer to a readiness probe (Marathon's `lastResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReadinessAnswer {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type` (empty: none).
    pub content_type: String,
    /// The body (bounded by the prober).
    pub body: String,
}

/// What a status update means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusEffect {
    /// Nothing to do.
    None,
    /// A task nobody asked for: kill it.
    KillUnknown,
    /// The instance ended: delete its record (a replacement follows from the intent).
    Ended(StoreOp),
}

/// Seconds a kill is given before it is sent again.
const KILL_RETRY_SECONDS: f64 = 10.0;
/// The first service port handed out.
const FIRST_SERVICE_PORT: u64 = 10_000;

/// The core state.
#[derive(Debug, Default)]
pub struct Core {
    /// Apps by id.
    pub apps: BTreeMap<String, AppRecord>,
    /// Instances by task id.
    pub instances: BTreeMap<String, Instance>,
    /// Deployments by id.
    pub deployments: BTreeMap<String, Deployment>,
    /// Launch backoff per app.
    pub backoff: BTreeMap<String, Backoff>,
    /// Last task failure per app.
    pub failures: BTreeMap<String, TaskFailure>,
    /// The framework id (once registered).
    pub framework_id: Option<String>,
    /// Every task the master knows has been reported since the last (re-)registration.
    pub ready: bool,
    /// Task ids per app (an index over `instances`).
    by_app: BTreeMap<String, BTreeSet<String>>,
    /// Id generator state.
    pub seq: u64,
    /// Seed mixed into ids (differs per process).
    pub seed: u64,
    /// The rate limit on killing doomed (unhealthy) instances.
    pub kill_limit: KillLimit,
    last_version: String,
    /// Task ids matched with an offer whose launch has not gone to the driver yet (their
    /// records are being written). The master cannot know them: asked about one, it
    /// answers `TASK_GONE`, the instance is replaced, and the launch that follows runs a
    /// second copy nobody counts.
    unsent: BTreeSet<String>,
}

/// The apps of group `body` under parent `parent`, with absolute ids and dependencies.
fn collect_group_apps(body: &Value, parent: &str, out: &mut Vec<Value>) -> Result<(), ApiError> {
    let resolve = |base: &str, id: &str| {
        if id.starts_with('/') {
            app::normalize_id(id)
        } else {
            app::normalize_id(&format!("{}/{id}", base.trim_end_matches('/')))
        }
    };
    let Value::Object(_) = body else {
        return Err(ApiError::invalid("/", "a group is a JSON object"));
    };
    let group = resolve(parent, body["id"].as_str().unwrap_or(""));
    for (i, a) in body["apps"].as_array().into_iter().flatten().enumerate() {
        let Some(id) = a["id"].as_str() else {
            return Err(ApiError::invalid(&format!("/apps({i})/id"), "is required"));
        };
        let mut a = a.clone();
        a["id"] = Value::String(resolve(&group, id));
        if let Some(deps) = a["dependencies"].as_array() {
            let deps: Vec<Value> = deps
                .iter()
                .map(|d| Value::String(resolve(&group, d.as_str().unwrap_or(""))))
                .collect();
            a["dependencies"] = Value::Array(deps);
        }
        out.push(a);
    }
    for g in body["groups"].as_array().into_iter().flatten() {
        collect_group_apps(g, &group, out)?;
    }
    Ok(())
}

/// Applies a scale-down / kill order to candidates: unhealthy and not yet running first,
/// then by `killSelection` on launch time.
fn kill_order(victims: &mut [&Instance], selection: KillSelection, has_checks: bool) {
    victims.sort_by(|a, b| {
        let rank = |i: &Instance| {
            let running = i.state == TaskState::Running;
            let healthy = !has_checks || i.healthy == Some(true);
            u8::from(running) + u8::from(running && healthy)
        };
        rank(a).cmp(&rank(b)).then_with(|| {
            let ord = a
                .rec
                .staged_at
                .partial_cmp(&b.rec.staged_at)
                .unwrap_or(std::cmp::Ordering::Equal);
            match selection {
                KillSelection::YoungestFirst => ord.reverse(),
                KillSelection::OldestFirst => ord,
            }
        })
    });
}

impl Core {
    /// A core with this id seed.
    pub fn new(seed: u64) -> Core {
        Core {
            seed,
            ..Default::default()
        }
    }

    /// Restores the core from the store's records (`(key, bytes)` pairs). Instances come
    /// back as `TASK_STAGING` with unknown health until reconciliation reports them.
    pub fn load(&mut self, entries: Vec<(String, Vec<u8>)>) -> Result<(), String> {
        for (key, bytes) in entries {
            if key == FRAMEWORK_ID_KEY {
                self.framework_id = Some(String::from_utf8_lossy(&bytes).trim().to_string())
                    .filter(|s| !s.is_empty());
            } else if key.starts_with("apps/") {
                let r: AppRecord =
                    serde_json::from_slice(&bytes).map_err(|e| format!("{key}: {e}"))?;
                self.apps.insert(r.def.id.clone(), r);
            } else if key.starts_with("deployments/") {
                let d: Deployment =
                    serde_json::from_slice(&bytes).map_err(|e| format!("{key}: {e}"))?;
                self.deployments.insert(d.id.clone(), d);
            } else if key.starts_with("instances/") {
                let rec: InstanceRecord =
                    serde_json::from_slice(&bytes).map_err(|e| format!("{key}: {e}"))?;
                self.add_instance(Self::fresh(rec));
            }
        }
        self.last_version = self
            .apps
            .values()
            .map(|a| a.version.clone())
            .max()
            .unwrap_or_default();
        Ok(())
    }

    fn fresh(rec: InstanceRecord) -> Instance {
        Instance {
            rec,
            state: TaskState::Staging,
            healthy: None,
            started_at: None,
            kill_sent_at: None,
            first_success: None,
            last_success: None,
            last_failure: None,
            consecutive_failures: 0,
            ready: false,
            readiness_answer: None,
            unreachable_since: None,
        }
    }

    fn next_hex(&mut self) -> u64 {
        self.seq += 1;
        frameworks::rng::hash_str(self.seed, &self.seq.to_string())
    }

    /// A fresh UUID-shaped id.
    pub fn new_uuid(&mut self) -> String {
        let a = self.next_hex();
        let b = self.next_hex();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            (b >> 48) | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }

    /// A version timestamp, strictly after every earlier one.
    fn new_version(&mut self, now: f64) -> String {
        let mut t = now;
        let mut v = app::iso_time(t);
        while v <= self.last_version {
            t += 0.001;
            v = app::iso_time(t);
        }
        self.last_version = v.clone();
        v
    }

    fn locks(&self, app_id: &str) -> Vec<String> {
        self.deployments
            .values()
            .filter(|d| d.affects(app_id))
            .map(|d| d.id.clone())
            .collect()
    }

    fn used_service_ports(&self) -> BTreeSet<u64> {
        self.apps
            .values()
            .flat_map(|a| a.def.port_definitions.iter().map(|p| p.port))
            .collect()
    }

    /// Plans creating (`create_only`: POST) or updating (PUT, a partial update) an app.
    pub fn plan_put(
        &mut self,
        body: &Value,
        path_id: Option<&str>,
        create_only: bool,
        force: bool,
        now: f64,
    ) -> Result<Planned, ApiError> {
        let wanted_id = path_id
            .map(str::to_string)
            .or_else(|| body.get("id").and_then(Value::as_str).map(str::to_string))
            .map(|s| app::normalize_id(&s));
        let existing = wanted_id
            .as_ref()
            .and_then(|id| self.apps.get(id))
            .filter(|a| !a.deleting)
            .cloned();
        if create_only && existing.is_some() {
            return Err(ApiError::Exists(format!(
                "An app with id [{}] already exists.",
                wanted_id.unwrap_or_default()
            )));
        }
        let mut def = app::from_json(body, existing.as_ref().map(|a| &a.def), path_id)?;
        if self.apps.get(&def.id).is_some_and(|a| a.deleting) {
            return Err(ApiError::Locked(self.locks(&def.id)));
        }
        // Service ports: 0 gets a fresh one (kept across updates of the same index).
        if !def.require_ports {
            let mut used = self.used_service_ports();
            let mut next = FIRST_SERVICE_PORT;
            for (i, pd) in def.port_definitions.iter_mut().enumerate() {
                if pd.port == 0 {
                    if let Some(old) = existing
                        .as_ref()
                        .and_then(|e| e.def.port_definitions.get(i))
                    {
                        pd.port = old.port;
                        continue;
                    }
                    while used.contains(&next) {
                        next += 1;
                    }
                    pd.port = next;
                    used.insert(next);
                }
            }
        }
        let mut planned = self.take_locks(&def.id, force)?;
        let version = self.new_version(now);
        let (action, config_version, last_scaling_at) = match &existing {
            None => ("StartApplication", version.clone(), version.clone()),
            Some(old) if app::config_key(&old.def) != app::config_key(&def) => {
                let scaled = if old.def.instances != def.instances {
                    version.clone()
                } else {
                    old.last_scaling_at.clone()
                };
                ("RestartApplication", version.clone(), scaled)
            }
            Some(old) => (
                "ScaleApplication",
                old.config_version.clone(),
                version.clone(),
            ),
        };
        if action != "ScaleApplication" {
            planned.reset_backoff.push(def.id.clone());
        }
        let rec = AppRecord {
            def,
            version: version.clone(),
            config_version,
            last_scaling_at,
            deleting: false,
        };
        let dep = Deployment {
            id: self.new_uuid(),
            app_id: rec.def.id.clone(),
            version: version.clone(),
            action: action.into(),
            original: existing.clone(),
            others: Vec::new(),
        };
        planned.ops.push(put(app_key(&rec.def.id), &rec));
        planned.ops.push(put(deployment_key(&dep.id), &dep));
        if existing.is_none() && create_only {
            planned.status = 201;
            planned.reply = self.app_json_with(&rec, std::slice::from_ref(&dep.id), false, now);
        } else {
            planned.status = if existing.is_none() { 201 } else { 200 };
            planned.reply = json!({"deploymentId": dep.id, "version": version});
        }
        planned.apps.push((rec.def.id.clone(), Some(rec)));
        planned.deployments.push(dep);
        Ok(planned)
    }

    /// `POST /v2/groups`: the group's apps (and its subgroups' apps), ids and
    /// `dependencies` resolved relative to their group, planned as one change: all are
    /// stored or none. Apps start in dependency order (an app launches only once its
    /// dependencies run healthy, see `match_offer`).
    pub fn plan_group(&mut self, body: &Value, force: bool, now: f64) -> Result<Planned, ApiError> {
        let mut apps = Vec::new();
        collect_group_apps(body, "/", &mut apps)?;
        if apps.is_empty() {
            return Err(ApiError::invalid("/apps", "a group needs at least one app"));
        }
        let ids: BTreeSet<String> = apps
            .iter()
            .filter_map(|a| a["id"].as_str().map(str::to_string))
            .collect();
        if ids.len() != apps.len() {
            return Err(ApiError::invalid("/apps", "app ids must be unique"));
        }
        for a in &apps {
            for d in a["dependencies"].as_array().into_iter().flatten() {
                let d = d.as_str().unwrap_or_default();
                if !ids.contains(d) && !self.apps.contains_key(d) {
                    return Err(ApiError::invalid(
                        "/dependencies",
                        format!("{} depends on unknown app {d}", a["id"]),
                    ));
                }
            }
        }
        // Plan one app after the other; planned apps are visible to the next (service
        // ports stay unique), then the core is put back: nothing applies before commit.
        let mut merged = Planned::default();
        let mut saved: Vec<(String, Option<AppRecord>)> = Vec::new();
        let mut result = Ok(());
        for a in &apps {
            let id = a["id"].as_str().map(str::to_string);
            let existing = id.as_deref().and_then(|i| self.apps.get(i)).is_some();
            match self.plan_put(a, id.as_deref(), !existing, force, now) {
                Ok(p) => {
                    for (id, rec) in &p.apps {
                        if let Some(rec) = rec {
                            saved.push((id.clone(), self.apps.insert(id.clone(), rec.clone())));
                        }
                    }
                    merged.absorb(p);
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        for (id, old) in saved.into_iter().rev() {
            match old {
                Some(r) => self.apps.insert(id, r),
                None => self.apps.remove(&id),
            };
        }
        result?;
        merged.one_deployment();
        let version = merged
            .apps
            .last()
            .and_then(|(_, r)| r.as_ref())
            .map(|r| r.version.clone())
            .unwrap_or_default();
        merged.status = 201;
        merged.reply = json!({
            "version": version,
            "deploymentId": merged.deployments.first().map(|d| d.id.clone()),
        });
        Ok(merged)
    }

    /// Checks the app is not being deployed (or, with `force`, cancels what is).
    fn take_locks(&self, app_id: &str, force: bool) -> Result<Planned, ApiError> {
        let locks = self.locks(app_id);
        let mut planned = Planned::default();
        if !locks.is_empty() {
            if !force {
                return Err(ApiError::Locked(locks));
            }
            for id in locks {
                planned.ops.push(StoreOp::Delete(deployment_key(&id)));
                planned.cancelled.push(id);
            }
        }
        Ok(planned)
    }

    fn existing(&self, app_id: &str) -> Result<AppRecord, ApiError> {
        self.apps
            .get(app_id)
            .filter(|a| !a.deleting)
            .cloned()
            .ok_or_else(|| ApiError::NotFound(format!("App '{app_id}' does not exist")))
    }

    /// Plans destroying an app: its instances are killed, then it is forgotten.
    pub fn plan_delete(
        &mut self,
        app_id: &str,
        force: bool,
        now: f64,
    ) -> Result<Planned, ApiError> {
        let old = self.existing(app_id)?;
        let mut planned = self.take_locks(app_id, force)?;
        let version = self.new_version(now);
        let mut rec = old.clone();
        rec.deleting = true;
        rec.version = version.clone();
        let dep = Deployment {
            id: self.new_uuid(),
            app_id: app_id.into(),
            version: version.clone(),
            action: "StopApplication".into(),
            original: Some(old),
            others: Vec::new(),
        };
        planned.ops.push(put(app_key(app_id), &rec));
        planned.ops.push(put(deployment_key(&dep.id), &dep));
        planned.status = 200;
        planned.reply = json!({"deploymentId": dep.id, "version": version});
        planned.apps.push((app_id.into(), Some(rec)));
        planned.deployments.push(dep);
        Ok(planned)
    }

    /// `DELETE /v2/groups/{id}`: destroys every app in the group and its subgroups.
    pub fn plan_delete_group(
        &mut self,
        group: &str,
        force: bool,
        now: f64,
    ) -> Result<Planned, ApiError> {
        let group = app::normalize_id(group);
        let ids: Vec<String> = self
            .apps
            .values()
            .filter(|a| !a.deleting && in_group(&a.def.id, &group))
            .map(|a| a.def.id.clone())
            .collect();
        if ids.is_empty() && group != "/" {
            return Err(ApiError::NotFound(format!(
                "Group '{group}' does not exist"
            )));
        }
        let mut merged = Planned::default();
        for id in &ids {
            merged.absorb(self.plan_delete(id, force, now)?);
        }
        merged.one_deployment();
        let version = merged
            .deployments
            .last()
            .map(|d| d.version.clone())
            .unwrap_or_else(|| self.new_version(now));
        merged.status = 200;
        merged.reply = json!({
            "version": version,
            "deploymentId": merged.deployments.first().map(|d| d.id.clone()),
        });
        Ok(merged)
    }

    /// Marathon's group JSON for `group` (`/` is the root): its apps and, recursively,
    /// its subgroups, as implied by the app ids. None: no app lives in it.
    pub fn group_json(&self, group: &str, now: f64) -> Option<Value> {
        let group = app::normalize_id(group);
        let apps: Vec<&AppRecord> = self
            .apps
            .values()
            .filter(|a| !a.deleting && in_group(&a.def.id, &group))
            .collect();
        if apps.is_empty() && group != "/" {
            return None;
        }
        let prefix = if group == "/" {
            "/".to_string()
        } else {
            format!("{group}/")
        };
        let mut direct = Vec::new();
        let mut subgroups = BTreeSet::new();
        for a in &apps {
            let rest = a.def.id.strip_prefix(&prefix).unwrap_or_default();
            match rest.split_once('/') {
                Some((child, _)) => {
                    subgroups.insert(format!("{prefix}{child}"));
                }
                None => direct.push(self.app_json(a, false, now)),
            }
        }
        let groups: Vec<Value> = subgroups
            .iter()
            .filter_map(|g| self.group_json(g, now))
            .collect();
        let version = apps
            .iter()
            .map(|a| a.version.clone())
            .max()
            .unwrap_or_else(|| app::iso_time(now));
        Some(json!({
            "id": group,
            "apps": direct,
            "groups": groups,
            "dependencies": [],
            "version": version,
        }))
    }

    /// Plans a rolling restart: same definition, new config version.
    pub fn plan_restart(
        &mut self,
        app_id: &str,
        force: bool,
        now: f64,
    ) -> Result<Planned, ApiError> {
        let old = self.existing(app_id)?;
        let mut planned = self.take_locks(app_id, force)?;
        let version = self.new_version(now);
        let rec = AppRecord {
            def: old.def.clone(),
            version: version.clone(),
            config_version: version.clone(),
            last_scaling_at: old.last_scaling_at.clone(),
            deleting: false,
        };
        let dep = Deployment {
            id: self.new_uuid(),
            app_id: app_id.into(),
            version: version.clone(),
            action: "RestartApplication".into(),
            original: Some(old),
            others: Vec::new(),
        };
        planned.ops.push(put(app_key(app_id), &rec));
        planned.ops.push(put(deployment_key(&dep.id), &dep));
        planned.status = 200;
        planned.reply = json!({"deploymentId": dep.id, "version": version});
        planned.reset_backoff.push(app_id.into());
        planned.apps.push((app_id.into(), Some(rec)));
        planned.deployments.push(dep);
        Ok(planned)
    }

    /// Plans cancelling a deployment: with `force` it is just dropped; otherwise a new
    /// deployment restores the app as it was before (or destroys an app it created).
    pub fn plan_rollback(
        &mut self,
        dep_id: &str,
        force: bool,
        now: f64,
    ) -> Result<Planned, ApiError> {
        let dep =
            self.deployments.get(dep_id).cloned().ok_or_else(|| {
                ApiError::NotFound(format!("DeploymentPlan {dep_id} does not exist"))
            })?;
        let mut planned = Planned {
            ops: vec![StoreOp::Delete(deployment_key(dep_id))],
            cancelled: vec![dep_id.into()],
            ..Default::default()
        };
        if force {
            planned.status = 202;
            planned.reply = json!({});
            return Ok(planned);
        }
        let version = self.new_version(now);
        let back_id = self.new_uuid();
        let mut backs: Vec<Deployment> = Vec::new();
        for part in dep.parts() {
            let (rec, action) = match &part.original {
                Some(orig) => {
                    let mut r = orig.clone();
                    r.version = version.clone();
                    r.deleting = false;
                    (r, "RestartApplication")
                }
                None => {
                    let mut r = self.existing(&part.app_id)?;
                    r.deleting = true;
                    r.version = version.clone();
                    (r, "StopApplication")
                }
            };
            backs.push(Deployment {
                id: back_id.clone(),
                app_id: part.app_id.clone(),
                version: version.clone(),
                action: action.into(),
                original: self.apps.get(&part.app_id).cloned(),
                others: Vec::new(),
            });
            planned.ops.push(put(app_key(&part.app_id), &rec));
            planned.reset_backoff.push(part.app_id.clone());
            planned.apps.push((part.app_id.clone(), Some(rec)));
        }
        let mut parts = backs.into_iter();
        let Some(mut back) = parts.next() else {
            return Err(ApiError::NotFound(format!(
                "DeploymentPlan {dep_id} does not exist"
            )));
        };
        back.others = parts.collect();
        planned.ops.push(put(deployment_key(&back.id), &back));
        planned.status = 200;
        planned.reply = json!({"deploymentId": back.id, "version": version});
        planned.deployments.push(back);
        Ok(planned)
    }

    /// Plans killing tasks; with `scale` the apps' `instances` shrink by as many (never
    /// below 0), otherwise replacements are launched.
    pub fn plan_kill(
        &mut self,
        task_ids: &[String],
        scale: bool,
        force: bool,
        now: f64,
    ) -> Result<Planned, ApiError> {
        let mut planned = Planned::default();
        let mut per_app: BTreeMap<String, i64> = BTreeMap::new();
        let mut killed = Vec::new();
        for t in task_ids {
            if let Some(i) = self.instances.get(t) {
                *per_app.entry(i.rec.app_id.clone()).or_default() += 1;
                planned.kills.push(t.clone());
                killed.push(self.task_json(i, now));
            }
        }
        if !scale {
            planned.status = 200;
            planned.reply = json!({"tasks": killed});
            return Ok(planned);
        }
        let mut last = json!({});
        for (app_id, n) in per_app {
            let Ok(old) = self.existing(&app_id) else {
                continue;
            };
            let locks = self.take_locks(&app_id, force)?;
            planned.ops.extend(locks.ops);
            planned.cancelled.extend(locks.cancelled);
            let version = self.new_version(now);
            let mut rec = old.clone();
            rec.def.instances = (rec.def.instances - n).max(0);
            rec.version = version.clone();
            rec.last_scaling_at = version.clone();
            let dep = Deployment {
                id: self.new_uuid(),
                app_id: app_id.clone(),
                version: version.clone(),
                action: "ScaleApplication".into(),
                original: Some(old),
                others: Vec::new(),
            };
            planned.ops.push(put(app_key(&app_id), &rec));
            planned.ops.push(put(deployment_key(&dep.id), &dep));
            last = json!({"deploymentId": dep.id, "version": version});
            planned.apps.push((app_id, Some(rec)));
            planned.deployments.push(dep);
        }
        planned.one_deployment();
        if let Some(d) = planned.deployments.first() {
            last["deploymentId"] = json!(d.id);
        }
        planned.status = 200;
        planned.reply = last;
        Ok(planned)
    }

    /// Applies a planned change whose writes are done.
    pub fn commit(&mut self, planned: &Planned, now: f64) {
        for id in &planned.cancelled {
            self.deployments.remove(id);
        }
        for (id, rec) in &planned.apps {
            match rec {
                Some(r) => {
                    self.apps.insert(id.clone(), r.clone());
                }
                None => {
                    self.apps.remove(id);
                }
            }
        }
        for d in &planned.deployments {
            self.deployments.insert(d.id.clone(), d.clone());
        }
        for id in &planned.reset_backoff {
            self.backoff.remove(id);
        }
        for t in &planned.kills {
            if let Some(i) = self.instances.get_mut(t) {
                // Sent by the next step.
                i.kill_sent_at = Some(now - KILL_RETRY_SECONDS - 1.0);
            }
        }
    }

    fn app_instances<'a>(&'a self, app_id: &'a str) -> impl Iterator<Item = &'a Instance> + 'a {
        self.by_app
            .get(app_id)
            .into_iter()
            .flatten()
            .filter_map(|t| self.instances.get(t))
    }

    fn add_instance(&mut self, i: Instance) {
        self.by_app
            .entry(i.rec.app_id.clone())
            .or_default()
            .insert(i.rec.task_id.clone());
        self.instances.insert(i.rec.task_id.clone(), i);
    }

    fn remove_instance(&mut self, task_id: &str) -> Option<Instance> {
        self.unsent.remove(task_id);
        let i = self.instances.remove(task_id)?;
        if let Some(set) = self.by_app.get_mut(&i.rec.app_id) {
            set.remove(task_id);
            if set.is_empty() {
                self.by_app.remove(&i.rec.app_id);
            }
        }
        Some(i)
    }

    /// Unreachable longer than the app's `inactiveAfterSeconds`: to be replaced.
    fn is_inactive(app: &AppDef, i: &Instance, now: f64) -> bool {
        match (app.unreachable_strategy, i.unreachable_since) {
            (
                app::UnreachableStrategy::Enabled {
                    inactive_after_seconds,
                    ..
                },
                Some(since),
            ) => now - since >= inactive_after_seconds as f64,
            _ => false,
        }
    }

    /// Unreachable longer than the app's `expungeAfterSeconds`: to be forgotten.
    fn is_expunged(app: &AppDef, i: &Instance, now: f64) -> bool {
        match (app.unreachable_strategy, i.unreachable_since) {
            (
                app::UnreachableStrategy::Enabled {
                    expunge_after_seconds,
                    ..
                },
                Some(since),
            ) => now - since >= expunge_after_seconds as f64,
            _ => false,
        }
    }

    fn is_healthy(app: &AppDef, i: &Instance) -> bool {
        i.state == TaskState::Running
            && i.kill_sent_at.is_none()
            && (app.health_checks.is_empty() || i.healthy == Some(true))
    }

    /// Healthy and, if the app has a readiness check, ready: what a deployment counts.
    fn is_available(app: &AppDef, i: &Instance) -> bool {
        Self::is_healthy(app, i) && (app.readiness_checks.is_empty() || i.ready)
    }

    /// The readiness probes due: every running, healthy, not yet ready instance of the
    /// current config of an app with a readiness check, with the host and port to probe.
    pub fn readiness_probes(&self) -> Vec<ReadinessProbe> {
        let mut out = Vec::new();
        for rec in self.apps.values() {
            let Some(check) = rec.def.readiness_checks.first() else {
                continue;
            };
            let Some(idx) = rec
                .def
                .port_definitions
                .iter()
                .position(|p| p.name.as_deref() == Some(check.port_name.as_str()))
            else {
                continue;
            };
            for i in self.app_instances(&rec.def.id) {
                if i.ready
                    || i.rec.config_version != rec.config_version
                    || !Self::is_healthy(&rec.def, i)
                {
                    continue;
                }
                if let Some(port) = i.rec.ports.get(idx) {
                    out.push(ReadinessProbe {
                        task_id: i.rec.task_id.clone(),
                        host: i.rec.host.clone(),
                        port: *port,
                        check: check.clone(),
                    });
                }
            }
        }
        out
    }

    /// A readiness probe of `task_id` answered ready.
    pub fn set_ready(&mut self, task_id: &str) {
        if let Some(i) = self.instances.get_mut(task_id) {
            i.ready = true;
        }
    }

    /// A readiness probe of `task_id` answered `answer`, meaning ready or not.
    pub fn record_readiness(&mut self, task_id: &str, answer: ReadinessAnswer, ready: bool) {
        if let Some(i) = self.instances.get_mut(task_id) {
            i.ready |= ready;
            i.readiness_answer = Some(answer);
        }
    }

    /// Marathon's `readinessCheckResults` entry of an instance while its app is deployed
    /// (empty otherwise, or when the app has no readiness check or it runs an old config).
    fn readiness_results(&self, i: &Instance) -> Vec<Value> {
        let Some(rec) = self.apps.get(&i.rec.app_id) else {
            return vec![];
        };
        let Some(check) = rec.def.readiness_checks.first() else {
            return vec![];
        };
        if i.rec.config_version != rec.config_version || self.locks(&rec.def.id).is_empty() {
            return vec![];
        }
        let last = i
            .readiness_answer
            .as_ref()
            .map(|a| json!({"status": a.status, "contentType": a.content_type, "body": a.body}));
        vec![json!({
            "name": check.name,
            "taskId": i.rec.task_id,
            "ready": i.ready,
            "lastResponse": last,
        })]
    }

    /// Failed `maxConsecutiveFailures` health checks in a row (the smallest non-zero one
    /// of the app's checks; 0 everywhere: never): to be replaced, then killed.
    pub fn is_doomed(app: &AppDef, i: &Instance) -> bool {
        let max = app
            .health_checks
            .iter()
            .map(|h| h.max_consecutive_failures)
            .filter(|m| *m > 0)
            .min();
        i.kill_sent_at.is_none()
            && i.healthy == Some(false)
            && max.is_some_and(|m| i.consecutive_failures >= m)
    }

    /// How many new-version instances `app` may launch now (before offers).
    pub fn launch_need(&self, rec: &AppRecord, now: f64) -> usize {
        if rec.deleting || !self.ready {
            return 0;
        }
        if self.backoff.get(&rec.def.id).is_some_and(|b| now < b.until) {
            return 0;
        }
        let n = rec.def.instances.max(0) as usize;
        let mut live = 0usize;
        let mut new = 0usize;
        let mut old = 0usize;
        for i in self.app_instances(&rec.def.id) {
            if Self::is_inactive(&rec.def, i, now) {
                continue;
            }
            live += 1;
            if i.kill_sent_at.is_some() || Self::is_doomed(&rec.def, i) {
                // A doomed instance is replaced before it is killed.
                continue;
            }
            if i.rec.config_version == rec.config_version {
                new += 1;
            } else {
                old += 1;
            }
        }
        let missing = n.saturating_sub(new);
        if old == 0 {
            return missing;
        }
        let us = rec.def.upgrade_strategy;
        let mut max_total = n + (n as f64 * us.maximum_over_capacity).floor() as usize;
        let min_healthy = (n as f64 * us.minimum_health_capacity).ceil() as usize;
        if min_healthy >= n && max_total <= n {
            // 100 % must stay healthy and nothing may be extra: one extra is the only way on.
            max_total = n + 1;
        }
        missing.min(max_total.saturating_sub(live))
    }

    /// Whether any app waits for offers.
    pub fn wants_offers(&self, now: f64) -> bool {
        self.apps.values().any(|a| self.launch_need(a, now) > 0)
    }

    fn dependencies_ready(&self, app: &AppDef) -> bool {
        app.dependencies.iter().all(|d| {
            let id = app::normalize_id(d);
            match self.apps.get(&id) {
                Some(dep) => {
                    let n = dep.def.instances.max(0) as usize;
                    self.app_instances(&id)
                        .filter(|i| Self::is_healthy(&dep.def, i))
                        .count()
                        >= n
                }
                None => false,
            }
        })
    }

    /// Matches one offer against the launch queue: the instances to launch on it (already
    /// counted as staging here; store their records, then launch, or [`Core::forget`] them).
    pub fn match_offer(&mut self, offer: &OfferView, now: f64) -> Vec<LaunchPlan> {
        let mut plans = Vec::new();
        if !self.ready {
            return plans;
        }
        let (mut cpus, mut mem, mut disk) = (offer.cpus, offer.mem, offer.disk);
        let mut free: BTreeSet<u64> = BTreeSet::new();
        let mut ranges = offer.ports.clone();
        ranges.sort();
        let app_ids: Vec<String> = self.apps.keys().cloned().collect();
        for app_id in app_ids {
            let Some(rec) = self.apps.get(&app_id).cloned() else {
                continue;
            };
            let mut need = self.launch_need(&rec, now);
            if need == 0 || !self.dependencies_ready(&rec.def) {
                continue;
            }
            let def = &rec.def;
            let constraints: Vec<Constraint> = def
                .constraints
                .iter()
                .filter_map(|c| Constraint::parse(c).ok())
                .collect();
            while need > 0 {
                if cpus + 1e-9 < def.cpus || mem + 1e-9 < def.mem || disk + 1e-9 < def.disk {
                    break;
                }
                let placed: Vec<Place> = self
                    .app_instances(&app_id)
                    .filter(|i| i.kill_sent_at.is_none())
                    .map(Instance::place)
                    .collect();
                let refs: Vec<&Place> = placed.iter().collect();
                if !all_allow(&constraints, &offer.place, &refs) {
                    break;
                }
                let Some(ports) = take_ports(&ranges, &mut free, def) else {
                    break;
                };
                cpus -= def.cpus;
                mem -= def.mem;
                disk -= def.disk;
                let task_id = format!(
                    "{}.{}",
                    app_id.trim_start_matches('/').replace('/', "_"),
                    self.new_uuid()
                );
                let irec = InstanceRecord {
                    task_id: task_id.clone(),
                    app_id: app_id.clone(),
                    config_version: rec.config_version.clone(),
                    agent_id: offer.agent_id.clone(),
                    host: offer.place.hostname.clone(),
                    attributes: offer.place.attributes.clone(),
                    ports,
                    staged_at: now,
                };
                self.add_instance(Self::fresh(irec.clone()));
                self.unsent.insert(task_id.clone());
                plans.push(LaunchPlan {
                    rec: irec,
                    app: rec.clone(),
                });
                need -= 1;
            }
        }
        plans
    }

    /// Drops instances whose launch did not happen (their records could not be stored).
    pub fn forget(&mut self, task_ids: &[String]) {
        for t in task_ids {
            self.remove_instance(t);
        }
    }

    /// The launches of `task_ids` go to the driver now: from here on the master may know
    /// them, and they are reconciled with the other instances.
    pub fn sent(&mut self, task_ids: &[String]) {
        for t in task_ids {
            self.unsent.remove(t);
        }
    }

    /// A status update from Mesos.
    pub fn status(
        &mut self,
        task_id: &str,
        state: TaskState,
        healthy: Option<bool>,
        message: &str,
        now: f64,
    ) -> StatusEffect {
        let unreachable = matches!(state, TaskState::Lost | TaskState::Unreachable);
        let gone =
            state.is_terminal() || matches!(state, TaskState::Unknown | TaskState::Unreachable);
        let Some(inst) = self.instances.get_mut(task_id) else {
            return if gone {
                StatusEffect::None
            } else {
                StatusEffect::KillUnknown
            };
        };
        let keeps = self
            .apps
            .get(&inst.rec.app_id)
            .is_some_and(|a| !a.deleting && a.def.unreachable_strategy.keeps());
        if unreachable && keeps && inst.kill_sent_at.is_none() {
            // Kept by the app's unreachableStrategy: replaced after `inactiveAfterSeconds`,
            // forgotten after `expungeAfterSeconds` (see `step`).
            inst.state = TaskState::Unreachable;
            inst.unreachable_since.get_or_insert(now);
            return StatusEffect::None;
        }
        if gone {
            let Some(inst) = self.remove_instance(task_id) else {
                return StatusEffect::None;
            };
            let app_id = inst.rec.app_id.clone();
            if matches!(
                state,
                TaskState::Failed | TaskState::Finished | TaskState::Error
            ) && inst.kill_sent_at.is_none()
            {
                if let Some(rec) = self.apps.get(&app_id) {
                    let b = self.backoff.entry(app_id.clone()).or_default();
                    if b.delay > 0.0 && now > b.until + rec.def.max_launch_delay_seconds {
                        b.delay = 0.0;
                    }
                    b.delay = if b.delay == 0.0 {
                        rec.def.backoff_seconds
                    } else {
                        (b.delay * rec.def.backoff_factor).min(rec.def.max_launch_delay_seconds)
                    };
                    b.until = now + b.delay;
                }
            }
            if matches!(
                state,
                TaskState::Failed | TaskState::Finished | TaskState::Error | TaskState::Lost
            ) {
                self.failures.insert(
                    app_id,
                    TaskFailure {
                        task_id: task_id.into(),
                        state,
                        message: message.into(),
                        at: now,
                        host: inst.rec.host.clone(),
                        version: inst.rec.config_version.clone(),
                    },
                );
            }
            return StatusEffect::Ended(StoreOp::Delete(instance_key(task_id)));
        }
        inst.state = state;
        inst.unreachable_since = None;
        if state == TaskState::Running && inst.started_at.is_none() {
            inst.started_at = Some(now);
        }
        if let Some(h) = healthy {
            inst.healthy = Some(h);
            if h {
                inst.first_success.get_or_insert(now);
                inst.last_success = Some(now);
                inst.consecutive_failures = 0;
            } else {
                inst.last_failure = Some(now);
                inst.consecutive_failures += 1;
            }
        }
        let app_alive = self.apps.contains_key(&inst.rec.app_id);
        if !app_alive {
            return StatusEffect::KillUnknown;
        }
        StatusEffect::None
    }

    /// One convergence step: which tasks to kill, which deployments finished.
    pub fn step(&mut self, now: f64) -> Actions {
        let mut actions = Actions::default();
        let mut kill: Vec<String> = Vec::new();
        let mut health_kills: Vec<String> = Vec::new();
        let mut gone_apps = Vec::new();
        let mut expunged: Vec<String> = Vec::new();
        for rec in self.apps.values() {
            if !self.ready {
                // Until reconciliation reported every task, states are guesses: decide nothing.
                break;
            }
            let def = &rec.def;
            let mut all: Vec<&Instance> = self.app_instances(&def.id).collect();
            expunged.extend(
                all.iter()
                    .filter(|i| Self::is_expunged(def, i, now))
                    .map(|i| i.rec.task_id.clone()),
            );
            if !rec.deleting {
                // An instance unreachable past `inactiveAfterSeconds` counts for nothing.
                all.retain(|i| !Self::is_inactive(def, i, now));
            }
            if rec.deleting {
                kill.extend(all.iter().map(|i| i.rec.task_id.clone()));
                if all.is_empty() {
                    gone_apps.push(def.id.clone());
                }
                continue;
            }
            let n = def.instances.max(0) as usize;
            let (doomed, live): (Vec<&Instance>, Vec<&Instance>) = all
                .iter()
                .copied()
                .filter(|i| i.kill_sent_at.is_none())
                .partition(|i| Self::is_doomed(def, i));
            // Replace before kill: a doomed instance goes once a healthy replacement runs
            // for it (healthy others beyond the `n - doomed` it did not replace).
            let healthy_others = live.iter().filter(|i| Self::is_healthy(def, i)).count();
            let replaced = (healthy_others + doomed.len()).saturating_sub(n);
            let mut doomed = doomed;
            kill_order(&mut doomed, def.kill_selection, true);
            health_kills.extend(
                doomed
                    .iter()
                    .take(replaced.min(doomed.len()))
                    .map(|i| i.rec.task_id.clone()),
            );
            let (mut new, mut old): (Vec<&Instance>, Vec<&Instance>) = live
                .iter()
                .copied()
                .partition(|i| i.rec.config_version == rec.config_version);
            let checks = !def.health_checks.is_empty();
            // Scale down: surplus new instances.
            if new.len() > n {
                kill_order(&mut new, def.kill_selection, checks);
                let surplus = new.len() - n;
                kill.extend(new.iter().take(surplus).map(|i| i.rec.task_id.clone()));
                new.drain(..surplus);
            }
            // Upgrade: old instances go as long as enough stay healthy.
            if !old.is_empty() {
                let healthy_new = new.iter().filter(|i| Self::is_available(def, i)).count();
                if n == 0 {
                    kill.extend(old.iter().map(|i| i.rec.task_id.clone()));
                } else {
                    let min_healthy =
                        (n as f64 * def.upgrade_strategy.minimum_health_capacity).ceil() as usize;
                    let healthy_old = old.iter().filter(|i| Self::is_healthy(def, i)).count();
                    let mut healthy_total = healthy_new + healthy_old;
                    kill_order(&mut old, def.kill_selection, checks);
                    for i in &old {
                        if !Self::is_healthy(def, i) {
                            // Counts for nothing: it goes at once.
                            kill.push(i.rec.task_id.clone());
                        } else if healthy_total > min_healthy {
                            kill.push(i.rec.task_id.clone());
                            healthy_total -= 1;
                        }
                    }
                }
            }
        }
        // Unreachable past `expungeAfterSeconds`: forgotten (killed as unknown if it returns).
        for id in expunged {
            self.remove_instance(&id);
            actions.ops.push(StoreOp::Delete(instance_key(&id)));
        }
        // Health kills only as fast as the rate limit allows (the rest wait for a step).
        for id in health_kills {
            if !kill.contains(&id) && self.kill_limit.take(now) {
                kill.push(id);
            }
        }
        // Kills: new ones, and retries of earlier ones.
        for (id, i) in self.instances.iter_mut() {
            let fresh = kill.contains(id) && i.kill_sent_at.is_none();
            let retry = i
                .kill_sent_at
                .is_some_and(|t| now - t >= KILL_RETRY_SECONDS);
            if fresh || retry {
                i.kill_sent_at = Some(now);
                actions.kills.push(id.clone());
            }
        }
        for id in gone_apps {
            self.apps.remove(&id);
            self.backoff.remove(&id);
            self.failures.remove(&id);
            actions.ops.push(StoreOp::Delete(app_key(&id)));
        }
        // Deployments finish when their app has converged.
        let done: Vec<String> = self
            .deployments
            .values()
            .filter(|d| d.parts().all(|p| self.converged(&p.app_id)))
            .map(|d| d.id.clone())
            .collect();
        for id in done {
            self.deployments.remove(&id);
            actions.ops.push(StoreOp::Delete(deployment_key(&id)));
            actions.finished.push(id);
        }
        actions.wants_offers = self.wants_offers(now);
        actions
    }

    /// Whether an app is as its definition says: exactly `instances` of the current
    /// config, all running and healthy, nothing else (or, destroyed, gone).
    pub fn converged(&self, app_id: &str) -> bool {
        let Some(rec) = self.apps.get(app_id) else {
            return true;
        };
        if rec.deleting {
            return false;
        }
        let n = rec.def.instances.max(0) as usize;
        let all: Vec<&Instance> = self.app_instances(app_id).collect();
        all.len() == n
            && all.iter().all(|i| {
                i.rec.config_version == rec.config_version && Self::is_available(&rec.def, i)
            })
    }

    /// Explicit reconciliation: every instance the core knows whose launch may have gone
    /// out (by this process, or by a predecessor that stored it).
    pub fn known_tasks(&self) -> Vec<(String, String)> {
        self.instances
            .values()
            .filter(|i| !self.unsent.contains(&i.rec.task_id))
            .map(|i| (i.rec.task_id.clone(), i.rec.agent_id.clone()))
            .collect()
    }

    // ---- JSON views ---------------------------------------------------------------

    /// Marathon's task JSON.
    pub fn task_json(&self, i: &Instance, _now: f64) -> Value {
        let app = self.apps.get(&i.rec.app_id);
        let service_ports: Vec<u64> = app
            .map(|a| a.def.port_definitions.iter().map(|p| p.port).collect())
            .unwrap_or_default();
        let checks = app.is_some_and(|a| !a.def.health_checks.is_empty());
        let results = if checks && (i.healthy.is_some()) {
            vec![json!({
                "alive": i.healthy == Some(true),
                "consecutiveFailures": i.consecutive_failures,
                "firstSuccess": i.first_success.map(app::iso_time),
                "lastSuccess": i.last_success.map(app::iso_time),
                "lastFailure": i.last_failure.map(app::iso_time),
                "taskId": i.rec.task_id,
                "instanceId": i.rec.task_id,
            })]
        } else {
            vec![]
        };
        let version = app
            .filter(|a| a.config_version == i.rec.config_version)
            .map(|a| a.version.clone())
            .unwrap_or_else(|| i.rec.config_version.clone());
        json!({
            "id": i.rec.task_id,
            "appId": i.rec.app_id,
            "host": i.rec.host,
            "ports": i.rec.ports,
            "servicePorts": service_ports,
            "slaveId": i.rec.agent_id,
            "stagedAt": app::iso_time(i.rec.staged_at),
            "startedAt": i.started_at.map(app::iso_time),
            "version": version,
            "state": i.state.as_str(),
            "healthCheckResults": results,
            "ipAddresses": [],
        })
    }

    /// Marathon's app JSON with counts, deployments and (optionally) tasks.
    pub fn app_json(&self, rec: &AppRecord, embed_tasks: bool, now: f64) -> Value {
        let deps = self.locks(&rec.def.id);
        self.app_json_with(rec, &deps, embed_tasks, now)
    }

    fn app_json_with(
        &self,
        rec: &AppRecord,
        deps: &[String],
        embed_tasks: bool,
        now: f64,
    ) -> Value {
        let mut v = serde_json::to_value(&rec.def).unwrap_or_else(|_| json!({}));
        let insts: Vec<&Instance> = self.app_instances(&rec.def.id).collect();
        let checks = !rec.def.health_checks.is_empty();
        let running = insts
            .iter()
            .filter(|i| i.state == TaskState::Running)
            .count();
        let staged = insts
            .iter()
            .filter(|i| matches!(i.state, TaskState::Staging | TaskState::Starting))
            .count();
        let healthy = insts
            .iter()
            .filter(|i| checks && i.healthy == Some(true) && i.state == TaskState::Running)
            .count();
        let unhealthy = insts
            .iter()
            .filter(|i| checks && i.healthy == Some(false))
            .count();
        if let Value::Object(m) = &mut v {
            m.insert("version".into(), json!(rec.version));
            m.insert(
                "versionInfo".into(),
                json!({"lastScalingAt": rec.last_scaling_at, "lastConfigChangeAt": rec.config_version}),
            );
            m.insert("tasksRunning".into(), json!(running));
            m.insert("tasksStaged".into(), json!(staged));
            m.insert("tasksHealthy".into(), json!(healthy));
            m.insert("tasksUnhealthy".into(), json!(unhealthy));
            m.insert(
                "deployments".into(),
                json!(deps.iter().map(|d| json!({"id": d})).collect::<Vec<_>>()),
            );
            if !rec.def.readiness_checks.is_empty() {
                // Marathon's `readinessCheckResults` of the app (not of its tasks: the
                // stock clients' task model has no such field).
                m.insert(
                    "readinessCheckResults".into(),
                    json!(insts
                        .iter()
                        .flat_map(|i| self.readiness_results(i))
                        .collect::<Vec<_>>()),
                );
            }
            if embed_tasks {
                m.insert(
                    "tasks".into(),
                    json!(insts
                        .iter()
                        .map(|i| self.task_json(i, now))
                        .collect::<Vec<_>>()),
                );
            }
            if let Some(f) = self.failures.get(&rec.def.id) {
                m.insert(
                    "lastTaskFailure".into(),
                    json!({
                        "appId": rec.def.id,
                        "host": f.host,
                        "message": f.message,
                        "state": f.state.as_str(),
                        "taskId": f.task_id,
                        "timestamp": app::iso_time(f.at),
                        "version": f.version,
                    }),
                );
            }
        }
        v
    }

    /// Marathon's deployment JSON.
    pub fn deployment_json(&self, d: &Deployment) -> Value {
        let actions: Vec<Value> = d
            .parts()
            .map(|p| json!({"action": p.action, "app": p.app_id}))
            .collect();
        let current: Vec<Value> = d
            .parts()
            .map(|p| {
                let readiness: Vec<Value> = self
                    .app_instances(&p.app_id)
                    .flat_map(|i| self.readiness_results(i))
                    .collect();
                json!({"action": p.action, "app": p.app_id, "readinessCheckResults": readiness})
            })
            .collect();
        let affected: Vec<&str> = d.parts().map(|p| p.app_id.as_str()).collect();
        json!({
            "id": d.id,
            "version": d.version,
            "affectedApps": affected,
            "steps": [{"actions": actions}],
            "currentActions": current,
            "currentStep": 1,
            "totalSteps": 1,
        })
    }

    /// The launch queue (`/v2/queue`).
    pub fn queue_json(&self, now: f64) -> Value {
        let mut out = Vec::new();
        for rec in self.apps.values() {
            if rec.deleting {
                continue;
            }
            let n = rec.def.instances.max(0) as usize;
            let have = self
                .app_instances(&rec.def.id)
                .filter(|i| i.kill_sent_at.is_none() && i.rec.config_version == rec.config_version)
                .count();
            if have >= n {
                continue;
            }
            let b = self.backoff.get(&rec.def.id).copied().unwrap_or_default();
            let left = (b.until - now).max(0.0);
            out.push(json!({
                "app": self.app_json(rec, false, now),
                "count": n - have,
                "delay": {"timeLeftSeconds": left.ceil() as u64, "overdue": left <= 0.0},
            }));
        }
        json!({ "queue": out })
    }
}

/// Picks host ports for an app from an offer's ranges (`free` tracks ports already taken
/// from this offer): the declared ports with `requirePorts`, else the lowest free ones.
fn take_ports(ranges: &[(u64, u64)], taken: &mut BTreeSet<u64>, def: &AppDef) -> Option<Vec<u64>> {
    let n = def.port_definitions.len();
    let in_offer = |p: u64| ranges.iter().any(|(b, e)| *b <= p && p <= *e);
    let mut out = Vec::with_capacity(n);
    if def.require_ports {
        for pd in &def.port_definitions {
            if !in_offer(pd.port) || taken.contains(&pd.port) || out.contains(&pd.port) {
                return None;
            }
            out.push(pd.port);
        }
    } else {
        'outer: for (b, e) in ranges {
            let mut p = *b;
            while p <= *e {
                if out.len() == n {
                    break 'outer;
                }
                if !taken.contains(&p) {
                    out.push(p);
                }
                p += 1;
            }
        }
        if out.len() < n {
            return None;
        }
    }
    taken.extend(out.iter().copied());
    Some(out)
}

#[cfg(test)]
mod tests;

//! The master's allocation policy state and its operator API, as pure functions of the
//! [`Master`] core: role weights (`/weights`), quota (`/quota`), dynamic reservations
//! (RESERVE / UNRESERVE offer operations and the `/reserve`, `/unreserve` endpoints) and
//! the `/roles` model. Every call validates its input, changes the core, and returns the
//! [`Effect`]s to carry out (allocator calls, `CheckpointResourcesMessage` to agents,
//! offers to rescind); bad input is an [`OpError`] with the HTTP status and a message,
//! and changes nothing.
//!
//! Static reservations come from the agent's `--resources` (`cpus(ads):8`); dynamic ones
//! are the agent's *checkpointed resources*: the master keeps them per agent, tells the
//! agent every change (the agent persists them under `work_dir/meta/resources`), and the
//! agent reports them when it (re-)registers, so an agent's total is its `--resources`
//! with its checkpointed reservations applied ([`apply_checkpointed`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use proto::messages::{CheckpointResourcesMessage, UpdateOperationStatusMessage};
use proto::{AgentId, FrameworkId, OfferId, OfferOperation, Resources, Value};
use serde_json::{json, Value as Json};

use crate::allocator::protocol::{UpdateAgent, UpdateAllocation, UpdateWeights};
use crate::allocator::quota_messages::{RemoveQuota, SetQuota};
use crate::core::{Effect, Master};

/// A role's quota as the operator set it (scalar, unreserved resources).
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaConfig {
    /// Offered to the role before other roles are served.
    pub guarantee: Resources,
    /// What the role may consume at most, if limited.
    pub limit: Option<Resources>,
}

/// A refused operator call: the HTTP status (400 bad request, 409 conflict, 404) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpError {
    /// HTTP status code.
    pub status: u16,
    /// What is wrong, for the operator.
    pub message: String,
}

fn bad(message: impl Into<String>) -> OpError {
    OpError {
        status: 400,
        message: message.into(),
    }
}

fn conflict(message: impl Into<String>) -> OpError {
    OpError {
        status: 409,
        message: message.into(),
    }
}

/// Whether `role` is a valid role name (Mesos's rules: not empty, not `.` or `..`, no
/// leading or trailing `/`, no whitespace or control characters, no `-` first).
pub fn role_valid(role: &str) -> bool {
    !(role.is_empty()
        || role == "."
        || role == ".."
        || role.starts_with('/')
        || role.ends_with('/')
        || role.starts_with('-')
        || role.contains("//")
        || role.split('/').any(|p| p == "." || p == "..")
        || role.chars().any(|c| c.is_whitespace() || c.is_control()))
}

/// `total` (an agent's `--resources`) with its checkpointed dynamic reservations
/// applied: each reserved resource replaces the same unreserved quantity. Reservations
/// the total cannot hold unreserved are skipped (and logged).
pub fn apply_checkpointed(total: &Resources, checkpointed: &Resources) -> Resources {
    let out = total.with_checkpointed(checkpointed);
    let applied = out.all_reserved() - &total.all_reserved();
    if !applied.contains(&checkpointed.all_reserved()) {
        tracing::warn!(%checkpointed, %total, "some checkpointed reservations do not fit the agent's resources; ignored");
    }
    out
}

/// Parses a JSON array of Mesos `Resource` objects.
fn parse_resources(what: &str, v: &Json) -> Result<Resources, OpError> {
    if !v.is_array() {
        return Err(bad(format!(
            "'{what}' must be a JSON array of Resource objects"
        )));
    }
    v.to_string()
        .parse::<Resources>()
        .map_err(|e| bad(format!("invalid '{what}': {e}")))
}

/// Parses a `{"cpus": {"value": 1}, …}` map (Mesos `QuotaConfig` guarantees/limits).
fn parse_quantity_map(what: &str, v: &Json) -> Result<Resources, OpError> {
    let obj = v.as_object().ok_or_else(|| {
        bad(format!(
            "'{what}' must be an object like {{\"cpus\":{{\"value\":1}}}}"
        ))
    })?;
    let mut text = Vec::new();
    for (name, q) in obj {
        let value = q
            .get("value")
            .and_then(Json::as_f64)
            .or_else(|| q.as_f64())
            .ok_or_else(|| bad(format!("'{what}.{name}' needs a numeric 'value'")))?;
        text.push(format!("{name}:{value}"));
    }
    text.join(";")
        .parse::<Resources>()
        .map_err(|e| bad(format!("invalid '{what}': {e}")))
}

/// Scalar and unreserved only (quota's rule).
fn check_quota_resources(what: &str, r: &Resources) -> Result<(), OpError> {
    for x in r.iter() {
        if !matches!(x.value, Value::Scalar(_)) {
            return Err(bad(format!(
                "quota {what} may only hold scalar resources; '{}' is not",
                x.name
            )));
        }
        if !x.is_unreserved() {
            return Err(bad(format!(
                "quota {what} may not hold reserved resources ('{x}')"
            )));
        }
    }
    Ok(())
}

/// Every scalar name in `r`.
fn scalar_names(r: &Resources) -> BTreeSet<String> {
    r.iter()
        .filter(|x| matches!(x.value, Value::Scalar(_)))
        .map(|x| x.name)
        .collect()
}

/// The form fields (or JSON fields) `slaveId` and `resources` of `/reserve` and
/// `/unreserve`.
/// The roles a `/reserve` body reserves for (none if it does not parse: the call then
/// fails with the reason).
pub fn reservation_roles(body: &[u8]) -> Vec<String> {
    reservation_request(body)
        .map(|(_, r)| r.roles().into_iter().collect())
        .unwrap_or_default()
}

fn reservation_request(body: &[u8]) -> Result<(AgentId, Resources), OpError> {
    let text = std::str::from_utf8(body).map_err(|_| bad("the body is not UTF-8"))?;
    let (slave, resources) = if text.trim_start().starts_with('{') {
        let v: Json =
            serde_json::from_str(text).map_err(|e| bad(format!("the body is not JSON: {e}")))?;
        let slave = v
            .get("slaveId")
            .or_else(|| v.get("agent_id"))
            .and_then(|s| {
                s.as_str()
                    .map(str::to_owned)
                    .or_else(|| s.get("value").and_then(Json::as_str).map(str::to_owned))
            });
        (slave, v.get("resources").cloned())
    } else {
        let form = libproc::http::parse_query(text);
        let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let resources = match get("resources") {
            Some(r) => Some(
                serde_json::from_str::<Json>(&r)
                    .map_err(|e| bad(format!("'resources' is not JSON: {e}")))?,
            ),
            None => None,
        };
        (get("slaveId"), resources)
    };
    let slave = slave
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad("missing form field 'slaveId'"))?;
    let resources = resources.ok_or_else(|| bad("missing form field 'resources'"))?;
    let resources = parse_resources("resources", &resources)?;
    check_reservation(&resources)?;
    Ok((AgentId::new(slave), resources))
}

/// The form field `frameworkId` of `POST /master/teardown`.
pub fn teardown_request(body: &[u8]) -> Result<FrameworkId, OpError> {
    let text = std::str::from_utf8(body).map_err(|_| bad("the body is not UTF-8"))?;
    libproc::http::parse_query(text)
        .into_iter()
        .find(|(k, _)| k == "frameworkId")
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
        .map(FrameworkId::new)
        .ok_or_else(|| bad("Missing 'frameworkId' query parameter in the request body"))
}

/// Reservation resources: not empty, and each with a role.
fn check_reservation(resources: &Resources) -> Result<(), OpError> {
    if resources.is_empty() {
        return Err(bad("'resources' is empty"));
    }
    for r in resources.iter() {
        if r.is_unreserved() {
            return Err(bad(format!(
                "resource '{r}' carries no reservation role; give each resource a 'reservations' entry (or 'role') other than '*'"
            )));
        }
    }
    Ok(())
}

/// A role's quota from a `QuotaRequest` (`guarantee`/`limit` arrays) or a `QuotaConfig`
/// (`guarantees`/`limits` maps): the role and its config, `None` if it sets neither.
fn read_quota(v: &Json) -> Result<(String, Option<QuotaConfig>), OpError> {
    let role = v
        .get("role")
        .and_then(Json::as_str)
        .ok_or_else(|| bad("missing string field 'role'"))?
        .to_string();
    if !role_valid(&role) || role == "*" {
        return Err(bad(format!("role '{role}' is invalid for quota")));
    }
    let guarantee = match (v.get("guarantee"), v.get("guarantees")) {
        (Some(g), _) => parse_resources("guarantee", g)?,
        (None, Some(g)) => parse_quantity_map("guarantees", g)?,
        (None, None) => Resources::new(),
    };
    let limit = match (v.get("limit"), v.get("limits")) {
        (Some(l), _) => Some(parse_resources("limit", l)?),
        (None, Some(l)) => Some(parse_quantity_map("limits", l)?).filter(|l| !l.is_empty()),
        (None, None) => None,
    };
    if guarantee.is_empty() && limit.is_none() {
        return Ok((role, None));
    }
    check_quota_resources("guarantee", &guarantee)?;
    if let Some(l) = &limit {
        check_quota_resources("limit", l)?;
        for name in scalar_names(&guarantee) {
            let g = guarantee.scalar(&name).as_f64();
            if scalar_names(l).contains(&name) && l.scalar(&name).as_f64() + 1e-9 < g {
                return Err(bad(format!(
                    "the guarantee of {name} ({g}) exceeds its limit ({})",
                    l.scalar(&name).as_f64()
                )));
            }
        }
    }
    Ok((role, Some(QuotaConfig { guarantee, limit })))
}

impl Master {
    /// The quotas as the registry stores them.
    pub(crate) fn policy_registry_quotas(&self) -> BTreeMap<String, crate::registry::QuotaEntry> {
        self.quotas
            .iter()
            .map(|(r, q)| {
                (
                    r.clone(),
                    crate::registry::QuotaEntry {
                        guarantee: q.guarantee.clone(),
                        limit: q.limit.clone(),
                    },
                )
            })
            .collect()
    }

    /// Copies weights and quotas into the registry; `PersistRegistry` if they changed.
    fn persist_policy(&mut self, fx: &mut Vec<Effect>) {
        let quotas = self.policy_registry_quotas();
        if self.registry.weights != self.weights || self.registry.quotas != quotas {
            let registry = Arc::make_mut(&mut self.registry);
            registry.weights = self.weights.clone();
            registry.quotas = quotas;
            fx.push(Effect::PersistRegistry);
        }
    }

    // ------------------------------------------------------------------ weights

    /// The weight of `role` (1 unless set).
    pub fn weight(&self, role: &str) -> f64 {
        self.weights.get(role).copied().unwrap_or(1.0)
    }

    /// `GET /weights`: `[{"role": "ads", "weight": 2.0}, …]`.
    pub fn weights_json(&self) -> Json {
        Json::Array(
            self.weights
                .iter()
                .map(|(role, w)| json!({"role": role, "weight": w}))
                .collect(),
        )
    }

    /// `PUT /weights` with `[{"role": "ads", "weight": 2.0}, …]`: all or nothing.
    pub fn update_weights(&mut self, body: &[u8]) -> Result<Vec<Effect>, OpError> {
        let v: Json =
            serde_json::from_slice(body).map_err(|e| bad(format!("the body is not JSON: {e}")))?;
        let list = v
            .as_array()
            .ok_or_else(|| bad("expected a JSON array like [{\"role\":\"ads\",\"weight\":2.0}]"))?;
        let mut weights = Vec::new();
        for (i, item) in list.iter().enumerate() {
            let role = item
                .get("role")
                .and_then(Json::as_str)
                .ok_or_else(|| bad(format!("entry {i} has no string 'role'")))?;
            let weight = item
                .get("weight")
                .and_then(Json::as_f64)
                .ok_or_else(|| bad(format!("entry {i} has no numeric 'weight'")))?;
            weights.push((role.to_string(), weight));
        }
        self.set_weights(weights)
    }

    /// Sets the weights of roles (UPDATE_WEIGHTS, `PUT /weights`): all or nothing.
    pub fn set_weights(&mut self, weights: Vec<(String, f64)>) -> Result<Vec<Effect>, OpError> {
        for (i, (role, weight)) in weights.iter().enumerate() {
            let (role, weight) = (role.as_str(), *weight);
            if !role_valid(role) || role == "*" {
                return Err(bad(format!("entry {i}: role '{role}' is invalid")));
            }
            if !(weight.is_finite() && weight > 0.0) {
                return Err(bad(format!(
                    "entry {i}: weight {weight} of role '{role}' must be a number > 0"
                )));
            }
        }
        for (role, w) in &weights {
            self.weights.insert(role.clone(), *w);
        }
        tracing::info!(?weights, "updated role weights");
        let mut fx = vec![Effect::Allocator(UpdateWeights { weights }.into())];
        self.persist_policy(&mut fx);
        Ok(fx)
    }

    // -------------------------------------------------------------------- quota

    /// The quotas set, by role.
    pub fn quotas(&self) -> &BTreeMap<String, QuotaConfig> {
        &self.quotas
    }

    /// `GET /quota`: Mesos's `QuotaStatus` (`infos` with `guarantee`/`limit` arrays) plus
    /// `configs` in the newer `QuotaConfig` shape.
    pub fn quota_json(&self) -> Json {
        let map = |r: &Resources| -> Json {
            let mut m = serde_json::Map::new();
            for name in scalar_names(r) {
                m.insert(name.clone(), json!({"value": r.scalar(&name).as_f64()}));
            }
            Json::Object(m)
        };
        let infos: Vec<Json> = self
            .quotas
            .iter()
            .map(|(role, q)| {
                let mut v = json!({"role": role, "guarantee": q.guarantee.to_json_array()});
                if let Some(l) = &q.limit {
                    v["limit"] = l.to_json_array();
                }
                v
            })
            .collect();
        let configs: Vec<Json> = self
            .quotas
            .iter()
            .map(|(role, q)| {
                json!({
                    "role": role,
                    "guarantees": map(&q.guarantee),
                    "limits": q.limit.as_ref().map(map).unwrap_or_else(|| json!({})),
                })
            })
            .collect();
        json!({"infos": infos, "configs": configs})
    }

    /// `POST /quota` with `{"role": "ads", "guarantee": [Resource…], "limit": [Resource…],
    /// "force": false}` (or `guarantees`/`limits` maps as in `QuotaConfig`): sets or
    /// replaces the role's quota. Without `force`, all guarantees together must fit the
    /// cluster's resources (409 otherwise).
    pub fn set_quota(&mut self, body: &[u8]) -> Result<Vec<Effect>, OpError> {
        let v: Json =
            serde_json::from_slice(body).map_err(|e| bad(format!("the body is not JSON: {e}")))?;
        self.set_quota_json(&v)
    }

    /// [`Master::set_quota`] of a parsed `QuotaRequest` (also SET_QUOTA's).
    pub fn set_quota_json(&mut self, v: &Json) -> Result<Vec<Effect>, OpError> {
        if !v.is_object() {
            return Err(bad(
                "expected a JSON object like {\"role\":\"ads\",\"guarantee\":[…]}",
            ));
        }
        let (role, config) = read_quota(v)?;
        let config = config.ok_or_else(|| bad("the quota has neither a guarantee nor a limit"))?;
        let force = v.get("force").and_then(Json::as_bool).unwrap_or(false);
        self.change_quotas(force, vec![(role, Some(config))])
    }

    /// UPDATE_QUOTA: `quota.QuotaConfig`s (`role`, `guarantees`, `limits`), all or nothing;
    /// a config with neither guarantees nor limits removes the role's quota (Mesos's
    /// default quota). Without `force`, all guarantees together must fit the cluster.
    pub fn update_quota(&mut self, force: bool, configs: &[Json]) -> Result<Vec<Effect>, OpError> {
        let mut changes: Vec<(String, Option<QuotaConfig>)> = Vec::new();
        for (i, c) in configs.iter().enumerate() {
            let (role, config) =
                read_quota(c).map_err(|e| bad(format!("quota_configs[{i}]: {}", e.message)))?;
            if changes.iter().any(|(r, _)| *r == role) {
                return Err(bad(format!(
                    "quota_configs[{i}]: role '{role}' appears twice"
                )));
            }
            changes.push((role, config));
        }
        self.change_quotas(force, changes)
    }

    /// Checks that the quotas with `changes` applied fit the cluster (unless `force`),
    /// then applies them, telling the allocator and writing the registry.
    fn change_quotas(
        &mut self,
        force: bool,
        changes: Vec<(String, Option<QuotaConfig>)>,
    ) -> Result<Vec<Effect>, OpError> {
        if !force {
            let mut proposed = self.quotas.clone();
            for (role, c) in &changes {
                match c {
                    Some(c) => proposed.insert(role.clone(), c.clone()),
                    None => proposed.remove(role),
                };
            }
            let wanted = proposed
                .values()
                .fold(Resources::new(), |acc, q| acc + &q.guarantee);
            let capacity = self
                .agents
                .values()
                .fold(Resources::new(), |acc, a| acc + &a.info.resources.flatten());
            if !capacity.flatten().contains(&wanted) {
                return Err(conflict(format!(
                    "not enough resources in the cluster for the quota guarantees ({wanted} wanted, {capacity} available); set \"force\": true to set it anyway"
                )));
            }
        }
        let mut fx = Vec::new();
        for (role, config) in changes {
            match config {
                Some(QuotaConfig { guarantee, limit }) => {
                    tracing::info!(%role, %guarantee, limit = ?limit.as_ref().map(|l| l.to_string()), "set quota");
                    self.quotas.insert(
                        role.clone(),
                        QuotaConfig {
                            guarantee: guarantee.clone(),
                            limit: limit.clone(),
                        },
                    );
                    fx.push(Effect::Allocator(
                        SetQuota {
                            role,
                            guarantee,
                            limit,
                        }
                        .into(),
                    ));
                }
                None => {
                    if self.quotas.remove(&role).is_some() {
                        tracing::info!(%role, "removed quota");
                        fx.push(Effect::Allocator(RemoveQuota { role }.into()));
                    }
                }
            }
        }
        self.persist_policy(&mut fx);
        Ok(fx)
    }

    /// `DELETE /quota/<role>`.
    pub fn remove_quota(&mut self, role: &str) -> Result<Vec<Effect>, OpError> {
        if role.is_empty() {
            return Err(bad("DELETE needs a role: /quota/<role>"));
        }
        if self.quotas.remove(role).is_none() {
            return Err(bad(format!(
                "cannot remove the quota of role '{role}': none is set"
            )));
        }
        tracing::info!(%role, "removed quota");
        let mut fx = vec![Effect::Allocator(
            RemoveQuota {
                role: role.to_string(),
            }
            .into(),
        )];
        self.persist_policy(&mut fx);
        Ok(fx)
    }

    // ------------------------------------------------------------- reservations

    /// What is neither used by tasks nor offered on the agent.
    fn free_on_agent(&self, id: &AgentId) -> Resources {
        let Some(a) = self.agents.get(id) else {
            return Resources::new();
        };
        let mut free = a.info.resources.clone();
        for r in self.used_on_agent(id).values() {
            free -= r;
        }
        free -= &self.offered_on_agent(a);
        free
    }

    /// Makes `needed` free on the agent by rescinding its outstanding offers (oldest
    /// first, only as many as needed). Fails with 409 if even that is not enough.
    fn make_free(&mut self, id: &AgentId, needed: &Resources) -> Result<Vec<Effect>, OpError> {
        let mut fx = Vec::new();
        let mut free = self.free_on_agent(id);
        if free.contains(needed) {
            return Ok(fx);
        }
        let offers: Vec<(OfferId, Resources)> = self
            .agents
            .get(id)
            .map(|a| {
                a.offers
                    .iter()
                    .filter_map(|o| {
                        self.offers
                            .get(o)
                            .map(|e| (o.clone(), e.offer.resources.clone()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let offered = offers.iter().fold(Resources::new(), |acc, (_, r)| acc + r);
        if !(free.clone() + &offered).contains(needed) {
            return Err(conflict(format!(
                "agent {id} does not have {needed} free (free: {free}; the rest is used by tasks)"
            )));
        }
        for (o, r) in offers {
            if free.contains(needed) {
                break;
            }
            tracing::info!(offer = %o, agent = %id, "rescinding an offer for an operator reservation change");
            fx.extend(self.rescind_offer(&o, true));
            free += &r;
        }
        Ok(fx)
    }

    /// Sets the agent's checkpointed resources and total, and says so to the agent and
    /// the allocator (unless `allocation` carries the allocator call instead).
    fn set_agent_reservations(
        &mut self,
        id: &AgentId,
        checkpointed: Resources,
        total: Resources,
        allocation: Option<(FrameworkId, String, Resources, Resources)>,
        fx: &mut Vec<Effect>,
    ) {
        let Some(a) = self.agents.get_mut(id).map(Arc::make_mut) else {
            return;
        };
        a.checkpointed = checkpointed.clone();
        a.info.resources = total.clone();
        a.check_offers = true;
        let pid = a.pid.clone();
        let connected = a.connected;
        let info = a.info.clone();
        match allocation {
            Some((framework_id, role, from, to)) => fx.push(Effect::Allocator(
                UpdateAllocation {
                    framework_id,
                    agent_id: id.clone(),
                    role,
                    from,
                    to,
                    total,
                }
                .into(),
            )),
            None => fx.push(Effect::Allocator(
                UpdateAgent {
                    agent_id: id.clone(),
                    total,
                }
                .into(),
            )),
        }
        if connected {
            fx.push(Effect::Send(
                pid,
                CheckpointResourcesMessage {
                    resources: checkpointed,
                }
                .into(),
            ));
        }
        if Arc::make_mut(&mut self.registry).admit(id, &info) {
            fx.push(Effect::PersistRegistry);
        }
    }

    fn registered_agent(&self, id: &AgentId) -> Result<(), OpError> {
        match self.agents.get(id) {
            None => Err(bad(format!("no agent {id} is registered"))),
            Some(a) if !a.connected => Err(conflict(format!(
                "agent {id} is disconnected; retry once it is back"
            ))),
            Some(_) => Ok(()),
        }
    }

    /// `POST /reserve` (form fields `slaveId`, `resources`): dynamically reserves
    /// unreserved resources of an agent. Offers holding them are rescinded; resources used
    /// by tasks, or not on the agent, are a 409.
    pub fn operator_reserve(&mut self, body: &[u8]) -> Result<Vec<Effect>, OpError> {
        let (id, resources) = reservation_request(body)?;
        self.reserve_resources(id, resources)
    }

    /// RESERVE_RESOURCES (and `/reserve`): see [`Master::operator_reserve`].
    pub fn reserve_resources(
        &mut self,
        id: AgentId,
        resources: Resources,
    ) -> Result<Vec<Effect>, OpError> {
        check_reservation(&resources)?;
        self.registered_agent(&id)?;
        let flat = resources.flatten();
        let total = self.agents[&id].info.resources.clone();
        if !total.unreserved().contains(&flat) {
            return Err(conflict(format!(
                "agent {id} does not have {flat} unreserved (its resources: {total})"
            )));
        }
        let mut fx = self.make_free(&id, &flat)?;
        let checkpointed = self.agents[&id].checkpointed.clone() + &resources;
        let new_total = total - &flat + &resources;
        tracing::info!(agent = %id, %resources, "operator reserved resources");
        self.set_agent_reservations(&id, checkpointed, new_total, None, &mut fx);
        Ok(fx)
    }

    /// `POST /unreserve` (form fields `slaveId`, `resources`): releases dynamic
    /// reservations. Static reservations (from `--resources`) cannot be unreserved;
    /// reserved resources in use by tasks are a 409.
    pub fn operator_unreserve(&mut self, body: &[u8]) -> Result<Vec<Effect>, OpError> {
        let (id, resources) = reservation_request(body)?;
        self.unreserve_resources(id, resources)
    }

    /// UNRESERVE_RESOURCES (and `/unreserve`): see [`Master::operator_unreserve`].
    pub fn unreserve_resources(
        &mut self,
        id: AgentId,
        resources: Resources,
    ) -> Result<Vec<Effect>, OpError> {
        check_reservation(&resources)?;
        self.registered_agent(&id)?;
        let agent = &self.agents[&id];
        if !agent.checkpointed.contains(&resources) {
            return Err(conflict(format!(
                "agent {id} has no dynamic reservation {resources} (dynamic reservations: {}; static ones from --resources cannot be unreserved)",
                agent.checkpointed
            )));
        }
        let total = agent.info.resources.clone();
        let mut fx = self.make_free(&id, &resources)?;
        let checkpointed = self.agents[&id].checkpointed.clone() - &resources;
        let new_total = total - &resources + &resources.flatten();
        tracing::info!(agent = %id, %resources, "operator unreserved resources");
        self.set_agent_reservations(&id, checkpointed, new_total, None, &mut fx);
        Ok(fx)
    }

    /// Applies one RESERVE or UNRESERVE offer operation of an accept to `remaining`
    /// (what is left of the offers, allocated to `role`). Invalid operations change
    /// nothing and answer `Err` with the reason.
    pub(crate) fn offer_operation(
        &mut self,
        fid: &FrameworkId,
        agent_id: &AgentId,
        role: &str,
        op: &OfferOperation,
        remaining: &mut Resources,
        fx: &mut Vec<Effect>,
    ) -> Result<(), String> {
        let (resources, reserve) = match op {
            OfferOperation::Reserve { resources } => (resources, true),
            OfferOperation::Unreserve { resources } => (resources, false),
            other => {
                return Err(format!(
                    "offer operation {} is not supported",
                    other.type_name()
                ))
            }
        };
        if resources.is_empty() {
            return Err("the operation names no resources".into());
        }
        for r in resources.iter() {
            match r.role() {
                None => {
                    return Err(format!(
                        "resource '{r}' carries no reservation role"
                    ))
                }
                Some(x) if x != role => {
                    return Err(format!(
                        "resource '{r}' is reserved for role '{x}', but the offer is allocated to role '{role}'"
                    ))
                }
                Some(_) => {}
            }
        }
        let Some(agent) = self.agents.get(agent_id) else {
            return Err(format!("agent {agent_id} is no longer registered"));
        };
        let flat = resources.flatten();
        let total = agent.info.resources.clone();
        let (checkpointed, new_total, from, to) = if reserve {
            if !remaining.unreserved().contains(&flat) {
                return Err(format!(
                    "the offer does not hold {flat} unreserved (left in the offer: {remaining})"
                ));
            }
            (
                agent.checkpointed.clone() + resources,
                total - &flat + resources,
                flat,
                resources.clone(),
            )
        } else {
            if !remaining.contains(resources) {
                return Err(format!(
                    "the offer does not hold {resources} (left in the offer: {remaining})"
                ));
            }
            if !agent.checkpointed.contains(resources) {
                return Err(format!(
                    "{resources} is not a dynamic reservation of agent {agent_id} (static reservations cannot be unreserved)"
                ));
            }
            (
                agent.checkpointed.clone() - resources,
                total - resources + &flat,
                resources.clone(),
                flat,
            )
        };
        *remaining -= &from;
        *remaining += &to;
        tracing::info!(framework = %fid, agent = %agent_id, operation = op.type_name(), %resources, "applied offer operation");
        self.set_agent_reservations(
            agent_id,
            checkpointed,
            new_total,
            Some((fid.clone(), role.to_string(), from, to)),
            fx,
        );
        Ok(())
    }

    /// The error a framework gets for a refused offer operation.
    pub(crate) fn operation_error(
        &self,
        fid: &FrameworkId,
        agent_id: &AgentId,
        op: &OfferOperation,
        why: String,
        fx: &mut Vec<Effect>,
    ) {
        tracing::warn!(framework = %fid, operation = op.type_name(), "refused offer operation: {why}");
        if let Some(pid) = self.frameworks.get(fid).and_then(|f| f.connected_pid()) {
            fx.push(Effect::Send(
                pid.clone(),
                UpdateOperationStatusMessage {
                    framework_id: fid.clone(),
                    agent_id: Some(agent_id.clone()),
                    state: "OPERATION_ERROR".into(),
                    operation: op.type_name().into(),
                    message: why,
                }
                .into(),
            ));
        }
    }

    // -------------------------------------------------------------------- roles

    /// `GET /roles`: every role with frameworks, allocations, reservations, a weight or
    /// a quota (and their ancestors), in Mesos's shape.
    pub fn roles_json(&self) -> Json {
        #[derive(Default)]
        struct Acc {
            allocated: Resources,
            offered: Resources,
            reserved: Resources,
            unreserved_allocated: Resources,
        }
        let mut roles: BTreeMap<String, Acc> = BTreeMap::new();
        let ancestors = |role: &str| -> Vec<String> {
            let mut out = vec![role.to_string()];
            let mut cur = role;
            while let Some(i) = cur.rfind('/') {
                cur = &cur[..i];
                out.push(cur.to_string());
            }
            out
        };
        let mut add = |role: &str, f: &dyn Fn(&mut Acc)| {
            if role == "*" || role.is_empty() {
                return;
            }
            for r in ancestors(role) {
                f(roles.entry(r).or_default());
            }
        };
        for f in self.frameworks.values() {
            let own = f.info.effective_roles();
            for r in &own {
                add(r, &|_: &mut Acc| {});
            }
            let first = own.first().cloned().unwrap_or_else(|| "*".into());
            for t in f.tasks.values().filter(|t| !t.state.is_terminal()) {
                let role = t.role.clone().unwrap_or_else(|| first.clone());
                let res = t.resources.clone();
                add(&role, &|a: &mut Acc| {
                    a.allocated += &res;
                    a.unreserved_allocated += &res.unreserved();
                });
            }
        }
        for e in self.offers.values() {
            let res = e.offer.resources.clone();
            add(&e.role, &|a: &mut Acc| {
                a.allocated += &res;
                a.offered += &res;
                a.unreserved_allocated += &res.unreserved();
            });
        }
        for a in self.agents.values() {
            for role in a.info.resources.roles() {
                let res = a.info.resources.reserved(&role);
                add(&role, &|acc: &mut Acc| acc.reserved += &res);
            }
        }
        for role in self.weights.keys().chain(self.quotas.keys()) {
            add(role, &|_: &mut Acc| {});
        }
        // Each role lists the frameworks subscribed to it directly.
        let direct: BTreeMap<String, BTreeSet<String>> = {
            let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for f in self.frameworks.values() {
                for r in f.info.effective_roles() {
                    m.entry(r).or_default().insert(f.id.to_string());
                }
            }
            m
        };
        let list: Vec<Json> = roles
            .into_iter()
            .map(|(name, a)| {
                let frameworks: Vec<String> = direct
                    .get(&name)
                    .map(|s| s.iter().cloned().collect())
                    .unwrap_or_default();
                let mut v = json!({
                    "name": name,
                    "weight": self.weight(&name),
                    "frameworks": frameworks,
                    "resources": a.allocated.flatten().to_json_map(),
                    "allocated": a.allocated.flatten().to_json_map(),
                    "offered": a.offered.flatten().to_json_map(),
                    "reserved": a.reserved.flatten().to_json_map(),
                });
                if let Some(q) = self.quotas.get(&name) {
                    let consumed = a.reserved.flatten() + &a.unreserved_allocated;
                    v["quota"] = json!({
                        "role": name,
                        "guarantee": q.guarantee.to_json_map(),
                        "limit": q.limit.as_ref().map(Resources::to_json_map).unwrap_or_else(|| json!({})),
                        "consumed": consumed.to_json_map(),
                    });
                }
                v
            })
            .collect();
        json!({ "roles": list })
    }
}

//! Mesos resources and their arithmetic.
//!
//! A [`Resource`] is a named [`Value`] (scalar, ranges or set), optionally
//! reserved for a role. [`Resources`] is a canonical collection: at most one
//! entry per (name, reservation, value kind), no empty entries, so derived
//! equality is meaningful. Addition merges, subtraction never goes negative
//! (an entry that would reach zero or empty disappears), and
//! [`Resources::contains`] is the containment test used to validate tasks
//! against offers and allocations against agents.
//!
//! Unreserved `cpus`, `mem`, `disk` and `gpus` scalars — the overwhelmingly
//! common case — live in a fixed array, so arithmetic on them allocates
//! nothing and cloning such a collection is a plain copy.

mod parse;

#[cfg(test)]
mod tests;

pub use parse::ResourcesError;

use crate::value::{self, Ranges, Scalar, Value, ValueKind};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};

/// The role meaning "unreserved" in Mesos syntax.
pub const UNRESERVED_ROLE: &str = "*";

/// Names of the scalars kept in the fast array, in display order.
const FAST_NAMES: [&str; 4] = ["cpus", "mem", "disk", "gpus"];

fn fast_index(name: &str) -> Option<usize> {
    FAST_NAMES.iter().position(|n| *n == name)
}

/// Maps the role `*` to `None` (unreserved).
fn normalize_role(role: Option<&str>) -> Option<&str> {
    role.filter(|r| *r != UNRESERVED_ROLE)
}

/// One named resource, e.g. `cpus(ads):8` or `ports:[31000-32000]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Resource {
    /// Resource name, e.g. `cpus`, `mem`, `ports`.
    pub name: String,
    /// The quantity.
    pub value: Value,
    /// The role the resource is reserved for; `None` (or `"*"`) means unreserved.
    #[serde(default)]
    pub reservation: Option<String>,
}

impl Resource {
    /// An unreserved scalar resource.
    pub fn scalar(name: impl Into<String>, value: Scalar) -> Self {
        Resource {
            name: name.into(),
            value: Value::Scalar(value),
            reservation: None,
        }
    }

    /// An unreserved ranges resource.
    pub fn ranges(name: impl Into<String>, value: Ranges) -> Self {
        Resource {
            name: name.into(),
            value: Value::Ranges(value),
            reservation: None,
        }
    }

    /// An unreserved `ports` resource.
    pub fn ports(value: Ranges) -> Self {
        Self::ranges("ports", value)
    }

    /// An unreserved set resource.
    pub fn set(name: impl Into<String>, items: impl IntoIterator<Item = String>) -> Self {
        Resource {
            name: name.into(),
            value: Value::Set(items.into_iter().collect()),
            reservation: None,
        }
    }

    /// The same resource reserved for `role` (`"*"` means unreserved).
    pub fn reserved_for(mut self, role: impl Into<String>) -> Self {
        let role = role.into();
        self.reservation = (role != UNRESERVED_ROLE).then_some(role);
        self
    }

    /// The reservation role with `"*"` mapped to `None`.
    pub fn role(&self) -> Option<&str> {
        normalize_role(self.reservation.as_deref())
    }

    /// True if the resource is not reserved for any role.
    pub fn is_unreserved(&self) -> bool {
        self.role().is_none()
    }

    /// Checks the name, role and value (non-negative scalars) for validity.
    pub fn validate(&self) -> Result<(), ResourcesError> {
        parse::validate_name(&self.name, &self.name)?;
        if let Some(role) = self.role() {
            parse::validate_role(&self.name, role)?;
        }
        if let Value::Scalar(s) = &self.value {
            if s.is_negative() {
                return Err(ResourcesError::Negative {
                    name: self.name.clone(),
                    value: s.to_string(),
                });
            }
        }
        Ok(())
    }

    fn key(&self) -> (&str, Option<&str>, ValueKind) {
        (&self.name, self.role(), self.value.kind())
    }
}

impl fmt::Display for Resource {
    /// Mesos syntax: `name:value` or `name(role):value`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.role() {
            Some(role) => write!(f, "{}({}):{}", self.name, role, self.value),
            None => write!(f, "{}:{}", self.name, self.value),
        }
    }
}

/// A canonical collection of resources supporting `+`, `-` and containment.
///
/// Serializes as a list of [`Resource`]; decoding validates and re-canonicalizes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "Vec<Resource>", into = "Vec<Resource>")]
pub struct Resources {
    /// Unreserved scalar `cpus`, `mem`, `disk`, `gpus` in milli-units (all >= 0).
    fast: [i64; 4],
    /// Everything else, sorted by (name, role, kind), one entry per key, none empty,
    /// reservations normalized (never `Some("*")`).
    other: Vec<Resource>,
}

impl Resources {
    /// The empty collection.
    pub const fn new() -> Self {
        Resources {
            fast: [0; 4],
            other: Vec::new(),
        }
    }

    /// Unreserved `cpus` and `mem` (MB), the usual minimum shape of a task.
    pub fn cpus_mem(cpus: f64, mem_mb: f64) -> Result<Self, crate::value::ValueError> {
        let mut r = Resources::new();
        r.push(&Resource::scalar("cpus", Scalar::from_f64(cpus)?));
        r.push(&Resource::scalar("mem", Scalar::from_f64(mem_mb)?));
        Ok(r)
    }

    /// True if there are no resources.
    pub fn is_empty(&self) -> bool {
        self.fast == [0; 4] && self.other.is_empty()
    }

    /// Number of distinct (name, role, kind) entries.
    pub fn len(&self) -> usize {
        self.fast.iter().filter(|v| **v != 0).count() + self.other.len()
    }

    fn find(&self, r: &Resource) -> Result<usize, usize> {
        let key = r.key();
        self.other.binary_search_by(|x| x.key().cmp(&key))
    }

    /// Adds one resource (empty values are ignored; role `"*"` means unreserved).
    pub fn push(&mut self, r: &Resource) {
        if r.value.is_empty() {
            return;
        }
        if let (None, Value::Scalar(s)) = (r.role(), &r.value) {
            if let Some(i) = fast_index(&r.name) {
                self.fast[i] = self.fast[i].saturating_add(s.milli());
                return;
            }
        }
        match self.find(r) {
            Ok(i) => {
                self.other[i].value.add(&r.value);
            }
            Err(i) => {
                let mut owned = r.clone();
                if owned.reservation.as_deref() == Some(UNRESERVED_ROLE) {
                    owned.reservation = None;
                }
                self.other.insert(i, owned);
            }
        }
    }

    /// Removes one resource; quantities never go below zero and emptied entries vanish.
    pub fn remove(&mut self, r: &Resource) {
        if r.value.is_empty() {
            return;
        }
        if let (None, Value::Scalar(s)) = (r.role(), &r.value) {
            if let Some(i) = fast_index(&r.name) {
                self.fast[i] = self.fast[i].saturating_sub(s.milli()).max(0);
                return;
            }
        }
        if let Ok(i) = self.find(r) {
            let entry = &mut self.other[i];
            entry.value.subtract(&r.value);
            if entry.value.is_empty() {
                self.other.remove(i);
            }
        }
    }

    /// True if `r` fits within the matching (name, role, kind) entry.
    pub fn contains_resource(&self, r: &Resource) -> bool {
        if r.value.is_empty() {
            return true;
        }
        if let (None, Value::Scalar(s)) = (r.role(), &r.value) {
            if let Some(i) = fast_index(&r.name) {
                return self.fast[i] >= s.milli();
            }
        }
        match self.find(r) {
            Ok(i) => self.other[i].value.contains(&r.value),
            Err(_) => false,
        }
    }

    /// True if every resource of `other` fits in `self` (reservations must match).
    pub fn contains(&self, other: &Resources) -> bool {
        self.fast.iter().zip(other.fast.iter()).all(|(a, b)| a >= b)
            && other.other.iter().all(|r| self.contains_resource(r))
    }

    /// True if every entry is a scalar (no ranges or sets): then subtracting these from
    /// a sum that holds them gives exactly the sum without them (ranges and sets add as
    /// unions, so an overlap counted once would be taken away entirely).
    pub fn is_scalar_only(&self) -> bool {
        self.other
            .iter()
            .all(|r| matches!(r.value, Value::Scalar(_)))
    }

    /// Iterates over all entries in canonical order (fast scalars first).
    pub fn iter(&self) -> impl Iterator<Item = Resource> + '_ {
        let fast = self
            .fast
            .iter()
            .enumerate()
            .filter(|(_, v)| **v != 0)
            .map(|(i, v)| Resource::scalar(FAST_NAMES[i], Scalar::from_milli(*v)));
        fast.chain(self.other.iter().cloned())
    }

    /// All entries as a vector, in canonical order.
    pub fn to_vec(&self) -> Vec<Resource> {
        self.iter().collect()
    }

    /// The entries satisfying `keep`.
    pub fn filter(&self, mut keep: impl FnMut(&Resource) -> bool) -> Resources {
        let mut out = Resources::new();
        for r in self.iter() {
            if keep(&r) {
                out.push(&r);
            }
        }
        out
    }

    /// Sum of the scalar resource `name` over all reservations (zero if absent).
    pub fn scalar(&self, name: &str) -> Scalar {
        let base = fast_index(name).map_or(0, |i| self.fast[i]);
        let rest = self
            .other
            .iter()
            .filter(|r| r.name == name)
            .filter_map(|r| match &r.value {
                Value::Scalar(s) => Some(s.milli()),
                _ => None,
            })
            .fold(0i64, i64::saturating_add);
        Scalar::from_milli(base.saturating_add(rest))
    }

    /// Total CPUs over all reservations.
    pub fn cpus(&self) -> f64 {
        self.scalar("cpus").as_f64()
    }

    /// Total memory in MB over all reservations.
    pub fn mem(&self) -> f64 {
        self.scalar("mem").as_f64()
    }

    /// Total disk in MB over all reservations.
    pub fn disk(&self) -> f64 {
        self.scalar("disk").as_f64()
    }

    /// Total GPUs over all reservations.
    pub fn gpus(&self) -> f64 {
        self.scalar("gpus").as_f64()
    }

    /// Union of the ranges resource `name` over all reservations.
    pub fn ranges(&self, name: &str) -> Ranges {
        let mut out = Ranges::new();
        for r in self.other.iter().filter(|r| r.name == name) {
            if let Value::Ranges(x) = &r.value {
                out.add(x);
            }
        }
        out
    }

    /// Union of the `ports` ranges over all reservations.
    pub fn ports(&self) -> Ranges {
        self.ranges("ports")
    }

    /// Union of the set resource `name` over all reservations.
    pub fn set(&self, name: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for r in self.other.iter().filter(|r| r.name == name) {
            if let Value::Set(x) = &r.value {
                out.extend(x.iter().cloned());
            }
        }
        out
    }

    /// The lowest `n` ports (any reservation, entries in canonical order),
    /// as resources keeping their reservation; `None` if fewer than `n` exist.
    pub fn take_ports(&self, n: u64) -> Option<Resources> {
        let mut need = n;
        let mut out = Resources::new();
        for r in self.other.iter().filter(|r| r.name == "ports") {
            if need == 0 {
                break;
            }
            if let Value::Ranges(x) = &r.value {
                let here = x.count().min(need);
                if let Some(taken) = x.take(here) {
                    out.push(&Resource {
                        name: r.name.clone(),
                        value: Value::Ranges(taken),
                        reservation: r.reservation.clone(),
                    });
                    need -= here;
                }
            }
        }
        (need == 0).then_some(out)
    }

    /// Only the unreserved resources.
    pub fn unreserved(&self) -> Resources {
        Resources {
            fast: self.fast,
            other: self
                .other
                .iter()
                .filter(|r| r.is_unreserved())
                .cloned()
                .collect(),
        }
    }

    /// Only the resources reserved for exactly `role` (`"*"` gives the unreserved ones).
    pub fn reserved(&self, role: &str) -> Resources {
        if role == UNRESERVED_ROLE {
            return self.unreserved();
        }
        Resources {
            fast: [0; 4],
            other: self
                .other
                .iter()
                .filter(|r| r.role() == Some(role))
                .cloned()
                .collect(),
        }
    }

    /// Only the resources reserved for some role.
    pub fn all_reserved(&self) -> Resources {
        Resources {
            fast: [0; 4],
            other: self
                .other
                .iter()
                .filter(|r| !r.is_unreserved())
                .cloned()
                .collect(),
        }
    }

    /// What `role` may be offered: unreserved plus resources reserved for `role`.
    pub fn allocatable_to(&self, role: &str) -> Resources {
        Resources {
            fast: self.fast,
            other: self
                .other
                .iter()
                .filter(|r| r.role().is_none_or(|x| x == role))
                .cloned()
                .collect(),
        }
    }

    /// The distinct roles that hold reservations.
    pub fn roles(&self) -> BTreeSet<String> {
        self.other
            .iter()
            .filter_map(|r| r.role())
            .map(str::to_owned)
            .collect()
    }

    /// The same quantities with every reservation dropped.
    pub fn flatten(&self) -> Resources {
        self.with_role(None)
    }

    /// The same quantities, all reserved for `role` (`"*"` is the same as [`Resources::flatten`]).
    pub fn reserve(&self, role: &str) -> Resources {
        self.with_role(normalize_role(Some(role)))
    }

    fn with_role(&self, role: Option<&str>) -> Resources {
        let mut out = Resources::new();
        for mut r in self.iter() {
            r.reservation = role.map(str::to_owned);
            out.push(&r);
        }
        out
    }

    /// These resources (an agent's `--resources`) with `checkpointed` dynamic
    /// reservations applied: each reserved resource there replaces the same unreserved
    /// quantity here. Reservations that do not fit the unreserved resources are skipped.
    pub fn with_checkpointed(&self, checkpointed: &Resources) -> Resources {
        let mut out = self.clone();
        for r in checkpointed.iter().filter(|r| !r.is_unreserved()) {
            let one: Resources = r.clone().into();
            let flat = one.flatten();
            if out.unreserved().contains(&flat) {
                out -= &flat;
                out += &one;
            }
        }
        out
    }

    /// The `/master/state` JSON model: an object keyed by resource name with
    /// `cpus`, `gpus`, `mem` and `disk` always present; scalars are numbers
    /// summed over reservations, ranges and sets are strings in Mesos syntax.
    pub fn to_json_map(&self) -> serde_json::Value {
        serde_json::to_value(self.json_map()).unwrap_or(serde_json::Value::Null)
    }

    /// [`Resources::to_json_map`] serialized in place (keys sorted, as serde_json's
    /// maps sort them), for renderers that write JSON without building a value tree.
    pub fn json_map(&self) -> JsonMap<'_> {
        JsonMap(self)
    }
}

/// See [`Resources::json_map`].
pub struct JsonMap<'a>(&'a Resources);

/// One value of [`JsonMap`]: a summed scalar, or ranges or a set in Mesos syntax.
enum MapValue {
    Number(f64),
    Text(String),
}

impl Serialize for MapValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            MapValue::Number(n) => s.serialize_f64(*n),
            MapValue::Text(t) => s.serialize_str(t),
        }
    }
}

impl Serialize for JsonMap<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let r = self.0;
        if r.other.is_empty() {
            // The common case, without the sorting map: the four scalars in key order.
            let mut out = s.serialize_map(Some(FAST_NAMES.len()))?;
            for name in ["cpus", "disk", "gpus", "mem"] {
                out.serialize_entry(name, &r.scalar(name).as_f64())?;
            }
            return out.end();
        }
        let mut map = std::collections::BTreeMap::new();
        for name in FAST_NAMES {
            map.insert(name, MapValue::Number(r.scalar(name).as_f64()));
        }
        for x in &r.other {
            if map.contains_key(x.name.as_str()) {
                continue;
            }
            let v = match &x.value {
                Value::Scalar(_) => MapValue::Number(r.scalar(&x.name).as_f64()),
                Value::Ranges(_) => MapValue::Text(r.ranges(&x.name).to_string()),
                Value::Set(_) => MapValue::Text(SetDisplay(&r.set(&x.name)).to_string()),
            };
            map.insert(x.name.as_str(), v);
        }
        let mut out = s.serialize_map(Some(map.len()))?;
        for (k, v) in &map {
            out.serialize_entry(k, v)?;
        }
        out.end()
    }
}

impl Resources {
    /// The Mesos JSON array form (`[{"name":"cpus","type":"SCALAR","scalar":{"value":1},
    /// "role":"*"}, …]`; reserved resources also carry `reservations`), as the operator
    /// endpoints use and as `FromStr` parses back.
    pub fn to_json_array(&self) -> serde_json::Value {
        let items: Vec<serde_json::Value> = self
            .iter()
            .map(|r| {
                let mut v = match &r.value {
                    Value::Scalar(s) => serde_json::json!({
                        "name": r.name, "type": "SCALAR", "scalar": {"value": s.as_f64()}
                    }),
                    Value::Ranges(rs) => {
                        let list: Vec<serde_json::Value> = rs
                            .iter()
                            .map(|x| serde_json::json!({"begin": x.begin, "end": x.end}))
                            .collect();
                        serde_json::json!({
                            "name": r.name, "type": "RANGES", "ranges": {"range": list}
                        })
                    }
                    Value::Set(items) => serde_json::json!({
                        "name": r.name, "type": "SET", "set": {"item": items}
                    }),
                };
                match r.role() {
                    Some(role) => {
                        v["role"] = serde_json::json!(role);
                        v["reservations"] = serde_json::json!([{"type": "DYNAMIC", "role": role}]);
                    }
                    None => v["role"] = serde_json::json!(UNRESERVED_ROLE),
                }
                v
            })
            .collect();
        serde_json::Value::Array(items)
    }
}

struct SetDisplay<'a>(&'a BTreeSet<String>);

impl fmt::Display for SetDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        value::fmt_set(self.0, f)
    }
}

impl fmt::Display for Resources {
    /// Mesos syntax: `cpus:2; mem:1024; ports:[31000-32000]`; empty prints as the empty string.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            r.fmt(f)?;
        }
        Ok(())
    }
}

impl From<Resource> for Resources {
    fn from(r: Resource) -> Self {
        let mut out = Resources::new();
        out.push(&r);
        out
    }
}

impl FromIterator<Resource> for Resources {
    fn from_iter<I: IntoIterator<Item = Resource>>(iter: I) -> Self {
        let mut out = Resources::new();
        for r in iter {
            out.push(&r);
        }
        out
    }
}

impl TryFrom<Vec<Resource>> for Resources {
    type Error = ResourcesError;

    /// Validates every entry, then canonicalizes.
    fn try_from(v: Vec<Resource>) -> Result<Self, Self::Error> {
        for r in &v {
            r.validate()?;
        }
        Ok(v.into_iter().collect())
    }
}

impl From<Resources> for Vec<Resource> {
    fn from(r: Resources) -> Self {
        r.to_vec()
    }
}

impl AddAssign<&Resources> for Resources {
    fn add_assign(&mut self, rhs: &Resources) {
        for (a, b) in self.fast.iter_mut().zip(rhs.fast.iter()) {
            *a = a.saturating_add(*b);
        }
        for r in &rhs.other {
            self.push(r);
        }
    }
}

impl AddAssign for Resources {
    fn add_assign(&mut self, rhs: Resources) {
        *self += &rhs;
    }
}

impl SubAssign<&Resources> for Resources {
    fn sub_assign(&mut self, rhs: &Resources) {
        for (a, b) in self.fast.iter_mut().zip(rhs.fast.iter()) {
            *a = a.saturating_sub(*b).max(0);
        }
        for r in &rhs.other {
            self.remove(r);
        }
    }
}

impl SubAssign for Resources {
    fn sub_assign(&mut self, rhs: Resources) {
        *self -= &rhs;
    }
}

impl Add<&Resources> for Resources {
    type Output = Resources;
    fn add(mut self, rhs: &Resources) -> Resources {
        self += rhs;
        self
    }
}

impl Add for Resources {
    type Output = Resources;
    fn add(mut self, rhs: Resources) -> Resources {
        self += &rhs;
        self
    }
}

impl Add<&Resources> for &Resources {
    type Output = Resources;
    fn add(self, rhs: &Resources) -> Resources {
        self.clone() + rhs
    }
}

impl Sub<&Resources> for Resources {
    type Output = Resources;
    fn sub(mut self, rhs: &Resources) -> Resources {
        self -= rhs;
        self
    }
}

impl Sub for Resources {
    type Output = Resources;
    fn sub(mut self, rhs: Resources) -> Resources {
        self -= &rhs;
        self
    }
}

impl Sub<&Resources> for &Resources {
    type Output = Resources;
    fn sub(self, rhs: &Resources) -> Resources {
        self.clone() - rhs
    }
}

/// Orders resources by their canonical key; exposed for deterministic sorting by callers.
pub fn canonical_cmp(a: &Resource, b: &Resource) -> Ordering {
    a.key().cmp(&b.key())
}

//! Parsing of Mesos's `--resources` syntax and its JSON array form.
//!
//! Text: `cpus:2;mem:1024;ports:[31000-32000];zones:{a,b};cpus(ads):8`.
//! Entries are separated by `;`, whitespace is ignored around tokens, role
//! `*` means unreserved, and repeated names add up. JSON: the array Mesos
//! accepts, e.g. `[{"name":"cpus","type":"SCALAR","scalar":{"value":2}}]`.

use super::{Resource, Resources, UNRESERVED_ROLE};
use crate::value::{Range, Ranges, Scalar, Value, ValueError, ValueKind, RESERVED_CHARS};
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use thiserror::Error;

/// Errors from parsing or validating resources.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ResourcesError {
    /// An entry has no name before the `:`.
    #[error("invalid resource '{item}': empty name; expected name:value such as cpus:2")]
    EmptyName {
        /// The offending entry.
        item: String,
    },
    /// The name contains whitespace or a delimiter character.
    #[error("invalid resource name '{name}': {reason}; names are like cpus, mem or ports")]
    BadName {
        /// The offending name.
        name: String,
        /// What was wrong.
        reason: String,
    },
    /// An entry has no `:` separating name and value.
    #[error(
        "invalid resource '{item}': missing ':' between name and value; \
         expected name:value or name(role):value, e.g. cpus(ads):8"
    )]
    MissingValue {
        /// The offending entry.
        item: String,
    },
    /// The `(role)` part is malformed.
    #[error(
        "invalid role '{role}' for resource '{name}': {reason}; \
         expected name(role):value with a role such as ads, or * for unreserved"
    )]
    BadRole {
        /// The resource name.
        name: String,
        /// The offending role text.
        role: String,
        /// What was wrong.
        reason: String,
    },
    /// The value text could not be parsed.
    #[error("invalid value for resource '{name}': {source}")]
    Value {
        /// The resource name.
        name: String,
        /// The underlying value error.
        #[source]
        source: ValueError,
    },
    /// A scalar is negative.
    #[error("invalid value for resource '{name}': {value} is negative; quantities must be >= 0")]
    Negative {
        /// The resource name.
        name: String,
        /// The offending value.
        value: String,
    },
    /// One name is given with two different value types.
    #[error(
        "resource '{name}' is given as both {first} and {second}; \
         all entries for one name must have the same type"
    )]
    MixedTypes {
        /// The resource name.
        name: String,
        /// The first type seen.
        first: &'static str,
        /// The conflicting type.
        second: &'static str,
    },
    /// A JSON entry has an unknown `type`.
    #[error("unknown type '{ty}' for resource '{name}'; expected SCALAR, RANGES or SET")]
    UnknownType {
        /// The resource name.
        name: String,
        /// The offending type text.
        ty: String,
    },
    /// The JSON form is malformed.
    #[error(
        "invalid JSON resources: {reason}; expected e.g. \
         [{{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{{\"value\":2}}}}]"
    )]
    Json {
        /// What was wrong.
        reason: String,
    },
}

fn bad_char(s: &str) -> Option<char> {
    s.chars()
        .find(|c| c.is_whitespace() || c.is_control() || RESERVED_CHARS.contains(c))
}

/// Checks a resource name: non-empty, no whitespace or delimiters.
pub(crate) fn validate_name(item: &str, name: &str) -> Result<(), ResourcesError> {
    if name.is_empty() {
        return Err(ResourcesError::EmptyName {
            item: item.to_owned(),
        });
    }
    if let Some(c) = bad_char(name) {
        return Err(ResourcesError::BadName {
            name: name.to_owned(),
            reason: format!("it contains {c:?}"),
        });
    }
    Ok(())
}

/// Checks a role: non-empty, not `.`/`..`, no whitespace or delimiters.
pub(crate) fn validate_role(name: &str, role: &str) -> Result<(), ResourcesError> {
    let bad = |reason: String| ResourcesError::BadRole {
        name: name.to_owned(),
        role: role.to_owned(),
        reason,
    };
    if role.is_empty() {
        return Err(bad("the role is empty".to_owned()));
    }
    if role == "." || role == ".." {
        return Err(bad("'.' and '..' are not valid roles".to_owned()));
    }
    if let Some(c) = bad_char(role) {
        return Err(bad(format!("it contains {c:?}")));
    }
    Ok(())
}

/// Tracks the value type first seen for each name, rejecting mixtures.
#[derive(Default)]
struct KindCheck(BTreeMap<String, ValueKind>);

impl KindCheck {
    fn check(&mut self, name: &str, kind: ValueKind) -> Result<(), ResourcesError> {
        match self.0.get(name) {
            Some(first) if *first != kind => Err(ResourcesError::MixedTypes {
                name: name.to_owned(),
                first: first.mesos_name(),
                second: kind.mesos_name(),
            }),
            Some(_) => Ok(()),
            None => {
                self.0.insert(name.to_owned(), kind);
                Ok(())
            }
        }
    }
}

fn check_value(name: &str, value: &Value) -> Result<(), ResourcesError> {
    if let Value::Scalar(s) = value {
        if s.is_negative() {
            return Err(ResourcesError::Negative {
                name: name.to_owned(),
                value: s.to_string(),
            });
        }
    }
    Ok(())
}

impl FromStr for Resource {
    type Err = ResourcesError;

    /// Parses one entry: `name:value` or `name(role):value`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let item = s.trim();
        let (head, text) = item
            .split_once(':')
            .ok_or_else(|| ResourcesError::MissingValue {
                item: item.to_owned(),
            })?;
        let head = head.trim();
        let (name, role) = match head.split_once('(') {
            None => (head, None),
            Some((name, rest)) => {
                let name = name.trim();
                let role = rest
                    .trim()
                    .strip_suffix(')')
                    .ok_or_else(|| ResourcesError::BadRole {
                        name: name.to_owned(),
                        role: rest.to_owned(),
                        reason: "missing closing ')'".to_owned(),
                    })?
                    .trim();
                (name, Some(role))
            }
        };
        validate_name(item, name)?;
        if let Some(role) = role {
            validate_role(name, role)?;
        }
        let value = Value::parse(text).map_err(|source| ResourcesError::Value {
            name: name.to_owned(),
            source,
        })?;
        check_value(name, &value)?;
        Ok(Resource {
            name: name.to_owned(),
            value,
            reservation: role.filter(|r| *r != UNRESERVED_ROLE).map(str::to_owned),
        })
    }
}

impl FromStr for Resources {
    type Err = ResourcesError;

    /// Parses the `--resources` text syntax, or the JSON array form if the
    /// input starts with `[`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        if text.starts_with('[') {
            return parse_json(text);
        }
        let mut kinds = KindCheck::default();
        let mut out = Resources::new();
        for item in text.split(';') {
            if item.trim().is_empty() {
                continue;
            }
            let r: Resource = item.parse()?;
            kinds.check(&r.name, r.value.kind())?;
            out.push(&r);
        }
        Ok(out)
    }
}

fn json_err(reason: impl Into<String>) -> ResourcesError {
    ResourcesError::Json {
        reason: reason.into(),
    }
}

/// Parses the Mesos JSON array form of resources.
pub fn parse_json(text: &str) -> Result<Resources, ResourcesError> {
    let doc: serde_json::Value =
        serde_json::from_str(text).map_err(|e| json_err(format!("not valid JSON ({e})")))?;
    let items = doc
        .as_array()
        .ok_or_else(|| json_err("the top level must be an array"))?;
    let mut kinds = KindCheck::default();
    let mut out = Resources::new();
    for (i, item) in items.iter().enumerate() {
        let r = json_resource(i, item)?;
        kinds.check(&r.name, r.value.kind())?;
        out.push(&r);
    }
    Ok(out)
}

fn json_resource(i: usize, item: &serde_json::Value) -> Result<Resource, ResourcesError> {
    let obj = item
        .as_object()
        .ok_or_else(|| json_err(format!("entry {i} is not an object")))?;
    let name = obj
        .get("name")
        .and_then(|v| v.as_str())
        .ok_or_else(|| json_err(format!("entry {i} has no string 'name'")))?;
    validate_name(name, name)?;
    let ty = obj
        .get("type")
        .and_then(|v| v.as_str())
        .ok_or_else(|| json_err(format!("resource '{name}' has no string 'type'")))?;
    let field = |key: &str| {
        obj.get(key)
            .ok_or_else(|| json_err(format!("resource '{name}' of type {ty} has no '{key}'")))
    };
    let value = match ty {
        "SCALAR" => {
            let v = field("scalar")?
                .get("value")
                .and_then(|v| v.as_f64())
                .ok_or_else(|| json_err(format!("resource '{name}' needs scalar.value")))?;
            Value::Scalar(Scalar::from_f64(v).map_err(|source| ResourcesError::Value {
                name: name.to_owned(),
                source,
            })?)
        }
        "RANGES" => {
            let list = field("ranges")?
                .get("range")
                .and_then(|v| v.as_array())
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let mut ranges = Ranges::new();
            for r in list {
                let b = r.get("begin").and_then(|v| v.as_u64());
                let e = r.get("end").and_then(|v| v.as_u64());
                let (Some(b), Some(e)) = (b, e) else {
                    return Err(json_err(format!(
                        "resource '{name}' has a range without integer begin/end"
                    )));
                };
                ranges.insert(Range::new(b, e).map_err(|source| ResourcesError::Value {
                    name: name.to_owned(),
                    source,
                })?);
            }
            Value::Ranges(ranges)
        }
        "SET" => {
            let list = field("set")?
                .get("item")
                .and_then(|v| v.as_array())
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let mut set = BTreeSet::new();
            for x in list {
                let s = x
                    .as_str()
                    .ok_or_else(|| json_err(format!("resource '{name}' has a non-string item")))?;
                set.insert(s.to_owned());
            }
            Value::Set(set)
        }
        other => {
            return Err(ResourcesError::UnknownType {
                name: name.to_owned(),
                ty: other.to_owned(),
            })
        }
    };
    check_value(name, &value)?;
    // Refined reservations: the last entry of `reservations` is the effective role;
    // otherwise fall back to the legacy `role` field.
    let role = match obj.get("reservations").and_then(|v| v.as_array()) {
        Some(list) if !list.is_empty() => list
            .last()
            .and_then(|r| r.get("role"))
            .and_then(|v| v.as_str()),
        _ => obj.get("role").and_then(|v| v.as_str()),
    };
    if let Some(role) = role {
        validate_role(name, role)?;
    }
    Ok(Resource {
        name: name.to_owned(),
        value,
        reservation: role.filter(|r| *r != UNRESERVED_ROLE).map(str::to_owned),
    })
}

//! Agent attributes (`--attributes=rack:a;zone:1;ports:[1-5];os:{linux}`).
//!
//! Attributes are descriptive, not consumable: they have no arithmetic, only
//! parsing, display and the `/master/state` JSON model. Values are text,
//! scalars, ranges or sets; a value that is not a number, `[..]` or `{..}`
//! is text.

use crate::value::{self, Ranges, Scalar, ValueError, RESERVED_CHARS};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// Errors from parsing attributes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AttributesError {
    /// An entry has no `:`.
    #[error("invalid attribute '{item}': missing ':' between name and value; expected name:value such as rack:a")]
    MissingValue {
        /// The offending entry.
        item: String,
    },
    /// An entry has an empty name.
    #[error("invalid attribute '{item}': empty name; expected name:value such as rack:a")]
    EmptyName {
        /// The offending entry.
        item: String,
    },
    /// A name or text value contains a delimiter character.
    #[error("invalid attribute '{item}': {reason}")]
    BadText {
        /// The offending entry.
        item: String,
        /// What was wrong.
        reason: String,
    },
    /// A value failed to parse.
    #[error("invalid value for attribute '{name}': {source}")]
    Value {
        /// The attribute name.
        name: String,
        /// The underlying value error.
        #[source]
        source: ValueError,
    },
}

/// An attribute value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributeValue {
    /// Free text, e.g. `rack:a`.
    Text(String),
    /// A number, e.g. `zone:1`.
    Scalar(Scalar),
    /// Integer ranges, e.g. `ids:[1-5]`.
    Ranges(Ranges),
    /// A set of strings, e.g. `os:{linux,x86}`.
    Set(BTreeSet<String>),
}

impl fmt::Display for AttributeValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttributeValue::Text(t) => f.write_str(t),
            AttributeValue::Scalar(s) => s.fmt(f),
            AttributeValue::Ranges(r) => r.fmt(f),
            AttributeValue::Set(s) => value::fmt_set(s, f),
        }
    }
}

/// One named attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Attribute {
    /// Attribute name.
    pub name: String,
    /// Attribute value.
    pub value: AttributeValue,
}

impl Attribute {
    /// A text attribute.
    pub fn text(name: impl Into<String>, value: impl Into<String>) -> Self {
        Attribute {
            name: name.into(),
            value: AttributeValue::Text(value.into()),
        }
    }
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.value)
    }
}

fn bad_char(s: &str) -> Option<char> {
    s.chars()
        .find(|c| c.is_control() || RESERVED_CHARS.contains(c))
}

impl FromStr for Attribute {
    type Err = AttributesError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let item = s.trim();
        let (name, text) = item
            .split_once(':')
            .ok_or_else(|| AttributesError::MissingValue {
                item: item.to_owned(),
            })?;
        let (name, text) = (name.trim(), text.trim());
        if name.is_empty() {
            return Err(AttributesError::EmptyName {
                item: item.to_owned(),
            });
        }
        if let Some(c) = bad_char(name) {
            return Err(AttributesError::BadText {
                item: item.to_owned(),
                reason: format!("the name contains reserved character {c:?}"),
            });
        }
        let wrap = |source| AttributesError::Value {
            name: name.to_owned(),
            source,
        };
        let value = if text.starts_with('[') {
            AttributeValue::Ranges(text.parse().map_err(wrap)?)
        } else if text.starts_with('{') {
            AttributeValue::Set(value::parse_set(text).map_err(wrap)?)
        } else if let Ok(s) = text.parse::<Scalar>() {
            AttributeValue::Scalar(s)
        } else {
            if let Some(c) = bad_char(text) {
                return Err(AttributesError::BadText {
                    item: item.to_owned(),
                    reason: format!("the text value contains reserved character {c:?}"),
                });
            }
            AttributeValue::Text(text.to_owned())
        };
        Ok(Attribute {
            name: name.to_owned(),
            value,
        })
    }
}

/// An ordered list of attributes as an agent advertises them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Attributes(pub Vec<Attribute>);

impl Attributes {
    /// No attributes.
    pub const fn new() -> Self {
        Attributes(Vec::new())
    }

    /// The first attribute called `name`.
    pub fn get(&self, name: &str) -> Option<&AttributeValue> {
        self.0.iter().find(|a| a.name == name).map(|a| &a.value)
    }

    /// True if there are no attributes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterates over the attributes in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Attribute> {
        self.0.iter()
    }

    /// The `/master/state` JSON model: an object of name to value, scalars as
    /// numbers, everything else as strings.
    pub fn to_json_map(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for a in &self.0 {
            let v = match &a.value {
                AttributeValue::Scalar(s) => serde_json::json!(s.as_f64()),
                other => serde_json::json!(other.to_string()),
            };
            map.insert(a.name.clone(), v);
        }
        serde_json::Value::Object(map)
    }
}

impl fmt::Display for Attributes {
    /// Mesos syntax: `rack:a;zone:1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(";")?;
            }
            a.fmt(f)?;
        }
        Ok(())
    }
}

impl FromStr for Attributes {
    type Err = AttributesError;

    /// Parses `name:value;name:value`; empty entries are skipped.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(';')
            .filter(|item| !item.trim().is_empty())
            .map(str::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(Attributes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_and_display() {
        let a: Attributes = " rack:a ; zone:1;ids:[3-4,1-2];os:{x86,linux};"
            .parse()
            .unwrap();
        assert_eq!(a.to_string(), "rack:a;zone:1;ids:[1-4];os:{linux,x86}");
        assert_eq!(a.get("rack"), Some(&AttributeValue::Text("a".into())));
        assert_eq!(
            a.get("zone"),
            Some(&AttributeValue::Scalar(Scalar::from_units(1)))
        );
        assert_eq!(a.to_string().parse::<Attributes>().unwrap(), a);
        assert_eq!(
            a.to_json_map(),
            serde_json::json!({"rack":"a","zone":1.0,"ids":"[1-4]","os":"{linux,x86}"})
        );
        let back: Attributes = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn parse_errors() {
        let e = "rack".parse::<Attributes>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid attribute 'rack': missing ':' between name and value; \
             expected name:value such as rack:a"
        );
        let e = ":a".parse::<Attributes>().unwrap_err();
        assert!(e.to_string().contains("empty name"));
        let e = "ids:[5-3]".parse::<Attributes>().unwrap_err();
        assert!(e
            .to_string()
            .starts_with("invalid value for attribute 'ids': malformed ranges"));
        let e = "os:{a".parse::<Attributes>().unwrap_err();
        assert!(e.to_string().contains("missing enclosing braces"));
        let e = "a:b)".parse::<Attributes>().unwrap_err();
        assert!(e.to_string().contains("reserved character ')'"));
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC*") {
            let _ = s.parse::<Attributes>();
        }

        #[test]
        fn parse_never_panics_on_syntax(s in "[a-z0-9:;,{}\\[\\]() .-]{0,40}") {
            if let Ok(a) = s.parse::<Attributes>() {
                // Whatever parses re-parses to the same thing from its display.
                prop_assert_eq!(a.to_string().parse::<Attributes>().unwrap(), a);
            }
        }
    }
}

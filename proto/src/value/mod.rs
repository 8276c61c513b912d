//! Typed values shared by resources and attributes: scalars, ranges, sets.
//!
//! Mirrors Mesos's `Value` message (`SCALAR`, `RANGES`, `SET`; attributes add
//! `TEXT`, see [`crate::attributes`]). The text forms follow Mesos: `2.5`,
//! `[1-10,20-30]`, `{a,b}`.

mod ranges;
mod scalar;

pub use ranges::{Range, Ranges};
pub use scalar::Scalar;

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use thiserror::Error;

/// Errors from parsing or converting a single value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValueError {
    /// The text is not a decimal number.
    #[error("'{text}' is not a number; expected a decimal such as 2 or 0.5")]
    BadNumber {
        /// The offending text.
        text: String,
    },
    /// The number is NaN or infinite.
    #[error("'{text}' is not a finite number; expected a decimal such as 2 or 0.5")]
    NotFinite {
        /// The offending text.
        text: String,
    },
    /// The number's magnitude exceeds [`Scalar::MAX_ABS`].
    #[error("'{text}' is too large; scalar values must be at most 1e15 in magnitude")]
    OutOfRange {
        /// The offending text.
        text: String,
    },
    /// Malformed ranges text.
    #[error("malformed ranges '{text}': {reason}; expected e.g. [31000-32000,40000-40010]")]
    BadRanges {
        /// The offending text.
        text: String,
        /// What was wrong.
        reason: String,
    },
    /// Malformed set text.
    #[error("malformed set '{text}': {reason}; expected e.g. {{a,b,c}}")]
    BadSet {
        /// The offending text.
        text: String,
        /// What was wrong.
        reason: String,
    },
}

/// A resource value: a scalar quantity, a set of integer ranges, or a set of strings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    /// A fixed-point quantity, e.g. `cpus:2.5`.
    Scalar(Scalar),
    /// Integer intervals, e.g. `ports:[31000-32000]`.
    Ranges(Ranges),
    /// Unordered distinct strings, e.g. `zones:{a,b}`.
    Set(BTreeSet<String>),
}

/// The kind of a [`Value`], ordered SCALAR < RANGES < SET.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ValueKind {
    /// [`Value::Scalar`].
    Scalar,
    /// [`Value::Ranges`].
    Ranges,
    /// [`Value::Set`].
    Set,
}

impl ValueKind {
    /// The Mesos type name: `SCALAR`, `RANGES` or `SET`.
    pub fn mesos_name(self) -> &'static str {
        match self {
            ValueKind::Scalar => "SCALAR",
            ValueKind::Ranges => "RANGES",
            ValueKind::Set => "SET",
        }
    }
}

impl Value {
    /// The kind of this value.
    pub fn kind(&self) -> ValueKind {
        match self {
            Value::Scalar(_) => ValueKind::Scalar,
            Value::Ranges(_) => ValueKind::Ranges,
            Value::Set(_) => ValueKind::Set,
        }
    }

    /// True if the value holds nothing (zero or negative scalar, no ranges, no items).
    pub fn is_empty(&self) -> bool {
        match self {
            Value::Scalar(s) => s.milli() <= 0,
            Value::Ranges(r) => r.is_empty(),
            Value::Set(s) => s.is_empty(),
        }
    }

    /// Adds `other` into `self`. Returns false (and changes nothing) if the kinds differ.
    pub fn add(&mut self, other: &Value) -> bool {
        match (self, other) {
            (Value::Scalar(a), Value::Scalar(b)) => *a = a.saturating_add(*b),
            (Value::Ranges(a), Value::Ranges(b)) => a.add(b),
            (Value::Set(a), Value::Set(b)) => a.extend(b.iter().cloned()),
            _ => return false,
        }
        true
    }

    /// Removes `other` from `self`, never going below zero / empty.
    /// Returns false (and changes nothing) if the kinds differ.
    pub fn subtract(&mut self, other: &Value) -> bool {
        match (self, other) {
            (Value::Scalar(a), Value::Scalar(b)) => *a = a.sub_floor_zero(*b),
            (Value::Ranges(a), Value::Ranges(b)) => a.subtract(b),
            (Value::Set(a), Value::Set(b)) => {
                if !b.is_empty() {
                    a.retain(|x| !b.contains(x));
                }
            }
            _ => return false,
        }
        true
    }

    /// True if `other` is of the same kind and fits within `self`.
    pub fn contains(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Scalar(a), Value::Scalar(b)) => a >= b,
            (Value::Ranges(a), Value::Ranges(b)) => a.contains(b),
            (Value::Set(a), Value::Set(b)) => b.is_subset(a),
            _ => false,
        }
    }

    /// Parses Mesos value text: `[..]` is ranges, `{..}` is a set, anything else a scalar.
    pub fn parse(text: &str) -> Result<Value, ValueError> {
        let t = text.trim();
        if t.starts_with('[') {
            Ok(Value::Ranges(t.parse()?))
        } else if t.starts_with('{') {
            Ok(Value::Set(parse_set(t)?))
        } else {
            Ok(Value::Scalar(t.parse()?))
        }
    }
}

/// Characters that may not appear in a set item (they delimit the text syntax).
pub(crate) const RESERVED_CHARS: &[char] = &[',', ';', ':', '{', '}', '[', ']', '(', ')'];

/// Parses `{a,b,c}` (whitespace tolerant, empty items skipped, duplicates merged).
pub fn parse_set(text: &str) -> Result<BTreeSet<String>, ValueError> {
    let t = text.trim();
    let bad = |reason: String| ValueError::BadSet {
        text: t.to_owned(),
        reason,
    };
    let inner = t
        .strip_prefix('{')
        .and_then(|x| x.strip_suffix('}'))
        .ok_or_else(|| bad("missing enclosing braces".to_owned()))?;
    let mut out = BTreeSet::new();
    for item in inner.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        if let Some(c) = item.chars().find(|c| RESERVED_CHARS.contains(c)) {
            return Err(bad(format!(
                "item '{item}' contains reserved character '{c}'"
            )));
        }
        out.insert(item.to_owned());
    }
    Ok(out)
}

/// Writes a set in Mesos syntax: `{a,b}`.
pub(crate) fn fmt_set(set: &BTreeSet<String>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str("{")?;
    for (i, item) in set.iter().enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        f.write_str(item)?;
    }
    f.write_str("}")
}

impl fmt::Display for Value {
    /// Mesos syntax: `2.5`, `[1-2, 5-6]`, `{a,b}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Scalar(s) => s.fmt(f),
            Value::Ranges(r) => r.fmt(f),
            Value::Set(s) => fmt_set(s, f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parsers_never_panic(s in "\\PC*") {
            let _ = Value::parse(&s);
            let _ = s.parse::<Scalar>();
            let _ = s.parse::<Ranges>();
            let _ = parse_set(&s);
        }

        #[test]
        fn parsers_never_panic_on_syntax(s in "[\\[\\]{}0-9a-e,. +-]{0,30}") {
            if let Ok(v) = Value::parse(&s) {
                prop_assert_eq!(Value::parse(&v.to_string()).unwrap(), v);
            }
        }

        #[test]
        fn scalar_display_round_trip(m in -1_000_000_000_000i64..1_000_000_000_000) {
            let s = Scalar::from_milli(m);
            prop_assert_eq!(s.to_string().parse::<Scalar>().unwrap(), s);
            prop_assert_eq!(Scalar::from_f64(s.as_f64()).unwrap(), s);
        }
    }

    #[test]
    fn parse_kinds() {
        assert_eq!(
            Value::parse(" 2.5 ").unwrap(),
            Value::Scalar(Scalar::from_milli(2500))
        );
        assert_eq!(Value::parse("[1-2]").unwrap().to_string(), "[1-2]");
        assert_eq!(Value::parse("{ b , a,,a }").unwrap().to_string(), "{a,b}");
        assert_eq!(Value::parse("{}").unwrap(), Value::Set(BTreeSet::new()));
        let e = Value::parse("{a").unwrap_err();
        assert_eq!(
            e.to_string(),
            "malformed set '{a': missing enclosing braces; expected e.g. {a,b,c}"
        );
        let e = Value::parse("{a(b)}").unwrap_err();
        assert!(e.to_string().contains("reserved character '('"));
    }

    #[test]
    fn mixed_kinds_refused() {
        let mut v = Value::Scalar(Scalar::from_units(1));
        assert!(!v.add(&Value::Set(BTreeSet::new())));
        assert!(!v.subtract(&Value::Ranges(Ranges::new())));
        assert!(!v.contains(&Value::Ranges(Ranges::new())));
        assert_eq!(v, Value::Scalar(Scalar::from_units(1)));
    }
}

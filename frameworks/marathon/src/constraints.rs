//! Placement constraints (Marathon's `UNIQUE`, `CLUSTER`, `GROUP_BY`, `LIKE`, `UNLIKE`,
//! `MAX_PER`, `IS`) on `hostname` and agent attributes: parsing and the pure placement check.

use std::collections::BTreeMap;

use regex::Regex;

/// The facts about an agent a constraint looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Place {
    /// The agent's host name.
    pub hostname: String,
    /// Attributes, formatted as text.
    pub attributes: BTreeMap<String, String>,
}

impl Place {
    /// The value of `field` here: the host name for `hostname`/`@hostname`, else the
    /// attribute.
    pub fn value(&self, field: &str) -> Option<&str> {
        match field {
            "hostname" | "@hostname" => Some(self.hostname.as_str()),
            other => self.attributes.get(other).map(String::as_str),
        }
    }
}

/// The operator and its argument.
#[derive(Debug, Clone)]
pub enum Op {
    /// At most one instance per value.
    Unique,
    /// All instances on one value (given, or pinned by the first placement).
    Cluster(Option<String>),
    /// Spread evenly over values (optionally over this many expected values).
    GroupBy(Option<usize>),
    /// Only on values fully matching the regex.
    Like(Regex),
    /// Never on values fully matching the regex (agents without the field are fine).
    Unlike(Regex),
    /// At most N instances per value.
    MaxPer(usize),
    /// Exactly this value.
    Is(String),
}

/// One constraint.
#[derive(Debug, Clone)]
pub struct Constraint {
    /// `hostname` or an attribute name.
    pub field: String,
    /// What must hold.
    pub op: Op,
}

fn full(re: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?:{re})$"))
        .map_err(|e| format!("'{re}' is not a valid regular expression: {e}"))
}

impl Constraint {
    /// Parses `[field, OPERATOR, value?]`.
    pub fn parse(parts: &[String]) -> Result<Constraint, String> {
        let (field, op, value) = match parts {
            [f, o] => (f, o, None),
            [f, o, v] => (f, o, Some(v.as_str())),
            _ => return Err("Each constraint must have either 2 or 3 fields".into()),
        };
        if field.is_empty() {
            return Err("Missing field and operator".into());
        }
        let need = |what: &str| value.ok_or_else(|| format!("{op} requires a value ({what})"));
        let num = |v: &str| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| format!("Value '{v}' is not a non-negative integer"))
        };
        let op = match op.as_str() {
            "UNIQUE" => {
                if value.is_some_and(|v| !v.is_empty()) {
                    return Err("Value specified but not used".into());
                }
                Op::Unique
            }
            "CLUSTER" => Op::Cluster(value.filter(|v| !v.is_empty()).map(str::to_string)),
            "GROUP_BY" => Op::GroupBy(match value.filter(|v| !v.is_empty()) {
                Some(v) => Some(num(v)?.max(1)),
                None => None,
            }),
            "LIKE" => Op::Like(full(need("a regular expression")?)?),
            "UNLIKE" => Op::Unlike(full(need("a regular expression")?)?),
            "MAX_PER" => Op::MaxPer(num(need("a number")?)?),
            "IS" => Op::Is(need("a value")?.to_string()),
            other => {
                return Err(format!(
                    "Constraint operator '{other}' is not one of UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER, IS"
                ))
            }
        };
        Ok(Constraint {
            field: field.clone(),
            op,
        })
    }

    /// Whether one more instance may go to `place`, given where the app's instances are.
    pub fn allows(&self, place: &Place, placed: &[&Place]) -> bool {
        let here = place.value(&self.field);
        let count = |v: &str| {
            placed
                .iter()
                .filter(|p| p.value(&self.field) == Some(v))
                .count()
        };
        match &self.op {
            Op::Unlike(re) => here.is_none_or(|v| !re.is_match(v)),
            _ if here.is_none() => false,
            Op::Unique => here.is_some_and(|v| count(v) == 0),
            Op::Cluster(Some(want)) => here == Some(want.as_str()),
            Op::Cluster(None) => match placed.iter().find_map(|p| p.value(&self.field)) {
                Some(pinned) => here == Some(pinned),
                None => true,
            },
            Op::GroupBy(expected) => {
                let Some(v) = here else { return false };
                let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
                for p in placed {
                    if let Some(pv) = p.value(&self.field) {
                        *counts.entry(pv).or_default() += 1;
                    }
                }
                counts.entry(v).or_default();
                let min = if expected.is_some_and(|n| counts.len() < n) {
                    0
                } else {
                    counts.values().copied().min().unwrap_or(0)
                };
                counts.get(v).copied().unwrap_or(0) <= min
            }
            Op::Like(re) => here.is_some_and(|v| re.is_match(v)),
            Op::MaxPer(n) => here.is_some_and(|v| count(v) < *n),
            Op::Is(want) => here == Some(want.as_str()),
        }
    }
}

/// Whether every constraint allows one more instance at `place`.
pub fn all_allow(constraints: &[Constraint], place: &Place, placed: &[&Place]) -> bool {
    constraints.iter().all(|c| c.allows(place, placed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn c(parts: &[&str]) -> Constraint {
        Constraint::parse(&parts.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn place(host: &str, rack: Option<&str>) -> Place {
        let mut attributes = BTreeMap::new();
        if let Some(r) = rack {
            attributes.insert("rack".to_string(), r.to_string());
        }
        Place {
            hostname: host.into(),
            attributes,
        }
    }

    #[test]
    fn parse_errors() {
        let p =
            |v: &[&str]| Constraint::parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert!(p(&["hostname"]).is_err());
        assert!(p(&["hostname", "FOO"]).is_err());
        assert!(p(&["rack", "LIKE"]).is_err());
        assert!(p(&["rack", "LIKE", "("]).is_err());
        assert!(p(&["rack", "MAX_PER", "x"]).is_err());
        assert!(p(&["rack", "GROUP_BY", "3"]).is_ok());
    }

    #[test]
    fn operators() {
        let a = place("a", Some("r1"));
        let b = place("b", Some("r2"));
        let n = place("n", None);
        assert!(c(&["hostname", "UNIQUE"]).allows(&a, &[&b]));
        assert!(!c(&["hostname", "UNIQUE"]).allows(&a, &[&a]));
        assert!(c(&["rack", "CLUSTER", "r1"]).allows(&a, &[]));
        assert!(!c(&["rack", "CLUSTER", "r1"]).allows(&b, &[]));
        assert!(!c(&["rack", "CLUSTER"]).allows(&b, &[&a]));
        assert!(c(&["rack", "LIKE", "r[12]"]).allows(&b, &[]));
        assert!(
            !c(&["rack", "LIKE", "r"]).allows(&b, &[]),
            "full match only"
        );
        assert!(
            !c(&["rack", "LIKE", "r.*"]).allows(&n, &[]),
            "missing field never matches LIKE"
        );
        assert!(
            c(&["rack", "UNLIKE", "r1"]).allows(&n, &[]),
            "UNLIKE accepts a missing field"
        );
        assert!(!c(&["rack", "UNLIKE", "r1"]).allows(&a, &[]));
        assert!(c(&["rack", "MAX_PER", "2"]).allows(&a, &[&a]));
        assert!(!c(&["rack", "MAX_PER", "2"]).allows(&a, &[&a, &a]));
        assert!(c(&["rack", "IS", "r2"]).allows(&b, &[]));
        assert!(!c(&["rack", "IS", "r2"]).allows(&a, &[]));
        // GROUP_BY with 2 expected values: the second instance must go to the other rack.
        assert!(!c(&["rack", "GROUP_BY", "2"]).allows(&a, &[&a]));
        assert!(c(&["rack", "GROUP_BY", "2"]).allows(&b, &[&a]));
    }

    proptest! {
        /// Placing greedily under GROUP_BY n over n racks never lets two racks differ by more
        /// than one; MAX_PER k never puts more than k on a rack.
        #[test]
        fn spreads_hold(offers in proptest::collection::vec(0usize..3, 1..60), k in 1usize..4) {
            let racks: Vec<Place> = (0..3).map(|i| place(&format!("h{i}"), Some(&format!("r{i}")))).collect();
            let group = c(&["rack", "GROUP_BY", "3"]);
            let max_per = Constraint::parse(&["rack".to_string(), "MAX_PER".to_string(), k.to_string()]).unwrap();
            let mut g: Vec<&Place> = Vec::new();
            let mut m: Vec<&Place> = Vec::new();
            for o in offers {
                let p = &racks[o];
                if group.allows(p, &g) { g.push(p); }
                if max_per.allows(p, &m) { m.push(p); }
            }
            let count = |v: &[&Place], r: &str| v.iter().filter(|p| p.value("rack") == Some(r)).count();
            let gc: Vec<usize> = (0..3).map(|i| count(&g, &format!("r{i}"))).collect();
            prop_assert!(gc.iter().max().unwrap() - gc.iter().min().unwrap() <= 1, "{:?}", gc);
            for i in 0..3 { let r = format!("r{i}"); prop_assert!(count(&m, &r) <= k); }
        }
    }
}

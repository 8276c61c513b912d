//! Chronos's placement constraints: `[["rack", "EQUALS", "r1"]]`, `LIKE` and `UNLIKE`
//! (a regular expression that must, or must not, match the whole value) on an agent
//! attribute. As in Chronos, every operator needs the agent to carry the attribute (an
//! agent without it satisfies none of them), a set attribute matches `LIKE` when one of
//! its items does and `UNLIKE` when none does, and `hostname` is the agent's host name
//! unless the agent sets a `hostname` attribute itself.

use std::collections::BTreeMap;

use proto::{AttributeValue, Attributes};
use regex::Regex;

/// What a constraint asks of the attribute's value.
#[derive(Debug, Clone)]
pub enum Op {
    /// The value is exactly this text.
    Equals(String),
    /// The value (a set: one item) fully matches.
    Like(Regex),
    /// The value (a set: every item) does not fully match.
    Unlike(Regex),
}

/// One constraint of a job.
#[derive(Debug, Clone)]
pub struct Constraint {
    /// The attribute it looks at.
    pub attribute: String,
    /// What must hold.
    pub op: Op,
}

/// The facts about an agent that constraints look at: each attribute's values as text
/// (one for text and scalars, the items for sets).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentFacts {
    /// Attribute name → its values.
    pub attributes: BTreeMap<String, Vec<String>>,
}

impl AgentFacts {
    /// The facts of an offer's agent: its attributes, plus `hostname` if it sets none.
    pub fn new(hostname: &str, attributes: &Attributes) -> AgentFacts {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for a in attributes.iter() {
            let values = match &a.value {
                AttributeValue::Set(items) => items.iter().cloned().collect(),
                other => vec![other.to_string()],
            };
            map.entry(a.name.clone()).or_insert(values);
        }
        map.entry("hostname".into())
            .or_insert_with(|| vec![hostname.to_string()]);
        AgentFacts { attributes: map }
    }

    /// Facts from `name:value` pairs (tests and examples).
    pub fn of(pairs: &[(&str, &str)]) -> AgentFacts {
        AgentFacts {
            attributes: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
                .collect(),
        }
    }
}

impl Constraint {
    /// Parses `[attribute, OPERATOR, value]`, with the reason when it is not one.
    pub fn parse(parts: &[String]) -> Result<Constraint, String> {
        let [attribute, op, value] = parts else {
            return Err(format!(
                "constraint {parts:?} must have 3 fields: [attribute, EQUALS|LIKE|UNLIKE, value]"
            ));
        };
        if attribute.is_empty() {
            return Err(format!("constraint {parts:?} has an empty attribute name"));
        }
        let regex = || {
            Regex::new(&format!("^(?:{value})$")).map_err(|e| {
                format!("constraint {parts:?}: '{value}' is not a regular expression: {e}")
            })
        };
        let op = match op.as_str() {
            "EQUALS" => Op::Equals(value.clone()),
            "LIKE" => Op::Like(regex()?),
            "UNLIKE" => Op::Unlike(regex()?),
            other => {
                return Err(format!(
                    "constraint {parts:?}: operator '{other}' is not one of EQUALS, LIKE, UNLIKE"
                ))
            }
        };
        Ok(Constraint {
            attribute: attribute.clone(),
            op,
        })
    }

    /// Whether a run may go to an agent with these facts.
    pub fn holds(&self, agent: &AgentFacts) -> bool {
        let Some(values) = agent.attributes.get(&self.attribute) else {
            return false;
        };
        match &self.op {
            Op::Equals(want) => values.iter().any(|v| v == want),
            Op::Like(re) => values.iter().any(|v| re.is_match(v)),
            Op::Unlike(re) => !values.iter().any(|v| re.is_match(v)),
        }
    }
}

/// Parses a job's `constraints`.
pub fn parse_all(constraints: &[Vec<String>]) -> Result<Vec<Constraint>, String> {
    constraints.iter().map(|c| Constraint::parse(c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(parts: &[&str]) -> Result<Constraint, String> {
        Constraint::parse(&parts.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn operators_hold_on_the_attribute_and_need_it() {
        let r1 = AgentFacts::of(&[("rack", "r1"), ("hostname", "a1")]);
        let r2 = AgentFacts::of(&[("rack", "r2"), ("hostname", "a2")]);
        let bare = AgentFacts::of(&[("hostname", "a3")]);
        let eq = c(&["rack", "EQUALS", "r1"]).unwrap();
        assert!(eq.holds(&r1) && !eq.holds(&r2) && !eq.holds(&bare));
        let like = c(&["rack", "LIKE", "r[12]"]).unwrap();
        assert!(like.holds(&r1) && like.holds(&r2) && !like.holds(&bare));
        // The whole value must match.
        assert!(!c(&["rack", "LIKE", "r"]).unwrap().holds(&r1));
        let unlike = c(&["rack", "UNLIKE", "r1"]).unwrap();
        assert!(!unlike.holds(&r1) && unlike.holds(&r2));
        assert!(!unlike.holds(&bare), "Chronos: no attribute, no match");
        assert!(c(&["hostname", "EQUALS", "a2"]).unwrap().holds(&r2));
    }

    #[test]
    fn offers_give_attributes_sets_and_the_hostname() {
        let attrs: Attributes = "rack:r1;zone:3;os:{linux,x86}".parse().unwrap();
        let f = AgentFacts::new("box", &attrs);
        assert!(c(&["hostname", "EQUALS", "box"]).unwrap().holds(&f));
        assert!(c(&["zone", "EQUALS", "3"]).unwrap().holds(&f));
        assert!(c(&["os", "LIKE", "x86"]).unwrap().holds(&f));
        assert!(!c(&["os", "UNLIKE", "linux"]).unwrap().holds(&f));
        assert!(c(&["os", "UNLIKE", "windows"]).unwrap().holds(&f));
        let own: Attributes = "hostname:alias".parse().unwrap();
        let f = AgentFacts::new("box", &own);
        assert!(c(&["hostname", "EQUALS", "alias"]).unwrap().holds(&f));
    }

    #[test]
    fn bad_constraints_say_why() {
        assert!(c(&["rack", "EQUALS"]).unwrap_err().contains("3 fields"));
        assert!(c(&["rack", "UNIQUE", "x"])
            .unwrap_err()
            .contains("not one of EQUALS, LIKE, UNLIKE"));
        assert!(c(&["rack", "LIKE", "("])
            .unwrap_err()
            .contains("not a regular expression"));
        assert!(c(&["", "EQUALS", "x"]).unwrap_err().contains("empty"));
    }
}

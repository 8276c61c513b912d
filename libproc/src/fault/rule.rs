//! Fault rules as data: parsing the JSON a user posts to `/fault/rules`, and deciding what
//! the installed rules do to one message. Pure: no node, no clock, no I/O; the random draws
//! come from each rule's own seeded [`SplitMix64`], so a decision sequence replays exactly.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::pid::Pid;
use crate::rng::SplitMix64;

/// Longest delay or stall a rule may ask for (10 minutes): a typo must not wedge a node.
pub const MAX_PAUSE_MS: u64 = 600_000;

/// Most copies a duplicate rule may add to one message.
pub const MAX_COPIES: u32 = 16;

/// Most peers one partition rule may list.
pub const MAX_PEERS: usize = 256;

/// Which PIDs a rule's `from`/`to`/`peers` entry names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerPattern {
    /// `ip:port`: every process of the node at this address.
    Node(SocketAddr),
    /// `id@ip:port` with `*` wildcards (e.g. `slave(*)@*`): matched against the whole PID.
    Pid(String),
    /// An id with `*` wildcards and no `@` (e.g. `master`, `scheduler-*`): any node.
    Id(String),
}

impl PeerPattern {
    /// Reads one pattern; `None` if it is empty.
    pub fn parse(text: &str) -> Option<PeerPattern> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return Some(PeerPattern::Node(addr));
        }
        Some(if text.contains('@') {
            PeerPattern::Pid(text.to_string())
        } else {
            PeerPattern::Id(text.to_string())
        })
    }

    /// Whether `pid` is one of the PIDs this pattern names.
    pub fn matches(&self, pid: &Pid) -> bool {
        match self {
            PeerPattern::Node(a) => pid.addr() == *a,
            PeerPattern::Pid(p) => glob(p, pid.as_str()),
            PeerPattern::Id(p) => glob(p, pid.id()),
        }
    }

    /// The node address this pattern names outright, if it names a whole node.
    pub fn node(&self) -> Option<SocketAddr> {
        match self {
            PeerPattern::Node(a) => Some(*a),
            PeerPattern::Pid(p) => p
                .split_once('@')
                .and_then(|(id, a)| (id == "*").then(|| a.parse().ok()).flatten()),
            PeerPattern::Id(_) => None,
        }
    }

    fn text(&self) -> String {
        match self {
            PeerPattern::Node(a) => a.to_string(),
            PeerPattern::Pid(p) | PeerPattern::Id(p) => p.clone(),
        }
    }
}

/// `*` matches any run of characters (also none); everything else matches itself.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it currently stands for.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Which messages a message rule applies to; unset fields match anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageMatch {
    /// The message name, with `*` wildcards.
    pub name: Option<String>,
    /// The sender.
    pub from: Option<PeerPattern>,
    /// The receiver.
    pub to: Option<PeerPattern>,
}

impl MessageMatch {
    /// Whether a message `name` from `from` to `to` matches.
    pub fn matches(&self, name: &str, from: &Pid, to: &Pid) -> bool {
        self.name.as_deref().is_none_or(|n| glob(n, name))
            && self.from.as_ref().is_none_or(|m| m.matches(from))
            && self.to.as_ref().is_none_or(|m| m.matches(to))
    }
}

/// Which disk writes a `fail_disk_writes` rule fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiskTarget {
    /// The master's registry file (`--registry=file`).
    Registry,
    /// The agent's checkpoint files.
    Checkpoint,
    /// Both.
    Any,
}

impl DiskTarget {
    /// Whether a write to `target` is one of this rule's.
    pub fn covers(self, target: DiskTarget) -> bool {
        self == DiskTarget::Any || self == target
    }
}

/// What a rule does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Drop matching messages.
    Drop,
    /// Deliver matching messages late, by a delay drawn from `[min, max]` ms.
    Delay {
        /// Shortest delay.
        min_ms: u64,
        /// Longest delay.
        max_ms: u64,
    },
    /// Deliver matching messages `copies + 1` times.
    Duplicate {
        /// Extra copies.
        copies: u32,
    },
    /// Neither send to nor accept from these peers (both directions at this node).
    Partition {
        /// The peers cut off.
        peers: Vec<PeerPattern>,
    },
    /// Close the connections to and from the node at `peer` now (a one-off).
    Sever {
        /// The peer node.
        peer: SocketAddr,
    },
    /// Block the thread of process `process` for `ms` milliseconds now (a one-off).
    Stall {
        /// The process id.
        process: String,
        /// How long.
        ms: u64,
    },
    /// Fail the next disk writes of `target` (as many as the rule's `count`, default 1).
    FailDiskWrites {
        /// Which writes.
        target: DiskTarget,
    },
}

impl Action {
    /// The `kind` this action is written as.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Drop => "drop",
            Action::Delay { .. } => "delay",
            Action::Duplicate { .. } => "duplicate",
            Action::Partition { .. } => "partition",
            Action::Sever { .. } => "sever",
            Action::Stall { .. } => "stall",
            Action::FailDiskWrites { .. } => "fail_disk_writes",
        }
    }

    /// Whether the action happens once when posted rather than staying installed.
    pub fn is_one_off(&self) -> bool {
        matches!(self, Action::Sever { .. } | Action::Stall { .. })
    }
}

/// A fixed delay (`500`) or a range (`[100, 900]`), in milliseconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum DelayMs {
    Fixed(u64),
    Range([u64; 2]),
}

/// The JSON a user posts, before validation. Unknown fields are refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleJson {
    kind: String,
    name: Option<String>,
    from: Option<String>,
    to: Option<String>,
    delay_ms: Option<DelayMs>,
    copies: Option<u32>,
    peer: Option<String>,
    peers: Option<Vec<String>>,
    process: Option<String>,
    ms: Option<u64>,
    target: Option<DiskTarget>,
    count: Option<u64>,
    probability: Option<f64>,
    seed: Option<u64>,
}

/// The rule kinds and their fields, for error messages.
pub const RULE_FORMS: &str = "valid rules (JSON): \
{\"kind\":\"drop\", \"name\"?, \"from\"?, \"to\"?} | \
{\"kind\":\"delay\", \"delay_ms\": 500 or [min,max], \"name\"?, \"from\"?, \"to\"?} | \
{\"kind\":\"duplicate\", \"copies\"?: 1, \"name\"?, \"from\"?, \"to\"?} | \
{\"kind\":\"partition\", \"peers\": [\"ip:port\" or \"id@ip:port\" pattern, ...]} | \
{\"kind\":\"sever\", \"peer\": \"ip:port\"} | \
{\"kind\":\"stall\", \"process\": \"<id>\", \"ms\": N} | \
{\"kind\":\"fail_disk_writes\", \"target\": \"registry\"|\"checkpoint\"|\"any\"}; \
every rule may add \"count\" (apply N times, then retire), \"probability\" (0..1) and \"seed\"";

/// A validated rule.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSpec {
    /// What it does.
    pub action: Action,
    /// Which messages (message rules only).
    pub matcher: MessageMatch,
    /// Applications left before it retires (`None`: forever).
    pub count: Option<u64>,
    /// The chance that a matching message is affected.
    pub probability: f64,
    /// Seed of the rule's random draws (probability, delay).
    pub seed: Option<u64>,
}

fn pattern(field: &str, text: Option<String>) -> Result<Option<PeerPattern>, String> {
    match text {
        None => Ok(None),
        Some(t) => PeerPattern::parse(&t).map(Some).ok_or_else(|| {
            format!("'{field}' is empty: give an ip:port, id@ip:port or id (with * wildcards)")
        }),
    }
}

impl RuleSpec {
    /// Parses and validates one rule from JSON; the error says what is wrong and lists
    /// the valid forms.
    pub fn parse(body: &[u8]) -> Result<RuleSpec, String> {
        let j: RuleJson = serde_json::from_slice(body)
            .map_err(|e| format!("not a fault rule: {e}; {RULE_FORMS}"))?;
        RuleSpec::validate(j).map_err(|e| format!("{e}; {RULE_FORMS}"))
    }

    fn validate(j: RuleJson) -> Result<RuleSpec, String> {
        let probability = j.probability.unwrap_or(1.0);
        if !(0.0..=1.0).contains(&probability) {
            return Err(format!("probability {probability} is not within 0..1"));
        }
        if j.count == Some(0) {
            return Err("count must be at least 1".into());
        }
        let message_kind = matches!(j.kind.as_str(), "drop" | "delay" | "duplicate");
        if !message_kind && (j.name.is_some() || j.from.is_some() || j.to.is_some()) {
            return Err(format!(
                "'name', 'from' and 'to' belong to drop, delay and duplicate rules, not '{}'",
                j.kind
            ));
        }
        let action = match j.kind.as_str() {
            "drop" => Action::Drop,
            "delay" => {
                let (min_ms, max_ms) = match j.delay_ms {
                    None => return Err("a delay rule needs \"delay_ms\"".into()),
                    Some(DelayMs::Fixed(ms)) => (ms, ms),
                    Some(DelayMs::Range([a, b])) => (a, b),
                };
                if min_ms > max_ms {
                    return Err(format!("delay_ms range [{min_ms}, {max_ms}] is backwards"));
                }
                if max_ms > MAX_PAUSE_MS {
                    return Err(format!("delay_ms {max_ms} exceeds {MAX_PAUSE_MS}"));
                }
                Action::Delay { min_ms, max_ms }
            }
            "duplicate" => {
                let copies = j.copies.unwrap_or(1);
                if copies == 0 || copies > MAX_COPIES {
                    return Err(format!("copies must be 1..={MAX_COPIES}, not {copies}"));
                }
                Action::Duplicate { copies }
            }
            "partition" => {
                let list = j.peers.unwrap_or_default();
                if list.is_empty() || list.len() > MAX_PEERS {
                    return Err(format!(
                        "a partition rule needs \"peers\": 1..={MAX_PEERS} patterns"
                    ));
                }
                let mut peers = Vec::with_capacity(list.len());
                for p in list {
                    peers
                        .push(PeerPattern::parse(&p).ok_or("a partition peer is an empty string")?);
                }
                Action::Partition { peers }
            }
            "sever" => {
                let peer = j.peer.ok_or("a sever rule needs \"peer\": \"ip:port\"")?;
                let peer = peer
                    .parse()
                    .map_err(|_| format!("peer '{peer}' is not an ip:port"))?;
                Action::Sever { peer }
            }
            "stall" => {
                let process = j.process.filter(|p| !p.is_empty());
                let process = process.ok_or("a stall rule needs \"process\": \"<id>\"")?;
                let ms = j.ms.ok_or("a stall rule needs \"ms\"")?;
                if ms > MAX_PAUSE_MS {
                    return Err(format!("ms {ms} exceeds {MAX_PAUSE_MS}"));
                }
                Action::Stall { process, ms }
            }
            "fail_disk_writes" => Action::FailDiskWrites {
                target: j.target.unwrap_or(DiskTarget::Any),
            },
            other => return Err(format!("unknown kind '{other}'")),
        };
        let count = match &action {
            // "Fail the next N writes": one unless told.
            Action::FailDiskWrites { .. } => Some(j.count.unwrap_or(1)),
            _ => j.count,
        };
        Ok(RuleSpec {
            action,
            matcher: MessageMatch {
                name: j.name.filter(|n| !n.is_empty()),
                from: pattern("from", j.from)?,
                to: pattern("to", j.to)?,
            },
            count,
            probability,
            seed: j.seed,
        })
    }

    /// The rule as JSON (the fields a user would post).
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({ "kind": self.action.kind() });
        let o = v.as_object_mut().expect("an object");
        let mut put = |k: &str, val: serde_json::Value| {
            o.insert(k.to_string(), val);
        };
        match &self.action {
            Action::Drop => {}
            Action::Delay { min_ms, max_ms } if min_ms == max_ms => {
                put("delay_ms", (*min_ms).into())
            }
            Action::Delay { min_ms, max_ms } => {
                put("delay_ms", serde_json::json!([min_ms, max_ms]))
            }
            Action::Duplicate { copies } => put("copies", (*copies).into()),
            Action::Partition { peers } => put(
                "peers",
                peers.iter().map(|p| p.text()).collect::<Vec<_>>().into(),
            ),
            Action::Sever { peer } => put("peer", peer.to_string().into()),
            Action::Stall { process, ms } => {
                put("process", process.clone().into());
                put("ms", (*ms).into());
            }
            Action::FailDiskWrites { target } => {
                put("target", serde_json::to_value(target).unwrap_or_default())
            }
        }
        if let Some(n) = &self.matcher.name {
            put("name", n.clone().into());
        }
        if let Some(p) = &self.matcher.from {
            put("from", p.text().into());
        }
        if let Some(p) = &self.matcher.to {
            put("to", p.text().into());
        }
        if self.probability < 1.0 {
            put("probability", self.probability.into());
        }
        if let Some(s) = self.seed {
            put("seed", s.into());
        }
        v
    }
}

/// An installed rule: its spec, and what it has done.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its id (for `DELETE /fault/rules/<id>`).
    pub id: u64,
    /// What it is.
    pub spec: RuleSpec,
    /// Applications left (`None`: forever).
    pub remaining: Option<u64>,
    /// How often it applied.
    pub hits: u64,
    rng: SplitMix64,
}

impl Rule {
    /// Installs `spec` as rule `id`; its draws are seeded by the spec's seed, else the id.
    pub fn new(id: u64, spec: RuleSpec) -> Rule {
        let rng = SplitMix64::new(spec.seed.unwrap_or(id));
        Rule {
            id,
            remaining: spec.count,
            spec,
            hits: 0,
            rng,
        }
    }

    /// The rule as JSON, with its id, hits and remaining applications.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = self.spec.to_json();
        if let Some(o) = v.as_object_mut() {
            o.insert("id".into(), self.id.into());
            o.insert("hits".into(), self.hits.into());
            if let Some(r) = self.remaining {
                o.insert("remaining".into(), r.into());
            }
        }
        v
    }

    fn retired(&self) -> bool {
        self.remaining == Some(0)
    }

    /// Counts one application; true if the probability draw says it applies.
    fn fire(&mut self) -> bool {
        if self.retired() {
            return false;
        }
        if self.spec.probability < 1.0 && self.rng.next_f64() >= self.spec.probability {
            return false;
        }
        self.hits += 1;
        if let Some(r) = self.remaining.as_mut() {
            *r -= 1;
        }
        true
    }
}

/// What the rules decided for one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Deliver it as usual.
    Pass,
    /// Drop it (a drop rule).
    Drop,
    /// Drop it (a partition).
    Partitioned,
    /// Deliver it after this long.
    Delay(Duration),
    /// Deliver it and this many copies.
    Duplicate(u32),
}

/// Runs a message through `rules` in order: a partition naming either end drops it, else
/// the first drop, delay or duplicate rule that matches and draws true decides. Rules
/// that reach their count are removed.
pub fn decide(rules: &mut Vec<Rule>, name: &str, from: &Pid, to: &Pid) -> Verdict {
    let mut verdict = Verdict::Pass;
    for rule in rules.iter_mut() {
        if rule.retired() {
            continue;
        }
        let hit = match &rule.spec.action {
            Action::Partition { peers } => {
                if peers.iter().any(|p| p.matches(from) || p.matches(to)) && rule.fire() {
                    Some(Verdict::Partitioned)
                } else {
                    None
                }
            }
            Action::Drop | Action::Delay { .. } | Action::Duplicate { .. } => {
                if rule.spec.matcher.matches(name, from, to) && rule.fire() {
                    Some(match rule.spec.action {
                        Action::Delay { min_ms, max_ms } => {
                            let span = max_ms - min_ms;
                            let ms = if span == 0 {
                                min_ms
                            } else {
                                min_ms + rule.rng.next_u64() % (span + 1)
                            };
                            Verdict::Delay(Duration::from_millis(ms))
                        }
                        Action::Duplicate { copies } => Verdict::Duplicate(copies),
                        _ => Verdict::Drop,
                    })
                } else {
                    None
                }
            }
            _ => None,
        };
        if let Some(v) = hit {
            verdict = v;
            break;
        }
    }
    rules.retain(|r| !r.retired());
    verdict
}

/// Whether an inbound connection from the node at `peer` is refused by a partition.
pub fn refuses_node(rules: &[Rule], peer: SocketAddr) -> bool {
    rules.iter().any(|r| match &r.spec.action {
        Action::Partition { peers } => peers.iter().any(|p| p.node() == Some(peer)),
        _ => false,
    })
}

/// Consumes one failure from the first disk rule covering `target`; true if the write
/// must fail.
pub fn fail_disk_write(rules: &mut Vec<Rule>, target: DiskTarget) -> bool {
    let failed = rules.iter_mut().any(|r| match r.spec.action {
        Action::FailDiskWrites { target: t } if t.covers(target) => r.fire(),
        _ => false,
    });
    rules.retain(|r| !r.retired());
    failed
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pid(s: &str) -> Pid {
        s.parse().unwrap()
    }

    fn rule(id: u64, json: &str) -> Rule {
        Rule::new(id, RuleSpec::parse(json.as_bytes()).unwrap())
    }

    #[test]
    fn globs() {
        assert!(glob("slave(*)@*", "slave(1)@127.0.0.1:5051"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "aXbYbc"));
        assert!(!glob("a*b", "ab c"));
        assert!(glob("Status*Message", "StatusUpdateMessage"));
        assert!(!glob("master", "master2"));
    }

    #[test]
    fn patterns_name_nodes_pids_and_ids() {
        let agent = pid("slave(1)@127.0.0.1:5051");
        assert!(PeerPattern::parse("127.0.0.1:5051")
            .unwrap()
            .matches(&agent));
        assert!(!PeerPattern::parse("127.0.0.1:5050")
            .unwrap()
            .matches(&agent));
        assert!(PeerPattern::parse("slave(*)@*").unwrap().matches(&agent));
        assert!(PeerPattern::parse("slave(*)").unwrap().matches(&agent));
        assert!(!PeerPattern::parse("master").unwrap().matches(&agent));
        assert_eq!(
            PeerPattern::parse("*@127.0.0.1:5051").unwrap().node(),
            Some("127.0.0.1:5051".parse().unwrap())
        );
        assert_eq!(PeerPattern::parse("  "), None);
    }

    #[test]
    fn drop_rules_match_name_from_and_to_and_retire_after_count() {
        let mut rules = vec![rule(
            1,
            r#"{"kind":"drop","name":"StatusUpdateMessage","from":"slave(*)@*","count":2}"#,
        )];
        let (agent, master) = (pid("slave(1)@10.0.0.1:5051"), pid("master@10.0.0.2:5050"));
        assert_eq!(
            decide(&mut rules, "PingSlaveMessage", &agent, &master),
            Verdict::Pass
        );
        assert_eq!(
            decide(&mut rules, "StatusUpdateMessage", &master, &agent),
            Verdict::Pass
        );
        assert_eq!(
            decide(&mut rules, "StatusUpdateMessage", &agent, &master),
            Verdict::Drop
        );
        assert_eq!(rules[0].hits, 1);
        assert_eq!(
            decide(&mut rules, "StatusUpdateMessage", &agent, &master),
            Verdict::Drop
        );
        assert!(rules.is_empty(), "retired after its count");
        assert_eq!(
            decide(&mut rules, "StatusUpdateMessage", &agent, &master),
            Verdict::Pass
        );
    }

    #[test]
    fn partitions_cut_both_directions_and_refuse_the_node() {
        let mut rules = vec![rule(1, r#"{"kind":"partition","peers":["10.0.0.1:5051"]}"#)];
        let (agent, master) = (pid("slave(1)@10.0.0.1:5051"), pid("master@10.0.0.2:5050"));
        assert_eq!(
            decide(&mut rules, "X", &agent, &master),
            Verdict::Partitioned
        );
        assert_eq!(
            decide(&mut rules, "Y", &master, &agent),
            Verdict::Partitioned
        );
        let other = pid("slave(2)@10.0.0.3:5051");
        assert_eq!(decide(&mut rules, "X", &other, &master), Verdict::Pass);
        assert!(refuses_node(&rules, "10.0.0.1:5051".parse().unwrap()));
        assert!(!refuses_node(&rules, "10.0.0.3:5051".parse().unwrap()));
    }

    #[test]
    fn delays_are_fixed_or_drawn_from_the_range_reproducibly() {
        let (a, b) = (pid("a@1.1.1.1:1"), pid("b@1.1.1.1:2"));
        let mut fixed = vec![rule(1, r#"{"kind":"delay","delay_ms":250}"#)];
        assert_eq!(
            decide(&mut fixed, "M", &a, &b),
            Verdict::Delay(Duration::from_millis(250))
        );
        let draws = |seed: u64| {
            let mut r = vec![rule(
                1,
                &format!(r#"{{"kind":"delay","delay_ms":[100,200],"seed":{seed}}}"#),
            )];
            (0..20)
                .map(|_| match decide(&mut r, "M", &a, &b) {
                    Verdict::Delay(d) => d.as_millis() as u64,
                    v => panic!("{v:?}"),
                })
                .collect::<Vec<_>>()
        };
        let one = draws(7);
        assert!(one.iter().all(|ms| (100..=200).contains(ms)), "{one:?}");
        assert_eq!(one, draws(7), "same seed, same delays");
        assert_ne!(one, draws(8));
    }

    #[test]
    fn probability_applies_some_and_counts_only_applied() {
        let (a, b) = (pid("a@1.1.1.1:1"), pid("b@1.1.1.1:2"));
        let mut rules = vec![rule(
            1,
            r#"{"kind":"duplicate","probability":0.5,"seed":3}"#,
        )];
        let dup = (0..1000)
            .filter(|_| decide(&mut rules, "M", &a, &b) == Verdict::Duplicate(1))
            .count();
        assert!((400..600).contains(&dup), "{dup}");
        assert_eq!(rules[0].hits, dup as u64);
    }

    #[test]
    fn first_matching_rule_wins() {
        let (a, b) = (pid("a@1.1.1.1:1"), pid("b@1.1.1.1:2"));
        let mut rules = vec![
            rule(1, r#"{"kind":"delay","delay_ms":5,"name":"Other"}"#),
            rule(2, r#"{"kind":"duplicate","copies":2}"#),
            rule(3, r#"{"kind":"drop"}"#),
        ];
        assert_eq!(decide(&mut rules, "M", &a, &b), Verdict::Duplicate(2));
    }

    #[test]
    fn disk_rules_fail_the_next_n_writes_of_their_target() {
        let mut rules = vec![rule(
            1,
            r#"{"kind":"fail_disk_writes","target":"checkpoint","count":2}"#,
        )];
        assert!(!fail_disk_write(&mut rules, DiskTarget::Registry));
        assert!(fail_disk_write(&mut rules, DiskTarget::Checkpoint));
        assert!(fail_disk_write(&mut rules, DiskTarget::Checkpoint));
        assert!(!fail_disk_write(&mut rules, DiskTarget::Checkpoint));
        assert!(rules.is_empty());
        let mut any = vec![rule(1, r#"{"kind":"fail_disk_writes"}"#)];
        assert_eq!(any[0].remaining, Some(1), "one write unless told");
        assert!(fail_disk_write(&mut any, DiskTarget::Registry));
    }

    #[test]
    fn bad_rules_say_what_is_wrong_and_the_valid_forms() {
        for (body, says) in [
            ("{", "not a fault rule"),
            (r#"{"kind":"explode"}"#, "unknown kind 'explode'"),
            (r#"{"kind":"drop","nmae":"x"}"#, "unknown field `nmae`"),
            (r#"{"kind":"delay"}"#, "needs \"delay_ms\""),
            (r#"{"kind":"delay","delay_ms":[9,1]}"#, "backwards"),
            (r#"{"kind":"delay","delay_ms":99999999}"#, "exceeds"),
            (r#"{"kind":"drop","probability":2}"#, "within 0..1"),
            (r#"{"kind":"drop","count":0}"#, "at least 1"),
            (r#"{"kind":"partition","peers":[]}"#, "needs \"peers\""),
            (r#"{"kind":"sever","peer":"nowhere"}"#, "not an ip:port"),
            (r#"{"kind":"stall","ms":5}"#, "needs \"process\""),
            (r#"{"kind":"duplicate","copies":100}"#, "copies must be"),
            (
                r#"{"kind":"sever","peer":"1.2.3.4:5","name":"x"}"#,
                "belong to drop",
            ),
            (r#"{"kind":"drop","from":""}"#, "'from' is empty"),
        ] {
            let e = RuleSpec::parse(body.as_bytes()).unwrap_err();
            assert!(e.contains(says), "{body}: {e}");
            assert!(e.contains("valid rules"), "{body}: {e}");
        }
    }

    #[test]
    fn rules_round_trip_through_their_json() {
        for body in [
            r#"{"kind":"drop","name":"StatusUpdateMessage","from":"slave(*)@*","to":"10.0.0.2:5050"}"#,
            r#"{"kind":"delay","delay_ms":[1,9],"probability":0.25,"seed":4}"#,
            r#"{"kind":"partition","peers":["10.0.0.1:5051","master"]}"#,
            r#"{"kind":"stall","process":"master","ms":100}"#,
            r#"{"kind":"fail_disk_writes","target":"registry"}"#,
        ] {
            let spec = RuleSpec::parse(body.as_bytes()).unwrap();
            let again = RuleSpec::parse(spec.to_json().to_string().as_bytes()).unwrap();
            assert_eq!(spec, again, "{body}");
        }
    }

    proptest! {
        #[test]
        fn parsing_and_globbing_never_panic(s in ".*", p in "[a-z*@:.0-9()]{0,12}", t in ".{0,16}") {
            let _ = RuleSpec::parse(s.as_bytes());
            let _ = glob(&p, &t);
            let _ = PeerPattern::parse(&s);
        }
    }
}

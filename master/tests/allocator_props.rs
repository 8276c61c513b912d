//! Property tests of the DRF allocator core: offers never exceed what is free,
//! reservations go only to their role, filters and suppression hold, DRF converges to
//! equal (or weighted) shares, quota guarantees are served first.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use master::allocator::protocol::AllocatorConfig;
use master::allocator::Allocator;
use proptest::prelude::*;
use proto::{AgentId, AgentInfo, Filters, FrameworkId, FrameworkInfo, Resources};

fn res(s: &str) -> Resources {
    s.parse().expect("valid resources")
}

fn fwinfo(role: &str) -> FrameworkInfo {
    let mut i = FrameworkInfo::new("fw", "root");
    i.role = Some(role.to_owned());
    i
}

const ROLES: [&str; 3] = ["*", "a", "b"];

#[derive(Debug, Clone)]
enum Op {
    AddAgent {
        cpus: u32,
        mem: u32,
        reserved: Option<(usize, u32)>,
    },
    AddFramework {
        role: usize,
    },
    Allocate,
    /// Return the n-th outstanding allocation, partly or fully, with an optional filter.
    Recover {
        pick: usize,
        half: bool,
        filter: Option<u32>,
    },
    Suppress {
        fw: usize,
    },
    Revive {
        fw: usize,
    },
    RemoveAgent {
        pick: usize,
    },
    RemoveFramework {
        pick: usize,
    },
    Advance {
        secs: u32,
    },
    /// RESERVE (or, with `undo`, UNRESERVE) one CPU of the n-th outstanding allocation
    /// for its framework's role, as the master does on an accepted offer operation.
    Reserve {
        pick: usize,
        undo: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1u32..16, 128u32..8192, prop::option::of((1usize..3, 1u32..4)))
            .prop_map(|(cpus, mem, reserved)| Op::AddAgent { cpus, mem, reserved }),
        2 => (0usize..3).prop_map(|role| Op::AddFramework { role }),
        4 => Just(Op::Allocate),
        4 => (0usize..64, any::<bool>(), prop::option::of(0u32..20))
            .prop_map(|(pick, half, filter)| Op::Recover { pick, half, filter }),
        1 => (0usize..8).prop_map(|fw| Op::Suppress { fw }),
        1 => (0usize..8).prop_map(|fw| Op::Revive { fw }),
        1 => (0usize..16).prop_map(|pick| Op::RemoveAgent { pick }),
        1 => (0usize..8).prop_map(|pick| Op::RemoveFramework { pick }),
        2 => (0u32..10).prop_map(|secs| Op::Advance { secs }),
        2 => (0usize..64, any::<bool>()).prop_map(|(pick, undo)| Op::Reserve { pick, undo }),
    ]
}

/// The test's own model of what is outstanding.
#[derive(Default)]
struct Model {
    agents: Vec<(AgentId, Resources)>,
    frameworks: Vec<(FrameworkId, String)>,
    held: HashMap<(FrameworkId, AgentId), Resources>,
    suppressed: HashSet<FrameworkId>,
    /// (framework, agent) → (expiry, refused resources)
    filters: HashMap<(FrameworkId, AgentId), Vec<(Duration, Resources)>>,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn allocator_invariants(ops in prop::collection::vec(op(), 1..80)) {
        let mut a = Allocator::new(AllocatorConfig::default());
        let mut m = Model::default();
        let mut now = Duration::from_secs(1);
        let (mut next_agent, mut next_fw) = (0, 0);
        for op in ops {
            match op {
                Op::AddAgent { cpus, mem, reserved } => {
                    let mut text = format!("cpus:{cpus};mem:{mem};ports:[31000-31100]");
                    if let Some((role, c)) = reserved {
                        text.push_str(&format!(";cpus({}):{c};mem({}):256", ROLES[role], ROLES[role]));
                    }
                    let total = res(&text);
                    let id = AgentId::new(format!("ag{next_agent}"));
                    next_agent += 1;
                    a.add_agent(&id, &AgentInfo::new(id.as_str(), total.clone()), &total, &[]);
                    m.agents.push((id, total));
                }
                Op::AddFramework { role } => {
                    let id = FrameworkId::new(format!("fw{next_fw}"));
                    next_fw += 1;
                    a.add_framework(&id, &fwinfo(ROLES[role]), &[], true);
                    m.frameworks.push((id, ROLES[role].to_owned()));
                }
                Op::Allocate => {
                    let out = a.allocate(now);
                    let mut seen = HashSet::new();
                    for x in &out {
                        prop_assert!(seen.insert((x.framework_id.clone(), x.agent_id.clone(), x.role.clone())),
                            "one allocation per framework, agent and role per run");
                        // Reserved resources only to their role.
                        for role in x.resources.roles() {
                            prop_assert_eq!(&role, &x.role);
                        }
                        let fw_role = m.frameworks.iter().find(|f| f.0 == x.framework_id).map(|f| f.1.clone());
                        prop_assert_eq!(fw_role.as_deref(), Some(x.role.as_str()));
                        prop_assert!(!m.suppressed.contains(&x.framework_id), "suppressed framework got an offer");
                        prop_assert!(x.resources.cpus() >= 0.01 || x.resources.mem() >= 32.0, "below minimum");
                        if let Some(list) = m.filters.get(&(x.framework_id.clone(), x.agent_id.clone())) {
                            for (exp, refused) in list {
                                prop_assert!(!(now < *exp && refused.contains(&x.resources)),
                                    "re-offered {} to {} before its filter expired", x.agent_id, x.framework_id);
                            }
                        }
                        *m.held.entry((x.framework_id.clone(), x.agent_id.clone())).or_default() += &x.resources;
                    }
                    // Never more out than an agent has.
                    for (aid, total) in &m.agents {
                        let mut sum = Resources::new();
                        for ((_, ag), r) in &m.held {
                            if ag == aid {
                                sum += r;
                            }
                        }
                        prop_assert!(total.contains(&sum), "agent {} over-allocated: {} of {}", aid, sum, total);
                        prop_assert_eq!(a.allocated_on(aid), Some(sum));
                    }
                }
                Op::Recover { pick, half, filter } => {
                    let mut keys: Vec<_> = m.held.keys().cloned().collect();
                    keys.sort();
                    if keys.is_empty() {
                        continue;
                    }
                    let key = keys[pick % keys.len()].clone();
                    let held = m.held[&key].clone();
                    let back = if half {
                        Resources::cpus_mem(held.cpus() / 2.0, 0.0).unwrap_or_default().filter(|_| true)
                    } else {
                        held.clone()
                    };
                    let back = master::allocator::quantities::intersect(&held, &back);
                    let filters = filter.map(|s| Filters::refuse(f64::from(s)));
                    a.recover_resources(&key.0, &key.1, &back, filters.as_ref(), now);
                    let left = &held - &back;
                    if left.is_empty() {
                        m.held.remove(&key);
                    } else {
                        m.held.insert(key.clone(), left);
                    }
                    if let Some(s) = filter {
                        if s > 0 && !back.is_empty() {
                            let d = Duration::from_secs(u64::from(s)).max(Duration::from_secs(1));
                            // A conservative model: only the part the allocator filtered.
                            m.filters.entry(key).or_default().push((now + d, back));
                        }
                    }
                }
                Op::Suppress { fw } => {
                    if let Some((id, _)) = m.frameworks.get(fw) {
                        a.suppress_offers(id, &[]);
                        m.suppressed.insert(id.clone());
                    }
                }
                Op::Revive { fw } => {
                    if let Some((id, _)) = m.frameworks.get(fw) {
                        a.revive_offers(id, &[]);
                        m.suppressed.remove(id);
                        m.filters.retain(|k, _| &k.0 != id);
                    }
                }
                Op::RemoveAgent { pick } => {
                    if m.agents.is_empty() {
                        continue;
                    }
                    let (id, _) = m.agents.remove(pick % m.agents.len());
                    a.remove_agent(&id);
                    m.held.retain(|k, _| k.1 != id);
                    m.filters.retain(|k, _| k.1 != id);
                }
                Op::RemoveFramework { pick } => {
                    if m.frameworks.is_empty() {
                        continue;
                    }
                    let (id, _) = m.frameworks.remove(pick % m.frameworks.len());
                    a.remove_framework(&id);
                    m.held.retain(|k, _| k.0 != id);
                    m.filters.retain(|k, _| k.0 != id);
                    m.suppressed.remove(&id);
                }
                Op::Advance { secs } => now += Duration::from_secs(u64::from(secs)),
                Op::Reserve { pick, undo } => {
                    let mut keys: Vec<_> = m.held.keys().cloned().collect();
                    keys.sort();
                    if keys.is_empty() {
                        continue;
                    }
                    let key = keys[pick % keys.len()].clone();
                    let role = m.frameworks.iter().find(|f| f.0 == key.0).map(|f| f.1.clone());
                    let Some(role) = role.filter(|r| r != "*") else { continue };
                    let (from, to) = if undo {
                        (res(&format!("cpus({role}):1")), res("cpus:1"))
                    } else {
                        (res("cpus:1"), res(&format!("cpus({role}):1")))
                    };
                    let held = m.held[&key].clone();
                    if !held.contains(&from) {
                        continue;
                    }
                    let Some(slot) = m.agents.iter_mut().find(|x| x.0 == key.1) else { continue };
                    slot.1 = &slot.1 - &from + &to;
                    let total = slot.1.clone();
                    a.update_allocation(&key.0, &key.1, &role, &from, &to, &total);
                    m.held.insert(key.clone(), &held - &from + &to);
                    prop_assert_eq!(a.total_of(&key.1), Some(&total));
                }
            }
        }
    }

    #[test]
    fn identical_greedy_frameworks_get_equal_shares(n in 2usize..8, agents in 8usize..60) {
        let mut a = Allocator::new(AllocatorConfig::default());
        for i in 0..n {
            a.add_framework(&FrameworkId::new(format!("f{i}")), &fwinfo("*"), &[], true);
        }
        // Each agent holds exactly one task: greedy frameworks keep every offer.
        for i in 0..agents {
            let id = AgentId::new(format!("a{i}"));
            let r = res("cpus:1;mem:1024");
            a.add_agent(&id, &AgentInfo::new(id.as_str(), r.clone()), &r, &[]);
        }
        let mut counts = vec![0usize; n];
        for round in 0..3u64 {
            for x in a.allocate(Duration::from_secs(round + 1)) {
                let i: usize = x.framework_id.as_str()[1..].parse().expect("index");
                counts[i] += 1;
            }
        }
        let (lo, hi) = (counts.iter().min().copied().unwrap_or(0), counts.iter().max().copied().unwrap_or(0));
        prop_assert!(hi - lo <= 1, "counts {:?}", counts);
        prop_assert_eq!(counts.iter().sum::<usize>(), agents);
    }

    #[test]
    fn weights_two_to_one(agents in 12usize..90) {
        let mut a = Allocator::new(AllocatorConfig::default());
        a.update_weights(&[("heavy".to_owned(), 2.0)]);
        a.add_framework(&FrameworkId::new("h"), &fwinfo("heavy"), &[], true);
        a.add_framework(&FrameworkId::new("l"), &fwinfo("light"), &[], true);
        for i in 0..agents {
            let id = AgentId::new(format!("a{i}"));
            let r = res("cpus:2;mem:2048");
            a.add_agent(&id, &AgentInfo::new(id.as_str(), r.clone()), &r, &[]);
        }
        let out = a.allocate(Duration::from_secs(1));
        let heavy = out.iter().filter(|x| x.role == "heavy").count() as i64;
        let light = out.iter().filter(|x| x.role == "light").count() as i64;
        prop_assert_eq!(heavy + light, agents as i64);
        prop_assert!((heavy - 2 * light).abs() <= 2, "heavy {} light {}", heavy, light);
    }

    #[test]
    fn quota_guarantee_served_first(agents in 4usize..40, guarantee in 1u32..16, greedy in 1usize..5) {
        let mut a = Allocator::new(AllocatorConfig::default());
        for i in 0..greedy {
            a.add_framework(&FrameworkId::new(format!("g{i}")), &fwinfo("batch"), &[], true);
        }
        a.add_framework(&FrameworkId::new("q"), &fwinfo("prod"), &[], true);
        for i in 0..agents {
            let id = AgentId::new(format!("a{i}"));
            let r = res("cpus:4;mem:4096");
            a.add_agent(&id, &AgentInfo::new(id.as_str(), r.clone()), &r, &[]);
        }
        let g = f64::from(guarantee).min(agents as f64 * 4.0 / 2.0);
        a.set_quota("prod", &Resources::cpus_mem(g, 0.0).expect("valid"), None);
        let out = a.allocate(Duration::from_secs(1));
        let prod: f64 = out.iter().filter(|x| x.role == "prod").map(|x| x.resources.cpus()).sum();
        prop_assert!(prod + 1e-6 >= g, "prod got {} of guarantee {}", prod, g);
        let all: f64 = out.iter().map(|x| x.resources.cpus()).sum();
        prop_assert!(all <= agents as f64 * 4.0 + 1e-6);
    }
}

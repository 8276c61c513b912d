//! Scenario tests of the pure DRF allocator core (MasterAllocatorTest-style, at the
//! core level): who gets offered what, filters, suppression, reservations, quota,
//! weights, nested and multi-role frameworks.

use std::time::Duration;

use master::allocator::protocol::{Allocation, AllocatorConfig};
use master::allocator::Allocator;
use proto::{
    AgentId, AgentInfo, Filters, FrameworkCapability, FrameworkId, FrameworkInfo, Resources,
};

fn res(s: &str) -> Resources {
    s.parse().expect("valid resources")
}

fn fwinfo(role: &str) -> FrameworkInfo {
    let mut i = FrameworkInfo::new("fw", "root");
    i.role = Some(role.to_owned());
    i
}

fn alloc() -> Allocator {
    Allocator::new(AllocatorConfig::default())
}

fn add_agent(a: &mut Allocator, id: &str, r: &str) {
    a.add_agent(&AgentId::new(id), &AgentInfo::new(id, res(r)), &res(r), &[]);
}

fn add_fw(a: &mut Allocator, id: &str, role: &str) {
    a.add_framework(&FrameworkId::new(id), &fwinfo(role), &[], true);
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn decline(a: &mut Allocator, x: &Allocation, refuse: f64, now: Duration) {
    a.recover_resources(
        &x.framework_id,
        &x.agent_id,
        &x.resources,
        Some(&Filters::refuse(refuse)),
        now,
    );
}

#[test]
fn framework_added_after_agents_gets_offers() {
    let mut a = alloc();
    add_agent(&mut a, "a1", "cpus:2;mem:1024");
    assert!(a.allocate(secs(1)).is_empty(), "no frameworks, no offers");
    add_fw(&mut a, "f1", "*");
    let out = a.allocate(secs(2));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].framework_id.as_str(), "f1");
    assert_eq!(out[0].resources, res("cpus:2;mem:1024"));
    assert_eq!(out[0].role, "*");
    // Outstanding: nothing more to offer.
    assert!(a.allocate(secs(3)).is_empty());
}

#[test]
fn recovered_resources_are_reoffered() {
    let mut a = alloc();
    add_agent(&mut a, "a1", "cpus:2;mem:1024");
    add_fw(&mut a, "f1", "*");
    let out = a.allocate(secs(1));
    // Framework uses 1 cpu and returns the rest without a filter.
    let unused = res("cpus:1;mem:512");
    a.recover_resources(
        &out[0].framework_id,
        &out[0].agent_id,
        &unused,
        None,
        secs(1),
    );
    let again = a.allocate(secs(2));
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].resources, unused);
    // The task ends: its resources come back too.
    a.recover_resources(
        &FrameworkId::new("f1"),
        &AgentId::new("a1"),
        &res("cpus:1;mem:512"),
        None,
        secs(2),
    );
    assert_eq!(a.allocate(secs(3))[0].resources, res("cpus:1;mem:512"));
}

#[test]
fn removed_agent_drops_its_resources() {
    let mut a = alloc();
    add_agent(&mut a, "a1", "cpus:2;mem:1024");
    add_agent(&mut a, "a2", "cpus:2;mem:1024");
    add_fw(&mut a, "f1", "*");
    let out = a.allocate(secs(1));
    assert_eq!(out.len(), 2);
    a.remove_agent(&AgentId::new("a1"));
    assert!(a.allocated_on(&AgentId::new("a1")).is_none());
    let held = a.framework_allocation(&FrameworkId::new("f1"));
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].0.as_str(), "a2");
    // Recovering resources on a removed agent is ignored.
    a.recover_resources(
        &FrameworkId::new("f1"),
        &AgentId::new("a1"),
        &res("cpus:2"),
        None,
        secs(1),
    );
    assert!(a.allocate(secs(2)).is_empty());
}

#[test]
fn removed_framework_releases_everything() {
    let mut a = alloc();
    add_agent(&mut a, "a1", "cpus:2;mem:1024");
    add_fw(&mut a, "f1", "*");
    assert_eq!(a.allocate(secs(1)).len(), 1);
    a.remove_framework(&FrameworkId::new("f1"));
    assert_eq!(a.allocated_on(&AgentId::new("a1")), Some(Resources::new()));
    add_fw(&mut a, "f2", "*");
    let out = a.allocate(secs(2));
    assert_eq!(out[0].framework_id.as_str(), "f2");
}

#[test]
fn declined_agent_is_filtered_until_expiry_or_revive() {
    let mut a = alloc();
    add_agent(&mut a, "a1", "cpus:2;mem:1024");
    add_fw(&mut a, "f1", "*");
    let out = a.allocate(secs(1));
    decline(&mut a, &out[0], 10.0, secs(1));
    assert!(a.allocate(secs(2)).is_empty());
    assert!(a.allocate(secs(10)).is_empty());
    let out = a.allocate(secs(11));
    assert_eq!(out.len(), 1, "filter expired after 10 s");
    decline(&mut a, &out[0], 100.0, secs(11));
    assert!(a.allocate(secs(12)).is_empty());
    a.revive_offers(&FrameworkId::new("f1"), &[]);
    assert_eq!(a.allocate(secs(13)).len(), 1, "revive clears filters");
}

#[test]
fn filter_lasts_at_least_one_interval_and_zero_means_none() {
    let cfg = AllocatorConfig {
        allocation_interval: secs(5),
        ..AllocatorConfig::default()
    };
    let mut a = Allocator::new(cfg);
    add_agent(&mut a, "a1", "cpus:2;mem:1024");
    add_fw(&mut a, "f1", "*");
    let out = a.allocate(secs(0));
    decline(&mut a, &out[0], 0.5, secs(0));
    assert!(
        a.allocate(secs(1)).is_empty(),
        "0.5 s filter stretched to the 5 s interval"
    );
    assert_eq!(a.allocate(secs(5)).len(), 1);
    let out = a.allocate(secs(6));
    assert!(out.is_empty());
    let out = a.framework_allocation(&FrameworkId::new("f1"));
    a.recover_resources(
        &FrameworkId::new("f1"),
        &out[0].0,
        &out[0].2,
        Some(&Filters::refuse(0.0)),
        secs(6),
    );
    assert_eq!(
        a.allocate(secs(6)).len(),
        1,
        "a zero filter installs nothing"
    );
}

#[test]
fn declined_agent_goes_to_the_other_framework() {
    let mut a = alloc();
    add_agent(&mut a, "a1", "cpus:2;mem:1024");
    add_fw(&mut a, "f1", "*");
    add_fw(&mut a, "f2", "*");
    let out = a.allocate(secs(1));
    assert_eq!(out.len(), 1);
    let first = out[0].framework_id.clone();
    decline(&mut a, &out[0], 1000.0, secs(1));
    let out = a.allocate(secs(2));
    assert_eq!(out.len(), 1);
    assert_ne!(out[0].framework_id, first);
}

#[test]
fn suppressed_and_inactive_frameworks_get_nothing() {
    let mut a = alloc();
    add_agent(&mut a, "a1", "cpus:2;mem:1024");
    add_fw(&mut a, "f1", "*");
    a.suppress_offers(&FrameworkId::new("f1"), &[]);
    assert!(a.allocate(secs(1)).is_empty());
    a.revive_offers(&FrameworkId::new("f1"), &[]);
    a.deactivate_framework(&FrameworkId::new("f1"));
    assert!(a.allocate(secs(2)).is_empty());
    a.activate_framework(&FrameworkId::new("f1"));
    assert_eq!(a.allocate(secs(3)).len(), 1);
}

#[test]
fn inactive_agents_are_not_offered() {
    let mut a = alloc();
    add_agent(&mut a, "a1", "cpus:2;mem:1024");
    a.deactivate_agent(&AgentId::new("a1"));
    add_fw(&mut a, "f1", "*");
    assert!(a.allocate(secs(1)).is_empty());
    a.activate_agent(&AgentId::new("a1"));
    assert_eq!(a.allocate(secs(2)).len(), 1);
}

#[test]
fn below_minimum_is_not_offered() {
    let mut a = alloc();
    add_agent(&mut a, "a1", "cpus:0.005;mem:16;disk:100");
    add_fw(&mut a, "f1", "*");
    assert!(a.allocate(secs(1)).is_empty());
    add_agent(&mut a, "a2", "cpus:0.005;mem:32");
    assert_eq!(a.allocate(secs(2)).len(), 1, "mem alone meets the minimum");
}

#[test]
fn reserved_resources_go_only_to_their_role() {
    let mut a = alloc();
    add_agent(&mut a, "a1", "cpus:4;mem:1024;cpus(ads):2;mem(ads):512");
    add_fw(&mut a, "web", "web");
    let out = a.allocate(secs(1));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].resources, res("cpus:4;mem:1024"), "unreserved only");
    add_fw(&mut a, "ads", "ads");
    let out = a.allocate(secs(2));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].framework_id.as_str(), "ads");
    assert_eq!(out[0].role, "ads");
    assert_eq!(out[0].resources, res("cpus(ads):2;mem(ads):512"));
}

#[test]
fn reserved_role_gets_unreserved_and_reserved_together() {
    let mut a = alloc();
    add_agent(&mut a, "a1", "cpus:4;mem:1024;cpus(ads):2");
    add_fw(&mut a, "ads", "ads");
    let out = a.allocate(secs(1));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].resources, res("cpus:4;mem:1024;cpus(ads):2"));
}

#[test]
fn drf_prefers_the_lower_share() {
    let mut a = alloc();
    // f1 already uses a whole agent.
    add_agent(&mut a, "a1", "cpus:4;mem:4096");
    a.add_framework(&FrameworkId::new("f1"), &fwinfo("*"), &[], true);
    a.add_framework(
        &FrameworkId::new("f2"),
        &fwinfo("*"),
        &[(AgentId::new("a1"), res("cpus:4;mem:4096"))],
        true,
    );
    add_agent(&mut a, "a2", "cpus:4;mem:4096");
    let out = a.allocate(secs(1));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].framework_id.as_str(), "f1");
}

#[test]
fn roles_are_sorted_before_frameworks() {
    let mut a = alloc();
    // Role r1 has two frameworks, one of which holds a lot; role r2 holds little.
    add_agent(&mut a, "big", "cpus:10;mem:10240");
    a.add_framework(
        &FrameworkId::new("r1-busy"),
        &fwinfo("r1"),
        &[(AgentId::new("big"), res("cpus:10;mem:10240"))],
        true,
    );
    add_fw(&mut a, "r1-idle", "r1");
    add_fw(&mut a, "r2-idle", "r2");
    add_agent(&mut a, "a1", "cpus:1;mem:1024");
    let out = a.allocate(secs(1));
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].framework_id.as_str(),
        "r2-idle",
        "role r2 has the lower share"
    );
}

#[test]
fn weights_scale_role_shares() {
    let mut a = alloc();
    a.update_weights(&[("heavy".into(), 2.0)]);
    add_fw(&mut a, "h", "heavy");
    add_fw(&mut a, "l", "light");
    for i in 0..30 {
        add_agent(&mut a, &format!("a{i}"), "cpus:1;mem:1024");
    }
    let out = a.allocate(secs(1));
    let heavy = out.iter().filter(|x| x.role == "heavy").count();
    let light = out.iter().filter(|x| x.role == "light").count();
    assert_eq!(heavy, 20);
    assert_eq!(light, 10);
}

#[test]
fn nested_roles_share_by_subtree() {
    let mut a = alloc();
    // eng/backend and eng/frontend together are compared against ops.
    add_fw(&mut a, "b", "eng/backend");
    add_fw(&mut a, "f", "eng/frontend");
    add_fw(&mut a, "o", "ops");
    for i in 0..40 {
        add_agent(&mut a, &format!("a{i}"), "cpus:1;mem:1024");
    }
    let out = a.allocate(secs(1));
    let count = |r: &str| out.iter().filter(|x| x.role == r).count();
    assert_eq!(count("ops"), 20);
    assert_eq!(count("eng/backend"), 10);
    assert_eq!(count("eng/frontend"), 10);
    let roles = a.roles_json();
    let names: Vec<&str> = roles["roles"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert!(names.contains(&"eng") && names.contains(&"eng/backend") && names.contains(&"ops"));
}

#[test]
fn multi_role_framework_gets_one_allocation_per_role() {
    let mut a = alloc();
    add_agent(&mut a, "a1", "cpus:2;mem:1024;cpus(x):1;mem(x):256");
    add_agent(&mut a, "a2", "cpus:2;mem:1024;cpus(y):1;mem(y):256");
    let mut info = FrameworkInfo::new("multi", "root");
    info.capabilities.push(FrameworkCapability::MultiRole);
    info.roles = vec!["x".into(), "y".into()];
    a.add_framework(&FrameworkId::new("m"), &info, &[], true);
    let out = a.allocate(secs(1));
    // Whatever order the shuffled agents are visited in: every resource goes out, each
    // reservation only to its own role, and no role gets two allocations on one agent.
    let mut pairs = std::collections::BTreeSet::new();
    for x in &out {
        assert!(
            pairs.insert((x.agent_id.to_string(), x.role.clone())),
            "one allocation per role and agent: {out:?}"
        );
        assert!(
            x.resources.allocatable_to(&x.role).contains(&x.resources),
            "another role's reservation offered: {x:?}"
        );
    }
    assert!(pairs.iter().any(|(_, r)| r == "x") && pairs.iter().any(|(_, r)| r == "y"));
    for (agent, total) in [
        ("a1", "cpus:2;mem:1024;cpus(x):1;mem(x):256"),
        ("a2", "cpus:2;mem:1024;cpus(y):1;mem(y):256"),
    ] {
        let mut offered = Resources::default();
        for x in out.iter().filter(|x| x.agent_id.as_str() == agent) {
            for r in x.resources.iter() {
                offered.push(&r);
            }
        }
        let total = res(total);
        assert!(
            offered.contains(&total) && total.contains(&offered),
            "{agent}: offered {offered:?}, has {total:?}"
        );
    }
    // Suppressing one role leaves the other.
    for x in &out {
        a.recover_resources(
            &FrameworkId::new("m"),
            &x.agent_id,
            &x.resources,
            None,
            secs(1),
        );
    }
    a.suppress_offers(&FrameworkId::new("m"), &["x".into()]);
    let out = a.allocate(secs(2));
    assert!(out.iter().all(|x| x.role == "y"));
    assert_eq!(
        out.len(),
        2,
        "unreserved on a1 goes to y; a1's x reservation stays"
    );
}

#[test]
fn quota_guarantee_is_served_first_and_headroom_held() {
    let mut a = alloc();
    for i in 0..10 {
        add_agent(&mut a, &format!("a{i}"), "cpus:4;mem:4096");
    }
    // A big greedy role and a quota role with no framework yet: headroom is kept.
    add_fw(&mut a, "greedy", "batch");
    a.set_quota("prod", &res("cpus:8;mem:8192"), None);
    let out = a.allocate(secs(1));
    let cpus: f64 = out.iter().map(|x| x.resources.cpus()).sum();
    assert!(
        (cpus - 32.0).abs() < 1e-6,
        "8 of 40 cpus held back, got {cpus}"
    );
    add_fw(&mut a, "prod-fw", "prod");
    let out = a.allocate(secs(2));
    let prod: f64 = out
        .iter()
        .filter(|x| x.role == "prod")
        .map(|x| x.resources.cpus())
        .sum();
    assert!(
        (prod - 8.0).abs() < 1e-6,
        "prod gets its guarantee, got {prod}"
    );
    assert!(a.roles_json()["roles"].to_string().contains("guarantee"));
    a.remove_quota("prod");
}

#[test]
fn quota_limit_caps_a_role() {
    let mut a = alloc();
    for i in 0..4 {
        add_agent(&mut a, &format!("a{i}"), "cpus:4;mem:4096");
    }
    a.set_quota("capped", &Resources::new(), Some(&res("cpus:6;mem:100000")));
    add_fw(&mut a, "c", "capped");
    let out = a.allocate(secs(1));
    let cpus: f64 = out.iter().map(|x| x.resources.cpus()).sum();
    assert!((cpus - 6.0).abs() < 1e-6, "limited to 6 cpus, got {cpus}");
}

#[test]
fn agents_reregistering_before_frameworks_keep_their_usage() {
    let mut a = alloc();
    a.add_agent(
        &AgentId::new("a1"),
        &AgentInfo::new("a1", res("cpus:4;mem:4096")),
        &res("cpus:4;mem:4096"),
        &[(FrameworkId::new("old"), res("cpus:3;mem:1024"))],
    );
    add_fw(&mut a, "new", "*");
    let out = a.allocate(secs(1));
    assert_eq!(out[0].resources, res("cpus:1;mem:3072"));
    // The old framework comes back, then finishes its task.
    a.add_framework(
        &FrameworkId::new("old"),
        &fwinfo("*"),
        &[(AgentId::new("a1"), res("cpus:3;mem:1024"))],
        true,
    );
    assert_eq!(a.framework_allocation(&FrameworkId::new("old")).len(), 1);
    a.recover_resources(
        &FrameworkId::new("old"),
        &AgentId::new("a1"),
        &res("cpus:3;mem:1024"),
        None,
        secs(1),
    );
    assert_eq!(
        a.allocated_on(&AgentId::new("a1")),
        Some(res("cpus:1;mem:3072"))
    );
}

#[test]
fn update_agent_changes_what_is_offered() {
    let mut a = alloc();
    add_agent(&mut a, "a1", "cpus:2;mem:1024");
    add_fw(&mut a, "f1", "ads");
    let out = a.allocate(secs(1));
    a.recover_resources(
        &out[0].framework_id,
        &out[0].agent_id,
        &out[0].resources,
        None,
        secs(1),
    );
    a.update_agent(&AgentId::new("a1"), &res("cpus:1;mem:1024;cpus(ads):1"));
    let out = a.allocate(secs(2));
    assert_eq!(out[0].resources, res("cpus:1;mem:1024;cpus(ads):1"));
}

#[test]
fn update_allocation_converts_held_resources_and_reserved_go_to_the_role() {
    let mut a = alloc();
    add_agent(&mut a, "a1", "cpus:4;mem:1024");
    add_fw(&mut a, "ads", "ads");
    add_fw(&mut a, "web", "web");
    let out = a.allocate(secs(1));
    assert_eq!(out.len(), 1);
    let x = &out[0];
    // The holder reserves 2 CPUs for its role (a RESERVE in ACCEPT), then returns all.
    let role = x.role.clone();
    let reserved = res(&format!("cpus({role}):2"));
    let total = res(&format!("cpus:2;cpus({role}):2;mem:1024"));
    a.update_allocation(
        &x.framework_id,
        &x.agent_id,
        &role,
        &res("cpus:2"),
        &reserved,
        &total,
    );
    assert_eq!(a.total_of(&x.agent_id), Some(&total));
    let held = res(&format!("cpus:2;cpus({role}):2;mem:1024"));
    assert_eq!(a.allocated_on(&x.agent_id), Some(held.clone()));
    a.recover_resources(&x.framework_id, &x.agent_id, &held, None, secs(1));
    assert_eq!(a.allocated_on(&x.agent_id), Some(Resources::new()));
    // The other role is offered only the unreserved part; the reservation stays home.
    a.suppress_offers(&x.framework_id, &[]);
    let out = a.allocate(secs(2));
    assert_eq!(out.len(), 1);
    assert_ne!(out[0].framework_id, x.framework_id);
    assert!(out[0].resources.roles().is_empty(), "{}", out[0].resources);
    assert_eq!(out[0].resources.cpus(), 2.0);
}

#[test]
fn min_allocatable_resources_alternatives() {
    let cfg = AllocatorConfig {
        min_allocatable_resources: vec![vec![("cpus".into(), 1.0), ("mem".into(), 256.0)]],
        ..AllocatorConfig::default()
    };
    let mut a = Allocator::new(cfg);
    add_agent(&mut a, "small", "cpus:0.5;mem:4096");
    add_agent(&mut a, "big", "cpus:2;mem:512");
    add_fw(&mut a, "f", "*");
    let out = a.allocate(secs(1));
    let agents: Vec<&str> = out.iter().map(|x| x.agent_id.as_str()).collect();
    assert_eq!(agents, vec!["big"], "cpus:1;mem:256 needs both");
}

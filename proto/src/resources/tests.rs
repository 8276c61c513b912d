//! Unit and property tests of resource parsing and arithmetic.

use super::*;
use proptest::prelude::*;

fn r(s: &str) -> Resources {
    s.parse().unwrap()
}

fn err(s: &str) -> String {
    s.parse::<Resources>().unwrap_err().to_string()
}

#[test]
fn parse_basic() {
    let x = r(" cpus:2 ; mem:1024;disk:4096;ports:[31000-32000,40000-40010];zones:{a,b} ");
    assert_eq!(x.cpus(), 2.0);
    assert_eq!(x.mem(), 1024.0);
    assert_eq!(x.disk(), 4096.0);
    assert_eq!(x.gpus(), 0.0);
    assert_eq!(x.ports(), "[31000-32000,40000-40010]".parse().unwrap());
    assert_eq!(x.set("zones").len(), 2);
    assert_eq!(
        x.to_string(),
        "cpus:2; mem:1024; disk:4096; ports:[31000-32000, 40000-40010]; zones:{a,b}"
    );
    assert_eq!(x.len(), 5);
}

#[test]
fn parse_reservations_and_repeats() {
    let x = r("cpus(ads):8;mem(ads):4096;cpus(*):1;cpus:0.5;cpus( ads ):2");
    assert_eq!(x.cpus(), 11.5);
    assert_eq!(x.reserved("ads"), r("cpus(ads):10;mem(ads):4096"));
    assert_eq!(x.unreserved(), r("cpus:1.5"));
    assert_eq!(x.reserved("*"), x.unreserved());
    assert_eq!(x.roles().into_iter().collect::<Vec<_>>(), vec!["ads"]);
    assert_eq!(x.to_string(), "cpus:1.5; cpus(ads):10; mem(ads):4096");
    // Zero quantities vanish; an empty string is empty resources.
    assert!(r("cpus:0;ports:[];zones:{}").is_empty());
    assert!(r("").is_empty());
    assert!(r(" ; ;").is_empty());
    // Overlapping ranges merge.
    assert_eq!(r("ports:[1-5];ports:[3-9]"), r("ports:[1-9]"));
}

#[test]
fn parse_errors() {
    assert_eq!(
        err(":2"),
        "invalid resource ':2': empty name; expected name:value such as cpus:2"
    );
    assert_eq!(
        err("cpus"),
        "invalid resource 'cpus': missing ':' between name and value; \
         expected name:value or name(role):value, e.g. cpus(ads):8"
    );
    assert_eq!(
        err("cpus:abc"),
        "invalid value for resource 'cpus': 'abc' is not a number; \
         expected a decimal such as 2 or 0.5"
    );
    assert_eq!(
        err("cpus:-1"),
        "invalid value for resource 'cpus': -1 is negative; quantities must be >= 0"
    );
    assert!(err("cpus:NaN").contains("'NaN' is not a finite number"));
    assert!(err("mem:inf").contains("'inf' is not a finite number"));
    assert_eq!(
        err("ports:[5-3]"),
        "invalid value for resource 'ports': malformed ranges '[5-3]': \
         begin 5 is greater than end 3; expected e.g. [31000-32000,40000-40010]"
    );
    assert!(err("ports:[5-3").contains("missing enclosing brackets"));
    assert!(err("ports:5-3]").contains("'5-3]' is not a number"));
    assert_eq!(
        err("cpus:2;cpus:[1-2]"),
        "resource 'cpus' is given as both SCALAR and RANGES; \
         all entries for one name must have the same type"
    );
    assert!(err("cpus(ads):2;cpus:{a}").contains("both SCALAR and SET"));
    assert!(err("cpus():2").contains("invalid role '' for resource 'cpus': the role is empty"));
    assert!(err("cpus(ads:2").contains("missing closing ')'"));
    assert!(err("cpus(a b):2").contains("invalid role 'a b'"));
    assert!(err("cpus(..):2").contains("'.' and '..' are not valid roles"));
    assert!(err("my cpus:2").contains("invalid resource name 'my cpus'"));
    assert!(err("zones:{a,b").contains("missing enclosing braces"));
}

#[test]
fn parse_json_form() {
    let x = r(r#"[
        {"name":"cpus","type":"SCALAR","scalar":{"value":2}},
        {"name":"mem","type":"SCALAR","scalar":{"value":512.5},"role":"*"},
        {"name":"cpus","type":"SCALAR","scalar":{"value":1},"role":"ads"},
        {"name":"disk","type":"SCALAR","scalar":{"value":5},
         "reservations":[{"type":"STATIC","role":"a"},{"type":"DYNAMIC","role":"a/b"}]},
        {"name":"ports","type":"RANGES","ranges":{"range":[{"begin":1,"end":3},{"begin":2,"end":5}]}},
        {"name":"zones","type":"SET","set":{"item":["x","y"]}}
    ]"#);
    assert_eq!(
        x,
        r("cpus:2;mem:512.5;cpus(ads):1;disk(a/b):5;ports:[1-5];zones:{x,y}")
    );
    let j = |s: &str| err(s);
    assert!(j("[1]").contains("entry 0 is not an object"));
    assert!(j(r#"[{"type":"SCALAR"}]"#).contains("entry 0 has no string 'name'"));
    assert_eq!(
        j(r#"[{"name":"cpus","type":"TEXT"}]"#),
        "unknown type 'TEXT' for resource 'cpus'; expected SCALAR, RANGES or SET"
    );
    assert!(j(r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":-1}}]"#).contains("negative"));
    assert!(j(r#"[{"name":"cpus","type":"SCALAR"}]"#).contains("has no 'scalar'"));
    assert!(
        j(r#"[{"name":"p","type":"RANGES","ranges":{"range":[{"begin":5,"end":1}]}}]"#)
            .contains("begin 5 is greater than end 1")
    );
    assert!(j("[").contains("not valid JSON"));
    assert!(j(r#"[{"name":"c","type":"SCALAR","scalar":{"value":1}},
                 {"name":"c","type":"SET","set":{"item":[]}}]"#)
    .contains("both SCALAR and SET"));
}

#[test]
fn arithmetic() {
    let a = r("cpus:2;mem:1024;ports:[31000-32000];cpus(ads):1");
    let b = r("cpus:0.5;mem:24;ports:[31000-31009]");
    let c = &a - &b;
    assert_eq!(c, r("cpus:1.5;mem:1000;ports:[31010-32000];cpus(ads):1"));
    assert_eq!(c.clone() + &b, a);
    assert!(a.contains(&b));
    assert!(!b.contains(&a));
    // Reservations must match for containment.
    assert!(!a.contains(&r("cpus(web):1")));
    assert!(!a.contains(&r("cpus(ads):2")));
    assert!(a.contains(&r("cpus(ads):1")));
    // Subtraction floors at zero and removes entries.
    let d = r("cpus:1;ports:[1-2]") - r("cpus:5;ports:[0-10];mem:3");
    assert!(d.is_empty());
    let mut e = r("cpus:1");
    e += r("mem:2");
    e -= &r("cpus:1");
    assert_eq!(e, r("mem:2"));
}

#[test]
fn reservation_helpers() {
    let a = r("cpus:2;mem:10;cpus(ads):1;mem(web):5;ports(ads):[1-2]");
    assert_eq!(
        a.allocatable_to("ads"),
        r("cpus:2;mem:10;cpus(ads):1;ports(ads):[1-2]")
    );
    assert_eq!(
        a.all_reserved(),
        r("cpus(ads):1;mem(web):5;ports(ads):[1-2]")
    );
    assert_eq!(a.flatten(), r("cpus:3;mem:15;ports:[1-2]"));
    assert_eq!(
        r("cpus:1;ports:[5-6]").reserve("ads"),
        r("cpus(ads):1;ports(ads):[5-6]")
    );
    assert_eq!(a.reserve("*"), a.flatten());
    assert_eq!(a.filter(|x| x.name == "mem"), r("mem:10;mem(web):5"));
    let res = Resource::scalar("cpus", Scalar::from_units(1)).reserved_for("*");
    assert!(res.is_unreserved());
}

#[test]
fn take_ports() {
    let a = r("ports:[31000-31001];ports(ads):[40000-40010];cpus:1");
    assert_eq!(
        a.take_ports(3).unwrap(),
        r("ports:[31000-31001];ports(ads):[40000-40000]")
    );
    assert!(a.take_ports(14).is_none());
    assert!(a.take_ports(0).unwrap().is_empty());
    assert!(a.contains(&a.take_ports(13).unwrap()));
}

#[test]
fn json_map_snapshot() {
    let a = r("cpus:2;mem:1024;ports:[31000-32000];cpus(ads):1.5;zones:{b,a};foo(x):3;foo:1");
    assert_eq!(
        serde_json::to_string(&a.to_json_map()).unwrap(),
        r#"{"cpus":3.5,"disk":0.0,"foo":4.0,"gpus":0.0,"mem":1024.0,"ports":"[31000-32000]","zones":"{a,b}"}"#
    );
    assert_eq!(
        Resources::new().to_json_map(),
        serde_json::json!({"cpus":0.0,"disk":0.0,"gpus":0.0,"mem":0.0})
    );
}

#[test]
fn serde_round_trip_and_validation() {
    let a = r("cpus:2;mem:1024;ports:[31000-32000];cpus(ads):1.5;zones:{a,b}");
    let json = serde_json::to_string(&a).unwrap();
    assert_eq!(serde_json::from_str::<Resources>(&json).unwrap(), a);
    let bytes = rmp_serde::to_vec_named(&a).unwrap();
    assert_eq!(rmp_serde::from_slice::<Resources>(&bytes).unwrap(), a);
    let bad = r#"[{"name":"cpus","value":{"scalar":-1.0}}]"#;
    assert!(serde_json::from_str::<Resources>(bad)
        .unwrap_err()
        .to_string()
        .contains("negative"));
    let bad = r#"[{"name":"","value":{"scalar":1.0}}]"#;
    assert!(serde_json::from_str::<Resources>(bad).is_err());
    // Role "*" and unsorted, repeated entries canonicalize on decode.
    let loose = r#"[{"name":"mem","value":{"scalar":1.0},"reservation":"*"},
                    {"name":"cpus","value":{"scalar":1.0}},
                    {"name":"cpus","value":{"scalar":1.0}}]"#;
    assert_eq!(
        serde_json::from_str::<Resources>(loose).unwrap(),
        r("cpus:2;mem:1")
    );
    let cm = Resources::cpus_mem(0.5, 64.0).unwrap();
    assert_eq!(cm, r("cpus:0.5;mem:64"));
}

// ---------- property tests ----------

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("cpus".to_owned()),
        Just("mem".to_owned()),
        Just("disk".to_owned()),
        Just("gpus".to_owned()),
        Just("custom".to_owned()),
    ]
}

fn role() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        3 => Just(None),
        1 => Just(Some("ads".to_owned())),
        1 => Just(Some("web/x".to_owned())),
        1 => Just(Some("*".to_owned())),
    ]
}

fn ranges() -> impl Strategy<Value = Ranges> {
    prop::collection::vec((0u64..200, 0u64..20), 0..5).prop_map(|v| {
        Ranges::from_pairs(v.into_iter().map(|(b, len)| (b, b + len))).unwrap_or_default()
    })
}

fn resource() -> impl Strategy<Value = Resource> {
    prop_oneof![
        (name(), 0i64..100_000, role()).prop_map(|(n, m, role)| Resource {
            name: n,
            value: Value::Scalar(Scalar::from_milli(m)),
            reservation: role,
        }),
        (ranges(), role()).prop_map(|(x, role)| Resource {
            name: "ports".into(),
            value: Value::Ranges(x),
            reservation: role,
        }),
        (prop::collection::btree_set("[a-d]", 0..4), role()).prop_map(|(s, role)| Resource {
            name: "zones".into(),
            value: Value::Set(s),
            reservation: role,
        }),
    ]
}

fn resources() -> impl Strategy<Value = Resources> {
    prop::collection::vec(resource(), 0..8).prop_map(|v| v.into_iter().collect())
}

/// Checks the internal invariants of the canonical form.
fn assert_canonical(x: &Resources) {
    assert!(x.fast.iter().all(|v| *v >= 0));
    for w in x.other.windows(2) {
        assert!(w[0].key() < w[1].key(), "entries not sorted/unique: {x:?}");
    }
    for e in &x.other {
        assert!(!e.value.is_empty(), "empty entry in {x:?}");
        assert_ne!(e.reservation.as_deref(), Some("*"));
        assert!(
            fast_index(&e.name).is_none()
                || e.reservation.is_some()
                || e.value.kind() != ValueKind::Scalar
        );
        if let Value::Ranges(r) = &e.value {
            for w in r.as_slice().windows(2) {
                assert!(
                    w[0].end.saturating_add(1) < w[1].begin,
                    "ranges not coalesced: {r:?}"
                );
            }
            assert!(r.iter().all(|x| x.begin <= x.end));
        }
    }
}

proptest! {
    #[test]
    fn add_then_sub_is_identity(a in resources(), b in resources()) {
        // Scalars add; ranges and sets take the union, so what `a` shared
        // with `b` in those is removed again: (a ∪ b) ∖ b = a ∖ b.
        let non_scalar = b.filter(|r| r.value.kind() != ValueKind::Scalar);
        prop_assert_eq!((a.clone() + &b) - &b, a.clone() - &non_scalar);
        let sa = a.filter(|r| r.value.kind() == ValueKind::Scalar);
        let sb = b.filter(|r| r.value.kind() == ValueKind::Scalar);
        prop_assert_eq!((sa.clone() + &sb) - &sb, sa);
        // With disjoint ranges/sets the identity holds for everything.
        let disjoint = a.clone() - &non_scalar;
        prop_assert_eq!((disjoint.clone() + &b) - &b, disjoint);
    }

    #[test]
    fn add_commutes(a in resources(), b in resources()) {
        prop_assert_eq!(&a + &b, &b + &a);
    }

    #[test]
    fn add_associates(a in resources(), b in resources(), c in resources()) {
        prop_assert_eq!((a.clone() + &b) + &c, a + &(b + &c));
    }

    #[test]
    fn sum_contains_parts(a in resources(), b in resources()) {
        let s = &a + &b;
        prop_assert!(s.contains(&a));
        prop_assert!(s.contains(&b));
        prop_assert!(a.contains(&a));
    }

    #[test]
    fn difference_is_contained(a in resources(), b in resources()) {
        let d = &a - &b;
        prop_assert!(a.contains(&d));
        assert_canonical(&d);
        for e in d.iter() {
            prop_assert!(!e.value.is_empty());
        }
    }

    #[test]
    fn contains_is_transitive(a in resources(), b in resources(), c in resources()) {
        let big = &(&a + &b) + &c;
        let mid = &a + &b;
        prop_assert!(big.contains(&mid) && mid.contains(&a) && big.contains(&a));
    }

    #[test]
    fn contains_means_subtraction_is_exact(a in resources(), b in resources()) {
        if a.contains(&b) {
            prop_assert_eq!((&a - &b) + &b, a);
        }
    }

    #[test]
    fn operations_stay_canonical(a in resources(), b in resources()) {
        assert_canonical(&a);
        assert_canonical(&(&a + &b));
        assert_canonical(&(&a - &b));
        assert_canonical(&a.flatten());
        assert_canonical(&a.reserve("ads"));
    }

    #[test]
    fn display_parse_round_trip(a in resources()) {
        let text = a.to_string();
        let back: Resources = text.parse().unwrap();
        prop_assert_eq!(back, a);
    }

    #[test]
    fn serde_round_trip(a in resources()) {
        let json = serde_json::to_string(&a).unwrap();
        prop_assert_eq!(serde_json::from_str::<Resources>(&json).unwrap(), a.clone());
        let bytes = rmp_serde::to_vec_named(&a).unwrap();
        prop_assert_eq!(rmp_serde::from_slice::<Resources>(&bytes).unwrap(), a);
    }

    #[test]
    fn reservation_filters_partition(a in resources()) {
        let mut sum = a.unreserved();
        for role in a.roles() {
            sum += &a.reserved(&role);
        }
        prop_assert_eq!(&sum, &a);
        prop_assert_eq!(a.unreserved() + &a.all_reserved(), a.clone());
        prop_assert!(a.contains(&a.allocatable_to("ads")));
        prop_assert_eq!(a.flatten().cpus(), a.cpus());
    }

    #[test]
    fn parse_never_panics(s in "\\PC*") {
        let _ = s.parse::<Resources>();
    }

    #[test]
    fn parse_never_panics_on_syntax(s in "[a-z0-9:;,{}\\[\\]()*. -]{0,60}") {
        if let Ok(x) = s.parse::<Resources>() {
            prop_assert_eq!(x.to_string().parse::<Resources>().unwrap(), x);
        }
    }

    #[test]
    fn json_parse_never_panics(s in "\\[[\\[\\]{}\":,a-zA-Z0-9. -]{0,80}") {
        let _ = s.parse::<Resources>();
    }

    #[test]
    fn ranges_ops_match_model(a in ranges(), b in ranges()) {
        let set = |r: &Ranges| -> std::collections::BTreeSet<u64> {
            r.iter().flat_map(|x| x.begin..=x.end).collect()
        };
        let mut u = a.clone();
        u.add(&b);
        prop_assert_eq!(set(&u), &set(&a) | &set(&b));
        let mut d = a.clone();
        d.subtract(&b);
        prop_assert_eq!(set(&d), &set(&a) - &set(&b));
        prop_assert_eq!(a.contains(&b), set(&b).is_subset(&set(&a)));
        prop_assert_eq!(a.to_string().parse::<Ranges>().unwrap(), a);
    }
}

#[test]
fn json_array_form_round_trips() {
    let r: Resources = "cpus:2;mem(ads):512;ports:[31000-31005];disks:{a,b}"
        .parse()
        .unwrap();
    let text = r.to_json_array().to_string();
    let back: Resources = text.parse().unwrap();
    assert_eq!(back, r, "{text}");
}

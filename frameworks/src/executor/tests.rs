//! Unit tests of the executor driver's pure parts: kill grace, environment, update book.

use super::*;
use proptest::prelude::*;
use std::collections::HashMap;

fn policy(secs: f64) -> KillPolicy {
    KillPolicy {
        grace_period_secs: Some(secs),
    }
}

#[test]
fn kill_grace_prefers_the_kill_then_the_task_and_skips_invalid_values() {
    let d = Duration::from_secs(3);
    assert_eq!(
        kill_grace(Some(&policy(1.0)), Some(&policy(2.0)), d),
        Duration::from_secs(1)
    );
    assert_eq!(
        kill_grace(None, Some(&policy(2.0)), d),
        Duration::from_secs(2)
    );
    assert_eq!(
        kill_grace(Some(&policy(1e300)), Some(&policy(2.0)), d),
        Duration::from_secs(2)
    );
    assert_eq!(kill_grace(Some(&policy(f64::NAN)), None, d), d);
    assert_eq!(kill_grace(None, None, d), d);
}

proptest! {
    /// Any f64 a scheduler puts in a kill policy (NaN, infinities, negatives, 1e300)
    /// gives a bounded grace period; `from_secs_f64` panicked on 1e300.
    #[test]
    fn any_kill_grace_from_the_wire_is_bounded(
        kill in proptest::option::of(proptest::num::f64::ANY),
        task in proptest::option::of(proptest::num::f64::ANY),
    ) {
        let k = kill.map(policy);
        let t = task.map(policy);
        let g = kill_grace(k.as_ref(), t.as_ref(), Duration::from_secs(3));
        prop_assert!(g.as_secs_f64() <= libproc::duration::MAX_UNTRUSTED_SECS);
        prop_assert!(std::time::Instant::now().checked_add(g * 2).is_some());
    }
}

fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let m: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| m.get(k).cloned()
}

const BASE: &[(&str, &str)] = &[
    ("MESOS_SLAVE_PID", "slave(1)@127.0.0.1:5051"),
    ("MESOS_FRAMEWORK_ID", "F1"),
    ("MESOS_EXECUTOR_ID", "E1"),
    ("MESOS_DIRECTORY", "/tmp/sb"),
];

#[test]
fn env_defaults_and_round_trip() {
    let env = ExecutorEnv::from_lookup(lookup(BASE)).unwrap();
    assert_eq!(env.sandbox, PathBuf::from("/tmp/sb"));
    assert!(!env.checkpoint);
    assert_eq!(env.recovery_timeout, DEFAULT_RECOVERY_TIMEOUT);
    assert_eq!(env.shutdown_grace_period, DEFAULT_SHUTDOWN_GRACE_PERIOD);
    let vars = env.to_vars();
    let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(ExecutorEnv::from_lookup(lookup(&pairs)).unwrap(), env);
}

#[test]
fn env_errors_name_the_variable() {
    let e = ExecutorEnv::from_lookup(lookup(&BASE[1..])).unwrap_err();
    assert!(e.to_string().contains("MESOS_SLAVE_PID"), "{e}");
    let mut bad = BASE.to_vec();
    bad[0] = ("MESOS_SLAVE_PID", "nope");
    assert!(ExecutorEnv::from_lookup(lookup(&bad))
        .unwrap_err()
        .to_string()
        .contains("id@ip:port"));
    let mut bad = BASE.to_vec();
    bad.push(("MESOS_RECOVERY_TIMEOUT", "soon"));
    assert!(ExecutorEnv::from_lookup(lookup(&bad))
        .unwrap_err()
        .to_string()
        .contains("MESOS_RECOVERY_TIMEOUT"));
    let mut bad = BASE.to_vec();
    bad.push(("MESOS_CHECKPOINT", "maybe"));
    assert!(ExecutorEnv::from_lookup(lookup(&bad)).is_err());
    assert!(ExecutorEnv::from_lookup(lookup(&BASE[..3]))
        .unwrap_err()
        .to_string()
        .contains("MESOS_DIRECTORY"));
}

#[test]
fn book_tracks_updates_until_acknowledged() {
    let mut b = UpdateBook::new("F".into(), "E".into(), 1);
    let task = TaskInfo::command_task(
        "t",
        "t1".into(),
        "S".into(),
        Default::default(),
        proto::CommandInfo::shell("x"),
    );
    b.launched(task);
    assert!(b
        .update(TaskStatus::new("t1".into(), TaskState::Staging), None, 0.0)
        .is_err());
    let running = b
        .update(
            TaskStatus::new("t1".into(), TaskState::Running),
            Some("S".into()),
            1.5,
        )
        .unwrap();
    let done = b
        .update(
            TaskStatus::new("t1".into(), TaskState::Finished),
            Some("S".into()),
            2.0,
        )
        .unwrap();
    assert_ne!(running.status.uuid, done.status.uuid);
    assert_eq!(running.status.source, Some(Source::Executor));
    assert_eq!(running.status.executor_id, Some("E".into()));
    assert_eq!(running.status.agent_id, Some("S".into()));
    assert_eq!(running.timestamp, 1.5);
    let rr = b.reregister_message();
    assert_eq!((rr.tasks.len(), rr.updates.len()), (1, 2));
    assert!(b
        .acknowledge(&"t1".into(), StatusUuid::from_u128(9))
        .is_none());
    let d = done.status.uuid.unwrap();
    assert!(b.acknowledge(&"t1".into(), d).is_some());
    assert_eq!(
        b.tasks().count(),
        0,
        "terminal and acknowledged: the task is forgotten"
    );
    assert_eq!(b.unacknowledged().len(), 1);
    // Same seed and ids: same uuids (reproducible).
    let mut b2 = UpdateBook::new("F".into(), "E".into(), 1);
    let r2 = b2
        .update(TaskStatus::new("t1".into(), TaskState::Running), None, 0.0)
        .unwrap();
    assert_eq!(r2.status.uuid, running.status.uuid);
}

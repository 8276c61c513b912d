//! The agent's Mesos-named metrics (`/metrics/snapshot`, `/metrics`): `slave/*` and
//! `containerizer/*`, every name declared at zero when the agent starts, gauges computed
//! from the core. (`system/*` comes from libproc, for every node.)

use proto::{Resources, TaskState};

use crate::agent::{AgentCore, ExecutorState};

/// Counters the agent increments (Mesos's names), declared at zero on start-up.
pub const COUNTERS: &[&str] = &[
    "slave/tasks_finished",
    "slave/tasks_failed",
    "slave/tasks_killed",
    "slave/tasks_lost",
    "slave/tasks_gone",
    "slave/tasks_error",
    "slave/tasks_dropped",
    "slave/tasks_unreachable",
    "slave/tasks_gone_by_operator",
    "slave/executors_terminated",
    "slave/executors_preempted",
    "slave/valid_status_updates",
    "slave/invalid_status_updates",
    "slave/valid_framework_messages",
    "slave/invalid_framework_messages",
    "slave/container_launch_errors",
    "slave/recovery_errors",
    "containerizer/mesos/container_destroy_errors",
    "containerizer/fetcher/task_fetches_succeeded",
    "containerizer/fetcher/task_fetches_failed",
];

/// Resource kinds Mesos's agent reports gauges for.
const KINDS: &[&str] = &["cpus", "mem", "disk", "gpus"];

/// The agent's gauges: task and executor counts by state, frameworks, resources (total,
/// used by executors and their tasks, fraction; revocable ones zero), registration and
/// uptime.
pub fn gauges(
    core: &AgentCore,
    total: &Resources,
    registered: bool,
    uptime_secs: f64,
) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    let executors = || core.frameworks.values().flat_map(|f| f.executors.values());
    let (mut staging, mut starting, mut running, mut killing) = (0usize, 0, 0, 0);
    let mut by_state = [0usize; 4];
    let mut used = Resources::new();
    for e in executors() {
        staging += e.queued.len();
        for t in e.launched.values() {
            match t.state {
                TaskState::Staging => staging += 1,
                TaskState::Starting => starting += 1,
                TaskState::Running => running += 1,
                TaskState::Killing => killing += 1,
                _ => {}
            }
        }
        by_state[match e.state {
            ExecutorState::Launching => 0,
            ExecutorState::Running => 1,
            ExecutorState::Terminating => 2,
            ExecutorState::Terminated => 3,
        }] += 1;
        if e.state != ExecutorState::Terminated {
            used += &e.resources;
        }
    }
    for (name, n) in [
        ("slave/tasks_staging", staging),
        ("slave/tasks_starting", starting),
        ("slave/tasks_running", running),
        ("slave/tasks_killing", killing),
        ("slave/executors_registering", by_state[0]),
        ("slave/executors_running", by_state[1]),
        ("slave/executors_terminating", by_state[2]),
        ("slave/frameworks_active", core.frameworks.len()),
    ] {
        out.push((name.to_string(), n as f64));
    }
    for kind in KINDS {
        let (t, u) = (total.scalar(kind).as_f64(), used.scalar(kind).as_f64());
        out.push((format!("slave/{kind}_total"), t));
        out.push((format!("slave/{kind}_used"), u));
        out.push((
            format!("slave/{kind}_percent"),
            if t > 0.0 { u / t } else { 0.0 },
        ));
        for s in ["total", "used", "percent"] {
            out.push((format!("slave/{kind}_revocable_{s}"), 0.0));
        }
    }
    out.push((
        "slave/registered".into(),
        if registered { 1.0 } else { 0.0 },
    ));
    out.push(("slave/uptime_secs".into(), uptime_secs));
    out
}

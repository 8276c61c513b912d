//! The master's Mesos-named metrics (`/metrics/snapshot`, `/metrics`): every name Mesos's
//! master shows is declared at zero when the master starts, so dashboards find them before
//! anything happens; the resource gauges are computed from the core.

use proto::Resources;

use crate::core::Master;

/// Counters the master increments (Mesos's names), declared at zero on start-up.
pub const COUNTERS: &[&str] = &[
    "master/dropped_messages",
    "master/messages_accept",
    "master/messages_authenticate",
    "master/messages_deactivate_framework",
    "master/messages_decline_offers",
    "master/messages_executor_to_framework",
    "master/messages_exited_executor",
    "master/messages_framework_to_executor",
    "master/messages_kill_task",
    "master/messages_launch_tasks",
    "master/messages_operation_status_update_acknowledgement",
    "master/messages_pong_slave",
    "master/messages_reconcile_operations",
    "master/messages_reconcile_tasks",
    "master/messages_register_framework",
    "master/messages_register_slave",
    "master/messages_reregister_framework",
    "master/messages_reregister_slave",
    "master/messages_resource_request",
    "master/messages_revive_offers",
    "master/messages_scheduler_calls",
    "master/messages_status_update",
    "master/messages_status_update_acknowledgement",
    "master/messages_suppress_offers",
    "master/messages_unregister_framework",
    "master/messages_unregister_slave",
    "master/messages_update_slave",
    "master/valid_status_updates",
    "master/invalid_status_updates",
    "master/valid_status_update_acknowledgements",
    "master/invalid_status_update_acknowledgements",
    "master/valid_framework_to_executor_messages",
    "master/invalid_framework_to_executor_messages",
    "master/valid_executor_to_framework_messages",
    "master/invalid_executor_to_framework_messages",
    "master/valid_operation_status_update_acknowledgements",
    "master/invalid_operation_status_update_acknowledgements",
    "master/slave_registrations",
    "master/slave_reregistrations",
    "master/slave_removals",
    "master/slave_removals/reason_registered",
    "master/slave_removals/reason_unhealthy",
    "master/slave_removals/reason_unregistered",
    "master/recovery_slave_removals",
    "master/slave_shutdowns_scheduled",
    "master/slave_shutdowns_completed",
    "master/slave_shutdowns_canceled",
    "master/slave_unreachable_scheduled",
    "master/slave_unreachable_completed",
    "master/slave_unreachable_canceled",
];

/// Gauges Mesos's master shows that are not refreshed from the core's collections
/// (the core's own ones are set by the process every tick).
pub const GAUGES: &[&str] = &[
    "master/elected",
    "master/uptime_secs",
    "master/event_queue_messages",
    "master/event_queue_dispatches",
    "master/event_queue_http_requests",
];

/// Declares every name of [`COUNTERS`] and [`GAUGES`] for the master serving at `node`
/// (labelled as its other metrics are), at zero unless already counted.
pub fn declare(node: &str) {
    for name in COUNTERS {
        metrics::counter!(*name, "node" => node.to_string()).increment(0);
    }
    for name in crate::authentication::COUNTERS {
        metrics::counter!(*name, "node" => node.to_string()).increment(0);
    }
    for name in GAUGES {
        metrics::gauge!(*name, "node" => node.to_string()).increment(0.0);
    }
}

/// Resource kinds Mesos's master reports gauges for.
const KINDS: &[&str] = &["cpus", "mem", "disk", "gpus"];

/// `master/<kind>_{total,used,percent}` and their `_revocable_` variants (we have no
/// revocable resources: those stay zero, as on a Mesos cluster without oversubscription).
pub fn resource_gauges(core: &Master) -> Vec<(String, f64)> {
    let total = core
        .agents()
        .values()
        .fold(Resources::new(), |acc, a| acc + &a.info.resources);
    let used = core
        .frameworks()
        .values()
        .flat_map(|f| f.tasks.values())
        .filter(|t| !t.state.is_terminal())
        .fold(Resources::new(), |acc, t| acc + &t.resources);
    let mut out = Vec::with_capacity(KINDS.len() * 6);
    for kind in KINDS {
        let (t, u) = (total.scalar(kind).as_f64(), used.scalar(kind).as_f64());
        let percent = if t > 0.0 { u / t } else { 0.0 };
        out.push((format!("master/{kind}_total"), t));
        out.push((format!("master/{kind}_used"), u));
        out.push((format!("master/{kind}_percent"), percent));
        for s in ["total", "used", "percent"] {
            out.push((format!("master/{kind}_revocable_{s}"), 0.0));
        }
    }
    out
}

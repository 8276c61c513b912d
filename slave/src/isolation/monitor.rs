//! The `monitor` process: serves `/monitor/statistics` and `/monitor/statistics.json`, a
//! JSON array with one entry per live container (`executor_id`, `executor_name`,
//! `framework_id`, `source`, `statistics`), as Mesos's resource monitor does.

use libproc::{Ctx, Handlers, HttpResponse, Process};

use super::Isolation;

/// The process id Mesos uses (so the URL is `/monitor/statistics`).
pub const MONITOR_ID: &str = "monitor";

/// Serves the usage of an agent's containers.
pub struct MonitorProcess {
    isolation: Isolation,
    clock: fn() -> f64,
}

impl MonitorProcess {
    /// A monitor over `isolation`'s containers; `clock` stamps the statistics.
    pub fn new(isolation: Isolation, clock: fn() -> f64) -> MonitorProcess {
        MonitorProcess { isolation, clock }
    }
}

impl Process for MonitorProcess {
    fn install(h: &mut Handlers<Self>) {
        for path in ["statistics", "statistics.json"] {
            h.route(path, |me: &mut Self, _ctx: &mut Ctx<Self>, req| {
                if req.method != "GET" && req.method != "HEAD" {
                    return HttpResponse::text(405, "Expecting 'GET'");
                }
                HttpResponse::json(&me.isolation.statistics((me.clock)()))
            });
        }
    }
}

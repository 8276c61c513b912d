//! The `monitor` process: serves `/monitor/statistics` and `/monitor/statistics.json`, a
//! JSON array with one entry per live container (`executor_id`, `executor_name`,
//! `framework_id`, `source`, `statistics`), as Mesos's resource monitor does (with
//! `Access-Control-Allow-Origin: *`, for the master's web UI). Gathering
//! the usage reads `/proc` and cgroup files for every container, so it runs on tokio's
//! blocking pool (under [`MONITOR_TIMEOUT`]), not on the agent's thread.

use std::time::Duration;

use libproc::{Ctx, Handlers, HttpRequest, HttpResponse, Process, Responder};

use super::Isolation;

/// The process id Mesos uses (so the URL is `/monitor/statistics`).
pub const MONITOR_ID: &str = "monitor";

/// How long gathering the statistics may take before the request is answered `504`.
pub const MONITOR_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the usage of an agent's containers.
pub struct MonitorProcess {
    isolation: Isolation,
    clock: libproc::wall_clock::WallClock,
}

impl MonitorProcess {
    /// A monitor over `isolation`'s containers; `clock` stamps the statistics.
    pub fn new(isolation: Isolation, clock: libproc::wall_clock::WallClock) -> MonitorProcess {
        MonitorProcess { isolation, clock }
    }
}

/// Gathers the containers' statistics (the `/monitor/statistics` document) off the
/// process's thread, bounded by [`MONITOR_TIMEOUT`], and answers `responder` with
/// `answer(statistics)` (`500`/`504` if gathering failed or took too long). Read-only,
/// and read by the master's web UI from another origin: CORS allows any.
pub fn respond_with_statistics<P: Process>(
    ctx: &mut Ctx<'_, P>,
    isolation: Isolation,
    now: f64,
    responder: Responder,
    answer: impl FnOnce(serde_json::Value) -> HttpResponse + 'static,
) {
    let job = libproc::offload::offload(move || isolation.statistics(now));
    ctx.spawn(
        tokio::time::timeout(MONITOR_TIMEOUT, job),
        move |_me: &mut P, _ctx, done| {
            let response = match done {
                Ok(Ok(stats)) => answer(stats),
                Ok(Err(e)) => {
                    HttpResponse::text(500, format!("Gathering statistics failed: {e}\n"))
                }
                Err(_) => HttpResponse::text(
                    504,
                    format!("Gathering statistics took longer than {MONITOR_TIMEOUT:?}\n"),
                ),
            };
            responder.respond(response.with_header("Access-Control-Allow-Origin", "*"))
        },
    );
}

impl Process for MonitorProcess {
    /// Serves HTTP only; no message from the network.
    const REACH: libproc::Reach = libproc::Reach::LocalOnly;
    fn install(h: &mut Handlers<Self>) {
        h.in_realm(proto::http_authentication::AGENT_READONLY, |h| {
            for path in ["statistics", "statistics.json"] {
                h.route_deferred(
                    path,
                    |me: &mut Self, ctx: &mut Ctx<Self>, req: HttpRequest, responder: Responder| {
                        if req.method != "GET" && req.method != "HEAD" {
                            responder.respond(HttpResponse::text(405, "Expecting 'GET'"));
                            return;
                        }
                        let now = me.clock.now();
                        respond_with_statistics(ctx, me.isolation.clone(), now, responder, |s| {
                            HttpResponse::json(&s)
                        });
                    },
                );
            }
        });
    }
}

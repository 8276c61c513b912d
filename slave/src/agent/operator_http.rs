//! The agent's operator endpoints: the v1 operator API (`POST /api/v1` on the agent,
//! decoded by [`proto::v1::operator`], the master's decoder, with the agent's call types)
//! and Mesos's container endpoints on the agent process (`/slave(1)/monitor/statistics`,
//! `/slave(1)/containers`). Getters are answered from the core's tables; everything that
//! touches the file system or `/proc` (LIST_FILES, READ_FILE, GET_CONTAINERS, the
//! statistics) runs on tokio's blocking pool under a time bound, never on the agent's
//! thread, and reads only inside the sandboxes (`<work_dir>/slaves`).

use libproc::{Ctx, HttpRequest, HttpResponse, Responder};
use proto::messages::Task;
use proto::v1::json as j;
use proto::v1::operator::{self as ops, OperatorCall as Call};
use serde_json::{json, Value};

use super::{AgentProcess, Executor, Framework, VERSION};
use crate::files;
use crate::isolation::monitor::respond_with_statistics;
use crate::paths;

/// GET_FRAMEWORKS's `Framework`: its info with its id.
fn framework(f: &Framework) -> Value {
    let mut info = j::framework_info(&f.info);
    info["id"] = j::id(f.id.as_str());
    json!({ "framework_info": info })
}

/// GET_EXECUTORS's `Executor`.
fn executor(e: &Executor) -> Value {
    json!({ "executor_info": j::executor_info(&e.info) })
}

/// The `/monitor/statistics` document as GET_CONTAINERS's `containers`.
fn containers(statistics: &Value) -> Value {
    let list: Vec<Value> = statistics
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|e| {
                    let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
                    json!({
                        "framework_id": j::id(&s("framework_id")),
                        "executor_id": j::id(&s("executor_id")),
                        "executor_name": s("executor_name"),
                        "container_id": j::id(&s("container_id")),
                        "resource_statistics": e["statistics"],
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    json!({"type": "GET_CONTAINERS", "get_containers": {"containers": list}})
}

impl AgentProcess {
    fn v1_frameworks(&self) -> Value {
        let live: Vec<Value> = self.core.frameworks.values().map(framework).collect();
        let done: Vec<Value> = self
            .core
            .completed_frameworks
            .iter()
            .map(framework)
            .collect();
        json!({ "frameworks": live, "completed_frameworks": done })
    }

    fn v1_executors(&self) -> Value {
        let all = || {
            self.core
                .frameworks
                .values()
                .chain(self.core.completed_frameworks.iter())
        };
        let live: Vec<Value> = all()
            .flat_map(|f| f.executors.values().map(executor))
            .collect();
        let done: Vec<Value> = all()
            .flat_map(|f| f.completed_executors.iter().map(executor))
            .collect();
        json!({ "executors": live, "completed_executors": done })
    }

    fn v1_tasks(&self) -> Value {
        let (mut queued, mut launched, mut terminated, mut completed) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let frameworks = self
            .core
            .frameworks
            .values()
            .chain(self.core.completed_frameworks.iter());
        for f in frameworks {
            for e in f.executors.values().chain(f.completed_executors.iter()) {
                queued.extend(e.queued.iter().map(|t| {
                    j::task(&Task::from_info(
                        t,
                        f.id.clone(),
                        Some(e.info.executor_id.clone()),
                    ))
                }));
                launched.extend(e.launched.values().map(j::task));
                terminated.extend(e.terminated.values().map(j::task));
                completed.extend(e.completed.iter().map(j::task));
            }
        }
        json!({
            "pending_tasks": [],
            "queued_tasks": queued,
            "launched_tasks": launched,
            "terminated_tasks": terminated,
            "completed_tasks": completed,
        })
    }

    /// `POST /api/v1` on the agent.
    pub(super) fn operator_api(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        req: HttpRequest,
        responder: Responder,
    ) {
        if let Some(refused) = ops::refuse_request(&req) {
            responder.respond(refused);
            return;
        }
        let call = match ops::decode(&req.body, ops::AGENT_TYPES) {
            Ok(c) => c,
            Err(why) => {
                responder.respond(HttpResponse::bad_request(format!(
                    "Failed to validate call: {why}"
                )));
                return;
            }
        };
        let answer = match call {
            Call::GetHealth => ops::get_health(),
            Call::GetFlags => ops::get_flags(&self.config.flags),
            Call::GetVersion => ops::get_version(VERSION),
            Call::GetMetrics => ops::get_metrics(
                &libproc::metrics::registry().snapshot_json(Some(&ctx.pid().addr().to_string())),
            ),
            Call::GetLoggingLevel => ops::get_logging_level(),
            Call::SetLoggingLevel {
                level,
                duration_secs,
            } => {
                libproc::logging::set_verbosity(
                    level,
                    libproc::duration::secs_clamped(duration_secs),
                );
                responder.respond(HttpResponse::new(200, "text/plain", ""));
                return;
            }
            Call::GetState => json!({"type": "GET_STATE", "get_state": {
                "get_tasks": self.v1_tasks(),
                "get_executors": self.v1_executors(),
                "get_frameworks": self.v1_frameworks(),
            }}),
            Call::GetFrameworks => {
                json!({"type": "GET_FRAMEWORKS", "get_frameworks": self.v1_frameworks()})
            }
            Call::GetExecutors => {
                json!({"type": "GET_EXECUTORS", "get_executors": self.v1_executors()})
            }
            Call::GetTasks => json!({"type": "GET_TASKS", "get_tasks": self.v1_tasks()}),
            Call::GetContainers => {
                let now = self.config.clock.now();
                respond_with_statistics(
                    ctx,
                    self.config.isolation.clone(),
                    now,
                    responder,
                    |stats| HttpResponse::json(&containers(&stats)),
                );
                return;
            }
            Call::ListFiles { path } => {
                let acls = self.config.acls.clone();
                let principal = req.principal.clone();
                self.in_sandboxes(ctx, responder, move |roots| {
                    files::may_access_sandbox(roots, &acls, principal.as_deref(), &path)
                        .map_or_else(|denied| denied, |()| files::list_files_v1(roots, &path))
                });
                return;
            }
            Call::ReadFile {
                path,
                offset,
                length,
            } => {
                let acls = self.config.acls.clone();
                let principal = req.principal.clone();
                self.in_sandboxes(ctx, responder, move |roots| {
                    files::may_access_sandbox(roots, &acls, principal.as_deref(), &path)
                        .map_or_else(
                            |denied| denied,
                            |()| files::read_file_v1(roots, &path, offset, length),
                        )
                });
                return;
            }
            other => {
                // Not in AGENT_TYPES: the decoder refused it already.
                responder.respond(HttpResponse::bad_request(format!(
                    "{other:?} is not served by the agent"
                )));
                return;
            }
        };
        responder.respond(HttpResponse::json(&answer));
    }

    /// Runs `work` over the sandboxes' root off the agent's thread, bounded by
    /// [`files::FILES_IO_TIMEOUT`]. The root is canonicalized there too (a syscall).
    fn in_sandboxes(
        &self,
        ctx: &mut Ctx<'_, Self>,
        responder: Responder,
        work: impl FnOnce(&[std::path::PathBuf]) -> HttpResponse + Send + 'static,
    ) {
        let root = paths::slaves_root(&self.config.work_dir);
        files::in_roots(
            ctx,
            std::sync::Arc::new(vec![root]),
            responder,
            move |roots| work(&files::canonical_roots(roots.to_vec())),
        );
    }

    /// `/slave(1)/monitor/statistics` and `/slave(1)/containers`: the containers with
    /// their usage (Mesos's JSON).
    pub(super) fn container_statistics(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        req: HttpRequest,
        responder: Responder,
    ) {
        if req.method != "GET" && req.method != "HEAD" {
            responder.respond(HttpResponse::text(405, "Expecting 'GET'"));
            return;
        }
        let now = self.config.clock.now();
        respond_with_statistics(
            ctx,
            self.config.isolation.clone(),
            now,
            responder,
            |stats| HttpResponse::json(&stats),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_become_get_containers() {
        let stats = json!([{"executor_id": "e", "executor_name": "n", "framework_id": "f",
            "source": "s", "container_id": "c", "statistics": {"mem_rss_bytes": 5}}]);
        let v = containers(&stats);
        let c = &v["get_containers"]["containers"][0];
        assert_eq!(c["container_id"]["value"], "c");
        assert_eq!(c["framework_id"]["value"], "f");
        assert_eq!(c["executor_name"], "n");
        assert_eq!(c["resource_statistics"]["mem_rss_bytes"], 5);
        assert_eq!(
            containers(&json!({}))["get_containers"]["containers"],
            json!([])
        );
    }
}

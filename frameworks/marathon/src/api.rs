//! The `/v2` REST API: routing and answers. Reads come from the core in memory; writes are
//! planned by the core, written to the store, committed, and only then answered.

use std::rc::Rc;

use serde_json::{json, Value};

use crate::app::{self, ApiError};
use crate::core::{Core, Planned};
use crate::shell::Shared;

/// An answer.
#[derive(Debug)]
pub enum Reply {
    /// JSON with a status.
    Json(u16, Value),
    /// Text with a status and content type.
    Text(u16, &'static str, String),
    /// The event stream.
    Events,
}

fn err(e: ApiError) -> Reply {
    Reply::Json(e.status(), e.body())
}

fn flag(query: &[(String, String)], name: &str) -> bool {
    query
        .iter()
        .any(|(k, v)| k == name && (v.is_empty() || v == "true" || v == "1"))
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn embeds_tasks(query: &[(String, String)]) -> bool {
    query
        .iter()
        .any(|(k, v)| k == "embed" && (v.ends_with(".tasks") || v.ends_with(".failures")))
}

/// Runs a planned change: write it, commit it, wake the scheduler, answer.
async fn execute(
    shared: &Rc<Shared>,
    plan: impl FnOnce(&mut Core, f64) -> Result<Planned, ApiError>,
) -> Reply {
    let _guard = shared.api_lock.lock().await;
    if !shared.may_act() {
        return err(ApiError::Unavailable(
            "this instance's leadership lease has run out; nothing was changed".into(),
        ));
    }
    let t = shared.now();
    let planned = match plan(&mut shared.core.borrow_mut(), t) {
        Ok(p) => p,
        Err(e) => return err(e),
    };
    if let Err(e) = shared.store.apply(planned.ops.clone()).await {
        return err(ApiError::Unavailable(format!(
            "the change could not be stored, nothing was changed: {e}"
        )));
    }
    shared.core.borrow_mut().commit(&planned, t);
    for d in &planned.deployments {
        shared.events.publish(
            "deployment_info",
            json!({"plan": {"id": d.id, "version": d.version,
                            "affectedApps": d.parts().map(|p| p.app_id.clone()).collect::<Vec<_>>()},
                   "currentStep": {"actions": d.parts()
                       .map(|p| json!({"action": p.action, "app": p.app_id}))
                       .collect::<Vec<_>>()},
                   "timestamp": app::iso_time(t)}),
        );
    }
    shared.kick().await;
    Reply::Json(planned.status, planned.reply)
}

/// Splits `/v2/apps/<id...>[/tasks[/<task>]|/restart|/versions]`.
fn split_app_path(rest: &str) -> (String, Vec<&str>) {
    let parts: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    for (i, p) in parts.iter().enumerate() {
        if matches!(*p, "tasks" | "restart" | "versions") && i > 0 {
            return (format!("/{}", parts[..i].join("/")), parts[i..].to_vec());
        }
    }
    (format!("/{}", parts.join("/")), Vec::new())
}

/// Answers one request.
pub async fn route(
    shared: &Rc<Shared>,
    method: &str,
    path: &str,
    query: &[(String, String)],
    body: &[u8],
) -> Reply {
    let force = flag(query, "force");
    let json_body = || app::parse_body(body);
    match (method, path) {
        ("GET", "/ping") => return Reply::Text(200, "text/plain", "pong\n".into()),
        ("GET", "/v2/info") => return Reply::Json(200, info(shared)),
        ("GET", "/v2/leader") => {
            return match shared.leader.borrow().clone() {
                Some(l) => Reply::Json(200, json!({ "leader": l })),
                None => Reply::Json(404, json!({"message": "There is no leader"})),
            }
        }
        ("GET", "/v2/events") => return Reply::Events,
        ("GET", "/metrics") => return Reply::Json(200, metrics(shared)),
        ("GET", "/") | ("GET", "/ui") | ("GET", "/ui/") => {
            return Reply::Text(200, "text/html; charset=utf-8", crate::ui::INDEX.into())
        }
        _ => {}
    }
    let t = shared.now();
    if let Some(rest) = path.strip_prefix("/v2/apps") {
        if rest.is_empty() || rest == "/" {
            return match method {
                "GET" => {
                    let core = shared.core.borrow();
                    let id_filter = param(query, "id");
                    let cmd_filter = param(query, "cmd");
                    let apps: Vec<Value> = core
                        .apps
                        .values()
                        .filter(|a| !a.deleting)
                        .filter(|a| id_filter.is_none_or(|f| a.def.id.contains(f)))
                        .filter(|a| {
                            cmd_filter
                                .is_none_or(|f| a.def.cmd.as_deref().is_some_and(|c| c.contains(f)))
                        })
                        .map(|a| core.app_json(a, embeds_tasks(query), t))
                        .collect();
                    Reply::Json(200, json!({ "apps": apps }))
                }
                "POST" => match json_body() {
                    Ok(v) => execute(shared, |c, t| c.plan_put(&v, None, true, force, t)).await,
                    Err(e) => err(e),
                },
                "PUT" | "PATCH" => match json_body() {
                    Ok(Value::Array(items)) => {
                        let mut last = Reply::Json(200, json!({}));
                        for item in items {
                            last = execute(shared, |c, t| c.plan_put(&item, None, false, force, t))
                                .await;
                            if let Reply::Json(s, _) = &last {
                                if *s >= 400 {
                                    return last;
                                }
                            }
                        }
                        last
                    }
                    Ok(_) => err(ApiError::BadJson("expected an array of apps".into())),
                    Err(e) => err(e),
                },
                _ => Reply::Json(405, json!({"message": "method not allowed"})),
            };
        }
        let (id, tail) = split_app_path(rest);
        return match (method, tail.as_slice()) {
            ("GET", []) => {
                let core = shared.core.borrow();
                match core.apps.get(&id).filter(|a| !a.deleting) {
                    Some(a) => Reply::Json(200, json!({"app": core.app_json(a, true, t)})),
                    None => err(ApiError::NotFound(format!("App '{id}' does not exist"))),
                }
            }
            ("PUT" | "PATCH", []) => match json_body() {
                Ok(v) => {
                    let id2 = id.clone();
                    execute(shared, move |c, t| {
                        c.plan_put(&v, Some(&id2), false, force, t)
                    })
                    .await
                }
                Err(e) => err(e),
            },
            ("DELETE", []) => execute(shared, |c, t| c.plan_delete(&id, force, t)).await,
            ("POST", ["restart"]) => execute(shared, |c, t| c.plan_restart(&id, force, t)).await,
            ("GET", ["versions"]) => {
                let core = shared.core.borrow();
                match core.apps.get(&id).filter(|a| !a.deleting) {
                    Some(a) => Reply::Json(200, json!({"versions": [a.version]})),
                    None => err(ApiError::NotFound(format!("App '{id}' does not exist"))),
                }
            }
            ("GET", ["tasks"]) => {
                let core = shared.core.borrow();
                if !core.apps.contains_key(&id) {
                    return err(ApiError::NotFound(format!("App '{id}' does not exist")));
                }
                let tasks: Vec<Value> = core
                    .instances
                    .values()
                    .filter(|i| i.rec.app_id == id)
                    .map(|i| core.task_json(i, t))
                    .collect();
                Reply::Json(200, json!({ "tasks": tasks }))
            }
            ("DELETE", ["tasks"]) => {
                let host = param(query, "host");
                let ids: Vec<String> = shared
                    .core
                    .borrow()
                    .instances
                    .values()
                    .filter(|i| i.rec.app_id == id && host.is_none_or(|h| i.rec.host == h))
                    .map(|i| i.rec.task_id.clone())
                    .collect();
                let scale = flag(query, "scale");
                execute(shared, |c, t| c.plan_kill(&ids, scale, force, t)).await
            }
            ("DELETE", ["tasks", task]) => {
                let known = shared
                    .core
                    .borrow()
                    .instances
                    .get(*task)
                    .is_some_and(|i| i.rec.app_id == id);
                if !known {
                    return err(ApiError::NotFound(format!("Task '{task}' does not exist")));
                }
                let scale = flag(query, "scale");
                let ids = vec![task.to_string()];
                match execute(shared, |c, t| c.plan_kill(&ids, scale, force, t)).await {
                    Reply::Json(200, v) if !scale => Reply::Json(
                        200,
                        json!({"task": v["tasks"].get(0).cloned().unwrap_or(Value::Null)}),
                    ),
                    other => other,
                }
            }
            _ => Reply::Json(404, json!({"message": format!("no route {method} {path}")})),
        };
    }
    match (method, path) {
        ("GET", "/v2/tasks") => {
            let core = shared.core.borrow();
            let status = param(query, "status");
            let tasks: Vec<Value> = core
                .instances
                .values()
                .filter(|i| {
                    status
                        .is_none_or(|s| i.state.as_str().eq_ignore_ascii_case(&format!("TASK_{s}")))
                })
                .map(|i| core.task_json(i, t))
                .collect();
            Reply::Json(200, json!({ "tasks": tasks }))
        }
        ("POST", "/v2/tasks/delete") => {
            let ids: Vec<String> = match json_body() {
                Ok(v) => match v.get("ids").and_then(Value::as_array) {
                    Some(a) => a
                        .iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect(),
                    None => return err(ApiError::invalid("/ids", "expected a list of task ids")),
                },
                Err(e) => return err(e),
            };
            let scale = flag(query, "scale");
            execute(shared, |c, t| c.plan_kill(&ids, scale, force, t)).await
        }
        ("GET", "/v2/deployments") => {
            let core = shared.core.borrow();
            let list: Vec<Value> = core
                .deployments
                .values()
                .map(|d| core.deployment_json(d))
                .collect();
            Reply::Json(200, Value::Array(list))
        }
        ("GET", "/v2/queue") => Reply::Json(200, shared.core.borrow().queue_json(t)),
        ("POST", "/v2/groups") | ("PUT", "/v2/groups") => match json_body() {
            Ok(v) => execute(shared, |c, t| c.plan_group(&v, force, t)).await,
            Err(e) => err(e),
        },
        _ => {
            if let Some(group) = path
                .strip_prefix("/v2/groups")
                .filter(|g| g.is_empty() || g.starts_with('/'))
            {
                let group = app::normalize_id(group);
                return match method {
                    "GET" => match shared.core.borrow().group_json(&group, t) {
                        Some(g) => Reply::Json(200, g),
                        None => err(ApiError::NotFound(format!(
                            "Group '{group}' does not exist"
                        ))),
                    },
                    "DELETE" => {
                        execute(shared, move |c, t| c.plan_delete_group(&group, force, t)).await
                    }
                    _ => Reply::Json(405, json!({"message": "method not allowed"})),
                };
            }
            if let Some(dep) = path.strip_prefix("/v2/deployments/") {
                if method == "DELETE" {
                    let dep = dep.to_string();
                    return execute(shared, move |c, t| c.plan_rollback(&dep, force, t)).await;
                }
            }
            Reply::Json(404, json!({"message": format!("no route {method} {path}")}))
        }
    }
}

fn info(shared: &Shared) -> Value {
    let core = shared.core.borrow();
    let i = &shared.info;
    json!({
        "name": "marathon",
        "version": "1.10.0-rs",
        "frameworkId": core.framework_id,
        "leader": shared.leader.borrow().clone(),
        "elected": shared.is_leader(),
        "http_config": {"http_port": i.http_port},
        "marathon_config": {
            "master": i.master,
            "framework_name": i.framework_name,
            "hostname": i.me,
            "failover_timeout": 604800,
        },
        "zookeeper_config": {"zk": i.zk},
    })
}

fn metrics(shared: &Shared) -> Value {
    let core = shared.core.borrow();
    let running = core
        .instances
        .values()
        .filter(|i| i.state == proto::TaskState::Running)
        .count();
    json!({
        "version": "4.0.0",
        "gauges": {
            "marathon.apps.active.gauge": {"value": core.apps.len()},
            "marathon.deployments.active.gauge": {"value": core.deployments.len()},
            "marathon.instances.running.gauge": {"value": running},
            "marathon.instances.known.gauge": {"value": core.instances.len()},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Core;
    use crate::shell::Info;
    use crate::store::MemStore;

    #[test]
    fn app_paths() {
        assert_eq!(split_app_path("/a/b"), ("/a/b".to_string(), vec![]));
        assert_eq!(
            split_app_path("/a/b/tasks"),
            ("/a/b".to_string(), vec!["tasks"])
        );
        assert_eq!(
            split_app_path("/a/tasks/a.1"),
            ("/a".to_string(), vec!["tasks", "a.1"])
        );
        assert_eq!(
            split_app_path("/a/restart"),
            ("/a".to_string(), vec!["restart"])
        );
    }

    fn shared() -> (Rc<Shared>, MemStore) {
        let store = MemStore::default();
        let s = Shared::new(Core::new(3), Rc::new(store.clone()), Info::default());
        (s, store)
    }

    async fn call(s: &Rc<Shared>, method: &str, path: &str, body: Value) -> (u16, Value) {
        let (path, q) = path.split_once('?').unwrap_or((path, ""));
        let query = libproc::http::parse_query(q);
        let raw = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        match route(s, method, path, &query, &raw).await {
            Reply::Json(st, v) => (st, v),
            Reply::Text(st, _, t) => (st, Value::String(t)),
            Reply::Events => (200, Value::Null),
        }
    }

    /// A simulation runs Marathon on its own clock: versions and timestamps come from the
    /// injected clock, not the wall clock.
    #[tokio::test]
    async fn the_api_reads_the_injected_clock() {
        let store = MemStore::default();
        let s = Shared::with_clock(
            Core::new(3),
            Rc::new(store),
            Info::default(),
            Rc::new(|| 1_000_000.0),
        );
        let (st, v) = call(
            &s,
            "POST",
            "/v2/apps",
            json!({"id": "/c", "cmd": "sleep 1", "instances": 1}),
        )
        .await;
        assert_eq!(st, 201, "{v}");
        let version = v["version"].as_str().unwrap_or_default();
        assert!(version.starts_with("1970-01-12T13:46:40"), "{v}");
    }

    #[tokio::test]
    async fn nothing_is_answered_or_applied_before_it_is_stored() {
        let (s, store) = shared();
        *store.fail.lock().unwrap() = true;
        let (st, _) = call(&s, "POST", "/v2/apps", json!({"id": "/a", "cmd": "x"})).await;
        assert_eq!(st, 503);
        assert!(
            s.core.borrow().apps.is_empty(),
            "an unstored change is not applied"
        );
        *store.fail.lock().unwrap() = false;
        let (st, app) = call(&s, "POST", "/v2/apps", json!({"id": "/a", "cmd": "x"})).await;
        assert_eq!(st, 201);
        assert_eq!(app["id"], "/a");
        assert_eq!(app["deployments"].as_array().map(Vec::len), Some(1));
        let keys: Vec<String> = store.data.lock().unwrap().keys().cloned().collect();
        assert!(keys.contains(&"apps/%2Fa".to_string()), "{keys:?}");
        assert!(keys.iter().any(|k| k.starts_with("deployments/")));
    }

    #[tokio::test(start_paused = true)]
    async fn a_leader_whose_lease_ran_out_changes_nothing() {
        let (s, store) = shared();
        let lease = detector::contender::Lease::new();
        lease.renew(tokio::time::Instant::now() + std::time::Duration::from_secs(2));
        *s.lease.borrow_mut() = Some(lease.clone());
        let (st, _) = call(&s, "POST", "/v2/apps", json!({"id": "/a", "cmd": "x"})).await;
        assert_eq!(st, 201, "a valid lease acts");
        lease.revoke();
        let (st, e) = call(&s, "POST", "/v2/apps", json!({"id": "/b", "cmd": "x"})).await;
        assert_eq!(st, 503, "{e}");
        assert!(!s.core.borrow().apps.contains_key("/b"));
        assert!(!store
            .data
            .lock()
            .unwrap()
            .keys()
            .any(|k| k.contains("%2Fb")));
    }

    #[tokio::test]
    async fn rest_surface() {
        let (s, _) = shared();
        assert_eq!(call(&s, "GET", "/ping", Value::Null).await.1, "pong\n");
        let (st, e) = call(&s, "POST", "/v2/apps", json!({"id": "/a", "cpus": -1})).await;
        assert_eq!(st, 422);
        assert_eq!(e["message"], "Object is not valid");
        assert_eq!(call(&s, "GET", "/v2/apps/nope", Value::Null).await.0, 404);
        assert_eq!(
            call(
                &s,
                "POST",
                "/v2/apps",
                json!({"id": "/a", "cmd": "x", "instances": 2})
            )
            .await
            .0,
            201
        );
        let (st, apps) = call(&s, "GET", "/v2/apps?embed=apps.tasks", Value::Null).await;
        assert_eq!(st, 200);
        assert_eq!(apps["apps"][0]["instances"], 2);
        assert_eq!(apps["apps"][0]["mem"], 128.0);
        assert!(apps["apps"][0]["tasks"].is_array());
        let (st, e) = call(&s, "PUT", "/v2/apps/a", json!({"instances": 3})).await;
        assert_eq!(st, 409, "{e}");
        let (st, r) = call(&s, "PUT", "/v2/apps/a?force=true", json!({"cmd": "y"})).await;
        assert_eq!(st, 200);
        assert!(r["deploymentId"].is_string() && r["version"].is_string());
        let (_, deps) = call(&s, "GET", "/v2/deployments", Value::Null).await;
        assert_eq!(deps.as_array().map(Vec::len), Some(1));
        assert_eq!(deps[0]["affectedApps"][0], "/a");
        let dep = deps[0]["id"].as_str().unwrap().to_string();
        let (st, _) = call(&s, "DELETE", &format!("/v2/deployments/{dep}"), Value::Null).await;
        assert_eq!(st, 200);
        let (_, app) = call(&s, "GET", "/v2/apps/a", Value::Null).await;
        assert_eq!(app["app"]["cmd"], "x", "rolled back");
        assert_eq!(
            call(&s, "POST", "/v2/apps/a/restart?force=true", Value::Null)
                .await
                .0,
            200
        );
        assert_eq!(
            call(&s, "GET", "/v2/apps/a/tasks", Value::Null).await.1["tasks"],
            json!([])
        );
        assert_eq!(
            call(&s, "GET", "/v2/queue", Value::Null).await.1["queue"][0]["count"],
            2
        );
        assert_eq!(
            call(&s, "DELETE", "/v2/apps/a?force=true", Value::Null)
                .await
                .0,
            200
        );
        assert_eq!(call(&s, "GET", "/v2/apps/a", Value::Null).await.0, 404);
        assert_eq!(
            call(&s, "GET", "/v2/info", Value::Null).await.1["name"],
            "marathon"
        );
        assert_eq!(
            call(&s, "POST", "/v2/apps", Value::String("{".into()))
                .await
                .0,
            400
        );
    }

    #[tokio::test]
    async fn groups_as_a_tree_and_deleted_as_one() {
        let (s, _) = shared();
        let (st, _) = call(
            &s,
            "POST",
            "/v2/groups",
            json!({"id": "/shop", "apps": [{"id": "web", "cmd": "x"}],
                   "groups": [{"id": "db", "apps": [{"id": "pg", "cmd": "x"}, {"id": "redis", "cmd": "x"}]}]}),
        )
        .await;
        assert_eq!(st, 201);
        call(&s, "POST", "/v2/apps", json!({"id": "/top", "cmd": "x"})).await;
        let (st, root) = call(&s, "GET", "/v2/groups", Value::Null).await;
        assert_eq!(st, 200);
        assert_eq!(root["id"], "/");
        assert_eq!(root["apps"][0]["id"], "/top");
        assert_eq!(root["groups"][0]["id"], "/shop");
        assert_eq!(root["groups"][0]["apps"][0]["id"], "/shop/web");
        let db = &root["groups"][0]["groups"][0];
        assert_eq!(db["id"], "/shop/db");
        assert_eq!(db["apps"].as_array().map(Vec::len), Some(2));
        assert_eq!(db["groups"], json!([]));
        let (st, g) = call(&s, "GET", "/v2/groups/shop/db", Value::Null).await;
        assert_eq!(st, 200);
        assert_eq!(g["apps"][1]["id"], "/shop/db/redis");
        assert_eq!(call(&s, "GET", "/v2/groups/nope", Value::Null).await.0, 404);
        assert_eq!(call(&s, "GET", "/v2/groupsx", Value::Null).await.0, 404);
        let (st, r) = call(&s, "DELETE", "/v2/groups/shop?force=true", Value::Null).await;
        assert_eq!(st, 200, "{r}");
        assert!(r["deploymentId"].is_string());
        let (_, deps) = call(&s, "GET", "/v2/deployments", Value::Null).await;
        let del: Vec<&Value> = deps
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["id"] == r["deploymentId"])
            .collect();
        assert_eq!(del.len(), 1);
        assert_eq!(
            del[0]["affectedApps"].as_array().map(Vec::len),
            Some(3),
            "one deployment for the whole group"
        );
        {
            let core = s.core.borrow();
            let deleting: Vec<&str> = core
                .apps
                .values()
                .filter(|a| a.deleting)
                .map(|a| a.def.id.as_str())
                .collect();
            assert_eq!(deleting, ["/shop/db/pg", "/shop/db/redis", "/shop/web"]);
            assert!(!core.apps["/top"].deleting, "other groups' apps stay");
        }
        assert_eq!(call(&s, "GET", "/v2/groups/shop", Value::Null).await.0, 404);
        assert_eq!(
            call(&s, "DELETE", "/v2/groups/shop", Value::Null).await.0,
            404
        );
    }
}

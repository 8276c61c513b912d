//! The REST API's routes, as Chronos spells them under `/v1/scheduler` (and, as older
//! Chronos did, `/scheduler`): a pure mapping from method and path to a [`Route`], plus the
//! read-only renderings (`/graph/dot`, `/graph/csv`, `/jobs/search`) that need only the
//! jobs. The shell ([`crate::framework`]) carries out the routes that change state.

use crate::core::{Chronos, Job};

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /jobs`.
    Jobs,
    /// `GET /jobs/summary`.
    Summary,
    /// `GET /jobs/search?name=|command=|any=`.
    Search,
    /// `POST /iso8601` (also `PUT`, as Chronos 2 allowed).
    AddScheduled,
    /// `POST /dependency` (also `PUT`).
    AddDependent,
    /// `GET /job/{name}`.
    GetJob(String),
    /// `PUT /job/{name}`: run now.
    RunNow(String),
    /// `DELETE /job/{name}`.
    Delete(String),
    /// `GET /job/stat/{name}`.
    Stat(String),
    /// `PUT /job/success/{name}`.
    MarkSuccess(String),
    /// `DELETE /task/kill/{name}`.
    Kill(String),
    /// `GET /graph/dot`.
    GraphDot,
    /// `GET /graph/csv`.
    GraphCsv,
    /// `GET /leader`.
    Leader,
    /// `GET /ping`.
    Ping,
    /// `GET /metrics`.
    Metrics,
    /// `GET /` and `/ui/...`: the web UI.
    Ui(String),
}

/// Whether a route reads or changes jobs only on the leader (others answer 307).
pub fn leader_only(r: &Route) -> bool {
    !matches!(
        r,
        Route::Leader | Route::Ping | Route::Metrics | Route::Ui(_)
    )
}

/// Maps a request to a route: `Err(405)` for a known path with the wrong method, `Err(404)`
/// for an unknown path.
pub fn route(method: &str, path: &str) -> Result<Route, u16> {
    let path = path.trim_end_matches('/');
    if path == "/ping" {
        return Ok(Route::Ping);
    }
    if path == "/metrics" {
        return Ok(Route::Metrics);
    }
    if path.is_empty() || path == "/index.html" {
        return Ok(Route::Ui(String::new()));
    }
    if let Some(rest) = path.strip_prefix("/ui/") {
        return Ok(Route::Ui(rest.to_string()));
    }
    let rest = path
        .strip_prefix("/v1/scheduler")
        .or_else(|| path.strip_prefix("/scheduler"))
        .ok_or(404u16)?;
    let segs: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    let name = |s: &str| libproc::http::percent_decode(s, false);
    let m = method;
    let r = match (m, segs.as_slice()) {
        ("GET", ["jobs"]) => Route::Jobs,
        ("GET", ["jobs", "summary"]) => Route::Summary,
        ("GET", ["jobs", "search"]) => Route::Search,
        ("POST" | "PUT", ["iso8601"]) => Route::AddScheduled,
        ("POST" | "PUT", ["dependency"]) => Route::AddDependent,
        ("GET", ["job", "stat", n]) => Route::Stat(name(n)),
        ("PUT" | "POST", ["job", "success", n]) => Route::MarkSuccess(name(n)),
        ("GET", ["job", n]) => Route::GetJob(name(n)),
        ("PUT", ["job", n]) => Route::RunNow(name(n)),
        ("DELETE", ["job", n]) => Route::Delete(name(n)),
        ("DELETE", ["task", "kill", n]) => Route::Kill(name(n)),
        ("GET", ["graph", "dot"]) => Route::GraphDot,
        ("GET", ["graph", "csv"]) => Route::GraphCsv,
        ("GET", ["leader"]) => Route::Leader,
        (
            _,
            ["jobs"]
            | ["jobs", "summary" | "search"]
            | ["iso8601"]
            | ["dependency"]
            | ["job", ..]
            | ["task", "kill", _]
            | ["graph", _]
            | ["leader"],
        ) => return Err(405),
        _ => return Err(404),
    };
    Ok(r)
}

/// The jobs matching `GET /jobs/search` (`name`, `command` or `any`, case-insensitive
/// substrings; no parameter: all).
pub fn search<'a>(c: &'a Chronos, query: &[(String, String)]) -> Vec<&'a Job> {
    let get = |k: &str| {
        query
            .iter()
            .find(|(q, _)| q == k)
            .map(|(_, v)| v.to_lowercase())
    };
    let (name, command, any) = (get("name"), get("command"), get("any"));
    c.jobs()
        .values()
        .filter(|j| {
            let n = j.def.name.to_lowercase();
            let cmd = j.def.command.to_lowercase();
            name.as_ref().is_none_or(|q| n.contains(q))
                && command.as_ref().is_none_or(|q| cmd.contains(q))
                && any.as_ref().is_none_or(|q| {
                    n.contains(q)
                        || cmd.contains(q)
                        || j.def.description.to_lowercase().contains(q)
                        || j.def.owner.to_lowercase().contains(q)
                })
        })
        .collect()
}

fn dot_id(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The dependency graph in Graphviz dot, nodes coloured by their last outcome.
pub fn graph_dot(c: &Chronos) -> String {
    let mut out = String::from("digraph G {\n");
    for j in c.jobs().values() {
        let colour = match last_status(j) {
            "success" => "green",
            "failure" => "red",
            _ => "gray",
        };
        out.push_str(&format!(
            "  {} [style=filled, fillcolor={colour}];\n",
            dot_id(&j.def.name)
        ));
    }
    for j in c.jobs().values() {
        for p in &j.def.parents {
            out.push_str(&format!("  {} -> {};\n", dot_id(p), dot_id(&j.def.name)));
        }
    }
    out.push_str("}\n");
    out
}

/// `success`, `failure` or `fresh`: how the last run ended.
pub fn last_status(j: &Job) -> &'static str {
    match (j.state.last_success, j.state.last_error) {
        (Some(s), Some(e)) if e > s => "failure",
        (None, Some(_)) => "failure",
        (Some(_), _) => "success",
        _ => "fresh",
    }
}

/// The graph as Chronos's CSV: `node,<name>,<last status>,<state>` per job and
/// `link,<parent>,<child>` per edge.
pub fn graph_csv(c: &Chronos) -> String {
    let mut out = String::new();
    for j in c.jobs().values() {
        let state = if j
            .state
            .runs
            .iter()
            .any(|r| r.state != crate::core::RunState::Queued)
        {
            "running"
        } else if j.busy() {
            "queued"
        } else {
            "idle"
        };
        out.push_str(&format!("node,{},{},{state}\n", j.def.name, last_status(j)));
    }
    for j in c.jobs().values() {
        for p in &j.def.parents {
            out.push_str(&format!("link,{p},{}\n", j.def.name));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::JobDef;

    #[test]
    fn routes_with_and_without_v1() {
        for prefix in ["/v1/scheduler", "/scheduler"] {
            let p = |s: &str| format!("{prefix}{s}");
            assert_eq!(route("GET", &p("/jobs")), Ok(Route::Jobs));
            assert_eq!(route("POST", &p("/iso8601")), Ok(Route::AddScheduled));
            assert_eq!(route("POST", &p("/dependency")), Ok(Route::AddDependent));
            assert_eq!(
                route("PUT", &p("/job/a%20b")),
                Ok(Route::RunNow("a b".into()))
            );
            assert_eq!(route("DELETE", &p("/job/x")), Ok(Route::Delete("x".into())));
            assert_eq!(route("GET", &p("/job/stat/x")), Ok(Route::Stat("x".into())));
            assert_eq!(
                route("PUT", &p("/job/success/x")),
                Ok(Route::MarkSuccess("x".into()))
            );
            assert_eq!(
                route("DELETE", &p("/task/kill/x")),
                Ok(Route::Kill("x".into()))
            );
            assert_eq!(route("GET", &p("/graph/dot")), Ok(Route::GraphDot));
            assert_eq!(route("GET", &p("/jobs/search")), Ok(Route::Search));
            assert_eq!(route("GET", &p("/leader")), Ok(Route::Leader));
            assert_eq!(route("DELETE", &p("/jobs")), Err(405));
            assert_eq!(route("GET", &p("/nope")), Err(404));
        }
        assert_eq!(route("GET", "/ping"), Ok(Route::Ping));
        assert_eq!(route("GET", "/"), Ok(Route::Ui(String::new())));
        assert_eq!(route("GET", "/other"), Err(404));
    }

    #[test]
    fn graph_and_search() {
        let now = chrono::Utc::now();
        let mut c = Chronos::new();
        c.put(JobDef::scheduled("a", "echo a", "R//PT1M"), now)
            .unwrap();
        c.put(JobDef::dependent("b", "echo \"b\"", &["a"]), now)
            .unwrap();
        let dot = graph_dot(&c);
        assert!(dot.contains("\"a\" -> \"b\";"), "{dot}");
        assert!(graph_csv(&c).contains("link,a,b"));
        let q = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        assert_eq!(search(&c, &q("name", "B")).len(), 1);
        assert_eq!(search(&c, &q("command", "echo")).len(), 2);
        assert_eq!(search(&c, &[]).len(), 2);
    }
}

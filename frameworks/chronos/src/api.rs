//! The REST API's routes, as Chronos spells them under `/v1/scheduler` (and, as older
//! Chronos did, `/scheduler`): a pure mapping from method and path to a [`Route`], plus the
//! read-only renderings (`/graph/dot`, `/graph/csv`, `/jobs/search`, `/stats/{statistic}`
//! and a job's run-time histogram) that need only the jobs. The shell ([`crate::framework`]) carries out the routes that change state.

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
    /// `GET /stats/{statistic}`: jobs by run time, slowest first.
    Stats(String),
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
        ("GET", ["stats", which]) => Route::Stats(name(which)),
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
            | ["stats", _]
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

/// The statistics of run times Chronos serves under `/stats/{statistic}`.
pub const STATISTICS: [&str; 6] = [
    "99thPercentile",
    "98thPercentile",
    "95thPercentile",
    "75thPercentile",
    "median",
    "mean",
];

/// A job's run times (ms, ascending): `ended - started` of the finished runs it remembers.
pub fn run_times_ms(j: &Job) -> Vec<f64> {
    let mut v: Vec<f64> = j
        .state
        .history
        .iter()
        .filter(|o| o.state == "TASK_FINISHED")
        .filter_map(|o| Some((o.ended - o.started?).num_milliseconds().max(0) as f64))
        .collect();
    v.sort_by(f64::total_cmp);
    v
}

/// Statistic `which` (one of [`STATISTICS`]) of ascending `sorted`: the mean, or the
/// quantile interpolated between the two nearest ranks; `None` with no values.
pub fn statistic(sorted: &[f64], which: &str) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let q = match which {
        "mean" => return Some(sorted.iter().sum::<f64>() / n as f64),
        "median" => 0.5,
        "75thPercentile" => 0.75,
        "95thPercentile" => 0.95,
        "98thPercentile" => 0.98,
        "99thPercentile" => 0.99,
        _ => return None,
    };
    let pos = q * (n as f64 + 1.0);
    if pos < 1.0 {
        return Some(sorted[0]);
    }
    if pos >= n as f64 {
        return Some(sorted[n - 1]);
    }
    let lo = sorted[pos as usize - 1];
    let hi = sorted[pos as usize];
    Some(lo + (pos - pos.floor()) * (hi - lo))
}

/// A job's run-time histogram (ms), as `GET /job/stat/{name}` shows it: `count` and every
/// statistic (absent while no run finished).
pub fn histogram(j: &Job) -> serde_json::Value {
    let times = run_times_ms(j);
    let mut h = serde_json::Map::new();
    h.insert("count".into(), times.len().into());
    for which in STATISTICS {
        if let Some(x) = statistic(&times, which) {
            h.insert(which.into(), x.into());
        }
    }
    serde_json::Value::Object(h)
}

/// `GET /stats/{which}`: `[{"jobNameLabel": name, "time": seconds}]` for every job with a
/// finished run, slowest first; an unknown statistic is refused with the valid ones.
pub fn stats(c: &Chronos, which: &str) -> Result<serde_json::Value, String> {
    if !STATISTICS.contains(&which) {
        return Err(format!(
            "unknown statistic '{which}': use one of {}",
            STATISTICS.join(", ")
        ));
    }
    let mut rows: Vec<(f64, &str)> = c
        .jobs()
        .values()
        .filter_map(|j| Some((statistic(&run_times_ms(j), which)?, j.def.name.as_str())))
        .collect();
    rows.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    Ok(serde_json::Value::Array(
        rows.into_iter()
            .map(|(ms, name)| serde_json::json!({ "jobNameLabel": name, "time": ms / 1000.0 }))
            .collect(),
    ))
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
        assert_eq!(
            route("GET", "/scheduler/stats/99thPercentile"),
            Ok(Route::Stats("99thPercentile".into()))
        );
        assert_eq!(route("POST", "/scheduler/stats/mean"), Err(405));
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

    #[test]
    fn run_time_statistics_rank_jobs_slowest_first() {
        use crate::core::TaskEnd;
        let t0 = chrono::DateTime::parse_from_rfc3339("2021-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let mut c = Chronos::new();
        c.reconciled();
        c.put(JobDef::scheduled("fast", "true", "R//PT1H"), t0)
            .unwrap();
        c.put(JobDef::scheduled("slow", "true", "R//PT1H"), t0)
            .unwrap();
        c.put(
            JobDef::scheduled("idle", "true", "R/2030-01-01T00:00:00Z/PT1H"),
            t0,
        )
        .unwrap();
        // Runs of 1..=4 s for "fast" and 10 s for "slow".
        let mut t = t0;
        for (job, secs) in [
            ("fast", 1),
            ("fast", 2),
            ("fast", 3),
            ("fast", 4),
            ("slow", 10),
        ] {
            c.run_now(job, vec![], t).unwrap();
            let l = c.match_offer("a", 10.0, 1e5, 1e5, t).remove(0);
            c.status(&l.task_id, TaskEnd::Alive, "TASK_RUNNING", "", t);
            t += chrono::Duration::seconds(secs);
            c.status(&l.task_id, TaskEnd::Finished, "TASK_FINISHED", "", t);
        }
        let v = stats(&c, "median").unwrap();
        assert_eq!(
            v,
            serde_json::json!([
                {"jobNameLabel": "slow", "time": 10.0},
                {"jobNameLabel": "fast", "time": 2.5}
            ])
        );
        assert_eq!(stats(&c, "mean").unwrap()[1]["time"], 2.5);
        assert_eq!(stats(&c, "99thPercentile").unwrap()[1]["time"], 4.0);
        let h = histogram(c.job("fast").unwrap());
        assert_eq!(h["count"], 4);
        assert_eq!(h["75thPercentile"], 3750.0);
        assert_eq!(
            histogram(c.job("idle").unwrap()),
            serde_json::json!({"count": 0})
        );
        assert!(stats(&c, "90thPercentile").unwrap_err().contains("median"));
    }
}
